#!/bin/sh
# Figures of the dashboard generator: a synthetic run of N cells (default
# 10,000) made from the fixture cells of tests/data/web, then `miglab report`
# timed (target: under 5 s for 10,000 cells) and the site's size.
#   bench/report.sh [BUILD_DIR] [CELLS]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
cells=${2:-10000}
miglab=$build/lab/miglab
[ -x "$miglab" ] || { echo "no $miglab: build first" >&2; exit 2; }
work=$(mktemp -d /tmp/miglab-bench-report-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$here/tests/data/web/results/20261102-000000-bbbb" "$work/results" "$cells" <<'PY'
import json, os, shutil, sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
templates = []
for name in sorted(os.listdir(os.path.join(src, "cells"))):
    d = os.path.join(src, "cells", name)
    doc = json.load(open(os.path.join(d, "cell.json")))
    logs = {f: open(os.path.join(d, f), "rb").read() for f in doc.get("logs", {}).values()}
    templates.append((doc, logs))
# 10 builds x 10 builds x 20 machine types x 5 kernels = 10,000 cells
builds = ["b%02d" % i for i in range(10)]
machines = ["pc-q35-%d.%d" % (5 + i // 2, (i % 2) * 2) for i in range(10)] + \
           ["pc-i440fx-%d.%d" % (5 + i // 2, (i % 2) * 2) for i in range(10)]
kernels = ["k%d" % i for i in range(5)]
run = os.path.join(out, "bench")
os.makedirs(os.path.join(run, "cells"))
summary, counts, i = [], {}, 0
for k in kernels:
    for s in builds:
        for t in builds:
            for m in machines:
                if i >= n:
                    break
                doc, logs = templates[i % len(templates)]
                doc = json.loads(json.dumps(doc))
                cid = "%s-to-%s-%s-k-%s-%08x" % (s, t, m, k, i)
                doc["cell_id"], doc["run_id"], doc["machine"] = cid, "bench", m
                doc["inputs"]["machine"], doc["inputs"]["kernel"] = m, "debian:" + k
                doc["inputs"]["src"]["provider"], doc["inputs"]["dst"]["provider"] = "debian:" + s, "debian:" + t
                doc["inputs"]["src"]["version"] = "%d.0.%d" % (5 + int(s[1:]), 0)
                doc["inputs"]["dst"]["version"] = "%d.0.%d" % (5 + int(t[1:]), 0)
                cd = os.path.join(run, "cells", cid)
                os.makedirs(cd)
                json.dump(doc, open(os.path.join(cd, "cell.json"), "w"))
                for f, data in logs.items():
                    open(os.path.join(cd, f), "wb").write(data)
                counts[doc["verdict"]] = counts.get(doc["verdict"], 0) + 1
                summary.append({"cell_id": cid, "verdict": doc["verdict"]})
                i += 1
json.dump({"schema": "miglab-run/1", "run_id": "bench", "kind": "matrix", "state": "done",
           "started_at": "2026-11-22T00:00:00Z", "matrix": {"name": "bench"}, "builds": {},
           "counts": counts, "cells": summary, "wall_ms": 0}, open(os.path.join(run, "run.json"), "w"))
PY
sync
start=$(date +%s.%N)
"$miglab" report --quiet --results-dir "$work/results" --out "$work/site" >/dev/null
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc)
size=$(du -sk "$work/site" | cut -f1)
files=$(find "$work/site" -type f | wc -l)
runpage=$(stat -c %s "$work/site/bench/index.html")
printf 'cells: %s\nmiglab report: %.2f s (target < 5 s)\nsite: %s KiB in %s files (run page %s bytes)\n' \
  "$cells" "$secs" "$size" "$files" "$runpage"
