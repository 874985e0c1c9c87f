# SPDX-License-Identifier: MIT
#
# Yocto / OpenEmbedded recipe for st7dfu (packaging/yocto/README.md).
#
# A versioned recipe, st7dfu_0.1.0.bb, not st7dfu_git.bb: PV comes from the file name and
# must equal project(VERSION) in CMakeLists.txt (tests/pkg/recipes.sh checks it), and
# SRCREV pins the one commit that is that release. An image then rebuilds the same
# agent for as long as it exists: what a fleet needs from its update agent. A _git.bb
# with AUTOREV would follow a branch; for work on the tree use devtool or externalsrc
# (README.md) instead.

SUMMARY = "Firmware update agent for ST7 USB peripherals (USB DFU)"
DESCRIPTION = "st7dfu keeps the USB peripherals of a gateway that are built on ST7 USB \
microcontrollers (ST72F62, ST72F63, ST72F65x; USB DFU 1.0, DFU 1.1 and ST's DfuSe) on \
the firmware a signed fleet manifest names: images fetched over HTTPS by a separate, \
de-privileged worker, signatures checked, the old firmware uploaded and kept before \
every update and restored when the update fails, interrupted updates recovered after \
a power loss."
HOMEPAGE = "https://git.example.com/st7dfu/st7dfu"
SECTION = "console/utils"

LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=5cd7576ade3d1319e606faf2f924b719"

# Replace the URL and SRCREV with the repository and the commit tagged v${PV}.
SRC_URI = "git://git.example.com/st7dfu/st7dfu.git;protocol=https;branch=main"
SRCREV = "0000000000000000000000000000000000000000"

# whinlatter (5.3) and later: the git fetcher unpacks to
# ${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX} (which is ${BP}), S's default; said here so
# that the recipe reads the same everywhere. On scarthgap (5.0): S = "${WORKDIR}/git".
S = "${UNPACKDIR}/${BB_GIT_DEFAULT_DESTSUFFIX}"

# libusb1 and curl: openembedded-core. libinih: meta-oe. mbedtls: meta-networking.
DEPENDS = "libusb1 curl mbedtls libinih"

inherit cmake pkgconfig systemd update-rc.d useradd

# MinSizeRel: the build the project ships (no unwind tables, -Os). The debug info still
# comes from OE's own CFLAGS (-g), for the -dbg package. The directories are the
# distro's, not what the project guesses from systemd's pkg-config file (systemd is not
# a build dependency). The systemd units, sysusers and tmpfiles files go in with
# systemd only; the udev rule always (below, for sysvinit images with udev or eudev).
EXTRA_OECMAKE = " \
    -DCMAKE_BUILD_TYPE=MinSizeRel \
    -DST7DFU_TESTS=OFF \
    -DST7DFU_INSTALL_INIT=${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'ON', 'OFF', d)} \
    -DST7DFU_CONFDIR=${sysconfdir}/st7dfu \
    -DST7DFU_SYSTEMDUNITDIR=${systemd_system_unitdir} \
    -DST7DFU_SYSUSERSDIR=${nonarch_libdir}/sysusers.d \
    -DST7DFU_TMPFILESDIR=${nonarch_libdir}/tmpfiles.d \
    -DST7DFU_UDEVRULESDIR=${nonarch_base_libdir}/udev/rules.d \
"

do_install:append() {
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'false', 'true', d)}; then
        install -d ${D}${nonarch_base_libdir}/udev/rules.d
        install -m 0644 ${S}/init/udev/70-st7dfu.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${INIT_D_DIR}
        install -m 0755 ${S}/init/sysvinit/st7dfu ${D}${INIT_D_DIR}/st7dfu
    fi
}

# systemd: the daemon and the hourly timer, installed but not enabled (presets say
# "disable"). The shipped policy has no manifest_url, and without one the agent cannot
# run: an enabled unit would fail at every boot until the integrator configures it. The
# image enables one of the two (not both), e.g. with a preset or systemctl enable in a
# rootfs postprocess, once its policy and key are in.
SYSTEMD_SERVICE:${PN} = "st7dfu.service st7dfu-check.timer"
SYSTEMD_AUTO_ENABLE:${PN} = "disable"

# sysvinit: started late (after the network), stopped early. The script checks the
# policy first and refuses to start without a usable one.
INITSCRIPT_NAME = "st7dfu"
INITSCRIPT_PARAMS = "defaults 95 10"

# The agent's own user, as init/systemd/st7dfu.sysusers describes it.
USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home /var/lib/st7dfu --no-create-home \
                       --shell /sbin/nologin --user-group st7dfu"

# The fetch worker sits where the binary looks for it (cmake.bbclass passes libexecdir:
# ${libexecdir}/st7dfu/st7dfu-fetch).
FILES:${PN} += " \
    ${libexecdir}/st7dfu \
    ${sysconfdir}/st7dfu \
    ${systemd_system_unitdir}/st7dfu.service \
    ${systemd_system_unitdir}/st7dfu-check.service \
    ${systemd_system_unitdir}/st7dfu-check.timer \
    ${nonarch_libdir}/sysusers.d/st7dfu.conf \
    ${nonarch_libdir}/tmpfiles.d/st7dfu.conf \
    ${nonarch_base_libdir}/udev/rules.d/70-st7dfu.rules \
"

CONFFILES:${PN} = "${sysconfdir}/st7dfu/st7dfu.ini"

# No RDEPENDS: the libraries come from the shared-library dependencies. The sysvinit
# script brings its own fallbacks for the LSB helpers and uses only start-stop-daemon
# options busybox has too (packaging/yocto/README.md, "sysvinit").
