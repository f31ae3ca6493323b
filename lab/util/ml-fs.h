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
/* Read a whole file of at most limit bytes into a NUL-terminated string. */
int ml_read_file(const char *path, size_t limit, char **out, size_t *len_out);
/* Remove a tree (does not cross mount points; refuses "/" and ""). */
int ml_rm_rf(const char *path);
bool ml_path_exists(const char *path);
bool ml_is_dir(const char *path);
/* Lower-case hex sha256 of a file into out[65]. */
int ml_sha256_file(const char *path, char out[65]);
/* Copy a regular file (content and mode), following symlinks. */
int ml_copy_file(const char *src, const char *dst);
/* Copy a regular file to a new dst (content and mode); a symlink, FIFO or
 * other non-regular src, or an existing dst, is an error. */
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
