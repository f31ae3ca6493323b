/* Unit tests of matrix files: good files and their values, every bad file in
 * tests/data/matrix/ against the exact message in its .err file (regenerate
 * with MIGLAB_REGENERATE=1), the shipped matrices, and --shard parsing. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "matrix.h"
#include "plan.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "testhelp.h"
#include "ml-common.h"

/* Load a fixture under its base name, so messages do not depend on where
 * the source tree is. */
static int load_fixture(const char *base, struct ml_matrix *m)
{
	ml_autofree char *rel = ml_strdup_printf("matrix/%s", base);
	ml_autofree char *text = NULL;
	size_t len = 0;

	assert_int_equal(ml_read_file(ml_test_data(rel), 1 << 20, &text, &len), 0);
	return ml_matrix_parse(text, len, base, m);
}

static void test_minimal_defaults(void **state)
{
	struct ml_matrix m;
	(void)state;

	assert_int_equal(load_fixture("good-minimal.ini", &m), 0);
	assert_string_equal(m.name, "good-minimal"); /* from the file name */
	assert_null(m.description);
	assert_string_equal(m.accel, "tcg");
	assert_int_equal(m.jobs, 0);
	assert_true(m.control);
	assert_int_equal(m.pairs, ML_PAIRS_ALL);
	assert_string_equal(m.scenario, "forward-back");
	assert_int_equal(m.n_builds, 2);
	assert_string_equal(m.builds[0].name, "a");
	assert_string_equal(m.builds[0].provider, "debian:bookworm");
	assert_string_equal(m.builds[1].name, "b");
	assert_int_equal(m.builds[1].line, 5);
	assert_int_equal(m.n_kernels, 1);
	assert_int_equal(m.n_families, 1);
	assert_string_equal(m.families[0].family, "q35");
	assert_int_equal(m.families[0].select, ML_SELECT_NEWEST_COMMON);
	assert_int_equal(m.families[0].n_list, 0);
	assert_int_equal(m.memory_mib, 256);
	assert_int_equal(m.workload_mib, 64);
	assert_string_equal(m.kernel_boot, "auto");
	assert_int_equal(m.boot_timeout_s, 60);
	assert_int_equal(m.migrate_timeout_s, 120);
	assert_int_equal(m.verify_timeout_s, 30);
	assert_int_equal(ml_matrix_find_build(&m, "b"), 1);
	assert_int_equal(ml_matrix_find_build(&m, "c"), -1);
	ml_matrix_clear(&m);
}

/* Every key set, with a byte order mark, CRLF line ends and comments. */
static void test_full(void **state)
{
	struct ml_matrix m;
	(void)state;

	assert_int_equal(load_fixture("good-full.ini", &m), 0);
	assert_string_equal(m.name, "full-1.0");
	assert_string_equal(m.description, "every key set");
	assert_string_equal(m.accel, "kvm");
	assert_int_equal(m.jobs, 3);
	assert_false(m.control);
	assert_int_equal(m.pairs, ML_PAIRS_LIST);
	assert_int_equal(m.n_builds, 2);
	assert_string_equal(m.builds[1].provider, "path:/opt/qemu/bin/qemu-system-x86_64");
	assert_int_equal(m.n_kernels, 2);
	assert_string_equal(m.kernels[1].name, "k2");
	assert_string_equal(m.kernels[1].provider, "debian:trixie");
	assert_int_equal(ml_matrix_find_kernel(&m, "k2"), 1);
	assert_int_equal(m.n_families, 2);
	assert_string_equal(m.families[0].family, "i440fx");
	assert_int_equal(m.families[0].select, 0);
	assert_int_equal(m.families[0].n_list, 3);
	assert_string_equal(m.families[0].list[0], "pc");
	assert_string_equal(m.families[0].list[1], "pc-i440fx-7.2");
	assert_string_equal(m.families[0].list[2], "pc-i440fx-2.12");
	assert_int_equal(m.families[1].select, ML_SELECT_ALL_COMMON | ML_SELECT_NEWEST_COMMON);
	assert_int_equal(m.n_pairs, 2);
	assert_string_equal(m.pairs_list[0].name, "fwd");
	assert_int_equal(m.pairs_list[0].src, 0);
	assert_int_equal(m.pairs_list[0].dst, 1);
	assert_int_equal(m.pairs_list[1].src, 1);
	assert_int_equal(m.pairs_list[1].dst, 0);
	assert_int_equal(m.memory_mib, 1024);
	assert_int_equal(m.workload_mib, 512);
	assert_string_equal(m.kernel_boot, "bzimage");
	assert_int_equal(m.boot_timeout_s, 5);
	assert_int_equal(m.migrate_timeout_s, 86400);
	assert_int_equal(m.verify_timeout_s, 1);
	assert_true(m.abi_dump);
	assert_false(m.abi_reboot);
	/* A relative baselines directory is the matrix file's neighbour
	 * (here the file is named without a directory). */
	assert_string_equal(m.abi_baselines, "abi-baselines");
	ml_matrix_clear(&m);
	{
		ml_autofree char *text = NULL;
		size_t len = 0;
		assert_int_equal(ml_read_file(ml_test_data("matrix/good-full.ini"), 1 << 20, &text, &len), 0);
		assert_int_equal(ml_matrix_parse(text, len, "/srv/nightly/debian.ini", &m), 0);
		assert_string_equal(m.abi_baselines, "/srv/nightly/abi-baselines");
	}
	assert_int_equal(m.n_abi_overrides, 2);
	assert_string_equal(m.abi_overrides[0].kind, "acpi");
	assert_string_equal(m.abi_overrides[0].severity, "error");
	assert_string_equal(m.abi_overrides[1].kind, "firmware-version");
	assert_string_equal(m.abi_overrides[1].severity, "warn");
	ml_matrix_clear(&m);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* bad-*.ini: loading fails with exactly the message of bad-*.err. */
static void test_bad_files(void **state)
{
	DIR *dir = opendir(ml_test_data("matrix"));
	struct dirent *de;
	char *names[256];
	size_t n = 0;
	(void)state;

	unsetenv("MIGLAB_QEMU_GIT"); /* bad-git-no-checkout.ini relies on it */
	assert_non_null(dir);
	while ((de = readdir(dir))) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, "bad-", 4) == 0 && l > 4 &&
		    strcmp(de->d_name + l - 4, ".ini") == 0 && n < ML_ARRAY_SIZE(names))
			names[n++] = strdup(de->d_name);
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), cmp_str);
	assert_true(n >= 40);

	for (size_t i = 0; i < n; i++) {
		struct ml_matrix m;
		ml_autofree char *err_rel = ml_strdup_printf("matrix/%.*s.err",
							     (int)(strlen(names[i]) - 4), names[i]);
		ml_autofree char *expected = NULL;
		ml_autofree char *got = NULL;

		ml_error_reset();
		if (load_fixture(names[i], &m) == 0) {
			fprintf(stderr, "%s: loaded without error\n", names[i]);
			fail();
		}
		got = ml_strdup_printf("%s\n", ml_error_message());
		if (ml_test_regenerate()) {
			assert_int_equal(ml_write_atomic(ml_test_data(err_rel), got, strlen(got),
							 0644), 0);
		} else {
			if (ml_read_file(ml_test_data(err_rel), 1 << 16, &expected, NULL) < 0) {
				fprintf(stderr, "%s: no .err file (MIGLAB_REGENERATE=1 writes it)\n",
					names[i]);
				fail();
			}
			if (strcmp(expected, got) != 0)
				fprintf(stderr, "%s:\n  expected: %s  got:      %s", names[i],
					expected, got);
			assert_string_equal(expected, got);
		}
		/* A failed load leaves the matrix cleared. */
		assert_null(m.builds);
		assert_null(m.path);
		free(names[i]);
	}
}

/* git:@REF takes the checkout of MIGLAB_QEMU_GIT, else [matrix] qemu-git. */
static void test_source_providers(void **state)
{
	struct ml_matrix m;
	(void)state;

	unsetenv("MIGLAB_QEMU_GIT");
	assert_int_equal(load_fixture("good-source.ini", &m), 0);
	assert_string_equal(m.qemu_git, "/srv/qemu");
	assert_string_equal(m.builds[0].provider, "git:/srv/qemu@origin/master+patch:/tmp/fix.patch");
	assert_string_equal(m.builds[1].provider, "git:/home/me/qemu@v10.0.13");
	assert_string_equal(m.builds[2].provider, "debian-source:10.2.2");
	assert_string_equal(m.builds[3].provider, "git:/srv/qemu@v7.2.0");
	ml_matrix_clear(&m);

	setenv("MIGLAB_QEMU_GIT", "/nightly/qemu", 1);
	assert_int_equal(load_fixture("good-source.ini", &m), 0);
	assert_string_equal(m.builds[0].provider, "git:/nightly/qemu@origin/master+patch:/tmp/fix.patch");
	assert_string_equal(m.builds[1].provider, "git:/home/me/qemu@v10.0.13");
	ml_matrix_clear(&m);
	assert_int_equal(load_fixture("bad-git-no-checkout.ini", &m), 0);
	ml_matrix_clear(&m);
	{
		/* The shipped nightly matrix: three git builds and Debian's newest. */
		assert_int_equal(ml_matrix_load(ml_test_data("../../matrix/upstream.ini"), &m), 0);
		assert_int_equal(m.n_builds, 4);
		assert_string_equal(m.builds[0].provider, "git:/nightly/qemu@origin/master");
		assert_string_equal(m.builds[3].provider, "debian:sid");
		ml_matrix_clear(&m);
	}

	setenv("MIGLAB_QEMU_GIT", "relative/qemu", 1);
	ml_error_reset();
	assert_int_equal(load_fixture("good-source.ini", &m), -1);
	assert_non_null(strstr(ml_error_message(), "must be an absolute path"));
	unsetenv("MIGLAB_QEMU_GIT");
}

static void test_load_missing_file(void **state)
{
	struct ml_matrix m;
	(void)state;

	assert_int_equal(ml_matrix_load("/nonexistent/matrix.ini", &m), -1);
	assert_non_null(strstr(ml_error_message(), "/nonexistent/matrix.ini"));
}

/* The shipped matrices load from the source tree without error. */
static void test_shipped(void **state)
{
	static const struct {
		const char *file, *name;
		size_t builds, kernels, families;
		unsigned select;
	} shipped[] = {
		{ "debian.ini", "debian", 4, 3, 2,
		  ML_SELECT_NEWEST_COMMON | ML_SELECT_OLDEST_COMMON },
		{ "quick.ini", "quick", 2, 1, 1, ML_SELECT_NEWEST_COMMON },
		{ "backport.ini", "backport", 2, 1, 2, ML_SELECT_ALL_COMMON },
		{ "upstream-debian-source.ini", "upstream-debian-source", 4, 1, 2,
		  ML_SELECT_NEWEST_COMMON },
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(shipped); i++) {
		ml_autofree char *rel = ml_strdup_printf("../../matrix/%s", shipped[i].file);
		struct ml_matrix m;

		if (ml_matrix_load(ml_test_data(rel), &m) < 0) {
			fprintf(stderr, "%s\n", ml_error_message());
			fail();
		}
		assert_string_equal(m.name, shipped[i].name);
		assert_non_null(m.description);
		assert_int_equal(m.n_builds, shipped[i].builds);
		assert_int_equal(m.n_kernels, shipped[i].kernels);
		assert_int_equal(m.n_families, shipped[i].families);
		for (size_t f = 0; f < m.n_families; f++)
			assert_int_equal(m.families[f].select, shipped[i].select);
		assert_true(m.control);
		assert_int_equal(m.pairs, ML_PAIRS_ALL);
		ml_matrix_clear(&m);
	}
}

static void test_shard_parse(void **state)
{
	static const struct {
		const char *in, *err;
	} bad[] = {
		{ "", "empty shard (expected I/N, e.g. 2/4)" },
		{ "2", "bad shard '2' (expected I/N with whole numbers, e.g. 2/4)" },
		{ "2/", "bad shard '2/' (expected I/N with whole numbers, e.g. 2/4)" },
		{ "/4", "bad shard '/4' (expected I/N with whole numbers, e.g. 2/4)" },
		{ "-1/4", "bad shard '-1/4' (expected I/N with whole numbers, e.g. 2/4)" },
		{ "1/4/2", "bad shard '1/4/2' (expected I/N with whole numbers, e.g. 2/4)" },
		{ " 1/4", "bad shard ' 1/4' (expected I/N with whole numbers, e.g. 2/4)" },
		{ "1/999999", "bad shard '1/999999' (expected I/N with whole numbers, e.g. 2/4)" },
		{ "1/0", "bad shard '1/0': N must be from 1 to 10000" },
		{ "1/10001", "bad shard '1/10001': N must be from 1 to 10000" },
		{ "0/4", "bad shard '0/4': I must be from 1 to 4" },
		{ "5/4", "bad shard '5/4': I must be from 1 to 4" },
	};
	unsigned i = 0, n = 0;
	(void)state;

	assert_int_equal(ml_shard_parse("2/4", &i, &n), 0);
	assert_int_equal(i, 2);
	assert_int_equal(n, 4);
	assert_int_equal(ml_shard_parse("1/1", &i, &n), 0);
	assert_int_equal(ml_shard_parse("10000/10000", &i, &n), 0);
	assert_int_equal(i, 10000);
	for (size_t k = 0; k < ML_ARRAY_SIZE(bad); k++) {
		assert_int_equal(ml_shard_parse(bad[k].in, &i, &n), -1);
		assert_string_equal(ml_error_message(), bad[k].err);
	}
	assert_int_equal(ml_shard_parse(NULL, &i, &n), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_source_providers),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_shipped),
		cmocka_unit_test(test_shard_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
