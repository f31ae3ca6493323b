/* The failure catalogue (results/failures.ini) and the classifier that
 * explains a failed cell with it (see classify.h). Everything class-specific
 * is in the data; this file only knows sources, filters and patterns. */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "classify.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-common.h"

#define CATALOGUE_FILE_LIMIT ((size_t)1 << 20)
#define ID_MAX_LEN 48

/* The built-in copy of results/failures.ini, assembled into the program
 * (ML_FAILURES_INI is its absolute path, set by results/CMakeLists.txt). */
__asm__(".section .rodata\n"
	".global ml_failures_ini_data\n"
	".type ml_failures_ini_data, @object\n"
	".balign 16\n"
	"ml_failures_ini_data:\n"
	".incbin \"" ML_FAILURES_INI "\"\n"
	".byte 0\n"
	".previous\n");
extern const char ml_failures_ini_data[];

const char *ml_catalogue_builtin(void)
{
	return ml_failures_ini_data;
}

static const char *const source_keys[ML_EVIDENCE_MAX] = {
	[ML_EVIDENCE_REASON] = "reason",
	[ML_EVIDENCE_EVIDENCE] = "evidence",
	[ML_EVIDENCE_MIGRATE_ERROR] = "migrate_error",
	[ML_EVIDENCE_QMP_ERROR] = "qmp_error",
	[ML_EVIDENCE_SRC_STDERR] = "src_stderr",
	[ML_EVIDENCE_DST_STDERR] = "dst_stderr",
	[ML_EVIDENCE_BACK_STDERR] = "back_stderr",
	[ML_EVIDENCE_SRC_CONSOLE] = "src_console",
	[ML_EVIDENCE_DST_CONSOLE] = "dst_console",
	[ML_EVIDENCE_BACK_CONSOLE] = "back_console",
};
static const char *const source_labels[ML_EVIDENCE_MAX] = {
	[ML_EVIDENCE_REASON] = "reason",
	[ML_EVIDENCE_EVIDENCE] = "evidence",
	[ML_EVIDENCE_MIGRATE_ERROR] = "migrate error-desc",
	[ML_EVIDENCE_QMP_ERROR] = "qmp error",
	[ML_EVIDENCE_SRC_STDERR] = "src stderr",
	[ML_EVIDENCE_DST_STDERR] = "dst stderr",
	[ML_EVIDENCE_BACK_STDERR] = "back stderr",
	[ML_EVIDENCE_SRC_CONSOLE] = "src console",
	[ML_EVIDENCE_DST_CONSOLE] = "dst console",
	[ML_EVIDENCE_BACK_CONSOLE] = "back console",
};
#define STDERR_SOURCES                                                          \
	((1u << ML_EVIDENCE_SRC_STDERR) | (1u << ML_EVIDENCE_DST_STDERR) |      \
	 (1u << ML_EVIDENCE_BACK_STDERR))
#define CONSOLE_SOURCES                                                         \
	((1u << ML_EVIDENCE_SRC_CONSOLE) | (1u << ML_EVIDENCE_DST_CONSOLE) |    \
	 (1u << ML_EVIDENCE_BACK_CONSOLE))

/* The order sources are searched in: the most specific words first (a
 * console's own text before the evidence that may quote its tail). */
static const enum ml_evidence_source search_order[ML_EVIDENCE_MAX] = {
	ML_EVIDENCE_DST_STDERR,	  ML_EVIDENCE_BACK_STDERR,  ML_EVIDENCE_SRC_STDERR,
	ML_EVIDENCE_DST_CONSOLE,  ML_EVIDENCE_BACK_CONSOLE, ML_EVIDENCE_SRC_CONSOLE,
	ML_EVIDENCE_MIGRATE_ERROR, ML_EVIDENCE_QMP_ERROR,   ML_EVIDENCE_EVIDENCE,
	ML_EVIDENCE_REASON,
};

static const char *const vm_names[3] = { "src", "dst", "back" };
/* The source build's other QEMU: the one that booted the guest it then saved
 * (docs/saved-state.md). Its logs count as the source's. */
#define BOOT_VM "boot"

const char *ml_evidence_source_key(enum ml_evidence_source s)
{
	return s < ML_EVIDENCE_MAX ? source_keys[s] : "?";
}

const char *ml_evidence_source_label(enum ml_evidence_source s)
{
	return s < ML_EVIDENCE_MAX ? source_labels[s] : "?";
}

static void *grow(void *array, size_t n, size_t size)
{
	void *a = reallocarray(array, n + 1, size);
	if (!a)
		abort();
	memset((char *)a + n * size, 0, size);
	return a;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* ---- INI reading ------------------------------------------------------- */

int ml_ini_fail(char **error, const char *file, unsigned line, const char *fmt, ...)
{
	ml_autobuf struct ml_buf b = ML_BUF_INIT(0);
	va_list ap;

	if (*error)
		return -1;
	if (line)
		ml_buf_printf(&b, "%s:%u: ", file, line);
	else
		ml_buf_printf(&b, "%s: ", file);
	va_start(ap, fmt);
	ml_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	*error = ml_buf_steal(&b);
	return -1;
}

struct ini_reader {
	const char *file;
	const char *text;
	size_t len, pos;
	unsigned line;
	ml_ini_handler handler;
	void *opaque;
	char *error;
	char section[128];
	char last_key[64];  /* of the previous key line in this section */
	bool continuation;  /* the line handed to inih is a rewritten continuation */
	char rewritten[INI_MAX_LINE + 64];
};

static int call(struct ini_reader *r, const char *key, const char *value)
{
	struct ml_ini_event ev = {
		.file = r->file,
		.section = r->section,
		.key = key,
		.value = value,
		.line = r->line,
		.continuation = r->continuation,
	};
	return r->handler(&ev, r->opaque, &r->error);
}

/* Sees every line before inih: counts it, reports section headers (inih
 * does not for an empty section), turns an indented line into "key = text"
 * for the previous key, and refuses what INI would misread. Returns the line
 * to hand to inih. */
static char *inspect_line(struct ini_reader *r, char *line)
{
	char *s = line, *close;

	r->continuation = false;
	if (r->line == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	if (*s != ' ' && *s != '\t') {
		if (*s == '\0' || *s == ';' || *s == '#')
			return line;
		if (*s == '[') {
			close = strchr(s, ']');
			if (!close) {
				ml_ini_fail(&r->error, r->file, r->line, "section header without ']'");
				return NULL;
			}
			for (const char *t = close + 1; *t && *t != ';' && *t != '#'; t++) {
				if (*t != ' ' && *t != '\t') {
					ml_ini_fail(&r->error, r->file, r->line,
						    "unexpected text after ']': '%s'", t);
					return NULL;
				}
			}
			snprintf(r->section, sizeof(r->section), "%.*s", (int)(close - s - 1), s + 1);
			r->last_key[0] = '\0';
			if (call(r, NULL, NULL) < 0)
				return NULL;
			return line;
		}
		/* "key = value"; inih would also split at ':' (and values hold
		 * colons), so require '=' first. */
		char *eq = strchr(s, '=');
		char *colon = strchr(s, ':');
		if (!eq || (colon && colon < eq)) {
			ml_ini_fail(&r->error, r->file, r->line,
				    "syntax error: expected [section], key = value, an indented "
				    "continuation line, or a comment starting with ; or #");
			return NULL;
		}
		{
			size_t n = (size_t)(eq - s);
			while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
				n--;
			snprintf(r->last_key, sizeof(r->last_key), "%.*s", (int)n, s);
		}
		return line;
	}
	/* Indented: blank, a comment, or the continuation of the previous key. */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return line;
	if (!r->last_key[0]) {
		ml_ini_fail(&r->error, r->file, r->line,
			    "indented line with no key before it to continue");
		return NULL;
	}
	snprintf(r->rewritten, sizeof(r->rewritten), "%s = %s", r->last_key, s);
	r->continuation = true;
	return r->rewritten;
}

static char *ini_reader_fn(char *str, int num, void *stream)
{
	struct ini_reader *r = stream;
	const char *start, *nl;
	size_t n;
	char *out;

	if (r->error || r->pos >= r->len)
		return NULL;
	start = r->text + r->pos;
	nl = memchr(start, '\n', r->len - r->pos);
	n = nl ? (size_t)(nl - start) : r->len - r->pos;
	r->pos += n + (nl ? 1 : 0);
	r->line++;
	if (n && start[n - 1] == '\r')
		n--;
	if (memchr(start, '\0', n)) {
		ml_ini_fail(&r->error, r->file, r->line, "NUL byte in the line");
		return NULL;
	}
	if (n + 2 >= (size_t)num) {
		ml_ini_fail(&r->error, r->file, r->line,
			    "line longer than %d characters (continue a text on an indented line)",
			    num - 3);
		return NULL;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	out = inspect_line(r, str);
	if (!out)
		return NULL;
	if (out != str) {
		if (strlen(out) + 1 > (size_t)num) {
			ml_ini_fail(&r->error, r->file, r->line, "continuation line too long");
			return NULL;
		}
		memmove(str, out, strlen(out) + 1);
	}
	return str;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
	struct ini_reader *r = user;
	(void)section;

	if (r->error)
		return 0;
	return call(r, name, value) < 0 ? 0 : 1;
}

int ml_ini_parse_text(const char *text, size_t len, const char *file, ml_ini_handler handler,
		      void *opaque, char **error)
{
	struct ini_reader r = {
		.file = file, .text = text, .len = len, .handler = handler, .opaque = opaque,
	};
	int rc = ini_parse_stream(ini_reader_fn, &r, ini_handler_fn, &r);

	if (!r.error && rc > 0)
		ml_ini_fail(&r.error, file, (unsigned)rc, "syntax error");
	if (!r.error && rc < 0)
		ml_ini_fail(&r.error, file, 0, "cannot parse (out of memory?)");
	if (r.error) {
		*error = r.error;
		return -1;
	}
	return 0;
}

/* ---- the catalogue ----------------------------------------------------- */

static void pattern_clear(struct ml_pattern *p)
{
	if (p->text)
		regfree(&p->re);
	free(p->text);
}

static void class_clear(struct ml_failure_class *k)
{
	free(k->id);
	free(k->title);
	free(k->meaning);
	free(k->investigate);
	free(k->fix);
	for (size_t i = 0; i < k->n_examples; i++)
		free(k->examples[i]);
	free(k->examples);
	for (size_t i = 0; i < k->n_phases; i++)
		free(k->phases[i]);
	free(k->phases);
	free(k->family);
	for (size_t i = 0; i < k->n_verdicts; i++)
		free(k->verdicts[i]);
	free(k->verdicts);
	for (size_t i = 0; i < k->n_patterns; i++)
		pattern_clear(&k->patterns[i]);
	free(k->patterns);
	for (size_t i = 0; i < k->n_device_res; i++)
		pattern_clear(&k->device_res[i]);
	free(k->device_res);
	for (size_t i = 0; i < k->n_field_res; i++)
		pattern_clear(&k->field_res[i]);
	free(k->field_res);
}

void ml_catalogue_clear(struct ml_catalogue *c)
{
	for (size_t i = 0; i < c->n_classes; i++)
		class_clear(&c->classes[i]);
	free(c->classes);
	free(c->order);
	for (size_t i = 0; i < c->n_device_res; i++)
		pattern_clear(&c->device_res[i]);
	free(c->device_res);
	for (size_t i = 0; i < c->n_field_res; i++)
		pattern_clear(&c->field_res[i]);
	free(c->field_res);
	for (size_t i = 0; i < c->n_oops_res; i++)
		pattern_clear(&c->oops_res[i]);
	free(c->oops_res);
	free(c->origin);
	memset(c, 0, sizeof(*c));
}

const struct ml_failure_class *ml_catalogue_find(const struct ml_catalogue *c, const char *id)
{
	for (size_t i = 0; i < c->n_classes; i++)
		if (strcmp(c->classes[i].id, id) == 0)
			return &c->classes[i];
	return NULL;
}

const char *ml_class_family(const struct ml_failure_class *k)
{
	return k->family ? k->family : k->id;
}

enum cat_section { CAT_NONE, CAT_CLASS, CAT_EXTRACT };

struct cat_parser {
	struct ml_catalogue *c;
	enum cat_section sec;
	struct ml_failure_class *cls; /* the current [class] */
	unsigned seen_extract;
	/* Lines where each documentation key was first set, for duplicates. */
	unsigned title_line, priority_line, exit_line, phase_line, family_line;
};

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ID_MAX_LEN || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int add_pattern(const struct ml_ini_event *ev, char **error, unsigned sources,
		       struct ml_pattern **list, size_t *n)
{
	struct ml_pattern *p;
	int rc;

	if (ev->continuation)
		return ml_ini_fail(error, ev->file, ev->line,
				   "a pattern does not continue on the next line: repeat the key "
				   "'%s' for another pattern", ev->key);
	if (!*ev->value)
		return ml_ini_fail(error, ev->file, ev->line, "empty pattern for %s", ev->key);
	*list = grow(*list, *n, sizeof(**list));
	p = &(*list)[*n];
	rc = regcomp(&p->re, ev->value, REG_EXTENDED | REG_ICASE | REG_NEWLINE);
	if (rc != 0) {
		char msg[200];
		regerror(rc, &p->re, msg, sizeof(msg));
		return ml_ini_fail(error, ev->file, ev->line, "bad regular expression for %s: %s: %s",
				   ev->key, msg, ev->value);
	}
	p->text = xstrdup(ev->value);
	p->sources = sources;
	p->line = ev->line;
	(*n)++;
	return 0;
}

/* Texts continue on indented lines; the lines are kept (joined by '\n'). */
static void set_text(char **slot, const struct ml_ini_event *ev)
{
	if (*slot && ev->continuation) {
		char *joined = ml_strdup_printf("%s\n%s", *slot, ev->value);
		free(*slot);
		*slot = joined;
	} else {
		free(*slot);
		*slot = xstrdup(ev->value);
	}
}

static int parse_exit(const struct ml_ini_event *ev, char **error, struct ml_exit_rule *x)
{
	const char *colon = strchr(ev->value, ':');
	const char *how = colon ? colon + 1 : "";
	const char *w = ev->value;

	memset(x, 0, sizeof(*x));
	while (colon && w < colon) {
		const char *end = memchr(w, '+', (size_t)(colon - w));
		size_t wl = (size_t)((end ? end : colon) - w);
		unsigned bit = wl == 3 && strncmp(w, "src", 3) == 0    ? 1
			       : wl == 3 && strncmp(w, "dst", 3) == 0  ? 2
			       : wl == 4 && strncmp(w, "back", 4) == 0 ? 4
			       : wl == 3 && strncmp(w, "any", 3) == 0  ? 7
								       : 0;
		if (!bit) {
			x->who = 0;
			break;
		}
		x->who |= bit;
		w = end ? end + 1 : colon;
	}
	if (!x->who || (strcmp(how, "signal") != 0 && strcmp(how, "status") != 0 &&
			strcmp(how, "any") != 0))
		return ml_ini_fail(error, ev->file, ev->line,
				   "bad exit '%s' (accepted: WHO:HOW, WHO one of src, dst, back, "
				   "any, or several joined by '+'; HOW one of signal, status, any)",
				   ev->value);
	snprintf(x->how, sizeof(x->how), "%s", how);
	x->set = true;
	return 0;
}

static int parse_priority(const struct ml_ini_event *ev, char **error, int *out)
{
	long n = 0;

	if (!*ev->value)
		goto bad;
	for (const char *s = ev->value; *s; s++) {
		if (*s < '0' || *s > '9')
			goto bad;
		n = n * 10 + (*s - '0');
		if (n > 100000)
			goto bad;
	}
	*out = (int)n;
	return 0;
bad:
	return ml_ini_fail(error, ev->file, ev->line,
			   "bad priority '%s' (a whole number from 0 to 100000; lower is tried first)",
			   ev->value);
}

static const char *const phase_names[] = {
	"plan", "boot-src", "migrate-forward", "live-dst", "reboot-dst", "migrate-back",
	"back-src", NULL,
};

static int cat_begin_section(struct cat_parser *p, const struct ml_ini_event *ev, char **error)
{
	struct ml_catalogue *c = p->c;
	char word[32], id[ID_MAX_LEN + 8], extra[8];
	int nw;

	p->cls = NULL;
	p->sec = CAT_NONE;
	nw = sscanf(ev->section, " %31s %55s %7s", word, id, extra);
	if (nw >= 1 && strcmp(word, "extract") == 0) {
		if (nw != 1)
			return ml_ini_fail(error, ev->file, ev->line, "section [extract] takes no name");
		if (p->seen_extract)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate section [extract] (first at line %u)",
					   p->seen_extract);
		p->seen_extract = ev->line;
		p->sec = CAT_EXTRACT;
		return 0;
	}
	if (nw < 1 || strcmp(word, "class") != 0)
		return ml_ini_fail(error, ev->file, ev->line,
				   "unknown section [%s] (expected [class ID] or [extract])",
				   ev->section);
	if (nw != 2)
		return ml_ini_fail(error, ev->file, ev->line,
				   nw == 1 ? "section [class] needs an id: [class ID]"
					   : "section [class ...] has more than one id");
	if (!valid_id(id))
		return ml_ini_fail(error, ev->file, ev->line,
				   "bad class id '%s' (a-z, 0-9 and '-', at most %d characters)", id,
				   ID_MAX_LEN);
	for (size_t i = 0; i < c->n_classes; i++)
		if (strcmp(c->classes[i].id, id) == 0)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate class '%s' (first at line %u)", id,
					   c->classes[i].line);
	c->classes = grow(c->classes, c->n_classes, sizeof(*c->classes));
	p->cls = &c->classes[c->n_classes++];
	p->cls->id = xstrdup(id);
	p->cls->line = ev->line;
	p->cls->priority = 100;
	p->sec = CAT_CLASS;
	p->title_line = p->priority_line = p->exit_line = p->phase_line = p->family_line = 0;
	return 0;
}

static int cat_class_key(struct cat_parser *p, const struct ml_ini_event *ev, char **error)
{
	struct ml_failure_class *k = p->cls;
	const char *key = ev->key;

	if (ev->continuation && strcmp(key, "title") != 0 && strcmp(key, "meaning") != 0 &&
	    strcmp(key, "investigate") != 0 && strcmp(key, "fix") != 0 &&
	    strcmp(key, "example") != 0 && strcmp(key, "phase") != 0)
		return add_pattern(ev, error, 0, NULL, NULL); /* reports the error */
	if (strcmp(key, "title") == 0) {
		if (!ev->continuation && k->title)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate title in [class %s] (first at line %u)", k->id,
					   p->title_line);
		p->title_line = p->title_line ? p->title_line : ev->line;
		set_text(&k->title, ev);
	} else if (strcmp(key, "meaning") == 0 || strcmp(key, "investigate") == 0 ||
		   strcmp(key, "fix") == 0) {
		char **slot = key[0] == 'm' ? &k->meaning : key[0] == 'i' ? &k->investigate : &k->fix;
		if (!ev->continuation && *slot)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate %s in [class %s] (continue a text on indented lines)",
					   key, k->id);
		set_text(slot, ev);
	} else if (strcmp(key, "example") == 0) {
		if (ev->continuation)
			return ml_ini_fail(error, ev->file, ev->line,
					   "an example is one line: repeat 'example' for another");
		k->examples = grow(k->examples, k->n_examples, sizeof(*k->examples));
		k->examples[k->n_examples++] = xstrdup(ev->value);
	} else if (strcmp(key, "priority") == 0) {
		if (p->priority_line)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate priority in [class %s] (first at line %u)", k->id,
					   p->priority_line);
		p->priority_line = ev->line;
		return parse_priority(ev, error, &k->priority);
	} else if (strcmp(key, "family") == 0) {
		if (p->family_line)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate family in [class %s] (first at line %u)", k->id,
					   p->family_line);
		if (!valid_id(ev->value))
			return ml_ini_fail(error, ev->file, ev->line,
					   "bad family '%s' in [class %s] (one word: a-z, 0-9 and '-', "
					   "at most %d characters)", ev->value, k->id, ID_MAX_LEN);
		p->family_line = ev->line;
		k->family = xstrdup(ev->value);
	} else if (strcmp(key, "exit") == 0) {
		if (p->exit_line)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate exit in [class %s] (first at line %u)", k->id,
					   p->exit_line);
		p->exit_line = ev->line;
		return parse_exit(ev, error, &k->exit);
	} else if (strcmp(key, "phase") == 0) {
		ml_autofree char *copy = xstrdup(ev->value);
		char *save = NULL;
		for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
			bool known = false;
			for (size_t i = 0; phase_names[i]; i++)
				known |= strcmp(w, phase_names[i]) == 0;
			if (!known)
				return ml_ini_fail(error, ev->file, ev->line,
						   "unknown phase '%s' (accepted: plan, boot-src, "
						   "migrate-forward, live-dst, reboot-dst, migrate-back, "
						   "back-src)", w);
			k->phases = grow(k->phases, k->n_phases, sizeof(*k->phases));
			k->phases[k->n_phases++] = xstrdup(w);
		}
	} else if (strcmp(key, "verdict") == 0) {
		ml_autofree char *copy = xstrdup(ev->value);
		char *save = NULL;
		for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
			if (strcmp(w, "fail") != 0 && strcmp(w, "error") != 0 &&
			    strcmp(w, "xfail") != 0)
				return ml_ini_fail(error, ev->file, ev->line,
						   "bad verdict '%s' (accepted: fail, error, xfail)", w);
			k->verdicts = grow(k->verdicts, k->n_verdicts, sizeof(*k->verdicts));
			k->verdicts[k->n_verdicts++] = xstrdup(w);
		}
	} else if (strcmp(key, "extract") == 0) {
		if (strcmp(ev->value, "no") != 0 && strcmp(ev->value, "yes") != 0)
			return ml_ini_fail(error, ev->file, ev->line,
					   "bad extract '%s' in [class %s] (accepted: yes, no)",
					   ev->value, k->id);
		k->no_extract = strcmp(ev->value, "no") == 0;
	} else if (strcmp(key, "device") == 0) {
		return add_pattern(ev, error, 0, &k->device_res, &k->n_device_res);
	} else if (strcmp(key, "field") == 0) {
		return add_pattern(ev, error, 0, &k->field_res, &k->n_field_res);
	} else if (strcmp(key, "stderr") == 0) {
		return add_pattern(ev, error, STDERR_SOURCES, &k->patterns, &k->n_patterns);
	} else if (strcmp(key, "console") == 0) {
		return add_pattern(ev, error, CONSOLE_SOURCES, &k->patterns, &k->n_patterns);
	} else {
		for (unsigned s = 0; s < ML_EVIDENCE_MAX; s++)
			if (strcmp(key, source_keys[s]) == 0)
				return add_pattern(ev, error, 1u << s, &k->patterns, &k->n_patterns);
		return ml_ini_fail(error, ev->file, ev->line,
				   "unknown key '%s' in [class %s] (accepted: title, meaning, "
				   "investigate, fix, example, family, priority, phase, verdict, "
				   "exit, device, field, extract, "
				   "stderr, src_stderr, dst_stderr, back_stderr, console, "
				   "src_console, dst_console, back_console, qmp_error, "
				   "migrate_error, evidence, reason)", key, k->id);
	}
	return 0;
}

static int cat_handler(const struct ml_ini_event *ev, void *opaque, char **error)
{
	struct cat_parser *p = opaque;

	if (!ev->key)
		return cat_begin_section(p, ev, error);
	switch (p->sec) {
	case CAT_CLASS:
		return cat_class_key(p, ev, error);
	case CAT_EXTRACT:
		if (strcmp(ev->key, "device") == 0)
			return add_pattern(ev, error, 0, &p->c->device_res, &p->c->n_device_res);
		if (strcmp(ev->key, "field") == 0)
			return add_pattern(ev, error, 0, &p->c->field_res, &p->c->n_field_res);
		if (strcmp(ev->key, "oops") == 0)
			return add_pattern(ev, error, 0, &p->c->oops_res, &p->c->n_oops_res);
		return ml_ini_fail(error, ev->file, ev->line,
				   "unknown key '%s' in [extract] (accepted: device, field, oops)",
				   ev->key);
	default:
		return ml_ini_fail(error, ev->file, ev->line,
				   "key '%s' outside a section (expected [class ID] or [extract] first)",
				   ev->key);
	}
}

static int cat_validate(struct ml_catalogue *c, const char *file, char **error)
{
	const struct ml_failure_class *u = ml_catalogue_find(c, ML_CLASS_UNCLASSIFIED);

	for (size_t i = 0; i < c->n_classes; i++) {
		const struct ml_failure_class *k = &c->classes[i];
		if (!k->title || !k->meaning)
			return ml_ini_fail(error, file, k->line,
					   "[class %s] needs a title and a meaning", k->id);
		if (k != u && k->n_patterns == 0 && !k->exit.set && !k->n_verdicts)
			return ml_ini_fail(error, file, k->line,
					   "[class %s] has no match rule (a pattern key such as "
					   "dst_stderr or reason, exit, or verdict)", k->id);
	}
	if (!u)
		return ml_ini_fail(error, file, 0, "no [class %s]: the class of failures nothing "
				   "else explains is required", ML_CLASS_UNCLASSIFIED);
	if (u->n_patterns || u->exit.set || u->n_phases || u->n_verdicts)
		return ml_ini_fail(error, file, u->line,
				   "[class %s] matches what no other class does: it takes no rules",
				   ML_CLASS_UNCLASSIFIED);
	return 0;
}

int ml_catalogue_parse(const char *text, size_t len, const char *file, struct ml_catalogue *c)
{
	struct cat_parser p = { .c = c };
	char *error = NULL;

	memset(c, 0, sizeof(*c));
	if (ml_ini_parse_text(text, len, file, cat_handler, &p, &error) < 0 ||
	    cat_validate(c, file, &error) < 0) {
		ml_error("%s", error);
		free(error);
		ml_catalogue_clear(c);
		return -1;
	}
	c->origin = xstrdup(file);
	/* Stable order by priority: insertion sort of indexes. */
	c->order = calloc(c->n_classes, sizeof(*c->order));
	if (!c->order)
		abort();
	for (size_t i = 0; i < c->n_classes; i++) {
		size_t j = i;
		while (j > 0 && c->classes[c->order[j - 1]].priority > c->classes[i].priority) {
			c->order[j] = c->order[j - 1];
			j--;
		}
		c->order[j] = i;
	}
	return 0;
}

int ml_catalogue_load(const char *path, struct ml_catalogue *c)
{
	ml_autofree char *text = NULL;
	size_t len = 0;

	if (!path) {
		const char *env = getenv(ML_CATALOGUE_ENV);
		if (env && *env)
			path = env;
	}
	if (!path) {
		const char *b = ml_catalogue_builtin();
		return ml_catalogue_parse(b, strlen(b), "failures.ini (built-in)", c);
	}
	if (ml_read_file(path, CATALOGUE_FILE_LIMIT, &text, &len) < 0)
		return ml_error_context("reading the failure catalogue");
	return ml_catalogue_parse(text, len, path, c);
}

/* ---- collecting evidence ----------------------------------------------- */

/* The last cap bytes of a file, from the start of a line. NULL if unreadable. */
static char *read_tail(const char *path, size_t cap)
{
	ml_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	struct ml_buf b = ML_BUF_INIT(cap + 1);
	char *text, *nl;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return NULL;
	if ((size_t)st.st_size > cap && lseek(fd, st.st_size - (off_t)cap, SEEK_SET) < 0)
		return NULL;
	for (;;) {
		ssize_t n = ml_buf_read_fd(&b, fd, 65536);
		if (n < 0) {
			ml_buf_free(&b);
			ml_error_reset();
			return NULL;
		}
		if (n == 0 || b.len >= cap)
			break;
	}
	text = ml_buf_steal(&b);
	if ((size_t)st.st_size > cap && (nl = strchr(text, '\n'))) {
		char *rest = xstrdup(nl + 1);
		free(text);
		text = rest;
	}
	/* Log text is untrusted: no NULs or control bytes in what we quote. A
	 * serial console ends its lines with CR LF: the CR goes. */
	{
		char *w = text;
		for (char *s = text; *s; s++) {
			if (*s == '\r' && s[1] == '\n')
				continue;
			*w++ = (unsigned char)*s < 0x20 && *s != '\n' && *s != '\t' ? '?' : *s;
		}
		*w = '\0';
	}
	return text;
}

static void append_text(char **slot, const char *more)
{
	if (!more || !*more)
		return;
	if (*slot) {
		char *j = ml_strdup_printf("%s\n%s", *slot, more);
		free(*slot);
		*slot = j;
	} else {
		*slot = xstrdup(more);
	}
}

/* The error replies of a QMP transcript ("+0.1 < {"error": ...}") as
 * "CLASS: desc" lines. */
static void qmp_errors(const char *log, const char *vm, char **out)
{
	const char *line = log;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		const char *brace = memchr(line, '{', n);
		const char *lt = memchr(line, '<', n);

		if (brace && lt && lt < brace && memmem(line, n, "\"error\"", 7)) {
			json_t *msg = json_loadb(brace, n - (size_t)(brace - line), 0, NULL);
			json_t *err = json_object_get(msg, "error");
			if (json_is_object(err)) {
				ml_autofree char *s = ml_strdup_printf(
					"%s: %s: %s", vm,
					ml_json_str(err, "class") ? ml_json_str(err, "class") : "Error",
					ml_json_str(err, "desc") ? ml_json_str(err, "desc") : "");
				append_text(out, s);
			}
			json_decref(msg);
		}
		line = end ? end + 1 : NULL;
	}
}

/* "QEMU (dst) exited with status 1; stderr:\n..." in the evidence: the
 * stderr tail the cell quoted, for when the log file cannot be read. */
static char *quoted_stderr(const char *evidence, const char *vm)
{
	ml_autofree char *head = ml_strdup_printf("QEMU (%s) ", vm);
	const char *at = evidence ? strstr(evidence, head) : NULL;
	const char *start, *stop;

	if (!at || !(start = strstr(at, "; stderr:\n")))
		return NULL;
	start += strlen("; stderr:\n");
	/* Up to the next quote of another QEMU, if any. */
	stop = strstr(start, "\nQEMU (");
	return stop ? strndup(start, (size_t)(stop - start)) : xstrdup(start);
}

/* A file name from "logs" that stays inside the cell directory. */
static char *log_path(json_t *cell, const char *cell_dir, const char *key)
{
	const char *rel = ml_json_str(json_object_get(cell, "logs"), key);

	if (!cell_dir || !rel || !*rel || strchr(rel, '/') || strcmp(rel, "..") == 0)
		return NULL;
	return ml_path_join(cell_dir, rel);
}

/* The VM the guest was on when the failed phase failed: 0 src, 1 dst, 2 back;
 * -1 when it cannot be told (no phase, a phase this file does not know), and
 * 3 for "plan", when no VM ran. */
static int phase_vm(const char *phase)
{
	static const struct {
		const char *phase;
		int vm;
	} map[] = {
		{ "plan", 3 },		  { "boot-src", 0 },	 { "migrate-forward", 1 },
		{ "live-dst", 1 },	  { "reboot-dst", 1 },	 { "migrate-back", 2 },
		{ "back-src", 2 },
	};

	for (size_t i = 0; phase && i < ML_ARRAY_SIZE(map); i++)
		if (strcmp(phase, map[i].phase) == 0)
			return map[i].vm;
	return -1;
}

int ml_classify_collect(json_t *cell, const char *cell_dir, char *texts[ML_EVIDENCE_MAX])
{
	json_t *failure = json_object_get(cell, "failure");
	json_t *phases = json_object_get(cell, "phases");
	const char *fphase = ml_json_str(failure, "phase");
	const char *evidence = ml_json_str(failure, "evidence");
	json_t *ph;
	size_t i;

	for (int s = 0; s < ML_EVIDENCE_MAX; s++)
		texts[s] = NULL;
	if (!json_is_object(cell)) {
		ml_error("a cell document is not a JSON object");
		return -1;
	}
	append_text(&texts[ML_EVIDENCE_REASON], ml_json_str(cell, "reason"));
	append_text(&texts[ML_EVIDENCE_EVIDENCE], evidence);
	json_array_foreach(phases, i, ph) {
		json_t *fig = json_object_get(ph, "figures");
		const char *name = ml_json_str(ph, "name");
		append_text(&texts[ML_EVIDENCE_MIGRATE_ERROR], ml_json_str(fig, "error-desc"));
		/* The failed phase's error, when it says more than the evidence. */
		if (fphase && name && strcmp(name, fphase) == 0 && ml_json_str(ph, "error") &&
		    (!evidence || strcmp(ml_json_str(ph, "error"), evidence) != 0))
			append_text(&texts[ML_EVIDENCE_EVIDENCE], ml_json_str(ph, "error"));
	}
	for (int v = 0; v < 3; v++) {
		enum ml_evidence_source s = (enum ml_evidence_source)(ML_EVIDENCE_SRC_STDERR + v);
		ml_autofree char *key = ml_strdup_printf("qemu_stderr_%s", vm_names[v]);
		ml_autofree char *qkey = ml_strdup_printf("qmp_%s", vm_names[v]);
		ml_autofree char *path = log_path(cell, cell_dir, key);
		ml_autofree char *qpath = log_path(cell, cell_dir, qkey);
		ml_autofree char *qlog = qpath ? read_tail(qpath, ML_CLASSIFY_LOG_CAP) : NULL;

		texts[s] = path ? read_tail(path, ML_CLASSIFY_LOG_CAP) : NULL;
		if (!texts[s])
			texts[s] = quoted_stderr(evidence, vm_names[v]);
		if (qlog)
			qmp_errors(qlog, vm_names[v], &texts[ML_EVIDENCE_QMP_ERROR]);
		if (v == 0) {
			ml_autofree char *bpath = log_path(cell, cell_dir, "qemu_stderr_" BOOT_VM);
			ml_autofree char *bq = log_path(cell, cell_dir, "qmp_" BOOT_VM);
			ml_autofree char *btext = bpath ? read_tail(bpath, ML_CLASSIFY_LOG_CAP) : NULL;
			ml_autofree char *bqlog = bq ? read_tail(bq, ML_CLASSIFY_LOG_CAP) : NULL;
			if (!btext)
				btext = quoted_stderr(evidence, BOOT_VM);
			append_text(&texts[s], btext);
			if (bqlog)
				qmp_errors(bqlog, BOOT_VM, &texts[ML_EVIDENCE_QMP_ERROR]);
		}
	}
	/* Only the console of the VM the guest failed on: an earlier boot's
	 * panic on another VM was survived and explains nothing. */
	for (int v = 0; v < 3; v++) {
		enum ml_evidence_source s = (enum ml_evidence_source)(ML_EVIDENCE_SRC_CONSOLE + v);
		ml_autofree char *key = ml_strdup_printf("console_%s", vm_names[v]);
		ml_autofree char *path = NULL;
		int on = phase_vm(fphase);

		if (on >= 0 && on != v)
			continue;
		path = log_path(cell, cell_dir, key);
		texts[s] = path ? read_tail(path, ML_CLASSIFY_LOG_CAP) : NULL;
		if (v == 0) {
			ml_autofree char *bpath = log_path(cell, cell_dir, "console_" BOOT_VM);
			ml_autofree char *btext = bpath ? read_tail(bpath, ML_CLASSIFY_LOG_CAP) : NULL;
			append_text(&texts[s], btext);
		}
	}
	return 0;
}

/* ---- matching ---------------------------------------------------------- */

static bool exit_matches(const struct ml_exit_rule *x, const char *const exits[3], int *which)
{
	for (int v = 0; v < 3; v++) {
		const char *e = exits[v];
		bool ok;

		if (!(x->who & (1u << v)) || !e)
			continue;
		if (strcmp(x->how, "signal") == 0)
			ok = strncmp(e, "killed by signal", 16) == 0 &&
			     strncmp(e, "killed by signal 9 ", 19) != 0;
		else if (strcmp(x->how, "status") == 0)
			ok = strncmp(e, "exited with status", 18) == 0 &&
			     strcmp(e, "exited with status 0") != 0;
		else
			ok = true;
		if (ok) {
			*which = v;
			return true;
		}
	}
	return false;
}

/* The line of text around offset, cut to ML_CLASSIFY_QUOTE_MAX. */
static char *line_at(const char *text, size_t so)
{
	const char *start = text + so, *end;
	size_t n;

	while (start > text && start[-1] != '\n')
		start--;
	end = strchr(text + so, '\n');
	n = end ? (size_t)(end - start) : strlen(start);
	if (n > ML_CLASSIFY_QUOTE_MAX)
		return ml_strdup_printf("%.*s...", ML_CLASSIFY_QUOTE_MAX, start);
	return strndup(start, n);
}

/* The first capture group of re in text (the whole match without one). */
static char *extract_one(const struct ml_pattern *p, const char *text)
{
	regmatch_t m[2];

	if (!text || regexec(&p->re, text, 2, m, 0) != 0)
		return NULL;
	if (p->re.re_nsub >= 1 && m[1].rm_so >= 0)
		return strndup(text + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
	return strndup(text + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so));
}

/* Device or field: the class's own expressions, then the catalogue's; each
 * tried on the matched source first, then on the others. */
static char *extract(const struct ml_pattern *own, size_t n_own, const struct ml_pattern *all,
		     size_t n_all, char *const texts[ML_EVIDENCE_MAX], int first)
{
	for (int pass = 0; pass < 2; pass++) {
		const struct ml_pattern *list = pass ? all : own;
		size_t n = pass ? n_all : n_own;
		for (size_t i = 0; i < n; i++) {
			char *v = first >= 0 ? extract_one(&list[i], texts[first]) : NULL;
			/* A guest console is raw kernel text: it names a device only
			 * when it is what matched. */
			for (int k = 0; !v && k < ML_EVIDENCE_MAX; k++)
				if ((int)search_order[k] != first &&
				    !(CONSOLE_SOURCES & (1u << search_order[k])))
					v = extract_one(&list[i], texts[search_order[k]]);
			if (v && *v && strlen(v) <= 200)
				return v;
			free(v);
		}
	}
	return NULL;
}

/* Does class k explain the evidence? Sets the source and quoted line. */
static bool in_list(const char *s, char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool class_matches(const struct ml_failure_class *k, char *const texts[ML_EVIDENCE_MAX],
			  const struct ml_classify_facts *f, int *source, char **quote)
{
	int which = -1;

	if (k->n_phases && !in_list(f->phase, k->phases, k->n_phases))
		return false;
	if (k->n_verdicts && !in_list(f->verdict, k->verdicts, k->n_verdicts))
		return false;
	if (k->exit.set && !exit_matches(&k->exit, f->exits, &which))
		return false;
	if (k->n_patterns == 0) {
		/* Filters alone: quote the exit, else the cell's reason. */
		*source = which >= 0 || !texts[ML_EVIDENCE_REASON] ? -1 : ML_EVIDENCE_REASON;
		*quote = which >= 0 ? ml_strdup_printf("%s exit: %s", vm_names[which], f->exits[which])
			 : texts[ML_EVIDENCE_REASON] ? ml_strdup_printf("reason: %s", texts[ML_EVIDENCE_REASON])
						     : NULL;
		return true;
	}
	for (size_t i = 0; i < k->n_patterns; i++) {
		const struct ml_pattern *p = &k->patterns[i];
		for (int j = 0; j < ML_EVIDENCE_MAX; j++) {
			enum ml_evidence_source s = search_order[j];
			regmatch_t m;
			if (!(p->sources & (1u << s)) || !texts[s])
				continue;
			if (regexec(&p->re, texts[s], 1, &m, 0) == 0) {
				ml_autofree char *line = line_at(texts[s], (size_t)m.rm_so);
				*source = (int)s;
				*quote = ml_strdup_printf("%s: %s", source_labels[s], line);
				return true;
			}
		}
	}
	return false;
}

/* A console line without the kernel's "[   13.594710] " timestamp. */
static const char *skip_timestamp(const char *line, const char *end)
{
	const char *s = line;

	if (s >= end || *s != '[')
		return line;
	for (s++; s < end && *s == ' '; s++)
		;
	for (; s < end && ((*s >= '0' && *s <= '9') || *s == '.'); s++)
		;
	if (s >= end || *s != ']')
		return line;
	s++;
	return s < end && *s == ' ' ? s + 1 : s;
}

/* Lines of an oops a quote is better without: the instruction bytes and the
 * register dump (but RIP, which names the function), so that the call trace
 * fits. The whole oops stays in the console log. */
static bool oops_noise(const char *body, size_t n)
{
	static const char *const prefixes[] = { "Code: ", "FS: ", "CS: ", "CR2: ", "DR0: ",
						"DR3: ", "DR6: ", "PKRU: " };

	for (size_t i = 0; i < ML_ARRAY_SIZE(prefixes); i++)
		if (n >= strlen(prefixes[i]) && strncmp(body, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	/* "RSP: 0018:...", "RAX: ...", "R10: ...": R and two letters or digits. */
	return n >= 5 && body[0] == 'R' && body[3] == ':' && body[4] == ' ' &&
	       strncmp(body, "RIP:", 4) != 0 &&
	       ((body[1] >= 'A' && body[1] <= 'Z') || (body[1] >= '0' && body[1] <= '9'));
}

/* The first oops in text: from the earliest line an [extract] oops
 * expression finds, that line and up to ML_CLASSIFY_OOPS_LINES more (the
 * register dump left out), ending early at a blank line or the end of the call
 * trace, without timestamps, cut to ML_CLASSIFY_OOPS_MAX bytes at a line end.
 * NULL if there is none. */
static char *oops_at(const struct ml_catalogue *c, const char *text)
{
	ml_autobuf struct ml_buf b = ML_BUF_INIT(0);
	const char *start = NULL, *line;
	int lines = 0;

	if (!text)
		return NULL;
	for (size_t i = 0; i < c->n_oops_res; i++) {
		regmatch_t m;
		if (regexec(&c->oops_res[i].re, text, 1, &m, 0) == 0 &&
		    (!start || text + m.rm_so < start))
			start = text + m.rm_so;
	}
	if (!start)
		return NULL;
	while (start > text && start[-1] != '\n')
		start--;
	for (line = start; line && *line && lines <= ML_CLASSIFY_OOPS_LINES; lines++) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *body = skip_timestamp(line, end);
		size_t n = (size_t)(end - body);

		if (lines && n == 0)
			break;
		if (lines && oops_noise(body, n)) {
			lines--;
			line = nl ? nl + 1 : NULL;
			continue;
		}
		if (b.len + n + 1 > ML_CLASSIFY_OOPS_MAX) {
			/* The first line alone is cut; later ones are left out. */
			if (lines == 0)
				ml_buf_printf(&b, "%.*s...", ML_CLASSIFY_OOPS_MAX - 4, body);
			break;
		}
		ml_buf_printf(&b, "%s%.*s", lines ? "\n" : "", (int)n, body);
		if (memmem(body, n, "</TASK>", 7) || memmem(body, n, "---[ end trace", 14))
			break;
		line = nl ? nl + 1 : NULL;
	}
	return ml_buf_steal(&b);
}

/* The oops of the failure: in the matched source when it is the guest's
 * console or the evidence (which quotes a console's tail), else in the
 * console read, else in the evidence. */
static char *find_oops(const struct ml_catalogue *c, char *const texts[ML_EVIDENCE_MAX],
		       int source)
{
	static const enum ml_evidence_source order[] = {
		ML_EVIDENCE_DST_CONSOLE, ML_EVIDENCE_BACK_CONSOLE, ML_EVIDENCE_SRC_CONSOLE,
		ML_EVIDENCE_EVIDENCE,
	};
	char *o = NULL;

	if (source >= 0 && ((CONSOLE_SOURCES | (1u << ML_EVIDENCE_EVIDENCE)) & (1u << source)))
		o = oops_at(c, texts[source]);
	for (size_t i = 0; !o && i < ML_ARRAY_SIZE(order); i++)
		o = oops_at(c, texts[order[i]]);
	return o;
}

/* "2 of 16384 pages bad (stale 1, zero 1): 7 stale (gen 28, expected 29), ..."
 * from a probe ram-verify reply (docs/probe-protocol.md) quoted in the
 * evidence as one line of JSON. NULL if the evidence holds none. */
static char *bad_pages(const char *evidence)
{
	const char *line = evidence;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		json_auto_t *v = NULL;

		if (*line == '{' && memmem(line, n, "\"bad_pages\"", 11))
			v = json_loadb(line, n, 0, NULL);
		if (json_is_object(v) && json_is_integer(json_object_get(v, "bad_pages"))) {
			ml_autobuf struct ml_buf b = ML_BUF_INIT(0);
			json_t *counts = json_object_get(v, "counts");
			json_t *examples = json_object_get(v, "examples");
			const char *kind, *sep = " (";
			json_t *cnt, *ex;
			size_t i;

			ml_buf_printf(&b, "%lld of %lld pages bad",
				      (long long)json_integer_value(json_object_get(v, "bad_pages")),
				      (long long)ml_json_int(v, "pages", -1));
			json_object_foreach(counts, kind, cnt) {
				if (!json_is_integer(cnt))
					continue;
				ml_buf_printf(&b, "%s%.32s %lld", sep, kind,
					      (long long)json_integer_value(cnt));
				sep = ", ";
			}
			if (*sep == ',')
				ml_buf_puts(&b, ")");
			/* Without examples (an older probe), the first bad page. */
			if (!json_array_size(examples) && json_object_get(v, "first_bad_page")) {
				json_t *first = json_pack("{s:O?, s:O?, s:O?, s:O?}", "page",
							  json_object_get(v, "first_bad_page"), "kind",
							  json_object_get(v, "kind"), "expected",
							  json_object_get(v, "expected"), "found",
							  json_object_get(v, "found"));
				examples = json_pack("[o]", first);
				json_object_set_new(v, "examples", examples);
			}
			json_array_foreach(examples, i, ex) {
				json_t *exp = json_object_get(ex, "expected");
				json_t *found = json_object_get(ex, "found");
				if (i == ML_CLASSIFY_PAGES_SHOWN) {
					ml_buf_puts(&b, ", ...");
					break;
				}
				ml_buf_printf(&b, "%s page %lld %.32s", i ? "," : ":",
					      (long long)ml_json_int(ex, "page", -1),
					      ml_json_str(ex, "kind") ? ml_json_str(ex, "kind") : "bad");
				if (json_is_integer(json_object_get(found, "generation")))
					ml_buf_printf(&b, " (gen %lld, expected %lld)",
						      (long long)ml_json_int(found, "generation", -1),
						      (long long)ml_json_int(exp, "generation", -1));
				else if (json_is_integer(json_object_get(exp, "generation")))
					ml_buf_printf(&b, " (expected gen %lld)",
						      (long long)ml_json_int(exp, "generation", -1));
			}
			return ml_buf_steal(&b);
		}
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

json_t *ml_classify_texts(const struct ml_catalogue *c, char *const texts[ML_EVIDENCE_MAX],
			  const struct ml_classify_facts *facts)
{
	static const struct ml_classify_facts no_facts;
	const struct ml_failure_class *k = NULL;
	ml_autofree char *quote = NULL;
	char *device = NULL, *field = NULL;
	ml_autofree char *oops = NULL;
	ml_autofree char *pages = NULL;
	int source = -1;
	json_t *out;

	if (!facts)
		facts = &no_facts;
	for (size_t i = 0; i < c->n_classes && !k; i++) {
		const struct ml_failure_class *cand = &c->classes[c->order[i]];
		if (strcmp(cand->id, ML_CLASS_UNCLASSIFIED) == 0)
			continue;
		if (class_matches(cand, texts, facts, &source, &quote))
			k = cand;
	}
	if (!k)
		k = ml_catalogue_find(c, ML_CLASS_UNCLASSIFIED);
	if (!k->no_extract) {
		device = extract(k->device_res, k->n_device_res, c->device_res, c->n_device_res,
				 texts, source);
		field = extract(k->field_res, k->n_field_res, c->field_res, c->n_field_res, texts,
				source);
	}
	oops = find_oops(c, texts, source);
	pages = bad_pages(texts[ML_EVIDENCE_EVIDENCE]);
	out = json_object();
	ml_json_set_str(out, "class", k->id);
	ml_json_set_str(out, "title", k->title);
	ml_json_set_str(out, "family", ml_class_family(k));
	ml_json_set_str(out, "source", source >= 0 ? source_keys[source] : NULL);
	ml_json_set_str(out, "matched", quote);
	ml_json_set_str(out, "device", device);
	ml_json_set_str(out, "field", field);
	ml_json_set_str(out, "oops", oops);
	ml_json_set_str(out, "pages", pages);
	free(device);
	free(field);
	return out;
}

int ml_classify(const struct ml_catalogue *c, json_t *cell, const char *cell_dir,
		json_t **classification)
{
	const char *verdict = ml_json_str(cell, "verdict");
	char *texts[ML_EVIDENCE_MAX];
	struct ml_classify_facts facts = { .verdict = verdict };

	*classification = NULL;
	if (!json_is_object(cell)) {
		ml_error("a cell document is not a JSON object");
		return -1;
	}
	if (verdict && (strcmp(verdict, "pass") == 0 || strcmp(verdict, "skip") == 0 ||
			strcmp(verdict, "xpass") == 0))
		return 0;
	if (ml_classify_collect(cell, cell_dir, texts) < 0)
		return -1;
	facts.phase = ml_json_str(json_object_get(cell, "failure"), "phase");
	for (int v = 0; v < 3; v++) {
		ml_autofree char *key = ml_strdup_printf("exit_%s", vm_names[v]);
		facts.exits[v] = ml_json_str(cell, key);
	}
	/* The guest's boot on the source build, when no restored source ran. */
	if (!facts.exits[0])
		facts.exits[0] = ml_json_str(cell, "exit_" BOOT_VM);
	*classification = ml_classify_texts(c, texts, &facts);
	for (int s = 0; s < ML_EVIDENCE_MAX; s++)
		free(texts[s]);
	return 0;
}

/* ---- rendering --------------------------------------------------------- */

static void md_rules(struct ml_buf *b, const struct ml_failure_class *k)
{
	if (!k->n_patterns && !k->exit.set && !k->n_phases && !k->n_verdicts) {
		ml_buf_puts(b, "- matches: every failed cell no other class explains\n");
		return;
	}
	if (k->n_phases) {
		ml_buf_puts(b, "- phase:");
		for (size_t i = 0; i < k->n_phases; i++)
			ml_buf_printf(b, "%s `%s`", i ? "," : "", k->phases[i]);
		ml_buf_puts(b, "\n");
	}
	if (k->n_verdicts) {
		ml_buf_puts(b, "- verdict:");
		for (size_t i = 0; i < k->n_verdicts; i++)
			ml_buf_printf(b, "%s `%s`", i ? "," : "", k->verdicts[i]);
		ml_buf_puts(b, "\n");
	}
	if (k->exit.set) {
		ml_buf_puts(b, "- exit: `");
		if (k->exit.who == 7) {
			ml_buf_puts(b, "any");
		} else {
			const char *sep = "";
			for (int v = 0; v < 3; v++)
				if (k->exit.who & (1u << v)) {
					ml_buf_printf(b, "%s%s", sep, vm_names[v]);
					sep = "+";
				}
		}
		ml_buf_printf(b, ":%s`\n", k->exit.how);
	}
	for (size_t i = 0; i < k->n_patterns; i++) {
		const struct ml_pattern *p = &k->patterns[i];
		const char *key = p->sources == STDERR_SOURCES	  ? "stderr"
				  : p->sources == CONSOLE_SOURCES ? "console"
								  : "?";
		for (int s = 0; s < ML_EVIDENCE_MAX; s++)
			if (p->sources == (1u << s))
				key = source_keys[s];
		/* Backticks inside a pattern would end the code span. */
		if (strchr(p->text, '`'))
			ml_buf_printf(b, "- %s: ``%s``\n", key, p->text);
		else
			ml_buf_printf(b, "- %s: `%s`\n", key, p->text);
	}
	for (size_t i = 0; i < k->n_device_res; i++)
		ml_buf_printf(b, "- names the device: `%s`\n", k->device_res[i].text);
	for (size_t i = 0; i < k->n_field_res; i++)
		ml_buf_printf(b, "- names the field: `%s`\n", k->field_res[i].text);
	if (k->no_extract)
		ml_buf_puts(b, "- names no device or field (`extract = no`)\n");
}

static void md_text(struct ml_buf *b, const char *label, const char *text)
{
	if (!text)
		return;
	ml_buf_printf(b, "**%s** %s\n\n", label, text);
}

char *ml_catalogue_markdown(const struct ml_catalogue *c)
{
	struct ml_buf b = ML_BUF_INIT(0);

	ml_buf_puts(&b, "# Failure catalogue\n\n"
			"<!-- Generated from results/failures.ini by `miglab failures --markdown`;\n"
			"     do not edit: edit the data and regenerate (MIGLAB_REGENERATE=1\n"
			"     tests/unit/test-classify). -->\n\n"
			"Every failed cell is explained by one class of this catalogue: miglab tries the\n"
			"classes in priority order (lower first) on the cell's evidence and records the\n"
			"first that matches in `cell.json` (`failure.class`), with the line that matched\n"
			"and, when the text names them, the device and the field. A failure nothing\n"
			"explains is `unclassified`: add a class for it.\n\n"
			"## Catalogue format (`results/failures.ini`)\n\n"
			"- `[class ID]`: `title`, `meaning`, `investigate`, `fix` (texts; an indented\n"
			"  line continues the text above), `example` (a real error line, repeatable;\n"
			"  the unit tests check that each example is classified as its class),\n"
			"  `priority` (default 100; lower is tried first, ties in file order),\n"
			"  `family` (optional, one word of a-z, 0-9 and `-`: classes of one family\n"
			"  are the same breakage with different symptoms, e.g. a guest whose memory\n"
			"  went bad panics, reboots or hangs at random; a class without one is its\n"
			"  own family; the classification records it as `family`).\n"
			"- Match rules: patterns are POSIX extended regular expressions, matched\n"
			"  case-insensitively against each line of a source; repeat a key for more\n"
			"  patterns. Any one pattern matching is enough. Sources: `dst_stderr`,\n"
			"  `src_stderr`, `back_stderr` (the QEMU stderr logs; `stderr` means any of\n"
			"  the three), `dst_console`, `src_console`, `back_console` (the guest's\n"
			"  serial console logs; `console` means any of the three; only the console\n"
			"  of the VM the guest was on when it failed is read: `boot-src` the source,\n"
			"  `migrate-forward`, `live-dst`, `reboot-dst` the destination,\n"
			"  `migrate-back`, `back-src` the migrate-back destination), `qmp_error`\n"
			"  (error replies in the QMP transcripts),\n"
			"  `migrate_error` (query-migrate `error-desc`), `evidence` (the cell's quoted\n"
			"  evidence), `reason` (the cell's one-line reason).\n"
			"- Filters, all of which must hold: `phase` (the failed phase: `boot-src`,\n"
			"  `migrate-forward`, `reboot-dst`, `migrate-back`, ...; a list), `verdict`\n"
			"  (`fail`, `error`; a list), `exit` (`WHO:HOW`, WHO `src`, `dst`, `back`,\n"
			"  `any` or several joined by `+`; HOW `signal` (killed by a signal other than\n"
			"  the lab's SIGKILL), `status` (non-zero exit) or `any`). A class with filters\n"
			"  but no pattern matches on the filters alone.\n"
			"- `device`, `field` (in a class, or for all classes in `[extract]`): an\n"
			"  expression whose first group names the device or the field; the class's own\n"
			"  first, each tried on the matched source first, then on the others.\n"
			"  `extract = no` in a class names no device or field (for classes whose\n"
			"  other evidence is a consequence, not the cause). A guest console names\n"
			"  a device only when it is the matched source.\n"
			"- `oops` (in `[extract]`): expressions that find the first line of a guest\n"
			"  kernel oops. The classification's `oops` holds the earliest such line\n"
			"  and up to 12 lines after it (to a blank line or the end of the call\n"
			"  trace; kernel timestamps, the instruction bytes and the register dump\n"
			"  but RIP left out; at most 1500 bytes), from the matched\n"
			"  source when it is a console or the evidence, else from the console read.\n"
			"- Besides, a probe `ram-verify` reply quoted in the evidence gives the\n"
			"  classification's `pages`: how many pages are bad, of which kinds, and\n"
			"  the first few by index with their generations.\n\n"
			"## Classes\n\n| class | title | family | priority |\n"
			"| --- | --- | --- | --- |\n");
	for (size_t i = 0; i < c->n_classes; i++)
		ml_buf_printf(&b, "| [`%s`](#%s) | %s | %s | %d |\n", c->classes[i].id,
			      c->classes[i].id, c->classes[i].title, ml_class_family(&c->classes[i]),
			      c->classes[i].priority);
	ml_buf_puts(&b, "\n");
	for (size_t i = 0; i < c->n_classes; i++) {
		const struct ml_failure_class *k = &c->classes[i];
		ml_buf_printf(&b, "### %s\n\n%s\n\n", k->id, k->title);
		if (k->family)
			ml_buf_printf(&b, "Family: `%s`\n\n", k->family);
		md_text(&b, "Meaning.", k->meaning);
		md_text(&b, "Investigate.", k->investigate);
		md_text(&b, "Fix.", k->fix);
		if (k->n_examples) {
			ml_buf_puts(&b, "Example:\n\n```\n");
			for (size_t e = 0; e < k->n_examples; e++)
				ml_buf_printf(&b, "%s\n", k->examples[e]);
			ml_buf_puts(&b, "```\n\n");
		}
		ml_buf_printf(&b, "Rules (priority %d):\n\n", k->priority);
		md_rules(&b, k);
		ml_buf_puts(&b, "\n");
	}
	if (c->n_device_res || c->n_field_res || c->n_oops_res) {
		ml_buf_puts(&b, "## Devices, fields and oopses (`[extract]`)\n\n");
		for (size_t i = 0; i < c->n_device_res; i++)
			ml_buf_printf(&b, "- device: `%s`\n", c->device_res[i].text);
		for (size_t i = 0; i < c->n_field_res; i++)
			ml_buf_printf(&b, "- field: `%s`\n", c->field_res[i].text);
		for (size_t i = 0; i < c->n_oops_res; i++)
			ml_buf_printf(&b, "- oops: `%s`\n", c->oops_res[i].text);
	}
	return ml_buf_steal(&b);
}

static void text_block(struct ml_buf *b, const char *label, const char *text)
{
	const char *line = text;

	if (!text)
		return;
	ml_buf_printf(b, "  %s:\n", label);
	while (line && *line) {
		const char *end = strchr(line, '\n');
		ml_buf_printf(b, "    %.*s\n", end ? (int)(end - line) : (int)strlen(line), line);
		line = end ? end + 1 : NULL;
	}
}

char *ml_catalogue_text(const struct ml_catalogue *c)
{
	struct ml_buf b = ML_BUF_INIT(0);

	ml_buf_printf(&b, "failure catalogue: %s (%zu classes, tried by priority)\n\n", c->origin,
		      c->n_classes);
	for (size_t i = 0; i < c->n_classes; i++) {
		const struct ml_failure_class *k = &c->classes[c->order[i]];
		ml_buf_printf(&b, "%s (priority %d", k->id, k->priority);
		if (k->family)
			ml_buf_printf(&b, ", family %s", k->family);
		ml_buf_printf(&b, "): %s\n", k->title);
		text_block(&b, "meaning", k->meaning);
		text_block(&b, "investigate", k->investigate);
		text_block(&b, "fix", k->fix);
		ml_buf_puts(&b, "\n");
	}
	return ml_buf_steal(&b);
}
