#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# st7dfu info: text and JSON output field by field, exit codes, and a clear error
# naming the file and field for each kind of bad file.
. "$(dirname "$0")/lib.sh"

# A known plain image: 28 KiB st72f65 region, version 1.02, via dfu-suffix so the
# expected fields come from another tool.
head -c $((0x7000 - 2)) /dev/zero | tr '\0' '\252' >"$T/app.bin"
printf '\001\002' >>"$T/app.bin"
cp "$T/app.bin" "$T/app.dfu"
dfu-suffix -v 0483 -p ff03 -d 0102 -a "$T/app.dfu" >/dev/null 2>&1 || fail "dfu-suffix -a"
crc=$(tail -c 4 "$T/app.dfu" | od -An -tu4 | tr -d ' ')

run "$ST7DFU" info "$T/app.dfu"
expect_rc 0 "info on a good file"
has "$OUT" "valid DFU 1.0 file" "text kind"
has "$OUT" "idVendor 0x0483  idProduct 0xFF03  bcdDevice 0x0102  bcdDFU 0x0100  bLength 16" "text suffix"
has "$OUT" "payload 28672 bytes" "text payload"
has "$OUT" "st72f65 (ST72F65x, by payload size), writable region 0x8000-0xEFFF" "text profile"
has "$OUT" "word 0x0102 at 0xEFFE: equals bcdDevice" "text version"
has "$OUT" "ok" "text crc ok"

run "$ST7DFU" info --json "$T/app.dfu"
expect_rc 0 "info --json"
J=$OUT
jqeq "$J" '.files|length' 1 "one file"
jqeq "$J" '.files[0].path' "$T/app.dfu" "path"
jqeq "$J" '.files[0].valid' true "valid"
jqeq "$J" '.files[0].error' null "no error"
jqeq "$J" '.files[0].kind' dfu "kind"
jqeq "$J" '.files[0].size' 28688 "size"
jqeq "$J" '.files[0].payload_size' 28672 "payload_size"
jqeq "$J" '.files[0].suffix.idVendor' 1155 "idVendor"
jqeq "$J" '.files[0].suffix.idProduct' 65283 "idProduct"
jqeq "$J" '.files[0].suffix.bcdDevice' 258 "bcdDevice"
jqeq "$J" '.files[0].suffix.bcdDFU' 256 "bcdDFU"
jqeq "$J" '.files[0].suffix.bLength' 16 "bLength"
jqeq "$J" '.files[0].suffix.crc_stored' "$crc" "crc_stored"
jqeq "$J" '.files[0].suffix.crc_computed' "$crc" "crc_computed"
jqeq "$J" '.files[0].suffix.crc_ok' true "crc_ok"
jqeq "$J" '.files[0].dfuse' null "no dfuse"
jqeq "$J" '.files[0].st7.profile' st72f65 "st7 profile"
jqeq "$J" '.files[0].st7.inferred' true "st7 inferred"
jqeq "$J" '.files[0].st7.region_start' 32768 "region_start"
jqeq "$J" '.files[0].st7.region_end' 61439 "region_end"
jqeq "$J" '.files[0].st7.version_address' 61438 "version_address"
jqeq "$J" '.files[0].st7.version_word' 258 "version_word"
jqeq "$J" '.files[0].st7.version_matches_bcdDevice' true "version matches"
jqeq "$J" '.files[0]|keys|join(",")' "dfuse,error,kind,path,payload_size,size,st7,suffix,valid" "stable key set"

# Version word differs from bcdDevice: reported; invalid only with an explicit profile.
cp "$T/app.bin" "$T/mismatch.dfu"
dfu-suffix -v 0483 -p ff03 -d 0103 -a "$T/mismatch.dfu" >/dev/null 2>&1
run "$ST7DFU" info "$T/mismatch.dfu"
expect_rc 0 "inferred profile: mismatch is reported, not fatal"
has "$OUT" "DIFFERS from bcdDevice" "mismatch shown"
run "$ST7DFU" info --profile st72f65 "$T/mismatch.dfu"
expect_rc 3 "explicit profile: mismatch is invalid"
has "$ERR" "$T/mismatch.dfu: version word at 0xEFFE is 0x0102, but suffix bcdDevice is 0x0103" "mismatch message"
run "$ST7DFU" info --profile st72f62 "$T/app.dfu"
expect_rc 3 "wrong profile for the size"
has "$ERR" "payload is 28672 bytes, but st72f62's writable region 0xE000-0xEFFF is 4096 bytes" "size message"

# Bad CRC: one flipped payload byte.
cp "$T/app.dfu" "$T/badcrc.dfu"
printf '\000' | dd of="$T/badcrc.dfu" bs=1 seek=100 conv=notrunc 2>/dev/null
run "$ST7DFU" info "$T/badcrc.dfu"
expect_rc 3 "bad CRC"
has "$ERR" "$T/badcrc.dfu: suffix dwCRC at offset 28684 is 0x" "bad CRC names file, field and offset"
has "$OUT" "INVALID" "text says invalid"
has "$OUT" "MISMATCH" "text shows CRC mismatch"
run "$ST7DFU" info --json "$T/badcrc.dfu"
expect_rc 3 "bad CRC json"
jqeq "$OUT" '.files[0].valid' false "invalid in json"
jqeq "$OUT" '.files[0].error.code' crc "error code"
jqeq "$OUT" '.files[0].suffix.crc_ok' false "crc_ok false"
jqeq "$OUT" '.files[0].suffix.crc_stored' "$crc" "stored crc still reported"

# No suffix; an empty file; a missing file; a directory.
run "$ST7DFU" info "$T/app.bin"
expect_rc 3 "no suffix"
has "$ERR" "no DFU suffix: ucDfuSignature at offset 28664" "no suffix message"
: >"$T/empty.dfu"
run "$ST7DFU" info "$T/empty.dfu"
expect_rc 3 "empty file"
has "$ERR" "0 bytes, shorter than the 16-byte suffix" "empty message"
run "$ST7DFU" info "$T/nope.dfu"
expect_rc 4 "missing file"
has "$ERR" "$T/nope.dfu: cannot open: No such file or directory" "missing message"
run "$ST7DFU" info "$T"
expect_rc 4 "directory"
has "$ERR" "not a regular file" "directory message"

# Several files: every one is reported, the worst status wins, JSON keeps order.
run "$ST7DFU" info --json "$T/app.dfu" "$T/badcrc.dfu" "$T/nope.dfu"
expect_rc 4 "mixed files"
jqeq "$OUT" '[.files[].valid]|map(tostring)|join(",")' "true,false,false" "per-file validity"
jqeq "$OUT" '.files[2].error.code' io "io error code"

# Standard input.
run bash -c "\"$ST7DFU\" info - <\"$T/app.dfu\""
expect_rc 0 "stdin"
has "$OUT" "-: valid DFU 1.0 file" "stdin named -"

# Usage and help.
run "$ST7DFU" info
expect_rc 2 "no file"
run "$ST7DFU" info --profile st99 "$T/app.dfu"
expect_rc 2 "unknown profile"
has "$ERR" "known: st72f62, st72f63, st72f65" "profile list"
run "$ST7DFU" help info
expect_rc 0 "help info"
has "$OUT" "Usage: st7dfu info" "help text"
has "$OUT" "Exit status:" "exit codes in help"
run "$ST7DFU" info --help
expect_rc 0 "info --help"
run "$ST7DFU" --version
expect_rc 0 "--version"
has "$OUT" "st7dfu " "version text"
run "$ST7DFU" frobnicate
expect_rc 2 "unknown command"
run "$ST7DFU"
expect_rc 2 "no command"

finish
