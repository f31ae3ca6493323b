/* Process supervision: every program miglab starts runs in a PID namespace
 * of its own, under a supervisor in its own process group, so it and all
 * its descendants die with the miglab process that started it, whatever way
 * that one ends (see ml-proc.c and docs/builds.md). Children start from argv arrays
 * only; optionally inside a private mount namespace chrooted into a Debian
 * root, with host directories bind-mounted into it. */
#ifndef ML_PROC_H
#define ML_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ml-buf.h"

struct ml_bind {
	const char *host_path;  /* existing directory on the host */
	const char *inner_path; /* absolute mount point inside the root (must exist) */
	bool readonly;
};

struct ml_proc_spec {
	const char *const *argv; /* argv[0] is the program path as seen by the child */
	const char *const *envp; /* NULL: a minimal fixed environment */
	int stdin_fd;            /* -1: /dev/null */
	int stdout_fd;           /* -1: /dev/null */
	int stderr_fd;           /* -1: /dev/null */
	const char *root;        /* chroot into this directory in a new mount ns */
	const struct ml_bind *binds;
	size_t n_binds;
	const char *chdir;       /* working directory (inside the root, if any) */
	/* Resource limits of the child (a tool fed bytes a guest chose): 0 for
	 * each means unlimited (inherited). */
	struct ml_proc_limits {
		unsigned cpu_s;             /* RLIMIT_CPU */
		unsigned long long as_bytes;    /* RLIMIT_AS */
		unsigned long long fsize_bytes; /* RLIMIT_FSIZE: largest file it may write */
		unsigned nofile;            /* RLIMIT_NOFILE */
	} limits;
};

/* Start a child. On success *pid is set and the child is its own process
 * group leader. Failures in the child before exec (mount, chroot, exec) are
 * reported here with their cause. */
int ml_proc_spawn(const struct ml_proc_spec *spec, pid_t *pid);

/* Wait for a child for at most timeout_ms (-1: forever). Returns 0 when it
 * exited (status set), 1 on timeout, -1 on error. */
int ml_proc_wait(pid_t pid, int timeout_ms, int *status);

/* Non-blocking: true if the child has exited (and reaps it into *status). */
bool ml_proc_exited(pid_t pid, int *status);

/* SIGKILL the child's whole process group and reap it. Safe on 0/-1 pids. */
void ml_proc_kill(pid_t pid);

/* Describe a wait status: "exited with status 1", "killed by signal 6 (Aborted)". */
void ml_proc_status_str(int status, char *buf, size_t len);

/* Run argv to completion (in a root if spec->root), capturing stdout and
 * stderr (each capped at the buffers' limits). Returns 0 if it ran (the exit
 * status is in *status), -1 if it could not run or timed out (killed). */
int ml_proc_run(const struct ml_proc_spec *spec, int timeout_ms, struct ml_buf *out,
		struct ml_buf *err, int *status);

/* Monotonic milliseconds. */
long long ml_now_ms(void);

/* Set by ml_interrupt_install()'s handler on SIGINT/SIGTERM/SIGHUP (holds the
 * signal number). Every bounded wait in miglab (process waits, socket reads,
 * connects) checks it and gives up with an "interrupted" error, so the cell
 * can collect what exists and kill what it started. */
extern volatile sig_atomic_t ml_interrupted;
/* How many interrupting signals arrived (a second one means "now"). */
extern volatile sig_atomic_t ml_interrupt_count;
void ml_interrupt_install(void);
/* Report "interrupted by SIGX" and return true if an interrupt is pending. */
bool ml_check_interrupted(void);

/* flock(fd, op) (LOCK_SH or LOCK_EX), waiting while another process holds
 * it: at most timeout_ms (-1: no limit), and an interrupt (^C) ends the wait.
 * what names the locked thing in the one "waiting for" line on stderr and in
 * the error. 0 when locked, -1 with the error set. */
int ml_flock_wait(int fd, int op, const char *what, long long timeout_ms);
/* Open (creating it, never through a symlink) the lock file path and lock it
 * as ml_flock_wait does. Returns the descriptor, which holds the lock until
 * closed, or -1 with the error set. */
int ml_flock_open(const char *path, int op, const char *what, long long timeout_ms);

#endif
