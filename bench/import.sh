#!/bin/bash
# Bulk import benchmark: N synthetic purchases (CSV: member, order, date, sku,
# category, quantity, amount; N/4 customers) into a fresh SQLite file with the
# demo's rules, through `patron import purchases`; then the ledger is verified.
# Prints rows/s. For scale, it then writes the same rows patron writes for
# those purchases (purchase, line, transfer, lot, event, member and stats) into
# another fresh file with one set-based INSERT ... SELECT each, in sqlite3 --
# no parsing, no rules, no per-row statements: the floor of this schema on
# this machine, which no import through it can beat.
# Then the same import into a throwaway PostgreSQL (scripts/pg-harness.sh).
#   bench/import.sh [rows, default 1000000]
set -eu
cd "$(dirname "$0")/.."
rows=${1:-1000000}
work=$(mktemp -d /tmp/patron-import-bench.XXXXXX)
pg_dir=""
cleanup() {
    [ -n "$pg_dir" ] && scripts/pg-harness.sh stop "$pg_dir"
    rm -rf "$work"
}
trap cleanup EXIT
awk -v n="$rows" 'BEGIN {
    srand(42); print "member,order,date,sku,category,quantity,amount"
    split("garden kitchen decor tools plants gift_cards", cat, " ")
    for (i = 1; i <= n; i++) {
        m = int(rand() * (n / 4)) + 1; d = 1 + int(rand() * 28); c = cat[1 + int(rand() * 6)]
        printf "C%07d,O%08d,2026-%02d-%02d,SKU%d,%s,%d,%.2f\n", m, i, 1 + int(rand() * 10), d, int(rand() * 500), c, 1 + int(rand() * 3), 1 + rand() * 120
    }
}' >"$work/purchases.csv"
./patron demo --db "$work/bench.db" --members 0 >/dev/null
cp "$work/bench.db" "$work/floor.db"
echo "patron import bench: $rows purchases, $(nproc) cores, SQLite, the demo's 4 earning rules"
./patron import purchases "$work/purchases.csv" --db "$work/bench.db" --header \
    --map member=member,order=order,date=date,sku=sku,category=category,quantity=quantity,amount=amount 2>/dev/null
./patron ledger verify --db "$work/bench.db"
start=$(date +%s.%N)
sqlite3 "$work/floor.db" <<SQL
PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-32768;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows / 4)
INSERT INTO members (external_id, status, attributes, joined_at, created_at, updated_at)
SELECT printf('C%07d', i), 'active', '{}', 0, 0, 0 FROM n;
INSERT INTO member_stats (member_id) SELECT id FROM members;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO purchases (member_id, order_id, occurred_at, amount_cents, points_paid_cents, currency, created_at,
                       eligible_cents, points_earned, earning)
SELECT 1 + abs(random()) % ($rows / 4), printf('O%08d', i), 1767225600000000 + i, 6000, 0, 'EUR', 0, 6000, 60,
       '{"rules":[{"rule_id":1,"rule":"1 point per euro","points":60,"capped":false,"lines":[0]}],"excluded_lines":[]}'
FROM n;
INSERT INTO purchase_lines (purchase_id, line_no, sku, category, quantity, amount_cents, points_earned)
SELECT id, 1, 'SKU123', 'garden', 1, amount_cents, 60 FROM purchases;
INSERT INTO transfers (idem_key, member_id, kind, debit, credit, points, occurred_at, created_at, reference_kind,
                       reference_id, actor, reason, available_after)
SELECT 'purchase:' || id || ':earn', member_id, 'earn', 'program:issued', 'member:available', 60, occurred_at, 0,
       'purchase', id, 'cli', 'purchase ' || order_id, 60 FROM purchases;
INSERT INTO points_lots (member_id, transfer_id, points, remaining, matures_at, expires_at, matured)
SELECT member_id, id, 60, 60, occurred_at, occurred_at + 1, 1 FROM transfers;
INSERT INTO member_events (member_id, kind, occurred_at, created_at, payload)
SELECT member_id, 'purchase', occurred_at, 0, json_object('purchase_id', id, 'order_id', order_id, 'amount_cents',
       amount_cents, 'points', 60, 'credited', 60, 'repaid_debt', 0, 'status', 'available') FROM purchases;
COMMIT;
SQL
awk -v n="$rows" -v s="$start" -v e="$(date +%s.%N)" \
    'BEGIN { printf "schema floor (sqlite3, set-based, same rows): %.2f s, %.0f purchases/s\n", e - s, n / (e - s) }'
pg_dir=$(scripts/pg-harness.sh start)
pg_url="postgresql:///postgres?host=$pg_dir&user=postgres"
./patron demo --db "$pg_url" --members 0 >/dev/null
echo "the same import into PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}') (a throwaway server on this machine):"
./patron import purchases "$work/purchases.csv" --db "$pg_url" --header \
    --map member=member,order=order,date=date,sku=sku,category=category,quantity=quantity,amount=amount 2>/dev/null
./patron ledger verify --db "$pg_url"
