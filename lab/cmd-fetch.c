/* `miglab fetch`: make (or check and reuse) QEMU builds and guest kernels. */
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "ml-json.h"
#include "source-build.h"
#include "cli.h"
#include "guest.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-proc.h"
#include "ml-common.h"

static const char *const default_builds[] = { "debian:bookworm", "debian:bookworm-backports",
					      "debian:trixie", "debian:sid", NULL };
static const char *const default_kernels[] = { "debian:bookworm", NULL };

static void help(void)
{
	printf("usage: miglab fetch [OPTIONS] [BUILD...]\n\n"
	       "Make the QEMU builds (default: %s, %s, %s, %s) and guest kernels\n"
	       "(default: %s) ready in the cache. A cached build whose manifest matches its\n"
	       "files is reused; a missing, partial or damaged one is rebuilt.\n\n"
	       "BUILD is debian:SUITE (bookworm, bookworm-backports, trixie, trixie-backports,\n"
	       "forky, testing, sid, unstable), path:/path/to/qemu-system-x86_64, or QEMU\n"
	       "built from source: git:DIR@REF or debian-source:VERSION, each optionally\n"
	       "followed by +patch:/abs/file.patch (repeatable; docs/builds.md).\n\n"
	       "options:\n"
	       "  --kernel debian:SUITE  a guest kernel to prepare (repeatable)\n"
	       "  --refresh           rebuild even what is cached\n"
	       "  --json              print each build's manifest (build.json) as a JSON line\n"
	       "  --export-source DIR write the source tree of the one BUILD given (git: or\n"
	       "                      debian-source:, patches applied) to DIR as a new git\n"
	       "                      repository with one commit, and build nothing\n" ML_COMMON_HELP,
	       default_builds[0], default_builds[1], default_builds[2], default_builds[3],
	       default_kernels[0]);
}

int cmd_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "refresh", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "export-source", required_argument, NULL, 'x' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	const char *kernels[32];
	size_t n_kernels = 0;
	bool refresh = false, json = false;
	const char *export_dir = NULL;
	int opt, rc = ML_EXIT_OK;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ml_cli_common_option(opt, optarg, &cfg))
			continue;
		switch (opt) {
		case 'k':
			if (n_kernels == ML_ARRAY_SIZE(kernels))
				return ml_cli_usage_error("fetch", "too many --kernel options");
			kernels[n_kernels++] = optarg;
			break;
		case 'r':
			refresh = true;
			break;
		case 'j':
			json = true;
			break;
		case 'x':
			export_dir = optarg;
			break;
		case 'h':
			help();
			return ML_EXIT_OK;
		default:
			return ml_cli_usage_error("fetch", "bad option");
		}
	}
	if (ml_config_resolve(&cfg) < 0) {
		ml_error_print();
		return ML_EXIT_LAB;
	}
	if (export_dir) {
		if (argc - optind != 1 || !ml_source_spec_is_source(argv[optind]))
			return ml_cli_usage_error("fetch", "--export-source takes exactly one git: or "
						  "debian-source: build");
		rc = ml_source_export(&cfg, argv[optind], export_dir) < 0 ? ML_EXIT_LAB : ML_EXIT_OK;
		if (rc)
			ml_error_print();
		ml_config_clear(&cfg);
		return rc;
	}
	if (n_kernels == 0)
		for (; default_kernels[n_kernels]; n_kernels++)
			kernels[n_kernels] = default_kernels[n_kernels];

	printf("%-28s %-9s %-36s %s\n", "build", "qemu", "package", "sha256");
	for (int i = optind; i < argc || (optind == argc && default_builds[i - optind]); i++) {
		const char *spec = optind == argc ? default_builds[i - optind] : argv[i];
		struct ml_build b;
		long long t0 = ml_now_ms();

		if (ml_build_provision(&cfg, spec, refresh, &b) < 0) {
			ml_error_print();
			rc = ML_EXIT_LAB;
			continue;
		}
		printf("%-28s %-9s %-36s %.16s (%.1f s)\n", b.spec, b.version,
		       b.package_version ? b.package_version : "-", b.sha256,
		       (double)(ml_now_ms() - t0) / 1000.0);
		if (b.source)
			printf("  %s, commit %.12s, key %s: %s\n", ml_json_str(b.source, "describe"),
			       ml_json_str(b.source, "commit"), ml_json_str(b.source, "key"), b.dir);
		if (json) {
			json_t *m = ml_build_to_json(&b);
			ml_autofree char *text = NULL;
			json_object_del(m, "packages");
			ml_json_set_str(m, "dir", b.dir);
			text = json_dumps(m, JSON_COMPACT);
			printf("%s\n", text);
			json_decref(m);
		}
		ml_build_clear(&b);
	}
	if (!cfg.probe_path) {
		ml_error("cannot find the miglab-probe agent beside miglab; set MIGLAB_PROBE");
		ml_error_print();
		ml_config_clear(&cfg);
		return ML_EXIT_LAB;
	}
	printf("\n%-28s %-26s %s\n", "kernel", "release", "initrd sha256");
	for (size_t i = 0; i < n_kernels; i++) {
		struct ml_guest g;
		long long t0 = ml_now_ms();

		if (ml_guest_provision(cfg.cache_dir, kernels[i], cfg.probe_path, cfg.mirror, &g) < 0) {
			ml_error_print();
			rc = ML_EXIT_LAB;
			continue;
		}
		printf("%-28s %-26s %.16s (%.1f s)\n", kernels[i], g.kernel_release, g.initrd_sha256,
		       (double)(ml_now_ms() - t0) / 1000.0);
		ml_guest_clear(&g);
	}
	printf("\ncache: %s\n", cfg.cache_dir);
	ml_config_clear(&cfg);
	return rc;
}
