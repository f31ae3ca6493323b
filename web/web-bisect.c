/* The page of one bisect (`miglab bisect`, lab/bisect.h): its inputs, the
 * result, and every step with a link to the step's run page. Made from
 * bisect.json alone; everything in it that came from git or a cell is
 * escaped. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "web-internal.h"
#include "web.h"
#include "ml-common.h"

/* A judgement badge: good as a pass, bad as a fail, skip as a skip. */
static void wp_mark(struct web_page *p, const char *mark)
{
	const char *cls = ml_str_eq(mark, "good") ? "pass" : ml_str_eq(mark, "bad") ? "fail" : "skip";
	const char *text = ml_str_eq(mark, "good") ? "good" : ml_str_eq(mark, "bad") ? "bad" : "skip";

	wp_printf(p, "<span class=\"badge v-%s\">%s</span>", cls, text);
}

static void kv_row(struct web_page *p, const char *key, const char *value)
{
	if (!value)
		return;
	wp_printf(p, "<tr><th>%s</th><td>", key);
	wp_esc(p, value);
	wp_puts(p, "</td></tr>\n");
}

static void inputs_section(struct web_page *p, const json_t *in, const char *machine_used)
{
	wp_puts(p, "<section><h2>Inputs</h2>\n<table class=\"kv\">\n");
	kv_row(p, "good", ml_json_str(in, "good"));
	kv_row(p, "good commit", ml_json_str(in, "good_commit"));
	kv_row(p, "bad", ml_json_str(in, "bad"));
	kv_row(p, "bad commit", ml_json_str(in, "bad_commit"));
	kv_row(p, "against", ml_json_str(in, "against"));
	kv_row(p, "pair", ml_json_str(in, "pair"));
	kv_row(p, "machine", ml_json_str(in, "machine"));
	if (machine_used && !ml_str_eq(machine_used, ml_json_str(in, "machine")))
		kv_row(p, "machine used", machine_used);
	kv_row(p, "kernel", ml_json_str(in, "kernel"));
	kv_row(p, "accel", ml_json_str(in, "accel"));
	wp_printf(p, "<tr><th>repeat</th><td>%lld confirming attempt(s)</td></tr>\n",
		  ml_json_int(in, "repeat", 0));
	if (json_object_size(json_object_get(in, "settings"))) {
		wp_puts(p, "<tr><th>settings</th><td><code>");
		wp_json_value(p, json_object_get(in, "settings"));
		wp_puts(p, "</code></td></tr>\n");
	}
	if (ml_json_str(in, "from_run")) {
		wp_puts(p, "<tr><th>from cell</th><td>");
		wp_esc(p, ml_json_str(in, "from_run"));
		wp_puts(p, " / ");
		wp_esc(p, ml_json_str(in, "from_cell"));
		wp_puts(p, "</td></tr>\n");
	}
	wp_puts(p, "</table></section>\n");
}

static void result_section(struct web_page *p, const json_t *res)
{
	json_t *first = json_object_get(res, "first_bad"), *c, *f;
	size_t i;

	wp_puts(p, "<section id=\"result\"><h2>Result</h2>\n");
	if (!res || json_is_null(res)) {
		wp_puts(p, "<p class=\"dim\">Still running (or stopped before an end).</p></section>\n");
		return;
	}
	wp_puts(p, "<p class=\"big\">");
	wp_esc(p, ml_json_str(res, "message"));
	wp_puts(p, "</p>\n");
	if (first) {
		wp_puts(p, "<table class=\"kv\">\n");
		kv_row(p, "commit", ml_json_str(first, "commit"));
		kv_row(p, "subject", ml_json_str(first, "subject"));
		kv_row(p, "author", ml_json_str(first, "author"));
		kv_row(p, "date", ml_json_str(first, "date"));
		kv_row(p, "describe", ml_json_str(first, "describe"));
		wp_puts(p, "</table>\n");
		if (ml_json_str(first, "diffstat")) {
			wp_puts(p, "<h3>Files</h3>\n<pre>");
			wp_esc_cut(p, ml_json_str(first, "diffstat"), 64 << 10);
			wp_puts(p, "</pre>\n");
		} else if (json_array_size(json_object_get(first, "files"))) {
			wp_puts(p, "<h3>Files</h3>\n<p>");
			json_array_foreach(json_object_get(first, "files"), i, f) {
				wp_puts(p, i ? "<br>" : "");
				wp_esc(p, json_string_value(f));
			}
			wp_puts(p, "</p>\n");
		}
	}
	if (json_array_size(json_object_get(res, "candidates"))) {
		wp_puts(p, "<h3>Candidates</h3>\n<table class=\"list\"><thead><tr><th>commit</th>"
			   "<th>subject</th></tr></thead><tbody>\n");
		json_array_foreach(json_object_get(res, "candidates"), i, c) {
			wp_puts(p, "<tr><td><code>");
			wp_esc(p, ml_json_str(c, "commit"));
			wp_puts(p, "</code></td><td>");
			wp_esc(p, ml_json_str(c, "subject"));
			wp_puts(p, "</td></tr>\n");
		}
		wp_puts(p, "</tbody></table>\n");
	}
	if (ml_json_str(res, "reproduce")) {
		wp_puts(p, "<h3>Reproduce</h3>\n<pre class=\"cmd\">");
		wp_esc(p, ml_json_str(res, "reproduce"));
		wp_puts(p, "</pre>\n");
	}
	wp_puts(p, "</section>\n");
}

/* A link to the step's run page in the site (root: the site's root). */
static void run_link(struct web_page *p, const char *run_id, const char *root)
{
	ml_autofree char *file = NULL;
	ml_autofree char *rel = NULL;

	if (!run_id) {
		wp_puts(p, "<span class=\"dim\">not run</span>");
		return;
	}
	file = web_safe_name(run_id);
	rel = ml_strdup_printf("%s/index.html", file);
	wp_printf(p, "<a href=\"%s", root);
	wp_url(p, rel);
	wp_puts(p, "\">");
	wp_esc(p, run_id);
	wp_puts(p, "</a>");
}

/* The verdict of one of a step's cells, with its reason as a title. */
static void cell_cell(struct web_page *p, const json_t *cell)
{
	if (!cell || json_is_null(cell)) {
		wp_puts(p, "<td class=\"dim\">-</td>");
		return;
	}
	wp_puts(p, "<td title=\"");
	wp_esc_cut(p, ml_json_str(cell, "reason"), 300);
	wp_puts(p, "\">");
	wp_verdict(p, ml_json_str(cell, "category"));
	wp_puts(p, "</td>");
}

static void steps_section(struct web_page *p, const json_t *steps, const char *root)
{
	const json_t *s;
	size_t i;

	wp_printf(p, "<section id=\"steps\"><h2>Steps <span class=\"count\">%zu</span></h2>\n"
		     "<div class=\"scroll\"><table class=\"list\"><thead><tr><th>#</th><th>commit</th>"
		     "<th>subject</th><th>QEMU</th><th>control</th><th>pair</th><th>judgement</th>"
		     "<th>reason</th><th>wall</th><th>run</th></tr></thead><tbody>\n", json_array_size(steps));
	json_array_foreach(steps, i, s) {
		json_t *build = json_object_get(s, "build");
		wp_printf(p, "<tr><td class=\"num\">%lld</td><td><code title=\"", ml_json_int(s, "step", 0));
		wp_esc(p, ml_json_str(s, "commit"));
		wp_puts(p, "\">");
		wp_esc_cut(p, ml_json_str(s, "commit"), 12);
		wp_puts(p, "</code><br><span class=\"dim small\">");
		wp_esc(p, ml_json_str(s, "describe"));
		wp_puts(p, " ");
		wp_esc(p, ml_json_str(s, "role"));
		wp_puts(p, "</span></td><td>");
		wp_esc_cut(p, ml_json_str(s, "subject"), 200);
		wp_puts(p, "</td><td>");
		wp_esc(p, ml_json_str(build, "version"));
		wp_puts(p, "</td>");
		cell_cell(p, json_object_get(s, "control"));
		cell_cell(p, json_object_get(s, "pair"));
		wp_puts(p, "<td>");
		wp_mark(p, ml_json_str(s, "judgement"));
		if (ml_json_str(s, "skip_cause")) {
			wp_puts(p, " <span class=\"dim\">");
			wp_esc(p, ml_json_str(s, "skip_cause"));
			wp_puts(p, "</span>");
		}
		wp_puts(p, "</td><td class=\"reason\">");
		wp_esc_cut(p, ml_json_str(s, "reason"), 400);
		wp_puts(p, "</td><td>");
		wp_ms(p, ml_json_int(s, "wall_ms", -1));
		wp_puts(p, "</td><td>");
		run_link(p, ml_json_str(s, "run_id"), root);
		wp_puts(p, "</td></tr>\n");
	}
	wp_puts(p, "</tbody></table></div></section>\n");
}

int ml_web_bisect_page(const json_t *doc, const char *path, const char *root)
{
	struct web_page p;
	ml_autofree char *title = ml_strdup_printf("bisect %s", ml_json_str(doc, "id") ? ml_json_str(doc, "id") : "?");

	wp_init(&p);
	wp_head(&p, title, root);
	wp_printf(&p, "<nav class=\"crumbs\"><a href=\"%sindex.html\">runs</a> / bisect</nav>\n<h1>", root);
	wp_esc(&p, title);
	wp_puts(&p, "</h1>\n<p class=\"sub\">");
	wp_esc(&p, ml_json_str(doc, "state"));
	wp_puts(&p, " &middot; started ");
	wp_esc(&p, ml_json_str(doc, "started_at"));
	wp_printf(&p, " &middot; %zu steps &middot; ", json_array_size(json_object_get(doc, "steps")));
	wp_ms(&p, ml_json_int(doc, "wall_ms", -1));
	wp_puts(&p, "</p>\n");
	result_section(&p, json_object_get(doc, "result"));
	steps_section(&p, json_object_get(doc, "steps"), root);
	inputs_section(&p, json_object_get(doc, "inputs"), ml_json_str(doc, "machine_used"));
	wp_foot(&p, root);
	return wp_write(&p, path);
}

/* ---- the site's list of bisects ------------------------------------------ */

#define BISECT_JSON_LIMIT ((size_t)16 << 20)

static int cmp_name_desc(const void *a, const void *b)
{
	return strcmp(*(const char *const *)b, *(const char *const *)a);
}

/* The directory names under <results>/bisect holding a bisect.json, newest
 * first (ids start with their UTC time). */
static char **list_bisects(const char *bisect_dir, size_t *n)
{
	DIR *d = opendir(bisect_dir);
	struct dirent *e;
	char **names = NULL;
	size_t cap = 0;

	*n = 0;
	while (d && (e = readdir(d))) {
		ml_autofree char *json = NULL;
		if (e->d_name[0] == '.')
			continue;
		json = ml_strdup_printf("%s/%s/bisect.json", bisect_dir, e->d_name);
		if (!ml_path_exists(json))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[(*n)++] = strdup(e->d_name);
	}
	if (d)
		closedir(d);
	if (*n)
		qsort(names, *n, sizeof(*names), cmp_name_desc);
	return names;
}

/* One row of the index's table, the bisect's page written beside. */
static void bisect_row(struct web_page *p, const json_t *doc, const char *file)
{
	const json_t *res = json_object_get(doc, "result");
	const json_t *in = json_object_get(doc, "inputs");
	ml_autofree char *rel = ml_strdup_printf("bisect/%s.html", file);

	wp_puts(p, "<tr><td><a href=\"");
	wp_url(p, rel);
	wp_puts(p, "\">");
	wp_esc(p, ml_json_str(doc, "id"));
	wp_puts(p, "</a></td><td>");
	wp_esc(p, ml_json_str(doc, "started_at"));
	wp_puts(p, "</td><td>");
	wp_esc(p, ml_json_str(doc, "state"));
	wp_printf(p, "</td><td class=\"num\">%zu</td><td>", json_array_size(json_object_get(doc, "steps")));
	wp_esc(p, ml_json_str(in, "good"));
	wp_puts(p, " .. ");
	wp_esc(p, ml_json_str(in, "bad"));
	wp_puts(p, "<br><span class=\"dim small\">against ");
	wp_esc(p, ml_json_str(in, "against"));
	wp_puts(p, ", ");
	wp_esc(p, ml_json_str(in, "machine"));
	wp_puts(p, "</span></td><td class=\"reason\">");
	if (res && !json_is_null(res))
		wp_esc_cut(p, ml_json_str(res, "message"), 300);
	else
		wp_puts(p, "<span class=\"dim\">running</span>");
	wp_puts(p, "</td></tr>\n");
}

int web_bisects_section(struct web_page *p, const char *results_dir, const char *out)
{
	ml_autofree char *bisect_dir = results_dir ? ml_path_join(results_dir, "bisect") : NULL;
	ml_autofree char *pages = ml_path_join(out, "bisect");
	size_t n = 0;
	char **names = bisect_dir ? list_bisects(bisect_dir, &n) : NULL;
	int ret = 0;

	if (!n) {
		free(names);
		return 0;
	}
	if (ml_mkdir_p(pages, 0755) < 0) {
		ret = -1;
		goto out;
	}
	wp_printf(p, "<section id=\"bisects\"><h2>Bisects <span class=\"count\">%zu</span></h2>\n"
		     "<div class=\"scroll\"><table class=\"list\"><thead><tr><th>bisect</th><th>started</th>"
		     "<th>state</th><th>steps</th><th>range</th><th>result</th></tr></thead><tbody>\n", n);
	for (size_t i = 0; i < n; i++) {
		ml_autofree char *json = ml_strdup_printf("%s/%s/bisect.json", bisect_dir, names[i]);
		ml_autofree char *file = web_safe_name(names[i]);
		ml_autofree char *page = ml_strdup_printf("%s/%s.html", pages, file);
		json_t *doc = ml_json_load_file(json, BISECT_JSON_LIMIT);
		if (!doc || !json_is_object(doc)) {
			fprintf(stderr, "miglab: warning: skipping bisect %s: %s\n", names[i],
				doc ? "bisect.json is not an object" : ml_error_message());
			ml_error_reset();
			json_decref(doc);
			continue;
		}
		bisect_row(p, doc, file);
		if (ml_web_bisect_page(doc, page, "../") < 0) {
			json_decref(doc);
			ret = -1;
			goto out;
		}
		json_decref(doc);
	}
	wp_puts(p, "</tbody></table></div></section>\n");
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}
