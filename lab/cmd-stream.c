/* `miglab stream show FILE`: decode a captured migration stream (raw or
 * zstd) and print its sections, RAM summary and, with --fields, each
 * device's field values; --json prints the decoder's summary as is. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ml-error.h"
#include "stream.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab stream show [OPTIONS] FILE\n\n"
	       "Decode a QEMU migration stream (as captured by the cell's stream tap, raw or\n"
	       "zstd-compressed, or written by `migrate exec:cat > FILE`): the header, the\n"
	       "configuration (machine type), every section in order with its offset and\n"
	       "size, the RAM blocks and page counts, and the VM description. A stream that\n"
	       "is cut short or malformed is decoded up to the error, which names the offset,\n"
	       "what was expected and what was found (exit status 1).\n\n"
	       "options:\n"
	       "  --fields            also print every device's fields and their values\n"
	       "  --json              print the summary as JSON (docs/stream.md)\n"
	       "  -h, --help          this help\n");
}

int cmd_stream(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fields", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool fields = false, as_json = false;
	json_t *summary = NULL;
	int opt, rc;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		help();
		return ML_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "show") != 0)
		return ml_cli_usage_error("stream", "the only subcommand is `show FILE`");
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			fields = true;
			break;
		case 'j':
			as_json = true;
			break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("stream", "bad option");
		}
	}
	if (optind != argc - 1)
		return ml_cli_usage_error("stream", "name one stream file");
	rc = ml_stream_decode_file(argv[optind], &summary);
	if (!summary) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	if (as_json) {
		if (!fields) {
			json_t *d;
			size_t i;
			json_array_foreach(json_object_get(summary, "devices"), i, d)
				json_object_del(d, "fields");
		}
		json_dumpf(summary, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		ml_stream_print(stdout, summary, fields);
	}
	json_decref(summary);
	if (rc < 0) {
		ml_error_print();
		return ML_EXIT_FAIL;
	}
	return ML_EXIT_OK;
}
