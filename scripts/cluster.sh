#!/usr/bin/env bash
# Shared set-up for "make test" and "make demo": installs missing Debian
# packages, builds and installs the extension, and starts or stops a
# throwaway PostgreSQL cluster owned by the postgres OS user.
#
# Source this file; it defines functions and sets no options of its own.

PG_BIN=${PG_BIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}
PGXS_DIR=${PGXS_DIR:-/usr/lib/postgresql/15/lib/pgxs}
REQUIRED_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-cron libcjson-dev \
libcurl4-openssl-dev libipc-run-perl python3-aiosmtpd make gcc clang libclang-rt-dev"

# install_packages: installs the Debian packages the build and the tests
# need, when some are missing and this runs as root.
install_packages() {
    local missing=()
    local package
    for package in $REQUIRED_PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0

    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "Install them with: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    PG_BIN=$(pg_config --bindir)
}

# build_and_install: builds the extension and installs it into the server.
# The install is shared by every checkout on the machine, so the caller
# keeps an exclusive lock on /tmp/pg_success.install.lock from here until
# it exits. A second "make test" or "make demo" waits for it.
build_and_install() {
    exec 9>/tmp/pg_success.install.lock
    if ! flock -n 9; then
        echo "waiting for another pg_success test or demo run to finish"
        flock 9
    fi
    make -s -C "$ROOT" >/dev/null && make -s -C "$ROOT" install >/dev/null
}

# as_postgres CMD...: runs a command as the postgres OS user when this runs
# as root, because PostgreSQL refuses to run as root.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- env PATH="$PG_BIN:$PATH" "$@"
    else
        env PATH="$PG_BIN:$PATH" "$@"
    fi
}

# prepare_work_dir DIR: creates DIR for the cluster and test output, owned
# by the user that runs the server. Falls back to a directory under /tmp
# when the postgres user cannot reach the checkout.
prepare_work_dir() {
    WORK_DIR=$1
    rm -rf "$WORK_DIR"
    mkdir -p "$WORK_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$WORK_DIR"
        if ! runuser -u postgres -- test -w "$WORK_DIR" -a -r "$ROOT/Makefile"; then
            rm -rf "$WORK_DIR"
            WORK_DIR=$(mktemp -d /tmp/pg_success.XXXXXX)
            cp -r "$ROOT/sql" "$ROOT/expected" "$ROOT/test" "$ROOT/data" "$ROOT/demo" "$WORK_DIR/"
            chown -R postgres: "$WORK_DIR"
            echo "note: the postgres user cannot read $ROOT; running from $WORK_DIR"
            SOURCE_DIR=$WORK_DIR
        fi
    fi
    SOURCE_DIR=${SOURCE_DIR:-$ROOT}
}

# start_cluster PORT: creates and starts a cluster in $WORK_DIR/cluster that
# listens only on a socket in $WORK_DIR/socket and on 127.0.0.1:PORT. The
# automation workers stay idle (pg_success.enabled = off) unless
# PG_SUCCESS_ENABLED=on, so tests and the demo control time through as_of.
start_cluster() {
    PGPORT=$1
    PGHOST=$WORK_DIR/socket
    export PGPORT PGHOST
    as_postgres mkdir -p "$PGHOST"
    as_postgres initdb -D "$WORK_DIR/cluster" -U postgres -A trust --no-sync \
        --locale=C.UTF-8 -E UTF8 >"$WORK_DIR/initdb.log" 2>&1 || {
        cat "$WORK_DIR/initdb.log" >&2
        return 1
    }
    cat >>"$WORK_DIR/cluster/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGHOST'
shared_preload_libraries = 'pg_cron,pg_success'
cron.database_name = 'postgres'
pg_success.enabled = ${PG_SUCCESS_ENABLED:-off}
fsync = off
max_connections = 40
log_min_messages = warning
CONF
    as_postgres pg_ctl -D "$WORK_DIR/cluster" -l "$WORK_DIR/server.log" -w start >/dev/null 9>&- || {
        cat "$WORK_DIR/server.log" >&2
        return 1
    }
    CLUSTER_STARTED=1
}

# stop_cluster: stops the cluster if start_cluster started it.
stop_cluster() {
    if [ "${CLUSTER_STARTED:-0}" = 1 ]; then
        as_postgres pg_ctl -D "$WORK_DIR/cluster" -m fast -w stop >/dev/null 2>&1 || true
        CLUSTER_STARTED=0
    fi
}
