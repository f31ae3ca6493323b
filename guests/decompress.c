/* Decompression of xz and zstd data held in memory (kernel modules, the
 * kernel inside a bzImage), into a capped buffer. */
#include <lzma.h>
#include <zstd.h>

#include "decompress.h"
#include "ml-error.h"

int ml_decompress_xz(const unsigned char *in, size_t in_len, size_t limit, const char *what,
		     struct ml_buf *out)
{
	lzma_stream s = LZMA_STREAM_INIT;
	unsigned char chunk[65536];
	lzma_ret r;

	if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK) {
		ml_error("cannot start an xz decoder for %s", what);
		return -1;
	}
	s.next_in = in;
	s.avail_in = in_len;
	do {
		s.next_out = chunk;
		s.avail_out = sizeof(chunk);
		r = lzma_code(&s, LZMA_FINISH);
		if (r != LZMA_OK && r != LZMA_STREAM_END) {
			lzma_end(&s);
			if (r == LZMA_BUF_ERROR)
				ml_error("%s: truncated xz data", what);
			else
				ml_error("%s: corrupt xz data (liblzma error %d)", what, (int)r);
			return -1;
		}
		if (out->len + (sizeof(chunk) - s.avail_out) > limit ||
		    ml_buf_append(out, chunk, sizeof(chunk) - s.avail_out) < 0) {
			lzma_end(&s);
			ml_error("%s decompresses to more than %zu bytes", what, limit);
			return -1;
		}
	} while (r != LZMA_STREAM_END);
	lzma_end(&s);
	return 0;
}

int ml_decompress_zstd(const unsigned char *in, size_t in_len, size_t limit,
			const char *what, struct ml_buf *out)
{
	ZSTD_DStream *s = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, in_len, 0 };
	unsigned char chunk[65536];
	size_t r = 1;

	if (!s) {
		ml_error("cannot start a zstd decoder for %s", what);
		return -1;
	}
	ZSTD_initDStream(s);
	while (ib.pos < ib.size || r != 0) {
		ZSTD_outBuffer ob = { chunk, sizeof(chunk), 0 };
		size_t before = ib.pos;
		r = ZSTD_decompressStream(s, &ob, &ib);
		if (ZSTD_isError(r)) {
			ml_error("%s: corrupt zstd data (%s)", what, ZSTD_getErrorName(r));
			ZSTD_freeDStream(s);
			return -1;
		}
		if (out->len + ob.pos > limit || ml_buf_append(out, chunk, ob.pos) < 0) {
			ml_error("%s decompresses to more than %zu bytes", what, limit);
			ZSTD_freeDStream(s);
			return -1;
		}
		if (ob.pos == 0 && ib.pos == before && r != 0) {
			ml_error("%s: truncated zstd data", what);
			ZSTD_freeDStream(s);
			return -1;
		}
	}
	ZSTD_freeDStream(s);
	return 0;
}
