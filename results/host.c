/* The host fingerprint and the comparison of two hosts (see host.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "host.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-common.h"

/* /proc/cpuinfo is read up to the end of its first processor block; this cap
 * only guards against a file that never ends one (a block is ~1.5 KiB). */
#define HOST_CPUINFO_LIMIT ((size_t)1 << 20)

/* The CPU fields, in the order /proc/cpuinfo names them on x86. */
static const struct {
	const char *cpuinfo_key;
	const char *field;
	bool number;
} cpu_fields[] = {
	{ "vendor_id", "cpu_vendor", false },
	{ "cpu family", "cpu_family", true },
	{ "model", "cpu_model_number", true },
	{ "model name", "cpu_model", false },
	{ "stepping", "cpu_stepping", true },
	{ "microcode", "cpu_microcode", false },
};

/* Keys whose differences are reported but do not make two hosts different:
 * neither changes the CPU a guest sees nor what QEMU may do with it. */
static const char *const insignificant_keys[] = { "hostname", "memory" };

/* A string of n bytes, or null when it is not valid UTF-8 (json_stringn
 * refuses it, and a fact is not worth aborting a run over). */
static json_t *text_or_null(const char *s, size_t n)
{
	json_t *v = s ? json_stringn(s, n) : NULL;
	return v ? v : json_null();
}

/* A decimal number as /proc/cpuinfo writes family, model and stepping;
 * null for anything else ("unknown", empty, out of range). */
static json_t *number_or_null(const char *s, size_t n)
{
	char buf[32];
	char *end;
	long long v;

	if (n == 0 || n >= sizeof(buf))
		return json_null();
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return json_null();
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || *end)
		return json_null();
	return json_integer(v);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort names in place and drop repeats; returns the new count. */
static size_t sort_unique(const char **names, size_t n)
{
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(names, n, sizeof(*names), cmp_strp);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || strcmp(names[out - 1], names[i]) != 0)
			names[out++] = names[i];
	return out;
}

/* The flags line as a sorted array without repeats (the kernel separates
 * them by one space, but some lines carry runs of spaces). */
static json_t *flags_array(const char *s, size_t n)
{
	json_t *arr = json_array();
	char *copy = strndup(s, n);
	const char **names;
	size_t count = 0, i = 0;
	char *save = NULL;

	if (!arr || !copy)
		abort();
	names = calloc(n / 2 + 1, sizeof(*names)); /* at most one name per two bytes */
	if (!names)
		abort();
	for (char *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		names[count++] = tok;
	count = sort_unique(names, count);
	for (i = 0; i < count; i++) {
		json_t *v = json_string(names[i]);
		if (v)
			json_array_append_new(arr, v);
	}
	free(names);
	free(copy);
	return arr;
}

json_t *ml_host_parse_cpuinfo(const char *text)
{
	json_t *cpu;
	const char *line = text;
	bool seen = false;

	if (!text) {
		ml_error("no /proc/cpuinfo text to parse");
		return NULL;
	}
	cpu = json_object();
	for (size_t i = 0; i < ML_ARRAY_SIZE(cpu_fields); i++)
		ml_json_set(cpu, cpu_fields[i].field, json_null());
	ml_json_set(cpu, "cpu_flags", json_null());

	while (*line) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		const char *colon = memchr(line, ':', (size_t)(end - line));
		const char *kend, *val, *vend;
		size_t klen, vlen;

		if (!colon) {
			/* A blank line ends the first processor's block. */
			if (seen && strspn(line, " \t\r") == (size_t)(end - line))
				break;
			line = eol ? eol + 1 : end;
			continue;
		}
		seen = true;
		kend = colon;
		while (kend > line && (kend[-1] == ' ' || kend[-1] == '\t'))
			kend--;
		val = colon + 1;
		while (val < end && (*val == ' ' || *val == '\t'))
			val++;
		vend = end;
		while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r'))
			vend--;
		klen = (size_t)(kend - line);
		vlen = (size_t)(vend - val);

		if (klen == 5 && memcmp(line, "flags", 5) == 0) {
			ml_json_set(cpu, "cpu_flags", flags_array(val, vlen));
		} else {
			for (size_t i = 0; i < ML_ARRAY_SIZE(cpu_fields); i++) {
				const char *k = cpu_fields[i].cpuinfo_key;
				if (strlen(k) != klen || memcmp(line, k, klen) != 0)
					continue;
				ml_json_set(cpu, cpu_fields[i].field,
					    cpu_fields[i].number ? number_or_null(val, vlen)
								 : text_or_null(val, vlen));
			}
		}
		line = eol ? eol + 1 : end;
	}
	if (!seen) {
		json_decref(cpu);
		ml_error("no 'key : value' line in the /proc/cpuinfo text");
		return NULL;
	}
	return cpu;
}

/* The start of path up to its first blank line (or the whole file). */
static char *read_first_block(const char *path)
{
	ml_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct ml_buf b = ML_BUF_INIT(HOST_CPUINFO_LIMIT);

	if (fd < 0) {
		ml_error_errno(errno, "cannot open %s", path);
		return NULL;
	}
	for (;;) {
		ssize_t n = ml_buf_read_fd(&b, fd, 4096);
		if (n < 0) {
			ml_buf_free(&b);
			ml_error_context("reading %s", path);
			return NULL;
		}
		if (n == 0 || strstr(b.data, "\n\n"))
			break;
	}
	return ml_buf_steal(&b);
}

/* The value of the first line of path that starts with key, or NULL. */
static char *first_matching_line(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char line[512];
	char *val = NULL;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, strlen(key)) == 0) {
			char *colon = strchr(line, ':');
			if (colon) {
				colon++;
				while (*colon == ' ' || *colon == '\t')
					colon++;
				colon[strcspn(colon, "\n")] = '\0';
				val = strdup(colon);
			}
			break;
		}
	}
	fclose(f);
	return val;
}

json_t *ml_host_facts(void)
{
	json_t *h = NULL;
	struct utsname u;
	ml_autofree char *cpuinfo = read_first_block("/proc/cpuinfo");
	ml_autofree char *mem = first_matching_line("/proc/meminfo", "MemTotal");
	int kvm;

	if (cpuinfo)
		h = ml_host_parse_cpuinfo(cpuinfo);
	if (!h) {
		/* Keep the key set whatever the host: every CPU field null. */
		h = ml_host_parse_cpuinfo("processor : 0\n");
		if (!h)
			abort();
		ml_error_reset();
	}
	if (uname(&u) == 0) {
		ml_json_set(h, "kernel", text_or_null(u.release, strlen(u.release)));
		ml_json_set(h, "hostname", text_or_null(u.nodename, strlen(u.nodename)));
		ml_json_set(h, "arch", text_or_null(u.machine, strlen(u.machine)));
	} else {
		ml_json_set(h, "kernel", json_null());
		ml_json_set(h, "hostname", json_null());
		ml_json_set(h, "arch", json_null());
	}
	ml_json_set_int(h, "cpus", sysconf(_SC_NPROCESSORS_ONLN));
	ml_json_set(h, "memory", text_or_null(mem, mem ? strlen(mem) : 0));
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ml_json_set(h, "kvm_device", json_boolean(kvm >= 0));
	if (kvm >= 0)
		close(kvm);
	return h;
}

json_t *ml_host_fingerprint(const char *accel)
{
	json_t *h = ml_host_facts();

	ml_json_set_str(h, "accel", accel);
	return h;
}

static bool key_is_significant(const char *key)
{
	for (size_t i = 0; i < ML_ARRAY_SIZE(insignificant_keys); i++)
		if (strcmp(key, insignificant_keys[i]) == 0)
			return false;
	return true;
}

/* The string members of arr (borrowed), sorted, without repeats; anything
 * that is not a string is left out (run.json files are untrusted input). */
static const char **flag_names(json_t *arr, size_t *n)
{
	const char **names = calloc(json_array_size(arr) + 1, sizeof(*names));
	size_t i, count = 0;
	json_t *v;

	if (!names)
		abort();
	json_array_foreach(arr, i, v)
		if (json_is_string(v))
			names[count++] = json_string_value(v);
	*n = sort_unique(names, count);
	return names;
}

/* Flags of a that b lacks into only_a, and the other way round. */
static void flags_diff(json_t *fa, json_t *fb, json_t *only_a, json_t *only_b)
{
	size_t na, nb, i = 0, j = 0;
	const char **a = flag_names(fa, &na);
	const char **b = flag_names(fb, &nb);

	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
		if (c < 0)
			json_array_append_new(only_a, json_string(a[i++]));
		else if (c > 0)
			json_array_append_new(only_b, json_string(b[j++]));
		else
			i++, j++;
	}
	free(a);
	free(b);
}

static void add_difference(json_t *diffs, const char *key, json_t *va, json_t *vb)
{
	json_t *d = json_object();

	ml_json_set_str(d, "key", key);
	ml_json_set(d, "a", va ? json_deep_copy(va) : json_null());
	ml_json_set(d, "b", vb ? json_deep_copy(vb) : json_null());
	ml_json_set(d, "significant", json_boolean(key_is_significant(key)));
	json_array_append_new(diffs, d);
}

json_t *ml_host_compare(json_t *a, json_t *b)
{
	json_t *res, *diffs, *only_a, *only_b, *fa, *fb;
	const char **keys;
	const char *k;
	json_t *v;
	size_t n = 0;
	bool same = true;

	if (!json_is_object(a) || !json_is_object(b)) {
		ml_error("a host fingerprint must be a JSON object");
		return NULL;
	}
	keys = calloc(json_object_size(a) + json_object_size(b) + 1, sizeof(*keys));
	if (!keys)
		abort();
	json_object_foreach(a, k, v)
		keys[n++] = k;
	json_object_foreach(b, k, v)
		keys[n++] = k;
	n = sort_unique(keys, n);

	res = json_object();
	diffs = json_array();
	only_a = json_array();
	only_b = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *va = json_object_get(a, keys[i]);
		json_t *vb = json_object_get(b, keys[i]);

		if (strcmp(keys[i], "cpu_flags") == 0 && json_is_array(va) && json_is_array(vb))
			continue;
		/* A missing key and a null value mean the same: not known. */
		if (json_equal(va ? va : json_null(), vb ? vb : json_null()))
			continue;
		add_difference(diffs, keys[i], va, vb);
		if (key_is_significant(keys[i]))
			same = false;
	}
	fa = json_object_get(a, "cpu_flags");
	fb = json_object_get(b, "cpu_flags");
	if (json_is_array(fa) && json_is_array(fb)) {
		flags_diff(fa, fb, only_a, only_b);
		if (json_array_size(only_a) || json_array_size(only_b))
			same = false;
	}
	free(keys);
	ml_json_set(res, "same", json_boolean(same));
	ml_json_set(res, "differences", diffs);
	ml_json_set(res, "flags_only_a", only_a);
	ml_json_set(res, "flags_only_b", only_b);
	return res;
}
