#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The layering rule of agent/ (agent/README.md), checked by grep: every #include "x.h" of a
# file in agent/LAYER/ must name a header of LAYER itself or of a layer it may use, and only
# agent/backend/ may include libusb, curl or mbedTLS headers. The build enforces the same
# rule (each layer's library exports only its own folder); this check names the offending
# line. Usage: layers.sh [AGENT_DIR] (default: the agent/ of this checkout).
set -u
agent=${1:-$(cd "$(dirname "$0")/../../agent" && pwd)}

# Which layers each layer may include, besides itself. Keep in step with agent/README.md
# and the DEPS of st7_layer() in CMakeLists.txt.
declare -A may=(
	[base]=""
	[dfu]="base"
	[formats]="base dfu"
	[iface]="base dfu formats"
	[backend]="base dfu formats iface"
	[engine]="base dfu formats iface"
	[core]="base dfu formats iface engine"
	[report]="base dfu formats iface engine core"
	[cli]="base dfu formats iface backend engine core report"
	[worker]="base dfu formats iface"
)

declare -A home=() # header name -> layer
for d in "$agent"/*/; do
	layer=$(basename "$d")
	if [ -z "${may[$layer]+x}" ]; then
		echo "agent/$layer/: a folder the layering rule does not know (add it to tests/layers/check-includes.sh and agent/README.md)" >&2
		exit 1
	fi
	for h in "$d"*.h; do
		[ -e "$h" ] || continue
		name=$(basename "$h")
		if [ -n "${home[$name]+x}" ]; then
			echo "$name exists in agent/${home[$name]}/ and agent/$layer/: header names must be unique" >&2
			exit 1
		fi
		home[$name]=$layer
	done
done

bad=0 files=0 includes=0
while IFS= read -r f; do
	layer=$(basename "$(dirname "$f")")
	rel=${f#"$agent"/}
	files=$((files + 1))
	while IFS=: read -r line text; do
		name=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$text")
		[ -n "$name" ] || continue
		includes=$((includes + 1))
		to=${home[$(basename "$name")]-}
		if [ -z "$to" ]; then
			echo "agent/$rel:$line: includes \"$name\", which is no header of agent/" >&2
			bad=$((bad + 1))
		elif [ "$to" != "$layer" ] && [[ " ${may[$layer]} " != *" $to "* ]]; then
			echo "agent/$rel:$line: $layer/ may not include $to/$name (upward or sideways: $layer/ uses only: ${may[$layer]:-nothing})" >&2
			bad=$((bad + 1))
		fi
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
	if [ "$layer" != backend ] &&
		grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(libusb|curl/|mbedtls/|psa/)' "$f" >&2; then
		echo "agent/$rel: only agent/backend/ may include libusb, curl or mbedTLS headers" >&2
		bad=$((bad + 1))
	fi
done < <(find "$agent" -mindepth 2 -name '*.[ch]' | sort)

if [ -n "$(find "$agent" -maxdepth 1 -name '*.[ch]')" ]; then
	echo "agent/ itself holds sources; every source belongs to a layer folder" >&2
	bad=$((bad + 1))
fi
echo "layers: $files files, $includes includes checked, $bad violations"
[ "$files" -gt 0 ] || { echo "no sources found under $agent" >&2; exit 1; }
[ "$bad" -eq 0 ]
