#!/bin/bash
# SPDX-License-Identifier: MIT
# The distribution recipes (packaging/openwrt/Makefile, packaging/yocto/st7dfu_*.bb), as
# far as they can be checked without an OpenWrt SDK or a Yocto build:
#  1. every file of the tree they name exists;
#  2. their version is project(VERSION) of CMakeLists.txt, their license the LICENSE file
#     (LIC_FILES_CHKSUM's md5 too);
#  3. the OpenWrt package's install section, run by GNU make against a stand-in of
#     OpenWrt's rules.mk (same double expansion as include/package-pack.mk), stages what
#     it should where it should: the fetch worker where the binary looks for it, the
#     policy with exactly its two OpenWrt lines changed (and fails when conf/st7dfu.ini
#     no longer has them), paths that agree with the procd script; its local source copy
#     works; its CMake options, dependencies, user and conffiles are the expected ones;
#  4. the Yocto recipe's CMake cache variables, units and user agree with the tree;
#  5. the init and hotplug scripts parse (sh -n, bash -n, dash -n when there is dash);
#  6. the hotplug script, on a fake /sys and /dev (its /sys and /dev paths under a root
#     prefix, ST7_HOTPLUG_ROOT: used as is when the script has it, else applied to a
#     copy), gives the st7dfu group exactly the DFU devices' nodes.
# Needs bash, GNU make, md5sum, tar. Ends with "recipes: N passed, N failed".
# The recipes' text is matched as it is written: ${PN}, $(PKG_BUILD_DIR) in single quotes.
# shellcheck disable=SC2016
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
OWRT=$ROOT/packaging/openwrt/Makefile
T=$(mktemp -d "${TMPDIR:-/tmp}/st7dfu-recipes.XXXXXX")
trap 'if [ -n "${ST7_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi' EXIT
PASSED=0
FAILED=0

ok() { PASSED=$((PASSED + 1)); }
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL: $*" >&2
}
# check WHAT CMD...: CMD succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok; else fail "$what"; fi
}
# same WHAT GOT WANT
same() {
	if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', expected '$3'"; fi
}

shopt -s nullglob
bbs=("$ROOT"/packaging/yocto/st7dfu_*.bb)
shopt -u nullglob
same "one Yocto recipe in packaging/yocto" "${#bbs[@]}" 1
BB=${bbs[0]:-/nonexistent}
[ -f "$BB" ] || { echo "recipes: no Yocto recipe" >&2; exit 1; }

# --- 1. Files of the tree the recipes name -------------------------------------------
# OpenWrt: $(PKG_BUILD_DIR)/PATH in the install section, PKG_LICENSE_FILES.
mapfile -t owrt_files < <(grep -o '\$(PKG_BUILD_DIR)/[A-Za-z0-9_./-]*' "$OWRT" |
	sed 's|^\$(PKG_BUILD_DIR)/||' | sort -u)
check "the OpenWrt Makefile names files of the tree" [ "${#owrt_files[@]}" -ge 3 ]
for f in "${owrt_files[@]}" $(sed -n 's/^PKG_LICENSE_FILES:=//p' "$OWRT"); do
	check "OpenWrt Makefile: $f exists" [ -f "$ROOT/$f" ]
done
# Yocto: ${S}/PATH and file://PATH of LIC_FILES_CHKSUM.
mapfile -t bb_files < <(
	grep -o '\${S}/[A-Za-z0-9_./-]*' "$BB" | sed 's|^\${S}/||'
	grep -o 'file://[^;" ]*' "$BB" | sed 's|^file://||'
)
check "the Yocto recipe names files of the tree" [ "${#bb_files[@]}" -ge 3 ]
for f in "${bb_files[@]}"; do
	check "Yocto recipe: $f exists" [ -f "$ROOT/$f" ]
done

# --- 2. Version and license --------------------------------------------------------------
version=$(sed -n 's/^project(st7dfu VERSION \([0-9][0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
check "project(VERSION) found in CMakeLists.txt" [ -n "$version" ]
same "OpenWrt PKG_VERSION" "$(sed -n 's/^PKG_VERSION:=//p' "$OWRT")" "$version"
bbver=${BB##*/st7dfu_}
same "Yocto recipe version (file name)" "${bbver%.bb}" "$version"
check "OpenWrt PKG_RELEASE is a number" grep -Eq '^PKG_RELEASE:=[1-9][0-9]*$' "$OWRT"
check "LICENSE is the MIT license" grep -qx 'MIT License' "$ROOT/LICENSE"
same "OpenWrt PKG_LICENSE" "$(sed -n 's/^PKG_LICENSE:=//p' "$OWRT")" MIT
same "Yocto LICENSE" "$(sed -n 's/^LICENSE = "\(.*\)"$/\1/p' "$BB")" MIT
lic_md5=$(md5sum "$ROOT/LICENSE" | cut -d' ' -f1)
same "Yocto LIC_FILES_CHKSUM md5 of LICENSE" \
	"$(sed -n 's/^LIC_FILES_CHKSUM = "file:\/\/LICENSE;md5=\([0-9a-f]*\)"$/\1/p' "$BB")" "$lic_md5"

# --- 3. The OpenWrt package, driven by make ----------------------------------------------
# A stand-in for the parts of OpenWrt the recipe uses (values as in OpenWrt's rules.mk).
mkdir -p "$T/top/include"
cat >"$T/top/rules.mk" <<'EOF'
INCLUDE_DIR:=$(TOPDIR)/include
INSTALL_BIN:=install -m0755
INSTALL_DIR:=install -d -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
SED:=sed -i -e
CP:=cp -fpR
EOF
cat >"$T/top/include/package.mk" <<'EOF'
define BuildPackage
endef
Build/Patch:=
EOF
: >"$T/top/include/cmake.mk"
# The recipes run the way include/package-pack.mk runs them: the install section is
# expanded when the rule is made (eval) and again when it runs ($$$$ in it is one $).
cat >"$T/driver.mk" <<'EOF'
include $(PKG_MAKEFILE)
$(eval $(Package/st7dfu))
define st7_rules
st7-stage:
	$(call Package/st7dfu/install,$(STAGE))
st7-prepare:
	$(Build/Prepare)
endef
$(eval $(st7_rules))
st7-vars:
	@printf '%s\n' 'SRC=$(ST7DFU_SRC_DIR)' 'DEPENDS=$(DEPENDS)' 'USERID=$(USERID)' \
		'CMAKE_OPTIONS=$(CMAKE_OPTIONS)' 'FILE_DEPENDS=$(PKG_FILE_DEPENDS)' \
		'SECTION=$(SECTION)' 'TITLE=$(TITLE)' >$(OUT)/vars
	$(file >$(OUT)/conffiles,$(Package/st7dfu/conffiles))
.PHONY: st7-stage st7-prepare st7-vars
EOF
# owrt_make [VAR=VALUE...] TARGET: make in the package's directory, as OpenWrt does.
owrt_make() {
	make -s --no-print-directory -C "$ROOT/packaging/openwrt" -f "$T/driver.mk" \
		TOPDIR="$T/top" PKG_MAKEFILE="$OWRT" "$@"
}

owrt_make OUT="$T" st7-vars
var() { sed -n "s/^$1=//p" "$T/vars"; }
same "OpenWrt local source is the tree" "$(var SRC)" "$ROOT"
same "OpenWrt DEPENDS" "$(var DEPENDS)" "+libusb-1.0 +libcurl +libmbedtls +libinih"
check "OpenWrt USERID makes user and group st7dfu with one fixed id" \
	grep -Eqx 'USERID=st7dfu=([0-9]+):st7dfu=\1' "$T/vars"
for o in -DCMAKE_BUILD_TYPE=MinSizeRel -DST7DFU_TESTS=OFF -DST7DFU_INSTALL_INIT=OFF; do
	check "OpenWrt CMAKE_OPTIONS has $o" grep -q -- "^CMAKE_OPTIONS=.*$o\( \|$\)" "$T/vars"
done
for d in $(var FILE_DEPENDS); do
	check "OpenWrt PKG_FILE_DEPENDS: $d exists" [ -e "$d" ]
done
check "OpenWrt SECTION and TITLE set" grep -q '^TITLE=..' "$T/vars"
printf '%s\n' /etc/st7dfu/st7dfu.ini /etc/st7dfu/gateway-id /etc/st7dfu/keys/ \
	/etc/st7dfu/state/ >"$T/conffiles.want"
same "OpenWrt conffiles" "$(sed '/^$/d' "$T/conffiles")" "$(cat "$T/conffiles.want")"

# The install section, on stand-ins for what CMake installs.
inst=$T/ipkg-install
mkdir -p "$inst/usr/bin" "$inst/usr/libexec/st7dfu"
echo agent >"$inst/usr/bin/st7dfu"
echo worker >"$inst/usr/libexec/st7dfu/st7dfu-fetch"
stage=$T/stage
if owrt_make PKG_BUILD_DIR="$ROOT" PKG_INSTALL_DIR="$inst" STAGE="$stage" st7-stage \
	>"$T/stage.log" 2>&1; then ok; else fail "OpenWrt install section: $(cat "$T/stage.log")"; fi
(cd "$stage" && find . -mindepth 1 \( -type f -o -type l \) -printf '%m %P\n' | sort) \
	>"$T/staged"
cat >"$T/staged.want" <<'EOF'
644 etc/hotplug.d/usb/70-st7dfu
644 etc/st7dfu/st7dfu.ini
755 etc/init.d/st7dfu
755 usr/bin/st7dfu
755 usr/libexec/st7dfu/st7dfu-fetch
EOF
same "OpenWrt package files and modes" "$(cat "$T/staged")" "$(cat "$T/staged.want")"
check "OpenWrt package has an empty /etc/st7dfu/keys" [ -d "$stage/etc/st7dfu/keys" ]
# The worker where the binary looks for it: ${CMAKE_INSTALL_FULL_LIBEXECDIR}/st7dfu/...,
# with cmake.mk's prefix (/usr) and GNUInstallDirs' libexec.
worker=$(sed -n 's/^set(ST7_FETCH_WORKER_INSTALLED \${CMAKE_INSTALL_FULL_LIBEXECDIR}\(.*\))$/\1/p' \
	"$ROOT/CMakeLists.txt")
same "the worker's installed path in CMakeLists.txt" "$worker" /st7dfu/st7dfu-fetch
check "OpenWrt package's worker at /usr/libexec$worker" [ -x "$stage/usr/libexec$worker" ]
check "OpenWrt init script is init/openwrt/st7dfu.init" \
	cmp -s "$ROOT/init/openwrt/st7dfu.init" "$stage/etc/init.d/st7dfu"
check "OpenWrt hotplug script is init/openwrt/st7dfu.hotplug" \
	cmp -s "$ROOT/init/openwrt/st7dfu.hotplug" "$stage/etc/hotplug.d/usb/70-st7dfu"
# The policy: the example with two lines changed, and nothing else.
diff "$ROOT/conf/st7dfu.ini" "$stage/etc/st7dfu/st7dfu.ini" | grep '^[<>]' >"$T/policy.diff" || true
cat >"$T/policy.want" <<'EOF'
< state_dir      = /var/lib/st7dfu
< device_id_file = /etc/machine-id
> state_dir      = /etc/st7dfu/state
> device_id_file = /etc/st7dfu/gateway-id
EOF
same "OpenWrt policy edits" "$(sort "$T/policy.diff")" "$(sort "$T/policy.want")"
# ... which are the procd script's paths.
ini_val() { sed -n "s/^$1[[:space:]]*=[[:space:]]*//p" "$stage/etc/st7dfu/st7dfu.ini"; }
same "procd script's STATE is the policy's state_dir" \
	"$(sed -n 's/^STATE=//p' "$ROOT/init/openwrt/st7dfu.init")" "$(ini_val state_dir)"
same "procd script's ID_FILE is the policy's device_id_file" \
	"$(sed -n 's/^ID_FILE=//p' "$ROOT/init/openwrt/st7dfu.init")" "$(ini_val device_id_file)"
same "procd script's CONF is the installed policy" \
	"$(sed -n 's/^CONF=//p' "$ROOT/init/openwrt/st7dfu.init")" /etc/st7dfu/st7dfu.ini
same "procd script's PROG is the installed agent" \
	"$(sed -n 's/^PROG=//p' "$ROOT/init/openwrt/st7dfu.init")" /usr/bin/st7dfu
check "procd script runs the agent as st7dfu" \
	grep -q 'procd_set_param user st7dfu$' "$ROOT/init/openwrt/st7dfu.init"
check "hotplug script gives the nodes to group st7dfu" \
	grep -q 'chgrp st7dfu ' "$ROOT/init/openwrt/st7dfu.hotplug"

# A policy without one of the lines to change fails the package build.
for key in state_dir device_id_file; do
	bad=$T/bad-$key
	mkdir -p "$bad/conf"
	cp -r "$ROOT/init" "$bad/"
	sed "s/^$key .*/$key = \/somewhere\/else/" "$ROOT/conf/st7dfu.ini" >"$bad/conf/st7dfu.ini"
	if owrt_make PKG_BUILD_DIR="$bad" PKG_INSTALL_DIR="$inst" STAGE="$bad/stage" st7-stage \
		>"$T/bad.log" 2>&1; then
		fail "OpenWrt build passes with a policy whose $key line was changed"
	else
		check "OpenWrt build names the missing $key line" grep -q "no '$key = " "$T/bad.log"
	fi
done

# The local source: the tree, copied without .git and build directories.
pb=$T/build-dir/st7dfu-$version
if owrt_make PKG_BUILD_DIR="$pb" st7-prepare >"$T/prepare.log" 2>&1; then ok; else
	fail "OpenWrt local prepare: $(cat "$T/prepare.log")"
fi
for f in CMakeLists.txt LICENSE agent/cli/main.c conf/st7dfu.ini init/openwrt/st7dfu.init \
	tests/bench/bench.c; do
	check "OpenWrt local prepare copies $f" [ -f "$pb/$f" ]
done
check "OpenWrt local prepare leaves .git out" [ ! -e "$pb/.git" ]
if owrt_make PKG_BUILD_DIR="$T/nowhere" ST7DFU_SRC_DIR="$T/no-tree" st7-prepare \
	>"$T/prepare.log" 2>&1; then
	fail "OpenWrt local prepare passes without a source tree"
else
	check "OpenWrt local prepare says where it looked" grep -q "no source tree at $T/no-tree" \
		"$T/prepare.log"
fi

# --- 4. The Yocto recipe against the tree -------------------------------------------------
mapfile -t cache_vars < <(grep -o -- '-DST7DFU_[A-Z_]*' "$BB" | sed 's/^-D//' | sort -u)
check "the Yocto recipe sets ST7DFU_ cache variables" [ "${#cache_vars[@]}" -ge 6 ]
for v in "${cache_vars[@]}"; do
	check "Yocto: $v is an option or cache variable of CMakeLists.txt" \
		grep -Eq "^(option\($v |set\($v .* CACHE )" "$ROOT/CMakeLists.txt"
done
for v in ST7DFU_TESTS ST7DFU_INSTALL_INIT ST7DFU_SYSTEMDUNITDIR ST7DFU_UDEVRULESDIR; do
	check "Yocto sets $v" grep -q -- "-D$v=" "$BB"
done
units=$(sed -n 's/^SYSTEMD_SERVICE:${PN} = "\(.*\)"$/\1/p' "$BB")
check "Yocto SYSTEMD_SERVICE set" [ -n "$units" ]
for u in $units $(grep -o '\${systemd_system_unitdir}/[A-Za-z0-9_.@-]*' "$BB" | sed 's|.*/||'); do
	check "Yocto unit $u is one of init/systemd" \
		test -f "$ROOT/init/systemd/$u" -o -f "$ROOT/init/systemd/$u.in"
done
check "Yocto units not enabled" grep -q '^SYSTEMD_AUTO_ENABLE:${PN} = "disable"$' "$BB"
check "Yocto sysvinit script name" grep -q '^INITSCRIPT_NAME = "st7dfu"$' "$BB"
check "Yocto CONFFILES has the policy" \
	grep -q '^CONFFILES:${PN} = "${sysconfdir}/st7dfu/st7dfu.ini"$' "$BB"
# The recipe with its continued lines joined.
sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' "$BB" >"$T/bb.joined"
home=$(awk '$1 == "u" && $2 == "st7dfu" { print $NF }' "$ROOT/init/systemd/st7dfu.sysusers")
same "sysusers home" "$home" /var/lib/st7dfu
check "Yocto useradd: same home as sysusers" grep -q -- "--home $home " "$T/bb.joined"
check "Yocto useradd for the package" grep -q '^USERADD_PACKAGES = "${PN}"$' "$BB"
check "Yocto useradd: system user with its own group" \
	grep -q -- '^USERADD_PARAM:${PN} = "--system .*--user-group st7dfu"$' "$T/bb.joined"
for dep in libusb1 curl mbedtls libinih; do
	check "Yocto DEPENDS has $dep" grep -Eq "^DEPENDS = \".*\b$dep\b.*\"$" "$BB"
done

# --- 5. The scripts parse -------------------------------------------------------------------
shells=(sh bash)
if command -v dash >/dev/null; then shells+=(dash); fi
for s in init/openwrt/st7dfu.init init/openwrt/st7dfu.hotplug init/sysvinit/st7dfu; do
	for sh in "${shells[@]}"; do
		check "$sh -n $s" "$sh" -n "$ROOT/$s"
	done
done

# --- 6. The hotplug script on a fake /sys and /dev --------------------------------------
hp=$T/70-st7dfu
if grep -q 'ST7_HOTPLUG_ROOT' "$ROOT/init/openwrt/st7dfu.hotplug"; then
	cp "$ROOT/init/openwrt/st7dfu.hotplug" "$hp"
else
	# The change the script needs to be tested (nothing else of it is touched): its /sys
	# and /dev paths under ${ST7_HOTPLUG_ROOT:-}, empty on a gateway.
	q="'"
	text=$(cat "$ROOT/init/openwrt/st7dfu.hotplug")
	old1='"/sys${DEVPATH%/*}"' new1='"${ST7_HOTPLUG_ROOT:-}/sys${DEVPATH%/*}"'
	old2="printf $q/dev/bus/usb/%03d/%03d$q \"\$bus\" \"\$num\""
	new2="printf $q%s/dev/bus/usb/%03d/%03d$q \"\${ST7_HOTPLUG_ROOT:-}\" \"\$bus\" \"\$num\""
	text=${text//"$old1"/"$new1"}
	text=${text//"$old2"/"$new2"}
	printf '%s\n' "$text" >"$hp"
fi
same "hotplug script's /sys and /dev paths take the test root" \
	"$(grep -c 'ST7_HOTPLUG_ROOT' "$hp")" 2
# chgrp and chmod only say what they were asked: nothing on this machine changes.
mkdir -p "$T/bin"
for c in chgrp chmod; do
	printf '#!/bin/sh\necho "%s $*" >>"$HP_LOG"\n' "$c" >"$T/bin/$c"
	/bin/chmod 0755 "$T/bin/$c"
done
fake=$T/fake
port=/devices/platform/ehci-platform/usb1/1-1
mkdir -p "$fake/sys$port" "$fake/sys/devices/platform/xhci/usb12/12-2" "$fake/dev/bus/usb/001" \
	"$fake/dev/bus/usb/012"
echo 1 >"$fake/sys$port/busnum"
echo 5 >"$fake/sys$port/devnum"
echo 12 >"$fake/sys/devices/platform/xhci/usb12/12-2/busnum"
echo 123 >"$fake/sys/devices/platform/xhci/usb12/12-2/devnum"
# Device nodes: character devices, as the script checks ([ -c ]).
ln -s /dev/null "$fake/dev/bus/usb/001/005"
ln -s /dev/null "$fake/dev/bus/usb/012/123"
hp_sh="sh"
if command -v dash >/dev/null; then hp_sh=dash; fi
# hotplug WANT ACTION DEVTYPE INTERFACE DEVPATH: one event, as hotplug-call runs it (the
# script sourced in a subshell), and what chgrp/chmod were asked.
hotplug() {
	local want=$1 log=$T/hp.log rc=0
	: >"$log"
	env -i PATH="$T/bin:/usr/bin:/bin" HP_LOG="$log" ST7_HOTPLUG_ROOT="$fake" ACTION="$2" \
		DEVTYPE="$3" INTERFACE="$4" DEVPATH="$5" "$hp_sh" -c '( . "$1" )' hotplug "$hp" || rc=$?
	same "hotplug $2 $3 $4 $5: exit" "$rc" 0
	same "hotplug $2 $3 $4 $5: changes" "$(cat "$log")" "$want"
}
node=$fake/dev/bus/usb/001/005
hotplug "chgrp st7dfu $node
chmod 0660 $node" add usb_interface 254/1/2 "$port/1-1:1.0"
hotplug "chgrp st7dfu $node
chmod 0660 $node" bind usb_interface 254/1/0 "$port/1-1:1.0"
node=$fake/dev/bus/usb/012/123
hotplug "chgrp st7dfu $node
chmod 0660 $node" add usb_interface 254/1/1 /devices/platform/xhci/usb12/12-2/12-2:1.1
hotplug "" remove usb_interface 254/1/2 "$port/1-1:1.0"
hotplug "" add usb_interface 3/0/0 "$port/1-1:1.0"
hotplug "" add usb_interface 255/1/2 "$port/1-1:1.0"
hotplug "" add usb_device 254/1/2 "$port"
hotplug "" add usb_interface 254/1/2 /devices/platform/ehci-platform/usb1/1-9/1-9:1.0
rm "$fake/dev/bus/usb/001/005"
hotplug "" add usb_interface 254/1/2 "$port/1-1:1.0"

echo "recipes: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
