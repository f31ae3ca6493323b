/* `miglab vmstate`: the static vmstate check of a matrix (every planned
 * cell's pair) or of one pair, both directions like a cell migrates, without
 * booting a guest (see docs/vmstate.md). */
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "cli.h"
#include "matrix.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "plan.h"
#include "vmstate-dump.h"
#include "vmstate.h"
#include "ml-common.h"

static void help(void)
{
	printf("usage: miglab vmstate [OPTIONS] MATRIX\n"
	       "       miglab vmstate [OPTIONS] --src BUILD --dst BUILD --machine M\n\n"
	       "Compare the VMState descriptions (`-dump-vmstate`) of two QEMU builds for a\n"
	       "machine type, in the direction of a migration: sections, versions, fields and\n"
	       "subsections the source sends that the destination cannot load. Both directions\n"
	       "are compared, as a cell migrates there and back: the pair --src -> --dst and\n"
	       "--dst -> --src; for a matrix, every planned cell's builds and machine type.\n"
	       "No guest is booted; dumps are cached beside each build.\n\n"
	       "options:\n"
	       "  --src BUILD, --dst BUILD   providers (debian:SUITE, path:/...) of one pair\n"
	       "  --machine M         machine type of the pair (an alias resolves on the source)\n"
	       "  --one-way           the pair: only --src -> --dst, not back\n"
	       "  --guest-devices     only devices a miglab guest has (default: every device\n"
	       "                      of the binary, guest devices ranked first)\n"
	       "  --renames FILE      known renames (default: the shipped vmstate-renames.ini)\n"
	       "  --refresh           make the dumps again\n"
	       "  --json              the report as JSON\n" ML_COMMON_HELP
	       "\nexit status: 0 no error-severity difference in any direction compared, 1 one or\n"
	       "more, 2 bad input or the lab failed\n");
}

struct vm_opts {
	struct ml_vmstate_check_options check;
	bool json;
	bool one_way; /* a pair: forward only */
};

static const char *mark(const char *sev)
{
	return strcmp(sev, "error") == 0 ? "ERROR" : strcmp(sev, "warning") == 0 ? "WARNING" : "info";
}

static void print_pair(const json_t *p, const char *src_name, const char *dst_name)
{
	size_t i;
	json_t *f;

	printf("\n== %s (%s, QEMU %s) -> %s (%s, QEMU %s), %s: %lld errors, %lld warnings, "
	       "%lld info%s\n",
	       src_name, ml_json_str(p, "src"), ml_json_str(p, "src_version"), dst_name,
	       ml_json_str(p, "dst"), ml_json_str(p, "dst_version"), ml_json_str(p, "machine"),
	       ml_json_int(p, "errors", 0), ml_json_int(p, "warnings", 0),
	       ml_json_int(p, "infos", 0),
	       ml_json_bool(p, "guest_only", false) ? " (guest devices only)" : "");
	json_array_foreach(json_object_get(p, "findings"), i, f) {
		const json_t *devs = json_object_get(f, "devices");
		const char *field = ml_json_str(f, "field");
		printf("%-7s %s%s %s: %s%s%s\n", mark(ml_json_str(f, "severity")),
		       ml_json_str(f, "device"),
		       json_is_true(json_object_get(f, "guest_device")) ? " [guest]" : "",
		       ml_json_str(f, "what"), ml_json_str(f, "path"), field ? " / " : "",
		       field ? field : "");
		if (json_array_size(devs) > 1)
			printf("        (same description in %zu device types)\n", json_array_size(devs));
		printf("        src: %s; dst: %s\n",
		       ml_json_str(f, "src") ? ml_json_str(f, "src") : "-",
		       ml_json_str(f, "dst") ? ml_json_str(f, "dst") : "-");
		printf("        %s\n", ml_json_str(f, "explanation"));
	}
}

/* Compare one direction, add it to the report; -1 when it could not be done. */
static int check_direction(const struct ml_config *cfg, const struct vm_opts *o,
			   const struct ml_build *s, const char *sname, const struct ml_build *d,
			   const char *dname, const char *machine, json_t *report)
{
	json_t *p = NULL;

	if (ml_vmstate_check_pair(cfg, s, d, machine, &o->check, &p) < 0) {
		fprintf(stderr, "miglab vmstate: %s -> %s on %s: %s\n", sname, dname, machine,
			ml_error_message());
		return -1;
	}
	ml_json_set_str(p, "src_name", sname);
	ml_json_set_str(p, "dst_name", dname);
	if (!o->json)
		print_pair(p, sname, dname);
	json_array_append_new(report, p);
	return 0;
}

static int finish(const struct vm_opts *o, json_t *report, json_t *notes, bool lab_failed)
{
	long long errors = 0;
	size_t i;
	json_t *p;

	json_array_foreach(report, i, p)
		errors += ml_json_int(p, "errors", 0);
	if (o->json) {
		json_t *doc = json_pack("{s:O, s:O, s:I, s:b}", "pairs", report, "notes", notes,
					"errors", (json_int_t)errors, "complete", !lab_failed);
		char *text = json_dumps(doc, JSON_INDENT(2));
		puts(text);
		free(text);
		json_decref(doc);
	} else {
		json_array_foreach(notes, i, p)
			printf("%s\n", json_string_value(p));
		printf("\n%zu directions compared, %lld error-severity differences%s\n",
		       json_array_size(report), errors,
		       lab_failed ? "; some comparisons could not be made (see above)" : "");
	}
	if (lab_failed)
		return ML_EXIT_LAB;
	return errors ? ML_EXIT_FAIL : ML_EXIT_OK;
}

static int run_pair(const struct ml_config *cfg, const struct vm_opts *o, const char *src_spec,
		    const char *dst_spec, const char *machine)
{
	struct ml_build s = { 0 }, d = { 0 };
	json_t *report = json_array(), *notes = json_array();
	bool failed = false;
	int rc;

	if (ml_build_provision(cfg, src_spec, false, &s) < 0 ||
	    ml_build_provision(cfg, dst_spec, false, &d) < 0) {
		ml_error_print();
		rc = ML_EXIT_LAB;
		goto out;
	}
	if (!ml_build_find_machine(&s, machine) ||
	    !ml_build_find_machine(&d, ml_build_find_machine(&s, machine))) {
		fprintf(stderr, "miglab vmstate: machine type %s does not exist in %s\n", machine,
			ml_build_find_machine(&s, machine) ? dst_spec : src_spec);
		rc = ML_EXIT_LAB;
		goto out;
	}
	machine = ml_build_find_machine(&s, machine);
	failed = check_direction(cfg, o, &s, src_spec, &d, dst_spec, machine, report) < 0;
	/* a cell migrates back: the destination's stream must load on the source */
	if (!o->one_way &&
	    check_direction(cfg, o, &d, dst_spec, &s, src_spec, machine, report) < 0)
		failed = true;
	rc = finish(o, report, notes, failed);
out:
	json_decref(report);
	json_decref(notes);
	ml_build_clear(&s);
	ml_build_clear(&d);
	return rc;
}

/* The matrix's builds and plan, as `miglab plan` makes them (ml_build_provision,
 * ml_plan_expand); a build that cannot be made fails the whole check. */
static int run_matrix(const struct ml_config *cfg, const struct vm_opts *o, const char *path)
{
	struct ml_matrix m = { 0 };
	struct ml_plan plan = { 0 };
	struct ml_build *builds = NULL;
	json_t **machines = NULL;
	json_t *report = json_array(), *notes = json_array(), *done = json_object();
	bool failed = false;
	int rc = ML_EXIT_LAB;

	if (ml_matrix_load(path, &m) < 0) {
		ml_error_print();
		goto out;
	}
	builds = calloc(m.n_builds, sizeof(*builds));
	machines = calloc(m.n_builds, sizeof(*machines));
	if (!builds || !machines)
		abort();
	for (size_t i = 0; i < m.n_builds; i++) {
		if (ml_build_provision(cfg, m.builds[i].provider, o->check.refresh, &builds[i]) < 0) {
			ml_error_context("build %s (%s)", m.builds[i].name, m.builds[i].provider);
			ml_error_print();
			goto out;
		}
		fprintf(stderr, "miglab: build %-20s %-28s QEMU %s\n", m.builds[i].name,
			m.builds[i].provider, builds[i].version);
		machines[i] = builds[i].machines;
	}
	if (ml_plan_expand(&m, machines, &plan) < 0) {
		ml_error_context("planning %s", m.path);
		ml_error_print();
		goto out;
	}
	for (size_t c = 0; c < plan.n; c++) {
		const struct ml_plan_cell *pc = &plan.cells[c];
		const char *sn = m.builds[pc->src].name, *dn = m.builds[pc->dst].name;
		ml_autofree char *key = ml_strdup_printf("%zu|%zu|%s", pc->src, pc->dst, pc->machine);
		ml_autofree char *back = ml_strdup_printf("%zu|%zu|%s", pc->dst, pc->src, pc->machine);

		if (json_object_get(done, key))
			continue; /* the same pair for another kernel */
		ml_json_set(done, key, json_true());
		if (pc->skip_reason) {
			json_array_append_new(notes, json_sprintf("skip %s -> %s, %s: %s", sn, dn,
								  pc->machine, pc->skip_reason));
			continue;
		}
		if (pc->control) {
			json_array_append_new(notes, json_sprintf("control %s -> %s, %s: the same binary "
								  "on both sides, nothing to compare",
								  sn, dn, pc->machine));
			continue;
		}
		if (check_direction(cfg, o, &builds[pc->src], sn, &builds[pc->dst], dn, pc->machine,
				    report) < 0)
			failed = true;
		if (json_object_get(done, back))
			continue; /* the other cell of the pair did this direction */
		ml_json_set(done, back, json_true());
		if (check_direction(cfg, o, &builds[pc->dst], dn, &builds[pc->src], sn, pc->machine,
				    report) < 0)
			failed = true;
		if (ml_interrupted)
			break;
	}
	rc = finish(o, report, notes, failed || ml_interrupted);
out:
	json_decref(report);
	json_decref(notes);
	json_decref(done);
	ml_plan_clear(&plan);
	for (size_t i = 0; builds && i < m.n_builds; i++)
		ml_build_clear(&builds[i]);
	free(builds);
	free(machines);
	ml_matrix_clear(&m);
	return rc;
}

int cmd_vmstate(int argc, char **argv)
{
	enum { OPT_SRC = 1, OPT_DST, OPT_MACHINE, OPT_GUEST, OPT_ALL, OPT_RENAMES, OPT_REFRESH,
	       OPT_JSON, OPT_ONE_WAY };
	static const struct option opts[] = {
		{ "src", required_argument, NULL, OPT_SRC },
		{ "dst", required_argument, NULL, OPT_DST },
		{ "machine", required_argument, NULL, OPT_MACHINE },
		{ "guest-devices", no_argument, NULL, OPT_GUEST },
		{ "all-devices", no_argument, NULL, OPT_ALL },
		{ "renames", required_argument, NULL, OPT_RENAMES },
		{ "refresh", no_argument, NULL, OPT_REFRESH },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "one-way", no_argument, NULL, OPT_ONE_WAY },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	struct vm_opts o = { 0 };
	struct ml_vmstate_renames *renames = NULL;
	const char *src = NULL, *dst = NULL, *machine = NULL, *renames_path = NULL;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case OPT_SRC: src = optarg; break;
		case OPT_DST: dst = optarg; break;
		case OPT_MACHINE: machine = optarg; break;
		case OPT_GUEST: o.check.guest_only = true; break;
		case OPT_ALL: o.check.guest_only = false; break;
		case OPT_RENAMES: renames_path = optarg; break;
		case OPT_REFRESH: o.check.refresh = true; break;
		case OPT_JSON: o.json = true; break;
		case OPT_ONE_WAY: o.one_way = true; break;
		case 'h':
			help();
			ml_config_clear(&cfg);
			return ML_EXIT_OK;
		default:
			ml_config_clear(&cfg);
			return ml_cli_usage_error("vmstate", "bad option");
		}
	}
	if (src || dst || machine) {
		if (!src || !dst || !machine || optind != argc) {
			ml_config_clear(&cfg);
			return ml_cli_usage_error("vmstate", "one pair needs --src, --dst and --machine, "
							     "and no matrix");
		}
	} else if (o.one_way) {
		ml_config_clear(&cfg);
		return ml_cli_usage_error("vmstate", "--one-way is for one pair (--src, --dst); a "
						     "matrix's cells migrate both ways");
	} else if (optind + 1 != argc) {
		ml_config_clear(&cfg);
		return ml_cli_usage_error("vmstate", "one matrix file is needed (or --src, --dst "
						     "and --machine)");
	}
	renames = ml_vmstate_renames_load(renames_path ? renames_path
						       : ml_vmstate_renames_default_path());
	if (!renames) {
		ml_error_print();
		ml_config_clear(&cfg);
		return ML_EXIT_LAB;
	}
	o.check.renames = renames;
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		rc = ML_EXIT_LAB;
	} else if (src) {
		rc = run_pair(&cfg, &o, src, dst, machine);
	} else {
		rc = run_matrix(&cfg, &o, argv[optind]);
	}
	ml_vmstate_renames_free(renames);
	ml_config_clear(&cfg);
	return rc;
}
