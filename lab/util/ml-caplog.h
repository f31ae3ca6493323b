/* A log file with a size cap that keeps its beginning and its end, for output
 * miglab drains from a process that may write without end (a guest's serial
 * console, QEMU's stderr). The first `head` bytes stay as written; past
 * head + 2 * tail bytes, the middle is cut, in place, to a line
 * "[miglab: N bytes cut]" followed by the last `tail` bytes (from the first
 * whole line among them). The file thus never holds more than
 * head + 2 * tail bytes (and a marker line), and at close at most
 * head + tail: both ends of a runaway guest, bounded.
 *
 * One writer (a drain thread) and any number of readers of the tail
 * (ml_caplog_tail) may use a log at the same time. Nobody else may write
 * the file: the cut rewrites it in place. */
#ifndef ML_CAPLOG_H
#define ML_CAPLOG_H

#include <stddef.h>

struct ml_caplog;

/* Create (or truncate) path. head and tail are byte counts (tail > 0). */
int ml_caplog_open(const char *path, size_t head, size_t tail, struct ml_caplog **out);
/* Append len bytes. A write error is remembered (the rest of the output is
 * then dropped and counted) and reported by close; the caller need not stop. */
void ml_caplog_write(struct ml_caplog *l, const void *data, size_t len);
/* The last (at most) max bytes written, NUL-terminated, as the file holds
 * them; NULL with an error when it cannot be read. Caller frees. */
char *ml_caplog_tail(struct ml_caplog *l, size_t max);
/* Bytes written so far and bytes cut so far. */
unsigned long long ml_caplog_bytes_in(struct ml_caplog *l);
unsigned long long ml_caplog_bytes_cut(struct ml_caplog *l);
/* Cut to head + tail if longer, close, free (NULL is fine). -1 with the
 * first write error, naming the file. */
int ml_caplog_close(struct ml_caplog *l);

#endif
