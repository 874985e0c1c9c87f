#!/bin/bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# The agent when its state directory is full or read-only (a small tmpfs): no device is
# touched without a durable backup and journal record, the error says why, `st7dfu run`
# keeps running, and when space returns its next cycle updates the device. Needs root
# (mount); says so loudly and fails otherwise.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
if [ "$(id -u)" != 0 ] || ! command -v mount >/dev/null; then
	echo "SKIPPED LOUDLY: cli.agent-disk needs root to mount a small tmpfs" >&2
	fail "not root: the full and read-only state directory were not tested"
	finish
fi
S=$T/state
mkdir -p "$S"
MOUNTED=
trap 'if [ -n "$MOUNTED" ]; then umount "$S"; fi; rm -rf "$T"' EXIT
test_keys
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
"$ST7DFU" pack -o "$T/new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 \
	--stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null || fail "pack"
cat >"$T/manifest.ini" <<INI
[manifest]
serial  = 1
issued  = $(utc $((now - 3600)))
expires = $(utc $((now + 864000)))

[release "reader-1.03"]
match   = 0483:ff03
version = 0x0103
url     = $T/new.dfu
sha256  = $(sha256sum "$T/new.dfu" | cut -d' ' -f1)
size    = $(stat -c %s "$T/new.dfu")
INI
openssl dgst -sha256 -sign "$T/test.key" -out "$T/manifest.ini.sig" "$T/manifest.ini"
cat >"$T/policy.ini" <<INI
[agent]
state_dir    = $S
keys_dir     = $K
manifest_url = $T/manifest.ini
device_id    = gateway-disk
poll_interval = 1h
INI
# 24 KiB: room for the manifest's record, the journal and the attempts history, not for
# the 28 KiB backup of an ST72F65.
mount -t tmpfs -o size=24k,mode=0700 tmpfs "$S" && MOUNTED=1 || { fail "mount tmpfs"; finish; }
DEV=(--device "kind=st7,profile=st72f65,serial=R-1,version=0x0102")
devrep() { jq -r ".devices[0] | $1" "$T/emu.json"; }

# 1. Full: check refuses the device, with the reason.
run "$ST7DFU_EMU" --timeout 60 --report "$T/emu.json" "${DEV[@]}" -- "$ST7DFU" check -c "$T/policy.ini"
expect_rc 4 "full state directory: exit 4"
has "$ERR" "backup" "the error names the backup"
eq "$(devrep '.requests.DNLOAD')" 0 "full: the device was not erased"
eq "$(devrep '"\(.mode) \(.version)"')" "runtime 258" "full: the device runs its old firmware"

# 2. Read-only: nothing can be recorded, nothing is done.
mount -o remount,ro "$S"
run "$ST7DFU_EMU" --timeout 60 --report "$T/emu.json" "${DEV[@]}" -- "$ST7DFU" check -c "$T/policy.ini"
case "$RC" in 0 | 5) fail "read-only state directory: exit $RC" ;; *) ok ;; esac
eq "$(devrep '.requests.DNLOAD')" 0 "read-only: the device was not erased"
eq "$(devrep '.requests.DETACH')" 0 "read-only: the device was not even detached"
mount -o remount,rw "$S"

# 3. The daemon on a full disk keeps running; when space returns, SIGUSR1 updates.
cat >"$T/session.sh" <<'SH'
#!/bin/bash
"$ST7DFU" run -c "$T/policy.ini" 2>"$T/run.log" &
pid=$!
for _ in $(seq 1200); do grep -q "left in DFU mode" "$T/run.log" && break; sleep 0.05; done
sleep 0.5
kill -0 "$pid" && echo alive >"$T/alive"
mount -o remount,size=1m "$S"
kill -USR1 "$pid"
for _ in $(seq 1200); do grep -q "R-1: release 'reader-1.03' (0x0103) done" "$T/run.log" && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"
echo $? >"$T/run.rc"
SH
chmod +x "$T/session.sh"
export ST7DFU T S
mount -o remount,size=24k "$S"
"$ST7DFU_EMU" --timeout 180 --report "$T/emu.json" "${DEV[@]}" -- "$T/session.sh"
eq "$(cat "$T/alive" 2>/dev/null)" alive "the daemon kept running on a full state directory"
eq "$(cat "$T/run.rc")" 0 "the daemon stopped cleanly"
has "$(cat "$T/run.log")" "backup" "the daemon said why it did not update"
eq "$(devrep '"\(.mode) \(.version)"')" "runtime 259" "space back: the device was updated"
finish
