/* `miglab failures`: print the failure catalogue (docs/failures.md is its
 * --markdown output), or classify the cells of existing results with it. */
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "cli.h"
#include "export.h"
#include "known.h"
#include "ml-layout.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-common.h"

#define CELL_JSON_LIMIT ((size_t)16 << 20)

static void help(void)
{
	printf("usage: miglab failures [OPTIONS] [--classify DIR...]\n\n"
	       "Print the failure catalogue: every class of failure miglab recognises, what\n"
	       "it means, how to investigate it and how it is usually fixed. With --classify,\n"
	       "explain the failed cells of existing results instead (DIR is a cell directory\n"
	       "or a run directory), with the known issue each matches.\n\n"
	       "options:\n"
	       "  --markdown          the catalogue as markdown (docs/failures.md)\n"
	       "  --catalogue FILE    another catalogue (MIGLAB_FAILURES; default: the one\n"
	       "                      built into miglab, from results/failures.ini)\n"
	       "  --known FILE        another known-issue list (MIGLAB_KNOWN_ISSUES; default:\n"
	       "                      the one built in, from matrix/known-issues.ini)\n"
	       "  --classify          the arguments are cell or run directories to explain\n"
	       "  --json              with --classify: one JSON object per cell and line\n"
	       "  -h, --help          this help\n");
}

static void print_cell(const char *id, json_t *cls, const struct ml_known_issue *ki, bool json)
{
	if (json) {
		json_t *o = json_pack("{s:s, s:O}", "cell", id, "classification", cls);
		char *s;
		if (ki)
			ml_json_set(o, "known_issue", ml_known_issue_to_json(ki));
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
		json_decref(o);
		return;
	}
	printf("%s\n  class:   %s (%s)\n", id, ml_json_str(cls, "class"), ml_json_str(cls, "title"));
	if (ml_json_str(cls, "matched"))
		printf("  matched: %s\n", ml_json_str(cls, "matched"));
	if (ml_json_str(cls, "device"))
		printf("  device:  %s\n", ml_json_str(cls, "device"));
	if (ml_json_str(cls, "field"))
		printf("  field:   %s\n", ml_json_str(cls, "field"));
	if (ki)
		printf("  known issue: %s%s%s\n", ki->id, ki->link ? " " : "", ki->link ? ki->link : "");
}

/* Classify one cell directory; returns 1 if it failed, 0 if not, -1 on error. */
static int classify_cell(const struct ml_catalogue *cat, const struct ml_known *known,
			 const char *dir, bool json)
{
	ml_autofree char *path = ml_path_join(dir, ML_LAYOUT_CELL_FILE);
	json_t *cell = ml_json_load_file(path, CELL_JSON_LIMIT);
	json_t *cls = NULL;
	int rc;

	if (!cell)
		return -1;
	{
		ml_autofree char *edir = ml_layout_evidence_dir(dir, cell);
		rc = ml_classify(cat, cell, edir, &cls);
	}
	if (rc == 0 && cls) {
		const char *id = ml_json_str(cell, "cell_id");
		print_cell(id ? id : dir, cls, ml_known_match(known, cell, cls), json);
		rc = 1;
	}
	json_decref(cls);
	json_decref(cell);
	return rc;
}

static int classify_dir(const struct ml_catalogue *cat, const struct ml_known *known,
			const char *dir, bool json, int *failed)
{
	ml_autofree char *cell_json = ml_path_join(dir, ML_LAYOUT_CELL_FILE);
	ml_autofree char *cells = ml_path_join(dir, ML_LAYOUT_CELLS_DIR);
	json_t *all;
	json_t *cell;
	size_t i;

	if (ml_path_exists(cell_json)) {
		int rc = classify_cell(cat, known, dir, json);
		if (rc > 0)
			(*failed)++;
		return rc < 0 ? -1 : 0;
	}
	if (!ml_is_dir(cells)) {
		ml_error("%s is neither a cell directory (with cell.json) nor a run directory "
			 "(with cells/)", dir);
		return -1;
	}
	all = ml_run_load_cells(dir);
	json_array_foreach(all, i, cell) {
		const char *id = ml_json_str(cell, "cell_id");
		ml_autofree char *cdir = id ? ml_path_join(cells, id) : NULL;
		ml_autofree char *edir = NULL;
		json_t *cls = NULL;
		if (!cdir || strchr(id, '/'))
			continue;
		edir = ml_layout_evidence_dir(cdir, cell);
		if (ml_classify(cat, cell, edir, &cls) < 0) {
			json_decref(all);
			return -1;
		}
		if (cls) {
			print_cell(id, cls, ml_known_match(known, cell, cls), json);
			(*failed)++;
			json_decref(cls);
		}
	}
	json_decref(all);
	return 0;
}

int cmd_failures(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "markdown", no_argument, NULL, 'm' },
		{ "catalogue", required_argument, NULL, 'c' },
		{ "known", required_argument, NULL, 'k' },
		{ "classify", no_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ml_catalogue cat;
	struct ml_known known;
	const char *cat_path = NULL, *known_path = NULL;
	bool markdown = false, classify = false, json = false;
	int opt, failed = 0, rc = ML_EXIT_OK;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm': markdown = true; break;
		case 'c': cat_path = optarg; break;
		case 'k': known_path = optarg; break;
		case 'C': classify = true; break;
		case 'J': json = true; break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("failures", "bad option");
		}
	}
	if (classify && optind >= argc)
		return ml_cli_usage_error("failures", "--classify needs a cell or run directory");
	if (!classify && optind < argc)
		return ml_cli_usage_error("failures", "unexpected argument '%s' (directories need "
					  "--classify)", argv[optind]);
	if (json && !classify)
		return ml_cli_usage_error("failures", "--json goes with --classify");
	if (ml_catalogue_load(cat_path, &cat) < 0) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	if (!classify) {
		char *out = markdown ? ml_catalogue_markdown(&cat) : ml_catalogue_text(&cat);
		fputs(out, stdout);
		free(out);
		ml_catalogue_clear(&cat);
		return ML_EXIT_OK;
	}
	if (ml_known_load(known_path, &known) < 0) {
		ml_error_print();
		ml_catalogue_clear(&cat);
		return ML_EXIT_LAB;
	}
	for (int i = optind; i < argc; i++) {
		if (classify_dir(&cat, &known, argv[i], json, &failed) < 0) {
			ml_error_print();
			rc = ML_EXIT_LAB;
		}
	}
	if (!json && rc == ML_EXIT_OK && failed == 0)
		printf("no failed cells\n");
	ml_known_clear(&known);
	ml_catalogue_clear(&cat);
	return rc;
}
