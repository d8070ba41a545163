#!/usr/bin/env bash
# Builds the go-libp2p interop peer into test/interop/.build/go-peer (ignored),
# only when its sources, go.mod or go.sum changed since the last build: the
# stamp next to the binary holds their sha256. Exit 3 without a Go toolchain,
# so the interop tests can skip and say why. See test/interop/PEERS.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(cd "$here/.." && pwd)/.build"
bin="$out/go-peer"
stamp="$out/go-peer.stamp"

if ! command -v go > /dev/null 2>&1; then
  echo "skip: go toolchain not found"
  exit 3
fi

cd "$here"
# the file names are in the hash too, so a renamed file rebuilds
sum="$(sha256sum $(ls *.go | LC_ALL=C sort) go.mod go.sum | sha256sum | cut -d' ' -f1)"

if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
  echo "go-peer: up to date ($bin)"
  exit 0
fi

mkdir -p "$out"
start=$(date +%s)
# -mod=readonly: go.sum is committed and the build must not rewrite it
nice -n 10 go build -trimpath -mod=readonly -o "$bin.tmp" .
mv "$bin.tmp" "$bin"
echo "$sum" > "$stamp"
echo "go-peer: built in $(( $(date +%s) - start )) s with $(go version | cut -d' ' -f3) ($bin)"
