/* A line-delimited JSON channel over a stream socket: the transport under
 * both QMP and the probe protocol. Reads are bounded (a line longer than the
 * cap is an error, not an allocation), partial reads are reassembled, and
 * every line sent or received can be logged to a transcript callback. */
#ifndef ML_JSONLINE_H
#define ML_JSONLINE_H

#include <jansson.h>

#include "ml-buf.h"

/* dir is '>' for a line we sent, '<' for a line we received. */
typedef void (*ml_jsonline_log_fn)(void *opaque, char dir, const char *line, size_t len);

struct ml_jsonline {
	int fd;
	struct ml_buf in;        /* bytes received, not yet split into lines */
	size_t max_line;         /* cap of one line */
	ml_jsonline_log_fn log;
	void *log_opaque;
	const char *peer;        /* for error messages: "QMP of src", "probe" */
	int eof;                 /* peer closed */
};

enum {
	ML_JSONLINE_OK = 0,
	ML_JSONLINE_ERROR = -1,   /* reported */
	ML_JSONLINE_TIMEOUT = 1,  /* reported */
	ML_JSONLINE_EOF = 2,      /* reported: the peer closed the connection */
};

/* Takes ownership of fd (set non-blocking here). */
void ml_jsonline_init(struct ml_jsonline *c, int fd, size_t max_line, const char *peer,
		      ml_jsonline_log_fn log, void *opaque);
void ml_jsonline_close(struct ml_jsonline *c);

/* Send one JSON value as a line. */
int ml_jsonline_send(struct ml_jsonline *c, json_t *msg);
/* Send raw bytes (for tests and protocols that need them). */
int ml_jsonline_send_raw(struct ml_jsonline *c, const char *data, size_t len);

/* Receive one JSON object, waiting until deadline_ms (ml_now_ms() clock; -1:
 * forever). Blank lines are skipped; a line that is not a JSON object is an
 * error naming it. Returns one of the ML_JSONLINE_* codes. */
int ml_jsonline_recv(struct ml_jsonline *c, long long deadline_ms, json_t **msg);

/* Connect to a unix socket, retrying until it exists and accepts or until
 * timeout_ms passes; alive() (optional) is polled and aborts the wait when it
 * returns 0, e.g. because the QEMU that should create the socket died. */
int ml_unix_connect(const char *path, int timeout_ms, int (*alive)(void *), void *opaque, int *fd);

#endif
