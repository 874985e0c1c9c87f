#!/bin/bash
# SPDX-License-Identifier: MIT
# `st7dfu check` end to end: a gateway with four emulated devices of different kinds
# (through real libusb), a signed manifest and its image on the local TLS nginx, reports
# POSTed to the project's fault server. The first check updates the one to update and
# recovers the one waiting in DFU mode, leaves the held one and the up-to-date one; the
# second is a 304 and touches nothing. Then a bad release (the emulator's reject-image
# fault) is rolled back, reported, and not tried past max_attempts, while reports survive
# a server outage in the queue; and a paused, 0% or out-of-window release is not applied.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
: "${ST7DFU_FAULTSRV:?set ST7DFU_FAULTSRV to the st7dfu-faultsrv binary}"
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	echo "SKIPPED LOUDLY: nginx missing: cli.check cannot run" >&2
	fail "nginx missing"
	finish
fi
# shellcheck source=../net/nginx-fixture.sh
. "$TESTS/net/nginx-fixture.sh"
FS_PID=
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap (shellcheck 0.9 misses it when the script ends in exit)
cleanup() {
	[ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null
	nginx_fixture_stop
	if [ -n "${ST7_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
mkdir -p "$T/fs/www" "$T/ng"
nginx_fixture_start "$T/ng" || { fail "nginx fixture did not start"; finish; }
"$ST7DFU_FAULTSRV" --root "$T/fs/www" --port-file "$T/fs/port" --log "$T/fs/log" --state "$T/fs" \
	--tls "$T/ng/pki/server.pem" "$T/ng/pki/server.key" --post-log "$T/posted" \
	2>"$T/fs/stderr" &
FS_PID=$!
for _ in $(seq 100); do [ -s "$T/fs/port" ] && break; sleep 0.05; done
FS=https://127.0.0.1:$(cat "$T/fs/port")
WWW=$NGINX_DIR/www
test_keys
S=$T/state
mkdir -p "$S" && chmod 700 "$S"
echo "gateway-0001" >"$T/machine-id"
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# The images: the reader's 1.03 and 1.04, on the server.
mkdir -p "$WWW/images"
for v in 1.03 1.04; do
	"$ST7DFU" pack -o "$WWW/images/reader-$v.dfu" --vid 0483 --pid ff03 --bcd "$v" \
		--profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null ||
		fail "pack $v"
done
chmod -R a+rX "$WWW"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# manifest SERIAL READER_VERSION [EXTRA]: the signed manifest on the server.
manifest() {
	local serial=$1 v=$2 extra=${3:-}
	local img=$WWW/images/reader-$v.dfu
	cat >"$WWW/manifest.ini" <<INI
[manifest]
serial  = $serial
issued  = $(utc $((now - 3600)))
expires = $(utc $((now + 864000)))

[release "reader-$v"]
match   = 0483:ff03
profile = st72f65
version = 0x0${v/./}
url     = images/reader-$v.dfu
sha256  = $(sha "$img")
size    = $(size "$img")
$extra

[release "pump-3.00"]
match   = 1234:0001
version = 0x0300
url     = images/pump-3.00.dfu
sha256  = $(printf '%064d' 0)
size    = 65536
INI
	openssl dgst -sha256 -sign "$T/test.key" -out "$WWW/manifest.ini.sig" "$WWW/manifest.ini"
	chmod 644 "$WWW/manifest.ini"*
}

# policy REPORT_PATH [EXTRA]
policy() {
	cat >"$T/policy.ini" <<INI
[agent]
state_dir      = $S
keys_dir       = $K
manifest_url   = $NGINX_URL/manifest.ini
ca_file        = $NGINX_CA
device_id_file = $T/machine-id
report_url     = $FS/$1
${2:-}

[update]
max_attempts   = 2

[device "kiosk"]
serial = K-*
hold   = yes

[device "readers"]
match  = 0483:ff03
serial = R-*
INI
}

# A check inside an emulator session: `chk NAME` keeps its JSON, stderr and status.
cat >"$T/chk" <<'SH'
#!/bin/bash
name=$1
shift
"$ST7DFU" check --json -c "$T/policy.ini" "$@" >"$T/$name.json" 2>"$T/$name.err"
echo $? >"$T/$name.rc"
SH
chmod +x "$T/chk"
export ST7DFU T
rc_of() { cat "$T/$1.rc" 2>/dev/null || echo none; }
json() { tail -n 1 "$T/$1.json" 2>/dev/null; }  # after the progress events
# devrep SERIAL FILTER: from the emulator's report
devrep() { jq -r ".devices[] | select(.serial==\"$1\") | $2" "$T/emu.json"; }
posted() { grep -c '^{' "$T/posted"; }
manifest_304s() { grep -c '"GET /manifest.ini HTTP/1.1" 304' "$NGINX_DIR/access.log"; }

EMU=("$ST7DFU_EMU" --timeout 120 --report "$T/emu.json")
GATEWAY=(--device "kind=st7,profile=st72f65,serial=R-1,version=0x0102"
	--device "kind=st7,profile=st72f63,pid=0xff04,serial=K-1,version=0x0200"
	--device "kind=st7,profile=st72f65,mode=dfu,app=invalid,serial=R-2"
	--device "kind=dfu11,vid=0x1234,pid=0x0001,serial=P-1,version=0x0300")

# ---- 1. the gateway: update, recover, held, up to date; then a 304 that does nothing ----
manifest 5 1.03
policy reports
# What killed writers leave (NAME.tmp.XXXXXX) in the agent's directories is removed by the
# first cycle; a file of that shape that is not the agent's stays.
mkdir -p "$S/journal" "$S/reports"
chmod 700 "$S/journal" "$S/reports"
stale=("$S/attempts.ini.tmp.aB3dE5" "$S/agent.status.tmp.Zz9Yy8"
	"$S/manifest-0123456789abcdef.state.tmp.Qq1Ww2" "$S/.probe.tmp.Rr3Tt4"
	"$S/journal/0483-ff03-R-1.rec.tmp.Uu5Ii6" "$S/reports/R0000000000000001.json.tmp.Oo7Pp8")
touch "${stale[@]}" "$S/notes.txt.tmp.Kk1Ll2"
run "${EMU[@]}" "${GATEWAY[@]}" -- "$T/chk" c1 --then -- "$T/chk" c2 \
	--then -- "$ST7DFU" status --json -c "$T/policy.ini"
STATUS=$OUT
for f in "${stale[@]}"; do
	if [ -e "$f" ]; then fail "stale $f not removed"; else ok; fi
done
if [ -e "$S/notes.txt.tmp.Kk1Ll2" ]; then ok; else fail "a file not the agent's removed"; fi
eq "$(rc_of c1)" 0 "first check: updated (exit 0); stderr: $(cat "$T/c1.err")"
jqeq "$(json c1)" '[.results[] | select(.attempted) | "\(.serial) \(.outcome)"] | sort | join(",")' \
	"R-1 done,R-2 done" "R-1 updated and R-2 recovered"
jqeq "$(json c1)" '.plan.devices[] | select(.serial=="K-1") | .reason' held "K-1 held"
jqeq "$(json c1)" '.plan.devices[] | select(.serial=="P-1") | .reason' up-to-date "P-1 up to date"
jqeq "$(json c1)" '.summary.reports_sent' 2 "two reports sent"
eq "$(devrep R-1 '"\(.mode) \(.version)"')" "runtime 259" "R-1 runs 1.03 (0x0103 = 259)"
eq "$(devrep R-2 '"\(.mode) \(.version)"')" "runtime 259" "R-2 recovered to 1.03"
eq "$(devrep K-1 '"\(.version) \(.requests.DNLOAD)"')" "512 0" "K-1 untouched"
eq "$(devrep P-1 '.requests.DNLOAD')" 0 "P-1 untouched"
eq "$(rc_of c2)" 5 "second check: nothing to do (exit 5)"
jqeq "$(json c2)" '.plan.manifest.not_modified' true "second check: manifest 304"
jqeq "$(json c2)" '.results | length' 0 "second check touches nothing"
eq "$(manifest_304s)" 1 "nginx answered the manifest with one 304"
eq "$(grep -c 'GET /manifest.ini.sig ' "$NGINX_DIR/access.log")" 1 \
	"an unchanged manifest's signature is not asked for again: one request per poll"
# The journal: one settled record per updated device, shown by status.
jqeq "$STATUS" '[.devices[] | "\(.serial) \(.phase) \(.unfinished)"] | sort | join(",")' \
	"R-1 done false,R-2 done false" "status: the journal's last outcomes"
jqeq "$STATUS" '.queue_records' 0 "status: the queue is empty"
jqeq "$STATUS" '.agent.mode' check "status: the last cycle was a check"
# The reports, as the server got them.
eq "$(posted)" 2 "two reports posted"
jqeq "$(head -1 "$T/posted")" '.gateway' gateway-0001 "report: gateway id"
jqeq "$(grep '"R-1"' "$T/posted")" \
	'"\(.result) \(.release) \(.from_version) \(.to_version) \(.manifest_serial)"' \
	"done reader-1.03 0x0102 0x0103 5" "report: R-1's attempt"
jqeq "$(grep '"R-2"' "$T/posted")" '"\(.result) \(.from_version)"' "done null" \
	"report: R-2 had no version (DFU mode)"

# ---- 1b. a device-side rollback: R-1 runs 1.02 again by itself, the journal says done ----
run "${EMU[@]}" --device kind=st7,profile=st72f65,serial=R-1,version=0x0102 -- "$T/chk" r2
eq "$(rc_of r2)" 0 "device-side rollback: reported, then updated again (exit 0)"
jqeq "$(grep '^{' "$T/posted" | grep '"device-rolled-back"')" \
	'"\(.device.serial) \(.device_rollback) \(.release) \(.to_version)"' "R-1 true reader-1.03 0x0103" \
	"the device-side rollback was reported"
has "$(grep -A3 '"R-1"' "$S/attempts.ini" | grep -A2 'reader-1.03')" "failures = 1" \
	"a device-side rollback counts as a failure of the release"
eq "$(devrep R-1 '.version')" 259 "R-1 updated again"
# A person's rollback is not the device's own: the record is marked superseded.
run "${EMU[@]}" --device kind=st7,profile=st72f65,serial=R-1,version=0x0103 \
	-- "$ST7DFU" rollback -c "$T/policy.ini" --serial R-1 --to "$(ls "$S"/backups/0483-ff03-R-1/0102.dfu)" \
	--then -- "$T/chk" r3
jqeq "$(json r3)" '.summary.rolled_back' 0 "after a manual rollback: no device-side rollback reported"
eq "$(grep -c '"device-rolled-back"' "$T/posted")" 1 "still one device-side rollback report"
BASE=$(posted)

# ---- 2. a bad release: rolled back, reported (through an outage), tried max_attempts times ----
manifest 6 1.04
policy reports-down
# The application never starts: both manifestations of the update (st7dfu downloads once
# more when a device comes back as a loader) are rejected; the restore is not.
BAD=(--device "kind=st7,profile=st72f65,serial=R-1,version=0x0103,reject-image=1,fault-times=2")
run "${EMU[@]}" "${BAD[@]}" -- "$T/chk" b1 --then -- "$ST7DFU" status --json -c "$T/policy.ini"
eq "$(rc_of b1)" 8 "bad release: rolled back (exit 8); stderr: $(cat "$T/b1.err")"
jqeq "$(json b1)" '.results[0].outcome' rolled-back "outcome rolled-back"
eq "$(devrep R-1 '"\(.mode) \(.version)"')" "runtime 259" "R-1 back on 1.03"
jqeq "$OUT" '.queue_records' 1 "the report waits in the queue during the outage"
jqeq "$OUT" '.devices[] | select(.serial=="R-1") | "\(.phase) \(.release)"' \
	"rolled-back reader-1.04" "journal: rolled back"
eq "$(posted)" "$BASE" "nothing posted during the outage"
has "$(cat "$S/attempts.ini")" "failures = 1" "one failure counted"
policy reports
run "${EMU[@]}" "${BAD[@]}" -- "$T/chk" b2
eq "$(rc_of b2)" 8 "second try rolled back too"
eq "$(posted)" $((BASE + 2)) "the queued report and the new one posted after the outage"
jqeq "$(grep '^{' "$T/posted" | tail -2 | head -1)" '"\(.result) \(.release)"' "rolled-back reader-1.04" \
	"the queued report arrived first"
has "$(cat "$S/attempts.ini")" "failures = 2" "two failures counted"
run "${EMU[@]}" "${BAD[@]}" -- "$T/chk" b3
eq "$(rc_of b3)" 5 "max_attempts reached: nothing to do (exit 5)"
jqeq "$(json b3)" '.plan.devices[0] | "\(.reason) \(.failures)"' "failed-max 2" "failed-max"
eq "$(devrep R-1 '.requests.DNLOAD')" 0 "not flashed a third time"

# ---- 3. the manifest's levers: paused, 0%, outside the window ----
ONE=(--device "kind=st7,profile=st72f65,serial=R-5,version=0x0103")
manifest 7 1.04 "paused = yes"
run "${EMU[@]}" "${ONE[@]}" -- "$T/chk" p1
eq "$(rc_of p1)" 5 "paused: nothing done"
jqeq "$(json p1)" '.plan.devices[0].reason' paused "paused"
eq "$(devrep R-5 '.requests.DNLOAD')" 0 "paused: not flashed"
manifest 8 1.04 "rollout = 0"
run "${EMU[@]}" "${ONE[@]}" -- "$T/chk" p2
eq "$(rc_of p2)" 5 "rollout 0%: nothing done"
jqeq "$(json p2)" '.plan.devices[0].reason' not-in-cohort "rollout 0%"
eq "$(devrep R-5 '.requests.DNLOAD')" 0 "rollout 0%: not flashed"
manifest 9 1.04
w0=$(date -u -d "@$((now + 7200))" +%H:%M)
w1=$(date -u -d "@$((now + 10800))" +%H:%M)
policy reports "window = $w0-$w1
timezone = UTC0"
run "${EMU[@]}" "${ONE[@]}" -- "$T/chk" p3
eq "$(rc_of p3)" 5 "outside the window: nothing flashed"
jqeq "$(json p3)" '.plan.devices[0].reason' outside-window "outside the window"
jqeq "$(json p3)" '.results[0].prefetched' true "the image was fetched ahead of the window"
eq "$(devrep R-5 '.requests.DNLOAD')" 0 "outside the window: not flashed"
# The window opens (here: the policy says always): the prefetched image is flashed
# without fetching it again.
policy reports
gets_before=$(grep -c 'GET /images/reader-1.04.dfu' "$NGINX_DIR/access.log")
run "${EMU[@]}" "${ONE[@]}" -- "$T/chk" p4
eq "$(rc_of p4)" 0 "window open: updated"
eq "$(devrep R-5 '.version')" 260 "R-5 runs 1.04"
eq "$(grep -c 'GET /images/reader-1.04.dfu' "$NGINX_DIR/access.log")" "$gets_before" \
	"the prefetched image was not fetched again"

# ---- 4. --dry-run changes nothing; a refused manifest is exit 15 ----
manifest 10 1.04
run "${EMU[@]}" --device kind=st7,profile=st72f65,serial=R-6,version=0x0103 -- "$T/chk" d1 --dry-run
eq "$(rc_of d1)" 5 "dry run: exit 5"
jqeq "$(json d1)" '.plan.devices[0].action' update "dry run: would update"
eq "$(devrep R-6 '.requests.DNLOAD')" 0 "dry run: not flashed"
manifest 3 1.04
run "${EMU[@]}" --device kind=st7,profile=st72f65,serial=R-6,version=0x0103 -- "$T/chk" r1
eq "$(rc_of r1)" 15 "an older manifest serial is refused (exit 15)"
eq "$(devrep R-6 '.requests.DNLOAD')" 0 "refused manifest: not flashed"

# ---- 5. the device loses power mid-download and comes back: the cycle still ends defined ----
manifest 11 1.04
run "${EMU[@]}" --device kind=st7,profile=st72f65,serial=R-8,version=0x0103,unplug-block=60,replug-ms=300 \
	-- "$T/chk" u1 --then -- "$ST7DFU" status --json -c "$T/policy.ini"
case "$(rc_of u1)" in 0 | 8) ok ;; *) fail "unplug mid-download: exit $(rc_of u1); $(tail -3 "$T/u1.err")" ;; esac
eq "$(devrep R-8 '"\(.mode) \(.app_valid)"')" "runtime true" "unplugged mid-download: back in runtime mode"
case "$(devrep R-8 '.version')" in 259 | 260) ok ;; *) fail "R-8 runs a third version" ;; esac
jqeq "$OUT" '[.devices[] | select(.serial=="R-8") | .unfinished] | .[0]' false "R-8's record is settled"
eq "$(devrep R-8 '.faults_fired')" 1 "the power loss happened"

finish
