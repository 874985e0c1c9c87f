#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# The fetch worker (st7dfu-fetch) as a separate, de-privileged process:
#   1. st7dfu never links or maps libcurl's chain; the worker never links libusb;
#   2. during a real download from nginx/the fault server, the worker runs unprivileged
#      (when the test runs as root), with no new privileges, no file size, no descriptor
#      but its socket and stderr, while st7dfu holds no libcurl mapping;
#   3. a signal to st7dfu (or to its whole process group) stops the download and takes
#      the worker with it, as does kill -9 of st7dfu; kill -9 to the worker is a failed
#      download (exit 11), never a failed st7dfu;
#   4. fake workers (fault injection: crash, exit, hang, garbage, oversized frames, DATA
#      before BEGIN, a result it may not give, a short count, a flood past the limit, a
#      forged image, a BEGIN for another range or twice, a short success, an END unlike
#      its BEGIN, a stop or a 304 nobody asked for) each fail the fetch with exit 11 (or
#      12 for the forged image, which st7dfu's own signature check catches) and leave the
#      device untouched; heartbeats keep a slow but live worker going past the 10 s backstop.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
: "${ST7DFU_FAULTSRV:?set ST7DFU_FAULTSRV to the st7dfu-faultsrv binary}"
for tool in nginx openssl perl readelf; do
	command -v "$tool" >/dev/null || [ -x /usr/sbin/$tool ] || { echo "SKIP: $tool missing"; exit 77; }
done
# shellcheck source=../net/nginx-fixture.sh
. "$TESTS/net/nginx-fixture.sh"
WORKER=$(dirname "$ST7DFU")/st7dfu-fetch
FS_PID='' BG=''
declare -A FK_PID=() # fake_start's background runs, by name
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap (shellcheck 0.9 misses it when the script ends in exit)
cleanup() {
	[ -n "$BG" ] && kill -9 "$BG" 2>/dev/null
	for p in "${FK_PID[@]}"; do kill -9 "$p" 2>/dev/null; done
	nginx_fixture_stop
	[ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null && wait "$FS_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1
mkdir ng fs fs/www
nginx_fixture_start "$T/ng" || { echo "nginx fixture did not start"; exit 1; }
"$ST7DFU_FAULTSRV" --root "$T/fs/www" --port-file "$T/fs/port" --state "$T/fs" --log "$T/fs/log" \
	--tls "$T/ng/pki/server.pem" "$T/ng/pki/server.key" 2>"$T/fs/stderr" &
FS_PID=$!
for _ in $(seq 100); do [ -s fs/port ] && break; sleep 0.05; done
FS=https://127.0.0.1:$(cat fs/port)

test_keys
"$ST7DFU" pack -o old.dfu --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
"$ST7DFU" pack -o new.dfu --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
"$ST7DFU" pack -o evil.dfu --vid 0483 --pid ff03 --bcd 1.09 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
head -c -16 old.dfu >old.bin
"$ST7DFU" sign --key test.key new.dfu >/dev/null
for d in "$NGINX_DIR/www" fs/www; do cp new.dfu new.dfu.sig "$d/" && chmod 644 "$d/new.dfu" "$d/new.dfu.sig"; done
NET=(--keys "$K" --ca-file "$NGINX_CA")

# 1. What each executable links, libraries of libraries included.
curlish='libcurl|libgnutls|libssl\.|libcrypto\.|libnghttp|libssh|libldap|libkrb5|libgssapi|librtmp|libpsl|libidn|libp11|libbrotli|libzstd'
[ -x "$WORKER" ] && ok || fail "the worker $WORKER exists beside st7dfu"
n=$(ldd "$ST7DFU" | grep -cE "$curlish")
eq "$n" 0 "st7dfu links none of libcurl's chain ($(ldd "$ST7DFU" | grep -E "$curlish" | tr -d '\t' | tr '\n' ' '))"
n=$(ldd "$WORKER" | grep -c libusb)
eq "$n" 0 "st7dfu-fetch does not link libusb"
n=$(readelf -d "$WORKER" | grep -c 'libcurl')
eq "$n" 1 "st7dfu-fetch links libcurl (the check above can see it)"

# 2-3. A real download that stalls after 100 bytes: look at both processes while it runs.
# st7dfu holds one more file (fd 7) that the worker must not inherit.
"$ST7DFU" fetch --state-dir st "${NET[@]}" --low-speed-time 30s "$FS/stall/100/new.dfu" >bg.out 2>bg.err 7<"$T/new.dfu" &
BG=$!
wpid=
for _ in $(seq 100); do
	wpid=$(pgrep -P "$BG" -x st7dfu-fetch) && [ -n "$wpid" ] && grep -q 'libcurl' "/proc/$wpid/maps" 2>/dev/null && break
	sleep 0.05
done
if [ -z "$wpid" ]; then
	fail "no st7dfu-fetch child of st7dfu during a download"
else
	# The request is out, so the worker has done its setup (privileges, limits).
	for _ in $(seq 600); do grep -q "GET /stall/100/new.dfu" fs/log 2>/dev/null && break; sleep 0.05; done
	grep -q "GET /stall/100/new.dfu" fs/log 2>/dev/null && ok || fail "the stalled download's request never reached the server"
	n=$(grep -cE "$curlish" "/proc/$BG/maps")
	eq "$n" 0 "st7dfu (pid $BG) maps nothing of libcurl's chain during a download"
	n=$(grep -c libcurl "/proc/$wpid/maps")
	[ "$n" -gt 0 ] && ok || fail "the worker maps libcurl"
	n=$(grep -c libusb "/proc/$wpid/maps")
	eq "$n" 0 "the worker maps no libusb"
	eq "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$wpid/status")" 1 "the worker has no_new_privs"
	eq "$(awk '/^Max file size/ { print $4 }' "/proc/$wpid/limits")" 0 "the worker may write no file (RLIMIT_FSIZE 0)"
	eq "$(awk '/^Max core file size/ { print $5 }' "/proc/$wpid/limits")" 0 "the worker dumps no core"
	# Inherited: its socket (0, 1) and stderr; the rest must be libcurl's own sockets,
	# pipes and event fds, never a file, a device, a lock or a backup of st7dfu's.
	eq "$(readlink "/proc/$wpid/fd/0" | cut -d: -f1)" socket "the worker's stdin is its socket"
	eq "$(readlink "/proc/$wpid/fd/0")" "$(readlink "/proc/$wpid/fd/1")" "... and so is its stdout"
	files=$(for f in "/proc/$wpid/fd/"*; do n=${f##*/}; [ "$n" -gt 2 ] && readlink "$f"; done | grep -vE '^(socket|pipe|anon_inode):')
	eq "$files" "" "the worker holds no file or device beyond stderr"
	[ -e "/proc/$BG/fd/7" ] && ok || fail "st7dfu holds the extra file (fd 7) the worker must not inherit"
	eq "$(readlink "/proc/$wpid/cwd")" / "the worker's working directory is /"
	if [ "$(id -u)" -eq 0 ]; then
		uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$wpid/status")
		gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$wpid/status")
		want=$(id -u st7dfu 2>/dev/null || id -u nobody)
		eq "$uids" "$want $want $want $want" "root's worker runs as uid $want (real, effective, saved, fs)"
		[[ "$gids" != *" 0"* && "$gids" != "0 "* ]] && ok || fail "root's worker keeps no gid 0 ($gids)"
		eq "$(awk '/^Groups:/ { print $2 }' "/proc/$wpid/status")" "" "root's worker has no supplementary groups"
	else
		echo "SKIP (not root): the uid drop of a root-started worker is not checked here" >&2
		eq "$(awk '/^Uid:/ { print $3 }' "/proc/$wpid/status")" "$(id -u)" "the worker runs as us"
	fi
	# Ctrl-C / SIGTERM to st7dfu: a stop at a safe point, the worker gone with it.
	t0=$(date +%s%N)
	kill -TERM "$BG"
	wait "$BG"
	rc=$?
	BG=
	t1=$(date +%s%N)
	eq "$rc" 10 "SIGTERM during a download: exit 10"
	# At once, not at the 30 s stall limit (loose: sanitizer builds exit slowly).
	[ $(((t1 - t0) / 1000000)) -lt 15000 ] && ok || fail "st7dfu stopped within 15 s ($(((t1 - t0) / 1000000)) ms)"
	sleep 0.1
	if [ -e "/proc/$wpid" ]; then fail "the worker $wpid outlived st7dfu"; else ok; fi
fi

stalled_start() { # STATE [setsid]: a download that stalls; $BG st7dfu, $wpid its worker
	${2:+setsid} "$ST7DFU" fetch --state-dir "$1" "${NET[@]}" --low-speed-time 30s "$FS/stall/100/new.dfu" >bg.out 2>bg.err &
	BG=$!
	wpid=
	for _ in $(seq 100); do
		wpid=$(pgrep -P "$BG" -x st7dfu-fetch) && [ -n "$wpid" ] && break
		sleep 0.05
	done
	[ -n "$wpid" ] || fail "no worker for the download in $1"
}

# kill -9 of the real worker mid-download: that download failed, nothing else.
stalled_start st
sleep 0.5
[ -n "$wpid" ] && kill -9 "$wpid"
wait "$BG"
rc=$?
BG=
eq "$rc" 11 "the worker killed by signal 9: a failed download"
has "$(cat bg.err)" "fetch worker" "the message names the worker"
has "$(cat bg.err)" "signal 9" "... and how it ended"

# A service stop: SIGTERM to the whole process group (as systemd sends it) reaches the
# worker too, which leaves it to st7dfu: exit 10, never a failed download, at any moment.
gone() { # PID: no such process (or a zombie nobody reaps)
	[ ! -e "/proc/$1" ] || [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = Z ]
}
for delay in 0.1 0.3 0.5 0.7 1.0; do
	stalled_start "st-term$delay" setsid
	sleep "$delay"
	if [ "$delay" = 0.1 ] && [ -n "$wpid" ]; then
		kill -TERM "$wpid" # a stop is st7dfu's to make: the worker ignores it
		sleep 0.3
		if gone "$wpid"; then fail "the worker died of a SIGTERM of its own"; else ok; fi
	fi
	pg=$(ps -o pgid= -p "$BG" | tr -d ' ')
	if [ "$pg" = "$BG" ] && [ "$pg" != "$(ps -o pgid= -p $$ | tr -d ' ')" ]; then
		kill -TERM -- "-$pg"
	else
		fail "st7dfu ($BG) does not lead its own process group ($pg)"
		kill -TERM "$BG"
	fi
	wait "$BG"
	rc=$?
	BG=
	eq "$rc" 10 "SIGTERM to the process group ${delay}s into a download: exit 10 ($(cat bg.err))"
	has "$(cat bg.err)" "stopped by a signal" "... a stop ($delay s)"
	sleep 0.1
	if [ -n "$wpid" ] && ! gone "$wpid"; then fail "the worker $wpid outlived st7dfu ($delay s)"; else ok; fi
done
# A worker the group's signal reached first, gone before st7dfu saw its own: still a stop.
fake() { # NAME BODY: a worker script
	printf '#!/bin/bash\nsleep 0.2\n%s\n' "$2" >"fake-$1"
	chmod +x "fake-$1"
}
fake term-first "exec perl -e '\$SIG{TERM} = sub { close STDOUT; close STDIN; sleep 2; exit 0 }; sleep 600'"
ST7DFU_FETCH_WORKER="$T/fake-term-first" "$ST7DFU" fetch --state-dir st-tf "${NET[@]}" "$NGINX_URL/new.dfu" >bg.out 2>bg.err &
BG=$!
wpid=
for _ in $(seq 100); do
	wpid=$(pgrep -P "$BG" -x perl) && [ -n "$wpid" ] && break
	sleep 0.05
done
sleep 0.3
[ -n "$wpid" ] && kill -TERM "$wpid"
sleep 0.05
kill -TERM "$BG"
wait "$BG"
rc=$?
BG=
eq "$rc" 10 "SIGTERM to the worker first, then to st7dfu: exit 10 ($(cat bg.err))"
has "$(cat bg.err)" "stopped by a signal" "... a stop"
# kill -9 of st7dfu: the kernel ends the worker (PDEATHSIG). Stopped, the worker could
# not notice the closed socket by itself.
stalled_start st-kill9
sleep 0.3
if [ -n "$wpid" ]; then
	kill -STOP "$wpid"
	kill -9 "$BG"
	wait "$BG" 2>/dev/null # (no "Killed" notice)
	BG=
	for _ in $(seq 40); do gone "$wpid" && break; sleep 0.05; done
	gone "$wpid" && ok || { fail "the worker $wpid outlived st7dfu's kill -9 by 2 s"; kill -9 "$wpid"; }
fi
# Both hold from the worker's exec, before any code of its own runs: a worker that does
# nothing itself (it records the signals it was given, then becomes a plain sleep)
# ignores SIGINT and SIGTERM and still dies with st7dfu.
printf '#!/bin/bash\ngrep "^SigIgn:" /proc/$$/status >"%s/born.sigign"\nexec sleep 60\n' "$T" >fake-born
chmod +x fake-born
ST7DFU_FETCH_WORKER="$T/fake-born" "$ST7DFU" fetch --state-dir st-born "${NET[@]}" "$NGINX_URL/new.dfu" >/dev/null 2>&1 &
BG=$!
wpid=
for _ in $(seq 600); do
	[ -s born.sigign ] && wpid=$(pgrep -P "$BG" -x sleep) && [ -n "$wpid" ] && break
	sleep 0.05
done
ign=$((16#$(awk '{ print $2 }' born.sigign 2>/dev/null || echo 0)))
eq "$(((ign >> (2 - 1)) & 1)),$(((ign >> (15 - 1)) & 1))" "1,1" \
	"the worker is born ignoring SIGINT and SIGTERM (SigIgn $(cat born.sigign 2>/dev/null))"
kill -9 "$BG"
wait "$BG" 2>/dev/null
BG=
if [ -z "$wpid" ]; then
	fail "the fake worker never became its sleep"
else
	for _ in $(seq 100); do gone "$wpid" && break; sleep 0.05; done
	gone "$wpid" && ok || { fail "a worker that set nothing itself outlived st7dfu's kill -9"; kill -9 "$wpid"; }
fi
run "$ST7DFU" fetch --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 0 "the next fetch starts a new worker and succeeds"
has "$ERR" "st7dfu: fetch..." "the worker's progress reaches st7dfu's display"
# Started with stdin and stdout closed (a careless service unit): the worker's socket
# lands on fd 0/1 and must still reach it.
run bash -c "'$ST7DFU' fetch --state-dir st2 --keys '$K' --ca-file '$NGINX_CA' '$NGINX_URL/new.dfu' <&- >&-"
expect_rc 0 "a fetch with stdin and stdout closed"
# ... and with stdout and stderr closed: no log line ends up in the download.
run bash -c "'$ST7DFU' fetch --state-dir st3 --keys '$K' --ca-file '$NGINX_CA' '$NGINX_URL/new.dfu' >&- 2>&-"
expect_rc 0 "a fetch with stdout and stderr closed"
cmp -s "st3/cache/$(printf '%s' "$NGINX_URL/new.dfu" | sha256sum | cut -c1-32)" new.dfu && ok ||
	fail "the cached copy of a fetch with stdout and stderr closed is new.dfu, byte for byte"
# A CA file that is a FIFO (nobody writing it) is refused at once, never waited on.
mkfifo ca.fifo
t0=$(date +%s%N)
run timeout 30 "$ST7DFU" fetch --state-dir st-fifo --keys "$K" --ca-file ca.fifo "$NGINX_URL/new.dfu"
t1=$(date +%s%N)
expect_rc 11 "a CA file that is a FIFO"
has "$ERR" "not a regular file" "... is not a regular file"
[ $(((t1 - t0) / 1000000)) -lt 20000 ] && ok || fail "the FIFO CA file refused within 20 s, not at the 30 s timeout ($(((t1 - t0) / 1000000)) ms)"

# 4. Fake workers (fake NAME BODY, above): frames written with perl's pack, after reading nothing.
# perl helpers: frame TYPE PAYLOAD; resp(status, off, complete, received, etag, lm, ra)
# shellcheck disable=SC2016 # perl code: its $-variables are perl's
P='sub fr { my ($t, $p) = @_; pack("a V", $t, length $p) . $p }
   sub s16 { pack("v", length $_[0]) . $_[0] }
   sub resp { pack("V Q< Q< Q<", @_[0..3]) . s16($_[4]) . pack("q< q<", $_[5], $_[6]) }
   sub endf { fr("E", pack("l<", $_[0]) . resp(@_[1..7]) . s16($_[8])) }'
img_size=$(stat -c %s new.dfu)
fake crash 'kill -SEGV $$'
fake exit3 'exit 3'
fake hang 'exec sleep 600'
fake garbage 'head -c 4096 /dev/urandom; sleep 1'
fake oversized "perl -e 'print pack(\"a V\", \"D\", 0x7fffffff)'; sleep 1"
fake unknown-type "perl -e 'print pack(\"a V\", \"Z\", 0)'; sleep 1"
fake data-first "perl -e '$P; print fr(\"D\", \"abc\")'; sleep 1"
fake bad-result "perl -e '$P; print endf(-24, 200, 0, 0, 0, \"\", -1, -1, \"a signature verdict\")'; sleep 1"
fake short-count "perl -e '$P; print fr(\"B\", resp(200, 0, 3, 0, \"\", -1, -1)), fr(\"D\", \"abc\"), endf(0, 200, 0, 3, 2, \"\", -1, -1, \"\")'; sleep 1"
fake cut-end "perl -e '$P; my \$e = endf(-20, 0, 0, 0, 0, \"\", -1, -1, \"x\"); print substr(\$e, 0, 9)'"
fake flood "perl -e '$P; print fr(\"B\", resp(200, 0, 18446744073709551615, 0, \"\", -1, -1)); print fr(\"D\", \"\\xff\" x 65536) for 1..40'; sleep 1"
fake bad-etag "perl -e '$P; print fr(\"B\", resp(200, 0, 3, 0, \"\\\"a\\nb\\\"\", -1, -1))'; sleep 1"
fake no-answer 'exit 0'
fake hang-long 'exec sleep 600'
fake heartbeat "perl -e '$P; \$| = 1; for (1..12) { print fr(\"P\", pack(\"Q< Q<\", 0, 0)); sleep 1 } print endf(-22, 404, 0, 0, 0, \"\", -1, -1, \"HTTP 404\")'; sleep 1"
# Answers st7dfu must refuse however well formed: a BEGIN for a range nobody asked for
# (the first GET asks for none), a second BEGIN, DATA past BEGIN's size, a success short
# of it, an END for another response, a stop st7dfu did not ask for, a 304 to an
# unconditional request.
fake b206 "perl -e '$P; print fr(\"B\", resp(206, 100, $img_size, 0, \"\", -1, -1))'; sleep 1"
fake b200off "perl -e '$P; print fr(\"B\", resp(200, 5, $img_size, 0, \"\", -1, -1))'; sleep 1"
fake twobegin "perl -e '$P; print fr(\"B\", resp(200, 0, 3, 0, \"\", -1, -1)) x 2'; sleep 1"
fake pastcs "perl -e '$P; print fr(\"B\", resp(200, 0, 3, 0, \"\", -1, -1)), fr(\"D\", \"abcd\")'; sleep 1"
fake shortimg "perl -e '$P; print fr(\"B\", resp(200, 0, $img_size, 0, \"\", -1, -1)), fr(\"D\", \"\\0\" x 100), endf(0, 200, 0, $img_size, 100, \"\", -1, -1, \"\")'; sleep 1"
fake endchange "perl -e '$P; print fr(\"B\", resp(200, 0, 3, 0, \"\\\"a\\\"\", -1, -1)), fr(\"D\", \"abc\"), endf(0, 200, 0, 3, 3, \"\\\"b\\\"\", -1, -1, \"\")'; sleep 1"
fake abort-result "perl -e '$P; print endf(-18, 0, 0, 0, 0, \"\", -1, -1, \"stopped\")'; sleep 1"
fake uncond304 "perl -e '$P; print endf(0, 304, 0, 0, 0, \"\", -1, -1, \"\")'; sleep 1"
# A forged image with a success: the worker cannot make st7dfu accept it.
# It answers the image's GET with another image, and the signature's with the real one.
fake forged "perl -e '$P; local \$/; for my \$n (\"$T/evil.dfu\", \"$T/new.dfu.sig\") { open my \$f, \"<\", \$n; my \$b = <\$f>; print fr(\"B\", resp(200, 0, length \$b, 0, \"\", -1, -1)), fr(\"D\", \$b), endf(0, 200, 0, length \$b, length \$b, \"\", -1, -1, \"\") }'; exec cat >/dev/null"

# fake_start NAME [OPTIONS...]: an upgrade from a URL through that worker, in the
# background (fk-NAME.*: stderr, the emulator's report, exit code and milliseconds);
# fake_check NAME RC TEXT waits for it and checks it; fake_case does both.
fake_start() {
	local name=$1
	shift
	(
		t0=$(date +%s%N)
		env ST7DFU_FETCH_WORKER="$T/fake-$name" "$ST7DFU_EMU" --timeout 60 --report "fk-$name.json" \
			--device "kind=st7,serial=W,flash-in=old.bin" \
			-- "$ST7DFU" upgrade --state-dir st "${NET[@]}" "$@" "$NGINX_URL/new.dfu" >/dev/null 2>"fk-$name.err"
		echo "$? $((($(date +%s%N) - t0) / 1000000))" >"fk-$name.rc"
	) &
	FK_PID[$name]=$!
}
fake_check() {
	local name=$1 want=$2 text=$3
	wait "${FK_PID[$name]}"
	unset "FK_PID[$name]"
	RC=999 FK_MS=0
	[ -s "fk-$name.rc" ] && read -r RC FK_MS <"fk-$name.rc"
	ERR=$(cat "fk-$name.err")
	expect_rc "$want" "worker '$name'"
	has "$ERR" "$text" "worker '$name': the message"
	jqeq "$(cat "fk-$name.json")" '.devices[0].control_transfers' 0 "worker '$name': the device was not touched"
	jqeq "$(cat "fk-$name.json")" '.devices[0].version' 258 "worker '$name': still 1.02"
	echo "worker '$name': exit $RC in $FK_MS ms: $(grep -m1 -E 'fetch worker|signature|HTTP' <<<"$ERR")"
}
fake_case() { # NAME RC TEXT [OPTIONS...]
	fake_start "$1" "${@:4}"
	fake_check "$1" "$2" "$3"
}
# The slow ones run meanwhile, each with its own state directory (its own cache lock).
# A worker that says nothing: "stopped answering" after the 10 s of silence, whatever
# the download's own timeouts.
fake_start hang --state-dir st-hang --connect-timeout 1s --low-speed-time 1s
fake_start hang-long --state-dir st-hang-long --connect-timeout 60s --download-timeout 1h --low-speed-time 10m
# Heartbeats (PROGRESS 0, 0) keep a worker alive past that silence.
fake_start heartbeat --state-dir st-heartbeat
# ... as the real worker's do while a server sits 12 s on its headers.
"$ST7DFU" fetch --state-dir st-slow --allow-unsigned --ca-file "$NGINX_CA" "$FS/slow-headers/12000" >slow.out 2>slow.err &
SLOW=$!
fake_case crash 11 "killed by signal 11"
fake_case exit3 11 "exited with status 3"
fake_case no-answer 11 "the fetch worker ended mid-answer"
fake_case garbage 11 "broke the wire"
fake_case oversized 11 "broke the wire"
fake_case unknown-type 11 "unknown frame type 0x5a"
fake_case data-first 11 "DATA before BEGIN"
fake_case bad-result 11 "bad result"
fake_case short-count 11 "END counts 2 bytes, DATA had 3"
fake_case cut-end 11 "ended mid-answer"
fake_case flood 11 "DATA past the limit" --max-image-size 1M
fake_case bad-etag 11 "bad etag"
fake_case forged 12 "signature"
fake_case b206 11 "a BEGIN for another range" --state-dir st-b206
fake_case b200off 11 "a BEGIN for another range" --state-dir st-b200off
fake_case twobegin 11 "a second BEGIN" --state-dir st-twobegin
fake_case pastcs 11 "DATA past the limit" --state-dir st-pastcs
fake_case endchange 11 "an END for another response than BEGIN's" --state-dir st-endchange
fake_case abort-result 11 "a stop nobody asked for" --state-dir st-abort-result
fake_case uncond304 11 "success without a response" --state-dir st-uncond304
for name in b206 b200off twobegin pastcs endchange abort-result uncond304; do
	has "$(cat "fk-$name.err")" "broke the wire" "worker '$name': a broken wire"
done
# A short image with a success, while the cache holds the verified copy of that URL:
# refused, and the verified copy is still there, unchanged.
run "$ST7DFU" fetch --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 0 "a real fetch fills the cache before 'shortimg'"
key=$(printf '%s' "$NGINX_URL/new.dfu" | sha256sum | cut -c1-32)
skey=$(printf '%s' "$NGINX_URL/new.dfu.sig" | sha256sum | cut -c1-32)
fake_case shortimg 11 "success with 100 of $img_size bytes"
has "$ERR" "broke the wire" "worker 'shortimg': a broken wire"
cmp -s "st/cache/$key" new.dfu && ok || fail "the verified cached copy of new.dfu survives 'shortimg'"
cmp -s "st/cache/$skey" new.dfu.sig && ok || fail "the verified cached copy of new.dfu.sig survives 'shortimg'"
for name in hang hang-long; do
	fake_check "$name" 11 "stopped answering"
	# The 10 s silence rule, not the 60 s connect or 10 min low-speed limit (the upper
	# bound is loose: the time includes the emulator's and st7dfu's start, under load).
	[ "$FK_MS" -ge 9000 ] && [ "$FK_MS" -le 45000 ] && ok || fail "worker '$name': stopped answering after $FK_MS ms, not 9..45 s"
done
fake_check heartbeat 11 "HTTP 404"
hasnt "$ERR" "stopped answering" "worker 'heartbeat': alive through 12 s of heartbeats"
wait "$SLOW"
rc=$?
eq "$rc" 0 "the real worker waits 12 s for a server's headers ($(cat slow.err))"
# What the cache holds as verified is what the real server served, nothing a fake sent.
for f in st/cache/*; do
	case $f in *.part | *.meta | *.lock | "st/cache/*") continue ;; esac
	cmp -s "$f" new.dfu || cmp -s "$f" new.dfu.sig || fail "cached copy $f is neither new.dfu nor its signature"
done
ok
# An installed layout under another prefix: BIN/st7dfu finds BIN/../libexec/st7dfu/.
mkdir -p inst/bin inst/libexec/st7dfu
cp "$ST7DFU" inst/bin/ && cp "$WORKER" inst/libexec/st7dfu/
run inst/bin/st7dfu fetch --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 0 "an installed st7dfu finds its worker in ../libexec/st7dfu/"
run env ST7DFU_FETCH_WORKER=/nonexistent/st7dfu-fetch "$ST7DFU" fetch --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 11 "a missing worker is a failed download"
has "$ERR" "/nonexistent/st7dfu-fetch" "... naming the path it looked for"
# The user the worker runs as, when st7dfu is root: never root, never one that is not there.
if [ "$(id -u)" -eq 0 ]; then
	run "$ST7DFU" fetch --state-dir st "${NET[@]}" --fetch-user root "$NGINX_URL/new.dfu"
	expect_rc 11 "--fetch-user root is refused"
	has "$ERR" "refusing to fetch as root" "... saying why"
	run "$ST7DFU" fetch --state-dir st "${NET[@]}" --fetch-user no-such-user-st7 "$NGINX_URL/new.dfu"
	expect_rc 11 "--fetch-user of a user that does not exist is refused"
	has "$ERR" "no user 'no-such-user-st7'" "... naming it"
	run "$ST7DFU" fetch --state-dir st "${NET[@]}" --fetch-user daemon "$NGINX_URL/new.dfu"
	expect_rc 0 "--fetch-user daemon fetches"
else
	echo "SKIP (not root): --fetch-user is only used by root" >&2
fi
run bash -c "printf 'Zxxxx' | '$WORKER'"
expect_rc 1 "the worker given garbage instead of SETUP exits 1"
run bash -c "'$WORKER' </dev/null"
expect_rc 0 "the worker given EOF before SETUP exits 0"
finish
