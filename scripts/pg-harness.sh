#!/bin/sh
# A throwaway PostgreSQL for tests and benchmarks: initdb + pg_ctl in a temp
# dir, listening only on a unix socket there. PostgreSQL refuses to run as root,
# so as root the server runs as the unprivileged 'postgres' user.
#   pg-harness.sh start        prints the socket directory (PGHOST) on stdout
#   pg-harness.sh stop DIR     stops it and removes DIR
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "pg-harness: PostgreSQL server not installed (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-}" in
start)
    dir=$(mktemp -d /tmp/patron-pg.XXXXXX)
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    chmod 755 "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # fsync off: a test database need not survive a power cut, and it makes the suite fast.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -c listen_addresses='' -c fsync=off -c max_connections=300 -c shared_buffers=128MB" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "$dir"
    ;;
stop)
    dir=${2:?usage: pg-harness.sh stop DIR}
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg-harness.sh start | stop DIR" >&2
    exit 2
    ;;
esac
