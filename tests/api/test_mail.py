"""Email: `patron mail-test` through a real SMTP server (aiosmtpd), one-click unsubscribe
(/u/{token}) and bounces piped into `patron mail-in`. The HTTP and database parts run on
both engines.

Until the outbox (src/app/outbox.c) writes `messages` rows itself, the tests that need one
insert it directly: test setup only, the row the outbox would have written for an email it
sent (see insert_message)."""

import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import socket
import sqlite3
import subprocess

import pytest

from conftest import CLI_TIMEOUT_S, PATRON_BIN, run_patron, unique
from smtp_server import SmtpServer

SENDER = "news@shop.example"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def mail_env(smtp_url, **extra):
    env = dict(os.environ, PATRON_SMTP_URL=smtp_url, PATRON_MAIL_FROM=SENDER,
               PATRON_MAIL_FROM_NAME="Café Zoé")
    for name in ("PATRON_SMTP_USER", "PATRON_SMTP_PASSWORD", "PATRON_SMTP_TLS"):
        env.pop(name, None)
    env.update(extra)
    return env


def patron_env(env, *args, input=None):
    """Runs patron with env (run_patron's environment is the test's own)."""
    return subprocess.run([PATRON_BIN, *args], input=input, capture_output=True, env=env,
                          timeout=CLI_TIMEOUT_S)


# ---- mail-test: composing and sending --------------------------------------------

TEXT = (".\n"                     # a line that is only a dot: SMTP must stuff it, once
        "..two dots\n"
        "1 + 1 = 2, and =41 is not an A\n"
        + "A long line of words. " * 8 + "\n"
        "Zoé: accents and € in the body\n")
HTML = "<p style=\"color: red\">Hello Zoé, 100% = everything</p>"
SUBJECT = "Zoé, vos points expirent bientôt — à très vite !"


def test_mail_test_delivers_a_message_email_reads_back(smtp):
    url = "http://localhost:8080/u/u1.2.abc"
    proc = patron_env(mail_env(smtp.url), "mail-test", "--to", "jane@example.com", "--subject", SUBJECT,
                      "--text", TEXT, "--html", HTML, "--unsubscribe-url", url)
    assert proc.returncode == 0, proc.stderr
    assert b"sent <patron-test." in proc.stdout and b"to jane@example.com" in proc.stdout
    (env,) = smtp.wait_for(1)
    assert env.mail_from == SENDER and env.rcpt_tos == ["jane@example.com"]
    raw = env.data
    # Every line ends CRLF; header lines fit in 78 columns, body lines in 76.
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].display_name == "Café Zoé"
    assert msg["From"].addresses[0].addr_spec == SENDER
    assert msg["To"] == "jane@example.com"
    assert re.fullmatch(r"<patron-test\.\d+\.0@shop\.example>", msg["Message-ID"])
    assert msg["MIME-Version"] == "1.0"
    assert msg["Date"].datetime is not None
    assert msg["List-Unsubscribe"] == f"<{url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert parts[0].get_content().replace("\r\n", "\n") == TEXT  # dot-stuffed once, unstuffed once
    assert parts[1].get_content().replace("\r\n", "\n") == HTML


def test_a_text_only_message_without_unsubscribe(smtp):
    proc = patron_env(mail_env(smtp.url, PATRON_MAIL_FROM_NAME=""), "mail-test", "--to", "bob@example.com")
    assert proc.returncode == 0, proc.stderr
    (env,) = smtp.wait_for(1)
    msg = email.message_from_bytes(env.data, policy=email.policy.default)
    assert msg.get_content_type() == "text/plain" and msg["From"] == SENDER
    assert msg["Subject"] == "patron test message"
    assert "List-Unsubscribe" not in msg and "List-Unsubscribe-Post" not in msg
    assert "SMTP settings work" in msg.get_content()


def test_consecutive_messages_share_one_connection(smtp):
    proc = patron_env(mail_env(smtp.url), "mail-test", "--to", "jane@example.com", "--count", "5")
    assert proc.returncode == 0, proc.stderr
    envelopes = smtp.wait_for(5)
    assert len(envelopes) == 5
    assert {e.connection for e in envelopes} == {envelopes[0].connection}
    ids = {email.message_from_bytes(e.data, policy=email.policy.default)["Message-ID"] for e in envelopes}
    assert len(ids) == 5


@pytest.mark.parametrize("reply, kind", [
    ("550 5.1.1 <gone@example.com>: no such user", "refused for good"),
    ("451 4.3.0 try again later", "failed for now"),
])
def test_refusals_fail_with_the_server_reason(smtp, reply, kind):
    smtp.refuse("gone@example.com", reply)
    proc = patron_env(mail_env(smtp.url), "mail-test", "--to", "gone@example.com")
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert kind in err and reply in err, err
    assert smtp.messages() == []


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = patron_env(mail_env(f"smtp://127.0.0.1:{port}"), "mail-test", "--to", "jane@example.com")
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "failed for now" in err and "connect" in err.lower(), err


@pytest.mark.parametrize("changes, needle", [
    ({"PATRON_SMTP_URL": "http://mail.example"}, "PATRON_SMTP_URL 'http://mail.example' must be smtp://"),
    ({"PATRON_MAIL_FROM": ""}, "PATRON_MAIL_FROM is required"),
    ({"PATRON_MAIL_FROM": "not an address"}, "PATRON_MAIL_FROM 'not an address' is not an email address"),
    ({"PATRON_SMTP_TLS": "maybe"}, "PATRON_SMTP_TLS 'maybe' must be none, starttls or required"),
    ({"PATRON_SMTP_URL": "smtps://mail.example:465", "PATRON_SMTP_TLS": "none"}, "contradicts smtps://"),
    ({"PATRON_SMTP_PASSWORD": "secret"}, "PATRON_SMTP_PASSWORD is set but PATRON_SMTP_USER is not"),
    ({"PATRON_PUBLIC_URL": "shop.example"}, "PATRON_PUBLIC_URL 'shop.example' must be an http:// or https://"),
])
def test_bad_settings_are_named(changes, needle):
    proc = patron_env(mail_env("smtp://127.0.0.1:25", **changes), "mail-test", "--to", "jane@example.com")
    assert proc.returncode != 0
    assert needle in proc.stderr.decode(), proc.stderr


def test_mail_not_configured():
    env = mail_env("")
    proc = patron_env(env, "mail-test", "--to", "jane@example.com")
    assert proc.returncode != 0 and b"email is not configured" in proc.stderr


# ---- unsubscribe ---------------------------------------------------------------------

def execute(db, sql):
    """Runs one change and commits it (conftest's db.rows reads only); returns its rows."""
    if db.engine == "sqlite":
        conn = sqlite3.connect(db.path, timeout=30)
        try:
            rows = [tuple(r) for r in conn.execute(sql).fetchall()]
            conn.commit()
            return rows
        finally:
            conn.close()
    return db.rows(sql)


def insert_message(server, member_id, address, campaign_id=777, status="sent"):
    """TEST SETUP ONLY: the `messages` row the outbox writes for an email it sent (until
    main's outbox does it for real). Returns its id."""
    (row,) = execute(server.db,
                     "INSERT INTO messages (dedupe_key, member_id, campaign_id, channel, variables, status,"
                     f" next_attempt_at, address, subject, created_at, sent_at) VALUES ('{unique('test:')}',"
                     f" {member_id}, {campaign_id}, 'email', '{{}}', '{status}', 0, '{address}', 'Hi', 0, 0)"
                     " RETURNING id")
    return int(row[0])


def token(server, member_id, message_id, purpose="u"):
    """The signed link token exactly as src/app/link_token.c makes it."""
    key = server.db.scalar("SELECT value FROM settings WHERE key = 'link_signing_key'")
    body = f"{purpose}{member_id}.{message_id}"
    mac = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()[:16]
    return body + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def subscribed_member(server):
    local = unique("jane")
    m = server.create_member(email=f"{local}@example.com", consent={"email": True})
    assert m["consent"]["email"] is True
    return m, local


def unsubscribe_counts(server, member_id):
    db = server.db
    return (db.count("unsubscribes", f"member_id = {member_id}"),
            db.count("member_events", f"member_id = {member_id} AND kind = 'unsubscribed'"),
            db.count("audit_log", f"entity_id = {member_id} AND action = 'member.unsubscribe'"))


def test_unsubscribe_page_and_one_click(server):
    m, local = subscribed_member(server)
    message_id = insert_message(server, m["id"], f"{local}@example.com")
    path = f"/u/{token(server, m['id'], message_id)}"

    page = server.get(path, key=None)
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"{local[0]}***@example.com" in page.text and local not in page.text  # masked
    assert '<form method="post">' in page.text and 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert server.get(f"/v1/members/{m['id']}").json()["consent"]["email"] is True  # a GET changes nothing
    assert unsubscribe_counts(server, m["id"]) == (0, 0, 0)

    # RFC 8058: the mail client posts the form body, without credentials.
    r = server.post(path, key=None, data="List-Unsubscribe=One-Click",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f"{local[0]}***@example.com" in r.text and "no more emails" in r.text
    assert server.get(f"/v1/members/{m['id']}").json()["consent"]["email"] is False
    assert unsubscribe_counts(server, m["id"]) == (1, 1, 1)
    row = server.db.rows(f"SELECT message_id, campaign_id, channel FROM unsubscribes WHERE member_id = {m['id']}")
    assert row == [(str(message_id), "777", "email")]
    (payload,) = server.db.rows(f"SELECT payload FROM member_events WHERE member_id = {m['id']}"
                                " AND kind = 'unsubscribed'")[0]
    assert json.loads(payload) == {"channel": "email", "message_id": message_id, "campaign_id": 777}

    # Again (a second click, a retried POST): the same page, nothing more recorded.
    again = server.post(path, key=None, data="List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200 and "no more emails" in again.text
    assert unsubscribe_counts(server, m["id"]) == (1, 1, 1)
    page = server.get(path, key=None)
    assert page.status_code == 200 and "gets no emails from us" in page.text


def test_the_page_button_and_a_link_without_message(server):
    m, local = subscribed_member(server)
    path = f"/u/{token(server, m['id'], 0)}"
    r = server.post(path, key=None, data={"List-Unsubscribe": "One-Click"})  # the page's form
    assert r.status_code == 200, r.text
    assert server.get(f"/v1/members/{m['id']}").json()["consent"]["email"] is False
    assert server.db.rows(f"SELECT message_id, campaign_id FROM unsubscribes WHERE member_id = {m['id']}") == [
        (None, None)]


def test_bad_links_are_404_and_change_nothing(server):
    m, local = subscribed_member(server)
    message_id = insert_message(server, m["id"], f"{local}@example.com")
    good = token(server, m["id"], message_id)
    last = good[-1]
    tampered = [
        good[:-1] + ("A" if last != "A" else "B"),            # signature changed
        token(server, m["id"] + 1000000, message_id),           # a member that does not exist
        f"u{m['id']}.{message_id + 1}." + good.rsplit(".", 1)[1],  # another message, same signature
        "f" + good[1:],                                         # another purpose
        token(server, m["id"], message_id, purpose="f"),        # a feed token, correctly signed
        "nonsense",
    ]
    before = server.db.counts(["unsubscribes", "member_events", "audit_log"])
    for t in tampered:
        for method in ("GET", "POST"):
            form = {"data": "List-Unsubscribe=One-Click",
                    "headers": {"Content-Type": "application/x-www-form-urlencoded"}} if method == "POST" else {}
            r = server.request(method, f"/u/{t}", key=None, **form)
            assert r.status_code == 404, (t, method, r.text)
            assert r.headers["Content-Type"].startswith("text/html") and "not valid" in r.text
    r = server.get(f"/u/{tampered[0]}", key=None, headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert server.db.counts(["unsubscribes", "member_events", "audit_log"]) == before
    assert server.get(f"/v1/members/{m['id']}").json()["consent"]["email"] is True


def test_an_erased_member_is_404(server):
    m, local = subscribed_member(server)
    path = f"/u/{token(server, m['id'], 0)}"
    e = server.post(f"/v1/members/{m['id']}/erase", headers={"Idempotency-Key": unique("ek-")})
    assert e.status_code == 200, e.text
    assert server.get(path, key=None).status_code == 404
    assert server.post(path, key=None, data="List-Unsubscribe=One-Click").status_code == 404
    assert server.db.count("unsubscribes", f"member_id = {m['id']}") == 0


# ---- mail-in: bounces ------------------------------------------------------------------

def dsn(message_id, recipient, action="failed", status="5.1.1", diagnostic="550 5.1.1 User unknown"):
    """A bounce as Postfix writes it (CRLF line ends)."""
    return (
        "From: MAILER-DAEMON@mail.shop.example (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "To: bounces@shop.example\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        "\tboundary=\"B0UND.1795514405/mail.shop.example\"\n"
        "\n"
        "--B0UND.1795514405/mail.shop.example\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "Your message could not be delivered.\n"
        "\n"
        "--B0UND.1795514405/mail.shop.example\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mail.shop.example\n"
        "\n"
        f"Final-Recipient: rfc822; {recipient}\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n"
        "\n"
        "--B0UND.1795514405/mail.shop.example\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        f"From: {SENDER}\n"
        f"To: {recipient}\n"
        "Subject: Hi\n"
        f"Message-ID: <patron.{message_id}@shop.example>\n"
        "\n"
        "--B0UND.1795514405/mail.shop.example--\n").replace("\n", "\r\n")


def mail_in(server, text):
    return run_patron("mail-in", "--db", server.db.url, input=text, check=False)


def bounce_state(server, member_id, message_id, address):
    db = server.db
    return (db.count("email_suppressions", f"email = '{address}'"),
            db.scalar(f"SELECT status FROM messages WHERE id = {message_id}"),
            db.count("member_events", f"kind = 'email_bounced' AND member_id = {member_id}"))


def test_a_hard_bounce_suppresses_the_address(server):
    m, local = subscribed_member(server)
    address = f"{local}@example.com"
    message_id = insert_message(server, m["id"], address)
    text = dsn(message_id, address.replace("example", "EXAMPLE"))
    proc = mail_in(server, text)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"suppressed {address}: 5.1.1 hard bounce of message {message_id}\n"
    assert bounce_state(server, m['id'], message_id, address) == (1, "bounced", 1)
    (row,) = server.db.rows(f"SELECT reason, message_id, detail FROM email_suppressions WHERE email = '{address}'")
    assert row == ("hard_bounce", str(message_id), "5.1.1 550 5.1.1 User unknown")
    (payload,) = server.db.rows(f"SELECT payload FROM member_events WHERE member_id = {m['id']}"
                                " AND kind = 'email_bounced'")[0]
    assert json.loads(payload) == {"message_id": message_id, "status": "5.1.1"}
    # The same bounce again (an MTA retrying the pipe): nothing more.
    again = mail_in(server, text)
    assert again.returncode == 0 and again.stdout.startswith("already recorded"), again.stdout
    assert bounce_state(server, m['id'], message_id, address) == (1, "bounced", 1)


def test_soft_bounces_and_strangers_are_not_recorded(server):
    m, local = subscribed_member(server)
    address = f"{local}@example.com"
    message_id = insert_message(server, m["id"], address)
    before = server.db.counts(["email_suppressions", "member_events", "audit_log"])
    proc = mail_in(server, dsn(message_id, address, action="delayed", status="4.2.2",
                               diagnostic="452 4.2.2 Mailbox full"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"soft bounce (4.2.2) of message {message_id}: not suppressed\n"
    proc = mail_in(server, dsn(987654321, address))
    assert proc.returncode == 0 and proc.stdout == "ignored: message 987654321 is not an email of ours\n"
    proc = mail_in(server, dsn(message_id, address).replace("patron.", "someone-else."))
    assert proc.returncode == 0 and proc.stdout.startswith("ignored: the bounce names no message of ours")
    assert server.db.counts(["email_suppressions", "member_events", "audit_log"]) == before
    assert server.db.scalar(f"SELECT status FROM messages WHERE id = {message_id}") == "sent"
    # A reply that is no bounce goes to the service desk (a new ticket: the message was no ticket's),
    # and still suppresses nothing.
    proc = mail_in(server, "From: jane@example.com\nSubject: Re: Hi\n"
                           f"In-Reply-To: <patron.{message_id}@shop.example>\n\nThanks!\n")
    assert proc.returncode == 0 and proc.stdout.startswith("opened ticket"), proc.stdout
    assert server.db.counts(["email_suppressions"])["email_suppressions"] == before["email_suppressions"]
    assert server.db.scalar(f"SELECT status FROM messages WHERE id = {message_id}") == "sent"


def test_oversized_input_is_refused(server):
    m, local = subscribed_member(server)
    address = f"{local}@example.com"
    message_id = insert_message(server, m["id"], address)
    text = dsn(message_id, address) + "x" * (10 * 1024 * 1024)
    proc = mail_in(server, text)
    assert proc.returncode != 0
    assert "larger than 10485760 bytes" in proc.stderr and proc.stdout == ""
    assert bounce_state(server, m['id'], message_id, address) == (0, "sent", 0)
