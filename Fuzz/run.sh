#!/usr/bin/env bash
# Builds the WireFuzzer harness and fuzzes StreamingChat's decoders for a bounded time.
#
#   Fuzz/run.sh                     60 seconds
#   FUZZ_SECONDS=600 Fuzz/run.sh    ten minutes
#   Fuzz/run.sh -seed=1             extra arguments go to libFuzzer
#   WIREFUZZER_TARGETS=3 Fuzz/run.sh   one decoder alone (selector bytes of FuzzTarget, comma-separated)
#
# Seeds: Fixtures/fuzz/corpus (committed) and Fixtures/fuzz/finds. New coverage-increasing
# inputs go to Fuzz/.build/fuzz-corpus (scratch, never committed); crash, timeout and OOM
# inputs go to Fixtures/fuzz/finds/, where FuzzFindsTests replays them. The log is kept in
# Fuzz/.build/fuzz-logs/. Installs nothing. Exits non-zero when libFuzzer reports a find.
set -euo pipefail
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz_dir")"
seconds="${FUZZ_SECONDS:-60}"
finds="$root/Fixtures/fuzz/finds"
scratch="$fuzz_dir/.build/fuzz-corpus"
logs="$fuzz_dir/.build/fuzz-logs"

"$fuzz_dir/build.sh"
mkdir -p "$finds" "$scratch" "$logs"
log="$logs/run-$(date -u +%Y%m%dT%H%M%SZ).log"
before="$(find "$finds" -maxdepth 1 -type f -name '*-*' ! -name '*.md' | wc -l)"

# Let libFuzzer and ASan report a trap (with a symbolized stack) rather than Swift's own
# backtracer, whose memory reads ASan reports as a second, spurious crash.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"

status=0
# -timeout: a single input taking 30 s in this debug + ASan build is a find (a decoder that can
# be made to do that much work is a denial-of-service bug). Leak checking stays on.
"$fuzz_dir/.build/debug/WireFuzzer" \
    -max_total_time="$seconds" \
    -max_len=65536 \
    -timeout="${FUZZ_TIMEOUT:-30}" \
    -dict="$fuzz_dir/wire.dict" \
    -artifact_prefix="$finds/" \
    -print_final_stats=1 \
    "$@" \
    "$scratch" "$root/Fixtures/fuzz/corpus" "$finds" 2>&1 | tee "$log" || status=$?

after="$(find "$finds" -maxdepth 1 -type f -name '*-*' ! -name '*.md' | wc -l)"
echo "log: $log"
if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
    echo "libFuzzer reported a find (exit status $status); inputs are in $finds" >&2
    exit "$(( status == 0 ? 1 : status ))"
fi
