/* The semantic ABI diff: two dumps (abi.h) in, a list of differences a human
 * can read out ("CPUID leaf 0x7.0 EBX bit 9 (erms): 1 -> 0"). Volatile values
 * are excluded through the volatile list only (both dumps are redacted with
 * it first). The order is deterministic: sections in the order of
 * docs/abi.md, then each section's natural key (leaf, BDF, signature...).
 * What is compared and how it is named: docs/abi-diff.md. */
#ifndef ML_ABI_DIFF_H
#define ML_ABI_DIFF_H

#include <jansson.h>
#include <stddef.h>

#include "abi.h"

struct ml_abi_difference {
	char *section; /* "cpuid", "msr", "pci", "acpi", "smbios", "virtio", "memory_map", "cpu", ... */
	char *key;     /* what differs, named: "leaf 0x7.0 EBX bit 9 (erms)" */
	char *what;    /* "changed", "added" or "removed" */
	char *before;  /* NULL when added */
	char *after;   /* NULL when removed */
	char *detail;  /* NULL, or more lines (an AML disassembly diff, byte offsets...) */
};

struct ml_abi_diff {
	struct ml_abi_difference *items;
	size_t n, cap;
};

struct ml_abi_diff_options {
	/* iasl to disassemble changed ACPI tables with (NULL: none; then the
	 * detail lists the byte offsets that differ). */
	const char *iasl;
	/* Cap of each detail text in bytes (0: 16 KiB). */
	size_t detail_limit;
};

/* Compare before and after (validated dumps; not modified). vol may be NULL
 * (nothing volatile), o may be NULL (no iasl). out must be zeroed; on error
 * it is cleared. Returns 0 (out->n says how many differences) or -1. */
int ml_abi_diff_dumps(const json_t *before, const json_t *after, const struct ml_abi_volatile *vol,
		      const struct ml_abi_diff_options *o, struct ml_abi_diff *out);
void ml_abi_diff_clear(struct ml_abi_diff *d);

/* [{"section", "key", "what", "before", "after", "detail"}, ...] (null for
 * absent strings): the form cell.json findings and reports carry. */
json_t *ml_abi_diff_to_json(const struct ml_abi_diff *d);
/* One line per difference ("SECTION key: before -> after"), detail lines
 * indented below it; guest-controlled text is escaped. Caller frees. */
char *ml_abi_diff_to_text(const struct ml_abi_diff *d);
/* The same rendering from the JSON form (e.g. a report read back). */
char *ml_abi_diff_json_to_text(const json_t *diffs);

/* iasl to use: $MIGLAB_IASL if set ("" disables), else "iasl" in $PATH.
 * NULL when there is none. Caller frees. */
char *ml_abi_find_iasl(void);

#endif
