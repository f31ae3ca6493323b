/* File-system helpers (see ml-fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

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

int ml_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		ml_error("path too long: %s", path);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ml_error_errno(errno, "cannot create temporary file for %s", path);
		return -1;
	}
	if (write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		ml_error_errno(errno, "cannot write %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		ml_error_errno(errno, "cannot write %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		ml_error_errno(errno, "cannot rename %s to %s", tmp, path);
		unlink(tmp);
		return -1;
	}
	fsync_parent(path);
	return 0;
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

int ml_copy_file(const char *src, const char *dst)
{
	ml_autoclose int in = open(src, O_RDONLY | O_CLOEXEC);
	ml_autoclose int out = -1;
	char chunk[65536];
	struct stat st;

	if (in < 0 || fstat(in, &st) < 0) {
		ml_error_errno(errno, "cannot open %s", src);
		return -1;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
	if (out < 0) {
		ml_error_errno(errno, "cannot create %s", dst);
		return -1;
	}
	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ml_error_errno(errno, "cannot read %s", src);
			return -1;
		}
		if (n == 0)
			break;
		if (write_all(out, chunk, (size_t)n) < 0) {
			ml_error_errno(errno, "cannot write %s", dst);
			return -1;
		}
	}
	return 0;
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
