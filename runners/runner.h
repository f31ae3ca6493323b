/* How a QEMU is started and reached: one interface, one implementation per way
 * of running QEMU (local processes now; remote hosts over SSH and libvirt
 * later), each filling struct ml_runner_ops with designated initializers.
 * Runners start, connect and stop; they never judge: verdicts are the
 * cell's (lab/cell.c). */
#ifndef ML_RUNNER_H
#define ML_RUNNER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

struct ml_qmp;
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

struct ml_vm {
	const struct ml_runner_ops *ops;
	char *name;
	pid_t pid;
	bool exited;
	int exit_status;          /* valid when exited */
	long long started_ms;     /* ml_now_ms() at spawn */
	struct ml_qmp *qmp;       /* connected and past capabilities after start */
	struct ml_probe *probe;   /* NULL until probe_connect */
	json_t *argv;             /* the exact command line, for reproduction */
	char *stderr_path;        /* host paths of the logs */
	char *serial_path;
	char *qmp_log_path;
	char *probe_log_path;
	FILE *qmp_log;
	FILE *probe_log;
	char *qmp_sock;           /* host paths of the sockets */
	char *probe_sock;
	const char *root;         /* borrowed from the spec's build */
	char *out_dir;
	char *run_dir;
};

struct ml_runner_ops {
	const char *name;
	/* Start QEMU, connect QMP and finish the capabilities handshake. On
	 * failure (QEMU exits at start, QMP never answers) the error carries
	 * QEMU's stderr and *out is still set so logs can be collected. */
	int (*vm_start)(const struct ml_vm_spec *spec, struct ml_vm **out);
	/* Connect to the in-guest probe's channel. */
	int (*probe_connect)(struct ml_vm *vm, int timeout_ms);
	/* A host path as this VM's QEMU sees it (for migration URIs). */
	char *(*view_path)(const struct ml_vm *vm, const char *host_path);
	/* True while the QEMU process runs; reaps it when it has exited. */
	bool (*vm_alive)(struct ml_vm *vm);
	/* Wait up to timeout_ms for QEMU to exit by itself (e.g. after quit). */
	bool (*vm_wait_exit)(struct ml_vm *vm, int timeout_ms);
	/* Kill QEMU (its whole process group), reap it, close channels. */
	void (*vm_stop)(struct ml_vm *vm);
	void (*vm_free)(struct ml_vm *vm);
};

extern const struct ml_runner_ops ml_local_runner;

/* The last bytes (at most max) of a VM's stderr, trimmed; caller frees. */
char *ml_vm_stderr_tail(const struct ml_vm *vm, size_t max);

#endif
