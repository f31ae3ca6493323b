/* Unit tests of the result model (attempt.json writing, verdict strings), of
 * cell ids (stable, and changed by every input that changes what runs), of run
 * directories (created exclusively) and of merging runs (paths from checked
 * cell ids only). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cell.h"
#include "config.h"
#include "export.h"
#include "ml-buf.h"
#include "ml-layout.h"
#include "run.h"
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

static void test_run_dir_explicit_id_is_exclusive(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *results = ml_path_join(tmp, "results");
	char *id = NULL, *dir = NULL;
	(void)state;

	assert_int_equal(ml_run_dir_create(results, "nightly", &id, &dir), 0);
	assert_string_equal(id, "nightly");
	assert_true(ml_is_dir(dir));
	free(id);
	free(dir);
	assert_int_equal(ml_run_dir_create(results, "nightly", &id, &dir), -1);
	assert_null(id);
	assert_null(dir);
	assert_non_null(strstr(ml_error_message(), "run ID nightly already exists in"));
	assert_non_null(strstr(ml_error_message(), "--resume nightly"));
	ml_error_reset();
	ml_test_rmtree(tmp);
}

static void test_run_dir_generated_ids_never_collide(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	char *ids[1000];
	(void)state;

	/* 1000 in well under a second: the 16-bit suffix repeats, and must be
	 * drawn again rather than share a directory. */
	for (int i = 0; i < 1000; i++) {
		char *dir = NULL;
		assert_int_equal(ml_run_dir_create(tmp, NULL, &ids[i], &dir), 0);
		free(dir);
	}
	for (int i = 0; i < 1000; i++)
		for (int j = i + 1; j < 1000; j++)
			assert_string_not_equal(ids[i], ids[j]);
	for (int i = 0; i < 1000; i++)
		free(ids[i]);
	ml_test_rmtree(tmp);
}

/* A source run with one cell whose directory is dir_name and whose
 * cell.json says cell_id. */
static char *make_source_run(const char *results, const char *run, const char *dir_name,
			     const char *cell_id)
{
	char *rdir = ml_path_join(results, run);
	ml_autofree char *cdir = ml_layout_cell_dir(rdir, dir_name);
	ml_autofree char *rjson = ml_path_join(rdir, ML_LAYOUT_RUN_FILE);
	ml_autofree char *cjson = ml_path_join(cdir, ML_LAYOUT_CELL_FILE);
	ml_autofree char *run_text = ml_strdup_printf("{\"run_id\": \"%s\", \"matrix\": {\"sha256\": \"ab\"}}", run);
	ml_autofree char *cell_text = ml_strdup_printf("{\"cell_id\": \"%s\", \"state\": \"done\"}", cell_id);

	assert_int_equal(ml_mkdir_p(cdir, 0755), 0);
	assert_int_equal(ml_write_atomic(rjson, run_text, strlen(run_text), 0644), 0);
	assert_int_equal(ml_write_atomic(cjson, cell_text, strlen(cell_text), 0644), 0);
	return rdir;
}

static void test_merge_refuses_crafted_cell_id(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *results = ml_path_join(tmp, "results");
	ml_autofree char *good = make_source_run(results, "good", "c1", "c1");
	ml_autofree char *evil = make_source_run(results, "evil", "c2", "../../../escaped");
	ml_autofree char *liar = make_source_run(results, "liar", "c3", "c4");
	ml_autofree char *merged = ml_path_join(results, "merged");
	ml_autofree char *escaped = ml_path_join(tmp, "escaped");
	struct ml_config cfg = { .results_dir = results };
	const char *with_evil[] = { good, evil };
	const char *with_liar[] = { good, liar };
	json_t *cells = NULL;
	(void)state;

	assert_int_equal(ml_run_merge(&cfg, with_evil, 2, "merged"), 2);
	assert_false(ml_path_exists(merged));
	assert_false(ml_path_exists(escaped));
	assert_int_equal(ml_run_merge(&cfg, with_liar, 2, "merged"), 2);
	assert_false(ml_path_exists(merged));

	/* The error names the file and the id. */
	assert_int_equal(ml_run_load_cells_checked(evil, &cells), -1);
	assert_null(cells);
	assert_non_null(strstr(ml_error_message(), "evil/cells/c2/cell.json"));
	assert_non_null(strstr(ml_error_message(), "'../../../escaped' is not a valid cell id"));
	assert_int_equal(ml_run_load_cells_checked(liar, &cells), -1);
	assert_non_null(strstr(ml_error_message(), "cell_id 'c4' is not its directory's name 'c3'"));
	ml_error_reset();
	/* Readers skip such a cell. */
	cells = ml_run_load_cells(evil);
	assert_int_equal(json_array_size(cells), 0);
	json_decref(cells);
	assert_int_equal(ml_run_load_cells_checked(good, &cells), 0);
	assert_int_equal(json_array_size(cells), 1);
	json_decref(cells);
	ml_test_rmtree(tmp);
}

static void test_merge_does_not_follow_symlinks(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *results = ml_path_join(tmp, "results");
	ml_autofree char *secret = ml_path_join(tmp, "secret");
	ml_autofree char *a = make_source_run(results, "a", "c1", "c1");
	ml_autofree char *b = make_source_run(results, "b", "c2", "c2");
	ml_autofree char *link = ml_strdup_printf("%s/cells/c1/stolen", a);
	ml_autofree char *fifo = ml_strdup_printf("%s/cells/c2/fifo", b);
	ml_autofree char *copied = ml_path_join(results, "m/cells/c1/cell.json");
	ml_autofree char *copied2 = ml_path_join(results, "m/cells/c2/cell.json");
	ml_autofree char *stolen = ml_path_join(results, "m/cells/c1/stolen");
	ml_autofree char *fifo_copy = ml_path_join(results, "m/cells/c2/fifo");
	ml_autofree char *tool = ml_strdup_printf("%s/cells/c1/tool", a);
	ml_autofree char *tool_copy = ml_path_join(results, "m/cells/c1/tool");
	struct ml_config cfg = { .results_dir = results };
	const char *runs[] = { a, b };
	struct stat st;
	(void)state;

	assert_int_equal(ml_write_atomic(secret, "secret", 6, 0600), 0);
	assert_int_equal(ml_write_atomic(tool, "#!/bin/sh\n", 10, 0755), 0);
	assert_int_equal(chmod(tool, 04755), 0);
	assert_int_equal(symlink(secret, link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* The judging that follows may fail on these minimal cells; the copy
	 * is what is checked. */
	ml_run_merge(&cfg, runs, 2, "m");
	ml_error_reset();
	assert_true(ml_path_exists(copied));
	assert_true(ml_path_exists(copied2));
	assert_int_equal(lstat(stolen, &st), -1);
	assert_int_equal(lstat(fifo_copy, &st), -1);
	/* Copied as root, a set-uid file would be a set-uid root program. */
	assert_int_equal(lstat(tool_copy, &st), 0);
	assert_int_equal(st.st_mode & 06000, 0);
	assert_int_equal(st.st_mode & 0700, 0700);
	ml_test_rmtree(tmp);
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
		cmocka_unit_test(test_run_dir_explicit_id_is_exclusive),
		cmocka_unit_test(test_run_dir_generated_ids_never_collide),
		cmocka_unit_test(test_merge_refuses_crafted_cell_id),
		cmocka_unit_test(test_merge_does_not_follow_symlinks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
