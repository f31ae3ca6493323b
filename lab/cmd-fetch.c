/* `miglab fetch`: make (or check and reuse) QEMU builds and guest kernels. */
#include <stdio.h>
#include <string.h>

#include "build.h"
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
	       "forky, testing, sid, unstable) or path:/path/to/qemu-system-x86_64.\n\n"
	       "options:\n"
	       "  --kernel debian:SUITE  a guest kernel to prepare (repeatable)\n"
	       "  --refresh           rebuild even what is cached\n" ML_COMMON_HELP,
	       default_builds[0], default_builds[1], default_builds[2], default_builds[3],
	       default_kernels[0]);
}

int cmd_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "refresh", no_argument, NULL, 'r' },
		ML_COMMON_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ml_config cfg = { 0 };
	const char *kernels[32];
	size_t n_kernels = 0;
	bool refresh = false;
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
