/* JUnit and TAP exports of a run (see export.h). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "ml-common.h"

static int cmp_cell_id(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *ix = ml_json_str(x, "cell_id"), *iy = ml_json_str(y, "cell_id");
	return strcmp(ix ? ix : "", iy ? iy : "");
}

/* The cell documents of a run. A cell.json whose cell_id is not a valid
 * cell id, or is not the name of the directory it is in, is skipped with a
 * warning, or (strict) is an error naming the file and the id. */
static int load_cells(const char *run_dir, bool strict, json_t **out)
{
	ml_autofree char *cells_dir = ml_path_join(run_dir, ML_LAYOUT_CELLS_DIR);
	json_t *arr = json_array();
	json_t **items = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d = opendir(cells_dir);
	int rc = 0;

	*out = arr;
	if (!d)
		return 0; /* a run with no cell yet */
	while ((e = readdir(d))) {
		ml_autofree char *path = NULL;
		const char *id;
		json_t *c;
		if (e->d_name[0] == '.')
			continue;
		path = ml_strdup_printf("%s/%s/" ML_LAYOUT_CELL_FILE, cells_dir, e->d_name);
		if (!ml_path_exists(path))
			continue;
		c = ml_json_load_file(path, 64 << 20);
		if (!c || !json_is_object(c) || !ml_json_str(c, "cell_id")) {
			fprintf(stderr, "miglab: warning: skipping unreadable %s: %s\n", path,
				c ? "not a cell" : ml_error_message());
			json_decref(c);
			continue;
		}
		id = ml_json_str(c, "cell_id");
		if (!ml_layout_valid_cell_id(id) || strcmp(id, e->d_name) != 0) {
			if (strict) {
				if (!ml_layout_valid_cell_id(id))
					ml_error("%s: cell_id '%.300s' is not a valid cell id", path, id);
				else
					ml_error("%s: cell_id '%s' is not its directory's name '%s'", path, id,
						 e->d_name);
				json_decref(c);
				rc = -1;
				break;
			}
			fprintf(stderr, "miglab: warning: skipping %s: cell_id '%.300s' is not %s\n", path, id,
				ml_layout_valid_cell_id(id) ? "its directory's name" : "a valid cell id");
			json_decref(c);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			items = realloc(items, cap * sizeof(*items));
			if (!items)
				abort();
		}
		items[n++] = c;
	}
	closedir(d);
	if (n)
		qsort(items, n, sizeof(*items), cmp_cell_id);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
	return rc;
}

json_t *ml_run_load_cells(const char *run_dir)
{
	json_t *arr;

	load_cells(run_dir, false, &arr);
	return arr;
}

int ml_run_load_cells_checked(const char *run_dir, json_t **cells)
{
	if (load_cells(run_dir, true, cells) < 0) {
		json_decref(*cells);
		*cells = NULL;
		return -1;
	}
	return 0;
}

json_t *ml_run_count_verdicts(json_t *cells)
{
	json_t *counts = json_object();
	size_t i;
	json_t *c;

	json_array_foreach(cells, i, c) {
		const char *v = ml_json_str(c, "verdict");
		if (!v)
			v = "error";
		ml_json_set_int(counts, v, ml_json_int(counts, v, 0) + 1);
	}
	return counts;
}

char *ml_xml_escape(const char *s)
{
	struct ml_buf b = ML_BUF_INIT(0);

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': ml_buf_puts(&b, "&amp;"); break;
		case '<': ml_buf_puts(&b, "&lt;"); break;
		case '>': ml_buf_puts(&b, "&gt;"); break;
		case '"': ml_buf_puts(&b, "&quot;"); break;
		case '\'': ml_buf_puts(&b, "&apos;"); break;
		default:
			if (*p < 0x20 && *p != '\t' && *p != '\n')
				ml_buf_puts(&b, "\xef\xbf\xbd"); /* U+FFFD */
			else
				ml_buf_append(&b, p, 1);
		}
	}
	return ml_buf_steal(&b);
}

/* "src-to-dst" classname groups cells by build pair in CI views. */
static char *junit_classname(json_t *c)
{
	json_t *in = json_object_get(c, "inputs");
	const char *src = ml_json_str(json_object_get(in, "src"), "provider");
	const char *dst = ml_json_str(json_object_get(in, "dst"), "provider");
	return ml_strdup_printf("miglab.%s.to.%s", src ? src : "?", dst ? dst : "?");
}

/* The machine-type ABI verdicts of the run as a testsuite of their own: they
 * stand beside the migration verdicts (a pair can migrate cleanly and still
 * break the machine type's ABI). */
static void junit_machine_abi(struct ml_buf *b, const char *rid, const json_t *entries)
{
	long long failures = 0, skipped = 0;
	const json_t *e;
	size_t i;

	json_array_foreach(entries, i, e) {
		failures += ml_str_eq(ml_json_str(e, "verdict"), "break");
		skipped += ml_str_eq(ml_json_str(e, "verdict"), "unknown");
	}
	ml_buf_printf(b, "<testsuite name=\"miglab machine-type ABI %s\" tests=\"%zu\" failures=\"%lld\" "
			 "errors=\"0\" skipped=\"%lld\">\n",
		      rid, json_array_size(entries), failures, skipped);
	json_array_foreach(entries, i, e) {
		const json_t *a = json_object_get(e, "a"), *bb = json_object_get(e, "b");
		ml_autofree char *cls = ml_strdup_printf("miglab.abi.%s.vs.%s", ml_json_str(a, "provider"),
							 ml_json_str(bb, "provider"));
		ml_autofree char *ecls = ml_xml_escape(cls);
		ml_autofree char *name = ml_xml_escape(ml_json_str(e, "machine"));
		ml_autofree char *text = ml_xml_escape(ml_json_str(e, "text"));
		ml_autofree char *summary = ml_xml_escape(ml_json_str(e, "summary"));
		const char *v = ml_json_str(e, "verdict") ? ml_json_str(e, "verdict") : "unknown";

		ml_buf_printf(b, "  <testcase classname=\"%s\" name=\"%s\">\n", ecls, name);
		if (ml_str_eq(v, "break"))
			ml_buf_printf(b, "    <failure type=\"machine-type-abi-break\" message=\"%s\">%s</failure>\n",
				      text, summary);
		else if (ml_str_eq(v, "unknown"))
			ml_buf_printf(b, "    <skipped message=\"%s\"/>\n", text);
		else
			ml_buf_printf(b, "    <system-out>%s: %s\n%s</system-out>\n", v, text, summary);
		ml_buf_puts(b, "  </testcase>\n");
	}
	ml_buf_puts(b, "</testsuite>\n");
}

int ml_export_junit(const char *run_dir, const char *run_id, json_t *cells, const json_t *machine_abi,
		    const char *path)
{
	struct ml_buf b = ML_BUF_INIT(0);
	json_t *counts = ml_run_count_verdicts(cells);
	long long failures = ml_json_int(counts, "fail", 0) + ml_json_int(counts, "xpass", 0);
	long long errors = ml_json_int(counts, "error", 0);
	long long skipped = ml_json_int(counts, "skip", 0) + ml_json_int(counts, "xfail", 0);
	ml_autofree char *rid = ml_xml_escape(run_id);
	size_t i;
	json_t *c;
	int ret;

	(void)run_dir;
	ml_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			  "<testsuites name=\"miglab\">\n"
			  "<testsuite name=\"miglab run %s\" tests=\"%zu\" failures=\"%lld\" "
			  "errors=\"%lld\" skipped=\"%lld\">\n",
		      rid, json_array_size(cells), failures, errors, skipped);
	{
		/* The judgements counted apart: a build failing its own control,
		 * intermittent failures (judge.h). */
		json_t *cats = json_object();
		const char *k;
		json_t *n;
		json_array_foreach(cells, i, c) {
			const char *cat = ml_json_str(c, "category") ? ml_json_str(c, "category")
				: ml_json_str(c, "verdict") ? ml_json_str(c, "verdict") : "error";
			ml_json_set_int(cats, cat, ml_json_int(cats, cat, 0) + 1);
		}
		ml_buf_puts(&b, "  <properties>\n");
		json_object_foreach(cats, k, n) {
			ml_autofree char *ek = ml_xml_escape(k);
			ml_buf_printf(&b, "    <property name=\"judgement.%s\" value=\"%lld\"/>\n", ek,
				      (long long)json_integer_value(n));
		}
		ml_buf_puts(&b, "  </properties>\n");
		json_decref(cats);
	}
	json_array_foreach(cells, i, c) {
		const char *v = ml_json_str(c, "verdict");
		json_t *failure = json_object_get(c, "failure");
		ml_autofree char *cls = junit_classname(c);
		ml_autofree char *ecls = ml_xml_escape(cls);
		ml_autofree char *name = ml_xml_escape(ml_json_str(c, "cell_id"));
		ml_autofree char *reason = ml_xml_escape(ml_json_str(c, "reason"));
		ml_autofree char *phase = ml_xml_escape(ml_json_str(failure, "phase"));
		ml_autofree char *evidence = ml_xml_escape(ml_json_str(failure, "evidence"));
		ml_autofree char *cat = ml_xml_escape(ml_json_str(c, "category") ? ml_json_str(c, "category") : v);
		ml_autofree char *unsound = ml_xml_escape(ml_json_str(json_object_get(c, "unsound"), "text"));
		ml_autofree char *cls_name = ml_xml_escape(ml_json_str(failure, "class") ? ml_json_str(failure, "class") : "-");

		if (!v)
			v = "error";
		ml_buf_printf(&b, "  <testcase classname=\"%s\" name=\"%s\" time=\"%.3f\">\n", ecls,
			      name, (double)ml_json_int(c, "wall_ms", 0) / 1000.0);
		if (strcmp(v, "fail") == 0 || strcmp(v, "xpass") == 0)
			ml_buf_printf(&b, "    <failure type=\"%s\" message=\"%s\">%s%sclass: %s\nphase: %s\n%s</failure>\n",
				      cat, reason, unsound, *unsound ? "\n" : "", cls_name, phase, evidence);
		else if (strcmp(v, "error") == 0)
			ml_buf_printf(&b, "    <error type=\"error\" message=\"%s\">phase: %s\n%s</error>\n",
				      reason, phase, evidence);
		else if (strcmp(v, "skip") == 0 || strcmp(v, "xfail") == 0)
			ml_buf_printf(&b, "    <skipped message=\"%s: %s\"/>\n", v, reason);
		ml_buf_puts(&b, "  </testcase>\n");
	}
	ml_buf_puts(&b, "</testsuite>\n");
	if (json_array_size(machine_abi))
		junit_machine_abi(&b, rid, machine_abi);
	ml_buf_puts(&b, "</testsuites>\n");
	json_decref(counts);
	ret = ml_write_atomic(path, b.data, b.len, 0644);
	ml_buf_free(&b);
	return ret;
}

/* One TAP diagnostic line per line of text, prefixed "# "; control
 * characters of the text (ml_text_safe) never reach the file. */
static void tap_comment(struct ml_buf *b, const char *label, const char *text)
{
	ml_autofree char *safe = NULL;
	const char *p;

	if (!text || !*text)
		return;
	safe = ml_text_safe(text, true);
	ml_buf_printf(b, "  # %s:\n", label);
	for (p = safe; *p;) {
		size_t n = strcspn(p, "\n");
		ml_buf_puts(b, "  #   ");
		ml_buf_append(b, p, n);
		ml_buf_puts(b, "\n");
		p += n;
		if (*p == '\n')
			p++;
	}
}

int ml_export_tap(json_t *cells, const char *path)
{
	struct ml_buf b = ML_BUF_INIT(0);
	size_t i;
	json_t *c;
	int ret;

	ml_buf_printf(&b, "TAP version 13\n1..%zu\n", json_array_size(cells));
	json_array_foreach(cells, i, c) {
		const char *v = ml_json_str(c, "verdict");
		const char *id = ml_json_str(c, "cell_id");
		const char *reason = ml_json_str(c, "reason");
		json_t *failure = json_object_get(c, "failure");
		bool ok;

		if (!v)
			v = "error";
		ok = strcmp(v, "pass") == 0 || strcmp(v, "skip") == 0 || strcmp(v, "xfail") == 0;
		ml_buf_printf(&b, "%s %zu - %s", ok ? "ok" : "not ok", i + 1, id);
		if (strcmp(v, "skip") == 0 || strcmp(v, "xfail") == 0) {
			/* One line: a reason cannot start a TAP line of its own. */
			ml_autofree char *one = ml_text_safe(reason, false);
			ml_buf_printf(&b, strcmp(v, "skip") == 0 ? " # SKIP %s" : " # TODO known issue: %s", one);
		}
		ml_buf_puts(&b, "\n");
		if (!ok) {
			ml_buf_printf(&b, "  # verdict: %s\n", v);
			if (ml_json_str(c, "category") && strcmp(ml_json_str(c, "category"), v) != 0)
				tap_comment(&b, "judgement", ml_json_str(c, "category"));
			tap_comment(&b, "build defect", ml_json_str(json_object_get(c, "unsound"), "text"));
			tap_comment(&b, "class", ml_json_str(failure, "class"));
			tap_comment(&b, "direction", ml_json_str(json_object_get(failure, "direction"), "text"));
			tap_comment(&b, "reason", reason);
			tap_comment(&b, "phase", ml_json_str(failure, "phase"));
			tap_comment(&b, "evidence", ml_json_str(failure, "evidence"));
		}
	}
	ret = ml_write_atomic(path, b.data, b.len, 0644);
	ml_buf_free(&b);
	return ret;
}
