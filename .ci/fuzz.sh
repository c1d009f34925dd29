#!/usr/bin/env bash
# Short fuzzing pass over the fuzz targets (frame layer and sessions), from the committed seed
# corpora.
#
#   .ci/fuzz.sh                 # every target, FUZZ_SECONDS (default 30) each
#   FUZZ_SECONDS=120 .ci/fuzz.sh parse_frame
#
# Needs the nightly toolchain (cargo-fuzz builds with -Zsanitizer=address). Installs
# cargo-fuzz if it is missing. Fails (exit 1) on any crash, leak, timeout or OOM, printing
# the reproducer path under fuzz/artifacts/<target>/. New corpus entries go to a scratch
# directory under fuzz/corpus/ (gitignored); fuzz/seeds/ is never modified.
set -euo pipefail

cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(parse_frame roundtrip chunked_decode unescape client_session server_session)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
    echo "fuzz.sh: the $TOOLCHAIN toolchain is required (rustup toolchain install $TOOLCHAIN)" >&2
    exit 1
fi

# Build every target once, up front, so build errors are reported as such.
for t in "${TARGETS[@]}"; do
    cargo "+$TOOLCHAIN" fuzz build "$t"
done

failed=()
for t in "${TARGETS[@]}"; do
    scratch="fuzz/corpus/ci-$t"
    rm -rf "$scratch"
    mkdir -p "$scratch"
    echo "fuzz.sh: $t for ${FUZZ_SECONDS}s" >&2
    # The scratch corpus comes first: libFuzzer writes new inputs there, and only reads the
    # seeds.
    if ! cargo "+$TOOLCHAIN" fuzz run "$t" "$scratch" "fuzz/seeds/$t" -- \
        -dict=fuzz/stomp.dict \
        -max_total_time="$FUZZ_SECONDS" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -print_final_stats=1 2>"fuzz/corpus/ci-$t.log"; then
        failed+=("$t")
        echo "fuzz.sh: $t FAILED; last lines of its log:" >&2
        tail -n 40 "fuzz/corpus/ci-$t.log" >&2
    else
        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units)' "fuzz/corpus/ci-$t.log" >&2 || true
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: all ${#TARGETS[@]} targets clean" >&2
