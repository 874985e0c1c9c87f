#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job end to end on built-in defaults, no hardware needed: a fleet rehearsal.
# Install, build; as the vendor's build host, turn the bundled example firmware (Intel
# HEX, S-records) into DFU files, check them, and publish a signed fleet manifest and the
# images on a local HTTPS server (nginx with a generated CA, tests/net), with a report
# receiver beside it. Then, as a gateway with three emulated ST7 peripherals (tests/emu,
# through real libusb): `st7dfu plan` shows what it will do, `st7dfu check` does it
# (update one reader, recover the one waiting in DFU mode, leave the keypad that is up to
# date), journalled and reported. The vendor then publishes a bad release: the gateway
# rolls it back, reports it, and stops trying after max_attempts. A manual
# `st7dfu rollback` ends it.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=deps.sh
. "$src/tests/deps.sh"
st7_install_deps
b=${ST7DFU_BUILD_DIR:-$src/build}
cmake -S "$src" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$b" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
st7dfu=$b/st7dfu
emu=$b/tests/emu/st7dfu-emu
faultsrv=$b/tests/net/st7dfu-faultsrv
out=${ST7DFU_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-demo.XXXXXX")}
mkdir -p "$out"
out=$(cd "$out" && pwd)
chmod 755 "$out" # nginx's workers (nobody) read the files served
# shellcheck source=net/nginx-fixture.sh
. "$src/tests/net/nginx-fixture.sh"
rpid=
stop() {
	[ -n "$rpid" ] && kill "$rpid" 2>/dev/null
	nginx_fixture_stop
}
trap stop EXIT
say() { printf '\n=== %s\n' "$*"; }

say "The vendor's build host: DFU files from the example firmware, checked"
set -x
"$st7dfu" pack -o "$out/reader-1.02.dfu" --vid 0483 --pid ff03 --bcd 1.02 \
	--profile st72f65 --stamp-version "$src/tests/data/st72f65-app.hex"
"$st7dfu" pack -o "$out/reader-1.03.dfu" --vid 0483 --pid ff03 --bcd 1.03 \
	--profile st72f65 --stamp-version "$src/tests/data/st72f65-app.hex"
"$st7dfu" pack -o "$out/reader-1.04.dfu" --vid 0483 --pid ff03 --bcd 1.04 \
	--profile st72f65 --stamp-version "$src/tests/data/st72f65-app.hex"
"$st7dfu" pack -o "$out/keypad-1.05.dfu" --vid 0483 --pid ff04 --bcd 1.05 \
	--profile st72f63 --stamp-version "$src/tests/data/st72f63-app.s19"
"$st7dfu" info "$out/reader-1.03.dfu" "$out/keypad-1.05.dfu"
# The vendor's signing key stays on the build host; gateways get only the public half.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/vendor.key" 2>/dev/null
mkdir -p "$out/keys"
chmod 755 "$out/keys"
openssl pkey -in "$out/vendor.key" -pubout -out "$out/keys/vendor.pem"
{ set +x; } 2>/dev/null

say "Publishing: nginx (TLS, generated CA) serves the manifest and images; a receiver takes reports"
mkdir -p "$out/server" "$out/reports/www"
nginx_fixture_start "$out/server"
www=$NGINX_DIR/www
mkdir -p "$www/images"
chmod 755 "$www/images"
install -m 644 "$out"/reader-1.0[34].dfu "$out/keypad-1.05.dfu" "$www/images/"
"$faultsrv" --root "$out/reports/www" --port-file "$out/reports/port" \
	--tls "$out/server/pki/server.pem" "$out/server/pki/server.key" \
	--post-log "$out/reports/received.jsonl" 2>"$out/reports/log" &
rpid=$!
for _ in $(seq 100); do [ -s "$out/reports/port" ] && break; sleep 0.05; done
echo "manifest at $NGINX_URL/manifest.ini, reports to https://127.0.0.1:$(cat "$out/reports/port")/reports"
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
release() { # NAME MATCH PROFILE VERSION FILE
	printf '\n[release "%s"]\nmatch   = %s\nprofile = %s\nversion = %s\nurl     = images/%s\n' \
		"$1" "$2" "$3" "$4" "$5"
	printf 'sha256  = %s\nsize    = %s\n' "$(sha256sum "$www/images/$5" | cut -d' ' -f1)" \
		"$(stat -c %s "$www/images/$5")"
}
publish() { # SERIAL READER_VERSION: the vendor signs and publishes a manifest
	{
		printf '[manifest]\nserial  = %s\nissued  = %s\nexpires = %s\n' "$1" \
			"$(utc $((now - 60 + $1)))" "$(utc $((now + 30 * 86400)))"
		release "reader-$2" 0483:ff03 st72f65 "0x0${2/./}" "reader-$2.dfu"
		release keypad-1.05 0483:ff04 st72f63 0x0105 keypad-1.05.dfu
	} >"$www/manifest.ini"
	openssl dgst -sha256 -sign "$out/vendor.key" -out "$www/manifest.ini.sig" "$www/manifest.ini"
	chmod 644 "$www/manifest.ini"*
	sed 's/^/    /' "$www/manifest.ini"
}
publish 1 1.03

say "The gateway's policy"
mkdir -p "$out/state"
chmod 700 "$out/state"
echo "gateway-demo-0001" >"$out/machine-id"
cat >"$out/st7dfu.ini" <<INI
[agent]
state_dir      = $out/state
keys_dir       = $out/keys
manifest_url   = $NGINX_URL/manifest.ini
ca_file        = $NGINX_CA
device_id_file = $out/machine-id
report_url     = https://127.0.0.1:$(cat "$out/reports/port")/reports

[update]
max_attempts   = 2
INI
sed 's/^/    /' "$out/st7dfu.ini"
st7=("$st7dfu")
cfg=(-c "$out/st7dfu.ini")
head -c -16 "$out/reader-1.02.dfu" >"$out/R-1.bin"
head -c -16 "$out/keypad-1.05.dfu" >"$out/K-1.bin"
gateway() { # the three peripherals, their flash kept in $out/*.bin between sessions
	printf '%s\n' --report "$out/emulator-report.json"
	printf '%s\n' --device "kind=st7,profile=st72f65,serial=R-1,flash-in=$out/R-1.bin,flash-out=$out/R-1.bin$1"
	printf '%s\n' --device "kind=st7,profile=st72f63,pid=0xff04,serial=K-1,flash-in=$out/K-1.bin,flash-out=$out/K-1.bin"
	if [ -e "$out/R-2.bin" ]; then
		printf '%s\n' --device "kind=st7,profile=st72f65,serial=R-2,flash-in=$out/R-2.bin,flash-out=$out/R-2.bin"
	else # a reader whose last update was cut: no valid application, waiting in DFU mode
		printf '%s\n' --device "kind=st7,profile=st72f65,serial=R-2,mode=dfu,app=invalid,flash-out=$out/R-2.bin"
	fi
}

say "The gateway: plan, then one agent cycle (check), then a second one (a 304: nothing to do)"
mapfile -t G < <(gateway "")
set -x
# shellcheck disable=SC2016 # the scripts are for sh -c: "$0", "$1" and "$?" are theirs
"$emu" "${G[@]}" -- "${st7[@]}" plan "${cfg[@]}" \
	--then -- sh -c '"$0" check -c "$1"; echo "check: exit $?"' "$st7dfu" "$out/st7dfu.ini" \
	--then -- sh -c '"$0" check -c "$1"; echo "check: exit $?"' "$st7dfu" "$out/st7dfu.ini" \
	--then -- "${st7[@]}" status "${cfg[@]}"
{ set +x; } 2>/dev/null
jq -c '.devices[] | {serial, mode, version: (.version // 0 | tostring)}' "$out/emulator-report.json"
echo "reports received (one JSON object per attempt; here a summary of each):"
grep '^{' "$out/reports/received.jsonl" |
	jq -c '{device: .device.serial, release, from_version, to_version, result, error}' | sed 's/^/    /'

say "The vendor publishes reader-1.04, whose application never starts on R-1's hardware revision"
publish 2 1.04
mapfile -t G < <(gateway ",reject-image=1,fault-times=2")
set -x
# shellcheck disable=SC2016 # the scripts are for sh -c: "$0", "$1" and "$?" are theirs
"$emu" "${G[@]}" -- sh -c '"$0" check -c "$1"; echo "check: exit $?"' "$st7dfu" "$out/st7dfu.ini"
{ set +x; } 2>/dev/null
say "The next cycle tries it once more (max_attempts = 2), then the gateway stops trying"
set -x
# shellcheck disable=SC2016 # the scripts are for sh -c: "$0", "$1" and "$?" are theirs
"$emu" "${G[@]}" -- sh -c '"$0" check -c "$1"; echo "check: exit $?"' "$st7dfu" "$out/st7dfu.ini" \
	--then -- sh -c '"$0" check -c "$1"; echo "check: exit $?"' "$st7dfu" "$out/st7dfu.ini" \
	--then -- "${st7[@]}" status "${cfg[@]}"
{ set +x; } 2>/dev/null
echo "reports received (one JSON object per attempt; here a summary of each):"
grep '^{' "$out/reports/received.jsonl" |
	jq -c '{device: .device.serial, release, from_version, to_version, result, error}' | sed 's/^/    /'

say "By hand: st7dfu rollback puts R-1's first firmware (1.02, its first backup) back"
mapfile -t G < <(gateway "")
set -x
"$emu" "${G[@]}" -- "${st7[@]}" rollback "${cfg[@]}" --serial R-1 \
	--to "$out/state/backups/0483-ff03-R-1/0102.dfu" \
	--then -- "${st7[@]}" list
{ set +x; } 2>/dev/null
find "$out/state" -type f | sort
echo "demo files are in $out (the emulator's report: $out/emulator-report.json)"
