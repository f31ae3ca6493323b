/* Kinds and severities of ABI differences (abi-kinds.h, results/abi-kinds.txt). */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "abi-kinds.h"
#include "ml-buf.h"
#include "ml-common.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"

#define KINDS_MAX_BYTES (1 << 20)

/* The table, built into the program (an installed miglab needs no data file). */
__asm__(".section .rodata\n"
	".global ml_abi_kinds_embedded\n"
	".type ml_abi_kinds_embedded, @object\n"
	".balign 16\n"
	"ml_abi_kinds_embedded:\n"
	".incbin \"" ML_ABI_KINDS_TXT "\"\n"
	".byte 0\n"
	".previous\n");

static const char *const severity_names[] = {
	[ML_ABI_NONE] = "none", [ML_ABI_INFO] = "info", [ML_ABI_WARN] = "warn",
	[ML_ABI_ERROR] = "error", [ML_ABI_FAIL] = "fail",
};

const char *ml_abi_severity_name(enum ml_abi_severity s)
{
	return (unsigned)s < ML_ARRAY_SIZE(severity_names) ? severity_names[s] : "none";
}

int ml_abi_severity_parse(const char *name)
{
	for (size_t i = 0; name && i < ML_ARRAY_SIZE(severity_names); i++)
		if (strcmp(name, severity_names[i]) == 0)
			return (int)i;
	return -1;
}

void ml_abi_kinds_free(struct ml_abi_kinds *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		free(k->rules[i].kind);
		free(k->rules[i].section);
		free(k->rules[i].glob);
	}
	free(k->rules);
	free(k->file);
	free(k);
}

/* The next whitespace-separated word of *s (advanced), or NULL at the end. */
static char *word(char **s)
{
	char *p = *s, *w;

	p += strspn(p, " \t");
	if (!*p)
		return NULL;
	w = p;
	p += strcspn(p, " \t");
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}

/* ml_error, then -1: a line of the table is wrong. */
static int kinds_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int kinds_error(const char *fmt, ...)
{
	ml_autobuf struct ml_buf b = ML_BUF_INIT(0);
	va_list ap;

	va_start(ap, fmt);
	ml_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ml_error("%s", b.data);
	return -1;
}

static int parse_line(struct ml_abi_kinds *k, char *line, unsigned n)
{
	struct ml_abi_kind_rule r = { .line = n };
	char *kind = word(&line), *boots = word(&line), *live = word(&line), *fw = word(&line);
	char *section = word(&line);
	int b, l;
	size_t len;

	line += strspn(line, " \t");
	len = strlen(line);
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (!section || !len)
		return kinds_error("%s:%u: a line is KIND BOOTS LIVE FW SECTION KEY", k->file, n);
	b = ml_abi_severity_parse(boots);
	l = ml_abi_severity_parse(live);
	if (b < ML_ABI_INFO || b > ML_ABI_ERROR)
		return kinds_error("%s:%u: BOOTS severity '%s' is not one of info, warn, error", k->file, n, boots);
	if (l < ML_ABI_INFO)
		return kinds_error("%s:%u: LIVE severity '%s' is not one of info, warn, error, fail", k->file, n, live);
	if (strcmp(fw, "fw") != 0 && strcmp(fw, "-") != 0)
		return kinds_error("%s:%u: FW is 'fw' or '-', not '%s'", k->file, n, fw);
	for (const char *c = kind; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
			return kinds_error("%s:%u: kind '%s': lower-case letters, digits and '-' only", k->file, n,
					   kind);
	r.kind = strdup(kind);
	r.boots = (enum ml_abi_severity)b;
	r.live = (enum ml_abi_severity)l;
	r.firmware = strcmp(fw, "fw") == 0;
	r.section = strdup(section);
	r.glob = strdup(line);
	k->rules = reallocarray(k->rules, k->n + 1, sizeof(*k->rules));
	if (!k->rules || !r.kind || !r.section || !r.glob)
		abort();
	k->rules[k->n++] = r;
	return 0;
}

struct ml_abi_kinds *ml_abi_kinds_parse(const char *text, const char *file)
{
	struct ml_abi_kinds *k = calloc(1, sizeof(*k));
	ml_autofree char *copy = strdup(text);
	char *save = NULL, *line;
	unsigned n = 0;

	if (!k || !copy)
		abort();
	k->file = strdup(file);
	/* strtok_r would skip empty lines and lose the line numbers. */
	for (line = copy; line; line = save) {
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		n++;
		line += strspn(line, " \t\r");
		line[strcspn(line, "\r")] = '\0';
		if (!*line || *line == '#')
			continue;
		if (parse_line(k, line, n) < 0) {
			ml_abi_kinds_free(k);
			return NULL;
		}
	}
	if (!k->n) {
		ml_error("%s: no kinds", file);
		ml_abi_kinds_free(k);
		return NULL;
	}
	return k;
}

struct ml_abi_kinds *ml_abi_kinds_load(const char *path)
{
	ml_autofree char *text = NULL;
	size_t len;

	if (ml_read_file(path, KINDS_MAX_BYTES, &text, &len) < 0)
		return ml_error_context("the ABI kinds table"), (struct ml_abi_kinds *)NULL;
	if (strlen(text) != len) {
		ml_error("%s: a NUL byte in the file", path);
		return NULL;
	}
	return ml_abi_kinds_parse(text, path);
}

struct ml_abi_kinds *ml_abi_kinds_default(void)
{
	const char *env = getenv("MIGLAB_ABI_KINDS");

	if (env && *env)
		return ml_abi_kinds_load(env);
	if (ml_path_exists(ML_ABI_KINDS_TXT))
		return ml_abi_kinds_load(ML_ABI_KINDS_TXT);
	return ml_abi_kinds_parse(ml_abi_kinds_embedded, "embedded abi-kinds.txt");
}

bool ml_abi_kinds_has(const struct ml_abi_kinds *k, const char *kind)
{
	for (size_t i = 0; k && kind && i < k->n; i++)
		if (strcmp(k->rules[i].kind, kind) == 0)
			return true;
	return false;
}

char *ml_abi_kinds_list(const struct ml_abi_kinds *k)
{
	ml_autobuf struct ml_buf b = ML_BUF_INIT(0);

	for (size_t i = 0; i < k->n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(k->rules[j].kind, k->rules[i].kind) == 0;
		if (!seen)
			ml_buf_printf(&b, "%s%s", b.len ? ", " : "", k->rules[i].kind);
	}
	return ml_buf_steal(&b);
}

const struct ml_abi_kind_rule *ml_abi_kinds_match(const struct ml_abi_kinds *k, const char *section,
						  const char *key)
{
	for (size_t i = 0; i < k->n; i++) {
		const struct ml_abi_kind_rule *r = &k->rules[i];
		if (strcmp(r->section, "*") != 0 && strcmp(r->section, section ? section : "") != 0)
			continue;
		if (fnmatch(r->glob, key ? key : "", 0) == 0)
			return r;
	}
	return NULL;
}

/* The strings of a dump's SMBIOS type 0 structure, or NULL. */
static const json_t *bios_strings(const json_t *dump)
{
	json_t *s;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(dump, "smbios"), "structures"), i, s)
		if (ml_json_int(s, "type", -1) == 0)
			return json_object_get(s, "strings");
	return NULL;
}

bool ml_abi_firmware_differs(const json_t *a, const json_t *b)
{
	const json_t *sa = bios_strings(a), *sb = bios_strings(b);

	if (!sa || !sb)
		return sa != sb;
	return !json_equal(sa, sb);
}

enum ml_abi_severity ml_abi_kinds_annotate(const struct ml_abi_kinds *k, json_t *diffs, enum ml_abi_mode mode,
					   const json_t *overrides, bool firmware_differs)
{
	enum ml_abi_severity worst = ML_ABI_NONE;
	json_t *d;
	size_t i;

	json_array_foreach(diffs, i, d) {
		const struct ml_abi_kind_rule *r =
			ml_abi_kinds_match(k, ml_json_str(d, "section"), ml_json_str(d, "key"));
		enum ml_abi_severity s = ML_ABI_WARN;
		const char *kind = r ? r->kind : "other";

		if (r) {
			int o = ml_abi_severity_parse(ml_json_str(overrides, kind));
			s = mode == ML_ABI_LIVE ? r->live : o >= ML_ABI_INFO && o <= ML_ABI_ERROR ? (enum ml_abi_severity)o : r->boots;
			if (r->firmware && firmware_differs && mode == ML_ABI_BOOTS) {
				s = ML_ABI_INFO;
				ml_json_set_str(d, "firmware", "the two sides ran different guest firmware, "
							       "which decides this value");
			}
		}
		ml_json_set_str(d, "kind", kind);
		ml_json_set_str(d, "severity", ml_abi_severity_name(s));
		if (s > worst)
			worst = s;
	}
	return worst;
}

json_t *ml_abi_kinds_count(const json_t *diffs)
{
	json_t *out = json_object(), *d;
	size_t i;

	json_array_foreach(diffs, i, d) {
		const char *kind = ml_json_str(d, "kind") ? ml_json_str(d, "kind") : "other";
		json_t *e = json_object_get(out, kind);
		int s = ml_abi_severity_parse(ml_json_str(d, "severity"));
		if (!e) {
			e = json_pack("{s:s, s:i}", "severity", ml_json_str(d, "severity") ? ml_json_str(d, "severity") : "warn",
				      "count", 0);
			json_object_set_new(out, kind, e);
		}
		ml_json_set_int(e, "count", ml_json_int(e, "count", 0) + 1);
		if (s > ml_abi_severity_parse(ml_json_str(e, "severity")))
			ml_json_set_str(e, "severity", ml_abi_severity_name((enum ml_abi_severity)s));
	}
	return out;
}
