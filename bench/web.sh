#!/bin/bash
# The dashboard's member list at 1,000,000 members: how long GET /v1/members
# takes for the first page, a page deep in the list (the cursor), an exact
# email, a name fragment many members share, and a name no member has (the
# worst case: the whole table is read). The members are written with one
# set-based INSERT (the same columns the API writes), into a SQLite file and
# a throwaway PostgreSQL. Each figure is the median of 5 requests, end to end
# with curl. Also prints the size of the pages' bundled assets.
#   bench/web.sh [members, default 1000000]
set -eu
cd "$(dirname "$0")/.."
members=${1:-1000000}
port=${PATRON_BENCH_PORT:-18090}
work=$(mktemp -d /tmp/patron-web-bench.XXXXXX)
pg_dir=""
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    [ -n "$pg_dir" ] && scripts/pg-harness.sh stop "$pg_dir"
    rm -rf "$work"
}
trap cleanup EXIT

# The members: names from two small lists, so fragments are shared; ids dense.
MEMBERS_SQL="INSERT INTO members (external_id, email, email_domain, first_name, last_name, search_name,
    consent_email, status, attributes, joined_at, created_at, updated_at)
  SELECT 'B' || n, 'm' || n || '@bench.example', 'bench.example',
    (ARRAY['Ada','Ben','Cleo','Dev','Eva','Finn','Gus','Hana'])[1 + n % 8],
    'Surname' || (n % 5000), lower((ARRAY['Ada','Ben','Cleo','Dev','Eva','Finn','Gus','Hana'])[1 + n % 8]
      || ' surname' || (n % 5000)), 1, 'active', '{}', 1700000000000000, 1700000000000000, 1700000000000000
  FROM generate_series(1, $members) AS n"

median_ms() { # PATH → median of 5 end-to-end times, ms
    for _ in 1 2 3 4 5; do
        curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $key" "http://127.0.0.1:$port$1"
    done | sort -n | sed -n 3p | awk '{ printf "%.1f", $1 * 1000 }'
}

bench_engine() { # ENGINE URL
    key=$(./patron apikey create --db "$2" --role admin --name bench 2>/dev/null | grep -o "pk_[A-Za-z0-9_-]*" | head -n 1)
    ./patron serve --db "$2" --port "$port" >"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    local deep=$((members * 9 / 10))
    printf '%-10s first page %7s ms   page after %d %7s ms   email %7s ms   name "finn surname42" %7s ms   no match %7s ms\n' \
        "$1" "$(median_ms '/v1/members?limit=50')" "$deep" "$(median_ms "/v1/members?limit=50&after=$deep")" \
        "$(median_ms "/v1/members?q=m$deep@bench.example")" "$(median_ms '/v1/members?q=finn%20surname42&limit=50')" \
        "$(median_ms '/v1/members?q=zzz-nobody&limit=50')"
    kill "$server" && wait "$server" 2>/dev/null || true
    server=""
}

echo "== web: the member list at $members members (median of 5, ms)"
./patron demo --db "$work/web.db" --members 0 >/dev/null
sqlite3 "$work/web.db" "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $members)
  $(echo "$MEMBERS_SQL" | sed -e 's/(ARRAY\[\([^]]*\)\])\[1 + n % 8\]/(CASE n % 8 WHEN 0 THEN '"'"'Ada'"'"' WHEN 1 THEN '"'"'Ben'"'"' WHEN 2 THEN '"'"'Cleo'"'"' WHEN 3 THEN '"'"'Dev'"'"' WHEN 4 THEN '"'"'Eva'"'"' WHEN 5 THEN '"'"'Finn'"'"' WHEN 6 THEN '"'"'Gus'"'"' ELSE '"'"'Hana'"'"' END)/g' \
      -e 's/FROM generate_series(1, [0-9]*) AS n/FROM s/')"
bench_engine sqlite "$work/web.db"

pg_dir=$(scripts/pg-harness.sh start)
createdb -h "$pg_dir" -U postgres web
url="postgresql:///web?host=$pg_dir&user=postgres"
./patron demo --db "$url" --members 0 >/dev/null
psql -h "$pg_dir" -U postgres -d web -X -q -c "$MEMBERS_SQL" -c "ANALYZE members"
bench_engine postgres "$url"

echo "== web: bundled assets (bytes, gzip -9)"
for f in build/release/web/*.js build/release/web/*.css; do
    printf '%-40s %8d %8d\n' "$f" "$(wc -c <"$f")" "$(gzip -9c "$f" | wc -c)"
done
