/* run.json, written in one place. It has two parts:
 *   - the run's facts, which only the program that ran it knows: schema,
 *     run_id, kind (matrix, cell, merge), state, times, matrix, builds,
 *     kernels, host fingerprint, accelerator, jobs, shard, merged_from;
 *   - the judging stage's part (judge.h): cells (one line per judged cell),
 *     counts (per verdict), judgements (per category), unsound_builds,
 *     judged_at.
 * Each part can be rewritten without losing the other: `miglab analyse`
 * rewrites the judgements of an old run and keeps its facts. Written
 * atomically (a reader sees a whole old file or a whole new one). */
#ifndef ML_RUN_FILE_H
#define ML_RUN_FILE_H

#include <jansson.h>

/* Write <run_dir>/run.json from facts (borrowed; keys of the judged part in
 * it are ignored) and judged ({cells, counts, judgements, unsound_builds}
 * from ml_judge_run, borrowed), or NULL to keep the judged part run.json
 * already has. */
int ml_run_file_write(const char *run_dir, json_t *facts, json_t *judged);

/* The run.json of a run directory, or NULL with the error reported. */
json_t *ml_run_file_load(const char *run_dir);

#endif
