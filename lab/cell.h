/* The cell: one (source build, destination build, machine, kernel, scenario)
 * run as DESIGN.md describes: a table of phases (lab/cell.c, cell_phases)
 * run in order by one routine. Phases:
 *   boot-src         boot on the source build, hello, start the workloads,
 *                    dump the guest-visible ABI (abi-boot-src.json)
 *   migrate-forward  migrate to the destination build; verify the guest
 *   live-dst         dump the ABI the guest sees now, on the destination
 *   reboot-dst       reset the guest there; at its next boot dump the ABI
 *                    again (what drivers see when they re-enumerate);
 *                    left out with skip_reboot
 *   migrate-back     migrate to a fresh QEMU of the source build; verify
 *   back-src         dump the ABI once more
 * (live-dst and back-src are left out with skip_abi)
 * then collect. Each run of the phases is an attempt: its evidence goes to
 * <run>/cells/<cell-id>/attempts/<N>/ (results/layout.h) and nothing else;
 * the judging stage (results/judge.h) decides the verdict. */
#ifndef ML_CELL_H
#define ML_CELL_H

#include "build.h"
#include "config.h"
#include "guest.h"
#include "result.h"
#include "runner.h"

/* vCPUs of each guest: a cell keeps one busy at a time (the guest runs in
 * one QEMU at a time), so a run schedules at most cores / ML_CELL_VCPUS
 * cells at once. */
#define ML_CELL_VCPUS 1

struct ml_cell_spec {
	const struct ml_build *src;
	const struct ml_build *dst;
	const struct ml_guest *guest;
	const char *kernel_spec;     /* as given: "debian:bookworm" */
	const char *machine;         /* as given; aliases are resolved per build */
	const char *accel;           /* "tcg" (default) or "kvm" */
	const char *scenario;        /* "forward-back" */
	const char *kernel_boot;     /* "auto" (default), "pvh" or "bzimage": see ml_cell_kernel_boot */
	const char *boot;            /* "saved" (default) or "cold": see ml_cell_boot */
	const char *saved_dir;       /* where saved guests live (lab/saved-state.h);
					NULL: <run>/saved, removed when the run ends */
	int memory_mib;              /* guest RAM, default 256 */
	int workload_mib;            /* RAM integrity region, default 64 */
	int boot_timeout_ms;         /* source boot to the probe's hello, default 60 s */
	int migrate_timeout_ms;      /* one migration, default 120 s */
	int verify_timeout_ms;       /* probe answers after a migration, default 30 s */
	int resume_timeout_ms;       /* the destination runs the guest after the source
					completed, default 10 s */
	int max_bandwidth_mib;       /* migrate-set-parameters max-bandwidth in MiB/s; 0
					(default): 8 GiB/s, what loopback gives. A small
					value slows migrations on purpose (a window to
					interrupt one, a migration that cannot converge) */
	bool skip_abi;               /* do not dump the guest-visible ABI */
	bool skip_reboot;            /* do not reset the guest on the destination */
	const char *abi_severity;    /* an ABI change: "warn" (default: a finding) or "fail"; for the judge */
	const char *abi_baselines;   /* [abi] baselines: ABI baselines to judge against, or NULL; for the judge */
	const json_t *abi_severities; /* [abi] severity.KIND: {KIND: SEVERITY}, or NULL; for the judge */
	json_t *fixups_applied;      /* known issues whose fixups dst_extra_args holds (recorded), or NULL */
	bool no_stream_keep;         /* an attempt that does not pass keeps no stream copy (the
					confirmation's first attempts hold that evidence) */
	bool lossless_capture;       /* the stream tap waits for its writer: whole captures,
					slower migrations (figures then include the tap) */
	const char *const *src_extra_args; /* appended to the source-build QEMUs */
	const char *const *dst_extra_args; /* appended to the destination QEMU */
	const struct ml_runner_ops *runner; /* default: local */
	const struct ml_config *cfg; /* for the static vmstate check's cache; NULL: no check */
};

/* Fill unset fields with defaults. */
void ml_cell_spec_defaults(struct ml_cell_spec *s);

/* How the cell boots its guest kernel, for kernel_boot:
 *   "bzimage"  -kernel vmlinuz: firmware, then the bzImage's real-mode setup
 *              and self-decompression;
 *   "pvh"      -kernel vmlinux (the ELF inside vmlinuz, guests/vmlinux.h),
 *              entered at its Xen PVH entry point through QEMU's pvh.bin:
 *              no real-mode setup, no decompression; it needs a kernel with
 *              the PVH note and builds that boot PVH (ml_build_pvh_unsupported),
 *              else -1 with an error naming the kernel or the build;
 *   "auto"     pvh when both are there, otherwise bzimage.
 * *boot gets "pvh" or "bzimage"; *why (may be NULL; caller frees) says why
 * auto chose bzimage, NULL otherwise. */
int ml_cell_kernel_boot(const struct ml_cell_spec *s, const char **boot, char **why);

/* How the cell's source guest comes to run, for boot:
 *   "saved"  restored from a saved guest (lab/saved-state.h): the first cell
 *            of its key boots, checks and dumps the guest (boot-src), then
 *            saves it; each cell of the key restores it and checks it again;
 *   "cold"   booted in every cell.
 * *used gets "saved" or "cold"; *why (may be NULL; caller frees) says why
 * saved was asked for and cannot be (a runner without save_state). */
void ml_cell_boot(const struct ml_cell_spec *s, const char **used, char **why);

/* The key of the saved guest the cell's source starts from (lab/saved-state.h),
 * or NULL when it boots cold or cannot run (caller frees): cells of one key
 * share one boot, which the run's scheduler knows. */
char *ml_cell_saved_key(const struct ml_cell_spec *s);

/* The guest kernel's command line of the cell's QEMUs (caller frees). */
char *ml_cell_append(const struct ml_cell_spec *s);

/* The cell's stable id: a readable slug plus a hash of every input that
 * changes what runs ("bookworm-to-trixie-pc-q35-7.2-k-bookworm-1a2b3c4d"). */
char *ml_cell_id(const struct ml_cell_spec *s);

/* Remove base/miglab-XXXXXX directories (a cell's sockets and disk, made
 * by mkdtemp) whose cell is gone (nobody holds "owner" locked): only real
 * directories of our uid with mode 0700 whose owner is a regular file of
 * ours (a FIFO or a link there is not opened, let alone waited on); removal is relative to
 * directory fds and follows no link. Returns how many were removed. Every
 * cell calls it with "/tmp"; tests with their own base. */
int ml_cell_sweep_stale_dirs(const char *base);

/* The cell's inputs as recorded in attempt.json (and so in cell.json): the
 * builds, machine, kernel, guest, options. The one builder of them. */
json_t *ml_cell_inputs(const struct ml_cell_spec *s);

/* Run attempt `attempt` (from 1) of the cell, writing
 * <run_dir>/cells/<cell-id>/attempts/<attempt>/. Returns 0 when the attempt
 * was recorded (whatever happened in it; *outcome says what) and -1 when it
 * could not even be recorded. */
int ml_cell_run(const struct ml_cell_spec *s, const char *run_dir, const char *run_id,
		int attempt, enum ml_verdict *outcome);

#endif
