/* Helpers shared by miglab's cmocka unit tests (see testhelp.h). */
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
