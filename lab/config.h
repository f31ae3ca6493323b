/* Where miglab keeps things: the cache (Debian roots, guest kernels,
 * initramfs images) and the results directory, each with a documented
 * default that a flag or an environment variable overrides. */
#ifndef ML_CONFIG_H
#define ML_CONFIG_H

struct ml_config {
	char *cache_dir;   /* --cache-dir, MIGLAB_CACHE_DIR, $XDG_CACHE_HOME/miglab, ~/.cache/miglab */
	char *results_dir; /* --results-dir, MIGLAB_RESULTS_DIR, $XDG_DATA_HOME/miglab/results,
			      ~/.local/share/miglab/results */
	char *mirror;      /* --mirror, MIGLAB_DEBIAN_MIRROR, http://deb.debian.org/debian */
	char *probe_path;  /* MIGLAB_PROBE, else the miglab-probe built beside miglab */
};

/* Fill unset fields from the environment and defaults. */
int ml_config_resolve(struct ml_config *cfg);
void ml_config_clear(struct ml_config *cfg);

#endif
