#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# Self-test of st7dfu-faultsrv ($ST7DFU_FAULTSRV): every fault path and the report uploads
# (POST /reports, /reports-down), checked with the curl CLI over TLS (a throwaway CA made
# with the openssl CLI), plus a plain-HTTP smoke run.
# Skips (77) without curl or openssl.
set -u
: "${ST7DFU_FAULTSRV:?set ST7DFU_FAULTSRV to the st7dfu-faultsrv binary}"
for tool in curl openssl; do
	command -v "$tool" >/dev/null || { echo "SKIP: no $tool" >&2; exit 77; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-faultsrv.XXXXXX")
SRV_PIDS=()
cleanup() {
	local p
	for p in "${SRV_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }
eq() { if [ "$1" = "$2" ]; then ok; else fail "$3: '$1' != '$2'"; fi; }
has() { case "$1" in *"$2"*) ok ;; *) fail "$3: '$2' not in: $1" ;; esac; }
hasnt() { case "$1" in *"$2"*) fail "$3: '$2' unexpectedly in: $1" ;; *) ok ;; esac; }

# start_server NAME ARGS...: runs the server in the background, waits (10 s at most) for
# its port file, sets PORT and SRV_PID.
start_server() {
	local name=$1 i
	shift
	"$ST7DFU_FAULTSRV" --root "$T/root" --port-file "$T/$name.port" --log "$T/$name.log" \
		"$@" 2>"$T/$name.err" &
	SRV_PID=$!
	SRV_PIDS+=("$SRV_PID")
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/$name.port" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	PORT=$(cat "$T/$name.port" 2>/dev/null)
	[ -n "$PORT" ] || { echo "server $name did not start: $(cat "$T/$name.err")" >&2; exit 1; }
}

# fetch URL CURL-ARGS...: runs curl with a 20 s cap; body in $T/body, headers in $HDR, the
# exit status in $RC.
fetch() {
	local url=$1
	shift
	curl -sS --max-time 20 "${CURL_TLS[@]}" -D "$T/hdr" -o "$T/body" "$@" "$url" 2>"$T/curl.err"
	RC=$?
	HDR=$(tr -d '\r' <"$T/hdr" 2>/dev/null)
}
# stop_server NAME: SIGTERM; it must exit 0, remove its port file and have said nothing
# on stderr (where sanitizer reports from the server and its children land).
stop_server() {
	kill "$SRV_PID"
	wait "$SRV_PID"
	eq "$?" 0 "$1: exit status after SIGTERM"
	[ ! -e "$T/$1.port" ] && ok || fail "$1: port file left behind"
	[ ! -s "$T/$1.err" ] && ok || fail "$1: stderr: $(head -c 2000 "$T/$1.err")"
}
size() { wc -c <"$1" | tr -d ' '; }
header() { printf '%s\n' "$HDR" | sed -n "s/^$1: //Ip" | tail -n 1; }

# Test data: a 100000-byte file and a 10-byte one.
mkdir "$T/root"
head -c 100000 /dev/urandom >"$T/root/a.bin"
printf '0123456789' >"$T/root/small"
FULL=100000

# A throwaway CA and a server certificate for 127.0.0.1 / localhost (EC P-256).
(
	cd "$T" || exit 1
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key &&
		openssl req -x509 -new -key ca.key -subj /CN=st7dfu-test-ca -days 2 -out ca.pem \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign &&
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out srv.key &&
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key &&
		printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=CA:FALSE' \
			'keyUsage=critical,digitalSignature,keyEncipherment' \
			'extendedKeyUsage=serverAuth' >ext.cnf &&
		for k in srv rsa; do
			openssl req -new -key $k.key -subj /CN=localhost -out $k.csr &&
				openssl x509 -req -in $k.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
					-days 2 -extfile ext.cnf -out $k.pem || exit 1
		done
) >"$T/openssl.log" 2>&1 || { cat "$T/openssl.log" >&2; exit 1; }

CURL_TLS=(--cacert "$T/ca.pem")
start_server tls --tls "$T/srv.pem" "$T/srv.key" --state "$T/state" \
	--blackhole-port-file "$T/tls.bport" --post-log "$T/posts.log"
U=https://127.0.0.1:$PORT
BPORT=$(cat "$T/tls.bport" 2>/dev/null)
L=$T/tls.log

# /ok: full body, validators, Range, conditionals.
fetch "$U/ok/a.bin"
eq "$RC" 0 "ok: curl exit"
cmp -s "$T/body" "$T/root/a.bin" && ok || fail "ok: body differs"
has "$HDR" "HTTP/1.1 200 OK" "ok: status"
eq "$(header Content-Length)" "$FULL" "ok: Content-Length"
eq "$(header Accept-Ranges)" bytes "ok: Accept-Ranges"
has "$HDR" "Connection: close" "ok: Connection"
ETAG=$(header ETag)
LASTMOD=$(header Last-Modified)
has "$ETAG" '"' "ok: ETag quoted"
has "$LASTMOD" " GMT" "ok: Last-Modified"
fetch "$U/ok/a.bin" -r 100-199
has "$HDR" "HTTP/1.1 206" "range: status"
eq "$(header Content-Range)" "bytes 100-199/$FULL" "range: Content-Range"
cmp -s "$T/body" <(tail -c +101 "$T/root/a.bin" | head -c 100) && ok || fail "range: body"
fetch "$U/ok/a.bin" -r 99000-
eq "$(header Content-Range)" "bytes 99000-99999/$FULL" "open range: Content-Range"
eq "$(size "$T/body")" 1000 "open range: size"
fetch "$U/ok/a.bin" -r "$FULL-"
has "$HDR" "HTTP/1.1 416" "416: status"
eq "$(header Content-Range)" "bytes */$FULL" "416: Content-Range"
fetch "$U/ok/a.bin" -H "If-None-Match: $ETAG"
has "$HDR" "HTTP/1.1 304" "If-None-Match: 304"
eq "$(size "$T/body")" 0 "304: no body"
fetch "$U/ok/a.bin" -H 'If-None-Match: "other"'
has "$HDR" "HTTP/1.1 200" "If-None-Match mismatch: 200"
fetch "$U/ok/a.bin" -H "If-Modified-Since: $LASTMOD"
has "$HDR" "HTTP/1.1 304" "If-Modified-Since: 304"
fetch "$U/ok/a.bin" -H "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT"
has "$HDR" "HTTP/1.1 200" "If-Modified-Since old: 200"
fetch "$U/ok/a.bin" -r 100- -H "If-Range: $ETAG"
has "$HDR" "HTTP/1.1 206" "If-Range match: 206"
fetch "$U/ok/a.bin" -r 100- -H 'If-Range: "stale"'
has "$HDR" "HTTP/1.1 200" "If-Range mismatch: 200"
eq "$(size "$T/body")" "$FULL" "If-Range mismatch: full body"
fetch "$U/ok/a.bin" -I
eq "$(header Content-Length)" "$FULL" "HEAD: Content-Length"
# curl -I writes the headers as its output: anything more would be a body.
cmp -s "$T/body" "$T/hdr" && ok || fail "HEAD: a body came with the headers"
fetch "$U/ok/missing"
has "$HDR" "HTTP/1.1 404" "missing file: 404"
fetch "$U/ok/../ok/a.bin" --path-as-is
has "$HDR" "HTTP/1.1 404" "dot-dot: 404"

# /norange and /badrange.
fetch "$U/norange/a.bin" -r 100-
has "$HDR" "HTTP/1.1 200" "norange: status"
eq "$(size "$T/body")" "$FULL" "norange: full body"
hasnt "$HDR" "Accept-Ranges" "norange: no Accept-Ranges"
fetch "$U/badrange/a.bin" -r 100-
has "$HDR" "HTTP/1.1 206" "badrange: status"
eq "$(header Content-Range)" "bytes 0-99999/$FULL" "badrange: Content-Range"
eq "$(size "$T/body")" "$FULL" "badrange: full body"

# /truncate: full Content-Length, 100 bytes, then a cut (no close_notify).
fetch "$U/truncate/100/a.bin"
eq "$RC" 18 "truncate: curl exit (partial file)"
eq "$(header Content-Length)" "$FULL" "truncate: Content-Length"
eq "$(size "$T/body")" 100 "truncate: bytes"

# /flaky: the first GET is cut at 1000 bytes, curl -C - resumes with Range.
rm -f "$T/flaky.out"
curl -sS --max-time 20 "${CURL_TLS[@]}" -o "$T/flaky.out" "$U/flaky/1000/a.bin" 2>/dev/null
eq "$?" 18 "flaky: first try cut"
eq "$(size "$T/flaky.out")" 1000 "flaky: first try bytes"
curl -sS --max-time 20 "${CURL_TLS[@]}" -C - -o "$T/flaky.out" "$U/flaky/1000/a.bin"
eq "$?" 0 "flaky: resume"
cmp -s "$T/flaky.out" "$T/root/a.bin" && ok || fail "flaky: resumed file differs"
has "$(cat "$L")" "GET /flaky/1000/a.bin range=bytes=1000- " "flaky: log shows the resume"

# /stall: 100 bytes, then silence until curl's speed limit gives up.
start=$SECONDS
fetch "$U/stall/100/a.bin" --speed-limit 1 --speed-time 2
eq "$RC" 28 "stall: curl timeout"
eq "$(size "$T/body")" 100 "stall: bytes"
[ $((SECONDS - start)) -lt 15 ] && ok || fail "stall: took $((SECONDS - start)) s"

# /drip: 10 bytes, one per 50 ms.
fetch "$U/drip/50/small"
eq "$RC" 0 "drip: curl exit"
eq "$(cat "$T/body")" 0123456789 "drip: body"

# Endless and oversized bodies.
n=$(curl -sS --max-time 20 "${CURL_TLS[@]}" "$U/endless" 2>/dev/null | head -c 300000 | wc -c)
eq "$n" 300000 "endless: at least 300000 bytes"
v=$(curl -sS --max-time 20 "${CURL_TLS[@]}" "$U/endless" 2>/dev/null | head -c 4 | od -An -tx1 |
	tr -d ' \n')
eq "$v" ffffffff "endless: 0xFF bytes"
fetch "$U/endless-cl" --max-filesize 1000000
eq "$RC" 63 "endless-cl: --max-filesize"
fetch "$U/endless-cl" -I
eq "$(header Content-Length)" 1099511627776 "endless-cl: Content-Length"
fetch "$U/big-cl/a.bin"
eq "$RC" 18 "big-cl: curl exit"
eq "$(header Content-Length)" 1099511627776 "big-cl: Content-Length"
eq "$(size "$T/body")" "$FULL" "big-cl: bytes"

# /wrong-length: shorter and longer than the body.
fetch "$U/wrong-length/-10/a.bin"
eq "$(header Content-Length)" $((FULL - 10)) "wrong-length -10: Content-Length"
eq "$(size "$T/body")" $((FULL - 10)) "wrong-length -10: curl stops at the length"
fetch "$U/wrong-length/+10/a.bin"
eq "$(header Content-Length)" $((FULL + 10)) "wrong-length +10: Content-Length"
eq "$RC" 18 "wrong-length +10: curl exit"

# /status and Retry-After.
fetch "$U/status/429?retry-after=7"
has "$HDR" "HTTP/1.1 429 Too Many Requests" "status 429"
eq "$(header Retry-After)" 7 "status 429: Retry-After"
fetch "$U/status/503?retry-after=Wed,%2021%20Oct%202015%2007:28:00%20GMT"
has "$HDR" "HTTP/1.1 503" "status 503"
eq "$(header Retry-After)" "Wed, 21 Oct 2015 07:28:00 GMT" "status 503: Retry-After date"
fetch "$U/status/500"
has "$HDR" "HTTP/1.1 500" "status 500"
hasnt "$HDR" "Retry-After" "status 500: no Retry-After"
fetch "$U/status/503?retry-after=%0d%0aX:1"
has "$HDR" "HTTP/1.1 400" "status: header injection refused"

# /redirect: 302 to this server, with the scheme asked for.
fetch "$U/redirect/http/ok/a.bin"
has "$HDR" "HTTP/1.1 302" "redirect: status"
eq "$(header Location)" "http://127.0.0.1:$PORT/ok/a.bin" "redirect: Location http"
fetch "$U/redirect/https/ok/a.bin" -L
eq "$RC" 0 "redirect https: followed"
cmp -s "$T/body" "$T/root/a.bin" && ok || fail "redirect https: body"

# /slow-headers: nothing for 3 s, so a 1 s limit fires; a patient client gets 200.
fetch "$U/slow-headers/3000" --max-time 1
eq "$RC" 28 "slow-headers: curl timeout"
fetch "$U/slow-headers/300"
has "$HDR" "HTTP/1.1 200" "slow-headers: late 200"

# Connections are served concurrently: /ok answers while a /stall is held open.
curl -s "${CURL_TLS[@]}" --max-time 5 -o /dev/null "$U/stall/10/a.bin" &
stall_pid=$!
sleep 0.3
fetch "$U/ok/small"
eq "$(cat "$T/body")" 0123456789 "concurrent: ok during stall"
kill "$stall_pid" 2>/dev/null
wait "$stall_pid" 2>/dev/null

# The blackhole (--blackhole-port-file): a loopback listener whose full accept queue drops
# every SYN, so a connect neither completes nor is refused; only the client's connect
# timeout ends it (curl: exit 28; --max-time is far off), after that timeout and not
# before. Twice: it stays full.
[ -n "$BPORT" ] && [ "$BPORT" != "$PORT" ] && ok || fail "blackhole: port file '$BPORT'"
for limit in 2 1; do
	t0=$(date +%s%N)
	curl -sS --max-time 20 --connect-timeout "$limit" "${CURL_TLS[@]}" -o /dev/null \
		"https://127.0.0.1:$BPORT/" 2>"$T/curl.err"
	RC=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	eq "$RC" 28 "blackhole: curl --connect-timeout $limit times out ($(cat "$T/curl.err"))"
	# Not "SSL connection timeout": that would mean TCP connected and TLS hung.
	has "$(cat "$T/curl.err")" "Failed to connect to 127.0.0.1 port $BPORT" \
		"blackhole: the TCP connect is what timed out"
	[ "$ms" -ge $((limit * 1000 - 50)) ] && [ "$ms" -lt $((limit * 1000 + 1500)) ] && ok ||
		fail "blackhole: --connect-timeout $limit ended after $ms ms"
done
# A plain blocking connect() (bash's /dev/tcp) does not complete either: killed at 1 s.
timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BPORT" 2>/dev/null
eq "$?" 124 "blackhole: a blocking connect() hangs"
fetch "$U/ok/small"
eq "$(cat "$T/body")" 0123456789 "blackhole: the main port still serves"

# POST /reports: 204, no body; each body and a newline appended to --post-log before the
# answer, so a client that has its 204 can read its line.
P=$T/posts.log
[ -e "$P" ] && [ ! -s "$P" ] && ok || fail "reports: --post-log not created empty"
fetch "$U/reports" -H 'Content-Type: application/json' --data-binary '{"n":1}'
eq "$RC" 0 "reports: curl exit"
has "$HDR" "HTTP/1.1 204 No Content" "reports: status"
eq "$(size "$T/body")" 0 "reports: no body"
hasnt "$HDR" "Content-Length" "reports: 204 without Content-Length"
cmp -s "$P" <(printf '%s\n' '{"n":1}') && ok || fail "reports: post log: $(cat "$P")"
fetch "$U/reports?gw=7" --data-binary '{"n":2}'
has "$HDR" "HTTP/1.1 204" "reports with a query: status"
cmp -s "$P" <(printf '%s\n' '{"n":1}' '{"n":2}') && ok || fail "reports: second body: $(cat "$P")"
# An empty body is a line of its own.
fetch "$U/reports" --data-binary ''
has "$HDR" "HTTP/1.1 204" "reports: empty body"
cmp -s "$P" <(printf '%s\n' '{"n":1}' '{"n":2}' '') && ok || fail "reports: empty body line"
# A body past 1 KiB (curl asks with Expect: 100-continue and gets a 100 at once). curl
# waits 30 s for it, so a missing 100 is told from a slow machine by a wide margin.
big=$(head -c 20000 /dev/zero | tr '\0' x)
t0=$(date +%s%N)
fetch "$U/reports" -H 'Expect: 100-continue' --expect100-timeout 30 --max-time 60 \
	--data-binary "{\"big\":\"$big\"}"
ms=$((($(date +%s%N) - t0) / 1000000))
has "$HDR" "HTTP/1.1 100 Continue" "reports: 100 Continue"
has "$HDR" "HTTP/1.1 204" "reports: big body"
[ "$ms" -lt 15000 ] && ok || fail "reports: big body took $ms ms (no 100 Continue?)"
eq "$(tail -n 1 "$P")" "{\"big\":\"$big\"}" "reports: big body logged whole"
eq "$(wc -l <"$P" | tr -d ' ')" 4 "reports: one line per body"
# /reports-down: 503 with Retry-After: 2 and nothing logged.
fetch "$U/reports-down" --data-binary '{"n":3}'
has "$HDR" "HTTP/1.1 503 Service Unavailable" "reports-down: status"
eq "$(header Retry-After)" 2 "reports-down: Retry-After"
eq "$(wc -l <"$P" | tr -d ' ')" 4 "reports-down: nothing logged"
# Chunked bodies are not taken (411), nor GET on the upload paths (405), nor POST elsewhere.
head -c 100 /dev/zero | tr '\0' y >"$T/chunk"
fetch "$U/reports" -H 'Transfer-Encoding: chunked' --data-binary @"$T/chunk"
has "$HDR" "HTTP/1.1 411" "reports: chunked refused"
fetch "$U/reports"
has "$HDR" "HTTP/1.1 405" "reports: GET refused"
eq "$(header Allow)" POST "reports: Allow"
fetch "$U/ok/small" --data-binary '{}'
has "$HDR" "HTTP/1.1 405" "POST elsewhere refused"
eq "$(header Allow)" "GET, HEAD" "POST elsewhere: Allow"
# /status and /redirect answer a POST as they answer a GET (for uploads that fail).
fetch "$U/status/429?retry-after=7" --data-binary '{"n":4}'
has "$HDR" "HTTP/1.1 429" "POST /status: status"
eq "$(header Retry-After)" 7 "POST /status: Retry-After"
fetch "$U/redirect/https/reports" --data-binary '{"n":5}'
has "$HDR" "HTTP/1.1 302" "POST /redirect: status"
eq "$(header Location)" "https://127.0.0.1:$PORT/reports" "POST /redirect: Location"
eq "$(wc -l <"$P" | tr -d ' ')" 4 "reports: refusals and other paths log nothing"
has "$(cat "$L")" "POST /reports?gw=7 range=-" "log: POST line"

# The log: one line per request, with what the client sent.
has "$(cat "$L")" "GET /ok/a.bin range=bytes=100-199 if-none-match=- if-modified-since=- if-range=-" \
	"log: range line"
has "$(cat "$L")" "GET /ok/a.bin range=- if-none-match=$ETAG if-modified-since=- if-range=-" \
	"log: If-None-Match line"
has "$(cat "$L")" "if-modified-since=$LASTMOD " "log: If-Modified-Since"
has "$(cat "$L")" "if-range=\"stale\"" "log: If-Range"
has "$(cat "$L")" "HEAD /ok/a.bin " "log: HEAD"
has "$(cat "$L")" "GET /status/429?retry-after=7 " "log: query kept"

# A TLS client that does not trust the CA fails; the server stays up.
curl -sS --max-time 5 -o /dev/null "$U/ok/small" 2>/dev/null
eq "$?" 60 "untrusted CA: curl refuses"

stop_server tls
[ ! -e "$T/tls.bport" ] && ok || fail "tls: blackhole port file left behind"

# RSA key.
start_server rsa --tls "$T/rsa.pem" "$T/rsa.key"
fetch "https://localhost:$PORT/ok/small"
eq "$(cat "$T/body")" 0123456789 "RSA: ok over localhost"
stop_server rsa

# Plain HTTP smoke run, and garbage on the wire.
CURL_TLS=()
start_server plain --post-log "$T/plain-posts.log"
U=http://127.0.0.1:$PORT
fetch "$U/ok/a.bin"
cmp -s "$T/body" "$T/root/a.bin" && ok || fail "plain: ok body"
fetch "$U/truncate/10/a.bin"
eq "$RC" 18 "plain: truncate"
fetch "$U/redirect/https/ok/a.bin"
eq "$(header Location)" "https://127.0.0.1:$PORT/ok/a.bin" "plain: Location https"
fetch "$U/ok/a.bin" -X POST
has "$HDR" "HTTP/1.1 405" "plain: POST refused"
# raw REQUEST: what the server answers to those bytes (first line).
raw() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return
	printf '%b' "$1" >&3
	timeout 10 head -n 1 <&3 | tr -d '\r'
	exec 3<&-
}
eq "$(raw 'garbage\r\n\r\n')" "HTTP/1.1 400 Bad Request" "plain: garbage request"
eq "$(raw 'GET /ok/small HTTP/1.1\r\nno colon here\r\n\r\n')" "HTTP/1.1 400 Bad Request" \
	"plain: bad header line"
eq "$(raw "GET /ok/small HTTP/1.1\r\nX: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n")" \
	"HTTP/1.1 431 Request Header Fields Too Large" "plain: oversized headers"
eq "$(raw 'GET /ok/small HTTP/1.0\r\n\r\n')" "HTTP/1.1 200 OK" "plain: HTTP/1.0 request"
# POST bodies: a length is required, bounded (1 MiB) and a number.
eq "$(raw 'POST /reports HTTP/1.1\r\n\r\n')" "HTTP/1.1 411 Length Required" "plain: POST without length"
eq "$(raw 'POST /reports HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n')" \
	"HTTP/1.1 413 Content Too Large" "plain: POST over 1 MiB"
eq "$(raw 'POST /reports HTTP/1.1\r\nContent-Length: -1\r\n\r\n')" "HTTP/1.1 400 Bad Request" \
	"plain: POST with a bad length"
eq "$(raw 'POST /reports HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc')" "HTTP/1.1 204 No Content" \
	"plain: raw POST"
# A body cut short: no answer, nothing logged.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /reports HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc' >&3
exec 3<&-
sleep 0.3
cmp -s "$T/plain-posts.log" <(printf 'abc\n') && ok ||
	fail "plain: post log: $(cat "$T/plain-posts.log")"
fetch "$U/ok/small"
eq "$(cat "$T/body")" 0123456789 "plain: still serving after garbage"

# Children die with the server: a held /stall connection ends soon after SIGTERM.
curl -s -N --max-time 30 -o "$T/stall.out" "$U/stall/10/a.bin" &
stall_pid=$!
for _ in $(seq 300); do [ "$(stat -c %s "$T/stall.out" 2>/dev/null || echo 0)" -ge 10 ] && break; sleep 0.05; done
start=$SECONDS
stop_server plain
wait "$stall_pid"
eq "$?" 18 "plain: stalled client cut when the server stops"
[ $((SECONDS - start)) -lt 5 ] && ok || fail "plain: stalled child outlived the server"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
