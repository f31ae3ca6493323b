/* A deterministic "newc" cpio writer for initramfs images: the same entries
 * give the same bytes whatever order they were added in.
 *
 * Invariants of the output: entries sorted by path (bytewise), so a directory
 * comes before its contents; every missing parent directory is added (0755);
 * mtime 0, uid/gid 0, inode numbers 1, 2, ... in output order, nlink 2 for
 * directories and 1 otherwise; ends with TRAILER!!!. Uncompressed. */
#ifndef ML_CPIO_H
#define ML_CPIO_H

#include <stddef.h>
#include <sys/types.h>

#include "ml-buf.h"

struct ml_cpio;

struct ml_cpio *ml_cpio_new(void);
void ml_cpio_free(struct ml_cpio *c);

/* Paths are relative to the archive root; a leading "/" or "./" is dropped.
 * "..", empty components and a second entry for the same path are errors
 * (except a directory added again with the same mode). mode is the
 * permission bits only (07777). */
int ml_cpio_add_dir(struct ml_cpio *c, const char *path, mode_t mode);
/* The data is copied. */
int ml_cpio_add_data(struct ml_cpio *c, const char *path, mode_t mode, const void *data,
		     size_t len);
/* The file is read when the archive is written. */
int ml_cpio_add_file(struct ml_cpio *c, const char *path, mode_t mode, const char *src_path);
int ml_cpio_add_symlink(struct ml_cpio *c, const char *path, const char *target);
int ml_cpio_add_chardev(struct ml_cpio *c, const char *path, mode_t mode, unsigned major,
			unsigned minor);

/* Append the archive to out (whose limit caps the archive size). */
int ml_cpio_write_buf(struct ml_cpio *c, struct ml_buf *out);
/* Write the archive to path atomically. */
int ml_cpio_write_file(struct ml_cpio *c, const char *path);

#define ml_autocpio __attribute__((cleanup(ml_cpio_freep)))
static inline void ml_cpio_freep(struct ml_cpio **c)
{
	ml_cpio_free(*c);
}

#endif
