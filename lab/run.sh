#!/usr/bin/env bash
# The main job: set everything up (packages, build, QEMU builds from Debian,
# guest kernel) and run the lab. Until the matrix runner lands, the job is the
# N-2/N-1/N slice of the Debian matrix on pc-q35-7.2 (the newest machine type
# the oldest build has): every build against bookworm's QEMU 7.2, both ways.
#   lab/run.sh [extra miglab cell options, e.g. --results-dir DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$("$top/lab/bootstrap.sh" | tail -n 1)
miglab="$build/lab/miglab"

"$miglab" fetch   # bookworm, bookworm-backports, trixie, sid; bookworm kernel

run_id=${MIGLAB_RUN_ID:-$(date -u +%Y%m%d-%H%M%S)-main}
rc=0
for dst in debian:bookworm debian:bookworm-backports debian:trixie debian:sid; do
  "$miglab" cell --run-id "$run_id" --src debian:bookworm --dst "$dst" \
    --machine pc-q35-7.2 --kernel debian:bookworm "$@" || rc=$(( rc > $? ? rc : $? ))
done
exit "$rc"
