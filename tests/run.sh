#!/usr/bin/env bash
# The test command: set up everything (packages, build, QEMU builds from
# Debian, guest kernel), then run every test with ctest: unit tests (cmocka),
# integration tests with real QEMU, the fault suite and a short run of every
# fuzz target (label fault: tests/fault, tests/fuzz).
#   tests/run.sh            all tests
#   tests/run.sh -L unit    only the unit tests (no network, no root needed)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$("$top/lab/bootstrap.sh" | tail -n 1)

only_unit=0
for a in "$@"; do [ "$a" = unit ] && only_unit=1; done
if [ "$only_unit" -eq 0 ]; then
  # The dashboard's browser test: Debian's Chromium driven by playwright-core.
  if [ "$(id -u)" -eq 0 ]; then
    for p in chromium nodejs npm; do
      command -v "${p/nodejs/node}" >/dev/null 2>&1 || need="${need:-} $p"
    done
    if [ -n "${need:-}" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
    fi
  fi
  if command -v npm >/dev/null 2>&1 && [ ! -d "$top/tests/web/node_modules/playwright-core" ]; then
    npm ci --prefix "$top/tests/web" --no-audit --no-fund >/dev/null
  fi
  # The integration tests use these; fetching them first keeps test timeouts honest.
  # debian-source:10.0.13 is QEMU built from Debian's source in the trixie
  # toolchain root (about 15 min cold on 2 cores; cached afterwards).
  "$build/lab/miglab" fetch debian:bookworm debian:bookworm-backports debian:trixie \
    debian-source:10.0.13 --kernel debian:bookworm
fi
cd "$build"
exec ctest --output-on-failure "$@"
