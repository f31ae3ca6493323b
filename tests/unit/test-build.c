/* Unit tests of build providers: parsing and validation of provider specs,
 * `-machine help` output of real QEMU builds (tests/data/machines/), and
 * version lines. */
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

static json_t *machine(json_t *machines, const char *name)
{
	size_t i;
	json_t *m;
	json_array_foreach(machines, i, m)
		if (strcmp(ml_json_str(m, "name"), name) == 0)
			return m;
	return NULL;
}

static struct ml_build build_from(const char *fixture)
{
	struct ml_build b = { 0 };
	char *text = NULL;

	assert_int_equal(ml_read_file(ml_test_data(fixture), 1 << 20, &text, NULL), 0);
	b.machines = ml_build_parse_machine_help(text);
	free(text);
	return b;
}

static void test_parse_machine_help_7_2(void **state)
{
	struct ml_build b = build_from("machines/qemu-7.2.22-debian-bookworm.txt");
	json_t *m;
	(void)state;

	/* 62 lines: the header and two alias lines are not machines. */
	assert_int_equal(json_array_size(b.machines), 62 - 3);
	m = machine(b.machines, "pc-i440fx-7.2");
	assert_non_null(m);
	assert_true(ml_json_bool(m, "default", false));
	assert_int_equal(json_array_size(json_object_get(m, "aliases")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(m, "aliases"), 0)), "pc");
	assert_string_equal(ml_json_str(m, "description"), "Standard PC (i440FX + PIIX, 1996)");
	assert_string_equal(ml_build_find_machine(&b, "q35"), "pc-q35-7.2");
	assert_string_equal(ml_build_find_machine(&b, "pc-q35-7.2"), "pc-q35-7.2");
	assert_null(ml_build_find_machine(&b, "pc-q35-10.0"));
	assert_null(machine(b.machines, "q35"));
	ml_build_clear(&b);
}

static void test_parse_machine_help_10_0(void **state)
{
	struct ml_build b = build_from("machines/qemu-10.0.2-debian-bookworm-backports.txt");
	json_t *m;
	(void)state;

	assert_string_equal(ml_build_find_machine(&b, "q35"), "pc-q35-10.0");
	assert_string_equal(ml_build_find_machine(&b, "pc"), "pc-i440fx-10.0");
	assert_non_null(ml_build_find_machine(&b, "pc-q35-7.2"));
	m = machine(b.machines, "pc-i440fx-7.0");
	assert_non_null(m);
	assert_true(ml_json_bool(m, "deprecated", false));
	assert_false(ml_json_bool(m, "default", true));
	assert_string_equal(ml_json_str(m, "description"), "Standard PC (i440FX + PIIX, 1996)");
	assert_false(ml_json_bool(machine(b.machines, "pc-q35-10.0"), "deprecated", true));
	ml_build_clear(&b);
}

static void test_parse_machine_help_11_1(void **state)
{
	struct ml_build b = build_from("machines/qemu-11.1.3-debian-sid.txt");
	(void)state;

	/* 11.1 dropped machine types older than 5.2 and deprecates up to 8.1. */
	assert_string_equal(ml_build_find_machine(&b, "q35"), "pc-q35-11.1");
	assert_string_equal(ml_build_find_machine(&b, "pc"), "pc-i440fx-11.1");
	assert_null(ml_build_find_machine(&b, "pc-q35-5.1"));
	assert_true(ml_json_bool(machine(b.machines, "pc-q35-8.1"), "deprecated", false));
	assert_false(ml_json_bool(machine(b.machines, "pc-q35-8.2"), "deprecated", true));
	assert_true(ml_json_bool(machine(b.machines, "pc-q35-5.2"), "deprecated", false));
	ml_build_clear(&b);
}

static void test_trixie_and_backports_agree(void **state)
{
	/* Both are QEMU 10.0.x: a point release must not change the machine list. */
	struct ml_build a = build_from("machines/qemu-10.0.2-debian-bookworm-backports.txt");
	struct ml_build t = build_from("machines/qemu-10.0.13-debian-trixie.txt");
	(void)state;

	assert_true(json_equal(a.machines, t.machines));
	ml_build_clear(&a);
	ml_build_clear(&t);
}

static void test_version_line(void **state)
{
	ml_autofree char *v1 = ml_build_parse_version_line(
		"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright");
	ml_autofree char *v2 = ml_build_parse_version_line("QEMU emulator version 11.1.0\n");
	ml_autofree char *v3 = ml_build_parse_version_line("not qemu at all");
	(void)state;

	assert_string_equal(v1, "7.2.22");
	assert_string_equal(v2, "11.1.0");
	assert_null(v3);
}

static void test_provider_parsing(void **state)
{
	struct ml_build b;
	(void)state;

	assert_int_equal(ml_build_parse("debian:trixie", &b), 0);
	assert_int_equal(b.kind, ML_PROVIDER_DEBIAN);
	assert_string_equal(b.suite, "trixie");
	assert_string_equal(b.qemu, "/usr/bin/qemu-system-x86_64");
	ml_build_clear(&b);

	assert_int_equal(ml_build_parse("debian:bookworm-backports", &b), 0);
	ml_build_clear(&b);

	assert_int_equal(ml_build_parse("debian:woody", &b), -1);
	assert_non_null(strstr(ml_error_message(), "unknown Debian suite 'woody'"));
	assert_non_null(strstr(ml_error_message(), "bookworm-backports"));

	assert_int_equal(ml_build_parse("debian:", &b), -1);
	assert_int_equal(ml_build_parse("", &b), -1);
	assert_non_null(strstr(ml_error_message(), "empty build provider"));
	assert_int_equal(ml_build_parse("rpm:fedora", &b), -1);
	assert_non_null(strstr(ml_error_message(), "unknown build provider 'rpm:fedora'"));
	assert_int_equal(ml_build_parse("path:relative/qemu", &b), -1);
	assert_non_null(strstr(ml_error_message(), "must be absolute"));
	assert_int_equal(ml_build_parse("path:/nonexistent/qemu-system-x86_64", &b), -1);
	assert_non_null(strstr(ml_error_message(), "cannot execute /nonexistent"));
	/* source: is git: (tests/unit/test-source.c has the rest). */
	assert_int_equal(ml_build_parse("source:/src/qemu@v9.2.0", &b), -1);
	assert_non_null(strstr(ml_error_message(), "the checkout /src/qemu does not exist"));

	assert_int_equal(ml_build_parse("path:/bin/true", &b), 0);
	assert_int_equal(b.kind, ML_PROVIDER_PATH);
	assert_null(b.root);
	ml_build_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_machine_help_7_2),
		cmocka_unit_test(test_parse_machine_help_10_0),
		cmocka_unit_test(test_parse_machine_help_11_1),
		cmocka_unit_test(test_trixie_and_backports_agree),
		cmocka_unit_test(test_version_line),
		cmocka_unit_test(test_provider_parsing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
