/* libFuzzer target: the migration stream decoder on arbitrary bytes, with
 * field decoding on, then the printer and the explainer on whatever it
 * produced. Any crash, hang, leak or sanitizer report is a decoder bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ml-error.h"
#include "stream.h"
#include "ml-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	json_t *summary = NULL;
	char *why;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
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
