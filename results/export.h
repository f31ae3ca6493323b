/* Exports of a run for CI consumers, made from the result files alone
 * (<run>/cells/<id>/cell.json): JUnit XML (one testcase per cell, failures
 * with the reason and evidence) and TAP version 13. Untrusted text (QEMU and
 * guest output quoted as evidence) is escaped for XML and kept to one
 * comment block per cell in TAP. */
#ifndef ML_EXPORT_H
#define ML_EXPORT_H

#include <jansson.h>

/* Load every cell.json of a run directory, sorted by cell id, into a new
 * array. Cells whose cell.json is missing or unreadable are skipped with a
 * warning on stderr (a run being written may have partial cells). */
json_t *ml_run_load_cells(const char *run_dir);
/* The same, but a cell.json whose cell_id is invalid (ml_layout_valid_cell_id)
 * or not its directory's name is an error naming the file and the id
 * (*cells is NULL then); for writers that build paths from the ids. */
int ml_run_load_cells_checked(const char *run_dir, json_t **cells);

/* Count verdicts of an array of cell documents: {"pass": N, ...}. */
json_t *ml_run_count_verdicts(json_t *cells);

/* JUnit XML: a testsuite of the cells (one testcase each) and, when
 * machine_abi (run.json "machine_abi", may be NULL) has entries, a testsuite
 * of machine-type ABI verdicts (one testcase per build pair and machine
 * type; a break is a failure). */
int ml_export_junit(const char *run_dir, const char *run_id, json_t *cells, const json_t *machine_abi,
		    const char *path);
int ml_export_tap(json_t *cells, const char *path);

/* Escape text for XML character data and attribute values: & < > " ' and
 * control bytes other than tab/newline (which XML 1.0 cannot carry) become
 * entities or U+FFFD. Caller frees. */
char *ml_xml_escape(const char *s);

#endif
