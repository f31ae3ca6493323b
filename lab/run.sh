#!/usr/bin/env bash
# The main job: set everything up (packages, build), then run the default
# nightly matrix, matrix/debian.ini: Debian's QEMU builds (bookworm 7.2,
# bookworm-backports 10.0.2, trixie 10.0.x, sid 11.x) against each other with
# the bookworm, trixie and sid guest kernels, on q35 and i440fx machine types,
# forward and back. `miglab run` makes the builds and guests it needs (cached).
#   lab/run.sh [extra `miglab run` options, e.g. --results-dir DIR -j 2]
#   MIGLAB_MATRIX=matrix/quick.ini lab/run.sh      a 4-cell run instead
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$("$top/lab/bootstrap.sh" | tail -n 1)
exec "$build/lab/miglab" run "$@" "${MIGLAB_MATRIX:-$top/matrix/debian.ini}"
