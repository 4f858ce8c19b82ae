#!/usr/bin/env bash
# Benchmark of e-mail delivery: starts a throwaway cluster and an SMTP sink
# (test/smtp/smtp_sink.py --count-only) on 127.0.0.1 and measures
#
#   claim_and_mark   messages per second through cs.claim_email_batch and
#                    cs.record_email_outcomes (claim 100, commit, mark them
#                    sent, commit), in one and in two concurrent sessions
#   plain_sql        the same loop written as plain SQL: UPDATE ... WHERE
#                    outbox_id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT
#                    100) RETURNING, commit, UPDATE ... SET status = 'sent',
#                    commit
#   smtp             messages per second of CALL cs.deliver_email() to the
#                    sink over loopback, in one and in two concurrent
#                    sessions, with the default batch size of 100
#
# Every run checks that each message ended 'sent' after exactly one attempt,
# so no message was claimed twice, and the SMTP runs check that the sink
# counted every message.
#
# Environment: BENCH_CLAIM_MESSAGES (default 20000) and BENCH_SMTP_MESSAGES
# (default 5000) set the queue sizes; PGPORT_BENCH (default 55465) is the
# cluster's port; BENCH_WORK_DIR (default tmp_bench_email) contains
# the cluster, the sink and the logs.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/cluster.sh"

CLAIM_MESSAGES=${BENCH_CLAIM_MESSAGES:-20000}
SMTP_MESSAGES=${BENCH_SMTP_MESSAGES:-5000}
AS_OF='2026-03-02 10:00:00+00'
DB=bench_email
FAILURES=0
SINK_PID=

cleanup() {
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
    stop_cluster
}
trap cleanup EXIT

run_sql() {
    as_postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -v as_of="$AS_OF" -d "$DB" "$@"
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

now() {
    date +%s.%N
}

print_machine() {
    echo "== machine =="
    echo "CPUs (nproc): $(nproc)"
    echo "CPU: $(lscpu | sed -n 's/^Model name: *//p')"
    echo "memory: $(free -h | awk '/^Mem:/ { print $2 }')"
    run_sql -c "SELECT version()"
    run_sql -c "SELECT name || ' = ' || setting || coalesce(' ' || unit, '')
        FROM pg_settings
        WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers')
        ORDER BY name"
}

# queue COUNT: empties the outbox and queues COUNT messages due before as_of.
queue() {
    run_sql <<SQL >/dev/null || return 1
TRUNCATE cs.email_outbox;
INSERT INTO cs.email_outbox (idempotency_key, recipient_kind, to_address, to_name, subject, body_text, due_at)
SELECT 'bench-' || g, 'address', 'user' || g || '@example.com', 'User ' || g,
       'Benchmark message ' || g,
       'Hello User ' || g || E',\nthis is a benchmark message of about two hundred bytes.\n'
           || repeat('Lorem ipsum dolor sit amet. ', 4),
       timestamptz :'as_of' - interval '1 hour'
FROM generate_series(1, $1) AS g;
VACUUM ANALYZE cs.email_outbox;
SQL
}

# check_all_sent COUNT WHAT: every message is sent after one attempt.
check_all_sent() {
    check_equal "$2: messages sent after exactly one attempt" \
        "$(run_sql -c "SELECT count(*) FILTER (WHERE status = 'sent' AND attempts = 1) || ' of ' || count(*) FROM cs.email_outbox")" \
        "$1 of $1"
}

CLAIM_AND_MARK_SQL=$(cat <<'SQL'
DO $$
DECLARE
    ids bigint[];
    claimed_attempts bigint[];
BEGIN
    LOOP
        SELECT array_agg(c.outbox_id), array_agg(c.attempts::bigint)
        INTO ids, claimed_attempts
        FROM cs.claim_email_batch(100, :'as_of', interval '5 minutes') AS c;
        COMMIT;
        EXIT WHEN ids IS NULL;
        PERFORM cs.record_email_outcomes(
            ids, claimed_attempts,
            array_fill('sent'::text, ARRAY[cardinality(ids)]),
            array_fill(NULL::timestamptz, ARRAY[cardinality(ids)]),
            array_fill(NULL::text, ARRAY[cardinality(ids)]),
            array_fill(NULL::text, ARRAY[cardinality(ids)]),
            array_fill(NULL::text, ARRAY[cardinality(ids)]),
            array_fill(clock_timestamp(), ARRAY[cardinality(ids)]));
        COMMIT;
    END LOOP;
END
$$;
SQL
)

PLAIN_SQL=$(cat <<'SQL'
DO $$
DECLARE
    ids bigint[];
BEGIN
    LOOP
        WITH claimed AS (
            UPDATE cs.email_outbox AS o
            SET status = 'sending', attempts = o.attempts + 1,
                lease_until = timestamptz :'as_of' + interval '5 minutes',
                leased_by = pg_backend_pid()
            WHERE o.outbox_id IN (
                SELECT d.outbox_id FROM cs.email_outbox AS d
                WHERE (d.status = 'queued' AND d.due_at <= :'as_of'
                       AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= :'as_of'))
                   OR (d.status = 'sending' AND d.lease_until < :'as_of')
                ORDER BY d.due_at, d.outbox_id
                LIMIT 100
                FOR UPDATE SKIP LOCKED)
            RETURNING o.outbox_id)
        SELECT array_agg(outbox_id) INTO ids FROM claimed;
        COMMIT;
        EXIT WHEN ids IS NULL;
        UPDATE cs.email_outbox
        SET status = 'sent', sent_at = clock_timestamp(), lease_until = NULL, leased_by = NULL
        WHERE outbox_id = ANY (ids) AND status = 'sending' AND leased_by = pg_backend_pid();
        COMMIT;
    END LOOP;
END
$$;
SQL
)

# psql does not substitute variables inside the dollar-quoted DO bodies.
CLAIM_AND_MARK_SQL=${CLAIM_AND_MARK_SQL//:\'as_of\'/\'$AS_OF\'}
PLAIN_SQL=${PLAIN_SQL//:\'as_of\'/\'$AS_OF\'}

# sink_cpu_seconds: CPU time (user + system) that the sink has used so far.
sink_cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$SINK_PID/stat"
}

# timed_sessions SESSIONS SQL: runs SQL in SESSIONS concurrent psql
# sessions and prints the wall-clock seconds until all have finished.
timed_sessions() {
    local sessions=$1 sql=$2 start pids=() i status=0
    start=$(now)
    for i in $(seq 1 "$sessions"); do
        run_sql <<<"$sql" >"$WORK_DIR/session_$i.log" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i" || status=1
    done
    [ "$status" -eq 0 ] || { cat "$WORK_DIR"/session_*.log >&2; return 1; }
    awk -v s="$start" -v e="$(now)" 'BEGIN { printf "%.3f", e - s }'
}

# report WHAT MESSAGES SECONDS
report() {
    awk -v w="$1" -v n="$2" -v s="$3" 'BEGIN { printf "%-30s %7d messages %8.3f s %9.0f messages/s\n", w, n, s, n / s }' |
        tee -a "$WORK_DIR/results.txt"
}

start_sink() {
    mkdir -p "$WORK_DIR/sink"
    rm -f "$WORK_DIR/sink/port" "$WORK_DIR/sink/count"
    /usr/bin/python3 "$ROOT/test/smtp/smtp_sink.py" --count-only --dir "$WORK_DIR/sink" \
        --port-file "$WORK_DIR/sink/port" >"$WORK_DIR/sink.log" 2>&1 &
    SINK_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$WORK_DIR/sink/port" ] && return 0
        sleep 0.1
    done
    cat "$WORK_DIR/sink.log" >&2
    return 1
}

# stop_sink: stops the sink and prints how many messages it accepted.
stop_sink() {
    kill "$SINK_PID"
    wait "$SINK_PID" 2>/dev/null
    SINK_PID=
    cat "$WORK_DIR/sink/count"
}

install_packages || exit 1
build_and_install || { echo "build failed" >&2; exit 1; }
prepare_work_dir "${BENCH_WORK_DIR:-$ROOT/tmp_bench_email}"
start_cluster "${PGPORT_BENCH:-55465}" || exit 1
as_postgres createdb "$DB" || exit 1
run_sql -c "CREATE EXTENSION pg_success" || exit 1
print_machine
: >"$WORK_DIR/results.txt"

echo "== claim and mark =="
for sessions in 1 2; do
    for variant in claim_and_mark plain_sql; do
        queue "$CLAIM_MESSAGES" || exit 1
        if [ "$variant" = claim_and_mark ]; then sql=$CLAIM_AND_MARK_SQL; else sql=$PLAIN_SQL; fi
        seconds=$(timed_sessions "$sessions" "$sql") || { fail "$variant with $sessions sessions"; continue; }
        check_all_sent "$CLAIM_MESSAGES" "$variant with $sessions sessions"
        report "$variant, $sessions session(s)" "$CLAIM_MESSAGES" "$seconds"
    done
done

echo "== SMTP delivery to the loopback sink =="
start_sink || { fail "starting the SMTP sink"; exit 1; }
run_sql -c "ALTER SYSTEM SET pg_success.smtp_url = 'smtp://127.0.0.1:$(cat "$WORK_DIR/sink/port")'" \
    -c "ALTER SYSTEM SET pg_success.mail_from = 'Bench <bench@example.com>'" \
    -c "ALTER SYSTEM SET pg_success.message_id_domain = 'bench.test'" \
    -c "SELECT pg_reload_conf()" >/dev/null || exit 1
sleep 0.5
expected_count=0
for sessions in 1 2; do
    queue "$SMTP_MESSAGES" || exit 1
    sink_cpu_before=$(sink_cpu_seconds)
    seconds=$(timed_sessions "$sessions" "CALL cs.deliver_email(NULL, :'as_of');") || { fail "smtp with $sessions sessions"; continue; }
    check_all_sent "$SMTP_MESSAGES" "smtp with $sessions sessions"
    expected_count=$((expected_count + SMTP_MESSAGES))
    report "smtp, $sessions session(s)" "$SMTP_MESSAGES" "$seconds"
    awk -v b="$sink_cpu_before" -v a="$(sink_cpu_seconds)" -v s="$seconds" \
        'BEGIN { printf "  CPU time of the Python sink: %.2f s of %.2f s wall clock\n", a - b, s }' |
        tee -a "$WORK_DIR/results.txt"
done
check_equal "messages the sink accepted" "$(stop_sink)" "$expected_count"

echo "== results =="
cat "$WORK_DIR/results.txt"
stop_cluster
[ "$FAILURES" -eq 0 ]
