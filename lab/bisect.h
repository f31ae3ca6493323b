/* `miglab bisect`: find the commit of a QEMU git checkout at which one cell
 * (a build migrating to another, one machine type and kernel) starts to
 * fail. git bisect chooses the commits, in a bare clone of its own (the
 * user's checkout is only read); miglab builds each one (provider
 * git:DIR@COMMIT, lab/build.h) and runs a two-cell matrix per step: the
 * commit's control (commit -> commit) and the pair (commit -> against, or
 * against -> commit when the failing cell had the git build as destination).
 *
 *   <results>/bisect/<id>/bisect.json   inputs, every step, the result
 *   <results>/bisect/<id>/index.html    the same as a page (web.h)
 *   <results>/bisect/<id>/steps/NN-COMMIT.ini  the matrix of each step
 *   <results>/<id>-sNN-<commit>/        each step's run, a run like any other
 *
 * A step is good when its control passes and the pair passes, bad when the
 * control passes and the pair fails deterministically, and skipped (with
 * its cause) otherwise: a build's own defect is never blamed on the pair,
 * and an intermittent failure cannot place a commit on either side. */
#ifndef ML_BISECT_H
#define ML_BISECT_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

#define ML_BISECT_SCHEMA "miglab-bisect/1"
/* Under the results directory: <results>/bisect/<id>/. */
#define ML_BISECT_DIR "bisect"
#define ML_BISECT_FILE "bisect.json"

/* ---- git: providers ------------------------------------------------------ */

/* A git: provider split into its parts: git:DIR@REF[+patch:/abs/file]...
 * DIR is everything up to the last '@' before the first "+patch:" (a
 * directory may hold '@', a ref as bisect uses it does not need to);
 * patches is the whole suffix from the first "+patch:" ("" without one),
 * carried unchanged to every commit tested. "source:" (the provider's older
 * name) is read as "git:". The grammar is lab/source-build.h's. */
struct ml_bisect_git_spec {
	char *dir;
	char *ref;
	char *patches;
};
/* -1 with an error naming spec when it is not a git: provider, or its DIR
 * (absolute) or REF is missing or starts with '-'. */
int ml_bisect_parse_git_spec(const char *spec, struct ml_bisect_git_spec *out);
void ml_bisect_git_spec_clear(struct ml_bisect_git_spec *s);
/* "git:DIR@COMMIT" plus the patches suffix. Caller frees. */
char *ml_bisect_commit_spec(const struct ml_bisect_git_spec *s, const char *commit);

/* ---- inputs -------------------------------------------------------------- */

/* How the cell runs beyond its builds, machine type and kernel: the
 * `miglab cell` options and matrix keys a failing cell may have used (zero,
 * "" and false: the defaults). Plain values, so they copy freely. */
struct ml_bisect_settings {
	int memory_mib;        /* [guest] memory, --memory */
	int workload_mib;      /* [guest] workload, --workload */
	int max_bandwidth_mib; /* [migration] max-bandwidth, --max-bandwidth */
	char kernel_boot[8];   /* [guest] kernel-boot: "" (auto), "pvh", "bzimage" */
	char abi_severity[8];  /* [abi] severity: "" (warn) or "fail" */
	bool no_abi;           /* [abi] dump = false, --no-abi */
	bool no_reboot;        /* [abi] reboot = false, --no-reboot */
};
/* Set a string setting from text (kernel-boot: auto/pvh/bzimage; abi
 * severity: warn/fail); -1 with an error naming the accepted values. */
int ml_bisect_set_kernel_boot(struct ml_bisect_settings *s, const char *v);
int ml_bisect_set_abi_severity(struct ml_bisect_settings *s, const char *v);

struct ml_bisect_outcome;
/* How a commit is tested. The program builds it and runs its step matrix;
 * a test puts a rule here to drive the whole bisect without QEMU. */
struct ml_bisect_tester {
	/* Test the commit (role "bad-end", "good-end" or "bisect"; spec its
	 * provider; step its number from 1) and fill out. */
	void (*test)(void *ctx, const char *role, const char *spec, const char *commit, unsigned step,
		     struct ml_bisect_outcome *out);
	void *ctx;
};

struct ml_bisect_options {
	const char *id;       /* the bisect's id; NULL: a new timestamped one */
	const char *good;     /* git:DIR@REF known to pass */
	const char *bad;      /* git:DIR@REF known to fail, same DIR and patches */
	const char *against;  /* the other build of the cell: any provider */
	const char *machine;  /* machine type or alias (q35, pc-q35-10.0) */
	const char *kernel;   /* guest kernel provider; NULL: debian:bookworm */
	const char *accel;    /* "tcg" (NULL) or "kvm" */
	int repeat;           /* confirming attempts of a cell that does not pass */
	bool step_is_dst;     /* the pair is against -> commit (from a cell) */
	struct ml_bisect_settings settings;
	const char *from_run; /* the run and cell the inputs came from, or NULL */
	const char *from_cell;
	const struct ml_bisect_tester *tester; /* NULL: build and run (the program) */
};
#define ML_BISECT_DEFAULT_KERNEL "debian:bookworm"

/* Check the options before anything runs: good and bad git: providers of
 * the same DIR with the same patches, against, machine (of the q35 or i440fx
 * family) and kernel present, the step matrix's lines within bounds.
 * -1 with an error naming the cause. */
int ml_bisect_check_options(const struct ml_bisect_options *o);

/* The matrix family of a machine type or alias: "q35" (pc-q35-X.Y, q35),
 * "i440fx" (pc-i440fx-X.Y, pc), or NULL. */
const char *ml_bisect_machine_family(const char *machine);

/* The matrix of one step (docs/matrix.md): builds "step" (spec) and
 * "against", the pairs step -> step (the control) and step -> against (or
 * against -> step with step_is_dst), control = false, confirm = repeat, one
 * kernel, the machine type as the only entry of its family's list, and
 * the settings that are not defaults. Caller frees. */
char *ml_bisect_step_matrix(const struct ml_bisect_options *o, const char *id, const char *machine,
			    const char *spec, unsigned step);

/* What `miglab bisect RUN CELL --good SPEC` takes from the failing cell's
 * cell.json: its git: build (the side whose DIR is good's) is the bad end,
 * the other side is against; machine (the concrete one), kernel, accel and
 * the settings as the cell ran. All strings owned. *extra_args tells that
 * the cell had extra QEMU arguments, which a matrix cannot give. */
struct ml_bisect_cell_inputs {
	char *bad, *against, *machine, *kernel, *accel;
	bool step_is_dst;
	struct ml_bisect_settings settings;
	bool extra_args;
};
int ml_bisect_read_cell(const char *run_dir, const char *cell_id, const char *good,
			struct ml_bisect_cell_inputs *out);
void ml_bisect_cell_inputs_clear(struct ml_bisect_cell_inputs *c);

/* The control and the pair of a step's run directory: its run.json's judged
 * cells, the control being the one with the same build on both sides, and
 * each one's cell.json. Either is NULL when missing or unreadable. */
void ml_bisect_read_step(const char *run_dir, json_t **control, json_t **pair);

/* ---- the judgement of one step ------------------------------------------ */

enum ml_bisect_mark { ML_BISECT_GOOD, ML_BISECT_BAD, ML_BISECT_SKIP };

/* Why a step is skipped (or NONE when it is good or bad). */
enum ml_bisect_cause {
	ML_BISECT_CAUSE_NONE,
	ML_BISECT_CAUSE_BUILD,         /* the commit could not be built */
	ML_BISECT_CAUSE_LAB,           /* the lab failed (a cell's verdict error, a run that failed) */
	ML_BISECT_CAUSE_INTERRUPTED,   /* SIGINT/SIGTERM */
	ML_BISECT_CAUSE_CONTROL,       /* the commit fails migrating to itself */
	ML_BISECT_CAUSE_INTERMITTENT,  /* the pair fails only sometimes */
	ML_BISECT_CAUSE_NOT_APPLICABLE,/* a cell was skipped (machine type missing) */
	ML_BISECT_CAUSE_AGAINST,       /* the commit is the against build itself */
};
const char *ml_bisect_mark_name(enum ml_bisect_mark m);
const char *ml_bisect_cause_name(enum ml_bisect_cause c);

struct ml_bisect_call {
	enum ml_bisect_mark mark;
	enum ml_bisect_cause cause;
	char *reason; /* one line; owned */
};
/* What testing one commit gave; everything owned (ml_bisect_outcome_clear). */
struct ml_bisect_outcome {
	struct ml_bisect_call call;
	json_t *build;          /* {version, version_line, sha256}; NULL when not built */
	char *run_id, *run_dir; /* the step's run; NULL when none ran */
	json_t *control, *pair; /* its judged cells (cell.json); NULL when missing */
};
void ml_bisect_outcome_clear(struct ml_bisect_outcome *o);

/* Judge a step from its two judged cells (cell.json documents; either may
 * be NULL when missing): control not passing -> skip; then the pair's
 * category: pass or xpass -> good; fail (deterministic or a single attempt)
 * or a deterministic xfail -> bad; intermittent, unsound -> skip; skip ->
 * skip (not applicable); error -> skip (lab). */
void ml_bisect_judge_step(const json_t *control, const json_t *pair, struct ml_bisect_call *out);
void ml_bisect_call_clear(struct ml_bisect_call *c);

/* ---- git bisect's answers ----------------------------------------------- */

enum ml_bisect_status {
	ML_BISECT_CONTINUE,      /* "Bisecting: N revisions left ..." */
	ML_BISECT_FOUND,         /* "<commit> is the first bad commit" */
	ML_BISECT_ONLY_SKIPPED,  /* "There are only 'skip'ped commits left to test." */
};
struct ml_bisect_answer {
	enum ml_bisect_status status;
	char first_bad[65];      /* FOUND */
	char (*candidates)[65];  /* ONLY_SKIPPED: the commits that could be the first bad */
	size_t n_candidates;
};
/* Parse what `git bisect start|good|bad|skip` printed (LC_ALL=C). -1 with
 * an error quoting the text when it says none of the three. */
int ml_bisect_parse_answer(const char *text, struct ml_bisect_answer *out);
void ml_bisect_answer_clear(struct ml_bisect_answer *a);

/* ---- git ----------------------------------------------------------------- */

/* Run `git -C dir ARGS...` (argv, no shell; LC_ALL=C, no terminal prompt).
 * *out (may be NULL) receives stdout, *err_out (may be NULL) stderr, both
 * capped at 4 MiB. Returns git's exit status, or -1 when git could not run. */
int ml_bisect_git(const char *dir, const char *const *args, char **out, char **err_out);
/* The full commit id REF names in dir (`rev-parse --verify REF^{commit}`),
 * into sha (65 bytes). -1 with an error naming ref and dir when it names no
 * commit there. */
int ml_bisect_resolve(const char *dir, const char *ref, char sha[65]);
/* 1 when a is an ancestor of b (or a == b), 0 when not, -1 on error. */
int ml_bisect_is_ancestor(const char *dir, const char *a, const char *b);

/* ---- bisect.json ------------------------------------------------------- */

/* One tested commit as bisect.json records it. */
struct ml_bisect_step {
	const char *role;       /* "bad-end", "good-end" or "bisect" */
	const char *commit;
	const char *subject;    /* git log -1 --format=%s */
	const char *describe;   /* git describe --always --tags */
	const char *spec;       /* the build provider tested */
	json_t *build;          /* {version, version_line, sha256} or NULL (not built) */
	const char *run_id;     /* the step's run, or NULL (not run) */
	const char *run_dir;
	const json_t *control;  /* judged cell documents, or NULL */
	const json_t *pair;
	const struct ml_bisect_call *call;
	long long wall_ms;
};
/* A new bisect.json document: schema, id, state "running", inputs, an empty
 * steps array, result null. */
json_t *ml_bisect_doc_new(const char *id, const struct ml_bisect_options *o,
			  const struct ml_bisect_git_spec *git, const char *good_commit,
			  const char *bad_commit);
/* Append one step (its cells reduced to verdict, category, reason, repeat). */
void ml_bisect_doc_add_step(json_t *doc, const struct ml_bisect_step *s);

/* ---- the whole bisect --------------------------------------------------- */

/* Run the bisect (see above) and print its summary. Returns the exit
 * status (docs/usage.md "miglab bisect"):
 *   0  the first bad commit is named;
 *   1  no single commit is: an end did not test as given (the bad commit
 *      passes, the good one fails, or either is skipped as intermittent or
 *      failing its own control), or only skipped commits are left (the
 *      candidates are listed);
 *   2  bad usage or the lab failed (a ref names no commit, good is not an
 *      ancestor of bad, an end could not be built or its run failed);
 *   128+N interrupted by signal N. */
int ml_bisect_run(const struct ml_config *cfg, const struct ml_bisect_options *o);

#endif
