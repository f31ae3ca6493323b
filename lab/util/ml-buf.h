/* Growable byte buffer with a hard size cap, for anything read from a process,
 * a socket or a file we do not control. The data is always NUL-terminated. */
#ifndef ML_BUF_H
#define ML_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

struct ml_buf {
	char *data;   /* NULL until the first append; then NUL-terminated */
	size_t len;   /* bytes used, not counting the terminator */
	size_t cap;   /* bytes allocated */
	size_t limit; /* appends that would pass this fail; 0 means 64 MiB */
};

#define ML_BUF_INIT(lim) { NULL, 0, 0, (lim) }
#define ML_BUF_DEFAULT_LIMIT ((size_t)64 << 20)

/* Append; -1 with an error naming the limit if the buffer would exceed it. */
int ml_buf_append(struct ml_buf *b, const void *data, size_t len);
int ml_buf_puts(struct ml_buf *b, const char *s);
int ml_buf_printf(struct ml_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ml_buf_vprintf(struct ml_buf *b, const char *fmt, va_list ap);
/* Remove the first n bytes. */
void ml_buf_consume(struct ml_buf *b, size_t n);
void ml_buf_reset(struct ml_buf *b);
void ml_buf_free(struct ml_buf *b);
/* Hand the data to the caller (never NULL: an empty buffer gives ""). */
char *ml_buf_steal(struct ml_buf *b);

/* One read() of at most chunk bytes from fd. Returns bytes read, 0 at EOF,
 * or -1: either an error was reported, or errno is EAGAIN on a non-blocking
 * fd with nothing to read (not reported). */
ssize_t ml_buf_read_fd(struct ml_buf *b, int fd, size_t chunk);

/* A new formatted string (like asprintf, but aborts on OOM so callers need
 * no error path for it). */
char *ml_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* value escaped for a QEMU option string ("path=VALUE,server=on"): QEMU's
 * option parsers (QemuOpts and keyval) read ",," inside a value as one
 * comma and a single comma as the end of the value, so every comma is
 * doubled. For every path or name embedded in a -chardev, -blockdev, -name,
 * ... argument. Caller frees. */
char *ml_qemu_opt_value(const char *value);

#define ml_autobuf __attribute__((cleanup(ml_buf_free)))

#endif
