#!/usr/bin/env bash
# make demo: builds and installs pg_success and starts a throwaway cluster
# in tmp_demo/. Loads the Telco customer churn sample from data/telco into a
# new database, runs the journey automations as of 2025-01-01 00:00 UTC, and
# prints accounts per phase, per owner and the unassigned ones. Then gives
# every account a primary contact, queues a welcome e-mail per active
# account and delivers the messages to an SMTP sink on 127.0.0.1 that
# stores them in the work directory. Stops the sink and the cluster even on
# failure. docs/demo.md describes the data mapping and the e-mail rules.
#
# Environment: PGPORT_DEMO (default 55433) is the cluster's port;
# DEMO_WORK_DIR (default tmp_demo) is where the cluster, its log and the
# received messages go. The sink listens on a free port.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/cluster.sh"

DEMO_DATABASE=pg_success_demo
# The demo runs at a fixed time, so that phases and contract terms do not
# depend on the day it is run.
AS_OF='2025-01-01 00:00:00+00'
# Delivery time of the welcome e-mails: Thursday 2025-01-02 10:00 in
# America/Los_Angeles, the time zone of every contact. The messages are due
# from AS_OF (Tuesday 16:00 there, inside the default 09:00-17:00 window),
# so all of them are due by then.
DELIVER_AS_OF='2025-01-02 18:00:00+00'
# Customer whose welcome e-mail the demo prints.
SAMPLE_CUSTOMER=7590-VHVEG
# The sink needs aiosmtpd from the Debian package python3-aiosmtpd, which
# only Debian's own interpreter can import.
SINK_PYTHON=/usr/bin/python3

# start_sink: starts test/smtp/smtp_sink.py on a free port of 127.0.0.1,
# storing messages in $SINK_DIR/messages, and waits until it listens. Sets
# SINK_PID and SINK_PORT.
start_sink() {
    SINK_DIR=$WORK_DIR/smtp_sink
    mkdir -p "$SINK_DIR"
    # 9>&- keeps the install lock from being inherited by the sink.
    "$SINK_PYTHON" "$SOURCE_DIR/test/smtp/smtp_sink.py" --dir "$SINK_DIR/messages" \
        --port 0 --port-file "$SINK_DIR/port" >"$SINK_DIR/sink.log" 2>&1 9>&- &
    SINK_PID=$!
    local waited
    for waited in $(seq 1 100); do
        if [ -s "$SINK_DIR/port" ]; then
            SINK_PORT=$(cat "$SINK_DIR/port")
            return 0
        fi
        if ! kill -0 "$SINK_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "SMTP sink did not start (it exited or wrote no port within 10 s); its log $SINK_DIR/sink.log:" >&2
    cat "$SINK_DIR/sink.log" >&2
    return 1
}

# stop_sink: stops the sink with SIGTERM if start_sink started it.
stop_sink() {
    if [ -n "${SINK_PID:-}" ]; then
        kill -TERM "$SINK_PID" 2>/dev/null
        wait "$SINK_PID" 2>/dev/null
        SINK_PID=
    fi
}

trap 'stop_sink; stop_cluster' EXIT

install_packages || exit 1
build_and_install || { echo "build failed" >&2; exit 1; }
prepare_work_dir "${DEMO_WORK_DIR:-$ROOT/tmp_demo}"
# The server and psql run as the postgres user, which may not be able to
# enter $ROOT. prepare_work_dir made SOURCE_DIR readable by that user.
cd "$SOURCE_DIR"
start_cluster "${PGPORT_DEMO:-55433}" || exit 1

# run_demo_sql FILE: runs demo/FILE in the demo database and stops at the
# first error.
run_demo_sql() {
    as_postgres psql -X -q -v ON_ERROR_STOP=1 \
        -v as_of="$AS_OF" \
        -v csv_path="$SOURCE_DIR/data/telco/Telco-Customer-Churn.csv" \
        -d "$DEMO_DATABASE" -f "$SOURCE_DIR/demo/$1"
}

as_postgres createdb "$DEMO_DATABASE" || exit 1
as_postgres psql -X -q -v ON_ERROR_STOP=1 -d "$DEMO_DATABASE" \
    -c 'CREATE EXTENSION pg_success' || exit 1

for sql_file in team.sql load_telco.sql summary.sql rules.sql contacts.sql welcome.sql; do
    run_demo_sql "$sql_file" || { echo "demo failed in demo/$sql_file" >&2; exit 1; }
done

# demo_query SQL: prints the result of one statement in the demo database.
demo_query() {
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -d "$DEMO_DATABASE" -c "$1"
}

# demo_value SQL: prints the single value that SQL returns, unaligned.
demo_value() {
    as_postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DEMO_DATABASE" -c "$1"
}

start_sink || exit 1

# ALTER SYSTEM cannot run in a transaction block, so each runs as a
# statement of its own. A fixed message_id_domain keeps the Message-IDs the
# same on every machine.
for setting in "pg_success.smtp_url = 'smtp://127.0.0.1:$SINK_PORT'" \
        "pg_success.mail_from = 'Customer Success <cs@example.com>'" \
        "pg_success.message_id_domain = 'example.com'"; do
    demo_query "ALTER SYSTEM SET $setting" || exit 1
done
demo_query 'SELECT pg_reload_conf()' >/dev/null || exit 1
# The postmaster reloads the configuration asynchronously, so the script
# waits until a new session shows the sink's URL.
smtp_url=
for waited in $(seq 1 50); do
    smtp_url=$(demo_value 'SHOW pg_success.smtp_url')
    [ "$smtp_url" = "smtp://127.0.0.1:$SINK_PORT" ] && break
    sleep 0.1
done
if [ "$smtp_url" != "smtp://127.0.0.1:$SINK_PORT" ]; then
    echo "demo failed: pg_success.smtp_url is '$smtp_url' 5 s after pg_reload_conf()," \
        "expected smtp://127.0.0.1:$SINK_PORT; see $WORK_DIR/server.log" >&2
    exit 1
fi

echo "Delivering the due e-mails as of $DELIVER_AS_OF to the SMTP sink on 127.0.0.1:$SINK_PORT ..."
demo_query "CALL cs.deliver_email(NULL, '$DELIVER_AS_OF')" || {
    echo "demo failed in CALL cs.deliver_email; the server log is $WORK_DIR/server.log" >&2
    exit 1
}

echo
echo '== Welcome e-mails =='
demo_query "SELECT status, coalesce(status_reason, '') AS reason, count(*) AS messages
            FROM cs.email_outbox
            WHERE idempotency_key LIKE 'welcome:account:%'
            GROUP BY status, status_reason
            ORDER BY status, status_reason" || exit 1

sent=$(demo_value "SELECT count(*) FROM cs.email_outbox
                   WHERE idempotency_key LIKE 'welcome:account:%' AND status = 'sent'") || exit 1
not_done=$(demo_value "SELECT count(*) FROM cs.email_outbox
                       WHERE idempotency_key LIKE 'welcome:account:%'
                         AND status NOT IN ('sent', 'suppressed')") || exit 1
received=$(find "$SINK_DIR/messages" -name '*.eml' | wc -l)
echo "messages sent: $sent, received by the SMTP sink: $received"
if [ "$received" -ne "$sent" ]; then
    echo "demo failed: the sink received $received messages, but the outbox marks $sent as sent" >&2
    exit 1
fi
if [ "$not_done" -ne 0 ]; then
    echo "demo failed: $not_done welcome e-mails are neither sent nor suppressed" >&2
    exit 1
fi

# The sink stores a JSON summary with the decoded headers next to each
# message. The sample is found by its envelope recipient, because the file
# numbers follow the delivery order, which differs between runs.
sample_address=$(echo "$SAMPLE_CUSTOMER" | tr 'A-Z' 'a-z')@customers.example.com
sample_file=$(grep -l -F "\"$sample_address\"" "$SINK_DIR"/messages/*.json | head -n 1)
if [ -z "$sample_file" ]; then
    echo "demo failed: the sink received no message to $sample_address" >&2
    exit 1
fi
echo "Headers of the welcome e-mail to customer $SAMPLE_CUSTOMER:"
"$SINK_PYTHON" - "$sample_file" <<'PYTHON' || exit 1
import json
import sys

with open(sys.argv[1], encoding="utf-8") as summary_file:
    headers = json.load(summary_file)["headers"]
for name in ("From", "To", "Subject", "Message-ID"):
    print("  %s: %s" % (name, headers[name]))
PYTHON

stop_sink
stop_cluster
echo "demo finished in ${SECONDS}s"
