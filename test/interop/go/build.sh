#!/usr/bin/env bash
# Builds the go-libp2p interop peer into test/interop/.build/go-peer (ignored),
# only when its sources, go.mod or go.sum changed since the last build: the
# stamp next to the binary holds their sha256. Exit 3 without a Go toolchain,
# so the interop tests can skip and say why. See test/interop/PEERS.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../../fixtures/go-build.sh" "$here" "$(cd "$here/.." && pwd)/.build/go-peer"
