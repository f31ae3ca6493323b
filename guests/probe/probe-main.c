/* miglab-probe's entry point: reads its options (command line and
 * /proc/cmdline), starts the heartbeat, then finds the virtio-serial port
 * org.miglab.probe (or the --port given) and serves the host on it forever.
 * It is usually PID 1 of the guest: it never exits because the host went
 * away or the port vanished; it waits and opens it again. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>

#include "probe.h"
#include "ml-common.h"

#define VPORT_CLASS "/sys/class/virtio-ports"
#define RETRY_MS 200

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* miglab.ram_mib=N from the kernel command line; def if absent or bad. */
static int cmdline_ram_mib(const char *path, int def)
{
	char buf[4096], *save = NULL;

	if (probe_read_line(path, buf, sizeof(buf)) < 0)
		return def;
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *end;
		long v;

		if (strncmp(tok, "miglab.ram_mib=", 15))
			continue;
		errno = 0;
		v = strtol(tok + 15, &end, 10);
		if (errno || *end || v < 1 || v > PROBE_RAM_MIB_MAX) {
			probe_log("ignoring bad %s (want 1..%d)", tok, PROBE_RAM_MIB_MAX);
			continue;
		}
		def = (int)v;
	}
	return def;
}

/* Find /dev/<vportNpM> for the port named name; create the node from its
 * sysfs dev numbers if devtmpfs did not. */
static int find_port(const char *name, char *path, size_t len)
{
	DIR *d = opendir(VPORT_CLASS);
	struct dirent *e;
	int ret = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char file[512], val[256];
		unsigned maj, min;

		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), VPORT_CLASS "/%s/name", e->d_name);
		if (probe_read_line(file, val, sizeof(val)) < 0 || strcmp(val, name))
			continue;
		snprintf(path, len, "/dev/%s", e->d_name);
		snprintf(file, sizeof(file), VPORT_CLASS "/%s/dev", e->d_name);
		if (access(path, F_OK) < 0 && probe_read_line(file, val, sizeof(val)) == 0 &&
		    sscanf(val, "%u:%u", &maj, &min) == 2)
			mknod(path, S_IFCHR | 0600, makedev(maj, min));
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Open the port: the --port path (a device, or a unix socket to connect to)
 * or the discovered virtio-serial port. -1 with errno set if not yet. */
static int open_port(const char *forced, bool *is_socket, char *used, size_t len)
{
	struct stat st;

	if (forced)
		snprintf(used, len, "%s", forced);
	else if (find_port(PROBE_PORT_NAME, used, len) < 0) {
		errno = ENOENT;
		return -1;
	}
	if (stat(used, &st) < 0)
		return -1;
	*is_socket = S_ISSOCK(st.st_mode);
	if (*is_socket)
		return connect_unix(used);
	return open(used, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: miglab-probe [--port PATH] [--cmdline FILE] [--quiet]\n"
		"  --port PATH     serve on PATH (a device, or a unix socket to connect to)\n"
		"                  instead of the virtio-serial port " PROBE_PORT_NAME "\n"
		"  --cmdline FILE  read miglab.* options from FILE, not /proc/cmdline\n"
		"  --quiet         no status lines on stderr\n");
}

/* As PID 1 the agent must never return: the kernel would panic. */
static int die(void)
{
	if (getpid() == 1)
		for (;;)
			pause();
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct probe_agent agent; /* big enough not to live on the stack */
	const char *port = NULL, *cmdline = "/proc/cmdline";
	bool waiting_logged = false;
	int c;

	while ((c = getopt_long(argc, argv, "p:c:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port = optarg; break;
		case 'c': cmdline = optarg; break;
		case 'q': probe_quiet = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return die();
		}
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	/* A host that goes away must cost a failed write, not the agent. */
	signal(SIGPIPE, SIG_IGN);

	if (probe_agent_init(&agent, cmdline_ram_mib(cmdline, PROBE_RAM_MIB_DEFAULT)) < 0)
		return die();
	probe_log("started: protocol %d, boot_id %s, ram_mib default %d%s", PROBE_PROTOCOL_VERSION,
		  agent.boot_id, agent.ram_mib_default,
#ifdef MIGLAB_PROBE_DEBUG
		  ", DEBUG COMMANDS ENABLED"
#else
		  ""
#endif
	);

	for (;;) {
		char used[512];
		bool is_socket = false;
		int fd = open_port(port, &is_socket, used, sizeof(used));
		enum probe_serve_end end;

		if (fd < 0) {
			if (!waiting_logged)
				probe_log("waiting for %s (%s)", port ? port : "port " PROBE_PORT_NAME,
					  strerror(errno));
			waiting_logged = true;
			sleep_ms(RETRY_MS);
			continue;
		}
		waiting_logged = false;
		probe_log("serving on %s", used);
		end = probe_serve(&agent, fd, is_socket);
		close(fd);
		probe_log("%s on %s; reopening", end == PROBE_SERVE_EOF ? "host closed" : "port error",
			  used);
		sleep_ms(RETRY_MS);
	}
}
