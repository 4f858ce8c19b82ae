#!/usr/bin/env bash
# test/fuzz/run.sh [OUTPUT_DIR]: builds the libFuzzer harness for the rule
# compiler (src/rule_parser.c) with AddressSanitizer and UBSan, and fuzzes
# it for FUZZ_SECONDS seconds (default 30) starting from a copy of
# test/fuzz/corpus. Ends with the line "fuzz rule_compile ... ok" and exit
# status 0, or "fuzz rule_compile ... FAILED" and exit status 1.
#
# OUTPUT_DIR (default tmp_check/fuzz in the checkout) receives the binary,
# the working corpus (the seeds plus what the fuzzer found), fuzz.log and,
# after a failure, the input that caused it under artifacts/. The seeds in
# test/fuzz/corpus are only read.
#
# Needs the Debian packages clang, libclang-rt-dev (libFuzzer and the
# sanitizer runtimes) and libcjson-dev. Runs as any user that can write
# OUTPUT_DIR, root or postgres included.
set -u

# finish STATUS: prints the result line that scripts/run-tests.sh counts and
# exits with STATUS.
finish() {
    if [ "$1" -eq 0 ]; then
        echo "fuzz rule_compile ... ok"
    else
        echo "fuzz rule_compile ... FAILED"
    fi
    exit "$1"
}

# The whole script is one function, so bash reads all of it before it runs
# anything, and an edit of this file during a run does not change that run.
main() {
    ROOT=$(cd "$(dirname "$0")/../.." && pwd)
    OUT=${1:-$ROOT/tmp_check/fuzz}
    SECONDS_TO_RUN=${FUZZ_SECONDS:-30}
    FUZZ_DIR=$ROOT/test/fuzz

    case $SECONDS_TO_RUN in
        '' | *[!0-9]*)
            echo "FUZZ_SECONDS must be a whole number of seconds, not \"$SECONDS_TO_RUN\"" >&2
            finish 1
            ;;
    esac

    if ! command -v clang >/dev/null 2>&1; then
        echo "clang not found: install the Debian package clang" >&2
        finish 1
    fi
    if ! ls "$(clang -print-runtime-dir)"/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
        echo "libFuzzer not found in $(clang -print-runtime-dir): install the Debian package libclang-rt-dev" >&2
        finish 1
    fi
    if ! echo '#include <cjson/cJSON.h>' | clang -E -x c - >/dev/null 2>&1; then
        echo "cjson/cJSON.h not found: install the Debian package libcjson-dev" >&2
        finish 1
    fi

    if ! mkdir -p "$OUT/corpus" "$OUT/artifacts"; then
        echo "failed to create $OUT: pass a writable directory as the first argument" >&2
        finish 1
    fi
    OUT=$(cd "$OUT" && pwd)

    echo "== fuzz rule_compile: building $OUT/rule_compile_fuzz =="
    if ! clang -g -O1 -Wall -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I "$ROOT/src" \
        "$FUZZ_DIR/rule_compile_fuzz.c" "$ROOT/src/rule_parser.c" -lcjson \
        -o "$OUT/rule_compile_fuzz"; then
        echo "building the fuzz harness failed" >&2
        finish 1
    fi

    # The fuzzer adds the inputs it finds to the working copy, never to the seeds.
    cp "$FUZZ_DIR"/corpus/* "$OUT/corpus/" || finish 1

    echo "== fuzz rule_compile: running for $SECONDS_TO_RUN s, log in $OUT/fuzz.log =="
    # -max_len lets inputs reach the compiler's limits (1000 condition nodes,
    # strings of 4000 bytes).
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
        "$OUT/rule_compile_fuzz" \
        -max_total_time="$SECONDS_TO_RUN" -timeout=5 -rss_limit_mb=2048 \
        -max_len=16384 -dict="$FUZZ_DIR/rule_compile.dict" \
        -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 \
        "$OUT/corpus" >"$OUT/fuzz.log" 2>&1
    status=$?

    # The run's summary: the last coverage line and the final statistics.
    grep -E '^#[0-9]+' "$OUT/fuzz.log" | tail -n 1
    grep -E '^Done [0-9]+ runs|^stat::' "$OUT/fuzz.log"
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$OUT/fuzz.log"
        # libFuzzer names the file it wrote the failing input to.
        sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$OUT/fuzz.log" |
            while read -r artifact; do
                echo "failing input: $artifact"
                echo "reproduce with: $OUT/rule_compile_fuzz $artifact"
            done
        finish 1
    fi
    finish 0
}

main "$@"
