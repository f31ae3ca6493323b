#!/usr/bin/env bash
# CPU seconds one cell costs, by process: the QEMUs (by role: boot, src, dst,
# back) and miglab itself (its threads: stream tap, saved-guest copier, log
# pumps, probe and QMP clients, judging). On a host whose cores a matrix run
# keeps busy, wall time follows CPU time: this says where a cell's goes.
#   bench/cell-cpu.sh [miglab cell options]   (default: trixie -> trixie, q35,
#                                              trixie kernel, a saved guest
#                                              kept in a scratch --saved-dir,
#                                              so the second cell restores)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$("$top/lab/bootstrap.sh" | tail -n 1)
scratch=$(mktemp -d /tmp/miglab-bench-cpu-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
if [ $# -eq 0 ]; then
  set -- --src debian:trixie --dst debian:trixie --machine q35 --kernel debian:trixie \
    --confirm 0 --saved-dir "$scratch/saved"
fi
sample() {
python3 - "$@" <<'PY'
import os, re, subprocess, sys, time
HZ = os.sysconf("SC_CLK_TCK")
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seen = {}
def tree(root):
    kids = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                st = open(f"/proc/{pid}/stat").read()
                kids.setdefault(int(st[st.rindex(")") + 2:].split()[1]), []).append(int(pid))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        x = todo.pop()
        out.append(x)
        todo += kids.get(x, [])
    return out
t0 = time.time()
while p.poll() is None:
    for pid in tree(p.pid):
        try:
            st = open(f"/proc/{pid}/stat").read()
            f = st[st.rindex(")") + 2:].split()
            cmd = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
        except OSError:
            continue
        m = re.search(r"guest=miglab-(\w+)", cmd)
        name = "qemu-" + m.group(1) if m else ("miglab" if "miglab" in cmd else None)
        if name is None:   # a zombie: keep the name it had
            name = seen.get(pid, ("other",))[0]
        seen[pid] = (name, int(f[11]) / HZ, int(f[12]) / HZ)
    time.sleep(0.05)
wall = time.time() - t0
tot = {}
for name, u, s in seen.values():
    a = tot.setdefault(name, [0.0, 0.0]); a[0] += u; a[1] += s
for k, (u, s) in sorted(tot.items(), key=lambda kv: -sum(kv[1])):
    print(f"  {k:12s} user {u:6.2f} s  sys {s:6.2f} s")
print(f"  total CPU {sum(u + s for u, s in tot.values()):.2f} s in {wall:.1f} s of wall time "
      f"(sampled every 50 ms: a process living less than that is missed)")
PY
}
echo "first cell (boots and saves when boot = saved):"
sample "$build/lab/miglab" cell --results-dir "$scratch/results" "$@"
echo "second cell (restores the saved guest when --saved-dir is kept):"
sample "$build/lab/miglab" cell --results-dir "$scratch/results" "$@"
