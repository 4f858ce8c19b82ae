#!/usr/bin/env bash
# make demo: builds and installs pg_success and starts a throwaway cluster
# in tmp_demo/. Loads the Telco customer churn sample from data/telco into a
# new database, runs the journey automations as of 2025-01-01 00:00 UTC, and
# prints accounts per phase, per owner and the unassigned ones. Stops the
# cluster even on failure. docs/demo.md describes the data mapping.
#
# Environment: PGPORT_DEMO (default 55433) is the cluster's port;
# DEMO_WORK_DIR (default tmp_demo) is where the cluster and its log go.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/cluster.sh"

DEMO_DATABASE=pg_success_demo
# The demo runs at a fixed time, so that phases and contract terms do not
# depend on the day it is run.
AS_OF='2025-01-01 00:00:00+00'

trap stop_cluster EXIT

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

for sql_file in team.sql load_telco.sql summary.sql; do
    run_demo_sql "$sql_file" || { echo "demo failed in demo/$sql_file" >&2; exit 1; }
done

stop_cluster
echo "demo finished in ${SECONDS}s"
