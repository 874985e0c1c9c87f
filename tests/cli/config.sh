#!/bin/bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# The policy file: `config --check` and `--print` on good and bad files (line numbers,
# suggestions, all-or-nothing, lab-only settings, sources), and that every command that
# reads it refuses a bad one before doing anything.
. "$(dirname "$0")/lib.sh"
CONF=$TESTS/../conf/st7dfu.ini

# The shipped example is valid.
run "$ST7DFU" config --check -c "$CONF"
expect_rc 0 "conf/st7dfu.ini passes --check"

# No file at all: an explicit one is an error, the default one is optional.
run "$ST7DFU" config --check -c "$T/none.ini"
expect_rc 3 "missing -c file"
has "$ERR" "$T/none.ini" "missing file named"
if [ -e /etc/st7dfu/st7dfu.ini ]; then
	echo "NOTE: /etc/st7dfu/st7dfu.ini exists here: the no-default-file case is not tested" >&2
else
	run "$ST7DFU" config --check
	expect_rc 0 "no default policy file: built-in defaults"
	has "$ERR" "built-in defaults" "says the defaults apply"
fi

# bad FILE CONTENT EXPECTED...: --check refuses it with exit 3 and each EXPECTED text.
bad() {
	local name=$1 content=$2
	shift 2
	printf '%b' "$content" >"$T/$name.ini"
	run "$ST7DFU" config --check -c "$T/$name.ini"
	expect_rc 3 "$name: refused"
	for e in "$@"; do has "$ERR" "$e" "$name"; done
}
bad misspelt '[agent]\nstate_dir = /tmp\npolll_interval = 6h\n' \
	"$T/misspelt.ini:3:" "unknown key 'polll_interval'" "did you mean 'poll_interval'"
bad value '[update]\n\nretries = 0\n' "$T/value.ini:3:" "retries" "1..100"
bad duration '[agent]\npoll_interval = 6 hours\n' "$T/duration.ini:2:" "poll_interval"
bad duplicate '[update]\nretries = 2\nkeep_backups = 2\nretries = 3\n' \
	"$T/duplicate.ini:4:" "duplicate key 'retries'" "line 2"
bad quote '[agent]\nmanifest_url = "https://example.com/m.ini\n' "$T/quote.ini:2:" "quote"
bad section '[agent]\n[updte]\nretries = 1\n' "$T/section.ini:2:" "did you mean [update]"
bad wrongsection '[agent]\nretries = 1\n' "$T/wrongsection.ini:2:" "belongs in [update]"
bad nosection 'retries = 1\n' "$T/nosection.ini:1:" "before any section"
bad syntax '[agent]\nthis line has no equals sign\n' "$T/syntax.ini:2:"
bad window '[agent]\nwindow = Mon-Fry 02:00-05:00\n' "$T/window.ini:2:" "window"
bad timezone '[agent]\ntimezone = Mars/Olympus_Mons\n' "$T/timezone.ini:2:" "time zone"
bad lab '[agent]\nallow_unsigned = yes\n' "$T/lab.ini:2:" "lab-only"
bad labhttp '[agent]\nallow_http = yes\n' "$T/labhttp.ini:2:" "lab-only"
bad device '[device "reader"]\nmatch = 0483:ff03\nmin_version = 1.2.3\n' "$T/device.ini:3:" \
	"min_version"
bad devicekey '[device "reader"]\nmatch = 0483:ff03\nhodl = yes\n' "$T/devicekey.ini:3:" \
	"did you mean 'hold'"
bad devicenone '[device "reader"]\nhold = yes\n' "$T/devicenone.ini:1:"
bad devicedup '[device "a"]\nmatch = 0483:ff03\n[device "a"]\nmatch = 0483:ff04\n' \
	"$T/devicedup.ini:3:" "line 1"
bad nul '[agent]\nretries\0 = 1\n' "$T/nul.ini:2:"

# A lab policy may, and says so loudly.
printf '[agent]\nlab = yes\nallow_unsigned = yes\n' >"$T/labok.ini"
run "$ST7DFU" config --check -c "$T/labok.ini"
expect_rc 0 "lab policy accepted"
has "$ERR" "LAB SETTING ON: allow_unsigned" "lab setting logged"

# Long values fit (URLs with long query strings).
long=$(head -c 3000 /dev/zero | tr '\0' 'a')
printf '[agent]\nmanifest_url = https://example.com/%s\ntimezone = Europe/Paris\n' "$long" >"$T/long.ini"
run "$ST7DFU" config --print --json -c "$T/long.ini"
expect_rc 0 "long URL read"
jqeq "$OUT" '.settings[] | select(.key=="manifest_url") | .value | length' 3020 "long URL whole"

# Sources: default, file:line, and a flag overriding the file.
printf '; policy\n[update]\nretries = 4\nkeep_backups = 7\n[agent]\nwindow = Fri 22:00-02:00\n' >"$T/src.ini"
run "$ST7DFU" config --print --json -c "$T/src.ini" --retries 5
expect_rc 0 "print with a flag"
jqeq "$OUT" '.settings[] | select(.key=="retries") | "\(.value) \(.source) \(.flag)"' \
	"5 flag --retries" "flag overrides the file"
jqeq "$OUT" '.settings[] | select(.key=="keep_backups") | "\(.value) \(.source) \(.line)"' \
	"7 file 4" "file value with its line"
jqeq "$OUT" '.settings[] | select(.key=="max_attempts") | "\(.value) \(.source)"' \
	"3 default" "default"
jqeq "$OUT" '.settings[] | select(.key=="window") | .value' "Fri 22:00-02:00" "window shown"
jqeq "$OUT" '.file' "$T/src.ini" "file named"
# Every key of the table is printed.
n=$(printf '%s' "$OUT" | jq '.settings | length')
[ "$n" -ge 30 ] && ok || fail "only $n settings printed"

# Text form: reads back as the same policy.
run "$ST7DFU" config --print -c "$T/src.ini"
expect_rc 0 "print text"
has "$OUT" "keep_backups       = 7 ; $T/src.ini:4" "text names the line"
printf '%s\n' "$OUT" >"$T/printed.ini"
run "$ST7DFU" config --print --json -c "$T/printed.ini"
expect_rc 0 "printed policy reads back"
jqeq "$OUT" '.settings[] | select(.key=="keep_backups") | .value' 7 "read back value"

# The example policy with a device section, printed as JSON.
cat >"$T/dev.ini" <<'INI'
[agent]
channel = beta
[device "card-reader"]
match       = 0483:ff03   ; runtime IDs
serial      = ST7-00*
min_version = 0x0120
hold        = yes
INI
run "$ST7DFU" config --print --json -c "$T/dev.ini"
expect_rc 0 "device section"
jqeq "$OUT" '.devices[0] | "\(.name) \(.match) \(.serial) \(.min_version) \(.hold) \(.line)"' \
	"card-reader 0483:ff03 ST7-00* 0x0120 true 3" "device rule fields"

# Other commands read the policy too, and refuse a bad one before doing anything.
run "$ST7DFU" status -c "$T/misspelt.ini"
expect_rc 3 "status refuses a bad policy before touching USB"
has "$ERR" "did you mean 'poll_interval'" "status names the policy error"
printf '[update]\nretries = 7\n' >"$T/r7.ini"
run "$ST7DFU" config --print --json -c "$T/r7.ini"
jqeq "$OUT" '.settings[] | select(.key=="retries") | .value' 7 "policy applied"

# --check and --print: exactly one.
run "$ST7DFU" config
expect_rc 2 "config needs --check or --print"
finish
