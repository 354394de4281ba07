#!/usr/bin/env bash
# Run the netipc fuzz targets for a fixed time each and summarise the results.
#
# Usage: fuzz/run.sh [seconds_per_target] [target...]
#   seconds_per_target  default 120
#   target...           default: every target in fuzz/Cargo.toml
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none; passed to `cargo fuzz`.
#
# Per target it prints the seconds fuzzed, executions, executions per
# second, the number of files in its corpus directory (seeds included) and
# the crash artifacts written during this run; it exits non-zero if any
# target crashed or the fuzzer failed for another reason. Logs are kept in
# fuzz/artifacts/logs/<target>.log. Not part of CI: see docs/testing.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

secs=${1:-120}
if [ $# -gt 0 ]; then shift; fi
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
    echo "run.sh: seconds_per_target must be a positive integer, got '$secs'" >&2
    exit 2
fi
sanitizer=${FUZZ_SANITIZER:-address}

# cargo-fuzz passes unstable rustc flags (-Zsanitizer=..., coverage options
# for the libFuzzer instrumentation) that a stable compiler refuses unless it
# is told to accept them. RUSTC_BOOTSTRAP=1 does exactly that, so the stable
# toolchain is enough and no nightly has to be installed. It is only set for
# this script's own cargo invocations.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: cargo-fuzz not found, installing it" >&2
    cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

python3 seed.py

echo "toolchain: $(rustc --version)"
echo "cargo-fuzz: $(cargo fuzz --version)"
echo "sanitizer: $sanitizer, ${secs}s per target, targets: ${targets[*]}"

# Build everything first so that build time is not charged to the runs.
cargo fuzz build --sanitizer "$sanitizer"

mkdir -p artifacts/logs
stat_of() { # stat_of LOG NAME -> value of libFuzzer's final "stat::NAME:"
    awk -v key="stat::$2:" '$1 == key { v = $2 } END { print (v == "" ? "?" : v) }' "$1"
}

failed=0
rows=()
for t in "${targets[@]}"; do
    log="artifacts/logs/$t.log"
    mkdir -p "artifacts/$t" "corpus/$t"
    marker=$(mktemp)
    echo "== $t (${secs}s)"
    start=$(date +%s)
    set +e
    cargo fuzz run --sanitizer "$sanitizer" "$t" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    # Fuzzing time as libFuzzer reports it; wall time if it stopped early.
    took=$(awk '/^Done [0-9]+ runs in [0-9]+ second/ { v = $5 } END { print v }' "$log")
    took=${took:-$(($(date +%s) - start))}
    execs=$(stat_of "$log" number_of_executed_units)
    rate=$(stat_of "$log" average_exec_per_sec)
    corpus=$(find "corpus/$t" -type f | wc -l)
    mapfile -t found < <(find "artifacts/$t" -type f -newer "$marker" | sort)
    rm -f "$marker"
    if [ ${#found[@]} -gt 0 ]; then
        crashes="${found[*]}"
        failed=1
    elif [ $rc -ne 0 ]; then
        crashes="0 (fuzzer exited with $rc, see $log)"
        failed=1
    else
        crashes=0
    fi
    row=$(printf '%-15s %7s %12s %9s %7s  %s' "$t" "$took" "$execs" "$rate" "$corpus" "$crashes")
    echo "$row"
    rows+=("$row")
done

echo
printf '%-15s %7s %12s %9s %7s  %s\n' target seconds execs execs/s corpus crashes
printf '%s\n' "${rows[@]}"
exit $failed
