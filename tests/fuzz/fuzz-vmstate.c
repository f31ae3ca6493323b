/* libFuzzer target: the vmstate dump reader (results/vmstate.c). The bytes
 * are QEMU's -dump-vmstate JSON, or the lab's cached record of one (an
 * object with "dump", "guest_types" and "device_types", lab/vmstate-dump.h),
 * compared with a real dump (tests/data/vmstate) in both directions and
 * with itself, with the shipped renames. Text that is not JSON is parsed as
 * a renames file. Any crash, leak or sanitizer report is a bug; so is a
 * self-comparison that finds more than a description that cannot load its
 * own version. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ml-error.h"
#include "ml-json.h"
#include "vmstate.h"
#include "ml-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *seed_dump;
static struct ml_vmstate_renames *renames;

static void compare(const json_t *src, const json_t *dst, const struct ml_vmstate_options *o)
{
	json_t *f = ml_vmstate_compare(src, dst, o);
	size_t i;
	json_t *finding;

	/* vmstate.h: identical dumps give an empty array, unless a description
	 * is below its own minimum_version_id (it cannot load itself). */
	if (f && src == dst)
		json_array_foreach(f, i, finding)
			if (strcmp(ml_json_str(finding, "what"), "version-too-old"))
				abort();
	if (f) {
		(void)ml_vmstate_count(f, "error");
		(void)ml_vmstate_count(f, "warning");
		json_decref(f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ml_vmstate_options o = { 0 };
	json_error_t jerr;
	json_t *doc, *dump;

	if (!seed_dump) {
		seed_dump = ml_json_load_file(ML_FUZZ_VMSTATE_SEED, 16 << 20);
		renames = ml_vmstate_renames_load(ML_FUZZ_VMSTATE_RENAMES);
		if (!seed_dump || !renames) {
			ml_error_print();
			abort();
		}
	}
	doc = json_loadb((const char *)data, size, 0, &jerr);
	if (!doc) {
		/* The renames parser wants a string. */
		char *text = strndup((const char *)data, size);
		struct ml_vmstate_renames *r = text ? ml_vmstate_renames_parse(text, "fuzz") : NULL;
		if (r) {
			o.renames = r;
			compare(seed_dump, seed_dump, &o);
			ml_vmstate_renames_free(r);
		}
		free(text);
		ml_error_reset();
		return 0;
	}
	dump = doc;
	if (json_is_object(json_object_get(doc, "dump"))) {
		dump = json_object_get(doc, "dump");
		o.guest_types = json_object_get(doc, "guest_types");
		o.dst_device_types = json_object_get(doc, "device_types");
		if (o.guest_types && !json_is_array(o.guest_types))
			o.guest_types = NULL;
		if (o.dst_device_types && !json_is_array(o.dst_device_types))
			o.dst_device_types = NULL;
	}
	(void)ml_vmstate_dump_machine(dump);
	o.renames = renames;
	compare(dump, seed_dump, &o);
	compare(seed_dump, dump, &o);
	o.guest_only = true;
	compare(dump, dump, &o);
	json_decref(doc);
	ml_error_reset();
	return 0;
}
