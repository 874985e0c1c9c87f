#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# Signatures: st7dfu sign / verify against the openssl CLI in both directions (ECDSA
# P-256, RSA PKCS#1 v1.5 and PSS), every way a signature can be wrong, the rules of the
# key directory (rotation, revocation, refused keys, permissions), and upgrade refusing
# unsigned or badly signed images without touching the (emulated) device.
. "$(dirname "$0")/lib.sh"
: "${ST7DFU_EMU:?set ST7DFU_EMU to the st7dfu-emu binary}"
command -v openssl >/dev/null || { echo "openssl CLI missing"; exit 77; }
cd "$T" || exit 1

key() { # NAME ALGO-ARGS...: NAME.key (private) and NAME.pub (public)
	local n=$1
	shift
	{ openssl genpkey "$@" -out "$n.key" 2>/dev/null && openssl pkey -in "$n.key" -pubout -out "$n.pub" 2>/dev/null; } ||
		fail "openssl key $n"
}
key ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key rsa3k -algorithm RSA -pkeyopt rsa_keygen_bits:3072
key other -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key rsa1k -algorithm RSA -pkeyopt rsa_keygen_bits:1024
key p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key ed -algorithm ED25519
mkdir -m 755 keys
cp ec.pub keys/ec.pem
cp rsa.pub keys/rsa.pem
cp rsa3k.pub keys/rsa3k.pem
head -c 70000 /dev/urandom >f.bin
head -c 70000 /dev/urandom >g.bin

# 1. openssl signs, st7dfu verifies.
openssl dgst -sha256 -sign ec.key -out o-ec.sig f.bin
openssl dgst -sha256 -sign rsa.key -out o-rsa.sig f.bin
openssl dgst -sha256 -sign rsa3k.key -sigopt rsa_padding_mode:pss -out o-pss.sig f.bin
openssl dgst -sha256 -sign rsa.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out o-pss32.sig f.bin
openssl dgst -sha256 -sign rsa.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:max -out o-pssmax.sig f.bin
for s in ec:ec rsa:rsa pss:rsa3k pss32:rsa pssmax:rsa; do
	run "$ST7DFU" verify --keys keys f.bin "o-${s%%:*}.sig"
	expect_rc 0 "openssl ${s%%:*} signature verified"
	has "$OUT" "good signature by ${s#*:}.pem (sha256:" "signer named (${s%%:*})"
done

# 2. st7dfu signs, openssl verifies (and so do we).
run "$ST7DFU" sign --key ec.key f.bin
expect_rc 0 "sign with ECDSA P-256"
[ -f f.bin.sig ] && ok || fail "FILE.sig written by default"
openssl dgst -sha256 -verify ec.pub -signature f.bin.sig f.bin >/dev/null && ok || fail "openssl verifies our ECDSA"
run "$ST7DFU" sign --key rsa.key -o s-rsa.sig f.bin
openssl dgst -sha256 -verify rsa.pub -signature s-rsa.sig f.bin >/dev/null && ok || fail "openssl verifies our RSA v1.5"
run "$ST7DFU" sign --pss --key rsa3k.key -o s-pss.sig f.bin
openssl dgst -sha256 -verify rsa3k.pub -sigopt rsa_padding_mode:pss -signature s-pss.sig f.bin >/dev/null &&
	ok || fail "openssl verifies our RSA-PSS"
for s in f.bin.sig s-rsa.sig s-pss.sig; do
	run "$ST7DFU" verify --keys keys f.bin "$s"
	expect_rc 0 "we verify our own $s"
done
run "$ST7DFU" verify --keys keys --json f.bin
jqeq "$OUT" .valid true "verify --json valid"
jqeq "$OUT" .signer "ec.pem (sha256:$(openssl pkey -pubin -in ec.pub -outform DER | sha256sum | cut -c1-16))" \
	"signer fingerprint is the SHA-256 of the DER public key"
jqeq "$OUT" .sha256 "$(sha256sum f.bin | cut -d' ' -f1)" "verify --json sha256"
# Streaming: a 40 MiB file is signed and verified without being read into memory.
truncate -s 40M big.bin
run "$ST7DFU" sign --key ec.key big.bin
openssl dgst -sha256 -verify ec.pub -signature big.bin.sig big.bin >/dev/null && ok || fail "40 MiB file signed"
run "$ST7DFU" verify --keys keys big.bin
expect_rc 0 "40 MiB file verified"

# 3. Signatures that must fail, each with exit 12 and a reason.
bad() { # WHAT FILE SIG
	run "$ST7DFU" verify --keys keys "$2" "$3"
	expect_rc 12 "$1"
	has "$ERR" "error" "$1: a reason"
}
cp f.bin flipped.bin
printf '\xAA' | dd of=flipped.bin bs=1 seek=35000 conv=notrunc 2>/dev/null
bad "one flipped byte in the file" flipped.bin o-ec.sig
bad "one flipped byte in the file (RSA)" flipped.bin o-rsa.sig
openssl dgst -sha256 -sign other.key -out o-other.sig f.bin
bad "signature by an unknown key" f.bin o-other.sig
openssl dgst -sha256 -sign ec.key -out g.sig g.bin
bad "a valid signature of another file" f.bin g.sig
cp o-rsa.sig sigflip.sig
printf '\x01' | dd of=sigflip.sig bs=1 seek=100 conv=notrunc 2>/dev/null
bad "a flipped byte in the signature" f.bin sigflip.sig
: >empty.sig
bad "an empty signature" f.bin empty.sig
{ cat o-ec.sig; printf '\x00'; } >trailing.sig
bad "a DER signature with a trailing byte" f.bin trailing.sig
head -c 20 o-ec.sig >short.sig
bad "a truncated DER signature" f.bin short.sig
head -c 5000 /dev/urandom >huge.sig
bad "a 5000-byte signature" f.bin huge.sig
has "$ERR" "1024" "oversized signature refused unread"
run "$ST7DFU" verify --keys keys f.bin missing.sig
expect_rc 4 "missing signature file"

# 4. The key directory.
run "$ST7DFU" verify --keys nowhere f.bin o-ec.sig
expect_rc 12 "missing key directory"
has "$ERR" "nowhere" "names the key directory"
mkdir -m 755 k2 && cp ec.pub k2/a.pem && cp other.pub k2/b.pem
run "$ST7DFU" verify --keys k2 f.bin o-other.sig
expect_rc 0 "rotation: the new key is trusted"
run "$ST7DFU" verify --keys k2 f.bin o-ec.sig
expect_rc 0 "rotation: the old key still is"
rm k2/b.pem
run "$ST7DFU" verify --keys k2 f.bin o-other.sig
expect_rc 12 "removing a key revokes it"
mv k2/a.pem k2/a.pem.disabled
run "$ST7DFU" verify --keys k2 f.bin o-ec.sig
expect_rc 12 "a parked key (not *.pem) is not trusted"
has "$ERR" "no usable trusted key" "empty key directory"
mv k2/a.pem.disabled k2/a.pem
chmod 777 k2
run "$ST7DFU" verify --keys k2 f.bin o-ec.sig
expect_rc 12 "world-writable key directory refused"
has "$ERR" "writable by group or others" "says why"
chmod 755 k2
chmod 666 k2/a.pem
run "$ST7DFU" verify --keys k2 f.bin o-ec.sig
expect_rc 12 "world-writable key file skipped"
has "$ERR" "a.pem skipped: writable by group or others" "warning names the key file"
chmod 644 k2/a.pem
cp rsa1k.pub k2/weak.pem
cp p384.pub k2/p384.pem
cp ed.pub k2/ed.pem
cp ec.key k2/private.pem
echo "not a key" >k2/junk.pem
ln -s /etc/passwd k2/link.pem
run "$ST7DFU" verify --keys k2 f.bin o-ec.sig
expect_rc 0 "good key still used beside refused ones"
has "$ERR" "weak.pem: RSA key of 1024 bits" "RSA-1024 refused"
has "$ERR" "p384.pem: EC key on a curve other than P-256" "P-384 refused"
has "$ERR" "ed.pem" "Ed25519 refused"
has "$ERR" "private.pem: a private key" "private key refused"
has "$ERR" "junk.pem: not a PEM or DER public key" "garbage refused"
has "$ERR" "link.pem" "a symlink to a non-key refused"
openssl dgst -sha256 -sign rsa1k.key -out o-weak.sig f.bin
run "$ST7DFU" verify --keys k2 f.bin o-weak.sig
expect_rc 12 "a signature by a refused key is not accepted"
# Signing keys follow the same policy.
run "$ST7DFU" sign --key rsa1k.key -o x.sig f.bin
expect_rc 3 "sign refuses RSA-1024"
run "$ST7DFU" sign --key ec.pub -o x.sig f.bin
expect_rc 3 "sign refuses a public key"
openssl pkey -in ec.key -aes256 -passout pass:secret -out enc.key 2>/dev/null
run "$ST7DFU" sign --key enc.key -o x.sig f.bin
expect_rc 3 "sign refuses an encrypted key"
run "$ST7DFU" sign f.bin
expect_rc 2 "sign without --key"
run "$ST7DFU" sign --key ec.key f.bin g.bin
expect_rc 2 "sign takes one FILE"
run "$ST7DFU" verify --keys keys
expect_rc 2 "verify without FILE"
run "$ST7DFU" verify --keys keys f.bin a.sig b.sig
expect_rc 2 "verify with too many arguments"
run "$ST7DFU" sign --key ec.key -o /nonexistent/dir/x.sig f.bin
expect_rc 4 "sign to an unwritable place"
# A sign that fails while writing leaves the signature already at the target intact.
# The write fails for real, root included: a file-size limit of 0 (SIGXFSZ ignored, so
# write() returns EFBIG; stderr goes to a pipe, which the limit does not cover). A sign
# that wrote the target in place would leave it empty or cut short.
cp o-ec.sig x.sig # a valid signature of f.bin; the failing sign is of g.bin
ERR=$( (trap '' XFSZ && ulimit -f 0 && exec "$ST7DFU" sign --key ec.key -o x.sig g.bin) 2>&1 >/dev/null)
RC=$?
expect_rc 4 "sign whose write fails"
has "$ERR" "cannot write" "failed write named"
cmp -s x.sig o-ec.sig && openssl dgst -sha256 -verify ec.pub -signature x.sig f.bin >/dev/null && ok ||
	fail "a failed sign left the existing signature intact"
eq "$(globcount x.sig.tmp*)" 0 "a failed sign leaves no temporary file"

# 5. upgrade: nothing reaches the device unless a trusted key signed the image.
"$ST7DFU" pack -o new.dfu --vid 0483 --pid ff03 --bcd 1.03 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
"$ST7DFU" pack -o old.dfu --vid 0483 --pid ff03 --bcd 1.02 --profile st72f65 --stamp-version "$TESTS/data/st72f65-app.hex" >/dev/null
head -c -16 old.dfu >old.bin
head -c -16 new.dfu >new.bin
untouched() { # WHAT EXPECTED-RC [ARGS...]
	local what=$1 want=$2
	shift 2
	run "$ST7DFU_EMU" --timeout 60 --report rep.json --device "kind=st7,serial=T,flash-in=old.bin" -- "$ST7DFU" upgrade --state-dir st "$@"
	expect_rc "$want" "$what"
	jqeq "$(cat rep.json)" '.devices[0].control_transfers' 0 "$what: the device was not touched"
	jqeq "$(cat rep.json)" '.devices[0].version' 258 "$what: still 1.02"
}
untouched "unsigned image" 12 --keys keys new.dfu
has "$ERR" "no signature" "unsigned: says so"
cp new.dfu other.dfu
openssl dgst -sha256 -sign other.key -out other.dfu.sig other.dfu
untouched "image signed by an unknown key" 12 --keys keys other.dfu
openssl dgst -sha256 -sign ec.key -out new.dfu.sig new.dfu
cp new.dfu flipped.dfu
cp new.dfu.sig flipped.dfu.sig
printf '\x55' | dd of=flipped.dfu bs=1 seek=2000 conv=notrunc 2>/dev/null
untouched "image with one flipped byte" 12 --keys keys flipped.dfu
untouched "the signature of another image" 12 --keys keys --sig g.sig new.dfu
[ -e /etc/st7dfu/keys ] || untouched "default key directory absent" 12 new.dfu
untouched "usage error before anything" 2 --keys keys --max-size 0 new.dfu
run "$ST7DFU_EMU" --timeout 60 --report rep.json --device "kind=st7,serial=T,flash-in=old.bin" \
	-- "$ST7DFU" upgrade --keys keys --state-dir st new.dfu
expect_rc 0 "openssl-signed image installed"
has "$ERR" "good signature by ec.pem" "signer logged"
jqeq "$(cat rep.json)" '.devices[0].version' 259 "now 1.03"
# Backups are restored unsigned, so only files nobody else could have written count.
b=$(ls st/backups/*/0102.dfu)
chmod 666 "$b"
run "$ST7DFU_EMU" --timeout 60 --report rep.json --device "kind=st7,serial=T,flash-in=new.bin" \
	-- "$ST7DFU" rollback --state-dir st
expect_rc 4 "a world-writable backup is not restored"
jqeq "$(cat rep.json)" '.devices[0].requests | [.DETACH, .DNLOAD, .UPLOAD, .GETSTATUS, .CLRSTATUS, .GETSTATE, .ABORT] | add' 0 \
	"planted backup: no DFU request"
jqeq "$(cat rep.json)" '.devices[0].version' 259 "planted backup: still 1.03"
chmod 644 "$b"
chmod 777 "$(dirname "$b")"
run "$ST7DFU_EMU" --timeout 60 --report rep.json --device "kind=st7,serial=T,flash-in=new.bin" \
	-- "$ST7DFU" rollback --state-dir st
expect_rc 4 "backups in a world-writable directory are not restored"
has "$ERR" "too open" "says why"
chmod 755 "$(dirname "$b")"
run "$ST7DFU_EMU" --timeout 60 --report rep.json --device "kind=st7,serial=T,flash-in=new.bin" \
	-- "$ST7DFU" rollback --state-dir st
expect_rc 0 "the same backup, safely stored, is restored"
jqeq "$(cat rep.json)" '.devices[0].version' 258 "back to 1.02"
run "$ST7DFU_EMU" --timeout 60 --report rep.json --device "kind=st7,serial=T,flash-in=old.bin" \
	-- "$ST7DFU" upgrade --allow-unsigned --state-dir st2 other.dfu
expect_rc 0 "--allow-unsigned installs without a trusted signature"
has "$ERR" "NOT checking the signature" "--allow-unsigned is loud"
run "$ST7DFU_EMU" --timeout 60 --report rep.json --device "kind=st7,serial=T,flash-in=old.bin" \
	-- "$ST7DFU" download --keys keys other.dfu
expect_rc 12 "download needs a trusted signature too"
jqeq "$(cat rep.json)" '.devices[0].control_transfers' 0 "download refused: device not touched"

finish
