/* The stream tap: a capturing proxy the cell puts between a migration's
 * source and destination. It listens on a unix socket (in the cell's run
 * directory, so both QEMU roots see it), connects to the destination's
 * incoming socket when the source connects, copies bytes both ways (the
 * return path matters for postcopy and return-path migrations) and writes the
 * source->destination bytes, the migration stream, to a capture file (raw, or
 * zstd when the path ends in ".zst"; results/stream.h decodes either).
 *
 * It runs in threads of the calling process: one per direction plus a
 * capture writer. Memory is bounded (ML_STREAM_TAP_DEFAULT_BUFFER of capture
 * data waiting for the writer); the forwarding never waits on the disk or the
 * compressor unless asked to (see `lossless`), so the migration runs at about
 * the speed it would have over a plain socket (docs/stream.md has numbers). Either side may close at any time;
 * the tap then closes the other side's direction, as a direct connection
 * would. Threads block every signal (the lab's handlers run elsewhere).
 *
 * Use:
 *   ml_stream_tap_start(tap_sock, dst_incoming_sock, "stream.bin.zst", &t);
 *   migrate-incoming unix:dst_incoming_sock on the destination;
 *   migrate unix:tap_sock on the source;   (either order works)
 *   ... wait for the migration to end ...
 *   ml_stream_tap_finish(t, &stats);     (drains, then stops)
 *   ml_stream_tap_free(t);
 * The destination socket need not exist at start: the tap connects when the
 * source connects, waiting up to connect_timeout_ms for it.
 *
 * One connection per tap: once the source is connected the listening socket
 * is closed, so migrations that open more channels (multifd, postcopy
 * preempt) fail at once instead of hanging; do not tap those. */
#ifndef ML_STREAM_TAP_H
#define ML_STREAM_TAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ML_STREAM_TAP_DEFAULT_BUFFER ((size_t)64 << 20)
#define ML_STREAM_TAP_CHUNK ((size_t)256 << 10)

struct ml_stream_tap;

struct ml_stream_tap_opts {
	const char *listen_path;  /* created here (an old socket file is replaced) */
	const char *dst_path;     /* the destination's incoming socket */
	/* NULL: proxy only; "*.zst": zstd-compressed. Written under a temporary
	 * name beside it and renamed into place by finish(): a capture that
	 * could not be written whole (a full disk) is never there. An existing
	 * FIFO or device is written to directly. */
	const char *capture_path;
	int zstd_level;           /* 0: 1 (fast); used for "*.zst" */
	size_t max_buffer;        /* 0: ML_STREAM_TAP_DEFAULT_BUFFER */
	/* false (default): the writer runs at SCHED_IDLE (it only uses CPU the
	 * QEMUs leave) and when it falls max_buffer behind, the capture stops
	 * (marked incomplete) while forwarding goes on at full speed. true: the
	 * writer runs at normal priority and the forwarding waits for it. */
	bool lossless;
	int connect_timeout_ms;   /* 0: 10000 */
	int drain_timeout_ms;     /* finish waits this long for the source's EOF; 0: 10000 */
};

/* Listen, open the capture file and start the threads. Errors (path too
 * long, cannot bind, cannot create the capture) are reported here. */
int ml_stream_tap_start_opts(const struct ml_stream_tap_opts *opts, struct ml_stream_tap **out);

/* ml_stream_tap_start_opts with the defaults. */
int ml_stream_tap_start(const char *listen_path, const char *dst_path, const char *capture_path,
			struct ml_stream_tap **out);

/* Stop the tap: wait (up to drain_timeout_ms) for the source to close its
 * side so every byte reaches the destination, then close everything, join
 * the threads, flush and close the capture, remove the listening socket.
 * *stats (if stats is not NULL) receives
 *   { connected, src_to_dst_bytes, dst_to_src_bytes, duration_ms,
 *     closed_first ("source", "destination", "finish", or null),
 *     capture: { path, compressed, stream_bytes, file_bytes, complete,
 *                error? }, error? }
 * Returns 0, or -1 when the tap itself failed (could not reach the
 * destination, a socket error other than the peer closing, the capture
 * could not be written); the error is reported and also in stats.error.
 * Call once. */
int ml_stream_tap_finish(struct ml_stream_tap *t, json_t **stats);

/* Free the tap (finishing it first if ml_stream_tap_finish was not called). */
void ml_stream_tap_free(struct ml_stream_tap *t);

#endif
