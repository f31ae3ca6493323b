/* `miglab baseline record|check RUN DIR`: per (QEMU version, machine type,
 * guest kernel) ABI baselines kept in git, recorded from a run's boot-src
 * dumps and checked against a later run (results/abi-baseline.h). */
#include <stdio.h>
#include <string.h>

#include "abi-baseline.h"
#include "cli.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab baseline record [OPTIONS] RUN DIR\n"
	       "       miglab baseline check [OPTIONS] RUN DIR\n\n"
	       "record: store the boot-src ABI dump of each cell of RUN (a run id under the\n"
	       "  results directory, or a path) as DIR/<qemu-version>/<machine>/<kernel>.json,\n"
	       "  pretty-printed with sorted keys and volatile values replaced by \"<volatile>\"\n"
	       "  (re-recording the same ABI gives the same bytes), and update DIR/index.json.\n"
	       "check: compare each cell's boot-src dump with the baseline of its key and\n"
	       "  report every machine type whose ABI changed, with the differences; keys\n"
	       "  without a baseline are listed as \"no baseline\".\n\n"
	       "options:\n"
	       "  --json              check: print the report as JSON\n"
	       "  --volatile FILE     use this volatile list (see `miglab abi-diff --help`)\n"
	       "  --no-iasl           check: do not disassemble ACPI tables\n" ML_COMMON_HELP
	       "\nexit status: record 0 done, 2 error; check 0 no ABI changed, 1 an ABI changed,\n"
	       "2 error (a dump or baseline that cannot be read, bad usage)\n");
}

static char *run_dir_of(const struct ml_config *cfg, const char *run)
{
	if (strchr(run, '/') || !cfg->results_dir)
		return strdup(run);
	{
		char *p = ml_path_join(cfg->results_dir, run);
		if (!ml_is_dir(p) && ml_is_dir(run)) {
			free(p);
			return strdup(run);
		}
		return p;
	}
}

static int record(const char *run_dir, const char *dir, struct ml_abi_volatile *vol)
{
	json_t *summary = NULL, *e;
	int rc = ml_abi_baseline_record(run_dir, dir, vol, &summary);
	size_t i;

	json_array_foreach(json_object_get(summary, "recorded"), i, e)
		printf("recorded  %s/%s  (cell %s)\n", dir, json_string_value(json_object_get(e, "file")),
		       json_string_value(json_object_get(e, "cell")));
	json_array_foreach(json_object_get(summary, "skipped"), i, e)
		printf("skipped   cell %s: %s\n", json_string_value(json_object_get(e, "cell")),
		       json_string_value(json_object_get(e, "reason")));
	json_array_foreach(json_object_get(summary, "conflicts"), i, e)
		printf("warning   %s: cells %s and %s have the same key but %lld ABI differences; "
		       "the first is recorded (compare them with `miglab abi-diff`)\n",
		       json_string_value(json_object_get(e, "file")),
		       json_string_value(json_array_get(json_object_get(e, "cells"), 0)),
		       json_string_value(json_array_get(json_object_get(e, "cells"), 1)),
		       (long long)json_integer_value(json_object_get(e, "differences")));
	json_array_foreach(json_object_get(summary, "errors"), i, e)
		fprintf(stderr, "miglab: cell %s: %s\n", json_string_value(json_object_get(e, "cell")),
			json_string_value(json_object_get(e, "error")));
	if (rc < 0 && !json_array_size(json_object_get(summary, "errors")))
		ml_error_print();
	else
		printf("%zu baseline%s recorded in %s\n", json_array_size(json_object_get(summary, "recorded")),
		       json_array_size(json_object_get(summary, "recorded")) == 1 ? "" : "s", dir);
	json_decref(summary);
	return rc < 0 ? ML_EXIT_LAB : ML_EXIT_OK;
}

static int check(const char *run_dir, const char *dir, struct ml_abi_volatile *vol, bool json,
		 bool no_iasl)
{
	json_t *report = NULL;
	ml_autofree char *iasl = no_iasl ? NULL : ml_abi_find_iasl();
	struct ml_abi_diff_options o = { .iasl = iasl };
	int rc = ml_abi_baseline_check(run_dir, dir, vol, &o, &report);

	if (rc < 0 && !json_array_size(json_object_get(report, "results"))) {
		ml_error_print();
		json_decref(report);
		return ML_EXIT_LAB;
	}
	if (json) {
		char *text = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", text ? text : "{}");
		free(text);
	} else {
		char *text = ml_abi_baseline_check_text(report);
		fputs(text, stdout);
		free(text);
	}
	json_decref(report);
	return rc < 0 ? ML_EXIT_LAB : rc ? ML_EXIT_FAIL : ML_EXIT_OK;
}

int cmd_baseline(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "volatile", required_argument, NULL, 'v' },
		{ "no-iasl", no_argument, NULL, 'n' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	const char *volatile_path = NULL, *action;
	bool json = false, no_iasl = false;
	struct ml_abi_volatile *vol;
	ml_autofree char *run_dir = NULL;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 'j':
			json = true;
			break;
		case 'v':
			volatile_path = optarg;
			break;
		case 'n':
			no_iasl = true;
			break;
		case 'h':
			help();
			ml_config_clear(&cfg);
			return ML_EXIT_OK;
		default:
			ml_config_clear(&cfg);
			return ml_cli_usage_error("baseline", "bad option");
		}
	}
	if (argc - optind != 3 || (strcmp(argv[optind], "record") != 0 && strcmp(argv[optind], "check") != 0)) {
		ml_config_clear(&cfg);
		return ml_cli_usage_error("baseline", "expected `record RUN DIR` or `check RUN DIR`");
	}
	action = argv[optind];
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		ml_config_clear(&cfg);
		return ML_EXIT_LAB;
	}
	run_dir = run_dir_of(&cfg, argv[optind + 1]);
	ml_config_clear(&cfg);
	vol = volatile_path ? ml_abi_volatile_load(volatile_path) : ml_abi_volatile_default();
	if (!vol) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	rc = strcmp(action, "record") == 0 ? record(run_dir, argv[optind + 2], vol)
					   : check(run_dir, argv[optind + 2], vol, json, no_iasl);
	ml_abi_volatile_free(vol);
	return rc;
}
