#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# dfu-suffix (dfu-util 0.11) is the peer: files it suffixes decode with identical
# fields in st7dfu, and files st7dfu packs pass `dfu-suffix -c` with the same fields
# and CRC.
. "$(dirname "$0")/lib.sh"
command -v dfu-suffix >/dev/null || { echo "dfu-suffix not installed"; exit 77; }

# dfu-suffix -c prints "Vendor ID:\t0x0483" etc.; pick one field.
field() { printf '%s\n' "$1" | sed -n "s/^$2:[[:space:]]*//p" | head -n1 | cut -c1-10; }

for spec in "0483 df11 0102" "ffff ffff ffff" "1234 5678 0000" "0483 ff03 9999"; do
	# shellcheck disable=SC2086 # split on purpose: "VID PID BCD", hex words
	set -- $spec
	for size in 1 15 16 4096 28672 100000; do
		head -c "$size" /dev/urandom >"$T/p.bin"
		cp "$T/p.bin" "$T/p.dfu"
		dfu-suffix -v "$1" -p "$2" -d "$3" -a "$T/p.dfu" >/dev/null 2>&1 || fail "dfu-suffix -a $spec"
		crc=$(tail -c 4 "$T/p.dfu" | od -An -tu4 | tr -d ' ')
		run "$ST7DFU" info --json "$T/p.dfu"
		expect_rc 0 "st7dfu reads dfu-suffix output ($spec, $size bytes)"
		jqeq "$OUT" '.files[0].suffix.idVendor' $((16#$1)) "vid $spec $size"
		jqeq "$OUT" '.files[0].suffix.idProduct' $((16#$2)) "pid $spec $size"
		jqeq "$OUT" '.files[0].suffix.bcdDevice' $((16#$3)) "bcd $spec $size"
		jqeq "$OUT" '.files[0].suffix.bcdDFU' 256 "bcdDFU $spec $size"
		jqeq "$OUT" '.files[0].suffix.crc_stored' "$crc" "crc $spec $size"
		jqeq "$OUT" '.files[0].suffix.crc_ok' true "crc ok $spec $size"
		jqeq "$OUT" '.files[0].payload_size' "$size" "payload $spec $size"

		# And the other way: st7dfu packs the same payload; dfu-suffix agrees and
		# the files are byte-identical.
		run "$ST7DFU" pack -o "$T/q.dfu" --vid "$1" --pid "$2" --bcd "$3" "$T/p.bin@0"
		expect_rc 0 "pack ($spec, $size)"
		cmp -s "$T/p.dfu" "$T/q.dfu" && ok || fail "st7dfu pack differs from dfu-suffix -a ($spec, $size)"
		c=$(dfu-suffix -c "$T/q.dfu" 2>&1)
		eq "$(field "$c" 'Vendor ID')" "0x${1^^}" "dfu-suffix -c vid"
		eq "$(field "$c" 'Product ID')" "0x${2^^}" "dfu-suffix -c pid"
		eq "$(field "$c" 'BCD device')" "0x${3^^}" "dfu-suffix -c bcd"
		eq "$(field "$c" 'BCD DFU')" "0x0100" "dfu-suffix -c bcdDFU"
		eq "$(field "$c" 'Length')" "16" "dfu-suffix -c length"
		eq "$(field "$c" 'CRC')" "$(printf '0x%08X' "$crc")" "dfu-suffix -c CRC"
	done
done

# A DfuSe file packed by st7dfu passes dfu-suffix -c too (bcdDFU 0x011A).
head -c 3000 /dev/urandom >"$T/s.bin"
run "$ST7DFU" pack -o "$T/s.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x2200 "$T/s.bin@0x08000000"
expect_rc 0 "pack dfuse"
c=$(dfu-suffix -c "$T/s.dfu" 2>&1)
eq "$(field "$c" 'BCD DFU')" "0x011A" "dfu-suffix -c on DfuSe"
eq "$(field "$c" 'CRC')" "$(printf '0x%08X' "$(tail -c 4 "$T/s.dfu" | od -An -tu4 | tr -d ' ')")" "DfuSe CRC"

# dfu-suffix -D strips our suffix and gives back the payload exactly.
cp "$T/q.dfu" "$T/r.dfu"
dfu-suffix -D "$T/r.dfu" >/dev/null 2>&1
cmp -s "$T/r.dfu" "$T/p.bin" && ok || fail "dfu-suffix -D of st7dfu output"

finish
