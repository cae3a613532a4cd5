"""The service desk's story end to end, on both engines, through a real SMTP server:
a complaint by email opens a ticket -> an agent replies (the customer gets the mail) ->
the ticket breaches its resolution target and escalates to a supervisor -> the agent
proposes compensation -> the agent cannot approve it -> a manager does -> the points are on
the member's balance with the ticket as reference -> the ticket is resolved -> a CSAT survey
goes out by email -> the member answers through its link -> all of it is on the member's
timeline, newest first.
"""

import datetime
import email
import email.policy
import os
import re
import time

import pytest
import requests

from conftest import Database, Server, assert_error, require_engine, run_patron, unique
from smtp_server import SmtpServer

PUBLIC = "http://shop.example"
SENDER = "care@shop.example"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def desk(engine, smtp, monkeypatch):
    require_engine(engine)
    monkeypatch.setenv("PATRON_PUBLIC_URL", PUBLIC)  # the survey job runs in the CLI
    db = Database(engine)
    db.migrate()
    env = dict(os.environ, PATRON_SMTP_URL=smtp.url, PATRON_MAIL_FROM=SENDER, PATRON_SMTP_TLS="none",
               PATRON_PUBLIC_URL=PUBLIC)
    for name in ("PATRON_SMTP_USER", "PATRON_SMTP_PASSWORD"):
        env.pop(name, None)
    server = Server(db, env=env).start()
    yield server
    try:
        server.stop_ok()
    finally:
        db.drop()


def mail_to(smtp, address, count, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while True:
        got = [email.message_from_bytes(e.data, policy=email.policy.default)
               for e in smtp.messages() if address in e.rcpt_tos]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def job(server, name, at=None):
    args = ["jobs", "run", name, "--db", server.db.url]
    if at is not None:
        args += ["--at", at.strftime("%Y-%m-%dT%H:%M:%SZ")]
    return run_patron(*args).stdout


def test_the_complaint_story(desk, smtp):
    server = desk
    address = unique("zoe") + "@example.com"
    # Service mail needs no marketing consent: Zoé never ticked the box.
    r = server.post("/v1/members", json={"email": address, "first_name": "Zoé", "consent": {"email": False}})
    member = r.json()
    r = server.post("/v1/staff", json={"email": unique("sup-") + "@shop.example", "name": "Sam Supervisor",
                                       "role": "supervisor", "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    supervisor = r.json()["email"]

    # 1. A complaint by email opens a ticket for the member.
    complaint = (f"From: Zoé <{address}>\r\nTo: {SENDER}\r\nSubject: My parcel arrived broken\r\n"
                 f"Message-ID: <{unique('c')}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                 "The vase was in pieces. I am very disappointed.\r\n")
    out = run_patron("mail-in", "--db", server.db.url, input=complaint).stdout
    assert "ticket" in out
    tickets = server.get("/v1/tickets", params={"member_id": member["id"], "status": "new"}).json()["data"]
    assert len(tickets) == 1 and tickets[0]["channel"] == "email"
    ticket = tickets[0]
    assert ticket["first_response_due_at"] is not None  # the SLA clock runs

    # 2. The agent apologises; the customer gets the reply by email, threaded by the ticket's token.
    r = server.post(f"/v1/tickets/{ticket['id']}/comments", key="agent",
                    json={"body": "We are so sorry, Zoé. A new vase is on its way.", "visibility": "public"})
    assert r.status_code == 201, r.text
    replies = mail_to(smtp, address, 1)
    assert len(replies) == 1
    assert f"[#T-{ticket['token']}]" in replies[0]["Subject"]
    assert "A new vase is on its way." in replies[0].get_body(("plain",)).get_content()

    # 3. Weeks later it is still not resolved: the SLA job escalates it to the supervisor.
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    job(server, "tickets_sla", later)
    t = server.get(f"/v1/tickets/{ticket['id']}").json()
    assert t["status"] == "escalated" and t["assignee"] == supervisor
    assert t["breached_resolution"] in (True, 1)

    # 4. The agent proposes compensation; it takes effect only through an approval.
    r = server.post(f"/v1/tickets/{ticket['id']}/compensations", key="agent",
                    json={"kind": "points", "points": 500, "reason": "Sorry for the broken vase"})
    assert r.status_code == 201, r.text
    approval_id = r.json()["approval_id"]
    assert server.get(f"/v1/members/{member['id']}/points").json()["available"] == 0
    # 5. The agent cannot approve it (agents decide no approval) ...
    assert server.post(f"/v1/approvals/{approval_id}/approve", key="agent", json={},
                       headers={"Idempotency-Key": unique("k")}).status_code == 403
    # ... 6. a manager does, once.
    r = server.post(f"/v1/approvals/{approval_id}/approve", key="manager", json={},
                    headers={"Idempotency-Key": unique("k")})
    assert r.status_code == 200, r.text
    assert_error(server.post(f"/v1/approvals/{approval_id}/approve", key="manager", json={},
                             headers={"Idempotency-Key": unique("k")}), 409, "not_pending")
    # 7. The points are on her balance, the ticket their reference.
    assert server.get(f"/v1/members/{member['id']}/points").json()["available"] == 500
    history = server.get(f"/v1/members/{member['id']}/points/history").json()["data"]
    assert any(h["points"] == 500 and "ticket" in str(h) for h in history), history

    # 8. Resolved.
    r = server.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}, key="agent")
    assert r.status_code == 200, r.text

    # 9. A CSAT survey goes out by email with a signed link; she answers.
    job(server, "surveys_send")
    surveys = [m for m in mail_to(smtp, address, 2) if "/s/" in m.get_body(("plain",)).get_content()]
    assert len(surveys) == 1
    link = re.search(r"http://shop\.example(/s/[A-Za-z0-9_.\-]+)", surveys[0].get_body(("plain",)).get_content())
    r = requests.post(server.base + link.group(1), json={"score": 5, "comment": "Thank you, lovely service"},
                      timeout=30)
    assert r.status_code == 200, r.text

    # 10. All of it on her timeline, newest first.
    timeline = server.get(f"/v1/members/{member['id']}/timeline", params={"limit": 100}).json()["data"]
    kinds = [e["kind"] for e in timeline]
    for kind in ("ticket_created", "message_sent", "ticket_escalated", "compensation_approved", "ticket_resolved",
                 "survey_answered"):
        assert kind in kinds, kinds
    assert kinds.index("survey_answered") < kinds.index("ticket_resolved") < kinds.index("ticket_created")
    assert all(e["summary"] for e in timeline)
    stamps = [e["occurred_at"] for e in timeline]
    assert stamps == sorted(stamps, reverse=True) or [e["id"] for e in timeline] == sorted(
        [e["id"] for e in timeline], reverse=True)


def test_a_manager_approves_compensation_only_after_reading_the_policy(desk):
    server = desk
    password = "correct horse battery"
    r = server.post("/v1/staff", json={"email": unique("mgr-") + "@shop.example", "name": "Maud Manager",
                                       "role": "manager", "password": password})
    assert r.status_code == 201, r.text
    s = requests.Session()
    r = s.post(server.base + "/v1/auth/login", json={"email": r.json()["email"], "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    r = server.post("/v1/kb/articles", json={"title": "Compensation policy", "status": "published",
                                              "body": "Points first; coupons when the product failed.",
                                              "training_roles": ["manager"]})
    assert r.status_code == 201, r.text
    article = r.json()
    r = server.request("PUT", "/v1/kb/training-requirements",
                       json={"requirements": [{"role": "manager", "action": "approve_compensation"}]})
    assert r.status_code == 200, r.text
    member = server.post("/v1/members", json={"email": unique("m") + "@example.com"}).json()
    ticket = server.post("/v1/tickets", key="agent", json={
        "member_id": member["id"], "subject": "Late delivery", "body": "Two weeks late.",
        "category": "complaint"}).json()
    r = server.post(f"/v1/tickets/{ticket['id']}/compensations", key="agent",
                    json={"kind": "points", "points": 200, "reason": "Late delivery"})
    assert r.status_code == 201, r.text
    approval_id = r.json()["approval_id"]
    approve = server.base + f"/v1/approvals/{approval_id}/approve"
    r = s.post(approve, json={}, headers={"Idempotency-Key": unique("k")}, timeout=30)
    assert r.status_code == 403 and r.json()["error"]["code"] == "training_incomplete", r.text
    assert server.get(f"/v1/members/{member['id']}/points").json()["available"] == 0
    assert s.post(server.base + f"/v1/kb/articles/{article['id']}/acknowledge", timeout=30).status_code == 200
    r = s.post(approve, json={}, headers={"Idempotency-Key": unique("k")}, timeout=30)
    assert r.status_code == 200, r.text
    assert server.get(f"/v1/members/{member['id']}/points").json()["available"] == 200


def test_waiting_on_the_customer_stops_the_clock(desk):
    server = desk
    member = server.post("/v1/members", json={"email": unique("m") + "@example.com"}).json()
    ticket = server.post("/v1/tickets", key="agent", json={
        "member_id": member["id"], "subject": "Which size?", "body": "Which size fits?", "category": "question"}).json()
    due = ticket["resolution_due_at"]
    r = server.patch(f"/v1/tickets/{ticket['id']}", key="agent", json={"status": "waiting"})
    assert r.status_code == 200, r.text
    assert server.db.scalar(f"SELECT sla_paused_at FROM tickets WHERE id = {ticket['id']}") is not None
    # A waiting ticket never breaches, however late.
    job(server, "tickets_sla", datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=60))
    t = server.get(f"/v1/tickets/{ticket['id']}").json()
    assert t["status"] == "waiting" and t["breached_resolution"] in (False, 0)
    r = server.patch(f"/v1/tickets/{ticket['id']}", key="agent", json={"status": "open"})
    assert r.status_code == 200, r.text
    assert server.db.scalar(f"SELECT sla_paused_at FROM tickets WHERE id = {ticket['id']}") is None
    assert server.get(f"/v1/tickets/{ticket['id']}").json()["resolution_due_at"] >= due
