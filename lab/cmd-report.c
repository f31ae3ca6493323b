/* `miglab report`: write the static HTML dashboard of a results directory
 * (every run) or of the named runs (docs/dashboard.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-layout.h"
#include "web.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab report [OPTIONS] [RUN...]\n\n"
	       "Write the static HTML dashboard: the runs index, one page per run (the\n"
	       "matrix grid, regressions against the previous run of the same matrix) and\n"
	       "one page per cell. With RUN arguments (ids under the results directory, or\n"
	       "paths) only those runs get pages; otherwise every run of the results\n"
	       "directory does. The index and the history always cover every run of the\n"
	       "results directory. Prints the path of index.html.\n\n"
	       "options:\n"
	       "  --out DIR           where to write the site (default RESULTS/site)\n"
	       "  -q, --quiet         no progress on stderr\n" ML_COMMON_HELP);
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

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	struct ml_web_options wo = { 0 };
	const char *out = NULL;
	char **runs = NULL;
	char *index = NULL;
	size_t n = 0;
	int opt, rc = ML_EXIT_OK;

	while ((opt = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'q':
			wo.quiet = true;
			break;
		case 'h':
			help();
			ml_config_clear(&cfg);
			return ML_EXIT_OK;
		default:
			ml_config_clear(&cfg);
			return ml_cli_usage_error("report", "bad option");
		}
	}
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		ml_config_clear(&cfg);
		return ML_EXIT_LAB;
	}
	if (optind < argc) {
		n = (size_t)(argc - optind);
		runs = calloc(n, sizeof(*runs));
		if (!runs)
			abort();
		for (size_t i = 0; i < n; i++)
			runs[i] = resolve_run(cfg.results_dir, argv[optind + (int)i]);
		wo.runs = (const char *const *)runs;
		wo.n_runs = n;
	}
	if (!ml_is_dir(cfg.results_dir) && !n) {
		rc = ml_cli_usage_error("report", "no results directory %s (name one with --results-dir)",
					cfg.results_dir);
		goto out;
	}
	if (ml_web_write_site(ml_is_dir(cfg.results_dir) ? cfg.results_dir : NULL, out, &wo, &index) < 0) {
		ml_error_print();
		rc = ML_EXIT_LAB;
		goto out;
	}
	printf("%s\n", index);
out:
	free(index);
	for (size_t i = 0; i < n; i++)
		free(runs[i]);
	free(runs);
	ml_config_clear(&cfg);
	return rc;
}
