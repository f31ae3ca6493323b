/* Shared by the socket fuzz targets (fuzz-qmp, fuzz-probe): the fuzz input
 * plays the peer (QEMU, the guest agent). It is written into one end of a
 * socketpair before the client runs, as much as fits in the socket buffer
 * (the peer end is non-blocking, so a large input is cut, never a
 * deadlock), and the peer's direction is then shut down: the client reads
 * the input, then EOF, and never waits for a timeout to end. What the
 * client sends stays unread in the peer's receive buffer (a few small
 * requests per run) until fuzz_peer_close(). */
#ifndef ML_FUZZ_PEER_H
#define ML_FUZZ_PEER_H

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* Returns the client's end (its owner closes it), *peer the fuzz end. */
static inline int fuzz_peer_open(const uint8_t *data, size_t size, int *peer)
{
	int sv[2];
	size_t off = 0;

	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK) < 0)
		abort();
	while (off < size) {
		ssize_t n = write(sv[1], data + off, size - off);
		if (n <= 0)
			break; /* full (EAGAIN): the rest of the input is cut */
		off += (size_t)n;
	}
	shutdown(sv[1], SHUT_WR);
	*peer = sv[1];
	return sv[0];
}

static inline void fuzz_peer_close(int peer)
{
	close(peer);
}

/* A transcript callback that only looks at the line, so the log path runs. */
static inline void fuzz_peer_log(void *opaque, char dir, const char *line, size_t len)
{
	volatile size_t *sum = opaque;
	if (len)
		*sum += (unsigned char)line[0] + (unsigned char)line[len - 1] + (unsigned char)dir;
}

#endif
