#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Power loss during the agent's work: `st7dfu run` updating three emulated ST72F65
# readers (one cycle, one device after the other) is killed with SIGKILL at an instant
# drawn uniformly over the measured duration of an un-killed cycle (and a little past
# it), then restarted (`st7dfu check`: recovery first, then the cycle) on the same
# devices and state directory. After each restart, every outcome is checked:
#  - every device runs in runtime mode with a valid application, reports the new
#    version, and its flash is byte for byte the new firmware (never DFU mode, never a
#    third content), whatever the instant of the kill;
#  - the restart exits 0 (it recovered or updated something) or 5 (the killed run had
#    finished everything);
#  - every journal record decodes (none set aside), none is left unfinished, and no
#    device's attempt number passed 2 (one killed attempt, one restart);
#  - every stored backup is a valid .dfu whose payload is the old firmware byte for byte;
#  - the attempts history holds: at most one failure per device (the killed attempt,
#    when it ended on the old firmware), never more;
#  - no temporary file is left in the state directory.
# It prints where the kills landed (the journal phase each device was in right after
# the kill) and how the restarts ended.
#
# SEEDS=N (default 200), BASE_SEED, SEED=N (replay one), PARALLEL=N (default 2),
# DURATION_MS (skip the measurement).
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
BASE_SEED=${BASE_SEED:-0}
if [ -n "${SEED:-}" ]; then SEED_LIST=$SEED; else
	SEED_LIST=$(seq $((BASE_SEED + 1)) $((BASE_SEED + ${SEEDS:-200}))); fi
PARALLEL=${PARALLEL:-2}
t_start=$(date +%s)
test_keys
{ "$ST7DFU" pack -o "$T/old.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 \
	--stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null &&
	"$ST7DFU" pack -o "$T/new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 \
		--stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null; } ||
	{ echo "cannot pack the test images" >&2; exit 1; }
head -c -16 "$T/old.dfu" >"$T/old.bin"
head -c -16 "$T/new.dfu" >"$T/new.bin"
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
cat >"$T/manifest.ini" <<INI
[manifest]
serial  = 1
issued  = $(utc $((now - 3600)))
expires = $(utc $((now + 864000)))

[release "reader-1.03"]
match   = 0483:ff03
profile = st72f65
version = 0x0103
url     = $T/new.dfu
sha256  = $(sha256sum "$T/new.dfu" | cut -d' ' -f1)
size    = $(stat -c %s "$T/new.dfu")
INI
openssl dgst -sha256 -sign "$T/test.key" -out "$T/manifest.ini.sig" "$T/manifest.ini"

# One seed's world: its own state directory, policy and flash files.
setup() { # DIR
	mkdir -p "$1/state" && chmod 700 "$1/state"
	cat >"$1/policy.ini" <<INI
[agent]
state_dir    = $1/state
keys_dir     = $K
manifest_url = $T/manifest.ini
device_id    = gateway-kill
INI
}
DEVS() { # DIR: three readers, fast timings (the campaign needs many runs)
	local i
	for i in 1 2 3; do
		printf -- '--device\nkind=st7,profile=st72f65,serial=K-%s,flash-in=%s,flash-out=%s,erase-ms=2,prog-ms=0,manifest-ms=5,reenum-ms=10\n' \
			"$i" "$T/old.bin" "$1/flash$i.bin"
	done
}

# The killed run: start the daemon, kill -9 it after $2 ms (it never ends by itself).
cat >"$T/killed.sh" <<'SH'
#!/bin/bash
"$ST7DFU" run -c "$1/policy.ini" 2>"$1/run.log" &
pid=$!
sleep "$(printf '%d.%03d' $(($2 / 1000)) $(($2 % 1000)))"
kill -9 "$pid"
wait "$pid" 2>/dev/null
"$ST7DFU" status --json -c "$1/policy.ini" >"$1/after-kill.json" 2>/dev/null
exit 0
SH
# The restart and its state.
cat >"$T/restart.sh" <<'SH'
#!/bin/bash
"$ST7DFU" check --json -c "$1/policy.ini" >"$1/check.json" 2>"$1/check.err"
echo $? >"$1/check.rc"
"$ST7DFU" status --json -c "$1/policy.ini" >"$1/status.json" 2>/dev/null
SH
chmod +x "$T/killed.sh" "$T/restart.sh"
export ST7DFU T

# 1. One un-killed cycle, timed from the start of the run.
M=$T/measure
setup "$M"
if [ -n "${DURATION_MS:-}" ]; then DUR=$DURATION_MS; else
	cat >"$T/measure.sh" <<'SH'
#!/bin/bash
t0=$(date +%s%N)
"$ST7DFU" check -c "$1/policy.ini" >/dev/null 2>"$1/measure.err"
echo $? >"$1/measure.rc"
echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$1/measure.ms"
SH
	chmod +x "$T/measure.sh"
	mapfile -t D < <(DEVS "$M")
	"$ST7DFU_EMU" --timeout 120 "${D[@]}" -- "$T/measure.sh" "$M" >/dev/null 2>&1
	eq "$(cat "$M/measure.rc" 2>/dev/null)" 0 "the un-killed cycle updated the three readers"
	DUR=$(cat "$M/measure.ms" 2>/dev/null || echo 5000)
fi
# Kills land over the whole cycle and 20% past it (the daemon idle after its cycle).
SPAN=$((DUR * 12 / 10))
echo "one cycle: ${DUR} ms; kills drawn over 0..${SPAN} ms"

# shellcheck disable=SC2317 # one_seed runs through `bash -c` (exported, below), never directly
one_seed() { # SEED -> prints one result line
	local seed=$1 W=$T/s$1 ms r
	setup "$W"
	ms=$(( 0x$(echo "$seed" | sha256sum | head -c 8) % (SPAN + 1) ))
	mapfile -t D < <(DEVS "$W")
	"$ST7DFU_EMU" --timeout 120 --report "$W/emu.json" "${D[@]}" \
		-- "$T/killed.sh" "$W" "$ms" --then -- "$T/restart.sh" "$W" >/dev/null 2>&1
	r=ok
	local why=() i phases rc
	rc=$(cat "$W/check.rc" 2>/dev/null || echo none)
	case "$rc" in 0 | 5) ;; *) why+=("restart exit $rc: $(tail -2 "$W/check.err" 2>/dev/null | tr '\n' ' ')") ;; esac
	for i in 1 2 3; do
		local st
		st=$(jq -r ".devices[] | select(.serial==\"K-$i\") | \"\(.mode) \(.app_valid) \(.version)\"" "$W/emu.json" 2>/dev/null)
		[ "$st" = "runtime true 259" ] || why+=("K-$i: $st")
		cmp -s "$W/flash$i.bin" "$T/new.bin" || why+=("K-$i flash is not the new firmware")
	done
	local bad unfinished maxatt
	bad=$(jq -r '.bad_records' "$W/status.json" 2>/dev/null)
	unfinished=$(jq -r '[.devices[] | select(.unfinished)] | length' "$W/status.json" 2>/dev/null)
	maxatt=$(jq -r '[.devices[].attempt] | max // 0' "$W/status.json" 2>/dev/null)
	[ "$bad" = 0 ] || why+=("bad journal records: $bad")
	[ "$unfinished" = 0 ] || why+=("unfinished records: $unfinished")
	[ "${maxatt:-9}" -le 2 ] || why+=("attempt number $maxatt")
	local f
	for f in "$W"/state/backups/*/*.dfu; do
		[ -e "$f" ] || continue
		"$ST7DFU" info "$f" >/dev/null 2>&1 || why+=("backup $f invalid")
		cmp -s <(head -c -16 "$f") "$T/old.bin" || why+=("backup $f is not the old firmware")
	done
	if [ -e "$W/state/attempts.ini" ]; then
		local worst
		worst=$(awk -F' = ' '/^failures/ { if ($2 > m) m = $2 } END { print m + 0 }' "$W/state/attempts.ini")
		[ "$worst" -le 1 ] || why+=("attempts history: $worst failures")
	fi
	if find "$W/state" -name '*.tmp*' -o -name '*.part' 2>/dev/null | grep -v /cache/ >/dev/null; then
		why+=("temporary files left")
	fi
	# A device whose image was complete when the kill came (post-check) is finished by the
	# restart, never flashed again: its attempt is the killed one, settled done.
	local pc
	for pc in $(jq -r '.devices[] | select(.phase=="post-check") | "\(.serial):\(.attempt)"' "$W/after-kill.json" 2>/dev/null); do
		local fin
		fin=$(jq -r ".devices[] | select(.serial==\"${pc%%:*}\") | \"\(.attempt) \(.phase)\"" "$W/status.json" 2>/dev/null)
		[ "$fin" = "${pc##*:} done" ] || why+=("${pc%%:*} killed at post-check ended as: $fin")
	done
	phases=$(jq -r '[.devices[] | "\(.serial)=\(.phase)"] | sort | join(",")' "$W/after-kill.json" 2>/dev/null)
	[ ${#why[@]} -eq 0 ] || r="FAIL ${why[*]}"
	echo "seed=$seed ms=$ms rc=$rc phases=${phases:-none} $r"
	[ "$r" = ok ] && rm -rf "$W"
}
export -f one_seed setup DEVS
export SPAN K

# 2. The campaign.
# shellcheck disable=SC2086 # split on purpose: SEED_LIST is numbers separated by white space
printf '%s\n' $SEED_LIST | xargs -P "$PARALLEL" -I{} bash -c 'one_seed {}' >"$T/results" 2>&1
n=$(wc -l <"$T/results")
nok=$(grep -c ' ok$' "$T/results")
eq "$n" "$(printf '%s\n' "$SEED_LIST" | wc -w)" "every seed reported"
while read -r line; do
	case "$line" in *" ok") ok ;; *) fail "$line" ;; esac
done <"$T/results"
echo "kills: $n, restarts that ended with every device on the new firmware and every check passed: $nok"
echo "where the kills landed (journal phases right after the kill, per device):"
grep -o 'phases=[^ ]*' "$T/results" | sed 's/phases=//' | tr ',' '\n' | sed 's/K-[0-9]=//' |
	sort | uniq -c | sort -rn | sed 's/^/  /'
echo "restart exit codes:"
grep -o 'rc=[^ ]*' "$T/results" | sort | uniq -c | sed 's/^/  /'
echo "campaign time: $(($(date +%s) - t_start)) s"
finish
