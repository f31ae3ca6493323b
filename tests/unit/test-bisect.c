/* `miglab bisect` without QEMU: git: specs, the options' checks (and the
 * real program's exit status and message for bad input), the judgement of a
 * step from its two cells, git bisect's answers (recorded and from the git
 * installed, driven over a tiny repository made here), ref resolution and
 * ancestry, a failing cell as the bad end, bisect.json's shape and its page. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "bisect.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "build.h"
#include "matrix.h"
#include "plan.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "web.h"
#include "ml-common.h"

extern char **environ;

/* ---- git: specs ---------------------------------------------------------- */

static void test_parse_git_spec(void **state)
{
	struct ml_bisect_git_spec s;
	(void)state;

	assert_int_equal(ml_bisect_parse_git_spec("git:/src/qemu@v10.0.0", &s), 0);
	assert_string_equal(s.dir, "/src/qemu");
	assert_string_equal(s.ref, "v10.0.0");
	assert_string_equal(s.patches, "");
	ml_bisect_git_spec_clear(&s);

	/* a directory with '@'; patches kept whole; a trailing slash dropped */
	assert_int_equal(ml_bisect_parse_git_spec("git:/home/a@b/qemu/@stable-10.0+patch:/p/1.patch+patch:/p/2.patch",
						  &s), 0);
	assert_string_equal(s.dir, "/home/a@b/qemu");
	assert_string_equal(s.ref, "stable-10.0");
	assert_string_equal(s.patches, "+patch:/p/1.patch+patch:/p/2.patch");
	{
		ml_autofree char *c = ml_bisect_commit_spec(&s, "0123abcd");
		assert_string_equal(c, "git:/home/a@b/qemu@0123abcd+patch:/p/1.patch+patch:/p/2.patch");
	}
	ml_bisect_git_spec_clear(&s);
}

static void expect_spec_error(const char *spec, const char *needle)
{
	struct ml_bisect_git_spec s;

	assert_int_equal(ml_bisect_parse_git_spec(spec, &s), -1);
	print_message("%s -> %s\n", spec, ml_error_message());
	assert_non_null(strstr(ml_error_message(), needle));
	assert_null(s.dir);
}

static void test_parse_git_spec_errors(void **state)
{
	(void)state;
	expect_spec_error("debian:trixie", "is not a git: provider");
	expect_spec_error("git:/src/qemu", "needs a directory and a ref");
	expect_spec_error("git:/src/qemu@", "needs a directory and a ref");
	expect_spec_error("git:/src/qemu@+patch:/a.patch", "needs a directory and a ref");
	expect_spec_error("git:@v1", "needs a directory and a ref");
	expect_spec_error("git:src/qemu@v1", "must be an absolute path");
	expect_spec_error("git:/src/qemu@--upload-pack=x", "cannot start with '-'");
}

static void test_machine_family(void **state)
{
	(void)state;
	assert_string_equal(ml_bisect_machine_family("q35"), "q35");
	assert_string_equal(ml_bisect_machine_family("pc-q35-10.0"), "q35");
	assert_string_equal(ml_bisect_machine_family("pc"), "i440fx");
	assert_string_equal(ml_bisect_machine_family("pc-i440fx-7.2"), "i440fx");
	assert_null(ml_bisect_machine_family("microvm"));
	assert_null(ml_bisect_machine_family("virt"));
	assert_null(ml_bisect_machine_family(NULL));
}

/* ---- the options ------------------------------------------------------- */

static const struct ml_bisect_options good_options = {
	.good = "git:/src/qemu@v10.0.0",
	.bad = "git:/src/qemu@v10.1.0",
	.against = "debian:trixie",
	.machine = "pc-q35-10.0",
	.repeat = 2,
};

static void expect_options_error(const struct ml_bisect_options *o, const char *needle)
{
	assert_int_equal(ml_bisect_check_options(o), -1);
	print_message("-> %s\n", ml_error_message());
	assert_non_null(strstr(ml_error_message(), needle));
}

static void test_check_options(void **state)
{
	struct ml_bisect_options o = good_options;
	(void)state;

	assert_int_equal(ml_bisect_check_options(&o), 0);
	o.good = "debian:bookworm";
	expect_options_error(&o, "--good: 'debian:bookworm' is not a git: provider");
	o = good_options;
	o.bad = "path:/usr/bin/true";
	expect_options_error(&o, "--bad: 'path:/usr/bin/true' is not a git: provider");
	o = good_options;
	o.bad = "git:/src/other@v10.1.0";
	expect_options_error(&o, "different git directories (/src/qemu and /src/other)");
	o = good_options;
	o.bad = "git:/src/qemu@v10.1.0+patch:/fix.patch";
	expect_options_error(&o, "different patches");
	o = good_options;
	o.against = NULL;
	expect_options_error(&o, "--against BUILD is required");
	o = good_options;
	o.machine = NULL;
	expect_options_error(&o, "--machine MACHINE is required");
	o = good_options;
	o.good = NULL;
	expect_options_error(&o, "--good git:DIR@REF is required");
	o = good_options;
	o.against = o.bad;
	expect_options_error(&o, "is one of the ends");
	o = good_options;
	o.against = "rpm:qemu";
	expect_options_error(&o, "--against");
	o = good_options;
	o.machine = "microvm";
	expect_options_error(&o, "not a q35 or i440fx machine type");
	o = good_options;
	o.kernel = "path:/boot/vmlinuz";
	expect_options_error(&o, "--kernel");
	o = good_options;
	o.accel = "hvf";
	expect_options_error(&o, "--accel must be tcg or kvm");
	o = good_options;
	o.settings.workload_mib = 200;
	expect_options_error(&o, "--workload must be at most half of the guest memory (256 MiB)");
	o = good_options;
	assert_int_equal(ml_bisect_set_kernel_boot(&o.settings, "uefi"), -1);
	assert_non_null(strstr(ml_error_message(), "--kernel-boot must be auto, pvh or bzimage, not 'uefi'"));
	assert_int_equal(ml_bisect_set_abi_severity(&o.settings, "strict"), -1);
	o = good_options;
	o.id = "a/b";
	expect_options_error(&o, "--run-id must be a plain name");
	{
		/* a provider line longer than a matrix line takes */
		char dir[200];
		ml_autofree char *good = NULL;
		ml_autofree char *bad = NULL;
		memset(dir, 'd', sizeof(dir) - 1);
		dir[0] = '/';
		dir[sizeof(dir) - 1] = '\0';
		good = ml_strdup_printf("git:%s@a", dir);
		bad = ml_strdup_printf("git:%s@b", dir);
		o = good_options;
		o.good = good;
		o.bad = bad;
		expect_options_error(&o, "longer than a matrix line");
	}
}

/* A step's matrix reads back as the matrix the step means. The provider is
 * a path: here: the parser only checks a provider's form, and this test is
 * about the rest. */
static void test_step_matrix(void **state)
{
	struct ml_bisect_options o = good_options;
	struct ml_matrix m;
	ml_autofree char *text = NULL;
	(void)state;

	o.step_is_dst = true;
	o.settings.memory_mib = 512;
	o.settings.workload_mib = 128;
	o.settings.max_bandwidth_mib = 100;
	o.settings.no_reboot = true;
	assert_int_equal(ml_bisect_set_kernel_boot(&o.settings, "bzimage"), 0);
	assert_int_equal(ml_bisect_set_abi_severity(&o.settings, "fail"), 0);
	o.repeat = 3;
	o.accel = "kvm";
	text = ml_bisect_step_matrix(&o, "B", "pc-i440fx-9.2", "path:/opt/qemu/bin/qemu-system-x86_64", 4);
	print_message("%s", text);
	assert_int_equal(ml_matrix_parse(text, strlen(text), "step.ini", &m), 0);
	assert_string_equal(m.name, "bisect-B");
	assert_string_equal(m.accel, "kvm");
	assert_false(m.control);
	assert_int_equal(m.pairs, ML_PAIRS_LIST);
	assert_int_equal(m.confirm, 3);
	assert_int_equal(m.n_builds, 2);
	assert_string_equal(m.builds[0].name, "step");
	assert_string_equal(m.builds[0].provider, "path:/opt/qemu/bin/qemu-system-x86_64");
	assert_string_equal(m.builds[1].provider, "debian:trixie");
	assert_int_equal(m.n_pairs, 2);
	assert_int_equal(m.pairs_list[0].src, 0); /* the control */
	assert_int_equal(m.pairs_list[0].dst, 0);
	assert_int_equal(m.pairs_list[1].src, 1); /* against -> step */
	assert_int_equal(m.pairs_list[1].dst, 0);
	assert_int_equal(m.n_kernels, 1);
	assert_string_equal(m.kernels[0].provider, ML_BISECT_DEFAULT_KERNEL);
	assert_int_equal(m.n_families, 1);
	assert_string_equal(m.families[0].family, "i440fx");
	assert_int_equal(m.families[0].n_list, 1);
	assert_string_equal(m.families[0].list[0], "pc-i440fx-9.2");
	assert_int_equal(m.memory_mib, 512);
	assert_int_equal(m.workload_mib, 128);
	assert_int_equal(m.max_bandwidth_mib, 100);
	assert_string_equal(m.kernel_boot, "bzimage");
	assert_string_equal(m.abi_severity, "fail");
	assert_false(m.abi_reboot);
	assert_true(m.abi_dump);
	{
		/* planned with real machine lists: two cells, the control and
		 * the pair, on the one machine type */
		char *help = NULL;
		json_t *machines[2];
		struct ml_plan plan;
		assert_int_equal(ml_read_file(ml_test_data("machines/qemu-10.0.13-debian-trixie.txt"), 1 << 20, &help,
					      NULL), 0);
		machines[0] = ml_build_parse_machine_help(help);
		machines[1] = json_incref(machines[0]);
		free(help);
		assert_int_equal(ml_plan_expand(&m, machines, &plan), 0);
		assert_int_equal(plan.n, 2);
		assert_true(plan.cells[0].control);
		assert_false(plan.cells[1].control);
		assert_int_equal(plan.cells[1].src, 1);
		assert_string_equal(plan.cells[0].machine, "pc-i440fx-9.2");
		assert_null(plan.cells[1].skip_reason);
		ml_plan_clear(&plan);
		json_decref(machines[0]);
		json_decref(machines[1]);
	}
	ml_matrix_clear(&m);
}

/* The program itself: bad input is exit 2 with the cause on stderr. */
static int miglab(const char *const *args, struct ml_buf *out)
{
	const char *argv[24] = { MIGLAB_BIN };
	size_t n = 1;
	struct ml_buf err = ML_BUF_INIT(0);
	struct ml_proc_spec spec = { .stdin_fd = -1, .envp = (const char *const *)environ };
	int status;

	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	spec.argv = argv;
	assert_int_equal(ml_proc_run(&spec, 120000, out, &err, &status), 0);
	ml_buf_puts(out, err.data ? err.data : "");
	ml_buf_free(&err);
	print_message("%s", out->data ? out->data : "");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void expect_cli_error(const char *const *args, const char *needle)
{
	struct ml_buf out = ML_BUF_INIT(0);

	assert_int_equal(miglab(args, &out), 2);
	assert_non_null(strstr(out.data, needle));
	ml_buf_free(&out);
}

static void test_cli_bad_input(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	(void)state;

	{
		const char *a[] = { "bisect", "--results-dir", tmp, "--good", "debian:trixie", "--bad",
				    "git:/src/qemu@v1", "--against", "debian:trixie", "--machine", "q35", NULL };
		expect_cli_error(a, "miglab bisect: --good: 'debian:trixie' is not a git: provider");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "--good", "git:/a@v1", "--bad", "git:/b@v2",
				    "--against", "debian:trixie", "--machine", "q35", NULL };
		expect_cli_error(a, "different git directories (/a and /b)");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "--good", "git:/a@v1", "--bad", "git:/a@v2",
				    "--machine", "q35", NULL };
		expect_cli_error(a, "--against BUILD is required");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "--good", "git:/a@v1", "--bad", "git:/a@v2",
				    "--against", "debian:trixie", NULL };
		expect_cli_error(a, "--machine MACHINE is required");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "--good", "git:/a@v1", "--repeat", "x", NULL };
		expect_cli_error(a, "--repeat needs a number from 0 to 20, not 'x'");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "--good", "git:/a@v1", "--memory", "32", NULL };
		expect_cli_error(a, "--memory needs a whole number from 64 to 65536, not '32'");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "run", "cell", "--good", "git:/a@v1",
				    "--no-reboot", NULL };
		expect_cli_error(a, "with RUN CELL, --bad, --against, --machine, --kernel, --accel and how the "
				    "cell runs come from the cell");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "only-one-arg", NULL };
		expect_cli_error(a, "expected no argument or RUN CELL");
	}
	{
		const char *a[] = { "bisect", "--results-dir", tmp, "no-such-run", "no-such-cell", "--good",
				    "git:/a@v1", NULL };
		expect_cli_error(a, "cell no-such-cell of run");
	}
	ml_test_rmtree(tmp);
}

/* ---- the judgement of a step -------------------------------------------- */

/* A judged cell as cell.json has it: verdict, reason, the repeat kind, and
 * optionally the unsound block. */
static json_t *cell(const char *verdict, const char *repeat_kind, bool unsound)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "cell_id", "c", "verdict", verdict,
			      "reason", "because", "repeat", "kind", repeat_kind, "text", "k of n");
	if (unsound)
		ml_json_set(c, "unsound", json_pack("{s:s}", "role", "source"));
	return c;
}

struct judge_case {
	const char *control, *control_repeat;
	const char *pair, *pair_repeat;
	bool pair_unsound;
	enum ml_bisect_mark mark;
	enum ml_bisect_cause cause;
	const char *reason_has;
};

static void test_judge_step(void **state)
{
	static const struct judge_case cases[] = {
		{ "pass", "single", "pass", "single", false, ML_BISECT_GOOD, ML_BISECT_CAUSE_NONE, "pair pass" },
		{ "pass", "single", "fail", "deterministic", false, ML_BISECT_BAD, ML_BISECT_CAUSE_NONE,
		  "pair fail: because" },
		{ "pass", "single", "fail", "single", false, ML_BISECT_BAD, ML_BISECT_CAUSE_NONE, "pair fail" },
		{ "pass", "single", "fail", "intermittent", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_INTERMITTENT,
		  "only sometimes" },
		{ "pass", "single", "xfail", "deterministic", false, ML_BISECT_BAD, ML_BISECT_CAUSE_NONE, "xfail" },
		{ "pass", "single", "xfail", "intermittent", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_INTERMITTENT,
		  "only sometimes" },
		{ "pass", "single", "xpass", "single", false, ML_BISECT_GOOD, ML_BISECT_CAUSE_NONE, "xpass" },
		{ "pass", "single", "skip", "single", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_NOT_APPLICABLE, "skip" },
		{ "pass", "single", "error", "single", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_LAB, "error" },
		{ "pass", "single", "fail", "deterministic", true, ML_BISECT_SKIP, ML_BISECT_CAUSE_CONTROL,
		  "source-unsound" },
		/* the control decides first: never blame the pair for the build */
		{ "fail", "deterministic", "fail", "deterministic", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_CONTROL,
		  "control (the commit migrating to itself) did not pass: fail" },
		{ "fail", "intermittent", "pass", "single", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_CONTROL,
		  "intermittent" },
		{ "error", "single", "pass", "single", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_LAB, "error" },
		{ "skip", "single", "skip", "single", false, ML_BISECT_SKIP, ML_BISECT_CAUSE_NOT_APPLICABLE, "skip" },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		const struct judge_case *k = &cases[i];
		json_t *control = cell(k->control, k->control_repeat, false);
		json_t *pair = cell(k->pair, k->pair_repeat, k->pair_unsound);
		struct ml_bisect_call call;
		ml_bisect_judge_step(control, pair, &call);
		print_message("case %zu: %s %s: %s\n", i, ml_bisect_mark_name(call.mark),
			      ml_bisect_cause_name(call.cause) ? ml_bisect_cause_name(call.cause) : "-", call.reason);
		assert_int_equal(call.mark, k->mark);
		assert_int_equal(call.cause, k->cause);
		assert_non_null(strstr(call.reason, k->reason_has));
		ml_bisect_call_clear(&call);
		json_decref(control);
		json_decref(pair);
	}
	{
		/* a run without its cells (the run failed before judging) */
		json_t *control = cell("pass", "single", false);
		struct ml_bisect_call call;
		ml_bisect_judge_step(control, NULL, &call);
		assert_int_equal(call.mark, ML_BISECT_SKIP);
		assert_int_equal(call.cause, ML_BISECT_CAUSE_LAB);
		assert_string_equal(call.reason, "the step's run has no judged pair cell");
		ml_bisect_call_clear(&call);
		ml_bisect_judge_step(NULL, NULL, &call);
		assert_string_equal(call.reason, "the step's run has no judged control cell");
		ml_bisect_call_clear(&call);
		json_decref(control);
	}
}

/* ---- git bisect's answers ----------------------------------------------- */

static void test_parse_answer(void **state)
{
	struct ml_bisect_answer a;
	(void)state;

	assert_int_equal(ml_bisect_parse_answer("Bisecting: 2 revisions left to test after this (roughly 1 step)\n"
						"[f356f45664e75a336f4f6faf60a1d1eba7ab1735] c3\n", &a), 0);
	assert_int_equal(a.status, ML_BISECT_CONTINUE);
	ml_bisect_answer_clear(&a);

	assert_int_equal(ml_bisect_parse_answer(
				 "076a96e8c61259d707c9aebd3fa493dc235a94b3 is the first bad commit\n"
				 "commit 076a96e8c61259d707c9aebd3fa493dc235a94b3\nAuthor: T <t@x>\n"
				 "Date:   Tue Dec 1 03:22:58 2026 +0000\n\n    c2 is the first bad commit of mine\n\n"
				 " f2 | 1 +\n 1 file changed, 1 insertion(+)\n", &a), 0);
	assert_int_equal(a.status, ML_BISECT_FOUND);
	assert_string_equal(a.first_bad, "076a96e8c61259d707c9aebd3fa493dc235a94b3");
	ml_bisect_answer_clear(&a);

	assert_int_equal(ml_bisect_parse_answer(
				 "There are only 'skip'ped commits left to test.\n"
				 "The first bad commit could be any of:\n"
				 "f356f45664e75a336f4f6faf60a1d1eba7ab1735\n"
				 "faf5f59c984d43814134ff2dfb9007bcd2926a18\n"
				 "43e18cd4e8f85750f3d24e45efb37eec4a3ad39d\n"
				 "We cannot bisect more!\n", &a), 0);
	assert_int_equal(a.status, ML_BISECT_ONLY_SKIPPED);
	assert_int_equal(a.n_candidates, 3);
	assert_string_equal(a.candidates[0], "f356f45664e75a336f4f6faf60a1d1eba7ab1735");
	assert_string_equal(a.candidates[2], "43e18cd4e8f85750f3d24e45efb37eec4a3ad39d");
	ml_bisect_answer_clear(&a);

	/* a subject that merely says the words is not an answer */
	assert_int_equal(ml_bisect_parse_answer("[abc] fix: x is the first bad commit\n", &a), -1);
	assert_int_equal(ml_bisect_parse_answer("fatal: bad revision 'x'\n", &a), -1);
	assert_non_null(strstr(ml_error_message(), "unexpected answer from git bisect"));
	assert_int_equal(ml_bisect_parse_answer("There are only 'skip'ped commits left to test.\n", &a), -1);
	assert_int_equal(ml_bisect_parse_answer(NULL, &a), -1);
}

/* ---- a real repository ---------------------------------------------------- */

/* A repository of 8 commits c1..c8 (tag v1 on c1, v8 on c8) in tmp/src;
 * shas[i] is commit c(i+1). */
static char *make_repo(const char *tmp, char shas[8][65])
{
	char *src = ml_path_join(tmp, "src");
	const char *init[] = { "init", "--quiet", src, NULL };

	assert_int_equal(ml_bisect_git(tmp, init, NULL, NULL), 0);
	for (int i = 0; i < 8; i++) {
		ml_autofree char *name = ml_strdup_printf("f%d", i + 1);
		ml_autofree char *path = ml_path_join(src, name);
		ml_autofree char *msg = ml_strdup_printf("c%d: change %s", i + 1, name);
		const char *add[] = { "add", name, NULL };
		const char *commit[] = { "-c", "user.name=Test Author", "-c", "user.email=test@example.org",
					 "commit", "--quiet", "-m", msg, NULL };
		const char *head[] = { "rev-parse", "HEAD", NULL };
		char *out = NULL;
		assert_int_equal(ml_write_atomic(path, name, strlen(name), 0644), 0);
		assert_int_equal(ml_bisect_git(src, add, NULL, NULL), 0);
		assert_int_equal(ml_bisect_git(src, commit, NULL, NULL), 0);
		assert_int_equal(ml_bisect_git(src, head, &out, NULL), 0);
		out[strcspn(out, "\n")] = '\0';
		snprintf(shas[i], 65, "%s", out);
		free(out);
	}
	{
		const char *t1[] = { "tag", "v1", shas[0], NULL };
		const char *t8[] = { "tag", "v8", shas[7], NULL };
		assert_int_equal(ml_bisect_git(src, t1, NULL, NULL), 0);
		assert_int_equal(ml_bisect_git(src, t8, NULL, NULL), 0);
	}
	return src;
}

static void test_resolve_and_ancestry(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	char shas[8][65], sha[65];
	ml_autofree char *src = make_repo(tmp, shas);
	(void)state;

	assert_int_equal(ml_bisect_resolve(src, "v1", sha), 0);
	assert_string_equal(sha, shas[0]);
	assert_int_equal(ml_bisect_resolve(src, "HEAD~2", sha), 0);
	assert_string_equal(sha, shas[5]);
	assert_int_equal(ml_bisect_resolve(src, shas[3], sha), 0);
	assert_string_equal(sha, shas[3]);
	{
		char abbrev[13];
		snprintf(abbrev, sizeof(abbrev), "%s", shas[4]);
		assert_int_equal(ml_bisect_resolve(src, abbrev, sha), 0);
		assert_string_equal(sha, shas[4]);
	}
	assert_int_equal(ml_bisect_resolve(src, "no-such-ref", sha), -1);
	{
		ml_autofree char *want = ml_strdup_printf("'no-such-ref' names no commit in %s", src);
		assert_string_equal(ml_error_message(), want);
	}
	assert_int_equal(ml_bisect_resolve(tmp, "HEAD", sha), -1);
	assert_non_null(strstr(ml_error_message(), "is not a git repository"));

	assert_int_equal(ml_bisect_is_ancestor(src, shas[1], shas[6]), 1);
	assert_int_equal(ml_bisect_is_ancestor(src, shas[6], shas[1]), 0);
	assert_int_equal(ml_bisect_is_ancestor(src, "no-such", shas[1]), -1);
	ml_test_rmtree(tmp);
}

/* git bisect itself in a bare shared clone, answering from a rule: commits
 * from c6 on are bad, c3 is skipped. The parser must read the installed
 * git's answers to the end: first bad commit c6. */
static void test_real_bisect(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	char shas[8][65];
	ml_autofree char *src = make_repo(tmp, shas);
	ml_autofree char *repo = ml_path_join(tmp, "repo");
	const char *clone[] = { "clone", "--quiet", "--bare", "--shared", src, repo, NULL };
	const char *start[] = { "bisect", "start", "--no-checkout", shas[7], shas[0], NULL };
	struct ml_bisect_answer a;
	char *out = NULL;
	int steps = 0;
	(void)state;

	assert_int_equal(ml_bisect_git(tmp, clone, NULL, NULL), 0);
	assert_int_equal(ml_bisect_git(repo, start, &out, NULL), 0);
	assert_int_equal(ml_bisect_parse_answer(out, &a), 0);
	free(out);
	while (a.status == ML_BISECT_CONTINUE) {
		const char *head[] = { "rev-parse", "BISECT_HEAD", NULL };
		const char *mark[] = { "bisect", NULL, NULL, NULL };
		int index = -1;
		assert_int_equal(ml_bisect_git(repo, head, &out, NULL), 0);
		out[strcspn(out, "\n")] = '\0';
		for (int i = 0; i < 8; i++)
			if (strcmp(shas[i], out) == 0)
				index = i;
		assert_true(index > 0 && index < 7);
		mark[1] = index == 2 ? "skip" : index >= 5 ? "bad" : "good";
		mark[2] = out;
		ml_bisect_answer_clear(&a);
		{
			char *answer = NULL;
			ml_bisect_git(repo, mark, &answer, NULL);
			assert_int_equal(ml_bisect_parse_answer(answer, &a), 0);
			free(answer);
		}
		free(out);
		assert_true(++steps < 10);
	}
	assert_int_equal(a.status, ML_BISECT_FOUND);
	assert_string_equal(a.first_bad, shas[5]);
	ml_bisect_answer_clear(&a);

	/* everything between skipped: git lists the candidates */
	{
		const char *reset[] = { "bisect", "reset", NULL };
		const char *start2[] = { "bisect", "start", "--no-checkout", shas[3], shas[0], NULL };
		assert_int_equal(ml_bisect_git(repo, reset, NULL, NULL), 0);
		assert_int_equal(ml_bisect_git(repo, start2, &out, NULL), 0);
		assert_int_equal(ml_bisect_parse_answer(out, &a), 0);
		free(out);
		while (a.status == ML_BISECT_CONTINUE) {
			const char *skip[] = { "bisect", "skip", NULL };
			ml_bisect_answer_clear(&a);
			ml_bisect_git(repo, skip, &out, NULL);
			assert_int_equal(ml_bisect_parse_answer(out, &a), 0);
			free(out);
		}
		assert_int_equal(a.status, ML_BISECT_ONLY_SKIPPED);
		/* c2, c3 skipped and c4 bad: any of the three */
		assert_int_equal(a.n_candidates, 3);
		ml_bisect_answer_clear(&a);
	}
	/* a good end right before the bad end: git names it at once */
	{
		const char *reset[] = { "bisect", "reset", NULL };
		const char *start3[] = { "bisect", "start", "--no-checkout", shas[4], shas[3], NULL };
		assert_int_equal(ml_bisect_git(repo, reset, NULL, NULL), 0);
		assert_int_equal(ml_bisect_git(repo, start3, &out, NULL), 0);
		assert_int_equal(ml_bisect_parse_answer(out, &a), 0);
		free(out);
		assert_int_equal(a.status, ML_BISECT_FOUND);
		assert_string_equal(a.first_bad, shas[4]);
		ml_bisect_answer_clear(&a);
	}
	ml_test_rmtree(tmp);
}

/* ---- a failing cell as the bad end ---------------------------------------- */

static void write_cell(const char *run_dir, const char *id, const char *src, const char *dst)
{
	ml_autofree char *dir = ml_layout_cell_dir(run_dir, id);
	ml_autofree char *path = ml_layout_file(dir, ML_LAYOUT_CELL_FILE);
	json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:{s:s}, s:{s:s}, s:s, s:s, s:s, s:i, s:i, s:i, s:{s:s}, s:s, "
				"s:b, s:b, s:{s:[], s:[s]}}}", "cell_id", id,
				"verdict", "fail", "machine", "pc-q35-10.0", "inputs", "src", "provider", src, "dst",
				"provider", dst, "machine", "q35", "kernel", "debian:trixie", "accel", "tcg",
				"memory_mib", 512, "workload_mib", 128, "max_bandwidth_mib", 64, "kernel_boot",
				"requested", "pvh", "abi_severity", "warn", "abi", 0, "reboot", 1, "extra_args",
				"src", "dst", "-nodefaults");

	assert_int_equal(ml_mkdir_p(dir, 0755), 0);
	assert_int_equal(ml_json_write_file(path, doc), 0);
	json_decref(doc);
}

static void test_read_cell(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	struct ml_bisect_cell_inputs c;
	(void)state;

	write_cell(tmp, "fwd", "git:/src/qemu@v10.1.0+patch:/p.patch", "debian:trixie");
	write_cell(tmp, "back", "debian:trixie", "git:/src/qemu/@master");
	write_cell(tmp, "none", "debian:trixie", "debian:sid");
	write_cell(tmp, "ctl", "git:/src/qemu@master", "git:/src/qemu@master");

	assert_int_equal(ml_bisect_read_cell(tmp, "fwd", "git:/src/qemu@v10.0.0+patch:/p.patch", &c), 0);
	assert_string_equal(c.bad, "git:/src/qemu@v10.1.0+patch:/p.patch");
	assert_string_equal(c.against, "debian:trixie");
	assert_false(c.step_is_dst);
	assert_string_equal(c.machine, "pc-q35-10.0"); /* the concrete one */
	assert_string_equal(c.kernel, "debian:trixie");
	assert_string_equal(c.accel, "tcg");
	assert_int_equal(c.settings.memory_mib, 512);
	assert_int_equal(c.settings.workload_mib, 128);
	assert_int_equal(c.settings.max_bandwidth_mib, 64);
	assert_string_equal(c.settings.kernel_boot, "pvh");
	assert_string_equal(c.settings.abi_severity, ""); /* warn: the default */
	assert_true(c.settings.no_abi);
	assert_false(c.settings.no_reboot);
	assert_true(c.extra_args);
	ml_bisect_cell_inputs_clear(&c);

	assert_int_equal(ml_bisect_read_cell(tmp, "back", "git:/src/qemu@v10.0.0", &c), 0);
	assert_string_equal(c.bad, "git:/src/qemu/@master");
	assert_string_equal(c.against, "debian:trixie");
	assert_true(c.step_is_dst);
	ml_bisect_cell_inputs_clear(&c);

	assert_int_equal(ml_bisect_read_cell(tmp, "none", "git:/src/qemu@v10.0.0", &c), -1);
	assert_non_null(strstr(ml_error_message(), "neither is a git: build of /src/qemu"));
	assert_int_equal(ml_bisect_read_cell(tmp, "ctl", "git:/src/qemu@v10.0.0", &c), -1);
	assert_non_null(strstr(ml_error_message(), "is a control"));
	assert_int_equal(ml_bisect_read_cell(tmp, "missing", "git:/src/qemu@v10.0.0", &c), -1);
	assert_non_null(strstr(ml_error_message(), "cell missing of run"));
	assert_int_equal(ml_bisect_read_cell(tmp, "../x", "git:/src/qemu@v10.0.0", &c), -1);
	assert_non_null(strstr(ml_error_message(), "is not a cell id"));
	ml_test_rmtree(tmp);
}

/* A step's run as ml_run_matrix leaves it: run.json's judged lines and a
 * cell.json per cell. */
static void test_read_step(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *rj = ml_path_join(tmp, ML_LAYOUT_RUN_FILE);
	json_t *run = json_pack("{s:s, s:s, s:[{s:s, s:b}, {s:s, s:b}, {s:s, s:b}]}", "schema", "miglab-run/1",
				"run_id", "r", "cells", "cell_id", "../escape", "control", 0, "cell_id", "pair",
				"control", 0, "cell_id", "ctl", "control", 1);
	json_t *control = NULL, *pair = NULL;
	(void)state;

	write_cell(tmp, "ctl", "git:/src/qemu@a", "git:/src/qemu@a");
	write_cell(tmp, "pair", "git:/src/qemu@a", "debian:trixie");
	assert_int_equal(ml_json_write_file(rj, run), 0);
	ml_bisect_read_step(tmp, &control, &pair);
	assert_non_null(control);
	assert_non_null(pair);
	assert_string_equal(ml_json_str(control, "cell_id"), "ctl");
	/* a cell id that is not a directory name is never read */
	assert_string_equal(ml_json_str(pair, "cell_id"), "pair");
	json_decref(control);
	json_decref(pair);

	/* no run.json (the run failed before judging): both missing */
	ml_bisect_read_step("/nonexistent/run", &control, &pair);
	assert_null(control);
	assert_null(pair);
	json_decref(run);
	ml_test_rmtree(tmp);
}

/* The spec a step builds is one the git: provider and the matrix accept
 * (lab/source-build.h, matrix/matrix.c): same grammar, patches kept. */
static void test_commit_spec_is_a_provider(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	char shas[8][65];
	ml_autofree char *src = make_repo(tmp, shas);
	ml_autofree char *patch = ml_path_join(tmp, "fix.patch");
	ml_autofree char *bad = NULL;
	ml_autofree char *spec = NULL;
	ml_autofree char *matrix = NULL;
	struct ml_bisect_git_spec g;
	struct ml_build b = { 0 };
	struct ml_matrix m;
	struct ml_bisect_options o = good_options;
	(void)state;

	assert_int_equal(ml_write_atomic(patch, "", 0, 0644), 0);
	bad = ml_strdup_printf("source:%s@v8+patch:%s", src, patch);
	assert_int_equal(ml_bisect_parse_git_spec(bad, &g), 0);
	spec = ml_bisect_commit_spec(&g, shas[4]);
	assert_int_equal(ml_build_parse(spec, &b), 0);
	assert_int_equal(b.kind, ML_PROVIDER_GIT);
	ml_build_clear(&b);
	/* an id that is no matrix name: the steps are named "bisect" */
	matrix = ml_bisect_step_matrix(&o, "a+b,c", "q35", spec, 1);
	assert_int_equal(ml_matrix_parse(matrix, strlen(matrix), "step.ini", &m), 0);
	assert_string_equal(m.name, "bisect");
	assert_string_equal(m.builds[0].provider, spec);
	ml_matrix_clear(&m);
	ml_bisect_git_spec_clear(&g);
	ml_test_rmtree(tmp);
}

/* ---- bisect.json and its page ------------------------------------------ */

static json_t *sample_doc(void)
{
	struct ml_bisect_options o = good_options;
	struct ml_bisect_git_spec g;
	json_t *doc, *control = cell("pass", "single", false), *pair = cell("fail", "deterministic", false);
	json_t *build = json_pack("{s:s, s:s}", "version", "10.0.50", "sha256", "ab12");
	struct ml_bisect_call call = { ML_BISECT_BAD, ML_BISECT_CAUSE_NONE, strdup("pair fail: because") };
	struct ml_bisect_call skip = { ML_BISECT_SKIP, ML_BISECT_CAUSE_BUILD, strdup("the commit could not be built: <x>") };
	struct ml_bisect_step s = { .role = "bad-end", .commit = "1111", .subject = "hw: <script>alert(1)</script>",
				    .describe = "v10.0.0-12-g1111", .spec = "git:/src/qemu@1111", .build = build,
				    .run_id = "B-s01-1111", .run_dir = "/r/B-s01-1111", .control = control,
				    .pair = pair, .call = &call, .wall_ms = 1234 };
	struct ml_bisect_step s2 = { .role = "bisect", .commit = "2222", .subject = "x", .describe = "d",
				     .spec = "git:/src/qemu@2222", .call = &skip, .wall_ms = 5 };

	assert_int_equal(ml_bisect_parse_git_spec(o.bad, &g), 0);
	doc = ml_bisect_doc_new("B", &o, &g, "0000", "1111");
	ml_bisect_doc_add_step(doc, &s);
	ml_bisect_doc_add_step(doc, &s2);
	ml_bisect_git_spec_clear(&g);
	ml_bisect_call_clear(&call);
	ml_bisect_call_clear(&skip);
	json_decref(control);
	json_decref(pair);
	json_decref(build);
	return doc;
}

static void test_doc_shape(void **state)
{
	json_t *doc = sample_doc(), *in, *st;
	(void)state;

	assert_string_equal(ml_json_str(doc, "schema"), ML_BISECT_SCHEMA);
	assert_string_equal(ml_json_str(doc, "id"), "B");
	assert_string_equal(ml_json_str(doc, "state"), "running");
	assert_true(json_is_null(json_object_get(doc, "result")));
	in = json_object_get(doc, "inputs");
	assert_string_equal(ml_json_str(in, "good"), "git:/src/qemu@v10.0.0");
	assert_string_equal(ml_json_str(in, "bad"), "git:/src/qemu@v10.1.0");
	assert_string_equal(ml_json_str(in, "good_commit"), "0000");
	assert_string_equal(ml_json_str(in, "bad_commit"), "1111");
	assert_string_equal(ml_json_str(in, "against"), "debian:trixie");
	assert_string_equal(ml_json_str(in, "machine"), "pc-q35-10.0");
	assert_string_equal(ml_json_str(in, "kernel"), ML_BISECT_DEFAULT_KERNEL);
	assert_string_equal(ml_json_str(in, "accel"), "tcg");
	assert_string_equal(ml_json_str(in, "pair"), "commit -> against");
	assert_int_equal(ml_json_int(in, "repeat", -1), 2);
	assert_int_equal(json_object_size(json_object_get(in, "settings")), 0); /* all defaults */
	assert_int_equal(json_array_size(json_object_get(doc, "steps")), 2);
	st = json_array_get(json_object_get(doc, "steps"), 0);
	assert_int_equal(ml_json_int(st, "step", 0), 1);
	assert_string_equal(ml_json_str(st, "role"), "bad-end");
	assert_string_equal(ml_json_str(st, "commit"), "1111");
	assert_string_equal(ml_json_str(st, "describe"), "v10.0.0-12-g1111");
	assert_string_equal(ml_json_str(st, "spec"), "git:/src/qemu@1111");
	assert_string_equal(ml_json_str(json_object_get(st, "build"), "version"), "10.0.50");
	assert_string_equal(ml_json_str(st, "run_id"), "B-s01-1111");
	assert_string_equal(ml_json_str(st, "run_dir"), "/r/B-s01-1111");
	assert_string_equal(ml_json_str(json_object_get(st, "control"), "category"), "pass");
	assert_string_equal(ml_json_str(json_object_get(st, "pair"), "category"), "fail");
	assert_string_equal(ml_json_str(json_object_get(st, "pair"), "reason"), "because");
	assert_string_equal(ml_json_str(st, "judgement"), "bad");
	assert_true(json_is_null(json_object_get(st, "skip_cause")));
	assert_string_equal(ml_json_str(st, "reason"), "pair fail: because");
	assert_int_equal(ml_json_int(st, "wall_ms", 0), 1234);
	st = json_array_get(json_object_get(doc, "steps"), 1);
	assert_int_equal(ml_json_int(st, "step", 0), 2);
	assert_string_equal(ml_json_str(st, "judgement"), "skip");
	assert_string_equal(ml_json_str(st, "skip_cause"), "build-failed");
	assert_true(json_is_null(json_object_get(st, "build")));
	assert_true(json_is_null(json_object_get(st, "run_id")));
	assert_true(json_is_null(json_object_get(st, "pair")));
	json_decref(doc);
}

static void test_page(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(tmp, "index.html");
	json_t *doc = sample_doc();
	char *html = NULL;
	(void)state;

	ml_json_set(doc, "result", json_pack("{s:s, s:s, s:{s:s, s:s, s:[s]}, s:s}", "outcome", "first-bad",
					     "message", "first bad commit: 1111 <b>", "first_bad", "commit", "1111",
					     "subject", "hw: <script>", "files", "hw/x.c", "reproduce",
					     "miglab cell --src 'git:/src/qemu@1111' --dst debian:trixie"));
	assert_int_equal(ml_web_bisect_page(doc, path, "../../site/"), 0);
	assert_int_equal(ml_read_file(path, 1 << 20, &html, NULL), 0);
	assert_null(strstr(html, "<script>alert"));
	assert_non_null(strstr(html, "hw: &lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(html, "href=\"../../site/B-s01-1111/index.html\""));
	assert_non_null(strstr(html, "../../site/assets/miglab.css"));
	assert_non_null(strstr(html, "first bad commit: 1111 &lt;b&gt;"));
	assert_non_null(strstr(html, "miglab cell --src &#39;git:/src/qemu@1111&#39;") ||
			strstr(html, "miglab cell --src &#x27;git:/src/qemu@1111&#x27;"));
	assert_non_null(strstr(html, "build-failed"));
	free(html);
	json_decref(doc);
	ml_test_rmtree(tmp);
}

/* ---- the whole bisect, commits tested by a rule -------------------------- */

/* The rule: commits c(first_bad+1) and later fail, those in skip are
 * skipped as intermittent, those in unbuildable do not build. */
struct rule {
	char shas[8][65];
	int first_bad;      /* index; 8: none fails */
	unsigned skip;      /* bit i: skip c(i+1) */
	unsigned unbuildable;
	unsigned tested;    /* bit i: c(i+1) was tested */
	bool spec_seen_ok;  /* every spec was git:<src>@<commit> */
	const char *src;
};

static int rule_index(const struct rule *r, const char *commit)
{
	for (int i = 0; i < 8; i++)
		if (strcmp(r->shas[i], commit) == 0)
			return i;
	fail_msg("commit %s is not in the repository", commit);
	return -1;
}

static void rule_test(void *ctx, const char *role, const char *spec, const char *commit, unsigned step,
		      struct ml_bisect_outcome *out)
{
	struct rule *r = ctx;
	int i = rule_index(r, commit);
	ml_autofree char *want = ml_strdup_printf("git:%s@%s", r->src, commit);
	(void)role;

	r->tested |= 1u << i;
	r->spec_seen_ok = r->spec_seen_ok && strcmp(spec, want) == 0;
	if (r->unbuildable & (1u << i)) {
		out->call = (struct ml_bisect_call){ ML_BISECT_SKIP, ML_BISECT_CAUSE_BUILD,
						     strdup("the commit could not be built: rule") };
		return;
	}
	out->build = json_pack("{s:s, s:s}", "version", "10.0.50", "sha256", "00");
	out->run_id = ml_strdup_printf("rule-s%02u", step);
	out->control = cell("pass", "single", false);
	if (r->skip & (1u << i))
		out->pair = cell("fail", "intermittent", false);
	else
		out->pair = cell(i >= r->first_bad ? "fail" : "pass", i >= r->first_bad ? "deterministic" : "single",
				 false);
	ml_bisect_judge_step(out->control, out->pair, &out->call);
}

struct bisect_env {
	char *tmp, *src;
	struct ml_config cfg;
	struct rule rule;
	struct ml_bisect_tester tester;
	struct ml_bisect_options o;
	char *good, *bad;
};

static void env_init(struct bisect_env *e, int first_bad, unsigned skip, const char *id)
{
	memset(e, 0, sizeof(*e));
	e->tmp = ml_test_tmpdir();
	e->src = make_repo(e->tmp, e->rule.shas);
	e->cfg.results_dir = ml_path_join(e->tmp, "results");
	e->cfg.cache_dir = ml_path_join(e->tmp, "cache");
	e->rule.first_bad = first_bad;
	e->rule.skip = skip;
	e->rule.spec_seen_ok = true;
	e->rule.src = e->src;
	e->tester = (struct ml_bisect_tester){ rule_test, &e->rule };
	e->good = ml_strdup_printf("git:%s@v1", e->src);
	e->bad = ml_strdup_printf("git:%s@v8", e->src);
	e->o = (struct ml_bisect_options){ .id = id, .good = e->good, .bad = e->bad, .against = "debian:trixie",
					   .machine = "pc-q35-10.0", .repeat = 2, .tester = &e->tester };
}

static json_t *env_doc(const struct bisect_env *e, const char *id)
{
	ml_autofree char *path = ml_strdup_printf("%s/bisect/%s/bisect.json", e->cfg.results_dir, id);
	json_t *doc = ml_json_load_file(path, 1 << 20);
	assert_non_null(doc);
	return doc;
}

static void env_clear(struct bisect_env *e)
{
	ml_test_rmtree(e->tmp);
	free(e->tmp);
	free(e->src);
	free(e->good);
	free(e->bad);
	ml_config_clear(&e->cfg);
}

/* The user's checkout is as it was: no bisect there, HEAD on c8, clean. */
static void assert_checkout_untouched(const struct bisect_env *e)
{
	const char *refs[] = { "for-each-ref", "refs/bisect", NULL };
	const char *head[] = { "rev-parse", "HEAD", NULL };
	const char *status[] = { "status", "--porcelain", NULL };
	char *out = NULL;

	assert_int_equal(ml_bisect_git(e->src, refs, &out, NULL), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(ml_bisect_git(e->src, head, &out, NULL), 0);
	assert_int_equal(strncmp(out, e->rule.shas[7], 40), 0);
	free(out);
	assert_int_equal(ml_bisect_git(e->src, status, &out, NULL), 0);
	assert_string_equal(out, "");
	free(out);
}

static void test_run_finds_first_bad(void **state)
{
	struct bisect_env e;
	json_t *doc, *res, *first, *steps;
	(void)state;

	env_init(&e, 5, 1u << 2, "found");
	e.o.step_is_dst = true;
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 0);
	assert_true(e.rule.spec_seen_ok);
	doc = env_doc(&e, "found");
	res = json_object_get(doc, "result");
	first = json_object_get(res, "first_bad");
	assert_string_equal(ml_json_str(doc, "state"), "done");
	assert_string_equal(ml_json_str(res, "outcome"), "first-bad");
	assert_int_equal(ml_json_int(res, "exit_status", -1), 0);
	assert_string_equal(ml_json_str(first, "commit"), e.rule.shas[5]);
	assert_string_equal(ml_json_str(first, "subject"), "c6: change f6");
	assert_string_equal(ml_json_str(first, "author"), "Test Author <test@example.org>");
	assert_string_equal(json_string_value(json_array_get(json_object_get(first, "files"), 0)), "f6");
	assert_int_equal(strncmp(ml_json_str(first, "diffstat"), " f6 | 1 +", 9), 0);
	assert_int_equal(strncmp(ml_json_str(first, "describe"), "v1-5-g", 6), 0);
	{
		ml_autofree char *want = ml_strdup_printf("miglab cell --src debian:trixie --dst git:%s@%s "
							  "--machine pc-q35-10.0 --kernel debian:bookworm --accel tcg --confirm 2",
							  e.src, e.rule.shas[5]);
		print_message("reproduce: %s\n", ml_json_str(res, "reproduce"));
		assert_string_equal(ml_json_str(res, "reproduce"), want);
	}
	steps = json_object_get(doc, "steps");
	assert_string_equal(ml_json_str(json_array_get(steps, 0), "role"), "bad-end");
	assert_string_equal(ml_json_str(json_array_get(steps, 0), "judgement"), "bad");
	assert_string_equal(ml_json_str(json_array_get(steps, 1), "role"), "good-end");
	assert_string_equal(ml_json_str(json_array_get(steps, 1), "judgement"), "good");
	assert_int_equal(ml_json_int(doc, "steps_count", 0), (long long)json_array_size(steps));
	/* c6 bad and c5 good must both have been seen to name c6 */
	assert_true(e.rule.tested & (1u << 5));
	assert_true(e.rule.tested & (1u << 4));
	{
		ml_autofree char *page = ml_strdup_printf("%s/bisect/found/index.html", e.cfg.results_dir);
		ml_autofree char *log = ml_strdup_printf("%s/bisect/found/git-bisect.log", e.cfg.results_dir);
		ml_autofree char *clone = ml_strdup_printf("%s/bisect/found", e.cfg.cache_dir);
		assert_true(ml_path_exists(page));
		assert_true(ml_path_exists(log));
		assert_false(ml_path_exists(clone));
	}
	assert_checkout_untouched(&e);
	/* the same id again is refused before anything runs */
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 2);
	assert_non_null(strstr(ml_error_message(), "bisect found already exists"));
	json_decref(doc);
	env_clear(&e);
}

static void test_run_ends(void **state)
{
	struct bisect_env e;
	json_t *doc;
	(void)state;

	/* nothing fails: the bad end passes */
	env_init(&e, 8, 0, "bad-passes");
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 1);
	doc = env_doc(&e, "bad-passes");
	assert_string_equal(ml_json_str(json_object_get(doc, "result"), "outcome"), "bad-end-not-bad");
	assert_non_null(strstr(ml_json_str(json_object_get(doc, "result"), "message"), "passes"));
	assert_int_equal(json_array_size(json_object_get(doc, "steps")), 1);
	json_decref(doc);
	env_clear(&e);

	/* everything fails: the good end too */
	env_init(&e, 0, 0, "good-fails");
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 1);
	doc = env_doc(&e, "good-fails");
	assert_string_equal(ml_json_str(json_object_get(doc, "result"), "outcome"), "good-end-not-good");
	assert_int_equal(json_array_size(json_object_get(doc, "steps")), 2);
	json_decref(doc);
	env_clear(&e);

	/* the bad end does not build: the lab cannot start */
	env_init(&e, 5, 0, "no-build");
	e.rule.unbuildable = 1u << 7;
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 2);
	doc = env_doc(&e, "no-build");
	assert_string_equal(ml_json_str(json_object_get(doc, "result"), "outcome"), "lab-error");
	assert_string_equal(ml_json_str(json_array_get(json_object_get(doc, "steps"), 0), "skip_cause"),
			    "build-failed");
	json_decref(doc);
	env_clear(&e);

	/* a patch that is not there: the provider's own check, before anything is made */
	env_init(&e, 5, 0, "no-patch");
	free(e.good);
	free(e.bad);
	e.good = ml_strdup_printf("git:%s@v1+patch:/nonexistent.patch", e.src);
	e.bad = ml_strdup_printf("git:%s@v8+patch:/nonexistent.patch", e.src);
	e.o.good = e.good;
	e.o.bad = e.bad;
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 2);
	print_message("-> %s\n", ml_error_message());
	assert_non_null(strstr(ml_error_message(), "/nonexistent.patch"));
	assert_false(ml_path_exists(e.cfg.results_dir));
	env_clear(&e);

	/* good after bad in history: refused before anything is made */
	env_init(&e, 5, 0, "reversed");
	e.o.good = e.bad;
	e.o.bad = e.good;
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 2);
	assert_non_null(strstr(ml_error_message(), "is not an ancestor of the bad commit"));
	{
		ml_autofree char *dir = ml_strdup_printf("%s/bisect/reversed", e.cfg.results_dir);
		assert_false(ml_path_exists(dir));
	}
	env_clear(&e);
}

/* --against built from the same checkout: its own commit is never tested
 * as a step (it would be its own pair), it is skipped. */
static void test_run_against_same_checkout(void **state)
{
	struct bisect_env e;
	ml_autofree char *against = NULL;
	json_t *doc, *st;
	size_t i;
	bool seen = false;
	(void)state;

	env_init(&e, 5, 0, "same-checkout");
	against = ml_strdup_printf("git:%s@HEAD~4", e.src); /* c4 */
	e.o.against = against;
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 0);
	assert_false(e.rule.tested & (1u << 3));
	doc = env_doc(&e, "same-checkout");
	json_array_foreach(json_object_get(doc, "steps"), i, st)
		if (ml_str_eq(ml_json_str(st, "commit"), e.rule.shas[3])) {
			assert_string_equal(ml_json_str(st, "skip_cause"), "is-against");
			seen = true;
		}
	print_message("c4 %s a step\n", seen ? "was" : "was not");
	assert_string_equal(ml_json_str(json_object_get(json_object_get(doc, "result"), "first_bad"), "commit"),
			    e.rule.shas[5]);
	json_decref(doc);
	env_clear(&e);
}

static void test_run_only_skipped(void **state)
{
	struct bisect_env e;
	json_t *doc, *res;
	(void)state;

	/* c4 .. c7 skipped, c5 is the first bad: git can only say c4..c8 */
	env_init(&e, 4, 0x78, "skipped");
	assert_int_equal(ml_bisect_run(&e.cfg, &e.o), 1);
	doc = env_doc(&e, "skipped");
	res = json_object_get(doc, "result");
	assert_string_equal(ml_json_str(res, "outcome"), "only-skipped");
	assert_int_equal(json_array_size(json_object_get(res, "candidates")), 5);
	assert_non_null(strstr(ml_json_str(res, "message"), "one of 5"));
	json_decref(doc);
	env_clear(&e);
}

/* The dashboard's index lists the bisects of the results directory and
 * writes their pages into the site. */
static void test_site_lists_bisects(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *dir = ml_strdup_printf("%s/bisect/B", tmp);
	ml_autofree char *json = ml_path_join(dir, ML_BISECT_FILE);
	ml_autofree char *site = ml_path_join(tmp, "site");
	ml_autofree char *page = ml_path_join(site, "bisect/B.html");
	struct ml_web_options wo = { .quiet = true };
	json_t *doc = sample_doc();
	char *index = NULL, *html = NULL;
	(void)state;

	ml_json_set(doc, "result", json_pack("{s:s, s:s}", "outcome", "first-bad", "message",
					     "first bad commit: 1111 hw: <x>"));
	assert_int_equal(ml_mkdir_p(dir, 0755), 0);
	assert_int_equal(ml_json_write_file(json, doc), 0);
	assert_int_equal(ml_web_write_site(tmp, NULL, &wo, &index), 0);
	assert_int_equal(ml_read_file(index, 1 << 20, &html, NULL), 0);
	assert_non_null(strstr(html, "<h2>Bisects"));
	assert_non_null(strstr(html, "href=\"bisect/B.html\""));
	assert_non_null(strstr(html, "first bad commit: 1111 hw: &lt;x&gt;"));
	free(html);
	assert_int_equal(ml_read_file(page, 1 << 20, &html, NULL), 0);
	assert_non_null(strstr(html, "href=\"../B-s01-1111/index.html\""));
	assert_non_null(strstr(html, "href=\"../assets/miglab.css\""));
	free(html);
	free(index);
	json_decref(doc);
	ml_test_rmtree(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_git_spec),
		cmocka_unit_test(test_parse_git_spec_errors),
		cmocka_unit_test(test_machine_family),
		cmocka_unit_test(test_check_options),
		cmocka_unit_test(test_step_matrix),
		cmocka_unit_test(test_cli_bad_input),
		cmocka_unit_test(test_judge_step),
		cmocka_unit_test(test_parse_answer),
		cmocka_unit_test(test_resolve_and_ancestry),
		cmocka_unit_test(test_real_bisect),
		cmocka_unit_test(test_read_cell),
		cmocka_unit_test(test_read_step),
		cmocka_unit_test(test_commit_spec_is_a_provider),
		cmocka_unit_test(test_doc_shape),
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_site_lists_bisects),
		cmocka_unit_test(test_run_finds_first_bad),
		cmocka_unit_test(test_run_ends),
		cmocka_unit_test(test_run_only_skipped),
		cmocka_unit_test(test_run_against_same_checkout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
