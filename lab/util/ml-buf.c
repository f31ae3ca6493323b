/* Capped dynamic buffers (see ml-buf.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-common.h"

static size_t buf_limit(const struct ml_buf *b)
{
	return b->limit ? b->limit : ML_BUF_DEFAULT_LIMIT;
}

static int buf_reserve(struct ml_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > buf_limit(b) || b->len > buf_limit(b) - extra) {
		ml_error("data exceeds the limit of %zu bytes", buf_limit(b));
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		ml_error_errno(ENOMEM, "cannot grow buffer to %zu bytes", cap);
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int ml_buf_append(struct ml_buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int ml_buf_puts(struct ml_buf *b, const char *s)
{
	return ml_buf_append(b, s, strlen(s));
}

int ml_buf_vprintf(struct ml_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		ml_error("bad format string");
		return -1;
	}
	if (buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int ml_buf_printf(struct ml_buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = ml_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void ml_buf_consume(struct ml_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

void ml_buf_reset(struct ml_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void ml_buf_free(struct ml_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *ml_buf_steal(struct ml_buf *b)
{
	char *p = b->data ? b->data : strdup("");

	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

ssize_t ml_buf_read_fd(struct ml_buf *b, int fd, size_t chunk)
{
	ssize_t n;

	if (buf_reserve(b, chunk) < 0)
		return -1;
	do {
		n = read(fd, b->data + b->len, chunk);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			ml_error_errno(errno, "read failed");
		return -1;
	}
	b->len += (size_t)n;
	b->data[b->len] = '\0';
	return n;
}

char *ml_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return s;
}

char *ml_qemu_opt_value(const char *value)
{
	size_t n = strlen(value), commas = 0;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		commas += value[i] == ',';
	out = malloc(n + commas + 1);
	if (!out)
		abort();
	o = out;
	for (size_t i = 0; i < n; i++) {
		*o++ = value[i];
		if (value[i] == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}
