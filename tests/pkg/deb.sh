#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian package, built and proven on this machine (Debian 12, as root; CI runs it):
#  1. copies the tree (git's tracked and unignored files) to a temporary directory with
#     packaging/debian as debian/, installs what building needs when it is missing
#     (printing it), builds the source package (3.0 (quilt), its orig tarball made from
#     the same copy) and the binary one (dpkg-buildpackage -us -uc -b);
#  2. lintian on both: no error allowed, warnings printed (deliberate ones are overridden
#     in packaging/debian/*lintian-overrides, each with its reason);
#  3. dpkg -i (the Depends are met by what building installed), then: the files where
#     they belong, the conffiles registered, the st7dfu user (nologin) and its 0700 state
#     directory, the binary (--version, help, config --check on the installed policy),
#     the fetch worker found in /usr/libexec and run, the units (systemd-analyze verify,
#     security rated OK or better), nothing enabled or started, the unconfigured agent
#     refusing to run;
#     /etc/init.d/st7dfu stop with no daemon running exits 0 (debhelper's prerm needs it);
#  4. dpkg --remove keeps the policy, the keys and the state; dpkg --purge removes every
#     file of the package and /etc/st7dfu, moves /var/lib/st7dfu, which holds a backup, to
#     /var/backups/st7dfu-TIMESTAMP (packaging/debian/st7dfu.postrm says why), removes the
#     rc links and systemd's state, and leaves the st7dfu user (Debian practice).
# The machine is left as found, also on failure, except for the build tools step 1
# installed (debhelper, lintian, ... and the build dependencies stay installed, listed
# above as "installing"): the package purged, /etc/st7dfu and /var/lib/st7dfu put back
# if they were there before (they are moved aside meanwhile), the copy the purge moved
# to /var/backups removed, the st7dfu user deleted if this script's install made it.
# ST7_KEEP=1 keeps the build directory. DEB_BUILD_OPTIONS is passed on (default
# parallel=$(nproc)).
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
pkg=st7dfu
passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok: $*"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL: $*" >&2
}
# check DESCRIPTION COMMAND...: one check, passed when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
finished=no
finish() {
	finished=yes
	echo "deb: $passed passed, $failed failed ($((SECONDS / 60))m$((SECONDS % 60))s)"
	if [ "$failed" -eq 0 ]; then exit 0; fi
	exit 1
}
# shellcheck disable=SC2317 # called through check
quiet() {
	"$@" >/dev/null 2>&1
}
die() {
	fail "$*"
	finish
}
installed_state() {
	dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true
}
not_installed() {
	case $(installed_state) in
	"" | not-installed) return 0 ;;
	*) return 1 ;;
	esac
}

# Root on Debian, as CI: anywhere else a loud skip (a failure when CI=true).
skip() {
	echo "SKIPPED LOUDLY: $*" >&2
	[ -n "${CI:-}" ] && die "$* (CI must run this test)"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i, the st7dfu user)"
command -v dpkg >/dev/null || skip "not a Debian system"
command -v apt-get >/dev/null || skip "not a Debian system (no apt-get)"
not_installed || die "$pkg is already installed ($(installed_state)): purge it first, this test purges it"

work=$(mktemp -d /tmp/st7dfu-deb.XXXXXX)
tree=$work/build/$pkg-0
had_user=no
id -u "$pkg" >/dev/null 2>&1 && had_user=yes
installed=no
# The purge's copy of the state in /var/backups (st7dfu-*), those there before excepted.
declare -A kept_before=()
for d in /var/backups/st7dfu-*; do
	[ -e "$d" ] && kept_before[$d]=1
done
# What the purge removes, moved aside meanwhile and put back at the end.
aside=()
for d in /etc/st7dfu /var/lib/st7dfu; do
	if [ -e "$d" ]; then
		mkdir -p "$work/aside$(dirname "$d")"
		mv "$d" "$work/aside$d"
		aside+=("$d")
		echo "note: $d was there before this test: moved aside, put back at the end"
	fi
done

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	local rc=$? d
	set +e
	if [ "$finished" = no ]; then
		echo "deb: $passed passed, $((failed + 1)) failed (stopped by an unexpected error, exit $rc)" >&2
		[ "$rc" -ne 0 ] || rc=1
	fi
	if [ "$installed" = yes ]; then
		if ! not_installed; then
			echo "cleanup: dpkg --purge $pkg" >&2
			dpkg --purge "$pkg" >/dev/null
		fi
		rm -rf /etc/st7dfu /var/lib/st7dfu
		for d in /var/backups/st7dfu-*; do
			[ -e "$d" ] && [ -z "${kept_before[$d]:-}" ] && rm -rf "$d"
		done
	fi
	for d in "${aside[@]}"; do
		rm -rf "$d"
		mv "$work/aside$d" "$d"
	done
	if [ "$had_user" = no ] && id -u "$pkg" >/dev/null 2>&1; then
		echo "cleanup: deleting the $pkg user this test's install made" >&2
		userdel "$pkg" 2>/dev/null
		getent group "$pkg" >/dev/null && groupdel "$pkg"
	fi
	if [ -n "${ST7_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT

# ---- 1. build ----
apt_install() {
	echo "installing (missing): $*"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
	fi
}
missing=()
for p in dpkg-dev debhelper lintian git; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
		missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"

mkdir -p "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked files and new ones not ignored (a change not committed yet is built too);
	# files deleted in the work tree are left out.
	git -C "$src" ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$src/$f" ] && printf '%s\0' "$f"
		done | tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
else
	tar -C "$src" --exclude=./.git --exclude='./build*' --exclude='./obj-*' -cf - . |
		tar -C "$tree" -xf -
fi
[ -d "$src/packaging/debian" ] || die "no packaging/debian"
rm -rf "$tree/debian"
cp -a "$src/packaging/debian" "$tree/debian"
version=$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Version)
upstream=${version%-*}
mv "$tree" "$work/build/$pkg-$upstream"
tree=$work/build/$pkg-$upstream

if ! unmet=$(cd "$tree" && dpkg-checkbuilddeps 2>&1); then
	echo "$unmet"
	echo "installing the build dependencies (apt-get build-dep)"
	(cd "$tree" && DEBIAN_FRONTEND=noninteractive apt-get build-dep -y --no-install-recommends ./)
fi

echo "== source package"
tar -C "$work/build" --exclude="$pkg-$upstream/debian" -cJf \
	"$work/build/${pkg}_$upstream.orig.tar.xz" "$pkg-$upstream"
(cd "$work/build" && dpkg-source -b "$pkg-$upstream") >"$work/source.log" 2>&1 ||
	{ cat "$work/source.log"; die "dpkg-source -b"; }
ok "source package built"

echo "== dpkg-buildpackage -us -uc -b"
t0=$SECONDS
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=$(nproc 2>/dev/null || echo 1)}
if ! (cd "$tree" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -50 "$work/build.log"
	die "dpkg-buildpackage failed (the log's end above)"
fi
ok "built in $((SECONDS - t0)) s ($DEB_BUILD_OPTIONS)"
if grep -E '^(dpkg-[a-z]+|dh_[a-z]+): warning' "$work/build.log"; then
	fail "the build warns (above)"
fi
# Reproducible: dpkg-buildpackage sets SOURCE_DATE_EPOCH from the changelog, and CMake
# takes the binary's build time (the "clock unset" threshold) from it.
sde=$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Timestamp)
check "build time from the changelog (SOURCE_DATE_EPOCH $sde)" \
	grep -q -- "-DST7_BUILD_TIME=${sde}LL " "$work/build.log"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$work/build/${pkg}_${version}_$arch.deb
changes=$work/build/${pkg}_${version}_$arch.changes
dsc=$work/build/${pkg}_$version.dsc
[ -f "$deb" ] || die "no $deb"
[ -f "$changes" ] || die "no $changes"
dpkg-deb -I "$deb" | sed -n '/^ Package:/,/^ Description:/p' | grep -v '^ Description:'

# ---- 2. lintian ----
echo "== lintian"
lint=$(lintian --show-overrides --tag-display-limit 0 "$dsc" "$changes" 2>&1 |
	grep -v '^running with root privileges' || true)
[ -z "$lint" ] || printf '%s\n' "$lint"
errors=$(printf '%s\n' "$lint" | grep -c '^E: ' || true)
warnings=$(printf '%s\n' "$lint" | grep -c '^W: ' || true)
overridden=$(printf '%s\n' "$lint" | grep -c '^O: ' || true)
echo "lintian: $errors errors, $warnings warnings, $overridden overridden"
check "lintian: no errors" [ "$errors" -eq 0 ]

# ---- 3. install ----
echo "== dpkg -i"
# The package's paths, and which of them were there before (directories it shares).
mapfile -t paths < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' |
	grep -v '^$' | grep -v '^/$')
declare -A before=()
for p in "${paths[@]}"; do
	if [ -e "$p" ] || [ -L "$p" ]; then before[$p]=1; fi
done
installed=yes
if ! dpkg -i "$deb" >"$work/install.log" 2>&1; then
	cat "$work/install.log"
	die "dpkg -i (its Depends must be met by what building installed)"
fi
sed -n '/^Setting up/,$p' "$work/install.log"
check "installed: dpkg says 'installed'" [ "$(installed_state)" = installed ]

listed=$(dpkg -L "$pkg")
for f in /usr/bin/st7dfu /usr/libexec/st7dfu/st7dfu-fetch /etc/init.d/st7dfu; do
	check "$f installed, executable" [ -x "$f" ]
done
for f in /etc/st7dfu/st7dfu.ini /lib/systemd/system/st7dfu.service \
	/lib/systemd/system/st7dfu-check.service /lib/systemd/system/st7dfu-check.timer \
	/usr/lib/sysusers.d/st7dfu.conf /usr/lib/tmpfiles.d/st7dfu.conf \
	/lib/udev/rules.d/70-st7dfu.rules /usr/share/doc/st7dfu/copyright; do
	check "$f installed, listed" grep -qx "$f" <<<"$listed"
done
check "udev rule: the tree's" cmp -s /lib/udev/rules.d/70-st7dfu.rules "$src/init/udev/70-st7dfu.rules"
check "/etc/st7dfu/keys: root's, 0755, empty" \
	test "$(stat -c '%U:%G %a' /etc/st7dfu/keys 2>/dev/null)" = "root:root 755" -a \
	-z "$(ls -A /etc/st7dfu/keys)"
if grep -q 'man8' "$src/CMakeLists.txt"; then
	for m in /usr/share/man/man8/st7dfu.8.gz /usr/share/man/man5/st7dfu.ini.5.gz; do
		check "man page $m installed, listed" grep -qx "$m" <<<"$listed"
	done
else
	echo "note: CMakeLists.txt installs no manual page (yet)"
fi
conffiles=$(dpkg-query -W -f='${Conffiles}' "$pkg")
for f in /etc/st7dfu/st7dfu.ini /etc/init.d/st7dfu; do
	check "conffile $f registered" grep -q "^ $f [0-9a-f]\{32\}$" <<<"$conffiles"
done

# The st7dfu user and its state directory (the postinst's systemd-sysusers and
# systemd-tmpfiles; the latter by hand if the postinst could not).
pw=$(getent passwd "$pkg" || true)
check "user st7dfu exists" [ -n "$pw" ]
uid=$(cut -d: -f3 <<<"$pw")
shell=$(cut -d: -f7 <<<"$pw")
check "user st7dfu: a system user ($uid) with a nologin shell ($shell)" \
	test "${uid:-1000}" -lt 1000 -a "${shell%/nologin}" != "$shell"
check "group st7dfu exists" quiet getent group "$pkg"
if [ ! -d /var/lib/st7dfu ]; then
	echo "note: the postinst made no /var/lib/st7dfu: systemd-tmpfiles --create st7dfu.conf"
	systemd-tmpfiles --create st7dfu.conf || true
fi
check "/var/lib/st7dfu: st7dfu's, 0700" \
	[ "$(stat -c '%U:%G %a' /var/lib/st7dfu 2>/dev/null)" = "st7dfu:st7dfu 700" ]

# The binary, on the installed policy.
check "st7dfu --version: $upstream" [ "$(st7dfu --version 2>&1)" = "st7dfu $upstream" ]
check "st7dfu help" sh -c 'st7dfu help | grep -q "^Usage: st7dfu COMMAND"'
check "st7dfu config --check (the installed /etc/st7dfu/st7dfu.ini)" st7dfu config --check
check "st7dfu config --print reads /etc/st7dfu/st7dfu.ini" \
	sh -c 'st7dfu config --print 2>&1 | grep -q "/etc/st7dfu/st7dfu.ini:[0-9]"'
# The fetch worker: not beside /usr/bin/st7dfu, so found as BIN/../libexec/st7dfu/ (or
# the path CMake compiled in); a download from a closed port gets libcurl's error back
# through it (exit 11). As the st7dfu user, in the state directory, as the units run it.
rc=0
out=$(runuser -u "$pkg" -- env ST7DFU_DEBUG=1 st7dfu fetch --allow-http --allow-unsigned \
	--lock-wait 0 http://127.0.0.1:9/x.dfu 2>&1) || rc=$?
worker=$(grep -o 'fetch worker [^ ]* started' <<<"$out" || true)
check "the fetch worker found in /usr/libexec/st7dfu (${worker:-no worker started})" \
	grep -Eq "^fetch worker /usr/(bin/\.\./)?libexec/st7dfu/st7dfu-fetch started$" <<<"$worker"
check "fetch worker ran libcurl: exit 11, the connection's error ($rc)" \
	test "$rc" -eq 11 -a "$(grep -c 'error: http://127.0.0.1:9/x.dfu: ' <<<"$out")" -eq 1
grep -q "st7dfu-fetch started" <<<"$out" && [ "$rc" -eq 11 ] || printf '%s\n' "$out"
# Unconfigured (no manifest_url), the agent refuses to run: why nothing is enabled.
rc=0
out=$(runuser -u "$pkg" -- timeout 30 st7dfu run 2>&1) || rc=$?
check "st7dfu run as st7dfu, unconfigured: exit 2, no manifest ($rc)" \
	test "$rc" -eq 2 -a "$(grep -c 'no manifest' <<<"$out")" -ge 1

# The units.
for u in st7dfu.service st7dfu-check.service; do
	check "$u: ExecStart is /usr/bin/st7dfu" grep -q '^ExecStart=/usr/bin/st7dfu ' "/lib/systemd/system/$u"
done
man_opt=--man=no
command -v man >/dev/null && grep -qx /usr/share/man/man8/st7dfu.8.gz <<<"$listed" && man_opt=--man=yes
rc=0
out=$(cd /lib/systemd/system && systemd-analyze verify "$man_opt" st7dfu.service \
	st7dfu-check.service st7dfu-check.timer 2>&1) || rc=$?
[ -z "$out" ] || printf '%s\n' "$out"
check "systemd-analyze verify $man_opt: the three units, silent" test "$rc" -eq 0 -a -z "$out"
for u in st7dfu.service st7dfu-check.service; do
	line=$(systemd-analyze security --offline=true --no-pager "/lib/systemd/system/$u" 2>&1 |
		grep 'Overall exposure level' | tail -1 || true)
	echo "security: $u: ${line#*: }"
	case $line in
	*" SAFE"* | *" OK"*) ok "$u: systemd-analyze security OK or better" ;;
	*) fail "$u: systemd-analyze security: '$line', expected OK or SAFE" ;;
	esac
done
# Installed, not enabled, not started (systemd: no .wants link; sysvinit: K links only).
check "no unit enabled" sh -c '! ls /etc/systemd/system/*.wants/st7dfu* >/dev/null 2>&1'
check "init script disabled: K links, no S link" \
	sh -c 'ls /etc/rc2.d/K[0-9][0-9]st7dfu >/dev/null 2>&1 && ! ls /etc/rc?.d/S[0-9][0-9]st7dfu >/dev/null 2>&1'
# (st7dfu processes of other tests may run from elsewhere: /usr/bin's only count.)
running=$(for e in /proc/[0-9]*/exe; do [ "$(readlink "$e" 2>/dev/null)" = /usr/bin/st7dfu ] && echo "${e//[^0-9]/}"; done || true)
check "no /usr/bin/st7dfu process running${running:+: }$running" test -z "$running"
rc=0
/etc/init.d/st7dfu status >/dev/null 2>&1 || rc=$?
check "/etc/init.d/st7dfu status: not running (3; $rc)" [ "$rc" -eq 3 ]
# Stopped already: stop succeeds (debhelper's prerm runs "invoke-rc.d st7dfu stop ||
# exit 1"). The script itself, as invoke-rc.d obeys policy-rc.d, which containers set.
rc=0
/etc/init.d/st7dfu stop >/dev/null 2>&1 || rc=$?
check "/etc/init.d/st7dfu stop, nothing running: exit 0 ($rc)" [ "$rc" -eq 0 ]

# ---- 4. remove, purge ----
# The agent's traces of use: a key, an edited policy, a backup.
echo "-----BEGIN PUBLIC KEY-----" >/etc/st7dfu/keys/test.pem
echo "; edited by tests/pkg/deb.sh" >>/etc/st7dfu/st7dfu.ini
install -d -o st7dfu -g st7dfu -m 0700 /var/lib/st7dfu/backups
install -o st7dfu -g st7dfu -m 0600 /dev/null /var/lib/st7dfu/backups/test.dfu
echo "== dpkg --remove"
dpkg --remove "$pkg" >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg --remove"; }
check "removed: dpkg says config-files" [ "$(installed_state)" = config-files ]
check "removed: the binaries gone" test ! -e /usr/bin/st7dfu -a ! -e /usr/libexec/st7dfu
check "removed: the policy (edited), the keys and the state kept" \
	test -f /etc/st7dfu/st7dfu.ini -a -f /etc/st7dfu/keys/test.pem -a -f /var/lib/st7dfu/backups/test.dfu
echo "== dpkg --purge"
dpkg --purge "$pkg" >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge"; }
check "purged: dpkg knows no st7dfu" not_installed
left=()
for p in "${paths[@]}"; do
	if [ -z "${before[$p]:-}" ] && { [ -e "$p" ] || [ -L "$p" ]; }; then left+=("$p"); fi
done
check "purged: every path the package brought is gone (${#paths[@]} listed, ${#before[@]} shared and there before)${left[*]:+; left: ${left[*]}}" \
	[ "${#left[@]}" -eq 0 ]
check "purged: /etc/st7dfu gone (keys and edited policy too)" [ ! -e /etc/st7dfu ]
check "purged: /var/lib/st7dfu gone (moved: it held a backup)" [ ! -e /var/lib/st7dfu ]
moved=()
for d in /var/backups/st7dfu-*; do
	[ -e "$d" ] && [ -z "${kept_before[$d]:-}" ] && moved+=("$d")
done
check "purged: the state moved to /var/backups/st7dfu-*, its backup in it (${moved[*]:-none})" \
	test "${#moved[@]}" -eq 1 -a -f "${moved[0]:-/nonexistent}/backups/test.dfu"
check "purged: the purge says where" grep -q "moved to ${moved[0]:-/nonexistent}" "$work/purge.log"
check "purged: no rc link" sh -c '! ls /etc/rc?.d/*st7dfu >/dev/null 2>&1'
check "purged: no systemd link or deb-systemd-helper state" \
	sh -c '! ls /etc/systemd/system/*/st7dfu* /var/lib/systemd/deb-systemd-helper-enabled/*st7dfu* \
		/var/lib/systemd/deb-systemd-helper-enabled/*/st7dfu* >/dev/null 2>&1'
check "purged: the st7dfu user stays (Debian practice)" quiet id -u "$pkg"
finish
