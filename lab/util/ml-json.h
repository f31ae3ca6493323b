/* jansson helpers: atomic JSON files, bounded parsing, and typed getters that
 * report what was missing instead of crashing on a malformed document. */
#ifndef ML_JSON_H
#define ML_JSON_H

#include <jansson.h>
#include <stdbool.h>

/* Dump value (sorted keys, 2-space indent) to path atomically. */
int ml_json_write_file(const char *path, json_t *value);
/* Load a JSON file of at most limit bytes; the error names file, line, column. */
json_t *ml_json_load_file(const char *path, size_t limit);
/* Parse one JSON document from a buffer; the error names what is wrong. */
json_t *ml_json_parse(const char *data, size_t len, const char *what);

/* Getters: NULL / -1 / def when the key is absent or of another type. */
const char *ml_json_str(const json_t *obj, const char *key);
long long ml_json_int(const json_t *obj, const char *key, long long def);
bool ml_json_bool(const json_t *obj, const char *key, bool def);

/* json_object_set_new that never fails silently (aborts on OOM). */
void ml_json_set(json_t *obj, const char *key, json_t *value);
/* A string of outside text (a console, QEMU's stderr, a guest's answer):
 * bytes that are not valid UTF-8 become U+FFFD, so it always fits in JSON.
 * NULL -> null. */
void ml_json_set_str(json_t *obj, const char *key, const char *s);
/* The same as a new JSON string (never NULL). */
json_t *ml_json_string_text(const char *s);
/* s with every byte that is not part of valid UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) replaced by U+FFFD; caller
 * frees. */
char *ml_utf8_sanitize(const char *s);
/* Whether s is valid UTF-8 (the rules above); *bad (may be NULL) receives
 * the offset of the first byte that is not. */
bool ml_utf8_valid(const char *s, size_t *bad);
/* Text from a guest or QEMU made safe for a terminal or a line-based file
 * (TAP): valid UTF-8 (ml_utf8_sanitize), and every control character (C0
 * but tab, and newline when multiline; DEL; C1) replaced by '?', so it can
 * neither send escape sequences nor start a line of its own. NULL is "".
 * Caller frees. */
char *ml_text_safe(const char *s, bool multiline);
void ml_json_set_int(json_t *obj, const char *key, long long v);

#endif
