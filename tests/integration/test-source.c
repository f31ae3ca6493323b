/* Integration tests of QEMU built from source (docs/builds.md) and of
 * `miglab bisect` (docs/bisect.md), with real builds in the trixie toolchain
 * root and real cells:
 *   - debian-source:10.0.13 builds (tests/run.sh fetches it first: the cold
 *     build is not counted in this test's time) and records what it used;
 *   - its tree exported as a git repository gives the same build (same key);
 *   - a patch on top gives another key; a patch that does not apply, an
 *     unknown ref are errors (exit 2) that cache nothing;
 *   - three commits on top, the second an incompatible VMState change (a
 *     field added to mc146818rtc without a version or subsection): bisect
 *     against debian:trixie names that commit;
 *   - a broken QEMU for the guest-ABI check: a patch that drops pse36 from the
 *     qemu64 CPU model; migrating to it must fail the cell with the lost
 *     feature named (abi-changed-live), though the stream itself loads.
 *     (Dropping cx16 instead makes the guest panic at its next cmpxchg16b
 *     under TCG: caught, but as guest-panicked, without the feature's name.)
 * The tests run in order and share the repository. Needs root. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ml-buf.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "ml-common.h"

extern char **environ;

#define results_dir ml_test_results_dir

static char *tmp;   /* scratch directory */
static char *repo;  /* the test's QEMU repository */
static char *base_key; /* key of debian-source:10.0.13 */
static char *commits[4]; /* base, harmless, incompatible, harmless */

static int run(const char *const *argv, struct ml_buf *out, bool env_of_tests)
{
	struct ml_buf o = ML_BUF_INIT(0), e = ML_BUF_INIT(0);
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1,
				     .envp = env_of_tests ? (const char *const *)environ : NULL };
	int status;

	assert_int_equal(ml_proc_run(&spec, 3000000, &o, &e, &status), 0);
	print_message("%s%s", o.data ? o.data : "", e.data ? e.data : "");
	if (out) {
		ml_buf_puts(out, o.data ? o.data : "");
		ml_buf_puts(out, e.data ? e.data : "");
	}
	ml_buf_free(&o);
	ml_buf_free(&e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* miglab with args (and the tests' results directory). */
static int miglab(const char *const *args, struct ml_buf *out)
{
	const char *argv[40] = { MIGLAB_BIN };
	size_t n = 1;

	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 3; i++)
		argv[n++] = args[i];
	argv[n++] = "--results-dir";
	argv[n++] = results_dir;
	argv[n] = NULL;
	return run(argv, out, true);
}

static void sh(const char *script)
{
	const char *argv[] = { "/bin/sh", "-ec", script, NULL };
	struct ml_buf out = ML_BUF_INIT(0);
	if (run(argv, &out, true) != 0)
		fail_msg("shell step failed: %s\n%s", script, out.data ? out.data : "");
	ml_buf_free(&out);
}

static char *git_out(const char *args)
{
	ml_autofree char *cmd = ml_strdup_printf("git -C %s %s", repo, args);
	const char *argv[] = { "/bin/sh", "-ec", cmd, NULL };
	struct ml_buf out = ML_BUF_INIT(0);
	assert_int_equal(run(argv, &out, true), 0);
	out.data[strcspn(out.data, "\n")] = '\0';
	return ml_buf_steal(&out);
}

/* The manifest `miglab fetch --json BUILD` prints for its one build. */
static json_t *fetch_json(const char *spec, struct ml_buf *out)
{
	const char *args[] = { "fetch", "--json", spec, NULL };
	const char *line;
	json_t *m;

	assert_int_equal(miglab(args, out), 0);
	line = strstr(out->data, "{\"manifest_version\"");
	assert_non_null(line);
	m = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(m);
	return m;
}

static size_t count_manifests(const char *root_builds)
{
	DIR *d = opendir(root_builds);
	struct dirent *e;
	size_t n = 0;
	while (d && (e = readdir(d))) {
		ml_autofree char *p = ml_strdup_printf("%s/%s/build.json", root_builds, e->d_name);
		n += ml_path_exists(p);
	}
	if (d)
		closedir(d);
	return n;
}

static void test_debian_source_build_records_what_it_used(void **state)
{
	struct ml_buf out = ML_BUF_INIT(0);
	json_t *m = fetch_json("debian-source:10.0.13", &out);
	json_t *src = json_object_get(m, "source");
	json_t *fw = json_object_get(src, "firmware");
	json_t *files = json_object_get(fw, "files");
	ml_autofree char *log = ml_path_join(ml_json_str(m, "dir"), "build.log");
	ml_autofree char *args = json_dumps(json_object_get(src, "configure_args"), JSON_COMPACT);
	(void)state;

	assert_string_equal(ml_json_str(m, "kind"), "debian-source");
	assert_string_equal(ml_json_str(m, "version"), "10.0.13");
	assert_non_null(strstr(ml_json_str(m, "package_version"), "10.0.13+ds"));
	assert_string_equal(ml_json_str(src, "debian_suite"), "trixie");
	assert_int_equal(strlen(ml_json_str(src, "tree")), 40);
	assert_int_equal(strlen(ml_json_str(src, "key")), 16);
	assert_string_equal(ml_json_str(src, "toolchain"), "trixie");
	assert_non_null(strstr(args, "--target-list=x86_64-softmmu"));
	/* Firmware: SeaBIOS and iPXE from the suite's packages, option ROMs from the tree. */
	assert_non_null(ml_json_str(fw, "seabios"));
	assert_non_null(ml_json_str(fw, "ipxe-qemu"));
	assert_string_equal(ml_json_str(files, "bios-256k.bin"), "/usr/share/seabios/bios-256k.bin");
	/* trixie's ipxe-qemu installs its ROMs in /usr/share/qemu (bookworm's in /usr/lib/ipxe/qemu). */
	assert_string_equal(ml_json_str(files, "efi-virtio.rom"), "/usr/share/qemu/efi-virtio.rom");
	assert_non_null(strstr(ml_json_str(files, "pvh.bin"), "built from this tree"));
	assert_true(ml_path_exists(log));
	base_key = strdup(ml_json_str(src, "key"));
	json_decref(m);
	ml_buf_free(&out);
}

static void test_exported_tree_is_the_same_build(void **state)
{
	const char *exp[] = { "fetch", "--export-source", repo, "debian-source:10.0.13", NULL };
	struct ml_buf out = ML_BUF_INIT(0);
	ml_autofree char *spec = NULL;
	json_t *m;
	(void)state;

	assert_int_equal(miglab(exp, NULL), 0);
	commits[0] = git_out("rev-parse HEAD");
	spec = ml_strdup_printf("git:%s@main", repo);
	m = fetch_json(spec, &out);
	/* Same tree, same patches, same toolchain: the Debian build serves it. */
	assert_string_equal(ml_json_str(json_object_get(m, "source"), "key"), base_key);
	assert_string_equal(ml_json_str(json_object_get(m, "source"), "commit"), commits[0]);
	assert_null(strstr(out.data, "building QEMU"));
	json_decref(m);
	ml_buf_reset(&out);

	/* Uncommitted changes are not built, and miglab says so. */
	{
		ml_autofree char *dirty = ml_strdup_printf("cd %s; echo '/* dirty */' >> hw/rtc/mc146818rtc.c", repo);
		ml_autofree char *clean = ml_strdup_printf("cd %s; git checkout -q -- .", repo);
		sh(dirty);
		m = fetch_json(spec, &out);
		sh(clean);
		assert_non_null(strstr(out.data, "has uncommitted changes; they are NOT built"));
		assert_true(json_is_true(json_object_get(json_object_get(m, "source"), "checkout_dirty")));
		assert_string_equal(ml_json_str(json_object_get(m, "source"), "key"), base_key);
		json_decref(m);
	}
	ml_buf_free(&out);
}

/* Three commits: harmless, the incompatible VMState change, harmless. */
static void test_make_commits(void **state)
{
	ml_autofree char *script = ml_strdup_printf(
		"cd %s; f=hw/rtc/mc146818rtc.c; c='git -c user.name=t -c user.email=t@localhost commit -qam';"
		"sed -i '1i /* miglab test: a comment, no change in behaviour (1) */' $f; $c 'rtc: a comment';"
		/* base_year is a property, never migrated: sending it breaks the stream. */
		"sed -i 's/^\\( *\\)VMSTATE_UINT64_V(next_alarm_time, MC146818RtcState, 3),/&\\n\\1VMSTATE_INT32(base_year, MC146818RtcState),/' $f;"
		"grep -q 'VMSTATE_INT32(base_year' $f; $c 'rtc: migrate base_year (incompatible: no version, no subsection)';"
		"sed -i '1i /* miglab test: a comment, no change in behaviour (3) */' $f; $c 'rtc: another comment'",
		repo);
	(void)state;

	sh(script);
	commits[3] = git_out("rev-parse HEAD");
	commits[2] = git_out("rev-parse HEAD~1");
	commits[1] = git_out("rev-parse HEAD~2");
}

static void test_bad_input_caches_nothing(void **state)
{
	ml_autofree char *unknown = ml_strdup_printf("git:%s@no-such-ref", repo);
	ml_autofree char *stale = ml_path_join(tmp, "stale.patch");
	ml_autofree char *with_stale = NULL;
	ml_autofree char *builds = NULL;
	ml_autofree char *mkpatch = ml_strdup_printf(
		"printf -- '--- a/hw/rtc/mc146818rtc.c\\n+++ b/hw/rtc/mc146818rtc.c\\n@@ -1,2 +1,2 @@\\n-no such line\\n+x\\n no such line either\\n' > %s",
		stale);
	struct ml_buf out = ML_BUF_INIT(0);
	json_t *m;
	size_t before;
	(void)state;

	sh(mkpatch);
	with_stale = ml_strdup_printf("git:%s@%s+patch:%s", repo, commits[0], stale);
	{
		ml_autofree char *spec = ml_strdup_printf("git:%s@main", repo);
		m = fetch_json(spec, &out);
		builds = ml_strdup_printf("%s/..", ml_json_str(m, "dir"));
		json_decref(m);
		ml_buf_reset(&out);
	}
	before = count_manifests(builds);
	{
		const char *a[] = { "fetch", unknown, NULL };
		assert_int_equal(miglab(a, &out), 2);
		assert_non_null(strstr(out.data, "'no-such-ref' is not a commit, tag or branch"));
		ml_buf_reset(&out);
	}
	{
		const char *a[] = { "fetch", with_stale, NULL };
		assert_int_equal(miglab(a, &out), 2);
		assert_non_null(strstr(out.data, "patch 1 of 1"));
		assert_non_null(strstr(out.data, "does not apply"));
		assert_non_null(strstr(out.data, "patch failed: hw/rtc/mc146818rtc.c:1"));
	}
	{
		/* A build that fails: the step, the log's last lines and its path. */
		ml_autofree char *broken = ml_path_join(tmp, "broken.patch");
		ml_autofree char *mk = ml_strdup_printf(
			"cd %s; git checkout -q %s; sed -i '1i #error miglab test: this build must fail' "
			"hw/rtc/mc146818rtc.c; git diff > %s; git checkout -q -- .; git checkout -q main",
			repo, commits[0], broken);
		ml_autofree char *spec = NULL;
		sh(mk);
		spec = ml_strdup_printf("git:%s@%s+patch:%s", repo, commits[0], broken);
		const char *a[] = { "fetch", spec, NULL };
		ml_buf_reset(&out);
		assert_int_equal(miglab(a, &out), 2);
		assert_non_null(strstr(out.data, "/usr/bin/make exited with status 2"));
		assert_non_null(strstr(out.data, "last lines of the build log"));
		assert_non_null(strstr(out.data, "#error miglab test: this build must fail"));
		assert_non_null(strstr(out.data, "build.log)"));
	}
	{
		/* A version Debian does not carry: the error lists what it does. */
		const char *a[] = { "fetch", "debian-source:9.9.9", NULL };
		ml_buf_reset(&out);
		assert_int_equal(miglab(a, &out), 2);
		assert_non_null(strstr(out.data, "Debian carries no QEMU source 9.9.9"));
		assert_non_null(strstr(out.data, "10.0.13 (1:10.0.13+ds"));
	}
	assert_int_equal(count_manifests(builds), before);
	ml_buf_free(&out);
}

/* A one-file patch on top: another key, the patch recorded, and a rebuild
 * of what it touched (its time is in the build's manifest). */
static void test_patch_changes_the_key(void **state)
{
	ml_autofree char *patch = ml_path_join(tmp, "comment.patch");
	ml_autofree char *mk = ml_strdup_printf(
		"cd %s; git diff %s %s > %s", repo, commits[0], commits[1], patch);
	ml_autofree char *spec = NULL;
	struct ml_buf out = ML_BUF_INIT(0);
	json_t *m, *p;
	char sha[65];
	(void)state;

	sh(mk);
	assert_int_equal(ml_sha256_file(patch, sha), 0);
	spec = ml_strdup_printf("git:%s@%s+patch:%s", repo, commits[0], patch);
	m = fetch_json(spec, &out);
	assert_string_not_equal(ml_json_str(json_object_get(m, "source"), "key"), base_key);
	p = json_array_get(json_object_get(json_object_get(m, "source"), "patches"), 0);
	assert_string_equal(ml_json_str(p, "sha256"), sha);
	assert_string_equal(ml_json_str(p, "path"), patch);
	print_message("patched build: %lld ms\n",
		      ml_json_int(json_object_get(m, "source"), "build_ms", -1));
	json_decref(m);
	ml_buf_free(&out);
}

static void test_bisect_names_the_incompatible_commit(void **state)
{
	ml_autofree char *good = ml_strdup_printf("git:%s@%s", repo, commits[0]);
	ml_autofree char *bad = ml_strdup_printf("git:%s@%s", repo, commits[3]);
	const char *args[] = { "bisect", "--good", good, "--bad", bad, "--against", "debian:trixie",
			       "--machine", "pc-q35-10.0", "--kernel", "debian:bookworm",
			       "--repeat", "1", "--run-id", "itest-bisect", NULL };
	ml_autofree char *path = ml_strdup_printf("%s/bisect/itest-bisect/bisect.json", results_dir);
	struct ml_buf out = ML_BUF_INIT(0);
	json_t *b, *result, *first;
	int rc;
	(void)state;

	rc = miglab(args, &out);
	assert_int_equal(rc, 0); /* the first bad commit was named */
	b = ml_json_load_file(path, 16 << 20);
	assert_non_null(b);
	result = json_object_get(b, "result");
	assert_string_equal(ml_json_str(result, "outcome"), "first-bad");
	first = json_object_get(result, "first_bad");
	assert_non_null(first);
	assert_string_equal(ml_json_str(first, "commit"), commits[2]);
	assert_non_null(strstr(ml_json_str(first, "subject"), "rtc: migrate base_year"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(first, "files"), 0)),
			    "hw/rtc/mc146818rtc.c");
	assert_non_null(strstr(ml_json_str(result, "reproduce"), commits[2]));
	/* Both ends and at least one commit between them were tested. */
	assert_true(ml_json_int(b, "steps_count", 0) >= 3);
	assert_true(json_array_size(json_object_get(b, "steps")) >= 3);
	assert_non_null(strstr(out.data, commits[2]));
	json_decref(b);
	ml_buf_reset(&out);

	/* The static vmstate check explains it down to the device and the field. */
	{
		ml_autofree char *bad_commit = ml_strdup_printf("git:%s@%s", repo, commits[2]);
		const char *vm[] = { "vmstate", "--src", bad_commit, "--dst", "debian:trixie",
				     "--machine", "pc-q35-10.0", NULL };
		assert_int_equal(miglab(vm, &out), 1);
		assert_non_null(strstr(out.data, "field-extra: mc146818rtc / base_year"));
		assert_non_null(strstr(out.data, "field-missing: mc146818rtc / base_year"));
	}
	ml_buf_free(&out);
}

/* The ABI check must catch a destination whose CPU model lost a feature: the
 * stream carries no CPUID, so only the guest's own view can tell. */
static void test_broken_cpu_model_is_caught(void **state)
{
	ml_autofree char *patch = ml_path_join(tmp, "no-pse36.patch");
	ml_autofree char *mk = ml_strdup_printf(
		"cd %s; git checkout -q %s;"
		"sed -i '/.name = \"qemu64\"/,/CPUID_PSE36,/ s/CPUID_PSE36,/0, \\/* miglab test: no pse36 *\\//' target/i386/cpu.c;"
		"git diff > %s; git checkout -q -- .; git checkout -q main; grep -q '^-  *CPUID_PSE36,' %s",
		repo, commits[0], patch, patch);
	ml_autofree char *good = NULL, *broken = NULL;
	struct ml_buf out = ML_BUF_INIT(0);
	(void)state;

	sh(mk);
	good = ml_strdup_printf("git:%s@%s", repo, commits[0]);
	broken = ml_strdup_printf("git:%s@%s+patch:%s", repo, commits[0], patch);
	{
		const char *args[] = { "cell", "--src", good, "--dst", broken, "--machine", "pc-q35-10.0",
				       "--kernel", "debian:bookworm", "--confirm", "0", "--run-id",
				       "itest-no-pse36", NULL };
		assert_int_equal(miglab(args, &out), 1);
	}
	assert_non_null(strstr(out.data, "abi-changed-live"));
	assert_non_null(strstr(out.data, "EDX bit 17 (pse36): 1 -> 0"));
	ml_buf_free(&out);
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		print_message("integration-source needs root (chroot into the toolchain root)\n");
		exit(77);
	}
	if (ml_test_results_setup(state) < 0)
		return -1;
	tmp = ml_test_tmpdir();
	repo = ml_path_join(tmp, "qemu");
	return 0;
}

static int teardown(void **state)
{
	ml_test_rmtree(tmp);
	free(tmp);
	free(repo);
	free(base_key);
	for (size_t i = 0; i < ML_ARRAY_SIZE(commits); i++)
		free(commits[i]);
	return ml_test_results_teardown(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian_source_build_records_what_it_used),
		cmocka_unit_test(test_exported_tree_is_the_same_build),
		cmocka_unit_test(test_make_commits),
		cmocka_unit_test(test_bad_input_caches_nothing),
		cmocka_unit_test(test_patch_changes_the_key),
		cmocka_unit_test(test_broken_cpu_model_is_caught),
		cmocka_unit_test(test_bisect_names_the_incompatible_commit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
