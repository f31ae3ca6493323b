/* libFuzzer target: the migration stream decoder on arbitrary bytes, with
 * field decoding on, then the printer and the explainer on whatever it
 * produced. An input that starts with the zstd magic goes through the file
 * path instead (ml_stream_decode_file_max on a memfd), as a capture of the
 * stream tap does: decompression, its size cap, then the same decoder. Any
 * crash, hang, leak or sanitizer report is a decoder bug. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ml-error.h"
#include "stream.h"
#include "ml-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Cap of the decompressed stream for the zstd path: small, so a zstd bomb
 * is refused quickly, yet above every seed. */
#define FUZZ_ZSTD_MAX ((size_t)4 << 20)

static int decode_zstd_file(const uint8_t *data, size_t size, json_t **summary)
{
	char path[64];
	int fd = memfd_create("fuzz-stream", MFD_CLOEXEC);
	int rc = -1;

	*summary = NULL;
	if (fd < 0)
		abort();
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		rc = ml_stream_decode_file_max(path, FUZZ_ZSTD_MAX, summary);
	}
	close(fd);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	json_t *summary = NULL;
	char *why;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (size >= 4 && data[0] == 0x28 && data[1] == 0xb5 && data[2] == 0x2f && data[3] == 0xfd)
		decode_zstd_file(data, size, &summary);
	else
		ml_stream_decode(data, size, ML_STREAM_FIELDS, &summary);
	if (summary) {
		if (devnull)
			ml_stream_print(devnull, summary, 1);
		static const char *const asks[][2] = {
			{ "cpu", "env.regs" }, { "virtio-net", NULL }, { "virtio-net", "VQ 0" },
			{ "ich9_smb", "i=0x10" }, { "globalstate", "x:runstate" }, { "d", "s" },
		};
		for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
			why = ml_stream_explain(summary, asks[i][0], asks[i][1]);
			free(why);
		}
		json_decref(summary);
	}
	ml_error_reset();
	return 0;
}
