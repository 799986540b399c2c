#!/bin/bash
# update-golden.sh - rewrite the golden files (expect/stdout, expect/image)
# of the e2e cases from the real binary.  Review the diff by eye before you
# commit it: a golden is only as right as the output it was taken from.
#
#   bash tests/e2e/update-golden.sh [-C BUILDDIR] [CASE...]   (default: build, all cases)
set -euo pipefail

cd "$(dirname "$0")/../.."
builddir=build
if [ "${1:-}" = "-C" ]; then
	builddir=$2
	shift 2
fi
if [ ! -f "$builddir/build.ninja" ]; then
	echo "update-golden: $builddir is not a configured build dir; run 'meson setup $builddir'" >&2
	exit 2
fi
ninja -C "$builddir" >/dev/null

if [ $# -eq 0 ]; then
	mapfile -t cases < <(python3 tests/e2e/harness.py list tests/cases)
else
	cases=("$@")
fi

status=0
for c in "${cases[@]}"; do
	c=${c#tests/cases/}
	c=${c%/}
	if ! python3 tests/e2e/harness.py --layerkit "$builddir/core/layerkit" \
		case "tests/cases/$c" --update >"$builddir/update-golden-$c.log" 2>&1; then
		echo "update-golden: $c FAILED (its exit code or stderr expectation?); see $builddir/update-golden-$c.log" >&2
		tail -n 20 "$builddir/update-golden-$c.log" >&2
		status=1
	else
		echo "update-golden: $c"
	fi
done
git --no-pager diff --stat -- tests/cases || true
echo "update-golden: now check 'git diff tests/cases' by eye"
exit $status
