/* Unit tests of the bounds on what guests and QEMU make miglab keep (issue
 * 11, item 9): atomic files on a full disk, logs cut to their head and tail,
 * ABI dumps over their byte, depth and count limits. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abi.h"
#include "ml-buf.h"
#include "ml-caplog.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "testhelp.h"
#include "ml-common.h"

/* ---- atomic files on a full disk --------------------------------------- */

/* Names in dir, one per line (sorted by readdir order; tests only count). */
static size_t dir_entries(const char *dir, struct ml_buf *names)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ml_buf_printf(names, "%s\n", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void test_atomic_full_disk(void **state)
{
	char *dir = ml_test_tiny_fs(64);
	size_t big = 1 << 20;
	ml_autofree char *data = NULL;
	ml_autofree char *path = NULL;
	ml_autofree char *src = NULL;
	ml_autofree char *copy = NULL;
	ml_autobuf struct ml_buf names = ML_BUF_INIT(0);
	(void)state;

	if (!dir) {
		skip();
		return;
	}
	data = malloc(big);
	assert_non_null(data);
	memset(data, 'x', big);
	path = ml_path_join(dir, "matrix.ini");
	/* An old whole file stays as it was. */
	assert_int_equal(ml_write_atomic(path, "old\n", 4, 0644), 0);
	assert_int_equal(ml_write_atomic(path, data, big, 0644), -1);
	assert_non_null(strstr(ml_error_message(), path));
	assert_non_null(strstr(ml_error_message(), "No space left on device"));
	assert_null(strstr(ml_error_message(), ".tmp."));
	assert_int_equal(dir_entries(dir, &names), 1);
	assert_string_equal(names.data, "matrix.ini\n");
	{
		char *got = NULL;
		assert_int_equal(ml_read_file(path, 100, &got, NULL), 0);
		assert_string_equal(got, "old\n");
		free(got);
	}

	/* A copy (a run's matrix, a kept stream) of a file too big for the
	 * disk: neither the file nor a temporary one is left. */
	src = ml_path_join(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", "miglab-test-bound-src");
	assert_int_equal(ml_write_atomic(src, data, big, 0644), 0);
	copy = ml_path_join(dir, "stream-dst.bin.zst");
	assert_int_equal(ml_copy_file(src, copy), -1);
	assert_non_null(strstr(ml_error_message(), copy));
	assert_non_null(strstr(ml_error_message(), "No space left on device"));
	assert_int_equal(ml_copy_regular_file(src, copy), -1);
	ml_buf_reset(&names);
	assert_int_equal(dir_entries(dir, &names), 1);
	assert_string_equal(names.data, "matrix.ini\n");
	unlink(src);
	ml_test_tiny_fs_free(dir);
}

/* The streaming form: written piece by piece, the file appears only at the
 * commit; an abort leaves nothing. */
static void test_atomic_file_pieces(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(dir, "capture.bin");
	ml_autobuf struct ml_buf names = ML_BUF_INIT(0);
	struct ml_atomic_file f;
	char *got = NULL;
	(void)state;

	assert_int_equal(ml_atomic_open(&f, path, 0640), 0);
	assert_int_equal(ml_atomic_write(&f, "ab", 2), 0);
	assert_false(ml_path_exists(path));
	assert_int_equal(ml_atomic_write(&f, "cd", 2), 0);
	assert_int_equal(ml_atomic_commit(&f), 0);
	assert_int_equal(ml_read_file(path, 100, &got, NULL), 0);
	assert_string_equal(got, "abcd");
	free(got);

	assert_int_equal(ml_atomic_open(&f, path, 0640), 0);
	assert_int_equal(ml_atomic_write(&f, "half", 4), 0);
	ml_atomic_abort(&f);
	assert_int_equal(dir_entries(dir, &names), 1);
	assert_int_equal(ml_read_file(path, 100, &got, NULL), 0);
	assert_string_equal(got, "abcd");
	free(got);

	/* An exclusive copy does not replace what is there. */
	assert_int_equal(ml_copy_regular_file(path, path), -1);
	ml_test_rmtree(dir);
}

/* ---- logs cut to head and tail ----------------------------------------- */

/* A guest that never stops printing: the file never holds more than
 * head + 2 * tail bytes (and the marker), the live tail is always the last
 * line, and at close the head, one marker line and the tail add up to all
 * that was written. */
static void test_caplog_head_and_tail(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(dir, "console-src.log");
	struct ml_caplog *l = NULL;
	unsigned long long in = 0;
	const size_t head = 1000, tail = 4096;
	char *got = NULL;
	size_t len;
	(void)state;

	assert_int_equal(ml_caplog_open(path, head, tail, &l), 0);
	for (int i = 0; i < 10000; i++) {
		char line[64], *t;
		struct stat st;
		int n = snprintf(line, sizeof(line), "line %05d of a guest that never stops\n", i);

		ml_caplog_write(l, line, (size_t)n);
		in += (unsigned long long)n;
		assert_int_equal(stat(path, &st), 0);
		assert_true((size_t)st.st_size <= head + 2 * tail + 64);
		if (i % 1000 == 999) {
			t = ml_caplog_tail(l, (size_t)n);
			assert_string_equal(t, line);
			free(t);
		}
	}
	assert_int_equal(ml_caplog_bytes_in(l), in);
	assert_true(ml_caplog_bytes_cut(l) > 0);
	assert_int_equal(ml_caplog_close(l), 0);

	assert_int_equal(ml_read_file(path, 1 << 20, &got, &len), 0);
	assert_memory_equal(got, "line 00000 of", 13);
	assert_int_equal(got[len - 1], '\n');
	assert_non_null(strstr(got, "line 09999 of a guest that never stops\n"));
	{
		const char *m = strstr(got, "[miglab: ");
		unsigned long long cut = 0;
		size_t head_len, tail_len, mlen;

		assert_non_null(m);
		assert_int_equal(m[-1], '\n');
		assert_int_equal(sscanf(m, "[miglab: %llu bytes cut]\n", &cut), 1);
		mlen = (size_t)(strchr(m, '\n') + 1 - m);
		assert_memory_equal(m + mlen, "line ", 5);
		/* Only one marker, whatever the number of cuts. */
		assert_null(strstr(m + 1, "[miglab: "));
		head_len = (size_t)(m - got);
		tail_len = len - head_len - mlen;
		assert_true(head_len <= head && tail_len <= tail);
		assert_int_equal(head_len + cut + tail_len, in);
	}
	free(got);

	/* Short output is kept whole, with no marker. */
	assert_int_equal(ml_caplog_open(path, head, tail, &l), 0);
	ml_caplog_write(l, "booted\n", 7);
	assert_int_equal(ml_caplog_close(l), 0);
	assert_int_equal(ml_read_file(path, 1 << 20, &got, &len), 0);
	assert_string_equal(got, "booted\n");
	free(got);
	ml_test_rmtree(dir);
}

/* A log on a full disk: close names the file and how much was lost. */
static void test_caplog_full_disk(void **state)
{
	char *dir = ml_test_tiny_fs(64);
	ml_autofree char *path = NULL;
	struct ml_caplog *l = NULL;
	char chunk[4096];

	if (!dir) {
		skip();
		return;
	}
	path = ml_path_join(dir, "qemu-src.stderr");
	memset(chunk, 'e', sizeof(chunk));
	assert_int_equal(ml_caplog_open(path, 1 << 20, 1 << 20, &l), 0);
	for (int i = 0; i < 64; i++)
		ml_caplog_write(l, chunk, sizeof(chunk));
	assert_int_equal(ml_caplog_close(l), -1);
	assert_non_null(strstr(ml_error_message(), path));
	assert_non_null(strstr(ml_error_message(), "bytes of output lost"));
	assert_non_null(strstr(ml_error_message(), "No space left on device"));
	ml_test_tiny_fs_free(dir);
}

/* ---- ABI dumps ----------------------------------------------------------- */

/* A real dump (tests/data/abi) with one change made by edit. */
static json_t *real_dump(void)
{
	json_t *d = ml_abi_load(ml_test_data("abi/qemu-10.0.2-pc-q35-7.2.json"));

	if (!d)
		fail_msg("%s", ml_error_message());
	return d;
}

static void expect_refused(json_t *d, const char *msg)
{
	assert_int_equal(ml_abi_validate(d, "dump.json"), -1);
	if (!strstr(ml_error_message(), msg))
		fail_msg("expected \"%s\" in: %s", msg, ml_error_message());
	json_decref(d);
}

static void test_abi_real_dump_within_bounds(void **state)
{
	json_t *d = real_dump();
	(void)state;

	assert_int_equal(ml_abi_check_bounds(d, "dump.json"), 0);
	json_decref(d);
}

/* Over the byte budget: refused by the reader, with the limit named, before
 * jansson sees a byte. */
static void test_abi_too_many_bytes(void **state)
{
	ml_autofree char *dir = ml_test_tmpdir();
	ml_autofree char *path = ml_path_join(dir, "abi-boot-src.json");
	json_t *d = real_dump();
	ml_autofree char *text = NULL;
	char msg[128];
	(void)state;

	/* Made only of what a dump may hold: strings under their own cap. */
	text = malloc(200 << 10);
	memset(text, 'f', (200 << 10) - 1);
	text[(200 << 10) - 1] = '\0';
	for (int i = 0; i < 6; i++) {
		char k[16];
		snprintf(k, sizeof(k), "pad%d", i);
		ml_json_set(json_object_get(d, "kernel"), k, json_string(text));
	}
	assert_int_equal(ml_abi_check_bounds(d, "dump.json"), 0);
	assert_int_equal(ml_json_write_file(path, d), 0);
	json_decref(d);
	assert_null(ml_abi_load(path));
	snprintf(msg, sizeof(msg), "larger than the limit of %zu bytes", ML_ABI_MAX_BYTES);
	if (!strstr(ml_error_message(), msg) || !strstr(ml_error_message(), path))
		fail_msg("unexpected error: %s", ml_error_message());
	ml_test_rmtree(dir);
}

static void test_abi_too_deep(void **state)
{
	json_t *d = real_dump(), *v = json_string("bottom");
	(void)state;

	for (int i = 0; i < 40; i++) {
		json_t *a = json_array();
		json_array_append_new(a, v);
		v = a;
	}
	ml_json_set(json_object_get(d, "kernel"), "deep", v);
	expect_refused(d, "dump.json: kernel.deep[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0] "
			  "is nested 17 levels deep, more than the limit of 16");
}

static void test_abi_too_many_devices(void **state)
{
	json_t *d = real_dump();
	json_t *devs = json_object_get(json_object_get(d, "pci"), "devices");
	json_t *one = json_deep_copy(json_array_get(devs, 0));
	(void)state;

	while (json_array_size(devs) <= 256)
		json_array_append(devs, one);
	json_decref(one);
	expect_refused(d, "dump.json: pci.devices has 257 elements, more than the limit of 256");
}

static void test_abi_too_many_acpi_tables(void **state)
{
	json_t *d = real_dump();
	json_t *tables = json_object_get(json_object_get(d, "acpi"), "tables");
	(void)state;

	while (json_array_size(tables) <= 64)
		json_array_append_new(tables, json_pack("{s:s, s:i, s:s}", "signature", "SSDT",
							"instance", (int)json_array_size(tables),
							"data", "00"));
	expect_refused(d, "dump.json: acpi.tables has 65 elements, more than the limit of 64");
}

/* Lists without their own cap, strings and objects have generic ones. */
static void test_abi_generic_bounds(void **state)
{
	json_t *d = real_dump(), *flags = json_array(), *obj = json_object();
	char *big = malloc(ML_ABI_MAX_STRING + 2);
	(void)state;

	for (int i = 0; i <= ML_ABI_MAX_ARRAY; i++)
		json_array_append_new(flags, json_string("x"));
	ml_json_set(json_object_get(d, "cpu"), "flags", flags);
	expect_refused(d, "dump.json: cpu.flags has 4097 elements, more than the limit of 4096");

	d = real_dump();
	memset(big, 'a', ML_ABI_MAX_STRING + 1);
	big[ML_ABI_MAX_STRING + 1] = '\0';
	ml_json_set(json_object_get(d, "kernel"), "cmdline", json_string(big));
	free(big);
	expect_refused(d, "dump.json: kernel.cmdline is a string of 262145 bytes, more than the "
			  "limit of 262144");

	d = real_dump();
	for (int i = 0; i <= ML_ABI_MAX_MEMBERS; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%d", i);
		ml_json_set(obj, k, json_true());
	}
	ml_json_set(json_object_get(d, "smbios"), "\x1b[2Jwide", obj);
	expect_refused(d, "dump.json: smbios.?[2Jwide has 1025 members, more than the limit of 1024");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_atomic_file_pieces),
		cmocka_unit_test(test_caplog_head_and_tail),
		cmocka_unit_test(test_abi_real_dump_within_bounds),
		cmocka_unit_test(test_abi_too_many_bytes),
		cmocka_unit_test(test_abi_too_deep),
		cmocka_unit_test(test_abi_too_many_devices),
		cmocka_unit_test(test_abi_too_many_acpi_tables),
		cmocka_unit_test(test_abi_generic_bounds),
		/* Last: they move the process into a mount namespace of its own. */
		cmocka_unit_test(test_atomic_full_disk),
		cmocka_unit_test(test_caplog_full_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
