#!/bin/bash
# The outbox's benchmarks (issue 6), on SQLite and on a throwaway PostgreSQL:
#   queue   a campaign to every one of PATRON_BENCH_QUEUE_MEMBERS members
#           (default 1,000,000) queued by `patron jobs run campaigns_run`
#           (goal: 1,000,000 messages in under 30 s);
#   render  PATRON_BENCH_RENDER_MESSAGES feed messages (default 20,000) rendered
#           from a template with the member's data and recorded, by
#           `patron jobs run outbox_deliver` (one worker);
#   smtp    PATRON_BENCH_SMTP_MESSAGES emails (default 5,000) delivered by a
#           `patron serve` to a real SMTP server on loopback (Debian
#           python3-aiosmtpd, bench/smtp_sink.py), no send rate limit, with 1
#           and 4 SMTP connections; and, for comparison, how fast that server
#           takes the same mail from Python's smtplib alone (the ceiling).
# Members are made with one INSERT … SELECT (not through the API: that is
# bench/run.sh's business). Everything runs on this machine: figures are what
# one box does end to end.
#   bench/outbox.sh
set -eu
cd "$(dirname "$0")/.."
queue_members=${PATRON_BENCH_QUEUE_MEMBERS:-1000000}
render_messages=${PATRON_BENCH_RENDER_MESSAGES:-20000}
smtp_messages=${PATRON_BENCH_SMTP_MESSAGES:-5000}
port=${PATRON_BENCH_PORT:-18090}
work=$(mktemp -d /tmp/patron-bench-outbox.XXXXXX)
pg_dir=""
pg_db=""
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    [ -n "$pg_dir" ] && scripts/pg-harness.sh stop "$pg_dir"
    rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# sql ENGINE URL STATEMENTS: runs SQL with the engine's own client.
sql() {
    if [ "$1" = sqlite ]; then sqlite3 "$2" "$3"; else psql -q -h "$pg_dir" -U postgres -d "$pg_db" -c "$3" >/dev/null; fi
}

# setup ENGINE URL MEMBERS CHANNEL: a fresh database with MEMBERS members (every
# other one consents to email) and one campaign to all of them on CHANNEL.
setup() {
    local engine=$1 url=$2 n=$3 channel=$4 series
    ./patron migrate --db "$url" >/dev/null
    if [ "$engine" = sqlite ]; then
        series="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)"
    else
        series="WITH n(i) AS (SELECT generate_series(1, $n))"
    fi
    sql "$engine" "$url" "$series INSERT INTO members (email, email_domain, first_name, consent_email, status,
        attributes, joined_at, created_at, updated_at) SELECT 'm' || i || '@bench.example', 'bench.example',
        'Member' || i, 1, 'active', '{}', 0, 0, 0 FROM n"
    sql "$engine" "$url" "INSERT INTO member_stats (member_id) SELECT id FROM members"
    sql "$engine" "$url" "INSERT INTO templates (name, current_version, created_at, updated_at) VALUES ('bench', 1, 0, 0)"
    sql "$engine" "$url" "INSERT INTO template_versions (template_id, version, subject, body_text, body_html,
        created_at, created_by) VALUES (1, 1, 'Hello {{member.first_name}}',
        'You have {{points.available}} points.{{#each offers as o}} {{o.title}}{{/each}} Leave: {{links.unsubscribe}}',
        '<p>Hello {{member.first_name}}, you have <b>{{points.available}}</b> points.</p>', 0, 'bench')"
    sql "$engine" "$url" "INSERT INTO campaigns (name, channel, template_id, created_at, updated_at)
        VALUES ('everyone', '$channel', 1, 0, 0)"
}

fresh_url() { # ENGINE NAME (pg_db must already be NAME: this runs in a subshell)
    if [ "$1" = sqlite ]; then
        echo "$work/$2.db"
    else
        createdb -h "$pg_dir" -U postgres "$2"
        echo "postgresql:///$2?host=$pg_dir&user=postgres"
    fi
}

rate() { # COUNT MS
    awk -v n="$1" -v ms="$2" 'BEGIN { printf "%d messages in %.2f s: %.0f messages/s", n, ms / 1000, n * 1000 / (ms > 0 ? ms : 1) }'
}

bench_engine() {
    local engine=$1 url t0 t1 n
    pg_db=queue
    url=$(fresh_url "$engine" queue)
    setup "$engine" "$url" "$queue_members" feed
    t0=$(now_ms)
    ./patron jobs run campaigns_run --db "$url" >/dev/null
    t1=$(now_ms)
    n=$(./patron jobs run campaigns_run --db "$url" | sed 's/.*"affected": \([0-9]*\).*/\1/')
    [ "$n" = 0 ] || { echo "a second run queued $n more" >&2; exit 1; }
    printf "%-9s queue   %s\n" "$engine" "$(rate "$queue_members" $((t1 - t0)))"

    pg_db=render
    url=$(fresh_url "$engine" render)
    setup "$engine" "$url" "$render_messages" feed
    ./patron jobs run campaigns_run --db "$url" >/dev/null
    t0=$(now_ms)
    ./patron jobs run outbox_deliver --db "$url" >/dev/null
    t1=$(now_ms)
    printf "%-9s render  %s (rendered and recorded by jobs run outbox_deliver: 2 workers)\n" "$engine" "$(rate "$render_messages" $((t1 - t0)))"
}

# wait_for FILE TEXT: until FILE holds TEXT (at most 30 s).
wait_for() {
    for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timed out waiting for '$2' in $1" >&2
    exit 1
}

# bench_smtp ENGINE: a campaign of PATRON_BENCH_SMTP_MESSAGES emails from `patron serve` to
# the SMTP sink, with 1 and then 4 SMTP connections (no send rate limit).
bench_smtp() {
    local engine=$1 url key sink server round=0 sink_port=$((port + 1))
    pg_db=smtp
    url=$(fresh_url "$engine" smtp)
    setup "$engine" "$url" "$smtp_messages" email
    key=$(./patron apikey create --db "$url" --role admin --name bench | tail -n 1)
    for connections in 1 4; do
        round=$((round + 1))
        [ "$round" = 1 ] || sql "$engine" "$url" "INSERT INTO campaigns (name, channel, template_id, created_at,
            updated_at) VALUES ('everyone again $round', 'email', 1, 0, 0)"
        /usr/bin/python3 bench/smtp_sink.py serve "$sink_port" "$smtp_messages" >"$work/sink.txt" &
        sink=$!
        pids="$pids $sink"
        wait_for "$work/sink.txt" ready
        PATRON_SMTP_URL="smtp://127.0.0.1:$sink_port" PATRON_SMTP_TLS=none PATRON_MAIL_FROM=news@shop.example \
            ./patron serve --db "$url" --port "$port" --quiet 2>"$work/serve.log" &
        server=$!
        pids="$pids $server"
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
        curl -sf -X PATCH -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
            "http://127.0.0.1:$port/v1/program" \
            -d "{\"send_rate_per_second\": 0, \"smtp_connections\": $connections}" >/dev/null
        ./patron jobs run campaigns_run --db "$url" >/dev/null
        wait "$sink"
        kill "$server"
        wait "$server" 2>/dev/null || true
        printf "%-9s smtp    %s (patron serve, %d SMTP connection%s, rendered at delivery)\n" "$engine" \
            "$(sed -n 's/^\([0-9]* messages in .*\)/\1/p' "$work/sink.txt")" "$connections" \
            "$([ "$connections" = 1 ] || echo s)"
    done
}

echo "patron outbox bench: $(nproc) cores"
bench_engine sqlite
bench_smtp sqlite
pg_dir=$(scripts/pg-harness.sh start)
bench_engine postgres
bench_smtp postgres
# The ceiling: the same SMTP server taking mail from Python's smtplib alone, one connection.
/usr/bin/python3 bench/smtp_sink.py serve $((port + 2)) "$smtp_messages" >"$work/ceiling.txt" &
pids="$pids $!"
wait_for "$work/ceiling.txt" ready
printf "%-9s smtp    %s (smtplib alone, one connection: the SMTP server's ceiling)\n" "-" \
    "$(/usr/bin/python3 bench/smtp_sink.py client $((port + 2)) "$smtp_messages")"
