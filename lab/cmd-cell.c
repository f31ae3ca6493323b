/* `miglab cell`: run one cell and print where its results are. */
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "cell.h"
#include "cli.h"
#include "guest.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "result.h"
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
	       "  --accel tcg|kvm     accelerator (default tcg)\n"
	       "  --memory MIB        guest memory (default 256)\n"
	       "  --workload MIB      RAM integrity region in the guest (default 64)\n"
	       "  --src-arg ARG       extra QEMU argument for the source-build QEMUs (repeatable)\n"
	       "  --dst-arg ARG       extra QEMU argument for the destination QEMU (repeatable)\n"
	       "  --run-id ID         results go to RESULTS/ID (default: a new timestamped id)\n"
	       "  --boot-timeout S    seconds for the guest's first hello (default 60)\n"
	       "  --migrate-timeout S seconds for one migration (default 120)\n"
	       "  --apply-fixups      add the fixup of the known issues (matrix/known-issues.ini)\n"
	       "                      that match the builds and machine to the destination\n"
	       "  --lossless-capture  keep whole migration streams (the tap waits for its\n"
	       "                      writer; migrations get slower, figures include the tap)\n"
	       "  --no-abi            do not dump the guest-visible ABI in each phase\n"
	       "  --no-reboot         do not reset the guest on the destination (reboot-dst)\n"
	       "  --abi-severity warn|fail  what an ABI change makes the cell: a finding\n"
	       "                      (warn, the default) or a failure\n" ML_COMMON_HELP
	       "\nexit status: 0 pass or skip, 1 fail, 2 error (the lab failed) or bad usage\n");
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

/* run.json for a one-cell run (the matrix command writes a fuller one). */
static int write_run_json(const char *run_dir, const char *run_id, const struct ml_cell_spec *s,
			  const char *cell_id, const char *verdict, long long wall_ms)
{
	ml_autofree char *path = ml_path_join(run_dir, "run.json");
	ml_autofree char *now = ml_timestamp_utc();
	json_t *run = json_object();
	json_t *builds = json_object();
	int ret;

	ml_json_set_str(run, "schema", ML_RUN_SCHEMA);
	ml_json_set_str(run, "run_id", run_id);
	ml_json_set_str(run, "kind", "cell");
	ml_json_set_str(run, "finished_at", now);
	ml_json_set_str(run, "miglab_version", MIGLAB_VERSION);
	ml_json_set(run, "host", ml_host_fingerprint(s->accel));
	ml_json_set_str(run, "accel", s->accel);
	ml_json_set(builds, s->src->spec, ml_build_to_json(s->src));
	ml_json_set(builds, s->dst->spec, ml_build_to_json(s->dst));
	ml_json_set(run, "builds", builds);
	ml_json_set(run, "cells", json_pack("[{s:s, s:s}]", "cell_id", cell_id, "verdict", verdict));
	ml_json_set(run, "counts", json_pack("{s:i}", verdict, 1));
	ml_json_set_int(run, "wall_ms", wall_ms);
	ret = ml_json_write_file(path, run);
	json_decref(run);
	return ret;
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
		{ "no-abi", no_argument, NULL, 'n' },
		{ "apply-fixups", no_argument, NULL, 'F' },
		{ "lossless-capture", no_argument, NULL, 'L' },
		{ "no-reboot", no_argument, NULL, 'N' },
		{ "abi-severity", required_argument, NULL, 'V' },
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
	enum ml_verdict verdict = ML_VERDICT_ERROR;
	long long t0 = ml_now_ms();
	int opt, secs, rc = ML_EXIT_LAB;

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
			if (opt == 'S')
				src_args[n_src++] = optarg;
			else
				dst_args[n_dst++] = optarg;
			break;
		case 'r': run_id = strdup(optarg); break;
		case 'n': spec.skip_abi = true; break;
		case 'F': spec.apply_fixups = true; break;
		case 'L': spec.lossless_capture = true; break;
		case 'N': spec.skip_reboot = true; break;
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
	if (ml_build_provision(&cfg, src_spec, false, &src) < 0 ||
	    ml_build_provision(&cfg, dst_spec, false, &dst) < 0 ||
	    ml_guest_provision(cfg.cache_dir, kernel, cfg.probe_path, cfg.mirror, &guest) < 0)
		goto lab_error;

	spec.cfg = &cfg;
	spec.src = &src;
	spec.dst = &dst;
	spec.guest = &guest;
	spec.kernel_spec = kernel;
	spec.src_extra_args = n_src ? src_args : NULL;
	spec.dst_extra_args = n_dst ? dst_args : NULL;
	ml_cell_spec_defaults(&spec);
	if (!run_id)
		run_id = ml_run_id_new();
	run_dir = ml_path_join(cfg.results_dir, run_id);
	if (ml_mkdir_p(run_dir, 0755) < 0)
		goto lab_error;
	cell_id = ml_cell_id(&spec);
	fprintf(stderr, "miglab: cell %s: %s (QEMU %s) -> %s (QEMU %s), %s, kernel %s, %s\n",
		cell_id, src.spec, src.version, dst.spec, dst.version, spec.machine,
		guest.kernel_release, spec.accel);
	if (ml_cell_run(&spec, run_dir, run_id, &verdict, &cell_dir) < 0)
		goto lab_error;
	write_run_json(run_dir, run_id, &spec, cell_id, ml_verdict_str(verdict), ml_now_ms() - t0);
	{
		ml_autofree char *cj = ml_path_join(cell_dir, "cell.json");
		json_t *doc = ml_json_load_file(cj, 64 << 20);
		json_t *failure = json_object_get(doc, "failure");
		printf("%s: %s\n", ml_verdict_str(verdict), doc ? ml_json_str(doc, "reason") : "");
		if (failure && ml_json_str(failure, "evidence"))
			printf("phase %s, evidence:\n%s\n", ml_json_str(failure, "phase"),
			       ml_json_str(failure, "evidence"));
		json_decref(doc);
	}
	printf("results: %s\n", cell_dir);
	rc = verdict == ML_VERDICT_PASS || verdict == ML_VERDICT_SKIP || verdict == ML_VERDICT_XFAIL
		     ? ML_EXIT_OK
	     : verdict == ML_VERDICT_ERROR ? ML_EXIT_LAB
					   : ML_EXIT_FAIL;
	if (ml_interrupted)
		rc = 128 + ml_interrupted;
	goto out;
lab_error:
	ml_error_print();
out:
	ml_build_clear(&src);
	ml_build_clear(&dst);
	ml_guest_clear(&guest);
	ml_config_clear(&cfg);
	return rc;
}
