/* Plan: a matrix expanded into a deterministic list of planned cells, and
 * deterministic shards of it (--shard I/N), so several hosts can split a run.
 *
 * Order (stable for a given matrix and machine lists, so cell k is the same
 * cell on every host):
 *   for each kernel, in file order
 *     for each source build, in file order
 *       for each destination build, in file order   (the control, src == dst,
 *                                                     sits at its place here)
 *         for each [machines FAMILY] section, in file order
 *           the negotiated machine types (negotiate.h): newest first for
 *           select rules, file order for a list. */
#ifndef ML_PLAN_H
#define ML_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "matrix.h"

struct ml_plan_cell {
	size_t src, dst;   /* indexes into the matrix builds */
	size_t kernel;     /* index into the matrix kernels */
	char *family;      /* "q35" */
	char *machine;     /* concrete machine type, or the requested name for a skip
			    * (the family name when a pair has no common machine type) */
	const char *rule;  /* "newest-common" | "oldest-common" | "all-common" | "list" */
	bool control;      /* src == dst */
	bool deprecated;   /* either build marks the machine type deprecated */
	char *skip_reason; /* NULL unless the cell is a planned skip */
};

struct ml_plan {
	struct ml_plan_cell *cells;
	size_t n;
};

/* Expand m. machines_per_build[i] is the `machines` array of the manifest of
 * build i (m->n_builds entries). Which pairs run:
 *   pairs = all:  every ordered pair of distinct builds, plus one control per
 *                 build when control = true;
 *   pairs = list: the [pair] sections, plus one control per build named by a
 *                 pair when control = true.
 * Fails (reported) when a machines array is missing. *out is empty on error. */
int ml_plan_expand(const struct ml_matrix *m, json_t *const *machines_per_build,
		   struct ml_plan *out);
void ml_plan_clear(struct ml_plan *p);

/* Deterministic slice for --shard I/N (1 <= I <= N): cell k belongs to shard
 * (k % N) + 1. The shards of 1..N together hold every cell exactly once.
 * Copies the cells (out owns them). */
int ml_plan_shard(const struct ml_plan *in, unsigned index, unsigned total, struct ml_plan *out);
/* "2/4" -> 2, 4. Errors name the cause: not I/N, N = 0, I outside 1..N, or
 * N above ML_SHARD_MAX. */
#define ML_SHARD_MAX 10000
int ml_shard_parse(const char *s, unsigned *index, unsigned *total);

/* Number of planned skips. */
size_t ml_plan_count_skips(const struct ml_plan *p);

/* The order cells run in: controls first (the judging stage compares every
 * other cell with them), then the rest, each group in plan order. order has
 * room for p->n indexes into p->cells. */
void ml_plan_run_order(const struct ml_plan *p, size_t *order);

/* The plan as JSON, for `miglab plan --json` and tests: an array of objects
 * { "src", "dst", "kernel" (section names), "family", "machine", "rule",
 *   "control", "deprecated", "skip_reason" (only for a skip) }. */
json_t *ml_plan_to_json(const struct ml_matrix *m, const struct ml_plan *p);

#endif
