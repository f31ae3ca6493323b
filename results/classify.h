/* The failure catalogue and the classifier: explain why a cell failed.
 *
 * The catalogue is data (results/failures.ini, format in docs/failures.md):
 * one [class ID] section per failure class, with its documentation (title,
 * meaning, investigate, fix) and match rules (POSIX extended regular
 * expressions, case-insensitive, per source of evidence; phase and exit
 * filters; a priority). There is no class-specific C code: adding a class
 * is editing the INI file.
 *
 * The classifier reads a cell.json document and the logs its "logs" object
 * names in the cell directory (the QEMU stderr, QMP transcripts and guest
 * consoles, each read capped from its end), tries the classes in priority
 * order and returns the first that matches, with the line that matched quoted
 * with its source, and the device and field when the text names them. A failed
 * or errored cell always gets a class: `unclassified` when nothing matched.
 *
 * Classes may share a family (`family = ...`): failures that are the same
 * kind of breakage with different symptoms (a guest whose memory went bad
 * panics, reboots or hangs at random). A class without one is its own family.
 *
 * Invariants: a loaded catalogue has at least the class `unclassified`
 * (which has no rules); every regular expression compiled; every class id
 * is unique and [a-z0-9-]+. The catalogue is read-only once loaded and may
 * be shared by threads. */
#ifndef ML_CLASSIFY_H
#define ML_CLASSIFY_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#define ML_CLASS_UNCLASSIFIED "unclassified"
/* Environment variable naming a catalogue file that replaces the built-in one. */
#define ML_CATALOGUE_ENV "MIGLAB_FAILURES"
/* Each log file is read from its end, at most this many bytes. */
#define ML_CLASSIFY_LOG_CAP ((size_t)256 << 10)
/* A quoted line is cut to this many bytes (plus "..."). */
#define ML_CLASSIFY_QUOTE_MAX 400
/* The "oops" quote: the first line of a guest kernel oops and at most this
 * many lines after it, at most ML_CLASSIFY_OOPS_MAX bytes in all. */
#define ML_CLASSIFY_OOPS_LINES 12
#define ML_CLASSIFY_OOPS_MAX 1500
/* The "pages" text names at most this many bad pages. */
#define ML_CLASSIFY_PAGES_SHOWN 4

/* Where evidence comes from; the names are the catalogue's keys. */
enum ml_evidence_source {
	ML_EVIDENCE_REASON,        /* "reason": the cell's one-line reason */
	ML_EVIDENCE_EVIDENCE,      /* "evidence": failure.evidence and the phase's error */
	ML_EVIDENCE_MIGRATE_ERROR, /* "migrate_error": query-migrate error-desc */
	ML_EVIDENCE_QMP_ERROR,     /* "qmp_error": error replies in the QMP transcripts */
	ML_EVIDENCE_SRC_STDERR,    /* "src_stderr": the source QEMU's stderr */
	ML_EVIDENCE_DST_STDERR,    /* "dst_stderr": the destination QEMU's stderr */
	ML_EVIDENCE_BACK_STDERR,   /* "back_stderr": the migrate-back destination's stderr */
	/* The guest consoles (serial output, untrusted). Only the console of the
	 * VM the guest was on when it failed is read (failure.phase says which:
	 * boot-src: src; migrate-forward, live-dst, reboot-dst: dst; migrate-back,
	 * back-src: back), so that a panic of an earlier boot on another VM, which
	 * the guest survived, never explains a later failure. All three when the
	 * document names no phase. */
	ML_EVIDENCE_SRC_CONSOLE,   /* "src_console": console-src.log */
	ML_EVIDENCE_DST_CONSOLE,   /* "dst_console": console-dst.log */
	ML_EVIDENCE_BACK_CONSOLE,  /* "back_console": console-back.log */
	ML_EVIDENCE_MAX,
};

/* Key name of a source ("dst_stderr") and its label in quotes ("dst stderr"). */
const char *ml_evidence_source_key(enum ml_evidence_source s);
const char *ml_evidence_source_label(enum ml_evidence_source s);

/* One regular expression of the catalogue. */
struct ml_pattern {
	unsigned sources; /* bit mask of (1u << enum ml_evidence_source) */
	char *text;       /* as written in the file */
	regex_t re;       /* REG_EXTENDED | REG_ICASE | REG_NEWLINE */
	unsigned line;
};

/* exit = WHO:HOW. WHO: src, dst, back, any, or several joined by '+'
 * (dst+back). HOW: signal (killed by a signal other than SIGKILL, which the
 * lab itself sends), status (exited with a non-zero status), any (exited). */
struct ml_exit_rule {
	bool set;
	unsigned who;  /* bit mask: 1 src, 2 dst, 4 back */
	char how[8];   /* "signal", "status", "any" */
};

struct ml_failure_class {
	char *id;
	char *family;      /* NULL: the class is its own family (use ml_class_family) */
	char *title;
	char *meaning;
	char *investigate;
	char *fix;
	char **examples;   /* example lines (the docs show them; tests classify them) */
	size_t n_examples;
	int priority;      /* lower is tried first; ties keep file order */
	unsigned line;
	char **phases;     /* filter: failure.phase is one of these (none: any) */
	size_t n_phases;
	char **verdicts;   /* filter: the verdict is one of these (none: any) */
	size_t n_verdicts;
	struct ml_exit_rule exit;
	struct ml_pattern *patterns; /* any one matching is enough */
	size_t n_patterns;
	bool no_extract;   /* extract = no: name no device or field */
	struct ml_pattern *device_res; /* tried before the catalogue's [extract] */
	size_t n_device_res;
	struct ml_pattern *field_res;
	size_t n_field_res;
};

struct ml_catalogue {
	char *origin;      /* file name, or "built-in" */
	struct ml_failure_class *classes; /* in file order */
	size_t n_classes;
	size_t *order;     /* indexes into classes, by priority */
	struct ml_pattern *device_res; /* [extract] device = ... */
	size_t n_device_res;
	struct ml_pattern *field_res;  /* [extract] field = ... */
	size_t n_field_res;
	struct ml_pattern *oops_res;   /* [extract] oops = ...: the first line of an oops */
	size_t n_oops_res;
};

/* Load a catalogue. path NULL means: the file named by $MIGLAB_FAILURES if
 * set, else the copy of results/failures.ini built into the program (so an
 * installed miglab needs no data file). Errors are "FILE:LINE: message". */
int ml_catalogue_load(const char *path, struct ml_catalogue *c);
/* The same from text in memory; file names it in errors. */
int ml_catalogue_parse(const char *text, size_t len, const char *file, struct ml_catalogue *c);
void ml_catalogue_clear(struct ml_catalogue *c);
/* The built-in copy of results/failures.ini (NUL-terminated). */
const char *ml_catalogue_builtin(void);

const struct ml_failure_class *ml_catalogue_find(const struct ml_catalogue *c, const char *id);

/* The family of a class: its `family` key, else its id. Two failures of one
 * family are the same breakage seen through different symptoms. */
const char *ml_class_family(const struct ml_failure_class *k);

/* Classify a cell. cell is a cell.json document; cell_dir the directory its
 * "logs" are in (NULL: use only what cell.json quotes). On success
 * *classification is a new object:
 *   { "class": ID, "title": ..., "family": FAMILY (ml_class_family),
 *     "source": "dst_stderr" | ... | null,
 *     "matched": "dst stderr: qemu-system-x86_64: Unknown savevm ...",
 *     "device": "0000:00:05.0/virtio-balloon" | null, "field": ... | null,
 *     "oops": "BUG: kernel NULL pointer ...\nRIP: ..." | null,
 *     "pages": "2 of 16384 pages bad (stale 1, zero 1): 7 stale ..." | null }
 * "oops" is the first guest kernel oops (from the first line an [extract]
 * oops expression finds, up to ML_CLASSIFY_OOPS_LINES more lines, kernel
 * timestamps removed) in the matched source if it is a console or the
 * evidence, else in the console read; "pages" names the first bad pages of a
 * probe ram-verify reply quoted in the evidence.
 * For a cell that did not fail (verdict pass or skip), *classification is
 * NULL and 0 is returned. Unreadable logs are not errors (the cell's own
 * quotes are used instead); -1 only for a malformed document. */
int ml_classify(const struct ml_catalogue *c, json_t *cell, const char *cell_dir,
		json_t **classification);

/* The evidence of a cell by source, as ml_classify sees it (for tools and
 * tests): texts[s] is a new string or NULL. */
int ml_classify_collect(json_t *cell, const char *cell_dir, char *texts[ML_EVIDENCE_MAX]);

/* What the filters of a class look at; NULL members are unknown. */
struct ml_classify_facts {
	const char *verdict; /* "fail", "error" */
	const char *phase;   /* failure.phase */
	const char *exits[3]; /* exit_src, exit_dst, exit_back: "killed by signal 6 (Aborted)" */
};

/* Classify evidence already collected (texts by source; NULL entries are
 * absent sources). facts may be NULL. Returns the object ml_classify gives. */
json_t *ml_classify_texts(const struct ml_catalogue *c, char *const texts[ML_EVIDENCE_MAX],
			  const struct ml_classify_facts *facts);

/* The catalogue rendered for people: markdown (docs/failures.md is exactly
 * this) or plain text for a terminal. Caller frees. */
char *ml_catalogue_markdown(const struct ml_catalogue *c);
char *ml_catalogue_text(const struct ml_catalogue *c);

/* ---- INI reading shared by the catalogue and the known-issue list -------
 * libinih fed line by line (so every key has its line number), with section
 * headers reported even when empty, and indented continuation lines turned
 * into a repetition of the previous key (the handler appends). */
struct ml_ini_event {
	const char *file;
	const char *section; /* "class section-unknown": the text between [ ] */
	const char *key;     /* NULL for a section header */
	const char *value;
	unsigned line;
	bool continuation;   /* the value came from an indented continuation line */
};
/* Return 0 to go on, -1 after setting *error with ml_ini_fail(). */
typedef int (*ml_ini_handler)(const struct ml_ini_event *ev, void *opaque, char **error);
/* Parse text; on error *error is "FILE:LINE: message" (caller frees) and -1. */
int ml_ini_parse_text(const char *text, size_t len, const char *file, ml_ini_handler handler,
		      void *opaque, char **error);
/* Set *error (if not yet set) to "FILE:LINE: message"; returns -1. */
int ml_ini_fail(char **error, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
