"""The rest of the points ledger over HTTP and the CLI: refunds (by amount and by line,
proportional and cumulative take-back, the purchase's own lot first, debt and its
repayment), holds (capture, void, expiry and the holds_expire job), adjustments and the
approvals they wait in (limits, four eyes, supervisors, bulk adjustments of a segment),
member merges, the liability report, `patron import purchases` and `patron ledger verify`.

Every test works on members it created itself. Every active rule runs on every purchase
of the server, so each test's rules carry a condition on a unique `store` (or, for
imported purchases that name no store, a unique `city` of the buyer) and are deleted when
the test ends (the `make_rule` fixture). Program settings are global: tests that change
them do it through `program_settings`, which puts the old values back. The liability
report covers the whole shared server, so its tests check differences around their own
actions, not absolute values. The last test runs `patron ledger verify` on the server's
database after everything else.
"""

import csv
import datetime
import json
import os
import re
import sqlite3
import threading
import time

import pytest
import requests

from conftest import COUNTED_TABLES, ROLES, assert_error, run_patron, start_server, unique
from test_ledger import in_store, make_rule, program_settings, quoted  # noqa: F401 (make_rule: a fixture)

# Tables a ledger request may change, for "changes nothing" checks.
LEDGER_TABLES = COUNTED_TABLES + [
    "purchases", "purchase_lines", "purchase_refunds", "transfers", "points_lots", "points_holds",
    "points_hold_takes", "member_events", "approvals",
]

POINTS_KEYS = {"member_id", "available", "pending", "held", "debt", "earned_total", "expiring"}
REFUND_KEYS = {"id", "purchase_id", "amount_cents", "points_taken_back", "to_debt", "purchase"}
HOLD_KEYS = {"id", "member_id", "points", "captured", "status", "reason", "expires_at",
             "created_at", "closed_at"}
APPROVAL_KEYS = {"id", "kind", "payload", "points", "state", "proposed_by", "decided_by",
                 "decision_reason", "result", "created_at", "decided_at"}
LIABILITY_KEYS = {"as_of", "currency", "point_value_millicents", "outstanding", "by_expiry_month",
                  "by_age", "breakage", "totals", "owed_by_month"}
OUTSTANDING_KEYS = {"available", "pending", "held", "debt", "points", "value_cents"}
TOTALS_KEYS = {"issued", "redeemed", "expired", "reversed"}
AGE_BUCKETS = ["0-90 days", "91-180 days", "181-365 days", "over a year"]
IMPORT_SUMMARY_KEYS = {"rows", "purchases", "returns", "balances", "members_created",
                       "duplicates_skipped", "rejected", "rejects_file", "seconds", "rows_per_s"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")

BUYERS = {"admin", "integration"}                 # PERM_PURCHASES_WRITE: refunds, holds
ADJUSTERS = {"admin", "manager"}                  # PERM_POINTS_ADJUST: adjustments
DECIDERS = {"admin", "manager", "supervisor"}     # PERM_APPROVALS_DECIDE: approvals
MERGERS = {"admin", "manager"}                    # PERM_MEMBERS_ERASE: merges
ANALYSTS = {"admin", "manager", "supervisor", "analyst"}  # PERM_ANALYTICS_READ: liability


# ---- helpers ------------------------------------------------------------------------------------

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def instant(text):
    assert TIMESTAMP.fullmatch(text), text
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def days_ago(n):
    return utc_now().date() - datetime.timedelta(days=n)


def idem():
    return {"Idempotency-Key": unique("k-")}


@pytest.fixture
def fixed_store(make_rule):
    """fixed_store(points) -> a new store whose every purchase earns exactly `points`."""
    def make(points):
        store = unique("st")
        make_rule(condition=in_store(store), formula="fixed", fixed_points=points)
        return store
    return make


def buy(server, member_id, amount_cents, key="admin", **fields):
    body = {"member_id": member_id, "order_id": unique("order-"), "amount_cents": amount_cents}
    body.update(fields)
    r = server.post("/v1/purchases", json=body, key=key)
    assert r.status_code == 201, r.text
    return r.json()


def points(server, member_id, key="admin"):
    r = server.get(f"/v1/members/{member_id}/points", key=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == POINTS_KEYS, body
    return body


def balances(server, member_id):
    """(available, pending, held, debt) of a member."""
    p = points(server, member_id)
    return p["available"], p["pending"], p["held"], p["debt"]


def history(server, member_id):
    r = server.get(f"/v1/members/{member_id}/points/history?limit=500")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def spend(server, member_id, amount, key="admin"):
    r = server.post(f"/v1/members/{member_id}/points/spend", key=key, headers=idem(),
                    json={"points": amount, "reason": "a reward"})
    assert r.status_code == 201, r.text
    return r.json()


def refund(server, purchase_id, body, key="admin", headers=None):
    return server.post(f"/v1/purchases/{purchase_id}/refunds", json=body, key=key,
                       headers=headers if headers is not None else idem())


def refunded(server, purchase_id, body, key="admin"):
    r = refund(server, purchase_id, body, key=key)
    assert r.status_code == 201, r.text
    assert set(r.json()) == REFUND_KEYS, r.json()
    return r.json()


def hold(server, member_id, amount, key="admin", reason="till 4", headers=None, **fields):
    body = {"points": amount, "reason": reason}
    body.update(fields)
    return server.post(f"/v1/members/{member_id}/points/holds", json=body, key=key,
                       headers=headers if headers is not None else idem())


def held(server, member_id, amount, **kw):
    r = hold(server, member_id, amount, **kw)
    assert r.status_code == 201, r.text
    assert set(r.json()) == HOLD_KEYS, r.json()
    return r.json()


def capture(server, member_id, hold_id, body=None, key="admin", headers=None):
    return server.post(f"/v1/members/{member_id}/points/holds/{hold_id}/capture", json=body,
                       key=key, headers=headers if headers is not None else idem())


def void(server, member_id, hold_id, body=None, key="admin", headers=None):
    return server.post(f"/v1/members/{member_id}/points/holds/{hold_id}/void", json=body,
                       key=key, headers=headers if headers is not None else idem())


def adjust(server, member_id, amount, key="admin", reason="goodwill", headers=None):
    return server.post(f"/v1/members/{member_id}/points/adjustments", key=key,
                       json={"points": amount, "reason": reason},
                       headers=headers if headers is not None else idem())


def propose(server, member_id, amount, key="manager"):
    """A manager's adjustment beyond their limit: the approval it waits in."""
    r = adjust(server, member_id, amount, key=key)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "pending_approval", body
    assert set(body) == {"state", "approval"}
    assert set(body["approval"]) == APPROVAL_KEYS
    return body["approval"]


def decide(server, approval_id, verb, key, body=None, headers=None):
    return server.post(f"/v1/approvals/{approval_id}/{verb}", json=body, key=key,
                       headers=headers if headers is not None else idem())


def merge(server, from_id, into_id, key="admin", headers=None):
    return server.post(f"/v1/members/{from_id}/merge", json={"into": into_id}, key=key,
                       headers=headers if headers is not None else idem())


def liability(server, key="admin"):
    r = server.get("/v1/reports/liability", key=key)
    assert r.status_code == 200, r.text
    return r.json()


def earning_member(server, fixed_store, available):
    """A member holding `available` points, earned on one purchase of a store of its own."""
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=fixed_store(available))
    assert p["points_earned"] == available, p
    return m


def indebted_member(server, fixed_store, debt=100):
    """The buy-earn-spend-refund exploit: earned `debt` points, spent them, refunded the order."""
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=fixed_store(debt))
    spend(server, m["id"], debt)
    r = refunded(server, p["id"], {"amount_cents": 1000})
    assert (r["points_taken_back"], r["to_debt"]) == (debt, debt), r
    assert balances(server, m["id"]) == (0, 0, 0, debt)
    return m


def lot_remaining(server, purchase_id):
    """What is left of the lot a purchase's points made."""
    return server.db.scalar(
        "SELECT l.remaining FROM points_lots l JOIN transfers t ON t.id = l.transfer_id"
        f" WHERE t.reference_kind = 'purchase' AND t.reference_id = {int(purchase_id)}"
        " AND t.kind = 'earn'")


def hold_status(server, hold_id):
    return server.db.scalar(f"SELECT status FROM points_holds WHERE id = {int(hold_id)}")


def execute(db, sql):
    """Runs a change in SQL, committed (Database.rows reads; on SQLite it would not commit)."""
    if db.engine == "sqlite":
        conn = sqlite3.connect(db.path, timeout=30)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
    else:
        db.rows(sql)  # psql commits each statement


def verify(db_url, check=True):
    return run_patron("ledger", "verify", "--db", db_url, check=check)


# ---- refunds ------------------------------------------------------------------------------------

def test_refunds_by_amount_take_points_back_in_proportion_and_add_up(server, fixed_store):
    m = server.create_member()
    p = buy(server, m["id"], 300, store=fixed_store(100))
    assert p["points_earned"] == 100
    audit_before = server.db.count("audit_log", f"action = 'purchase.refund' AND entity_id = {p['id']}")
    first = refunded(server, p["id"], {"amount_cents": 100, "reason": "damaged"}, key="integration")
    assert first["purchase_id"] == p["id"] and first["amount_cents"] == 100
    assert (first["points_taken_back"], first["to_debt"]) == (33, 0)
    assert first["purchase"]["id"] == p["id"] and first["purchase"]["refunded_cents"] == 100
    assert first["purchase"]["points_earned"] == 100, "what the purchase earned stays as it was"
    assert server.get(f"/v1/purchases/{p['id']}").json() == first["purchase"]
    assert balances(server, m["id"]) == (67, 0, 0, 0)
    # Cumulative: 100 more of 300 is 66 - 33 = 33 points, the last 100 take the remaining 34.
    second = refunded(server, p["id"], {"amount_cents": 100})
    assert second["points_taken_back"] == 33
    third = refunded(server, p["id"], {"amount_cents": 100})
    assert third["points_taken_back"] == 34
    assert first["points_taken_back"] + second["points_taken_back"] + third["points_taken_back"] == 100
    assert len({first["id"], second["id"], third["id"]}) == 3
    assert third["purchase"]["refunded_cents"] == 300
    bal = points(server, m["id"])
    assert (bal["available"], bal["debt"], bal["earned_total"]) == (0, 0, 100)
    reversals = [t for t in history(server, m["id"]) if t["kind"] == "reversal"]
    assert [t["points"] for t in reversals] == [34, 33, 33]
    for t, r in zip(reversals, (third, second, first)):
        assert (t["debit"], t["credit"]) == ("member:available", "program:reversed")
        assert (t["reference_kind"], t["reference_id"]) == ("refund", r["id"])
    assert reversals[-1]["reason"] == "damaged" and reversals[0]["reason"] == "purchase refunded"
    assert reversals[-1]["actor"] == "test-integration"
    assert server.db.count("audit_log", f"action = 'purchase.refund' AND entity_id = {p['id']}") \
        == audit_before + 3
    assert server.db.count("member_events", f"member_id = {m['id']} AND kind = 'purchase_refunded'") == 3
    # Nothing is left to refund.
    assert_error(refund(server, p["id"], {"amount_cents": 1}), 400, "refund_exceeds_purchase")


def test_refund_by_lines_counts_quantities_and_their_share_of_the_money(server, fixed_store):
    m = server.create_member()
    p = buy(server, m["id"], 1500, store=fixed_store(150), lines=[
        {"sku": "VASE", "category": "home", "quantity": 3, "amount_cents": 1000},
        {"sku": "SEEDS", "quantity": 1, "amount_cents": 500}])
    assert [line["refunded_quantity"] for line in p["lines"]] == [0, 0]
    # One vase of three: a third of 1000 cents (333), and 150 * 333 / 1500 points rounded down.
    r = refunded(server, p["id"], {"lines": [{"line": 0, "quantity": 1}]})
    assert (r["amount_cents"], r["points_taken_back"]) == (333, 33)
    assert [line["refunded_quantity"] for line in r["purchase"]["lines"]] == [1, 0]
    # Without a quantity: what is left of the line (two vases, 667 cents).
    r = refunded(server, p["id"], {"lines": [{"line": 0}]})
    assert (r["amount_cents"], r["points_taken_back"]) == (667, 67)
    assert [line["refunded_quantity"] for line in r["purchase"]["lines"]] == [3, 0]
    before = server.db.counts(LEDGER_TABLES)
    r = refund(server, p["id"], {"lines": [{"line": 0, "quantity": 1}]})
    assert_error(r, 400, "refund_exceeds_purchase")
    assert_error(refund(server, p["id"], {"lines": [{"line": 1, "quantity": 2}]}), 400,
                 "refund_exceeds_purchase")
    assert_error(refund(server, p["id"], {"lines": [{"line": 2}]}), 400, "invalid_field")
    assert server.db.counts(LEDGER_TABLES) == before
    # The last line: the whole order is refunded and every point is back.
    r = refunded(server, p["id"], {"lines": [{"line": 1}], "reason": "changed mind"})
    assert (r["amount_cents"], r["points_taken_back"]) == (500, 50)
    assert r["purchase"]["refunded_cents"] == 1500
    assert [line["refunded_quantity"] for line in r["purchase"]["lines"]] == [3, 1]
    assert balances(server, m["id"]) == (0, 0, 0, 0)


def test_refund_of_single_units_adds_up_to_the_line(server, fixed_store):
    """1000 cents for 3 units: 333, 333, 334 -- the shares of cumulative quantities."""
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=fixed_store(30),
            lines=[{"sku": "CUP", "quantity": 3, "amount_cents": 1000}])
    amounts = [refunded(server, p["id"], {"lines": [{"line": 0, "quantity": 1}]})["amount_cents"]
               for _ in range(3)]
    assert amounts == [333, 333, 334]
    assert server.get(f"/v1/purchases/{p['id']}").json()["refunded_cents"] == 1000
    assert points(server, m["id"])["available"] == 0


def test_refund_after_spending_makes_debt_that_the_next_earning_repays(server, fixed_store):
    """The buy-earn-spend-refund exploit: earn 100, spend 100, refund -> 100 owed; the next
    purchase's 60 points repay 60 of it (nothing becomes available), the next 50 the rest."""
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=fixed_store(100))
    spend(server, m["id"], 100)
    r = refunded(server, p["id"], {"amount_cents": 1000})
    assert (r["points_taken_back"], r["to_debt"]) == (100, 100)
    bal = points(server, m["id"])
    assert (bal["available"], bal["pending"], bal["debt"], bal["earned_total"]) == (0, 0, 100, 100)
    reversal = history(server, m["id"])[0]
    assert (reversal["kind"], reversal["debit"], reversal["credit"], reversal["points"]) \
        == ("reversal", "member:debt", "program:reversed", 100)
    buy(server, m["id"], 1000, store=fixed_store(60))
    assert balances(server, m["id"]) == (0, 0, 0, 40)
    repay = history(server, m["id"])[0]
    assert (repay["kind"], repay["debit"], repay["credit"], repay["points"]) \
        == ("repay", "program:issued", "member:debt", 60)
    buy(server, m["id"], 1000, store=fixed_store(50))
    assert balances(server, m["id"]) == (10, 0, 0, 0)
    assert points(server, m["id"])["earned_total"] == 210
    assert_error(server.post(f"/v1/members/{m['id']}/points/spend", json={"points": 11, "reason": "x"},
                             headers=idem()), 409, "insufficient_points")


def test_refund_takes_the_purchases_own_lot_first(server, fixed_store):
    store = fixed_store(100)
    m = server.create_member()
    a = buy(server, m["id"], 1000, store=store)
    b = buy(server, m["id"], 1000, store=store)
    r = refunded(server, b["id"], {"amount_cents": 500})
    assert r["points_taken_back"] == 50
    assert (lot_remaining(server, a["id"]), lot_remaining(server, b["id"])) == (100, 50)
    # A pending lot goes back where it came from, even when points are available.
    with program_settings(server, pending_days=10):
        c = buy(server, m["id"], 1000, store=store)
    assert balances(server, m["id"]) == (150, 100, 0, 0)
    r = refunded(server, c["id"], {"amount_cents": 1000})
    assert (r["points_taken_back"], r["to_debt"]) == (100, 0)
    assert balances(server, m["id"]) == (150, 0, 0, 0)
    reversal = history(server, m["id"])[0]
    assert (reversal["debit"], reversal["credit"]) == ("member:pending", "program:reversed")
    # Its own lot spent: available points come next, then debt.
    spend(server, m["id"], 120)  # lot a first (100), then 20 of lot b
    assert (lot_remaining(server, a["id"]), lot_remaining(server, b["id"])) == (0, 30)
    r = refunded(server, a["id"], {"amount_cents": 1000})
    assert (r["points_taken_back"], r["to_debt"]) == (100, 70)
    assert balances(server, m["id"]) == (0, 0, 0, 70)


def test_refund_of_a_purchase_that_earned_nothing_moves_no_points(server):
    m = server.create_member()
    p = buy(server, m["id"], 2500, store=unique("st"))  # no rule names this store
    assert p["points_earned"] == 0
    transfers = server.db.count("transfers", f"member_id = {m['id']}")
    r = refunded(server, p["id"], {"amount_cents": 2500})
    assert (r["points_taken_back"], r["to_debt"]) == (0, 0)
    assert r["purchase"]["refunded_cents"] == 2500
    assert server.db.count("transfers", f"member_id = {m['id']}") == transfers


def test_refund_needs_an_idempotency_key_and_replays_with_it(server, fixed_store):
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=fixed_store(100))
    path = f"/v1/purchases/{p['id']}/refunds"
    before = server.db.counts(LEDGER_TABLES)
    assert_error(server.post(path, json={"amount_cents": 100}), 400, "idempotency_key_required")
    assert server.db.counts(LEDGER_TABLES) == before
    key = {"Idempotency-Key": unique("refund-")}
    first = refund(server, p["id"], {"amount_cents": 100}, headers=key)
    assert first.status_code == 201, first.text
    mid = server.db.counts(LEDGER_TABLES)
    again = refund(server, p["id"], {"amount_cents": 100}, headers=key)
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert server.db.counts(LEDGER_TABLES) == mid
    assert points(server, m["id"])["available"] == 90
    assert_error(refund(server, p["id"], {"amount_cents": 200}, headers=key), 409, "idempotency_key_reused")


def test_bad_refunds_change_nothing(server, fixed_store):
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=fixed_store(100),
            lines=[{"sku": "A", "quantity": 2, "amount_cents": 1000}])
    before = server.db.counts(LEDGER_TABLES)
    cases = [
        ({}, "invalid_field"),
        ({"reason": "x"}, "invalid_field"),
        ({"amount_cents": 100, "lines": [{"line": 0}]}, "invalid_field"),
        ({"amount_cents": 0}, "invalid_field"),
        ({"amount_cents": -100}, "invalid_field"),
        ({"amount_cents": "100"}, "invalid_field"),
        ({"amount_cents": 1.5}, "invalid_field"),
        ({"amount_cents": 1001}, "refund_exceeds_purchase"),
        ({"amount_cents": 100, "reason": "x" * 101}, "invalid_field"),
        ({"amount_cents": 100, "reason": 5}, "invalid_field"),
        ({"amount_cents": 100, "note": "x"}, "unknown_field"),
        ({"lines": []}, "invalid_field"),
        ({"lines": "0"}, "invalid_field"),
        ({"lines": [0]}, "invalid_field"),
        ({"lines": [{"quantity": 1}]}, "invalid_field"),
        ({"lines": [{"line": -1}]}, "invalid_field"),
        ({"lines": [{"line": 0, "quantity": 0}]}, "invalid_field"),
        ({"lines": [{"line": 0, "quantity": 3}]}, "refund_exceeds_purchase"),
        ({"lines": [{"line": 1}]}, "invalid_field"),
        ({"lines": [{"line": 0, "sku": "A"}]}, "unknown_field"),
        # The second item fails: the first one's quantity is not kept.
        ({"lines": [{"line": 0, "quantity": 1}, {"line": 0, "quantity": 2}]}, "refund_exceeds_purchase"),
    ]
    for body, code in cases:
        assert_error(refund(server, p["id"], body), 400, code)
    for raw in ("[]", "[1]"):
        assert_error(server.post(f"/v1/purchases/{p['id']}/refunds", data=raw,
                                 headers={"Content-Type": "application/json", **idem()}), 400, "invalid_body")
    assert_error(refund(server, 999999999, {"amount_cents": 1}), 404, "not_found")
    assert_error(refund(server, "abc", {"amount_cents": 1}), 404, "not_found")
    for role in sorted(set(ROLES) - BUYERS):
        assert_error(refund(server, p["id"], {"amount_cents": 1}, key=role), 403, "forbidden")
    assert_error(refund(server, p["id"], {"amount_cents": 1}, key=None), 401, "unauthorized")
    assert_error(server.get(f"/v1/purchases/{p['id']}/refunds"), 405, "method_not_allowed")
    assert server.db.counts(LEDGER_TABLES) == before
    got = server.get(f"/v1/purchases/{p['id']}").json()
    assert got["refunded_cents"] == 0 and got["lines"][0]["refunded_quantity"] == 0
    assert points(server, m["id"])["available"] == 100


# ---- holds --------------------------------------------------------------------------------------

def test_hold_then_capture_part_gives_the_rest_back(server, fixed_store):
    m = earning_member(server, fixed_store, 100)
    before = server.db.counts(LEDGER_TABLES)
    h = held(server, m["id"], 30, key="integration", reason="basket 17")
    assert (h["member_id"], h["points"], h["captured"], h["status"], h["reason"]) \
        == (m["id"], 30, 0, "open", "basket 17")
    assert h["closed_at"] is None
    assert instant(h["expires_at"]) - instant(h["created_at"]) == datetime.timedelta(seconds=900)
    after = server.db.counts(LEDGER_TABLES)
    assert after["points_holds"] == before["points_holds"] + 1
    assert after["transfers"] == before["transfers"] + 1
    assert balances(server, m["id"]) == (70, 0, 30, 0)
    t = history(server, m["id"])[0]
    assert (t["kind"], t["debit"], t["credit"], t["points"], t["available_after"]) \
        == ("hold", "member:available", "member:held", 30, 70)
    # Held points cannot be spent or held again.
    assert_error(hold(server, m["id"], 71), 409, "insufficient_points")
    r = capture(server, m["id"], h["id"], {"points": 20}, key="integration")
    assert r.status_code == 200, r.text
    c = r.json()
    assert set(c) == HOLD_KEYS
    assert (c["id"], c["points"], c["captured"], c["status"]) == (h["id"], 30, 20, "captured")
    assert instant(c["closed_at"]) >= instant(c["created_at"])
    assert balances(server, m["id"]) == (80, 0, 0, 0)
    kinds = [(t["kind"], t["debit"], t["credit"], t["points"]) for t in history(server, m["id"])[:2]]
    assert sorted(kinds) == [("capture", "member:held", "program:redeemed", 20),
                             ("release", "member:held", "member:available", 10)]
    assert server.db.count("audit_log", f"action = 'points.capture' AND entity_id = {m['id']}") == 1
    # Closed: no second capture, no void.
    assert_error(capture(server, m["id"], h["id"]), 409, "hold_closed")
    assert_error(void(server, m["id"], h["id"]), 409, "hold_closed")
    assert balances(server, m["id"]) == (80, 0, 0, 0)


def test_capture_without_points_takes_the_whole_hold(server, fixed_store):
    m = earning_member(server, fixed_store, 100)
    a = held(server, m["id"], 25)
    b = held(server, m["id"], 15, expires_in_s=604800)
    assert instant(b["expires_at"]) - instant(b["created_at"]) == datetime.timedelta(days=7)
    assert balances(server, m["id"]) == (60, 0, 40, 0)
    r = capture(server, m["id"], a["id"])  # no body at all
    assert r.status_code == 200, r.text
    assert (r.json()["captured"], r.json()["status"]) == (25, "captured")
    r = capture(server, m["id"], b["id"], {})
    assert r.status_code == 200, r.text
    assert r.json()["captured"] == 15
    assert balances(server, m["id"]) == (60, 0, 0, 0)


def test_capture_of_zero_points_is_refused(server, fixed_store):
    m = earning_member(server, fixed_store, 100)
    h = held(server, m["id"], 30)
    try:
        r = capture(server, m["id"], h["id"], {"points": 0})
        assert_error(r, 400, "invalid_field")
        assert balances(server, m["id"]) == (70, 0, 30, 0)
    finally:
        if hold_status(server, h["id"]) == "open":
            void(server, m["id"], h["id"])


def test_void_gives_every_point_back(server, fixed_store):
    m = earning_member(server, fixed_store, 100)
    h = held(server, m["id"], 60)
    assert balances(server, m["id"]) == (40, 0, 60, 0)
    r = void(server, m["id"], h["id"], key="integration")
    assert r.status_code == 200, r.text
    v = r.json()
    assert set(v) == HOLD_KEYS
    assert (v["status"], v["captured"], v["points"]) == ("voided", 0, 60)
    assert v["closed_at"] is not None
    assert balances(server, m["id"]) == (100, 0, 0, 0)
    t = history(server, m["id"])[0]
    assert (t["kind"], t["credit"], t["points"], t["available_after"]) == ("release", "member:available", 60, 100)
    assert_error(void(server, m["id"], h["id"]), 409, "hold_closed")
    assert_error(capture(server, m["id"], h["id"]), 409, "hold_closed")
    # The points are whole again: all of them can be spent.
    spend(server, m["id"], 100)


def test_released_hold_points_repay_debt(server, fixed_store):
    """A refund while points are held makes debt; voiding the hold repays it first."""
    store = fixed_store(100)
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=store)
    h = held(server, m["id"], 100)
    r = refunded(server, p["id"], {"amount_cents": 1000})
    assert r["to_debt"] == 100, "held points are not taken back"
    assert balances(server, m["id"]) == (0, 0, 100, 100)
    assert void(server, m["id"], h["id"]).status_code == 200
    assert balances(server, m["id"]) == (0, 0, 0, 0)


def test_hold_expiry(server, fixed_store):
    """A hold past expires_at cannot be captured (hold_expired) and the holds_expire job gives
    its points back (status expired). The server's own scheduler runs that job once a minute,
    so if it got there first (hold_closed, status already expired) the test tries again."""
    m = earning_member(server, fixed_store, 100)
    for attempt in range(3):
        h = held(server, m["id"], 40, expires_in_s=1)
        assert instant(h["expires_at"]) - instant(h["created_at"]) == datetime.timedelta(seconds=1)
        time.sleep(1.2)
        r = capture(server, m["id"], h["id"])
        if r.status_code == 409 and r.json()["error"]["code"] == "hold_closed" \
                and hold_status(server, h["id"]) == "expired":
            continue  # the scheduler expired it between the sleep and the capture
        assert_error(r, 409, "hold_expired")
        break
    else:
        pytest.fail("the scheduler expired the hold first three times")
    assert hold_status(server, h["id"]) == "open", "a refused capture changes nothing"
    assert balances(server, m["id"]) == (60, 0, 40, 0)
    run_patron("jobs", "run", "holds_expire", "--db", server.db.url)
    assert hold_status(server, h["id"]) == "expired"
    assert balances(server, m["id"]) == (100, 0, 0, 0)
    t = history(server, m["id"])[0]
    assert (t["kind"], t["credit"], t["points"], t["reference_id"]) == ("release", "member:available", 40, h["id"])
    assert_error(capture(server, m["id"], h["id"]), 409, "hold_closed")
    assert_error(void(server, m["id"], h["id"]), 409, "hold_closed")
    # The job leaves holds that are not yet due alone.
    keep = held(server, m["id"], 10)
    run_patron("jobs", "run", "holds_expire", "--db", server.db.url)
    assert hold_status(server, keep["id"]) == "open"
    assert void(server, m["id"], keep["id"]).status_code == 200


def test_hold_routes_replay_with_the_same_key(server, fixed_store):
    m = earning_member(server, fixed_store, 100)
    key = {"Idempotency-Key": unique("hold-")}
    first = hold(server, m["id"], 10, headers=key)
    assert first.status_code == 201, first.text
    again = hold(server, m["id"], 10, headers=key)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert balances(server, m["id"]) == (90, 0, 10, 0)
    key = {"Idempotency-Key": unique("capture-")}
    c1 = capture(server, m["id"], first.json()["id"], {"points": 4}, headers=key)
    c2 = capture(server, m["id"], first.json()["id"], {"points": 4}, headers=key)
    assert c1.status_code == c2.status_code == 200
    assert c2.headers.get("Idempotent-Replayed") == "true" and c2.json() == c1.json()
    assert balances(server, m["id"]) == (96, 0, 0, 0)


def test_bad_holds_change_nothing(server, fixed_store):
    m = earning_member(server, fixed_store, 50)
    other = earning_member(server, fixed_store, 50)
    h = held(server, m["id"], 20)
    theirs = held(server, other["id"], 5)
    path = f"/v1/members/{m['id']}/points/holds"
    before = server.db.counts(LEDGER_TABLES)
    cases = [
        ({"points": 0, "reason": "x"}, "invalid_field"),
        ({"points": -1, "reason": "x"}, "invalid_field"),
        ({"points": "5", "reason": "x"}, "invalid_field"),
        ({"points": 1.5, "reason": "x"}, "invalid_field"),
        ({"reason": "x"}, "invalid_field"),
        ({"points": 5}, "invalid_field"),
        ({"points": 5, "reason": ""}, "invalid_field"),
        ({"points": 5, "reason": "x" * 101}, "invalid_field"),
        ({"points": 5, "reason": "x", "expires_in_s": 0}, "invalid_field"),
        ({"points": 5, "reason": "x", "expires_in_s": 604801}, "invalid_field"),
        ({"points": 5, "reason": "x", "expires_in_s": "60"}, "invalid_field"),
        ({"points": 5, "reason": "x", "till": 4}, "unknown_field"),
    ]
    for body, code in cases:
        assert_error(server.post(path, json=body, headers=idem()), 400, code)
    assert_error(hold(server, m["id"], 31), 409, "insufficient_points")
    assert_error(server.post(path, json={"points": 5, "reason": "x"}), 400, "idempotency_key_required")
    assert_error(hold(server, 999999999, 5), 404, "member_not_found")
    # Captures and voids.
    assert_error(capture(server, m["id"], h["id"], {"points": 21}), 400, "invalid_field")
    assert_error(capture(server, m["id"], h["id"], {"points": -1}), 400, "invalid_field")
    assert_error(capture(server, m["id"], h["id"], {"points": "all"}), 400, "invalid_field")
    assert_error(capture(server, m["id"], h["id"], {"reason": "x"}), 400, "unknown_field")
    assert_error(void(server, m["id"], h["id"], {"points": 1}), 400, "unknown_field")
    assert_error(capture(server, m["id"], h["id"], [1]), 400, "invalid_body")
    assert_error(server.post(f"{path}/{h['id']}/capture"), 400, "idempotency_key_required")
    assert_error(server.post(f"{path}/{h['id']}/void"), 400, "idempotency_key_required")
    assert_error(capture(server, m["id"], 999999999), 404, "not_found")
    assert_error(void(server, m["id"], 999999999), 404, "not_found")
    assert_error(capture(server, m["id"], theirs["id"]), 404, "not_found")  # another member's hold
    assert_error(void(server, m["id"], theirs["id"]), 404, "not_found")
    assert_error(capture(server, m["id"], "x"), 404, "not_found")
    for role in sorted(set(ROLES) - BUYERS):
        assert_error(hold(server, m["id"], 1, key=role), 403, "forbidden")
        assert_error(capture(server, m["id"], h["id"], key=role), 403, "forbidden")
        assert_error(void(server, m["id"], h["id"], key=role), 403, "forbidden")
    assert_error(hold(server, m["id"], 1, key=None), 401, "unauthorized")
    assert_error(server.get(path), 405, "method_not_allowed")
    assert server.db.counts(LEDGER_TABLES) == before
    assert balances(server, m["id"]) == (30, 0, 20, 0)
    assert hold_status(server, h["id"]) == "open" and hold_status(server, theirs["id"]) == "open"
    assert void(server, m["id"], h["id"]).status_code == 200
    assert void(server, other["id"], theirs["id"]).status_code == 200


# ---- adjustments --------------------------------------------------------------------------------

def test_admin_adjustments_apply_at_once(server):
    m = server.create_member()
    audit = server.db.count("audit_log", f"action = 'points.adjust' AND entity_id = {m['id']}")
    r = adjust(server, m["id"], 500, reason="sorry for the delay")
    assert r.status_code == 201, r.text
    assert r.json() == {"state": "applied", "member_id": m["id"], "points": 500, "available": 500,
                        "reason": "sorry for the delay"}
    t = history(server, m["id"])[0]
    assert (t["kind"], t["debit"], t["credit"], t["points"], t["reason"], t["actor"]) \
        == ("adjust", "program:adjusted", "member:available", 500, "sorry for the delay", "test-admin")
    r = adjust(server, m["id"], -200, reason="double credit")
    assert r.status_code == 201, r.text
    assert (r.json()["state"], r.json()["points"], r.json()["available"]) == ("applied", -200, 300)
    t = history(server, m["id"])[0]
    assert (t["kind"], t["debit"], t["credit"], t["points"]) \
        == ("adjust", "member:available", "program:adjusted", 200)
    before = server.db.counts(LEDGER_TABLES)
    assert_error(adjust(server, m["id"], -301), 409, "insufficient_points")
    assert server.db.counts(LEDGER_TABLES) == before
    # An admin is not limited.
    r = adjust(server, m["id"], 10 ** 6)
    assert r.status_code == 201 and r.json()["state"] == "applied"
    assert points(server, m["id"])["available"] == 300 + 10 ** 6
    assert server.db.count("audit_log", f"action = 'points.adjust' AND entity_id = {m['id']}") == audit + 3


def test_manager_adjusts_up_to_the_limit_and_proposes_beyond_it(server):
    m = server.create_member()
    limit = server.get("/v1/program").json()["manager_adjustment_limit"]
    assert limit == 1000, "the default limit"
    r = adjust(server, m["id"], 1000, key="manager")
    assert r.status_code == 201 and r.json()["state"] == "applied", r.text
    r = adjust(server, m["id"], -1000, key="manager")
    assert r.status_code == 201 and r.json()["state"] == "applied", r.text
    approvals_before = server.db.count("approvals")
    a = propose(server, m["id"], 1001)
    assert (a["kind"], a["points"], a["state"], a["proposed_by"]) \
        == ("points_adjustment", 1001, "pending", "test-manager")
    assert a["payload"] == {"member_id": m["id"], "points": 1001, "reason": "goodwill"}
    assert (a["decided_by"], a["decision_reason"], a["result"], a["decided_at"]) == (None, None, None, None)
    assert TIMESTAMP.fullmatch(a["created_at"])
    b = propose(server, m["id"], -1001)
    assert (b["points"], b["payload"]["points"]) == (1001, -1001), "points: the size either way"
    assert server.db.count("approvals") == approvals_before + 2
    assert points(server, m["id"])["available"] == 0, "a proposal moves nothing"
    assert server.db.count("audit_log", f"action = 'approval.propose' AND entity_id = {a['id']}") == 1
    with program_settings(server, manager_adjustment_limit=10):
        r = adjust(server, m["id"], 10, key="manager")
        assert r.json()["state"] == "applied", r.text
        propose(server, m["id"], 11)
        r = adjust(server, m["id"], 11, key="admin")
        assert r.json()["state"] == "applied", r.text
    assert points(server, m["id"])["available"] == 21
    for approval in (a, b):  # leave nothing pending
        assert decide(server, approval["id"], "reject", "admin").status_code == 200


def test_positive_adjustment_repays_debt_first(server, fixed_store):
    m = indebted_member(server, fixed_store, 100)
    r = adjust(server, m["id"], 30)
    assert r.status_code == 201 and r.json()["available"] == 0, r.text
    assert balances(server, m["id"]) == (0, 0, 0, 70)
    r = adjust(server, m["id"], 100)
    assert r.json()["available"] == 30
    assert balances(server, m["id"]) == (30, 0, 0, 0)


def test_adjustment_replays_with_the_same_key(server):
    m = server.create_member()
    key = {"Idempotency-Key": unique("adj-")}
    first = adjust(server, m["id"], 40, headers=key)
    again = adjust(server, m["id"], 40, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert points(server, m["id"])["available"] == 40
    assert_error(adjust(server, m["id"], 41, headers=key), 409, "idempotency_key_reused")


def test_bad_adjustments_change_nothing(server):
    m = server.create_member()
    assert adjust(server, m["id"], 50).status_code == 201
    path = f"/v1/members/{m['id']}/points/adjustments"
    before = server.db.counts(LEDGER_TABLES)
    cases = [
        ({"points": 0, "reason": "x"}, "invalid_field"),
        ({"points": 1.5, "reason": "x"}, "invalid_field"),
        ({"points": "5", "reason": "x"}, "invalid_field"),
        ({"points": True, "reason": "x"}, "invalid_field"),
        ({"points": 10 ** 9 + 1, "reason": "x"}, "invalid_field"),
        ({"points": -(10 ** 9) - 1, "reason": "x"}, "invalid_field"),
        ({"reason": "x"}, "invalid_field"),
        ({"points": 5}, "invalid_field"),
        ({"points": 5, "reason": ""}, "invalid_field"),
        ({"points": 5, "reason": "x" * 101}, "invalid_field"),
        ({"points": 5, "reason": None}, "invalid_field"),
        ({"points": 5, "reason": "x", "note": "y"}, "unknown_field"),
    ]
    for body, code in cases:
        assert_error(server.post(path, json=body, headers=idem()), 400, code)
        assert_error(server.post(path, json=body, headers=idem(), key="manager"), 400, code)
    assert_error(server.post(path, json={"points": 5, "reason": "x"}), 400, "idempotency_key_required")
    assert_error(adjust(server, 999999999, 5), 404, "member_not_found")
    assert_error(adjust(server, 999999999, 5000, key="manager"), 404, "member_not_found")
    assert_error(adjust(server, m["id"], -51, key="manager"), 409, "insufficient_points")
    for role in sorted(set(ROLES) - ADJUSTERS):
        assert_error(adjust(server, m["id"], 5, key=role), 403, "forbidden")
    assert_error(adjust(server, m["id"], 5, key=None), 401, "unauthorized")
    assert server.db.counts(LEDGER_TABLES) == before
    assert points(server, m["id"])["available"] == 50


# ---- approvals ----------------------------------------------------------------------------------

def test_an_approval_is_decided_by_someone_else_and_runs_once(server):
    m = server.create_member()
    a = propose(server, m["id"], 1500)
    r = server.get(f"/v1/approvals/{a['id']}", key="supervisor")
    assert r.status_code == 200 and r.json() == a
    pending = server.get("/v1/approvals?state=pending&limit=500", key="manager").json()["data"]
    assert a["id"] in [x["id"] for x in pending]
    # Not by the proposer, either way.
    before = server.db.counts(LEDGER_TABLES)
    assert_error(decide(server, a["id"], "approve", "manager"), 403, "own_approval")
    assert_error(decide(server, a["id"], "reject", "manager"), 403, "own_approval")
    assert server.db.counts(LEDGER_TABLES) == before
    key = {"Idempotency-Key": unique("approve-")}
    r = decide(server, a["id"], "approve", "supervisor", {"reason": "checked the ticket"}, headers=key)
    assert r.status_code == 200, r.text
    done = r.json()
    assert set(done) == APPROVAL_KEYS
    assert (done["state"], done["decided_by"], done["decision_reason"]) \
        == ("approved", "test-supervisor", "checked the ticket")
    assert done["result"] == {"members": 1, "points": 1500}
    assert instant(done["decided_at"]) >= instant(done["created_at"])
    assert {k: done[k] for k in ("id", "kind", "payload", "points", "proposed_by", "created_at")} \
        == {k: a[k] for k in ("id", "kind", "payload", "points", "proposed_by", "created_at")}
    assert points(server, m["id"])["available"] == 1500
    t = history(server, m["id"])[0]
    assert (t["kind"], t["points"], t["reference_kind"], t["reference_id"], t["reason"], t["actor"]) \
        == ("adjust", 1500, "approval", a["id"], "goodwill", "test-supervisor")
    assert server.db.count("audit_log", f"action = 'approval.approve' AND entity_id = {a['id']}") == 1
    # A retry with the key replays; anything else finds it decided.
    mid = server.db.counts(LEDGER_TABLES)
    again = decide(server, a["id"], "approve", "supervisor", {"reason": "checked the ticket"}, headers=key)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == done
    assert_error(decide(server, a["id"], "approve", "supervisor"), 409, "not_pending")
    assert_error(decide(server, a["id"], "approve", "admin"), 409, "not_pending")
    assert_error(decide(server, a["id"], "reject", "admin"), 409, "not_pending")
    assert server.db.counts(LEDGER_TABLES) == mid
    assert points(server, m["id"])["available"] == 1500
    assert server.db.count("transfers", f"reference_kind = 'approval' AND reference_id = {a['id']}") == 1
    assert server.get(f"/v1/approvals/{a['id']}", key="admin").json() == done


def test_two_manager_keys_are_two_people(server):
    second = server.db.create_key("manager", name=unique("manager-two-"))
    m = server.create_member()
    a = propose(server, m["id"], 2000)
    assert_error(decide(server, a["id"], "approve", "manager"), 403, "own_approval")
    r = decide(server, a["id"], "approve", second)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"
    assert points(server, m["id"])["available"] == 2000
    # The other way round too.
    b = propose(server, m["id"], -1500, key=second)
    assert_error(decide(server, b["id"], "reject", second), 403, "own_approval")
    r = decide(server, b["id"], "approve", "manager")
    assert r.status_code == 200 and r.json()["result"] == {"members": 1, "points": -1500}, r.text
    assert points(server, m["id"])["available"] == 500


def test_supervisors_decide_only_up_to_their_limit(server):
    m = server.create_member()
    with program_settings(server, supervisor_approval_limit=1200):
        small, big = propose(server, m["id"], 1200), propose(server, m["id"], 1201)
        before = server.db.counts(LEDGER_TABLES)
        assert_error(decide(server, big["id"], "approve", "supervisor"), 403, "over_limit")
        assert_error(decide(server, big["id"], "reject", "supervisor"), 403, "over_limit")
        assert server.db.counts(LEDGER_TABLES) == before
        r = decide(server, small["id"], "approve", "supervisor")
        assert r.status_code == 200 and r.json()["state"] == "approved", r.text
        r = decide(server, big["id"], "reject", "admin", {"reason": "no ticket"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["state"], body["decided_by"], body["decision_reason"], body["result"]) \
            == ("rejected", "test-admin", "no ticket", None)
    assert points(server, m["id"])["available"] == 1200, "a rejected proposal moves nothing"
    assert server.db.count("transfers", f"reference_kind = 'approval' AND reference_id = {big['id']}") == 0
    assert server.db.count("audit_log", f"action = 'approval.reject' AND entity_id = {big['id']}") == 1
    assert_error(decide(server, big["id"], "approve", "admin"), 409, "not_pending")


def test_an_approval_that_cannot_run_stays_pending(server, fixed_store):
    m = earning_member(server, fixed_store, 2000)
    a = propose(server, m["id"], -1500)
    spend(server, m["id"], 1000)
    before = server.db.counts(LEDGER_TABLES)
    assert_error(decide(server, a["id"], "approve", "admin"), 409, "insufficient_points")
    assert server.db.counts(LEDGER_TABLES) == before
    assert server.get(f"/v1/approvals/{a['id']}").json()["state"] == "pending"
    assert points(server, m["id"])["available"] == 1000
    # Once it can, it does.
    assert adjust(server, m["id"], 500).status_code == 201
    r = decide(server, a["id"], "approve", "admin")
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    assert points(server, m["id"])["available"] == 0


def test_approvals_list_newest_first_in_pages_and_by_state(server):
    m = server.create_member()
    mine = [propose(server, m["id"], 1001 + k) for k in range(3)]
    assert decide(server, mine[0]["id"], "approve", "admin").status_code == 200
    assert decide(server, mine[1]["id"], "reject", "admin").status_code == 200
    full = server.get("/v1/approvals?limit=500", key="supervisor").json()
    assert set(full) == {"data", "next_before"} and full["next_before"] is None
    ids = [a["id"] for a in full["data"]]
    assert ids == sorted(ids, reverse=True)
    assert {a["id"] for a in mine} <= set(ids)
    for a in full["data"]:
        assert set(a) == APPROVAL_KEYS
    seen, before = [], None
    for _ in range(len(ids) + 1):
        path = "/v1/approvals?limit=2" + (f"&before={before}" if before else "")
        body = server.get(path, key="manager").json()
        seen += body["data"]
        before = body["next_before"]
        if before is None:
            break
        assert before == body["data"][-1]["id"]
    assert seen == full["data"]
    by_state = {}
    for state in ("pending", "approved", "rejected"):
        r = server.get(f"/v1/approvals?state={state}&limit=500")
        assert r.status_code == 200, r.text
        by_state[state] = r.json()["data"]
        assert all(a["state"] == state for a in by_state[state])
    assert sorted(a["id"] for s in by_state.values() for a in s) == sorted(ids)
    assert mine[0]["id"] in [a["id"] for a in by_state["approved"]]
    assert mine[1]["id"] in [a["id"] for a in by_state["rejected"]]
    assert mine[2]["id"] in [a["id"] for a in by_state["pending"]]
    for query in ("state=done", "state=", "before=0", "before=x", "limit=0", "limit=501"):
        assert_error(server.get(f"/v1/approvals?{query}"), 400, "invalid_query")
    assert decide(server, mine[2]["id"], "reject", "admin").status_code == 200


def race(server, calls):
    """Sends the requests (method, path, key, json, headers) at once, one thread each, and
    returns [(status, body)] in the order given."""
    results, errors = [None] * len(calls), []
    barrier = threading.Barrier(len(calls))

    def client(i, method, path, key, body, headers):
        try:
            session = requests.Session()
            h = dict(server.auth_headers(key), **(headers or {}))
            barrier.wait()
            r = session.request(method, server.base + path, json=body, headers=h, timeout=120)
            results[i] = (r.status_code, r.json())
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors
    return results


def test_concurrent_decisions_run_an_approval_once(server):
    deciders = ["admin", "supervisor"] + [server.db.create_key("manager", name=unique("mgr-")) for _ in range(4)]
    m = server.create_member()
    a = propose(server, m["id"], 1111)
    path = f"/v1/approvals/{a['id']}"
    calls = [("POST", f"{path}/{'approve' if i % 3 else 'reject'}", key, None, idem())
             for i, key in enumerate(deciders * 2)]
    results = race(server, calls)
    wins = [(status, body) for status, body in results if status == 200]
    assert len(wins) == 1, results
    for status, body in results:
        if status != 200:
            assert (status, body["error"]["code"]) == (409, "not_pending"), results
    final = server.get(path).json()
    assert final == wins[0][1]
    moved = server.db.count("transfers", f"reference_kind = 'approval' AND reference_id = {a['id']}")
    if final["state"] == "approved":
        assert moved == 1 and points(server, m["id"])["available"] == 1111
    else:
        assert moved == 0 and points(server, m["id"])["available"] == 0


def test_concurrent_closes_of_one_hold_close_it_once(server, fixed_store):
    m = earning_member(server, fixed_store, 100)
    h = held(server, m["id"], 60)
    base = f"/v1/members/{m['id']}/points/holds/{h['id']}"
    calls = [("POST", f"{base}/{'capture' if i % 2 else 'void'}", "admin" if i % 3 else "integration",
              {"points": 10} if i % 4 == 1 else None, idem()) for i in range(12)]
    results = race(server, calls)
    wins = [body for status, body in results if status == 200]
    assert len(wins) == 1, results
    assert all((status, body["error"]["code"]) == (409, "hold_closed") for status, body in results if status != 200)
    won = wins[0]
    captured = won["captured"]
    assert won["status"] in ("captured", "voided")
    assert balances(server, m["id"]) == (100 - captured, 0, 0, 0)


def test_approval_routes_roles_and_bad_input(server):
    m = server.create_member()
    a = propose(server, m["id"], 1234)
    before = server.db.counts(LEDGER_TABLES)
    for role in sorted(set(ROLES) - DECIDERS):
        assert_error(server.get("/v1/approvals", key=role), 403, "forbidden")
        assert_error(server.get(f"/v1/approvals/{a['id']}", key=role), 403, "forbidden")
        assert_error(decide(server, a["id"], "approve", role), 403, "forbidden")
        assert_error(decide(server, a["id"], "reject", role), 403, "forbidden")
    assert_error(server.get("/v1/approvals", key=None), 401, "unauthorized")
    assert_error(decide(server, a["id"], "approve", None), 401, "unauthorized")
    assert_error(server.post(f"/v1/approvals/{a['id']}/approve", key="admin"), 400, "idempotency_key_required")
    assert_error(decide(server, a["id"], "approve", "admin", {"note": "x"}), 400, "unknown_field")
    assert_error(decide(server, a["id"], "reject", "admin", {"reason": 5}), 400, "invalid_field")
    assert_error(decide(server, a["id"], "reject", "admin", {"reason": "x" * 101}), 400, "invalid_field")
    assert_error(decide(server, a["id"], "approve", "admin", [1]), 400, "invalid_body")
    for verb in ("approve", "reject"):
        assert_error(decide(server, 999999999, verb, "admin"), 404, "not_found")
        assert_error(decide(server, "x", verb, "admin"), 404, "not_found")
    assert_error(server.get("/v1/approvals/999999999"), 404, "not_found")
    assert_error(server.get(f"/v1/approvals/{a['id']}/approve"), 405, "method_not_allowed")
    assert server.db.counts(LEDGER_TABLES) == before
    assert server.get(f"/v1/approvals/{a['id']}").json()["state"] == "pending"
    # reject takes no Idempotency-Key requirement, and no body.
    r = server.post(f"/v1/approvals/{a['id']}/reject", key="supervisor")
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["decision_reason"]) == ("rejected", None)


# ---- segment (bulk) adjustments -----------------------------------------------------------------

def test_segment_adjustment_waits_for_approval_and_adjusts_the_members_of_then(server):
    city = unique("c")[:16]
    members = [server.create_member(address={"city": city}) for _ in range(3)]
    r = server.post("/v1/segments", json={"name": unique("seg-"), "expression": f"city = {quoted(city)}"})
    assert r.status_code == 201, r.text
    segment = r.json()
    before = server.db.count("transfers")
    r = server.post(f"/v1/segments/{segment['id']}/adjustments", key="manager", headers=idem(),
                    json={"points": 10, "reason": "storm apology"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert set(a) == APPROVAL_KEYS
    assert (a["kind"], a["points"], a["state"], a["proposed_by"]) \
        == ("bulk_adjustment", 30, "pending", "test-manager")
    assert a["payload"] == {"segment_id": segment["id"], "expression": f"city = {quoted(city)}",
                            "points": 10, "reason": "storm apology", "members_when_proposed": 3}
    assert server.db.count("transfers") == before, "a proposal moves nothing"
    # Someone joins the segment before the approval: they get the points too.
    members.append(server.create_member(address={"city": city}))
    assert_error(decide(server, a["id"], "approve", "manager"), 403, "own_approval")
    key = {"Idempotency-Key": unique("approve-")}
    r = decide(server, a["id"], "approve", "supervisor", headers=key)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["result"]) == ("approved", {"members": 4, "points": 40})
    for m in members:
        assert points(server, m["id"])["available"] == 10, m
        t = history(server, m["id"])[0]
        assert (t["kind"], t["reference_kind"], t["reference_id"], t["reason"]) \
            == ("adjust", "approval", a["id"], "storm apology")
    again = decide(server, a["id"], "approve", "supervisor", headers=key)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert_error(decide(server, a["id"], "approve", "admin"), 409, "not_pending")
    assert server.db.count("transfers", f"reference_kind = 'approval' AND reference_id = {a['id']}") == 4
    # An admin's bulk proposal waits as well: every bulk adjustment needs a second person.
    r = server.post(f"/v1/segments/{segment['id']}/adjustments", headers=idem(),
                    json={"points": 1, "reason": "again"})
    assert r.status_code == 201 and r.json()["state"] == "pending", r.text
    assert_error(decide(server, r.json()["id"], "approve", "admin"), 403, "own_approval")
    assert decide(server, r.json()["id"], "reject", "manager").status_code == 200
    assert server.delete(f"/v1/segments/{segment['id']}").status_code == 200


def test_bad_segment_adjustments_change_nothing(server):
    city = unique("c")[:16]
    server.create_member(address={"city": city})
    segment = server.post("/v1/segments", json={"name": unique("seg-"),
                                                "expression": f"city = {quoted(city)}"}).json()
    path = f"/v1/segments/{segment['id']}/adjustments"
    before = server.db.counts(LEDGER_TABLES)
    cases = [
        ({"points": 0, "reason": "x"}, "invalid_field"),
        ({"points": -5, "reason": "x"}, "invalid_field"),
        ({"points": "5", "reason": "x"}, "invalid_field"),
        ({"points": 5}, "invalid_field"),
        ({"points": 5, "reason": ""}, "invalid_field"),
        ({"points": 5, "reason": "x", "members": 3}, "unknown_field"),
    ]
    for body, code in cases:
        assert_error(server.post(path, json=body, headers=idem()), 400, code)
    assert_error(server.post(path, json={"points": 5, "reason": "x"}), 400, "idempotency_key_required")
    assert_error(server.post("/v1/segments/999999999/adjustments", json={"points": 5, "reason": "x"},
                             headers=idem()), 404, "not_found")
    for role in sorted(set(ROLES) - ADJUSTERS):
        assert_error(server.post(path, json={"points": 5, "reason": "x"}, key=role, headers=idem()),
                     403, "forbidden")
    assert_error(server.post(path, json={"points": 5, "reason": "x"}, key=None, headers=idem()),
                 401, "unauthorized")
    assert server.db.counts(LEDGER_TABLES) == before
    assert server.delete(f"/v1/segments/{segment['id']}").status_code == 200


# ---- merges -------------------------------------------------------------------------------------

def test_merge_moves_points_lots_and_purchases_and_closes_the_duplicate(server, fixed_store):
    store = fixed_store(100)
    dup, keep = server.create_member(), server.create_member()
    p = buy(server, dup["id"], 1000, store=store)
    spend(server, dup["id"], 30)
    with program_settings(server, pending_days=10):
        buy(server, dup["id"], 1000, store=store)
    buy(server, keep["id"], 1000, store=fixed_store(50))
    assert balances(server, dup["id"]) == (70, 100, 0, 0)
    r = merge(server, dup["id"], keep["id"], key="manager")
    assert r.status_code == 200, r.text
    assert set(r.json()) == POINTS_KEYS
    assert r.json()["member_id"] == keep["id"]
    assert (r.json()["available"], r.json()["pending"], r.json()["debt"], r.json()["earned_total"]) \
        == (120, 100, 0, 250)
    assert points(server, keep["id"]) == r.json()
    gone = points(server, dup["id"])
    assert (gone["available"], gone["pending"], gone["held"], gone["debt"], gone["earned_total"]) \
        == (0, 0, 0, 0, 0)
    assert server.get(f"/v1/members/{dup['id']}").json()["status"] == "closed"
    assert server.get(f"/v1/members/{keep['id']}").json()["status"] == "active"
    assert server.get(f"/v1/purchases/{p['id']}").json()["member_id"] == keep["id"]
    assert server.db.count("purchases", f"member_id = {dup['id']}") == 0
    assert server.db.count("points_lots", f"member_id = {dup['id']}") == 0
    t = history(server, keep["id"])[0]
    assert (t["kind"], t["reference_kind"], t["reference_id"]) == ("merge", "member", dup["id"])
    assert server.db.count("audit_log", f"action = 'member.merge' AND entity_id = {dup['id']}") == 1
    # The moved purchase can still be refunded: its points come back from the survivor.
    r = refunded(server, p["id"], {"amount_cents": 1000})
    assert (r["points_taken_back"], r["to_debt"]) == (100, 0)
    assert balances(server, keep["id"]) == (20, 100, 0, 0)


def test_merge_carries_debt_and_repays_it_from_the_survivors_points(server, fixed_store):
    dup = indebted_member(server, fixed_store, 100)
    keep = earning_member(server, fixed_store, 30)
    r = merge(server, dup["id"], keep["id"])
    assert r.status_code == 200, r.text
    assert (r.json()["available"], r.json()["debt"]) == (0, 70)
    assert balances(server, dup["id"]) == (0, 0, 0, 0)


def test_merge_replays_with_the_same_key(server, fixed_store):
    dup = earning_member(server, fixed_store, 10)
    keep = server.create_member()
    key = {"Idempotency-Key": unique("merge-")}
    first = merge(server, dup["id"], keep["id"], headers=key)
    again = merge(server, dup["id"], keep["id"], headers=key)
    assert first.status_code == again.status_code == 200, first.text
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    assert points(server, keep["id"])["available"] == 10


def test_bad_merges_change_nothing(server, fixed_store):
    a = earning_member(server, fixed_store, 40)
    b = server.create_member()
    h = held(server, a["id"], 5)
    path = f"/v1/members/{a['id']}/merge"
    before = server.db.counts(LEDGER_TABLES)
    assert_error(merge(server, a["id"], a["id"]), 400, "same_member")
    assert_error(merge(server, a["id"], b["id"]), 409, "open_holds")
    assert_error(merge(server, a["id"], 999999999), 404, "member_not_found")
    assert_error(merge(server, 999999999, b["id"]), 404, "member_not_found")
    assert_error(merge(server, "x", b["id"]), 404, "not_found")
    for body in ({}, {"into": 0}, {"into": -1}, {"into": "2"}, {"into": None}, {"into": 1.5}):
        assert_error(server.post(path, json=body, headers=idem()), 400, "invalid_field")
    assert_error(server.post(path, json={"into": b["id"], "keep": "all"}, headers=idem()), 400, "unknown_field")
    assert_error(server.post(path, json={"into": b["id"]}), 400, "idempotency_key_required")
    for role in sorted(set(ROLES) - MERGERS):
        assert_error(merge(server, a["id"], b["id"], key=role), 403, "forbidden")
    assert_error(merge(server, a["id"], b["id"], key=None), 401, "unauthorized")
    assert server.db.counts(LEDGER_TABLES) == before
    assert server.get(f"/v1/members/{a['id']}").json()["status"] == "active"
    assert balances(server, a["id"]) == (35, 0, 5, 0)
    # Once the hold is closed the merge goes through.
    assert void(server, a["id"], h["id"]).status_code == 200
    r = merge(server, a["id"], b["id"])
    assert r.status_code == 200 and r.json()["available"] == 40, r.text


def test_merge_into_a_closed_member_is_refused(server, fixed_store):
    first, closed = server.create_member(), server.create_member()
    assert merge(server, closed["id"], first["id"]).status_code == 200
    dup = earning_member(server, fixed_store, 25)
    before = server.db.counts(LEDGER_TABLES)
    r = merge(server, dup["id"], closed["id"])
    assert 400 <= r.status_code < 500, r.text
    assert server.db.counts(LEDGER_TABLES) == before
    assert points(server, dup["id"])["available"] == 25


# ---- the liability report -----------------------------------------------------------------------

def test_liability_report_shape_and_roles(server):
    for role in ROLES:
        r = server.get("/v1/reports/liability", key=role)
        if role in ANALYSTS:
            assert r.status_code == 200, (role, r.text)
        else:
            assert_error(r, 403, "forbidden")
    assert_error(server.get("/v1/reports/liability", key=None), 401, "unauthorized")
    assert_error(server.post("/v1/reports/liability", json={}), 405, "method_not_allowed")
    rep = liability(server, key="analyst")
    assert set(rep) == LIABILITY_KEYS
    assert TIMESTAMP.fullmatch(rep["as_of"])
    program = server.get("/v1/program").json()
    assert rep["currency"] == program["currency"]
    assert rep["point_value_millicents"] == program["point_value_millicents"]
    out = rep["outstanding"]
    assert set(out) == OUTSTANDING_KEYS
    assert out["points"] == out["available"] + out["pending"] + out["held"]
    assert out["value_cents"] == out["points"] * rep["point_value_millicents"] // 1000
    assert [b["age"] for b in rep["by_age"]] == AGE_BUCKETS
    for bucket in rep["by_expiry_month"] + rep["breakage"]:
        assert set(bucket) == {"month", "points", "value_cents"}
        assert re.fullmatch(r"\d{4}-\d\d|never", bucket["month"]), bucket
        assert bucket["value_cents"] == bucket["points"] * rep["point_value_millicents"] // 1000
    months = [b["month"] for b in rep["by_expiry_month"]]
    assert months == sorted(m for m in months if m != "never") + (["never"] if "never" in months else [])
    assert set(rep["totals"]) == TOTALS_KEYS


def test_liability_follows_the_ledger(server, fixed_store):
    def delta(before, after):
        return {"outstanding": {k: after["outstanding"][k] - before["outstanding"][k] for k in OUTSTANDING_KEYS},
                "totals": {k: after["totals"][k] - before["totals"][k] for k in TOTALS_KEYS},
                "never": sum(b["points"] for b in after["by_expiry_month"] if b["month"] == "never")
                - sum(b["points"] for b in before["by_expiry_month"] if b["month"] == "never"),
                "young": after["by_age"][0]["points"] - before["by_age"][0]["points"]}

    store = fixed_store(100)
    m = server.create_member()
    start = liability(server)
    p = buy(server, m["id"], 1000, store=store)
    step = liability(server)
    d = delta(start, step)
    assert d["outstanding"] == {"available": 100, "pending": 0, "held": 0, "debt": 0, "points": 100,
                                "value_cents": d["outstanding"]["value_cents"]}
    assert d["totals"] == {"issued": 100, "redeemed": 0, "expired": 0, "reversed": 0}
    assert (d["never"], d["young"]) == (100, 100), "no expiry policy: the lot never expires"
    spend(server, m["id"], 30)
    h = held(server, m["id"], 20)
    d = delta(step, liability(server))
    assert (d["outstanding"]["available"], d["outstanding"]["held"], d["outstanding"]["points"]) == (-50, 20, -30)
    assert d["totals"]["redeemed"] == 30
    assert capture(server, m["id"], h["id"], {"points": 5}).status_code == 200
    r = refunded(server, p["id"], {"amount_cents": 1000})
    assert (r["points_taken_back"], r["to_debt"]) == (100, 35)
    d = delta(start, liability(server))
    assert d["outstanding"]["available"] == 0 and d["outstanding"]["held"] == 0
    assert d["outstanding"]["debt"] == 35 and d["outstanding"]["points"] == 0
    assert d["totals"] == {"issued": 100, "redeemed": 35, "expired": 0, "reversed": 100}
    with program_settings(server, pending_days=10):
        buy(server, m["id"], 1000, store=store)
    d = delta(start, liability(server))
    assert (d["outstanding"]["pending"], d["outstanding"]["debt"]) == (100, 35), \
        "pending points repay debt only once they mature"


def test_liability_breakdowns_cover_held_points(server, fixed_store):
    m = earning_member(server, fixed_store, 100)
    before = liability(server)
    h = held(server, m["id"], 40)
    try:
        after = liability(server)
        assert after["outstanding"]["points"] == before["outstanding"]["points"]
        assert sum(b["points"] for b in after["by_expiry_month"]) \
            == sum(b["points"] for b in before["by_expiry_month"])
        assert sum(b["points"] for b in after["by_age"]) == sum(b["points"] for b in before["by_age"])
    finally:
        void(server, m["id"], h["id"])


def test_liability_expiry_months_are_business_months(engine, monkeypatch):
    """Lot expiry is at the start of a business day; the month it is reported under must not
    depend on the zone. A server in Europe/Paris: a lot earned on the 1st of last month with
    3-month expiry expires at 00:00 Paris on the 1st of the month after next."""
    monkeypatch.setenv("PATRON_TIME_ZONE", "Europe/Paris")
    s = start_server(engine)
    try:
        store = unique("st")
        assert s.post("/v1/rules", json={"name": "r", "formula": "fixed", "fixed_points": 100,
                                         "condition": in_store(store)}).status_code == 201
        assert s.patch("/v1/program", json={"expiry": {"policy": "lot", "months": 3}}).status_code == 200
        today = utc_now().date()
        first = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
        m = s.create_member()
        buy(s, m["id"], 100, store=store, occurred_at=f"{first.isoformat()}T12:00:00Z")
        index = first.year * 12 + first.month - 1 + 3
        expected = f"{index // 12:04d}-{index % 12 + 1:02d}"
        months = {b["month"]: b["points"] for b in liability(s)["by_expiry_month"]}
        assert months == {expected: 100}
        s.stop_ok()
    finally:
        if s.proc is not None:
            s.stop()
        s.db.drop()


# ---- patron import purchases --------------------------------------------------------------------

def write(tmp_path, name, text, encoding="utf-8", newline=""):
    path = tmp_path / name
    with open(path, "w", encoding=encoding, newline=newline) as f:
        f.write(text)
    return str(path)


def import_purchases(db_url, path, *options, check=True):
    """Runs `patron import purchases`; returns (summary JSON, process)."""
    proc = run_patron("import", "purchases", path, *options, "--db", db_url, check=check)
    if proc.returncode != 0:
        return None, proc
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(summary) == IMPORT_SUMMARY_KEYS, summary
    return summary, proc


def rejects(path):
    with open(path + ".rejects.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["line", "reason"], rows
    return [(int(line), reason) for line, reason in rows[1:]]


def member_by_external(server, external_id, expect=200):
    r = server.get(f"/v1/members/by-external/{external_id}")
    assert r.status_code == expect, r.text
    return r.json()


def purchases_of(server, member_id):
    """{order_id: (amount_cents, refunded_cents, [(sku, category, quantity, amount_cents)])}."""
    out = {}
    for pid, order, amount, refunded_cents in server.db.rows(
            f"SELECT id, order_id, amount_cents, refunded_cents FROM purchases WHERE member_id = {int(member_id)}"):
        lines = [(sku, cat, int(q), int(a)) for sku, cat, q, a in server.db.rows(
            f"SELECT sku, category, quantity, amount_cents FROM purchase_lines WHERE purchase_id = {pid}"
            " ORDER BY line_no")]
        out[order] = (int(amount), int(refunded_cents), lines)
    return out


def test_import_groups_the_rows_of_an_order_into_lines(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PATRON_TIME_ZONE", "UTC")  # dates in the file are business dates
    a, b = unique("imp-"), unique("imp-")
    day = days_ago(3).isoformat()
    order = unique("ORD-")
    path = write(tmp_path, "orders.csv",
                 "customer,order,date,sku,category,qty,price\n"
                 f"{a},{order},{day},VASE,home,2,5.00\n"
                 f"{a},{order},{day},SEEDS,,1,3.5\n"
                 f"{b},{order}-2,{day},VASE,home,1,5\n")
    summary, _ = import_purchases(server.db.url, path, "--header", "--map",
                                  "member=customer,order=order,date=date,sku=sku,category=category,"
                                  "quantity=qty,price=price")
    assert {k: summary[k] for k in ("rows", "purchases", "returns", "members_created",
                                    "duplicates_skipped", "rejected", "rejects_file")} \
        == {"rows": 3, "purchases": 2, "returns": 0, "members_created": 2, "duplicates_skipped": 0,
            "rejected": 0, "rejects_file": None}
    assert not os.path.exists(path + ".rejects.csv")
    ma, mb = member_by_external(server, a), member_by_external(server, b)
    assert purchases_of(server, ma["id"]) == {
        order: (1350, 0, [("VASE", "home", 2, 1000), ("SEEDS", None, 1, 350)])}
    assert purchases_of(server, mb["id"]) == {f"{order}-2": (500, 0, [("VASE", "home", 1, 500)])}
    got = server.get(f"/v1/members/{ma['id']}/points").json()
    assert got["earned_total"] == 0, "no rule of this server matches imported purchases"
    occurred = server.db.scalar(f"SELECT occurred_at FROM purchases WHERE order_id = '{order}'")
    assert occurred == int(datetime.datetime.fromisoformat(day + "T00:00:00+00:00").timestamp()) * 10 ** 6
    # Again: every order is a duplicate, nothing changes.
    before = server.db.counts(LEDGER_TABLES)
    summary, _ = import_purchases(server.db.url, path, "--header", "--map",
                                  "member=customer,order=order,date=date,sku=sku,category=category,"
                                  "quantity=qty,price=price")
    assert (summary["purchases"], summary["duplicates_skipped"], summary["members_created"]) == (0, 2, 0)
    assert server.db.counts(LEDGER_TABLES) == before


def test_import_without_order_column_derives_order_ids(server, tmp_path):
    a = unique("imp-")
    d1, d2 = days_ago(5).isoformat(), days_ago(4).isoformat()
    path = write(tmp_path, "rows.csv", f"{a},{d1},10.00\n{a},{d1},10.00\n{a},{d2},2.5\n")
    summary, _ = import_purchases(server.db.url, path, "--map", "member=1,date=2,amount=3")
    assert (summary["rows"], summary["purchases"], summary["members_created"], summary["duplicates_skipped"]) \
        == (3, 3, 1, 0), "two identical rows stay two purchases"
    m = member_by_external(server, a)
    got = purchases_of(server, m["id"])
    k1, k2 = d1.replace("-", ""), d2.replace("-", "")
    assert got == {f"import:{a}:{k1}:1": (1000, 0, []), f"import:{a}:{k1}:2": (1000, 0, []),
                   f"import:{a}:{k2}:1": (250, 0, [])}
    before = server.db.counts(LEDGER_TABLES)
    summary, _ = import_purchases(server.db.url, path, "--map", "member=1,date=2,amount=3")
    assert (summary["rows"], summary["purchases"], summary["duplicates_skipped"], summary["rejected"]) \
        == (3, 0, 3, 0)
    assert server.db.counts(LEDGER_TABLES) == before


def test_import_reads_quotes_bom_crlf_other_delimiters_and_date_formats(server, tmp_path, monkeypatch):
    monkeypatch.setenv("PATRON_TIME_ZONE", "UTC")  # dates in the file are business dates
    a, b, c = unique("imp-"), unique("imp-"), unique("imp-")
    when = days_ago(6)
    stamp = when.strftime("%d/%m/%Y") + " 10:30"
    order = unique("Q;") + ",1"
    text = ("\ufeffcust;ord;when;item;note;amt\r\n"
            f'{a};"{order}";{stamp};"SKU ""A""";"a note; with a\r\nline break";12.50\r\n'
            f'{a};"{order}";{stamp};S2;;7.5\r\n'
            f"{b};;31/02/2026 10:00;S3;;1\r\n"
            f"{b};ORDER-B-{a};{stamp};S3;;1\r\n")
    path = write(tmp_path, "shop.csv", text)
    summary, _ = import_purchases(server.db.url, path, "--header", "--delimiter", ";",
                                  "--date-format", "%d/%m/%Y %H:%M",
                                  "--map", "member=cust,order=ord,date=when,sku=item,amount=amt")
    assert (summary["rows"], summary["purchases"], summary["rejected"], summary["members_created"]) \
        == (4, 2, 1, 2)
    assert rejects(path) == [(5, "the date does not match --date-format")], \
        "line numbers count the line break inside the quoted note"
    m = member_by_external(server, a)
    assert purchases_of(server, m["id"]) == {order: (2000, 0, [('SKU "A"', None, 1, 1250), ("S2", None, 1, 750)])}
    occurred = server.db.scalar(f"SELECT occurred_at FROM purchases WHERE member_id = {m['id']}")
    expected = datetime.datetime(when.year, when.month, when.day, 10, 30, tzinfo=datetime.timezone.utc)
    assert occurred == int(expected.timestamp()) * 10 ** 6
    # Tabs, and runs of blanks.
    tsv = write(tmp_path, "shop.tsv", f"{c}\t{days_ago(2).isoformat()}\t3.00\n")
    summary, _ = import_purchases(server.db.url, tsv, "--delimiter", "tab", "--map", "member=1,date=2,amount=3")
    assert (summary["purchases"], summary["rejected"]) == (1, 0)
    blanks = write(tmp_path, "shop.txt", f"\ufeff{c}   {days_ago(1).isoformat()}\t 4.00\r\n\n"
                   f"{c} {days_ago(1).isoformat()} 5\n")
    summary, _ = import_purchases(server.db.url, blanks, "--delimiter", "whitespace",
                                  "--map", "member=1,date=2,amount=3")
    assert (summary["rows"], summary["purchases"], summary["rejected"], summary["members_created"]) == (2, 2, 0, 0)
    mc = member_by_external(server, c)
    assert sorted(v[0] for v in purchases_of(server, mc["id"]).values()) == [300, 400, 500]


def test_import_creates_unknown_members_only_for_rows_it_keeps(server, tmp_path):
    known = server.create_member(external_id=unique("imp-"))
    new, lost = unique("imp-"), unique("imp-")
    day = days_ago(2).isoformat()
    path = write(tmp_path, "members.csv",
                 "member,date,sku,category,amount\n"
                 f"{known['external_id']},{day},A,,1.00\n"
                 f"{new},{day},A,,2.00\n"
                 f"{lost},{day},A,{'x' * 65},3.00\n")
    summary, _ = import_purchases(server.db.url, path, "--header",
                                  "--map", "member=member,date=date,sku=sku,category=category,amount=amount")
    assert (summary["purchases"], summary["members_created"], summary["rejected"]) == (2, 1, 1)
    assert rejects(path) == [(4, "category must be text of 1 to 64 bytes (lines[0])")]
    created = member_by_external(server, new)
    assert created["external_id"] == new and created["status"] == "active"
    member_by_external(server, lost, expect=404)
    assert len(purchases_of(server, known["id"])) == 1


def test_import_returns_refund_the_latest_purchase_that_can_take_them(server, make_rule, tmp_path):
    city = unique("c")[:16]
    make_rule(condition=f"city = {quoted(city)}")  # 1 point a euro, for these buyers only
    m = server.create_member(external_id=unique("imp-"), address={"city": city})
    ext = m["external_id"]
    d1, d2, d3 = (days_ago(n).isoformat() for n in (9, 8, 7))
    path = write(tmp_path, "returns.csv",
                 "member,date,sku,quantity,amount\n"
                 f"{ext},{d1},BIG,1,100.00\n"
                 f"{ext},{d2},SMALL,1,50.00\n"
                 f"{ext},{d3},SMALL,1,-20.00\n"       # a negative amount: refunds the latest (SMALL)
                 f"{ext},{d3},BIG,-1,40.00\n"          # a negative quantity: SMALL has 30 left, BIG takes it
                 f"{ext},{d3},BIG,1,-500.00\n")        # more than any purchase can take
    summary, _ = import_purchases(server.db.url, path, "--header",
                                  "--map", "member=member,date=date,sku=sku,quantity=quantity,amount=amount")
    assert (summary["rows"], summary["purchases"], summary["returns"], summary["rejected"]) == (5, 2, 2, 1)
    (line, reason), = rejects(path)
    assert line == 6 and "50000" in reason, reason
    got = {v[2][0][0]: v[:2] for v in purchases_of(server, m["id"]).values()}
    assert got == {"BIG": (10000, 4000), "SMALL": (5000, 2000)}
    bal = points(server, m["id"])
    assert (bal["available"], bal["earned_total"], bal["debt"]) == (150 - 20 - 40, 150, 0)
    reversals = [t for t in history(server, m["id"]) if t["kind"] == "reversal"]
    assert sorted(t["points"] for t in reversals) == [20, 40]
    assert all(t["reason"] == "returned (import)" for t in reversals)


def test_import_rejects_bad_rows_with_their_line_and_reason(server, tmp_path):
    a = unique("imp-")
    day = days_ago(2).isoformat()
    path = write(tmp_path, "bad.csv",
                 "member,date,amount,quantity\n"
                 f",{day},1.00,1\n"
                 f"{a},{day},1.00,1\n"
                 f"{a},2026-13-01,1.00,1\n"
                 f"{a},{day},\"1,00\",1\n"
                 f"{a},{day},1.00,two\n"
                 f"{a},{day},1.005,1\n"
                 f"{a},{day},,1\n"
                 f"{a},{day},2,1\n")
    summary, _ = import_purchases(server.db.url, path, "--header",
                                  "--map", "member=member,date=date,amount=amount,quantity=quantity")
    assert (summary["rows"], summary["purchases"], summary["rejected"]) == (8, 2, 6)
    assert summary["rejects_file"] == path + ".rejects.csv"
    assert rejects(path) == [
        (2, "no member id"),
        (4, "the date does not match --date-format"),
        (5, "amount is not a number such as 12.50"),
        (6, "quantity is not a whole number"),
        (7, "amount is not a number such as 12.50"),
        (8, "amount is not a number such as 12.50"),
    ]


def test_import_refuses_bad_options(server, tmp_path):
    path = write(tmp_path, "x.csv", "member,date,amount\n")
    before = server.db.counts(LEDGER_TABLES)
    for options in (["--header", "--map", "member=member,date=date"],                 # no amount
                    ["--header", "--map", "member=member,date=date,amount=total"],   # no such column
                    ["--map", "member=member,date=date,amount=amount"],              # names without --header
                    ["--map", "member=1,date=2,amount=3", "--delimiter", "ab"],
                    ["--map", "colour=1"],
                    []):
        _, proc = import_purchases(server.db.url, path, *options, check=False)
        assert proc.returncode != 0, options
        assert proc.stderr.strip(), options
    _, proc = import_purchases(server.db.url, str(tmp_path / "missing.csv"), "--map", "member=1,date=2,amount=3",
                               check=False)
    assert proc.returncode != 0 and "cannot open" in proc.stderr
    assert server.db.counts(LEDGER_TABLES) == before


def test_import_line_numbers_count_blank_lines(server, tmp_path):
    a = unique("imp-")
    path = write(tmp_path, "blank.csv", f"member,date,amount\n{a},{days_ago(1).isoformat()},1.00\n\n"
                                        f"{a},not-a-date,1.00\n")
    summary, _ = import_purchases(server.db.url, path, "--header", "--map", "member=member,date=date,amount=amount")
    assert summary["rejected"] == 1
    assert rejects(path) == [(4, "the date does not match --date-format")]


def test_reimporting_a_file_with_returns_refunds_nothing_twice(server, tmp_path):
    """A return is keyed by its row's order id (here derived), so a second import skips it."""
    a = unique("imp-")
    path = write(tmp_path, "again.csv", f"{a},{days_ago(3).isoformat()},100.00\n{a},{days_ago(2).isoformat()},-30.00\n")
    summary, _ = import_purchases(server.db.url, path, "--map", "member=1,date=2,amount=3")
    assert (summary["purchases"], summary["returns"]) == (1, 1)
    m = member_by_external(server, a)
    before = server.db.counts(LEDGER_TABLES)
    summary, _ = import_purchases(server.db.url, path, "--map", "member=1,date=2,amount=3")
    assert [v[:2] for v in purchases_of(server, m["id"]).values()] == [(10000, 3000)]
    assert summary["returns"] == 0 and summary["duplicates_skipped"] == 2
    assert server.db.counts(LEDGER_TABLES) == before


def test_import_two_return_rows_of_one_order_both_refund(server, tmp_path):
    a = unique("imp-")
    order = unique("ORD-")
    path = write(tmp_path, "two-returns.csv",
                 "member,order,date,sku,quantity,price\n"
                 f"{a},{order},{days_ago(9).isoformat()},A,1,10.00\n"
                 f"{a},{order},{days_ago(9).isoformat()},B,1,20.00\n"
                 f"{a},{order},{days_ago(5).isoformat()},A,-1,10.00\n"
                 f"{a},{order},{days_ago(4).isoformat()},B,-1,20.00\n")
    options = ["--header", "--map", "member=member,order=order,date=date,sku=sku,quantity=quantity,price=price"]
    summary, _ = import_purchases(server.db.url, path, *options)
    m = member_by_external(server, a)
    assert {k: summary[k] for k in ("purchases", "returns", "duplicates_skipped", "rejected")} \
        == {"purchases": 1, "returns": 2, "duplicates_skipped": 0, "rejected": 0}, summary
    assert purchases_of(server, m["id"])[order][:2] == (3000, 3000)
    # And a second import of the file refunds nothing more.
    summary, _ = import_purchases(server.db.url, path, *options)
    assert (summary["returns"], summary["duplicates_skipped"]) == (0, 3), summary
    assert purchases_of(server, m["id"])[order][:2] == (3000, 3000)


def test_import_keeps_rows_of_an_order_that_are_not_adjacent(server, tmp_path):
    a = unique("imp-")
    day = days_ago(2).isoformat()
    x1, x2 = unique("X1-"), unique("X2-")
    path = write(tmp_path, "interleaved.csv", f"{a},{x1},{day},10.00\n{a},{x2},{day},20.00\n{a},{x1},{day},5.00\n")
    summary, _ = import_purchases(server.db.url, path, "--map", "member=1,order=2,date=3,amount=4")
    m = member_by_external(server, a)
    got = purchases_of(server, m["id"])
    assert got[x1][0] == 1500 or summary["rejected"] == 1, (got, summary)
    assert summary["duplicates_skipped"] == 0, summary


# ---- patron ledger verify -----------------------------------------------------------------------

def test_ledger_verify_reports_a_broken_balance(fresh_db, tmp_path):
    fresh_db.migrate()
    a, b = unique("imp-"), unique("imp-")
    path = write(tmp_path, "two.csv", f"{a},{days_ago(1).isoformat()},1.00\n{b},{days_ago(1).isoformat()},2.00\n")
    summary, _ = import_purchases(fresh_db.url, path, "--map", "member=1,date=2,amount=3")
    assert summary["members_created"] == 2
    out = verify(fresh_db.url)
    assert "ledger verified" in out.stdout
    broken = fresh_db.scalar(f"SELECT id FROM members WHERE external_id = '{a}'")
    fine = fresh_db.scalar(f"SELECT id FROM members WHERE external_id = '{b}'")
    execute(fresh_db, f"UPDATE member_stats SET points_available = points_available + 7 WHERE member_id = {broken}")
    out = verify(fresh_db.url, check=False)
    assert out.returncode == 1, out
    problems = json.loads(out.stdout)
    assert {p["member_id"] for p in problems} == {broken}
    assert {p["problem"] for p in problems} >= {"available is not the sum of matured lots",
                                                 "available does not match its transfers"}
    assert run_patron("ledger", "verify", "--member", str(fine), "--db", fresh_db.url).returncode == 0
    assert run_patron("ledger", "verify", "--member", str(broken), "--db", fresh_db.url,
                      check=False).returncode == 1


# ---- last: the whole ledger still adds up -------------------------------------------------------

def test_ledger_verifies_after_everything(server):
    """Runs after this module's other tests on the shared server: every refund, hold, adjustment,
    approval, merge and import above left balances equal to their lots and transfers."""
    out = verify(server.db.url)
    assert "ledger verified" in out.stdout


def test_what_the_program_owed_month_by_month_ends_at_the_outstanding_points(server, fixed_store):
    """owed_by_month (the dashboard's liability over time): month-end balances of the owed
    accounts, one per month up to now; holds move points inside them and change nothing, a
    debt is owed to the program, and the last month is exactly what is outstanding."""
    before = liability(server)
    m = earning_member(server, fixed_store, 500)
    h = hold(server, m["id"], 200)
    assert h.status_code == 201, h.text
    owed = liability(server)
    assert owed["owed_by_month"][-1]["points"] == owed["outstanding"]["points"], owed
    assert owed["owed_by_month"][-1]["points"] - before["owed_by_month"][-1]["points"] == 500
    assert capture(server, m["id"], h.json()["id"]).status_code == 200
    indebted_member(server, fixed_store, debt=70)
    assert adjust(server, m["id"], -50).status_code == 201
    after = liability(server)
    series = after["owed_by_month"]
    assert series[-1]["points"] == after["outstanding"]["points"], after
    assert series[-1]["points"] - before["owed_by_month"][-1]["points"] == 500 - 200 - 50
    assert series[-1]["month"] == after["as_of"][:7], (series[-1], after["as_of"])
    months = [int(x["month"][:4]) * 12 + int(x["month"][5:]) for x in series]
    assert months == list(range(months[0], months[0] + len(months))), "one entry a month, none missing"
    assert all(x["value_cents"] == x["points"] * after["point_value_millicents"] // 1000 for x in series)
