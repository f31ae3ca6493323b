/* QMP client over the line-delimited JSON transport (see qmp.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsonline.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "qmp.h"
#include "ml-common.h"

struct ml_qmp {
	struct ml_jsonline jl;
	char *peer;
	json_t *greeting;
	int version[3];
	bool have_version;
	json_int_t next_id;  /* id of the next command */
	json_int_t inflight; /* id of the command awaiting its reply, 0 if none */
	json_t *events;      /* queue, oldest first */
	size_t dropped;
	enum ml_qmp_err last_err;
	char *err_class;
	char *err_desc;
	char *dead; /* the failure that killed the connection */
	size_t skipped; /* lines skipped in this call (events, stale replies) */
};

/* What a received message is. */
enum msg_kind { MSG_EVENT, MSG_REPLY };

struct ml_qmp *ml_qmp_new(int fd, const char *peer, ml_jsonline_log_fn log, void *opaque)
{
	struct ml_qmp *q = calloc(1, sizeof(*q));

	if (!q)
		abort();
	q->peer = strdup(peer ? peer : "QMP");
	q->events = json_array();
	if (!q->peer || !q->events)
		abort();
	q->next_id = 1;
	ml_jsonline_init(&q->jl, fd, ML_QMP_DEFAULT_MAX_LINE, q->peer, log, opaque);
	return q;
}

void ml_qmp_set_max_line(struct ml_qmp *q, size_t max_line)
{
	q->jl.max_line = max_line;
	q->jl.in.limit = max_line + 65536;
}

void ml_qmp_free(struct ml_qmp *q)
{
	if (!q)
		return;
	ml_jsonline_close(&q->jl);
	json_decref(q->greeting);
	json_decref(q->events);
	free(q->err_class);
	free(q->err_desc);
	free(q->dead);
	free(q->peer);
	free(q);
}

enum ml_qmp_err ml_qmp_last_err(const struct ml_qmp *q)
{
	return q->last_err;
}

const char *ml_qmp_error_class(const struct ml_qmp *q)
{
	return q->err_class ? q->err_class : "";
}

const char *ml_qmp_error_desc(const struct ml_qmp *q)
{
	return q->err_desc ? q->err_desc : "";
}

size_t ml_qmp_events_dropped(const struct ml_qmp *q)
{
	return q->dropped;
}

const json_t *ml_qmp_greeting(const struct ml_qmp *q)
{
	return q->greeting;
}

int ml_qmp_version(const struct ml_qmp *q, int *major, int *minor, int *micro)
{
	if (!q->have_version) {
		ml_error("%s: no QEMU version known before the QMP handshake", q->peer);
		return -1;
	}
	if (major)
		*major = q->version[0];
	if (minor)
		*minor = q->version[1];
	if (micro)
		*micro = q->version[2];
	return 0;
}

/* Start of a call: forget the previous outcome. */
static void call_begin(struct ml_qmp *q)
{
	q->last_err = ML_QMP_OK;
	q->skipped = 0;
	free(q->err_class);
	free(q->err_desc);
	q->err_class = q->err_desc = NULL;
}

static long long deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : ml_now_ms() + timeout_ms;
}

/* One more line skipped while waiting for something else. 0 while within
 * the budget; past ML_JSONLINE_MAX_SKIPPED (QEMU flooding events or stale
 * replies), reports "N events without the reply to CMD" (what) and returns
 * -1 with ML_QMP_ERR_IO (the cause is QEMU's behaviour, not slowness), but
 * the connection stays usable: the stream is still in step. */
static int count_skipped(struct ml_qmp *q, const char *what, const char *waiting_for,
			 int timeout_ms)
{
	if (++q->skipped < ML_JSONLINE_MAX_SKIPPED)
		return 0;
	q->last_err = ML_QMP_ERR_IO;
	ml_error("%s: %s: %zu events (or stale replies) without %s within the %d ms allowed",
		 what, q->peer, q->skipped, waiting_for, timeout_ms);
	return -1;
}

/* After a line was skipped: has the deadline passed? A peer sending lines
 * forever cannot keep a wait alive past it. */
static bool deadline_passed(long long deadline)
{
	return deadline >= 0 && ml_now_ms() > deadline;
}

/* A printable excerpt of untrusted text: control and non-ASCII bytes escaped,
 * cut after about 100 characters. */
static void excerpt(const char *s, size_t len, char *out, size_t outlen)
{
	size_t j = 0, i;

	for (i = 0; i < len && j + 8 < outlen && i < 100; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[j++] = (char)ch;
		else
			j += (size_t)snprintf(out + j, outlen - j, "\\x%02x", ch);
	}
	if (i < len && j + 4 <= outlen) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
}

static void excerpt_json(const json_t *v, char *out, size_t outlen)
{
	ml_autofree char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text)
		excerpt(text, strlen(text), out, outlen);
	else
		snprintf(out, outlen, "(unprintable)");
}

/* The connection can no longer be trusted: remember why (the current error
 * message) and fail every later call. Returns -1. */
static int mark_dead(struct ml_qmp *q)
{
	q->last_err = ML_QMP_ERR_IO;
	if (!q->dead) {
		q->dead = strdup(ml_error_message());
		if (!q->dead)
			abort();
	}
	return -1;
}

static int check_alive(struct ml_qmp *q, const char *what)
{
	if (!q->dead)
		return 0;
	q->last_err = ML_QMP_ERR_IO;
	ml_error("%s: %s: connection unusable after an earlier failure (%s)", what, q->peer,
		 q->dead);
	return -1;
}

static int report_timeout(struct ml_qmp *q, const char *what, int timeout_ms)
{
	q->last_err = ML_QMP_ERR_TIMEOUT;
	ml_error("%s: %s: no answer within %d ms", what, q->peer, timeout_ms);
	return -1;
}

/* A protocol violation naming an excerpt of the message; kills the connection. */
static int protocol_error(struct ml_qmp *q, const char *what, const char *problem,
			  const json_t *msg)
{
	char ex[160];

	excerpt_json(msg, ex, sizeof(ex));
	ml_error("%s: %s: %s: %s", what, q->peer, problem, ex);
	return mark_dead(q);
}

/* An answer of the wrong shape: an error, but the stream is still in step. */
static int bad_answer(struct ml_qmp *q, const char *what, const char *problem, const json_t *msg)
{
	char ex[160];

	excerpt_json(msg, ex, sizeof(ex));
	q->last_err = ML_QMP_ERR_IO;
	ml_error("%s: %s: %s: %s", what, q->peer, problem, ex);
	return -1;
}

static void queue_event(struct ml_qmp *q, json_t *ev)
{
	if (json_array_size(q->events) >= ML_QMP_MAX_QUEUED_EVENTS) {
		json_array_remove(q->events, 0);
		q->dropped++;
	}
	if (json_array_append_new(q->events, ev) < 0)
		abort();
}

/* A reply to a command that gave up waiting for it. */
static bool reply_is_stale(const struct ml_qmp *q, const json_t *id)
{
	json_int_t v;

	if (!json_is_integer(id))
		return false;
	v = json_integer_value(id);
	return v >= 1 && v < q->next_id && v != q->inflight;
}

/* Read the next message that matters until deadline: an event, or a reply
 * that is not stale. Returns 0 with *msg and *kind, 1 on timeout (not
 * reported: callers word it), -1 on a dead connection (reported, last_err
 * set). */
static int read_message(struct ml_qmp *q, long long deadline, const char *what, json_t **msg,
			enum msg_kind *kind)
{
	for (;;) {
		json_t *m = NULL;
		int r = ml_jsonline_recv(&q->jl, deadline, &m);
		json_auto_t *owned = NULL;

		if (r == ML_JSONLINE_TIMEOUT)
			return 1;
		if (r == ML_JSONLINE_EOF) {
			if (q->jl.in.len) {
				char ex[160];
				excerpt(q->jl.in.data, q->jl.in.len, ex, sizeof(ex));
				ml_error("%s: %s: connection closed by QEMU in the middle of a message "
					 "(%zu bytes received: \"%s\")",
					 what, q->peer, q->jl.in.len, ex);
			} else {
				ml_error("%s: %s: connection closed by QEMU (did it exit?)", what,
					 q->peer);
			}
			return mark_dead(q);
		}
		if (r != ML_JSONLINE_OK) {
			ml_error_context("%s", what);
			if (ml_interrupted) {
				/* Not the connection's fault: keep it, so the caller
				 * can still send migrate_cancel or quit. */
				q->last_err = ML_QMP_ERR_IO;
				return -1;
			}
			return mark_dead(q);
		}
		owned = m;
		if (json_object_get(m, "event")) {
			if (!json_is_string(json_object_get(m, "event")))
				return protocol_error(q, what, "malformed event", m);
			*kind = MSG_EVENT;
			*msg = ml_steal_pointer(&owned);
			return 0;
		}
		if (json_object_get(m, "return") || json_object_get(m, "error")) {
			if (reply_is_stale(q, json_object_get(m, "id"))) {
				/* Already in the transcript; nobody waits for it. */
				if (++q->skipped >= ML_JSONLINE_MAX_SKIPPED) {
					q->last_err = ML_QMP_ERR_IO;
					ml_error("%s: %s: %zu stale replies and events in one call",
						 what, q->peer, q->skipped);
					return -1;
				}
				continue;
			}
			*kind = MSG_REPLY;
			*msg = ml_steal_pointer(&owned);
			return 0;
		}
		if (json_object_get(m, "QMP"))
			return protocol_error(q, what, "unexpected second greeting", m);
		return protocol_error(q, what, "not a QMP message", m);
	}
}

/* Sending failed, most likely because QEMU exited. Keep the events it sent
 * before (they may say why: SHUTDOWN, GUEST_PANICKED) and, if the
 * connection turns out to be closed, say so rather than "Broken pipe". */
static int send_failed(struct ml_qmp *q, const char *cmd)
{
	ml_autofree char *send_error = strdup(ml_error_message());

	if (!send_error)
		abort();
	for (;;) {
		json_t *msg = NULL;
		enum msg_kind kind;
		int r = read_message(q, ml_now_ms(), cmd, &msg, &kind);

		if (r < 0)
			return -1; /* closed (or garbage): that error is the one */
		if (r > 0)
			break;
		if (kind == MSG_EVENT)
			queue_event(q, msg);
		else
			json_decref(msg);
	}
	ml_error("%s", send_error);
	return mark_dead(q);
}

/* Wait for the reply to the command in flight (q->inflight). */
static int await_reply(struct ml_qmp *q, const char *cmd, long long deadline, int timeout_ms,
		       json_t **ret)
{
	for (;;) {
		json_auto_t *msg = NULL;
		enum msg_kind kind;
		int r = read_message(q, deadline, cmd, &msg, &kind);
		const json_t *id, *err;

		if (r > 0)
			return report_timeout(q, cmd, timeout_ms);
		if (r < 0)
			return -1;
		if (kind == MSG_EVENT) {
			char waiting_for[128];

			queue_event(q, ml_steal_pointer(&msg));
			snprintf(waiting_for, sizeof(waiting_for), "the reply to %s", cmd);
			if (count_skipped(q, cmd, waiting_for, timeout_ms) < 0)
				return -1;
			if (deadline_passed(deadline))
				return report_timeout(q, cmd, timeout_ms);
			continue;
		}
		id = json_object_get(msg, "id");
		err = json_object_get(msg, "error");
		if (!(json_is_integer(id) && json_integer_value(id) == q->inflight) &&
		    !(id == NULL && err))
			return protocol_error(q, cmd, "reply to another command", msg);
		if (err) {
			const char *cls = ml_json_str(err, "class");
			const char *desc = ml_json_str(err, "desc");
			q->err_class = strdup(cls ? cls : "(no class)");
			q->err_desc = strdup(desc ? desc : "(no description)");
			if (!q->err_class || !q->err_desc)
				abort();
			q->last_err = ML_QMP_ERR_REPLY;
			ml_error("%s: %s: %s", cmd, q->err_class, q->err_desc);
			return -1;
		}
		if (ret)
			*ret = json_incref(json_object_get(msg, "return"));
		return 0;
	}
}

static int execute_until(struct ml_qmp *q, const char *cmd, json_t *args, long long deadline,
			 int timeout_ms, json_t **ret, int fd)
{
	json_auto_t *owned_args = args;
	json_auto_t *msg = NULL;
	int r;

	if (ret)
		*ret = NULL;
	if (check_alive(q, cmd) < 0)
		return -1;
	msg = json_object();
	if (!msg)
		abort();
	ml_json_set_str(msg, "execute", cmd);
	if (owned_args)
		ml_json_set(msg, "arguments", ml_steal_pointer(&owned_args));
	q->inflight = q->next_id++;
	ml_json_set_int(msg, "id", q->inflight);
	if ((fd >= 0 ? ml_jsonline_send_fd(&q->jl, msg, fd) : ml_jsonline_send(&q->jl, msg)) < 0) {
		q->inflight = 0;
		ml_error_context("%s", cmd);
		return send_failed(q, cmd);
	}
	r = await_reply(q, cmd, deadline, timeout_ms, ret);
	q->inflight = 0;
	return r;
}

int ml_qmp_execute(struct ml_qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret)
{
	call_begin(q);
	return execute_until(q, cmd, args, deadline_after(timeout_ms), timeout_ms, ret, -1);
}

int ml_qmp_execute_fd(struct ml_qmp *q, const char *cmd, json_t *args, int fd, int timeout_ms,
		      json_t **ret)
{
	call_begin(q);
	return execute_until(q, cmd, args, deadline_after(timeout_ms), timeout_ms, ret, fd);
}

static int parse_greeting(struct ml_qmp *q, const json_t *msg)
{
	const json_t *qmp = json_object_get(msg, "QMP");
	const json_t *ver = json_object_get(json_object_get(qmp, "version"), "qemu");
	const char *keys[] = { "major", "minor", "micro" };

	if (!json_is_object(qmp))
		return protocol_error(q, "QMP handshake", "expected the QMP greeting, got", msg);
	for (size_t i = 0; i < ML_ARRAY_SIZE(keys); i++) {
		const json_t *v = json_object_get(ver, keys[i]);
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100000)
			return protocol_error(q, "QMP handshake",
					      "greeting without a valid version", msg);
		q->version[i] = (int)json_integer_value(v);
	}
	return 0;
}

int ml_qmp_handshake(struct ml_qmp *q, int timeout_ms)
{
	long long deadline = deadline_after(timeout_ms);
	const char *what = "QMP handshake";
	json_auto_t *msg = NULL;
	int r;

	call_begin(q);
	if (check_alive(q, what) < 0)
		return -1;
	if (q->greeting) {
		q->last_err = ML_QMP_ERR_IO;
		ml_error("%s: %s: handshake already done", what, q->peer);
		return -1;
	}
	r = ml_jsonline_recv(&q->jl, deadline, &msg);
	if (r == ML_JSONLINE_TIMEOUT) {
		q->last_err = ML_QMP_ERR_TIMEOUT;
		ml_error("%s: %s: no greeting within %d ms", what, q->peer, timeout_ms);
		return -1;
	}
	if (r == ML_JSONLINE_EOF) {
		ml_error("%s: %s: connection closed by QEMU before its greeting", what, q->peer);
		return mark_dead(q);
	}
	if (r != ML_JSONLINE_OK) {
		ml_error_context("%s", what);
		return mark_dead(q);
	}
	if (parse_greeting(q, msg) < 0)
		return -1;
	q->greeting = ml_steal_pointer(&msg);
	if (execute_until(q, "qmp_capabilities", NULL, deadline, timeout_ms, NULL, -1) < 0)
		return -1;
	q->have_version = true;
	return 0;
}

int ml_qmp_wait_event(struct ml_qmp *q, const char *name, int timeout_ms, json_t **ev)
{
	long long deadline = deadline_after(timeout_ms);
	char what[160];
	size_t i;
	json_t *e;

	*ev = NULL;
	call_begin(q);
	json_array_foreach(q->events, i, e) {
		const char *n = ml_json_str(e, "event");
		if (n && strcmp(n, name) == 0) {
			*ev = json_incref(e);
			json_array_remove(q->events, i);
			return 0;
		}
	}
	snprintf(what, sizeof(what), "waiting for event %s", name);
	if (check_alive(q, what) < 0)
		return -1;
	for (;;) {
		json_auto_t *msg = NULL;
		enum msg_kind kind;
		int r = read_message(q, deadline, what, &msg, &kind);

		if (r > 0)
			return report_timeout(q, what, timeout_ms);
		if (r < 0)
			return -1;
		if (kind == MSG_REPLY)
			return protocol_error(q, what, "reply while no command runs", msg);
		if (strcmp(ml_json_str(msg, "event"), name) == 0) {
			*ev = ml_steal_pointer(&msg);
			return 0;
		}
		queue_event(q, ml_steal_pointer(&msg));
		if (count_skipped(q, what, name, timeout_ms) < 0)
			return -1;
		if (deadline_passed(deadline))
			return report_timeout(q, what, timeout_ms);
	}
}

/* Read and queue events until deadline; stop early after an event named
 * stop_at (if not NULL), or after ML_JSONLINE_MAX_SKIPPED events (a flood:
 * the rest stays unread for the next call). 0 when done, -1 if the
 * connection died. */
static int pump_events(struct ml_qmp *q, long long deadline, const char *what, const char *stop_at)
{
	/* A deadline already passed means "what is readable now" (take_events). */
	bool drain = deadline >= 0 && deadline <= ml_now_ms();

	if (check_alive(q, what) < 0)
		return -1;
	for (;;) {
		json_t *msg = NULL;
		enum msg_kind kind;
		int r = read_message(q, deadline, what, &msg, &kind);
		bool stop;

		if (r > 0)
			return 0;
		if (r < 0)
			return -1;
		if (kind == MSG_REPLY) {
			protocol_error(q, what, "reply while no command runs", msg);
			json_decref(msg);
			return -1;
		}
		stop = stop_at && strcmp(ml_json_str(msg, "event"), stop_at) == 0;
		queue_event(q, msg);
		if (stop || ++q->skipped >= ML_JSONLINE_MAX_SKIPPED)
			return 0;
		if (!drain && deadline_passed(deadline))
			return 0;
	}
}

json_t *ml_qmp_take_events(struct ml_qmp *q)
{
	json_t *out;

	call_begin(q);
	/* A deadline already passed: read only what is there, never block. */
	if (!q->dead)
		pump_events(q, ml_now_ms(), "taking events", NULL);
	out = q->events;
	q->events = json_array();
	if (!q->events)
		abort();
	return out;
}

int ml_qmp_query_status(struct ml_qmp *q, int timeout_ms, char **status)
{
	json_auto_t *ret = NULL;
	const char *s;

	*status = NULL;
	if (ml_qmp_execute(q, "query-status", NULL, timeout_ms, &ret) < 0)
		return -1;
	s = ml_json_str(ret, "status");
	if (!s)
		return bad_answer(q, "query-status", "answer without a status", ret);
	*status = strdup(s);
	if (!*status)
		abort();
	return 0;
}

int ml_qmp_query_migrate(struct ml_qmp *q, int timeout_ms, json_t **info)
{
	json_auto_t *ret = NULL;

	*info = NULL;
	if (ml_qmp_execute(q, "query-migrate", NULL, timeout_ms, &ret) < 0)
		return -1;
	if (!json_is_object(ret))
		return bad_answer(q, "query-migrate", "answer is not an object", ret);
	*info = ml_steal_pointer(&ret);
	return 0;
}

static bool migration_terminal(const char *status, const char *const *terminal)
{
	static const char *const defaults[] = { "completed", "failed", "cancelled", NULL };

	if (!status)
		return false;
	if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)
		return true;
	for (const char *const *t = terminal ? terminal : defaults; *t; t++)
		if (strcmp(status, *t) == 0)
			return true;
	return false;
}

int ml_qmp_wait_migration(struct ml_qmp *q, const char *const *terminal_states, int timeout_ms,
			  json_t **final_info)
{
	long long deadline = deadline_after(timeout_ms);
	json_auto_t *last = NULL;
	const char *what = "waiting for the migration";

	if (final_info)
		*final_info = NULL;
	for (;;) {
		json_t *info = NULL;
		long long now = ml_now_ms(), until;
		int left = deadline < 0 ? -1 : (int)(deadline > now ? deadline - now : 0);

		if (ml_qmp_query_migrate(q, left, &info) < 0) {
			if (q->last_err == ML_QMP_ERR_TIMEOUT)
				goto timeout;
			goto fail;
		}
		json_decref(last);
		last = info;
		if (migration_terminal(ml_json_str(last, "status"), terminal_states)) {
			if (final_info)
				*final_info = ml_steal_pointer(&last);
			return 0;
		}
		now = ml_now_ms();
		until = now + ML_QMP_MIGRATE_POLL_MS;
		if (deadline >= 0 && until > deadline)
			until = deadline;
		/* A MIGRATION event says the status changed: query at once. */
		if (pump_events(q, until, what, "MIGRATION") < 0)
			goto fail;
		if (deadline >= 0 && ml_now_ms() >= deadline)
			goto timeout;
	}
timeout:
	q->last_err = ML_QMP_ERR_TIMEOUT;
	{
		const char *status = ml_json_str(last, "status");
		ml_error("%s: %s: still %s after %d ms", what, q->peer,
			 status ? status : "not started", timeout_ms);
	}
fail:
	if (final_info)
		*final_info = ml_steal_pointer(&last);
	return -1;
}
