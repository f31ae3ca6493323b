/* Known issues: the list (matrix/known-issues.ini) and matching a cell
 * against it (see known.h). Versions compare as integer tuples, never as
 * strings. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "known.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-common.h"

#define KNOWN_FILE_LIMIT ((size_t)1 << 20)
#define ID_MAX_LEN 64

/* The built-in copy of matrix/known-issues.ini (see results/CMakeLists.txt). */
__asm__(".section .rodata\n"
	".global ml_known_issues_ini_data\n"
	".type ml_known_issues_ini_data, @object\n"
	".balign 16\n"
	"ml_known_issues_ini_data:\n"
	".incbin \"" ML_KNOWN_ISSUES_INI "\"\n"
	".byte 0\n"
	".previous\n");
extern const char ml_known_issues_ini_data[];

const char *ml_known_builtin(void)
{
	return ml_known_issues_ini_data;
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

int ml_version_parse(const char *s, int parts[ML_VERSION_PARTS])
{
	int n = 0;

	while (s && *s >= '0' && *s <= '9' && n < ML_VERSION_PARTS) {
		long v = 0;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (*s++ - '0');
			if (v > 1000000)
				return 0;
		}
		parts[n++] = (int)v;
		if (*s != '.')
			break;
		s++;
	}
	for (int i = n; i < ML_VERSION_PARTS; i++)
		parts[i] = 0;
	return n;
}

/* Compare v with a bound on the bound's parts only: -1, 0, 1. */
static int cmp_prefix(const int *v, int nv, const int *b, int nb)
{
	for (int i = 0; i < nb; i++) {
		int x = i < nv ? v[i] : 0;
		if (x != b[i])
			return x < b[i] ? -1 : 1;
	}
	return 0;
}

bool ml_version_in_range(const int *v, int n, const struct ml_version_range *r)
{
	if (n <= 0)
		return false;
	if (r->n_lo && cmp_prefix(v, n, r->lo, r->n_lo) < 0)
		return false;
	if (r->n_hi && cmp_prefix(v, n, r->hi, r->n_hi) > 0)
		return false;
	return true;
}

/* A whole version bound: digits and dots only, 1 to 4 parts. */
static int parse_bound(const char *s, size_t n, int out[ML_VERSION_PARTS])
{
	char buf[64];
	int parts;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.'))
			return -1;
	if (buf[0] == '.' || buf[n - 1] == '.' || strstr(buf, ".."))
		return -1;
	parts = ml_version_parse(buf, out);
	{
		/* Every part was read (at most ML_VERSION_PARTS). */
		int dots = 0;
		for (size_t i = 0; i < n; i++)
			dots += buf[i] == '.';
		if (dots + 1 != parts)
			return -1;
	}
	return parts;
}

static void build_match_clear(struct ml_build_match *b)
{
	for (size_t i = 0; i < b->n_providers; i++)
		free(b->providers[i]);
	free(b->providers);
	free(b->ranges);
	memset(b, 0, sizeof(*b));
}

static void issue_clear(struct ml_known_issue *i)
{
	free(i->id);
	build_match_clear(&i->src);
	build_match_clear(&i->dst);
	for (size_t j = 0; j < i->n_machines; j++)
		free(i->machines[j]);
	free(i->machines);
	for (size_t j = 0; j < i->n_classes; j++)
		free(i->classes[j]);
	free(i->classes);
	free(i->note);
	free(i->link);
	free(i->fixup);
	for (size_t j = 0; j < i->n_fixup; j++)
		free(i->fixup_argv[j]);
	free(i->fixup_argv);
}

void ml_known_clear(struct ml_known *k)
{
	for (size_t i = 0; i < k->n_issues; i++)
		issue_clear(&k->issues[i]);
	free(k->issues);
	free(k->origin);
	memset(k, 0, sizeof(*k));
}

struct known_parser {
	struct ml_known *k;
	struct ml_known_issue *cur;
	unsigned src_line, dst_line, note_line, dir_line, link_line, fixup_line;
};

/* Split "a, b ,c" into trimmed items; empty items are errors. */
static int split_items(const struct ml_ini_event *ev, char **error, char ***items, size_t *n)
{
	ml_autofree char *copy = xstrdup(ev->value);
	char *save = NULL;
	size_t len = strlen(copy);

	if (len == 0 || copy[0] == ',' || copy[len - 1] == ',' || strstr(copy, ",,"))
		return ml_ini_fail(error, ev->file, ev->line, "empty item in %s = %s", ev->key,
				   ev->value);
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		char *end;
		while (*w == ' ' || *w == '\t')
			w++;
		end = w + strlen(w);
		while (end > w && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*w)
			return ml_ini_fail(error, ev->file, ev->line, "empty item in %s = %s",
					   ev->key, ev->value);
		*items = grow(*items, *n, sizeof(**items));
		(*items)[(*n)++] = xstrdup(w);
	}
	return 0;
}

#define BUILD_SYNTAX                                                            \
	"*, a provider (debian:SUITE, path:/...), or QEMU versions: A..B, A.., ..B " \
	"or A (integer tuples, e.g. 7.2..8.1); alternatives separated by commas"

static int parse_build_match(const struct ml_ini_event *ev, char **error, struct ml_build_match *b)
{
	char **items = NULL;
	size_t n = 0;
	int rc = 0;

	if (split_items(ev, error, &items, &n) < 0)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *it = items[i];
		const char *dots = strstr(it, "..");
		struct ml_version_range r = { 0 };

		if (strcmp(it, "*") == 0) {
			b->any = true;
			continue;
		}
		if (strchr(it, ':')) {
			if (strncmp(it, "debian:", 7) != 0 && strncmp(it, "path:/", 6) != 0 &&
			    strncmp(it, "source:", 7) != 0) {
				rc = ml_ini_fail(error, ev->file, ev->line, "bad build '%s' in %s (%s)",
						 it, ev->key, BUILD_SYNTAX);
				break;
			}
			b->providers = grow(b->providers, b->n_providers, sizeof(*b->providers));
			b->providers[b->n_providers++] = xstrdup(it);
			continue;
		}
		if (dots) {
			size_t nl = (size_t)(dots - it);
			const char *hi = dots + 2;
			if (nl && (r.n_lo = parse_bound(it, nl, r.lo)) < 0)
				r.n_lo = -1;
			if (*hi && (r.n_hi = parse_bound(hi, strlen(hi), r.hi)) < 0)
				r.n_hi = -1;
			if (r.n_lo < 0 || r.n_hi < 0 || (!nl && !*hi)) {
				rc = ml_ini_fail(error, ev->file, ev->line,
						 "bad version range '%s' in %s (%s)", it, ev->key,
						 BUILD_SYNTAX);
				break;
			}
			if (r.n_lo && r.n_hi &&
			    cmp_prefix(r.lo, r.n_lo, r.hi, r.n_lo < r.n_hi ? r.n_lo : r.n_hi) > 0) {
				rc = ml_ini_fail(error, ev->file, ev->line,
						 "empty version range '%s' in %s (the lower bound is "
						 "above the upper one)", it, ev->key);
				break;
			}
		} else {
			r.n_lo = parse_bound(it, strlen(it), r.lo);
			if (r.n_lo < 0) {
				rc = ml_ini_fail(error, ev->file, ev->line, "bad build '%s' in %s (%s)",
						 it, ev->key, BUILD_SYNTAX);
				break;
			}
			memcpy(r.hi, r.lo, sizeof(r.hi));
			r.n_hi = r.n_lo;
		}
		b->ranges = grow(b->ranges, b->n_ranges, sizeof(*b->ranges));
		b->ranges[b->n_ranges++] = r;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
	return rc ? -1 : (*error ? -1 : 0);
}

static int once(unsigned *line, const struct ml_ini_event *ev, char **error, const char *id)
{
	if (*line)
		return ml_ini_fail(error, ev->file, ev->line,
				   "duplicate %s in [issue %s] (first at line %u)", ev->key, id, *line);
	*line = ev->line;
	return 0;
}

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ID_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

static int end_issue(struct known_parser *p, const char *file, char **error)
{
	struct ml_known_issue *i = p->cur;

	if (!i)
		return 0;
	if (!p->src_line || !p->dst_line)
		return ml_ini_fail(error, file, i->line,
				   "[issue %s] needs src and dst (%s)", i->id, BUILD_SYNTAX);
	if (!i->note)
		return ml_ini_fail(error, file, i->line,
				   "[issue %s] needs a note (what fails and why)", i->id);
	return 0;
}

static int known_section(struct known_parser *p, const struct ml_ini_event *ev, char **error)
{
	struct ml_known *k = p->k;
	char word[16], id[ID_MAX_LEN + 8], extra[8];
	int nw;

	if (end_issue(p, ev->file, error) < 0)
		return -1;
	p->cur = NULL;
	nw = sscanf(ev->section, " %15s %71s %7s", word, id, extra);
	if (nw < 1 || strcmp(word, "issue") != 0)
		return ml_ini_fail(error, ev->file, ev->line,
				   "unknown section [%s] (expected [issue ID])", ev->section);
	if (nw != 2)
		return ml_ini_fail(error, ev->file, ev->line,
				   nw == 1 ? "section [issue] needs an id: [issue ID]"
					   : "section [issue ...] has more than one id");
	if (!valid_id(id))
		return ml_ini_fail(error, ev->file, ev->line,
				   "bad issue id '%s' (letters, digits, '.', '_' and '-', starting "
				   "with a letter or digit, at most %d characters)", id, ID_MAX_LEN);
	for (size_t i = 0; i < k->n_issues; i++)
		if (strcmp(k->issues[i].id, id) == 0)
			return ml_ini_fail(error, ev->file, ev->line,
					   "duplicate issue '%s' (first at line %u)", id,
					   k->issues[i].line);
	k->issues = grow(k->issues, k->n_issues, sizeof(*k->issues));
	p->cur = &k->issues[k->n_issues++];
	p->cur->id = xstrdup(id);
	p->cur->line = ev->line;
	p->src_line = p->dst_line = p->note_line = p->dir_line = p->link_line = p->fixup_line = 0;
	return 0;
}

static int known_key(struct known_parser *p, const struct ml_ini_event *ev, char **error)
{
	struct ml_known_issue *i = p->cur;
	const char *key = ev->key;

	if (!i)
		return ml_ini_fail(error, ev->file, ev->line,
				   "key '%s' outside a section (expected [issue ID] first)", key);
	if (ev->continuation && strcmp(key, "note") != 0)
		return ml_ini_fail(error, ev->file, ev->line,
				   "only note continues on an indented line, not %s", key);
	if (strcmp(key, "note") == 0) {
		if (ev->continuation && i->note) {
			char *j = ml_strdup_printf("%s\n%s", i->note, ev->value);
			free(i->note);
			i->note = j;
			return 0;
		}
		if (once(&p->note_line, ev, error, i->id) < 0)
			return -1;
		i->note = xstrdup(ev->value);
	} else if (strcmp(key, "src") == 0 || strcmp(key, "dst") == 0) {
		bool src = key[0] == 's';
		if (once(src ? &p->src_line : &p->dst_line, ev, error, i->id) < 0)
			return -1;
		return parse_build_match(ev, error, src ? &i->src : &i->dst);
	} else if (strcmp(key, "machine") == 0) {
		return split_items(ev, error, &i->machines, &i->n_machines);
	} else if (strcmp(key, "class") == 0) {
		return split_items(ev, error, &i->classes, &i->n_classes);
	} else if (strcmp(key, "direction") == 0) {
		if (once(&p->dir_line, ev, error, i->id) < 0)
			return -1;
		if (strcmp(ev->value, "forward") == 0)
			i->direction = ML_KNOWN_FORWARD;
		else if (strcmp(ev->value, "back") == 0)
			i->direction = ML_KNOWN_BACK;
		else if (strcmp(ev->value, "any") == 0)
			i->direction = ML_KNOWN_ANY;
		else
			return ml_ini_fail(error, ev->file, ev->line,
					   "bad direction '%s' in [issue %s] (accepted: forward, back, "
					   "any)", ev->value, i->id);
	} else if (strcmp(key, "link") == 0) {
		if (once(&p->link_line, ev, error, i->id) < 0)
			return -1;
		if (strncmp(ev->value, "https://", 8) != 0 && strncmp(ev->value, "http://", 7) != 0)
			return ml_ini_fail(error, ev->file, ev->line,
					   "bad link '%s' in [issue %s] (an http:// or https:// URL)",
					   ev->value, i->id);
		i->link = xstrdup(ev->value);
	} else if (strcmp(key, "fixup") == 0) {
		ml_autofree char *copy = NULL;
		char *save = NULL;
		if (once(&p->fixup_line, ev, error, i->id) < 0)
			return -1;
		if (!*ev->value || ev->value[0] != '-')
			return ml_ini_fail(error, ev->file, ev->line,
					   "bad fixup '%s' in [issue %s] (QEMU arguments for the "
					   "destination, starting with an option such as -global)",
					   ev->value, i->id);
		i->fixup = xstrdup(ev->value);
		copy = xstrdup(ev->value);
		for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
			i->fixup_argv = grow(i->fixup_argv, i->n_fixup, sizeof(*i->fixup_argv));
			i->fixup_argv[i->n_fixup++] = xstrdup(w);
		}
		i->fixup_argv = grow(i->fixup_argv, i->n_fixup, sizeof(*i->fixup_argv));
	} else {
		return ml_ini_fail(error, ev->file, ev->line,
				   "unknown key '%s' in [issue %s] (accepted: src, dst, machine, "
				   "class, direction, note, link, fixup)", key, i->id);
	}
	return 0;
}

static int known_handler(const struct ml_ini_event *ev, void *opaque, char **error)
{
	struct known_parser *p = opaque;

	if (!ev->key)
		return known_section(p, ev, error);
	return known_key(p, ev, error);
}

int ml_known_parse(const char *text, size_t len, const char *file, struct ml_known *k)
{
	struct known_parser p = { .k = k };
	char *error = NULL;

	memset(k, 0, sizeof(*k));
	if (ml_ini_parse_text(text, len, file, known_handler, &p, &error) < 0 ||
	    end_issue(&p, file, &error) < 0) {
		ml_error("%s", error);
		free(error);
		ml_known_clear(k);
		return -1;
	}
	k->origin = xstrdup(file);
	return 0;
}

int ml_known_load(const char *path, struct ml_known *k)
{
	ml_autofree char *text = NULL;
	size_t len = 0;

	if (!path) {
		const char *env = getenv(ML_KNOWN_ENV);
		if (env && *env)
			path = env;
	}
	if (!path) {
		const char *b = ml_known_builtin();
		return ml_known_parse(b, strlen(b), "known-issues.ini (built-in)", k);
	}
	if (ml_read_file(path, KNOWN_FILE_LIMIT, &text, &len) < 0)
		return ml_error_context("reading the known-issue list");
	return ml_known_parse(text, len, path, k);
}

int ml_known_check_classes(const struct ml_known *k, const struct ml_catalogue *c)
{
	for (size_t i = 0; i < k->n_issues; i++)
		for (size_t j = 0; j < k->issues[i].n_classes; j++)
			if (!ml_catalogue_find(c, k->issues[i].classes[j])) {
				ml_error("%s:%u: [issue %s] names the failure class '%s', which the "
					 "catalogue (%s) does not have", k->origin, k->issues[i].line,
					 k->issues[i].id, k->issues[i].classes[j], c->origin);
				return -1;
			}
	return 0;
}

static bool build_matches(const struct ml_build_match *b, json_t *build)
{
	const char *provider = ml_json_str(build, "provider");
	const char *version = ml_json_str(build, "version");
	int v[ML_VERSION_PARTS];
	int n = ml_version_parse(version, v);

	if (b->any)
		return true;
	for (size_t i = 0; provider && i < b->n_providers; i++)
		if (strcmp(provider, b->providers[i]) == 0)
			return true;
	for (size_t i = 0; n > 0 && i < b->n_ranges; i++)
		if (ml_version_in_range(v, n, &b->ranges[i]))
			return true;
	return false;
}

static bool phase_in_direction(const char *phase, enum ml_known_direction d)
{
	static const char *const fwd[] = { "migrate-forward", "live-dst", "reboot-dst", NULL };
	static const char *const back[] = { "migrate-back", "back-src", NULL };
	const char *const *list = d == ML_KNOWN_FORWARD ? fwd : back;

	if (d == ML_KNOWN_ANY)
		return true;
	for (size_t i = 0; phase && list[i]; i++)
		if (strcmp(phase, list[i]) == 0)
			return true;
	return false;
}

const struct ml_known_issue *ml_known_match(const struct ml_known *k, json_t *cell,
					    json_t *classification)
{
	json_t *inputs = json_object_get(cell, "inputs");
	const char *machine = ml_json_str(cell, "machine");
	const char *phase = ml_json_str(json_object_get(cell, "failure"), "phase");
	const char *cls = ml_json_str(classification, "class");

	if (!machine)
		machine = ml_json_str(inputs, "machine");
	for (size_t n = 0; k && n < k->n_issues; n++) {
		const struct ml_known_issue *i = &k->issues[n];
		bool ok = i->n_machines == 0;

		if (!build_matches(&i->src, json_object_get(inputs, "src")) ||
		    !build_matches(&i->dst, json_object_get(inputs, "dst")))
			continue;
		for (size_t m = 0; machine && m < i->n_machines && !ok; m++)
			ok = fnmatch(i->machines[m], machine, 0) == 0;
		if (!ok)
			continue;
		if (classification) {
			if (i->n_classes) {
				ok = false;
				for (size_t c = 0; cls && c < i->n_classes && !ok; c++)
					ok = strcmp(cls, i->classes[c]) == 0;
				if (!ok)
					continue;
			}
			if (!phase_in_direction(phase, i->direction))
				continue;
		}
		return i;
	}
	return NULL;
}

json_t *ml_known_issue_to_json(const struct ml_known_issue *i)
{
	json_t *o = json_object();

	ml_json_set_str(o, "id", i->id);
	ml_json_set_str(o, "note", i->note);
	ml_json_set_str(o, "link", i->link);
	ml_json_set_str(o, "fixup", i->fixup);
	return o;
}
