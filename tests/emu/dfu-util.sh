#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# The real dfu-util 0.11 against st7dfu-emu: listing every kind and mode, download and
# upload on the DFU 1.1 device, detach from runtime mode, DfuSe with and without
# :leave, --then, a command killed mid-download, the report's counts and mandated time,
# a slow bus, and what dfu-util makes of the ST7 DFU 1.0 device.
. "$(dirname "$0")/../cli/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
command -v dfu-util >/dev/null || { echo "dfu-util not installed"; exit 77; }
EMU=$ST7DFU_EMU

# emu ARGS...: the emulator with a hard per-command limit and a report in $T/r.json.
emu() {
	rm -f "$T/r.json"
	run "$EMU" --timeout 120 --report "$T/r.json" "$@"
	REPORT=$(cat "$T/r.json" 2>/dev/null)
}
dev() { jqeq "$REPORT" ".devices[0].$1" "$2" "$3"; }
# Random bytes without 0xFF, so erased flash (0xFF) never looks like data.
randfile() { head -c "$2" /dev/urandom | tr '\377' '\376' >"$1"; }

# --- -l: every kind and mode, with serials -------------------------------------------
emu --device kind=st7 --device kind=st7,mode=dfu --device kind=dfu11 \
	--device kind=dfu11,mode=dfu --device kind=dfuse --device kind=dfuse,mode=dfu,serial=GW-42 \
	-- dfu-util -l
expect_rc 0 "dfu-util -l"
has "$OUT" 'Found Runtime: [0483:ff03] ver=0100, devnum=2, cfg=1, intf=1, path="1-1", alt=0, name="DFU Runtime", serial="ST7-0001"' "-l st7 runtime"
# The ST7 in DFU mode is listed as "Runtime": DFU 1.0 uses interface protocol 0 in both
# modes and dfu-util 0.11 only trusts protocol 2. (st7dfu classifies it from the device
# class FE/01 and the lone DFU interface; this is the limitation it beats.)
has "$OUT" 'Found Runtime: [0483:df11] ver=0100, devnum=3, cfg=1, intf=0, path="1-2", alt=0, name="ST7 Flash", serial="ST7-0002"' "-l st7 DFU mode shown as Runtime"
has "$OUT" 'Found Runtime: [0483:ff03] ver=0100, devnum=4, cfg=1, intf=1, path="1-3", alt=0, name="DFU Runtime", serial="ST7-0003"' "-l dfu11 runtime"
has "$OUT" 'Found DFU: [0483:df11] ver=0100, devnum=5, cfg=1, intf=0, path="1-4", alt=0, name="DFU 1.1 Memory", serial="ST7-0004"' "-l dfu11 DFU mode"
has "$OUT" 'Found Runtime: [0483:ff03] ver=0100, devnum=6, cfg=1, intf=1, path="1-5", alt=0, name="DFU Runtime", serial="ST7-0005"' "-l dfuse runtime"
has "$OUT" 'Found DFU: [0483:df11] ver=2200, devnum=7, cfg=1, intf=0, path="1-6", alt=0, name="@Internal Flash  /0x08000000/04*016Kg", serial="GW-42"' "-l dfuse DFU mode"
eq "$(printf '%s\n' "$OUT" | grep -c '^Found ')" 6 "-l: six devices"
jqeq "$REPORT" '[.devices[].requests.GET_DESCRIPTOR] | min > 0' true "-l read descriptors"
jqeq "$REPORT" '[.devices[].dfu_requests] | max' 0 "-l sends no DFU request"

# --- DFU 1.1 in DFU mode: -D, then -U ---------------------------------------------
randfile "$T/fw64.bin" 65536
emu --device "kind=dfu11,mode=dfu,prog-ms=0,flash-out=$T/flash.bin" -- dfu-util -D "$T/fw64.bin"
# Not manifestation tolerant: dfu-util resets the device after dfuMANIFEST-WAIT-RESET; it
# re-enumerates (new descriptors), the reset answers NOT_FOUND, and dfu-util 0.11 returns
# that as its exit status (74) after printing "Done!". That is dfu-util, not the device.
expect_rc 74 "dfu11 -D (dfu-util's spurious error after the manifestation reset)"
has "$OUT" "Done!" "dfu11 -D done"
has "$OUT" "DFU state(8) = dfuMANIFEST-WAIT-RESET" "dfu11 -D manifested"
cmp -s "$T/fw64.bin" "$T/flash.bin" && ok || fail "dfu11 -D: flash equals the file"
dev mode runtime "dfu11 -D: runtime after the reset"
dev app_valid true "dfu11 -D: application valid"
dev reenumerations 1 "dfu11 -D: re-enumerated once"
dev requests.DNLOAD 65 "dfu11 -D: 64 blocks + the zero-length one"
emu --device "kind=dfu11,mode=dfu,prog-ms=0,manifest-tolerant=1,flash-out=$T/flash.bin" \
	-- dfu-util -D "$T/fw64.bin"
expect_rc 0 "dfu11 -D, manifestation tolerant"
cmp -s "$T/fw64.bin" "$T/flash.bin" && ok || fail "dfu11 -D tolerant: flash equals the file"
dev state dfuIDLE "dfu11 -D tolerant: back to dfuIDLE"
rm -f "$T/up.bin"
emu --device "kind=dfu11,mode=dfu,flash-in=$T/fw64.bin" -- dfu-util -U "$T/up.bin"
expect_rc 0 "dfu11 -U"
cmp -s "$T/fw64.bin" "$T/up.bin" && ok || fail "dfu11 -U: upload equals the flash"
dev requests.UPLOAD 65 "dfu11 -U: 64 full blocks and an empty one"

# --- DFU 1.1 in runtime mode: detach, detach + reset, detach then download ------------
for wd in 0 1; do
	for r in "" -R; do
		emu --device "kind=dfu11,will-detach=$wd" -- dfu-util -e $r
		expect_rc 0 "dfu11 -e $r will-detach=$wd"
		has "$OUT" "Device really in Run-Time Mode, send DFU detach request..." "detach sent ($wd$r)"
		dev mode dfu "dfu11 -e $r will-detach=$wd: DFU mode"
		dev requests.DETACH 1 "one DETACH ($wd$r)"
		dev reenumerations 1 "one re-enumeration ($wd$r)"
		if [ "$wd" = 1 ]; then
			has "$OUT" "Device will detach and reattach..." "bitWillDetach honoured"
			dev resets 0 "no reset needed with bitWillDetach ($r)"
		else
			has "$OUT" "Resetting USB..." "reset after detach"
			dev resets 1 "one reset without bitWillDetach ($r)"
		fi
	done
done
randfile "$T/f20k.bin" 20000
emu --device "kind=dfu11,prog-ms=0,manifest-tolerant=1,flash-out=$T/flash.bin" \
	-- dfu-util -E 1 -D "$T/f20k.bin"
expect_rc 0 "dfu11 -E 1 -D from runtime mode"
cmp -s -n 20000 "$T/f20k.bin" "$T/flash.bin" && ok || fail "-E 1 -D: flash equals the file"
dev requests.DETACH 1 "-E 1 -D: detached"
dev requests.DNLOAD 21 "-E 1 -D: 20 blocks + the zero-length one"
dev mode dfu "-E 1 -D: in DFU mode"

# --- DfuSe: raw file at an address; dfu-util erases the pages it writes ---------------
head -c 65536 /dev/zero >"$T/zero64.bin" # nothing erased
emu --device "kind=dfuse,mode=dfu,flash-in=$T/zero64.bin,flash-out=$T/flash.bin" \
	-- dfu-util -a 0 -s 0x08000000:leave -D "$T/f20k.bin"
expect_rc 0 "dfuse -s 0x08000000:leave -D"
has "$OUT" "Submitting leave request..." "dfuse leave"
cmp -s -n 20000 "$T/f20k.bin" "$T/flash.bin" && ok || fail "dfuse: file at 0x08000000"
eq "$(tail -c +20001 "$T/flash.bin" | head -c 12768 | tr -d '\377' | wc -c)" 0 "dfuse: rest of page 1 erased"
eq "$(tail -c +32769 "$T/flash.bin" | tr -d '\000' | wc -c)" 0 "dfuse: pages 2-3 untouched"
dev mode runtime "dfuse leave: the application runs"
dev reenumerations 1 "dfuse leave: re-enumerated"
dev app_valid true "dfuse leave: application valid"
emu --device "kind=dfuse,mode=dfu,flash-in=$T/zero64.bin,flash-out=$T/flash.bin" \
	-- dfu-util -a 0 -s 0x08004000 -D "$T/f20k.bin"
expect_rc 0 "dfuse -s 0x08004000 -D (no leave)"
cmp -s -n 20000 "$T/f20k.bin" "$T/flash.bin" 0 16384 && ok || fail "dfuse: file at 0x08004000"
eq "$(head -c 16384 "$T/flash.bin" | tr -d '\000' | wc -c)" 0 "dfuse: page 0 untouched"
dev mode dfu "dfuse without leave: still DFU mode"
dev state dfuIDLE "dfuse without leave: dfuIDLE"
dev reenumerations 0 "dfuse without leave: no re-enumeration"
rm -f "$T/up.bin"
emu --device "kind=dfuse,mode=dfu,flash-in=$T/fw64.bin" -- dfu-util -a 0 -s 0x08001000:8192 -U "$T/up.bin"
expect_rc 0 "dfuse -U"
cmp -s "$T/up.bin" <(tail -c +4097 "$T/fw64.bin" | head -c 8192) && ok || fail "dfuse -U from 0x08001000"

# --- --then: two dfu-util runs against the same device ------------------------------
rm -f "$T/up.bin"
emu --device "kind=dfu11,mode=dfu,prog-ms=0,manifest-tolerant=1" \
	-- dfu-util -D "$T/fw64.bin" --then -- dfu-util -U "$T/up.bin"
expect_rc 0 "--then -D, -U"
cmp -s "$T/fw64.bin" "$T/up.bin" && ok || fail "--then: the second run reads what the first wrote"
jqeq "$REPORT" '.commands | map(.status) | join(",")' "0,0" "--then: both succeeded"

# --- a command killed mid-download; the next one sees the half-written flash ---------
randfile "$T/st7.bin" 28672
rm -f "$T/up.bin"
emu --device "kind=st7,mode=dfu,app=valid" \
	-- sh -c "dfu-util -D $T/st7.bin >$T/du.out 2>&1 & p=\$!
		for _ in \$(seq 600); do grep -qE '[1-9][0-9]* bytes' $T/du.out && break; sleep 0.05; done
		kill -9 \$p; wait \$p" \
	--then -- dfu-util -U "$T/up.bin"
expect_rc 0 "killed download, then -U"
jqeq "$REPORT" '.commands[0].status' 137 "first command: the sh -c reports dfu-util's SIGKILL"
eq "$(stat -c %s "$T/up.bin")" 28672 "-U after the kill: the whole region"
diff_at=$(cmp "$T/st7.bin" "$T/up.bin" 2>/dev/null | sed -n 's/.*byte \([0-9]*\).*/\1/p')
written=$(((${diff_at:-28673} - 1) / 128 * 128))
[ "$written" -ge 128 ] && [ "$written" -lt 28672 ] && ok ||
	fail "half-written: $written bytes written before the kill"
eq "$(tail -c +$((written + 1)) "$T/up.bin" | tr -d '\377' | wc -c)" 0 "the rest is erased"
dev app_valid false "killed download: application invalid"
dev mode dfu "killed download: still DFU mode"

# --- the report: counts and mandated time of a full ST7 download ----------------------
randfile "$T/st7.bin" 28670
printf '\001\043' >>"$T/st7.bin" # version word 1.23
emu --device "kind=st7,mode=dfu,flash-out=$T/flash.bin" -- dfu-util -D "$T/st7.bin"
expect_rc 74 "st7 -D (dfu-util's spurious error after the reset)"
# DFU 1.0: dfu-util takes the run-time path, reads the state and finds dfuIDLE.
has "$OUT" "Claiming USB DFU (Run-Time) Interface..." "st7: dfu-util thinks it is run-time"
has "$ERR" "WARNING: Device already in DFU mode? (bState=2 dfuIDLE)" "st7: ...then notices dfuIDLE"
has "$OUT" "Device returned transfer size 128" "st7: wTransferSize"
cmp -s "$T/st7.bin" "$T/flash.bin" && ok || fail "st7 -D: flash equals the file"
dev mode runtime "st7 -D: runtime after the reset"
dev version 291 "st7 -D: bcdDevice is the new version word 0x0123"
dev requests.DNLOAD 225 "st7 -D: 224 blocks + the zero-length one"
# 2 before the download, 2 per block (dfuDNBUSY, then dfuDNLOAD-IDLE), 2 in manifestation
dev requests.GETSTATUS 452 "st7 -D: GETSTATUS count"
dev resets 1 "st7 -D: one reset"
# Erase of sector 1 (40 ms; sector 2 was blank), 224 x 10 ms programming, 50 ms
# manifestation, 20 ms re-enumeration; no bus time modelled.
dev mandated_ms 2350 "st7 -D: mandated time"
jqeq "$REPORT" '.devices[0].elapsed_ms >= .devices[0].mandated_ms' true "st7 -D: elapsed >= mandated"
# Plausible: no lost poll timeout (the slack is for sanitizer builds under load).
jqeq "$REPORT" '.devices[0].elapsed_ms < .devices[0].mandated_ms + 12000' true "st7 -D: elapsed plausible"

# --- a slow bus: low speed, modelled per transfer -----------------------------------
randfile "$T/f62.bin" 4096
emu --device "kind=st7,profile=st72f62,mode=dfu,bus=low,flash-out=$T/flash.bin" -- dfu-util -D "$T/f62.bin"
expect_rc 74 "st72f62 -D on a low-speed bus"
cmp -s "$T/f62.bin" "$T/flash.bin" && ok || fail "slow bus: flash equals the file"
# Busy time alone: 40 + 64 x 5 + 50 + 20 = 430 ms; the 64 DNLOADs add 10 ms of bus each.
jqeq "$REPORT" '.devices[0].mandated_ms > 430 + 640' true "slow bus: bus time is mandated"
jqeq "$REPORT" '.devices[0].elapsed_ms >= .devices[0].mandated_ms' true "slow bus: elapsed >= mandated"

finish
