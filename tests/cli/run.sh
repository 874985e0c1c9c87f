#!/bin/bash
# SPDX-License-Identifier: MIT
# `st7dfu run`, the daemon, under the emulator (real libusb), its manifest on the local
# TLS nginx: its first cycle updates the attached reader; a reader plugged in later is
# updated within a second, without the network (the image from the verified cache);
# SIGHUP with a broken policy keeps the old one, with a good one reloads (and the next
# cycle still reaches the server); SIGUSR1 runs a cycle; SIGTERM during a download stops
# after that device's update, never between its erase and a complete image; a test notify
# socket receives READY, WATCHDOG, STATUS and STOPPING.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
command -v python3 >/dev/null || { fail "python3 missing (the notify socket's receiver)"; finish; }
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
	echo "SKIPPED LOUDLY: nginx missing: cli.run cannot run" >&2
	fail "nginx missing"
	finish
fi
# shellcheck source=../net/nginx-fixture.sh
. "$TESTS/net/nginx-fixture.sh"
HOLD='' DPID=''
trap 'kill $HOLD $DPID 2>/dev/null; nginx_fixture_stop; if [ -n "${ST7_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi' EXIT
mkdir -p "$T/ng"
chmod 755 "$T"
nginx_fixture_start "$T/ng" || { fail "nginx fixture did not start"; finish; }
test_keys
S=$T/state
mkdir -p "$S" && chmod 700 "$S"
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
WWW=$NGINX_DIR/www
mkdir -p "$WWW/images"
"$ST7DFU" pack -o "$WWW/images/reader-1.03.dfu" --vid 0483 --pid ff03 --bcd 1.03 \
	--profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null || fail "pack"
IMG=$WWW/images/reader-1.03.dfu
cat >"$WWW/manifest.ini" <<INI
[manifest]
serial  = 1
issued  = $(utc $((now - 3600)))
expires = $(utc $((now + 864000)))

[release "reader-1.03"]
match   = 0483:ff03
profile = st72f65
version = 0x0103
url     = images/reader-1.03.dfu
sha256  = $(sha256sum "$IMG" | cut -d' ' -f1)
size    = $(stat -c %s "$IMG")
INI
openssl dgst -sha256 -sign "$T/test.key" -out "$WWW/manifest.ini.sig" "$WWW/manifest.ini"
chmod -R a+rX "$WWW"
cat >"$T/policy.ini" <<INI
[agent]
state_dir      = $S
keys_dir       = $K
manifest_url   = $NGINX_URL/manifest.ini
ca_file        = $NGINX_CA
device_id      = gateway-run
poll_interval  = 1h
INI
cp "$T/policy.ini" "$T/policy.good"

cp "$TESTS/cli/notify_receiver.py" "$T/notify.py" # the notify socket (its header says how)

# The session, inside the emulator: it logs what it saw to files checked below.
cat >"$T/session.sh" <<'SH'
#!/bin/bash
python3 "$T/notify.py" "$T/notify" "$T/notify.log" & NPID=$!
for _ in $(seq 100); do [ -e "$T/notify.ready" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=1000000 "$ST7DFU" run -c "$T/policy.ini" 2>"$T/run.log" &
PID=$!
# wait_log TEXT SECONDS: until the daemon's log has TEXT; prints the time it was seen.
wait_log() {
	local end=$(( $(date +%s) + $2 ))
	while [ "$(date +%s)" -le "$end" ]; do
		if grep -qF -- "$1" "$T/run.log"; then date +%s.%N; return 0; fi
		sleep 0.02
	done
	echo "timeout"
	return 1
}
wait_log "R-1: release 'reader-1.03' (0x0103) done" 30 >"$T/first.t"
# R-9 is plugged in now, while the daemon sleeps (each SIGUSR1 to the emulator plugs in
# the next plug-ms=signal device: the test, not the machine's speed, sets the order).
wait_log "manifest 1" 30 >/dev/null # the first cycle's outcome: then it sleeps
date +%s.%N >"$T/t0"
kill -USR1 "$ST7DFU_EMU_PID"
wait_log "R-9: updating to release" 30 >"$T/hotplug.t"
wait_log "R-9: release 'reader-1.03' (0x0103) done" 30 >/dev/null
# SIGHUP with a broken policy: refused, the old one stays.
printf '[agent]\nmanifest_urll = x\n' >"$T/policy.ini"
kill -HUP "$PID"
wait_log "the policy was not reloaded" 30 >"$T/hup-bad.t"
cp "$T/policy.good" "$T/policy.ini"
# SIGUSR1: a cycle now.
kill -USR1 "$PID"
wait_log "cycle (SIGUSR1)" 30 >"$T/usr1.t"
# SIGHUP with a good policy.
sed -i 's/^poll_interval .*/poll_interval  = 2h/' "$T/policy.ini"
kill -HUP "$PID"
wait_log "policy $T/policy.ini reloaded" 30 >"$T/hup-good.t"
# ... and the next cycle still reaches the server through a new fetch worker.
n=$(grep -c "manifest 1" "$T/run.log")
kill -USR1 "$PID"
end=$(( $(date +%s) + 30 ))
while [ "$(grep -c "manifest 1" "$T/run.log")" -le "$n" ] && [ "$(date +%s)" -le "$end" ]; do sleep 0.05; done
grep -c "manifest 1" "$T/run.log" >"$T/after-reload.n"
echo "$n" >"$T/before-reload.n"
# SIGTERM while R-7 (plugged in now, on a slow low-speed bus) downloads.
kill -USR1 "$ST7DFU_EMU_PID"
wait_log "R-7: updating to release" 30 >/dev/null
sleep 0.3
kill -TERM "$PID"
echo "$(date +%s.%N)" >"$T/term.t"
wait "$PID"
echo $? >"$T/run.rc"
for _ in $(seq 200); do grep -q '^STOPPING=1' "$T/notify.log" && break; sleep 0.05; done
kill "$NPID" 2>/dev/null
"$ST7DFU" status --json -c "$T/policy.ini" >"$T/status.json" 2>/dev/null
SH
chmod +x "$T/session.sh"
export ST7DFU T

"$ST7DFU_EMU" --timeout 120 --report "$T/emu.json" \
	--device kind=st7,profile=st72f65,serial=R-1,version=0x0102 \
	--device kind=st7,profile=st72f65,serial=R-9,version=0x0102,plug-ms=signal \
	--device kind=st7,profile=st72f65,serial=R-7,version=0x0102,plug-ms=signal,bus=low \
	-- "$T/session.sh"
RC=$?
eq "$RC" 0 "the session ran"
devrep() { jq -r ".devices[] | select(.serial==\"$1\") | $2" "$T/emu.json"; }

# The first cycle, and hotplug.
hasnt "$(cat "$T/first.t")" timeout "the first cycle updated R-1"
eq "$(devrep R-1 '"\(.mode) \(.version)"')" "runtime 259" "R-1 runs 1.03"
hot=$(cat "$T/hotplug.t")
if [ "$hot" = timeout ]; then
	fail "R-9's hotplug update never started"
else
	# At once, not at the next poll (1 h): the bound is loose for loaded sanitizer runs.
	delay=$(awk -v a="$hot" -v b="$(cat "$T/t0")" 'BEGIN { printf "%.3f", a - b }')
	if awk -v d="$delay" 'BEGIN { exit !(d < 5.0) }'; then ok; else
		fail "R-9's update began ${delay}s after it was plugged in (more than 5 s)"; fi
fi
has "$(cat "$T/run.log")" "cycle (hotplug)" "a hotplug cycle"
eq "$(devrep R-9 '"\(.mode) \(.version)"')" "runtime 259" "R-9 updated after hotplug"
eq "$(grep -c 'GET /images/reader-1.03.dfu ' "$NGINX_DIR/access.log")" 1 \
	"the image was fetched once: the hotplug updates took it from the verified cache"
# Signals.
hasnt "$(cat "$T/hup-bad.t")" timeout "SIGHUP with a broken policy: refused"
has "$(cat "$T/run.log")" "manifest_urll" "the refusal names the bad key"
hasnt "$(cat "$T/usr1.t")" timeout "SIGUSR1 ran a cycle, so the daemon lived on with the old policy"
hasnt "$(cat "$T/hup-good.t")" timeout "SIGHUP with a good policy: reloaded"
if [ "$(cat "$T/after-reload.n")" -gt "$(cat "$T/before-reload.n")" ]; then ok; else
	fail "after the reload, a cycle did not reach the manifest: $(grep 'no manifest' "$T/run.log" | tail -1)"; fi
hasnt "$(cat "$T/run.log")" "no fetcher" "the fetch worker came back after the reload"
# SIGTERM mid-download: R-7's update was finished first, then the daemon stopped.
eq "$(cat "$T/run.rc")" 0 "SIGTERM: exit 0"
eq "$(devrep R-7 '"\(.mode) \(.version)"')" "runtime 259" \
	"R-7 was not left between its erase and a complete image"
has "$(cat "$T/run.log")" "agent stopped" "the daemon said it stopped"
jqeq "$(cat "$T/status.json")" '[.devices[] | select(.unfinished)] | length' 0 \
	"no unfinished journal record"
jqeq "$(cat "$T/status.json")" '.agent.mode' stopped "status: stopped"
# The notify socket.
N=$(cat "$T/notify.log")
eq "$(head -1 "$T/notify.log" | cut -d'|' -f1)" "READY=1" "READY first"
eq "$(tail -1 "$T/notify.log" | cut -d'|' -f1)" "STOPPING=1" "STOPPING last"
has "$N" "STATUS=manifest 1" "STATUS with the last outcome"
w=$(grep -c '^WATCHDOG=1' "$T/notify.log")
# Every 0.5 s from READY to STOPPING, through two full updates and the signals: at least 5.
if [ "$w" -ge 5 ]; then ok; else fail "only $w WATCHDOG=1 in the session (one every 0.5 s expected)"; fi

# A manual command holding the lock when a poll is due: the daemon puts its cycle off
# (30 s) and sleeps; it never spins on the lock.
cat >"$T/hold.py" <<'PY'
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[1] + ".held", "w").close()
time.sleep(float(sys.argv[2]))
PY
python3 "$T/hold.py" "$S/st7dfu.lock" 120 & HOLD=$!
for _ in $(seq 100); do [ -e "$S/st7dfu.lock.held" ] && break; sleep 0.05; done
"$ST7DFU" run -c "$T/policy.ini" 2>"$T/held.log" &
DPID=$!
for _ in $(seq 600); do grep -q "cycle put off" "$T/held.log" && break; sleep 0.05; done
sleep 2 # a daemon that spun on the lock would put it off again and again meanwhile
n=$(grep -c "cycle put off" "$T/held.log")
kill -TERM "$DPID"
for _ in $(seq 300); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
kill -9 "$DPID" 2>/dev/null
wait "$DPID"
DPID=
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
HOLD=
case $n in
1) ok ;;
0) fail "with the lock held the daemon never said it put its cycle off: $(cat "$T/held.log")" ;;
*) fail "with the lock held the daemon put its cycle off $n times in 2 s (expected 1: 30 s later)" ;;
esac
has "$(cat "$T/held.log")" "agent stopped" "and it still stopped on SIGTERM"

# A manifest held past its expiry is not used for hotplug: the network down (or refused)
# cannot freeze a gateway on an old belief. Serial 2 is signed to expire 15 s after the
# daemon starts; the daemon takes it in its first cycle, and R-E is plugged in once it
# has expired.
export WWW
cat >"$T/expiry.sh" <<'SH'
#!/bin/bash
EXPIRES=$(( $(date -u +%s) + 15 ))
sed -i -e 's/^serial  = 1/serial  = 2/' \
	-e "s/^expires = .*/expires = $(date -u -d "@$EXPIRES" +%Y-%m-%dT%H:%M:%SZ)/" "$WWW/manifest.ini"
openssl dgst -sha256 -sign "$T/test.key" -out "$WWW/manifest.ini.sig" "$WWW/manifest.ini"
"$ST7DFU" run -c "$T/policy.ini" 2>"$T/expiry.log" &
PID=$!
for _ in $(seq 600); do grep -q "manifest 2" "$T/expiry.log" && break; sleep 0.05; done
[ "$(date -u +%s)" -lt "$EXPIRES" ] && grep -q "manifest 2" "$T/expiry.log" && echo taken >"$T/expiry.taken"
while [ "$(date -u +%s)" -le "$EXPIRES" ]; do sleep 0.2; done
kill -USR1 "$ST7DFU_EMU_PID"
for _ in $(seq 600); do grep -q "expired" "$T/expiry.log" && break; sleep 0.05; done
kill -TERM "$PID"
wait "$PID"
SH
chmod +x "$T/expiry.sh"
"$ST7DFU_EMU" --timeout 60 --report "$T/emu2.json" \
	--device kind=st7,profile=st72f65,serial=R-E,version=0x0102,plug-ms=signal -- "$T/expiry.sh"
if [ -e "$T/expiry.taken" ]; then ok; else
	fail "the daemon's first cycle did not take manifest 2 before it expired: $(cat "$T/expiry.log")"; fi
has "$(cat "$T/expiry.log")" "cycle (hotplug)" "the plug-in was seen"
has "$(cat "$T/expiry.log")" "the manifest held expired" "the expired manifest was refused"
eq "$(jq -r '.devices[0].requests.DNLOAD' "$T/emu2.json")" 0 "not flashed from an expired manifest"

# A slow server is no hang: while the manifest's server keeps its headers for 9 s, every
# sign of life of the fetch worker feeds the watchdog (WATCHDOG_USEC 4 s: systemd would
# kill a daemon silent for 4 s). The notify receiver stamps each datagram.
if [ -n "${ST7DFU_FAULTSRV:-}" ]; then
	mkdir -p "$T/fs"
	"$ST7DFU_FAULTSRV" --root "$T/fs" --port-file "$T/fs/port" --log "$T/fs/log" --state "$T/fs" \
		--tls "$NGINX_DIR/pki/server.pem" "$NGINX_DIR/pki/server.key" 2>/dev/null &
	FSPID=$!
	for _ in $(seq 100); do [ -s "$T/fs/port" ] && break; sleep 0.05; done
	sed "s|^manifest_url .*|manifest_url   = https://127.0.0.1:$(cat "$T/fs/port")/slow-headers/9000|" \
		"$T/policy.good" >"$T/policy.slow"
	rm -f "$T/notify" "$T/notify.ready" "$T/slow.log"
	python3 "$T/notify.py" "$T/notify" "$T/slow.log" stamp & NPID=$!
	for _ in $(seq 100); do [ -e "$T/notify.ready" ] && break; sleep 0.05; done
	NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=4000000 timeout -s TERM 12 \
		"$ST7DFU" run -c "$T/policy.slow" 2>"$T/slowrun.log"
	kill "$NPID" "$FSPID" 2>/dev/null
	gap=$(awk '/WATCHDOG=1/ { if (last != "" && $1 - last > g) g = $1 - last; last = $1 }
		END { printf "%.1f", g + 0 }' "$T/slow.log")
	n=$(grep -c 'WATCHDOG=1' "$T/slow.log")
	if [ "$n" -ge 4 ] && awk -v g="$gap" 'BEGIN { exit !(g < 4) }'; then ok; else
		fail "watchdog during a 9 s stall: $n pings, longest gap $gap s (limit 4 s): $(cat "$T/slow.log")"
	fi
else
	fail "ST7DFU_FAULTSRV not set: the slow-server watchdog case cannot run"
fi
finish
