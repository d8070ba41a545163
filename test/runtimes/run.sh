#!/usr/bin/env bash
# Runs a TypeScript file (an example, the demo) on one runtime of the matrix:
# Node through tsx's loader, Bun as it is (it runs .ts natively), Deno with
# every permission. The runtime is installed first if it is missing.
# Usage: test/runtimes/run.sh <node22|node24|node26|bun|deno> <file.ts> [args...]
set -euo pipefail
[ "$#" -ge 2 ] || { echo "usage: test/runtimes/run.sh <node22|node24|node26|bun|deno> <file.ts> [args...]" >&2; exit 2; }
rt="$1"; shift
bin="$("$(dirname "$0")/which.sh" "$rt")"
case "$rt" in
  node*) exec "$bin" --import tsx "$@" ;;
  bun) exec "$bin" "$@" ;;
  deno) exec "$bin" run -A "$@" ;;
esac
