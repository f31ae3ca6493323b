/* A run: one execution of a matrix into one run directory. The scheduler
 * keeps `jobs` cells busy, each in its own child process (so a cell that
 * crashes takes nothing else down, and its QEMUs die with it), prints
 * progress, and writes run.json, junit.xml and results.tap at the end.
 *
 * Interruption: the first SIGINT/SIGTERM stops starting cells and lets the
 * running ones finish for a grace period; then (or at a second signal) they
 * are told to stop (SIGTERM: each records "interrupted" and kills its QEMUs).
 * `--resume RUN` runs only the cells without a finished cell.json, and those
 * whose verdict is "error" (the lab failed or was interrupted, not QEMU).
 *
 * Controls (same build both sides) run first; a cell that does not pass runs
 * again `confirm` times; at the end the judging stage (results/judge.h)
 * judges the whole run and writes run.json's judgements. */
#ifndef ML_RUN_H
#define ML_RUN_H

#include <stdbool.h>

#include "config.h"

struct ml_run_options {
	const char *matrix_path;  /* the matrix to run (or re-read from the run on resume) */
	const char *run_id;       /* NULL: a new id */
	const char *resume;       /* run id or directory to resume */
	unsigned jobs;            /* 0: the matrix's value, else the number of cores */
	unsigned shard_index;     /* 1-based; 0: no sharding */
	unsigned shard_total;
	int grace_s;              /* after the first interrupt; < 0: the default, 60 */
	int confirm;              /* confirming attempts; < 0: the matrix's value (default 2) */
	bool refresh;             /* rebuild builds and guests */
	const char *boot;         /* "saved" or "cold": overrides [guest] boot; NULL: the matrix's */
	const char *saved_dir;    /* keep saved guests there (lab/saved-state.h); NULL: the
				     run's own, removed when its cells are done */
};

/* Run a matrix. Returns the exit status for miglab (0 all passed, 1 a cell
 * failed, 2 the lab failed, 128+N interrupted). */
int ml_run_matrix(const struct ml_config *cfg, const struct ml_run_options *o);

/* Print the plan of a matrix (provisions builds to learn their machine types). */
int ml_run_print_plan(const struct ml_config *cfg, const char *matrix_path, unsigned shard_index,
		      unsigned shard_total, bool json);

/* Judge a run directory (results/judge.h), write its junit.xml and
 * results.tap from the judgements, print its summary and, with results_dir,
 * write the dashboard. Returns the exit status the judgements map to. */
struct ml_judge_rules;
int ml_run_judge(const struct ml_judge_rules *rules, const char *dir, const char *id,
		 const char *results_dir);

/* Join runs (e.g. shards) into a new run directory. */
int ml_run_merge(const struct ml_config *cfg, const char *const *runs, size_t n,
		 const char *run_id);

#endif
