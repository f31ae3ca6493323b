#!/usr/bin/env bash
# Figures of issue "miglab core": wall time of one cell and its parts (boot to
# hello, each migration's total-time and downtime), size of the cache, and the
# time of a cold `miglab fetch`. Prints min/median/max over N cells.
#   bench/cell.sh [-n N] [--cold] [SRC DST MACHINE]
# --cold also times a fetch of SRC and DST and the bookworm kernel into an
# empty cache (network; about a minute).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=5 cold=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=$2; shift 2;;
    --cold) cold=1; shift;;
    *) break;;
  esac
done
src=${1:-debian:bookworm} dst=${2:-debian:bookworm-backports} machine=${3:-pc-q35-7.2}
build=$("$top/lab/bootstrap.sh" | tail -n 1)
miglab="$build/lab/miglab"
command -v python3 >/dev/null || { apt-get install -y -qq python3 >/dev/null; }
work=$(mktemp -d /tmp/miglab-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ "$cold" = 1 ]; then
  t0=$(date +%s.%N)
  "$miglab" fetch --cache-dir "$work/cache" "$src" "$dst" --kernel debian:bookworm >/dev/null
  t1=$(date +%s.%N)
  printf 'cold fetch (%s, %s, kernel bookworm): %.1f s, cache %s\n' "$src" "$dst" \
    "$(echo "$t1 - $t0" | bc)" "$(du -sh "$work/cache" | cut -f1)"
fi
"$miglab" fetch "$src" "$dst" --kernel debian:bookworm >/dev/null
cache=${MIGLAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/miglab}
printf 'cache %s: %s (builds %s, guests %s)\n' "$cache" "$(du -sh "$cache" | cut -f1)" \
  "$(du -sh "$cache/builds" | cut -f1)" "$(du -sh "$cache/guests" | cut -f1)"

for i in $(seq 1 "$n"); do
  s=$(date +%s%N)
  "$miglab" cell --results-dir "$work/results" --run-id "bench-$i" --src "$src" --dst "$dst" \
    --machine "$machine" >/dev/null 2>&1 || true
  e=$(date +%s%N)
  echo "$(( (e - s) / 1000000 ))" > "$work/wall-$i"
done
python3 - "$work" "$n" <<'PY'
import glob, json, statistics, sys
work, n = sys.argv[1], int(sys.argv[2])
rows = {}
def add(k, v):
    if v is not None: rows.setdefault(k, []).append(v)
verdicts = []
for i in range(1, n + 1):
    add("process wall (ms)", int(open(f"{work}/wall-{i}").read()))
    for path in glob.glob(f"{work}/results/bench-{i}/cells/*/cell.json"):
        c = json.load(open(path))
        verdicts.append(c["verdict"])
        add("cell wall (ms)", c.get("wall_ms"))
        for p in c["phases"]:
            f = p.get("figures", {})
            if p["name"] == "boot-src":
                add("boot to hello (ms)", f.get("boot_to_hello_ms"))
            if p["name"].startswith("migrate-"):
                d = p["name"][8:]
                add(f"{d}: phase (ms)", p.get("duration_ms"))
                add(f"{d}: total-time (ms)", f.get("total-time"))
                add(f"{d}: downtime (ms)", f.get("downtime"))
                add(f"{d}: transferred (MiB)", round(f.get("ram-transferred", 0) / 2**20, 1))
                add(f"{d}: verify (ms)", f.get("verify_ms"))
print(f"{n} cells, verdicts: " + ", ".join(f"{v}={verdicts.count(v)}" for v in sorted(set(verdicts))))
print(f"{'figure':28} {'min':>9} {'median':>9} {'max':>9}")
for k, v in rows.items():
    print(f"{k:28} {min(v):>9} {statistics.median(v):>9} {max(v):>9}")
PY
