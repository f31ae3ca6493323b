#!/usr/bin/env bash
# Install what miglab needs from Debian's packages (host: Debian bookworm or
# newer) and build it out of source into ./build. Idempotent; used by
# lab/run.sh, tests/run.sh and .ci/run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${MIGLAB_BUILD_DIR:-$top/build}

packages=(
  build-essential cmake pkg-config
  libjansson-dev libcmocka-dev libinih-dev libssl-dev liblzma-dev libzstd-dev
  mmdebstrap busybox-static cpio kmod iproute2 procps xz-utils zstd
  debian-archive-keyring acpica-tools
  # builds from source and bisect run git on the host (docs/builds.md)
  git
  # the fuzz targets (tests/fuzz, the fault label): Debian's default clang
  # and its libFuzzer runtime (libclang-rt-dev pulls libclang-rt-14-dev on
  # bookworm, the matching one on newer releases)
  clang libclang-rt-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "miglab: missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 2
  fi
  echo "miglab: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

werror=OFF
[ -n "${CI:-}" ] && werror=ON
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIGLAB_WERROR=$werror >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
echo "$build"
