#!/bin/sh
# The dashboard in a real headless Chromium (ctest label "browser").
#   run-browser-test.sh MIGLAB FIXTURE_RESULTS ARTIFACT_DIR
# Skips (exit 77) when chromium, node or playwright-core is missing; install
# them with:  apt-get install -y chromium nodejs npm
#             npm ci --prefix tests/web
set -eu
here=$(cd "$(dirname "$0")" && pwd)
miglab=$1 results=$2 artifacts=$3
chromium=${MIGLAB_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then echo "SKIP: no $chromium (apt-get install -y chromium)"; exit 77; fi
if ! command -v node >/dev/null 2>&1; then echo "SKIP: no node (apt-get install -y nodejs)"; exit 77; fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  echo "SKIP: no playwright-core (npm ci --prefix tests/web)"; exit 77
fi
rm -rf "$artifacts"
mkdir -p "$artifacts"
"$miglab" report --quiet --results-dir "$results" --out "$artifacts/site" >"$artifacts/index-path.txt"
exec node "$here/browser-test.mjs" "$chromium" "$(cat "$artifacts/index-path.txt")" "$artifacts"
