/* miglab: a cross-version live-migration test lab for QEMU. This file is the
 * command table only; the work is in the library behind it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ml-error.h"
#include "ml-proc.h"
#include "ml-common.h"

static const struct ml_command commands[] = {
	{ "fetch", cmd_fetch, "make or refresh QEMU builds and guest kernels (cached)" },
	{ "plan", cmd_plan, "list the cells a matrix file expands to" },
	{ "run", cmd_run, "run a matrix (or --resume a run): the lab's main job" },
	{ "cell", cmd_cell, "run one cell: boot, migrate forward and back, record a verdict" },
	{ "merge", cmd_merge, "join runs (shards) of one matrix into one run" },
	{ "stream", cmd_stream, "decode a captured migration stream (stream show FILE)" },
	{ "failures", cmd_failures, "the failure catalogue; explain the failed cells of results" },
	{ "vmstate", cmd_vmstate, "compare builds' VMState descriptions (no guest booted)" },
	{ "abi-diff", cmd_abi_diff, "compare two guest ABI dumps, differences named" },
	{ "baseline", cmd_baseline, "record or check per-machine-type ABI baselines" },
	{ "analyse", cmd_analyse, "judge existing runs again with today's catalogue, known issues and rules" },
	{ "report", cmd_report, "write the static HTML dashboard of results (runs, matrix grids, cells)" },
	{ "bisect", cmd_bisect, "find the first commit of a QEMU git checkout at which a cell fails" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: miglab COMMAND [OPTIONS]\n\n"
		   "miglab boots real guests on several QEMU builds, live-migrates them forward\n"
		   "and back, and records verdicts and evidence.\n\ncommands:\n");
	for (size_t i = 0; i < ML_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`miglab COMMAND --help` describes a command.\n"
		   "exit status: 0 all cells passed, 1 a cell failed, 2 the lab failed or bad usage\n");
}

int ml_cli_common_option(int opt, const char *arg, struct ml_config *cfg)
{
	char **slot = opt == ML_OPT_CACHE_DIR     ? &cfg->cache_dir
		      : opt == ML_OPT_RESULTS_DIR ? &cfg->results_dir
		      : opt == ML_OPT_MIRROR      ? &cfg->mirror
						  : NULL;
	if (!slot)
		return 0;
	free(*slot);
	*slot = strdup(arg);
	return 1;
}

int ml_cli_usage_error(const char *cmd, const char *f, ...)
{
	va_list ap;

	fprintf(stderr, "miglab %s: ", cmd);
	va_start(ap, f);
	vfprintf(stderr, f, ap);
	va_end(ap);
	fprintf(stderr, "\n(see `miglab %s --help`)\n", cmd);
	return ML_EXIT_LAB;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return ML_EXIT_LAB;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return ML_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("miglab %s\n", MIGLAB_VERSION);
		return ML_EXIT_OK;
	}
	ml_interrupt_install();
	for (size_t i = 0; i < ML_ARRAY_SIZE(commands); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "miglab: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return ML_EXIT_LAB;
}
