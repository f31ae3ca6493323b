/* Decompression of whole xz and zstd data held in memory: modules
 * (moddep.c) and the kernel inside a bzImage (vmlinux.c). */
#ifndef ML_DECOMPRESS_H
#define ML_DECOMPRESS_H

#include <stddef.h>

#include "ml-buf.h"

/* Decode in[0..in_len), which must be whole xz streams (xz) or zstd frames
 * (zstd) and nothing else, appending the result to out. More than limit
 * bytes of output, corrupt data, trailing garbage or a truncated stream is
 * an error naming what. */
int ml_decompress_xz(const unsigned char *in, size_t in_len, size_t limit, const char *what,
		     struct ml_buf *out);
int ml_decompress_zstd(const unsigned char *in, size_t in_len, size_t limit, const char *what,
		       struct ml_buf *out);

#endif
