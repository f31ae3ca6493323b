/* Unit tests of the base library: capped buffers, atomic files, error
 * context, process supervision. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "ml-common.h"

static void test_buf_limit(void **state)
{
	struct ml_buf b = ML_BUF_INIT(10);
	(void)state;
	assert_int_equal(ml_buf_puts(&b, "hello"), 0);
	assert_int_equal(ml_buf_puts(&b, "world"), 0);
	assert_string_equal(b.data, "helloworld");
	assert_int_equal(ml_buf_puts(&b, "!"), -1);
	assert_non_null(strstr(ml_error_message(), "limit of 10 bytes"));
	assert_int_equal(b.len, 10);
	ml_buf_consume(&b, 5);
	assert_string_equal(b.data, "world");
	assert_int_equal(ml_buf_printf(&b, "%d", 12345), 0);
	assert_string_equal(b.data, "world12345");
	ml_buf_free(&b);
}

static void test_error_context(void **state)
{
	(void)state;
	ml_error_reset();
	assert_string_equal(ml_error_message(), "unknown error");
	ml_error_errno(ENOENT, "cannot open %s", "x.ini");
	assert_int_equal(ml_error_context("loading matrix"), -1);
	assert_string_equal(ml_error_message(),
			    "loading matrix: cannot open x.ini: No such file or directory");
	assert_non_null(strstr(ml_error_origin(), "test-util.c"));
}

static void test_atomic_write(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(dir, "a/b/file.json");
	ml_autofree char *sub = ml_path_join(dir, "a/b");
	char *data = NULL;
	size_t len;
	json_t *v;
	(void)state;

	assert_int_equal(ml_mkdir_p(sub, 0755), 0);
	v = json_pack("{s:i, s:s}", "n", 3, "s", "<x>");
	assert_int_equal(ml_json_write_file(path, v), 0);
	json_decref(v);
	assert_int_equal(ml_read_file(path, 1 << 20, &data, &len), 0);
	assert_non_null(strstr(data, "\"n\": 3"));
	free(data);
	/* Over the cap: an error naming the limit, not a truncated read. */
	assert_int_equal(ml_read_file(path, 4, &data, &len), -1);
	assert_non_null(strstr(ml_error_message(), "larger than the limit"));
	/* No temporary files left beside it. */
	{
		ml_autofree char *tmpglob = ml_path_join(sub, "file.json.tmp.XXXXXX");
		assert_false(ml_path_exists(tmpglob));
	}
	v = ml_json_load_file(path, 1 << 20);
	assert_non_null(v);
	assert_int_equal(ml_json_int(v, "n", -1), 3);
	json_decref(v);
	assert_int_equal(ml_write_atomic(path, "{", 1, 0644), 0);
	assert_null(ml_json_load_file(path, 1 << 20));
	assert_non_null(strstr(ml_error_message(), "invalid JSON"));
	ml_test_rmtree(dir);
}

static void test_proc_run_and_status(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	struct ml_buf out = ML_BUF_INIT(0), err = ML_BUF_INIT(0);
	char desc[128];
	int status = 0;
	(void)state;

	assert_int_equal(ml_proc_run(&spec, 10000, &out, &err, &status), 0);
	assert_string_equal(out.data, "out\n");
	assert_string_equal(err.data, "err\n");
	ml_proc_status_str(status, desc, sizeof(desc));
	assert_string_equal(desc, "exited with status 3");
	ml_buf_free(&out);
	ml_buf_free(&err);
}

static void test_proc_exec_failure_named(void **state)
{
	const char *argv[] = { "/nonexistent/qemu-system-x86_64", NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	pid_t pid;
	(void)state;

	assert_int_equal(ml_proc_spawn(&spec, &pid), -1);
	assert_non_null(strstr(ml_error_message(), "/nonexistent/qemu-system-x86_64"));
	assert_non_null(strstr(ml_error_message(), "No such file"));
}

/* A marker no other process has: "sleep 3600.<pid><n>" */
static const char *sleep_marker(void)
{
	static char m[64];
	static int n;
	snprintf(m, sizeof(m), "3600.%d%d", (int)getpid(), ++n);
	return m;
}

static void test_proc_timeout_kills_group(void **state)
{
	/* The child starts a grandchild; a timeout must kill both. */
	const char *marker = sleep_marker();
	ml_autofree char *script = ml_strdup_printf("sleep %s & echo $!; wait", marker);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	struct ml_buf out = ML_BUF_INIT(0);
	int status;
	long long t0 = ml_now_ms();
	(void)state;

	assert_int_equal(ml_proc_run(&spec, 500, &out, NULL, &status), -1);
	assert_true(ml_now_ms() - t0 < 5000);
	assert_non_null(strstr(ml_error_message(), "killed"));
	assert_true(out.len > 0);
	assert_int_equal(ml_test_procs_wait_gone(marker, 2000), 0);
	ml_buf_free(&out);
}

/* Item 8 of the hardening issue: every descendant of a child dies with the
 * miglab process that started it, even a SIGKILLed one, even descendants
 * that left their own process group and were orphaned (as apt's and dpkg's
 * are under mmdebstrap). Needs root (a PID namespace). */
static void test_proc_descendants_die_with_miglab(void **state)
{
	const char *marker = sleep_marker();
	/* A daemonizing grandchild: its own session, its parent gone. */
	ml_autofree char *script = ml_strdup_printf(
		"setsid sh -c 'sleep %s & sleep %s' & sleep %s & wait", marker, marker, marker);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	pid_t fake_miglab;
	int st;
	(void)state;

	if (geteuid() != 0)
		skip();
	fake_miglab = fork();
	assert_true(fake_miglab >= 0);
	if (fake_miglab == 0) {
		pid_t pid;
		if (ml_proc_spawn(&spec, &pid) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	for (int waited = 0; waited < 5000 && ml_test_procs_with_arg(marker) < 3; waited += 10)
		usleep(10000);
	assert_int_equal(ml_test_procs_with_arg(marker), 3);
	kill(fake_miglab, SIGKILL);
	assert_int_equal(waitpid(fake_miglab, &st, 0), fake_miglab);
	assert_int_equal(ml_test_procs_wait_gone(marker, 3000), 0);
}

/* A child's exit status comes through the supervisor unchanged: an exit
 * code, or the signal that killed it (a crashing QEMU is named by it). */
static void test_proc_status_passes_through(void **state)
{
	const char *crash[] = { "/bin/sh", "-c", "kill -SEGV $$", NULL };
	const char *code[] = { "/bin/sh", "-c", "exit 42", NULL };
	struct ml_proc_spec spec = { .argv = crash, .stdin_fd = -1 };
	int status;
	(void)state;

	assert_int_equal(ml_proc_run(&spec, 10000, NULL, NULL, &status), 0);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	spec.argv = code;
	assert_int_equal(ml_proc_run(&spec, 10000, NULL, NULL, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
}

/* SIGTERM to the child miglab started reaches the program (QEMU stops
 * cleanly on it), not only the supervisor. */
static void test_proc_sigterm_reaches_program(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done", NULL };
	int opipe[2];
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	char buf[16];
	pid_t pid;
	int status;
	(void)state;

	assert_int_equal(pipe(opipe), 0);
	spec.stdout_fd = opipe[1];
	assert_int_equal(ml_proc_spawn(&spec, &pid), 0);
	close(opipe[1]);
	assert_true(read(opipe[0], buf, sizeof(buf)) > 0);
	close(opipe[0]);
	kill(pid, SIGTERM);
	assert_int_equal(ml_proc_wait(pid, 10000, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
}

/* A tool fed guest bytes runs with limits: a file larger than fsize_bytes is
 * cut and the writer stopped (SIGXFSZ), CPU time past cpu_s stops it. */
static void test_proc_limits(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *f = ml_path_join(tmp, "big");
	ml_autofree char *cmd = ml_strdup_printf("head -c 1000000 /dev/zero > %s", f);
	const char *write_argv[] = { "/bin/sh", "-c", cmd, NULL };
	const char *spin_argv[] = { "/bin/sh", "-c", "while :; do :; done", NULL };
	struct ml_proc_spec spec = { .argv = write_argv, .stdin_fd = -1, .limits = { .fsize_bytes = 4096 } };
	struct stat st;
	int status;
	(void)state;

	assert_int_equal(ml_proc_run(&spec, 60000, NULL, NULL, &status), 0);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(stat(f, &st), 0);
	assert_true(st.st_size <= 4096);
	spec.argv = spin_argv;
	spec.limits = (struct ml_proc_limits){ .cpu_s = 1 };
	assert_int_equal(ml_proc_run(&spec, 60000, NULL, NULL, &status), 0);
	assert_true(WIFSIGNALED(status));
	assert_true(WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL);
	ml_test_rmtree(tmp);
}

/* The cache's locks: shared users together, an exclusive waiter waits for
 * them, gives up at its timeout or on ^C, with the cause named. */
static void test_flock_wait(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(tmp, "root.lock");
	int a = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), b = open(path, O_RDWR | O_CLOEXEC);
	long long t0;
	(void)state;

	assert_true(a >= 0 && b >= 0);
	assert_int_equal(ml_flock_wait(a, LOCK_SH, "the root", 1000), 0);
	assert_int_equal(ml_flock_wait(b, LOCK_SH, "the root", 1000), 0);
	flock(b, LOCK_UN);
	t0 = ml_now_ms();
	assert_int_equal(ml_flock_wait(b, LOCK_EX, "the root", 300), -1);
	assert_true(ml_now_ms() - t0 < 10000);
	assert_non_null(strstr(ml_error_message(), "the root stayed locked by another miglab process"));
	ml_error_reset();
	ml_interrupted = SIGINT;
	assert_int_equal(ml_flock_wait(b, LOCK_EX, "the root", -1), -1);
	assert_non_null(strstr(ml_error_message(), "interrupted"));
	ml_interrupted = 0;
	ml_error_reset();
	flock(a, LOCK_UN);
	assert_int_equal(ml_flock_wait(b, LOCK_EX, "the root", 1000), 0);
	close(a);
	close(b);
	ml_test_rmtree(tmp);
}

/* Outside text always fits in JSON: invalid UTF-8 becomes U+FFFD, valid
 * multi-byte characters stay, and setting such text never aborts. */
/* QEMU's reading of "key=value,key=value" (QemuOpts/keyval): ",," is a
 * comma of the value, a single comma ends it. The value of key, or NULL. */
static char *qemu_opt_get(const char *opts, const char *key)
{
	size_t klen = strlen(key);
	const char *p = opts;

	while (*p) {
		const char *eq = strchr(p, '=');
		struct ml_buf v = ML_BUF_INIT(0);
		bool match = eq && (size_t)(eq - p) == klen && strncmp(p, key, klen) == 0;
		for (p = eq ? eq + 1 : p + strlen(p); *p; p++) {
			if (*p == ',' && p[1] == ',') {
				ml_buf_append(&v, ",", 1);
				p++;
			} else if (*p == ',') {
				p++;
				break;
			} else {
				ml_buf_append(&v, p, 1);
			}
		}
		if (match)
			return ml_buf_steal(&v);
		ml_buf_free(&v);
	}
	return NULL;
}

static void test_qemu_opt_value_commas(void **state)
{
	static const char *const paths[] = { "/var/results/run,1/cells/c/qmp.sock", ",", ",,x,", "plain", "" };
	(void)state;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		ml_autofree char *esc = ml_qemu_opt_value(paths[i]);
		ml_autofree char *opts = ml_strdup_printf("socket,id=qmp0,path=%s,server=on,wait=off", esc);
		ml_autofree char *path = qemu_opt_get(opts, "path");
		ml_autofree char *server = qemu_opt_get(opts, "server");
		assert_non_null(path);
		assert_string_equal(path, paths[i]);
		assert_non_null(server);
		assert_string_equal(server, "on");
	}
	{
		ml_autofree char *esc = ml_qemu_opt_value("a,b,,c");
		assert_string_equal(esc, "a,,b,,,,c");
	}
}

static void test_utf8_text_in_json(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain", "plain" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "bad \xff\xfe", "bad \xef\xbf\xbd\xef\xbf\xbd" },
		{ "overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd" },
		{ "surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "too big \xf4\x90\x80\x80", "too big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd" },
	};
	json_t *o = json_object();
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		ml_autofree char *s = ml_utf8_sanitize(cases[i].in);
		assert_string_equal(s, cases[i].out);
		ml_json_set_str(o, "k", cases[i].in);
		assert_string_equal(ml_json_str(o, "k"), cases[i].out);
	}
	json_decref(o);
}

/* Guest text for a terminal or TAP: no escape sequence, no line of its own. */
static void test_text_safe(void **state)
{
	static const struct {
		const char *in;
		bool multiline;
		const char *out;
	} cases[] = {
		{ "plain \xc3\xa9t\xc3\xa9\ttab", false, "plain \xc3\xa9t\xc3\xa9\ttab" },
		{ "red \x1b[31mtext\x1b[0m", false, "red ?[31mtext?[0m" },
		{ "two\nlines\r\n", false, "two?lines??" },
		{ "two\nlines\r\n", true, "two\nlines?\n" },
		{ "ok 1\nnot ok 2 - forged", false, "ok 1?not ok 2 - forged" },
		{ "c1 \xc2\x9b" "31m del \x7f", false, "c1 ?31m del ?" },
		{ "cut \xe2\x82", false, "cut \xef\xbf\xbd\xef\xbf\xbd" },
		{ NULL, false, "" },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		ml_autofree char *s = ml_text_safe(cases[i].in, cases[i].multiline);
		assert_string_equal(s, cases[i].out);
	}
	{
		size_t bad = 99;
		assert_true(ml_utf8_valid("-cpu max,\xc3\xa9", &bad));
		assert_int_equal(bad, 99);
		assert_false(ml_utf8_valid("-cpu \xc3", &bad));
		assert_int_equal(bad, 5);
		assert_false(ml_utf8_valid("\xed\xa0\x80", &bad)); /* a surrogate */
		assert_int_equal(bad, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_utf8_text_in_json),
		cmocka_unit_test(test_text_safe),
		cmocka_unit_test(test_proc_limits),
		cmocka_unit_test(test_flock_wait),
		cmocka_unit_test(test_qemu_opt_value_commas),
		cmocka_unit_test(test_error_context),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_proc_run_and_status),
		cmocka_unit_test(test_proc_exec_failure_named),
		cmocka_unit_test(test_proc_timeout_kills_group),
		cmocka_unit_test(test_proc_descendants_die_with_miglab),
		cmocka_unit_test(test_proc_status_passes_through),
		cmocka_unit_test(test_proc_sigterm_reaches_program),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
