#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2015 # `cond && ok || fail "..."`: ok only counts and never fails, so fail runs exactly when cond failed
# Every file st7dfu writes is atomic: temp file in the same directory, fsync, rename,
# fsync of the directory. strace shows the order; failures leave the old file and no
# temporary behind.
. "$(dirname "$0")/lib.sh"

head -c 1000 /dev/urandom >"$T/a.bin"
mkdir "$T/out"
echo old >"$T/out/fw.dfu"

# strace is one of tests/deps.sh's packages: its absence is a broken setup, not a skip.
if ! command -v strace >/dev/null; then
	fail "strace not installed (tests/deps.sh installs it): the write order was not checked"
	"$ST7DFU" pack -o "$T/out/fw.dfu" --vid ffff --pid ffff --bcd 1 "$T/a.bin@0" >/dev/null 2>&1
	eq "$?" 0 "pack"
else
	# LeakSanitizer cannot run under ptrace; leaks are checked by every other test.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -o "$T/trace" -e trace=openat,fsync,fdatasync,rename,renameat,renameat2,close \
		"$ST7DFU" pack -o "$T/out/fw.dfu" --vid ffff --pid ffff --bcd 1 "$T/a.bin@0" >/dev/null 2>&1
	eq "$?" 0 "pack under strace"
	# The temp file's descriptor, its fsync, the rename, and the directory's fsync, in order.
	tmpfd=$(sed -n 's/.*openat(.*"[^"]*\/fw\.dfu\.tmp\.[^"]*".* = \([0-9]*\)$/\1/p' "$T/trace" | head -n1)
	dirfd=$(sed -n "s|.*openat(.*\"$T/out\", O_RDONLY.*O_DIRECTORY.* = \([0-9]*\)\$|\1|p" "$T/trace" | head -n1)
	[ -n "$tmpfd" ] && ok || fail "temp file opened in the target directory"
	[ -n "$dirfd" ] && ok || fail "directory opened for fsync"
	order=$(grep -nE "fsync\(($tmpfd|$dirfd)\)|rename" "$T/trace" | sed -E "s/^([0-9]+):.*(fsync\($tmpfd\)|rename|fsync\($dirfd\)).*/\2/" | tr '\n' ' ')
	eq "$order" "fsync($tmpfd) rename fsync($dirfd) " "fsync, rename, fsync(dir) order"
fi
cmp -s <(head -c 1000 "$T/out/fw.dfu") "$T/a.bin" && ok || fail "output replaced"

# The output path is a directory: the rename fails, nothing is left behind.
mkdir "$T/out/dir.dfu"
run "$ST7DFU" pack -o "$T/out/dir.dfu" --vid ffff --pid ffff --bcd 1 "$T/a.bin@0"
expect_rc 4 "output is a directory"
has "$ERR" "cannot rename" "rename failure named"
[ -d "$T/out/dir.dfu" ] && ok || fail "directory intact"
# A directory that does not exist.
run "$ST7DFU" pack -o "$T/none/fw.dfu" --vid ffff --pid ffff --bcd 1 "$T/a.bin@0"
expect_rc 4 "missing directory"
has "$ERR" "cannot create a temporary file in $T/none" "missing directory named"
eq "$(globcount "$T/out"/*.tmp.*)" 0 "no temporary files left"

finish
