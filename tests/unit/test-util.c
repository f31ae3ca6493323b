/* Unit tests of the base library: capped buffers, atomic files, error
 * context, process supervision. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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

static void test_proc_timeout_kills_group(void **state)
{
	/* The child starts a grandchild; a timeout must kill both. */
	const char *argv[] = { "/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	struct ml_buf out = ML_BUF_INIT(0);
	int status;
	long long t0 = ml_now_ms();
	(void)state;

	assert_int_equal(ml_proc_run(&spec, 500, &out, NULL, &status), -1);
	assert_true(ml_now_ms() - t0 < 5000);
	assert_non_null(strstr(ml_error_message(), "killed"));
	assert_true(out.len > 0);
	assert_false(ml_test_pid_wait_dead(atoi(out.data), 2000));
	ml_buf_free(&out);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_utf8_text_in_json),
		cmocka_unit_test(test_qemu_opt_value_commas),
		cmocka_unit_test(test_error_context),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_proc_run_and_status),
		cmocka_unit_test(test_proc_exec_failure_named),
		cmocka_unit_test(test_proc_timeout_kills_group),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
