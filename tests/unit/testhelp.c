/* Helpers shared by miglab's cmocka unit tests (see testhelp.h). */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "ml-fs.h"
#include "testhelp.h"
#include "ml-common.h"

const char *ml_test_data(const char *rel)
{
	static char path[4096];
	snprintf(path, sizeof(path), "%s/%s", MIGLAB_TEST_DATA, rel);
	return path;
}

char *ml_test_tmpdir(void)
{
	char tmpl[] = "/tmp/miglab-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

void ml_test_rmtree(const char *dir)
{
	ml_rm_rf(dir);
}

char *ml_test_tiny_fs(unsigned kib)
{
	char *dir = ml_test_tmpdir();
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%uk,nr_inodes=64", kib);
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, opts) < 0) {
		fprintf(stderr, "# SKIP: a tiny tmpfs needs root and a mount namespace (%s)\n",
			strerror(errno));
		ml_rm_rf(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

void ml_test_tiny_fs_free(char *dir)
{
	umount2(dir, MNT_DETACH);
	ml_rm_rf(dir);
	free(dir);
}

int ml_test_pid_live(int pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	int live;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	live = fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return live;
}

int ml_test_pid_wait_dead(int pid, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms && ml_test_pid_live(pid); waited += 10)
		usleep(10000);
	return ml_test_pid_live(pid);
}

int ml_test_procs_with_arg(const char *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], buf[4096];
		size_t len;
		FILE *f;
		int pid = atoi(e->d_name);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
			if (strcmp(buf + i, arg) == 0 && ml_test_pid_live(pid)) {
				n++;
				break;
			}
	}
	if (d)
		closedir(d);
	return n;
}

int ml_test_procs_wait_gone(const char *arg, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms && ml_test_procs_with_arg(arg); waited += 10)
		usleep(10000);
	return ml_test_procs_with_arg(arg);
}

/* /proc/PID/status fields: the parent and whether the name has a needle. */
static int proc_status(int pid, const char *needle, int *ppid)
{
	char path[64], line[256];
	int named = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	*ppid = -1;
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "PPid:", 5) == 0)
			*ppid = atoi(line + 5);
		if (strncmp(line, "Name:", 5) == 0 && needle) {
			/* needle: alternatives separated by '|' */
			for (const char *p = needle; *p; p += strcspn(p, "|") + (p[strcspn(p, "|")] == '|')) {
				char alt[64];
				snprintf(alt, sizeof(alt), "%.*s", (int)strcspn(p, "|"), p);
				if (alt[0] && strstr(line + 5, alt))
					named = 1;
			}
		}
	}
	fclose(f);
	return named;
}

size_t ml_test_descendants_named(int root, const char *needle, int *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name), ppid, up;
		if (pid <= 0 || !proc_status(pid, needle, &ppid))
			continue;
		/* Walk up to pid 1 (or a vanished parent) looking for root. */
		for (up = ppid; up > 1 && up != root; proc_status(up, NULL, &up))
			;
		if (up == root && n < max && ml_test_pid_live(pid))
			out[n++] = pid;
	}
	if (d)
		closedir(d);
	return n;
}

char *ml_test_results_dir;

int ml_test_results_setup(void **state)
{
	(void)state;
	ml_test_results_dir = ml_test_tmpdir();
	return 0;
}

int ml_test_results_teardown(void **state)
{
	(void)state;
	if (!getenv("MIGLAB_KEEP_TEST_RESULTS"))
		ml_test_rmtree(ml_test_results_dir);
	else
		print_message("results kept in %s\n", ml_test_results_dir);
	free(ml_test_results_dir);
	ml_test_results_dir = NULL;
	return 0;
}

int ml_test_regenerate(void)
{
	const char *v = getenv("MIGLAB_REGENERATE");
	return v && strcmp(v, "1") == 0;
}
