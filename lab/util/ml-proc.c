/* Process supervision (see ml-proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "ml-error.h"
#include "ml-proc.h"
#include "ml-common.h"

static const char *const default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"LC_ALL=C.UTF-8",
	NULL,
};

volatile sig_atomic_t ml_interrupted;
volatile sig_atomic_t ml_interrupt_count;

static void on_interrupt(int sig)
{
	ml_interrupted = sig;
	ml_interrupt_count++;
}

void ml_interrupt_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: blocking calls return EINTR and loops re-check the flag. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool ml_check_interrupted(void)
{
	if (!ml_interrupted)
		return false;
	ml_error("interrupted by %s", sigabbrev_np(ml_interrupted) ? sigabbrev_np(ml_interrupted) : "a signal");
	return true;
}

long long ml_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: report "what: strerror" through the pipe and exit. Only
 * async-signal-safe calls between fork and exec. */
static void __attribute__((noreturn)) child_fail(int errfd, const char *what, int err)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
	if (n > 0 && write(errfd, msg, (size_t)n) < 0) {
		/* nothing more we can do */
	}
	_exit(127);
}

static int child_redirect(int fd, int target, int errfd)
{
	if (fd < 0) {
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			child_fail(errfd, "open /dev/null", errno);
	}
	if (fd != target && dup2(fd, target) < 0)
		child_fail(errfd, "dup2", errno);
	if (fd == target)
		fcntl(fd, F_SETFD, 0);
	return 0;
}

static void child_enter_root(const struct ml_proc_spec *spec, int errfd)
{
	char target[4096];

	if (unshare(CLONE_NEWNS) < 0)
		child_fail(errfd, "unshare(CLONE_NEWNS) (a private mount namespace needs root or CAP_SYS_ADMIN)", errno);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(errfd, "making / private", errno);

	snprintf(target, sizeof(target), "%s/dev", spec->root);
	if (mount("/dev", target, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail(errfd, "bind-mounting /dev into the root", errno);
	snprintf(target, sizeof(target), "%s/proc", spec->root);
	if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(errfd, "mounting /proc in the root", errno);
	snprintf(target, sizeof(target), "%s/sys", spec->root);
	if (mount("/sys", target, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail(errfd, "bind-mounting /sys into the root", errno);
	snprintf(target, sizeof(target), "%s/tmp", spec->root);
	if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") < 0)
		child_fail(errfd, "mounting /tmp in the root", errno);

	for (size_t i = 0; i < spec->n_binds; i++) {
		const struct ml_bind *b = &spec->binds[i];
		snprintf(target, sizeof(target), "%s%s", spec->root, b->inner_path);
		if (mount(b->host_path, target, NULL, MS_BIND, NULL) < 0)
			child_fail(errfd, "bind-mounting a work directory into the root", errno);
		if (b->readonly &&
		    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			child_fail(errfd, "remounting a bind mount read-only", errno);
	}
	if (chroot(spec->root) < 0)
		child_fail(errfd, "chroot into the root", errno);
	if (chdir("/") < 0)
		child_fail(errfd, "chdir /", errno);
}

/* In the child: the spec's resource limits (soft and hard). */
static void child_limits(const struct ml_proc_limits *l, int errfd)
{
	const struct {
		int resource;
		unsigned long long v;
		const char *what;
	} set[] = {
		{ RLIMIT_CPU, l->cpu_s, "setrlimit(RLIMIT_CPU)" },
		{ RLIMIT_AS, l->as_bytes, "setrlimit(RLIMIT_AS)" },
		{ RLIMIT_FSIZE, l->fsize_bytes, "setrlimit(RLIMIT_FSIZE)" },
		{ RLIMIT_NOFILE, l->nofile, "setrlimit(RLIMIT_NOFILE)" },
	};

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
		struct rlimit r = { .rlim_cur = (rlim_t)set[i].v, .rlim_max = (rlim_t)set[i].v };
		if (set[i].v && setrlimit(set[i].resource, &r) < 0)
			child_fail(errfd, set[i].what, errno);
	}
}

/* ---- the process tree of one spawn -------------------------------------
 *
 * miglab (P) forks a supervisor (S). S makes a new PID namespace and forks
 * its init (I, pid 1 there); I forks the target (T), which execs the
 * program. P sees only S; S ends the way T ended (same exit code, or the
 * same signal), so callers read T's status from S.
 *
 *   P --fork--> S --unshare(PID), fork--> I (pid 1) --fork--> T --exec
 *
 * Why a PID namespace: PR_SET_PDEATHSIG reaches one generation only, and a
 * child subreaper or a cgroup needs a living miglab to do the killing. When
 * the init of a PID namespace dies, the kernel kills every process in the
 * namespace, whoever started it and however deep. S and I each die with
 * their parent (PDEATHSIG), so a SIGKILLed miglab takes S, then I, then the
 * whole namespace: mmdebstrap's apt and dpkg, helpers QEMU starts, anything.
 * And when T exits, I exits, which ends what T left behind.
 *
 * S and I forward SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to
 * T; SIGKILL of S's process group (ml_proc_kill) reaches all three. S and I
 * close every descriptor they do not need, so a pipe or lock miglab holds is
 * never kept open by them. Without CAP_SYS_ADMIN (the unit tests as a user)
 * there is no namespace and I is an ordinary child: said once on stderr. */

static volatile sig_atomic_t forward_to;

static void forward_signal(int sig)
{
	if (forward_to > 0)
		kill((pid_t)forward_to, sig);
}

static void forward_signals_to(pid_t pid)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	forward_to = pid;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Close every descriptor but keep (sorted, at most 2, -1 for none). */
static void close_all_but(int keep_a, int keep_b)
{
	int lo = keep_a < keep_b ? keep_a : keep_b;
	int hi = keep_a < keep_b ? keep_b : keep_a;
	unsigned first = 0;

	if (lo >= 0) {
		if (lo > 0)
			close_range(first, (unsigned)lo - 1, 0);
		first = (unsigned)lo + 1;
	}
	if (hi >= 0 && hi != lo) {
		if ((unsigned)hi > first)
			close_range(first, (unsigned)hi - 1, 0);
		first = (unsigned)hi + 1;
	}
	close_range(first, ~0U, 0);
}

static void child_default_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
}

/* T: become the program. */
static void __attribute__((noreturn)) spawn_target(const struct ml_proc_spec *spec, int errfd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	child_default_signals();
	child_redirect(spec->stdin_fd, 0, errfd);
	child_redirect(spec->stdout_fd, 1, errfd);
	child_redirect(spec->stderr_fd, 2, errfd);
	if (spec->root)
		child_enter_root(spec, errfd);
	if (spec->chdir && chdir(spec->chdir) < 0)
		child_fail(errfd, "chdir", errno);
	child_limits(&spec->limits, errfd);
	execve(spec->argv[0], (char *const *)spec->argv,
	       (char *const *)(spec->envp ? spec->envp : default_env));
	child_fail(errfd, "exec", errno);
}

/* I: pid 1 of the namespace. Starts T, reaps whatever is orphaned to it,
 * reports T's wait status to S through status_fd and exits when T does. */
static void __attribute__((noreturn)) spawn_init(const struct ml_proc_spec *spec, int errfd,
						 int alive_fd, int status_fd)
{
	struct pollfd alive = { .fd = alive_fd, .events = POLLIN };
	pid_t target;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(errfd, "prctl(PR_SET_PDEATHSIG)", errno);
	/* S holds the other end until it exits: a hangup means S died before
	 * PDEATHSIG was armed. */
	if (poll(&alive, 1, 0) > 0 && (alive.revents & (POLLHUP | POLLERR)))
		_exit(127);
	close(alive_fd);
	target = fork();
	if (target < 0)
		child_fail(errfd, "fork", errno);
	if (target == 0) {
		close(status_fd);
		spawn_target(spec, errfd);
	}
	forward_signals_to(target);
	close_all_but(status_fd, -1);
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, 0);
		if (r == target) {
			ssize_t w;
			do {
				w = write(status_fd, &st, sizeof(st));
			} while (w < 0 && errno == EINTR);
			_exit(0);
		}
		if (r < 0 && errno == ECHILD)
			_exit(127);
	}
}

/* S: the process miglab sees. Ends as T ended. */
static void __attribute__((noreturn)) spawn_supervisor(const struct ml_proc_spec *spec, int errfd,
						       pid_t parent)
{
	struct rlimit no_core = { 0, 0 };
	int alive[2], status[2];
	int st = 0;
	ssize_t n;
	pid_t init;

	/* Die with the process that started us, even if it is SIGKILLed. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(errfd, "prctl(PR_SET_PDEATHSIG)", errno);
	if (getppid() != parent)
		_exit(127); /* parent already gone */
	setpgid(0, 0);
	child_default_signals();
	if (pipe2(alive, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0)
		child_fail(errfd, "pipe", errno);
	if (unshare(CLONE_NEWPID) < 0) {
		if (errno != EPERM || geteuid() == 0)
			child_fail(errfd, "unshare(CLONE_NEWPID)", errno);
		/* not root: ml_proc_spawn said so once */
	}
	init = fork();
	if (init < 0)
		child_fail(errfd, "fork", errno);
	if (init == 0) {
		close(alive[1]);
		close(status[0]);
		spawn_init(spec, errfd, alive[0], status[1]);
	}
	forward_signals_to(init);
	close(alive[0]);
	close(status[1]);
	close_all_but(alive[1], status[0]);
	setrlimit(RLIMIT_CORE, &no_core); /* S's core would be miglab's memory */

	do {
		n = read(status[0], &st, sizeof(st));
	} while (n < 0 && errno == EINTR);
	{
		int ist = 0;
		while (waitpid(init, &ist, 0) < 0 && errno == EINTR)
			;
		if (n != (ssize_t)sizeof(st))
			st = ist; /* I died without a report (killed): that is the story */
	}
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	if (WIFSIGNALED(st)) {
		sigset_t none;
		signal(WTERMSIG(st), SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		raise(WTERMSIG(st));
		_exit(128 + WTERMSIG(st));
	}
	_exit(127);
}

int ml_proc_spawn(const struct ml_proc_spec *spec, pid_t *pidp)
{
	int errpipe[2];
	pid_t parent = getpid();
	pid_t pid;
	char msg[512];
	ssize_t n;

	static bool told_no_pidns;

	if (!spec->argv || !spec->argv[0]) {
		ml_error("no program to run");
		return -1;
	}
	if (geteuid() != 0 && !told_no_pidns) {
		fprintf(stderr, "miglab: not root: children run without a PID namespace, so "
				"processes they start may outlive miglab\n");
		told_no_pidns = true;
	}
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		ml_error_errno(errno, "pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		ml_error_errno(errno, "cannot fork to run %s", spec->argv[0]);
		close(errpipe[0]);
		close(errpipe[1]);
		return -1;
	}
	if (pid == 0) {
		close(errpipe[0]);
		spawn_supervisor(spec, errpipe[1], parent);
	}
	/* Also set the group from the parent to close the race with kill(-pid). */
	setpgid(pid, pid);
	close(errpipe[1]);
	/* EOF when T has exec'd (or S, I and T are all gone). */
	do {
		n = read(errpipe[0], msg, sizeof(msg) - 1);
	} while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n > 0) {
		msg[n] = '\0';
		ml_proc_kill(pid);
		ml_error("cannot start %s%s%s: %s", spec->argv[0],
			 spec->root ? " in root " : "", spec->root ? spec->root : "", msg);
		return -1;
	}
	*pidp = pid;
	return 0;
}

int ml_proc_wait(pid_t pid, int timeout_ms, int *status)
{
	long long deadline = timeout_ms < 0 ? -1 : ml_now_ms() + timeout_ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		long long left;
		if (r == pid) {
			if (pidfd >= 0)
				close(pidfd);
			return 0;
		}
		if (r < 0 && errno != EINTR) {
			ml_error_errno(errno, "waitpid %d", (int)pid);
			if (pidfd >= 0)
				close(pidfd);
			return -1;
		}
		left = deadline < 0 ? 1000 : deadline - ml_now_ms();
		if (left <= 0) {
			if (pidfd >= 0)
				close(pidfd);
			return 1;
		}
		if (ml_check_interrupted()) {
			if (pidfd >= 0)
				close(pidfd);
			return -1;
		}
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };
			poll(&p, 1, (int)(left > 1000 ? 1000 : left));
		} else {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
}

bool ml_proc_exited(pid_t pid, int *status)
{
	int st;
	if (pid <= 0)
		return true;
	if (waitpid(pid, &st, WNOHANG) == pid) {
		if (status)
			*status = st;
		return true;
	}
	return false;
}

void ml_proc_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void ml_proc_status_str(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(buf, len, "stopped (status 0x%x)", status);
}

int ml_proc_run(const struct ml_proc_spec *spec_in, int timeout_ms, struct ml_buf *out,
		struct ml_buf *err, int *status)
{
	struct ml_proc_spec spec = *spec_in;
	int opipe[2] = { -1, -1 }, epipe[2] = { -1, -1 };
	long long deadline = timeout_ms < 0 ? -1 : ml_now_ms() + timeout_ms;
	pid_t pid;
	int open_fds = 2;

	if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0) {
		ml_error_errno(errno, "pipe");
		goto fail_pipes;
	}
	spec.stdout_fd = opipe[1];
	spec.stderr_fd = epipe[1];
	if (ml_proc_spawn(&spec, &pid) < 0)
		goto fail_pipes;
	close(opipe[1]);
	close(epipe[1]);
	opipe[1] = epipe[1] = -1;

	while (open_fds > 0) {
		struct pollfd p[2] = { { .fd = opipe[0], .events = POLLIN },
				       { .fd = epipe[0], .events = POLLIN } };
		long long left = deadline < 0 ? 1000 : deadline - ml_now_ms();
		if (left <= 0) {
			ml_proc_kill(pid);
			ml_error("%s did not finish within %d s and was killed", spec.argv[0],
				 timeout_ms / 1000);
			goto fail_pipes;
		}
		if (ml_check_interrupted()) {
			ml_proc_kill(pid);
			ml_error_context("%s killed", spec.argv[0]);
			goto fail_pipes;
		}
		if (poll(p, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR) {
			ml_error_errno(errno, "poll");
			ml_proc_kill(pid);
			goto fail_pipes;
		}
		for (int i = 0; i < 2; i++) {
			struct ml_buf *b = i == 0 ? out : err;
			struct ml_buf scratch = ML_BUF_INIT(65536);
			ssize_t n;
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* Past a buffer's cap, keep draining so the child never blocks. */
			n = ml_buf_read_fd(b ? b : &scratch, p[i].fd, 65536);
			if (n < 0 && b && b->len >= (b->limit ? b->limit : ML_BUF_DEFAULT_LIMIT) - 65536)
				n = ml_buf_read_fd(&scratch, p[i].fd, 65536);
			ml_buf_free(&scratch);
			if (n <= 0) {
				close(p[i].fd);
				if (i == 0)
					opipe[0] = -1;
				else
					epipe[0] = -1;
				open_fds--;
			}
		}
	}
	if (ml_proc_wait(pid, deadline < 0 ? -1 : (int)(deadline - ml_now_ms() + 1), status) != 0) {
		ml_proc_kill(pid);
		ml_error("%s did not finish in time and was killed", spec.argv[0]);
		return -1;
	}
	return 0;

fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (opipe[i] >= 0)
			close(opipe[i]);
		if (epipe[i] >= 0)
			close(epipe[i]);
	}
	return -1;
}

int ml_flock_wait(int fd, int op, const char *what, long long timeout_ms)
{
	long long start = ml_now_ms();
	bool told = false;

	while (flock(fd, op | LOCK_NB) < 0) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		if (errno != EWOULDBLOCK && errno != EINTR) {
			ml_error_errno(errno, "cannot lock %s", what);
			return -1;
		}
		if (ml_check_interrupted())
			return ml_error_context("while waiting for %s, used by another miglab process", what);
		if (timeout_ms >= 0 && ml_now_ms() - start > timeout_ms) {
			ml_error("%s stayed locked by another miglab process for %lld s", what,
				 (ml_now_ms() - start) / 1000);
			return -1;
		}
		if (!told) {
			fprintf(stderr, "miglab: waiting for %s, used by another miglab process (^C stops)\n", what);
			told = true;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

int ml_flock_open(const char *path, int op, const char *what, long long timeout_ms)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0) {
		ml_error_errno(errno, "cannot open %s", path);
		return -1;
	}
	if (ml_flock_wait(fd, op, what, timeout_ms) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
