#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# Signed images over HTTPS, end to end: a real nginx with a generated PKI
# (tests/net/nginx-fixture.sh) and the project's fault server (st7dfu-faultsrv) in front
# of the real st7dfu, which updates an emulated ST7 through real libusb. Every refusal
# must leave the device untouched: the emulator's report shows zero control transfers.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
: "${ST7DFU_FAULTSRV:?set ST7DFU_FAULTSRV to the st7dfu-faultsrv binary}"
for tool in nginx openssl; do
	command -v "$tool" >/dev/null || [ -x /usr/sbin/$tool ] || { echo "$tool missing"; exit 77; }
done
# shellcheck source=../net/nginx-fixture.sh
. "$TESTS/net/nginx-fixture.sh"
FS_PID=
SMALL_FS= # a tmpfs mounted for the disk-full check
# shellcheck disable=SC2317 # cleanup runs from the EXIT trap (shellcheck 0.9 misses it when the script ends in exit)
cleanup() {
	nginx_fixture_stop
	[ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null && wait "$FS_PID" 2>/dev/null
	[ -n "$SMALL_FS" ] && umount "$SMALL_FS"
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 1
mkdir ng fs fs/www
nginx_fixture_start "$T/ng" || { echo "nginx fixture did not start"; exit 1; }
"$ST7DFU_FAULTSRV" --root "$T/fs/www" --port-file "$T/fs/port" --log "$T/fs/log" --state "$T/fs" \
	--tls "$T/ng/pki/server.pem" "$T/ng/pki/server.key" --blackhole-port-file "$T/fs/blackhole" \
	2>"$T/fs/stderr" &
FS_PID=$!
for _ in $(seq 100); do [ -s fs/port ] && break; sleep 0.05; done
FS=https://127.0.0.1:$(cat fs/port)
# A loopback port whose full accept queue drops every SYN: connects to it time out.
BLACKHOLE_PORT=$(cat fs/blackhole)
WWW=$NGINX_DIR/www

# Firmware: the old one the emulated reader runs, and signed new ones on the servers.
test_keys
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out rogue.key 2>/dev/null
"$ST7DFU" pack -o old.dfu --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
"$ST7DFU" pack -o new.dfu --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
head -c -16 old.dfu >old.bin
SIZE=$(stat -c %s new.dfu)
"$ST7DFU" sign --key test.key new.dfu >/dev/null
publish() { # NAME SOURCE [SIG]: the file and NAME.sig on both servers (world-readable)
	for d in "$WWW" fs/www; do
		cp "$2" "$d/$1" && cp "${3:-$2.sig}" "$d/$1.sig" && chmod 644 "$d/$1" "$d/$1.sig"
	done
}
publish new.dfu new.dfu
mkdir -p "$WWW/mtls" && cp new.dfu new.dfu.sig "$WWW/mtls/" && chmod -R a+rX "$WWW/mtls"
cp new.dfu flipped.dfu
printf '\x5A' | dd of=flipped.dfu bs=1 seek=3000 conv=notrunc 2>/dev/null
publish flipped.dfu flipped.dfu new.dfu.sig
openssl dgst -sha256 -sign rogue.key -out rogue.sig new.dfu
publish unknown-key.dfu new.dfu rogue.sig
"$ST7DFU" pack -o other.dfu --vid 0483 --pid ff03 --bcd 1.04 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
"$ST7DFU" sign --key test.key other.dfu >/dev/null
publish swapped.dfu new.dfu other.dfu.sig
# ~300 KB, signed: larger than the small disk of the disk-full check (section 9).
head -c 300000 /dev/urandom >large.dfu
"$ST7DFU" sign --key test.key large.dfu >/dev/null
publish large.dfu large.dfu

NET=(--keys "$K" --ca-file "$NGINX_CA")
# upgrade_case WHAT RC URL [OPTIONS...]: upgrade the emulated reader; sets $R to the report.
upgrade_case() {
	local what=$1 want=$2 url=$3
	shift 3
	run "$ST7DFU_EMU" --timeout 120 --report rep.json --device "kind=st7,serial=NET,flash-in=old.bin" \
		-- "$ST7DFU" upgrade --state-dir st "${NET[@]}" "$@" "$url"
	expect_rc "$want" "$what"
	R=$(cat rep.json)
}
untouched() { # WHAT RC URL [OPTIONS...]
	upgrade_case "$@"
	jqeq "$R" '.devices[0].control_transfers' 0 "$1: the device was not touched"
	jqeq "$R" '.devices[0].version' 258 "$1: still 1.02"
}
# jr FILTER EXPECTED WHAT: check the result line (the last) of a --json run.
jr() { jqeq "$(tail -n1 <<<"$OUT")" "$@"; }
# cache_key URL: the name the cache gives URL (the first 128 bits of its SHA-256, in hex).
cache_key() { printf '%s' "$1" | sha256sum | cut -c1-32; }
# wait_part FILE: until a download has written its first bytes to FILE (up to 60 s, for
# loaded sanitizer runs): a signal sent then lands mid-download, whatever the machine.
wait_part() {
	for _ in $(seq 1200); do [ -s "$1" ] && return 0; sleep 0.05; done
	fail "no download reached $1 in 60 s"
}
cache_holds() { # URL: is a verified copy of URL in the cache?
	local k
	k=$(cache_key "$1")
	[ -f "st/cache/$k" ] && [ -f "st/cache/$k.meta" ]
}

# 1. The good signed image: installed from nginx over TLS with the pinned CA.
upgrade_case "signed image over https" 0 "$NGINX_URL/new.dfu"
jqeq "$R" '.devices[0].version' 259 "device runs 1.03"
has "$ERR" "good signature by test.pem" "signer logged"
cache_holds "$NGINX_URL/new.dfu" && ok || fail "verified image cached"
cmp -s "st/cache/$(cache_key "$NGINX_URL/new.dfu")" new.dfu && ok || fail "cached copy is the image"

run "$ST7DFU_EMU" --timeout 120 --device "kind=st7,serial=NET,flash-in=old.bin" \
	-- "$ST7DFU" upgrade --json --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 0 "upgrade --json from a URL"
jr .signer "test.pem (sha256:$(openssl pkey -pubin -in "$K/test.pem" -outform DER | sha256sum | cut -c1-16))" "result names the signer"
jr .image_sha256 "$(sha256sum new.dfu | cut -d' ' -f1)" "result names the image hash"
jr .fetch not-modified "the second upgrade's download was a 304"

# 2. Conditional requests: nothing new is a 304, and the cached copy serves.
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 0 "fetch of an unchanged image"
jr .status not-modified "unchanged image: 304"
jr .verified true "the cached copy is verified again"
grep -q '"GET /new.dfu HTTP/1.1" 304' "$NGINX_DIR/access.log" && ok || fail "nginx answered 304"
sleep 1.1 # a new Last-Modified second
cp other.dfu "$WWW/new.dfu" && cp other.dfu.sig "$WWW/new.dfu.sig"
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" -o got.dfu "$NGINX_URL/new.dfu"
jr .status downloaded "a changed image is downloaded again"
cmp -s got.dfu other.dfu && cmp -s got.dfu.sig other.dfu.sig && ok || fail "fetch -o writes the image and its signature"
run "$ST7DFU" verify --keys "$K" got.dfu
expect_rc 0 "fetch -o output verifies on its own"
cp new.dfu "$WWW/new.dfu" && cp new.dfu.sig "$WWW/new.dfu.sig"

# 3. Content that must not be trusted: exit 12, device untouched, nothing kept.
untouched "one flipped byte" 12 "$NGINX_URL/flipped.dfu"
has "$ERR" "not valid for this content" "flipped: reason"
if cache_holds "$NGINX_URL/flipped.dfu"; then fail "a refused image stays out of the cache"; else ok; fi
if [ "$(globcount "st/cache/$(cache_key "$NGINX_URL/flipped.dfu")"*)" -gt 0 ]; then
	fail "no partial kept for a refused image"
else
	ok
fi
untouched "signature by an unknown key" 12 "$NGINX_URL/unknown-key.dfu"
untouched "a valid signature of another file" 12 "$NGINX_URL/swapped.dfu"
untouched "no signature on the server" 12 "$NGINX_URL/new.dfu" --sig "$NGINX_URL/none.sig"
has "$ERR" "no signature" "missing .sig named"

# 4. TLS: wrong CA, the system CAs, wrong host name, client certificates.
untouched "wrong CA" 11 "$NGINX_URL/new.dfu" --ca-file "$NGINX_DIR/pki/other-ca.pem"
has "$ERR" "certificate" "wrong CA: says certificate"
NET=(--keys "$K")
untouched "system CAs do not know the test CA" 11 "$NGINX_URL/new.dfu"
NET=(--keys "$K" --ca-file "$NGINX_CA")
untouched "wrong host name" 11 "https://127.0.0.1:$NGINX_WRONGNAME_PORT/new.dfu"
has "$ERR" "127.0.0.1" "wrong name: names the host"
untouched "missing client certificate" 11 "$NGINX_URL/mtls/new.dfu"
has "$ERR" "403" "mTLS: HTTP 403"
has "$ERR" "client certificate" "mTLS: hints at --client-cert"
untouched "client certificate from another CA" 11 "$NGINX_URL/mtls/new.dfu" \
	--client-cert "$NGINX_DIR/pki/rogue-client.pem" --client-key "$NGINX_DIR/pki/rogue-client.key"
upgrade_case "client certificate accepted" 0 "$NGINX_URL/mtls/new.dfu" \
	--client-cert "$NGINX_DIR/pki/client.pem" --client-key "$NGINX_DIR/pki/client.key"
jqeq "$R" '.devices[0].version' 259 "mTLS image installed"

# 5. https only: http:// and redirects to it are refused unless --allow-http (lab).
untouched "plain http URL" 2 "http://127.0.0.1:$NGINX_HTTP_PORT/new.dfu"
has "$ERR" "only https" "http: says https only"
untouched "redirect to http" 11 "$NGINX_URL/redirect-http/new.dfu"
untouched "fault server redirect to http" 11 "$FS/redirect/http/ok/new.dfu"
run "$ST7DFU" fetch --state-dir st-lab --keys "$K" --allow-http "http://127.0.0.1:$NGINX_HTTP_PORT/new.dfu"
expect_rc 0 "--allow-http fetches http in the lab"
has "$ERR" "INSECURE" "--allow-http is loud"
run "$ST7DFU" fetch --state-dir st-lab "${NET[@]}" "$FS/redirect/https/ok/new.dfu"
expect_rc 0 "redirect to https followed"

# 6. Retry-After: 429 and 503, in seconds or as an HTTP date.
untouched "429 Retry-After (nginx)" 13 "$NGINX_URL/retry"
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" "$NGINX_URL/retry"
expect_rc 13 "429 exit code"
jr .retry_after 3 "Retry-After seconds surfaced"
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" "$FS/status/503?retry-after=120"
jr .retry_after 120 "503 Retry-After seconds"
when=$(date -u -d '+1 hour' '+%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT')
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" "$FS/status/429?retry-after=$when"
expect_rc 13 "429 with an HTTP date"
ra=$(tail -n1 <<<"$OUT" | jq -r .retry_after)
[ "$ra" -ge 3590 ] && [ "$ra" -le 3601 ] && ok || fail "HTTP-date Retry-After is about an hour: $ra"
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" "$FS/status/500"
expect_rc 11 "HTTP 500"
jr .retry_after null "no Retry-After on a 500"

# 7. Truncated, then resumed with Range: the second attempt asks only for the rest.
untouched "truncated mid-body" 11 "$FS/flaky/10000/new.dfu"
upgrade_case "resumed after truncation" 0 "$FS/flaky/10000/new.dfu"
jqeq "$R" '.devices[0].version' 259 "resumed image installed"
grep -q "GET /flaky/10000/new.dfu range=bytes=10000-" fs/log && ok || fail "resume asked for bytes=10000-"
grep "GET /flaky/10000/new.dfu range=bytes=10000-" fs/log | grep -q 'if-range="' && ok ||
	fail "resume guarded by If-Range with the ETag"
run "$ST7DFU" fetch --json --state-dir st3 "${NET[@]}" "$FS/flaky/7000/new.dfu"
expect_rc 11 "fetch: truncated"
run "$ST7DFU" fetch --json --state-dir st3 "${NET[@]}" "$FS/flaky/7000/new.dfu"
jr .status resumed "fetch: resumed"
jr .resumed_from 7000 "fetch: resumed from the cut"
# A server that ignores Range: the partial file is dropped and the whole image comes again.
url=$FS/norange/new.dfu
k=$(cache_key "$url")
mkdir -p st4/cache && chmod 700 st4/cache
head -c 5000 new.dfu >"st4/cache/$k.part"
printf 'url=%s\netag="x"\nsize=%s\n' "$url" "$SIZE" >"st4/cache/$k.part.meta"
run "$ST7DFU" fetch --json --state-dir st4 "${NET[@]}" "$url"
expect_rc 0 "server ignoring Range"
jr .restarted true "whole image fetched again"
jr .sha256 "$(sha256sum new.dfu | cut -d' ' -f1)" "and it is intact"
# A 206 for another range than asked: never spliced in.
url=$FS/badrange/new.dfu
k=$(cache_key "$url")
head -c 5000 new.dfu >"st4/cache/$k.part"
printf 'url=%s\netag="x"\nsize=%s\n' "$url" "$SIZE" >"st4/cache/$k.part.meta"
run "$ST7DFU" fetch --json --state-dir st4 "${NET[@]}" "$url"
expect_rc 0 "206 for the wrong range: refetched whole"
jr .sha256 "$(sha256sum new.dfu | cut -d' ' -f1)" "wrong-range answer not spliced"
# A planted partial file of other content: the signature fails on the spliced whole, the
# cache forgets both pieces, and one clean download follows at once.
url=$FS/ok/new.dfu
k=$(cache_key "$url")
etag=$(curl -sI --cacert "$NGINX_CA" "$url" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
head -c 5000 /dev/urandom >"st4/cache/$k.part"
printf 'url=%s\netag=%s\nsize=%s\n' "$url" "$etag" "$SIZE" >"st4/cache/$k.part.meta"
run "$ST7DFU" fetch --json --state-dir st4 "${NET[@]}" "$url"
expect_rc 0 "a poisoned partial file is caught and replaced"
has "$ERR" "fetching it whole once more" "the retry is logged"
jr .sha256 "$(sha256sum new.dfu | cut -d' ' -f1)" "the clean copy is the image"
[ "$(grep -c "GET /ok/new.dfu range=-" fs/log)" -ge 1 ] && ok || fail "the retry asked for the whole file"
# kill -9 in the middle of a download (nginx at 4 KiB/s): the next run continues it.
"$ST7DFU" fetch --state-dir st5 "${NET[@]}" "$NGINX_URL/slow/new.dfu" >/dev/null 2>&1 &
pid=$!
k=$(cache_key "$NGINX_URL/slow/new.dfu")
wait_part "st5/cache/$k.part"
kill -9 $pid
wait $pid 2>/dev/null
part=$(stat -c %s "st5/cache/$k.part" 2>/dev/null || echo 0)
[ "$part" -gt 0 ] && [ "$part" -lt "$SIZE" ] && ok || fail "killed download left a partial file ($part bytes)"
[ -f "st5/cache/$k.part.meta" ] && ok || fail "with its validators recorded"
[ ! -e "st5/cache/$k" ] && ok || fail "nothing unverified became the cached copy"
run "$ST7DFU" fetch --json --state-dir st5 "${NET[@]}" "$NGINX_URL/slow/new.dfu"
expect_rc 0 "download after kill -9"
jr .status resumed "continued, not restarted"
jr .resumed_from "$part" "from where the killed run stopped"
jr .sha256 "$(sha256sum new.dfu | cut -d' ' -f1)" "resumed image intact"

# 8. Stalls, endless bodies, lies about the length: bounded in time and in disk.
start=$(date +%s)
untouched "stalled transfer" 11 "$FS/stall/4000/new.dfu" --low-speed-limit 100 --low-speed-time 2
has "$ERR" "slow" "stall: abandoned by the low-speed limit"
[ $(($(date +%s) - start)) -lt 30 ] && ok || fail "stall abandoned in bounded time"
untouched "endless body" 11 "$FS/endless" --max-size 256K --sig "$NGINX_URL/new.dfu.sig"
has "$ERR" "limit of 262144" "endless: cut at the cap"
du_kib=$(du -sk st/cache | cut -f1)
[ "$du_kib" -lt 400 ] && ok || fail "endless body did not fill the disk (cache ${du_kib} KiB)"
untouched "1 TiB announced" 11 "$FS/endless-cl" --max-size 256K
has "$ERR" "announces" "refused from Content-Length"
untouched "Content-Length larger than the body" 11 "$FS/wrong-length/+100/new.dfu"
untouched "Content-Length smaller than the body" 12 "$FS/wrong-length/-100/new.dfu"
untouched "slow drip within the limits is fine, but the total timeout holds" 11 \
	"$FS/drip/200/new.dfu" --timeout 3
has "$ERR" "imed out" "drip: total timeout"
# Tests send traffic to loopback only: the fault server's blackhole port makes the timeout.
start=$(date +%s%N)
untouched "connect timeout" 11 "https://127.0.0.1:$BLACKHOLE_PORT/new.dfu" --connect-timeout 2
ms=$((($(date +%s%N) - start) / 1000000))
has "$ERR" "Failed to connect to 127.0.0.1 port $BLACKHOLE_PORT" "connect timeout: while connecting"
has "$ERR" "Timeout was reached" "connect timeout: says it timed out"
[ "$ms" -ge 1950 ] && [ "$ms" -lt 30000 ] && ok || fail "connect timeout took $ms ms, not about 2 s"
run env https_proxy=http://127.0.0.1:9 "$ST7DFU" fetch --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 11 "https_proxy is honoured (an unreachable proxy fails the fetch)"
has "$ERR" "127.0.0.1" "proxy failure names the proxy"
run env https_proxy=http://127.0.0.1:9 no_proxy=127.0.0.1 "$ST7DFU" fetch --state-dir st "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 0 "no_proxy is honoured"

# 9. What the review of this layer asked for.
# A partial file guarded only by a date (no strong ETag) resumes with If-Range: DATE.
url=$FS/ok/new.dfu
k=$(cache_key "$url")
mkdir -p st6/cache && chmod 700 st6/cache
head -c 6000 new.dfu >"st6/cache/$k.part"
lm=$(date -u -r fs/www/new.dfu +%s)
printf 'url=%s\netag=W/"weak"\nlast_modified=%s\nsize=%s\n' "$url" "$lm" "$SIZE" >"st6/cache/$k.part.meta"
run "$ST7DFU" fetch --json --state-dir st6 "${NET[@]}" "$url"
expect_rc 0 "resume guarded by a date"
jr .resumed_from 6000 "date-guarded resume continued"
grep "range=bytes=6000-" fs/log | grep -q "if-range=$(date -u -r fs/www/new.dfu '+%a, %d %b %Y %H:%M:%S GMT')" &&
	ok || fail "If-Range carried the Last-Modified date"
# Without any validator a partial file is not continued (two versions could be spliced).
head -c 6000 new.dfu >"st6/cache/$k.part"
printf 'url=%s\nsize=%s\n' "$url" "$SIZE" >"st6/cache/$k.part.meta"
: >fs/log
run "$ST7DFU" fetch --json --state-dir st6 "${NET[@]}" --allow-unsigned "$url"
expect_rc 0 "no validator: fetched whole"
grep -q "GET /ok/new.dfu range=-" fs/log && ok || fail "no Range without a validator"
# A complete partial file (the run stopped before verifying) is not downloaded again.
head -c "$SIZE" new.dfu >"st6/cache/$k.part"
printf 'url=%s\netag="e"\nsize=%s\n' "$url" "$SIZE" >"st6/cache/$k.part.meta"
: >fs/log
run "$ST7DFU" fetch --json --state-dir st6 "${NET[@]}" "$url"
expect_rc 0 "complete partial verified without a download"
if grep -q "GET /ok/new.dfu " fs/log; then fail "complete partial downloaded again"; else ok; fi
# --allow-unsigned keeps nothing in the cache.
run "$ST7DFU" fetch --state-dir st7 --keys "$K" --ca-file "$NGINX_CA" --allow-unsigned "$NGINX_URL/new.dfu"
expect_rc 0 "unsigned fetch"
[ "$(globcount st7/cache/*)" -eq 0 ] && ok || fail "an unverified download is not cached"
# Only a private cache is used; planted symlinks and FIFOs neither follow nor hang.
mkdir -p st8/cache && chmod 755 st8/cache
run "$ST7DFU" fetch --state-dir st8 "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 4 "a cache directory others can read is refused"
has "$ERR" "too open" "says why"
chmod 700 st8/cache
k=$(cache_key "$NGINX_URL/new.dfu")
echo "precious" >victim
ln -s "$T/victim" "st8/cache/$k.part"
printf 'url=%s\netag="x"\nsize=%s\n' "$NGINX_URL/new.dfu" "$SIZE" >"st8/cache/$k.part.meta"
mkfifo "st8/cache/$k.meta"
run timeout 60 "$ST7DFU" fetch --state-dir st8 "${NET[@]}" "$NGINX_URL/new.dfu"
expect_rc 0 "planted symlink and FIFO: no hang, clean download"
eq "$(cat victim)" precious "the symlink's target was not written"
# The signature's own limit: a huge .sig is cut at 1 KiB, not at the image limit.
head -c 3000000 /dev/urandom >fs/www/big.dfu.sig
cp new.dfu fs/www/big.dfu
run "$ST7DFU" fetch --state-dir st9 "${NET[@]}" "$FS/ok/big.dfu"
expect_rc 12 "oversized signature refused"
big=$(find st9/cache -type f -size +100k | wc -l)
eq "$big" 0 "an oversized signature never reached the disk"
# With an ETag, only If-None-Match goes out: an If-Modified-Since would let a file replaced
# with its old date (reproducible builds, cp -p) pass for "not modified".
run "$ST7DFU" fetch --state-dir st10 "${NET[@]}" "$FS/ok/new.dfu"
: >fs/log
run "$ST7DFU" fetch --json --state-dir st10 "${NET[@]}" "$FS/ok/new.dfu"
jr .status not-modified "second poll: 304"
grep "GET /ok/new.dfu " fs/log | head -n1 | grep -q 'if-none-match="[^ ]*" if-modified-since=-' &&
	ok || fail "conditional GET by ETag alone: $(head -n1 fs/log)"
# Two runs at once: the second waits for the first instead of mixing their files.
"$ST7DFU" fetch --state-dir st11 "${NET[@]}" "$NGINX_URL/slow/new.dfu" >/dev/null 2>st11.a &
pa=$!
wait_part "st11/cache/$(cache_key "$NGINX_URL/slow/new.dfu").part" # the first holds the lock
run "$ST7DFU" fetch --json --state-dir st11 "${NET[@]}" "$NGINX_URL/slow/new.dfu"
wait $pa
eq "$?" 0 "first of two concurrent fetches"
expect_rc 0 "second of two concurrent fetches"
jr .status not-modified "the second found the first's verified copy"
# SIGINT during a download: exit 10, the partial file kept for the next run.
"$ST7DFU" fetch --state-dir st12 "${NET[@]}" "$NGINX_URL/slow/new.dfu" >/dev/null 2>st12.err &
pa=$!
k=$(cache_key "$NGINX_URL/slow/new.dfu")
wait_part "st12/cache/$k.part"
kill -INT $pa
wait $pa
eq "$?" 10 "SIGINT stops a download with exit 10"
[ -s "st12/cache/$k.part" ] && ok || fail "interrupted download keeps its partial file"
# A full disk: the partial file is dropped, not left to keep the disk full. The state
# directory is a 96 KiB tmpfs; the signed image is ~300 KB.
mkdir small-fs
if ! mount -t tmpfs -o size=96k,mode=0700 tmpfs small-fs 2>mount.err; then
	if [ "${CI:-}" = true ]; then
		fail "disk-full check: cannot mount a tmpfs: $(cat mount.err)"
	else
		echo "SKIPPED: disk-full check (.part files after ENOSPC): cannot mount a tmpfs: $(cat mount.err)" >&2
	fi
else
	SMALL_FS=$T/small-fs
	used() { df -k --output=used "$SMALL_FS" | tail -n1 | tr -d ' '; }
	before=$(used)
	run "$ST7DFU" fetch --state-dir small-fs "${NET[@]}" "$NGINX_URL/large.dfu"
	expect_rc 4 "disk full: exit 4 (a local write failed)"
	k=$(cache_key "$NGINX_URL/large.dfu")
	has "$ERR" "small-fs/cache/$k.part" "disk full: the cache file is named"
	has "$ERR" "No space left on device" "disk full: says the disk is full"
	left=$(find small-fs ! -type d ! -path small-fs/cache/.lock | head -n 5)
	eq "$left" "" "disk full: no partial (*.part) or temporary file left"
	[ ! -e "small-fs/cache/$k" ] && ok || fail "disk full: nothing became the cached copy"
	after=$(used)
	[ "$after" -le $((before + 8)) ] && ok ||
		fail "disk full: the space is free again (df: ${before} KiB used before, ${after} KiB after)"
	umount "$SMALL_FS" && SMALL_FS=
fi
# Retry-After is bounded.
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" "$FS/status/503?retry-after=99999999999"
jr .retry_after 86400 "Retry-After capped at a day"
run "$ST7DFU" fetch --json --state-dir st "${NET[@]}" "$FS/status/429?retry-after=0"
jr .retry_after 1 "Retry-After at least a second"
# rollback --to: a file outside the backups must be signed.
run "$ST7DFU_EMU" --timeout 120 --report rep.json --device "kind=st7,serial=NET,flash-in=old.bin" \
	-- "$ST7DFU" rollback --state-dir st --keys "$K" --to flipped.dfu
expect_rc 12 "rollback --to an unsigned file refused"
jqeq "$(cat rep.json)" '.devices[0].control_transfers' 0 "rollback refused: device untouched"

# 10. Usage errors come before any network or device work.
run "$ST7DFU" fetch "${NET[@]}" --max-size 12X "$NGINX_URL/new.dfu"
expect_rc 2 "bad --max-size"
run "$ST7DFU" fetch "${NET[@]}" "$T/new.dfu"
expect_rc 2 "fetch needs a URL"
run "$ST7DFU" fetch "${NET[@]}" --timeout 0 "$NGINX_URL/new.dfu"
expect_rc 2 "bad --timeout"
for bad in "--connect-timeout abc" "--low-speed-limit 0" "--low-speed-time 99999" "--max-size 2G" "--max-size -1"; do
	# shellcheck disable=SC2086 # the option and its value, split on purpose
	run "$ST7DFU" fetch "${NET[@]}" $bad "$NGINX_URL/new.dfu"
	expect_rc 2 "bad value: $bad"
	has "$ERR" "${bad%% *}" "the error names $bad"
done

finish
