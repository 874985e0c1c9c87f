#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# "Nothing lost, ever": one reproduction per defect of the hostile review (issue 9),
# through the real binary, real libusb and the emulated devices. Each section failed on
# the main of that time and must pass now; the assertion says what is promised.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
EMU=("$ST7DFU_EMU" --timeout 120)
cd "$T" || exit 1

# old.dfu = 1.02 and new.dfu = 1.04 for st72f65, stamped and signed; .bin = payloads.
P=st72f65
pack() { # OUT BCD [pack options...]
	local out=$1 bcd=$2
	shift 2
	"$ST7DFU" pack -o "$out" --vid 0483 --pid ff03 --bcd "$bcd" --profile $P --stamp-version "$@" \
		"$TESTS/data/st72f65-app.hex" >/dev/null || fail "pack $out"
}
pack old.dfu 1.02
pack new.dfu 1.04
pack older.dfu 1.01
"$ST7DFU" pack -o otherpid.dfu --vid 0483 --pid ff04 --bcd 1.05 --profile $P --stamp-version \
	"$TESTS/data/st72f65-app.hex" >/dev/null
"$ST7DFU" pack -o vendor1234.dfu --vid 1234 --pid ff03 --bcd 1.05 --profile $P --stamp-version \
	"$TESTS/data/st72f65-app.hex" >/dev/null
head -c 3000 /dev/urandom >f62.bin
"$ST7DFU" pack -o f62.dfu --vid 0483 --pid ff03 --bcd 1.05 --profile st72f62 --stamp-version f62.bin@0xE000 >/dev/null || fail "pack f62.dfu"
for f in old new; do head -c -16 $f.dfu >$f.bin; done
test_keys
sign_all
KEYS=(--keys "$K")
# report FILE: device 0's field; flash_is FILE WHAT: the flash dump equals FILE
dev() { jq -r ".devices[0].$1" rep.json; }
flash_is() { cmp -s flash.bin "$1" && ok || fail "$2: flash is not $1"; }
backup_of() { # DIR: the one proven backup file in a state dir's device directory
	local f
	for f in "$1"/backups/*/*.dfu; do
		[ -e "$f" ] && echo "$f" && return 0
	done
	return 0
}
payload_is() { # DFUFILE BIN WHAT
	if [ -f "$1" ] && cmp -s <(head -c -16 "$1") "$2"; then ok; else fail "$3: $1 does not hold $2"; fi
}

echo "== 1. a corrupt upload never becomes the backup"
# Transient: one UPLOAD glitch. The backup is proven by re-reading and equals old.bin.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=A1,flash-in=old.bin,flash-out=flash.bin,upload-corrupt=100" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s1 new.dfu
expect_rc 0 "transient upload corruption: upgrade"
has "$ERR" "reading it a third time" "the differing reads are noticed"
payload_is "$(backup_of s1)" old.bin "transient corruption: the backup"
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=A1,flash-in=new.bin,flash-out=flash.bin" \
	-- "$ST7DFU" rollback --state-dir s1
expect_rc 0 "rollback after a transient glitch"
flash_is old.bin "rollback restored the true old firmware"
# Persistent: the upload path is broken. The read-back after the download reveals it: the
# backup is set aside, the device keeps the new image, exit 14; rollback will not use it.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=A2,flash-in=old.bin,flash-out=flash.bin,upload-corrupt=100,fault-times=0" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s1b new.dfu
expect_rc 14 "persistent upload corruption: updated but unverified"
flash_is new.bin "persistent corruption: the device keeps the new image"
eq "$(dev version)" 260 "persistent corruption: runs 1.04"
has "$OUT" "UNVERIFIED" "the result says so"
if ls s1b/backups/*/*.dfu >/dev/null 2>&1; then fail "an unproven backup is still eligible"; else ok; fi
ls s1b/backups/*/*.dfu.unproven >/dev/null 2>&1 && ok || fail "unproven backup kept aside"
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=A2,flash-in=new.bin,flash-out=flash.bin" \
	-- "$ST7DFU" rollback --state-dir s1b
expect_rc 4 "rollback refuses an unproven backup"
flash_is new.bin "rollback left the device alone"
eq "$(dev requests.DNLOAD)" 0 "no DNLOAD from the refused rollback"
# DfuSe: the pages backed up are proven the same way.
head -c 65536 /dev/urandom >dsorig.bin
head -c 40000 /dev/urandom >ds1.bin
"$ST7DFU" pack -o ds.dfu --format dfuse --vid 0483 --pid df11 --bcd 0xffff ds1.bin@0x08000000 >/dev/null
sign_all
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=A4,flash-in=dsorig.bin,flash-out=flash.bin,upload-corrupt=200" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --allow-unversioned --state-dir s1d ds.dfu \
	--then -- "$ST7DFU" rollback --state-dir s1d
expect_rc 0 "DfuSe upgrade with an upload glitch, then rollback"
flash_is dsorig.bin "DfuSe rollback restored the true pages"

echo "== 2. kill -9 between detach and 'backup stored' keeps the old firmware safe"
# Kill while the backup is being read (the device is in DFU mode, nothing erased).
# shellcheck disable=SC2016 # the script is for sh -c (run by the emulator): its $-expansions are its own
killer='"$0" upgrade --keys "$1" --state-dir "$2" "$3" 2>"$4" & p=$!
	for _ in $(seq 3000); do grep -q "upload" "$4" 2>/dev/null && break; sleep 0.01; done
	kill -9 $p; wait $p; exit 0'
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=B,flash-in=old.bin,flash-out=flash.bin,bus=low" \
	-- sh -c "$killer" "$ST7DFU" "$K" "$T/s2" new.dfu "$T/kill.err" \
	--then -- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir "$T/s2" new.dfu
expect_rc 0 "the re-run after the kill upgrades"
grep -q "upload" kill.err && ok || fail "the kill landed during the backup"
has "$ERR" "found in DFU mode with a valid application" "the re-run asks the device"
payload_is "$(backup_of s2)" old.bin "re-run after the kill: the backup"
flash_is new.bin "re-run after the kill: the new firmware"
# The same kill, then a rollback: no backup to restore, but the device runs its
# application again instead of waiting in DFU mode.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=B2,flash-in=old.bin,flash-out=flash.bin,bus=low" \
	-- sh -c "$killer" "$ST7DFU" "$K" "$T/s2b" new.dfu "$T/kill.err" \
	--then -- "$ST7DFU" rollback --state-dir "$T/s2b"
expect_rc 4 "rollback with no backup"
eq "$(dev mode)" runtime "rollback sent the device back to its application"
eq "$(dev version)" 258 "it runs 1.02"
flash_is old.bin "rollback without a backup erased nothing"
if ls s2b/backups/*/*.tmp.* >/dev/null 2>&1; then fail "temporary file left"; else ok; fi

echo "== 3. DFU mode: the same downgrade and ID checks as runtime mode"
# A device in DFU mode whose application is valid: it is reset, runs, and is checked.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=C1,mode=dfu,app=valid,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s3 older.dfu
expect_rc 3 "DFU mode, valid application: an older image is refused"
has "$ERR" "older than the installed firmware" "downgrade message"
eq "$(dev requests.DNLOAD)" 0 "downgrade refused: nothing downloaded"
eq "$(dev mode)" runtime "the device runs its application again"
# No valid application: the version word it holds is the reference.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=C2,mode=dfu,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s3b older.dfu
expect_rc 3 "DFU mode, no valid application: the version word still orders"
has "$ERR" "version word in its memory" "the identity's source is named"
eq "$(dev requests.DNLOAD)" 0 "nothing downloaded"
# With a stored backup, its runtime IDs check the product ID.
mkdir -p s3c/backups/0483-ff03-C3 && chmod 700 s3c s3c/backups s3c/backups/0483-ff03-C3
cp old.dfu s3c/backups/0483-ff03-C3/0102.dfu && chmod 600 s3c/backups/0483-ff03-C3/0102.dfu
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=C3,mode=dfu,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s3c otherpid.dfu
expect_rc 3 "DFU mode: the product ID is checked against the backup's"
has "$ERR" "idProduct 0xFF04" "product ID message"
eq "$(dev requests.DNLOAD)" 0 "wrong product: nothing downloaded"
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=C3,mode=dfu,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s3c new.dfu
expect_rc 0 "DFU mode with a backup: the right image installs"
flash_is new.bin "recovered to the new image"

echo "== 4. 0xFFFF is no version"
pack ffff.dfu 0xffff
sign_all
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=D1,flash-in=old.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s4 ffff.dfu
expect_rc 3 "an ST7 image with bcdDevice 0xFFFF is refused"
has "$ERR" "0xFFFF" "0xFFFF message"
eq "$(dev requests.DETACH)" 0 "0xFFFF: the device was not even detached"
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=D1,flash-in=old.bin" \
	-- "$ST7DFU" download "${KEYS[@]}" ffff.dfu
expect_rc 3 "download refuses it too"
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=D2,flash-in=dsorig.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s4b ds.dfu
expect_rc 3 "a DfuSe image without a version needs --allow-unversioned"
has "$ERR" "--allow-unversioned" "the option is named"
flash_is dsorig.bin "unversioned DfuSe refused: memory untouched"
# A device reporting 0xFFFF is not "newer than anything": a real update installs.
head -c 8192 /dev/urandom >d11.bin
printf '\x03\x01' | dd of=d11.bin bs=1 seek=$((0x1FFC)) conv=notrunc 2>/dev/null
"$ST7DFU" pack -o d11.dfu --vid 0483 --pid ff03 --bcd 1.03 d11.bin@0 >/dev/null
sign_all
run "${EMU[@]}" --report rep.json --device "kind=dfu11,serial=D3,mem-size=8K,version-addr=0x1FFC,version=0xffff,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s4c d11.dfu
expect_rc 0 "a device reporting 0xFFFF takes a real version"
eq "$(dev version)" 259 "now runs 1.03"

echo "== 5. download checks the target"
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=E1,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" download "${KEYS[@]}" vendor1234.dfu
expect_rc 3 "download: another vendor's image is refused"
has "$ERR" "idVendor 0x1234" "vendor message"
eq "$(dev requests.DETACH)" 0 "refused before detach"
flash_is old.bin "download refused: flash untouched"
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=E2,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" download "${KEYS[@]}" f62.dfu
expect_rc 3 "download: a 4 KiB ST72F62 image onto an ST72F65 is refused"
eq "$(dev version)" 258 "still 1.02"
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=E3,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" download "${KEYS[@]}" otherpid.dfu
expect_rc 3 "download: another product's image is refused"
eq "$(dev mode)" runtime "another product: the device was sent back"
flash_is old.bin "another product: flash untouched"

echo "== 6. the bytes checked are the bytes flashed"
# (LeakSanitizer cannot run under ptrace: leaks are checked by every other run.)
# rollback --to FILE and a stored backup are each opened exactly once.
cp old.dfu to.dfu && "$ST7DFU" sign --key test.key to.dfu >/dev/null
run "${EMU[@]}" --device "kind=st7,serial=F1,flash-in=new.bin,flash-out=flash.bin" \
	-- env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -o "$T/trace" -e trace=open,openat "$ST7DFU" rollback "${KEYS[@]}" --to "$T/to.dfu"
expect_rc 0 "rollback --to a signed file"
eq "$(grep -c 'to\.dfu"' trace)" 1 "rollback --to opens the file once"
flash_is old.bin "rollback --to flashed it"
mkdir -p s6/backups/0483-ff03-F2 && chmod 700 s6 s6/backups s6/backups/0483-ff03-F2
cp old.dfu s6/backups/0483-ff03-F2/0102.dfu && chmod 600 s6/backups/0483-ff03-F2/0102.dfu
run "${EMU[@]}" --device "kind=st7,serial=F2,flash-in=new.bin,flash-out=flash.bin" \
	-- env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -o "$T/trace" -e trace=open,openat "$ST7DFU" rollback --state-dir "$T/s6"
expect_rc 0 "rollback from a stored backup"
eq "$(grep -c '0102\.dfu"' trace)" 1 "the stored backup is opened once"

echo "== 7. a backup directory that is a symbolic link is refused before the device is touched"
mkdir -p s7/backups elsewhere && chmod 700 s7 s7/backups
ln -s "$T/elsewhere" s7/backups/0483-ff03-G
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=G,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s7 new.dfu
expect_rc 4 "symlinked backup directory: refused"
has "$ERR" "symbolic link" "symlink message"
eq "$(dev dfu_requests)" 0 "symlinked backup directory: no DFU request"
[ -z "$(ls elsewhere)" ] && ok || fail "nothing written through the link"

echo "== 8. every new directory on the way to a backup is synced before the device is touched"
run "${EMU[@]}" --device "kind=st7,serial=H,flash-in=old.bin" \
	-- env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -o "$T/trace" -e trace=mkdir,mkdirat,openat,fsync,rename "$ST7DFU" upgrade "${KEYS[@]}" --state-dir "$T/s8/state" new.dfu
expect_rc 0 "upgrade into a new state directory"
# For each directory created: its parent is opened and fsynced after the mkdir.
for d in "$T/s8" "$T/s8/state" "$T/s8/state/backups" "$T/s8/state/backups/0483-ff03-H"; do
	parent=$(dirname "$d")
	line=$(grep -nE "mkdir(at)?\((AT_FDCWD, )?\"$d\"" trace | head -n1 | cut -d: -f1)
	[ -n "$line" ] || { fail "mkdir $d not seen"; continue; }
	fd=$(tail -n +"$line" trace | sed -n "s|.*openat(AT_FDCWD, \"$parent\", [^)]*O_DIRECTORY[^)]*) = \([0-9]*\)$|\1|p" | head -n1)
	[ -n "$fd" ] && tail -n +"$line" trace | grep -q "fsync($fd)" && ok || fail "parent of $d not synced after mkdir"
done
# ... and before the backup is renamed into place (the device is erased after that).
first_rename=$(grep -n 'rename(.*0102\.dfu' trace | head -n1 | cut -d: -f1)
last_mkdir=$(grep -nE 'mkdir(at)?\(' trace | tail -n1 | cut -d: -f1)
[ -n "$first_rename" ] && [ "$last_mkdir" -lt "$first_rename" ] && ok || fail "directories created before the backup"
eq "$(stat -c %a s8/state/backups)" 700 "backups/ is private"
eq "$(stat -c %a s8/state/backups/0483-ff03-H)" 700 "the device's directory is private"
eq "$(stat -c %a s8/state/backups/0483-ff03-H/0102.dfu)" 600 "the backup file is private"

echo "== 9. a refused DfuSe download sends the device back"
head -c 5000 /dev/urandom >ds2.bin
"$ST7DFU" pack -o dsbad.dfu --format dfuse --vid 0483 --pid df11 --bcd 0x2200 ds2.bin@0x08100000 >/dev/null
sign_all
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=I,flash-in=dsorig.bin,flash-out=flash.bin" \
	-- "$ST7DFU" download "${KEYS[@]}" dsbad.dfu
expect_rc 3 "DfuSe element outside memory refused"
eq "$(dev mode)" runtime "the refused DfuSe device is back in runtime mode"
flash_is dsorig.bin "refused DfuSe download: memory untouched"

echo "== 10. an empty DfuSe element is refused at parse time"
# DfuSe prefix, one target with one 0-byte element, and a suffix with a valid CRC.
{
	printf 'DfuSe\001'
	printf '\x25\x01\x00\x00\x01' # image size 0x125 (11 + 274 + 8 + 0), one target
	printf 'Target\000'
	printf '\000\000\000\000'
	head -c 255 /dev/zero
	printf '\x08\x00\x00\x00\x01\x00\x00\x00'     # target size 8, one element
	printf '\x00\x00\x00\x08\x00\x00\x00\x00'     # address 0x08000000, size 0
} >empty.dfu
dfu-suffix -a empty.dfu -v 0483 -p df11 -d 0x0102 -S 0x011a >/dev/null 2>&1 || fail "dfu-suffix"
run "$ST7DFU" info empty.dfu
expect_rc 3 "zero-size element refused"
has "$ERR" "dwElementSize is 0" "zero-size element message"

echo "== minor: a state directory that cannot hold the backup is refused before the device"
mkdir -p s11 && chmod 700 s11 && : >s11/backups
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=J,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s11 new.dfu
expect_rc 4 "unusable state directory: exit 4"
eq "$(dev dfu_requests)" 0 "unusable state directory: no DFU request"
if [ "$(id -u)" -eq 0 ] && mkdir -p full && mount -t tmpfs -o size=24k tmpfs full 2>/dev/null; then
	head -c 16384 /dev/zero >full/filler 2>/dev/null
	run "${EMU[@]}" --report rep.json --device "kind=st7,serial=J,flash-in=old.bin,flash-out=flash.bin" \
		-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir full/s new.dfu
	expect_rc 4 "full state directory: exit 4"
	has "$ERR" "free some room" "full disk message"
	eq "$(dev dfu_requests)" 0 "full state directory: no DFU request"
	flash_is old.bin "full state directory: flash untouched"
	umount full
elif [ "${CI:-}" = true ]; then
	fail "cannot mount a small tmpfs (needed for the full-disk check)"
else
	echo "SKIPPED: the full-disk check needs root and tmpfs mounts" >&2
fi
# A refusal is printed once.
run "${EMU[@]}" --device "kind=st7,serial=N,flash-in=old.bin" -- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir s12 older.dfu
expect_rc 3 "downgrade refused"
eq "$(grep -c 'older than the installed' <<<"$ERR")" 1 "the refusal is printed once"
run "${EMU[@]}" --device "kind=st7,serial=M,flash-in=new.bin" -- "$ST7DFU" upgrade "${KEYS[@]}" --max-size 1G --state-dir s13 new.dfu
expect_rc 5 "--max-size 1G is accepted, as its error message promises"

echo "== review: what a second hostile review found"
# A loader that does not run its application on a reset (no-reenum): its memory, whole
# (the version word is there), is backed up before anything is erased.
# (Such a device never leaves DFU mode on a reset, so even the restored firmware cannot
# be post-checked: exit 9, but its flash holds the old firmware again.)
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=R1,mode=dfu,app=valid,no-reenum=1,flash-in=old.bin,flash-out=flash.bin,error-block=5,fault-times=3" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir sr1 new.dfu
expect_rc 9 "a loader that keeps DFU mode: backed up, restored, cannot start it"
has "$ERR" "backing up what its memory holds" "the loader's memory is backed up"
payload_is "$(backup_of sr1)" old.bin "the loader's memory was backed up"
flash_is old.bin "the old firmware is back"
# Firmware whose version word is 0xFFFF is backed up and can be restored.
cp old.bin vff.bin && printf '\377\377' | dd of=vff.bin bs=1 seek=$(($(stat -c %s vff.bin) - 2)) conv=notrunc 2>/dev/null
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=R2,flash-in=vff.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir sr2 new.dfu \
	--then -- "$ST7DFU" rollback --state-dir sr2
expect_rc 0 "firmware reporting 0xFFFF: upgrade, then rollback"
flash_is vff.bin "the 0xFFFF firmware is back"
# Another product's backups with the same serial are never used.
mkdir -p sr3/backups/0001-1234-R3 && chmod 700 sr3 sr3/backups sr3/backups/0001-1234-R3
cp older.dfu sr3/backups/0001-1234-R3/0101.dfu && chmod 600 sr3/backups/0001-1234-R3/0101.dfu
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=R3,mode=dfu,flash-out=flash.bin" \
	-- "$ST7DFU" rollback --state-dir sr3
expect_rc 4 "another vendor's backup is not restored"
eq "$(dev requests.DNLOAD)" 0 "nothing downloaded"
# A read-back that disagrees once is enough to distrust the backup.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=R4,flash-in=old.bin,flash-out=flash.bin,upload-corrupt=100,fault-times=3" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir sr4 new.dfu
expect_rc 14 "a corrupt read-back after two equal corrupt reads"
if ls sr4/backups/*/*.dfu >/dev/null 2>&1; then fail "the doubtful backup is still eligible"; else ok; fi
# A persistent stall before any erase: the device is sent back to its application.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=R5,flash-in=old.bin,flash-out=flash.bin,stall-block=0,fault-times=0" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir sr5 new.dfu
expect_rc 7 "stall at block 0 every time: untouched"
eq "$(dev mode)" runtime "the device runs its application again"
flash_is old.bin "the flash is untouched"
# DfuSe: an image that touches a read-only segment is refused before any erase.
"$ST7DFU" pack -o ro.dfu --format dfuse --vid 0483 --pid df11 --bcd 0x2200 ds2.bin@0x0800C000 >/dev/null
sign_all
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=R6,flash-in=dsorig.bin,flash-out=flash.bin,layout=@Internal Flash  /0x08000000/03*016Kg,01*016Ka" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir sr6 ro.dfu
expect_rc 3 "DfuSe image on a read-only page: refused"
eq "$(dev mode)" runtime "DfuSe refused: back in runtime mode"
flash_is dsorig.bin "DfuSe refused: memory untouched"
# DfuSe in DFU mode with a stored backup of other pages: refused, nothing lost.
"$ST7DFU" pack -o dsA.dfu --format dfuse --vid 0483 --pid df11 --bcd 0x2200 ds2.bin@0x08000000 >/dev/null
head -c 65536 /dev/urandom >dsbig.bin
"$ST7DFU" pack -o dsB.dfu --format dfuse --vid 0483 --pid df11 --bcd 0x2200 dsbig.bin@0x08000000 >/dev/null
sign_all
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=R7,flash-in=dsorig.bin,flash-out=flash.bin,error-block=3,fault-times=0" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --allow-unversioned --no-verify --state-dir sr7 dsA.dfu
expect_rc 9 "DfuSe: a persistent write error with a failing rescue"
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=R7,mode=dfu,flash-in=flash.bin,flash-out=flash2.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --allow-unversioned --state-dir sr7 dsB.dfu
expect_rc 3 "DfuSe: pages the stored backup lacks are not erased"
has "$ERR" "does not hold" "uncovered pages message"
eq "$(dev requests.DNLOAD)" 0 "uncovered pages: nothing downloaded"
# More backups than one listing used to hold: the newest is still the one restored.
mkdir -p sr8/backups/0483-ff03-R8 && chmod 700 sr8 sr8/backups sr8/backups/0483-ff03-R8
for i in $(seq 100 199); do cp older.dfu "sr8/backups/0483-ff03-R8/1$i.dfu"; done
touch -d '-1 hour' sr8/backups/0483-ff03-R8/1*.dfu
chmod 600 sr8/backups/0483-ff03-R8/*.dfu
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=R8,flash-in=old.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --keep-backups 1000 --state-dir sr8 new.dfu \
	--then -- "$ST7DFU" rollback --state-dir sr8
expect_rc 0 "101 backups: upgrade, then rollback"
flash_is old.bin "the newest backup was restored"
# A kill during the read-back (the upload path lies every time): the next run reads back
# what the device now runs and sets the backup aside, instead of "nothing to do".
# shellcheck disable=SC2016 # the script is for sh -c (run by the emulator): its $-expansions are its own
killer2='"$0" upgrade --keys "$1" --state-dir "$2" "$3" 2>"$4" & p=$!
	for _ in $(seq 3000); do [ "$(grep -c "upload" "$4" 2>/dev/null)" -ge 2 ] && break; sleep 0.01; done
	kill -9 $p; wait $p; exit 0'
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=RA,flash-in=old.bin,flash-out=flash.bin,bus=low,upload-corrupt=100,fault-times=0" \
	-- sh -c "$killer2" "$ST7DFU" "$K" "$T/sra" new.dfu "$T/kill2.err" \
	--then -- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir "$T/sra" new.dfu
[ "$(grep -c upload kill2.err)" -ge 2 ] && ok || fail "the kill landed during the read-back"
expect_rc 14 "the re-run finishes the killed read-back"
has "$ERR" "reading it back now" "the re-run says so"
if ls sra/backups/*/*.dfu >/dev/null 2>&1; then fail "the unchecked backup is still eligible"; else ok; fi
# ... and a rollback after the same kill does not put that unchecked backup over the
# running new firmware (it may have been read through the lying upload path).
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=RB,flash-in=old.bin,flash-out=flash.bin,bus=low,upload-corrupt=100,fault-times=0" \
	-- sh -c "$killer2" "$ST7DFU" "$K" "$T/srb" new.dfu "$T/kill2.err" \
	--then -- "$ST7DFU" rollback --state-dir "$T/srb"
expect_rc 4 "rollback refuses an unchecked backup over a running application"
has "$ERR" "never checked by a read-back" "unchecked backup message"
flash_is new.bin "the new firmware stays"
# An unversioned image installed twice: the backup of what ran before it survives.
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=RC,flash-in=dsorig.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --allow-unversioned --state-dir src ds.dfu \
	--then -- "$ST7DFU" upgrade "${KEYS[@]}" --allow-unversioned --state-dir src ds.dfu
expect_rc 0 "the same unversioned image twice"
eq "$(globcount src/backups/*/*.dfu)" 2 "two backups, none overwritten"
# A DfuSe device found in DFU mode with no backup: its pages are backed up, filed where a
# rollback from runtime mode finds them.
run "${EMU[@]}" --report rep.json --device "kind=dfuse,serial=RD,mode=dfu,flash-in=dsorig.bin,flash-out=flash.bin" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --allow-unversioned --state-dir srd ds.dfu \
	--then -- "$ST7DFU" rollback --state-dir srd
expect_rc 0 "DfuSe loader backup, then rollback from runtime mode"
flash_is dsorig.bin "the loader's pages are back"
# A DfuSe device with two alternate settings: a two-target file, and an upload of both.
"$ST7DFU" pack -o alt1.dfu --format dfuse --vid 0483 --pid df11 --bcd 0x2200 --alt 1 --target-name Data ds2.bin@0x20000000 >/dev/null
ta=$(($(stat -c %s ds.dfu) - 27)) tb=$(($(stat -c %s alt1.dfu) - 27)) size=$((11 + ta + tb))
{
	printf 'DfuSe\001'
	printf '%b' "\\x$(printf %02x $((size & 255)))\\x$(printf %02x $((size >> 8 & 255)))\\x$(printf %02x $((size >> 16 & 255)))\\x00\\x02"
	tail -c +12 ds.dfu | head -c "$ta"
	tail -c +12 alt1.dfu | head -c "$tb"
} >two.dfu
dfu-suffix -a two.dfu -v 0483 -p df11 -d 0x2200 -S 0x011a >/dev/null 2>&1 || fail "dfu-suffix two.dfu"
sign_all
"$ST7DFU" info two.dfu >/dev/null && ok || fail "two.dfu is a valid two-target file"
TWO="kind=dfuse,serial=RE,layout=@Internal Flash  /0x08000000/04*016Kg,layout=@Data  /0x20000000/08*01Kg"
run "${EMU[@]}" --report rep.json --device "$TWO,flash-in=dsorig.bin,flash-out=flash.bin" \
	-- "$ST7DFU" download "${KEYS[@]}" two.dfu \
	--then -- "$ST7DFU" upload -o "$T/up2.dfu"
expect_rc 0 "two alternate settings: download, then upload"
eq "$(dev mode)" runtime "the two-alt device runs"
cmp -s <(head -c 40000 flash.bin) ds1.bin && ok || fail "alt 0 memory holds its target"
run "$ST7DFU" info --json up2.dfu
jqeq "$OUT" '.files[0].dfuse.targets|length' 2 "the upload has both alternate settings"
jqeq "$OUT" '.files[0].dfuse.targets[1].alt' 1 "the second target is alt 1"
# A hostile .readback-pending: only plain names of this directory count; a path never.
mkdir -p srf/backups/0483-ff03-RF && chmod 700 srf srf/backups srf/backups/0483-ff03-RF
cp old.dfu srf/backups/0483-ff03-RF/0102.dfu && cp old.dfu srf/backups/outside.dfu
printf '../outside.dfu\n.hidden.dfu\n%0300d.dfu\n0102.dfu\n' 0 >srf/backups/0483-ff03-RF/.readback-pending
chmod 600 srf/backups/0483-ff03-RF/* srf/backups/0483-ff03-RF/.readback-pending srf/backups/outside.dfu
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=RF,flash-in=new.bin,upload-corrupt=100,fault-times=0" \
	-- "$ST7DFU" upgrade "${KEYS[@]}" --state-dir srf new.dfu
expect_rc 14 "a planted marker: the listed backup is checked, and set aside"
[ -f srf/backups/outside.dfu ] && ok || fail "a path in the marker reached outside the directory"
[ -f srf/backups/0483-ff03-RF/0102.dfu.unproven ] && ok || fail "the listed backup is set aside"
[ ! -e srf/backups/0483-ff03-RF/.readback-pending ] && ok || fail "the marker is cleared"
# A marker that cannot be read, or holds more names than are kept, fails closed: every
# backup there is unchecked, and rollback will not put one over a running application
# (issue 10 review: an unreadable or over-full marker used to count as "nothing pending").
for variant in dir groupwritable symlink full; do
	d=srg-$variant/backups/0483-ff03-RG
	mkdir -p "$d" && chmod 700 "srg-$variant" "srg-$variant/backups" "$d"
	cp old.dfu "$d/0102.dfu" && chmod 600 "$d/0102.dfu"
	case $variant in
	dir) mkdir "$d/.readback-pending" ;;
	groupwritable) echo 0102.dfu >"$d/.readback-pending" && chmod 620 "$d/.readback-pending" ;;
	symlink) echo 0102.dfu >"$T/marker-target" && ln -s "$T/marker-target" "$d/.readback-pending" ;;
	full)
		for i in $(seq 1 17); do printf '%04x.dfu\n' "$i"; done >"$d/.readback-pending"
		echo 0102.dfu >>"$d/.readback-pending"
		chmod 600 "$d/.readback-pending"
		;;
	esac
	run "${EMU[@]}" --report rep.json --device "kind=st7,serial=RG,flash-in=new.bin,flash-out=flash.bin" \
		-- "$ST7DFU" rollback --state-dir "srg-$variant"
	expect_rc 4 "marker $variant: rollback refuses the unchecked backup over a running app"
	flash_is new.bin "marker $variant: the running firmware is untouched"
done
# A proven backup whose bytes the device still holds is never listed as unchecked: an
# upgrade killed at any of its first fsyncs leaves 0102.dfu proven, and rollback restores it
# (issue 10 review: the marker listed the proven file, and rollback then refused it).
for when in 1 2 3 4; do
	d=srp-$when/backups/0483-ff03-RP
	mkdir -p "$d" && chmod 700 "srp-$when" "srp-$when/backups" "$d"
	cp old.dfu "$d/0102.dfu" && chmod 600 "$d/0102.dfu"
	run "${EMU[@]}" --report rep.json --device "kind=st7,serial=RP,flash-in=old.bin,flash-out=flash.bin" \
		-- env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -o /dev/null \
		-e trace=fsync -e inject=fsync:signal=KILL:when=$when "$ST7DFU" upgrade "${KEYS[@]}" \
		--state-dir "srp-$when" new.dfu
	if grep -qx 0102.dfu "$d/.readback-pending" 2>/dev/null; then
		fail "kill at fsync $when: the proven 0102.dfu was listed as unchecked"
	else
		ok
	fi
	cmp -s "$d/0102.dfu" old.dfu && ok || fail "kill at fsync $when: 0102.dfu changed"
done
# --verify and --no-verify together are a usage error.
run "$ST7DFU" upgrade --verify --no-verify new.dfu
expect_rc 2 "--verify with --no-verify"
# rollback refuses a symlinked backups/ like upgrade does.
mkdir -p sr9 real9/0483-ff03-R9 && chmod 700 sr9 real9 real9/0483-ff03-R9
cp old.dfu real9/0483-ff03-R9/0102.dfu && chmod 600 real9/0483-ff03-R9/0102.dfu
ln -s "$T/real9" sr9/backups
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=R9,flash-in=new.bin,flash-out=flash.bin" \
	-- "$ST7DFU" rollback --state-dir sr9
expect_rc 4 "rollback: a symlinked backups/ is refused"
flash_is new.bin "symlinked backups/: nothing restored"

echo "== 11. download: a failure before anything was written leaves the device untouched (7)"
# Issue 10: download said 9 ("left in DFU mode") for any failure that was not an abort.
# A loader without a valid application drops off the bus right after its memory was read
# (when it enters dfuIDLE): not one DFU_DNLOAD reached it, so nothing was written.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=DL1,mode=dfu,flash-in=old.bin,unplug-state=dfuIDLE,replug-ms=never" \
	-- "$ST7DFU" download "${KEYS[@]}" --reenum-timeout 1500 new.dfu
expect_rc 7 "download: device gone before the first DNLOAD"
eq "$(dev requests.DNLOAD)" 0 "nothing was downloaded"
has "$OUT" "untouched" "the result says untouched"
hasnt "$OUT" "FAILED" "not reported as left in DFU mode"
# A detach that fails on a running device: untouched too, and it runs its application.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=DL2,flash-in=old.bin,flash-out=flash.bin,no-reenum=1" \
	-- "$ST7DFU" download "${KEYS[@]}" --reenum-timeout 1500 new.dfu
expect_rc 7 "download: a failed detach"
eq "$(dev requests.DNLOAD)" 0 "failed detach: nothing downloaded"
eq "$(dev mode)" runtime "failed detach: the device runs its application"
flash_is old.bin "failed detach: flash untouched"
# Once a DNLOAD went out, a device that vanishes is still reported as left in DFU mode.
run "${EMU[@]}" --report rep.json --device "kind=st7,serial=DL3,flash-in=old.bin,unplug-block=5,replug-ms=never" \
	-- "$ST7DFU" download "${KEYS[@]}" --reenum-timeout 1500 new.dfu
expect_rc 9 "download: device gone mid-download"
finish
