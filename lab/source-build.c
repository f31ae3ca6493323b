/* QEMU built from source: git checkouts and Debian source packages, built in
 * a Debian toolchain root (see source-build.h for the layout and the key). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "source-build.h"
#include "ml-buf.h"
#include "ml-common.h"
#include "ml-error.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-proc.h"

/* Bump when the way a tree becomes an installed QEMU changes (the steps, the
 * layout of the prefix, the firmware links): it is part of every key. */
#define RECIPE "miglab-source-build 1"
#define TOOLCHAIN_MANIFEST_VERSION 1
#define PREFIX "/qemu" /* configure's prefix; installed with DESTDIR */
#define SRC_IN_ROOT "/miglab-src"
#define WORK_IN_ROOT SRC_IN_ROOT "/work"
#define CCACHE_IN_ROOT "/var/cache/miglab-ccache"
#define BUILDS_IN_ROOT "/opt/miglab"
#define GIT_TIMEOUT_MS (10 * 60 * 1000)
#define APT_TIMEOUT_MS (20 * 60 * 1000)
#define CONFIGURE_TIMEOUT_MS (15 * 60 * 1000)
/* A cold build took about 18 min on 2 cores here; leave room for slower hosts. */
#define MAKE_TIMEOUT_MS (150 * 60 * 1000)
#define LOG_TAIL_LINES 25

/* What the toolchain roots hold: the build dependencies of a QEMU with the
 * guests' needs (slirp for user networking, the virtio devices are built in),
 * the firmware it runs with, and the tools to fetch and unpack sources.
 * gcc-multilib: the x86 option ROMs are 16/32-bit code linked with -m32. */
static const char toolchain_packages[] =
	"build-essential,gcc-multilib,ninja-build,meson,python3,python3-venv,pkgconf,libglib2.0-dev,"
	"libpixman-1-dev,zlib1g-dev,libslirp-dev,flex,bison,ccache,git,dpkg-dev,patch,"
	"ca-certificates,seabios,ipxe-qemu";

/* QEMU 7.2's x86_64-softmmu requires libfdt; later ones build without it. */
static const char *toolchain_include(const char *suite)
{
	return strcmp(suite, "bookworm") == 0 ? "libfdt-dev," : "";
}

/* x86_64 system emulation only, no docs, no GUI, no tools: what cells run.
 * since: the first QEMU version (major * 100 + minor) that has the option. */
static const struct {
	const char *arg;
	unsigned since;
} configure_table[] = {
	{ "--prefix=" PREFIX, 0 },
	{ "--target-list=x86_64-softmmu", 0 },
	{ "--enable-slirp", 0 },
	{ "--disable-docs", 0 },
	{ "--disable-tools", 0 },
	{ "--disable-user", 0 },
	{ "--disable-gtk", 0 },
	{ "--disable-sdl", 0 },
	{ "--disable-vnc", 0 },
	{ "--disable-opengl", 0 },
	{ "--disable-spice", 0 },
	{ "--disable-xen", 0 },
	{ "--disable-werror", 0 },
	/* No DWARF: a third less compile time and a binary of tens of MB instead
	 * of hundreds; symbols stay, so backtraces still name functions. */
	{ "--disable-debug-info", 0 },
	/* 8.1 fetches meson's subprojects unless told not to; miglab builds offline. */
	{ "--disable-download", 801 },
	{ "--disable-install-blobs", 0 },
	{ "--cc=ccache gcc", 0 },
	{ "--cxx=ccache g++", 0 },
};

const char *const *ml_source_configure_args(const char *version)
{
	/* One list per distinct answer; built on first use (provisioning is
	 * single-threaded). */
	static const char *modern[ML_ARRAY_SIZE(configure_table) + 1];
	static const char *old[ML_ARRAY_SIZE(configure_table) + 1];
	unsigned major = 0, minor = 0, v;
	const char **list;
	size_t n = 0;

	sscanf(version ? version : "", "%u.%u", &major, &minor);
	v = major * 100 + minor;
	list = v >= 801 ? modern : old;
	if (list[0])
		return list;
	for (size_t i = 0; i < ML_ARRAY_SIZE(configure_table); i++)
		if (v >= configure_table[i].since)
			list[n++] = configure_table[i].arg;
	list[n] = NULL;
	return list;
}

/* Suites whose deb-src indexes a debian-source: lookup reads. */
static const char *const source_suites[] = { "bookworm", "bookworm-backports", "trixie",
					     "trixie-backports", "forky", "sid", NULL };

/* ---------- parsing ---------- */

bool ml_source_spec_is_source(const char *spec)
{
	return spec && (strncmp(spec, "git:", 4) == 0 || strncmp(spec, "source:", 7) == 0 ||
			strncmp(spec, "debian-source:", 14) == 0);
}

void ml_source_spec_clear(struct ml_source_spec *s)
{
	free(s->dir);
	free(s->ref);
	free(s->version);
	for (size_t i = 0; i < s->n_patches; i++)
		free(s->patches[i]);
	free(s->patches);
	memset(s, 0, sizeof(*s));
}

static bool ref_valid(const char *ref)
{
	if (!*ref || ref[0] == '-')
		return false;
	for (const char *p = ref; *p; p++)
		if (!isgraph((unsigned char)*p))
			return false;
	return true;
}

static bool version_valid(const char *v)
{
	if (!isdigit((unsigned char)v[0]))
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".+~:-", *p))
			return false;
	return true;
}

static int add_patch(struct ml_source_spec *s, const char *spec, const char *path, size_t n)
{
	ml_autofree char *p = strndup(path, n);
	struct stat st;

	if (!p)
		abort();
	if (p[0] != '/') {
		ml_error("build provider '%s': patch path '%s' must be absolute", spec, p);
		return -1;
	}
	if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || access(p, R_OK) < 0) {
		ml_error("build provider '%s': patch %s is not a readable file", spec, p);
		return -1;
	}
	s->patches = realloc(s->patches, (s->n_patches + 1) * sizeof(*s->patches));
	if (!s->patches)
		abort();
	s->patches[s->n_patches++] = p;
	p = NULL;
	return 0;
}

int ml_source_spec_parse(const char *spec, struct ml_source_spec *out)
{
	static const char sep[] = "+patch:";
	const char *body, *plus;
	size_t body_len;

	memset(out, 0, sizeof(*out));
	if (strncmp(spec, "git:", 4) == 0) {
		out->git = true;
		body = spec + 4;
	} else if (strncmp(spec, "source:", 7) == 0) {
		out->git = true;
		body = spec + 7;
	} else if (strncmp(spec, "debian-source:", 14) == 0) {
		body = spec + 14;
	} else {
		ml_error("'%s' is not a source build provider", spec);
		return -1;
	}
	plus = strstr(body, sep);
	body_len = plus ? (size_t)(plus - body) : strlen(body);
	while (plus) {
		const char *path = plus + strlen(sep);
		const char *next = strstr(path, sep);
		size_t n = next ? (size_t)(next - path) : strlen(path);
		if (n == 0) {
			ml_error("build provider '%s': '+patch:' needs a path", spec);
			goto fail;
		}
		if (add_patch(out, spec, path, n) < 0)
			goto fail;
		plus = next;
	}
	if (out->git) {
		const char *at = memrchr(body, '@', body_len);
		ml_autofree char *dotgit = NULL;
		if (!at || at == body || (size_t)(at - body) + 1 == body_len) {
			ml_error("build provider '%s': expected git:DIR@REF (a checkout and a tag, "
				 "branch or commit)", spec);
			goto fail;
		}
		out->dir = strndup(body, (size_t)(at - body));
		out->ref = strndup(at + 1, body_len - (size_t)(at - body) - 1);
		if (!out->dir || !out->ref)
			abort();
		if (out->dir[0] != '/') {
			ml_error("build provider '%s': the checkout '%s' must be an absolute path",
				 spec, out->dir);
			goto fail;
		}
		if (!ref_valid(out->ref)) {
			ml_error("build provider '%s': '%s' is not a git ref (no spaces, no leading '-')",
				 spec, out->ref);
			goto fail;
		}
		if (!ml_is_dir(out->dir)) {
			ml_error("build provider '%s': the checkout %s does not exist", spec, out->dir);
			goto fail;
		}
		dotgit = ml_path_join(out->dir, ".git");
		if (!ml_path_exists(dotgit)) {
			ml_error("build provider '%s': %s is not a git checkout (no .git)", spec,
				 out->dir);
			goto fail;
		}
		return 0;
	}
	out->version = strndup(body, body_len);
	if (!out->version)
		abort();
	if (!version_valid(out->version)) {
		ml_error("build provider '%s': '%s' is not a QEMU version (e.g. debian-source:10.0.13)",
			 spec, out->version);
		goto fail;
	}
	return 0;
fail:
	ml_source_spec_clear(out);
	return -1;
}

const char *ml_source_toolchain_suite(const char *qemu_version)
{
	/* meson: QEMU 10 needs 1.5 (trixie 1.7, bookworm 1.0); QEMU 7.x builds
	 * with bookworm's gcc 12 and meson, which is also what Debian used. */
	return atoi(qemu_version) >= 8 ? "trixie" : "bookworm";
}

char *ml_source_upstream_version(const char *v)
{
	const char *colon = strchr(v, ':');
	size_t n;

	if (colon)
		v = colon + 1;
	n = strspn(v, "0123456789.");
	while (n && v[n - 1] == '.')
		n--;
	return n ? strndup(v, n) : NULL;
}

void ml_source_key(const char *tree, const char *const *patch_sha256, size_t n_patches,
		   const char *const *configure_args, const char *packages_text, char out[17])
{
	struct ml_buf b = ML_BUF_INIT(0);
	char sha[65];

	ml_buf_printf(&b, "%s\ntree %s\n", RECIPE, tree);
	for (size_t i = 0; i < n_patches; i++)
		ml_buf_printf(&b, "patch %s\n", patch_sha256[i]);
	for (size_t i = 0; configure_args[i]; i++)
		ml_buf_printf(&b, "configure %s\n", configure_args[i]);
	ml_buf_printf(&b, "packages\n%s", packages_text ? packages_text : "");
	ml_sha256_text(b.data ? b.data : "", sha);
	ml_buf_free(&b);
	memcpy(out, sha, 16);
	out[16] = '\0';
}

/* ---------- running things ---------- */

/* A build in progress: where it logs and the root it builds in. */
struct job {
	const char *spec;
	const char *root; /* the toolchain root (host path) */
	const char *ccache; /* host directory mounted at CCACHE_IN_ROOT */
	const char *mirror;
	int log_fd;       /* -1: capture only */
	const char *log_path;
};

/* Run argv (on the host if !in_root, else chrooted in job->root), output to
 * the log (and into out, if given). Returns 0 if it ran and exited 0. */
static int job_run(const struct job *job, bool in_root, const char *const *argv, const char *dir,
		   int timeout_ms, struct ml_buf *out, struct ml_buf *err)
{
	static const char *const env[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/tmp",
		"LANG=C.UTF-8",
		"CCACHE_DIR=" CCACHE_IN_ROOT,
		"CCACHE_BASEDIR=" SRC_IN_ROOT,
		"CCACHE_MAXSIZE=5G",
		"DEBIAN_FRONTEND=noninteractive",
		NULL,
	};
	/* ccache lives beside the root, not in it: a new root (a toolchain
	 * upgrade) keeps the compiler cache. */
	const struct ml_bind binds[] = { { job->ccache, CCACHE_IN_ROOT, false } };
	struct ml_proc_spec ps = { .argv = argv, .envp = env, .stdin_fd = -1,
				   .root = in_root ? job->root : NULL, .chdir = dir,
				   .binds = in_root && job->ccache ? binds : NULL,
				   .n_binds = in_root && job->ccache ? 1 : 0 };
	struct ml_buf o = ML_BUF_INIT(8 << 20), e = ML_BUF_INIT(8 << 20);
	int status = 0, ret = -1;
	char desc[128];

	if (job->log_fd >= 0) {
		dprintf(job->log_fd, "== miglab:%s", in_root ? " (in the root)" : "");
		for (size_t i = 0; argv[i]; i++)
			dprintf(job->log_fd, " %s", argv[i]);
		if (dir)
			dprintf(job->log_fd, "   (in %s)", dir);
		dprintf(job->log_fd, "\n");
	}
	if (!out && !err && job->log_fd >= 0) {
		/* Long steps stream into the log, so a tail -f shows progress. */
		pid_t pid;
		ps.stdout_fd = job->log_fd;
		ps.stderr_fd = job->log_fd;
		if (ml_proc_spawn(&ps, &pid) < 0)
			return -1;
		int w = ml_proc_wait(pid, timeout_ms, &status);
		if (w != 0) {
			ml_proc_kill(pid);
			if (w == 1)
				ml_error("%s: %s did not finish in %d minutes", job->spec, argv[0],
					 timeout_ms / 60000);
			return -1;
		}
	} else if (ml_proc_run(&ps, timeout_ms, &o, &e, &status) < 0) {
		goto out;
	}
	if (job->log_fd >= 0) {
		if (o.len)
			(void)!write(job->log_fd, o.data, o.len);
		if (e.len)
			(void)!write(job->log_fd, e.data, e.len);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ml_proc_status_str(status, desc, sizeof(desc));
		ml_error("%s: %s %s%s%.*s", job->spec, argv[0], desc, e.len ? ": " : "",
			 (int)(e.len > 2000 ? 2000 : e.len), e.len ? e.data : "");
		goto out;
	}
	ret = 0;
out:
	if (out) {
		ml_buf_free(out);
		*out = o;
	} else {
		ml_buf_free(&o);
	}
	if (err) {
		ml_buf_free(err);
		*err = e;
	} else {
		ml_buf_free(&e);
	}
	return ret;
}

/* git on the host, safe with checkouts owned by another user. */
static int git(const struct job *job, const char *repo, const char *const *args, char **out)
{
	const char *argv[24];
	size_t n = 0;
	struct ml_buf o = ML_BUF_INIT(0);
	int r;

	argv[n++] = "/usr/bin/git";
	argv[n++] = "-c";
	argv[n++] = "safe.directory=*";
	argv[n++] = "-C";
	argv[n++] = repo;
	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	r = job_run(job, false, argv, NULL, GIT_TIMEOUT_MS, &o, NULL);
	if (r == 0 && out) {
		while (o.len && (o.data[o.len - 1] == '\n' || o.data[o.len - 1] == '\r'))
			o.data[--o.len] = '\0';
		*out = ml_buf_steal(&o);
	}
	ml_buf_free(&o);
	return r;
}

/* Last lines of a log, for an error message. */
static char *log_tail(const char *path, int lines)
{
	ml_autofree char *text = NULL;
	size_t len = 0;
	const char *p;

	if (ml_read_file(path, 256 << 20, &text, &len) < 0 || len == 0)
		return strdup("(empty log)");
	p = text + len;
	while (p > text && lines >= 0) {
		p--;
		if (*p == '\n')
			lines--;
	}
	return strdup(p == text ? p : p + 1);
}

/* ---------- the toolchain root ---------- */

struct toolchain {
	char *suite;
	char *dir;       /* <cache>/builds/toolchain-SUITE */
	char *root;      /* dir/root */
	char *ccache;    /* dir/ccache */
	char *include;   /* mmdebstrap's --include list */
	char *packages;  /* "name version\n" lines, sorted by dpkg */
	json_t *pkgs;    /* { name: version } */
	int lock_fd;     /* shared while in use */
};

static void toolchain_clear(struct toolchain *t)
{
	free(t->suite);
	free(t->dir);
	free(t->root);
	free(t->ccache);
	free(t->include);
	free(t->packages);
	json_decref(t->pkgs);
	if (t->lock_fd >= 0)
		close(t->lock_fd);
	memset(t, 0, sizeof(*t));
	t->lock_fd = -1;
}

static int toolchain_packages_read(struct toolchain *t)
{
	struct ml_buf b = ML_BUF_INIT(0);
	const char *name;
	json_t *v;

	t->pkgs = ml_build_root_packages(t->root);
	if (!t->pkgs)
		return -1;
	json_object_foreach(t->pkgs, name, v)
		ml_buf_printf(&b, "%s %s\n", name, json_string_value(v));
	t->packages = ml_buf_steal(&b);
	return 0;
}

static bool toolchain_whole(const struct toolchain *t, const char *manifest)
{
	json_t *m = ml_json_load_file(manifest, 1 << 20);
	bool ok = m && ml_json_int(m, "manifest_version", 0) == TOOLCHAIN_MANIFEST_VERSION &&
		  ml_str_eq(ml_json_str(m, "include"), t->include) && ml_is_dir(t->root);
	json_decref(m);
	return ok;
}

static int toolchain_make(const struct ml_config *cfg, struct toolchain *t, const char *manifest)
{
	ml_autofree char *tmp = ml_path_join(t->dir, "root.new");
	ml_autofree char *log = ml_path_join(t->dir, "mmdebstrap.log");
	ml_autofree char *what = ml_strdup_printf("the %s toolchain root", t->suite);
	long long t0 = ml_now_ms();
	json_t *j;
	int r;

	fprintf(stderr, "miglab: making %s for QEMU builds from source (about 90 s)...\n", what);
	unlink(manifest);
	if (ml_rm_rf(tmp) < 0 ||
	    ml_build_mmdebstrap(cfg, what, t->suite, t->include, tmp, log) < 0)
		return -1;
	{
		const char *dirs[] = { SRC_IN_ROOT, CCACHE_IN_ROOT, BUILDS_IN_ROOT, NULL };
		for (size_t i = 0; dirs[i]; i++) {
			ml_autofree char *p = ml_path_join(tmp, dirs[i] + 1);
			if (ml_mkdir_p(p, 0755) < 0)
				return -1;
		}
	}
	if (ml_build_make_mount_points(tmp) < 0 || ml_rm_rf(t->root) < 0)
		return -1;
	if (rename(tmp, t->root) < 0) {
		ml_error_errno(errno, "cannot rename %s to %s", tmp, t->root);
		return -1;
	}
	j = json_object();
	ml_json_set_int(j, "manifest_version", TOOLCHAIN_MANIFEST_VERSION);
	ml_json_set_str(j, "suite", t->suite);
	ml_json_set_str(j, "include", t->include);
	ml_json_set_int(j, "provision_ms", ml_now_ms() - t0);
	r = ml_json_write_file(manifest, j);
	json_decref(j);
	fprintf(stderr, "miglab: %s ready in %.1f s\n", what, (double)(ml_now_ms() - t0) / 1000.0);
	return r;
}

/* Make or reuse the toolchain root of suite; held under a shared lock. */
static int toolchain_open(const struct ml_config *cfg, const char *suite, struct toolchain *t)
{
	ml_autofree char *builds = ml_path_join(cfg->cache_dir, "builds");
	ml_autofree char *name = ml_strdup_printf("toolchain-%s", suite);
	ml_autofree char *lockpath = NULL;
	ml_autofree char *manifest = NULL;
	ml_autofree char *what = NULL;

	memset(t, 0, sizeof(*t));
	t->lock_fd = -1;
	t->suite = strdup(suite);
	t->dir = ml_path_join(builds, name);
	t->root = ml_path_join(t->dir, "root");
	t->ccache = ml_path_join(t->dir, "ccache");
	t->include = ml_strdup_printf("%s%s", toolchain_include(suite), toolchain_packages);
	manifest = ml_path_join(t->dir, "toolchain.json");
	lockpath = ml_strdup_printf("%s.lock", t->dir);
	what = ml_strdup_printf("the %s toolchain root (%s)", suite, t->dir);
	if (ml_mkdir_p(t->dir, 0755) < 0 || ml_mkdir_p(t->ccache, 0755) < 0)
		return -1;
	t->lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (t->lock_fd < 0) {
		ml_error_errno(errno, "cannot open %s", lockpath);
		return -1;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (ml_flock_wait(t->lock_fd, pass ? LOCK_EX : LOCK_SH, what, -1) < 0)
			return -1;
		if (toolchain_whole(t, manifest))
			goto use;
		if (pass == 0)
			flock(t->lock_fd, LOCK_UN);
	}
	if (geteuid() != 0) {
		ml_error("making %s needs root (mmdebstrap); run miglab as root", what);
		return -1;
	}
	if (toolchain_make(cfg, t, manifest) < 0)
		return -1;
use:
	if (flock(t->lock_fd, LOCK_SH) < 0) {
		ml_error_errno(errno, "cannot lock %s", lockpath);
		return -1;
	}
	return toolchain_packages_read(t);
}

/* The work repository every source is checked out into (one per root). */
static int work_repo_ready(const struct job *job, const char *work)
{
	ml_autofree char *dotgit = ml_path_join(work, ".git");
	const char *init[] = { "init", "--quiet", NULL };

	if (ml_path_exists(dotgit))
		return 0;
	if (ml_mkdir_p(work, 0755) < 0)
		return -1;
	return git(job, work, init, NULL);
}

/* Let the work repository see a checkout's objects (git alternates): no copy,
 * and the user's repository is never written to. */
static int work_repo_borrow(const char *work, const char *dir)
{
	ml_autofree char *alt = ml_path_join(work, ".git/objects/info/alternates");
	ml_autofree char *objects = NULL;
	ml_autofree char *text = NULL;
	ml_autofree char *real = realpath(dir, NULL);
	struct ml_buf keep = ML_BUF_INIT(0);
	char *save = NULL;
	size_t len = 0;
	int r;

	if (!real) {
		ml_error_errno(errno, "cannot resolve %s", dir);
		return -1;
	}
	objects = ml_strdup_printf("%s/.git/objects", real);
	if (!ml_is_dir(objects)) {
		ml_error("%s has no .git/objects (a worktree or a submodule checkout?); "
			 "give the main checkout's directory", dir);
		return -1;
	}
	if (ml_read_file(alt, 1 << 20, &text, &len) < 0)
		text = strdup("");
	/* Checkouts that are gone are dropped: git would complain about each on
	 * every command. */
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strcmp(l, objects) != 0 && ml_is_dir(l))
			ml_buf_printf(&keep, "%s\n", l);
	ml_buf_printf(&keep, "%s\n", objects);
	r = ml_write_atomic(alt, keep.data, keep.len, 0644);
	ml_buf_free(&keep);
	return r;
}

/* ---------- resolving what to build ---------- */

struct source {
	struct ml_source_spec s;
	char *commit;      /* in the work repo */
	char *tree;        /* git tree id: what the key hashes */
	char *describe;    /* git describe, or the Debian version */
	char *version;     /* QEMU's VERSION file */
	char *debian_version;
	char *debian_suite;
	bool dirty;
	char **patch_sha;
	json_t *facts;     /* recorded in the build's "source" */
};

static void source_clear(struct source *src)
{
	for (size_t i = 0; i < src->s.n_patches && src->patch_sha; i++)
		free(src->patch_sha[i]);
	free(src->patch_sha);
	ml_source_spec_clear(&src->s);
	free(src->commit);
	free(src->tree);
	free(src->describe);
	free(src->version);
	free(src->debian_version);
	free(src->debian_suite);
	json_decref(src->facts);
	memset(src, 0, sizeof(*src));
}

static int resolve_git(const struct job *job, struct source *src)
{
	ml_autofree char *rev = ml_strdup_printf("%s^{commit}", src->s.ref);
	ml_autofree char *status = NULL;
	ml_autofree char *show = NULL;
	const char *rp[] = { "rev-parse", "--verify", "--quiet", rev, NULL };
	const char *st[] = { "status", "--porcelain", "--untracked-files=no", NULL };

	if (git(job, src->s.dir, rp, &src->commit) < 0 || !src->commit || !*src->commit) {
		ml_error_reset();
		ml_error("build provider '%s': '%s' is not a commit, tag or branch of %s "
			 "(git rev-parse found nothing; fetch it first?)",
			 job->spec, src->s.ref, src->s.dir);
		return -1;
	}
	{
		ml_autofree char *tree_rev = ml_strdup_printf("%s^{tree}", src->commit);
		ml_autofree char *ver_rev = ml_strdup_printf("%s:VERSION", src->commit);
		const char *tr[] = { "rev-parse", tree_rev, NULL };
		const char *ds[] = { "describe", "--tags", "--always", src->commit, NULL };
		const char *sh[] = { "show", ver_rev, NULL };
		if (git(job, src->s.dir, tr, &src->tree) < 0 ||
		    git(job, src->s.dir, ds, &src->describe) < 0)
			return -1;
		if (git(job, src->s.dir, sh, &show) < 0) {
			ml_error_reset();
			ml_error("build provider '%s': commit %s has no VERSION file: is %s a QEMU "
				 "tree?", job->spec, src->commit, src->s.dir);
			return -1;
		}
		src->version = strndup(show, strcspn(show, " \n"));
	}
	if (git(job, src->s.dir, st, &status) == 0 && status && *status) {
		src->dirty = true;
		fprintf(stderr,
			"miglab: %s: %s has uncommitted changes; they are NOT built: miglab builds "
			"%s (%s) as committed. Commit them, or pass them as +patch:FILE.\n",
			job->spec, src->s.dir, src->commit, src->describe);
	}
	return 0;
}

/* ---------- Debian source packages ---------- */

/* One line of `apt-cache madison qemu` for a source:
 * " qemu | 1:10.0.13+ds-0+deb13u1 | http://deb.debian.org/debian trixie/main Sources" */
struct listed {
	char *version;
	char *suite;
};

static int parse_madison(const char *text, struct listed **out, size_t *n)
{
	ml_autofree char *copy = strdup(text);
	char *save = NULL;

	*out = NULL;
	*n = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char pkg[64], ver[128], url[512], dist[128], kind[32];
		if (sscanf(line, " %63s | %127s | %511s %127s %31s", pkg, ver, url, dist, kind) != 5 ||
		    strcmp(kind, "Sources") != 0)
			continue;
		*dist = *dist ? *dist : '?';
		char *slash = strchr(dist, '/');
		if (slash)
			*slash = '\0';
		*out = realloc(*out, (*n + 1) * sizeof(**out));
		if (!*out)
			abort();
		(*out)[*n].version = strdup(ver);
		(*out)[*n].suite = strdup(dist);
		(*n)++;
	}
	return 0;
}

static void listed_free(struct listed *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].version);
		free(l[i].suite);
	}
	free(l);
}

/* Refresh the root's deb-src indexes of every suite (binary indexes of the
 * root's own suite are left as mmdebstrap made them, so nothing installed can
 * change). */
static int apt_sources_update(const struct job *job)
{
	ml_autofree char *list = ml_path_join(job->root, "etc/apt/sources.list.d/miglab-sources.list");
	ml_autofree char *stamp = ml_path_join(job->root, "var/lib/apt/lists/miglab-sources.stamp");
	struct ml_buf b = ML_BUF_INIT(0);
	struct stat st;
	const char *argv[] = { "/usr/bin/apt-get", "-q", "-o", "Acquire::Check-Valid-Until=false",
			       "-o", "APT::Sandbox::User=root", "update", NULL };
	int r;

	if (stat(stamp, &st) == 0 && time(NULL) - st.st_mtime < 6 * 3600 && ml_path_exists(list))
		return 0;
	for (size_t i = 0; source_suites[i]; i++)
		ml_buf_printf(&b, "deb-src %s %s main\n", job->mirror, source_suites[i]);
	r = ml_write_atomic(list, b.data, b.len, 0644);
	ml_buf_free(&b);
	if (r < 0 || job_run(job, true, argv, NULL, APT_TIMEOUT_MS, NULL, NULL) < 0)
		return ml_error_context("cannot read Debian's source indexes");
	return ml_write_atomic(stamp, "", 0, 0644);
}

/* Where a Debian source version resolved to, once per toolchain root. */
static char *debian_record_path(const struct job *job, const char *want)
{
	ml_autofree char *name = ml_strdup_printf("miglab-src/debian-source-%s.json", want);
	return ml_path_join(job->root, name);
}

static char *listed_text(const struct listed *l, size_t n)
{
	struct ml_buf b = ML_BUF_INIT(0);
	for (size_t i = 0; i < n; i++) {
		ml_autofree char *up = ml_source_upstream_version(l[i].version);
		ml_buf_printf(&b, "%s%s (%s, %s)", i ? ", " : "", up ? up : "?", l[i].version,
			      l[i].suite);
	}
	return n ? ml_buf_steal(&b) : strdup("nothing");
}

/* The qemu source packages of upstream version want (or of that exact Debian
 * version) in Debian's source indexes, as apt lists them. */
static int debian_lookup(const struct job *job, const char *want, struct listed **found,
			 size_t *n_found)
{
	const char *argv[] = { "/usr/bin/apt-cache", "madison", "qemu", NULL };
	struct ml_buf o = ML_BUF_INIT(0);
	struct listed *l = NULL;
	size_t n = 0;
	int ret = -1;

	*found = NULL;
	*n_found = 0;
	if (apt_sources_update(job) < 0 || job_run(job, true, argv, NULL, APT_TIMEOUT_MS, &o, NULL) < 0)
		goto out;
	parse_madison(o.data ? o.data : "", &l, &n);
	for (size_t i = 0; i < n; i++) {
		ml_autofree char *up = ml_source_upstream_version(l[i].version);
		if (!ml_str_eq(l[i].version, want) && !ml_str_eq(up, want))
			continue;
		*found = realloc(*found, (*n_found + 1) * sizeof(**found));
		if (!*found)
			abort();
		(*found)[*n_found].version = strdup(l[i].version);
		(*found)[*n_found].suite = strdup(l[i].suite);
		(*n_found)++;
	}
	if (*n_found) {
		ret = 0;
	} else {
		ml_autofree char *all = listed_text(l, n);
		ml_error("build provider '%s': Debian carries no QEMU source %s; the source indexes of "
			 "%s list: %s", job->spec, want, "bookworm, bookworm-backports, trixie, "
			 "trixie-backports, forky and sid", all);
	}
out:
	listed_free(l, n);
	ml_buf_free(&o);
	return ret;
}

/* Download, unpack (Debian's patches applied by dpkg-source) and commit the
 * tree to the work repository on a ref of its own. */
static int debian_import(const struct job *job, const char *work, struct source *src)
{
	ml_autofree char *safe = strdup(src->debian_version);
	ml_autofree char *dl_in_root = NULL, *dl = NULL, *tree_in_root = NULL, *tree = NULL;
	ml_autofree char *spec_arg = ml_strdup_printf("qemu=%s", src->debian_version);
	ml_autofree char *dsc = NULL, *ref = NULL, *msg = NULL, *index = NULL;
	struct ml_buf err = ML_BUF_INIT(0);
	DIR *d;
	struct dirent *e;

	for (char *p = safe; *p; p++)
		if (*p == ':' || *p == '~')
			*p = '_';
	dl_in_root = ml_strdup_printf(SRC_IN_ROOT "/dl-%s", safe);
	/* Inside the download directory: dpkg-source links the tarballs beside
	 * the tree it unpacks. */
	tree_in_root = ml_strdup_printf(SRC_IN_ROOT "/dl-%s/tree", safe);
	dl = ml_path_join(job->root, dl_in_root + 1);
	tree = ml_path_join(job->root, tree_in_root + 1);
	if (ml_rm_rf(dl) < 0 || ml_mkdir_p(dl, 0755) < 0)
		return -1;
	fprintf(stderr, "miglab: %s: downloading Debian's qemu %s (%s)...\n", job->spec,
		src->debian_version, src->debian_suite);
	{
		const char *argv[] = { "/usr/bin/apt-get", "-q", "-o", "APT::Sandbox::User=root",
				       "source", "--download-only", spec_arg, NULL };
		if (job_run(job, true, argv, dl_in_root, APT_TIMEOUT_MS, NULL, &err) < 0) {
			bool missing = err.data && strstr(err.data, "404");
			ml_error_reset();
			ml_error("build provider '%s': downloading Debian's qemu %s (%s) failed:\n%.800s",
				 job->spec, src->debian_version, src->debian_suite,
				 err.data ? err.data : "");
			ml_buf_free(&err);
			ml_rm_rf(dl);
			return missing ? -2 : -1;
		}
	}
	ml_buf_free(&err);
	d = opendir(dl);
	while (d && (e = readdir(d)))
		if (strlen(e->d_name) > 4 && strcmp(e->d_name + strlen(e->d_name) - 4, ".dsc") == 0)
			dsc = strdup(e->d_name);
	if (d)
		closedir(d);
	if (!dsc) {
		ml_error("build provider '%s': apt downloaded no .dsc into %s", job->spec, dl);
		return -1;
	}
	{
		ml_autofree char *dsc_path = ml_path_join(dl, dsc);
		char sha[65];
		if (ml_sha256_file(dsc_path, sha) < 0)
			return -1;
		ml_json_set_str(src->facts, "debian_dsc", dsc);
		ml_json_set_str(src->facts, "debian_dsc_sha256", sha);
	}
	{
		const char *argv[] = { "/usr/bin/dpkg-source", "--no-check", "-x", dsc, "tree", NULL };
		if (job_run(job, true, argv, dl_in_root, APT_TIMEOUT_MS, NULL, NULL) < 0)
			return ml_error_context("unpacking %s", dsc);
	}
	/* Commit the tree with an index of its own, so the work tree's checkout
	 * is not disturbed; -f: Debian's tarball ships subprojects that QEMU's
	 * .gitignore would otherwise leave out. */
	index = ml_strdup_printf("GIT_INDEX_FILE=%s/.git/miglab-import.index", work);
	unlink(index + strlen("GIT_INDEX_FILE="));
	{
		ml_autofree char *worktree = ml_strdup_printf("--work-tree=%s", tree);
		const char *add[] = { "/usr/bin/env", index, "/usr/bin/git", "-c", "safe.directory=*",
				      "-C", work, worktree, "add", "-A", "-f", ".", NULL };
		const char *wt[] = { "/usr/bin/env", index, "/usr/bin/git", "-C", work, "write-tree",
				     NULL };
		struct ml_buf o = ML_BUF_INIT(0);
		ml_autofree char *treeid = NULL;
		if (job_run(job, false, add, NULL, GIT_TIMEOUT_MS, NULL, NULL) < 0 ||
		    job_run(job, false, wt, NULL, GIT_TIMEOUT_MS, &o, NULL) < 0) {
			ml_buf_free(&o);
			return ml_error_context("committing Debian's tree to %s", work);
		}
		treeid = strndup(o.data, strcspn(o.data, "\n"));
		ml_buf_free(&o);
		msg = ml_strdup_printf("Debian's QEMU source package %s (%s), Debian's patches applied",
				       src->debian_version, src->debian_suite);
		const char *ct[] = { "-c", "user.name=miglab", "-c", "user.email=miglab@localhost",
				     "commit-tree", treeid, "-m", msg, NULL };
		if (git(job, work, ct, &src->commit) < 0)
			return -1;
		src->tree = strdup(treeid);
	}
	ref = ml_strdup_printf("refs/miglab/debian-source/%s", safe);
	{
		const char *ur[] = { "update-ref", ref, src->commit, NULL };
		if (git(job, work, ur, NULL) < 0)
			return -1;
	}
	{
		ml_autofree char *vpath = ml_path_join(tree, "VERSION");
		ml_autofree char *v = NULL;
		size_t len;
		if (ml_read_file(vpath, 4096, &v, &len) < 0)
			return ml_error_context("Debian's tree has no VERSION file");
		src->version = strndup(v, strcspn(v, " \n"));
	}
	unlink(index + strlen("GIT_INDEX_FILE="));
	/* The tree is in the work repository now; the download goes too (the
	 * record keeps the Debian version it came from). */
	ml_rm_rf(dl);
	return 0;
}

/* The remembered resolution of a debian-source: version (no network, no
 * lock: the work repository is only read). 0 when found, 1 when not. */
static int debian_record_load(const struct job *job, const char *work, struct source *src)
{
	ml_autofree char *record = debian_record_path(job, src->s.version);
	json_t *j = ml_json_load_file(record, 1 << 20);
	int ret = 1;

	ml_error_reset();
	if (j && ml_json_str(j, "commit") && ml_json_str(j, "tree") && ml_json_str(j, "version")) {
		const char *cf[] = { "cat-file", "-e", ml_json_str(j, "commit"), NULL };
		if (git(job, work, cf, NULL) == 0) {
			src->commit = strdup(ml_json_str(j, "commit"));
			src->tree = strdup(ml_json_str(j, "tree"));
			src->version = strdup(ml_json_str(j, "version"));
			src->debian_version = strdup(ml_json_str(j, "debian_version"));
			src->debian_suite = strdup(ml_json_str(j, "suite"));
			ml_json_set_str(src->facts, "debian_dsc", ml_json_str(j, "dsc"));
			ml_json_set_str(src->facts, "debian_dsc_sha256", ml_json_str(j, "dsc_sha256"));
			src->describe = ml_strdup_printf("debian %s", src->debian_version);
			ret = 0;
		}
		ml_error_reset();
	}
	json_decref(j);
	return ret;
}

/* Look the version up in Debian's source indexes, download and import it,
 * and remember where it went. Under the work lock. */
static int resolve_debian(const struct job *job, const char *work, struct source *src)
{
	ml_autofree char *record = debian_record_path(job, src->s.version);
	json_t *j;

	struct listed *l = NULL;
	size_t n = 0;
	int r = -1;

	if (debian_lookup(job, src->s.version, &l, &n) < 0)
		return -1;
	/* Newest revisions may be listed before the mirror serves them (a
	 * 404): try each package of that version before giving up. */
	for (size_t i = 0; i < n; i++) {
		free(src->debian_version);
		free(src->debian_suite);
		src->debian_version = strdup(l[i].version);
		src->debian_suite = strdup(l[i].suite);
		r = debian_import(job, work, src);
		if (r != -2)
			break;
	}
	if (r == -2) {
		ml_autofree char *which = listed_text(l, n);
		ml_autofree char *last = strdup(ml_error_message() ? ml_error_message() : "");
		ml_error_reset();
		ml_error("build provider '%s': Debian lists QEMU source %s as %s, but the mirror %s "
			 "serves none of their files (404 Not Found); pick another version. "
			 "The last attempt:\n%s", job->spec, src->s.version, which, job->mirror, last);
	}
	listed_free(l, n);
	if (r < 0)
		return -1;
	j = json_object();
	ml_json_set_str(j, "debian_version", src->debian_version);
	ml_json_set_str(j, "suite", src->debian_suite);
	ml_json_set_str(j, "commit", src->commit);
	ml_json_set_str(j, "tree", src->tree);
	ml_json_set_str(j, "version", src->version);
	ml_json_set_str(j, "dsc", ml_json_str(src->facts, "debian_dsc"));
	ml_json_set_str(j, "dsc_sha256", ml_json_str(src->facts, "debian_dsc_sha256"));
	if (ml_json_write_file(record, j) < 0) {
		json_decref(j);
		return -1;
	}
	json_decref(j);
	src->describe = ml_strdup_printf("debian %s", src->debian_version);
	return 0;
}

/* ---------- checking out, patching, building ---------- */

/* Subprojects a git checkout keeps out of git (meson downloads them; miglab
 * builds without network): copy the ones the checkout has. */
static int copy_subprojects(const struct job *job, const char *work, const char *dir,
			    json_t *facts)
{
	ml_autofree char *sub = ml_path_join(work, "subprojects");
	json_t *copied = json_array(), *missing = json_array();
	DIR *d = opendir(sub);
	struct dirent *e;
	int ret = 0;

	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n <= 5 || strcmp(e->d_name + n - 5, ".wrap") != 0)
			continue;
		ml_autofree char *wrap = ml_path_join(sub, e->d_name);
		ml_autofree char *text = NULL;
		ml_autofree char *name = strndup(e->d_name, n - 5);
		size_t len;
		const char *k;
		if (ml_read_file(wrap, 1 << 20, &text, &len) == 0 && (k = strstr(text, "\ndirectory"))) {
			k = strchr(k, '=');
			if (k) {
				k++;
				while (*k == ' ')
					k++;
				free(name);
				name = strndup(k, strcspn(k, " \r\n"));
			}
		}
		ml_autofree char *have = ml_path_join(sub, name);
		if (ml_is_dir(have))
			continue;
		ml_autofree char *rel = ml_strdup_printf("subprojects/%s", name);
		ml_autofree char *from = ml_path_join(dir, rel);
		if (ml_is_dir(from)) {
			/* cp -a: a subproject may hold symlinks (ml_copy_tree skips them). */
			const char *cp[] = { "/bin/cp", "-a", from, have, NULL };
			if (job_run(job, false, cp, NULL, GIT_TIMEOUT_MS, NULL, NULL) < 0) {
				ret = -1;
				break;
			}
			json_array_append_new(copied, json_string(name));
		} else {
			json_array_append_new(missing, json_string(name));
		}
	}
	if (d)
		closedir(d);
	if (job->log_fd >= 0 && json_array_size(missing)) {
		ml_autofree char *m = json_dumps(missing, JSON_COMPACT);
		dprintf(job->log_fd, "== miglab: subprojects absent in %s too: %s "
			"(meson would download them; run `meson subprojects download` there if "
			"configure needs one)\n", dir, m);
	}
	ml_json_set(facts, "subprojects_copied", copied);
	ml_json_set(facts, "subprojects_missing", missing);
	return ret;
}

static int checkout(const struct job *job, const char *work, struct source *src)
{
	/* reset --hard, not checkout: it compares the index with the commit and
	 * rewrites only the files that differ, even when the previous HEAD's
	 * objects went away with a deleted checkout (checkout --force then
	 * rewrote every file, and make rebuilt everything). Unchanged files keep
	 * their mtimes, so make rebuilds only what the new commit changed. */
	const char *co[] = { "reset", "--quiet", "--hard", src->commit, NULL };
	const char *clean[] = { "clean", "-fdq", NULL };

	if (src->s.git && work_repo_borrow(work, src->s.dir) < 0)
		return -1;
	if (git(job, work, co, NULL) < 0 || git(job, work, clean, NULL) < 0)
		return ml_error_context("checking out %s in %s", src->commit, work);
	if (src->s.git)
		return copy_subprojects(job, work, src->s.dir, src->facts);
	return 0;
}

int ml_source_apply_patches(const char *spec, const char *tree, const char *const *patches,
			    size_t n, const char *what)
{
	struct job job = { .spec = spec, .log_fd = -1 };

	for (size_t i = 0; i < n; i++) {
		const char *p = patches[i];
		const char *apply[] = { "apply", p, NULL };
		const char *argv[] = { "/usr/bin/git", "-c", "safe.directory=*", "-C", tree, "apply",
				       "--check", "--verbose", p, NULL };
		struct ml_buf err = ML_BUF_INIT(0);
		if (job_run(&job, false, argv, NULL, GIT_TIMEOUT_MS, NULL, &err) < 0) {
			ml_error_reset();
			ml_error("build provider '%s': patch %zu of %zu, %s, does not apply to %s:\n%.1500s",
				 spec, i + 1, n, p, what, err.data ? err.data : "");
			ml_buf_free(&err);
			return -1;
		}
		ml_buf_free(&err);
		if (git(&job, tree, apply, NULL) < 0)
			return -1;
	}
	return 0;
}

static int apply_patches(const struct job *job, const char *work, const struct source *src)
{
	ml_autofree char *what = ml_strdup_printf("%s (%s)", src->commit, src->describe);
	return ml_source_apply_patches(job->spec, work, (const char *const *)src->s.patches,
				       src->s.n_patches, what);
}

static char *configure_line(const char *version)
{
	const char *const *args = ml_source_configure_args(version);
	struct ml_buf b = ML_BUF_INIT(0);
	for (size_t i = 0; args[i]; i++)
		ml_buf_printf(&b, "%s\n", args[i]);
	return ml_buf_steal(&b);
}

/* One build directory per configure line, reused across commits so a
 * checkout of a neighbour commit rebuilds only what changed; configured
 * afresh when QEMU's version (its meson options) or the line changes. */
static int configure(const struct job *job, const struct source *src, const char *bdir_in_root)
{
	ml_autofree char *bdir = ml_path_join(job->root, bdir_in_root + 1);
	ml_autofree char *stamp = ml_path_join(bdir, "miglab-configured");
	ml_autofree char *line = configure_line(src->version);
	ml_autofree char *want = ml_strdup_printf("%s\n%s", src->version, line);
	ml_autofree char *have = NULL;
	size_t len;
	const char *argv[32];
	size_t n = 0;

	if (ml_read_file(stamp, 1 << 20, &have, &len) == 0 && ml_str_eq(have, want))
		return 0;
	if (ml_rm_rf(bdir) < 0 || ml_mkdir_p(bdir, 0755) < 0)
		return -1;
	argv[n++] = WORK_IN_ROOT "/configure";
	for (const char *const *a = ml_source_configure_args(src->version); *a; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	if (job_run(job, true, argv, bdir_in_root, CONFIGURE_TIMEOUT_MS, NULL, NULL) < 0)
		return -1;
	return ml_write_atomic(stamp, want, strlen(want), 0644);
}

static int make(const struct job *job, const char *bdir_in_root, const char *destdir_in_root)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	ml_autofree char *jobs = ml_strdup_printf("-j%ld", cpus > 0 ? cpus : 1);
	ml_autofree char *dest = ml_strdup_printf("DESTDIR=%s", destdir_in_root);
	const char *build[] = { "/usr/bin/make", jobs, NULL };
	const char *install[] = { "/usr/bin/make", "install", dest, NULL };

	/* make, not ninja: QEMU's Makefile also builds the x86 option ROMs
	 * (pc-bios/optionrom), which Debian strips from its tarball. */
	if (job_run(job, true, build, bdir_in_root, MAKE_TIMEOUT_MS, NULL, NULL) < 0 ||
	    job_run(job, true, install, bdir_in_root, CONFIGURE_TIMEOUT_MS, NULL, NULL) < 0)
		return -1;
	return 0;
}

/* Link every firmware file (*.bin, *.rom) a package of the root installs
 * into the data directory, unless the tree built its own. Where they live
 * differs by suite (iPXE: /usr/lib/ipxe/qemu in bookworm, /usr/share/qemu in
 * trixie), so dpkg's file list of the package says. */
static int link_package_firmware(const struct job *job, const char *package, const char *datadir,
				 json_t *files)
{
	ml_autofree char *list = ml_strdup_printf("%s/var/lib/dpkg/info/%s.list", job->root, package);
	ml_autofree char *text = NULL;
	char *save = NULL;
	size_t len, n = 0;

	if (ml_read_file(list, 4 << 20, &text, &len) < 0)
		return ml_error_context("%s: the firmware package %s is not installed in the "
					"toolchain root", job->spec, package);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);
		const char *base = strrchr(line, '/');
		struct stat st;
		if (l < 5 || !base || (strcmp(line + l - 4, ".bin") != 0 && strcmp(line + l - 4, ".rom") != 0))
			continue;
		ml_autofree char *host = ml_path_join(job->root, line + 1);
		ml_autofree char *dst = ml_path_join(datadir, base + 1);
		if (lstat(host, &st) < 0 || !S_ISREG(st.st_mode) || ml_path_exists(dst))
			continue;
		if (symlink(line, dst) < 0) {
			ml_error_errno(errno, "cannot link %s", dst);
			return -1;
		}
		ml_json_set_str(files, base + 1, line);
		n++;
	}
	if (n == 0) {
		ml_error("%s: the package %s of the toolchain root installs no firmware file", job->spec,
			 package);
		return -1;
	}
	return 0;
}

/* Put the option ROMs this tree built and the suite's SeaBIOS and iPXE into
 * the install's data directory; returns what was used. */
static json_t *add_firmware(const struct job *job, const char *bdir, const char *datadir,
			    json_t *pkgs)
{
	static const char *const packages[] = { "seabios", "ipxe-qemu" };
	json_t *fw = json_object(), *files = json_object();
	static const char *const needed[] = { "linuxboot_dma.bin", "pvh.bin", "kvmvapic.bin" };
	ml_autofree char *optionrom = ml_path_join(bdir, "pc-bios/optionrom");
	DIR *d;
	struct dirent *e;

	/* Without them QEMU cannot boot a guest kernel (-kernel) at all. */
	for (size_t i = 0; i < ML_ARRAY_SIZE(needed); i++) {
		ml_autofree char *rom = ml_path_join(optionrom, needed[i]);
		if (!ml_path_exists(rom)) {
			ml_error("%s: the build made no x86 option ROM %s (configure found no compiler "
				 "for them: see config.log in %s)", job->spec, needed[i], bdir);
			goto fail;
		}
	}
	d = opendir(optionrom);
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 5 || strcmp(e->d_name + n - 4, ".bin") != 0)
			continue;
		ml_autofree char *src = ml_path_join(optionrom, e->d_name);
		ml_autofree char *dst = ml_path_join(datadir, e->d_name);
		if (ml_copy_regular_file(src, dst) < 0) {
			closedir(d);
			goto fail;
		}
		ml_json_set_str(files, e->d_name, "built from this tree (pc-bios/optionrom)");
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < ML_ARRAY_SIZE(packages); i++) {
		if (link_package_firmware(job, packages[i], datadir, files) < 0)
			goto fail;
		ml_json_set_str(fw, packages[i], ml_json_str(pkgs, packages[i]));
	}
	ml_json_set(fw, "files", files);
	return fw;
fail:
	json_decref(files);
	json_decref(fw);
	return NULL;
}

/* ---------- the cached build ---------- */

struct entry {
	char key[17];
	char *dir_in_root;  /* /opt/miglab/<key> */
	char *dir;          /* the same on the host */
	char *manifest;     /* dir/build.json */
	char *log;          /* dir/build.log */
};

static void entry_clear(struct entry *e)
{
	free(e->dir_in_root);
	free(e->dir);
	free(e->manifest);
	free(e->log);
}

static void entry_init(struct entry *e, const char *root, const struct source *src,
		       const char *packages)
{
	ml_source_key(src->tree, (const char *const *)src->patch_sha, src->s.n_patches,
		      ml_source_configure_args(src->version), packages, e->key);
	e->dir_in_root = ml_strdup_printf(BUILDS_IN_ROOT "/%s", e->key);
	e->dir = ml_path_join(root, e->dir_in_root + 1);
	e->manifest = ml_path_join(e->dir, "build.json");
	e->log = ml_path_join(e->dir, "build.log");
}

static void set_paths(struct ml_build *b, const struct toolchain *t, const struct entry *e)
{
	free(b->dir);
	free(b->root);
	free(b->qemu);
	free(b->qemu_host_path);
	b->dir = strdup(e->dir);
	b->root = strdup(t->root);
	b->qemu = ml_strdup_printf("%s/qemu/bin/qemu-system-x86_64", e->dir_in_root);
	b->qemu_host_path = ml_path_join(t->root, b->qemu + 1);
}

/* A whole cached build: build.json written last, and the binary unchanged. */
static int entry_load(struct ml_build *b, const struct entry *e)
{
	json_t *m;
	char sha[65];

	if (!ml_path_exists(e->manifest))
		return 1;
	m = ml_json_load_file(e->manifest, 16 << 20);
	if (!m || !ml_json_str(m, "sha256") || !ml_json_str(m, "version") ||
	    !json_is_object(json_object_get(m, "source"))) {
		json_decref(m);
		fprintf(stderr, "miglab: %s: cached build %s is unreadable; building again\n",
			b->spec, e->dir);
		return 1;
	}
	if (ml_sha256_file(b->qemu_host_path, sha) < 0 || strcmp(sha, ml_json_str(m, "sha256")) != 0) {
		json_decref(m);
		ml_error_reset();
		fprintf(stderr, "miglab: %s: cached build %s is damaged (QEMU binary missing or "
			"changed); building again\n", b->spec, e->dir);
		return 1;
	}
	memcpy(b->sha256, sha, sizeof(sha));
	b->version = strdup(ml_json_str(m, "version"));
	b->version_line = strdup(ml_json_str(m, "version_line") ? ml_json_str(m, "version_line") : "");
	b->machines = json_incref(json_object_get(m, "machines"));
	b->source = json_deep_copy(json_object_get(m, "source"));
	json_decref(m);
	return 0;
}

static int build_entry(const struct job *job, const struct toolchain *t, const struct entry *e,
		       struct source *src, struct ml_build *b)
{
	ml_autofree char *cfg_line = configure_line(src->version);
	ml_autofree char *bdir_in_root = NULL, *bdir = NULL;
	ml_autofree char *stage_in_root = ml_strdup_printf("%s/stage", e->dir_in_root);
	ml_autofree char *stage = ml_path_join(e->dir, "stage");
	ml_autofree char *staged = ml_path_join(stage, PREFIX + 1);
	ml_autofree char *prefix = ml_path_join(e->dir, "qemu");
	ml_autofree char *datadir = NULL;
	ml_autofree char *work = ml_path_join(t->root, WORK_IN_ROOT + 1);
	long long t0 = ml_now_ms();
	json_t *fw, *j;
	char h[65];

	ml_sha256_text(cfg_line, h);
	bdir_in_root = ml_strdup_printf(SRC_IN_ROOT "/build-%.16s", h);
	bdir = ml_path_join(t->root, bdir_in_root + 1);
	if (ml_rm_rf(stage) < 0 || ml_rm_rf(prefix) < 0)
		return -1;
	fprintf(stderr, "miglab: %s: building QEMU %s (%s) in the %s toolchain root; log: %s\n",
		job->spec, src->version, src->describe, t->suite, e->log);
	if (checkout(job, work, src) < 0 || apply_patches(job, work, src) < 0)
		return -1;
	if (configure(job, src, bdir_in_root) < 0 || make(job, bdir_in_root, stage_in_root) < 0)
		goto failed;
	datadir = ml_path_join(staged, "share/qemu");
	if (ml_mkdir_p(datadir, 0755) < 0)
		return -1;
	fw = add_firmware(job, bdir, datadir, t->pkgs);
	if (!fw)
		return -1;
	if (rename(staged, prefix) < 0) {
		json_decref(fw);
		ml_error_errno(errno, "cannot rename %s to %s", staged, prefix);
		return -1;
	}
	ml_rm_rf(stage);
	if (ml_build_collect_facts(b) < 0) {
		json_decref(fw);
		return ml_error_context("the QEMU built from %s", src->describe);
	}
	/* What the key hashed, and how it was built: recorded once, with the build. */
	j = json_object();
	ml_json_set_str(j, "key", e->key);
	ml_json_set_str(j, "tree", src->tree);
	ml_json_set_str(j, "toolchain", t->suite);
	{
		json_t *args = json_array();
		for (const char *const *a = ml_source_configure_args(src->version); *a; a++)
			json_array_append_new(args, json_string(*a));
		ml_json_set(j, "configure_args", args);
	}
	ml_json_set(j, "firmware", fw);
	ml_json_set_int(j, "build_ms", ml_now_ms() - t0);
	ml_json_set_str(j, "built_for", job->spec);
	ml_json_set_str(j, "build_dir", bdir_in_root);
	b->source = j;
	{
		json_t *m = ml_build_to_json(b);
		int r = ml_json_write_file(e->manifest, m);
		json_decref(m);
		if (r < 0)
			return -1;
	}
	fprintf(stderr, "miglab: %s: QEMU %s built in %.1f s (%s)\n", job->spec, b->version,
		(double)(ml_now_ms() - t0) / 1000.0, e->dir);
	return 0;
failed:
	{
		ml_autofree char *tail = log_tail(e->log, LOG_TAIL_LINES);
		const char *why = ml_error_message();
		ml_autofree char *first = strdup(why ? why : "");
		ml_error_reset();
		ml_rm_rf(stage);
		ml_error("building %s (%s) failed: %s\nlast lines of the build log:\n%s\n(whole log: %s)",
			 job->spec, src->describe, first, tail, e->log);
	}
	return -1;
}

/* The facts of this request (the same build may serve several providers). */
static void record_request(struct ml_build *b, const struct source *src)
{
	json_t *s = b->source;
	json_t *patches = json_array();

	ml_json_set_str(s, "provider", b->spec);
	ml_json_set_str(s, "kind", src->s.git ? "git" : "debian-source");
	if (src->s.git) {
		ml_json_set_str(s, "checkout", src->s.dir);
		ml_json_set_str(s, "ref", src->s.ref);
		ml_json_set(s, "checkout_dirty", json_boolean(src->dirty));
	} else {
		ml_json_set_str(s, "debian_version", src->debian_version);
		ml_json_set_str(s, "debian_suite", src->debian_suite);
	}
	ml_json_set_str(s, "commit", src->commit);
	ml_json_set_str(s, "describe", src->describe);
	for (size_t i = 0; i < src->s.n_patches; i++) {
		json_t *p = json_object();
		ml_json_set_str(p, "path", src->s.patches[i]);
		ml_json_set_str(p, "sha256", src->patch_sha[i]);
		json_array_append_new(patches, p);
	}
	ml_json_set(s, "patches", patches);
	if (src->facts) {
		const char *k;
		json_t *v;
		json_object_foreach(src->facts, k, v)
			ml_json_set(s, k, json_incref(v));
	}
}

static int patch_hashes(struct source *src)
{
	src->patch_sha = calloc(src->s.n_patches + 1, sizeof(*src->patch_sha));
	if (!src->patch_sha)
		abort();
	for (size_t i = 0; i < src->s.n_patches; i++) {
		char sha[65];
		if (ml_sha256_file(src->s.patches[i], sha) < 0)
			return -1;
		src->patch_sha[i] = strdup(sha);
	}
	return 0;
}

/* One build at a time per root: they share the work tree and the build
 * directory, and two would only slow each other down on the same cores. */
static int work_lock(const struct toolchain *t)
{
	ml_autofree char *path = ml_strdup_printf("%s/miglab-src/work.lock", t->root);
	ml_autofree char *what = ml_strdup_printf("the work tree of the %s toolchain root", t->suite);

	return ml_flock_open(path, LOCK_EX, what, -1);
}

/* What provisioning and exporting share: parse the spec, hash its patches,
 * resolve a git ref, and open the toolchain root of its QEMU version (held
 * shared in t). debian-source: versions are resolved later, under the work
 * lock, as they may need a download. */
static int source_open(const struct ml_config *cfg, const char *spec, struct source *src,
		       struct toolchain *t, struct job *job, char **work)
{
	if (ml_source_spec_parse(spec, &src->s) < 0 || patch_hashes(src) < 0)
		return -1;
	src->facts = json_object();
	if (src->s.git && resolve_git(job, src) < 0)
		return -1;
	if (toolchain_open(cfg, ml_source_toolchain_suite(src->s.git ? src->version : src->s.version),
			   t) < 0)
		return -1;
	job->root = t->root;
	job->ccache = t->ccache;
	*work = ml_path_join(t->root, WORK_IN_ROOT + 1);
	return 0;
}

int ml_source_provision(const struct ml_config *cfg, struct ml_build *b, bool refresh)
{
	struct source src = { 0 };
	struct toolchain t = { .lock_fd = -1 };
	struct entry e = { 0 };
	struct job job = { .spec = b->spec, .mirror = cfg->mirror, .log_fd = -1 };
	ml_autofree char *work = NULL;
	ml_autoclose int lock = -1;
	bool resolved;
	int ret = -1, r = 1;

	if (source_open(cfg, b->spec, &src, &t, &job, &work) < 0)
		goto out;
	/* The common case, a cached build, needs no lock on the work tree. */
	resolved = src.s.git || (!refresh && debian_record_load(&job, work, &src) == 0);
	if (resolved && !refresh) {
		entry_init(&e, t.root, &src, t.packages);
		set_paths(b, &t, &e);
		r = entry_load(b, &e);
		if (r < 0)
			goto out;
	}
	if (r == 1) {
		if ((lock = work_lock(&t)) < 0 || work_repo_ready(&job, work) < 0)
			goto out;
		if (!resolved && resolve_debian(&job, work, &src) < 0)
			goto out;
		if (!e.dir) {
			entry_init(&e, t.root, &src, t.packages);
			set_paths(b, &t, &e);
		}
		/* Again under the lock: another process may have built it meanwhile. */
		r = refresh ? 1 : entry_load(b, &e);
	}
	if (r == 1) {
		if (ml_rm_rf(e.dir) < 0 || ml_mkdir_p(e.dir, 0755) < 0)
			goto out;
		job.log_fd = open(e.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (job.log_fd < 0) {
			ml_error_errno(errno, "cannot create %s", e.log);
			goto out;
		}
		r = build_entry(&job, &t, &e, &src, b);
		close(job.log_fd);
		job.log_fd = -1;
		if (r < 0)
			goto out;
	} else if (r < 0) {
		goto out;
	}
	b->packages = json_incref(t.pkgs);
	free(b->suite);
	b->suite = strdup(t.suite);
	if (!src.s.git)
		b->package_version = strdup(src.debian_version);
	record_request(b, &src);
	b->lock_fd = t.lock_fd;
	b->locked = true;
	t.lock_fd = -1;
	ret = 0;
out:
	if (job.log_fd >= 0)
		close(job.log_fd);
	entry_clear(&e);
	toolchain_clear(&t);
	source_clear(&src);
	return ret;
}

int ml_source_export(const struct ml_config *cfg, const char *spec, const char *dest)
{
	struct source src = { 0 };
	struct toolchain t = { .lock_fd = -1 };
	struct job job = { .spec = spec, .mirror = cfg->mirror, .log_fd = -1 };
	ml_autofree char *work = NULL;
	ml_autofree char *msg = NULL;
	ml_autoclose int lock = -1;
	const char *ref = "refs/miglab/export";
	int ret = -1;

	if (ml_path_exists(dest)) {
		ml_error("--export-source: %s exists; give a new directory", dest);
		return -1;
	}
	if (source_open(cfg, spec, &src, &t, &job, &work) < 0)
		goto out;
	if ((lock = work_lock(&t)) < 0 || work_repo_ready(&job, work) < 0 ||
	    (!src.s.git && debian_record_load(&job, work, &src) != 0 &&
	     resolve_debian(&job, work, &src) < 0) ||
	    (src.s.git && work_repo_borrow(work, src.s.dir) < 0))
		goto out;
	/* Fetched, not copied: git keeps the tree exactly (symlinks, modes), so
	 * the export's commit has the same tree and hence the same build key. */
	{
		const char *mark[] = { "update-ref", ref, src.commit, NULL };
		const char *unmark[] = { "update-ref", "-d", ref, NULL };
		const char *init[] = { "init", "--quiet", "--initial-branch=main", NULL };
		const char *fetch[] = { "fetch", "--quiet", "--no-tags", work, ref, NULL };
		const char *co[] = { "checkout", "--quiet", "-B", "main", "FETCH_HEAD", NULL };
		int r;
		if (git(&job, work, mark, NULL) < 0 || ml_mkdir_p(dest, 0755) < 0)
			goto out;
		r = git(&job, dest, init, NULL) < 0 || git(&job, dest, fetch, NULL) < 0 ||
		    git(&job, dest, co, NULL) < 0;
		git(&job, work, unmark, NULL);
		if (r)
			goto out;
	}
	if (src.s.n_patches) {
		const char *add[] = { "add", "-A", "-f", ".", NULL };
		ml_autofree char *what = ml_strdup_printf("%s (%s)", src.commit, src.describe);
		msg = ml_strdup_printf("The patches of %s", spec);
		const char *commit[] = { "-c", "user.name=miglab", "-c", "user.email=miglab@localhost",
					 "commit", "--quiet", "--no-verify", "-m", msg, NULL };
		if (ml_source_apply_patches(spec, dest, (const char *const *)src.s.patches,
					    src.s.n_patches, what) < 0 ||
		    git(&job, dest, add, NULL) < 0 || git(&job, dest, commit, NULL) < 0)
			goto out;
	}
	fprintf(stderr, "miglab: %s: the source tree (%s) is a git repository at %s (branch main)\n",
		spec, src.describe, dest);
	ret = 0;
out:
	toolchain_clear(&t);
	source_clear(&src);
	return ret;
}
