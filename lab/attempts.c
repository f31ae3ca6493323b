/* A cell with its confirmations (see attempts.h). */
#include <stdio.h>
#include <string.h>

#include "attempts.h"
#include "ml-layout.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "ml-common.h"

int ml_cell_run_confirmed(const struct ml_cell_spec *s, const char *run_dir, const char *run_id,
			  int confirm, const struct ml_judge_rules *rules, json_t **judgement)
{
	ml_autofree char *id = ml_cell_id(s);
	ml_autofree char *cell_dir = ml_layout_cell_dir(run_dir, id);
	struct ml_cell_spec confirming = *s;
	json_t *doc = NULL;
	enum ml_verdict outcome;

	*judgement = NULL;
	if (ml_rm_rf(cell_dir) < 0)
		return -1;
	/* Confirming attempts capture whole streams: a failure's evidence then
	 * includes the failing device's state, whatever the host's load. */
	confirming.lossless_capture = true;
	/* They boot cold: a saved guest is the first attempt's start, and a flaw
	 * in it (a build that corrupts the guest it saves) must not repeat in
	 * every attempt as if it were deterministic (docs/saved-state.md). */
	confirming.boot = "cold";
	for (int n = 1; n <= 1 + confirm; n++) {
		const char *v;

		/* Streams are about 100 MiB each: the first attempt's and the first
		 * lossless one's are kept, later ones only recorded. */
		confirming.no_stream_keep = n > 2;
		if (ml_cell_run(n == 1 ? s : &confirming, run_dir, run_id, n, &outcome) < 0)
			return ml_error_context("attempt %d of cell %s", n, id);
		json_decref(doc);
		if (ml_judge_cell(rules, cell_dir, &doc) < 0)
			return ml_error_context("judging cell %s", id);
		v = ml_json_str(doc, "verdict");
		if (ml_interrupted || strcmp(v, "pass") == 0 || strcmp(v, "skip") == 0 ||
		    strcmp(v, "xpass") == 0)
			break;
		if (n <= confirm)
			fprintf(stderr, "miglab: cell %s: attempt %d: %s (%s); confirming (%d of %d)\n", id, n,
				ml_json_str(json_array_get(json_object_get(doc, "attempts"), n - 1), "verdict"),
				ml_json_str(json_array_get(json_object_get(doc, "attempts"), n - 1), "reason"),
				n, confirm);
	}
	*judgement = doc;
	return 0;
}

int ml_cell_run_more(const struct ml_cell_spec *s, const char *run_dir, const char *run_id,
		     int count, const struct ml_judge_rules *rules, json_t **judgement)
{
	ml_autofree char *id = ml_cell_id(s);
	ml_autofree char *cell_dir = ml_layout_cell_dir(run_dir, id);
	ml_autofree int *nums = NULL;
	struct ml_cell_spec more = *s;
	json_t *doc = NULL;
	enum ml_verdict outcome;
	size_t n = 0;
	int first;

	*judgement = NULL;
	if (ml_layout_list_attempts(cell_dir, &nums, &n) < 0)
		return -1;
	first = n ? nums[n - 1] + 1 : 1;
	more.lossless_capture = true;
	more.boot = "cold"; /* as confirming attempts: independent of the first's start */
	for (int k = first; k < first + count && !ml_interrupted; k++) {
		more.no_stream_keep = k > 2;
		if (ml_cell_run(&more, run_dir, run_id, k, &outcome) < 0)
			return ml_error_context("attempt %d of cell %s", k, id);
		json_decref(doc);
		doc = NULL;
		if (ml_judge_cell(rules, cell_dir, &doc) < 0)
			return ml_error_context("judging cell %s", id);
	}
	if (!doc && ml_judge_cell(rules, cell_dir, &doc) < 0)
		return ml_error_context("judging cell %s", id);
	*judgement = doc;
	return 0;
}
