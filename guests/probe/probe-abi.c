/* abi-dump's collectors: what the guest can see of its virtual machine
 * (CPUID, MSRs, PCI config spaces, ACPI, SMBIOS, virtio features, the e820
 * map, cpuinfo, clocksource), as one JSON document of schema miglab-abi/1
 * (docs/abi.md). Output is deterministic: lists are sorted by their natural
 * key, and a section that cannot be read says why in "error" instead of
 * going missing. Nothing here writes to the guest's state except the virtio
 * common configuration's select registers, which are restored. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define PROBE_X86 1
#endif

#include "probe.h"
#include "ml-common.h"

#ifndef MIGLAB_VERSION
#define MIGLAB_VERSION "0"
#endif

#define SYS_PCI "/sys/bus/pci/devices"
#define SYS_VIRTIO "/sys/bus/virtio/devices"
#define SYS_ACPI "/sys/firmware/acpi/tables"
#define SYS_DMI "/sys/firmware/dmi/tables"
#define SYS_MEMMAP "/sys/firmware/memmap"
#define SYS_CLOCKSOURCE "/sys/devices/system/clocksource/clocksource0"
#define MSR_DEV "/dev/cpu/0/msr"
#define MAX_FILE ((size_t)16 << 20) /* no file we read is near this */
#define MAX_SUBLEAVES 64

/* --- Small helpers -------------------------------------------------------- */

static json_t *jcheck(json_t *v)
{
	if (!v)
		abort(); /* only out of memory (or a bug: invalid UTF-8 passed) */
	return v;
}

static void set(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, jcheck(v)) < 0)
		abort();
}

static void append(json_t *arr, json_t *v)
{
	if (json_array_append_new(arr, jcheck(v)) < 0)
		abort();
}

static void set_error(json_t *obj, const char *what, int err)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
	set(obj, "error", json_string(msg));
}

static json_t *hex64(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "0x%016" PRIx64, v);
	return json_string(s);
}

static json_t *hex32(uint32_t v)
{
	char s[16];
	snprintf(s, sizeof(s), "0x%08" PRIx32, v);
	return json_string(s);
}

/* A blob as lower-case hex, two characters per byte, no 0x. */
static json_t *hexblob(const uint8_t *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	char *s = malloc(2 * n + 1);
	json_t *v;

	if (!s)
		abort();
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = hexd[p[i] >> 4];
		s[2 * i + 1] = hexd[p[i] & 15];
	}
	v = json_stringn(s, 2 * n);
	free(s);
	return v;
}

/* Bytes from firmware or the kernel as a JSON string: kept as they are when
 * they are valid UTF-8 without control characters, else every byte outside
 * printable ASCII becomes "\xNN" (jansson refuses invalid UTF-8). */
static json_t *text(const char *p, size_t n)
{
	bool plain = true;
	char *s, *o;
	json_t *v;

	for (size_t i = 0; i < n; i++)
		plain &= (unsigned char)p[i] >= 0x20 && p[i] != 0x7f;
	if (plain && (v = json_stringn(p, n)))
		return v;
	s = malloc(4 * n + 1);
	if (!s)
		abort();
	o = s;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f) {
			*o++ = (char)c;
		} else {
			snprintf(o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	v = json_stringn(s, (size_t)(o - s));
	free(s);
	return v;
}

/* A fixed-width name field (ACPI OEM id...): up to the first NUL. */
static json_t *field_text(const uint8_t *p, size_t n)
{
	size_t l = 0;
	while (l < n && p[l])
		l++;
	return text((const char *)p, l);
}

/* Read a whole file (sysfs files report size 4096 or 0: read to EOF).
 * -1 with errno set. */
static int read_all(const char *path, uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	uint8_t *buf;

	if (fd < 0)
		return -1;
	buf = malloc(cap + 1);
	if (!buf)
		abort();
	for (;;) {
		ssize_t r;
		if (n == cap) {
			if (cap >= MAX_FILE) {
				close(fd);
				free(buf);
				errno = EFBIG;
				return -1;
			}
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (!buf)
				abort();
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;
			close(fd);
			free(buf);
			errno = err;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* A small text file, trailing whitespace stripped. -1 with errno set. */
static int read_line(const char *path, char *buf, size_t buflen)
{
	uint8_t *data;
	size_t n;

	if (read_all(path, &data, &n) < 0)
		return -1;
	while (n && isspace(data[n - 1]))
		n--;
	if (n >= buflen)
		n = buflen - 1;
	memcpy(buf, data, n);
	buf[n] = '\0';
	free(data);
	return 0;
}

static int read_hex_u64(const char *path, uint64_t *v)
{
	char buf[64], *end;

	if (read_line(path, buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	*v = strtoull(buf, &end, 16);
	if (errno || end == buf) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dot(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Directory entries sorted by strcmp (not the locale). -1 with errno. */
static int list_dir(const char *path, struct dirent ***names)
{
	return scandir(path, names, not_dot, by_name);
}

static void free_list(struct dirent **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Sort a JSON array with a comparator on its elements. */
static void sort_array(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr);
	json_t **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		abort();
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		append(arr, v[i]);
	free(v);
}

static long long jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- cpuid -------------------------------------------------------------- */

#ifdef PROBE_X86
enum subleaf_rule {
	SUB_NONE,        /* subleaf 0 only */
	SUB_MAX_EAX,     /* subleaf 0's eax is the last subleaf */
	SUB_CACHE_TYPE,  /* until eax[4:0] (cache type) is 0 */
	SUB_LEVEL_TYPE,  /* until ecx[15:8] (level type) is 0 */
	SUB_SCAN,        /* subleaf 0 and every non-zero one below 64 (bitmaps with holes) */
};

static enum subleaf_rule subleaf_rule(uint32_t leaf)
{
	switch (leaf) {
	case 0x4: case 0x8000001d:
		return SUB_CACHE_TYPE;
	case 0xb: case 0x1f:
		return SUB_LEVEL_TYPE;
	case 0x7: case 0x14: case 0x17: case 0x18: case 0x1d:
		return SUB_MAX_EAX;
	case 0xd: case 0xf: case 0x10: case 0x12: case 0x1e: case 0x80000020:
		return SUB_SCAN;
	default:
		return SUB_NONE;
	}
}

static void cpuid_leaf(json_t *leaves, uint32_t leaf, uint32_t sub, const uint32_t r[4])
{
	append(leaves, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "leaf", (json_int_t)leaf,
				 "subleaf", (json_int_t)sub, "eax", (json_int_t)r[0],
				 "ebx", (json_int_t)r[1], "ecx", (json_int_t)r[2],
				 "edx", (json_int_t)r[3]));
}

static void cpuid_read(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

static void cpuid_range(json_t *leaves, uint32_t first, uint32_t last)
{
	for (uint32_t leaf = first; leaf <= last && leaf >= first; leaf++) {
		uint32_t r[4], max_sub = 0;
		enum subleaf_rule rule = subleaf_rule(leaf);

		cpuid_read(leaf, 0, r);
		cpuid_leaf(leaves, leaf, 0, r);
		if (rule == SUB_MAX_EAX)
			max_sub = r[0] < MAX_SUBLEAVES - 1 ? r[0] : MAX_SUBLEAVES - 1;
		else if (rule != SUB_NONE)
			max_sub = MAX_SUBLEAVES - 1;
		if (rule == SUB_CACHE_TYPE && !(r[0] & 0x1f))
			continue;
		if (rule == SUB_LEVEL_TYPE && !(r[2] & 0xff00))
			continue;
		for (uint32_t sub = 1; sub <= max_sub; sub++) {
			cpuid_read(leaf, sub, r);
			if (rule == SUB_CACHE_TYPE && !(r[0] & 0x1f))
				break;
			if (rule == SUB_LEVEL_TYPE && !(r[2] & 0xff00))
				break;
			if (rule == SUB_SCAN && !(r[0] | r[1] | r[2] | r[3]))
				continue;
			cpuid_leaf(leaves, leaf, sub, r);
		}
	}
}

static bool hypervisor_is_kvm(void)
{
	uint32_t r[4];
	char sig[13];

	cpuid_read(1, 0, r);
	if (!(r[2] & (1u << 31)))
		return false;
	cpuid_read(0x40000000, 0, r);
	memcpy(sig, &r[1], 4);
	memcpy(sig + 4, &r[2], 4);
	memcpy(sig + 8, &r[3], 4);
	sig[12] = '\0';
	return !strcmp(sig, "KVMKVMKVM");
}
#endif

static json_t *abi_cpuid(void)
{
	json_t *sec = json_object();
#ifdef PROBE_X86
	json_t *leaves = json_array();
	uint32_t r[4], max_basic, max_ext;
	cpu_set_t old, cpu0;
	bool restore;

	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	restore = sched_getaffinity(0, sizeof(old), &old) == 0;
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0) < 0)
		set_error(sec, "cannot pin the agent to CPU 0 (read on another CPU)", errno);

	cpuid_read(0, 0, r);
	max_basic = r[0] < 0xff ? r[0] : 0xff;
	cpuid_range(leaves, 0, max_basic);
	cpuid_read(1, 0, r);
	if (max_basic >= 1 && (r[2] & (1u << 31))) {
		/* The hypervisor range exists only when CPUID.1:ECX.hypervisor says so
		 * (bare metal answers it with some basic leaf). */
		uint32_t max_hv;
		cpuid_read(0x40000000, 0, r);
		max_hv = r[0] < 0x40000000 ? 0x40000000 : r[0] > 0x400000ff ? 0x400000ff : r[0];
		cpuid_range(leaves, 0x40000000, max_hv);
	}
	cpuid_read(0x80000000, 0, r);
	max_ext = r[0];
	if (max_ext >= 0x80000000)
		cpuid_range(leaves, 0x80000000, max_ext > 0x800000ff ? 0x800000ff : max_ext);
	if (restore)
		sched_setaffinity(0, sizeof(old), &old);
	set(sec, "max_basic", json_integer((json_int_t)max_basic));
	set(sec, "max_extended", json_integer((json_int_t)max_ext));
	set(sec, "leaves", leaves);
#else
	set(sec, "error", json_string("not an x86 CPU"));
#endif
	return sec;
}

/* --- msr ---------------------------------------------------------------- */

struct msr_def {
	uint32_t index;
	const char *name;
	bool kvm; /* read only when the hypervisor is KVM */
};

/* The documented list (docs/abi.md): extend both together. */
static const struct msr_def msrs[] = {
	{ 0x10, "IA32_TIME_STAMP_COUNTER", false },
	{ 0x1b, "IA32_APIC_BASE", false },
	{ 0x3a, "IA32_FEATURE_CONTROL", false },
	{ 0x8b, "IA32_BIOS_SIGN_ID", false },
	{ 0xfe, "IA32_MTRRCAP", false },
	{ 0x10a, "IA32_ARCH_CAPABILITIES", false },
	{ 0x174, "IA32_SYSENTER_CS", false },
	{ 0x175, "IA32_SYSENTER_ESP", false },
	{ 0x176, "IA32_SYSENTER_EIP", false },
	{ 0x179, "IA32_MCG_CAP", false },
	{ 0x1a0, "IA32_MISC_ENABLE", false },
	{ 0x277, "IA32_PAT", false },
	{ 0x2ff, "IA32_MTRR_DEF_TYPE", false },
	{ 0x345, "IA32_PERF_CAPABILITIES", false },
	{ 0x480, "IA32_VMX_BASIC", false },
	{ 0x481, "IA32_VMX_PINBASED_CTLS", false },
	{ 0x482, "IA32_VMX_PROCBASED_CTLS", false },
	{ 0x483, "IA32_VMX_EXIT_CTLS", false },
	{ 0x484, "IA32_VMX_ENTRY_CTLS", false },
	{ 0x485, "IA32_VMX_MISC", false },
	{ 0x486, "IA32_VMX_CR0_FIXED0", false },
	{ 0x487, "IA32_VMX_CR0_FIXED1", false },
	{ 0x488, "IA32_VMX_CR4_FIXED0", false },
	{ 0x489, "IA32_VMX_CR4_FIXED1", false },
	{ 0x48a, "IA32_VMX_VMCS_ENUM", false },
	{ 0x48b, "IA32_VMX_PROCBASED_CTLS2", false },
	{ 0x48c, "IA32_VMX_EPT_VPID_CAP", false },
	{ 0x48d, "IA32_VMX_TRUE_PINBASED_CTLS", false },
	{ 0x48e, "IA32_VMX_TRUE_PROCBASED_CTLS", false },
	{ 0x48f, "IA32_VMX_TRUE_EXIT_CTLS", false },
	{ 0x490, "IA32_VMX_TRUE_ENTRY_CTLS", false },
	{ 0x491, "IA32_VMX_VMFUNC", false },
	{ 0x4b564d00, "MSR_KVM_WALL_CLOCK_NEW", true },
	{ 0x4b564d01, "MSR_KVM_SYSTEM_TIME_NEW", true },
	{ 0x4b564d02, "MSR_KVM_ASYNC_PF_EN", true },
	{ 0x4b564d03, "MSR_KVM_STEAL_TIME", true },
	{ 0x4b564d04, "MSR_KVM_PV_EOI_EN", true },
	{ 0x4b564d05, "MSR_KVM_POLL_CONTROL", true },
	{ 0x4b564d06, "MSR_KVM_ASYNC_PF_INT", true },
	{ 0x4b564d07, "MSR_KVM_ASYNC_PF_ACK", true },
	{ 0x4b564d08, "MSR_KVM_MIGRATION_CONTROL", true },
	{ 0xc0000080, "EFER", false },
	{ 0xc0000081, "STAR", false },
	{ 0xc0000082, "LSTAR", false },
	{ 0xc0000084, "SFMASK", false },
	{ 0xc0000100, "FS_BASE", false },
	{ 0xc0000101, "GS_BASE", false },
	{ 0xc0000102, "KERNEL_GS_BASE", false },
	{ 0xc0000103, "TSC_AUX", false },
};

static const char *errno_name(int err)
{
	switch (err) {
	case EIO: return "EIO";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case ENXIO: return "ENXIO";
	default: return strerror(err);
	}
}

static json_t *abi_msr(void)
{
	json_t *sec = json_pack("{s:s}", "source", MSR_DEV);
	json_t *regs;
	bool kvm = false;
	int fd = open(MSR_DEV, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		set_error(jcheck(sec), MSR_DEV, errno);
		return sec;
	}
#ifdef PROBE_X86
	kvm = hypervisor_is_kvm();
#endif
	regs = json_array();
	for (size_t i = 0; i < ML_ARRAY_SIZE(msrs); i++) {
		uint64_t v;
		ssize_t n;
		json_t *r;

		if (msrs[i].kvm && !kvm)
			continue;
		do
			n = pread(fd, &v, sizeof(v), (off_t)msrs[i].index);
		while (n < 0 && errno == EINTR);
		r = json_pack("{s:o, s:s}", "index", hex32(msrs[i].index), "name", msrs[i].name);
		if (n == (ssize_t)sizeof(v))
			set(jcheck(r), "value", hex64(v));
		else
			set(jcheck(r), "error", json_string(n < 0 ? errno_name(errno) : "short read"));
		append(regs, r);
	}
	close(fd);
	set(sec, "registers", regs);
	return sec;
}

/* --- pci ---------------------------------------------------------------- */

static const char *const cap_names[] = {
	[0x01] = "pm", [0x02] = "agp", [0x03] = "vpd", [0x04] = "slot-id", [0x05] = "msi",
	[0x06] = "hotswap", [0x07] = "pci-x", [0x08] = "ht", [0x09] = "vendor", [0x0a] = "debug",
	[0x0b] = "cpci", [0x0c] = "hotplug", [0x0d] = "ssvid", [0x0e] = "agp3", [0x0f] = "secure",
	[0x10] = "pcie", [0x11] = "msi-x", [0x12] = "sata", [0x13] = "af", [0x14] = "ea",
};

static const char *const ext_cap_names[] = {
	[0x01] = "aer", [0x02] = "vc", [0x03] = "dsn", [0x04] = "power", [0x0a] = "rcrb",
	[0x0b] = "vendor", [0x0d] = "acs", [0x0e] = "ari", [0x0f] = "ats", [0x10] = "sr-iov",
	[0x11] = "mr-iov", [0x12] = "multicast", [0x13] = "pri", [0x15] = "resizable-bar",
	[0x16] = "dpa", [0x17] = "tph", [0x18] = "ltr", [0x19] = "secondary-pcie",
	[0x1b] = "pasid", [0x1e] = "l1ss", [0x23] = "dvsec", [0x25] = "dlf", [0x26] = "pl-16gt",
};

static json_t *name_or_null(const char *const *names, size_t n, unsigned id)
{
	return id < n && names[id] ? json_string(names[id]) : json_null();
}

/* Walk the capability list: calls fn(cfg, offset, id, opaque) per entry. */
static void walk_caps(const uint8_t *cfg, size_t len, void (*fn)(const uint8_t *, unsigned, unsigned, void *),
		      void *opaque)
{
	unsigned ptr, hdr = cfg[0x0e] & 0x7f;

	if (len < 0x40 || !(le16(cfg + 0x06) & 0x10))
		return;
	ptr = cfg[hdr == 2 ? 0x14 : 0x34];
	for (int guard = 0; guard < 48 && ptr >= 0x40 && ptr + 2 <= len; guard++) {
		ptr &= 0xfc;
		fn(cfg, ptr, cfg[ptr], opaque);
		ptr = cfg[ptr + 1];
	}
}

static void cap_json(const uint8_t *cfg, unsigned off, unsigned id, void *opaque)
{
	append(opaque, json_pack("{s:i, s:i, s:o}", "id", (int)id, "offset", (int)off, "name",
				 name_or_null(cap_names, ML_ARRAY_SIZE(cap_names), id)));
}

static json_t *ext_caps(const uint8_t *cfg, size_t len)
{
	json_t *arr = json_array();
	unsigned off = 0x100;

	for (int guard = 0; guard < 512 && off >= 0x100 && off + 4 <= len; guard++) {
		uint32_t h = le32(cfg + off);
		unsigned id = h & 0xffff;

		if (h == 0 || h == 0xffffffff)
			break;
		append(arr, json_pack("{s:i, s:i, s:i, s:o}", "id", (int)id, "offset", (int)off,
				      "version", (int)((h >> 16) & 0xf), "name",
				      name_or_null(ext_cap_names, ML_ARRAY_SIZE(ext_cap_names), id)));
		off = (h >> 20) & 0xffc;
		if (!off)
			break;
	}
	return arr;
}

#define IORESOURCE_IO 0x00000100
#define IORESOURCE_MEM 0x00000200
#define IORESOURCE_PREFETCH 0x00002000
#define IORESOURCE_MEM_64 0x00100000

struct bar_info {
	uint64_t start, size, flags;
};

/* The six BARs from sysfs "resource" (start end flags per line). */
static int read_bars(const char *dev, struct bar_info bars[6])
{
	char path[512];
	uint8_t *data;
	size_t n;
	char *line, *save = NULL;
	int i = 0;

	memset(bars, 0, 6 * sizeof(*bars));
	snprintf(path, sizeof(path), SYS_PCI "/%s/resource", dev);
	if (read_all(path, &data, &n) < 0)
		return -1;
	for (line = strtok_r((char *)data, "\n", &save); line && i < 6;
	     line = strtok_r(NULL, "\n", &save), i++) {
		unsigned long long s, e, f;
		if (sscanf(line, "%llx %llx %llx", &s, &e, &f) != 3)
			continue;
		bars[i].start = s;
		bars[i].flags = f;
		bars[i].size = (s || e) && e >= s ? e - s + 1 : 0;
	}
	free(data);
	return 0;
}

static json_t *bars_json(const struct bar_info bars[6])
{
	json_t *arr = json_array();

	for (int i = 0; i < 6; i++) {
		const char *type;
		if (!bars[i].size)
			continue;
		if (bars[i].flags & IORESOURCE_IO)
			type = "io";
		else if (bars[i].flags & IORESOURCE_MEM_64)
			type = "mem64";
		else
			type = "mem32";
		append(arr, json_pack("{s:i, s:s, s:I, s:b}", "index", i, "type", type, "size",
				      (json_int_t)bars[i].size, "prefetchable",
				      (bars[i].flags & IORESOURCE_PREFETCH) != 0));
	}
	return arr;
}

static json_t *driver_of(const char *dir)
{
	char link[512], target[512];
	ssize_t n;
	const char *base;

	snprintf(link, sizeof(link), "%s/driver", dir);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return json_null();
	target[n] = '\0';
	base = strrchr(target, '/');
	return json_string(base ? base + 1 : target);
}

static json_t *pci_device(const char *bdf)
{
	char path[512];
	uint8_t *cfg;
	size_t len;
	json_t *dev = json_pack("{s:s}", "bdf", bdf);
	json_t *caps;
	struct bar_info bars[6];

	snprintf(path, sizeof(path), SYS_PCI "/%s/config", bdf);
	if (read_all(path, &cfg, &len) < 0) {
		set_error(jcheck(dev), path, errno);
		return dev;
	}
	if (len < 64) {
		set(dev, "error", json_string("config space shorter than 64 bytes"));
		set(dev, "config", hexblob(cfg, len));
		free(cfg);
		return dev;
	}
	set(dev, "vendor", json_integer(le16(cfg)));
	set(dev, "device", json_integer(le16(cfg + 2)));
	set(dev, "revision", json_integer(cfg[8]));
	set(dev, "class", json_integer((json_int_t)(le32(cfg + 8) >> 8)));
	set(dev, "header_type", json_integer(cfg[0x0e]));
	if ((cfg[0x0e] & 0x7f) == 0) {
		set(dev, "subsystem_vendor", json_integer(le16(cfg + 0x2c)));
		set(dev, "subsystem_device", json_integer(le16(cfg + 0x2e)));
	} else {
		set(dev, "subsystem_vendor", json_null());
		set(dev, "subsystem_device", json_null());
	}
	set(dev, "config", hexblob(cfg, len));
	caps = json_array();
	walk_caps(cfg, len, cap_json, caps);
	set(dev, "capabilities", caps);
	set(dev, "ext_capabilities", len >= 4096 ? ext_caps(cfg, len) : json_array());
	if (read_bars(bdf, bars) == 0)
		set(dev, "bars", bars_json(bars));
	else {
		snprintf(path, sizeof(path), SYS_PCI "/%s/resource", bdf);
		set(dev, "bars", json_array());
		set_error(dev, path, errno);
	}
	snprintf(path, sizeof(path), SYS_PCI "/%s", bdf);
	set(dev, "driver", driver_of(path));
	free(cfg);
	return dev;
}

static json_t *abi_pci(void)
{
	json_t *sec = json_object(), *devs = json_array();
	struct dirent **names;
	int n = list_dir(SYS_PCI, &names);

	if (n < 0) {
		set_error(sec, SYS_PCI, errno);
		set(sec, "devices", devs);
		return sec;
	}
	for (int i = 0; i < n; i++)
		append(devs, pci_device(names[i]->d_name));
	free_list(names, n);
	set(sec, "devices", devs);
	return sec;
}

/* --- acpi --------------------------------------------------------------- */

static json_t *acpi_table(const char *dir, const char *name, bool dynamic)
{
	char path[512];
	uint8_t *data;
	size_t len, sl = strlen(name) < 4 ? strlen(name) : 4;
	json_t *t;
	long instance = 0;

	/* Linux names a table by its 4-character signature ("TPM2" has a digit
	 * of its own), with the instance number appended when there are several
	 * ("SSDT1", "SSDT2"). */
	if (name[sl]) {
		char *end;
		errno = 0;
		instance = strtol(name + sl, &end, 10);
		if (*end || errno || instance < 0)
			sl = strlen(name), instance = 0; /* unexpected: keep the whole name */
	}
	t = jcheck(json_object());
	set(t, "signature", text(name, sl));
	set(t, "instance", json_integer(instance));
	if (dynamic)
		set(t, "dynamic", json_true());
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (read_all(path, &data, &len) < 0) {
		set_error(t, path, errno);
		return t;
	}
	/* FACS has no standard header: only signature and length. */
	if (len >= 8)
		set(t, "length", json_integer((json_int_t)le32(data + 4)));
	if (len >= 36 && memcmp(data, "FACS", 4)) {
		set(t, "revision", json_integer(data[8]));
		set(t, "oem_id", field_text(data + 10, 6));
		set(t, "oem_table_id", field_text(data + 16, 8));
		set(t, "oem_revision", json_integer((json_int_t)le32(data + 24)));
		set(t, "creator_id", field_text(data + 28, 4));
		set(t, "creator_revision", json_integer((json_int_t)le32(data + 32)));
	}
	set(t, "data", hexblob(data, len));
	free(data);
	return t;
}

static int acpi_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = strcmp(jstr(a, "signature"), jstr(b, "signature"));

	if (c)
		return c;
	if (jint(a, "instance") != jint(b, "instance"))
		return jint(a, "instance") < jint(b, "instance") ? -1 : 1;
	return json_is_true(json_object_get(a, "dynamic")) - json_is_true(json_object_get(b, "dynamic"));
}

static void acpi_dir(json_t *tables, const char *dir, bool dynamic)
{
	struct dirent **names;
	int n = list_dir(dir, &names);

	for (int i = 0; i < n; i++) {
		char path[512];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue; /* data/, dynamic/ (read separately) */
		append(tables, acpi_table(dir, names[i]->d_name, dynamic));
	}
	if (n >= 0)
		free_list(names, n);
}

static json_t *abi_acpi(void)
{
	json_t *sec = json_object(), *tables = json_array();
	struct stat st;

	if (stat(SYS_ACPI, &st) < 0) {
		set_error(sec, SYS_ACPI, errno);
	} else {
		acpi_dir(tables, SYS_ACPI, false);
		acpi_dir(tables, SYS_ACPI "/dynamic", true);
		sort_array(tables, acpi_cmp);
	}
	set(sec, "tables", tables);
	return sec;
}

/* --- smbios ------------------------------------------------------------- */

static json_t *abi_smbios(void)
{
	json_t *sec = json_object(), *structs = json_array();
	uint8_t *ep = NULL, *dmi = NULL;
	size_t eplen = 0, dlen = 0, off = 0;
	char ver[32] = "";

	if (read_all(SYS_DMI "/smbios_entry_point", &ep, &eplen) < 0) {
		set_error(sec, SYS_DMI "/smbios_entry_point", errno);
		set(sec, "structures", structs);
		return sec;
	}
	set(sec, "entry_point", hexblob(ep, eplen));
	if (eplen >= 10 && !memcmp(ep, "_SM3_", 5))
		snprintf(ver, sizeof(ver), "%u.%u", ep[7], ep[8]);
	else if (eplen >= 8 && !memcmp(ep, "_SM_", 4))
		snprintf(ver, sizeof(ver), "%u.%u", ep[6], ep[7]);
	set(sec, "version", ver[0] ? json_string(ver) : json_null());
	free(ep);

	if (read_all(SYS_DMI "/DMI", &dmi, &dlen) < 0) {
		set_error(sec, SYS_DMI "/DMI", errno);
		set(sec, "structures", structs);
		return sec;
	}
	while (off + 4 <= dlen) {
		unsigned type = dmi[off], flen = dmi[off + 1];
		size_t s, end;
		json_t *strings;

		if (flen < 4 || off + flen > dlen) {
			set(sec, "error", json_string("DMI: a structure runs past the table"));
			break;
		}
		/* The string set: NUL-terminated strings ended by an empty one
		 * (two NULs right after the formatted area when it is empty). */
		strings = json_array();
		s = off + flen;
		if (s + 1 < dlen && dmi[s] == 0 && dmi[s + 1] == 0) {
			end = s + 2;
		} else {
			while (s < dlen && dmi[s] != 0) {
				size_t l = strnlen((const char *)dmi + s, dlen - s);
				append(strings, text((const char *)dmi + s, l));
				s += l + 1;
			}
			end = s + 1;
		}
		append(structs, json_pack("{s:i, s:i, s:i, s:o, s:o}", "type", (int)type,
					  "handle", (int)le16(dmi + off + 2), "length", (int)flen,
					  "formatted", hexblob(dmi + off, flen), "strings", strings));
		if (end > dlen) {
			set(sec, "error", json_string("DMI: a string set runs past the table"));
			break;
		}
		off = end;
		if (type == 127)
			break;
	}
	free(dmi);
	set(sec, "structures", structs);
	return sec;
}

/* --- virtio ------------------------------------------------------------- */

static const char *virtio_type(unsigned id)
{
	switch (id) {
	case 1: return "net";
	case 2: return "block";
	case 3: return "console";
	case 4: return "rng";
	case 5: return "balloon";
	case 8: return "scsi";
	case 9: return "9p";
	case 16: return "gpu";
	case 18: return "input";
	case 19: return "vsock";
	case 20: return "crypto";
	case 23: return "iommu";
	case 24: return "mem";
	case 25: return "sound";
	case 26: return "fs";
	case 27: return "pmem";
	default: return NULL;
	}
}

/* Common configuration layout (virtio 1.x, 4.1.4.3). */
#define VCC_DFSELECT 0x00
#define VCC_DF 0x04
#define VCC_NUMQ 0x12
#define VCC_QSELECT 0x16
#define VCC_QSIZE 0x18
#define VCC_MIN_LEN 0x20
#define VIRTIO_PCI_CAP_COMMON_CFG 1

#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* The two virtio vendor capabilities we use (struct virtio_pci_cap: vndr
 * next len cfg_type bar id pad[2] offset length; the PCI configuration
 * access capability adds a 4-byte data window at +16). */
struct virtio_caps {
	bool common;
	unsigned bar;
	uint32_t offset, length;
	unsigned pci_cfg; /* offset of the access capability, 0: none */
	bool notify;
	unsigned notify_bar;
	uint32_t notify_offset;
};

static void find_virtio_caps(const uint8_t *cfg, unsigned off, unsigned id, void *opaque)
{
	struct virtio_caps *c = opaque;

	if (id != 0x09 || off + 16 > 256)
		return;
	if (cfg[off + 3] == VIRTIO_PCI_CAP_COMMON_CFG && !c->common) {
		c->common = true;
		c->bar = cfg[off + 4];
		c->offset = le32(cfg + off + 8);
		c->length = le32(cfg + off + 12);
	} else if (cfg[off + 3] == VIRTIO_PCI_CAP_PCI_CFG && !c->pci_cfg && off + 20 <= 256) {
		c->pci_cfg = off;
	} else if (cfg[off + 3] == VIRTIO_PCI_CAP_NOTIFY_CFG && !c->notify) {
		c->notify = true;
		c->notify_bar = cfg[off + 4];
		c->notify_offset = le32(cfg + off + 8);
	}
}

/* Access to the common configuration: through an mmap of the BAR, or, when
 * the kernel refuses that (a BAR claimed by a driver under
 * CONFIG_IO_STRICT_DEVMEM), through the device's PCI configuration access
 * window (virtio 1.x 4.1.4.9), written via sysfs config. */
struct vcc {
	volatile uint8_t *base; /* mmap: the common configuration */
	int cfg_fd;             /* window: sysfs config, O_RDWR */
	unsigned win;           /* window: offset of the access capability */
	uint32_t cc_offset;     /* window: offset of the common config in the BAR */
	bool failed;            /* window: a config access failed */
};

static void cfg_put(struct vcc *v, unsigned off, const void *p, size_t n)
{
	if (pwrite(v->cfg_fd, p, n, off) != (ssize_t)n)
		v->failed = true;
}

static void win_select(struct vcc *v, unsigned reg, unsigned size)
{
	uint8_t b[4];
	uint32_t off = v->cc_offset + reg;

	b[0] = (uint8_t)size, b[1] = b[2] = b[3] = 0;
	cfg_put(v, v->win + 12, b, 4);
	b[0] = (uint8_t)off, b[1] = (uint8_t)(off >> 8), b[2] = (uint8_t)(off >> 16),
	b[3] = (uint8_t)(off >> 24);
	cfg_put(v, v->win + 8, b, 4);
}

static uint32_t vcc_read(struct vcc *v, unsigned reg, unsigned size)
{
	uint8_t b[4] = { 0 };

	if (v->base)
		return size == 4 ? *(volatile uint32_t *)(v->base + reg)
				 : *(volatile uint16_t *)(v->base + reg);
	win_select(v, reg, size);
	if (pread(v->cfg_fd, b, size, v->win + 16) != (ssize_t)size)
		v->failed = true;
	return size == 4 ? le32(b) : le16(b);
}

static void vcc_write(struct vcc *v, unsigned reg, unsigned size, uint32_t val)
{
	uint8_t b[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16),
			 (uint8_t)(val >> 24) };

	if (v->base) {
		if (size == 4)
			*(volatile uint32_t *)(v->base + reg) = val;
		else
			*(volatile uint16_t *)(v->base + reg) = (uint16_t)val;
		return;
	}
	win_select(v, reg, size);
	cfg_put(v, v->win + 16, b, size);
}

/* Read offered features and queue sizes; the select registers are state of
 * the device: they are put back. */
static void vcc_collect(struct vcc *v, json_t *dev)
{
	uint32_t old_fsel = vcc_read(v, VCC_DFSELECT, 4), lo, hi;
	uint16_t old_qsel = (uint16_t)vcc_read(v, VCC_QSELECT, 2);
	uint16_t nq = (uint16_t)vcc_read(v, VCC_NUMQ, 2);
	json_t *queues = json_array();

	vcc_write(v, VCC_DFSELECT, 4, 0);
	lo = vcc_read(v, VCC_DF, 4);
	vcc_write(v, VCC_DFSELECT, 4, 1);
	hi = vcc_read(v, VCC_DF, 4);
	vcc_write(v, VCC_DFSELECT, 4, old_fsel);
	for (unsigned q = 0; q < nq && q < 1024; q++) {
		vcc_write(v, VCC_QSELECT, 2, q);
		append(queues, json_pack("{s:i, s:i}", "index", (int)q, "size",
					 (int)vcc_read(v, VCC_QSIZE, 2)));
	}
	vcc_write(v, VCC_QSELECT, 2, old_qsel);
	set(dev, "features_offered", hex64((uint64_t)hi << 32 | lo));
	set(dev, "num_queues", json_integer(nq));
	set(dev, "queues", queues);
}

static int offered_by_mmap(json_t *dev, const char *bdf, const struct virtio_caps *cc,
			   char *why, size_t whylen)
{
	char path[512];
	long pg = sysconf(_SC_PAGESIZE);
	off_t mapoff = (off_t)(cc->offset & ~(uint32_t)(pg - 1));
	size_t maplen = (size_t)(cc->offset - (uint32_t)mapoff) + VCC_MIN_LEN;
	struct vcc v = { .cfg_fd = -1 };
	void *map;
	int fd;

	snprintf(path, sizeof(path), SYS_PCI "/%s/resource%u", bdf, cc->bar);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, mapoff);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(why, whylen, "mmap %s: %s", path, strerror(errno));
		return -1;
	}
	v.base = (volatile uint8_t *)map + (cc->offset - (uint32_t)mapoff);
	vcc_collect(&v, dev);
	munmap(map, maplen);
	set(dev, "offered_via", json_string("bar-mmap"));
	return 0;
}

static int offered_by_window(json_t *dev, const char *bdf, const struct virtio_caps *cc,
			     char *why, size_t whylen)
{
	char path[512];
	uint8_t saved[16];
	struct vcc v = { .cfg_fd = -1, .win = cc->pci_cfg, .cc_offset = cc->offset };
	uint8_t bar = (uint8_t)cc->bar;

	if (!cc->pci_cfg) {
		snprintf(why, whylen, "no virtio PCI configuration access capability");
		return -1;
	}
	snprintf(path, sizeof(path), SYS_PCI "/%s/config", bdf);
	v.cfg_fd = open(path, O_RDWR | O_CLOEXEC);
	if (v.cfg_fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* The window's own registers (bar, offset, length) are put back too. */
	if (pread(v.cfg_fd, saved, sizeof(saved), cc->pci_cfg) != (ssize_t)sizeof(saved)) {
		snprintf(why, whylen, "%s: cannot read the access capability", path);
		close(v.cfg_fd);
		return -1;
	}
	cfg_put(&v, cc->pci_cfg + 4, &bar, 1);
	if (!v.failed)
		vcc_collect(&v, dev);
	/* The data window keeps the last value moved through it, and it is
	 * part of the config space every dump shows: end with a read of the
	 * notification area, which reads as zero (as the window was at reset),
	 * so that dumps stay identical. */
	if (!v.failed && cc->notify) {
		uint8_t nbar = (uint8_t)cc->notify_bar;
		cfg_put(&v, cc->pci_cfg + 4, &nbar, 1);
		v.cc_offset = cc->notify_offset;
		vcc_read(&v, 0, 4);
	}
	cfg_put(&v, cc->pci_cfg + 4, saved + 4, 1);
	cfg_put(&v, cc->pci_cfg + 8, saved + 8, 8);
	close(v.cfg_fd);
	if (v.failed) {
		json_object_del(dev, "features_offered");
		json_object_del(dev, "num_queues");
		json_object_del(dev, "queues");
		snprintf(why, whylen, "writing %s failed", path);
		return -1;
	}
	set(dev, "offered_via", json_string("pci-cfg-window"));
	return 0;
}

/* Offered features and queue sizes from the common configuration. On
 * failure: features_offered null and offered_error. */
static void virtio_offered(json_t *dev, const char *bdf, bool bar_access)
{
	char path[512], why[512] = "", why2[512] = "";
	uint8_t *cfg = NULL;
	size_t len;
	struct virtio_caps cc = { 0 };
	struct bar_info bars[6];

	snprintf(path, sizeof(path), SYS_PCI "/%s/config", bdf);
	if (read_all(path, &cfg, &len) < 0) {
		snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
		goto fail;
	}
	walk_caps(cfg, len < 256 ? len : 256, find_virtio_caps, &cc);
	free(cfg);
	if (!cc.common) {
		set(dev, "transport", json_string("legacy"));
		snprintf(why, sizeof(why), "no virtio-pci common configuration capability (legacy device)");
		goto fail;
	}
	set(dev, "transport", json_string("modern"));
	if (!bar_access) {
		snprintf(why, sizeof(why), "device BAR access disabled (test build)");
		goto fail;
	}
	if (cc.bar > 5 || read_bars(bdf, bars) < 0 || !bars[cc.bar].size) {
		snprintf(why, sizeof(why), "BAR %u of the common configuration is not assigned", cc.bar);
		goto fail;
	}
	if (cc.length < VCC_MIN_LEN || (uint64_t)cc.offset + VCC_MIN_LEN > bars[cc.bar].size) {
		snprintf(why, sizeof(why), "common configuration outside BAR %u", cc.bar);
		goto fail;
	}
	if (!(bars[cc.bar].flags & IORESOURCE_IO) &&
	    offered_by_mmap(dev, bdf, &cc, why, sizeof(why)) == 0)
		return;
	if (offered_by_window(dev, bdf, &cc, why2, sizeof(why2)) == 0)
		return;
	if (why[0]) {
		size_t l = strlen(why);
		snprintf(why + l, sizeof(why) - l, "; %s", why2);
	} else {
		snprintf(why, sizeof(why), "%s", why2);
	}
fail:
	set(dev, "features_offered", json_null());
	set(dev, "offered_error", json_string(why));
	set(dev, "queues", json_null());
}

static json_t *virtio_device(const char *name, bool bar_access)
{
	char path[512], link[512], buf[512];
	json_t *dev = jcheck(json_pack("{s:s}", "name", name));
	unsigned long id = 0;
	ssize_t n;

	snprintf(path, sizeof(path), SYS_VIRTIO "/%s/device", name);
	if (read_line(path, buf, sizeof(buf)) == 0)
		id = strtoul(buf, NULL, 16);
	set(dev, "device_id", json_integer((json_int_t)id));
	set(dev, "type", virtio_type((unsigned)id) ? json_string(virtio_type((unsigned)id)) : json_null());

	/* The parent device: a PCI function (…/0000:00:02.0/virtio0) or not. */
	snprintf(path, sizeof(path), SYS_VIRTIO "/%s", name);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		char *slash, *parent;
		link[n] = '\0';
		slash = strrchr(link, '/');
		if (slash)
			*slash = '\0';
		parent = strrchr(link, '/');
		parent = parent ? parent + 1 : link;
		snprintf(buf, sizeof(buf), SYS_PCI "/%s", parent);
		if (access(buf, F_OK) == 0)
			set(dev, "bdf", json_string(parent));
		else
			set(dev, "bdf", json_null());
	} else {
		set(dev, "bdf", json_null());
	}

	snprintf(path, sizeof(path), SYS_VIRTIO "/%s/features", name);
	if (read_line(path, buf, sizeof(buf)) == 0) {
		uint64_t lo = 0, hi = 0;
		for (size_t i = 0; buf[i] && i < 128; i++) {
			if (buf[i] != '1')
				continue;
			if (i < 64)
				lo |= 1ULL << i;
			else
				hi |= 1ULL << (i - 64);
		}
		set(dev, "features_negotiated", hex64(lo));
		if (hi)
			set(dev, "features_negotiated_hi", hex64(hi));
	} else {
		set(dev, "features_negotiated", json_null());
		set_error(dev, path, errno);
	}

	if (!json_is_string(json_object_get(dev, "bdf"))) {
		set(dev, "transport", json_string("other"));
		set(dev, "features_offered", json_null());
		set(dev, "offered_error", json_string("not a virtio-pci device"));
		set(dev, "queues", json_null());
	} else {
		virtio_offered(dev, jstr(dev, "bdf"), bar_access);
	}
	return dev;
}

static int virtio_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = strcmp(jstr(a, "bdf"), jstr(b, "bdf"));
	const char *na = jstr(a, "name"), *nb = jstr(b, "name");
	size_t la = strlen(na), lb = strlen(nb);

	if (c)
		return c;
	/* virtio2 before virtio10 */
	return la != lb ? (la < lb ? -1 : 1) : strcmp(na, nb);
}

static json_t *abi_virtio(bool bar_access)
{
	json_t *sec = json_object(), *devs = json_array();
	struct dirent **names;
	int n = list_dir(SYS_VIRTIO, &names);

	if (n < 0) {
		set_error(sec, SYS_VIRTIO, errno);
	} else {
		for (int i = 0; i < n; i++)
			append(devs, virtio_device(names[i]->d_name, bar_access));
		free_list(names, n);
		sort_array(devs, virtio_cmp);
	}
	set(sec, "devices", devs);
	return sec;
}

/* --- memory_map ----------------------------------------------------------- */

static int memmap_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int c = strcmp(jstr(a, "start"), jstr(b, "start")); /* fixed-width hex */
	return c ? c : strcmp(jstr(a, "end"), jstr(b, "end"));
}

static json_t *abi_memory_map(void)
{
	json_t *sec = json_pack("{s:s}", "source", SYS_MEMMAP), *entries = json_array();
	struct dirent **names;
	int n = list_dir(SYS_MEMMAP, &names);

	if (n < 0) {
		set_error(jcheck(sec), SYS_MEMMAP, errno);
		set(sec, "entries", entries);
		return sec;
	}
	for (int i = 0; i < n; i++) {
		char path[512], type[128];
		uint64_t start, end;

		snprintf(path, sizeof(path), SYS_MEMMAP "/%s/start", names[i]->d_name);
		if (read_hex_u64(path, &start) < 0)
			continue;
		snprintf(path, sizeof(path), SYS_MEMMAP "/%s/end", names[i]->d_name);
		if (read_hex_u64(path, &end) < 0)
			continue;
		snprintf(path, sizeof(path), SYS_MEMMAP "/%s/type", names[i]->d_name);
		if (read_line(path, type, sizeof(type)) < 0)
			type[0] = '\0';
		append(entries, json_pack("{s:o, s:o, s:o}", "start", hex64(start), "end", hex64(end),
					  "type", text(type, strlen(type))));
	}
	free_list(names, n);
	sort_array(entries, memmap_cmp);
	set(sec, "entries", entries);
	return sec;
}

/* --- cpu ---------------------------------------------------------------- */

static int str_cmp(const void *pa, const void *pb)
{
	return strcmp(json_string_value(*(json_t *const *)pa), json_string_value(*(json_t *const *)pb));
}

static json_t *word_list(const char *s)
{
	json_t *arr = json_array();
	char *copy = strdup(s), *save = NULL;

	if (!copy)
		abort();
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		append(arr, text(w, strlen(w)));
	free(copy);
	sort_array(arr, str_cmp);
	return arr;
}

static json_t *abi_cpu(void)
{
	json_t *sec = json_object();
	uint8_t *data;
	size_t len;
	char *line, *save = NULL;
	int count = 0;
	bool first = true;

	if (read_all("/proc/cpuinfo", &data, &len) < 0) {
		set_error(sec, "/proc/cpuinfo", errno);
		return sec;
	}
	for (line = strtok_r((char *)data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':'), *key = line, *val, *k_end;

		if (!colon)
			continue;
		k_end = colon;
		while (k_end > key && isspace((unsigned char)k_end[-1]))
			k_end--;
		*k_end = '\0';
		val = colon + 1;
		while (isspace((unsigned char)*val))
			val++;
		if (!strcmp(key, "processor")) {
			first = count == 0;
			count++;
			continue;
		}
		if (!first)
			continue;
		if (!strcmp(key, "vendor_id"))
			set(sec, "vendor_id", text(val, strlen(val)));
		else if (!strcmp(key, "cpu family"))
			set(sec, "family", json_integer(atoi(val)));
		else if (!strcmp(key, "model"))
			set(sec, "model", json_integer(atoi(val)));
		else if (!strcmp(key, "stepping"))
			set(sec, "stepping", json_integer(atoi(val)));
		else if (!strcmp(key, "model name"))
			set(sec, "model_name", text(val, strlen(val)));
		else if (!strcmp(key, "microcode"))
			set(sec, "microcode", text(val, strlen(val)));
		else if (!strcmp(key, "flags"))
			set(sec, "flags", word_list(val));
		else if (!strcmp(key, "bugs"))
			set(sec, "bugs", word_list(val));
		else if (!strcmp(key, "address sizes"))
			set(sec, "address_sizes", text(val, strlen(val)));
	}
	free(data);
	/* Absent lines are null, not missing: the diff sees them go. */
	{
		static const char *const keys[] = { "vendor_id", "family", "model", "stepping",
						    "model_name", "microcode", "address_sizes" };
		for (size_t i = 0; i < ML_ARRAY_SIZE(keys); i++)
			if (!json_object_get(sec, keys[i]))
				set(sec, keys[i], json_null());
		if (!json_object_get(sec, "flags"))
			set(sec, "flags", json_array());
		if (!json_object_get(sec, "bugs"))
			set(sec, "bugs", json_array());
	}
	set(sec, "count", json_integer(count));
	return sec;
}

/* --- clocksource ---------------------------------------------------------- */

static json_t *abi_clocksource(void)
{
	json_t *sec = json_object(), *avail = json_array();
	char buf[512], *save = NULL;

	if (read_line(SYS_CLOCKSOURCE "/current_clocksource", buf, sizeof(buf)) == 0)
		set(sec, "current", text(buf, strlen(buf)));
	else {
		set(sec, "current", json_null());
		set_error(sec, SYS_CLOCKSOURCE "/current_clocksource", errno);
	}
	/* The kernel's order (by rating) is deterministic: kept. */
	if (read_line(SYS_CLOCKSOURCE "/available_clocksource", buf, sizeof(buf)) == 0)
		for (char *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			append(avail, text(w, strlen(w)));
	set(sec, "available", avail);
	return sec;
}

/* --- The document --------------------------------------------------------- */

static json_t *abi_kernel(void)
{
	struct utsname u;
	char cmdline[4096];
	json_t *k;

	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	k = jcheck(json_pack("{s:o, s:o, s:o}", "release", text(u.release, strlen(u.release)),
			     "version", text(u.version, strlen(u.version)), "machine",
			     text(u.machine, strlen(u.machine))));
	if (read_line("/proc/cmdline", cmdline, sizeof(cmdline)) == 0)
		set(k, "cmdline", text(cmdline, strlen(cmdline)));
	else
		set(k, "cmdline", json_null());
	return k;
}

json_t *probe_abi_collect(const struct probe_abi_opts *o)
{
	json_t *doc = jcheck(json_object());

	set(doc, "schema", json_string(PROBE_ABI_SCHEMA));
	set(doc, "agent", json_pack("{s:s, s:s}", "name", PROBE_AGENT_NAME, "version", MIGLAB_VERSION));
	set(doc, "kernel", abi_kernel());
	set(doc, "boot_id", json_string(o->boot_id ? o->boot_id : ""));
	set(doc, "uptime_ms", json_integer((json_int_t)probe_boottime_ms()));
	set(doc, "cpuid", abi_cpuid());
	set(doc, "msr", abi_msr());
	set(doc, "pci", abi_pci());
	set(doc, "acpi", abi_acpi());
	set(doc, "smbios", abi_smbios());
	set(doc, "virtio", abi_virtio(o->virtio_bar_access));
	set(doc, "memory_map", abi_memory_map());
	set(doc, "cpu", abi_cpu());
	set(doc, "clocksource", abi_clocksource());
	return doc;
}
