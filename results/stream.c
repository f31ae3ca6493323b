/* Decoder of QEMU migration streams (see stream.h and docs/stream.md). The
 * layout follows QEMU's migration/savevm.c, ram.c and vmstate.c; every read
 * goes through a bounds-checked cursor and errors name the offset, what was
 * expected and what was found. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "stream.h"
#include "ml-common.h"

#define QEMU_VM_FILE_MAGIC 0x5145564dU
#define QEMU_VM_FILE_VERSION_COMPAT 2
#define QEMU_VM_FILE_VERSION 3

enum {
	QEMU_VM_EOF = 0x00,
	QEMU_VM_SECTION_START = 0x01,
	QEMU_VM_SECTION_PART = 0x02,
	QEMU_VM_SECTION_END = 0x03,
	QEMU_VM_SECTION_FULL = 0x04,
	QEMU_VM_SUBSECTION = 0x05,
	QEMU_VM_VMDESCRIPTION = 0x06,
	QEMU_VM_CONFIGURATION = 0x07,
	QEMU_VM_COMMAND = 0x08,
	QEMU_VM_SECTION_FOOTER = 0x7e,
};

/* RAM record flags, in the low bits of each record's be64 address. */
enum {
	RAM_FLAG_FULL = 0x01, /* obsolete */
	RAM_FLAG_ZERO = 0x02,
	RAM_FLAG_MEM_SIZE = 0x04,
	RAM_FLAG_PAGE = 0x08,
	RAM_FLAG_EOS = 0x10,
	RAM_FLAG_CONTINUE = 0x20,
	RAM_FLAG_XBZRLE = 0x40,
	RAM_FLAG_HOOK = 0x80, /* RDMA */
	RAM_FLAG_COMPRESS_PAGE = 0x100,
	RAM_FLAG_MULTIFD_FLUSH = 0x200,
};

#define MAX_SECTION_IDS 4096
#define MAX_RAM_BLOCKS 1024
#define MAX_SECTION_ENTRIES 20000
#define MAX_DEPTH 16
#define MAX_PACKAGED_DEPTH 2
#define MAX_ARRAY_ITER 65536
/* Field decodings per stream: struct arrays nest, so a small description can
 * ask for exponential work; past this budget the decoder stops. */
#define MAX_WORK 300000

/* A bounded cursor over part of the stream; base is the absolute offset of p[0]. */
struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	size_t base;
};

struct section_id {
	uint32_t id;
	char idstr[256];
	uint32_t instance_id;
	uint32_t version_id;
};

struct ram_block {
	char name[256];
	uint64_t length;
	uint64_t zero, normal, xbzrle, compressed, bytes, bad_offset;
};

struct dec {
	unsigned flags;
	char err[768];
	bool failed;
	int footers; /* -1 unknown, 0 absent, 1 present */
	uint64_t page_size;
	bool postcopy_advised;
	bool ignore_shared;
	struct section_id *ids;
	size_t n_ids;
	struct ram_block *blocks;
	size_t n_blocks;
	int cur_block; /* block of the last page record, for RAM_FLAG_CONTINUE */
	uint64_t ram_total;
	json_t *vmdesc;         /* parsed VM description, or NULL */
	json_t *vmdesc_index;   /* "idstr#instance" -> [entry indexes], in order */
	size_t vmdesc_cursor;   /* next device entry expected */
	unsigned long work;
	json_t *sections;       /* summary arrays being filled */
	json_t *devices;
	size_t n_fields;
	bool fields_truncated;
	size_t end; /* where the section stream ends (before the VM description) */
};

static void fail(struct dec *d, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct dec *d, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (d->failed)
		return;
	d->failed = true;
	n = snprintf(d->err, sizeof(d->err), "offset %zu: ", off);
	if (n < 0 || (size_t)n >= sizeof(d->err))
		return;
	va_start(ap, fmt);
	vsnprintf(d->err + n, sizeof(d->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

static size_t rd_off(const struct rd *r)
{
	return r->base + r->pos;
}

static size_t rd_left(const struct rd *r)
{
	return r->len - r->pos;
}

static int need(struct dec *d, struct rd *r, size_t n, const char *what)
{
	if (rd_left(r) >= n)
		return 0;
	if (rd_left(r) == 0)
		fail(d, rd_off(r), "expected %s (%zu bytes), found the end of the %s", what, n,
		     r->base + r->len == d->end ? "stream" : "section");
	else
		fail(d, rd_off(r), "expected %s (%zu bytes), found only %zu bytes before the end of the %s",
		     what, n, rd_left(r), r->base + r->len == d->end ? "stream" : "section");
	return -1;
}

static int get_u8(struct dec *d, struct rd *r, const char *what, uint8_t *v)
{
	if (need(d, r, 1, what) < 0)
		return -1;
	*v = r->p[r->pos++];
	return 0;
}

static uint64_t be_n(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int get_be(struct dec *d, struct rd *r, size_t n, const char *what, uint64_t *v)
{
	if (need(d, r, n, what) < 0)
		return -1;
	*v = be_n(r->p + r->pos, n);
	r->pos += n;
	return 0;
}

static int get_be32(struct dec *d, struct rd *r, const char *what, uint32_t *v)
{
	uint64_t x;
	if (get_be(d, r, 4, what, &x) < 0)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static int skip(struct dec *d, struct rd *r, size_t n, const char *what)
{
	if (need(d, r, n, what) < 0)
		return -1;
	r->pos += n;
	return 0;
}

/* Printable copy of untrusted bytes: non-printables become '?'. */
static void printable(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t i;
	for (i = 0; i < n && i + 1 < cap; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[i] = '\0';
}

/* A u8-length-prefixed string (idstr, block name, subsection name). */
static int get_str8(struct dec *d, struct rd *r, const char *what, char out[256])
{
	uint8_t n;
	if (get_u8(d, r, what, &n) < 0 || need(d, r, n, what) < 0)
		return -1;
	printable(out, 256, r->p + r->pos, n);
	r->pos += n;
	return 0;
}

static char *hex_of(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(n * 2 + 1);
	if (!s)
		abort();
	for (size_t i = 0; i < n; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[n * 2] = '\0';
	return s;
}

static const char *section_type_name(int t)
{
	switch (t) {
	case QEMU_VM_EOF: return "eof";
	case QEMU_VM_SECTION_START: return "start";
	case QEMU_VM_SECTION_PART: return "part";
	case QEMU_VM_SECTION_END: return "end";
	case QEMU_VM_SECTION_FULL: return "full";
	case QEMU_VM_SUBSECTION: return "subsection";
	case QEMU_VM_VMDESCRIPTION: return "vmdescription";
	case QEMU_VM_CONFIGURATION: return "configuration";
	case QEMU_VM_COMMAND: return "command";
	case QEMU_VM_SECTION_FOOTER: return "footer";
	default: return NULL;
	}
}

static const char *command_name(unsigned cmd)
{
	static const char *const names[] = {
		[1] = "open-return-path", [2] = "ping", [3] = "postcopy-advise",
		[4] = "postcopy-listen", [5] = "postcopy-run", [6] = "postcopy-ram-discard",
		[7] = "postcopy-resume", [8] = "packaged", [9] = "recv-bitmap",
		[10] = "enable-colo", [11] = "switchover-start",
	};
	return cmd < ML_ARRAY_SIZE(names) ? names[cmd] : NULL;
}

/* ---- section ids -------------------------------------------------------- */

static struct section_id *find_id(struct dec *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_ids; i++)
		if (d->ids[i].id == id)
			return &d->ids[i];
	return NULL;
}

static struct section_id *add_id(struct dec *d, size_t off, uint32_t id, const char *idstr,
				 uint32_t inst, uint32_t ver)
{
	struct section_id *s = find_id(d, id);
	if (!s) {
		if (d->n_ids >= MAX_SECTION_IDS) {
			fail(d, off, "expected at most %d distinct section ids, found more", MAX_SECTION_IDS);
			return NULL;
		}
		if (!d->ids) {
			d->ids = calloc(MAX_SECTION_IDS, sizeof(*d->ids));
			if (!d->ids)
				abort();
		}
		s = &d->ids[d->n_ids++];
	}
	s->id = id;
	snprintf(s->idstr, sizeof(s->idstr), "%s", idstr);
	s->instance_id = inst;
	s->version_id = ver;
	return s;
}

/* ---- RAM ---------------------------------------------------------------- */

static struct ram_block *find_block(struct dec *d, const char *name)
{
	for (size_t i = 0; i < d->n_blocks; i++)
		if (strcmp(d->blocks[i].name, name) == 0)
			return &d->blocks[i];
	return NULL;
}

static struct ram_block *add_block(struct dec *d, size_t off, const char *name)
{
	struct ram_block *b = find_block(d, name);
	if (b)
		return b;
	if (d->n_blocks >= MAX_RAM_BLOCKS) {
		fail(d, off, "expected at most %d RAM blocks, found more", MAX_RAM_BLOCKS);
		return NULL;
	}
	if (!d->blocks) {
		d->blocks = calloc(MAX_RAM_BLOCKS, sizeof(*d->blocks));
		if (!d->blocks)
			abort();
	}
	b = &d->blocks[d->n_blocks++];
	snprintf(b->name, sizeof(b->name), "%s", name);
	return b;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* RAM_FLAG_MEM_SIZE: the total, then each block's name and used length. */
static int ram_mem_size(struct dec *d, struct rd *r, uint64_t total)
{
	uint64_t left = total;

	d->ram_total = total;
	while (left > 0) {
		char name[256];
		uint64_t blen;
		size_t off = rd_off(r);
		struct ram_block *b;

		if (get_str8(d, r, "a RAM block name", name) < 0 ||
		    get_be(d, r, 8, "a RAM block length", &blen) < 0)
			return -1;
		if (blen > left) {
			fail(d, off, "expected RAM block '%s' to fit the announced total (%" PRIu64
				     " bytes left), found length %" PRIu64, name, left, blen);
			return -1;
		}
		if (blen == 0 && left > 0) {
			/* A zero-length block would not progress; QEMU never sends one,
			 * but bound the loop anyway by the record count. */
			if (d->n_blocks >= MAX_RAM_BLOCKS) {
				fail(d, off, "expected RAM blocks to add up to the total, found only empty ones");
				return -1;
			}
		}
		left -= blen;
		b = add_block(d, off, name);
		if (!b)
			return -1;
		b->length = blen;
		/* The block's page size follows when postcopy is advised and it
		 * differs from the host's (hugepages): a power of two above 4 KiB,
		 * never the first bytes of a block name or a RAM record. */
		if (d->postcopy_advised && rd_left(r) >= 8) {
			uint64_t ps = be_n(r->p + r->pos, 8);
			if (is_pow2(ps) && ps > 4096 && ps <= ((uint64_t)1 << 30))
				r->pos += 8;
		}
		if (d->ignore_shared && skip(d, r, 8, "the RAM block's address (x-ignore-shared)") < 0)
			return -1;
	}
	return 0;
}

/* RAM records up to RAM_FLAG_EOS; counts pages per block into the section entry. */
static int ram_records(struct dec *d, struct rd *r, json_t *entry)
{
	uint64_t zero = 0, normal = 0, xbzrle = 0, compressed = 0, records = 0;
	uint64_t mask = d->page_size - 1;

	for (;;) {
		uint64_t v, flags, addr, kind;
		size_t off = rd_off(r);
		struct ram_block *b = NULL;

		if (get_be(d, r, 8, "a RAM record (be64 address and flags)", &v) < 0)
			return -1;
		records++;
		flags = v & mask;
		addr = v & ~mask;
		if (flags & RAM_FLAG_MEM_SIZE) {
			if (ram_mem_size(d, r, addr) < 0)
				return -1;
			continue;
		}
		kind = flags & ~(uint64_t)RAM_FLAG_CONTINUE;
		if (kind == RAM_FLAG_ZERO || kind == RAM_FLAG_PAGE || kind == RAM_FLAG_XBZRLE ||
		    kind == RAM_FLAG_COMPRESS_PAGE) {
			if (flags & RAM_FLAG_CONTINUE) {
				if (d->cur_block < 0) {
					fail(d, off, "expected a RAM block name before a CONTINUE page, "
						     "found a CONTINUE page first");
					return -1;
				}
				b = &d->blocks[d->cur_block];
			} else {
				char name[256];
				if (get_str8(d, r, "the page's RAM block name", name) < 0)
					return -1;
				b = add_block(d, off, name);
				if (!b)
					return -1;
				d->cur_block = (int)(b - d->blocks);
			}
			if (addr >= b->length)
				b->bad_offset++;
		}
		switch (kind) {
		case RAM_FLAG_ZERO: {
			uint8_t fill;
			if (get_u8(d, r, "the zero page's fill byte", &fill) < 0)
				return -1;
			b->zero++;
			zero++;
			break;
		}
		case RAM_FLAG_PAGE:
			if (skip(d, r, d->page_size, "a page of RAM") < 0)
				return -1;
			b->normal++;
			b->bytes += d->page_size;
			normal++;
			break;
		case RAM_FLAG_XBZRLE: {
			uint8_t enc;
			uint64_t n;
			if (get_u8(d, r, "the XBZRLE encoding byte", &enc) < 0)
				return -1;
			if (enc != 1) {
				fail(d, rd_off(r) - 1, "expected XBZRLE encoding 1, found %u", enc);
				return -1;
			}
			if (get_be(d, r, 2, "the XBZRLE length", &n) < 0 ||
			    skip(d, r, n, "XBZRLE data") < 0)
				return -1;
			b->xbzrle++;
			b->bytes += n;
			xbzrle++;
			break;
		}
		case RAM_FLAG_COMPRESS_PAGE: {
			uint64_t n;
			if (get_be(d, r, 4, "the compressed page length", &n) < 0 ||
			    skip(d, r, n, "compressed page data") < 0)
				return -1;
			b->compressed++;
			b->bytes += n;
			compressed++;
			break;
		}
		case RAM_FLAG_MULTIFD_FLUSH:
			break;
		case RAM_FLAG_EOS:
			/* Accumulate: a run of PART sections shares one entry. */
			ml_json_set_int(entry, "records", ml_json_int(entry, "records", 0) + (long long)records);
			if (zero)
				ml_json_set_int(entry, "zero_pages", ml_json_int(entry, "zero_pages", 0) + (long long)zero);
			if (normal)
				ml_json_set_int(entry, "pages", ml_json_int(entry, "pages", 0) + (long long)normal);
			if (xbzrle)
				ml_json_set_int(entry, "xbzrle_pages",
						ml_json_int(entry, "xbzrle_pages", 0) + (long long)xbzrle);
			if (compressed)
				ml_json_set_int(entry, "compressed_pages",
						ml_json_int(entry, "compressed_pages", 0) + (long long)compressed);
			return 0;
		case RAM_FLAG_HOOK:
			fail(d, off, "expected a RAM record, found an RDMA hook (flags 0x%" PRIx64
				     "), which only RDMA migration sends", flags);
			return -1;
		default:
			fail(d, off, "expected a RAM record (flags ZERO, PAGE, XBZRLE, EOS, ...), "
				     "found flags 0x%" PRIx64 " (address 0x%" PRIx64 ")", flags, addr);
			return -1;
		}
	}
}

/* ---- device state from the VM description -------------------------------- */

static bool starts_with(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* A JSON value for one scalar of a known type, or NULL for hex. */
static json_t *scalar_value(const char *type, const uint8_t *p, size_t size)
{
	uint64_t u;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return NULL;
	u = be_n(p, size);
	if (strcmp(type, "bool") == 0 && size == 1 && u <= 1)
		return json_boolean(u);
	if (starts_with(type, "uint")) {
		if (u > (uint64_t)INT64_MAX) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%" PRIu64, u);
			return json_string(buf);
		}
		return json_integer((json_int_t)u);
	}
	if (starts_with(type, "int") || strcmp(type, "timer") == 0) {
		int64_t s;
		if (size == 8)
			s = (int64_t)u;
		else if (u & ((uint64_t)1 << (size * 8 - 1)))
			s = (int64_t)(u | ~(((uint64_t)1 << (size * 8)) - 1));
		else
			s = (int64_t)u;
		return json_integer(s);
	}
	if (strcmp(type, "float64") == 0 && size == 8) {
		double f;
		memcpy(&f, &u, sizeof(f));
		if (f != f || f - f != 0) /* NaN or infinite: JSON cannot hold it */
			return NULL;
		return json_real(f);
	}
	return NULL;
}

static void set_hex(json_t *field, const uint8_t *p, size_t n)
{
	size_t shown = n > ML_STREAM_HEX_MAX ? ML_STREAM_HEX_MAX : n;
	char *h = hex_of(p, shown);
	size_t text = 0;

	ml_json_set(field, "hex", json_string(h));
	free(h);
	if (shown < n)
		ml_json_set(field, "truncated", json_true());
	/* A NUL-padded printable string (runstate, names): show it as text too. */
	while (text < shown && p[text] >= 0x20 && p[text] < 0x7f)
		text++;
	if (text > 0 && (text == n || p[text] == 0)) {
		char buf[ML_STREAM_HEX_MAX + 1];
		memcpy(buf, p, text);
		buf[text] = '\0';
		ml_json_set_str(field, "text", buf);
	}
}

static json_t *new_field(struct dec *d, json_t *out, const char *path, const char *type,
			 size_t size, size_t off)
{
	json_t *f;

	if (!out)
		return NULL;
	if (d->n_fields >= ML_STREAM_MAX_FIELDS) {
		d->fields_truncated = true;
		return NULL;
	}
	d->n_fields++;
	f = json_object();
	ml_json_set_str(f, "path", path);
	ml_json_set_str(f, "type", type);
	ml_json_set_int(f, "size", (long long)size);
	ml_json_set_int(f, "offset", (long long)off);
	json_array_append_new(out, f);
	return f;
}

static int dec_vmsd(struct dec *d, struct rd *r, const json_t *desc, const char *prefix,
		    int depth, json_t *out);

/* ---- virtio ------------------------------------------------------------- */

/* QEMU saves a virtio device (virtio_save) without describing it: the VM
 * description has one opaque "virtio" field. For the PCI transport the layout
 * is fixed enough to name what failures are about: the PCI device state
 * (version, config space, irq state), MSI-X table and PBA (sizes from the
 * config space's MSI-X capability), the config vector, then status, isr,
 * queue_sel, the low guest features, the device config, the queues, the
 * device's own vmsd (opaque) and the "virtio/..." subsections (found by
 * name; virtio/64bit_features holds all 64 guest feature bits). Anything that
 * does not fit stops the walk quietly: the hex stays. */
static uint64_t rd_be(const uint8_t *p, size_t n, size_t *pos, size_t len, bool *ok)
{
	uint64_t v;
	if (!*ok || len - *pos < n) {
		*ok = false;
		return 0;
	}
	v = be_n(p + *pos, n);
	*pos += n;
	return v;
}

static void virtio_int(struct dec *d, json_t *out, const char *prefix, const char *name,
		       const char *type, size_t size, size_t off, uint64_t v)
{
	char path[600];
	json_t *f;
	snprintf(path, sizeof(path), "%s%s", prefix, name);
	f = new_field(d, out, path, type, size, off);
	if (f)
		ml_json_set(f, "value", v > (uint64_t)INT64_MAX ? json_string("(>int64)") : json_integer((json_int_t)v));
}

/* Size of the MSI-X table (entries) from a PCI config space, 0 if none; sets
 * *express when a PCI Express capability is present. */
static unsigned pci_msix_entries(const uint8_t *cfg, bool *express)
{
	unsigned ptr, n = 0;
	*express = false;
	if (!(cfg[6] & 0x10)) /* status: capability list */
		return 0;
	ptr = cfg[0x34] & 0xfc;
	for (int i = 0; i < 48 && ptr >= 0x40 && ptr + 3 < 256; i++) {
		if (cfg[ptr] == 0x10)
			*express = true;
		if (cfg[ptr] == 0x11)
			n = ((unsigned)cfg[ptr + 2] | (unsigned)cfg[ptr + 3] << 8) % 0x800 + 1;
		ptr = cfg[ptr + 1] & 0xfc;
	}
	return n;
}

static void dec_virtio(struct dec *d, const uint8_t *p, size_t len, size_t base, const char *path,
		       json_t *out)
{
	char pre[600], name[64];
	size_t pos = 0;
	bool ok = true, express;
	unsigned msix, nq;
	uint64_t v;

	if (!out || len < 4 + 256 || p[4] != 0xf4 || p[5] != 0x1a) /* vendor 0x1af4 */
		return;
	snprintf(pre, sizeof(pre), "%s.", path);
	msix = pci_msix_entries(p + 4, &express);
	pos = 4 + (express ? 4096 : 256) + 16; /* version_id, config, irq_state */
	if (pos > len)
		return;
	{
		char cp[600];
		json_t *f;
		snprintf(cp, sizeof(cp), "%spci_config", pre);
		f = new_field(d, out, cp, "pci config", express ? 4096 : 256, base + 4);
		if (f)
			set_hex(f, p + 4, express ? 4096 : 256);
	}
	if (msix) {
		if (len - pos < msix * 16 + (msix + 7) / 8 + 2)
			return;
		pos += msix * 16 + (msix + 7) / 8;
		v = rd_be(p, 2, &pos, len, &ok);
		virtio_int(d, out, pre, "config_vector", "uint16", 2, base + pos - 2, v);
	}
	v = rd_be(p, 1, &pos, len, &ok);
	if (ok)
		virtio_int(d, out, pre, "status", "uint8", 1, base + pos - 1, v);
	v = rd_be(p, 1, &pos, len, &ok);
	if (ok)
		virtio_int(d, out, pre, "isr", "uint8", 1, base + pos - 1, v);
	v = rd_be(p, 2, &pos, len, &ok);
	if (ok)
		virtio_int(d, out, pre, "queue_sel", "uint16", 2, base + pos - 2, v);
	v = rd_be(p, 4, &pos, len, &ok);
	if (ok)
		virtio_int(d, out, pre, "guest_features_lo", "uint32", 4, base + pos - 4, v);
	v = rd_be(p, 4, &pos, len, &ok);
	if (!ok || v > len - pos)
		return;
	{
		char cp[600];
		json_t *f;
		snprintf(cp, sizeof(cp), "%sconfig", pre);
		f = new_field(d, out, cp, "buffer", (size_t)v, base + pos);
		if (f)
			set_hex(f, p + pos, (size_t)v);
		pos += (size_t)v;
	}
	nq = (unsigned)rd_be(p, 4, &pos, len, &ok);
	if (!ok || nq > 1024)
		return;
	virtio_int(d, out, pre, "num_queues", "uint32", 4, base + pos - 4, nq);
	for (unsigned i = 0; i < nq && ok; i++) {
		size_t q0 = base + pos;
		uint64_t num = rd_be(p, 4, &pos, len, &ok);
		uint64_t desc = rd_be(p, 8, &pos, len, &ok);
		uint64_t idx = rd_be(p, 2, &pos, len, &ok);
		uint64_t vec = msix ? rd_be(p, 2, &pos, len, &ok) : 0;
		if (!ok)
			return;
		snprintf(name, sizeof(name), "vq[%u].num", i);
		virtio_int(d, out, pre, name, "uint32", 4, q0, num);
		snprintf(name, sizeof(name), "vq[%u].desc", i);
		virtio_int(d, out, pre, name, "uint64", 8, q0 + 4, desc);
		snprintf(name, sizeof(name), "vq[%u].last_avail_idx", i);
		virtio_int(d, out, pre, name, "uint16", 2, q0 + 12, idx);
		if (msix) {
			snprintf(name, sizeof(name), "vq[%u].vector", i);
			virtio_int(d, out, pre, name, "uint16", 2, q0 + 14, vec);
		}
	}
	/* The device's own state (opaque), then "virtio/..." subsections. */
	{
		size_t dev_start = pos, first_sub = len;
		for (size_t at = pos; at + 9 < len; at++) {
			size_t nl;
			const uint8_t *hit = memchr(p + at, QEMU_VM_SUBSECTION, len - at);
			if (!hit)
				break;
			at = (size_t)(hit - p);
			nl = at + 1 < len ? p[at + 1] : 0;
			if (nl < 8 || at + 2 + nl + 4 > len || memcmp(p + at + 2, "virtio/", 7) != 0)
				continue;
			if (first_sub == len)
				first_sub = at;
			{
				char sub[256], sp[600];
				json_t *f;
				printable(sub, sizeof(sub), p + at + 2, nl);
				snprintf(sp, sizeof(sp), "%s%s", pre, sub);
				f = new_field(d, out, sp, "subsection", 0, base + at);
				if (f)
					ml_json_set_int(f, "version", (long long)be_n(p + at + 2 + nl, 4));
				if (strcmp(sub, "virtio/64bit_features") == 0 && at + 2 + nl + 4 + 8 <= len)
					virtio_int(d, out, pre, "guest_features", "uint64", 8, base + at + 2 + nl + 4,
						   be_n(p + at + 2 + nl + 4, 8));
			}
			at += 1 + nl;
		}
		if (first_sub > dev_start) {
			char dp[600];
			json_t *f;
			snprintf(dp, sizeof(dp), "%sdevice", pre);
			f = new_field(d, out, dp, "device state", first_sub - dev_start, base + dev_start);
			if (f)
				set_hex(f, p + dev_start, first_sub - dev_start);
		}
	}
}


static long long desc_int(const json_t *o, const char *key, long long def)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

/* One field entry of the VM description: a scalar, an array of scalars, or a
 * struct (each element decoded in a sub-cursor bounded by its recorded size). */
static int dec_field(struct dec *d, struct rd *r, const json_t *fd, const char *prefix,
		     int depth, json_t *out)
{
	const char *name = ml_json_str(fd, "name");
	const char *type = ml_json_str(fd, "type");
	long long size = desc_int(fd, "size", -1);
	long long array_len = desc_int(fd, "array_len", -1);
	long long index = desc_int(fd, "index", -1);
	const json_t *st = json_object_get(fd, "struct");
	size_t off = rd_off(r);
	unsigned long long n, total;
	char path[512];

	if (!name)
		name = "?";
	if (!type)
		type = json_is_object(st) ? "struct" : "?";
	if (++d->work > MAX_WORK) {
		fail(d, off, "expected a VM description of at most %d field decodings, found more", MAX_WORK);
		return -1;
	}
	if (size < 0) {
		fail(d, off, "expected the VM description to give field '%s%s' a size, found none",
		     prefix, name);
		return -1;
	}
	if (index >= 0)
		snprintf(path, sizeof(path), "%s%s[%lld]", prefix, name, index);
	else
		snprintf(path, sizeof(path), "%s%s", prefix, name);
	n = array_len >= 0 ? (unsigned long long)array_len : 1;
	if ((unsigned long long)size > rd_left(r) || (size && n > rd_left(r) / (unsigned long long)size)) {
		fail(d, off, "expected field '%s' (%llu x %lld bytes by the VM description), "
			     "found only %zu bytes left in the section", path, n, size, rd_left(r));
		return -1;
	}
	total = n * (unsigned long long)size;
	if (json_is_object(st)) {
		if (n > MAX_ARRAY_ITER) {
			fail(d, off, "expected at most %d elements in struct array '%s', found %llu",
			     MAX_ARRAY_ITER, path, n);
			return -1;
		}
		for (unsigned long long i = 0; i < n; i++) {
			struct rd sub = { r->p + r->pos, (size_t)size, 0, rd_off(r) };
			if (++d->work > MAX_WORK) {
				fail(d, off, "expected a VM description of at most %d field decodings, found more",
				     MAX_WORK);
				return -1;
			}
			char pre[600];
			if (array_len >= 0)
				snprintf(pre, sizeof(pre), "%s[%llu].", path, i);
			else
				snprintf(pre, sizeof(pre), "%s.", path);
			if (dec_vmsd(d, &sub, st, pre, depth + 1, out) < 0)
				return -1;
			if (sub.pos != sub.len) {
				fail(d, rd_off(&sub), "expected struct '%s' to end after %lld bytes as the "
						      "VM description says, found %zu more bytes",
				     path, size, sub.len - sub.pos);
				return -1;
			}
			r->pos += (size_t)size;
		}
		return 0;
	}
	{
		const uint8_t *p = r->p + r->pos;
		json_t *f = new_field(d, out, path, type, (size_t)total, off);
		if (f) {
			if (array_len >= 0) {
				ml_json_set_int(f, "array_len", array_len);
				json_t *arr = json_array();
				bool ok = n <= 256;
				for (unsigned long long i = 0; ok && i < n; i++) {
					json_t *v = scalar_value(type, p + i * (size_t)size, (size_t)size);
					if (!v)
						ok = false;
					else
						json_array_append_new(arr, v);
				}
				if (ok)
					ml_json_set(f, "value", arr);
				else {
					json_decref(arr);
					set_hex(f, p, (size_t)total);
				}
			} else {
				json_t *v = scalar_value(type, p, (size_t)size);
				if (v)
					ml_json_set(f, "value", v);
				else
					set_hex(f, p, (size_t)total);
			}
			if (strcmp(type, "virtio") == 0)
				dec_virtio(d, p, (size_t)total, off, path, out);
		}
		r->pos += (size_t)total;
	}
	return 0;
}

/* A vmsd as the VM description gives it: its fields in order, then its
 * subsections, each introduced by QEMU_VM_SUBSECTION, its name and version. */
static int dec_vmsd(struct dec *d, struct rd *r, const json_t *desc, const char *prefix,
		    int depth, json_t *out)
{
	const json_t *fields = json_object_get(desc, "fields");
	const json_t *subs = json_object_get(desc, "subsections");
	size_t i;
	const json_t *fd;

	if (depth > MAX_DEPTH) {
		fail(d, rd_off(r), "expected VM description structs nested at most %d deep, found deeper",
		     MAX_DEPTH);
		return -1;
	}
	if (!json_is_object(desc)) {
		fail(d, rd_off(r), "expected a VM description object for '%s', found another JSON type",
		     prefix);
		return -1;
	}
	json_array_foreach(fields, i, fd) {
		if (!json_is_object(fd)) {
			fail(d, rd_off(r), "expected a field object in the VM description of '%s', "
					   "found another JSON type", prefix);
			return -1;
		}
		if (dec_field(d, r, fd, prefix, depth, out) < 0)
			return -1;
	}
	json_array_foreach(subs, i, fd) {
		const char *want = ml_json_str(fd, "vmsd_name");
		char name[256];
		char pre[600];
		uint8_t t;
		uint32_t ver;
		size_t off = rd_off(r);

		if (!want)
			want = "?";
		if (get_u8(d, r, "a subsection marker", &t) < 0)
			return -1;
		if (t != QEMU_VM_SUBSECTION) {
			fail(d, off, "expected subsection '%s' (byte 0x05), found byte 0x%02x", want, t);
			return -1;
		}
		if (get_str8(d, r, "the subsection name", name) < 0 ||
		    get_be32(d, r, "the subsection version", &ver) < 0)
			return -1;
		if (strcmp(name, want) != 0) {
			fail(d, off, "expected subsection '%s' (from the VM description), found '%s'",
			     want, name);
			return -1;
		}
		if (out) {
			json_t *f = new_field(d, out, name, "subsection", 0, off);
			if (f)
				ml_json_set_int(f, "version", ver);
		}
		snprintf(pre, sizeof(pre), "%s%s.", prefix, name);
		if (dec_vmsd(d, r, fd, pre, depth + 1, out) < 0)
			return -1;
	}
	return 0;
}

/* Key of the description index: "name#instance", cut at 300 bytes and made
 * valid UTF-8 (a section's idstr is stream bytes, and a cut may fall inside
 * a character), so jansson accepts it; the caller frees. */
static char *index_key(const char *idstr, long long inst)
{
	char key[300];

	snprintf(key, sizeof(key), "%s#%lld", idstr, inst);
	return ml_utf8_sanitize(key);
}

/* Index the description's devices by name and instance, so that finding a
 * section's entry costs no scan (a crafted stream may have thousands). */
static void vmdesc_build_index(struct dec *d)
{
	const json_t *devs = json_object_get(d->vmdesc, "devices");
	const json_t *e;
	size_t i;

	d->vmdesc_index = json_object();
	if (!d->vmdesc_index)
		abort();
	json_array_foreach(devs, i, e) {
		ml_autofree char *key = NULL;
		json_t *list;
		if (!ml_json_str(e, "name"))
			continue;
		key = index_key(ml_json_str(e, "name"), desc_int(e, "instance_id", -1));
		list = json_object_get(d->vmdesc_index, key);
		if (!list) {
			/* json_object_set_new frees the value when it fails: the
			 * list is not touched after that (the device is then not
			 * indexed and its section is found by its footer). */
			list = json_array();
			if (!list)
				abort();
			if (json_object_set_new(d->vmdesc_index, key, list) < 0)
				continue;
		}
		json_array_append_new(list, json_integer((json_int_t)i));
	}
}

/* The VM description's entry for a section: the next one in order with the
 * same name and instance (QEMU writes them in section order). */
static const json_t *vmdesc_entry(struct dec *d, const char *idstr, uint32_t inst)
{
	const json_t *list, *v;
	ml_autofree char *key = index_key(idstr, inst);
	size_t i;
	json_int_t pick = -1;

	list = json_object_get(d->vmdesc_index, key);
	/* Lists are short (one entry per instance of a name), but bound the walk. */
	json_array_foreach(list, i, v) {
		if (i >= 64)
			break;
		if (pick < 0)
			pick = json_integer_value(v);
		if ((size_t)json_integer_value(v) >= d->vmdesc_cursor) {
			pick = json_integer_value(v);
			break;
		}
	}
	if (pick < 0)
		return NULL;
	d->vmdesc_cursor = (size_t)pick + 1;
	return json_array_get(json_object_get(d->vmdesc, "devices"), (size_t)pick);
}

/* ---- sections ----------------------------------------------------------- */

/* Is there a plausible section start at p (after a footer)? */
static bool plausible_next(const struct rd *r, size_t at)
{
	uint8_t t;
	if (at >= r->len)
		return true; /* a stream cut right after a footer */
	t = r->p[at];
	if (t == QEMU_VM_EOF || t == QEMU_VM_COMMAND || t == QEMU_VM_SECTION_PART ||
	    t == QEMU_VM_SECTION_END)
		return true;
	if (t == QEMU_VM_SECTION_START || t == QEMU_VM_SECTION_FULL) {
		size_t n;
		if (at + 6 > r->len)
			return true;
		n = r->p[at + 5];
		if (n == 0 || at + 6 + n > r->len)
			return false;
		for (size_t i = 0; i < n; i++)
			if (r->p[at + 6 + i] < 0x20 || r->p[at + 6 + i] >= 0x7f)
				return false;
		return true;
	}
	return false;
}

/* Without a usable description, find where a section's data ends by its
 * footer: 0x7e, the section id, then something that starts a section. */
static int find_footer(struct dec *d, struct rd *r, uint32_t id, const char *idstr)
{
	uint8_t pat[5] = { QEMU_VM_SECTION_FOOTER, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
			   (uint8_t)(id >> 8), (uint8_t)id };

	if (d->footers == 0) {
		fail(d, rd_off(r), "expected a VM description or section footers to find where "
				   "section '%s' ends, found neither", idstr);
		return -1;
	}
	for (size_t at = r->pos; at + 5 <= r->len; at++) {
		const uint8_t *hit = memchr(r->p + at, QEMU_VM_SECTION_FOOTER, r->len - at);
		if (!hit)
			break;
		at = (size_t)(hit - r->p);
		if (at + 5 <= r->len && memcmp(hit, pat, 5) == 0 && plausible_next(r, at + 5)) {
			r->pos = at;
			return 0;
		}
	}
	fail(d, rd_off(r), "expected the footer of section %u '%s' somewhere after this, found none",
	     id, idstr);
	return -1;
}

static int read_footer(struct dec *d, struct rd *r, uint32_t id, const char *idstr)
{
	uint32_t got;
	size_t off = rd_off(r);

	if (rd_left(r) == 0 || r->p[r->pos] != QEMU_VM_SECTION_FOOTER) {
		if (d->footers == 1) {
			if (rd_left(r) == 0)
				fail(d, off, "expected the footer of section %u '%s', found the end of the stream",
				     id, idstr);
			else
				fail(d, off, "expected the footer of section %u '%s' (byte 0x7e), found byte 0x%02x",
				     id, idstr, r->p[r->pos]);
			return -1;
		}
		d->footers = 0;
		return 0;
	}
	r->pos++;
	if (get_be32(d, r, "the section footer's id", &got) < 0)
		return -1;
	if (got != id) {
		fail(d, off, "expected the footer of section %u '%s', found the footer of section %u",
		     id, idstr, got);
		return -1;
	}
	d->footers = 1;
	return 0;
}

static int dec_device(struct dec *d, struct rd *r, const struct section_id *sid, json_t *entry)
{
	const json_t *e = d->vmdesc ? vmdesc_entry(d, sid->idstr, sid->instance_id) : NULL;
	size_t start = r->pos;
	json_t *dev, *fields = NULL;
	size_t nf = d->n_fields;

	dev = json_object();
	ml_json_set_str(dev, "idstr", sid->idstr);
	ml_json_set_int(dev, "instance_id", sid->instance_id);
	ml_json_set_int(dev, "version_id", sid->version_id);
	ml_json_set_int(dev, "section_id", sid->id);
	ml_json_set_int(dev, "offset", (long long)rd_off(r));
	json_array_append_new(d->devices, dev);
	if (e) {
		struct dec trial = *d;
		const char *vmsd = ml_json_str(e, "vmsd_name");
		if (vmsd)
			ml_json_set_str(dev, "vmsd_name", vmsd);
		if (d->flags & ML_STREAM_FIELDS)
			fields = json_array();
		trial.failed = false;
		if (dec_vmsd(&trial, r, e, "", 0, fields) == 0 &&
		    (rd_left(r) == 0 || r->p[r->pos] == QEMU_VM_SECTION_FOOTER || d->footers != 1)) {
			d->n_fields = trial.n_fields;
			d->fields_truncated = trial.fields_truncated;
			d->work = trial.work;
			ml_json_set_str(entry, "decoded", "vmdesc");
			ml_json_set_int(dev, "size", (long long)(r->pos - start));
			if (fields)
				ml_json_set(dev, "fields", fields);
			return 0;
		}
		/* The description does not match these bytes: say so, keep going. */
		ml_json_set_str(dev, "vmdesc_mismatch", trial.failed ? trial.err : "no footer after the fields");
		d->work = trial.work;
		json_decref(fields);
		d->n_fields = nf;
		r->pos = start;
	}
	if (find_footer(d, r, sid->id, sid->idstr) < 0)
		return -1;
	ml_json_set_str(entry, "decoded", "footer-scan");
	ml_json_set_int(dev, "size", (long long)(r->pos - start));
	if (d->flags & ML_STREAM_FIELDS) {
		json_t *f = json_array();
		json_t *one = json_object();
		ml_json_set_str(one, "path", "data");
		ml_json_set_str(one, "type", "buffer");
		ml_json_set_int(one, "size", (long long)(r->pos - start));
		ml_json_set_int(one, "offset", (long long)(r->base + start));
		set_hex(one, r->p + start, r->pos - start);
		json_array_append_new(f, one);
		ml_json_set(dev, "fields", f);
	}
	return 0;
}

/* Append a section entry, folding a run of PART sections of one id into one. */
static json_t *section_entry(struct dec *d, size_t off, const char *type, const struct section_id *sid)
{
	size_t n = json_array_size(d->sections);
	json_t *e;

	if (n && strcmp(type, "part") == 0 && sid) {
		json_t *last = json_array_get(d->sections, n - 1);
		if (strcmp(ml_json_str(last, "type"), "part") == 0 &&
		    ml_json_int(last, "section_id", -1) == sid->id) {
			ml_json_set_int(last, "count", ml_json_int(last, "count", 1) + 1);
			return last;
		}
	}
	if (n >= MAX_SECTION_ENTRIES) {
		fail(d, off, "expected at most %d sections, found more", MAX_SECTION_ENTRIES);
		return NULL;
	}
	e = json_object();
	ml_json_set_int(e, "offset", (long long)off);
	ml_json_set_str(e, "type", type);
	if (sid) {
		ml_json_set_int(e, "section_id", sid->id);
		ml_json_set_str(e, "idstr", sid->idstr);
		ml_json_set_int(e, "instance_id", sid->instance_id);
		ml_json_set_int(e, "version_id", sid->version_id);
	}
	json_array_append_new(d->sections, e);
	return e;
}

static void add_size(json_t *e, size_t n)
{
	ml_json_set_int(e, "size", ml_json_int(e, "size", 0) + (long long)n);
}

static int dec_sections(struct dec *d, struct rd *r, int depth);

static int dec_command(struct dec *d, struct rd *r, size_t off, int depth)
{
	uint64_t cmd, len;
	const char *name;
	json_t *e;

	if (get_be(d, r, 2, "the command number", &cmd) < 0 ||
	    get_be(d, r, 2, "the command length", &len) < 0)
		return -1;
	name = command_name((unsigned)cmd);
	if (!name) {
		fail(d, off, "expected a known command (1..11), found command %" PRIu64, cmd);
		return -1;
	}
	if (need(d, r, len, "the command's data") < 0)
		return -1;
	e = section_entry(d, off, "command", NULL);
	if (!e)
		return -1;
	ml_json_set_str(e, "command", name);
	ml_json_set_int(e, "data_len", (long long)len);
	if (cmd == 2 && len == 4)
		ml_json_set_int(e, "value", (long long)be_n(r->p + r->pos, 4));
	if (cmd == 3)
		d->postcopy_advised = true;
	r->pos += len;
	if (cmd == 8) { /* packaged: a be32 length, then that many bytes of sections */
		uint64_t plen;
		struct rd sub;
		if (len != 4) {
			fail(d, off, "expected a 4-byte length in the packaged command, found %" PRIu64 " bytes",
			     len);
			return -1;
		}
		plen = be_n(r->p + r->pos - 4, 4);
		if (depth >= MAX_PACKAGED_DEPTH) {
			fail(d, off, "expected packaged data nested at most %d deep, found deeper",
			     MAX_PACKAGED_DEPTH);
			return -1;
		}
		if (need(d, r, plen, "the packaged data") < 0)
			return -1;
		sub = (struct rd){ r->p + r->pos, (size_t)plen, 0, rd_off(r) };
		ml_json_set_int(e, "packaged_size", (long long)plen);
		if (dec_sections(d, &sub, depth + 1) < 0)
			return -1;
		r->pos += plen;
	}
	add_size(e, rd_off(r) - off);
	return 0;
}

/* The configuration: the machine name, then subsections QEMU may add. */
static int dec_configuration(struct dec *d, struct rd *r, json_t *summary)
{
	json_t *conf = json_object();
	uint32_t n;
	char machine[256];
	size_t off = rd_off(r) - 1;

	ml_json_set(summary, "configuration", conf);
	ml_json_set_int(conf, "offset", (long long)off);
	if (get_be32(d, r, "the machine name length", &n) < 0)
		return -1;
	if (n > 255) {
		fail(d, rd_off(r) - 4, "expected a machine name of at most 255 bytes, found length %u", n);
		return -1;
	}
	if (need(d, r, n, "the machine name") < 0)
		return -1;
	printable(machine, sizeof(machine), r->p + r->pos, n);
	r->pos += n;
	ml_json_set_str(conf, "machine", machine);
	ml_json_set_str(summary, "machine", machine);
	while (rd_left(r) && r->p[r->pos] == QEMU_VM_SUBSECTION) {
		char name[256];
		uint32_t ver;
		size_t soff = rd_off(r);
		r->pos++;
		if (get_str8(d, r, "the configuration subsection name", name) < 0 ||
		    get_be32(d, r, "the subsection version", &ver) < 0)
			return -1;
		if (strcmp(name, "configuration/target-page-bits") == 0) {
			uint32_t bits;
			if (get_be32(d, r, "the target page bits", &bits) < 0)
				return -1;
			if (bits < 9 || bits > 20) {
				fail(d, rd_off(r) - 4, "expected target page bits between 9 and 20, found %u", bits);
				return -1;
			}
			d->page_size = (uint64_t)1 << bits;
			ml_json_set_int(conf, "target_page_bits", bits);
		} else if (strcmp(name, "configuration/capabilities") == 0) {
			uint32_t count;
			json_t *caps = json_array();
			ml_json_set(conf, "capabilities", caps);
			if (get_be32(d, r, "the capability count", &count) < 0)
				return -1;
			if (count > 256) {
				fail(d, rd_off(r) - 4, "expected at most 256 capabilities, found %u", count);
				return -1;
			}
			for (uint32_t i = 0; i < count; i++) {
				char cap[256];
				if (get_str8(d, r, "a capability name", cap) < 0)
					return -1;
				json_array_append_new(caps, ml_json_string_text(cap));
				if (strcmp(cap, "x-ignore-shared") == 0)
					d->ignore_shared = true;
				if (strcmp(cap, "mapped-ram") == 0) {
					fail(d, rd_off(r), "expected a sequential stream, found the mapped-ram "
							   "capability (a file layout miglab does not decode)");
					return -1;
				}
			}
		} else if (strcmp(name, "configuration/uuid") == 0) {
			char *h;
			if (need(d, r, 16, "the VM UUID") < 0)
				return -1;
			h = hex_of(r->p + r->pos, 16);
			ml_json_set_str(conf, "uuid", h);
			free(h);
			r->pos += 16;
		} else {
			fail(d, soff, "expected a known configuration subsection (target-page-bits, "
				      "capabilities, uuid), found '%s'", name);
			return -1;
		}
	}
	return 0;
}

/* Sections until QEMU_VM_EOF (or the end of the data, which is an error). */
static int dec_sections(struct dec *d, struct rd *r, int depth)
{
	for (;;) {
		size_t off = rd_off(r);
		uint8_t t;
		uint32_t id;
		struct section_id *sid;
		json_t *e;
		size_t data_start;

		if (rd_left(r) == 0) {
			fail(d, off, "expected a section or QEMU_VM_EOF, found the end of the stream");
			return -1;
		}
		t = r->p[r->pos++];
		switch (t) {
		case QEMU_VM_EOF:
			if (!section_entry(d, off, "eof", NULL))
				return -1;
			return 0;
		case QEMU_VM_COMMAND:
			if (dec_command(d, r, off, depth) < 0)
				return -1;
			continue;
		case QEMU_VM_SECTION_START:
		case QEMU_VM_SECTION_FULL: {
			char idstr[256];
			uint32_t inst, ver;
			if (get_be32(d, r, "the section id", &id) < 0 ||
			    get_str8(d, r, "the section name (idstr)", idstr) < 0 ||
			    get_be32(d, r, "the instance id", &inst) < 0 ||
			    get_be32(d, r, "the version id", &ver) < 0)
				return -1;
			sid = add_id(d, off, id, idstr, inst, ver);
			if (!sid)
				return -1;
			break;
		}
		case QEMU_VM_SECTION_PART:
		case QEMU_VM_SECTION_END:
			if (get_be32(d, r, "the section id", &id) < 0)
				return -1;
			sid = find_id(d, id);
			if (!sid) {
				fail(d, off, "expected a section id announced by a START section, found id %u", id);
				return -1;
			}
			break;
		default: {
			const char *n = section_type_name(t);
			fail(d, off, "expected a section type (0x00 EOF, 0x01-0x04 sections, 0x08 command), "
				     "found byte 0x%02x%s%s%s", t, n ? " (" : "", n ? n : "", n ? ")" : "");
			return -1;
		}
		}
		e = section_entry(d, off, section_type_name(t), sid);
		if (!e)
			return -1;
		data_start = r->pos;
		if (strcmp(sid->idstr, "ram") == 0 ? ram_records(d, r, e) < 0
		    : t == QEMU_VM_SECTION_FULL    ? dec_device(d, r, sid, e) < 0
						   : find_footer(d, r, sid->id, sid->idstr) < 0) {
			/* Cut short or malformed: say how far it got. */
			add_size(e, rd_off(r) - off);
			ml_json_set(e, "incomplete", json_true());
			return -1;
		}
		if (t != QEMU_VM_SECTION_FULL && strcmp(sid->idstr, "ram") != 0)
			ml_json_set_str(e, "decoded", "footer-scan");
		ml_json_set_int(e, "data_size", ml_json_int(e, "data_size", 0) + (long long)(r->pos - data_start));
		if (read_footer(d, r, sid->id, sid->idstr) < 0)
			return -1;
		add_size(e, rd_off(r) - off);
	}
}

/* The VM description: QEMU_VM_EOF, 0x06, be32 length, then that many bytes of
 * JSON up to the end of the stream. Found from the end (it is the last thing
 * the source sends). Returns its offset (the 0x06 byte), or len if absent. */
static size_t find_vmdesc(const uint8_t *p, size_t len)
{
	if (len < 7)
		return len;
	for (size_t at = len - 6; at >= 1; at--) {
		if (p[at] == QEMU_VM_VMDESCRIPTION && p[at - 1] == QEMU_VM_EOF && p[at + 5] == '{' &&
		    be_n(p + at + 1, 4) == len - at - 5)
			return at;
	}
	return len;
}

static json_t *ram_summary(struct dec *d)
{
	json_t *ram = json_object();
	json_t *blocks = json_array();
	uint64_t z = 0, n = 0, x = 0, c = 0;

	ml_json_set_int(ram, "total_bytes", (long long)d->ram_total);
	ml_json_set_int(ram, "page_size", (long long)d->page_size);
	for (size_t i = 0; i < d->n_blocks; i++) {
		struct ram_block *b = &d->blocks[i];
		json_t *o = json_object();
		ml_json_set_str(o, "name", b->name);
		ml_json_set_int(o, "length", (long long)b->length);
		ml_json_set_int(o, "zero_pages", (long long)b->zero);
		ml_json_set_int(o, "pages", (long long)b->normal);
		if (b->xbzrle)
			ml_json_set_int(o, "xbzrle_pages", (long long)b->xbzrle);
		if (b->compressed)
			ml_json_set_int(o, "compressed_pages", (long long)b->compressed);
		if (b->bad_offset)
			ml_json_set_int(o, "pages_beyond_length", (long long)b->bad_offset);
		ml_json_set_int(o, "payload_bytes", (long long)b->bytes);
		json_array_append_new(blocks, o);
		z += b->zero;
		n += b->normal;
		x += b->xbzrle;
		c += b->compressed;
	}
	ml_json_set_int(ram, "zero_pages", (long long)z);
	ml_json_set_int(ram, "pages", (long long)n);
	if (x)
		ml_json_set_int(ram, "xbzrle_pages", (long long)x);
	if (c)
		ml_json_set_int(ram, "compressed_pages", (long long)c);
	ml_json_set(ram, "blocks", blocks);
	return ram;
}

int ml_stream_decode(const void *data, size_t len, unsigned flags, json_t **summary)
{
	const uint8_t *p = data;
	struct dec d = { .flags = flags, .footers = -1, .page_size = 4096, .cur_block = -1 };
	json_t *s = json_object();
	size_t vd = find_vmdesc(p, len);
	struct rd r = { p, vd, 0, 0 };
	uint32_t magic, version;
	int rc = -1;

	d.end = vd;
	d.sections = json_array();
	d.devices = json_array();
	ml_json_set_str(s, "schema", ML_STREAM_SCHEMA);
	ml_json_set_int(s, "size", (long long)len);
	if (vd < len) {
		json_error_t jerr;
		json_t *vmdesc = json_loadb((const char *)p + vd + 5, len - vd - 5, 0, &jerr);
		json_t *info = json_object();
		ml_json_set_int(info, "offset", (long long)vd);
		ml_json_set_int(info, "size", (long long)(len - vd - 5));
		if (json_is_object(vmdesc)) {
			ml_json_set_int(info, "page_size", ml_json_int(vmdesc, "page_size", 0));
			ml_json_set_int(info, "devices", (long long)json_array_size(json_object_get(vmdesc, "devices")));
			d.vmdesc = vmdesc;
			vmdesc_build_index(&d);
		} else {
			ml_json_set_str(info, "error", vmdesc ? "not a JSON object" : jerr.text);
			json_decref(vmdesc);
		}
		ml_json_set(s, "vmdesc", info);
	}

	if (get_be32(&d, &r, "the magic QEVM (0x5145564d)", &magic) < 0)
		goto out;
	if (magic != QEMU_VM_FILE_MAGIC) {
		fail(&d, 0, "expected the magic QEVM (0x5145564d), found 0x%08x", magic);
		goto out;
	}
	if (get_be32(&d, &r, "the stream version", &version) < 0)
		goto out;
	ml_json_set_int(s, "version", version);
	if (version != QEMU_VM_FILE_VERSION) {
		fail(&d, 4, "expected stream version 3, found %u%s", version,
		     version == QEMU_VM_FILE_VERSION_COMPAT ? " (the pre-0.13 format)" : "");
		goto out;
	}
	if (rd_left(&r) && r.p[r.pos] == QEMU_VM_CONFIGURATION) {
		r.pos++;
		if (dec_configuration(&d, &r, s) < 0)
			goto out;
	}
	if (dec_sections(&d, &r, 0) < 0)
		goto out;
	if (r.pos != r.len) {
		fail(&d, rd_off(&r), "expected the end of the stream (or the VM description) after "
				     "QEMU_VM_EOF, found %zu more bytes starting with 0x%02x",
		     r.len - r.pos, r.p[r.pos]);
		goto out;
	}
	rc = 0;
out:
	ml_json_set(s, "footers", d.footers < 0 ? json_null() : json_boolean(d.footers));
	ml_json_set(s, "sections", d.sections);
	ml_json_set(s, "ram", ram_summary(&d));
	ml_json_set(s, "devices", d.devices);
	if (d.fields_truncated)
		ml_json_set(s, "fields_truncated", json_true());
	ml_json_set(s, "complete", json_boolean(rc == 0));
	if (rc < 0) {
		ml_json_set_str(s, "error", d.err);
		ml_error("%s", d.err);
	}
	json_decref(d.vmdesc);
	json_decref(d.vmdesc_index);
	free(d.ids);
	free(d.blocks);
	*summary = s;
	return rc;
}

/* ---- files -------------------------------------------------------------- */

/* One pass of zstd decompression. Without out, the output is only counted
 * (in a scratch buffer of ZSTD_DStreamOutSize(), about 128 KiB), and the pass
 * stops and refuses at the first byte beyond max; with out (out_size bytes,
 * the count of a first pass), the output is written there. A capture cut
 * short (the lab died mid-write) decodes up to the cut, as a stream does. */
static int zstd_pass(const char *path, const void *in, size_t in_len, size_t max, bool by_ratio,
		     char *out, size_t out_size, size_t *total)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, in_len, 0 };
	size_t chunk = ZSTD_DStreamOutSize();
	ml_autofree char *scratch = out ? NULL : malloc(chunk);
	size_t n = 0;
	int rc = -1;

	if (!ds || (!out && !scratch))
		abort();
	ZSTD_initDStream(ds);
	for (;;) {
		size_t room = out ? out_size - n : (max - n + 1 < chunk ? max - n + 1 : chunk);
		ZSTD_outBuffer ob = { out ? out + n : scratch, room, 0 };
		size_t in_before = ib.pos, ret;

		if (room == 0)
			break;
		ret = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(ret)) {
			ml_error("%s: zstd: %s (at compressed byte %zu)", path, ZSTD_getErrorName(ret), ib.pos);
			goto out;
		}
		n += ob.pos;
		if (ob.pos == 0 && ib.pos == in_before)
			break; /* the input is used up and the decoder holds nothing more */
	}
	if (n > max) {
		if (by_ratio)
			ml_error("%s decompresses to more than %zu bytes (the larger of %zu MiB and %d "
				 "times its %zu compressed bytes): refused (a migration stream does not "
				 "compress that well; a zstd bomb?)", path, max,
				 ML_STREAM_ZSTD_FLOOR >> 20, ML_STREAM_ZSTD_RATIO, in_len);
		else
			ml_error("%s decompresses to more than %zu bytes: refused", path, max);
		goto out;
	}
	*total = n;
	rc = 0;
out:
	ZSTD_freeDStream(ds);
	return rc;
}

/* Decompress a zstd capture of at most max bytes of stream. Two passes, so a
 * small file that expands past max (a "zstd bomb") is refused having held
 * only the scratch buffer, and a good one is held once, in one allocation of
 * exactly its size (no doubling growth). */
static int zstd_decompress(const char *path, const void *in, size_t in_len, size_t max,
			   bool by_ratio, char **out, size_t *out_len)
{
	size_t size = 0, again = 0;
	char *buf;

	if (zstd_pass(path, in, in_len, max, by_ratio, NULL, 0, &size) < 0)
		return -1;
	buf = malloc(size ? size : 1);
	if (!buf) {
		ml_error("%s: no memory for its %zu decompressed bytes", path, size);
		return -1;
	}
	if (zstd_pass(path, in, in_len, max, by_ratio, buf, size, &again) < 0 || again != size) {
		if (again != size)
			ml_error("%s: zstd: %zu bytes on the second pass, %zu on the first", path, again, size);
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = size;
	return 0;
}

int ml_stream_decode_file_max(const char *path, size_t max, json_t **summary)
{
	ml_autofree char *raw = NULL;
	size_t len = 0;
	int rc;

	*summary = NULL;
	if (ml_read_file(path, max, &raw, &len) < 0)
		return -1;
	if (len >= 4 && be_n((const uint8_t *)raw, 4) == 0x28b52ffdU) {
		char *plain = NULL;
		size_t plain_len = 0;
		size_t by_ratio = len > ML_STREAM_ZSTD_FLOOR / ML_STREAM_ZSTD_RATIO
					  ? len * ML_STREAM_ZSTD_RATIO : ML_STREAM_ZSTD_FLOOR;
		if (zstd_decompress(path, raw, len, by_ratio < max ? by_ratio : max, by_ratio < max,
				    &plain, &plain_len) < 0)
			return -1;
		free(raw);
		raw = plain;
		len = plain_len;
	}
	rc = ml_stream_decode(raw, len, ML_STREAM_FIELDS, summary);
	if (rc < 0)
		ml_error_context("%s", path);
	return rc;
}

int ml_stream_decode_file(const char *path, json_t **summary)
{
	return ml_stream_decode_file_max(path, ML_STREAM_FILE_MAX, summary);
}

/* ---- explain ------------------------------------------------------------ */

static bool name_matches(const char *idstr, const char *want)
{
	size_t a = strlen(idstr), b = strlen(want);
	if (strcmp(idstr, want) == 0)
		return true;
	return a > b && idstr[a - b - 1] == '/' && strcmp(idstr + a - b, want) == 0;
}

/* "dev.config[0]" matches "dev.config[0]", "config[0]", "config", "dev.config". */
static bool field_matches(const char *path, const char *want)
{
	char norm[512];
	size_t j = 0;
	size_t a, b;

	if (strcmp(path, want) == 0)
		return true;
	a = strlen(path);
	b = strlen(want);
	if (a > b && path[a - b - 1] == '.' && strcmp(path + a - b, want) == 0)
		return true;
	/* Drop "[N]" indices and compare again. */
	for (size_t i = 0; path[i] && j + 1 < sizeof(norm); i++) {
		if (path[i] == '[') {
			while (path[i] && path[i] != ']')
				i++;
			if (!path[i])
				break;
			continue;
		}
		norm[j++] = path[i];
	}
	norm[j] = '\0';
	if (strcmp(norm, want) == 0)
		return true;
	a = strlen(norm);
	return a > b && norm[a - b - 1] == '.' && strcmp(norm + a - b, want) == 0;
}

static void describe_value(struct ml_buf *b, const json_t *f)
{
	const json_t *v = json_object_get(f, "value");
	const char *hex = ml_json_str(f, "hex");

	if (v) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		ml_buf_puts(b, s ? s : "?");
		free(s);
	} else if (ml_json_str(f, "text")) {
		ml_buf_printf(b, "\"%s\"", ml_json_str(f, "text"));
	} else if (hex) {
		size_t n = strlen(hex);
		ml_buf_printf(b, "0x%.*s%s", (int)(n > 128 ? 128 : n), hex,
			      n > 128 || ml_json_bool(f, "truncated", false) ? "..." : "");
	} else {
		ml_buf_puts(b, "(no value)");
	}
	ml_buf_printf(b, " (%s, %lld bytes at offset %lld)", ml_json_str(f, "type") ? ml_json_str(f, "type") : "?",
		      ml_json_int(f, "size", 0), ml_json_int(f, "offset", 0));
}

char *ml_stream_explain(const json_t *summary, const char *device, const char *field)
{
	struct ml_buf b = ML_BUF_INIT(1 << 20);
	const json_t *devs = json_object_get(summary, "devices");
	const json_t *dev = NULL, *d;
	size_t i;

	if (!device || !*device)
		return strdup("no device named: the classifier found no device in the error");
	for (int pass = 0; pass < 2 && !dev; pass++)
		json_array_foreach(devs, i, d) {
			const char *idstr = ml_json_str(d, "idstr");
			const char *vmsd = ml_json_str(d, "vmsd_name");
			if (!idstr)
				continue;
			if (pass == 0 ? name_matches(idstr, device)
				      : (vmsd && strcmp(vmsd, device) == 0) || strstr(idstr, device)) {
				dev = d;
				break;
			}
		}
	if (!dev) {
		ml_buf_printf(&b, "the source did not send device '%s' in this stream", device);
		if (json_array_size(devs)) {
			ml_buf_printf(&b, " (it sent %zu devices:", json_array_size(devs));
			json_array_foreach(devs, i, d) {
				if (i >= 12) {
					ml_buf_puts(&b, " ...");
					break;
				}
				ml_buf_printf(&b, " %s", ml_json_str(d, "idstr"));
			}
			ml_buf_puts(&b, ")");
		}
		if (ml_json_str(summary, "error"))
			ml_buf_printf(&b, "; the stream decoded only up to an error: %s", ml_json_str(summary, "error"));
		return ml_buf_steal(&b);
	}
	ml_buf_printf(&b, "device '%s' (", ml_json_str(dev, "idstr"));
	if (ml_json_str(dev, "vmsd_name"))
		ml_buf_printf(&b, "vmsd %s ", ml_json_str(dev, "vmsd_name"));
	ml_buf_printf(&b, "version %lld, instance %lld, %lld bytes at offset %lld)",
		      ml_json_int(dev, "version_id", 0), ml_json_int(dev, "instance_id", 0),
		      ml_json_int(dev, "size", 0), ml_json_int(dev, "offset", 0));
	{
		const json_t *fields = json_object_get(dev, "fields");
		const json_t *f, *hit = NULL;
		size_t nsub = 0, nhits = 0, ngroup = 0;
		char want[256] = "";
		unsigned cfg_byte = 0;
		bool is_cfg_byte = false;

		/* The classifier's forms: "vmsd:field" (QEMU's "Failed to load
		 * X:Y"), "i=0x10" (a PCI config byte), "VQ 3" (a virtqueue). */
		if (field) {
			const char *colon = strrchr(field, ':');
			unsigned q;
			snprintf(want, sizeof(want), "%s", colon && colon[1] ? colon + 1 : field);
			if (sscanf(field, "VQ %u", &q) == 1)
				snprintf(want, sizeof(want), "vq[%u]", q);
			if (sscanf(field, "i=0x%x", &cfg_byte) == 1 && cfg_byte < 4096)
				is_cfg_byte = true;
		}
		json_array_foreach(fields, i, f) {
			const char *path = ml_json_str(f, "path");
			const char *type = ml_json_str(f, "type");
			if (type && strcmp(type, "subsection") == 0)
				nsub++;
			if (!field || !path)
				continue;
			if (is_cfg_byte ? type && strcmp(type, "pci config") == 0 : field_matches(path, want)) {
				if (!hit)
					hit = f;
				nhits++;
			}
		}
		if (!field) {
			ml_buf_printf(&b, ": the source sent %zu fields", json_array_size(fields) - nsub);
			if (nsub) {
				ml_buf_puts(&b, " and subsections");
				json_array_foreach(fields, i, f)
					if (strcmp(ml_json_str(f, "type") ? ml_json_str(f, "type") : "", "subsection") == 0)
						ml_buf_printf(&b, " %s (version %lld)", ml_json_str(f, "path"),
							      ml_json_int(f, "version", 0));
			}
		} else if (hit && is_cfg_byte) {
			const char *hex = ml_json_str(hit, "hex");
			ml_buf_printf(&b, ", PCI config byte 0x%x (in '%s'): ", cfg_byte, ml_json_str(hit, "path"));
			if (hex && strlen(hex) >= 2 * (size_t)cfg_byte + 2)
				ml_buf_printf(&b, "the source sent 0x%.2s", hex + 2 * cfg_byte);
			else
				ml_buf_puts(&b, "beyond the bytes kept");
		} else if (hit) {
			ml_buf_printf(&b, ", field '%s': the source sent ", ml_json_str(hit, "path"));
			if (strcmp(ml_json_str(hit, "type") ? ml_json_str(hit, "type") : "", "subsection") == 0)
				ml_buf_printf(&b, "subsection version %lld", ml_json_int(hit, "version", 0));
			else
				describe_value(&b, hit);
			if (nhits > 1)
				ml_buf_printf(&b, " (and %zu more fields match '%s')", nhits - 1, field);
		} else if (!fields) {
			ml_buf_printf(&b, ", field '%s': the stream has no field values for this device%s%s",
				      field, ml_json_str(dev, "vmdesc_mismatch") ? ": " : " (no VM description)",
				      ml_json_str(dev, "vmdesc_mismatch") ? ml_json_str(dev, "vmdesc_mismatch") : "");
		} else {
			/* A group: the members of a struct or queue ("vq[0]" -> vq[0].num, ...). */
			size_t wl = strlen(want);
			json_array_foreach(fields, i, f) {
				const char *path = ml_json_str(f, "path");
				const char *at = path ? strstr(path, want) : NULL;
				if (!at || at[wl] != '.' || (at != path && at[-1] != '.'))
					continue;
				if (ngroup)
					ml_buf_puts(&b, "; ");
				else
					ml_buf_printf(&b, ", '%s': the source sent ", want);
				ml_buf_printf(&b, "%s = ", path);
				describe_value(&b, f);
				if (++ngroup >= 8) {
					ml_buf_puts(&b, "; ...");
					break;
				}
			}
			if (!ngroup) {
				ml_buf_printf(&b, ": the source sent no field '%s' (it sent", field);
				json_array_foreach(fields, i, f) {
					if (i >= 16) {
						ml_buf_puts(&b, " ...");
						break;
					}
					ml_buf_printf(&b, " %s", ml_json_str(f, "path"));
				}
				ml_buf_puts(&b, ")");
			}
		}
	}
	if (ml_json_str(dev, "vmdesc_mismatch"))
		ml_buf_printf(&b, "; note: the VM description did not match its bytes: %s",
			      ml_json_str(dev, "vmdesc_mismatch"));
	return ml_buf_steal(&b);
}

/* ---- printing ----------------------------------------------------------- */

static void print_field(FILE *f, const json_t *fd)
{
	const char *type = ml_json_str(fd, "type");
	const json_t *v = json_object_get(fd, "value");
	const char *hex = ml_json_str(fd, "hex");

	if (type && strcmp(type, "subsection") == 0) {
		fprintf(f, "    %-40s subsection version %lld\n", ml_json_str(fd, "path"),
			ml_json_int(fd, "version", 0));
		return;
	}
	fprintf(f, "    %-40s %-14s %6lld  ", ml_json_str(fd, "path"), type ? type : "?",
		ml_json_int(fd, "size", 0));
	if (v) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		fprintf(f, "%s\n", s ? s : "?");
		free(s);
	} else if (ml_json_str(fd, "text")) {
		fprintf(f, "\"%s\"\n", ml_json_str(fd, "text"));
	} else if (hex) {
		size_t n = strlen(hex);
		fprintf(f, "%.*s%s\n", (int)(n > 64 ? 64 : n), hex,
			n > 64 || ml_json_bool(fd, "truncated", false) ? "..." : "");
	} else {
		fputc('\n', f);
	}
}

void ml_stream_print(FILE *f, const json_t *s, int with_fields)
{
	const json_t *secs = json_object_get(s, "sections");
	const json_t *ram = json_object_get(s, "ram");
	const json_t *vmdesc = json_object_get(s, "vmdesc");
	const json_t *devs = json_object_get(s, "devices");
	const json_t *e, *fp = json_object_get(s, "footers");
	size_t i;

	fprintf(f, "stream: %lld bytes, version %lld, machine %s, section footers %s, %s\n",
		ml_json_int(s, "size", 0), ml_json_int(s, "version", 0),
		ml_json_str(s, "machine") ? ml_json_str(s, "machine") : "(not sent)",
		json_is_true(fp) ? "on" : json_is_false(fp) ? "off" : "unknown",
		ml_json_bool(s, "complete", false) ? "complete" : "INCOMPLETE");
	if (ml_json_str(s, "error"))
		fprintf(f, "error: %s\n", ml_json_str(s, "error"));
	fprintf(f, "\n%-10s %-8s %4s %-34s %4s %4s %10s\n", "offset", "type", "id", "section", "inst",
		"ver", "size");
	json_array_foreach(secs, i, e) {
		const char *type = ml_json_str(e, "type");
		const char *idstr = ml_json_str(e, "idstr");
		long long count = ml_json_int(e, "count", 1);
		char tbuf[32];
		snprintf(tbuf, sizeof(tbuf), count > 1 ? "%s x%lld" : "%s", type, count);
		if (idstr) {
			fprintf(f, "%-10lld %-8s %4lld %-34s %4lld %4lld %10lld", ml_json_int(e, "offset", 0), tbuf,
				ml_json_int(e, "section_id", 0), idstr, ml_json_int(e, "instance_id", 0),
				ml_json_int(e, "version_id", 0), ml_json_int(e, "size", 0));
			if (json_object_get(e, "zero_pages") || json_object_get(e, "pages"))
				fprintf(f, "  zero %lld, pages %lld", ml_json_int(e, "zero_pages", 0),
					ml_json_int(e, "pages", 0));
			if (ml_json_str(e, "decoded") && strcmp(ml_json_str(e, "decoded"), "vmdesc") != 0)
				fprintf(f, "  (%s)", ml_json_str(e, "decoded"));
			if (ml_json_bool(e, "incomplete", false))
				fputs("  (cut short)", f);
			fputc('\n', f);
		} else if (ml_json_str(e, "command")) {
			fprintf(f, "%-10lld %-8s      %-34s %20lld\n", ml_json_int(e, "offset", 0), tbuf,
				ml_json_str(e, "command"), ml_json_int(e, "size", 0));
		} else {
			fprintf(f, "%-10lld %s\n", ml_json_int(e, "offset", 0), tbuf);
		}
	}
	if (ram && json_array_size(json_object_get(ram, "blocks"))) {
		fprintf(f, "\nRAM: %lld bytes in %zu blocks, page size %lld: %lld zero pages, %lld pages sent whole",
			ml_json_int(ram, "total_bytes", 0), json_array_size(json_object_get(ram, "blocks")),
			ml_json_int(ram, "page_size", 0), ml_json_int(ram, "zero_pages", 0),
			ml_json_int(ram, "pages", 0));
		if (ml_json_int(ram, "xbzrle_pages", 0))
			fprintf(f, ", %lld XBZRLE", ml_json_int(ram, "xbzrle_pages", 0));
		fputc('\n', f);
		json_array_foreach(json_object_get(ram, "blocks"), i, e)
			fprintf(f, "  %-34s %12lld bytes  zero %8lld  pages %8lld\n", ml_json_str(e, "name"),
				ml_json_int(e, "length", 0), ml_json_int(e, "zero_pages", 0),
				ml_json_int(e, "pages", 0));
	}
	if (vmdesc)
		fprintf(f, "\nVM description at offset %lld: %lld bytes, %lld devices%s%s\n",
			ml_json_int(vmdesc, "offset", 0), ml_json_int(vmdesc, "size", 0),
			ml_json_int(vmdesc, "devices", 0), ml_json_str(vmdesc, "error") ? ", unreadable: " : "",
			ml_json_str(vmdesc, "error") ? ml_json_str(vmdesc, "error") : "");
	else
		fprintf(f, "\nno VM description (device state is not decoded into fields)\n");
	if (!with_fields)
		return;
	json_array_foreach(devs, i, e) {
		const json_t *fd;
		size_t j;
		fprintf(f, "\n%s (instance %lld, version %lld%s%s, %lld bytes at offset %lld)\n",
			ml_json_str(e, "idstr"), ml_json_int(e, "instance_id", 0),
			ml_json_int(e, "version_id", 0), ml_json_str(e, "vmsd_name") ? ", vmsd " : "",
			ml_json_str(e, "vmsd_name") ? ml_json_str(e, "vmsd_name") : "",
			ml_json_int(e, "size", 0), ml_json_int(e, "offset", 0));
		if (ml_json_str(e, "vmdesc_mismatch"))
			fprintf(f, "    (VM description does not match: %s)\n", ml_json_str(e, "vmdesc_mismatch"));
		json_array_foreach(json_object_get(e, "fields"), j, fd)
			print_field(f, fd);
	}
}
