/* Unit tests of the source providers (lab/source-build.h): parsing of
 * git:/source:/debian-source: with patches, the cache key, versions, and the
 * errors for bad refs, missing checkouts and patches that do not apply (on a
 * real tiny git repository; no QEMU is built here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build.h"
#include "config.h"
#include "source-build.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "ml-common.h"

struct fixture {
	char *dir;   /* temp dir */
	char *repo;  /* dir/qemu: a git repository with VERSION and one file */
	char *fix;   /* dir/fix.patch: applies */
	char *stale; /* dir/stale.patch: does not */
};

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	struct ml_buf b = ML_BUF_INIT(0);
	va_start(ap, fmt);
	ml_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	{
		const char *argv[] = { "/bin/sh", "-c", b.data, NULL };
		struct ml_proc_spec ps = { .argv = argv, .stdin_fd = -1 };
		struct ml_buf o = ML_BUF_INIT(1 << 20), e = ML_BUF_INIT(1 << 20);
		int status = -1;
		if (ml_proc_run(&ps, 60000, &o, &e, &status) < 0 || status != 0)
			fail_msg("command failed: %s: %s", b.data, e.data ? e.data : "");
		ml_buf_free(&o);
		ml_buf_free(&e);
	}
	ml_buf_free(&b);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = ml_test_tmpdir();
	f->repo = ml_path_join(f->dir, "qemu");
	f->fix = ml_path_join(f->dir, "fix.patch");
	f->stale = ml_path_join(f->dir, "stale.patch");
	sh("set -e; mkdir -p %s/hw; cd %s; git init -q; echo 10.0.13 > VERSION;"
	   "printf 'line one\\nline two\\nline three\\n' > hw/dev.c;"
	   "git add -A; git -c user.name=t -c user.email=t@localhost commit -qm base;"
	   "git tag v10.0.13;"
	   "sed -i 's/line two/line 2/' hw/dev.c; git diff > %s; git checkout -q hw/dev.c;"
	   "printf -- '--- a/hw/dev.c\\n+++ b/hw/dev.c\\n@@ -1,3 +1,3 @@\\n line one\\n-no such line\\n+other\\n line three\\n' > %s",
	   f->repo, f->repo, f->fix, f->stale);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ml_test_rmtree(f->dir);
	free(f->dir);
	free(f->repo);
	free(f->fix);
	free(f->stale);
	free(f);
	return 0;
}

static void expect_parse_error(const char *spec, const char *needle)
{
	struct ml_source_spec s;
	ml_error_reset();
	assert_int_equal(ml_source_spec_parse(spec, &s), -1);
	if (!strstr(ml_error_message(), needle))
		fail_msg("parsing '%s': error '%s' lacks '%s'", spec, ml_error_message(), needle);
}

static void test_parse_git(void **state)
{
	struct fixture *f = *state;
	struct ml_source_spec s;
	ml_autofree char *spec = ml_strdup_printf("git:%s@v10.0.13+patch:%s+patch:%s", f->repo,
						  f->fix, f->stale);
	ml_autofree char *alias = ml_strdup_printf("source:%s@HEAD~0", f->repo);

	assert_true(ml_source_spec_is_source(spec));
	assert_int_equal(ml_source_spec_parse(spec, &s), 0);
	assert_true(s.git);
	assert_string_equal(s.dir, f->repo);
	assert_string_equal(s.ref, "v10.0.13");
	assert_int_equal(s.n_patches, 2);
	assert_string_equal(s.patches[0], f->fix); /* in the order given */
	assert_string_equal(s.patches[1], f->stale);
	ml_source_spec_clear(&s);

	assert_int_equal(ml_source_spec_parse(alias, &s), 0);
	assert_true(s.git);
	assert_string_equal(s.ref, "HEAD~0");
	ml_source_spec_clear(&s);
}

static void test_parse_git_at_in_dir(void **state)
{
	struct fixture *f = *state;
	struct ml_source_spec s;
	ml_autofree char *odd = ml_strdup_printf("%s/a@b", f->dir);
	ml_autofree char *spec = ml_strdup_printf("git:%s@main", odd);

	sh("mkdir -p '%s/.git'", odd);
	/* The ref follows the last '@'. */
	assert_int_equal(ml_source_spec_parse(spec, &s), 0);
	assert_string_equal(s.dir, odd);
	assert_string_equal(s.ref, "main");
	ml_source_spec_clear(&s);
}

static void test_parse_errors(void **state)
{
	struct fixture *f = *state;
	ml_autofree char *no_ref = ml_strdup_printf("git:%s", f->repo);
	ml_autofree char *empty_ref = ml_strdup_printf("git:%s@", f->repo);
	ml_autofree char *dash_ref = ml_strdup_printf("git:%s@--upload-pack=x", f->repo);
	ml_autofree char *space_ref = ml_strdup_printf("git:%s@a b", f->repo);
	ml_autofree char *not_git = ml_strdup_printf("git:%s@main", f->dir);
	ml_autofree char *missing_patch = ml_strdup_printf("git:%s@main+patch:%s/nope.patch",
							   f->repo, f->dir);
	ml_autofree char *rel_patch = ml_strdup_printf("git:%s@main+patch:fix.patch", f->repo);
	ml_autofree char *empty_patch = ml_strdup_printf("git:%s@main+patch:", f->repo);
	ml_autofree char *dir_patch = ml_strdup_printf("debian-source:10.0.13+patch:%s", f->dir);

	expect_parse_error(no_ref, "expected git:DIR@REF");
	expect_parse_error(empty_ref, "expected git:DIR@REF");
	expect_parse_error(dash_ref, "is not a git ref");
	expect_parse_error(space_ref, "is not a git ref");
	expect_parse_error("git:relative/qemu@main", "must be an absolute path");
	expect_parse_error("git:/nonexistent/qemu@main", "does not exist");
	expect_parse_error(not_git, "is not a git checkout");
	expect_parse_error(missing_patch, "nope.patch is not a readable file");
	expect_parse_error(rel_patch, "must be absolute");
	expect_parse_error(empty_patch, "needs a path");
	expect_parse_error(dir_patch, "is not a readable file");
	expect_parse_error("debian-source:", "is not a QEMU version");
	expect_parse_error("debian-source:latest", "is not a QEMU version");
	expect_parse_error("debian-source:10.0.13;rm -rf /", "is not a QEMU version");
}

static void test_parse_debian_source(void **state)
{
	struct fixture *f = *state;
	struct ml_source_spec s;
	ml_autofree char *spec = ml_strdup_printf("debian-source:10.2.2+patch:%s", f->fix);
	struct ml_build b;

	assert_int_equal(ml_source_spec_parse(spec, &s), 0);
	assert_false(s.git);
	assert_string_equal(s.version, "10.2.2");
	assert_int_equal(s.n_patches, 1);
	ml_source_spec_clear(&s);
	assert_int_equal(ml_source_spec_parse("debian-source:1:10.0.13+ds-0+deb13u1", &s), 0);
	assert_string_equal(s.version, "1:10.0.13+ds-0+deb13u1");
	ml_source_spec_clear(&s);

	/* The build layer knows the kinds. */
	assert_int_equal(ml_build_parse(spec, &b), 0);
	assert_int_equal(b.kind, ML_PROVIDER_DEBIAN_SOURCE);
	assert_string_equal(ml_build_kind_name(b.kind), "debian-source");
	ml_build_clear(&b);
	assert_false(ml_source_spec_is_source("debian:trixie"));
}

static void test_versions(void **state)
{
	ml_autofree char *a = ml_source_upstream_version("1:10.0.13+ds-0+deb13u1");
	ml_autofree char *b = ml_source_upstream_version("1:7.2+dfsg-7+deb12u18");
	ml_autofree char *c = ml_source_upstream_version("1:11.1.3+ds-1");
	ml_autofree char *d = ml_source_upstream_version("10.2.2");
	ml_autofree char *e = ml_source_upstream_version("1:+ds");
	(void)state;

	assert_string_equal(a, "10.0.13");
	assert_string_equal(b, "7.2");
	assert_string_equal(c, "11.1.3");
	assert_string_equal(d, "10.2.2");
	assert_null(e);
	assert_string_equal(ml_source_toolchain_suite("7.2.22"), "bookworm");
	assert_string_equal(ml_source_toolchain_suite("10.0.13"), "trixie");
	assert_string_equal(ml_source_toolchain_suite("10.1.50"), "trixie");
	assert_string_equal(ml_source_toolchain_suite("11.1.3"), "trixie");
}

static void test_key(void **state)
{
	const char *p1[] = { "aaaa", "bbbb" };
	const char *p2[] = { "bbbb", "aaaa" };
	const char *args[] = { "--target-list=x86_64-softmmu", NULL };
	const char *args2[] = { "--target-list=x86_64-softmmu", "--enable-debug", NULL };
	char base[17], k[17];
	(void)state;

	ml_source_key("tree1", p1, 0, args, "gcc 14\n", base);
	assert_int_equal(strlen(base), 16);
	ml_source_key("tree1", p1, 0, args, "gcc 14\n", k);
	assert_string_equal(k, base); /* same inputs, same key */
	ml_source_key("tree2", p1, 0, args, "gcc 14\n", k);
	assert_string_not_equal(k, base); /* another tree */
	ml_source_key("tree1", p1, 1, args, "gcc 14\n", k);
	assert_string_not_equal(k, base); /* a patch on top */
	{
		char k2[17], k3[17];
		ml_source_key("tree1", p1, 2, args, "gcc 14\n", k2);
		ml_source_key("tree1", p2, 2, args, "gcc 14\n", k3);
		assert_string_not_equal(k2, k3); /* patch order matters */
		assert_string_not_equal(k2, k);
	}
	ml_source_key("tree1", p1, 0, args2, "gcc 14\n", k);
	assert_string_not_equal(k, base); /* configure arguments */
	ml_source_key("tree1", p1, 0, args, "gcc 14.1\n", k);
	assert_string_not_equal(k, base); /* a toolchain package */
	{
		/* 7.2 has no --disable-download; 8.1 and later need it (no network). */
		bool old_has = false, new_has = false;
		for (const char *const *a = ml_source_configure_args("7.2.22"); *a; a++)
			old_has |= strcmp(*a, "--disable-download") == 0;
		for (const char *const *a = ml_source_configure_args("10.0.13"); *a; a++)
			new_has |= strcmp(*a, "--disable-download") == 0;
		assert_false(old_has);
		assert_true(new_has);
	}
}

static void test_patches_apply_or_name_the_hunk(void **state)
{
	struct fixture *f = *state;
	const char *good[] = { f->fix };
	const char *bad[] = { f->fix, f->stale };
	ml_autofree char *text = NULL;
	ml_autofree char *path = ml_path_join(f->repo, "hw/dev.c");

	ml_error_reset();
	assert_int_equal(ml_source_apply_patches("git:x@y", f->repo, bad, 2, "v10.0.13"), -1);
	/* The second patch is named, with its place and git's words for the hunk. */
	assert_non_null(strstr(ml_error_message(), "patch 2 of 2"));
	assert_non_null(strstr(ml_error_message(), f->stale));
	assert_non_null(strstr(ml_error_message(), "patch failed: hw/dev.c:1"));
	sh("git -C %s checkout -q -- .", f->repo);

	assert_int_equal(ml_source_apply_patches("git:x@y", f->repo, good, 1, "v10.0.13"), 0);
	assert_int_equal(ml_read_file(path, 4096, &text, NULL), 0);
	assert_non_null(strstr(text, "line 2"));
	sh("git -C %s checkout -q -- .", f->repo);
}

/* Refs are resolved before anything is built or downloaded: an unknown one
 * is a clear error, and the cache stays empty. */
static void test_unknown_ref_fails_before_building(void **state)
{
	struct fixture *f = *state;
	struct ml_config cfg = { 0 };
	struct ml_build b;
	ml_autofree char *spec = ml_strdup_printf("git:%s@no-such-tag", f->repo);
	ml_autofree char *cache = ml_path_join(f->dir, "cache");
	ml_autofree char *builds = ml_path_join(cache, "builds");

	cfg.cache_dir = cache;
	cfg.mirror = (char *)"http://deb.debian.org/debian";
	ml_error_reset();
	assert_int_equal(ml_build_provision(&cfg, spec, false, &b), -1);
	assert_non_null(strstr(ml_error_message(), "'no-such-tag' is not a commit, tag or branch"));
	assert_false(ml_path_exists(builds));
}

static void test_not_a_qemu_tree(void **state)
{
	struct fixture *f = *state;
	struct ml_config cfg = { 0 };
	struct ml_build b;
	ml_autofree char *other = ml_path_join(f->dir, "other");
	ml_autofree char *spec = ml_strdup_printf("git:%s@HEAD", other);
	ml_autofree char *cache = ml_path_join(f->dir, "cache2");

	sh("set -e; mkdir -p %s; cd %s; git init -q; echo x > README;"
	   "git add -A; git -c user.name=t -c user.email=t@localhost commit -qm x", other, other);
	cfg.cache_dir = cache;
	cfg.mirror = (char *)"http://deb.debian.org/debian";
	ml_error_reset();
	assert_int_equal(ml_build_provision(&cfg, spec, false, &b), -1);
	assert_non_null(strstr(ml_error_message(), "has no VERSION file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_git),
		cmocka_unit_test(test_parse_git_at_in_dir),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_debian_source),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_patches_apply_or_name_the_hunk),
		cmocka_unit_test(test_unknown_ref_fails_before_building),
		cmocka_unit_test(test_not_a_qemu_tree),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
