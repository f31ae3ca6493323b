#!/usr/bin/env bash
# Figures of issue "the whole matrix": wall time of a matrix run (default
# matrix/debian.ini), mean cell time, and the lab's overhead: cell wall time
# minus the time QEMU itself spends (boot to hello + migration total-times),
# as a percentage of cell wall time.
#   bench/matrix.sh [MATRIX] [-- extra `miglab run` options]
#   bench/matrix.sh --from RUN_DIR      figures of an existing run, no new run
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 >/dev/null || { apt-get install -y -qq python3 >/dev/null; }
if [ "${1:-}" = --from ]; then
  run_dir=$2
else
  matrix=${1:-$top/matrix/debian.ini}
  [ $# -gt 0 ] && shift
  [ "${1:-}" = -- ] && shift
  build=$("$top/lab/bootstrap.sh" | tail -n 1)
  results=$(mktemp -d /tmp/miglab-bench-matrix-XXXXXX)
  "$build/lab/miglab" fetch >/dev/null 2>&1 || true
  t0=$(date +%s)
  "$build/lab/miglab" run --results-dir "$results" --run-id bench "$@" "$matrix" >/dev/null || true
  echo "miglab run wall: $(( $(date +%s) - t0 )) s"
  run_dir=$results/bench
fi
python3 - "$run_dir" <<'PY'
import glob, json, statistics, sys
run_dir = sys.argv[1]
run = json.load(open(f"{run_dir}/run.json"))
cells = [json.load(open(p)) for p in glob.glob(f"{run_dir}/cells/*/cell.json")]
ran = [c for c in cells if any(p["name"] == "boot-src" for p in c.get("phases", []))]
def qemu_ms(c):
    t = 0
    for p in c["phases"]:
        f = p.get("figures", {})
        t += f.get("boot_to_hello_ms", 0) + f.get("total-time", 0)
    return t
wall = [c["wall_ms"] for c in ran]
q = [qemu_ms(c) for c in ran]
print(f"matrix {run['matrix']['name']}: {len(cells)} cells ({len(ran)} booted), "
      f"{run.get('jobs')} at a time, run wall {run['wall_ms']/1000:.0f} s ({run['wall_ms']/60000:.1f} min)")
print("verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(run.get("counts", {}).items())))
if ran:
    print(f"cell wall: mean {statistics.mean(wall)/1000:.1f} s, median {statistics.median(wall)/1000:.1f} s, "
          f"min {min(wall)/1000:.1f} s, max {max(wall)/1000:.1f} s")
    print(f"QEMU time (boot to hello + migration total-times): mean {statistics.mean(q)/1000:.1f} s")
    over = (sum(wall) - sum(q)) / sum(wall) * 100
    print(f"lab overhead: {over:.1f} % of cell wall time "
          f"({(sum(wall) - sum(q)) / len(ran) / 1000:.2f} s per cell)")
    boot = [next(p["figures"]["boot_to_hello_ms"] for p in c["phases"] if p["name"] == "boot-src") for c in ran
            if any(p["name"] == "boot-src" and "boot_to_hello_ms" in p["figures"] for p in c["phases"])]
    if boot:
        print(f"boot to hello: mean {statistics.mean(boot)/1000:.1f} s "
              f"({sum(boot)/sum(wall)*100:.0f} % of cell wall time)")
PY
