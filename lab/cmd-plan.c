/* `miglab plan`: list the cells a matrix expands to, without running them. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ml-error.h"
#include "plan.h"
#include "run.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab plan [OPTIONS] MATRIX\n\n"
	       "Print the cells of a matrix: id, builds, machine type, kernel, the selection\n"
	       "rule that chose the machine, and the reason of planned skips. The builds are\n"
	       "provisioned (or reused) to learn their machine types; no guest is booted.\n\n"
	       "options:\n"
	       "  --shard I/N         only the I-th of N slices (as `miglab run --shard`)\n"
	       "  --json              a JSON array instead of a table\n" ML_COMMON_HELP);
}

int cmd_plan(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shard", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'J' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	unsigned si = 0, st = 0;
	bool json = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 's':
			if (ml_shard_parse(optarg, &si, &st) < 0)
				return ml_cli_usage_error("plan", "%s", ml_error_message());
			break;
		case 'J': json = true; break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("plan", "bad option");
		}
	}
	if (optind + 1 != argc)
		return ml_cli_usage_error("plan", "one matrix file is needed");
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	rc = ml_run_print_plan(&cfg, argv[optind], si, st, json);
	ml_config_clear(&cfg);
	return rc;
}
