/* Unit tests of the result model (attempt.json writing, verdict strings) and of
 * cell ids (stable, and changed by every input that changes what runs). */
#include <stdio.h>
#include <string.h>

#include "cell.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "result.h"
#include "testhelp.h"
#include "ml-common.h"

static void test_attempt_json_lifecycle(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *cdir = ml_path_join(dir, "run1/cells/c1/attempts/1");
	ml_autofree char *path = ml_path_join(cdir, "attempt.json");
	struct ml_cell_result r;
	json_t *p, *doc;
	(void)state;

	assert_int_equal(ml_result_new(&r, cdir, "run1", "c1", 1, json_pack("{s:s}", "machine", "q35")), 0);
	assert_int_equal(ml_result_write(&r), 0);
	/* Written before anything happened: an interrupted cell reads as an error. */
	doc = ml_json_load_file(path, 1 << 20);
	assert_string_equal(ml_json_str(doc, "schema"), ML_ATTEMPT_SCHEMA);
	assert_int_equal(ml_json_int(doc, "attempt", 0), 1);
	assert_string_equal(ml_json_str(doc, "outcome"), "error");
	assert_string_equal(ml_json_str(doc, "state"), "running");
	json_decref(doc);

	p = ml_result_phase_begin(&r, "boot-src");
	ml_json_set_int(json_object_get(p, "figures"), "boot_to_hello_ms", 3500);
	ml_result_phase_end(&r, p, ML_PHASE_PASS, NULL);
	p = ml_result_phase_begin(&r, "migrate-forward");
	ml_result_phase_end(&r, p, ML_PHASE_FAIL, "load of migration failed: Invalid argument");
	ml_result_set_outcome(&r, ML_VERDICT_FAIL, "migrate-forward", "the migration failed",
			      "qemu: <script>alert(1)</script>\x01");
	assert_int_equal(ml_result_write(&r), 0);
	ml_result_clear(&r);

	doc = ml_json_load_file(path, 1 << 20);
	assert_non_null(doc);
	assert_string_equal(ml_json_str(doc, "outcome"), "fail");
	assert_null(json_object_get(doc, "verdict")); /* the judge's, not the cell's */
	assert_string_equal(ml_json_str(doc, "state"), "done");
	assert_int_equal(json_array_size(json_object_get(doc, "phases")), 2);
	p = json_array_get(json_object_get(doc, "phases"), 1);
	assert_string_equal(ml_json_str(p, "status"), "fail");
	assert_string_equal(ml_json_str(p, "error"), "load of migration failed: Invalid argument");
	assert_true(ml_json_int(p, "duration_ms", -1) >= 0);
	assert_int_equal(ml_json_int(json_object_get(json_array_get(json_object_get(doc, "phases"), 0),
						     "figures"), "boot_to_hello_ms", 0), 3500);
	/* Hostile bytes survive as data (escaping is the dashboard's job). */
	assert_string_equal(ml_json_str(json_object_get(doc, "failure"), "evidence"),
			    "qemu: <script>alert(1)</script>\x01");
	json_decref(doc);
	ml_test_rmtree(dir);
}

static void test_verdict_names(void **state)
{
	enum ml_verdict v;
	(void)state;
	assert_string_equal(ml_verdict_str(ML_VERDICT_XPASS), "xpass");
	assert_int_equal(ml_verdict_parse("xfail", &v), 0);
	assert_int_equal(v, ML_VERDICT_XFAIL);
	assert_int_equal(ml_verdict_parse("passed", &v), -1);
	assert_non_null(strstr(ml_error_message(), "unknown verdict 'passed'"));
}

static void test_run_id_format(void **state)
{
	ml_autofree char *a = ml_run_id_new();
	ml_autofree char *b = ml_run_id_new();
	(void)state;
	assert_int_equal(strlen(a), strlen("20261122-031500-4f2a"));
	assert_int_equal(a[8], '-');
	assert_string_not_equal(a, b);
}

static void test_cell_id_stable_and_sensitive(void **state)
{
	struct ml_build src = { .spec = "debian:bookworm" };
	struct ml_build dst = { .spec = "debian:trixie" };
	struct ml_guest g = { 0 };
	struct ml_cell_spec s = { .src = &src, .dst = &dst, .guest = &g,
				  .kernel_spec = "debian:bookworm", .machine = "pc-q35-7.2" };
	const char *extra[] = { "-device", "virtio-balloon-pci", NULL };
	ml_autofree char *id1 = NULL;
	ml_autofree char *id2 = NULL;
	ml_autofree char *id3 = NULL;
	ml_autofree char *id4 = NULL;
	(void)state;

	ml_cell_spec_defaults(&s);
	id1 = ml_cell_id(&s);
	id2 = ml_cell_id(&s);
	assert_string_equal(id1, id2);
	/* Readable and known: a hash change here breaks --resume of old runs. */
	assert_string_equal(id1, "bookworm-to-trixie-pc-q35-7.2-k-bookworm-a6be6298");
	s.dst_extra_args = extra;
	id3 = ml_cell_id(&s);
	assert_string_not_equal(id1, id3);
	s.dst_extra_args = NULL;
	s.machine = "../../etc";
	id4 = ml_cell_id(&s);
	assert_null(strchr(id4, '/'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attempt_json_lifecycle),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_run_id_format),
		cmocka_unit_test(test_cell_id_stable_and_sensitive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
