/* The local runner: QEMU as a child process of miglab on this host, either
 * a host binary or a Debian root's binary chrooted in a private mount
 * namespace. Sockets live in a short per-cell run directory; the cell's
 * output directory and the guest's directory are bind-mounted into the root
 * at fixed places, so the command line is the same whatever the host paths. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "jsonline.h"
#include "ml-buf.h"
#include "ml-caplog.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "probe-client.h"
#include "qmp.h"
#include "runner.h"
#include "stream-tap.h"
#include "ml-common.h"

#define ROOT_RUN_DIR "/miglab/run"
#define ROOT_OUT_DIR "/miglab/out"
#define ROOT_GUEST_DIR "/miglab/guest"
#define QMP_START_TIMEOUT_MS 30000
#define QMP_HANDSHAKE_TIMEOUT_MS 10000
/* How long a QEMU whose QMP connection broke gets to be seen exiting. */
#define QMP_LOST_EXIT_WAIT_MS 2000

/* Log caps (docs/results.md, "Logs"): the first and the last part of each
 * log are kept, the middle is cut with a "[miglab: N bytes cut]" line.
 * Measured on 1,780 VMs of this lab: consoles up to 717,394 bytes (a
 * normal boot writes 8 KB), QEMU's stderr up to 552 bytes, QMP transcripts
 * up to 123,171 and probe transcripts up to 26,857. */
#define CONSOLE_HEAD ((size_t)8 << 20)     /* 16 MiB a console: 20x the largest */
#define CONSOLE_TAIL ((size_t)8 << 20)
#define STDERR_HEAD ((size_t)512 << 10)    /* 1 MiB: thousands of QEMU warnings */
#define STDERR_TAIL ((size_t)512 << 10)
#define TRANSCRIPT_HEAD ((size_t)4 << 20)  /* 8 MiB: jsonline caps each connection at 4 */
#define TRANSCRIPT_TAIL ((size_t)4 << 20)

/* A local QEMU: the public part first (runner.h), then what only this
 * runner knows. */
struct local_vm {
	struct ml_vm vm;
	pid_t pid;
	struct ml_qmp *qmp;       /* connected and past capabilities after start */
	char *stderr_path;        /* host paths of the logs */
	char *serial_path;
	char *qmp_log_path;
	char *probe_log_path;
	struct ml_caplog *console_log; /* the logs, capped (ml-caplog.h) */
	struct ml_caplog *stderr_log;
	struct ml_caplog *qmp_log;
	struct ml_caplog *probe_log;
	char *qmp_sock;           /* host paths of the sockets */
	char *probe_sock;
	char *console_sock;       /* miglab listens, QEMU's console chardev connects */
	/* The log pump: a thread that drains the console socket and QEMU's
	 * stderr pipe into their capped logs for as long as QEMU lives. */
	int console_listen_fd, console_fd, stderr_fd;
	int pump_stop[2];
	pthread_t pump;
	bool pump_started;
	const char *root;         /* borrowed from the spec's build */
	char *out_dir;
	char *run_dir;
};

/* A local migration: a unix socket in the run directory the destination
 * listens on, and the stream tap in front of it when a copy is kept. */
struct local_migration {
	struct ml_stream_tap *tap;
	char *capture;
	/* save_state/restore_state: a thread moves the stream between QEMU's
	 * end of a socketpair and the file. */
	bool copier_started;
	pthread_t copier;
	int sock_fd;   /* miglab's end */
	int file_fd;
	bool to_file;  /* save: socket -> file; restore: file -> socket */
	char err[256]; /* set by the copier when it failed */
};

static struct local_vm *local_of(const struct ml_vm *vm)
{
	return (struct local_vm *)vm;
}

static char *guest_dir_of(const char *kernel_path)
{
	ml_autofree char *copy = strdup(kernel_path);
	return strdup(dirname(copy));
}

static char *map_path(const char *host_path, const char *host_dir, const char *inner_dir)
{
	size_t n = strlen(host_dir);
	if (strncmp(host_path, host_dir, n) == 0 && (host_path[n] == '/' || host_path[n] == '\0'))
		return ml_strdup_printf("%s%s", inner_dir, host_path + n);
	return NULL;
}

/* A host path as this VM's QEMU sees it (sockets, the disk), or NULL when
 * it is outside what the QEMU's root sees. */
static char *local_view_path(const struct local_vm *vm, const char *host_path)
{
	char *p;

	if (!vm->root)
		return strdup(host_path);
	if ((p = map_path(host_path, vm->run_dir, ROOT_RUN_DIR)) ||
	    (p = map_path(host_path, vm->out_dir, ROOT_OUT_DIR)))
		return p;
	return NULL;
}

/* Transcript lines: "+12.345 > {...}" with seconds since the VM started. */
static void transcript_line(struct local_vm *vm, struct ml_caplog *log, char dir,
			    const char *line, size_t len, size_t show)
{
	struct ml_buf b = ML_BUF_INIT(0);

	if (!log)
		return;
	ml_buf_printf(&b, "%+.3f %c ", (double)(ml_now_ms() - vm->vm.started_ms) / 1000.0, dir);
	ml_buf_append(&b, line, len < show ? len : show);
	if (len > show)
		ml_buf_printf(&b, "... (%zu bytes)", len);
	ml_buf_puts(&b, "\n");
	ml_caplog_write(log, b.data, b.len);
	ml_buf_free(&b);
}

static void transcript(void *opaque, char dir, const char *line, size_t len)
{
	struct local_vm *vm = opaque;

	transcript_line(vm, vm->qmp_log, dir, line, len, len);
}

static void probe_transcript(void *opaque, char dir, const char *line, size_t len)
{
	struct local_vm *vm = opaque;

	/* Long replies (ABI dumps) are summarised; the data lands in its own file. */
	transcript_line(vm, vm->probe_log, dir, line, len, 2000);
}

/* ---- the log pump -------------------------------------------------------- */

/* Read what fd has into log; false at EOF or on an error (fd is then closed
 * and set to -1). With nonblocking fds, EAGAIN is "nothing more for now". */
static bool pump_read(int *fd, struct ml_caplog *log)
{
	char buf[65536];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n > 0) {
		ml_caplog_write(log, buf, (size_t)n);
		return true;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return n < 0 && errno == EINTR;
	close(*fd);
	*fd = -1;
	return false;
}

/* Drain until QEMU closes both (it exited) or until asked to stop; then
 * take what is left without waiting. The thread never blocks QEMU for
 * long: a console the pump falls behind on only slows the guest's UART. */
static void *pump_main(void *arg)
{
	struct local_vm *vm = arg;
	bool stopping = false;

	while (!stopping && (vm->console_listen_fd >= 0 || vm->console_fd >= 0 || vm->stderr_fd >= 0)) {
		struct pollfd p[4] = {
			{ .fd = vm->pump_stop[0], .events = POLLIN },
			{ .fd = vm->console_listen_fd, .events = POLLIN },
			{ .fd = vm->console_fd, .events = POLLIN },
			{ .fd = vm->stderr_fd, .events = POLLIN },
		};

		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			stopping = true;
		if (p[1].revents) {
			/* QEMU's console connects once, at its start. */
			int fd = accept4(vm->console_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) {
				vm->console_fd = fd;
				close(vm->console_listen_fd);
				vm->console_listen_fd = -1;
			}
		}
		if (p[2].revents)
			pump_read(&vm->console_fd, vm->console_log);
		if (p[3].revents)
			pump_read(&vm->stderr_fd, vm->stderr_log);
	}
	while (vm->console_fd >= 0 && pump_read(&vm->console_fd, vm->console_log))
		;
	while (vm->stderr_fd >= 0 && pump_read(&vm->stderr_fd, vm->stderr_log))
		;
	return NULL;
}

static int pump_start(struct local_vm *vm)
{
	sigset_t all, old;
	int rc;

	if (pipe2(vm->pump_stop, O_CLOEXEC) < 0) {
		ml_error_errno(errno, "pipe");
		return -1;
	}
	/* The lab's signal handlers stay on the thread that installed them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&vm->pump, NULL, pump_main, vm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		ml_error_errno(rc, "cannot start the log thread of %s", vm->vm.name);
		return -1;
	}
	vm->pump_started = true;
	return 0;
}

/* Stop the pump once QEMU is gone (or killed): it takes what is left in the
 * socket and the pipe, and the logs then hold all QEMU wrote. */
static void pump_finish(struct local_vm *vm)
{
	if (vm->pump_started) {
		ssize_t n;
		do
			n = write(vm->pump_stop[1], "x", 1);
		while (n < 0 && errno == EINTR);
		pthread_join(vm->pump, NULL);
		vm->pump_started = false;
	}
	for (int i = 0; i < 2; i++)
		if (vm->pump_stop[i] >= 0) {
			close(vm->pump_stop[i]);
			vm->pump_stop[i] = -1;
		}
	if (vm->console_listen_fd >= 0)
		close(vm->console_listen_fd);
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	if (vm->stderr_fd >= 0)
		close(vm->stderr_fd);
	vm->console_listen_fd = vm->console_fd = vm->stderr_fd = -1;
}

static void argv_push(json_t *argv, const char *s)
{
	json_array_append_new(argv, json_string(s));
}

/* Build QEMU's command line. Paths are as the process sees them. */
static json_t *build_argv(const struct ml_vm_spec *s, const struct local_vm *vm)
{
	json_t *a = json_array();
	const char *gdir = s->root ? ROOT_GUEST_DIR : NULL;
	ml_autofree char *kernel = gdir ? ml_strdup_printf("%s/%s", gdir, strrchr(s->kernel_path, '/') + 1)
					: strdup(s->kernel_path);
	ml_autofree char *initrd = gdir ? ml_strdup_printf("%s/%s", gdir, strrchr(s->initrd_path, '/') + 1)
					: strdup(s->initrd_path);
	/* Paths and names inside option strings have their commas doubled. */
	ml_autofree char *qmp_path = local_view_path(vm, vm->qmp_sock);
	ml_autofree char *probe_path = local_view_path(vm, vm->probe_sock);
	ml_autofree char *console_path = local_view_path(vm, vm->console_sock);
	ml_autofree char *disk_path = s->disk_path ? local_view_path(vm, s->disk_path) : NULL;
	ml_autofree char *qmp = ml_qemu_opt_value(qmp_path);
	ml_autofree char *probe = ml_qemu_opt_value(probe_path);
	ml_autofree char *console = ml_qemu_opt_value(console_path);
	ml_autofree char *disk = disk_path ? ml_qemu_opt_value(disk_path) : NULL;
	ml_autofree char *name = ml_qemu_opt_value(s->name);
	ml_autofree char *label = ml_qemu_opt_value(s->label ? s->label : s->name);
	ml_autofree char *t = NULL;

	argv_push(a, s->qemu);
	argv_push(a, "-name");
	t = ml_strdup_printf("guest=miglab-%s,process=miglab:%s", name, label);
	argv_push(a, t);
	argv_push(a, "-nodefaults");
	argv_push(a, "-no-user-config");
	argv_push(a, "-display");
	argv_push(a, "none");
	argv_push(a, "-machine");
	argv_push(a, s->machine);
	argv_push(a, "-accel");
	argv_push(a, s->accel);
	if (s->cpu) {
		argv_push(a, "-cpu");
		argv_push(a, s->cpu);
	}
	argv_push(a, "-m");
	free(t);
	t = ml_strdup_printf("%d", s->memory_mib);
	argv_push(a, t);
	argv_push(a, "-smp");
	free(t);
	t = ml_strdup_printf("%d", s->smp > 0 ? s->smp : 1);
	argv_push(a, t);
	argv_push(a, "-kernel");
	argv_push(a, kernel);
	argv_push(a, "-initrd");
	argv_push(a, initrd);
	argv_push(a, "-append");
	argv_push(a, s->append);
	/* The console is for humans and for the continuity check: QEMU
	 * connects to miglab's socket at its start (before the guest runs, so
	 * nothing is lost), and miglab keeps it in a capped file beside
	 * cell.json. A file chardev would let a guest fill the disk. */
	argv_push(a, "-chardev");
	free(t);
	t = ml_strdup_printf("socket,id=console0,path=%s", console);
	argv_push(a, t);
	argv_push(a, "-serial");
	argv_push(a, "chardev:console0");
	argv_push(a, "-chardev");
	free(t);
	t = ml_strdup_printf("socket,id=qmp0,path=%s,server=on,wait=off", qmp);
	argv_push(a, t);
	argv_push(a, "-mon");
	argv_push(a, "chardev=qmp0,mode=control");
	/* The probe agent's channel: a named virtio-serial port. */
	argv_push(a, "-device");
	argv_push(a, "virtio-serial-pci,id=vser0");
	argv_push(a, "-chardev");
	free(t);
	t = ml_strdup_printf("socket,id=probe0,path=%s,server=on,wait=off", probe);
	argv_push(a, t);
	argv_push(a, "-device");
	argv_push(a, "virtserialport,bus=vser0.0,chardev=probe0,name=org.miglab.probe");
	/* Devices whose state migrates: entropy, network, block. */
	argv_push(a, "-device");
	argv_push(a, "virtio-rng-pci,id=rng0");
	argv_push(a, "-netdev");
	argv_push(a, "user,id=net0,restrict=on");
	argv_push(a, "-device");
	argv_push(a, "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:12:34:56");
	if (disk) {
		argv_push(a, "-blockdev");
		free(t);
		t = ml_strdup_printf("driver=file,node-name=disk0-file,filename=%s", disk);
		argv_push(a, t);
		argv_push(a, "-blockdev");
		argv_push(a, "driver=raw,node-name=disk0,file=disk0-file");
		argv_push(a, "-device");
		argv_push(a, "virtio-blk-pci,id=blk0,drive=disk0");
	}
	if (s->incoming) {
		argv_push(a, "-incoming");
		argv_push(a, "defer");
	}
	for (size_t i = 0; s->extra_args && s->extra_args[i]; i++)
		argv_push(a, s->extra_args[i]);
	return a;
}

static bool local_vm_alive(struct ml_vm *pub)
{
	struct local_vm *vm = local_of(pub);
	int st;

	if (pub->exited || vm->pid <= 0)
		return false;
	/* A lost QMP connection most likely means QEMU is dying: its exit
	 * reaches us a moment after its sockets close (through the supervisor
	 * of its PID namespace, ml-proc.c), so give it that moment before
	 * saying it lives and letting the lab take the blame. */
	if (ml_proc_exited(vm->pid, &st) ||
	    (vm->qmp && ml_qmp_last_err(vm->qmp) == ML_QMP_ERR_IO &&
	     ml_proc_wait(vm->pid, QMP_LOST_EXIT_WAIT_MS, &st) == 0)) {
		pub->exited = true;
		pub->exit_status = st;
		return false;
	}
	return true;
}

static int alive_cb(void *opaque)
{
	return local_vm_alive(opaque);
}

static char *local_log_tail(struct ml_vm *pub, enum ml_vm_log log, size_t max)
{
	struct local_vm *vm = local_of(pub);
	struct ml_caplog *l = log == ML_VM_LOG_STDERR ? vm->stderr_log : vm->console_log;
	/* Trailing blanks of stderr are trimmed: read a little more. */
	size_t extra = log == ML_VM_LOG_STDERR ? 256 : 0;
	size_t len;
	char *out;

	if (!l)
		return NULL;
	/* QEMU is gone: what it wrote last is still in the pipe until drained. */
	if (!local_vm_alive(pub))
		pump_finish(vm);
	out = ml_caplog_tail(l, max + extra);
	if (!out) {
		ml_error_reset();
		return NULL;
	}
	len = strlen(out);
	while (log == ML_VM_LOG_STDERR && len && (out[len - 1] == '\n' || out[len - 1] == ' '))
		out[--len] = '\0';
	if (len > max) {
		/* QEMU's stderr and the console are mostly UTF-8: a tail that
		 * starts in the middle of a character would quote a U+FFFD that
		 * nobody wrote. */
		size_t start = len - max;
		for (int k = 0; k < 3 && start < len && ((unsigned char)out[start] & 0xc0) == 0x80; k++)
			start++;
		memmove(out, out + start, len - start + 1);
	}
	return out;
}

/* The stderr tail, "" when there is none. */
static char *stderr_tail(struct local_vm *vm, size_t max)
{
	char *t = local_log_tail(&vm->vm, ML_VM_LOG_STDERR, max);
	return t ? t : strdup("");
}

/* The error when QEMU is gone: its exit status and what it printed. */
static void report_exit(struct local_vm *vm, const char *when)
{
	char desc[128];
	ml_autofree char *tail = stderr_tail(vm, 2000);

	ml_proc_status_str(vm->vm.exit_status, desc, sizeof(desc));
	ml_error("QEMU (%s) %s: it %s%s%s", vm->vm.name, when, desc, *tail ? "; stderr:\n" : "",
		 tail);
}

/* "qemu-src.stderr" from "<out_dir>/qemu-src.stderr": what attempt.json names. */
static char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return strdup(slash ? slash + 1 : path);
}

static int local_vm_start(const struct ml_vm_spec *s, struct ml_vm **out)
{
	struct local_vm *vm = calloc(1, sizeof(*vm));
	struct ml_vm *pub = &vm->vm;
	ml_autofree char *gdir = NULL;
	ml_autoclose int errfd = -1;
	const char **argv = NULL;
	struct ml_bind binds[3];
	int fd;

	if (!vm)
		abort();
	*out = pub;
	pub->ops = &ml_local_runner;
	pub->name = strdup(s->name);
	vm->root = s->root;
	vm->out_dir = strdup(s->out_dir);
	vm->run_dir = strdup(s->run_dir);
	vm->stderr_path = ml_strdup_printf("%s/qemu-%s.stderr", s->out_dir, s->name);
	vm->serial_path = ml_strdup_printf("%s/console-%s.log", s->out_dir, s->name);
	vm->qmp_log_path = ml_strdup_printf("%s/qmp-%s.log", s->out_dir, s->name);
	vm->probe_log_path = ml_strdup_printf("%s/probe-%s.log", s->out_dir, s->name);
	pub->stderr_log = base_name(vm->stderr_path);
	pub->console_log = base_name(vm->serial_path);
	pub->qmp_log = base_name(vm->qmp_log_path);
	pub->probe_log = base_name(vm->probe_log_path);
	vm->qmp_sock = ml_strdup_printf("%s/qmp-%s.sock", s->run_dir, s->name);
	vm->probe_sock = ml_strdup_printf("%s/probe-%s.sock", s->run_dir, s->name);
	vm->console_sock = ml_strdup_printf("%s/console-%s.sock", s->run_dir, s->name);
	vm->console_listen_fd = vm->console_fd = vm->stderr_fd = -1;
	vm->pump_stop[0] = vm->pump_stop[1] = -1;
	unlink(vm->qmp_sock);
	unlink(vm->probe_sock);
	if (s->disk_path && s->root) {
		ml_autofree char *inner = map_path(s->disk_path, s->run_dir, ROOT_RUN_DIR);
		if (!inner) {
			ml_error("the disk image must be inside the run directory %s", s->run_dir);
			return -1;
		}
	}
	pub->argv = build_argv(s, vm);

	if (ml_caplog_open(vm->stderr_path, STDERR_HEAD, STDERR_TAIL, &vm->stderr_log) < 0 ||
	    ml_caplog_open(vm->serial_path, CONSOLE_HEAD, CONSOLE_TAIL, &vm->console_log) < 0 ||
	    ml_caplog_open(vm->qmp_log_path, TRANSCRIPT_HEAD, TRANSCRIPT_TAIL, &vm->qmp_log) < 0 ||
	    ml_caplog_open(vm->probe_log_path, TRANSCRIPT_HEAD, TRANSCRIPT_TAIL, &vm->probe_log) < 0)
		return ml_error_context("the logs of %s", s->name);
	{
		int errpipe[2];

		if (pipe2(errpipe, O_CLOEXEC) < 0) {
			ml_error_errno(errno, "pipe");
			return -1;
		}
		/* Only miglab's end is nonblocking: QEMU's writes must not fail. */
		fcntl(errpipe[0], F_SETFL, fcntl(errpipe[0], F_GETFL) | O_NONBLOCK);
		vm->stderr_fd = errpipe[0];
		errfd = errpipe[1];
	}
	if (ml_unix_listen(vm->console_sock, SOCK_NONBLOCK, &vm->console_listen_fd) < 0)
		return ml_error_context("the console of %s", s->name);
	argv = calloc(json_array_size(pub->argv) + 1, sizeof(*argv));
	if (!argv)
		abort();
	for (size_t i = 0; i < json_array_size(pub->argv); i++)
		argv[i] = json_string_value(json_array_get(pub->argv, i));

	gdir = guest_dir_of(s->kernel_path);
	binds[0] = (struct ml_bind){ s->run_dir, ROOT_RUN_DIR, false };
	binds[1] = (struct ml_bind){ s->out_dir, ROOT_OUT_DIR, false };
	binds[2] = (struct ml_bind){ gdir, ROOT_GUEST_DIR, true };
	{
		struct ml_proc_spec ps = {
			.argv = argv,
			.stdin_fd = -1,
			.stdout_fd = errfd,
			.stderr_fd = errfd,
			.root = s->root,
			.binds = s->root ? binds : NULL,
			.n_binds = s->root ? ML_ARRAY_SIZE(binds) : 0,
		};
		pub->started_ms = ml_now_ms();
		if (ml_proc_spawn(&ps, &vm->pid) < 0) {
			free(argv);
			return ml_error_context("starting QEMU (%s)", s->name);
		}
	}
	free(argv);
	close(errfd); /* QEMU has it: EOF on the pipe is QEMU gone */
	errfd = -1;
	if (pump_start(vm) < 0)
		return ml_error_context("QEMU (%s)", s->name);

	if (ml_unix_connect(vm->qmp_sock, QMP_START_TIMEOUT_MS, alive_cb, pub, &fd) < 0) {
		if (!local_vm_alive(pub)) {
			report_exit(vm, "exited at start");
			return -1;
		}
		return ml_error_context("QEMU (%s) did not open its QMP socket", s->name);
	}
	{
		char peer[64];
		snprintf(peer, sizeof(peer), "QMP of %s", s->name);
		vm->qmp = ml_qmp_new(fd, peer, transcript, vm);
	}
	if (ml_qmp_handshake(vm->qmp, QMP_HANDSHAKE_TIMEOUT_MS) < 0) {
		if (!local_vm_alive(pub) || ml_proc_wait(vm->pid, 500, &pub->exit_status) == 0) {
			pub->exited = true;
			report_exit(vm, "exited during the QMP handshake");
			return -1;
		}
		return ml_error_context("QEMU (%s)", s->name);
	}
	return 0;
}

static int local_probe_connect(struct ml_vm *pub, int timeout_ms)
{
	struct local_vm *vm = local_of(pub);
	char peer[64];
	int fd;

	if (pub->probe)
		return 0;
	if (ml_unix_connect(vm->probe_sock, timeout_ms, alive_cb, pub, &fd) < 0)
		return ml_error_context("probe channel of %s", pub->name);
	snprintf(peer, sizeof(peer), "probe in %s", pub->name);
	return ml_probe_open(fd, peer, probe_transcript, vm, &pub->probe);
}

static int local_qmp(struct ml_vm *pub, const char *cmd, json_t *args, int timeout_ms, json_t **ret)
{
	struct local_vm *vm = local_of(pub);

	if (ret)
		*ret = NULL;
	if (!vm->qmp) {
		json_decref(args);
		ml_error("QEMU (%s): no QMP connection", pub->name);
		return -1;
	}
	return ml_qmp_execute(vm->qmp, cmd, args, timeout_ms, ret);
}

static int local_qmp_error(struct ml_vm *pub, const char **cls, const char **desc)
{
	struct local_vm *vm = local_of(pub);

	if (!vm->qmp || ml_qmp_last_err(vm->qmp) != ML_QMP_ERR_REPLY)
		return -1;
	*cls = ml_qmp_error_class(vm->qmp);
	*desc = ml_qmp_error_desc(vm->qmp);
	return 0;
}

/* The destination listens on <run_dir>/mig-<name>.sock; with a capture the
 * source sends to the tap's <run_dir>/tap-<name>.sock instead, and the tap
 * forwards to the destination (docs/stream.md). */
static int local_migrate_incoming(struct ml_vm *pub, struct ml_migration *m, int timeout_ms)
{
	struct local_vm *dst = local_of(pub);
	ml_autofree char *sock = ml_strdup_printf("%s/mig-%s.sock", dst->run_dir, pub->name);
	ml_autofree char *view = local_view_path(dst, sock);
	ml_autofree char *uri = NULL;
	struct local_migration *lm = calloc(1, sizeof(*lm));

	if (!lm)
		abort();
	lm->sock_fd = lm->file_fd = -1;
	m->priv = lm;
	if (!view) {
		ml_error("the migration socket %s is not visible to QEMU (%s)", sock, pub->name);
		return ML_RUNNER_LAB_ERROR;
	}
	uri = ml_strdup_printf("unix:%s", view);
	if (local_qmp(pub, "migrate-incoming", json_pack("{s:s}", "uri", uri), timeout_ms, NULL) < 0)
		return -1;
	if (!m->capture_path) {
		m->endpoint = ml_steal_pointer(&sock);
		return 0;
	}
	{
		ml_autofree char *tap_sock = ml_strdup_printf("%s/tap-%s.sock", dst->run_dir, pub->name);
		struct ml_stream_tap_opts topts = { .listen_path = tap_sock, .dst_path = sock,
						 .capture_path = m->capture_path,
						 .lossless = m->lossless_capture };
		if (ml_stream_tap_start_opts(&topts, &lm->tap) < 0) {
			ml_error_context("cannot start the stream tap");
			return ML_RUNNER_LAB_ERROR;
		}
		m->endpoint = ml_steal_pointer(&tap_sock);
	}
	return 0;
}

static int local_migrate(struct ml_vm *pub, struct ml_migration *m, json_t *params, int timeout_ms)
{
	struct local_vm *src = local_of(pub);
	ml_autofree char *view = m->endpoint ? local_view_path(src, m->endpoint) : NULL;
	ml_autofree char *uri = NULL;

	if (!view) {
		json_decref(params);
		ml_error("the migration socket %s is not visible to QEMU (%s)",
			 m->endpoint ? m->endpoint : "(none)", pub->name);
		return ML_RUNNER_LAB_ERROR;
	}
	/* A QEMU that does not know a parameter migrates with its defaults. */
	if (params)
		local_qmp(pub, "migrate-set-parameters", params, 5000, NULL);
	uri = ml_strdup_printf("unix:%s", view);
	return local_qmp(pub, "migrate", json_pack("{s:s}", "uri", uri), timeout_ms, NULL);
}

/* Move the stream until the end of its source: QEMU closing its end (save)
 * or the end of the file (restore). */
static void *copier_main(void *arg)
{
	struct local_migration *lm = arg;
	int from = lm->to_file ? lm->sock_fd : lm->file_fd;
	int to = lm->to_file ? lm->file_fd : lm->sock_fd;
	char *buf = malloc(1 << 20);

	if (!buf)
		abort();
	for (;;) {
		ssize_t n = read(from, buf, 1 << 20), off = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(lm->err, sizeof(lm->err), "reading the %s: %s",
				 lm->to_file ? "stream from QEMU" : "saved guest", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		while (off < n) {
			ssize_t w = lm->to_file ? write(to, buf + off, (size_t)(n - off))
						: send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				snprintf(lm->err, sizeof(lm->err), "writing the %s: %s",
					 lm->to_file ? "saved guest" : "stream to QEMU", strerror(errno));
				goto out;
			}
			off += w;
		}
	}
out:
	free(buf);
	/* restore: QEMU reads to the end of the stream, then sees EOF */
	shutdown(lm->sock_fd, SHUT_RDWR);
	return NULL;
}

/* QEMU gets one end of a socketpair over its QMP socket (getfd) under name,
 * which "fd:NAME" then names in a migration URI; a thread of ours moves the
 * bytes between the other end and file_fd. A socket, not the file itself:
 * QEMU 11 refuses fd: migration to a regular file, and every QEMU of the
 * matrix takes a socket. */
static int start_copier(struct local_vm *vm, struct ml_migration *m, int file_fd, bool to_file,
			const char *name, int timeout_ms)
{
	struct local_migration *lm = calloc(1, sizeof(*lm));
	int sv[2];
	int r;

	if (!lm)
		abort();
	m->priv = lm;
	lm->sock_fd = -1;
	lm->file_fd = -1;
	if (!vm->qmp) {
		ml_error("QEMU (%s): no QMP connection", vm->vm.name);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ml_error_errno(errno, "socketpair");
		return ML_RUNNER_LAB_ERROR;
	}
	r = ml_qmp_execute_fd(vm->qmp, "getfd", json_pack("{s:s}", "fdname", name), sv[1], timeout_ms,
			      NULL);
	close(sv[1]); /* QEMU holds its own copy */
	if (r < 0) {
		close(sv[0]);
		return -1;
	}
	lm->sock_fd = sv[0];
	lm->file_fd = dup(file_fd);
	lm->to_file = to_file;
	if (lm->file_fd < 0 || pthread_create(&lm->copier, NULL, copier_main, lm) != 0) {
		ml_error_errno(errno, "cannot start the thread that moves the saved guest");
		return ML_RUNNER_LAB_ERROR;
	}
	lm->copier_started = true;
	return 0;
}

static int local_save_state(struct ml_vm *pub, struct ml_migration *m, int file_fd, json_t *params,
			    int timeout_ms)
{
	struct local_vm *src = local_of(pub);
	int r = start_copier(src, m, file_fd, true, "miglab-save", timeout_ms);

	if (r < 0) {
		json_decref(params);
		return r;
	}
	if (params)
		local_qmp(pub, "migrate-set-parameters", params, 5000, NULL);
	return local_qmp(pub, "migrate", json_pack("{s:s}", "uri", "fd:miglab-save"), timeout_ms, NULL);
}

static int local_restore_state(struct ml_vm *pub, struct ml_migration *m, int file_fd, int timeout_ms)
{
	struct local_vm *dst = local_of(pub);
	int r = start_copier(dst, m, file_fd, false, "miglab-restore", timeout_ms);

	if (r < 0)
		return r;
	return local_qmp(pub, "migrate-incoming", json_pack("{s:s}", "uri", "fd:miglab-restore"),
			 timeout_ms, NULL);
}

static int local_migrate_wait(struct ml_vm *pub, const char *const *terminal_states,
			      int timeout_ms, json_t **info)
{
	struct local_vm *src = local_of(pub);

	if (!src->qmp) {
		*info = NULL;
		ml_error("QEMU (%s): no QMP connection", pub->name);
		return -1;
	}
	if (ml_qmp_wait_migration(src->qmp, terminal_states, timeout_ms, info) == 0)
		return 0;
	return ml_qmp_last_err(src->qmp) == ML_QMP_ERR_TIMEOUT ? ML_RUNNER_TIMEOUT : -1;
}

static int local_migrate_cancel(struct ml_vm *pub, int timeout_ms)
{
	return local_qmp(pub, "migrate_cancel", NULL, timeout_ms, NULL);
}

static void local_migrate_end(struct ml_migration *m)
{
	struct local_migration *lm = m->priv;

	if (lm && lm->tap) {
		if (ml_stream_tap_finish(lm->tap, &m->stream) < 0)
			fprintf(stderr, "miglab: warning: stream tap: %s\n", ml_error_message());
		ml_stream_tap_free(lm->tap);
	}
	free(m->error);
	m->error = NULL;
	if (lm && lm->copier_started) {
		/* QEMU has closed its end (or died): the copier sees the end. A
		 * QEMU that neither finished nor died is stopped by the caller
		 * before; shut our end so the thread cannot wait forever. */
		if (lm->to_file == false)
			shutdown(lm->sock_fd, SHUT_RDWR);
		pthread_join(lm->copier, NULL);
		if (lm->err[0])
			m->error = strdup(lm->err);
	}
	if (lm && lm->sock_fd >= 0)
		close(lm->sock_fd);
	if (lm && lm->file_fd >= 0)
		close(lm->file_fd);
	free(lm);
	m->priv = NULL;
	free(m->endpoint);
	m->endpoint = NULL;
}

static bool local_vm_wait_exit(struct ml_vm *pub, int timeout_ms)
{
	struct local_vm *vm = local_of(pub);

	if (pub->exited || vm->pid <= 0)
		return true;
	if (ml_proc_wait(vm->pid, timeout_ms, &pub->exit_status) == 0) {
		pub->exited = true;
		return true;
	}
	return false;
}

static void local_vm_stop(struct ml_vm *pub)
{
	struct local_vm *vm = local_of(pub);

	if (!pub)
		return;
	if (pub->probe) {
		ml_probe_free(pub->probe);
		pub->probe = NULL;
	}
	if (vm->qmp) {
		ml_qmp_free(vm->qmp);
		vm->qmp = NULL;
	}
	if (vm->pid > 0 && !pub->exited) {
		int st;
		if (ml_proc_exited(vm->pid, &st)) {
			pub->exit_status = st;
		} else {
			ml_proc_kill(vm->pid);
			pub->exit_status = W_EXITCODE(0, SIGKILL);
		}
		pub->exited = true;
	}
	pump_finish(vm);
	if (vm->qmp_sock)
		unlink(vm->qmp_sock);
	if (vm->probe_sock)
		unlink(vm->probe_sock);
	if (vm->console_sock)
		unlink(vm->console_sock);
}

/* Cut each log to its cap and close it; a log that could not be written
 * (a full disk) is a warning: the cell's outcome does not hang on it. */
static void close_logs(struct local_vm *vm)
{
	struct ml_caplog **logs[] = { &vm->console_log, &vm->stderr_log, &vm->qmp_log,
				      &vm->probe_log };

	for (size_t i = 0; i < ML_ARRAY_SIZE(logs); i++) {
		if (ml_caplog_close(*logs[i]) < 0) {
			fprintf(stderr, "miglab: warning: %s\n", ml_error_message());
			ml_error_reset();
		}
		*logs[i] = NULL;
	}
}

static void local_vm_free(struct ml_vm *pub)
{
	struct local_vm *vm = local_of(pub);

	if (!pub)
		return;
	local_vm_stop(pub);
	close_logs(vm);
	json_decref(pub->argv);
	free(pub->name);
	free(pub->stderr_log);
	free(pub->console_log);
	free(pub->qmp_log);
	free(pub->probe_log);
	free(vm->stderr_path);
	free(vm->serial_path);
	free(vm->qmp_log_path);
	free(vm->probe_log_path);
	free(vm->qmp_sock);
	free(vm->probe_sock);
	free(vm->console_sock);
	free(vm->out_dir);
	free(vm->run_dir);
	free(vm);
}

const struct ml_runner_ops ml_local_runner = {
	.name = "local",
	.vm_start = local_vm_start,
	.probe_connect = local_probe_connect,
	.qmp = local_qmp,
	.qmp_error = local_qmp_error,
	.migrate_incoming = local_migrate_incoming,
	.migrate = local_migrate,
	.migrate_wait = local_migrate_wait,
	.migrate_cancel = local_migrate_cancel,
	.migrate_end = local_migrate_end,
	.save_state = local_save_state,
	.restore_state = local_restore_state,
	.log_tail = local_log_tail,
	.vm_alive = local_vm_alive,
	.vm_wait_exit = local_vm_wait_exit,
	.vm_stop = local_vm_stop,
	.vm_free = local_vm_free,
};
