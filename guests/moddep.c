/* Kernel module dependency resolution without depmod (see moddep.h). */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "decompress.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "moddep.h"
#include "ml-common.h"

/* A compressed module file is read into memory up to this size. */
#define MODULE_FILE_LIMIT ((size_t)64 << 20)
/* modules.builtin is a few kilobytes. */
#define BUILTIN_LIMIT ((size_t)4 << 20)

static const char *const module_suffixes[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };

/* Length of name without a module suffix, or 0 if it has none. */
static size_t module_stem_len(const char *name)
{
	size_t l = strlen(name);
	for (size_t i = 0; i < ML_ARRAY_SIZE(module_suffixes); i++) {
		size_t sl = strlen(module_suffixes[i]);
		if (l > sl && strcmp(name + l - sl, module_suffixes[i]) == 0)
			return l - sl;
	}
	return 0;
}

char *ml_moddep_normalize(const char *name_or_path)
{
	const char *base = strrchr(name_or_path, '/');
	size_t stem;
	char *n;

	base = base ? base + 1 : name_or_path;
	stem = module_stem_len(base);
	n = strndup(base, stem ? stem : strlen(base));
	if (!n)
		abort();
	for (char *p = n; *p; p++)
		if (*p == '-')
			*p = '_';
	return n;
}

void ml_modindex_add(struct ml_modindex *idx, const char *name, const char *path)
{
	ml_autofree char *norm = ml_moddep_normalize(name);
	struct ml_modindex_entry *e;

	if (ml_modindex_find(idx, norm))
		return;
	idx->mods = realloc(idx->mods, (idx->n_mods + 1) * sizeof(*idx->mods));
	if (!idx->mods)
		abort();
	e = &idx->mods[idx->n_mods++];
	e->name = ml_steal_pointer(&norm);
	e->path = strdup(path);
	if (!e->path)
		abort();
}

void ml_modindex_add_builtin(struct ml_modindex *idx, const char *name)
{
	char *norm = ml_moddep_normalize(name);
	if (ml_modindex_is_builtin(idx, norm)) {
		free(norm);
		return;
	}
	idx->builtin = realloc(idx->builtin, (idx->n_builtin + 1) * sizeof(*idx->builtin));
	if (!idx->builtin)
		abort();
	idx->builtin[idx->n_builtin++] = norm;
}

const struct ml_modindex_entry *ml_modindex_find(const struct ml_modindex *idx,
						 const char *name)
{
	for (size_t i = 0; i < idx->n_mods; i++)
		if (strcmp(idx->mods[i].name, name) == 0)
			return &idx->mods[i];
	return NULL;
}

bool ml_modindex_is_builtin(const struct ml_modindex *idx, const char *name)
{
	for (size_t i = 0; i < idx->n_builtin; i++)
		if (strcmp(idx->builtin[i], name) == 0)
			return true;
	return false;
}

void ml_modindex_clear(struct ml_modindex *idx)
{
	for (size_t i = 0; i < idx->n_mods; i++) {
		free(idx->mods[i].name);
		free(idx->mods[i].path);
	}
	free(idx->mods);
	for (size_t i = 0; i < idx->n_builtin; i++)
		free(idx->builtin[i]);
	free(idx->builtin);
	memset(idx, 0, sizeof(*idx));
}

/* ---- graph ---- */

enum visit_state { UNVISITED = 0, VISITING, DONE };

struct resolver {
	const struct ml_modindex *idx;
	ml_moddep_deps_fn deps;
	void *opaque;
	enum visit_state *state; /* per idx->mods entry */
	const char **stack;      /* names on the current DFS path */
	size_t depth;
	struct ml_moddep_result *res;
};

static void note_builtin(struct ml_moddep_result *res, const char *name)
{
	for (size_t i = 0; i < res->n_builtin; i++)
		if (strcmp(res->builtin[i], name) == 0)
			return;
	res->builtin = realloc(res->builtin, (res->n_builtin + 1) * sizeof(*res->builtin));
	if (!res->builtin || !(res->builtin[res->n_builtin] = strdup(name)))
		abort();
	res->n_builtin++;
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int visit(struct resolver *r, const char *name, const char *needed_by)
{
	const struct ml_modindex_entry *m;
	size_t i;
	char **deps = NULL;
	size_t n_deps = 0;
	int ret = -1;

	if (ml_modindex_is_builtin(r->idx, name)) {
		note_builtin(r->res, name);
		return 0;
	}
	m = ml_modindex_find(r->idx, name);
	if (!m) {
		if (needed_by)
			ml_error("module '%s' (needed by '%s') is neither a module file of this "
				 "kernel nor built into it",
				 name, needed_by);
		else
			ml_error("module '%s' (requested) is neither a module file of this kernel "
				 "nor built into it",
				 name);
		return -1;
	}
	i = (size_t)(m - r->idx->mods);
	if (r->state[i] == DONE)
		return 0;
	if (r->state[i] == VISITING) {
		struct ml_buf chain = ML_BUF_INIT(0);
		size_t from = 0;
		while (from < r->depth && strcmp(r->stack[from], name) != 0)
			from++;
		for (size_t k = from; k < r->depth; k++)
			ml_buf_printf(&chain, "%s -> ", r->stack[k]);
		ml_buf_puts(&chain, name);
		ml_error("module dependency cycle: %s", chain.data);
		ml_buf_free(&chain);
		return -1;
	}
	r->state[i] = VISITING;
	r->stack[r->depth++] = m->name;

	if (r->deps(r->opaque, m, &deps, &n_deps) < 0) {
		ml_error_context("reading the dependencies of module '%s'", name);
		goto out;
	}
	for (size_t k = 0; k < n_deps; k++) {
		ml_autofree char *dep = ml_moddep_normalize(deps[k]);
		if (!*dep)
			continue;
		if (visit(r, dep, m->name) < 0)
			goto out;
	}
	r->res->order = realloc(r->res->order, (r->res->n_order + 1) * sizeof(*r->res->order));
	if (!r->res->order)
		abort();
	r->res->order[r->res->n_order].name = strdup(m->name);
	r->res->order[r->res->n_order].path = strdup(m->path);
	r->res->n_order++;
	r->state[i] = DONE;
	ret = 0;
out:
	r->depth--;
	free_strv(deps, n_deps);
	return ret;
}

int ml_moddep_resolve(const struct ml_modindex *idx, const char *const *requested,
		      size_t n_requested, ml_moddep_deps_fn deps, void *opaque,
		      struct ml_moddep_result *res)
{
	struct resolver r = { .idx = idx, .deps = deps, .opaque = opaque, .res = res };
	int ret = 0;

	memset(res, 0, sizeof(*res));
	r.state = calloc(idx->n_mods + 1, sizeof(*r.state));
	r.stack = calloc(idx->n_mods + 1, sizeof(*r.stack));
	if (!r.state || !r.stack)
		abort();
	for (size_t i = 0; i < n_requested && ret == 0; i++) {
		ml_autofree char *name = ml_moddep_normalize(requested[i]);
		ret = visit(&r, name, NULL);
	}
	free(r.state);
	free(r.stack);
	if (ret < 0)
		ml_moddep_result_clear(res);
	return ret;
}

void ml_moddep_result_clear(struct ml_moddep_result *res)
{
	for (size_t i = 0; i < res->n_order; i++) {
		free(res->order[i].name);
		free(res->order[i].path);
	}
	free(res->order);
	free_strv(res->builtin, res->n_builtin);
	memset(res, 0, sizeof(*res));
}

/* ---- files ---- */

int ml_moddep_find_moddir(const char *root, const char *release, char **moddir)
{
	static const char *const bases[] = { "usr/lib/modules", "lib/modules" };

	for (size_t i = 0; i < ML_ARRAY_SIZE(bases); i++) {
		ml_autofree char *base = ml_path_join(root, bases[i]);
		char *dir = ml_path_join(base, release);
		if (ml_is_dir(dir)) {
			*moddir = dir;
			return 0;
		}
		free(dir);
	}
	ml_error("no modules directory for kernel %s under %s (looked in usr/lib/modules and "
		 "lib/modules)",
		 release, root);
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect paths (relative to base) of module files under base/rel. */
static int collect_modules(const char *base, const char *rel, char ***paths, size_t *n,
			   int depth)
{
	ml_autofree char *dir = ml_path_join(base, rel);
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (depth > 32) {
		ml_error("%s is nested too deeply", dir);
		return -1;
	}
	d = opendir(dir);
	if (!d) {
		ml_error_errno(errno, "cannot open %s", dir);
		return -1;
	}
	while (ret == 0 && (e = readdir(d))) {
		ml_autofree char *sub = NULL;
		ml_autofree char *full = NULL;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		sub = ml_path_join(rel, e->d_name);
		full = ml_path_join(base, sub);
		if (lstat(full, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			ret = collect_modules(base, sub, paths, n, depth + 1);
		} else if (S_ISREG(st.st_mode) && module_stem_len(e->d_name)) {
			*paths = realloc(*paths, (*n + 1) * sizeof(**paths));
			if (!*paths)
				abort();
			(*paths)[(*n)++] = ml_steal_pointer(&sub);
		}
	}
	closedir(d);
	return ret;
}

int ml_modindex_scan(struct ml_modindex *idx, const char *moddir)
{
	ml_autofree char *kdir = ml_path_join(moddir, "kernel");
	ml_autofree char *builtin_path = ml_path_join(moddir, "modules.builtin");
	ml_autofree char *builtin = NULL;
	char **paths = NULL;
	size_t n = 0;

	if (!ml_is_dir(kdir)) {
		ml_error("%s has no kernel/ directory of modules", moddir);
		return -1;
	}
	if (collect_modules(moddir, "kernel", &paths, &n, 0) < 0) {
		free_strv(paths, n);
		return -1;
	}
	/* readdir order is arbitrary: sort so that a duplicate name always
	 * resolves to the same file */
	qsort(paths, n, sizeof(*paths), cmp_str);
	for (size_t i = 0; i < n; i++)
		ml_modindex_add(idx, paths[i], paths[i]);
	free_strv(paths, n);

	if (ml_path_exists(builtin_path)) {
		char *save = NULL;
		if (ml_read_file(builtin_path, BUILTIN_LIMIT, &builtin, NULL) < 0)
			return -1;
		for (char *line = strtok_r(builtin, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (*line)
				ml_modindex_add_builtin(idx, line);
	}
	return 0;
}

int ml_module_read(const char *path, size_t limit, unsigned char **data, size_t *len)
{
	static const unsigned char xz_magic[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
	static const unsigned char zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const unsigned char gz_magic[] = { 0x1f, 0x8b };
	ml_autofree char *raw = NULL;
	struct ml_buf out = ML_BUF_INIT(limit + 65536);
	const unsigned char *u;
	size_t raw_len = 0;
	int r;

	if (ml_read_file(path, MODULE_FILE_LIMIT, &raw, &raw_len) < 0)
		return -1;
	u = (const unsigned char *)raw;
	if (raw_len >= 4 && memcmp(u, ELFMAG, SELFMAG) == 0) {
		if (raw_len > limit) {
			ml_error("%s is larger than %zu bytes", path, limit);
			return -1;
		}
		*data = (unsigned char *)ml_steal_pointer(&raw);
		*len = raw_len;
		return 0;
	}
	if (raw_len >= sizeof(xz_magic) && memcmp(u, xz_magic, sizeof(xz_magic)) == 0)
		r = ml_decompress_xz(u, raw_len, limit, path, &out);
	else if (raw_len >= sizeof(zstd_magic) && memcmp(u, zstd_magic, sizeof(zstd_magic)) == 0)
		r = ml_decompress_zstd(u, raw_len, limit, path, &out);
	else if (raw_len >= sizeof(gz_magic) && memcmp(u, gz_magic, sizeof(gz_magic)) == 0) {
		ml_error("%s is gzip-compressed: miglab reads plain, xz and zstd modules only",
			 path);
		r = -1;
	} else {
		ml_error("%s is neither an ELF module nor xz- or zstd-compressed", path);
		r = -1;
	}
	if (r < 0) {
		ml_buf_free(&out);
		return -1;
	}
	if (out.len < 4 || memcmp(out.data, ELFMAG, SELFMAG) != 0) {
		ml_buf_free(&out);
		ml_error("%s does not decompress to an ELF file", path);
		return -1;
	}
	*len = out.len;
	*data = (unsigned char *)ml_buf_steal(&out);
	return 0;
}

/* Find the .modinfo section of a 64-bit little-endian ELF image; all offsets
 * are checked against len (the image is untrusted). */
static int find_modinfo(const unsigned char *elf, size_t len, const char *what,
			const char **sec, size_t *sec_len)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strsh;

	if (len < sizeof(eh) || memcmp(elf, ELFMAG, SELFMAG) != 0) {
		ml_error("%s is not an ELF file", what);
		return -1;
	}
	memcpy(&eh, elf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
		ml_error("%s is not a 64-bit little-endian ELF file", what);
		return -1;
	}
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    eh.e_shoff > len || (len - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum ||
	    eh.e_shstrndx >= eh.e_shnum) {
		ml_error("%s has a malformed ELF section table", what);
		return -1;
	}
	memcpy(&strsh, elf + eh.e_shoff + (size_t)eh.e_shstrndx * sizeof(Elf64_Shdr),
	       sizeof(strsh));
	if (strsh.sh_offset > len || strsh.sh_size > len - strsh.sh_offset) {
		ml_error("%s has a malformed section name table", what);
		return -1;
	}
	for (size_t i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		const char *names = (const char *)elf + strsh.sh_offset;
		memcpy(&sh, elf + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof(sh));
		if (sh.sh_name >= strsh.sh_size ||
		    strnlen(names + sh.sh_name, strsh.sh_size - sh.sh_name) ==
			    strsh.sh_size - sh.sh_name)
			continue;
		if (strcmp(names + sh.sh_name, ".modinfo") != 0)
			continue;
		if (sh.sh_type == SHT_NOBITS || sh.sh_offset > len ||
		    sh.sh_size > len - sh.sh_offset) {
			ml_error("%s has a malformed .modinfo section", what);
			return -1;
		}
		*sec = (const char *)elf + sh.sh_offset;
		*sec_len = sh.sh_size;
		return 0;
	}
	ml_error("%s is not a kernel module (it has no .modinfo section)", what);
	return -1;
}

int ml_modinfo_depends(const unsigned char *elf, size_t len, const char *what, char ***deps,
		       size_t *n_deps)
{
	const char *sec;
	size_t sec_len, off = 0;
	char **v = NULL;
	size_t n = 0;

	if (find_modinfo(elf, len, what, &sec, &sec_len) < 0)
		return -1;
	while (off < sec_len) {
		const char *s = sec + off;
		size_t l = strnlen(s, sec_len - off);
		if (l > 8 && strncmp(s, "depends=", 8) == 0) {
			const char *p = s + 8, *end = s + l;
			while (p < end) {
				const char *comma = memchr(p, ',', (size_t)(end - p));
				const char *stop = comma ? comma : end;
				if (stop > p) {
					ml_autofree char *raw = strndup(p, (size_t)(stop - p));
					v = realloc(v, (n + 2) * sizeof(*v));
					if (!v || !raw)
						abort();
					v[n++] = ml_moddep_normalize(raw);
					v[n] = NULL;
				}
				p = stop + 1;
			}
		}
		off += l + 1;
	}
	if (!v && !(v = calloc(1, sizeof(*v))))
		abort();
	*deps = v;
	*n_deps = n;
	return 0;
}

int ml_moddep_deps_from_files(void *opaque, const struct ml_modindex_entry *m, char ***deps,
			      size_t *n_deps)
{
	const char *moddir = opaque;
	ml_autofree char *path = ml_path_join(moddir, m->path);
	ml_autofree unsigned char *elf = NULL;
	size_t len = 0;

	if (ml_module_read(path, (size_t)256 << 20, &elf, &len) < 0)
		return -1;
	return ml_modinfo_depends(elf, len, path, deps, n_deps);
}
