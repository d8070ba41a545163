#!/usr/bin/env bash
# Builds the flood's attacker into test/flood/.build/attacker (ignored; CI
# links it to a cache), only when its sources, go.mod or go.sum changed since
# the last build. Exit 3 without a Go toolchain.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../../fixtures/go-build.sh" "$here" "$(cd "$here/.." && pwd)/.build/attacker"
