/* The judging stage (DESIGN.md "Data flow"): turns what cells recorded into
 * judgements. A cell writes only evidence (attempts/<N>/attempt.json and the
 * files beside it, layout.h); the judge reads it with today's failure
 * catalogue, known issues and rules, and decides:
 *
 *   - each attempt's verdict: its outcome, an ABI change of severity "fail",
 *     the failure class (classify.h), the direction of the failing migration
 *     and what a captured stream says about the failing device;
 *   - the cell's verdict over its attempts (repeats): deterministic when
 *     every attempt failed, intermittent when some did (a pass after a
 *     failure is never a plain pass); known issues turn a failure into xfail
 *     and a pass into xpass;
 *   - with the run (controls): a failure of a migration A -> B that fails
 *     the way A's own control cell fails (same machine type and kernel, same
 *     class family) is A's defect on this host (source-unsound), likewise
 *     for B (destination-unsound); the run gets one line per unsound build.
 *
 * Judging is idempotent: the same evidence and rules give the same cell.json
 * and run.json (except the time stamp "judged_at"). It never runs QEMU. */
#ifndef ML_JUDGE_H
#define ML_JUDGE_H

#include <jansson.h>
#include <stdbool.h>

#include "abi.h"
#include "abi-kinds.h"
#include "classify.h"
#include "known.h"

/* The rules a judgement uses; load once, share between cells. */
struct ml_judge_rules {
	struct ml_catalogue catalogue;
	struct ml_known known;
	struct ml_abi_volatile *abi_volatile;
	struct ml_abi_kinds *abi_kinds;  /* kinds and severities of ABI differences */
	char *iasl;                  /* to disassemble changed ACPI tables, or NULL */
	const char *abi_severity;    /* override of each cell's own, or NULL */
	const char *abi_baselines;   /* override of each cell's [abi] baselines, or NULL */
};

/* Load the built-in (or $MIGLAB_FAILURES / $MIGLAB_KNOWN_ISSUES) rules. */
int ml_judge_rules_load(struct ml_judge_rules *r);
void ml_judge_rules_clear(struct ml_judge_rules *r);

/* Judge one cell directory from its attempts alone (no controls) and write
 * its cell.json. *judgement (may be NULL) receives the new document. A
 * damaged or partial cell is judged `error` naming the missing or
 * unreadable file: that is still a judgement, so this returns 0; -1 only
 * when cell.json cannot be written. */
int ml_judge_cell(const struct ml_judge_rules *r, const char *cell_dir, json_t **judgement);

/* Judge every cell of a run, with its controls, write every cell.json and
 * the run's judgement part of run.json (run-file.h). *summary (may be NULL)
 * receives {cells, counts, judgements, unsound_builds}. */
int ml_judge_run(const struct ml_judge_rules *r, const char *run_dir, json_t **summary);

/* Control cells to attempt again (settle): a control that passed its one
 * attempt, of a build whose other control cells failed in a migration. A
 * control passes by chance when its build fails only sometimes, and a
 * passing control is the reference every cell of that build is judged
 * against. cells: judged cell documents; returns a new array of cell ids. */
json_t *ml_judge_controls_to_settle(json_t *cells);

/* The category a judged cell counts in (run.json "judgements", JUnit):
 * pass, fail, intermittent, source-unsound, destination-unsound, xfail,
 * xpass, skip, error. */
const char *ml_judgement_category(const json_t *cell);

/* The exit status a verdict maps to, the one mapping of the program:
 * 0 pass, skip, xfail; 1 fail, xpass; 2 error (the lab failed). */
int ml_verdict_exit_status(const char *verdict);

/* The phase a migration direction belongs to: "forward" (migrate-forward,
 * live-dst, reboot-dst), "back" (migrate-back, back-src), or NULL (boot-src,
 * plan: no migration). */
const char *ml_judge_phase_direction(const char *phase);

#endif
