#!/usr/bin/env bash
# Installs the runtimes the matrix runs on, each from the npm registry through the
# pinned package.json + package-lock.json under test/runtimes/pins/<rt>/, with
# `npm ci --prefix` into an ignored folder:
#   $RX_TCP_RUNTIMES_DIR/<rt>/   (default: <repo>/.runtimes/<rt>/; CI can point it at
#                                 a cache kept between runs)
# Usage: test/runtimes/install.sh [node22 node24 node26 bun deno ...]   (default: all)
# Prints one line per runtime: `<rt> <version> <absolute path of the binary>`.
# Idempotent: a runtime whose lockfile is unchanged since its last install and whose
# binary answers --version is not reinstalled (a few ms). node24 is the project's own
# pinned `node` devDependency (node_modules/.bin/node) and is never installed here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${RX_TCP_RUNTIMES_DIR:-$repo/.runtimes}"
all=(node22 node24 node26 bun deno)
[ "$#" -gt 0 ] || set -- "${all[@]}"

# where each runtime's binary lands inside its prefix (deno and bun resolve their
# platform package at install time and place or link the real binary here)
bin_of () {
  case "$1" in
    node24) echo "$repo/node_modules/node/bin/node" ;;
    node22|node26) echo "$dir/$1/node_modules/node/bin/node" ;;
    bun) echo "$dir/bun/node_modules/bun/bin/bun.exe" ;;
    deno) echo "$dir/deno/node_modules/deno/deno" ;;
    *) return 1 ;;
  esac
}

version_of () { "$1" --version 2>/dev/null | head -n 1 | sed -E 's/^(deno |v)//; s/ .*//'; }

failed=0
for rt in "$@"; do
  case "$rt" in node22|node24|node26|bun|deno) ;; *)
    echo "install.sh: unknown runtime '$rt' (known: ${all[*]})" >&2; exit 2 ;;
  esac
  bin="$(bin_of "$rt")"
  if [ "$rt" != node24 ]; then
    pins="$here/pins/$rt"
    stamp="$dir/$rt/.lock-sha"
    want="$(sha256sum "$pins/package-lock.json" | cut -d' ' -f1)"
    if [ ! -x "$bin" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ -z "$(version_of "$bin")" ]; then
      echo "installing $rt into $dir/$rt ..." >&2
      rm -rf "$dir/$rt"
      mkdir -p "$dir/$rt"
      cp "$pins/package.json" "$pins/package-lock.json" "$dir/$rt/"
      # install scripts must run: they fetch the platform binary as a registry package
      if ! (cd "$dir/$rt" && npm ci --no-audit --no-fund --loglevel=error --foreground-scripts >"$dir/$rt/install.log" 2>&1); then
        echo "install.sh: npm ci failed for $rt (see $dir/$rt/install.log)" >&2
        failed=1; continue
      fi
      echo "$want" > "$stamp"
    fi
  fi
  v="$(version_of "$bin" || true)"
  if [ -z "$v" ]; then
    echo "install.sh: $rt has no working binary at $bin" >&2
    failed=1; continue
  fi
  echo "$rt $v $bin"
done
exit "$failed"
