#!/bin/bash
# Bulk import benchmark: N synthetic purchases (CSV: member, order, date, sku,
# category, quantity, amount) into a fresh SQLite file with the demo's rules,
# through `patron import purchases`; then the ledger is verified. Prints rows/s.
#   bench/import.sh [rows, default 100000]
set -eu
cd "$(dirname "$0")/.."
rows=${1:-100000}
work=$(mktemp -d /tmp/patron-import-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
awk -v n="$rows" 'BEGIN {
    srand(42); print "member,order,date,sku,category,quantity,amount"
    split("garden kitchen decor tools plants gift_cards", cat, " ")
    for (i = 1; i <= n; i++) {
        m = int(rand() * (n / 4)) + 1; d = 1 + int(rand() * 28); c = cat[1 + int(rand() * 6)]
        printf "C%07d,O%08d,2026-%02d-%02d,SKU%d,%s,%d,%.2f\n", m, i, 1 + int(rand() * 10), d, int(rand() * 500), c, 1 + int(rand() * 3), 1 + rand() * 120
    }
}' >"$work/purchases.csv"
./patron demo --db "$work/bench.db" --members 0 >/dev/null
echo "patron import bench: $rows purchases, $(nproc) cores, SQLite, the demo's 4 earning rules"
./patron import purchases "$work/purchases.csv" --db "$work/bench.db" --header \
    --map member=member,order=order,date=date,sku=sku,category=category,quantity=quantity,amount=amount 2>/dev/null
./patron ledger verify --db "$work/bench.db"
