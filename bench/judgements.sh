#!/usr/bin/env bash
# Figures of issue "verdicts you can act on", from a judged run: counts per
# judgement (pass, deterministic fail, intermittent, source-/destination-
# unsound, xfail, xpass, skip, error), each failing control's rate, what the
# confirming attempts cost in wall time, and how long judging the run again
# takes (`miglab analyse`, which must not change any judgement).
#   bench/judgements.sh RUN_DIR
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
run_dir=${1:?usage: bench/judgements.sh RUN_DIR}
build=${MIGLAB_BUILD_DIR:-$top/build}
python3 - "$run_dir" <<'PY'
import glob, json, sys
run_dir = sys.argv[1]
run = json.load(open(f"{run_dir}/run.json"))
print(f"run {run['run_id']}: matrix {run.get('matrix', {}).get('name')}, confirm {run.get('confirm')}, "
      f"{run.get('jobs')} at a time, run wall {run.get('wall_ms', 0)/60000:.1f} min")
h = run.get("host", {})
print(f"host: {h.get('cpu_vendor')} family {h.get('cpu_family')} model {h.get('cpu_model_number')} "
      f"stepping {h.get('cpu_stepping')} ({h.get('cpu_model')}), microcode {h.get('cpu_microcode')}, "
      f"kernel {h.get('kernel')}, accel {h.get('accel')}")
order = ["pass", "fail", "intermittent", "source-unsound", "destination-unsound", "xfail", "xpass",
         "skip", "error"]
j = run.get("judgements", {})
print("judgements: " + ", ".join(f"{k} {j.get(k, 0)}" for k in order))
for u in run.get("unsound_builds", []):
    print(f"  control: {u['text']}")
first = later = 0
cells_confirmed = 0
for p in glob.glob(f"{run_dir}/cells/*/cell.json"):
    c = json.load(open(p))
    att = c.get("attempts", [])
    if len(att) > 1:
        cells_confirmed += 1
    for a in att:
        if a.get("attempt", 1) == 1:
            first += a.get("wall_ms", 0)
        else:
            later += a.get("wall_ms", 0)
tot = first + later
if tot:
    print(f"attempts: first attempts {first/60000:.1f} cell-min, confirming attempts {later/60000:.1f} "
          f"cell-min ({later/tot*100:.0f} % of all cell time) in {cells_confirmed} confirmed cell(s)")
PY
if [ -x "$build/lab/miglab" ]; then
  before=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps(sorted((c['cell_id'], c['category']) for c in r['cells'])))" "$run_dir/run.json")
  t0=$(date +%s%N)
  "$build/lab/miglab" analyse --no-report "$run_dir" >/dev/null || true
  t1=$(date +%s%N)
  after=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps(sorted((c['cell_id'], c['category']) for c in r['cells'])))" "$run_dir/run.json")
  echo "miglab analyse (judge the whole run again): $(( (t1 - t0) / 1000000 )) ms; judgements $( [ "$before" = "$after" ] && echo unchanged || echo CHANGED)"
fi
