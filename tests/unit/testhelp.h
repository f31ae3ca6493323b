/* Helpers shared by miglab's cmocka unit tests. */
#ifndef ML_TESTHELP_H
#define ML_TESTHELP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Path of a file under tests/data (static buffer, valid until next call). */
const char *ml_test_data(const char *rel);
/* A fresh temporary directory, removed by ml_test_rmtree(). Caller frees. */
char *ml_test_tmpdir(void);
void ml_test_rmtree(const char *dir);
/* A tmpfs of kib KiB (and 64 inodes) mounted at a fresh directory, in a
 * mount namespace the calling process enters (so nothing outside sees it):
 * a disk to fill. NULL, with the reason on stderr, when that is not
 * allowed (not root); the test then skips. */
char *ml_test_tiny_fs(unsigned kib);
void ml_test_tiny_fs_free(char *dir);
/* True if pid exists and is neither a zombie nor dead (a killed orphan may
 * linger as a zombie until its new parent reaps it: that counts as dead). */
int ml_test_pid_live(int pid);
/* Wait up to timeout_ms for pid to stop being live; returns ml_test_pid_live(). */
int ml_test_pid_wait_dead(int pid, int timeout_ms);
/* How many live processes have an argument equal to arg (a marker a test
 * put on a command line: pids inside a PID namespace mean nothing here). */
int ml_test_procs_with_arg(const char *arg);
/* Live descendants of root (at any depth: miglab's children run under a
 * supervisor and a namespace init) whose name contains needle (alternatives: "a|b"); up to max
 * pids in out. */
size_t ml_test_descendants_named(int root, const char *needle, int *out, size_t max);
/* Wait up to timeout_ms for them to go; returns how many are left. */
int ml_test_procs_wait_gone(const char *arg, int timeout_ms);

/* cmocka group setup/teardown for integration tests: a fresh results
 * directory in ml_test_results_dir, removed afterwards unless
 * MIGLAB_KEEP_TEST_RESULTS is set. */
extern char *ml_test_results_dir;
int ml_test_results_setup(void **state);
int ml_test_results_teardown(void **state);

/* True when MIGLAB_REGENERATE=1: data-driven tests rewrite expected files. */
int ml_test_regenerate(void);

#endif
