/* Where a run's files are (DESIGN.md "Result files"): the one place that
 * spells the names of the results layout.
 *
 *   <results>/<run-id>/run.json                 the run: facts and judgements
 *   <results>/<run-id>/matrix.ini               the matrix as it ran
 *   <results>/<run-id>/cells/<cell-id>/cell.json          the cell's judgement
 *   <results>/<run-id>/cells/<cell-id>/attempts/<N>/attempt.json  one attempt's
 *                                               evidence, with its logs, dumps
 *                                               and streams beside it
 *
 * The cell writes only attempts/<N>/; the judging stage (judge.h) writes
 * cell.json and run.json. Results written before attempts existed (a cell
 * directory holding its evidence and cell.json side by side) are read as a
 * cell with one attempt in the cell directory itself. */
#ifndef ML_LAYOUT_H
#define ML_LAYOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define ML_LAYOUT_RUN_FILE "run.json"
#define ML_LAYOUT_MATRIX_FILE "matrix.ini"
#define ML_LAYOUT_CELLS_DIR "cells"
#define ML_LAYOUT_CELL_FILE "cell.json"
#define ML_LAYOUT_ATTEMPTS_DIR "attempts"
#define ML_LAYOUT_ATTEMPT_FILE "attempt.json"
/* More attempts than this in one cell is a damaged directory. */
#define ML_LAYOUT_MAX_ATTEMPTS 64

/* Longest cell id accepted from a file (ml_cell_id() makes ~150 bytes). */
#define ML_LAYOUT_CELL_ID_MAX 200

/* Whether id may name a cell directory: 1..ML_LAYOUT_CELL_ID_MAX bytes of
 * [A-Za-z0-9._+-], not starting with '.'. The one check of a cell id read
 * from a file (cell.json, attempt.json) before it becomes part of a path. */
bool ml_layout_valid_cell_id(const char *id);

/* <run_dir>/cells/<cell_id>; caller frees. cell_id must be valid
 * (ml_layout_valid_cell_id) when it was read from a file. */
char *ml_layout_cell_dir(const char *run_dir, const char *cell_id);
/* <cell_dir>/attempts/<n> (n from 1); caller frees. */
char *ml_layout_attempt_dir(const char *cell_dir, int n);
/* <dir>/<file>; caller frees (a readable name for ml_path_join of the two). */
char *ml_layout_file(const char *dir, const char *file);

/* The numbers of the attempts recorded in a cell directory, ascending, in
 * *numbers (caller frees). 0 attempts is not an error (a legacy cell, or a
 * cell that never started). */
int ml_layout_list_attempts(const char *cell_dir, int **numbers, size_t *n);

/* The directory whose files a judged cell document's "logs" name: the
 * attempt it was judged from ("evidence_dir", relative), else the cell
 * directory itself (legacy results). Caller frees. */
char *ml_layout_evidence_dir(const char *cell_dir, const json_t *cell_doc);

#endif
