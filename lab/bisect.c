/* `miglab bisect` (bisect.h): the inputs, the judgement of one step from
 * its two cells, bisect.json, and the loop that feeds git bisect. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "attempts.h"
#include "bisect.h"
#include "build.h"
#include "guest.h"
#include "judge.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "ml-proc.h"
#include "result.h"
#include "run-file.h"
#include "run.h"
#include "web.h"
#include "ml-common.h"

/* A matrix line holds at most this many characters (docs/matrix.md). */
#define MATRIX_LINE_MAX 199
#define CELL_JSON_LIMIT ((size_t)64 << 20)

/* ---- inputs ---------------------------------------------------------------- */

const char *ml_bisect_machine_family(const char *machine)
{
	if (!machine)
		return NULL;
	if (strcmp(machine, "q35") == 0 || strncmp(machine, "pc-q35-", 7) == 0)
		return "q35";
	if (strcmp(machine, "pc") == 0 || strncmp(machine, "pc-i440fx-", 10) == 0)
		return "i440fx";
	return NULL;
}

/* Whether "provider = SPEC" fits on one matrix line, the commit id being
 * commit_len hex digits. */
static bool provider_line_fits(const char *spec_without_commit, size_t commit_len)
{
	return strlen("provider = ") + strlen(spec_without_commit) + commit_len <= MATRIX_LINE_MAX;
}

/* Same directory: the same string, or the same directory once resolved. */
static bool same_dir(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (strcmp(a, b) == 0)
		return true;
	return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

static int check_ends(const struct ml_bisect_options *o)
{
	struct ml_bisect_git_spec g = { 0 }, b = { 0 };
	int ret = -1;

	if (ml_bisect_parse_git_spec(o->good, &g) < 0) {
		ml_error_context("--good");
		goto out;
	}
	if (ml_bisect_parse_git_spec(o->bad, &b) < 0) {
		ml_error_context("--bad");
		goto out;
	}
	if (!same_dir(g.dir, b.dir)) {
		ml_error("--good and --bad name different git directories (%s and %s): a bisect walks "
			 "one history", g.dir, b.dir);
		goto out;
	}
	if (strcmp(g.patches, b.patches) != 0) {
		ml_error("--good and --bad carry different patches ('%s' and '%s'): the patches are "
			 "applied to every commit tested, so both ends need the same", g.patches, b.patches);
		goto out;
	}
	{
		ml_autofree char *without = ml_bisect_commit_spec(&b, "");
		if (!provider_line_fits(without, 40)) {
			ml_error("the provider %s with a full commit id is longer than a matrix line "
				 "(%d characters): use a shorter path to the checkout (a symlink)",
				 o->bad, MATRIX_LINE_MAX);
			goto out;
		}
	}
	ret = 0;
out:
	ml_bisect_git_spec_clear(&g);
	ml_bisect_git_spec_clear(&b);
	return ret;
}

int ml_bisect_check_options(const struct ml_bisect_options *o)
{
	struct ml_build against = { 0 };
	char *suite = NULL;

	if (!o->good || !o->bad || !o->against || !o->machine) {
		ml_error("%s is required", !o->good ? "--good git:DIR@REF" : !o->bad ? "--bad git:DIR@REF"
					    : !o->against ? "--against BUILD" : "--machine MACHINE");
		return -1;
	}
	if (check_ends(o) < 0)
		return -1;
	if (strcmp(o->against, o->good) == 0 || strcmp(o->against, o->bad) == 0) {
		ml_error("--against %s is one of the ends: the other build of the cell must be another",
			 o->against);
		return -1;
	}
	if (ml_build_parse(o->against, &against) < 0)
		return ml_error_context("--against");
	ml_build_clear(&against);
	if (strlen("provider = ") + strlen(o->against) > MATRIX_LINE_MAX) {
		ml_error("--against %s is longer than a matrix line (%d characters)", o->against,
			 MATRIX_LINE_MAX);
		return -1;
	}
	if (!ml_bisect_machine_family(o->machine)) {
		ml_error("--machine %s: not a q35 or i440fx machine type (pc-q35-X.Y, q35, "
			 "pc-i440fx-X.Y, pc), the families a matrix tests", o->machine);
		return -1;
	}
	if (strlen(o->machine) > 100) {
		ml_error("--machine %s: too long for a machine type", o->machine);
		return -1;
	}
	if (ml_guest_parse_provider(o->kernel ? o->kernel : ML_BISECT_DEFAULT_KERNEL, &suite) < 0)
		return ml_error_context("--kernel");
	free(suite);
	if (o->accel && strcmp(o->accel, "tcg") != 0 && strcmp(o->accel, "kvm") != 0) {
		ml_error("--accel must be tcg or kvm, not '%s'", o->accel);
		return -1;
	}
	if (o->settings.workload_mib && o->settings.workload_mib > (o->settings.memory_mib ? o->settings.memory_mib : 256) / 2) {
		ml_error("--workload must be at most half of the guest memory (%d MiB)",
			 o->settings.memory_mib ? o->settings.memory_mib : 256);
		return -1;
	}
	if (o->repeat < 0 || o->repeat > ML_CONFIRM_MAX) {
		ml_error("--repeat must be from 0 to %d, not %d", ML_CONFIRM_MAX, o->repeat);
		return -1;
	}
	if (o->id && (!*o->id || o->id[0] == '.' || strchr(o->id, '/') || strlen(o->id) > 100)) {
		ml_error("--run-id must be a plain name of at most 100 characters, not '%s'", o->id);
		return -1;
	}
	return 0;
}

/* ---- the matrix of a step -------------------------------------------------- */

int ml_bisect_set_kernel_boot(struct ml_bisect_settings *s, const char *v)
{
	if (strcmp(v, "auto") != 0 && strcmp(v, "pvh") != 0 && strcmp(v, "bzimage") != 0) {
		ml_error("--kernel-boot must be auto, pvh or bzimage, not '%s'", v);
		return -1;
	}
	snprintf(s->kernel_boot, sizeof(s->kernel_boot), "%s", strcmp(v, "auto") == 0 ? "" : v);
	return 0;
}

int ml_bisect_set_abi_severity(struct ml_bisect_settings *s, const char *v)
{
	if (strcmp(v, "warn") != 0 && strcmp(v, "fail") != 0) {
		ml_error("--abi-severity must be warn or fail, not '%s'", v);
		return -1;
	}
	snprintf(s->abi_severity, sizeof(s->abi_severity), "%s", strcmp(v, "warn") == 0 ? "" : v);
	return 0;
}

/* The sections of the settings that are not defaults. */
static void step_matrix_settings(struct ml_buf *m, const struct ml_bisect_settings *s)
{
	if (s->memory_mib || s->workload_mib || *s->kernel_boot) {
		ml_buf_puts(m, "\n[guest]\n");
		if (s->memory_mib)
			ml_buf_printf(m, "memory = %d\n", s->memory_mib);
		if (s->workload_mib)
			ml_buf_printf(m, "workload = %d\n", s->workload_mib);
		if (*s->kernel_boot)
			ml_buf_printf(m, "kernel-boot = %s\n", s->kernel_boot);
	}
	if (s->max_bandwidth_mib)
		ml_buf_printf(m, "\n[migration]\nmax-bandwidth = %d\n", s->max_bandwidth_mib);
	if (s->no_abi || s->no_reboot || *s->abi_severity) {
		ml_buf_puts(m, "\n[abi]\n");
		if (s->no_abi)
			ml_buf_puts(m, "dump = false\n");
		if (s->no_reboot)
			ml_buf_puts(m, "reboot = false\n");
		if (*s->abi_severity)
			ml_buf_printf(m, "severity = %s\n", s->abi_severity);
	}
}

/* The steps of one bisect share a matrix name, so the dashboard's trend and
 * "against previous" compare a step with the bisect's own earlier steps:
 * "bisect-ID" when that is a matrix name (docs/matrix.md), else "bisect". */
static char *step_matrix_name(const char *id)
{
	char *name = ml_strdup_printf("bisect-%s", id);
	bool ok = strlen(name) <= 40;

	for (const char *p = id; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		     *p == '.' || *p == '_' || *p == '-';
	if (!ok) {
		free(name);
		name = strdup("bisect");
	}
	return name;
}

char *ml_bisect_step_matrix(const struct ml_bisect_options *o, const char *id, const char *machine,
			    const char *spec, unsigned step)
{
	struct ml_buf m = ML_BUF_INIT(0);
	const char *src = o->step_is_dst ? "against" : "step";
	const char *dst = o->step_is_dst ? "step" : "against";
	ml_autofree char *matrix_name = step_matrix_name(id);

	ml_buf_printf(&m, "; miglab bisect %s, step %u (written by miglab)\n[matrix]\nname = %s\n"
			  "accel = %s\ncontrol = false\npairs = list\nconfirm = %d\n\n",
		      id, step, matrix_name, o->accel ? o->accel : "tcg", o->repeat);
	ml_buf_printf(&m, "[build step]\nprovider = %s\n\n[build against]\nprovider = %s\n\n", spec,
		      o->against);
	/* the control first: a run schedules controls first anyway */
	ml_buf_printf(&m, "[pair control]\nsrc = step\ndst = step\n\n[pair cell]\nsrc = %s\ndst = %s\n\n",
		      src, dst);
	ml_buf_printf(&m, "[kernel guest]\nprovider = %s\n\n[machines %s]\nlist = %s\n",
		      o->kernel ? o->kernel : ML_BISECT_DEFAULT_KERNEL, ml_bisect_machine_family(machine),
		      machine);
	step_matrix_settings(&m, &o->settings);
	return ml_buf_steal(&m);
}

/* ---- a failing cell as the bad end ---------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The settings a cell ran with (cell.json inputs, docs/results.md). A
 * value the step matrix would refuse is left at its default. */
static void read_cell_settings(const json_t *in, struct ml_bisect_settings *s)
{
	const char *kb = ml_json_str(json_object_get(in, "kernel_boot"), "requested");
	const char *sev = ml_json_str(in, "abi_severity");
	long long v;

	memset(s, 0, sizeof(*s));
	v = ml_json_int(in, "memory_mib", 0);
	s->memory_mib = v >= 64 && v <= 65536 ? (int)v : 0;
	v = ml_json_int(in, "workload_mib", 0);
	s->workload_mib = v >= 1 && v <= 32768 ? (int)v : 0;
	v = ml_json_int(in, "max_bandwidth_mib", 0);
	s->max_bandwidth_mib = v >= 1 && v <= 1048576 ? (int)v : 0;
	if (kb && ml_bisect_set_kernel_boot(s, kb) < 0)
		ml_error_reset();
	if (sev && ml_bisect_set_abi_severity(s, sev) < 0)
		ml_error_reset();
	s->no_abi = !ml_json_bool(in, "abi", true);
	s->no_reboot = !ml_json_bool(in, "reboot", true);
}

int ml_bisect_read_cell(const char *run_dir, const char *cell_id, const char *good,
			struct ml_bisect_cell_inputs *out)
{
	struct ml_bisect_git_spec g = { 0 }, side = { 0 };
	ml_autofree char *cell_dir = NULL;
	ml_autofree char *path = NULL;
	json_t *doc = NULL, *in;
	const char *src, *dst, *bad = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (!ml_layout_valid_cell_id(cell_id)) {
		ml_error("'%s' is not a cell id", cell_id);
		return -1;
	}
	if (ml_bisect_parse_git_spec(good, &g) < 0)
		return ml_error_context("--good");
	cell_dir = ml_layout_cell_dir(run_dir, cell_id);
	path = ml_layout_file(cell_dir, ML_LAYOUT_CELL_FILE);
	doc = ml_json_load_file(path, CELL_JSON_LIMIT);
	if (!doc) {
		ml_error_context("cell %s of run %s", cell_id, run_dir);
		goto out;
	}
	in = json_object_get(doc, "inputs");
	src = ml_json_str(json_object_get(in, "src"), "provider");
	dst = ml_json_str(json_object_get(in, "dst"), "provider");
	if (!src || !dst || !ml_json_str(in, "kernel")) {
		ml_error("%s has no inputs.src, inputs.dst or inputs.kernel", path);
		goto out;
	}
	/* The bad end is the side built from good's checkout; the source when
	 * both are (a git build's own control has nothing to bisect against). */
	if (ml_bisect_parse_git_spec(src, &side) == 0 && same_dir(side.dir, g.dir)) {
		bad = src;
	} else {
		ml_bisect_git_spec_clear(&side);
		if (ml_bisect_parse_git_spec(dst, &side) == 0 && same_dir(side.dir, g.dir)) {
			bad = dst;
			out->step_is_dst = true;
		}
	}
	ml_error_reset();
	if (!bad) {
		ml_error("cell %s migrates %s -> %s: neither is a git: build of %s (--good's checkout)",
			 cell_id, src, dst, g.dir);
		goto out;
	}
	if (strcmp(src, dst) == 0) {
		ml_error("cell %s is a control (%s -> itself): bisect needs a cell between two builds",
			 cell_id, src);
		goto out;
	}
	out->bad = strdup(bad);
	out->against = strdup(out->step_is_dst ? src : dst);
	/* the concrete machine type the cell ran, else the one it asked for */
	out->machine = dup_or_null(ml_json_str(doc, "machine") ? ml_json_str(doc, "machine")
							       : ml_json_str(in, "machine"));
	out->kernel = strdup(ml_json_str(in, "kernel"));
	out->accel = dup_or_null(ml_json_str(in, "accel") ? ml_json_str(in, "accel") : ml_json_str(doc, "accel"));
	read_cell_settings(in, &out->settings);
	{
		json_t *extra = json_object_get(in, "extra_args");
		out->extra_args = json_array_size(json_object_get(extra, "src")) ||
				  json_array_size(json_object_get(extra, "dst"));
	}
	if (!out->machine) {
		ml_error("%s names no machine type", path);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		ml_bisect_cell_inputs_clear(out);
	json_decref(doc);
	ml_bisect_git_spec_clear(&g);
	ml_bisect_git_spec_clear(&side);
	return ret;
}

void ml_bisect_cell_inputs_clear(struct ml_bisect_cell_inputs *c)
{
	free(c->bad);
	free(c->against);
	free(c->machine);
	free(c->kernel);
	free(c->accel);
	memset(c, 0, sizeof(*c));
}

/* ---- reading a step's run ------------------------------------------------ */

/* A judged cell of the step's run, by its line in run.json. */
static json_t *load_cell(const char *run_dir, json_t *line)
{
	const char *id = ml_json_str(line, "cell_id");
	ml_autofree char *cdir = NULL;
	ml_autofree char *path = NULL;

	if (!id || !ml_layout_valid_cell_id(id))
		return NULL;
	cdir = ml_layout_cell_dir(run_dir, id);
	path = ml_layout_file(cdir, ML_LAYOUT_CELL_FILE);
	return ml_json_load_file(path, CELL_JSON_LIMIT);
}

void ml_bisect_read_step(const char *run_dir, json_t **control, json_t **pair)
{
	json_t *run = ml_run_file_load(run_dir), *line;
	size_t i;

	*control = *pair = NULL;
	json_array_foreach(json_object_get(run, "cells"), i, line) {
		json_t **slot = ml_json_bool(line, "control", false) ? control : pair;
		if (!*slot)
			*slot = load_cell(run_dir, line);
	}
	ml_error_reset();
	json_decref(run);
}

/* ---- the judgement of one step ------------------------------------------ */

const char *ml_bisect_mark_name(enum ml_bisect_mark m)
{
	return m == ML_BISECT_GOOD ? "good" : m == ML_BISECT_BAD ? "bad" : "skip";
}

const char *ml_bisect_cause_name(enum ml_bisect_cause c)
{
	static const char *const names[] = {
		[ML_BISECT_CAUSE_NONE] = NULL,
		[ML_BISECT_CAUSE_BUILD] = "build-failed",
		[ML_BISECT_CAUSE_LAB] = "lab-error",
		[ML_BISECT_CAUSE_INTERRUPTED] = "interrupted",
		[ML_BISECT_CAUSE_CONTROL] = "control-failed",
		[ML_BISECT_CAUSE_INTERMITTENT] = "intermittent",
		[ML_BISECT_CAUSE_NOT_APPLICABLE] = "not-applicable",
		[ML_BISECT_CAUSE_AGAINST] = "is-against",
	};
	return (size_t)c < ML_ARRAY_SIZE(names) ? names[c] : "unknown";
}

static void set_call(struct ml_bisect_call *out, enum ml_bisect_mark m, enum ml_bisect_cause c,
		     char *reason)
{
	out->mark = m;
	out->cause = c;
	out->reason = reason;
}

/* "category: reason" of a judged cell, made safe for one line. */
static char *cell_says(const json_t *cell)
{
	ml_autofree char *reason = ml_text_safe(ml_json_str(cell, "reason"), false);
	return ml_strdup_printf("%s: %s", ml_judgement_category(cell), reason);
}

void ml_bisect_judge_step(const json_t *control, const json_t *pair, struct ml_bisect_call *out)
{
	const char *cat;
	bool intermittent;
	ml_autofree char *says = NULL;

	if (!control || !pair) {
		set_call(out, ML_BISECT_SKIP, ML_BISECT_CAUSE_LAB,
			 ml_strdup_printf("the step's run has no judged %s cell", !control ? "control" : "pair"));
		return;
	}
	/* A build that fails migrating to itself says nothing about the pair. */
	cat = ml_judgement_category(control);
	if (strcmp(cat, "pass") != 0) {
		enum ml_bisect_cause c = strcmp(cat, "error") == 0  ? ML_BISECT_CAUSE_LAB
					 : strcmp(cat, "skip") == 0 ? ML_BISECT_CAUSE_NOT_APPLICABLE
								    : ML_BISECT_CAUSE_CONTROL;
		says = cell_says(control);
		set_call(out, ML_BISECT_SKIP, c,
			 ml_strdup_printf("control (the commit migrating to itself) did not pass: %s", says));
		return;
	}
	cat = ml_judgement_category(pair);
	says = cell_says(pair);
	intermittent = ml_str_eq(ml_json_str(json_object_get(pair, "repeat"), "kind"), "intermittent");
	if (strcmp(cat, "pass") == 0 || strcmp(cat, "xpass") == 0)
		set_call(out, ML_BISECT_GOOD, ML_BISECT_CAUSE_NONE, ml_strdup_printf("pair %s", says));
	else if (strcmp(cat, "fail") == 0 || (strcmp(cat, "xfail") == 0 && !intermittent))
		set_call(out, ML_BISECT_BAD, ML_BISECT_CAUSE_NONE, ml_strdup_printf("pair %s", says));
	else if (strcmp(cat, "skip") == 0)
		set_call(out, ML_BISECT_SKIP, ML_BISECT_CAUSE_NOT_APPLICABLE, ml_strdup_printf("pair %s", says));
	else if (strcmp(cat, "error") == 0)
		set_call(out, ML_BISECT_SKIP, ML_BISECT_CAUSE_LAB, ml_strdup_printf("pair %s", says));
	else if (strstr(cat, "unsound"))
		set_call(out, ML_BISECT_SKIP, ML_BISECT_CAUSE_CONTROL, ml_strdup_printf("pair %s", says));
	else /* intermittent, or an xfail that is */
		set_call(out, ML_BISECT_SKIP, ML_BISECT_CAUSE_INTERMITTENT,
			 ml_strdup_printf("pair fails only sometimes: %s", says));
}

void ml_bisect_call_clear(struct ml_bisect_call *c)
{
	free(c->reason);
	memset(c, 0, sizeof(*c));
}

void ml_bisect_outcome_clear(struct ml_bisect_outcome *o)
{
	ml_bisect_call_clear(&o->call);
	json_decref(o->build);
	free(o->run_id);
	free(o->run_dir);
	json_decref(o->control);
	json_decref(o->pair);
	memset(o, 0, sizeof(*o));
}

/* ---- bisect.json --------------------------------------------------------- */

/* The settings as bisect.json records them: only those that are set. */
static json_t *settings_json(const struct ml_bisect_settings *s)
{
	json_t *o = json_object();

	if (s->memory_mib)
		ml_json_set_int(o, "memory_mib", s->memory_mib);
	if (s->workload_mib)
		ml_json_set_int(o, "workload_mib", s->workload_mib);
	if (s->max_bandwidth_mib)
		ml_json_set_int(o, "max_bandwidth_mib", s->max_bandwidth_mib);
	if (*s->kernel_boot)
		ml_json_set_str(o, "kernel_boot", s->kernel_boot);
	if (*s->abi_severity)
		ml_json_set_str(o, "abi_severity", s->abi_severity);
	if (s->no_abi)
		ml_json_set(o, "abi", json_false());
	if (s->no_reboot)
		ml_json_set(o, "reboot", json_false());
	return o;
}

json_t *ml_bisect_doc_new(const char *id, const struct ml_bisect_options *o,
			  const struct ml_bisect_git_spec *git, const char *good_commit,
			  const char *bad_commit)
{
	json_t *doc = json_object(), *in = json_object();
	ml_autofree char *now = ml_timestamp_utc();

	ml_json_set_str(doc, "schema", ML_BISECT_SCHEMA);
	ml_json_set_str(doc, "id", id);
	ml_json_set_str(doc, "state", "running");
	ml_json_set_str(doc, "started_at", now);
	ml_json_set_str(doc, "miglab_version", MIGLAB_VERSION);
	ml_json_set_str(in, "good", o->good);
	ml_json_set_str(in, "bad", o->bad);
	ml_json_set_str(in, "good_commit", good_commit);
	ml_json_set_str(in, "bad_commit", bad_commit);
	ml_json_set_str(in, "repository", git->dir);
	ml_json_set_str(in, "patches", git->patches);
	ml_json_set_str(in, "against", o->against);
	ml_json_set_str(in, "machine", o->machine);
	ml_json_set_str(in, "kernel", o->kernel ? o->kernel : ML_BISECT_DEFAULT_KERNEL);
	ml_json_set_int(in, "repeat", o->repeat);
	ml_json_set_str(in, "accel", o->accel ? o->accel : "tcg");
	ml_json_set_str(in, "pair", o->step_is_dst ? "against -> commit" : "commit -> against");
	ml_json_set(in, "settings", settings_json(&o->settings));
	if (o->from_run) {
		ml_json_set_str(in, "from_run", o->from_run);
		ml_json_set_str(in, "from_cell", o->from_cell);
	}
	ml_json_set(doc, "inputs", in);
	ml_json_set(doc, "steps", json_array());
	ml_json_set(doc, "result", json_null());
	return doc;
}

/* What bisect.json keeps of a judged cell. */
static json_t *cell_brief(const json_t *cell)
{
	json_t *o;
	ml_autofree char *reason = NULL;

	if (!cell)
		return json_null();
	reason = ml_utf8_sanitize(ml_json_str(cell, "reason") ? ml_json_str(cell, "reason") : "");
	o = json_object();
	ml_json_set_str(o, "cell_id", ml_json_str(cell, "cell_id"));
	ml_json_set_str(o, "verdict", ml_json_str(cell, "verdict"));
	ml_json_set_str(o, "category", ml_judgement_category(cell));
	ml_json_set_str(o, "reason", reason);
	ml_json_set_str(o, "repeat", ml_json_str(json_object_get(cell, "repeat"), "text"));
	ml_json_set_str(o, "class", ml_json_str(json_object_get(cell, "failure"), "class"));
	return o;
}

void ml_bisect_doc_add_step(json_t *doc, const struct ml_bisect_step *s)
{
	json_t *steps = json_object_get(doc, "steps");
	json_t *st = json_object();

	ml_json_set_int(st, "step", (long long)json_array_size(steps) + 1);
	ml_json_set_str(st, "role", s->role);
	ml_json_set_str(st, "commit", s->commit);
	ml_json_set_str(st, "subject", s->subject);
	ml_json_set_str(st, "describe", s->describe);
	ml_json_set_str(st, "spec", s->spec);
	ml_json_set(st, "build", s->build ? json_incref(s->build) : json_null());
	ml_json_set_str(st, "run_id", s->run_id);
	ml_json_set_str(st, "run_dir", s->run_dir);
	ml_json_set(st, "control", cell_brief(s->control));
	ml_json_set(st, "pair", cell_brief(s->pair));
	ml_json_set_str(st, "judgement", ml_bisect_mark_name(s->call->mark));
	ml_json_set_str(st, "skip_cause", ml_bisect_cause_name(s->call->cause));
	ml_json_set_str(st, "reason", s->call->reason);
	ml_json_set_int(st, "wall_ms", s->wall_ms);
	json_array_append_new(steps, st);
}
