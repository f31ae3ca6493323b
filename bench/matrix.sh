#!/usr/bin/env bash
# Figures of a matrix run (issue 12, "the nightly matrix in minutes"): wall time,
# cells per minute, mean and median cell, each phase's share of cell time, the
# lab's overhead (cell wall time minus the time QEMU itself spends booting,
# restoring, migrating and resetting, all read from the same run), and with
# --scale how wall time grows with the number of cells (the same matrix at 1/4,
# 1/2 and full size: shards 1/4 and 1/2 are every 4th and every 2nd cell).
#   bench/matrix.sh [MATRIX] [-- extra `miglab run` options]
#   bench/matrix.sh --scale [MATRIX] [-- extra `miglab run` options]
#   bench/matrix.sh --from RUN_DIR [RUN_DIR...]   figures of existing runs
# Runs go to a scratch results directory (removed unless KEEP=1).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 >/dev/null || { apt-get install -y -qq python3 >/dev/null; }

figures() {
python3 - "$@" <<'PY'
import glob, json, statistics, sys

def phases(c):
    return {p["name"]: p for p in c.get("phases", [])}

def fig(p, k, d=0):
    v = (p or {}).get("figures", {}).get(k, d)
    return v if isinstance(v, (int, float)) else d

def qemu_ms(c):
    """What QEMU itself spends: the boot to the probe's hello (or the restore
    of a saved guest, and its save in the cell that made it), each migration's
    total-time, the reset to the next hello."""
    t = 0
    for p in c.get("phases", []):
        t += fig(p, "boot_to_hello_ms") + fig(p, "restore_ms") + fig(p, "save_total_time_ms")
        t += fig(p, "total-time") + fig(p, "reset_to_hello_ms")
    return t

rows = []
for run_dir in sys.argv[1:]:
    run = json.load(open(f"{run_dir}/run.json"))
    cells = []
    for p in glob.glob(f"{run_dir}/cells/*/attempts/*/attempt.json"):
        cells.append(json.load(open(p)))
    ran = [c for c in cells if "boot-src" in phases(c)]
    n_cells = len(glob.glob(f"{run_dir}/cells/*/cell.json"))
    wall_run = run["wall_ms"] / 1000
    print(f"== {run_dir}")
    print(f"matrix {run['matrix']['name']}: {n_cells} cells, {len(cells)} attempts ({len(ran)} started "
          f"a guest), {run.get('jobs')} at a time, run wall {wall_run:.0f} s ({wall_run/60:.1f} min), "
          f"{n_cells / (wall_run / 60):.1f} cells per minute")
    print("verdicts: " + ", ".join(f"{k}={v}" for k, v in sorted(run.get("counts", {}).items())))
    if not ran:
        continue
    wall = [c["wall_ms"] for c in ran]
    q = [qemu_ms(c) for c in ran]
    passed = [c["wall_ms"] for c in ran if c.get("outcome") == "pass"]
    print(f"cell wall (started a guest): mean {statistics.mean(wall)/1000:.1f} s, "
          f"median {statistics.median(wall)/1000:.1f} s, max {max(wall)/1000:.1f} s; "
          + (f"passing cells: mean {statistics.mean(passed)/1000:.1f} s, "
             f"median {statistics.median(passed)/1000:.1f} s" if passed else "no passing cell"))
    busy = sum(c["wall_ms"] for c in cells) / 1000
    print(f"cells busy {busy:.0f} s of {wall_run * run.get('jobs', 1):.0f} job-seconds "
          f"({busy / (wall_run * run.get('jobs', 1)) * 100:.0f} %; the rest: provisioning, "
          f"judging, the dashboard, idle jobs)")
    total = sum(wall)
    share = {}
    for c in ran:
        for p in c["phases"]:
            share[p["name"]] = share.get(p["name"], 0) + p.get("duration_ms", 0)
    print("phase share of cell time: " + ", ".join(
        f"{k} {v / total * 100:.0f} %" for k, v in sorted(share.items(), key=lambda kv: -kv[1])))
    over = total - sum(q)
    print(f"QEMU time (boot or restore, saves, migrations, resets): {sum(q)/1000:.0f} s; "
          f"lab overhead {over/1000:.0f} s = {over / total * 100:.1f} % of cell wall time "
          f"({over / len(ran) / 1000:.2f} s per cell)")
    boots = [fig(phases(c)["boot-src"], "boot_to_hello_ms") for c in ran
             if fig(phases(c)["boot-src"], "boot_to_hello_ms")]
    restores = [fig(phases(c)["boot-src"], "restore_ms") for c in ran
                if fig(phases(c)["boot-src"], "restore_ms")]
    resets = [fig(phases(c).get("reboot-dst"), "reset_to_hello_ms") for c in ran
              if fig(phases(c).get("reboot-dst"), "reset_to_hello_ms")]
    for name, v in (("boot to hello", boots), ("restore", restores), ("reset to hello", resets)):
        if v:
            print(f"{name}: {len(v)} times, mean {statistics.mean(v)/1000:.2f} s, "
                  f"median {statistics.median(v)/1000:.2f} s")
    # Where the lab's own time goes, from the figures that time it.
    parts = {"ABI dumps (collect+transfer)": ("abi_collect_ms", "abi_transfer_ms"),
             "QEMU views (QMP)": ("qemu_view_ms",), "post-migration verify": ("verify_ms",),
             "workload start": ("workload_start_ms",)}
    out = []
    for label, keys in parts.items():
        t = sum(fig(p, k) for c in ran for p in c["phases"] for k in keys)
        out.append(f"{label} {t / total * 100:.1f} %")
    print("some lab parts, share of cell time: " + ", ".join(out))
    rows.append((run_dir, n_cells, wall_run))
if len(rows) > 1:
    print("== scaling")
    base = rows[-1]
    for d, n, w in rows:
        print(f"{n:4d} cells: {w:6.0f} s, {n / (w / 60):5.1f} cells/min, "
              f"{w / n:5.2f} s per cell" + (f", {w / base[2] * 100:3.0f} % of the full run's wall time"
                                          if base[2] else ""))
PY
}

if [ "${1:-}" = --from ]; then
  shift
  figures "$@"
  exit 0
fi
scale=0
if [ "${1:-}" = --scale ]; then scale=1; shift; fi
matrix=${1:-$top/matrix/debian.ini}
[ $# -gt 0 ] && shift
[ "${1:-}" = -- ] && shift
# The goal's figures are with confirming attempts off; other options replace it.
[ $# -gt 0 ] || set -- --confirm 0
build=$("$top/lab/bootstrap.sh" | tail -n 1)
results=$(mktemp -d /tmp/miglab-bench-matrix-XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "runs kept in $results"; else trap 'rm -rf "$results"' EXIT; fi
"$build/lab/miglab" fetch >/dev/null 2>&1 || true
runs=()
if [ $scale = 1 ]; then
  for part in 1/4 1/2; do
    id=bench-shard-${part/\//-of-}
    "$build/lab/miglab" run --results-dir "$results" --run-id "$id" --shard "$part" "$@" "$matrix" \
      >/dev/null 2>&1 || true
    runs+=("$results/$id")
  done
fi
"$build/lab/miglab" run --results-dir "$results" --run-id bench "$@" "$matrix" >/dev/null 2>&1 || true
runs+=("$results/bench")
figures "${runs[@]}"
