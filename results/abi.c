/* ABI dumps: loading, validation, the volatile list and redaction (abi.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-common.h"

/* ---- validation ---------------------------------------------------------- */

static const char *const sections[] = {
	"kernel", "cpuid", "msr", "pci", "acpi", "smbios", "virtio", "memory_map", "cpu", "clocksource",
};

static bool is_mark(const json_t *v)
{
	return json_is_string(v) && strcmp(json_string_value(v), ML_ABI_VOLATILE_MARK) == 0;
}

bool ml_abi_parse_hex64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;

	if (!s || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !s[2])
		return false;
	for (s += 2; *s; s++, n++) {
		int d = isdigit((unsigned char)*s)                  ? *s - '0'
			: (*s >= 'a' && *s <= 'f')                 ? *s - 'a' + 10
			: (*s >= 'A' && *s <= 'F')                 ? *s - 'A' + 10
								    : -1;
		if (d < 0)
			return false;
		if (v >> 60)
			return false; /* more than 64 significant bits */
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return n > 0;
}

/* What each list's elements must carry: the member the diff matches on;
 * and how many elements it may have (the most seen in 1,886 dumps, and why
 * the cap is enough). */
struct list_rule {
	const char *section, *list;
	const char *keys[3];
	enum { K_INT, K_STR, K_HEX } kinds[3];
	size_t max;
};

static const struct list_rule list_rules[] = {
	/* 34 seen; the agent reads at most 64 subleaves of a leaf */
	{ "cpuid", "leaves", { "leaf", "subleaf", NULL }, { K_INT, K_INT }, 1024 },
	/* 40 seen; the agent reads a fixed list */
	{ "msr", "registers", { "index", NULL }, { K_HEX }, 256 },
	/* 8 seen; 256 is eight full buses of single-function slots */
	{ "pci", "devices", { "bdf", NULL }, { K_STR }, 256 },
	/* 7 seen; each differing table costs an iasl run */
	{ "acpi", "tables", { "signature", "instance", NULL }, { K_STR, K_INT }, 64 },
	/* 10 seen */
	{ "smbios", "structures", { "type", NULL }, { K_INT }, 256 },
	/* 4 seen */
	{ "virtio", "devices", { "name", NULL }, { K_STR }, 256 },
	/* 9 seen; the boot protocol's e820 table holds 128 */
	{ "memory_map", "entries", { "start", NULL }, { K_HEX }, 256 },
};

static const char *where(const struct ml_buf *path)
{
	return path->len ? path->data : "the dump";
}

/* Walk v (at path, depth levels down) against the generic bounds. The
 * walk stops at the depth limit, so its recursion is bounded too. */
static int check_node(const json_t *v, struct ml_buf *path, size_t depth, const char *what)
{
	size_t plen = path->len;

	if (depth > ML_ABI_MAX_DEPTH) {
		ml_error("%s: %s is nested %zu levels deep, more than the limit of %d", what,
			 where(path), depth, ML_ABI_MAX_DEPTH);
		return -1;
	}
	if (json_is_string(v) && json_string_length(v) > ML_ABI_MAX_STRING) {
		ml_error("%s: %s is a string of %zu bytes, more than the limit of %zu", what,
			 where(path), json_string_length(v), ML_ABI_MAX_STRING);
		return -1;
	}
	if (json_is_object(v)) {
		const char *key;
		json_t *m;

		if (json_object_size(v) > ML_ABI_MAX_MEMBERS) {
			ml_error("%s: %s has %zu members, more than the limit of %d", what,
				 where(path), json_object_size(v), ML_ABI_MAX_MEMBERS);
			return -1;
		}
		json_object_foreach((json_t *)v, key, m) {
			/* Keys are guest text too: in errors only short and made safe. */
			if (strlen(key) > 64) {
				ml_buf_printf(path, "%s<a %zu-byte name>", plen ? "." : "", strlen(key));
			} else {
				ml_autofree char *safe = ml_text_safe(key, false);
				ml_buf_printf(path, "%s%s", plen ? "." : "", safe);
			}
			if (check_node(m, path, depth + 1, what) < 0)
				return -1;
			path->len = plen;
			path->data[plen] = '\0';
		}
	} else if (json_is_array(v)) {
		json_t *e;
		size_t i;

		if (json_array_size(v) > ML_ABI_MAX_ARRAY) {
			ml_error("%s: %s has %zu elements, more than the limit of %d", what,
				 where(path), json_array_size(v), ML_ABI_MAX_ARRAY);
			return -1;
		}
		json_array_foreach(v, i, e) {
			ml_buf_printf(path, "[%zu]", i);
			if (check_node(e, path, depth + 1, what) < 0)
				return -1;
			path->len = plen;
			path->data[plen] = '\0';
		}
	}
	return 0;
}

int ml_abi_check_bounds(const json_t *doc, const char *what)
{
	ml_autobuf struct ml_buf path = ML_BUF_INIT(0);

	for (size_t r = 0; r < ML_ARRAY_SIZE(list_rules); r++) {
		const struct list_rule *lr = &list_rules[r];
		json_t *l = json_object_get(json_object_get(doc, lr->section), lr->list);

		if (json_array_size(l) > lr->max) {
			ml_error("%s: %s.%s has %zu elements, more than the limit of %zu", what,
				 lr->section, lr->list, json_array_size(l), lr->max);
			return -1;
		}
	}
	if (check_node(doc, &path, 0, what) < 0)
		return -1;
	return 0;
}

static int check_string_list(const json_t *sec, const char *section, const char *key,
			     const char *what)
{
	json_t *l = json_object_get(sec, key), *e;
	size_t i;

	if (!l || is_mark(l))
		return 0;
	if (!json_is_array(l)) {
		ml_error("%s: %s.%s is not a list", what, section, key);
		return -1;
	}
	json_array_foreach(l, i, e) {
		if (!json_is_string(e)) {
			ml_error("%s: %s.%s[%zu] is not a string", what, section, key, i);
			return -1;
		}
	}
	return 0;
}

int ml_abi_validate(const json_t *doc, const char *what)
{
	const char *schema;

	if (!json_is_object(doc)) {
		ml_error("%s: not an ABI dump (a JSON object with \"schema\": \"%s\")", what,
			 ML_ABI_SCHEMA);
		return -1;
	}
	schema = ml_json_str(doc, "schema");
	if (!schema) {
		ml_error("%s: not an ABI dump: no \"schema\" (expected \"%s\")", what, ML_ABI_SCHEMA);
		return -1;
	}
	if (strcmp(schema, ML_ABI_SCHEMA) != 0) {
		ml_error("%s: schema is \"%s\", this miglab reads \"%s\"", what, schema, ML_ABI_SCHEMA);
		return -1;
	}
	if (ml_abi_check_bounds(doc, what) < 0)
		return -1;
	for (size_t i = 0; i < ML_ARRAY_SIZE(sections); i++) {
		json_t *s = json_object_get(doc, sections[i]);
		if (!s) {
			ml_error("%s: section '%s' is missing", what, sections[i]);
			return -1;
		}
		if (!json_is_object(s)) {
			ml_error("%s: section '%s' is not an object", what, sections[i]);
			return -1;
		}
	}
	for (size_t r = 0; r < ML_ARRAY_SIZE(list_rules); r++) {
		const struct list_rule *lr = &list_rules[r];
		json_t *l = json_object_get(json_object_get(doc, lr->section), lr->list), *e;
		size_t i;

		if (!l || is_mark(l))
			continue;
		if (!json_is_array(l)) {
			ml_error("%s: %s.%s is not a list", what, lr->section, lr->list);
			return -1;
		}
		json_array_foreach(l, i, e) {
			if (is_mark(e))
				continue;
			if (!json_is_object(e)) {
				ml_error("%s: %s.%s[%zu] is not an object", what, lr->section, lr->list, i);
				return -1;
			}
			for (size_t k = 0; k < 3 && lr->keys[k]; k++) {
				json_t *v = json_object_get(e, lr->keys[k]);
				uint64_t h;
				bool ok = lr->kinds[k] == K_INT   ? json_is_integer(v)
					  : lr->kinds[k] == K_STR ? json_is_string(v)
								  : ml_abi_parse_hex64(json_string_value(v), &h);
				/* virtio devices are matched by bdf, or by name without one */
				if (!ok && strcmp(lr->section, "virtio") == 0 &&
				    json_is_string(json_object_get(e, "bdf")))
					ok = true;
				if (!ok) {
					ml_error("%s: %s.%s[%zu]: '%s' is missing or not %s", what,
						 lr->section, lr->list, i, lr->keys[k],
						 lr->kinds[k] == K_INT	 ? "an integer"
						 : lr->kinds[k] == K_STR ? "a string"
									 : "a \"0x...\" hex string");
					return -1;
				}
			}
		}
	}
	if (check_string_list(json_object_get(doc, "cpu"), "cpu", "flags", what) < 0 ||
	    check_string_list(json_object_get(doc, "cpu"), "cpu", "bugs", what) < 0 ||
	    check_string_list(json_object_get(doc, "clocksource"), "clocksource", "available", what) < 0)
		return -1;
	return 0;
}

json_t *ml_abi_load(const char *path)
{
	json_t *doc = ml_json_load_file(path, ML_ABI_MAX_BYTES);

	if (!doc) {
		ml_error_context("cannot load ABI dump");
		return NULL;
	}
	if (ml_abi_validate(doc, path) < 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* ---- the volatile list --------------------------------------------------- */

enum tok_kind {
	TOK_KEY,     /* a member name */
	TOK_ANYKEY,  /* `*`: any one member name */
	TOK_ANY,     /* `**`: any number of steps */
	TOK_SELECT,  /* `[k=v]`: the array element whose member k is v */
	TOK_ANYITEM, /* `[*]`: any array element */
};

struct tok {
	enum tok_kind kind;
	char *key, *val;
};

enum range_base { RANGE_NONE, RANGE_ABS, RANGE_CAP, RANGE_ECAP };

struct pattern {
	char *text, *reason;
	struct tok *toks;
	size_t n;
	enum range_base base;
	char *cap;            /* capability name (or id) for RANGE_CAP / RANGE_ECAP */
	unsigned long off, len;
};

struct ml_abi_volatile {
	struct pattern *p;
	size_t n;
	char *source;
};

void ml_abi_volatile_free(struct ml_abi_volatile *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		for (size_t t = 0; t < v->p[i].n; t++) {
			free(v->p[i].toks[t].key);
			free(v->p[i].toks[t].val);
		}
		free(v->p[i].toks);
		free(v->p[i].text);
		free(v->p[i].reason);
		free(v->p[i].cap);
	}
	free(v->p);
	free(v->source);
	free(v);
}

const char *ml_abi_volatile_source(const struct ml_abi_volatile *v)
{
	return v->source;
}

size_t ml_abi_volatile_count(const struct ml_abi_volatile *v)
{
	return v ? v->n : 0;
}

const char *ml_abi_volatile_pattern(const struct ml_abi_volatile *v, size_t i)
{
	return v->p[i].text;
}

const char *ml_abi_volatile_reason(const struct ml_abi_volatile *v, size_t i)
{
	return v->p[i].reason;
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static void push_tok(struct pattern *p, enum tok_kind kind, char *key, char *val)
{
	struct tok *t = realloc(p->toks, (p->n + 1) * sizeof(*t));
	if (!t)
		abort();
	p->toks = t;
	t[p->n++] = (struct tok){ kind, key, val };
}

static bool parse_number(const char **s, unsigned long *out)
{
	char *end;
	if (!isdigit((unsigned char)**s))
		return false;
	errno = 0;
	*out = strtoul(*s, &end, 0);
	if (errno || end == *s || *out > 0x100000)
		return false;
	*s = end;
	return true;
}

/* Parse "@OFF+LEN", "@cap:NAME+OFF+LEN", "@ecap:NAME+OFF+LEN" (s after '@'). */
static int parse_range(struct pattern *p, const char *s, const char *where)
{
	const char *q;

	p->base = RANGE_ABS;
	if (strncmp(s, "cap:", 4) == 0 || strncmp(s, "ecap:", 5) == 0) {
		p->base = s[0] == 'c' ? RANGE_CAP : RANGE_ECAP;
		s += p->base == RANGE_CAP ? 4 : 5;
		for (q = s; name_char(*q); q++)
			;
		if (q == s || *q != '+') {
			ml_error("%s: '%s': expected a capability name and '+OFFSET+LENGTH' after '@%s'",
				 where, p->text, p->base == RANGE_CAP ? "cap:" : "ecap:");
			return -1;
		}
		p->cap = strndup(s, (size_t)(q - s));
		s = q + 1;
	}
	if (!parse_number(&s, &p->off) || *s++ != '+' || !parse_number(&s, &p->len) || *s ||
	    p->len == 0) {
		ml_error("%s: '%s': a byte range is '@OFFSET+LENGTH' (numbers, length > 0)", where,
			 p->text);
		return -1;
	}
	return 0;
}

static int parse_pattern(struct pattern *p, const char *where)
{
	const char *s = p->text;

	for (;;) {
		const char *q = s;
		if (q[0] == '*' && q[1] == '*') {
			push_tok(p, TOK_ANY, NULL, NULL);
			q += 2;
		} else if (q[0] == '*') {
			push_tok(p, TOK_ANYKEY, NULL, NULL);
			q++;
		} else {
			while (name_char(*q))
				q++;
			if (q == s) {
				ml_error("%s: '%s': expected a member name at '%s'", where, p->text, s);
				return -1;
			}
			push_tok(p, TOK_KEY, strndup(s, (size_t)(q - s)), NULL);
		}
		while (*q == '[') {
			const char *close = strchr(q, ']');
			const char *eq = memchr(q, '=', close ? (size_t)(close - q) : 0);
			if (!close) {
				ml_error("%s: '%s': unclosed '['", where, p->text);
				return -1;
			}
			if (close == q + 2 && q[1] == '*') {
				push_tok(p, TOK_ANYITEM, NULL, NULL);
			} else if (eq && eq > q + 1 && eq + 1 < close) {
				push_tok(p, TOK_SELECT, strndup(q + 1, (size_t)(eq - q - 1)),
					 strndup(eq + 1, (size_t)(close - eq - 1)));
			} else {
				ml_error("%s: '%s': a selector is [*] or [key=value]", where, p->text);
				return -1;
			}
			q = close + 1;
		}
		if (*q == '.') {
			s = q + 1;
			continue;
		}
		if (*q == '@')
			return parse_range(p, q + 1, where);
		if (*q) {
			ml_error("%s: '%s': unexpected '%c'", where, p->text, *q);
			return -1;
		}
		return 0;
	}
}

struct ml_abi_volatile *ml_abi_volatile_parse(const char *text, size_t len, const char *what)
{
	struct ml_abi_volatile *v = calloc(1, sizeof(*v));
	const char *s = text, *end = text + len;
	unsigned lineno = 0;

	if (!v)
		abort();
	v->source = strdup(what);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		const char *a = s, *b, *r;
		ml_autofree char *where = NULL;
		struct pattern *p;

		lineno++;
		s = nl ? nl + 1 : end;
		while (a < le && isspace((unsigned char)*a))
			a++;
		if (a == le || *a == '#')
			continue;
		for (b = a; b < le && !isspace((unsigned char)*b); b++)
			;
		for (r = b; r < le && isspace((unsigned char)*r); r++)
			;
		where = ml_strdup_printf("%s:%u", what, lineno);
		if (r == le) {
			ml_error("%s: '%.*s' has no reason (a line is 'PATTERN  why it is volatile')",
				 where, (int)(b - a), a);
			goto fail;
		}
		p = realloc(v->p, (v->n + 1) * sizeof(*p));
		if (!p)
			abort();
		v->p = p;
		p = &v->p[v->n++];
		memset(p, 0, sizeof(*p));
		p->text = strndup(a, (size_t)(b - a));
		while (le > r && isspace((unsigned char)le[-1]))
			le--;
		p->reason = strndup(r, (size_t)(le - r));
		if (parse_pattern(p, where) < 0)
			goto fail;
	}
	return v;
fail:
	ml_abi_volatile_free(v);
	return NULL;
}

struct ml_abi_volatile *ml_abi_volatile_load(const char *path)
{
	ml_autofree char *text = NULL;
	size_t len;

	if (ml_read_file(path, 1 << 20, &text, &len) < 0)
		return NULL;
	return ml_abi_volatile_parse(text, len, path);
}

struct ml_abi_volatile *ml_abi_volatile_default(void)
{
	const char *env = getenv("MIGLAB_ABI_VOLATILE");

	if (env && *env)
		return ml_abi_volatile_load(env);
#ifdef ML_ABI_VOLATILE_PATH
	if (ml_path_exists(ML_ABI_VOLATILE_PATH))
		return ml_abi_volatile_load(ML_ABI_VOLATILE_PATH);
#endif
	return ml_abi_volatile_parse((const char *)ml_abi_volatile_embedded,
				     ml_abi_volatile_embedded_len, "embedded copy");
}

/* ---- matching and redaction ---------------------------------------------- */

struct step {
	const char *key;     /* member name, or NULL for an array element */
	const json_t *item;  /* the element (for selectors) */
};

#define MAX_DEPTH 64

static bool select_matches(const json_t *item, const char *key, const char *val)
{
	json_t *m = json_object_get(item, key);
	uint64_t a, b;
	char *end;

	if (json_is_string(m)) {
		if (strcmp(json_string_value(m), val) == 0)
			return true;
		return ml_abi_parse_hex64(json_string_value(m), &a) && ml_abi_parse_hex64(val, &b) &&
		       a == b;
	}
	if (json_is_integer(m)) {
		errno = 0;
		b = strtoull(val, &end, 0);
		return !errno && end != val && !*end && (uint64_t)json_integer_value(m) == b;
	}
	return false;
}

static bool match(const struct tok *t, size_t nt, const struct step *s, size_t ns)
{
	if (nt == 0)
		return ns == 0;
	if (t->kind == TOK_ANY)
		return match(t + 1, nt - 1, s, ns) || (ns > 0 && match(t, nt, s + 1, ns - 1));
	if (ns == 0)
		return false;
	switch (t->kind) {
	case TOK_KEY:
		if (!s->key || strcmp(s->key, t->key) != 0)
			return false;
		break;
	case TOK_ANYKEY:
		if (!s->key)
			return false;
		break;
	case TOK_SELECT:
		if (s->key || !json_is_object(s->item) || !select_matches(s->item, t->key, t->val))
			return false;
		break;
	case TOK_ANYITEM:
		if (s->key)
			return false;
		break;
	case TOK_ANY:
		break;
	}
	return match(t + 1, nt - 1, s + 1, ns - 1);
}

static void mask_bytes(char *hex, size_t nbytes, unsigned long off, unsigned long len)
{
	for (unsigned long i = off; i < off + len && i < nbytes; i++)
		hex[2 * i] = hex[2 * i + 1] = '-';
}

/* Mask the range of p in the blob value (a member of parent). */
static json_t *mask_blob(const struct pattern *p, const json_t *value, const json_t *parent)
{
	const char *hex = json_string_value(value);
	size_t n;
	char *copy;
	json_t *caps, *c, *out;
	size_t i;

	if (!hex || strlen(hex) % 2)
		return NULL;
	n = strlen(hex) / 2;
	copy = strdup(hex);
	if (!copy)
		abort();
	if (p->base == RANGE_ABS) {
		mask_bytes(copy, n, p->off, p->len);
	} else {
		caps = json_object_get(parent, p->base == RANGE_CAP ? "capabilities" : "ext_capabilities");
		json_array_foreach(caps, i, c) {
			const char *name = ml_json_str(c, "name");
			long long id = ml_json_int(c, "id", -1), off = ml_json_int(c, "offset", -1);
			char *end;
			unsigned long want = strtoul(p->cap, &end, 0);
			bool hit = (name && strcmp(name, p->cap) == 0) ||
				   (!*end && end != p->cap && id >= 0 && (unsigned long)id == want);
			if (hit && off >= 0)
				mask_bytes(copy, n, (unsigned long)off + p->off, p->len);
		}
	}
	out = json_string(copy);
	free(copy);
	return out;
}

/* Redact node (a member or element of parent) in place; steps is its path. */
static void redact_walk(json_t *node, struct step *steps, size_t depth,
			const struct ml_abi_volatile *v);

static json_t *redacted_value(json_t *value, const json_t *parent, struct step *steps,
			      size_t depth, const struct ml_abi_volatile *v)
{
	json_t *cur = NULL;

	for (size_t i = 0; i < v->n; i++) {
		const struct pattern *p = &v->p[i];
		if (!match(p->toks, p->n, steps, depth))
			continue;
		if (p->base == RANGE_NONE) {
			json_decref(cur);
			return json_string(ML_ABI_VOLATILE_MARK);
		}
		{
			json_t *m = mask_blob(p, cur ? cur : value, parent);
			if (m) {
				json_decref(cur);
				cur = m;
			}
		}
	}
	return cur;
}

static void redact_walk(json_t *node, struct step *steps, size_t depth,
			const struct ml_abi_volatile *v)
{
	if (depth >= MAX_DEPTH)
		return;
	if (json_is_object(node)) {
		const char *key;
		json_t *val;
		void *it;
		json_object_foreach_safe(node, it, key, val) {
			json_t *repl;
			steps[depth] = (struct step){ key, NULL };
			repl = redacted_value(val, node, steps, depth + 1, v);
			if (repl) {
				json_object_set_new(node, key, repl);
				if (is_mark(repl))
					continue;
				val = repl;
			}
			redact_walk(val, steps, depth + 1, v);
		}
	} else if (json_is_array(node)) {
		size_t i;
		json_t *val;
		json_array_foreach(node, i, val) {
			json_t *repl;
			steps[depth] = (struct step){ NULL, val };
			repl = redacted_value(val, node, steps, depth + 1, v);
			if (repl) {
				json_array_set_new(node, i, repl);
				if (is_mark(repl))
					continue;
				val = repl;
			}
			redact_walk(val, steps, depth + 1, v);
		}
	}
}

json_t *ml_abi_redact(const json_t *dump, const struct ml_abi_volatile *v)
{
	json_t *copy = json_deep_copy(dump);
	struct step steps[MAX_DEPTH];

	if (!copy)
		abort();
	if (v && v->n)
		redact_walk(copy, steps, 0, v);
	return copy;
}
