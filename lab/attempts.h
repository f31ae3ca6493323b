/* A cell with its confirmations (DESIGN.md "attempt"): the first attempt,
 * then, when the judgement is not a pass, up to `confirm` more attempts
 * with lossless stream capture, so that the judgement can say whether the
 * failure is deterministic or intermittent and its evidence holds the
 * failing device's state. The cell records each attempt; the judging stage
 * (results/judge.h) judges the cell after each one. */
#ifndef ML_ATTEMPTS_H
#define ML_ATTEMPTS_H

#include <jansson.h>

#include "cell.h"
#include "judge.h"

/* Default number of confirming attempts ([matrix] confirm, --confirm). */
#define ML_CONFIRM_DEFAULT 2
#define ML_CONFIRM_MAX 20

/* Run the cell into <run_dir>/cells/<cell-id>/ (replacing what an earlier,
 * unfinished run of it left) and judge it. *judgement (caller frees) is its
 * cell.json. Returns -1 only when the cell could not be recorded or judged. */
int ml_cell_run_confirmed(const struct ml_cell_spec *s, const char *run_dir, const char *run_id,
			  int confirm, const struct ml_judge_rules *rules, json_t **judgement);

/* Run `count` more attempts of a cell that has some (attempts numbered on
 * from the last one, lossless capture), judging after each, whatever each
 * gives: a control of a build that fails its own controls elsewhere is
 * settled this way (ml_judge_controls_to_settle()). */
int ml_cell_run_more(const struct ml_cell_spec *s, const char *run_dir, const char *run_id,
		     int count, const struct ml_judge_rules *rules, json_t **judgement);

#endif
