/* How a QEMU is started and reached: one interface, one implementation per way
 * of running QEMU (local processes now; remote hosts over SSH and libvirt
 * later), each filling struct ml_runner_ops with designated initializers.
 * Runners start, connect, migrate and stop; they never judge: the cell
 * records what they report (lab/cell.c) and results/judge.c decides. */
#ifndef ML_RUNNER_H
#define ML_RUNNER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ml_probe;

/* What to start. All paths are host paths; the runner maps them to what the
 * QEMU process sees (a chroot sees bind mounts). */
struct ml_vm_spec {
	const char *name;        /* role, used in file names: "src", "dst", "back" */
	const char *label;       /* for humans and `ps`: "<cell-id>/src" */
	const char *qemu;        /* the program as the QEMU process sees it */
	const char *root;        /* Debian root to chroot into, or NULL */
	const char *machine;     /* "pc-q35-7.2" */
	const char *accel;       /* "tcg" or "kvm" */
	const char *cpu;         /* NULL: the machine type's default */
	int memory_mib;
	int smp;
	const char *kernel_path; /* guest kernel and initrd, in one directory */
	const char *initrd_path;
	const char *append;      /* kernel command line */
	const char *disk_path;   /* raw image shared by every VM of the cell, or NULL */
	bool incoming;           /* start with -incoming defer */
	const char *const *extra_args; /* NULL-terminated; appended last */
	const char *out_dir;     /* host: logs and console go here */
	const char *run_dir;     /* host: a short directory for sockets */
};

/* A running QEMU as the cell sees it: what any runner can fill. Each runner
 * allocates a larger private struct whose first member is this one (the
 * local runner's holds the pid, the QMP connection, the socket paths); the
 * cell never looks past it. */
struct ml_vm {
	const struct ml_runner_ops *ops;
	char *name;               /* the spec's role: "src", "dst", "back" */
	bool exited;
	int exit_status;          /* valid when exited (a wait(2) status) */
	long long started_ms;     /* ml_now_ms() at spawn */
	json_t *argv;             /* the exact command line, for reproduction */
	struct ml_probe *probe;   /* NULL until probe_connect */
	/* The VM's logs as names relative to the spec's out_dir (the attempt
	 * directory): QEMU's stderr, the serial console, the QMP and probe
	 * transcripts. NULL when the runner keeps no such log. */
	char *stderr_log;
	char *console_log;
	char *qmp_log;
	char *probe_log;
};

/* The logs a runner can quote the end of (log_tail). */
enum ml_vm_log {
	ML_VM_LOG_STDERR,  /* QEMU's stderr, trailing blanks trimmed */
	ML_VM_LOG_CONSOLE, /* the guest's serial console, as it is */
};

/* One migration from a VM to a VM of the same runner. The cell sets the
 * request; the runner fills the rest and owns priv. */
struct ml_migration {
	const char *capture_path; /* host path: keep a copy of the stream here, or NULL */
	bool lossless_capture;    /* the copy may slow the migration down, never lose bytes */
	/* Set by migrate_incoming: where the source sends the stream, in the
	 * runner's terms (local: the host path of a unix socket, the stream
	 * tap's when a copy is kept). Only the runner reads it. */
	char *endpoint;
	/* Set by migrate_end when a copy was asked for: the tap's figures
	 * (runners/stream-tap.h); the caller owns it. */
	json_t *stream;
	/* Set by migrate_end after save_state or restore_state when moving the
	 * stream between QEMU and the file failed (a full disk, a short read):
	 * what went wrong (the runner owns it until the next call). */
	char *error;
	void *priv;
};

/* Runner calls that can fail for QEMU's reasons or for the lab's own return
 * -1 for the first (QEMU refused or failed; the reported error quotes it)
 * and ML_RUNNER_LAB_ERROR for the second (a path not visible to QEMU, a
 * socket or tap of the runner's that could not be set up). */
#define ML_RUNNER_LAB_ERROR (-2)
/* migrate_wait: the timeout passed before a terminal state. Not an error. */
#define ML_RUNNER_TIMEOUT 1

struct ml_runner_ops {
	const char *name;
	/* Start QEMU, connect QMP and finish the capabilities handshake. On
	 * failure (QEMU exits at start, QMP never answers) the error carries
	 * QEMU's stderr and *out is still set so logs can be collected. */
	int (*vm_start)(const struct ml_vm_spec *spec, struct ml_vm **out);
	/* Connect to the in-guest probe's channel (vm->probe). */
	int (*probe_connect)(struct ml_vm *vm, int timeout_ms);
	/* One QMP command. args is stolen (may be NULL); on success *ret (if
	 * ret is not NULL) gets the "return" value (caller owns). -1 on an error
	 * reply, a timeout or a lost connection, with QEMU's words reported. */
	int (*qmp)(struct ml_vm *vm, const char *cmd, json_t *args, int timeout_ms, json_t **ret);
	/* After qmp() returned -1: 0 with QEMU's error class and description
	 * (borrowed, valid until the next call) when QEMU answered with an
	 * error (a command this build lacks: "CommandNotFound"); -1 when it did
	 * not answer at all (timeout, lost connection). NULL in a runner that
	 * cannot tell the two apart. */
	int (*qmp_error)(struct ml_vm *vm, const char **cls, const char **desc);
	/* Make dst (started with spec->incoming) listen for m: migrate-incoming
	 * on an endpoint of the runner's choosing, set in m->endpoint. With
	 * m->capture_path the runner puts a stream tap in front of it. */
	int (*migrate_incoming)(struct ml_vm *dst, struct ml_migration *m, int timeout_ms);
	/* Start migrating src to m's endpoint. params (stolen, may be NULL) are
	 * migrate-set-parameters arguments, applied first; a QEMU that refuses
	 * them migrates with its defaults. */
	int (*migrate)(struct ml_vm *src, struct ml_migration *m, json_t *params, int timeout_ms);
	/* Wait until src's migration reaches one of terminal_states
	 * (NULL-terminated; NULL: completed, failed, cancelled). 0 with *info the
	 * last query-migrate object (caller owns; check its "status");
	 * ML_RUNNER_TIMEOUT when timeout_ms passed first, *info then the last
	 * query-migrate seen or NULL; -1 when src could not be asked (QMP lost,
	 * interrupted). */
	int (*migrate_wait)(struct ml_vm *src, const char *const *terminal_states, int timeout_ms,
			    json_t **info);
	/* Cancel src's migration (after a timeout or an interrupt). */
	int (*migrate_cancel)(struct ml_vm *src, int timeout_ms);
	/* The migration is over (whatever its end): release what the runner set
	 * up for m (the tap: drained and stopped, its figures in m->stream).
	 * Safe on a migration that never started. */
	void (*migrate_end)(struct ml_migration *m);
	/* Save the guest into file_fd, a regular file open for writing at its
	 * start: QEMU's migration stream goes there. The caller waits with
	 * migrate_wait, then calls migrate_end(m), after which the file is
	 * whole (m->error says when it is not). params as for migrate. NULL in
	 * a runner that cannot: cells then boot every source cold. */
	int (*save_state)(struct ml_vm *src, struct ml_migration *m, int file_fd, json_t *params,
			  int timeout_ms);
	/* Load a saved guest from file_fd (open for reading at its start) into
	 * dst, started with spec->incoming; dst's status leaves "inmigrate" when
	 * the load is over; then migrate_end(m). NULL when save_state is. */
	int (*restore_state)(struct ml_vm *dst, struct ml_migration *m, int file_fd, int timeout_ms);
	/* The last bytes (at most max) of one of the VM's logs; NULL when the log
	 * cannot be read. Caller frees. */
	char *(*log_tail)(struct ml_vm *vm, enum ml_vm_log log, size_t max);
	/* True while the QEMU process runs; reaps it when it has exited. */
	bool (*vm_alive)(struct ml_vm *vm);
	/* Wait up to timeout_ms for QEMU to exit by itself (e.g. after quit). */
	bool (*vm_wait_exit)(struct ml_vm *vm, int timeout_ms);
	/* Kill QEMU (its whole process group), reap it, close channels. */
	void (*vm_stop)(struct ml_vm *vm);
	void (*vm_free)(struct ml_vm *vm);
};

extern const struct ml_runner_ops ml_local_runner;

#endif
