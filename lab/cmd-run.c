/* `miglab run`: run a matrix (or resume a run) into one run directory. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ml-error.h"
#include "plan.h"
#include "run.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab run [OPTIONS] MATRIX\n"
	       "       miglab run [OPTIONS] --resume RUN\n\n"
	       "Run every cell of a matrix file (see docs/matrix.md; shipped: matrix/debian.ini,\n"
	       "matrix/quick.ini, matrix/backport.ini), N cells at a time, into\n"
	       "RESULTS/RUN-ID/ with run.json, junit.xml, results.tap and one directory per cell.\n\n"
	       "options:\n"
	       "  -j, --jobs N        cells at a time (default: the matrix's jobs, else the cores)\n"
	       "  --shard I/N         run only the I-th of N deterministic slices of the plan\n"
	       "  --resume RUN        finish an interrupted run (id or directory): only cells\n"
	       "                      without a finished cell.json run again\n"
	       "  --run-id ID         name of the new run (default: a timestamped id)\n"
	       "  --grace S           after an interrupt, seconds running cells get to finish\n"
	       "                      before they are stopped (default 60; interrupt twice: now)\n"
	       "  --confirm N         a cell that does not pass runs again up to N more times\n"
	       "                      (default: the matrix's confirm, else 2); the judgement\n"
	       "                      says deterministic (n/n) or intermittent (k/n)\n"
	       "  --refresh           rebuild QEMU builds and guests even when cached\n"
	       "  --boot saved|cold   overrides [guest] boot: saved (default) boots each source\n"
	       "                      guest once per build, machine and kernel and restores it\n"
	       "                      in each cell; cold boots it in every cell\n"
	       "  --saved-dir DIR     keep saved guests in DIR (default: the run's own, removed\n"
	       "                      when its cells are done)\n" ML_COMMON_HELP
	       "\nexit status: 0 all passed (or skipped, or failed as a known issue), 1 a cell\n"
	       "failed (or a known issue passed), 2 a cell errored or the lab failed, 128+N\n"
	       "interrupted by signal N (the run is resumable)\n");
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' },
		{ "shard", required_argument, NULL, 's' },
		{ "resume", required_argument, NULL, 'r' },
		{ "run-id", required_argument, NULL, 'i' },
		{ "grace", required_argument, NULL, 'g' },
		{ "refresh", no_argument, NULL, 'R' },
		{ "boot", required_argument, NULL, 'O' },
		{ "saved-dir", required_argument, NULL, 'A' },
		{ "confirm", required_argument, NULL, 'c' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	struct ml_run_options o = { .grace_s = -1, .confirm = -1 };
	int opt, rc;
	char *end;
	long v;

	while ((opt = getopt_long(argc, argv, "hj:", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 'j':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 256)
				return ml_cli_usage_error("run", "--jobs needs a number from 1 to 256, not '%s'", optarg);
			o.jobs = (unsigned)v;
			break;
		case 's':
			if (ml_shard_parse(optarg, &o.shard_index, &o.shard_total) < 0)
				return ml_cli_usage_error("run", "%s", ml_error_message());
			break;
		case 'r': o.resume = optarg; break;
		case 'i':
			if (strchr(optarg, '/') || optarg[0] == '.' || !*optarg)
				return ml_cli_usage_error("run", "--run-id must be a plain name, not '%s'", optarg);
			o.run_id = optarg;
			break;
		case 'g':
			v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 86400)
				return ml_cli_usage_error("run", "--grace needs seconds, not '%s'", optarg);
			o.grace_s = (int)v;
			break;
		case 'R': o.refresh = true; break;
		case 'O':
			if (strcmp(optarg, "saved") != 0 && strcmp(optarg, "cold") != 0)
				return ml_cli_usage_error("run", "--boot must be saved or cold, not '%s'", optarg);
			o.boot = optarg;
			break;
		case 'A':
			if (!*optarg)
				return ml_cli_usage_error("run", "--saved-dir needs a directory");
			o.saved_dir = optarg;
			break;
		case 'c':
			v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 0 || v > 20)
				return ml_cli_usage_error("run", "--confirm needs a number from 0 to 20, not '%s'", optarg);
			o.confirm = (int)v;
			break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("run", "bad option");
		}
	}
	if (o.resume && (optind != argc || o.shard_total || o.run_id))
		return ml_cli_usage_error("run", "--resume takes no matrix, --shard or --run-id: the run has them");
	if (!o.resume) {
		if (optind + 1 != argc)
			return ml_cli_usage_error("run", "one matrix file is needed");
		o.matrix_path = argv[optind];
	}
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	rc = ml_run_matrix(&cfg, &o);
	ml_config_clear(&cfg);
	return rc;
}
