#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# st7dfu list through real libusb against emulated devices (tests/emu): none, one of
# every kind and mode, several at once, malformed descriptors, and a device node the
# user may not open. JSON checked field by field.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
EMU=("$ST7DFU_EMU" --timeout 60)

# list_json SPEC...: run `st7dfu list --json` with one emulated device per SPEC.
list_json() {
	local args=()
	for s in "$@"; do args+=(--device "$s"); done
	run "${EMU[@]}" "${args[@]}" -- "$ST7DFU" list --json
}

# One ST7 of each profile, in each mode.
for prof in st72f62 st72f63 st72f65; do
	case $prof in
	st72f65) xfer=128 speed=full profiles='["st72f65"]' ;;
	*) xfer=64 speed=low profiles='["st72f62","st72f63"]' ;;
	esac
	list_json "kind=st7,profile=$prof,mode=runtime,serial=RT-$prof,version=0x0123"
	expect_rc 0 "$prof runtime"
	J=$OUT
	jqeq "$J" '.devices|length' 1 "$prof runtime: one device"
	jqeq "$J" '.devices[0].path' 1-1 "$prof path"
	jqeq "$J" '.devices[0].vid' 1155 "$prof vid"
	jqeq "$J" '.devices[0].pid' 65283 "$prof runtime pid 0xFF03"
	jqeq "$J" '.devices[0].bcdDevice' 291 "$prof runtime bcdDevice = version"
	jqeq "$J" '.devices[0].serial' "RT-$prof" "$prof serial"
	jqeq "$J" '.devices[0].mode' runtime "$prof runtime mode"
	jqeq "$J" '.devices[0].dfu_version' 256 "$prof DFU 1.0"
	jqeq "$J" '.devices[0].interface' 1 "$prof DFU interface beside the HID one"
	jqeq "$J" '.devices[0].attributes.raw' 3 "$prof attributes"
	jqeq "$J" '.devices[0].attributes.download' true "$prof download"
	jqeq "$J" '.devices[0].attributes.upload' true "$prof upload"
	jqeq "$J" '.devices[0].attributes.manifestation_tolerant' false "$prof not tolerant"
	jqeq "$J" '.devices[0].attributes.will_detach' false "$prof no will-detach"
	jqeq "$J" '.devices[0].detach_timeout_ms' 1000 "$prof detach timeout"
	jqeq "$J" '.devices[0].transfer_size' $xfer "$prof transfer size"
	jqeq "$J" '.devices[0].speed' $speed "$prof speed"
	jqeq "$J" '.devices[0].st7_profiles|tojson' "$profiles" "$prof profiles"
	jqeq "$J" '.devices[0].problem' null "$prof no problem"

	list_json "kind=st7,profile=$prof,mode=dfu,serial=DM-$prof"
	expect_rc 0 "$prof dfu"
	J=$OUT
	jqeq "$J" '.devices|length' 1 "$prof dfu: one device"
	jqeq "$J" '.devices[0].mode' dfu "$prof DFU mode recognised despite protocol 0"
	jqeq "$J" '.devices[0].pid' 57105 "$prof dfu pid 0xDF11"
	jqeq "$J" '.devices[0].bcdDevice' 256 "$prof loader version"
	jqeq "$J" '.devices[0].interface' 0 "$prof lone interface"
	jqeq "$J" '.devices[0].alts|length' 1 "$prof one alt"
	jqeq "$J" '.devices[0].alts[0].name' "ST7 Flash" "$prof alt name"
	jqeq "$J" '.devices[0].alts[0].layout' null "$prof no layout"
	jqeq "$J" '.devices[0].serial' "DM-$prof" "$prof serial in DFU mode"
	jqeq "$J" '.devices[0].st7_profiles|tojson' "$profiles" "$prof dfu profiles"
done

# Text output names the mode and profile.
run "${EMU[@]}" --device kind=st7,mode=dfu -- "$ST7DFU" list
expect_rc 0 "text list"
has "$OUT" "1-1  0483:df11  dfu mode  DFU 1.0  bcdDevice 0x0100" "text header"
has "$OUT" "ST7 profile st72f65" "text profile"
has "$OUT" 'alt 0 "ST7 Flash"' "text alt"

# DFU 1.1 in both modes, with and without will-detach.
list_json "kind=dfu11,mode=runtime,will-detach=1,serial=D11"
expect_rc 0 "dfu11 runtime"
jqeq "$OUT" '.devices[0].mode' runtime "dfu11 runtime mode"
jqeq "$OUT" '.devices[0].dfu_version' 272 "dfu11 version"
jqeq "$OUT" '.devices[0].attributes.will_detach' true "dfu11 will detach"
jqeq "$OUT" '.devices[0].st7_profiles|length' 0 "dfu11 is no ST7"
list_json "kind=dfu11,mode=dfu,manifest-tolerant=1"
jqeq "$OUT" '.devices[0].mode' dfu "dfu11 dfu mode"
jqeq "$OUT" '.devices[0].attributes.manifestation_tolerant' true "dfu11 tolerant"

# DfuSe: layout decoded.
list_json "kind=dfuse,mode=dfu"
expect_rc 0 "dfuse"
jqeq "$OUT" '.devices[0].dfu_version' 282 "dfuse version"
jqeq "$OUT" '.devices[0].mode' dfu "dfuse mode"
jqeq "$OUT" '.devices[0].alts[0].name|startswith("@Internal Flash")' true "dfuse alt name"
jqeq "$OUT" '.devices[0].alts[0].layout.name' "Internal Flash" "layout name"
jqeq "$OUT" '.devices[0].alts[0].layout.segments[0].address' 134217728 "layout address"
jqeq "$OUT" '[.devices[0].alts[0].layout.segments[]|.pages*.page_size]|add' 65536 "64 KiB layout"
jqeq "$OUT" '.devices[0].alts[0].layout.segments[0].writable' true "writable"
list_json "kind=dfuse,mode=runtime"
jqeq "$OUT" '.devices[0].mode' runtime "dfuse runtime"

# Several devices on one bus: all listed, each on its own port, in bus order.
list_json "kind=st7,serial=A" "kind=st7,mode=dfu,serial=B" "kind=dfu11,mode=dfu,serial=C" "kind=dfuse,serial=D"
expect_rc 0 "several devices"
jqeq "$OUT" '.devices|length' 4 "four devices"
jqeq "$OUT" '[.devices[].serial]|sort|join(",")' "A,B,C,D" "all serials"
jqeq "$OUT" '[.devices[].path]|unique|length' 4 "distinct paths"
jqeq "$OUT" '[.devices[]|select(.serial=="B")][0].mode' dfu "B in DFU mode"

# Malformed descriptors: listed with the problem, never a crash or a hang; a
# well-formed device next to it is still listed.
for bad in xfer0 trunc-func bad-blength bad-total no-func; do
	list_json "kind=st7,desc=$bad,serial=BAD" "kind=st7,serial=GOOD"
	expect_rc 0 "malformed $bad"
	jqeq "$OUT" '[.devices[]|select(.serial=="GOOD")]|length' 1 "$bad: good device still listed"
	jqeq "$OUT" '[.devices[]|select(.serial!="GOOD")][0].problem != null' true "$bad: problem reported"
	has "$ERR" "warning" "$bad: warning on stderr"
	case $bad in
	bad-total) has "$OUT" "wTotalLength" "bad-total named" ;;
	bad-blength) has "$OUT" "bLength" "bad bLength named" ;;
	xfer0) has "$OUT" "wTransferSize 0" "xfer0 named" ;;
	trunc-func) has "$OUT" "bLength 5" "truncated functional descriptor named" ;;
	no-func) has "$OUT" "no DFU functional descriptor" "missing functional descriptor named" ;;
	esac
done

# Permission denied: the device node is not readable by the user. (The emulator runs
# as that user too: umockdev's event socket is private to the testbed's owner.)
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null &&
	runuser -u nobody -- test -x "$ST7DFU" -a -x "$ST7DFU_EMU"; then
	# shellcheck disable=SC2016 # the script is for sh -c, as nobody: its $-expansions are its own
	run runuser -u nobody -- env HOME=/tmp "${EMU[@]}" --device kind=st7,serial=P -- sh -c \
		'chmod 000 "$UMOCKDEV_DIR"/dev/bus/usb/*/* && exec "$0" list --json' "$ST7DFU"
	expect_rc 0 "unprivileged list"
	jqeq "$OUT" '.devices|length' 1 "unopenable device still listed"
	jqeq "$OUT" '.devices[0].problem|test("cannot open /dev/bus/usb/001/002: permission denied; run as root or install")' true "permission hint"
	jqeq "$OUT" '.devices[0].serial' null "no strings without access"
	jqeq "$OUT" '.devices[0].mode' runtime "descriptors still read"
	jqeq "$OUT" '.devices[0].st7_profiles|tojson' '["st72f65"]' "profile from descriptors alone"
else
	echo "permission case skipped: needs root, runuser and binaries 'nobody' can run" >&2
fi

# No DFU device at all (only a device of another kind, if the emulator offers one;
# otherwise outside the emulation).
run "$ST7DFU" list --json
expect_rc 0 "no devices"
jqeq "$OUT" '.devices|length' 0 "empty list"

finish
