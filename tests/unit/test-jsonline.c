/* Deadlines and caps a peer cannot defeat: the line transport (jsonline.c),
 * QMP and the probe client against a thread on a socketpair that floods
 * blank lines, partial lines, events or replies with other ids. Every flood
 * is bounded (a line count or a time limit, or until the reader closes), and
 * timings are asserted only with large margins. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsonline.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-proc.h"
#include "probe-client.h"
#include "qmp.h"
#include "testhelp.h"
#include "ml-common.h"

/* The deadline of the calls that must time out, and the bound they are held to. */
#define DEADLINE_MS 300
#define MARGIN_MS 5000
/* Floods stop after this many lines, or when the reader closes. */
#define FLOOD_MAX_LINES 200000
/* A trickle (one line or byte per millisecond) stops after this long, and so
 * does a flood bounded by time rather than lines. */
#define TRICKLE_MAX_MS 10000

struct flood {
	int fd;
	const char *line;  /* sent over and over */
	size_t max_lines;  /* 0: trickle, one line per ms for TRICKLE_MAX_MS;
			    * SIZE_MAX: full speed for TRICKLE_MAX_MS */
	size_t sent;       /* lines sent */
	int close_at_end;  /* close fd after the last line (the reader sees EOF) */
};

static void *flood_thread(void *opaque)
{
	struct flood *f = opaque;
	size_t len = strlen(f->line);
	static _Thread_local char batch[65536];
	size_t per_batch = sizeof(batch) / len, blen = 0;

	for (size_t i = 0; i < per_batch; i++, blen += len)
		memcpy(batch + blen, f->line, len);
	if (!f->max_lines) {
		long long end = ml_now_ms() + TRICKLE_MAX_MS;
		struct timespec ms = { 0, 1000 * 1000 };

		while (ml_now_ms() < end) {
			if (send(f->fd, f->line, len, MSG_NOSIGNAL) < 0)
				break;
			f->sent++;
			nanosleep(&ms, NULL);
		}
	} else {
		long long end = ml_now_ms() + TRICKLE_MAX_MS;

		while (f->sent < f->max_lines && ml_now_ms() < end) {
			size_t n = f->max_lines - f->sent < per_batch ? f->max_lines - f->sent
								      : per_batch;
			size_t off = 0;

			while (off < n * len) {
				ssize_t w = send(f->fd, batch + off, n * len - off, MSG_NOSIGNAL);
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					goto out; /* the reader closed */
				off += (size_t)w;
			}
			f->sent += n;
		}
	}
out:
	if (f->close_at_end)
		close(f->fd);
	return NULL;
}

/* Start a flood on a new socketpair; *reader gets the other end. */
static void flood_start(struct flood *f, pthread_t *t, int *reader, const char *line,
			size_t max_lines, int close_at_end)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(f, 0, sizeof(*f));
	f->fd = sv[1];
	f->line = line;
	f->max_lines = max_lines;
	f->close_at_end = close_at_end;
	*reader = sv[0];
	assert_int_equal(pthread_create(t, NULL, flood_thread, f), 0);
}

/* After the reader closed its end: the flooder stops, then its end closes. */
static void flood_join(struct flood *f, pthread_t t)
{
	pthread_join(t, NULL);
	if (!f->close_at_end)
		close(f->fd);
}

/* A log callback that takes a millisecond a line: the reader is slower than
 * a flooding peer, so there is always a line waiting, the case where a
 * deadline checked only when nothing arrives is never checked at all. */
static void log_slowly(void *opaque, char dir, const char *line, size_t len)
{
	struct timespec ms = { 0, 1000 * 1000 };

	(void)opaque, (void)dir, (void)line, (void)len;
	nanosleep(&ms, NULL);
}

/* (1) Blank lines forever: the receive times out at its deadline. */
static void test_blank_line_flood_times_out(void **state)
{
	struct flood f;
	pthread_t t;
	struct ml_jsonline c;
	json_t *msg = NULL;
	long long start;
	int fd, r;

	(void)state;
	/* Full speed: the reader finds bytes waiting nearly every time it
	 * looks. Bounded by the reader closing, or TRICKLE_MAX_MS. */
	flood_start(&f, &t, &fd, "\n", SIZE_MAX, 0);
	ml_jsonline_init(&c, fd, 0, "blank flooder", NULL, NULL);
	start = ml_now_ms();
	r = ml_jsonline_recv(&c, start + DEADLINE_MS, &msg);
	print_message("blank-line flood: recv returned after %lld ms\n", ml_now_ms() - start);
	assert_int_equal(r, ML_JSONLINE_TIMEOUT);
	assert_null(msg);
	assert_non_null(strstr(ml_error_message(), "no answer in time"));
	assert_true(ml_now_ms() - start < DEADLINE_MS + MARGIN_MS);
	ml_jsonline_close(&c);
	flood_join(&f, t);
}

/* A partial line growing by one byte a millisecond: the deadline holds too
 * (poll always finds data, so a deadline checked only when poll finds
 * nothing would wait for the whole trickle). */
static void test_partial_line_trickle_times_out(void **state)
{
	struct flood f;
	pthread_t t;
	struct ml_jsonline c;
	json_t *msg = NULL;
	long long start;
	int fd, r;

	(void)state;
	flood_start(&f, &t, &fd, " ", 0, 0);
	ml_jsonline_init(&c, fd, 0, "trickler", NULL, NULL);
	start = ml_now_ms();
	r = ml_jsonline_recv(&c, start + DEADLINE_MS, &msg);
	print_message("partial-line trickle: recv returned after %lld ms\n", ml_now_ms() - start);
	assert_int_equal(r, ML_JSONLINE_TIMEOUT);
	assert_true(ml_now_ms() - start < DEADLINE_MS + MARGIN_MS);
	ml_jsonline_close(&c);
	flood_join(&f, t);
}

/* (2) QMP: events forever while a command waits. A fast flood hits the cap
 * on skipped lines, with an error naming events; a slow one the deadline. */
static void test_qmp_event_flood(void **state)
{
	struct flood f;
	pthread_t t;
	struct ml_qmp *q;
	json_t *ret = NULL;
	long long start;
	int fd;

	(void)state;
	flood_start(&f, &t, &fd,
		    "{\"event\":\"FLOOD\",\"data\":{},\"timestamp\":{\"seconds\":1,"
		    "\"microseconds\":2}}\n",
		    FLOOD_MAX_LINES, 0);
	q = ml_qmp_new(fd, "QMP of flooder", NULL, NULL);
	start = ml_now_ms();
	/* A long timeout: only the cap can end this call early. */
	assert_int_equal(ml_qmp_execute(q, "query-status", NULL, 60000, &ret), -1);
	print_message("QMP event flood: execute returned after %lld ms: %s\n",
		      ml_now_ms() - start, ml_error_message());
	assert_null(ret);
	assert_int_equal(ml_qmp_last_err(q), ML_QMP_ERR_IO);
	assert_non_null(strstr(ml_error_message(), "10000 events"));
	assert_non_null(strstr(ml_error_message(), "without the reply to query-status"));
	assert_true(ml_now_ms() - start < MARGIN_MS);
	/* At most the queue's worth kept; the rest counted as dropped. */
	assert_true(ml_qmp_events_dropped(q) > 0);
	ml_qmp_free(q);
	flood_join(&f, t);
}

static void test_qmp_event_flood_slow_reader_times_out(void **state)
{
	struct flood f;
	pthread_t t;
	struct ml_qmp *q;
	json_t *ev = NULL;
	long long start;
	int fd;

	(void)state;
	flood_start(&f, &t, &fd, "{\"event\":\"OTHER\",\"data\":{}}\n", SIZE_MAX, 0);
	q = ml_qmp_new(fd, "QMP of flooder", log_slowly, NULL);
	start = ml_now_ms();
	assert_int_equal(ml_qmp_wait_event(q, "STOP", DEADLINE_MS, &ev), -1);
	print_message("QMP event flood, slow reader: wait_event returned after %lld ms\n",
		      ml_now_ms() - start);
	assert_null(ev);
	assert_int_equal(ml_qmp_last_err(q), ML_QMP_ERR_TIMEOUT);
	assert_true(ml_now_ms() - start < DEADLINE_MS + MARGIN_MS);
	ml_qmp_free(q);
	flood_join(&f, t);
}

/* (3) A probe peer answering with another id forever. */
static void test_probe_wrong_id_flood(void **state)
{
	struct flood f;
	pthread_t t;
	struct ml_probe *p = NULL;
	json_t *ret = NULL;
	long long start;
	int fd;

	(void)state;
	flood_start(&f, &t, &fd, "{\"id\":0,\"return\":{}}\n", FLOOD_MAX_LINES, 0);
	assert_int_equal(ml_probe_open(fd, "probe flooder", NULL, NULL, &p), 0);
	start = ml_now_ms();
	assert_int_equal(ml_probe_call(p, "status", NULL, 60000, &ret), -1);
	print_message("probe wrong-id flood: call returned after %lld ms: %s\n",
		      ml_now_ms() - start, ml_error_message());
	assert_null(ret);
	assert_non_null(strstr(ml_error_message(), "10000 lines without the reply to id 1"));
	assert_true(ml_now_ms() - start < MARGIN_MS);
	ml_probe_free(p);
	flood_join(&f, t);
}

static void test_probe_wrong_id_flood_slow_reader_times_out(void **state)
{
	struct flood f;
	pthread_t t;
	struct ml_probe *p = NULL;
	json_t *ret = NULL;
	long long start;
	int fd;

	(void)state;
	flood_start(&f, &t, &fd, "{\"id\":0,\"return\":{}}\n", SIZE_MAX, 0);
	assert_int_equal(ml_probe_open(fd, "probe flooder", log_slowly, NULL, &p), 0);
	start = ml_now_ms();
	assert_int_equal(ml_probe_call(p, "status", NULL, DEADLINE_MS, &ret), -1);
	print_message("probe wrong-id flood, slow reader: call returned after %lld ms\n",
		      ml_now_ms() - start);
	assert_non_null(strstr(ml_error_message(), "no reply within"));
	assert_true(ml_now_ms() - start < DEADLINE_MS + MARGIN_MS);
	ml_probe_free(p);
	flood_join(&f, t);
}

/* (4) The log cap: lines are logged raw, so the file is the logged bytes
 * plus the one cap line. */
static void log_raw(void *opaque, char dir, const char *line, size_t len)
{
	FILE *out = opaque;

	(void)dir;
	fwrite(line, 1, len, out);
}

/* A line sent with a descriptor (QMP getfd): the peer gets the whole line and,
 * with its first byte, a descriptor of the same open file. */
static void test_send_fd(void **state)
{
	int sv[2], pfd[2], got = -1;
	struct ml_jsonline c;
	json_t *msg = json_pack("{s:s, s:{s:s}}", "execute", "getfd", "arguments", "fdname", "x");
	char buf[256] = { 0 };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
			     .msg_controllen = sizeof(u.b) };
	struct cmsghdr *cm;
	ssize_t n, total;
	char byte = 0;
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(pipe(pfd), 0);
	ml_jsonline_init(&c, sv[0], 1 << 16, "test peer", NULL, NULL);
	assert_int_equal(ml_jsonline_send_fd(&c, msg, pfd[1]), 0);
	n = recvmsg(sv[1], &mh, 0);
	assert_true(n >= 1);
	cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
	memcpy(&got, CMSG_DATA(cm), sizeof(int));
	for (total = n; total < (ssize_t)sizeof(buf) - 1 && !strchr(buf, '\n'); total += n) {
		n = read(sv[1], buf + total, sizeof(buf) - 1 - (size_t)total);
		assert_true(n > 0);
	}
	assert_string_equal(buf, "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"x\"}}\n");
	/* the descriptor received writes into the same pipe */
	assert_int_equal(write(got, "z", 1), 1);
	assert_int_equal(read(pfd[0], &byte, 1), 1);
	assert_int_equal(byte, 'z');
	close(got);
	close(pfd[0]);
	close(pfd[1]);
	close(sv[1]);
	ml_jsonline_close(&c);
	json_decref(msg);
}

static void test_log_cap(void **state)
{
	static const char line[] = "{\"event\":\"FLOOD\",\"data\":{\"n\":123456}}\n";
	const size_t line_len = sizeof(line) - 2; /* without the newline */
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *path = ml_strdup_printf("%s/log", dir);
	ml_autofree char *text = NULL;
	struct flood f;
	pthread_t t;
	struct ml_jsonline c;
	size_t received = 0, logged, dropped;
	char expect[96];
	struct stat st;
	FILE *out;
	int fd, r;

	(void)state;
	out = fopen(path, "we");
	assert_non_null(out);
	flood_start(&f, &t, &fd, line, FLOOD_MAX_LINES, 1);
	ml_jsonline_init(&c, fd, 0, "log flooder", log_raw, out);
	for (;;) {
		json_t *msg = NULL;

		r = ml_jsonline_recv(&c, ml_now_ms() + 30000, &msg);
		if (r != ML_JSONLINE_OK)
			break;
		json_decref(msg);
		received++;
	}
	assert_int_equal(r, ML_JSONLINE_EOF);
	assert_int_equal(received, FLOOD_MAX_LINES);
	logged = c.logged;
	dropped = c.log_dropped;
	assert_true(logged <= ML_JSONLINE_LOG_CAP);
	assert_true(logged > ML_JSONLINE_LOG_CAP - line_len);
	assert_int_equal(logged + dropped, received * line_len);
	ml_jsonline_close(&c);
	flood_join(&f, t);
	assert_int_equal(fclose(out), 0);

	assert_int_equal(stat(path, &st), 0);
	print_message("log cap: %zu lines received, log file %lld bytes (cap %zu)\n", received,
		      (long long)st.st_size, ML_JSONLINE_LOG_CAP);
	assert_true((size_t)st.st_size <= ML_JSONLINE_LOG_CAP + 100);
	snprintf(expect, sizeof(expect), "[log cap reached: %zu more bytes not logged]", dropped);
	assert_int_equal(ml_read_file(path, (size_t)16 << 20, &text, NULL), 0);
	assert_int_equal((size_t)st.st_size, logged + strlen(expect));
	assert_string_equal(text + logged, expect);
	ml_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blank_line_flood_times_out),
		cmocka_unit_test(test_partial_line_trickle_times_out),
		cmocka_unit_test(test_qmp_event_flood),
		cmocka_unit_test(test_qmp_event_flood_slow_reader_times_out),
		cmocka_unit_test(test_probe_wrong_id_flood),
		cmocka_unit_test(test_probe_wrong_id_flood_slow_reader_times_out),
		cmocka_unit_test(test_log_cap),
		cmocka_unit_test(test_send_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
