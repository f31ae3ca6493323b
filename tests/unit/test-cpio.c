/* Unit tests of the deterministic newc cpio writer (guests/cpio.c) and of the
 * initramfs built with it (guests/initramfs.c): same inputs give the same
 * bytes, the headers decode (here and with the host's cpio), the /init
 * script is valid busybox sh. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cpio.h"
#include "initramfs.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-proc.h"
#include "testhelp.h"
#include "ml-common.h"

enum { F_INO, F_MODE, F_UID, F_GID, F_NLINK, F_MTIME, F_SIZE, F_DEVMAJ, F_DEVMIN, F_RDEVMAJ,
       F_RDEVMIN, F_NAMESIZE, F_CHECK, N_FIELDS };

struct parsed {
	char name[256];
	unsigned long f[N_FIELDS];
	const char *data;
};

/* An independent newc decoder: fails the test on any malformed header. */
static size_t parse_archive(const char *buf, size_t len, struct parsed *out, size_t max)
{
	size_t off = 0, n = 0;

	for (;;) {
		struct parsed *p;
		assert_true(n < max);
		p = &out[n];
		assert_true(off + 110 <= len);
		assert_int_equal(off % 4, 0);
		assert_memory_equal(buf + off, "070701", 6);
		for (int i = 0; i < N_FIELDS; i++) {
			char hex[9];
			memcpy(hex, buf + off + 6 + 8 * i, 8);
			hex[8] = '\0';
			for (int k = 0; k < 8; k++)
				assert_non_null(strchr("0123456789ABCDEF", hex[k]));
			p->f[i] = strtoul(hex, NULL, 16);
		}
		assert_true(p->f[F_NAMESIZE] > 1 && p->f[F_NAMESIZE] < sizeof(p->name));
		assert_true(off + 110 + p->f[F_NAMESIZE] <= len);
		memcpy(p->name, buf + off + 110, p->f[F_NAMESIZE]);
		assert_int_equal(p->name[p->f[F_NAMESIZE] - 1], '\0');
		off = (off + 110 + p->f[F_NAMESIZE] + 3) & ~(size_t)3;
		p->data = buf + off;
		assert_true(off + p->f[F_SIZE] <= len);
		off = (off + p->f[F_SIZE] + 3) & ~(size_t)3;
		n++;
		if (strcmp(p->name, "TRAILER!!!") == 0)
			break;
	}
	assert_int_equal(off, len);
	return n;
}

static const struct parsed *find_entry(const struct parsed *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	fail_msg("no entry %s in the archive", name);
	return NULL;
}

/* The same content, added in two different orders. */
static struct ml_cpio *sample(int variant, const char *src_file)
{
	struct ml_cpio *c = ml_cpio_new();
	if (variant == 0) {
		assert_int_equal(ml_cpio_add_dir(c, "/bin", 0755), 0);
		assert_int_equal(ml_cpio_add_data(c, "bin/busybox", 0755, "BB", 2), 0);
		assert_int_equal(ml_cpio_add_symlink(c, "bin/sh", "busybox"), 0);
		assert_int_equal(ml_cpio_add_chardev(c, "dev/console", 0600, 5, 1), 0);
		assert_int_equal(ml_cpio_add_data(c, "./init", 0755, "#!/bin/sh\n", 10), 0);
		assert_int_equal(ml_cpio_add_file(c, "etc/deep/dir/file", 0644, src_file), 0);
		assert_int_equal(ml_cpio_add_data(c, "bin-x", 0644, "", 0), 0);
	} else {
		assert_int_equal(ml_cpio_add_data(c, "bin-x", 0644, "", 0), 0);
		assert_int_equal(ml_cpio_add_file(c, "/etc/deep/dir/file", 0644, src_file), 0);
		assert_int_equal(ml_cpio_add_data(c, "init", 0755, "#!/bin/sh\n", 10), 0);
		assert_int_equal(ml_cpio_add_symlink(c, "bin/sh", "busybox"), 0);
		assert_int_equal(ml_cpio_add_data(c, "bin/busybox", 0755, "BB", 2), 0);
		assert_int_equal(ml_cpio_add_chardev(c, "dev//console", 0600, 5, 1), 0);
		/* an explicit directory after its implicit creation */
		assert_int_equal(ml_cpio_add_dir(c, "bin", 0755), 0);
	}
	return c;
}

static void test_deterministic(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *src = ml_path_join(dir, "src");
	struct ml_buf a = ML_BUF_INIT(0), b = ML_BUF_INIT(0), c2 = ML_BUF_INIT(0);
	struct ml_cpio *c;
	(void)state;

	assert_int_equal(ml_write_atomic(src, "hello\n", 6, 0644), 0);
	c = sample(0, src);
	assert_int_equal(ml_cpio_write_buf(c, &a), 0);
	ml_cpio_free(c);
	c = sample(1, src);
	assert_int_equal(ml_cpio_write_buf(c, &b), 0);
	/* writing the same object again gives the same bytes too */
	assert_int_equal(ml_cpio_write_buf(c, &c2), 0);
	ml_cpio_free(c);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(b.len, c2.len);
	assert_memory_equal(b.data, c2.data, b.len);

	/* different content gives different bytes (the test can tell) */
	assert_int_equal(ml_write_atomic(src, "hellO\n", 6, 0644), 0);
	c = sample(0, src);
	ml_buf_reset(&c2);
	assert_int_equal(ml_cpio_write_buf(c, &c2), 0);
	ml_cpio_free(c);
	assert_int_equal(a.len, c2.len);
	assert_memory_not_equal(a.data, c2.data, a.len);

	ml_buf_free(&a);
	ml_buf_free(&b);
	ml_buf_free(&c2);
	ml_test_rmtree(dir);
}

static void test_headers(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *src = ml_path_join(dir, "src");
	struct ml_buf a = ML_BUF_INIT(0);
	struct parsed e[32];
	struct ml_cpio *c;
	size_t n;
	static const char *const order[] = { "bin",  "bin-x", "bin/busybox", "bin/sh", "dev",
					     "dev/console", "etc", "etc/deep", "etc/deep/dir",
					     "etc/deep/dir/file", "init", "TRAILER!!!" };
	const struct parsed *p;
	(void)state;

	assert_int_equal(ml_write_atomic(src, "hello\n", 6, 0644), 0);
	c = sample(1, src);
	assert_int_equal(ml_cpio_write_buf(c, &a), 0);
	ml_cpio_free(c);
	n = parse_archive(a.data, a.len, e, ML_ARRAY_SIZE(e));
	assert_int_equal(n, ML_ARRAY_SIZE(order));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(e[i].name, order[i]);
		assert_int_equal(e[i].f[F_MTIME], 0);
		assert_int_equal(e[i].f[F_UID], 0);
		assert_int_equal(e[i].f[F_GID], 0);
		assert_int_equal(e[i].f[F_CHECK], 0);
		if (i + 1 < n)
			assert_int_equal(e[i].f[F_INO], i + 1);
	}
	p = find_entry(e, n, "bin");
	assert_int_equal(p->f[F_MODE], S_IFDIR | 0755);
	assert_int_equal(p->f[F_NLINK], 2);
	p = find_entry(e, n, "etc/deep"); /* implicit parent */
	assert_int_equal(p->f[F_MODE], S_IFDIR | 0755);
	p = find_entry(e, n, "bin/busybox");
	assert_int_equal(p->f[F_MODE], S_IFREG | 0755);
	assert_int_equal(p->f[F_SIZE], 2);
	assert_memory_equal(p->data, "BB", 2);
	p = find_entry(e, n, "bin/sh");
	assert_int_equal(p->f[F_MODE], S_IFLNK | 0777);
	assert_int_equal(p->f[F_SIZE], 7);
	assert_memory_equal(p->data, "busybox", 7);
	p = find_entry(e, n, "dev/console");
	assert_int_equal(p->f[F_MODE], S_IFCHR | 0600);
	assert_int_equal(p->f[F_RDEVMAJ], 5);
	assert_int_equal(p->f[F_RDEVMIN], 1);
	assert_int_equal(p->f[F_SIZE], 0);
	p = find_entry(e, n, "etc/deep/dir/file");
	assert_int_equal(p->f[F_SIZE], 6);
	assert_memory_equal(p->data, "hello\n", 6);
	p = find_entry(e, n, "bin-x");
	assert_int_equal(p->f[F_SIZE], 0);
	p = &e[n - 1];
	assert_int_equal(p->f[F_INO], 0);
	assert_int_equal(p->f[F_MODE], 0);
	assert_int_equal(p->f[F_NLINK], 1);

	ml_buf_free(&a);
	ml_test_rmtree(dir);
}

static void test_errors(void **state)
{
	struct ml_cpio *c = ml_cpio_new();
	struct ml_buf a = ML_BUF_INIT(0);
	(void)state;

	assert_int_equal(ml_cpio_add_data(c, "a/file", 0644, "x", 1), 0);
	assert_int_equal(ml_cpio_add_data(c, "a/file", 0644, "y", 1), -1);
	assert_non_null(strstr(ml_error_message(), "added twice"));
	assert_int_equal(ml_cpio_add_data(c, "a/file/under", 0644, "y", 1), -1);
	assert_non_null(strstr(ml_error_message(), "to be a directory"));
	assert_int_equal(ml_cpio_add_data(c, "a/../etc/passwd", 0644, "y", 1), -1);
	assert_int_equal(ml_cpio_add_dir(c, "//", 0755), -1);
	/* an implicit parent takes the mode given later; an explicit one keeps it */
	assert_int_equal(ml_cpio_add_dir(c, "a", 0700), 0);
	assert_int_equal(ml_cpio_add_dir(c, "a", 0755), -1);
	assert_int_equal(ml_cpio_add_symlink(c, "l", ""), -1);
	assert_int_equal(ml_cpio_add_file(c, "missing", 0644, "/nonexistent/miglab"), 0);
	assert_int_equal(ml_cpio_write_buf(c, &a), -1);
	assert_non_null(strstr(ml_error_message(), "/nonexistent/miglab"));
	ml_buf_free(&a);
	ml_cpio_free(c);
}

/* Run argv, return its stdout (caller frees); skip when the tool is absent. */
static char *run_tool(const char *const *argv)
{
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .stdout_fd = -1,
				     .stderr_fd = -1 };
	struct ml_buf out = ML_BUF_INIT(0), err = ML_BUF_INIT(0);
	int status = -1;

	assert_int_equal(ml_proc_run(&spec, 30000, &out, &err, &status), 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s failed: %s", argv[0], err.data ? err.data : "");
	ml_buf_free(&err);
	return ml_buf_steal(&out);
}

static void test_host_cpio_reads_it(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *src = ml_path_join(dir, "src");
	ml_autofree char *arc = ml_path_join(dir, "a.cpio");
	ml_autofree char *names = NULL;
	ml_autofree char *verbose = NULL;
	struct ml_cpio *c;
	(void)state;

	if (!ml_path_exists("/usr/bin/cpio")) {
		ml_test_rmtree(dir);
		skip();
	}
	assert_int_equal(ml_write_atomic(src, "hello\n", 6, 0644), 0);
	c = sample(0, src);
	assert_int_equal(ml_cpio_write_file(c, arc), 0);
	ml_cpio_free(c);
	{
		const char *const argv[] = { "/usr/bin/cpio", "-t", "--quiet", "-F", arc, NULL };
		names = run_tool(argv);
	}
	assert_string_equal(names, "bin\nbin-x\nbin/busybox\nbin/sh\ndev\ndev/console\netc\n"
				   "etc/deep\netc/deep/dir\netc/deep/dir/file\ninit\n");
	{
		const char *const argv[] = { "/usr/bin/cpio", "-tv", "--quiet", "-F", arc, NULL };
		verbose = run_tool(argv);
	}
	assert_non_null(strstr(verbose, "bin/sh -> busybox"));
	assert_non_null(strstr(verbose, "crw-------"));
	assert_non_null(strstr(verbose, "5,"));
	assert_non_null(strstr(verbose, "-rwxr-xr-x"));
	ml_test_rmtree(dir);
}

static void test_initramfs(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *bb = ml_path_join(dir, "busybox");
	ml_autofree char *probe = ml_path_join(dir, "probe");
	ml_autofree char *mods = ml_path_join(dir, "mods");
	ml_autofree char *m1dir = ml_path_join(dir, "mods/kernel/drivers/net");
	ml_autofree char *m1 = ml_path_join(dir, "mods/kernel/drivers/net/virtio_net.ko");
	ml_autofree char *m2 = ml_path_join(dir, "mods/kernel/msr.ko");
	ml_autofree char *out1 = ml_path_join(dir, "initrd1");
	ml_autofree char *out2 = ml_path_join(dir, "initrd2");
	ml_autofree char *init_path = ml_path_join(dir, "init.sh");
	ml_autofree char *d1 = NULL;
	ml_autofree char *d2 = NULL;
	static const char *const modules[] = { "kernel/msr.ko", "kernel/drivers/net/virtio_net.ko" };
	struct ml_initramfs_spec spec = {
		.kernel_release = "6.12.7+deb13-amd64",
		.busybox_path = bb,
		.probe_path = probe,
		.modules_dir = mods,
		.modules = modules,
		.n_modules = 2,
	};
	struct parsed e[64];
	const struct parsed *p;
	size_t l1, l2, n;
	const char *init;
	(void)state;

	assert_int_equal(ml_write_atomic(bb, "BUSYBOX", 7, 0755), 0);
	assert_int_equal(ml_write_atomic(probe, "PROBE", 5, 0755), 0);
	assert_int_equal(ml_mkdir_p(m1dir, 0755), 0);
	assert_int_equal(ml_write_atomic(m1, "NET", 3, 0644), 0);
	assert_int_equal(ml_write_atomic(m2, "MSR", 3, 0644), 0);
	assert_int_equal(ml_initramfs_build(&spec, out1), 0);
	assert_int_equal(ml_initramfs_build(&spec, out2), 0);
	assert_int_equal(ml_read_file(out1, 1 << 20, &d1, &l1), 0);
	assert_int_equal(ml_read_file(out2, 1 << 20, &d2, &l2), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(d1, d2, l1);

	n = parse_archive(d1, l1, e, ML_ARRAY_SIZE(e));
	p = find_entry(e, n, "etc/miglab/modules");
	/* load order as given, not sorted */
	assert_int_equal(p->f[F_SIZE], strlen("/lib/modules/6.12.7+deb13-amd64/kernel/msr.ko\n"
					      "/lib/modules/6.12.7+deb13-amd64/kernel/drivers/net/"
					      "virtio_net.ko\n"));
	assert_memory_equal(p->data, "/lib/modules/6.12.7+deb13-amd64/kernel/msr.ko\n/lib", 50);
	p = find_entry(e, n, "lib/modules/6.12.7+deb13-amd64/kernel/drivers/net/virtio_net.ko");
	assert_memory_equal(p->data, "NET", 3);
	p = find_entry(e, n, "sbin/miglab-probe");
	assert_int_equal(p->f[F_MODE], S_IFREG | 0755);
	assert_memory_equal(p->data, "PROBE", 5);
	p = find_entry(e, n, "bin/busybox");
	assert_memory_equal(p->data, "BUSYBOX", 7);
	p = find_entry(e, n, "bin/sh");
	assert_memory_equal(p->data, "busybox", 7);
	p = find_entry(e, n, "bin/insmod");
	assert_int_equal(p->f[F_MODE], S_IFLNK | 0777);
	p = find_entry(e, n, "dev/console");
	assert_int_equal(p->f[F_RDEVMAJ], 5);
	p = find_entry(e, n, "init");
	init = ml_initramfs_init_script();
	assert_int_equal(p->f[F_MODE], S_IFREG | 0755);
	assert_int_equal(p->f[F_SIZE], strlen(init));
	assert_memory_equal(p->data, init, strlen(init));
	assert_non_null(strstr(init, "echo \"miglab-init: starting probe\"\n/sbin/miglab-probe\n"));
	assert_non_null(strstr(init, "miglab-init: insmod $m failed"));
	assert_non_null(strstr(init, "miglab-init: probe exited with status $status"));
	assert_non_null(strstr(init, "poweroff -f"));
	assert_non_null(strstr(init, "mount -t devtmpfs devtmpfs /dev"));

	/* the script parses under busybox sh, the shell that runs it */
	if (ml_path_exists("/bin/busybox")) {
		const char *const argv[] = { "/bin/busybox", "sh", "-n", init_path, NULL };
		ml_autofree char *o = NULL;
		assert_int_equal(ml_write_atomic(init_path, init, strlen(init), 0755), 0);
		o = run_tool(argv);
	}

	/* a missing probe is an error naming it */
	spec.probe_path = "/nonexistent/probe";
	assert_int_equal(ml_initramfs_build(&spec, out1), -1);
	assert_non_null(strstr(ml_error_message(), "/nonexistent/probe"));
	ml_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_host_cpio_reads_it),
		cmocka_unit_test(test_initramfs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
