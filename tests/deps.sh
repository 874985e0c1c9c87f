# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The Debian 12 packages that building and testing st7dfu need. Sourced by
# tests/run.sh and tests/demo.sh; installs only what is missing, so a second run is
# quick and a fresh machine gets everything.
st7_packages=(
	build-essential cmake pkg-config # the build
	libusb-1.0-0-dev                 # the USB backend
	libcurl4-openssl-dev             # the fetch backend
	libmbedtls-dev                   # the verify backend (and the test fault server's TLS)
	libinih-dev                      # the policy file and manifest reader (inih)
	tzdata                           # maintenance windows in named time zones (tests: DST)
	libumockdev-dev umockdev libglib2.0-dev # the emulated devices (tests/emu)
	clang libclang-rt-14-dev         # sanitizer and libFuzzer builds
	clang-format                     # the style check
	dfu-util                         # dfu-suffix, the interoperability peer
	jq strace git                    # JSON checks, the fsync-order check, file lists
	procps                           # pgrep: cli.worker finds the fetch worker it inspects
	python3                          # cli.run: the systemd notify socket's receiver
	nginx openssl curl               # the HTTPS test server, the test PKI / signatures, the fault server's self-test
	systemd udev util-linux          # init.service: systemd-analyze, sysusers, udevadm test, setpriv
	shellcheck                       # style.shellcheck: every shell script of the tree
	mandoc groff-base man-db         # docs.man: the manual pages lint and render
	debhelper lintian dpkg-dev       # pkg.deb: the Debian package built and linted
)

st7_install_deps() {
	local missing=()
	for p in "${st7_packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
		return 1
	fi
	echo "installing: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
