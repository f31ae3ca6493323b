/* The stream tap (see stream-tap.h): a proxy between a migration's source
 * and destination that copies both directions and captures the source's
 * stream. Three threads: forward (accept, connect to the destination, copy
 * source->destination, hand each chunk read to the writer), back (copy
 * destination->source) and writer (write or compress chunks to the capture
 * file). Chunks are read straight into pool buffers, so capturing costs the
 * forwarding no copy; the pool is bounded by max_buffer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <zstd.h>

#include "jsonline.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "stream-tap.h"
#include "ml-common.h"

#define BACK_BUF (64 << 10)

struct chunk {
	struct chunk *next;
	size_t len;
	char data[];
};

struct ml_stream_tap {
	struct ml_stream_tap_opts o;
	char *listen_path, *dst_path, *capture_path;
	int listen_fd, src_fd, dst_fd;
	pthread_t fwd, back, writer;
	bool fwd_started, back_started, writer_started, finished;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock. */
	bool stopping;      /* finish() is tearing down */
	bool accepted;      /* the source connected */
	bool connected;     /* ... and the destination too */
	bool fwd_done;      /* the forward thread ended */
	const char *closed_first;
	char err[512];      /* the tap's own failure, first one */
	long long t_accept, t_fwd_end;
	uint64_t fwd_bytes, back_bytes;

	/* Capture, under lock. */
	bool capturing;     /* chunks are queued for the writer */
	bool cap_dropped;   /* stopped because the writer fell behind */
	uint64_t cap_dropped_at;
	char cap_err[512];
	struct chunk *q_head, *q_tail, *free_list;
	size_t n_chunks, max_chunks;
	/* Writer-owned. The capture is written to a temporary name beside
	 * capture_path and renamed into place by finish() (ml_atomic_file). */
	struct ml_atomic_file cap_file;
	int cap_fd;
	ZSTD_CCtx *zc;
	void *zout;
	size_t zout_size;
	uint64_t cap_stream_bytes, cap_file_bytes;
};

static void tap_fail(struct ml_stream_tap *t, const char *msg)
{
	pthread_mutex_lock(&t->lock);
	if (!t->err[0])
		snprintf(t->err, sizeof(t->err), "%s", msg);
	pthread_mutex_unlock(&t->lock);
}

static void set_closed_first(struct ml_stream_tap *t, const char *who)
{
	pthread_mutex_lock(&t->lock);
	if (!t->closed_first)
		t->closed_first = who;
	pthread_mutex_unlock(&t->lock);
}

static bool tap_stopping(struct ml_stream_tap *t)
{
	bool s;
	pthread_mutex_lock(&t->lock);
	s = t->stopping;
	pthread_mutex_unlock(&t->lock);
	return s;
}

/* Send all of buf; 0, or an errno value (EPIPE, ECONNRESET: the peer left). */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool peer_gone(int err)
{
	return err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == ESHUTDOWN;
}

/* ---- capture writer ---------------------------------------------------- */

static int write_all_fd(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write (compressing if asked) one piece of the stream; end finishes the frame. */
static int cap_write(struct ml_stream_tap *t, const char *data, size_t len, bool end, char *err,
		     size_t errlen)
{
	int e;

	if (!t->zc) {
		if ((e = write_all_fd(t->cap_fd, data, len)) != 0) {
			snprintf(err, errlen, "writing %s: %s", t->capture_path, strerror(e));
			return -1;
		}
		t->cap_file_bytes += len;
		return 0;
	}
	{
		ZSTD_inBuffer in = { data, len, 0 };
		for (;;) {
			ZSTD_outBuffer out = { t->zout, t->zout_size, 0 };
			size_t left = ZSTD_compressStream2(t->zc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				snprintf(err, errlen, "compressing %s: %s", t->capture_path, ZSTD_getErrorName(left));
				return -1;
			}
			if (out.pos && (e = write_all_fd(t->cap_fd, t->zout, out.pos)) != 0) {
				snprintf(err, errlen, "writing %s: %s", t->capture_path, strerror(e));
				return -1;
			}
			t->cap_file_bytes += out.pos;
			if (end ? left == 0 : in.pos == in.size)
				return 0;
		}
	}
}

static void *writer_main(void *arg)
{
	struct ml_stream_tap *t = arg;
	bool failed = false;
	char err[512] = "";
	struct sched_param idle = { 0 };

	/* The capture only gets CPU nobody else wants: the QEMUs migrating come
	 * first, and if that leaves it max_buffer behind, the capture stops.
	 * Not when lossless: the forwarding would wait on a starved thread.
	 * Best effort: not fatal if refused. */
	if (!t->o.lossless)
		pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);

	for (;;) {
		struct chunk *c;

		pthread_mutex_lock(&t->lock);
		while (!t->q_head && !t->fwd_done)
			pthread_cond_wait(&t->cond, &t->lock);
		c = t->q_head;
		if (c) {
			t->q_head = c->next;
			if (!t->q_head)
				t->q_tail = NULL;
		}
		pthread_mutex_unlock(&t->lock);
		if (!c)
			break; /* forwarding ended and everything is written */
		if (!failed) {
			if (cap_write(t, c->data, c->len, false, err, sizeof(err)) < 0) {
				failed = true;
				pthread_mutex_lock(&t->lock);
				snprintf(t->cap_err, sizeof(t->cap_err), "%s", err);
				t->capturing = false;
				pthread_mutex_unlock(&t->lock);
			} else {
				t->cap_stream_bytes += c->len;
			}
		}
		pthread_mutex_lock(&t->lock);
		c->next = t->free_list;
		t->free_list = c;
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
	}
	if (!failed && cap_write(t, NULL, 0, true, err, sizeof(err)) < 0) {
		pthread_mutex_lock(&t->lock);
		snprintf(t->cap_err, sizeof(t->cap_err), "%s", err);
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

/* A buffer to read the next piece of the stream into: a pool chunk while
 * capturing (NULL when capturing stopped; the caller then uses its own). */
static struct chunk *get_chunk(struct ml_stream_tap *t)
{
	struct chunk *c = NULL;

	pthread_mutex_lock(&t->lock);
	while (t->capturing) {
		if (t->free_list) {
			c = t->free_list;
			t->free_list = c->next;
			break;
		}
		if (t->n_chunks < t->max_chunks) {
			c = malloc(sizeof(*c) + ML_STREAM_TAP_CHUNK);
			if (c) {
				t->n_chunks++;
				break;
			}
		}
		if (!t->o.lossless || t->stopping) {
			/* The writer is max_buffer behind: keep the migration at full
			 * speed and give up the rest of the capture. */
			t->capturing = false;
			t->cap_dropped = true;
			t->cap_dropped_at = t->fwd_bytes;
			break;
		}
		pthread_cond_wait(&t->cond, &t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return c;
}

static void queue_chunk(struct ml_stream_tap *t, struct chunk *c)
{
	pthread_mutex_lock(&t->lock);
	if (t->capturing) {
		c->next = NULL;
		if (t->q_tail)
			t->q_tail->next = c;
		else
			t->q_head = c;
		t->q_tail = c;
	} else {
		c->next = t->free_list;
		t->free_list = c;
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static void release_chunk(struct ml_stream_tap *t, struct chunk *c)
{
	pthread_mutex_lock(&t->lock);
	c->next = t->free_list;
	t->free_list = c;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* ---- forwarding -------------------------------------------------------- */

static void *back_main(void *arg)
{
	struct ml_stream_tap *t = arg;
	char *buf = malloc(BACK_BUF);

	if (!buf)
		abort();
	for (;;) {
		ssize_t n = read(t->dst_fd, buf, BACK_BUF);
		int e;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && !peer_gone(errno) && !tap_stopping(t)) {
				char msg[256];
				snprintf(msg, sizeof(msg), "reading the return path from the destination: %s",
					 strerror(errno));
				tap_fail(t, msg);
			}
			if (!tap_stopping(t))
				set_closed_first(t, "destination");
			shutdown(t->src_fd, SHUT_WR);
			break;
		}
		if ((e = send_all(t->src_fd, buf, (size_t)n)) != 0) {
			if (!peer_gone(e) && !tap_stopping(t)) {
				char msg[256];
				snprintf(msg, sizeof(msg), "writing the return path to the source: %s", strerror(e));
				tap_fail(t, msg);
			}
			shutdown(t->dst_fd, SHUT_RD);
			break;
		}
		pthread_mutex_lock(&t->lock);
		t->back_bytes += (uint64_t)n;
		pthread_mutex_unlock(&t->lock);
	}
	free(buf);
	return NULL;
}

static int still_wanted(void *opaque)
{
	return !tap_stopping(opaque);
}

static void forward_copy(struct ml_stream_tap *t)
{
	char *own = NULL;

	for (;;) {
		struct chunk *c = get_chunk(t);
		char *buf;
		ssize_t n;
		int e;

		if (!c && !own) {
			own = malloc(ML_STREAM_TAP_CHUNK);
			if (!own)
				abort();
		}
		buf = c ? c->data : own;
		do
			n = read(t->src_fd, buf, ML_STREAM_TAP_CHUNK);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (c)
				release_chunk(t, c);
			if (n < 0 && !peer_gone(errno) && !tap_stopping(t)) {
				char msg[256];
				snprintf(msg, sizeof(msg), "reading the stream from the source: %s", strerror(errno));
				tap_fail(t, msg);
			}
			if (!tap_stopping(t))
				set_closed_first(t, "source");
			/* As a direct connection would: the destination sees EOF. */
			shutdown(t->dst_fd, SHUT_WR);
			break;
		}
		e = send_all(t->dst_fd, buf, (size_t)n);
		pthread_mutex_lock(&t->lock);
		t->fwd_bytes += (uint64_t)n; /* the source sent them, so they are captured */
		pthread_mutex_unlock(&t->lock);
		if (c) {
			c->len = (size_t)n;
			queue_chunk(t, c);
		}
		if (e) {
			if (!peer_gone(e) && !tap_stopping(t)) {
				char msg[256];
				snprintf(msg, sizeof(msg), "forwarding the stream to the destination: %s", strerror(e));
				tap_fail(t, msg);
			}
			if (!tap_stopping(t))
				set_closed_first(t, "destination");
			/* The destination is gone: the source's writes must fail too. */
			shutdown(t->src_fd, SHUT_RDWR);
			break;
		}
	}
	free(own);
}

static void *fwd_main(void *arg)
{
	struct ml_stream_tap *t = arg;
	int fd;

	do
		fd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR && !tap_stopping(t));
	if (fd < 0) {
		if (!tap_stopping(t)) {
			char msg[256];
			snprintf(msg, sizeof(msg), "accepting the source on %s: %s", t->listen_path, strerror(errno));
			tap_fail(t, msg);
		}
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	t->src_fd = fd;
	t->accepted = true;
	t->t_accept = ml_now_ms();
	/* One connection per tap: a second channel (multifd, postcopy preempt)
	 * is refused at once rather than left waiting in the backlog. */
	close(t->listen_fd);
	t->listen_fd = -1;
	unlink(t->listen_path);
	pthread_mutex_unlock(&t->lock);

	if (ml_unix_connect(t->dst_path, t->o.connect_timeout_ms, still_wanted, t, &fd) < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "connecting to the destination: %s", ml_error_message());
		if (!tap_stopping(t))
			tap_fail(t, msg);
		/* The source sees its connection close, as with no destination. */
		shutdown(t->src_fd, SHUT_RDWR);
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	t->dst_fd = fd;
	t->connected = true;
	if (t->stopping) {
		pthread_mutex_unlock(&t->lock);
		goto out;
	}
	t->back_started = pthread_create(&t->back, NULL, back_main, t) == 0;
	pthread_mutex_unlock(&t->lock);
	if (!t->back_started) {
		tap_fail(t, "cannot start the return-path thread");
		shutdown(t->src_fd, SHUT_RDWR);
		shutdown(t->dst_fd, SHUT_RDWR);
		goto out;
	}
	forward_copy(t);
out:
	pthread_mutex_lock(&t->lock);
	t->fwd_done = true;
	t->t_fwd_end = ml_now_ms();
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- API --------------------------------------------------------------- */

/* Threads start with every signal blocked: the lab's handlers stay on the
 * thread that installed them, and a signal never interrupts a copy. */
static int start_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		ml_error_errno(e, "cannot start a stream tap thread");
		return -1;
	}
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int ml_stream_tap_start_opts(const struct ml_stream_tap_opts *opts, struct ml_stream_tap **out)
{
	struct ml_stream_tap *t;

	*out = NULL;
	if (!opts->listen_path || !opts->dst_path) {
		ml_error("the stream tap needs a listening path and the destination's path");
		return -1;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	t->o = *opts;
	t->listen_fd = t->src_fd = t->dst_fd = t->cap_fd = t->cap_file.fd = -1;
	t->listen_path = strdup(opts->listen_path);
	t->dst_path = strdup(opts->dst_path);
	t->capture_path = opts->capture_path ? strdup(opts->capture_path) : NULL;
	if (t->o.max_buffer == 0)
		t->o.max_buffer = ML_STREAM_TAP_DEFAULT_BUFFER;
	if (t->o.connect_timeout_ms <= 0)
		t->o.connect_timeout_ms = 10000;
	if (t->o.drain_timeout_ms <= 0)
		t->o.drain_timeout_ms = 10000;
	t->max_chunks = t->o.max_buffer / ML_STREAM_TAP_CHUNK;
	if (t->max_chunks < 2)
		t->max_chunks = 2;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	t->finished = true; /* nothing to finish until the threads run */

	if (t->capture_path) {
		struct stat st;

		if (stat(t->capture_path, &st) == 0 && !S_ISREG(st.st_mode)) {
			/* A pipe or a device: a stream, not a file to replace. */
			t->cap_fd = open(t->capture_path, O_WRONLY | O_CLOEXEC);
			if (t->cap_fd < 0) {
				ml_error_errno(errno, "cannot open the stream capture %s",
					       t->capture_path);
				goto fail;
			}
		} else {
			if (ml_atomic_open(&t->cap_file, t->capture_path, 0644) < 0) {
				ml_error_context("the stream capture");
				goto fail;
			}
			t->cap_fd = t->cap_file.fd;
		}
		if (ends_with(t->capture_path, ".zst")) {
			t->zc = ZSTD_createCCtx();
			if (!t->zc)
				abort();
			ZSTD_CCtx_setParameter(t->zc, ZSTD_c_compressionLevel,
					       t->o.zstd_level > 0 ? t->o.zstd_level : 1);
			ZSTD_CCtx_setParameter(t->zc, ZSTD_c_checksumFlag, 1);
			t->zout_size = ZSTD_CStreamOutSize();
			t->zout = malloc(t->zout_size);
			if (!t->zout)
				abort();
		}
		t->capturing = true;
	}
	if (ml_unix_listen(t->listen_path, 0, &t->listen_fd) < 0)
		goto fail;
	t->finished = false;
	if (t->capture_path) {
		if (start_thread(&t->writer, writer_main, t) < 0)
			goto fail;
		t->writer_started = true;
	}
	if (start_thread(&t->fwd, fwd_main, t) < 0)
		goto fail;
	t->fwd_started = true;
	*out = t;
	return 0;

fail:
	ml_stream_tap_free(t);
	return -1;
}

int ml_stream_tap_start(const char *listen_path, const char *dst_path, const char *capture_path,
			struct ml_stream_tap **out)
{
	struct ml_stream_tap_opts o = {
		.listen_path = listen_path,
		.dst_path = dst_path,
		.capture_path = capture_path,
	};
	return ml_stream_tap_start_opts(&o, out);
}

static json_t *tap_stats(struct ml_stream_tap *t)
{
	json_t *s = json_object();

	ml_json_set(s, "connected", json_boolean(t->connected));
	ml_json_set_int(s, "src_to_dst_bytes", (long long)t->fwd_bytes);
	ml_json_set_int(s, "dst_to_src_bytes", (long long)t->back_bytes);
	ml_json_set_int(s, "duration_ms", t->accepted ? t->t_fwd_end - t->t_accept : 0);
	ml_json_set_str(s, "closed_first", t->closed_first);
	if (t->capture_path) {
		json_t *c = json_object();
		ml_json_set_str(c, "path", t->capture_path);
		ml_json_set(c, "compressed", json_boolean(t->zc != NULL));
		ml_json_set_int(c, "stream_bytes", (long long)t->cap_stream_bytes);
		ml_json_set_int(c, "file_bytes", (long long)t->cap_file_bytes);
		ml_json_set(c, "complete", json_boolean(!t->cap_dropped && !t->cap_err[0]));
		if (t->cap_dropped) {
			char msg[256];
			snprintf(msg, sizeof(msg),
				 "capture stopped at stream byte %llu: the writer fell %zu MiB behind",
				 (unsigned long long)t->cap_dropped_at, t->o.max_buffer >> 20);
			ml_json_set_str(c, "error", msg);
		} else if (t->cap_err[0]) {
			ml_json_set_str(c, "error", t->cap_err);
		}
		ml_json_set(s, "capture", c);
	}
	if (t->err[0])
		ml_json_set_str(s, "error", t->err);
	return s;
}

int ml_stream_tap_finish(struct ml_stream_tap *t, json_t **stats)
{
	long long deadline;
	int rc = 0;

	if (stats)
		*stats = NULL;
	if (!t)
		return 0;
	if (!t->finished) {
		t->finished = true;
		/* Let every byte the source sent reach the destination: wait for
		 * the source's EOF, unless it never connected. */
		deadline = ml_now_ms() + t->o.drain_timeout_ms;
		pthread_mutex_lock(&t->lock);
		while (t->accepted && !t->fwd_done && ml_now_ms() < deadline) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		}
		if (!t->fwd_done && !t->closed_first)
			t->closed_first = "finish";
		t->stopping = true;
		if (t->listen_fd >= 0)
			shutdown(t->listen_fd, SHUT_RDWR);
		if (t->src_fd >= 0)
			shutdown(t->src_fd, SHUT_RDWR);
		if (t->dst_fd >= 0)
			shutdown(t->dst_fd, SHUT_RDWR);
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);

		if (t->fwd_started)
			pthread_join(t->fwd, NULL);
		if (t->back_started)
			pthread_join(t->back, NULL);
		pthread_mutex_lock(&t->lock);
		t->fwd_done = true; /* also when the forward thread never ran */
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
		if (t->writer_started)
			pthread_join(t->writer, NULL);
		t->fwd_started = t->back_started = t->writer_started = false;
		/* A capture that could not be written whole (a full disk) never
		 * appears under its name; one the writer stopped on purpose is
		 * whole up to where stats say it stops. */
		if (t->cap_fd >= 0 && t->cap_file.fd < 0) {
			if (close(t->cap_fd) < 0 && !t->cap_err[0])
				snprintf(t->cap_err, sizeof(t->cap_err), "closing %s: %s",
					 t->capture_path, strerror(errno));
			t->cap_fd = -1;
		} else if (t->cap_fd >= 0) {
			t->cap_fd = -1;
			if (t->cap_err[0]) {
				ml_atomic_abort(&t->cap_file);
			} else if (ml_atomic_commit(&t->cap_file) < 0) {
				snprintf(t->cap_err, sizeof(t->cap_err), "%s", ml_error_message());
				ml_error_reset();
			}
		}
		if (t->listen_fd >= 0) {
			close(t->listen_fd);
			t->listen_fd = -1;
			unlink(t->listen_path);
		}
	}
	if (t->err[0]) {
		ml_error("stream tap %s -> %s: %s", t->listen_path, t->dst_path, t->err);
		rc = -1;
	} else if (t->cap_err[0]) {
		ml_error("stream tap %s -> %s: %s", t->listen_path, t->dst_path, t->cap_err);
		rc = -1;
	}
	if (stats)
		*stats = tap_stats(t);
	return rc;
}

void ml_stream_tap_free(struct ml_stream_tap *t)
{
	struct chunk *c;

	if (!t)
		return;
	if (!t->finished)
		ml_stream_tap_finish(t, NULL);
	if (t->src_fd >= 0)
		close(t->src_fd);
	if (t->dst_fd >= 0)
		close(t->dst_fd);
	if (t->cap_fd >= 0 && t->cap_file.fd < 0)
		close(t->cap_fd);
	ml_atomic_abort(&t->cap_file); /* only when finish() did not commit it */
	if (t->listen_fd >= 0) {
		close(t->listen_fd);
		unlink(t->listen_path);
	}
	while ((c = t->q_head)) {
		t->q_head = c->next;
		free(c);
	}
	while ((c = t->free_list)) {
		t->free_list = c->next;
		free(c);
	}
	ZSTD_freeCCtx(t->zc);
	free(t->zout);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t->listen_path);
	free(t->dst_path);
	free(t->capture_path);
	free(t);
}
