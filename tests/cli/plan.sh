#!/bin/bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# `st7dfu plan` end to end: a signed manifest, the policy, and four emulated devices of
# different kinds (through real libusb): one to update, one held by policy, one waiting
# in DFU mode with no valid application (to recover) and one up to date. Then the
# manifest's own levers (paused, rollout 0%, not yet, windows) and the refusals (replay,
# expiry, untrusted signature, two releases for one device), each checked in --json.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
EMU=("$ST7DFU_EMU" --timeout 60)
test_keys
S=$T/state
mkdir -p "$S" && chmod 700 "$S"
echo "gateway-0001" >"$T/machine-id"
Z=$(printf '%064d' 0)
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# manifest SERIAL [EXPIRES_OFFSET] [READER_EXTRA]: write and sign $T/manifest.ini.
manifest() {
	local serial=$1 exp=${2:-864000} extra=${3:-}
	cat >"$T/manifest.ini" <<INI
[manifest]
serial  = $serial
issued  = $(utc $((now - 3600)))
expires = $(utc $((now + exp)))

[release "reader-1.03"]
match   = 0483:ff03
profile = st72f65
version = 0x0103
from    = 0x0100-0x0102
url     = images/reader-1.03.dfu
sha256  = $Z
size    = 28688
$extra

[release "kiosk-2.01"]
match   = 0483:ff04
version = 0x0201
url     = https://cdn.example.com/kiosk-2.01.dfu
sha256  = $Z
size    = 4096

[release "pump-3.00"]
match   = 1234:0001
version = 0x0300
url     = pump-3.00.dfu
sha256  = $Z
size    = 65536
INI
	openssl dgst -sha256 -sign "$T/test.key" -out "$T/manifest.ini.sig" "$T/manifest.ini"
}

cat >"$T/policy.ini" <<INI
[agent]
state_dir      = $S
keys_dir       = $K
manifest_url   = $T/manifest.ini
device_id_file = $T/machine-id

[device "kiosk"]
serial = K-*
hold   = yes

[device "readers"]
match  = 0483:ff03
serial = R-*
INI

DEVICES=(--device "kind=st7,profile=st72f65,serial=R-1,version=0x0102"
	--device "kind=st7,profile=st72f63,pid=0xff04,serial=K-1,version=0x0200"
	--device "kind=st7,profile=st72f65,mode=dfu,serial=R-2"
	--device "kind=dfu11,vid=0x1234,pid=0x0001,serial=P-1,version=0x0300")
plan() { run "${EMU[@]}" "${DEVICES[@]}" -- "$ST7DFU" plan --json -c "$T/policy.ini" "$@"; }
# dev SERIAL FILTER EXPECTED WHAT
dev() { jqeq "$OUT" ".devices[] | select(.serial==\"$1\") | $2" "$3" "$4 ($1)"; }

manifest 5
plan
expect_rc 0 "plan"
jqeq "$OUT" '.devices | length' 4 "four devices"
jqeq "$OUT" '.manifest.serial' 5 "manifest serial"
jqeq "$OUT" '.manifest.signer | startswith("test.pem")' true "signer named"
jqeq "$OUT" '.gateway.id' gateway-0001 "gateway id from device_id_file"
dev R-1 '"\(.action) \(.reason) \(.release) \(.release_version) \(.version) \(.mode)"' \
	"update update reader-1.03 0x0103 0x0102 runtime" "to update"
dev R-1 '.url' "$T/images/reader-1.03.dfu" "image URL relative to the manifest"
dev R-1 '.profiles | join(",")' st72f65 "profile from descriptors"
dev K-1 '"\(.action) \(.reason) \(.rule)"' "none held kiosk" "held by policy"
dev R-2 '"\(.action) \(.reason) \(.release) \(.mode) \(.rule)"' \
	"recover recover reader-1.03 dfu readers" "DFU mode: recover"
dev P-1 '"\(.action) \(.reason) \(.release)"' "none up-to-date pump-3.00" "up to date"
# Text form, one line per device.
run "${EMU[@]}" "${DEVICES[@]}" -- "$ST7DFU" plan -c "$T/policy.ini"
expect_rc 0 "plan text"
has "$OUT" "R-1" "text lists R-1"
has "$OUT" "recover" "text says recover"
# plan changes no device: the emulator's devices are still where they were.
plan
dev R-1 '.version' 0x0102 "still 1.02 after two plans"
dev R-2 '.mode' dfu "still in DFU mode"

# The manifest's levers, each on the reader release.
manifest 6 864000 "paused = yes"
plan
dev R-1 '.reason' paused "paused"
dev R-2 '.reason' paused "paused also stops a recovery"
manifest 7 864000 "rollout = 0"
plan
dev R-1 '"\(.reason) \(.rollout)"' "not-in-cohort 0" "rollout 0%"
dev R-2 '.reason' recover "a recovery ignores the rollout"
manifest 8 864000 "not_before = $(utc $((now + 86400)))"
plan
dev R-1 '"\(.reason) \(.until)"' "not-yet $(utc $((now + 86400)))" "not before"
# A window that is closed now (from 2 h to 3 h ahead, UTC).
manifest 9
w0=$(date -u -d "@$((now + 7200))" +%H:%M)
w1=$(date -u -d "@$((now + 10800))" +%H:%M)
plan --window "$w0-$w1" --timezone UTC0
dev R-1 '.reason' outside-window "outside the window"
jqeq "$OUT" '.gateway.window.open' false "window closed"
jqeq "$OUT" '.gateway.window.next_open | . != null' true "next opening shown"
dev R-2 '.reason' recover "a recovery does not wait for the window"
# Failed max_attempts times already.
printf '[attempt "1"]\nserial = R-1\nrelease = reader-1.03\nsha256 = %s\nfailures = 3\n' "$Z" >"$S/attempts.ini"
plan
dev R-1 '"\(.reason) \(.failures)"' "failed-max 3" "failed too often"
rm "$S/attempts.ini"
# Two releases for one device: refused for that device, never a guess.
manifest 10 864000 "
[release \"reader-1.03b\"]
match   = 0483:ff03
version = 0x0103
url     = b.dfu
sha256  = $Z
size    = 1"
plan
dev R-1 '"\(.action) \(.reason)"' "none ambiguous" "two releases match"
dev P-1 '.reason' up-to-date "other devices unaffected"

# Refusals: nothing is decided, with the exit code that says why.
manifest 9
plan
expect_rc 15 "replayed lower serial"
has "$ERR" "rollback" "replay named"
manifest 11 -60
plan
expect_rc 15 "expired"
has "$ERR" "expired" "expiry named"
manifest 12
echo "; tampered" >>"$T/manifest.ini"
plan
expect_rc 12 "tampered manifest"
manifest 12
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.key" 2>/dev/null
openssl dgst -sha256 -sign "$T/other.key" -out "$T/manifest.ini.sig" "$T/manifest.ini"
plan
expect_rc 12 "untrusted key"
manifest 12 864000 "bogus_key = 1"
plan
expect_rc 3 "malformed manifest"
has "$ERR" "bogus_key" "bad key named"
head -c 70000 /dev/zero | tr '\0' ';' >>"$T/manifest.ini"
openssl dgst -sha256 -sign "$T/test.key" -out "$T/manifest.ini.sig" "$T/manifest.ini"
plan
expect_rc 3 "oversized manifest"
# file:// works like a path.
manifest 13
sed -i "s|^manifest_url .*|manifest_url = file://$T/manifest.ini|" "$T/policy.ini"
plan
expect_rc 0 "file:// manifest"
jqeq "$OUT" '.manifest.serial' 13 "file:// serial"
# An image URL that cannot be resolved ('..') is refused for that device, never planned
# without a URL.
manifest 14
sed -i 's|^url     = images/reader-1.03.dfu|url     = ../reader.dfu|' "$T/manifest.ini"
openssl dgst -sha256 -sign "$T/test.key" -out "$T/manifest.ini.sig" "$T/manifest.ini"
plan
expect_rc 0 "bad image URL"
dev R-1 '"\(.action) \(.reason) \(.url)"' "none bad-url null" "'..' refused"
# The gateway's id is the whole first line of device_id_file.
printf 'site A  \nsecond line\n' >"$T/machine-id"
plan
jqeq "$OUT" '.gateway.id' "site A" "gateway id: the whole first line"

# Over https from the local nginx (the TLS fixture), through the fetch worker and the
# verified cache: the first plan fetches, the second is a 304 for the manifest.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	echo "SKIPPED LOUDLY: nginx missing, the https half of cli.plan did not run" >&2
	fail "nginx missing"
	finish
fi
# shellcheck source=../net/nginx-fixture.sh
. "$TESTS/net/nginx-fixture.sh"
trap 'nginx_fixture_stop; rm -rf "$T"' EXIT
mkdir "$T/ng"
nginx_fixture_start "$T/ng" || { fail "nginx fixture did not start"; finish; }
manifest 20
cp "$T/manifest.ini" "$T/manifest.ini.sig" "$NGINX_DIR/www/" && chmod 644 "$NGINX_DIR/www/manifest.ini"*
sed -i "s|^manifest_url .*|manifest_url = $NGINX_URL/manifest.ini\nca_file = $NGINX_CA|" "$T/policy.ini"
plan
expect_rc 0 "https manifest"
jqeq "$OUT" '"\(.manifest.serial) \(.manifest.not_modified)"' "20 false" "fetched over https"
dev R-1 '.url' "$NGINX_URL/images/reader-1.03.dfu" "image URL relative to the https manifest"
plan
expect_rc 0 "https manifest again"
jqeq "$OUT" '"\(.manifest.serial) \(.manifest.not_modified) \(.manifest.unchanged)"' \
	"20 true true" "second plan: a 304, unchanged"
grep -c 'GET /manifest.ini HTTP' "$NGINX_DIR/access.log" | grep -qx 2 && ok ||
	fail "two GETs of the manifest: $(grep 'GET /manifest.ini' "$NGINX_DIR/access.log")"
grep 'GET /manifest.ini HTTP' "$NGINX_DIR/access.log" | tail -1 | grep -q '" 304 ' && ok ||
	fail "the second GET is a 304"
# An old manifest replayed by the server (or by someone in between): refused.
# (nginx's ETag is mtime-seconds and size: a file replaced within the same second by one
# of the same size would pass for unchanged, so the replay gets its own mtime.)
manifest 19
cp "$T/manifest.ini" "$T/manifest.ini.sig" "$NGINX_DIR/www/"
touch -d @$((now - 100)) "$NGINX_DIR/www/manifest.ini" "$NGINX_DIR/www/manifest.ini.sig"
plan
expect_rc 15 "replayed over https"
# An endless manifest is cut at manifest_max_size.
head -c 200000 /dev/zero | tr '\0' ';' >"$NGINX_DIR/www/manifest.ini"
plan --manifest-max-size 64K
expect_rc 11 "oversized over https: a failed download"
# A manifest from the network never names a file on the gateway.
manifest 21
sed -i 's|^url     = images/reader-1.03.dfu|url     = file:///etc/passwd|' "$T/manifest.ini"
openssl dgst -sha256 -sign "$T/test.key" -out "$T/manifest.ini.sig" "$T/manifest.ini"
cp "$T/manifest.ini" "$T/manifest.ini.sig" "$NGINX_DIR/www/"
touch -d @$((now - 50)) "$NGINX_DIR/www/manifest.ini" "$NGINX_DIR/www/manifest.ini.sig"
plan
expect_rc 0 "https manifest naming a local file"
dev R-1 '"\(.action) \(.reason)"' "none bad-url" "file:// image from a remote manifest refused"
finish
