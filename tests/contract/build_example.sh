#!/bin/sh
# Builds examples/strategies/largest-first OUT OF TREE, as an in-house team
# would: install layerkit's devel files (plugin.h, layerkit.pc) into a
# temporary root, point pkg-config there, compile the example with cc and
# with its own meson.build, then check each result through the fake host.
#
# Usage: build_example.sh MESON BUILD_ROOT EXAMPLE_DIR ABI_TEST EXAMPLE_TEST [LAYERKIT]
# With LAYERKIT, the plugin is also loaded by the real CLI through --plugin-path.
# (NM and CC are taken from the environment.)
set -eu
meson=$1 build_root=$2 example=$3 abi_test=$4 example_test=$5 layerkit=${6:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lk-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

"$meson" install -C "$build_root" --no-rebuild --tags devel --destdir "$tmp/root" --quiet
pc=$(find "$tmp/root" -name layerkit.pc | head -n 1)
if [ -z "$pc" ] || [ -z "$(find "$tmp/root" -path '*/layerkit/plugin.h')" ]; then
	echo "build_example: meson install --tags devel installed no layerkit.pc or plugin.h" >&2
	exit 1
fi
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$tmp/root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# The header must come from the install, never from the source tree.
cflags=$(pkg-config --cflags layerkit)
case "$cflags" in
*"$tmp/root"*) ;;
*) echo "build_example: pkg-config --cflags layerkit gave '$cflags'" >&2; exit 1 ;;
esac
echo "pkg-config --cflags layerkit: $cflags"

mkdir "$tmp/cc"
${CC:-cc} $cflags -std=gnu11 -Wall -Wextra -Werror -shared -fPIC \
	-o "$tmp/cc/lk-strategy-largest-first.so" "$example/largest_first.c"
"$abi_test" "$tmp/cc/lk-strategy-largest-first.so"
"$example_test" "$tmp/cc/lk-strategy-largest-first.so"

# The example's own build file, as its README says to use it.
"$meson" setup "$tmp/build" "$example" > "$tmp/setup.log" 2>&1 || {
	cat "$tmp/setup.log" >&2
	exit 1
}
"$meson" compile -C "$tmp/build" > "$tmp/compile.log" 2>&1 || {
	cat "$tmp/compile.log" >&2
	exit 1
}
"$abi_test" "$tmp/build/lk-strategy-largest-first.so"
"$example_test" "$tmp/build/lk-strategy-largest-first.so"

# The real CLI loads it by name from --plugin-path and builds an image with it.
if [ -n "$layerkit" ]; then
	mkdir -p "$tmp/tree/vendor/big" "$tmp/tree/vendor/small" "$tmp/tree/src"
	head -c 300000 /dev/zero > "$tmp/tree/vendor/big/data.bin"
	echo small > "$tmp/tree/vendor/small/x.txt"
	echo 'print("hi")' > "$tmp/tree/src/main.py"
	chmod -R go-w "$tmp/cc"
	"$layerkit" plan --plugin-path "$tmp/cc" --strategy largest-first \
		--root "$tmp/tree" > "$tmp/plan.txt"
	cat "$tmp/plan.txt"
	grep -q "strategy largest-first" "$tmp/plan.txt"
	"$layerkit" -q build --plugin-path "$tmp/cc" --strategy largest-first --no-cache \
		--root "$tmp/tree" -o "$tmp/oci"
	test -s "$tmp/oci/index.json"
	"$layerkit" plugins --plugin-path "$tmp/cc" | grep "largest-first" | grep -q "$tmp/cc"
	echo "layerkit CLI loaded and built with the out-of-tree strategy"
fi
