/* Running a matrix: provisioning, the scheduler, progress, interruption,
 * resume, sharding, merging and the run's summary files (see run.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/evp.h>

#include "attempts.h"
#include "build.h"
#include "cell.h"
#include "cli.h"
#include "export.h"
#include "guest.h"
#include "judge.h"
#include "ml-layout.h"
#include "matrix.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "plan.h"
#include "result.h"
#include "qemu-view.h"
#include "run.h"
#include "saved-state.h"
#include "run-file.h"
#include "web.h"
#include "ml-common.h"

#define DEFAULT_GRACE_S 60
/* After SIGTERM a cell cancels its migration and records itself; past this
 * it is killed (its QEMUs die with it: PR_SET_PDEATHSIG here, PID namespaces
 * below, see ml-proc.c). */
#define STOP_KILL_AFTER_MS 20000

/* One planned cell, ready to run. */
struct run_cell {
	struct ml_cell_spec spec;
	char *id;
	const char *skip_reason;  /* planned skip (borrowed from the plan) */
	char *error;              /* the lab cannot run it (a build failed) */
	bool done;                /* finished in an earlier attempt (resume) */
	int more;                 /* > 0: run this many more attempts of a finished cell (settle) */
	pid_t pid;                /* running */
	long long started_ms;
	bool stop_sent;
	char *verdict;            /* when finished */
	char *saved_key;          /* the saved guest its source starts from, or NULL (cold) */
	bool started;
};

struct run {
	const struct ml_config *cfg;
	struct ml_matrix m;
	struct ml_build *builds;
	char **build_errors;
	struct ml_guest *guests;
	char **guest_errors;
	struct ml_plan plan;
	struct run_cell *cells;
	size_t n;
	char *id;
	char *dir;
	char *matrix_sha256;
	long long started_ms;
	char *started_at;
	unsigned jobs;
	int confirm;
	unsigned shard_index, shard_total;
	struct ml_judge_rules rules;
	json_t *abi_severities;   /* [abi] severity.KIND, checked against the kinds table */
	char *resumed_baselines;  /* run.json matrix.abi_baselines of the run resumed */
	const char *boot;         /* --boot, or NULL */
	const char *saved_dir;    /* --saved-dir, or NULL */
};

/* ---- preparing: builds, guests, plan ------------------------------------ */

/* Make every build and guest the matrix names. A build or kernel that cannot
 * be made does not stop the run: its cells become errors naming why. */
static int provision_all(struct run *r, bool refresh, bool guests_too)
{
	size_t nb = r->m.n_builds, nk = r->m.n_kernels;

	r->builds = calloc(nb, sizeof(*r->builds));
	r->build_errors = calloc(nb, sizeof(char *));
	r->guests = calloc(nk, sizeof(*r->guests));
	r->guest_errors = calloc(nk, sizeof(char *));
	if (!r->builds || !r->build_errors || !r->guests || !r->guest_errors)
		abort();
	for (size_t i = 0; i < nb; i++) {
		const char *provider = r->m.builds[i].provider;
		if (ml_build_provision(r->cfg, provider, refresh, &r->builds[i]) < 0) {
			r->build_errors[i] = ml_strdup_printf("build %s (%s) could not be made: %s",
							      r->m.builds[i].name, provider,
							      ml_error_message());
			fprintf(stderr, "miglab: %s\n", r->build_errors[i]);
			ml_build_parse(provider, &r->builds[i]); /* keep spec for ids */
			if (!r->builds[i].spec)
				r->builds[i].spec = strdup(provider);
		} else {
			fprintf(stderr, "miglab: build %-20s %-28s QEMU %s\n", r->m.builds[i].name,
				provider, r->builds[i].version);
		}
		if (ml_interrupted)
			return -1;
	}
	if (!guests_too)
		return 0;
	if (!r->cfg->probe_path) {
		ml_error("cannot find the miglab-probe agent beside miglab; set MIGLAB_PROBE");
		return -1;
	}
	for (size_t i = 0; i < nk; i++) {
		const char *provider = r->m.kernels[i].provider;
		if (ml_guest_provision(r->cfg->cache_dir, provider, r->cfg->probe_path, r->cfg->mirror,
				       &r->guests[i]) < 0) {
			r->guest_errors[i] = ml_strdup_printf("guest kernel %s (%s) could not be made: %s",
							      r->m.kernels[i].name, provider,
							      ml_error_message());
			fprintf(stderr, "miglab: %s\n", r->guest_errors[i]);
		} else {
			fprintf(stderr, "miglab: kernel %-19s %-28s %s\n", r->m.kernels[i].name,
				provider, r->guests[i].kernel_release);
		}
		if (ml_interrupted)
			return -1;
	}
	return 0;
}

static int make_plan(struct run *r)
{
	json_t **machines = calloc(r->m.n_builds, sizeof(*machines));
	struct ml_plan full = { 0 };
	int ret;

	if (!machines)
		abort();
	for (size_t i = 0; i < r->m.n_builds; i++)
		machines[i] = r->builds[i].machines ? r->builds[i].machines : json_array();
	ret = ml_plan_expand(&r->m, machines, &full);
	for (size_t i = 0; i < r->m.n_builds; i++)
		if (!r->builds[i].machines)
			json_decref(machines[i]);
	free(machines);
	if (ret < 0)
		return ml_error_context("planning %s", r->m.path);
	if (r->shard_total) {
		ret = ml_plan_shard(&full, r->shard_index, r->shard_total, &r->plan);
		ml_plan_clear(&full);
		if (ret < 0)
			return -1;
	} else {
		r->plan = full;
	}

	r->n = r->plan.n;
	r->cells = calloc(r->n ? r->n : 1, sizeof(*r->cells));
	if (!r->cells)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		const struct ml_plan_cell *pc = &r->plan.cells[i];
		struct run_cell *c = &r->cells[i];
		struct ml_cell_spec *s = &c->spec;
		const char *boot = NULL;

		s->cfg = r->cfg;
		s->src = &r->builds[pc->src];
		s->dst = &r->builds[pc->dst];
		s->guest = &r->guests[pc->kernel];
		s->kernel_spec = r->m.kernels[pc->kernel].provider;
		s->machine = pc->machine;
		s->accel = r->m.accel;
		s->scenario = r->m.scenario;
		s->memory_mib = r->m.memory_mib;
		s->workload_mib = r->m.workload_mib;
		s->kernel_boot = r->m.kernel_boot;
		s->boot = r->boot ? r->boot : r->m.boot;
		s->saved_dir = r->saved_dir;
		s->boot_timeout_ms = r->m.boot_timeout_s * 1000;
		s->migrate_timeout_ms = r->m.migrate_timeout_s * 1000;
		s->verify_timeout_ms = r->m.verify_timeout_s * 1000;
		s->max_bandwidth_mib = r->m.max_bandwidth_mib;
		s->skip_abi = !r->m.abi_dump;
		s->skip_reboot = !r->m.abi_reboot;
		s->abi_severity = r->m.abi_severity;
		s->abi_baselines = r->m.abi_baselines;
		s->abi_severities = r->abi_severities;
		ml_cell_spec_defaults(s);
		c->id = ml_cell_id(s);
		c->saved_key = ml_cell_saved_key(s);
		c->skip_reason = pc->skip_reason;
		if (r->build_errors[pc->src])
			c->error = strdup(r->build_errors[pc->src]);
		else if (r->build_errors[pc->dst])
			c->error = strdup(r->build_errors[pc->dst]);
		else if (r->guest_errors[pc->kernel])
			c->error = strdup(r->guest_errors[pc->kernel]);
		else if (!pc->skip_reason && r->guests[pc->kernel].dir &&
			 ml_cell_kernel_boot(s, &boot, NULL) < 0) {
			/* [guest] kernel-boot = pvh with a kernel or build that cannot */
			c->error = strdup(ml_error_message());
			ml_error_reset();
		}
	}
	return 0;
}

/* The matrix's [abi] overrides and baselines, checked: a kind the table
 * does not have, or a baselines directory that does not exist, is an error
 * naming the matrix file. */
static int check_abi_keys(struct run *r, const char *path)
{
	struct ml_abi_kinds *kinds = ml_abi_kinds_default();

	if (!kinds)
		return ml_error_context("the table of ABI kinds");
	r->abi_severities = json_object();
	for (size_t i = 0; i < r->m.n_abi_overrides; i++) {
		const struct ml_matrix_abi_override *o = &r->m.abi_overrides[i];
		if (!ml_abi_kinds_has(kinds, o->kind)) {
			ml_autofree char *list = ml_abi_kinds_list(kinds);
			ml_error("%s:%u: [abi] severity.%s: no ABI kind '%s' (kinds: %s)", path, o->line, o->kind,
				 o->kind, list);
			ml_abi_kinds_free(kinds);
			return -1;
		}
		ml_json_set_str(r->abi_severities, o->kind, o->severity);
	}
	ml_abi_kinds_free(kinds);
	if (r->resumed_baselines) {
		free(r->m.abi_baselines);
		r->m.abi_baselines = strdup(r->resumed_baselines);
	}
	if (r->m.abi_baselines && !ml_is_dir(r->m.abi_baselines)) {
		ml_error("%s: [abi] baselines: %s is not a directory (record baselines with `miglab "
			 "baseline record RUN DIR`)",
			 path, r->m.abi_baselines);
		return -1;
	}
	return 0;
}

static int load_matrix(struct run *r, const char *path)
{
	if (ml_matrix_load(path, &r->m) < 0 || check_abi_keys(r, path) < 0)
		return -1;
	r->matrix_sha256 = calloc(1, 65);
	if (!r->matrix_sha256)
		abort();
	return ml_sha256_file(path, r->matrix_sha256);
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->cells[i].id);
		free(r->cells[i].saved_key);
		free(r->cells[i].error);
		free(r->cells[i].verdict);
	}
	free(r->cells);
	for (size_t i = 0; r->builds && i < r->m.n_builds; i++) {
		ml_build_clear(&r->builds[i]);
		free(r->build_errors[i]);
	}
	for (size_t i = 0; r->guests && i < r->m.n_kernels; i++) {
		ml_guest_clear(&r->guests[i]);
		free(r->guest_errors[i]);
	}
	free(r->builds);
	free(r->build_errors);
	free(r->guests);
	free(r->guest_errors);
	ml_plan_clear(&r->plan);
	ml_matrix_clear(&r->m);
	ml_judge_rules_clear(&r->rules);
	json_decref(r->abi_severities);
	free(r->resumed_baselines);
	free(r->id);
	free(r->dir);
	free(r->matrix_sha256);
	free(r->started_at);
}

/* ---- run.json and the summary files ------------------------------------ */

static json_t *run_builds_json(const struct run *r)
{
	json_t *b = json_object();
	for (size_t i = 0; i < r->m.n_builds; i++) {
		json_t *j = ml_build_to_json(&r->builds[i]);
		ml_json_set_str(j, "name", r->m.builds[i].name);
		if (r->build_errors[i])
			ml_json_set_str(j, "error", r->build_errors[i]);
		ml_json_set(b, r->m.builds[i].name, j);
	}
	return b;
}

static json_t *run_kernels_json(const struct run *r)
{
	json_t *k = json_object();
	for (size_t i = 0; i < r->m.n_kernels; i++) {
		json_t *j = r->guests[i].kernel_release ? ml_guest_to_json(&r->guests[i]) : json_object();
		ml_json_set_str(j, "provider", r->m.kernels[i].provider);
		if (r->guest_errors[i])
			ml_json_set_str(j, "error", r->guest_errors[i]);
		ml_json_set(k, r->m.kernels[i].name, j);
	}
	return k;
}

/* The run's facts for run.json; the judging stage writes the rest. */
static int write_run_facts(const struct run *r, const char *state)
{
	ml_autofree char *now = ml_timestamp_utc();
	json_t *run = json_object();
	json_t *matrix = json_object();
	int ret;

	ml_json_set_str(run, "schema", ML_RUN_SCHEMA);
	ml_json_set_str(run, "run_id", r->id);
	ml_json_set_str(run, "kind", "matrix");
	ml_json_set_str(run, "state", state);
	ml_json_set_str(run, "started_at", r->started_at);
	ml_json_set_str(run, "updated_at", now);
	ml_json_set_str(run, "miglab_version", MIGLAB_VERSION);
	ml_json_set_str(matrix, "name", r->m.name);
	ml_json_set_str(matrix, "path", r->m.path);
	ml_json_set_str(matrix, "sha256", r->matrix_sha256);
	if (r->m.abi_baselines)
		ml_json_set_str(matrix, "abi_baselines", r->m.abi_baselines);
	ml_json_set(run, "matrix", matrix);
	if (r->shard_total)
		ml_json_set(run, "shard", json_pack("{s:i, s:i}", "index", r->shard_index, "total",
						    r->shard_total));
	ml_json_set_int(run, "jobs", r->jobs);
	ml_json_set_int(run, "confirm", r->confirm);
	ml_json_set(run, "host", ml_host_fingerprint(r->m.accel));
	ml_json_set_str(run, "accel", r->m.accel);
	ml_json_set(run, "builds", run_builds_json(r));
	ml_json_set(run, "kernels", run_kernels_json(r));
	ml_json_set_int(run, "planned_cells", (long long)r->n);
	ml_json_set_int(run, "wall_ms", ml_now_ms() - r->started_ms);
	ret = ml_run_file_write(r->dir, run, NULL);
	json_decref(run);
	return ret;
}

/* ---- cells that do not need a QEMU ------------------------------------- */

/* Record a planned skip or a cell the lab cannot run, without starting it:
 * one attempt whose outcome says why, judged like any other. */
static int record_unrun_cell(const struct run *r, struct run_cell *c)
{
	ml_autofree char *cell_dir = ml_layout_cell_dir(r->dir, c->id);
	ml_autofree char *dir = ml_layout_attempt_dir(cell_dir, 1);
	struct ml_cell_result res;
	json_t *phase, *doc = NULL;
	int ret;

	if (ml_rm_rf(cell_dir) < 0 || ml_result_new(&res, dir, r->id, c->id, 1, ml_cell_inputs(&c->spec)) < 0)
		return -1;
	ml_json_set_str(res.doc, "accel", c->spec.accel);
	phase = ml_result_phase_begin(&res, "plan");
	if (c->error) {
		ml_result_phase_end(&res, phase, ML_PHASE_ERROR, c->error);
		ml_result_set_outcome(&res, ML_VERDICT_ERROR, "plan", c->error, NULL);
	} else {
		ml_result_phase_end(&res, phase, ML_PHASE_SKIP, c->skip_reason);
		ml_result_set_outcome(&res, ML_VERDICT_SKIP, "plan", c->skip_reason, NULL);
	}
	ret = ml_result_write(&res);
	ml_result_clear(&res);
	if (ret < 0 || ml_judge_cell(&r->rules, cell_dir, &doc) < 0)
		return -1;
	free(c->verdict);
	c->verdict = strdup(ml_json_str(doc, "verdict"));
	json_decref(doc);
	return 0;
}

/* ---- the scheduler ----------------------------------------------------- */

/* In the child: run one cell. SIGINT is ignored (the parent decides when
 * running cells stop); SIGTERM makes the cell stop cleanly. */
static void __attribute__((noreturn)) cell_child(const struct run *r, struct run_cell *c,
						 pid_t parent)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };
	json_t *doc = NULL;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(ML_EXIT_LAB);
	ml_interrupted = 0;
	ml_interrupt_count = 0;
	ml_interrupt_install();
	sigaction(SIGINT, &ign, NULL);
	/* Its own log of lab messages; the parent keeps the terminal tidy. */
	{
		ml_autofree char *cells = ml_path_join(r->dir, ML_LAYOUT_CELLS_DIR);
		ml_autofree char *dir = ml_path_join(cells, c->id);
		ml_autofree char *log = ml_path_join(dir, "miglab.log");
		int fd;
		ml_mkdir_p(dir, 0755);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
	}
	if ((c->more ? ml_cell_run_more(&c->spec, r->dir, r->id, c->more, &r->rules, &doc)
		     : ml_cell_run_confirmed(&c->spec, r->dir, r->id, r->confirm, &r->rules, &doc)) < 0) {
		ml_error_print();
		_exit(ML_EXIT_LAB);
	}
	rc = ml_verdict_exit_status(ml_json_str(doc, "verdict"));
	json_decref(doc);
	_exit(rc);
}

static int start_cell(const struct run *r, struct run_cell *c)
{
	pid_t parent = getpid();
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ml_error_errno(errno, "cannot fork a cell");
		return -1;
	}
	if (pid == 0)
		cell_child(r, c, parent);
	c->pid = pid;
	c->started_ms = ml_now_ms();
	return 0;
}

/* A cell process ended: read its judgement, or record why there is none
 * (its last attempt becomes a lab error) and judge it. */
static void finish_cell(const struct run *r, struct run_cell *c, int status)
{
	ml_autofree char *cell_dir = ml_layout_cell_dir(r->dir, c->id);
	ml_autofree char *path = ml_layout_file(cell_dir, ML_LAYOUT_CELL_FILE);
	json_t *doc = ml_path_exists(path) ? ml_json_load_file(path, 64 << 20) : NULL;
	const char *state = doc ? ml_json_str(doc, "state") : NULL;

	c->pid = 0;
	if (!(WIFEXITED(status) && WEXITSTATUS(status) <= ML_EXIT_LAB && doc && state &&
	      strcmp(state, "done") == 0)) {
		char desc[128];
		ml_autofree char *reason = NULL;
		ml_autofree int *nums = NULL;
		size_t n = 0;
		int last;
		ml_autofree char *dir = NULL;
		ml_autofree char *apath = NULL;
		struct ml_cell_result res;

		ml_proc_status_str(status, desc, sizeof(desc));
		reason = ml_strdup_printf("the cell process %s before recording its attempt", desc);
		ml_layout_list_attempts(cell_dir, &nums, &n);
		last = n ? nums[n - 1] : 1;
		dir = ml_layout_attempt_dir(cell_dir, last);
		apath = ml_layout_file(dir, ML_LAYOUT_ATTEMPT_FILE);
		/* Keep what the attempt wrote (phases, logs), mark it as an error. */
		json_decref(doc);
		doc = ml_path_exists(apath) ? ml_json_load_file(apath, 64 << 20) : NULL;
		if (doc && ml_str_eq(ml_json_str(doc, "state"), "running")) {
			res.doc = json_incref(doc);
			res.dir = strdup(dir);
			res.started_ms = ml_now_ms() - ml_json_int(doc, "wall_ms", 0);
			ml_result_set_outcome(&res, ML_VERDICT_ERROR, NULL, reason, NULL);
			ml_result_write(&res);
			ml_result_clear(&res);
		} else if (!doc && ml_result_new(&res, dir, r->id, c->id, last, ml_cell_inputs(&c->spec)) == 0) {
			ml_result_set_outcome(&res, ML_VERDICT_ERROR, NULL, reason, NULL);
			ml_result_write(&res);
			ml_result_clear(&res);
		}
		json_decref(doc);
		doc = NULL;
		if (ml_judge_cell(&r->rules, cell_dir, &doc) < 0)
			ml_error_print();
	}
	free(c->verdict);
	c->verdict = strdup(doc && ml_json_str(doc, "verdict") ? ml_json_str(doc, "verdict") : "error");
	json_decref(doc);
}

struct progress {
	bool tty;
	size_t total, done;
	long long started_ms;
	json_t *counts;
	long long cell_ms_sum; /* of executed cells, for the ETA */
	size_t executed;
};

static void progress_line(struct progress *p, size_t running)
{
	long long el = (ml_now_ms() - p->started_ms) / 1000;
	struct ml_buf b = ML_BUF_INIT(0);

	if (!p->tty)
		return;
	ml_buf_printf(&b, "\r\033[K[%zu/%zu] %lld pass, %lld fail, %lld skip, %lld error | %zu running | %lldm%02llds",
		      p->done, p->total, ml_json_int(p->counts, "pass", 0),
		      ml_json_int(p->counts, "fail", 0) + ml_json_int(p->counts, "xpass", 0),
		      ml_json_int(p->counts, "skip", 0) + ml_json_int(p->counts, "xfail", 0),
		      ml_json_int(p->counts, "error", 0), running, el / 60, el % 60);
	if (p->done && p->done < p->total) {
		long long eta = el * (long long)(p->total - p->done) / (long long)p->done;
		ml_buf_printf(&b, ", ETA %lldm%02llds", eta / 60, eta % 60);
	}
	fputs(b.data, stderr);
	fflush(stderr);
	ml_buf_free(&b);
}

static void progress_cell(struct progress *p, const struct run_cell *c, long long ms)
{
	const char *v = c->verdict ? c->verdict : "error";

	p->done++;
	ml_json_set_int(p->counts, v, ml_json_int(p->counts, v, 0) + 1);
	if (p->tty) {
		/* Only what needs attention scrolls by; the rest is the live line. */
		if (strcmp(v, "pass") != 0 && strcmp(v, "skip") != 0)
			fprintf(stderr, "\r\033[K%-5s %s\n", v, c->id);
		return;
	}
	fprintf(stderr, "[%zu/%zu] %-5s %s (%.1f s)\n", p->done, p->total, v, c->id,
		(double)ms / 1000.0);
}

/* The order cells start in: controls first (the judging stage needs them to
 * tell a build's own defect from the pair's); then the longest first, which
 * with saved guests means the first cell of each saved guest (it boots and
 * saves, about 5 s more than a cell that restores), so that the cells that
 * restore find their guest made. Plan order otherwise. */
static void run_order(const struct run *r, size_t *order)
{
	size_t *plan = calloc(r->n ? r->n : 1, sizeof(*plan));
	bool *makes = calloc(r->n ? r->n : 1, sizeof(*makes));
	size_t k = 0;

	if (!plan || !makes)
		abort();
	ml_plan_run_order(&r->plan, plan);
	/* which cell of each key comes first (and so makes it) */
	for (size_t i = 0; i < r->n; i++) {
		const struct run_cell *c = &r->cells[plan[i]];
		bool first = c->saved_key != NULL && !c->done && !c->skip_reason && !c->error;
		for (size_t j = 0; first && j < i; j++) {
			const struct run_cell *o = &r->cells[plan[j]];
			if (o->saved_key && !o->done && !o->skip_reason && !o->error &&
			    strcmp(o->saved_key, c->saved_key) == 0)
				first = false;
		}
		makes[plan[i]] = first;
	}
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < r->n; i++) {
			size_t ci = plan[i];
			bool control = r->plan.cells[ci].control;
			int group = control ? 0 : makes[ci] ? 1 : 2;
			if (group == pass)
				order[k++] = ci;
		}
	free(plan);
	free(makes);
}

/* A cell whose saved guest another running cell is making would only wait
 * for its lock, holding a job: start another first. */
static bool waits_for_saved_guest(const struct run *r, const struct run_cell *c)
{
	if (!c->saved_key)
		return false;
	for (size_t i = 0; i < r->n; i++) {
		const struct run_cell *o = &r->cells[i];
		if (o != c && o->pid > 0 && o->saved_key && strcmp(o->saved_key, c->saved_key) == 0)
			return true;
	}
	return false;
}

/* The next cell to start (an index into order from *next on), or r->n:
 * the first not started whose saved guest is not being made right now. */
static size_t next_cell(struct run *r, const size_t *order, size_t *next)
{
	while (*next < r->n && r->cells[order[*next]].started)
		(*next)++;
	for (size_t i = *next; i < r->n; i++) {
		struct run_cell *c = &r->cells[order[i]];
		if (c->started)
			continue;
		if (c->done || c->skip_reason || c->error || !waits_for_saved_guest(r, c))
			return i;
	}
	return r->n;
}

/* What every cell would otherwise do for itself after its fork: QEMU's view
 * of the ABI asks each build's canary once (lab/qemu-view.h); here, before
 * the forks, with the machine type of the build's first cell to run. */
static void prepare_views(struct run *r)
{
	if (!r->m.abi_dump)
		return;
	for (size_t b = 0; b < r->m.n_builds; b++) {
		for (size_t i = 0; i < r->n; i++) {
			const struct run_cell *c = &r->cells[i];
			const struct ml_plan_cell *pc = &r->plan.cells[i];
			const char *machine;
			if ((pc->src != b && pc->dst != b) || c->done || c->skip_reason || c->error)
				continue;
			machine = ml_build_find_machine(&r->builds[b], pc->machine);
			if (machine)
				ml_qemu_view_prepare(&r->builds[b], machine);
			break;
		}
	}
}

static int schedule(struct run *r, int grace_s)
{
	struct progress p = { .tty = isatty(2), .started_ms = ml_now_ms(), .counts = json_object() };
	size_t next = 0, running = 0;
	long long grace_deadline = -1, kill_deadline = -1;
	bool stopping = false;
	size_t *order = calloc(r->n ? r->n : 1, sizeof(*order));

	if (!order)
		abort();
	for (size_t i = 0; i < r->n; i++)
		r->cells[i].started = false;
	run_order(r, order);
	for (size_t i = 0; i < r->n; i++)
		if (!r->cells[i].done)
			p.total++;
	while (next < r->n || running > 0) {
		/* Start what we may. */
		while (!stopping && running < r->jobs && next < r->n) {
			size_t at = next_cell(r, order, &next);
			struct run_cell *c;
			if (at == r->n)
				break; /* what is left waits for a running cell's saved guest */
			c = &r->cells[order[at]];
			c->started = true;
			if (c->done)
				continue;
			if (c->skip_reason || c->error) {
				if (record_unrun_cell(r, c) < 0)
					ml_error_print();
				progress_cell(&p, c, 0);
				continue;
			}
			if (start_cell(r, c) < 0) {
				ml_error_print();
				c->error = strdup(ml_error_message());
				record_unrun_cell(r, c);
				progress_cell(&p, c, 0);
				continue;
			}
			running++;
		}
		progress_line(&p, running);
		if (running == 0 && (stopping || next >= r->n))
			break;

		/* Reap. */
		{
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);
			if (pid > 0) {
				for (size_t i = 0; i < r->n; i++) {
					struct run_cell *c = &r->cells[i];
					if (c->pid != pid)
						continue;
					finish_cell(r, c, status);
					progress_cell(&p, c, ml_now_ms() - c->started_ms);
					running--;
				}
				continue;
			}
		}
		/* Interruption: stop starting, give the running cells their grace. */
		if (ml_interrupt_count && !stopping) {
			stopping = true;
			grace_deadline = ml_now_ms() + (long long)grace_s * 1000;
			fprintf(stderr, "%smiglab: interrupted: no new cells; %zu running cell(s) "
					"get %d s to finish (interrupt again to stop them now)\n",
				p.tty ? "\r\033[K" : "", running, grace_s);
		}
		if (stopping && (ml_interrupt_count > 1 || ml_now_ms() > grace_deadline) &&
		    kill_deadline < 0) {
			kill_deadline = ml_now_ms() + STOP_KILL_AFTER_MS;
			for (size_t i = 0; i < r->n; i++)
				if (r->cells[i].pid > 0 && !r->cells[i].stop_sent) {
					kill(r->cells[i].pid, SIGTERM);
					r->cells[i].stop_sent = true;
				}
		}
		if (kill_deadline > 0 && ml_now_ms() > kill_deadline)
			for (size_t i = 0; i < r->n; i++)
				if (r->cells[i].pid > 0)
					kill(r->cells[i].pid, SIGKILL);
		usleep(100 * 1000);
	}
	if (p.tty)
		fputs("\r\033[K", stderr);
	json_decref(p.counts);
	free(order);
	return stopping ? 1 : 0;
}

/* ---- the run ------------------------------------------------------------ */

/* The judgements of a run on the terminal: counts per category, the builds
 * that fail their own controls, the cells that need a reader. */
static void print_summary(const char *dir, json_t *summary, json_t *docs)
{
	json_t *cats = json_object_get(summary, "judgements");
	const char *order[] = { "pass", "fail", "intermittent", "source-unsound", "destination-unsound",
				"xfail", "xpass", "skip", "error" };
	size_t i;
	json_t *c;
	bool header = false;

	printf("\n%-20s %s\n", "", "cells");
	for (size_t k = 0; k < ML_ARRAY_SIZE(order); k++)
		if (ml_json_int(cats, order[k], 0) || k < 2)
			printf("%-20s %lld\n", order[k], ml_json_int(cats, order[k], 0));
	json_array_foreach(json_object_get(summary, "unsound_builds"), i, c) {
		if (!i)
			printf("\nbuilds failing their own controls on this host:\n");
		printf("  %s\n", ml_json_str(c, "text"));
	}
	{
		json_t *entries = json_object_get(summary, "machine_abi");
		long long n[4] = { 0 };
		const char *names[] = { "break", "warn", "info", "same" };
		json_array_foreach(entries, i, c)
			for (size_t k = 0; k < ML_ARRAY_SIZE(names); k++)
				n[k] += ml_str_eq(ml_json_str(c, "verdict"), names[k]);
		if (json_array_size(entries))
			printf("\nmachine-type ABI (%zu build pairs x machine types): %lld break, %lld warn, "
			       "%lld info, %lld same\n",
			       json_array_size(entries), n[0], n[1], n[2], n[3]);
		json_array_foreach(entries, i, c)
			if (ml_str_eq(ml_json_str(c, "verdict"), "break"))
				printf("  %s\n", ml_json_str(c, "text"));
	}
	json_array_foreach(docs, i, c) {
		const char *cat = ml_judgement_category(c);
		const char *abi = ml_json_str(json_object_get(c, "abi"), "severity");
		bool abi_attention = ml_str_eq(abi, "error") || ml_str_eq(abi, "fail");
		if ((ml_str_eq(cat, "pass") && !abi_attention) || ml_str_eq(cat, "skip") || ml_str_eq(cat, "xfail") ||
		    strstr(cat, "unsound"))
			continue;
		if (!header) {
			printf("\nneeds attention:\n");
			header = true;
		}
		{
			const char *cls = ml_json_str(json_object_get(c, "failure"), "class");
			ml_autofree char *reason = ml_text_safe(ml_json_str(c, "reason"), false);
			printf("  %-12s %s\n        %s%s%s%s\n", cat, ml_json_str(c, "cell_id"), cls ? "[" : "",
			       cls ? cls : "", cls ? "] " : "", reason);
		}
	}
	printf("\nrun: %s\n", dir);
}

static int exit_code_of(json_t *docs)
{
	size_t i;
	json_t *c;
	int rc = ML_EXIT_OK;

	json_array_foreach(docs, i, c) {
		int e = ml_verdict_exit_status(ml_json_str(c, "verdict"));
		if (e > rc)
			rc = e;
	}
	return rc;
}

/* Judge the whole run (controls, repeats, known issues), then the exports
 * and the dashboard, which read judgements only. */
int ml_run_judge(const struct ml_judge_rules *rules, const char *dir, const char *id,
		 const char *results_dir)
{
	json_t *summary = NULL, *docs;
	ml_autofree char *junit = ml_path_join(dir, "junit.xml");
	ml_autofree char *tap = ml_path_join(dir, "results.tap");
	int rc;

	if (ml_judge_run(rules, dir, &summary) < 0) {
		json_decref(summary);
		ml_error_print();
		return ML_EXIT_LAB;
	}
	docs = ml_run_load_cells(dir);
	if (ml_export_junit(dir, id, docs, json_object_get(summary, "machine_abi"), junit) < 0 || ml_export_tap(docs, tap) < 0) {
		json_decref(docs);
		json_decref(summary);
		ml_error_print();
		return ML_EXIT_LAB;
	}
	print_summary(dir, summary, docs);
	rc = exit_code_of(docs);
	json_decref(docs);
	json_decref(summary);
	if (results_dir) {
		/* The dashboard (docs/dashboard.md), from the result files alone. */
		const char *runs[] = { dir };
		struct ml_web_options wo = { .runs = runs, .n_runs = 1, .quiet = true };
		char *index = NULL;
		if (ml_web_write_site(results_dir, NULL, &wo, &index) == 0)
			printf("dashboard: %s\n", index);
		else
			fprintf(stderr, "miglab: warning: dashboard not written: %s\n", ml_error_message());
		free(index);
	}
	return rc;
}

static int finish_run(struct run *r, bool interrupted)
{
	int rc;

	if (write_run_facts(r, interrupted ? "interrupted" : "done") < 0) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	rc = ml_run_judge(&r->rules, r->dir, r->id, r->cfg->results_dir);
	if (interrupted) {
		printf("interrupted: resume with `miglab run --resume %s`\n", r->id);
		return 128 + (ml_interrupted ? ml_interrupted : SIGINT);
	}
	return rc;
}

/* A control that passed its one attempt is the reference of every cell of
 * its build, and a build that fails only sometimes passes it by chance:
 * when a build fails its own controls elsewhere, its passing controls get
 * `confirm` more attempts (results/judge.h, ml_judge_controls_to_settle). */
static int settle_controls(struct run *r, int grace_s)
{
	json_t *docs = ml_run_load_cells(r->dir);
	json_t *ids = ml_judge_controls_to_settle(docs);
	size_t n = 0, i;
	json_t *id;
	int ret;

	for (size_t k = 0; k < r->n; k++) {
		r->cells[k].done = true;
		r->cells[k].more = 0;
		json_array_foreach(ids, i, id)
			if (strcmp(json_string_value(id), r->cells[k].id) == 0) {
				r->cells[k].done = false;
				r->cells[k].more = r->confirm;
				n++;
			}
	}
	json_decref(ids);
	json_decref(docs);
	if (!n)
		return 0;
	fprintf(stderr, "miglab: settling %zu passing control cell(s) of builds that fail their own "
			"controls elsewhere: %d more attempt(s) each\n", n, r->confirm);
	ret = schedule(r, grace_s);
	for (size_t k = 0; k < r->n; k++)
		r->cells[k].more = 0;
	return ret;
}

/* Resume: the run's own copy of the matrix, its shard, the cells already done. */
static int open_resumed(struct run *r, const char *resume, const char **matrix_path)
{
	ml_autofree char *runjson = NULL;
	json_t *doc, *shard;

	if (strchr(resume, '/'))
		r->dir = strdup(resume);
	else
		r->dir = ml_path_join(r->cfg->results_dir, resume);
	runjson = ml_path_join(r->dir, ML_LAYOUT_RUN_FILE);
	doc = ml_json_load_file(runjson, 64 << 20);
	if (!doc)
		return ml_error_context("cannot resume %s", resume);
	if (!ml_json_str(doc, "run_id") || strcmp(ml_json_str(doc, "kind") ? ml_json_str(doc, "kind") : "", "matrix") != 0) {
		json_decref(doc);
		ml_error("cannot resume %s: it is not a matrix run", resume);
		return -1;
	}
	r->id = strdup(ml_json_str(doc, "run_id"));
	r->started_at = strdup(ml_json_str(doc, "started_at") ? ml_json_str(doc, "started_at") : "");
	/* A relative [abi] baselines was resolved against the original matrix,
	 * not the copy a resumed run reads. */
	if (ml_json_str(json_object_get(doc, "matrix"), "abi_baselines"))
		r->resumed_baselines = strdup(ml_json_str(json_object_get(doc, "matrix"), "abi_baselines"));
	shard = json_object_get(doc, "shard");
	if (shard) {
		r->shard_index = (unsigned)ml_json_int(shard, "index", 0);
		r->shard_total = (unsigned)ml_json_int(shard, "total", 0);
	}
	json_decref(doc);
	*matrix_path = NULL;
	return 0;
}

static void mark_done_cells(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		ml_autofree char *cdir = ml_layout_cell_dir(r->dir, r->cells[i].id);
		ml_autofree char *path = ml_layout_file(cdir, ML_LAYOUT_CELL_FILE);
		json_t *doc = ml_path_exists(path) ? ml_json_load_file(path, 64 << 20) : NULL;
		const char *state = doc ? ml_json_str(doc, "state") : NULL;
		const char *verdict = doc ? ml_json_str(doc, "verdict") : NULL;
		/* An "error" is the lab's failure (or an interrupt), not QEMU's:
		 * such a cell runs again, like one that never finished; so does one
		 * whose confirmations were cut short by a lab error. */
		if (state && strcmp(state, "done") == 0 && verdict && strcmp(verdict, "error") != 0 &&
		    ml_json_int(json_object_get(doc, "repeat"), "lab_errors", 0) == 0) {
			r->cells[i].done = true;
			r->cells[i].verdict = strdup(ml_json_str(doc, "verdict"));
		}
		json_decref(doc);
	}
}

int ml_run_matrix(const struct ml_config *cfg, const struct ml_run_options *o)
{
	struct run r = { .cfg = cfg, .started_ms = ml_now_ms(), .boot = o->boot,
			 .saved_dir = o->saved_dir };
	ml_autofree char *matrix_copy = NULL;
	const char *matrix_path = o->matrix_path;
	size_t todo = 0;
	int rc = ML_EXIT_LAB, sched;

	r.shard_index = o->shard_index;
	r.shard_total = o->shard_total;
	if (o->resume) {
		if (open_resumed(&r, o->resume, &matrix_path) < 0)
			goto out;
		matrix_copy = ml_path_join(r.dir, "matrix.ini");
		matrix_path = matrix_copy;
	}
	if (load_matrix(&r, matrix_path) < 0 || ml_judge_rules_load(&r.rules) < 0)
		goto out;
	r.confirm = o->confirm >= 0 ? o->confirm : r.m.confirm;
	if (!o->resume) {
		if (ml_run_dir_create(cfg->results_dir, o->run_id, &r.id, &r.dir) < 0)
			goto out;
		r.started_at = ml_timestamp_utc();
		matrix_copy = ml_path_join(r.dir, "matrix.ini");
		if (ml_copy_file(matrix_path, matrix_copy) < 0)
			goto out;
	}
	r.jobs = o->jobs ? o->jobs : r.m.jobs ? r.m.jobs : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (r.jobs == 0)
		r.jobs = 1;
	{
		/* Never more guest vCPUs busy than cores: a starved TCG vCPU
		 * makes the heartbeat, clock and downtime checks judge the host. */
		unsigned cores = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
		unsigned most = cores / ML_CELL_VCPUS ? cores / ML_CELL_VCPUS : 1;
		if (r.jobs > most) {
			fprintf(stderr, "miglab: %u cells at a time would keep %u guest vCPUs busy on %u "
					"cores: running %u at a time\n",
				r.jobs, r.jobs * ML_CELL_VCPUS, cores, most);
			r.jobs = most;
		}
	}
	if (provision_all(&r, o->refresh, true) < 0 || make_plan(&r) < 0)
		goto out;
	if (o->resume)
		mark_done_cells(&r);
	for (size_t i = 0; i < r.n; i++)
		todo += !r.cells[i].done;
	write_run_facts(&r, "running");
	fprintf(stderr, "miglab: run %s: %zu cells planned, %zu to run, %u at a time, up to %d "
			"confirming attempt(s) of a cell that does not pass -> %s\n",
		r.id, r.n, todo, r.jobs, r.confirm, r.dir);
	prepare_views(&r);
	sched = schedule(&r, o->grace_s >= 0 ? o->grace_s : DEFAULT_GRACE_S);
	if (sched == 0 && r.confirm > 0)
		sched = settle_controls(&r, o->grace_s >= 0 ? o->grace_s : DEFAULT_GRACE_S);
	/* Saved guests are for this run's cells only (about 100 MiB each). */
	if (!o->saved_dir)
		ml_saved_remove_run(r.dir);
	rc = finish_run(&r, sched != 0);
out:
	if (rc == ML_EXIT_LAB && !r.n)
		ml_error_print();
	run_free(&r);
	return rc;
}

int ml_run_print_plan(const struct ml_config *cfg, const char *matrix_path, unsigned shard_index,
		      unsigned shard_total, bool json)
{
	struct run r = { .cfg = cfg, .shard_index = shard_index, .shard_total = shard_total };
	int rc = ML_EXIT_LAB;

	if (load_matrix(&r, matrix_path) < 0 || provision_all(&r, false, false) < 0 ||
	    make_plan(&r) < 0) {
		ml_error_print();
		goto out;
	}
	if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < r.n; i++) {
			const struct ml_plan_cell *pc = &r.plan.cells[i];
			json_array_append_new(
				arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s?, s:s?}",
					       "cell_id", r.cells[i].id, "src", r.m.builds[pc->src].name,
					       "dst", r.m.builds[pc->dst].name, "kernel",
					       r.m.kernels[pc->kernel].name, "machine", pc->machine,
					       "rule", pc->rule, "control", pc->control, "deprecated",
					       pc->deprecated, "skip", pc->skip_reason, "error",
					       r.cells[i].error));
		}
		{
			char *text = json_dumps(arr, JSON_INDENT(2));
			puts(text);
			free(text);
		}
		json_decref(arr);
	} else {
		for (size_t i = 0; i < r.n; i++) {
			const struct ml_plan_cell *pc = &r.plan.cells[i];
			printf("%-70s %-14s -> %-20s %-16s %-10s %s%s%s\n", r.cells[i].id,
			       r.m.builds[pc->src].name, r.m.builds[pc->dst].name, pc->machine,
			       r.m.kernels[pc->kernel].name, pc->rule,
			       pc->skip_reason ? "  skip: " : "", pc->skip_reason ? pc->skip_reason : "");
		}
		printf("%zu cells\n", r.n);
	}
	rc = ML_EXIT_OK;
out:
	run_free(&r);
	return rc;
}

/* ---- merge -------------------------------------------------------------- */

int ml_run_merge(const struct ml_config *cfg, const char *const *runs, size_t n, const char *run_id)
{
	ml_autofree char *id = NULL;
	ml_autofree char *dir = NULL;
	ml_autofree char *cells_dir = NULL;
	json_t *merged_from = json_array();
	json_t *first = NULL, *run = NULL, *seen = json_object();
	int rc = ML_EXIT_LAB;

	/* Everything is read and checked before anything is written: a cell
	 * path is built only from a directory name that its cell.json confirms
	 * and that is a valid cell id (ml_run_load_cells_checked). */
	for (size_t i = 0; i < n; i++) {
		ml_autofree char *rdir = strchr(runs[i], '/') ? strdup(runs[i])
							      : ml_path_join(cfg->results_dir, runs[i]);
		ml_autofree char *rjson = ml_path_join(rdir, ML_LAYOUT_RUN_FILE);
		json_t *doc = ml_json_load_file(rjson, 64 << 20);
		json_t *cdocs = NULL;
		size_t k;
		json_t *c;

		if (!doc) {
			ml_error_context("merge: %s is not a run", runs[i]);
			goto out;
		}
		if (!first) {
			first = doc;
		} else {
			const char *a = ml_json_str(json_object_get(first, "matrix"), "sha256");
			const char *b = ml_json_str(json_object_get(doc, "matrix"), "sha256");
			if (!a || !b || strcmp(a, b) != 0) {
				ml_error("merge: %s ran another matrix than %s (matrix files differ)",
					 runs[i], runs[0]);
				json_decref(doc);
				goto out;
			}
			json_decref(doc);
		}
		json_array_append_new(merged_from, json_string(rdir));
		if (ml_run_load_cells_checked(rdir, &cdocs) < 0) {
			ml_error_context("merge: nothing copied");
			goto out;
		}
		json_array_foreach(cdocs, k, c) {
			const char *cid = ml_json_str(c, "cell_id");
			if (json_object_get(seen, cid)) {
				ml_error("merge: cell %s is in more than one of the runs", cid);
				json_decref(cdocs);
				goto out;
			}
			json_object_set_new(seen, cid, json_string(rdir));
		}
		json_decref(cdocs);
	}
	if (ml_run_dir_create(cfg->results_dir, run_id, &id, &dir) < 0)
		goto out;
	cells_dir = ml_path_join(dir, ML_LAYOUT_CELLS_DIR);
	if (ml_mkdir_p(cells_dir, 0755) < 0)
		goto out;
	{
		const char *cid;
		json_t *from_run;
		json_object_foreach(seen, cid, from_run) {
			ml_autofree char *from = ml_layout_cell_dir(json_string_value(from_run), cid);
			ml_autofree char *to = ml_layout_cell_dir(dir, cid);
			if (ml_copy_tree(from, to) < 0)
				goto out;
		}
	}
	/* run.json: the first run's facts; the judgements of the union. */
	run = json_deep_copy(first);
	ml_json_set_str(run, "run_id", id);
	ml_json_set_str(run, "kind", "matrix");
	ml_json_set_str(run, "state", "done");
	json_object_del(run, "shard");
	ml_json_set(run, "merged_from", json_incref(merged_from));
	{
		ml_autofree char *mfrom = ml_strdup_printf("%s/matrix.ini",
							   json_string_value(json_array_get(merged_from, 0)));
		ml_autofree char *mto = ml_path_join(dir, "matrix.ini");
		struct ml_judge_rules rules;
		if ((ml_path_exists(mfrom) && ml_copy_regular_file(mfrom, mto) < 0) ||
		    ml_run_file_write(dir, run, NULL) < 0 || ml_judge_rules_load(&rules) < 0)
			goto out;
		rc = ml_run_judge(&rules, dir, id, NULL);
		ml_judge_rules_clear(&rules);
	}
out:
	if (rc == ML_EXIT_LAB)
		ml_error_print();
	json_decref(seen);
	json_decref(first);
	json_decref(run);
	json_decref(merged_from);
	return rc;
}
