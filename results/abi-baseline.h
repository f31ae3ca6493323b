/* ABI baselines: one redacted dump per (QEMU build version, concrete machine
 * type, guest kernel release), kept in a directory meant for git:
 *   DIR/<qemu-version>/<machine>/<kernel-release>.json   (sorted keys, 2-space
 *        indent, volatile values "<volatile>": re-recording is byte-identical)
 *   DIR/<qemu-version>/<machine>/<kernel-release>-pvh.json   the same kernel
 *        booted as PVH (inputs.kernel_boot.used): its memory map differs from a
 *        bzImage boot's, so the two never stand for each other
 *   DIR/index.json                                       (what is there)
 * Recorded from, and checked against, the boot-src dumps of a run's cells
 * (<run>/cells/<cell-id>/abi-boot-src.json, keyed by the cell's
 * inputs.src.version, machine and inputs.guest.kernel_release). */
#ifndef ML_ABI_BASELINE_H
#define ML_ABI_BASELINE_H

#include <jansson.h>

#include "abi-diff.h"

#define ML_ABI_BASELINE_INDEX_SCHEMA "miglab-abi-baselines/1"
#define ML_ABI_BASELINE_CHECK_SCHEMA "miglab-abi-check/1"

/* Record the run's boot-src dumps into dir (created; existing baselines of
 * other keys are kept, the index is merged). *summary (new reference):
 * {"recorded": [{qemu_version, machine, kernel_release, file, cell}],
 *  "skipped": [{cell, reason}], "conflicts": [{file, cells, differences}],
 *  "errors": [{cell, error}]}. Returns 0, or -1 if any dump could not be
 * read or a file not written (the rest is still recorded). */
int ml_abi_baseline_record(const char *run_dir, const char *dir, const struct ml_abi_volatile *vol,
			   json_t **summary);

/* Check the run's boot-src dumps against dir. *report (new reference):
 * {"schema", "run", "baselines", "counts": {changed, unchanged, no-baseline,
 * error}, "results": [{qemu_version, machine, kernel_release, file, status,
 * cells, differences, error}]}; status is "changed", "unchanged",
 * "no-baseline" or "error". Cells of one key with the same outcome share an
 * entry. Returns 1 when any ABI changed, 0 when none, -1 on an error (a
 * dump or a baseline that cannot be read; the report still lists the rest). */
int ml_abi_baseline_check(const char *run_dir, const char *dir, const struct ml_abi_volatile *vol,
			  const struct ml_abi_diff_options *o, json_t **report);

/* The baseline of (version, machine, kernel_release) in dir: a new
 * reference, or NULL. *file (may be NULL) receives its path relative to dir
 * (caller frees). NULL without an error when there is none; NULL with the
 * error set when it exists and cannot be read. */
json_t *ml_abi_baseline_find(const char *dir, const char *version, const char *machine,
			     const char *kernel_release, const char *kernel_boot, char **file);

/* How a cell document (attempt.json, cell.json) booted its guest kernel:
 * inputs.kernel_boot.used, "pvh" or "bzimage"; a cell recorded before the
 * choice existed booted the bzImage. */
const char *ml_abi_baseline_kernel_boot(const json_t *doc);

/* The check report as text for a terminal. Caller frees. */
char *ml_abi_baseline_check_text(const json_t *report);

/* A path component from a version, machine or kernel release: characters
 * other than [A-Za-z0-9._+~-] become '_', and it never starts with '.'. */
char *ml_abi_baseline_component(const char *s);

#endif
