/* A private apt "sandbox" per Debian suite: the host's apt-get/apt-cache run
 * with -o Dir=... options against their own sources.list, lists, archives and
 * an empty dpkg status under <cache>/apt/<suite>/, so miglab can look up and
 * download any suite's packages without touching the host's apt state.
 *
 * The host's /etc/apt/apt.conf.d is not read (APT_CONFIG points at the
 * sandbox's own apt.conf, which moves Dir before apt looks for config parts),
 * so host settings such as docker images' "no package cache" do not leak in.
 *
 * Invariants: the sandbox directory is only used while its lock is held (taken
 * by ml_apt_open, released by ml_apt_close), so two miglab processes never run
 * apt on the same sandbox at once. Every external command runs from an argv
 * array with a timeout; errors name the suite, the package and an excerpt of
 * apt's own stderr. */
#ifndef ML_APT_H
#define ML_APT_H

#include <stdbool.h>
#include <stddef.h>

#define ML_APT_DEFAULT_MIRROR "http://deb.debian.org/debian"
/* Lists older than this are refreshed by ml_apt_update(). */
#define ML_APT_LISTS_MAX_AGE_S (6 * 3600)

struct ml_apt {
	char *suite;  /* "bookworm-backports" */
	char *mirror; /* "http://deb.debian.org/debian" */
	char *root;   /* <cache>/apt/<suite> */
	char **opts;  /* the "-o" arguments given to every apt command */
	size_t n_opts;
	char *env_apt_config; /* "APT_CONFIG=<root>/apt.conf": no host apt configuration */
	int lock_fd;  /* flock on <root>/lock, held until ml_apt_close */
};

/* A suite name is [a-z0-9.-]+ (it names a directory and goes into sources.list). */
bool ml_apt_suite_valid(const char *suite);

/* Create (or reuse) the sandbox of suite under cache_dir and lock it (waiting
 * up to 15 minutes for another miglab process). mirror NULL means
 * ML_APT_DEFAULT_MIRROR. "X-backports" uses the sources X and X-backports and
 * prefers X-backports (APT::Default-Release). */
int ml_apt_open(const char *cache_dir, const char *suite, const char *mirror,
		struct ml_apt *apt);
void ml_apt_close(struct ml_apt *apt);

/* Refresh the package lists when they are older than ML_APT_LISTS_MAX_AGE_S,
 * or always when force. If the refresh fails but lists from an earlier one
 * exist, print a warning on stderr and return 0. A suite the mirror does not
 * have is reported as "unknown Debian suite 'X' (...)". */
int ml_apt_update(struct ml_apt *apt, bool force);

/* The fields of the candidate version of package (apt-cache show
 * --no-all-versions), as a NUL-terminated stanza; caller frees. */
int ml_apt_show(struct ml_apt *apt, const char *package, char **stanza);

/* The value of field in an RFC 822 stanza, continuation lines joined with
 * one space; caller frees. NULL (no error reported) when absent. */
char *ml_apt_stanza_field(const char *stanza, const char *field);

/* Package names of a Depends-style value: "a (>= 1), b | c" -> {a, b, c}
 * (alternatives included, version constraints and :arch dropped). Returns a
 * NULL-terminated array (free with ml_apt_strv_free) and its length. */
char **ml_apt_parse_depends(const char *value, size_t *n);
void ml_apt_strv_free(char **v);

/* Candidate version of package ("6.1.158-1"); caller frees. An error names
 * the package and the suite when it has no candidate. */
int ml_apt_candidate(struct ml_apt *apt, const char *package, char **version);

/* Resolve a kernel meta package such as "linux-image-amd64" to the concrete
 * package it depends on ("linux-image-6.1.0-41-amd64"), that package's
 * candidate version, and the kernel release (uname -r, "6.1.0-41-amd64").
 * Any out parameter may be NULL. */
int ml_apt_resolve_kernel(struct ml_apt *apt, const char *meta, char **package,
			  char **version, char **release);

/* Download the candidate of package into dir (created if needed) and return
 * the .deb's path (caller frees). A .deb already there whose sha256 matches
 * the archive's is reused without a download. */
int ml_apt_download(struct ml_apt *apt, const char *package, const char *dir,
		    char **deb_path);

/* Extract a .deb's files into dir (dpkg-deb -x). */
int ml_apt_extract(const char *deb_path, const char *dir);

#endif
