/* `miglab merge`: join runs (e.g. the shards of one matrix) into one run. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ml-error.h"
#include "run.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab merge [OPTIONS] RUN...\n\n"
	       "Copy the cells of several runs of the same matrix (ids under the results\n"
	       "directory, or paths) into a new run with its own run.json, junit.xml and\n"
	       "results.tap. Runs of different matrix files, or a cell present in two runs,\n"
	       "are refused.\n\n"
	       "options:\n"
	       "  --run-id ID         name of the merged run (default: a timestamped id)\n" ML_COMMON_HELP);
}

int cmd_merge(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "run-id", required_argument, NULL, 'i' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	const char *run_id = NULL;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 'i':
			if (strchr(optarg, '/') || optarg[0] == '.' || !*optarg)
				return ml_cli_usage_error("merge", "--run-id must be a plain name, not '%s'", optarg);
			run_id = optarg;
			break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("merge", "bad option");
		}
	}
	if (optind >= argc)
		return ml_cli_usage_error("merge", "name at least one run");
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	rc = ml_run_merge(&cfg, (const char *const *)(argv + optind), (size_t)(argc - optind), run_id);
	ml_config_clear(&cfg);
	return rc;
}
