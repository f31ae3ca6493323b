/* Machine-type negotiation: which machine types of a family a pair of builds
 * both offer, and which of them a [machines FAMILY] section selects. Works on
 * the `machines` arrays of build manifests (docs/builds.md: objects with
 * name, aliases[], deprecated), so it needs no QEMU. Versions compare as
 * integer tuples, never as strings: pc-q35-10.0 is newer than pc-q35-9.2. */
#ifndef ML_NEGOTIATE_H
#define ML_NEGOTIATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "matrix.h"

#define ML_MACHINE_VERSION_PARTS 4

struct ml_machine_version {
	unsigned part[ML_MACHINE_VERSION_PARTS]; /* pc-q35-4.0.1 -> 4, 0, 1 */
	unsigned n;                              /* parts used, 2..4 */
};

/* Split a versioned machine type: "pc-q35-7.2" -> family "q35" (written to
 * family, of size family_size), version (7, 2). False (nothing reported) for
 * any other name: aliases (q35, pc), microvm, none, unversioned names. */
bool ml_machine_parse(const char *name, char *family, size_t family_size,
		      struct ml_machine_version *version);
/* <0, 0, >0 like strcmp; a version is older than its own extensions
 * (4.0 < 4.0.1). */
int ml_machine_version_cmp(const struct ml_machine_version *a,
			   const struct ml_machine_version *b);

/* The concrete machine type a name or alias means in a machines array
 * (borrowed from it), or NULL when the build does not have it. */
const char *ml_machines_resolve(const json_t *machines, const char *name);
/* Whether the build marks that concrete machine type deprecated. */
bool ml_machines_deprecated(const json_t *machines, const char *name);

/* One side of a pair, as negotiation sees it. */
struct ml_negotiate_build {
	const char *name;       /* "bookworm" (matrix section name) */
	const char *provider;   /* "debian:bookworm" */
	const json_t *machines; /* the manifest's machines array */
};

struct ml_negotiated {
	char *machine;     /* concrete machine type; for a skip, the name asked for
			    * (the list entry, or the family name when the pair has
			    * no common machine type of the family) */
	const char *rule;  /* "newest-common", "oldest-common", "all-common" or "list" */
	bool deprecated;   /* either build marks the machine type deprecated */
	char *skip_reason; /* NULL unless this is a planned skip */
};

struct ml_negotiation {
	struct ml_negotiated *items;
	size_t n;
};

/* The machine types family f selects for migrating from src to dst (src and
 * dst may be the same build: a control).
 *   select: the common machine types (same concrete name on both sides) of
 *     the family, newest first; newest-common takes the first, oldest-common
 *     the last, all-common all of them; the union without duplicates, newest
 *     first. A machine type picked by several rules is labelled with the first
 *     of newest-common, oldest-common, all-common that picks it. No common
 *     machine type gives one skip.
 *   list: the entries in file order; an alias resolves on src and dst must
 *     have the same concrete machine type; an entry missing on a side is a
 *     skip naming that side; an entry meaning a machine type already listed
 *     is dropped.
 * Returns -1 (reported) when a machines array is not an array. */
int ml_negotiate_family(const struct ml_matrix_family *f, const struct ml_negotiate_build *src,
			const struct ml_negotiate_build *dst, struct ml_negotiation *out);
void ml_negotiation_clear(struct ml_negotiation *n);

#endif
