#!/usr/bin/env bash
# Installs the C library of netipc under a prefix:
#
#   crates/netipc-ffi/install.sh PREFIX
#
#   PREFIX/include/netipc.h
#   PREFIX/lib/libnetipc.so.VERSION, libnetipc.so.0 -> it, libnetipc.so -> libnetipc.so.0
#   PREFIX/lib/libnetipc.a
#   PREFIX/lib/pkgconfig/netipc.pc
#
# Environment:
#   LIBDIR          library directory (default PREFIX/lib)
#   NETIPC_LIB_DIR  take libnetipc.so / libnetipc.a from this directory
#                   instead of running `cargo build --release -p netipc-ffi`
#   DESTDIR         staging root prepended to every installed path (the
#                   .pc file still names PREFIX), as packagers expect
#
# This script stands in for cargo-c's `cargo cinstall`; see docs/c-api.md
# for why.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi
prefix=$1
libdir=${LIBDIR:-$prefix/lib}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The soname's number; keep in step with ABI_MAJOR in build.rs.
abi=0
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
[ -n "$version" ] || { echo "$0: cannot read the version from $root/Cargo.toml" >&2; exit 1; }

if [ -n "${NETIPC_LIB_DIR:-}" ]; then
    built=$NETIPC_LIB_DIR
else
    (cd "$root" && cargo build --release -p netipc-ffi)
    built=${CARGO_TARGET_DIR:-$root/target}/release
fi
for f in libnetipc.so libnetipc.a; do
    [ -f "$built/$f" ] || { echo "$0: $built/$f not found" >&2; exit 1; }
done

dest=${DESTDIR:-}
install -d "$dest$prefix/include" "$dest$libdir/pkgconfig"
install -m 0644 "$root/include/netipc.h" "$dest$prefix/include/netipc.h"
install -m 0755 "$built/libnetipc.so" "$dest$libdir/libnetipc.so.$version"
ln -sfn "libnetipc.so.$version" "$dest$libdir/libnetipc.so.$abi"
ln -sfn "libnetipc.so.$abi" "$dest$libdir/libnetipc.so"
install -m 0644 "$built/libnetipc.a" "$dest$libdir/libnetipc.a"
sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$libdir|" -e "s|@VERSION@|$version|" \
    "$here/netipc.pc.in" > "$dest$libdir/pkgconfig/netipc.pc"
chmod 0644 "$dest$libdir/pkgconfig/netipc.pc"
echo "installed netipc $version under $dest$prefix"
