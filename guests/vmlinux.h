/* The uncompressed kernel inside a bzImage, for PVH boot: QEMU (>= 4.0)
 * boots an ELF vmlinux that carries the Xen PVH entry note directly
 * (`-kernel vmlinux`, entered in 32-bit protected mode through the pvh.bin
 * option ROM), which skips the bzImage's real-mode setup and its
 * self-decompression, the slow part of a boot under TCG.
 *
 * The bzImage's setup header (Documentation/arch/x86/boot.rst, protocol
 * 2.08 and later) says where the compressed kernel is: payload_offset
 * (from the start of the protected-mode code, (setup_sects + 1) * 512) and
 * payload_length. The payload is one xz stream or zstd frame followed by
 * the uncompressed size as 4 little-endian bytes (the kernel's
 * size_append); it decompresses to vmlinux.bin, the stripped vmlinux ELF
 * (and, on relocatable kernels, its relocation table after the ELF). */
#ifndef ML_VMLINUX_H
#define ML_VMLINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest uncompressed kernel accepted (Debian's are ~30-60 MiB). */
#define ML_VMLINUX_LIMIT ((size_t)512 << 20)

/* XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h): the 32-bit
 * physical entry point of a PVH kernel, in a note named "Xen". */
#define ML_XEN_ELFNOTE_PHYS32_ENTRY 18

/* Extract the kernel of the bzImage bz[0..len) into *elf (caller frees).
 * Checks: the setup header ("HdrS", protocol >= 2.08), the payload inside
 * the file, its compression (xz or zstd; another one is named), that it
 * decodes to exactly the size its trailer gives, and that the result is a
 * 64-bit x86 ELF. *compression (may be NULL) gets "xz" or "zstd". Every
 * error names what (the kernel) and the field at fault. */
int ml_vmlinux_extract(const unsigned char *bz, size_t len, const char *what,
		       unsigned char **elf, size_t *elf_len, const char **compression);

/* The PVH entry point of a 64-bit ELF kernel image: 1 with *entry set when a
 * PT_NOTE segment holds a "Xen" note of type 18, 0 when it holds none, -1
 * (reported, naming what) when the ELF headers or notes are malformed. */
int ml_vmlinux_pvh_entry(const unsigned char *elf, size_t len, const char *what,
			 uint64_t *entry);

#endif
