#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Shows that the build itself refuses an upward #include: builds the probe target (a file
# of the base layer that includes core's upgrade.h) and passes only when it fails for that
# reason. Usage: build-refuses.sh BUILD_DIR
set -u
build=$1
out=$(cmake --build "$build" --target st7_layer_probe_upward 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "FAIL: the base layer compiled an include of core/upgrade.h; layers are not enforced" >&2
	exit 1
fi
if ! grep -Eq "upgrade\.h.*(No such file|file not found)" <<<"$out"; then  # gcc, clang
	echo "FAIL: the probe failed, but not on the upward include:" >&2
	echo "$out" >&2
	exit 1
fi
echo "ok: the build refuses base/ -> core/upgrade.h"
