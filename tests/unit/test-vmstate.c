/* Unit tests of the static vmstate check (results/vmstate.c) on real
 * `-dump-vmstate` excerpts of QEMU 7.2.22 and 10.0.2 (tests/data/vmstate/),
 * and on copies of them changed the way QEMU versions change. */
#include <stdio.h>
#include <string.h>

#include "ml-error.h"
#include "ml-json.h"
#include "testhelp.h"
#include "vmstate.h"
#include "ml-common.h"

#define DUMP_7_2 "vmstate/qemu-7.2.22-pc-q35-7.2.json"
#define DUMP_10_0 "vmstate/qemu-10.0.2-pc-q35-7.2.json"

static json_t *load(const char *rel)
{
	json_t *j = ml_json_load_file(ml_test_data(rel), 1 << 22);
	assert_non_null(j);
	return j;
}

static json_t *desc(json_t *dump, const char *type)
{
	json_t *d = json_object_get(json_object_get(dump, type), "Description");
	assert_non_null(d);
	return d;
}

static json_t *field(json_t *vmsd, const char *name)
{
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(vmsd, "Fields"), i, f)
		if (strcmp(ml_json_str(f, "field"), name) == 0)
			return f;
	fail_msg("no field %s", name);
	return NULL;
}

static json_t *compare(json_t *s, json_t *d, const struct ml_vmstate_options *o)
{
	json_t *f = ml_vmstate_compare(s, d, o);
	if (!f)
		fail_msg("compare failed: %s", ml_error_message());
	return f;
}

/* A new field in a description, as QEMU would dump it. */
static void add_field(json_t *vmsd, size_t at, const char *name, long long size,
		      long long version, bool cond)
{
	json_t *f = json_pack("{s:s, s:I, s:b, s:I}", "field", name, "version_id",
			      (json_int_t)version, "field_exists", cond, "size", (json_int_t)size);
	assert_int_equal(json_array_insert_new(json_object_get(vmsd, "Fields"), at, f), 0);
}

/* Each comparison of one pair, both ways: src -> dst first, then back. */
static void compare_both(json_t *a, json_t *b, const struct ml_vmstate_options *o,
			 json_t **forward, json_t **back)
{
	*forward = compare(a, b, o);
	*back = compare(b, a, o);
}

/* A field of one side only is reported from each side: what the source
 * sends that the destination does not read one way (field-extra) is what
 * the destination reads and the source does not send the other way
 * (field-missing), at the same severity, with src and dst swapped. */
static void assert_mirrored(const json_t *forward, const json_t *back)
{
	size_t i;
	json_t *f, *g;

	assert_int_equal(json_array_size(forward), json_array_size(back));
	json_array_foreach(forward, i, f) {
		const char *what = ml_json_str(f, "what");
		const char *want = strcmp(what, "field-extra") == 0     ? "field-missing"
				   : strcmp(what, "field-missing") == 0 ? "field-extra"
									: what;
		g = json_array_get(back, i);
		assert_string_equal(ml_json_str(g, "what"), want);
		assert_string_equal(ml_json_str(g, "severity"), ml_json_str(f, "severity"));
		assert_string_equal(ml_json_str(g, "path"), ml_json_str(f, "path"));
		if (strcmp(what, want) != 0) {
			assert_string_equal(ml_json_str(g, "field"), ml_json_str(f, "field"));
			assert_string_equal(ml_json_str(g, "src") ? ml_json_str(g, "src") : "-",
					    ml_json_str(f, "dst") ? ml_json_str(f, "dst") : "-");
		}
	}
}

/* The only finding of a comparison, checked for what and severity. */
static json_t *only(json_t *findings, const char *what, const char *severity)
{
	json_t *f;
	if (json_array_size(findings) != 1) {
		char *t = json_dumps(findings, JSON_INDENT(1));
		fail_msg("expected one finding (%s), got: %s", what, t);
	}
	f = json_array_get(findings, 0);
	assert_string_equal(ml_json_str(f, "what"), what);
	assert_string_equal(ml_json_str(f, "severity"), severity);
	return f;
}

static void test_identical(void **state)
{
	json_t *a = load(DUMP_10_0), *b = load(DUMP_10_0);
	json_t *f = compare(a, b, NULL);
	(void)state;
	assert_int_equal(json_array_size(f), 0);
	json_decref(f);
	json_decref(a);
	json_decref(b);
}

static void test_version_above_dst(void **state)
{
	json_t *s = load(DUMP_10_0), *d = load(DUMP_10_0), *f, *x;
	(void)state;
	/* the source saves hpet at version 3, the destination knows up to 2 */
	json_object_set_new(desc(s, "hpet"), "version_id", json_integer(3));
	f = compare(s, d, NULL);
	x = only(f, "version-too-new", "error");
	assert_string_equal(ml_json_str(x, "device"), "hpet");
	assert_string_equal(ml_json_str(x, "src"), "version_id 3");
	assert_string_equal(ml_json_str(x, "dst"), "version_id 2, minimum_version_id 1");
	assert_non_null(strstr(ml_json_str(x, "explanation"), "unsupported version 3"));
	json_decref(f);
	json_decref(s);
	json_decref(d);
}

static void test_version_below_dst_minimum(void **state)
{
	json_t *s = load(DUMP_7_2), *d = load(DUMP_7_2), *f, *x;
	(void)state;
	/* mc146818rtc is at version 3; a destination that needs at least 4 */
	json_object_set_new(desc(d, "mc146818rtc"), "version_id", json_integer(5));
	json_object_set_new(desc(d, "mc146818rtc"), "minimum_version_id", json_integer(4));
	f = compare(s, d, NULL);
	x = only(f, "version-too-old", "error");
	assert_string_equal(ml_json_str(x, "device"), "mc146818rtc");
	assert_non_null(strstr(ml_json_str(x, "explanation"), "minimum_version_id 4"));
	json_decref(f);
	json_decref(s);
	json_decref(d);
}

static void test_field_size_changed(void **state)
{
	json_t *s = load(DUMP_7_2), *d = load(DUMP_7_2), *f, *x;
	(void)state;
	json_object_set_new(field(desc(d, "mc146818rtc"), "cmos_index"), "size", json_integer(4));
	f = compare(s, d, NULL);
	x = only(f, "field-size", "error");
	assert_string_equal(ml_json_str(x, "field"), "cmos_index");
	assert_string_equal(ml_json_str(x, "src"), "1");
	assert_string_equal(ml_json_str(x, "dst"), "4");
	json_decref(f);
	json_decref(s);
	json_decref(d);
}

static void test_field_missing_on_src(void **state)
{
	json_t *s = load(DUMP_7_2), *d = load(DUMP_7_2), *f, *x;
	json_t *fields = json_object_get(desc(s, "isa-i8259"), "Fields");
	(void)state;
	/* the source does not send "imr" (index 2), the destination reads it */
	assert_string_equal(ml_json_str(json_array_get(fields, 2), "field"), "imr");
	json_array_remove(fields, 2);
	f = compare(s, d, NULL);
	x = only(f, "field-missing", "error");
	assert_string_equal(ml_json_str(x, "field"), "imr");
	assert_string_equal(ml_json_str(x, "device"), "isa-i8259");
	json_decref(f);
	/* and the other way round: the source sends a field the destination lacks */
	f = compare(d, s, NULL);
	x = only(f, "field-extra", "error");
	assert_string_equal(ml_json_str(x, "field"), "imr");
	json_decref(f);
	json_decref(s);
	json_decref(d);
}

static void test_field_order(void **state)
{
	json_t *s = load(DUMP_7_2), *d = load(DUMP_7_2), *f, *x;
	json_t *fields = json_object_get(desc(d, "isa-i8259"), "Fields");
	json_t *irr = json_incref(json_array_get(fields, 1));
	(void)state;
	/* irr and imr swapped on the destination (both 1 byte): each of the two
	 * positions holds another field, whichever way the pair migrates */
	json_array_remove(fields, 1);
	json_array_insert_new(fields, 2, irr);
	for (int way = 0; way < 2; way++) {
		f = way ? compare(d, s, NULL) : compare(s, d, NULL);
		assert_int_equal(json_array_size(f), 2);
		x = json_array_get(f, 0);
		assert_string_equal(ml_json_str(x, "what"), "field-order");
		assert_string_equal(ml_json_str(x, "severity"), "error");
		assert_string_equal(ml_json_str(x, "field"), way ? "imr" : "irr");
		assert_string_equal(ml_json_str(x, "src"), way ? "imr at position 1" : "irr at position 1");
		assert_string_equal(ml_json_str(x, "dst"), way ? "irr at position 1" : "imr at position 1");
		x = json_array_get(f, 1);
		assert_string_equal(ml_json_str(x, "what"), "field-order");
		assert_string_equal(ml_json_str(x, "severity"), "error");
		assert_string_equal(ml_json_str(x, "src"), way ? "irr at position 2" : "imr at position 2");
		json_decref(f);
	}
	json_decref(s);
	json_decref(d);
}

/* A field added to a real description: an error both ways, whatever its
 * name; a field whose test (field_exists) decides at run time: a warning. */
static void test_added_field_both_ways(void **state)
{
	json_t *a = load(DUMP_7_2), *b = load(DUMP_7_2), *fw, *bk, *x;
	(void)state;
	/* after cmos_index (position 1) of mc146818rtc, in b only */
	add_field(desc(b, "mc146818rtc"), 2, "cmos_bank", 1, 0, false);
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-missing", "error");
	assert_string_equal(ml_json_str(x, "field"), "cmos_bank");
	assert_string_equal(ml_json_str(x, "dst"), "1 bytes at position 2");
	x = only(bk, "field-extra", "error");
	assert_string_equal(ml_json_str(x, "field"), "cmos_bank");
	assert_string_equal(ml_json_str(x, "src"), "1 bytes at position 2");
	assert_mirrored(fw, bk);
	json_decref(fw);
	json_decref(bk);
	/* the same added field under a run-time test */
	json_object_set_new(field(desc(b, "mc146818rtc"), "cmos_bank"), "field_exists", json_true());
	compare_both(a, b, NULL, &fw, &bk);
	only(fw, "field-missing", "warning");
	only(bk, "field-extra", "warning");
	json_decref(fw);
	json_decref(bk);
	json_decref(a);
	json_decref(b);
}

/* A field name that repeats: the lists differ by one field, and the name
 * of that field is also elsewhere in the list. Paired by name, one
 * direction found the repeated name "somewhere" and said nothing. */
static void test_duplicate_field_name_both_ways(void **state)
{
	json_t *a = load(DUMP_7_2), *b = load(DUMP_7_2), *fw, *bk, *x;
	json_t *fields = json_object_get(desc(b, "isa-i8259"), "Fields");
	(void)state;
	/* i8259: last_irr, irr, imr, isr, ...; b gets a second irr after imr */
	assert_string_equal(ml_json_str(json_array_get(fields, 1), "field"), "irr");
	json_array_insert_new(fields, 3, json_deep_copy(json_array_get(fields, 1)));
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-missing", "error");
	assert_string_equal(ml_json_str(x, "field"), "irr");
	assert_string_equal(ml_json_str(x, "dst"), "1 bytes at position 3");
	assert_non_null(strstr(ml_json_str(x, "explanation"), "The source has a field 'irr' at "
							      "position 1"));
	x = only(bk, "field-extra", "error");
	assert_string_equal(ml_json_str(x, "field"), "irr");
	assert_string_equal(ml_json_str(x, "src"), "1 bytes at position 3");
	assert_mirrored(fw, bk);
	json_decref(fw);
	json_decref(bk);
	json_decref(b);

	/* the same length, imr renamed irr: irr twice, at positions 1 and 2 */
	b = load(DUMP_7_2);
	fields = json_object_get(desc(b, "isa-i8259"), "Fields");
	json_object_set_new(json_array_get(fields, 2), "field", json_string("irr"));
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-order", "error");
	assert_string_equal(ml_json_str(x, "src"), "imr at position 2");
	assert_string_equal(ml_json_str(x, "dst"), "irr at position 2");
	x = only(bk, "field-order", "error");
	assert_string_equal(ml_json_str(x, "src"), "irr at position 2");
	assert_string_equal(ml_json_str(x, "dst"), "imr at position 2");
	json_decref(fw);
	json_decref(bk);

	/* a repeated name of another size: the repeat is a field of its own */
	json_object_set_new(json_array_get(fields, 2), "field", json_string("imr"));
	add_field(desc(b, "isa-i8259"), 4, "imr", 4, 0, false);
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-missing", "error");
	assert_string_equal(ml_json_str(x, "dst"), "4 bytes at position 4");
	only(bk, "field-extra", "error");
	assert_mirrored(fw, bk);
	json_decref(fw);
	json_decref(bk);
	json_decref(a);
	json_decref(b);
}

/* A version bump with a field of the new version: the source decides the
 * version on the wire, so each direction has its own truth. */
static void test_version_bump_both_ways(void **state)
{
	json_t *a = load(DUMP_7_2), *b = load(DUMP_7_2), *fw, *bk, *x;
	json_t *hpet = desc(b, "hpet");
	(void)state;
	json_object_set_new(hpet, "version_id", json_integer(3));
	add_field(hpet, 4, "counter_hi", 4, 3, false);
	compare_both(a, b, NULL, &fw, &bk);
	/* a sends version 2; b reads its fields of version 2 or less: the same */
	assert_int_equal(json_array_size(fw), 0);
	x = only(bk, "version-too-new", "error");
	assert_string_equal(ml_json_str(x, "src"), "version_id 3");
	assert_string_equal(ml_json_str(x, "dst"), "version_id 2, minimum_version_id 1");
	json_decref(fw);
	json_decref(bk);
	/* b no longer loads version 2 */
	json_object_set_new(hpet, "minimum_version_id", json_integer(3));
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "version-too-old", "error");
	assert_string_equal(ml_json_str(x, "dst"), "version_id 3, minimum_version_id 3");
	only(bk, "version-too-new", "error");
	json_decref(fw);
	json_decref(bk);
	/* the new field at version 2 instead: sent and read at version 2 */
	json_object_set_new(hpet, "minimum_version_id", json_integer(1));
	json_object_set_new(field(hpet, "counter_hi"), "version_id", json_integer(2));
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-missing", "error");
	assert_string_equal(ml_json_str(x, "field"), "counter_hi");
	only(bk, "version-too-new", "error");
	json_decref(fw);
	json_decref(bk);
	json_decref(a);
	json_decref(b);
}

/* A subsection added to a real description, then one in both whose
 * version or fields differ. */
static void test_subsection_added_both_ways(void **state)
{
	json_t *a = load(DUMP_7_2), *b = load(DUMP_7_2), *fw, *bk, *x, *sub;
	json_t *subs = json_object_get(desc(b, "mc146818rtc"), "Subsections");
	(void)state;
	sub = json_pack("{s:s, s:i, s:i, s:[]}", "name", "mc146818rtc/century", "version_id", 1,
			"minimum_version_id", 1, "Fields");
	add_field(sub, 0, "century", 1, 0, false);
	json_array_append_new(subs, sub);
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "subsection-dst-only", "info");
	assert_string_equal(ml_json_str(x, "path"), "mc146818rtc/century");
	assert_string_equal(ml_json_str(x, "dst"), "version_id 1");
	x = only(bk, "subsection-src-only", "warning");
	assert_string_equal(ml_json_str(x, "src"), "version_id 1");
	assert_non_null(strstr(ml_json_str(x, "explanation"), "may fail if needed() is true"));
	json_decref(fw);
	json_decref(bk);
	/* a has it too, at version 1; b at version 2 with a field of version 2 */
	json_array_append_new(json_object_get(desc(a, "mc146818rtc"), "Subsections"),
			      json_deep_copy(sub));
	json_object_set_new(sub, "version_id", json_integer(2));
	add_field(sub, 1, "century_hi", 1, 2, false);
	compare_both(a, b, NULL, &fw, &bk);
	assert_int_equal(json_array_size(fw), 0); /* sent at 1, read at 1 */
	x = only(bk, "version-too-new", "error");
	assert_string_equal(ml_json_str(x, "path"), "mc146818rtc/century");
	assert_non_null(strstr(ml_json_str(x, "explanation"), "if the source sends this subsection"));
	json_decref(fw);
	json_decref(bk);
	/* the same version, a field more: an error inside the subsection */
	json_object_set_new(field(sub, "century_hi"), "version_id", json_integer(0));
	json_object_set_new(sub, "version_id", json_integer(1));
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-missing", "error");
	assert_string_equal(ml_json_str(x, "path"), "mc146818rtc/century");
	assert_non_null(strstr(ml_json_str(x, "explanation"), "inside a subsection"));
	only(bk, "field-extra", "error");
	assert_mirrored(fw, bk);
	json_decref(fw);
	json_decref(bk);
	json_decref(a);
	json_decref(b);
}

/* Array counts: QEMU 10.0 dumps "num" for fixed arrays, 7.2 does not. */
static void test_array_count_both_ways(void **state)
{
	json_t *a = load(DUMP_10_0), *b = load(DUMP_10_0), *old = load(DUMP_7_2), *fw, *bk, *x;
	json_t *cc = field(desc(b, "ICH9-LPC"), "chip_config");
	size_t i;
	(void)state;
	json_object_set_new(cc, "num", json_integer(8192));
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-count", "error");
	assert_string_equal(ml_json_str(x, "src"), "16384 elements");
	assert_string_equal(ml_json_str(x, "dst"), "8192 elements");
	x = only(bk, "field-count", "error");
	assert_string_equal(ml_json_str(x, "src"), "8192 elements");
	json_decref(fw);
	json_decref(bk);
	/* a dump that gives counts, none for this field: one element, or a
	 * length decided at run time */
	json_object_del(cc, "num");
	compare_both(a, b, NULL, &fw, &bk);
	x = only(fw, "field-count", "warning");
	assert_string_equal(ml_json_str(x, "dst"), "no fixed count");
	only(bk, "field-count", "warning");
	json_decref(fw);
	json_decref(bk);
	/* 7.2's dump gives no counts at all: nothing to say about them */
	compare_both(old, a, NULL, &fw, &bk);
	json_array_foreach(fw, i, x)
		assert_string_not_equal(ml_json_str(x, "what"), "field-count");
	json_array_foreach(bk, i, x)
		assert_string_not_equal(ml_json_str(x, "what"), "field-count");
	json_decref(fw);
	json_decref(bk);
	json_decref(a);
	json_decref(b);
	json_decref(old);
}

/* Real: QEMU 10.0 has i8259/ltim, 7.2 does not. */
static void test_subsection_only_on_src(void **state)
{
	json_t *old = load(DUMP_7_2), *new = load(DUMP_10_0), *f, *x;
	struct ml_vmstate_renames *r = ml_vmstate_renames_load(ml_vmstate_renames_default_path());
	struct ml_vmstate_options o = { .renames = r };
	(void)state;
	assert_non_null(r);
	f = compare(new, old, &o);
	x = only(f, "subsection-src-only", "warning");
	assert_string_equal(ml_json_str(x, "path"), "i8259/ltim");
	assert_non_null(strstr(ml_json_str(x, "explanation"), "may fail if needed() is true"));
	json_decref(f);
	/* forward, the destination merely knows more: info */
	f = compare(old, new, &o);
	x = only(f, "subsection-dst-only", "info");
	assert_string_equal(ml_json_str(x, "path"), "i8259/ltim");
	json_decref(f);
	ml_vmstate_renames_free(r);
	json_decref(old);
	json_decref(new);
}

static void test_section_missing_on_dst(void **state)
{
	json_t *s = load(DUMP_7_2), *d = load(DUMP_7_2), *f, *x;
	json_t *guest = json_pack("[s, s]", "virtio-net-pci", "virtio-net-device");
	json_t *types = json_pack("[s]", "virtio-net-device");
	struct ml_vmstate_options o = { 0 };
	(void)state;
	json_object_del(d, "virtio-net-device");
	f = compare(s, d, &o);
	x = only(f, "section-missing", "warning"); /* not known to be a guest device */
	assert_false(json_is_true(json_object_get(x, "guest_device")));
	json_decref(f);
	o.guest_types = guest;
	f = compare(s, d, &o);
	x = only(f, "section-missing", "error"); /* miglab's guests have it */
	assert_true(json_is_true(json_object_get(x, "guest_device")));
	assert_string_equal(ml_json_str(x, "device"), "virtio-net-device");
	json_decref(f);
	/* the type exists on the destination, only its dump lacks it */
	o.dst_device_types = types;
	f = compare(s, d, &o);
	only(f, "section-not-dumped", "info");
	json_decref(f);
	json_decref(guest);
	json_decref(types);
	json_decref(s);
	json_decref(d);
}

/* Real: hpet's num_timers is num_timers_save in 10.0, the same byte. */
static void test_rename_suppressed(void **state)
{
	json_t *old = load(DUMP_7_2), *new = load(DUMP_10_0), *f, *x;
	struct ml_vmstate_renames *r = ml_vmstate_renames_load(ml_vmstate_renames_default_path());
	struct ml_vmstate_options o = { .renames = r };
	size_t i;
	(void)state;
	assert_non_null(r);
	json_object_del(old, "isa-i8259"); /* leave hpet as the only difference */
	json_object_del(new, "isa-i8259");
	f = compare(old, new, NULL);
	x = only(f, "field-renamed", "warning");
	assert_string_equal(ml_json_str(x, "device"), "hpet");
	assert_string_equal(ml_json_str(x, "src"), "num_timers (1 bytes)");
	assert_string_equal(ml_json_str(x, "dst"), "num_timers_save (1 bytes)");
	json_decref(f);
	f = compare(old, new, &o);
	assert_int_equal(json_array_size(f), 0);
	json_decref(f);
	f = compare(new, old, &o); /* a rename works both ways */
	json_array_foreach(f, i, x)
		fail_msg("unexpected finding %s", ml_json_str(x, "what"));
	json_decref(f);
	ml_vmstate_renames_free(r);
	json_decref(old);
	json_decref(new);
}

/* The whole real excerpt: 7.2 -> 10.0.2 only has the ltim info; errors sort first. */
static void test_real_pair_sorted(void **state)
{
	json_t *old = load(DUMP_7_2), *new = load(DUMP_10_0), *f;
	struct ml_vmstate_options o = { 0 };
	(void)state;
	json_object_set_new(desc(new, "mc146818rtc"), "version_id", json_integer(2));
	f = compare(old, new, &o);
	assert_int_equal(ml_vmstate_count(f, "error"), 1);
	assert_string_equal(ml_json_str(json_array_get(f, 0), "severity"), "error");
	assert_string_equal(ml_json_str(json_array_get(f, 0), "device"), "mc146818rtc");
	assert_string_equal(ml_json_str(json_array_get(f, json_array_size(f) - 1), "severity"),
			    "info");
	json_decref(f);
	json_decref(old);
	json_decref(new);
}

static void test_guest_only(void **state)
{
	json_t *old = load(DUMP_7_2), *new = load(DUMP_10_0), *f;
	json_t *guest = json_pack("[s]", "virtio-net-device");
	struct ml_vmstate_renames *r = ml_vmstate_renames_load(ml_vmstate_renames_default_path());
	struct ml_vmstate_options o = { .renames = r, .guest_types = guest, .guest_only = true };
	(void)state;
	f = compare(new, old, &o); /* the ltim warning is about isa-i8259: not listed */
	assert_int_equal(json_array_size(f), 0);
	json_decref(f);
	ml_vmstate_renames_free(r);
	json_decref(guest);
	json_decref(old);
	json_decref(new);
}

static void test_malformed(void **state)
{
	json_t *s = load(DUMP_7_2), *d = load(DUMP_7_2);
	(void)state;
	json_object_set_new(field(desc(s, "hpet"), "config"), "size", json_string("eight"));
	assert_null(ml_vmstate_compare(s, d, NULL));
	assert_non_null(strstr(ml_error_message(), "malformed vmstate dump"));
	json_decref(s);
	json_decref(d);
}

static void test_renames_file(void **state)
{
	struct ml_vmstate_renames *r;
	(void)state;
	r = ml_vmstate_renames_parse("[field]\nhpet.a = b\n[section]\nx = y\n", "t.ini");
	assert_non_null(r);
	ml_vmstate_renames_free(r);
	assert_null(ml_vmstate_renames_parse("[fields]\na.b = c\n", "t.ini"));
	assert_string_equal(ml_error_message(),
			    "t.ini:2: unknown section [fields] (expected [section], [field] or [subsection])");
	assert_null(ml_vmstate_renames_parse("[field]\nnodot = c\n", "t.ini"));
	assert_non_null(strstr(ml_error_message(), "t.ini:2: field rename 'nodot'"));
	/* A name that is not UTF-8 (it would become a JSON member name, which
	 * must be) is refused with the line, not an abort. */
	assert_null(ml_vmstate_renames_parse("[section]\nok = fine\nx\xc0\xaf = y\n", "t.ini"));
	assert_string_equal(ml_error_message(), "t.ini:3: not valid UTF-8");
	assert_null(ml_vmstate_renames_parse("[field]\nhpet.a = \xed\xa0\x80\n", "t.ini"));
	assert_string_equal(ml_error_message(), "t.ini:2: not valid UTF-8");
	assert_null(ml_vmstate_renames_parse("[s\x80]\na = b\n", "t.ini"));
	assert_string_equal(ml_error_message(), "t.ini:2: not valid UTF-8");
	/* the shipped file parses */
	r = ml_vmstate_renames_load(ml_vmstate_renames_default_path());
	assert_non_null(r);
	ml_vmstate_renames_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_version_above_dst),
		cmocka_unit_test(test_version_below_dst_minimum),
		cmocka_unit_test(test_field_size_changed),
		cmocka_unit_test(test_field_missing_on_src),
		cmocka_unit_test(test_field_order),
		cmocka_unit_test(test_added_field_both_ways),
		cmocka_unit_test(test_duplicate_field_name_both_ways),
		cmocka_unit_test(test_version_bump_both_ways),
		cmocka_unit_test(test_subsection_added_both_ways),
		cmocka_unit_test(test_array_count_both_ways),
		cmocka_unit_test(test_subsection_only_on_src),
		cmocka_unit_test(test_section_missing_on_dst),
		cmocka_unit_test(test_rename_suppressed),
		cmocka_unit_test(test_real_pair_sorted),
		cmocka_unit_test(test_guest_only),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_renames_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
