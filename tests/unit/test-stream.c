/* Unit tests of the migration stream decoder (results/stream.c) on real
 * streams captured from QEMU 7.2.22 and 11.1.3 (tests/data/streams), cut
 * short, garbled, hand-made, and the fuzzer's past crash inputs; and of the
 * stream tap (runners/stream-tap.c) between a fake source and destination. */
#include <errno.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <zstd.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "stream-tap.h"
#include "stream.h"
#include "testhelp.h"
#include "ml-common.h"

#define F72 "streams/qemu-7.2.22-pc-q35-7.2.bin.zst"
#define F111 "streams/qemu-11.1.3-pc-q35-7.2.bin.zst"
#define F72_NORAM "streams/qemu-7.2.22-pc-q35-7.2-noram.bin.zst"
#define F72_SMALL "streams/qemu-7.2.22-pc-q35-7.2-small.bin"

/* A fixture's bytes, decompressed (the .zst fixtures record their size). */
static char *load_fixture(const char *rel, size_t *len)
{
	char *raw = NULL, *out;
	size_t n = 0;
	unsigned long long size;

	assert_int_equal(ml_read_file(ml_test_data(rel), 64 << 20, &raw, &n), 0);
	size = ZSTD_getFrameContentSize(raw, n);
	if (size == ZSTD_CONTENTSIZE_ERROR) { /* not compressed */
		*len = n;
		return raw;
	}
	assert_true(size != ZSTD_CONTENTSIZE_UNKNOWN && size < (64 << 20));
	out = malloc(size ? size : 1);
	assert_int_equal(ZSTD_decompress(out, size, raw, n), size);
	free(raw);
	*len = size;
	return out;
}

static const json_t *find_section(const json_t *s, const char *idstr)
{
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(s, "sections"), i, e)
		if (ml_json_str(e, "idstr") && strcmp(ml_json_str(e, "idstr"), idstr) == 0)
			return e;
	return NULL;
}

static const json_t *find_device(const json_t *s, const char *idstr)
{
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(s, "devices"), i, e)
		if (strcmp(ml_json_str(e, "idstr"), idstr) == 0)
			return e;
	return NULL;
}

static const json_t *find_field(const json_t *dev, const char *path)
{
	const json_t *e;
	size_t i;
	json_array_foreach(json_object_get(dev, "fields"), i, e)
		if (strcmp(ml_json_str(e, "path"), path) == 0)
			return e;
	return NULL;
}

static void check_real_stream(const char *rel, long long net_version)
{
	json_t *s = NULL;
	const json_t *e, *ram, *blk, *dev;
	size_t i;
	bool saw_eof = false;

	assert_int_equal(ml_stream_decode_file(ml_test_data(rel), &s), 0);
	assert_string_equal(ml_json_str(s, "schema"), ML_STREAM_SCHEMA);
	assert_true(ml_json_bool(s, "complete", false));
	assert_int_equal(ml_json_int(s, "version", 0), 3);
	assert_string_equal(ml_json_str(s, "machine"), "pc-q35-7.2");
	assert_true(json_is_true(json_object_get(s, "footers")));
	assert_null(json_object_get(s, "error"));

	/* Sections in QEMU's order: RAM setup first, devices, EOF last. */
	e = json_array_get(json_object_get(s, "sections"), 0);
	assert_string_equal(ml_json_str(e, "type"), "start");
	assert_string_equal(ml_json_str(e, "idstr"), "ram");
	assert_int_equal(ml_json_int(e, "version_id", 0), 4);
	e = json_array_get(json_object_get(s, "sections"), json_array_size(json_object_get(s, "sections")) - 1);
	assert_string_equal(ml_json_str(e, "type"), "eof");
	json_array_foreach(json_object_get(s, "sections"), i, e)
		saw_eof |= strcmp(ml_json_str(e, "type"), "eof") == 0;
	assert_true(saw_eof);
	e = find_section(s, "0000:00:01.0/virtio-net");
	assert_non_null(e);
	assert_string_equal(ml_json_str(e, "type"), "full");
	assert_string_equal(ml_json_str(e, "decoded"), "vmdesc");
	assert_int_equal(ml_json_int(e, "version_id", 0), net_version);
	assert_non_null(find_section(s, "0000:00:02.0/virtio-console"));
	assert_non_null(find_section(s, "cpu"));

	/* RAM: 64 MiB of zero pages in pc.ram, ROMs sent as pages. */
	ram = json_object_get(s, "ram");
	assert_int_equal(ml_json_int(ram, "page_size", 0), 4096);
	blk = json_array_get(json_object_get(ram, "blocks"), 0);
	assert_string_equal(ml_json_str(blk, "name"), "pc.ram");
	assert_int_equal(ml_json_int(blk, "length", 0), 64 << 20);
	assert_int_equal(ml_json_int(blk, "zero_pages", 0), 16384);
	assert_true(ml_json_int(ram, "pages", 0) > 0);

	/* The VM description: every device decoded from it, values by name. */
	assert_int_equal(ml_json_int(json_object_get(s, "vmdesc"), "devices", 0), 31);
	assert_int_equal(json_array_size(json_object_get(s, "devices")), 31);
	json_array_foreach(json_object_get(s, "devices"), i, e) {
		assert_null(json_object_get(e, "vmdesc_mismatch"));
		assert_non_null(json_object_get(e, "fields"));
	}
	dev = find_device(s, "globalstate");
	assert_string_equal(ml_json_str(find_field(dev, "runstate"), "text"), "prelaunch");
	assert_int_equal(ml_json_int(find_field(dev, "size"), "value", 0), 10);
	dev = find_device(s, "cpu");
	assert_int_equal(ml_json_int(find_field(dev, "env.eip"), "value", 0), 0xfff0);
	assert_int_equal(json_array_size(json_object_get(find_field(dev, "env.regs"), "value")), 16);
	dev = find_device(s, "0000:00:1f.3/ich9_smb");
	/* PCI config space, vendor 8086 (Intel) first. */
	assert_true(strncmp(ml_json_str(find_field(dev, "dev.config[0]"), "hex"), "8680", 4) == 0);
	/* virtio: the opaque blob walked (PCI transport): queues, features,
	 * and the device's own state (virtio-net's MAC first). */
	dev = find_device(s, "0000:00:01.0/virtio-net");
	assert_int_equal(ml_json_int(find_field(dev, "virtio.num_queues"), "value", 0), 3);
	assert_int_equal(ml_json_int(find_field(dev, "virtio.vq[0].num"), "value", 0), 256);
	assert_int_equal(ml_json_int(find_field(dev, "virtio.guest_features"), "value", -1), 0);
	assert_non_null(find_field(dev, "virtio.virtio/64bit_features"));
	assert_true(strncmp(ml_json_str(find_field(dev, "virtio.device"), "hex"), "525400123456", 12) == 0);
	dev = find_device(s, "0000:00:02.0/virtio-console");
	assert_int_equal(ml_json_int(find_field(dev, "virtio.num_queues"), "value", 0), 64);
	json_decref(s);
}

static void test_real_72(void **state)
{
	(void)state;
	check_real_stream(F72, 11);
}

static void test_real_111(void **state)
{
	(void)state;
	check_real_stream(F111, 11);
}

static void test_explain(void **state)
{
	json_t *s = NULL;
	char *why;
	(void)state;

	assert_int_equal(ml_stream_decode_file(ml_test_data(F111), &s), 0);
	why = ml_stream_explain(s, "globalstate", "runstate");
	assert_non_null(strstr(why, "device 'globalstate'"));
	assert_non_null(strstr(why, "the source sent \"prelaunch\""));
	free(why);
	/* The last component of an idstr, a field without its index. */
	why = ml_stream_explain(s, "ich9_smb", "config");
	assert_non_null(strstr(why, "device '0000:00:1f.3/ich9_smb' (vmsd ich9_smb version 1"));
	assert_non_null(strstr(why, "field 'dev.config[0]': the source sent 0x8680"));
	free(why);
	why = ml_stream_explain(s, "virtio-net", "guest_features");
	assert_non_null(strstr(why, "field 'virtio.guest_features': the source sent 0 (uint64"));
	free(why);
	/* The classifier's forms: "vmsd:field", a PCI config byte, a queue. */
	why = ml_stream_explain(s, "0000:00:1f.3/ich9_smb", "PCIDevice:config");
	assert_non_null(strstr(why, "field 'dev.config[0]'"));
	free(why);
	why = ml_stream_explain(s, "ich9_smb", "i=0x1");
	assert_non_null(strstr(why, "PCI config byte 0x1 (in 'dev.config[0]'): the source sent 0x80"));
	free(why);
	why = ml_stream_explain(s, "virtio-net", "VQ 1");
	assert_non_null(strstr(why, "'vq[1]': the source sent virtio.vq[1].num = 256 (uint32"));
	assert_non_null(strstr(why, "; virtio.vq[1].last_avail_idx = 0"));
	free(why);
	why = ml_stream_explain(s, "virtio-net", NULL);
	assert_non_null(strstr(why, "vmsd virtio-net version 11"));
	free(why);
	why = ml_stream_explain(s, "cpu", "no-such-field");
	assert_non_null(strstr(why, "the source sent no field 'no-such-field'"));
	free(why);
	why = ml_stream_explain(s, "e1000e", "mac");
	assert_non_null(strstr(why, "the source did not send device 'e1000e'"));
	free(why);
	json_decref(s);
}

/* Cut the stream at many places: always a clean error naming an offset, and
 * a summary of what came before. */
static void test_truncated(void **state)
{
	size_t len;
	char *data = load_fixture(F72, &len);
	const size_t cuts[] = { 0, 3, 4, 8, 12, 20, 30, 240, 100000, 608300, 640000, 733536, 733540, len - 1 };
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(cuts); i++) {
		json_t *s = NULL;
		const char *err;

		assert_int_equal(ml_stream_decode(data, cuts[i], ML_STREAM_FIELDS, &s), -1);
		assert_non_null(s);
		assert_false(ml_json_bool(s, "complete", true));
		err = ml_json_str(s, "error");
		assert_non_null(err);
		assert_true(strncmp(err, "offset ", 7) == 0);
		assert_non_null(strstr(err, "expected"));
		assert_non_null(strstr(err, "found"));
		assert_string_equal(err, ml_error_message());
		json_decref(s);
	}
	/* Cut inside the device state: the devices before the cut are there,
	 * found by their footers (the VM description is at the end, so lost). */
	{
		json_t *s = NULL;
		assert_int_equal(ml_stream_decode(data, 640000, ML_STREAM_FIELDS, &s), -1);
		assert_non_null(find_device(s, "cpu"));
		assert_string_equal(ml_json_str(find_section(s, "cpu"), "decoded"), "footer-scan");
		assert_null(json_object_get(s, "vmdesc"));
		json_decref(s);
	}
	/* Cut right before the VM description: a whole stream without one (as
	 * with QEMU's vmdesc disabled); devices are found by their footers. */
	{
		json_t *s = NULL;
		assert_int_equal(ml_stream_decode(data, 733537, ML_STREAM_FIELDS, &s), 0);
		assert_int_equal(json_array_size(json_object_get(s, "devices")), 31);
		assert_string_equal(ml_json_str(find_section(s, "globalstate"), "decoded"), "footer-scan");
		json_decref(s);
	}
	/* Cut at the very first bytes: the error says where and what. */
	{
		json_t *s = NULL;
		assert_int_equal(ml_stream_decode(data, 2, 0, &s), -1);
		assert_string_equal(ml_json_str(s, "error"),
				    "offset 0: expected the magic QEVM (0x5145564d) (4 bytes), found only 2 "
				    "bytes before the end of the stream");
		json_decref(s);
		assert_int_equal(ml_stream_decode(data, 240, 0, &s), -1);
		assert_string_equal(ml_json_str(s, "error"),
				    "offset 238: expected a RAM record (be64 address and flags) (8 bytes), "
				    "found only 2 bytes before the end of the stream");
		json_decref(s);
	}
	free(data);
}

static void test_garbage(void **state)
{
	static const char *const inputs[] = {
		"hello, world",
		"QEVM\0\0\0\x03\x42",
		"QEVM\0\0\0\x02",
		"\x51\x45\x56\x4d\0\0\0\x03\x07\xff\xff\xff\xff",
		"\x51\x45\x56\x4d\0\0\0\x03\x02\0\0\0\x09",
	};
	static const size_t lens[] = { 12, 9, 8, 13, 13 };
	static const char *const expect[] = {
		"offset 0: expected the magic QEVM (0x5145564d), found 0x68656c6c",
		"offset 8: expected a section type (0x00 EOF, 0x01-0x04 sections, 0x08 command), found byte 0x42",
		"offset 4: expected stream version 3, found 2 (the pre-0.13 format)",
		"offset 9: expected a machine name of at most 255 bytes, found length 4294967295",
		"offset 8: expected a section id announced by a START section, found id 9",
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(inputs); i++) {
		json_t *s = NULL;
		assert_int_equal(ml_stream_decode(inputs[i], lens[i], ML_STREAM_FIELDS, &s), -1);
		assert_string_equal(ml_json_str(s, "error"), expect[i]);
		json_decref(s);
	}
	/* Random bytes after a valid header. */
	{
		size_t len;
		char *data = load_fixture(F72_NORAM, &len);
		unsigned seed = 1;
		for (int round = 0; round < 200; round++) {
			json_t *s = NULL;
			for (int k = 0; k < 8; k++) {
				seed = seed * 1103515245 + 12345;
				data[8 + (seed >> 8) % (len - 8)] = (char)(seed >> 16);
			}
			ml_stream_decode(data, len, ML_STREAM_FIELDS, &s);
			assert_non_null(s);
			json_decref(s);
		}
		free(data);
	}
}

/* A byte builder for hand-made streams. */
struct bb {
	unsigned char b[4096];
	size_t n;
};

static void put(struct bb *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put8(struct bb *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	put(b, &c, 1);
}

static void put16(struct bb *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put32(struct bb *b, unsigned v)
{
	put16(b, v >> 16);
	put16(b, v);
}

static void putstr8(struct bb *b, const char *s)
{
	put8(b, (unsigned)strlen(s));
	put(b, s, strlen(s));
}

static void put_full_header(struct bb *b, unsigned type, unsigned id, const char *idstr, unsigned ver)
{
	put8(b, type);
	put32(b, id);
	putstr8(b, idstr);
	put32(b, 0);
	put32(b, ver);
}

/* Hand-made: commands (with a packaged stream inside), an unknown iterable
 * section found by its footer, a device with no VM description. */
static void test_synthetic(void **state)
{
	struct bb b = { .n = 0 };
	size_t footer_at, pkg_len_at, pkg_start;
	json_t *s = NULL;
	const json_t *e;
	(void)state;

	put(&b, "QEVM", 4);
	put32(&b, 3);
	put8(&b, 0x07); /* configuration */
	put32(&b, 3);
	put(&b, "pc1", 3);
	put8(&b, 0x05);
	putstr8(&b, "configuration/capabilities");
	put32(&b, 1);
	put32(&b, 1);
	putstr8(&b, "x-ignore-shared");
	put8(&b, 0x08); /* open-return-path */
	put16(&b, 1);
	put16(&b, 0);
	put8(&b, 0x08); /* ping 7 */
	put16(&b, 2);
	put16(&b, 4);
	put32(&b, 7);
	put_full_header(&b, 0x01, 5, "blk", 1); /* an iterable section miglab does not know */
	put(&b, "\xaa\xbb", 2);
	footer_at = b.n;
	put8(&b, 0x7e);
	put32(&b, 5);
	put8(&b, 0x08); /* packaged */
	put16(&b, 8);
	put16(&b, 4);
	pkg_len_at = b.n;
	put32(&b, 0);
	pkg_start = b.n;
	put_full_header(&b, 0x04, 6, "dev", 2);
	put8(&b, 0x42);
	put8(&b, 0x7e);
	put32(&b, 6);
	put8(&b, 0x00); /* EOF of the package */
	b.b[pkg_len_at + 3] = (unsigned char)(b.n - pkg_start);
	put8(&b, 0x00); /* EOF */

	assert_int_equal(ml_stream_decode(b.b, b.n, ML_STREAM_FIELDS, &s), 0);
	assert_string_equal(ml_json_str(s, "machine"), "pc1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(
				    json_object_get(s, "configuration"), "capabilities"), 0)),
			    "x-ignore-shared");
	e = json_array_get(json_object_get(s, "sections"), 0);
	assert_string_equal(ml_json_str(e, "command"), "open-return-path");
	e = json_array_get(json_object_get(s, "sections"), 1);
	assert_string_equal(ml_json_str(e, "command"), "ping");
	assert_int_equal(ml_json_int(e, "value", 0), 7);
	e = json_array_get(json_object_get(s, "sections"), 2);
	assert_string_equal(ml_json_str(e, "idstr"), "blk");
	assert_string_equal(ml_json_str(e, "decoded"), "footer-scan");
	assert_int_equal(ml_json_int(e, "data_size", 0), 2);
	e = json_array_get(json_object_get(s, "sections"), 3);
	assert_string_equal(ml_json_str(e, "command"), "packaged");
	e = json_array_get(json_object_get(s, "sections"), 4);
	assert_string_equal(ml_json_str(e, "idstr"), "dev");
	assert_string_equal(ml_json_str(find_field(find_device(s, "dev"), "data"), "hex"), "42");
	json_decref(s);

	/* The footer of "blk" names another section: no footer is found. */
	b.b[footer_at + 4] = 9;
	assert_int_equal(ml_stream_decode(b.b, b.n, ML_STREAM_FIELDS, &s), -1);
	assert_non_null(strstr(ml_json_str(s, "error"), "expected the footer of section 5 'blk'"));
	json_decref(s);
}

/* A VM description naming a device with a 298-byte name ending in 'é': the
 * decoder's index key, cut at 300 bytes, ends inside that character. Once a
 * use after free (jansson refused the key and freed the list appended to
 * next); now the key is made valid and the devices decode. */
static void test_vmdesc_cut_utf8(void **state)
{
	struct bb b = { .n = 0 };
	char name[301], json[1024];
	size_t json_len, idstr_at;
	json_t *s = NULL;
	(void)state;

	memset(name, 'a', 298);
	memcpy(name + 298, "\xc3\xa9", 3); /* é and the NUL */
	json_len = (size_t)snprintf(json, sizeof(json),
		"{\"page_size\": 4096, \"devices\": ["
		"{\"name\": \"%s\", \"instance_id\": 0, \"vmsd_name\": \"x\", \"version\": 1, \"fields\": []},"
		"{\"name\": \"dev\", \"instance_id\": 0, \"vmsd_name\": \"dev\", \"version\": 2, \"fields\": ["
		"{\"name\": \"b\", \"type\": \"uint8\", \"size\": 1}]}]}", name);
	assert_true(json_len < sizeof(json));

	put(&b, "QEVM", 4);
	put32(&b, 3);
	put8(&b, 0x07);
	put32(&b, 3);
	put(&b, "pc1", 3);
	idstr_at = b.n + 6;
	put_full_header(&b, 0x04, 1, "dev", 2);
	put8(&b, 0x42);
	put8(&b, 0x7e);
	put32(&b, 1);
	put8(&b, 0x00); /* EOF */
	put8(&b, 0x06); /* VM description */
	put32(&b, (unsigned)json_len);
	put(&b, json, json_len);

	assert_int_equal(ml_stream_decode(b.b, b.n, ML_STREAM_FIELDS, &s), 0);
	assert_string_equal(ml_json_str(find_section(s, "dev"), "decoded"), "vmdesc");
	assert_int_equal(ml_json_int(find_field(find_device(s, "dev"), "b"), "value", 0), 0x42);
	json_decref(s);

	/* The section's idstr is stream bytes: not UTF-8 at all, still decoded,
	 * and the summary holds it with "?" for the byte. */
	b.b[idstr_at] = 0xff; /* the 'd' of "dev" */
	assert_int_equal(ml_stream_decode(b.b, b.n, ML_STREAM_FIELDS, &s), 0);
	assert_non_null(find_section(s, "?ev"));
	json_decref(s);
}

static long max_rss_kib(void)
{
	struct rusage ru;
	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/* A zstd frame of n RLE blocks of 128 KiB of zeros each (RFC 8878): 4 bytes
 * of file per 128 KiB of output. */
static void write_zstd_bomb(const char *path, size_t blocks)
{
	FILE *f = fopen(path, "wb");
	static const unsigned char head[] = { 0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38 };
	assert_non_null(f);
	assert_int_equal(fwrite(head, 1, sizeof(head), f), sizeof(head));
	for (size_t i = 0; i < blocks; i++) {
		unsigned h = (131072u << 3) | (1u << 1) | (i + 1 == blocks ? 1u : 0u);
		unsigned char blk[4] = { (unsigned char)h, (unsigned char)(h >> 8), (unsigned char)(h >> 16), 0 };
		assert_int_equal(fwrite(blk, 1, 4, f), 4);
	}
	assert_int_equal(fclose(f), 0);
}

/* A small capture expanding past the limit is refused, naming the file and
 * the limit, without holding the expansion in memory. The limit of a zstd
 * file is the larger of 256 MiB and 64 times its size (no real capture
 * expands more than 1.5 times), under the file limit. */
static void test_zstd_bomb(void **state)
{
	char *dir = ml_test_tmpdir();
	char *bomb = ml_path_join(dir, "bomb.bin.zst");
	json_t *s = NULL;
	char want[512];
	struct stat st;
	long before;
	(void)state;

	/* 4 GiB + 128 KiB of zeros from 128 KiB of file. */
	write_zstd_bomb(bomb, ((size_t)4 << 30) / 131072 + 1);
	assert_int_equal(stat(bomb, &st), 0);
	before = max_rss_kib();
	assert_int_equal(ml_stream_decode_file(bomb, &s), -1);
	assert_null(s);
	snprintf(want, sizeof(want),
		 "%s decompresses to more than %zu bytes (the larger of 256 MiB and 64 times its "
		 "%zu compressed bytes): refused (a migration stream does not compress that well; "
		 "a zstd bomb?)", bomb, ML_STREAM_ZSTD_FLOOR, (size_t)st.st_size);
	assert_string_equal(ml_error_message(), want);
	assert_true(max_rss_kib() - before < 256 * 1024);
	print_message("zstd bomb refused, peak RSS grew by %ld KiB\n", max_rss_kib() - before);

	/* The same limit, smaller: a real capture (777393 bytes) just fits. */
	assert_int_equal(ml_stream_decode_file_max(ml_test_data(F72), 777393, &s), 0);
	json_decref(s);
	s = NULL;
	assert_int_equal(ml_stream_decode_file_max(ml_test_data(F72), 777392, &s), -1);
	assert_null(s);
	assert_non_null(strstr(ml_error_message(), "decompresses to more than 777392 bytes: refused"));

	ml_test_rmtree(dir);
	free(bomb);
	free(dir);
}

/* Data-driven: `stream show --fields` of the small fixtures against the
 * expected text beside them (MIGLAB_REGENERATE=1 rewrites it for review). */
static void test_print_expected(void **state)
{
	static const char *const names[] = {
		"streams/qemu-7.2.22-pc-q35-7.2-small.bin",
		"streams/qemu-11.1.3-pc-q35-7.2-small.bin",
	};
	(void)state;

	for (size_t i = 0; i < ML_ARRAY_SIZE(names); i++) {
		json_t *s = NULL;
		char *text = NULL, *want = NULL;
		size_t len = 0, wlen = 0;
		FILE *f = open_memstream(&text, &len);
		char *exp_rel = ml_strdup_printf("%s.expected", names[i]);
		char *exp_path = strdup(ml_test_data(exp_rel));

		assert_int_equal(ml_stream_decode_file(ml_test_data(names[i]), &s), 0);
		ml_stream_print(f, s, 1);
		fclose(f);
		if (ml_test_regenerate())
			assert_int_equal(ml_write_atomic(exp_path, text, len, 0644), 0);
		assert_int_equal(ml_read_file(exp_path, 1 << 20, &want, &wlen), 0);
		assert_string_equal(text, want);
		json_decref(s);
		free(text);
		free(want);
		free(exp_rel);
		free(exp_path);
	}
}

/* Every input the fuzzer once crashed or hung the decoder with. */
static void test_regressions(void **state)
{
	const char *dir = ml_test_data("streams/regress");
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	(void)state;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char *path, *data = NULL;
		size_t len = 0;
		json_t *s = NULL;
		if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
			continue;
		path = ml_path_join(dir, de->d_name);
		assert_int_equal(ml_read_file(path, 16 << 20, &data, &len), 0);
		if (ml_stream_decode(data, len, ML_STREAM_FIELDS, &s) < 0)
			assert_true(strncmp(ml_json_str(s, "error"), "offset ", 7) == 0);
		assert_non_null(s);
		free(ml_stream_explain(s, "cpu", "env.regs"));
		json_decref(s);
		free(data);
		free(path);
		n++;
	}
	closedir(d);
	print_message("%d regression inputs decoded\n", n);
}

/* ---- the stream tap ----------------------------------------------------- */

struct peer {
	char path[108];
	const char *data; /* source: what to send */
	size_t len;
	size_t got;       /* bytes received */
	size_t close_after; /* destination: close after this many bytes (0: never) */
	int rc;
	int listen_fd;
};

static int unix_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	return fd;
}

static int unix_connect_once(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A destination: read everything, answer "ack" on the return path. */
static void *fake_dst(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->listen_fd, NULL, NULL);
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		return NULL;
	send(fd, "ack", 3, MSG_NOSIGNAL);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		p->got += (size_t)n;
		if (p->close_after && p->got >= p->close_after)
			break;
	}
	close(fd);
	return NULL;
}

/* A source: send the stream in odd-sized pieces, then read the return path. */
static void *fake_src(void *arg)
{
	struct peer *p = arg;
	int fd = unix_connect_once(p->path);
	size_t off = 0;
	char buf[64];
	ssize_t n;

	p->rc = 0;
	if (fd < 0) {
		p->rc = -1;
		return NULL;
	}
	while (off < p->len) {
		size_t piece = p->len - off < 7777 ? p->len - off : 7777;
		n = send(fd, p->data + off, piece, MSG_NOSIGNAL);
		if (n < 0) {
			p->rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		p->got += (size_t)n;
	close(fd);
	return NULL;
}

static void test_tap_capture(void **state)
{
	char *dir = ml_test_tmpdir();
	char *tap_sock = ml_path_join(dir, "tap.sock");
	char *dst_sock = ml_path_join(dir, "dst.sock");
	char *cap = ml_path_join(dir, "stream.bin.zst");
	struct peer dst = { 0 }, src = { 0 };
	struct ml_stream_tap *t = NULL;
	pthread_t td, ts;
	json_t *stats = NULL, *s = NULL, *ref = NULL;
	size_t len;
	char *data = load_fixture(F72, &len);
	(void)state;

	dst.listen_fd = unix_listen(dst_sock);
	assert_int_equal(ml_stream_tap_start(tap_sock, dst_sock, cap, &t), 0);
	pthread_create(&td, NULL, fake_dst, &dst);
	snprintf(src.path, sizeof(src.path), "%s", tap_sock);
	src.data = data;
	src.len = len;
	pthread_create(&ts, NULL, fake_src, &src);
	pthread_join(ts, NULL);
	pthread_join(td, NULL);
	assert_int_equal(src.rc, 0);
	assert_int_equal(dst.got, len);
	assert_int_equal(src.got, 3);
	/* One connection per tap: a second channel is refused at once. */
	assert_int_equal(unix_connect_once(tap_sock), -1);
	assert_int_equal(ml_stream_tap_finish(t, &stats), 0);
	assert_true(ml_json_bool(stats, "connected", false));
	assert_int_equal(ml_json_int(stats, "src_to_dst_bytes", 0), len);
	assert_int_equal(ml_json_int(stats, "dst_to_src_bytes", 0), 3);
	assert_string_equal(ml_json_str(stats, "closed_first"), "source");
	assert_true(ml_json_bool(json_object_get(stats, "capture"), "complete", false));
	assert_int_equal(ml_json_int(json_object_get(stats, "capture"), "stream_bytes", 0), len);
	assert_false(ml_path_exists(tap_sock));
	/* The capture decodes to the same summary as the original. */
	assert_int_equal(ml_stream_decode_file(cap, &s), 0);
	assert_int_equal(ml_stream_decode(data, len, ML_STREAM_FIELDS, &ref), 0);
	assert_true(json_equal(s, ref));
	json_decref(s);
	json_decref(ref);
	json_decref(stats);
	ml_stream_tap_free(t);
	close(dst.listen_fd);
	ml_test_rmtree(dir);
	free(data);
	free(dir);
	free(tap_sock);
	free(dst_sock);
	free(cap);
}

/* A capture on a full disk: the migration goes through, the capture is
 * reported failed with the file named, and neither the capture nor its
 * temporary file is left (a half capture would decode as a broken stream). */
static void test_tap_capture_full_disk(void **state)
{
	char *disk = ml_test_tiny_fs(64);
	char *dir = ml_test_tmpdir();
	char *tap_sock = ml_path_join(dir, "tap.sock");
	char *dst_sock = ml_path_join(dir, "dst.sock");
	char *cap = NULL;
	struct peer dst = { 0 }, src = { 0 };
	struct ml_stream_tap_opts o = { 0 };
	struct ml_stream_tap *t = NULL;
	pthread_t td, ts;
	json_t *stats = NULL;
	size_t len = 1 << 20;
	char *data = malloc(len);
	DIR *d;
	struct dirent *e;
	(void)state;

	if (!disk) {
		skip();
		return;
	}
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	cap = ml_path_join(disk, "stream-dst.bin");
	o.listen_path = tap_sock;
	o.dst_path = dst_sock;
	o.capture_path = cap;
	o.lossless = true; /* the writer takes every byte: it meets the full disk */
	dst.listen_fd = unix_listen(dst_sock);
	assert_int_equal(ml_stream_tap_start_opts(&o, &t), 0);
	pthread_create(&td, NULL, fake_dst, &dst);
	snprintf(src.path, sizeof(src.path), "%s", tap_sock);
	src.data = data;
	src.len = len;
	pthread_create(&ts, NULL, fake_src, &src);
	pthread_join(ts, NULL);
	pthread_join(td, NULL);
	assert_int_equal(src.rc, 0);
	assert_int_equal(dst.got, len);
	assert_int_equal(ml_stream_tap_finish(t, &stats), -1);
	assert_non_null(strstr(ml_error_message(), cap));
	assert_non_null(strstr(ml_error_message(), "No space left on device"));
	assert_false(ml_json_bool(json_object_get(stats, "capture"), "complete", true));
	assert_false(ml_path_exists(cap));
	d = opendir(disk);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			fail_msg("left on the full disk: %s", e->d_name);
	closedir(d);
	json_decref(stats);
	ml_stream_tap_free(t);
	close(dst.listen_fd);
	ml_test_rmtree(dir);
	ml_test_tiny_fs_free(disk);
	free(data);
	free(dir);
	free(tap_sock);
	free(dst_sock);
	free(cap);
}

/* The destination leaves mid-stream: the source's sends fail as they would on
 * a direct connection, and the tap stops cleanly. */
static void test_tap_dst_closes(void **state)
{
	char *dir = ml_test_tmpdir();
	char *tap_sock = ml_path_join(dir, "tap.sock");
	char *dst_sock = ml_path_join(dir, "dst.sock");
	char *cap = ml_path_join(dir, "stream.bin");
	struct peer dst = { .close_after = 100000 }, src = { 0 };
	struct ml_stream_tap *t = NULL;
	pthread_t td, ts;
	json_t *stats = NULL, *s = NULL;
	size_t len = 32 << 20;
	char *data = calloc(1, len);
	(void)state;

	dst.listen_fd = unix_listen(dst_sock);
	assert_int_equal(ml_stream_tap_start(tap_sock, dst_sock, cap, &t), 0);
	pthread_create(&td, NULL, fake_dst, &dst);
	snprintf(src.path, sizeof(src.path), "%s", tap_sock);
	src.data = data;
	src.len = len;
	pthread_create(&ts, NULL, fake_src, &src);
	pthread_join(ts, NULL);
	pthread_join(td, NULL);
	assert_true(src.rc < 0); /* EPIPE or ECONNRESET */
	assert_int_equal(ml_stream_tap_finish(t, &stats), 0);
	assert_string_equal(ml_json_str(stats, "closed_first"), "destination");
	assert_true(ml_json_int(stats, "src_to_dst_bytes", 0) < (long long)len);
	/* The capture holds what the source sent: a stream cut short. */
	assert_int_equal(ml_stream_decode_file(cap, &s), -1);
	assert_true(strncmp(ml_json_str(s, "error"), "offset 0: expected the magic", 28) == 0);
	json_decref(s);
	json_decref(stats);
	ml_stream_tap_free(t);
	close(dst.listen_fd);
	ml_test_rmtree(dir);
	free(data);
	free(dir);
	free(tap_sock);
	free(dst_sock);
	free(cap);
}

struct drain {
	int fd;
	size_t got;
	int delay_us;
};

static void *drain_pipe(void *arg)
{
	struct drain *dr = arg;
	char buf[65536];
	ssize_t n;
	while ((n = read(dr->fd, buf, sizeof(buf))) > 0) {
		dr->got += (size_t)n;
		if (dr->delay_us)
			usleep(dr->delay_us);
	}
	return NULL;
}

/* A capture writer that cannot keep up (its file is a pipe nobody reads
 * yet): by default the forwarding goes on at full speed and the capture
 * stops, marked incomplete; with lossless the forwarding waits and the
 * capture is whole. */
static void run_slow_writer(bool lossless)
{
	char *dir = ml_test_tmpdir();
	char *tap_sock = ml_path_join(dir, "tap.sock");
	char *dst_sock = ml_path_join(dir, "dst.sock");
	char cap[64];
	int pfd[2];
	struct ml_stream_tap_opts o = { 0 };
	struct peer dst = { 0 }, src = { 0 };
	struct drain dr = { .delay_us = lossless ? 200 : 0 };
	struct ml_stream_tap *t = NULL;
	pthread_t td, ts, tr;
	json_t *stats = NULL;
	const json_t *c;
	size_t len = 8 << 20;
	char *data = calloc(1, len);

	assert_int_equal(pipe(pfd), 0);
	snprintf(cap, sizeof(cap), "/proc/self/fd/%d", pfd[1]);
	o.listen_path = tap_sock;
	o.dst_path = dst_sock;
	o.capture_path = cap;
	o.max_buffer = 2 * ML_STREAM_TAP_CHUNK;
	o.lossless = lossless;
	dst.listen_fd = unix_listen(dst_sock);
	assert_int_equal(ml_stream_tap_start_opts(&o, &t), 0);
	close(pfd[1]); /* the tap holds its own descriptor of the pipe */
	dr.fd = pfd[0];
	if (lossless)
		pthread_create(&tr, NULL, drain_pipe, &dr);
	pthread_create(&td, NULL, fake_dst, &dst);
	snprintf(src.path, sizeof(src.path), "%s", tap_sock);
	src.data = data;
	src.len = len;
	pthread_create(&ts, NULL, fake_src, &src);
	pthread_join(ts, NULL);
	pthread_join(td, NULL);
	/* The whole stream went through, whatever the writer did. */
	assert_int_equal(src.rc, 0);
	assert_int_equal(dst.got, len);
	if (!lossless)
		pthread_create(&tr, NULL, drain_pipe, &dr);
	assert_int_equal(ml_stream_tap_finish(t, &stats), 0);
	pthread_join(tr, NULL);
	c = json_object_get(stats, "capture");
	if (lossless) {
		assert_true(ml_json_bool(c, "complete", false));
		assert_int_equal(dr.got, len);
	} else {
		assert_false(ml_json_bool(c, "complete", true));
		assert_non_null(strstr(ml_json_str(c, "error"), "capture stopped at stream byte"));
		assert_true(dr.got < len);
		assert_int_equal(dr.got, ml_json_int(c, "stream_bytes", -1));
	}
	json_decref(stats);
	ml_stream_tap_free(t);
	close(pfd[0]);
	close(dst.listen_fd);
	ml_test_rmtree(dir);
	free(data);
	free(dir);
	free(tap_sock);
	free(dst_sock);
}

static void test_tap_slow_writer(void **state)
{
	(void)state;
	run_slow_writer(false);
	run_slow_writer(true);
}

/* Nobody at the destination: the source's connection closes, finish reports
 * why. Nobody at the source: finish stops at once. */
static void test_tap_no_peer(void **state)
{
	char *dir = ml_test_tmpdir();
	char *tap_sock = ml_path_join(dir, "tap.sock");
	char *dst_sock = ml_path_join(dir, "dst.sock");
	struct ml_stream_tap_opts o = { .listen_path = tap_sock, .dst_path = dst_sock,
					.connect_timeout_ms = 200 };
	struct ml_stream_tap *t = NULL;
	struct peer src = { .data = "QEVM", .len = 4 };
	pthread_t ts;
	json_t *stats = NULL;
	(void)state;

	assert_int_equal(ml_stream_tap_start_opts(&o, &t), 0);
	snprintf(src.path, sizeof(src.path), "%s", tap_sock);
	pthread_create(&ts, NULL, fake_src, &src);
	pthread_join(ts, NULL);
	assert_int_equal(ml_stream_tap_finish(t, &stats), -1);
	assert_non_null(strstr(ml_json_str(stats, "error"), "connecting to the destination"));
	assert_false(ml_json_bool(stats, "connected", true));
	json_decref(stats);
	ml_stream_tap_free(t);

	assert_int_equal(ml_stream_tap_start(tap_sock, dst_sock, NULL, &t), 0);
	assert_int_equal(ml_stream_tap_finish(t, &stats), 0);
	assert_false(ml_json_bool(stats, "connected", true));
	assert_null(json_object_get(stats, "capture"));
	json_decref(stats);
	ml_stream_tap_free(t);
	/* Freed without finish: still stops and cleans up. */
	assert_int_equal(ml_stream_tap_start(tap_sock, dst_sock, NULL, &t), 0);
	ml_stream_tap_free(t);
	assert_false(ml_path_exists(tap_sock));
	ml_test_rmtree(dir);
	free(dir);
	free(tap_sock);
	free(dst_sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_72),
		cmocka_unit_test(test_real_111),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_synthetic),
		cmocka_unit_test(test_vmdesc_cut_utf8),
		cmocka_unit_test(test_zstd_bomb),
		cmocka_unit_test(test_print_expected),
		cmocka_unit_test(test_regressions),
		cmocka_unit_test(test_tap_capture),
		cmocka_unit_test(test_tap_dst_closes),
		cmocka_unit_test(test_tap_slow_writer),
		cmocka_unit_test(test_tap_no_peer),
		/* Last: it moves the process into a mount namespace of its own. */
		cmocka_unit_test(test_tap_capture_full_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
