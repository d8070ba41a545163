#!/usr/bin/env bash
# Builds the rust-libp2p interop peer (see ../PEERS.md) into test/interop/.build/:
# the cargo target dir is .build/rust-target, the binary is copied to .build/rust-peer,
# and .build/rust-peer.stamp holds the sha256 of src/, build.rs, Cargo.toml and Cargo.lock,
# so a second run with nothing changed does nothing.
# RUST_PEER_TARGET_DIR moves the cargo target dir elsewhere (e.g. a cache that outlives a
# fresh clone, as CI's is); the binary and the stamp stay in .build/.
# Exit codes: 0 built or up to date, 3 no cargo toolchain (skip), other: the build failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(cd "$here/.." && pwd)/.build"
bin="$out/rust-peer"
stamp_file="$out/rust-peer.stamp"
target="${RUST_PEER_TARGET_DIR:-$out/rust-target}"

# rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo 'skip: cargo toolchain not found'
  exit 3
fi

# sorted by path so the stamp does not depend on the order find walks the tree
stamp="$(cd "$here" && { find src -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum build.rs Cargo.toml Cargo.lock; } | sha256sum | cut -d' ' -f1)"

if [ -x "$bin" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  echo "rust-peer: up to date ($bin)"
  exit 0
fi

mkdir -p "$out"
start=$(date +%s)
# the machine is shared: two jobs, lower priority; --locked so CI builds exactly Cargo.lock
nice -n 10 cargo build --release --locked -j 2 \
  --manifest-path "$here/Cargo.toml" --target-dir "$target" >&2
cp "$target/release/rust-peer" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$stamp" > "$stamp_file"
echo "rust-peer: built in $(( $(date +%s) - start )) s ($bin)"
