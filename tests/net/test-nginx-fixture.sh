# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# Self-test of nginx-fixture.sh: the PKI it generates, and every behaviour of the
# nginx it starts that the HTTPS fetch tests rely on. Talks TLS with `openssl
# s_client` and plain HTTP with bash's /dev/tcp (no curl). Exit 77 (skip) when
# nginx or openssl is missing.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/nginx-fixture.sh"

if ! _nginx_fx_bin >/dev/null || ! command -v openssl >/dev/null 2>&1 ||
	! command -v timeout >/dev/null 2>&1; then
	echo "nginx, openssl or timeout not installed: skipped" >&2
	exit 77
fi

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }
check() { # check WHAT CMD...: CMD succeeds
	local what=$1
	shift
	if "$@"; then ok; else fail "$what"; fi
}
eq() { if [ "$1" = "$2" ]; then ok; else fail "$3: '$1' != '$2'"; fi; }
has() { case "$1" in *"$2"*) ok ;; *) fail "$3: '$2' not in: $1" ;; esac; }

T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-nginx.XXXXXX") || exit 1
trap 'nginx_fixture_stop; rm -rf "$T"' EXIT

# Stopping what was never started is harmless.
nginx_fixture_stop
eq "$?" 0 "stop before start"

t0=$(date +%s)
nginx_fixture_start "$T"
rc=$?
eq "$rc" 0 "nginx_fixture_start"
if [ "$rc" -ne 0 ]; then
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi
echo "nginx up in $(($(date +%s) - t0)) s: main $NGINX_PORT, wrongname $NGINX_WRONGNAME_PORT, http $NGINX_HTTP_PORT, pid $NGINX_PID"
P=$T/pki

# Variables.
eq "$NGINX_DIR" "$(cd "$T" && pwd -P)" "NGINX_DIR"
eq "$NGINX_CA" "$NGINX_DIR/pki/ca.pem" "NGINX_CA"
eq "$NGINX_URL" "https://127.0.0.1:$NGINX_PORT" "NGINX_URL"
for v in NGINX_PORT NGINX_WRONGNAME_PORT NGINX_HTTP_PORT; do
	case ${!v} in [0-9]*) ok ;; *) fail "$v=${!v}" ;; esac
	[ "${!v}" -ge 20000 ] && [ "${!v}" -le 60000 ] && ok || fail "$v=${!v} out of 20000-60000"
done
[ "$NGINX_PORT" != "$NGINX_WRONGNAME_PORT" ] && [ "$NGINX_PORT" != "$NGINX_HTTP_PORT" ] &&
	[ "$NGINX_WRONGNAME_PORT" != "$NGINX_HTTP_PORT" ] && ok || fail "ports not distinct"
# A second start while running is refused.
if nginx_fixture_start "$T" 2>/dev/null; then fail "second start accepted"; else ok; fi

# The PKI.
for f in ca other-ca server wrongname client rogue-client; do
	check "$f.pem and $f.key exist" test -s "$P/$f.pem" -a -s "$P/$f.key"
	has "$(openssl pkey -in "$P/$f.key" -noout -text 2>&1)" "prime256v1" "$f key is P-256"
done
check "server.pem is a TLS server cert by ca" \
	openssl verify -CAfile "$P/ca.pem" -purpose sslserver "$P/server.pem" >/dev/null
check "wrongname.pem chains to ca" openssl verify -CAfile "$P/ca.pem" "$P/wrongname.pem" >/dev/null
check "client.pem is a TLS client cert by ca" \
	openssl verify -CAfile "$P/ca.pem" -purpose sslclient "$P/client.pem" >/dev/null
check "rogue-client.pem is a TLS client cert by other-ca" \
	openssl verify -CAfile "$P/other-ca.pem" -purpose sslclient "$P/rogue-client.pem" >/dev/null
if openssl verify -CAfile "$P/ca.pem" "$P/rogue-client.pem" >/dev/null 2>&1; then
	fail "rogue-client.pem verifies against ca"
else
	ok
fi
if openssl verify -CAfile "$P/other-ca.pem" "$P/server.pem" >/dev/null 2>&1; then
	fail "server.pem verifies against other-ca"
else
	ok
fi
has "$(openssl x509 -in "$P/server.pem" -noout -ext subjectAltName)" "IP Address:127.0.0.1, DNS:localhost" "server SAN"
has "$(openssl x509 -in "$P/wrongname.pem" -noout -ext subjectAltName)" "DNS:wrong.example" "wrongname SAN"
has "$(openssl x509 -in "$P/client.pem" -noout -subject)" "CN = gateway-0001" "client CN"
has "$(openssl x509 -in "$P/client.pem" -noout -ext extendedKeyUsage)" "TLS Web Client Authentication" "client EKU"
has "$(openssl x509 -in "$P/server.pem" -noout -ext extendedKeyUsage)" "TLS Web Server Authentication" "server EKU"

# handshake PORT ARGS...: the s_client report of a bare handshake.
handshake() {
	local port=$1
	shift
	timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null 2>&1
}

# verify_code S_CLIENT-OUTPUT: the "Verify return code" number.
verify_code() { printf "%s\n" "$1" | sed -n "s/^ *Verify return code: \([0-9]*\).*/\1/p" | tail -n 1; }

# Server certificate verification.
out=$(handshake "$NGINX_PORT" -CAfile "$NGINX_CA" -verify_ip 127.0.0.1)
has "$out" "Verify return code: 0 (ok)" "main vs ca, IP 127.0.0.1"
out=$(handshake "$NGINX_PORT" -CAfile "$NGINX_CA" -verify_hostname localhost)
has "$out" "Verify return code: 0 (ok)" "main vs ca, host localhost"
out=$(handshake "$NGINX_PORT" -CAfile "$P/other-ca.pem")
case $(verify_code "$out") in 20 | 21) ok ;; *) fail "main vs other-ca: verify code '$(verify_code "$out")'" ;; esac
if handshake "$NGINX_PORT" -CAfile "$P/other-ca.pem" -verify_return_error >/dev/null; then
	fail "main vs other-ca: handshake succeeded with -verify_return_error"
else
	ok
fi
out=$(handshake "$NGINX_WRONGNAME_PORT" -CAfile "$NGINX_CA")
has "$out" "Verify return code: 0 (ok)" "wrongname chain vs ca"
out=$(handshake "$NGINX_WRONGNAME_PORT" -CAfile "$NGINX_CA" -verify_ip 127.0.0.1)
has "$out" "Verify return code: 64 " "wrongname vs IP 127.0.0.1"
out=$(handshake "$NGINX_WRONGNAME_PORT" -CAfile "$NGINX_CA" -verify_hostname localhost)
has "$out" "Verify return code: 62 " "wrongname vs host localhost"
# TLS versions: 1.2 and 1.3 only.
has "$(handshake "$NGINX_PORT" -CAfile "$NGINX_CA" -tls1_2)" "Protocol  : TLSv1.2" "TLS 1.2"
has "$(handshake "$NGINX_PORT" -CAfile "$NGINX_CA" -tls1_3)" "TLSv1.3" "TLS 1.3"

# https PORT PATH EXTRA-HEADERS [s_client args...]: the raw HTTP/1.1 response.
https() {
	local port=$1 path=$2 extra=$3
	shift 3
	printf 'GET %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n' "$path" "$extra" |
		timeout 10 openssl s_client -quiet -connect "127.0.0.1:$port" -servername localhost \
			-CAfile "$NGINX_CA" -verify_return_error "$@" 2>/dev/null
}

# http PORT PATH: the raw response from the plain-HTTP server.
http() {
	# shellcheck disable=SC2016 # the script is for bash -c: its $-expansions are its own
	timeout 10 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" "$2" >&3
		cat <&3' http "$1" "$2" 2>/dev/null
}

status() { local l=${1%%$'\r'*}; l=${l#* }; echo "${l%% *}"; }
header() { # header RESPONSE NAME: the value of that header
	printf '%s\n' "$1" | tr -d '\r' | sed -n '/^$/q; s/^'"$2"': *//Ip' | head -n 1
}
body() { printf '%s' "$1" | tr -d '\r' | sed '1,/^$/d'; }

printf 'st7dfu test payload 0123456789\n' >"$T/www/fw.bin"
mkdir -p "$T/www/sub" && printf 'x file\n' >"$T/www/x"

r=$(https "$NGINX_PORT" /fw.bin "")
eq "$(status "$r")" 200 "GET /fw.bin"
eq "$(body "$r")" "st7dfu test payload 0123456789" "GET /fw.bin body"
etag=$(header "$r" ETag)
lastmod=$(header "$r" Last-Modified)
has "$etag" '"' "ETag present"
has "$(header "$r" Accept-Ranges)" bytes "Accept-Ranges"

r=$(https "$NGINX_PORT" /fw.bin $'Range: bytes=7-10\r\n')
eq "$(status "$r")" 206 "Range"
eq "$(header "$r" Content-Range)" "bytes 7-10/31" "Content-Range"
eq "$(body "$r")" "test" "Range body"

r=$(https "$NGINX_PORT" /fw.bin "If-None-Match: $etag"$'\r\n')
eq "$(status "$r")" 304 "If-None-Match"
r=$(https "$NGINX_PORT" /fw.bin "If-None-Match: \"other\""$'\r\n')
eq "$(status "$r")" 200 "If-None-Match, other ETag"
r=$(https "$NGINX_PORT" /fw.bin "If-Modified-Since: $lastmod"$'\r\n')
eq "$(status "$r")" 304 "If-Modified-Since"
r=$(https "$NGINX_PORT" /missing.bin "")
eq "$(status "$r")" 404 "missing file"

# mTLS.
r=$(https "$NGINX_PORT" /mtls/fw.bin "")
eq "$(status "$r")" 403 "/mtls/ without client cert"
r=$(https "$NGINX_PORT" /mtls/fw.bin "" -cert "$P/client.pem" -key "$P/client.key")
eq "$(status "$r")" 200 "/mtls/ with client cert"
eq "$(body "$r")" "st7dfu test payload 0123456789" "/mtls/ body"
r=$(https "$NGINX_PORT" /mtls/fw.bin "" -cert "$P/rogue-client.pem" -key "$P/rogue-client.key")
case $(status "$r") in 400 | 403) ok ;; *) fail "/mtls/ with rogue client cert: '$(status "$r")'" ;; esac
for v in 1.2 1.3; do
	r=$(https "$NGINX_PORT" /mtls/fw.bin "" -cert "$P/client.pem" -key "$P/client.key" "-tls1_${v#1.}")
	eq "$(status "$r")" 200 "/mtls/ with client cert, TLS $v"
done

# 429 and redirect.
r=$(https "$NGINX_PORT" /retry "")
eq "$(status "$r")" 429 "/retry"
eq "$(header "$r" Retry-After)" 3 "Retry-After"
r=$(https "$NGINX_PORT" /redirect-http/x "")
eq "$(status "$r")" 302 "/redirect-http/x"
eq "$(header "$r" Location)" "http://127.0.0.1:$NGINX_HTTP_PORT/x" "redirect Location"
r=$(https "$NGINX_PORT" '/redirect-http/sub/fw.bin?a=1' "")
eq "$(header "$r" Location)" "http://127.0.0.1:$NGINX_HTTP_PORT/sub/fw.bin?a=1" "redirect Location keeps path and query"

# Wrongname and plain-HTTP servers serve the same root.
r=$(https "$NGINX_WRONGNAME_PORT" /fw.bin "")
eq "$(status "$r")" 200 "wrongname GET"
r=$(http "$NGINX_HTTP_PORT" /x)
eq "$(status "$r")" 200 "plain HTTP GET /x"
eq "$(body "$r")" "x file" "plain HTTP body"
has "$(header "$r" ETag)" '"' "plain HTTP ETag"

# Everything nginx writes is under DIR.
check "pid file in DIR" test -s "$T/nginx.pid"
check "error log in DIR" test -s "$T/error.log"
check "access log in DIR" test -s "$T/access.log"

# Stop: ports closed, master and workers gone, nothing left running on DIR.
master=$NGINX_PID
workers=""
for f in /proc/[0-9]*/stat; do
	s=$(cat "$f" 2>/dev/null) || continue
	s=${s##*) }
	s=${s#* }
	if [ "${s%% *}" = "$master" ]; then
		f=${f#/proc/}
		workers="$workers ${f%/stat}"
	fi
done
[ -n "$workers" ] && ok || fail "no worker process found"
nginx_fixture_stop
eq "$?" 0 "nginx_fixture_stop"
for p in $NGINX_PORT $NGINX_WRONGNAME_PORT $NGINX_HTTP_PORT; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then fail "port $p still accepts"; else ok; fi
done
for p in $master $workers; do
	if _nginx_fx_alive "$p"; then fail "nginx process $p still alive"; else ok; fi
done
left=""
for f in /proc/[0-9]*/cmdline; do
	p=${f#/proc/}
	p=${p%/cmdline}
	case $(tr '\0' ' ' <"$f" 2>/dev/null) in
	*"$NGINX_DIR"*) _nginx_fx_alive "$p" && left="$left $p" ;;
	esac
done
eq "$left" "" "processes still running on $NGINX_DIR"
nginx_fixture_stop
eq "$?" 0 "second stop"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
