/* The fault suite (issue 11): the real miglab binary against hostile guests,
 * broken QEMUs, signals, full disks and concurrent runs. Each case is a row
 * of fault_cases[] (what is injected, the judgement miglab must give) run by
 * one routine, fault_run_case(), which afterwards checks the three things
 * every case promises:
 *   (a) no process left: the driver is a child subreaper, so every orphan of
 *       miglab becomes its child; after a case no descendant of the driver
 *       and no process naming the case's private directory may remain;
 *   (b) nothing half-written or lost: every cell.json/run.json under the
 *       case's results parses, none says "running" (but where the case
 *       SIGKILLs miglab and then resumes), no temp file of ml_write_atomic
 *       (NAME.tmp.XXXXXX) remains, every cell run.json names exists;
 *   (c) the verdict and class (or, for commands without cells, the outcome)
 *       the row expects.
 * One line per case: `fault CASE expected=... observed=... procs_left=N
 * lost=N`. `test-fault CASE` runs one case (ctest runs them one by one,
 * label "fault"); exit 77 when root or the cached builds are missing. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ml-buf.h"
#include "ml-fs.h"
#include "ml-json.h"
#include "ml-common.h"

extern char **environ;

/* Builds whose control cells pass on this host (tests/integration/test-cell.c). */
#define BUILD_REAL "debian:trixie" /* QEMU 10.0.13 */
#define MACHINE_REAL "pc-q35-7.2"

enum fault_needs {
	NEED_KERNEL = 1 << 0, /* the bookworm guest kernel in the cache (any cell) */
	NEED_BUILDS = 1 << 1, /* debian:trixie in the cache */
	NEED_NET = 1 << 2,    /* a Debian mirror (mmdebstrap) */
};

struct fault_ctx;

/* One case: what is injected, the judgement miglab must give, and the hook
 * that injects it and records what miglab said. */
struct fault_case {
	const char *name;
	const char *inject;   /* one line: what goes wrong */
	const char *expected; /* "VERDICT/CLASS" of the cell, or the command's outcome */
	unsigned needs;
	int (*run)(struct fault_ctx *ctx); /* 0, or -1 when a check of its own failed */
};

struct fault_ctx {
	const struct fault_case *fc;
	char *dir;      /* /tmp/mlfault-NAME-XXXXXX: everything of the case */
	char *results;  /* dir/results */
	char *cache;    /* the shared cache (MIGLAB_CACHE_DIR or ~/.cache/miglab) */
	char observed[512];
	int checks_failed;
	int n_spawned;
};

static const char *fake_qemu_py = FAULT_SOURCE_DIR "/fake-qemu.py";
/* The miglab under test: the one built beside the suite, or MIGLAB_FAULT_BIN
 * (to show a case failing on another build). */
static const char *miglab_bin = MIGLAB_BIN;

/* ---- small helpers ------------------------------------------------------ */

static void note(struct fault_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct fault_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "  [%s] ", ctx->fc->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A check of the case's own: counted, and said when it fails. */
#define CHECK(ctx, cond, ...)                                                                  \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			(ctx)->checks_failed++;                                                \
			note((ctx), "CHECK FAILED (%s:%d) %s", __FILE__, __LINE__, #cond);     \
			note((ctx), __VA_ARGS__);                                              \
		}                                                                              \
	} while (0)

static void set_observed(struct fault_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_observed(struct fault_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->observed, sizeof(ctx->observed), fmt, ap);
	va_end(ap);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_text(const char *path)
{
	char *t = NULL;
	if (ml_read_file(path, 64 << 20, &t, NULL) < 0)
		return strdup("");
	return t;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	return ml_write_atomic(path, text, strlen(text), mode);
}

/* ---- processes ------------------------------------------------------------ */

struct child {
	pid_t pid;
	char *log; /* stdout+stderr of the child */
	int status;
	struct rusage ru;
	bool done;
};

/* Start argv (NULL-terminated) with the driver's environment, output to
 * ctx->dir/LOGNAME.log. Not through ml_proc: miglab's own supervision is
 * what is tested, so the driver adds none of its own. */
static int spawn(struct fault_ctx *ctx, struct child *c, const char *logname, const char *const *argv)
{
	int fd;

	memset(c, 0, sizeof(*c));
	c->log = ml_strdup_printf("%s/%s.log", ctx->dir, logname);
	fd = open(c->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	c->pid = fork();
	if (c->pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execve(argv[0], (char *const *)argv, environ);
		_exit(127);
	}
	close(fd);
	ctx->n_spawned++;
	return c->pid > 0 ? 0 : -1;
}

/* Wait for c up to timeout_ms; past it, SIGKILL it (a hang). Returns its
 * exit code (128+N for a signal), or -1 when it hung. */
static int child_wait(struct fault_ctx *ctx, struct child *c, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	int hung = 0;

	while (!c->done) {
		pid_t r = wait4(c->pid, &c->status, WNOHANG, &c->ru);
		if (r == c->pid) {
			c->done = true;
			break;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() > end) {
			note(ctx, "pid %d did not end within %d s: killed (a hang)", (int)c->pid, timeout_ms / 1000);
			kill(c->pid, SIGKILL);
			end = now_ms() + 10000;
			hung = 1;
			continue;
		}
		usleep(20 * 1000);
	}
	if (hung)
		return -1;
	return WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status);
}

static void child_clear(struct child *c)
{
	free(c->log);
	c->log = NULL;
}

/* Run miglab ARGS... to the end (timeout_ms); its output in *out (caller frees). */
static int miglab(struct fault_ctx *ctx, const char *logname, int timeout_ms, char **out, const char *const *args)
{
	const char *argv[64] = { miglab_bin };
	size_t n = 1;
	struct child c;
	int rc;

	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (spawn(ctx, &c, logname, argv) < 0)
		return -1;
	rc = child_wait(ctx, &c, timeout_ms);
	if (out)
		*out = read_text(c.log);
	child_clear(&c);
	return rc;
}

static int spawn_miglab(struct fault_ctx *ctx, struct child *c, const char *logname, const char *const *args)
{
	const char *argv[64] = { miglab_bin };
	size_t n = 1;
	for (size_t i = 0; args[i] && n < ML_ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return spawn(ctx, c, logname, argv);
}

/* /proc/PID/stat's ppid, -1 when gone. */
static pid_t ppid_of(pid_t pid, char *state)
{
	char path[64], buf[1024];
	FILE *f;
	char *p;
	int ppid = -1;
	char st = '?';

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%c %d", &st, &ppid);
	fclose(f);
	if (state)
		*state = st;
	return ppid;
}

/* The command line, NULs made spaces; "" when gone. */
static char *cmdline_of(pid_t pid)
{
	char path[64];
	char *t = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (ml_read_file(path, 1 << 16, &t, &len) < 0) {
		return strdup("");
	}
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\0')
			t[i] = ' ';
	return t;
}

/* Is pid a descendant of root (by the parent chain now)? */
static bool descends_from(pid_t pid, pid_t root)
{
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		pid_t pp = ppid_of(pid, NULL);
		if (pp == root)
			return true;
		pid = pp;
	}
	return false;
}

/* Live (not zombie) descendants of root whose command line contains
 * needle (NULL: any); up to max pids in out. */
static size_t find_procs(pid_t root, const char *needle, pid_t *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d))) {
		pid_t pid;
		char st;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		pid = atoi(e->d_name);
		if (ppid_of(pid, &st) < 0 || st == 'Z' || st == 'X' || !descends_from(pid, root))
			continue;
		if (needle) {
			ml_autofree char *cmd = cmdline_of(pid);
			if (!strstr(cmd, needle))
				continue;
		}
		if (n < max)
			out[n] = pid;
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Wait up to timeout_ms for a descendant of root whose command line holds
 * needle; its pid or 0. */
static pid_t wait_proc(pid_t root, const char *needle, int timeout_ms)
{
	long long end = now_ms() + timeout_ms;
	pid_t p;
	do {
		if (find_procs(root, needle, &p, 1) > 0)
			return p;
		usleep(20 * 1000);
	} while (now_ms() < end);
	return 0;
}

/* Wait up to timeout_ms until file holds needle; 0 when it does. */
static int wait_file_has(const char *file, const char *needle, int timeout_ms, pid_t alive)
{
	long long end = now_ms() + timeout_ms;
	do {
		ml_autofree char *t = read_text(file);
		if (strstr(t, needle))
			return 0;
		if (alive > 0 && (kill(alive, 0) < 0 || ppid_of(alive, NULL) < 0))
			return -1;
		usleep(20 * 1000);
	} while (now_ms() < end);
	return -1;
}

/* (a) Processes the case left: reap the driver's zombies (orphans of miglab
 * reparent to it: it is a subreaper), give the dying 5 s, then list every
 * descendant and every process naming the case directory. */
static int count_leftovers(struct fault_ctx *ctx)
{
	pid_t self = getpid(), pids[64];
	size_t n = 0;
	long long end = now_ms() + 5000;
	DIR *d;
	struct dirent *e;
	int count = 0;

	do {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		n = find_procs(self, NULL, pids, ML_ARRAY_SIZE(pids));
		if (n == 0)
			break;
		usleep(50 * 1000);
	} while (now_ms() < end);
	for (size_t i = 0; i < n && i < ML_ARRAY_SIZE(pids); i++) {
		ml_autofree char *cmd = cmdline_of(pids[i]);
		note(ctx, "left behind: pid %d: %.300s", (int)pids[i], cmd);
	}
	count = (int)n;
	/* Anything, anywhere, naming the case's directory. */
	d = opendir("/proc");
	while (d && (e = readdir(d))) {
		pid_t pid;
		char st;
		ml_autofree char *cmd = NULL;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		pid = atoi(e->d_name);
		if (pid == self || ppid_of(pid, &st) < 0 || st == 'Z' || descends_from(pid, self))
			continue;
		cmd = cmdline_of(pid);
		if (strstr(cmd, ctx->dir)) {
			note(ctx, "left behind (names the case dir): pid %d: %.300s", (int)pid, cmd);
			count++;
		}
	}
	if (d)
		closedir(d);
	/* Kill them now, so that one case's leftovers do not count against the next. */
	for (size_t i = 0; i < n && i < ML_ARRAY_SIZE(pids); i++)
		kill(pids[i], SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return count;
}

/* ---- results -------------------------------------------------------------- */

struct lost {
	int count;
	bool allow_running;
	struct fault_ctx *ctx;
};

static void lost_one(struct lost *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lost_one(struct lost *l, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	note(l->ctx, "lost/half-written: %s", buf);
	l->count++;
}

static void check_json_file(struct lost *l, const char *path, const char *base)
{
	json_t *doc = ml_json_load_file(path, 64 << 20);
	const char *v, *state;

	if (!doc) {
		lost_one(l, "%s does not parse", path);
		return;
	}
	v = ml_json_str(doc, "verdict");
	state = ml_json_str(doc, "state");
	if (!l->allow_running && (ml_str_eq(v, "running") || (ml_str_eq(base, "cell.json") && ml_str_eq(state, "running"))))
		lost_one(l, "%s still says running", path);
	if (ml_str_eq(base, "run.json") && !l->allow_running && ml_str_eq(state, "running"))
		lost_one(l, "%s: run state still running", path);
	if (ml_str_eq(base, "run.json")) {
		/* Every cell it names exists. */
		ml_autofree char *dir = strdup(path);
		size_t i;
		json_t *c;
		*strrchr(dir, '/') = '\0';
		json_array_foreach(json_object_get(doc, "cells"), i, c) {
			const char *id = ml_json_str(c, "cell_id");
			ml_autofree char *cell = NULL;
			if (!id) {
				lost_one(l, "%s: a cell without cell_id", path);
				continue;
			}
			cell = ml_strdup_printf("%s/cells/%s/cell.json", dir, id);
			if (!ml_path_exists(cell) && !ml_str_eq(ml_json_str(c, "verdict"), "skip"))
				lost_one(l, "%s names cell %s, which has no cell.json", path, id);
		}
	}
	json_decref(doc);
}

static void walk_results(struct lost *l, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d || depth > 12) {
		if (d)
			closedir(d);
		return;
	}
	while ((e = readdir(d))) {
		ml_autofree char *p = NULL;
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = ml_path_join(dir, e->d_name);
		if (lstat(p, &st) < 0)
			continue;
		/* ml_write_atomic's temp files: NAME.tmp.XXXXXX; and any .tmp-* dir. */
		if (strstr(e->d_name, ".tmp.") || !strncmp(e->d_name, ".tmp-", 5) || !strncmp(e->d_name, ".tmp", 4))
			lost_one(l, "temp file left: %s", p);
		if (S_ISDIR(st.st_mode))
			walk_results(l, p, depth + 1);
		else if (S_ISREG(st.st_mode) && (!strcmp(e->d_name, "cell.json") || !strcmp(e->d_name, "run.json")))
			check_json_file(l, p, e->d_name);
	}
	closedir(d);
}

/* (b) */
static int count_lost(struct fault_ctx *ctx)
{
	struct lost l = { .ctx = ctx, .allow_running = false };
	walk_results(&l, ctx->results, 0);
	return l.count;
}

/* The cell.json a `miglab cell` named on its "results: DIR" line. */
static json_t *cell_of_output(const char *out)
{
	const char *p = strstr(out, "results: ");
	ml_autofree char *path = NULL;
	if (!p)
		return NULL;
	p += strlen("results: ");
	path = ml_strdup_printf("%.*s/cell.json", (int)strcspn(p, "\n"), p);
	return ml_json_load_file(path, 64 << 20);
}

/* The only cell.json of a run directory. */
static json_t *only_cell_of_run(struct fault_ctx *ctx, const char *run_id, char **dir_out)
{
	ml_autofree char *cells = ml_strdup_printf("%s/%s/cells", ctx->results, run_id);
	DIR *d = opendir(cells);
	struct dirent *e;
	json_t *cell = NULL;

	while (d && (e = readdir(d))) {
		ml_autofree char *p = NULL;
		if (e->d_name[0] == '.')
			continue;
		p = ml_strdup_printf("%s/%s/cell.json", cells, e->d_name);
		json_decref(cell);
		cell = ml_json_load_file(p, 64 << 20);
		if (dir_out) {
			free(*dir_out);
			*dir_out = ml_strdup_printf("%s/%s", cells, e->d_name);
		}
	}
	if (d)
		closedir(d);
	return cell;
}

/* "VERDICT/CLASS" of a cell.json ("-" for a missing class). */
static void observe_cell(struct fault_ctx *ctx, json_t *cell, int rc)
{
	const char *cls = ml_json_str(json_object_get(cell, "failure"), "class");
	if (!cell) {
		set_observed(ctx, "no-cell.json(exit=%d)", rc);
		return;
	}
	set_observed(ctx, "%s/%s", ml_json_str(cell, "verdict") ? ml_json_str(cell, "verdict") : "?",
		     cls ? cls : "-");
}

/* ---- fake QEMUs ----------------------------------------------------------- */

/* ctx->dir/qemu-MODE: a path: build that runs fake-qemu.py MODE. */
static char *fake_qemu(struct fault_ctx *ctx, const char *mode)
{
	char *path = ml_strdup_printf("%s/qemu-%s", ctx->dir, mode);
	ml_autofree char *text = ml_strdup_printf("#!/bin/sh\nexec /usr/bin/python3 %s %s \"$@\"\n",
						  fake_qemu_py, mode);
	if (write_text(path, text, 0755) < 0)
		abort();
	return path;
}

/* A one-cell matrix: a control cell of provider on machine. */
static char *write_matrix(struct fault_ctx *ctx, const char *name, const char *provider, const char *machine,
			  const char *extra)
{
	char *path = ml_strdup_printf("%s/%s.ini", ctx->dir, name);
	ml_autofree char *text = ml_strdup_printf("[matrix]\nname = %s\ncontrol = true\npairs = all\nconfirm = 0\n"
						  "jobs = 1\n\n[build b]\nprovider = %s\n\n[kernel bookworm]\n"
						  "provider = debian:bookworm\n\n[machines q35]\nlist = %s\n%s",
						  name, provider, machine, extra ? extra : "");
	if (write_text(path, text, 0644) < 0)
		abort();
	return path;
}

/* ---- the cases ------------------------------------------------------------ */

/* 1. A QEMU that prints invalid UTF-8 and 3000 three-byte characters on
 * stderr and exits: a QEMU failing at start; its words quoted as valid
 * UTF-8, U+FFFD where bytes were bad, cut on a character boundary. */
static int case_qemu_stderr_garbage(struct fault_ctx *ctx)
{
	ml_autofree char *q = fake_qemu(ctx, "stderr-garbage");
	ml_autofree char *prov = ml_strdup_printf("path:%s", q);
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", prov, "--dst", prov,
			       "--machine", "pc-q35-10.0", "--confirm", "0", NULL };
	ml_autofree char *out = NULL;
	int rc = miglab(ctx, "cell", 120000, &out, args);
	json_t *cell = cell_of_output(out);
	const char *ev = ml_json_str(json_object_get(cell, "failure"), "evidence");
	const char *quoted;

	observe_cell(ctx, cell, rc);
	CHECK(ctx, rc == 1, "exit %d", rc);
	CHECK(ctx, ev != NULL, "no evidence");
	if (ev) {
		size_t bad = 0;
		CHECK(ctx, ml_utf8_valid(ev, &bad), "evidence not UTF-8 at %zu", bad);
		CHECK(ctx, strstr(ev, "\xef\xbf\xbd") != NULL, "no U+FFFD in the evidence");
		CHECK(ctx, strstr(ev, "fake failure at start") != NULL, "QEMU's last line not quoted");
		/* The tail starts inside the run of U+20AC: whole characters only. */
		quoted = strstr(ev, "stderr:\n");
		CHECK(ctx, quoted != NULL, "no stderr quoted: %.200s", ev);
		if (quoted) {
			quoted += strlen("stderr:\n");
			CHECK(ctx, strncmp(quoted, "\xe2\x82\xac", 3) == 0,
			      "the quote does not start on a whole character: %.12s", quoted);
			CHECK(ctx, strstr(quoted, "\xef\xbf\xbd\xe2\x82\xac") == NULL &&
					   strstr(quoted, "\xe2\x82\xac\xef\xbf\xbd") == NULL,
			      "a U+FFFD next to the U+20AC run: the text was cut inside a character");
		}
	}
	/* The whole file, byte for byte, is valid UTF-8 (jansson escapes nothing). */
	{
		const char *p = strstr(out, "results: ");
		if (p) {
			ml_autofree char *file = ml_strdup_printf("%.*s/cell.json", (int)strcspn(p + 9, "\n"), p + 9);
			ml_autofree char *raw = read_text(file);
			CHECK(ctx, ml_utf8_valid(raw, NULL), "cell.json is not valid UTF-8");
		}
	}
	json_decref(cell);
	return 0;
}

/* 2. QMP that floods events instead of answering qmp_capabilities. */
static int case_qmp_event_flood(struct fault_ctx *ctx)
{
	ml_autofree char *q = fake_qemu(ctx, "qmp-flood");
	ml_autofree char *prov = ml_strdup_printf("path:%s", q);
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", prov, "--dst", prov,
			       "--machine", "pc-q35-10.0", "--confirm", "0", NULL };
	ml_autofree char *out = NULL;
	long long t0 = now_ms();
	int rc = miglab(ctx, "cell", 180000, &out, args);
	long long took = now_ms() - t0;
	json_t *cell = cell_of_output(out);
	const char *ev = ml_json_str(json_object_get(cell, "failure"), "evidence");

	observe_cell(ctx, cell, rc);
	note(ctx, "gave up after %.1f s; evidence: %.300s", took / 1000.0, ev ? ev : "(none)");
	CHECK(ctx, rc == 1 || rc == 2, "exit %d", rc);
	CHECK(ctx, took < 90000, "took %lld ms", took);
	CHECK(ctx, ev && (strstr(ev, "event") || strstr(ev, "flood")), "the evidence does not say what happened");
	json_decref(cell);
	return 0;
}

/* 3. A probe channel that floods one endless line. */
static int case_probe_flood(struct fault_ctx *ctx)
{
	ml_autofree char *q = fake_qemu(ctx, "probe-flood");
	ml_autofree char *prov = ml_strdup_printf("path:%s", q);
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", prov, "--dst", prov,
			       "--machine", "pc-q35-10.0", "--confirm", "0", "--boot-timeout", "20", NULL };
	const char *argv[64] = { miglab_bin };
	struct child c;
	size_t n = 1;
	ml_autofree char *out = NULL;
	long long t0 = now_ms();
	json_t *cell;
	const char *ev;
	int rc;

	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	spawn(ctx, &c, "cell", argv);
	rc = child_wait(ctx, &c, 180000);
	out = read_text(c.log);
	cell = cell_of_output(out);
	ev = ml_json_str(json_object_get(cell, "failure"), "evidence");
	observe_cell(ctx, cell, rc);
	note(ctx, "took %.1f s, max RSS %ld KiB; reason: %s; evidence: %.300s", (now_ms() - t0) / 1000.0,
	     c.ru.ru_maxrss, ml_json_str(cell, "reason"), ev ? ev : "(none)");
	CHECK(ctx, c.ru.ru_maxrss < 512 * 1024, "max RSS %ld KiB", c.ru.ru_maxrss);
	CHECK(ctx, ev && (strstr(ev, "too long") || strstr(ev, "longer") || strstr(ev, "bytes")),
	      "the evidence does not name the flood");
	child_clear(&c);
	json_decref(cell);
	return 0;
}

/* Interrupt a run at a point (trigger: a text in one of the attempt's logs),
 * with sig; then check the cell is error "interrupted". */
struct interrupt_point {
	const char *what;
	const char *log;    /* attempt log to watch */
	const char *needle; /* text that marks the point */
	int delay_ms;       /* after the mark */
	int sig;
	const char *phase;  /* the phase the cell must report */
};

static int interrupt_run_at(struct fault_ctx *ctx, const char *run_id, bool resume, const char *matrix,
			    const struct interrupt_point *ip)
{
	const char *fresh[] = { "run", "--results-dir", ctx->results, "--run-id", run_id, "--grace", "0",
				matrix, NULL };
	const char *again[] = { "run", "--results-dir", ctx->results, "--resume", run_id, "--grace", "0", NULL };
	ml_autofree char *cell_dir = NULL;
	ml_autofree char *log = NULL;
	ml_autofree char *logname = ml_strdup_printf("run-%s", ip->what);
	struct child c;
	json_t *cell;
	int rc;

	spawn_miglab(ctx, &c, logname, resume ? again : fresh);
	/* The attempt directory appears once the cell starts. */
	for (long long end = now_ms() + 120000; now_ms() < end; usleep(50 * 1000)) {
		json_decref(only_cell_of_run(ctx, run_id, &cell_dir));
		if (cell_dir)
			break;
	}
	/* A resumed cell's attempt directory is made anew. */
	if (!cell_dir) {
		ml_autofree char *cells = ml_strdup_printf("%s/%s/cells", ctx->results, run_id);
		for (long long end = now_ms() + 120000; now_ms() < end && !cell_dir; usleep(50 * 1000)) {
			DIR *d = opendir(cells);
			struct dirent *e;
			while (d && (e = readdir(d)))
				if (e->d_name[0] != '.')
					cell_dir = ml_strdup_printf("%s/%s", cells, e->d_name);
			if (d)
				closedir(d);
		}
	}
	CHECK(ctx, cell_dir != NULL, "no cell directory appeared");
	if (!cell_dir) {
		kill(c.pid, SIGKILL);
		child_wait(ctx, &c, 10000);
		child_clear(&c);
		return -1;
	}
	log = ml_strdup_printf("%s/attempts/1/%s", cell_dir, ip->log);
	if (resume) {
		/* Wait for the old attempt to be replaced: its log is truncated at the new start. */
		usleep(300 * 1000);
	}
	if (wait_file_has(log, ip->needle, 180000, c.pid) < 0) {
		CHECK(ctx, 0, "%s never showed '%s'", log, ip->needle);
	} else {
		usleep((useconds_t)ip->delay_ms * 1000);
		kill(c.pid, ip->sig);
	}
	rc = child_wait(ctx, &c, 120000);
	child_clear(&c);
	cell = only_cell_of_run(ctx, run_id, NULL);
	note(ctx, "%s: %s at '%s': exit %d, cell %s/%s, reason: %.200s", ip->what, strsignal(ip->sig), ip->needle,
	     rc, ml_json_str(cell, "verdict"), ml_json_str(json_object_get(cell, "failure"), "phase"),
	     ml_json_str(cell, "reason"));
	CHECK(ctx, rc == 128 + ip->sig, "exit %d after %s", rc, strsignal(ip->sig));
	CHECK(ctx, ml_str_eq(ml_json_str(cell, "verdict"), "error"), "verdict %s", ml_json_str(cell, "verdict"));
	CHECK(ctx, ml_json_str(cell, "reason") && strstr(ml_json_str(cell, "reason"), "interrupted"),
	      "reason %s", ml_json_str(cell, "reason"));
	{
		const char *ph = ml_json_str(json_object_get(cell, "failure"), "phase");
		if (!ph)
			ph = ml_json_str(cell, "phase");
		CHECK(ctx, ph == NULL || ml_str_eq(ph, ip->phase), "interrupted in phase %s, wanted %s", ph, ip->phase);
	}
	json_decref(cell);
	return 0;
}

/* 4. SIGINT/SIGTERM at phase boundaries and mid-migration of a real cell in
 * a run, each followed by --resume; the last resume passes. */
static int case_interrupt_phases(struct fault_ctx *ctx)
{
	static const struct interrupt_point points[] = {
		/* with a saved guest (the default) the boot is the boot VM's */
		{ "boot", "qmp-boot.log", "query-kvm", 500, SIGTERM, "boot-src" },
		{ "migrate", "qmp-src.log", "\"migrate\"", 200, SIGINT, "migrate-forward" },
		{ "verify", "probe-dst.log", "ram-verify", 0, SIGTERM, "migrate-forward" },
		{ "reboot", "qmp-dst.log", "system_reset", 300, SIGINT, "reboot-dst" },
	};
	ml_autofree char *matrix = write_matrix(ctx, "interrupt", "debian:" "trixie", MACHINE_REAL,
						"\n[migration]\nmax-bandwidth = 64\n[abi]\ndump = false\n");
	const char *resume[] = { "run", "--results-dir", ctx->results, "--resume", "int", NULL };
	ml_autofree char *out = NULL;
	json_t *cell;
	int rc;

	for (size_t i = 0; i < ML_ARRAY_SIZE(points); i++) {
		interrupt_run_at(ctx, "int", i > 0, matrix, &points[i]);
		CHECK(ctx, count_lost(ctx) == 0, "a record lost after the %s interrupt", points[i].what);
	}
	rc = miglab(ctx, "resume", 300000, &out, resume);
	cell = only_cell_of_run(ctx, "int", NULL);
	observe_cell(ctx, cell, rc);
	CHECK(ctx, rc == 0, "resume exit %d", rc);
	json_decref(cell);
	return 0;
}

/* 5a. SIGKILL of `miglab run` in the middle of a migration; --resume passes. */
static int case_sigkill_run(struct fault_ctx *ctx)
{
	ml_autofree char *matrix = write_matrix(ctx, "kill", "debian:trixie", MACHINE_REAL,
						"\n[migration]\nmax-bandwidth = 64\n[abi]\ndump = false\nreboot = false\n");
	const char *args[] = { "run", "--results-dir", ctx->results, "--run-id", "killed", matrix, NULL };
	const char *resume[] = { "run", "--results-dir", ctx->results, "--resume", "killed", NULL };
	ml_autofree char *cell_dir = NULL;
	ml_autofree char *out = NULL;
	struct child c;
	pid_t qemu;
	json_t *cell, *run;
	int rc, left;

	spawn_miglab(ctx, &c, "run", args);
	qemu = wait_proc(c.pid, "guest=miglab-dst", 120000);
	CHECK(ctx, qemu > 0, "the destination QEMU never started");
	usleep(500 * 1000);
	kill(c.pid, SIGKILL);
	child_wait(ctx, &c, 10000);
	child_clear(&c);
	/* Everything miglab started dies with it. */
	left = count_leftovers(ctx);
	CHECK(ctx, left == 0, "%d process(es) outlived the SIGKILLed miglab", left);
	{
		ml_autofree char *p = ml_strdup_printf("%s/killed/run.json", ctx->results);
		run = ml_json_load_file(p, 1 << 24);
		CHECK(ctx, run && ml_str_eq(ml_json_str(run, "state"), "running"), "run.json state %s",
		      ml_json_str(run, "state"));
		json_decref(run);
	}
	rc = miglab(ctx, "resume", 300000, &out, resume);
	cell = only_cell_of_run(ctx, "killed", &cell_dir);
	observe_cell(ctx, cell, rc);
	CHECK(ctx, rc == 0, "resume exit %d", rc);
	json_decref(cell);
	return 0;
}

/* 6. A QEMU SIGKILLed mid-migration (by pid, found by its cell's name). */
static int kill_qemu_mid_migration(struct fault_ctx *ctx, const char *victim)
{
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", BUILD_REAL, "--dst", BUILD_REAL,
			       "--machine", MACHINE_REAL, "--confirm", "0", "--no-reboot", "--no-abi",
			       "--max-bandwidth", "16", NULL };
	ml_autofree char *needle = ml_strdup_printf("guest=miglab-%s", victim);
	ml_autofree char *out = NULL;
	struct child c;
	pid_t qemu;
	json_t *cell;
	int rc;

	spawn_miglab(ctx, &c, "cell", args);
	/* The destination exists once the migration is about to start. */
	CHECK(ctx, wait_proc(c.pid, "guest=miglab-dst", 120000) > 0, "no destination QEMU");
	qemu = wait_proc(c.pid, needle, 1000);
	usleep(1500 * 1000);
	CHECK(ctx, qemu > 0, "no %s QEMU", victim);
	if (qemu > 0)
		kill(qemu, SIGKILL);
	rc = child_wait(ctx, &c, 180000);
	out = read_text(c.log);
	cell = cell_of_output(out);
	observe_cell(ctx, cell, rc);
	note(ctx, "reason: %s; evidence: %.300s", ml_json_str(cell, "reason"),
	     ml_json_str(json_object_get(cell, "failure"), "evidence"));
	CHECK(ctx, rc == 1, "exit %d", rc);
	child_clear(&c);
	json_decref(cell);
	return 0;
}

static int case_dst_killed(struct fault_ctx *ctx)
{
	return kill_qemu_mid_migration(ctx, "dst");
}

static int case_src_killed(struct fault_ctx *ctx)
{
	return kill_qemu_mid_migration(ctx, "src");
}

/* 6b. SIGKILL of `miglab cell` while it saves the guest it booted
 * (docs/saved-state.md): nothing it leaves counts as a saved guest (no
 * saved.json), and the next cell with the same saved-guest directory makes a
 * whole one and passes. The save lasts about 0.1 s: the driver polls for the
 * stream file every millisecond. */
static int case_saved_kill(struct fault_ctx *ctx)
{
	ml_autofree char *saved = ml_path_join(ctx->dir, "saved");
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", BUILD_REAL, "--dst", BUILD_REAL,
			       "--machine", MACHINE_REAL, "--confirm", "0", "--no-reboot", "--no-abi",
			       "--saved-dir", saved, NULL };
	ml_autofree char *out = NULL;
	ml_autofree char *part = NULL;
	struct child c;
	json_t *cell;
	long long end;
	int rc, left;

	spawn_miglab(ctx, &c, "cell-killed", args);
	end = now_ms() + 180000;
	while (!part && now_ms() < end && kill(c.pid, 0) == 0) {
		DIR *d = opendir(saved);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			ml_autofree char *p = NULL;
			if (e->d_name[0] == '.' || strstr(e->d_name, ".lock"))
				continue;
			p = ml_strdup_printf("%s/%s/state.part", saved, e->d_name);
			if (access(p, F_OK) == 0)
				part = ml_steal_pointer(&p);
		}
		if (d)
			closedir(d);
		if (!part)
			usleep(1000);
	}
	CHECK(ctx, part != NULL, "miglab never began saving a guest");
	kill(c.pid, SIGKILL);
	child_wait(ctx, &c, 10000);
	child_clear(&c);
	left = count_leftovers(ctx);
	CHECK(ctx, left == 0, "%d process(es) outlived the SIGKILLed miglab", left);
	if (part) {
		ml_autofree char *dir = strndup(part, strlen(part) - strlen("/state.part"));
		ml_autofree char *rec = ml_path_join(dir, "saved.json");
		note(ctx, "killed while saving %s", part);
		CHECK(ctx, !ml_path_exists(rec), "a saved guest was recorded although its save was killed");
	}
	rc = miglab(ctx, "cell", 300000, &out, args);
	cell = cell_of_output(out);
	observe_cell(ctx, cell, rc);
	{
		json_t *ss = json_object_get(cell, "saved_state");
		CHECK(ctx, ml_json_bool(ss, "made_here", false), "the next cell did not make the saved guest anew");
	}
	CHECK(ctx, rc == 0, "exit %d", rc);
	json_decref(cell);
	return 0;
}

/* 7. A migration throttled so that it cannot finish in its timeout. */
static int case_no_convergence(struct fault_ctx *ctx)
{
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", BUILD_REAL, "--dst", BUILD_REAL,
			       "--machine", MACHINE_REAL, "--confirm", "0", "--no-reboot", "--no-abi",
			       "--max-bandwidth", "1", "--migrate-timeout", "5", NULL };
	ml_autofree char *out = NULL;
	int rc = miglab(ctx, "cell", 300000, &out, args);
	json_t *cell = cell_of_output(out);

	observe_cell(ctx, cell, rc);
	note(ctx, "reason: %s", ml_json_str(cell, "reason"));
	CHECK(ctx, rc == 1, "exit %d", rc);
	json_decref(cell);
	return 0;
}

/* 8. The results directory on a full tmpfs. */
static int case_results_enospc(struct fault_ctx *ctx)
{
	ml_autofree char *q = fake_qemu(ctx, "stderr-garbage");
	ml_autofree char *prov = ml_strdup_printf("path:%s", q);
	ml_autofree char *filler = ml_path_join(ctx->results, "filler");
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", prov, "--dst", prov,
			       "--machine", "pc-q35-10.0", "--confirm", "0", "--run-id", "full", NULL };
	ml_autofree char *out = NULL;
	int rc;

	/* A private mount namespace: the tmpfs goes away with the driver. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", ctx->results, "tmpfs", 0, "size=2m,mode=0755") < 0) {
		note(ctx, "cannot mount a tmpfs: %s", strerror(errno));
		return -1;
	}
	{
		int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		char buf[4096];
		memset(buf, 'x', sizeof(buf));
		while (fd >= 0 && write(fd, buf, sizeof(buf)) > 0)
			;
		if (fd >= 0)
			close(fd);
	}
	rc = miglab(ctx, "cell", 120000, &out, args);
	set_observed(ctx, "exit=%d%s", rc, strstr(out, "No space left on device") ? "/ENOSPC" : "");
	note(ctx, "miglab said: %.600s", out);
	CHECK(ctx, rc == 2, "exit %d", rc);
	CHECK(ctx, strstr(out, "No space left on device") != NULL, "ENOSPC not named");
	CHECK(ctx, strstr(out, ctx->results) != NULL, "the file is not named");
	/* (b) reads what miglab left there; then the tmpfs goes, so that the
	 * case directory can be removed. */
	unlink(filler);
	CHECK(ctx, count_lost(ctx) == 0, "a record on the full disk is half-written or lost");
	umount2(ctx->results, MNT_DETACH);
	return 0;
}

/* 9a. Two runs racing for one run id. */
static int case_run_id_race(struct fault_ctx *ctx)
{
	ml_autofree char *q = fake_qemu(ctx, "stderr-garbage");
	ml_autofree char *prov = ml_strdup_printf("path:%s", q);
	ml_autofree char *matrix = write_matrix(ctx, "race", prov, "pc-q35-10.0", NULL);
	const char *args[] = { "run", "--results-dir", ctx->results, "--run-id", "same", matrix, NULL };
	struct child a, b;
	int ra, rb, won = 0, refused = 0;

	spawn_miglab(ctx, &a, "run-a", args);
	spawn_miglab(ctx, &b, "run-b", args);
	ra = child_wait(ctx, &a, 120000);
	rb = child_wait(ctx, &b, 120000);
	for (int k = 0; k < 2; k++) {
		ml_autofree char *out = read_text(k ? b.log : a.log);
		int r = k ? rb : ra;
		if (r == 2 && strstr(out, "already exists"))
			refused++;
		else if (r == 1)
			won++;
		else
			note(ctx, "run %c: exit %d: %.400s", 'a' + k, r, out);
	}
	set_observed(ctx, "won=%d/refused=%d", won, refused);
	child_clear(&a);
	child_clear(&b);
	return 0;
}

/* 9b. Two runs sharing one cache at once both pass. */
static int case_shared_cache(struct fault_ctx *ctx)
{
	ml_autofree char *matrix = write_matrix(ctx, "shared", BUILD_REAL, MACHINE_REAL, "\n[abi]\ndump = false\nreboot = false\n");
	const char *a_args[] = { "run", "--results-dir", ctx->results, "--run-id", "a", matrix, NULL };
	const char *b_args[] = { "run", "--results-dir", ctx->results, "--run-id", "b", matrix, NULL };
	struct child a, b;
	int ra, rb;
	json_t *ca, *cb;

	spawn_miglab(ctx, &a, "run-a", a_args);
	spawn_miglab(ctx, &b, "run-b", b_args);
	ra = child_wait(ctx, &a, 300000);
	rb = child_wait(ctx, &b, 300000);
	ca = only_cell_of_run(ctx, "a", NULL);
	cb = only_cell_of_run(ctx, "b", NULL);
	set_observed(ctx, "%s+%s", ml_json_str(ca, "verdict"), ml_json_str(cb, "verdict"));
	CHECK(ctx, ra == 0 && rb == 0, "exits %d %d", ra, rb);
	json_decref(ca);
	json_decref(cb);
	child_clear(&a);
	child_clear(&b);
	return 0;
}

/* A descendant of root doing mmdebstrap's long work (apt-get fetching or
 * installing, dpkg unpacking or configuring), not a one-shot query such as
 * `dpkg --print-foreign-architectures`; its pid or 0. */
static pid_t find_apt_worker(pid_t root)
{
	static const char *const busy[] = { "--unpack", "--install", "--configure", "--extract", "-x ", NULL };
	pid_t all[256];
	size_t n = find_procs(root, NULL, all, ML_ARRAY_SIZE(all));

	for (size_t i = 0; i < n && i < ML_ARRAY_SIZE(all); i++) {
		char path[64];
		ml_autofree char *comm = NULL;
		ml_autofree char *cmd = NULL;
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)all[i]);
		if (ml_read_file(path, 64, &comm, NULL) < 0)
			continue;
		comm[strcspn(comm, "\n")] = '\0';
		if (!strcmp(comm, "http"))
			return all[i];
		if (!strcmp(comm, "dpkg-deb")) {
			/* Not `dpkg-deb --version`: unpacking. */
			cmd = cmdline_of(all[i]);
			if (!strstr(cmd, "--version"))
				return all[i];
			continue;
		}
		if (!strcmp(comm, "apt-get")) {
			/* Not `apt-get --version`: fetching or installing. */
			cmd = cmdline_of(all[i]);
			if (strstr(cmd, " update") || strstr(cmd, " install") || strstr(cmd, "download") ||
			    strstr(cmd, "upgrade"))
				return all[i];
			continue;
		}
		if (strcmp(comm, "dpkg") != 0)
			continue;
		cmd = cmdline_of(all[i]);
		if (strstr(cmd, "--version"))
			continue;
		for (size_t j = 0; busy[j]; j++)
			if (strstr(cmd, busy[j]))
				return all[i];
	}
	return 0;
}

/* 10 and 5b. `miglab fetch --refresh debian:trixie` while a run uses that
 * build, on a hard-linked private copy of the cache: the refresh waits for
 * the run (whose verdict it must not change); then, rebuilding, the fetch is
 * SIGKILLed while mmdebstrap has apt or dpkg working; nothing may outlive it
 * (item 8 of issue 11), and the next fetch rebuilds and leaves no half-made
 * root. One case, so that the slow part (mmdebstrap) is paid once. */
static int case_refresh_then_sigkill_fetch(struct fault_ctx *ctx)
{
	ml_autofree char *cache = ml_path_join(ctx->dir, "cache");
	ml_autofree char *builds = ml_path_join(cache, "builds");
	ml_autofree char *b_src = ml_path_join(ctx->cache, "builds/debian-trixie");
	ml_autofree char *g_src = ml_path_join(ctx->cache, "guests");
	ml_autofree char *a_src = ml_path_join(ctx->cache, "apt");
	const char *cp1[] = { "/bin/cp", "-al", b_src, builds, NULL };
	const char *cp2[] = { "/bin/cp", "-al", g_src, a_src, cache, NULL };
	ml_autofree char *matrix = write_matrix(ctx, "refresh", BUILD_REAL, MACHINE_REAL,
						"\n[abi]\ndump = false\nreboot = false\n");
	const char *run[] = { "run", "--cache-dir", cache, "--results-dir", ctx->results, "--run-id", "r", matrix, NULL };
	const char *refresh[] = { "fetch", "--cache-dir", cache, "--refresh", "debian:trixie", NULL };
	const char *fetch[] = { "fetch", "--cache-dir", cache, "debian:trixie", NULL };
	ml_autofree char *flog = NULL;
	ml_autofree char *out = NULL;
	struct child r, f, cp;
	int rr, rf, left, waited;
	json_t *cell;

	ml_mkdir_p(builds, 0755);
	spawn(ctx, &cp, "cp1", cp1);
	CHECK(ctx, child_wait(ctx, &cp, 120000) == 0, "cp -al builds failed");
	child_clear(&cp);
	spawn(ctx, &cp, "cp2", cp2);
	CHECK(ctx, child_wait(ctx, &cp, 120000) == 0, "cp -al guests/apt failed");
	child_clear(&cp);

	spawn_miglab(ctx, &r, "run", run);
	CHECK(ctx, wait_proc(r.pid, "guest=miglab-", 120000) > 0, "the run's QEMU never started");
	spawn_miglab(ctx, &f, "refresh", refresh);
	rr = child_wait(ctx, &r, 300000);
	child_clear(&r);
	cell = only_cell_of_run(ctx, "r", NULL);
	flog = read_text(f.log);
	waited = strstr(flog, "waiting for") != NULL;
	note(ctx, "run exit %d (%s); the refresh %s", rr, ml_json_str(cell, "verdict"),
	     waited ? "waited for it" : "did not say it waited");
	CHECK(ctx, rr == 0 && ml_str_eq(ml_json_str(cell, "verdict"), "pass"), "run exit %d", rr);
	CHECK(ctx, waited, "the refresh did not wait for the run: %.300s", flog);
	/* Now the refresh rebuilds: kill it when apt or dpkg works. */
	for (long long end = now_ms() + 300000; now_ms() < end; usleep(50 * 1000)) {
		int st;
		if (find_apt_worker(f.pid) > 0)
			break;
		if (waitpid(f.pid, &st, WNOHANG) == f.pid) {
			f.done = true;
			f.status = st;
			break;
		}
	}
	{
		pid_t all[64];
		size_t n = find_procs(f.pid, NULL, all, ML_ARRAY_SIZE(all));
		note(ctx, "SIGKILL of miglab fetch (pid %d) with %zu descendant(s)", (int)f.pid, n);
		for (size_t i = 0; i < n && i < ML_ARRAY_SIZE(all); i++) {
			ml_autofree char *cmd = cmdline_of(all[i]);
			note(ctx, "  descendant %d: %.120s", (int)all[i], cmd);
		}
		CHECK(ctx, n >= 2, "mmdebstrap had no worker yet");
	}
	kill(f.pid, SIGKILL);
	child_wait(ctx, &f, 10000);
	child_clear(&f);
	left = count_leftovers(ctx);
	CHECK(ctx, left == 0, "%d process(es) outlived the SIGKILLed fetch (item 8 of issue 11)", left);
	rf = miglab(ctx, "fetch-again", 900000, &out, fetch);
	CHECK(ctx, rf == 0, "the next fetch failed (%d): %.500s", rf, out);
	{
		DIR *d = opendir(builds);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			CHECK(ctx, !strcmp(e->d_name, "debian-trixie") || !strcmp(e->d_name, "debian-trixie.lock"),
			      "left in the cache's builds: %s", e->d_name);
		}
		if (d)
			closedir(d);
	}
	set_observed(ctx, "%s/refresh=%s/procs_after_kill=%d/fetch-after-kill=%s",
		     ml_json_str(cell, "verdict") ? ml_json_str(cell, "verdict") : "?", waited ? "waited" : "raced",
		     left, rf == 0 ? "ok" : "failed");
	json_decref(cell);
	return 0;
}

/* 11. A FIFO as the owner of a stale-looking /tmp/miglab-XXXXXX, and a
 * symlink of that name to a directory elsewhere: cells go on, neither is
 * followed or removed. */
static int case_stale_fifo(struct fault_ctx *ctx)
{
	ml_autofree char *q = fake_qemu(ctx, "stderr-garbage");
	ml_autofree char *prov = ml_strdup_printf("path:%s", q);
	const char *args[] = { "cell", "--results-dir", ctx->results, "--src", prov, "--dst", prov,
			       "--machine", "pc-q35-10.0", "--confirm", "0", NULL };
	char fifo_dir[] = "/tmp/miglab-XXXXXX";
	char link_name[] = "/tmp/miglab-XXXXXX";
	ml_autofree char *fifo = NULL;
	ml_autofree char *target = ml_path_join(ctx->dir, "victim");
	ml_autofree char *target_owner = ml_path_join(target, "owner");
	ml_autofree char *out = NULL;
	long long t0;
	int rc;

	if (!mkdtemp(fifo_dir) || !mkdtemp(link_name))
		return -1;
	fifo = ml_path_join(fifo_dir, "owner");
	mkfifo(fifo, 0600);
	/* The symlink: a dead owner's directory, elsewhere. */
	rmdir(link_name);
	ml_mkdir_p(target, 0700);
	write_text(target_owner, "999999\n", 0644);
	if (symlink(target, link_name) < 0)
		return -1;
	t0 = now_ms();
	rc = miglab(ctx, "cell", 60000, &out, args);
	{
		json_t *cell = cell_of_output(out);
		observe_cell(ctx, cell, rc);
		json_decref(cell);
	}
	CHECK(ctx, now_ms() - t0 < 30000, "the cell was held up for %lld ms", now_ms() - t0);
	CHECK(ctx, ml_path_exists(fifo), "the FIFO's directory was removed");
	CHECK(ctx, ml_path_exists(target_owner), "the symlink was followed: %s is gone", target_owner);
	unlink(fifo);
	rmdir(fifo_dir);
	unlink(link_name);
	return 0;
}

/* The /tmp/miglab-XXXXXX directory whose owner names pid (or NULL). */
static char *run_dir_of_pid(pid_t pid)
{
	DIR *d = opendir("/tmp");
	struct dirent *e;
	char *found = NULL;
	char want[32];

	snprintf(want, sizeof(want), "pid=%d\n", (int)pid);
	while (d && (e = readdir(d)) && !found) {
		ml_autofree char *owner = NULL;
		ml_autofree char *text = NULL;
		if (strncmp(e->d_name, "miglab-", 7) != 0 || strlen(e->d_name) != 13)
			continue;
		owner = ml_strdup_printf("/tmp/%s/owner", e->d_name);
		/* "miglab-owner pid=N\nRESULTS\n" (an older miglab's: "N") */
		if (ml_read_file(owner, 4096, &text, NULL) == 0 && (strstr(text, want) || atoi(text) == (int)pid))
			found = ml_strdup_printf("/tmp/%s", e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

/* 11b. A live cell's socket directory, and a cell of a miglab started in a
 * PID namespace of its own (a container; ml_proc starts programs so): the
 * other's sweep must not take the live directory for a stale one. */
static int case_pidns_sweep(struct fault_ctx *ctx)
{
	ml_autofree char *silent = fake_qemu(ctx, "silent");
	ml_autofree char *garbage = fake_qemu(ctx, "stderr-garbage");
	ml_autofree char *prov_a = ml_strdup_printf("path:%s", silent);
	ml_autofree char *prov_b = ml_strdup_printf("path:%s", garbage);
	const char *a_args[] = { "cell", "--results-dir", ctx->results, "--src", prov_a, "--dst", prov_a,
				 "--machine", "pc-q35-10.0", "--confirm", "0", "--boot-timeout", "8", NULL };
	const char *b_args[] = { "cell", "--results-dir", ctx->results, "--src", prov_b, "--dst", prov_b,
				 "--machine", "pc-q35-10.0", "--confirm", "0", NULL };
	ml_autofree char *dir = NULL;
	ml_autofree char *out = NULL;
	struct child a, b;
	json_t *cell;
	int rc;

	spawn_miglab(ctx, &a, "cell-a", a_args);
	/* A's directory exists once its QEMU runs. */
	CHECK(ctx, wait_proc(a.pid, "guest=miglab-", 30000) > 0, "A's QEMU never started");
	for (long long end = now_ms() + 5000; !dir && now_ms() < end; usleep(50 * 1000)) {
		pid_t all[32];
		size_t n = find_procs(a.pid, NULL, all, ML_ARRAY_SIZE(all));
		dir = run_dir_of_pid(a.pid);
		for (size_t i = 0; !dir && i < n && i < ML_ARRAY_SIZE(all); i++)
			dir = run_dir_of_pid(all[i]);
	}
	CHECK(ctx, dir != NULL, "no socket directory names A as its owner");
	/* B, in a PID namespace of its own. */
	b.pid = fork();
	if (b.pid == 0) {
		const char *argv[64] = { miglab_bin };
		size_t n = 1;
		int fd = open(ml_strdup_printf("%s/cell-b.log", ctx->dir), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		pid_t inner;
		int st;
		for (size_t i = 0; b_args[i]; i++)
			argv[n++] = b_args[i];
		argv[n] = NULL;
		if (unshare(CLONE_NEWPID) < 0)
			_exit(126);
		inner = fork();
		if (inner == 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			execve(argv[0], (char *const *)argv, environ);
			_exit(127);
		}
		waitpid(inner, &st, 0);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	b.log = ml_strdup_printf("%s/cell-b.log", ctx->dir);
	b.done = false;
	rc = child_wait(ctx, &b, 60000);
	note(ctx, "B (in its own PID namespace) exit %d", rc);
	CHECK(ctx, rc == 1, "B exit %d", rc);
	CHECK(ctx, dir && ml_is_dir(dir), "B removed A's live directory %s", dir ? dir : "?");
	rc = child_wait(ctx, &a, 120000);
	out = read_text(a.log);
	cell = cell_of_output(out);
	observe_cell(ctx, cell, rc);
	json_decref(cell);
	child_clear(&a);
	child_clear(&b);
	return 0;
}

/* A fake-QEMU run (fast: its cell fails at start) to craft merge inputs from. */
static int make_base_run(struct fault_ctx *ctx, const char *run_id, char **cell_dir)
{
	ml_autofree char *q = fake_qemu(ctx, "stderr-garbage");
	ml_autofree char *prov = ml_strdup_printf("path:%s", q);
	ml_autofree char *matrix = write_matrix(ctx, "merge", prov, "pc-q35-10.0", NULL);
	const char *args[] = { "run", "--results-dir", ctx->results, "--run-id", run_id, matrix, NULL };
	int rc = miglab(ctx, run_id, 120000, NULL, args);
	json_decref(only_cell_of_run(ctx, run_id, cell_dir));
	return rc == 1 && *cell_dir ? 0 : -1;
}

/* Files under dir (recursive count). */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d))) {
		ml_autofree char *p = NULL;
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = ml_path_join(dir, e->d_name);
		n++;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_files(p);
	}
	if (d)
		closedir(d);
	return n;
}

/* 12. Crafted merge inputs: a cell.json naming "../../x", and a symlink. */
static int case_merge_crafted(struct fault_ctx *ctx)
{
	ml_autofree char *cell_dir = NULL, *cell_dir2 = NULL;
	ml_autofree char *outside = ml_path_join(ctx->dir, "outside");
	ml_autofree char *secret = ml_path_join(outside, "secret");
	ml_autofree char *out = NULL;
	const char *m1[] = { "merge", "--results-dir", ctx->results, "--run-id", "merged-1", "evil", NULL };
	const char *m2[] = { "merge", "--results-dir", ctx->results, "--run-id", "merged-2", "linked", NULL };
	int before, rc1, rc2;
	bool leaked = false;

	if (make_base_run(ctx, "evil", &cell_dir) < 0 || make_base_run(ctx, "linked", &cell_dir2) < 0) {
		CHECK(ctx, 0, "the base runs could not be made");
		return -1;
	}
	/* evil: its cell says it is ../../x. */
	{
		ml_autofree char *p = ml_path_join(cell_dir, "cell.json");
		json_t *cell = ml_json_load_file(p, 1 << 24);
		ml_json_set_str(cell, "cell_id", "../../x");
		ml_json_write_file(p, cell);
		json_decref(cell);
	}
	/* linked: a symlink in its cell to a directory outside. */
	ml_mkdir_p(outside, 0755);
	write_text(secret, "not to be copied\n", 0600);
	{
		ml_autofree char *l = ml_path_join(cell_dir2, "escape");
		symlink(outside, l);
	}
	before = count_files(ctx->dir);
	rc1 = miglab(ctx, "merge-evil", 60000, &out, m1);
	note(ctx, "merge of ../../x: exit %d: %.300s", rc1, out);
	CHECK(ctx, rc1 == 2 && strstr(out, "../../x"), "the crafted id was not refused by name");
	{
		ml_autofree char *m = ml_path_join(ctx->results, "merged-1");
		ml_autofree char *x = ml_path_join(ctx->dir, "x");
		CHECK(ctx, !ml_path_exists(m), "a merged run was written");
		CHECK(ctx, !ml_path_exists(x), "something was written outside: %s", x);
	}
	CHECK(ctx, count_files(ctx->dir) == before + 1 /* merge-evil.log */, "files appeared: %d -> %d", before,
	      count_files(ctx->dir));
	free(out);
	out = NULL;
	rc2 = miglab(ctx, "merge-linked", 60000, &out, m2);
	note(ctx, "merge with a symlink: exit %d: %.300s", rc2, out);
	{
		ml_autofree char *copied = ml_strdup_printf("%s/merged-2/cells/%s/escape", ctx->results,
							    strrchr(cell_dir2, '/') + 1);
		struct stat st;
		leaked = lstat(copied, &st) == 0;
		CHECK(ctx, !leaked, "the symlink was copied or followed: %s", copied);
	}
	CHECK(ctx, rc2 == 0 || rc2 == 1 || rc2 == 2, "exit %d", rc2);
	CHECK(ctx, strstr(out, "escape") != NULL, "no warning names the symlink");
	set_observed(ctx, "id:exit=%d/symlink:%s", rc1, leaked ? "followed" : "skipped");
	return 0;
}

/* 13. `miglab stream show` on a truncated stream, a zstd bomb and garbage:
 * a clear error, bounded memory; exit 1 for a malformed stream, 2 for a
 * file refused unread (docs/stream.md: a zstd capture that decompresses past
 * 4 GiB is refused before anything is held). */
static int stream_show(struct fault_ctx *ctx, const char *name, const char *file, long *rss_kib, char **out)
{
	const char *argv[] = { miglab_bin, "stream", "show", file, NULL };
	struct child c;
	int rc;

	spawn(ctx, &c, name, argv);
	rc = child_wait(ctx, &c, 120000);
	*rss_kib = c.ru.ru_maxrss;
	*out = read_text(c.log);
	child_clear(&c);
	return rc;
}

static int case_stream_crafted(struct fault_ctx *ctx)
{
	ml_autofree char *whole = NULL;
	ml_autofree char *trunc = ml_path_join(ctx->dir, "truncated.bin");
	ml_autofree char *garbage = ml_path_join(ctx->dir, "garbage.bin");
	ml_autofree char *bomb_raw = ml_path_join(ctx->dir, "bomb-head.bin");
	ml_autofree char *bomb = ml_path_join(ctx->dir, "bomb.bin.zst");
	const char *inputs[3][2] = { { "truncated", trunc }, { "bomb", bomb }, { "garbage", garbage } };
	char obs[256] = "";
	size_t len = 0, olen = 0;
	int worst = 0;

	/* A real stream cut in its middle. */
	if (ml_read_file(FAULT_DATA_DIR "/streams/qemu-7.2.22-pc-q35-7.2-small.bin", 64 << 20, &whole, &len) < 0)
		return -1;
	ml_write_atomic(trunc, whole, len / 2, 0644);
	/* Garbage: bytes no stream starts with. */
	{
		char buf[65536];
		unsigned s = 12345;
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)((s = s * 1103515245u + 12345u) >> 16);
		ml_write_atomic(garbage, buf, sizeof(buf), 0644);
	}
	/* The bomb: a real stream's start, then 4 GiB of zeros, zstd: small on
	 * disk, enormous decoded. */
	{
		ml_autofree char *script = ml_strdup_printf(
			"(head -c %zu %s; head -c 4G /dev/zero) | zstd -q -1 -T2 -o %s", len / 4,
			FAULT_DATA_DIR "/streams/qemu-7.2.22-pc-q35-7.2-small.bin", bomb);
		const char *sh[] = { "/bin/sh", "-c", script, NULL };
		struct child c;
		(void)bomb_raw;
		spawn(ctx, &c, "make-bomb", sh);
		CHECK(ctx, child_wait(ctx, &c, 300000) == 0, "could not make the bomb");
		child_clear(&c);
	}
	for (size_t i = 0; i < ML_ARRAY_SIZE(inputs); i++) {
		long rss;
		ml_autofree char *out = NULL;
		ml_autofree char *name = ml_strdup_printf("show-%s", inputs[i][0]);
		long long t0 = now_ms();
		int rc = stream_show(ctx, name, inputs[i][1], &rss, &out);
		const char *last = out + strlen(out);
		while (last > out && last[-1] == '\n')
			last--;
		while (last > out && last[-1] != '\n')
			last--;
		note(ctx, "%s: exit %d in %.1f s, max RSS %ld KiB: %.200s", inputs[i][0], rc,
		     (now_ms() - t0) / 1000.0, rss, last);
		CHECK(ctx, strstr(out, "error: ") != NULL, "%s: no error said", inputs[i][0]);
		CHECK(ctx, rss < 512 * 1024, "%s: max RSS %ld KiB", inputs[i][0], rss);
		if (rc > worst)
			worst = rc;
		olen += (size_t)snprintf(obs + olen, sizeof(obs) - olen, "%s%s:exit=%d", olen ? "/" : "",
					 inputs[i][0], rc);
	}
	set_observed(ctx, "%s", obs);
	(void)worst;
	return 0;
}

/* 13b. A bomb under the 4 GiB file limit but past the ratio a migration
 * stream can have (64:1 above 256 MiB): refused, memory bounded. */
static int case_stream_bomb_under_limit(struct fault_ctx *ctx)
{
	ml_autofree char *bomb = ml_path_join(ctx->dir, "bomb-600m.bin.zst");
	ml_autofree char *script = ml_strdup_printf(
		"(head -c 1700 %s; head -c 600M /dev/zero) | zstd -q -1 -T2 -o %s",
		FAULT_DATA_DIR "/streams/qemu-7.2.22-pc-q35-7.2-small.bin", bomb);
	const char *sh[] = { "/bin/sh", "-c", script, NULL };
	ml_autofree char *out = NULL;
	struct child c;
	long rss;
	int rc;

	spawn(ctx, &c, "make-bomb", sh);
	CHECK(ctx, child_wait(ctx, &c, 300000) == 0, "could not make the bomb");
	child_clear(&c);
	rc = stream_show(ctx, "show-bomb", bomb, &rss, &out);
	note(ctx, "exit %d, max RSS %ld KiB", rc, rss);
	CHECK(ctx, out && strstr(out, "zstd bomb?"), "the refusal does not say why: %s", out ? out : "");
	set_observed(ctx, "exit=%d/rss%s64MiB", rc, rss < 64 * 1024 ? "<" : ">=");
	return 0;
}

/* The table. Expected judgements follow docs/failures.md and docs/usage.md. */
static const struct fault_case fault_cases[] = {
	{ .name = "qemu-stderr-garbage", .run = case_qemu_stderr_garbage, .needs = NEED_KERNEL,
	  .inject = "fake QEMU: invalid UTF-8 and 3000 multi-byte characters on stderr, exit 1",
	  .expected = "fail/qemu-failed-to-start" },
	{ .name = "qmp-event-flood", .run = case_qmp_event_flood, .needs = NEED_KERNEL,
	  .inject = "fake QEMU: QMP greeting, then events forever instead of a reply",
	  .expected = "fail/qemu-failed-to-start" },
	{ .name = "probe-flood", .run = case_probe_flood, .needs = NEED_KERNEL,
	  .inject = "fake QEMU: the probe channel sends an endless line",
	  .expected = "fail/guest-boot-failed" },
	{ .name = "interrupt-phases", .run = case_interrupt_phases, .needs = NEED_KERNEL | NEED_BUILDS,
	  .inject = "SIGTERM in boot-src, SIGINT mid-migration, SIGTERM in the verify, SIGINT in reboot-dst; "
		    "--resume after each",
	  .expected = "pass/-" },
	{ .name = "sigkill-run", .run = case_sigkill_run, .needs = NEED_KERNEL | NEED_BUILDS,
	  .inject = "SIGKILL of miglab run mid-migration, then --resume", .expected = "pass/-" },
	{ .name = "dst-killed", .run = case_dst_killed, .needs = NEED_KERNEL | NEED_BUILDS,
	  .inject = "SIGKILL of the destination QEMU mid-migration (max-bandwidth 16 MiB/s)",
	  .expected = "fail/destination-crashed" },
	{ .name = "src-killed", .run = case_src_killed, .needs = NEED_KERNEL | NEED_BUILDS,
	  .inject = "SIGKILL of the source QEMU mid-migration (max-bandwidth 16 MiB/s)",
	  .expected = "fail/source-crashed" },
	{ .name = "saved-kill", .run = case_saved_kill, .needs = NEED_KERNEL | NEED_BUILDS,
	  .inject = "SIGKILL of miglab cell while it saves the booted guest, then the same cell again",
	  .expected = "pass/-" },
	{ .name = "no-convergence", .run = case_no_convergence, .needs = NEED_KERNEL | NEED_BUILDS,
	  .inject = "max-bandwidth 1 MiB/s, migrate timeout 5 s",
	  .expected = "fail/timeout-did-not-converge" },
	{ .name = "results-enospc", .run = case_results_enospc, .needs = NEED_KERNEL,
	  .inject = "results directory on a full 2 MiB tmpfs", .expected = "exit=2/ENOSPC" },
	{ .name = "run-id-race", .run = case_run_id_race, .needs = NEED_KERNEL,
	  .inject = "two miglab run --run-id SAME at once", .expected = "won=1/refused=1" },
	{ .name = "shared-cache", .run = case_shared_cache, .needs = NEED_KERNEL | NEED_BUILDS,
	  .inject = "two runs of the same build sharing one cache at once", .expected = "pass+pass" },
	{ .name = "refresh-then-sigkill-fetch", .run = case_refresh_then_sigkill_fetch,
	  .needs = NEED_KERNEL | NEED_BUILDS | NEED_NET,
	  .inject = "miglab fetch --refresh debian:trixie while a run uses it (private hard-linked cache); "
		    "SIGKILL of that fetch while apt/dpkg work; fetch again",
	  .expected = "pass/refresh=waited/procs_after_kill=0/fetch-after-kill=ok" },
	{ .name = "stale-fifo", .run = case_stale_fifo, .needs = NEED_KERNEL,
	  .inject = "a FIFO as /tmp/miglab-XXXXXX/owner, a /tmp/miglab-XXXXXX symlink to a dead owner's dir",
	  .expected = "fail/qemu-failed-to-start" },
	{ .name = "pidns-sweep", .run = case_pidns_sweep, .needs = NEED_KERNEL,
	  .inject = "a cell of a miglab in a PID namespace of its own sweeps /tmp while another cell lives",
	  .expected = "fail/guest-boot-failed" },
	{ .name = "merge-crafted", .run = case_merge_crafted, .needs = NEED_KERNEL,
	  .inject = "merge of a run whose cell.json says cell_id ../../x, and of one with a symlink",
	  .expected = "id:exit=2/symlink:skipped" },
	{ .name = "stream-crafted", .run = case_stream_crafted, .needs = 0,
	  .inject = "stream show: truncated stream, 4 GiB zstd bomb, garbage",
	  .expected = "truncated:exit=1/bomb:exit=2/garbage:exit=1" },
	{ .name = "stream-bomb-under-limit", .run = case_stream_bomb_under_limit, .needs = 0,
	  .inject = "stream show: a 1 MiB zstd file that decompresses to 600 MiB (under the 4 GiB limit)",
	  .expected = "exit=2/rss<64MiB" },
};

/* ---- the generic routine --------------------------------------------------- */

static const char *missing_need(const struct fault_ctx *ctx, unsigned needs)
{
	static char why[512];
	if (needs & NEED_KERNEL) {
		ml_autofree char *g = ml_path_join(ctx->cache, "guests/bookworm");
		if (!ml_is_dir(g)) {
			snprintf(why, sizeof(why), "no guest kernel in %s (miglab fetch --kernel debian:bookworm)", g);
			return why;
		}
	}
	if (needs & NEED_BUILDS) {
		ml_autofree char *b = ml_path_join(ctx->cache, "builds/debian-trixie/build.json");
		if (!ml_path_exists(b)) {
			snprintf(why, sizeof(why), "no debian:trixie build in the cache (%s missing)", b);
			return why;
		}
	}
	if ((needs & NEED_NET) && getenv("MIGLAB_FAULT_NO_NET")) {
		snprintf(why, sizeof(why), "MIGLAB_FAULT_NO_NET is set (the case runs mmdebstrap)");
		return why;
	}
	return NULL;
}

/* Run one case: inject, observe, then (a), (b), (c). 0 pass, 1 fail, 77 skip. */
static int fault_run_case(const struct fault_case *fc)
{
	struct fault_ctx ctx = { .fc = fc };
	char tmpl[256];
	const char *why;
	int procs_left, lost, ok;
	long long t0 = now_ms();

	if (getenv("MIGLAB_CACHE_DIR"))
		ctx.cache = strdup(getenv("MIGLAB_CACHE_DIR"));
	else
		ctx.cache = ml_strdup_printf("%s/.cache/miglab", getenv("HOME") ? getenv("HOME") : "/root");
	if ((why = missing_need(&ctx, fc->needs))) {
		printf("fault %s SKIP: %s\n", fc->name, why);
		free(ctx.cache);
		return 77;
	}
	/* Not /tmp/miglab-XXXXXX: that is the cells' own name, which they sweep. */
	snprintf(tmpl, sizeof(tmpl), "/tmp/mlfault-%s-XXXXXX", fc->name);
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	ctx.dir = strdup(tmpl);
	ctx.results = ml_path_join(ctx.dir, "results");
	ml_mkdir_p(ctx.results, 0755);
	snprintf(ctx.observed, sizeof(ctx.observed), "(nothing observed)");
	fprintf(stderr, "fault %s: %s (in %s)\n", fc->name, fc->inject, ctx.dir);

	if (fc->run(&ctx) < 0)
		ctx.checks_failed++;
	procs_left = count_leftovers(&ctx);
	lost = count_lost(&ctx);
	ok = procs_left == 0 && lost == 0 && ctx.checks_failed == 0 && ml_str_eq(ctx.observed, fc->expected);
	printf("fault %s expected=%s observed=%s procs_left=%d lost=%d checks_failed=%d time=%.1fs %s\n", fc->name,
	       fc->expected, ctx.observed, procs_left, lost, ctx.checks_failed, (now_ms() - t0) / 1000.0,
	       ok ? "PASS" : "FAIL");
	fflush(stdout);
	if (ok && !getenv("MIGLAB_KEEP_TEST_RESULTS"))
		ml_rm_rf(ctx.dir);
	else
		fprintf(stderr, "fault %s: kept %s\n", fc->name, ctx.dir);
	free(ctx.dir);
	free(ctx.results);
	free(ctx.cache);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	int failed = 0, ran = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("MIGLAB_FAULT_BIN"))
		miglab_bin = getenv("MIGLAB_FAULT_BIN");
	if (geteuid() != 0) {
		printf("fault suite SKIP: needs root (Debian roots run chrooted; the ENOSPC case mounts a tmpfs)\n");
		return 77;
	}
	if (access("/usr/bin/python3", X_OK) < 0) {
		printf("fault suite SKIP: /usr/bin/python3 is missing (the fake QEMU is a Python script)\n");
		return 77;
	}
	/* Every orphan of miglab (and of its children) becomes the driver's. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < ML_ARRAY_SIZE(fault_cases); i++)
			printf("%s\t%s\t%s\n", fault_cases[i].name, fault_cases[i].expected, fault_cases[i].inject);
		return 0;
	}
	for (size_t i = 0; i < ML_ARRAY_SIZE(fault_cases); i++) {
		int r;
		if (argc > 1) {
			bool wanted = false;
			for (int k = 1; k < argc; k++)
				wanted |= !strcmp(argv[k], fault_cases[i].name);
			if (!wanted)
				continue;
		}
		r = fault_run_case(&fault_cases[i]);
		if (r == 77) {
			skipped++;
			continue;
		}
		ran++;
		failed += r != 0;
	}
	if (ran == 0)
		return skipped ? 77 : 1;
	return failed ? 1 : 0;
}
