/* The result model: what one attempt of a cell records (attempt.json, the
 * evidence: phases, figures, logs, the outcome it observed), the names of
 * verdicts, and host facts. The cell writes attempts; the judging stage
 * (judge.h) turns them into cell.json and run.json. Schema: docs/results.md.
 * Every file is written atomically, so a reader sees a whole old file or a
 * whole new one. */
#ifndef ML_RESULT_H
#define ML_RESULT_H

#include <jansson.h>

#include "host.h" /* run.json's "host": ml_host_facts(), ml_host_fingerprint() */

#define ML_CELL_SCHEMA "miglab-cell/2"
#define ML_ATTEMPT_SCHEMA "miglab-attempt/1"
#define ML_RUN_SCHEMA "miglab-run/1"

enum ml_verdict {
	ML_VERDICT_PASS,
	ML_VERDICT_FAIL,
	ML_VERDICT_XFAIL, /* a known issue reproduced */
	ML_VERDICT_XPASS, /* a known issue did not reproduce */
	ML_VERDICT_SKIP,  /* not applicable, with a reason */
	ML_VERDICT_ERROR, /* the lab itself failed, not QEMU */
};

enum ml_phase_status {
	ML_PHASE_RUNNING,
	ML_PHASE_PASS,
	ML_PHASE_FAIL,
	ML_PHASE_ERROR,
	ML_PHASE_SKIP,
};

const char *ml_verdict_str(enum ml_verdict v);
int ml_verdict_parse(const char *s, enum ml_verdict *v);
const char *ml_phase_status_str(enum ml_phase_status s);

/* One attempt's record: attempt.json in its attempt directory. */
struct ml_cell_result {
	json_t *doc; /* the attempt.json document */
	char *dir;   /* <results>/<run>/cells/<cell-id>/attempts/<N> */
	long long started_ms;
};

/* A new record of attempt `attempt` (from 1) of cell_id in dir (created).
 * inputs is stolen. Until an outcome is set it reads "error: the attempt did
 * not finish". */
int ml_result_new(struct ml_cell_result *r, const char *dir, const char *run_id,
		  const char *cell_id, int attempt, json_t *inputs);
void ml_result_clear(struct ml_cell_result *r);

/* Start a phase; returns the phase object (borrowed) to add figures to. */
json_t *ml_result_phase_begin(struct ml_cell_result *r, const char *name);
/* End a phase with a status and, for fail/error, the error text. */
void ml_result_phase_end(struct ml_cell_result *r, json_t *phase, enum ml_phase_status st,
			 const char *error);
/* Record what the attempt observed: its outcome (pass: every phase passed;
 * fail: QEMU or the guest failed a check; error: the lab could not do its
 * job; skip: not applicable), the one-line reason, and (for fail/error) the
 * evidence: which phase and the text QEMU, QMP or the guest gave. The
 * verdict is the judging stage's. */
void ml_result_set_outcome(struct ml_cell_result *r, enum ml_verdict outcome, const char *phase,
			   const char *reason, const char *evidence);
/* Record a file of the cell directory under "logs" (key -> relative name). */
void ml_result_add_log(struct ml_cell_result *r, const char *key, const char *relname);
/* Write attempt.json (atomically); may be called repeatedly as the cell goes on. */
int ml_result_write(struct ml_cell_result *r);

/* A run id from the current UTC time: "20261122-031500-4f2a". */
char *ml_run_id_new(void);
/* Create a new run's directory <results_dir>/<id> exclusively (mkdir, never
 * reusing one): with run_id, an existing directory is an error ("run ID ...
 * already exists in DIR (use --resume ID ...)"); without, a generated id is
 * drawn again until one is free. *id_out and *dir_out are the caller's. */
int ml_run_dir_create(const char *results_dir, const char *run_id, char **id_out, char **dir_out);
/* UTC timestamp "2026-11-22T03:15:00Z". */
char *ml_timestamp_utc(void);

#endif
