/* Kinds and severities of guest-visible ABI differences: one table
 * (results/abi-kinds.txt, docs/abi-severity.md) says what each difference the
 * ABI diff names is (a CPU feature, a virtio queue size, a firmware version
 * string...) and how much it matters, between two fresh boots and under a
 * running guest. Nothing about severities is in C code but the order of the
 * words. */
#ifndef ML_ABI_KINDS_H
#define ML_ABI_KINDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Ordered: a worse severity is a larger number. */
enum ml_abi_severity {
	ML_ABI_NONE = 0, /* no difference */
	ML_ABI_INFO,
	ML_ABI_WARN,
	ML_ABI_ERROR,
	ML_ABI_FAIL,     /* fails the cell (LIVE only) */
};

/* What is compared with what. */
enum ml_abi_mode {
	ML_ABI_BOOTS, /* two fresh boots (builds, a baseline, after a reset): BOOTS column */
	ML_ABI_LIVE,  /* the same boot before and after a migration: LIVE column */
};

struct ml_abi_kind_rule {
	char *kind;
	enum ml_abi_severity boots, live;
	bool firmware;   /* the firmware decides the value */
	char *section;   /* "*" for any */
	char *glob;      /* over the difference's key */
	unsigned line;
};

struct ml_abi_kinds {
	struct ml_abi_kind_rule *rules;
	size_t n;
	char *file;
};

extern const char ml_abi_kinds_embedded[];

/* The table: $MIGLAB_ABI_KINDS (a file), else the source tree's
 * results/abi-kinds.txt, else the copy built into the program. NULL with
 * the error set (FILE:LINE: what is wrong). */
struct ml_abi_kinds *ml_abi_kinds_default(void);
struct ml_abi_kinds *ml_abi_kinds_load(const char *path);
struct ml_abi_kinds *ml_abi_kinds_parse(const char *text, const char *file);
void ml_abi_kinds_free(struct ml_abi_kinds *k);

/* "info", "warn", "error", "fail" ("none" for ML_ABI_NONE). */
const char *ml_abi_severity_name(enum ml_abi_severity s);
/* The severity of a name, or -1. */
int ml_abi_severity_parse(const char *name);

/* Whether the table has this kind. */
bool ml_abi_kinds_has(const struct ml_abi_kinds *k, const char *kind);
/* The kinds, comma-separated, for messages. Caller frees. */
char *ml_abi_kinds_list(const struct ml_abi_kinds *k);

/* The rule of a difference (first match); never NULL when the table ends
 * with a catch-all line, NULL otherwise when nothing matches. */
const struct ml_abi_kind_rule *ml_abi_kinds_match(const struct ml_abi_kinds *k, const char *section,
						  const char *key);

/* Whether two dumps ran different guest firmware: the SMBIOS type 0 (BIOS
 * Information) strings differ, or one side has none. */
bool ml_abi_firmware_differs(const json_t *a, const json_t *b);

/* Give each difference of diffs (the ml_abi_diff_to_json form) its "kind"
 * and "severity" for mode; overrides (NULL or {KIND: "error"|"warn"|"info"})
 * replace the table's BOOTS severity of a kind; with firmware_differs a
 * firmware-decided difference is "info" and says why ("firmware" member).
 * Returns the worst severity (ML_ABI_NONE for an empty list). */
enum ml_abi_severity ml_abi_kinds_annotate(const struct ml_abi_kinds *k, json_t *diffs, enum ml_abi_mode mode,
					   const json_t *overrides, bool firmware_differs);

/* {KIND: {"severity": S, "count": N}} of an annotated list. New reference. */
json_t *ml_abi_kinds_count(const json_t *diffs);

#endif
