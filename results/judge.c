/* The judging stage (see judge.h): attempts -> cell judgement -> run. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "abi-diff.h"
#include "abi-kinds.h"
#include "judge.h"
#include "judge-internal.h"
#include "ml-layout.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "result.h"
#include "run-file.h"
#include "stream.h"
#include "ml-common.h"

#define ATTEMPT_MAX_BYTES ((size_t)64 << 20)
/* A stream's decoded summary (stream-<to>.json): the largest of 284 is
 * 561,806 bytes; one over this is decoded again rather than parsed. */
#define STREAM_SUMMARY_MAX_BYTES ((size_t)16 << 20)

/* ---- rules ---------------------------------------------------------------- */

int ml_judge_rules_load(struct ml_judge_rules *r)
{
	memset(r, 0, sizeof(*r));
	if (ml_catalogue_load(NULL, &r->catalogue) < 0)
		return ml_error_context("the failure catalogue");
	if (ml_known_load(NULL, &r->known) < 0) {
		ml_catalogue_clear(&r->catalogue);
		return ml_error_context("the known issues");
	}
	r->abi_volatile = ml_abi_volatile_default();
	if (!r->abi_volatile) {
		ml_judge_rules_clear(r);
		return ml_error_context("the list of volatile ABI values");
	}
	r->abi_kinds = ml_abi_kinds_default();
	if (!r->abi_kinds) {
		ml_judge_rules_clear(r);
		return ml_error_context("the table of ABI kinds");
	}
	r->iasl = ml_abi_find_iasl();
	return 0;
}

void ml_judge_rules_clear(struct ml_judge_rules *r)
{
	ml_catalogue_clear(&r->catalogue);
	ml_known_clear(&r->known);
	ml_abi_volatile_free(r->abi_volatile);
	ml_abi_kinds_free(r->abi_kinds);
	free(r->iasl);
	memset(r, 0, sizeof(*r));
}

/* ---- small helpers ---------------------------------------------------------- */

int ml_verdict_exit_status(const char *v)
{
	if (!v || strcmp(v, "error") == 0)
		return 2;
	if (strcmp(v, "fail") == 0 || strcmp(v, "xpass") == 0)
		return 1;
	return 0;
}

const char *ml_judge_phase_direction(const char *phase)
{
	static const char *const forward[] = { "migrate-forward", "live-dst", "reboot-dst" };
	static const char *const back[] = { "migrate-back", "back-src" };

	for (size_t i = 0; phase && i < ML_ARRAY_SIZE(forward); i++)
		if (strcmp(phase, forward[i]) == 0)
			return "forward";
	for (size_t i = 0; phase && i < ML_ARRAY_SIZE(back); i++)
		if (strcmp(phase, back[i]) == 0)
			return "back";
	return NULL;
}

/* A control cell runs one build on both sides with the same arguments. */
static bool is_control(const json_t *doc)
{
	json_t *extra = json_object_get(json_object_get(doc, "inputs"), "extra_args");
	json_t *s = json_object_get(extra, "src"), *d = json_object_get(extra, "dst");

	if (!ml_str_eq(ml_judge_side(doc, "src", "provider"), ml_judge_side(doc, "dst", "provider")))
		return false;
	return (!s && !d) || (s && d && json_equal(s, d));
}

/* "debian:bookworm (QEMU 7.2.22)" */
static char *build_label(const json_t *doc, const char *side)
{
	return ml_strdup_printf("%s (QEMU %s)", ml_judge_side(doc, side, "provider") ? ml_judge_side(doc, side, "provider") : "?",
				ml_judge_side(doc, side, "version") ? ml_judge_side(doc, side, "version") : "?");
}

/* ---- one attempt -------------------------------------------------------------- */

/* A judgement of error for evidence that cannot be read. */
static json_t *damaged_attempt(int n, const char *what)
{
	json_t *a = json_object();

	ml_json_set_int(a, "attempt", n);
	ml_json_set_str(a, "outcome", "error");
	ml_json_set_str(a, "verdict", "error");
	ml_json_set_str(a, "reason", what);
	return a;
}

/* The static vmstate check the cell recorded (vmstate.json) as a finding. */
static void judge_vmstate(json_t *doc, const char *dir)
{
	const char *name = ml_json_str(json_object_get(doc, "logs"), "vmstate");
	ml_autofree char *path = NULL;
	json_t *res, *f;
	long long errors;
	int worst;

	if (!name || strchr(name, '/'))
		return;
	path = ml_path_join(dir, name);
	res = ml_json_load_file(path, 64 << 20);
	if (!res) {
		ml_error_reset();
		return;
	}
	errors = ml_json_int(res, "errors", 0);
	/* The finding's severity is the worst in vmstate.json, in the judge's
	 * words: 2 error, 1 warning ("warn"); info alone makes no finding. */
	worst = errors > 0 ? 2 : 0;
	for (int k = 0; k < 2; k++) {
		json_t *pair = json_object_get(res, k ? "back" : "forward"), *x;
		size_t i;
		if (ml_json_int(pair, "errors", 0) > 0)
			worst = 2;
		else if (ml_json_int(pair, "warnings", 0) > 0 && worst < 1)
			worst = 1;
		json_array_foreach(json_object_get(pair, "findings"), i, x) {
			if (ml_str_eq(ml_json_str(x, "severity"), "error"))
				worst = 2;
			else if (ml_str_eq(ml_json_str(x, "severity"), "warning") && worst < 1)
				worst = 1;
		}
	}
	if (!worst) {
		json_decref(res);
		return;
	}
	f = json_object();
	ml_json_set_str(f, "kind", "vmstate");
	ml_json_set_str(f, "severity", worst == 2 ? "error" : "warn");
	ml_json_set_int(f, "errors", errors);
	for (int k = 0; k < 2; k++) {
		json_t *pair = json_object_get(res, k ? "back" : "forward");
		json_t *first = json_array_get(json_object_get(pair, "findings"), 0);
		json_t *d = json_object();
		ml_json_set_int(d, "errors", ml_json_int(pair, "errors", 0));
		ml_json_set_int(d, "warnings", ml_json_int(pair, "warnings", 0));
		if (first && !ml_str_eq(ml_json_str(first, "severity"), "info"))
			ml_json_set(d, "first", json_incref(first));
		ml_json_set(f, k ? "back" : "forward", d);
	}
	json_array_append_new(json_object_get(doc, "findings"), f);
	json_decref(res);
}

/* The tap's figures of the migration whose stream is stream-<to>. */
static json_t *capture_figures(json_t *doc, const char *to)
{
	const char *phase_name = strcmp(to, "dst") == 0 ? "migrate-forward" : "migrate-back";
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(doc, "phases"), i, p)
		if (ml_str_eq(ml_json_str(p, "name"), phase_name))
			return json_object_get(json_object_get(json_object_get(p, "figures"), "stream"),
					       "capture");
	return NULL;
}

/* What the captured stream of the failing migration says about the device
 * the failure names; never more than the capture holds. */
static void judge_stream(json_t *doc, const char *dir, json_t *failure, const char *direction)
{
	const char *to = ml_str_eq(direction, "back") ? "back" : "dst";
	json_t *logs = json_object_get(doc, "logs");
	ml_autofree char *key = ml_strdup_printf("stream_%s", to);
	ml_autofree char *skey = ml_strdup_printf("stream_summary_%s", to);
	ml_autofree char *sname = ml_strdup_printf("stream-%s.json", to);
	ml_autofree char *spath = ml_path_join(dir, sname);
	const char *name = ml_json_str(logs, key);
	const char *device = ml_json_str(failure, "device");
	json_t *cap = capture_figures(doc, to);
	json_t *summary = NULL;
	ml_autofree char *why = NULL;

	if (!name || strchr(name, '/'))
		return;
	/* Decode once (a stream is up to hundreds of MB); later judgements
	 * read the summary beside it. */
	if (ml_path_exists(spath))
		summary = ml_json_load_file(spath, STREAM_SUMMARY_MAX_BYTES);
	if (!summary) {
		ml_autofree char *path = ml_path_join(dir, name);
		ml_stream_decode_file(path, &summary);
		if (summary)
			ml_json_write_file(spath, summary);
	}
	if (summary)
		ml_json_set_str(logs, skey, sname);
	ml_error_reset();
	if (!summary || !device) {
		json_decref(summary);
		return;
	}
	why = ml_stream_explain(summary, device, ml_json_str(failure, "field"));
	if (cap && !ml_json_bool(cap, "complete", true) && strstr(why, "did not send")) {
		/* The tap stopped capturing (its writer fell behind on a loaded
		 * host): absence from the capture says nothing. */
		free(why);
		why = ml_strdup_printf("the capture of this stream was cut after %lld bytes (the tap's "
				       "writer fell behind; capture_complete=false), before device '%s': "
				       "the capture cannot tell what the source sent for it",
				       ml_json_int(cap, "stream_bytes", 0), device);
	}
	ml_json_set_str(failure, "stream", why);
	ml_json_set(failure, "capture_complete",
		    json_boolean(cap ? ml_json_bool(cap, "complete", true) : true));
	json_decref(summary);
}

/* The -cpu argument of a recorded QEMU command line ("commands": {side: argv}). */
static const char *cpu_arg(const json_t *doc, const char *side)
{
	json_t *argv = json_object_get(json_object_get(doc, "commands"), side);
	size_t i;

	for (i = 0; i + 1 < json_array_size(argv); i++)
		if (ml_str_eq(json_string_value(json_array_get(argv, i)), "-cpu"))
			return json_string_value(json_array_get(argv, i + 1));
	return NULL;
}

/* A guest that breaks after moving to a QEMU with another CPU model may have
 * lost CPU features it booted with: a guest failure, named as such. */
static void note_cpu_model(json_t *doc, json_t *failure, const char *direction)
{
	bool back = ml_str_eq(direction, "back");
	const char *from = cpu_arg(doc, back ? "dst" : "src");
	const char *to = cpu_arg(doc, back ? "back" : "dst");
	ml_autofree char *text = NULL;

	if ((!from && !to) || (from && to && strcmp(from, to) == 0))
		return;
	text = ml_strdup_printf("the guest booted with -cpu %s and was moved to a QEMU with -cpu %s: "
				"it may have lost CPU features it uses (compare CPUID in the ABI dumps)",
				from ? from : "(the machine's default)", to ? to : "(the machine's default)");
	ml_json_set(failure, "cpu_model_change",
		    json_pack("{s:s?, s:s?, s:s}", "from", from, "to", to, "text", text));
}

/* Judge attempt n of a cell. *doc_out receives the attempt's document with
 * the judged fields added (verdict, failure class, findings); returns the
 * short form that cell.json lists under "attempts". */
static json_t *judge_attempt(const struct ml_judge_rules *r, const char *cell_dir, int n,
			     json_t **doc_out)
{
	ml_autofree char *dir = n ? ml_layout_attempt_dir(cell_dir, n) : strdup(cell_dir);
	ml_autofree char *path = ml_path_join(dir, n ? ML_LAYOUT_ATTEMPT_FILE : ML_LAYOUT_CELL_FILE);
	json_t *doc = ml_json_load_file(path, ATTEMPT_MAX_BYTES);
	json_t *failure, *a, *cls = NULL;
	const char *severity, *direction;
	const json_t *worst = NULL;
	ml_autofree char *verdict = NULL;
	ml_autofree char *outcome = NULL;

	*doc_out = NULL;
	if (!doc || !json_is_object(doc)) {
		ml_autofree char *why = ml_strdup_printf("the evidence of attempt %d is unreadable: %s", n,
							 doc ? "not a JSON object" : ml_error_message());
		json_decref(doc);
		ml_error_reset();
		return damaged_attempt(n, why);
	}
	/* Legacy cells (before attempts) call their outcome "verdict". */
	outcome = ml_json_str(doc, "outcome") ? strdup(ml_json_str(doc, "outcome"))
		  : ml_json_str(doc, "verdict") ? strdup(ml_json_str(doc, "verdict")) : NULL;
	if (!outcome || (strcmp(outcome, "pass") && strcmp(outcome, "fail") && strcmp(outcome, "error") &&
			 strcmp(outcome, "skip") && strcmp(outcome, "xfail") && strcmp(outcome, "xpass"))) {
		ml_autofree char *why = ml_strdup_printf("%s has no valid outcome", path);
		json_decref(doc);
		return damaged_attempt(n, why);
	}
	verdict = strdup(strcmp(outcome, "xfail") == 0 ? "fail" : strcmp(outcome, "xpass") == 0 ? "pass" : outcome);
	if (ml_str_eq(ml_json_str(doc, "state"), "running")) {
		free(verdict);
		verdict = strdup("error");
		ml_json_set_str(doc, "reason", "the attempt did not finish (its process ended before "
					       "recording an outcome)");
	}
	ml_json_set_str(doc, "outcome", outcome);
	if (!json_is_array(json_object_get(doc, "findings")))
		ml_json_set(doc, "findings", json_array());
	if (!json_is_object(json_object_get(doc, "logs")))
		ml_json_set(doc, "logs", json_object());
	/* Findings are the judge's: drop what an earlier judgement added. */
	{
		json_t *keep = json_array(), *f;
		size_t i;
		json_array_foreach(json_object_get(doc, "findings"), i, f)
			if (!ml_str_eq(ml_json_str(f, "kind"), "abi-change") &&
			    !ml_str_eq(ml_json_str(f, "kind"), "abi-dump-refused") &&
			    !(ml_str_eq(ml_json_str(f, "kind"), "vmstate") && !ml_json_str(f, "error")))
				json_array_append(keep, f);
		ml_json_set(doc, "findings", keep);
	}
	severity = r->abi_severity ? r->abi_severity
		   : ml_judge_input(doc, "abi_severity") ? ml_judge_input(doc, "abi_severity") : "warn";
	judge_vmstate(doc, dir);
	if (ml_judge_abi_attempt(r, doc, dir, severity, &worst) < 0 && strcmp(verdict, "pass") == 0) {
		ml_autofree char *why = ml_strdup_printf("cannot compare the ABI dumps: %s", ml_error_message());
		free(verdict);
		verdict = strdup("error");
		ml_json_set_str(doc, "reason", why);
	}
	ml_error_reset();
	if (worst && strcmp(verdict, "pass") == 0) {
		const json_t *w = ml_judge_abi_worst(json_object_get(worst, "differences"));
		ml_autofree char *reason = NULL;
		bool live = !ml_str_eq(ml_json_str(worst, "phase"), "reboot-dst");
		reason = ml_strdup_printf(
			"migrations passed, but the guest-visible ABI changed %s at %s (against %s): "
			"%s %s %s: %s -> %s (%lld difference(s))",
			live ? "under the running guest" : "", ml_json_str(worst, "phase"),
			ml_json_str(worst, "against"), ml_json_str(w, "kind"), ml_json_str(w, "section"),
			ml_json_str(w, "key"), ml_json_str(w, "before") ? ml_json_str(w, "before") : "absent",
			ml_json_str(w, "after") ? ml_json_str(w, "after") : "absent",
			ml_json_int(worst, "count", 0));
		free(verdict);
		verdict = strdup("fail");
		ml_json_set_str(doc, "reason", reason);
		ml_json_set(doc, "failure", json_pack("{s:s?, s:s?}", "phase", ml_json_str(worst, "phase"),
						      "evidence", ml_json_str(worst, "summary")));
	}
	ml_json_set_str(doc, "verdict", verdict);
	failure = json_object_get(doc, "failure");
	if (strcmp(verdict, "fail") == 0 || strcmp(verdict, "error") == 0) {
		if (!failure) {
			failure = json_object();
			ml_json_set(doc, "failure", failure);
		}
		if (ml_classify(&r->catalogue, doc, dir, &cls) == 0 && cls) {
			const char *k;
			json_t *v;
			json_object_foreach(cls, k, v)
				if (strcmp(k, "phase") != 0 && strcmp(k, "evidence") != 0)
					ml_json_set(failure, k, json_incref(v));
			if (!json_object_get(failure, "family"))
				ml_json_set(failure, "family", json_incref(json_object_get(cls, "class")));
		}
		ml_error_reset();
		/* The lab's step failed because the guest broke (its console shows
		 * an oops, or the probe died of an invalid opcode): a guest failure. */
		if (strcmp(verdict, "error") == 0 &&
		    (ml_str_eq(ml_json_str(failure, "class"), "guest-panicked") ||
		     ml_str_eq(ml_json_str(failure, "class"), "cpu-feature-lost"))) {
			free(verdict);
			verdict = strdup("fail");
			ml_json_set_str(doc, "verdict", verdict);
		}
		direction = ml_judge_phase_direction(ml_json_str(failure, "phase"));
		if (direction) {
			bool back = strcmp(direction, "back") == 0;
			ml_autofree char *from = build_label(doc, back ? "dst" : "src");
			ml_autofree char *to = build_label(doc, back ? "src" : "dst");
			ml_autofree char *text = ml_strdup_printf("%s -> %s", from, to);
			json_t *d = json_object();
			ml_json_set_str(d, "migration", direction);
			ml_json_set_str(d, "from", ml_judge_side(doc, back ? "dst" : "src", "provider"));
			ml_json_set_str(d, "from_version", ml_judge_side(doc, back ? "dst" : "src", "version"));
			ml_json_set_str(d, "to", ml_judge_side(doc, back ? "src" : "dst", "provider"));
			ml_json_set_str(d, "to_version", ml_judge_side(doc, back ? "src" : "dst", "version"));
			ml_json_set_str(d, "text", text);
			ml_json_set(failure, "direction", d);
			judge_stream(doc, dir, failure, direction);
			note_cpu_model(doc, failure, direction);
		}
	}
	json_decref(cls);
	ml_judge_abi_crosscheck(doc, dir);

	a = json_object();
	ml_json_set_int(a, "attempt", n ? n : 1);
	ml_json_set_str(a, "outcome", outcome);
	ml_json_set_str(a, "verdict", verdict);
	ml_json_set_str(a, "reason", ml_json_str(doc, "reason"));
	if (json_object_get(failure, "capture_complete"))
		ml_json_set(a, "capture_complete", json_incref(json_object_get(failure, "capture_complete")));
	if (json_object_get(failure, "class")) {
		ml_json_set_str(a, "class", ml_json_str(failure, "class"));
		ml_json_set_str(a, "family", ml_json_str(failure, "family"));
		ml_json_set_str(a, "phase", ml_json_str(failure, "phase"));
	}
	ml_json_set_int(a, "wall_ms", ml_json_int(doc, "wall_ms", 0));
	ml_json_set(a, "lossless_capture",
		    json_boolean(ml_json_bool(json_object_get(doc, "inputs"), "lossless_capture", false)));
	{
		ml_autofree char *rel = n ? ml_strdup_printf(ML_LAYOUT_ATTEMPTS_DIR "/%d", n) : strdup(".");
		ml_json_set_str(a, "dir", rel);
	}
	*doc_out = doc;
	return a;
}

/* ---- one cell ----------------------------------------------------------------- */

const char *ml_judgement_category(const json_t *cell)
{
	const char *v = ml_json_str(cell, "verdict");
	json_t *unsound = json_object_get(cell, "unsound");

	if (!v)
		return "error";
	if (strcmp(v, "fail") == 0 || strcmp(v, "xfail") == 0) {
		if (unsound)
			return ml_str_eq(ml_json_str(unsound, "role"), "destination") ? "destination-unsound"
										     : "source-unsound";
		if (strcmp(v, "xfail") == 0)
			return "xfail";
		if (ml_str_eq(ml_json_str(json_object_get(cell, "repeat"), "kind"), "intermittent"))
			return "intermittent";
		return "fail";
	}
	return v;
}

/* A cell directory with nothing readable in it: an error naming what is missing. */
static json_t *damaged_cell(const char *cell_dir, const char *why)
{
	json_t *doc = json_object();
	const char *slash = strrchr(cell_dir, '/');

	ml_json_set_str(doc, "schema", ML_CELL_SCHEMA);
	ml_json_set_str(doc, "cell_id", slash ? slash + 1 : cell_dir);
	ml_json_set_str(doc, "state", "done");
	ml_json_set_str(doc, "verdict", "error");
	ml_json_set_str(doc, "reason", why);
	ml_json_set(doc, "failure", json_pack("{s:s, s:s}", "class", "lab-error", "evidence", why));
	ml_json_set(doc, "inputs", json_object());
	ml_json_set(doc, "phases", json_array());
	ml_json_set(doc, "findings", json_array());
	ml_json_set(doc, "logs", json_object());
	ml_json_set(doc, "attempts", json_array());
	return doc;
}

static void set_repeat(json_t *doc, json_t *attempts)
{
	size_t i, n = 0, failed = 0, errors = 0;
	json_t *a;
	json_t *rep = json_object();
	const char *kind;

	json_array_foreach(attempts, i, a) {
		const char *v = ml_json_str(a, "verdict");
		if (ml_str_eq(v, "error")) {
			errors++;
			continue;
		}
		if (ml_str_eq(v, "skip"))
			continue;
		n++;
		failed += ml_str_eq(v, "fail");
	}
	kind = n <= 1 && json_array_size(attempts) <= 1 ? "single"
	       : failed == 0			       ? "none-failed"
	       : failed == n			       ? "deterministic"
							       : "intermittent";
	ml_json_set_str(rep, "kind", kind);
	ml_json_set_int(rep, "attempts", (long long)json_array_size(attempts));
	ml_json_set_int(rep, "judged", (long long)n);
	ml_json_set_int(rep, "failed", (long long)failed);
	ml_json_set_int(rep, "lab_errors", (long long)errors);
	{
		ml_autofree char *text = ml_strdup_printf("%zu of %zu attempt(s) failed%s", failed, n,
							  errors ? " (plus lab errors)" : "");
		ml_json_set_str(rep, "text", text);
	}
	ml_json_set(doc, "repeat", rep);
}

/* Judge a cell directory from its attempts: the new cell.json document. */
static json_t *judge_cell(const struct ml_judge_rules *r, const char *cell_dir)
{
	ml_autofree int *nums = NULL;
	ml_autofree char *cell_json = ml_path_join(cell_dir, ML_LAYOUT_CELL_FILE);
	size_t n = 0, primary = 0, i;
	json_t **docs = NULL, *attempts = json_array(), *doc, *a;
	bool legacy = false, any_fail = false, any_pass = false, all_skip = true;
	if (ml_layout_list_attempts(cell_dir, &nums, &n) < 0 || n == 0) {
		/* Before attempts: the evidence is in the cell directory itself. */
		if (n == 0 && ml_path_exists(cell_json)) {
			/* miglab-cell/1, or its judgement (one attempt, dir ".") */
			json_t *old = ml_json_load_file(cell_json, ATTEMPT_MAX_BYTES);
			json_t *first = json_array_get(json_object_get(old, "attempts"), 0);
			legacy = old && (!json_object_get(old, "attempts") ||
					 ml_str_eq(ml_json_str(first, "dir"), "."));
			json_decref(old);
		}
		if (!legacy) {
			ml_autofree char *why = ml_strdup_printf(
				"cell directory %s has no attempts/<N>/attempt.json: %s", cell_dir,
				ml_error_message());
			ml_error_reset();
			doc = damaged_cell(cell_dir, why);
			goto write;
		}
		n = 1;
	}
	docs = calloc(n, sizeof(*docs));
	if (!docs)
		abort();
	for (i = 0; i < n; i++) {
		a = judge_attempt(r, cell_dir, legacy ? 0 : nums[i], &docs[i]);
		json_array_append_new(attempts, a);
	}
	/* The attempt the cell is shown by: its first failure (or, when that
	 * one's stream capture was cut, the first failure of the same class
	 * captured whole), else its first lab error, else its last attempt. */
	primary = n - 1;
	for (i = n; i-- > 0;)
		if (docs[i]) {
			primary = i;
			break;
		}
	for (int pass = 0; pass < 2; pass++) {
		bool found = false;
		for (i = 0; i < n; i++) {
			const char *v = ml_json_str(json_array_get(attempts, i), "verdict");
			if (ml_str_eq(v, pass ? "error" : "fail") && docs[i]) {
				primary = i;
				found = true;
				break;
			}
		}
		if (found)
			break;
	}
	if (!ml_json_bool(json_array_get(attempts, primary), "capture_complete", true))
		for (i = primary + 1; i < n; i++) {
			json_t *a1 = json_array_get(attempts, primary), *a2 = json_array_get(attempts, i);
			if (docs[i] && ml_str_eq(ml_json_str(a2, "verdict"), "fail") &&
			    ml_str_eq(ml_json_str(a2, "class"), ml_json_str(a1, "class")) &&
			    ml_json_bool(a2, "capture_complete", false)) {
				primary = i;
				break;
			}
		}
	json_array_foreach(attempts, i, a) {
		const char *v = ml_json_str(a, "verdict");
		any_fail |= ml_str_eq(v, "fail");
		any_pass |= ml_str_eq(v, "pass");
		all_skip &= ml_str_eq(v, "skip");
	}
	if (!docs[primary]) {
		/* No attempt readable. */
		doc = damaged_cell(cell_dir, ml_json_str(json_array_get(attempts, primary), "reason"));
		ml_json_set(doc, "attempts", json_incref(attempts));
		goto write;
	}
	doc = json_incref(docs[primary]);
	ml_json_set_str(doc, "schema", ML_CELL_SCHEMA);
	json_object_del(doc, "attempt");
	if (!legacy) {
		ml_autofree char *rel = ml_strdup_printf(ML_LAYOUT_ATTEMPTS_DIR "/%d", nums[primary]);
		ml_json_set_str(doc, "evidence_dir", rel);
	}
	ml_json_set(doc, "attempts", json_incref(attempts));
	ml_json_set_str(doc, "state", "done");
	{
		long long wall = 0;
		json_array_foreach(attempts, i, a)
			wall += ml_json_int(a, "wall_ms", 0);
		ml_json_set_int(doc, "wall_ms", wall);
	}
	set_repeat(doc, attempts);
	/* The cell's verdict over its attempts. */
	{
		const char *v = all_skip ? "skip" : any_fail ? "fail" : any_pass ? "pass" : "error";
		json_t *rep = json_object_get(doc, "repeat");
		ml_json_set_str(doc, "verdict", v);
		if (any_fail && ml_str_eq(ml_json_str(rep, "kind"), "intermittent")) {
			ml_autofree char *reason = ml_strdup_printf(
				"intermittent (%lld of %lld attempts failed): %s", ml_json_int(rep, "failed", 0),
				ml_json_int(rep, "judged", 0), ml_json_str(doc, "reason"));
			ml_json_set_str(doc, "reason", reason);
		} else if (any_fail && ml_str_eq(ml_json_str(rep, "kind"), "deterministic")) {
			ml_autofree char *reason = ml_strdup_printf(
				"deterministic (%lld of %lld attempts failed): %s", ml_json_int(rep, "failed", 0),
				ml_json_int(rep, "judged", 0), ml_json_str(doc, "reason"));
			ml_json_set_str(doc, "reason", reason);
		}
	}
	/* Known issues: a listed failure is expected, a listed pass news. */
	{
		const char *v = ml_json_str(doc, "verdict");
		json_t *failure = json_object_get(doc, "failure");
		const struct ml_known_issue *issue = NULL;
		json_object_del(doc, "known_issue");
		if (strcmp(v, "fail") == 0 && json_object_get(failure, "class"))
			issue = ml_known_match(&r->known, doc, failure);
		else if (strcmp(v, "pass") == 0)
			issue = ml_known_match(&r->known, doc, NULL);
		if (issue && json_array_size(json_object_get(doc, "fixups_applied"))) {
			/* The workaround was applied: the verdict says whether it works. */
			ml_autofree char *reason = ml_strdup_printf("%s (with the fixup of known issue %s: %s)",
								    ml_json_str(doc, "reason"), issue->id,
								    issue->fixup ? issue->fixup : "");
			ml_json_set_str(doc, "reason", reason);
		} else if (issue) {
			bool pass = strcmp(v, "pass") == 0;
			ml_autofree char *reason = ml_strdup_printf(
				pass ? "known issue %s did not reproduce: %s" : "known issue %s: %s", issue->id,
				ml_json_str(doc, "reason"));
			ml_json_set(doc, "known_issue", ml_known_issue_to_json(issue));
			ml_json_set_str(doc, "verdict", pass ? "xpass" : "xfail");
			ml_json_set_str(doc, "reason", reason);
		}
	}
	ml_json_set(doc, "control", json_boolean(is_control(doc)));
	json_object_del(doc, "unsound");
	ml_judge_abi_cell(doc, NULL);
write:
	{
		ml_autofree char *now = ml_timestamp_utc();
		ml_json_set_str(doc, "judged_at", now);
		ml_json_set_str(doc, "category", ml_judgement_category(doc));
	}
	for (i = 0; docs && i < n; i++)
		json_decref(docs[i]);
	free(docs);
	json_decref(attempts);
	return doc;
}

int ml_judge_cell(const struct ml_judge_rules *r, const char *cell_dir, json_t **judgement)
{
	ml_autofree char *path = ml_path_join(cell_dir, ML_LAYOUT_CELL_FILE);
	json_t *doc = judge_cell(r, cell_dir);
	int ret = ml_json_write_file(path, doc);

	if (judgement)
		*judgement = doc;
	else
		json_decref(doc);
	return ret;
}

/* ---- the run: controls ---------------------------------------------------------- */

/* The control cell of build `provider` for this cell's machine and kernel. */
static json_t *find_cell(json_t *cells, const char *src, const char *dst, const json_t *like)
{
	size_t i;
	json_t *c;

	json_array_foreach(cells, i, c)
		if (ml_str_eq(ml_judge_side(c, "src", "provider"), src) &&
		    ml_str_eq(ml_judge_side(c, "dst", "provider"), dst) &&
		    ml_str_eq(ml_judge_input(c, "machine"), ml_judge_input(like, "machine")) &&
		    ml_str_eq(ml_judge_input(c, "kernel"), ml_judge_input(like, "kernel")) &&
		    (!ml_str_eq(src, dst) || ml_json_bool(c, "control", false)))
			return c;
	return NULL;
}

/* Attempts of a control that failed in a migration with this family. */
static size_t control_failures(const json_t *control, const char *family, size_t *judged)
{
	size_t i, k = 0;
	json_t *a;

	*judged = 0;
	json_array_foreach(json_object_get(control, "attempts"), i, a) {
		const char *v = ml_json_str(a, "verdict");
		if (ml_str_eq(v, "error") || ml_str_eq(v, "skip"))
			continue;
		(*judged)++;
		if (ml_str_eq(v, "fail") && ml_judge_phase_direction(ml_json_str(a, "phase")) &&
		    ml_str_eq(ml_json_str(a, "family"), family))
			k++;
	}
	return k;
}

/* Is this failure the way one of the builds of its failing migration fails
 * migrating to itself? Then it is that build's defect, not the pair's. */
static void judge_against_controls(json_t *cells, json_t *doc)
{
	json_t *failure = json_object_get(doc, "failure");
	json_t *dir = json_object_get(failure, "direction");
	const char *family = ml_json_str(failure, "family");
	const char *v = ml_json_str(doc, "verdict");
	static const char *const roles[] = { "source", "destination" };

	if (!dir || !family || ml_json_bool(doc, "control", false) ||
	    !(ml_str_eq(v, "fail") || ml_str_eq(v, "xfail")))
		return;
	for (int k = 0; k < 2; k++) {
		const char *build = ml_json_str(dir, k ? "to" : "from");
		const char *version = ml_json_str(dir, k ? "to_version" : "from_version");
		json_t *control = find_cell(cells, build, build, doc);
		size_t judged, failed;
		json_t *u;
		ml_autofree char *text = NULL;

		if (!control)
			continue;
		failed = control_failures(control, family, &judged);
		if (!failed)
			continue;
		text = ml_strdup_printf("QEMU %s (%s) fails migrating to itself the same way here "
					"(%s, %zu of %zu attempts of its control cell): a defect of that "
					"build on this host, not of the pair",
					version ? version : "?", build, family, failed, judged);
		u = json_object();
		ml_json_set_str(u, "role", roles[k]);
		ml_json_set_str(u, "build", build);
		ml_json_set_str(u, "version", version);
		ml_json_set_str(u, "family", family);
		ml_json_set_str(u, "control", ml_json_str(control, "cell_id"));
		ml_json_set_int(u, "control_failed", (long long)failed);
		ml_json_set_int(u, "control_attempts", (long long)judged);
		ml_json_set_str(u, "text", text);
		ml_json_set(doc, "unsound", u);
		return;
	}
	/* No control of this machine type and kernel failed that way (a
	 * control can pass by chance, once): say when the build's other
	 * controls do, without judging the cell by them. */
	json_object_del(doc, "control_hint");
	for (int k = 0; k < 2; k++) {
		const char *build = ml_json_str(dir, k ? "to" : "from");
		size_t i, failed = 0, judged = 0;
		json_t *c;
		json_array_foreach(cells, i, c) {
			size_t j;
			if (!ml_json_bool(c, "control", false) || !ml_str_eq(ml_judge_side(c, "src", "provider"), build))
				continue;
			failed += control_failures(c, family, &j);
			judged += j;
		}
		if (failed) {
			ml_autofree char *text = ml_strdup_printf(
				"QEMU %s (%s) fails its own control cells of other machine types or kernels "
				"the same way here (%s, %zu of %zu attempts); its control for this machine "
				"type and kernel did not: this cell is still counted as the pair's",
				ml_json_str(dir, k ? "to_version" : "from_version"), build, family, failed, judged);
			ml_json_set(doc, "control_hint", json_pack("{s:s, s:s, s:s}", "role", roles[k], "build",
								   build, "text", text));
			return;
		}
	}
}

/* A failure of the migration back (B -> A) links the cell where B -> A is the
 * forward migration. */
static void link_direction(json_t *cells, json_t *doc)
{
	json_t *dir = json_object_get(json_object_get(doc, "failure"), "direction");
	json_t *other;

	if (!dir || !ml_str_eq(ml_json_str(dir, "migration"), "back"))
		return;
	other = find_cell(cells, ml_json_str(dir, "from"), ml_json_str(dir, "to"), doc);
	json_object_del(dir, "forward_cell");
	if (other && other != doc)
		ml_json_set_str(dir, "forward_cell", ml_json_str(other, "cell_id"));
}

json_t *ml_judge_controls_to_settle(json_t *cells)
{
	json_t *failing = json_object(), *out = json_array(), *c;
	size_t i;

	json_array_foreach(cells, i, c) {
		size_t k;
		json_t *a;
		if (!ml_json_bool(c, "control", false))
			continue;
		json_array_foreach(json_object_get(c, "attempts"), k, a)
			if (ml_str_eq(ml_json_str(a, "verdict"), "fail") &&
			    ml_judge_phase_direction(ml_json_str(a, "phase")))
				ml_json_set(failing, ml_judge_side(c, "src", "provider"), json_true());
	}
	json_array_foreach(cells, i, c) {
		json_t *rep = json_object_get(c, "repeat");
		if (ml_json_bool(c, "control", false) && ml_str_eq(ml_json_str(c, "verdict"), "pass") &&
		    ml_json_int(rep, "judged", 0) <= 1 && ml_judge_side(c, "src", "provider") &&
		    json_object_get(failing, ml_judge_side(c, "src", "provider")))
			json_array_append_new(out, json_string(ml_json_str(c, "cell_id")));
	}
	json_decref(failing);
	return out;
}

/* One entry per build whose control cells fail: its rate and what it explains. */
static json_t *unsound_builds(json_t *cells)
{
	json_t *by = json_object(), *out = json_array(), *c, *e;
	const char *build;
	size_t i;

	json_array_foreach(cells, i, c) {
		size_t k;
		json_t *a;
		if (!ml_json_bool(c, "control", false))
			continue;
		build = ml_judge_side(c, "src", "provider");
		if (!build)
			continue;
		e = json_object_get(by, build);
		json_array_foreach(json_object_get(c, "attempts"), k, a) {
			const char *v = ml_json_str(a, "verdict");
			if (ml_str_eq(v, "error") || ml_str_eq(v, "skip"))
				continue;
			if (!e) {
				e = json_pack("{s:s, s:s?, s:i, s:i, s:{}, s:[], s:i}", "build", build, "version",
					      ml_judge_side(c, "src", "version"), "attempts", 0, "failed", 0,
					      "classes", "controls", "explains", 0);
				ml_json_set(by, build, e);
			}
			ml_json_set_int(e, "attempts", ml_json_int(e, "attempts", 0) + 1);
			if (ml_str_eq(v, "fail")) {
				json_t *classes = json_object_get(e, "classes");
				const char *cls = ml_json_str(a, "class") ? ml_json_str(a, "class") : "unclassified";
				ml_json_set_int(e, "failed", ml_json_int(e, "failed", 0) + 1);
				ml_json_set_int(classes, cls, ml_json_int(classes, cls, 0) + 1);
			}
		}
		if (e && ml_str_eq(ml_json_str(c, "verdict"), "fail"))
			json_array_append_new(json_object_get(e, "controls"),
					      json_string(ml_json_str(c, "cell_id")));
	}
	json_array_foreach(cells, i, c) {
		json_t *u = json_object_get(c, "unsound");
		if (u && (e = json_object_get(by, ml_json_str(u, "build"))))
			ml_json_set_int(e, "explains", ml_json_int(e, "explains", 0) + 1);
	}
	json_object_foreach(by, build, e) {
		struct ml_buf b = ML_BUF_INIT(0);
		const char *cls;
		json_t *cnt;
		bool first = true;
		if (!ml_json_int(e, "failed", 0))
			continue;
		ml_buf_printf(&b, "QEMU %s (%s) fails migrating to itself here: %lld of %lld attempts (",
			      ml_json_str(e, "version") ? ml_json_str(e, "version") : "?", build,
			      ml_json_int(e, "failed", 0), ml_json_int(e, "attempts", 0));
		json_object_foreach(json_object_get(e, "classes"), cls, cnt) {
			ml_buf_printf(&b, "%s%s %lld", first ? "" : ", ", cls, (long long)json_integer_value(cnt));
			first = false;
		}
		ml_buf_printf(&b, "); it explains %lld other cell(s)", ml_json_int(e, "explains", 0));
		ml_json_set_str(e, "text", b.data);
		ml_buf_free(&b);
		json_array_append(out, e);
	}
	json_decref(by);
	return out;
}

static int cmp_cell_id(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;
	return strcmp(a, b);
}

int ml_judge_run(const struct ml_judge_rules *r, const char *run_dir, json_t **summary_out)
{
	ml_autofree char *cells_dir = ml_path_join(run_dir, ML_LAYOUT_CELLS_DIR);
	DIR *d = opendir(cells_dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	json_t *cells = json_array(), *dirs = json_array(), *lines = json_array(), *counts = json_object();
	json_t *cats = json_object(), *summary, *facts, *c, *machine;
	int ret = 0;

	if (summary_out)
		*summary_out = NULL;
	if (!d && errno != ENOENT) {
		ml_error_errno(errno, "cannot read %s", cells_dir);
		json_decref(cells);
		json_decref(dirs);
		json_decref(lines);
		json_decref(counts);
		json_decref(cats);
		return -1;
	}
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = strdup(e->d_name);
	}
	if (d)
		closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_cell_id);
	/* Each cell alone, then with the others; written once, with both. */
	for (i = 0; i < n; i++) {
		ml_autofree char *cdir = ml_path_join(cells_dir, names[i]);
		if (!ml_is_dir(cdir))
			continue;
		json_array_append_new(cells, judge_cell(r, cdir));
		json_array_append_new(dirs, json_string(names[i]));
	}
	machine = ml_judge_machine_abi(r, cells, cells_dir);
	json_array_foreach(cells, i, c) {
		ml_autofree char *cdir = ml_path_join(cells_dir, json_string_value(json_array_get(dirs, i)));
		ml_autofree char *path = ml_path_join(cdir, ML_LAYOUT_CELL_FILE);
		judge_against_controls(cells, c);
		link_direction(cells, c);
		ml_judge_abi_in_run(r, cells, cells_dir, machine, c);
		ml_json_set_str(c, "category", ml_judgement_category(c));
		if (ml_json_write_file(path, c) < 0)
			ret = -1;
	}
	json_array_foreach(cells, i, c) {
		json_t *f = json_object_get(c, "failure");
		const char *v = ml_json_str(c, "verdict") ? ml_json_str(c, "verdict") : "error";
		const char *cat = ml_judgement_category(c);
		json_array_append_new(
			lines, json_pack("{s:s?, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:I, s:I, s:s?, s:s?, s:I}",
					 "cell_id", ml_json_str(c, "cell_id"), "verdict", v, "category", cat,
					 "src", ml_judge_side(c, "src", "provider"), "dst",
					 ml_judge_side(c, "dst", "provider"), "machine", ml_judge_input(c, "machine"),
					 "kernel", ml_judge_input(c, "kernel"), "control",
					 ml_json_bool(c, "control", false), "attempts",
					 (json_int_t)json_array_size(json_object_get(c, "attempts")), "failed",
					 (json_int_t)ml_json_int(json_object_get(c, "repeat"), "failed", 0),
					 "class", ml_json_str(f, "class"), "unsound_build",
					 ml_json_str(json_object_get(c, "unsound"), "build"), "wall_ms",
					 (json_int_t)ml_json_int(c, "wall_ms", 0)));
		ml_json_set_int(counts, v, ml_json_int(counts, v, 0) + 1);
		ml_json_set_int(cats, cat, ml_json_int(cats, cat, 0) + 1);
	}
	summary = json_object();
	ml_json_set(summary, "cells", lines);
	ml_json_set(summary, "counts", counts);
	ml_json_set(summary, "judgements", cats);
	ml_json_set(summary, "unsound_builds", unsound_builds(cells));
	ml_json_set(summary, "machine_abi", machine);
	{
		ml_autofree char *now = ml_timestamp_utc();
		ml_json_set_str(summary, "judged_at", now);
	}
	facts = NULL;
	{
		ml_autofree char *rj = ml_path_join(run_dir, ML_LAYOUT_RUN_FILE);
		if (ml_path_exists(rj))
			facts = ml_run_file_load(run_dir);
		if (!facts) {
			const char *slash = strrchr(run_dir, '/');
			ml_error_reset();
			facts = json_pack("{s:s, s:s, s:s}", "schema", ML_RUN_SCHEMA, "run_id",
					  slash ? slash + 1 : run_dir, "kind", "unknown");
		}
	}
	if (ml_run_file_write(run_dir, facts, summary) < 0)
		ret = -1;
	json_decref(facts);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	json_decref(cells);
	json_decref(dirs);
	if (summary_out)
		*summary_out = summary;
	else
		json_decref(summary);
	return ret;
}
