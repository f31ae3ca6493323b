/* `miglab analyse`: re-judge existing runs with today's failure catalogue,
 * known issues and rules (results/judge.h), idempotently; with two runs of
 * one matrix, say how their hosts and judgements differ. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "export.h"
#include "host.h"
#include "judge.h"
#include "ml-layout.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "run-file.h"
#include "run.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab analyse [OPTIONS] RUN...\n\n"
	       "Judge the cells of existing runs again from their recorded attempts, with\n"
	       "today's failure catalogue, known issues and rules: verdicts, classes, repeats\n"
	       "(deterministic or intermittent), controls (a build that fails migrating to\n"
	       "itself: source-unsound / destination-unsound), directions. Rewrites each cell's\n"
	       "cell.json, the judgements in run.json, junit.xml and results.tap, and the\n"
	       "dashboard; never runs QEMU. RUN is a run id or a run directory. With two runs\n"
	       "of one matrix, also prints how their hosts and their judgements differ.\n\n"
	       "options:\n"
	       "  --abi-severity warn|fail  fail: any ABI difference fails the cell (strict);\n"
	       "                      warn: ranked by kind (results/abi-kinds.txt); instead of\n"
	       "                      what each cell recorded\n"
	       "  --baselines DIR     judge boot-src and reboot-dst against the ABI baselines in\n"
	       "                      DIR instead of the matrix's [abi] baselines\n"
	       "  --no-report         do not rewrite the dashboard\n" ML_COMMON_HELP
	       "\nexit status: as `miglab run` for the judgements (0, 1 or 2); 2 for bad usage\n");
}

static char *resolve_run(const char *results_dir, const char *arg)
{
	ml_autofree char *rj = ml_path_join(arg, ML_LAYOUT_RUN_FILE);
	ml_autofree char *cells = ml_path_join(arg, ML_LAYOUT_CELLS_DIR);

	if (strchr(arg, '/') || ml_path_exists(rj) || ml_is_dir(cells))
		return strdup(arg);
	return ml_path_join(results_dir, arg);
}

/* What differs between the hosts of two runs (results/host.h). */
static void compare_hosts(json_t *a, json_t *b)
{
	json_t *cmp = ml_host_compare(a, b);
	json_t *d;
	size_t i;

	printf("\nhosts:\n");
	if (!cmp) {
		printf("  (a run has no host fingerprint: %s)\n", ml_error_message());
		return;
	}
	json_array_foreach(json_object_get(cmp, "differences"), i, d) {
		char *sa = json_dumps(json_object_get(d, "a"), JSON_ENCODE_ANY);
		char *sb = json_dumps(json_object_get(d, "b"), JSON_ENCODE_ANY);
		printf("  %-16s %s -> %s%s\n", ml_json_str(d, "key"), sa ? sa : "null", sb ? sb : "null",
		       ml_json_bool(d, "significant", true) ? "" : " (not significant)");
		free(sa);
		free(sb);
	}
	for (int k = 0; k < 2; k++) {
		json_t *only = json_object_get(cmp, k ? "flags_only_b" : "flags_only_a"), *f;
		if (!json_array_size(only))
			continue;
		printf("  CPU flags only on the %s host:", k ? "second" : "first");
		json_array_foreach(only, i, f)
			printf(" %s", json_string_value(f));
		printf("\n");
	}
	if (ml_json_bool(cmp, "same", false))
		printf("  the same CPU, microcode, kernel and accelerator\n");
	json_decref(cmp);
}

/* Which cells are judged differently in two runs of one matrix. */
static void compare_runs(const char *da, const char *db)
{
	json_t *ra = ml_run_file_load(da), *rb = ml_run_file_load(db);
	json_t *ca = json_object_get(ra, "cells"), *cb = json_object_get(rb, "cells"), *x, *y;
	const char *ma = ml_json_str(json_object_get(ra, "matrix"), "sha256");
	const char *mb = ml_json_str(json_object_get(rb, "matrix"), "sha256");
	size_t i, j, differ = 0, common = 0;

	if (!ra || !rb) {
		ml_error_print();
		goto out;
	}
	printf("\ncomparing %s with %s\n", ml_json_str(ra, "run_id"), ml_json_str(rb, "run_id"));
	if (!ma || !mb || strcmp(ma, mb) != 0)
		printf("  (the runs ran different matrix files: only cells in both are compared)\n");
	compare_hosts(json_object_get(ra, "host"), json_object_get(rb, "host"));
	printf("\njudgements that differ:\n");
	json_array_foreach(ca, i, x) {
		json_array_foreach(cb, j, y) {
			const char *ka, *kb;
			if (!ml_json_str(x, "cell_id") || !ml_json_str(y, "cell_id") ||
			    strcmp(ml_json_str(x, "cell_id"), ml_json_str(y, "cell_id")) != 0)
				continue;
			common++;
			ka = ml_json_str(x, "category");
			kb = ml_json_str(y, "category");
			if (ka && kb && strcmp(ka, kb) != 0) {
				printf("  %-20s -> %-20s %s\n", ka, kb, ml_json_str(x, "cell_id"));
				differ++;
			}
		}
	}
	printf("  %zu of %zu cells in both runs are judged differently\n", differ, common);
out:
	json_decref(ra);
	json_decref(rb);
}

int cmd_analyse(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "abi-severity", required_argument, NULL, 'V' },
		{ "baselines", required_argument, NULL, 'B' },
		{ "no-report", no_argument, NULL, 'N' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	struct ml_judge_rules rules;
	const char *severity = NULL, *baselines = NULL;
	bool report = true;
	int opt, rc = ML_EXIT_OK;
	char **dirs;
	size_t n;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 'V':
			if (strcmp(optarg, "fail") != 0 && strcmp(optarg, "warn") != 0)
				return ml_cli_usage_error("analyse", "--abi-severity must be fail or warn, not '%s'", optarg);
			severity = optarg;
			break;
		case 'B':
			if (!ml_is_dir(optarg))
				return ml_cli_usage_error("analyse", "--baselines %s: not a directory", optarg);
			baselines = optarg;
			break;
		case 'N': report = false; break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("analyse", "bad option");
		}
	}
	if (optind == argc)
		return ml_cli_usage_error("analyse", "name at least one run (id or directory)");
	if (ml_config_resolve(&cfg) < 0 || ml_judge_rules_load(&rules) < 0) {
		ml_error_print();
		ml_config_clear(&cfg);
		return ML_EXIT_LAB;
	}
	rules.abi_severity = severity;
	rules.abi_baselines = baselines;
	n = (size_t)(argc - optind);
	dirs = calloc(n, sizeof(*dirs));
	if (!dirs)
		abort();
	for (size_t i = 0; i < n; i++) {
		ml_autofree char *cells = NULL;
		const char *slash;
		int r;

		dirs[i] = resolve_run(cfg.results_dir, argv[optind + (int)i]);
		cells = ml_path_join(dirs[i], ML_LAYOUT_CELLS_DIR);
		if (!ml_is_dir(cells)) {
			fprintf(stderr, "miglab analyse: %s is not a run directory (no %s/)\n", dirs[i],
				ML_LAYOUT_CELLS_DIR);
			rc = ML_EXIT_LAB;
			continue;
		}
		slash = strrchr(dirs[i], '/');
		r = ml_run_judge(&rules, dirs[i], slash ? slash + 1 : dirs[i],
				 report ? cfg.results_dir : NULL);
		if (r > rc)
			rc = r;
	}
	if (n == 2 && dirs[0] && dirs[1])
		compare_runs(dirs[0], dirs[1]);
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
	ml_judge_rules_clear(&rules);
	ml_config_clear(&cfg);
	return rc;
}
