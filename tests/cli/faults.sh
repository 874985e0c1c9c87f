#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck source-path=SCRIPTDIR disable=SC2015 # "CHECK && ok || fail": ok always succeeds
# The fault matrix: every fault the emulator (tests/emu) can inject, against every device
# command (upgrade, rollback, download, upload) and every device kind (st7 = ST72F65,
# dfu11, dfuse) where it applies. Each case checks the end state, not just the exit code:
#  - exit 0: the new firmware (rollback: the backup's), byte for byte (flash-out), its
#    version, runtime mode; upload: a file equal to the device's memory;
#  - exit 8: the old firmware exactly, its version, runtime mode;
#  - exit 14 (upgrade): the new firmware runs, the backup is set aside as *.unproven
#    and a plain `rollback` refuses to use it;
#  - exit 9: the mode the row names (dfu, unplugged, or runtime with a lying version);
#  - exit 3/6/7: the firmware the device had before, untouched (3 and 6: no DFU request
#    at all), runtime mode unless the power never came back;
#  - always: a device with a valid application holds the old or the new firmware, never
#    a third content; every stored backup equals the old firmware byte for byte (plain:
#    the payload; DfuSe: every element against the memory at its address, covering it);
#    a backup given to rollback is still there, unchanged; upload leaves no file when
#    it fails; the fault actually fired; each case ends within 80 s.
# Rollback cases start the device on the new firmware with a backup of the old one in
# place (made by a clean upgrade of the same kind, then copied: dirs 0700, file 0600),
# so the fault hits the rollback. Cases with a finite replug-ms let the device come back
# (`--then -- sleep`) before the emulator reports its state.
#
# JOBS=N  emulators at once (default 4; each case has its own directories)
# ONLY=RE run only the cases whose "fault command kind" matches the regex
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
JOBS=${JOBS:-4}
ONLY=${ONLY:-}
FAST="erase-ms=1,prog-ms=0,manifest-ms=5,reenum-ms=5"
OLDV=258 # 0x0102
NEWV=259 # 0x0103
t_start=$(date +%s)

# ---- Images: old 1.02 and new 1.03 for each kind, different in every block -----------
# st7: the bundled application (old) and random bytes (new), the ST72F65 region
# 0x8000-0xEFFF with the big-endian version word at its end. dfu11 and dfuse: 8 KiB of
# random bytes with the little-endian version word at 0x1FFC (version-addr).
head -c 28672 /dev/urandom >"$T/r28.bin"
"$ST7DFU" pack -o "$T/st7-old.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null &&
	"$ST7DFU" pack -o "$T/st7-new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 --stamp-version "$T/r28.bin@0x8000" >/dev/null ||
	{ echo "cannot pack the ST7 images" >&2; exit 1; }
head -c -16 "$T/st7-old.dfu" >"$T/st7-old.bin"
head -c -16 "$T/st7-new.dfu" >"$T/st7-new.bin"
for v in old new; do
	{ head -c 8188 /dev/urandom; if [ $v = old ]; then printf '\002\001\377\377'; else printf '\003\001\377\377'; fi; } >"$T/gen-$v.bin"
	cp "$T/gen-$v.bin" "$T/dfu11-$v.bin"
	cp "$T/gen-$v.bin" "$T/dfuse-$v.bin"
done
"$ST7DFU" pack -o "$T/dfu11-old.dfu" --vid 0483 --pid ff03 --bcd 0x0102 --dfu-version 1.1 "$T/gen-old.bin@0" >/dev/null &&
	"$ST7DFU" pack -o "$T/dfu11-new.dfu" --vid 0483 --pid ff03 --bcd 0x0103 --dfu-version 1.1 "$T/gen-new.bin@0" >/dev/null &&
	"$ST7DFU" pack -o "$T/dfuse-old.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x0102 "$T/gen-old.bin@0x08000000" >/dev/null &&
	"$ST7DFU" pack -o "$T/dfuse-new.dfu" --format dfuse --vid 0483 --pid df11 --bcd 0x0103 "$T/gen-new.bin@0x08000000" >/dev/null ||
	{ echo "cannot pack the DFU 1.1 / DfuSe images" >&2; exit 1; }
test_keys
sign_all

KINDS=(st7 dfu11 dfuse)
CMDS=(upgrade rollback download upload)
declare -A DEV=(
	[st7]="kind=st7,profile=st72f65"
	[dfu11]="kind=dfu11,mem-size=8K,version-addr=0x1FFC"
	[dfuse]="kind=dfuse,mem-size=8K,version-addr=0x08001FFC"
)
# A file that does not suit the kind (download/upgrade must refuse it before detach).
declare -A MISMATCH=([st7]=dfu11-new.dfu [dfu11]=dfuse-new.dfu [dfuse]=dfu11-new.dfu)
# Where the placeholders in the fault specs land, per kind:
# @BLK@ a data block in the middle (DfuSe: wBlockNum 3, the second data block; block 0 is
# also every DfuSe command), @OFF@ a byte of the memory, @VOFF@ the version word.
declare -A BLK=([st7]=20 [dfu11]=3 [dfuse]=3)
declare -A VOFF=([st7]=0x6FFE [dfu11]=0x1FFC [dfuse]=0x1FFC)
# @GS@: the N-th GETSTATUS of the device's life, inside the download phase of the
# command (counted on clean runs: an ST7 upgrade downloads from GETSTATUS 3 to 230, a
# DFU 1.1 one from 3 to 14, a DfuSe one from 112 to 142; rollback and download start
# downloading at once); upload: the first one.
gs_for() { # KIND CMD
	case $2 in
	upload) echo 1 ;;
	upgrade) case $1 in st7) echo 40 ;; dfu11) echo 6 ;; dfuse) echo 125 ;; esac ;;
	*) case $1 in st7) echo 40 ;; dfu11) echo 4 ;; dfuse) echo 20 ;; esac ;;
	esac
}

# content_is FILE MEM KIND: FILE (.dfu) holds exactly MEM: a plain payload equal to it,
# or a DfuSe file whose elements cover it, each equal to the memory at its address.
content_is() {
	local j kind
	j=$("$ST7DFU" info --json "$1" 2>/dev/null) || return 1
	[ "$(jq -r '.files[0].valid' <<<"$j")" = true ] || return 1
	kind=$(jq -r '.files[0].kind' <<<"$j")
	if [ "$kind" = dfuse ]; then
		local total=0 addr off size msize
		msize=$(stat -c %s "$2")
		while read -r addr off size; do
			[ "$addr" -ge $((0x08000000)) ] && [ $((addr + size)) -le $((0x08000000 + msize)) ] || return 1
			cmp -s <(tail -c +$((off + 1)) "$1" | head -c "$size") \
				<(tail -c +$((addr - 0x08000000 + 1)) "$2" | head -c "$size") || return 1
			total=$((total + size))
		done < <(jq -r '.files[0].dfuse.targets[].elements[] | "\(.address) \(.offset) \(.size)"' <<<"$j")
		[ "$total" -eq "$msize" ]
	else
		cmp -s <(head -c -16 "$1") "$2"
	fi
}

# ---- The matrix ----------------------------------------------------------------------
# name | spec | kinds | expectations | extra options
# expectations: CMD[/KIND]:EXITS[:MODE] ... (EXITS "0,8": either; MODE runtime by default); a
# CMD/KIND entry overrides the CMD entry for that kind; a command not named does not
# apply. Each expectation is the promise, not what the agent happens to do today.
ROWS=$(
	cat <<'EOF'
none|||upgrade:0 rollback:0 download:0 upload:0|
stall-block|stall-block=@BLK@||upgrade:0 rollback:0 download:0|
stall-block x3|stall-block=@BLK@,fault-times=3||upgrade:8 rollback:9:dfu download:9:dfu|
stall-block always|stall-block=@BLK@,fault-times=0||upgrade:9:dfu rollback:9:dfu download:9:dfu|
error-block errWRITE|error-block=@BLK@,error-status=errWRITE||upgrade:0 rollback:0 download:0|
error-block errVERIFY x3|error-block=@BLK@,error-status=errVERIFY,fault-times=3||upgrade:8 rollback:9:dfu download:9:dfu|
error-block errPROG always|error-block=@BLK@,error-status=errPROG,fault-times=0||upgrade:9:dfu rollback:9:dfu download:9:dfu|
poll-ms=0|poll-ms=0||upgrade:0 rollback:0 download:0|
poll-ms=max --max-poll 20|poll-ms=16777215||upgrade:0 rollback:0 download:0|--max-poll 20
getstatus-timeout|getstatus-timeout=@GS@||upgrade:0 rollback:0 download:0 upload:0,7|
unplug dfuDNBUSY replug|unplug-state=dfuDNBUSY,replug-ms=100||upgrade:0 upgrade/dfuse:0,7 rollback:0 download:0|
unplug dfuDNBUSY never|unplug-state=dfuDNBUSY,replug-ms=never||upgrade:9:unplugged upgrade/dfuse:7:unplugged rollback:9:unplugged download:9:unplugged|
unplug dfuMANIFEST replug|unplug-state=dfuMANIFEST,replug-ms=100||upgrade:0,8 rollback:0 download:0|
unplug dfuMANIFEST never|unplug-state=dfuMANIFEST,replug-ms=never||upgrade:9:unplugged rollback:9:unplugged download:9:unplugged|
unplug appDETACH replug|unplug-state=appDETACH,replug-ms=100||upgrade:0,7 rollback:0,7 download:0,7 upload:0,7|
unplug appDETACH never|unplug-state=appDETACH,replug-ms=never||upgrade:7:unplugged rollback:7:unplugged download:7:unplugged upload:7:unplugged|
unplug dfuUPLOAD-IDLE replug|unplug-state=dfuUPLOAD-IDLE,replug-ms=100||upgrade:0,7 upload:0,7|
unplug dfuUPLOAD-IDLE never|unplug-state=dfuUPLOAD-IDLE,replug-ms=never||upgrade:7:unplugged upload:7:unplugged|
unplug-block replug|unplug-block=@BLK@,replug-ms=100||upgrade:0 rollback:0 download:0|
unplug-block never|unplug-block=@BLK@,replug-ms=never||upgrade:9:unplugged rollback:9:unplugged download:9:unplugged|
no-reenum|no-reenum=1||upgrade:7 rollback:7 download:7 upload:7|
wrong-version|fault-times=0,wrong-version=0x0999||upgrade:9 rollback:9 download:0|
reject-image|reject-image=1,fault-times=0||upgrade:9:dfu rollback:9:dfu download:9:dfu|
upload-corrupt once|upload-corrupt=100||upgrade:0 upload:0|
upload-corrupt always|upload-corrupt=100,fault-times=0||upgrade:14|
upload-corrupt always --verify|upload-corrupt=100,fault-times=0|dfu11 dfuse|upgrade:14|--verify
upload-corrupt always @version|upload-corrupt=@VOFF@,fault-times=0|st7|upgrade:7 upload:7|
upload-short|upload-short=1000||upgrade:7 upload/st7:7|
upload-long|upload-long=1|st7 dfu11|upgrade:7 upload:7|
desc=xfer0|desc=xfer0||upgrade:6|
desc=trunc-func|desc=trunc-func||upgrade:6|
desc=bad-blength|desc=bad-blength||upgrade:6|
desc=bad-total|desc=bad-total||upgrade:6|
desc=no-func|desc=no-func||upgrade:6|
mismatched image|||upgrade:3 download:3|
EOF
)

N=0
declare -a C_NAME C_SPEC C_CMD C_KIND C_EXITS C_MODE C_OPTS
while IFS='|' read -r name spec kinds expect opts; do
	[ -z "$name" ] && continue
	for cmd in "${CMDS[@]}"; do
		for kind in ${kinds:-${KINDS[*]}}; do
			e=
			for x in $expect; do
				[ "${x%%:*}" = "$cmd" ] && [ -z "$e" ] && e=${x#*:}
			done
			for x in $expect; do
				[ "${x%%:*}" = "$cmd/$kind" ] && e=${x#*:}
			done
			[ -z "$e" ] && continue
			[ -n "$ONLY" ] && ! [[ "$name $cmd $kind" =~ $ONLY ]] && continue
			s=${spec//@BLK@/${BLK[$kind]}}
			s=${s//@VOFF@/${VOFF[$kind]}}
			s=${s//@GS@/$(gs_for "$kind" "$cmd")}
			N=$((N + 1))
			C_NAME[N]=$name C_SPEC[N]=$s C_CMD[N]=$cmd C_KIND[N]=$kind C_OPTS[N]=$opts
			C_EXITS[N]=${e%%:*}
			C_MODE[N]=runtime
			[[ $e == *:* ]] && C_MODE[N]=${e#*:}
		done
	done
done <<<"$ROWS"

# ---- Backups to roll back to: a clean upgrade of each kind -----------------------------
for kind in "${KINDS[@]}"; do
	B=$T/base-$kind
	mkdir -p "$B"
	"$ST7DFU_EMU" --timeout 60 --report "$B/rep.json" \
		--device "${DEV[$kind]},serial=FM,flash-in=$T/$kind-old.bin,flash-out=$B/flash.bin,$FAST" \
		-- "$ST7DFU" upgrade --keys "$K" --state-dir "$B/state" --reenum-timeout 3000 "$T/$kind-new.dfu" >"$B/out" 2>"$B/err"
	f=$B/state/backups/0483-ff03-FM/0102.dfu
	if [ -f "$f" ] && content_is "$f" "$T/$kind-old.bin" && cmp -s "$B/flash.bin" "$T/$kind-new.bin"; then
		cp "$f" "$T/backup-$kind.dfu"
		ok
	else
		fail "$kind: the clean upgrade that makes the rollback backup failed"
		cat "$B/err" >&2
		finish
	fi
done

# ---- One case ---------------------------------------------------------------------------
outcome() {
	case $1 in
	0) echo 'done' ;; 3) echo refused ;; 4) echo no-backup ;; 6) echo no-device ;;
	7) echo untouched ;; 8) echo rolled-back ;; 9) echo not-restored ;;
	14) echo done-unproven ;; 124) echo TIMEOUT ;; *) echo "exit-$1" ;;
	esac
}

verhex() { [[ $1 =~ ^[0-9]+$ ]] && printf '0x%04X' "$1" || echo "$1"; }

# classify FLASH KIND: old, new, missing or other
classify() {
	if [ ! -f "$1" ]; then echo missing
	elif cmp -s "$1" "$T/$2-old.bin"; then echo old
	elif cmp -s "$1" "$T/$2-new.bin"; then echo new
	else echo other
	fi
}

run_case() { # ID; runs in a subshell: counts and failures go to files
	local i=$1 name=${C_NAME[$1]} spec=${C_SPEC[$1]} cmd=${C_CMD[$1]} kind=${C_KIND[$1]}
	local C=$T/c$1 what before after img rc mode ver valid fired dfureq
	local -a args then=()
	PASSED=0 FAILED=0
	what="$name / $cmd / $kind"
	mkdir -p "$C"
	before=old after=new
	[ "$cmd" = rollback ] && before=new after=old
	[ "$cmd" = upload ] && after=old
	img=$T/$kind-new.dfu
	[ "$name" = "mismatched image" ] && img=$T/${MISMATCH[$kind]}
	local S=$C/state
	case $cmd in
	upgrade) args=(upgrade --keys "$K" --state-dir "$S" --reenum-timeout 3000) ;;
	rollback)
		args=(rollback --state-dir "$S" --reenum-timeout 3000)
		mkdir -p "$S/backups/0483-ff03-FM"
		chmod 700 "$S" "$S/backups" "$S/backups/0483-ff03-FM"
		install -m 600 "$T/backup-$kind.dfu" "$S/backups/0483-ff03-FM/0102.dfu"
		;;
	download) args=(download --keys "$K" --reenum-timeout 3000) ;;
	upload) args=(upload --reenum-timeout 3000 -o "$C/up.dfu") ;;
	esac
	# shellcheck disable=SC2206
	args+=(${C_OPTS[$i]})
	case $cmd in upgrade | download) args+=("$img") ;; esac
	# A power cycle's return is not waited for by the emulator: the report then shows
	# the device back on the bus (up to 10 s for loaded sanitizer runs).
	# shellcheck disable=SC2016 # expanded by the command's shell
	[[ $spec =~ replug-ms=[0-9] ]] &&
		then=(--then -- sh -c 'for _ in $(seq 200); do [ -e /sys/bus/usb/devices/1-1/serial ] && exit 0; sleep 0.05; done')
	local dev="${DEV[$kind]},serial=FM,flash-in=$T/$kind-$before.bin,flash-out=$C/flash.bin,$FAST"
	[ -n "$spec" ] && dev="$dev,$spec"
	local t0 t1
	t0=$(date +%s%N)
	"$ST7DFU_EMU" --timeout 90 --report "$C/rep.json" --device "$dev" \
		-- "$ST7DFU" "${args[@]}" "${then[@]}" >"$C/out" 2>"$C/err"
	rc=$?
	t1=$(date +%s%N)
	local ms=$(((t1 - t0) / 1000000))
	if [ -f "$C/rep.json" ]; then
		IFS=$'\t' read -r rc mode ver valid fired dfureq < <(jq -r '[.commands[0].status,
			.devices[0].mode, .devices[0].version, .devices[0].app_valid, .devices[0].faults_fired,
			.devices[0].dfu_requests] | @tsv' "$C/rep.json")
	else
		mode=none ver=null valid=null fired=0 dfureq=0
	fi
	local flash want_flash="" want_ver=""
	flash=$(classify "$C/flash.bin" "$kind")

	# The exit code and the mode.
	if [[ ",${C_EXITS[$i]}," == *",$rc,"* ]]; then ok; else fail "$what: exit $rc, expected ${C_EXITS[$i]}"; fi
	eq "$mode" "${C_MODE[$i]}" "$what: final mode"
	# The firmware and the version that go with the exit code.
	case $rc in
	0) want_flash=$after ;;
	8) want_flash=old ;;
	14) want_flash=new ;;
	3 | 4 | 5 | 6 | 7) want_flash=$before ;;
	esac
	[ "$rc" = 8 ] && [ "$cmd" != upgrade ] && fail "$what: exit 8 from $cmd"
	if [ -n "$want_flash" ]; then
		eq "$flash" "$want_flash" "$what: flash"
		want_ver=$([ "$want_flash" = old ] && echo $OLDV || echo $NEWV)
	fi
	# A device that lies about its version after manifestation (wrong-version) reports
	# the lie whatever it runs once something was manifested.
	[[ $spec == *wrong-version=* ]] && [ "$rc" != 7 ] && want_ver=$((${spec##*wrong-version=}))
	if [ "$mode" = runtime ]; then
		[ -n "$want_ver" ] && eq "$ver" "$want_ver" "$what: version"
		[[ $flash == old || $flash == new ]] && ok || fail "$what: runs a third firmware ($flash)"
	fi
	# Never a runnable third content.
	if [ "$valid" = true ] && [[ $flash != old && $flash != new ]]; then
		fail "$what: valid application but the flash is $flash"
	fi
	# Refusals touch nothing: no DFU request at all.
	case $rc in 3 | 6) eq "$dfureq" 0 "$what: DFU requests before the refusal" ;; esac
	# The fault took effect (the spec keys that count their firings).
	if [[ $spec =~ (block|unplug|upload-|getstatus|poll-ms|wrong-version|reject-image) ]]; then
		[ "${fired:-0}" -ge 1 ] && ok || fail "$what: the fault never fired"
	fi
	# Backups.
	local b bad=0 nplain=0 nunproven=0
	if [ "$cmd" = upgrade ] && [ -d "$S/backups" ]; then
		for b in "$S"/backups/*/*.dfu; do
			[ -f "$b" ] || continue
			nplain=$((nplain + 1))
			content_is "$b" "$T/$kind-old.bin" || { bad=1; fail "$what: stored backup $(basename "$b") is not the old firmware"; cp "$b" "$T/bad-backup-$i.dfu"; }
			[ "$(stat -c %a "$b")" = 600 ] || fail "$what: backup mode $(stat -c %a "$b")"
		done
		for b in "$S"/backups/*/*.unproven; do [ -f "$b" ] && nunproven=$((nunproven + 1)); done
		[ $bad = 0 ] && ok
	fi
	if [ "$cmd" = upgrade ]; then
		case $rc in
		0 | 8 | 9) [ $nplain -ge 1 ] && ok || fail "$what: exit $rc without a stored backup" ;;
		14)
			eq "$nplain/$((nunproven > 0))" 0/1 "$what: backup set aside as *.unproven only"
			# A plain rollback never takes an unproven backup.
			"$ST7DFU_EMU" --timeout 60 --report "$C/rep2.json" \
				--device "${DEV[$kind]},serial=FM,flash-in=$T/$kind-new.bin,flash-out=$C/flash2.bin,$FAST" \
				-- "$ST7DFU" rollback --state-dir "$S" --reenum-timeout 3000 >"$C/out2" 2>"$C/err2"
			local rc2=$?
			eq "$rc2 $(classify "$C/flash2.bin" "$kind")" "4 new" "$what: plain rollback after 14 refuses the unproven backup"
			;;
		esac
	fi
	if [ "$cmd" = rollback ]; then
		cmp -s "$S/backups/0483-ff03-FM/0102.dfu" "$T/backup-$kind.dfu" && ok ||
			fail "$what: the stored backup was changed or removed"
	fi
	# upload: a file equal to the memory, or no file.
	if [ "$cmd" = upload ]; then
		if [ "$rc" = 0 ]; then
			content_is "$C/up.dfu" "$C/flash.bin" && ok ||
				{ fail "$what: uploaded file ($(stat -c %s "$C/up.dfu" 2>/dev/null || echo no) bytes) is not the device's memory"; cp "$C/up.dfu" "$T/bad-upload-$i.dfu" 2>/dev/null; }
		else
			[ ! -e "$C/up.dfu" ] && ok || fail "$what: exit $rc but an output file exists"
		fi
		[ -z "$(find "$C" -maxdepth 1 -name 'up.dfu.*')" ] && ok || fail "$what: temporary files left: $(ls "$C")"
	fi
	[ $ms -le 80000 ] && ok || fail "$what: took $((ms / 1000)) s"

	printf '%3d  %-30s %-8s %-5s -> %-13s exit %-3s %-9s %-6s flash %-5s %5d.%01ds%s\n' "$i" "$name" "$cmd" "$kind" \
		"$(outcome "$rc")" "$rc" "$mode" "$(verhex "$ver")" "$flash" $((ms / 1000)) $((ms % 1000 / 100)) \
		"$([ "$FAILED" -gt 0 ] && echo "  <-- FAIL")" >"$C/line"
	if [ "$FAILED" -gt 0 ]; then
		{
			echo "    command: st7dfu-emu --device '$dev' -- st7dfu ${args[*]}"
			echo "    report: $(jq -c '{commands: [.commands[] | {status, elapsed_ms}], device: (.devices[0] | {mode, state, version, app_valid, faults_fired, reenumerations, requests})}' "$C/rep.json" 2>/dev/null)"
			grep -v '^st7dfu: [a-z-]*\.\.\.$' "$C/err" | tail -n 8 | sed 's/^/    stderr: /'
		} >"$C/detail"
	fi
	echo "$PASSED $FAILED $rc" >"$C/counts"
}

echo "fault matrix: $N cases, $JOBS at a time"
running=0
for ((i = 1; i <= N; i++)); do
	run_case "$i" 2>"$T/c$i.fails" &
	running=$((running + 1))
	if [ $running -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

# ---- Results ------------------------------------------------------------------------------
printf '%3s  %-30s %-8s %-5s    %-13s %-8s %-9s %-6s %-11s %s\n' id fault command kind outcome exit mode version flash time
declare -A CELL OUTCOMES
declare -a FAILED_CASES=()
for ((i = 1; i <= N; i++)); do
	if [ -f "$T/c$i/counts" ]; then
		read -r p f rc <"$T/c$i/counts"
	else
		p=0 f=1 rc='?'
		echo "FAIL: case $i (${C_NAME[i]} / ${C_CMD[i]} / ${C_KIND[i]}) did not finish" >>"$T/c$i.fails"
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	cat "$T/c$i/line" 2>/dev/null
	if [ "$f" -gt 0 ]; then
		sed 's/^/    /' "$T/c$i.fails"
		cat "$T/c$i/detail" 2>/dev/null
		FAILED_CASES+=("$i")
	fi
	CELL["${C_NAME[i]}|${C_CMD[i]}|${C_KIND[i]}"]="$rc$([ "$f" -gt 0 ] && echo '!')"
	o=$(outcome "$rc")
	OUTCOMES[$o]=$((${OUTCOMES[$o]:-0} + 1))
done

echo
echo "summary: exit code per fault, command and kind ('!' = a check failed, '.' = n/a)"
printf '%-31s' ""
for cmd in "${CMDS[@]}"; do printf '| %-18s' "$cmd"; done
echo
printf '%-31s' fault
for cmd in "${CMDS[@]}"; do printf '| %-5s %-5s %-5s ' st7 dfu11 dfuse; done
echo
seen=""
while IFS='|' read -r name _; do
	[ -z "$name" ] && continue
	case "|$seen|" in *"|$name|"*) continue ;; esac
	seen="$seen|$name"
	line=$(printf '%-31s' "$name")
	any=0
	for cmd in "${CMDS[@]}"; do
		line+="| "
		for kind in "${KINDS[@]}"; do
			c=${CELL["$name|$cmd|$kind"]:-.}
			[ "$c" != . ] && any=1
			line+=$(printf '%-6s' "$c")
		done
	done
	[ $any = 1 ] && echo "$line"
done <<<"$ROWS"
echo
echo "outcomes:"
for o in "${!OUTCOMES[@]}"; do printf '  %4d %s\n' "${OUTCOMES[$o]}" "$o"; done | sort -k2
echo "cases: $N, failing: ${#FAILED_CASES[@]}${FAILED_CASES[*]:+ (${FAILED_CASES[*]})}; $(($(date +%s) - t_start)) s"
finish
