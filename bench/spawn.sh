#!/usr/bin/env bash
# The cost of starting a program the way miglab starts every child (QEMU,
# mmdebstrap, iasl...): supervisor, PID-namespace init, program (see
# docs/builds.md, "Every process dies with miglab"). Prints milliseconds per
# ml_proc_run of /bin/true, min/median/max over R rounds of N runs.
#   bench/spawn.sh [N] [R]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-300} rounds=${2:-5}
build=$("$top/lab/bootstrap.sh" | tail -n 1)
work=$(mktemp -d /tmp/miglab-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/spawn.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "ml-proc.h"
int main(int argc, char **argv)
{
	const char *prog[] = { "/bin/true", NULL };
	struct ml_proc_spec s = { .argv = prog, .stdin_fd = -1 };
	int n = argc > 1 ? atoi(argv[1]) : 300, st;
	long long t = ml_now_ms();
	for (int i = 0; i < n; i++)
		if (ml_proc_run(&s, 10000, NULL, NULL, &st) < 0 || st != 0)
			return 1;
	printf("%.2f\n", (double)(ml_now_ms() - t) / n);
	return 0;
}
C
cc -O2 -D_GNU_SOURCE -I"$top/lab/util" "$work/spawn.c" "$build/lab/util/libmlutil.a" \
  $(pkg-config --libs jansson) -lpthread -o "$work/spawn"
for _ in $(seq "$rounds"); do "$work/spawn" "$n"; done | sort -n | awk '
  { v[NR] = $1 } END { printf "spawn of /bin/true: min %.2f ms, median %.2f ms, max %.2f ms (%d rounds)\n", v[1], v[int((NR + 1) / 2)], v[NR], NR }'
