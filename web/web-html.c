/* The page writer of the dashboard: HTML escaping of untrusted text (with
 * UTF-8 validation, which ml_xml_escape does not do: logs are raw bytes),
 * URLs from file names, the common page frame with its Content-Security-
 * Policy, shell quoting for display, and atomic page files. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-buf.h"
#include "web-internal.h"
#include "web.h"
#include "ml-common.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

void wp_init(struct web_page *p)
{
	struct ml_buf b = ML_BUF_INIT(WEB_PAGE_LIMIT);

	p->b = b;
	p->failed = false;
}

void wp_free(struct web_page *p)
{
	ml_buf_free(&p->b);
}

static void wp_append(struct web_page *p, const void *data, size_t len)
{
	if (!p->failed && len && ml_buf_append(&p->b, data, len) < 0)
		p->failed = true;
}

void wp_puts(struct web_page *p, const char *s)
{
	wp_append(p, s, strlen(s));
}

void wp_printf(struct web_page *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	va_start(ap, fmt);
	if (ml_buf_vprintf(&p->b, fmt, ap) < 0)
		p->failed = true;
	va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. Rejects
 * overlongs, surrogates, code points above U+10FFFF and C1 controls. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		if (c == 0xc2 && s[1] < 0xa0)
			return 0; /* U+0080..U+009F: C1 controls */
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* Bytes that pass through unchanged: printable ASCII other than the five
 * HTML specials, tab and newline. */
static const bool *plain_table(void)
{
	static bool t[256];
	static bool ready;

	if (!ready) {
		for (int c = 0x20; c < 0x7f; c++)
			t[c] = true;
		t['&'] = t['<'] = t['>'] = t['"'] = t['\''] = false;
		t['\t'] = t['\n'] = true;
		ready = true;
	}
	return t;
}

void wp_esc_n(struct web_page *p, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	const bool *plain = plain_table();
	size_t i = 0;

	if (!s)
		return;
	while (i < n) {
		size_t start = i, k;
		while (i < n && plain[s[i]])
			i++;
		wp_append(p, s + start, i - start);
		if (i >= n)
			break;
		switch (s[i]) {
		case '&': wp_puts(p, "&amp;"); i++; continue;
		case '<': wp_puts(p, "&lt;"); i++; continue;
		case '>': wp_puts(p, "&gt;"); i++; continue;
		case '"': wp_puts(p, "&quot;"); i++; continue;
		case '\'': wp_puts(p, "&#39;"); i++; continue;
		case '\r':
			if (i + 1 < n && s[i + 1] == '\n') {
				i++;
				continue;
			}
			break;
		default:
			break;
		}
		if (s[i] >= 0x80 && (k = utf8_valid(s + i, n - i))) {
			wp_append(p, s + i, k);
			i += k;
			continue;
		}
		wp_puts(p, REPLACEMENT);
		i++;
	}
}

void wp_esc(struct web_page *p, const char *s)
{
	if (s)
		wp_esc_n(p, s, strlen(s));
}

char *ml_web_html_escape(const char *s, size_t len)
{
	struct web_page p;

	wp_init(&p);
	wp_esc_n(&p, s, len);
	if (p.failed) {
		wp_free(&p);
		return NULL;
	}
	return ml_buf_steal(&p.b);
}

void wp_url(struct web_page *p, const char *rel)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *s = (const unsigned char *)rel; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_' || *s == '.' || *s == '~' || *s == '/') {
			wp_append(p, s, 1);
		} else {
			char enc[3] = { '%', hex[*s >> 4], hex[*s & 15] };
			wp_append(p, enc, 3);
		}
	}
}

void wp_head(struct web_page *p, const char *title, const char *root)
{
	wp_puts(p, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		   "script-src 'self'; style-src 'self'; img-src 'self' data:; "
		   "base-uri 'none'; form-action 'none'\">\n"
		   "<meta name=\"referrer\" content=\"no-referrer\">\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	wp_esc(p, title);
	wp_puts(p, " - miglab</title>\n<link rel=\"stylesheet\" href=\"");
	wp_puts(p, root);
	wp_puts(p, "assets/miglab.css\">\n<script src=\"");
	wp_puts(p, root);
	wp_puts(p, "assets/miglab.js\" defer></script>\n</head>\n<body>\n<header class=\"top\"><a href=\"");
	wp_puts(p, root);
	wp_puts(p, "index.html\" class=\"brand\">miglab</a> <span class=\"tag\">cross-version "
		   "live-migration results</span></header>\n<main>\n");
}

void wp_foot(struct web_page *p, const char *root)
{
	(void)root;
	wp_puts(p, "</main>\n<footer>Generated by miglab " MIGLAB_VERSION
		   " from result files; no server, no network.</footer>\n</body>\n</html>\n");
}

const char *web_verdict(const char *v)
{
	/* verdicts, and the judgement categories that refine fail (judge.h) */
	static const char *const known[] = { "pass", "fail", "xfail", "xpass", "skip", "error",
					     "intermittent", "source-unsound",
					     "destination-unsound" };

	for (size_t i = 0; v && i < ML_ARRAY_SIZE(known); i++)
		if (strcmp(v, known[i]) == 0)
			return known[i];
	return "error";
}

bool web_verdict_bad(const char *v)
{
	return v && (strcmp(v, "fail") == 0 || strcmp(v, "error") == 0);
}

bool web_verdict_unsettled(const char *v)
{
	return v && (strcmp(v, "intermittent") == 0 || strcmp(v, "source-unsound") == 0 ||
		     strcmp(v, "destination-unsound") == 0);
}

void wp_verdict(struct web_page *p, const char *verdict)
{
	const char *v = web_verdict(verdict);

	wp_printf(p, "<span class=\"badge v-%s\">%s</span>", v, v);
}

void wp_json_value(struct web_page *p, json_t *v)
{
	if (json_is_string(v)) {
		wp_esc_n(p, json_string_value(v), json_string_length(v));
	} else if (json_is_integer(v)) {
		wp_printf(p, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		wp_printf(p, "%.2f", json_real_value(v));
	} else if (json_is_null(v) || !v) {
		wp_puts(p, "<span class=\"dim\">-</span>");
	} else {
		ml_autofree char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
		wp_esc(p, s);
	}
}

void wp_esc_cut(struct web_page *p, const char *s, size_t max)
{
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	if (n <= max) {
		wp_esc_n(p, s, n);
		return;
	}
	n = max;
	/* do not cut a UTF-8 sequence in half */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	wp_esc_n(p, s, n);
	wp_puts(p, "...");
}

static const char *const severities[] = { "none", "info", "warn", "error", "fail" };

int web_severity_rank(const char *s)
{
	for (size_t i = 0; s && i < ML_ARRAY_SIZE(severities); i++)
		if (strcmp(s, severities[i]) == 0)
			return (int)i;
	return -1;
}

const char *web_severity(const char *s)
{
	int r = web_severity_rank(s);

	return r < 0 ? "unknown" : severities[r];
}

void wp_severity(struct web_page *p, const char *severity, const char *label)
{
	const char *sev = web_severity(severity);

	wp_printf(p, "<span class=\"badge sev-%s\">", sev);
	wp_esc(p, label ? label : sev);
	wp_puts(p, "</span>");
}

static const char *const mt_verdicts[] = { "break", "warn", "info", "same", "unknown" };

int web_mt_verdict_rank(const char *v)
{
	for (size_t i = 0; v && i < ML_ARRAY_SIZE(mt_verdicts); i++)
		if (strcmp(v, mt_verdicts[i]) == 0)
			return (int)i;
	return (int)ML_ARRAY_SIZE(mt_verdicts) - 1;
}

const char *web_mt_verdict(const char *v)
{
	return mt_verdicts[web_mt_verdict_rank(v)];
}

char *web_mt_anchor(const char *id)
{
	static const char hex[] = "0123456789abcdef";
	struct ml_buf out = ML_BUF_INIT(0);

	ml_buf_puts(&out, "mt-");
	for (const unsigned char *s = (const unsigned char *)(id ? id : ""); *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '.') {
			ml_buf_append(&out, s, 1);
		} else {
			char enc[3] = { '_', hex[*s >> 4], hex[*s & 15] };
			ml_buf_append(&out, enc, 3);
		}
	}
	return ml_buf_steal(&out);
}

void wp_ms(struct web_page *p, long long ms)
{
	if (ms < 0)
		wp_puts(p, "-");
	else if (ms < 1000)
		wp_printf(p, "%lld ms", ms);
	else if (ms < 600000)
		wp_printf(p, "%.1f s", (double)ms / 1000.0);
	else
		wp_printf(p, "%lld min %02lld s", ms / 60000, (ms / 1000) % 60);
}

char *web_safe_name(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	bool ok = n > 0 && n <= 180 && id[0] != '.';
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; ok && i < n; i++) {
		char c = id[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '.' || c == '_' || c == '-';
	}
	if (ok)
		return strdup(id);
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)id[i];
		h *= 1099511628211ULL;
	}
	return ml_strdup_printf("x-%016llx", (unsigned long long)h);
}

/* Split an absolute path into its components (in place). */
static size_t split_path(char *path, char **parts, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(path, "/", &save); tok && n < max; tok = strtok_r(NULL, "/", &save))
		parts[n++] = tok;
	return n;
}

char *web_relpath(const char *from_dir, const char *to)
{
	ml_autofree char *a = strdup(from_dir);
	ml_autofree char *b = strdup(to);
	char *pa[256], *pb[256];
	size_t na, nb, common = 0;
	struct ml_buf out = ML_BUF_INIT(0);

	if (!a || !b)
		abort();
	na = split_path(a, pa, ML_ARRAY_SIZE(pa));
	nb = split_path(b, pb, ML_ARRAY_SIZE(pb));
	while (common < na && common < nb && strcmp(pa[common], pb[common]) == 0)
		common++;
	for (size_t i = common; i < na; i++)
		ml_buf_puts(&out, "../");
	for (size_t i = common; i < nb; i++) {
		ml_buf_puts(&out, pb[i]);
		if (i + 1 < nb)
			ml_buf_puts(&out, "/");
	}
	return ml_buf_steal(&out);
}

char *ml_web_shell_join(const char *const *argv, size_t n)
{
	struct ml_buf out = ML_BUF_INIT(0);

	for (size_t i = 0; i < n; i++) {
		const char *a = argv[i] ? argv[i] : "";
		bool plain = *a != '\0';
		if (i)
			ml_buf_puts(&out, " ");
		for (const char *s = a; *s && plain; s++)
			plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				       "_@%+=:,./-", *s) != NULL;
		if (plain) {
			ml_buf_puts(&out, a);
			continue;
		}
		ml_buf_puts(&out, "'");
		for (const char *s = a; *s; s++) {
			if (*s == '\'')
				ml_buf_puts(&out, "'\\''");
			else
				ml_buf_append(&out, s, 1);
		}
		ml_buf_puts(&out, "'");
	}
	return ml_buf_steal(&out);
}

int web_write_file(const char *path, const void *data, size_t len)
{
	ml_autofree char *tmp = ml_strdup_printf("%s.tmp-XXXXXX", path);
	const char *d = data;
	int fd = mkstemp(tmp);

	if (fd < 0) {
		ml_error_errno(errno, "creating %s", tmp);
		return -1;
	}
	while (len) {
		ssize_t w = write(fd, d, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ml_error_errno(w < 0 ? errno : EIO, "writing %s", tmp);
			close(fd);
			unlink(tmp);
			return -1;
		}
		d += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, 0644) < 0 || close(fd) < 0) {
		ml_error_errno(errno, "closing %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		ml_error_errno(errno, "renaming %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int wp_write(struct web_page *p, const char *path)
{
	int rc;

	if (p->failed) {
		wp_free(p);
		ml_error("%s: the page is larger than %zu bytes", path, (size_t)WEB_PAGE_LIMIT);
		return -1;
	}
	rc = web_write_file(path, p->b.data ? p->b.data : "", p->b.len);
	wp_free(p);
	return rc;
}

void web_cell_clear(struct web_cell *c)
{
	free(c->id);
	free(c->file);
	free(c->verdict);
	free(c->src);
	free(c->dst);
	free(c->src_version);
	free(c->dst_version);
	free(c->machine);
	free(c->kernel);
	free(c->cls);
	free(c->cls_title);
	free(c->reason);
	free(c->unsound);
	free(c->repeat);
	free(c->abi_severity);
	free(c->mt_verdict);
	free(c->mt_id);
	free(c->explained);
	free(c->explained_mt);
	memset(c, 0, sizeof(*c));
}

void wp_abi_diff_row(struct web_page *p, const json_t *d, bool with_kind, size_t detail_max)
{
	const char *sev = ml_json_str(d, "severity");

	wp_puts(p, "<tr><td>");
	if (with_kind && (sev || ml_json_str(d, "kind"))) {
		ml_autofree char *label = ml_strdup_printf("%s %s", ml_json_str(d, "kind") ? ml_json_str(d, "kind") : "-",
							   web_severity(sev));
		wp_severity(p, sev, label);
	} else if (!with_kind) {
		wp_severity(p, sev, NULL);
	}
	if (ml_json_str(d, "firmware")) {
		wp_puts(p, " <span class=\"dim small firmware\" title=\"");
		wp_esc(p, ml_json_str(d, "firmware"));
		wp_puts(p, "\">firmware</span>");
	}
	wp_puts(p, "</td><td>");
	wp_esc(p, ml_json_str(d, "section"));
	wp_puts(p, "</td><td><code>");
	wp_esc(p, ml_json_str(d, "key"));
	wp_puts(p, "</code></td><td>");
	wp_esc(p, ml_json_str(d, "what"));
	wp_puts(p, "</td><td><code>");
	wp_json_value(p, json_object_get(d, "before"));
	wp_puts(p, "</code></td><td><code>");
	wp_json_value(p, json_object_get(d, "after"));
	wp_puts(p, "</code></td></tr>\n");
	if (ml_json_str(d, "detail")) {
		wp_puts(p, "<tr class=\"detail\"><td colspan=\"6\"><pre>");
		if (detail_max)
			wp_esc_cut(p, ml_json_str(d, "detail"), detail_max);
		else
			wp_esc(p, ml_json_str(d, "detail"));
		wp_puts(p, "</pre></td></tr>\n");
	}
}

void wp_build_source(struct web_page *p, const json_t *build)
{
	json_t *src = json_object_get(build, "source");
	json_t *patches = json_object_get(src, "patches");
	const char *commit = ml_json_str(src, "commit");
	size_t i;
	json_t *patch;

	if (!json_is_object(src))
		return;
	wp_puts(p, "<br><span class=\"small\">built from <code>");
	wp_esc(p, ml_json_str(src, "describe"));
	wp_puts(p, "</code>");
	if (commit) {
		wp_puts(p, " (commit <code class=\"hash\">");
		wp_esc_n(p, commit, strlen(commit) < 12 ? strlen(commit) : 12);
		wp_puts(p, "</code>)");
	}
	if (json_array_size(patches)) {
		wp_printf(p, ", +%zu patch%s:", json_array_size(patches),
			  json_array_size(patches) == 1 ? "" : "es");
		json_array_foreach(patches, i, patch) {
			const char *path = ml_json_str(patch, "path");
			const char *base = path ? strrchr(path, '/') : NULL;
			wp_puts(p, " <code title=\"sha256 ");
			wp_esc(p, ml_json_str(patch, "sha256"));
			wp_puts(p, "\">");
			wp_esc(p, base ? base + 1 : path);
			wp_puts(p, "</code>");
		}
	}
	if (json_is_true(json_object_get(src, "checkout_dirty")))
		wp_puts(p, " <span class=\"dim\">(the checkout had uncommitted changes, not built)</span>");
	wp_puts(p, "</span>");
}
