"""The points ledger over HTTP: program settings and their versions, earning rules,
purchases and the points they earn (formulas, line scopes, rounding, exclusions,
points paid, exclusive rules, caps, validity windows, inactive members, pending
and expiring points), balances, the statement, spending (idempotency, insufficient
points, 16 concurrent spends), roles, bad input that changes nothing, and the
ledger's conservation checked in SQL.

Every test works on members it created itself. Every active rule runs on every
purchase of the server, so each test's rules carry a condition on a unique
`store` that only its own purchases name, and are deleted when the test ends
(the `make_rule` fixture). Program settings are global: tests that change them
do it through `program_settings`, which puts the old values back.
"""

import contextlib
import datetime
import json
import re
import threading

import pytest
import requests

from conftest import COUNTED_TABLES, ROLES, assert_error, run_patron, start_server, unique

# Tables a ledger request may change, for "changes nothing" checks.
LEDGER_TABLES = COUNTED_TABLES + [
    "purchases", "purchase_lines", "transfers", "points_lots", "member_events",
    "rule_awards_daily", "earning_rules", "program_versions",
]

PROGRAM_KEYS = {"currency", "point_value_millicents", "rounding", "pending_days", "expiry",
                "time_zone", "excluded_skus", "excluded_categories", "manager_adjustment_limit",
                "supervisor_approval_limit", "coupon_expiry_refund", "referral_referrer_points",
                "referral_referred_points", "referral_daily_max", "referral_min_purchase_cents",
                "version", "updated_at", "updated_by"}
RULE_KEYS = {"id", "name", "condition", "line_condition", "formula", "points_per_unit",
             "unit_cents", "fixed_points", "multiplier_permille", "valid_from", "valid_until",
             "priority", "stackable", "cap_per_order", "cap_per_day", "active", "created_at",
             "updated_at"}
PURCHASE_KEYS = {"id", "member_id", "order_id", "occurred_at", "amount_cents",
                 "points_paid_cents", "currency", "channel", "store", "eligible_cents",
                 "points_earned", "refunded_cents", "earning", "created_at", "lines"}
LINE_KEYS = ("sku", "category", "quantity", "amount_cents")
POINTS_KEYS = {"member_id", "available", "pending", "held", "debt", "earned_total", "expiring"}
HISTORY_KEYS = {"id", "kind", "debit", "credit", "points", "available_after", "occurred_at",
                "reference_kind", "reference_id", "reason", "actor"}
SPEND_KEYS = {"transfer_id", "member_id", "points", "available", "reason"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")

READERS = set(ROLES)                     # PERM_MEMBERS_READ
MANAGERS = {"admin", "manager"}          # PERM_PROGRAM_MANAGE
BUYERS = {"admin", "integration"}        # PERM_PURCHASES_WRITE
INACTIVE_NOTE = "the member is not active: no points"


# ---- helpers ------------------------------------------------------------------------------------

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    """A datetime as the API writes it (whole seconds here, so no fraction)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def noon(days_ago, hour=12):
    """hour:00 UTC, days_ago days before today (the test servers' business days are UTC)."""
    day = utc_now().date() - datetime.timedelta(days=days_ago)
    return datetime.datetime(day.year, day.month, day.day, hour, tzinfo=datetime.timezone.utc)


def instant(text):
    assert TIMESTAMP.fullmatch(text), text
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def add_months_midnight(moment, months):
    """Midnight UTC of the same day `months` later (the 31st becomes the month's last day)."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = moment.day
    while True:
        try:
            return datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)
        except ValueError:
            day -= 1


def store_marker():
    return unique("st")


def quoted(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def in_store(store):
    """A rule condition that only purchases naming this store match."""
    return f"store = {quoted(store)}"


@pytest.fixture
def make_rule(server):
    """make_rule(**fields) creates a rule (per_amount, 1 point a euro unless told);
    every rule made is deleted when the test ends."""
    made = []

    def make(**fields):
        body = {"name": unique("rule-"), "formula": "per_amount"}
        body.update(fields)
        if body["formula"] == "per_amount":
            body.setdefault("points_per_unit", 1)
        r = server.post("/v1/rules", json=body)
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
        return r.json()

    yield make
    for rule_id in made:
        r = server.delete(f"/v1/rules/{rule_id}")
        assert r.status_code in (200, 404), r.text


@contextlib.contextmanager
def program_settings(server, **changes):
    """PATCHes the program's settings, and puts back the old values of what it changed."""
    before = server.get("/v1/program").json()
    r = server.patch("/v1/program", json=changes)
    assert r.status_code == 200, r.text
    try:
        yield r.json()
    finally:
        restore = {k: before[k] for k in changes}
        r = server.patch("/v1/program", json=restore)
        assert r.status_code == 200, r.text


def buy(server, member_id, amount_cents, key="admin", headers=None, **fields):
    """POSTs a purchase (a unique order id unless given); returns the answer's JSON."""
    body = {"member_id": member_id, "order_id": unique("order-"), "amount_cents": amount_cents}
    body.update(fields)
    r = server.post("/v1/purchases", json=body, key=key, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def points(server, member_id, key="admin"):
    r = server.get(f"/v1/members/{member_id}/points", key=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == POINTS_KEYS, body
    return body


def spend(server, member_id, amount, key="admin", idem=None, reason="a reward"):
    """POSTs a spend with an Idempotency-Key (a new one unless given); returns the response."""
    return server.post(f"/v1/members/{member_id}/points/spend", key=key,
                       json={"points": amount, "reason": reason},
                       headers={"Idempotency-Key": idem or unique("spend-")})


def history(server, member_id, limit=500):
    r = server.get(f"/v1/members/{member_id}/points/history?limit={limit}")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def preview_ids(server, expression):
    r = server.post("/v1/segments/preview?limit=500", json={"expression": expression})
    assert r.status_code == 200, f"{expression!r}: {r.text}"
    return [m["id"] for m in r.json()["data"]]


def rule_points(purchase):
    """{rule_id: points} of a purchase's explanation."""
    return {a["rule_id"]: a["points"] for a in purchase["earning"]["rules"]}


def member_transfers(server, member_id):
    return server.db.rows(f"SELECT kind, debit, credit, points FROM transfers"
                          f" WHERE member_id = {int(member_id)} ORDER BY id")


def earning_member(server, make_rule, available):
    """A member holding `available` points, earned on one purchase of its own store."""
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=available)
    m = server.create_member()
    p = buy(server, m["id"], 100, store=store)
    assert p["points_earned"] == available, p
    return m


# ---- program settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_program_settings_read_by_every_role(server, role):
    r = server.get("/v1/program", key=role)
    assert r.status_code == 200, r.text
    p = r.json()
    assert PROGRAM_KEYS <= set(p), p
    assert re.fullmatch(r"[A-Z]{3}", p["currency"])
    assert p["rounding"] in ("down", "nearest", "up")
    assert set(p["expiry"]) == {"policy", "months"}
    assert isinstance(p["excluded_skus"], list) and isinstance(p["excluded_categories"], list)
    assert isinstance(p["version"], int) and p["version"] >= 0
    if p["version"] == 0:
        assert p["updated_at"] is None and p["updated_by"] is None
    else:
        assert TIMESTAMP.fullmatch(p["updated_at"]) and p["updated_by"]


def test_program_settings_default_before_any_change(engine):
    """A new program: the defaults, version 0, no versions stored."""
    s = start_server(engine)
    try:
        got = s.get("/v1/program").json()
        assert {k: got[k] for k in PROGRAM_KEYS} == {
            "currency": "EUR", "point_value_millicents": 1000, "rounding": "down",
            "pending_days": 0, "expiry": {"policy": "none", "months": 0}, "time_zone": "UTC",
            "excluded_skus": [], "excluded_categories": [], "manager_adjustment_limit": 1000,
            "supervisor_approval_limit": 5000, "coupon_expiry_refund": False,
            "referral_referrer_points": 0, "referral_referred_points": 0, "referral_daily_max": 10,
            "referral_min_purchase_cents": 0, "version": 0, "updated_at": None, "updated_by": None}
        r = s.get("/v1/program/versions")
        assert r.status_code == 200, r.text
        assert r.json() == {"data": [], "next_before": None}
        s.stop_ok()
    finally:
        if s.proc is not None:
            s.stop()
        s.db.drop()


@pytest.mark.parametrize("role", sorted(MANAGERS))
def test_program_patch_makes_a_new_version(server, role):
    before = server.get("/v1/program").json()
    audit_before = server.db.count("audit_log", "action = 'program.update'")
    new_rounding = "up" if before["rounding"] != "up" else "nearest"
    with program_settings(server, rounding=new_rounding, pending_days=0) as after:
        assert PROGRAM_KEYS <= set(after)
        assert after["version"] == before["version"] + 1
        assert after["rounding"] == new_rounding
        for k in PROGRAM_KEYS - {"rounding", "version", "updated_at", "updated_by"}:
            assert after[k] == before[k], k
        assert after["updated_by"] == "test-admin"
        assert TIMESTAMP.fullmatch(after["updated_at"])
        assert server.get("/v1/program", key="agent").json() == after
        assert server.db.count("audit_log", "action = 'program.update'") == audit_before + 1
        detail = json.loads(server.db.scalar(
            "SELECT detail FROM audit_log WHERE action = 'program.update' ORDER BY id DESC LIMIT 1"))
        assert detail["version"] == after["version"]
        assert detail["changed"] == ["rounding"], "pending_days did not change"
        versions = server.get("/v1/program/versions", key=role).json()["data"]
        assert versions[0] == after, "the current version comes first"
        if before["version"] > 0:
            assert versions[1] == before

    # As a manager: updated_by names the caller.
    r = server.patch("/v1/program", json={"rounding": before["rounding"]}, key=role)
    assert r.status_code == 200, r.text
    assert r.json()["updated_by"] == f"test-{role}"
    assert {k: v for k, v in r.json().items() if k not in ("version", "updated_at", "updated_by")} \
        == {k: v for k, v in before.items() if k not in ("version", "updated_at", "updated_by")}


BAD_PROGRAM_PATCHES = [
    ({"roundng": "up"}, "unknown_field", "did you mean 'rounding'"),
    ({"pending_day": 3}, "unknown_field", "did you mean 'pending_days'"),
    ({"version": 7}, "unknown_field", None),
    ({"currency": "eur"}, "invalid_field", "currency"),
    ({"currency": "EURO"}, "invalid_field", "currency"),
    ({"currency": None}, "invalid_field", "currency"),
    ({"point_value_millicents": 0}, "invalid_field", "point_value_millicents"),
    ({"point_value_millicents": 1000001}, "invalid_field", "point_value_millicents"),
    ({"point_value_millicents": "1000"}, "invalid_field", "point_value_millicents"),
    ({"rounding": "sideways"}, "invalid_field", "rounding"),
    ({"pending_days": -1}, "invalid_field", "pending_days"),
    ({"pending_days": 366}, "invalid_field", "pending_days"),
    ({"pending_days": 1.5}, "invalid_field", "pending_days"),
    ({"expiry": {"policy": "lot"}}, "invalid_field", "expiry"),
    ({"expiry": {"policy": "never", "months": 0}}, "invalid_field", "expiry"),
    ({"expiry": {"policy": "lot", "months": 0}}, "invalid_field", "expiry.months"),
    ({"expiry": {"policy": "lot", "months": 121}}, "invalid_field", "expiry.months"),
    ({"expiry": {"policy": "none", "months": 3}}, "invalid_field", "expiry.months"),
    ({"expiry": {"policy": "lot", "months": 3, "grace": 1}}, "invalid_field", "expiry"),
    ({"expiry": "lot"}, "invalid_field", "expiry"),
    ({"time_zone": "Mars/Olympus_Mons"}, "invalid_field", "time_zone"),
    ({"time_zone": "../../etc/passwd"}, "invalid_field", "time_zone"),
    ({"time_zone": ""}, "invalid_field", "time_zone"),
    ({"excluded_skus": "GIFT"}, "invalid_field", "excluded_skus"),
    ({"excluded_skus": [""]}, "invalid_field", "excluded_skus[0]"),
    ({"excluded_categories": ["ok", 5]}, "invalid_field", "excluded_categories[1]"),
    ({"excluded_categories": ["x" * 65]}, "invalid_field", "excluded_categories[0]"),
    ({"excluded_categories": [f"c{i}" for i in range(101)]}, "invalid_field", "excluded_categories"),
    ({}, "empty_patch", None),
]


def test_bad_program_patches_change_nothing(server):
    before = server.get("/v1/program").json()
    counts = server.db.counts(LEDGER_TABLES)
    for body, code, mention in BAD_PROGRAM_PATCHES:
        r = server.patch("/v1/program", json=body)
        assert_error(r, 400, code)
        if mention:
            assert mention in r.json()["error"]["message"], (body, r.text)
    for raw in ("[1]", "[]"):
        r = server.patch("/v1/program", data=raw, headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_body")
    # A valid change next to a bad one is refused whole.
    assert_error(server.patch("/v1/program", json={"rounding": "up", "pending_days": -2}),
                 400, "invalid_field")
    assert server.get("/v1/program").json() == before
    assert server.db.counts(LEDGER_TABLES) == counts


def test_program_versions_page_newest_first(server):
    start = server.get("/v1/program").json()
    with program_settings(server, pending_days=1):
        with program_settings(server, pending_days=2):
            with program_settings(server, pending_days=3) as top:
                newest = top["version"]
                assert newest == start["version"] + 3
                seen, before = [], None
                for _ in range(newest + 1):
                    path = "/v1/program/versions?limit=2" + (f"&before={before}" if before else "")
                    r = server.get(path, key="manager")
                    assert r.status_code == 200, r.text
                    body = r.json()
                    assert set(body) == {"data", "next_before"}
                    seen += body["data"]
                    before = body["next_before"]
                    if before is None:
                        break
                    assert before == body["data"][-1]["version"]
                assert [v["version"] for v in seen] == list(range(newest, 0, -1))
                assert [v["pending_days"] for v in seen[:3]] == [3, 2, 1]
                for v in seen:
                    assert PROGRAM_KEYS <= set(v) and TIMESTAMP.fullmatch(v["updated_at"])
                r = server.get(f"/v1/program/versions?before={newest}&limit=1")
                assert [v["version"] for v in r.json()["data"]] == [newest - 1]
    assert server.get("/v1/program").json()["pending_days"] == start["pending_days"]
    for query in ("before=0", "before=-1", "before=x", "limit=0", "limit=501", "limit=x"):
        assert_error(server.get(f"/v1/program/versions?{query}"), 400, "invalid_query")


def test_program_roles(server):
    before = server.db.counts(LEDGER_TABLES)
    for role in sorted(set(ROLES) - MANAGERS):
        assert_error(server.patch("/v1/program", json={"rounding": "up"}, key=role), 403, "forbidden")
        assert_error(server.get("/v1/program/versions", key=role), 403, "forbidden")
    for path in ("/v1/program", "/v1/program/versions"):
        assert_error(server.get(path, key=None), 401, "unauthorized")
        assert_error(server.get(path, key="pk_not_a_key"), 401, "unauthorized")
    assert_error(server.patch("/v1/program", json={"rounding": "up"}, key=None), 401, "unauthorized")
    assert_error(server.delete("/v1/program"), 405, "method_not_allowed")
    assert server.db.counts(LEDGER_TABLES) == before


# ---- earning rules: CRUD ------------------------------------------------------------------------

def test_rule_create_applies_defaults_and_reads_back(server, make_rule):
    before = server.db.counts(LEDGER_TABLES)
    name = unique("rule-")
    rule = make_rule(name=name, formula="fixed", fixed_points=25)
    assert set(rule) == RULE_KEYS
    assert rule["name"] == name and rule["formula"] == "fixed" and rule["fixed_points"] == 25
    assert rule == dict(rule, condition=None, line_condition=None, points_per_unit=0, unit_cents=100,
                        multiplier_permille=1000, valid_from=None, valid_until=None, priority=100,
                        stackable=True, cap_per_order=None, cap_per_day=None, active=True)
    assert TIMESTAMP.fullmatch(rule["created_at"]) and rule["created_at"] == rule["updated_at"]
    after = server.db.counts(LEDGER_TABLES)
    assert after["earning_rules"] == before["earning_rules"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
    assert server.db.count("audit_log", f"action = 'rule.create' AND entity_id = {rule['id']}") == 1
    for role in ROLES:
        r = server.get(f"/v1/rules/{rule['id']}", key=role)
        assert r.status_code == 200, r.text
        assert r.json() == rule
        listed = server.get("/v1/rules", key=role)
        assert listed.status_code == 200, listed.text
        assert rule in listed.json()["data"]


def test_rule_with_every_field(server, make_rule):
    store = store_marker()
    body = {"condition": f"{in_store(store)} and amount_cents >= 1000",
            "line_condition": 'category = "shoes" and quantity >= 1',
            "formula": "per_amount", "points_per_unit": 3, "unit_cents": 250,
            "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z",
            "priority": 7, "stackable": False, "cap_per_order": 40, "cap_per_day": 90,
            "active": False}
    rule = make_rule(**body)
    for k, v in body.items():
        assert rule[k] == v, k
    # A time with an offset is kept as the same instant, in UTC.
    moved = server.patch(f"/v1/rules/{rule['id']}", json={"valid_from": "2026-01-01T02:00:00+02:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["valid_from"] == "2026-01-01T00:00:00Z"


def test_rules_are_listed_in_evaluation_order(server, make_rule):
    store = store_marker()
    late = make_rule(condition=in_store(store), priority=30)
    early = make_rule(condition=in_store(store), priority=10)
    middle_a = make_rule(condition=in_store(store), priority=20)
    middle_b = make_rule(condition=in_store(store), priority=20)
    data = server.get("/v1/rules").json()["data"]
    assert set(server.get("/v1/rules").json()) == {"data"}
    keys = [(r["priority"], r["id"]) for r in data]
    assert keys == sorted(keys), "rules come in evaluation order: priority, then id"
    mine = [r["id"] for r in data if r["id"] in {late["id"], early["id"], middle_a["id"], middle_b["id"]}]
    assert mine == [early["id"], middle_a["id"], middle_b["id"], late["id"]]


def test_rule_patch_changes_only_what_is_given(server, make_rule):
    store = store_marker()
    rule = make_rule(condition=in_store(store), cap_per_order=50)
    r = server.patch(f"/v1/rules/{rule['id']}", json={"priority": 5, "cap_per_order": None,
                                                        "name": rule["name"] + "-renamed"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["priority"] == 5 and changed["cap_per_order"] is None
    assert changed["name"] == rule["name"] + "-renamed"
    assert {k: v for k, v in changed.items() if k not in ("priority", "cap_per_order", "name", "updated_at")} \
        == {k: v for k, v in rule.items() if k not in ("priority", "cap_per_order", "name", "updated_at")}
    assert instant(changed["updated_at"]) >= instant(rule["updated_at"])
    assert server.get(f"/v1/rules/{rule['id']}").json() == changed
    assert server.db.count("audit_log", f"action = 'rule.update' AND entity_id = {rule['id']}") == 1
    # A patch that leaves the rule invalid is refused whole.
    assert_error(server.patch(f"/v1/rules/{rule['id']}", json={"points_per_unit": 0, "priority": 1}),
                 400, "invalid_field")
    assert server.get(f"/v1/rules/{rule['id']}").json() == changed
    # Switching the formula needs the new formula's amount.
    assert_error(server.patch(f"/v1/rules/{rule['id']}", json={"formula": "fixed"}), 400, "invalid_field")
    r = server.patch(f"/v1/rules/{rule['id']}", json={"formula": "fixed", "fixed_points": 3})
    assert r.status_code == 200, r.text
    assert r.json()["formula"] == "fixed"


def test_rule_delete(server, make_rule):
    rule = make_rule(condition=in_store(store_marker()))
    r = server.delete(f"/v1/rules/{rule['id']}", key="manager")
    assert r.status_code == 200, r.text
    assert r.json() == dict(rule, deleted=True)  # a program resource says it was deleted, not deactivated
    assert server.db.count("audit_log", f"action = 'rule.delete' AND entity_id = {rule['id']}") == 1
    assert_error(server.get(f"/v1/rules/{rule['id']}"), 404, "not_found")
    assert rule["id"] not in [x["id"] for x in server.get("/v1/rules").json()["data"]]
    assert_error(server.delete(f"/v1/rules/{rule['id']}"), 404, "not_found")
    assert_error(server.patch(f"/v1/rules/{rule['id']}", json={"priority": 1}), 404, "not_found")
    # The name is free again.
    again = make_rule(name=rule["name"], condition=in_store(store_marker()))
    assert again["id"] != rule["id"]


def test_rule_names_are_unique(server, make_rule):
    a = make_rule(condition=in_store(store_marker()))
    b = make_rule(condition=in_store(store_marker()))
    before = server.db.counts(LEDGER_TABLES)
    r = server.post("/v1/rules", json={"name": a["name"], "formula": "fixed", "fixed_points": 1})
    assert_error(r, 409, "duplicate_rule_name")
    assert a["name"] in r.json()["error"]["message"]
    assert_error(server.patch(f"/v1/rules/{b['id']}", json={"name": a["name"]}), 409, "duplicate_rule_name")
    assert server.db.counts(LEDGER_TABLES) == before
    assert server.get(f"/v1/rules/{b['id']}").json() == b
    # Renaming a rule to its own name is no conflict.
    r = server.patch(f"/v1/rules/{b['id']}", json={"name": b["name"]})
    assert r.status_code == 200, r.text


BAD_RULES = [
    ({"name": None}, "invalid_field", "name"),
    ({"name": ""}, "invalid_field", "name"),
    ({"name": "x" * 101}, "invalid_field", "name"),
    ({"name": 5}, "invalid_field", "name"),
    ({"formula": None}, "invalid_field", "formula"),
    ({"formula": "percent"}, "invalid_field", "formula"),
    ({"points_per_unit": 0}, "invalid_field", "points_per_unit"),
    ({"points_per_unit": -1}, "invalid_field", "points_per_unit"),
    ({"points_per_unit": 1.5}, "invalid_field", "points_per_unit"),
    ({"unit_cents": 0}, "invalid_field", "unit_cents"),
    ({"formula": "fixed"}, "invalid_field", "fixed_points"),
    ({"formula": "fixed", "fixed_points": 0}, "invalid_field", "fixed_points"),
    ({"formula": "multiplier"}, "invalid_field", "multiplier_permille"),
    ({"formula": "multiplier", "multiplier_permille": 1000}, "invalid_field", "multiplier_permille"),
    ({"formula": "multiplier", "multiplier_permille": 100001}, "invalid_field", "multiplier_permille"),
    ({"priority": -1}, "invalid_field", "priority"),
    ({"priority": "5"}, "invalid_field", "priority"),
    ({"stackable": "no"}, "invalid_field", "stackable"),
    ({"active": 1}, "invalid_field", "active"),
    ({"cap_per_order": 0}, "invalid_field", "cap_per_order"),
    ({"cap_per_day": -5}, "invalid_field", "cap_per_day"),
    ({"valid_from": "tomorrow"}, "invalid_field", "valid_from"),
    ({"valid_until": 1700000000}, "invalid_field", "valid_until"),
    ({"valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"}, "invalid_field",
     "valid_until"),
    ({"valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-02-01T00:00:00Z"}, "invalid_field",
     "valid_until"),
    ({"condition": 5}, "invalid_field", "condition"),
    ({"condition": 'stor = "x"'}, "invalid_expression", "did you mean 'store'"),
    ({"condition": 'sku = "x"'}, "invalid_expression", "sku"),
    ({"condition": "amount_cents >"}, "invalid_expression", "condition"),
    ({"line_condition": 'store = "x"'}, "invalid_expression", "line_condition"),
    ({"line_condition": 'categry = "x"'}, "invalid_expression", "did you mean 'category'"),
    ({"prority": 3}, "unknown_field", "did you mean 'priority'"),
    ({"id": 3}, "unknown_field", "id"),
    ({"created_at": "2026-01-01T00:00:00Z"}, "unknown_field", "created_at"),
]


def test_bad_rules_change_nothing(server):
    before = server.db.counts(LEDGER_TABLES)
    for change, code, mention in BAD_RULES:
        body = {"name": unique("rule-"), "formula": "per_amount", "points_per_unit": 1}
        body.update(change)
        r = server.post("/v1/rules", json=body)
        assert_error(r, 400, code)
        assert mention in r.json()["error"]["message"], (change, r.text)
    for raw in ("[]", "[1]"):
        r = server.post("/v1/rules", data=raw, headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_body")
    assert server.db.counts(LEDGER_TABLES) == before


def test_bad_rule_patches_change_nothing(server, make_rule):
    rule = make_rule(condition=in_store(store_marker()))
    before = server.db.counts(LEDGER_TABLES)
    for change, code, mention in BAD_RULES:
        r = server.patch(f"/v1/rules/{rule['id']}", json=change)
        assert_error(r, 400, code)
        assert mention in r.json()["error"]["message"], (change, r.text)
    assert_error(server.patch(f"/v1/rules/{rule['id']}", json={}), 400, "empty_patch")
    assert_error(server.patch("/v1/rules/0", json={"priority": 1}), 404, "not_found")
    assert_error(server.get("/v1/rules/abc"), 404, "not_found")
    assert server.db.counts(LEDGER_TABLES) == before
    assert server.get(f"/v1/rules/{rule['id']}").json() == rule


def test_rule_roles(server, make_rule):
    rule = make_rule(condition=in_store(store_marker()))
    before = server.db.counts(LEDGER_TABLES)
    body = {"name": unique("rule-"), "formula": "fixed", "fixed_points": 1,
            "condition": in_store(store_marker())}
    for role in sorted(set(ROLES) - MANAGERS):
        assert_error(server.post("/v1/rules", json=body, key=role), 403, "forbidden")
        assert_error(server.patch(f"/v1/rules/{rule['id']}", json={"priority": 1}, key=role),
                     403, "forbidden")
        assert_error(server.delete(f"/v1/rules/{rule['id']}", key=role), 403, "forbidden")
    for method, path in (("GET", "/v1/rules"), ("POST", "/v1/rules"), ("GET", f"/v1/rules/{rule['id']}"),
                         ("PATCH", f"/v1/rules/{rule['id']}"), ("DELETE", f"/v1/rules/{rule['id']}")):
        change = {"priority": 1} if method in ("POST", "PATCH") else None
        assert_error(server.request(method, path, key=None, json=change), 401, "unauthorized")
    assert server.db.counts(LEDGER_TABLES) == before
    assert server.get(f"/v1/rules/{rule['id']}").json() == rule
    # A manager may write.
    r = server.post("/v1/rules", json=body, key="manager")
    assert r.status_code == 201, r.text
    assert server.delete(f"/v1/rules/{r.json()['id']}", key="manager").status_code == 200


def test_rule_create_is_idempotent(server):
    store = store_marker()
    body = {"name": unique("rule-"), "formula": "fixed", "fixed_points": 2, "condition": in_store(store)}
    key = unique("idem-")
    first = server.post("/v1/rules", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    try:
        again = server.post("/v1/rules", json=body, headers={"Idempotency-Key": key})
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()
        assert server.db.count("earning_rules", f"name = '{body['name']}'") == 1
        assert_error(server.post("/v1/rules", json=body), 409, "duplicate_rule_name")
    finally:
        server.delete(f"/v1/rules/{first.json()['id']}")


# ---- purchases: what they earn ------------------------------------------------------------------

def test_purchase_earns_and_answers_the_whole_purchase(server, make_rule):
    store = store_marker()
    rule = make_rule(condition=in_store(store), points_per_unit=2, unit_cents=100)
    m = server.create_member()
    before = server.db.counts(LEDGER_TABLES)
    order = unique("order-")
    r = server.post("/v1/purchases", key="integration", json={
        "member_id": m["id"], "order_id": order, "occurred_at": iso(noon(1)),
        "amount_cents": 12345, "currency": "EUR", "channel": "web", "store": store,
        "lines": [{"sku": "SKU-1", "category": "shoes", "quantity": 2, "amount_cents": 10000},
                  {"sku": "SKU-2", "amount_cents": 2345}]})
    assert r.status_code == 201, r.text
    p = r.json()
    assert PURCHASE_KEYS <= set(p), p
    assert p["member_id"] == m["id"] and p["order_id"] == order
    assert p["occurred_at"] == iso(noon(1))
    assert p["amount_cents"] == 12345 and p["points_paid_cents"] == 0 and p["refunded_cents"] == 0
    assert p["currency"] == "EUR" and p["channel"] == "web" and p["store"] == store
    assert p["eligible_cents"] == 12345
    assert p["points_earned"] == 246  # 2 points a euro, rounded down
    assert p["earning"] == {"rules": [{"rule_id": rule["id"], "rule": rule["name"], "points": 246,
                                       "capped": False, "lines": [0, 1]}],
                            "excluded_lines": [], "tier": None, "note": None}
    assert [{k: line[k] for k in LINE_KEYS} for line in p["lines"]] == [{"sku": "SKU-1", "category": "shoes", "quantity": 2, "amount_cents": 10000},
                          {"sku": "SKU-2", "category": None, "quantity": 1, "amount_cents": 2345}]
    assert TIMESTAMP.fullmatch(p["created_at"])
    for role in ROLES:
        got = server.get(f"/v1/purchases/{p['id']}", key=role)
        assert got.status_code == 200, got.text
        assert got.json() == p
    after = server.db.counts(LEDGER_TABLES)
    assert after["purchases"] == before["purchases"] + 1
    assert after["purchase_lines"] == before["purchase_lines"] + 2
    assert after["transfers"] == before["transfers"] + 1
    assert after["points_lots"] == before["points_lots"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
    assert server.db.count("audit_log", f"action = 'purchase.create' AND entity_id = {p['id']}") == 1
    bal = points(server, m["id"])
    assert bal == {"member_id": m["id"], "available": 246, "pending": 0, "held": 0, "debt": 0,
                   "earned_total": 246, "expiring": {"within_days": 30, "points": 0, "next_at": None}}


def test_purchase_defaults(server):
    """occurred_at defaults to now, currency to the program's, lines to none; quantity to 1."""
    m = server.create_member()
    t0 = utc_now() - datetime.timedelta(seconds=5)
    p = buy(server, m["id"], 500)
    assert t0 <= instant(p["occurred_at"]) <= utc_now() + datetime.timedelta(seconds=5)
    assert p["currency"] == server.get("/v1/program").json()["currency"]
    assert p["channel"] is None and p["store"] is None and p["lines"] == []
    assert p["points_earned"] == 0 and p["earning"]["rules"] == []
    assert member_transfers(server, m["id"]) == [], "a purchase that earns nothing moves no points"
    assert points(server, m["id"])["available"] == 0


def test_purchase_by_external_id(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=9)
    m = server.create_member()
    r = server.post("/v1/purchases", json={"member_external_id": m["external_id"],
                                           "order_id": unique("order-"), "amount_cents": 100,
                                           "store": store})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["member_id"] == m["id"] and p["points_earned"] == 9
    assert points(server, m["id"])["available"] == 9


@pytest.mark.parametrize("rounding,expected", [
    ("down", {1050: 10, 1049: 10, 1099: 10, 1000: 10}),
    ("nearest", {1050: 11, 1049: 10, 1099: 11, 1000: 10}),
    ("up", {1050: 11, 1049: 11, 1099: 11, 1000: 10}),
])
def test_per_amount_rounds_as_the_program_says(server, make_rule, rounding, expected):
    store = store_marker()
    make_rule(condition=in_store(store), points_per_unit=1, unit_cents=100)
    m = server.create_member()
    with program_settings(server, rounding=rounding):
        got = {amount: buy(server, m["id"], amount, store=store)["points_earned"] for amount in expected}
    assert got == expected
    assert points(server, m["id"])["available"] == sum(expected.values())


def test_per_amount_rounds_once_over_the_lines(server, make_rule):
    """3 lines of 0.50: 1 point a euro over 1.50 is 1 point, not 0 + 0 + 0."""
    store = store_marker()
    make_rule(condition=in_store(store))
    m = server.create_member()
    p = buy(server, m["id"], 150, store=store,
            lines=[{"sku": f"S{i}", "amount_cents": 50} for i in range(3)])
    assert p["points_earned"] == 1


def test_multiplier_on_a_line_scope_doubles_exactly_those_lines(server, make_rule):
    store = store_marker()
    base = make_rule(condition=in_store(store), priority=10)
    double = make_rule(condition=in_store(store), priority=20, formula="multiplier",
                       multiplier_permille=2000, line_condition='category = "shoes"')
    m = server.create_member()
    p = buy(server, m["id"], 10000, store=store, lines=[
        {"sku": "SHOE-1", "category": "shoes", "amount_cents": 3000},
        {"sku": "HAT-1", "category": "hats", "amount_cents": 7000}])
    assert p["earning"]["rules"] == [
        {"rule_id": base["id"], "rule": base["name"], "points": 100, "capped": False, "lines": [0, 1]},
        {"rule_id": double["id"], "rule": double["name"], "points": 30, "capped": False, "lines": [0]}]
    assert p["points_earned"] == 130
    # No matching line: the multiplier gives nothing and is not listed.
    p = buy(server, m["id"], 7000, store=store, lines=[{"sku": "HAT-1", "category": "hats",
                                                        "amount_cents": 7000}])
    assert rule_points(p) == {base["id"]: 70}
    assert points(server, m["id"])["available"] == 200


def test_multiplier_on_the_whole_order_and_its_place_in_the_order(server, make_rule):
    store = store_marker()
    early = make_rule(condition=in_store(store), priority=5, formula="multiplier",
                      multiplier_permille=3000)
    base = make_rule(condition=in_store(store), priority=10)
    late = make_rule(condition=in_store(store), priority=20, formula="multiplier",
                     multiplier_permille=1500)
    m = server.create_member()
    p = buy(server, m["id"], 10100, store=store)
    # The early multiplier runs before anything was earned: nothing to multiply.
    assert [a["rule_id"] for a in p["earning"]["rules"]] == [base["id"], late["id"]]
    assert rule_points(p) == {base["id"]: 101, late["id"]: 50}  # half of 101, rounded down
    assert p["points_earned"] == 151
    assert early["id"] not in rule_points(p)


def test_fixed_points_per_unit_bought_with_a_line_scope(server, make_rule):
    store = store_marker()
    once = make_rule(condition=in_store(store), formula="fixed", fixed_points=10)
    socks = make_rule(condition=in_store(store), formula="fixed", fixed_points=5,
                      line_condition='category = "socks"')
    m = server.create_member()
    p = buy(server, m["id"], 4000, store=store, lines=[
        {"sku": "SOCK-1", "category": "socks", "quantity": 3, "amount_cents": 1500},
        {"sku": "HAT-1", "category": "hats", "quantity": 4, "amount_cents": 1000},
        {"sku": "SOCK-2", "category": "socks", "quantity": 2, "amount_cents": 1500}])
    assert rule_points(p) == {once["id"]: 10, socks["id"]: 25}
    assert [a["lines"] for a in p["earning"]["rules"] if a["rule_id"] == socks["id"]] == [[0, 2]]
    assert p["points_earned"] == 35


def test_condition_over_lines_and_member(server, make_rule):
    store = store_marker()
    city = unique("c")[:16]
    rule = make_rule(condition=f'{in_store(store)} and any(lines, category = "garden")'
                               f' and city = {quoted(city)}', formula="fixed", fixed_points=7)
    here = server.create_member(address={"city": city})
    elsewhere = server.create_member(address={"city": unique("c")[:16]})
    garden = [{"sku": "G1", "category": "garden", "amount_cents": 100}]
    kitchen = [{"sku": "K1", "category": "kitchen", "amount_cents": 100}]
    assert rule_points(buy(server, here["id"], 100, store=store, lines=garden)) == {rule["id"]: 7}
    assert rule_points(buy(server, here["id"], 100, store=store, lines=kitchen)) == {}
    assert rule_points(buy(server, elsewhere["id"], 100, store=store, lines=garden)) == {}
    assert rule_points(buy(server, here["id"], 100, store=store + "x", lines=garden)) == {}


def test_condition_on_a_declared_attribute(server, make_rule):
    name = unique("a")
    assert_error(server.post("/v1/rules", json={"name": unique("rule-"), "formula": "fixed",
                                                "fixed_points": 1,
                                                "condition": f'attributes.{name} = "vip"'}),
                 400, "invalid_expression")
    r = server.post("/v1/attributes", json={"name": name, "type": "string"})
    assert r.status_code == 201, r.text
    store = store_marker()
    rule = make_rule(condition=f'{in_store(store)} and attributes.{name} = "vip"', formula="fixed",
                     fixed_points=15)
    vip = server.create_member(attributes={name: "vip"})
    plain = server.create_member(attributes={name: "plain"})
    assert rule_points(buy(server, vip["id"], 100, store=store)) == {rule["id"]: 15}
    assert rule_points(buy(server, plain["id"], 100, store=store)) == {}


def test_rules_see_the_member_as_before_the_purchase(server, make_rule):
    store = store_marker()
    welcome = make_rule(condition=f"{in_store(store)} and purchases_count = 0", formula="fixed",
                        fixed_points=500)
    m = server.create_member()
    first = buy(server, m["id"], 100, store=store)
    second = buy(server, m["id"], 100, store=store)
    assert rule_points(first) == {welcome["id"]: 500}
    assert rule_points(second) == {}
    assert points(server, m["id"])["available"] == 500


def test_excluded_categories_and_skus_earn_nothing(server, make_rule):
    store = store_marker()
    gift, tobacco = unique("giftcard-"), unique("TOBACCO-")
    rule = make_rule(condition=in_store(store))
    m = server.create_member()
    with program_settings(server, excluded_categories=[gift], excluded_skus=[tobacco]):
        p = buy(server, m["id"], 10000, store=store, lines=[
            {"sku": "GC-50", "category": gift, "amount_cents": 5000},
            {"sku": "SHOE-1", "category": "shoes", "amount_cents": 3000},
            {"sku": tobacco, "category": "misc", "amount_cents": 2000}])
        assert p["earning"]["excluded_lines"] == [0, 2]
        assert p["eligible_cents"] == 3000
        assert p["earning"]["rules"] == [{"rule_id": rule["id"], "rule": rule["name"], "points": 30,
                                          "capped": False, "lines": [1]}]
        assert p["points_earned"] == 30
        # Only excluded lines: nothing earns.
        p = buy(server, m["id"], 5000, store=store,
                lines=[{"sku": "GC-50", "category": gift, "amount_cents": 5000}])
        assert p["eligible_cents"] == 0 and p["points_earned"] == 0 and p["earning"]["rules"] == []
    # Once the program no longer excludes them, they earn again.
    p = buy(server, m["id"], 5000, store=store,
            lines=[{"sku": "GC-50", "category": gift, "amount_cents": 5000}])
    assert p["earning"]["excluded_lines"] == [] and p["points_earned"] == 50
    assert points(server, m["id"])["available"] == 80


def test_points_paid_part_earns_nothing(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store))
    m = server.create_member()
    p = buy(server, m["id"], 10000, store=store, points_paid_cents=4000)
    assert p["points_paid_cents"] == 4000 and p["eligible_cents"] == 6000 and p["points_earned"] == 60
    # Paid entirely with points: nothing earns.
    p = buy(server, m["id"], 2500, store=store, points_paid_cents=2500)
    assert p["eligible_cents"] == 0 and p["points_earned"] == 0
    # With lines, the paid part is cut from each line in proportion.
    gift = unique("gift-")
    with program_settings(server, excluded_categories=[gift]):
        p = buy(server, m["id"], 10000, store=store, points_paid_cents=4000, lines=[
            {"sku": "A", "category": gift, "amount_cents": 5000},
            {"sku": "B", "category": "shoes", "amount_cents": 5000}])
    assert p["eligible_cents"] == 3000 and p["points_earned"] == 30
    assert_error(server.post("/v1/purchases", json={
        "member_id": m["id"], "order_id": unique("order-"), "amount_cents": 100,
        "points_paid_cents": 101}), 400, "invalid_field")
    assert points(server, m["id"])["available"] == 90


def test_an_exclusive_rule_that_earns_stops_later_rules(server, make_rule):
    store = store_marker()
    first = make_rule(condition=in_store(store), priority=10)
    exclusive = make_rule(condition=f'{in_store(store)} and channel = "app"', priority=20,
                          stackable=False, formula="fixed", fixed_points=100)
    later = make_rule(condition=in_store(store), priority=30, formula="fixed", fixed_points=7)
    m = server.create_member()
    app = buy(server, m["id"], 1000, store=store, channel="app")
    assert [a["rule_id"] for a in app["earning"]["rules"]] == [first["id"], exclusive["id"]]
    assert app["points_earned"] == 110, "what ran before the exclusive rule is kept"
    web = buy(server, m["id"], 1000, store=store, channel="web")
    assert rule_points(web) == {first["id"]: 10, later["id"]: 7}


def test_an_exclusive_rule_that_earns_nothing_stops_nothing(server, make_rule):
    store = store_marker()
    exclusive = make_rule(condition=in_store(store), priority=10, stackable=False,
                          points_per_unit=1, unit_cents=100000)
    later = make_rule(condition=in_store(store), priority=20, formula="fixed", fixed_points=4)
    m = server.create_member()
    small = buy(server, m["id"], 5000, store=store)  # 0.05 of a unit: 0 points
    assert rule_points(small) == {later["id"]: 4}
    big = buy(server, m["id"], 200000, store=store)
    assert rule_points(big) == {exclusive["id"]: 2}


def test_cap_per_order(server, make_rule):
    store = store_marker()
    rule = make_rule(condition=in_store(store), cap_per_order=200)
    m = server.create_member()
    big = buy(server, m["id"], 50000, store=store)
    assert big["earning"]["rules"] == [{"rule_id": rule["id"], "rule": rule["name"], "points": 200,
                                        "capped": True, "lines": []}]
    exact = buy(server, m["id"], 20000, store=store)
    assert exact["earning"]["rules"][0]["points"] == 200 and exact["earning"]["rules"][0]["capped"] is False
    small = buy(server, m["id"], 5000, store=store)
    assert small["points_earned"] == 50
    assert points(server, m["id"])["available"] == 450


def test_cap_per_day_counts_per_member_and_business_day(server, make_rule):
    store = store_marker()
    rule = make_rule(condition=in_store(store), cap_per_day=300)
    m, other = server.create_member(), server.create_member()
    day1 = [buy(server, m["id"], 20000, store=store, occurred_at=iso(noon(5, hour)))
            for hour in (9, 13, 17)]
    assert [p["points_earned"] for p in day1] == [200, 100, 0]
    assert [a["capped"] for a in day1[1]["earning"]["rules"]] == [True]
    assert day1[2]["earning"]["rules"] == [], "a rule capped to nothing is not listed"
    # Another day, another member: their own allowance.
    assert buy(server, m["id"], 20000, store=store, occurred_at=iso(noon(4, 9)))["points_earned"] == 200
    assert buy(server, other["id"], 20000, store=store, occurred_at=iso(noon(5, 10)))["points_earned"] == 200
    assert points(server, m["id"])["available"] == 500
    assert server.db.scalar(f"SELECT SUM(points) FROM rule_awards_daily WHERE member_id = {m['id']}"
                            f" AND rule_id = {rule['id']}") == 500


def concurrent_purchases(server, member_id, count, **fields):
    """POSTs count purchases of one member at once (a barrier, a session each); returns the answers."""
    results, errors = [], []
    barrier = threading.Barrier(count)

    def client(i):
        try:
            session = requests.Session()
            body = {"member_id": member_id, "order_id": unique("order-")}
            body.update(fields)
            barrier.wait()
            r = session.post(server.base + "/v1/purchases", headers=server.auth_headers("integration"),
                             json=body, timeout=120)
            results.append((r.status_code, r.json()))
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors
    assert [s for s, _ in results] == [201] * count, results
    return [body for _, body in results]



RACE_ROUNDS = 6  # members, each sent RACE_PURCHASES purchases at once: a race shows in one or more
RACE_PURCHASES = 12


def test_cap_per_day_holds_under_concurrent_purchases(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), cap_per_day=500)
    earned = []
    for _ in range(RACE_ROUNDS):
        m = server.create_member()
        answers = concurrent_purchases(server, m["id"], RACE_PURCHASES, amount_cents=15000, store=store,
                                       occurred_at=iso(noon(2)))
        earned.append((sum(p["points_earned"] for p in answers), points(server, m["id"])["available"]))
    assert earned == [(500, 500)] * RACE_ROUNDS, "(points earned, available) of each member"


def test_first_purchase_bonus_once_under_concurrent_purchases(server, make_rule):
    store = store_marker()
    make_rule(condition=f"{in_store(store)} and purchases_count = 0", formula="fixed", fixed_points=500)
    earned = []
    for _ in range(RACE_ROUNDS):
        m = server.create_member()
        answers = concurrent_purchases(server, m["id"], RACE_PURCHASES, amount_cents=100, store=store)
        earned.append(sorted(p["points_earned"] for p in answers if p["points_earned"]))
    assert earned == [[500]] * RACE_ROUNDS, "each member's bonus, once"


def test_validity_window_uses_the_purchase_time(server, make_rule):
    store = store_marker()
    start, end = noon(10, 0), noon(5, 0)
    rule = make_rule(condition=in_store(store), formula="fixed", fixed_points=40,
                     valid_from=iso(start), valid_until=iso(end))
    m = server.create_member()
    cases = [(noon(12), 0), (start - datetime.timedelta(seconds=1), 0), (start, 40), (noon(7), 40),
             (end - datetime.timedelta(seconds=1), 40), (end, 0), (noon(1), 0)]
    got = [(when, buy(server, m["id"], 100, store=store, occurred_at=iso(when))["points_earned"])
           for when, _ in cases]
    assert got == cases, "valid_from is included, valid_until is not"
    # An open end: valid from a time on.
    server.patch(f"/v1/rules/{rule['id']}", json={"valid_until": None})
    assert buy(server, m["id"], 100, store=store, occurred_at=iso(noon(1)))["points_earned"] == 40


def test_a_rule_valid_until_the_epoch_has_ended(server):
    store = store_marker()
    r = server.post("/v1/rules", json={"name": unique("rule-"), "condition": in_store(store),
                                       "formula": "fixed", "fixed_points": 5,
                                       "valid_until": "1970-01-01T00:00:00Z"})
    if r.status_code == 400:
        return  # refusing such a window is a fix too
    assert r.status_code == 201, r.text
    try:
        assert r.json()["valid_until"] == "1970-01-01T00:00:00Z"
        m = server.create_member()
        assert buy(server, m["id"], 100, store=store)["points_earned"] == 0
    finally:
        server.delete(f"/v1/rules/{r.json()['id']}")


def test_inactive_and_deleted_rules_earn_nothing(server, make_rule):
    store = store_marker()
    rule = make_rule(condition=in_store(store), formula="fixed", fixed_points=8)
    m = server.create_member()
    assert buy(server, m["id"], 100, store=store)["points_earned"] == 8
    assert server.patch(f"/v1/rules/{rule['id']}", json={"active": False}).status_code == 200
    assert buy(server, m["id"], 100, store=store)["points_earned"] == 0
    assert server.patch(f"/v1/rules/{rule['id']}", json={"active": True}).status_code == 200
    kept = buy(server, m["id"], 100, store=store)
    assert kept["points_earned"] == 8
    assert server.delete(f"/v1/rules/{rule['id']}").status_code == 200
    assert buy(server, m["id"], 100, store=store)["points_earned"] == 0
    # A purchase keeps its explanation after the rule is gone.
    assert server.get(f"/v1/purchases/{kept['id']}").json()["earning"]["rules"][0]["rule"] == rule["name"]


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_a_member_who_is_not_active_earns_nothing(server, make_rule, status):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=30)
    m = server.create_member()
    assert server.patch(f"/v1/members/{m['id']}", json={"status": status}).status_code == 200
    p = buy(server, m["id"], 5000, store=store)
    assert p["points_earned"] == 0
    assert p["earning"]["note"] == INACTIVE_NOTE
    assert server.get(f"/v1/purchases/{p['id']}").json() == p
    assert member_transfers(server, m["id"]) == []
    bal = points(server, m["id"])
    assert (bal["available"], bal["pending"], bal["earned_total"]) == (0, 0, 0)
    # Active again: earns again.
    assert server.patch(f"/v1/members/{m['id']}", json={"status": "active"}).status_code == 200
    assert buy(server, m["id"], 5000, store=store)["points_earned"] == 30


def test_points_not_given_to_an_inactive_member_do_not_use_the_daily_cap(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), cap_per_day=300)
    m = server.create_member()
    at = noon(3)
    assert server.patch(f"/v1/members/{m['id']}", json={"status": "suspended"}).status_code == 200
    assert buy(server, m["id"], 20000, store=store, occurred_at=iso(at))["points_earned"] == 0
    assert server.patch(f"/v1/members/{m['id']}", json={"status": "active"}).status_code == 200
    p = buy(server, m["id"], 20000, store=store, occurred_at=iso(at + datetime.timedelta(hours=1)))
    assert p["points_earned"] == 200, p["earning"]


def test_an_erased_member_cannot_buy(server):
    m = server.create_member()
    assert server.post(f"/v1/members/{m['id']}/erase").status_code == 200
    before = server.db.counts(LEDGER_TABLES)
    r = server.post("/v1/purchases", json={"member_id": m["id"], "order_id": unique("order-"),
                                           "amount_cents": 100})
    assert_error(r, 409, "member_erased")
    assert server.db.counts(LEDGER_TABLES) == before


def test_points_beyond_int64_do_not_crash_the_server(engine):
    s = start_server(engine)
    try:
        store = store_marker()
        for body in ({"formula": "per_amount", "points_per_unit": 1000000, "unit_cents": 1},
                     {"formula": "multiplier", "multiplier_permille": 100000, "priority": 200}):
            r = s.post("/v1/rules", json=dict(body, name=unique("rule-"), condition=in_store(store)))
            if r.status_code == 400:
                return  # refusing such rules is a fix too
            assert r.status_code == 201, r.text
        m = s.create_member()
        try:
            r = s.post("/v1/purchases", json={"member_id": m["id"], "order_id": unique("order-"),
                                              "amount_cents": 10 ** 12, "store": store})
        except requests.ConnectionError:
            r = None
        assert s.alive(), f"the server died:\n{s.stderr()[-2000:]}"
        assert r is not None
        assert_error(r, 400, "points_overflow")
        assert s.db.count("purchases") == 0
        assert s.get("/healthz").status_code == 200
    finally:
        if s.alive():
            s.stop()
        s.db.drop()


# ---- purchases: stats, events, idempotency, bad input, roles -----------------------------------

def test_purchases_update_member_stats(server):
    m = server.create_member()
    mid = m["id"]
    assert preview_ids(server, f"member_id = {mid} and purchases_count = 0 and total_spend_cents = 0"
                               f" and last_purchase_at is null") == [mid]
    buy(server, mid, 1500, occurred_at=iso(noon(6)))
    assert preview_ids(server, f"member_id = {mid} and purchases_count = 1 and total_spend_cents = 1500") \
        == [mid]
    buy(server, mid, 2500, occurred_at=iso(noon(3)))
    buy(server, mid, 1000, occurred_at=iso(noon(9)))  # late news of an older purchase
    assert preview_ids(server, f"member_id = {mid} and purchases_count = 3 and total_spend_cents = 5000"
                               f" and last_purchase_at > now() - 4d and last_purchase_at < now() - 2d"
                               f" and first_purchase_at < now() - 8d") == [mid]
    stats = server.db.rows(f"SELECT purchases_count, total_spend_cents, first_purchase_at, last_purchase_at"
                           f" FROM member_stats WHERE member_id = {mid}")
    first_us = int(noon(9).timestamp()) * 1000000
    last_us = int(noon(3).timestamp()) * 1000000
    assert stats == [("3", "5000", str(first_us), str(last_us))]


def test_purchases_write_member_events(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=12)
    m = server.create_member()
    p = buy(server, m["id"], 700, store=store, occurred_at=iso(noon(2)))
    spent = spend(server, m["id"], 5)
    assert spent.status_code == 201, spent.text
    rows = server.db.rows(f"SELECT kind, occurred_at, payload FROM member_events"
                          f" WHERE member_id = {m['id']} ORDER BY id")
    kinds = [k for k, _, _ in rows]
    assert kinds == ["purchase", "points_spent"], "one event a purchase, with what it earned"
    events = {k: (int(at), json.loads(payload)) for k, at, payload in rows}
    at_us = int(noon(2).timestamp()) * 1000000
    assert events["purchase"] == (at_us, {"purchase_id": p["id"], "order_id": p["order_id"],
                                          "amount_cents": 700, "points": 12, "credited": 12,
                                          "repaid_debt": 0, "status": "available"})
    assert events["points_spent"][1] == {"points": 5, "transfer_id": spent.json()["transfer_id"]}


def test_purchase_retry_with_the_same_key_replays_and_without_it_is_a_duplicate(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=50)
    m = server.create_member()
    body = {"member_id": m["id"], "order_id": unique("order-"), "amount_cents": 900, "store": store}
    key = unique("idem-")
    first = server.post("/v1/purchases", json=body, key="integration", headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    before = server.db.counts(LEDGER_TABLES)
    again = server.post("/v1/purchases", json=body, key="integration", headers={"Idempotency-Key": key})
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert server.db.counts(LEDGER_TABLES) == before
    # The same key with another body is refused.
    assert_error(server.post("/v1/purchases", json=dict(body, amount_cents=901), key="integration",
                             headers={"Idempotency-Key": key}), 409, "idempotency_key_reused")
    # Without the key (or with another), the order is a duplicate: refused, nothing counted twice.
    dup = server.post("/v1/purchases", json=body, key="integration")
    assert_error(dup, 409, "duplicate_order")
    assert body["order_id"] in dup.json()["error"]["message"]
    assert_error(server.post("/v1/purchases", json=dict(body, amount_cents=5), key="admin",
                             headers={"Idempotency-Key": unique("idem-")}), 409, "duplicate_order")
    assert server.db.counts(LEDGER_TABLES) == before
    bal = points(server, m["id"])
    assert bal["available"] == 50 and bal["earned_total"] == 50
    assert preview_ids(server, f"member_id = {m['id']} and purchases_count = 1") == [m["id"]]


def test_currency_must_be_the_programs(server):
    m = server.create_member()
    currency = server.get("/v1/program").json()["currency"]
    other = "USD" if currency != "USD" else "GBP"
    before = server.db.counts(LEDGER_TABLES)
    r = server.post("/v1/purchases", json={"member_id": m["id"], "order_id": unique("order-"),
                                           "amount_cents": 100, "currency": other})
    assert_error(r, 400, "currency_mismatch")
    assert other in r.json()["error"]["message"]
    assert server.db.counts(LEDGER_TABLES) == before
    assert buy(server, m["id"], 100, currency=currency)["currency"] == currency


def test_purchase_for_an_unknown_member(server):
    before = server.db.counts(LEDGER_TABLES)
    assert_error(server.post("/v1/purchases", json={"member_id": 999999999, "order_id": unique("o"),
                                                    "amount_cents": 100}), 404, "member_not_found")
    assert_error(server.post("/v1/purchases", json={"member_external_id": unique("nobody-"),
                                                    "order_id": unique("o"), "amount_cents": 100}),
                 404, "member_not_found")
    assert server.db.counts(LEDGER_TABLES) == before


def bad_purchases(member_id, store):
    line = {"sku": "S1", "amount_cents": 100}
    base = {"member_id": member_id, "order_id": unique("order-"), "amount_cents": 100, "store": store}
    cases = [
        ({"order_id": None}, "invalid_field"),
        ({"order_id": ""}, "invalid_field"),
        ({"order_id": "x" * 129}, "invalid_field"),
        ({"order_id": 17}, "invalid_field"),
        ({"amount_cents": None}, "invalid_field"),
        ({"amount_cents": -1}, "invalid_field"),
        ({"amount_cents": 1.5}, "invalid_field"),
        ({"amount_cents": "100"}, "invalid_field"),
        ({"amount_cents": 1000000000001}, "invalid_field"),
        ({"points_paid_cents": -1}, "invalid_field"),
        ({"member_id": None}, "invalid_field"),
        ({"member_id": 0}, "invalid_field"),
        ({"member_id": "1"}, "invalid_field"),
        ({"member_external_id": "someone"}, "invalid_field"),
        ({"occurred_at": "yesterday"}, "invalid_field"),
        ({"occurred_at": 1700000000}, "invalid_field"),
        ({"occurred_at": iso(utc_now() + datetime.timedelta(days=2))}, "invalid_field"),
        ({"currency": "EURO"}, "invalid_field"),
        ({"channel": ""}, "invalid_field"),
        ({"store": "x" * 65}, "invalid_field"),
        ({"lines": {}}, "invalid_field"),
        ({"lines": [line] * 201}, "invalid_field"),
        ({"lines": ["S1"]}, "invalid_field"),
        ({"lines": [{"amount_cents": 100}]}, "invalid_field"),
        ({"lines": [{"sku": "S1"}]}, "invalid_field"),
        ({"lines": [dict(line, quantity=0)]}, "invalid_field"),
        ({"lines": [dict(line, amount_cents=-5)]}, "invalid_field"),
        ({"lines": [dict(line, category="")]}, "invalid_field"),
        ({"lines": [line, dict(line, qty=2)]}, "unknown_field"),
        ({"ordr_id": "x"}, "unknown_field"),
        ({"id": 5}, "unknown_field"),
    ]
    out = []
    for change, code in cases:
        body = dict(base, **change)
        for k, v in change.items():
            if v is None:
                del body[k]
        out.append((body, code))
    return out


def test_bad_purchases_change_nothing(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=5)
    m = server.create_member()
    before = server.db.counts(LEDGER_TABLES)
    for body, code in bad_purchases(m["id"], store):
        r = server.post("/v1/purchases", json=body, headers={"Idempotency-Key": unique("idem-")})
        assert_error(r, 400, code)
    for raw in ("[]", "[1]"):
        assert_error(server.post("/v1/purchases", data=raw, headers={"Content-Type": "application/json"}),
                     400, "invalid_body")
    assert server.db.counts(LEDGER_TABLES) == before
    assert points(server, m["id"])["earned_total"] == 0
    assert preview_ids(server, f"member_id = {m['id']} and purchases_count = 0") == [m["id"]]


def test_purchase_roles(server):
    m = server.create_member()
    before = server.db.counts(LEDGER_TABLES)
    body = {"member_id": m["id"], "order_id": unique("order-"), "amount_cents": 100}
    for role in sorted(set(ROLES) - BUYERS):
        assert_error(server.post("/v1/purchases", json=body, key=role), 403, "forbidden")
    assert_error(server.post("/v1/purchases", json=body, key=None), 401, "unauthorized")
    assert server.db.counts(LEDGER_TABLES) == before
    p = buy(server, m["id"], 100, key="integration")
    assert_error(server.get(f"/v1/purchases/{p['id']}", key=None), 401, "unauthorized")
    assert_error(server.get("/v1/purchases/999999999"), 404, "not_found")
    assert_error(server.get("/v1/purchases/0"), 404, "not_found")
    assert_error(server.get("/v1/purchases/abc"), 404, "not_found")
    assert_error(server.get("/v1/purchases"), 405, "method_not_allowed")


# ---- balances, pending, expiry, statement -------------------------------------------------------

def test_points_of_a_new_member_and_of_nobody(server):
    m = server.create_member()
    for role in ROLES:
        assert points(server, m["id"], key=role) == {
            "member_id": m["id"], "available": 0, "pending": 0, "held": 0, "debt": 0,
            "earned_total": 0, "expiring": {"within_days": 30, "points": 0, "next_at": None}}
    r = server.get(f"/v1/members/{m['id']}/points/history")
    assert r.status_code == 200 and r.json() == {"data": [], "next_before": None}
    for path in ("/v1/members/999999999/points", "/v1/members/999999999/points/history"):
        assert_error(server.get(path), 404, "member_not_found")
        assert_error(server.get(path, key=None), 401, "unauthorized")
    assert_error(server.get("/v1/members/abc/points"), 404, "not_found")


def test_pending_points_are_not_spendable_until_they_mature(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=60)
    m, old = server.create_member(), server.create_member()
    with program_settings(server, pending_days=14):
        fresh = buy(server, m["id"], 100, store=store)
        # A purchase older than the return window is available at once.
        buy(server, old["id"], 100, store=store, occurred_at=iso(noon(20)))
    assert fresh["points_earned"] == 60
    bal = points(server, m["id"])
    assert (bal["available"], bal["pending"], bal["earned_total"]) == (0, 60, 60)
    assert (points(server, old["id"])["available"], points(server, old["id"])["pending"]) == (60, 0)
    before = server.db.counts(LEDGER_TABLES)
    assert_error(spend(server, m["id"], 1), 409, "insufficient_points")
    assert server.db.counts(LEDGER_TABLES) == before
    (earn,) = history(server, m["id"])
    assert (earn["kind"], earn["debit"], earn["credit"], earn["points"], earn["available_after"]) \
        == ("earn", "program:issued", "member:pending", 60, 0)
    # The maturing job, run after the window, makes them available.
    when = iso(instant(fresh["occurred_at"]) + datetime.timedelta(days=14, minutes=1))
    run_patron("jobs", "run", "points_mature", "--at", when, "--db", server.db.url)
    bal = points(server, m["id"])
    assert (bal["available"], bal["pending"], bal["earned_total"]) == (60, 0, 60)
    assert history(server, m["id"])[0]["kind"] == "mature"
    r = spend(server, m["id"], 60)
    assert r.status_code == 201, r.text
    assert r.json()["available"] == 0


def test_lot_expiry_shows_expiring_points_and_spending_expires_due_lots_first(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=100)
    m, later = server.create_member(), server.create_member()
    old_at, recent_at = noon(45), noon(10)
    with program_settings(server, expiry={"policy": "lot", "months": 1}):
        buy(server, m["id"], 100, store=store, occurred_at=iso(old_at))      # expired 2 weeks ago
        buy(server, m["id"], 100, store=store, occurred_at=iso(recent_at))   # expires in ~3 weeks
    with program_settings(server, expiry={"policy": "lot", "months": 3}):
        buy(server, later["id"], 100, store=store, occurred_at=iso(recent_at))  # in ~80 days
    bal = points(server, m["id"])
    assert bal["available"] == 200
    assert bal["expiring"] == {"within_days": 30, "points": 200,
                               "next_at": iso(add_months_midnight(old_at, 1))}
    assert points(server, later["id"])["expiring"] == {"within_days": 30, "points": 0, "next_at": None}
    # A refused spend changes nothing: not even the expiry it would have made.
    before = server.db.counts(LEDGER_TABLES)
    assert_error(spend(server, m["id"], 150), 409, "insufficient_points")
    assert server.db.counts(LEDGER_TABLES) == before
    r = spend(server, m["id"], 30)
    assert r.status_code == 201, r.text
    assert r.json()["available"] == 70, "the due lot expired before the spend"
    kinds = [(t[0], t[1], t[2], int(t[3])) for t in member_transfers(server, m["id"])]
    assert kinds == [("earn", "program:issued", "member:available", 100),
                     ("earn", "program:issued", "member:available", 100),
                     ("expire", "member:available", "program:expired", 100),
                     ("spend", "member:available", "program:redeemed", 30)]
    bal = points(server, m["id"])
    assert bal["available"] == 70 and bal["earned_total"] == 200
    assert bal["expiring"] == {"within_days": 30, "points": 70,
                               "next_at": iso(add_months_midnight(recent_at, 1))}
    assert server.db.count("member_events", f"member_id = {m['id']} AND kind = 'points_expired'") == 1


def test_the_expiry_job_expires_due_lots(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store), formula="fixed", fixed_points=40)
    m = server.create_member()
    with program_settings(server, expiry={"policy": "lot", "months": 1}):
        buy(server, m["id"], 100, store=store, occurred_at=iso(noon(50)))
        buy(server, m["id"], 100, store=store, occurred_at=iso(noon(2)))
    run_patron("jobs", "run", "points_expire", "--db", server.db.url)
    bal = points(server, m["id"])
    assert bal["available"] == 40 and bal["earned_total"] == 80
    assert history(server, m["id"])[0]["kind"] == "expire"
    run_patron("jobs", "run", "points_expire", "--db", server.db.url)
    assert points(server, m["id"])["available"] == 40, "expiry happens once"
    assert server.db.count("transfers", f"member_id = {m['id']} AND kind = 'expire'") == 1


def test_statement_is_newest_first_with_running_balance_and_pages(server, make_rule):
    store = store_marker()
    make_rule(condition=in_store(store))
    m = server.create_member()
    purchases = [buy(server, m["id"], amount, store=store, key="integration")
                 for amount in (1000, 2500, 700)]
    r1 = spend(server, m["id"], 12, key="integration", reason="coffee")
    r2 = spend(server, m["id"], 3, reason="sticker")
    assert r1.status_code == 201 and r2.status_code == 201
    full = history(server, m["id"])
    assert len(full) == 5
    for t in full:
        assert set(t) == HISTORY_KEYS, t
        assert t["points"] > 0 and TIMESTAMP.fullmatch(t["occurred_at"])
    assert [t["id"] for t in full] == sorted((t["id"] for t in full), reverse=True)
    assert [t["kind"] for t in full] == ["spend", "spend", "earn", "earn", "earn"]
    oldest_first = list(reversed(full))
    running = 0
    for t in oldest_first:
        running += t["points"] if t["credit"] == "member:available" else -t["points"]
        assert t["available_after"] == running, t
    assert running == 10 + 25 + 7 - 15 == points(server, m["id"])["available"]
    for t, p in zip(oldest_first[:3], purchases):
        assert (t["reference_kind"], t["reference_id"]) == ("purchase", p["id"])
        assert t["reason"] == f"purchase {p['order_id']}"
        assert t["actor"] == "test-integration"
        assert (t["debit"], t["credit"]) == ("program:issued", "member:available")
    assert [(t["reason"], t["actor"], t["reference_kind"], t["reference_id"]) for t in full[:2]] == [
        ("sticker", "test-admin", None, None), ("coffee", "test-integration", None, None)]
    assert full[0]["id"] == r2.json()["transfer_id"] and full[1]["id"] == r1.json()["transfer_id"]
    # Pages of 2, following next_before.
    seen, before = [], None
    for _ in range(10):
        path = f"/v1/members/{m['id']}/points/history?limit=2" + (f"&before={before}" if before else "")
        body = server.get(path, key="analyst").json()
        seen += body["data"]
        before = body["next_before"]
        if before is None:
            break
        assert before == body["data"][-1]["id"]
    assert seen == full
    for query in ("before=0", "before=x", "limit=0", "limit=501"):
        assert_error(server.get(f"/v1/members/{m['id']}/points/history?{query}"), 400, "invalid_query")


# ---- spending -----------------------------------------------------------------------------------

def test_spend(server, make_rule):
    m = earning_member(server, make_rule, 100)
    before = server.db.counts(LEDGER_TABLES)
    r = spend(server, m["id"], 40, key="integration", reason="free coffee")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == SPEND_KEYS
    assert body["member_id"] == m["id"] and body["points"] == 40 and body["available"] == 60
    assert body["reason"] == "free coffee"
    after = server.db.counts(LEDGER_TABLES)
    assert after["transfers"] == before["transfers"] + 1
    assert after["member_events"] == before["member_events"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
    assert after["idempotency_keys"] == before["idempotency_keys"] + 1
    assert server.db.count("audit_log", f"action = 'points.spend' AND entity_id = {m['id']}") == 1
    bal = points(server, m["id"])
    assert bal["available"] == 60 and bal["earned_total"] == 100
    assert history(server, m["id"])[0]["id"] == body["transfer_id"]
    # All of it.
    r = spend(server, m["id"], 60)
    assert r.status_code == 201 and r.json()["available"] == 0


def test_spend_needs_an_idempotency_key_and_replays_with_it(server, make_rule):
    m = earning_member(server, make_rule, 100)
    path = f"/v1/members/{m['id']}/points/spend"
    before = server.db.counts(LEDGER_TABLES)
    r = server.post(path, json={"points": 10, "reason": "x"})
    assert_error(r, 400, "idempotency_key_required")
    assert_error(server.post(path, json={"points": 10, "reason": "x"}, headers={"Idempotency-Key": "a b"}),
                 400, "invalid_idempotency_key")
    assert server.db.counts(LEDGER_TABLES) == before
    key = unique("spend-")
    first = spend(server, m["id"], 10, idem=key)
    assert first.status_code == 201, first.text
    mid = server.db.counts(LEDGER_TABLES)
    again = spend(server, m["id"], 10, idem=key)
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert server.db.counts(LEDGER_TABLES) == mid
    assert points(server, m["id"])["available"] == 90
    assert_error(spend(server, m["id"], 11, idem=key), 409, "idempotency_key_reused")
    # Keys are the caller's: another caller's same key is another spend.
    other = spend(server, m["id"], 10, idem=key, key="integration")
    assert other.status_code == 201, other.text
    assert other.json()["transfer_id"] != first.json()["transfer_id"]
    assert points(server, m["id"])["available"] == 80


def test_insufficient_points_change_nothing(server, make_rule):
    m = earning_member(server, make_rule, 50)
    before = server.db.counts(LEDGER_TABLES)
    key = unique("spend-")
    r = spend(server, m["id"], 51, idem=key)
    assert_error(r, 409, "insufficient_points")
    assert "50" in r.json()["error"]["message"]
    assert server.db.counts(LEDGER_TABLES) == before
    assert points(server, m["id"])["available"] == 50
    # An error is not stored: the same key may be used again once the request can succeed.
    r = spend(server, m["id"], 50, idem=key)
    assert r.status_code == 201, r.text
    nobody = server.create_member()
    assert_error(spend(server, nobody["id"], 1), 409, "insufficient_points")


def test_bad_spends_change_nothing(server, make_rule):
    m = earning_member(server, make_rule, 30)
    path = f"/v1/members/{m['id']}/points/spend"
    before = server.db.counts(LEDGER_TABLES)
    cases = [
        ({"points": 0, "reason": "x"}, "invalid_field"),
        ({"points": -5, "reason": "x"}, "invalid_field"),
        ({"points": 1.5, "reason": "x"}, "invalid_field"),
        ({"points": "5", "reason": "x"}, "invalid_field"),
        ({"points": True, "reason": "x"}, "invalid_field"),
        ({"points": 10 ** 12 + 1, "reason": "x"}, "invalid_field"),
        ({"reason": "x"}, "invalid_field"),
        ({"points": 5}, "invalid_field"),
        ({"points": 5, "reason": ""}, "invalid_field"),
        ({"points": 5, "reason": 7}, "invalid_field"),
        ({"points": 5, "reason": "x" * 101}, "invalid_field"),
        ({"points": 5, "reason": "x", "note": "y"}, "unknown_field"),
    ]
    for body, code in cases:
        r = server.post(path, json=body, headers={"Idempotency-Key": unique("spend-")})
        assert_error(r, 400, code)
    for raw in ("[]", "[5]"):
        assert_error(server.post(path, data=raw, headers={"Content-Type": "application/json",
                                                          "Idempotency-Key": unique("spend-")}),
                     400, "invalid_body")
    assert_error(server.post("/v1/members/999999999/points/spend", json={"points": 1, "reason": "x"},
                             headers={"Idempotency-Key": unique("spend-")}), 404, "member_not_found")
    assert_error(server.post("/v1/members/abc/points/spend", json={"points": 1, "reason": "x"},
                             headers={"Idempotency-Key": unique("spend-")}), 404, "not_found")
    for role in sorted(set(ROLES) - BUYERS):
        assert_error(server.post(path, json={"points": 1, "reason": "x"}, key=role,
                                 headers={"Idempotency-Key": unique("spend-")}), 403, "forbidden")
    assert_error(server.post(path, json={"points": 1, "reason": "x"}, key=None,
                             headers={"Idempotency-Key": unique("spend-")}), 401, "unauthorized")
    assert_error(server.get(path), 405, "method_not_allowed")
    assert server.db.counts(LEDGER_TABLES) == before
    assert points(server, m["id"])["available"] == 30


SPENDERS = 16


def test_concurrent_spends_never_overdraw(server, make_rule):
    start, each = 1000, 130
    m = earning_member(server, make_rule, start)
    results, errors = [], []
    barrier = threading.Barrier(SPENDERS)

    def client(i):
        try:
            session = requests.Session()
            key = "admin" if i % 2 else "integration"
            headers = dict(server.auth_headers(key), **{"Idempotency-Key": unique("spend-")})
            barrier.wait()
            r = session.post(f"{server.base}/v1/members/{m['id']}/points/spend", headers=headers,
                             json={"points": each, "reason": f"spender {i}"}, timeout=120)
            results.append((r.status_code, r.json()))
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(SPENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a spender hung"
    assert not errors, errors
    assert {s for s, _ in results} <= {201, 409}, results
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "insufficient_points", body
    successes = [body for status, body in results if status == 201]
    assert len(successes) * each <= start
    assert len(successes) == start // each, "every spend that fits succeeds"
    final = points(server, m["id"])["available"]
    assert final == start - len(successes) * each
    assert sorted((b["available"] for b in successes), reverse=True) \
        == [start - k * each for k in range(1, len(successes) + 1)]
    assert server.db.count("transfers", f"member_id = {m['id']} AND kind = 'spend'") == len(successes)
    assert len({b["transfer_id"] for b in successes}) == len(successes)


# ---- conservation -------------------------------------------------------------------------------

def test_ledger_conservation(server, make_rule):
    """Runs a bit of everything, then checks every member the ledger ever touched on this
    server (this module's tests run before it): what was earned, minus what was spent and
    expired, is what members hold; every transfer moves a positive amount between two
    accounts; balances equal their lots; `patron ledger verify` agrees."""
    store = store_marker()
    make_rule(condition=in_store(store))
    make_rule(condition=in_store(store), formula="multiplier", multiplier_permille=1500, priority=200)
    members = [server.create_member() for _ in range(3)]
    with program_settings(server, expiry={"policy": "lot", "months": 1}):
        for k, m in enumerate(members):
            buy(server, m["id"], 3300 + k, store=store, occurred_at=iso(noon(40)))
            buy(server, m["id"], 2000 + 7 * k, store=store)
    with program_settings(server, pending_days=10):
        buy(server, members[0]["id"], 999, store=store)
    assert spend(server, members[1]["id"], 5).status_code == 201
    assert spend(server, members[2]["id"], 10 ** 6).status_code == 409

    db = server.db
    assert db.count("transfers", "points <= 0 OR debit = credit") == 0
    rows = db.rows(
        "SELECT t.member_id,"
        " SUM(CASE WHEN t.kind = 'earn' THEN t.points ELSE 0 END),"
        " SUM(CASE WHEN t.kind = 'spend' THEN t.points ELSE 0 END),"
        " SUM(CASE WHEN t.kind = 'expire' THEN t.points ELSE 0 END),"
        " MIN(s.points_available + s.points_pending + s.points_held), MIN(s.points_debt),"
        " MIN(s.points_earned)"
        " FROM transfers t JOIN member_stats s ON s.member_id = t.member_id"
        " GROUP BY t.member_id ORDER BY t.member_id")
    assert len(rows) >= 3
    kinds = {k for (k,) in db.rows("SELECT DISTINCT kind FROM transfers")}
    assert kinds <= {"earn", "spend", "expire", "mature"}, kinds
    for member_id, earned, spent, expired, held, debt, earned_total in rows:
        earned, spent, expired, held = int(earned), int(spent), int(expired), int(held)
        assert int(debt) == 0, member_id
        assert earned - spent - expired == held, (member_id, earned, spent, expired, held)
        assert int(earned_total) == earned, member_id
    # Every member's balances equal their open lots.
    mismatched = db.rows(
        "SELECT s.member_id FROM member_stats s WHERE s.points_available + s.points_pending <>"
        " (SELECT COALESCE(SUM(l.remaining), 0) FROM points_lots l WHERE l.member_id = s.member_id)")
    assert mismatched == []
    # Accounts: what the program issued went to members, and left them only as spent or expired.
    (issued, available_in, available_out, pending_in, pending_out), = db.rows(
        "SELECT"
        " COALESCE(SUM(CASE WHEN debit = 'program:issued' THEN points ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN credit = 'member:available' THEN points ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN debit = 'member:available' THEN points ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN credit = 'member:pending' THEN points ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN debit = 'member:pending' THEN points ELSE 0 END), 0)"
        " FROM transfers")
    total_held = db.scalar("SELECT COALESCE(SUM(points_available + points_pending + points_held), 0)"
                           " FROM member_stats")
    assert int(available_in) - int(available_out) + int(pending_in) - int(pending_out) == int(total_held)
    assert int(issued) == db.scalar("SELECT COALESCE(SUM(points_earned), 0) FROM member_stats")
    out = run_patron("ledger", "verify", "--db", db.url)
    assert "verified" in out.stdout
