#!/usr/bin/env bash
# Builds Fuzz/.build/debug/WireFuzzer with libFuzzer and AddressSanitizer. Debug configuration on
# purpose: ChatCore's CHAT_INTERNAL_CHECKS (tree and history invariants) are compiled in, so a
# decoder that accepts an inconsistent state traps instead of passing silently. Installs nothing.
set -euo pipefail
cd "$(dirname "$0")"
# One combined -sanitize flag: swiftc keeps only the last -sanitize=, so SwiftPM's
# `--sanitize=fuzzer --sanitize=address` would silently build without coverage instrumentation.
# ld.gold prints a warning per ASan helper symbol; keep the rest of the output.
swift build -c debug --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address --product WireFuzzer 2>&1 \
    | grep -v "Cannot export local symbol '__asan_"
