#!/bin/bash
# An incremental build (warm layer cache, one app file changed, then one
# package bumped) must produce exactly the image a clean build of the same
# tree produces, for every strategy; and it must rebuild only the layers
# whose inputs changed.
#
# Usage: test_incremental.sh LAYERKIT GENERATOR
set -euo pipefail
lk=$1 gen=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lk-incr.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

python3 "$gen" --out "$tmp/tree" --scale 0.01 -q
root=$tmp/tree/bazel-bin/app/hello_fastapi
# Stamps younger than 2 s are not trusted (racy); let the tree age first.
sleep 2.2

digest() { grep -o 'sha256:[0-9a-f]*' "$1" | head -n 1; }
built() { sed -n 's/.*layers (\([0-9]*\) built, \([0-9]*\) cached).*/\1 \2/p' "$1"; }

for strategy in two-layer per-package grouped-by-size; do
	cache=$tmp/cache-$strategy out=$tmp/out-$strategy
	build() { "$lk" build --root "$root" --discovery python-runfiles --strategy "$strategy" \
		--cache-dir "$cache" -o "$out" > "$tmp/last" || fail "$strategy: build failed"; }
	clean_digest() { "$lk" build --root "$root" --discovery python-runfiles \
		--strategy "$strategy" --no-cache -o "$tmp/clean-$strategy" > "$tmp/clean" ||
		fail "$strategy: clean build failed"; digest "$tmp/clean"; }

	python3 "$gen" --out "$tmp/tree" --scale 0.01 -q	# back to the original tree
	sleep 2.2
	build
	build
	read -r nbuilt ncached < <(built "$tmp/last")
	[ "$nbuilt" = 0 ] || fail "$strategy: no-op rebuild built $nbuilt layers"

	python3 "$gen" --out "$tmp/tree" --scale 0.01 --app-change 7 -q
	build
	read -r nbuilt ncached < <(built "$tmp/last")
	[ "$nbuilt" = 1 ] || fail "$strategy: app change rebuilt $nbuilt layers, expected 1 (the app layer)"
	[ "$(digest "$tmp/last")" = "$(clean_digest)" ] ||
		fail "$strategy: incremental image after an app change differs from a clean build"

	python3 "$gen" --out "$tmp/tree" --scale 0.01 --app-change 7 --bump starlette -q
	build
	[ "$(digest "$tmp/last")" = "$(clean_digest)" ] ||
		fail "$strategy: incremental image after a bump differs from a clean build"
	read -r nbuilt ncached < <(built "$tmp/last")
	echo "$strategy: app change rebuilt 1 layer; starlette bump rebuilt $nbuilt of $((nbuilt + ncached))"
done
echo "incremental builds equal clean builds for all strategies"
