/* The dashboard site: finds the runs of a results directory, orders them in
 * time, works out regressions against the previous run of the same matrix
 * (and first bad / last good per failing cell), and writes the runs index,
 * one page per run (the matrix grid) and, through web-cell.c, one page per
 * cell. Cells are streamed: one cell.json in memory at a time, a small
 * summary kept per cell for the run page. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "web-internal.h"
#include "web.h"
#include "ml-common.h"

#define RUN_JSON_LIMIT ((size_t)64 << 20)
#define CELL_JSON_LIMIT ((size_t)64 << 20)
#define TREND_MAX_RUNS 60

static const char *const verdict_order[] = { "pass", "fail", "intermittent", "source-unsound",
					     "destination-unsound", "xfail", "xpass", "skip", "error" };

struct web_run {
	char *dir;        /* absolute run directory */
	char *id;         /* run_id (or the directory name) */
	char *file;       /* directory name in the site */
	char *matrix;     /* matrix name; "" for runs of single cells */
	char *started;    /* ISO 8601 UTC: the sort key */
	json_t *doc;      /* run.json */
	json_t *verdicts; /* cell_id -> verdict */
	bool render;
	bool page_exists; /* rendered now or earlier */
	struct web_run *prev; /* the previous run of the same matrix */
	struct web_cell *cells;
	size_t n_cells;
	bool loaded;
	long long n_new_fail, n_fixed, n_still; /* against prev, from verdicts */
};

struct web_site {
	struct web_run **runs; /* chronological */
	size_t n;
	char *out;             /* absolute output directory */
	const struct ml_web_options *opt;
	size_t tail_pass, tail_other;
	const char *results_dir; /* NULL when only named runs are rendered */
};

static void run_free(struct web_run *r)
{
	if (!r)
		return;
	free(r->dir);
	free(r->id);
	free(r->file);
	free(r->matrix);
	free(r->started);
	json_decref(r->doc);
	json_decref(r->verdicts);
	for (size_t i = 0; i < r->n_cells; i++)
		web_cell_clear(&r->cells[i]);
	free(r->cells);
	free(r);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Read <dir>/run.json into a new run; NULL (with a warning) if unreadable. */
static struct web_run *run_open(const char *dir)
{
	char abs[PATH_MAX];
	ml_autofree char *path = NULL;
	struct web_run *r;
	json_t *doc, *cells, *c;
	const char *s;
	size_t i;

	if (!realpath(dir, abs)) {
		fprintf(stderr, "miglab: warning: skipping run %s: %s\n", dir, strerror(errno));
		return NULL;
	}
	path = ml_path_join(abs, "run.json");
	doc = ml_json_load_file(path, RUN_JSON_LIMIT);
	if (!doc || !json_is_object(doc)) {
		fprintf(stderr, "miglab: warning: skipping run %s: %s\n", dir,
			doc ? "run.json is not an object" : ml_error_message());
		json_decref(doc);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->doc = doc;
	r->dir = strdup(abs);
	s = ml_json_str(doc, "run_id");
	r->id = strdup(s && *s ? s : base_name(abs));
	r->file = web_safe_name(base_name(abs));
	s = ml_json_str(json_object_get(doc, "matrix"), "name");
	r->matrix = strdup(s ? s : "");
	s = ml_json_str(doc, "started_at");
	if (!s)
		s = ml_json_str(doc, "finished_at");
	r->started = strdup(s ? s : "");
	r->verdicts = json_object();
	cells = json_object_get(doc, "cells");
	json_array_foreach(cells, i, c) {
		const char *id = ml_json_str(c, "cell_id"), *v = ml_json_str(c, "category");
		if (!v)
			v = ml_json_str(c, "verdict");
		if (id)
			ml_json_set_str(r->verdicts, id, web_verdict(v));
	}
	if (!r->dir || !r->id || !r->file || !r->matrix || !r->started)
		abort();
	return r;
}

static int cmp_run_time(const void *a, const void *b)
{
	const struct web_run *x = *(struct web_run *const *)a, *y = *(struct web_run *const *)b;
	int c = strcmp(x->started, y->started);

	return c ? c : strcmp(x->id, y->id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void site_add(struct web_site *s, struct web_run *r, size_t *cap)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->runs[i]->dir, r->dir) == 0) {
			s->runs[i]->render |= r->render;
			run_free(r);
			return;
		}
	if (s->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		s->runs = realloc(s->runs, *cap * sizeof(*s->runs));
		if (!s->runs)
			abort();
	}
	s->runs[s->n++] = r;
}

/* Every directory of results_dir that holds a run.json. */
static int site_scan(struct web_site *s, const char *results_dir, bool render, size_t *cap)
{
	DIR *d = opendir(results_dir);
	struct dirent *e;

	if (!d) {
		ml_error_errno(errno, "opening the results directory %s", results_dir);
		return -1;
	}
	while ((e = readdir(d))) {
		ml_autofree char *dir = NULL;
		ml_autofree char *rj = NULL;
		struct web_run *r;
		if (e->d_name[0] == '.')
			continue;
		dir = ml_path_join(results_dir, e->d_name);
		rj = ml_path_join(dir, "run.json");
		if (!ml_path_exists(rj))
			continue;
		r = run_open(dir);
		if (!r)
			continue;
		r->render = render;
		site_add(s, r, cap);
	}
	closedir(d);
	return 0;
}

/* Distinct site directory names for runs from different places. */
static void site_unique_files(struct web_site *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->runs[i]->file, s->runs[j]->file) == 0) {
				char *f = ml_strdup_printf("%s-%zu", s->runs[i]->file, i);
				free(s->runs[i]->file);
				s->runs[i]->file = f;
				j = (size_t)-1; /* check the new name again */
			}
}

static const char *run_verdict_of(const struct web_run *r, const char *cell_id)
{
	return ml_json_str(r->verdicts, cell_id);
}

void web_history_lookup(const struct web_run *r, const char *cell_id,
			struct web_history_ref *first_bad, struct web_history_ref *last_good)
{
	memset(first_bad, 0, sizeof(*first_bad));
	memset(last_good, 0, sizeof(*last_good));
	if (web_verdict_bad(run_verdict_of(r, cell_id))) {
		first_bad->run_id = r->id;
		first_bad->run_file = r->file;
	}
	for (const struct web_run *q = r->prev; q; q = q->prev) {
		const char *v = run_verdict_of(q, cell_id);
		if (!v)
			continue; /* not in that run */
		if (web_verdict_bad(v)) {
			first_bad->run_id = q->id;
			first_bad->run_file = q->file;
		} else if (strcmp(v, "pass") == 0 || strcmp(v, "xpass") == 0) {
			last_good->run_id = q->id;
			last_good->run_file = q->file;
			return;
		}
		/* skip, xfail: neither good nor bad; look further back */
	}
}

/* Link each run to the previous run of the same matrix; count regressions
 * from the verdicts alone (the index shows them for every run). */
static void site_link_history(struct web_site *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct web_run *r = s->runs[i];
		const char *id;
		json_t *v;
		for (size_t j = i; j-- > 0;)
			if (strcmp(s->runs[j]->matrix, r->matrix) == 0) {
				r->prev = s->runs[j];
				break;
			}
		if (!r->prev)
			continue;
		json_object_foreach(r->verdicts, id, v) {
			const char *now = json_string_value(v), *before = run_verdict_of(r->prev, id);
			/* intermittent and unsound cells are neither new failures nor fixes */
			if (web_verdict_bad(now) && !web_verdict_bad(before) && !web_verdict_unsettled(before))
				r->n_new_fail++;
			else if (web_verdict_bad(now))
				r->n_still++;
			else if (web_verdict_bad(before) && !web_verdict_unsettled(now))
				r->n_fixed++;
		}
	}
}

static int cmp_cell_id(const void *a, const void *b)
{
	return strcmp(((const struct web_cell *)a)->id, ((const struct web_cell *)b)->id);
}

/* Read every cell of r (one cell.json at a time), keep summaries, and write
 * the cell pages when pages is true. */
static int run_load_cells(struct web_site *s, struct web_run *r, bool pages)
{
	ml_autofree char *cells_dir = ml_path_join(r->dir, "cells");
	ml_autofree char *cells_out = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0, ncap = 0;
	struct dirent *e;
	DIR *d;
	int rc = 0;
	struct web_cell_ctx ctx = {
		.run = r,
		.run_id = r->id,
		.run_file = r->file,
		.tail_pass = s->tail_pass,
		.tail_other = s->tail_other,
	};

	if (r->loaded)
		return 0;
	r->loaded = true;
	if (pages) {
		ml_autofree char *run_out = ml_path_join(s->out, r->file);
		cells_out = ml_path_join(run_out, "cells");
		if (ml_mkdir_p(cells_out, 0755) < 0)
			return -1;
		ctx.cells_out = cells_out;
	}
	d = opendir(cells_dir);
	if (!d)
		return 0; /* a run with no cell yet */
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == ncap) {
			ncap = ncap ? ncap * 2 : 256;
			names = realloc(names, ncap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n] = strdup(e->d_name);
		if (!names[n])
			abort();
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	/* the real verdicts replace run.json's list (a run being written may lag) */
	for (size_t i = 0; i < n; i++) {
		ml_autofree char *cdir = ml_path_join(cells_dir, names[i]);
		ml_autofree char *path = ml_path_join(cdir, ML_LAYOUT_CELL_FILE);
		ml_autofree char *edir = NULL;
		json_t *doc;
		struct web_cell sum;

		if (!ml_path_exists(path))
			continue;
		doc = ml_json_load_file(path, CELL_JSON_LIMIT);
		if (!doc || !json_is_object(doc)) {
			fprintf(stderr, "miglab: warning: skipping unreadable %s: %s\n", path,
				doc ? "not a cell" : ml_error_message());
			json_decref(doc);
			continue;
		}
		web_cell_summary(doc, names[i], &sum);
		ml_json_set_str(r->verdicts, sum.id, sum.verdict);
		edir = ml_layout_evidence_dir(cdir, doc);
		if (pages && web_cell_page(&ctx, doc, edir, &sum) < 0) {
			json_decref(doc);
			web_cell_clear(&sum);
			rc = -1;
			break;
		}
		json_decref(doc);
		if (r->n_cells == cap) {
			cap = cap ? cap * 2 : 256;
			r->cells = realloc(r->cells, cap * sizeof(*r->cells));
			if (!r->cells)
				abort();
		}
		r->cells[r->n_cells++] = sum;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r->n_cells)
		qsort(r->cells, r->n_cells, sizeof(*r->cells), cmp_cell_id);
	return rc;
}

static const struct web_cell *run_find_cell(const struct web_run *r, const char *id)
{
	size_t lo = 0, hi = r->n_cells;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(r->cells[mid].id, id);
		if (c == 0)
			return &r->cells[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

json_t *web_run_machine_abi(const struct web_run *r, const char *id)
{
	size_t i;
	json_t *e;

	if (!r || !id)
		return NULL;
	json_array_foreach(json_object_get(r->doc, "machine_abi"), i, e) {
		const char *eid = ml_json_str(e, "id");
		if (eid && strcmp(eid, id) == 0)
			return e;
	}
	return NULL;
}

/* Judgement counts of a run: run.json's, else from the cells' verdicts. */
static long long run_count(const struct web_run *r, const char *verdict)
{
	json_t *counts = json_object_get(r->doc, "judgements");
	const char *id;
	json_t *v;
	long long n = 0;

	if (json_is_object(counts) && !r->loaded)
		return ml_json_int(counts, verdict, 0);
	json_object_foreach(r->verdicts, id, v)
		n += strcmp(json_string_value(v), verdict) == 0;
	return n;
}

static void wp_counts(struct web_page *p, const struct web_run *r)
{
	for (size_t i = 0; i < ML_ARRAY_SIZE(verdict_order); i++) {
		long long n = run_count(r, verdict_order[i]);
		if (n)
			wp_printf(p, "<span class=\"badge v-%s\">%lld %s</span> ", verdict_order[i], n,
				  verdict_order[i]);
	}
}

/* "1.2.3" -> integers; compares as tuples, never as strings. */
static int cmp_version(const char *a, const char *b)
{
	if (!a || !b)
		return a ? -1 : b ? 1 : 0;
	while (*a || *b) {
		char *ea, *eb;
		long x, y;
		while (*a && (*a < '0' || *a > '9'))
			a++;
		while (*b && (*b < '0' || *b > '9'))
			b++;
		if (!*a || !*b)
			return *a ? 1 : *b ? -1 : 0;
		x = strtol(a, &ea, 10);
		y = strtol(b, &eb, 10);
		if (x != y)
			return x < y ? -1 : 1;
		a = ea;
		b = eb;
	}
	return 0;
}

/* A build of the grid: its provider and version. */
struct axis_build {
	const char *provider;
	const char *version;
};

static int cmp_axis_build(const void *a, const void *b)
{
	const struct axis_build *x = a, *y = b;
	int c = cmp_version(x->version, y->version);

	return c ? c : strcmp(x->provider, y->provider);
}

/* Machine types: by family, then version as integers. */
static int cmp_machine(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	const char *dx = strrchr(x, '-'), *dy = strrchr(y, '-');
	size_t fx = dx ? (size_t)(dx - x) : strlen(x), fy = dy ? (size_t)(dy - y) : strlen(y);
	int c = strncmp(x, y, fx < fy ? fx : fy);

	if (c || fx != fy)
		return c ? c : (fx < fy ? -1 : 1);
	c = cmp_version(dx, dy);
	return c ? c : strcmp(x, y);
}

struct grid {
	struct axis_build *builds;
	size_t n_builds;
	const char **machines;
	size_t n_machines;
	const char **kernels;
	size_t n_kernels;
	const char **classes;
	size_t n_classes;
	json_t *rank; /* "b:" provider / "m:" machine / "k:" kernel -> index */
};

static void add_unique(const char ***arr, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i], s) == 0)
			return;
	*arr = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!*arr)
		abort();
	(*arr)[(*n)++] = s;
}

static void add_build(struct grid *g, const char *provider, const char *version)
{
	for (size_t i = 0; i < g->n_builds; i++)
		if (strcmp(g->builds[i].provider, provider) == 0)
			return;
	g->builds = realloc(g->builds, (g->n_builds + 1) * sizeof(*g->builds));
	if (!g->builds)
		abort();
	g->builds[g->n_builds].provider = provider;
	g->builds[g->n_builds].version = version;
	g->n_builds++;
}

static void set_rank(json_t *rank, char kind, const char *name, size_t i)
{
	ml_autofree char *k = ml_strdup_printf("%c:%s", kind, name);
	ml_json_set_int(rank, k, (long long)i);
}

static long long get_rank(json_t *rank, char kind, const char *name)
{
	ml_autofree char *k = ml_strdup_printf("%c:%s", kind, name);
	return ml_json_int(rank, k, 0);
}

static void grid_build(struct grid *g, const struct web_run *r)
{
	memset(g, 0, sizeof(*g));
	g->rank = json_object();
	for (size_t i = 0; i < r->n_cells; i++) {
		const struct web_cell *c = &r->cells[i];
		add_build(g, c->src, c->src_version);
		add_build(g, c->dst, c->dst_version);
		add_unique(&g->machines, &g->n_machines, c->machine);
		add_unique(&g->kernels, &g->n_kernels, c->kernel);
		if (c->cls)
			add_unique(&g->classes, &g->n_classes, c->cls);
	}
	if (g->n_builds)
		qsort(g->builds, g->n_builds, sizeof(*g->builds), cmp_axis_build);
	if (g->n_machines)
		qsort(g->machines, g->n_machines, sizeof(*g->machines), cmp_machine);
	if (g->n_kernels)
		qsort(g->kernels, g->n_kernels, sizeof(*g->kernels), cmp_str);
	if (g->n_classes)
		qsort(g->classes, g->n_classes, sizeof(*g->classes), cmp_str);
	for (size_t i = 0; i < g->n_builds; i++)
		set_rank(g->rank, 'b', g->builds[i].provider, i);
	for (size_t i = 0; i < g->n_machines; i++)
		set_rank(g->rank, 'm', g->machines[i], i);
	for (size_t i = 0; i < g->n_kernels; i++)
		set_rank(g->rank, 'k', g->kernels[i], i);
}

static void grid_clear(struct grid *g)
{
	free(g->builds);
	free(g->machines);
	free(g->kernels);
	free(g->classes);
	json_decref(g->rank);
}

/* The grid order of a cell: kernel, source, destination, machine. */
struct grid_key {
	long long k, s, d, m;
	const struct web_cell *c;
};

static int cmp_grid_key(const void *a, const void *b)
{
	const struct grid_key *x = a, *y = b;

	if (x->k != y->k)
		return x->k < y->k ? -1 : 1;
	if (x->s != y->s)
		return x->s < y->s ? -1 : 1;
	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	if (x->m != y->m)
		return x->m < y->m ? -1 : 1;
	return strcmp(x->c->id, y->c->id);
}

/* "debian:bookworm" -> "bookworm" for the grid headers. */
static const char *short_provider(const char *p)
{
	return strncmp(p, "debian:", 7) == 0 ? p + 7 : p;
}

/* "pc-q35-7.2" -> "q35-7.2". */
static const char *short_machine(const char *m)
{
	return strncmp(m, "pc-", 3) == 0 && m[3] ? m + 3 : m;
}

static const char *verdict_mark(const char *v)
{
	static const char *const marks[] = { "\xe2\x9c\x93", "\xe2\x9c\x97", "~", "U", "U",
					     "x\xe2\x9c\x97", "!", "\xe2\x80\x93", "E" };

	for (size_t i = 0; i < ML_ARRAY_SIZE(verdict_order); i++)
		if (strcmp(v, verdict_order[i]) == 0)
			return marks[i];
	return "?";
}

/* The machine type of the cell's build pair breaks (run.json machine_abi). */
static bool cell_mt_break(const struct web_cell *c)
{
	return c->mt_verdict && strcmp(c->mt_verdict, "break") == 0;
}

/* data-* attributes the filters read. */
static void wp_cell_data(struct web_page *p, const struct web_cell *c)
{
	wp_puts(p, " data-m=\"");
	wp_esc(p, c->machine);
	wp_puts(p, "\" data-k=\"");
	wp_esc(p, c->kernel);
	wp_printf(p, "\" data-v=\"%s\" data-a=\"%d\" data-b=\"%d\" data-c=\"", c->verdict, c->abi ? 1 : 0,
		  cell_mt_break(c) ? 1 : 0);
	wp_esc(p, c->cls ? c->cls : "");
	wp_puts(p, "\"");
}

static void wp_square(struct web_page *p, const struct web_cell *c)
{
	wp_printf(p, "<a class=\"sq v-%s%s%s\" href=\"cells/", c->verdict, c->abi ? " abi" : "",
		  cell_mt_break(c) ? " mtb" : "");
	wp_url(p, c->file);
	wp_puts(p, ".html\"");
	wp_cell_data(p, c);
	wp_puts(p, " title=\"");
	wp_esc(p, c->machine);
	wp_printf(p, ": %s", c->verdict);
	if (c->cls) {
		wp_puts(p, " (");
		wp_esc(p, c->cls);
		wp_puts(p, ")");
	}
	if (c->abi)
		wp_puts(p, c->abi_severity ? ", ABI error" : ", ABI change");
	if (cell_mt_break(c))
		wp_puts(p, ", machine-type ABI break");
	if (c->repeat) {
		wp_puts(p, ", ");
		wp_esc(p, c->repeat);
	}
	if (c->unsound) {
		wp_puts(p, "; ");
		wp_esc(p, c->unsound);
	}
	wp_puts(p, "\">");
	wp_esc(p, short_machine(c->machine));
	wp_printf(p, " <b>%s</b>%s</a>", verdict_mark(c->verdict), cell_mt_break(c) ? "<i>\xe2\x89\xa0</i>" : "");
}

static void grids_section(struct web_page *p, const struct web_run *r, const struct grid *g)
{
	struct grid_key *keys = calloc(r->n_cells ? r->n_cells : 1, sizeof(*keys));
	size_t at = 0;

	if (!keys)
		abort();
	for (size_t i = 0; i < r->n_cells; i++) {
		const struct web_cell *c = &r->cells[i];
		keys[i] = (struct grid_key){ get_rank(g->rank, 'k', c->kernel), get_rank(g->rank, 'b', c->src),
					     get_rank(g->rank, 'b', c->dst), get_rank(g->rank, 'm', c->machine), c };
	}
	if (r->n_cells)
		qsort(keys, r->n_cells, sizeof(*keys), cmp_grid_key);
	for (size_t k = 0; k < g->n_kernels; k++) {
		wp_puts(p, "<section class=\"grid\" data-k=\"");
		wp_esc(p, g->kernels[k]);
		wp_puts(p, "\"><h3>guest kernel <code>");
		wp_esc(p, g->kernels[k]);
		wp_puts(p, "</code></h3>\n<div class=\"scroll\"><table class=\"matrix\">\n<thead><tr>"
			   "<th class=\"corner\">source &darr; / destination &rarr;</th>");
		for (size_t d = 0; d < g->n_builds; d++) {
			wp_puts(p, "<th scope=\"col\" title=\"");
			wp_esc(p, g->builds[d].provider);
			wp_puts(p, "\">");
			wp_esc(p, short_provider(g->builds[d].provider));
			wp_puts(p, "<br><small>");
			wp_esc(p, g->builds[d].version);
			wp_puts(p, "</small></th>");
		}
		wp_puts(p, "</tr></thead>\n<tbody>\n");
		for (size_t s = 0; s < g->n_builds; s++) {
			wp_puts(p, "<tr><th scope=\"row\" title=\"");
			wp_esc(p, g->builds[s].provider);
			wp_puts(p, "\">");
			wp_esc(p, short_provider(g->builds[s].provider));
			wp_puts(p, "<br><small>");
			wp_esc(p, g->builds[s].version);
			wp_puts(p, "</small></th>");
			for (size_t d = 0; d < g->n_builds; d++) {
				wp_printf(p, "<td%s>", s == d ? " class=\"control\"" : "");
				while (at < r->n_cells && keys[at].k == (long long)k && keys[at].s == (long long)s &&
				       keys[at].d == (long long)d)
					wp_square(p, keys[at++].c);
				wp_puts(p, "</td>");
			}
			wp_puts(p, "</tr>\n");
		}
		wp_puts(p, "</tbody></table></div></section>\n");
	}
	free(keys);
}

static void filters_form(struct web_page *p, const struct grid *g)
{
	wp_puts(p, "<form id=\"filters\" class=\"filters\" hidden>\n<label>machine <select name=\"m\">"
		   "<option value=\"\">all</option>");
	for (size_t i = 0; i < g->n_machines; i++) {
		wp_puts(p, "<option value=\"");
		wp_esc(p, g->machines[i]);
		wp_puts(p, "\">");
		wp_esc(p, g->machines[i]);
		wp_puts(p, "</option>");
	}
	wp_puts(p, "</select></label>\n<label>kernel <select name=\"k\"><option value=\"\">all</option>");
	for (size_t i = 0; i < g->n_kernels; i++) {
		wp_puts(p, "<option value=\"");
		wp_esc(p, g->kernels[i]);
		wp_puts(p, "\">");
		wp_esc(p, g->kernels[i]);
		wp_puts(p, "</option>");
	}
	wp_puts(p, "</select></label>\n<label>verdict <select name=\"v\"><option value=\"\">all</option>");
	for (size_t i = 0; i < ML_ARRAY_SIZE(verdict_order); i++)
		wp_printf(p, "<option value=\"%s\">%s</option>", verdict_order[i], verdict_order[i]);
	wp_puts(p, "<option value=\"abi\">ABI error</option><option value=\"mtb\">machine-type ABI "
		   "break</option></select></label>\n"
		   "<label>failure class <select name=\"c\"><option value=\"\">all</option>");
	for (size_t i = 0; i < g->n_classes; i++) {
		wp_puts(p, "<option value=\"");
		wp_esc(p, g->classes[i]);
		wp_puts(p, "\">");
		wp_esc(p, g->classes[i]);
		wp_puts(p, "</option>");
	}
	wp_puts(p, "</select></label>\n<button type=\"reset\">show all</button> "
		   "<output id=\"shown\" class=\"dim\"></output>\n</form>\n");
}

static void legend(struct web_page *p)
{
	wp_puts(p, "<p class=\"legend\">");
	for (size_t i = 0; i < ML_ARRAY_SIZE(verdict_order); i++)
		wp_printf(p, "<span class=\"sq v-%s\">%s <b>%s</b></span> ", verdict_order[i], verdict_order[i],
			  verdict_mark(verdict_order[i]));
	wp_puts(p, "<span class=\"sq v-pass abi\">ABI error</span> <span class=\"sq v-pass mtb\">machine-type "
		   "ABI break <i>\xe2\x89\xa0</i></span> "
		   "<span class=\"dim\">One square per machine type; the diagonal holds the control "
		   "cells (same build both sides).</span></p>\n");
}

static void wp_run_link(struct web_page *p, const struct web_run *r, const char *root)
{
	if (r->page_exists) {
		wp_puts(p, "<a href=\"");
		wp_puts(p, root);
		wp_url(p, r->file);
		wp_puts(p, "/index.html\">");
		wp_esc(p, r->id);
		wp_puts(p, "</a>");
	} else {
		wp_esc(p, r->id);
	}
}

static void wp_cell_link(struct web_page *p, const struct web_cell *c)
{
	wp_puts(p, "<a href=\"cells/");
	wp_url(p, c->file);
	wp_puts(p, ".html\">");
	wp_esc(p, c->id);
	wp_puts(p, "</a>");
}

struct regression_row {
	const struct web_cell *cell;
	const char *before;
};

static void regression_table(struct web_page *p, const struct web_run *r, const char *title,
			     const char *id, const struct regression_row *rows, size_t n, bool history)
{
	wp_printf(p, "<h3 id=\"%s\">%s <span class=\"count\">%zu</span></h3>\n", id, title, n);
	if (!n)
		return;
	wp_printf(p, "<div class=\"scroll\"><table class=\"list\"><thead><tr><th>cell</th><th>now</th>"
		     "<th>before</th><th>class</th>%s</tr></thead><tbody>\n",
		  history ? "<th>first bad</th><th>last good</th>" : "");
	for (size_t i = 0; i < n; i++) {
		const struct web_cell *c = rows[i].cell;
		wp_puts(p, "<tr");
		wp_cell_data(p, c);
		wp_puts(p, "><td>");
		wp_cell_link(p, c);
		wp_puts(p, "</td><td>");
		wp_verdict(p, c->verdict);
		wp_puts(p, "</td><td>");
		if (rows[i].before)
			wp_verdict(p, rows[i].before);
		else
			wp_puts(p, "<span class=\"dim\">new cell</span>");
		wp_puts(p, "</td><td><code>");
		wp_esc(p, c->cls);
		wp_puts(p, "</code></td>");
		if (history) {
			struct web_history_ref fb, lg;
			web_history_lookup(r, c->id, &fb, &lg);
			wp_puts(p, "<td>");
			if (fb.run_id) {
				wp_puts(p, "<a href=\"../");
				wp_url(p, fb.run_file);
				wp_puts(p, "/index.html\">");
				wp_esc(p, fb.run_id);
				wp_puts(p, "</a>");
			}
			wp_puts(p, "</td><td>");
			if (lg.run_id) {
				wp_puts(p, "<a href=\"../");
				wp_url(p, lg.run_file);
				wp_puts(p, "/index.html\">");
				wp_esc(p, lg.run_id);
				wp_puts(p, "</a>");
			} else {
				wp_puts(p, "<span class=\"dim\">never passed</span>");
			}
			wp_puts(p, "</td>");
		}
		wp_puts(p, "</tr>\n");
	}
	wp_puts(p, "</tbody></table></div>\n");
}

static void regressions_section(struct web_site *s, struct web_page *p, struct web_run *r)
{
	struct regression_row *lists[4];
	size_t n[4] = { 0 };
	struct web_run *prev = r->prev;

	wp_puts(p, "<section id=\"regressions\"><h2>Regressions</h2>\n");
	if (!prev) {
		wp_puts(p, "<p class=\"dim\">No earlier run of this matrix in the results directory.</p>\n");
		/* still give first bad / last good: none; list the failing cells */
	} else {
		if (run_load_cells(s, prev, false) < 0)
			ml_error_print();
		wp_puts(p, "<p>Compared with the previous run of matrix <code>");
		wp_esc(p, r->matrix);
		wp_puts(p, "</code>: ");
		wp_run_link(p, prev, "../");
		wp_puts(p, " (");
		wp_esc(p, prev->started);
		wp_puts(p, ").</p>\n");
	}
	for (int k = 0; k < 4; k++) {
		lists[k] = calloc(r->n_cells + 1, sizeof(**lists));
		if (!lists[k])
			abort();
	}
	for (size_t i = 0; i < r->n_cells; i++) {
		const struct web_cell *c = &r->cells[i];
		const char *before = prev ? run_verdict_of(prev, c->id) : NULL;
		const struct web_cell *pc = prev ? run_find_cell(prev, c->id) : NULL;
		bool bad = web_verdict_bad(c->verdict);
		/* intermittent and unsound cells are neither new failures nor fixes */
		if (bad && prev && !web_verdict_bad(before) && !web_verdict_unsettled(before))
			lists[0][n[0]++] = (struct regression_row){ c, before };
		else if (bad)
			lists[1][n[1]++] = (struct regression_row){ c, before };
		else if (web_verdict_bad(before) && !web_verdict_unsettled(c->verdict))
			lists[2][n[2]++] = (struct regression_row){ c, before };
		if (prev && c->abi && !(pc && pc->abi))
			lists[3][n[3]++] = (struct regression_row){ c, before };
	}
	if (prev)
		regression_table(p, r, "New failures", "new-failures", lists[0], n[0], true);
	regression_table(p, r, prev ? "Still failing" : "Failing", "still-failing", lists[1], n[1], true);
	if (prev) {
		regression_table(p, r, "Fixed", "fixed", lists[2], n[2], false);
		regression_table(p, r, "New ABI changes", "new-abi", lists[3], n[3], false);
	}
	for (int k = 0; k < 4; k++)
		free(lists[k]);
	wp_puts(p, "</section>\n");
}

struct class_count {
	const char *cls;
	const char *title;
	long long n;
};

static int cmp_class_count(const void *a, const void *b)
{
	const struct class_count *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->cls, y->cls);
}

static void classes_section(struct web_page *p, const struct web_run *r, const struct grid *g)
{
	struct class_count *cc = calloc(g->n_classes + 1, sizeof(*cc));

	if (!cc)
		abort();
	wp_puts(p, "<section id=\"classes\"><h2>Failure classes</h2>\n");
	for (size_t i = 0; i < g->n_classes; i++)
		cc[i].cls = g->classes[i];
	for (size_t i = 0; i < r->n_cells; i++) {
		const struct web_cell *c = &r->cells[i];
		for (size_t k = 0; c->cls && k < g->n_classes; k++)
			if (strcmp(cc[k].cls, c->cls) == 0) {
				cc[k].n++;
				if (!cc[k].title)
					cc[k].title = c->cls_title;
				break;
			}
	}
	if (g->n_classes)
		qsort(cc, g->n_classes, sizeof(*cc), cmp_class_count);
	if (!g->n_classes) {
		wp_puts(p, "<p class=\"dim\">No classified failure.</p>\n");
	} else {
		wp_puts(p, "<table class=\"list\"><thead><tr><th>class</th><th>cells</th><th>title</th></tr>"
			   "</thead><tbody>\n");
		for (size_t i = 0; i < g->n_classes; i++) {
			wp_puts(p, "<tr><td><code>");
			wp_esc(p, cc[i].cls);
			wp_printf(p, "</code></td><td class=\"num\">%lld</td><td>", cc[i].n);
			wp_esc(p, cc[i].title);
			wp_puts(p, "</td></tr>\n");
		}
		wp_puts(p, "</tbody></table>\n");
	}
	free(cc);
	wp_puts(p, "</section>\n");
}

/* Builds that fail migrating to themselves on this host, once per build
 * (run.json "unsound_builds", from the judging stage): the cells they
 * explain carry the U mark instead of counting as the pair's failures. */
static void unsound_section(struct web_page *p, const struct web_run *r)
{
	json_t *list = json_object_get(r->doc, "unsound_builds"), *e, *c;
	size_t i, k;

	if (!json_array_size(list))
		return;
	wp_puts(p, "<section class=\"unsound\" id=\"unsound-builds\"><h2>Builds that fail their own "
		   "controls on this host</h2>\n<ul>\n");
	json_array_foreach(list, i, e) {
		wp_puts(p, "<li>");
		wp_esc(p, ml_json_str(e, "text"));
		json_array_foreach(json_object_get(e, "controls"), k, c) {
			const struct web_cell *cell = run_find_cell(r, json_string_value(c));
			if (!cell)
				continue;
			wp_puts(p, k ? ", " : "; controls: ");
			wp_cell_link(p, cell);
		}
		wp_puts(p, "</li>\n");
	}
	wp_puts(p, "</ul>\n<p class=\"dim\">A failure of another cell that fails the same way as the "
		   "build migrating to itself is that build's defect here (marked U), not an "
		   "incompatibility of the pair.</p></section>\n");
}

/* At most this many differences of one kind are listed per machine-type
 * entry on the run page (the cells' pages list them all), and a difference's
 * detail is cut to this many bytes. */
#define MT_DIFFS_PER_KIND 20
#define MT_DETAIL_MAX 2048
#define MT_CELLS_MAX 48

/* in the order of web_mt_verdict_rank */
static const char *const mt_verdict_names[] = { "break", "warn", "info", "same", "unknown" };

struct mt_row {
	json_t *e;
	int rank;
	size_t at;
};

static int cmp_mt_row(const void *a, const void *b)
{
	const struct mt_row *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

struct mt_kind {
	const char *name;
	int sev;             /* web_severity_rank */
	const char *sev_name; /* web_severity */
	long long count;
};

static int cmp_mt_kind(const void *a, const void *b)
{
	const struct mt_kind *x = a, *y = b;

	if (x->sev != y->sev)
		return x->sev > y->sev ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* An entry's kinds ({KIND: {severity, count}}) worst first, plus any kind
 * its differences name that "kinds" lacks. Caller frees the array. */
static struct mt_kind *mt_kinds(json_t *e, size_t *n_out)
{
	json_t *kinds = json_object_get(e, "kinds"), *diffs = json_object_get(e, "differences"), *v, *d;
	size_t n = 0, cap = json_object_size(kinds) + json_array_size(diffs) + 1, i;
	struct mt_kind *k = calloc(cap, sizeof(*k));
	const char *name;

	if (!k)
		abort();
	json_object_foreach(kinds, name, v)
		k[n++] = (struct mt_kind){ name, web_severity_rank(ml_json_str(v, "severity")),
					   web_severity(ml_json_str(v, "severity")), ml_json_int(v, "count", 0) };
	json_array_foreach(diffs, i, d) {
		const char *dk = ml_json_str(d, "kind");
		size_t j;
		if (!dk || json_object_get(kinds, dk))
			continue;
		for (j = 0; j < n && strcmp(k[j].name, dk) != 0; j++)
			;
		if (j == n)
			k[n++] = (struct mt_kind){ dk, web_severity_rank(ml_json_str(d, "severity")),
						   web_severity(ml_json_str(d, "severity")), 0 };
		k[j].count++;
	}
	if (n)
		qsort(k, n, sizeof(*k), cmp_mt_kind);
	*n_out = n;
	return k;
}

/* A kind with its count and severity: "virtio-queue 69 error", coloured by
 * the severity (the word says it too). */
static void wp_mt_kind(struct web_page *p, const struct mt_kind *k)
{
	wp_printf(p, "<span class=\"badge sev-%s\">", k->sev_name);
	wp_esc(p, k->name);
	wp_printf(p, " %lld %s</span> ", k->count, k->sev_name);
}

/* The differences of one kind (NULL: those without a kind), capped. */
static void mt_diffs_of_kind(struct web_page *p, json_t *diffs, const char *kind)
{
	size_t i, shown = 0, total = 0;
	json_t *d;

	json_array_foreach(diffs, i, d) {
		const char *dk = ml_json_str(d, "kind");
		if (kind ? !dk || strcmp(dk, kind) != 0 : dk != NULL)
			continue;
		if (total++ >= MT_DIFFS_PER_KIND)
			continue;
		if (!shown++)
			wp_puts(p, "<div class=\"scroll\"><table class=\"diffs\"><thead><tr><th>severity</th>"
				   "<th>section</th><th>key</th><th>what</th><th>before</th><th>after</th></tr>"
				   "</thead><tbody>\n");
		wp_abi_diff_row(p, d, false, MT_DETAIL_MAX);
	}
	if (shown)
		wp_puts(p, "</tbody></table></div>\n");
	if (total > shown)
		wp_printf(p, "<p class=\"dim more\">%zu more of this kind (every difference is on the pages "
			     "of the cells)</p>\n", total - shown);
}

/* The cells of an entry as small squares: direction, kernel, verdict. */
static void mt_cells(struct web_page *p, const struct web_run *r, json_t *cells)
{
	size_t i, shown = 0;
	json_t *id;

	json_array_foreach(cells, i, id) {
		const struct web_cell *c = run_find_cell(r, json_string_value(id));
		const char *k;
		if (!c)
			continue;
		if (shown++ >= MT_CELLS_MAX)
			continue;
		k = c->kernel;
		if (strncmp(k, "debian:", 7) == 0)
			k += 7;
		wp_printf(p, "<a class=\"sq v-%s%s\" href=\"cells/", c->verdict, c->abi ? " abi" : "");
		wp_url(p, c->file);
		wp_puts(p, ".html\" title=\"");
		wp_esc(p, c->id);
		wp_printf(p, ": %s\">", c->verdict);
		wp_esc(p, short_provider(c->src));
		wp_puts(p, "&rarr;");
		wp_esc(p, short_provider(c->dst));
		wp_puts(p, " ");
		wp_esc(p, k);
		wp_printf(p, " <b>%s</b></a>", verdict_mark(c->verdict));
	}
	if (shown > MT_CELLS_MAX)
		wp_printf(p, " <span class=\"dim\">and %zu more</span>", shown - MT_CELLS_MAX);
	if (!shown)
		wp_puts(p, "<span class=\"dim\">none in this run</span>");
}

static void wp_build_pair_side(struct web_page *p, json_t *b)
{
	wp_puts(p, "<code>");
	wp_esc(p, ml_json_str(b, "provider"));
	wp_puts(p, "</code> (QEMU ");
	wp_esc(p, ml_json_str(b, "version"));
	wp_puts(p, ")");
}

/* A second row under an entry: its differences in a <details>, grouped by
 * kind worst first, at most MT_DIFFS_PER_KIND of each. */
static void mt_details(struct web_page *p, json_t *e, const struct mt_kind *kinds, size_t n_kinds)
{
	json_t *diffs = json_object_get(e, "differences"), *x;
	size_t n = json_array_size(diffs), j;
	bool no_kind = false;

	if (!n && !ml_json_str(e, "summary"))
		return;
	wp_printf(p, "<tr class=\"mt-more\"><td colspan=\"6\"><details class=\"mt-diffs\"><summary>%zu "
		     "difference%s", n, n == 1 ? "" : "s");
	if (ml_json_str(e, "shown_kernel")) {
		wp_puts(p, ", booted with <code>");
		wp_esc(p, ml_json_str(e, "shown_kernel"));
		wp_puts(p, "</code>");
	}
	wp_puts(p, "</summary>\n");
	if (json_array_size(json_object_get(e, "kernels"))) {
		wp_puts(p, "<p class=\"small\">per guest kernel:");
		json_array_foreach(json_object_get(e, "kernels"), j, x) {
			wp_puts(p, j ? "; " : " ");
			wp_esc(p, ml_json_str(x, "kernel"));
			wp_printf(p, " %lld (%s)", ml_json_int(x, "count", 0), web_severity(ml_json_str(x, "severity")));
		}
		wp_puts(p, "</p>\n");
	}
	for (j = 0; j < n_kinds; j++) {
		wp_puts(p, "<h4>");
		wp_mt_kind(p, &kinds[j]);
		wp_puts(p, "</h4>\n");
		mt_diffs_of_kind(p, diffs, kinds[j].name);
	}
	json_array_foreach(diffs, j, x)
		no_kind |= ml_json_str(x, "kind") == NULL;
	if (no_kind) {
		wp_puts(p, "<h4>without a kind</h4>\n");
		mt_diffs_of_kind(p, diffs, NULL);
	}
	if (!n) {
		wp_puts(p, "<pre>");
		wp_esc_cut(p, ml_json_str(e, "summary"), MT_DETAIL_MAX);
		wp_puts(p, "</pre>\n");
	}
	wp_puts(p, "</details></td></tr>\n");
}

/* run.json "machine_abi": per build pair and machine type, how the two
 * builds' fresh boots of that machine type differ, worst first. It comes
 * before the grid: a break there explains failures below, and ABI findings
 * of info or warn are said once here instead of once per cell. */
static void machine_abi_section(struct web_page *p, const struct web_run *r)
{
	json_t *list = json_object_get(r->doc, "machine_abi"), *e;
	size_t n = json_array_size(list), i;
	struct mt_row *rows;
	size_t per[5] = { 0 };

	if (!n)
		return;
	rows = calloc(n, sizeof(*rows));
	if (!rows)
		abort();
	json_array_foreach(list, i, e) {
		rows[i] = (struct mt_row){ e, web_mt_verdict_rank(ml_json_str(e, "verdict")), i };
		per[rows[i].rank]++;
	}
	qsort(rows, n, sizeof(*rows), cmp_mt_row);
	wp_printf(p, "<section id=\"machine-abi\"><h2>Machine-type ABI <span class=\"count\">%zu</span></h2>\n"
		     "<p class=\"counts\">", n);
	for (int k = 0; k < 5; k++)
		if (per[k])
			wp_printf(p, "<span class=\"badge mt-%s\">%zu %s</span> ", mt_verdict_names[k], per[k],
				  mt_verdict_names[k]);
	wp_puts(p, "</p>\n<p class=\"dim\">Two builds booting the same machine type, compared: a "
		   "<strong>break</strong> is a guest-visible difference of severity error (CPU features, "
		   "virtio queue sizes or features, PCI ids, BARs or interrupt pins, the memory map), "
		   "which a migration between them cannot carry; warn and info are said here once and "
		   "not for each cell.</p>\n<div class=\"scroll\"><table class=\"list\" id=\"machine-abi-table\">"
		   "<thead><tr><th>builds</th><th>machine</th><th>verdict</th><th>kinds</th><th>what</th>"
		   "<th>cells</th></tr></thead><tbody>\n");
	for (i = 0; i < n; i++) {
		const char *v = web_mt_verdict(ml_json_str(rows[i].e, "verdict"));
		ml_autofree char *anchor = web_mt_anchor(ml_json_str(rows[i].e, "id"));
		struct mt_kind *kinds;
		size_t n_kinds, j;

		e = rows[i].e;
		kinds = mt_kinds(e, &n_kinds);
		wp_puts(p, "<tr class=\"mt-row\" id=\"");
		wp_esc(p, anchor);
		wp_printf(p, "\" data-mt=\"%s\"><td>", v);
		wp_build_pair_side(p, json_object_get(e, "a"));
		wp_puts(p, "<br>vs ");
		wp_build_pair_side(p, json_object_get(e, "b"));
		wp_puts(p, "</td><td><code>");
		wp_esc(p, ml_json_str(e, "machine"));
		wp_printf(p, "</code></td><td><span class=\"badge mt-%s\">%s</span></td><td>", v, v);
		for (j = 0; j < n_kinds; j++)
			wp_mt_kind(p, &kinds[j]);
		wp_puts(p, "</td><td class=\"reason\">");
		wp_esc(p, ml_json_str(e, "text"));
		wp_puts(p, "</td><td class=\"mt-cells\">");
		mt_cells(p, r, json_object_get(e, "cells"));
		wp_puts(p, "</td></tr>\n");
		mt_details(p, e, kinds, n_kinds);
		free(kinds);
	}
	wp_puts(p, "</tbody></table></div></section>\n");
	free(rows);
}

static void attention_section(struct web_page *p, const struct web_run *r)
{
	size_t n = 0, n_skip = 0;

	for (size_t i = 0; i < r->n_cells; i++) {
		n_skip += strcmp(r->cells[i].verdict, "skip") == 0;
		n += r->cells[i].attention;
	}
	wp_printf(p, "<section id=\"attention\"><h2>Cells that need attention <span class=\"count\">%zu"
		     "</span></h2>\n", n);
	if (n) {
		wp_puts(p, "<div class=\"scroll\"><table class=\"list\" id=\"attention-table\"><thead><tr>"
			   "<th>cell</th><th>verdict</th><th>class</th><th>reason</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < r->n_cells; i++) {
			const struct web_cell *c = &r->cells[i];
			if (!c->attention)
				continue;
			wp_puts(p, "<tr");
			wp_cell_data(p, c);
			wp_puts(p, "><td>");
			wp_cell_link(p, c);
			wp_puts(p, "</td><td>");
			wp_verdict(p, c->verdict);
			if (c->abi && c->abi_severity) {
				wp_puts(p, " ");
				wp_severity(p, c->abi_severity, NULL);
				wp_puts(p, "<span class=\"small\"> ABI</span>");
			} else if (c->abi) {
				wp_puts(p, " <span class=\"badge abi\">ABI change</span>");
			}
			if (cell_mt_break(c))
				wp_puts(p, " <span class=\"badge mt-break\">machine-type break</span>");
			if (c->notes & WEB_NOTE_CONTINUITY)
				wp_puts(p, " <span class=\"badge sev-warn\">continuity</span>");
			if (c->notes & WEB_NOTE_CROSSCHECK)
				wp_puts(p, " <span class=\"badge sev-warn\">ABI cross-check</span>");
			wp_puts(p, "</td><td><code>");
			wp_esc(p, c->cls);
			wp_puts(p, "</code></td><td class=\"reason\">");
			wp_esc(p, c->reason);
			if (c->explained) {
				wp_puts(p, "<br><span class=\"explained\">");
				wp_esc(p, c->explained);
				if (c->explained_mt && web_run_machine_abi(r, c->explained_mt)) {
					ml_autofree char *anchor = web_mt_anchor(c->explained_mt);
					wp_puts(p, " (<a href=\"#");
					wp_esc(p, anchor);
					wp_puts(p, "\">the machine type's ABI</a>)");
				}
				wp_puts(p, "</span>");
			}
			wp_puts(p, "</td></tr>\n");
		}
		wp_puts(p, "</tbody></table></div>\n");
	}
	if (n_skip) {
		wp_printf(p, "<details><summary>Skipped cells (%zu)</summary>\n<div class=\"scroll\"><table "
			     "class=\"list\"><tbody>\n", n_skip);
		for (size_t i = 0; i < r->n_cells; i++) {
			const struct web_cell *c = &r->cells[i];
			if (strcmp(c->verdict, "skip") != 0)
				continue;
			wp_puts(p, "<tr");
			wp_cell_data(p, c);
			wp_puts(p, "><td>");
			wp_cell_link(p, c);
			wp_puts(p, "</td><td class=\"reason\">");
			wp_esc(p, c->reason);
			wp_puts(p, "</td></tr>\n");
		}
		wp_puts(p, "</tbody></table></div></details>\n");
	}
	wp_puts(p, "</section>\n");
}

/* One fact of the host fingerprint (results/host.h) as <dt>/<dd>: a string or
 * a number as recorded, "unknown" when null or absent (older run.json files
 * have no CPU numbers; VMs have no microcode). */
static void wp_host_fact(struct web_page *p, const char *label, const json_t *v)
{
	wp_puts(p, "<div><dt>");
	wp_esc(p, label);
	wp_puts(p, "</dt><dd>");
	if (json_is_string(v))
		wp_esc(p, json_string_value(v));
	else if (json_is_integer(v))
		wp_printf(p, "%lld", (long long)json_integer_value(v));
	else
		wp_puts(p, "<span class=\"dim\">unknown</span>");
	wp_puts(p, "</dd></div>");
}

/* run.json "host": where the run ran, so that a change of results can be
 * told apart from a change of host. The CPU flags are many; they sit in a
 * <details> with their count in the summary. */
static void host_block(struct web_page *p, const struct web_run *r, json_t *host)
{
	json_t *flags = json_object_get(host, "cpu_flags");
	json_t *accel = json_object_get(host, "accel");
	size_t i;
	json_t *f;

	/* Fingerprints from runs that did not record accel in "host" (matrix
	 * runs today) have it at the top of run.json. */
	if (!json_is_string(accel))
		accel = json_object_get(r->doc, "accel");
	wp_puts(p, "<h3 id=\"host\">Host</h3>\n<p>");
	wp_esc(p, ml_json_str(host, "hostname"));
	wp_puts(p, ": Linux ");
	wp_esc(p, ml_json_str(host, "kernel"));
	wp_puts(p, ", ");
	wp_esc(p, ml_json_str(host, "arch"));
	wp_puts(p, ", ");
	wp_esc(p, ml_json_str(host, "cpu_model"));
	wp_printf(p, ", %lld CPUs, ", ml_json_int(host, "cpus", 0));
	wp_esc(p, ml_json_str(host, "memory"));
	wp_printf(p, ", /dev/kvm %s</p>\n", ml_json_bool(host, "kvm_device", false) ? "usable" : "absent");
	wp_puts(p, "<dl class=\"figs host-fingerprint\">");
	wp_host_fact(p, "CPU vendor", json_object_get(host, "cpu_vendor"));
	wp_host_fact(p, "family", json_object_get(host, "cpu_family"));
	wp_host_fact(p, "model", json_object_get(host, "cpu_model_number"));
	wp_host_fact(p, "stepping", json_object_get(host, "cpu_stepping"));
	wp_host_fact(p, "microcode", json_object_get(host, "cpu_microcode"));
	wp_host_fact(p, "kernel", json_object_get(host, "kernel"));
	wp_host_fact(p, "accelerator", accel);
	wp_puts(p, "</dl>\n");
	if (!json_is_array(flags)) {
		wp_puts(p, "<p class=\"dim\">CPU flags not recorded</p>\n");
		return;
	}
	wp_printf(p, "<details class=\"host-flags\"><summary>%zu CPU flags</summary><p><code>",
		  json_array_size(flags));
	json_array_foreach(flags, i, f) {
		if (i)
			wp_puts(p, " ");
		wp_esc(p, json_string_value(f));
	}
	wp_puts(p, "</code></p></details>\n");
}

static void builds_section(struct web_page *p, const struct web_run *r)
{
	json_t *builds = json_object_get(r->doc, "builds");
	json_t *kernels = json_object_get(r->doc, "kernels");
	json_t *host = json_object_get(r->doc, "host");
	const char *name;
	json_t *b;

	wp_puts(p, "<section id=\"builds\"><h2>Builds</h2>\n<div class=\"scroll\"><table class=\"list\"><thead>"
		   "<tr><th>name</th><th>provider</th><th>QEMU</th><th>package</th><th>sha256</th></tr>"
		   "</thead><tbody>\n");
	json_object_foreach(builds, name, b) {
		wp_puts(p, "<tr><td>");
		wp_esc(p, name);
		wp_puts(p, "</td><td><code>");
		wp_esc(p, ml_json_str(b, "provider"));
		wp_puts(p, "</code></td><td><strong>");
		wp_esc(p, ml_json_str(b, "version"));
		wp_puts(p, "</strong></td><td><code>");
		wp_esc(p, ml_json_str(b, "package_version"));
		wp_puts(p, "</code>");
		wp_build_source(p, b);
		if (ml_json_str(b, "error")) {
			wp_puts(p, " <span class=\"badge v-error\">error</span> ");
			wp_esc(p, ml_json_str(b, "error"));
		}
		wp_puts(p, "</td><td><code class=\"hash\">");
		wp_esc(p, ml_json_str(b, "sha256"));
		wp_puts(p, "</code></td></tr>\n");
	}
	wp_puts(p, "</tbody></table></div>\n");
	if (json_object_size(kernels)) {
		wp_puts(p, "<h3>Guest kernels</h3>\n<div class=\"scroll\"><table class=\"list\"><thead><tr>"
			   "<th>name</th><th>release</th><th>package</th></tr></thead><tbody>\n");
		json_object_foreach(kernels, name, b) {
			wp_puts(p, "<tr><td>");
			wp_esc(p, name);
			wp_puts(p, "</td><td>");
			wp_esc(p, ml_json_str(b, "kernel_release"));
			wp_puts(p, "</td><td><code>");
			wp_esc(p, ml_json_str(b, "kernel_package"));
			wp_puts(p, " ");
			wp_esc(p, ml_json_str(b, "kernel_package_version"));
			wp_puts(p, "</code>");
			if (ml_json_str(b, "error")) {
				wp_puts(p, " <span class=\"badge v-error\">error</span> ");
				wp_esc(p, ml_json_str(b, "error"));
			}
			wp_puts(p, "</td></tr>\n");
		}
		wp_puts(p, "</tbody></table></div>\n");
	}
	if (host)
		host_block(p, r, host);
	wp_puts(p, "</section>\n");
}

static int run_page(struct web_site *s, struct web_run *r)
{
	struct web_page p;
	struct grid g;
	ml_autofree char *dir = ml_path_join(s->out, r->file);
	ml_autofree char *path = ml_path_join(dir, "index.html");
	json_t *matrix = json_object_get(r->doc, "matrix");

	grid_build(&g, r);
	wp_init(&p);
	{
		ml_autofree char *title = ml_strdup_printf("run %s", r->id);
		wp_head(&p, title, "../");
	}
	wp_puts(&p, "<nav class=\"crumbs\"><a href=\"../index.html\">runs</a> / run</nav>\n<h1>");
	wp_esc(&p, r->id);
	wp_puts(&p, "</h1>\n<p class=\"sub\">");
	if (*r->matrix) {
		wp_puts(&p, "matrix <code>");
		wp_esc(&p, r->matrix);
		wp_puts(&p, "</code> <span class=\"dim small\" title=\"sha256 of the matrix file\">");
		wp_esc(&p, ml_json_str(matrix, "sha256"));
		wp_puts(&p, "</span> &middot; ");
	} else {
		wp_puts(&p, "kind ");
		wp_esc(&p, ml_json_str(r->doc, "kind"));
		wp_puts(&p, " &middot; ");
	}
	wp_puts(&p, "state ");
	wp_esc(&p, ml_json_str(r->doc, "state") ? ml_json_str(r->doc, "state") : "done");
	wp_puts(&p, " &middot; started ");
	wp_esc(&p, r->started);
	wp_puts(&p, " &middot; wall ");
	wp_ms(&p, ml_json_int(r->doc, "wall_ms", -1));
	wp_printf(&p, " &middot; %zu cells</p>\n<p class=\"counts\">", r->n_cells);
	wp_counts(&p, r);
	wp_puts(&p, "</p>\n");
	unsound_section(&p, r);
	wp_puts(&p, "<nav class=\"toc\">");
	if (json_array_size(json_object_get(r->doc, "machine_abi")))
		wp_puts(&p, "<a href=\"#machine-abi\">machine-type ABI</a> ");
	wp_puts(&p, "<a href=\"#matrix\">matrix</a> <a href=\"#attention\">attention</a> "
		    "<a href=\"#regressions\">regressions</a> <a href=\"#classes\">failure classes</a> "
		    "<a href=\"#builds\">builds</a></nav>\n");
	machine_abi_section(&p, r);
	wp_puts(&p, "<section id=\"matrix\"><h2>Matrix</h2>\n");
	filters_form(&p, &g);
	legend(&p);
	grids_section(&p, r, &g);
	wp_puts(&p, "</section>\n");
	attention_section(&p, r);
	regressions_section(s, &p, r);
	classes_section(&p, r, &g);
	builds_section(&p, r);
	wp_foot(&p, "../");
	grid_clear(&g);
	return wp_write(&p, path);
}

/* Stacked bars: one per run of a matrix, oldest left. */
static void trend_chart(struct web_page *p, struct web_site *s, const char *matrix)
{
	static const char *const stack[] = { "pass", "xfail", "xpass", "skip", "error", "fail" };
	size_t n = 0, first = 0, k = 0;
	const double h = 60.0;

	for (size_t i = 0; i < s->n; i++)
		n += strcmp(s->runs[i]->matrix, matrix) == 0;
	if (n > TREND_MAX_RUNS)
		first = n - TREND_MAX_RUNS;
	n -= first;
	wp_printf(p, "<svg class=\"trend\" viewBox=\"0 0 %zu %.0f\" role=\"img\" aria-label=\"verdicts per run, "
		     "oldest first\">\n", n * 14 + 2, h + 2);
	for (size_t i = 0, seen = 0; i < s->n; i++) {
		const struct web_run *r = s->runs[i];
		long long total = 0, counts[ML_ARRAY_SIZE(stack)];
		double y = h + 1;
		if (strcmp(r->matrix, matrix) != 0 || seen++ < first)
			continue;
		for (size_t v = 0; v < ML_ARRAY_SIZE(stack); v++)
			total += counts[v] = run_count(r, stack[v]);
		if (r->page_exists) {
			wp_puts(p, "<a href=\"");
			wp_url(p, r->file);
			wp_puts(p, "/index.html\">");
		}
		wp_puts(p, "<g><title>");
		wp_esc(p, r->id);
		for (size_t v = 0; v < ML_ARRAY_SIZE(stack); v++)
			if (counts[v])
				wp_printf(p, ", %lld %s", counts[v], stack[v]);
		wp_puts(p, "</title>");
		wp_printf(p, "<rect class=\"bg\" x=\"%zu\" y=\"1\" width=\"10\" height=\"%.0f\"/>", k * 14 + 2, h);
		for (size_t v = 0; total && v < ML_ARRAY_SIZE(stack); v++) {
			double bh = h * (double)counts[v] / (double)total;
			if (!counts[v])
				continue;
			y -= bh;
			wp_printf(p, "<rect class=\"v-%s\" x=\"%zu\" y=\"%.2f\" width=\"10\" height=\"%.2f\"/>",
				  stack[v], k * 14 + 2, y, bh);
		}
		wp_puts(p, "</g>");
		if (r->page_exists)
			wp_puts(p, "</a>");
		wp_puts(p, "\n");
		k++;
	}
	wp_puts(p, "</svg>\n");
}

static int index_page(struct web_site *s)
{
	struct web_page p;
	ml_autofree char *path = ml_path_join(s->out, "index.html");
	const char **matrices = NULL;
	size_t n_matrices = 0;

	wp_init(&p);
	wp_head(&p, "runs", "");
	wp_printf(&p, "<h1>Runs <span class=\"count\">%zu</span></h1>\n", s->n);
	for (size_t i = s->n; i-- > 0;)
		add_unique(&matrices, &n_matrices, s->runs[i]->matrix);
	if (n_matrices) {
		wp_puts(&p, "<section class=\"trends\"><h2>Trend</h2>\n");
		for (size_t m = 0; m < n_matrices; m++) {
			wp_puts(&p, "<figure><figcaption>");
			if (*matrices[m]) {
				wp_puts(&p, "matrix <code>");
				wp_esc(&p, matrices[m]);
				wp_puts(&p, "</code>");
			} else {
				wp_puts(&p, "single-cell runs");
			}
			wp_puts(&p, "</figcaption>\n");
			trend_chart(&p, s, matrices[m]);
			wp_puts(&p, "</figure>\n");
		}
		wp_puts(&p, "</section>\n");
	}
	free(matrices);
	if (web_bisects_section(&p, s->results_dir, s->out) < 0) {
		wp_free(&p);
		return -1;
	}
	wp_puts(&p, "<section><h2>All runs, newest first</h2>\n<div class=\"scroll\"><table class=\"list runs\">"
		    "<thead><tr><th>run</th><th>matrix</th><th>started</th><th>state</th><th>wall</th>"
		    "<th>verdicts</th><th>against previous</th><th>builds</th></tr></thead><tbody>\n");
	for (size_t i = s->n; i-- > 0;) {
		const struct web_run *r = s->runs[i];
		json_t *builds = json_object_get(r->doc, "builds");
		const char *name;
		json_t *b;
		wp_puts(&p, "<tr><td>");
		wp_run_link(&p, r, "");
		wp_puts(&p, "</td><td>");
		wp_esc(&p, *r->matrix ? r->matrix : ml_json_str(r->doc, "kind"));
		wp_puts(&p, "</td><td>");
		wp_esc(&p, r->started);
		wp_puts(&p, "</td><td>");
		wp_esc(&p, ml_json_str(r->doc, "state") ? ml_json_str(r->doc, "state") : "done");
		wp_puts(&p, "</td><td>");
		wp_ms(&p, ml_json_int(r->doc, "wall_ms", -1));
		wp_puts(&p, "</td><td>");
		wp_counts(&p, r);
		wp_puts(&p, "</td><td>");
		if (r->prev) {
			if (r->n_new_fail)
				wp_printf(&p, "<span class=\"badge v-fail\">%lld new</span> ", r->n_new_fail);
			if (r->n_fixed)
				wp_printf(&p, "<span class=\"badge v-pass\">%lld fixed</span> ", r->n_fixed);
			if (r->n_still)
				wp_printf(&p, "<span class=\"dim\">%lld still failing</span>", r->n_still);
			if (!r->n_new_fail && !r->n_fixed && !r->n_still)
				wp_puts(&p, "<span class=\"dim\">no change</span>");
		} else {
			wp_puts(&p, "<span class=\"dim\">first run</span>");
		}
		wp_puts(&p, "</td><td class=\"builds\">");
		json_object_foreach(builds, name, b) {
			wp_puts(&p, "<span class=\"build\">");
			wp_esc(&p, *r->matrix ? name : short_provider(name));
			wp_puts(&p, " <strong>");
			wp_esc(&p, ml_json_str(b, "version"));
			wp_puts(&p, "</strong></span> ");
		}
		wp_puts(&p, "</td></tr>\n");
	}
	wp_puts(&p, "</tbody></table></div></section>\n");
	wp_foot(&p, "");
	return wp_write(&p, path);
}

static int write_assets(const char *out)
{
	ml_autofree char *dir = ml_path_join(out, "assets");

	if (ml_mkdir_p(dir, 0755) < 0)
		return -1;
	for (size_t i = 0; i < web_n_assets; i++) {
		ml_autofree char *path = ml_path_join(dir, web_assets[i].name);
		if (web_write_file(path, web_assets[i].data, web_assets[i].len) < 0)
			return -1;
	}
	return 0;
}

int ml_web_write_assets(const char *out_dir)
{
	if (ml_mkdir_p(out_dir, 0755) < 0)
		return -1;
	return write_assets(out_dir);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ml_web_write_site(const char *results_dir, const char *out_dir,
		      const struct ml_web_options *opt, char **index_path)
{
	static const struct ml_web_options defaults = { 0 };
	struct web_site s = { 0 };
	ml_autofree char *out_default = NULL;
	char abs[PATH_MAX];
	size_t cap = 0, rendered = 0;
	long long t0 = now_ms();
	int rc = -1, fd;

	if (!opt)
		opt = &defaults;
	s.opt = opt;
	s.results_dir = results_dir;
	s.tail_pass = opt->log_tail_pass ? opt->log_tail_pass : (size_t)8 << 10;
	s.tail_other = opt->log_tail_other ? opt->log_tail_other : (size_t)64 << 10;
	if (!out_dir) {
		if (!results_dir) {
			ml_error("no output directory and no results directory");
			return -1;
		}
		out_dir = out_default = ml_path_join(results_dir, "site");
	}
	if (ml_mkdir_p(out_dir, 0755) < 0)
		return ml_error_context("creating the site directory");
	if (!realpath(out_dir, abs)) {
		ml_error_errno(errno, "resolving %s", out_dir);
		return -1;
	}
	s.out = strdup(abs);
	if (results_dir && site_scan(&s, results_dir, opt->n_runs == 0, &cap) < 0)
		goto out;
	for (size_t i = 0; i < opt->n_runs; i++) {
		struct web_run *r = run_open(opt->runs[i]);
		if (!r) {
			ml_error("cannot read the run %s", opt->runs[i]);
			goto out;
		}
		r->render = true;
		site_add(&s, r, &cap);
	}
	if (s.n)
		qsort(s.runs, s.n, sizeof(*s.runs), cmp_run_time);
	site_unique_files(&s);
	for (size_t i = 0; i < s.n; i++) {
		ml_autofree char *page = ml_strdup_printf("%s/%s/index.html", s.out, s.runs[i]->file);
		s.runs[i]->page_exists = s.runs[i]->render || ml_path_exists(page);
	}
	site_link_history(&s);
	if (write_assets(s.out) < 0)
		goto out;
	for (size_t i = 0; i < s.n; i++) {
		struct web_run *r = s.runs[i];
		if (!r->render)
			continue;
		if (run_load_cells(&s, r, true) < 0 || run_page(&s, r) < 0) {
			ml_error_context("writing the pages of run %s", r->id);
			goto out;
		}
		rendered++;
		if (!opt->quiet)
			fprintf(stderr, "miglab: report: run %s: %zu cells\n", r->id, r->n_cells);
	}
	if (index_page(&s) < 0)
		goto out;
	/* one flush for the whole site instead of an fsync per page */
	fd = open(s.out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	if (!opt->quiet)
		fprintf(stderr, "miglab: report: %zu run(s) rendered, %zu in the index, %.1f s\n", rendered,
			s.n, (double)(now_ms() - t0) / 1000.0);
	if (index_path)
		*index_path = ml_path_join(s.out, "index.html");
	rc = 0;
out:
	for (size_t i = 0; i < s.n; i++)
		run_free(s.runs[i]);
	free(s.runs);
	free(s.out);
	return rc;
}
