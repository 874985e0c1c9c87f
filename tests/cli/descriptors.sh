#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# GET_DESCRIPTOR requests counted by the emulator (tests/emu, through real libusb) so that
# they cannot creep back: an ST7 or DFU 1.1 upgrade makes none (the target of issue 11
# was 12; DfuSe reads its layouts: 4 per download, 10 per upgrade), two bystander ST7s beside the
# target (one running, one in DFU mode) get no control request at all when the target
# is chosen by port path, and none when it is chosen by serial either (Linux keeps the
# serial in sysfs, read at enumeration); DFU 1.1 and DfuSe the same; `list` reads what
# it shows once (language ID once per device).
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
EMU=("$ST7DFU_EMU" --timeout 120)
FAST="erase-ms=1,prog-ms=0,manifest-ms=5,reenum-ms=5"
BYSTANDERS=(--device "kind=st7,serial=BY-RUN,$FAST" --device "kind=st7,mode=dfu,serial=BY-DFU,$FAST")

# Images: the ST72F65 1.02 -> 1.03; 8 KiB DFU 1.1 and DfuSe images with the version word
# at 0x1FFC.
{ "$ST7DFU" pack -o "$T/st7-old.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null &&
	"$ST7DFU" pack -o "$T/st7-new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null; } ||
	{ echo "cannot pack the ST7 images" >&2; exit 1; }
head -c -16 "$T/st7-old.dfu" >"$T/st7-old.bin"
{ head -c 8188 /dev/urandom; printf '\002\001\377\377'; } >"$T/gen-old.bin"
{ head -c 8188 /dev/urandom; printf '\003\001\377\377'; } >"$T/gen-new.bin"
{ "$ST7DFU" pack -o "$T/dfu11-new.dfu" --vid 0483 --pid ff03 --bcd 0x0103 --dfu-version 1.1 "$T/gen-new.bin@0" >/dev/null &&
	"$ST7DFU" pack -o "$T/dfuse-new.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x0103 "$T/gen-new.bin@0x08000000" >/dev/null; } ||
	{ echo "cannot pack the DFU 1.1 / DfuSe images" >&2; exit 1; }
test_keys
sign_all

# count WHAT MAX: the target's (device 1, on port 1-2) GET_DESCRIPTOR in $T/rep.json at
# most MAX, printed; both bystanders (1-1, 1-3) got no control transfer at all.
count() {
	local R n b
	R=$(cat "$T/rep.json")
	n=$(jq '.devices[1].requests.GET_DESCRIPTOR' <<<"$R")
	b=$(jq -c '[.devices[0,2] | .requests.GET_DESCRIPTOR, .control_transfers]' <<<"$R")
	echo "$1: GET_DESCRIPTOR target $n (at most $2); bystanders [GET_DESCRIPTOR, control] ${b}" >&2
	[ "$n" -le "$2" ] && ok || fail "$1: $n GET_DESCRIPTOR requests to the target, more than $2"
	eq "$b" "[0,0,0,0]" "$1: bystanders untouched"
}

# 1. An ST7 upgrade, the target chosen by port path, then by serial.
for sel in "--path 1-2" "--serial TGT"; do
	# shellcheck disable=SC2086 # split on purpose: $sel is an option and its value ("--path 1-2")
	run "${EMU[@]}" --report "$T/rep.json" "${BYSTANDERS[0]}" "${BYSTANDERS[1]}" \
		--device "kind=st7,profile=st72f65,serial=TGT,flash-in=$T/st7-old.bin,$FAST" "${BYSTANDERS[2]}" "${BYSTANDERS[3]}" \
		-- "$ST7DFU" upgrade $sel --keys "$K" --state-dir "$T/s-${sel%% *}" "$T/st7-new.dfu"
	expect_rc 0 "ST7 upgrade ($sel)"
	jqeq "$(cat "$T/rep.json")" '.devices[1].version' 259 "ST7 runs 1.03 ($sel)"
	# The kernel read the strings at enumeration (sysfs): nothing is asked of the device.
	count "ST7 upgrade ($sel)" 0
done

# 1b. A twin with the target's serial on another port, in DFU mode and in runtime mode:
# while the target re-enumerates (slowly), the twin is not taken for it.
for twin_mode in dfu runtime; do
	run "${EMU[@]}" --report "$T/rep.json" \
		--device "kind=st7,profile=st72f65,serial=SAME,flash-in=$T/st7-old.bin,erase-ms=1,prog-ms=0,manifest-ms=5,reenum-ms=1500" \
		--device "kind=st7,mode=$twin_mode,serial=SAME,flash-in=$T/st7-old.bin,$FAST" \
		-- "$ST7DFU" upgrade --path 1-1 --keys "$K" --state-dir "$T/s-twin-$twin_mode" "$T/st7-new.dfu"
	expect_rc 0 "ST7 upgrade beside a $twin_mode-mode twin with the same serial"
	jqeq "$(cat "$T/rep.json")" '.devices[0].version' 259 "the target runs 1.03 (twin in $twin_mode mode)"
	jqeq "$(cat "$T/rep.json")" '.devices[1].control_transfers' 0 "the $twin_mode-mode twin got no request"
done

# 2. DFU 1.1: an upgrade by port path.
run "${EMU[@]}" --report "$T/rep.json" "${BYSTANDERS[0]}" "${BYSTANDERS[1]}" \
	--device "kind=dfu11,mem-size=8K,version-addr=0x1FFC,serial=TGT,flash-in=$T/gen-old.bin,$FAST" "${BYSTANDERS[2]}" "${BYSTANDERS[3]}" \
	-- "$ST7DFU" upgrade --path 1-2 --keys "$K" --state-dir "$T/s-dfu11" "$T/dfu11-new.dfu"
expect_rc 0 "DFU 1.1 upgrade"
jqeq "$(cat "$T/rep.json")" '.devices[1].version' 259 "DFU 1.1 runs 1.03"
count "DFU 1.1 upgrade (--path 1-2)" 0

# 3. DfuSe: a download from DFU mode and an upgrade, by port path. Its alt settings'
# names are its memory layouts: read from the device, once per scan.
run "${EMU[@]}" --report "$T/rep.json" "${BYSTANDERS[0]}" "${BYSTANDERS[1]}" \
	--device "kind=dfuse,mode=dfu,mem-size=8K,serial=TGT,$FAST" "${BYSTANDERS[2]}" "${BYSTANDERS[3]}" \
	-- "$ST7DFU" download --path 1-2 --keys "$K" "$T/dfuse-new.dfu"
expect_rc 0 "DfuSe download"
jqeq "$(cat "$T/rep.json")" '.devices[1].mode' runtime "DfuSe left DFU mode"
count "DfuSe download (--path 1-2)" 4
run "${EMU[@]}" --report "$T/rep.json" "${BYSTANDERS[0]}" "${BYSTANDERS[1]}" \
	--device "kind=dfuse,mem-size=8K,version-addr=0x08001FFC,serial=TGT,flash-in=$T/gen-old.bin,$FAST" "${BYSTANDERS[2]}" "${BYSTANDERS[3]}" \
	-- "$ST7DFU" upgrade --path 1-2 --keys "$K" --state-dir "$T/s-dfuse" "$T/dfuse-new.dfu"
expect_rc 0 "DfuSe upgrade"
jqeq "$(cat "$T/rep.json")" '.devices[1].version' 259 "DfuSe runs 1.03"
count "DfuSe upgrade (--path 1-2)" 10

# 4. list: language ID, manufacturer, product and the DFU interface's name per ST7 (the
# serial and the raw configuration come from sysfs); what it shows is unchanged.
run "${EMU[@]}" --report "$T/rep.json" --device kind=st7,serial=L1 --device kind=st7,mode=dfu,serial=L2 \
	-- "$ST7DFU" list --json
expect_rc 0 "list"
J=$OUT
jqeq "$J" '[.devices[] | .manufacturer, .product, .serial] | map(length > 0) | all' true "list shows the strings"
jqeq "$J" '[.devices[].serial] | sort | join(",")' "L1,L2" "list serials"
jqeq "$J" '.devices[] | select(.serial == "L2") | .alts[0].name' "ST7 Flash" "list alt name"
jqeq "$J" '.devices[] | select(.serial == "L1") | .product' "ST7 EvalKit and DFU" "list product"
L=$(jq -c '[.devices[].requests.GET_DESCRIPTOR]' "$T/rep.json")
echo "list: GET_DESCRIPTOR per device $L (at most 5 each)" >&2
jqeq "$(cat "$T/rep.json")" '[.devices[].requests.GET_DESCRIPTOR] | map(. <= 5) | all' true "list reads each string once"

finish
