/* Directory and mirror defaults (see config.h and docs/configuration.md). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-common.h"

static char *env_or_default(const char *env, const char *xdg, const char *home_rel,
			    const char *suffix)
{
	const char *v = getenv(env);
	const char *home;
	char buf[PATH_MAX];

	if (v && *v)
		return strdup(v);
	v = getenv(xdg);
	if (v && *v && v[0] == '/') {
		snprintf(buf, sizeof(buf), "%s/%s", v, suffix);
		return strdup(buf);
	}
	home = getenv("HOME");
	if (!home || !*home)
		home = "/root";
	snprintf(buf, sizeof(buf), "%s/%s/%s", home, home_rel, suffix);
	return strdup(buf);
}

static char *default_probe_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *candidates[] = { "miglab-probe", "../guests/probe/miglab-probe",
				     "../libexec/miglab/miglab-probe" };
	char *slash;

	if (n <= 0)
		return NULL;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	for (size_t i = 0; i < ML_ARRAY_SIZE(candidates); i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", self, candidates[i]);
		if (access(path, X_OK) == 0)
			return realpath(path, NULL);
	}
	return NULL;
}

int ml_config_resolve(struct ml_config *cfg)
{
	if (!cfg->cache_dir)
		cfg->cache_dir = env_or_default("MIGLAB_CACHE_DIR", "XDG_CACHE_HOME", ".cache", "miglab");
	if (!cfg->results_dir)
		cfg->results_dir = env_or_default("MIGLAB_RESULTS_DIR", "XDG_DATA_HOME",
						  ".local/share", "miglab/results");
	if (!cfg->mirror) {
		const char *m = getenv("MIGLAB_DEBIAN_MIRROR");
		cfg->mirror = strdup(m && *m ? m : "http://deb.debian.org/debian");
	}
	if (!cfg->probe_path) {
		const char *p = getenv("MIGLAB_PROBE");
		cfg->probe_path = p && *p ? strdup(p) : default_probe_path();
	}
	if (!cfg->cache_dir || !cfg->results_dir || !cfg->mirror) {
		ml_error("out of memory");
		return -1;
	}
	return 0;
}

void ml_config_clear(struct ml_config *cfg)
{
	free(cfg->cache_dir);
	free(cfg->results_dir);
	free(cfg->mirror);
	free(cfg->probe_path);
	memset(cfg, 0, sizeof(*cfg));
}
