#!/bin/sh
# A short run of every libFuzzer target (ctest label "fault"): configure and
# build a clang fuzz build in BUILD_DIR, then run each target for SECONDS
# (default 20) on a scratch copy of its seed corpus with its dictionary.
# Fails if any target crashes, leaks, times out or trips a sanitizer (its
# artifacts are kept in BUILD_DIR/short-run-artifacts/). Exits 77 (skip)
# only when clang or its libFuzzer runtime (libclang_rt.fuzzer) is absent.
#   tests/fuzz/short-run.sh SOURCE_DIR BUILD_DIR [SECONDS]
set -eu

top=${1:?usage: short-run.sh SOURCE_DIR BUILD_DIR [SECONDS]}
dir=${2:?usage: short-run.sh SOURCE_DIR BUILD_DIR [SECONDS]}
secs=${3:-20}
targets="stream qmp probe matrix abi-diff vmstate"

cc=
for c in "${CC:-}" clang clang-14; do
	if [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && "$c" --version 2>/dev/null | grep -q clang; then
		cc=$(command -v "$c")
		break
	fi
done
if [ -z "$cc" ]; then
	echo "SKIP: no clang in PATH (Debian: apt-get install clang libclang-rt-dev)"
	exit 77
fi
rt=$("$cc" -print-runtime-dir 2>/dev/null || true)
if [ ! -e "$rt/libclang_rt.fuzzer-$(uname -m).a" ] && [ ! -e "$rt/libclang_rt.fuzzer.a" ]; then
	echo "SKIP: no libFuzzer runtime for $cc in '$rt' (Debian: apt-get install libclang-rt-dev)"
	exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
# The runtime is there: a failure to link with it is a failure, not a skip.
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$probe/t.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/t" "$probe/t.c" >"$probe/log" 2>&1; then
	cat "$probe/log"
	echo "FAIL: $cc cannot link a fuzz target although its libFuzzer runtime is in $rt"
	exit 1
fi

echo "configuring $dir with $cc"
cmake -S "$top" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DMIGLAB_FUZZ=ON >"$probe/cmake.log" 2>&1 ||
	{ cat "$probe/cmake.log"; echo "FAIL: cmake"; exit 1; }
build_targets=
for t in $targets; do build_targets="$build_targets --target fuzz-$t"; done
# shellcheck disable=SC2086
cmake --build "$dir" -j2 $build_targets >"$probe/build.log" 2>&1 ||
	{ tail -40 "$probe/build.log"; echo "FAIL: build"; exit 1; }

arts=$dir/short-run-artifacts
rm -rf "$arts"
failed=
for t in $targets; do
	bin=$dir/tests/fuzz/fuzz-$t
	scratch=$probe/$t
	mkdir -p "$scratch/corpus" "$scratch/art"
	cp -R "$dir/tests/fuzz/corpus-$t/." "$scratch/corpus/"
	extra=
	[ "$t" = stream ] && extra=-max_len=65536
	# -timeout=300: at nice 19 on a busy host a 5 ms input was once stalled
	# for 13 s, and fuzz-stream's budget-bound input (stream.md) for 44 s;
	# a real hang still fails here, or at ctest's TIMEOUT.
	# shellcheck disable=SC2086
	if nice -n 19 "$bin" -max_total_time="$secs" -print_final_stats=1 \
		-dict="$top/tests/fuzz/$t.dict" -rss_limit_mb=2048 -timeout=300 $extra \
		-artifact_prefix="$scratch/art/" "$scratch/corpus" >"$scratch/log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/log")
		cov=$(grep -E '^#[0-9]+' "$scratch/log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
		echo "PASS: fuzz-$t: ${execs:-?} executions in ${secs} s, $cov"
	else
		mkdir -p "$arts/$t"
		cp "$scratch/log" "$arts/$t/"
		cp "$scratch/art/"* "$arts/$t/" 2>/dev/null || true
		grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' "$scratch/log" | head -20
		echo "FAIL: fuzz-$t (log and inputs in $arts/$t)"
		failed="$failed $t"
	fi
	rm -rf "$scratch"
done
if [ -n "$failed" ]; then
	echo "FAIL:$failed"
	exit 1
fi
echo "all fuzz targets ran ${secs} s without a finding"
