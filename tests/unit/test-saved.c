/* Unit tests of saved guests (lab/saved-state.h): the key changes with every
 * input a saved guest depends on and with nothing else; a state is valid only
 * whole, with its record, size and sha256 agreeing; the lock excludes. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "saved-state.h"
#include "testhelp.h"
#include "ml-common.h"

struct fixture {
	struct ml_build build;
	struct ml_guest guest;
	struct ml_saved_key_in in;
	const char *args[3];
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->build.spec = "debian:trixie";
	f->build.dir = "/cache/builds/debian-trixie";
	f->build.version_line = "QEMU emulator version 10.0.13 (Debian 1:10.0.13+ds-1)";
	snprintf(f->build.sha256, sizeof(f->build.sha256), "%s", "aa00000000000000000000000000000000000000000000000000000000000001");
	f->build.packages = json_pack("{s:s, s:s}", "qemu-system-x86", "1:10.0.13+ds-1", "seabios",
				      "1.16.3-2");
	f->guest.kernel_release = "6.12.117+deb13-amd64";
	f->guest.dir = "/cache/guests/trixie/6.12.117+deb13-amd64";
	snprintf(f->guest.kernel_sha256, sizeof(f->guest.kernel_sha256), "%s", "bb00000000000000000000000000000000000000000000000000000000000001");
	snprintf(f->guest.vmlinux_sha256, sizeof(f->guest.vmlinux_sha256), "%s", "cc00000000000000000000000000000000000000000000000000000000000001");
	snprintf(f->guest.initrd_sha256, sizeof(f->guest.initrd_sha256), "%s", "dd00000000000000000000000000000000000000000000000000000000000001");
	f->in = (struct ml_saved_key_in){
		.build = &f->build,
		.guest = &f->guest,
		.machine = "pc-q35-10.0",
		.accel = "tcg",
		.kernel_boot = "pvh",
		.append = "console=ttyS0 panic=-1 quiet miglab.ram_mib=64",
		.memory_mib = 256,
		.workload_mib = 64,
		.smp = 1,
	};
}

static void fixture_clear(struct fixture *f)
{
	json_decref(f->build.packages);
}

static char *key_of(struct fixture *f)
{
	return ml_saved_key(&f->in, NULL);
}

/* Each change a saved guest depends on gives another key. */
static void test_key_changes_with_every_input(void **state)
{
	struct fixture f;
	ml_autofree char *base = NULL;
	(void)state;

	fixture_init(&f);
	base = key_of(&f);
	assert_int_equal(strlen(base), 16);

#define EXPECT_OTHER_KEY(what, change)                                       \
	do {                                                                 \
		struct fixture g;                                            \
		ml_autofree char *k = NULL;                                  \
		fixture_init(&g);                                            \
		change;                                                      \
		k = key_of(&g);                                              \
		if (strcmp(k, base) == 0)                                    \
			fail_msg("the key did not change with %s", what);    \
		fixture_clear(&g);                                           \
	} while (0)

	EXPECT_OTHER_KEY("the QEMU binary", g.build.sha256[63] = '2');
	EXPECT_OTHER_KEY("the version line", g.build.version_line = "QEMU emulator version 10.0.2");
	EXPECT_OTHER_KEY("a package of the root (firmware)",
			 ml_json_set_str(g.build.packages, "seabios", "1.16.3-3"));
	EXPECT_OTHER_KEY("the machine type", g.in.machine = "pc-q35-9.2");
	EXPECT_OTHER_KEY("the accelerator", g.in.accel = "kvm");
	EXPECT_OTHER_KEY("the kernel boot", g.in.kernel_boot = "bzimage");
	EXPECT_OTHER_KEY("the vmlinux (pvh)", g.guest.vmlinux_sha256[63] = '2');
	EXPECT_OTHER_KEY("the initramfs", g.guest.initrd_sha256[63] = '2');
	EXPECT_OTHER_KEY("the kernel release", g.guest.kernel_release = "6.1.0-50-amd64");
	EXPECT_OTHER_KEY("the command line", g.in.append = "console=ttyS0 quiet");
	EXPECT_OTHER_KEY("the memory", g.in.memory_mib = 512);
	EXPECT_OTHER_KEY("the workload", g.in.workload_mib = 32);
	EXPECT_OTHER_KEY("the vCPUs", g.in.smp = 2);
	EXPECT_OTHER_KEY("an extra argument", (g.args[0] = "-cpu", g.args[1] = "max",
					       g.in.extra_args = g.args));
	{
		/* bzimage: the bzImage's hash counts, the vmlinux's does not */
		struct fixture g, h;
		ml_autofree char *k1 = NULL;
		ml_autofree char *k2 = NULL;
		ml_autofree char *k3 = NULL;
		fixture_init(&g);
		fixture_init(&h);
		g.in.kernel_boot = h.in.kernel_boot = "bzimage";
		k1 = key_of(&g);
		h.guest.kernel_sha256[63] = '2';
		k2 = key_of(&h);
		assert_string_not_equal(k1, k2);
		h.guest.kernel_sha256[63] = '1';
		h.guest.vmlinux_sha256[63] = '2';
		k3 = key_of(&h);
		assert_string_equal(k1, k3);
		fixture_clear(&g);
		fixture_clear(&h);
	}
	fixture_clear(&f);
}

/* Where a build or guest lies, and the builds it migrates to, are not what
 * it is: the same key. */
static void test_key_ignores_places(void **state)
{
	struct fixture f, g;
	ml_autofree char *k1 = NULL;
	ml_autofree char *k2 = NULL;
	ml_autofree char *text = NULL;
	(void)state;

	fixture_init(&f);
	fixture_init(&g);
	g.build.dir = "/elsewhere/builds/x";
	g.build.spec = "debian:trixie-copy";
	g.guest.dir = "/elsewhere/guests/y";
	k1 = key_of(&f);
	k2 = ml_saved_key(&g.in, &text);
	assert_string_equal(k1, k2);
	assert_non_null(strstr(text, "machine=pc-q35-10.0\n"));
	assert_null(strstr(text, "/elsewhere"));
	fixture_clear(&f);
	fixture_clear(&g);
}

static void write_state(const char *dir, const char *content)
{
	ml_autofree char *state = ml_path_join(dir, "state");
	assert_int_equal(ml_mkdir_p(dir, 0755), 0);
	assert_int_equal(ml_write_atomic(state, content, strlen(content), 0644), 0);
}

/* A state is valid only with its record, and only as recorded. */
static void test_check_finds_absent_damaged_and_valid(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *dir = ml_saved_dir(tmp, "0123456789abcdef");
	ml_autofree char *state_path = ml_path_join(dir, "state");
	ml_autofree char *rec_path = ml_path_join(dir, "saved.json");
	json_t *rec = NULL, *r;
	char *why = NULL;
	(void)state;

	/* nothing there, or a state without its record (unfinished) */
	assert_int_equal(ml_saved_check(dir, "0123456789abcdef", &rec, &why), ML_SAVED_ABSENT);
	write_state(dir, "QEVM stream bytes");
	assert_int_equal(ml_saved_check(dir, "0123456789abcdef", &rec, &why), ML_SAVED_ABSENT);

	r = ml_saved_record(dir, "0123456789abcdef", "format=1\n");
	assert_non_null(r);
	assert_int_equal(ml_json_int(r, "bytes", -1), 17);
	assert_int_equal(ml_saved_commit(dir, r), 0);
	json_decref(r);
	assert_int_equal(ml_saved_check(dir, "0123456789abcdef", &rec, &why), ML_SAVED_VALID);
	assert_non_null(rec);
	assert_null(why);
	json_decref(rec);

	/* a record of another key is not this one's */
	assert_int_equal(ml_saved_check(dir, "fedcba9876543210", &rec, &why), ML_SAVED_DAMAGED);
	assert_non_null(strstr(why, "not of key fedcba9876543210"));
	free(why);

	/* one byte flipped, same size: the sha256 says so */
	write_state(dir, "QEVM stream bytez");
	assert_int_equal(ml_saved_check(dir, "0123456789abcdef", &rec, &why), ML_SAVED_DAMAGED);
	assert_null(rec);
	assert_non_null(strstr(why, "sha256"));
	free(why);

	/* cut short: the size says so before any hashing */
	write_state(dir, "QEVM");
	assert_int_equal(ml_saved_check(dir, "0123456789abcdef", &rec, &why), ML_SAVED_DAMAGED);
	assert_non_null(strstr(why, "has 4 bytes, its record says 17"));
	free(why);

	/* gone */
	assert_int_equal(unlink(state_path), 0);
	assert_int_equal(ml_saved_check(dir, "0123456789abcdef", &rec, &why), ML_SAVED_DAMAGED);
	assert_non_null(strstr(why, "missing"));
	free(why);

	/* a record that is not JSON */
	write_state(dir, "QEVM stream bytes");
	assert_int_equal(ml_write_atomic(rec_path, "{\"key\": ", 8, 0644), 0);
	assert_int_equal(ml_saved_check(dir, "0123456789abcdef", &rec, &why), ML_SAVED_DAMAGED);
	assert_non_null(strstr(why, "record cannot be read"));
	free(why);
	ml_rm_rf(tmp);
}

/* The lock is exclusive across open file descriptions (cells are processes). */
static void test_lock_excludes(void **state)
{
	ml_autofree char *tmp = ml_test_tmpdir();
	ml_autofree char *lock_path = ml_path_join(tmp, "0123456789abcdef.lock");
	int fd = ml_saved_lock(tmp, "0123456789abcdef"), other;
	(void)state;

	assert_true(fd >= 0);
	other = open(lock_path, O_RDWR | O_CLOEXEC);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	close(fd);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
	close(other);
	ml_rm_rf(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_changes_with_every_input),
		cmocka_unit_test(test_key_ignores_places),
		cmocka_unit_test(test_check_finds_absent_damaged_and_valid),
		cmocka_unit_test(test_lock_excludes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
