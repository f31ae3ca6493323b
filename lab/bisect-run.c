/* The loop of `miglab bisect` (bisect.h): test the two ends, then let git
 * bisect choose commits in a bare clone of the checkout until it names the
 * first bad one; one two-cell matrix run per commit. bisect.json is
 * rewritten after every step, so an interrupted bisect shows how far it got. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bisect.h"
#include "build.h"
#include "cli.h"
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

#define SHORT 12

struct bisect {
	const struct ml_config *cfg;
	const struct ml_bisect_options *o;
	struct ml_bisect_git_spec git; /* of --bad: the directory and patches */
	char *id;
	char *dir;       /* <results>/bisect/<id> */
	char *work;      /* <cache>/bisect/<id>: the clone lives here while it runs */
	char *repo;      /* <work>/repo, bare */
	char good[65], bad[65];
	/* --against's commit when it is a git: build of the same checkout and
	 * patches: that commit would be its own pair ("" otherwise). */
	char against[65];
	/* The machine type every step uses: --machine, resolved on the bad end
	 * when it is an alias, so that every commit runs the same cell. */
	char *machine;
	json_t *doc;
	unsigned steps;
	long long t0;
};

/* ---- git in the clone -------------------------------------------------- */

/* One line of `git log`/`describe` output in the clone, or "" (never NULL). */
static char *git_line(const struct bisect *b, const char *const *args)
{
	char *out = NULL;

	if (ml_bisect_git(b->repo, args, &out, NULL) != 0) {
		ml_error_reset();
		free(out);
		return strdup("");
	}
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static char *commit_subject(const struct bisect *b, const char *sha)
{
	const char *args[] = { "log", "-1", "--format=%s", sha, NULL };
	return git_line(b, args);
}

static char *commit_describe(const struct bisect *b, const char *sha)
{
	const char *args[] = { "describe", "--always", "--tags", sha, NULL };
	return git_line(b, args);
}

/* A bare clone sharing the checkout's objects: git bisect keeps its state
 * there, and the user's checkout, branches and bisect are left alone. */
static int make_clone(struct bisect *b)
{
	const char *args[] = { "clone", "--quiet", "--bare", "--shared", b->git.dir, b->repo, NULL };
	ml_autofree char *err = NULL;
	int rc;

	if (ml_rm_rf(b->work) < 0 || ml_mkdir_p(b->work, 0755) < 0)
		return -1;
	rc = ml_bisect_git(b->work, args, NULL, &err);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		ml_error("cannot clone %s into %s: %s", b->git.dir, b->repo, err ? err : "");
		return -1;
	}
	return 0;
}

/* Run `git bisect ARGS...` in the clone and read its answer. */
static int bisect_cmd(const struct bisect *b, const char *const *args, struct ml_bisect_answer *a)
{
	const char *argv[8] = { "bisect" };
	ml_autofree char *out = NULL;
	ml_autofree char *err = NULL;
	size_t n = 1;
	int rc;

	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	rc = ml_bisect_git(b->repo, argv, &out, &err);
	if (rc < 0)
		return -1;
	/* "only skipped commits left" exits with 2 and is an answer */
	if (ml_bisect_parse_answer(out, a) < 0) {
		ml_error_context("git bisect %s (exit %d%s%s)", args[0], rc, err && *err ? "; " : "",
				 err ? err : "");
		return -1;
	}
	return 0;
}

/* ---- one step -------------------------------------------------------------- */

static const char *kernel_of(const struct bisect *b)
{
	return b->o->kernel ? b->o->kernel : ML_BISECT_DEFAULT_KERNEL;
}

/* Build the commit (lab/build.h), to tell a build failure from a failing
 * run and to record what was built. The run provisions it again from the
 * cache. On the bad end an alias machine type becomes the concrete one. */
static int build_commit(struct bisect *b, const char *spec, const char *role, json_t **build,
			struct ml_bisect_call *call)
{
	struct ml_build qemu = { 0 };

	if (ml_build_provision(b->cfg, spec, false, &qemu) < 0) {
		call->mark = ML_BISECT_SKIP;
		call->cause = ml_interrupted ? ML_BISECT_CAUSE_INTERRUPTED : ML_BISECT_CAUSE_BUILD;
		call->reason = ml_strdup_printf("the commit could not be built: %s", ml_error_message());
		ml_build_clear(&qemu);
		return -1;
	}
	*build = json_pack("{s:s?, s:s?, s:s}", "version", qemu.version, "version_line", qemu.version_line,
			   "sha256", qemu.sha256);
	if (strcmp(role, "bad-end") == 0) {
		const char *concrete = ml_build_find_machine(&qemu, b->machine);
		if (!concrete) {
			call->mark = ML_BISECT_SKIP;
			call->cause = ML_BISECT_CAUSE_NOT_APPLICABLE;
			call->reason = ml_strdup_printf("machine type %s does not exist in QEMU %s of the bad "
							"commit", b->machine, qemu.version);
			ml_build_clear(&qemu);
			return -1;
		}
		if (strcmp(concrete, b->machine) != 0) {
			fprintf(stderr, "miglab: bisect: %s is %s in the bad commit; every step uses %s\n",
				b->machine, concrete, concrete);
			free(b->machine);
			b->machine = strdup(concrete);
		}
	}
	ml_build_clear(&qemu);
	return 0;
}

/* Run the step's matrix and judge it from its two cells. */
static void run_step(struct bisect *b, const char *spec, const char *sha, unsigned step,
		     char **run_id, char **run_dir, json_t **control, json_t **pair,
		     struct ml_bisect_call *call)
{
	ml_autofree char *steps_dir = ml_path_join(b->dir, "steps");
	ml_autofree char *name = ml_strdup_printf("%02u-%.*s.ini", step, SHORT, sha);
	ml_autofree char *matrix_path = ml_path_join(steps_dir, name);
	ml_autofree char *matrix = ml_bisect_step_matrix(b->o, b->id, b->machine, spec, step);
	struct ml_run_options ro = { .grace_s = -1, .confirm = b->o->repeat };
	ml_autofree char *why = NULL;
	int rc;

	*run_id = ml_strdup_printf("%s-s%02u-%.*s", b->id, step, SHORT, sha);
	*run_dir = ml_path_join(b->cfg->results_dir, *run_id);
	if (ml_mkdir_p(steps_dir, 0755) < 0 ||
	    ml_write_atomic(matrix_path, matrix, strlen(matrix), 0644) < 0) {
		call->mark = ML_BISECT_SKIP;
		call->cause = ML_BISECT_CAUSE_LAB;
		call->reason = ml_strdup_printf("cannot write the step's matrix: %s", ml_error_message());
		return;
	}
	ro.matrix_path = matrix_path;
	ro.run_id = *run_id;
	ml_error_reset();
	rc = ml_run_matrix(b->cfg, &ro);
	why = strdup(ml_error_message());
	if (rc >= 128 || ml_interrupted) {
		call->mark = ML_BISECT_SKIP;
		call->cause = ML_BISECT_CAUSE_INTERRUPTED;
		call->reason = ml_strdup_printf("interrupted by signal %d", ml_interrupted ? (int)ml_interrupted : rc - 128);
		return;
	}
	ml_bisect_read_step(*run_dir, control, pair);
	if ((!*control || !*pair) && rc == ML_EXIT_LAB) {
		/* the run failed before judging (its matrix, a lab error): say why */
		call->mark = ML_BISECT_SKIP;
		call->cause = ML_BISECT_CAUSE_LAB;
		call->reason = ml_strdup_printf("the step's run failed: %s", why);
		if (!ml_path_exists(*run_dir)) {
			free(*run_id);
			free(*run_dir);
			*run_id = *run_dir = NULL;
		}
		return;
	}
	ml_bisect_judge_step(*control, *pair, call);
}

/* The program's way to test a commit: build it, then run its step. */
static void build_and_run(void *ctx, const char *role, const char *spec, const char *sha, unsigned step,
			  struct ml_bisect_outcome *out)
{
	struct bisect *b = ctx;

	if (build_commit(b, spec, role, &out->build, &out->call) == 0)
		run_step(b, spec, sha, step, &out->run_id, &out->run_dir, &out->control, &out->pair,
			 &out->call);
}

/* Test one commit and record it in bisect.json; *call receives the
 * judgement (owned). -1 only when bisect.json cannot be written. */
static int test_commit(struct bisect *b, const char *role, const char *sha, struct ml_bisect_call *call)
{
	long long t0 = ml_now_ms();
	unsigned step = ++b->steps;
	ml_autofree char *spec = ml_bisect_commit_spec(&b->git, sha);
	ml_autofree char *subject = commit_subject(b, sha);
	ml_autofree char *describe = commit_describe(b, sha);
	ml_autofree char *safe_subject = ml_text_safe(subject, false);
	ml_autofree char *path = ml_path_join(b->dir, ML_BISECT_FILE);
	struct ml_bisect_outcome res = { 0 };
	struct ml_bisect_step s;
	int ret;

	fprintf(stderr, "miglab: bisect step %u (%s): %.*s %s\n", step, role, SHORT, sha, safe_subject);
	if (strcmp(spec, b->o->against) == 0 || strcmp(sha, b->against) == 0)
		res.call = (struct ml_bisect_call){ ML_BISECT_SKIP, ML_BISECT_CAUSE_AGAINST,
						    strdup("the commit is the --against build itself") };
	else if (b->o->tester)
		b->o->tester->test(b->o->tester->ctx, role, spec, sha, step, &res);
	else
		build_and_run(b, role, spec, sha, step, &res);
	if (!res.call.reason)
		res.call.reason = strdup("");
	s = (struct ml_bisect_step){ .role = role, .commit = sha, .subject = subject, .describe = describe,
				     .spec = spec, .build = res.build, .run_id = res.run_id,
				     .run_dir = res.run_dir, .control = res.control, .pair = res.pair,
				     .call = &res.call, .wall_ms = ml_now_ms() - t0 };
	ml_bisect_doc_add_step(b->doc, &s);
	{
		ml_autofree char *reason = ml_text_safe(res.call.reason, false);
		fprintf(stderr, "miglab: bisect step %u: %.*s is %s: %s\n", step, SHORT, sha,
			ml_bisect_mark_name(res.call.mark), reason);
	}
	ml_json_set_int(b->doc, "wall_ms", ml_now_ms() - b->t0);
	ret = ml_json_write_file(path, b->doc);
	*call = res.call;
	res.call.reason = NULL; /* handed to the caller */
	ml_bisect_outcome_clear(&res);
	return ret;
}

/* ---- the result ----------------------------------------------------------- */

/* The command that runs the failing cell again on the first bad commit:
 * `miglab cell` with the same builds, machine type, kernel and settings. */
static char *reproduce_command(const struct bisect *b, const char *sha)
{
	const struct ml_bisect_settings *st = &b->o->settings;
	ml_autofree char *spec = ml_bisect_commit_spec(&b->git, sha);
	ml_autofree char *memory = st->memory_mib ? ml_strdup_printf("%d", st->memory_mib) : NULL;
	ml_autofree char *workload = st->workload_mib ? ml_strdup_printf("%d", st->workload_mib) : NULL;
	ml_autofree char *bandwidth = st->max_bandwidth_mib ? ml_strdup_printf("%d", st->max_bandwidth_mib) : NULL;
	ml_autofree char *confirm = ml_strdup_printf("%d", b->o->repeat);
	const char *argv[32] = { "miglab", "cell", "--src", b->o->step_is_dst ? b->o->against : spec,
				 "--dst", b->o->step_is_dst ? spec : b->o->against, "--machine", b->machine,
				 "--kernel", kernel_of(b), "--accel", b->o->accel ? b->o->accel : "tcg" };
	size_t n = 12;

#define ADD(opt, val)                                                          \
	do {                                                                   \
		if (val) {                                                     \
			argv[n++] = opt;                                       \
			argv[n++] = val;                                       \
		}                                                              \
	} while (0)
	ADD("--memory", memory);
	ADD("--workload", workload);
	ADD("--max-bandwidth", bandwidth);
	ADD("--kernel-boot", *st->kernel_boot ? st->kernel_boot : NULL);
	ADD("--abi-severity", *st->abi_severity ? st->abi_severity : NULL);
#undef ADD
	if (st->no_abi)
		argv[n++] = "--no-abi";
	if (st->no_reboot)
		argv[n++] = "--no-reboot";
	argv[n++] = "--confirm";
	argv[n++] = confirm;
	return ml_web_shell_join(argv, n);
}

/* subject, author, date, describe, files and diffstat of a commit. */
static json_t *commit_facts(const struct bisect *b, const char *sha)
{
	const char *author[] = { "log", "-1", "--format=%an <%ae>", sha, NULL };
	const char *date[] = { "log", "-1", "--format=%aI", sha, NULL };
	const char *files[] = { "show", "--name-only", "--format=", sha, NULL };
	const char *stat[] = { "show", "--stat", "--format=", sha, NULL };
	json_t *c = json_object(), *list = json_array();
	ml_autofree char *subject = commit_subject(b, sha);
	ml_autofree char *describe = commit_describe(b, sha);
	ml_autofree char *who = git_line(b, author);
	ml_autofree char *when = git_line(b, date);
	char *names = NULL, *diffstat = NULL, *save = NULL;

	ml_json_set_str(c, "commit", sha);
	ml_json_set_str(c, "subject", subject);
	ml_json_set_str(c, "describe", describe);
	ml_json_set_str(c, "author", who);
	ml_json_set_str(c, "date", when);
	if (ml_bisect_git(b->repo, files, &names, NULL) == 0)
		for (char *f = strtok_r(names, "\n", &save); f; f = strtok_r(NULL, "\n", &save))
			json_array_append_new(list, ml_json_string_text(f));
	ml_json_set(c, "files", list);
	if (ml_bisect_git(b->repo, stat, &diffstat, NULL) == 0)
		ml_json_set_str(c, "diffstat", diffstat + strspn(diffstat, "\n")); /* --format= leaves a blank line */
	ml_error_reset();
	free(names);
	free(diffstat);
	return c;
}

/* The dashboard's index lists bisects (web.h): write it again now that
 * this one has its result, rendering only the last step's run. */
static void update_site(const struct bisect *b)
{
	json_t *steps = json_object_get(b->doc, "steps");
	const char *last = NULL;
	struct ml_web_options wo = { .quiet = true };
	char *index = NULL;

	for (size_t i = json_array_size(steps); i-- > 0 && !last;)
		last = ml_json_str(json_array_get(steps, i), "run_dir");
	if (!last || !ml_path_exists(last)) {
		/* no step ran: the page beside bisect.json still needs the style */
		ml_autofree char *site = ml_path_join(b->cfg->results_dir, "site");
		if (ml_web_write_assets(site) < 0) {
			fprintf(stderr, "miglab: warning: dashboard assets not written: %s\n", ml_error_message());
			ml_error_reset();
		}
		return;
	}
	wo.runs = &last;
	wo.n_runs = 1;
	if (ml_web_write_site(b->cfg->results_dir, NULL, &wo, &index) < 0) {
		fprintf(stderr, "miglab: warning: dashboard not written: %s\n", ml_error_message());
		ml_error_reset();
	}
	free(index);
}

/* Record how the bisect ended; returns the exit status. */
static int finish(struct bisect *b, const char *outcome, json_t *result, const char *message, int status)
{
	ml_autofree char *path = ml_path_join(b->dir, ML_BISECT_FILE);
	ml_autofree char *page = ml_path_join(b->dir, "index.html");
	ml_autofree char *now = ml_timestamp_utc();

	if (!result)
		result = json_object();
	ml_json_set_str(result, "outcome", outcome);
	ml_json_set_str(result, "message", message);
	ml_json_set_int(result, "exit_status", status);
	ml_json_set(b->doc, "result", result);
	ml_json_set_str(b->doc, "state", status >= 128 ? "interrupted" : "done");
	ml_json_set_str(b->doc, "finished_at", now);
	ml_json_set_str(b->doc, "machine_used", b->machine);
	ml_json_set_int(b->doc, "steps_count", (long long)json_array_size(json_object_get(b->doc, "steps")));
	ml_json_set_int(b->doc, "wall_ms", ml_now_ms() - b->t0);
	if (ml_json_write_file(path, b->doc) < 0) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	if (ml_web_bisect_page(b->doc, page, "../../site/") < 0) {
		fprintf(stderr, "miglab: warning: bisect page not written: %s\n", ml_error_message());
		ml_error_reset();
	}
	update_site(b);
	printf("bisect: %s\n", path);
	return status;
}

/* An end that did not test as given: no bisect can start from it. */
static int end_failed(struct bisect *b, const char *role, const char *sha, const struct ml_bisect_call *c)
{
	bool bad_end = strcmp(role, "bad-end") == 0;
	ml_autofree char *reason = ml_text_safe(c->reason, false);
	ml_autofree char *msg = NULL;
	int status;

	if (c->cause == ML_BISECT_CAUSE_INTERRUPTED) {
		msg = ml_strdup_printf("interrupted while testing the %s end", bad_end ? "bad" : "good");
		status = 128 + (ml_interrupted ? ml_interrupted : SIGINT);
	} else if (c->cause == ML_BISECT_CAUSE_BUILD || c->cause == ML_BISECT_CAUSE_LAB) {
		msg = ml_strdup_printf("the %s end %.*s could not be tested: %s", bad_end ? "bad" : "good",
				       SHORT, sha, reason);
		status = ML_EXIT_LAB;
	} else if (c->mark == ML_BISECT_SKIP) {
		msg = ml_strdup_printf("the %s end %.*s is neither good nor bad: %s", bad_end ? "bad" : "good",
				       SHORT, sha, reason);
		status = ML_EXIT_FAIL;
	} else if (bad_end) {
		msg = ml_strdup_printf("the bad end %.*s (%s) passes, so there is nothing to bisect: %s",
				       SHORT, sha, b->git.ref, reason);
		status = ML_EXIT_FAIL;
	} else {
		msg = ml_strdup_printf("the good end %.*s fails too, so the failure is older: give an older "
				       "--good: %s", SHORT, sha, reason);
		status = ML_EXIT_FAIL;
	}
	fprintf(stderr, "miglab: bisect: %s\n", msg);
	return finish(b, status == ML_EXIT_FAIL ? (bad_end ? "bad-end-not-bad" : "good-end-not-good")
		      : status == ML_EXIT_LAB ? "lab-error" : "interrupted", NULL, msg, status);
}

static int found(struct bisect *b, const char *sha)
{
	json_t *result = json_object(), *facts = commit_facts(b, sha);
	ml_autofree char *cmd = reproduce_command(b, sha);
	ml_autofree char *subject = ml_text_safe(ml_json_str(facts, "subject"), false);
	ml_autofree char *author = ml_text_safe(ml_json_str(facts, "author"), false);
	ml_autofree char *msg = ml_strdup_printf("first bad commit: %s %s", sha, subject);

	ml_json_set(result, "first_bad", facts);
	ml_json_set_str(result, "reproduce", cmd);
	printf("\nfirst bad commit: %s\n  %s\n  author: %s\n  describe: %s\n", sha, subject, author,
	       ml_json_str(facts, "describe"));
	printf("reproduce: %s\n", cmd);
	return finish(b, "first-bad", result, msg, ML_EXIT_OK);
}

static int only_skipped(struct bisect *b, const struct ml_bisect_answer *a)
{
	json_t *result = json_object(), *cands = json_array();
	ml_autofree char *msg = ml_strdup_printf("only skipped commits are left: the first bad commit is "
						 "one of %zu", a->n_candidates);

	printf("\n%s:\n", msg);
	for (size_t i = 0; i < a->n_candidates; i++) {
		ml_autofree char *subject = commit_subject(b, a->candidates[i]);
		ml_autofree char *safe = ml_text_safe(subject, false);
		json_array_append_new(cands, json_pack("{s:s, s:s}", "commit", a->candidates[i], "subject",
						       safe));
		printf("  %s %s\n", a->candidates[i], safe);
	}
	ml_json_set(result, "candidates", cands);
	return finish(b, "only-skipped", result, msg, ML_EXIT_FAIL);
}

/* Keep git bisect's own log beside bisect.json: the clone goes away. */
static void save_bisect_log(const struct bisect *b)
{
	const char *args[] = { "bisect", "log", NULL };
	ml_autofree char *out = NULL;
	ml_autofree char *path = ml_path_join(b->dir, "git-bisect.log");

	if (ml_bisect_git(b->repo, args, &out, NULL) == 0)
		ml_write_atomic(path, out, strlen(out), 0644);
	ml_error_reset();
}

/* ---- the loop ------------------------------------------------------------ */

/* git bisect from the two tested ends until it names a commit. */
static int bisect_loop(struct bisect *b)
{
	const char *start[] = { "start", "--no-checkout", b->bad, b->good, NULL };
	struct ml_bisect_answer a;
	struct ml_bisect_call call = { 0 };
	int rc;

	if (bisect_cmd(b, start, &a) < 0)
		goto lab_error;
	while (a.status == ML_BISECT_CONTINUE) {
		const char *head[] = { "rev-parse", "--verify", "BISECT_HEAD", NULL };
		ml_autofree char *sha = NULL;
		const char *mark[3];
		int rc_head;
		if (ml_interrupted)
			goto lab_error;
		rc_head = ml_bisect_git(b->repo, head, &sha, NULL);
		if (rc_head != 0) {
			if (rc_head > 0)
				ml_error("git bisect gave no BISECT_HEAD in %s", b->repo);
			goto lab_error;
		}
		sha[strcspn(sha, "\n")] = '\0';
		ml_bisect_answer_clear(&a);
		if (test_commit(b, "bisect", sha, &call) < 0)
			goto lab_error;
		if (call.cause == ML_BISECT_CAUSE_INTERRUPTED) {
			ml_bisect_call_clear(&call);
			save_bisect_log(b);
			return finish(b, "interrupted", NULL, "interrupted",
				      128 + (ml_interrupted ? ml_interrupted : SIGINT));
		}
		mark[0] = ml_bisect_mark_name(call.mark);
		mark[1] = sha;
		mark[2] = NULL;
		ml_bisect_call_clear(&call);
		if (bisect_cmd(b, mark, &a) < 0)
			goto lab_error;
	}
	save_bisect_log(b);
	rc = a.status == ML_BISECT_FOUND ? found(b, a.first_bad) : only_skipped(b, &a);
	ml_bisect_answer_clear(&a);
	return rc;
lab_error:
	save_bisect_log(b);
	if (ml_interrupted) /* a git command cut short by ^C is not the lab's failure */
		return finish(b, "interrupted", NULL, "interrupted", 128 + ml_interrupted);
	ml_error_print();
	return finish(b, "lab-error", NULL, ml_error_message(), ML_EXIT_LAB);
}

/* The commit of --against when it is built from the same checkout with the
 * same patches (a bisect against another branch of it). */
static int against_commit(struct bisect *b)
{
	struct ml_bisect_git_spec a = { 0 };
	int ret = 0;

	if (strncmp(b->o->against, "git:", 4) != 0)
		return 0;
	if (ml_bisect_parse_git_spec(b->o->against, &a) < 0)
		return ml_error_context("--against");
	if (strcmp(a.dir, b->git.dir) == 0 && strcmp(a.patches, b->git.patches) == 0 &&
	    ml_bisect_resolve(a.dir, a.ref, b->against) < 0)
		ret = ml_error_context("--against");
	ml_bisect_git_spec_clear(&a);
	return ret;
}

/* Resolve the ends in the user's checkout (its branches, tags and remote
 * refs are what the user named; reading them changes nothing there) and
 * check their order before anything is made; then the results directory
 * and the clone. */
static int prepare(struct bisect *b)
{
	struct ml_bisect_git_spec good = { 0 };
	struct ml_build checked = { 0 };
	ml_autofree char *parent = NULL;
	int anc;

	/* the provider's own checks first: the checkout exists, the patches are files */
	if (ml_build_parse(b->o->bad, &checked) < 0)
		return -1;
	ml_build_clear(&checked);

	if (ml_bisect_parse_git_spec(b->o->bad, &b->git) < 0 || ml_bisect_parse_git_spec(b->o->good, &good) < 0 ||
	    ml_bisect_resolve(b->git.dir, good.ref, b->good) < 0 ||
	    ml_bisect_resolve(b->git.dir, b->git.ref, b->bad) < 0) {
		ml_bisect_git_spec_clear(&good);
		return -1;
	}
	if (strcmp(b->good, b->bad) == 0) {
		ml_error("--good %s and --bad %s are the same commit %s", good.ref, b->git.ref, b->good);
		ml_bisect_git_spec_clear(&good);
		return -1;
	}
	ml_bisect_git_spec_clear(&good);
	if (against_commit(b) < 0)
		return -1;
	anc = ml_bisect_is_ancestor(b->git.dir, b->good, b->bad);
	if (anc < 0)
		return -1;
	if (!anc) {
		ml_error("the good commit %s is not an ancestor of the bad commit %s: git bisect needs "
			 "good in the history of bad", b->good, b->bad);
		return -1;
	}
	parent = ml_path_join(b->cfg->results_dir, ML_BISECT_DIR);
	if (b->o->id) {
		ml_autofree char *taken = ml_path_join(parent, b->o->id);
		if (ml_path_exists(taken)) {
			ml_error("bisect %s already exists in %s (give another --run-id)", b->o->id, parent);
			return -1;
		}
	}
	if (ml_run_dir_create(parent, b->o->id, &b->id, &b->dir) < 0)
		return -1;
	b->work = ml_strdup_printf("%s/%s/%s", b->cfg->cache_dir, ML_BISECT_DIR, b->id);
	b->repo = ml_path_join(b->work, "repo");
	if (make_clone(b) < 0) {
		ml_rm_rf(b->dir); /* nothing was recorded in it */
		return -1;
	}
	return 0;
}

int ml_bisect_run(const struct ml_config *cfg, const struct ml_bisect_options *o)
{
	struct bisect b = { .cfg = cfg, .o = o, .t0 = ml_now_ms(), .machine = strdup(o->machine) };
	struct ml_bisect_call call = { 0 };
	int rc;

	if (prepare(&b) < 0) {
		ml_error_print();
		rc = ML_EXIT_LAB;
		goto out;
	}
	b.doc = ml_bisect_doc_new(b.id, o, &b.git, b.good, b.bad);
	fprintf(stderr, "miglab: bisect %s: good %.*s, bad %.*s, against %s, %s, kernel %s -> %s\n", b.id,
		SHORT, b.good, SHORT, b.bad, o->against, o->machine, kernel_of(&b), b.dir);
	/* Like a careful user: check that the ends are what they are said to be. */
	if (test_commit(&b, "bad-end", b.bad, &call) < 0) {
		ml_error_print();
		rc = ML_EXIT_LAB;
		goto out;
	}
	if (call.mark != ML_BISECT_BAD) {
		rc = end_failed(&b, "bad-end", b.bad, &call);
		goto out;
	}
	ml_bisect_call_clear(&call);
	if (test_commit(&b, "good-end", b.good, &call) < 0) {
		ml_error_print();
		rc = ML_EXIT_LAB;
		goto out;
	}
	if (call.mark != ML_BISECT_GOOD) {
		rc = end_failed(&b, "good-end", b.good, &call);
		goto out;
	}
	rc = bisect_loop(&b);
out:
	ml_bisect_call_clear(&call);
	/* the clone only holds git bisect's state; its log is in the results */
	if (b.work)
		ml_rm_rf(b.work);
	ml_bisect_git_spec_clear(&b.git);
	json_decref(b.doc);
	free(b.id);
	free(b.dir);
	free(b.work);
	free(b.repo);
	free(b.machine);
	return rc;
}
