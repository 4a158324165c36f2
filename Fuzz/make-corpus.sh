#!/usr/bin/env bash
# Rebuilds the committed seed corpus in Fixtures/fuzz/corpus: the wire fixtures of
# Fixtures/wire/v2, each prefixed with the selector byte of the decoder it is for, plus the
# sequence states, snapshots, frames and ephemeral updates the fuzz binary generates
# (WIREFUZZER_WRITE_SEEDS).
# Installs nothing. Usage: Fuzz/make-corpus.sh
set -euo pipefail
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz_dir")"
wire="$root/Fixtures/wire/v2"
corpus="$root/Fixtures/fuzz/corpus"
mkdir -p "$corpus"

# Selector bytes: keep in step with FuzzTarget (Sources/ChatFuzzing/FuzzDispatch.swift).
with_selector() { # selector source destination [strip-signature]
    { printf "\\x$1"; if [ "${4:-}" = strip ]; then head -c -64 "$2"; else cat "$2"; fi; } > "$corpus/$3"
}
for batch in genesis alice-1 bob-0 sharing admitted-join; do
    with_selector 00 "$wire/$batch.batch" "batch-$batch"
    with_selector 05 "$wire/$batch.batch" "authenticate-$batch"
    with_selector 06 "$wire/$batch.batch" "signed-by-alice-$batch" strip
done
with_selector 01 "$wire/invite.token" "token-invite"
with_selector 02 "$wire/batches.frame" "frame-batches"
with_selector 02 "$wire/ephemeral.frame" "frame-ephemeral"
with_selector 02 "$wire/peers.frame" "frame-peers"
with_selector 02 "$wire/admission.frame" "frame-admission"

# frame-invitation and frame-admission-refused (selector 02: data frames 6 and 7 around the
# fixture conversation's id) are committed as is too.
# conversation-sharing (selector 07: a version 2 conversation snapshot with links, a decline
# and an access request) is committed as is; the fuzz binary does not regenerate it.
"$fuzz_dir/build.sh"
WIREFUZZER_WRITE_SEEDS="$corpus" "$fuzz_dir/.build/debug/WireFuzzer"
ls -l "$corpus"
