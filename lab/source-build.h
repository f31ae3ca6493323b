/* QEMU built from source (docs/builds.md, "Builds from source").
 *
 *   git:DIR@REF[+patch:/abs/file.patch]...      a local QEMU git checkout at
 *                                               any tag, branch or commit
 *   source:DIR@REF...                           the same (older name)
 *   debian-source:VERSION[+patch:...]...        Debian's QEMU source package of
 *                                               that upstream version, with
 *                                               Debian's own patches
 *
 * A build happens inside a "toolchain root": a Debian root made with
 * mmdebstrap holding the build dependencies, SeaBIOS and iPXE. QEMU 8 and
 * later build in trixie's (meson 1.7: QEMU 10 needs 1.5), older ones in
 * bookworm's. The root has one work repository (git) into which every source
 * is checked out, and one build directory per configure line, so switching
 * commits (bisect) rebuilds only what changed; ccache lives in the root too.
 *
 * A build is cached under <root>/opt/miglab/<key>/ where key hashes the
 * source tree (git tree id), the patches' sha256, the configure arguments and
 * every package of the toolchain root. build.json is written last: without it
 * nothing is cached (a failed or interrupted build leaves only its build.log).
 * The QEMU runs chrooted in the toolchain root exactly as a debian: build does
 * in its own root. */
#ifndef ML_SOURCE_BUILD_H
#define ML_SOURCE_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct ml_build;

struct ml_source_spec {
	bool git;         /* git: (or source:); false: debian-source: */
	char *dir;        /* git: the checkout (absolute, as given) */
	char *ref;        /* git: the ref as given */
	char *version;    /* debian-source: "10.0.13" (or a whole Debian version) */
	char **patches;   /* absolute paths, applied in this order */
	size_t n_patches;
};

/* Parse and check a source provider without building anything: the syntax,
 * that DIR is a git checkout and that every patch is a readable file. An
 * error names the cause. */
int ml_source_spec_parse(const char *spec, struct ml_source_spec *out);
void ml_source_spec_clear(struct ml_source_spec *s);

/* True if spec names a source provider (git:, source:, debian-source:). */
bool ml_source_spec_is_source(const char *spec);

/* The Debian suite whose toolchain builds QEMU version "X.Y[.Z]". */
const char *ml_source_toolchain_suite(const char *qemu_version);

/* Upstream version of a Debian version: "1:10.0.13+ds-0+deb13u1" -> "10.0.13",
 * "1:7.2+dfsg-7+deb12u18" -> "7.2". Caller frees; NULL if it has no digits. */
char *ml_source_upstream_version(const char *debian_version);

/* The cache key of a build from source: 16 hex digits of a sha256 over the
 * tree, the patches' sha256 (in order), the configure arguments and the
 * toolchain root's packages ("name version" lines, in any order). */
void ml_source_key(const char *tree, const char *const *patch_sha256, size_t n_patches,
		   const char *const *configure_args, const char *packages_text, char out[17]);

/* Apply patches (absolute paths) in order to the git work tree tree with
 * `git apply`, checking each first: one that does not apply is an error
 * naming it, its place in the list and git's words for the failing hunk
 * ("patch failed: hw/rtc/mc146818rtc.c:123"). what names the tree. */
int ml_source_apply_patches(const char *spec, const char *tree, const char *const *patches,
			    size_t n, const char *what);

/* The configure arguments of a build of QEMU version "X.Y[.Z]"
 * (NULL-terminated): QEMU before 8.1 lacks --disable-download. */
const char *const *ml_source_configure_args(const char *version);

/* Make or reuse the build b (parsed by ml_build_parse as a source provider):
 * fills root, qemu, qemu_host_path, version, machines, packages and source. */
int ml_source_provision(const struct ml_config *cfg, struct ml_build *b, bool refresh);

/* `miglab fetch --export-source DIR`: the source tree of spec (Debian's or a
 * checkout's, with the patches applied) as a new git repository at dest with
 * one commit on branch "main". */
int ml_source_export(const struct ml_config *cfg, const char *spec, const char *dest);

#endif
