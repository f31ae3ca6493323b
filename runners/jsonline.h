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
	size_t log_cap;          /* bytes of lines logged at most (both directions) */
	size_t logged;           /* bytes of lines logged so far */
	size_t log_dropped;      /* bytes of lines not logged past the cap */
};

/* Default cap of what one connection writes to its log: a peer flooding
 * lines cannot fill the disk. Past it, one line "[log cap reached: N more
 * bytes not logged]" is logged (direction '!') at ml_jsonline_close(). */
#define ML_JSONLINE_LOG_CAP ((size_t)4 << 20)

/* Lines a caller skips within one call while it waits for a particular
 * message (replies with other ids, events, stale replies) before it gives
 * up with an error naming the cause: a second bound beside the deadline. */
#define ML_JSONLINE_MAX_SKIPPED 10000

enum {
	ML_JSONLINE_OK = 0,
	ML_JSONLINE_ERROR = -1,   /* reported */
	ML_JSONLINE_TIMEOUT = 1,  /* reported */
	ML_JSONLINE_EOF = 2,      /* reported: the peer closed the connection */
};

/* Takes ownership of fd (set non-blocking here). The log cap starts at
 * ML_JSONLINE_LOG_CAP; set c->log_cap after init to change it. */
void ml_jsonline_init(struct ml_jsonline *c, int fd, size_t max_line, const char *peer,
		      ml_jsonline_log_fn log, void *opaque);
/* Logs the cap line if lines were left out, then closes. */
void ml_jsonline_close(struct ml_jsonline *c);

/* Hand one line to the log callback (if any), within the log cap. Every line
 * sent or received goes through here. */
void ml_jsonline_log(struct ml_jsonline *c, char dir, const char *line, size_t len);

/* Send one JSON value as a line. */
int ml_jsonline_send(struct ml_jsonline *c, json_t *msg);
/* Send one JSON value as a line with fd attached (SCM_RIGHTS, on a unix
 * socket): QMP's getfd and add-fd take a descriptor this way. The caller
 * keeps its fd. */
int ml_jsonline_send_fd(struct ml_jsonline *c, json_t *msg, int fd);
/* Send raw bytes (for tests and protocols that need them). */
int ml_jsonline_send_raw(struct ml_jsonline *c, const char *data, size_t len);

/* Receive one JSON object, waiting until deadline_ms (ml_now_ms() clock; -1:
 * forever). Blank lines are skipped; a line that is not a JSON object is an
 * error naming it. Returns one of the ML_JSONLINE_* codes.
 * The deadline is checked on every iteration, whatever arrives: a peer
 * sending blank lines, partial lines or data forever cannot keep the call
 * alive past it. Once the deadline has passed, the call still returns a
 * complete line already buffered, and reads the socket once more without
 * waiting (a reply that came just in time counts; deadline ml_now_ms()
 * drains without blocking); then it times out. Callers that loop over this
 * (skipping lines) get one such look per call, so they bound their loops
 * with ML_JSONLINE_MAX_SKIPPED as well. */
int ml_jsonline_recv(struct ml_jsonline *c, long long deadline_ms, json_t **msg);

/* Connect to a unix socket, retrying until it exists and accepts or until
 * timeout_ms passes; alive() (optional) is polled and aborts the wait when it
 * returns 0, e.g. because the QEMU that should create the socket died. */
int ml_unix_connect(const char *path, int timeout_ms, int (*alive)(void *), void *opaque, int *fd);

/* Listen on a unix socket at path (a stale socket file there is replaced),
 * backlog 1, close-on-exec; extra_flags may add SOCK_NONBLOCK. */
int ml_unix_listen(const char *path, int extra_flags, int *fd);

#endif
