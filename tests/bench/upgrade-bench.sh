#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Upgrade benchmark on the emulator with realistic device timings (the reference ST7's
# erase/program/manifest times and a low- or full-speed bus model). Prints figures with
# the issue-11 targets beside them; asserts nothing; run by hand (`cmake --build B
# --target bench`), never in CI. Every figure is the median of BENCH_RUNS runs (default
# 3, at least 3); runs of different figures are interleaved so that a slow moment of the
# machine hits all alike. About 3-4 minutes on two cores.
#   1. st7dfu upgrade of an ST72F62 (low speed) and an ST72F65 (full speed): wall time,
#      device-mandated time, transfers, the emulator's per-transfer floor (a tight
#      dfu-util upload in the same run) and per-wake-up cost, the host-only ratio;
#   2. GET_DESCRIPTOR requests per upgrade, to the target and to two bystander ST7s;
#   3. peak RSS of each process: list, upgrade FILE, upgrade https://URL (+ fetch worker);
#   4. stripped binary sizes;
#   5. st7dfu vs dfu-util 0.11 on the same DFU 1.1 device and image, detach included;
#   6. the idle daemon: wake-ups and memory between polls;
#   7. the whole `st7dfu verify` command on a 1 MiB image.
# Environment: ST7DFU, ST7DFU_EMU, ST7_TESTS (required); ST7DFU_BENCH (st7dfu-bench, for
# the wake-up cost), ST7DFU_FETCH (default: st7dfu-fetch beside st7dfu), ST7_BUILD_DIR
# (for CMakeCache.txt; default: st7dfu's directory), BENCH_RUNS.
set -u
: "${ST7DFU:?}" "${ST7DFU_EMU:?}" "${ST7_TESTS:?}"
ST7DFU_BENCH=${ST7DFU_BENCH:-}
ST7DFU_FETCH=${ST7DFU_FETCH:-$(dirname "$ST7DFU")/st7dfu-fetch}
ST7_BUILD_DIR=${ST7_BUILD_DIR:-$(dirname "$ST7DFU")}
RUNS=${BENCH_RUNS:-3}
[ "$RUNS" -ge 3 ] 2>/dev/null || RUNS=3
T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-bench.XXXXXX")
chmod 755 "$T" # nginx's workers (nobody) must reach $T/ng/www
D=$ST7_TESTS/data
NGINX_STARTED=
cleanup() {
	[ -n "$NGINX_STARTED" ] && nginx_fixture_stop
	rm -rf "$T"
}
trap cleanup EXIT
EMU=("$ST7DFU_EMU" --timeout 120)
# GNU time (Debian package "time") gives peak RSS when st7dfu does not report it itself.
GNU_TIME=''
TIMEW=()
[ -x /usr/bin/time ] && GNU_TIME=/usr/bin/time && TIMEW=("$GNU_TIME" -f %M -o "$T/rss")

# median V...: of the numeric values ("n/a" and empty ones are left out).
median() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
		awk '{ a[NR] = $1 } END { if (!NR) print "n/a"; else if (NR % 2) print a[(NR + 1) / 2];
			else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# calc FORMAT EXPR [VAR=VALUE...]: awk arithmetic; "n/a" when a variable is not a number
# or a divisor is zero.
calc() {
	local fmt=$1 expr=$2
	shift 2
	awk -v fmt="$fmt" "$@" "BEGIN { bad = 0 }
		function n(x) { if (x !~ /^-?[0-9.]+\$/) bad = 1; return x + 0 }
		function d(x) { x = n(x); if (x == 0) bad = 1; return x ? x : 1 }
		BEGIN { v = $expr; if (bad) print \"n/a\"; else printf fmt \"\\n\", v }"
}
xfers_of() { # REPORT INDEX: DFU class requests + standard requests of device INDEX
	jq ".devices[$2] | .dfu_requests + .requests.GET_DESCRIPTOR + .requests.other" "$1"
}
# resources STDERR-FILE RSS-FILE: "DEVICE_KiB WORKER_KiB" from st7dfu's own exit line
# under ST7DFU_DEBUG=1, else GNU time's %M for the device process and n/a for the worker.
resources() {
	local line
	line=$(sed -n 's/.*resources: peak RSS \([0-9][0-9]*\) KiB (this process)\(, \([0-9][0-9]*\) KiB (fetch worker)\)\{0,1\}.*/\1 \3/p' "$1" | tail -n1)
	if [ -n "$line" ]; then
		# shellcheck disable=SC2086 # split on purpose: "DEVICE_KiB [WORKER_KiB]", numbers only
		set -- $line
		echo "$1 ${2:-n/a} self"
	else
		echo "$(cat "$2" 2>/dev/null || echo n/a) n/a time"
	fi
}
timed() { # RSS-FILE CMD...: CMD under GNU time when there is one
	local out=$1
	shift
	echo n/a >"$out"
	if [ -n "$GNU_TIME" ]; then "$GNU_TIME" -f %M -o "$out" "$@"; else "$@"; fi
}
warn() { echo "   (warning: $*)"; }

# Images are signed, as in the field: the signature check is part of what is timed.
mkdir -p "$T/keys"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/k.pem" 2>/dev/null
openssl pkey -in "$T/k.pem" -pubout -out "$T/keys/bench.pem" 2>/dev/null
head -c 3000 /dev/urandom >"$T/f62.bin"
for p in st72f62 st72f65; do
	src=$D/st72f65-app.hex
	[ $p = st72f62 ] && src=$T/f62.bin@0xE000
	"$ST7DFU" pack -o "$T/$p-old.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile $p --stamp-version "$src" >/dev/null
	"$ST7DFU" pack -o "$T/$p-new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile $p --stamp-version "$src" >/dev/null
	"$ST7DFU" sign --key "$T/k.pem" "$T/$p-new.dfu" >/dev/null
	head -c -16 "$T/$p-old.dfu" >"$T/$p-old.bin"
done
bus_of() { if [ "$1" = st72f62 ]; then echo low; else echo full; fi; }
SEQ=$(seq "$RUNS")

echo "== 1. st7dfu upgrade, realistic device timings (median of $RUNS runs per figure)"
declare -A V # V[profile.figure.run]
for r in $SEQ; do
	for p in st72f62 st72f65; do
		bus=$(bus_of $p)
		# The emulator's per-transfer floor: a tight dfu-util upload of the whole region
		# from the same kind of device, in DFU mode, on the same bus model; the lowest of
		# three (other load on the machine only ever adds to it).
		fl=()
		for _ in 1 2 3; do
			rm -f "$T/up.bin"
			"${EMU[@]}" --report "$T/u.json" --device "kind=st7,mode=dfu,profile=$p,bus=$bus" \
				-- dfu-util -d 0483:df11 -U "$T/up.bin" >/dev/null 2>&1 || { warn "$p: dfu-util -U failed"; continue; }
			fl+=("$(calc %.4f '(n(e) - n(m)) / d(x)' -v e="$(jq '.devices[0].elapsed_ms' "$T/u.json")" \
				-v m="$(jq '.devices[0].mandated_ms' "$T/u.json")" -v x="$(xfers_of "$T/u.json" 0)")")
		done
		V[$p.floor.$r]=$(printf '%s\n' "${fl[@]}" | grep -E '^[0-9.]+$' | sort -g | head -n1)
		"${EMU[@]}" --report "$T/r.json" --device "kind=st7,profile=$p,bus=$bus,flash-in=$T/$p-old.bin" \
			-- "$ST7DFU" upgrade --keys "$T/keys" --state-dir "$T/s-$p-$r" "$T/$p-new.dfu" >/dev/null 2>"$T/err"
		st=$(jq '.commands[0].status' "$T/r.json")
		[ "$st" = 0 ] || { warn "$p run $r: st7dfu upgrade exited $st, run left out: $(tail -n2 "$T/err" | tr '\n' ' ')"; continue; }
		V[$p.wall.$r]=$(jq '.commands[0].elapsed_ms' "$T/r.json")
		V[$p.busy.$r]=$(jq '.devices[0].elapsed_ms' "$T/r.json")
		V[$p.mand.$r]=$(jq '.devices[0].mandated_ms' "$T/r.json")
		V[$p.xfers.$r]=$(xfers_of "$T/r.json" 0)
		V[$p.gd.$r]=$(jq '.devices[0].requests.GET_DESCRIPTOR' "$T/r.json")
		V[$p.dnload.$r]=$(jq '.devices[0].requests.DNLOAD' "$T/r.json")
		for e in busy wall; do
			V[$p.ratio_$e.$r]=$(calc %.3f '(n(e) - n(x) * n(f)) / d(m)' -v e="${V[$p.$e.$r]}" \
				-v x="${V[$p.xfers.$r]}" -v f="${V[$p.floor.$r]}" -v m="${V[$p.mand.$r]}")
		done
		# The emulator's per-wake-up cost: a GETSTATUS right after a 5 ms sleep (the ST7's
		# programming time per block) against one back to back (st7dfu-bench wakeup).
		if [ -n "$ST7DFU_BENCH" ] && [ -x "$ST7DFU_BENCH" ]; then
			w=$("${EMU[@]}" --device "kind=st7,mode=dfu,profile=$p,bus=$bus" \
				-- "$ST7DFU_BENCH" wakeup 0483:df11 100 5000 2>/dev/null)
			V[$p.wake.$r]=$(sed -n 's/.* wake \(-\{0,1\}[0-9]*\)$/\1/p' <<<"$w")
		fi
	done
done
m() { # PROFILE FIGURE: the median over the runs
	local a=() r
	for r in $SEQ; do a+=("${V[$1.$2.$r]:-n/a}"); done
	median "${a[@]}"
}
printf '%-8s %-4s %7s %7s %7s %6s %8s %10s %10s %7s\n' profile bus wall_ms busy_ms mand_ms xfers floor_ms host_ratio wall_ratio wake_us
for p in st72f62 st72f65; do
	printf '%-8s %-4s %7s %7s %7s %6s %8s %10s %10s %7s\n' $p "$(bus_of $p)" "$(m $p wall)" "$(m $p busy)" \
		"$(m $p mand)" "$(m $p xfers)" "$(m $p floor)" "$(m $p ratio_busy)" "$(m $p ratio_wall)" "$(m $p wake)"
done
for p in st72f62 st72f65; do
	w=$(m $p wake) n=$(m $p dnload)
	echo "   $p: ~$n sleeps (one per DNLOAD's busy period) x $w us = $(calc %.0f 'n(a) * n(b) / 1000' -v a="$n" -v b="$w") ms of wake-ups, NOT subtracted"
done
cat <<'EOF'
   wall_ms: the st7dfu command (process start to exit); busy_ms: the device's first to last
   request; mand_ms: device-mandated minimum (report mandated_ms: busy periods, modelled bus
   time, re-enumeration waits); xfers: control transfers (dfu_requests + GET_DESCRIPTOR +
   other); floor_ms: the emulator's own cost per transfer above the modelled bus time, from
   tight `dfu-util -U`s of the same device in the same run, (busy - mandated) / xfers of
   the upload, the lowest of 3 per run;
   host_ratio = (busy_ms - xfers x floor_ms) / mand_ms (target <= 1.02); wall_ratio the
   same with wall_ms (process start and final scan included); wake_us: what a GETSTATUS
   costs more right after a 5 ms sleep than back to back (st7dfu-bench wakeup: emulator
   and CPU wake-up; measured, shown, not subtracted: the number of wake-ups is estimated).
EOF

echo "== 2. GET_DESCRIPTOR requests per ST72F65 upgrade (median of $RUNS runs)"
for r in $SEQ; do
	"${EMU[@]}" --report "$T/g.json" --device "kind=st7,profile=st72f65,bus=full" \
		--device "kind=st7,profile=st72f65,bus=full,flash-in=$T/st72f65-old.bin" \
		--device "kind=st7,profile=st72f65,bus=full" \
		-- "$ST7DFU" upgrade --path 1-2 --keys "$T/keys" --state-dir "$T/g-$r" "$T/st72f65-new.dfu" >/dev/null 2>"$T/err"
	st=$(jq '.commands[0].status' "$T/g.json")
	[ "$st" = 0 ] || { warn "run $r: st7dfu upgrade exited $st, run left out: $(tail -n2 "$T/err" | tr '\n' ' ')"; continue; }
	for i in 0 1 2; do V[g.$i.$r]=$(jq ".devices[$i].requests.GET_DESCRIPTOR" "$T/g.json"); done
done
printf '   %-44s %4s   (target <= 12)\n' "alone (section 1's runs)" "$(m st72f65 gd)"
printf '   %-44s %4s   (target <= 12)\n' "with two bystander ST7s, target at --path 1-2" "$(m g 1)"
printf '   %-44s %4s / %s   (target 0)\n' "bystanders at 1-1 / 1-3" "$(m g 0)" "$(m g 2)"
echo "   (report .devices[i].requests.GET_DESCRIPTOR: the requests that reached each emulated"
echo "   device; what st7dfu reads from sysfs, as the kernel caches it, sends none; three"
echo "   identical runtime-mode ST7s with their own serials)"

echo "== 3. peak RSS in KiB (median of $RUNS runs)"
# Every process under st7dfu-emu also maps umockdev's preload: its share is shown, not
# subtracted (st7dfu --version with and without it).
for r in $SEQ; do
	timed "$T/rss" "$ST7DFU" --version >/dev/null 2>&1
	V[pre.plain.$r]=$(cat "$T/rss")
	echo n/a >"$T/rss"
	"${EMU[@]}" -- "${TIMEW[@]}" "$ST7DFU" --version >/dev/null 2>&1
	V[pre.emu.$r]=$(cat "$T/rss")
	# list, one ST7 on the bus
	echo n/a >"$T/rss"
	ST7DFU_DEBUG=1 "${EMU[@]}" --device "kind=st7,profile=st72f65" -- \
		"${TIMEW[@]}" "$ST7DFU" list >/dev/null 2>"$T/err"
	read -r a b how <<<"$(resources "$T/err" "$T/rss")"
	V[list.dev.$r]=$a V[list.how.$r]=$how
	# upgrade of a local file (ST72F65, full speed)
	echo n/a >"$T/rss"
	ST7DFU_DEBUG=1 "${EMU[@]}" --report "$T/m.json" --device "kind=st7,profile=st72f65,bus=full,flash-in=$T/st72f65-old.bin" \
		-- "${TIMEW[@]}" "$ST7DFU" upgrade --keys "$T/keys" --state-dir "$T/m-$r" \
		"$T/st72f65-new.dfu" >/dev/null 2>"$T/err"
	[ "$(jq '.commands[0].status' "$T/m.json")" = 0 ] || warn "upgrade FILE run $r failed: $(tail -n2 "$T/err" | tr '\n' ' ')"
	read -r a b how <<<"$(resources "$T/err" "$T/rss")"
	V[file.dev.$r]=$a V[file.wrk.$r]=$b V[file.how.$r]=$how
done
# upgrade https://: the same image from a local nginx with TLS and a throwaway CA
# (tests/net/nginx-fixture.sh, as tests/cli/net.sh uses it).
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
	# shellcheck source=../net/nginx-fixture.sh
	. "$ST7_TESTS/net/nginx-fixture.sh"
	mkdir "$T/ng"
	if nginx_fixture_start "$T/ng" 2>"$T/ng.err"; then
		NGINX_STARTED=1
		cp "$T/st72f65-new.dfu" "$T/st72f65-new.dfu.sig" "$NGINX_DIR/www/"
		chmod 644 "$NGINX_DIR/www/"*
		for r in $SEQ; do
			echo n/a >"$T/rss"
			ST7DFU_DEBUG=1 "${EMU[@]}" --report "$T/n.json" --device "kind=st7,profile=st72f65,bus=full,flash-in=$T/st72f65-old.bin" \
				-- "${TIMEW[@]}" "$ST7DFU" upgrade --keys "$T/keys" \
				--ca-file "$NGINX_CA" --state-dir "$T/n-$r" "$NGINX_URL/st72f65-new.dfu" >/dev/null 2>"$T/err"
			[ "$(jq '.commands[0].status' "$T/n.json")" = 0 ] || warn "upgrade URL run $r failed: $(tail -n1 "$T/err")"
			read -r a b how <<<"$(resources "$T/err" "$T/rss")"
			V[net.dev.$r]=$a V[net.wrk.$r]=$b V[net.how.$r]=$how
		done
	else
		warn "nginx did not start: $(tail -n2 "$T/ng.err" | tr '\n' ' ')"
	fi
else
	warn "no nginx: upgrade https:// not measured"
fi
how() { # KEY: where the device figure came from (run 1)
	case ${V[$1.how.1]:-} in self) echo "st7dfu's own report" ;; time) echo "GNU time %M" ;; *) echo "-" ;; esac
}
printf '   %-30s %8s %8s   %-22s %s\n' command st7dfu worker "st7dfu figure from" target
printf '   %-30s %8s %8s   %-22s %s\n' "list (one ST7)" "$(m list dev)" - "$(how list)" "<= 3072 (3 MiB)"
printf '   %-30s %8s %8s   %-22s %s\n' "upgrade FILE (ST72F65)" "$(m file dev)" "$(m file wrk)" "$(how file)" "<= 3584 (3.5 MiB)"
printf '   %-30s %8s %8s   %-22s %s\n' "upgrade https://127.0.0.1/..." "$(m net dev)" "$(m net wrk)" "$(how net)" "<= 3584; worker: report"
printf '   %-30s %8s %8s   (umockdev preload: +%s KiB, in every figure above)\n' "--version, without emulator" \
	"$(m pre plain)" - "$(calc %.0f 'n(a) - n(b)' -v a="$(m pre emu)" -v b="$(m pre plain)")"
cat <<'EOF'
   st7dfu: the device process, from its ST7DFU_DEBUG=1 exit line "resources: peak RSS N KiB
   (this process), M KiB (fetch worker)" when it prints one, else GNU time's %M (which is
   the larger of st7dfu and any child it waited for); worker: the st7dfu-fetch process, from
   that line only (n/a without it). All under st7dfu-emu, which preloads libumockdev.
EOF

echo "== 4. stripped binary sizes"
bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$ST7_BUILD_DIR/CMakeCache.txt" 2>/dev/null)
for b in "$ST7DFU" "$ST7DFU_FETCH"; do
	if [ -f "$b" ]; then
		cp "$b" "$T/strip.bin" && strip "$T/strip.bin"
		sz=$(stat -c %s "$T/strip.bin")
		printf '   %-12s %8s bytes (%s KB)\n' "$(basename "$b")" "$sz" "$(calc %.1f 'n(a) / 1000' -v a="$sz")"
	else
		printf '   %-12s not built\n' "$(basename "$b")"
	fi
done
echo "   build type ${bt:-(unknown)} ($ST7_BUILD_DIR); target: st7dfu <= 170 KB at MinSizeRel (amd64)"

echo "== 5. the same DFU 1.1 device and image: st7dfu download vs dfu-util (detach included; median of $RUNS runs)"
dev="kind=dfu11,mode=runtime,bus=full,vid=0x1209,pid=0x0001,dfu-pid=0x0002,version=0x0100"
head -c 49152 /dev/urandom >"$T/img.bin"
"$ST7DFU" pack -o "$T/img.dfu" --vid 1209 --pid 0002 --bcd 0x0100 --dfu-version 1.1 "$T/img.bin@0" >/dev/null
"$ST7DFU" sign --key "$T/k.pem" "$T/img.dfu" >/dev/null
have_du=
command -v dfu-util >/dev/null && have_du=1
for r in $SEQ; do
	"${EMU[@]}" --report "$T/a.json" --device "$dev" -- "$ST7DFU" download --keys "$T/keys" "$T/img.dfu" >/dev/null 2>&1
	V[du.st7.$r]=$(jq '.commands[0].elapsed_ms' "$T/a.json")
	V[du.st7m.$r]=$(jq '.devices[0].mandated_ms' "$T/a.json")
	[ -n "$have_du" ] || continue
	"${EMU[@]}" --report "$T/b.json" --device "$dev" -- dfu-util -d 1209:0001,1209:0002 -D "$T/img.dfu" >/dev/null 2>&1
	V[du.def.$r]=$(jq '.commands[0].elapsed_ms' "$T/b.json")
	"${EMU[@]}" --report "$T/c.json" --device "$dev" -- dfu-util -E 1 -d 1209:0001,1209:0002 -D "$T/img.dfu" >/dev/null 2>&1
	V[du.e1.$r]=$(jq '.commands[0].elapsed_ms' "$T/c.json")
	"${EMU[@]}" --report "$T/d.json" --device "$dev" -- dfu-util -d 1209:0001 -e --then -- dfu-util -d 1209:0002 -D "$T/img.dfu" >/dev/null 2>&1
	V[du.two.$r]=$(jq '[.commands[].elapsed_ms]|add' "$T/d.json")
done
a=$(m du st7)
printf '   %-34s %7s ms (device-mandated %s ms)\n' "st7dfu download" "$a" "$(m du st7m)"
if [ -n "$have_du" ]; then
	echo "   ($(dfu-util --version 2>/dev/null | head -n1); the targets are set against 0.11)"
	b=$(m du def) c=$(m du e1) d=$(m du two)
	printf '   %-34s %7s ms (%sx st7dfu; target >= 2)\n' "dfu-util -D (default 5 s detach)" "$b" "$(calc %.2f 'n(b) / d(a)' -v a="$a" -v b="$b")"
	printf '   %-34s %7s ms (%sx st7dfu)\n' "dfu-util -E 1 -D" "$c" "$(calc %.2f 'n(b) / d(a)' -v a="$a" -v b="$c")"
	printf '   %-34s %7s ms (%sx st7dfu)\n' "dfu-util -e, then dfu-util -D" "$d" "$(calc %.2f 'n(b) / d(a)' -v a="$a" -v b="$d")"
	best=$(printf '%s\n' "$c" "$d" | sort -g | head -n1)
	printf '   %-34s %7s ms (%sx st7dfu; target >= 1.2)\n' "best hand-tuned dfu-util" "$best" "$(calc %.2f 'n(b) / d(a)' -v a="$a" -v b="$best")"
	echo "   (the emulator's command wall times, process start to exit; dfu-util -D exits 74 after"
	echo "   \"Done!\", its own spurious error after the reset, and is timed all the same)"
else
	echo "   dfu-util not installed: no comparison"
fi

IDLE_S=${BENCH_IDLE_S:-60}
echo "== 6. idle daemon: st7dfu run between polls, ${IDLE_S} s (BENCH_IDLE_S)"
# One up-to-date reader and a local signed manifest: after its first cycle the daemon has
# nothing to do until the next poll (1 h). Its wake-ups are the context switches of all
# its threads over the window (libusb's event thread included), and strace -c -f when
# strace is there.
mkdir -p "$T/idle/state" && chmod 700 "$T/idle/state"
"$ST7DFU" pack -o "$T/idle/r.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 \
	--stamp-version "$D/st72f65-app.hex" >/dev/null
now=$(date -u +%s)
cat >"$T/idle/manifest.ini" <<INI
[manifest]
serial  = 1
issued  = $(date -u -d "@$((now - 3600))" +%Y-%m-%dT%H:%M:%SZ)
expires = $(date -u -d "@$((now + 86400))" +%Y-%m-%dT%H:%M:%SZ)

[release "r"]
match   = 0483:ff03
version = 0x0103
url     = r.dfu
sha256  = $(sha256sum "$T/idle/r.dfu" | cut -d' ' -f1)
size    = $(stat -c %s "$T/idle/r.dfu")
INI
"$ST7DFU" sign --key "$T/k.pem" -o "$T/idle/manifest.ini.sig" "$T/idle/manifest.ini" >/dev/null
printf '[agent]\nstate_dir = %s\nkeys_dir = %s\nmanifest_url = %s\ndevice_id = bench\npoll_interval = 1h\n' \
	"$T/idle/state" "$T/keys" "$T/idle/manifest.ini" >"$T/idle/policy.ini"
cat >"$T/idle/session.sh" <<'SH'
#!/bin/bash
"$ST7DFU" run -c "$1/policy.ini" 2>"$1/run.log" &
pid=$!
for _ in $(seq 200); do grep -q "manifest 1:" "$1/run.log" 2>/dev/null && break; sleep 0.05; done
sleep 1
ctx() { cat /proc/$pid/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }'; }
c0=$(ctx)
if command -v strace >/dev/null; then
	timeout "$2" strace -c -f -p "$pid" -o "$1/strace" >/dev/null 2>&1
else
	sleep "$2"
fi
c1=$(ctx)
echo "$((c1 - c0))" >"$1/ctx"
grep -E 'VmHWM|VmRSS' /proc/$pid/status >"$1/mem"
ls /proc/$pid/task | wc -l >"$1/threads"
kill -TERM "$pid"
wait "$pid"
SH
chmod +x "$T/idle/session.sh"
ST7DFU=$ST7DFU "${EMU[@]}" --timeout $((IDLE_S + 60)) \
	--device kind=st7,profile=st72f65,serial=I-1,version=0x0103 \
	-- "$T/idle/session.sh" "$T/idle" "$IDLE_S" >/dev/null 2>&1
if [ -s "$T/idle/ctx" ]; then
	printf '   %-34s %7s over %s s (%s threads: st7dfu and libusb'"'"'s event thread)\n' \
		"context switches (wake-ups)" "$(cat "$T/idle/ctx")" "$IDLE_S" "$(cat "$T/idle/threads")"
	sed 's/^/   /' "$T/idle/mem"
	if [ -s "$T/idle/strace" ]; then
		echo "   strace -c -f (every system call over the window):"
		sed 's/^/     /' "$T/idle/strace"
	else
		echo "   (strace not installed: the system calls are not listed)"
	fi
else
	echo "   the idle daemon could not be measured (see $T/idle/run.log)"
fi

echo "== 7. signature check of a 1 MiB image, whole command (process start, key load, hash, verify)"
head -c 1048576 /dev/urandom >"$T/big.dfu"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.key" 2>/dev/null
mkdir -p "$T/rsakeys" && openssl pkey -in "$T/rsa.key" -pubout -out "$T/rsakeys/rsa.pem" 2>/dev/null
"$ST7DFU" sign --key "$T/k.pem" -o "$T/big.ec.sig" "$T/big.dfu" >/dev/null
"$ST7DFU" sign --key "$T/rsa.key" -o "$T/big.rsa.sig" "$T/big.dfu" >/dev/null
for alg in ec rsa; do
	keys=$T/keys
	[ $alg = rsa ] && keys=$T/rsakeys
	ts=()
	for _ in 1 2 3 4 5 6 7 8 9 10 11; do
		t0=$(date +%s%N)
		"$ST7DFU" verify --keys "$keys" "$T/big.dfu" "$T/big.$alg.sig" >/dev/null
		t1=$(date +%s%N)
		ts+=("$(calc %.2f '(n(b) - n(a)) / 1e6' -v a="$t0" -v b="$t1")")
	done
	printf '   %-34s %7s ms (median of 11 runs)\n' "st7dfu verify ($alg)" "$(median "${ts[@]}")"
done
