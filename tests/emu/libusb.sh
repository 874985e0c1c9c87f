#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real libusb (emu_usbcheck) against st7dfu-emu: a GETSTATUS that never completes (sync
# timeout and async cancel, both through DISCARDURB), bus latency with REAPURBNDELAY
# polling, hotplug across re-enumeration, unplug and replug, a device plugged in after
# the program started (plug-ms: hotplug ARRIVED, then open and read it), the raw usbdevfs
# ioctls libusb does not use, and libusb's view of every malformed descriptor.
. "$(dirname "$0")/../cli/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
: "${ST7EMU_USBCHECK:?set ST7EMU_USBCHECK to the emu_usbcheck binary}"
EMU=$ST7DFU_EMU
CHK=$ST7EMU_USBCHECK

# check NAME [SPEC] [ARGS]: runs one emu_usbcheck scenario, counts its verdict.
check() {
	local name=$1 spec=$2
	shift 2
	run "$EMU" --timeout 60 --report "$T/r.json" --device "$spec" -- "$CHK" "$name" "$@"
	expect_rc 0 "emu_usbcheck $name $* ($spec): $OUT"
	REPORT=$(cat "$T/r.json")
}

check timeout kind=st7,mode=dfu,getstatus-timeout=2
jqeq "$REPORT" '.devices[0].requests.GETSTATUS' 3 "timeout: three GETSTATUS"
jqeq "$REPORT" '.devices[0].faults_fired' 1 "timeout: the fault fired once"

check cancel kind=st7,mode=dfu,getstatus-timeout=1
jqeq "$REPORT" '.devices[0].faults_fired' 1 "cancel: fired"

check latency kind=st7,profile=st72f62,mode=dfu,bus=low
# 20 GETSTATUS at 3 ms + one 64-byte UPLOAD at 10 ms, all outside busy periods.
jqeq "$REPORT" '.devices[0].mandated_ms' 70 "latency: mandated bus time"
jqeq "$REPORT" '.devices[0].elapsed_ms >= .devices[0].mandated_ms' true "latency: elapsed"

check hotplug kind=dfu11
jqeq "$REPORT" '.devices[0].mode' dfu "hotplug: DFU mode at the end"
jqeq "$REPORT" '.devices[0].reenumerations' 1 "hotplug: one re-enumeration"
jqeq "$REPORT" '.devices[0].resets' 1 "hotplug: one reset"
jqeq "$REPORT" '.devices[0].devnum' 3 "hotplug: new device number"

check unplug kind=st7,mode=dfu,unplug-state=dfuDNBUSY,replug-ms=200
jqeq "$REPORT" '.devices[0].mode' dfu "unplug: back in DFU mode"
jqeq "$REPORT" '.devices[0].app_valid' false "unplug: application invalid"
jqeq "$REPORT" '.devices[0].faults_fired' 1 "unplug: fired once"

# plug-ms: absent when the program starts, ARRIVED about plug-ms later, opened and read.
check plug kind=dfu11,plug-ms=3000 3000
jqeq "$REPORT" '.devices[0] | [.mode, .state, .devnum, .reenumerations] | map(tostring) | join(",")' \
	"runtime,appIDLE,2,0" "plug: runtime, first node, not a re-enumeration"
check plug kind=st7,mode=dfu,plug-ms=2500 2500 dfu
jqeq "$REPORT" '.devices[0] | [.mode, .state, .pid, .app_valid] | map(tostring) | join(",")' \
	"dfu,dfuIDLE,57105,false" "plug: in its power-on mode (DFU)"

check raw kind=st7,profile=st72f62,mode=dfu,bus=low,getstatus-timeout=2
jqeq "$REPORT" '.devices[0].requests.GETSTATUS' 4 "raw: four GETSTATUS"

for f in ok xfer0 no-func trunc-func bad-total bad-blength; do
	check desc "kind=dfu11,mode=dfu,desc=$f" "$f"
done

finish
