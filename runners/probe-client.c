/* Host side of the probe protocol (see probe-client.h and
 * docs/probe-protocol.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "probe-client.h"
#include "ml-error.h"
#include "ml-proc.h"
#include "ml-common.h"

/* The agent refuses longer request lines; refuse them here, with a clearer
 * message than its LineTooLong (which carries no id). */
#define PROBE_MAX_REQUEST ((size_t)64 << 10)
/* Lines that are not JSON objects skipped in one wait before giving up: a
 * cut reply leaves one or two; a stream of them means a broken channel. */
#define MAX_GARBAGE_LINES 16

struct ml_probe {
	struct ml_jsonline ch;
	char peer[128];
	long long next_id;
	char last_class[64];
	int broken; /* the channel cannot be resynchronised (over-long line) */
};

enum { WAIT_OK = 0, WAIT_ERROR = -1, WAIT_TIMEOUT = 1 };

int ml_probe_open(int fd, const char *peer, ml_jsonline_log_fn log, void *opaque,
		  struct ml_probe **out)
{
	struct ml_probe *p = calloc(1, sizeof(*p));

	if (!p) {
		if (fd >= 0)
			close(fd);
		ml_error("%s: out of memory", peer ? peer : "probe");
		return -1;
	}
	if (fd < 0) {
		free(p);
		ml_error("%s: no connection (fd %d)", peer ? peer : "probe", fd);
		return -1;
	}
	snprintf(p->peer, sizeof(p->peer), "%s", peer ? peer : "probe");
	p->next_id = 1;
	/* The cap is for the line without its newline. */
	ml_jsonline_init(&p->ch, fd, ML_PROBE_MAX_REPLY - 1, p->peer, log, opaque);
	*out = p;
	return 0;
}

void ml_probe_free(struct ml_probe *p)
{
	if (!p)
		return;
	ml_jsonline_close(&p->ch);
	free(p);
}

const char *ml_probe_last_error_class(const struct ml_probe *p)
{
	return p->last_class;
}

int ml_probe_send_raw(struct ml_probe *p, const char *data, size_t len)
{
	return ml_jsonline_send_raw(&p->ch, data, len);
}

int ml_probe_recv(struct ml_probe *p, int timeout_ms, json_t **msg)
{
	return ml_jsonline_recv(&p->ch, ml_now_ms() + timeout_ms, msg);
}

/* Send one request with a fresh id; *id_out gets it. */
static int send_request(struct ml_probe *p, const char *cmd, json_t *args, long long *id_out)
{
	json_auto_t *req = NULL;
	ml_autofree char *text = NULL;
	ml_autofree char *line = NULL;
	size_t len;

	req = json_pack("{s:I, s:s}", "id", (json_int_t)p->next_id, "cmd", cmd);
	if (!req)
		abort();
	if (args && json_object_set_new(req, "args", args) < 0) {
		ml_error("%s: %s: cannot add the arguments", p->peer, cmd);
		return -1;
	}
	text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		ml_error("%s: %s: cannot serialise the request", p->peer, cmd);
		return -1;
	}
	len = strlen(text);
	if (len > PROBE_MAX_REQUEST) {
		ml_error("%s: %s: request of %zu bytes passes the agent's limit of %zu", p->peer, cmd,
			 len, PROBE_MAX_REQUEST);
		return -1;
	}
	line = malloc(len + 1);
	if (!line)
		abort();
	memcpy(line, text, len);
	line[len] = '\n';
	if (p->ch.log)
		p->ch.log(p->ch.log_opaque, '>', text, len);
	if (ml_jsonline_send_raw(&p->ch, line, len + 1) < 0)
		return ml_error_context("%s", cmd);
	*id_out = p->next_id++;
	return 0;
}

/* Wait for the reply to one of the ids min_id..max_id. Replies with other
 * ids (or none) and lines that are not JSON are skipped. */
static int wait_reply(struct ml_probe *p, const char *cmd, long long min_id, long long max_id,
		      long long deadline, json_t **ret)
{
	int garbage = 0;

	for (;;) {
		json_t *msg = NULL, *id, *err, *val;
		int r = ml_jsonline_recv(&p->ch, deadline, &msg);

		if (r == ML_JSONLINE_TIMEOUT)
			return WAIT_TIMEOUT;
		if (r == ML_JSONLINE_EOF)
			return ml_error_context("%s", cmd);
		if (r == ML_JSONLINE_ERROR) {
			/* An interrupt is not garbage: give up at once, saying why. */
			if (ml_interrupted)
				return ml_error_context("%s", cmd);
			if (p->ch.in.len > p->ch.max_line) {
				p->broken = 1;
				return ml_error_context("%s", cmd);
			}
			if (++garbage > MAX_GARBAGE_LINES)
				return ml_error_context("%s: giving up after %d bad lines", cmd, garbage - 1);
			continue;
		}
		id = json_object_get(msg, "id");
		if (!json_is_integer(id) || json_integer_value(id) < min_id ||
		    json_integer_value(id) > max_id) {
			json_decref(msg); /* stale, or an error about a line we did not send */
			continue;
		}
		err = json_object_get(msg, "error");
		if (err) {
			const char *cls = json_string_value(json_object_get(err, "class"));
			const char *desc = json_string_value(json_object_get(err, "desc"));
			snprintf(p->last_class, sizeof(p->last_class), "%s", cls ? cls : "?");
			ml_error("%s: %s: %s: %.1024s", p->peer, cmd, cls ? cls : "(no class)",
				 desc ? desc : "(no description)");
			json_decref(msg);
			return WAIT_ERROR;
		}
		val = json_object_get(msg, "return");
		if (!json_is_object(val)) {
			ml_error("%s: %s: the reply has neither \"return\" object nor \"error\"",
				 p->peer, cmd);
			json_decref(msg);
			return WAIT_ERROR;
		}
		*ret = json_incref(val);
		json_decref(msg);
		return WAIT_OK;
	}
}

int ml_probe_call(struct ml_probe *p, const char *cmd, json_t *args, int timeout_ms, json_t **ret)
{
	long long deadline = ml_now_ms() + timeout_ms;
	long long id;
	int r;

	p->last_class[0] = '\0';
	if (p->broken) {
		json_decref(args);
		ml_error("%s: %s: the channel is broken (an over-long line); reconnect", p->peer, cmd);
		return -1;
	}
	if (send_request(p, cmd, args, &id) < 0)
		return -1;
	r = wait_reply(p, cmd, id, id, deadline, ret);
	if (r == WAIT_TIMEOUT) {
		ml_error("%s: %s: no reply within %d ms", p->peer, cmd, timeout_ms);
		return -1;
	}
	return r;
}

int ml_probe_hello(struct ml_probe *p, int timeout_ms, json_t **ret)
{
	long long start = ml_now_ms(), deadline = start + timeout_ms;
	long long first_id = p->next_id;
	int sent = 0;

	p->last_class[0] = '\0';
	if (p->broken) {
		ml_error("%s: hello: the channel is broken (an over-long line); reconnect", p->peer);
		return -1;
	}
	for (;;) {
		long long now = ml_now_ms(), id, until;
		int r;

		if (send_request(p, "hello", NULL, &id) < 0)
			return -1;
		sent++;
		until = now + ML_PROBE_HELLO_INTERVAL_MS;
		if (until > deadline)
			until = deadline;
		/* A late answer to an earlier hello is as good. */
		r = wait_reply(p, "hello", first_id, id, until, ret);
		if (r != WAIT_TIMEOUT)
			return r;
		if (ml_now_ms() >= deadline) {
			ml_error("%s: no answer to hello within %d ms (%d sent): is the guest up?",
				 p->peer, timeout_ms, sent);
			return -1;
		}
	}
}
