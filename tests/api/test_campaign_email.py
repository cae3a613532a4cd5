"""Campaign email end to end, through a real SMTP server on loopback (aiosmtpd):
a campaign to 1,000 members reaches exactly the consented ones, as proper MIME
with a working one-click unsubscribe; a SIGKILL mid-send loses no one and any
second copy carries the same Message-ID; two servers on one PostgreSQL send each
member one copy and keep the fleet's send rate; refusals, retries and bounces.
On both engines (the two-server test on PostgreSQL, where several servers run).
"""

import collections
import email
import email.policy
import os
import re
import time

import pytest
import requests

from conftest import Database, Server, require_engine, run_patron, unique
from smtp_server import SmtpServer

SENDER = "news@shop.example"
MEMBERS = 1000


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def mail_env(smtp):
    env = dict(os.environ, PATRON_SMTP_URL=smtp.url, PATRON_MAIL_FROM=SENDER, PATRON_MAIL_FROM_NAME="Maison Verte",
               PATRON_SMTP_TLS="none", PATRON_PUBLIC_URL="http://shop.example")
    for name in ("PATRON_SMTP_USER", "PATRON_SMTP_PASSWORD"):
        env.pop(name, None)
    return env


def start(db, smtp):
    return Server(db, env=mail_env(smtp)).start()


def fresh(engine):
    require_engine(engine)
    db = Database(engine)
    db.migrate()
    return db


def add_members(server, dom, count):
    """count members on domain dom, two in three consenting to email; returns {email: (id, consent)}."""
    made = {}
    for n in range(count):
        consent = n % 3 != 2
        address = f"m{n}-{unique('')}@{dom}"
        r = server.post("/v1/members", json={"email": address, "first_name": f"Zoé{n}", "consent": {"email": consent}})
        assert r.status_code == 201, r.text
        made[address] = (r.json()["id"], consent)
    return made


def email_campaign(server, dom, **fields):
    r = server.post("/v1/templates", json={
        "name": unique("tpl-"), "subject": "Bonjour {{member.first_name}}, vos points",
        "text": "You have {{points.available}} points.\nLeave: {{links.unsubscribe}}",
        "html": "<p>You have <b>{{points.available}}</b> points, {{member.first_name}}.</p>"})
    assert r.status_code == 201, r.text
    body = {"name": unique("camp-"), "channel": "email", "template": r.json()["name"],
            "segment": f'email_domain = "{dom}"'}
    body.update(fields)
    r = server.post("/v1/campaigns", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def settings(server, **changes):
    r = server.patch("/v1/program", json=changes)
    assert r.status_code == 200, r.text


def parse(envelope):
    return email.message_from_bytes(envelope.data, policy=email.policy.default)


def by_recipient(smtp):
    got = collections.defaultdict(list)
    for e in smtp.messages():
        for rcpt in e.rcpt_tos:
            got[rcpt].append(e)
    return got


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def queue(server):
    run_patron("jobs", "run", "campaigns_run", "--db", server.db.url)


def test_a_campaign_reaches_exactly_the_consented_members(engine, smtp):
    db = fresh(engine)
    server = start(db, smtp)
    try:
        settings(server, send_rate_per_second=0, smtp_connections=4)
        dom = unique("d") + ".example"
        members = add_members(server, dom, MEMBERS)
        consented = {a for a, (_, c) in members.items() if c}
        c = email_campaign(server, dom)
        queue(server)
        wait_until(lambda: len(smtp.messages()) >= len(consented), 180, "the consented members' mail")
        time.sleep(1)  # nothing more may come
        got = by_recipient(smtp)
        assert set(got) == consented
        assert all(len(copies) == 1 for copies in got.values())
        # Proper MIME, rendered for the member, with a Message-ID naming their message row.
        address = sorted(consented)[0]
        member_id = members[address][0]
        msg = parse(got[address][0])
        assert msg["From"].addresses[0].addr_spec == SENDER and msg["To"].addresses[0].addr_spec == address
        assert msg["Subject"].startswith("Bonjour Zoé") and msg["Subject"].endswith(", vos points")
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "You have 0 points." in text and "<b>0</b>" in html
        row = server.get(f"/v1/members/{member_id}/messages").json()["data"][0]
        assert row["status"] == "sent" and row["campaign_id"] == c["id"]
        assert msg["Message-ID"] == f"<patron.{row['id']}@shop.example>"
        assert msg["List-Unsubscribe"] == f"<http://shop.example/u/u{member_id}.{row['id']}." + \
            msg["List-Unsubscribe"].split(".")[-1]
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # One click on the link (served by patron) takes the member off email.
        path = msg["List-Unsubscribe"].strip("<>").replace("http://shop.example", "")
        r = requests.post(server.base + path, data="List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
        assert r.status_code == 200, r.text
        assert server.get(f"/v1/members/{member_id}").json()["consent"]["email"] is False
        report = server.get(f"/v1/campaigns/{c['id']}/report").json()
        assert (report["targeted"], report["sent"], report["skipped"]) == (MEMBERS, len(consented),
                                                                            MEMBERS - len(consented))
        assert report["unsubscribed"] == 1
        # A second campaign skips the member who left.
        smtp.clear()
        email_campaign(server, dom)
        queue(server)
        wait_until(lambda: len(smtp.messages()) >= len(consented) - 1, 180, "the second campaign")
        time.sleep(1)
        assert set(by_recipient(smtp)) == consented - {address}
        server.stop_ok()
    finally:
        if server.proc is not None:
            server.kill()
        db.drop()


def test_sigkill_mid_send_loses_no_one_and_copies_share_the_message_id(engine, smtp):
    db = fresh(engine)
    server = start(db, smtp)
    try:
        # Slow enough that the kill lands mid-send: 2 workers, 150 emails a second.
        settings(server, send_rate_per_second=150, smtp_connections=2)
        dom = unique("d") + ".example"
        members = add_members(server, dom, MEMBERS)
        consented = {a for a, (_, c) in members.items() if c}
        email_campaign(server, dom)
        queue(server)
        wait_until(lambda: len(smtp.messages()) >= 150, 120, "the first mail")
        server.kill()
        sent_before = len(smtp.messages())
        assert sent_before < len(consented), "the kill came too late to test anything"
        server.start()
        # Rows claimed by the dead server wait out their lease (15 s), then go again.
        wait_until(lambda: set(by_recipient(smtp)) >= consented, 180, "every consented member")
        time.sleep(1)
        got = by_recipient(smtp)
        assert set(got) == consented  # no one else got anything
        doubles = {a: copies for a, copies in got.items() if len(copies) > 1}
        for copies in doubles.values():
            assert len({parse(e)["Message-ID"] for e in copies}) == 1
        # No more copies than could have been in flight: two workers' claimed batches.
        assert len(doubles) <= 2 * 32, len(doubles)
        server.stop_ok()
    finally:
        if server.proc is not None:
            server.kill()
        db.drop()


def test_two_servers_on_one_postgresql_send_each_member_once_at_the_fleet_rate(smtp):
    require_engine("postgres")
    db = fresh("postgres")
    first = start(db, smtp)
    second = Server(db, create_keys=False, env=mail_env(smtp))
    second.keys = first.keys
    second.start()
    try:
        rate = 60
        settings(first, send_rate_per_second=rate, smtp_connections=4)
        dom = unique("d") + ".example"
        members = add_members(first, dom, 450)
        consented = {a for a, (_, c) in members.items() if c}
        email_campaign(first, dom)
        queue(first)
        wait_until(lambda: len(smtp.messages()) >= len(consented), 120, "the campaign")
        time.sleep(1)
        got = by_recipient(smtp)
        assert set(got) == consented
        assert all(len(copies) == 1 for copies in got.values())
        # More than one SMTP connection carried the campaign (both servers' workers sent) …
        assert len({e.connection for e in smtp.messages()}) >= 2
        # … and together they kept to the program's rate: 300 emails at 60 a second take 5 s.
        stamps = sorted(e.received_at for e in smtp.messages())
        assert stamps[-1] - stamps[0] >= (len(stamps) - 1) / rate * 0.8, (stamps[-1] - stamps[0], len(stamps))
        first.stop_ok()
        second.stop_ok()
    finally:
        for s in (first, second):
            if s.proc is not None:
                s.kill()
        db.drop()


def test_refusals_fail_or_retry_and_bounces_suppress(engine, smtp):
    db = fresh(engine)
    server = start(db, smtp)
    try:
        settings(server, send_rate_per_second=0)
        dom = unique("d") + ".example"
        ok, gone, later = (f"{n}-{unique('')}@{dom}" for n in ("ok", "gone", "later"))
        ids = {}
        for address in (ok, gone, later):
            r = server.post("/v1/members", json={"email": address, "consent": {"email": True}})
            ids[address] = r.json()["id"]
        smtp.refuse(gone, "550 5.1.1 no such user")
        smtp.refuse(later, "451 4.3.0 try again later")
        c = email_campaign(server, dom)
        queue(server)
        wait_until(lambda: len(smtp.messages()) >= 1, 60, "the one good address")

        def state(address):
            return server.get(f"/v1/members/{ids[address]}/messages").json()["data"][0]

        wait_until(lambda: state(gone)["status"] == "failed" and state(later)["attempts"] >= 1
                   and state(later)["last_error"], 60, "the refusals")
        assert "550" in state(gone)["last_error"]
        assert state(later)["status"] == "queued" and "451" in state(later)["last_error"]
        # A delivery status notification for the good one's message: a hard bounce.
        sent = state(ok)
        assert sent["status"] == "sent"
        dsn = (f"From: MAILER-DAEMON@mx.example\r\nTo: {SENDER}\r\nSubject: Undelivered\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
               "--B\r\nContent-Type: text/plain\r\n\r\nIt bounced.\r\n"
               "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
               f"Final-Recipient: rfc822; {ok}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
               "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
               f"Message-ID: <patron.{sent['id']}@shop.example>\r\n\r\n--B--\r\n")
        out = run_patron("mail-in", "--db", db.url, input=dsn).stdout
        assert "suppressed" in out
        assert state(ok)["status"] == "bounced"
        report = server.get(f"/v1/campaigns/{c['id']}/report").json()
        assert (report["bounced"], report["failed"]) == (1, 1)
        # The next campaign does not mail the suppressed address.
        smtp.clear()
        c2 = email_campaign(server, dom)
        queue(server)
        wait_until(lambda: server.get(f"/v1/members/{ids[ok]}/messages").json()["data"][0]["campaign_id"] == c2["id"]
                   and state(ok)["status"] == "skipped", 60, "the second campaign")
        assert "suppressed" in state(ok)["last_error"]
        assert all(ok not in e.rcpt_tos for e in smtp.messages())
        server.stop_ok()
    finally:
        if server.proc is not None:
            server.kill()
        db.drop()


def test_email_waits_without_an_smtp_server(engine):
    db = fresh(engine)
    server = Server(db, env={k: v for k, v in os.environ.items() if not k.startswith("PATRON_SMTP")}).start()
    try:
        dom = unique("d") + ".example"
        r = server.post("/v1/members", json={"email": f"a@{dom}", "consent": {"email": True}})
        member_id = r.json()["id"]
        email_campaign(server, dom)
        queue(server)
        run_patron("jobs", "run", "outbox_deliver", "--db", db.url)
        row = server.get(f"/v1/members/{member_id}/messages").json()["data"][0]
        assert row["status"] == "queued" and row["attempts"] == 0
        assert re.search("SMTP", row["last_error"])
        server.stop_ok()
    finally:
        if server.proc is not None:
            server.kill()
        db.drop()
