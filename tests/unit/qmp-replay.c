/* Replay harness for QMP tests (see qmp-replay.h). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "ml-buf.h"
#include "qmp-replay.h"
#include "testhelp.h"
#include "ml-common.h"

#define QR_IO_TIMEOUT_MS 10000

enum qr_op {
	QR_EXPECT,
	QR_SEND,
	QR_SEND_RAW,
	QR_SLEEP,
	QR_CLOSE,
	QR_ANSWER_FOREVER,
	QR_ANSWER_WHILE,
	QR_CLIENT_MAY_CLOSE,
};

struct qr_step {
	enum qr_op op;
	char *text;    /* expected or sent line (without newline); raw bytes */
	size_t len;
	char *reply;   /* QR_ANSWER_FOREVER, QR_ANSWER_WHILE */
	int ms;        /* QR_SLEEP */
	int pieces;    /* QR_SEND: write in this many pieces ... */
	int delay_ms;  /* ... this far apart */
};

struct qr_script {
	struct qr_step *steps;
	size_t n, cap;
};

struct qr_peer {
	pthread_t thread;
	int fd;
	struct qr_script *script;
	struct ml_buf in;
	char *pending;     /* a client line QR_ANSWER_WHILE read for the next step */
	json_t *client_id; /* id of the client's last command */
	bool may_close;    /* the client may hang up from here on */
	bool client_gone;  /* ... and it did: the script stops */
	char err[2048];
};

struct qr_script *qr_script_new(void)
{
	struct qr_script *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	return s;
}

void qr_script_free(struct qr_script *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->steps[i].text);
		free(s->steps[i].reply);
	}
	free(s->steps);
	free(s);
}

size_t qr_steps(const struct qr_script *s)
{
	return s->n;
}

static struct qr_step *add_step(struct qr_script *s, enum qr_op op, const char *text, size_t len)
{
	struct qr_step *st;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->steps = realloc(s->steps, s->cap * sizeof(*s->steps));
		assert_non_null(s->steps);
	}
	st = &s->steps[s->n++];
	memset(st, 0, sizeof(*st));
	st->op = op;
	if (text) {
		st->text = malloc(len + 1);
		assert_non_null(st->text);
		memcpy(st->text, text, len);
		st->text[len] = '\0';
		st->len = len;
	}
	st->pieces = 1;
	return st;
}

void qr_expect(struct qr_script *s, const char *json)
{
	add_step(s, QR_EXPECT, json, strlen(json));
}

void qr_send(struct qr_script *s, const char *json)
{
	add_step(s, QR_SEND, json, strlen(json));
}

void qr_send_raw(struct qr_script *s, const char *data, size_t len)
{
	add_step(s, QR_SEND_RAW, data, len);
}

void qr_sleep(struct qr_script *s, int ms)
{
	add_step(s, QR_SLEEP, NULL, 0)->ms = ms;
}

void qr_close(struct qr_script *s)
{
	add_step(s, QR_CLOSE, NULL, 0);
}

void qr_client_may_close(struct qr_script *s)
{
	add_step(s, QR_CLIENT_MAY_CLOSE, NULL, 0);
}

void qr_answer_forever(struct qr_script *s, const char *expect, const char *reply)
{
	struct qr_step *st = add_step(s, QR_ANSWER_FOREVER, expect, strlen(expect));
	st->reply = strdup(reply);
	assert_non_null(st->reply);
}

void qr_answer_while(struct qr_script *s, const char *expect, const char *reply)
{
	struct qr_step *st = add_step(s, QR_ANSWER_WHILE, expect, strlen(expect));
	st->reply = strdup(reply);
	assert_non_null(st->reply);
}

void qr_split(struct qr_script *s, size_t from, size_t to, int pieces, int delay_ms)
{
	assert_true(from <= to && to <= s->n && pieces >= 1);
	for (size_t i = from; i < to; i++) {
		if (s->steps[i].op == QR_SEND) {
			s->steps[i].pieces = pieces;
			s->steps[i].delay_ms = delay_ms;
		}
	}
}

size_t qr_load(struct qr_script *s, const char *fixture, const char *section, unsigned which)
{
	char rel[256];
	FILE *f;
	char *line = NULL;
	size_t cap = 0, first = s->n;
	ssize_t len;
	bool in_section = section == NULL, found = section == NULL;

	snprintf(rel, sizeof(rel), "qmp/%s", fixture);
	f = fopen(ml_test_data(rel), "r");
	if (!f)
		fail_msg("cannot open fixture %s", ml_test_data(rel));
	while ((len = getline(&line, &cap, f)) >= 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strncmp(line, "## ", 3) == 0) {
			if (section) {
				in_section = strcmp(line + 3, section) == 0;
				found = found || in_section;
			}
			continue;
		}
		if (!in_section || len < 2 || line[1] != ' ')
			continue;
		if (line[0] == '>' && (which & QR_CLIENT))
			add_step(s, QR_EXPECT, line + 2, (size_t)len - 2);
		else if (line[0] == '<' && (which & QR_SERVER))
			add_step(s, QR_SEND, line + 2, (size_t)len - 2);
	}
	free(line);
	fclose(f);
	if (!found || s->n == first)
		fail_msg("fixture %s: no section \"%s\" (or no lines of it)", fixture,
			 section ? section : "(all)");
	return first;
}

void qr_load_repeated(struct qr_script *s, const char *fixture, const char *section)
{
	struct qr_script *one = qr_script_new();

	qr_load(one, fixture, section, QR_BOTH);
	if (one->n != 2 || one->steps[0].op != QR_EXPECT || one->steps[1].op != QR_SEND)
		fail_msg("fixture %s: section \"%s\" is not one command and one reply", fixture,
			 section);
	qr_answer_while(s, one->steps[0].text, one->steps[1].text);
	qr_script_free(one);
}

/* --- the peer thread --- */

static void peer_fail(struct qr_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void peer_fail(struct qr_peer *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Read one client line. 1 with *line (caller frees), 0 at EOF, -1 on error
 * or timeout (reported). */
static int peer_read_line(struct qr_peer *p, char **line)
{
	if (p->pending) {
		*line = ml_steal_pointer(&p->pending);
		return 1;
	}
	for (;;) {
		char *nl = p->in.len ? memchr(p->in.data, '\n', p->in.len) : NULL;
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - p->in.data);
			*line = strndup(p->in.data, l);
			ml_buf_consume(&p->in, l + 1);
			return 1;
		}
		if (poll(&pfd, 1, QR_IO_TIMEOUT_MS) == 0) {
			peer_fail(p, "the client sent nothing for %d ms", QR_IO_TIMEOUT_MS);
			return -1;
		}
		n = ml_buf_read_fd(&p->in, p->fd, 65536);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN) {
			peer_fail(p, "reading from the client: %s", strerror(errno));
			return -1;
		}
	}
}

static int peer_write(struct qr_peer *p, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(p->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && p->may_close && (errno == EPIPE || errno == ECONNRESET)) {
			p->client_gone = true;
			return -1;
		}
		if (n < 0) {
			peer_fail(p, "writing to the client: %s", strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Does the client line match the expected one (ids aside)? Remembers the
 * client's id. */
static bool peer_match(struct qr_peer *p, const char *expected, const char *got)
{
	json_t *want = json_loads(expected, 0, NULL);
	json_t *have = json_loads(got, 0, NULL);
	bool ok = false;

	if (want && json_is_object(have) &&
	    !json_object_get(want, "id") == !json_object_get(have, "id")) {
		json_decref(p->client_id);
		p->client_id = json_incref(json_object_get(have, "id"));
		json_object_del(want, "id");
		json_object_del(have, "id");
		ok = json_equal(want, have);
	}
	json_decref(want);
	json_decref(have);
	return ok;
}

/* The server line with the client's id in place of the recorded one. The
 * recorded bytes are kept (QEMU's spacing) when the id can be replaced in the
 * text; otherwise the line is re-serialised. */
static char *peer_line(struct qr_peer *p, const char *text)
{
	json_t *v = json_loads(text, 0, NULL);
	const json_t *id = json_object_get(v, "id");
	struct ml_buf out = ML_BUF_INIT(0);
	char *out_text;

	if (!id || !p->client_id) {
		json_decref(v);
		return strdup(text);
	}
	if (json_is_integer(id) && json_is_integer(p->client_id)) {
		char pat[64];
		const char *hit, *next;
		snprintf(pat, sizeof(pat), "\"id\": %lld", (long long)json_integer_value(id));
		hit = strstr(text, pat);
		next = hit ? strstr(hit + 1, pat) : NULL;
		if (hit && !next && !(hit[strlen(pat)] >= '0' && hit[strlen(pat)] <= '9')) {
			assert_int_equal(ml_buf_append(&out, text, (size_t)(hit - text)), 0);
			assert_int_equal(ml_buf_printf(&out, "\"id\": %lld",
						       (long long)json_integer_value(p->client_id)), 0);
			assert_int_equal(ml_buf_puts(&out, hit + strlen(pat)), 0);
			json_decref(v);
			return ml_buf_steal(&out);
		}
	}
	json_object_set(v, "id", p->client_id);
	out_text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	return out_text;
}

static int peer_send_line(struct qr_peer *p, const struct qr_step *st)
{
	ml_autofree char *line = peer_line(p, st->text);
	size_t len = strlen(line), done = 0;

	for (int i = 1; i <= st->pieces; i++) {
		/* Uneven cuts so the pieces end inside tokens. */
		size_t end = i == st->pieces ? len : len * (size_t)(2 * i + 1) / (size_t)(2 * st->pieces + 1);
		if (end > done && peer_write(p, line + done, end - done) < 0)
			return -1;
		if (end > done)
			done = end;
		if (st->delay_ms) /* also before the newline */
			sleep_ms(st->delay_ms);
	}
	return peer_write(p, "\n", 1);
}

static void peer_answer_forever(struct qr_peer *p, const struct qr_step *st)
{
	struct qr_step reply = { .op = QR_SEND, .text = st->reply, .pieces = 1 };

	for (;;) {
		ml_autofree char *line = NULL;
		int r = peer_read_line(p, &line);
		if (r <= 0)
			return;
		if (!peer_match(p, st->text, line)) {
			peer_fail(p, "expected %s, the client sent %s", st->text, line);
			return;
		}
		if (peer_send_line(p, &reply) < 0)
			return;
	}
}

/* Answer lines matching the step's; keep the first other line for the next step. */
static void peer_answer_while(struct qr_peer *p, const struct qr_step *st)
{
	struct qr_step reply = { .op = QR_SEND, .text = st->reply, .pieces = 1 };

	for (;;) {
		char *line = NULL;
		int r = peer_read_line(p, &line);
		if (r <= 0)
			return;
		if (!peer_match(p, st->text, line)) {
			p->pending = line;
			return;
		}
		free(line);
		if (peer_send_line(p, &reply) < 0)
			return;
	}
}

static void *peer_main(void *opaque)
{
	struct qr_peer *p = opaque;
	struct qr_script *s = p->script;
	size_t i;

	for (i = 0; i < s->n && !p->err[0] && !p->client_gone; i++) {
		const struct qr_step *st = &s->steps[i];
		ml_autofree char *line = NULL;
		int r;

		switch (st->op) {
		case QR_EXPECT:
			r = peer_read_line(p, &line);
			if (r == 0 && p->may_close) {
				p->client_gone = true;
				goto out;
			}
			if (r == 0)
				peer_fail(p, "step %zu: the client closed, expected %s", i, st->text);
			else if (r > 0 && !peer_match(p, st->text, line))
				peer_fail(p, "step %zu: expected %s, the client sent %s", i, st->text,
					  line);
			break;
		case QR_SEND:
			peer_send_line(p, st);
			break;
		case QR_SEND_RAW:
			peer_write(p, st->text, st->len);
			break;
		case QR_SLEEP:
			sleep_ms(st->ms);
			break;
		case QR_CLOSE:
			goto out;
		case QR_CLIENT_MAY_CLOSE:
			p->may_close = true;
			break;
		case QR_ANSWER_FOREVER:
			peer_answer_forever(p, st);
			goto out;
		case QR_ANSWER_WHILE:
			peer_answer_while(p, st);
			break;
		}
	}
	/* Script done: the client must not send anything more. */
	while (!p->err[0] && !p->client_gone) {
		ml_autofree char *line = NULL;
		int r = peer_read_line(p, &line);
		if (r > 0)
			peer_fail(p, "after the script, the client sent %s", line);
		if (r <= 0)
			break;
	}
out:
	close(p->fd);
	p->fd = -1;
	return NULL;
}

struct qr_peer *qr_start(struct qr_script *s, int *client_fd)
{
	struct qr_peer *p = calloc(1, sizeof(*p));
	int sv[2];

	assert_non_null(p);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->fd = sv[1];
	p->script = s;
	p->in.limit = 64 << 20;
	*client_fd = sv[0];
	assert_int_equal(pthread_create(&p->thread, NULL, peer_main, p), 0);
	return p;
}

int qr_finish(struct qr_peer *p, char **err)
{
	int ret;

	pthread_join(p->thread, NULL);
	ret = p->err[0] ? -1 : 0;
	if (err)
		*err = p->err[0] ? strdup(p->err) : NULL;
	qr_script_free(p->script);
	free(p->pending);
	json_decref(p->client_id);
	ml_buf_free(&p->in);
	free(p);
	return ret;
}
