#!/bin/bash
# test.sh - build and run the whole test suite (unit, contract, e2e) twice:
# plain in build/ and under ASan+UBSan in build-asan/; then the e2e suite
# once more with layerkit under valgrind memcheck; then the fault tests
# (tests/faults/run.sh) and each libFuzzer target for FUZZ-SECONDS
# (tests/fuzz/run.sh).  Prints one summary line "N passed, N failed" and
# exits non-zero when anything failed.
#
#   bash scripts/test.sh [--plain-only | --asan-only] [--no-valgrind] [--no-faults]
#                        [--fuzz-seconds N | --no-fuzz] [-- MESON-TEST-ARGS...]
#
# e.g. bash scripts/test.sh --plain-only --no-valgrind --no-fuzz -- --suite e2e
set -uo pipefail

usage() {
	sed -n '2,14s/^# \{0,1\}//p' "$0"
}

configs=(plain asan)
valgrind=1
faults=1
fuzz_seconds=60
test_args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--plain-only) configs=(plain) ;;
	--asan-only) configs=(asan) ;;
	--no-valgrind) valgrind=0 ;;
	--no-faults) faults=0 ;;
	--no-fuzz) fuzz_seconds=0 ;;
	--fuzz-seconds) fuzz_seconds=$2; shift ;;
	--) shift; test_args=("$@"); break ;;
	-h|--help) usage; exit 0 ;;
	*) echo "test.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

cd "$(dirname "$0")/.."

total_pass=0
total_fail=0
total_skip=0
built_plain=0
report=()

# Counts the results meson wrote for the last run of $1 (testlog.json has one
# JSON object per test).
count_results() {
	python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        if not line.strip():
            continue
        result = json.loads(line).get("result")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(passed, failed, skipped)
PY
}

# record NAME DIR: adds the results of the last meson test in DIR.
record() {
	local name=$1 dir=$2 p f s
	if [ ! -f "$dir/meson-logs/testlog.json" ]; then
		report+=("$name: meson test did not run")
		total_fail=$((total_fail + 1))
		return
	fi
	read -r p f s < <(count_results "$dir")
	report+=("$name: $p passed, $f failed, $s skipped")
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
}

# run_config NAME DIR TIMEOUT-MULTIPLIER MESON-OPTIONS...
run_config() {
	local name=$1 dir=$2 mult=$3
	shift 3
	echo "=== $name: $dir ==="
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi || { report+=("$name: meson setup failed"); total_fail=$((total_fail + 1)); return 1; }
	if ! meson compile -C "$dir"; then
		report+=("$name: build failed")
		total_fail=$((total_fail + 1))
		return 1
	fi
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --timeout-multiplier "$mult" \
		${test_args[@]+"${test_args[@]}"}
	record "$name" "$dir"
}

# The e2e cases again with every layerkit run under memcheck (the harness
# prefixes LK_E2E_WRAP and fails a case on any valgrind error or definite
# leak).  MESON-TEST-ARGS do not apply here.
run_valgrind() {
	echo "=== valgrind: build (e2e) ==="
	if ! command -v valgrind >/dev/null; then
		report+=("valgrind: not installed; run 'bash scripts/setup.sh --deps-only'")
		total_fail=$((total_fail + 1))
		return
	fi
	rm -f build/meson-logs/testlog.json
	LK_E2E_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		meson test -C build --suite e2e --print-errorlogs --timeout-multiplier 10
	record "valgrind (e2e)" build
}

# run_script NAME COMMAND...: one pass/fail line for a script's exit status.
run_script() {
	local name=$1
	shift
	echo "=== $name ==="
	if "$@"; then
		report+=("$name: passed")
		total_pass=$((total_pass + 1))
	else
		report+=("$name: FAILED (see its output above)")
		total_fail=$((total_fail + 1))
	fi
}

start=$SECONDS
for c in "${configs[@]}"; do
	case "$c" in
	plain) run_config plain build 1 && built_plain=1 ;;
	# Plugins are dlopened by an ASan binary, so they may leave the ASan
	# runtime's symbols undefined (b_lundef=false).
	asan) run_config "ASan+UBSan" build-asan 3 \
		-Db_sanitize=address,undefined -Db_lundef=false ;;
	esac
done

# memcheck needs the plain build (ASan and valgrind do not mix).
if [ "$valgrind" -eq 1 ] && [ "$built_plain" -eq 1 ]; then
	run_valgrind
fi

# Kills, disk full, read-only output, racing builds, damaged cache: the
# plain binary (a few minutes; the tmpfs and read-only parts need root).
if [ "$faults" -eq 1 ] && [ "$built_plain" -eq 1 ]; then
	run_script "faults" bash tests/faults/run.sh build/core/layerkit -n 30
fi
if [ "$fuzz_seconds" -gt 0 ]; then
	run_script "fuzz (${fuzz_seconds} s per target)" \
		bash tests/fuzz/run.sh -t "$fuzz_seconds" -o build-fuzz
fi

echo
for line in "${report[@]}"; do
	echo "  $line"
done
echo "$total_pass passed, $total_fail failed ($total_skip skipped, $((SECONDS - start)) s)"
[ "$total_fail" -eq 0 ]
