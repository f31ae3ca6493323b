#!/usr/bin/env bash
# Figures of QEMU builds from source (issue 13): the toolchain root's making
# time and size, a cold build (empty ccache, no build directory), a rebuild
# after a one-file patch, the size of what a build leaves in the cache, and a
# bisect over the integration test's repository (Debian's tree plus three
# commits, the second an incompatible mc146818rtc VMState change) against
# debian:trixie: its steps, its wall time and the commit it names.
#   bench/source-build.sh [VERSION]      default VERSION: 10.0.13 (debian-source:)
# Everything happens in a scratch cache directory (removed unless KEEP=1), so
# the figures are those of a fresh machine and the real cache is not touched.
# Needs root and Debian's mirror; about 25 minutes on 2 cores.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
miglab=${MIGLAB:-$top/build/lab/miglab}
ver=${1:-10.0.13}
cache=$(mktemp -d /tmp/miglab-bench-src.XXXXXX)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$cache"' EXIT

secs() { python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.1f}')" "$@"; }
size() { du -sm "$1" | cut -f1; }
manifest() { "$miglab" fetch --cache-dir "$cache" --json "$1" | grep '^{"manifest_version"'; }
field() { python3 -c "import json,sys; m=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))" "$1"; }

echo "cache: $cache (cores: $(nproc))"
t0=$(date +%s%N)
m=$(manifest "debian-source:$ver")
t1=$(date +%s%N)
root=$cache/builds/toolchain-$(echo "$m" | field 'm["source"]["toolchain"]')/root
key=$(echo "$m" | field 'm["source"]["key"]')
build_s=$(echo "$m" | field 'round(m["source"]["build_ms"] / 1000, 1)')
echo "first fetch of debian-source:$ver (toolchain root, download, cold build): $(secs "$t0" "$t1") s"
echo "  of which the cold build (configure, make, install): $build_s s"
echo "toolchain root: $(size "$root") MiB in all after the build"
echo "  the build's cache entry ($root/opt/miglab/$key): $(size "$root/opt/miglab/$key") MiB"
echo "  the build directory (shared by the root's builds): $(size "$root"/miglab-src/build-*) MiB"
echo "  the work repository: $(size "$root/miglab-src/work") MiB"
echo "  ccache (beside the root): $(size "$(dirname "$root")/ccache") MiB"

# A one-file patch: a comment at the top of hw/rtc/mc146818rtc.c.
commit=$(echo "$m" | field 'm["source"]["commit"]')
patch=$cache/one-file.patch
git -C "$root/miglab-src/work" show "$commit:hw/rtc/mc146818rtc.c" > "$cache/a.c"
{ echo "/* bench: a one-file change */"; cat "$cache/a.c"; } > "$cache/b.c"
diff -u --label a/hw/rtc/mc146818rtc.c --label b/hw/rtc/mc146818rtc.c "$cache/a.c" "$cache/b.c" > "$patch" || true
t0=$(date +%s%N)
m2=$(manifest "debian-source:$ver+patch:$patch")
t1=$(date +%s%N)
echo "rebuild after a one-file patch: $(secs "$t0" "$t1") s (build $(echo "$m2" | field 'round(m["source"]["build_ms"] / 1000, 1)') s), key $(echo "$m2" | field 'm["source"]["key"]') != $key"
t0=$(date +%s%N)
manifest "debian-source:$ver" > /dev/null
t1=$(date +%s%N)
echo "a cached build, reused: $(secs "$t0" "$t1") s"

# The bisect of tests/integration/test-source.c, builds included.
repo=$cache/qemu
"$miglab" fetch --cache-dir "$cache" --export-source "$repo" "debian-source:$ver" 2>/dev/null
base=$(git -C "$repo" rev-parse HEAD)
(
  cd "$repo"; f=hw/rtc/mc146818rtc.c; c='git -c user.name=b -c user.email=b@localhost commit -qam'
  sed -i '1i /* bench: a comment (1) */' $f; $c 'rtc: a comment'
  sed -i 's/^\( *\)VMSTATE_UINT64_V(next_alarm_time, MC146818RtcState, 3),/&\n\1VMSTATE_INT32(base_year, MC146818RtcState),/' $f
  $c 'rtc: migrate base_year (incompatible)'
  sed -i '1i /* bench: a comment (3) */' $f; $c 'rtc: another comment'
)
"$miglab" fetch --cache-dir "$cache" debian:trixie --kernel debian:bookworm > /dev/null
t0=$(date +%s%N)
"$miglab" bisect --cache-dir "$cache" --results-dir "$cache/results" --run-id bench \
  --good "git:$repo@$base" --bad "git:$repo@main" --against debian:trixie \
  --machine pc-q35-10.0 --kernel debian:bookworm --repeat 1 > "$cache/bisect.out" 2>&1 || true
t1=$(date +%s%N)
python3 - "$cache/results/bisect/bench/bisect.json" "$(secs "$t0" "$t1")" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
r = b["result"]
print(f"bisect (good = Debian's tree, bad = 3 commits on top, against debian:trixie, pc-q35-10.0, repeat 1): "
      f"{b['steps_count']} steps, {sys.argv[2]} s wall")
for s in b["steps"]:
    print(f"  {s.get('role', 'step'):9} {s.get('commit', '')[:12]} {s.get('judgement', '?'):5} "
          f"{s.get('wall_ms', 0) / 1000:6.1f} s (build and cells)  {s.get('subject', '')}")
fb = r.get("first_bad") or {}
print(f"first bad commit: {fb.get('commit', '-')[:12]} {fb.get('subject', r.get('outcome'))}")
PY
