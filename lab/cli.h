/* The miglab command table: each command lives in its own cmd-*.c file and
 * receives argv after the command name. Exit codes (docs/usage.md):
 *   0  every cell passed (or was skipped / a known issue)
 *   1  at least one cell failed
 *   2  the lab itself failed, or bad usage */
#ifndef ML_CLI_H
#define ML_CLI_H

#include <getopt.h>

#include "config.h"

enum { ML_EXIT_OK = 0, ML_EXIT_FAIL = 1, ML_EXIT_LAB = 2 };

struct ml_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

int cmd_fetch(int argc, char **argv);
int cmd_cell(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_failures(int argc, char **argv);
int cmd_vmstate(int argc, char **argv);
int cmd_abi_diff(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_analyse(int argc, char **argv);
int cmd_bisect(int argc, char **argv);

/* Options every command accepts; ids above 1000 so they never clash with
 * a command's own. */
enum {
	ML_OPT_CACHE_DIR = 1001,
	ML_OPT_RESULTS_DIR,
	ML_OPT_MIRROR,
};
#define ML_COMMON_LONG_OPTIONS                                                     \
	{ "cache-dir", required_argument, NULL, ML_OPT_CACHE_DIR },                \
	{ "results-dir", required_argument, NULL, ML_OPT_RESULTS_DIR },            \
	{ "mirror", required_argument, NULL, ML_OPT_MIRROR },                      \
	{ "help", no_argument, NULL, 'h' }

#define ML_COMMON_HELP                                                             \
	"  --cache-dir DIR     cache of Debian roots and guests (MIGLAB_CACHE_DIR;\n"  \
	"                      default $XDG_CACHE_HOME/miglab or ~/.cache/miglab)\n"  \
	"  --results-dir DIR   results directory (MIGLAB_RESULTS_DIR; default\n"        \
	"                      $XDG_DATA_HOME/miglab/results or ~/.local/share/miglab/results)\n" \
	"  --mirror URL        Debian mirror (MIGLAB_DEBIAN_MIRROR; default\n"          \
	"                      http://deb.debian.org/debian)\n"                         \
	"  -h, --help          this help\n"

/* Handle a common option into cfg; returns 1 if it was one. */
int ml_cli_common_option(int opt, const char *arg, struct ml_config *cfg);
/* Print "miglab CMD: error" plus a hint, return ML_EXIT_LAB. */
int ml_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
