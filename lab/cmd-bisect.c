/* `miglab bisect`: find the first commit of a QEMU git checkout at which a
 * cell fails (lab/bisect.h does the work). */
#include <stdio.h>
#include <string.h>

#include "attempts.h"
#include "bisect.h"
#include "cli.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-layout.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab bisect --good git:DIR@REF --bad git:DIR@REF --against BUILD\n"
	       "                     --machine MACHINE [OPTIONS]\n"
	       "       miglab bisect RUN CELL --good git:DIR@REF [OPTIONS]\n\n"
	       "Find the first commit of a QEMU git checkout at which a cell fails. git bisect\n"
	       "picks the commits in a clone of its own (DIR's checkout is only read); each\n"
	       "commit is built (git:DIR@COMMIT, with --bad's +patch: suffix) and runs two\n"
	       "cells: the commit migrating to itself (its control) and the commit migrating\n"
	       "to the --against build. A commit is good when both pass, bad when the control\n"
	       "passes and the pair fails every attempt, and skipped otherwise (a build or lab\n"
	       "failure, a control that fails, an intermittent failure), with the reason.\n"
	       "The two ends are tested first. With RUN CELL, the failing cell of a run gives\n"
	       "the bad end (its git: build), --against (its other build), the machine type,\n"
	       "kernel, accelerator, memory and workload.\n\n"
	       "Results: RESULTS/bisect/ID/bisect.json and index.html; each step's run is\n"
	       "RESULTS/ID-sNN-COMMIT/ like any run.\n\n"
	       "options:\n"
	       "  --good git:DIR@REF  a commit where the cell passes\n"
	       "  --bad git:DIR@REF   a later commit where it fails (same DIR and patches)\n"
	       "  --against BUILD     the other build of the cell (any provider)\n"
	       "  --machine NAME      machine type (pc-q35-10.0) or alias (q35, pc: resolved on\n"
	       "                      the bad commit, then the same for every step)\n"
	       "  --kernel debian:SUITE  guest kernel (default %s)\n"
	       "  --accel tcg|kvm     accelerator (default tcg)\n"
	       "  --memory MIB, --workload MIB, --max-bandwidth MIB, --kernel-boot auto|pvh|bzimage,\n"
	       "  --abi-severity warn|fail, --no-abi, --no-reboot\n"
	       "                      how each cell runs, as for `miglab cell`\n"
	       "  --repeat N          a cell that does not pass runs again up to N more times\n"
	       "                      (default %d): a failure must repeat to mark a commit bad\n"
	       "  --run-id ID         the bisect's id (default: a new timestamped one)\n" ML_COMMON_HELP
	       "\nexit status: 0 the first bad commit is named, 1 no single commit is (an end\n"
	       "did not test as given, or only skipped commits are left: the candidates are\n"
	       "listed), 2 bad usage or the lab failed (unknown ref, good not an ancestor of\n"
	       "bad, an end could not be built or run), 128+N interrupted by signal N\n",
	       ML_BISECT_DEFAULT_KERNEL, ML_CONFIRM_DEFAULT);
}

/* --memory, --workload, --max-bandwidth: whole numbers in the ranges a
 * matrix accepts (docs/matrix.md). */
static int parse_setting(int opt, const char *arg, struct ml_bisect_settings *s)
{
	const char *name = opt == 'M' ? "--memory" : opt == 'W' ? "--workload" : "--max-bandwidth";
	long lo = opt == 'M' ? 64 : 1, hi = opt == 'M' ? 65536 : opt == 'W' ? 32768 : 1048576;
	char *end;
	long v = strtol(arg, &end, 10);

	if (!*arg || *end || v < lo || v > hi) {
		ml_error("%s needs a whole number from %ld to %ld, not '%s'", name, lo, hi, arg);
		return -1;
	}
	*(opt == 'M' ? &s->memory_mib : opt == 'W' ? &s->workload_mib : &s->max_bandwidth_mib) = (int)v;
	return 0;
}

/* A run named on the command line: a path if it holds a run.json, else an
 * id under the results directory. */
static char *resolve_run(const char *results_dir, const char *arg)
{
	ml_autofree char *rj = ml_path_join(arg, ML_LAYOUT_RUN_FILE);

	if (strchr(arg, '/') || ml_path_exists(rj))
		return strdup(arg);
	return ml_path_join(results_dir, arg);
}

int cmd_bisect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "good", required_argument, NULL, 'g' },
		{ "bad", required_argument, NULL, 'b' },
		{ "against", required_argument, NULL, 'a' },
		{ "machine", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "accel", required_argument, NULL, 'A' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "run-id", required_argument, NULL, 'i' },
		{ "memory", required_argument, NULL, 'M' },
		{ "workload", required_argument, NULL, 'W' },
		{ "max-bandwidth", required_argument, NULL, 'w' },
		{ "kernel-boot", required_argument, NULL, 'K' },
		{ "abi-severity", required_argument, NULL, 'V' },
		{ "no-abi", no_argument, NULL, 'n' },
		{ "no-reboot", no_argument, NULL, 'N' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	struct ml_bisect_options o = { .repeat = ML_CONFIRM_DEFAULT };
	struct ml_bisect_cell_inputs from = { 0 };
	ml_autofree char *run_dir = NULL;
	bool settings_given = false;
	int opt, rc = ML_EXIT_LAB;
	char *end;
	long v;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 'g': o.good = optarg; break;
		case 'b': o.bad = optarg; break;
		case 'a': o.against = optarg; break;
		case 'm': o.machine = optarg; break;
		case 'k': o.kernel = optarg; break;
		case 'A': o.accel = optarg; break;
		case 'i': o.id = optarg; break;
		case 'M':
		case 'W':
		case 'w':
			if (parse_setting(opt, optarg, &o.settings) < 0) {
				rc = ml_cli_usage_error("bisect", "%s", ml_error_message());
				goto out;
			}
			settings_given = true;
			break;
		case 'K':
		case 'V':
			if ((opt == 'K' ? ml_bisect_set_kernel_boot(&o.settings, optarg)
					: ml_bisect_set_abi_severity(&o.settings, optarg)) < 0) {
				rc = ml_cli_usage_error("bisect", "%s", ml_error_message());
				goto out;
			}
			settings_given = true;
			break;
		case 'n': o.settings.no_abi = settings_given = true; break;
		case 'N': o.settings.no_reboot = settings_given = true; break;
		case 'r':
			v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 0 || v > ML_CONFIRM_MAX) {
				rc = ml_cli_usage_error("bisect", "--repeat needs a number from 0 to %d, not '%s'",
							ML_CONFIRM_MAX, optarg);
				goto out;
			}
			o.repeat = (int)v;
			break;
		case 'h':
			help();
			rc = ML_EXIT_OK;
			goto out;
		default:
			rc = ml_cli_usage_error("bisect", "bad option");
			goto out;
		}
	}
	if (optind != argc && optind + 2 != argc) {
		rc = ml_cli_usage_error("bisect", "expected no argument or RUN CELL, not %d argument(s)",
					argc - optind);
		goto out;
	}
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		goto out;
	}
	if (optind + 2 == argc) {
		/* The failing cell gives everything but the good end. */
		if (o.bad || o.against || o.machine || o.kernel || o.accel || settings_given) {
			rc = ml_cli_usage_error("bisect", "with RUN CELL, --bad, --against, --machine, --kernel, "
						"--accel and how the cell runs come from the cell");
			goto out;
		}
		if (!o.good) {
			rc = ml_cli_usage_error("bisect", "--good git:DIR@REF is required");
			goto out;
		}
		run_dir = resolve_run(cfg.results_dir, argv[optind]);
		if (ml_bisect_read_cell(run_dir, argv[optind + 1], o.good, &from) < 0) {
			rc = ml_cli_usage_error("bisect", "%s", ml_error_message());
			goto out;
		}
		o.bad = from.bad;
		o.against = from.against;
		o.machine = from.machine;
		o.kernel = from.kernel;
		o.accel = from.accel;
		o.step_is_dst = from.step_is_dst;
		o.settings = from.settings;
		if (from.extra_args)
			fprintf(stderr, "miglab: bisect: warning: cell %s ran with extra QEMU arguments "
					"(--src-arg/--dst-arg), which the steps cannot give\n", argv[optind + 1]);
		o.from_run = run_dir;
		o.from_cell = argv[optind + 1];
	}
	if (ml_bisect_check_options(&o) < 0) {
		rc = ml_cli_usage_error("bisect", "%s", ml_error_message());
		goto out;
	}
	rc = ml_bisect_run(&cfg, &o);
out:
	ml_bisect_cell_inputs_clear(&from);
	ml_config_clear(&cfg);
	return rc;
}
