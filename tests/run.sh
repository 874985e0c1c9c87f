#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The whole test suite, as CI runs it: install the Debian packages, then build and run
# every test through CTest twice, plain (gcc, -Werror) and under ASan + UBSan (clang,
# with the libFuzzer targets running ST7DFU_FUZZ_SECONDS each); in between, the gcc Debug
# and MinSizeRel builds must compile.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deps.sh
. "$src/tests/deps.sh"
st7_install_deps

jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${ST7DFU_FUZZ_SECONDS:-30}

echo "== plain build (gcc)"
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build "$src/build" -j "$jobs"
ctest --test-dir "$src/build" --output-on-failure -j "$jobs" -LE long

# gcc warns differently per optimisation level (-Wformat-truncation at -O0 and -Os): the
# other build types must compile too. Built, not tested: the tests run on the two builds
# around this one.
for type in Debug MinSizeRel; do
	echo "== $type build (gcc), compile only"
	cmake -S "$src" -B "$src/build-$type" -DCMAKE_BUILD_TYPE=$type -DCMAKE_C_COMPILER=gcc \
		-DST7DFU_TESTS=OFF >/dev/null
	cmake --build "$src/build-$type" -j "$jobs"
done

echo "== ASan + UBSan build (clang) with fuzzing"
cmake -S "$src" -B "$src/build-asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	-DST7DFU_SANITIZE=ON -DST7DFU_FUZZ=ON -DST7DFU_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$src/build-asan" -j "$jobs"
# The packages and the service checks (labels pkg, init) run once, in the plain build:
# they build their own package or compare system calls against the unit's filter, which
# a sanitizer's runtime would widen.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	ctest --test-dir "$src/build-asan" --output-on-failure -j "$jobs" -LE 'long|pkg|init'
