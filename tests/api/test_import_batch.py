"""`patron import purchases` writes whole batches at once (src/app/purchases_import.c):
the buyers are read once per batch and held in memory while their purchases run.
These tests hold that path to the API's: the same purchases earn the same points,
leave the same stats and balances, and every batch is audited."""
import datetime
import json
import zoneinfo

from conftest import run_patron, unique
from test_ledger import buy, make_rule, points, program_settings, quoted  # noqa: F401 (make_rule: a fixture)
from test_ledger_more import days_ago, import_purchases, member_by_external, rejects, write


def midnight(day):
    return f"{day.isoformat()}T00:00:00Z"


def test_an_import_earns_what_the_api_earns_for_the_same_purchases(server, make_rule, tmp_path, monkeypatch):
    monkeypatch.setenv("PATRON_TIME_ZONE", "UTC")  # dates in the file are business dates
    city = unique("c")[:16]
    mine = f"city = {quoted(city)}"
    make_rule(condition=mine)  # 1 point a euro
    make_rule(condition=f"{mine} and purchases_count = 0", formula="fixed", fixed_points=100)  # welcome
    make_rule(condition=f"{mine} and total_spend_cents >= 3000", formula="fixed", fixed_points=7)  # loyal so far
    make_rule(condition=mine, formula="fixed", fixed_points=50, cap_per_day=60)  # a daily cap
    api = server.create_member(external_id=unique("imp-"), address={"city": city})
    imported = server.create_member(external_id=unique("imp-"), address={"city": city})
    d5, d4, d3 = days_ago(5), days_ago(4), days_ago(3)
    basket = [(d5, 2000), (d5, 1500), (d5, 999), (d4, 900), (d3, 4000)]
    orders = [unique("IB-") for _ in basket]
    text = "member,order,date,amount\n" + "".join(
        f"{imported['external_id']},{order},{day.isoformat()},{cents / 100:.2f}\n"
        for order, (day, cents) in zip(orders, basket))
    summary, _ = import_purchases(server.db.url, write(tmp_path, "same.csv", text), "--header",
                                  "--map", "member=member,order=order,date=date,amount=amount")
    assert (summary["purchases"], summary["rejected"], summary["members_created"]) == (5, 0, 0)
    by_api = [buy(server, api["id"], cents, occurred_at=midnight(day))["points_earned"] for day, cents in basket]
    by_import = [int(server.db.scalar(f"SELECT points_earned FROM purchases WHERE order_id = '{order}'"))
                 for order in orders]
    assert by_import == by_api
    assert by_api == [20 + 100 + 50, 15 + 10, 9 + 7, 9 + 50 + 7, 40 + 50 + 7], \
        "welcome once, the cap shared by the day's purchases, 'loyal' once the spend so far reached 30.00"
    a, b = points(server, api["id"]), points(server, imported["id"])
    assert {k: b[k] for k in ("available", "pending", "held", "debt", "earned_total")} \
        == {k: a[k] for k in ("available", "pending", "held", "debt", "earned_total")}
    stats = "SELECT purchases_count, total_spend_cents, first_purchase_at, last_purchase_at, points_available," \
            " points_pending, points_earned, last_activity_at FROM member_stats WHERE member_id = "
    assert server.db.rows(stats + str(imported["id"])) == server.db.rows(stats + str(api["id"]))
    caps = "SELECT rule_id, day, points FROM rule_awards_daily WHERE member_id = {} ORDER BY rule_id, day"
    assert server.db.rows(caps.format(imported["id"])) == server.db.rows(caps.format(api["id"]))
    events = server.db.rows(f"SELECT kind, payload FROM member_events WHERE member_id = {imported['id']} ORDER BY id")
    assert [k for k, _ in events] == ["purchase"] * 5
    assert [json.loads(p)["points"] for _, p in events] == by_api


def test_import_members_join_with_their_first_purchase_and_each_batch_is_audited(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PATRON_TIME_ZONE", "UTC")
    new = unique("imp-")
    late, early = days_ago(2), days_ago(9)
    path = write(tmp_path, "join.csv", f"{new},{late.isoformat()},5.00\n{new},{early.isoformat()},7.00\n")
    audited = "action = 'purchases.import'"
    before = server.db.count("audit_log", audited)
    summary, _ = import_purchases(server.db.url, path, "--map", "member=1,date=2,amount=3")
    assert (summary["purchases"], summary["members_created"]) == (2, 1)
    member = member_by_external(server, new)
    assert member["joined_at"] == midnight(early), "an imported customer joined with their first purchase"
    assert server.db.count("audit_log", audited) == before + 1
    detail = server.db.scalar(f"SELECT detail FROM audit_log WHERE {audited} ORDER BY id DESC LIMIT 1")
    assert json.loads(detail) == {"rows": 2, "imported": 2, "duplicates": 0, "members_created": 1}
    # The same file again changes nothing, and leaves no audit row.
    summary, _ = import_purchases(server.db.url, path, "--map", "member=1,date=2,amount=3")
    assert (summary["purchases"], summary["duplicates_skipped"]) == (0, 2)
    assert server.db.count("audit_log", audited) == before + 1


def test_a_bad_line_refuses_its_whole_order(server, tmp_path):
    who, order = unique("imp-"), unique("ORD-")
    day = days_ago(1).isoformat()
    path = write(tmp_path, "bad-line.csv",
                 "member,order,date,sku,category,amount\n"
                 f"{who},{order},{day},A,,1.00\n"
                 f"{who},{order},{day},B,{'x' * 65},2.00\n"
                 f"{who},{order}-ok,{day},C,,3.00\n")
    summary, _ = import_purchases(server.db.url, path, "--header",
                                  "--map", "member=member,order=order,date=date,sku=sku,category=category,"
                                  "amount=amount")
    assert (summary["purchases"], summary["rejected"]) == (1, 1)
    assert server.db.count("purchases", f"order_id = '{order}'") == 0, "nothing of the refused order"
    assert rejects(path) == [(2, "category must be text of 1 to 64 bytes (lines[1])")], \
        "the order is refused at its first line, naming the bad one"


def test_a_large_import_matches_its_own_purchases_and_the_ledger(server, make_rule, tmp_path, monkeypatch):
    """More buyers than one lookup (500) and more rows than one statement holds:
    every chunk boundary of the set-based writes is crossed, on both engines."""
    monkeypatch.setenv("PATRON_TIME_ZONE", "UTC")
    tag = unique("big")[:12]
    make_rule(condition="total_spend_cents >= 5000", formula="fixed", fixed_points=3)  # depends on the stats so far
    buyers = [f"{tag}-{i}" for i in range(700)]
    rows = []
    for i in range(1500):
        who = buyers[(i * 13) % len(buyers)]  # 13 and 700 are coprime: every buyer, some twice or thrice
        day = days_ago(1 + (i % 20)).isoformat()
        rows.append(f"{who},{tag}-O{i},{day},SKU{i % 9},cat{i % 4},{1 + i % 3},{(i % 50) + 0.99:.2f}")
    path = write(tmp_path, "big.csv", "member,order,date,sku,category,quantity,amount\n" + "\n".join(rows) + "\n")
    spec = "member=member,order=order,date=date,sku=sku,category=category,quantity=quantity,amount=amount"
    summary, _ = import_purchases(server.db.url, path, "--header", "--map", spec)
    assert (summary["purchases"], summary["members_created"], summary["rejected"]) == (1500, 700, 0)
    per_member = server.db.rows(
        "SELECT s.purchases_count, s.total_spend_cents, s.points_earned,"
        " (SELECT COUNT(*) FROM purchases p WHERE p.member_id = m.id),"
        " (SELECT COALESCE(SUM(p.amount_cents), 0) FROM purchases p WHERE p.member_id = m.id),"
        " (SELECT COALESCE(SUM(p.points_earned), 0) FROM purchases p WHERE p.member_id = m.id)"
        f" FROM members m JOIN member_stats s ON s.member_id = m.id WHERE m.external_id LIKE '{tag}-%'")
    assert len(per_member) == 700
    for count, spend, earned, n, total, points_sum in per_member:
        assert (int(count), int(spend), int(earned)) == (int(n), int(total), int(points_sum))
    lines = server.db.count("purchase_lines", f"purchase_id IN (SELECT id FROM purchases WHERE order_id LIKE '{tag}-%')")
    assert lines == 1500
    events = server.db.count("member_events", "kind = 'purchase' AND member_id IN"
                             f" (SELECT id FROM members WHERE external_id LIKE '{tag}-%')")
    assert events == 1500
    verify = run_patron("ledger", "verify", "--db", server.db.url)
    assert "ledger verified" in verify.stdout, verify.stdout + verify.stderr
    before = server.db.counts(["purchases", "transfers", "points_lots", "member_events", "members"])
    summary, _ = import_purchases(server.db.url, path, "--header", "--map", spec)
    assert (summary["purchases"], summary["duplicates_skipped"], summary["members_created"]) == (0, 1500, 0)
    assert server.db.counts(["purchases", "transfers", "points_lots", "member_events", "members"]) == before


def test_daily_caps_hold_across_many_days_and_across_imports(server, make_rule, tmp_path, monkeypatch):
    """A buyer with purchases on 90 days of one batch keeps 90 cap counters, and a
    second file the next day sees what the first gave (counters read back, not reset)."""
    monkeypatch.setenv("PATRON_TIME_ZONE", "UTC")
    city = unique("c")[:16]
    make_rule(condition=f"city = {quoted(city)}", formula="fixed", fixed_points=50, cap_per_day=60)
    m = server.create_member(external_id=unique("imp-"), address={"city": city})
    days = [days_ago(n).isoformat() for n in range(1, 91)]
    spec = ["--header", "--map", "member=member,order=order,date=date,amount=amount"]
    first = write(tmp_path, "caps1.csv", "member,order,date,amount\n" + "".join(
        f"{m['external_id']},{unique('C1-')},{day},5.00\n" for day in days))
    summary, _ = import_purchases(server.db.url, first, *spec)
    assert (summary["purchases"], summary["rejected"]) == (90, 0)
    assert points(server, m["id"])["earned_total"] == 90 * 50
    second = write(tmp_path, "caps2.csv", "member,order,date,amount\n" + "".join(
        f"{m['external_id']},{unique('C2-')},{day},5.00\n" for day in days))
    summary, _ = import_purchases(server.db.url, second, *spec)
    assert (summary["purchases"], summary["rejected"]) == (90, 0)
    assert points(server, m["id"])["earned_total"] == 90 * 60, "each day's cap of 60 holds across the two files"
    assert server.db.rows(f"SELECT DISTINCT points FROM rule_awards_daily WHERE member_id = {m['id']}") == [("60",)]


def test_import_reads_dates_in_the_programs_time_zone(server, tmp_path, monkeypatch):
    """Without PATRON_TIME_ZONE every command takes the program's zone, as serve does:
    a file's date is that day's midnight in Auckland, not in the machine's zone."""
    monkeypatch.delenv("PATRON_TIME_ZONE", raising=False)
    who, order = unique("imp-"), unique("TZ-")
    day = days_ago(3)
    path = write(tmp_path, "tz.csv", f"{who},{order},{day.isoformat()},4.00\n")
    with program_settings(server, time_zone="Pacific/Auckland"):
        summary, _ = import_purchases(server.db.url, path, "--map", "member=1,order=2,date=3,amount=4")
    assert summary["purchases"] == 1
    midnight_auckland = datetime.datetime(day.year, day.month, day.day, tzinfo=zoneinfo.ZoneInfo("Pacific/Auckland"))
    occurred = int(server.db.scalar(f"SELECT occurred_at FROM purchases WHERE order_id = '{order}'"))
    assert occurred == int(midnight_auckland.timestamp()) * 10 ** 6
