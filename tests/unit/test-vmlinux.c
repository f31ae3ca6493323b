/* Unit tests of the bzImage payload extraction and the PVH note lookup
 * (guests/vmlinux.c): a table of crafted bzImages around a tiny ELF, good
 * and broken (truncated header, payload outside the file, wrong payload
 * length, a trailer that lies, an unknown or unsupported compression, a
 * payload that is not an ELF, a malformed note), each with the words its
 * error must have; then Debian's real kernels from the cache, when there
 * are any. */
#include <dirent.h>
#include <elf.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "vmlinux.h"
#include "testhelp.h"
#include "ml-common.h"

#define SETUP_SECTS 1
#define PM_START ((SETUP_SECTS + 1) * 512)
#define PAYLOAD_OFFSET 0x40
#define PVH_ENTRY 0x1000123ULL

/* A minimal x86_64 ELF: header, one PT_NOTE program header, one note. */
struct tiny_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	Elf64_Nhdr nh;
	char name[4];
	uint64_t desc;
};

static void make_elf(struct tiny_elf *e, bool with_note, uint16_t machine)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
	e->eh.e_ident[EI_CLASS] = ELFCLASS64;
	e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e->eh.e_ident[EI_VERSION] = EV_CURRENT;
	e->eh.e_type = ET_EXEC;
	e->eh.e_machine = machine;
	e->eh.e_phoff = offsetof(struct tiny_elf, ph);
	e->eh.e_phentsize = sizeof(Elf64_Phdr);
	e->eh.e_phnum = 1;
	e->ph.p_type = PT_NOTE;
	e->ph.p_offset = offsetof(struct tiny_elf, nh);
	e->ph.p_filesz = sizeof(*e) - offsetof(struct tiny_elf, nh);
	e->nh.n_namesz = 4;
	e->nh.n_descsz = 8;
	e->nh.n_type = with_note ? ML_XEN_ELFNOTE_PHYS32_ENTRY : 1;
	memcpy(e->name, with_note ? "Xen" : "GNU", 4);
	e->desc = PVH_ENTRY;
}

static size_t compress(const char *how, const void *in, size_t len, unsigned char *out, size_t cap)
{
	size_t n = 0;

	if (strcmp(how, "xz") == 0) {
		assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, out,
							 &n, cap), LZMA_OK);
	} else if (strcmp(how, "zstd") == 0) {
		n = ZSTD_compress(out, cap, in, len, 3);
		assert_false(ZSTD_isError(n));
	} else if (strcmp(how, "gzip") == 0) { /* the magic is enough to name it */
		static const unsigned char gz[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
		memcpy(out, gz, sizeof(gz));
		n = sizeof(gz);
	} else { /* "junk" */
		memset(out, 0x42, 16);
		n = 16;
	}
	return n;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A case: how to make the bzImage, and what must come out. */
struct vmlinux_case {
	const char *name;
	const char *compression;  /* of the payload: xz, zstd, gzip, junk */
	const char *content;      /* "elf", "elf-no-note", "elf-arm", "elf-bad-note", "text" */
	uint16_t version;         /* boot protocol; 0: 2.15 */
	long length_delta;        /* added to payload_length */
	long trailer_delta;       /* added to the size trailer */
	size_t truncate_to;       /* cut the file to this size (0: whole) */
	long offset_delta;        /* added to payload_offset */
	const char *error;        /* expected in the error; NULL: extraction works */
	int pvh;                  /* after a good extraction: 1 entry found, 0 none, -1 error */
	const char *pvh_error;
};

static const struct vmlinux_case cases[] = {
	{ .name = "xz with the PVH note", .compression = "xz", .content = "elf", .pvh = 1 },
	{ .name = "zstd with the PVH note", .compression = "zstd", .content = "elf", .pvh = 1 },
	{ .name = "zstd without the note", .compression = "zstd", .content = "elf-no-note",
	  .pvh = 0 },
	{ .name = "a note running past its segment", .compression = "xz",
	  .content = "elf-bad-note", .pvh = -1, .pvh_error = "runs past its segment" },
	{ .name = "truncated header", .compression = "xz", .content = "elf", .truncate_to = 0x100,
	  .error = "not a bzImage: no x86 boot setup header" },
	{ .name = "old boot protocol", .compression = "xz", .content = "elf", .version = 0x0206,
	  .error = "boot protocol 2.06 has no payload fields" },
	{ .name = "payload past the end", .compression = "xz", .content = "elf",
	  .offset_delta = 1 << 20, .error = "goes past the end of the file" },
	{ .name = "payload_length too short (xz)", .compression = "xz", .content = "elf",
	  .length_delta = -9, .error = "truncated xz data" },
	{ .name = "payload_length too short (zstd)", .compression = "zstd", .content = "elf",
	  .length_delta = -9, .error = "payload_length" },
	{ .name = "payload_length too long", .compression = "zstd", .content = "elf",
	  .length_delta = 8, .error = "payload_length" },
	{ .name = "trailer says another size", .compression = "xz", .content = "elf",
	  .trailer_delta = 1, .error = "but its trailer says" },
	{ .name = "gzip payload", .compression = "gzip", .content = "elf",
	  .error = "compressed with gzip: miglab extracts xz and zstd kernels only" },
	{ .name = "unknown compression", .compression = "junk", .content = "elf",
	  .error = "not compressed data miglab knows (first bytes 42 42 42 42)" },
	{ .name = "non-ELF payload", .compression = "zstd", .content = "text",
	  .error = "payload is not a 64-bit ELF kernel" },
	{ .name = "ELF of another machine", .compression = "xz", .content = "elf-arm",
	  .error = "not x86_64" },
};

/* The bzImage of c; *len its size. Caller frees. */
static unsigned char *make_bzimage(const struct vmlinux_case *c, size_t *len)
{
	struct tiny_elf e;
	const void *content = &e;
	size_t content_len = sizeof(e);
	static const char text[] = "this is not an ELF file, only some text";
	size_t cap = 1 << 16, n;
	unsigned char *bz = calloc(1, cap);
	unsigned char *payload = bz + PM_START + PAYLOAD_OFFSET;

	assert_non_null(bz);
	make_elf(&e, strcmp(c->content, "elf-no-note") != 0,
		 strcmp(c->content, "elf-arm") == 0 ? EM_AARCH64 : EM_X86_64);
	if (strcmp(c->content, "elf-bad-note") == 0)
		e.nh.n_descsz = 4096;
	if (strcmp(c->content, "text") == 0) {
		content = text;
		content_len = sizeof(text);
	}
	n = compress(c->compression, content, content_len, payload, cap - PM_START - 64);
	put32(payload + n, (uint32_t)((long)content_len + c->trailer_delta));
	n += 4;
	bz[0x1f1] = SETUP_SECTS;
	bz[0x1fe] = 0x55;
	bz[0x1ff] = 0xaa;
	memcpy(bz + 0x202, "HdrS", 4);
	bz[0x206] = (unsigned char)(c->version ? c->version : 0x020f);
	bz[0x207] = (unsigned char)((c->version ? c->version : 0x020f) >> 8);
	put32(bz + 0x248, (uint32_t)(PAYLOAD_OFFSET + c->offset_delta));
	put32(bz + 0x24c, (uint32_t)((long)n + c->length_delta));
	*len = c->truncate_to ? c->truncate_to : PM_START + PAYLOAD_OFFSET + n + 64;
	return bz;
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ML_ARRAY_SIZE(cases); i++) {
		const struct vmlinux_case *c = &cases[i];
		size_t len = 0, elf_len = 0;
		ml_autofree unsigned char *bz = make_bzimage(c, &len);
		ml_autofree unsigned char *elf = NULL;
		const char *comp = NULL;
		uint64_t entry = 0;
		int r;

		ml_error_reset();
		r = ml_vmlinux_extract(bz, len, "test kernel", &elf, &elf_len, &comp);
		if (c->error) {
			if (r == 0 || !strstr(ml_error_message(), c->error))
				fail_msg("case '%s': want an error with '%s', got %d: %s", c->name,
					 c->error, r, r ? ml_error_message() : "(none)");
			assert_non_null(strstr(ml_error_message(), "test kernel"));
			continue;
		}
		if (r != 0)
			fail_msg("case '%s': %s", c->name, ml_error_message());
		assert_string_equal(comp, c->compression);
		r = ml_vmlinux_pvh_entry(elf, elf_len, "test kernel", &entry);
		if (r != c->pvh)
			fail_msg("case '%s': PVH lookup gave %d, want %d (%s)", c->name, r, c->pvh,
				 r < 0 ? ml_error_message() : "");
		if (r == 1)
			assert_int_equal(entry, PVH_ENTRY);
		if (r < 0 && !strstr(ml_error_message(), c->pvh_error))
			fail_msg("case '%s': want '%s' in: %s", c->name, c->pvh_error,
				 ml_error_message());
	}
}

/* Debian's kernels as the guest cache holds them (read only). */
static void test_real_kernels(void **state)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	ml_autofree char *base = xdg && *xdg ? ml_strdup_printf("%s/miglab/guests", xdg)
					     : ml_strdup_printf("%s/.cache/miglab/guests", home ? home : "/");
	const char *env = getenv("MIGLAB_CACHE_DIR");
	DIR *suites;
	struct dirent *s;
	size_t seen = 0;

	(void)state;
	if (env && *env) {
		free(base);
		base = ml_strdup_printf("%s/guests", env);
	}
	suites = opendir(base);
	if (!suites) {
		printf("SKIP: no guest cache at %s (run `miglab fetch` once to test real kernels)\n",
		       base);
		skip();
	}
	while ((s = readdir(suites))) {
		ml_autofree char *sdir = ml_path_join(base, s->d_name);
		DIR *rels = s->d_name[0] == '.' ? NULL : opendir(sdir);
		struct dirent *r;
		while (rels && (r = readdir(rels))) {
			ml_autofree char *path = NULL;
			ml_autofree char *bz = NULL;
			ml_autofree unsigned char *elf = NULL;
			size_t len = 0, elf_len = 0;
			const char *comp = NULL;
			uint64_t entry = 0;

			if (r->d_name[0] == '.')
				continue;
			path = ml_strdup_printf("%s/%s/vmlinuz", sdir, r->d_name);
			if (!ml_path_exists(path))
				continue;
			if (ml_read_file(path, 64 << 20, &bz, &len) < 0 ||
			    ml_vmlinux_extract((unsigned char *)bz, len, path, &elf, &elf_len, &comp) < 0)
				fail_msg("%s", ml_error_message());
			assert_int_equal(ml_vmlinux_pvh_entry(elf, elf_len, path, &entry), 1);
			printf("%s: %s, %zu -> %zu bytes, PVH entry 0x%llx\n", path, comp, len, elf_len,
			       (unsigned long long)entry);
			seen++;
		}
		if (rels)
			closedir(rels);
	}
	closedir(suites);
	if (!seen) {
		printf("SKIP: the guest cache %s holds no kernel\n", base);
		skip();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_real_kernels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
