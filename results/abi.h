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
/* Bounds on a dump, which a guest writes (docs/abi.md, "Bounds"). The
 * largest of 1,886 recorded dumps is 53,561 bytes, 6 levels deep; a guest
 * could legitimately reach about half a MiB (QEMU's ACPI blob, padded to
 * 128 KiB, as hex; 32 PCI Express functions with their 4 KiB config space
 * as hex), so 1 MiB refuses nothing real and keeps what a hostile guest can
 * make the host parse and hold (jansson needs some 20 to 70 times the text)
 * small. The element counts bound the work of the diff (one iasl run per
 * differing ACPI table, one finding per difference) where the byte cap
 * alone allows hundreds of thousands of small elements. */
#define ML_ABI_MAX_BYTES ((size_t)1 << 20)
#define ML_ABI_MAX_DEPTH 16            /* nesting; 6 in every dump */
#define ML_ABI_MAX_STRING ((size_t)256 << 10) /* 128 KiB of ACPI as hex; 17,188 seen */
#define ML_ABI_MAX_ARRAY 4096          /* any other list (cpu.flags, queues); 85 seen */
#define ML_ABI_MAX_MEMBERS 1024        /* members of one object; 14 seen */
/* What a volatile value becomes in a redacted dump (baselines store it). */
#define ML_ABI_VOLATILE_MARK "<volatile>"

/* Load path (at most ML_ABI_MAX_BYTES) and validate it. NULL with an error
 * naming the file and what is wrong ("x.json: pci.devices[2]: 'bdf' is
 * missing or not a string"). */
json_t *ml_abi_load(const char *path);
/* Validate a parsed document; what names it in errors. Includes
 * ml_abi_check_bounds(). */
int ml_abi_validate(const json_t *doc, const char *what);
/* Check a dump against the bounds above: nesting depth, string length,
 * members per object, elements per list (the lists the diff matches have
 * their own, smaller caps: pci.devices 256, acpi.tables 64, ...). -1 with an
 * error naming the place, the figure and the limit ("x.json: pci.devices
 * has 5000 elements, more than the limit of 256"). */
int ml_abi_check_bounds(const json_t *doc, const char *what);

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
