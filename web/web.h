/* mlweb: the static HTML dashboard, generated from result files alone
 * (run.json, cells/<id>/cell.json and the logs beside them). The site opens
 * from file:// with no server and no network, and can be published as CI
 * pages:
 *
 *   OUT/index.html                   every run, newest first, trend chart
 *   OUT/assets/miglab.css, miglab.js the only style and script (embedded here)
 *   OUT/<run>/index.html             the matrix grid, filters, failure classes,
 *                                    builds, regressions against the previous run
 *   OUT/<run>/cells/<cell>.html      one cell: inputs, phases, failure, ABI and
 *                                    vmstate findings, logs, commands to reproduce
 *
 * Everything that came from a guest or a QEMU (and every id) is HTML-escaped,
 * invalid UTF-8 and control bytes included; pages carry a Content-Security-Policy
 * that allows no inline script and no inline style. Logs are embedded as
 * capped tails and linked relatively to the raw files in the results directory.
 *
 * Every file is written atomically (temporary file + rename; one syncfs at the
 * end instead of an fsync per page: the site can always be regenerated). */
#ifndef ML_WEB_H
#define ML_WEB_H

#include <stdbool.h>
#include <stddef.h>

struct ml_web_options {
	/* Runs to render (run directories). NULL/0: every run of results_dir. The
	 * index and the regressions always use every run of results_dir as history
	 * (read from run.json, cheap), plus these. */
	const char *const *runs;
	size_t n_runs;
	/* Embedded log tails: bytes per log for passing / other cells
	 * (0: 8 KiB / 64 KiB); a passing cell embeds only its QEMU stderr and console, and links the QMP and probe transcripts. */
	size_t log_tail_pass;
	size_t log_tail_other;
	bool quiet; /* no progress on stderr */
};

/* Write the site for results_dir (may be NULL when opt->runs names the runs)
 * into out_dir (NULL: <results_dir>/site). On success, *index_path (if not
 * NULL) receives the path of index.html (caller frees). Returns 0, or -1 with
 * an error reported. A run that cannot be read is skipped with a warning. */
int ml_web_write_site(const char *results_dir, const char *out_dir,
		      const struct ml_web_options *opt, char **index_path);

/* Only the site's assets (OUT/assets/): for a page written outside a site
 * run (a bisect whose steps never ran) that links the site's style. */
int ml_web_write_assets(const char *out_dir);

/* The page of one bisect (lab/bisect.h) from its bisect.json document, at
 * path. root is the relative path from the page to the site root (assets,
 * the runs index, and each step's run page <root><run>/index.html). */
struct json_t;
int ml_web_bisect_page(const struct json_t *doc, const char *path, const char *root);

/* HTML-escape untrusted text for element content and quoted attribute values:
 * & < > " ' become entities; control bytes (other than tab and newline), DEL,
 * C1 controls and invalid UTF-8 become U+FFFD; a CR before LF is dropped.
 * len bytes of s (s may hold NULs, which become U+FFFD). Caller frees. */
char *ml_web_html_escape(const char *s, size_t len);

/* Display form of an argv: each argument shell-quoted (single quotes where
 * needed), joined by spaces. Not HTML-escaped. Caller frees. */
char *ml_web_shell_join(const char *const *argv, size_t n);

#endif
