/* abi-dump end to end on the host: the real agent (test variant, with its
 * debug-abi knobs) on a unix socket, dumped through ml_probe_abi_dump().
 * Many reads are real here (cpuid, /proc/cpuinfo, sysfs PCI and ACPI); the
 * virtio BARs of the host are never touched (the test build leaves them
 * alone). Also checks the agent's SHA-256 against OpenSSL's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <openssl/evp.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "probe-client.h"
#include "probe.h"
#include "testhelp.h"
#include "ml-common.h"

#define CALL_MS 5000
#define DUMP_MS 20000
/* The agent runs on the host here, whose ABI (every PCI function, the host
 * firmware's ACPI tables) is far larger than a guest's: the guest bound
 * (results/abi.h) does not apply. */
#define HOST_DUMP_MAX ((size_t)64 << 20)

struct agent {
	char *dir;
	char *sock;
	int listen_fd;
	pid_t pid;
	struct ml_probe *p;
};

static const char *const sections[] = { "cpuid", "msr", "pci", "acpi", "smbios", "virtio",
					"memory_map", "cpu", "clocksource" };

static int group_setup(void **state)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	int logfd, fd;

	assert_non_null(a);
	a->dir = ml_test_tmpdir();
	a->sock = ml_path_join(a->dir, "probe.sock");
	a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(a->listen_fd >= 0);
	memcpy(sa.sun_path, a->sock, strlen(a->sock) + 1);
	assert_int_equal(bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(a->listen_fd, 4), 0);
	{
		ml_autofree char *log = ml_path_join(a->dir, "console.log");
		const char *argv[] = { MIGLAB_PROBE_BIN, "--port", a->sock, NULL };
		struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };

		logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		assert_true(logfd >= 0);
		spec.stdout_fd = spec.stderr_fd = logfd;
		if (ml_proc_spawn(&spec, &a->pid) < 0)
			fail_msg("%s", ml_error_message());
		close(logfd);
	}
	pfd = (struct pollfd){ .fd = a->listen_fd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ml_probe_open(fd, "probe", NULL, NULL, &a->p), 0);
	*state = a;
	return 0;
}

static int group_teardown(void **state)
{
	struct agent *a = *state;
	int status;

	ml_probe_free(a->p);
	assert_false(ml_proc_exited(a->pid, &status)); /* the agent never exits */
	ml_proc_kill(a->pid);
	close(a->listen_fd);
	ml_test_rmtree(a->dir);
	free(a->dir);
	free(a->sock);
	free(a);
	return 0;
}

static json_t *call_ok(struct agent *a, const char *cmd, json_t *args)
{
	json_t *ret = NULL;
	if (ml_probe_call(a->p, cmd, args, CALL_MS, &ret) < 0)
		fail_msg("%s failed: %s", cmd, ml_error_message());
	return ret;
}

/* Back to the defaults after every test: whole pages, nothing damaged. */
static int reset_knobs(void **state)
{
	json_decref(call_ok(*state, "debug-abi",
			    json_pack("{s:i, s:i, s:i, s:i}", "page_bytes", 0, "corrupt_page", -1,
				      "drop_page", -1, "truncate", 0)));
	return 0;
}

static json_t *dump_ok(struct agent *a, int timeout_ms, json_t **meta)
{
	json_t *doc = NULL;
	if (ml_probe_abi_dump(a->p, timeout_ms, HOST_DUMP_MAX, &doc, meta) < 0)
		fail_msg("abi-dump failed: %s", ml_error_message());
	assert_true(json_is_object(doc));
	return doc;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = ml_json_str(o, k);
	if (!s)
		fail_msg("no string at %s", k);
	return s;
}

static void test_sha256_matches_openssl(void **state)
{
	static const size_t lens[] = { 0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 65537 };
	uint8_t *buf = malloc(65537);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < 65537; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 7));
	for (size_t k = 0; k < ML_ARRAY_SIZE(lens); k++) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char want[65], got[65];

		assert_int_equal(EVP_Digest(buf, lens[k], md, &mdlen, EVP_sha256(), NULL), 1);
		for (unsigned i = 0; i < 32; i++)
			snprintf(want + 2 * i, 3, "%02x", md[i]);
		probe_sha256_hex(buf, lens[k], got);
		if (strcmp(want, got))
			fail_msg("sha256 of %zu bytes: %s, OpenSSL says %s", lens[k], got, want);
	}
	/* The well-known value of "abc". */
	{
		char got[65];
		probe_sha256_hex("abc", 3, got);
		assert_string_equal(got, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	}
	free(buf);
}

static void test_hello_lists_abi_dump(void **state)
{
	struct agent *a = *state;
	json_auto_t *hello = call_ok(a, "hello", NULL);
	json_t *name;
	size_t i;
	bool found = false;

	json_array_foreach(json_object_get(hello, "commands"), i, name)
		found |= !strcmp(json_string_value(name), "abi-dump");
	assert_true(found);
}

/* Elements of arr in strictly increasing order of key(s). */
static void assert_sorted(json_t *arr, const char *what, int (*cmp)(json_t *, json_t *))
{
	for (size_t i = 1; i < json_array_size(arr); i++)
		if (cmp(json_array_get(arr, i - 1), json_array_get(arr, i)) >= 0)
			fail_msg("%s: element %zu is not after element %zu", what, i, i - 1);
}

static int cmp_leaf(json_t *a, json_t *b)
{
	long long la = ml_json_int(a, "leaf", -1), lb = ml_json_int(b, "leaf", -1);
	if (la != lb)
		return la < lb ? -1 : 1;
	return ml_json_int(a, "subleaf", -1) < ml_json_int(b, "subleaf", -1) ? -1 :
	       ml_json_int(a, "subleaf", -1) > ml_json_int(b, "subleaf", -1);
}

static int cmp_bdf(json_t *a, json_t *b)
{
	return strcmp(jstr(a, "bdf"), jstr(b, "bdf"));
}

static int cmp_index(json_t *a, json_t *b)
{
	return strcmp(jstr(a, "index"), jstr(b, "index")); /* fixed-width hex */
}

static int cmp_start(json_t *a, json_t *b)
{
	return strcmp(jstr(a, "start"), jstr(b, "start"));
}

static int cmp_table(json_t *a, json_t *b)
{
	int c = strcmp(jstr(a, "signature"), jstr(b, "signature"));
	if (c)
		return c;
	if (ml_json_int(a, "instance", 0) != ml_json_int(b, "instance", 0))
		return ml_json_int(a, "instance", 0) < ml_json_int(b, "instance", 0) ? -1 : 1;
	return (int)ml_json_bool(a, "dynamic", false) - (int)ml_json_bool(b, "dynamic", false);
}

static void test_dump_sections(void **state)
{
	struct agent *a = *state;
	json_auto_t *meta = NULL;
	json_auto_t *doc = dump_ok(a, DUMP_MS, &meta);
	struct utsname u;
	json_t *sec;

	assert_string_equal(jstr(doc, "schema"), "miglab-abi/1");
	assert_string_equal(jstr(json_object_get(doc, "agent"), "name"), "miglab-probe");
	assert_int_equal(uname(&u), 0);
	assert_string_equal(jstr(json_object_get(doc, "kernel"), "release"), u.release);
	assert_true(strlen(jstr(doc, "boot_id")) >= 32);
	assert_true(ml_json_int(doc, "uptime_ms", -1) > 0);
	for (size_t i = 0; i < ML_ARRAY_SIZE(sections); i++)
		if (!json_is_object(json_object_get(doc, sections[i])))
			fail_msg("section %s is missing", sections[i]);

	/* meta: one page for a host's small dump, figures that add up */
	assert_true(ml_json_int(meta, "total", -1) > 1000);
	assert_int_equal(ml_json_int(meta, "pages", -1),
			 (ml_json_int(meta, "total", 0) + (256 << 10) - 1) / (256 << 10));
	assert_int_equal(ml_json_int(meta, "retries", -1), 0);
	assert_true(ml_json_int(meta, "collect_ms", -1) >= 0);
	assert_true(ml_json_int(meta, "collect_ms", -1) < 5000);
	assert_true(ml_json_int(meta, "transfer_ms", -1) >= 0);
	assert_true(ml_json_int(meta, "snapshot", -1) > 0);
	assert_int_equal(strlen(jstr(meta, "sha256")), 64);

	/* cpuid: what this CPU says, leaves in order */
	sec = json_object_get(doc, "cpuid");
#if defined(__x86_64__) || defined(__i386__)
	{
		unsigned eax, ebx, ecx, edx;
		json_t *l0 = json_array_get(json_object_get(sec, "leaves"), 0);
		__cpuid_count(0, 0, eax, ebx, ecx, edx);
		assert_int_equal(ml_json_int(sec, "max_basic", -1), eax < 0xff ? eax : 0xff);
		assert_int_equal(ml_json_int(l0, "leaf", -1), 0);
		assert_int_equal(ml_json_int(l0, "ebx", -1), ebx);
		assert_int_equal(ml_json_int(l0, "ecx", -1), ecx);
		assert_int_equal(ml_json_int(l0, "edx", -1), edx);
	}
#endif
	assert_sorted(json_object_get(sec, "leaves"), "cpuid.leaves", cmp_leaf);

	/* msr: the table, or the reason it could not be read */
	sec = json_object_get(doc, "msr");
	assert_string_equal(jstr(sec, "source"), "/dev/cpu/0/msr");
	if (!ml_json_str(sec, "error")) {
		json_t *regs = json_object_get(sec, "registers");
		assert_true(json_array_size(regs) >= 40);
		assert_sorted(regs, "msr.registers", cmp_index);
	}

	/* pci: as many devices as sysfs lists, each with its config space */
	sec = json_object_get(doc, "pci");
	if (ml_path_exists("/sys/bus/pci/devices")) {
		json_t *dev;
		size_t i;
		assert_null(json_object_get(sec, "error"));
		assert_sorted(json_object_get(sec, "devices"), "pci.devices", cmp_bdf);
		json_array_foreach(json_object_get(sec, "devices"), i, dev) {
			size_t clen = strlen(jstr(dev, "config"));
			assert_true(clen == 128 || clen == 512 || clen == 8192); /* 64, 256, 4096 bytes */
			assert_true(json_is_array(json_object_get(dev, "capabilities")));
			assert_true(json_is_array(json_object_get(dev, "bars")));
			/* vendor id is the first two bytes of config, little-endian */
			{
				unsigned lo, hi;
				const char *cfg = jstr(dev, "config");
				assert_int_equal(sscanf(cfg, "%2x%2x", &lo, &hi), 2);
				assert_int_equal(ml_json_int(dev, "vendor", -1), lo | hi << 8);
			}
		}
	}
	assert_sorted(json_object_get(json_object_get(doc, "acpi"), "tables"), "acpi.tables", cmp_table);
	assert_sorted(json_object_get(json_object_get(doc, "memory_map"), "entries"), "memory_map",
		      cmp_start);
	assert_sorted(json_object_get(json_object_get(doc, "virtio"), "devices"), "virtio", cmp_bdf);

	/* cpu: CPU 0 of /proc/cpuinfo, all of them counted */
	sec = json_object_get(doc, "cpu");
	assert_int_equal(ml_json_int(sec, "count", -1), sysconf(_SC_NPROCESSORS_ONLN));
	assert_true(json_array_size(json_object_get(sec, "flags")) > 0);
	{
		json_t *flags = json_object_get(sec, "flags");
		for (size_t i = 1; i < json_array_size(flags); i++)
			assert_true(strcmp(json_string_value(json_array_get(flags, i - 1)),
					   json_string_value(json_array_get(flags, i))) < 0);
	}
	if (ml_path_exists("/sys/devices/system/clocksource/clocksource0"))
		assert_non_null(ml_json_str(json_object_get(doc, "clocksource"), "current"));
}

/* Two dumps of an unchanged system are identical but for the volatile values. */
static void test_deterministic(void **state)
{
	struct agent *a = *state;
	json_auto_t *d1 = dump_ok(a, DUMP_MS, NULL);
	json_auto_t *d2 = dump_ok(a, DUMP_MS, NULL);
	ml_autofree char *s1 = NULL;
	ml_autofree char *s2 = NULL;

	json_object_del(d1, "uptime_ms");
	json_object_del(d2, "uptime_ms");
	json_object_del(d1, "msr"); /* TSC, per-CPU bases: docs/abi.md "Volatile values" */
	json_object_del(d2, "msr");
	s1 = json_dumps(d1, JSON_COMPACT | JSON_SORT_KEYS);
	s2 = json_dumps(d2, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s1, s2);
}

static void test_many_pages(void **state)
{
	struct agent *a = *state;
	json_auto_t *meta = NULL;
	json_auto_t *whole = dump_ok(a, DUMP_MS, NULL);
	json_auto_t *paged = NULL;
	long long total;

	json_decref(call_ok(a, "debug-abi", json_pack("{s:i}", "page_bytes", 1000)));
	paged = dump_ok(a, DUMP_MS, &meta);
	total = ml_json_int(meta, "total", -1);
	assert_true(total > 3000);
	assert_int_equal(ml_json_int(meta, "pages", -1), (total + 999) / 1000);
	assert_int_equal(ml_json_int(meta, "retries", -1), 0);
	assert_true(json_equal(json_object_get(whole, "pci"), json_object_get(paged, "pci")));
	assert_true(json_equal(json_object_get(whole, "cpuid"), json_object_get(paged, "cpuid")));
	assert_true(json_equal(json_object_get(whole, "acpi"), json_object_get(paged, "acpi")));
}

static void test_lost_page_refetched(void **state)
{
	struct agent *a = *state;
	json_auto_t *meta = NULL;
	json_auto_t *doc = NULL;
	json_auto_t *knobs = NULL;
	long long t0;

	json_decref(call_ok(a, "debug-abi", json_pack("{s:i, s:i}", "page_bytes", 2000,
						      "drop_page", 2)));
	t0 = ml_now_ms();
	/* 4000 ms: a page that does not come within 1 s is asked for again */
	doc = dump_ok(a, 4000, &meta);
	assert_true(ml_now_ms() - t0 >= 900);
	assert_int_equal(ml_json_int(meta, "retries", -1), 1);
	assert_true(ml_json_int(meta, "pages", -1) > 3);
	knobs = call_ok(a, "debug-abi", NULL);
	assert_int_equal(ml_json_int(knobs, "dropped", -1), 1);
	assert_int_equal(ml_json_int(knobs, "drop_page", 0), -1); /* only once */
	assert_string_equal(jstr(doc, "schema"), "miglab-abi/1");
}

static void test_corrupt_page_detected(void **state)
{
	struct agent *a = *state;
	json_t *doc = NULL, *meta = NULL;

	json_decref(call_ok(a, "debug-abi", json_pack("{s:i, s:i}", "page_bytes", 4096,
						      "corrupt_page", 1)));
	assert_int_equal(ml_probe_abi_dump(a->p, DUMP_MS, HOST_DUMP_MAX, &doc, &meta), -1);
	assert_null(doc);
	assert_null(meta);
	if (!strstr(ml_error_message(), "sha256 mismatch"))
		fail_msg("unexpected error: %s", ml_error_message());
}

/* A dump announced over the limit is refused at its first page, with the
 * figures in the error and a class the cell can tell from a broken channel;
 * the channel still works afterwards. */
static void test_too_large_refused(void **state)
{
	struct agent *a = *state;
	json_t *doc = NULL, *meta = NULL;

	json_decref(call_ok(a, "debug-abi", json_pack("{s:i}", "page_bytes", 4096)));
	assert_int_equal(ml_probe_abi_dump(a->p, DUMP_MS, 1000, &doc, &meta), -1);
	assert_null(doc);
	assert_null(meta);
	if (!strstr(ml_error_message(), "more than the limit of 1000 bytes for an ABI dump"))
		fail_msg("unexpected error: %s", ml_error_message());
	assert_string_equal(ml_probe_last_error_class(a->p), ML_PROBE_ABI_TOO_LARGE);
	json_decref(dump_ok(a, DUMP_MS, NULL));
	assert_string_equal(ml_probe_last_error_class(a->p), "");
}

static void test_truncated_detected(void **state)
{
	struct agent *a = *state;
	json_t *doc = NULL;

	json_decref(call_ok(a, "debug-abi", json_pack("{s:i, s:i}", "page_bytes", 4096,
						      "truncate", 10)));
	assert_int_equal(ml_probe_abi_dump(a->p, DUMP_MS, HOST_DUMP_MAX, &doc, NULL), -1);
	assert_null(doc);
	if (!strstr(ml_error_message(), "truncated"))
		fail_msg("unexpected error: %s", ml_error_message());
}

/* The raw protocol: a cursor of an older snapshot is refused, a retried page
 * is the same page, arguments are checked. */
static void test_snapshot_cursor_rules(void **state)
{
	struct agent *a = *state;
	json_auto_t *p1 = NULL, *p2 = NULL, *again = NULL, *first = NULL;
	json_t *ret = NULL;
	long long s1, s2;

	json_decref(call_ok(a, "debug-abi", json_pack("{s:i}", "page_bytes", 500)));
	p1 = call_ok(a, "abi-dump", NULL);
	s1 = ml_json_int(p1, "snapshot", -1);
	assert_int_equal(ml_json_int(p1, "offset", -1), 0);
	assert_int_equal(ml_json_int(p1, "next_cursor", -1), 500);
	assert_int_equal(json_string_length(json_object_get(p1, "data")), 500);
	/* the same page twice: the same bytes */
	first = call_ok(a, "abi-dump", json_pack("{s:I, s:i}", "snapshot", (json_int_t)s1, "cursor", 0));
	assert_true(json_equal(first, p1));
	again = call_ok(a, "abi-dump", json_pack("{s:I, s:i}", "snapshot", (json_int_t)s1, "cursor", 500));
	assert_int_equal(ml_json_int(again, "offset", -1), 500);

	p2 = call_ok(a, "abi-dump", NULL);
	s2 = ml_json_int(p2, "snapshot", -1);
	assert_true(s2 != s1);
	assert_int_equal(ml_probe_call(a->p, "abi-dump",
				       json_pack("{s:I, s:i}", "snapshot", (json_int_t)s1, "cursor", 500),
				       CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidState");
	assert_int_equal(ml_probe_call(a->p, "abi-dump",
				       json_pack("{s:I}", "snapshot", (json_int_t)s2), CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
	assert_int_equal(ml_probe_call(a->p, "abi-dump",
				       json_pack("{s:I, s:I}", "snapshot", (json_int_t)s2, "cursor",
						 (json_int_t)1 << 40), CALL_MS, &ret), -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
	assert_int_equal(ml_probe_call(a->p, "abi-dump", json_pack("{s:i}", "page", 1), CALL_MS, &ret),
			 -1);
	assert_string_equal(ml_probe_last_error_class(a->p), "InvalidArgument");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_matches_openssl),
		cmocka_unit_test(test_hello_lists_abi_dump),
		cmocka_unit_test_teardown(test_dump_sections, reset_knobs),
		cmocka_unit_test_teardown(test_deterministic, reset_knobs),
		cmocka_unit_test_teardown(test_many_pages, reset_knobs),
		cmocka_unit_test_teardown(test_lost_page_refetched, reset_knobs),
		cmocka_unit_test_teardown(test_corrupt_page_detected, reset_knobs),
		cmocka_unit_test_teardown(test_truncated_detected, reset_knobs),
		cmocka_unit_test_teardown(test_too_large_refused, reset_knobs),
		cmocka_unit_test_teardown(test_snapshot_cursor_rules, reset_knobs),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
