/* QEMU builds from Debian roots or host paths (see build.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "build.h"
#include "source-build.h"
#include "ml-buf.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"
#include "ml-common.h"

#define QEMU_IN_ROOT "/usr/bin/qemu-system-x86_64"
#define MANIFEST_VERSION 1
/* Measured: about 35 s and 300 MB per suite here; allow slow mirrors. */
#define MMDEBSTRAP_TIMEOUT_MS (20 * 60 * 1000)

const char *const ml_debian_suites[] = {
	"bookworm", "bookworm-backports", "trixie", "trixie-backports",
	"forky", "testing", "sid", "unstable", NULL,
};

/* Directories inside every root where the local runner bind-mounts a cell's
 * sockets, its output directory and the guest kernel (runners/local.c). */
static const char *const root_mount_points[] = { "miglab", "miglab/run", "miglab/out",
						 "miglab/guest" };

static bool suite_known(const char *suite)
{
	for (size_t i = 0; ml_debian_suites[i]; i++)
		if (strcmp(ml_debian_suites[i], suite) == 0)
			return true;
	return false;
}

static char *known_suites_list(void)
{
	struct ml_buf b = ML_BUF_INIT(0);
	for (size_t i = 0; ml_debian_suites[i]; i++)
		ml_buf_printf(&b, "%s%s", i ? ", " : "", ml_debian_suites[i]);
	return ml_buf_steal(&b);
}

int ml_build_parse(const char *spec, struct ml_build *out)
{
	memset(out, 0, sizeof(*out));
	if (!spec || !*spec) {
		ml_error("empty build provider (expected debian:SUITE, path:/path/to/qemu-system-x86_64, "
			 "git:DIR@REF or debian-source:VERSION)");
		return -1;
	}
	out->spec = strdup(spec);
	if (strncmp(spec, "debian:", 7) == 0) {
		const char *suite = spec + 7;
		if (!suite_known(suite)) {
			ml_autofree char *known = known_suites_list();
			ml_error("unknown Debian suite '%s' in build provider '%s' (known suites: %s)",
				 suite, spec, known);
			goto fail;
		}
		out->kind = ML_PROVIDER_DEBIAN;
		out->suite = strdup(suite);
		out->qemu = strdup(QEMU_IN_ROOT);
		return 0;
	}
	if (strncmp(spec, "path:", 5) == 0) {
		const char *path = spec + 5;
		if (path[0] != '/') {
			ml_error("build provider '%s': the path must be absolute", spec);
			goto fail;
		}
		if (access(path, X_OK) < 0) {
			ml_error_errno(errno, "build provider '%s': cannot execute %s", spec, path);
			goto fail;
		}
		out->kind = ML_PROVIDER_PATH;
		out->qemu = strdup(path);
		out->qemu_host_path = strdup(path);
		return 0;
	}
	if (ml_source_spec_is_source(spec)) {
		struct ml_source_spec s;
		if (ml_source_spec_parse(spec, &s) < 0)
			goto fail;
		out->kind = s.git ? ML_PROVIDER_GIT : ML_PROVIDER_DEBIAN_SOURCE;
		ml_source_spec_clear(&s);
		return 0;
	}
	ml_error("unknown build provider '%s' (expected debian:SUITE, path:/path/to/qemu-system-x86_64, "
		 "git:DIR@REF or debian-source:VERSION)", spec);
fail:
	ml_build_clear(out);
	return -1;
}

void ml_build_clear(struct ml_build *b)
{
	if (b->locked)
		close(b->lock_fd);
	free(b->spec);
	free(b->suite);
	free(b->dir);
	free(b->root);
	free(b->qemu);
	free(b->qemu_host_path);
	free(b->version);
	free(b->version_line);
	free(b->package_version);
	json_decref(b->packages);
	json_decref(b->machines);
	json_decref(b->source);
	memset(b, 0, sizeof(*b));
}

char *ml_build_pvh_unsupported(const struct ml_build *b)
{
	unsigned major = 0, minor = 0;
	ml_autofree char *bin = NULL;
	ml_autofree char *rom = NULL;
	char *slash;

	if (!b->version || sscanf(b->version, "%u.%u", &major, &minor) != 2)
		return ml_strdup_printf("%s: its QEMU version '%s' is not X.Y", b->spec,
					b->version ? b->version : "");
	if (major < 4)
		return ml_strdup_printf("%s: QEMU %s boots PVH kernels from 4.0 on", b->spec,
					b->version);
	bin = strdup(b->qemu_host_path ? b->qemu_host_path : "");
	if (!bin)
		abort();
	/* <prefix>/bin/qemu-system-x86_64 -> <prefix> */
	for (int i = 0; i < 2 && (slash = strrchr(bin, '/')); i++)
		*slash = '\0';
	rom = ml_strdup_printf("%s/share/qemu/pvh.bin", bin);
	if (!ml_path_exists(rom))
		return ml_strdup_printf("%s (QEMU %s) has no PVH option ROM: %s is missing", b->spec,
					b->version, rom);
	return NULL;
}

char *ml_build_parse_version_line(const char *text)
{
	const char *p = strstr(text, "version ");
	size_t n = 0;

	if (!p)
		return NULL;
	p += strlen("version ");
	while (p[n] && (p[n] == '.' || (p[n] >= '0' && p[n] <= '9')))
		n++;
	return n ? strndup(p, n) : NULL;
}

/* One line of `-machine help`: "name   description (alias of x) (default)". */
json_t *ml_build_parse_machine_help(const char *text)
{
	json_t *machines = json_array();
	json_t *aliases = json_object(); /* alias -> target */
	ml_autofree char *copy = strdup(text);
	char *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		const char *desc, *al;
		size_t n = strcspn(line, " \t");
		json_t *m;

		if (n == 0 || n >= sizeof(name) || strncmp(line, "Supported machines", 18) == 0)
			continue;
		memcpy(name, line, n);
		name[n] = '\0';
		desc = line + n;
		while (*desc == ' ' || *desc == '\t')
			desc++;
		al = strstr(desc, "(alias of ");
		if (al) {
			char target[128];
			size_t tn;
			al += strlen("(alias of ");
			tn = strcspn(al, ")");
			if (tn == 0 || tn >= sizeof(target))
				continue;
			memcpy(target, al, tn);
			target[tn] = '\0';
			ml_json_set_str(aliases, name, target);
			if (strstr(desc, "(default)"))
				ml_json_set(aliases, "\001default", json_string(target));
			continue;
		}
		m = json_object();
		ml_json_set_str(m, "name", name);
		{
			/* Description without our annotations. */
			const char *paren = strstr(desc, " (default)");
			const char *dep = strstr(desc, " (deprecated)");
			size_t dn = strlen(desc);
			if (paren && (size_t)(paren - desc) < dn)
				dn = (size_t)(paren - desc);
			if (dep && (size_t)(dep - desc) < dn)
				dn = (size_t)(dep - desc);
			ml_json_set(m, "description", json_stringn(desc, dn));
		}
		ml_json_set(m, "default", json_boolean(strstr(desc, "(default)") != NULL));
		ml_json_set(m, "deprecated", json_boolean(strstr(desc, "(deprecated)") != NULL));
		ml_json_set(m, "aliases", json_array());
		json_array_append_new(machines, m);
	}
	{
		const char *alias;
		json_t *target;
		json_object_foreach(aliases, alias, target) {
			size_t i;
			json_t *m;
			bool is_default = alias[0] == '\x01';
			json_array_foreach(machines, i, m) {
				if (strcmp(ml_json_str(m, "name"), json_string_value(target)) != 0)
					continue;
				if (is_default)
					ml_json_set(m, "default", json_true());
				else
					json_array_append_new(json_object_get(m, "aliases"),
							      json_string(alias));
			}
		}
	}
	json_decref(aliases);
	return machines;
}

const char *ml_build_find_machine(const struct ml_build *b, const char *name)
{
	size_t i, j;
	json_t *m, *a;

	json_array_foreach(b->machines, i, m) {
		if (strcmp(ml_json_str(m, "name"), name) == 0)
			return ml_json_str(m, "name");
		json_array_foreach(json_object_get(m, "aliases"), j, a)
			if (strcmp(json_string_value(a), name) == 0)
				return ml_json_str(m, "name");
	}
	return NULL;
}

const char *ml_build_kind_name(enum ml_provider_kind kind)
{
	switch (kind) {
	case ML_PROVIDER_DEBIAN:
		return "debian";
	case ML_PROVIDER_PATH:
		return "path";
	case ML_PROVIDER_GIT:
		return "git";
	case ML_PROVIDER_DEBIAN_SOURCE:
		return "debian-source";
	}
	return "?";
}

json_t *ml_build_to_json(const struct ml_build *b)
{
	json_t *o = json_object();

	ml_json_set_int(o, "manifest_version", MANIFEST_VERSION);
	ml_json_set_str(o, "provider", b->spec);
	ml_json_set_str(o, "kind", ml_build_kind_name(b->kind));
	ml_json_set_str(o, "suite", b->suite);
	ml_json_set_str(o, "qemu", b->qemu);
	ml_json_set_str(o, "qemu_host_path", b->qemu_host_path);
	ml_json_set_str(o, "version", b->version);
	ml_json_set_str(o, "version_line", b->version_line);
	ml_json_set_str(o, "package_version", b->package_version);
	ml_json_set_str(o, "sha256", b->sha256);
	ml_json_set(o, "machines", b->machines ? json_incref(b->machines) : json_array());
	if (b->packages)
		ml_json_set(o, "packages", json_incref(b->packages));
	if (b->source)
		ml_json_set(o, "source", json_incref(b->source));
	return o;
}

/* Run the build's QEMU with args and return its stdout. */
static int run_qemu(const struct ml_build *b, const char *arg1, const char *arg2, char **out)
{
	const char *argv[] = { b->qemu, arg1, arg2, NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .root = b->root };
	struct ml_buf o = ML_BUF_INIT(1 << 20), e = ML_BUF_INIT(1 << 20);
	char desc[128];
	int status;

	if (ml_proc_run(&spec, 60000, &o, &e, &status) < 0)
		goto fail;
	if (status != 0) {
		ml_proc_status_str(status, desc, sizeof(desc));
		ml_error("%s %s %s %s: %.500s", b->qemu, arg1, arg2 ? arg2 : "", desc,
			 e.len ? e.data : "(no error output)");
		goto fail;
	}
	ml_buf_free(&e);
	*out = ml_buf_steal(&o);
	return 0;
fail:
	ml_buf_free(&o);
	ml_buf_free(&e);
	return -1;
}

/* Ask the binary for its version and machine types. */
int ml_build_collect_facts(struct ml_build *b)
{
	ml_autofree char *vout = NULL;
	ml_autofree char *mout = NULL;
	size_t n;

	if (run_qemu(b, "--version", NULL, &vout) < 0 ||
	    run_qemu(b, "-machine", "help", &mout) < 0)
		return ml_error_context("build %s: QEMU does not run", b->spec);
	n = strcspn(vout, "\n");
	b->version_line = strndup(vout, n);
	b->version = ml_build_parse_version_line(vout);
	if (!b->version) {
		ml_error("build %s: cannot find a version in '%s'", b->spec, b->version_line);
		return -1;
	}
	b->machines = ml_build_parse_machine_help(mout);
	if (json_array_size(b->machines) == 0) {
		ml_error("build %s: QEMU lists no machine types", b->spec);
		return -1;
	}
	return ml_sha256_file(b->qemu_host_path, b->sha256);
}

int ml_build_make_mount_points(const char *root)
{
	for (size_t i = 0; i < ML_ARRAY_SIZE(root_mount_points); i++) {
		ml_autofree char *p = ml_path_join(root, root_mount_points[i]);
		if (ml_mkdir_p(p, 0755) < 0)
			return -1;
	}
	return 0;
}

json_t *ml_build_root_packages(const char *root)
{
	ml_autofree char *admindir = ml_path_join(root, "var/lib/dpkg");
	const char *argv[] = { "/usr/bin/dpkg-query", "--admindir", admindir, "-W",
			       "-f", "${Package}\t${Version}\n", NULL };
	struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1 };
	struct ml_buf o = ML_BUF_INIT(4 << 20), e = ML_BUF_INIT(1 << 20);
	char *save = NULL;
	int status;

	json_t *packages;

	if (ml_proc_run(&spec, 60000, &o, &e, &status) < 0 || status != 0) {
		ml_error("the root %s: dpkg-query failed: %.300s", root, e.len ? e.data : "");
		ml_buf_free(&o);
		ml_buf_free(&e);
		return NULL;
	}
	packages = json_object();
	for (char *line = strtok_r(o.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		ml_json_set_str(packages, line, tab + 1);
	}
	ml_buf_free(&o);
	ml_buf_free(&e);
	return packages;
}

static int collect_packages(struct ml_build *b)
{
	b->packages = ml_build_root_packages(b->root);
	if (!b->packages)
		return -1;
	b->package_version = ml_json_str(b->packages, "qemu-system-x86")
				     ? strdup(ml_json_str(b->packages, "qemu-system-x86"))
				     : NULL;
	if (!b->package_version) {
		ml_error("build %s: qemu-system-x86 is not installed in %s", b->spec, b->root);
		return -1;
	}
	return 0;
}

/* Reuse a cached root if its manifest is whole and the binary matches it. */
static int load_cached(struct ml_build *b, const char *manifest)
{
	json_t *m;
	char sha[65];

	if (!ml_path_exists(manifest) || !ml_is_dir(b->root))
		return 1;
	m = ml_json_load_file(manifest, 16 << 20);
	if (!m || ml_json_int(m, "manifest_version", 0) != MANIFEST_VERSION ||
	    !ml_json_str(m, "sha256") || !ml_json_str(m, "version") ||
	    !json_is_array(json_object_get(m, "machines"))) {
		json_decref(m);
		fprintf(stderr, "miglab: %s: cached manifest is unreadable or old; rebuilding\n",
			b->spec);
		return 1;
	}
	if (ml_sha256_file(b->qemu_host_path, sha) < 0 ||
	    strcmp(sha, ml_json_str(m, "sha256")) != 0) {
		json_decref(m);
		fprintf(stderr, "miglab: %s: cached root is damaged (QEMU binary missing or changed); rebuilding\n",
			b->spec);
		return 1;
	}
	for (size_t i = 0; i < ML_ARRAY_SIZE(root_mount_points); i++) {
		ml_autofree char *p = ml_path_join(b->root, root_mount_points[i]);
		if (!ml_is_dir(p)) {
			json_decref(m);
			fprintf(stderr, "miglab: %s: cached root is incomplete; rebuilding\n", b->spec);
			return 1;
		}
	}
	memcpy(b->sha256, sha, sizeof(sha));
	b->version = strdup(ml_json_str(m, "version"));
	b->version_line = strdup(ml_json_str(m, "version_line") ? ml_json_str(m, "version_line") : "");
	b->package_version = ml_json_str(m, "package_version")
				     ? strdup(ml_json_str(m, "package_version"))
				     : NULL;
	b->machines = json_incref(json_object_get(m, "machines"));
	b->packages = json_incref(json_object_get(m, "packages"));
	json_decref(m);
	return 0;
}

int ml_build_mmdebstrap(const struct ml_config *cfg, const char *what, const char *suite,
			const char *include, const char *target, const char *logpath)
{
	ml_autofree char *main_src = NULL;
	ml_autofree char *include_arg = ml_strdup_printf("--include=%s", include);
	ml_autofree char *bpo_src = NULL;
	ml_autofree char *default_release = NULL;
	const char *base = suite;
	char basebuf[64];
	const char *argv[16];
	size_t n = 0;
	int logfd, status;
	pid_t pid;
	char desc[128];
	const char *dash = strstr(suite, "-backports");

	if (dash) {
		snprintf(basebuf, sizeof(basebuf), "%.*s", (int)(dash - suite), suite);
		base = basebuf;
	}
	if (asprintf(&main_src, "deb %s %s main", cfg->mirror, base) < 0)
		abort();
	argv[n++] = "/usr/bin/mmdebstrap";
	argv[n++] = "--variant=apt";
	argv[n++] = include_arg;
	/* Some suites' Release files are past their Valid-Until date. */
	argv[n++] = "--aptopt=Acquire::Check-Valid-Until \"false\"";
	if (dash) {
		/* As `apt install -t SUITE-backports qemu-system-x86` would. */
		if (asprintf(&default_release, "--aptopt=APT::Default-Release \"%s\"", suite) < 0 ||
		    asprintf(&bpo_src, "deb %s %s main", cfg->mirror, suite) < 0)
			abort();
		argv[n++] = default_release;
	}
	argv[n++] = base;
	argv[n++] = target;
	argv[n++] = main_src;
	if (bpo_src)
		argv[n++] = bpo_src;
	argv[n] = NULL;

	logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0) {
		ml_error_errno(errno, "cannot create %s", logpath);
		return -1;
	}
	{
		struct ml_proc_spec spec = { .argv = argv, .stdin_fd = -1, .stdout_fd = logfd,
					     .stderr_fd = logfd };
		if (ml_proc_spawn(&spec, &pid) < 0) {
			close(logfd);
			return ml_error_context("is mmdebstrap installed (apt-get install mmdebstrap)?");
		}
	}
	close(logfd);
	if (ml_proc_wait(pid, MMDEBSTRAP_TIMEOUT_MS, &status) != 0) {
		ml_proc_kill(pid);
		ml_error("mmdebstrap for %s did not finish in %d minutes (log: %s)", what,
			 MMDEBSTRAP_TIMEOUT_MS / 60000, logpath);
		return -1;
	}
	if (status != 0) {
		ml_autofree char *log = NULL;
		size_t len = 0;
		const char *tail = "";
		ml_proc_status_str(status, desc, sizeof(desc));
		if (ml_read_file(logpath, 64 << 20, &log, &len) == 0) {
			/* The last error lines say why (unknown suite, mirror down, ...). */
			tail = len > 600 ? log + len - 600 : log;
		}
		ml_error("mmdebstrap for %s %s; last output:\n%s\n(full log: %s)", what, desc,
			 tail, logpath);
		return -1;
	}
	return 0;
}

static int build_root(const struct ml_config *cfg, struct ml_build *b, const char *manifest)
{
	ml_autofree char *tmp = ml_path_join(b->dir, "root.new");
	long long t0 = ml_now_ms();
	json_t *j;
	int ret;

	fprintf(stderr, "miglab: %s: making a Debian root with mmdebstrap (about 30 s)...\n", b->spec);
	unlink(manifest);
	ml_autofree char *logpath = ml_path_join(b->dir, "mmdebstrap.log");

	if (ml_rm_rf(tmp) < 0 ||
	    ml_build_mmdebstrap(cfg, b->spec, b->suite, "qemu-system-x86,seabios,ipxe-qemu", tmp,
				logpath) < 0 ||
	    ml_build_make_mount_points(tmp) < 0)
		return -1;
	if (ml_rm_rf(b->root) < 0)
		return -1;
	if (rename(tmp, b->root) < 0) {
		ml_error_errno(errno, "cannot rename %s to %s", tmp, b->root);
		return -1;
	}
	if (collect_packages(b) < 0 || ml_build_collect_facts(b) < 0)
		return -1;
	j = ml_build_to_json(b);
	ml_json_set_int(j, "provision_ms", ml_now_ms() - t0);
	ret = ml_json_write_file(manifest, j);
	json_decref(j);
	fprintf(stderr, "miglab: %s: QEMU %s (%s) ready in %.1f s\n", b->spec, b->version,
		b->package_version, (double)(ml_now_ms() - t0) / 1000.0);
	return ret;
}

static int provision_debian(const struct ml_config *cfg, struct ml_build *b, bool refresh)
{
	ml_autofree char *builds = ml_path_join(cfg->cache_dir, "builds");
	ml_autofree char *name = NULL;
	ml_autofree char *lockpath = NULL;
	ml_autofree char *manifest = NULL;
	ml_autofree char *what = NULL;
	ml_autoclose int lockfd = -1;
	int r;

	if (asprintf(&name, "debian-%s", b->suite) < 0)
		abort();
	b->dir = ml_path_join(builds, name);
	b->root = ml_path_join(b->dir, "root");
	b->qemu_host_path = ml_path_join(b->root, QEMU_IN_ROOT);
	manifest = ml_path_join(b->dir, "build.json");
	if (ml_mkdir_p(b->dir, 0755) < 0)
		return -1;
	/* The cache's lock discipline: a root is used under a shared lock, held
	 * as long as the build is (ml_build_clear), and made or replaced under
	 * an exclusive one; waits say so and ^C ends them. */
	if (asprintf(&lockpath, "%s.lock", b->dir) < 0)
		abort();
	what = ml_strdup_printf("the Debian root of %s (%s)", b->spec, b->dir);
	lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lockfd < 0) {
		ml_error_errno(errno, "cannot open %s", lockpath);
		return -1;
	}
	for (int pass = refresh ? 1 : 0; pass < 2; pass++) {
		/* pass 0: shared, the common case of a whole cached root; pass
		 * 1: exclusive, to make it (checking first whether another
		 * process has just made it). */
		if (ml_flock_wait(lockfd, pass ? LOCK_EX : LOCK_SH, what, -1) < 0)
			return -1;
		if (refresh)
			continue;
		r = load_cached(b, manifest);
		if (r < 0)
			return -1;
		if (r == 0)
			goto use;
		/* Never convert a shared lock in place: two processes doing so
		 * would wait for each other. */
		if (pass == 0)
			flock(lockfd, LOCK_UN);
	}
	if (geteuid() != 0) {
		ml_error("making the Debian root for %s needs root (mmdebstrap and the private "
			 "mount namespace QEMU runs in); run miglab as root", b->spec);
		return -1;
	}
	if (build_root(cfg, b, manifest) < 0)
		return -1;
use:
	if (flock(lockfd, LOCK_SH) < 0) {
		ml_error_errno(errno, "cannot lock %s", lockpath);
		return -1;
	}
	b->lock_fd = lockfd;
	b->locked = true;
	lockfd = -1;
	return 0;
}

int ml_build_provision(const struct ml_config *cfg, const char *spec, bool refresh,
		       struct ml_build *out)
{
	if (ml_build_parse(spec, out) < 0)
		return -1;
	if (out->kind == ML_PROVIDER_DEBIAN) {
		if (provision_debian(cfg, out, refresh) < 0)
			goto fail;
		return 0;
	}
	if (out->kind == ML_PROVIDER_GIT || out->kind == ML_PROVIDER_DEBIAN_SOURCE) {
		if (ml_source_provision(cfg, out, refresh) < 0)
			goto fail;
		return 0;
	}
	if (ml_build_collect_facts(out) < 0)
		goto fail;
	return 0;
fail:
	ml_build_clear(out);
	return -1;
}
