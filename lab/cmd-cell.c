/* `miglab cell`: run one cell and print where its results are. */
#include <stdio.h>
#include <string.h>

#include "attempts.h"
#include "build.h"
#include "cell.h"
#include "cli.h"
#include "guest.h"
#include "judge.h"
#include "known.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-layout.h"
#include "ml-proc.h"
#include "result.h"
#include "run-file.h"
#include "saved-state.h"
#include "ml-common.h"

#define MAX_EXTRA 64

static void help(void)
{
	printf("usage: miglab cell --src BUILD --dst BUILD --machine MACHINE [OPTIONS]\n\n"
	       "Boot a guest on the source build, migrate it live to the destination build,\n"
	       "verify it, migrate it back to a fresh source-build QEMU, verify again. Prints\n"
	       "the verdict and the directory of the cell's results.\n\n"
	       "options:\n"
	       "  --src BUILD         source build: debian:SUITE or path:/.../qemu-system-x86_64\n"
	       "  --dst BUILD         destination build\n"
	       "  --machine NAME      machine type, e.g. pc-q35-7.2 (aliases like q35 resolve per build)\n"
	       "  --kernel debian:SUITE  guest kernel (default debian:bookworm)\n"
	       "  --kernel-boot auto|pvh|bzimage  pvh: boot the ELF kernel inside vmlinuz at\n"
	       "                      its PVH entry (no real-mode setup, no decompression);\n"
	       "                      bzimage: boot vmlinuz as shipped; auto (default): pvh\n"
	       "                      when the kernel and both builds can, else bzimage\n"
	       "  --boot saved|cold   saved (default): boot the source guest once per build,\n"
	       "                      machine and kernel, save it, and start each cell's source\n"
	       "                      from it; cold: boot it in every cell (docs/saved-state.md)\n"
	       "  --saved-dir DIR     keep saved guests in DIR and reuse them in later cells\n"
	       "                      (default: the run's own, removed when it ends)\n"
	       "  --accel tcg|kvm     accelerator (default tcg)\n"
	       "  --memory MIB        guest memory (default 256)\n"
	       "  --workload MIB      RAM integrity region in the guest (default 64)\n"
	       "  --src-arg ARG       extra QEMU argument for the source-build QEMUs (repeatable)\n"
	       "  --dst-arg ARG       extra QEMU argument for the destination QEMU (repeatable)\n"
	       "  --run-id ID         results go to RESULTS/ID (default: a new timestamped id)\n"
	       "  --boot-timeout S    seconds for the guest's first hello (default 60)\n"
	       "  --migrate-timeout S seconds for one migration (default 120)\n"
	       "  --max-bandwidth MIB migration bandwidth cap in MiB/s (default: 8 GiB/s,\n"
	       "                      what loopback gives); a small one slows migrations\n"
	       "  --apply-fixups      add the fixup of the known issues (matrix/known-issues.ini)\n"
	       "                      that match the builds and machine to the destination\n"
	       "  --confirm N         a cell that does not pass runs again up to N more times,\n"
	       "                      capturing streams losslessly (default %d)\n"
	       "  --lossless-capture  keep whole migration streams (the tap waits for its\n"
	       "                      writer; migrations get slower, figures include the tap)\n"
	       "  --no-abi            do not dump the guest-visible ABI in each phase\n"
	       "  --no-reboot         do not reset the guest on the destination (reboot-dst)\n"
	       "  --abi-severity warn|fail  warn (default): ABI differences ranked by kind\n"
	       "                      (results/abi-kinds.txt; a feature lost under the running\n"
	       "                      guest fails); fail: any ABI difference fails the cell\n"
	       "  --baselines DIR     also judge boot-src and reboot-dst against the ABI\n"
	       "                      baselines in DIR (`miglab baseline record`)\n" ML_COMMON_HELP
	       "\nexit status: 0 pass, skip or xfail, 1 fail or xpass, 2 error (the lab failed)\n"
	       "or bad usage\n", ML_CONFIRM_DEFAULT);
}

static int parse_positive(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v <= 0 || v > 1000000)
		return -1;
	*out = (int)v;
	return 0;
}

/* The facts of a one-cell run for run.json; the judging stage adds the rest. */
static json_t *run_facts(const char *run_id, const struct ml_cell_spec *s, long long wall_ms)
{
	ml_autofree char *now = ml_timestamp_utc();
	json_t *run = json_object();
	json_t *builds = json_object();

	ml_json_set_str(run, "schema", ML_RUN_SCHEMA);
	ml_json_set_str(run, "run_id", run_id);
	ml_json_set_str(run, "kind", "cell");
	ml_json_set_str(run, "state", "done");
	ml_json_set_str(run, "finished_at", now);
	ml_json_set_str(run, "miglab_version", MIGLAB_VERSION);
	ml_json_set(run, "host", ml_host_fingerprint(s->accel));
	ml_json_set_str(run, "accel", s->accel);
	ml_json_set(builds, s->src->spec, ml_build_to_json(s->src));
	ml_json_set(builds, s->dst->spec, ml_build_to_json(s->dst));
	ml_json_set(run, "builds", builds);
	ml_json_set_int(run, "wall_ms", wall_ms);
	return run;
}

/* --apply-fixups: the known issues that match this cell's builds and machine
 * type (whatever their failure class) lend their fixup arguments to the
 * destination, so a listed breakage can be checked against its workaround.
 * args has room for MAX_EXTRA arguments. */
static int apply_fixups(struct ml_cell_spec *spec, const char **args, size_t *n)
{
	struct ml_known known;
	const struct ml_known_issue *issue;
	const char *machine = ml_build_find_machine(spec->src, spec->machine);
	json_t *stub;

	if (ml_known_load(NULL, &known) < 0)
		return ml_error_context("known issues");
	stub = json_pack("{s:{s:O, s:O}, s:s}", "inputs", "src", ml_build_to_json(spec->src), "dst",
			 ml_build_to_json(spec->dst), "machine", machine ? machine : spec->machine);
	issue = ml_known_match(&known, stub, NULL);
	json_decref(stub);
	spec->fixups_applied = json_array();
	for (size_t i = 0; issue && issue->fixup_argv && issue->fixup_argv[i]; i++) {
		if (*n == MAX_EXTRA) {
			ml_known_clear(&known);
			ml_error("too many destination arguments with the fixup of %s", issue->id);
			return -1;
		}
		args[(*n)++] = strdup(issue->fixup_argv[i]); /* lives as long as the command */
	}
	if (issue)
		json_array_append_new(spec->fixups_applied, ml_known_issue_to_json(issue));
	ml_known_clear(&known);
	return 0;
}

int cmd_cell(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "machine", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "accel", required_argument, NULL, 'a' },
		{ "memory", required_argument, NULL, 'M' },
		{ "workload", required_argument, NULL, 'W' },
		{ "src-arg", required_argument, NULL, 'S' },
		{ "dst-arg", required_argument, NULL, 'D' },
		{ "run-id", required_argument, NULL, 'r' },
		{ "boot-timeout", required_argument, NULL, 'B' },
		{ "migrate-timeout", required_argument, NULL, 'T' },
		{ "max-bandwidth", required_argument, NULL, 'w' },
		{ "no-abi", no_argument, NULL, 'n' },
		{ "apply-fixups", no_argument, NULL, 'F' },
		{ "lossless-capture", no_argument, NULL, 'L' },
		{ "confirm", required_argument, NULL, 'C' },
		{ "no-reboot", no_argument, NULL, 'N' },
		{ "abi-severity", required_argument, NULL, 'V' },
		{ "baselines", required_argument, NULL, 'b' },
		{ "kernel-boot", required_argument, NULL, 'K' },
		{ "boot", required_argument, NULL, 'O' },
		{ "saved-dir", required_argument, NULL, 'A' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	struct ml_cell_spec spec = { 0 };
	struct ml_build src = { 0 }, dst = { 0 };
	struct ml_guest guest = { 0 };
	const char *src_spec = NULL, *dst_spec = NULL, *kernel = "debian:bookworm";
	const char *src_args[MAX_EXTRA + 1] = { 0 }, *dst_args[MAX_EXTRA + 1] = { 0 };
	size_t n_src = 0, n_dst = 0;
	ml_autofree char *run_id = NULL;
	ml_autofree char *run_dir = NULL;
	ml_autofree char *cell_dir = NULL;
	ml_autofree char *cell_id = NULL;
	ml_autofree char *boot_why = NULL;
	const char *boot = NULL;
	struct ml_judge_rules rules = { 0 };
	json_t *doc = NULL, *facts = NULL;
	bool fixups = false;
	long long t0 = ml_now_ms();
	int opt, secs, ret, confirm = ML_CONFIRM_DEFAULT, rc = ML_EXIT_LAB;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 's': src_spec = optarg; break;
		case 'd': dst_spec = optarg; break;
		case 'm': spec.machine = optarg; break;
		case 'k': kernel = optarg; break;
		case 'a':
			if (strcmp(optarg, "tcg") != 0 && strcmp(optarg, "kvm") != 0)
				return ml_cli_usage_error("cell", "--accel must be tcg or kvm, not '%s'", optarg);
			spec.accel = optarg;
			break;
		case 'M':
			if (parse_positive(optarg, &spec.memory_mib) < 0 || spec.memory_mib < 64)
				return ml_cli_usage_error("cell", "--memory needs a number of MiB >= 64, not '%s'", optarg);
			break;
		case 'W':
			if (parse_positive(optarg, &spec.workload_mib) < 0)
				return ml_cli_usage_error("cell", "--workload needs a positive number of MiB, not '%s'", optarg);
			break;
		case 'S':
		case 'D':
			if ((opt == 'S' ? n_src : n_dst) == MAX_EXTRA)
				return ml_cli_usage_error("cell", "too many --%s-arg options", opt == 'S' ? "src" : "dst");
			{
				/* QEMU arguments are text, recorded in cell.json as they ran. */
				size_t bad = 0;
				if (!ml_utf8_valid(optarg, &bad))
					return ml_cli_usage_error("cell", "--%s-arg is not valid UTF-8 (byte 0x%02x at offset %zu)",
								  opt == 'S' ? "src" : "dst", (unsigned char)optarg[bad], bad);
			}
			if (opt == 'S')
				src_args[n_src++] = optarg;
			else
				dst_args[n_dst++] = optarg;
			break;
		case 'r': run_id = strdup(optarg); break;
		case 'w':
			if (parse_positive(optarg, &spec.max_bandwidth_mib) < 0 || spec.max_bandwidth_mib > 1048576)
				return ml_cli_usage_error("cell", "--max-bandwidth needs a number of MiB/s from 1 to "
							  "1048576, not '%s'", optarg);
			break;
		case 'n': spec.skip_abi = true; break;
		case 'F': fixups = true; break;
		case 'C': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 0 || v > ML_CONFIRM_MAX)
				return ml_cli_usage_error("cell", "--confirm needs a number from 0 to %d, not '%s'",
							  ML_CONFIRM_MAX, optarg);
			confirm = (int)v;
			break;
		}
		case 'L': spec.lossless_capture = true; break;
		case 'N': spec.skip_reboot = true; break;
		case 'K':
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "pvh") != 0 &&
			    strcmp(optarg, "bzimage") != 0)
				return ml_cli_usage_error("cell", "--kernel-boot must be auto, pvh or bzimage, not '%s'", optarg);
			spec.kernel_boot = optarg;
			break;
		case 'O':
			if (strcmp(optarg, "saved") != 0 && strcmp(optarg, "cold") != 0)
				return ml_cli_usage_error("cell", "--boot must be saved or cold, not '%s'", optarg);
			spec.boot = optarg;
			break;
		case 'A':
			if (!*optarg)
				return ml_cli_usage_error("cell", "--saved-dir needs a directory");
			spec.saved_dir = optarg;
			break;
		case 'b':
			if (!ml_is_dir(optarg))
				return ml_cli_usage_error("cell", "--baselines %s: not a directory", optarg);
			spec.abi_baselines = optarg;
			break;
		case 'V':
			if (strcmp(optarg, "fail") != 0 && strcmp(optarg, "warn") != 0)
				return ml_cli_usage_error("cell", "--abi-severity must be fail or warn, not '%s'", optarg);
			spec.abi_severity = optarg;
			break;
		case 'B':
		case 'T':
			if (parse_positive(optarg, &secs) < 0)
				return ml_cli_usage_error("cell", "a timeout needs a positive number of seconds, not '%s'", optarg);
			*(opt == 'B' ? &spec.boot_timeout_ms : &spec.migrate_timeout_ms) = secs * 1000;
			break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("cell", "bad option");
		}
	}
	if (optind != argc)
		return ml_cli_usage_error("cell", "unexpected argument '%s'", argv[optind]);
	if (!src_spec || !dst_spec || !spec.machine)
		return ml_cli_usage_error("cell", "--src, --dst and --machine are required");
	if (spec.workload_mib && spec.memory_mib && spec.workload_mib > spec.memory_mib / 2)
		return ml_cli_usage_error("cell", "--workload must be at most half of --memory");
	if (run_id && (strchr(run_id, '/') || run_id[0] == '.' || !*run_id))
		return ml_cli_usage_error("cell", "--run-id must be a plain name, not '%s'", run_id);
	/* Check both providers before the slow work, so a typo fails at once. */
	if (ml_build_parse(src_spec, &src) < 0 || (ml_build_clear(&src), 0) ||
	    ml_build_parse(dst_spec, &dst) < 0 || (ml_build_clear(&dst), 0)) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	{
		char *suite = NULL;
		if (ml_guest_parse_provider(kernel, &suite) < 0) {
			ml_error_print();
			return ML_EXIT_LAB;
		}
		free(suite);
	}
	if (ml_config_resolve(&cfg) < 0)
		goto lab_error;
	if (!cfg.probe_path) {
		ml_error("cannot find the miglab-probe agent beside miglab; set MIGLAB_PROBE");
		goto lab_error;
	}
	if (ml_judge_rules_load(&rules) < 0)
		goto lab_error;
	if (ml_build_provision(&cfg, src_spec, false, &src) < 0 ||
	    ml_build_provision(&cfg, dst_spec, false, &dst) < 0 ||
	    ml_guest_provision(cfg.cache_dir, kernel, cfg.probe_path, cfg.mirror, &guest) < 0)
		goto lab_error;

	spec.cfg = &cfg;
	spec.src = &src;
	spec.dst = &dst;
	spec.guest = &guest;
	spec.kernel_spec = kernel;
	if (fixups && apply_fixups(&spec, dst_args, &n_dst) < 0)
		goto lab_error;
	spec.src_extra_args = n_src ? src_args : NULL;
	spec.dst_extra_args = n_dst ? dst_args : NULL;
	ml_cell_spec_defaults(&spec);
	/* --kernel-boot pvh that cannot be is an error before anything runs */
	if (ml_cell_kernel_boot(&spec, &boot, &boot_why) < 0)
		goto lab_error;
	{
		char *given = run_id;
		run_id = NULL;
		if (ml_run_dir_create(cfg.results_dir, given, &run_id, &run_dir) < 0) {
			free(given);
			goto lab_error;
		}
		free(given);
	}
	cell_id = ml_cell_id(&spec);
	fprintf(stderr, "miglab: cell %s: %s (QEMU %s) -> %s (QEMU %s), %s, kernel %s (%s boot%s%s), %s\n",
		cell_id, src.spec, src.version, dst.spec, dst.version, spec.machine,
		guest.kernel_release, boot, boot_why ? ": " : "", boot_why ? boot_why : "", spec.accel);
	ret = ml_cell_run_confirmed(&spec, run_dir, run_id, confirm, &rules, &doc);
	if (!spec.saved_dir)
		ml_saved_remove_run(run_dir);
	if (ret < 0)
		goto lab_error;
	/* run.json: this run's facts, then the judgement of all its cells. */
	facts = run_facts(run_id, &spec, ml_now_ms() - t0);
	if (ml_run_file_write(run_dir, facts, NULL) < 0 || ml_judge_run(&rules, run_dir, NULL) < 0)
		goto lab_error;
	json_decref(doc);
	cell_dir = ml_layout_cell_dir(run_dir, cell_id);
	{
		ml_autofree char *cj = ml_path_join(cell_dir, ML_LAYOUT_CELL_FILE);
		doc = ml_json_load_file(cj, 64 << 20);
	}
	if (!doc)
		goto lab_error;
	{
		json_t *failure = json_object_get(doc, "failure");
		json_t *dir = json_object_get(failure, "direction");
		/* Reasons and evidence quote the guest and QEMU: no escape
		 * sequences reach the terminal. */
		ml_autofree char *reason = ml_text_safe(ml_json_str(doc, "reason"), true);
		ml_autofree char *evidence = ml_text_safe(ml_json_str(failure, "evidence"), true);
		printf("%s: %s\n", ml_json_str(doc, "verdict"), reason);
		if (json_array_size(json_object_get(doc, "attempts")) > 1)
			printf("attempts: %s\n", ml_json_str(json_object_get(doc, "repeat"), "text"));
		if (ml_json_str(failure, "class"))
			printf("class: %s (%s)\n", ml_json_str(failure, "class"), ml_json_str(failure, "title"));
		if (dir)
			printf("direction: %s\n", ml_json_str(dir, "text"));
		if (failure && ml_json_str(failure, "evidence"))
			printf("phase %s, evidence:\n%s\n", ml_json_str(failure, "phase"), evidence);
	}
	printf("results: %s\n", cell_dir);
	rc = ml_verdict_exit_status(ml_json_str(doc, "verdict"));
	if (ml_interrupted)
		rc = 128 + ml_interrupted;
	goto out;
lab_error:
	ml_error_print();
out:
	json_decref(doc);
	json_decref(facts);
	json_decref(spec.fixups_applied);
	ml_judge_rules_clear(&rules);
	ml_build_clear(&src);
	ml_build_clear(&dst);
	ml_guest_clear(&guest);
	ml_config_clear(&cfg);
	return rc;
}
