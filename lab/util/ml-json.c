/* jansson helpers (see ml-json.h). */
#include <stdio.h>
#include <string.h>

#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-common.h"

int ml_json_write_file(const char *path, json_t *value)
{
	ml_autofree char *text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);
	size_t len;
	char *withnl;
	int ret;

	if (!text) {
		ml_error("cannot serialise JSON for %s", path);
		return -1;
	}
	len = strlen(text);
	withnl = malloc(len + 2);
	if (!withnl)
		abort();
	memcpy(withnl, text, len);
	withnl[len] = '\n';
	withnl[len + 1] = '\0';
	ret = ml_write_atomic(path, withnl, len + 1, 0644);
	free(withnl);
	return ret;
}

json_t *ml_json_load_file(const char *path, size_t limit)
{
	ml_autofree char *data = NULL;
	size_t len;
	json_error_t jerr;
	json_t *v;

	if (ml_read_file(path, limit, &data, &len) < 0)
		return NULL;
	v = json_loadb(data, len, 0, &jerr);
	if (!v)
		ml_error("%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column, jerr.text);
	return v;
}

json_t *ml_json_parse(const char *data, size_t len, const char *what)
{
	json_error_t jerr;
	json_t *v = json_loadb(data, len, 0, &jerr);

	if (!v)
		ml_error("%s: invalid JSON at column %d: %s", what, jerr.column, jerr.text);
	return v;
}

const char *ml_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

long long ml_json_int(const json_t *obj, const char *key, long long def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

bool ml_json_bool(const json_t *obj, const char *key, bool def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

void ml_json_set(json_t *obj, const char *key, json_t *value)
{
	if (!value || json_object_set_new(obj, key, value) < 0)
		abort();
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

bool ml_utf8_valid(const char *s, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t k = utf8_seq(p);
		if (!k) {
			if (bad)
				*bad = (size_t)(p - (const unsigned char *)s);
			return false;
		}
		p += k;
	}
	return true;
}

char *ml_utf8_sanitize(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *o = out;

	if (!out)
		abort();
	while (*p) {
		size_t k = utf8_seq(p);
		if (k) {
			memcpy(o, p, k);
			o += k;
			p += k;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	return out;
}

char *ml_text_safe(const char *s, bool multiline)
{
	ml_autofree char *clean = ml_utf8_sanitize(s ? s : "");
	const unsigned char *p = (const unsigned char *)clean;
	char *out = malloc(strlen(clean) + 1), *o = out;

	if (!out)
		abort();
	while (*p) {
		/* C1 controls U+0080..U+009F are C2 80..C2 9F in UTF-8. */
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			*o++ = '?';
			p += 2;
		} else if ((*p < 0x20 && *p != '\t' && !(multiline && *p == '\n')) || *p == 0x7f) {
			*o++ = '?';
			p++;
		} else {
			*o++ = (char)*p++;
		}
	}
	*o = '\0';
	return out;
}

json_t *ml_json_string_text(const char *s)
{
	json_t *v = json_string(s);
	char *clean;

	if (v)
		return v;
	clean = ml_utf8_sanitize(s);
	v = json_string(clean);
	free(clean);
	if (!v)
		abort();
	return v;
}

void ml_json_set_str(json_t *obj, const char *key, const char *s)
{
	ml_json_set(obj, key, s ? ml_json_string_text(s) : json_null());
}

void ml_json_set_int(json_t *obj, const char *key, long long v)
{
	ml_json_set(obj, key, json_integer(v));
}
