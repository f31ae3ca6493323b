/* Line-delimited JSON channel (see jsonline.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "jsonline.h"
#include "ml-error.h"
#include "ml-proc.h"
#include "ml-common.h"

void ml_jsonline_init(struct ml_jsonline *c, int fd, size_t max_line, const char *peer,
		      ml_jsonline_log_fn log, void *opaque)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->max_line = max_line ? max_line : (size_t)16 << 20;
	c->in.limit = c->max_line + 65536;
	c->peer = peer ? peer : "peer";
	c->log = log;
	c->log_opaque = opaque;
	c->log_cap = ML_JSONLINE_LOG_CAP;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void ml_jsonline_log(struct ml_jsonline *c, char dir, const char *line, size_t len)
{
	if (!c->log)
		return;
	if (c->log_dropped || c->logged > c->log_cap || len > c->log_cap - c->logged) {
		c->log_dropped += len;
		return;
	}
	c->logged += len;
	c->log(c->log_opaque, dir, line, len);
}

void ml_jsonline_close(struct ml_jsonline *c)
{
	if (c->log && c->log_dropped) {
		char note[96];
		int n = snprintf(note, sizeof(note), "[log cap reached: %zu more bytes not logged]",
				 c->log_dropped);
		c->log(c->log_opaque, '!', note, (size_t)n);
		c->log_dropped = 0;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	ml_buf_free(&c->in);
}

/* The socket's buffer is full: wait (10 s at most) for the peer to read. */
static int wait_writable(struct ml_jsonline *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };

	if (poll(&p, 1, 10000) <= 0) {
		ml_error("%s: cannot send: peer does not read", c->peer);
		return -1;
	}
	return 0;
}

int ml_jsonline_send_raw(struct ml_jsonline *c, const char *data, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(c->fd, data + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_writable(c) < 0)
				return -1;
			continue;
		}
		if (n < 0) {
			ml_error_errno(errno, "%s: cannot send", c->peer);
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* The first byte of data with fd as SCM_RIGHTS ancillary data; the rest by
 * ml_jsonline_send_raw. */
static int send_with_fd(struct ml_jsonline *c, const char *data, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	for (;;) {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_writable(c) < 0)
				return -1;
			continue;
		}
		break;
	}
	if (n < 0) {
		ml_error_errno(errno, "%s: cannot send a file descriptor", c->peer);
		return -1;
	}
	return ml_jsonline_send_raw(c, data + 1, len - 1);
}

static int send_line(struct ml_jsonline *c, json_t *msg, int fd)
{
	ml_autofree char *text = json_dumps(msg, JSON_COMPACT);
	ml_autofree char *line = NULL;
	size_t len;

	if (!text) {
		ml_error("%s: cannot serialise message", c->peer);
		return -1;
	}
	len = strlen(text);
	line = malloc(len + 2);
	if (!line)
		abort();
	memcpy(line, text, len);
	line[len] = '\n';
	ml_jsonline_log(c, '>', text, len);
	return fd >= 0 ? send_with_fd(c, line, len + 1, fd) : ml_jsonline_send_raw(c, line, len + 1);
}

int ml_jsonline_send(struct ml_jsonline *c, json_t *msg)
{
	return send_line(c, msg, -1);
}

int ml_jsonline_send_fd(struct ml_jsonline *c, json_t *msg, int fd)
{
	return send_line(c, msg, fd);
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* Take one complete line that is not blank out of the buffer, if there is
 * one. Blank lines (keep-alives, or a peer's flood) are dropped in bulk with
 * one move of the buffer, not one per line. */
static int take_line(struct ml_jsonline *c, char **line, size_t *len)
{
	size_t start = 0, n;
	char *nl;

	for (;;) {
		nl = start < c->in.len ? memchr(c->in.data + start, '\n', c->in.len - start) : NULL;
		if (!nl || !is_blank(c->in.data + start, (size_t)(nl - c->in.data) - start))
			break;
		start = (size_t)(nl - c->in.data) + 1;
	}
	if (start)
		ml_buf_consume(&c->in, start);
	if (!nl) {
		if (c->in.len > c->max_line) {
			ml_error("%s: a line is longer than the limit of %zu bytes", c->peer,
				 c->max_line);
			return -1;
		}
		return 0;
	}
	nl -= start;
	n = (size_t)(nl - c->in.data);
	if (n > c->max_line) {
		ml_error("%s: a line is longer than the limit of %zu bytes", c->peer, c->max_line);
		return -1;
	}
	*line = malloc(n + 1);
	if (!*line)
		abort();
	memcpy(*line, c->in.data, n);
	(*line)[n] = '\0';
	if (n && (*line)[n - 1] == '\r')
		(*line)[--n] = '\0';
	*len = n;
	ml_buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
	return 1;
}

static void quote_excerpt(const char *s, size_t len, char *out, size_t outlen)
{
	size_t j = 0;
	for (size_t i = 0; i < len && j + 5 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f) {
			out[j++] = (char)ch;
		} else {
			j += (size_t)snprintf(out + j, outlen - j, "\\x%02x", ch);
		}
		if (i == 80) {
			snprintf(out + j, outlen - j, "...");
			return;
		}
	}
	out[j] = '\0';
}

int ml_jsonline_recv(struct ml_jsonline *c, long long deadline_ms, json_t **msg)
{
	/* Bytes read after the deadline passed: enough for one line already
	 * sent to complete, never a peer's endless stream. */
	size_t late = 0;

	for (;;) {
		char *line = NULL;
		size_t len = 0;
		int r = take_line(c, &line, &len);
		int expired;

		if (r < 0)
			return ML_JSONLINE_ERROR;
		if (r > 0) {
			json_error_t jerr;
			json_t *v;

			ml_jsonline_log(c, '<', line, len);
			v = json_loadb(line, len, 0, &jerr);
			if (!v || !json_is_object(v)) {
				char ex[128];
				quote_excerpt(line, len, ex, sizeof(ex));
				ml_error("%s: received a line that is not a JSON object (%s): \"%s\"",
					 c->peer, v ? "not an object" : jerr.text, ex);
				json_decref(v);
				free(line);
				return ML_JSONLINE_ERROR;
			}
			free(line);
			*msg = v;
			return ML_JSONLINE_OK;
		}
		if (c->eof) {
			ml_error("%s: connection closed by the peer", c->peer);
			return ML_JSONLINE_EOF;
		}
		/* Every iteration that needs more bytes checks the deadline,
		 * whatever came before: data, blank lines or part of a line. */
		expired = deadline_ms >= 0 && ml_now_ms() >= deadline_ms;
		if (expired && late > c->in.limit) {
			ml_error("%s: no answer in time (the peer kept sending past the deadline)",
				 c->peer);
			return ML_JSONLINE_TIMEOUT;
		}
		{
			struct pollfd p = { .fd = c->fd, .events = POLLIN };
			long long left = deadline_ms < 0 ? 1000 : deadline_ms - ml_now_ms();
			ssize_t n;
			/* A deadline that has passed still takes what is already
			 * readable (poll with 0), up to one line's worth: callers
			 * drain without blocking that way, and a reply that came
			 * just in time counts. */
			if (left < 0 || expired)
				left = 0;
			if (ml_check_interrupted())
				return ML_JSONLINE_ERROR;
			if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR) {
				ml_error_errno(errno, "%s: poll", c->peer);
				return ML_JSONLINE_ERROR;
			}
			if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) {
				if (deadline_ms >= 0 && left == 0) {
					ml_error("%s: no answer in time", c->peer);
					return ML_JSONLINE_TIMEOUT;
				}
				continue;
			}
			n = ml_buf_read_fd(&c->in, c->fd, 65536);
			if (n == 0 || (n < 0 && errno == ECONNRESET)) {
				c->eof = 1;
			} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				return ml_error_context("%s", c->peer), ML_JSONLINE_ERROR;
			} else if (n > 0 && expired) {
				late += (size_t)n;
			}
		}
	}
}

int ml_unix_connect(const char *path, int timeout_ms, int (*alive)(void *), void *opaque, int *fdp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	long long deadline = ml_now_ms() + timeout_ms;
	int last_err = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		ml_error("socket path too long (%zu bytes, at most %zu): %s", strlen(path),
			 sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		if (fd < 0) {
			ml_error_errno(errno, "socket");
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			*fdp = fd;
			return 0;
		}
		last_err = errno;
		close(fd);
		if (last_err != ENOENT && last_err != ECONNREFUSED && last_err != EAGAIN) {
			ml_error_errno(last_err, "cannot connect to %s", path);
			return -1;
		}
		if (ml_check_interrupted())
			return -1;
		if (alive && !alive(opaque)) {
			ml_error("the process that should listen on %s is gone", path);
			return -1;
		}
		if (ml_now_ms() >= deadline) {
			ml_error_errno(last_err, "nobody listens on %s after %d ms", path, timeout_ms);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

int ml_unix_listen(const char *path, int extra_flags, int *fdp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		ml_error("socket path too long (%zu bytes, at most %zu): %s", strlen(path),
			 sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | extra_flags, 0);
	if (fd < 0) {
		ml_error_errno(errno, "socket");
		return -1;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		ml_error_errno(errno, "cannot listen on %s", path);
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}
