/* mlweb internals shared by its files: the page writer (an HTML document
 * built in a capped buffer, escaping every untrusted string), the per-run
 * and per-cell data the pages are made of, and the embedded assets. */
#ifndef ML_WEB_INTERNAL_H
#define ML_WEB_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ml-buf.h"

/* A page is at most this big (the run page of a 10,000-cell run is ~4 MiB). */
#define WEB_PAGE_LIMIT ((size_t)256 << 20)

struct web_page {
	struct ml_buf b;
	bool failed; /* an append failed (the limit); the page is not written */
};

void wp_init(struct web_page *p);
void wp_free(struct web_page *p);
/* Trusted markup (literals, numbers). */
void wp_puts(struct web_page *p, const char *s);
void wp_printf(struct web_page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Untrusted text, escaped (NULL writes nothing). */
void wp_esc(struct web_page *p, const char *s);
void wp_esc_n(struct web_page *p, const char *s, size_t n);
/* A relative URL (path segments separated by '/'), percent-encoded then
 * escaped: for hrefs made from directory and file names. */
void wp_url(struct web_page *p, const char *rel);
/* <!doctype html> ... <body>; root is the relative path to the site root
 * ("", "../", "../../"). The title is escaped. */
void wp_head(struct web_page *p, const char *title, const char *root);
void wp_foot(struct web_page *p, const char *root);
/* A verdict badge. */
void wp_verdict(struct web_page *p, const char *verdict);
/* A JSON value as display text: strings as they are (escaped), numbers
 * plainly, null as a dim "-", anything else compact JSON (escaped). */
void wp_json_value(struct web_page *p, json_t *v);
/* Untrusted text cut to at most max bytes (never inside a UTF-8 sequence),
 * escaped, with "..." when cut. */
void wp_esc_cut(struct web_page *p, const char *s, size_t max);

/* ABI severities (results/abi-kinds.txt), lowest first: none info warn error
 * fail. The rank of s (0..4), or -1 when s is none of them. */
int web_severity_rank(const char *s);
/* The severity s as one of the five names, "unknown" for anything else: safe
 * to print as markup and as a class name. */
const char *web_severity(const char *s);
/* A severity badge: <span class="badge sev-S">label</span> (label escaped;
 * NULL: the severity itself). */
void wp_severity(struct web_page *p, const char *severity, const char *label);
/* One row of an ABI difference table (6 columns: severity or kind and
 * severity, section, key, what, before, after), its detail below it cut at
 * detail_max bytes (0: whole). */
void wp_abi_diff_row(struct web_page *p, const json_t *d, bool with_kind, size_t detail_max);
/* Machine-type ABI verdicts (run.json machine_abi), worst first: break warn
 * info same unknown. The verdict as one of them ("unknown" for anything else)
 * and its rank (0 for break). */
const char *web_mt_verdict(const char *v);
int web_mt_verdict_rank(const char *v);
/* The HTML id of a run.json machine_abi entry: "mt-" + the entry id with
 * every byte outside [A-Za-z0-9.-] written as "_" and two hex digits, so that
 * two ids never share an anchor. Caller frees. */
char *web_mt_anchor(const char *id);
/* Write the page to path atomically (temp + rename) and free it. */
int wp_write(struct web_page *p, const char *path);
int web_write_file(const char *path, const void *data, size_t len);

/* One of pass fail xfail xpass skip error ("error" for anything else). */
const char *web_verdict(const char *v);
/* True for verdicts that count as failing in regressions (fail, error). */
bool web_verdict_bad(const char *v);
/* A judgement that is neither a failure nor a pass of the pair: intermittent,
 * or a build that fails its own control (source-/destination-unsound).
 * Regressions never count such a cell as a new failure or a fix. */
bool web_verdict_unsettled(const char *v);
/* A file name for an id: the id itself when it is made of [A-Za-z0-9._-]
 * (not starting with '.', at most 180 bytes), else "x-" + a hash of it. */
char *web_safe_name(const char *id);
/* The relative path from directory from_dir to path to (both absolute,
 * normalised). Caller frees. */
char *web_relpath(const char *from_dir, const char *to);
/* "12.3 s", "450 ms". */
void wp_ms(struct web_page *p, long long ms);
/* For a build from source (its manifest has "source"): "built from DESCRIBE
 * (commit 0123456789ab), +N patches" with the patches' file names; nothing
 * for other builds. */
void wp_build_source(struct web_page *p, const json_t *build);

/* A cell as the run page sees it (the cell page has the whole document). */
struct web_cell {
	char *id;     /* cell_id */
	char *file;   /* page file name under <run>/cells/, without .html */
	char *verdict;       /* the judgement's category (judge.h), or the verdict of old results */
	char *src, *dst;     /* providers */
	char *src_version, *dst_version;
	char *machine;
	char *kernel;
	char *cls;           /* failure class, or NULL */
	char *cls_title;
	char *reason;        /* cut to 300 bytes */
	/* The ABI mark of the grid: the cell's abi.severity is error or fail;
	 * for results without "abi" (before the severities), any abi-change
	 * finding. */
	bool abi;
	char *abi_severity;  /* cell.json abi.severity, or NULL (older results) */
	char *mt_verdict;    /* abi.machine_type.verdict: this pair's machine type, or NULL */
	char *mt_id;         /* abi.machine_type.id, the run.json machine_abi entry, or NULL */
	char *explained;     /* failure.explained_by texts ("; " between), or NULL */
	char *explained_mt;  /* the machine_abi id the explanation names, or NULL */
	unsigned notes;      /* WEB_NOTE_*: findings that need a reader */
	bool attention;      /* listed in "cells that need attention" (web_cell_summary) */
	bool vmstate;        /* a vmstate finding with errors */
	char *unsound;       /* the control's explanation of an unsound cell, or NULL */
	char *repeat;        /* "2 of 3 attempt(s) failed", or NULL for one attempt */
};
#define WEB_NOTE_CONTINUITY 1u /* a continuity finding of severity warn or worse */
#define WEB_NOTE_CROSSCHECK 2u /* an abi-crosscheck finding of severity warn or worse */
void web_cell_clear(struct web_cell *c);

/* History answers for the cell page: the run ids (and page paths relative to
 * the site root) of the last run where the cell passed and the first run of
 * its current failing streak. */
struct web_history_ref {
	const char *run_id;
	const char *run_file;
};
struct web_run;
/* The run.json machine_abi entry with this id, or NULL. Borrowed. */
json_t *web_run_machine_abi(const struct web_run *r, const char *id);
void web_history_lookup(const struct web_run *r, const char *cell_id,
			struct web_history_ref *first_bad, struct web_history_ref *last_good);

/* Render one cell page: doc is its cell.json, cell_dir its directory (for the
 * logs), page_path where to write. Fills *sum. */
struct web_cell_ctx {
	const struct web_run *run;
	const char *run_id;
	const char *run_file;  /* the run's directory name in the site */
	const char *cells_out; /* absolute OUT/<run>/cells */
	size_t tail_pass, tail_other;
};
int web_cell_summary(json_t *doc, const char *dir_name, struct web_cell *sum);
int web_cell_page(const struct web_cell_ctx *ctx, json_t *doc, const char *cell_dir,
		  const struct web_cell *sum);

/* The bisects of results_dir (<results>/bisect/<id>/bisect.json, lab/bisect.h):
 * a section of the runs index listing them, newest first, and each one's page
 * at OUT/bisect/<id>.html. Nothing when there is none. */
int web_bisects_section(struct web_page *p, const char *results_dir, const char *out);

/* The embedded assets (generated from web/assets/ by web/CMakeLists.txt). */
struct web_asset {
	const char *name;
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_n_assets;

#endif
