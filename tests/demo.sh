#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job end to end on built-in defaults, no hardware needed: install, build,
# turn the bundled example firmware (Intel HEX, S-records) into DFU and DfuSe files and
# check and sign them, as a vendor's build host would, and publish the signed image on a
# local HTTPS server (nginx with a generated CA, tests/net); then, as a gateway would,
# fetch it, check its signature against the trusted key and update an emulated ST72F65
# card reader (tests/emu, through real libusb) from 1.02 to 1.03 with a backup, and roll
# it back.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/tests/deps.sh"
st7_install_deps
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$src/build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
st7dfu=$src/build/st7dfu
out=${ST7DFU_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-demo.XXXXXX")}
mkdir -p "$out"
out=$(cd "$out" && pwd)
. "$src/tests/net/nginx-fixture.sh"
trap nginx_fixture_stop EXIT
set -x
"$st7dfu" pack -o "$out/reader-1.02.dfu" --vid 0483 --pid ff03 --bcd 1.02 \
	--profile st72f65 "$src/tests/data/st72f65-app.hex"
"$st7dfu" pack -o "$out/keypad-1.05.dfu" --vid 0483 --pid ff03 --bcd 1.05 \
	--profile st72f63 --stamp-version "$src/tests/data/st72f63-app.s19"
"$st7dfu" pack -o "$out/keypad-1.05-dfuse.dfu" --format dfuse --target-name "ST7 Flash" \
	--vid 0483 --pid df11 --bcd 1.05 --profile st72f63 --stamp-version \
	"$src/tests/data/st72f63-app.s19"
"$st7dfu" pack -o "$out/reader-1.03.dfu" --vid 0483 --pid ff03 --bcd 1.03 \
	--profile st72f65 --stamp-version "$src/tests/data/st72f65-app.hex"
"$st7dfu" info "$out"/*.dfu
"$st7dfu" info --json "$out/keypad-1.05-dfuse.dfu"
# The vendor's signing key stays on the build host; gateways get only the public half.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/vendor.key" 2>/dev/null
mkdir -p -m 755 "$out/keys"
openssl pkey -in "$out/vendor.key" -pubout -out "$out/keys/vendor.pem"
"$st7dfu" sign --key "$out/vendor.key" "$out/reader-1.03.dfu"
"$st7dfu" verify --keys-dir "$out/keys" "$out/reader-1.03.dfu"
# Publish it on a local HTTPS server.
mkdir -p "$out/server"
chmod 755 "$out" # nginx's workers (nobody) read the files served
{ set +x; } 2>/dev/null
nginx_fixture_start "$out/server"
echo "nginx serves $NGINX_DIR/www at $NGINX_URL (CA: $NGINX_CA)"
set -x
install -m 644 "$out/reader-1.03.dfu" "$out/reader-1.03.dfu.sig" "$NGINX_DIR/www/"
url=$NGINX_URL/reader-1.03.dfu
head -c -16 "$out/reader-1.02.dfu" >"$out/reader-flash.bin"
"$src/build/tests/emu/st7dfu-emu" --report "$out/emulator-report.json" \
	--device "kind=st7,profile=st72f65,serial=READER-0001,flash-in=$out/reader-flash.bin" \
	-- "$st7dfu" list \
	--then -- "$st7dfu" upgrade --state-dir "$out/state" --keys-dir "$out/keys" \
	--ca-file "$NGINX_CA" "$url" \
	--then -- "$st7dfu" status \
	--then -- "$st7dfu" rollback --state-dir "$out/state" \
	--then -- "$st7dfu" status
find "$out/state" -type f
# The gateway's next poll finds nothing new: a 304, answered from the verified cache.
"$st7dfu" fetch --state-dir "$out/state" --keys-dir "$out/keys" --ca-file "$NGINX_CA" "$url"
{ set +x; } 2>/dev/null
echo "demo files are in $out (the emulator's report: $out/emulator-report.json)"
