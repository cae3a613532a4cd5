"""Webhooks over HTTP: subscribers (the secret shown once), bad input, roles, and the
webhooks_fanout job that turns member events into outbox rows: one row per event and
subscriber however often it runs, the kinds filter, the settle rule of the cursor, and replay.
On both engines."""

import datetime
import hashlib
import hmac
import http.server
import json
import queue
import re
import threading
import time
import uuid

import pytest

from conftest import ROLES, assert_error, run_patron, unique

WEBHOOK_KEYS = {"id", "name", "url", "kinds", "active", "event_cursor", "generation", "created_at",
                "updated_at"}


def make_webhook(server, **fields):
    # Port 9 (discard) refuses at once: the server's outbox workers may try these rows.
    body = {"name": unique("wh-"), "url": "http://127.0.0.1:9/hooks/patron"}
    body.update(fields)
    r = server.post("/v1/webhooks", json=body)
    assert r.status_code == 201, r.text
    assert set(r.json()) == WEBHOOK_KEYS | {"secret"}, r.json()
    return r.json()


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def fanout(server, seconds_from_now=0):
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    out = run_patron("jobs", "run", "webhooks_fanout", "--at", iso(at), "--db", server.db.url).stdout
    return json.loads(out)["affected"]


def adjust(server, member_id, points=25):
    r = server.post(f"/v1/members/{member_id}/points/adjustments", json={"points": points, "reason": "goodwill"},
                    headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text


def last_event(server, member_id, kind):
    return server.db.scalar(f"SELECT MAX(id) FROM member_events WHERE member_id = {member_id} AND kind = '{kind}'")


def rows(server, webhook_id):
    return server.db.rows(f"SELECT dedupe_key, member_id, channel, status, attempts, variables FROM messages"
                          f" WHERE webhook_id = {webhook_id} ORDER BY id")


def test_webhook_crud_and_the_secret_shown_once(server):
    w = make_webhook(server, kinds=["purchase", "points_adjusted"])
    assert re.fullmatch(r"[0-9a-f]{64}", w["secret"])
    assert server.db.scalar(f"SELECT secret FROM webhooks WHERE id = {w['id']}") == w["secret"]
    assert (w["kinds"], w["active"], w["generation"]) == (["purchase", "points_adjusted"], True, 0)
    got = server.get(f"/v1/webhooks/{w['id']}").json()
    assert "secret" not in got and got == {k: v for k, v in w.items() if k != "secret"}
    listed = server.get("/v1/webhooks").json()["data"]
    assert all("secret" not in x for x in listed) and w["id"] in [x["id"] for x in listed]
    assert w["secret"] not in server.get("/v1/webhooks").text

    r = server.patch(f"/v1/webhooks/{w['id']}", json={"kinds": None, "active": False, "url": "http://127.0.0.1:9/x"})
    assert r.status_code == 200, r.text
    assert (r.json()["kinds"], r.json()["active"], r.json()["url"]) == (None, False, "http://127.0.0.1:9/x")
    assert "secret" not in r.json()

    rotated = server.post(f"/v1/webhooks/{w['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert re.fullmatch(r"[0-9a-f]{64}", rotated.json()["secret"]) and rotated.json()["secret"] != w["secret"]
    assert server.db.scalar(f"SELECT secret FROM webhooks WHERE id = {w['id']}") == rotated.json()["secret"]

    r = server.delete(f"/v1/webhooks/{w['id']}")
    assert r.status_code == 200 and r.json()["deleted"] is True and "secret" not in r.json()
    assert_error(server.get(f"/v1/webhooks/{w['id']}"), 404, "not_found")
    assert_error(server.post(f"/v1/webhooks/{w['id']}/rotate-secret"), 404, "not_found")
    actions = sorted(r[0] for r in server.db.rows(f"SELECT action FROM audit_log WHERE entity = 'webhook'"
                                                   f" AND entity_id = {w['id']}"))
    assert actions == ["webhook.create", "webhook.delete", "webhook.rotate_secret", "webhook.update"]
    # The audit log never holds the secret.
    assert w["secret"] not in str(server.db.rows("SELECT * FROM audit_log"))


@pytest.mark.parametrize("fields, code, needle", [
    ({"name": ""}, "invalid_field", "name"),
    ({"url": "ftp://example.com/x"}, "invalid_field", "url"),
    ({"url": "example.com/hook"}, "invalid_field", "url"),
    ({"url": "https://"}, "invalid_field", "url"),
    ({"url": "https://example.com/" + "a" * 2000}, "invalid_field", "url"),
    ({"url": 42}, "invalid_field", "url"),
    ({"kinds": []}, "invalid_field", "kinds"),
    ({"kinds": "purchase"}, "invalid_field", "kinds"),
    ({"kinds": ["Purchase!"]}, "invalid_field", "kinds[0]"),
    ({"kinds": ["purchase", "purchase"]}, "invalid_field", "twice"),
    ({"active": "yes"}, "invalid_field", "active"),
    ({"secret": "mine"}, "unknown_field", "secret"),
])
def test_bad_webhooks_create_nothing(server, fields, code, needle):
    before = (server.db.count("webhooks"), server.db.count("audit_log"))
    body = {"name": unique("wh-"), "url": "https://example.com/h"}
    body.update(fields)
    r = server.post("/v1/webhooks", json=body)
    assert_error(r, 400, code)
    assert needle in r.json()["error"]["message"], r.text
    assert (server.db.count("webhooks"), server.db.count("audit_log")) == before


def test_duplicate_names_and_bad_patches(server):
    w = make_webhook(server)
    other = make_webhook(server)
    r = server.post("/v1/webhooks", json={"name": w["name"], "url": "https://example.com/x"})
    assert_error(r, 409, "duplicate_webhook_name")
    assert_error(server.patch(f"/v1/webhooks/{other['id']}", json={"name": w["name"]}), 409,
                 "duplicate_webhook_name")
    assert_error(server.patch(f"/v1/webhooks/{w['id']}", json={}), 400, "empty_patch")
    assert_error(server.patch(f"/v1/webhooks/{w['id']}", json={"url": "gopher://x"}), 400, "invalid_field")
    assert server.get(f"/v1/webhooks/{w['id']}").json()["url"] == w["url"]
    for body in ({}, {"from_event_id": 0}, {"from_event_id": "1"}, {"from": 1}):
        r = server.post(f"/v1/webhooks/{w['id']}/replay", json=body)
        assert r.status_code == 400, r.text
    assert server.get(f"/v1/webhooks/{w['id']}").json()["generation"] == 0
    assert_error(server.post("/v1/webhooks/99999999/replay", json={"from_event_id": 1}), 404, "not_found")


@pytest.mark.parametrize("role", ROLES)
def test_only_admin_manages_webhooks(server, role):
    before = server.db.count("webhooks")
    r = server.post("/v1/webhooks", key=role, json={"name": unique("wh-"), "url": "https://example.com/h"})
    if role == "admin":
        assert r.status_code == 201, r.text
        assert server.get("/v1/webhooks", key=role).status_code == 200
    else:
        assert_error(r, 403, "forbidden")
        assert_error(server.get("/v1/webhooks", key=role), 403, "forbidden")
        assert server.db.count("webhooks") == before


def test_fanout_queues_each_event_once_for_the_kinds_wanted(server):
    wanted = make_webhook(server, kinds=["points_adjusted"])
    everything = make_webhook(server)
    purchases_only = make_webhook(server, kinds=["purchase"])
    inactive = make_webhook(server, active=False)
    member = server.create_member()
    adjust(server, member["id"])
    event_id = last_event(server, member["id"], "points_adjusted")
    fanout(server)  # (the server's scheduler may have queued them first: the rows tell)
    got = rows(server, wanted["id"])
    assert len(got) == 1
    key, member_id, channel, status, attempts, variables = got[0]
    assert key == f"w{wanted['id']}:g0:e{event_id}"
    assert (int(member_id), channel) == (member["id"], "webhook")
    assert status in ("queued", "sending")  # the server's outbox workers may be trying it already
    event = json.loads(variables)
    assert set(event) == {"id", "kind", "member_id", "occurred_at", "payload"}
    assert (event["id"], event["kind"], event["member_id"]) == (event_id, "points_adjusted", member["id"])
    assert datetime.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    assert isinstance(event["payload"], dict)
    assert [r[0] for r in rows(server, everything["id"])] == [f"w{everything['id']}:g0:e{event_id}"]
    assert rows(server, purchases_only["id"]) == [] and rows(server, inactive["id"]) == []
    # Running again, now and later, queues nothing twice.
    fanout(server)
    fanout(server, 3600)
    assert len(rows(server, wanted["id"])) == 1 and len(rows(server, everything["id"])) == 1


def test_the_cursor_passes_only_settled_events(server):
    w = make_webhook(server)
    start = w["event_cursor"]
    member = server.create_member()
    adjust(server, member["id"])
    event_id = last_event(server, member["id"], "points_adjusted")
    fanout(server)
    # Queued at once, but the cursor stays before an event younger than a minute: a
    # transaction holding a lower id might not have committed yet (PostgreSQL).
    assert len(rows(server, w["id"])) == 1
    assert start <= server.db.scalar(f"SELECT event_cursor FROM webhooks WHERE id = {w['id']}") < event_id
    fanout(server, 30)
    assert server.db.scalar(f"SELECT event_cursor FROM webhooks WHERE id = {w['id']}") < event_id
    fanout(server, 120)
    assert server.db.scalar(f"SELECT event_cursor FROM webhooks WHERE id = {w['id']}") >= event_id
    assert len(rows(server, w["id"])) == 1


def test_replay_queues_the_events_again_as_new_rows(server):
    w = make_webhook(server, kinds=["points_adjusted"])
    member = server.create_member()
    adjust(server, member["id"], 10)
    first = last_event(server, member["id"], "points_adjusted")
    adjust(server, member["id"], 20)
    second = last_event(server, member["id"], "points_adjusted")
    fanout(server, 120)
    assert [r[0] for r in rows(server, w["id"])] == [f"w{w['id']}:g0:e{first}", f"w{w['id']}:g0:e{second}"]
    r = server.post(f"/v1/webhooks/{w['id']}/replay", json={"from_event_id": second})
    assert r.status_code == 200, r.text
    assert (r.json()["event_cursor"], r.json()["generation"]) == (second - 1, 1)
    assert server.db.count("audit_log", f"action = 'webhook.replay' AND entity_id = {w['id']}") == 1
    fanout(server, 120)
    keys = [r[0] for r in rows(server, w["id"])]
    assert keys == [f"w{w['id']}:g0:e{first}", f"w{w['id']}:g0:e{second}", f"w{w['id']}:g1:e{second}"]
    fanout(server, 240)
    assert len(rows(server, w["id"])) == 3


# ---- delivery, end to end ------------------------------------------------------------------

class Receiver:
    """A subscriber on 127.0.0.1: records each POST and answers the statuses given, then 200."""

    def __init__(self, statuses):
        self.answers = list(statuses)
        self.got = queue.Queue()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.got.put((dict(self.headers), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next(self, timeout=30):
        return self.got.get(timeout=timeout)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def deliver(server, seconds_from_now=0):
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    run_patron("jobs", "run", "outbox_deliver", "--at", iso(at), "--db", server.db.url)


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def check_signature(headers, body, secret):
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "patron"
    fields = dict(part.split("=", 1) for part in headers["Patron-Signature"].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected), headers["Patron-Signature"]
    # The timestamp is the delivery's time (the job's --at): a receiver checks it is recent.
    assert abs(int(fields["t"]) - time.time()) < 3600


def test_signed_delivery_retries_after_a_500_and_replay_delivers_again(server):
    receiver = Receiver([500])
    try:
        w = make_webhook(server, url=receiver.url, kinds=["points_adjusted"])
        member = server.create_member()
        adjust(server, member["id"], 15)
        event_id = last_event(server, member["id"], "points_adjusted")
        fanout(server)
        deliver(server)  # the server's own workers may be first: either way one attempt
        headers, body = receiver.next()
        check_signature(headers, body, w["secret"])
        assert headers["Patron-Event"] == "points_adjusted"
        event = json.loads(body)
        assert (event["id"], event["kind"], event["member_id"]) == (event_id, "points_adjusted", member["id"])
        select = f"SELECT status, attempts, last_error FROM messages WHERE webhook_id = {w['id']}"
        wait_for(lambda: server.db.rows(select)[0][:2] == ("queued", "1"))
        assert "500" in server.db.rows(select)[0][2]
        # The retry after the back-off succeeds, with the same body.
        deliver(server, 300)
        headers, again = receiver.next()
        check_signature(headers, again, w["secret"])
        assert again == body
        wait_for(lambda: server.db.rows(select)[0][:2] == ("sent", "2"))
        # A replay delivers the event again, as a new outbox row.
        assert server.post(f"/v1/webhooks/{w['id']}/replay", json={"from_event_id": event_id}).status_code == 200
        fanout(server, 300)
        deliver(server, 300)
        headers, replayed = receiver.next()
        check_signature(headers, replayed, w["secret"])
        assert json.loads(replayed)["id"] == event_id
        statuses = f"SELECT dedupe_key, status FROM messages WHERE webhook_id = {w['id']} ORDER BY id"
        wait_for(lambda: [r[1] for r in server.db.rows(statuses)] == ["sent", "sent"])
        assert server.db.rows(statuses)[1][0] == f"w{w['id']}:g1:e{event_id}"
    finally:
        receiver.close()


def test_a_410_or_a_deleted_webhook_fails_for_good(server):
    receiver = Receiver([410])
    try:
        gone = make_webhook(server, url=receiver.url, kinds=["points_adjusted"])
        # A refusing URL: should the server's workers try it before the delete, it is only retried.
        deleted = make_webhook(server, kinds=["points_adjusted"])
        member = server.create_member()
        adjust(server, member["id"], 5)
        fanout(server)
        assert server.delete(f"/v1/webhooks/{deleted['id']}").status_code == 200
        deliver(server)
        receiver.next()
        deliver(server, 3600)  # past any back-off
        for w, reason in ((gone, "410"), (deleted, "webhook inactive")):
            select = f"SELECT status, last_error FROM messages WHERE webhook_id = {w['id']}"
            wait_for(lambda: server.db.rows(select)[0][0] == "failed")
            assert reason in server.db.rows(select)[0][1]
        assert receiver.got.empty()  # the 410 is not retried
    finally:
        receiver.close()
