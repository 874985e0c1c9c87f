#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Cross builds for the gateway architectures (packaging/cross/), as CI runs them: as root
# on Debian 12 amd64, add the architectures, install what is missing (the cross compilers,
# the target's -dev libraries, qemu-user-static), build each architecture at MinSizeRel
# with -Werror, print the stripped sizes of st7dfu and st7dfu-fetch, and run the unit
# tests of some under qemu-user (ctest -L unit). Exits non-zero if a build or test fails.
#
#   ST7_CROSS_ARCHES       architectures built (default: arm64 armhf)
#   ST7_CROSS_TEST_ARCHES  of those, the ones whose unit tests run (default: arm64)
#   ST7_CROSS_BUILD_ROOT   where the build trees go (default: <source>/build-cross)
#
# Where a target's -dev packages cannot be installed beside the amd64 ones (a Multi-Arch:
# same library at another version than the amd64 one: Debian 12 LTS has no security
# updates for mipsel/mips64el, or a mirror that lacks an index), they are unpacked into
# <build root>/sysroot-<arch> instead and the build uses -DCMAKE_SYSROOT; such a build is
# not tested (qemu-user 7.2 with -L hangs a guest that forks).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
arches=${ST7_CROSS_ARCHES:-arm64 armhf}
test_arches=${ST7_CROSS_TEST_ARCHES:-arm64}
root=${ST7_CROSS_BUILD_ROOT:-$src/build-cross}
jobs=$(nproc 2>/dev/null || echo 2)
libs=(libusb-1.0-0-dev libcurl4-openssl-dev libmbedtls-dev libinih-dev)
passed=0
failed=0
results=()
start=$SECONDS

triplet_of() {
	case $1 in
	arm64) echo aarch64-linux-gnu ;;
	armhf) echo arm-linux-gnueabihf ;;
	mipsel) echo mipsel-linux-gnu ;;
	mips64el) echo mips64el-linux-gnuabi64 ;;
	*) return 1 ;;
	esac
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

pass() {
	passed=$((passed + 1))
	results+=("PASS $1")
}

fail() {
	failed=$((failed + 1))
	results+=("FAIL $1")
	echo "cross: FAIL $1" >&2
}

for a in $arches; do
	triplet_of "$a" >/dev/null || {
		echo "cross: unknown architecture $a (arm64 armhf mipsel mips64el)" >&2
		exit 2
	}
done

# --- packages -----------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
apt_updated=false
apt_update() {
	$apt_updated && return 0
	apt_updated=true
	# A mirror may fail one index (e.g. mid-sync): go on with what it has.
	apt-get update -qq || echo "cross: apt-get update reported errors; going on" >&2
}
need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "cross: missing $*; run as root" >&2
		exit 1
	fi
}

apt_start=$SECONDS
foreign=$(dpkg --print-foreign-architectures)
for a in $arches; do
	if ! grep -qx "$a" <<<"$foreign"; then
		need_root "architecture $a"
		echo "cross: dpkg --add-architecture $a"
		dpkg --add-architecture "$a"
		apt_updated=false
	fi
done

missing=()
for p in qemu-user-static cmake pkg-config; do
	installed "$p" || missing+=("$p")
done
for a in $arches; do
	installed "crossbuild-essential-$a" || missing+=("crossbuild-essential-$a")
done
if [ ${#missing[@]} -gt 0 ]; then
	need_root "${missing[*]}"
	echo "cross: installing ${missing[*]}"
	apt_update
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The target's libraries: multiarch (beside the amd64 ones) when apt can, else a sysroot.
declare -A sysroot=()
for a in $arches; do
	missing=()
	for p in "${libs[@]}"; do
		installed "$p:$a" || missing+=("$p:$a")
	done
	[ ${#missing[@]} -eq 0 ] && continue
	if [ -f "$root/sysroot-$a/.complete" ]; then
		sysroot[$a]=$root/sysroot-$a
		continue
	fi
	need_root "${missing[*]}"
	echo "cross: installing ${missing[*]}"
	apt_update
	if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
		continue
	fi
	echo "cross: $a: the -dev packages cannot be installed beside the amd64 ones;" \
		"unpacking them into $root/sysroot-$a" >&2
	dir=$root/sysroot-$a
	rm -rf "$dir" "$root/debs-$a"
	mkdir -p "$dir" "$root/debs-$a"
	mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances \
		libc6-dev:"$a" "${libs[@]/%/:$a}" | grep -E "^[a-z0-9][^ ]*:$a\$" | sort -u)
	(cd "$root/debs-$a" && apt-get download -qq "${closure[@]}")
	for deb in "$root/debs-$a"/*.deb; do
		dpkg-deb -x "$deb" "$dir"
	done
	rm -rf "$root/debs-$a"
	touch "$dir/.complete"
	sysroot[$a]=$dir
done
echo "cross: packages ready in $((SECONDS - apt_start)) s"

# --- builds -------------------------------------------------------------------------
declare -A tc=(
	[arm64]=aarch64-linux-gnu.cmake
	[armhf]=arm-linux-gnueabihf.cmake
	[mipsel]=mipsel-linux-gnu.cmake
	[mips64el]=mips64el-linux-gnuabi64.cmake
)
sizes=()
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for a in $arches; do
	t=$(triplet_of "$a")
	b=$root/$a
	tests=OFF
	if grep -qw "$a" <<<"$test_arches" && [ -z "${sysroot[$a]:-}" ]; then
		tests=ON
	fi
	args=(-DCMAKE_TOOLCHAIN_FILE="$src/packaging/cross/${tc[$a]}" -DCMAKE_BUILD_TYPE=MinSizeRel
		"-DST7DFU_TESTS=$tests")
	[ -n "${sysroot[$a]:-}" ] && args+=(-DCMAKE_SYSROOT="${sysroot[$a]}")
	echo "== $a ($t): MinSizeRel, tests $tests${sysroot[$a]:+, sysroot ${sysroot[$a]}}"
	t0=$SECONDS
	if ! cmake -S "$src" -B "$b" "${args[@]}" >"$tmp/cmake-$a.log" 2>&1; then
		cat "$tmp/cmake-$a.log" >&2
		fail "$a configure"
		continue
	fi
	# The target's mbedTLS, never the build machine's.
	if ! grep -q "^MBEDCRYPTO_LIBRARY:FILEPATH=.*/$t/" "$b/CMakeCache.txt"; then
		grep '^MBEDCRYPTO_LIBRARY' "$b/CMakeCache.txt" >&2
		fail "$a configure (mbedcrypto not the target's)"
		continue
	fi
	if ! cmake --build "$b" -j "$jobs" >"$tmp/build-$a.log" 2>&1; then
		grep -E 'error|warning' "$tmp/build-$a.log" >&2 || tail -40 "$tmp/build-$a.log" >&2
		fail "$a build"
		continue
	fi
	pass "$a build ($((SECONDS - t0)) s)"
	row="$a"
	for exe in st7dfu st7dfu-fetch; do
		cp "$b/$exe" "$tmp/$exe-$a"
		"$t-strip" "$tmp/$exe-$a"
		read -r text data bss _ < <("$t-size" "$tmp/$exe-$a" | tail -1)
		row+=" $(stat -c %s "$tmp/$exe-$a") $text $data $bss"
	done
	sizes+=("$row")
	if [ "$tests" = ON ]; then
		t0=$SECONDS
		if ctest --test-dir "$b" -L unit -j "$jobs" --output-on-failure >"$tmp/ctest-$a.log" 2>&1; then
			pass "$a unit tests under qemu ($(grep -E 'tests passed' "$tmp/ctest-$a.log"), $((SECONDS - t0)) s)"
		else
			cat "$tmp/ctest-$a.log" >&2
			fail "$a unit tests under qemu"
		fi
		sed -n '/did not run/,$p' "$tmp/ctest-$a.log"
	fi
done

# --- report -------------------------------------------------------------------------
echo
echo "Stripped MinSizeRel binaries (bytes; text/data/bss from <triplet>-size):"
printf '| %-8s | %12s | %24s | %12s | %24s |\n' arch st7dfu "text / data / bss" \
	st7dfu-fetch "text / data / bss"
printf '|%s|%s|%s|%s|%s|\n' ---------- -------------- -------------------------- \
	-------------- --------------------------
for row in "${sizes[@]}"; do
	# shellcheck disable=SC2086 # the row's fields, split on purpose
	set -- $row
	printf '| %-8s | %12s | %24s | %12s | %24s |\n' "$1" "$2" "$3 / $4 / $5" "$6" \
		"$7 / $8 / $9"
done
echo
printf '%s\n' "${results[@]}"
echo "cross: $passed passed, $failed failed ($((SECONDS - start)) s)"
[ "$failed" -eq 0 ]
