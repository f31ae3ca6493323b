/* The uncompressed kernel inside a bzImage and its PVH entry note (see
 * vmlinux.h). Every input is untrusted: offsets and lengths are checked
 * against the buffer before use. */
#include <elf.h>
#include <string.h>

#include "decompress.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "vmlinux.h"
#include "ml-common.h"

/* Setup header offsets (Documentation/arch/x86/boot.rst). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_END 0x250

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The compressions a kernel payload can have, by magic; the kernel's own
 * decompressors (lib/decompress.c) know the same. */
static const struct {
	const char *name;
	unsigned char magic[6];
	size_t magic_len;
} compressions[] = {
	{ "xz", { 0xfd, '7', 'z', 'X', 'Z', 0x00 }, 6 },
	{ "zstd", { 0x28, 0xb5, 0x2f, 0xfd }, 4 },
	{ "gzip", { 0x1f, 0x8b }, 2 },
	{ "bzip2", { 'B', 'Z', 'h' }, 3 },
	{ "lzma", { 0x5d, 0x00, 0x00 }, 3 },
	{ "lzo", { 0x89, 'L', 'Z', 'O' }, 4 },
	{ "lz4", { 0x02, 0x21, 0x4c, 0x18 }, 4 },
};

int ml_vmlinux_extract(const unsigned char *bz, size_t len, const char *what,
		       unsigned char **elf, size_t *elf_len, const char **compression)
{
	struct ml_buf out = ML_BUF_INIT(ML_VMLINUX_LIMIT + 1);
	const unsigned char *payload;
	const char *name = NULL;
	size_t pm_start, off, plen, stream_len;
	uint32_t want;
	uint16_t version;
	int r;

	if (len < HDR_END || le32(bz + HDR_MAGIC) != 0x53726448 /* "HdrS" */ ||
	    le16(bz + HDR_BOOT_FLAG) != 0xaa55) {
		ml_error("%s is not a bzImage: no x86 boot setup header (file of %zu bytes)", what,
			 len);
		return -1;
	}
	version = le16(bz + HDR_VERSION);
	if (version < 0x0208) {
		ml_error("%s: boot protocol %u.%02u has no payload fields (2.08 or later needed)",
			 what, version >> 8, version & 0xff);
		return -1;
	}
	pm_start = ((size_t)(bz[HDR_SETUP_SECTS] ? bz[HDR_SETUP_SECTS] : 4) + 1) * 512;
	off = le32(bz + HDR_PAYLOAD_OFFSET);
	plen = le32(bz + HDR_PAYLOAD_LENGTH);
	if (pm_start > len || off > len - pm_start || plen > len - pm_start - off) {
		ml_error("%s: the payload (offset %zu + %zu, length %zu in the setup header) "
			 "goes past the end of the file (%zu bytes)",
			 what, pm_start, off, plen, len);
		return -1;
	}
	if (plen < 4 + 4) {
		ml_error("%s: payload_length %zu in the setup header is too short for a "
			 "compressed kernel", what, plen);
		return -1;
	}
	payload = bz + pm_start + off;
	/* The last 4 bytes are the uncompressed size (size_append). */
	stream_len = plen - 4;
	want = le32(payload + stream_len);
	for (size_t i = 0; i < ML_ARRAY_SIZE(compressions) && !name; i++)
		if (stream_len >= compressions[i].magic_len &&
		    memcmp(payload, compressions[i].magic, compressions[i].magic_len) == 0)
			name = compressions[i].name;
	if (!name) {
		ml_error("%s: the payload is not compressed data miglab knows (first bytes "
			 "%02x %02x %02x %02x)", what, payload[0], payload[1], payload[2], payload[3]);
		return -1;
	}
	if (strcmp(name, "xz") == 0)
		r = ml_decompress_xz(payload, stream_len, ML_VMLINUX_LIMIT, what, &out);
	else if (strcmp(name, "zstd") == 0)
		r = ml_decompress_zstd(payload, stream_len, ML_VMLINUX_LIMIT, what, &out);
	else {
		ml_error("%s is compressed with %s: miglab extracts xz and zstd kernels only",
			 what, name);
		return -1;
	}
	if (r < 0) {
		ml_buf_free(&out);
		return ml_error_context("the %s payload of %s (payload_length %zu in the setup "
					"header)", name, what, plen);
	}
	if (out.len != want) {
		ml_error("%s: the %s payload decompresses to %zu bytes, but its trailer says %u "
			 "(payload_length %zu in the setup header is wrong)",
			 what, name, out.len, want, plen);
		ml_buf_free(&out);
		return -1;
	}
	if (out.len < sizeof(Elf64_Ehdr) || memcmp(out.data, ELFMAG, SELFMAG) != 0 ||
	    out.data[EI_CLASS] != ELFCLASS64) {
		ml_error("%s: the %s payload is not a 64-bit ELF kernel", what, name);
		ml_buf_free(&out);
		return -1;
	}
	{
		Elf64_Ehdr eh;
		memcpy(&eh, out.data, sizeof(eh));
		if (eh.e_machine != EM_X86_64) {
			ml_error("%s: the %s payload is an ELF for machine %u, not x86_64", what,
				 name, eh.e_machine);
			ml_buf_free(&out);
			return -1;
		}
	}
	if (compression)
		*compression = name;
	*elf_len = out.len;
	*elf = (unsigned char *)ml_buf_steal(&out);
	return 0;
}

static size_t align4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

int ml_vmlinux_pvh_entry(const unsigned char *elf, size_t len, const char *what,
			 uint64_t *entry)
{
	Elf64_Ehdr eh;

	if (len < sizeof(eh) || memcmp(elf, ELFMAG, SELFMAG) != 0 || elf[EI_CLASS] != ELFCLASS64) {
		ml_error("%s is not a 64-bit ELF file", what);
		return -1;
	}
	memcpy(&eh, elf, sizeof(eh));
	if (eh.e_phnum && (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
			   (len - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum)) {
		ml_error("%s: its program headers (offset %llu, %u entries) are not inside the file",
			 what, (unsigned long long)eh.e_phoff, eh.e_phnum);
		return -1;
	}
	for (size_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		size_t pos;

		memcpy(&ph, elf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
			ml_error("%s: note segment %zu (offset %llu, size %llu) is not inside the file",
				 what, i, (unsigned long long)ph.p_offset,
				 (unsigned long long)ph.p_filesz);
			return -1;
		}
		for (pos = 0; pos + sizeof(Elf64_Nhdr) <= ph.p_filesz;) {
			const unsigned char *seg = elf + ph.p_offset;
			Elf64_Nhdr nh;
			size_t name_at, desc_at, next;

			memcpy(&nh, seg + pos, sizeof(nh));
			name_at = pos + sizeof(nh);
			desc_at = name_at + align4(nh.n_namesz);
			next = desc_at + align4(nh.n_descsz);
			if (nh.n_namesz > ph.p_filesz || nh.n_descsz > ph.p_filesz ||
			    next > ph.p_filesz) {
				ml_error("%s: a note at offset %llu runs past its segment", what,
					 (unsigned long long)(ph.p_offset + pos));
				return -1;
			}
			if (nh.n_type == ML_XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
			    memcmp(seg + name_at, "Xen", 4) == 0) {
				if (nh.n_descsz == 4) {
					*entry = le32(seg + desc_at);
				} else if (nh.n_descsz == 8) {
					*entry = le32(seg + desc_at) |
						 (uint64_t)le32(seg + desc_at + 4) << 32;
				} else {
					ml_error("%s: its Xen PVH entry note has %u bytes, not 4 or 8",
						 what, nh.n_descsz);
					return -1;
				}
				return 1;
			}
			pos = next;
		}
	}
	return 0;
}
