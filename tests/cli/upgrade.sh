#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# st7dfu upgrade / rollback / upload / download / detach / status through real libusb
# against the emulated ST7 (tests/emu): an upgrade of every profile, every fault the
# emulator can inject ending in a defined state within bounded time, recovery of a
# device left in DFU mode, and device selection.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
EMU=("$ST7DFU_EMU" --timeout 120)
D=$TESTS/data

# Old (1.02) and new (1.03) firmware for each profile, from the bundled examples.
mk() { # PROFILE BCD OUT
	local src=$D/st72f65-app.hex
	case $1 in st72f62) src=$T/f62.bin@0xE000 ;; st72f63) src=$D/st72f63-app.s19 ;; esac
	"$ST7DFU" pack -o "$3" --vid 0483 --pid ff03 --bcd "$2" --profile "$1" --stamp-version "$src" >/dev/null ||
		fail "pack $*"
}
head -c 3000 /dev/urandom >"$T/f62.bin"
for p in st72f62 st72f63 st72f65; do
	mk $p 1.02 "$T/$p-old.dfu"
	mk $p 1.03 "$T/$p-new.dfu"
	size=$(($(stat -c %s "$T/$p-old.dfu") - 16))
	head -c $size "$T/$p-old.dfu" >"$T/$p-old.bin"
	head -c $size "$T/$p-new.dfu" >"$T/$p-new.bin"
done

test_keys
sign_all
P=st72f65
# 0. Bad command lines and bad files are refused before any USB access (no emulator).
run "$ST7DFU" upgrade --keys "$K" -d nonsense "$T/$P-new.dfu"
expect_rc 2 "-d without VID:PID"
has "$ERR" "expected VID:PID" "-d message"
run "$ST7DFU" upgrade --keys "$K" --retries 0 "$T/$P-new.dfu"
expect_rc 2 "--retries 0"
run "$ST7DFU" upgrade --keys "$K" --reenum-timeout soon "$T/$P-new.dfu"
expect_rc 2 "--reenum-timeout not a number"
run "$ST7DFU" upgrade
expect_rc 2 "upgrade without FILE"
run "$ST7DFU" rollback extra-arg
expect_rc 2 "rollback with an argument"
run "$ST7DFU" upload
expect_rc 2 "upload without -o"
run "$ST7DFU" upgrade --keys "$K" "$T/missing.dfu"
expect_rc 4 "missing file"
cp "$T/$P-new.dfu" "$T/badcrc.dfu"
printf '\000' | dd of="$T/badcrc.dfu" bs=1 seek=100 conv=notrunc 2>/dev/null
sign_all # signed, so that the check after the signature's is the one that refuses it
run "${EMU[@]}" --report "$T/rep.json" --device kind=st7 -- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/s0" "$T/badcrc.dfu"
expect_rc 3 "corrupt file refused"
has "$ERR" "dwCRC" "corrupt file names the field"
jqeq "$(cat "$T/rep.json")" '.devices[0].control_transfers' 0 "corrupt file: the device was not touched"
[ ! -e "$T/s0" ] && ok || fail "corrupt file: nothing stored"
run "$ST7DFU" help upgrade
expect_rc 0 "help upgrade"
has "$OUT" "Exit status:" "help lists exit codes"
has "$OUT" " 9  the update failed and so did the rollback" "help names exit 9"

# 1. An upgrade of each profile from runtime mode.
for p in st72f62 st72f63 st72f65; do
	S=$T/state-$p
	run "${EMU[@]}" --report "$T/rep.json" \
		--device "kind=st7,profile=$p,serial=U-$p,flash-in=$T/$p-old.bin,flash-out=$T/$p-flash.bin" \
		-- "$ST7DFU" upgrade --keys "$K" --state-dir "$S" "$T/$p-new.dfu"
	expect_rc 0 "$p upgrade"
	has "$OUT" "now running 0x0103" "$p reports the new version"
	cmp -s "$T/$p-flash.bin" "$T/$p-new.bin" && ok || fail "$p: flash equals the image"
	R=$(cat "$T/rep.json")
	jqeq "$R" '.devices[0].mode' runtime "$p back in runtime mode"
	jqeq "$R" '.devices[0].version' 259 "$p runs 0x0103"
	jqeq "$R" '.devices[0].app_valid' true "$p application valid"
	b=$S/backups/0483-ff03-U-$p/0102.dfu
	[ -f "$b" ] && ok || fail "$p backup stored at $b"
	run "$ST7DFU" info --json --profile "$p" "$b"
	expect_rc 0 "$p backup is a valid .dfu"
	jqeq "$OUT" '.files[0].suffix.bcdDevice' 258 "$p backup carries the old version"
	jqeq "$OUT" '.files[0].suffix.idProduct' 65283 "$p backup carries the runtime PID"
	cmp -s <(head -c -16 "$b") "$T/$p-old.bin" && ok || fail "$p: backup equals the old flash"
done

# 2. The same version again: nothing to do; an older one: refused unless allowed.
P=st72f65
run "${EMU[@]}" --device "kind=st7,serial=N,flash-in=$T/$P-new.bin" -- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/s2" "$T/$P-new.dfu"
expect_rc 5 "same version: nothing to do"
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,serial=N,flash-in=$T/$P-new.bin" -- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/s2" "$T/$P-old.dfu"
expect_rc 3 "downgrade refused"
has "$ERR" "older than the installed firmware" "downgrade message"
jqeq "$(cat "$T/rep.json")" '.devices[0].requests.DNLOAD' 0 "refused: no DNLOAD sent"
run "${EMU[@]}" --device "kind=st7,serial=N,flash-in=$T/$P-new.bin" -- "$ST7DFU" upgrade --keys "$K" --allow-downgrade --state-dir "$T/s2" "$T/$P-old.dfu"
expect_rc 0 "downgrade allowed"
# A file for another part or vendor is refused before the device is touched.
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,profile=st72f63,serial=W" -- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/s2" "$T/st72f65-new.dfu"
expect_rc 3 "wrong part refused"
has "$ERR" "fits no ST7 part" "wrong part message"
jqeq "$(cat "$T/rep.json")" '.devices[0].requests.DETACH' 0 "wrong part: not even detached"
"$ST7DFU" pack -o "$T/other.dfu" --vid 1234 --pid ff03 --bcd 1.05 --profile st72f65 --stamp-version "$D/st72f65-app.hex" >/dev/null
sign_all
run "${EMU[@]}" --device "kind=st7,serial=W" -- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/s2" "$T/other.dfu"
expect_rc 3 "wrong vendor refused"
has "$ERR" "idVendor 0x1234" "vendor message"

# 3. Every fault: a defined end state within bounded time.
# spec | extra options | expected exit | final mode | final version (old/new/-)
SCEN=0
declare -A ENDINGS
while IFS='|' read -r spec extra want mode ver; do
	[ -z "$spec" ] && continue
	SCEN=$((SCEN + 1))
	t0=$(date +%s)
	# shellcheck disable=SC2086
	run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,serial=F$SCEN,flash-in=$T/$P-old.bin,$spec" \
		-- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/sf$SCEN" --reenum-timeout 3000 $extra "$T/$P-new.dfu"
	secs=$(($(date +%s) - t0))
	R=$(cat "$T/rep.json" 2>/dev/null)
	got_mode=$(jq -r '.devices[0].mode' <<<"$R")
	got_ver=$(jq -r '.devices[0].version' <<<"$R")
	case $RC in
	0) end="recovered by retry" ;; 8) end="rolled back" ;; 9) end="left in DFU mode" ;; 14) end="updated, backup unproven" ;;
	7) end="failed before any change" ;; 6) end="device refused" ;; *) end="exit $RC" ;;
	esac
	ENDINGS[$end]=$((${ENDINGS[$end]:-0} + 1))
	printf 'scenario %2d  %-45s -> %-26s (exit %s, %s, version %s, %ss)\n' $SCEN "$spec" "$end" $RC "$got_mode" "$got_ver" $secs
	expect_rc "$want" "fault $spec"
	eq "$got_mode" "$mode" "fault $spec: final mode"
	case $ver in
	new) eq "$got_ver" 259 "fault $spec: runs the new version" ;;
	old) eq "$got_ver" 258 "fault $spec: runs the old version" ;;
	esac
	[ "$secs" -le 90 ] && ok || fail "fault $spec took ${secs}s"
done <<'EOF_SCEN'
stall-block=5||0|runtime|new
stall-block=0||0|runtime|new
error-block=3,error-status=errWRITE||0|runtime|new
error-block=200,error-status=errVERIFY||0|runtime|new
poll-ms=0||0|runtime|new
poll-ms=16777215|--max-poll 20|0|runtime|new
getstatus-timeout=40||0|runtime|new
unplug-block=20,replug-ms=200||0|runtime|new
unplug-state=dfuDNBUSY,replug-ms=100||0|runtime|new
unplug-state=dfuMANIFEST,replug-ms=100||0|runtime|new
unplug-state=dfuMANIFEST,replug-ms=100,fault-times=2||8|runtime|old
upload-short=1000||7|runtime|old
upload-long=1||7|runtime|old
upload-corrupt=100|--verify|0|runtime|new
upload-corrupt=100,fault-times=0||14|runtime|new
no-reenum=1||7|runtime|old
stall-block=5,fault-times=0||9|dfu|-
error-block=7,error-status=errPROG,fault-times=0||9|dfu|-
wrong-version=0x0999,fault-times=0||9|runtime|-
reject-image=1,fault-times=0||9|dfu|-
unplug-block=20,replug-ms=never||9|unplugged|-
EOF_SCEN
echo "fault scenarios: $SCEN"
for k in "${!ENDINGS[@]}"; do echo "  ${ENDINGS[$k]} $k"; done

# 4. A device found in DFU mode with an invalid application (an interrupted update)
# is recovered by upgrade, and by rollback from a stored backup.
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,mode=dfu,app=invalid,serial=R1" -- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/sr" "$T/$P-new.dfu"
expect_rc 0 "upgrade recovers a DFU-mode device"
jqeq "$(cat "$T/rep.json")" '.devices[0].version' 259 "recovered device runs the new version"
# (The emulator stamps a version word into erased memory: that counts as an image.)
has "$ERR" "backing up what its memory holds" "a DFU-mode device without a backup: its memory is kept"
mkdir -p "$T/sr2/backups/0483-ff03-R2"
cp "$T/$P-old.dfu" "$T/sr2/backups/0483-ff03-R2/0102.dfu"
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,mode=dfu,app=invalid,serial=R2" -- "$ST7DFU" rollback --state-dir "$T/sr2"
expect_rc 0 "rollback recovers a DFU-mode device"
jqeq "$(cat "$T/rep.json")" '.devices[0].version' 258 "rolled back to the stored version"
# A damaged newest backup is skipped for the newest valid one; nothing is deleted.
mkdir -p "$T/sr4/backups/0483-ff03-R5"
cp "$T/$P-old.dfu" "$T/sr4/backups/0483-ff03-R5/0102.dfu"
head -c 20000 "$T/$P-new.dfu" >"$T/sr4/backups/0483-ff03-R5/0103.dfu"
touch -d '+1 minute' "$T/sr4/backups/0483-ff03-R5/0103.dfu"
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,mode=dfu,app=invalid,serial=R5" -- "$ST7DFU" rollback --state-dir "$T/sr4"
expect_rc 0 "rollback skips a damaged backup"
has "$ERR" "skipping damaged backup" "damaged backup named"
jqeq "$(cat "$T/rep.json")" '.devices[0].version' 258 "restored the valid backup"
[ -f "$T/sr4/backups/0483-ff03-R5/0103.dfu" ] && ok || fail "damaged backup kept for inspection"
# --keep-backups: the newest N stay, by modification time (not by version number).
mkdir -p "$T/sk/backups/0483-ff03-KB"
for v in 0099 0100 0101; do cp "$T/$P-old.dfu" "$T/sk/backups/0483-ff03-KB/$v.dfu"; touch -d "-$((10#$v)) seconds" "$T/sk/backups/0483-ff03-KB/$v.dfu"; done
run "${EMU[@]}" --device "kind=st7,serial=KB,flash-in=$T/$P-old.bin" -- "$ST7DFU" upgrade --keys "$K" --keep-backups 2 --state-dir "$T/sk" "$T/$P-new.dfu"
expect_rc 0 "upgrade with --keep-backups 2"
eq "$(cd "$T/sk/backups/0483-ff03-KB" && printf '%s ' *)" "0099.dfu 0102.dfu " "newest two backups kept"
run "${EMU[@]}" --device "kind=st7,mode=dfu,app=invalid,serial=R3" -- "$ST7DFU" rollback --state-dir "$T/sr3"
expect_rc 4 "rollback without a backup"
has "$ERR" "no stored backup" "no backup message"
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,serial=R4" -- "$ST7DFU" rollback --keys "$K" --to "$T/$P-old.dfu" --allow-downgrade
expect_rc 0 "rollback --to FILE"

# 5. upload, download, detach, status, and device selection.
run "${EMU[@]}" --device "kind=st7,serial=X1,flash-in=$T/$P-old.bin" -- "$ST7DFU" upload -o "$T/up.dfu"
expect_rc 0 "upload"
cmp -s "$T/up.dfu" "$T/$P-old.dfu" && ok || fail "upload equals the old image with its suffix"
# ST72F62 and F63 look alike on the bus: upload reads what the device sends.
run "${EMU[@]}" --device "kind=st7,profile=st72f63,serial=X3,flash-in=$T/st72f63-old.bin" -- "$ST7DFU" upload -o "$T/up63.dfu"
expect_rc 0 "upload from an ST72F63 without --profile"
cmp -s "$T/up63.dfu" "$T/st72f63-old.dfu" && ok || fail "ST72F63 upload equals its image"
run "${EMU[@]}" --device "kind=st7,profile=st72f62,mode=dfu,serial=X2,flash-in=$T/st72f62-old.bin" -- "$ST7DFU" upload -o "$T/up62.dfu"
expect_rc 0 "upload from an ST72F62 in DFU mode"
run "$ST7DFU" info --json "$T/up62.dfu"
jqeq "$OUT" '.files[0].st7.version_word' 258 "DFU-mode upload takes the version word"
run "${EMU[@]}" --device "kind=st7,serial=X1,flash-out=$T/dl.bin" -- "$ST7DFU" download --keys "$K" "$T/$P-new.dfu"
expect_rc 0 "download"
cmp -s "$T/dl.bin" "$T/$P-new.bin" && ok || fail "download wrote the payload"
run "${EMU[@]}" --report "$T/rep.json" --device kind=st7 -- "$ST7DFU" detach
expect_rc 0 "detach"
jqeq "$(cat "$T/rep.json")" '.devices[0].mode' dfu "detached into DFU mode"
run "${EMU[@]}" --device kind=st7,mode=dfu -- "$ST7DFU" status --path 1-1 --json
expect_rc 0 "status"
jqeq "$OUT" '.state' dfuIDLE "status state"
jqeq "$OUT" '.mode' dfu "status mode"
run "${EMU[@]}" --device kind=st7,serial=A --device kind=st7,serial=B -- "$ST7DFU" status -d 0483:ff03
expect_rc 6 "two devices: ambiguous"
has "$ERR" "2 DFU devices match" "ambiguity lists them"
run "${EMU[@]}" --device kind=st7,serial=A --device kind=st7,serial=B -- "$ST7DFU" status --serial B
expect_rc 0 "--serial picks one"
run "${EMU[@]}" --device kind=st7,serial=A --device kind=st7,serial=B -- "$ST7DFU" status --path 1-2
expect_rc 0 "--path picks one"
run "${EMU[@]}" --device kind=st7 -- "$ST7DFU" status -d 1234:5678
expect_rc 6 "no match"
run "${EMU[@]}" --device kind=st7,desc=xfer0 -- "$ST7DFU" status --path 1-1
expect_rc 6 "malformed device is not used"

# 6. SIGINT during the download (twice): stops at a safe point with DFU_ABORT, exit 10;
# the device waits in DFU mode (its application was erased) and is recovered.
# shellcheck disable=SC2016 # the script is for sh -c: its $-expansions are its own
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,serial=I,flash-in=$T/$P-old.bin" \
	-- sh -c '"$0" upgrade --keys "$3" --state-dir "$1" "$2" 2>"$4" & p=$!
		for _ in $(seq 3000); do grep -qF "st7dfu: download..." "$4" && break; sleep 0.02; done
		sleep 0.3; kill -INT $p; sleep 0.05; kill -INT $p; wait $p' \
	"$ST7DFU" "$T/si" "$T/$P-new.dfu" "$K" "$T/si.err" \
	--then -- "$ST7DFU" status --path 1-1 --json
R=$(cat "$T/rep.json")
has "$(cat "$T/si.err")" "st7dfu: download..." "the SIGINTs came during the download"
jqeq "$R" '.commands[0].status' 10 "interrupted upgrade exits 10"
jqeq "$R" '.devices[0].requests.ABORT >= 1' true "DFU_ABORT sent"
jqeq "$(tail -n1 <<<"$OUT")" '.state' dfuIDLE "device left in dfuIDLE, recoverable"
# shellcheck disable=SC2016 # the script is for sh -c: its $-expansions are its own
run "${EMU[@]}" --report "$T/rep.json" --device "kind=st7,serial=I,flash-in=$T/$P-old.bin" \
	-- sh -c '"$0" upgrade --keys "$3" --state-dir "$1" "$2" 2>"$4" & p=$!
		for _ in $(seq 3000); do grep -qF "st7dfu: download..." "$4" && break; sleep 0.02; done
		sleep 0.3; kill -TERM $p; wait $p' \
	"$ST7DFU" "$T/si2" "$T/$P-new.dfu" "$K" "$T/si2.err" \
	--then -- "$ST7DFU" rollback --state-dir "$T/si2"
expect_rc 0 "rollback after SIGTERM"
has "$(cat "$T/si2.err")" "st7dfu: download..." "the SIGTERM came during the download"
jqeq "$(cat "$T/rep.json")" '.devices[0].version' 258 "old version back after an interrupted upgrade"

# 7. DfuSe: a two-run file to a DfuSe device (erase per page, write, leave), from DFU
# mode and from runtime mode; memory outside the layout refused before any erase.
head -c 40000 /dev/urandom >"$T/ds1.bin"
head -c 5000 /dev/urandom >"$T/ds2.bin"
"$ST7DFU" pack -o "$T/ds.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x2200 "$T/ds1.bin@0x08000000" "$T/ds2.bin@0x0800C000" >/dev/null
sign_all
for m in dfu runtime; do
	run "${EMU[@]}" --report "$T/rep.json" --device "kind=dfuse,mode=$m,flash-out=$T/dsf.bin" -- "$ST7DFU" download --keys "$K" "$T/ds.dfu"
	expect_rc 0 "DfuSe download from $m mode"
	cmp -s <(head -c 40000 "$T/dsf.bin") "$T/ds1.bin" && ok || fail "DfuSe run 1 ($m)"
	cmp -s <(tail -c +$((0xC000 + 1)) "$T/dsf.bin" | head -c 5000) "$T/ds2.bin" && ok || fail "DfuSe run 2 ($m)"
	jqeq "$(cat "$T/rep.json")" '.devices[0].mode' runtime "DfuSe device left DFU mode ($m)"
done
"$ST7DFU" pack -o "$T/dsbad.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x2200 "$T/ds2.bin@0x08100000" >/dev/null
sign_all
run "${EMU[@]}" --report "$T/rep.json" --device kind=dfuse,mode=dfu -- "$ST7DFU" download --keys "$K" "$T/dsbad.dfu"
expect_rc 3 "DfuSe element outside memory refused"
has "$ERR" "not erasable and writable memory" "DfuSe layout message"
jqeq "$(cat "$T/rep.json")" '.devices[0].requests.DNLOAD' 0 "nothing erased"
run "${EMU[@]}" --device kind=dfuse,mode=dfu -- "$ST7DFU" download --keys "$K" "$T/$P-new.dfu"
expect_rc 3 "plain image to a DfuSe device refused"
# DfuSe upgrade: the pages the image will erase are backed up first (as a DfuSe file),
# --verify reads the elements back, and rollback puts the pages back.
head -c 65536 /dev/urandom >"$T/dsorig.bin"
"$ST7DFU" pack -o "$T/dsv.dfu" --format dfuse --vid 0483 --pid ffff --bcd 0xffff "$T/ds1.bin@0x08000000" "$T/ds2.bin@0x0800C000" >/dev/null
sign_all
run "${EMU[@]}" --report "$T/rep.json" --device "kind=dfuse,serial=DS,flash-in=$T/dsorig.bin,flash-out=$T/dsf.bin" \
	-- "$ST7DFU" upgrade --keys "$K" --allow-wildcard --allow-unversioned --verify --state-dir "$T/sds" "$T/dsv.dfu" \
	--then -- cp "$T/sds/backups/0483-ff03-DS/0100.dfu" "$T/dsbackup.dfu" \
	--then -- "$ST7DFU" rollback --state-dir "$T/sds"
expect_rc 0 "DfuSe upgrade, then rollback"
run "$ST7DFU" info --json "$T/dsbackup.dfu"
expect_rc 0 "DfuSe backup is a valid DfuSe file"
jqeq "$OUT" '.files[0].dfuse.targets[0].elements|length' 1 "backup covers the touched pages"
jqeq "$OUT" '.files[0].dfuse.targets[0].elements[0].size' 65536 "four 16 KiB pages"
cmp -s "$T/dsf.bin" "$T/dsorig.bin" && ok || fail "rollback restored the original DfuSe memory"
# A DfuSe write error is retried; a persistent one rolls back to the pages saved before.
run "${EMU[@]}" --report "$T/rep.json" --device "kind=dfuse,serial=DE,flash-in=$T/dsorig.bin,flash-out=$T/dsf.bin,error-block=6,error-status=errWRITE" \
	-- "$ST7DFU" upgrade --keys "$K" --allow-wildcard --allow-unversioned --state-dir "$T/sde1" "$T/dsv.dfu"
expect_rc 0 "DfuSe write error retried"
has "$ERR" "DfuSe download attempt 1 of 3 failed" "DfuSe retry logged"
run "${EMU[@]}" --report "$T/rep.json" --device "kind=dfuse,serial=DE,flash-in=$T/dsorig.bin,flash-out=$T/dsf.bin,error-block=6,error-status=errWRITE,fault-times=3" \
	-- "$ST7DFU" upgrade --keys "$K" --allow-wildcard --allow-unversioned --state-dir "$T/sde" "$T/dsv.dfu"
expect_rc 8 "DfuSe write error rolled back"
cmp -s "$T/dsf.bin" "$T/dsorig.bin" && ok || fail "DfuSe memory restored after a failed write"
# Real DfuSe versions: the device reports the word at 0x0800FFFC (version-addr), the
# image carries 1.04 there; the post-check compares, an older image is refused.
dsver() { # OUT BCD-HEX-LOW BCD-HEX-HIGH: 64 KiB with the version word at 0xFFFC
	head -c 65532 /dev/urandom >"$1"
	printf '%b' "\\x$2\\x$3\\xff\\xff" >>"$1"
}
dsver "$T/dsv102.bin" 02 01
dsver "$T/dsv104.bin" 04 01
dsver "$T/dsv101.bin" 01 01
"$ST7DFU" pack -o "$T/dsv104.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x0104 "$T/dsv104.bin@0x08000000" >/dev/null
"$ST7DFU" pack -o "$T/dsv101.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x0101 "$T/dsv101.bin@0x08000000" >/dev/null
sign_all
DSV="kind=dfuse,serial=DV,version-addr=0x0800FFFC"
run "${EMU[@]}" --report "$T/rep.json" --device "$DSV,flash-in=$T/dsv102.bin,flash-out=$T/dsf.bin" \
	-- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/sdv" "$T/dsv104.dfu"
expect_rc 0 "DfuSe upgrade 1.02 -> 1.04"
jqeq "$(cat "$T/rep.json")" '.devices[0].version' 260 "DfuSe device runs 1.04"
cmp -s "$T/dsf.bin" "$T/dsv104.bin" && ok || fail "DfuSe memory holds the new image"
[ -f "$T/sdv/backups/0483-ff03-DV/0102.dfu" ] && ok || fail "DfuSe backup named by its real version"
run "${EMU[@]}" --report "$T/rep.json" --device "$DSV,flash-in=$T/dsv104.bin" \
	-- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/sdv" "$T/dsv101.dfu"
expect_rc 3 "DfuSe downgrade refused"
jqeq "$(cat "$T/rep.json")" '.devices[0].requests.DNLOAD' 0 "DfuSe downgrade: nothing downloaded"
run "${EMU[@]}" --report "$T/rep.json" --device "$DSV,flash-in=$T/dsv104.bin,flash-out=$T/dsf.bin" \
	-- "$ST7DFU" rollback --state-dir "$T/sdv"
expect_rc 0 "DfuSe rollback to 1.02"
jqeq "$(cat "$T/rep.json")" '.devices[0].version' 258 "DfuSe device runs 1.02 again"
cmp -s "$T/dsf.bin" "$T/dsv102.bin" && ok || fail "DfuSe rollback restored the old memory"
run "${EMU[@]}" --device kind=dfuse -- "$ST7DFU" upgrade --keys "$K" --state-dir "$T/sd" "$T/$P-new.dfu"
expect_rc 3 "plain image refused by a DfuSe device"
has "$ERR" "a DfuSe device takes DfuSe files" "DfuSe kind message"

# --json events
run "${EMU[@]}" --device "kind=st7,serial=J,flash-in=$T/$P-old.bin" -- "$ST7DFU" upgrade --keys "$K" --json --state-dir "$T/sj" "$T/$P-new.dfu"
expect_rc 0 "upgrade --json"
jqeq "$(tail -n1 <<<"$OUT")" '.outcome' "done" "json outcome"
jqeq "$(tail -n1 <<<"$OUT")" '.from_version' 258 "json from"
jqeq "$(tail -n1 <<<"$OUT")" '.to_version' 259 "json to"
jqeq "$(head -n1 <<<"$OUT")" '.event' progress "json progress events"

finish
