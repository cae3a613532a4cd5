"""Referrals over HTTP: every member's code, POST /v1/members with referred_by_code,
the first purchase that qualifies (or voids) a referral, the referrals_pay job that
pays both members once after the return window, refunds, and the refusals (unknown
code, self-referral, a loop, an inactive referrer, the daily maximum) that create
nothing.

Program settings are global: each test sets the referral settings it needs through
`program_settings`, which puts the old values back. The pay job runs over every
referral of the server's database, so tests look only at their own members.
"""

import datetime
import re

import pytest

from conftest import ROLES, assert_error, run_patron, unique
from test_ledger import program_settings
from test_ledger_more import buy, execute, import_purchases, points, refund, write

CODE = re.compile(r"[0-9A-HJKMNP-TV-Z]{8}")
REFERRAL_KEYS = {"id", "referrer_id", "referred_id", "status", "purchase_id", "created_at",
                 "qualified_at", "paid_at"}
# Tables a refused referral must leave as they were.
TABLES = ["members", "member_stats", "referrals", "member_events", "audit_log", "transfers"]

SETTINGS = {"referral_referrer_points": 500, "referral_referred_points": 300,
            "referral_daily_max": 10, "referral_min_purchase_cents": 2000, "pending_days": 14}


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pay_job(server, days_from_now):
    """Runs referrals_pay at now + days; returns how many referrals it paid."""
    at = iso(utc_now() + datetime.timedelta(days=days_from_now))
    out = run_patron("jobs", "run", "referrals_pay", "--at", at, "--db", server.db.url).stdout
    match = re.search(r'"affected":\s*(\d+)', out)
    assert match, out
    return int(match.group(1))


def referrals_of(server, member_id, key="admin"):
    r = server.get(f"/v1/members/{member_id}/referrals", key=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"member_id", "referral_code", "referred_by", "data", "next_after"}, body
    for referral in body["data"] + ([body["referred_by"]] if body["referred_by"] else []):
        assert set(referral) == REFERRAL_KEYS, referral
    return body


def referred(server, referrer, **fields):
    """A new member created with referrer's code."""
    return server.create_member(referred_by_code=referrer["referral_code"], **fields)


def referral_of(server, member):
    body = referrals_of(server, member["id"])
    assert body["referred_by"] is not None, body
    return body["referred_by"]


def bonus_transfers(server, referral_id):
    return server.db.rows(f"SELECT member_id, kind, debit, credit, points, idem_key FROM transfers"
                          f" WHERE reference_kind = 'referral' AND reference_id = {int(referral_id)}"
                          " ORDER BY member_id")


def events(server, member_id, kind):
    return server.db.count("member_events", f"member_id = {int(member_id)} AND kind = '{kind}'")


# ---- codes ----------------------------------------------------------------------------------------

def test_every_member_has_a_distinct_code_shown_everywhere(server):
    members = [server.create_member() for _ in range(5)]
    codes = [m["referral_code"] for m in members]
    assert all(CODE.fullmatch(c) for c in codes), codes
    assert len(set(codes)) == len(codes)
    for m in members:
        assert server.get(f"/v1/members/{m['id']}").json()["referral_code"] == m["referral_code"]
        assert referrals_of(server, m["id"])["referral_code"] == m["referral_code"]
    r = server.get("/v1/members?limit=500")
    assert r.status_code == 200, r.text
    listed = {m["id"]: m["referral_code"] for m in r.json()["data"]}
    assert [listed[m["id"]] for m in members] == codes


@pytest.mark.parametrize("role", ROLES)
def test_referrals_read_by_every_role(server, role):
    m = server.create_member()
    assert referrals_of(server, m["id"], key=role)["member_id"] == m["id"]


def test_referrals_of_an_unknown_member_is_404(server):
    assert_error(server.get("/v1/members/987654321/referrals"), 404, "not_found")


# ---- the life of a referral -------------------------------------------------------------------------

def test_referral_is_paid_once_after_the_return_window(server):
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        b = referred(server, a, email=f"{unique('b')}@example.com")
        pending = referral_of(server, b)
        assert (pending["referrer_id"], pending["referred_id"], pending["status"]) == (a["id"], b["id"], "pending")
        assert pending["purchase_id"] is None and pending["qualified_at"] is None
        assert [r["id"] for r in referrals_of(server, a["id"])["data"]] == [pending["id"]]
        assert referrals_of(server, a["id"])["referred_by"] is None
        assert events(server, a["id"], "referral_made") == 1
        assert server.db.count("audit_log", f"action = 'referral.create' AND entity_id = {pending['id']}") == 1

        p = buy(server, b["id"], 2500)
        qualified = referral_of(server, b)
        assert (qualified["status"], qualified["purchase_id"]) == ("qualified", p["id"])
        assert qualified["qualified_at"] == p["occurred_at"]
        buy(server, b["id"], 9000)  # a second purchase changes nothing
        assert referral_of(server, b) == qualified

        before = (points(server, a["id"])["available"], points(server, b["id"])["available"])
        pay_job(server, 13)  # inside the 14-day return window: nothing
        assert referral_of(server, b)["status"] == "qualified"
        assert bonus_transfers(server, pending["id"]) == []

        assert pay_job(server, 15) >= 1
        paid = referral_of(server, b)
        assert paid["status"] == "paid" and paid["paid_at"] is not None
        after = (points(server, a["id"])["available"], points(server, b["id"])["available"])
        assert after == (before[0] + 500, before[1] + 300)
        rid = pending["id"]
        assert bonus_transfers(server, rid) == [
            (str(a["id"]), "bonus", "program:issued", "member:available", "500", f"referral:{rid}:referrer:bonus"),
            (str(b["id"]), "bonus", "program:issued", "member:available", "300", f"referral:{rid}:referred:bonus"),
        ]
        assert events(server, a["id"], "referral_bonus") == 1
        assert events(server, b["id"], "referral_bonus") == 1
        assert server.db.count("audit_log", f"action = 'referral.pay' AND entity_id = {rid}") == 1

        pay_job(server, 16)  # again: nothing more
        pay_job(server, 30)
        assert len(bonus_transfers(server, rid)) == 2
        assert (points(server, a["id"])["available"], points(server, b["id"])["available"]) == after
        assert referrals_of(server, a["id"])["data"][0]["status"] == "paid"
        run_patron("ledger", "verify", "--db", server.db.url)


def test_a_first_purchase_below_the_minimum_voids_the_referral(server):
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        b = referred(server, a)
        buy(server, b["id"], 1999)
        assert referral_of(server, b)["status"] == "void"
        buy(server, b["id"], 50000)  # only the first purchase counts
        assert referral_of(server, b)["status"] == "void"
        pay_job(server, 30)
        assert bonus_transfers(server, referral_of(server, b)["id"]) == []
        assert events(server, a["id"], "referral_bonus") == 0


@pytest.mark.parametrize("refund_cents, status, pays", [
    (400, "paid", True),      # 2100 kept: still above the minimum
    (600, "void", False),     # 1900 kept: below it
    (2500, "void", False),    # wholly refunded
])
def test_refunds_decide_the_bonus(server, refund_cents, status, pays):
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        b = referred(server, a)
        p = buy(server, b["id"], 2500)
        r = refund(server, p["id"], {"amount_cents": refund_cents})
        assert r.status_code == 201, r.text
        before = points(server, a["id"])["available"]
        pay_job(server, 15)
        referral = referral_of(server, b)
        assert referral["status"] == status
        assert len(bonus_transfers(server, referral["id"])) == (2 if pays else 0)
        assert points(server, a["id"])["available"] == before + (500 if pays else 0)


def test_a_zero_bonus_closes_the_referral_without_paying(server):
    with program_settings(server, **dict(SETTINGS, referral_referrer_points=0, referral_referred_points=0)):
        a = server.create_member()
        b = referred(server, a)
        buy(server, b["id"], 2500)
        pay_job(server, 15)
        referral = referral_of(server, b)
        assert referral["status"] == "paid"
        assert bonus_transfers(server, referral["id"]) == []


def test_a_closed_member_gets_no_bonus(server):
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        b = referred(server, a)
        buy(server, b["id"], 2500)
        r = server.patch(f"/v1/members/{a['id']}", json={"status": "closed"})
        assert r.status_code == 200, r.text
        pay_job(server, 15)
        referral = referral_of(server, b)
        assert referral["status"] == "void"
        assert bonus_transfers(server, referral["id"]) == []


# ---- refusals ---------------------------------------------------------------------------------------

def refused(server, body, status, code):
    """POSTs a member that must be refused; checks nothing changed."""
    before = server.db.counts(TABLES)
    assert_error(server.post("/v1/members", json=body), status, code)
    assert server.db.counts(TABLES) == before


def test_unknown_or_malformed_codes_create_nothing(server):
    with program_settings(server, **SETTINGS):
        for code in ["ZZZZZZZZ", "00000000", "abc", "", "7KQ2M9XD7", "ÉÉÉÉÉÉÉÉ", 12345678, None]:
            refused(server, {"external_id": unique("e"), "referred_by_code": code}, 400, "invalid_referral_code")
        gone = server.create_member()
        assert server.post(f"/v1/members/{gone['id']}/erase").status_code == 200
        refused(server, {"external_id": unique("e"), "referred_by_code": gone["referral_code"]},
                400, "invalid_referral_code")


def test_a_code_in_any_case_is_accepted(server):
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        b = server.create_member(referred_by_code=a["referral_code"].lower())
        assert referral_of(server, b)["referrer_id"] == a["id"]


def test_self_referral_is_refused(server):
    with program_settings(server, **SETTINGS):
        email = f"{unique('self')}@Example.com"
        a = server.create_member(email=email, phone="+44 20 7946 0000")
        refused(server, {"external_id": unique("e"), "email": email.replace("Example", "EXAMPLE"),
                         "referred_by_code": a["referral_code"]}, 409, "self_referral")
        refused(server, {"external_id": unique("e"), "phone": "+442079460000",
                         "referred_by_code": a["referral_code"]}, 409, "self_referral")


def test_a_referral_loop_is_refused(server):
    """X refers R; X leaves and joins again under another account with R's code: a loop."""
    with program_settings(server, **SETTINGS):
        email = f"{unique('x')}@example.com"
        x = server.create_member(email=email)
        r = referred(server, x)
        deeper = referred(server, r)
        assert server.patch(f"/v1/members/{x['id']}", json={"status": "closed"}).status_code == 200
        for referrer in (r, deeper):
            refused(server, {"external_id": unique("e"), "email": email,
                             "referred_by_code": referrer["referral_code"]}, 409, "referral_loop")


def test_an_inactive_referrer_is_refused(server):
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        for status in ("suspended", "closed"):
            assert server.patch(f"/v1/members/{a['id']}", json={"status": status}).status_code == 200
            refused(server, {"external_id": unique("e"), "referred_by_code": a["referral_code"]},
                    409, "referrer_not_active")


def test_the_daily_maximum_is_enforced(server):
    with program_settings(server, **dict(SETTINGS, referral_daily_max=2)):
        a = server.create_member()
        referred(server, a)
        referred(server, a)
        refused(server, {"external_id": unique("e"), "referred_by_code": a["referral_code"]}, 409, "referral_limit")
        assert len(referrals_of(server, a["id"])["data"]) == 2
    with program_settings(server, **dict(SETTINGS, referral_daily_max=0)):
        other = server.create_member()
        refused(server, {"external_id": unique("e"), "referred_by_code": other["referral_code"]},
                409, "referral_limit")


def test_a_code_is_taken_only_at_creation(server):
    a = server.create_member()
    b = server.create_member()
    before = server.db.counts(TABLES)
    assert_error(server.patch(f"/v1/members/{b['id']}", json={"referred_by_code": a["referral_code"]}),
                 400, "read_only_field")
    assert_error(server.patch(f"/v1/members/{b['id']}", json={"referral_code": "ABCDEFGH"}),
                 400, "unknown_field")
    assert server.db.counts(TABLES) == before
    r = server.post("/v1/members", json={"external_id": unique("e"), "refered_by_code": a["referral_code"]})
    assert_error(r, 400, "unknown_field")
    assert "referred_by_code" in r.json()["error"]["message"]


def test_a_member_is_referred_once(server):
    """The referred member's row is new, so a second referral of the same member cannot be made;
    the table says it too (referred_id is unique)."""
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        c = server.create_member()
        b = referred(server, a)
        with pytest.raises(Exception):  # sqlite3.IntegrityError, or psql's failure
            execute(server.db, "INSERT INTO referrals (referrer_id, referred_id, status, created_at)"
                               f" VALUES ({c['id']}, {b['id']}, 'pending', 0)")
        assert referral_of(server, b)["referrer_id"] == a["id"]


def test_an_imported_purchase_does_not_qualify_a_referral(server, tmp_path, monkeypatch):
    """Bulk imports bring history, not new customers' first purchases: the referral stays pending."""
    monkeypatch.setenv("PATRON_TIME_ZONE", "UTC")
    with program_settings(server, **SETTINGS):
        a = server.create_member()
        b = referred(server, a)
        day = (utc_now().date() - datetime.timedelta(days=3)).isoformat()
        path = write(tmp_path, "orders.csv", f"customer,date,amount\n{b['external_id']},{day},50.00\n")
        summary, _ = import_purchases(server.db.url, path, "--header", "--map",
                                      "member=customer,date=date,amount=amount")
        assert (summary["purchases"], summary["members_created"]) == (1, 0), summary
        assert server.db.count("purchases", f"member_id = {b['id']}") == 1
        assert referral_of(server, b)["status"] == "pending"
        pay_job(server, 30)
        assert referral_of(server, b)["status"] == "pending"
