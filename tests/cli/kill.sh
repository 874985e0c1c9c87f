#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# kill -9 of `st7dfu upgrade` at random moments against a persistent emulated device,
# then recovery by another command against the same half-written device: the device
# must always end with a valid application, and a stored backup is never corrupt.
# SEEDS (default 5) sets how many runs; the long target runs 200.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
SEEDS=${SEEDS:-5}
P=st72f65
"$ST7DFU" pack -o "$T/old.dfu" --vid 0483 --pid ff03 --bcd 1.02 --profile $P --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
"$ST7DFU" pack -o "$T/new.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile $P --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
head -c -16 "$T/old.dfu" >"$T/old.bin"
test_keys
sign_all
declare -A WHEN
for seed in $(seq 1 "$SEEDS"); do
	RANDOM=$seed
	delay_ms=$(((RANDOM * 7919 + seed * 104729) % 3300)) # an upgrade takes about 3 s here
	S=$T/state-$seed
	# Recovery: a new upgrade, or (every other seed) a rollback, and an upgrade if
	# there was nothing to roll back to.
	if [ $((seed % 2)) -eq 0 ]; then
		recover="\"$ST7DFU\" rollback --state-dir \"$S\" || \"$ST7DFU\" upgrade --keys \"$K\" --state-dir \"$S\" \"$T/new.dfu\""
	else
		recover="\"$ST7DFU\" upgrade --keys \"$K\" --state-dir \"$S\" \"$T/new.dfu\""
	fi
	"$ST7DFU_EMU" --timeout 120 --report "$T/rep.json" \
		--device "kind=st7,profile=$P,serial=K$seed,flash-in=$T/old.bin" \
		-- sh -c "\"$ST7DFU\" upgrade --keys \"$K\" --state-dir \"$S\" \"$T/new.dfu\" 2>/dev/null & p=\$!; sleep $((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000))); kill -9 \$p 2>/dev/null; wait \$p; echo \$? >\"$T/first\"; exit 0" \
		--then -- sh -c "$recover" >"$T/out" 2>&1
	rc=$?
	R=$(cat "$T/rep.json")
	mode=$(jq -r '.devices[0].mode' <<<"$R")
	valid=$(jq -r '.devices[0].app_valid' <<<"$R")
	ver=$(jq -r '.devices[0].version' <<<"$R")
	killed_in=$(cat "$T/first")
	case $killed_in in 137) killed_in=killed ;; 0) killed_in=finished ;; esac
	WHEN[$killed_in]=$((${WHEN[$killed_in]:-0} + 1))
	printf 'seed %3d  kill -9 after %4d ms (upgrade %s) -> recovery exit %s, %s, valid %s, version %s\n' \
		"$seed" "$delay_ms" "$killed_in" "$rc" "$mode" "$valid" "$ver"
	# 5 = nothing to do: the killed upgrade had already finished.
	case $rc in 0 | 5) ok ;; *) fail "seed $seed: recovery exit $rc" ;; esac
	eq "$mode" runtime "seed $seed: runtime mode"
	eq "$valid" true "seed $seed: valid application"
	case $ver in 258 | 259) ok ;; *) fail "seed $seed: version $ver" ;; esac
	# Every stored backup is a complete, valid image of the old firmware.
	for b in "$S"/backups/*/*.dfu; do
		[ -e "$b" ] || continue
		if "$ST7DFU" info --profile $P "$b" >/dev/null 2>&1 && cmp -s <(head -c -16 "$b") "$T/old.bin"; then
			ok
		else
			fail "seed $seed: backup $b is corrupt"
		fi
	done
	case $rc in 0 | 5) ;; *) cat "$T/out" >&2 ;; esac
done
echo "runs: $SEEDS; the first upgrade: $(for k in "${!WHEN[@]}"; do printf '%s %s  ' "${WHEN[$k]}" "$k"; done)"
finish
