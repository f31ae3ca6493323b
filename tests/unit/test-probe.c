/* The probe agent against the host client: runs the real miglab-probe binary
 * (its test variant, with debug-corrupt) on a unix socket, as QEMU's chardev
 * would be, and talks to it through runners/probe-client. Also checks the
 * page verification on bare buffers, and the client's id matching against a
 * fake agent on a socketpair. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "probe-client.h"
#include "probe.h"
#include "testhelp.h"
#include "ml-common.h"

#define CALL_MS 5000

struct agent {
	char *dir;
	char *sock;
	char *log;
	int listen_fd;
	pid_t pid;
	struct ml_probe *p;
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Accept the agent's (re)connection and open a client on it. */
static void agent_accept(struct agent *a)
{
	struct pollfd pfd = { .fd = a->listen_fd, .events = POLLIN };
	int fd;

	assert_int_equal(poll(&pfd, 1, 5000), 1);
	fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ml_probe_open(fd, "probe", NULL, NULL, &a->p), 0);
}

static struct agent *agent_start(const char *bin, const char *cmdline)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ml_autofree char *cmdfile = NULL;
	int logfd;

	assert_non_null(a);
	a->dir = ml_test_tmpdir();
	a->sock = ml_path_join(a->dir, "probe.sock");
	a->log = ml_path_join(a->dir, "console.log");
	cmdfile = ml_path_join(a->dir, "cmdline");
	assert_int_equal(ml_write_atomic(cmdfile, cmdline, strlen(cmdline), 0644), 0);

	a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(a->listen_fd >= 0);
	memcpy(sa.sun_path, a->sock, strlen(a->sock) + 1);
	assert_int_equal(bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(a->listen_fd, 4), 0);

	logfd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(logfd >= 0);
	{
		const char *argv[] = { bin, "--port", a->sock, "--cmdline", cmdfile, NULL };
		struct ml_proc_spec spec = {
			.argv = argv, .stdin_fd = -1, .stdout_fd = logfd, .stderr_fd = logfd,
		};
		if (ml_proc_spawn(&spec, &a->pid) < 0)
			fail_msg("%s", ml_error_message());
	}
	close(logfd);
	agent_accept(a);
	return a;
}

static void agent_stop(struct agent *a)
{
	int status;

	ml_probe_free(a->p);
	/* The agent must still be alive: it never exits on its own. */
	assert_false(ml_proc_exited(a->pid, &status));
	ml_proc_kill(a->pid);
	close(a->listen_fd);
	ml_test_rmtree(a->dir);
	free(a->dir);
	free(a->sock);
	free(a->log);
	free(a);
}

static json_t *call_ok(struct agent *a, const char *cmd, json_t *args)
{
	json_t *ret = NULL;
	if (ml_probe_call(a->p, cmd, args, CALL_MS, &ret) < 0)
		fail_msg("%s failed: %s", cmd, ml_error_message());
	return ret;
}

static long long jint(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);
	if (path2)
		v = json_object_get(v, path2);
	if (!json_is_integer(v))
		fail_msg("no integer at %s%s%s", path1, path2 ? "." : "", path2 ? path2 : "");
	return json_integer_value(v);
}

static int group_setup(void **state)
{
	*state = agent_start(MIGLAB_PROBE_BIN, "console=ttyS0 miglab.ram_mib=4 quiet\n");
	return 0;
}

static int group_teardown(void **state)
{
	agent_stop(*state);
	return 0;
}

static void test_hello(void **state)
{
	struct agent *a = *state;
	json_auto_t *ret = NULL;
	char boot_id[64] = "";
	struct utsname u;
	json_t *cmds, *name;
	size_t i;
	bool has_verify = false;

	if (ml_probe_hello(a->p, CALL_MS, &ret) < 0)
		fail_msg("%s", ml_error_message());
	assert_string_equal(ml_json_str(ret, "agent"), "miglab-probe");
	assert_int_equal(jint(ret, "protocol", NULL), 1);
	assert_int_equal(uname(&u), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ret, "kernel"), "release")),
			    u.release);
	{
		char *s = NULL;
		size_t len;
		assert_int_equal(ml_read_file("/proc/sys/kernel/random/boot_id", 64, &s, &len), 0);
		snprintf(boot_id, sizeof(boot_id), "%.36s", s);
		free(s);
	}
	assert_string_equal(ml_json_str(ret, "boot_id"), boot_id);
	assert_true(jint(ret, "uptime_ms", NULL) > 0);
	/* miglab.ram_mib=4 from the kernel command line */
	assert_int_equal(jint(ret, "ram_mib_default", NULL), 4);
	assert_int_equal(jint(ret, "limits", "max_request_bytes"), 65536);
	assert_int_equal(jint(ret, "limits", "max_reply_bytes"), 16 << 20);
	assert_true(ml_json_bool(ret, "debug", false));
	cmds = json_object_get(ret, "commands");
	json_array_foreach(cmds, i, name) has_verify |= !strcmp(json_string_value(name), "ram-verify");
	assert_true(has_verify);
}

static void test_heartbeat(void **state)
{
	struct agent *a = *state;
	json_auto_t *s1 = call_ok(a, "status", NULL);
	json_t *s2 = NULL;
	long long c1 = jint(s1, "heartbeat", "count"), c2 = c1, up1, up2;

	/* The heartbeat moves on, and never faster than its interval allows
	 * over the agent's own elapsed time. No figure depends on how busy
	 * the host is: a loaded machine only makes the loop turn longer. */
	sleep_ms(100);
	for (int i = 0; i < 100 && c2 == c1; i++) {
		json_decref(s2);
		sleep_ms(100);
		s2 = call_ok(a, "status", NULL);
		c2 = jint(s2, "heartbeat", "count");
	}
	assert_true(c2 > c1);
	up1 = jint(s1, "uptime_ms", NULL);
	up2 = jint(s2, "uptime_ms", NULL);
	assert_true(up2 >= up1 + 100);
	assert_true(c2 - c1 <= (up2 - up1) / 10 + 2);
	assert_int_equal(jint(s2, "heartbeat", "interval_ms"), 10);
	assert_string_equal(ml_json_str(s1, "boot_id"), ml_json_str(s2, "boot_id"));
	json_decref(s2);
}

/* continuity in the test build: the clocks, read together, advance with
 * the host's; the devices are left alone (the host's are not ours) and say
 * so; bad arguments are refused. */
static void test_continuity(void **state)
{
	struct agent *a = *state;
	json_auto_t *r1 = call_ok(a, "continuity", json_pack("{s:i}", "nonce", 42));
	json_auto_t *r2 = NULL;
	json_t *c1 = json_object_get(r1, "clocks"), *c2;
	long long d_mono;

	assert_int_equal(jint(r1, "nonce", NULL), 42);
	assert_non_null(ml_json_str(r1, "devices_skipped"));
	assert_int_equal(json_object_size(json_object_get(r1, "devices")), 0);
	assert_true(jint(r1, "clocks_age_us", NULL) >= 0);
	assert_true(json_number_value(json_object_get(c1, "tsc_hz")) > 1e8);
	assert_non_null(ml_json_str(json_object_get(c1, "hpet"), "error"));
	sleep_ms(200);
	r2 = call_ok(a, "continuity", NULL);
	c2 = json_object_get(r2, "clocks");
	d_mono = jint(c2, "monotonic_ns", NULL) - jint(c1, "monotonic_ns", NULL);
	assert_true(d_mono >= 200 * 1000000LL);
	assert_true(d_mono < 5000 * 1000000LL);
	/* The other clocks moved with it (they were read within microseconds). */
	assert_true(llabs(jint(c2, "realtime_ns", NULL) - jint(c1, "realtime_ns", NULL) - d_mono) <
		    50 * 1000000LL);
	assert_true(llabs(jint(c2, "boottime_ns", NULL) - jint(c1, "boottime_ns", NULL) - d_mono) <
		    50 * 1000000LL);
	assert_true(jint(c2, "tsc", NULL) > jint(c1, "tsc", NULL));

	assert_int_equal(ml_probe_call(a->p, "continuity", json_pack("{s:i}", "timeout_ms", 5), CALL_MS,
				       NULL), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
	assert_int_equal(ml_probe_call(a->p, "continuity", json_pack("{s:s}", "device", "x"), CALL_MS,
				       NULL), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
}

/* Interrupt counts per device from /proc/interrupts' format: MSI-X lines
 * named "<dev>-<queue>", shared INTx lines listing several devices, and
 * "virtio1" not counting "virtio10". */
static void test_irq_count(void **state)
{
	static const char text[] =
		"            CPU0       CPU1       \n"
		"   0:         41          0   IO-APIC   2-edge      timer\n"
		"   4:         30          2   IO-APIC   4-edge      ttyS0\n"
		"  11:          5          6   IO-APIC  11-fasteoi   virtio0, virtio1\n"
		"  24:          0          0  PCI-MSIX-0000:00:02.0   0-edge      virtio1-config\n"
		"  25:          7          3  PCI-MSIX-0000:00:02.0   1-edge      virtio1-input.0\n"
		"  26:          1          0  PCI-MSIX-0000:00:02.0   2-edge      virtio1-output.0\n"
		"  27:        100          0  PCI-MSIX-0000:00:04.0   1-edge      virtio10-req.0\n"
		" LOC:       1234       1200   Local timer interrupts\n"
		" ERR:          0\n";
	char *dir = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(dir, "interrupts");
	(void)state;

	assert_int_equal(ml_write_atomic(path, text, strlen(text), 0644), 0);
	assert_int_equal(probe_irq_count(path, "virtio1"), 11 + 0 + 10 + 1);
	assert_int_equal(probe_irq_count(path, "virtio0"), 11);
	assert_int_equal(probe_irq_count(path, "virtio10"), 100);
	assert_int_equal(probe_irq_count(path, "ttyS0"), 32);
	assert_int_equal(probe_irq_count(path, "virtio7"), -1);
	ml_test_rmtree(dir);
	free(dir);
}

static void test_ram_start_verify(void **state)
{
	struct agent *a = *state;
	json_auto_t *st = NULL, *again = NULL, *status = NULL, *ver = NULL, *stop = NULL;
	json_t *ret = NULL;

	/* No verify before start. */
	assert_int_equal(ml_probe_call(a->p, "ram-verify", NULL, CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidState");

	st = call_ok(a, "ram-start", NULL);
	assert_true(ml_json_bool(st, "started", false));
	assert_int_equal(jint(st, "pages", NULL), 4 * 256); /* the cmdline's 4 MiB */
	assert_int_equal(jint(st, "rate_pages_per_sec", NULL), PROBE_RAM_RATE_DEFAULT);
	/* A retry (lost reply) is fine; other parameters are not. */
	again = call_ok(a, "ram-start", NULL);
	assert_false(ml_json_bool(again, "started", true));
	assert_int_equal(ml_probe_call(a->p, "ram-start", json_pack("{s:i}", "mib", 8), CALL_MS, &ret),
			 -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidState");

	sleep_ms(200);
	status = call_ok(a, "status", NULL);
	/* The writer runs: ~800 pages written in 200 ms at 4096 pages/s. */
	assert_true(jint(status, "ram", "writes") > 1024 + 100);
	assert_true(ml_json_bool(json_object_get(status, "ram"), "running", false));

	ver = call_ok(a, "ram-verify", NULL);
	assert_true(ml_json_bool(ver, "ok", false));
	assert_int_equal(jint(ver, "pages", NULL), 1024);
	assert_int_equal(jint(ver, "bad_pages", NULL), 0);
	assert_null(json_object_get(ver, "first_bad_page"));

	stop = call_ok(a, "ram-stop", NULL);
	assert_true(ml_json_bool(stop, "stopped", false));
	assert_int_equal(jint(stop, "verifies", NULL), 1);
	json_decref(stop);
	stop = call_ok(a, "ram-stop", NULL);
	assert_false(ml_json_bool(stop, "stopped", true));
}

struct corruption {
	const char *mode;
	unsigned page;
	const char *kind;
};

static void test_ram_corruption(void **state)
{
	static const struct corruption cases[] = {
		{ "stale", 100, "stale" },
		{ "garbage", 0, "garbage" },
		{ "zero", 1023, "zero" },
		{ "wrong-index", 512, "wrong-index" },
		{ "torn", 7, "torn" },
		{ "corrupt-body", 300, "corrupt-body" },
		{ "tracking", 42, "tracking" },
	};
	struct agent *a = *state;

	for (size_t c = 0; c < ML_ARRAY_SIZE(cases); c++) {
		json_auto_t *st = call_ok(a, "ram-start", json_pack("{s:i, s:i}", "mib", 4,
								    "pages_per_sec", 0));
		json_auto_t *dc = NULL, *ver = NULL, *stop = NULL;
		json_t *expected, *found;

		print_message("corrupting page %u: %s\n", cases[c].page, cases[c].mode);
		sleep_ms(20); /* let the writer make a few passes */
		dc = call_ok(a, "debug-corrupt", json_pack("{s:i, s:s}", "page", cases[c].page,
							   "mode", cases[c].mode));
		ver = call_ok(a, "ram-verify", NULL);
		assert_false(ml_json_bool(ver, "ok", true));
		assert_int_equal(jint(ver, "bad_pages", NULL), 1);
		assert_int_equal(jint(ver, "first_bad_page", NULL), cases[c].page);
		assert_string_equal(ml_json_str(ver, "kind"), cases[c].kind);
		assert_int_equal(jint(ver, "counts", cases[c].kind), 1);
		expected = json_object_get(ver, "expected");
		found = json_object_get(ver, "found");
		assert_int_equal(jint(expected, "index", NULL), cases[c].page);
		if (!strcmp(cases[c].kind, "stale") || !strcmp(cases[c].kind, "torn")) {
			/* The previous generation, under an intact header. */
			assert_int_equal(jint(found, "generation", NULL),
					 jint(expected, "generation", NULL) - 1);
			assert_int_equal(jint(found, "index", NULL), cases[c].page);
			assert_int_equal(ml_json_bool(found, "body_ok", false), !strcmp(cases[c].kind, "stale"));
		} else if (!strcmp(cases[c].kind, "wrong-index")) {
			assert_int_equal(jint(found, "index", NULL), cases[c].page + 1);
		} else if (!strcmp(cases[c].kind, "zero") || !strcmp(cases[c].kind, "garbage")) {
			assert_false(ml_json_bool(found, "magic_ok", true));
			assert_null(json_object_get(found, "generation"));
		} else if (!strcmp(cases[c].kind, "tracking")) {
			/* The page is right; the array was bumped past the writer. */
			assert_int_equal(jint(found, "generation", NULL),
					 jint(expected, "generation", NULL));
		}
		/* The verify released the writer: it rewrites the page and the
		 * region is whole again. */
		json_decref(ver);
		sleep_ms(50);
		ver = call_ok(a, "ram-verify", NULL);
		assert_true(ml_json_bool(ver, "ok", false));
		stop = call_ok(a, "ram-stop", NULL);
		assert_true(jint(stop, "passes", NULL) > 0);
	}
}

/* Two damaged pages: the first in page order is reported, both counted. */
static void test_ram_two_bad_pages(void **state)
{
	struct agent *a = *state;
	json_auto_t *st = call_ok(a, "ram-start", json_pack("{s:i, s:i}", "mib", 2,
							    "pages_per_sec", 1000));
	json_auto_t *d1 = call_ok(a, "debug-corrupt", json_pack("{s:i, s:s}", "page", 300, "mode", "garbage"));
	json_auto_t *d2 = call_ok(a, "debug-corrupt", json_pack("{s:i, s:s}", "page", 7, "mode", "stale"));
	json_auto_t *ver = call_ok(a, "ram-verify", NULL);
	json_auto_t *stop = NULL;
	json_t *ret = NULL;

	assert_int_equal(jint(ver, "bad_pages", NULL), 2);
	assert_int_equal(jint(ver, "first_bad_page", NULL), 7);
	assert_string_equal(ml_json_str(ver, "kind"), "stale");
	assert_int_equal(jint(ver, "counts", "garbage"), 1);
	assert_int_equal(jint(ver, "counts", "stale"), 1);
	assert_int_equal(json_array_size(json_object_get(ver, "examples")), 2);
	/* Out of range and unknown modes are refused. */
	assert_int_equal(ml_probe_call(a->p, "debug-corrupt",
				       json_pack("{s:i, s:s}", "page", 512, "mode", "zero"), CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
	assert_int_equal(ml_probe_call(a->p, "debug-corrupt",
				       json_pack("{s:i, s:s}", "page", 1, "mode", "melt"), CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
	stop = call_ok(a, "ram-stop", NULL);
}

/* Send raw bytes; expect one error reply of class cls (id: -1 for null). */
static void expect_error(struct agent *a, const char *raw, size_t len, long long id, const char *cls)
{
	json_auto_t *msg = NULL;
	json_t *err;

	assert_int_equal(ml_probe_send_raw(a->p, raw, len), 0);
	if (ml_probe_recv(a->p, CALL_MS, &msg) != ML_JSONLINE_OK)
		fail_msg("no reply to %.60s: %s", raw, ml_error_message());
	err = json_object_get(msg, "error");
	assert_non_null(err);
	if (strcmp(ml_json_str(err, "class"), cls))
		fail_msg("%.60s: class %s, expected %s", raw, ml_json_str(err, "class"), cls);
	assert_non_null(ml_json_str(err, "desc"));
	if (id < 0)
		assert_true(json_is_null(json_object_get(msg, "id")));
	else
		assert_int_equal(jint(msg, "id", NULL), id);
	assert_null(json_object_get(msg, "return"));
}

#define EXPECT_ERROR(a, s, id, cls) expect_error((a), (s), sizeof(s) - 1, (id), (cls))

static void test_garbage(void **state)
{
	struct agent *a = *state;
	json_auto_t *st1 = call_ok(a, "status", NULL), *st2 = NULL, *hello = NULL;
	char junk[4096];
	uint32_t x = 12345;
	json_t *ret = NULL;

	EXPECT_ERROR(a, "this is not json\n", -1, "ParseError");
	EXPECT_ERROR(a, "{\"id\": 1, \"cmd\": \"hello\"\n", -1, "ParseError");
	EXPECT_ERROR(a, "[1,2,3]\n", -1, "InvalidRequest");
	EXPECT_ERROR(a, "{\"cmd\":\"hello\"}\n", -1, "InvalidRequest");
	EXPECT_ERROR(a, "{\"id\":-4,\"cmd\":\"hello\"}\n", -1, "InvalidRequest");
	EXPECT_ERROR(a, "{\"id\":\"x\",\"cmd\":\"hello\"}\n", -1, "InvalidRequest");
	EXPECT_ERROR(a, "{\"id\":1000,\"cmd\":7}\n", 1000, "InvalidRequest");
	EXPECT_ERROR(a, "{\"id\":1001,\"cmd\":\"status\",\"args\":[1]}\n", 1001, "InvalidRequest");
	EXPECT_ERROR(a, "{\"id\":1002,\"cmd\":\"nope\"}\n", 1002, "CommandNotFound");
	EXPECT_ERROR(a, "{\"id\":1003,\"cmd\":\"ram-start\",\"args\":{\"mib\":\"x\"}}\n", 1003,
		     "InvalidArgument");
	EXPECT_ERROR(a, "{\"id\":1004,\"cmd\":\"ram-start\",\"args\":{\"mib\":0}}\n", 1004,
		     "InvalidArgument");
	EXPECT_ERROR(a, "{\"id\":1005,\"cmd\":\"ram-start\",\"args\":{\"bogus\":1}}\n", 1005,
		     "InvalidArgument");
	EXPECT_ERROR(a, "{\"id\":1006,\"cmd\":\"hello\",\"args\":{\"x\":1}}\n", 1006, "InvalidArgument");
	EXPECT_ERROR(a, "{\"id\":1007,\"id\":1008,\"cmd\":\"hello\"}\n", -1, "ParseError");
	EXPECT_ERROR(a, "{\"id\":1009,\"cmd\":\"ram-start\",\"args\":{\"mib\":1e3}}\n", 1009,
		     "InvalidArgument");
	/* Binary junk (NULs, invalid UTF-8, CRs) on one line. */
	for (size_t i = 0; i < sizeof(junk) - 1; i++) {
		x = x * 1103515245u + 12345u;
		junk[i] = (char)(x >> 16);
		if (junk[i] == '\n')
			junk[i] = 0;
	}
	junk[sizeof(junk) - 1] = '\n';
	expect_error(a, junk, sizeof(junk), -1, "ParseError");
	/* Blank lines get no reply at all: the next reply is the status's. */
	assert_int_equal(ml_probe_send_raw(a->p, "\n  \r\n", 5), 0);

	/* Still answering, and it counted the errors. */
	st2 = call_ok(a, "status", NULL);
	assert_true(jint(st2, "errors", NULL) >= jint(st1, "errors", NULL) + 16);
	assert_int_equal(ml_probe_call(a->p, "nope", NULL, CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "CommandNotFound");
	assert_non_null(strstr(ml_error_message(), "CommandNotFound: unknown command 'nope'"));
	hello = call_ok(a, "hello", NULL);
	assert_int_equal(jint(hello, "protocol", NULL), 1);
}

static void test_long_line(void **state)
{
	struct agent *a = *state;
	size_t big = 100 * 1024, pad = 60 * 1024;
	ml_autofree char *line = malloc(big + 1);
	json_auto_t *hello = NULL;
	json_t *ret = NULL;

	/* 100 KiB in pieces, the newline last: one refusal, then resync. */
	memset(line, '{', big);
	line[big] = '\n';
	assert_int_equal(ml_probe_send_raw(a->p, line, 40000), 0);
	assert_int_equal(ml_probe_send_raw(a->p, line + 40000, 40000), 0);
	sleep_ms(50);
	assert_int_equal(ml_probe_send_raw(a->p, line + 80000, big - 80000), 0);
	expect_error(a, "\n", 1, -1, "LineTooLong");
	/* ...and the same in one write with a valid request behind it. */
	line[big - 1] = '\n';
	expect_error(a, line, big, -1, "LineTooLong");
	hello = call_ok(a, "hello", NULL);
	assert_string_equal(ml_json_str(hello, "agent"), "miglab-probe");

	/* A 60 KiB request is under the limit: parsed, and refused for its
	 * unknown argument, not for its length. */
	{
		ml_autofree char *s = malloc(pad + 1);
		memset(s, 'p', pad);
		s[pad] = '\0';
		assert_int_equal(ml_probe_call(a->p, "hello", json_pack("{s:s}", "pad", s), CALL_MS, &ret),
				 -1);
		assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
	}
	/* The client refuses to send what the agent would refuse. */
	{
		ml_autofree char *s = malloc(big + 1);
		memset(s, 'p', big);
		s[big] = '\0';
		assert_int_equal(ml_probe_call(a->p, "hello", json_pack("{s:s}", "pad", s), CALL_MS, &ret),
				 -1);
		assert_non_null(strstr(ml_error_message(), "passes the agent's limit"));
	}
}

/* The host goes away and comes back (as around a migration): the agent
 * reconnects, the same boot, the heartbeat went on. */
static void test_reconnect(void **state)
{
	struct agent *a = *state;
	json_auto_t *st1 = call_ok(a, "status", NULL), *st2 = NULL;

	ml_probe_free(a->p);
	a->p = NULL;
	sleep_ms(100);
	agent_accept(a);
	st2 = call_ok(a, "status", NULL);
	assert_string_equal(ml_json_str(st1, "boot_id"), ml_json_str(st2, "boot_id"));
	assert_true(jint(st2, "heartbeat", "count") > jint(st1, "heartbeat", "count"));
}

/* The production binary has no debug command. */
static void test_production_binary(void **state)
{
	struct agent *a = agent_start(MIGLAB_PROBE_PROD_BIN, "");
	json_auto_t *hello = NULL;
	json_t *ret = NULL;

	(void)state;
	if (ml_probe_hello(a->p, CALL_MS, &hello) < 0)
		fail_msg("%s", ml_error_message());
	assert_false(ml_json_bool(hello, "debug", true));
	assert_int_equal(jint(hello, "ram_mib_default", NULL), 64);
	assert_int_equal(ml_probe_call(a->p, "debug-corrupt",
				       json_pack("{s:i, s:s}", "page", 1, "mode", "zero"), CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "CommandNotFound");
	agent_stop(a);
}

/* --- The client against a scripted peer ---------------------------------- */

static void write_all(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_client_ids(void **state)
{
	int sv[2];
	struct ml_probe *p = NULL;
	json_auto_t *ret = NULL;
	json_t *r2 = NULL;
	char buf[512];
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(ml_probe_open(sv[0], "fake probe", NULL, NULL, &p), 0);
	/* A stale reply, the tail of a cut line, an error about some line we
	 * did not send, then ours (ids start at 1). */
	write_all(sv[1], "{\"id\":999,\"return\":{\"stale\":true}}\n"
			 "e\":1}}}\n"
			 "{\"id\":null,\"error\":{\"class\":\"ParseError\",\"desc\":\"x\"}}\n"
			 "{\"id\":1,\"return\":{\"n\":42}}\n");
	assert_int_equal(ml_probe_call(p, "status", NULL, 2000, &ret), 0);
	assert_int_equal(jint(ret, "n", NULL), 42);
	n = read(sv[1], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"id\":1,\"cmd\":\"status\"}\n");

	/* No answer: a timeout error. */
	assert_int_equal(ml_probe_call(p, "status", json_pack("{s:i}", "a", 1), 200, &r2), -1);
	assert_non_null(strstr(ml_error_message(), "no reply within 200 ms"));
	n = read(sv[1], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	assert_string_equal(buf, "{\"id\":2,\"cmd\":\"status\",\"args\":{\"a\":1}}\n");

	/* The late reply to 2 is skipped; the error reply to 3 is an error. */
	write_all(sv[1], "{\"id\":2,\"return\":{}}\n"
			 "{\"id\":3,\"error\":{\"class\":\"InvalidState\",\"desc\":\"not now\"}}\n");
	assert_int_equal(ml_probe_call(p, "ram-verify", NULL, 2000, &r2), -1);
	assert_string_equal(ml_probe_last_error_class(p), "InvalidState");
	assert_string_equal(ml_error_message(), "fake probe: ram-verify: InvalidState: not now");

	/* A reply without return or error. */
	write_all(sv[1], "{\"id\":4}\n");
	assert_int_equal(ml_probe_call(p, "status", NULL, 2000, &r2), -1);
	assert_non_null(strstr(ml_error_message(), "neither"));

	/* The peer goes away. */
	close(sv[1]);
	assert_int_equal(ml_probe_call(p, "status", NULL, 2000, &r2), -1);
	ml_probe_free(p);
}

struct late_peer {
	int fd;
	int hellos;
};

/* Boots slowly: reads nothing for 1.2 s, then answers the first hello only. */
static void *late_peer_thread(void *opaque)
{
	struct late_peer *lp = opaque;
	char buf[8192];
	ssize_t n;

	sleep_ms(1200);
	n = read(lp->fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		for (char *s = buf; (s = strstr(s, "\"hello\"")); s++)
			lp->hellos++;
	}
	write_all(lp->fd, "{\"id\":1,\"return\":{\"agent\":\"late\"}}\n");
	return NULL;
}

static void test_client_hello_retries(void **state)
{
	int sv[2];
	struct ml_probe *p = NULL;
	struct late_peer lp = { 0, 0 };
	pthread_t t;
	json_auto_t *ret = NULL;
	json_t *r2 = NULL;
	long long t0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(ml_probe_open(sv[0], "late probe", NULL, NULL, &p), 0);
	lp.fd = sv[1];
	assert_int_equal(pthread_create(&t, NULL, late_peer_thread, &lp), 0);
	t0 = ml_now_ms();
	assert_int_equal(ml_probe_hello(p, 5000, &ret), 0);
	pthread_join(t, NULL);
	assert_string_equal(ml_json_str(ret, "agent"), "late");
	assert_true(lp.hellos >= 3);
	assert_true(ml_now_ms() - t0 < 3000);

	/* Nobody answers at all: it gives up at the timeout. */
	t0 = ml_now_ms();
	assert_int_equal(ml_probe_hello(p, 1200, &r2), -1);
	assert_true(ml_now_ms() - t0 >= 1200);
	assert_non_null(strstr(ml_error_message(), "no answer to hello within 1200 ms"));
	ml_probe_free(p);
	close(sv[1]);
}

/* --- Page verification on bare buffers ------------------------------------ */

#define NP 16

static void fill_region(uint8_t *region, uint64_t *gens, uint64_t seed, uint64_t write_gen,
			size_t cursor)
{
	for (size_t i = 0; i < NP; i++) {
		gens[i] = i < cursor ? write_gen : write_gen - 1;
		probe_page_fill(region + i * PROBE_PAGE_SIZE, seed, i, gens[i]);
	}
}

static void test_verify_buffer(void **state)
{
	uint8_t *region = aligned_alloc(PROBE_PAGE_SIZE, NP * PROBE_PAGE_SIZE);
	uint64_t gens[NP], seed = 77;
	struct probe_verify_report rep;
	struct probe_bad_page bad;

	(void)state;
	assert_non_null(region);
	/* Mid-pass: pages 0..4 carry generation 6, the rest 5. */
	fill_region(region, gens, seed, 6, 5);
	probe_region_verify(region, NP, gens, seed, 6, 5, &rep);
	assert_int_equal(rep.bad_pages, 0);
	assert_int_equal(rep.pages, NP);

	/* Another seed: every header check fails. */
	probe_region_verify(region, NP, gens, seed + 1, 6, 5, &rep);
	assert_int_equal(rep.bad_pages, NP);
	assert_int_equal(rep.counts[PROBE_BAD_GARBAGE], NP);

	/* The writer's cursor disagrees with a consistent page + array pair
	 * (both lost): still caught. */
	probe_region_verify(region, NP, gens, seed, 6, 6, &rep);
	assert_int_equal(rep.bad_pages, 1);
	assert_int_equal(rep.examples[0].page, 5);
	assert_int_equal(rep.examples[0].kind, PROBE_BAD_TRACKING);

	/* A stale page, a zero page, a misplaced page, a flipped bit. */
	probe_page_fill(region + 2 * PROBE_PAGE_SIZE, seed, 2, 5);
	memset(region + 9 * PROBE_PAGE_SIZE, 0, PROBE_PAGE_SIZE);
	memcpy(region + 11 * PROBE_PAGE_SIZE, region + 12 * PROBE_PAGE_SIZE, PROBE_PAGE_SIZE);
	region[14 * PROBE_PAGE_SIZE + 2000] ^= 1;
	probe_region_verify(region, NP, gens, seed, 6, 5, &rep);
	assert_int_equal(rep.bad_pages, 4);
	assert_int_equal(rep.n_examples, 4);
	assert_int_equal(rep.examples[0].page, 2);
	assert_int_equal(rep.examples[0].kind, PROBE_BAD_STALE);
	assert_int_equal(rep.examples[0].found_generation, 5);
	assert_int_equal(rep.examples[0].expected_generation, 6);
	assert_int_equal(rep.examples[1].kind, PROBE_BAD_ZERO);
	assert_int_equal(rep.examples[2].kind, PROBE_BAD_WRONG_INDEX);
	assert_int_equal(rep.examples[2].found_index, 12);
	assert_int_equal(rep.examples[3].kind, PROBE_BAD_BODY);
	assert_int_equal(rep.counts[PROBE_BAD_STALE], 1);

	/* A page newer than its tracking entry and the cursor agree on. */
	probe_page_fill(region + 3 * PROBE_PAGE_SIZE, seed, 3, 7);
	assert_int_equal(probe_page_check(region + 3 * PROBE_PAGE_SIZE, seed, 3, 6, &bad),
			 PROBE_BAD_AHEAD);
	assert_int_equal(probe_page_check(region + 3 * PROBE_PAGE_SIZE, seed, 3, 7, &bad),
			 PROBE_BAD_NONE);
	assert_string_equal(probe_bad_kind_name(PROBE_BAD_WRONG_INDEX), "wrong-index");
	free(region);
}

int main(void)
{
	const struct CMUnitTest agent_tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_continuity),
		cmocka_unit_test(test_ram_start_verify),
		cmocka_unit_test(test_ram_corruption),
		cmocka_unit_test(test_ram_two_bad_pages),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_reconnect),
	};
	const struct CMUnitTest other_tests[] = {
		cmocka_unit_test(test_verify_buffer),
		cmocka_unit_test(test_irq_count),
		cmocka_unit_test(test_client_ids),
		cmocka_unit_test(test_client_hello_retries),
		cmocka_unit_test(test_production_binary),
	};
	int failed = cmocka_run_group_tests_name("probe agent", agent_tests, group_setup,
						 group_teardown);
	failed += cmocka_run_group_tests_name("probe client and verification", other_tests, NULL,
					      NULL);
	return failed;
}
