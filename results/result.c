/* The result model and its files (see result.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ml-layout.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "result.h"
#include "ml-common.h"

static const char *const verdict_names[] = {
	[ML_VERDICT_PASS] = "pass",   [ML_VERDICT_FAIL] = "fail", [ML_VERDICT_XFAIL] = "xfail",
	[ML_VERDICT_XPASS] = "xpass", [ML_VERDICT_SKIP] = "skip", [ML_VERDICT_ERROR] = "error",
};

static const char *const phase_names[] = {
	[ML_PHASE_RUNNING] = "running", [ML_PHASE_PASS] = "pass", [ML_PHASE_FAIL] = "fail",
	[ML_PHASE_ERROR] = "error",     [ML_PHASE_SKIP] = "skip",
};

const char *ml_verdict_str(enum ml_verdict v)
{
	return (size_t)v < ML_ARRAY_SIZE(verdict_names) ? verdict_names[v] : "error";
}

int ml_verdict_parse(const char *s, enum ml_verdict *v)
{
	for (size_t i = 0; i < ML_ARRAY_SIZE(verdict_names); i++) {
		if (s && strcmp(s, verdict_names[i]) == 0) {
			*v = (enum ml_verdict)i;
			return 0;
		}
	}
	ml_error("unknown verdict '%s' (expected pass, fail, xfail, xpass, skip or error)",
		 s ? s : "(null)");
	return -1;
}

const char *ml_phase_status_str(enum ml_phase_status s)
{
	return (size_t)s < ML_ARRAY_SIZE(phase_names) ? phase_names[s] : "error";
}

char *ml_timestamp_utc(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return strdup(buf);
}

char *ml_run_id_new(void)
{
	char buf[48];
	time_t t = time(NULL);
	struct tm tm;
	unsigned short rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (unsigned short)(ml_now_ms() ^ getpid());
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "-%04x", rnd);
	return strdup(buf);
}

int ml_run_dir_create(const char *results_dir, const char *run_id, char **id_out, char **dir_out)
{
	*id_out = *dir_out = NULL;
	if (ml_mkdir_p(results_dir, 0755) < 0)
		return -1;
	/* A generated id collides only with a run started in the same second
	 * with the same random suffix: draw again. */
	for (int tries = 0; tries < 1000; tries++) {
		char *id = run_id ? strdup(run_id) : ml_run_id_new();
		char *dir = ml_path_join(results_dir, id);
		if (!id)
			abort();
		if (mkdir(dir, 0755) == 0) {
			*id_out = id;
			*dir_out = dir;
			return 0;
		}
		if (errno != EEXIST || run_id) {
			if (errno == EEXIST)
				ml_error("run ID %s already exists in %s (use --resume %s to finish it, or "
					 "another --run-id)", id, results_dir, id);
			else
				ml_error_errno(errno, "cannot create run directory %s", dir);
			free(id);
			free(dir);
			return -1;
		}
		free(id);
		free(dir);
	}
	ml_error("no free run ID in %s after 1000 tries", results_dir);
	return -1;
}

int ml_result_new(struct ml_cell_result *r, const char *dir, const char *run_id,
		  const char *cell_id, int attempt, json_t *inputs)
{
	ml_autofree char *now = ml_timestamp_utc();

	memset(r, 0, sizeof(*r));
	if (ml_mkdir_p(dir, 0755) < 0) {
		json_decref(inputs);
		return -1;
	}
	r->dir = strdup(dir);
	r->started_ms = ml_now_ms();
	r->doc = json_object();
	ml_json_set_str(r->doc, "schema", ML_ATTEMPT_SCHEMA);
	ml_json_set_str(r->doc, "run_id", run_id);
	ml_json_set_str(r->doc, "cell_id", cell_id);
	ml_json_set_int(r->doc, "attempt", attempt);
	ml_json_set_str(r->doc, "started_at", now);
	ml_json_set(r->doc, "inputs", inputs ? inputs : json_object());
	ml_json_set(r->doc, "phases", json_array());
	ml_json_set(r->doc, "findings", json_array());
	ml_json_set(r->doc, "logs", json_object());
	/* Until the attempt ends, an interrupted one reads as an error. */
	ml_json_set_str(r->doc, "outcome", "error");
	ml_json_set_str(r->doc, "reason", "the attempt did not finish");
	ml_json_set_str(r->doc, "state", "running");
	return 0;
}

void ml_result_clear(struct ml_cell_result *r)
{
	json_decref(r->doc);
	free(r->dir);
	memset(r, 0, sizeof(*r));
}

json_t *ml_result_phase_begin(struct ml_cell_result *r, const char *name)
{
	json_t *p = json_object();

	ml_json_set_str(p, "name", name);
	ml_json_set_str(p, "status", ml_phase_status_str(ML_PHASE_RUNNING));
	ml_json_set_int(p, "start_ms", ml_now_ms() - r->started_ms);
	ml_json_set(p, "figures", json_object());
	json_array_append_new(json_object_get(r->doc, "phases"), p);
	return p;
}

void ml_result_phase_end(struct ml_cell_result *r, json_t *phase, enum ml_phase_status st,
			 const char *error)
{
	long long start = ml_json_int(phase, "start_ms", 0);

	ml_json_set_str(phase, "status", ml_phase_status_str(st));
	ml_json_set_int(phase, "duration_ms", ml_now_ms() - r->started_ms - start);
	if (error)
		ml_json_set_str(phase, "error", error);
}

void ml_result_set_outcome(struct ml_cell_result *r, enum ml_verdict v, const char *phase,
			   const char *reason, const char *evidence)
{
	ml_json_set_str(r->doc, "outcome", ml_verdict_str(v));
	ml_json_set_str(r->doc, "reason", reason);
	if (phase || evidence) {
		json_t *e = json_object();
		ml_json_set_str(e, "phase", phase);
		ml_json_set_str(e, "evidence", evidence);
		ml_json_set(r->doc, "failure", e);
	}
	ml_json_set_str(r->doc, "state", "done");
	ml_json_set_int(r->doc, "wall_ms", ml_now_ms() - r->started_ms);
}

void ml_result_add_log(struct ml_cell_result *r, const char *key, const char *relname)
{
	ml_json_set_str(json_object_get(r->doc, "logs"), key, relname);
}

int ml_result_write(struct ml_cell_result *r)
{
	ml_autofree char *path = ml_layout_file(r->dir, ML_LAYOUT_ATTEMPT_FILE);
	if (!json_object_get(r->doc, "wall_ms") ||
	    strcmp(ml_json_str(r->doc, "state"), "running") == 0)
		ml_json_set_int(r->doc, "wall_ms", ml_now_ms() - r->started_ms);
	return ml_json_write_file(path, r->doc);
}
