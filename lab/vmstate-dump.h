/* vmstate dumps per (build, machine type), cached beside the build, and the
 * static vmstate check of a pair of builds (results/vmstate.h) on top of
 * them. No guest is booted: QEMU only describes its devices' VMState.
 *
 * A dump is `qemu-system-x86_64 -machine M -nodefaults -dump-vmstate FILE`,
 * run like every QEMU of the build (chrooted into a debian: root, the file
 * written to a directory bind-mounted at /miglab/out). Beside it the lab
 * records which QOM types a miglab guest has on that machine type (`info
 * qom-tree` of a paused QEMU with the guest's devices), to rank findings,
 * and every device type of the binary (a dump lists only types whose class
 * has a VMState description).
 *
 * Cache: <build dir>/vmstate/<machine>.json (path: builds:
 * <cache>/vmstate/path-<sha256>/<machine>.json), written atomically, reused
 * only when its format, machine type and the binary's sha256 match. */
#ifndef ML_VMSTATE_DUMP_H
#define ML_VMSTATE_DUMP_H

#include <jansson.h>
#include <stdbool.h>

#include "build.h"
#include "config.h"
#include "vmstate.h"

/* The cached record of one dump:
 *   { "format": 2, "build": spec, "version", "sha256", "machine",
 *     "dump": { ...what QEMU wrote... }, "dump_bytes", "dump_ms",
 *     "guest_types": [ QOM types of a miglab guest's objects ] or null,
 *     "device_types": [ every device type of the binary ] or null,
 *     "guest_types_error"?: why they are null }
 * machine may be an alias; the dump is for the build's concrete type.
 * refresh re-dumps even when the cache is valid. *cached tells which (may
 * be NULL). */
int ml_vmstate_dump_get(const struct ml_config *cfg, const struct ml_build *b, const char *machine,
			bool refresh, json_t **out, bool *cached);

/* Where the cache file of (b, machine) is (new string). */
char *ml_vmstate_dump_path(const struct ml_config *cfg, const struct ml_build *b,
			   const char *machine);

struct ml_vmstate_check_options {
	const struct ml_vmstate_renames *renames; /* NULL: the shipped file */
	bool guest_only;                          /* only devices a miglab guest has */
	bool refresh;                             /* re-dump */
};

/* Compare src -> dst on machine:
 *   { "src": spec, "src_version", "dst": spec, "dst_version", "machine",
 *     "findings": [ see vmstate.h ], "errors", "warnings", "infos" } */
int ml_vmstate_check_pair(const struct ml_config *cfg, const struct ml_build *src,
			  const struct ml_build *dst, const char *machine,
			  const struct ml_vmstate_check_options *o, json_t **out);

/* For a cell (src boots, migrates to dst, comes back): both directions,
 * restricted to the devices a miglab guest has (the cell's guest is exactly
 * that), with the shipped renames file:
 *   { "machine", "errors" (sum of both), "forward": PAIR, "back": PAIR }
 * (PAIR as ml_vmstate_check_pair gives). Returns -1 (reported) when a dump
 * cannot be made; the caller decides whether that matters to the verdict. */
int ml_vmstate_check_cell(const struct ml_config *cfg, const struct ml_build *src,
			  const struct ml_build *dst, const char *machine, json_t **findings);

#endif
