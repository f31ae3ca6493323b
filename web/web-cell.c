/* The cell page of the dashboard: inputs with exact versions, the phases as
 * a timeline with their figures, the verdict and failure class with the
 * matched evidence, ABI and vmstate findings, the logs (capped tails embedded,
 * raw files linked relatively) and the commands that reproduce the cell. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "web-internal.h"
#include "web.h"
#include "ml-common.h"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *dup_cut(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	if (n <= max)
		return strdup(s);
	n = max;
	/* do not cut a UTF-8 sequence in half */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return ml_strdup_printf("%.*s...", (int)n, s);
}

static bool has_finding(json_t *doc, const char *kind, bool need_errors)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(doc, "findings"), i, f) {
		const char *k = ml_json_str(f, "kind");
		if (k && strcmp(k, kind) == 0 && (!need_errors || ml_json_int(f, "errors", 0) > 0))
			return true;
	}
	return false;
}

/* The worst severity rank (web_severity_rank) of the cell's findings of this
 * kind, -1 when it has none. */
static int finding_rank(json_t *doc, const char *kind)
{
	int worst = -1;
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(doc, "findings"), i, f) {
		const char *k = ml_json_str(f, "kind");
		int r = web_severity_rank(ml_json_str(f, "severity"));
		if (k && strcmp(k, kind) == 0 && r > worst)
			worst = r;
	}
	return worst;
}

/* failure.explained_by: one object (the first judges wrote one) or a list
 * (QEMU's own view and the machine-type ABI can both explain a failure). */
static void summary_explained(json_t *failure, struct web_cell *sum)
{
	json_t *e = json_object_get(failure, "explained_by"), *one;
	struct ml_buf b = ML_BUF_INIT(4096);
	size_t i, n = json_is_array(e) ? json_array_size(e) : json_is_object(e) ? 1 : 0;

	for (i = 0; i < n; i++) {
		one = json_is_array(e) ? json_array_get(e, i) : e;
		if (ml_json_str(one, "text")) {
			if (b.len)
				ml_buf_puts(&b, "; ");
			ml_buf_puts(&b, ml_json_str(one, "text"));
		}
		if (!sum->explained_mt && ml_json_str(one, "machine_abi"))
			sum->explained_mt = strdup(ml_json_str(one, "machine_abi"));
	}
	if (b.len)
		sum->explained = ml_buf_steal(&b);
	else
		ml_buf_free(&b);
}

int web_cell_summary(json_t *doc, const char *dir_name, struct web_cell *sum)
{
	json_t *abi = json_object_get(doc, "abi");
	json_t *mt = json_object_get(abi, "machine_type");
	json_t *in = json_object_get(doc, "inputs");
	json_t *failure = json_object_get(doc, "failure");
	const char *id = ml_json_str(doc, "cell_id");
	const char *machine = ml_json_str(doc, "machine");

	memset(sum, 0, sizeof(*sum));
	if (!id)
		id = dir_name;
	if (!machine)
		machine = ml_json_str(in, "machine");
	sum->id = strdup(id);
	sum->file = web_safe_name(id);
	/* The judgement's category refines the verdict (intermittent, unsound);
	 * results from before the judging stage have only the verdict. */
	sum->verdict = strdup(web_verdict(ml_json_str(doc, "category") ? ml_json_str(doc, "category")
								      : ml_json_str(doc, "verdict")));
	sum->unsound = dup_or_null(ml_json_str(json_object_get(doc, "unsound"), "text"));
	if (json_array_size(json_object_get(doc, "attempts")) > 1)
		sum->repeat = dup_or_null(ml_json_str(json_object_get(doc, "repeat"), "text"));
	sum->src = dup_or_null(ml_json_str(json_object_get(in, "src"), "provider"));
	sum->dst = dup_or_null(ml_json_str(json_object_get(in, "dst"), "provider"));
	sum->src_version = dup_or_null(ml_json_str(json_object_get(in, "src"), "version"));
	sum->dst_version = dup_or_null(ml_json_str(json_object_get(in, "dst"), "version"));
	sum->machine = strdup(machine ? machine : "?");
	sum->kernel = strdup(ml_json_str(in, "kernel") ? ml_json_str(in, "kernel") : "?");
	sum->cls = dup_or_null(ml_json_str(failure, "class"));
	sum->cls_title = dup_or_null(ml_json_str(failure, "title"));
	sum->reason = dup_cut(ml_json_str(doc, "reason"), 300);
	/* Cells judged with ABI severities carry "abi"; only error and fail
	 * mark the cell (info and warn are the machine type's, shown once per
	 * build pair). Older results: any abi-change finding, as before. */
	if (json_is_object(abi) && ml_json_str(abi, "severity")) {
		sum->abi_severity = strdup(web_severity(ml_json_str(abi, "severity")));
		sum->abi = web_severity_rank(sum->abi_severity) >= web_severity_rank("error");
	} else {
		sum->abi = has_finding(doc, "abi-change", false);
	}
	if (ml_json_str(mt, "verdict"))
		sum->mt_verdict = strdup(web_mt_verdict(ml_json_str(mt, "verdict")));
	sum->mt_id = dup_or_null(ml_json_str(mt, "id"));
	summary_explained(failure, sum);
	if (finding_rank(doc, "continuity") >= web_severity_rank("warn"))
		sum->notes |= WEB_NOTE_CONTINUITY;
	if (finding_rank(doc, "abi-crosscheck") >= web_severity_rank("warn"))
		sum->notes |= WEB_NOTE_CROSSCHECK;
	sum->vmstate = has_finding(doc, "vmstate", true);
	if (!sum->id || !sum->verdict || !sum->machine || !sum->kernel)
		abort();
	if (!sum->src)
		sum->src = strdup("?");
	if (!sum->dst)
		sum->dst = strdup("?");
	/* The attention list (docs/dashboard.md): a judgement that is not a
	 * pass, or a pass whose ABI is marked or with a finding that needs a
	 * reader; skips have their own list and unsound cells their build's line. */
	sum->attention = strcmp(sum->verdict, "skip") != 0 && !sum->unsound &&
			 (strcmp(sum->verdict, "pass") != 0 || sum->abi || sum->notes);
	return 0;
}

static void wp_row(struct web_page *p, const char *label, const char *value)
{
	wp_puts(p, "<tr><th>");
	wp_puts(p, label);
	wp_puts(p, "</th><td>");
	if (value)
		wp_esc(p, value);
	else
		wp_puts(p, "<span class=\"dim\">-</span>");
	wp_puts(p, "</td></tr>\n");
}

static void build_rows(struct web_page *p, const char *side, json_t *b)
{
	wp_printf(p, "<tr><th>%s build</th><td><code>", side);
	wp_esc(p, ml_json_str(b, "provider"));
	wp_puts(p, "</code> QEMU <strong>");
	wp_esc(p, ml_json_str(b, "version"));
	wp_puts(p, "</strong>");
	if (ml_json_str(b, "package_version")) {
		wp_puts(p, " (package <code>");
		wp_esc(p, ml_json_str(b, "package_version"));
		wp_puts(p, "</code>)");
	}
	wp_build_source(p, b);
	if (ml_json_str(b, "sha256")) {
		wp_puts(p, "<br><span class=\"dim small\">sha256 <code class=\"hash\">");
		wp_esc(p, ml_json_str(b, "sha256"));
		wp_puts(p, "</code></span>");
	}
	wp_puts(p, "</td></tr>\n");
}

static void inputs_section(struct web_page *p, json_t *doc)
{
	json_t *in = json_object_get(doc, "inputs");
	json_t *guest = json_object_get(in, "guest");
	json_t *extra = json_object_get(in, "extra_args");

	wp_puts(p, "<section><h2>Inputs</h2>\n<table class=\"kv\">\n");
	build_rows(p, "source", json_object_get(in, "src"));
	build_rows(p, "destination", json_object_get(in, "dst"));
	wp_row(p, "machine (asked)", ml_json_str(in, "machine"));
	wp_row(p, "machine (used)", ml_json_str(doc, "machine"));
	wp_puts(p, "<tr><th>guest kernel</th><td><code>");
	wp_esc(p, ml_json_str(in, "kernel"));
	wp_puts(p, "</code>");
	if (guest) {
		wp_puts(p, " release <strong>");
		wp_esc(p, ml_json_str(guest, "kernel_release"));
		wp_puts(p, "</strong> (package ");
		wp_esc(p, ml_json_str(guest, "kernel_package_version"));
		wp_puts(p, ")");
	}
	wp_puts(p, "</td></tr>\n");
	wp_row(p, "scenario", ml_json_str(in, "scenario"));
	wp_puts(p, "<tr><th>accelerator</th><td>");
	wp_esc(p, ml_json_str(doc, "accel") ? ml_json_str(doc, "accel") : ml_json_str(in, "accel"));
	if (ml_json_str(doc, "accel_actual")) {
		wp_puts(p, " (QEMU reports ");
		wp_esc(p, ml_json_str(doc, "accel_actual"));
		wp_puts(p, ")");
	}
	wp_puts(p, "</td></tr>\n");
	wp_printf(p, "<tr><th>memory</th><td>%lld MiB (workload %lld MiB)</td></tr>\n",
		  ml_json_int(in, "memory_mib", 0), ml_json_int(in, "workload_mib", 0));
	wp_row(p, "runner", ml_json_str(in, "runner"));
	if (json_object_get(in, "kernel_boot")) {
		const json_t *kb = json_object_get(in, "kernel_boot");
		wp_puts(p, "<tr><th>kernel boot</th><td>");
		wp_esc(p, ml_json_str(kb, "used") ? ml_json_str(kb, "used") : "none");
		wp_puts(p, " (asked: ");
		wp_esc(p, ml_json_str(kb, "requested") ? ml_json_str(kb, "requested") : "?");
		if (ml_json_str(kb, "why") || ml_json_str(kb, "error")) {
			wp_puts(p, "; ");
			wp_esc(p, ml_json_str(kb, "why") ? ml_json_str(kb, "why") : ml_json_str(kb, "error"));
		}
		wp_puts(p, ")</td></tr>\n");
	}
	for (int k = 0; k < 2; k++) {
		json_t *a = json_object_get(extra, k ? "dst" : "src");
		if (json_array_size(a) == 0)
			continue;
		wp_printf(p, "<tr><th>extra %s args</th><td>", k ? "dst" : "src");
		wp_json_value(p, a);
		wp_puts(p, "</td></tr>\n");
	}
	wp_row(p, "started", ml_json_str(doc, "started_at"));
	wp_puts(p, "<tr><th>wall time</th><td>");
	wp_ms(p, ml_json_int(doc, "wall_ms", -1));
	wp_puts(p, "</td></tr>\n");
	for (int k = 0; k < 3; k++) {
		static const char *const keys[] = { "exit_src", "exit_dst", "exit_back" };
		if (ml_json_str(doc, keys[k]))
			wp_row(p, keys[k], ml_json_str(doc, keys[k]));
	}
	wp_puts(p, "</table></section>\n");
}

static bool is_bytes_figure(const char *k)
{
	return strstr(k, "bytes") || strcmp(k, "ram-transferred") == 0 || strcmp(k, "ram-total") == 0;
}

static void phases_section(struct web_page *p, json_t *doc)
{
	json_t *phases = json_object_get(doc, "phases");
	long long total = 1;
	size_t i, n = json_array_size(phases);
	json_t *ph;

	wp_puts(p, "<section><h2>Phases</h2>\n");
	if (!n) {
		wp_puts(p, "<p class=\"dim\">No phase recorded.</p></section>\n");
		return;
	}
	json_array_foreach(phases, i, ph) {
		long long end = ml_json_int(ph, "start_ms", 0) + ml_json_int(ph, "duration_ms", 0);
		if (end > total)
			total = end;
	}
	/* The timeline: one bar per phase on a common time axis. */
	wp_printf(p, "<svg class=\"timeline\" viewBox=\"0 0 1000 %zu\" role=\"img\" "
		     "aria-label=\"phase timeline\">\n", n * 22 + 4);
	json_array_foreach(phases, i, ph) {
		long long s = ml_json_int(ph, "start_ms", 0), d = ml_json_int(ph, "duration_ms", 0);
		double x = 1000.0 * (double)(s < 0 ? 0 : s) / (double)total;
		double w = 1000.0 * (double)(d < 0 ? 0 : d) / (double)total;
		const char *st = ml_json_str(ph, "status");
		const char *cls = st && (strcmp(st, "pass") == 0 || strcmp(st, "fail") == 0 ||
					 strcmp(st, "skip") == 0) ? st : "error";
		if (w < 2)
			w = 2;
		wp_printf(p, "<g><title>");
		wp_esc(p, ml_json_str(ph, "name"));
		wp_printf(p, ": %lld ms from %lld ms</title><rect class=\"ph-%s\" x=\"%.1f\" y=\"%zu\" "
			     "width=\"%.1f\" height=\"18\"/>", d, s, cls, x, i * 22 + 2, w);
		/* the label beside the bar, on the side with room */
		if (x + w < 600)
			wp_printf(p, "<text x=\"%.1f\" y=\"%zu\">", x + w + 6, i * 22 + 15);
		else if (x > 250)
			wp_printf(p, "<text x=\"%.1f\" y=\"%zu\" text-anchor=\"end\">", x - 6, i * 22 + 15);
		else
			wp_printf(p, "<text class=\"in\" x=\"%.1f\" y=\"%zu\">", x + 6, i * 22 + 15);
		wp_esc(p, ml_json_str(ph, "name"));
		wp_puts(p, " ");
		wp_ms(p, d);
		wp_puts(p, "</text></g>\n");
	}
	wp_puts(p, "</svg>\n<div class=\"scroll\"><table class=\"phases\">\n<thead><tr><th>phase</th>"
		   "<th>status</th><th>start</th><th>duration</th><th>figures</th></tr></thead>\n<tbody>\n");
	json_array_foreach(phases, i, ph) {
		json_t *figs = json_object_get(ph, "figures");
		const char *key;
		json_t *v;
		const char *st = ml_json_str(ph, "status");

		wp_puts(p, "<tr><td><strong>");
		wp_esc(p, ml_json_str(ph, "name"));
		wp_puts(p, "</strong></td><td>");
		wp_verdict(p, st && strcmp(st, "pass") && strcmp(st, "fail") && strcmp(st, "skip") ? "error" : st);
		wp_puts(p, "</td><td>");
		wp_ms(p, ml_json_int(ph, "start_ms", -1));
		wp_puts(p, "</td><td>");
		wp_ms(p, ml_json_int(ph, "duration_ms", -1));
		wp_puts(p, "</td><td>");
		if (json_object_size(figs)) {
			wp_puts(p, "<dl class=\"figs\">");
			json_object_foreach(figs, key, v) {
				wp_puts(p, "<div><dt>");
				wp_esc(p, key);
				wp_puts(p, "</dt><dd>");
				wp_json_value(p, v);
				if (json_is_integer(v) && is_bytes_figure(key) && json_integer_value(v) >= 1048576)
					wp_printf(p, " <span class=\"dim\">(%.1f MiB)</span>",
						  (double)json_integer_value(v) / 1048576.0);
				wp_puts(p, "</dd></div>");
			}
			wp_puts(p, "</dl>");
		}
		if (ml_json_str(ph, "error")) {
			wp_puts(p, "<pre class=\"evidence\">");
			wp_esc(p, ml_json_str(ph, "error"));
			wp_puts(p, "</pre>");
		}
		wp_puts(p, "</td></tr>\n");
	}
	wp_puts(p, "</tbody></table></div></section>\n");
}

static void history_link(struct web_page *p, const char *label, const struct web_history_ref *h)
{
	wp_puts(p, "<tr><th>");
	wp_puts(p, label);
	wp_puts(p, "</th><td>");
	if (h->run_id) {
		wp_puts(p, "<a href=\"../../");
		wp_url(p, h->run_file);
		wp_puts(p, "/index.html\">");
		wp_esc(p, h->run_id);
		wp_puts(p, "</a>");
	} else {
		wp_puts(p, "<span class=\"dim\">none in the history</span>");
	}
	wp_puts(p, "</td></tr>\n");
}

/* Every attempt of the cell: what each saw; the page shows the first failing one. */
static void attempts_table(struct web_page *p, json_t *doc)
{
	json_t *attempts = json_object_get(doc, "attempts"), *a;
	size_t i;

	if (json_array_size(attempts) < 2)
		return;
	wp_puts(p, "<h3>Attempts</h3>\n<p>");
	wp_esc(p, ml_json_str(json_object_get(doc, "repeat"), "text"));
	wp_puts(p, "; the logs below are those of ");
	wp_esc(p, ml_json_str(doc, "evidence_dir"));
	wp_puts(p, ".</p>\n<div class=\"scroll\"><table class=\"list\" id=\"attempts\"><thead><tr>"
		   "<th>#</th><th>verdict</th><th>class</th><th>capture</th><th>reason</th></tr></thead><tbody>\n");
	json_array_foreach(attempts, i, a) {
		wp_printf(p, "<tr><td>%lld</td><td>", ml_json_int(a, "attempt", 0));
		wp_verdict(p, ml_json_str(a, "verdict"));
		wp_puts(p, "</td><td><code>");
		wp_esc(p, ml_json_str(a, "class"));
		wp_printf(p, "</code></td><td>%s</td><td class=\"reason\">",
			  ml_json_bool(a, "lossless_capture", false) ? "lossless" : "best-effort");
		wp_esc(p, ml_json_str(a, "reason"));
		wp_puts(p, "</td></tr>\n");
	}
	wp_puts(p, "</tbody></table></div>\n");
}

/* A link to the run page's row of a machine_abi entry. */
static void wp_mt_link(struct web_page *p, const char *id, const char *label)
{
	ml_autofree char *anchor = web_mt_anchor(id);

	wp_puts(p, "<a href=\"../index.html#");
	wp_esc(p, anchor);
	wp_puts(p, "\">");
	wp_esc(p, label);
	wp_puts(p, "</a>");
}

/* failure.explained_by: one object or a list of them (docs/results.md). */
static void explained_rows(struct web_page *p, json_t *e)
{
	size_t n = json_is_array(e) ? json_array_size(e) : json_is_object(e) ? 1 : 0;

	for (size_t i = 0; i < n; i++) {
		json_t *one = json_is_array(e) ? json_array_get(e, i) : e;
		wp_puts(p, "<tr><th>explained by</th><td class=\"explained-by\">");
		wp_esc(p, ml_json_str(one, "text"));
		if (ml_json_str(one, "machine_abi")) {
			wp_puts(p, " (");
			wp_mt_link(p, ml_json_str(one, "machine_abi"), "the machine type's ABI on the run page");
			wp_puts(p, ")");
		}
		wp_puts(p, "</td></tr>\n");
	}
}

/* The cell's ABI severity and its machine type's verdict, beside the
 * migration verdict (cell.json "abi"; absent in older results). */
static void machine_type_line(struct web_page *p, const struct web_cell_ctx *ctx, json_t *doc,
			      const struct web_cell *sum)
{
	json_t *entry = ctx->run ? web_run_machine_abi(ctx->run, sum->mt_id) : NULL;

	if (!sum->abi_severity && !sum->mt_verdict)
		return;
	wp_puts(p, "<table class=\"kv\" id=\"abi-judgement\">\n");
	if (sum->abi_severity) {
		wp_puts(p, "<tr><th>ABI of this cell</th><td>");
		wp_severity(p, sum->abi_severity, NULL);
		wp_puts(p, " <span class=\"dim\">the worst of its ABI findings</span></td></tr>\n");
	}
	if (sum->mt_verdict) {
		const char *sev = ml_json_str(json_object_get(json_object_get(doc, "abi"), "machine_type"), "severity");
		wp_printf(p, "<tr><th>machine-type ABI</th><td id=\"machine-type\"><span class=\"badge mt-%s\">%s</span> ",
			  sum->mt_verdict, sum->mt_verdict);
		if (sev) {
			wp_severity(p, sev, NULL);
			wp_puts(p, " ");
		}
		if (entry && ml_json_str(entry, "text")) {
			wp_esc(p, ml_json_str(entry, "text"));
			wp_puts(p, " ");
		}
		if (sum->mt_id) {
			wp_puts(p, "(");
			wp_mt_link(p, sum->mt_id, entry ? "on the run page" : sum->mt_id);
			wp_puts(p, ")");
		}
		wp_puts(p, "</td></tr>\n");
	}
	wp_puts(p, "</table>\n");
}

static void verdict_section(struct web_page *p, const struct web_cell_ctx *ctx, json_t *doc,
			    const struct web_cell *sum)
{
	json_t *failure = json_object_get(doc, "failure");
	json_t *known = json_object_get(doc, "known_issue");

	wp_puts(p, "<section class=\"verdict\"><h2>Verdict</h2>\n<p class=\"big\">");
	wp_verdict(p, sum->verdict);
	wp_puts(p, " <span class=\"reason\">");
	wp_esc(p, ml_json_str(doc, "reason"));
	wp_puts(p, "</span></p>\n");
	if (failure) {
		wp_puts(p, "<table class=\"kv\">\n");
		if (ml_json_str(failure, "class")) {
			wp_puts(p, "<tr><th>failure class</th><td><code class=\"class\" id=\"failure-class\">");
			wp_esc(p, ml_json_str(failure, "class"));
			wp_puts(p, "</code> ");
			wp_esc(p, ml_json_str(failure, "title"));
			wp_puts(p, "</td></tr>\n");
		}
		wp_row(p, "phase", ml_json_str(failure, "phase"));
		if (json_object_get(failure, "direction")) {
			json_t *dir = json_object_get(failure, "direction");
			const char *fwd = ml_json_str(dir, "forward_cell");
			wp_puts(p, "<tr><th>failing migration</th><td id=\"direction\">");
			wp_esc(p, ml_json_str(dir, "text"));
			if (fwd) {
				ml_autofree char *file = web_safe_name(fwd);
				wp_puts(p, " (the migration back; <a href=\"");
				wp_url(p, file);
				wp_puts(p, ".html\">the cell where it is the forward migration</a>)");
			}
			wp_puts(p, "</td></tr>\n");
		}
		if (ml_json_str(failure, "device"))
			wp_row(p, "device", ml_json_str(failure, "device"));
		if (ml_json_str(failure, "field"))
			wp_row(p, "field", ml_json_str(failure, "field"));
		if (ml_json_str(failure, "matched")) {
			wp_puts(p, "<tr><th>matched</th><td><pre class=\"evidence\">");
			wp_esc(p, ml_json_str(failure, "matched"));
			wp_puts(p, "</pre></td></tr>\n");
		}
		if (ml_json_str(failure, "evidence")) {
			wp_puts(p, "<tr><th>evidence</th><td><pre class=\"evidence\" id=\"evidence\">");
			wp_esc(p, ml_json_str(failure, "evidence"));
			wp_puts(p, "</pre></td></tr>\n");
		}
		if (ml_json_str(failure, "stream"))
			wp_row(p, "stream", ml_json_str(failure, "stream"));
		explained_rows(p, json_object_get(failure, "explained_by"));
		wp_puts(p, "</table>\n");
	}
	machine_type_line(p, ctx, doc, sum);
	if (sum->unsound) {
		wp_puts(p, "<p class=\"unsound\" id=\"unsound\"><span class=\"badge v-source-unsound\">"
			   "build defect</span> ");
		wp_esc(p, sum->unsound);
		wp_puts(p, "</p>\n");
	}
	if (ml_json_str(json_object_get(doc, "control_hint"), "text")) {
		wp_puts(p, "<p class=\"dim\" id=\"control-hint\">");
		wp_esc(p, ml_json_str(json_object_get(doc, "control_hint"), "text"));
		wp_puts(p, "</p>\n");
	}
	attempts_table(p, doc);
	if (known) {
		const char *link = ml_json_str(known, "link");
		wp_puts(p, "<p>Known issue <code>");
		wp_esc(p, ml_json_str(known, "id"));
		wp_puts(p, "</code>: ");
		wp_esc(p, ml_json_str(known, "note"));
		if (link && (strncmp(link, "https://", 8) == 0 || strncmp(link, "http://", 7) == 0)) {
			wp_puts(p, " <a rel=\"noreferrer noopener\" href=\"");
			wp_esc(p, link);
			wp_puts(p, "\">");
			wp_esc(p, link);
			wp_puts(p, "</a>");
		}
		wp_puts(p, "</p>\n");
	}
	if (web_verdict_bad(sum->verdict) && ctx->run) {
		struct web_history_ref first_bad, last_good;
		web_history_lookup(ctx->run, sum->id, &first_bad, &last_good);
		wp_puts(p, "<table class=\"kv\">\n");
		history_link(p, "first bad", &first_bad);
		history_link(p, "last good", &last_good);
		wp_puts(p, "</table>\n");
	}
	wp_puts(p, "</section>\n");
}

/* What an abi-change finding was compared with (docs/results.md). */
static const char *against_words(const char *against)
{
	static const char *const words[][2] = {
		{ "boot-src", "the guest's boot on the source" },
		{ "reboot-dst", "the guest's reboot on the destination" },
		{ "destination-boot", "a fresh boot of the destination build" },
		{ "baseline", "the recorded baseline" },
	};

	for (size_t i = 0; against && i < ML_ARRAY_SIZE(words); i++)
		if (strcmp(against, words[i][0]) == 0)
			return words[i][1];
	return NULL;
}

static void abi_finding(struct web_page *p, json_t *f, bool expanded)
{
	json_t *diffs = json_object_get(f, "differences");
	json_t *kinds = json_object_get(f, "kinds");
	const char *against = ml_json_str(f, "against") ? ml_json_str(f, "against") : "boot-src";
	const char *kind;
	size_t i;
	json_t *d;

	wp_printf(p, "<details class=\"finding abi\"%s><summary><strong>", expanded ? " open" : "");
	wp_esc(p, ml_json_str(f, "phase"));
	wp_printf(p, "</strong>: %lld difference%s against <code>", ml_json_int(f, "count", 0),
		  ml_json_int(f, "count", 0) == 1 ? "" : "s");
	wp_esc(p, against);
	wp_puts(p, "</code> ");
	if (ml_json_str(f, "severity"))
		wp_severity(p, ml_json_str(f, "severity"), NULL);
	wp_puts(p, ", first: ");
	if (ml_json_str(f, "first_kind")) {
		wp_esc(p, ml_json_str(f, "first_kind"));
		wp_puts(p, " ");
	}
	wp_esc(p, ml_json_str(f, "first"));
	wp_puts(p, "</summary>\n");
	if (against_words(against)) {
		wp_puts(p, "<p class=\"against dim\">Compared with ");
		wp_puts(p, against_words(against));
		wp_puts(p, ".</p>\n");
	}
	if (json_object_size(kinds)) {
		json_t *k;
		wp_puts(p, "<p class=\"kinds\">");
		json_object_foreach(kinds, kind, k) {
			ml_autofree char *label = ml_strdup_printf("%s %lld %s", kind, ml_json_int(k, "count", 0),
								   web_severity(ml_json_str(k, "severity")));
			wp_severity(p, ml_json_str(k, "severity"), label);
			wp_puts(p, " ");
		}
		wp_puts(p, "</p>\n");
	}
	if (ml_json_str(json_object_get(f, "reference"), "text")) {
		/* reboot-dst against boot-src and the destination build's own boot */
		wp_puts(p, "<p class=\"reference\">");
		wp_esc(p, ml_json_str(json_object_get(f, "reference"), "text"));
		wp_printf(p, " (%lld difference(s) from boot-src, %lld from the destination build's fresh boot)</p>\n",
			  ml_json_int(json_object_get(f, "reference"), "differences_from_boot_src", 0),
			  ml_json_int(json_object_get(f, "reference"), "differences_from_destination_boot", 0));
	}
	if (json_array_size(diffs)) {
		wp_puts(p, "<div class=\"scroll\"><table class=\"diffs\"><thead><tr><th>kind</th><th>section</th>"
			   "<th>key</th><th>what</th><th>before</th><th>after</th></tr></thead><tbody>\n");
		json_array_foreach(diffs, i, d) {
			wp_abi_diff_row(p, d, true, 0);
		}
		wp_puts(p, "</tbody></table></div>\n");
	} else if (ml_json_str(f, "summary")) {
		wp_puts(p, "<pre>");
		wp_esc(p, ml_json_str(f, "summary"));
		wp_puts(p, "</pre>\n");
	}
	wp_puts(p, "</details>\n");
}

static void vmstate_finding(struct web_page *p, json_t *f)
{
	long long errors = ml_json_int(f, "errors", 0);

	wp_printf(p, "<details class=\"finding vmstate\"%s><summary><strong>vmstate</strong>: ",
		  errors ? " open" : "");
	if (ml_json_str(f, "error")) {
		wp_puts(p, "check failed: ");
		wp_esc(p, ml_json_str(f, "error"));
	} else {
		wp_printf(p, "%lld error%s (", errors, errors == 1 ? "" : "s");
		wp_esc(p, ml_json_str(f, "severity"));
		wp_puts(p, ")");
	}
	wp_puts(p, "</summary>\n<table class=\"kv\">\n");
	for (int k = 0; k < 2; k++) {
		json_t *dir = json_object_get(f, k ? "back" : "forward");
		if (!dir)
			continue;
		wp_printf(p, "<tr><th>%s</th><td>%lld errors, %lld warnings", k ? "back" : "forward",
			  ml_json_int(dir, "errors", 0), ml_json_int(dir, "warnings", 0));
		if (json_object_get(dir, "first")) {
			wp_puts(p, "<pre>");
			{
				ml_autofree char *s = json_dumps(json_object_get(dir, "first"),
								 JSON_INDENT(1) | JSON_SORT_KEYS);
				wp_esc(p, s);
			}
			wp_puts(p, "</pre>");
		}
		wp_puts(p, "</td></tr>\n");
	}
	wp_puts(p, "</table>\n</details>\n");
}

static void findings_section(struct web_page *p, json_t *doc)
{
	json_t *findings = json_object_get(doc, "findings");
	size_t i;
	json_t *f;

	if (!json_array_size(findings))
		return;
	wp_puts(p, "<section><h2>Findings</h2>\n");
	json_array_foreach(findings, i, f) {
		const char *kind = ml_json_str(f, "kind");
		if (kind && strcmp(kind, "abi-change") == 0) {
			abi_finding(p, f, i == 0);
		} else if (kind && strcmp(kind, "vmstate") == 0) {
			vmstate_finding(p, f);
		} else {
			ml_autofree char *s = json_dumps(f, JSON_INDENT(1) | JSON_SORT_KEYS);
			wp_puts(p, "<details class=\"finding\"><summary>");
			wp_esc(p, kind ? kind : "finding");
			if (ml_json_str(f, "severity")) {
				wp_puts(p, " ");
				wp_severity(p, ml_json_str(f, "severity"), NULL);
			}
			wp_puts(p, "</summary><pre>");
			wp_esc(p, s);
			wp_puts(p, "</pre></details>\n");
		}
	}
	wp_puts(p, "</section>\n");
}

/* A plain file name: no directory part, not hidden. */
static bool plain_name(const char *s)
{
	return s && *s && *s != '.' && !strchr(s, '/');
}

/* Embed the last cap bytes of dir/name (a regular file, not a link). */
static void embed_tail(struct web_page *p, const char *dir, const char *name, size_t cap)
{
	ml_autofree char *path = ml_path_join(dir, name);
	ml_autofree char *data = NULL;
	ml_autoclose int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	off_t from = 0;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		wp_puts(p, " <span class=\"dim\">(missing)</span></summary>\n");
		return;
	}
	if (st.st_size == 0) {
		wp_puts(p, " <span class=\"dim\">(empty)</span></summary>\n");
		return;
	}
	if ((size_t)st.st_size > cap)
		from = st.st_size - (off_t)cap;
	data = malloc(cap ? cap : 1);
	if (!data)
		abort();
	while (got < cap) {
		ssize_t r = pread(fd, data + got, cap - got, from + (off_t)got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	wp_printf(p, " <span class=\"dim\">(%lld bytes%s)</span></summary>\n", (long long)st.st_size,
		  from ? ", the end shown" : "");
	wp_puts(p, "<pre class=\"log\">");
	wp_esc_n(p, data, got);
	wp_puts(p, "</pre>\n");
}

static void log_entry(struct web_page *p, const struct web_cell_ctx *ctx, const char *cell_dir,
		      const char *label, const char *name, bool embed, size_t cap, bool expanded)
{
	ml_autofree char *raw = ml_path_join(cell_dir, name);
	ml_autofree char *rel = web_relpath(ctx->cells_out, raw);

	if (embed) {
		wp_printf(p, "<details class=\"log\"%s><summary>", expanded ? " open" : "");
		wp_esc(p, label);
		wp_puts(p, " <a href=\"");
		wp_url(p, rel);
		wp_puts(p, "\">");
		wp_esc(p, name);
		wp_puts(p, "</a>");
		embed_tail(p, cell_dir, name, cap);
		wp_puts(p, "</details>\n");
	} else {
		struct stat st;
		wp_puts(p, "<p class=\"logline\">");
		wp_esc(p, label);
		wp_puts(p, ": <a href=\"");
		wp_url(p, rel);
		wp_puts(p, "\">");
		wp_esc(p, name);
		wp_puts(p, "</a>");
		if (lstat(raw, &st) == 0 && S_ISREG(st.st_mode))
			wp_printf(p, " <span class=\"dim\">(%lld bytes)</span>", (long long)st.st_size);
		wp_puts(p, "</p>\n");
	}
}

static void logs_section(struct web_page *p, const struct web_cell_ctx *ctx, json_t *doc,
			 const char *cell_dir, const struct web_cell *sum)
{
	static const char *const sides[] = { "src", "dst", "back" };
	static const char *const side_names[] = { "source QEMU", "destination QEMU",
						  "migrate-back destination QEMU" };
	static const char *const kinds[] = { "qemu_stderr", "console", "qmp", "probe" };
	static const char *const kind_names[] = { "QEMU stderr", "serial console", "QMP transcript",
						  "probe log" };
	json_t *logs = json_object_get(doc, "logs");
	json_t *shown = json_object();
	bool pass = strcmp(sum->verdict, "pass") == 0 || strcmp(sum->verdict, "skip") == 0;
	size_t cap = pass ? ctx->tail_pass : ctx->tail_other;
	const char *key;
	json_t *v;
	bool any_other = false;

	wp_puts(p, "<section id=\"logs\"><h2>Logs</h2>\n");
	if (!json_object_size(logs))
		wp_puts(p, "<p class=\"dim\">No logs recorded.</p>\n");
	for (size_t s = 0; s < ML_ARRAY_SIZE(sides); s++) {
		bool heading = false;
		for (size_t k = 0; k < ML_ARRAY_SIZE(kinds); k++) {
			ml_autofree char *lk = ml_strdup_printf("%s_%s", kinds[k], sides[s]);
			const char *name = ml_json_str(logs, lk);
			if (!plain_name(name))
				continue;
			if (!heading) {
				wp_printf(p, "<h3>%s (%s)</h3>\n", side_names[s], sides[s]);
				heading = true;
			}
			/* a passing cell embeds its stderr and console; the
			 * transcripts are linked (they are most of a site's size) */
			log_entry(p, ctx, cell_dir, kind_names[k], name, !pass || k < 2, cap,
				  !pass && k == 0);
			ml_json_set(shown, lk, json_true());
		}
	}
	json_object_foreach(logs, key, v) {
		const char *name = json_string_value(v);
		if (json_object_get(shown, key) || !plain_name(name))
			continue;
		if (!any_other) {
			wp_puts(p, "<h3>Other files</h3>\n");
			any_other = true;
		}
		log_entry(p, ctx, cell_dir, key, name, false, 0, false);
	}
	json_decref(shown);
	wp_puts(p, "</section>\n");
}

static void push_arg(const char ***argv, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		*argv = realloc(*argv, *cap * sizeof(**argv));
		if (!*argv)
			abort();
	}
	(*argv)[(*n)++] = s;
}

static void wp_argv(struct web_page *p, const char *const *argv, size_t n)
{
	ml_autofree char *s = ml_web_shell_join(argv, n);

	wp_esc(p, s);
}

static void commands_section(struct web_page *p, json_t *doc)
{
	json_t *in = json_object_get(doc, "inputs");
	json_t *cmds = json_object_get(doc, "commands");
	json_t *extra = json_object_get(in, "extra_args");
	const char **argv = NULL;
	size_t n = 0, cap = 0, i;
	char mem[32], work[32];
	json_t *a;

	wp_puts(p, "<section id=\"reproduce\"><h2>Reproduce</h2>\n<p>Run this cell alone:</p>\n"
		   "<pre class=\"cmd\" id=\"repro\">");
	push_arg(&argv, &n, &cap, "miglab");
	push_arg(&argv, &n, &cap, "cell");
	push_arg(&argv, &n, &cap, "--src");
	push_arg(&argv, &n, &cap, ml_json_str(json_object_get(in, "src"), "provider"));
	push_arg(&argv, &n, &cap, "--dst");
	push_arg(&argv, &n, &cap, ml_json_str(json_object_get(in, "dst"), "provider"));
	push_arg(&argv, &n, &cap, "--machine");
	push_arg(&argv, &n, &cap, ml_json_str(in, "machine"));
	push_arg(&argv, &n, &cap, "--kernel");
	push_arg(&argv, &n, &cap, ml_json_str(in, "kernel"));
	if (ml_json_str(in, "accel")) {
		push_arg(&argv, &n, &cap, "--accel");
		push_arg(&argv, &n, &cap, ml_json_str(in, "accel"));
	}
	if (ml_json_int(in, "memory_mib", 0) > 0) {
		snprintf(mem, sizeof(mem), "%lld", ml_json_int(in, "memory_mib", 0));
		push_arg(&argv, &n, &cap, "--memory");
		push_arg(&argv, &n, &cap, mem);
	}
	if (ml_json_int(in, "workload_mib", 0) > 0) {
		snprintf(work, sizeof(work), "%lld", ml_json_int(in, "workload_mib", 0));
		push_arg(&argv, &n, &cap, "--workload");
		push_arg(&argv, &n, &cap, work);
	}
	{
		/* a boot asked for by name is part of the cell id */
		const char *kb = ml_json_str(json_object_get(in, "kernel_boot"), "requested");
		if (kb && (strcmp(kb, "pvh") == 0 || strcmp(kb, "bzimage") == 0)) {
			push_arg(&argv, &n, &cap, "--kernel-boot");
			push_arg(&argv, &n, &cap, kb);
		}
	}
	for (int k = 0; k < 2; k++)
		json_array_foreach(json_object_get(extra, k ? "dst" : "src"), i, a) {
			if (!json_is_string(a))
				continue;
			push_arg(&argv, &n, &cap, k ? "--dst-arg" : "--src-arg");
			push_arg(&argv, &n, &cap, json_string_value(a));
		}
	wp_argv(p, argv, n);
	wp_puts(p, "</pre>\n");
	for (int k = 0; k < 3; k++) {
		static const char *const sides[] = { "src", "dst", "back" };
		json_t *cmd = json_object_get(cmds, sides[k]);
		if (!json_is_array(cmd))
			continue;
		n = 0;
		json_array_foreach(cmd, i, a)
			push_arg(&argv, &n, &cap, json_is_string(a) ? json_string_value(a) : "?");
		wp_printf(p, "<details class=\"argv\"><summary>QEMU command line (%s), as that QEMU saw it"
			     "</summary>\n<pre class=\"cmd\">", sides[k]);
		wp_argv(p, argv, n);
		wp_puts(p, "</pre></details>\n");
	}
	free(argv);
	wp_puts(p, "</section>\n");
}

int web_cell_page(const struct web_cell_ctx *ctx, json_t *doc, const char *cell_dir,
		  const struct web_cell *sum)
{
	struct web_page p;
	ml_autofree char *name = ml_strdup_printf("%s.html", sum->file);
	ml_autofree char *path = ml_path_join(ctx->cells_out, name);

	wp_init(&p);
	wp_head(&p, sum->id, "../../");
	wp_puts(&p, "<nav class=\"crumbs\"><a href=\"../../index.html\">runs</a> / <a href=\"../index.html\">");
	wp_esc(&p, ctx->run_id);
	wp_puts(&p, "</a> / cell</nav>\n<h1 class=\"cellid\">");
	wp_esc(&p, sum->id);
	wp_puts(&p, "</h1>\n<p class=\"sub\">");
	wp_esc(&p, sum->src);
	wp_puts(&p, " &rarr; ");
	wp_esc(&p, sum->dst);
	wp_puts(&p, " &middot; ");
	wp_esc(&p, sum->machine);
	wp_puts(&p, " &middot; kernel ");
	wp_esc(&p, sum->kernel);
	wp_puts(&p, "</p>\n");
	verdict_section(&p, ctx, doc, sum);
	phases_section(&p, doc);
	findings_section(&p, doc);
	logs_section(&p, ctx, doc, cell_dir, sum);
	inputs_section(&p, doc);
	commands_section(&p, doc);
	wp_foot(&p, "../../");
	return wp_write(&p, path);
}
