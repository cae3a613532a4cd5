"""The member portal on both engines: a one-time sign-in link by email (delivered to a real
SMTP server), the member session cookie and its CSRF token, and the /v1/portal JSON API over
the member's own record only.

The server has no clock to move, so an expired link is made by moving its expires_at into
the past in the database (as other suites insert rows they cannot make through the API).
"""

import email
import email.policy
import os
import re
import sqlite3
import json
import time

import pytest
import requests

from conftest import ENGINES, Database, Server, assert_error, require_engine, run_patron, unique
from smtp_server import SmtpServer

PUBLIC = "http://shop.example"
LINK = re.compile(r"http://shop\.example/portal/signin\?token=([A-Za-z0-9_\-]+)")
PROFILE_KEYS = {"id", "first_name", "last_name", "email", "status", "joined_at", "consent"}


@pytest.fixture(scope="module", params=ENGINES)
def portal(request):
    """A server whose outbox mails a real SMTP server (portal.smtp), earning a point a euro."""
    require_engine(request.param)
    smtp = SmtpServer().start()
    env = dict(os.environ, PATRON_SMTP_URL=smtp.url, PATRON_MAIL_FROM="club@shop.example", PATRON_SMTP_TLS="none",
               PATRON_PUBLIC_URL=PUBLIC)
    for name in ("PATRON_SMTP_USER", "PATRON_SMTP_PASSWORD"):
        env.pop(name, None)
    db = Database(request.param)
    db.migrate()
    server = Server(db, env=env).start()
    server.smtp = smtp
    assert server.patch("/v1/program", json={"send_rate_per_second": 0}).status_code == 200
    r = server.post("/v1/rules", json={"name": "a point a euro", "formula": "per_amount", "points_per_unit": 1})
    assert r.status_code == 201, r.text
    yield server
    try:
        if server.proc is not None:
            server.stop_ok()
    finally:
        smtp.stop()
        db.drop()


# ---- helpers ------------------------------------------------------------------------------------

def execute(db, sql):
    """Runs one change and commits it (conftest's db.rows only reads)."""
    if db.engine == "sqlite":
        conn = sqlite3.connect(db.path, timeout=30)
        try:
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
    else:
        db.rows(sql)


def new_member(server, **fields):
    body = dict(email=unique("m-") + "@example.com", first_name="Zoé", last_name="Martin",
                consent={"email": True, "sms": False, "post": False, "phone": False})
    body.update(fields)
    return server.create_member(**body)


def ask_link(server, address):
    return requests.post(server.base + "/v1/portal/signin-links", json={"email": address}, timeout=30)


def mails_to(server, address):
    return [email.message_from_bytes(e.data, policy=email.policy.default)
            for e in server.smtp.messages() if address in e.rcpt_tos]


def wait_for_links(server, address, count, timeout_s=60):
    """The tokens of the first `count` sign-in emails to address, oldest first."""
    deadline = time.monotonic() + timeout_s
    while len(mails_to(server, address)) < count:
        assert time.monotonic() < deadline, f"{count} sign-in emails to {address} never arrived"
        time.sleep(0.1)
    tokens = []
    for msg in mails_to(server, address)[:count]:
        assert msg["Subject"] == "Your sign-in link", msg["Subject"]
        body = msg.get_body(("plain",)).get_content()
        match = LINK.search(body)
        assert match, body
        tokens.append(match.group(1))
    return tokens


def new_link(server, address):
    before = len(mails_to(server, address))
    r = ask_link(server, address)
    assert r.status_code == 202 and r.json() == {"sent": True}, r.text
    return wait_for_links(server, address, before + 1)[-1]


def open_session(server, token):
    return requests.post(server.base + "/v1/portal/sessions", json={"token": token}, timeout=30)


def sign_in(server, m):
    """A requests.Session signed in as member m, sending the CSRF token on changes."""
    s = requests.Session()
    r = s.post(server.base + "/v1/portal/sessions", json={"token": new_link(server, m["email"])}, timeout=30)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s


def call(server, s, method, path, **kw):
    kw.setdefault("timeout", 30)
    return s.request(method, server.base + path, **kw)


def buy(server, member_id, amount_cents, order_id=None):
    r = server.post("/v1/purchases", key="integration", json={
        "member_id": member_id, "order_id": order_id or unique("order-"), "amount_cents": amount_cents})
    assert r.status_code == 201, r.text
    return r.json()


def reward(server, cost, **fields):
    body = {"name": unique("Free coffee "), "kind": "gift", "cost_points": cost}
    body.update(fields)
    r = server.post("/v1/rewards", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def balance(server, member_id):
    return server.get(f"/v1/members/{member_id}/points").json()["available"]


# ---- signing in -------------------------------------------------------------------------------

def test_an_unknown_address_is_answered_alike_and_sent_nothing(portal):
    server = portal
    messages = server.db.count("messages")
    nobody = unique("nobody-") + "@example.com"
    r = ask_link(server, nobody)
    assert r.status_code == 202 and r.json() == {"sent": True}, r.text
    assert server.db.count("messages") == messages
    assert server.db.count("member_signin_links", "member_id IS NULL AND token_hash IS NULL") >= 1
    time.sleep(1)
    assert mails_to(server, nobody) == []
    # An erased or closed member's address is nobody's either.
    closed = new_member(server, status="closed")
    assert ask_link(server, closed["email"]).status_code == 202
    assert server.db.count("messages") == messages


@pytest.mark.parametrize("body", [{"email": "not-an-address"}, {"email": ""}, {}, {"email": 7}])
def test_a_bad_address_is_a_400(portal, body):
    server = portal
    links = server.db.count("member_signin_links")
    r = requests.post(server.base + "/v1/portal/signin-links", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_email", "invalid_field"), r.text
    if body in ({"email": "not-an-address"}, {"email": ""}, {}):
        assert_error(r, 400, "invalid_email")
    assert server.db.count("member_signin_links") == links
    assert_error(requests.post(server.base + "/v1/portal/signin-links", json={"email": "a@b.example", "x": 1},
                               timeout=30), 400, "unknown_field")


def test_the_link_arrives_by_email_and_opens_a_session_once(portal):
    server = portal
    m = new_member(server)
    token = new_link(server, m["email"])
    (msg,) = mails_to(server, m["email"])
    text = msg.get_body(("plain",)).get_content()
    assert "15 minutes" in text and "used once" in text, text
    assert server.db.count("member_signin_links", f"member_id = {m['id']} AND used_at IS NULL") == 1
    # Only the token's hash is stored.
    assert server.db.count("member_signin_links", f"token_hash = '{token}'") == 0
    # Opening the link's page (the front-end's, when it exists) never uses the link up.
    page = requests.get(server.base + "/portal/signin", params={"token": token}, timeout=30)
    assert page.status_code == 200 and "/assets/portal.js" in page.text, page.text
    assert server.db.count("member_signin_links", f"member_id = {m['id']} AND used_at IS NULL") == 1
    # Staff reading the member's messages never see the token: it would let them sign in as the member.
    messages = server.get(f"/v1/members/{m['id']}/messages").json()["data"]
    signin = [x for x in messages if x["subject"] == "Your sign-in link"]
    assert len(signin) == 1 and token not in json.dumps(messages), messages
    assert "hidden" in signin[0]["text"], signin

    r = open_session(server, token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["member"]) == PROFILE_KEYS and body["member"]["id"] == m["id"], body
    assert body["member"]["email"] == m["email"] and body["csrf_token"], body
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("patron_member=pm_"), cookie
    for part in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
        assert part in cookie, cookie
    assert server.db.count("member_signin_links", f"member_id = {m['id']} AND used_at IS NOT NULL") == 1
    assert server.db.count("member_sessions", f"member_id = {m['id']}") == 1

    again = open_session(server, token)
    assert_error(again, 401, "link_invalid")
    assert "ask for a new one" in again.json()["error"]["message"]
    assert_error(open_session(server, "pl_" + "A" * 43), 401, "link_invalid")
    assert_error(open_session(server, "x" * 5000), 401, "link_invalid")
    assert server.db.count("member_sessions", f"member_id = {m['id']}") == 1
    audit = server.db.rows(f"SELECT actor_kind, actor_id, actor_label FROM audit_log WHERE action = 'session.open'"
                           f" AND entity = 'member_session' AND actor_id = {m['id']}")
    assert audit == [("member", str(m["id"]), f"member:{m['id']}")], audit


def test_an_expired_link_is_refused(portal):
    server = portal
    m = new_member(server)
    token = new_link(server, m["email"])
    execute(server.db, f"UPDATE member_signin_links SET expires_at = created_at - 1 WHERE member_id = {m['id']}")
    assert_error(open_session(server, token), 401, "link_invalid")
    assert server.db.count("member_sessions", f"member_id = {m['id']}") == 0


def test_links_are_rate_limited_by_address_whether_or_not_a_member_has_it(portal):
    server = portal
    m = new_member(server)
    nobody = unique("nobody-") + "@example.com"
    for address in (m["email"], nobody):
        for _ in range(5):
            r = ask_link(server, address)
            assert r.status_code == 202, r.text
        r = ask_link(server, address.upper())  # the same address in other letters
        assert_error(r, 429, "too_many_requests")
        assert "15 minutes" in r.json()["error"]["message"]
    wait_for_links(server, m["email"], 5)
    time.sleep(0.5)
    assert len(mails_to(server, m["email"])) == 5


def test_signout_ends_the_session(portal):
    server = portal
    m = new_member(server)
    s = sign_in(server, m)
    assert call(server, s, "GET", "/v1/portal/me").status_code == 200
    r = call(server, s, "POST", "/v1/portal/signout")
    assert r.status_code == 200 and r.json() == {"signed_out": True}, r.text
    assert "patron_member=;" in r.headers["Set-Cookie"] and "Max-Age=0" in r.headers["Set-Cookie"]
    assert server.db.count("member_sessions", f"member_id = {m['id']}") == 0
    stale = requests.get(server.base + "/v1/portal/me", cookies={"patron_member": "pm_gone"}, timeout=30)
    assert_error(stale, 401, "unauthorized")
    assert_error(requests.get(server.base + "/v1/portal/me", timeout=30), 401, "unauthorized")


def test_an_expired_session_is_refused(portal):
    server = portal
    m = new_member(server)
    s = sign_in(server, m)
    execute(server.db, f"UPDATE member_sessions SET expires_at = created_at WHERE member_id = {m['id']}")
    assert_error(call(server, s, "GET", "/v1/portal/me"), 401, "unauthorized")


# ---- what a member may reach ---------------------------------------------------------------------

def test_a_member_reaches_no_staff_route_and_no_other_members_record(portal):
    server = portal
    m, other = new_member(server), new_member(server)
    s = sign_in(server, m)
    for path in (f"/v1/members/{other['id']}", f"/v1/members/{m['id']}", "/v1/members", "/v1/auth/me",
                 f"/v1/members/{other['id']}/points", "/v1/tickets", "/v1/audit"):
        assert_error(call(server, s, "GET", path), 403, "forbidden")
    r = call(server, s, "PATCH", f"/v1/members/{other['id']}", json={"first_name": "Eve"})
    assert_error(r, 403, "forbidden")
    # Staff and API keys hold no portal permission: the portal is the member's own.
    assert_error(server.get("/v1/portal/me"), 403, "forbidden")
    other_ticket = server.post("/v1/tickets", json={"member_id": other["id"], "subject": "Mine", "body": "Private",
                                                   "category": "question"})
    assert other_ticket.status_code == 201, other_ticket.text
    tid = other_ticket.json()["id"]
    assert_error(call(server, s, "GET", f"/v1/portal/tickets/{tid}"), 404, "not_found")
    assert_error(call(server, s, "POST", f"/v1/portal/tickets/{tid}/messages", json={"body": "hi"}), 404, "not_found")
    assert tid not in [t["id"] for t in call(server, s, "GET", "/v1/portal/tickets").json()["data"]]


def test_me_statement_and_a_redemption(portal):
    server = portal
    m = new_member(server)
    order = unique("A-")
    buy(server, m["id"], 5000, order_id=order)  # 50 points
    r = server.post(f"/v1/members/{m['id']}/points/adjustments", json={"points": 30, "reason": "birthday treat"},
                    headers={"Idempotency-Key": unique("adj-")})
    assert r.status_code == 201, r.text
    s = sign_in(server, m)
    me = call(server, s, "GET", "/v1/portal/me")
    assert me.status_code == 200, me.text
    me = me.json()
    assert {"member", "csrf_token", "points", "tier", "referral", "feed_url"} <= set(me), me
    assert me["csrf_token"] == s.headers["X-CSRF-Token"]
    assert me["member"]["id"] == m["id"] and set(me["member"]) == PROFILE_KEYS
    assert me["points"]["balance"] == 80 and me["points"]["expiring_soon"] == [], me["points"]
    assert me["feed_url"].startswith(PUBLIC + "/feeds/members/"), me
    assert me["referral"] is None or me["referral"]["url"].startswith(PUBLIC), me

    statement = call(server, s, "GET", "/v1/portal/statement").json()["data"]
    reasons = [e["reason"] for e in statement]
    assert reasons == ["Adjustment: birthday treat", f"Purchase {order}"], statement
    assert [e["change"] for e in statement] == [30, 50]
    assert all("actor" not in e for e in statement)

    coffee = reward(server, 60)
    listed = call(server, s, "GET", "/v1/portal/rewards").json()["data"]
    assert coffee["id"] in [x["id"] for x in listed]
    gone = reward(server, 1, active=False)
    assert gone["id"] not in [x["id"] for x in call(server, s, "GET", "/v1/portal/rewards").json()["data"]]

    # Without the CSRF token: refused, nothing changed.
    before = server.db.counts(["coupons", "transfers", "audit_log"])
    bare = requests.post(server.base + f"/v1/portal/rewards/{coffee['id']}/redeem", cookies=s.cookies,
                         headers={"Idempotency-Key": unique("r-")}, timeout=30)
    assert_error(bare, 403, "csrf_token_invalid")
    assert_error(call(server, s, "POST", f"/v1/portal/rewards/{coffee['id']}/redeem"), 400,
                 "idempotency_key_required")
    assert server.db.counts(["coupons", "transfers", "audit_log"]) == before
    assert balance(server, m["id"]) == 80

    key = unique("redeem-")
    r = call(server, s, "POST", f"/v1/portal/rewards/{coffee['id']}/redeem", headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    coupon = r.json()
    assert coupon["member_id"] == m["id"] and coupon["reward"]["id"] == coffee["id"], coupon
    replay = call(server, s, "POST", f"/v1/portal/rewards/{coffee['id']}/redeem", headers={"Idempotency-Key": key})
    assert replay.status_code == 201 and replay.json()["id"] == coupon["id"]
    assert balance(server, m["id"]) == 20
    coupons = call(server, s, "GET", "/v1/portal/coupons").json()["data"]
    assert [c["code"] for c in coupons] == [coupon["code"]]
    assert call(server, s, "GET", "/v1/portal/me").json()["points"]["balance"] == 20
    statement = call(server, s, "GET", "/v1/portal/statement").json()["data"]
    assert statement[0]["reason"] == f"Redeemed reward '{coffee['name']}'" and statement[0]["change"] == -60
    # Not enough points: the staff route's error, nothing changed.
    r = call(server, s, "POST", f"/v1/portal/rewards/{coffee['id']}/redeem", headers={"Idempotency-Key": unique("r-")})
    assert_error(r, 409, "insufficient_points")
    assert balance(server, m["id"]) == 20
    actors = server.db.rows(f"SELECT DISTINCT actor_kind, actor_label FROM audit_log WHERE action = 'coupon.issue'"
                            f" AND actor_id = {m['id']}")
    assert actors in ([("member", f"member:{m['id']}")], []), actors


def test_refunds_and_expiry_read_as_words(portal):
    server = portal
    m = new_member(server)
    order = unique("B-")
    p = buy(server, m["id"], 4000, order_id=order)
    r = server.post(f"/v1/purchases/{p['id']}/refunds", key="integration", json={"amount_cents": 4000},
                    headers={"Idempotency-Key": unique("refund-")})
    assert r.status_code == 201, r.text
    s = sign_in(server, m)
    reasons = [e["reason"] for e in call(server, s, "GET", "/v1/portal/statement").json()["data"]]
    assert reasons[0] == f"Refund of purchase {order}" and reasons[-1] == f"Purchase {order}", reasons


def test_offers_stamp_cards_surveys_and_terms(portal):
    server = portal
    m = new_member(server)
    s = sign_in(server, m)
    offers = call(server, s, "GET", "/v1/portal/offers")
    assert offers.status_code == 200 and offers.json()["data"] == [], offers.text
    cards = call(server, s, "GET", "/v1/portal/stamp-cards")
    assert cards.status_code == 200 and cards.json()["data"] == [], cards.text
    surveys = call(server, s, "GET", "/v1/portal/surveys")
    assert surveys.status_code == 200 and surveys.json() == {"data": []}, surveys.text
    terms = call(server, s, "GET", "/v1/portal/terms")
    assert terms.status_code == 200, terms.text
    t = terms.json()
    assert {"version", "text", "changes"} <= set(t) and t["version"] >= 1 and t["text"], t
    # The terms are what concerns members: never how the shop runs the program.
    operational = {"send_rate_per_second", "smtp_connections", "manager_adjustment_limit",
                   "supervisor_approval_limit", "time_zone", "message_cap_count", "quiet_hours_start"}
    assert not operational & {c["name"] for c in t["changes"]}, t
    program = server.get("/v1/program").json()
    assert server.patch("/v1/program", json={"pending_days": program["pending_days"] + 1}).status_code == 200
    assert server.patch("/v1/program", json={"smtp_connections": program["smtp_connections"] % 4 + 1}).status_code == 200
    try:
        t = call(server, s, "GET", "/v1/portal/terms").json()
        assert [c["name"] for c in t["changes"]] == [], t  # the newest version only changed an operational setting
        assert server.patch("/v1/program", json={"pending_days": program["pending_days"]}).status_code == 200
        t = call(server, s, "GET", "/v1/portal/terms").json()
        assert t["changes"] == [{"name": "pending_days", "before": str(program["pending_days"] + 1),
                                 "after": str(program["pending_days"])}], t
    finally:
        server.patch("/v1/program", json={"pending_days": program["pending_days"],
                                          "smtp_connections": program["smtp_connections"]})

    gift = reward(server, 0)
    offer = server.post("/v1/offers", json={"name": unique("offer-"), "title": "A gift", "reward_id": gift["id"],
                                            "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"})
    assert offer.status_code == 201, offer.text
    listed = call(server, s, "GET", "/v1/portal/offers").json()["data"]
    assert offer.json()["id"] in [o["id"] for o in listed], listed
    claim = call(server, s, "POST", f"/v1/portal/offers/{offer.json()['id']}/claim",
                 headers={"Idempotency-Key": unique("claim-")})
    assert claim.status_code == 201 and claim.json()["member_id"] == m["id"], claim.text
    server.patch(f"/v1/offers/{offer.json()['id']}", json={"active": False})


def test_tickets_conversation_without_internal_notes(portal):
    server = portal
    m = new_member(server)
    s = sign_in(server, m)
    for bad in ({"kind": "praise", "subject": "x", "body": "y"}, {"kind": "complaint", "body": "no subject"},
                {"kind": "complaint", "subject": "s", "body": "b", "member_id": 1}):
        before = server.db.count("tickets")
        r = call(server, s, "POST", "/v1/portal/tickets", json=bad)
        assert r.status_code == 400, r.text
        assert server.db.count("tickets") == before
    r = call(server, s, "POST", "/v1/portal/tickets",
             json={"kind": "complaint", "subject": "The lid is cracked", "body": "It arrived broken."})
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["kind"], t["category"], t["channel"], t["status"]) == ("complaint", "complaint", "portal", "new"), t
    assert [(x["from"], x["body"]) for x in t["messages"]] == [("you", "It arrived broken.")]
    path = f"/v1/tickets/{t['id']}"
    staff = server.get(path).json()
    assert staff["member_id"] == m["id"] and staff["created_by"] == f"member:{m['id']}", staff
    assert server.post(f"{path}/comments", json={"body": "VIP, refund at once", "visibility": "internal"},
                       key="agent").status_code == 201
    assert server.post(f"{path}/comments", json={"body": "Sorry! A new one is on its way.", "visibility": "public"},
                       key="agent").status_code == 201
    seen = call(server, s, "GET", f"/v1/portal/tickets/{t['id']}").json()
    assert [(x["from"], x["body"]) for x in seen["messages"]] == [
        ("you", "It arrived broken."), ("staff", "Sorry! A new one is on its way.")], seen
    assert "VIP" not in str(seen) and "assignee" not in seen and "history" not in seen
    r = call(server, s, "POST", f"/v1/portal/tickets/{t['id']}/messages", json={"body": "Thank you!"})
    assert r.status_code == 201 and r.json()["from"] == "you", r.text
    assert_error(call(server, s, "POST", f"/v1/portal/tickets/{t['id']}/messages", json={}), 400, "invalid_field")
    last = server.get(path).json()["comments"][-1]
    assert (last["author_kind"], last["visibility"], last["body"]) == ("member", "public", "Thank you!")
    listed = call(server, s, "GET", "/v1/portal/tickets").json()["data"]
    assert [x["id"] for x in listed] == [t["id"]] and "assignee" not in listed[0]
    chat = call(server, s, "POST", "/v1/portal/tickets", json={"kind": "chat", "subject": "Hi", "body": "Anyone?"})
    assert chat.status_code == 201 and chat.json()["channel"] == "chat" and chat.json()["kind"] == "chat", chat.text
    sugg = call(server, s, "POST", "/v1/portal/tickets",
                json={"kind": "suggestion", "subject": "Oat milk", "body": "Please stock it."})
    assert sugg.status_code == 201 and sugg.json()["category"] == "suggestion", sugg.text


def test_preferences_and_one_click_unsubscribe(portal):
    server = portal
    m = new_member(server)
    s = sign_in(server, m)
    r = call(server, s, "PATCH", "/v1/portal/preferences", json={"consent": {"sms": True, "post": True}})
    assert r.status_code == 200, r.text
    assert r.json()["member"]["consent"] == {"email": True, "sms": True, "post": True, "phone": False}
    assert server.get(f"/v1/members/{m['id']}").json()["consent"]["sms"] is True
    for bad in ({"consent": {"fax": True}}, {"consent": {"sms": "yes"}}, {"first_name": "Eve"}, {"consent": {}}):
        r = call(server, s, "PATCH", "/v1/portal/preferences", json=bad)
        assert r.status_code == 400, r.text
    assert server.get(f"/v1/members/{m['id']}").json()["first_name"] == "Zoé"
    audit = server.db.rows(f"SELECT actor_kind, actor_label FROM audit_log WHERE entity = 'member'"
                           f" AND entity_id = {m['id']} AND action = 'member.update'")
    assert audit == [("member", f"member:{m['id']}")], audit

    r = call(server, s, "POST", "/v1/portal/unsubscribe")
    assert r.status_code == 200, r.text
    assert r.json()["changed"] is True and r.json()["member"]["consent"]["email"] is False, r.text
    assert server.get(f"/v1/members/{m['id']}").json()["consent"]["email"] is False
    assert server.db.count("unsubscribes", f"member_id = {m['id']}") == 1
    again = call(server, s, "POST", "/v1/portal/unsubscribe")
    assert again.status_code == 200 and again.json()["changed"] is False
    assert server.db.count("unsubscribes", f"member_id = {m['id']}") == 1


def test_erasure_ends_the_members_sessions_and_links(portal):
    server = portal
    m = new_member(server)
    s = sign_in(server, m)
    r = server.post(f"/v1/members/{m['id']}/erase")
    assert r.status_code == 200, r.text
    assert server.db.count("member_sessions", f"member_id = {m['id']}") == 0
    assert server.db.count("member_signin_links", f"member_id = {m['id']}") == 0
    assert_error(call(server, s, "GET", "/v1/portal/me"), 401, "unauthorized")


def test_staff_can_hand_a_member_a_link_from_the_command_line(portal, monkeypatch):
    """`patron portal-link` (a shop without SMTP, a member on the phone): a link
    that works once like a mailed one, is audited, and is refused for nobody."""
    server = portal
    m = new_member(server)
    out = run_patron("portal-link", "--db", server.db.url, "--email", m["email"].upper()).stdout
    match = re.search(r"/portal/signin\?token=(pl_[\w-]+)", out)
    assert match and "15 minutes" in out, out
    assert server.db.count("audit_log", f"action = 'portal.link_issued' AND entity_id = {m['id']}") == 1
    r = open_session(server, match.group(1))
    assert r.status_code == 200 and r.json()["member"]["id"] == m["id"], r.text
    assert_error(open_session(server, match.group(1)), 401, "link_invalid")
    links = server.db.count("member_signin_links")
    nobody = run_patron("portal-link", "--db", server.db.url, "--email", unique("nobody-") + "@example.com",
                        check=False)
    assert nobody.returncode == 1 and "member_not_found" in nobody.stderr, nobody.stderr
    bad = run_patron("portal-link", "--db", server.db.url, "--email", "not-an-address", check=False)
    assert bad.returncode == 1 and "invalid_email" in bad.stderr, bad.stderr
    usage = run_patron("portal-link", "--db", server.db.url, check=False)
    assert usage.returncode != 0 and "usage: patron portal-link" in usage.stderr, usage.stderr
    monkeypatch.setenv("PATRON_PUBLIC_URL", "ftp://shop.example")  # the same check as the server's mail links
    wrong = run_patron("portal-link", "--db", server.db.url, "--email", m["email"], check=False)
    assert wrong.returncode == 1 and "PATRON_PUBLIC_URL 'ftp://shop.example'" in wrong.stderr, wrong.stderr
    assert server.db.count("member_signin_links") == links
