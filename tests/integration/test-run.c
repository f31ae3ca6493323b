/* Integration tests of `miglab run` / `plan` / `merge` on
 * tests/data/matrix/integration-run.ini (builds whose controls pass here)
 * with real QEMU builds: shards merged equal the plan and run green; an
 * interrupted run resumes without re-running finished cells; a SIGKILLed
 * miglab leaves no QEMU and a resumable run. Needs root and the builds of
 * that matrix fetched (tests/run.sh does it). No test retries anything. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ml-buf.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "ml-common.h"

/* miglab runs with the tests' environment (MIGLAB_CACHE_DIR and friends);
 * ml_proc would otherwise give it a minimal one, as it does QEMU. */
extern char **environ;

#define results_dir ml_test_results_dir

/* Run miglab with args; returns its exit code, output in *out (may be NULL). */
static int miglab(const char *const *args, struct ml_buf *out)
{
	const char *argv[32] = { MIGLAB_BIN };
	size_t n = 1;
	struct ml_buf o = ML_BUF_INIT(0), e = ML_BUF_INIT(0);
	struct ml_proc_spec spec = { .stdin_fd = -1, .envp = (const char *const *)environ };
	int status;

	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 3; i++)
		argv[n++] = args[i];
	argv[n++] = "--results-dir";
	argv[n++] = results_dir;
	argv[n] = NULL;
	spec.argv = argv;
	assert_int_equal(ml_proc_run(&spec, 1200000, &o, &e, &status), 0);
	print_message("%s%s", o.data ? o.data : "", e.data ? e.data : "");
	if (out) {
		ml_buf_puts(out, o.data ? o.data : "");
		ml_buf_puts(out, e.data ? e.data : "");
	}
	ml_buf_free(&o);
	ml_buf_free(&e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static json_t *load_run(const char *id);
static json_t *load_cell(const char *run, const char *cell);

static json_t *load_run(const char *id)
{
	ml_autofree char *p = ml_strdup_printf("%s/%s/run.json", results_dir, id);
	return ml_json_load_file(p, 1 << 24);
}

static json_t *load_cell(const char *run, const char *cell)
{
	ml_autofree char *p = ml_strdup_printf("%s/%s/cells/%s/cell.json", results_dir, run, cell);
	return ml_json_load_file(p, 1 << 24);
}

/* Cell ids of `miglab plan --json`, sorted (the plan is sorted by position;
 * the run's cells list by id). */
static json_t *plan_ids(const char *extra)
{
	const char *args[] = { "plan", "--json", MATRIX_RUN, extra, NULL };
	struct ml_buf out = ML_BUF_INIT(0);
	json_t *plan, *ids = json_array();
	size_t i;
	json_t *c;
	const char *start;

	assert_int_equal(miglab(args, &out), 0);
	start = strchr(out.data, '[');
	assert_non_null(start);
	plan = json_loads(start, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(plan);
	json_array_foreach(plan, i, c)
		json_array_append_new(ids, json_string(ml_json_str(c, "cell_id")));
	json_decref(plan);
	ml_buf_free(&out);
	return ids;
}

static bool ids_contain(json_t *ids, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
		if (strcmp(json_string_value(v), id) == 0)
			return true;
	return false;
}

static void test_shards_merge_to_the_plan_and_pass(void **state)
{
	const char *s1[] = { "run", "--run-id", "shard-1", "--shard", "1/2", MATRIX_RUN, NULL };
	const char *s2[] = { "run", "--run-id", "shard-2", "--shard", "2/2", MATRIX_RUN, NULL };
	const char *merge[] = { "merge", "--run-id", "merged", "shard-1", "shard-2", NULL };
	json_t *ids = plan_ids(NULL);
	json_t *run, *cells;
	size_t i;
	json_t *c;
	int rc;
	(void)state;

	assert_true(json_array_size(ids) >= 4);
	rc = miglab(s1, NULL);
	assert_int_equal(rc, 0);
	rc = miglab(s2, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(miglab(merge, NULL), 0);
	run = load_run("merged");
	assert_non_null(run);
	cells = json_object_get(run, "cells");
	/* Every planned cell exactly once, and nothing else. */
	assert_int_equal(json_array_size(cells), json_array_size(ids));
	json_array_foreach(cells, i, c) {
		assert_true(ids_contain(ids, ml_json_str(c, "cell_id")));
		assert_string_equal(ml_json_str(c, "verdict"), "pass");
		assert_string_equal(ml_json_str(c, "category"), "pass");
	}
	assert_int_equal(ml_json_int(json_object_get(run, "counts"), "pass", 0),
			 (long long)json_array_size(ids));
	/* The judging stage's part of run.json, and the run's facts kept. */
	assert_int_equal(ml_json_int(json_object_get(run, "judgements"), "pass", 0),
			 (long long)json_array_size(ids));
	assert_int_equal(json_array_size(json_object_get(run, "unsound_builds")), 0);
	/* The two builds' fresh boots of pc-q35-7.2 differ only as the kinds
	 * table says: the virtqueue sizes (an error: a machine-type ABI break,
	 * reported once) and, when the Debian SeaBIOS packages differ, the
	 * firmware's version string and table placement (information). */
	{
		json_t *entries = json_object_get(run, "machine_abi"), *e = json_array_get(entries, 0);
		json_t *kinds = json_object_get(e, "kinds"), *v;
		const char *k;
		assert_int_equal(json_array_size(entries), 1);
		assert_string_equal(ml_json_str(e, "machine"), "pc-q35-7.2");
		assert_string_equal(ml_json_str(e, "verdict"), "break");
		assert_string_equal(ml_json_str(json_object_get(kinds, "virtio-queue"), "severity"), "error");
		json_object_foreach(kinds, k, v) {
			print_message("machine-type ABI: %s %s %lld\n", k, ml_json_str(v, "severity"),
				      ml_json_int(v, "count", 0));
			if (strcmp(k, "virtio-queue") != 0) {
				assert_true(!strcmp(k, "firmware-version") || !strcmp(k, "firmware-layout") ||
					    !strcmp(k, "checksum"));
				assert_string_equal(ml_json_str(v, "severity"), "info");
			}
		}
		assert_int_equal(json_array_size(json_object_get(e, "cells")), 2);
	}
	assert_non_null(ml_json_str(json_object_get(run, "host"), "cpu_vendor"));
	assert_non_null(json_object_get(run, "merged_from"));
	/* CI consumers: JUnit and TAP beside run.json. */
	{
		ml_autofree char *junit = ml_strdup_printf("%s/merged/junit.xml", results_dir);
		ml_autofree char *tap = ml_strdup_printf("%s/merged/results.tap", results_dir);
		char *text = NULL;
		assert_int_equal(ml_read_file(junit, 1 << 20, &text, NULL), 0);
		assert_non_null(strstr(text, "failures=\"0\""));
		free(text);
		assert_int_equal(ml_read_file(tap, 1 << 20, &text, NULL), 0);
		assert_non_null(strstr(text, "TAP version 13"));
		assert_null(strstr(text, "not ok"));
		free(text);
	}
	json_decref(run);
	json_decref(ids);
}

/* Wait until n cells of a run have a finished cell.json. */
static void wait_done_cells(const char *run, size_t n, pid_t pid)
{
	for (int t = 0; t < 3000; t++) {
		ml_autofree char *dir = ml_strdup_printf("%s/%s/cells", results_dir, run);
		DIR *d = opendir(dir);
		struct dirent *e;
		size_t done = 0;
		while (d && (e = readdir(d))) {
			json_t *c;
			if (e->d_name[0] == '.')
				continue;
			c = load_cell(run, e->d_name);
			if (c && strcmp(ml_json_str(c, "state"), "done") == 0)
				done++;
			json_decref(c);
		}
		if (d)
			closedir(d);
		if (done >= n)
			return;
		assert_false(ml_proc_exited(pid, NULL));
		usleep(100 * 1000);
	}
	fail_msg("cells did not finish");
}

/* QEMU processes that are descendants of pid (at any depth). */
static size_t qemu_descendants(pid_t root, pid_t *out, size_t max)
{
	return ml_test_descendants_named(root, "qemu|miglab:", out, max);
}

static void test_interrupt_then_resume(void **state)
{
	const char *argv[] = { MIGLAB_BIN, "run", "--results-dir", results_dir, "--run-id", "resumable",
			       "--jobs", "1", "--grace", "0", MATRIX_RUN, NULL };
	const char *resume[] = { "run", "--resume", "resumable", NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .envp = (const char *const *)environ, .stdout_fd = -1, .stderr_fd = 2 };
	json_t *ids = plan_ids(NULL);
	json_t *first_done = NULL, *again, *run;
	const char *first_id = NULL;
	pid_t pid, qemus[16];
	size_t nq, i;
	json_t *c;
	int status, rc;
	(void)state;

	assert_int_equal(ml_proc_spawn(&spec, &pid), 0);
	wait_done_cells("resumable", 1, pid);
	/* Interrupt while the second cell runs. */
	for (int t = 0; t < 300 && (nq = qemu_descendants(pid, qemus, 16)) == 0; t++)
		usleep(100 * 1000);
	assert_true(nq > 0);
	assert_int_equal(kill(pid, SIGINT), 0);
	assert_int_equal(ml_proc_wait(pid, 60000, &status), 0);
	assert_int_equal(WEXITSTATUS(status), 128 + SIGINT);
	for (i = 0; i < nq; i++)
		assert_false(ml_test_pid_wait_dead(qemus[i], 5000));
	run = load_run("resumable");
	assert_string_equal(ml_json_str(run, "state"), "interrupted");
	json_decref(run);
	/* With --grace 0 the running cell was stopped and says so. */
	{
		size_t interrupted = 0;
		json_array_foreach(ids, i, c) {
			json_t *cell = load_cell("resumable", json_string_value(c));
			if (cell && strcmp(ml_json_str(cell, "verdict"), "error") == 0 &&
			    strstr(ml_json_str(cell, "reason"), "interrupted"))
				interrupted++;
			json_decref(cell);
		}
		assert_int_equal(interrupted, 1);
	}

	/* Remember the finished cell: resume must not run it again. */
	json_array_foreach(ids, i, c) {
		json_t *cell = load_cell("resumable", json_string_value(c));
		if (cell && strcmp(ml_json_str(cell, "state"), "done") == 0 &&
		    strcmp(ml_json_str(cell, "verdict"), "pass") == 0 && !first_done) {
			first_done = cell;
			first_id = json_string_value(c);
			continue;
		}
		json_decref(cell);
	}
	assert_non_null(first_done);

	rc = miglab(resume, NULL);
	assert_int_equal(rc, 0);
	again = load_cell("resumable", first_id);
	assert_string_equal(ml_json_str(again, "started_at"), ml_json_str(first_done, "started_at"));
	json_decref(again);
	json_decref(first_done);
	run = load_run("resumable");
	assert_string_equal(ml_json_str(run, "state"), "done");
	assert_int_equal(ml_json_int(json_object_get(run, "counts"), "pass", 0),
			 (long long)json_array_size(ids));
	json_decref(run);
	json_decref(ids);
}

static void test_sigkill_leaves_no_qemu_and_a_resumable_run(void **state)
{
	const char *argv[] = { MIGLAB_BIN, "run", "--results-dir", results_dir, "--run-id", "killed",
			       "--jobs", "2", MATRIX_RUN, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .envp = (const char *const *)environ, .stdout_fd = -1, .stderr_fd = 2 };
	pid_t pid, qemus[16];
	size_t nq = 0;
	json_t *run;
	int status;
	(void)state;

	assert_int_equal(ml_proc_spawn(&spec, &pid), 0);
	for (int t = 0; t < 600 && (nq = qemu_descendants(pid, qemus, 16)) < 2; t++)
		usleep(100 * 1000);
	assert_true(nq >= 1);
	usleep(1000 * 1000);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(ml_proc_wait(pid, 10000, &status), 0);
	for (size_t i = 0; i < nq; i++)
		assert_false(ml_test_pid_wait_dead(qemus[i], 5000));
	/* The run left its plan behind: resumable. */
	run = load_run("killed");
	assert_non_null(run);
	assert_string_equal(ml_json_str(run, "state"), "running");
	json_decref(run);
	{
		ml_autofree char *m = ml_strdup_printf("%s/killed/matrix.ini", results_dir);
		assert_true(ml_path_exists(m));
	}
}

/* Saved guests in a run (docs/saved-state.md): each source build boots once
 * (its control, which runs first, makes the saved guest), its other cell
 * restores it, and the run removes them when its cells are done. Two jobs: the
 * scheduler never starts a cell whose guest the other job is making. */
static void test_saved_guests_are_made_once_and_removed(void **state)
{
	const char *args[] = { "run", "--run-id", "saved", "--jobs", "2", MATRIX_RUN, NULL };
	ml_autofree char *saved = ml_strdup_printf("%s/saved/saved", results_dir);
	json_t *run, *cells, *c;
	size_t i, made = 0, restored = 0;
	(void)state;

	assert_int_equal(miglab(args, NULL), 0);
	run = load_run("saved");
	assert_non_null(run);
	cells = json_object_get(run, "cells");
	assert_int_equal(json_array_size(cells), 4);
	json_array_foreach(cells, i, c) {
		json_t *cell = load_cell("saved", ml_json_str(c, "cell_id"));
		json_t *ss = json_object_get(cell, "saved_state");
		assert_non_null(ss);
		assert_string_equal(ml_json_str(cell, "verdict"), "pass");
		if (ml_json_bool(ss, "made_here", false)) {
			/* the control makes it: it runs first */
			assert_true(ml_json_bool(cell, "control", false));
			made++;
		} else {
			const char *maker = ml_json_str(json_object_get(ss, "made_by"), "cell");
			json_t *m = load_cell("saved", maker);
			assert_non_null(m);
			assert_true(ml_json_bool(m, "control", false));
			assert_string_equal(ml_json_str(json_object_get(m, "saved_state"), "key"),
					    ml_json_str(ss, "key"));
			json_decref(m);
			restored++;
		}
		json_decref(cell);
	}
	assert_int_equal(made, 2);
	assert_int_equal(restored, 2);
	assert_false(ml_path_exists(saved));
	json_decref(run);
}

static void test_bad_matrix_is_named(void **state)
{
	ml_autofree char *bad = ml_path_join(results_dir, "bad.ini");
	const char *args[] = { "run", bad, NULL };
	const char *noarg[] = { "run", "/nonexistent/matrix.ini", NULL };
	struct ml_buf out = ML_BUF_INIT(0);
	const char text[] = "[matrix]\nname = bad\n[build a]\nprovider = debian:bookworm\n"
			    "[kernel k]\nprovider = debian:bookworm\n[machines q35]\nselect = newest\n";
	(void)state;

	assert_int_equal(ml_write_atomic(bad, text, sizeof(text) - 1, 0644), 0);
	assert_int_equal(miglab(args, &out), 2);
	assert_non_null(strstr(out.data, "bad.ini:8:"));
	ml_buf_reset(&out);
	assert_int_equal(miglab(noarg, &out), 2);
	assert_non_null(strstr(out.data, "/nonexistent/matrix.ini"));
	ml_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_matrix_is_named),
		cmocka_unit_test(test_saved_guests_are_made_once_and_removed),
		cmocka_unit_test(test_shards_merge_to_the_plan_and_pass),
		cmocka_unit_test(test_interrupt_then_resume),
		cmocka_unit_test(test_sigkill_leaves_no_qemu_and_a_resumable_run),
	};
	if (geteuid() != 0) {
		print_message("integration tests need root (chroot in a mount namespace)\n");
		return 77;
	}
	/* MIGLAB_TEST_FILTER=test_sigint* runs the matching tests only. */
	if (getenv("MIGLAB_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MIGLAB_TEST_FILTER"));
	return cmocka_run_group_tests(tests, ml_test_results_setup, ml_test_results_teardown);
}
