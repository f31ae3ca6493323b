/* Saved guests: boot once, restore per cell (docs/saved-state.md).
 *
 * A cell's source guest is booted once per key (the source build, the
 * resolved machine type, the guest's kernel and initramfs, how the kernel is
 * booted, the command line, memory, workload, accelerator, extra arguments),
 * checked, dumped (boot-src), paused and saved to a file by the build that
 * will restore it. Every cell with that key then starts its source QEMU from
 * the file instead of booting. The states live in one directory per run
 * (<run>/saved/ unless --saved-dir names another):
 *
 *   <base>/<key>.lock     flock: exclusive while one cell makes or checks
 *   <base>/<key>/state    the migration stream (QEMU's own format)
 *   <base>/<key>/saved.json  what it is: the key's inputs, the file's size
 *                         and sha256, when and by which cell it was made,
 *                         and the boot's record (hello, heartbeat, figures)
 *   <base>/<key>/abi-boot-src.json, qemu-boot-src.json, console-boot.log
 *                         the boot's evidence, copied into every cell
 *
 * saved.json is written last (atomically), so a state without it is
 * unfinished; a state whose size or sha256 differs from saved.json is
 * damaged and is made again. */
#ifndef ML_SAVED_STATE_H
#define ML_SAVED_STATE_H

#include <jansson.h>

#include "build.h"
#include "guest.h"

/* Bump when the layout or what the key covers changes: older states are
 * then never used. */
#define ML_SAVED_FORMAT 1

/* Everything a saved guest depends on. */
struct ml_saved_key_in {
	const struct ml_build *build;  /* the source build: makes and restores */
	const struct ml_guest *guest;
	const char *machine;           /* resolved ("pc-q35-10.0"), never an alias */
	const char *accel;
	const char *kernel_boot;       /* used: "pvh" or "bzimage" */
	const char *append;            /* the kernel command line */
	int memory_mib;
	int workload_mib;
	int smp;
	const char *const *extra_args; /* the source QEMU's extra arguments */
};

/* The key: the first 16 hex digits of the sha256 of the canonical text of
 * the inputs (one "name=value" line each). *text (may be NULL; caller
 * frees) gets that text, for saved.json. */
char *ml_saved_key(const struct ml_saved_key_in *in, char **text);

/* <run>/saved: a run's own saved guests (caller frees). */
char *ml_saved_run_base(const char *run_dir);
/* Remove a run's own saved guests (its cells are done with them): they are
 * about 100 MiB each and cached for the run only. */
void ml_saved_remove_run(const char *run_dir);

/* <base>/<key>; caller frees. */
char *ml_saved_dir(const char *base, const char *key);

/* Lock <base>/<key>.lock exclusively, waiting (an interrupt ends the wait).
 * The fd to close when done, or -1 with the error set. */
int ml_saved_lock(const char *base, const char *key);

enum ml_saved_check {
	ML_SAVED_VALID = 0,   /* *rec is the record (caller owns) */
	ML_SAVED_ABSENT = 1,  /* never made, or not finished */
	ML_SAVED_DAMAGED = 2, /* *why says how (caller frees) */
};

/* Is <dir> a whole saved state for key? Reads saved.json and hashes the
 * state file (about 0.1 s for 100 MiB). -1 only when the check itself
 * cannot run (reported). */
int ml_saved_check(const char *dir, const char *key, json_t **rec, char **why);

/* The record of a state just written to <dir>/state: the key and its text,
 * the file's size and sha256, made_at; the caller adds the boot's facts and
 * writes it with ml_saved_commit. */
json_t *ml_saved_record(const char *dir, const char *key, const char *key_text);
/* Write <dir>/saved.json atomically: the state is then valid. */
int ml_saved_commit(const char *dir, json_t *rec);

#endif
