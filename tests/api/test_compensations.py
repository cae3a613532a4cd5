"""Compensation on tickets over HTTP, on both engines: proposed by staff, effective only through
an approval decided by someone else within their limit (a supervisor up to the program's
supervisor_approval_limit, a coupon counting as its reward's cost_points), points through the
ledger with the ticket as reference, a coupon issued once, a rejection kept with its reason,
history rows and member events for each decision.

TEST SETUP until the ticket API lands (branch `tickets`): tickets are inserted as rows.
"""

import pytest

from conftest import assert_error, unique
from test_sla import execute, insert_ticket

COMPENSATION_KEYS = {"id", "ticket_id", "member_id", "kind", "points", "reward_id", "reason", "state",
                     "approval_id", "decision_reason", "decided_by", "coupon_id", "proposed_by", "created_at",
                     "decided_at"}
TABLES = ["transfers", "coupons", "member_events", "approvals", "compensations", "ticket_history"]


def idem():
    return {"Idempotency-Key": unique("k-")}


def decide(server, approval_id, verb, key, body=None):
    return server.post(f"/v1/approvals/{approval_id}/{verb}", json=body, key=key, headers=idem())


def propose(server, ticket_id, key="agent", **body):
    r = server.post(f"/v1/tickets/{ticket_id}/compensations", json=body, key=key)
    assert r.status_code == 201, r.text
    assert set(r.json()) == COMPENSATION_KEYS
    assert r.json()["state"] == "pending"
    return r.json()


def balance(server, member_id):
    return server.get(f"/v1/members/{member_id}/points").json()["available"]


def events(server, member_id):
    return [r[0] for r in server.db.rows(f"SELECT kind FROM member_events WHERE member_id = {member_id} ORDER BY id")]


@pytest.fixture
def case(server):
    """A member and a ticket of theirs; the supervisor limit at 400 points."""
    r = server.patch("/v1/program", json={"supervisor_approval_limit": 400})
    assert r.status_code == 200, r.text
    m = server.create_member()
    t = insert_ticket(server, "2026-11-24T10:00:00Z", category="complaint", member_id=m["id"])
    yield m, t
    assert server.patch("/v1/program", json={"supervisor_approval_limit": 5000}).status_code == 200


def test_points_story(server, case):
    m, t = case
    before = server.db.counts(TABLES)
    c = propose(server, t, points=500, kind="points", reason="parcel lost twice")
    assert c["ticket_id"] == t and c["member_id"] == m["id"] and c["points"] == 500
    assert balance(server, m["id"]) == 0, "a proposal gives nothing"
    assert server.db.count("transfers") == before["transfers"]
    approval = server.get(f"/v1/approvals/{c['approval_id']}", key="manager").json()
    assert approval["kind"] == "compensation" and approval["points"] == 500 and approval["state"] == "pending"
    # The agent who proposed cannot decide it: agents decide no approval at all (DESIGN.md §5).
    assert_error(decide(server, c["approval_id"], "approve", "agent"), 403, "forbidden")
    # A supervisor may decide up to 400 points: this one is 500.
    assert_error(decide(server, c["approval_id"], "approve", "supervisor"), 403, "over_limit")
    assert_error(decide(server, c["approval_id"], "reject", "supervisor"), 403, "over_limit")
    assert balance(server, m["id"]) == 0
    r = decide(server, c["approval_id"], "approve", "manager", {"reason": "fair"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"
    assert r.json()["result"] == {"compensation_id": c["id"], "kind": "points", "points": 500, "coupon_id": None}
    assert balance(server, m["id"]) == 500
    history = server.get(f"/v1/members/{m['id']}/points/history").json()["data"]
    assert history[0]["points"] == 500 and history[0]["reference_kind"] == "ticket"
    assert history[0]["reference_id"] == t and history[0]["reason"] == "parcel lost twice"
    assert server.db.scalar(f"SELECT idem_key FROM transfers WHERE reference_kind = 'ticket'"
                            f" AND reference_id = {t}") == f"compensation:{c['id']}:adjust"
    (listed,) = server.get(f"/v1/tickets/{t}/compensations", key="agent").json()["data"]
    assert listed["state"] == "approved" and listed["decision_reason"] == "fair"
    assert listed["decided_by"] == "test-manager" and listed["decided_at"] is not None
    assert "compensation_approved" in events(server, m["id"])
    rows = server.db.rows(f"SELECT change, from_value, to_value FROM ticket_history WHERE ticket_id = {t} ORDER BY id")
    assert rows == [("compensation", None, f"proposed #{c['id']}"),
                    ("compensation", "pending", f"approved #{c['id']}")]
    # Approving again changes nothing.
    after = server.db.counts(TABLES)
    assert_error(decide(server, c["approval_id"], "approve", "admin"), 409, "not_pending")
    assert server.db.counts(TABLES) == after
    assert balance(server, m["id"]) == 500


def test_the_proposer_never_decides(server, case):
    _, t = case
    for role in ("supervisor", "manager", "admin"):
        c = propose(server, t, key=role, kind="points", points=100, reason="sorry")
        assert_error(decide(server, c["approval_id"], "approve", role), 403, "own_approval")
        assert_error(decide(server, c["approval_id"], "reject", role), 403, "own_approval")
    # Within the limit, a supervisor decides another's proposal.
    c = propose(server, t, key="agent", kind="points", points=400, reason="sorry")
    r = decide(server, c["approval_id"], "approve", "supervisor")
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text


def test_a_rejection_stays_with_its_reason(server, case):
    m, t = case
    c = propose(server, t, kind="points", points=50, reason="late reply")
    before = balance(server, m["id"])
    r = decide(server, c["approval_id"], "reject", "supervisor", {"reason": "already compensated by the shop"})
    assert r.status_code == 200 and r.json()["state"] == "rejected", r.text
    assert balance(server, m["id"]) == before
    listed = {x["id"]: x for x in server.get(f"/v1/tickets/{t}/compensations").json()["data"]}
    assert listed[c["id"]]["state"] == "rejected"
    assert listed[c["id"]]["decision_reason"] == "already compensated by the shop"
    assert "compensation_rejected" in events(server, m["id"])
    assert_error(decide(server, c["approval_id"], "approve", "manager"), 409, "not_pending")
    assert balance(server, m["id"]) == before


def test_a_coupon_compensation_issues_one_coupon(server, case):
    m, t = case
    cheap = server.post("/v1/rewards", json={"name": unique("reward-"), "kind": "gift", "cost_points": 300}).json()
    dear = server.post("/v1/rewards", json={"name": unique("reward-"), "kind": "gift", "cost_points": 900}).json()
    c = propose(server, t, kind="coupon", reward_id=cheap["id"], reason="a gift for the trouble")
    assert c["points"] == 300 and c["reward_id"] == cheap["id"]
    assert server.get(f"/v1/members/{m['id']}/coupons").json()["data"] == []
    r = decide(server, c["approval_id"], "approve", "supervisor")
    assert r.status_code == 200, r.text
    (coupon,) = server.get(f"/v1/members/{m['id']}/coupons").json()["data"]
    assert coupon["source"] == "compensation" and coupon["source_id"] == c["id"] and coupon["points_cost"] == 0
    assert r.json()["result"]["coupon_id"] == coupon["id"]
    assert balance(server, m["id"]) == 0, "no points charged"
    assert_error(decide(server, c["approval_id"], "approve", "manager"), 409, "not_pending")
    assert len(server.get(f"/v1/members/{m['id']}/coupons").json()["data"]) == 1
    # A coupon counts as its reward's cost against the supervisor limit.
    d = propose(server, t, kind="coupon", reward_id=dear["id"], reason="a bigger gift")
    assert_error(decide(server, d["approval_id"], "approve", "supervisor"), 403, "over_limit")


def test_bad_proposals_change_nothing(server, case):
    m, t = case
    reward = server.post("/v1/rewards", json={"name": unique("reward-"), "kind": "gift", "cost_points": 10}).json()
    before = server.db.counts(TABLES)
    for body, status, code in [
        ({"kind": "points", "points": 0, "reason": "x"}, 400, "invalid_field"),
        ({"kind": "points", "points": -5, "reason": "x"}, 400, "invalid_field"),
        ({"kind": "points", "points": 10**9, "reason": "x"}, 400, "invalid_field"),
        ({"kind": "points", "points": 5}, 400, "invalid_field"),
        ({"kind": "points", "points": 5, "reason": ""}, 400, "invalid_field"),
        ({"kind": "cash", "points": 5, "reason": "x"}, 400, "invalid_field"),
        ({"kind": "points", "points": 5, "reward_id": reward["id"], "reason": "x"}, 400, "invalid_field"),
        ({"kind": "coupon", "reward_id": reward["id"], "points": 5, "reason": "x"}, 400, "invalid_field"),
        ({"kind": "coupon", "reward_id": 999999, "reason": "x"}, 400, "unknown_reward"),
        ({"kind": "points", "points": 5, "reason": "x", "note": "y"}, 400, "unknown_field"),
    ]:
        assert_error(server.post(f"/v1/tickets/{t}/compensations", json=body), status, code)
    assert_error(server.post("/v1/tickets/999999/compensations", json={"kind": "points", "points": 5, "reason": "x"}),
                 404, "not_found")
    anonymous = insert_ticket(server, "2026-11-24T10:00:00Z")
    assert_error(server.post(f"/v1/tickets/{anonymous}/compensations",
                             json={"kind": "points", "points": 5, "reason": "x"}), 409, "ticket_without_member")
    for role in ("analyst", "integration"):
        assert_error(server.post(f"/v1/tickets/{t}/compensations", key=role,
                                 json={"kind": "points", "points": 5, "reason": "x"}), 403, "forbidden")
    assert server.db.counts(TABLES) == before
    assert_error(server.get("/v1/tickets/999999/compensations"), 404, "not_found")
    assert_error(server.get(f"/v1/tickets/{t}/compensations", key="analyst"), 403, "forbidden")
