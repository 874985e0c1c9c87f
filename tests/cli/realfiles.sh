#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real-world files from ../shared/testdata/real (read in place, never copied into the
# repository): both STM32 DfuSe images decode to the right target and element tables,
# and the impostor is refused with a clear message.
. "$(dirname "$0")/lib.sh"
R=${ST7_TESTDATA:-}
if [ -z "$R" ] || [ ! -d "$R" ]; then
	echo "real test data not found (ST7_TESTDATA=$R): skipped"
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
