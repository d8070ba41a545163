#!/usr/bin/env bash
# Prints the absolute path of one runtime's binary (node22 node24 node26 bun deno),
# installing it first through install.sh when it is missing (idempotent, fast when
# installed). Usage: test/runtimes/which.sh <rt>
set -euo pipefail
[ "$#" -eq 1 ] || { echo "usage: test/runtimes/which.sh <node22|node24|node26|bun|deno>" >&2; exit 2; }
line="$("$(dirname "$0")/install.sh" "$1")"
echo "${line##* }"
