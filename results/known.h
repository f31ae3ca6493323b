/* Known issues (matrix/known-issues.ini, format in docs/known-issues.md):
 * failures that are reported upstream and expected, so that a matching failed
 * cell becomes XFAIL and a cell listed here that passes becomes XPASS.
 *
 * An entry names the builds (version ranges compared as integer tuples, or
 * provider names), the machine types (globs), the failure classes of the
 * catalogue (classify.h), optionally the direction, and says why (note, link),
 * optionally with a fixup: QEMU arguments for the destination that avoid the
 * problem (e.g. "-global virtio-net-pci.host_uso=off").
 *
 * Invariants: a loaded list has unique ids; every entry has a note, src and
 * dst; version bounds are 1 to 4 whole numbers. Read-only once loaded. */
#ifndef ML_KNOWN_H
#define ML_KNOWN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "classify.h"

/* Environment variable naming a known-issue file that replaces the built-in one. */
#define ML_KNOWN_ENV "MIGLAB_KNOWN_ISSUES"
#define ML_VERSION_PARTS 4

/* "7.2..8.1": both bounds inclusive, compared on as many parts as the bound
 * has, so "..8.1" includes 8.1.5 and "10.0" alone means every 10.0.x. */
struct ml_version_range {
	int lo[ML_VERSION_PARTS], n_lo; /* n_lo 0: no lower bound */
	int hi[ML_VERSION_PARTS], n_hi; /* n_hi 0: no upper bound */
};

/* One side (src or dst): any of these alternatives. */
struct ml_build_match {
	bool any;                        /* "*" */
	char **providers;                /* "debian:trixie", "path:/..." (exact) */
	size_t n_providers;
	struct ml_version_range *ranges; /* QEMU versions */
	size_t n_ranges;
};

enum ml_known_direction {
	ML_KNOWN_ANY,     /* either migration */
	ML_KNOWN_FORWARD, /* failed in migrate-forward (or live-dst, reboot-dst) */
	ML_KNOWN_BACK,    /* failed in migrate-back (or back-src) */
};

struct ml_known_issue {
	char *id;
	unsigned line;
	struct ml_build_match src, dst;
	char **machines;    /* globs (fnmatch); none: every machine type */
	size_t n_machines;
	char **classes;     /* failure classes; none: any failure */
	size_t n_classes;
	enum ml_known_direction direction;
	char *note;
	char *link;         /* NULL if none */
	char *fixup;        /* as written, NULL if none */
	char **fixup_argv;  /* fixup split at white space, NULL-terminated */
	size_t n_fixup;
};

struct ml_known {
	char *origin;
	struct ml_known_issue *issues; /* in file order */
	size_t n_issues;
};

/* Load a list. path NULL means: $MIGLAB_KNOWN_ISSUES if set, else the copy of
 * matrix/known-issues.ini built into the program. Errors are "FILE:LINE: ...". */
int ml_known_load(const char *path, struct ml_known *k);
int ml_known_parse(const char *text, size_t len, const char *file, struct ml_known *k);
void ml_known_clear(struct ml_known *k);
const char *ml_known_builtin(void);

/* Check that every class an entry names exists in the catalogue; the error
 * names the entry's file and line. */
int ml_known_check_classes(const struct ml_known *k, const struct ml_catalogue *c);

/* The first entry that matches a cell, or NULL.
 * cell: a cell.json document (inputs.src/dst provider and version, machine).
 * classification: what ml_classify returned for a failed cell; the entry's
 * classes and direction must then match. NULL for a cell that passed: only
 * builds and machine type are compared (a match means XPASS). */
const struct ml_known_issue *ml_known_match(const struct ml_known *k, json_t *cell,
					    json_t *classification);

/* "7.2.22" -> {7, 2, 22}; returns the number of parts (0 if none). Stops at
 * the first character that is neither a digit nor a dot ("9.2.0-rc1"). */
int ml_version_parse(const char *s, int parts[ML_VERSION_PARTS]);
bool ml_version_in_range(const int *v, int n, const struct ml_version_range *r);

/* The entry as a JSON object (id, note, link, fixup) for cell.json. */
json_t *ml_known_issue_to_json(const struct ml_known_issue *i);

#endif
