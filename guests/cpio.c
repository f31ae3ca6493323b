/* Deterministic newc cpio writer (see cpio.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cpio.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-common.h"

/* A file added by path is read up to this size. */
#define CPIO_FILE_LIMIT ((size_t)512 << 20)
#define CPIO_DEFAULT_LIMIT ((size_t)1 << 30)

struct entry {
	char *path;
	mode_t mode; /* full st_mode: type | permissions */
	char *data;  /* file data or symlink target (NULL for a file read from src) */
	size_t len;
	char *src;   /* file to read at write time */
	unsigned rmajor, rminor;
	bool implicit; /* a parent directory nobody added explicitly */
};

struct ml_cpio {
	struct entry *e;
	size_t n;
};

struct ml_cpio *ml_cpio_new(void)
{
	struct ml_cpio *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	return c;
}

void ml_cpio_free(struct ml_cpio *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].path);
		free(c->e[i].data);
		free(c->e[i].src);
	}
	free(c->e);
	free(c);
}

/* "/a//b/" -> "a/b"; NULL (error reported) for "", "..", "." components. */
static char *normalize_path(const char *path)
{
	struct ml_buf b = ML_BUF_INIT(4096);
	const char *p = path;

	while (*p) {
		size_t l;
		while (*p == '/')
			p++;
		if (!*p)
			break;
		l = strcspn(p, "/");
		if ((l == 1 && p[0] == '.') && b.len == 0 && p == path) {
			p += l; /* a leading "./" */
			continue;
		}
		if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.')) {
			ml_buf_free(&b);
			ml_error("cpio path '%s' has a '.' or '..' component", path);
			return NULL;
		}
		if (b.len && ml_buf_puts(&b, "/") < 0)
			goto fail;
		if (ml_buf_append(&b, p, l) < 0)
			goto fail;
		p += l;
	}
	if (!b.len) {
		ml_buf_free(&b);
		ml_error("empty cpio path '%s'", path);
		return NULL;
	}
	return ml_buf_steal(&b);
fail:
	ml_buf_free(&b);
	ml_error_context("cpio path '%.64s...'", path);
	return NULL;
}

static struct entry *find(struct ml_cpio *c, const char *path)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].path, path) == 0)
			return &c->e[i];
	return NULL;
}

static struct entry *append(struct ml_cpio *c, char *path, mode_t mode)
{
	struct entry *e;
	c->e = realloc(c->e, (c->n + 1) * sizeof(*c->e));
	if (!c->e)
		abort();
	e = &c->e[c->n++];
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->mode = mode;
	return e;
}

/* Add every missing parent directory of path. */
static int add_parents(struct ml_cpio *c, const char *path)
{
	ml_autofree char *copy = strdup(path);
	char *slash;

	if (!copy)
		abort();
	for (slash = strchr(copy, '/'); slash; slash = strchr(slash + 1, '/')) {
		struct entry *e;
		*slash = '\0';
		e = find(c, copy);
		if (!e) {
			char *dup = strdup(copy);
			if (!dup)
				abort();
			append(c, dup, S_IFDIR | 0755)->implicit = true;
		} else if (!S_ISDIR(e->mode)) {
			ml_error("cpio path '%s' needs '%s' to be a directory", path, copy);
			return -1;
		}
		*slash = '/';
	}
	return 0;
}

/* Normalise path, check it is new, add its parents and a new entry. */
static struct entry *add_entry(struct ml_cpio *c, const char *path, mode_t mode)
{
	char *norm = normalize_path(path);
	struct entry *e;

	if (!norm)
		return NULL;
	if ((mode & 07777) != (mode & ~(mode_t)S_IFMT)) {
		free(norm);
		ml_error("cpio entry '%s': invalid mode %o", path, (unsigned)mode);
		return NULL;
	}
	e = find(c, norm);
	if (e) {
		if (S_ISDIR(mode) && S_ISDIR(e->mode) && (e->implicit || e->mode == mode)) {
			e->mode = mode;
			e->implicit = false;
			free(norm);
			return e;
		}
		ml_error("cpio entry '%s' added twice", norm);
		free(norm);
		return NULL;
	}
	if (add_parents(c, norm) < 0) {
		free(norm);
		return NULL;
	}
	return append(c, norm, mode);
}

int ml_cpio_add_dir(struct ml_cpio *c, const char *path, mode_t mode)
{
	return add_entry(c, path, S_IFDIR | (mode & 07777)) ? 0 : -1;
}

int ml_cpio_add_data(struct ml_cpio *c, const char *path, mode_t mode, const void *data,
		     size_t len)
{
	struct entry *e = add_entry(c, path, S_IFREG | (mode & 07777));
	if (!e)
		return -1;
	e->data = malloc(len ? len : 1);
	if (!e->data)
		abort();
	if (len)
		memcpy(e->data, data, len);
	e->len = len;
	return 0;
}

int ml_cpio_add_file(struct ml_cpio *c, const char *path, mode_t mode, const char *src_path)
{
	struct entry *e = add_entry(c, path, S_IFREG | (mode & 07777));
	if (!e)
		return -1;
	if (!(e->src = strdup(src_path)))
		abort();
	return 0;
}

int ml_cpio_add_symlink(struct ml_cpio *c, const char *path, const char *target)
{
	struct entry *e;
	if (!*target) {
		ml_error("cpio symlink '%s' has an empty target", path);
		return -1;
	}
	e = add_entry(c, path, S_IFLNK | 0777);
	if (!e)
		return -1;
	if (!(e->data = strdup(target)))
		abort();
	e->len = strlen(target);
	return 0;
}

int ml_cpio_add_chardev(struct ml_cpio *c, const char *path, mode_t mode, unsigned major,
			unsigned minor)
{
	struct entry *e = add_entry(c, path, S_IFCHR | (mode & 07777));
	if (!e)
		return -1;
	e->rmajor = major;
	e->rminor = minor;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static int pad4(struct ml_buf *out)
{
	static const char zeros[4];
	size_t pad = (4 - (out->len & 3)) & 3;
	return pad ? ml_buf_append(out, zeros, pad) : 0;
}

static int write_header(struct ml_buf *out, unsigned long ino, unsigned long mode,
			unsigned long nlink, unsigned long size, unsigned long rmajor,
			unsigned long rminor, const char *name)
{
	size_t namesize = strlen(name) + 1;

	if (size > 0xffffffffUL) {
		ml_error("cpio entry '%s' is larger than 4 GiB", name);
		return -1;
	}
	/* magic ino mode uid gid nlink mtime filesize devmajor devminor
	 * rdevmajor rdevminor namesize check */
	if (ml_buf_printf(out, "070701%08lX%08lX%08lX%08lX%08lX%08lX%08lX%08lX%08lX%08lX%08lX"
			       "%08lX%08lX",
			  ino, mode, 0UL, 0UL, nlink, 0UL, size, 0UL, 0UL, rmajor, rminor,
			  (unsigned long)namesize, 0UL) < 0 ||
	    ml_buf_append(out, name, namesize) < 0 || pad4(out) < 0)
		return -1;
	return 0;
}

int ml_cpio_write_buf(struct ml_cpio *c, struct ml_buf *out)
{
	size_t start = out->len;

	if (start & 3) {
		ml_error("a cpio archive must start at a multiple of 4 bytes");
		return -1;
	}
	qsort(c->e, c->n, sizeof(*c->e), cmp_entry);
	for (size_t i = 0; i < c->n; i++) {
		struct entry *e = &c->e[i];
		ml_autofree char *filedata = NULL;
		const char *data = e->data;
		size_t len = e->len;

		if (e->src) {
			if (ml_read_file(e->src, CPIO_FILE_LIMIT, &filedata, &len) < 0)
				return ml_error_context("adding %s to a cpio archive", e->path);
			data = filedata;
		}
		if (write_header(out, (unsigned long)(i + 1), (unsigned long)e->mode,
				 S_ISDIR(e->mode) ? 2 : 1, S_ISDIR(e->mode) || S_ISCHR(e->mode) ? 0 : len,
				 e->rmajor, e->rminor, e->path) < 0)
			return ml_error_context("writing a cpio archive");
		if (!S_ISDIR(e->mode) && !S_ISCHR(e->mode) && len &&
		    (ml_buf_append(out, data, len) < 0 || pad4(out) < 0))
			return ml_error_context("writing a cpio archive");
	}
	if (write_header(out, 0, 0, 1, 0, 0, 0, "TRAILER!!!") < 0)
		return ml_error_context("writing a cpio archive");
	return 0;
}

int ml_cpio_write_file(struct ml_cpio *c, const char *path)
{
	struct ml_buf out = ML_BUF_INIT(CPIO_DEFAULT_LIMIT);
	int ret;

	if (ml_cpio_write_buf(c, &out) < 0) {
		ml_buf_free(&out);
		return ml_error_context("building %s", path);
	}
	ret = ml_write_atomic(path, out.data ? out.data : "", out.len, 0644);
	ml_buf_free(&out);
	return ret;
}
