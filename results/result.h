/* The result model: a cell's result (cell.json) and a run's summary
 * (run.json). Runners never judge; the cell (lab/cell.c) decides the verdict
 * and these functions only record it. Schema: docs/results.md. Every file is
 * written atomically, so a reader sees a whole old file or a whole new one. */
#ifndef ML_RESULT_H
#define ML_RESULT_H

#include <jansson.h>

#include "host.h" /* run.json's "host": ml_host_facts(), ml_host_fingerprint() */

#define ML_CELL_SCHEMA "miglab-cell/1"
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

struct ml_cell_result {
	json_t *doc; /* the cell.json document */
	char *dir;   /* <results>/<run>/cells/<cell-id> */
	long long started_ms;
};

/* A new result for cell_id in dir (created). inputs is stolen. */
int ml_result_new(struct ml_cell_result *r, const char *dir, const char *run_id,
		  const char *cell_id, json_t *inputs);
void ml_result_clear(struct ml_cell_result *r);

/* Start a phase; returns the phase object (borrowed) to add figures to. */
json_t *ml_result_phase_begin(struct ml_cell_result *r, const char *name);
/* End a phase with a status and, for fail/error, the error text. */
void ml_result_phase_end(struct ml_cell_result *r, json_t *phase, enum ml_phase_status st,
			 const char *error);
/* Set the verdict, the one-line reason, and (for fail/error) the evidence:
 * which phase and the text QEMU, QMP or the guest gave. */
void ml_result_set_verdict(struct ml_cell_result *r, enum ml_verdict v, const char *phase,
			   const char *reason, const char *evidence);
/* Record a file of the cell directory under "logs" (key -> relative name). */
void ml_result_add_log(struct ml_cell_result *r, const char *key, const char *relname);
/* Write cell.json (atomically); may be called repeatedly as the cell goes on. */
int ml_result_write(struct ml_cell_result *r);

/* A run id from the current UTC time: "20261122-031500-4f2a". */
char *ml_run_id_new(void);
/* UTC timestamp "2026-11-22T03:15:00Z". */
char *ml_timestamp_utc(void);

#endif
