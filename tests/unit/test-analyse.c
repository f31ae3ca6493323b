/* `miglab analyse` on recorded runs (tests/data/judge/): it judges copies of
 * them without QEMU or root, compares two runs' hosts and judgements, and
 * names what is wrong with a directory that is not a run. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "ml-buf.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "ml-common.h"

extern char **environ;

/* Run miglab with args; its exit status, stdout+stderr in out. */
static int miglab(const char *const *args, struct ml_buf *out)
{
	const char *argv[16] = { MIGLAB_BIN };
	size_t n = 1;
	struct ml_buf err = ML_BUF_INIT(0);
	struct ml_proc_spec spec = { .stdin_fd = -1, .envp = (const char *const *)environ };
	int status;

	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	spec.argv = argv;
	assert_int_equal(ml_proc_run(&spec, 120000, out, &err, &status), 0);
	ml_buf_puts(out, err.data ? err.data : "");
	ml_buf_free(&err);
	print_message("%s", out->data ? out->data : "");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *copy_fixture(const char *tmp, const char *name)
{
	ml_autofree char *rel = ml_strdup_printf("judge/%s", name);
	char *dst = ml_path_join(tmp, name);
	const char *argv[] = { "/bin/cp", "-a", ml_test_data(rel), dst, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	int status;

	assert_int_equal(ml_proc_run(&spec, 60000, NULL, NULL, &status), 0);
	assert_int_equal(status, 0);
	return dst;
}

/* Two runs made on two hosts: what differs in the hosts, which judgements differ. */
static void test_two_runs_two_hosts(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *a = copy_fixture(tmp, "quick-7.2-intermittent");
	ml_autofree char *b = copy_fixture(tmp, "unsound-72");
	ml_autofree char *rb = ml_path_join(b, ML_LAYOUT_RUN_FILE);
	const char *args[] = { "analyse", "--no-report", "--results-dir", tmp, a, b, NULL };
	struct ml_buf out = ML_BUF_INIT(0);
	json_t *run;
	(void)state;

	/* The second host: another microcode and kernel, one CPU flag less. */
	run = ml_json_load_file(rb, 1 << 24);
	assert_non_null(run);
	ml_json_set_str(json_object_get(run, "host"), "cpu_microcode", "0xa0011d5");
	ml_json_set_str(json_object_get(run, "host"), "kernel", "6.12.0-test");
	{
		json_t *flags = json_object_get(json_object_get(run, "host"), "cpu_flags");
		assert_true(json_array_size(flags) > 1);
		json_array_remove(flags, 0);
	}
	assert_int_equal(ml_json_write_file(rb, run), 0);
	json_decref(run);

	/* Both runs have a failing cell: exit 1. */
	assert_int_equal(miglab(args, &out), 1);
	assert_non_null(strstr(out.data, "QEMU 7.2.22 (debian:bookworm) fails migrating to itself here: 2 of 3"));
	assert_non_null(strstr(out.data, "QEMU 7.2.22 (debian:bookworm) fails migrating to itself here: 3 of 4"));
	assert_non_null(strstr(out.data, "hosts:"));
	assert_non_null(strstr(out.data, "cpu_microcode"));
	assert_non_null(strstr(out.data, "6.12.0-test"));
	assert_non_null(strstr(out.data, "CPU flags only on the first host:"));
	/* The control of pc-q35-7.2 is in both: intermittent here, deterministic there. */
	assert_non_null(strstr(out.data, "judgements that differ:"));
	assert_non_null(strstr(out.data, "intermittent         -> fail"));
	assert_non_null(strstr(out.data, "1 of 1 cells in both runs are judged differently"));
	/* Judged: cell.json and run.json's judgements written. */
	run = ml_json_load_file(rb, 1 << 24);
	assert_int_equal(ml_json_int(json_object_get(run, "judgements"), "source-unsound", 0), 1);
	json_decref(run);
	ml_buf_free(&out);
	ml_test_rmtree(tmp);
}

/* Bad input: not a run, or a run with a damaged cell. */
static void test_bad_input_is_named(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *notrun = ml_path_join(tmp, "not-a-run");
	ml_autofree char *a = copy_fixture(tmp, "cpu-model-lost");
	ml_autofree char *broken = NULL;
	const char *args1[] = { "analyse", "--no-report", "--results-dir", tmp, notrun, NULL };
	const char *args2[] = { "analyse", "--no-report", "--results-dir", tmp, a, NULL };
	struct ml_buf out = ML_BUF_INIT(0);
	(void)state;

	assert_int_equal(ml_mkdir_p(notrun, 0755), 0);
	assert_int_equal(miglab(args1, &out), 2);
	assert_non_null(strstr(out.data, "not-a-run is not a run directory (no cells/)"));
	ml_buf_reset(&out);

	broken = ml_path_join(a, "cells/damaged-cell/attempts/1");
	assert_int_equal(ml_mkdir_p(broken, 0755), 0);
	assert_int_equal(miglab(args2, &out), 2);
	assert_non_null(strstr(out.data, "damaged-cell"));
	assert_non_null(strstr(out.data, "attempt.json"));
	/* The other cell is still judged. */
	assert_non_null(strstr(out.data, "bookworm-backports-to-bookworm-backports-pc-q35-10.0-k-bookworm-5f9cbb26"));
	ml_buf_free(&out);
	ml_test_rmtree(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_runs_two_hosts),
		cmocka_unit_test(test_bad_input_is_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
