#!/bin/bash
# run.sh - builds the libFuzzer targets with clang (-fsanitize=fuzzer,
# address,undefined) and fuzzes each for a bounded time, starting from
# corpus/<target>/.  A crash is copied to regress/<target>/ (replayed by
# the ordinary suite: tests/fuzz/meson.build) and makes the script fail.
#
#   bash tests/fuzz/run.sh [-t SECONDS-PER-TARGET] [-o WORKDIR] [TARGET...]
#
# Targets: config metadata record repo_name (default: all).  WORKDIR
# (default build-fuzz/) holds the binaries and the grown corpora.
set -euo pipefail

usage() {
	sed -n '2,11s/^# \{0,1\}//p' "$0"
}

seconds=60
work=
while getopts "t:o:h" opt; do
	case "$opt" in
	t) seconds=$OPTARG ;;
	o) work=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
work=${work:-$src/build-fuzz}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config metadata record repo_name)

if ! command -v clang >/dev/null; then
	echo "run.sh: clang not found (apt-get install clang)" >&2
	exit 2
fi

mkdir -p "$work"
# Absolute: the fuzzers run inside $work and are handed paths below it.
work=$(cd "$work" && pwd)
cflags=(-Wall -Wextra -std=gnu11 -D_GNU_SOURCE -Wshadow -Wno-unused-parameter -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-I"$src/core/include" -I"$src/core" -I"$src/plugins/python-runfiles")
pyrf=("$src"/plugins/python-runfiles/{names,metadata,record,detect}.c)

# build TARGET: compiles work/fuzz_TARGET.
build() {
	local t=$1 srcs libs=()
	case "$t" in
	config)
		srcs=("$src/core/config.c" "$src/core/common.c")
		libs=(-linih -ljansson) ;;
	metadata|record|repo_name)
		srcs=("${pyrf[@]}") ;;
	*) echo "run.sh: unknown target '$t'" >&2; exit 2 ;;
	esac
	clang "${cflags[@]}" -o "$work/fuzz_$t" "$here/fuzz_$t.c" "${srcs[@]}" \
		${libs[@]+"${libs[@]}"}
}

failed=0
for t in "${targets[@]}"; do
	build "$t"
	corpus=$work/corpus-$t
	artifacts=$work/artifacts-$t
	mkdir -p "$corpus" "$artifacts"
	echo "=== fuzz $t: ${seconds} s ==="
	# The grown corpus first: new inputs land there, the seeds stay as committed.
	status=0
	(cd "$work" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		"./fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" \
		"$corpus" "$here/corpus/$t" > "$work/log-$t" 2>&1) || status=$?
	tail -n 40 "$work/log-$t"
	found=$(find "$artifacts" -type f | wc -l)
	# A fuzzer that stopped without a crash input did not fuzz (bad corpus
	# path, bad flag, out of memory): that is a failure too, never a pass.
	if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then
		echo "run.sh: $t: the fuzzer exited with status $status without a crash input; see $work/log-$t" >&2
		failed=1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log-$t" | tail -n 1)
	echo "run.sh: $t: ${runs:-0} inputs executed"
	if [ "$found" -gt 0 ]; then
		mkdir -p "$here/regress/$t"
		cp "$artifacts"/* "$here/regress/$t/"
		echo "run.sh: $t: $found crashing input(s) copied to tests/fuzz/regress/$t/" >&2
		failed=1
		rm -f "$artifacts"/*
	fi
done
exit $failed
