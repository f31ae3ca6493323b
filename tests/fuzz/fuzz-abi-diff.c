/* libFuzzer target: the input of `miglab abi-diff` and of the cell's ABI
 * check (results/abi.c, results/abi-diff.c). The bytes are parsed as an ABI
 * dump the way ml_abi_load() does; a valid dump is redacted with the shipped
 * volatile list, diffed against a small valid dump (both ways,
 * tests/data/abi-diff/base.json) and against itself (which must give no
 * difference), and every diff is rendered as JSON and text. A JSON array is
 * read as a diff read back from a report; anything that is not JSON is
 * parsed as a volatile list. Any crash, leak, sanitizer report or non-empty
 * self-diff is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "abi-diff.h"
#include "abi.h"
#include "ml-error.h"
#include "ml-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *seed_dump;
static struct ml_abi_volatile *vol;

static void diff_one(const json_t *a, const json_t *b, int must_be_empty)
{
	struct ml_abi_diff d = { 0 };
	json_t *arr;
	char *text;

	if (ml_abi_diff_dumps(a, b, vol, NULL, &d) < 0)
		return;
	if (must_be_empty && d.n)
		abort();
	arr = ml_abi_diff_to_json(&d);
	text = ml_abi_diff_json_to_text(arr);
	free(text);
	json_decref(arr);
	text = ml_abi_diff_to_text(&d);
	free(text);
	ml_abi_diff_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *doc;

	if (!seed_dump) {
		seed_dump = ml_abi_load(ML_FUZZ_ABI_SEED);
		vol = ml_abi_volatile_default();
		if (!seed_dump || !vol) {
			ml_error_print();
			abort();
		}
	}
	doc = json_loadb((const char *)data, size, 0, &jerr);
	if (!doc) {
		struct ml_abi_volatile *v = ml_abi_volatile_parse((const char *)data, size, "fuzz");
		if (v) {
			json_t *r = ml_abi_redact(seed_dump, v);
			json_decref(r);
			ml_abi_volatile_free(v);
		}
	} else if (json_is_array(doc)) {
		free(ml_abi_diff_json_to_text(doc));
	} else if (ml_abi_validate(doc, "fuzz") == 0) {
		json_t *r = ml_abi_redact(doc, vol);
		json_decref(r);
		diff_one(doc, seed_dump, 0);
		diff_one(seed_dump, doc, 0);
		diff_one(doc, doc, 1);
	}
	json_decref(doc);
	ml_error_reset();
	return 0;
}
