#!/usr/bin/env bash
# Fuzz the byte-level readers with libFuzzer: launch/fuzz.sh TARGET|all SECONDS
#   launch/fuzz.sh idx 60        one target for a minute
#   launch/fuzz.sh all 600       every target, one after the other, ten minutes each
#   launch/fuzz.sh build         only build the targets
# Targets: idx cifar mat jpeg-folder safetensors yaml-config (fuzz/README.md says what each reads).
# The targets are the package in fuzz/, built with libFuzzer and AddressSanitizer; the root
# package's own `swift build` never compiles them. Each run starts from the seed corpus in
# fuzz/corpus/TARGET and keeps what it finds in runs/fuzz/TARGET/ (corpus/, log, and crash-*,
# timeout-*, oom-* inputs), one process at nice 10. MBC_FUZZ_NO_BUILD=1 skips the build.
# Prints target, seconds, executions and crashes; exits 1 when a target crashed.
set -euo pipefail
targets=(idx cifar mat jpeg-folder safetensors yaml-config)
usage() { echo "usage: launch/fuzz.sh TARGET|all SECONDS, or launch/fuzz.sh build (targets: ${targets[*]})" >&2; exit 2; }
[ $# -ge 1 ] || usage
here=$(cd "$(dirname "$0")/.." && pwd)

build() {
    # -sanitize=fuzzer,address for every Swift module (coverage and ASan, the readers' too);
    # --sanitize=fuzzer makes SwiftPM link libFuzzer's main and instrument the C targets.
    # -enable-testing lets the targets call the readers' internal entry points.
    (cd "$here/fuzz" && swift build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address \
        -Xswiftc -enable-testing >&2)
}

if [ "$1" = build ]; then build; exit 0; fi
[ $# -eq 2 ] || usage
case "$2" in ''|*[!0-9]*|0) echo "launch/fuzz.sh: SECONDS is a whole number above 0, not '$2'" >&2; exit 2 ;; esac
seconds=$2
if [ "$1" = all ]; then
    chosen=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $1 "* ]]; then
    chosen=("$1")
else
    echo "launch/fuzz.sh: no fuzz target '$1'; the targets are: ${targets[*]}, or all" >&2
    exit 2
fi
[ "${MBC_FUZZ_NO_BUILD:-}" = 1 ] || build

# The Swift runtime's backtracer would catch a trap before libFuzzer saves the input.
export SWIFT_BACKTRACE=enable=no
printf '%-12s %8s %12s %8s\n' target seconds executions crashes
failed=0
for target in "${chosen[@]}"; do
    out="$here/runs/fuzz/$target"
    mkdir -p "$out/corpus"
    touch "$out/started"
    status=0
    # Inputs up to 64 KiB (a config's limit; the seeds are a few KB), at most 2 GiB resident, 30 s an input.
    nice -n 10 "$here/fuzz/.build/release/fuzz-$target" "$out/corpus" "$here/fuzz/corpus/$target" \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=30 \
        -artifact_prefix="$out/" -print_final_stats=1 > "$out/log" 2>&1 || status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -1)
    crashes=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -newer "$out/started" | wc -l)
    printf '%-12s %8s %12s %8s\n' "$target" "$seconds" "${executions:-?}" "$crashes"
    if [ "$status" -ne 0 ] || [ "$crashes" -gt 0 ]; then
        failed=1
        echo "launch/fuzz.sh: $target stopped with status $status; see $out/log and the input it saved in $out/" >&2
    fi
done
exit "$failed"
