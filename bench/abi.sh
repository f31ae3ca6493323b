#!/usr/bin/env bash
# Figures of issue "guest-visible ABI you can trust", from a judged run:
#  - ABI findings of the cells by phase, reference and severity, and their
#    differences by kind and severity;
#  - the machine-type ABI entries by verdict, and their differences by kind;
#  - the attention list (cells whose judgement needs a reader: not passing,
#    not explained by an unsound build, or with an ABI finding of severity
#    error or fail, or a cross-check or continuity finding);
#  - the cost of the cross-checks (qemu_view_ms) and continuity readings
#    (before_ms + after_ms) per phase: median and max.
#   bench/abi.sh RUN_DIR
# To compare with an older judgement, judge a copy of the run with another
# miglab (`miglab analyse --no-report COPY`) and run this on both.
set -euo pipefail
run_dir=${1:?usage: bench/abi.sh RUN_DIR}
python3 - "$run_dir" <<'PY'
import collections, glob, json, statistics, sys
run_dir = sys.argv[1]
run = json.load(open(f"{run_dir}/run.json"))
cells = [json.load(open(p)) for p in sorted(glob.glob(f"{run_dir}/cells/*/cell.json"))]
print(f"run {run['run_id']}: {len(cells)} cells")

findings = collections.Counter()
diffs = collections.Counter()
for c in cells:
    for f in c.get("findings") or []:
        if not f.get("kind", "").startswith("abi-"):
            continue
        findings[(f["kind"], f.get("phase", "-"), f.get("against", "-"), f.get("severity", "-"))] += 1
        for d in f.get("differences") or []:
            diffs[(d.get("kind", "(no kind)"), d.get("severity", f.get("severity", "-")))] += 1
print(f"\nABI findings of cells: {sum(findings.values())}")
for (k, p, a, s), n in sorted(findings.items()):
    print(f"  {n:5d}  {k:15s} {p:11s} against {a:17s} {s}")
print(f"their differences: {sum(diffs.values())}")
for (k, s), n in sorted(diffs.items(), key=lambda x: (-x[1], x[0])):
    print(f"  {n:6d}  {k:18s} {s}")

entries = run.get("machine_abi")
if entries is not None:
    verdicts = collections.Counter(e.get("verdict") for e in entries)
    print(f"\nmachine-type ABI entries: {len(entries)}: " +
          ", ".join(f"{v} {verdicts.get(v, 0)}" for v in ("break", "warn", "info", "same", "unknown")))
    kinds = collections.Counter()
    for e in entries:
        for k, v in (e.get("kinds") or {}).items():
            kinds[(k, v["severity"])] += v["count"]
    for (k, s), n in sorted(kinds.items(), key=lambda x: (-x[1], x[0])):
        print(f"  {n:6d}  {k:18s} {s}")
    for e in entries:
        if e.get("verdict") == "break":
            print(f"  {e['text']}")

def needs_reader(c):
    cat = c.get("category") or c.get("verdict")
    if cat not in ("pass", "skip", "xfail") and "unsound" not in (cat or ""):
        return True
    sev = (c.get("abi") or {}).get("severity")
    if sev is None:  # judged before ABI severities: any abi-change finding
        return any(f.get("kind") == "abi-change" for f in c.get("findings") or []) and cat == "pass"
    if sev in ("error", "fail"):
        return True
    return any(f.get("kind") in ("abi-crosscheck", "continuity") for f in c.get("findings") or [])
att = [c["cell_id"] for c in cells if needs_reader(c)]
print(f"\nattention list: {len(att)} of {len(cells)} cells")

cost = collections.defaultdict(list)
for c in cells:
    for p in c.get("phases") or []:
        fig = p.get("figures") or {}
        if isinstance(fig.get("qemu_view_ms"), int):
            cost[("cross-check", p["name"])].append(fig["qemu_view_ms"])
        cont = fig.get("continuity")
        if isinstance(cont, dict) and isinstance(cont.get("before_ms"), int):
            cost[("continuity", p["name"])].append(cont["before_ms"] + cont.get("after_ms", 0))
if cost:
    print("\ncost per phase (ms): median, max, phases measured")
    for (what, phase), v in sorted(cost.items()):
        print(f"  {what:12s} {phase:16s} {statistics.median(v):7.0f} {max(v):7d}  n={len(v)}")
PY
