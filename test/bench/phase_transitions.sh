#!/usr/bin/env bash
# Benchmark of cs.run_phase_transitions against a hand-written single SQL
# statement that makes the same phase moves, on generated accounts.
#
# Loads BENCH_ACCOUNTS accounts (default 1000000) into a seed database, then
# times each variant BENCH_REPEATS times (default 1), every time on a fresh
# copy of the seed database, and prints the median of each variant. The
# variants are:
#   c_function        cs.run_phase_transitions with the default journey. It
#                     also assigns a CSM to every account that leaves
#                     Onboarding and writes cs.owner_history.
#   c_function_keep   cs.run_phase_transitions after owner_role is set to
#                     NULL on Adoption and Value, so owner assignment finds
#                     no account to assign.
#   hand_written      one UPDATE ... FROM a recursive CTE that also writes
#                     cs.phase_history, with the account triggers of the
#                     extension disabled. Foreign keys are still checked.
#
# With one million accounts on a 2-core VM (docs/benchmarks.md), the load
# took 4 to 4.5 minutes and one repeat of the three variants 6 to 7.5, so
# even the default of one repeat ran for 10 to 12.5 minutes. Each further
# repeat adds 6 to 8 minutes, and leaving out c_function_keep saves 1.5 to
# 2 minutes per repeat.
#
# Environment:
#   BENCH_ACCOUNTS   number of accounts to generate
#   BENCH_REPEATS    runs per variant
#   BENCH_VARIANTS   variants to time, separated by spaces (default: all)
#   BENCH_WORK_DIR   directory for the cluster and the logs (default
#                    tmp_bench in the checkout)
#   PGPORT_BENCH     port of the cluster on 127.0.0.1 (default 55434)
#   BENCH_EXPLAIN=1  also runs cs.run_phase_transitions once more with
#                    auto_explain and writes the plan, row counts, times and
#                    trigger times of each statement it runs that takes
#                    500 ms or more to BENCH_WORK_DIR/plans.txt
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/cluster.sh"

ACCOUNTS=${BENCH_ACCOUNTS:-1000000}
REPEATS=${BENCH_REPEATS:-1}
AS_OF='2026-12-01 00:00:00+00'
ALL_VARIANTS="c_function c_function_keep hand_written"
VARIANTS=${BENCH_VARIANTS:-$ALL_VARIANTS}
SEED_DB=bench_seed
RUN_DB=bench_run

# Every session works in UTC, so that "+ interval '30 days'" is 720 hours
# and the share of due accounts does not depend on the server's time zone.
export PGTZ=UTC

# Account g falls into group g % 3: 0 stays in Onboarding, 1 is due for one
# move (to Adoption), 2 is due for two moves (through Adoption to Value).
STAY_COUNT=$((ACCOUNTS / 3))
ONE_MOVE_COUNT=$(((ACCOUNTS + 2) / 3))
TWO_MOVES_COUNT=$(((ACCOUNTS + 1) / 3))
EXPECTED_MOVED=$((ONE_MOVE_COUNT + TWO_MOVES_COUNT))
EXPECTED_HISTORY=$((ONE_MOVE_COUNT + 2 * TWO_MOVES_COUNT))
EXPECTED_PHASES="Onboarding=$STAY_COUNT Adoption=$ONE_MOVE_COUNT Value=$TWO_MOVES_COUNT"

FAILURES=0

for variant in $VARIANTS; do
    case " $ALL_VARIANTS " in
        *" $variant "*) ;;
        *)
            echo "invalid variant in BENCH_VARIANTS: $variant (expected some of: $ALL_VARIANTS)" >&2
            exit 1
            ;;
    esac
done

trap stop_cluster EXIT

# run_sql DB [PSQL_ARGS...]: runs psql as the postgres OS user on DB, with
# unaligned output, stopping at the first error.
run_sql() {
    local db=$1
    shift
    as_postgres psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 \
        -v as_of="$AS_OF" -v accounts="$ACCOUNTS" -d "$db" "$@"
}

# fail MESSAGE: reports a failed check. The script goes on and exits with
# status 1 at the end.
fail() {
    echo "FAILED: $*" >&2
    FAILURES=$((FAILURES + 1))
}

# check_equal WHAT ACTUAL EXPECTED: reports a failed check unless equal.
check_equal() {
    if [ "$2" != "$3" ]; then
        fail "$1: got '$2', expected '$3'"
    fi
}

# Put around a statement, these psql lines set :elapsed_ms to its wall-clock
# time in milliseconds. psql runs in autocommit, so the commit is included.
TIMER_START="SELECT extract(epoch FROM clock_timestamp()) AS timer_start \\gset"
TIMER_STOP="SELECT round((extract(epoch FROM clock_timestamp()) - :timer_start) * 1000) AS elapsed_ms \\gset"

# The hand-written statement: walks each due account through every phase
# whose max_duration has ended by as_of, writes one cs.phase_history row
# per step at the time the step was due, and sets the last phase reached.
# Unlike cs.run_phase_transitions it does not re-check accounts changed by
# concurrent transactions, takes no advisory lock and assigns no owners.
read -r -d '' HAND_WRITTEN_SQL <<'SQL'
WITH RECURSIVE step AS (
    SELECT a.account_id,
           1 AS step_number,
           a.phase_id AS from_phase_id,
           p.next_phase_id AS to_phase_id,
           a.phase_entered_at + p.max_duration AS due_at,
           p.name AS from_name
    FROM cs.account AS a
    JOIN cs.phase AS p ON p.phase_id = a.phase_id
    WHERE a.status = 'active'
      AND p.next_phase_id IS NOT NULL
      AND a.phase_entered_at + p.max_duration <= :'as_of'
    UNION ALL
    SELECT s.account_id,
           s.step_number + 1,
           s.to_phase_id,
           p.next_phase_id,
           s.due_at + p.max_duration,
           p.name
    FROM step AS s
    JOIN cs.phase AS p ON p.phase_id = s.to_phase_id
    WHERE p.next_phase_id IS NOT NULL
      AND s.due_at + p.max_duration <= :'as_of'
),
final_step AS (
    SELECT DISTINCT ON (s.account_id) s.account_id, s.to_phase_id, s.due_at
    FROM step AS s
    ORDER BY s.account_id, s.step_number DESC
),
history AS (
    INSERT INTO cs.phase_history
        (account_id, changed_at, from_phase_id, to_phase_id, changed_by, reason)
    SELECT s.account_id, s.due_at, s.from_phase_id, s.to_phase_id,
           'phase_transition', format('max_duration of %s reached', s.from_name)
    FROM step AS s
    ORDER BY s.account_id, s.step_number
),
moved AS (
    UPDATE cs.account AS a
    SET phase_id = f.to_phase_id,
        phase_entered_at = f.due_at
    FROM final_step AS f
    WHERE a.account_id = f.account_id
    RETURNING a.account_id
)
SELECT count(*) AS moved FROM moved
SQL

C_FUNCTION_SQL="SELECT cs.run_phase_transitions(:'as_of') AS moved"

# Untimed set-up per variant, run in the fresh copy before the timer starts.
setup_sql() {
    case $1 in
        c_function) echo "" ;;
        c_function_keep)
            echo "UPDATE cs.phase SET owner_role = NULL WHERE name IN ('Adoption', 'Value')" ;;
        hand_written)
            echo "ALTER TABLE cs.account DISABLE TRIGGER account_before_write, DISABLE TRIGGER account_after_update" ;;
    esac
}

statement_sql() {
    case $1 in
        hand_written) echo "$HAND_WRITTEN_SQL" ;;
        *) echo "$C_FUNCTION_SQL" ;;
    esac
}

# Prints how many accounts a CSM owns after VARIANT ran.
expected_csm_owned() {
    case $1 in
        c_function) echo "$EXPECTED_MOVED" ;;
        *) echo 0 ;;
    esac
}

# median: prints the median of the numbers on standard input.
median() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# seconds MILLISECONDS: prints the time in seconds, or n/a for no value.
seconds() {
    awk -v ms="$1" 'BEGIN { if (ms == "n/a" || ms == "") print "n/a"; else printf "%.2f", ms / 1000 }'
}

print_machine() {
    echo "== machine =="
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- src schema 2>/dev/null || echo ' with uncommitted changes in src or schema')"
    echo "CPUs (nproc): $(nproc)"
    echo "CPU: $(lscpu | sed -n 's/^Model name: *//p')"
    echo "memory: $(free -h | awk '/^Mem:/ { print $2 }')"
    run_sql postgres -c "SELECT version()"
    run_sql postgres -c "SELECT name || ' = ' || setting || coalesce(' ' || unit, '')
        FROM pg_settings
        WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers',
                       'work_mem', 'maintenance_work_mem', 'max_wal_size', 'jit')
        ORDER BY name"
}

# load_seed: creates the seed database with the extension, a team without
# capacity limits, and the accounts. The account triggers place each new
# account in Onboarding, write its first cs.phase_history row and assign
# an onboarding specialist, which is part of the load time.
load_seed() {
    local timings load_ms vacuum_ms state

    echo "== load =="
    as_postgres createdb "$SEED_DB" || return 1
    run_sql "$SEED_DB" -c "CREATE EXTENSION pg_success" || return 1

    timings=$(run_sql "$SEED_DB" <<SQL
INSERT INTO cs.team_member (name, email, role_name)
SELECT 'Onboarding specialist ' || i, 'onboarding' || i || '@bench.example', 'onboarding_specialist'
FROM generate_series(1, 3) AS i
UNION ALL
SELECT 'CSM ' || i, 'csm' || i || '@bench.example', 'csm'
FROM generate_series(1, 5) AS i;

$TIMER_START
INSERT INTO cs.account (external_id, name, segment, created_at)
SELECT 'bench-' || g,
       'Account ' || g,
       (ARRAY['smb', 'mid_market', 'enterprise'])[1 + g / 3 % 3],
       :'as_of'::timestamptz
         - CASE g % 3
               WHEN 0 THEN interval '1 day' + (g / 3 % 28) * interval '1 day'
               WHEN 1 THEN interval '31 days' + (g / 3 % 58) * interval '1 day'
               ELSE interval '91 days' + (g / 3 % 300) * interval '1 day'
           END
         - (g % 1440) * interval '1 minute'
FROM generate_series(1, :accounts) AS g;
$TIMER_STOP
SELECT :elapsed_ms;

$TIMER_START
VACUUM (ANALYZE);
$TIMER_STOP
SELECT :elapsed_ms;
CHECKPOINT;
SQL
    ) || return 1
    load_ms=$(echo "$timings" | sed -n 1p)
    vacuum_ms=$(echo "$timings" | sed -n 2p)

    state=$(run_sql "$SEED_DB" -c "
        SELECT count(*),
               count(*) FILTER (WHERE p.name = 'Onboarding'),
               count(*) FILTER (WHERE m.role_name = 'onboarding_specialist'),
               (SELECT count(*) FROM cs.phase_history),
               (SELECT count(*) FROM cs.owner_history)
        FROM cs.account AS a
        JOIN cs.phase AS p ON p.phase_id = a.phase_id
        LEFT JOIN cs.team_member AS m ON m.member_id = a.owner_id") || return 1
    check_equal "after load: accounts, in Onboarding, owned by an onboarding specialist, phase_history rows, owner_history rows" \
        "$state" "$ACCOUNTS $ACCOUNTS $ACCOUNTS $ACCOUNTS $ACCOUNTS"

    LOAD_MS=$load_ms
    VACUUM_MS=$vacuum_ms
    echo "loaded $ACCOUNTS accounts in $(seconds "$load_ms") s (INSERT ... SELECT with the account triggers)"
    echo "VACUUM (ANALYZE) of the seed database before timing: $(seconds "$vacuum_ms") s"
    run_sql "$SEED_DB" -c "
        SELECT c.relname || ': ' || pg_size_pretty(pg_total_relation_size(c.oid))
               || ', ' || c.reltuples::bigint || ' rows (pg_class.reltuples)'
        FROM pg_class AS c
        WHERE c.relnamespace = 'cs'::regnamespace
          AND c.relname IN ('account', 'phase_history', 'owner_history')
        ORDER BY c.relname"
}

# copy_seed: replaces the run database with a file copy of the seed
# database, so every run starts from the same files and statistics.
copy_seed() {
    run_sql postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $RUN_DB" \
        -c "CREATE DATABASE $RUN_DB TEMPLATE $SEED_DB STRATEGY FILE_COPY"
}

# run_variant VARIANT REPEAT: copies the seed database, times the variant's
# statement and checks its outcome. Appends "VARIANT MILLISECONDS" to the
# results file and, on the first repeat, keeps a checksum of the phase
# history it wrote.
run_variant() {
    local variant=$1 repeat=$2 output elapsed moved state checksum

    copy_seed || { fail "$variant run $repeat: copying the seed database failed"; return 1; }

    output=$(run_sql "$RUN_DB" <<SQL
$(setup_sql "$variant");
$TIMER_START
$(statement_sql "$variant") \gset
$TIMER_STOP
SELECT :elapsed_ms, :moved;
SQL
    ) || { fail "$variant run $repeat: statement failed"; return 1; }
    read -r elapsed moved <<<"$output"
    check_equal "$variant run $repeat: accounts moved" "$moved" "$EXPECTED_MOVED"

    state=$(run_sql "$RUN_DB" -c "
        SELECT string_agg(p.name || '=' || coalesce(c.accounts, 0), ' ' ORDER BY p.position)
        FROM cs.phase AS p
        LEFT JOIN (SELECT phase_id, count(*) AS accounts FROM cs.account GROUP BY phase_id) AS c
            ON c.phase_id = p.phase_id
        WHERE p.name IN ('Onboarding', 'Adoption', 'Value')" \
        -c "SELECT count(*) FROM cs.phase_history WHERE changed_by = 'phase_transition'" \
        -c "SELECT count(*) FROM cs.account AS a
            JOIN cs.team_member AS m ON m.member_id = a.owner_id
            WHERE m.role_name = 'csm'") || { fail "$variant run $repeat: reading the outcome failed"; return 1; }
    check_equal "$variant run $repeat: accounts per phase" "$(echo "$state" | sed -n 1p)" "$EXPECTED_PHASES"
    check_equal "$variant run $repeat: phase_history rows written" "$(echo "$state" | sed -n 2p)" "$EXPECTED_HISTORY"
    check_equal "$variant run $repeat: accounts owned by a CSM" "$(echo "$state" | sed -n 3p)" "$(expected_csm_owned "$variant")"

    # The checksum leaves out the reason, which is free text.
    if [ "$repeat" = 1 ]; then
        checksum=$(run_sql "$RUN_DB" -c "
            SELECT md5(string_agg(concat_ws(',', account_id, changed_at, from_phase_id,
                                            to_phase_id), ';'
                                  ORDER BY account_id, changed_at))
            FROM cs.phase_history
            WHERE changed_by = 'phase_transition'") || { fail "$variant run $repeat: checksum failed"; return 1; }
        echo "$variant $checksum" >>"$WORK_DIR/checksums.txt"
    fi

    echo "$variant $elapsed" >>"$WORK_DIR/results.txt"
    printf '%-16s run %s: %8s s, %s accounts moved\n' "$variant" "$repeat" "$(seconds "$elapsed")" "$moved"
}

# write_plans: runs cs.run_phase_transitions once more on a fresh copy with
# auto_explain, which logs the plan of every statement the function runs
# through SPI. The 500 ms threshold leaves out the foreign key checks, which
# run one query per row, but their total time is in the trigger lines of the
# statement that fired them.
write_plans() {
    copy_seed || return 1
    run_sql "$RUN_DB" >"$WORK_DIR/plans.txt" 2>&1 <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 500;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_triggers = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
SELECT cs.run_phase_transitions(:'as_of');
SQL
    echo "plans of the statements run by cs.run_phase_transitions: $WORK_DIR/plans.txt"
}

has_variant() {
    case " $VARIANTS " in
        *" $1 "*) return 0 ;;
        *) return 1 ;;
    esac
}

# median_ms VARIANT: prints the median time of the variant's runs.
median_ms() {
    awk -v v="$1" '$1 == v { print $2 }' "$WORK_DIR/results.txt" | median
}

print_results() {
    local variant

    echo "== results: median of $REPEATS run(s) per variant, $ACCOUNTS accounts, $EXPECTED_MOVED moved, $EXPECTED_HISTORY phase_history rows =="
    printf '%-16s %12s %s\n' variant "median (s)" "runs (s)"
    for variant in $VARIANTS; do
        printf '%-16s %12s %s\n' "$variant" "$(seconds "$(median_ms "$variant")")" \
            "$(awk -v v="$variant" '$1 == v { printf "%.2f ", $2 / 1000 }' "$WORK_DIR/results.txt")"
    done
    printf '%-16s %12s\n' "load" "$(seconds "$LOAD_MS")"
    printf '%-16s %12s\n' "vacuum_analyze" "$(seconds "$VACUUM_MS")"
    for variant in c_function c_function_keep; do
        if has_variant "$variant" && has_variant hand_written; then
            awk -v v="$variant" -v c="$(median_ms "$variant")" -v h="$(median_ms hand_written)" 'BEGIN {
                if (c == "n/a" || h == "n/a") printf "ratio %s / hand_written: n/a\n", v
                else printf "ratio %s / hand_written: %.2f\n", v, c / h }'
        fi
    done

    if [ "$(awk '{ print $2 }' "$WORK_DIR/checksums.txt" | sort -u | wc -l)" != 1 ]; then
        fail "the variants wrote different phase_history rows: $(tr '\n' ' ' <"$WORK_DIR/checksums.txt")"
    else
        echo "phase_history rows written by every variant are identical (md5 $(awk 'NR == 1 { print $2 }' "$WORK_DIR/checksums.txt"))"
    fi
}

install_packages || exit 1
build_and_install || { echo "build failed: run make in $ROOT to see the compiler output" >&2; exit 1; }
prepare_work_dir "${BENCH_WORK_DIR:-$ROOT/tmp_bench}"
start_cluster "${PGPORT_BENCH:-55434}" || exit 1
BENCH_STARTED=$(date +%s)

# An automation worker stays connected to every database that has the
# extension, and CREATE DATABASE ... TEMPLATE fails while the template has
# a connection. Limiting the workers to the postgres database, which never
# gets the extension, keeps them out of the benchmark databases. The
# setting is changed before CREATE EXTENSION, so no worker has started yet.
run_sql postgres -c "ALTER SYSTEM SET pg_success.databases = 'postgres'" \
    -c "SELECT pg_reload_conf()" >/dev/null || exit 1

print_machine
echo "load average before the load: $(cut -d ' ' -f 1-3 /proc/loadavg)"
load_seed || { fail "loading the seed database"; exit 1; }

echo "== runs =="
: >"$WORK_DIR/results.txt"
: >"$WORK_DIR/checksums.txt"
for repeat in $(seq 1 "$REPEATS"); do
    for variant in $VARIANTS; do
        run_variant "$variant" "$repeat"
    done
done

if [ "${BENCH_EXPLAIN:-0}" = 1 ]; then
    write_plans || fail "writing the plans"
fi

print_results
echo "load average at the end: $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "benchmark took $(($(date +%s) - BENCH_STARTED)) s after the cluster started"

stop_cluster
[ "$FAILURES" -eq 0 ]
