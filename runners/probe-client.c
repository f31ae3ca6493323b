/* Host side of the probe protocol (see probe-client.h and
 * docs/probe-protocol.md). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "probe-client.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-json.h"
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
	ml_jsonline_log(&p->ch, '>', text, len);
	if (ml_jsonline_send_raw(&p->ch, line, len + 1) < 0)
		return ml_error_context("%s", cmd);
	*id_out = p->next_id++;
	return 0;
}

/* Wait for the reply to one of the ids min_id..max_id. Replies with other
 * ids (or none) and lines that are not JSON are skipped, at most
 * ML_JSONLINE_MAX_SKIPPED of them: a peer answering with other ids forever
 * gets an error naming that, not a call that never ends. */
static int wait_reply(struct ml_probe *p, const char *cmd, long long min_id, long long max_id,
		      long long deadline, json_t **ret)
{
	int garbage = 0;
	size_t skipped = 0;

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
			if (++skipped >= ML_JSONLINE_MAX_SKIPPED) {
				ml_error("%s: %s: %zu lines without the reply to id %lld", p->peer,
					 cmd, skipped, max_id);
				return WAIT_ERROR;
			}
			/* Lines keep coming: the deadline still holds. */
			if (ml_now_ms() > deadline)
				return WAIT_TIMEOUT;
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

/* --- abi-dump: paged transfer of one snapshot ------------------------------ */

/* One request waits at most this share of the whole timeout (at least 1 s)
 * before the page is asked for again. */
#define ABI_ATTEMPTS 4
#define ABI_MIN_ATTEMPT_MS 1000

static int abi_sha256(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		ml_error("cannot compute sha256");
		return -1;
	}
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
	return 0;
}

/* Send one abi-dump request and wait for its page, asking again (new id,
 * same arguments) when a reply does not come in time. args is borrowed. */
static int abi_fetch(struct ml_probe *p, json_t *args, long long deadline, int attempt_ms,
		     int *retries, json_t **page)
{
	long long first_id = p->next_id;

	for (;;) {
		long long now = ml_now_ms(), id, until;
		int r;

		if (now >= deadline) {
			ml_error("%s: abi-dump: no reply within the timeout", p->peer);
			return -1;
		}
		if (send_request(p, "abi-dump", args ? json_deep_copy(args) : NULL, &id) < 0)
			return -1;
		until = now + attempt_ms < deadline ? now + attempt_ms : deadline;
		r = wait_reply(p, "abi-dump", first_id, id, until, page);
		if (r != WAIT_TIMEOUT)
			return r;
		(*retries)++;
	}
}

/* Check one page against the request and the pages before it. */
static int abi_check_page(struct ml_probe *p, json_t *page, size_t max, json_int_t *snap,
			  size_t cursor, json_int_t *total, char sha[65], const char **data,
			  size_t *dlen, json_t **next)
{
	json_t *js = json_object_get(page, "snapshot"), *jo = json_object_get(page, "offset");
	json_t *jd = json_object_get(page, "data"), *jt = json_object_get(page, "total");
	const char *jsha = ml_json_str(page, "sha256");

	*next = json_object_get(page, "next_cursor");
	if (!json_is_integer(js) || !json_is_integer(jo) || !json_is_string(jd) ||
	    !json_is_integer(jt) || !jsha || strlen(jsha) != 64 || !*next ||
	    !(json_is_null(*next) || json_is_integer(*next))) {
		ml_error("%s: abi-dump: malformed page at offset %zu (snapshot, offset, data, "
			 "next_cursor, total, sha256 expected)", p->peer, cursor);
		return -1;
	}
	if (*snap && json_integer_value(js) != *snap) {
		ml_error("%s: abi-dump: the page at offset %zu is of snapshot %lld, not %lld",
			 p->peer, cursor, (long long)json_integer_value(js), (long long)*snap);
		return -1;
	}
	if ((size_t)json_integer_value(jo) != cursor) {
		ml_error("%s: abi-dump: asked for offset %zu, got offset %lld", p->peer, cursor,
			 (long long)json_integer_value(jo));
		return -1;
	}
	/* Refused before its bytes are fetched, let alone parsed. */
	if (json_integer_value(jt) > 0 && (uint64_t)json_integer_value(jt) > max) {
		ml_error("%s: abi-dump: the agent announces %lld bytes, more than the limit of %zu "
			 "bytes for an ABI dump", p->peer, (long long)json_integer_value(jt), max);
		snprintf(p->last_class, sizeof(p->last_class), "%s", ML_PROBE_ABI_TOO_LARGE);
		return -1;
	}
	if (json_integer_value(jt) < 0 || (*total >= 0 && json_integer_value(jt) != *total) || (sha[0] && strcmp(sha, jsha))) {
		ml_error("%s: abi-dump: the page at offset %zu announces another total or sha256 "
			 "(%lld bytes, %s) than the first page", p->peer, cursor,
			 (long long)json_integer_value(jt), jsha);
		return -1;
	}
	*snap = json_integer_value(js);
	*total = json_integer_value(jt);
	snprintf(sha, 65, "%s", jsha);
	*data = json_string_value(jd);
	*dlen = json_string_length(jd);
	if (json_is_integer(*next) && (json_integer_value(*next) < 0 ||
				       (size_t)json_integer_value(*next) != cursor + *dlen)) {
		ml_error("%s: abi-dump: the page at offset %zu has %zu bytes but its next cursor "
			 "is %lld", p->peer, cursor, *dlen, (long long)json_integer_value(*next));
		return -1;
	}
	if (json_is_integer(*next) && *dlen == 0) {
		ml_error("%s: abi-dump: an empty page at offset %zu that is not the last", p->peer,
			 cursor);
		return -1;
	}
	return 0;
}

struct abi_transfer {
	struct ml_buf text;
	size_t max;
	json_int_t snap, total, collect_ms;
	char sha[65];
	int pages, retries;
};

/* Fetch every page of a new snapshot into t->text. */
static int abi_transfer(struct ml_probe *p, long long deadline, int attempt_ms,
			struct abi_transfer *t)
{
	size_t cursor = 0;

	ml_buf_reset(&t->text);
	t->snap = 0;
	t->total = -1;
	t->collect_ms = -1;
	t->sha[0] = '\0';
	t->pages = 0;
	for (;;) {
		json_auto_t *args = NULL;
		json_auto_t *page = NULL;
		const char *data;
		size_t dlen;
		json_t *next;

		if (t->pages)
			args = json_pack("{s:I, s:I}", "snapshot", t->snap, "cursor",
					 (json_int_t)cursor);
		if (abi_fetch(p, args, deadline, attempt_ms, &t->retries, &page) < 0)
			return ml_error_context("after %d pages (%zu bytes)", t->pages, t->text.len);
		if (abi_check_page(p, page, t->max, &t->snap, cursor, &t->total, t->sha, &data, &dlen,
				   &next) < 0)
			return -1;
		if (!t->pages)
			t->collect_ms = ml_json_int(page, "collect_ms", -1);
		if (cursor + dlen > (size_t)t->total) {
			ml_error("%s: abi-dump: the pages pass the announced total of %lld bytes",
				 p->peer, (long long)t->total);
			return -1;
		}
		if (ml_buf_append(&t->text, data, dlen) < 0)
			return -1;
		t->pages++;
		cursor += dlen;
		if (json_is_null(next))
			return 0;
	}
}

int ml_probe_abi_dump(struct ml_probe *p, int timeout_ms, size_t max_bytes, json_t **dump,
		      json_t **meta)
{
	long long t0 = ml_now_ms(), deadline = t0 + timeout_ms;
	int attempt_ms = timeout_ms / ABI_ATTEMPTS > ABI_MIN_ATTEMPT_MS ? timeout_ms / ABI_ATTEMPTS
									 : ABI_MIN_ATTEMPT_MS;
	struct abi_transfer t = { .text = ML_BUF_INIT(max_bytes), .max = max_bytes };
	char got[65];
	json_t *doc = NULL;
	int ret = -1;

	p->last_class[0] = '\0';
	if (p->broken) {
		ml_error("%s: abi-dump: the channel is broken (an over-long line); reconnect", p->peer);
		return -1;
	}
	/* A retried first request makes a newer snapshot behind our back: the
	 * next page is then refused (InvalidState) and the transfer restarts. */
	for (int restarts = 0;; restarts++) {
		if (abi_transfer(p, deadline, attempt_ms, &t) == 0)
			break;
		if (restarts >= 2 || strcmp(p->last_class, "InvalidState") || ml_now_ms() >= deadline)
			goto out;
		t.retries++;
	}
	if (t.text.len != (size_t)t.total) {
		ml_error("%s: abi-dump: truncated: the last page ends at %zu bytes of %lld", p->peer,
			 t.text.len, (long long)t.total);
		goto out;
	}
	if (abi_sha256(t.text.data ? t.text.data : "", t.text.len, got) < 0)
		goto out;
	if (strcmp(got, t.sha)) {
		ml_error("%s: abi-dump: sha256 mismatch: the agent announced %s, the %zu bytes "
			 "received hash to %s", p->peer, t.sha, t.text.len, got);
		goto out;
	}
	doc = ml_json_parse(t.text.data ? t.text.data : "", t.text.len, "the ABI dump");
	if (!doc) {
		ml_error_context("%s: abi-dump", p->peer);
		goto out;
	}
	if (!json_is_object(doc) || !ml_json_str(doc, "schema") ||
	    strncmp(ml_json_str(doc, "schema"), "miglab-abi/", 11)) {
		ml_error("%s: abi-dump: the text is not an ABI dump (no \"schema\": \"miglab-abi/N\")",
			 p->peer);
		goto out;
	}
	if (meta) {
		*meta = json_pack("{s:I, s:I, s:i, s:i, s:s, s:I, s:I}", "snapshot", t.snap, "total",
				  t.total, "pages", t.pages, "retries", t.retries, "sha256", t.sha,
				  "collect_ms", t.collect_ms, "transfer_ms",
				  (json_int_t)(ml_now_ms() - t0));
		if (!*meta)
			abort();
	}
	*dump = ml_steal_pointer(&doc);
	ret = 0;
out:
	json_decref(doc);
	ml_buf_free(&t.text);
	return ret;
}
