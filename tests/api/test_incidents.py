"""Incidents over HTTP, on both engines: announcing without goodwill queues one written email
per member of the audience (once, however often it is announced); with goodwill it waits for
an approval that its proposer and a supervisor cannot give, and a manager's approval credits
every member of the audience exactly once and tells them."""

import uuid

import pytest

from conftest import assert_error, unique


def audience(server, count):
    dom = unique("d") + ".example"
    ids = [server.create_member(email=f"m{i}-{uuid.uuid4().hex[:6]}@{dom}")["id"] for i in range(count)]
    return dom, ids


def incident(server, dom, points=0, key="manager"):
    r = server.post("/v1/incidents", key=key, json={
        "title": "Deliveries of 3 March were late",
        "message": {"subject": "We are sorry about your late delivery",
                    "text": "Our carrier lost a day. We are sorry."},
        "audience": f'email_domain = "{dom}"', "goodwill_points": points})
    assert r.status_code == 201, r.text
    return r.json()


def idem():
    return {"Idempotency-Key": uuid.uuid4().hex}


def available(server, member_id):
    return server.get(f"/v1/members/{member_id}/points").json()["available"]


def test_announce_without_goodwill(server):
    dom, ids = audience(server, 5)
    server.create_member(email=unique("x") + "@elsewhere.example")
    inc = incident(server, dom)
    assert inc["status"] == "draft" and inc["approval"] is None and inc["members_told"] == 0
    r = server.post(f"/v1/incidents/{inc['id']}/announce", key="manager")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "announced" and r.json()["incident"]["members_told"] == 5
    rows = server.db.rows(f"SELECT member_id, subject, template_id, campaign_id, status FROM messages"
                          f" WHERE dedupe_key LIKE 'incident{inc['id']}:m%'")
    assert sorted(int(r[0]) for r in rows) == sorted(ids)
    assert all(r[1] == "We are sorry about your late delivery" and r[2] is None and r[3] is None for r in rows)
    assert_error(server.post(f"/v1/incidents/{inc['id']}/announce", key="manager"), 409, "already_announced")
    got = server.get(f"/v1/incidents/{inc['id']}", key="manager").json()
    assert got["status"] == "announced" and got["members_told"] == 5 and got["members_credited"] == 0
    assert got["announced_at"] is not None


def test_goodwill_waits_for_a_managers_approval(server):
    dom, ids = audience(server, 4)
    proposer = server.db.create_key("manager", name="proposer")
    inc = incident(server, dom, points=150, key=proposer)
    before = {m: available(server, m) for m in ids}
    r = server.post(f"/v1/incidents/{inc['id']}/announce", key=proposer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "pending_approval" and body["approval"]["kind"] == "incident_goodwill"
    assert body["approval"]["points"] == 600 and body["incident"]["status"] == "awaiting_approval"
    approval = body["approval"]["id"]
    # Nothing happened yet: no email, no points.
    assert server.db.count("messages", f"dedupe_key LIKE 'incident{inc['id']}:m%'") == 0
    assert {m: available(server, m) for m in ids} == before
    assert_error(server.post(f"/v1/incidents/{inc['id']}/announce", key=proposer), 409, "awaiting_approval")
    # Not the proposer, not a supervisor.
    assert_error(server.post(f"/v1/approvals/{approval}/approve", key=proposer, headers=idem()), 403, "own_approval")
    assert_error(server.post(f"/v1/approvals/{approval}/approve", key="supervisor", headers=idem()), 403,
                 "manager_required")
    assert server.post(f"/v1/approvals/{approval}/approve", key="agent", headers=idem()).status_code == 403
    # A manager approves: every member credited once and told once.
    r = server.post(f"/v1/approvals/{approval}/approve", key="manager", headers=idem())
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved" and r.json()["result"]["members"] == 4
    assert {m: available(server, m) - before[m] for m in ids} == {m: 150 for m in ids}
    keys = server.db.rows(f"SELECT idem_key FROM transfers WHERE idem_key LIKE 'incident:{inc['id']}:%'")
    assert len(keys) == 4
    assert server.db.count("messages", f"dedupe_key LIKE 'incident{inc['id']}:m%'") == 4
    got = server.get(f"/v1/incidents/{inc['id']}", key="manager").json()
    assert got["status"] == "announced" and got["members_told"] == 4 and got["members_credited"] == 4
    assert got["approval"] == {"id": approval, "state": "approved"}
    # Deciding again, or announcing again, credits nobody twice.
    assert_error(server.post(f"/v1/approvals/{approval}/approve", key="admin", headers=idem()), 409, "not_pending")
    assert_error(server.post(f"/v1/incidents/{inc['id']}/announce", key="manager"), 409, "already_announced")
    assert {m: available(server, m) - before[m] for m in ids} == {m: 150 for m in ids}


def test_rejected_goodwill_can_be_proposed_again(server):
    dom, ids = audience(server, 2)
    inc = incident(server, dom, points=10, key="admin")
    approval = server.post(f"/v1/incidents/{inc['id']}/announce", key="admin").json()["approval"]["id"]
    r = server.post(f"/v1/approvals/{approval}/reject", key="manager", json={"reason": "too generous"})
    assert r.status_code == 200, r.text
    assert server.get(f"/v1/incidents/{inc['id']}", key="manager").json()["approval"]["state"] == "rejected"
    assert server.db.count("messages", f"dedupe_key LIKE 'incident{inc['id']}:m%'") == 0
    r = server.post(f"/v1/incidents/{inc['id']}/announce", key="admin")
    assert r.status_code == 200 and r.json()["approval"]["id"] != approval


@pytest.mark.parametrize("body, code", [
    ({"title": "t", "message": {"subject": "s", "text": "x"}, "audience": "tierr = 1"}, "invalid_expression"),
    ({"title": "t", "message": {"subject": "s"}, "audience": "1 = 1"}, "invalid_field"),
    ({"title": "t", "message": "sorry", "audience": "1 = 1"}, "invalid_field"),
    ({"title": "", "message": {"subject": "s", "text": "x"}, "audience": "1 = 1"}, "invalid_field"),
    ({"title": "t", "message": {"subject": "s", "text": "x"}, "audience": "1 = 1", "goodwill_points": -5},
     "invalid_field"),
    ({"title": "t", "message": {"subject": "s", "text": "x"}, "audience": "1 = 1", "colour": 1}, "unknown_field"),
])
def test_bad_incidents(server, body, code):
    before = server.db.count("incidents")
    assert_error(server.post("/v1/incidents", json=body), 400, code)
    assert server.db.count("incidents") == before


def test_roles(server):
    body = {"title": "t", "message": {"subject": "s", "text": "x"}, "audience": 'email_domain = "none.example"'}
    for role, status in [("admin", 201), ("manager", 201), ("supervisor", 403), ("agent", 403), ("analyst", 403),
                         ("integration", 403)]:
        assert server.post("/v1/incidents", json=body, key=role).status_code == status
    assert_error(server.get("/v1/incidents/999999"), 404, "not_found")


def test_an_incident_on_orders_tells_their_buyers(server):
    """A late delivery from one store: the members who ordered there in the window, whatever
    their segment; with goodwill, they are the ones credited."""
    store = unique("S")[:12]
    dom, ids = audience(server, 4)
    for n, member_id in enumerate(ids[:3]):  # three ordered at the store, one elsewhere
        r = server.post("/v1/purchases", json={"member_id": member_id, "order_id": unique("o"),
                                               "amount_cents": 1000 + n, "store": store})
        assert r.status_code == 201, r.text
    r = server.post("/v1/purchases", json={"member_id": ids[3], "order_id": unique("o"), "amount_cents": 500,
                                           "store": "ELSEWHERE"})
    assert r.status_code == 201, r.text
    r = server.post("/v1/incidents", key="manager", json={
        "title": "Parcels from one store were late", "message": {"subject": "Sorry", "text": "Late parcels."},
        "orders": f'store = "{store}" and amount_cents >= 1001', "goodwill_points": 0})
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["audience"] is None and inc["orders"].startswith("store")
    r = server.post(f"/v1/incidents/{inc['id']}/announce", key="manager")
    assert r.status_code == 200, r.text
    told = server.db.rows(f"SELECT member_id FROM messages WHERE dedupe_key LIKE 'incident{inc['id']}:m%'")
    assert sorted(int(t[0]) for t in told) == sorted(ids[1:3])
    # Both: the members of a segment who made such an order.
    r = server.post("/v1/incidents", key="manager", json={
        "title": "x", "message": {"subject": "s", "text": "t"}, "audience": f'email_domain = "{dom}"',
        "orders": f'store = "{store}"'})
    assert r.status_code == 201, r.text
    # A bad purchase expression, or neither, is refused with where and what.
    for body, code in (({"orders": "stor = 1"}, "invalid_expression"), ({}, "invalid_field"),
                       ({"orders": ""}, "invalid_field")):
        base = {"title": "x", "message": {"subject": "s", "text": "t"}}
        base.update(body)
        assert_error(server.post("/v1/incidents", key="manager", json=base), 400, code)
