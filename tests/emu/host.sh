#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# st7dfu-emu's own contract: the command line and its errors, exit statuses (last
# command, 128+signal, 124 on timeout, 127), --then, state kept between commands,
# flash-in/flash-out, the JSON report field by field, and what the commands inherit.
. "$(dirname "$0")/../cli/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
EMU=$ST7DFU_EMU
README=$TESTS/emu/README.md

# A live process (zombies count as gone: PID 1 may not reap orphans here).
alive() {
	local s
	s=$(ps -o stat= -p "$1" 2>/dev/null)
	[ -n "$s" ] && [ "${s#Z}" = "$s" ]
}

keys="kind profile mode serial version version-addr vid pid dfu-pid flash-in flash-out app
mem-size transfer-size detach-timeout will-detach manifest-tolerant layout bus erase-ms prog-ms
manifest-ms reenum-ms plug-ms stall-block error-block error-status fault-times poll-ms
getstatus-timeout unplug-state unplug-block replug-ms no-reenum wrong-version reject-image
upload-corrupt upload-short upload-long desc"

# --help and README.md document every key.
run "$EMU" --help
expect_rc 0 "--help"
for k in $keys; do
	has "$OUT" "$k=" "--help documents $k"
	grep -q -- "\`$k=" "$README" && ok || fail "README.md documents $k"
done
has "$OUT" "--then" "--help shows --then"

# Command-line errors: exit 2, naming what is wrong.
run "$EMU" --bogus -- true
expect_rc 2 "unknown option"
has "$ERR" "--bogus" "unknown option named"
run "$EMU"
expect_rc 2 "no command"
run "$EMU" --
expect_rc 2 "empty command"
run "$EMU" -- true --then true
expect_rc 2 "--then without --"
has "$ERR" "--then" "--then error"
run "$EMU" --timeout 0 -- true
expect_rc 2 "--timeout 0"
run "$EMU" --timeout abc -- true
expect_rc 2 "--timeout abc"
for spec in "colour=red:colour" "kind=st8:kind" "profile=st99:profile" "mode=sleep:mode" \
	"version=0x12345:version" "vid=xyz:vid" "transfer-size=0:transfer-size" \
	"bus=usb3:bus" "error-status=errNOPE,error-block=1:error-status" "desc=pretty:desc" \
	"replug-ms=soon:replug-ms" "unplug-state=dfuNAP:unplug-state" "app=maybe:app" \
	"kind=dfu11,profile=st72f62:profile" "kind=st7,layout=@x/0x0/1*1Kg:layout" \
	"app=invalid:app" "fault-times=-1:fault-times" "version-addr=0x100:version-addr" \
	"plug-ms=soon:plug-ms" \
	"kind=dfuse,version-addr=0x08010000:version-addr"; do
	run "$EMU" --device "${spec%:*}" -- true
	expect_rc 2 "bad SPEC ${spec%:*}"
	has "$ERR" "${spec##*:}" "bad SPEC ${spec%:*} names the key"
done
head -c 100000 /dev/zero >"$T/big.bin"
run "$EMU" --device "flash-in=$T/big.bin" -- true
expect_rc 2 "flash-in larger than the region"
has "$ERR" "flash-in" "flash-in error named"
run "$EMU" --device "flash-in=$T/missing.bin" -- true
expect_rc 2 "missing flash-in"

# Exit statuses: the last command's; 128+signal; 124 on timeout; 127 when it cannot run.
run "$EMU" --timeout 30 -- sh -c 'exit 3'
expect_rc 3 "exit status passed through"
run "$EMU" --timeout 30 --report "$T/r.json" -- sh -c 'kill -TERM $$'
expect_rc 143 "killed by SIGTERM"
R=$(cat "$T/r.json")
jqeq "$R" '.commands[0].status' 143 "report status of a signalled command"
jqeq "$R" '.commands[0].signal' 15 "report signal"
start=$(date +%s)
run "$EMU" --timeout 1 --report "$T/r.json" -- sh -c "(sleep 5; touch $T/survived) & echo \$! >$T/bg; sleep 30"
expect_rc 124 "timeout"
[ $(($(date +%s) - start)) -lt 10 ] && ok || fail "timeout took too long"
jqeq "$(cat "$T/r.json")" '.commands[0].status' 124 "report status 124"
if alive "$(cat "$T/bg")"; then fail "a timed-out command's background job survived"; else ok; fi
run "$EMU" --timeout 30 -- sh -c "(sleep 5; touch $T/survived) & echo \$! >$T/bg; exit 0"
expect_rc 0 "background job left behind"
sleep 0.2
if alive "$(cat "$T/bg")"; then fail "a command's background job outlived it"; else ok; fi
run "$EMU" --timeout 30 -- "$T/no-such-program"
expect_rc 127 "command not found"
run "$EMU" --timeout 30 --report "$T/r.json" -- sh -c 'exit 4' --then -- sh -c 'exit 5'
expect_rc 5 "--then: the last command's status"
R=$(cat "$T/r.json")
jqeq "$R" '.commands | length' 2 "--then: two commands reported"
jqeq "$R" '.commands[0].argv | join(" ")' "sh -c exit 4" "--then: argv of the first"
jqeq "$R" '.commands[0].status' 4 "--then: first status"
jqeq "$R" '.commands[1].signal' null "--then: no signal"
run "$EMU" --timeout 30 -- false --then -- true
expect_rc 0 "--then: a failing first command does not stop the second"
# The emulator itself, signalled: forwards to the command, still writes its report.
# The signal goes once the command runs (a loaded machine, an ASan build: starting the
# emulator can take longer than any fixed delay).
rm -f "$T/r.json" "$T/started"
"$EMU" --timeout 30 --report "$T/r.json" -- sh -c ": >'$T/started'; exec sleep 30" >/dev/null 2>&1 &
emu_pid=$!
for _ in $(seq 600); do [ -e "$T/started" ] && break; sleep 0.05; done
kill -TERM "$emu_pid"
wait "$emu_pid"
RC=$?
eq "$RC" 143 "emulator killed by SIGTERM"
jqeq "$(cat "$T/r.json")" '.commands[0].signal' 15 "SIGTERM forwarded"

# What the commands see: the preload, the testbed, the devices in sysfs.
# shellcheck disable=SC2016 # the script is for sh -c under the emulator: it shows the environment there
run "$EMU" --timeout 30 --device kind=st7 --device kind=dfuse,mode=dfu -- sh -c \
	'echo "$LD_PRELOAD|${UMOCKDEV_DIR:+dir}|${ST7EMU_REEXEC:-unset}"; cat /sys/bus/usb/devices/1-1/idVendor /sys/bus/usb/devices/1-2/idProduct /sys/bus/usb/devices/1-1/speed; ls /dev/bus/usb/001'
expect_rc 0 "environment"
has "$OUT" "libumockdev-preload.so" "LD_PRELOAD inherited"
has "$OUT" "|dir|unset" "UMOCKDEV_DIR inherited, re-exec marker not"
has "$OUT" $'0483\ndf11\n12' "sysfs attributes"
has "$OUT" $'002\n003' "device nodes"

# flash-in / flash-out: the region, padded with 0xFF; version= stamps the word.
head -c 100 /dev/urandom >"$T/in.bin"
echo stale >"$T/out.bin"
run "$EMU" --timeout 30 --device "profile=st72f62,mode=dfu,flash-in=$T/in.bin,flash-out=$T/out.bin,version=0x0456" -- true
expect_rc 0 "flash-in/out"
eq "$(stat -c %s "$T/out.bin")" 4096 "flash-out is the st72f62 region"
cmp -s -n 100 "$T/in.bin" "$T/out.bin" && ok || fail "flash-out starts with flash-in"
eq "$(tail -c +101 "$T/out.bin" | head -c 3994 | tr -d '\377' | wc -c)" 0 "padding is 0xFF"
eq "$(tail -c 2 "$T/out.bin" | od -An -tx1 | tr -d ' \n')" 0456 "version word stamped"
eq "$(globcount "$T"/*out.bin?*)" 0 "no temporary files left"

# The report, field by field, for two devices.
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7 \
	--device kind=dfu11,mode=dfu,serial=GW-9 -- true
expect_rc 0 "report run"
R=$(cat "$T/r.json")
jqeq "$R" '.devices | length' 2 "two devices"
jqeq "$R" '.devices[0] | [.index, .kind, .profile, .serial, .mode, .state, .state_code, .status_code, .version, .app_valid, .vid, .pid, .devnum, .port_path] | map(tostring) | join(",")' \
	"0,st7,st72f65,ST7-0001,runtime,appIDLE,0,0,256,true,1155,65283,2,1-1" "device 0 identity"
jqeq "$R" '.devices[1] | [.index, .kind, .profile, .serial, .mode, .state, .state_code, .version, .app_valid, .pid, .devnum, .port_path] | map(tostring) | join(",")' \
	"1,dfu11,null,GW-9,dfu,dfuIDLE,2,256,false,57105,3,1-2" "device 1 identity"
jqeq "$R" '.devices[0].requests | keys | join(",")' \
	"ABORT,CLRSTATUS,DETACH,DNLOAD,GETSTATE,GETSTATUS,GET_DESCRIPTOR,UPLOAD,other" "request keys"
jqeq "$R" '.devices[0] | [.reenumerations, .resets, .control_transfers, .dfu_requests, .mandated_ms, .elapsed_ms, .faults_fired] | map(tostring) | join(",")' \
	"0,0,0,0,0,0,0" "untouched device counters"
jqeq "$R" '[.devices[0] | keys[]] | length' 22 "device keys"

# State persists between commands: detach in the first, DFU mode in the second.
command -v dfu-util >/dev/null && {
	run "$EMU" --timeout 60 -v --report "$T/r.json" --device kind=dfu11 -- dfu-util -e \
		--then -- dfu-util -l
	expect_rc 0 "detach then list"
	has "$OUT" 'Found DFU: [0483:df11]' "second command sees DFU mode"
	has "$ERR" "plugged /dev/bus/usb/001/003" "-v logs plug events"
	has "$ERR" " 21 00 03e8 0001    0 -> ok" "-v logs control requests"
	jqeq "$(cat "$T/r.json")" '.devices[0].reenumerations' 1 "one re-enumeration"
}

# An unplugged device in the report.
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7,mode=dfu,unplug-state=dfuERROR \
	-- "${ST7EMU_USBCHECK:-true}" timeout
R=$(cat "$T/r.json")
jqeq "$R" '.devices[0] | [.mode, .state, .state_code, .status_code, .version, .pid, .devnum] | map(tostring) | join(",")' \
	"dfu,dfuIDLE,2,0,256,57105,2" "device left alone stays"
printf 'x' >"$T/blk"
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7,mode=dfu,unplug-block=0 \
	-- sh -c "dfu-util -D $T/blk >/dev/null 2>&1; true"
R=$(cat "$T/r.json")
jqeq "$R" '.devices[0] | [.mode, .state, .state_code, .status_code, .version, .pid, .devnum, .faults_fired] | map(tostring) | join(",")' \
	"unplugged,null,null,null,null,null,null,1" "unplugged device"

# plug-ms: off the bus until plug-ms after the first command started, then plugged in
# (an "add") in its power-on mode on its own port; not a re-enumeration.
# shellcheck disable=SC2016 # expanded by the command's shell
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7 \
	--device kind=dfu11,mode=dfu,serial=PL,plug-ms=3000 -- sh -c \
	'ls /sys/bus/usb/devices; echo ---; for _ in $(seq 300); do [ -e /sys/bus/usb/devices/1-2/serial ] && break; sleep 0.05; done
	ls /sys/bus/usb/devices; cat /sys/bus/usb/devices/1-2/serial'
expect_rc 0 "plug-ms"
has "$OUT" $'1-1\n---' "plug-ms: not there when the command starts"
has "$OUT" $'---\n1-1\n1-2\nPL' "plug-ms: there later"
R=$(cat "$T/r.json")
jqeq "$R" '.devices[1] | [.mode, .state, .state_code, .status_code, .version, .app_valid, .pid, .devnum, .port_path, .reenumerations, .faults_fired] | map(tostring) | join(",")' \
	"dfu,dfuIDLE,2,0,256,false,57105,3,1-2,0,0" "plug-ms: plugged device"
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7,plug-ms=60000 -- true
expect_rc 0 "plug-ms never reached"
jqeq "$(cat "$T/r.json")" '.devices[0] | [.mode, .state, .state_code, .status_code, .version, .app_valid, .vid, .pid, .devnum, .reenumerations] | map(tostring) | join(",")' \
	"unplugged,null,null,null,null,true,1155,null,null,0" "plug-ms: not plugged in yet"
# Counted from the first command, not waited for before the next one.
# shellcheck disable=SC2016 # expanded by the command's shell
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7,plug-ms=3000 -- true --then -- \
	sh -c 'ls /sys/bus/usb/devices; for _ in $(seq 300); do [ -e /sys/bus/usb/devices/1-1/serial ] && break; sleep 0.05; done
	echo ---; ls /sys/bus/usb/devices'
expect_rc 0 "plug-ms with --then"
eq "$OUT" $'---\n1-1' "plug-ms: plugged in during the second command"
jqeq "$(cat "$T/r.json")" '.devices[0].mode' runtime "plug-ms: runtime mode at the end"
# plug-ms=signal: each SIGUSR1 to the emulator (its pid in ST7DFU_EMU_PID) plugs in the
# first device still waiting, whenever the test decides; one never signalled stays off.
# shellcheck disable=SC2016 # expanded by the command's shell
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7,serial=S1,plug-ms=signal \
	--device kind=st7,serial=S2,plug-ms=signal --device kind=st7,serial=S3,plug-ms=signal -- sh -c '
	sleep 0.3; ls /sys/bus/usb/devices 2>/dev/null; echo ---
	kill -USR1 "$ST7DFU_EMU_PID"
	for _ in $(seq 500); do [ -e /sys/bus/usb/devices/1-1/serial ] && break; sleep 0.02; done
	ls /sys/bus/usb/devices; echo ---
	kill -USR1 "$ST7DFU_EMU_PID"
	for _ in $(seq 500); do [ -e /sys/bus/usb/devices/1-2/serial ] && break; sleep 0.02; done
	ls /sys/bus/usb/devices; cat /sys/bus/usb/devices/1-2/serial'
expect_rc 0 "plug-ms=signal"
eq "$OUT" $'---\n1-1\n---\n1-1\n1-2\nS2' "plug-ms=signal: one device per SIGUSR1, in order"
jqeq "$(cat "$T/r.json")" '[.devices[] | .mode] | join(",")' "runtime,runtime,unplugged" \
	"plug-ms=signal: the third, never signalled, stays off the bus"
# A SIGUSR1 with no device waiting changes nothing.
# shellcheck disable=SC2016 # expanded by the command's shell
run "$EMU" --timeout 30 --report "$T/r.json" --device kind=st7,serial=N1 -- sh -c '
	kill -USR1 "$ST7DFU_EMU_PID"; sleep 0.3; cat /sys/bus/usb/devices/1-1/serial'
expect_rc 0 "SIGUSR1 with nothing to plug in"
eq "$OUT" "N1" "SIGUSR1 with nothing to plug in: the device is still there"
jqeq "$(cat "$T/r.json")" '.devices[0].reenumerations' 0 "SIGUSR1 with nothing to plug in: no re-enumeration"

finish
