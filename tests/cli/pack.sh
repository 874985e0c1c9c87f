#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# st7dfu pack from the bundled example inputs and from binaries: region and version
# rules, DfuSe output, errors that name the input, and an output that is never left
# half-written or clobbered by a failed run.
. "$(dirname "$0")/lib.sh"
D=$TESTS/data

# HEX → plain st72f65 image; info agrees; dfu-suffix agrees.
run "$ST7DFU" pack -o "$T/f65.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 "$D/st72f65-app.hex"
expect_rc 0 "pack hex"
has "$OUT" "valid DFU 1.0 file" "pack describes its output"
eq "$(stat -c %s "$T/f65.dfu")" 28688 "plain st72f65 size"
run "$ST7DFU" info --json --profile st72f65 "$T/f65.dfu"
expect_rc 0 "info on packed file"
jqeq "$OUT" '.files[0].st7.version_word' 258 "version word"
jqeq "$OUT" '.files[0].suffix.bcdDevice' 258 "bcd"
# The suffix, byte for byte (DFU 1.1 appendix B, little-endian).
eq "$(tail -c 16 "$T/f65.dfu" | head -c 12 | od -An -tx1 | tr -d ' \n')" "020103ff8304000155464410" "suffix bytes"

# S-records → st72f63, stamped; then → DfuSe.
run "$ST7DFU" pack -o "$T/f63.dfu" --vid 0483 --pid ff03 --bcd 0x0107 --profile st72f63 --stamp-version "$D/st72f63-app.s19"
expect_rc 0 "pack s19 with stamp"
eq "$(tail -c 18 "$T/f63.dfu" | head -c 2 | od -An -tx1 | tr -d ' \n')" "0107" "stamped version word"
run "$ST7DFU" pack -o "$T/f63.dfu" --vid 0483 --pid ff03 --bcd 0x0107 --profile st72f63 "$D/st72f63-app.s19"
expect_rc 3 "version mismatch without stamp"
has "$ERR" "but --bcd is 0x0107: fix the image or pass --stamp-version" "mismatch hint"
run "$ST7DFU" pack -o "$T/f63s.dfu" --format dfuse --target-name "ST7 Flash" --vid 0483 --pid df11 --bcd 1.05 --profile st72f63 --json "$D/st72f63-app.s19"
expect_rc 0 "pack dfuse"
jqeq "$OUT" '.kind' dfuse "dfuse kind"
jqeq "$OUT" '.dfuse.targets[0].name' "ST7 Flash" "target name"
jqeq "$OUT" '.dfuse.targets[0].elements[0].address >= 49152' true "elements in region"
jqeq "$OUT" '.st7.version_word' 261 "dfuse version word"
jqeq "$OUT" '.suffix.bcdDFU' 282 "bcdDFU 0x011A"

# Binaries at addresses; several inputs merge; ADDR is hex or decimal.
head -c 256 /dev/urandom >"$T/a.bin"
head -c 256 /dev/urandom >"$T/b.bin"
run "$ST7DFU" pack -o "$T/two.dfu" --vid ffff --pid ffff --bcd 0 "$T/a.bin@0x1000" "$T/b.bin@4352"
expect_rc 0 "two binaries"
eq "$(stat -c %s "$T/two.dfu")" $((512 + 16)) "contiguous binaries"
cmp -s <(head -c 512 "$T/two.dfu") <(cat "$T/a.bin" "$T/b.bin") && ok || fail "binary payload"
run "$ST7DFU" pack -o "$T/gap.dfu" --vid ffff --pid ffff --bcd 0 --dfu-version 1.1 "$T/a.bin@0x1000" "$T/b.bin@0x1200"
expect_rc 0 "gap"
eq "$(head -c 257 "$T/gap.dfu" | tail -c 1 | od -An -tx1 | tr -d ' ')" "ff" "gap filled with 0xFF"
run "$ST7DFU" info --json "$T/gap.dfu"
jqeq "$OUT" '.files[0].suffix.bcdDFU' 272 "--dfu-version 1.1"

# Errors: overlap, outside the region, no address, bad HEX (line named), bad options.
echo keep >"$T/out.dfu"
run "$ST7DFU" pack -o "$T/out.dfu" --vid ffff --pid ffff --bcd 0 "$T/a.bin@0x1000" "$T/b.bin@0x10FF"
expect_rc 3 "overlap"
has "$ERR" "$T/b.bin: overlaps an earlier input" "overlap names the input"
eq "$(cat "$T/out.dfu")" keep "failed pack leaves the old output"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile st72f62 "$D/st72f65-app.hex"
expect_rc 3 "outside region"
has "$ERR" "is outside st72f62's writable region 0xE000-0xEFFF" "region message"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 "$T/a.bin@0xF000"
expect_rc 3 "loader sector refused"
has "$ERR" "sector 0" "loader sector named"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1.02 "$T/a.bin"
expect_rc 2 "binary without address"
has "$ERR" "needs its load address" "address hint"
sed '3s/^:10/:11/' "$D/st72f65-app.hex" >"$T/bad.hex"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1.02 "$T/bad.hex"
expect_rc 3 "bad hex"
has "$ERR" "$T/bad.hex: line 3" "hex error names file and line"
eq "$(cat "$T/out.dfu")" keep "still the old output"
if [ "$(globcount "$T"/*.tmp.*)" -gt 0 ]; then fail "temporary file left behind"; else ok; fi
run "$ST7DFU" pack -o "$T/out.dfu" --vid 12345 --pid ff03 --bcd 1 "$T/a.bin@0"
expect_rc 2 "bad vid"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1.234 "$T/a.bin@0"
expect_rc 2 "bad bcd"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1 --stamp-version "$T/a.bin@0"
expect_rc 2 "stamp without profile"
run "$ST7DFU" pack --vid 0483 --pid ff03 --bcd 1 "$T/a.bin@0"
expect_rc 2 "no output"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1 "$T/a.bin@0x100000000"
expect_rc 4 "address beyond 32 bits is not an address: the whole name is the file"
run "$ST7DFU" pack -o "$T/out.dfu" --vid 0483 --pid ff03 --bcd 1 "$T/nope.hex"
expect_rc 4 "missing input"

# A file name containing '@' still works.
cp "$T/a.bin" "$T/fw@v1.bin"
run "$ST7DFU" pack -o "$T/at.dfu" --vid ffff --pid ffff --bcd 0 "$T/fw@v1.bin@0x0"
expect_rc 0 "name with @"

finish
