#!/usr/bin/env bash
# A throwaway PostgreSQL for the Prefect server: a fresh cluster in a temp folder, on a
# free loopback port, with a `prefect` role and database.
#
#   deployments/postgres.sh start [FOLDER]  # prints PREFECT_SERVER_DATABASE_CONNECTION_URL=...
#   deployments/postgres.sh stop FOLDER     # stops the cluster and deletes FOLDER
#
# `start` creates FOLDER (default: a new folder under ${TMPDIR:-/tmp}) and prints two lines,
# ready for `eval` or `export`: PIKTID_POSTGRES_DIR=FOLDER and the connection URL
# (postgresql+asyncpg://prefect:PASSWORD@127.0.0.1:PORT/prefect). The password is random
# and lives only in FOLDER/connection-url. The server listens on 127.0.0.1 only.
#
# Needs the PostgreSQL server binaries (Debian: `apt-get install postgresql`). PostgreSQL
# refuses to run as root: run as root, the cluster belongs to the `postgres` system user
# (PIKTID_POSTGRES_USER to choose another) and every server command runs through `runuser`.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

pg_bin() {
    # Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<major>/bin.
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return
    fi
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$newest" && -x "$newest/initdb" ]] \
        || die "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
    echo "$newest"
}

as_owner() {
    # Run a server command as the cluster's owner (never as root).
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u "$OWNER" -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local folder=${1:-}
    if [[ -z "$folder" ]]; then
        folder=$(mktemp -d "${TMPDIR:-/tmp}/piktid-postgres.XXXXXX")
    fi
    mkdir -p "$folder"
    folder=$(cd "$folder" && pwd)
    [[ ! -e "$folder/data" ]] || die "$folder already holds a cluster"
    local bin port password
    bin=$(pg_bin)
    port=$(free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    if [[ $(id -u) -eq 0 ]]; then
        id -u "$OWNER" >/dev/null 2>&1 || die "no user '$OWNER' to own the cluster (PostgreSQL refuses root)"
        chown "$OWNER" "$folder"
        # The owner must reach the folder: a parent folder closed to others is an error here,
        # not a puzzling "permission denied" from initdb.
        runuser -u "$OWNER" -- test -w "$folder" \
            || die "user '$OWNER' cannot write $folder (choose a folder under /tmp)"
    fi
    # Local (socket) connections are trusted for the setup below; TCP needs the password.
    as_owner "$bin/initdb" --pgdata="$folder/data" --username=postgres --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >"$folder/initdb.log" 2>&1 \
        || die "initdb failed: $(tail -n 5 "$folder/initdb.log")"
    # The unix socket lives in the folder: /var/run/postgresql may not exist or be writable.
    as_owner "$bin/pg_ctl" --pgdata="$folder/data" --log="$folder/server.log" --wait \
        --options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$folder -c max_connections=200" \
        start >/dev/null || die "the server did not start: $(tail -n 5 "$folder/server.log")"
    # The `prefect` role owns its database (no superuser): pg_trgm, which Prefect's
    # migrations create, is a trusted extension that a database owner may create.
    as_owner "$bin/psql" --no-psqlrc --quiet --host="$folder" --port="$port" --username=postgres \
        --dbname=postgres --set=ON_ERROR_STOP=1 --set=password="$password" >/dev/null <<'SQL' \
        || die "could not create the prefect database"
CREATE ROLE prefect LOGIN PASSWORD :'password';
CREATE DATABASE prefect OWNER prefect;
SQL
    echo "$port" >"$folder/port"
    local url="postgresql+asyncpg://prefect:$password@127.0.0.1:$port/prefect"
    (umask 077 && echo "$url" >"$folder/connection-url")
    echo "PIKTID_POSTGRES_DIR=$folder"
    echo "PREFECT_SERVER_DATABASE_CONNECTION_URL=$url"
}

stop() {
    local folder=${1:-}
    [[ -n "$folder" ]] || die "usage: postgres.sh stop FOLDER"
    [[ -d "$folder/data" ]] || die "$folder holds no cluster"
    local bin
    bin=$(pg_bin)
    as_owner "$bin/pg_ctl" --pgdata="$folder/data" --mode=fast --wait stop >/dev/null 2>&1 || true
    rm -rf "$folder"
}

OWNER=${PIKTID_POSTGRES_USER:-postgres}
case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) die "usage: postgres.sh start [FOLDER] | stop FOLDER" ;;
esac
