#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fleet rehearsal (run by hand with the bench target; prints figures, asserts nothing):
# N gateways (default 1000), each with its own state directory and gateway id, poll one
# nginx (TLS, the test fixture) with `st7dfu check --dry-run` against an emulated reader:
#   - requests and bytes per gateway per poll: the first poll (manifest and signature),
#     then a poll when nothing changed (one 304 each);
#   - the rollout cohorts observed at 1/10/50% against the expected N/100, N/10, N/2;
#   - nginx's sustained rate on this machine (openssl s_time: new TLS sessions, and
#     one session reused), the evidence that the fleet side is a static file server.
# Environment: ST7DFU, ST7DFU_EMU, ST7_TESTS; FLEET_N (1000), FLEET_PAR (parallel
# gateways, default the number of cores).
set -u
: "${ST7DFU:?}" "${ST7DFU_EMU:?}" "${ST7_TESTS:?}"
N=${FLEET_N:-1000}
PAR=${FLEET_PAR:-$(nproc 2>/dev/null || echo 2)}
T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-fleet.XXXXXX")
chmod 755 "$T"
# shellcheck source=../net/nginx-fixture.sh
. "$ST7_TESTS/net/nginx-fixture.sh"
trap 'nginx_fixture_stop; rm -rf "$T"' EXIT
mkdir -p "$T/ng"
nginx_fixture_start "$T/ng" >/dev/null || { echo "fleet bench: nginx fixture did not start"; exit 1; }
WWW=$NGINX_DIR/www
mkdir -p "$WWW/images" "$T/keys"
chmod 755 "$T/keys"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/k.pem" 2>/dev/null
openssl pkey -in "$T/k.pem" -pubout -out "$T/keys/k.pem" 2>/dev/null
"$ST7DFU" pack -o "$WWW/images/reader-1.03.dfu" --vid 0483 --pid ff03 --bcd 1.03 \
	--profile st72f65 --stamp-version "$ST7_TESTS/data/st72f65-app.hex" >/dev/null
now=$(date -u +%s)
utc() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
cat >"$WWW/manifest.ini" <<INI
[manifest]
serial  = 1
issued  = $(utc $((now - 3600)))
expires = $(utc $((now + 864000)))

[release "reader-1.03"]
match   = 0483:ff03
profile = st72f65
version = 0x0103
url     = images/reader-1.03.dfu
sha256  = $(sha256sum "$WWW/images/reader-1.03.dfu" | cut -d' ' -f1)
size    = $(stat -c %s "$WWW/images/reader-1.03.dfu")
rollout = 50
INI
openssl dgst -sha256 -sign "$T/k.pem" -out "$WWW/manifest.ini.sig" "$WWW/manifest.ini"
chmod -R a+rX "$WWW"

# One gateway's poll: its own policy and state; the plan's cohort kept.
cat >"$T/gw.sh" <<'SH'
#!/bin/bash
i=$1 pass=$2 G=$T/gw/$1
if [ ! -d "$G" ]; then
	mkdir -p "$G/state" && chmod 700 "$G/state"
	printf '[agent]\nstate_dir = %s\nkeys_dir = %s\nmanifest_url = %s\nca_file = %s\ndevice_id = gateway-%05d\n' \
		"$G/state" "$T/keys" "$NGINX_URL/manifest.ini" "$NGINX_CA" "$i" >"$G/policy.ini"
fi
"$ST7DFU" check --dry-run --json -c "$G/policy.ini" 2>>"$G/err" | tail -n 1 >"$G/p$pass.json"
SH
cat >"$T/fleet.sh" <<'SH'
#!/bin/bash
pass=$1
t0=$(date +%s%N)
seq 1 "$N" | xargs -P "$PAR" -I{} "$T/gw.sh" {} "$pass"
echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$T/pass$pass.ms"
SH
chmod +x "$T/gw.sh" "$T/fleet.sh"
export ST7DFU T N PAR NGINX_URL NGINX_CA
LOG=$NGINX_DIR/access.log
lines() { wc -l <"$LOG"; }
# requests, bytes sent, statuses of the access log's lines $1+1 .. $2
window() {
	sed -n "$(($1 + 1)),$2p" "$LOG" | awk '{ n++; b += $10; s[$9]++ }
		END { printf "%d %d", n, b; for (k in s) printf " %s:%d", k, s[k]; print "" }'
}

echo "== fleet rehearsal: $N gateways (own state, own id), $PAR at a time, one nginx"
l0=$(lines)
"$ST7DFU_EMU" --timeout 3600 --device kind=st7,profile=st72f65,serial=R-1,version=0x0102 \
	-- "$T/fleet.sh" 1 >/dev/null 2>&1
l1=$(lines)
"$ST7DFU_EMU" --timeout 3600 --device kind=st7,profile=st72f65,serial=R-1,version=0x0102 \
	-- "$T/fleet.sh" 2 >/dev/null 2>&1
l2=$(lines)
read -r r1 b1 s1 <<<"$(window "$l0" "$l1")"
read -r r2 b2 s2 <<<"$(window "$l1" "$l2")"
printf '   first poll:  %5s requests (%s), %.2f per gateway, %.0f bytes per gateway, %s ms for the fleet\n' \
	"$r1" "$s1" "$(awk -v a="$r1" -v n="$N" 'BEGIN { print a / n }')" "$(awk -v a="$b1" -v n="$N" 'BEGIN { print a / n }')" "$(cat "$T/pass1.ms")"
printf '   nothing new: %5s requests (%s), %.2f per gateway, %.0f bytes per gateway, %s ms for the fleet\n' \
	"$r2" "$s2" "$(awk -v a="$r2" -v n="$N" 'BEGIN { print a / n }')" "$(awk -v a="$b2" -v n="$N" 'BEGIN { print a / n }')" "$(cat "$T/pass2.ms")"
for pass in 1 2; do
	okp=$(grep -l '"reason"' "$T"/gw/*/p$pass.json 2>/dev/null | wc -l)
	echo "   poll $pass: $okp of $N gateways decided"
done
bad=$(grep -h 'error' "$T"/gw/*/err 2>/dev/null | sort | uniq -c | sort -rn | head -3)
[ -z "$bad" ] || { echo "   errors seen (count, message):"; echo "$bad" | cut -c1-200 | sed 's/^/     /'; }
# The cohorts: one draw per gateway for this release, 0..99; rollout P takes cohort < P.
cat "$T"/gw/*/p1.json | jq -r '.plan.devices[0].cohort // empty' >"$T/cohorts"
for p in 1 10 50; do
	got=$(awk -v p="$p" '$1 < p' "$T/cohorts" | wc -l)
	printf '   rollout %2s%%: %4s gateways in the cohort (expected %s; sd about %.1f)\n' "$p" \
		"$got" "$((N * p / 100))" "$(awk -v n="$N" -v p="$p" 'BEGIN { print sqrt(n * p / 100 * (1 - p / 100)) }')"
done
echo "== nginx on this machine (openssl s_time, 10 s each, the manifest)"
port=${NGINX_URL##*:}
for mode in -new -reuse; do
	r=$(openssl s_time -connect "127.0.0.1:$port" -www /manifest.ini $mode -time 10 2>/dev/null |
		grep -E 'connections in [0-9.]+s' | tail -n1)
	printf '   %-7s %s\n' "$mode" "${r:-n/a}"
done
echo "   (-new: a full TLS handshake per request, as gateways that poll every few hours do;"
echo "   one openssl client at a time, so nginx is not the limit: a CDN carries the rest)"
