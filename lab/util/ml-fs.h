/* File-system helpers: directories, atomic writes (temp + fsync + rename, so a
 * reader sees either the old file or the whole new one), capped reads. */
#ifndef ML_FS_H
#define ML_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int ml_mkdir_p(const char *path, mode_t mode);
/* Write len bytes to path atomically, creating or replacing it. */
int ml_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* A file written piece by piece that appears under its name only when whole:
 * the data goes to "<path>.tmp.XXXXXX" in the same directory, and commit
 * fsyncs it and renames it over path. Whatever fails (a full disk, a crash
 * before the commit), path is never a half-written file; on any error
 * reported here the temporary file is removed too (a crash can leave one,
 * its name says what it is). Errors name path, not the temporary name. */
struct ml_atomic_file {
	int fd;    /* write here (or with ml_atomic_write); -1 when closed */
	char *path;
	char *tmp;
};
/* Create the temporary file with mode; f is then owned until commit or abort. */
int ml_atomic_open(struct ml_atomic_file *f, const char *path, mode_t mode);
/* Append len bytes; the error names the final path. The file stays open:
 * the caller still commits or aborts. */
int ml_atomic_write(struct ml_atomic_file *f, const void *data, size_t len);
/* fsync, close and rename into place (replacing path), then fsync the
 * directory. On failure the temporary file is removed. f is closed either way. */
int ml_atomic_commit(struct ml_atomic_file *f);
/* Close and remove the temporary file (nothing at path changes). */
void ml_atomic_abort(struct ml_atomic_file *f);
/* Read a whole file of at most limit bytes into a NUL-terminated string. */
int ml_read_file(const char *path, size_t limit, char **out, size_t *len_out);
/* Remove a tree (does not cross mount points; refuses "/" and ""). */
int ml_rm_rf(const char *path);
bool ml_path_exists(const char *path);
bool ml_is_dir(const char *path);
/* Lower-case hex sha256 of a file into out[65]. */
int ml_sha256_file(const char *path, char out[65]);
/* Lower-case hex sha256 of a NUL-terminated text into out[65]. */
void ml_sha256_text(const char *text, char out[65]);
/* Copy a regular file (content and mode), following symlinks; dst appears
 * whole or not at all (ml_atomic_file). */
int ml_copy_file(const char *src, const char *dst);
/* Copy a regular file to a new dst (content and mode), atomically; a
 * symlink, FIFO or other non-regular src, or an existing dst, is an error. */
int ml_copy_regular_file(const char *src, const char *dst);
/* Copy a directory tree to a new directory dst: directories and regular
 * files only. No symlink is followed or copied (one is skipped with a
 * warning on stderr, like FIFOs and devices); an existing dst is an error.
 * For trees another user may have written into (a run's cells). */
int ml_copy_tree(const char *src, const char *dst);
/* Join two path parts into a new string ("a" + "b" -> "a/b"). */
char *ml_path_join(const char *a, const char *b);
/* Bytes used by a tree, following no links. */
int ml_du(const char *path, unsigned long long *bytes);

#endif
