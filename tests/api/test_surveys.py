"""Surveys end to end, on both engines: resolved tickets (inserted as rows: test setup until
the tickets API lands) and week-old purchases -> `jobs run surveys_send` -> written emails
queued and delivered to a real SMTP server (members without marketing consent included:
this is service mail) carrying the signed /s/ link -> the form -> answers (form and JSON)
-> the satisfaction report's NPS, CSAT and response rate from known answers -> follow-up
tasks for detractors. A tampered link is a 404, a second answer a 409, and running the job
again sends nothing twice.
"""

import datetime
import email
import email.policy
import os
import re
import sqlite3
import time

import pytest
import requests

from conftest import Database, Server, assert_error, require_engine, run_patron, unique
from smtp_server import SmtpServer

PUBLIC = "http://shop.example"
LINK = re.compile(r"http://shop\.example/s/([A-Za-z0-9_.\-]+)")


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def served(engine, smtp, monkeypatch):
    require_engine(engine)
    # The job runs in the CLI: it reads the public URL of its links from the environment too.
    monkeypatch.setenv("PATRON_PUBLIC_URL", PUBLIC)
    db = Database(engine)
    db.migrate()
    env = dict(os.environ, PATRON_SMTP_URL=smtp.url, PATRON_MAIL_FROM="care@shop.example", PATRON_SMTP_TLS="none",
               PATRON_PUBLIC_URL=PUBLIC)
    for name in ("PATRON_SMTP_USER", "PATRON_SMTP_PASSWORD"):
        env.pop(name, None)
    server = Server(db, env=env).start()
    yield server
    try:
        server.stop_ok()
    finally:
        db.drop()


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def execute(server, sql):
    if server.db.engine == "sqlite":
        conn = sqlite3.connect(server.db.path, timeout=30)
        conn.execute(sql)
        conn.commit()
        conn.close()
    else:
        server.db.rows(sql)


def resolved_ticket(server, member_id, category, hours_ago=1):
    """Test setup: a resolved ticket row (the tickets API is another branch's)."""
    token = unique("tk")
    now = int(time.time() * 1_000_000)
    resolved = now - hours_ago * 3600 * 1_000_000
    execute(server, "INSERT INTO tickets (member_id, subject, category, priority, channel, status, token, created_by,"
                    f" created_at, updated_at, resolved_at) VALUES ({member_id}, 'Order never arrived', '{category}',"
                    f" 'normal', 'email', 'resolved', '{token}', 'test', {now}, {now}, {resolved})")
    return server.db.scalar(f"SELECT id FROM tickets WHERE token = '{token}'")


def member(server, consent):
    return server.create_member(email=unique("m") + "@example.com", consent={"email": consent})


def purchase(server, member_id, days_ago):
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)
    r = server.post("/v1/purchases", key="integration", json={
        "member_id": member_id, "order_id": unique("order-"), "occurred_at": iso(at), "amount_cents": 5000})
    assert r.status_code == 201, r.text


def job(server):
    return run_patron("jobs", "run", "surveys_send", "--db", server.db.url).stdout


def wait_for_mail(smtp, count, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while len(smtp.messages()) < count:
        assert time.monotonic() < deadline, f"only {len(smtp.messages())} of {count} emails arrived"
        time.sleep(0.2)


def links_by_recipient(smtp):
    out = {}
    for envelope in smtp.messages():
        msg = email.message_from_bytes(envelope.data, policy=email.policy.default)
        body = msg.get_body(("plain",)).get_content()
        match = LINK.search(body)
        assert match, body
        for rcpt in envelope.rcpt_tos:
            out[rcpt] = (msg["Subject"], match.group(1))
    return out


def answer(server, token, **kw):
    return requests.post(server.base + f"/s/{token}", timeout=30, **kw)


def test_surveys_end_to_end(served, smtp):
    server = served
    # CSAT: four resolved tickets (two members without marketing consent); NPS: four week-old purchases.
    csat_members = [member(server, consent=i % 2 == 0) for i in range(4)]
    categories = ["complaint", "complaint", "question", "question"]
    tickets = [resolved_ticket(server, m["id"], c) for m, c in zip(csat_members, categories)]
    nps_members = [member(server, consent=False) for _ in range(4)]
    for m in nps_members:
        purchase(server, m["id"], days_ago=8)
    fresh = member(server, consent=True)
    purchase(server, fresh["id"], days_ago=1)  # too recent to ask
    open_ticket_member = member(server, consent=True)
    execute(server, "INSERT INTO tickets (member_id, subject, category, priority, channel, status, token, created_by,"
                    f" created_at, updated_at) VALUES ({open_ticket_member['id']}, 'Still open', 'question', 'normal',"
                    " 'email', 'open', 'open-one', 'test', 1, 1)")

    out = job(server)
    assert "8" in out, out
    assert server.db.count("surveys") == 8
    assert server.db.count("messages", "dedupe_key LIKE 'survey%' AND template_id IS NULL"
                                       " AND campaign_id IS NULL") == 8
    assert server.db.count("messages", "dedupe_key LIKE 'survey%' AND ticket_id IS NOT NULL") == 4
    wait_for_mail(smtp, 8)
    links = links_by_recipient(smtp)
    assert set(links) == {m["email"] for m in csat_members + nps_members}
    # Running again (and again) sends nothing twice.
    job(server)
    job(server)
    assert server.db.count("surveys") == 8 and server.db.count("messages", "dedupe_key LIKE 'survey%'") == 8
    time.sleep(1)
    assert len(smtp.messages()) == 8

    csat_tokens = [links[m["email"]][1] for m in csat_members]
    nps_tokens = [links[m["email"]][1] for m in nps_members]
    assert links[csat_members[0]["email"]][0] == "How did we do with your request?"
    # The form: CSAT scores 1-5, NPS 0-10, a comment box and the follow-up questions.
    page = requests.get(server.base + f"/s/{csat_tokens[0]}", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'value="5"' in page.text and 'value="6"' not in page.text and 'name="comment"' in page.text
    assert 'name="resolved"' in page.text
    page = requests.get(server.base + f"/s/{nps_tokens[0]}", timeout=30)
    assert 'value="0"' in page.text and 'value="10"' in page.text and 'name="reason"' in page.text

    # Answers: CSAT 5 (form), 4 (form), 1 (JSON, a detractor); the fourth never answers.
    r = answer(server, csat_tokens[0], data={"score": "5", "comment": "Quick and kind", "resolved": "yes"})
    assert r.status_code == 200 and "Thank you" in r.text, r.text
    assert answer(server, csat_tokens[1], data={"score": "4"}).status_code == 200
    r = answer(server, csat_tokens[2], json={"score": 1, "comment": "Nobody listened",
                                              "answers": {"resolved": "no", "effort": "hard"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"survey_id": r.json()["survey_id"], "kind": "csat", "score": 1, "detractor": True}
    # NPS 10, 9, 7, 3: promoters 50 %, detractors 25 % -> NPS 25.
    for token, score in zip(nps_tokens, [10, 9, 7, 3]):
        r = answer(server, token, json={"score": score, "answers": {"reason": "delivery"}})
        assert r.status_code == 200, r.text

    # The first answer wins.
    assert_error(answer(server, csat_tokens[0], json={"score": 1}), 409, "already_answered")
    assert answer(server, csat_tokens[0], data={"score": "1"}).status_code == 409
    assert server.db.scalar(f"SELECT score FROM surveys WHERE ticket_id = {tickets[0]}") == 5
    # Bad answers change nothing.
    assert_error(answer(server, csat_tokens[3], json={"score": 6}), 400, "invalid_field")
    assert_error(answer(server, nps_tokens[0].replace(".", ".9", 1), json={"score": 5}), 404, "not_found")
    assert_error(answer(server, csat_tokens[3], json={"score": 3, "answers": {"mood": "ok"}}), 400, "unknown_field")
    assert server.db.scalar(f"SELECT answered_at FROM surveys WHERE ticket_id = {tickets[3]}") is None
    # A tampered link: 404, as a page and as JSON.
    tampered = csat_tokens[3][:-2] + ("AA" if not csat_tokens[3].endswith("AA") else "BB")
    assert requests.get(server.base + f"/s/{tampered}", timeout=30).status_code == 404
    assert_error(requests.get(server.base + f"/s/{tampered}", headers={"Accept": "application/json"}, timeout=30),
                 404, "not_found")
    other = csat_tokens[3].split(".")
    forged = f"s{nps_members[0]['id']}.{other[1]}.{other[2]}"  # another member's survey id, this signature
    assert requests.get(server.base + f"/s/{forged}", timeout=30).status_code == 404

    # Member events and detractor tasks.
    assert server.db.count("member_events", "kind = 'survey_answered'") == 7
    detractors = {csat_members[2]["id"], nps_members[3]["id"]}
    tasks = server.db.rows("SELECT member_id, title FROM tasks")
    assert {int(m) for m, _ in tasks} == detractors and len(tasks) == 2
    r = server.get(f"/v1/tasks?member_id={csat_members[2]['id']}&status=all", key="agent")
    assert r.status_code == 200 and r.json()["data"][0]["title"].startswith("Call back")

    # The report: NPS and CSAT from the known answers, response rates, by category and month.
    report = server.get("/v1/reports/satisfaction?by=category", key="analyst").json()
    nps, csat = report["totals"]["nps"], report["totals"]["csat"]
    assert (nps["sent"], nps["answered"], nps["promoters"], nps["passives"], nps["detractors"]) == (4, 4, 2, 1, 1)
    assert nps["score"] == 25.0 and nps["response_rate"] == 100.0
    assert (csat["sent"], csat["answered"], csat["satisfied"]) == (4, 3, 2)
    assert csat["score"] == 66.7 and csat["response_rate"] == 75.0
    by = {row["key"]: row for row in report["data"]}
    assert set(by) == {"complaint", "question", "purchase"}
    assert by["complaint"]["csat"]["score"] == 100.0 and by["question"]["csat"]["score"] == 0.0
    assert by["question"]["csat"]["response_rate"] == 50.0 and by["purchase"]["nps"]["score"] == 25.0
    month = server.get("/v1/reports/satisfaction?by=month", key="analyst").json()
    assert len(month["data"]) == 1 and month["data"][0]["nps"]["score"] == 25.0
    assert re.fullmatch(r"\d{4}-\d{2}", month["data"][0]["key"])
    empty = server.get("/v1/reports/satisfaction?from=2001-01-01T00:00:00Z&to=2001-02-01T00:00:00Z").json()
    assert empty["data"] == [] and empty["totals"]["nps"]["score"] is None
    assert_error(server.get("/v1/reports/satisfaction?by=week"), 400, "invalid_query")
    assert server.get("/v1/reports/satisfaction", key="agent").status_code == 403

    # Erasure clears what the member wrote; the score stays for the counts.
    r = server.post(f"/v1/members/{csat_members[2]['id']}/erase")
    assert r.status_code == 200, r.text
    row = server.db.rows(f"SELECT score, comment, answers FROM surveys WHERE member_id = {csat_members[2]['id']}")
    assert row == [("1", None, None)]
