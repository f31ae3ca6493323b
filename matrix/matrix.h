/* Matrix files (docs/matrix.md): an INI file naming the builds, guest kernels,
 * machine-type families and settings of a run. This module only reads and
 * validates them; negotiate.h picks machine types and plan.h expands a matrix
 * into cells. Provider strings are syntax-checked only: the lab validates
 * suites and paths when it provisions them. */
#ifndef ML_MATRIX_H
#define ML_MATRIX_H

#include <stdbool.h>
#include <stddef.h>

/* Selection rules of a [machines FAMILY] section, as bits of .select. */
enum ml_select_rule {
	ML_SELECT_NEWEST_COMMON = 1 << 0, /* "newest-common" */
	ML_SELECT_OLDEST_COMMON = 1 << 1, /* "oldest-common" */
	ML_SELECT_ALL_COMMON = 1 << 2,    /* "all-common" */
};

enum ml_pairs_mode {
	ML_PAIRS_ALL,  /* every ordered pair of distinct builds */
	ML_PAIRS_LIST, /* the [pair NAME] sections */
};

struct ml_matrix_build {
	char *name;     /* section name: "bookworm" */
	char *provider; /* "debian:bookworm" or "path:/abs/qemu-system-x86_64" */
	unsigned line;  /* of the section header */
};

struct ml_matrix_kernel {
	char *name;     /* "bookworm" */
	char *provider; /* "debian:bookworm" */
	unsigned line;
};

struct ml_matrix_family {
	char *family;   /* "q35" or "i440fx" */
	unsigned select; /* ml_select_rule bits; 0 when list is used */
	char **list;    /* explicit machine types or aliases, in file order */
	size_t n_list;
	unsigned line;
};

struct ml_matrix_pair {
	char *name;     /* section name */
	size_t src, dst; /* indexes into builds (src == dst is allowed: a control) */
	unsigned line;
};

struct ml_matrix {
	char *path;        /* as given to ml_matrix_load() (the file of ml_matrix_parse()) */
	char *name;        /* [matrix] name, default: the file name without ".ini" */
	char *description; /* may be NULL */
	char *accel;       /* "tcg" (default) or "kvm" */
	unsigned jobs;     /* cells at a time; 0 (default) = number of cores */
	bool control;      /* control cells (same build both sides); default true */
	int confirm;       /* confirming attempts of a cell that does not pass; default 2 */
	enum ml_pairs_mode pairs; /* default ML_PAIRS_ALL */
	char *scenario;    /* "forward-back" (the only one so far) */
	char *qemu_git;    /* [matrix] qemu-git: the checkout of git:@REF builds, or NULL */

	/* All in file order; every array has at least one element after a
	 * successful load (pairs only with ML_PAIRS_LIST). */
	struct ml_matrix_build *builds;   size_t n_builds;
	struct ml_matrix_kernel *kernels; size_t n_kernels;
	struct ml_matrix_family *families; size_t n_families;
	struct ml_matrix_pair *pairs_list; size_t n_pairs;

	int memory_mib;        /* [guest] memory, default 256 */
	int workload_mib;      /* [guest] workload, default 64, at most memory / 2 */
	const char *kernel_boot; /* [guest] kernel-boot: "auto" (default), "pvh", "bzimage" */
	const char *boot;      /* [guest] boot: "saved" (default) or "cold" (lab/cell.h ml_cell_boot) */
	int boot_timeout_s;    /* [timeouts] boot, default 60 */
	int migrate_timeout_s; /* [timeouts] migrate, default 120 */
	int verify_timeout_s;  /* [timeouts] verify, default 30 */
	int max_bandwidth_mib; /* [migration] max-bandwidth in MiB/s; 0 (default): 8 GiB/s */
	bool abi_dump;         /* [abi] dump: dump the guest-visible ABI per phase, default true */
	bool abi_reboot;       /* [abi] reboot: reset the guest on the destination, default true */
	const char *abi_severity; /* [abi] severity of an ABI change: "warn" (default) or "fail" (static) */
	char *abi_baselines;      /* [abi] baselines: directory of ABI baselines (absolute), or NULL */
	/* [abi] severity.KIND = error|warn|info: overrides of the kinds table
	 * (results/abi-kinds.txt); the kind names are checked by the program
	 * against the table (ml_matrix_abi_override.line for the message). */
	struct ml_matrix_abi_override {
		char *kind, *severity;
		unsigned line;
	} *abi_overrides;
	size_t n_abi_overrides;
};

/* Read and validate a matrix file (at most 1 MiB). The first error stops
 * parsing; its message is "FILE:LINE: what is wrong (accepted values)", or
 * "FILE: ..." for something missing from the whole file. On error *out is
 * left cleared. */
int ml_matrix_load(const char *path, struct ml_matrix *out);
/* The same on text already in memory; file names it in messages. */
int ml_matrix_parse(const char *text, size_t len, const char *file, struct ml_matrix *out);
void ml_matrix_clear(struct ml_matrix *m);

/* Index of the build or kernel with that section name, or -1. */
long ml_matrix_find_build(const struct ml_matrix *m, const char *name);
long ml_matrix_find_kernel(const struct ml_matrix *m, const char *name);

/* "newest-common", ... for one ML_SELECT_* bit; NULL for anything else. */
const char *ml_select_rule_name(unsigned rule);

/* Machine-type families the [machines FAMILY] section accepts, NULL-terminated. */
extern const char *const ml_matrix_families[];

#endif
