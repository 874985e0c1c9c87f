#!/bin/bash
# SPDX-License-Identifier: MIT
# The service as a gateway runs it, without systemd as PID 1 (none here):
#  1. the units pass `systemd-analyze verify`, and `systemd-analyze security` rates both
#     services "OK" or better (the figures are printed);
#  2. the sysusers file makes the st7dfu user (when it is missing);
#  3. the udev rule gives every emulated DFU device (runtime and DFU mode, each kind) to
#     the st7dfu group, 0660, and keeps ModemManager off it (`udevadm test` on the
#     emulator's sysfs);
#  4. the daemon's ExecStart line, run the way the unit runs it (User=st7dfu, no
#     capabilities, no new privileges, a notify socket and a watchdog), with its policy and
#     keys root-owned and read-only to it, updates three emulated readers from a signed
#     manifest on the local TLS nginx: READY, STATUS with the outcome, WATCHDOG, STOPPING
#     and exit 0 on SIGTERM, a state directory owned by st7dfu alone; every system call the
#     agent and its fetch worker made is one the unit's SystemCallFilter allows, every
#     socket of a family RestrictAddressFamilies allows;
#  5. the timer's service (st7dfu check) as the same user then has nothing to do: exit 5,
#     which its SuccessExitStatus counts as success.
# shellcheck source=../cli/lib.sh
. "$(dirname "$0")/../cli/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
: "${ST7_UNITS:?set ST7_UNITS to BUILD/init, the configured units}"
SRC=$(cd "$TESTS/.." && pwd)
# shellcheck source=../net/nginx-fixture.sh
. "$TESTS/net/nginx-fixture.sh"
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	nginx_fixture_stop
	rm -f "${RULE:-/nonexistent}"
	if [ -n "${ST7_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

skip() {
	echo "SKIPPED LOUDLY: $*" >&2
	if [ -n "${CI:-}" ]; then
		fail "$* (CI must run this test)"
		finish
	fi
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (to run the agent as the st7dfu user)"
for tool in systemd-analyze setpriv strace python3 nginx openssl jq; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || skip "$tool missing"
done

# ---- 1. the units ----
mkdir -p "$T/bin" "$T/units"
# Where the unit names the installed binary, the test names its copy (verify checks that
# ExecStart exists and is executable).
cp "$ST7DFU" "$T/bin/st7dfu"
cp "$(dirname "$ST7DFU")/st7dfu-fetch" "$T/bin/st7dfu-fetch"
cp "$ST7DFU_EMU" "$T/bin/st7dfu-emu"
for u in st7dfu.service st7dfu-check.service st7dfu-check.timer; do
	[ -f "$ST7_UNITS/$u" ] || { fail "$u not configured in $ST7_UNITS"; finish; }
	sed "s|^\(Exec[A-Za-z]*=\)[^ ]*/st7dfu |\1$T/bin/st7dfu |" "$ST7_UNITS/$u" >"$T/units/$u"
done
run systemd-analyze verify --man=no "$T/units/st7dfu.service" "$T/units/st7dfu-check.service" \
	"$T/units/st7dfu-check.timer"
expect_rc 0 "systemd-analyze verify"
eq "$OUT$ERR" "" "systemd-analyze verify says nothing"
for u in st7dfu.service st7dfu-check.service; do
	run systemd-analyze security --offline=true --no-pager "$T/units/$u"
	line=$(printf '%s\n' "$OUT" | grep 'Overall exposure level' | tail -1)
	echo "security: $u: ${line#*: }"
	case "$line" in
	*" SAFE"* | *" OK"*) ok ;;
	*) fail "$u: systemd-analyze security: '$line', expected OK or SAFE" ;;
	esac
done
grep -q '^ExecStart=.*/st7dfu run$' "$ST7_UNITS/st7dfu.service" || fail "daemon's ExecStart"
grep -q '^Type=notify$' "$ST7_UNITS/st7dfu.service" || fail "Type=notify"
grep -q '^WatchdogSec=' "$ST7_UNITS/st7dfu.service" || fail "WatchdogSec="

# ---- 2. the user ----
if ! id -u st7dfu >/dev/null 2>&1; then
	echo "creating the st7dfu user with init/systemd/st7dfu.sysusers" >&2
	systemd-sysusers "$SRC/init/systemd/st7dfu.sysusers" || fail "systemd-sysusers"
fi
id -u st7dfu >/dev/null 2>&1 || { fail "no st7dfu user"; finish; }
eq "$(getent passwd st7dfu | cut -d: -f6,7)" "/var/lib/st7dfu:/usr/sbin/nologin" \
	"st7dfu's home and shell"
GID=$(id -g st7dfu)

# ---- 3. the udev rule, on the emulator's sysfs ----
if command -v udevadm >/dev/null; then
	RULE=/run/udev/rules.d/70-st7dfu-selftest-$$.rules
	mkdir -p /run/udev/rules.d
	cp "$SRC/init/udev/70-st7dfu.rules" "$RULE"
	for spec in kind=st7,serial=U1 kind=st7,mode=dfu,serial=U2 kind=dfu11,serial=U3 \
		kind=dfuse,mode=dfu,serial=U4; do
		"$ST7DFU_EMU" --device "$spec" -- \
			udevadm test --action=add /sys/bus/usb/devices/1-1 >"$T/udev.out" 2>&1
		grep "$(basename "$RULE")" "$T/udev.out" | grep -v 'Reading rules file' |
			grep -vE ':[0-9]+ (GROUP|MODE) ' >"$T/udev.bad"
		eq "$(cat "$T/udev.bad")" "" "$spec: the rule parses without a complaint"
		grep -qE "$(basename "$RULE"):[0-9]+ GROUP $GID\$" "$T/udev.out" ||
			fail "$spec: GROUP st7dfu ($GID) not set: $(grep -i group "$T/udev.out")"
		grep -qE "$(basename "$RULE"):[0-9]+ MODE 0660\$" "$T/udev.out" || fail "$spec: MODE 0660"
		grep -qx 'ID_MM_DEVICE_IGNORE=1' "$T/udev.out" || fail "$spec: ModemManager told off"
	done
	rm -f "$RULE"
else
	skip "udevadm missing (the udev rule is not checked)"
fi

# ---- 4. the daemon as the unit runs it ----
chmod 755 "$T"
mkdir -p "$T/ng"
nginx_fixture_start "$T/ng" || { fail "nginx fixture did not start"; finish; }
chmod -R a+rX "$T/ng/pki" "$T/bin"
WWW=$NGINX_DIR/www
test_keys
chmod 644 "$K/test.pem"
mkdir -p "$WWW/images" "$T/etc"
"$ST7DFU" pack -o "$WWW/images/reader.dfu" --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 \
	--stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null || fail "pack"
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
cat >"$WWW/manifest.ini" <<INI
[manifest]
serial  = 1
issued  = $(utc $((now - 60)))
expires = $(utc $((now + 86400)))

[release "reader-1.03"]
match   = 0483:ff03
version = 0x0103
url     = images/reader.dfu
sha256  = $(sha256sum "$WWW/images/reader.dfu" | cut -d' ' -f1)
size    = $(stat -c %s "$WWW/images/reader.dfu")
INI
openssl dgst -sha256 -sign "$T/test.key" -out "$WWW/manifest.ini.sig" "$WWW/manifest.ini"
chmod -R a+rX "$WWW"
S=$T/state
install -d -o st7dfu -g st7dfu -m 0700 "$S"
install -d -o st7dfu -g st7dfu -m 0700 "$T/run"
echo "gateway-unit" >"$T/etc/machine-id"
cat >"$T/etc/st7dfu.ini" <<INI
[agent]
state_dir      = $S
keys_dir       = $K
manifest_url   = $NGINX_URL/manifest.ini
ca_file        = $NGINX_CA
device_id_file = $T/etc/machine-id
poll_interval  = 1h
INI
chmod 644 "$T/etc/st7dfu.ini" "$T/etc/machine-id"
sum_before=$(sha256sum "$T/etc/st7dfu.ini" "$K/test.pem")

# The ExecStart lines of the units, as words, with the binary the test built.
exec_words() {
	local line
	line=$(grep '^ExecStart=' "$T/units/$1")
	printf '%s\n' "${line#ExecStart=}"
}
read -r -a DAEMON <<<"$(exec_words st7dfu.service)"
read -r -a CHECK <<<"$(exec_words st7dfu-check.service)"
eq "${DAEMON[0]} ${CHECK[0]}" "$T/bin/st7dfu $T/bin/st7dfu" "the units run st7dfu"

cp "$TESTS/cli/notify_receiver.py" "$T/notify.py" # the notify socket (its header says how)
# Inside the emulator, as st7dfu: the daemon under strace (every process it starts),
# stopped with SIGTERM once its first cycle is reported; then the timer's check.
cat >"$T/session.sh" <<'SH'
#!/bin/bash
R=$T/run
read -r -a DAEMON <<<"$DAEMON_WORDS"
read -r -a CHECK <<<"$CHECK_WORDS"
python3 "$T/notify.py" "$R/notify" "$R/notify.log" &
NPID=$!
for _ in $(seq 100); do [ -e "$R/notify.ready" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$R/notify WATCHDOG_USEC=2000000 strace -f -qq -o "$R/trace" \
	"${DAEMON[@]}" -c "$T/etc/st7dfu.ini" 2>"$R/daemon.log" &
SPID=$!
for _ in $(seq 600); do grep -q '^STATUS=.* 3 updated' "$R/notify.log" 2>/dev/null && break; sleep 0.1; done
sleep 2.5 # a watchdog period or two while idle
pid=$(sed -n 's/^pid=//p' "$T/state/agent.status" 2>/dev/null)
echo "daemon pid ${pid:-unknown}; processes: $(pgrep -a -u st7dfu | tr '\n' ';')" >"$R/session.log"
[ -n "$pid" ] && kill -TERM "$pid" 2>>"$R/session.log"
wait "$SPID"
echo $? >"$R/daemon.rc"
kill "$NPID"
"${CHECK[@]}" -c "$T/etc/st7dfu.ini" >"$R/check.out" 2>"$R/check.log"
echo $? >"$R/check.rc"
# A supervisor that leaves the stop and reload signals blocked (the mask survives exec):
# the daemon must still stop on SIGTERM.
python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1})
os.execv(sys.argv[1], sys.argv[1:])' "${DAEMON[@]}" -c "$T/etc/st7dfu.ini" 2>"$R/blocked.log" &
BPID=$!
for _ in $(seq 300); do grep -qx "pid=$BPID" "$T/state/agent.status" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -TERM "$BPID"
for _ in $(seq 200); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$BPID" 2>/dev/null; then
	echo hung >"$R/blocked.rc"
	kill -KILL "$BPID"
	wait "$BPID"
else
	wait "$BPID"
	echo $? >"$R/blocked.rc"
fi
SH
chmod 755 "$T/session.sh" "$T/notify.py"
# The unit's User=, NoNewPrivileges=, CapabilityBoundingSet= and AmbientCapabilities=.
run setpriv --reuid=st7dfu --regid=st7dfu --init-groups --no-new-privs --bounding-set=-all \
	--inh-caps=-all -- env HOME=/ PATH="$PATH" TMPDIR="$T/run" T="$T" DAEMON_WORDS="${DAEMON[*]}" \
	CHECK_WORDS="${CHECK[*]}" "$T/bin/st7dfu-emu" --timeout 180 --report "$T/run/emu.json" \
	--device kind=st7,profile=st72f65,serial=R-1,version=0x0102 \
	--device kind=st7,profile=st72f65,serial=R-2,version=0x0101 \
	--device kind=st7,profile=st72f65,serial=R-3,version=0x0102 -- "$T/session.sh"
R=$T/run
expect_rc 0 "the session as st7dfu; $(cat "$R/session.log" 2>/dev/null)"
eq "$(cat "$R/daemon.rc" 2>/dev/null)" 0 "daemon: exit 0 on SIGTERM; log: $(tail -5 "$R/daemon.log")"
eq "$(head -1 "$R/notify.log" | cut -d'|' -f1)" "READY=1" "READY first"
eq "$(tail -1 "$R/notify.log" | cut -d'|' -f1)" "STOPPING=1" "STOPPING last"
grep -q '^STATUS=manifest 1: 3 device(s), 3 chosen; 3 updated' "$R/notify.log" ||
	fail "STATUS with the cycle's outcome"
grep -q '^WATCHDOG=1' "$R/notify.log" || fail "WATCHDOG=1 sent"
jqeq "$(cat "$R/emu.json")" '[.devices[] | "\(.mode) \(.version)"] | unique | join(",")' \
	"runtime 259" "every reader updated (0x0103), in runtime mode"
# Root's command in the agent's state directory (here through a link to it, as on a
# read-only root with the state on a data partition) works as the agent's user: what it
# writes (the lock, the cache, a manifest's record) stays usable to the agent.
"$ST7DFU" sign --key "$T/test.key" "$WWW/images/reader.dfu" >/dev/null || fail "sign"
chmod 644 "$WWW/images/reader.dfu.sig"
ln -s "$S" "$T/state-link"
run "$T/bin/st7dfu" fetch -c "$T/etc/st7dfu.ini" --state-dir "$T/state-link" \
	"$NGINX_URL/images/reader.dfu"
expect_rc 0 "root's fetch into st7dfu's state directory"
has "$ERR" "working as st7dfu, the owner of $T/state-link" "root became st7dfu"
run "$T/bin/st7dfu" status -c "$T/etc/st7dfu.ini" --state-dir "$T/state-link"
expect_rc 0 "root's status of st7dfu's state directory"
eq "$(find "$S" ! -user st7dfu | wc -l)" 0 "everything in the state directory is st7dfu's"
eq "$(find "$S" -perm /022 ! -type l | wc -l)" 0 "nothing in it writable by others"
eq "$(find "$S/backups" -name '*.dfu' | wc -l)" 3 "a backup per reader"
eq "$(sha256sum "$T/etc/st7dfu.ini" "$K/test.pem")" "$sum_before" "policy and keys unchanged"
eq "$(stat -c %U "$T/etc/st7dfu.ini" "$K/test.pem" | sort -u)" root "policy and keys root's"
eq "$(cat "$R/check.rc" 2>/dev/null)" 5 "the timer's check: nothing to do (exit 5)"
eq "$(cat "$R/blocked.rc" 2>/dev/null)" 0 "SIGTERM stops a daemon started with it blocked; log: $(tail -3 "$R/blocked.log")"
grep -q '^SuccessExitStatus=5$' "$ST7_UNITS/st7dfu-check.service" ||
	fail "the check unit counts exit 5 as success"

# Every system call of the agent and its worker within the unit's filter.
allowed=$T/allowed
expand() {
	local g
	systemd-analyze syscall-filter --no-pager "$1" | sed -e 's/#.*//' -e '1d' | tr -s ' ' '\n' |
		while read -r g; do
			case "$g" in '') ;; @*) expand "$g" ;; *) echo "$g" ;; esac
		done
}
filter=$(sed -n 's/^SystemCallFilter=//p' "$ST7_UNITS/st7dfu.service")
for f in $filter; do
	case "$f" in @*) expand "$f" ;; *) echo "$f" ;; esac
done | sort -u >"$allowed"
[ "$(wc -l <"$allowed")" -gt 100 ] || fail "the filter expanded to $(wc -l <"$allowed") calls"
sed -nE 's/^[0-9]+ +(<\.\.\. )?([a-z0-9_]+)[( ].*/\2/p' "$R/trace" | sort -u >"$T/used"
[ "$(wc -l <"$T/used")" -gt 20 ] || fail "strace saw $(wc -l <"$T/used") system calls"
outside=$(comm -23 "$T/used" "$allowed" | tr '\n' ' ')
eq "$outside" "" "system calls outside SystemCallFilter"
families=$(grep -oE 'socket\(AF_[A-Z0-9]+' "$R/trace" | sort -u | sed 's/socket(//' | tr '\n' ' ')
echo "socket families used: $families"
for fam in $families; do
	grep -q "^RestrictAddressFamilies=.*\b$fam\b" "$ST7_UNITS/st7dfu.service" ||
		fail "socket family $fam outside RestrictAddressFamilies"
done
grep -q 'landlock_restrict_self(' "$R/trace" || fail "the worker confined itself (Landlock)"
finish
