/* The kinds and severities of ABI differences (results/abi-kinds.txt), on a
 * real dump (QEMU 10.0.2, pc-q35-7.2) with one hand-made difference each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "abi-diff.h"
#include "abi-kinds.h"
#include "ml-error.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

struct fx {
	struct ml_abi_kinds *kinds;
	struct ml_abi_volatile *vol;
	json_t *base;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	unsetenv("MIGLAB_ABI_KINDS");
	f->kinds = ml_abi_kinds_default();
	f->vol = ml_abi_volatile_default();
	f->base = ml_abi_load(ml_test_data("abi/qemu-10.0.2-pc-q35-7.2.json"));
	assert_non_null(f->kinds);
	assert_non_null(f->vol);
	assert_non_null(f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ml_abi_kinds_free(f->kinds);
	ml_abi_volatile_free(f->vol);
	json_decref(f->base);
	free(f);
	return 0;
}

/* The differences between the real dump and an edited copy, annotated. */
static json_t *annotate(struct fx *f, const json_t *after, enum ml_abi_mode mode, const json_t *overrides,
			enum ml_abi_severity *worst)
{
	struct ml_abi_diff d = { 0 };
	json_t *diffs;

	assert_int_equal(ml_abi_diff_dumps(f->base, after, f->vol, NULL, &d), 0);
	diffs = ml_abi_diff_to_json(&d);
	ml_abi_diff_clear(&d);
	*worst = ml_abi_kinds_annotate(f->kinds, diffs, mode, overrides, ml_abi_firmware_differs(f->base, after));
	return diffs;
}

static json_t *pci_device(json_t *dump, const char *bdf)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(dump, "pci"), "devices"), i, d)
		if (ml_str_eq(ml_json_str(d, "bdf"), bdf))
			return d;
	fail_msg("no PCI device %s in the fixture", bdf);
	return NULL;
}

/* Set byte off of a hex config blob. */
static void set_config_byte(json_t *dev, size_t off, const char *hex2)
{
	ml_autofree char *cfg = strdup(ml_json_str(dev, "config"));

	memcpy(cfg + off * 2, hex2, 2);
	ml_json_set_str(dev, "config", cfg);
}

static void expect_one(json_t *diffs, const char *kind, const char *severity)
{
	assert_int_equal(json_array_size(diffs), 1);
	assert_string_equal(ml_json_str(json_array_get(diffs, 0), "kind"), kind);
	assert_string_equal(ml_json_str(json_array_get(diffs, 0), "severity"), severity);
}

/* A virtqueue size (what 10.0.13 changed for every virtio device). */
static void test_queue_size(void **state)
{
	struct fx *f = *state;
	json_t *after = json_deep_copy(f->base), *q, *diffs;
	enum ml_abi_severity w;

	q = json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(after, "virtio"),
									  "devices"),
							  0),
					   "queues"),
			   0);
	ml_json_set_int(q, "size", 1024);
	diffs = annotate(f, after, ML_ABI_BOOTS, NULL, &w);
	expect_one(diffs, "virtio-queue", "error");
	assert_int_equal(w, ML_ABI_ERROR);
	json_decref(diffs);
	/* The same under a running guest fails the cell. */
	diffs = annotate(f, after, ML_ABI_LIVE, NULL, &w);
	expect_one(diffs, "virtio-queue", "fail");
	assert_int_equal(w, ML_ABI_FAIL);
	json_decref(diffs);
	json_decref(after);
}

/* An interrupt pin (config byte 0x3d) of a virtio device. */
static void test_interrupt_pin(void **state)
{
	struct fx *f = *state;
	json_t *after = json_deep_copy(f->base), *diffs;
	enum ml_abi_severity w;

	set_config_byte(pci_device(after, "0000:00:02.0"), 0x3d, "02");
	diffs = annotate(f, after, ML_ABI_BOOTS, NULL, &w);
	expect_one(diffs, "pci-interrupt", "error");
	assert_non_null(strstr(ml_json_str(json_array_get(diffs, 0), "key"), "Interrupt Pin"));
	json_decref(diffs);
	json_decref(after);
}

/* A CPUID feature bit (leaf 1 EDX bit 25, sse) gone. */
static void test_cpuid_bit(void **state)
{
	struct fx *f = *state;
	json_t *after = json_deep_copy(f->base), *l, *diffs;
	enum ml_abi_severity w;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(after, "cpuid"), "leaves"), i, l)
		if (ml_json_int(l, "leaf", -1) == 1 && ml_json_int(l, "subleaf", -1) == 0)
			ml_json_set_int(l, "edx", ml_json_int(l, "edx", 0) & ~(1LL << 25));
	diffs = annotate(f, after, ML_ABI_LIVE, NULL, &w);
	expect_one(diffs, "cpu-feature", "fail");
	assert_non_null(strstr(ml_json_str(json_array_get(diffs, 0), "key"), "(sse)"));
	json_decref(diffs);
	json_decref(after);
}

/* The firmware's version string: information; and a value the firmware
 * decides (the e820 map) is information too when the firmware differs, an
 * error when it does not. */
static void test_firmware(void **state)
{
	struct fx *f = *state;
	json_t *after = json_deep_copy(f->base), *s, *e, *diffs;
	enum ml_abi_severity w;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(after, "smbios"), "structures"), i, s)
		if (ml_json_int(s, "type", -1) == 0)
			json_array_set_new(json_object_get(s, "strings"), 1, json_string("1.17.0-debian-1"));
	diffs = annotate(f, after, ML_ABI_BOOTS, NULL, &w);
	expect_one(diffs, "firmware-version", "info");
	assert_int_equal(w, ML_ABI_INFO);
	json_decref(diffs);

	e = json_array_get(json_object_get(json_object_get(after, "memory_map"), "entries"), 0);
	ml_json_set_str(e, "end", "0x000000000009efff");
	diffs = annotate(f, after, ML_ABI_BOOTS, NULL, &w);
	assert_int_equal(json_array_size(diffs), 2);
	json_array_foreach(diffs, i, e)
		if (ml_str_eq(ml_json_str(e, "kind"), "memory-map")) {
			assert_string_equal(ml_json_str(e, "severity"), "info");
			assert_non_null(ml_json_str(e, "firmware"));
		}
	assert_int_equal(w, ML_ABI_INFO);
	json_decref(diffs);
	json_decref(after);

	/* The same firmware: the memory map is the machine type's. */
	after = json_deep_copy(f->base);
	e = json_array_get(json_object_get(json_object_get(after, "memory_map"), "entries"), 0);
	ml_json_set_str(e, "end", "0x000000000009efff");
	diffs = annotate(f, after, ML_ABI_BOOTS, NULL, &w);
	expect_one(diffs, "memory-map", "error");
	assert_null(ml_json_str(json_array_get(diffs, 0), "firmware"));
	json_decref(diffs);
	json_decref(after);
}

/* ACPI is a warning by the table; a matrix can make it an error. */
static void test_override(void **state)
{
	struct fx *f = *state;
	json_t *after = json_deep_copy(f->base), *t, *diffs, *o = json_pack("{s:s}", "acpi", "error");
	enum ml_abi_severity w;

	t = json_array_get(json_object_get(json_object_get(after, "acpi"), "tables"), 0);
	ml_json_set_int(t, "revision", ml_json_int(t, "revision", 0) + 1);
	diffs = annotate(f, after, ML_ABI_BOOTS, NULL, &w);
	expect_one(diffs, "acpi", "warn");
	json_decref(diffs);
	diffs = annotate(f, after, ML_ABI_BOOTS, o, &w);
	expect_one(diffs, "acpi", "error");
	assert_int_equal(w, ML_ABI_ERROR);
	{
		json_t *counts = ml_abi_kinds_count(diffs);
		assert_int_equal(ml_json_int(json_object_get(counts, "acpi"), "count", 0), 1);
		json_decref(counts);
	}
	json_decref(diffs);
	json_decref(o);
	json_decref(after);
}

/* A broken table says where. */
static void test_bad_tables(void **state)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{ "x error fail - cpuid\n", "t.txt:1: a line is KIND BOOTS LIVE FW SECTION KEY" },
		{ "# c\n\nx fatal fail - cpuid *\n", "t.txt:3: BOOTS severity 'fatal' is not one of info, warn, error" },
		{ "x error fail - cpuid *\nx fail fail - cpuid *\n",
		  "t.txt:2: BOOTS severity 'fail' is not one of info, warn, error" },
		{ "x warn never - cpuid *\n", "t.txt:1: LIVE severity 'never' is not one of info, warn, error, fail" },
		{ "x warn warn firm cpuid *\n", "t.txt:1: FW is 'fw' or '-', not 'firm'" },
		{ "X warn warn - cpuid *\n", "t.txt:1: kind 'X': lower-case letters, digits and '-' only" },
		{ "# nothing\n", "t.txt: no kinds" },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		struct ml_abi_kinds *k = ml_abi_kinds_parse(cases[i].text, "t.txt");
		assert_null(k);
		assert_string_equal(ml_error_message(), cases[i].error);
		ml_error_reset();
	}
}

/* The shipped table ends with a catch-all, and every kind a matrix may
 * name is listed. */
static void test_shipped_table(void **state)
{
	struct fx *f = *state;
	ml_autofree char *list = ml_abi_kinds_list(f->kinds);

	assert_non_null(ml_abi_kinds_match(f->kinds, "nosuchsection", "anything"));
	assert_string_equal(ml_abi_kinds_match(f->kinds, "nosuchsection", "x")->kind, "other");
	assert_true(ml_abi_kinds_has(f->kinds, "virtio-queue"));
	assert_false(ml_abi_kinds_has(f->kinds, "nosuchkind"));
	assert_non_null(strstr(list, "firmware-version, checksum, firmware-layout"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_size), cmocka_unit_test(test_interrupt_pin),
		cmocka_unit_test(test_cpuid_bit),  cmocka_unit_test(test_firmware),
		cmocka_unit_test(test_override),   cmocka_unit_test(test_bad_tables),
		cmocka_unit_test(test_shipped_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
