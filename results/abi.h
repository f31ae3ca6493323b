/* Guest-visible ABI dumps (schema miglab-abi/1, docs/abi.md): loading and
 * validating a dump, and the volatile list (results/abi-volatile.txt) that
 * says which values legitimately differ between two boots of the same guest.
 * Nothing volatile is hard-coded in C: the list is data, parsed here.
 *
 * Invariants: a dump that ml_abi_load() returns is an object with the right
 * schema, every section present as an object, and every list element the
 * diff engine matches on carries its key with the right type (or is the
 * string "<volatile>", what redaction leaves behind). */
#ifndef ML_ABI_H
#define ML_ABI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ML_ABI_SCHEMA "miglab-abi/1"
/* Dumps are a few MiB at most; anything larger is not a dump. */
#define ML_ABI_MAX_BYTES ((size_t)64 << 20)
/* What a volatile value becomes in a redacted dump (baselines store it). */
#define ML_ABI_VOLATILE_MARK "<volatile>"

/* Load path (at most ML_ABI_MAX_BYTES) and validate it. NULL with an error
 * naming the file and what is wrong ("x.json: pci.devices[2]: 'bdf' is
 * missing or not a string"). */
json_t *ml_abi_load(const char *path);
/* Validate a parsed document; what names it in errors. */
int ml_abi_validate(const json_t *doc, const char *what);

/* Parse "0x..." (hex, at most 64 bits) into *out; false if it is not one. */
bool ml_abi_parse_hex64(const char *s, uint64_t *out);

/* The volatile list: path patterns over the dump with a reason each.
 * Syntax (docs/abi-diff.md): `a.b[key=value].c` names members and selects
 * array elements; `*` is any one member name, `[*]` any one element, `**`
 * any number of steps; a suffix `@OFF+LEN`, `@cap:NAME+OFF+LEN` or
 * `@ecap:NAME+OFF+LEN` makes only those bytes of a hex blob volatile
 * (relative to each capability NAME listed in the same object). */
struct ml_abi_volatile;

struct ml_abi_volatile *ml_abi_volatile_parse(const char *text, size_t len, const char *what);
struct ml_abi_volatile *ml_abi_volatile_load(const char *path);
/* The list miglab uses, first found of: $MIGLAB_ABI_VOLATILE (a file), the
 * source tree's results/abi-volatile.txt (path compiled in), the copy
 * embedded in the binary at build time. */
struct ml_abi_volatile *ml_abi_volatile_default(void);
void ml_abi_volatile_free(struct ml_abi_volatile *v);
/* Where the list came from (a path, or "embedded copy"). */
const char *ml_abi_volatile_source(const struct ml_abi_volatile *v);
size_t ml_abi_volatile_count(const struct ml_abi_volatile *v);
/* Pattern text and reason of entry i (i < count). */
const char *ml_abi_volatile_pattern(const struct ml_abi_volatile *v, size_t i);
const char *ml_abi_volatile_reason(const struct ml_abi_volatile *v, size_t i);

/* A deep copy of dump with every volatile value replaced by the string
 * "<volatile>" and every volatile byte of a hex blob by "--". v may be NULL
 * (a plain copy). */
json_t *ml_abi_redact(const json_t *dump, const struct ml_abi_volatile *v);

/* The build-time copy of abi-volatile.txt (generated abi-volatile-embed.c). */
extern const unsigned char ml_abi_volatile_embedded[];
extern const size_t ml_abi_volatile_embedded_len;

#endif
