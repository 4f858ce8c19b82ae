#!/usr/bin/env bash
# Benchmark of the rule triggers on cs.usage_daily: the time to insert
# DAYS x ACCOUNTS usage rows in one statement, with and without rules.
#
# Loads ACCOUNTS accounts (default 10000), one active contract each, and a
# source table of DAYS (default 20) days of usage per account, so the
# default run inserts 200,000 rows. Each run empties cs.usage_daily,
# cs.alert, cs.rule_firing and cs.rule_cooldown with TRUNCATE and times one
#   insert_select   INSERT INTO cs.usage_daily ... SELECT * FROM the source
#   copy            COPY cs.usage_daily FROM a file of the same rows
# in each of these cases:
#   bare              the C rule trigger usage_daily_rules_after_insert
#                     disabled, no enabled rule
#   zero_rules        the C rule trigger enabled, no enabled rule
#   no_match          100 enabled usage_recorded rules that match no row;
#                     20 of them combine a failing row fact with the query
#                     fact utilization in "all"
#   match             the 100 rules plus 5 that together match 1 % of the
#                     rows, each raising an alert of its own kind
#   plpgsql_no_match  the C rule trigger disabled, and a PL/pgSQL statement
#                     trigger that evaluates the 100 rules as SQL conditions
#   plpgsql_match     the same with the 105 rules. It writes the same alerts
#                     and cs.rule_firing rows as the C trigger.
# Each repeat runs every case but bare once per statement, each right
# after a run of bare, so the load on the machine changes little within a
# pair. The script prints the median wall-clock time and the median CPU
# time of the backend for each case, the ratio of each to the median of
# bare, and the median over the pairs of the ratio to bare.
#
# After every run it checks the number of usage rows, alerts and firings,
# and that no query fact was computed: the run's transaction made no scan
# of cs.contract or cs.usage_daily, which the utilization query reads. The
# match cases must write the same alerts and firings, by checksum.
#
# Run it as root: like "make test", it installs missing Debian packages,
# builds and installs the extension, and runs the cluster as the postgres
# OS user. It reads the backend's CPU time from /proc, so it runs on Linux
# only. On exit it stops the cluster and deletes its data directory and the
# COPY file; the logs, results.txt and any perf data stay in BENCH_WORK_DIR.
#
# Usage: test/bench/rules.sh [--quick]
#   --quick           smoke run: 1000 accounts, 5 days, 1 repeat, unless
#                     set below
# Environment:
#   ACCOUNTS          accounts to generate, at least 100
#   DAYS              days of usage per account, 1 to 100
#   BENCH_REPEATS     runs per case and statement (default 5). bare runs
#                     5 times as often.
#   BENCH_WORK_DIR    directory of the cluster, the COPY file and the logs
#                     (default tmp_bench_rules in the checkout)
#   PGPORT_BENCH      port of the cluster on 127.0.0.1 (default 55470)
#   BENCH_PLPGSQL_JIT jit setting of the PL/pgSQL trigger functions
#                     (default off; see load_data)
#   BENCH_PROFILE=1   after the timed runs, records the backend with
#                     "perf record -g" during 3 inserts in each case but
#                     zero_rules, and prints the functions with the
#                     largest share of samples and an estimate of each
#                     case's time over bare from the trigger's share
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/cluster.sh"

QUICK=0
for argument in "$@"; do
    case $argument in
        --quick) QUICK=1 ;;
        *)
            echo "invalid argument: $argument (expected: --quick)" >&2
            exit 1
            ;;
    esac
done

if [ "$QUICK" = 1 ]; then
    ACCOUNTS=${ACCOUNTS:-1000}
    DAYS=${DAYS:-5}
    REPEATS=${BENCH_REPEATS:-1}
else
    ACCOUNTS=${ACCOUNTS:-10000}
    DAYS=${DAYS:-20}
    REPEATS=${BENCH_REPEATS:-5}
fi
ROWS=$((ACCOUNTS * DAYS))
CLOCK_TICKS=$(getconf CLK_TCK)
DB=bench_rules
CASES="bare zero_rules no_match match plpgsql_no_match plpgsql_match"
STATEMENTS="insert_select copy"
FAILURES=0

# Each account matches at most once when DAYS <= 100 (see the usage
# source below), so every alert is raised once and the C trigger and the
# set-based PL/pgSQL trigger write the same rows.
if ! [ "$ACCOUNTS" -ge 100 ] 2>/dev/null || ! [ "$DAYS" -ge 1 ] 2>/dev/null ||
    ! [ "$DAYS" -le 100 ]; then
    echo "invalid ACCOUNTS=$ACCOUNTS or DAYS=$DAYS: ACCOUNTS must be at least 100 and DAYS between 1 and 100" >&2
    exit 1
fi
if ! [ "$REPEATS" -ge 1 ] 2>/dev/null; then
    echo "invalid BENCH_REPEATS=$REPEATS: expected a positive integer" >&2
    exit 1
fi

export PGTZ=UTC

cleanup() {
    stop_cluster
    if [ -n "${WORK_DIR:-}" ]; then
        rm -rf "$WORK_DIR/cluster" "$WORK_DIR/socket" "$WORK_DIR/usage.copy"
    fi
}
trap cleanup EXIT

# run_sql [PSQL_ARGS...]: runs psql as the postgres OS user on the benchmark
# database, with unaligned output, stopping at the first error.
run_sql() {
    as_postgres psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 \
        -v accounts="$ACCOUNTS" -v days="$DAYS" -v copy_file="$WORK_DIR/usage.copy" \
        -v plpgsql_jit="${BENCH_PLPGSQL_JIT:-off}" -v clock_ticks="$CLOCK_TICKS" \
        -d "$DB" "$@"
}

fail() {
    echo "FAILED: $*" >&2
    FAILURES=$((FAILURES + 1))
}

check_equal() {
    if [ "$2" != "$3" ]; then
        fail "$1: got '$2', expected '$3'"
    fi
}

print_machine() {
    echo "== machine =="
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- src schema 2>/dev/null || echo ' with uncommitted changes in src or schema')"
    echo "CPUs (nproc): $(nproc)"
    echo "CPU: $(lscpu | sed -n 's/^Model name: *//p')"
    echo "memory: $(free -h | awk '/^Mem:/ { print $2 }')"
    run_sql -c "SELECT version()"
    run_sql -c "SELECT name || ' = ' || setting || coalesce(' ' || unit, '')
        FROM pg_settings
        WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'work_mem', 'jit',
                       'shared_preload_libraries', 'pg_success.enabled')
        ORDER BY name"
}

# load_data: creates the accounts, their contracts, the usage source table
# and its COPY file, the 105 rules (all disabled) and the two PL/pgSQL
# triggers (disabled).
#
# Usage row (g, d) is account g on day d. It matches one of the 5 matching
# rules when (37 g + 11 d) mod 100 = 0: for each day that is one residue of
# g mod 100, a different one for each of days 1 to 100, so 1 % of the rows
# match when ACCOUNTS is a multiple of 100 and no account matches twice.
# Matching rows get events of 10,000,000 times the rule number (1 to 5,
# from the day) plus up to 999; other rows stay below 100,000.
load_data() {
    run_sql <<'SQL'
CREATE SCHEMA bench;

INSERT INTO cs.account (external_id, name, segment, created_at)
SELECT 'bench-' || g, 'Account ' || g, 'smb', timestamptz '2026-01-01 00:00+00'
FROM generate_series(1, :accounts) AS g;

INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses, term_months)
SELECT a.account_id, date '2026-01-01', date '2027-01-01', 12000, 100, 12
FROM cs.account AS a;

CREATE TABLE bench.usage_source AS
SELECT a.account_id,
       (date '2026-06-01' + (d - 1))::date AS day,
       (1 + (a.g * 7 + d) % 50)::integer AS active_users,
       (1 + (a.g * 7 + d) % 50 + a.g % 5)::integer AS licenses_used,
       (CASE WHEN (a.g * 37 + d * 11) % 100 = 0
             THEN (d % 5 + 1) * 10000000 + a.g % 1000
             ELSE (a.g * 13 + d * 101) % 100000
        END)::bigint AS events
FROM generate_series(1, :days) AS d
CROSS JOIN (SELECT account_id, substr(external_id, 7)::integer AS g FROM cs.account) AS a
ORDER BY d, a.g;

COPY bench.usage_source TO :'copy_file';

-- One line per rule: the condition as cs.rule stores it and the same
-- condition, facts and message as SQL over a row n of the transition
-- table, for the PL/pgSQL triggers. Rules 1 to 100 match no row: the
-- usage columns are at most 1,000 and events at most 60,000,000.
CREATE TABLE bench.rule_spec (
    rule_no       integer PRIMARY KEY,
    name          text NOT NULL,
    matching      boolean NOT NULL,
    kind          text NOT NULL,
    severity      text NOT NULL,
    condition     jsonb NOT NULL,
    message       text NOT NULL,
    sql_condition text NOT NULL,
    sql_facts     text NOT NULL,
    sql_message   text NOT NULL,
    rule_id       bigint
);

-- The utilization fact as SQL: licenses used on the account's latest
-- usage day up to today over the licenses of its active contracts.
\set utilization '(SELECT u.licenses_used::float8 / nullif((SELECT sum(c.licenses) FROM cs.contract AS c WHERE c.account_id = n.account_id AND c.status = ''active''), 0)::float8 FROM cs.usage_daily AS u WHERE u.account_id = n.account_id AND u.day <= current_date ORDER BY u.day DESC LIMIT 1)'

INSERT INTO bench.rule_spec
    (rule_no, name, matching, kind, severity, condition, message, sql_condition, sql_facts, sql_message)
SELECT i, format('bench rule %s', i), false, format('bench_rule_%s', i), 'medium',
       CASE
           WHEN i <= 40 THEN jsonb_build_object('fact', 'usage.active_users', 'gt', t)
           WHEN i <= 60 THEN jsonb_build_object('fact', 'usage.licenses_used', 'ge', t)
           WHEN i <= 70 THEN jsonb_build_object('fact', 'usage.events', 'between',
                                                jsonb_build_array(1000000000000 + i, 2000000000000))
           WHEN i <= 80 THEN jsonb_build_object('any', jsonb_build_array(
                                jsonb_build_object('fact', 'usage.active_users', 'eq', -i),
                                jsonb_build_object('fact', 'usage.events', 'in', jsonb_build_array(-i, -i - 1))))
           -- The query fact comes first here; the compiler puts row facts
           -- before query facts, so utilization is never computed.
           WHEN i <= 90 THEN jsonb_build_object('all', jsonb_build_array(
                                jsonb_build_object('fact', 'utilization', 'lt', 0.5),
                                jsonb_build_object('fact', 'usage.active_users', 'gt', t)))
           ELSE jsonb_build_object('all', jsonb_build_array(
                    jsonb_build_object('fact', 'usage.licenses_used', 'gt', t),
                    jsonb_build_object('fact', 'utilization', 'gt', 0.9)))
       END,
       format('bench rule %s fired', i),
       CASE
           WHEN i <= 40 THEN format('n.active_users > %s', t)
           WHEN i <= 60 THEN format('n.licenses_used >= %s', t)
           WHEN i <= 70 THEN format('n.events BETWEEN %s AND 2000000000000', 1000000000000 + i)
           WHEN i <= 80 THEN format('(n.active_users = %s OR n.events IN (%s, %s))', -i, -i, -i - 1)
           WHEN i <= 90 THEN format('(n.active_users > %s AND %s < 0.5)', t, :'utilization')
           ELSE format('(n.licenses_used > %s AND %s > 0.9)', t, :'utilization')
       END,
       CASE
           WHEN i <= 40 THEN 'jsonb_build_object(''usage.active_users'', n.active_users)'
           WHEN i <= 60 THEN 'jsonb_build_object(''usage.licenses_used'', n.licenses_used)'
           WHEN i <= 70 THEN 'jsonb_build_object(''usage.events'', n.events)'
           WHEN i <= 80 THEN 'jsonb_build_object(''usage.active_users'', n.active_users, ''usage.events'', n.events)'
           WHEN i <= 90 THEN format('jsonb_build_object(''utilization'', %s, ''usage.active_users'', n.active_users)', :'utilization')
           ELSE format('jsonb_build_object(''usage.licenses_used'', n.licenses_used, ''utilization'', %s)', :'utilization')
       END,
       quote_literal(format('bench rule %s fired', i))
FROM generate_series(1, 100) AS i,
     LATERAL (SELECT 1000000 + i AS t) AS threshold
UNION ALL
SELECT 100 + k, format('bench match %s', k), true, format('bench_match_%s', k), 'high',
       jsonb_build_object('fact', 'usage.events', 'between',
                          jsonb_build_array(k * 10000000, k * 10000000 + 999999)),
       'usage.events reached {{usage.events}}',
       format('n.events BETWEEN %s AND %s', k * 10000000, k * 10000000 + 999999),
       'jsonb_build_object(''usage.events'', n.events)',
       '''usage.events reached '' || n.events'
FROM generate_series(1, 5) AS k;

INSERT INTO cs.rule (name, event, condition, actions, enabled)
SELECT s.name, 'usage_recorded', s.condition,
       jsonb_build_array(jsonb_build_object('action', 'raise_alert', 'kind', s.kind,
                                            'severity', s.severity, 'message', s.message)),
       false
FROM bench.rule_spec AS s
ORDER BY s.rule_no;

UPDATE bench.rule_spec AS s SET rule_id = r.rule_id FROM cs.rule AS r WHERE r.name = s.name;

-- The PL/pgSQL triggers: one for rules 1 to 100 and one for rules 1 to
-- 105. Each keeps the rows of the transition table that meet any rule's
-- condition, lists the rules each of them meets, raises one alert per
-- account and kind with ON CONFLICT, and writes a cs.rule_firing row per
-- rule and row, with the facts and action outcome the C trigger records.
-- The rule's name and version come from cs.rule, like the C trigger's.
--
-- NOTE: two rows of one statement that raise the same alert are one
-- upsert here, so both firings say "created" where the C trigger says
-- "created" and then "updated". This benchmark's data raises each alert
-- once.
DO $generate$
DECLARE
    rule_count integer;
    branches text;
    any_condition text;
BEGIN
    FOREACH rule_count IN ARRAY ARRAY[100, 105] LOOP
        SELECT string_agg(format('SELECT %s::bigint AS rule_id, %L::text AS kind, %L::text AS severity, '
                                 '%s AS message, %s AS facts WHERE %s',
                                 s.rule_id, s.kind, s.severity, s.sql_message, s.sql_facts,
                                 s.sql_condition),
                          E'\n                UNION ALL ' ORDER BY s.rule_no),
               string_agg(s.sql_condition, E'\n           OR ' ORDER BY s.rule_no)
        INTO branches, any_condition
        FROM bench.rule_spec AS s
        WHERE s.rule_no <= rule_count;

        EXECUTE format($function$
CREATE FUNCTION bench.usage_rules_%1$s() RETURNS trigger
LANGUAGE plpgsql AS $body$
BEGIN
    WITH fired AS (
        SELECT n.account_id, n.day, m.rule_id, r.name AS rule_name, r.version AS rule_version,
               m.kind, m.severity, m.message, m.facts,
               count(*) OVER (PARTITION BY n.account_id, m.kind) AS raises
        FROM new_rows AS n
        CROSS JOIN LATERAL (
                %2$s
        ) AS m
        JOIN cs.rule AS r ON r.rule_id = m.rule_id
        WHERE %3$s
    ),
    alerts AS (
        INSERT INTO cs.alert AS al
            (account_id, kind, severity, message, rule_id, raised_count, opened_at, last_raised_at)
        SELECT DISTINCT ON (f.account_id, f.kind)
               f.account_id, f.kind, f.severity, f.message, f.rule_id, f.raises, now(), now()
        FROM fired AS f
        ORDER BY f.account_id, f.kind, f.day DESC
        ON CONFLICT (account_id, kind) WHERE status = 'open' DO UPDATE
        SET severity = excluded.severity, message = excluded.message,
            rule_id = excluded.rule_id, last_raised_at = excluded.last_raised_at,
            raised_count = al.raised_count + excluded.raised_count
        RETURNING al.account_id, al.kind, al.alert_id, al.raised_count
    )
    INSERT INTO cs.rule_firing
        (account_id, rule_id, rule_name, rule_version, event, subject_id, depth,
         facts, actions, fired_at, fired_by)
    SELECT f.account_id, f.rule_id, f.rule_name, f.rule_version, 'usage_recorded', NULL, 1,
           f.facts,
           jsonb_build_array(jsonb_build_object(
               'action', 'raise_alert',
               'result', CASE WHEN a.raised_count = f.raises THEN 'created' ELSE 'updated' END,
               'target', 'alert',
               'target_id', a.alert_id,
               'detail', format('%%s alert %%s: %%s', f.severity, f.kind, f.message))),
           now(), current_user
    FROM fired AS f
    JOIN alerts AS a ON a.account_id = f.account_id AND a.kind = f.kind;
    RETURN NULL;
END
$body$
$function$, rule_count, branches, any_condition);

        EXECUTE format('CREATE TRIGGER usage_rules_plpgsql_%1$s AFTER INSERT ON cs.usage_daily '
                       'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                       'EXECUTE FUNCTION bench.usage_rules_%1$s()', rule_count);
        EXECUTE format('ALTER TABLE cs.usage_daily DISABLE TRIGGER usage_rules_plpgsql_%s', rule_count);
    END LOOP;
END
$generate$;

-- The planner charges the 20 utilization subqueries to every row of the
-- transition table, although they run only for rows that pass the row
-- fact before them. With jit = on, that estimate passes the JIT cost
-- thresholds, and compiling the statement takes seconds (see
-- docs/benchmarks.md).
ALTER FUNCTION bench.usage_rules_100() SET jit = :'plpgsql_jit';
ALTER FUNCTION bench.usage_rules_105() SET jit = :'plpgsql_jit';

VACUUM (ANALYZE);
CHECKPOINT;
SQL
}

# case_setup_sql CASE: the untimed statements that put the triggers and
# the enabled rules in the state of CASE.
case_setup_sql() {
    local c_trigger=DISABLE plpgsql_trigger=none enabled_rules=0
    case $1 in
        bare) ;;
        zero_rules) c_trigger=ENABLE ;;
        no_match) c_trigger=ENABLE enabled_rules=100 ;;
        match) c_trigger=ENABLE enabled_rules=105 ;;
        plpgsql_no_match) plpgsql_trigger=100 enabled_rules=100 ;;
        plpgsql_match) plpgsql_trigger=105 enabled_rules=105 ;;
    esac
    cat <<SQL
ALTER TABLE cs.usage_daily
    $c_trigger TRIGGER usage_daily_rules_after_insert,
    $([ "$plpgsql_trigger" = 100 ] && echo ENABLE || echo DISABLE) TRIGGER usage_rules_plpgsql_100,
    $([ "$plpgsql_trigger" = 105 ] && echo ENABLE || echo DISABLE) TRIGGER usage_rules_plpgsql_105;
UPDATE cs.rule AS r SET enabled = s.rule_no <= $enabled_rules
FROM bench.rule_spec AS s
WHERE s.rule_id = r.rule_id AND r.enabled IS DISTINCT FROM (s.rule_no <= $enabled_rules);
SQL
}

statement_sql() {
    case $1 in
        insert_select)
            echo "INSERT INTO cs.usage_daily (account_id, day, active_users, licenses_used, events)
                  SELECT account_id, day, active_users, licenses_used, events FROM bench.usage_source;" ;;
        copy)
            echo "COPY cs.usage_daily (account_id, day, active_users, licenses_used, events) FROM :'copy_file';" ;;
    esac
}

# Scans of cs.contract, cs.usage_daily and their indexes that the session
# has not yet sent to the statistics system. The utilization query reads
# these tables, and nothing else in the timed statement does. The session
# sends its counts only between transactions, so the difference of two
# reads in one transaction counts the scans between them.
FACT_SCANS_SQL="SELECT (SELECT sum(pg_stat_get_xact_numscans(c.oid))
        FROM pg_class AS c
        WHERE c.oid IN ('cs.contract'::regclass, 'cs.usage_daily'::regclass)
           OR c.oid IN (SELECT i.indexrelid FROM pg_index AS i
                        WHERE i.indrelid IN ('cs.contract'::regclass, 'cs.usage_daily'::regclass)))"

# CPU time (user and system) that the session's backend has used, in
# milliseconds, read from /proc/self/stat of the backend. Fields 14 and 15
# are utime and stime in clock ticks. The comm field before them is in
# parentheses and may contain spaces, so the fields are counted from ") ".
CPU_MS_SQL="SELECT (SELECT (split_part(t.fields, ' ', 12)::bigint + split_part(t.fields, ' ', 13)::bigint)
               * 1000 / :clock_ticks
        FROM (SELECT substr(s.stat, strpos(s.stat, ') ') + 2) AS fields
              FROM pg_read_file('/proc/self/stat') AS s (stat)) AS t)"

expected_firings() {
    case $1 in
        match | plpgsql_match) echo "$EXPECTED_MATCHES" ;;
        *) echo 0 ;;
    esac
}

# run_case STATEMENT CASE REPEAT: empties the tables, times the statement
# in CASE and checks the outcome. It measures the wall-clock time from just
# before the statement to after COMMIT, which includes the commit and one
# read of the scan counters, and the backend's CPU time over a slightly
# longer span. The CPU time leaves out the time the backend waited for a CPU while
# other processes ran, but has a resolution of one clock tick (10 ms at
# the usual 100 ticks per second).
run_case() {
    local statement=$1 case_name=$2 repeat=$3 output elapsed cpu fact_scans state checksum

    output=$(run_sql <<SQL
$(case_setup_sql "$case_name")
TRUNCATE cs.usage_daily, cs.alert, cs.rule_firing, cs.rule_cooldown RESTART IDENTITY;
CHECKPOINT;
BEGIN;
$FACT_SCANS_SQL AS scans_before \gset
$CPU_MS_SQL AS cpu_before \gset
SELECT extract(epoch FROM clock_timestamp()) AS timer_start \gset
$(statement_sql "$statement")
$FACT_SCANS_SQL - :scans_before AS fact_scans \gset
COMMIT;
SELECT round(((extract(epoch FROM clock_timestamp()) - :timer_start) * 1000)::numeric, 1) AS elapsed_ms \gset
$CPU_MS_SQL - :cpu_before AS cpu_ms \gset
SELECT :elapsed_ms, :cpu_ms, :fact_scans;
SQL
    ) || { fail "$statement $case_name run $repeat: statement failed"; return 1; }
    read -r elapsed cpu fact_scans <<<"$output"
    check_equal "$statement $case_name run $repeat: scans of cs.contract and cs.usage_daily" "$fact_scans" 0

    state=$(run_sql -c "SELECT (SELECT count(*) FROM cs.usage_daily),
                               (SELECT count(*) FROM cs.alert),
                               (SELECT count(*) FROM cs.rule_firing)") ||
        { fail "$statement $case_name run $repeat: reading the outcome failed"; return 1; }
    check_equal "$statement $case_name run $repeat: usage rows, alerts, firings" "$state" \
        "$ROWS $(expected_firings "$case_name") $(expected_firings "$case_name")"

    # The checksums leave out ids and times, which differ between runs, and
    # check that each firing names the rule's current version: switching
    # rules on and off between cases raises the versions.
    if [ "$repeat" = 1 ] && [ "$(expected_firings "$case_name")" != 0 ]; then
        checksum=$(run_sql -c "
            SELECT md5((SELECT string_agg(concat_ws(',', account_id, kind, severity, message, status,
                                                    rule_id, raised_count), ';'
                                          ORDER BY account_id, kind)
                        FROM cs.alert)
                       || '|' ||
                       (SELECT string_agg(concat_ws(',', f.account_id, f.rule_id, f.rule_name,
                                                    f.rule_version = r.version, f.event, f.subject_id,
                                                    f.depth, f.facts, f.actions #- '{0,target_id}',
                                                    f.fired_by), ';'
                                          ORDER BY f.account_id, f.rule_id)
                        FROM cs.rule_firing AS f
                        LEFT JOIN cs.rule AS r ON r.rule_id = f.rule_id))") ||
            { fail "$statement $case_name run $repeat: checksum failed"; return 1; }
        echo "$statement $case_name $checksum" >>"$WORK_DIR/checksums.txt"
    fi

    echo "$statement $case_name $elapsed $cpu $repeat" >>"$WORK_DIR/results.txt"
    RUN_WALL=$elapsed
    RUN_CPU=$cpu
    printf '%-14s %-17s run %s: %9s ms, CPU %6s ms\n' "$statement" "$case_name" "$repeat" "$elapsed" "$cpu"
}

median() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# median_of STATEMENT CASE COLUMN: the median of a column of the results
# file, 3 for wall-clock time and 4 for CPU time.
median_of() {
    awk -v s="$1" -v c="$2" -v column="$3" '$1 == s && $2 == c { print $column }' \
        "$WORK_DIR/results.txt" | median
}

# paired_ratio STATEMENT CASE KIND: the median over the pairs of the
# ratio of CASE to the bare run just before it, of wall-clock or CPU time.
paired_ratio() {
    awk -v s="$1" -v c="$2" -v kind="$3" '
        $1 == s && $2 == c {
            bare = kind == "wall" ? $3 : $4
            value = kind == "wall" ? $5 : $6
            if (bare > 0) printf "%.3f\n", value / bare
        }' "$WORK_DIR/pairs.txt" | median
}

ratio() {
    awk -v c="$1" -v b="$2" 'BEGIN {
        if (c == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.3f", c / b }'
}

print_results() {
    local statement case_name bare_wall bare_cpu wall cpu

    echo "== results: medians of $REPEATS run(s) per case and $((REPEATS * 5)) of bare, $ROWS usage rows ($ACCOUNTS accounts x $DAYS days), $EXPECTED_MATCHES matching rows =="
    echo "\"/ bare\" divides the medians; \"paired\" is the median of the ratios to the bare run just before each run"
    for statement in $STATEMENTS; do
        bare_wall=$(median_of "$statement" bare 3)
        bare_cpu=$(median_of "$statement" bare 4)
        printf '%-14s %-17s %10s %7s %7s %10s %7s %7s  %s\n' statement case "wall (ms)" "/ bare" \
            "paired" "CPU (ms)" "/ bare" "paired" "wall-clock min-max (ms)"
        for case_name in $CASES; do
            wall=$(median_of "$statement" "$case_name" 3)
            cpu=$(median_of "$statement" "$case_name" 4)
            printf '%-14s %-17s %10s %7s %7s %10s %7s %7s  %s\n' "$statement" "$case_name" \
                "$wall" "$(ratio "$wall" "$bare_wall")" "$(paired_ratio "$statement" "$case_name" wall)" \
                "$cpu" "$(ratio "$cpu" "$bare_cpu")" "$(paired_ratio "$statement" "$case_name" cpu)" \
                "$(awk -v s="$statement" -v c="$case_name" '$1 == s && $2 == c { print $3 }' \
                    "$WORK_DIR/results.txt" | sort -n | sed -n '1p;$p' | paste -s -d '-')"
        done
    done

    if [ "$(awk '{ print $3 }' "$WORK_DIR/checksums.txt" | sort -u | wc -l)" != 1 ]; then
        fail "the match cases wrote different alerts or firings: $(tr '\n' ' ' <"$WORK_DIR/checksums.txt")"
    else
        echo "alerts and firings of every match case are identical (md5 $(awk 'NR == 1 { print $3 }' "$WORK_DIR/checksums.txt"))"
    fi
}

# profile_case CASE: records the backend with perf during 3 inserts in
# CASE, and prints the functions with the largest share of samples, by
# self time and with callees (children).
profile_case() {
    local case_name=$1 pid_file="$WORK_DIR/profile_$1.pid" data="$WORK_DIR/perf_$1.data"
    local psql_pid perf_pid backend_pid

    rm -f "$pid_file"
    run_sql >"$WORK_DIR/profile_$case_name.log" 2>&1 <<SQL &
$(case_setup_sql "$case_name")
TRUNCATE cs.usage_daily, cs.alert, cs.rule_firing RESTART IDENTITY;
SELECT pg_backend_pid() \g $pid_file
SELECT pg_sleep(2);
$(statement_sql insert_select)
TRUNCATE cs.usage_daily, cs.alert, cs.rule_firing RESTART IDENTITY;
$(statement_sql insert_select)
TRUNCATE cs.usage_daily, cs.alert, cs.rule_firing RESTART IDENTITY;
$(statement_sql insert_select)
SQL
    psql_pid=$!
    for _ in $(seq 1 50); do
        [ -s "$pid_file" ] && break
        sleep 0.1
    done
    backend_pid=$(tr -d ' \n' <"$pid_file" 2>/dev/null)
    if [ -z "$backend_pid" ]; then
        wait "$psql_pid"
        fail "profile of $case_name: no backend pid"
        return 1
    fi
    perf record -q -g -o "$data" -p "$backend_pid" >"$WORK_DIR/perf_record_$case_name.log" 2>&1 &
    perf_pid=$!
    wait "$psql_pid" || { kill -INT "$perf_pid"; wait "$perf_pid"; fail "profile of $case_name: statement failed"; return 1; }
    kill -INT "$perf_pid"
    wait "$perf_pid"

    # The Debian postgres binary has no symbols for its static functions,
    # so perf shows addresses in their place, in self times and in call
    # chains.
    echo "-- $case_name: functions by share of samples, self time (perf report --no-children), top 20 --"
    perf report -i "$data" --no-children --sort symbol --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -20
    echo "-- $case_name: shares with callees (perf report --children) --"
    perf report -i "$data" --children --sort symbol --stdio -g none 2>/dev/null >"$WORK_DIR/perf_children_$case_name.txt"
    grep -E '\] (AfterTriggerEndQuery|ExecInsertIndexTuples|heap_insert|tuplestore_puttupleslot|cs_rule_evaluate_changes|cs_rules_evaluate|cs_rule_condition_holds|cs_rule_fact_value|GetUserNameFromId|cs_rule_fire|cs_rule_facts_jsonb|BeginInternalSubTransaction|ReleaseCurrentSubTransaction|cs_rule_run_action|plpgsql_call_handler) ' \
        "$WORK_DIR/perf_children_$case_name.txt"

    # The rule trigger's share s of the samples estimates the case's time
    # over bare as 1 / (1 - s). The load on the machine moves this estimate
    # less than the timed runs, as long as the load slows all code alike.
    if [ "$case_name" != bare ]; then
        awk '$4 == "cs_rule_evaluate_changes" || $4 == "plpgsql_call_handler" {
                share = $1; sub("%", "", share)
                printf "estimate from the profile: %s has %.2f %% of the samples, so %s takes about %.3f times bare\n",
                    $4, share, case_name, 1 / (1 - share / 100) }' case_name="$case_name" \
            "$WORK_DIR/perf_children_$case_name.txt"
    fi
    if [ "$case_name" = no_match ] || [ "$case_name" = match ]; then
        echo "-- $case_name: self time of the functions that cs_rule_evaluate_changes calls, top 20 --"
        perf report -i "$data" --no-children --sort symbol --stdio -g none \
            -p cs_rule_evaluate_changes -x 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -20
    fi
}

install_packages || exit 1
build_and_install || { echo "build failed: run make in $ROOT to see the compiler output" >&2; exit 1; }
prepare_work_dir "${BENCH_WORK_DIR:-$ROOT/tmp_bench_rules}"
start_cluster "${PGPORT_BENCH:-55470}" || exit 1
BENCH_STARTED=$(date +%s)

as_postgres createdb "$DB" || exit 1
run_sql -c "CREATE EXTENSION pg_success" || exit 1
print_machine
echo "load average before the load: $(cut -d ' ' -f 1-3 /proc/loadavg)"

echo "== load =="
load_data || { fail "loading the data"; exit 1; }
EXPECTED_MATCHES=$(run_sql -c "SELECT count(*) FROM bench.usage_source WHERE events >= 10000000") || exit 1
check_equal "usage source rows" "$(run_sql -c "SELECT count(*) FROM bench.usage_source")" "$ROWS"
echo "$ACCOUNTS accounts with one active contract each, $ROWS usage rows in the source," \
    "$EXPECTED_MATCHES of them ($(awk -v m="$EXPECTED_MATCHES" -v r="$ROWS" 'BEGIN { printf "%.2f", 100 * m / r }') %) matching one of the 5 matching rules"
run_sql -c "SELECT count(*) || ' rules, ' || count(*) FILTER (WHERE enabled) || ' enabled' FROM cs.rule"

echo "== runs =="
: >"$WORK_DIR/results.txt"
: >"$WORK_DIR/pairs.txt"
: >"$WORK_DIR/checksums.txt"
for repeat in $(seq 1 "$REPEATS"); do
    echo "load average before repeat $repeat: $(cut -d ' ' -f 1-3 /proc/loadavg)"
    for statement in $STATEMENTS; do
        for case_name in $CASES; do
            [ "$case_name" = bare ] && continue
            run_case "$statement" bare "$repeat" || continue
            bare_wall=$RUN_WALL
            bare_cpu=$RUN_CPU
            run_case "$statement" "$case_name" "$repeat" || continue
            echo "$statement $case_name $bare_wall $bare_cpu $RUN_WALL $RUN_CPU" >>"$WORK_DIR/pairs.txt"
        done
    done
done

print_results
echo "load average at the end: $(cut -d ' ' -f 1-3 /proc/loadavg)"

if [ "${BENCH_PROFILE:-0}" = 1 ]; then
    echo "== profile =="
    if command -v perf >/dev/null; then
        for case_name in $CASES; do
            [ "$case_name" = zero_rules ] || profile_case "$case_name"
        done
    else
        fail "BENCH_PROFILE=1 needs perf, which is not installed (Debian package linux-perf)"
    fi
fi

echo "benchmark took $(($(date +%s) - BENCH_STARTED)) s after the cluster started"
cleanup
[ "$FAILURES" -eq 0 ]
