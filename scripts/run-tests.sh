#!/usr/bin/env bash
# make test: builds and installs pg_success, starts a throwaway cluster in
# tmp_check/, runs every suite (pg_regress, the rule compiler fuzzer,
# isolation, TAP), stops the cluster even on failure, and ends with one
# line "N passed, N failed".
#
# Environment: PGPORT_TEST (default 55432) is the cluster's port;
# SUITES (default "regress fuzz isolation tap") selects suites; TEST_WORK_DIR
# (default tmp_check) is where the cluster and the results go; FUZZ_SECONDS
# (default 30) is how long the fuzz suite runs.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/cluster.sh"

SUITES=${SUITES:-"regress fuzz isolation tap"}
PASSED=0
FAILED=0

trap stop_cluster EXIT

install_packages || exit 1
build_and_install || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
prepare_work_dir "${TEST_WORK_DIR:-$ROOT/tmp_check}"
start_cluster "${PGPORT_TEST:-55432}" || { echo "0 passed, 1 failed"; exit 1; }

# count_results LOG STATUS: adds the "... ok" and "... FAILED" lines that
# pg_regress and pg_isolation_regress print per test to the totals. A run
# that exited non-zero without naming a failed test (it aborted) counts as
# one failure.
count_results() {
    local ok failed
    ok=$(grep -cE '\.\.\. ok' "$1")
    failed=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$1")
    if [ "$2" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1
    fi
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + failed))
}

run_regress() {
    local tests
    tests=$(cd "$SOURCE_DIR/sql" && ls *.sql | sed 's/\.sql$//' | sort)
    as_postgres mkdir -p "$WORK_DIR/regress"
    echo "== pg_regress =="
    as_postgres createdb pg_success_regress
    as_postgres "$PGXS_DIR/src/test/regress/pg_regress" \
        --use-existing --host="$PGHOST" --port="$PGPORT" \
        --inputdir="$SOURCE_DIR" --outputdir="$WORK_DIR/regress" \
        --dbname=pg_success_regress $tests 2>&1 | tee "$WORK_DIR/regress.log"
    count_results "$WORK_DIR/regress.log" "${PIPESTATUS[0]}"
    [ -f "$WORK_DIR/regress/regression.diffs" ] && cp "$WORK_DIR/regress/regression.diffs" "$ROOT/regression.diffs" 2>/dev/null
}

# run_fuzz: fuzzes the rule compiler (test/fuzz/run.sh), which needs no
# cluster. It runs as the calling user from the checkout, because the copy
# made for the postgres user contains no src/.
run_fuzz() {
    echo "== fuzz =="
    "$ROOT/test/fuzz/run.sh" "$WORK_DIR/fuzz" 2>&1 | tee "$WORK_DIR/fuzz.log"
    count_results "$WORK_DIR/fuzz.log" "${PIPESTATUS[0]}"
}

run_isolation() {
    local specs
    specs=$(cd "$SOURCE_DIR/test/isolation/specs" 2>/dev/null && ls *.spec 2>/dev/null | sed 's/\.spec$//' | sort)
    [ -n "$specs" ] || return 0
    as_postgres mkdir -p "$WORK_DIR/isolation"
    echo "== isolation =="
    as_postgres createdb pg_success_isolation
    as_postgres "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
        --use-existing --host="$PGHOST" --port="$PGPORT" \
        --inputdir="$SOURCE_DIR/test/isolation" --outputdir="$WORK_DIR/isolation" \
        --dbname=pg_success_isolation $specs 2>&1 | tee "$WORK_DIR/isolation.log"
    count_results "$WORK_DIR/isolation.log" "${PIPESTATUS[0]}"
}

run_tap() {
    local ok failed
    ls "$SOURCE_DIR"/test/t/*.pl >/dev/null 2>&1 || return 0
    as_postgres mkdir -p "$WORK_DIR/tap"
    echo "== TAP =="
    (cd "$SOURCE_DIR/test" && as_postgres env \
        PERL5LIB="$PGXS_DIR/src/test/perl:$SOURCE_DIR/test/perl" \
        TESTDIR="$WORK_DIR/tap" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
        PGHOST= PGPORT= SOURCE_DIR="$SOURCE_DIR" \
        prove -v t/*.pl) 2>&1 | tee "$WORK_DIR/tap.log"
    ok=$(grep -cE '^ *ok [0-9]+' "$WORK_DIR/tap.log")
    failed=$(grep -cE '^ *not ok [0-9]+' "$WORK_DIR/tap.log")
    # A script that died before its plan counts as one failure.
    if grep -qE '^Result: FAIL' "$WORK_DIR/tap.log" && [ "$failed" -eq 0 ]; then
        failed=1
    fi
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + failed))
}

for suite in $SUITES; do
    "run_$suite"
done

stop_cluster
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
