/* Matrix files: read an INI file with libinih and validate every section and
 * key (docs/matrix.md). Debian builds libinih without line numbers in the
 * handler, so we feed it lines ourselves (ini_parse_stream) and count them;
 * our reader also parses the section headers, since inih does not call the
 * handler for a section without keys. */
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "matrix.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-common.h"

#define MATRIX_FILE_LIMIT ((size_t)1 << 20)
#define NAME_MAX_LEN 40
#define MAX_KEYS 10

const char *const ml_matrix_families[] = { "q35", "i440fx", NULL };

enum section_type {
	SEC_NONE,
	SEC_MATRIX,
	SEC_BUILD,
	SEC_KERNEL,
	SEC_MACHINES,
	SEC_PAIR,
	SEC_GUEST,
	SEC_TIMEOUTS,
	SEC_MIGRATION,
	SEC_ABI,
};

struct section_desc {
	const char *word;
	bool named;
	const char *const keys[MAX_KEYS]; /* NULL-terminated */
};

static const struct section_desc sections[] = {
	[SEC_MATRIX] = { "matrix", false,
			 { "name", "description", "accel", "jobs", "control", "pairs",
			   "scenario", "confirm", "qemu-git", NULL } },
	[SEC_BUILD] = { "build", true, { "provider", NULL } },
	[SEC_KERNEL] = { "kernel", true, { "provider", NULL } },
	[SEC_MACHINES] = { "machines", true, { "select", "list", NULL } },
	[SEC_PAIR] = { "pair", true, { "src", "dst", NULL } },
	[SEC_GUEST] = { "guest", false, { "memory", "workload", "kernel-boot", "boot", NULL } },
	[SEC_TIMEOUTS] = { "timeouts", false, { "boot", "migrate", "verify", NULL } },
	[SEC_MIGRATION] = { "migration", false, { "max-bandwidth", NULL } },
	[SEC_ABI] = { "abi", false, { "dump", "reboot", "severity", "baselines", NULL } },
};

#define SECTIONS_EXPECTED                                                      \
	"[matrix], [build NAME], [kernel NAME], [machines FAMILY], [pair NAME], " \
	"[guest], [timeouts], [migration] or [abi]"
#define BUILD_PROVIDERS                                                                  \
	"debian:SUITE, path:/absolute/path/to/qemu-system-x86_64, git:DIR@REF, git:@REF (the "    \
	"checkout of MIGLAB_QEMU_GIT or qemu-git) or debian-source:VERSION, the last three "  \
	"optionally with +patch:/absolute/file.patch"
#define SELECT_RULES "newest-common, oldest-common, all-common"

/* Names of [pair] src/dst until every build is known. */
struct pending_pair {
	char *src, *dst;
	unsigned src_line, dst_line;
};

struct parser {
	const char *file;
	const char *text;
	size_t len, pos;
	unsigned line; /* of the line last handed to inih */
	struct ml_matrix *m;
	char *error;   /* the first error, "FILE:LINE: message" */

	enum section_type sec;
	size_t sec_index;     /* into the array of the section's kind */
	unsigned sec_line;
	char sec_title[80];   /* "[build bookworm]" */
	unsigned key_line[MAX_KEYS]; /* where each key of the section was set */

	unsigned single_line[SEC_ABI + 1]; /* unnamed sections seen */
	unsigned pairs_line, control_line, memory_line, workload_line;
	struct pending_pair *pending; /* parallel to m->pairs_list */
};

static void fail(struct parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct parser *p, unsigned line, const char *fmt, ...)
{
	ml_autobuf struct ml_buf b = ML_BUF_INIT(0);
	va_list ap;

	if (p->error)
		return;
	if (line)
		ml_buf_printf(&b, "%s:%u: ", p->file, line);
	else
		ml_buf_printf(&b, "%s: ", p->file);
	va_start(ap, fmt);
	ml_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	p->error = ml_buf_steal(&b);
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

static bool valid_name(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

const char *ml_select_rule_name(unsigned rule)
{
	switch (rule) {
	case ML_SELECT_NEWEST_COMMON: return "newest-common";
	case ML_SELECT_OLDEST_COMMON: return "oldest-common";
	case ML_SELECT_ALL_COMMON: return "all-common";
	default: return NULL;
	}
}

long ml_matrix_find_build(const struct ml_matrix *m, const char *name)
{
	for (size_t i = 0; i < m->n_builds; i++)
		if (strcmp(m->builds[i].name, name) == 0)
			return (long)i;
	return -1;
}

long ml_matrix_find_kernel(const struct ml_matrix *m, const char *name)
{
	for (size_t i = 0; i < m->n_kernels; i++)
		if (strcmp(m->kernels[i].name, name) == 0)
			return (long)i;
	return -1;
}

static long find_family(const struct ml_matrix *m, const char *family)
{
	for (size_t i = 0; i < m->n_families; i++)
		if (strcmp(m->families[i].family, family) == 0)
			return (long)i;
	return -1;
}

static long find_pair(const struct ml_matrix *m, const char *name)
{
	for (size_t i = 0; i < m->n_pairs; i++)
		if (strcmp(m->pairs_list[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* Checks that need the whole section: required keys. */
static void end_section(struct parser *p)
{
	const unsigned *k = p->key_line;

	switch (p->sec) {
	case SEC_BUILD:
		if (!k[0])
			fail(p, p->sec_line, "%s has no provider (accepted: %s)", p->sec_title,
			     BUILD_PROVIDERS);
		break;
	case SEC_KERNEL:
		if (!k[0])
			fail(p, p->sec_line, "%s has no provider (accepted: debian:SUITE)",
			     p->sec_title);
		break;
	case SEC_MACHINES:
		if (!k[0] && !k[1])
			fail(p, p->sec_line,
			     "%s needs select (%s) or list (machine types)", p->sec_title,
			     SELECT_RULES);
		break;
	case SEC_PAIR:
		if (!k[0] || !k[1])
			fail(p, p->sec_line, "%s needs src and dst (build names)",
			     p->sec_title);
		break;
	default:
		break;
	}
}

/* A "[...]" line: the text between the brackets, not NUL-terminated. */
static void begin_section(struct parser *p, const char *s, size_t n)
{
	struct ml_matrix *m = p->m;
	char copy[256];
	char *words[3] = { NULL, NULL, NULL };
	char *save = NULL;
	size_t nw = 0;
	enum section_type type = SEC_NONE;
	const char *name = NULL; /* set for named sections, the only ones that use it */

	end_section(p);
	if (p->error)
		return;
	if (n >= sizeof(copy))
		n = sizeof(copy) - 1;
	memcpy(copy, s, n);
	copy[n] = '\0';
	for (char *w = strtok_r(copy, " \t", &save); w && nw < 3; w = strtok_r(NULL, " \t", &save))
		words[nw++] = w;
	if (nw == 0) {
		fail(p, p->line, "empty section name [] (expected %s)", SECTIONS_EXPECTED);
		return;
	}
	for (size_t t = SEC_MATRIX; t < ML_ARRAY_SIZE(sections); t++)
		if (strcmp(words[0], sections[t].word) == 0)
			type = (enum section_type)t;
	if (type == SEC_NONE) {
		fail(p, p->line, "unknown section [%s] (expected %s)", words[0], SECTIONS_EXPECTED);
		return;
	}
	if (!sections[type].named) {
		if (nw > 1) {
			fail(p, p->line, "section [%s] takes no name", words[0]);
			return;
		}
		if (p->single_line[type]) {
			fail(p, p->line, "duplicate section [%s] (first at line %u)", words[0],
			     p->single_line[type]);
			return;
		}
		p->single_line[type] = p->line;
		snprintf(p->sec_title, sizeof(p->sec_title), "[%s]", words[0]);
	} else {
		if (nw == 1) {
			fail(p, p->line, "section [%s] needs a name: [%s %s]", words[0], words[0],
			     type == SEC_MACHINES ? "FAMILY" : "NAME");
			return;
		}
		if (nw > 2) {
			fail(p, p->line, "section [%s %s ...] has more than one name", words[0],
			     words[1]);
			return;
		}
		name = words[1];
		if (!valid_name(name, strlen(name))) {
			fail(p, p->line,
			     "bad %s name '%s' (letters, digits, '.', '_' and '-', starting with "
			     "a letter or digit, at most %d characters)",
			     words[0], name, NAME_MAX_LEN);
			return;
		}
		snprintf(p->sec_title, sizeof(p->sec_title), "[%s %s]", words[0], name);
	}

	p->sec = type;
	p->sec_line = p->line;
	memset(p->key_line, 0, sizeof(p->key_line));
	switch (type) {
	case SEC_BUILD: {
		long prev = ml_matrix_find_build(m, name);
		if (prev >= 0) {
			fail(p, p->line, "duplicate build '%s' (first at line %u)", name,
			     m->builds[prev].line);
			return;
		}
		m->builds = grow(m->builds, m->n_builds, sizeof(*m->builds));
		m->builds[m->n_builds].name = xstrdup(name);
		m->builds[m->n_builds].line = p->line;
		p->sec_index = m->n_builds++;
		break;
	}
	case SEC_KERNEL: {
		long prev = ml_matrix_find_kernel(m, name);
		if (prev >= 0) {
			fail(p, p->line, "duplicate kernel '%s' (first at line %u)", name,
			     m->kernels[prev].line);
			return;
		}
		m->kernels = grow(m->kernels, m->n_kernels, sizeof(*m->kernels));
		m->kernels[m->n_kernels].name = xstrdup(name);
		m->kernels[m->n_kernels].line = p->line;
		p->sec_index = m->n_kernels++;
		break;
	}
	case SEC_MACHINES: {
		bool known = false;
		long prev;
		for (size_t i = 0; ml_matrix_families[i]; i++)
			known |= strcmp(name, ml_matrix_families[i]) == 0;
		if (!known) {
			fail(p, p->line, "unknown machine family '%s' in [machines %s] (accepted: "
			     "q35, i440fx)", name, name);
			return;
		}
		prev = find_family(m, name);
		if (prev >= 0) {
			fail(p, p->line, "duplicate section [machines %s] (first at line %u)", name,
			     m->families[prev].line);
			return;
		}
		m->families = grow(m->families, m->n_families, sizeof(*m->families));
		m->families[m->n_families].family = xstrdup(name);
		m->families[m->n_families].line = p->line;
		p->sec_index = m->n_families++;
		break;
	}
	case SEC_PAIR: {
		long prev = find_pair(m, name);
		if (prev >= 0) {
			fail(p, p->line, "duplicate section [pair %s] (first at line %u)", name,
			     m->pairs_list[prev].line);
			return;
		}
		m->pairs_list = grow(m->pairs_list, m->n_pairs, sizeof(*m->pairs_list));
		p->pending = grow(p->pending, m->n_pairs, sizeof(*p->pending));
		m->pairs_list[m->n_pairs].name = xstrdup(name);
		m->pairs_list[m->n_pairs].line = p->line;
		p->sec_index = m->n_pairs++;
		break;
	}
	default:
		break;
	}
}

/* Looks at every line before inih does: counts it, refuses indented lines
 * (INI would take them as the continuation of the previous value) and
 * parses section headers. */
static void inspect_line(struct parser *p, const char *line)
{
	const char *begin = line, *s, *close;

	if (p->line == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
		begin += 3; /* a UTF-8 byte order mark, which inih skips too */
	s = begin;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == ';' || *s == '#')
		return;
	if (s != begin) {
		fail(p, p->line, "indented line: keys and sections start at the beginning of "
		     "the line (INI reads an indented line as the continuation of the previous "
		     "value)");
		return;
	}
	if (*s != '[') {
		/* A key line: "key = value". inih would also split at ':' (and
		 * values hold colons: debian:SUITE), so require '=' first. */
		const char *eq = strchr(s, '=');
		const char *colon = strchr(s, ':');
		if (!eq || (colon && colon < eq))
			fail(p, p->line, "syntax error: expected [section], key = value, or a "
			     "comment starting with ; or #");
		return;
	}
	close = strchr(s, ']');
	if (!close) {
		fail(p, p->line, "section header without ']'");
		return;
	}
	for (const char *t = close + 1; *t && *t != ';' && *t != '#'; t++) {
		if (*t != ' ' && *t != '\t') {
			fail(p, p->line, "unexpected text after ']': '%s'", t);
			return;
		}
	}
	begin_section(p, s + 1, (size_t)(close - s - 1));
}

static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	const char *start, *nl;
	size_t n;

	if (p->error || p->pos >= p->len)
		return NULL;
	start = p->text + p->pos;
	nl = memchr(start, '\n', p->len - p->pos);
	n = nl ? (size_t)(nl - start) : p->len - p->pos;
	p->pos += n + (nl ? 1 : 0);
	p->line++;
	if (n && start[n - 1] == '\r')
		n--;
	if (memchr(start, '\0', n)) {
		fail(p, p->line, "NUL byte in the line");
		return NULL;
	}
	if (n >= (size_t)num) {
		fail(p, p->line, "line longer than %d characters", num - 1);
		return NULL;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	inspect_line(p, str);
	return p->error ? NULL : str;
}

/* A whole number in [min, max], decimal digits only. */
static bool parse_number(const char *v, long min, long max, int *out)
{
	long n = 0;

	if (!*v)
		return false;
	for (const char *c = v; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		n = n * 10 + (*c - '0');
		if (n > max)
			return false;
	}
	if (n < min)
		return false;
	*out = (int)n;
	return true;
}

static bool is_one_of(const char *v, const char *a, const char *b)
{
	return strcmp(v, a) == 0 || (b && strcmp(v, b) == 0);
}

/* "debian:SUITE" with a plausible suite name. */
static bool valid_debian(const char *v)
{
	const char *s;

	if (strncmp(v, "debian:", 7) != 0)
		return false;
	s = v + 7;
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

static bool valid_path_provider(const char *v)
{
	return strncmp(v, "path:/", 6) == 0 && v[6] != '\0' && !strpbrk(v, " \t");
}

/* QEMU built from source (lab/source-build.h checks the rest when it is
 * provisioned: the checkout, the ref, the patches). */
static bool valid_source_provider(const char *v)
{
	if (strpbrk(v, " \t"))
		return false;
	if (strncmp(v, "git:", 4) == 0 || strncmp(v, "source:", 7) == 0)
		return strchr(v, '@') != NULL;
	return strncmp(v, "debian-source:", 14) == 0 && v[14] >= '0' && v[14] <= '9';
}

/* Split a comma-separated value into trimmed items; empty items are errors. */
static int split_list(struct parser *p, const char *key, const char *value, char ***items,
		      size_t *n)
{
	ml_autofree char *copy = xstrdup(value);
	char *save = NULL, *item;
	char **list = NULL;
	size_t count = 0;

	if (value[strlen(value) - 1] == ',' || value[0] == ',' || strstr(value, ",,")) {
		fail(p, p->line, "empty item in %s = %s in %s", key, value, p->sec_title);
		return -1;
	}
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *end;
		while (*item == ' ' || *item == '\t')
			item++;
		end = item + strlen(item);
		while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!*item) {
			fail(p, p->line, "empty item in %s = %s in %s", key, value, p->sec_title);
			goto error;
		}
		for (size_t i = 0; i < count; i++) {
			if (strcmp(list[i], item) == 0) {
				fail(p, p->line, "'%s' is repeated in %s in %s", item, key,
				     p->sec_title);
				goto error;
			}
		}
		list = grow(list, count, sizeof(*list));
		list[count++] = xstrdup(item);
	}
	*items = list;
	*n = count;
	return 0;
error:
	for (size_t i = 0; i < count; i++)
		free(list[i]);
	free(list);
	return -1;
}

/* A list entry: pc-FAMILY-X.Y[.Z] of this family, or another name (an alias
 * such as q35, resolved per build when planning). */
static bool valid_list_entry(struct parser *p, const char *family, const char *entry)
{
	size_t fl = strlen(family);

	if (strncmp(entry, "pc-", 3) == 0) {
		const char *v = entry + 3 + fl;
		bool digit = false;
		if (strncmp(entry + 3, family, fl) != 0 || *v != '-') {
			fail(p, p->line, "machine type '%s' in list is not of the %s family "
			     "(pc-%s-X.Y or an alias)", entry, family, family);
			return false;
		}
		for (v++; *v; v++) {
			if (*v >= '0' && *v <= '9')
				digit = true;
			else if (*v == '.' && digit)
				digit = false;
			else
				break;
		}
		if (*v || !digit) {
			fail(p, p->line, "bad machine type '%s' in list (pc-%s-X.Y or an alias)",
			     entry, family);
			return false;
		}
		return true;
	}
	if (!valid_name(entry, strlen(entry))) {
		fail(p, p->line, "bad machine type '%s' in list (pc-%s-X.Y or an alias)", entry,
		     family);
		return false;
	}
	return true;
}

static void bad_value(struct parser *p, const char *key, const char *value,
		      const char *accepted)
{
	fail(p, p->line, "bad value '%s' for %s in %s (accepted: %s)", value, key, p->sec_title,
	     accepted);
}

static void set_matrix_key(struct parser *p, const char *key, const char *value)
{
	struct ml_matrix *m = p->m;
	int n;

	if (strcmp(key, "name") == 0) {
		if (!valid_name(value, strlen(value)))
			bad_value(p, key, value, "letters, digits, '.', '_' and '-', at most 40 "
				  "characters");
		else
			m->name = xstrdup(value);
	} else if (strcmp(key, "description") == 0) {
		m->description = xstrdup(value);
	} else if (strcmp(key, "qemu-git") == 0) {
		if (value[0] != '/' || strpbrk(value, " \t@"))
			bad_value(p, key, value, "an absolute path of a QEMU git checkout (no spaces, no '@')");
		else {
			free(m->qemu_git);
			m->qemu_git = xstrdup(value);
		}
	} else if (strcmp(key, "accel") == 0) {
		if (!is_one_of(value, "tcg", "kvm"))
			bad_value(p, key, value, "tcg, kvm");
		else {
			free(m->accel);
			m->accel = xstrdup(value);
		}
	} else if (strcmp(key, "jobs") == 0) {
		if (!parse_number(value, 0, 1024, &n))
			bad_value(p, key, value,
				  "a whole number from 0 to 1024; 0 = number of cores");
		else
			m->jobs = (unsigned)n;
	} else if (strcmp(key, "confirm") == 0) {
		if (!parse_number(value, 0, 20, &n))
			bad_value(p, key, value,
				  "a whole number from 0 to 20: confirming attempts of a cell that "
				  "does not pass");
		else
			m->confirm = (int)n;
	} else if (strcmp(key, "control") == 0) {
		p->control_line = p->line;
		if (!is_one_of(value, "true", "false"))
			bad_value(p, key, value, "true, false");
		else
			m->control = strcmp(value, "true") == 0;
	} else if (strcmp(key, "pairs") == 0) {
		p->pairs_line = p->line;
		if (!is_one_of(value, "all", "list"))
			bad_value(p, key, value, "all, list");
		else
			m->pairs = strcmp(value, "all") == 0 ? ML_PAIRS_ALL : ML_PAIRS_LIST;
	} else if (strcmp(key, "scenario") == 0) {
		if (strcmp(value, "forward-back") != 0)
			bad_value(p, key, value, "forward-back");
		else {
			free(m->scenario);
	free(m->qemu_git);
			m->scenario = xstrdup(value);
		}
	}
}

static void set_machines_key(struct parser *p, const char *key, const char *value)
{
	struct ml_matrix_family *f = &p->m->families[p->sec_index];
	char **items = NULL;
	size_t n = 0;

	if (p->key_line[0] && p->key_line[1]) {
		fail(p, p->line, "use either select or list in %s, not both", p->sec_title);
		return;
	}
	if (split_list(p, key, value, &items, &n) < 0)
		return;
	if (strcmp(key, "select") == 0) {
		for (size_t i = 0; i < n && !p->error; i++) {
			unsigned bit = 0;
			for (unsigned b = 1; b <= ML_SELECT_ALL_COMMON; b <<= 1)
				if (strcmp(items[i], ml_select_rule_name(b)) == 0)
					bit = b;
			if (!bit)
				fail(p, p->line, "unknown selection rule '%s' in %s (accepted: "
				     "%s; or list = machine types)", items[i], p->sec_title,
				     SELECT_RULES);
			f->select |= bit;
		}
	} else {
		for (size_t i = 0; i < n && !p->error; i++)
			valid_list_entry(p, f->family, items[i]);
		if (!p->error) {
			f->list = ml_steal_pointer(&items);
			f->n_list = n;
			return;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}


/* [abi] severity.KIND = error|warn|info (the kind is checked against the
 * kinds table by the program, which knows it). */
static int set_abi_override(struct parser *p, const char *kind, const char *value)
{
	struct ml_matrix *m = p->m;

	if (!*kind || strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(kind)) {
		fail(p, p->line, "'severity.%s' in [abi]: a kind is lower-case letters, digits and '-' "
				 "(see results/abi-kinds.txt)", kind);
		return 0;
	}
	if (strcmp(value, "error") && !is_one_of(value, "warn", "info")) {
		ml_autofree char *full = ml_strdup_printf("severity.%s", kind);
		bad_value(p, full, value, "error, warn, info");
		return 0;
	}
	for (size_t i = 0; i < m->n_abi_overrides; i++)
		if (strcmp(m->abi_overrides[i].kind, kind) == 0) {
			fail(p, p->line, "duplicate key 'severity.%s' in [abi] (first at line %u)", kind,
			     m->abi_overrides[i].line);
			return 0;
		}
	m->abi_overrides = grow(m->abi_overrides, m->n_abi_overrides, sizeof(*m->abi_overrides));
	m->abi_overrides[m->n_abi_overrides].kind = xstrdup(kind);
	m->abi_overrides[m->n_abi_overrides].severity = xstrdup(value);
	m->abi_overrides[m->n_abi_overrides].line = p->line;
	m->n_abi_overrides++;
	return 1;
}

static int handler(void *user, const char *section, const char *key, const char *value)
{
	struct parser *p = user;
	const struct section_desc *d;
	size_t k;
	int n;

	(void)section; /* ours, parsed by the reader */
	if (p->error)
		return 0;
	if (!*key) {
		fail(p, p->line, "no key before '='");
		return 0;
	}
	if (p->sec == SEC_NONE) {
		fail(p, p->line, "key '%s' outside of a section (expected %s first)", key,
		     SECTIONS_EXPECTED);
		return 0;
	}
	if (p->sec == SEC_ABI && strncmp(key, "severity.", 9) == 0)
		return set_abi_override(p, key + 9, value);
	d = &sections[p->sec];
	for (k = 0; d->keys[k]; k++)
		if (strcmp(d->keys[k], key) == 0)
			break;
	if (!d->keys[k]) {
		ml_autobuf struct ml_buf acc = ML_BUF_INIT(0);
		for (size_t i = 0; d->keys[i]; i++)
			ml_buf_printf(&acc, "%s%s", i ? ", " : "", d->keys[i]);
		fail(p, p->line, "unknown key '%s' in %s (accepted: %s)", key, p->sec_title,
		     acc.data);
		return 0;
	}
	if (p->key_line[k]) {
		fail(p, p->line, "duplicate key '%s' in %s (first at line %u)", key, p->sec_title,
		     p->key_line[k]);
		return 0;
	}
	p->key_line[k] = p->line;
	if (!*value) {
		fail(p, p->line, "empty value for %s in %s", key, p->sec_title);
		return 0;
	}

	switch (p->sec) {
	case SEC_MATRIX:
		set_matrix_key(p, key, value);
		break;
	case SEC_BUILD:
		if (!valid_debian(value) && !valid_path_provider(value) &&
		    !valid_source_provider(value))
			bad_value(p, key, value, BUILD_PROVIDERS);
		else
			p->m->builds[p->sec_index].provider = xstrdup(value);
		break;
	case SEC_KERNEL:
		if (!valid_debian(value))
			bad_value(p, key, value, "debian:SUITE");
		else
			p->m->kernels[p->sec_index].provider = xstrdup(value);
		break;
	case SEC_MACHINES:
		set_machines_key(p, key, value);
		break;
	case SEC_PAIR: {
		struct pending_pair *pp = &p->pending[p->sec_index];
		if (!valid_name(value, strlen(value))) {
			bad_value(p, key, value, "the name of a [build NAME] section");
		} else if (strcmp(key, "src") == 0) {
			pp->src = xstrdup(value);
			pp->src_line = p->line;
		} else {
			pp->dst = xstrdup(value);
			pp->dst_line = p->line;
		}
		break;
	}
	case SEC_GUEST:
		if (strcmp(key, "kernel-boot") == 0) {
			static const char *const boots[] = { "auto", "pvh", "bzimage" };
			p->m->kernel_boot = NULL;
			for (size_t i = 0; i < ML_ARRAY_SIZE(boots); i++)
				if (strcmp(value, boots[i]) == 0)
					p->m->kernel_boot = boots[i];
			if (!p->m->kernel_boot)
				bad_value(p, key, value, "auto, pvh, bzimage");
		} else if (strcmp(key, "boot") == 0) {
			static const char *const boots[] = { "saved", "cold" };
			p->m->boot = NULL;
			for (size_t i = 0; i < ML_ARRAY_SIZE(boots); i++)
				if (strcmp(value, boots[i]) == 0)
					p->m->boot = boots[i];
			if (!p->m->boot)
				bad_value(p, key, value, "saved, cold");
		} else if (strcmp(key, "memory") == 0) {
			p->memory_line = p->line;
			if (!parse_number(value, 64, 65536, &n))
				bad_value(p, key, value, "MiB, a whole number from 64 to 65536");
			else
				p->m->memory_mib = n;
		} else {
			p->workload_line = p->line;
			if (!parse_number(value, 1, 32768, &n))
				bad_value(p, key, value, "MiB, a whole number from 1 to 32768, at "
					  "most half of memory");
			else
				p->m->workload_mib = n;
		}
		break;
	case SEC_TIMEOUTS:
		if (!parse_number(value, 1, 86400, &n)) {
			bad_value(p, key, value, "seconds, a whole number from 1 to 86400");
			break;
		}
		if (strcmp(key, "boot") == 0)
			p->m->boot_timeout_s = n;
		else if (strcmp(key, "migrate") == 0)
			p->m->migrate_timeout_s = n;
		else
			p->m->verify_timeout_s = n;
		break;
	case SEC_MIGRATION:
		if (!parse_number(value, 1, 1048576, &n))
			bad_value(p, key, value, "MiB/s, a whole number from 1 to 1048576");
		else
			p->m->max_bandwidth_mib = n;
		break;
	case SEC_ABI:
		if (strcmp(key, "baselines") == 0) {
			ml_autofree char *copy = xstrdup(p->file);
			char *slash = strrchr(copy, '/');
			if (slash)
				*slash = '\0';
			p->m->abi_baselines = value[0] == '/' || !slash ? xstrdup(value) : ml_path_join(copy, value);
		} else if (strcmp(key, "severity") == 0) {
			if (!is_one_of(value, "fail", "warn"))
				bad_value(p, key, value, "fail, warn");
			else
				p->m->abi_severity = strcmp(value, "fail") == 0 ? "fail" : "warn";
		} else if (!is_one_of(value, "true", "false")) {
			bad_value(p, key, value, "true, false");
		} else if (strcmp(key, "dump") == 0) {
			p->m->abi_dump = strcmp(value, "true") == 0;
		} else {
			p->m->abi_reboot = strcmp(value, "true") == 0;
		}
		break;
	default:
		break;
	}
	return p->error ? 0 : 1;
}

/* [pair NAME]: build names to indexes, once every build is known. */
static void resolve_pair(struct parser *p, size_t i)
{
	struct ml_matrix *m = p->m;
	struct ml_matrix_pair *pair = &m->pairs_list[i];
	struct pending_pair *pp = &p->pending[i];
	long src, dst;

	if (m->pairs != ML_PAIRS_LIST) {
		fail(p, pair->line, "[pair %s] needs pairs = list in [matrix] (pairs = all "
		     "tests every ordered pair)", pair->name);
		return;
	}
	src = ml_matrix_find_build(m, pp->src);
	dst = ml_matrix_find_build(m, pp->dst);
	if (src < 0 || dst < 0) {
		ml_autobuf struct ml_buf names = ML_BUF_INIT(0);
		for (size_t b = 0; b < m->n_builds; b++)
			ml_buf_printf(&names, "%s%s", b ? ", " : "", m->builds[b].name);
		fail(p, src < 0 ? pp->src_line : pp->dst_line,
		     "unknown build '%s' for %s in [pair %s] (builds: %s)",
		     src < 0 ? pp->src : pp->dst, src < 0 ? "src" : "dst", pair->name, names.data);
		return;
	}
	pair->src = (size_t)src;
	pair->dst = (size_t)dst;
	for (size_t j = 0; j < i; j++) {
		if (m->pairs_list[j].src == pair->src && m->pairs_list[j].dst == pair->dst) {
			fail(p, pair->line, "[pair %s] repeats [pair %s] (%s -> %s)", pair->name,
			     m->pairs_list[j].name, pp->src, pp->dst);
			return;
		}
	}
}

/* git:@REF names the matrix's checkout: MIGLAB_QEMU_GIT (a nightly job sets
 * it) or else [matrix] qemu-git. */
static void resolve_checkouts(struct parser *p)
{
	struct ml_matrix *m = p->m;
	const char *env = getenv("MIGLAB_QEMU_GIT");
	const char *dir = env && *env ? env : m->qemu_git;

	for (size_t i = 0; i < m->n_builds && !p->error; i++) {
		char *v = m->builds[i].provider;
		size_t skip = strncmp(v, "git:@", 5) == 0 ? 4 : strncmp(v, "source:@", 8) == 0 ? 7 : 0;
		if (!skip)
			continue;
		if (!dir) {
			fail(p, 0, "build %s is %s, but no QEMU checkout is named: set MIGLAB_QEMU_GIT="
			     "/path/to/qemu or [matrix] qemu-git", m->builds[i].name, v);
			return;
		}
		if (dir[0] != '/' || strchr(dir, '@')) {
			fail(p, 0, "MIGLAB_QEMU_GIT='%s' must be an absolute path without '@'", dir);
			return;
		}
		m->builds[i].provider = ml_strdup_printf("git:%s%s", dir, v + skip);
		free(v);
	}
}

/* Checks that need the whole file, in the order of the file where it has one. */
static void finish(struct parser *p)
{
	struct ml_matrix *m = p->m;

	end_section(p);
	if (p->error)
		return;
	resolve_checkouts(p);
	if (p->error)
		return;
	if (m->n_builds == 0) {
		fail(p, 0, "no [build NAME] section (a matrix needs at least one build)");
		return;
	}
	if (m->n_kernels == 0) {
		fail(p, 0, "no [kernel NAME] section (a matrix needs at least one guest kernel)");
		return;
	}
	if (m->n_families == 0) {
		fail(p, 0, "no [machines FAMILY] section (a matrix needs at least one machine "
		     "family: q35 or i440fx)");
		return;
	}
	for (size_t i = 0; i < m->n_pairs && !p->error; i++)
		resolve_pair(p, i);
	if (p->error)
		return;
	if (m->pairs == ML_PAIRS_LIST && m->n_pairs == 0)
		fail(p, p->pairs_line, "pairs = list but there is no [pair NAME] section");
	else if (m->pairs == ML_PAIRS_ALL && m->n_builds == 1 && !m->control)
		fail(p, p->control_line, "control = false with a single build leaves nothing to "
		     "test (add a build or set control = true)");
	else if (m->workload_mib > m->memory_mib / 2)
		fail(p, p->workload_line ? p->workload_line : p->memory_line,
		     "workload = %d MiB is more than half of memory = %d MiB in [guest]",
		     m->workload_mib, m->memory_mib);
}

static char *default_name(const char *file)
{
	const char *base = strrchr(file, '/');
	size_t n;

	base = base ? base + 1 : file;
	n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".ini") == 0)
		n -= 4;
	if (!valid_name(base, n))
		return xstrdup("matrix");
	return strndup(base, n);
}

int ml_matrix_parse(const char *text, size_t len, const char *file, struct ml_matrix *out)
{
	struct parser p = { .file = file, .text = text, .len = len, .m = out };
	int rc;

	memset(out, 0, sizeof(*out));
	out->path = xstrdup(file);
	out->accel = xstrdup("tcg");
	out->scenario = xstrdup("forward-back");
	out->confirm = 2; /* ML_CONFIRM_DEFAULT in lab/attempts.h */
	out->control = true;
	out->pairs = ML_PAIRS_ALL;
	out->memory_mib = 256;
	out->workload_mib = 64;
	out->kernel_boot = "auto";
	out->boot = "saved";
	out->boot_timeout_s = 60;
	out->migrate_timeout_s = 120;
	out->verify_timeout_s = 30;
	out->abi_dump = true;
	out->abi_reboot = true;
	out->abi_severity = "warn";

	rc = ini_parse_stream(reader, &p, handler, &p);
	if (!p.error && rc > 0)
		fail(&p, (unsigned)rc, "syntax error: expected [section], key = value, or a "
		     "comment starting with ; or #");
	else if (!p.error && rc < 0)
		fail(&p, 0, "cannot parse (libinih error %d)", rc);
	if (!p.error)
		finish(&p);
	for (size_t i = 0; i < out->n_pairs; i++) {
		free(p.pending[i].src);
		free(p.pending[i].dst);
	}
	free(p.pending);
	if (p.error) {
		ml_error("%s", p.error);
		free(p.error);
		ml_matrix_clear(out);
		return -1;
	}
	if (!out->name)
		out->name = default_name(file);
	return 0;
}

int ml_matrix_load(const char *path, struct ml_matrix *out)
{
	ml_autofree char *text = NULL;
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	if (ml_read_file(path, MATRIX_FILE_LIMIT, &text, &len) < 0)
		return ml_error_context("matrix file");
	return ml_matrix_parse(text, len, path, out);
}

void ml_matrix_clear(struct ml_matrix *m)
{
	for (size_t i = 0; i < m->n_builds; i++) {
		free(m->builds[i].name);
		free(m->builds[i].provider);
	}
	for (size_t i = 0; i < m->n_kernels; i++) {
		free(m->kernels[i].name);
		free(m->kernels[i].provider);
	}
	for (size_t i = 0; i < m->n_families; i++) {
		free(m->families[i].family);
		for (size_t j = 0; j < m->families[i].n_list; j++)
			free(m->families[i].list[j]);
		free(m->families[i].list);
	}
	for (size_t i = 0; i < m->n_pairs; i++)
		free(m->pairs_list[i].name);
	for (size_t i = 0; i < m->n_abi_overrides; i++) {
		free(m->abi_overrides[i].kind);
		free(m->abi_overrides[i].severity);
	}
	free(m->abi_overrides);
	free(m->abi_baselines);
	free(m->builds);
	free(m->kernels);
	free(m->families);
	free(m->pairs_list);
	free(m->path);
	free(m->name);
	free(m->description);
	free(m->accel);
	free(m->scenario);
	memset(m, 0, sizeof(*m));
}
