#!/bin/bash
# Retention analytics benchmark.
#  1. Model fits (build/release/bench/btyd_bench): BG/NBD, Pareto/NBD and
#     Gamma-Gamma on 1,000,000 simulated customers and on the CDNOW master
#     data (when ../shared/data/cdnow is there); the next-need model on a
#     synthetic shop of 1,000,000 customers with a known transition matrix
#     (build/release/bench/next_bench).
#  2. summary, RFM, cohorts, and the three at once (overview: one read of the
#     purchases) over N purchases (default 10,000,000; N/10
#     members, dates over three years, written with one set-based INSERT each
#     into SQLite and PostgreSQL -- the reports only read), timed per command
#     through `patron analytics ... --json`; then the scores job on the same
#     data (fits, scores, and writes every member's row).
#   bench/analytics.sh [purchases, default 10000000]
set -eu
cd "$(dirname "$0")/.."
rows=${1:-10000000}
members=$((rows / 10))
bin=${BUILD:-build/release}/bench/btyd_bench
work=$(mktemp -d /tmp/patron-analytics-bench.XXXXXX)
pg_dir=""
cleanup() {
    [ -n "$pg_dir" ] && scripts/pg-harness.sh stop "$pg_dir"
    rm -rf "$work"
}
trap cleanup EXIT

echo "== model fits ($(nproc) cores; each fit on one) =="
"$bin" 1000000
${BUILD:-build/release}/bench/next_bench 1000000

# Members, then purchases: purchase i goes to one of the first (i mod 4 + 1)
# quarters of the members (the first quarter buys ~25 times, the last ~2.5),
# on a day spread over three years, for 5.00 to 125.00.
# $1 $2, $3 $4: what to put before each INSERT and after its FROM for the
# members and the purchases (a recursive CTE on SQLite, generate_series on
# PostgreSQL); $5 the order id (zero-padded: the unique index fills in order).
fill_sql() {
    cat <<SQL
$1 INSERT INTO members (id, attributes, joined_at, created_at, updated_at)
    SELECT i, '{}', 1700000000000000, 1700000000000000, 1700000000000000 FROM $2;
INSERT INTO member_stats (member_id) SELECT id FROM members;
$3 INSERT INTO purchases (id, member_id, order_id, occurred_at, amount_cents, created_at)
    SELECT i, 1 + (i * 7919) % ((i % 4 + 1) * $members / 4), $5,
           1700000000000000 + ((i * 104729) % 1095) * 86400000000 + (i % 86400) * 1000000,
           500 + (i * 31) % 12000, 1700000000000000 FROM $4;
SQL
}

time_reports() { # URL ENGINE
    for verb in summary rfm cohorts overview; do
        start=$(date +%s.%N)
        ./patron analytics "$verb" --json --db "$1" >/dev/null
        end=$(date +%s.%N)
        printf '%s %-8s %s purchases: %.2f s\n' "$2" "$verb" "$rows" "$(echo "$end - $start" | bc)"
    done
    start=$(date +%s.%N)
    ./patron jobs run analytics_scores --db "$1" >/dev/null
    end=$(date +%s.%N)
    printf '%s %-8s %s members: %.2f s\n' "$2" "scores" "$members" "$(echo "$end - $start" | bc)"
}

echo "== summary + RFM + cohorts over $rows purchases ($members members) =="
./patron migrate --db "$work/bench.db" >/dev/null
{
    echo "PRAGMA synchronous=OFF; BEGIN;"
    fill_sql "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $members)" n \
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)" n \
             "printf('B%010d', i)"
    echo "COMMIT;"
} | sqlite3 "$work/bench.db"
time_reports "$work/bench.db" SQLite

pg_dir=$(scripts/pg-harness.sh start)
createdb -h "$pg_dir" -U postgres bench
url="postgresql:///bench?host=$pg_dir&user=postgres"
./patron migrate --db "$url" >/dev/null
fill_sql "" "generate_series(1, $members::bigint) AS n(i)" "" "generate_series(1, $rows::bigint) AS n(i)" \
    "'B' || lpad(i::text, 10, '0')" | psql -v ON_ERROR_STOP=1 -q -h "$pg_dir" -U postgres bench
psql -q -h "$pg_dir" -U postgres bench -c "VACUUM ANALYZE purchases" 
time_reports "$url" PostgreSQL
