#!/usr/bin/env bash
# Throwaway PostgreSQL for tests and benchmarks: binds 127.0.0.1 only, a free port, its own data
# directory under a temp dir, password authentication with a random password.
#
#   scripts/ci_postgres.sh start    # prints `export INVDESIGN_TEST_PG_URL=...` (eval it)
#   scripts/ci_postgres.sh pause    # stop the server, keep the data (tests: "database goes away")
#   scripts/ci_postgres.sh resume   # start it again on the same port
#   scripts/ci_postgres.sh stop     # shut down and delete everything
#   scripts/ci_postgres.sh url      # print the URL of the running server
#
# State lives in $INVDESIGN_PG_STATE (default /tmp/invdesign-ci-pg). Uses Debian's packages
# (initdb/pg_ctl in PATH, /usr/local/bin or /usr/lib/postgresql/*/bin; `apt-get install -y postgresql`
# if missing). When run as root, the server runs as the `postgres` user (initdb refuses root).
set -euo pipefail

STATE="${INVDESIGN_PG_STATE:-/tmp/invdesign-ci-pg}"

find_bin() {
    local name="$1" d
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for d in /usr/local/bin /usr/lib/postgresql/*/bin; do
        if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
    done
    return 1
}

as_owner() {
    # Run a command as the data directory's owner (postgres when we are root).
    if [ "$(id -u)" = "0" ]; then
        if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
        else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
    else
        "$@"
    fi
}

free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

pg_start_server() {
    local pg_ctl="$1" data="$2" port="$3" run="$4"
    as_owner "$pg_ctl" -D "$data" -l "$run/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $run -c max_connections=200 -c fsync=off" start >/dev/null
}

cmd_start() {
    if [ -f "$STATE/url" ]; then
        echo "export INVDESIGN_TEST_PG_URL=$(cat "$STATE/url")"
        return 0
    fi
    local initdb pg_ctl
    if ! initdb="$(find_bin initdb)" || ! pg_ctl="$(find_bin pg_ctl)"; then
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            apt-get install -y -q postgresql >/dev/null
            initdb="$(find_bin initdb)"; pg_ctl="$(find_bin pg_ctl)"
        else
            echo "ci_postgres.sh: initdb/pg_ctl not found (install Debian's postgresql package)" >&2
            exit 1
        fi
    fi
    mkdir -p "$STATE"
    local tmp data run port password
    tmp="$(mktemp -d /tmp/invdesign-pg.XXXXXX)"
    data="$tmp/data"; run="$tmp/run"
    mkdir -p "$data" "$run"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
    printf '%s\n' "$password" >"$tmp/pwfile"
    chmod 700 "$tmp"
    if [ "$(id -u)" = "0" ]; then chown -R postgres "$tmp"; fi
    as_owner "$initdb" -D "$data" -U invdesign --pwfile="$tmp/pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 >/dev/null
    rm -f "$tmp/pwfile"
    port="$(free_port)"
    pg_start_server "$pg_ctl" "$data" "$port" "$run"
    as_owner env PGPASSWORD="$password" \
        "$(find_bin createdb)" -h 127.0.0.1 -p "$port" -U invdesign invdesign
    echo "$tmp" >"$STATE/dir"
    echo "$port" >"$STATE/port"
    echo "$pg_ctl" >"$STATE/pg_ctl"
    echo "postgresql+psycopg2://invdesign:${password}@127.0.0.1:${port}/invdesign" >"$STATE/url"
    chmod 600 "$STATE/url"
    echo "export INVDESIGN_TEST_PG_URL=$(cat "$STATE/url")"
}

need_state() {
    if [ ! -f "$STATE/url" ]; then echo "ci_postgres.sh: no server started (run start)" >&2; exit 1; fi
}

cmd_pause() {
    need_state
    as_owner "$(cat "$STATE/pg_ctl")" -D "$(cat "$STATE/dir")/data" -w -m fast stop >/dev/null
}

cmd_resume() {
    need_state
    local tmp; tmp="$(cat "$STATE/dir")"
    pg_start_server "$(cat "$STATE/pg_ctl")" "$tmp/data" "$(cat "$STATE/port")" "$tmp/run"
}

cmd_stop() {
    if [ ! -f "$STATE/dir" ]; then return 0; fi
    local tmp; tmp="$(cat "$STATE/dir")"
    as_owner "$(cat "$STATE/pg_ctl")" -D "$tmp/data" -w -m fast stop >/dev/null 2>&1 || true
    rm -rf "$tmp" "$STATE"
}

case "${1:-}" in
    start) cmd_start ;;
    pause) cmd_pause ;;
    resume) cmd_resume ;;
    stop) cmd_stop ;;
    url) need_state; cat "$STATE/url" ;;
    *) echo "usage: $0 start|pause|resume|stop|url" >&2; exit 2 ;;
esac
