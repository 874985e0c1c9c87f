#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Upgrade benchmark on the emulator with realistic device timings (the reference ST7's
# erase/program/manifest times and a low- or full-speed bus model). Prints figures;
# asserts nothing.
#   - st7dfu upgrade of an ST72F62 (low speed) and an ST72F65 (full speed): wall time,
#     the device-mandated minimum (mandated_ms) and their ratio (target <= 1.05);
#   - st7dfu vs dfu-util 0.11 on the same DFU 1.1 device and image, detach included;
#   - peak RSS of st7dfu upgrade.
set -u
: "${ST7DFU:?}" "${ST7DFU_EMU:?}" "${ST7_TESTS:?}"
T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
D=$ST7_TESTS/data

# Images are signed, as in the field: the signature check is part of what is timed.
mkdir -p "$T/keys"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/k.pem" 2>/dev/null
openssl pkey -in "$T/k.pem" -pubout -out "$T/keys/bench.pem" 2>/dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

echo "== st7dfu upgrade, realistic device timings"
printf '%-9s %-5s %9s %9s %11s %7s %9s\n' profile bus wall_ms busy_ms mandated_ms ratio peak_rss
head -c 3000 /dev/urandom >"$T/f62.bin"
for p in st72f62 st72f65; do
	bus=full src=$D/st72f65-app.hex
	[ $p = st72f62 ] && bus=low src=$T/f62.bin@0xE000
	"$ST7DFU" pack -o "$T/old.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile $p --stamp-version "$src" >/dev/null
	"$ST7DFU" pack -o "$T/new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile $p --stamp-version "$src" >/dev/null
	"$ST7DFU" sign --key "$T/k.pem" "$T/new.dfu" >/dev/null
	head -c -16 "$T/old.dfu" >"$T/old.bin"
	# GNU time (Debian package "time") measures peak RSS; without it, RSS is "n/a".
	timer=()
	[ -x /usr/bin/time ] && timer=(/usr/bin/time -f %M -o "$T/rss")
	echo n/a >"$T/rss"
	"$ST7DFU_EMU" --report "$T/r.json" --device "kind=st7,profile=$p,bus=$bus,flash-in=$T/old.bin" \
		-- "${timer[@]}" "$ST7DFU" upgrade --keys "$T/keys" --state-dir "$T/s-$p" "$T/new.dfu" >/dev/null 2>&1
	wall=$(jq '.commands[0].elapsed_ms' "$T/r.json")
	busy=$(jq '.devices[0].elapsed_ms' "$T/r.json")
	mand=$(jq '.devices[0].mandated_ms' "$T/r.json")
	printf '%-9s %-5s %9s %9s %11s %7s %6s KiB\n' $p $bus "$wall" "$busy" "$mand" "$(ratio "$busy" "$mand")" "$(cat "$T/rss")"
done
echo "(busy_ms: first to last request; wall_ms adds process start and the final scan)"

echo "== the same DFU 1.1 device and image: st7dfu download vs dfu-util 0.11 (detach included)"
dev="kind=dfu11,mode=runtime,bus=full,vid=0x1209,pid=0x0001,dfu-pid=0x0002,version=0x0100"
head -c 49152 /dev/urandom >"$T/img.bin"
"$ST7DFU" pack -o "$T/img.dfu" --vid 1209 --pid 0002 --bcd 0x0100 --dfu-version 1.1 "$T/img.bin@0" >/dev/null
"$ST7DFU" sign --key "$T/k.pem" "$T/img.dfu" >/dev/null
"$ST7DFU_EMU" --report "$T/a.json" --device "$dev" -- "$ST7DFU" download --keys "$T/keys" "$T/img.dfu" >/dev/null 2>&1
a=$(jq '.commands[0].elapsed_ms' "$T/a.json")
am=$(jq '.devices[0].mandated_ms' "$T/a.json")
printf '%-34s %7s ms (device-mandated %s ms)\n' "st7dfu download" "$a" "$am"
if command -v dfu-util >/dev/null; then
	"$ST7DFU_EMU" --report "$T/b.json" --device "$dev" -- dfu-util -d 1209:0001,1209:0002 -D "$T/img.dfu" >/dev/null 2>&1
	b=$(jq '.commands[0].elapsed_ms' "$T/b.json")
	printf '%-34s %7s ms (%sx st7dfu)\n' "dfu-util -D (default 5 s detach)" "$b" "$(ratio "$b" "$a")"
	"$ST7DFU_EMU" --report "$T/c.json" --device "$dev" -- dfu-util -E 1 -d 1209:0001,1209:0002 -D "$T/img.dfu" >/dev/null 2>&1
	c=$(jq '.commands[0].elapsed_ms' "$T/c.json")
	printf '%-34s %7s ms (%sx st7dfu)\n' "dfu-util -E 1 -D" "$c" "$(ratio "$c" "$a")"
	"$ST7DFU_EMU" --report "$T/d.json" --device "$dev" -- dfu-util -d 1209:0001 -e --then -- dfu-util -d 1209:0002 -D "$T/img.dfu" >/dev/null 2>&1
	d=$(jq '[.commands[].elapsed_ms]|add' "$T/d.json")
	printf '%-34s %7s ms (%sx st7dfu)\n' "dfu-util -e, then dfu-util -D" "$d" "$(ratio "$d" "$a")"
fi

echo "== signature check of a 1 MiB image, whole command (process start, key load, hash, verify)"
head -c 1048576 /dev/urandom >"$T/big.dfu"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null
mkdir -p "$T/rsakeys" && openssl pkey -in "$T/rsa.key" -pubout -out "$T/rsakeys/rsa.pem" 2>/dev/null
"$ST7DFU" sign --key "$T/k.pem" -o "$T/big.ec.sig" "$T/big.dfu" >/dev/null
"$ST7DFU" sign --key "$T/rsa.key" -o "$T/big.rsa.sig" "$T/big.dfu" >/dev/null
for alg in ec rsa; do
	keys=$T/keys
	[ $alg = rsa ] && keys=$T/rsakeys
	t0=$(date +%s%N)
	for _ in 1 2 3 4 5 6 7 8 9 10; do "$ST7DFU" verify --keys "$keys" "$T/big.dfu" "$T/big.$alg.sig" >/dev/null; done
	t1=$(date +%s%N)
	printf '%-34s %7.1f ms per run\n' "st7dfu verify ($alg)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e7 }')"
done
