/* Private apt sandboxes per Debian suite (see ml-apt.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "ml-apt.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-proc.h"
#include "ml-common.h"

extern char **environ;

#define APT_GET "/usr/bin/apt-get"
#define APT_CACHE "/usr/bin/apt-cache"
#define DPKG_DEB "/usr/bin/dpkg-deb"

#define UPDATE_TIMEOUT_MS (5 * 60 * 1000)
#define QUERY_TIMEOUT_MS (2 * 60 * 1000)
#define DOWNLOAD_TIMEOUT_MS (30 * 60 * 1000)
#define EXTRACT_TIMEOUT_MS (10 * 60 * 1000)
#define LOCK_WAIT_MS (15 * 60 * 1000)

/* apt's stderr is read into this much at most; the excerpt is shorter. */
#define STDERR_CAP (1 << 20)
#define EXCERPT_MAX 600

bool ml_apt_suite_valid(const char *suite)
{
	if (!suite || !*suite || strlen(suite) > 64 || suite[0] == '.' || suite[0] == '-')
		return false;
	for (const char *p = suite; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.'))
			return false;
	return strstr(suite, "..") == NULL;
}

static bool mirror_valid(const char *mirror)
{
	if (strncmp(mirror, "http://", 7) != 0 && strncmp(mirror, "https://", 8) != 0 &&
	    strncmp(mirror, "file:/", 6) != 0)
		return false;
	for (const char *p = mirror; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '[' || *p == ']' || *p == '#')
			return false;
	return true;
}

/* The interesting part of apt's stderr for an error message: its "E:" and
 * "W:" lines, or else its tail; at most EXCERPT_MAX bytes, one line. */
static void stderr_excerpt(const struct ml_buf *err, char *out, size_t len)
{
	const char *data = err->data ? err->data : "";
	struct ml_buf b = ML_BUF_INIT(EXCERPT_MAX * 4);
	const char *line = data;

	while (*line) {
		const char *eol = strchr(line, '\n');
		size_t l = eol ? (size_t)(eol - line) : strlen(line);
		if (l > 3 && (strncmp(line, "E: ", 3) == 0 || strncmp(line, "W: ", 3) == 0)) {
			if (b.len)
				ml_buf_puts(&b, " / ");
			ml_buf_append(&b, line, l);
		}
		line += l + (eol ? 1 : 0);
	}
	if (!b.len) {
		size_t n = err->len;
		const char *tail = data + (n > EXCERPT_MAX ? n - EXCERPT_MAX : 0);
		ml_buf_puts(&b, tail);
	}
	snprintf(out, len, "%s", b.data ? b.data : "(no output)");
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	/* trim trailing blanks */
	for (size_t n = strlen(out); n && out[n - 1] == ' '; n--)
		out[n - 1] = '\0';
	if (!*out)
		snprintf(out, len, "(no output)");
	ml_buf_free(&b);
}

static void add_opt(struct ml_apt *apt, const char *key, const char *value)
{
	char *s = NULL;
	if (asprintf(&s, "%s=%s", key, value) < 0)
		abort();
	apt->opts = realloc(apt->opts, (apt->n_opts + 2) * sizeof(*apt->opts));
	if (!apt->opts)
		abort();
	apt->opts[apt->n_opts++] = strdup("-o");
	apt->opts[apt->n_opts++] = s;
	if (!apt->opts[apt->n_opts - 2])
		abort();
}

static int lock_sandbox(struct ml_apt *apt)
{
	ml_autofree char *path = ml_path_join(apt->root, "lock");
	ml_autofree char *what = ml_strdup_printf("the apt sandbox of Debian suite '%s' (%s)", apt->suite, apt->root);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0) {
		ml_error_errno(errno, "cannot open %s", path);
		return -1;
	}
	if (ml_flock_wait(fd, LOCK_EX, what, LOCK_WAIT_MS) < 0) {
		close(fd);
		return -1;
	}
	apt->lock_fd = fd;
	return 0;
}

static int write_sources(struct ml_apt *apt)
{
	ml_autobuf struct ml_buf src = ML_BUF_INIT(4096);
	ml_autofree char *path = ml_path_join(apt->root, "etc/apt/sources.list");
	size_t sl = strlen(apt->suite);
	const char *bp = "-backports";
	size_t bl = strlen(bp);

	ml_buf_printf(&src, "# written by miglab for Debian suite %s\n", apt->suite);
	if (sl > bl && strcmp(apt->suite + sl - bl, bp) == 0)
		ml_buf_printf(&src, "deb %s %.*s main\n", apt->mirror, (int)(sl - bl), apt->suite);
	ml_buf_printf(&src, "deb %s %s main\n", apt->mirror, apt->suite);
	return ml_write_atomic(path, src.data, src.len, 0644);
}

/* Read through APT_CONFIG before anything else: moving Dir here makes apt
 * look for apt.conf.d inside the sandbox instead of the host's /etc/apt. */
static int write_apt_conf(struct ml_apt *apt)
{
	ml_autobuf struct ml_buf conf = ML_BUF_INIT(4096);
	ml_autofree char *path = ml_path_join(apt->root, "apt.conf");

	if (strpbrk(apt->root, "\"\n\\")) {
		ml_error("the cache path %s cannot be used in an apt configuration", apt->root);
		return -1;
	}
	ml_buf_puts(&conf, "// written by miglab: this apt sandbox reads no host configuration\n");
	ml_buf_printf(&conf, "Dir \"%s/\";\n", apt->root);
	/* keep the binary cache (each apt-cache call is ~1 s faster with it),
	 * not its source twin, and keep the package lists compressed: a
	 * sandbox holds ~60 MB instead of ~160 MB */
	ml_buf_puts(&conf, "Dir::Cache::pkgcache \"pkgcache.bin\";\n"
			   "Dir::Cache::srcpkgcache \"\";\n"
			   "Acquire::GzipIndexes \"true\";\n"
			   "Acquire::CompressionTypes::Order { \"gz\"; };\n");
	if (asprintf(&apt->env_apt_config, "APT_CONFIG=%s", path) < 0)
		abort();
	return ml_write_atomic(path, conf.data, conf.len, 0644);
}

int ml_apt_open(const char *cache_dir, const char *suite, const char *mirror,
		struct ml_apt *apt)
{
	static const char *const subdirs[] = {
		"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
		"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/lib/dpkg",
		"debs",
	};
	ml_autofree char *aptdir = NULL;
	ml_autofree char *status = NULL;
	size_t sl;

	memset(apt, 0, sizeof(*apt));
	apt->lock_fd = -1;
	if (!ml_apt_suite_valid(suite)) {
		ml_error("invalid Debian suite name '%s' (expected letters, digits, '-' and '.', "
			 "e.g. bookworm or trixie-backports)",
			 suite ? suite : "");
		return -1;
	}
	if (!mirror || !*mirror)
		mirror = ML_APT_DEFAULT_MIRROR;
	if (!mirror_valid(mirror)) {
		ml_error("invalid Debian mirror '%s' (expected an http://, https:// or file:/ URL "
			 "without spaces)",
			 mirror);
		return -1;
	}
	apt->suite = strdup(suite);
	apt->mirror = strdup(mirror);
	aptdir = ml_path_join(cache_dir, "apt");
	apt->root = ml_path_join(aptdir, suite);
	if (!apt->suite || !apt->mirror)
		abort();
	/* trailing slashes in the mirror would double in apt's URLs: harmless,
	 * but keep the recorded value canonical */
	for (size_t n = strlen(apt->mirror); n > 8 && apt->mirror[n - 1] == '/'; n--)
		apt->mirror[n - 1] = '\0';

	for (size_t i = 0; i < ML_ARRAY_SIZE(subdirs); i++) {
		ml_autofree char *d = ml_path_join(apt->root, subdirs[i]);
		if (ml_mkdir_p(d, 0755) < 0)
			goto fail;
	}
	if (lock_sandbox(apt) < 0)
		goto fail;
	status = ml_path_join(apt->root, "var/lib/dpkg/status");
	if (!ml_path_exists(status) && ml_write_atomic(status, "", 0, 0644) < 0)
		goto fail;
	if (write_sources(apt) < 0 || write_apt_conf(apt) < 0)
		goto fail;

	add_opt(apt, "Dir", apt->root);
	add_opt(apt, "Dir::State::status", status);
	add_opt(apt, "Dir::Etc::TrustedParts", "/etc/apt/trusted.gpg.d");
	add_opt(apt, "Dir::Etc::Trusted", "/usr/share/keyrings/debian-archive-keyring.gpg");
	add_opt(apt, "APT::Architecture", "amd64");
	add_opt(apt, "APT::Architectures", "amd64");
	add_opt(apt, "Acquire::Check-Valid-Until", "false");
	add_opt(apt, "Acquire::Languages", "none");
	add_opt(apt, "Debug::NoLocking", "1");
	if (geteuid() == 0)
		add_opt(apt, "APT::Sandbox::User", "root");
	sl = strlen(suite);
	if (sl > 10 && strcmp(suite + sl - 10, "-backports") == 0)
		add_opt(apt, "APT::Default-Release", suite);
	return 0;

fail:
	ml_error_context("preparing the apt sandbox of Debian suite '%s'", suite);
	ml_apt_close(apt);
	return -1;
}

void ml_apt_close(struct ml_apt *apt)
{
	if (apt->lock_fd >= 0)
		close(apt->lock_fd);
	for (size_t i = 0; i < apt->n_opts; i++)
		free(apt->opts[i]);
	free(apt->opts);
	free(apt->suite);
	free(apt->mirror);
	free(apt->root);
	free(apt->env_apt_config);
	memset(apt, 0, sizeof(*apt));
	apt->lock_fd = -1;
}

/* Run prog (apt-get or apt-cache) with the sandbox options, then args. */
static int apt_run(struct ml_apt *apt, const char *prog, const char *const *args,
		   const char *cwd, int timeout_ms, struct ml_buf *out, struct ml_buf *err,
		   int *status)
{
	size_t n_args = 0;
	const char **argv;
	size_t k = 0;
	struct ml_proc_spec spec = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
	const char *envp[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C.UTF-8",
		apt->env_apt_config,
		NULL, NULL, NULL, NULL,
	};
	static const char *const pass[] = { "http_proxy", "https_proxy", "no_proxy" };
	size_t ne = 3;
	int ret;

	/* a proxy the user set for miglab applies to its downloads too */
	for (char **e = environ; e && *e; e++)
		for (size_t i = 0; i < ML_ARRAY_SIZE(pass); i++) {
			size_t l = strlen(pass[i]);
			if (strncmp(*e, pass[i], l) == 0 && (*e)[l] == '=' && ne < 6)
				envp[ne++] = *e;
		}

	while (args[n_args])
		n_args++;
	argv = calloc(apt->n_opts + n_args + 2, sizeof(*argv));
	if (!argv)
		abort();
	argv[k++] = prog;
	for (size_t i = 0; i < apt->n_opts; i++)
		argv[k++] = apt->opts[i];
	for (size_t i = 0; i < n_args; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	spec.argv = argv;
	spec.envp = envp;
	spec.chdir = cwd;
	ret = ml_proc_run(&spec, timeout_ms, out, err, status);
	free(argv);
	return ret;
}

static bool lists_present(const struct ml_apt *apt)
{
	ml_autofree char *dir = ml_path_join(apt->root, "var/lib/apt/lists");
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while ((e = readdir(d)))
		if (strstr(e->d_name, "_Packages")) {
			found = true;
			break;
		}
	closedir(d);
	return found;
}

int ml_apt_update(struct ml_apt *apt, bool force)
{
	static const char *const args[] = { "update", NULL };
	ml_autofree char *stamp = ml_path_join(apt->root, "last-update");
	ml_autobuf struct ml_buf out = ML_BUF_INIT(STDERR_CAP);
	ml_autobuf struct ml_buf err = ML_BUF_INIT(STDERR_CAP);
	char excerpt[EXCERPT_MAX + 64];
	struct stat st;
	int status = 0;
	bool ran;

	if (!force && stat(stamp, &st) == 0 && lists_present(apt) &&
	    time(NULL) - st.st_mtime < ML_APT_LISTS_MAX_AGE_S)
		return 0;

	ran = apt_run(apt, APT_GET, args, NULL, UPDATE_TIMEOUT_MS, &out, &err, &status) == 0;
	/* apt-get update exits 0 when an index could not be fetched and it kept
	 * the old one ("W: Failed to fetch ..."): that is a failed refresh too */
	if (ran && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    !(err.data && (strstr(err.data, "E: ") || strstr(err.data, "W: Failed to fetch") ||
			   strstr(err.data, "W: Some index files failed")))) {
		char when[32];
		int n = snprintf(when, sizeof(when), "%lld\n", (long long)time(NULL));
		return ml_write_atomic(stamp, when, (size_t)n, 0644);
	}

	if (ran) {
		stderr_excerpt(&err, excerpt, sizeof(excerpt));
		if (err.data && strstr(err.data, "does not have a Release file"))
			ml_error("unknown Debian suite '%s' (the mirror has no Release file for it): "
				 "apt-get update: %s",
				 apt->suite, excerpt);
		else
			ml_error("apt-get update of Debian suite '%s' from %s failed: %s",
				 apt->suite, apt->mirror, excerpt);
	} else {
		ml_error_context("apt-get update of Debian suite '%s'", apt->suite);
	}
	if (lists_present(apt)) {
		fprintf(stderr, "miglab: warning: %s; continuing with the package lists of an "
				"earlier update\n",
			ml_error_message());
		ml_error_reset();
		return 0;
	}
	return -1;
}

int ml_apt_show(struct ml_apt *apt, const char *package, char **stanza)
{
	const char *args[] = { "show", "--no-all-versions", package, NULL };
	ml_autobuf struct ml_buf out = ML_BUF_INIT(ML_BUF_DEFAULT_LIMIT);
	ml_autobuf struct ml_buf err = ML_BUF_INIT(STDERR_CAP);
	char excerpt[EXCERPT_MAX + 64];
	int status = 0;
	char *blank;

	if (apt_run(apt, APT_CACHE, args, NULL, QUERY_TIMEOUT_MS, &out, &err, &status) < 0)
		return ml_error_context("looking up package %s in Debian suite '%s'", package,
					apt->suite);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out.len) {
		stderr_excerpt(&err, excerpt, sizeof(excerpt));
		ml_error("package %s not found in Debian suite '%s' (apt-cache show: %s)", package,
			 apt->suite, excerpt);
		return -1;
	}
	/* only the first stanza (one version is asked for, but be strict) */
	blank = strstr(out.data, "\n\n");
	if (blank)
		blank[1] = '\0';
	*stanza = ml_buf_steal(&out);
	return 0;
}

char *ml_apt_stanza_field(const char *stanza, const char *field)
{
	size_t fl = strlen(field);
	const char *line = stanza;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		if (strncasecmp(line, field, fl) == 0 && line[fl] == ':') {
			struct ml_buf v = ML_BUF_INIT(ML_BUF_DEFAULT_LIMIT);
			const char *p = line + fl + 1;
			for (;;) {
				size_t l;
				while (*p == ' ' || *p == '\t')
					p++;
				eol = strchr(p, '\n');
				l = eol ? (size_t)(eol - p) : strlen(p);
				while (l && (p[l - 1] == ' ' || p[l - 1] == '\r'))
					l--;
				if (v.len && l)
					ml_buf_puts(&v, " ");
				ml_buf_append(&v, p, l);
				if (!eol || (eol[1] != ' ' && eol[1] != '\t'))
					break;
				p = eol + 1;
			}
			return ml_buf_steal(&v);
		}
		line = eol ? eol + 1 : NULL;
	}
	return NULL;
}

void ml_apt_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

char **ml_apt_parse_depends(const char *value, size_t *n_out)
{
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;
	const char *p = value ? value : "";

	if (!v)
		abort();
	while (*p) {
		size_t l;
		while (*p == ' ' || *p == ',' || *p == '|')
			p++;
		if (!*p)
			break;
		l = strcspn(p, " ,|(:[<");
		if (l) {
			v = realloc(v, (n + 2) * sizeof(*v));
			if (!v || !(v[n] = strndup(p, l)))
				abort();
			v[++n] = NULL;
		}
		p += l;
		/* skip a version constraint, arch qualifier or restriction */
		while (*p && *p != ',' && *p != '|') {
			if (*p == '(' || *p == '[' || *p == '<') {
				char close = *p == '(' ? ')' : *p == '[' ? ']' : '>';
				const char *c = strchr(p, close);
				p = c ? c + 1 : p + strlen(p);
			} else {
				p++;
			}
		}
	}
	if (n_out)
		*n_out = n;
	return v;
}

int ml_apt_candidate(struct ml_apt *apt, const char *package, char **version)
{
	ml_autofree char *stanza = NULL;
	char *v;

	if (ml_apt_show(apt, package, &stanza) < 0)
		return -1;
	v = ml_apt_stanza_field(stanza, "Version");
	if (!v || !*v) {
		free(v);
		ml_error("package %s has no candidate version in Debian suite '%s'", package,
			 apt->suite);
		return -1;
	}
	*version = v;
	return 0;
}

int ml_apt_resolve_kernel(struct ml_apt *apt, const char *meta, char **package,
			  char **version, char **release)
{
	ml_autofree char *stanza = NULL;
	ml_autofree char *depends = NULL;
	char **deps = NULL;
	const char *found = NULL;
	size_t n = 0;
	int ret = -1;

	if (ml_apt_show(apt, meta, &stanza) < 0)
		return -1;
	depends = ml_apt_stanza_field(stanza, "Depends");
	deps = ml_apt_parse_depends(depends, &n);
	/* the meta package depends on linux-image-<release>-amd64 (and on
	 * linux-base-amd64 or linux-base): take the linux-image-* one */
	for (size_t i = 0; i < n; i++) {
		if (strncmp(deps[i], "linux-image-", 12) == 0 && strcmp(deps[i], meta) != 0 &&
		    deps[i][12] >= '0' && deps[i][12] <= '9') {
			found = deps[i];
			break;
		}
	}
	if (!found) {
		ml_error("cannot resolve %s in Debian suite '%s': none of its dependencies (%s) "
			 "is a linux-image-<release> package",
			 meta, apt->suite, depends ? depends : "none");
		goto cleanup;
	}
	if (version && ml_apt_candidate(apt, found, version) < 0)
		goto cleanup;
	if (package && !(*package = strdup(found)))
		abort();
	if (release && !(*release = strdup(found + 12)))
		abort();
	ret = 0;
cleanup:
	ml_apt_strv_free(deps);
	return ret;
}

/* The file name apt-get download gives a package: name_version_arch.deb with
 * the epoch's ':' URL-quoted. */
static char *deb_file_name(const char *package, const char *version, const char *arch)
{
	struct ml_buf b = ML_BUF_INIT(4096);
	ml_buf_printf(&b, "%s_", package);
	for (const char *p = version; *p; p++) {
		if (*p == ':')
			ml_buf_puts(&b, "%3a");
		else
			ml_buf_append(&b, p, 1);
	}
	ml_buf_printf(&b, "_%s.deb", arch);
	return ml_buf_steal(&b);
}

static int find_one_deb(const char *dir, char **name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d) {
		ml_error_errno(errno, "cannot open %s", dir);
		return -1;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".deb") == 0) {
			if (found++ == 0 && !(*name = strdup(e->d_name)))
				abort();
		}
	}
	closedir(d);
	if (found != 1) {
		if (found > 1) {
			free(*name);
			*name = NULL;
		}
		ml_error("expected one .deb in %s after apt-get download, found %d", dir, found);
		return -1;
	}
	return 0;
}

int ml_apt_download(struct ml_apt *apt, const char *package, const char *dir,
		    char **deb_path)
{
	ml_autofree char *stanza = NULL;
	ml_autofree char *version = NULL;
	ml_autofree char *arch = NULL;
	ml_autofree char *sha = NULL;
	ml_autofree char *name = NULL;
	ml_autofree char *dest = NULL;
	ml_autofree char *tmpl = NULL;
	ml_autofree char *got = NULL;
	ml_autofree char *got_path = NULL;
	ml_autofree char *pkgver = NULL;
	ml_autobuf struct ml_buf out = ML_BUF_INIT(STDERR_CAP);
	ml_autobuf struct ml_buf err = ML_BUF_INIT(STDERR_CAP);
	char excerpt[EXCERPT_MAX + 64];
	char have[65];
	const char *args[] = { "download", NULL, NULL };
	char *tmpdir;
	int status = 0;
	int ret = -1;

	if (ml_apt_show(apt, package, &stanza) < 0)
		return -1;
	version = ml_apt_stanza_field(stanza, "Version");
	arch = ml_apt_stanza_field(stanza, "Architecture");
	sha = ml_apt_stanza_field(stanza, "SHA256");
	if (!version || !arch || !sha || strlen(sha) != 64) {
		ml_error("the package list of Debian suite '%s' has no Version, Architecture or "
			 "SHA256 for %s",
			 apt->suite, package);
		return -1;
	}
	if (ml_mkdir_p(dir, 0755) < 0)
		return -1;
	name = deb_file_name(package, version, arch);
	dest = ml_path_join(dir, name);
	if (ml_path_exists(dest) && ml_sha256_file(dest, have) == 0 && strcmp(have, sha) == 0) {
		*deb_path = ml_steal_pointer(&dest);
		return 0;
	}

	tmpl = ml_path_join(dir, ".download-XXXXXX");
	tmpdir = mkdtemp(tmpl);
	if (!tmpdir) {
		ml_error_errno(errno, "cannot create a download directory in %s", dir);
		return -1;
	}
	if (asprintf(&pkgver, "%s=%s", package, version) < 0)
		abort();
	args[1] = pkgver;
	if (apt_run(apt, APT_GET, args, tmpdir, DOWNLOAD_TIMEOUT_MS, &out, &err, &status) < 0) {
		ml_error_context("downloading %s %s of Debian suite '%s'", package, version,
				 apt->suite);
		goto cleanup;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		stderr_excerpt(&err, excerpt, sizeof(excerpt));
		ml_error("cannot download %s %s of Debian suite '%s' from %s: %s", package, version,
			 apt->suite, apt->mirror, excerpt);
		goto cleanup;
	}
	if (find_one_deb(tmpdir, &got) < 0)
		goto cleanup;
	got_path = ml_path_join(tmpdir, got);
	if (ml_sha256_file(got_path, have) < 0)
		goto cleanup;
	if (strcmp(have, sha) != 0) {
		ml_error("downloaded %s of Debian suite '%s' has sha256 %s, the package list says %s",
			 package, apt->suite, have, sha);
		goto cleanup;
	}
	if (rename(got_path, dest) < 0) {
		ml_error_errno(errno, "cannot move %s to %s", got_path, dest);
		goto cleanup;
	}
	*deb_path = ml_steal_pointer(&dest);
	ret = 0;
cleanup:
	ml_rm_rf(tmpdir);
	return ret;
}

int ml_apt_extract(const char *deb_path, const char *dir)
{
	const char *argv[] = { DPKG_DEB, "-x", deb_path, dir, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .stdout_fd = -1,
				     .stderr_fd = -1 };
	ml_autobuf struct ml_buf err = ML_BUF_INIT(STDERR_CAP);
	char excerpt[EXCERPT_MAX + 64];
	int status = 0;

	if (ml_mkdir_p(dir, 0755) < 0)
		return -1;
	if (ml_proc_run(&spec, EXTRACT_TIMEOUT_MS, NULL, &err, &status) < 0)
		return ml_error_context("extracting %s", deb_path);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		stderr_excerpt(&err, excerpt, sizeof(excerpt));
		ml_error("dpkg-deb -x %s failed: %s", deb_path, excerpt);
		return -1;
	}
	return 0;
}
