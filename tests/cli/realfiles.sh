#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real-world files from ../shared/testdata/real (read in place, never copied into the
# repository): both STM32 DfuSe images decode to the right target and element tables,
# and the impostor is refused with a clear message. Without the files: SKIPPED, loudly;
# under CI=true, a failure.
. "$(dirname "$0")/lib.sh"
R=${ST7_TESTDATA:-}
if [ -z "$R" ] || [ ! -d "$R" ]; then
	# In CI the files must be there: a silent skip would hide that nothing was checked.
	if [ "${CI:-}" = true ]; then
		fail "real test data not found (ST7_TESTDATA=${R:-unset}) and CI=true: in CI it must be present"
		finish
	fi
	echo "SKIPPED: REAL TEST DATA NOT FOUND (ST7_TESTDATA=${R:-unset}): the real-world .dfu files were NOT checked" >&2
	exit 77
fi

# name|size|payload|targets|alt|target name|elements "address:size ..."|crc
while IFS='|' read -r name size payload alt tname elems crc; do
	f=$R/$name
	[ -f "$f" ] || { fail "missing $f"; continue; }
	run "$ST7DFU" info --json "$f"
	expect_rc 0 "$name valid"
	jqeq "$OUT" '.files[0].kind' dfuse "$name kind"
	jqeq "$OUT" '.files[0].size' "$size" "$name size"
	jqeq "$OUT" '.files[0].payload_size' "$payload" "$name payload"
	jqeq "$OUT" '.files[0].dfuse.image_size' "$payload" "$name DFUImageSize"
	jqeq "$OUT" '.files[0].suffix.idVendor' 1155 "$name vid"
	jqeq "$OUT" '.files[0].suffix.idProduct' 57105 "$name pid"
	jqeq "$OUT" '.files[0].suffix.bcdDFU' 282 "$name bcdDFU"
	jqeq "$OUT" '.files[0].suffix.crc_stored' "$crc" "$name crc"
	jqeq "$OUT" '.files[0].suffix.crc_ok' true "$name crc ok"
	jqeq "$OUT" '.files[0].dfuse.targets|length' 1 "$name targets"
	jqeq "$OUT" '.files[0].dfuse.targets[0].alt' "$alt" "$name alt"
	jqeq "$OUT" '.files[0].dfuse.targets[0].name' "$tname" "$name target name"
	jqeq "$OUT" '[.files[0].dfuse.targets[0].elements[]|"\(.address):\(.size)"]|join(" ")' "$elems" "$name elements"
	run "$ST7DFU" info "$f"
	expect_rc 0 "$name text"
	has "$OUT" "element 0   0x08000000-" "$name text element"
done <<'EOF_TABLE'
stm32-badge-dfuse.dfu|368181|368165|0|ST...|134217728:15024 134234112:352840|63244388
stm32f407-micropython-dfuse.dfu|322493|322477|0|ST...|134217728:14784 134348800:307392|1124428095
EOF_TABLE

# Real files damaged the ways files get damaged: cut short (the suffix goes with
# it), a flipped byte deep inside, and a middle chunk lost before dfu-suffix re-signed
# the file (the CRC is then right, but DFUImageSize and the element sizes are not).
f=$R/stm32-badge-dfuse.dfu
head -c 200000 "$f" >"$T/cut.dfu"
run "$ST7DFU" info "$T/cut.dfu"
expect_rc 3 "truncated real file"
has "$ERR" "no DFU suffix" "truncated real file message"
cp "$f" "$T/flip.dfu"
printf '\125' | dd of="$T/flip.dfu" bs=1 seek=300000 conv=notrunc 2>/dev/null
run "$ST7DFU" info "$T/flip.dfu"
expect_rc 3 "flipped byte in real file"
has "$ERR" "suffix dwCRC at offset 368177 is 0x03C50864, computed" "flipped byte message"
{ head -c 100000 "$f"; tail -c +150001 "$f" | head -c $((368181 - 150000 - 16)); } >"$T/hole.dfu"
if dfu-suffix -v 0483 -p df11 -d 0000 -S 011a -a "$T/hole.dfu" >/dev/null 2>&1; then
	run "$ST7DFU" info "$T/hole.dfu"
	expect_rc 3 "real file with a lost chunk"
	has "$ERR" "DfuSe prefix at offset 6: DFUImageSize is 368165, but the file holds 318165 bytes" "lost chunk message"
fi

f=$R/not-a-dfu-file.dfu
if [ -f "$f" ]; then
	run "$ST7DFU" info "$f"
	expect_rc 3 "impostor refused"
	has "$ERR" "$f: no DFU suffix: ucDfuSignature at offset 287256" "impostor message names file and field"
	run "$ST7DFU" info --json "$f"
	jqeq "$OUT" '.files[0].error.code' no-suffix "impostor error code"
	jqeq "$OUT" '.files[0].suffix' null "impostor has no suffix"
else
	fail "missing $f"
fi

finish
