/* judge-abi.c: the judging stage's part about the guest-visible ABI (see
 * docs/abi-severity.md), shared with judge.c. Not an interface of the
 * results library: judge.h is. */
#ifndef ML_JUDGE_INTERNAL_H
#define ML_JUDGE_INTERNAL_H

#include <jansson.h>

#include "judge.h"
#include "ml-json.h"

/* inputs.<side>.<key> and inputs.<key> of a cell or attempt document. */
static inline const char *ml_judge_side(const json_t *doc, const char *side, const char *key)
{
	return ml_json_str(json_object_get(json_object_get(doc, "inputs"), side), key);
}

static inline const char *ml_judge_input(const json_t *doc, const char *key)
{
	return ml_json_str(json_object_get(doc, "inputs"), key);
}

/* An attempt: each later phase's dump against its reference, ranked by kind
 * (live-dst and back-src against the same boot, live: a lost feature fails;
 * reboot-dst against boot-src as two fresh boots). Findings "abi-change" are
 * added to doc; *worst receives the first that fails the attempt. With
 * severity "fail" (strict) any difference fails. -1 when a dump cannot be
 * read or compared. */
int ml_judge_abi_attempt(const struct ml_judge_rules *r, json_t *doc, const char *dir, const char *severity,
			 const json_t **worst);
/* An attempt: the guest's dump against QEMU's own view (abi-crosscheck
 * findings, phase figures), and a refused queue size explained by the
 * source QEMU's view (failure.explained_by). */
void ml_judge_abi_crosscheck(json_t *doc, const char *dir);
/* The first difference of the worst severity of an annotated list. */
const json_t *ml_judge_abi_worst(const json_t *diffs);
/* cell.json "abi": the worst severity of its ABI findings, and its entry
 * of the run's machine-type ABI (NULL: none). */
void ml_judge_abi_cell(json_t *doc, const json_t *entry);

/* The run: one machine-type ABI entry per (build pair, machine type). */
json_t *ml_judge_machine_abi(const struct ml_judge_rules *r, json_t *cells, const char *cells_dir);
/* The run, per cell: reboot-dst against the destination build's own boot,
 * boot-src against its baseline, the cell's "abi", and the machine-type
 * difference that explains its failure. */
void ml_judge_abi_in_run(const struct ml_judge_rules *r, json_t *cells, const char *cells_dir,
			 const json_t *machine, json_t *doc);

#endif
