/* The semantic ABI diff engine (abi-diff.h): section by section, lists
 * matched by their natural key, registers decoded and named (abi-tables.c). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "abi-diff.h"
#include "abi-tables.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "ml-common.h"

#define DEFAULT_DETAIL_LIMIT ((size_t)16 << 10)
#define MAX_OFFSET_RUNS 24

struct ctx {
	struct ml_abi_diff *d;
	const char *iasl;
	size_t detail_limit;
	const char *bdf; /* the PCI device being compared (for its BAR list) */
};

/* ---- the list of differences ---------------------------------------------- */

/* Add a difference; takes key, before, after and detail (malloc'ed). */
static void add(struct ctx *c, const char *section, char *key, char *before, char *after,
		char *detail)
{
	struct ml_abi_diff *d = c->d;
	struct ml_abi_difference *x;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 32;
		d->items = realloc(d->items, d->cap * sizeof(*d->items));
		if (!d->items)
			abort();
	}
	x = &d->items[d->n++];
	x->section = strdup(section);
	x->key = key;
	x->what = strdup(!before ? "added" : !after ? "removed" : "changed");
	x->before = before;
	x->after = after;
	x->detail = detail;
	if (!x->section || !x->what)
		abort();
}

void ml_abi_diff_clear(struct ml_abi_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct ml_abi_difference *x = &d->items[i];
		free(x->section);
		free(x->key);
		free(x->what);
		free(x->before);
		free(x->after);
		free(x->detail);
	}
	free(d->items);
	memset(d, 0, sizeof(*d));
}

/* A printable copy of guest-controlled text for keys (at most 128 bytes). */
static char *safe(const char *s)
{
	size_t n = s ? strlen(s) : 0, i;
	char *o;

	if (!s)
		return strdup("(none)");
	if (n > 128)
		n = 128;
	o = malloc(n + 1);
	if (!o)
		abort();
	for (i = 0; i < n; i++)
		o[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	o[n] = '\0';
	return o;
}

/* A JSON value as compact text (strings quoted and escaped), capped; NULL
 * for an absent value. */
static char *jstr(const json_t *v)
{
	char *s;
	if (!v)
		return NULL;
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		abort();
	if (strlen(s) > 512) {
		char *t = ml_strdup_printf("%.500s... (%zu bytes)", s, strlen(s));
		free(s);
		s = t;
	}
	return s;
}

/* Compare member m of a and b (either may be NULL) as plain JSON values. */
static void cmp_member(struct ctx *c, const char *section, const char *prefix, const json_t *a,
		       const json_t *b, const char *m)
{
	json_t *va = json_object_get(a, m), *vb = json_object_get(b, m);

	if ((!va && !vb) || (va && vb && json_equal(va, vb)))
		return;
	add(c, section, prefix ? ml_strdup_printf("%s %s", prefix, m) : strdup(m), jstr(va), jstr(vb),
	    NULL);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Compare every member of a and b not in handled, in sorted key order. */
static void cmp_rest(struct ctx *c, const char *section, const char *prefix, const json_t *a,
		     const json_t *b, const char *const *handled)
{
	const char **keys = NULL;
	size_t n = 0, cap = 0;
	const json_t *objs[2] = { a, b };

	for (int s = 0; s < 2; s++) {
		const char *k;
		json_t *v;
		if (!json_is_object(objs[s]))
			continue;
		json_object_foreach((json_t *)objs[s], k, v) {
			bool skip = false;
			for (size_t h = 0; handled && handled[h]; h++)
				if (strcmp(handled[h], k) == 0)
					skip = true;
			if (skip)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				keys = realloc(keys, cap * sizeof(*keys));
				if (!keys)
					abort();
			}
			keys[n++] = k;
		}
	}
	if (n)
		qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i && strcmp(keys[i], keys[i - 1]) == 0)
			continue;
		cmp_member(c, section, prefix, a, b, keys[i]);
	}
	free(keys);
}

/* ---- keyed lists ---------------------------------------------------------- */

struct item {
	char *key;        /* sort/match key */
	const json_t *v;
	size_t index;     /* position in the dump: keeps equal keys in order */
};

static int cmp_item(const void *x, const void *y)
{
	const struct item *a = x, *b = y;
	int r = strcmp(a->key, b->key);
	return r ? r : a->index < b->index ? -1 : a->index > b->index;
}

typedef char *(*key_fn)(const json_t *e, size_t occurrence_hint);

/* The elements of list (skipping non-objects, i.e. redacted ones) with their
 * keys, sorted; duplicate keys get "#N" suffixes so each is matched once. */
static struct item *keyed(const json_t *list, key_fn kf, size_t *n_out)
{
	size_t n = json_array_size(list), k = 0;
	struct item *it = calloc(n ? n : 1, sizeof(*it));

	if (!it)
		abort();
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(list, i);
		if (!json_is_object(e))
			continue;
		it[k].key = kf(e, i);
		it[k].v = e;
		it[k].index = i;
		k++;
	}
	if (k)
		qsort(it, k, sizeof(*it), cmp_item);
	/* the N-th element with the same key becomes "key#N" (N from 1) */
	for (size_t i = 1, first = 0; i < k; i++) {
		const char *base = it[first].key;
		if (strcmp(it[i].key, base) == 0) {
			char *nk = ml_strdup_printf("%s#%zu", base, i - first);
			free(it[i].key);
			it[i].key = nk;
		} else {
			first = i;
		}
	}
	*n_out = k;
	return it;
}

static void free_items(struct item *it, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(it[i].key);
	free(it);
}

typedef void (*pair_fn)(struct ctx *c, const json_t *a, const json_t *b);

/* Match two lists by key and call fn for each pair (a or b NULL when only
 * one side has it), in key order. */
static void merge_lists(struct ctx *c, const json_t *la, const json_t *lb, key_fn kf, pair_fn fn)
{
	size_t na, nb, i = 0, j = 0;
	struct item *a = keyed(la, kf, &na), *b = keyed(lb, kf, &nb);

	while (i < na || j < nb) {
		int r = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i].key, b[j].key);
		if (r == 0)
			fn(c, a[i++].v, b[j++].v);
		else if (r < 0)
			fn(c, a[i++].v, NULL);
		else
			fn(c, NULL, b[j++].v);
	}
	free_items(a, na);
	free_items(b, nb);
}

static uint64_t hexval(const json_t *e, const char *m)
{
	uint64_t v = 0;
	ml_abi_parse_hex64(ml_json_str(e, m), &v);
	return v;
}

/* ---- named fields of a register ------------------------------------------- */

/* Report the fields of a value that differ: named bits, named multi-bit
 * fields, and unnamed bits; with no fields at all, the whole value. */
static void diff_fields(struct ctx *c, const char *section, const char *prefix, uint64_t a,
			uint64_t b, unsigned width, const struct ml_abi_field *const *f, size_t nf)
{
	uint64_t changed = a ^ b, done = 0;

	if (!changed)
		return;
	if (nf == 0) {
		add(c, section, strdup(prefix), ml_strdup_printf("0x%0*" PRIx64, (int)width / 4, a),
		    ml_strdup_printf("0x%0*" PRIx64, (int)width / 4, b), NULL);
		return;
	}
	for (unsigned bit = 0; bit < width; bit++) {
		const struct ml_abi_field *hit = NULL;
		if (!(changed >> bit & 1) || (done >> bit & 1))
			continue;
		for (size_t i = 0; i < nf && !hit; i++)
			if (bit >= f[i]->lo && bit < f[i]->lo + f[i]->width)
				hit = f[i];
		if (hit && hit->width == 1) {
			add(c, section, ml_strdup_printf("%s bit %u (%s)", prefix, bit, hit->name),
			    ml_strdup_printf("%u", (unsigned)(a >> bit & 1)),
			    ml_strdup_printf("%u", (unsigned)(b >> bit & 1)), NULL);
		} else if (hit) {
			uint64_t m = hit->width >= 64 ? ~0ULL : ((1ULL << hit->width) - 1);
			uint64_t va = a >> hit->lo & m, vb = b >> hit->lo & m;
			bool hex = hit->width >= 16;
			char *key = hit->lo == 0 && hit->width == width
					    ? ml_strdup_printf("%s (%s)", prefix, hit->name)
					    : ml_strdup_printf("%s[%u:%u] (%s)", prefix,
							       hit->lo + hit->width - 1, hit->lo, hit->name);
			add(c, section, key,
			    hex ? ml_strdup_printf("0x%" PRIx64, va) : ml_strdup_printf("%" PRIu64, va),
			    hex ? ml_strdup_printf("0x%" PRIx64, vb) : ml_strdup_printf("%" PRIu64, vb),
			    NULL);
			done |= m << hit->lo;
		} else {
			add(c, section, ml_strdup_printf("%s bit %u", prefix, bit),
			    ml_strdup_printf("%u", (unsigned)(a >> bit & 1)),
			    ml_strdup_printf("%u", (unsigned)(b >> bit & 1)), NULL);
		}
	}
}

/* ---- CPUID ---------------------------------------------------------------- */

static const char *const reg_names[] = { "eax", "ebx", "ecx", "edx" };
static const char *const reg_upper[] = { "EAX", "EBX", "ECX", "EDX" };

static size_t cpuid_fields_for(uint32_t leaf, uint32_t sub, unsigned reg,
			       const struct ml_abi_field **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < ml_cpuid_fields_count && n < max; i++) {
		const struct ml_cpuid_field *f = &ml_cpuid_fields[i];
		bool sub_ok = f->subleaf == ML_CPUID_ANY_SUB || (f->subleaf == ML_CPUID_SUB_GE2 && sub >= 2) ||
			      (f->subleaf >= 0 && (uint32_t)f->subleaf == sub);
		if (f->leaf == leaf && sub_ok && f->reg == reg)
			out[n++] = &f->f;
	}
	return n;
}

static char *cpuid_key(const json_t *e, size_t i)
{
	return ml_strdup_printf("%08llx.%08llx", (unsigned long long)ml_json_int(e, "leaf", 0) & 0xffffffff,
				(unsigned long long)ml_json_int(e, "subleaf", 0) & 0xffffffff);
}

static char *cpuid_regs(const json_t *e)
{
	return ml_strdup_printf("eax=0x%08llx ebx=0x%08llx ecx=0x%08llx edx=0x%08llx",
				(unsigned long long)ml_json_int(e, "eax", 0) & 0xffffffff,
				(unsigned long long)ml_json_int(e, "ebx", 0) & 0xffffffff,
				(unsigned long long)ml_json_int(e, "ecx", 0) & 0xffffffff,
				(unsigned long long)ml_json_int(e, "edx", 0) & 0xffffffff);
}

/* The named bits set in a leaf, for a leaf only one side has. */
static char *cpuid_set_bits(const json_t *e, uint32_t leaf, uint32_t sub)
{
	struct ml_buf b = ML_BUF_INIT(0);
	for (unsigned r = 0; r < 4; r++) {
		const struct ml_abi_field *f[64];
		size_t nf = cpuid_fields_for(leaf, sub, r, f, 64);
		uint64_t v = (uint64_t)ml_json_int(e, reg_names[r], 0);
		for (size_t i = 0; i < nf; i++)
			if (f[i]->width == 1 && (v >> f[i]->lo & 1))
				ml_buf_printf(&b, "%s%s", b.len ? " " : "set: ", f[i]->name);
	}
	return b.len ? ml_buf_steal(&b) : (ml_buf_free(&b), NULL);
}

static void cpuid_pair(struct ctx *c, const json_t *a, const json_t *b)
{
	const json_t *e = a ? a : b;
	uint32_t leaf = (uint32_t)ml_json_int(e, "leaf", 0), sub = (uint32_t)ml_json_int(e, "subleaf", 0);
	ml_autofree char *label = ml_strdup_printf("leaf 0x%x.%x", leaf, sub);
	static const char *const handled[] = { "leaf", "subleaf", "eax", "ebx", "ecx", "edx", NULL };

	if (!a || !b) {
		char *regs = cpuid_regs(e);
		add(c, "cpuid", strdup(label), a ? regs : NULL, b ? regs : NULL, cpuid_set_bits(e, leaf, sub));
		return;
	}
	for (unsigned r = 0; r < 4; r++) {
		json_t *ra = json_object_get(a, reg_names[r]), *rb = json_object_get(b, reg_names[r]);
		ml_autofree char *prefix = ml_strdup_printf("%s %s", label, reg_upper[r]);
		if (json_is_integer(ra) && json_is_integer(rb)) {
			const struct ml_abi_field *f[64];
			size_t nf = cpuid_fields_for(leaf, sub, r, f, 64);
			diff_fields(c, "cpuid", prefix, (uint64_t)json_integer_value(ra) & 0xffffffff,
				    (uint64_t)json_integer_value(rb) & 0xffffffff, 32, f, nf);
		} else if (!json_equal(ra, rb) && (ra || rb)) {
			add(c, "cpuid", strdup(prefix), jstr(ra), jstr(rb), NULL);
		}
	}
	cmp_rest(c, "cpuid", label, a, b, handled);
}

static void diff_cpuid(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "leaves", NULL };
	cmp_rest(c, "cpuid", NULL, a, b, handled);
	merge_lists(c, json_object_get(a, "leaves"), json_object_get(b, "leaves"), cpuid_key, cpuid_pair);
}

/* ---- MSR ------------------------------------------------------------------ */

static char *msr_key(const json_t *e, size_t i)
{
	return ml_strdup_printf("%016" PRIx64, hexval(e, "index"));
}

static void msr_pair(struct ctx *c, const json_t *a, const json_t *b)
{
	const json_t *e = a ? a : b;
	uint64_t index = hexval(e, "index");
	const char *name = ml_json_str(e, "name");
	ml_autofree char *sname = safe(name);
	ml_autofree char *label = name ? ml_strdup_printf("0x%" PRIx64 " (%s)", index, sname)
				       : ml_strdup_printf("0x%" PRIx64, index);
	static const char *const handled[] = { "index", "value", NULL };
	json_t *va, *vb;
	uint64_t xa, xb;

	if (!a || !b) {
		const json_t *v = json_object_get(e, "value");
		char *desc = v ? jstr(v) : ml_strdup_printf("error %s", ml_json_str(e, "error") ? ml_json_str(e, "error") : "?");
		add(c, "msr", strdup(label), a ? desc : NULL, b ? desc : NULL, NULL);
		return;
	}
	va = json_object_get(a, "value");
	vb = json_object_get(b, "value");
	if (ml_abi_parse_hex64(json_string_value(va), &xa) && ml_abi_parse_hex64(json_string_value(vb), &xb)) {
		const struct ml_abi_field *f[64];
		size_t nf = 0;
		for (size_t i = 0; i < ml_msr_fields_count && nf < 64; i++)
			if (ml_msr_fields[i].index == index)
				f[nf++] = &ml_msr_fields[i].f;
		diff_fields(c, "msr", label, xa, xb, 64, f, nf);
	} else if (!json_equal(va, vb) && (va || vb)) {
		add(c, "msr", ml_strdup_printf("%s value", label), jstr(va), jstr(vb), NULL);
	}
	cmp_rest(c, "msr", label, a, b, handled);
}

static void diff_msr(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "registers", NULL };
	cmp_rest(c, "msr", NULL, a, b, handled);
	merge_lists(c, json_object_get(a, "registers"), json_object_get(b, "registers"), msr_key, msr_pair);
}

/* ---- hex blobs ------------------------------------------------------------ */

struct blob {
	uint8_t *b;
	uint8_t *masked; /* 1 where the byte was redacted ("--") */
	size_t n;
};

static void blob_free(struct blob *x)
{
	free(x->b);
	free(x->masked);
	memset(x, 0, sizeof(*x));
}

static int hexdig(char ch)
{
	return isdigit((unsigned char)ch) ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
					: (ch >= 'A' && ch <= 'F')	 ? ch - 'A' + 10 : -1;
}

static bool blob_decode(const char *s, struct blob *x)
{
	size_t len = s ? strlen(s) : 0;

	memset(x, 0, sizeof(*x));
	if (!s || len % 2)
		return false;
	x->n = len / 2;
	x->b = calloc(x->n + 1, 1);
	x->masked = calloc(x->n + 1, 1);
	if (!x->b || !x->masked)
		abort();
	for (size_t i = 0; i < x->n; i++) {
		int h = hexdig(s[2 * i]), l = hexdig(s[2 * i + 1]);
		if (s[2 * i] == '-' && s[2 * i + 1] == '-') {
			x->masked[i] = 1;
		} else if (h < 0 || l < 0) {
			blob_free(x);
			return false;
		} else {
			x->b[i] = (uint8_t)(h << 4 | l);
		}
	}
	return true;
}

static bool byte_differs(const struct blob *a, size_t ia, const struct blob *b, size_t ib)
{
	if (ia >= a->n || ib >= b->n)
		return ia < a->n || ib < b->n;
	return !a->masked[ia] && !b->masked[ib] && a->b[ia] != b->b[ib];
}

/* Bytes [off, off+len) of x, space separated ("--" for redacted ones). */
static char *bytes_str(const struct blob *x, size_t off, size_t len)
{
	struct ml_buf s = ML_BUF_INIT(0);
	for (size_t i = off; i < off + len && i < x->n; i++)
		ml_buf_printf(&s, i > off ? " %02x" : "%02x", x->b[i]);
	for (size_t i = 0; i + 1 < s.len; i += 3)
		if (x->masked[off + i / 3])
			s.data[i] = s.data[i + 1] = '-';
	return ml_buf_steal(&s);
}

/* A little-endian register of len bytes as 0x..., or bytes for long ones. */
static char *reg_str(const struct blob *x, size_t off, size_t len)
{
	struct ml_buf s = ML_BUF_INIT(0);
	if (len > 8 || off + len > x->n)
		return bytes_str(x, off, len);
	ml_buf_puts(&s, "0x");
	for (size_t i = len; i-- > 0;) {
		if (x->masked[off + i])
			ml_buf_puts(&s, "--");
		else
			ml_buf_printf(&s, "%02x", x->b[off + i]);
	}
	return ml_buf_steal(&s);
}

/* Compare a structure at oa in a and ob in b over [start, len) (relative
 * offsets): named registers of lay, then runs of unnamed differing bytes.
 * Registers whose offset is in skip[] (terminated by 0xffff) are ignored. */
static void diff_struct(struct ctx *c, const char *section, const char *prefix, const struct blob *a,
			size_t oa, const struct blob *b, size_t ob, size_t start, size_t len,
			const struct ml_abi_layout *lay, const uint16_t *skip, bool relative)
{
	uint8_t *named = calloc(len + 1, 1);

	if (!named)
		abort();
	for (size_t r = 0; lay && r < lay->n; r++) {
		const struct ml_abi_reg *reg = &lay->regs[r];
		bool differs = false, skipped = false;
		if (reg->off < start || reg->off + reg->len > len)
			continue;
		for (size_t s = 0; skip && skip[s] != 0xffff; s++)
			if (skip[s] == reg->off)
				skipped = true;
		for (size_t i = reg->off; i < (size_t)reg->off + reg->len; i++) {
			named[i] = 1;
			differs |= byte_differs(a, oa + i, b, ob + i);
		}
		if (differs && !skipped)
			add(c, section,
			    ml_strdup_printf(relative ? "%s %s (+0x%02x)" : "%s %s (0x%02x)", prefix, reg->name,
					     reg->off),
			    reg_str(a, oa + reg->off, reg->len), reg_str(b, ob + reg->off, reg->len), NULL);
	}
	for (size_t i = start; i < len;) {
		size_t j = i;
		if (named[i] || !byte_differs(a, oa + i, b, ob + i)) {
			i++;
			continue;
		}
		while (j < len && !named[j] && byte_differs(a, oa + j, b, ob + j))
			j++;
		add(c, section,
		    j - i == 1 ? ml_strdup_printf(relative ? "%s byte +0x%02zx" : "%s byte 0x%02zx", prefix, i)
			       : ml_strdup_printf(relative ? "%s bytes +0x%02zx..+0x%02zx"
							   : "%s bytes 0x%02zx..0x%02zx",
						  prefix, i, j - 1),
		    bytes_str(a, oa + i, j - i), bytes_str(b, ob + i, j - i), NULL);
		i = j;
	}
	free(named);
}

/* ---- PCI ------------------------------------------------------------------ */

struct cap {
	long long id, offset, version;
	const char *name;
	size_t occurrence; /* how many of the same id come before it */
	size_t len;        /* bytes of the structure in config space */
	const struct ml_abi_layout *lay;
};

static char *pci_key(const json_t *e, size_t i)
{
	char *k = strdup(ml_json_str(e, "bdf"));
	if (!k)
		abort();
	for (char *p = k; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return k;
}

static int cmp_cap_off(const void *x, const void *y)
{
	const struct cap *a = x, *b = y;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static int cmp_cap_id(const void *x, const void *y)
{
	const struct cap *a = x, *b = y;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->occurrence < b->occurrence ? -1 : a->occurrence > b->occurrence;
}

/* The capabilities of a device, with lengths from their layouts or from the
 * distance to the next one; sorted by (id, occurrence). */
static struct cap *load_caps(const json_t *dev, bool ext, const struct blob *cfg, size_t *n_out)
{
	const json_t *l = json_object_get(dev, ext ? "ext_capabilities" : "capabilities"), *e;
	size_t n = 0, i;
	struct cap *caps = calloc(json_array_size(l) + 1, sizeof(*caps));
	size_t space = ext ? (cfg->n > 0x100 ? cfg->n : 0x100) : 0x100;
	bool virtio = ml_json_int(dev, "vendor", -1) == 0x1af4;

	if (!caps)
		abort();
	json_array_foreach(l, i, e) {
		if (!json_is_object(e))
			continue;
		caps[n].id = ml_json_int(e, "id", -1);
		caps[n].offset = ml_json_int(e, "offset", -1);
		caps[n].version = ml_json_int(e, "version", -1);
		caps[n].name = ml_json_str(e, "name");
		caps[n].lay = ml_pci_cap_layout(caps[n].name, ext);
		if (!ext && virtio && caps[n].lay && strcmp(caps[n].lay->name, "vendor") == 0)
			caps[n].lay = &ml_pci_virtio_cap;
		if (caps[n].offset < 0 || (size_t)caps[n].offset >= space)
			continue;
		n++;
	}
	qsort(caps, n, sizeof(*caps), cmp_cap_off);
	for (i = 0; i < n; i++) {
		size_t off = (size_t)caps[i].offset;
		size_t next = i + 1 < n ? (size_t)caps[i + 1].offset : space;
		size_t len = next - off, want = 0;
		if (caps[i].lay && caps[i].lay->size)
			want = caps[i].lay->size;
		else if (!ext && caps[i].id == 0x05 && off + 3 < cfg->n) {
			uint16_t ctl = (uint16_t)(cfg->b[off + 2] | cfg->b[off + 3] << 8);
			want = 10 + ((ctl & 0x80) ? 4 : 0) + ((ctl & 0x100) ? 10 : 0);
		} else if (!ext && caps[i].id == 0x09 && off + 2 < cfg->n && cfg->b[off + 2] >= 3)
			want = cfg->b[off + 2];
		else
			want = ext ? 0x100 : 0x40;
		if (want < len)
			len = want;
		caps[i].len = len;
		for (size_t k = 0; k < i; k++)
			if (caps[k].id == caps[i].id)
				caps[i].occurrence++;
	}
	qsort(caps, n, sizeof(*caps), cmp_cap_id);
	*n_out = n;
	return caps;
}

static char *cap_label(const char *bdf, const struct cap *k, bool ext)
{
	ml_autofree char *nm = k->name ? safe(k->name) : ml_strdup_printf("0x%02llx", k->id);
	return k->occurrence ? ml_strdup_printf("%s %scapability %s #%zu", bdf, ext ? "extended " : "", nm,
						k->occurrence + 1)
			     : ml_strdup_printf("%s %scapability %s", bdf, ext ? "extended " : "", nm);
}

/* Compare capability lists and the bytes of each capability both have; mark
 * the bytes they cover in claimed_a/claimed_b. */
static void diff_caps(struct ctx *c, const char *bdf, const json_t *da, const json_t *db, bool ext,
		      const struct blob *a, const struct blob *b, uint8_t *claimed_a, uint8_t *claimed_b)
{
	size_t na, nb, i = 0, j = 0;
	struct cap *ca = load_caps(da, ext, a, &na), *cb = load_caps(db, ext, b, &nb);

	for (size_t k = 0; k < na; k++)
		memset(claimed_a + ca[k].offset, 1, ca[k].len);
	for (size_t k = 0; k < nb; k++)
		memset(claimed_b + cb[k].offset, 1, cb[k].len);
	while (i < na || j < nb) {
		int r = i >= na ? 1 : j >= nb ? -1 : cmp_cap_id(&ca[i], &cb[j]);
		const struct cap *k = r <= 0 ? &ca[i] : &cb[j];
		ml_autofree char *label = cap_label(bdf, k, ext);

		if (r < 0) {
			add(c, "pci", strdup(label), ml_strdup_printf("at 0x%02llx", k->offset), NULL, NULL);
			i++;
			continue;
		}
		if (r > 0) {
			add(c, "pci", strdup(label), NULL, ml_strdup_printf("at 0x%02llx", k->offset), NULL);
			j++;
			continue;
		}
		if (ca[i].offset != cb[j].offset)
			add(c, "pci", ml_strdup_printf("%s offset", label),
			    ml_strdup_printf("0x%02llx", ca[i].offset), ml_strdup_printf("0x%02llx", cb[j].offset),
			    NULL);
		if (ext && ca[i].version != cb[j].version)
			add(c, "pci", ml_strdup_printf("%s version", label),
			    ml_strdup_printf("%lld", ca[i].version), ml_strdup_printf("%lld", cb[j].version), NULL);
		if ((size_t)ca[i].offset < a->n && (size_t)cb[j].offset < b->n) {
			size_t len = ca[i].len < cb[j].len ? ca[i].len : cb[j].len;
			ml_autofree char *prefix = ml_strdup_printf("%s@0x%02llx", label, ca[i].offset);
			/* skip the header: id and next pointer (the list diff covers them) */
			diff_struct(c, "pci", prefix, a, (size_t)ca[i].offset, b, (size_t)cb[j].offset,
				    ext ? 4 : 2, len, ca[i].lay, NULL, true);
			if (ca[i].len != cb[j].len)
				add(c, "pci", ml_strdup_printf("%s length", label),
				    ml_strdup_printf("%zu bytes", ca[i].len), ml_strdup_printf("%zu bytes", cb[j].len),
				    NULL);
		}
		i++;
		j++;
	}
	free(ca);
	free(cb);
}

static void diff_config(struct ctx *c, const char *bdf, const json_t *da, const json_t *db)
{
	const json_t *ja = json_object_get(da, "config"), *jb = json_object_get(db, "config");
	struct blob a, b;
	uint8_t *claimed_a, *claimed_b;
	size_t n;
	/* registers the device's own fields already compare */
	static const uint16_t skip[] = { 0x00, 0x02, 0x08, 0x09, 0x0e, 0x2c, 0x2e, 0xffff };
	static const uint16_t skip_bridge[] = { 0x00, 0x02, 0x08, 0x09, 0x0e, 0xffff };

	if (json_equal(ja, jb) || (!ja && !jb))
		return;
	if (!blob_decode(json_string_value(ja), &a) || !blob_decode(json_string_value(jb), &b)) {
		blob_free(&a);
		add(c, "pci", ml_strdup_printf("%s config", bdf), jstr(ja), jstr(jb), NULL);
		return;
	}
	if (a.n != b.n)
		add(c, "pci", ml_strdup_printf("%s config space size", bdf), ml_strdup_printf("%zu bytes", a.n),
		    ml_strdup_printf("%zu bytes", b.n), NULL);
	n = a.n < b.n ? a.n : b.n;
	claimed_a = calloc(a.n + 0x1000, 1);
	claimed_b = calloc(b.n + 0x1000, 1);
	if (!claimed_a || !claimed_b)
		abort();
	if (n >= 0x40) {
		bool bridge = (a.b[0x0e] & 0x7f) == 1 && (b.b[0x0e] & 0x7f) == 1;
		ml_autofree char *prefix = ml_strdup_printf("%s config", bdf);
		diff_struct(c, "pci", prefix, &a, 0, &b, 0, 0, 0x40, bridge ? &ml_pci_header1 : &ml_pci_header0,
			    bridge ? skip_bridge : skip, false);
		memset(claimed_a, 1, 0x40);
		memset(claimed_b, 1, 0x40);
	}
	diff_caps(c, bdf, da, db, false, &a, &b, claimed_a, claimed_b);
	diff_caps(c, bdf, da, db, true, &a, &b, claimed_a, claimed_b);
	/* the rest: device-specific registers, by absolute offset */
	for (size_t i = 0; i < n;) {
		size_t j = i;
		if (claimed_a[i] || claimed_b[i] || !byte_differs(&a, i, &b, i)) {
			i++;
			continue;
		}
		while (j < n && !claimed_a[j] && !claimed_b[j] && byte_differs(&a, j, &b, j))
			j++;
		add(c, "pci",
		    j - i == 1 ? ml_strdup_printf("%s config byte 0x%02zx", bdf, i)
			       : ml_strdup_printf("%s config bytes 0x%02zx..0x%02zx", bdf, i, j - 1),
		    bytes_str(&a, i, j - i), bytes_str(&b, i, j - i), NULL);
		i = j;
	}
	free(claimed_a);
	free(claimed_b);
	blob_free(&a);
	blob_free(&b);
}

static char *bar_desc(const json_t *bar)
{
	return ml_strdup_printf("%s %lld bytes%s", ml_json_str(bar, "type") ? ml_json_str(bar, "type") : "?",
				ml_json_int(bar, "size", -1),
				ml_json_bool(bar, "prefetchable", false) ? " prefetchable" : "");
}

static char *bar_key(const json_t *e, size_t i)
{
	return ml_strdup_printf("%03lld", ml_json_int(e, "index", -1));
}

static void bar_pair(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "index", "type", "size", "prefetchable", NULL };
	ml_autofree char *label = ml_strdup_printf("%s BAR %lld", c->bdf, ml_json_int(a ? a : b, "index", -1));
	char *da = a ? bar_desc(a) : NULL, *db = b ? bar_desc(b) : NULL;

	if (da && db && strcmp(da, db) == 0) {
		free(da);
		free(db);
	} else {
		add(c, "pci", strdup(label), da, db, NULL);
	}
	if (a && b)
		cmp_rest(c, "pci", label, a, b, handled);
}

static char *dev_desc(const json_t *d)
{
	const char *drv = ml_json_str(d, "driver");
	ml_autofree char *sdrv = drv ? safe(drv) : NULL;
	return ml_strdup_printf("%04llx:%04llx class 0x%06llx%s%s%s", ml_json_int(d, "vendor", 0),
				ml_json_int(d, "device", 0), ml_json_int(d, "class", 0), drv ? " (" : "",
				drv ? sdrv : "", drv ? ")" : "");
}

static void cmp_pair_hex(struct ctx *c, const char *label, const json_t *a, const json_t *b,
			 const char *m1, const char *m2, const char *what)
{
	long long a1 = ml_json_int(a, m1, -1), a2 = ml_json_int(a, m2, -1);
	long long b1 = ml_json_int(b, m1, -1), b2 = ml_json_int(b, m2, -1);
	if (a1 != b1 || a2 != b2)
		add(c, "pci", ml_strdup_printf("%s %s", label, what), ml_strdup_printf("%04llx:%04llx", a1, a2),
		    ml_strdup_printf("%04llx:%04llx", b1, b2), NULL);
}

static void cmp_hex(struct ctx *c, const char *label, const json_t *a, const json_t *b, const char *m,
		    int digits)
{
	json_t *va = json_object_get(a, m), *vb = json_object_get(b, m);
	if (json_equal(va, vb) || (!va && !vb))
		return;
	if (json_is_integer(va) && json_is_integer(vb))
		add(c, "pci", ml_strdup_printf("%s %s", label, m),
		    ml_strdup_printf("0x%0*llx", digits, (long long)json_integer_value(va)),
		    ml_strdup_printf("0x%0*llx", digits, (long long)json_integer_value(vb)), NULL);
	else
		add(c, "pci", ml_strdup_printf("%s %s", label, m), jstr(va), jstr(vb), NULL);
}

static void pci_pair(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "bdf", "vendor", "device", "subsystem_vendor", "subsystem_device",
					       "class", "revision", "header_type", "config", "capabilities",
					       "ext_capabilities", "bars", NULL };
	ml_autofree char *bdf = safe(ml_json_str(a ? a : b, "bdf"));

	if (!a || !b) {
		add(c, "pci", ml_strdup_printf("device %s", bdf), a ? dev_desc(a) : NULL, b ? dev_desc(b) : NULL,
		    NULL);
		return;
	}
	/* another device at the same address: one difference, not its details */
	if (ml_json_int(a, "vendor", -1) != ml_json_int(b, "vendor", -1) ||
	    ml_json_int(a, "device", -1) != ml_json_int(b, "device", -1) ||
	    ml_json_int(a, "class", -1) != ml_json_int(b, "class", -1)) {
		add(c, "pci", ml_strdup_printf("device %s", bdf), dev_desc(a), dev_desc(b),
		    strdup("another device at this address: its registers are not compared"));
		return;
	}
	cmp_pair_hex(c, bdf, a, b, "subsystem_vendor", "subsystem_device", "subsystem");
	cmp_hex(c, bdf, a, b, "revision", 2);
	cmp_hex(c, bdf, a, b, "header_type", 2);
	cmp_rest(c, "pci", bdf, a, b, handled);
	c->bdf = bdf;
	merge_lists(c, json_object_get(a, "bars"), json_object_get(b, "bars"), bar_key, bar_pair);
	diff_config(c, bdf, a, b);
	{
		/* capability lists of devices without a readable config */
		const json_t *ca = json_object_get(a, "config"), *cb = json_object_get(b, "config");
		if (json_equal(ca, cb) && !json_equal(json_object_get(a, "capabilities"),
						      json_object_get(b, "capabilities"))) {
			/* same bytes but different lists: compare the lists alone */
			struct blob none = { 0 };
			size_t space = 0x1000;
			uint8_t *x = calloc(space * 2, 1), *y = calloc(space * 2, 1);
			if (!x || !y)
				abort();
			diff_caps(c, bdf, a, b, false, &none, &none, x, y);
			free(x);
			free(y);
		}
	}
}

static void diff_pci(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "devices", NULL };
	cmp_rest(c, "pci", NULL, a, b, handled);
	merge_lists(c, json_object_get(a, "devices"), json_object_get(b, "devices"), pci_key, pci_pair);
}

/* ---- ACPI ----------------------------------------------------------------- */

static char *acpi_key(const json_t *e, size_t i)
{
	ml_autofree char *sig = safe(ml_json_str(e, "signature"));
	return ml_strdup_printf("%-4s.%010lld", sig, ml_json_int(e, "instance", 0));
}

static char *acpi_label(const json_t *e)
{
	ml_autofree char *sig = safe(ml_json_str(e, "signature"));
	long long inst = ml_json_int(e, "instance", 0);
	const char *dyn = ml_json_bool(e, "dynamic", false) ? "dynamic/" : "";
	return inst ? ml_strdup_printf("%s%s%lld", dyn, sig, inst) : ml_strdup_printf("%s%s", dyn, sig);
}

static char *acpi_desc(const json_t *e)
{
	ml_autofree char *oem = safe(ml_json_str(e, "oem_id"));
	ml_autofree char *tid = safe(ml_json_str(e, "oem_table_id"));
	return ml_strdup_printf("%lld bytes, revision %lld, OEM \"%s\" \"%s\"", ml_json_int(e, "length", -1),
				ml_json_int(e, "revision", -1), oem, tid);
}

static const char *acpi_header_field(size_t off)
{
	return off < 4 ? "signature" : off < 8 ? "length" : off == 8 ? "revision" : off == 9 ? "checksum"
	       : off < 16 ? "OEM id" : off < 24 ? "OEM table id" : off < 28 ? "OEM revision"
	       : off < 32 ? "creator id" : off < 36 ? "creator revision" : NULL;
}

/* "bytes that differ: 0x9 (checksum), 0x24..0x27, ..." */
static char *offsets_summary(const struct blob *a, const struct blob *b)
{
	struct ml_buf s = ML_BUF_INIT(0);
	size_t n = a->n < b->n ? a->n : b->n, runs = 0, more = 0;

	ml_buf_puts(&s, "bytes that differ:");
	for (size_t i = 0; i < n;) {
		size_t j = i;
		const char *hf;
		if (!byte_differs(a, i, b, i)) {
			i++;
			continue;
		}
		while (j < n && byte_differs(a, j, b, j) &&
		       (j == i || acpi_header_field(j) == acpi_header_field(i)))
			j++;
		if (runs++ >= MAX_OFFSET_RUNS) {
			more++;
		} else {
			hf = acpi_header_field(i);
			ml_buf_printf(&s, runs > 1 ? ", " : " ");
			if (j - i == 1)
				ml_buf_printf(&s, "0x%zx", i);
			else
				ml_buf_printf(&s, "0x%zx..0x%zx", i, j - 1);
			if (hf)
				ml_buf_printf(&s, " (%s)", hf);
		}
		i = j;
	}
	if (more)
		ml_buf_printf(&s, ", ... and %zu more runs", more);
	if (a->n != b->n)
		ml_buf_printf(&s, "%s0x%zx..0x%zx only %s (%zu bytes)", runs ? "; " : " ", n,
			      (a->n > b->n ? a->n : b->n) - 1, a->n > b->n ? "before" : "after",
			      (a->n > b->n ? a->n : b->n) - n);
	return ml_buf_steal(&s);
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	ml_autofree char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *save = NULL;

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? strdup(name) : NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *p = ml_strdup_printf("%s/%s", *dir ? dir : ".", name);
		struct stat st;
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

char *ml_abi_find_iasl(void)
{
	const char *env = getenv("MIGLAB_IASL");
	if (env)
		return *env ? find_in_path(env) : NULL;
	return find_in_path("iasl");
}

/* Drop the disassembler's leading comment block (file name, date, tool
 * version) so only the table's content is compared. */
static int strip_header(const char *in, const char *out)
{
	ml_autofree char *text = NULL;
	size_t len;
	const char *body;

	if (ml_read_file(in, (size_t)32 << 20, &text, &len) < 0)
		return -1;
	body = text;
	if (strncmp(text, "/*", 2) == 0) {
		const char *end = strstr(text, "*/");
		if (end) {
			body = end + 2;
			while (*body == '\n')
				body++;
		}
	}
	/* data tables end with a hex dump of the raw bytes: the fields above
	 * say the same, and the byte offsets are in the detail already */
	{
		char *raw = strstr(body, "\nRaw Table Data:");
		if (raw)
			raw[1] = '\0';
	}
	return ml_write_atomic(out, body, strlen(body), 0644);
}

static int run_quiet(const char *const *argv, const char *dir, struct ml_buf *out, int *status)
{
	/* iasl and diff read tables the guest's firmware made: bounded in CPU
	 * time, memory, the size of any file they write and open files, in a
	 * throwaway directory. */
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,
				     .chdir = dir,
				     .limits = { .cpu_s = 60, .as_bytes = 1ULL << 30, .fsize_bytes = 64ULL << 20,
						 .nofile = 64 } };
	ml_autobuf struct ml_buf err = ML_BUF_INIT(1 << 20);
	ml_autobuf struct ml_buf junk = ML_BUF_INIT(1 << 20);
	return ml_proc_run(&spec, 120000, out ? out : &junk, &err, status);
}

/* A unified diff of the iasl disassembly of two versions of a table, or NULL
 * (with the reason in *why) when it cannot be made. */
static char *acpi_disasm_diff(struct ctx *c, const char *sig, const struct blob *a, const struct blob *b,
			      char **why)
{
	const char *tmpdir = getenv("TMPDIR");
	ml_autofree char *tmpl = ml_strdup_printf("%s/miglab-acpi-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	ml_autofree char *diffbin = find_in_path("diff");
	char name[8] = "table";
	const struct blob *sides[2] = { a, b };
	static const char *const side_names[2] = { "before", "after" };
	ml_autobuf struct ml_buf out = ML_BUF_INIT(8 << 20);
	char *result = NULL;
	int status;

	if (!diffbin) {
		*why = strdup("no diff program in PATH");
		return NULL;
	}
	if (strlen(sig) == 4 && isalnum((unsigned char)sig[0]) && isalnum((unsigned char)sig[1]) &&
	    isalnum((unsigned char)sig[2]) && isalnum((unsigned char)sig[3]))
		snprintf(name, sizeof(name), "%s", sig);
	if (!mkdtemp(tmpl)) {
		*why = ml_strdup_printf("cannot make a temporary directory: %s", strerror(errno));
		return NULL;
	}
	for (int s = 0; s < 2; s++) {
		ml_autofree char *dir = ml_strdup_printf("%s/%s", tmpl, side_names[s]);
		ml_autofree char *dat = ml_strdup_printf("%s/%s.dat", dir, name);
		ml_autofree char *dsl = ml_strdup_printf("%s/%s.dsl", dir, name);
		ml_autofree char *txt = ml_strdup_printf("%s/%s.txt", tmpl, side_names[s]);
		ml_autofree char *datname = ml_strdup_printf("%s.dat", name);
		const char *argv[] = { c->iasl, "-d", datname, NULL };

		if (ml_mkdir_p(dir, 0700) < 0 || ml_write_atomic(dat, sides[s]->b, sides[s]->n, 0600) < 0 ||
		    run_quiet(argv, dir, NULL, &status) < 0) {
			*why = ml_strdup_printf("iasl: %s", ml_error_message());
			goto out;
		}
		if (!ml_path_exists(dsl)) {
			*why = ml_strdup_printf("iasl could not disassemble the %s table", side_names[s]);
			goto out;
		}
		if (strip_header(dsl, txt) < 0) {
			*why = strdup(ml_error_message());
			goto out;
		}
	}
	{
		ml_autofree char *la = ml_strdup_printf("before/%s.dsl", name);
		ml_autofree char *lb = ml_strdup_printf("after/%s.dsl", name);
		const char *argv[] = { diffbin, "-u", "--label", la, "--label", lb, "before.txt", "after.txt", NULL };
		if (run_quiet(argv, tmpl, &out, &status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) > 1) {
			*why = strdup("diff of the disassembly failed");
			goto out;
		}
	}
	if (out.len == 0) {
		result = strdup("(the disassembly is the same: the tables differ only in bytes iasl does not show)");
	} else if (out.len > c->detail_limit) {
		size_t cut = c->detail_limit, lines = 0;
		while (cut > 0 && out.data[cut - 1] != '\n')
			cut--;
		for (size_t i = cut; i < out.len; i++)
			lines += out.data[i] == '\n';
		result = ml_strdup_printf("%.*s... (%zu more lines of diff)", (int)cut, out.data, lines);
	} else {
		result = ml_buf_steal(&out);
	}
out:
	ml_rm_rf(tmpl);
	return result;
}

static void acpi_pair(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "signature", "instance", "data", NULL };
	ml_autofree char *label = acpi_label(a ? a : b);
	const json_t *ja, *jb;
	struct blob ba, bb;
	struct ml_buf detail = ML_BUF_INIT(0);

	if (!a || !b) {
		add(c, "acpi", ml_strdup_printf("table %s", label), a ? acpi_desc(a) : NULL,
		    b ? acpi_desc(b) : NULL, NULL);
		return;
	}
	cmp_rest(c, "acpi", label, a, b, handled);
	ja = json_object_get(a, "data");
	jb = json_object_get(b, "data");
	if (json_equal(ja, jb) || (!ja && !jb))
		return;
	if (!blob_decode(json_string_value(ja), &ba) || !blob_decode(json_string_value(jb), &bb)) {
		blob_free(&ba);
		add(c, "acpi", ml_strdup_printf("%s data", label), jstr(ja), jstr(jb), NULL);
		return;
	}
	{
		char *off = offsets_summary(&ba, &bb);
		ml_buf_puts(&detail, off);
		free(off);
	}
	if (c->iasl) {
		char *why = NULL;
		ml_autofree char *sig = safe(ml_json_str(a, "signature"));
		char *dis = acpi_disasm_diff(c, sig, &ba, &bb, &why);
		if (dis)
			ml_buf_printf(&detail, "\nAML disassembly diff (iasl -d):\n%s", dis);
		else
			ml_buf_printf(&detail, "\n(no disassembly: %s)", why ? why : "unknown error");
		free(dis);
		free(why);
	}
	add(c, "acpi", ml_strdup_printf("%s content", label), ml_strdup_printf("%zu bytes", ba.n),
	    ml_strdup_printf("%zu bytes", bb.n), ml_buf_steal(&detail));
	blob_free(&ba);
	blob_free(&bb);
}

static void diff_acpi(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "tables", NULL };
	cmp_rest(c, "acpi", NULL, a, b, handled);
	merge_lists(c, json_object_get(a, "tables"), json_object_get(b, "tables"), acpi_key, acpi_pair);
}

/* ---- SMBIOS --------------------------------------------------------------- */

/* Structures are matched by type and order among those of the same type. */
static char *smbios_key(const json_t *e, size_t i)
{
	return ml_strdup_printf("%03lld", ml_json_int(e, "type", -1));
}

static char *smbios_label(const json_t *e, const char *dupkey)
{
	long long type = ml_json_int(e, "type", -1);
	const struct ml_smbios_type *t = type >= 0 ? ml_smbios_type_info((unsigned)type) : NULL;
	return t ? ml_strdup_printf("type %lld (%s)%s", type, t->name, dupkey)
		 : ml_strdup_printf("type %lld%s", type, dupkey);
}

static char *smbios_string(const json_t *e, unsigned idx)
{
	const json_t *s = json_array_get(json_object_get(e, "strings"), idx - 1);
	ml_autofree char *q = s ? jstr(s) : NULL;
	return idx == 0 ? strdup("0 (none)") : q ? ml_strdup_printf("%u %s", idx, q)
						 : ml_strdup_printf("%u (missing)", idx);
}

static char *smbios_field(const json_t *e, const struct blob *x, const struct ml_smbios_field *f)
{
	if ((size_t)f->off + f->len > x->n)
		return strdup("(absent)");
	switch (f->kind) {
	case SMB_STRING:
		return smbios_string(e, x->b[f->off]);
	case SMB_UUID: {
		const uint8_t *u = x->b + f->off;
		return ml_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
					u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6], u[8], u[9], u[10], u[11],
					u[12], u[13], u[14], u[15]);
	}
	case SMB_BYTES:
		return bytes_str(x, f->off, f->len);
	default:
		return reg_str(x, f->off, f->len);
	}
}

static char *smbios_desc(const json_t *e)
{
	const json_t *s = json_array_get(json_object_get(e, "strings"), 0);
	ml_autofree char *first = s ? jstr(s) : NULL;
	return ml_strdup_printf("handle 0x%04llx, length %lld%s%s", ml_json_int(e, "handle", -1),
				ml_json_int(e, "length", -1), first ? ", " : "", first ? first : "");
}

static void smbios_compare(struct ctx *c, const char *label, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "type", "handle", "formatted", "strings", NULL };
	long long type = ml_json_int(a, "type", -1);
	const struct ml_smbios_type *t = ml_smbios_type_info((unsigned)type);
	const json_t *sa = json_object_get(a, "strings"), *sb = json_object_get(b, "strings");
	struct blob fa = { 0 }, fb = { 0 };
	size_t ns;

	if (ml_json_int(a, "handle", -1) != ml_json_int(b, "handle", -1))
		add(c, "smbios", ml_strdup_printf("%s handle", label),
		    ml_strdup_printf("0x%04llx", ml_json_int(a, "handle", -1)),
		    ml_strdup_printf("0x%04llx", ml_json_int(b, "handle", -1)), NULL);
	cmp_rest(c, "smbios", label, a, b, handled);
	if (!json_equal(json_object_get(a, "formatted"), json_object_get(b, "formatted"))) {
		if (blob_decode(ml_json_str(a, "formatted"), &fa) && blob_decode(ml_json_str(b, "formatted"), &fb)) {
			size_t n = fa.n > fb.n ? fa.n : fb.n;
			uint8_t *named = calloc(n + 1, 1);
			if (!named)
				abort();
			memset(named, 1, n < 4 ? n : 4); /* type, length, handle: compared above */
			for (size_t i = 0; t && i < t->n; i++) {
				const struct ml_smbios_field *f = &t->fields[i];
				bool differs = false;
				for (size_t k = f->off; k < (size_t)f->off + f->len && k < n; k++) {
					named[k] = 1;
					differs |= byte_differs(&fa, k, &fb, k);
				}
				if (differs)
					add(c, "smbios", ml_strdup_printf("%s %s (0x%02x)", label, f->name, f->off),
					    smbios_field(a, &fa, f), smbios_field(b, &fb, f), NULL);
			}
			for (size_t i = 0; i < n;) {
				size_t j = i;
				if (named[i] || !byte_differs(&fa, i, &fb, i)) {
					i++;
					continue;
				}
				while (j < n && !named[j] && byte_differs(&fa, j, &fb, j))
					j++;
				add(c, "smbios",
				    j - i == 1 ? ml_strdup_printf("%s byte 0x%02zx", label, i)
					       : ml_strdup_printf("%s bytes 0x%02zx..0x%02zx", label, i, j - 1),
				    i < fa.n ? bytes_str(&fa, i, j - i) : NULL, i < fb.n ? bytes_str(&fb, i, j - i) : NULL,
				    NULL);
				i = j;
			}
			free(named);
		} else {
			cmp_member(c, "smbios", label, a, b, "formatted");
		}
		blob_free(&fa);
		blob_free(&fb);
	}
	ns = json_array_size(sa) > json_array_size(sb) ? json_array_size(sa) : json_array_size(sb);
	for (size_t i = 0; i < ns; i++) {
		const json_t *x = json_array_get(sa, i), *y = json_array_get(sb, i);
		if (!json_equal(x, y))
			add(c, "smbios", ml_strdup_printf("%s string %zu", label, i + 1), jstr(x), jstr(y), NULL);
	}
}

/* SMBIOS entry points (2.1 "_SM_" and 3.0 "_SM3_"), by field. */
static const struct ml_abi_reg ep2_regs[] = {
	{ 0x04, 1, "checksum" }, { 0x05, 1, "length" }, { 0x06, 1, "major version" },
	{ 0x07, 1, "minor version" }, { 0x08, 2, "max structure size" }, { 0x0a, 1, "revision" },
	{ 0x15, 1, "intermediate checksum" }, { 0x16, 2, "structure table length" },
	{ 0x18, 4, "structure table address" }, { 0x1c, 2, "number of structures" }, { 0x1e, 1, "BCD revision" },
};
static const struct ml_abi_reg ep3_regs[] = {
	{ 0x05, 1, "checksum" }, { 0x06, 1, "length" }, { 0x07, 1, "major version" },
	{ 0x08, 1, "minor version" }, { 0x09, 1, "docrev" }, { 0x0a, 1, "revision" },
	{ 0x0c, 4, "structure table maximum size" }, { 0x10, 8, "structure table address" },
};
static const struct ml_abi_layout ep2 = { "_SM_", 0x1f, ep2_regs, ML_ARRAY_SIZE(ep2_regs) };
static const struct ml_abi_layout ep3 = { "_SM3_", 0x18, ep3_regs, ML_ARRAY_SIZE(ep3_regs) };

static void diff_entry_point(struct ctx *c, const json_t *a, const json_t *b)
{
	const json_t *ja = json_object_get(a, "entry_point"), *jb = json_object_get(b, "entry_point");
	struct blob ba = { 0 }, bb = { 0 };

	if (json_equal(ja, jb) || (!ja && !jb))
		return;
	if (blob_decode(json_string_value(ja), &ba) && blob_decode(json_string_value(jb), &bb) &&
	    ba.n >= 5 && bb.n >= 5 && memcmp(ba.b, bb.b, 4) == 0) {
		const struct ml_abi_layout *lay = memcmp(ba.b, "_SM3_", 5) == 0 ? &ep3 : &ep2;
		size_t len = ba.n > bb.n ? ba.n : bb.n;
		diff_struct(c, "smbios", lay == &ep3 ? "entry point (3.0)" : "entry point (2.1)", &ba, 0, &bb, 0,
			    0, len, lay, NULL, false);
	} else {
		add(c, "smbios", strdup("entry_point"), jstr(ja), jstr(jb), NULL);
	}
	blob_free(&ba);
	blob_free(&bb);
}

static void diff_smbios(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "structures", "entry_point", NULL };
	size_t na, nb, i = 0, j = 0, count_a[256] = { 0 }, count_b[256] = { 0 };
	struct item *ia, *ib;

	cmp_rest(c, "smbios", NULL, a, b, handled);
	diff_entry_point(c, a, b);
	/* keyed() keeps the dump's order among equal types ("017", "017#1"...) */
	ia = keyed(json_object_get(a, "structures"), smbios_key, &na);
	ib = keyed(json_object_get(b, "structures"), smbios_key, &nb);
	for (size_t k = 0; k < na; k++)
		count_a[ml_json_int(ia[k].v, "type", 0) & 0xff]++;
	for (size_t k = 0; k < nb; k++)
		count_b[ml_json_int(ib[k].v, "type", 0) & 0xff]++;
	while (i < na || j < nb) {
		int r = i >= na ? 1 : j >= nb ? -1 : strcmp(ia[i].key, ib[j].key);
		const struct item *it = r <= 0 ? &ia[i] : &ib[j];
		const char *hash = strchr(it->key, '#');
		unsigned type = ml_json_int(it->v, "type", 0) & 0xff;
		/* numbered when either side has more than one of the type */
		ml_autofree char *dup = count_a[type] > 1 || count_b[type] > 1
						? ml_strdup_printf(" #%d", hash ? atoi(hash + 1) + 1 : 1)
						: strdup("");
		ml_autofree char *label = smbios_label(it->v, dup);
		if (r == 0) {
			smbios_compare(c, label, ia[i].v, ib[j].v);
			i++;
			j++;
		} else if (r < 0) {
			add(c, "smbios", strdup(label), smbios_desc(ia[i].v), NULL, NULL);
			i++;
		} else {
			add(c, "smbios", strdup(label), NULL, smbios_desc(ib[j].v), NULL);
			j++;
		}
	}
	free_items(ia, na);
	free_items(ib, nb);
}

/* ---- virtio --------------------------------------------------------------- */

static char *virtio_key(const json_t *e, size_t i)
{
	const char *k = ml_json_str(e, "bdf") ? ml_json_str(e, "bdf") : ml_json_str(e, "name");
	return strdup(k ? k : "");
}

static void virtio_features(struct ctx *c, const char *label, const json_t *a, const json_t *b,
			    const char *m, const char *what)
{
	json_t *va = json_object_get(a, m), *vb = json_object_get(b, m);
	uint64_t xa, xb, changed;
	long long dev = ml_json_int(a, "device_id", -1);

	if (json_equal(va, vb) || (!va && !vb))
		return;
	if (!ml_abi_parse_hex64(json_string_value(va), &xa) || !ml_abi_parse_hex64(json_string_value(vb), &xb)) {
		add(c, "virtio", ml_strdup_printf("%s %s", label, what), jstr(va), jstr(vb), NULL);
		return;
	}
	changed = xa ^ xb;
	for (unsigned bit = 0; bit < 64; bit++) {
		const char *name = NULL;
		if (!(changed >> bit & 1))
			continue;
		for (size_t i = 0; i < ml_virtio_features_count && !name; i++) {
			const struct ml_virtio_feature *f = &ml_virtio_features[i];
			if (f->bit == bit && (f->device_id == 0 || (long long)f->device_id == dev))
				name = f->name;
		}
		add(c, "virtio",
		    name ? ml_strdup_printf("%s %s %s (bit %u)", label, what, name, bit)
			 : ml_strdup_printf("%s %s bit %u", label, what, bit),
		    ml_strdup_printf("%u", (unsigned)(xa >> bit & 1)), ml_strdup_printf("%u", (unsigned)(xb >> bit & 1)),
		    NULL);
	}
}

static void virtio_pair(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "bdf", "features_offered", "features_negotiated", "queues", NULL };
	const json_t *e = a ? a : b;
	ml_autofree char *id = safe(ml_json_str(e, "bdf") ? ml_json_str(e, "bdf") : ml_json_str(e, "name"));
	ml_autofree char *type = safe(ml_json_str(e, "type") ? ml_json_str(e, "type") : "?");
	ml_autofree char *label = ml_strdup_printf("%s (%s)", id, type);
	const json_t *qa, *qb;
	size_t nq;

	if (!a || !b) {
		char *desc = ml_strdup_printf("device id %lld, %zu queues", ml_json_int(e, "device_id", -1),
					      json_array_size(json_object_get(e, "queues")));
		add(c, "virtio", ml_strdup_printf("device %s", label), a ? desc : NULL, b ? desc : NULL, NULL);
		return;
	}
	if (ml_json_int(a, "device_id", -1) != ml_json_int(b, "device_id", -1)) {
		ml_autofree char *tb = safe(ml_json_str(b, "type") ? ml_json_str(b, "type") : "?");
		add(c, "virtio", ml_strdup_printf("device %s", id),
		    ml_strdup_printf("device id %lld (%s)", ml_json_int(a, "device_id", -1), type),
		    ml_strdup_printf("device id %lld (%s)", ml_json_int(b, "device_id", -1), tb),
		    strdup("another virtio device at this address: its features are not compared"));
		return;
	}
	cmp_rest(c, "virtio", label, a, b, handled);
	virtio_features(c, label, a, b, "features_offered", "offered");
	virtio_features(c, label, a, b, "features_negotiated", "negotiated");
	qa = json_object_get(a, "queues");
	qb = json_object_get(b, "queues");
	if (json_array_size(qa) != json_array_size(qb) &&
	    !(json_object_get(a, "num_queues") && json_object_get(b, "num_queues")))
		add(c, "virtio", ml_strdup_printf("%s queue count", label),
		    ml_strdup_printf("%zu", json_array_size(qa)), ml_strdup_printf("%zu", json_array_size(qb)), NULL);
	nq = json_array_size(qa) < json_array_size(qb) ? json_array_size(qa) : json_array_size(qb);
	for (size_t i = 0; i < nq; i++) {
		ml_autofree char *ql = ml_strdup_printf("%s queue %zu", label, i);
		static const char *const none[] = { "index", NULL };
		cmp_rest(c, "virtio", ql, json_array_get(qa, i), json_array_get(qb, i), none);
	}
}

static void diff_virtio(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "devices", NULL };
	cmp_rest(c, "virtio", NULL, a, b, handled);
	merge_lists(c, json_object_get(a, "devices"), json_object_get(b, "devices"), virtio_key, virtio_pair);
}

/* ---- memory map, cpu, clocksource, kernel ----------------------------------- */

static char *mem_key(const json_t *e, size_t i)
{
	return ml_strdup_printf("%016" PRIx64, hexval(e, "start"));
}

static char *mem_desc(const json_t *e)
{
	ml_autofree char *type = safe(ml_json_str(e, "type"));
	return ml_strdup_printf("0x%" PRIx64 "..0x%" PRIx64 " %s", hexval(e, "start"), hexval(e, "end"), type);
}

static void mem_pair(struct ctx *c, const json_t *a, const json_t *b)
{
	ml_autofree char *label = ml_strdup_printf("entry at 0x%" PRIx64, hexval(a ? a : b, "start"));
	static const char *const handled[] = { "start", "end", "type", NULL };
	char *da, *db;

	if (!a || !b) {
		add(c, "memory_map", strdup(label), a ? mem_desc(a) : NULL, b ? mem_desc(b) : NULL, NULL);
		return;
	}
	da = mem_desc(a);
	db = mem_desc(b);
	if (strcmp(da, db) != 0) {
		add(c, "memory_map", strdup(label), da, db, NULL);
	} else {
		free(da);
		free(db);
	}
	cmp_rest(c, "memory_map", label, a, b, handled);
}

static void diff_memory_map(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "entries", NULL };
	cmp_rest(c, "memory_map", NULL, a, b, handled);
	merge_lists(c, json_object_get(a, "entries"), json_object_get(b, "entries"), mem_key, mem_pair);
}

/* Set difference of two string lists: "flag erms: present -> absent". */
static void diff_set(struct ctx *c, const char *section, const char *what, const json_t *la,
		     const json_t *lb)
{
	size_t na = json_array_size(la), nb = json_array_size(lb), i = 0, j = 0;
	const char **a = calloc(na + 1, sizeof(*a)), **b = calloc(nb + 1, sizeof(*b));
	size_t ka = 0, kb = 0;

	if (!a || !b)
		abort();
	if (!json_is_array(la) || !json_is_array(lb)) {
		if (!json_equal(la, lb) && (la || lb))
			add(c, section, strdup(what), jstr(la), jstr(lb), NULL);
		free(a);
		free(b);
		return;
	}
	for (size_t k = 0; k < na; k++)
		if (json_string_value(json_array_get(la, k)))
			a[ka++] = json_string_value(json_array_get(la, k));
	for (size_t k = 0; k < nb; k++)
		if (json_string_value(json_array_get(lb, k)))
			b[kb++] = json_string_value(json_array_get(lb, k));
	qsort(a, ka, sizeof(*a), cmp_str);
	qsort(b, kb, sizeof(*b), cmp_str);
	while (i < ka || j < kb) {
		int r = i >= ka ? 1 : j >= kb ? -1 : strcmp(a[i], b[j]);
		if (r == 0) {
			i++;
			j++;
			continue;
		}
		{
			ml_autofree char *name = safe(r < 0 ? a[i] : b[j]);
			add(c, section, ml_strdup_printf("%s %s", what, name), r < 0 ? strdup("present") : NULL,
			    r > 0 ? strdup("present") : NULL, NULL);
		}
		if (r < 0)
			i++;
		else
			j++;
	}
	free(a);
	free(b);
}

static void diff_cpu(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "flags", "bugs", NULL };
	cmp_rest(c, "cpu", NULL, a, b, handled);
	diff_set(c, "cpu", "flag", json_object_get(a, "flags"), json_object_get(b, "flags"));
	diff_set(c, "cpu", "bug", json_object_get(a, "bugs"), json_object_get(b, "bugs"));
}

/* The TSC as the kernel names it before and after it refines its frequency
 * ("tsc-early" becomes "tsc" about a second into a boot, later on a slow
 * one): one clock, whichever name a dump caught. Anything else the guest
 * switches to (hpet, acpi_pm: the TSC judged unstable) still differs. */
static json_t *clocksource_settled(const json_t *cs)
{
	json_t *out = json_is_object(cs) ? json_deep_copy(cs) : NULL;
	json_t *avail = out ? json_object_get(out, "available") : NULL;
	json_t *v;
	size_t i;
	bool has_tsc = false;

	if (!out)
		return NULL;
	if (ml_str_eq(ml_json_str(out, "current"), "tsc-early"))
		ml_json_set_str(out, "current", "tsc");
	json_array_foreach(avail, i, v)
		if (ml_str_eq(json_string_value(v), "tsc"))
			has_tsc = true;
	for (i = 0; i < json_array_size(avail);) {
		if (ml_str_eq(json_string_value(json_array_get(avail, i)), "tsc-early")) {
			if (has_tsc) {
				json_array_remove(avail, i);
				continue;
			}
			json_array_set_new(avail, i, json_string("tsc"));
			has_tsc = true;
		}
		i++;
	}
	return out;
}

static void diff_clocksource(struct ctx *c, const json_t *a, const json_t *b)
{
	static const char *const handled[] = { "available", NULL };
	json_t *sa = clocksource_settled(a), *sb = clocksource_settled(b);

	cmp_rest(c, "clocksource", NULL, sa, sb, handled);
	diff_set(c, "clocksource", "available", json_object_get(sa, "available"),
		 json_object_get(sb, "available"));
	json_decref(sa);
	json_decref(sb);
}

static void diff_generic(struct ctx *c, const char *section, const json_t *a, const json_t *b)
{
	cmp_rest(c, section, NULL, a, b, NULL);
}

/* ---- the engine ------------------------------------------------------------- */

static const struct {
	const char *name, *label;
	void (*fn)(struct ctx *c, const json_t *a, const json_t *b);
} section_table[] = {
	{ "kernel", "kernel", NULL },
	{ "cpuid", "CPUID", diff_cpuid },
	{ "msr", "MSR", diff_msr },
	{ "pci", "PCI", diff_pci },
	{ "acpi", "ACPI", diff_acpi },
	{ "smbios", "SMBIOS", diff_smbios },
	{ "virtio", "virtio", diff_virtio },
	{ "memory_map", "memory map", diff_memory_map },
	{ "cpu", "cpu", diff_cpu },
	{ "clocksource", "clocksource", diff_clocksource },
};

int ml_abi_diff_dumps(const json_t *before, const json_t *after, const struct ml_abi_volatile *vol,
		      const struct ml_abi_diff_options *o, struct ml_abi_diff *out)
{
	json_t *a, *b;
	struct ctx c = { .d = out, .iasl = o ? o->iasl : NULL,
			 .detail_limit = o && o->detail_limit ? o->detail_limit : DEFAULT_DETAIL_LIMIT };
	const char *top[ML_ARRAY_SIZE(section_table) + 2];

	memset(out, 0, sizeof(*out));
	if (ml_abi_validate(before, "before") < 0 || ml_abi_validate(after, "after") < 0)
		return -1;
	a = ml_abi_redact(before, vol);
	b = ml_abi_redact(after, vol);
	for (size_t i = 0; i < ML_ARRAY_SIZE(section_table); i++) {
		json_t *sa = json_object_get(a, section_table[i].name);
		json_t *sb = json_object_get(b, section_table[i].name);
		top[i] = section_table[i].name;
		if (json_equal(sa, sb))
			continue;
		if (section_table[i].fn)
			section_table[i].fn(&c, sa, sb);
		else
			diff_generic(&c, section_table[i].name, sa, sb);
	}
	/* everything else at the top level (boot_id, agent...; schema is equal) */
	top[ML_ARRAY_SIZE(section_table)] = "schema";
	top[ML_ARRAY_SIZE(section_table) + 1] = NULL;
	cmp_rest(&c, "dump", NULL, a, b, top);
	json_decref(a);
	json_decref(b);
	return 0;
}

/* ---- rendering -------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *ml_abi_diff_to_json(const struct ml_abi_diff *d)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < d->n; i++) {
		const struct ml_abi_difference *x = &d->items[i];
		json_t *o = json_object();
		ml_json_set(o, "section", json_string(x->section));
		ml_json_set(o, "key", json_string(x->key));
		ml_json_set(o, "what", json_string(x->what));
		ml_json_set(o, "before", str_or_null(x->before));
		ml_json_set(o, "after", str_or_null(x->after));
		ml_json_set(o, "detail", str_or_null(x->detail));
		json_array_append_new(arr, o);
	}
	return arr;
}

static const char *section_label(const char *s)
{
	for (size_t i = 0; i < ML_ARRAY_SIZE(section_table); i++)
		if (strcmp(section_table[i].name, s) == 0)
			return section_table[i].label;
	return s;
}

/* Text a terminal can show: control bytes other than tab become '?'. */
static void put_clean(struct ml_buf *b, const char *s)
{
	for (; *s; s++)
		ml_buf_append(b, ((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f ? "?" : s, 1);
}

static void render_one(struct ml_buf *b, const char *section, const char *key, const char *before,
		       const char *after, const char *detail)
{
	put_clean(b, section_label(section));
	ml_buf_puts(b, " ");
	put_clean(b, key);
	ml_buf_puts(b, ": ");
	put_clean(b, before ? before : "absent");
	ml_buf_puts(b, " -> ");
	put_clean(b, after ? after : "absent");
	ml_buf_puts(b, "\n");
	if (detail) {
		const char *s = detail;
		while (*s) {
			const char *nl = strchr(s, '\n');
			size_t n = nl ? (size_t)(nl - s) : strlen(s);
			char *line = strndup(s, n);
			if (!line)
				abort();
			ml_buf_puts(b, "    ");
			put_clean(b, line);
			ml_buf_puts(b, "\n");
			free(line);
			s += n + (nl ? 1 : 0);
		}
	}
}

char *ml_abi_diff_to_text(const struct ml_abi_diff *d)
{
	struct ml_buf b = ML_BUF_INIT(0);
	for (size_t i = 0; i < d->n; i++) {
		const struct ml_abi_difference *x = &d->items[i];
		render_one(&b, x->section, x->key, x->before, x->after, x->detail);
	}
	return ml_buf_steal(&b);
}

char *ml_abi_diff_json_to_text(const json_t *diffs)
{
	struct ml_buf b = ML_BUF_INIT(0);
	size_t i;
	json_t *x;
	json_array_foreach(diffs, i, x) {
		render_one(&b, ml_json_str(x, "section") ? ml_json_str(x, "section") : "?",
			   ml_json_str(x, "key") ? ml_json_str(x, "key") : "?", ml_json_str(x, "before"),
			   ml_json_str(x, "after"), ml_json_str(x, "detail"));
	}
	return ml_buf_steal(&b);
}
