#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS seconds, one after the
# other, on one core:
#
#   bash fuzz/run.sh SECONDS [TARGET...]      (default: every target)
#
# Needs a nightly toolchain (rustup toolchain install nightly); installs
# cargo-fuzz with `cargo install cargo-fuzz --locked` when it is missing
# (about a minute). Before fuzzing, every checked-in regression input under
# fuzz/regressions/TARGET/ is replayed. Each run starts from the checked-in
# seeds (fuzz/seeds/TARGET/) plus what earlier runs kept in fuzz/corpus/TARGET/
# (not checked in). A crash leaves its input in fuzz/artifacts/TARGET/ and
# makes the script exit 1 after the remaining targets ran; the full libFuzzer
# log of each run is in fuzz/logs/TARGET.log. See fuzz/README.md.
set -euo pipefail

usage() {
    echo "usage: $0 SECONDS [TARGET...]   (targets: ${ALL_TARGETS[*]})" >&2
    exit 2
}

ALL_TARGETS=(frame_decode protocol_endpoint config http_head ws_frames)
[[ $# -ge 1 && $1 =~ ^[0-9]+$ ]] || usage
SECONDS_PER_TARGET=$1
shift
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2; usage; }
done

cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    start=$(date +%s)
    cargo install cargo-fuzz --locked
    echo "cargo-fuzz installed in $(($(date +%s) - start)) s"
fi

# Release build with debug assertions (overflow checks) and AddressSanitizer:
# cargo-fuzz's default.
echo "== cargo fuzz build ${TARGETS[*]}"
for t in "${TARGETS[@]}"; do
    cargo +nightly fuzz build "$t"
done
HOST=$(rustc +nightly -vV | sed -n 's/^host: //p')
BIN_DIR="$FUZZ_DIR/target/$HOST/release"

# Per-target libFuzzer options. -max_len bounds one input; frame_decode also
# gets a small malloc limit, so a length field that made the decoder
# allocate what it claims would be a crash (http_head counts its heap
# itself).
options() {
    case $1 in
        frame_decode) echo "-max_len=8192 -malloc_limit_mb=64" ;;
        protocol_endpoint) echo "-max_len=8192" ;;
        config) echo "-max_len=16384 -dict=$FUZZ_DIR/dicts/config.dict" ;;
        # Room for a head past MAX_HEAD (8 KiB) plus the path and chunk sizes.
        http_head) echo "-max_len=12288 -dict=$FUZZ_DIR/dicts/http_head.dict" ;;
    esac
}

failed=()
summary=()
mkdir -p logs

echo "== replaying fuzz/regressions"
for t in "${TARGETS[@]}"; do
    dir=regressions/$t
    [[ -d $dir ]] || continue
    mapfile -t inputs < <(find "$dir" -type f | sort)
    [[ ${#inputs[@]} -gt 0 ]] || continue
    # shellcheck disable=SC2046
    if "$BIN_DIR/$t" $(options "$t") -rss_limit_mb=2048 -timeout=10 "${inputs[@]}" >"logs/$t.regressions.log" 2>&1; then
        echo "$t: ${#inputs[@]} regression input(s) pass"
    else
        echo "$t: a regression input fails again; see fuzz/logs/$t.regressions.log" >&2
        tail -n 30 "logs/$t.regressions.log" >&2
        failed+=("$t (regression)")
    fi
done

for t in "${TARGETS[@]}"; do
    echo "== fuzzing $t for ${SECONDS_PER_TARGET}s"
    mkdir -p "corpus/$t" "artifacts/$t"
    log=logs/$t.log
    status=0
    # The first directory is the corpus libFuzzer adds to; the seeds are
    # only read. One process, one job: other work shares the machine.
    # shellcheck disable=SC2046
    "$BIN_DIR/$t" "corpus/$t" "seeds/$t" \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" $(options "$t") \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
    line="$t: ${execs:-?} execs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} (units/size)"
    if [[ $status -ne 0 ]]; then
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        grep -E "panicked at|^SUMMARY|ERROR: libFuzzer" "$log" | head -n 5 >&2 || true
        line="$line -- FAILED (exit $status), input: fuzz/${artifact:-artifacts/$t/}"
        failed+=("$t")
    fi
    echo "$line"
    summary+=("$line")
done

echo "== fuzz summary (${SECONDS_PER_TARGET}s per target; logs in fuzz/logs/)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: failures in: ${failed[*]}" >&2
    echo "reproduce: cd fuzz && cargo +nightly fuzz run TARGET INPUT; see fuzz/README.md" >&2
    exit 1
fi
