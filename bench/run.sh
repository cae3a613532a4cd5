#!/bin/bash
# patron's benchmarks: wrk against a running `patron serve` on SQLite and on a
# throwaway PostgreSQL, for GET /v1/members/{id}, POST /v1/members,
# GET /v1/members/{id}/points, POST /v1/checkout/quote, POST /v1/purchases
# (the demo's rules and tiers) and POST /v1/members/{id}/redemptions (a few
# members, every connection: contention). Prints
# requests/s and latency percentiles. Everything runs on this machine, so wrk
# and patron share the cores: figures are what one 2-core box does end to end.
#   bench/run.sh [seconds per run, default 10]
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-10}
members=${PATRON_BENCH_MEMBERS:-10000}
connections=${PATRON_BENCH_CONNECTIONS:-64}
quote_connections=${PATRON_BENCH_QUOTE_CONNECTIONS:-8}
threads=${PATRON_BENCH_SERVER_THREADS:-2}
wrk_threads=${PATRON_BENCH_WRK_THREADS:-2} # 1 leaves the server most of a 2-core box
port=${PATRON_BENCH_PORT:-18080}
work=$(mktemp -d /tmp/patron-bench.XXXXXX)
pg_dir=""
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    [ -n "$pg_dir" ] && scripts/pg-harness.sh stop "$pg_dir"
    rm -rf "$work"
}
trap cleanup EXIT

# run_wrk NAME SCRIPT [CONNECTIONS]: one wrk run, then one summary line.
run_wrk() {
    local out="$work/run-$RANDOM.txt"
    wrk -t"$wrk_threads" -c"${3:-$connections}" -d"${seconds}s" --latency -s "bench/$2" "http://127.0.0.1:$port" >"$out"
    awk -v name="$1" '
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
        /Non-2xx/ { bad = $NF }
        END { printf "%-28s %10.0f req/s   p50 %8s   p99 %8s   non-2xx %s\n", name, rps, p50, p99, bad ? bad : 0 }' "$out"
}

bench_engine() { # ENGINE URL
    local url=$2
    ./patron demo --db "$url" --members "$members" >/dev/null
    export PATRON_KEY=$(./patron apikey create --db "$url" --role integration --name bench | tail -n 1)
    export PATRON_MEMBERS=$members
    ./patron serve --db "$url" --port "$port" --threads "$threads" --quiet 2>"$work/server-$1.log" &
    server=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    run_wrk "$1 GET /v1/members/{id}" get_member.lua
    run_wrk "$1 POST /v1/members" post_member.lua
    run_wrk "$1 GET /v1/members/{id}/points" get_points.lua
    # The quote's goal is latency at a till (p99 < 5 ms): a few tills at once, not a flood.
    run_wrk "$1 POST /v1/checkout/quote" post_quote.lua "$quote_connections"
    run_wrk "$1 POST /v1/checkout/quote (flood)" post_quote.lua
    local before after
    before=$(curl -sf "http://127.0.0.1:$port/healthz")
    run_wrk "$1 POST /v1/purchases" post_purchase.lua
    after=$(curl -sf "http://127.0.0.1:$port/healthz")
    /usr/bin/python3 -c 'import json, sys
b, a = (json.loads(t)["writer"] for t in sys.argv[1:3])
w, c = a["writes"] - b["writes"], a["commits"] - b["commits"]
print("%-28s %10d writes in %d commits (fsyncs): %.1f writes a commit" % (sys.argv[3] + " POST /v1/purchases", w, c, w / max(c, 1)))' "$before" "$after" "$1"
    bench_redemptions "$1" "$url"
    kill "$server"; wait "$server" 2>/dev/null || true
    server=""
}

# bench_redemptions ENGINE URL: a catalog reward (cost 10, no stock limit) redeemed by
# PATRON_BENCH_REDEEMERS members (default 8) holding 10^8 points each, from every connection.
bench_redemptions() {
    local admin ids="" api="http://127.0.0.1:$port/v1"
    admin=$(./patron apikey create --db "$2" --role admin --name bench-admin | tail -n 1)
    local h=(-sf -H "Authorization: Bearer $admin" -H "Content-Type: application/json")
    export PATRON_REWARD=$(curl "${h[@]}" "$api/rewards" -d '{"name": "bench reward", "kind": "gift",
        "cost_points": 10}' | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    for n in $(seq "${PATRON_BENCH_REDEEMERS:-8}"); do
        local id
        id=$(curl "${h[@]}" "$api/members" -d "{\"external_id\": \"bench-redeemer-$n-$RANDOM\"}" |
            /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
        curl "${h[@]}" -H "Idempotency-Key: bench-points-$id" "$api/members/$id/points/adjustments" \
            -d '{"points": 100000000, "reason": "bench"}' >/dev/null
        ids="$ids${ids:+,}$id"
    done
    export PATRON_REDEEMERS=$ids
    run_wrk "$1 POST redemptions" post_redemption.lua
}

echo "patron bench: $(nproc) cores, wrk -t$wrk_threads -c$connections -d${seconds}s, server --threads $threads, $members members"
echo
bench_engine sqlite "$work/bench.db"
pg_dir=$(scripts/pg-harness.sh start)
bench_engine postgres "postgresql:///postgres?host=$pg_dir&user=postgres"
