#!/usr/bin/env bash
# The test command: set up everything (packages, build, QEMU builds from
# Debian, guest kernel), then run every test with ctest: unit tests (cmocka)
# and integration tests with real QEMU.
#   tests/run.sh            all tests
#   tests/run.sh -L unit    only the unit tests (no network, no root needed)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$("$top/lab/bootstrap.sh" | tail -n 1)

only_unit=0
for a in "$@"; do [ "$a" = unit ] && only_unit=1; done
if [ "$only_unit" -eq 0 ]; then
  # The integration tests use these; fetching them first keeps test timeouts honest.
  "$build/lab/miglab" fetch debian:bookworm debian:bookworm-backports --kernel debian:bookworm
fi
cd "$build"
exec ctest --output-on-failure "$@"
