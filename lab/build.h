/* QEMU builds: one QEMU install identified by provider and exact version.
 *   debian:SUITE   pulled from Debian's packages into a self-contained root
 *                  made with mmdebstrap and cached; run chrooted in a private
 *                  mount namespace (see docs/builds.md for why).
 *   path:/abs/qemu-system-x86_64   a QEMU already on this host.
 *   git:DIR@REF, debian-source:VERSION   built from source in a Debian
 *                  toolchain root (source-build.h).
 * A build's manifest (build.json) records the exact package versions, the
 * `--version` line, the sha256 of the binary and its machine types. */
#ifndef ML_BUILD_H
#define ML_BUILD_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

enum ml_provider_kind {
	ML_PROVIDER_DEBIAN,
	ML_PROVIDER_PATH,
	ML_PROVIDER_GIT,           /* git:DIR@REF (source-build.h) */
	ML_PROVIDER_DEBIAN_SOURCE, /* debian-source:VERSION */
};

struct ml_build {
	char *spec;            /* as given: "debian:trixie" */
	enum ml_provider_kind kind;
	char *suite;           /* debian: "trixie" */
	char *dir;             /* debian: cache directory of this build */
	char *root;            /* debian: the chroot; NULL for path: */
	char *qemu;            /* the program as the QEMU process sees it */
	char *qemu_host_path;  /* the same file seen from the host */
	char *version;         /* "10.0.2" (from --version) */
	char *version_line;    /* whole first line of --version */
	char *package_version; /* debian: version of qemu-system-x86 */
	char sha256[65];       /* of the binary */
	json_t *packages;      /* debian: { package: version } of the whole root */
	json_t *machines;      /* [ {name, alias?, default, deprecated} ] */
	json_t *source;        /* git:, debian-source: what was built and how (source-build.h) */
	/* debian: the cache lock of the root, held shared while this build is
	 * in use (so no `fetch --refresh` replaces it under a run); released by
	 * ml_build_clear. */
	bool locked;
	int lock_fd;
};

/* Debian suites miglab knows how to pull QEMU from. */
extern const char *const ml_debian_suites[];

/* Parse and validate a provider spec without touching the network or disk
 * (beyond checking a path: binary exists). */
int ml_build_parse(const char *spec, struct ml_build *out);

/* Parse, then make or reuse the build: for debian:, a cached root whose
 * manifest matches its files is reused, a missing, partial or damaged one is
 * (re)built. refresh forces a rebuild. */
int ml_build_provision(const struct ml_config *cfg, const char *spec, bool refresh,
		       struct ml_build *out);

/* Whether b's QEMU can boot a PVH ELF kernel (`-kernel vmlinux`, see
 * guests/vmlinux.h): QEMU 4.0 or later (versions compared as integers) with
 * its pvh.bin option ROM at <prefix>/share/qemu/pvh.bin beside
 * <prefix>/bin/qemu-system-x86_64 (in a Debian root: the root's
 * /usr/share/qemu). NULL when it can; otherwise why not (caller frees). */
char *ml_build_pvh_unsupported(const struct ml_build *b);

void ml_build_clear(struct ml_build *b);
const char *ml_build_kind_name(enum ml_provider_kind kind);

/* Pieces the source builds share with debian: roots. */
/* mmdebstrap --variant=apt --include=include SUITE target, logging to
 * logpath; what names the root in errors. */
int ml_build_mmdebstrap(const struct ml_config *cfg, const char *what, const char *suite,
			const char *include, const char *target, const char *logpath);
/* The directories the local runner bind-mounts into a root. */
int ml_build_make_mount_points(const char *root);
/* { package: version } of every package installed in root. */
json_t *ml_build_root_packages(const char *root);
/* Run b's QEMU for its version, machine types and sha256. */
int ml_build_collect_facts(struct ml_build *b);
json_t *ml_build_to_json(const struct ml_build *b);

/* Machine types, resolving aliases ("q35" -> "pc-q35-10.0"). Returns the
 * canonical name (borrowed) or NULL if the build does not have it. */
const char *ml_build_find_machine(const struct ml_build *b, const char *name);

/* Parse the text of `qemu-system-x86_64 -machine help` into the machines
 * array of the manifest. Exposed for unit tests. */
json_t *ml_build_parse_machine_help(const char *text);
/* "QEMU emulator version 7.2.22 (Debian ...)" -> "7.2.22". */
char *ml_build_parse_version_line(const char *text);

#endif
