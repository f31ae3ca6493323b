/* Unit tests of the QMP client against real conversations recorded from
 * QEMU 7.2 and 11.1 (tests/data/qmp/), replayed by a scripted peer, plus the
 * faults a dying or broken QEMU produces: split replies, events between
 * replies, garbage, closed connections, timeouts, over-long lines. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "qmp-replay.h"
#include "qmp.h"
#include "testhelp.h"
#include "ml-common.h"

#define T_MS 5000 /* generous timeout for calls that must succeed */

/* The transcript callback: "> line" / "< line", one a line. */
static void transcript_log(void *opaque, char dir, const char *line, size_t len)
{
	struct ml_buf *b = opaque;
	assert_int_equal(ml_buf_printf(b, "%c %.*s\n", dir, (int)len, line), 0);
}

struct session {
	struct ml_qmp *q;
	struct qr_peer *peer;
	struct ml_buf transcript;
};

static void session_start(struct session *t, struct qr_script *s)
{
	int fd;

	memset(t, 0, sizeof(*t));
	t->peer = qr_start(s, &fd);
	t->q = ml_qmp_new(fd, "QMP of test", transcript_log, &t->transcript);
}

/* Close the client and check the peer saw exactly its script. */
static void session_end(struct session *t)
{
	ml_autofree char *err = NULL;

	ml_qmp_free(t->q);
	if (qr_finish(t->peer, &err) < 0)
		fail_msg("replay peer: %s", err);
	ml_buf_free(&t->transcript);
}

/* Script with the recorded greeting and capabilities of a fixture. */
static struct qr_script *script_after_handshake(const char *fixture)
{
	struct qr_script *s = qr_script_new();
	qr_load(s, fixture, "greeting", QR_BOTH);
	qr_load(s, fixture, "capabilities", QR_BOTH);
	return s;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void qr_send_raw_str(struct qr_script *s, const char *text)
{
	qr_send_raw(s, text, strlen(text));
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Comma-separated "data.status" of the MIGRATION events in an array. */
static void migration_statuses(const json_t *events, char *out, size_t len)
{
	size_t i, j = 0;
	const json_t *e;

	out[0] = '\0';
	json_array_foreach(events, i, e) {
		if (strcmp(ml_json_str(e, "event"), "MIGRATION") != 0)
			continue;
		j += (size_t)snprintf(out + j, len - j, "%s%s", j ? "," : "",
				      ml_json_str(json_object_get(e, "data"), "status"));
		if (j >= len)
			break;
	}
}

/* ---- whole recorded conversations, one case per QEMU version ---- */

struct replay_case {
	const char *fixture;
	int major, minor, micro;
	const char *package;
	const char *bad_uri_desc;        /* migrate to "bogus:nowhere" */
	const char *failed_statuses;     /* MIGRATION events of a failed connect */
	const char *channels_error;      /* migrate with "channels": NULL if accepted */
	const char *blk_error;           /* migrate with "blk": NULL if accepted */
	bool has_singlestep;             /* query-status still answers it */
	const char *completed_statuses;  /* MIGRATION events of the real migration */
};

static const struct replay_case qemu_7_2 = {
	.fixture = "qemu-7.2.txt",
	.major = 7, .minor = 2, .micro = 22,
	.package = "Debian 1:7.2+dfsg-7+deb12u18+b3",
	.bad_uri_desc = "Parameter 'uri' expects a valid migration protocol",
	.failed_statuses = "setup,failed",
	.channels_error = "Parameter 'uri' is missing",
	.blk_error = NULL,
	.has_singlestep = true,
	.completed_statuses = "setup,active,completed",
};

static const struct replay_case qemu_11_1 = {
	.fixture = "qemu-11.1.txt",
	.major = 11, .minor = 1, .micro = 3,
	.package = "Debian 1:11.1.3+ds-1",
	.bad_uri_desc = "unknown migration protocol: bogus:nowhere",
	.failed_statuses = "setup,failing,failed",
	.channels_error = NULL,
	.blk_error = "Parameter 'blk' is unexpected",
	.has_singlestep = false,
	.completed_statuses = "setup,active,device,completed",
};

static void expect_status(struct ml_qmp *q, const char *want)
{
	ml_autofree char *status = NULL;
	if (ml_qmp_query_status(q, T_MS, &status) < 0)
		fail_msg("query-status: %s", ml_error_message());
	assert_string_equal(status, want);
}

static void expect_migrate(struct ml_qmp *q, json_t *args, const char *error)
{
	int r = ml_qmp_execute(q, "migrate", args, T_MS, NULL);
	if (!error) {
		if (r < 0)
			fail_msg("migrate: %s", ml_error_message());
		return;
	}
	assert_int_equal(r, -1);
	assert_int_equal(ml_qmp_last_err(q), ML_QMP_ERR_REPLY);
	assert_string_equal(ml_qmp_error_class(q), "GenericError");
	assert_string_equal(ml_qmp_error_desc(q), error);
}

/* Take MIGRATION events until one with this status (the recorded server
 * lines after a reply may still be on their way). */
static void wait_migration_event(struct ml_qmp *q, const char *status)
{
	for (;;) {
		json_auto_t *ev = NULL;
		if (ml_qmp_wait_event(q, "MIGRATION", T_MS, &ev) < 0)
			fail_msg("waiting for MIGRATION %s: %s", status, ml_error_message());
		if (strcmp(ml_json_str(json_object_get(ev, "data"), "status"), status) == 0)
			return;
	}
}

static void run_recorded_conversation(const struct replay_case *c)
{
	struct qr_script *s = qr_script_new();
	struct session t;
	json_auto_t *ret = NULL, *info = NULL, *events = NULL, *ev = NULL;
	int major = -1, minor = -1, micro = -1;
	char statuses[256];
	ml_autofree char *msg = NULL;

	qr_load(s, c->fixture, NULL, QR_BOTH);
	qr_close(s); /* QEMU closes the socket after quit */
	session_start(&t, s);

	assert_int_equal(ml_qmp_version(t.q, &major, &minor, &micro), -1);
	if (ml_qmp_handshake(t.q, T_MS) < 0)
		fail_msg("handshake: %s", ml_error_message());
	assert_int_equal(ml_qmp_version(t.q, &major, &minor, &micro), 0);
	assert_int_equal(major, c->major);
	assert_int_equal(minor, c->minor);
	assert_int_equal(micro, c->micro);
	assert_string_equal(ml_json_str(ml_qmp_greeting(t.q)
					? json_object_get(json_object_get(ml_qmp_greeting(t.q), "QMP"),
							  "version")
					: NULL,
					"package"),
			    c->package);

	assert_int_equal(ml_qmp_execute(t.q, "query-version", NULL, T_MS, &ret), 0);
	assert_int_equal(ml_json_int(json_object_get(ret, "qemu"), "major", -1), c->major);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_OK);

	{
		json_auto_t *st = NULL;
		assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, &st), 0);
		assert_string_equal(ml_json_str(st, "status"), "prelaunch");
		assert_int_equal(json_object_get(st, "singlestep") != NULL, c->has_singlestep);
	}

	assert_int_equal(ml_qmp_execute(t.q, "no-such-command", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_REPLY);
	assert_string_equal(ml_qmp_error_class(t.q), "CommandNotFound");
	assert_string_equal(ml_qmp_error_desc(t.q), "The command no-such-command has not been found");
	assert_string_equal(ml_error_message(),
			    "no-such-command: CommandNotFound: The command no-such-command has not been found");

	expect_migrate(t.q, json_pack("{s:s}", "uri", "bogus:nowhere"), c->bad_uri_desc);
	assert_int_equal(ml_qmp_execute(t.q, "migrate-set-capabilities",
					json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability",
						  "events", "state", 1),
					T_MS, NULL),
			 0);
	/* The error class and description do not outlive the failed call. */
	assert_string_equal(ml_qmp_error_class(t.q), "");

	expect_migrate(t.q, json_pack("{s:s}", "uri", "unix:/w/nobody.sock"), NULL);
	if (ml_qmp_wait_migration(t.q, NULL, T_MS, &info) < 0)
		fail_msg("wait_migration: %s", ml_error_message());
	assert_string_equal(ml_json_str(info, "status"), "failed");
	assert_string_equal(ml_json_str(info, "error-desc"),
			    "Failed to connect to '/w/nobody.sock': No such file or directory");
	events = ml_qmp_take_events(t.q);
	migration_statuses(events, statuses, sizeof(statuses));
	assert_string_equal(statuses, c->failed_statuses);

	expect_migrate(t.q,
		       json_pack("{s:[{s:s,s:{s:s,s:s,s:s}}]}", "channels", "channel-type", "main",
				 "addr", "transport", "socket", "type", "unix", "path",
				 "/w/nobody.sock"),
		       c->channels_error);
	if (!c->channels_error)
		wait_migration_event(t.q, "failed");
	expect_migrate(t.q, json_pack("{s:s,s:b}", "uri", "unix:/w/nobody.sock", "blk", 0),
		       c->blk_error);
	if (!c->blk_error)
		wait_migration_event(t.q, "failed");
	json_decref(ml_qmp_take_events(t.q));

	/* RESUME and STOP come before their command's reply: queued, then found. */
	assert_int_equal(ml_qmp_execute(t.q, "cont", NULL, T_MS, NULL), 0);
	assert_int_equal(ml_qmp_wait_event(t.q, "RESUME", 0, &ev), 0);
	json_decref(ml_steal_pointer(&ev));
	expect_status(t.q, "running");
	assert_int_equal(ml_qmp_execute(t.q, "stop", NULL, T_MS, NULL), 0);
	assert_int_equal(ml_qmp_wait_event(t.q, "STOP", 0, &ev), 0);
	json_decref(ml_steal_pointer(&ev));
	expect_status(t.q, "paused");

	/* The one real migration, to an -incoming QEMU of the same build. */
	expect_migrate(t.q, json_pack("{s:s}", "uri", "unix:/w/in.sock"), NULL);
	json_decref(ml_steal_pointer(&info));
	if (ml_qmp_wait_migration(t.q, NULL, T_MS, &info) < 0)
		fail_msg("wait_migration: %s", ml_error_message());
	assert_string_equal(ml_json_str(info, "status"), "completed");
	assert_true(ml_json_int(info, "total-time", -1) > 0);
	assert_true(ml_json_int(info, "downtime", -1) > 0);
	assert_true(ml_json_int(info, "setup-time", -1) >= 0);
	assert_true(ml_json_int(json_object_get(info, "ram"), "transferred", -1) > 0);
	json_decref(events);
	events = ml_qmp_take_events(t.q);
	migration_statuses(events, statuses, sizeof(statuses));
	assert_string_equal(statuses, c->completed_statuses);
	expect_status(t.q, "postmigrate");

	assert_int_equal(ml_qmp_execute(t.q, "quit", NULL, T_MS, NULL), 0);
	assert_int_equal(ml_qmp_wait_event(t.q, "SHUTDOWN", T_MS, &ev), 0);
	assert_string_equal(ml_json_str(json_object_get(ev, "data"), "reason"), "host-qmp-quit");

	/* QEMU is gone: the next command fails as IO, naming the peer. */
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "query-status: QMP of test: connection closed by QEMU");

	/* Every line crossed the transcript callback. */
	msg = strdup(t.transcript.data);
	assert_contains(msg, "< {\"QMP\":");
	assert_contains(msg, "> {\"execute\":\"qmp_capabilities\",\"id\":1}");
	assert_contains(msg, "\"event\": \"SHUTDOWN\"");
	session_end(&t);
}

static void test_replay_qemu_7_2(void **state)
{
	(void)state;
	run_recorded_conversation(&qemu_7_2);
}

static void test_replay_qemu_11_1(void **state)
{
	(void)state;
	run_recorded_conversation(&qemu_11_1);
}

/* ---- handshake ---- */

static void check_handshake(const char *fixture, int major, int minor, int micro)
{
	struct session t;
	int v[3];

	session_start(&t, script_after_handshake(fixture));
	if (ml_qmp_handshake(t.q, T_MS) < 0)
		fail_msg("%s: %s", fixture, ml_error_message());
	assert_int_equal(ml_qmp_version(t.q, &v[0], &v[1], &v[2]), 0);
	assert_int_equal(v[0], major);
	assert_int_equal(v[1], minor);
	assert_int_equal(v[2], micro);
	/* A second handshake is a caller bug, not a conversation. */
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), -1);
	session_end(&t);
}

static void test_handshake_versions(void **state)
{
	(void)state;
	check_handshake("qemu-7.2.txt", 7, 2, 22);
	check_handshake("qemu-11.1.txt", 11, 1, 3);
}

static void test_handshake_split_greeting(void **state)
{
	struct qr_script *s = qr_script_new();
	struct session t;
	int major;
	(void)state;

	qr_split(s, qr_load(s, "qemu-11.1.txt", "greeting", QR_BOTH), qr_steps(s), 7, 15);
	qr_load(s, "qemu-11.1.txt", "capabilities", QR_BOTH);
	session_start(&t, s);
	if (ml_qmp_handshake(t.q, T_MS) < 0)
		fail_msg("%s", ml_error_message());
	assert_int_equal(ml_qmp_version(t.q, &major, NULL, NULL), 0);
	assert_int_equal(major, 11);
	session_end(&t);
}

static void test_handshake_not_a_greeting(void **state)
{
	struct qr_script *s = qr_script_new();
	struct session t;
	(void)state;

	/* A reply where the greeting belongs (e.g. a socket that is not QMP). */
	qr_send(s, "{\"return\": {}}");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "expected the QMP greeting");
	assert_contains(ml_error_message(), "{\"return\":{}}");
	assert_int_equal(ml_qmp_version(t.q, NULL, NULL, NULL), -1);
	session_end(&t);
}

static void test_handshake_timeout(void **state)
{
	struct qr_script *s = qr_script_new();
	struct session t;
	long long t0;
	(void)state;

	qr_sleep(s, 1); /* says nothing at all */
	session_start(&t, s);
	t0 = ml_now_ms();
	assert_int_equal(ml_qmp_handshake(t.q, 150), -1);
	assert_true(ml_now_ms() - t0 >= 140);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_TIMEOUT);
	assert_contains(ml_error_message(), "no greeting within 150 ms");
	session_end(&t);
}

/* ---- replies ---- */

static void test_error_reply(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	json_t *ret = json_object(); /* must come back NULL */
	(void)state;

	qr_load(s, "qemu-7.2.txt", "migrate-bad-uri", QR_BOTH);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	json_decref(ret);
	assert_int_equal(ml_qmp_execute(t.q, "migrate", json_pack("{s:s}", "uri", "bogus:nowhere"),
					T_MS, &ret),
			 -1);
	assert_null(ret);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_REPLY);
	assert_string_equal(ml_qmp_error_class(t.q), "GenericError");
	assert_string_equal(ml_qmp_error_desc(t.q),
			    "Parameter 'uri' expects a valid migration protocol");
	assert_string_equal(ml_error_message(),
			    "migrate: GenericError: Parameter 'uri' expects a valid migration protocol");
	session_end(&t);
}

static void test_error_reply_without_id(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	(void)state;

	/* What QEMU sends when it cannot parse the request, so it has no id. */
	qr_expect(s, "{\"execute\":\"query-status\",\"id\":0}");
	qr_send_raw_str(s, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_REPLY);
	assert_string_equal(ml_qmp_error_desc(t.q), "JSON parse error");
	session_end(&t);
}

static void test_split_reply(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *ret = NULL;
	size_t from;
	(void)state;

	qr_load(s, "qemu-11.1.txt", "query-migrate-completed", QR_CLIENT);
	from = qr_load(s, "qemu-11.1.txt", "query-migrate-completed", QR_SERVER);
	qr_split(s, from, qr_steps(s), 9, 20);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	if (ml_qmp_execute(t.q, "query-migrate", NULL, T_MS, &ret) < 0)
		fail_msg("%s", ml_error_message());
	assert_string_equal(ml_json_str(ret, "status"), "completed");
	assert_int_equal(ml_json_int(ret, "total-time", -1), 23);
	assert_int_equal(ml_json_int(json_object_get(ret, "ram"), "transferred", -1), 844407);
	session_end(&t);
}

static void test_events_before_reply_queued(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	json_auto_t *ev = NULL, *rest = NULL;
	(void)state;

	/* stop: STOP comes before the reply in the recording; put a RESUME and
	 * a made-up event before it and a migration event after, and send all
	 * of it cut into pieces. */
	qr_load(s, "qemu-7.2.txt", "stop", QR_CLIENT);
	qr_load(s, "qemu-7.2.txt", "cont", QR_SERVER); /* RESUME + a reply with a stale id */
	qr_send(s, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
		   "\"BLOCK_JOB_READY\", \"data\": {\"device\": \"d0\"}}");
	qr_split(s, qr_load(s, "qemu-7.2.txt", "stop", QR_SERVER), qr_steps(s), 3, 5);
	qr_load(s, "qemu-7.2.txt", "migrate-unix-nobody", QR_SERVER);
	qr_send(s, "{\"event\": \"END\"}");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	/* The "cont" reply carries the id of the stop command (substituted):
	 * it is the answer. Nothing else is lost. */
	assert_int_equal(ml_qmp_execute(t.q, "stop", NULL, T_MS, NULL), 0);
	/* Timeout 0: found in the queue without reading. */
	assert_int_equal(ml_qmp_wait_event(t.q, "RESUME", 0, &ev), 0);
	assert_string_equal(ml_json_str(ev, "event"), "RESUME");
	json_decref(ml_steal_pointer(&ev));
	/* STOP and the rest, read now, come after what was queued. */
	assert_int_equal(ml_qmp_wait_event(t.q, "STOP", T_MS, &ev), 0);
	json_decref(ml_steal_pointer(&ev));
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION", T_MS, &ev), 0);
	json_decref(ml_steal_pointer(&ev));
	/* Once END is there, all that is left was queued, in order. */
	assert_int_equal(ml_qmp_wait_event(t.q, "END", T_MS, &ev), 0);
	rest = ml_qmp_take_events(t.q);
	assert_int_equal(json_array_size(rest), 2);
	assert_string_equal(ml_json_str(json_array_get(rest, 0), "event"), "BLOCK_JOB_READY");
	assert_string_equal(ml_json_str(json_object_get(json_array_get(rest, 1), "data"), "status"),
			    "failed");
	/* The stray {"return": {}} with the same id after STOP is stale. */
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_OK);
	session_end(&t);
}

static void test_wait_event_order(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *ev = NULL, *rest = NULL;
	(void)state;

	qr_load(s, "qemu-11.1.txt", "migrate-to-dst", QR_CLIENT);
	qr_load(s, "qemu-11.1.txt", "migrate-to-dst", QR_SERVER);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "migrate", json_pack("{s:s}", "uri", "unix:/w/in.sock"),
					T_MS, NULL),
			 0);
	/* Queued MIGRATION(setup) is the first one handed out. */
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION", T_MS, &ev), 0);
	assert_string_equal(ml_json_str(json_object_get(ev, "data"), "status"), "setup");
	json_decref(ml_steal_pointer(&ev));
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION_PASS", T_MS, &ev), 0);
	json_decref(ml_steal_pointer(&ev));
	/* active came before MIGRATION_PASS: it was queued meanwhile. */
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION", T_MS, &ev), 0);
	assert_string_equal(ml_json_str(json_object_get(ev, "data"), "status"), "active");
	json_decref(ml_steal_pointer(&ev));
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION", T_MS, &ev), 0);
	assert_string_equal(ml_json_str(json_object_get(ev, "data"), "status"), "device");
	json_decref(ml_steal_pointer(&ev));
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION", T_MS, &ev), 0);
	assert_string_equal(ml_json_str(json_object_get(ev, "data"), "status"), "completed");
	rest = ml_qmp_take_events(t.q);
	assert_int_equal(json_array_size(rest), 0);
	session_end(&t);
}

static void test_take_events_does_not_block(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *none = NULL, *two = NULL;
	long long t0;
	(void)state;

	qr_sleep(s, 300);
	qr_load(s, "qemu-11.1.txt", "cont", QR_SERVER); /* RESUME and a stale reply */
	qr_load(s, "qemu-11.1.txt", "stop", QR_SERVER);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	t0 = ml_now_ms();
	none = ml_qmp_take_events(t.q);
	assert_true(ml_now_ms() - t0 < 200);
	assert_int_equal(json_array_size(none), 0);
	sleep_ms(800);
	two = ml_qmp_take_events(t.q);
	/* The replies carry the id of qmp_capabilities, which is done: stale. */
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_OK);
	assert_int_equal(json_array_size(two), 2);
	assert_string_equal(ml_json_str(json_array_get(two, 0), "event"), "RESUME");
	assert_string_equal(ml_json_str(json_array_get(two, 1), "event"), "STOP");
	session_end(&t);
}

static void test_event_queue_capped(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *ev = NULL, *all = NULL;
	struct ml_buf lines = ML_BUF_INIT(0);
	(void)state;

	for (int i = 0; i < ML_QMP_MAX_QUEUED_EVENTS + 10; i++)
		assert_int_equal(ml_buf_printf(&lines, "{\"event\": \"E\", \"data\": {\"n\": %d}}\n", i),
				 0);
	qr_send_raw(s, lines.data, lines.len);
	qr_send(s, "{\"event\": \"END\"}");
	ml_buf_free(&lines);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_wait_event(t.q, "END", T_MS, &ev), 0);
	all = ml_qmp_take_events(t.q);
	assert_int_equal(json_array_size(all), ML_QMP_MAX_QUEUED_EVENTS);
	assert_int_equal(ml_qmp_events_dropped(t.q), 10);
	/* The oldest went: the newest are all there. */
	assert_int_equal(ml_json_int(json_object_get(json_array_get(all, 0), "data"), "n", -1), 10);
	session_end(&t);
}

/* ---- broken peers ---- */

static void test_garbage_line(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	(void)state;

	qr_load(s, "qemu-7.2.txt", "query-status-prelaunch", QR_CLIENT);
	qr_send_raw_str(s, "qemu-system-x86_64: oops \x01\n");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "query-status: QMP of test: received a line that is not");
	assert_contains(ml_error_message(), "\"qemu-system-x86_64: oops \\x01\"");
	/* The connection is out of step now: later calls fail at once. */
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "earlier failure");
	assert_contains(ml_error_message(), "oops");
	session_end(&t);
}

static void test_not_a_qmp_message(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	(void)state;

	qr_load(s, "qemu-7.2.txt", "query-status-prelaunch", QR_CLIENT);
	qr_send(s, "{\"hello\": \"world\"}");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "not a QMP message: {\"hello\":\"world\"}");
	session_end(&t);

	/* A long one is cut, and says so. */
	s = script_after_handshake("qemu-7.2.txt");
	qr_load(s, "qemu-7.2.txt", "query-status-prelaunch", QR_CLIENT);
	{
		char big[600];
		int n = snprintf(big, sizeof(big), "{\"hello\": \"");
		memset(big + n, 'w', 500);
		snprintf(big + n + 500, sizeof(big) - (size_t)n - 500, "\"}");
		qr_send(s, big);
	}
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_contains(ml_error_message(), "not a QMP message: {\"hello\":\"wwww");
	assert_contains(ml_error_message(), "www...");
	assert_true(strlen(ml_error_message()) < 200);
	session_end(&t);
}

static void test_reply_to_other_command(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	(void)state;

	qr_load(s, "qemu-7.2.txt", "query-status-prelaunch", QR_CLIENT);
	qr_send_raw_str(s, "{\"return\": {}, \"id\": 77}\n");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "reply to another command: {\"return\":{},\"id\":77}");
	session_end(&t);
}

static void test_closed_mid_reply(void **state)
{
	static const char half[] = "{\"return\": {\"status\": \"runn";
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	json_auto_t *ret = NULL;
	(void)state;

	qr_load(s, "qemu-7.2.txt", "query-status-running", QR_CLIENT);
	qr_send_raw(s, half, strlen(half));
	qr_sleep(s, 30);
	qr_close(s);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, &ret), -1);
	assert_null(ret);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(),
			"query-status: QMP of test: connection closed by QEMU in the middle of a "
			"message (27 bytes received: \"{\"return\": {\"status\": \"runn\")");
	session_end(&t);
}

static void test_closed_before_reply(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	json_auto_t *ev = NULL;
	(void)state;

	/* QEMU dies while running migrate: the events before it stay readable. */
	qr_load(s, "qemu-7.2.txt", "migrate-to-dst", QR_CLIENT);
	qr_send(s, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}, \"event\": \"MIGRATION\", "
		   "\"data\": {\"status\": \"setup\"}}");
	qr_close(s);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "migrate", json_pack("{s:s}", "uri", "unix:/w/in.sock"),
					T_MS, NULL),
			 -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_string_equal(ml_error_message(),
			    "migrate: QMP of test: connection closed by QEMU (did it exit?)");
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION", 0, &ev), 0);
	json_decref(ml_steal_pointer(&ev));
	assert_int_equal(ml_qmp_wait_event(t.q, "MIGRATION", T_MS, &ev), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	session_end(&t);
}

static void test_timeout_then_stale_reply(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *ret = NULL;
	long long t0;
	(void)state;

	/* query-status (id 2) gets no answer in time; its late reply comes
	 * while query-version (id 3) waits and must be skipped. */
	qr_load(s, "qemu-11.1.txt", "query-status-running", QR_CLIENT);
	qr_load(s, "qemu-11.1.txt", "query-version", QR_CLIENT);
	qr_send_raw_str(s, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 2}\n");
	qr_load(s, "qemu-11.1.txt", "query-version", QR_SERVER);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	t0 = ml_now_ms();
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, 200, &ret), -1);
	assert_true(ml_now_ms() - t0 >= 190);
	assert_null(ret);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_TIMEOUT);
	assert_string_equal(ml_error_message(), "query-status: QMP of test: no answer within 200 ms");
	if (ml_qmp_execute(t.q, "query-version", NULL, T_MS, &ret) < 0)
		fail_msg("%s", ml_error_message());
	assert_int_equal(ml_json_int(json_object_get(ret, "qemu"), "major", -1), 11);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_OK);
	/* The stale reply still reached the transcript. */
	assert_contains(t.transcript.data, "\"running\": true}, \"id\": 2}");
	session_end(&t);
}

static void test_interrupt_keeps_connection(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *ret = NULL;
	(void)state;

	/* SIGTERM while waiting: the call gives up, the connection does not. */
	qr_load(s, "qemu-11.1.txt", "query-status-running", QR_BOTH);
	qr_load(s, "qemu-11.1.txt", "query-version", QR_BOTH);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	ml_interrupted = SIGTERM;
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	ml_interrupted = 0;
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "query-status: ");
	assert_contains(ml_error_message(), "interrupted by TERM");
	/* The late reply to query-status is stale; the next command works. */
	if (ml_qmp_execute(t.q, "query-version", NULL, T_MS, &ret) < 0)
		fail_msg("%s", ml_error_message());
	assert_int_equal(ml_json_int(json_object_get(ret, "qemu"), "minor", -1), 1);
	session_end(&t);
}

static void test_line_too_long(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	struct ml_buf big = ML_BUF_INIT(0);
	(void)state;

	qr_load(s, "qemu-7.2.txt", "query-status-prelaunch", QR_CLIENT);
	assert_int_equal(ml_buf_puts(&big, "{\"return\": {\"status\": \""), 0);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(ml_buf_puts(&big, "x"), 0);
	assert_int_equal(ml_buf_puts(&big, "\"}}\n"), 0);
	qr_send_raw(s, big.data, big.len);
	ml_buf_free(&big);
	session_start(&t, s);
	ml_qmp_set_max_line(t.q, 4096);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "longer than the limit of 4096 bytes");
	session_end(&t);
}

static void test_endless_line(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	char chunk[1000];
	(void)state;

	/* No newline ever: refused once the cap is passed, not buffered forever. */
	memset(chunk, ' ', sizeof(chunk));
	qr_load(s, "qemu-7.2.txt", "query-status-prelaunch", QR_CLIENT);
	qr_client_may_close(s);
	for (int i = 0; i < 200; i++)
		qr_send_raw(s, chunk, sizeof(chunk));
	session_start(&t, s);
	ml_qmp_set_max_line(t.q, 50000);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_execute(t.q, "query-status", NULL, T_MS, NULL), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_IO);
	assert_contains(ml_error_message(), "longer than the limit of 50000 bytes");
	session_end(&t);
}

/* ---- wait_migration ---- */

static void test_wait_migration_polls(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *info = NULL, *events = NULL;
	long long t0;
	(void)state;

	/* Not started yet ({}), then active twice, then completed. */
	qr_expect(s, "{\"execute\":\"query-migrate\",\"id\":0}");
	qr_send(s, "{\"return\": {}, \"id\": 0}");
	qr_expect(s, "{\"execute\":\"query-migrate\",\"id\":0}");
	qr_send(s, "{\"return\": {\"status\": \"active\"}, \"id\": 0}");
	qr_expect(s, "{\"execute\":\"query-migrate\",\"id\":0}");
	qr_send(s, "{\"return\": {\"status\": \"active\"}, \"id\": 0}");
	qr_load(s, "qemu-11.1.txt", "query-migrate-completed", QR_BOTH);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	t0 = ml_now_ms();
	if (ml_qmp_wait_migration(t.q, NULL, T_MS, &info) < 0)
		fail_msg("%s", ml_error_message());
	/* three waits of one poll interval between the four queries */
	assert_true(ml_now_ms() - t0 >= 3 * ML_QMP_MIGRATE_POLL_MS - 5);
	assert_string_equal(ml_json_str(info, "status"), "completed");
	assert_int_equal(ml_json_int(info, "downtime", -1), 2);
	events = ml_qmp_take_events(t.q);
	assert_int_equal(json_array_size(events), 0);
	session_end(&t);
}

static void test_wait_migration_event_wakes(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-11.1.txt");
	struct session t;
	json_auto_t *info = NULL, *events = NULL;
	const char *const until_device[] = { "device", NULL };
	(void)state;

	/* A MIGRATION event makes it query again without waiting out the
	 * interval; a custom terminal state stops it. The event stays queued. */
	qr_expect(s, "{\"execute\":\"query-migrate\",\"id\":0}");
	qr_send(s, "{\"return\": {\"status\": \"active\"}, \"id\": 0}");
	qr_send(s, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"device\"}}");
	qr_expect(s, "{\"execute\":\"query-migrate\",\"id\":0}");
	qr_send(s, "{\"return\": {\"status\": \"device\"}, \"id\": 0}");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	if (ml_qmp_wait_migration(t.q, until_device, T_MS, &info) < 0)
		fail_msg("%s", ml_error_message());
	assert_string_equal(ml_json_str(info, "status"), "device");
	events = ml_qmp_take_events(t.q);
	assert_int_equal(json_array_size(events), 1);
	session_end(&t);
}

static void test_wait_migration_timeout(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	json_auto_t *info = NULL;
	const char *const only_completed[] = { "completed", NULL };
	(void)state;

	qr_answer_forever(s, "{\"execute\":\"query-migrate\",\"id\":0}",
			  "{\"return\": {\"status\": \"active\", \"ram\": {\"transferred\": 4096}}, \"id\": 0}");
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_wait_migration(t.q, only_completed, 300, &info), -1);
	assert_int_equal(ml_qmp_last_err(t.q), ML_QMP_ERR_TIMEOUT);
	assert_contains(ml_error_message(), "still active after 300 ms");
	/* The last answer says how far it got. */
	assert_int_equal(ml_json_int(json_object_get(info, "ram"), "transferred", -1), 4096);
	session_end(&t);
}

static void test_wait_migration_failed_is_terminal(void **state)
{
	struct qr_script *s = script_after_handshake("qemu-7.2.txt");
	struct session t;
	json_auto_t *info = NULL;
	const char *const only_completed[] = { "completed", NULL };
	(void)state;

	qr_load(s, "qemu-7.2.txt", "query-migrate-failed", QR_BOTH);
	session_start(&t, s);
	assert_int_equal(ml_qmp_handshake(t.q, T_MS), 0);
	assert_int_equal(ml_qmp_wait_migration(t.q, only_completed, T_MS, &info), 0);
	assert_string_equal(ml_json_str(info, "status"), "failed");
	assert_contains(ml_json_str(info, "error-desc"), "Failed to connect");
	session_end(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_qemu_7_2),
		cmocka_unit_test(test_replay_qemu_11_1),
		cmocka_unit_test(test_handshake_versions),
		cmocka_unit_test(test_handshake_split_greeting),
		cmocka_unit_test(test_handshake_not_a_greeting),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_error_reply_without_id),
		cmocka_unit_test(test_split_reply),
		cmocka_unit_test(test_events_before_reply_queued),
		cmocka_unit_test(test_wait_event_order),
		cmocka_unit_test(test_take_events_does_not_block),
		cmocka_unit_test(test_event_queue_capped),
		cmocka_unit_test(test_garbage_line),
		cmocka_unit_test(test_not_a_qmp_message),
		cmocka_unit_test(test_reply_to_other_command),
		cmocka_unit_test(test_closed_mid_reply),
		cmocka_unit_test(test_closed_before_reply),
		cmocka_unit_test(test_timeout_then_stale_reply),
		cmocka_unit_test(test_interrupt_keeps_connection),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_endless_line),
		cmocka_unit_test(test_wait_migration_polls),
		cmocka_unit_test(test_wait_migration_event_wakes),
		cmocka_unit_test(test_wait_migration_timeout),
		cmocka_unit_test(test_wait_migration_failed_is_terminal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
