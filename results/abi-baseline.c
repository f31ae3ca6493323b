/* ABI baselines: record a run's boot-src dumps, check a run against them
 * (abi-baseline.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "abi-baseline.h"
#include "export.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-layout.h"
#include "ml-json.h"
#include "ml-common.h"

#define BOOT_DUMP "abi-boot-src.json"

char *ml_abi_baseline_component(const char *s)
{
	char *o = strdup(s && *s ? s : "_");
	if (!o)
		abort();
	for (char *p = o; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._+~-", *p))
			*p = '_';
	if (o[0] == '.')
		o[0] = '_';
	return o;
}

const char *ml_abi_baseline_kernel_boot(const json_t *doc)
{
	const char *used = ml_json_str(json_object_get(json_object_get(doc, "inputs"), "kernel_boot"),
				       "used");
	return used && strcmp(used, "pvh") == 0 ? "pvh" : "bzimage";
}

/* "<v>/<m>/<k>.json", "<k>-pvh.json" for a PVH boot. */
static char *baseline_file(const char *version, const char *machine, const char *kernel_release,
			   const char *kernel_boot)
{
	ml_autofree char *v = ml_abi_baseline_component(version);
	ml_autofree char *m = ml_abi_baseline_component(machine);
	ml_autofree char *k = ml_abi_baseline_component(kernel_release);

	return ml_strdup_printf("%s/%s/%s%s.json", v, m, k,
				kernel_boot && strcmp(kernel_boot, "pvh") == 0 ? "-pvh" : "");
}

json_t *ml_abi_baseline_find(const char *dir, const char *version, const char *machine,
			     const char *kernel_release, const char *kernel_boot, char **file)
{
	ml_autofree char *rel = NULL, *path = NULL;

	if (file)
		*file = NULL;
	if (!dir || !version || !machine || !kernel_release)
		return NULL;
	rel = baseline_file(version, machine, kernel_release, kernel_boot);
	path = ml_path_join(dir, rel);
	if (!ml_path_exists(path))
		return NULL;
	if (file)
		*file = strdup(rel);
	return ml_abi_load(path);
}

/* The baseline key of a cell: its source build's version, the concrete
 * machine, the guest kernel release. */
struct cell_key {
	const char *cell_id, *version, *machine, *kernel, *kernel_boot, *provider;
	char *file; /* <version>/<machine>/<kernel>.json */
	char *dump; /* <run>/cells/<id>/abi-boot-src.json */
};

static void cell_key_clear(struct cell_key *k)
{
	free(k->file);
	free(k->dump);
}

/* 0: a key and a dump; 1: not applicable (reason set); */
static int cell_key_get(const char *run_dir, const json_t *cell, struct cell_key *k, const char **reason)
{
	const json_t *inputs = json_object_get(cell, "inputs");
	const json_t *src = json_object_get(inputs, "src");

	memset(k, 0, sizeof(*k));
	k->cell_id = ml_json_str(cell, "cell_id");
	k->version = ml_json_str(src, "version");
	k->provider = ml_json_str(src, "provider");
	k->machine = ml_json_str(cell, "machine");
	k->kernel = ml_json_str(json_object_get(inputs, "guest"), "kernel_release");
	k->kernel_boot = ml_abi_baseline_kernel_boot(cell);
	if (!ml_layout_valid_cell_id(k->cell_id)) {
		*reason = "cell.json has no valid cell_id";
		return 1;
	}
	{
		/* In the attempt the judgement is shown by (ml-layout.h). */
		ml_autofree char *cdir = ml_layout_cell_dir(run_dir, k->cell_id);
		ml_autofree char *edir = ml_layout_evidence_dir(cdir, cell);
		k->dump = ml_path_join(edir, BOOT_DUMP);
	}
	if (!ml_path_exists(k->dump)) {
		*reason = "no " BOOT_DUMP;
		return 1;
	}
	if (!k->version || !k->machine || !k->kernel) {
		*reason = !k->version ? "cell.json has no inputs.src.version"
			  : !k->machine ? "cell.json has no concrete machine"
					: "cell.json has no inputs.guest.kernel_release";
		return 1;
	}
	k->file = baseline_file(k->version, k->machine, k->kernel, k->kernel_boot);
	return 0;
}

static json_t *key_object(const struct cell_key *k)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "qemu_version", k->version, "machine", k->machine,
			 "kernel_release", k->kernel, "kernel_boot", k->kernel_boot, "file", k->file);
}

static json_t *load_index(const char *path)
{
	json_t *idx;
	if (!ml_path_exists(path))
		return json_pack("{s:s, s:[]}", "schema", ML_ABI_BASELINE_INDEX_SCHEMA, "baselines");
	idx = ml_json_load_file(path, 16 << 20);
	if (!idx)
		return NULL;
	if (!json_is_object(idx) || !ml_json_str(idx, "schema") ||
	    strcmp(ml_json_str(idx, "schema"), ML_ABI_BASELINE_INDEX_SCHEMA) != 0 ||
	    !json_is_array(json_object_get(idx, "baselines"))) {
		ml_error("%s: not a baseline index (schema %s)", path, ML_ABI_BASELINE_INDEX_SCHEMA);
		json_decref(idx);
		return NULL;
	}
	return idx;
}

static int cmp_entry_file(const void *x, const void *y)
{
	const char *a = ml_json_str(*(json_t *const *)x, "file"), *b = ml_json_str(*(json_t *const *)y, "file");
	return strcmp(a ? a : "", b ? b : "");
}

/* Replace or add entry (by "file") and keep the list sorted. */
static void index_put(json_t *idx, json_t *entry)
{
	json_t *list = json_object_get(idx, "baselines"), *e, *sorted;
	size_t i, n;
	json_t **v;

	json_array_foreach(list, i, e) {
		if (json_equal(json_object_get(e, "file"), json_object_get(entry, "file"))) {
			json_array_set_new(list, i, entry);
			entry = NULL;
			break;
		}
	}
	if (entry)
		json_array_append_new(list, entry);
	n = json_array_size(list);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		abort();
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(list, i));
	qsort(v, n, sizeof(*v), cmp_entry_file);
	sorted = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(sorted, v[i]);
	free(v);
	ml_json_set(idx, "baselines", sorted);
}

int ml_abi_baseline_record(const char *run_dir, const char *dir, const struct ml_abi_volatile *vol,
			   json_t **summary_out)
{
	json_auto_t *cells = ml_run_load_cells(run_dir);
	json_auto_t *seen = json_object(); /* file -> {dump, cell} */
	json_t *summary = json_pack("{s:[], s:[], s:[], s:[]}", "recorded", "skipped", "conflicts", "errors");
	ml_autofree char *index_path = ml_path_join(dir, "index.json");
	json_auto_t *idx = NULL;
	const char *file;
	json_t *cell, *s;
	size_t i;
	int rc = 0;

	*summary_out = summary;
	if (!ml_is_dir(run_dir)) {
		ml_error("%s is not a run directory", run_dir);
		return -1;
	}
	if (ml_mkdir_p(dir, 0755) < 0 || !(idx = load_index(index_path)))
		return ml_error_context("cannot record baselines in %s", dir);
	json_array_foreach(cells, i, cell) {
		struct cell_key k;
		const char *reason = NULL;
		json_t *dump, *red, *prev;

		if (cell_key_get(run_dir, cell, &k, &reason) != 0) {
			json_array_append_new(json_object_get(summary, "skipped"),
					      json_pack("{s:s, s:s}", "cell", k.cell_id, "reason", reason));
			cell_key_clear(&k);
			continue;
		}
		dump = ml_abi_load(k.dump);
		if (!dump) {
			json_array_append_new(json_object_get(summary, "errors"),
					      json_pack("{s:s, s:s}", "cell", k.cell_id, "error", ml_error_message()));
			rc = -1;
			cell_key_clear(&k);
			continue;
		}
		red = ml_abi_redact(dump, vol);
		json_decref(dump);
		prev = json_object_get(seen, k.file);
		if (prev) {
			/* two cells of one key: the first (by cell id) is recorded */
			if (!json_equal(json_object_get(prev, "dump"), red)) {
				struct ml_abi_diff d;
				size_t nd = 0;
				if (ml_abi_diff_dumps(json_object_get(prev, "dump"), red, vol, NULL, &d) == 0) {
					nd = d.n;
					ml_abi_diff_clear(&d);
				}
				json_array_append_new(json_object_get(summary, "conflicts"),
						      json_pack("{s:s, s:[s,s], s:I}", "file", k.file, "cells",
								ml_json_str(prev, "cell"), k.cell_id, "differences",
								(json_int_t)nd));
			}
			json_decref(red);
			cell_key_clear(&k);
			continue;
		}
		json_object_set_new(seen, k.file, json_pack("{s:o, s:s, s:o}", "dump", red, "cell", k.cell_id,
							     "entry", key_object(&k)));
		if (k.provider)
			ml_json_set_str(json_object_get(json_object_get(seen, k.file), "entry"), "provider", k.provider);
		cell_key_clear(&k);
	}
	json_object_foreach(seen, file, s) {
		ml_autofree char *path = ml_path_join(dir, file);
		ml_autofree char *parent = strdup(path);
		json_t *entry = json_deep_copy(json_object_get(s, "entry"));
		char sha[65];

		*strrchr(parent, '/') = '\0';
		if (ml_mkdir_p(parent, 0755) < 0 || ml_json_write_file(path, json_object_get(s, "dump")) < 0 ||
		    ml_sha256_file(path, sha) < 0) {
			json_array_append_new(json_object_get(summary, "errors"),
					      json_pack("{s:s, s:s}", "cell", ml_json_str(s, "cell"), "error",
							ml_error_message()));
			json_decref(entry);
			rc = -1;
			continue;
		}
		ml_json_set_str(entry, "sha256", sha);
		index_put(idx, entry);
		{
			json_t *rec = json_deep_copy(json_object_get(s, "entry"));
			ml_json_set_str(rec, "cell", ml_json_str(s, "cell"));
			json_array_append_new(json_object_get(summary, "recorded"), rec);
		}
	}
	if (ml_json_write_file(index_path, idx) < 0)
		rc = -1;
	return rc;
}

/* One outcome of a key: the cells that share it. */
static json_t *find_outcome(json_t *results, const char *file, const char *status, const json_t *diffs,
			    const char *err)
{
	size_t i;
	json_t *r;
	json_array_foreach(results, i, r) {
		const char *e = ml_json_str(r, "error");
		if (strcmp(ml_json_str(r, "file"), file) == 0 && strcmp(ml_json_str(r, "status"), status) == 0 &&
		    json_equal(json_object_get(r, "differences"), diffs) &&
		    ((!e && !err) || (e && err && strcmp(e, err) == 0)))
			return r;
	}
	return NULL;
}

static void count(json_t *report, const char *status)
{
	json_t *counts = json_object_get(report, "counts");
	ml_json_set_int(counts, status, ml_json_int(counts, status, 0) + 1);
}

int ml_abi_baseline_check(const char *run_dir, const char *dir, const struct ml_abi_volatile *vol,
			  const struct ml_abi_diff_options *o, json_t **report_out)
{
	json_auto_t *cells = ml_run_load_cells(run_dir);
	json_t *report = json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i}, s:[]}", "schema",
				   ML_ABI_BASELINE_CHECK_SCHEMA, "run", run_dir, "baselines", dir, "counts",
				   "changed", 0, "unchanged", 0, "no-baseline", 0, "error", 0, "results");
	json_t *results = json_object_get(report, "results"), *cell;
	size_t i;
	bool changed = false, error = false;

	*report_out = report;
	if (!ml_is_dir(run_dir)) {
		ml_error("%s is not a run directory", run_dir);
		return -1;
	}
	if (!ml_is_dir(dir)) {
		ml_error("%s is not a baseline directory (record one with `miglab baseline record`)", dir);
		return -1;
	}
	json_array_foreach(cells, i, cell) {
		struct cell_key k;
		const char *reason = NULL, *status;
		ml_autofree char *bpath = NULL;
		json_auto_t *diffs = json_null();
		ml_autofree char *err = NULL;
		json_t *r;

		if (cell_key_get(run_dir, cell, &k, &reason) != 0) {
			cell_key_clear(&k);
			continue;
		}
		bpath = ml_path_join(dir, k.file);
		if (!ml_path_exists(bpath)) {
			status = "no-baseline";
		} else {
			json_auto_t *base = ml_abi_load(bpath);
			json_auto_t *dump = base ? ml_abi_load(k.dump) : NULL;
			struct ml_abi_diff d;

			if (!dump || ml_abi_diff_dumps(base, dump, vol, o, &d) < 0) {
				status = "error";
				err = strdup(ml_error_message());
				error = true;
			} else {
				status = d.n ? "changed" : "unchanged";
				changed |= d.n > 0;
				json_decref(diffs);
				diffs = ml_abi_diff_to_json(&d);
				ml_abi_diff_clear(&d);
			}
		}
		r = find_outcome(results, k.file, status, diffs, err);
		if (!r) {
			r = key_object(&k);
			ml_json_set_str(r, "status", status);
			ml_json_set(r, "cells", json_array());
			ml_json_set(r, "differences", json_incref(diffs));
			ml_json_set_str(r, "error", err);
			json_array_append_new(results, r);
			count(report, status);
		}
		json_array_append_new(json_object_get(r, "cells"), json_string(k.cell_id));
		cell_key_clear(&k);
	}
	if (error)
		return -1;
	return changed ? 1 : 0;
}

char *ml_abi_baseline_check_text(const json_t *report)
{
	struct ml_buf b = ML_BUF_INIT(0);
	const json_t *counts = json_object_get(report, "counts"), *r, *c;
	size_t i, k;

	json_array_foreach(json_object_get(report, "results"), i, r) {
		const char *status = ml_json_str(r, "status");
		const json_t *diffs = json_object_get(r, "differences");
		ml_buf_printf(&b, "%-12s qemu %s, %s, kernel %s", strcmp(status, "no-baseline") == 0 ? "no baseline" : status,
			      ml_json_str(r, "qemu_version"), ml_json_str(r, "machine"),
			      ml_json_str(r, "kernel_release"));
		if (json_array_size(diffs))
			ml_buf_printf(&b, ": %zu difference%s", json_array_size(diffs),
				      json_array_size(diffs) == 1 ? "" : "s");
		if (ml_json_str(r, "error"))
			ml_buf_printf(&b, ": %s", ml_json_str(r, "error"));
		ml_buf_puts(&b, "\n             cells:");
		json_array_foreach(json_object_get(r, "cells"), k, c)
			ml_buf_printf(&b, " %s", json_string_value(c));
		ml_buf_puts(&b, "\n");
		if (json_array_size(diffs)) {
			ml_autofree char *text = ml_abi_diff_json_to_text(diffs);
			const char *s = text;
			while (*s) {
				const char *nl = strchr(s, '\n');
				size_t n = nl ? (size_t)(nl - s) : strlen(s);
				ml_buf_printf(&b, "    %.*s\n", (int)n, s);
				s += n + (nl ? 1 : 0);
			}
		}
	}
	ml_buf_printf(&b, "%lld changed, %lld unchanged, %lld without a baseline, %lld errors\n",
		      ml_json_int(counts, "changed", 0), ml_json_int(counts, "unchanged", 0),
		      ml_json_int(counts, "no-baseline", 0), ml_json_int(counts, "error", 0));
	return ml_buf_steal(&b);
}
