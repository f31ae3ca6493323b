/* File-system helpers (see ml-fs.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-common.h"

int ml_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		ml_error("bad directory path '%s'", path);
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
			ml_error_errno(errno, "cannot create directory %s", tmp);
			return -1;
		}
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
		ml_error_errno(errno, "cannot create directory %s", tmp);
		return -1;
	}
	if (!ml_is_dir(tmp)) {
		ml_error("%s exists and is not a directory", tmp);
		return -1;
	}
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	if (!slash) {
		snprintf(dir, sizeof(dir), ".");
	} else {
		size_t n = (size_t)(slash - path);
		if (n == 0)
			n = 1;
		if (n >= sizeof(dir))
			return;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int ml_atomic_open(struct ml_atomic_file *f, const char *path, mode_t mode)
{
	size_t n = strlen(path);

	f->fd = -1;
	f->path = NULL;
	f->tmp = NULL;
	if (n == 0 || n + sizeof(".tmp.XXXXXX") > PATH_MAX) {
		ml_error("bad path for a file: '%s'", path);
		return -1;
	}
	f->path = strdup(path);
	f->tmp = ml_strdup_printf("%s.tmp.XXXXXX", path);
	if (!f->path)
		abort();
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		ml_error_errno(errno, "cannot create a temporary file for %s", path);
		ml_atomic_abort(f);
		return -1;
	}
	if (fchmod(f->fd, mode) < 0) {
		ml_error_errno(errno, "cannot set the mode of the temporary file for %s", path);
		ml_atomic_abort(f);
		return -1;
	}
	return 0;
}

int ml_atomic_write(struct ml_atomic_file *f, const void *data, size_t len)
{
	if (write_all(f->fd, data, len) < 0) {
		ml_error_errno(errno, "cannot write %s", f->path);
		return -1;
	}
	return 0;
}

/* rename that fails with EEXIST rather than replace; link + unlink where
 * the file system lacks RENAME_NOREPLACE (NFS, older kernels). */
static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) < 0)
		return -1;
	unlink(from);
	return 0;
}

static int atomic_commit(struct ml_atomic_file *f, bool replace)
{
	int fd = f->fd;

	f->fd = -1;
	if (fsync(fd) < 0) {
		ml_error_errno(errno, "cannot write %s", f->path);
		close(fd);
		ml_atomic_abort(f);
		return -1;
	}
	/* Delayed allocation can report ENOSPC only at close on some file systems. */
	if (close(fd) < 0) {
		ml_error_errno(errno, "cannot write %s", f->path);
		ml_atomic_abort(f);
		return -1;
	}
	if (replace ? rename(f->tmp, f->path) < 0 : rename_noreplace(f->tmp, f->path) < 0) {
		ml_error_errno(errno, "cannot move the new %s into place", f->path);
		ml_atomic_abort(f);
		return -1;
	}
	fsync_parent(f->path);
	free(f->tmp);
	f->tmp = NULL;
	free(f->path);
	f->path = NULL;
	return 0;
}

int ml_atomic_commit(struct ml_atomic_file *f)
{
	return atomic_commit(f, true);
}

void ml_atomic_abort(struct ml_atomic_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp && f->path)
		unlink(f->tmp);
	free(f->tmp);
	f->tmp = NULL;
	free(f->path);
	f->path = NULL;
}

int ml_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	struct ml_atomic_file f;

	if (ml_atomic_open(&f, path, mode) < 0)
		return -1;
	if (ml_atomic_write(&f, data, len) < 0) {
		ml_atomic_abort(&f);
		return -1;
	}
	return ml_atomic_commit(&f);
}

int ml_read_file(const char *path, size_t limit, char **out, size_t *len_out)
{
	ml_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *data = NULL;
	size_t len = 0, cap = 0;

	if (fd < 0) {
		ml_error_errno(errno, "cannot open %s", path);
		return -1;
	}
	for (;;) {
		ssize_t n;
		if (cap - len < 4096) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *p;
			if (ncap > limit + 4096)
				ncap = limit + 4096;
			if (ncap <= cap) {
				free(data);
				ml_error("%s is larger than the limit of %zu bytes", path, limit);
				return -1;
			}
			p = realloc(data, ncap);
			if (!p) {
				free(data);
				ml_error_errno(ENOMEM, "reading %s", path);
				return -1;
			}
			data = p;
			cap = ncap;
		}
		n = read(fd, data + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ml_error_errno(errno, "cannot read %s", path);
			free(data);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > limit) {
			free(data);
			ml_error("%s is larger than the limit of %zu bytes", path, limit);
			return -1;
		}
	}
	if (!data && !(data = calloc(1, 1))) {
		ml_error_errno(ENOMEM, "reading %s", path);
		return -1;
	}
	data[len] = '\0';
	*out = data;
	if (len_out)
		*len_out = len;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int ml_rm_rf(const char *path)
{
	if (!path || !*path || strcmp(path, "/") == 0) {
		ml_error("refusing to remove '%s'", path ? path : "(null)");
		return -1;
	}
	if (!ml_path_exists(path))
		return 0;
	if (nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0) {
		ml_error_errno(errno, "cannot remove %s", path);
		return -1;
	}
	return 0;
}

bool ml_path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

bool ml_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void ml_sha256_text(const char *text, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int ml_sha256_file(const char *path, char out[65])
{
	ml_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char chunk[65536];
	EVP_MD_CTX *ctx;
	int ret = -1;

	if (fd < 0) {
		ml_error_errno(errno, "cannot open %s", path);
		return -1;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		ml_error("cannot start sha256");
		goto cleanup;
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ml_error_errno(errno, "cannot read %s", path);
			goto cleanup;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, chunk, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
	ret = 0;
cleanup:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Copy the open file in to dst (permission bits of in, never set-id: a copy
 * made as root of another user's file must not become a set-uid root
 * program), reading to its end, through a temporary file beside dst renamed
 * into place when whole: replacing dst, or (exclusive) failing if it exists. */
static int copy_fd(int in, const struct stat *st, const char *src, const char *dst, bool exclusive)
{
	struct ml_atomic_file f;
	char chunk[65536];

	if (exclusive && ml_path_exists(dst)) {
		ml_error_errno(EEXIST, "cannot create %s", dst);
		return -1;
	}
	if (ml_atomic_open(&f, dst, st->st_mode & 0777) < 0)
		return -1;
	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ml_error_errno(errno, "cannot read %s", src);
			ml_atomic_abort(&f);
			return -1;
		}
		if (n == 0)
			break;
		if (ml_atomic_write(&f, chunk, (size_t)n) < 0) {
			ml_atomic_abort(&f);
			return -1;
		}
	}
	return atomic_commit(&f, !exclusive);
}

int ml_copy_file(const char *src, const char *dst)
{
	ml_autoclose int in = open(src, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (in < 0 || fstat(in, &st) < 0) {
		ml_error_errno(errno, "cannot open %s", src);
		return -1;
	}
	return copy_fd(in, &st, src, dst, false);
}

/* Open name in dirfd as a regular file, not following a symlink and not
 * blocking on a FIFO; -1 with errno (ELOOP, EINVAL for not regular). */
static int open_regular_at(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int e = EINVAL;

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0)
		e = errno;
	else if (S_ISREG(st->st_mode)) {
		/* Back to blocking reads (a regular file never blocks anyway). */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		return fd;
	}
	close(fd);
	errno = e;
	return -1;
}

int ml_copy_regular_file(const char *src, const char *dst)
{
	struct stat st;
	ml_autoclose int in = open_regular_at(AT_FDCWD, src, &st);

	if (in < 0) {
		ml_error_errno(errno, "cannot open %s as a regular file (a symlink is refused)", src);
		return -1;
	}
	return copy_fd(in, &st, src, dst, true);
}

#define COPY_TREE_MAX_DEPTH 16

static int copy_tree_fd(int sfd, const char *src, const char *dst, int depth)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int dup_fd, rc = 0;

	if (depth > COPY_TREE_MAX_DEPTH) {
		ml_error("%s: directories nested deeper than %d", src, COPY_TREE_MAX_DEPTH);
		return -1;
	}
	if (fstat(sfd, &st) < 0 || mkdir(dst, (st.st_mode & 0777) | 0700) < 0) {
		ml_error_errno(errno, "cannot create directory %s", dst);
		return -1;
	}
	if ((dup_fd = fcntl(sfd, F_DUPFD_CLOEXEC, 0)) < 0 || !(d = fdopendir(dup_fd))) {
		ml_error_errno(errno, "cannot read %s", src);
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	while (rc == 0 && (e = readdir(d))) {
		ml_autofree char *from = NULL;
		ml_autofree char *to = NULL;
		struct stat est;
		int fd;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		from = ml_path_join(src, e->d_name);
		to = ml_path_join(dst, e->d_name);
		if (fstatat(sfd, e->d_name, &est, AT_SYMLINK_NOFOLLOW) < 0) {
			ml_error_errno(errno, "cannot stat %s", from);
			rc = -1;
		} else if (S_ISDIR(est.st_mode)) {
			fd = openat(sfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				ml_error_errno(errno, "cannot open %s", from);
				rc = -1;
			} else {
				rc = copy_tree_fd(fd, from, to, depth + 1);
				close(fd);
			}
		} else if (S_ISREG(est.st_mode)) {
			fd = open_regular_at(sfd, e->d_name, &est);
			if (fd < 0) {
				ml_error_errno(errno, "cannot open %s as a regular file", from);
				rc = -1;
			} else {
				rc = copy_fd(fd, &est, from, to, true);
				close(fd);
			}
		} else {
			fprintf(stderr, "miglab: warning: not copying %s: not a regular file or directory\n",
				from);
		}
	}
	closedir(d);
	return rc;
}

int ml_copy_tree(const char *src, const char *dst)
{
	ml_autoclose int fd = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		ml_error_errno(errno, "cannot open directory %s (a symlink is refused)", src);
		return -1;
	}
	return copy_tree_fd(fd, src, dst, 0);
}

char *ml_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		abort();
	memcpy(p, a, la);
	if (la && a[la - 1] != '/')
		p[la++] = '/';
	while (*b == '/')
		b++, lb--;
	memcpy(p + la, b, lb + 1);
	return p;
}

static _Thread_local unsigned long long du_total;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	du_total += (unsigned long long)st->st_blocks * 512ULL;
	return 0;
}

int ml_du(const char *path, unsigned long long *bytes)
{
	du_total = 0;
	if (nftw(path, du_one, 64, FTW_PHYS) < 0) {
		ml_error_errno(errno, "cannot measure %s", path);
		return -1;
	}
	*bytes = du_total;
	return 0;
}
