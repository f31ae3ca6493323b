/* Capped logs that keep their head and tail (see ml-caplog.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ml-caplog.h"
#include "ml-error.h"
#include "ml-common.h"

/* The tail must hold the marker line many times over (the cut moves the
 * tail down over the middle, never onto itself). */
#define CAPLOG_MIN_TAIL 4096

struct ml_caplog {
	pthread_mutex_t lock;
	int fd;
	char *path;
	size_t head, tail;
	unsigned long long in, cut, dropped;
	off_t len;      /* the file's length */
	off_t hend;     /* end of the kept head (after its last newline); -1: not yet known */
	bool head_nl;   /* the head has no newline near its end: the marker starts a line */
	bool cutting;   /* a marker follows the head */
	off_t body;     /* where the kept tail starts (after the marker) when cutting */
	int err;        /* first write error */
};

int ml_caplog_open(const char *path, size_t head, size_t tail, struct ml_caplog **out)
{
	struct ml_caplog *l;
	int fd;

	*out = NULL;
	if (tail < CAPLOG_MIN_TAIL) {
		ml_error("%s: a capped log keeps at least %d bytes of its end", path, CAPLOG_MIN_TAIL);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ml_error_errno(errno, "cannot create %s", path);
		return -1;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	pthread_mutex_init(&l->lock, NULL);
	l->fd = fd;
	l->path = strdup(path);
	if (!l->path)
		abort();
	l->head = head;
	l->tail = tail;
	l->hend = -1;
	*out = l;
	return 0;
}

static int pwrite_all(int fd, const void *data, size_t len, off_t off)
{
	const char *p = data;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The end of the head: after the last newline of its last 4 KiB, else head
 * itself (and the marker then starts with a newline). */
static void find_head_end(struct ml_caplog *l)
{
	char buf[4096];
	size_t look = l->head < sizeof(buf) ? l->head : sizeof(buf);
	ssize_t n = look ? pread(l->fd, buf, look, (off_t)(l->head - look)) : 0;

	l->hend = (off_t)l->head;
	l->head_nl = l->head > 0;
	for (ssize_t i = n - 1; i >= 0; i--) {
		if (buf[i] == '\n') {
			l->hend = (off_t)(l->head - look) + i + 1;
			l->head_nl = false;
			break;
		}
	}
}

/* Where the kept tail starts: after the first newline among the last keep
 * bytes (else keep bytes from the end). */
static off_t find_tail_start(struct ml_caplog *l, size_t keep)
{
	char buf[4096];
	off_t from = l->len - (off_t)keep;
	ssize_t n = pread(l->fd, buf, sizeof(buf) < keep ? sizeof(buf) : keep, from);

	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			return from + i + 1 < l->len ? from + i + 1 : from;
	return from;
}

/* Cut the middle: marker after the head, then the last tail bytes. Under lock. */
static int cut_middle(struct ml_caplog *l)
{
	char marker[64], chunk[65536];
	off_t start, tfrom, src, dst;
	int mlen;

	if (l->hend < 0)
		find_head_end(l);
	start = l->cutting ? l->body : l->hend;
	tfrom = find_tail_start(l, l->tail);
	if (tfrom <= start)
		return 0;
	mlen = snprintf(marker, sizeof(marker), "%s[miglab: %llu bytes cut]\n",
			l->head_nl ? "\n" : "", l->cut + (unsigned long long)(tfrom - start));
	dst = l->hend + mlen;
	if (dst > tfrom)
		return 0; /* cannot happen with tail >= CAPLOG_MIN_TAIL */
	if (pwrite_all(l->fd, marker, (size_t)mlen, l->hend) < 0)
		return -1;
	/* Move the tail down; the target is below the source, so ascending
	 * chunks never overwrite what is still to be read. */
	for (src = tfrom; src < l->len;) {
		ssize_t n = pread(l->fd, chunk, sizeof(chunk), src);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (pwrite_all(l->fd, chunk, (size_t)n, dst + (src - tfrom)) < 0)
			return -1;
		src += n;
	}
	if (ftruncate(l->fd, dst + (l->len - tfrom)) < 0)
		return -1;
	l->cut += (unsigned long long)(tfrom - start);
	l->len = dst + (l->len - tfrom);
	l->body = dst;
	l->cutting = true;
	return 0;
}

/* Bytes after the head (and marker): what the cut may shorten. */
static off_t kept_tail_len(const struct ml_caplog *l)
{
	off_t start = l->cutting ? l->body : (off_t)l->head;
	return l->len > start ? l->len - start : 0;
}

void ml_caplog_write(struct ml_caplog *l, const void *data, size_t len)
{
	if (!l || !len)
		return;
	pthread_mutex_lock(&l->lock);
	l->in += len;
	if (l->err) {
		l->dropped += len;
	} else if (pwrite_all(l->fd, data, len, l->len) < 0) {
		l->err = errno;
		l->dropped += len;
	} else {
		l->len += (off_t)len;
		if (kept_tail_len(l) > (off_t)(2 * l->tail) && cut_middle(l) < 0)
			l->err = errno;
	}
	pthread_mutex_unlock(&l->lock);
}

char *ml_caplog_tail(struct ml_caplog *l, size_t max)
{
	size_t n, got = 0;
	char *out;

	pthread_mutex_lock(&l->lock);
	n = (size_t)l->len < max ? (size_t)l->len : max;
	out = malloc(n + 1);
	if (!out)
		abort();
	while (got < n) {
		ssize_t r = pread(l->fd, out + got, n - got, l->len - (off_t)n + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ml_error_errno(r < 0 ? errno : EIO, "cannot read %s", l->path);
			pthread_mutex_unlock(&l->lock);
			free(out);
			return NULL;
		}
		got += (size_t)r;
	}
	pthread_mutex_unlock(&l->lock);
	out[n] = '\0';
	return out;
}

unsigned long long ml_caplog_bytes_in(struct ml_caplog *l)
{
	unsigned long long v;

	pthread_mutex_lock(&l->lock);
	v = l->in;
	pthread_mutex_unlock(&l->lock);
	return v;
}

unsigned long long ml_caplog_bytes_cut(struct ml_caplog *l)
{
	unsigned long long v;

	pthread_mutex_lock(&l->lock);
	v = l->cut;
	pthread_mutex_unlock(&l->lock);
	return v;
}

int ml_caplog_close(struct ml_caplog *l)
{
	int rc = 0;

	if (!l)
		return 0;
	if (!l->err && kept_tail_len(l) > (off_t)l->tail && cut_middle(l) < 0)
		l->err = errno;
	if (close(l->fd) < 0 && !l->err)
		l->err = errno;
	if (l->err) {
		ml_error_errno(l->err, "cannot write the log %s (%llu bytes of output lost)", l->path,
			       l->dropped);
		rc = -1;
	}
	pthread_mutex_destroy(&l->lock);
	free(l->path);
	free(l);
	return rc;
}
