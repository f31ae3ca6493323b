/* Unit tests of the host fingerprint (results/host.c): /proc/cpuinfo texts in
 * tests/data/host/ (one real, one hand-made: see the README there) against the
 * expected fields, the comparison of fingerprints against expected
 * comparisons (both regenerable with MIGLAB_REGENERATE=1), and this host's
 * own fingerprint holding every field. */
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

/* Every field a fingerprint holds (docs/results.md, "run.json: host"). */
static const char *const fingerprint_fields[] = {
	"cpu_vendor", "cpu_family", "cpu_model_number", "cpu_model", "cpu_stepping",
	"cpu_microcode", "cpu_flags", "kernel", "arch", "hostname", "cpus", "memory",
	"kvm_device", "accel",
};

static char *read_data(const char *rel)
{
	char *text = NULL;

	if (ml_read_file(ml_test_data(rel), 1 << 20, &text, NULL) < 0)
		fail_msg("%s: %s", rel, ml_error_message());
	return text;
}

static json_t *load_data(const char *rel)
{
	json_t *doc = ml_json_load_file(ml_test_data(rel), 1 << 20);

	if (!doc)
		fail_msg("%s: %s", rel, ml_error_message());
	return doc;
}

/* got against the expected file rel, or rel rewritten when regenerating. */
static void compare_expected(const char *rel, json_t *got)
{
	ml_autofree char *text = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(2));
	ml_autofree char *expected = NULL;
	ml_autofree char *with_nl = ml_strdup_printf("%s\n", text);

	if (ml_test_regenerate()) {
		assert_int_equal(ml_write_atomic(ml_test_data(rel), with_nl, strlen(with_nl), 0644), 0);
		return;
	}
	if (ml_read_file(ml_test_data(rel), 1 << 20, &expected, NULL) < 0)
		fail_msg("%s: no expected file (MIGLAB_REGENERATE=1 writes it)", rel);
	if (strcmp(expected, with_nl) != 0)
		fprintf(stderr, "%s:\n--- expected\n%s--- got\n%s", rel, expected, with_nl);
	assert_string_equal(expected, with_nl);
}

static void test_parse_cpuinfo(void **state)
{
	static const struct {
		const char *input;
		const char *vendor;
		long long family, model, stepping;
		const char *microcode; /* NULL: no microcode line */
		size_t n_flags;
	} cases[] = {
		{ "cpuinfo-amd-epyc-vm", "AuthenticAMD", 26, 2, 1, NULL, 93 },
		/* the first block's microcode, not the second's */
		{ "cpuinfo-intel-handmade", "GenuineIntel", 6, 106, 6, "0xd0003a5", 148 },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		ml_autofree char *in_rel = ml_strdup_printf("host/%s.txt", cases[i].input);
		ml_autofree char *exp_rel = ml_strdup_printf("host/%s.expected.json", cases[i].input);
		ml_autofree char *text = read_data(in_rel);
		json_t *cpu = ml_host_parse_cpuinfo(text);
		json_t *flags, *v;
		size_t j;

		assert_non_null(cpu);
		assert_string_equal(ml_json_str(cpu, "cpu_vendor"), cases[i].vendor);
		assert_int_equal(ml_json_int(cpu, "cpu_family", -1), cases[i].family);
		assert_int_equal(ml_json_int(cpu, "cpu_model_number", -1), cases[i].model);
		assert_int_equal(ml_json_int(cpu, "cpu_stepping", -1), cases[i].stepping);
		if (cases[i].microcode)
			assert_string_equal(ml_json_str(cpu, "cpu_microcode"), cases[i].microcode);
		else
			assert_true(json_is_null(json_object_get(cpu, "cpu_microcode")));
		/* flags: sorted, no repeats, no empty names */
		flags = json_object_get(cpu, "cpu_flags");
		assert_int_equal(json_array_size(flags), cases[i].n_flags);
		json_array_foreach(flags, j, v) {
			assert_true(json_string_length(v) > 0);
			if (j > 0)
				assert_true(strcmp(json_string_value(json_array_get(flags, j - 1)),
						   json_string_value(v)) < 0);
		}
		compare_expected(exp_rel, cpu);
		json_decref(cpu);
	}
}

/* Texts that are not a usual x86 block: fields absent or odd are null. */
static void test_parse_cpuinfo_odd(void **state)
{
	json_t *cpu;
	(void)state;

	/* arm64 names none of the x86 fields */
	cpu = ml_host_parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n"
				    "CPU implementer\t: 0x41\n\nprocessor\t: 1\n");
	assert_non_null(cpu);
	assert_true(json_is_null(json_object_get(cpu, "cpu_vendor")));
	assert_true(json_is_null(json_object_get(cpu, "cpu_family")));
	assert_true(json_is_null(json_object_get(cpu, "cpu_flags")));
	json_decref(cpu);

	/* an unknown stepping, a family too long to be one, no trailing newline */
	cpu = ml_host_parse_cpuinfo("vendor_id : X\nstepping : unknown\n"
				    "cpu family : 123456789012345678901234567890\nflags :");
	assert_non_null(cpu);
	assert_string_equal(ml_json_str(cpu, "cpu_vendor"), "X");
	assert_true(json_is_null(json_object_get(cpu, "cpu_stepping")));
	assert_true(json_is_null(json_object_get(cpu, "cpu_family")));
	assert_int_equal(json_array_size(json_object_get(cpu, "cpu_flags")), 0);
	json_decref(cpu);

	/* invalid UTF-8 in a name: null, not an abort */
	cpu = ml_host_parse_cpuinfo("model name : bad \xff\xfe name\n");
	assert_non_null(cpu);
	assert_true(json_is_null(json_object_get(cpu, "cpu_model")));
	json_decref(cpu);

	ml_error_reset();
	assert_null(ml_host_parse_cpuinfo("not cpuinfo at all\n\n"));
	assert_non_null(strstr(ml_error_message(), "/proc/cpuinfo"));
	assert_null(ml_host_parse_cpuinfo(""));
	assert_null(ml_host_parse_cpuinfo(NULL));
}

static void test_compare(void **state)
{
	static const struct {
		const char *a, *b, *expected;
		bool same;
	} cases[] = {
		/* itself */
		{ "fingerprint-intel-lab1", "fingerprint-intel-lab1", "compare-same", true },
		/* the same CPU on another machine: hostname and memory only */
		{ "fingerprint-intel-lab1", "fingerprint-intel-lab2", "compare-other-machine", true },
		/* a microcode update and a kernel that hides a flag and shows one */
		{ "fingerprint-intel-lab1", "fingerprint-intel-lab1-updated", "compare-updated", false },
		/* another vendor, accelerator and a fingerprint from before flags */
		{ "fingerprint-intel-lab1", "fingerprint-amd-old", "compare-other-cpu", false },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		ml_autofree char *a_rel = ml_strdup_printf("host/%s.json", cases[i].a);
		ml_autofree char *b_rel = ml_strdup_printf("host/%s.json", cases[i].b);
		ml_autofree char *exp_rel = ml_strdup_printf("host/%s.expected.json", cases[i].expected);
		json_t *a = load_data(a_rel);
		json_t *b = load_data(b_rel);
		json_t *a_before = json_deep_copy(a);
		json_t *cmp = ml_host_compare(a, b);

		assert_non_null(cmp);
		assert_int_equal(ml_json_bool(cmp, "same", !cases[i].same), cases[i].same);
		/* neither input is changed */
		assert_true(json_equal(a, a_before));
		compare_expected(exp_rel, cmp);
		json_decref(cmp);
		json_decref(a_before);
		json_decref(a);
		json_decref(b);
	}

	ml_error_reset();
	assert_null(ml_host_compare(NULL, json_object()));
	assert_non_null(strstr(ml_error_message(), "JSON object"));
}

/* This machine's fingerprint has every field, whatever this machine is. */
static void test_this_host(void **state)
{
	json_t *h = ml_host_fingerprint("tcg");
	json_t *cmp;
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(fingerprint_fields); i++)
		if (!json_object_get(h, fingerprint_fields[i]))
			fail_msg("fingerprint lacks %s", fingerprint_fields[i]);
	assert_int_equal(json_object_size(h), ML_ARRAY_SIZE(fingerprint_fields));
	assert_string_equal(ml_json_str(h, "accel"), "tcg");
	assert_true(ml_json_int(h, "cpus", 0) > 0);
	assert_true(json_is_boolean(json_object_get(h, "kvm_device")));
	/* the facts alone: everything but the accelerator */
	{
		json_t *f = ml_host_facts();
		assert_null(json_object_get(f, "accel"));
		assert_int_equal(json_object_size(f), ML_ARRAY_SIZE(fingerprint_fields) - 1);
		json_decref(f);
	}
	cmp = ml_host_compare(h, h);
	assert_true(ml_json_bool(cmp, "same", false));
	assert_int_equal(json_array_size(json_object_get(cmp, "differences")), 0);
	json_decref(cmp);
	json_decref(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cpuinfo),
		cmocka_unit_test(test_parse_cpuinfo_odd),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_this_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
