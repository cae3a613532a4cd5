"""The service desk over HTTP and `patron mail-in`, on both engines, with a real SMTP server:
tickets for members and unknown contacts, bad input that changes nothing, the role matrix of every
ticket route, consistent assignment, transitions and their history, the queue's filters and cursor,
a public reply reaching the SMTP server with "[#T-token]" (an internal note never does), the
customer's emailed answer threading back and reopening the ticket, new mail opening tickets, chat
long-polls, suggestion votes, the member timeline, and erasure leaving chats and timelines bare."""

import email
import email.policy
import os
import sqlite3
import threading
import time

import pytest
import requests

from conftest import ENGINES, ROLES, Database, Server, assert_error, require_engine, run_patron, unique
from smtp_server import SmtpServer

SENDER = "help@shop.example"
PASSWORD = "correct horse battery"
TICKET_KEYS = {"id", "member_id", "contact_email", "contact_name", "subject", "category", "priority", "channel",
               "status", "assignee", "token", "votes", "first_response_due_at", "resolution_due_at",
               "first_responded_at", "breached_first_response", "breached_resolution", "escalated_at",
               "answered_by_article_id", "created_by", "created_at", "updated_at", "resolved_at", "closed_at"}


@pytest.fixture(scope="module", params=ENGINES)
def desk(request):
    """A server whose outbox mails a real SMTP server (desk.smtp)."""
    require_engine(request.param)
    smtp = SmtpServer().start()
    env = dict(os.environ, PATRON_SMTP_URL=smtp.url, PATRON_MAIL_FROM=SENDER, PATRON_MAIL_FROM_NAME="Maison Verte",
               PATRON_SMTP_TLS="none", PATRON_PUBLIC_URL="http://shop.example")
    for name in ("PATRON_SMTP_USER", "PATRON_SMTP_PASSWORD"):
        env.pop(name, None)
    db = Database(request.param)
    db.migrate()
    server = Server(db, env=env).start()
    server.smtp = smtp
    r = server.patch("/v1/program", json={"send_rate_per_second": 0})
    assert r.status_code == 200, r.text
    yield server
    try:
        if server.proc is not None:
            server.stop_ok()
    finally:
        smtp.stop()
        db.drop()


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


def new_staff(server, role="agent"):
    address = unique("staff-") + "@example.com"
    r = server.post("/v1/staff", json={"email": address, "name": "Sam", "role": role, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return address


def session(server, address):
    s = requests.Session()
    r = s.post(server.base + "/v1/auth/login", json={"email": address, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s


def member(server):
    return server.create_member(email=unique("m-") + "@example.com", first_name="Zoé", last_name="Martin")


def ticket(server, key="admin", **fields):
    body = {"subject": "The lid is cracked", "body": "It arrived broken.", "category": "complaint"}
    body.update(fields)
    r = server.post("/v1/tickets", json=body, key=key)
    assert r.status_code == 201, r.text
    t = r.json()
    assert TICKET_KEYS <= set(t) and {"comments", "history"} <= set(t), t
    return t


def ids(server, **params):
    r = server.get("/v1/tickets", params=dict({"limit": 200}, **params))
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["data"]]


def mail_in(server, text):
    return run_patron("mail-in", "--db", server.db.url, input=text).stdout


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def mails_to(server, address):
    return [email.message_from_bytes(e.data, policy=email.policy.default)
            for e in server.smtp.messages() if address in e.rcpt_tos]


# ---- create ---------------------------------------------------------------------------------

def test_create_for_a_member_and_for_a_contact(desk):
    m = member(desk)
    t = ticket(desk, member_id=m["id"], priority="high", channel="phone")
    assert (t["member_id"], t["status"], t["priority"], t["channel"], t["category"], t["assignee"]) == (
        m["id"], "new", "high", "phone", "complaint", None)
    assert len(t["token"]) == 10 and t["token"].isupper()
    # The SLA clock starts with the ticket (the policy of its priority, in business hours).
    assert t["first_response_due_at"] is not None and t["resolution_due_at"] is not None
    assert t["first_response_due_at"] < t["resolution_due_at"] and t["created_by"] == "test-admin"
    assert [(c["author_kind"], c["author_label"], c["visibility"], c["body"]) for c in t["comments"]] == [
        ("member", f"member {m['id']}", "public", "It arrived broken.")]
    assert [(h["change"], h["to"]) for h in t["history"]] == [("created", "new")]
    c = ticket(desk, key="integration", contact_email="Walk.In@Example.COM", contact_name="Walk In",
               category="question")
    assert (c["member_id"], c["contact_email"], c["contact_name"], c["priority"], c["channel"]) == (
        None, "Walk.In@example.com", "Walk In", "normal", "api")
    assert c["comments"][0]["author_kind"] == "contact"
    assert c["token"] != t["token"]
    assert desk.get(f"/v1/tickets/{t['id']}", key="agent").json() == t
    kinds = [r[0] for r in desk.db.rows(f"SELECT kind FROM member_events WHERE member_id = {m['id']} ORDER BY id")]
    assert kinds == ["ticket_created"]
    assert desk.db.count("audit_log", f"entity = 'ticket' AND entity_id = {t['id']} AND action = 'ticket.create'") == 1
    assert_error(desk.get("/v1/tickets/99999999"), 404, "not_found")


@pytest.mark.parametrize("fields, code, needle", [
    ({"subject": ""}, "invalid_field", "subject"),
    ({"subject": "x" * 201}, "invalid_field", "subject"),
    ({"subject": "two\nlines"}, "invalid_field", "subject"),
    ({"body": 5}, "invalid_field", "body"),
    ({"body": None}, "invalid_field", "body"),
    ({"category": "rant"}, "invalid_field", "category"),
    ({"priority": "asap"}, "invalid_field", "priority"),
    ({"channel": "pigeon"}, "invalid_field", "channel"),
    ({"contact_email": None, "member_id": 99999999}, "unknown_member", "99999999"),
    ({"contact_email": "not an address"}, "invalid_field", "contact_email"),
    ({"member_id": 1}, "invalid_field", "member_id"),
    ({"contact_email": None}, "invalid_field", "member_id"),
    ({"colour": "red"}, "unknown_field", "colour"),
])
def test_bad_creates_change_nothing(desk, fields, code, needle):
    tables = ["tickets", "ticket_comments", "ticket_history", "audit_log", "member_events"]
    before = desk.db.counts(tables)
    body = {"subject": "Help", "body": "Please", "category": "question", "contact_email": "a@example.com"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None or k == "body"}
    r = desk.post("/v1/tickets", json=body)
    assert_error(r, 400, code)
    assert needle in r.json()["error"]["message"], r.text
    assert desk.db.counts(tables) == before


# ---- roles ------------------------------------------------------------------------------------

def test_roles_matrix_of_every_ticket_route(desk):
    m = member(desk)
    chat = ticket(desk, member_id=m["id"], channel="chat", category="suggestion")
    workers = {"admin", "manager", "supervisor", "agent"}
    creators = workers | {"integration"}
    tid = chat["id"]
    calls = [
        ("GET", "/v1/tickets", None, workers),
        ("POST", "/v1/tickets", {"contact_email": "r@example.com", "subject": "s", "body": "b", "category": "other"},
         creators),
        ("GET", f"/v1/tickets/{tid}", None, workers),
        ("PATCH", f"/v1/tickets/{tid}", {"priority": "low"}, workers),
        ("POST", f"/v1/tickets/{tid}/comments", {"body": "note", "visibility": "internal"}, workers),
        ("POST", f"/v1/tickets/{tid}/votes", {"member_id": m["id"]}, creators),
        ("GET", f"/v1/tickets/{tid}/messages", None, creators),
        ("POST", f"/v1/tickets/{tid}/messages", {"body": "hi"}, creators),
        ("GET", f"/v1/members/{m['id']}/timeline", None, set(ROLES)),
    ]
    for method, path, body, allowed in calls:
        for role in ROLES:
            r = desk.request(method, path, key=role, json=body)
            if role in allowed:
                assert r.status_code in (200, 201), (method, path, role, r.text)
            else:
                assert_error(r, 403, "forbidden")
        assert_error(desk.request(method, path, key=None, json=body), 401, "unauthorized")


# ---- assignment, transitions, history ----------------------------------------------------------

def test_a_members_next_ticket_goes_to_whoever_handled_the_last(desk):
    m = member(desk)
    agent = new_staff(desk)
    first = ticket(desk, member_id=m["id"])
    assert first["assignee"] is None
    r = desk.patch(f"/v1/tickets/{first['id']}", json={"assignee": agent})
    assert r.status_code == 200 and r.json()["assignee"] == agent, r.text
    second = ticket(desk, member_id=m["id"])
    assert second["assignee"] == agent
    assert ("routing", "assignee", None, agent) in [(h["actor"], h["change"], h["from"], h["to"])
                                                    for h in second["history"]]
    other = ticket(desk, member_id=member(desk)["id"])
    assert other["assignee"] is None  # someone else's ticket: the queue
    execute(desk.db, f"UPDATE staff SET active = 0 WHERE email = '{agent}'")
    third = ticket(desk, member_id=m["id"])
    assert third["assignee"] is None  # that agent left: the queue


def test_transitions_history_and_events(desk):
    m = member(desk)
    agent = new_staff(desk)
    t = ticket(desk, member_id=m["id"])
    path = f"/v1/tickets/{t['id']}"
    for status in ("open", "waiting", "open", "resolved"):
        r = desk.patch(path, json={"status": status}, key="agent")
        assert r.status_code == 200 and r.json()["status"] == status, r.text
    resolved = desk.get(path).json()
    assert resolved["resolved_at"] is not None
    assert_error(desk.patch(path, json={"status": "waiting"}), 409, "invalid_transition")
    assert_error(desk.patch(path, json={"status": "new"}), 409, "invalid_transition")
    reopened = desk.patch(path, json={"status": "open", "assignee": agent, "priority": "urgent",
                                      "category": "question", "subject": "Cracked lid, again"}).json()
    assert (reopened["status"], reopened["resolved_at"], reopened["assignee"], reopened["priority"],
            reopened["category"], reopened["subject"]) == ("open", None, agent, "urgent", "question",
                                                           "Cracked lid, again")
    closed = desk.patch(path, json={"status": "closed"}).json()
    assert closed["status"] == "closed" and closed["closed_at"] is not None
    before = desk.get(path).json()
    for patch in ({"status": "open"}, {"priority": "low"}, {"status": "closed", "priority": "low"}):
        assert_error(desk.patch(path, json=patch), 409, "invalid_transition")
    assert_error(desk.post(f"{path}/comments", json={"body": "x", "visibility": "public"}), 409, "ticket_closed")
    assert desk.get(path).json() == before
    statuses = [(h["from"], h["to"]) for h in before["history"] if h["change"] == "status"]
    assert statuses == [("new", "open"), ("open", "waiting"), ("waiting", "open"), ("open", "resolved"),
                        ("resolved", "open"), ("open", "closed")]
    assert [h["actor"] for h in before["history"] if h["change"] == "status"][:4] == ["test-agent"] * 4
    subject_rows = [h for h in before["history"] if h["change"] == "subject"]
    assert len(subject_rows) == 1 and subject_rows[0]["from"] is None and subject_rows[0]["to"] is None
    kinds = [r[0] for r in desk.db.rows(f"SELECT kind FROM member_events WHERE member_id = {m['id']} ORDER BY id")]
    assert kinds == ["ticket_created"] + ["ticket_status_changed"] * 3 + ["ticket_resolved", "ticket_status_changed",
                                                                          "ticket_assigned", "ticket_status_changed"]
    # Bad patches change nothing.
    t2 = ticket(desk, member_id=m["id"])
    snapshot = desk.get(f"/v1/tickets/{t2['id']}").json()
    for patch, code in (({}, "empty_patch"), ({"status": "done"}, "invalid_field"),
                        ({"assignee": "ghost@example.com"}, "unknown_assignee"), ({"votes": 3}, "unknown_field"),
                        ({"priority": "high", "assignee": "ghost@example.com"}, "unknown_assignee")):
        assert_error(desk.patch(f"/v1/tickets/{t2['id']}", json=patch), 400, code)
    assert desk.get(f"/v1/tickets/{t2['id']}").json() == snapshot
    assert_error(desk.patch("/v1/tickets/99999999", json={"status": "open"}), 404, "not_found")


def test_queue_filters_and_paging(desk):
    agent = new_staff(desk)
    cat = unique("c")  # a member of our own, to keep other tests' tickets out
    m = member(desk)
    made = [ticket(desk, member_id=m["id"], subject=f"{cat} {n}", priority=("low", "high")[n % 2],
                   category=("complaint", "question")[n % 2]) for n in range(5)]
    desk.patch(f"/v1/tickets/{made[0]['id']}", json={"assignee": agent})
    desk.patch(f"/v1/tickets/{made[1]['id']}", json={"status": "waiting"})
    mine = [t["id"] for t in made]
    assert ids(desk, member_id=m["id"]) == mine
    assert ids(desk, member_id=m["id"], priority="high") == [mine[1], mine[3]]
    assert ids(desk, member_id=m["id"], category="complaint") == [mine[0], mine[2], mine[4]]
    assert ids(desk, member_id=m["id"], status="waiting") == [mine[1]]
    assert ids(desk, member_id=m["id"], assignee=agent) == [mine[0]]
    # New tickets of this member go to the agent now (consistent assignment), so "none" are the rest.
    assert ids(desk, member_id=m["id"], assignee="none") == mine[1:]
    s = session(desk, agent)
    r = desk.get("/v1/tickets", session=s, key=None, params={"assignee": "me", "member_id": m["id"]})
    assert r.status_code == 200 and [t["id"] for t in r.json()["data"]] == [mine[0]], r.text
    assert_error(desk.get("/v1/tickets", params={"assignee": "me"}), 400, "invalid_query")
    # Paging by cursor.
    page1 = desk.get("/v1/tickets", params={"member_id": m["id"], "limit": 2}).json()
    assert [t["id"] for t in page1["data"]] == mine[:2] and page1["next_after"] == mine[1]
    page3 = desk.get("/v1/tickets", params={"member_id": m["id"], "limit": 2, "after": mine[3]}).json()
    assert [t["id"] for t in page3["data"]] == [mine[4]] and page3["next_after"] is None
    # Breaching: flagged, or a due time past while the ticket is not waiting, resolved or closed.
    execute(desk.db, f"UPDATE tickets SET breached_resolution = 1 WHERE id = {mine[2]}")
    execute(desk.db, f"UPDATE tickets SET resolution_due_at = 1000 WHERE id IN ({mine[3]}, {mine[1]})")
    execute(desk.db, f"UPDATE tickets SET first_response_due_at = 9000000000000000 WHERE id = {mine[4]}")
    assert ids(desk, member_id=m["id"], breaching="true") == [mine[2], mine[3]]
    for bad in ({"status": "sleeping"}, {"priority": "meh"}, {"category": "x"}, {"breaching": "yes"},
                {"sort": "size"}, {"limit": 201}, {"assignee": "not-an-email"}):
        assert_error(desk.get("/v1/tickets", params=bad), 400, "invalid_query")


# ---- email out and in --------------------------------------------------------------------------

def test_reply_by_email_and_the_customers_answer_threads_back(desk):
    address = unique("jane-") + "@example.com"
    m = desk.create_member(email=address, first_name="Jane")
    t = ticket(desk, member_id=m["id"], subject="Où est ma commande ?")
    path = f"/v1/tickets/{t['id']}"
    note = desk.post(f"{path}/comments", json={"body": "VIP, be quick", "visibility": "internal"}, key="agent")
    assert note.status_code == 201 and note.json()["message_id"] is None, note.text
    assert desk.get(path).json()["status"] == "new"  # a note is no response
    r = desk.post(f"{path}/comments", json={"body": "It left our depot today.\nSam", "visibility": "public"},
                  key="agent")
    assert r.status_code == 201, r.text
    reply = r.json()
    assert reply["message_id"] is not None and reply["author_kind"] == "staff"
    after = desk.get(path).json()
    assert after["status"] == "open" and after["first_responded_at"] is not None
    wait_until(lambda: mails_to(desk, address), 60, "the reply email")
    time.sleep(1)  # and nothing else (the internal note) arrives
    (msg,) = mails_to(desk, address)
    assert msg["Subject"] == f"Re: Où est ma commande ? [#T-{t['token']}]"
    assert msg["Message-ID"] == f"<patron.{reply['message_id']}@shop.example>"
    assert "It left our depot today." in msg.get_body(("plain",)).get_content()
    assert all("VIP" not in e.data.decode("utf-8", "replace") for e in desk.smtp.messages())
    # The customer answers from their mail client while the ticket waits on them.
    desk.patch(path, json={"status": "waiting"})
    answer = (f"From: Jane <{address.upper()}>\r\nTo: {SENDER}\r\nSubject: Re: =?UTF-8?Q?O=C3=B9_est_ma_commande?=\r\n"
              f"Message-ID: <answer-{t['id']}@mail.example.com>\r\nIn-Reply-To: {msg['Message-ID']}\r\n"
              f"References: {msg['Message-ID']}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"
              "Got it, thank you!\r\n\r\nOn Tue, Sam wrote:\r\n> It left our depot today.\r\n")
    out = mail_in(desk, answer)
    assert out.startswith("comment ") and f"on ticket {t['id']} (open again)" in out, out
    back = desk.get(path).json()
    assert back["status"] == "open"
    last = back["comments"][-1]
    assert (last["author_kind"], last["visibility"], last["body"]) == ("member", "public", "Got it, thank you!")
    assert ("status", "waiting", "open") in [(h["change"], h["from"], h["to"]) for h in back["history"]]
    # The same email piped twice is filed once.
    assert mail_in(desk, answer).startswith(f"already filed on ticket {t['id']}")
    assert len(desk.get(path).json()["comments"]) == len(back["comments"])
    # The next reply answers the customer's email (In-Reply-To), so their client threads it.
    desk.smtp.clear()
    desk.post(f"{path}/comments", json={"body": "Glad to help.", "visibility": "public"})
    wait_until(lambda: mails_to(desk, address), 60, "the second reply")
    assert mails_to(desk, address)[0]["In-Reply-To"] == f"<answer-{t['id']}@mail.example.com>"
    # A subject token alone threads too.
    out = mail_in(desk, f"From: {address}\nSubject: more [#T-{t['token']}]\nMessage-ID: <more-{t['id']}@x>\n\nPS\n")
    assert out.startswith("comment ") and f"on ticket {t['id']}" in out, out


def test_new_mail_opens_tickets_for_members_and_contacts(desk):
    address = unique("known-") + "@example.com"
    m = desk.create_member(email=address)
    out = mail_in(desk, f"From: Known <{address.upper()}>\nSubject: Points missing\nMessage-ID: <n1-{address}>\n\n"
                        "My points from last week are missing.\n")
    assert out.startswith("opened ticket"), out
    tid = int(out.split()[2])
    t = desk.get(f"/v1/tickets/{tid}").json()
    assert (t["member_id"], t["contact_email"], t["channel"], t["category"], t["status"], t["subject"]) == (
        m["id"], None, "email", "question", "new", "Points missing")
    assert t["comments"][0]["body"] == "My points from last week are missing."
    stranger = unique("stranger-") + "@example.org"
    out = mail_in(desk, f"From: =?UTF-8?Q?Ren=C3=A9e_Dupont?= <{stranger}>\nSubject: Opening hours?\n"
                        f"Message-ID: <n2-{stranger}>\nContent-Type: multipart/alternative; boundary=b\n\n"
                        "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
                        "Are you open on Sunday=3F\n--b\nContent-Type: text/html\n\n<p>Are you open?</p>\n--b--\n")
    assert out.startswith("opened ticket"), out
    t = desk.get(f"/v1/tickets/{int(out.split()[2])}").json()
    assert (t["member_id"], t["contact_email"], t["contact_name"]) == (None, stranger, "Renée Dupont")
    assert t["comments"][0]["body"] == "Are you open on Sunday?"
    # An out-of-office reply is ignored.
    before = desk.db.count("tickets")
    out = mail_in(desk, f"From: {stranger}\nSubject: Away\nAuto-Submitted: auto-replied\n\nI am away.\n")
    assert out.startswith("ignored: an automatic reply") and desk.db.count("tickets") == before


def test_contact_reply_is_mailed_to_the_contact(desk):
    contact = unique("walkin-") + "@example.net"
    t = ticket(desk, contact_email=contact, subject="Gift card")
    desk.post(f"/v1/tickets/{t['id']}/comments", json={"body": "Here is how.", "visibility": "public"})
    wait_until(lambda: mails_to(desk, contact), 60, "the contact's reply")
    assert mails_to(desk, contact)[0]["Subject"] == f"Re: Gift card [#T-{t['token']}]"


# ---- chat ----------------------------------------------------------------------------------------

def test_chat_long_poll(desk):
    m = member(desk)
    chat = ticket(desk, member_id=m["id"], channel="chat", subject="Chat", body="Hello?", category="question")
    path = f"/v1/tickets/{chat['id']}/messages"
    first = desk.get(path, key="integration").json()
    assert [c["body"] for c in first["data"]] == ["Hello?"]
    cursor = first["next_after"]
    # Nothing new: an empty list after the wait.
    started = time.monotonic()
    r = desk.get(path, params={"after": cursor, "wait": 2}, key="integration")
    took = time.monotonic() - started
    assert r.status_code == 200 and r.json() == {"data": [], "next_after": cursor}, r.text
    assert 1.8 <= took < 4, took
    # A staff answer posted after 1 s ends the wait at once.

    def answer():
        time.sleep(1)
        desk.post(path, json={"body": "Hi! How can I help?"}, key="agent")

    poster = threading.Thread(target=answer)
    started = time.monotonic()
    poster.start()
    r = desk.get(path, params={"after": cursor, "wait": 5}, key="integration")
    took = time.monotonic() - started
    poster.join()
    assert r.status_code == 200, r.text
    assert [(c["author_kind"], c["body"]) for c in r.json()["data"]] == [("staff", "Hi! How can I help?")]
    assert 0.9 <= took < 2.5, took
    # The customer's side (through the integration), and no email for chats ever.
    r = desk.post(path, json={"body": "My card does not scan"}, key="integration")
    assert r.status_code == 201 and r.json()["author_kind"] == "member", r.text
    assert desk.db.count("messages", f"ticket_id = {chat['id']}") == 0
    t = desk.get(f"/v1/tickets/{chat['id']}").json()
    assert t["status"] == "open" and t["first_responded_at"] is not None
    # Internal notes stay out of the chat.
    desk.post(f"/v1/tickets/{chat['id']}/comments", json={"body": "check card stock", "visibility": "internal"})
    bodies = [c["body"] for c in desk.get(path, key="integration").json()["data"]]
    assert bodies == ["Hello?", "Hi! How can I help?", "My card does not scan"]
    # Not a chat, bad waits.
    other = ticket(desk, member_id=m["id"])
    assert_error(desk.get(f"/v1/tickets/{other['id']}/messages"), 409, "not_a_chat")
    assert_error(desk.post(f"/v1/tickets/{other['id']}/messages", json={"body": "x"}), 409, "not_a_chat")
    assert_error(desk.get(path, params={"wait": 26}), 400, "invalid_query")
    assert_error(desk.get(path, params={"wait": "soon"}), 400, "invalid_query")
    assert_error(desk.get("/v1/tickets/99999999/messages"), 404, "not_found")


# ---- votes -------------------------------------------------------------------------------------

def test_suggestion_votes(desk):
    voters = [member(desk) for _ in range(3)]
    tag = unique("s")
    a = ticket(desk, member_id=voters[0]["id"], category="suggestion", subject=f"{tag} vegan range")
    b = ticket(desk, member_id=voters[0]["id"], category="suggestion", subject=f"{tag} longer hours")
    for v in voters:
        r = desk.post(f"/v1/tickets/{b['id']}/votes", json={"member_id": v["id"]}, key="integration")
        assert r.status_code == 200 and r.json()["counted"] is True, r.text
    again = desk.post(f"/v1/tickets/{b['id']}/votes", json={"member_id": voters[0]["id"]}).json()
    assert (again["counted"], again["votes"]) == (False, 3)
    desk.post(f"/v1/tickets/{a['id']}/votes", json={"member_id": voters[1]["id"]})
    assert desk.get(f"/v1/tickets/{b['id']}").json()["votes"] == 3
    ranked = desk.get("/v1/tickets", params={"category": "suggestion", "sort": "votes", "member_id": voters[0]["id"]})
    assert [t["id"] for t in ranked.json()["data"]][:2] == [b["id"], a["id"]]
    page = desk.get("/v1/tickets", params={"category": "suggestion", "sort": "votes", "member_id": voters[0]["id"],
                                           "limit": 1}).json()
    assert [t["id"] for t in page["data"]] == [b["id"]]
    rest = desk.get("/v1/tickets", params={"category": "suggestion", "sort": "votes", "member_id": voters[0]["id"],
                                           "after": page["next_after"]}).json()
    assert [t["id"] for t in rest["data"]] == [a["id"]]
    complaint = ticket(desk, member_id=voters[0]["id"])
    assert_error(desk.post(f"/v1/tickets/{complaint['id']}/votes", json={"member_id": voters[1]["id"]}), 409,
                 "not_a_suggestion")
    assert_error(desk.post(f"/v1/tickets/{a['id']}/votes", json={"member_id": 99999999}), 400, "unknown_member")
    assert_error(desk.post(f"/v1/tickets/{a['id']}/votes", json={}), 400, "invalid_field")
    assert desk.db.count("suggestion_votes", f"ticket_id IN ({a['id']}, {b['id']})") == 4


# ---- timeline and erasure --------------------------------------------------------------------------

def test_timeline_newest_first_with_summaries(desk):
    m = member(desk)
    order = unique("o-")
    r = desk.post("/v1/purchases", json={"member_id": m["id"], "order_id": order, "amount_cents": 4250},
                  key="integration")
    assert r.status_code == 201, r.text
    t = ticket(desk, member_id=m["id"], subject="Broken lid")
    desk.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"})
    timeline = desk.get(f"/v1/members/{m['id']}/timeline").json()
    entries = timeline["data"]
    assert [e["kind"] for e in entries] == ["ticket_resolved", "ticket_created", "purchase"]
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    assert entries[0]["summary"] == f"Ticket #{t['id']} resolved: Broken lid"
    assert entries[1]["summary"] == f"Ticket #{t['id']} opened: Broken lid"
    assert entries[2]["summary"].startswith(f"Purchase of 42.50 (order {order})")
    assert entries[0]["payload"]["ticket_id"] == t["id"] and timeline["next_before"] is None
    page = desk.get(f"/v1/members/{m['id']}/timeline", params={"limit": 2}).json()
    assert [e["kind"] for e in page["data"]] == ["ticket_resolved", "ticket_created"]
    rest = desk.get(f"/v1/members/{m['id']}/timeline", params={"before": page["next_before"]}).json()
    assert [e["kind"] for e in rest["data"]] == ["purchase"]
    assert_error(desk.get("/v1/members/99999999/timeline"), 404, "member_not_found")


def test_erasure_leaves_chats_and_timeline_bare(desk):
    address = unique("erase-") + "@example.com"
    m = desk.create_member(email=address, first_name="Ottilie")
    chat = ticket(desk, member_id=m["id"], channel="chat", subject="Ottilie's card", body="I am Ottilie Secret")
    desk.post(f"/v1/tickets/{chat['id']}/messages", json={"body": "Hello Ottilie"}, key="agent")
    mail = ticket(desk, member_id=m["id"], subject="Ottilie's order")
    desk.post(f"/v1/tickets/{mail['id']}/comments", json={"body": "Dear Ottilie", "visibility": "public"})
    wait_until(lambda: mails_to(desk, address), 60, "the reply")
    r = desk.post(f"/v1/members/{m['id']}/erase", headers={"Idempotency-Key": unique("ek-")})
    assert r.status_code == 200, r.text
    texts = [c["body"] for c in desk.get(f"/v1/tickets/{chat['id']}/messages", key="integration").json()["data"]]
    assert texts and all("Ottilie" not in x for x in texts), texts
    for tid in (chat["id"], mail["id"]):
        assert "Ottilie" not in str(desk.get(f"/v1/tickets/{tid}").json())
    timeline = desk.get(f"/v1/members/{m['id']}/timeline").json()
    kinds = {e["kind"] for e in timeline["data"]}
    assert {"ticket_created", "message_sent"} <= kinds
    assert "Ottilie" not in str(timeline) and address not in str(timeline)
