/* Names for the diff engine (internal to results/abi-diff.c): CPUID and MSR
 * bit fields, virtio feature bits, PCI config registers and capability
 * layouts, SMBIOS structure fields. Data only; the engine does the rest. */
#ifndef ML_ABI_TABLES_H
#define ML_ABI_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* A field of a register: one bit (width 1: a feature flag) or a value. */
struct ml_abi_field {
	uint8_t lo, width;
	const char *name;
};

#define ML_CPUID_ANY_SUB (-1)  /* every subleaf */
#define ML_CPUID_SUB_GE2 (-2)  /* subleaf 2 and up (leaf 0xd components) */

struct ml_cpuid_field {
	uint32_t leaf;
	int32_t subleaf;
	uint8_t reg; /* 0 eax, 1 ebx, 2 ecx, 3 edx */
	struct ml_abi_field f;
};
extern const struct ml_cpuid_field ml_cpuid_fields[];
extern const size_t ml_cpuid_fields_count;

struct ml_msr_field {
	uint32_t index;
	struct ml_abi_field f;
};
extern const struct ml_msr_field ml_msr_fields[];
extern const size_t ml_msr_fields_count;

/* virtio feature bit names; device_id 0 = transport bits (every device). */
struct ml_virtio_feature {
	uint32_t device_id;
	uint8_t bit;
	const char *name;
};
extern const struct ml_virtio_feature ml_virtio_features[];
extern const size_t ml_virtio_features_count;

/* A named register at a byte offset of a structure. */
struct ml_abi_reg {
	uint16_t off, len;
	const char *name;
};
struct ml_abi_layout {
	const char *name;        /* capability name as in the dump, or header kind */
	uint16_t size;           /* bytes of the structure (0: unknown) */
	const struct ml_abi_reg *regs;
	size_t n;
};
/* PCI header registers (type 0 device, type 1 bridge). */
extern const struct ml_abi_layout ml_pci_header0, ml_pci_header1;
/* Capability layouts by dump name; NULL when unknown. ext: extended ones. */
const struct ml_abi_layout *ml_pci_cap_layout(const char *name, int ext);
/* virtio-pci vendor capability layout (vendor 0x1af4). */
extern const struct ml_abi_layout ml_pci_virtio_cap;

/* SMBIOS formatted-area fields of a structure type; NULL when unknown. */
enum ml_smbios_kind { SMB_BYTE, SMB_WORD, SMB_DWORD, SMB_QWORD, SMB_STRING, SMB_UUID, SMB_BYTES };
struct ml_smbios_field {
	uint8_t off, len;
	enum ml_smbios_kind kind;
	const char *name;
};
struct ml_smbios_type {
	uint8_t type;
	const char *name;
	const struct ml_smbios_field *fields;
	size_t n;
};
const struct ml_smbios_type *ml_smbios_type_info(unsigned type);

#endif
