"""The rewards catalog and its coupons over HTTP, on both engines: catalog CRUD and its
validation per kind, redemptions (exact spend, one coupon per Idempotency-Key, insufficient
points, per-member limit, minimum tier, inactive rewards and members, 16 concurrent
redemptions of the last unit), checking, using (idempotent by order id, double use refused),
voiding (points and stock back), the coupons_expire job with and without refunds, roles,
and bad input that changes nothing.

Tiers have no API on this branch yet: tier-gated tests insert a tier and a member_tiers row
straight into the database (`db_exec`), as the tiers API will.
"""

import datetime
import re
import uuid

import pytest

from conftest import assert_error, run_patron, unique
from test_ledger_more import execute as db_exec, race

CODE = re.compile(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}")
REWARD_KEYS = {"id", "name", "description", "kind", "cost_points", "amount_off_cents", "percent_off",
               "sku", "min_tier", "stock", "validity_days", "per_member_limit", "active",
               "created_at", "updated_at"}
COUPON_KEYS = {"id", "code", "member_id", "reward", "source", "source_id", "points_cost", "status",
               "usable", "issued_at", "expires_at", "used_order_id", "closed_at"}
# Tables a redemption or a coupon change may touch, for "changes nothing" checks.
TABLES = ["rewards", "coupons", "transfers", "points_lots", "member_events", "audit_log",
          "idempotency_keys"]


# ---- helpers ------------------------------------------------------------------------------------

def make_reward(server, **fields):
    body = {"name": unique("reward-"), "kind": "gift", "cost_points": 100}
    body.update(fields)
    r = server.post("/v1/rewards", json=body)
    assert r.status_code == 201, r.text
    reward = r.json()
    assert set(reward) == REWARD_KEYS, reward
    return reward


def give_points(server, member_id, amount):
    r = server.post(f"/v1/members/{member_id}/points/adjustments", json={"points": amount, "reason": "test"},
                    headers={"Idempotency-Key": unique("adj-")})
    assert r.status_code == 201 and r.json()["state"] == "applied", r.text


def member_with(server, amount):
    m = server.create_member()
    if amount:
        give_points(server, m["id"], amount)
    return m


def available(server, member_id):
    r = server.get(f"/v1/members/{member_id}/points")
    assert r.status_code == 200, r.text
    return r.json()["available"]


def redeem(server, member_id, reward_id, key="admin", idem=None):
    return server.post(f"/v1/members/{member_id}/redemptions", json={"reward_id": reward_id}, key=key,
                       headers={"Idempotency-Key": idem or unique("redeem-")})


def redeemed(server, member_id, reward_id):
    r = redeem(server, member_id, reward_id)
    assert r.status_code == 201, r.text
    coupon = r.json()
    assert set(coupon) == COUPON_KEYS, coupon
    return coupon


def void(server, code, idem=None):
    return server.post(f"/v1/coupons/{code}/void", headers={"Idempotency-Key": idem or unique("void-")})


def use(server, code, order_id):
    return server.post(f"/v1/coupons/{code}/use", json={"order_id": order_id}, key="integration")


def make_tier(server, rank):
    name = unique("Tier-")
    db_exec(server.db, "INSERT INTO tiers (name, rank, metric, threshold, window_months, created_at, updated_at)"
                       f" VALUES ('{name}', {rank}, 'spend', 0, 12, 0, 0)")
    return name, server.db.scalar(f"SELECT id FROM tiers WHERE name = '{name}'")


def set_tier(server, member_id, tier_id):
    db_exec(server.db, f"INSERT INTO member_tiers (member_id, tier_id, since) VALUES ({member_id}, {tier_id}, 0)")


def unique_rank():
    return 1000 + uuid.uuid4().int % 1000000000


def coupon_count(server, member_id, where="1 = 1"):
    return server.db.count("coupons", f"member_id = {member_id} AND {where}")


def iso_in(days):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the catalog --------------------------------------------------------------------------------

def test_reward_kinds_take_their_own_figure(server):
    a = make_reward(server, kind="amount_off", amount_off_cents=500, cost_points=300, description="5 off")
    assert (a["kind"], a["amount_off_cents"], a["percent_off"], a["sku"]) == ("amount_off", 500, None, None)
    p = make_reward(server, kind="percent_off", percent_off=15, stock=10, per_member_limit=2)
    assert (p["percent_off"], p["stock"], p["per_member_limit"]) == (15, 10, 2)
    f = make_reward(server, kind="free_product", sku="PLT-BASIL", validity_days=30)
    assert (f["sku"], f["validity_days"]) == ("PLT-BASIL", 30)
    g = make_reward(server)
    assert g["active"] is True and g["min_tier"] is None and g["stock"] is None
    assert server.get(f"/v1/rewards/{a['id']}", key="agent").json() == a
    listed = {r["id"]: r for r in server.get("/v1/rewards", key="analyst").json()["data"]}
    assert listed[p["id"]] == p and listed[f["id"]] == f
    assert server.db.count("audit_log", f"action = 'reward.create' AND entity_id = {a['id']}") == 1


@pytest.mark.parametrize("body, code, words", [
    ({"kind": "gift"}, "invalid_field", "cost_points is required"),
    ({"cost_points": 1}, "invalid_field", "kind is required"),
    ({"kind": "voucher", "cost_points": 1}, "invalid_field", "kind must be one of"),
    ({"kind": "amount_off", "cost_points": 1}, "invalid_field", "amount_off_cents"),
    ({"kind": "amount_off", "cost_points": 1, "amount_off_cents": 0}, "invalid_field", "amount_off_cents"),
    ({"kind": "percent_off", "cost_points": 1, "percent_off": 101}, "invalid_field", "percent_off"),
    ({"kind": "free_product", "cost_points": 1}, "invalid_field", "sku"),
    ({"kind": "gift", "cost_points": 1, "sku": "X"}, "invalid_field", "takes no sku"),
    ({"kind": "gift", "cost_points": -1}, "invalid_field", "cost_points"),
    ({"kind": "gift", "cost_points": 1, "stock": -1}, "invalid_field", "stock"),
    ({"kind": "gift", "cost_points": 1, "validity_days": 0}, "invalid_field", "validity_days"),
    ({"kind": "gift", "cost_points": 1, "min_tier": "Nowhere"}, "invalid_field", "no tiers is named"),
    ({"kind": "gift", "cost_points": 1, "colour": "red"}, "unknown_field", "colour"),
    ({"kind": "gift", "cost_point": 1}, "unknown_field", "did you mean 'cost_points'"),
])
def test_bad_rewards_are_refused_and_change_nothing(server, body, code, words):
    body = dict(body, name=unique("bad-"))
    before = server.db.counts(TABLES)
    r = server.post("/v1/rewards", json=body)
    assert_error(r, 400, code)
    assert words in r.json()["error"]["message"], r.text
    assert server.db.counts(TABLES) == before


def test_reward_patch_delete_and_names(server):
    r = make_reward(server, kind="percent_off", percent_off=10)
    assert_error(server.post("/v1/rewards", json={"name": r["name"], "kind": "gift", "cost_points": 1}), 409,
                 "duplicate_reward_name")
    changed = server.patch(f"/v1/rewards/{r['id']}", json={"percent_off": 20, "stock": 3})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["percent_off"], changed.json()["stock"]) == (20, 3)
    # Changing the kind needs the figures to follow (validated whole).
    assert_error(server.patch(f"/v1/rewards/{r['id']}", json={"kind": "gift"}), 400, "invalid_field")
    assert server.get(f"/v1/rewards/{r['id']}").json()["kind"] == "percent_off"
    assert_error(server.patch(f"/v1/rewards/{r['id']}", json={}), 400, "empty_patch")
    assert_error(server.patch("/v1/rewards/999999", json={"stock": 1}), 404, "not_found")
    gone = server.delete(f"/v1/rewards/{r['id']}")
    assert gone.status_code == 200 and gone.json()["deleted"] is True, gone.text
    assert_error(server.get(f"/v1/rewards/{r['id']}"), 404, "not_found")
    assert_error(server.delete(f"/v1/rewards/{r['id']}"), 404, "not_found")


def test_delete_deactivates_a_reward_coupons_point_at(server):
    r = make_reward(server, cost_points=10)
    m = member_with(server, 10)
    redeemed(server, m["id"], r["id"])
    gone = server.delete(f"/v1/rewards/{r['id']}")
    assert gone.status_code == 200, gone.text
    assert gone.json()["deleted"] is False and gone.json()["active"] is False
    assert server.get(f"/v1/rewards/{r['id']}").json()["active"] is False
    assert server.db.count("audit_log", f"action = 'reward.deactivate' AND entity_id = {r['id']}") == 1


@pytest.mark.parametrize("role", ["supervisor", "agent", "analyst", "integration"])
def test_only_managers_change_the_catalog(server, role):
    r = make_reward(server)
    assert_error(server.post("/v1/rewards", json={"name": unique(), "kind": "gift", "cost_points": 1}, key=role),
                 403, "forbidden")
    assert_error(server.patch(f"/v1/rewards/{r['id']}", json={"stock": 1}, key=role), 403, "forbidden")
    assert server.get(f"/v1/rewards/{r['id']}", key=role).status_code == 200


# ---- redemptions --------------------------------------------------------------------------------

def test_redemption_spends_exactly_the_cost_and_issues_one_coupon(server):
    r = make_reward(server, kind="amount_off", amount_off_cents=1000, cost_points=120, stock=5)
    m = member_with(server, 500)
    coupon = redeemed(server, m["id"], r["id"])
    assert CODE.fullmatch(coupon["code"]), coupon
    assert (coupon["member_id"], coupon["status"], coupon["usable"], coupon["points_cost"], coupon["source"]) \
        == (m["id"], "issued", True, 120, "redemption")
    assert coupon["reward"] == {"id": r["id"], "name": r["name"], "kind": "amount_off", "amount_off_cents": 1000,
                                "percent_off": None, "sku": None}
    issued = datetime.datetime.fromisoformat(coupon["issued_at"].replace("Z", "+00:00"))
    expires = datetime.datetime.fromisoformat(coupon["expires_at"].replace("Z", "+00:00"))
    assert expires - issued == datetime.timedelta(days=r["validity_days"])
    assert available(server, m["id"]) == 380
    statement = server.get(f"/v1/members/{m['id']}/points/history").json()["data"]
    assert statement[0]["kind"] == "spend" and statement[0]["points"] == 120, statement
    assert statement[0]["id"] == coupon["source_id"]
    assert r["name"] in statement[0]["reason"]
    assert coupon_count(server, m["id"]) == 1
    assert server.get(f"/v1/rewards/{r['id']}").json()["stock"] == 4
    assert server.db.count("member_events", f"member_id = {m['id']} AND kind = 'coupon_issued'") == 1
    assert server.db.count("audit_log", f"action = 'coupon.issue' AND entity_id = {coupon['id']}") == 1
    listed = server.get(f"/v1/members/{m['id']}/coupons", key="agent").json()
    assert listed["data"] == [coupon] and listed["next_before"] is None


def test_the_same_idempotency_key_twice_gives_one_coupon(server):
    r = make_reward(server, cost_points=50)
    m = member_with(server, 200)
    key = unique("redeem-")
    first = redeem(server, m["id"], r["id"], idem=key)
    second = redeem(server, m["id"], r["id"], idem=key)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json() == second.json()
    assert coupon_count(server, m["id"]) == 1
    assert available(server, m["id"]) == 150


def test_redemption_needs_an_idempotency_key(server):
    r = make_reward(server, cost_points=1)
    m = member_with(server, 10)
    before = server.db.counts(TABLES)
    resp = server.post(f"/v1/members/{m['id']}/redemptions", json={"reward_id": r["id"]})
    assert_error(resp, 400, "idempotency_key_required")
    assert server.db.counts(TABLES) == before


def test_insufficient_points_change_nothing(server):
    r = make_reward(server, cost_points=300, stock=2)
    m = member_with(server, 299)
    before = server.db.counts(TABLES)
    assert_error(redeem(server, m["id"], r["id"]), 409, "insufficient_points")
    assert server.db.counts(TABLES) == before
    assert available(server, m["id"]) == 299
    assert server.get(f"/v1/rewards/{r['id']}").json()["stock"] == 2


@pytest.mark.parametrize("body, code", [
    ({}, "invalid_field"),
    ({"reward_id": "7"}, "invalid_field"),
    ({"reward_id": 0}, "invalid_field"),
    ({"reward_id": 1, "points": 5}, "unknown_field"),
    ({"reward": 1}, "unknown_field"),
])
def test_bad_redemptions_change_nothing(server, body, code):
    m = member_with(server, 100)
    before = server.db.counts(TABLES)
    r = server.post(f"/v1/members/{m['id']}/redemptions", json=body, headers={"Idempotency-Key": unique()})
    assert_error(r, 400, code)
    assert server.db.counts(TABLES) == before


def test_unknown_inactive_reward_and_member_are_refused(server):
    m = member_with(server, 100)
    assert_error(redeem(server, m["id"], 99999999), 404, "reward_not_found")
    r = make_reward(server, cost_points=10)
    assert_error(redeem(server, 99999999, r["id"]), 404, "member_not_found")
    off = make_reward(server, cost_points=10, active=False)
    assert_error(redeem(server, m["id"], off["id"]), 409, "reward_inactive")
    suspended = member_with(server, 100)
    assert server.patch(f"/v1/members/{suspended['id']}", json={"status": "suspended"}).status_code == 200
    before = server.db.counts(TABLES)
    assert_error(redeem(server, suspended["id"], r["id"]), 409, "member_inactive")
    assert server.db.counts(TABLES) == before
    assert available(server, m["id"]) == 100


def test_per_member_limit_counts_coupons_not_voided(server):
    r = make_reward(server, cost_points=10, per_member_limit=2)
    m = member_with(server, 100)
    other = member_with(server, 100)
    first = redeemed(server, m["id"], r["id"])
    redeemed(server, m["id"], r["id"])
    before = server.db.counts(TABLES)
    assert_error(redeem(server, m["id"], r["id"]), 409, "limit_reached")
    assert server.db.counts(TABLES) == before
    redeemed(server, other["id"], r["id"])  # the limit is per member
    assert void(server, first["code"]).status_code == 200
    redeemed(server, m["id"], r["id"])  # a voided coupon no longer counts
    assert coupon_count(server, m["id"], "status <> 'voided'") == 2
    assert available(server, m["id"]) == 80


def test_min_tier_gates_a_reward(server):
    silver_name, silver = make_tier(server, unique_rank())
    gold_name, gold = make_tier(server, unique_rank() + 1000000000)
    r = make_reward(server, cost_points=10, min_tier=gold_name)
    assert r["min_tier"] == gold_name
    assert server.db.scalar(f"SELECT min_tier_id FROM rewards WHERE id = {r['id']}") == gold
    nobody, low, high = member_with(server, 50), member_with(server, 50), member_with(server, 50)
    set_tier(server, low["id"], silver)
    set_tier(server, high["id"], gold)
    for m in (nobody, low):
        resp = redeem(server, m["id"], r["id"])
        assert_error(resp, 409, "tier_required")
        assert gold_name in resp.json()["error"]["message"]
        assert available(server, m["id"]) == 50
    redeemed(server, high["id"], r["id"])
    assert available(server, high["id"]) == 40
    cleared = server.patch(f"/v1/rewards/{r['id']}", json={"min_tier": None})
    assert cleared.status_code == 200 and cleared.json()["min_tier"] is None
    redeemed(server, nobody["id"], r["id"])


@pytest.mark.parametrize("buyers", ["sixteen members", "one member"])
def test_concurrent_redemptions_of_the_last_unit_one_wins(server, buyers):
    """16 redemptions of the last unit at once, by 16 members (the stock row is the contention)
    or by one member holding points for all (their balance row is too): exactly one wins."""
    count = 16
    r = make_reward(server, cost_points=25, stock=1)
    if buyers == "one member":
        members = [member_with(server, 25 * count)] * count
    else:
        members = [member_with(server, 100) for _ in range(count)]
    before = {m["id"]: available(server, m["id"]) for m in members}
    results = race(server, [("POST", f"/v1/members/{m['id']}/redemptions", "integration", {"reward_id": r["id"]},
                             {"Idempotency-Key": unique("race-")}) for m in members])
    winners = [i for i, (status, _) in enumerate(results) if status == 201]
    losers = [body for status, body in results if status != 201]
    assert len(winners) == 1, results
    assert len(losers) == count - 1
    assert all(body["error"]["code"] == "out_of_stock" for body in losers), losers
    assert server.get(f"/v1/rewards/{r['id']}").json()["stock"] == 0
    assert server.db.count("coupons", f"reward_id = {r['id']}") == 1
    ids = ", ".join(str(m_id) for m_id in before)
    assert server.db.count("transfers", f"kind = 'spend' AND member_id IN ({ids})") == 1, "points charged once"
    winner = members[winners[0]]["id"]
    for m_id, points in before.items():
        assert available(server, m_id) == (points - 25 if m_id == winner else points)


# ---- coupons ------------------------------------------------------------------------------------

def test_check_use_and_double_use(server):
    r = make_reward(server, kind="free_product", sku="PLT-OLIVE", cost_points=40)
    m = member_with(server, 40)
    coupon = redeemed(server, m["id"], r["id"])
    code = coupon["code"]
    checked = server.get(f"/v1/coupons/{code}", key="integration")
    assert checked.status_code == 200 and checked.json() == coupon
    typed = server.get(f"/v1/coupons/{code.lower().replace('-', '')}")  # as a person types it
    assert typed.status_code == 200 and typed.json()["id"] == coupon["id"]
    order = unique("order-")
    first = use(server, code, order)
    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["usable"], first.json()["used_order_id"]) == ("used", False, order)
    again = use(server, code, order)
    assert again.status_code == 200 and again.json() == first.json()
    before = server.db.counts(TABLES)
    assert_error(use(server, code, unique("order-")), 409, "coupon_used")
    assert_error(void(server, code), 409, "coupon_used")
    assert server.db.counts(TABLES) == before
    assert server.get(f"/v1/coupons/{code}").json() == first.json()
    assert server.db.count("member_events", f"member_id = {m['id']} AND kind = 'coupon_used'") == 1
    assert server.db.count("audit_log", f"action = 'coupon.use' AND entity_id = {coupon['id']}") == 1
    used = server.get(f"/v1/members/{m['id']}/coupons?status=used").json()["data"]
    assert [c["id"] for c in used] == [coupon["id"]]
    assert server.get(f"/v1/members/{m['id']}/coupons?status=issued").json()["data"] == []
    assert available(server, m["id"]) == 0


@pytest.mark.parametrize("code", ["NOPE-NOPE-NOPE", "AAAA-AAAA-AAAA", "short", "0000-0000-0000"])
def test_unknown_codes_are_not_found(server, code):
    assert_error(server.get(f"/v1/coupons/{code}"), 404, "coupon_not_found")
    assert_error(use(server, code, "o-1"), 404, "coupon_not_found")
    assert_error(void(server, code), 404, "coupon_not_found")


def test_use_refuses_bad_bodies(server):
    m = member_with(server, 10)
    coupon = redeemed(server, m["id"], make_reward(server, cost_points=10)["id"])
    for body, code in [({}, "invalid_field"), ({"order_id": ""}, "invalid_field"), ({"order_id": 5}, "invalid_field"),
                       ({"order_id": "o", "member": 1}, "unknown_field")]:
        assert_error(server.post(f"/v1/coupons/{coupon['code']}/use", json=body), 400, code)
    assert server.get(f"/v1/coupons/{coupon['code']}").json()["status"] == "issued"
    assert_error(server.get(f"/v1/members/{m['id']}/coupons?status=lost"), 400, "invalid_query")
    assert_error(server.get("/v1/members/99999999/coupons"), 404, "member_not_found")


def test_void_gives_points_and_stock_back(server):
    r = make_reward(server, cost_points=70, stock=5)
    m = member_with(server, 100)
    coupon = redeemed(server, m["id"], r["id"])
    assert available(server, m["id"]) == 30
    assert_error(server.post(f"/v1/coupons/{coupon['code']}/void"), 400, "idempotency_key_required")
    key = unique("void-")
    voided = void(server, coupon["code"], idem=key)
    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["usable"]) == ("voided", False)
    assert void(server, coupon["code"], idem=key).json() == voided.json()  # a retry replays
    assert available(server, m["id"]) == 100
    assert server.get(f"/v1/rewards/{r['id']}").json()["stock"] == 5
    assert server.db.count("transfers", f"idem_key = 'coupon:{coupon['id']}:void:adjust' AND points = 70") == 1
    assert_error(void(server, coupon["code"]), 409, "coupon_voided")
    assert_error(use(server, coupon["code"], "o-1"), 409, "coupon_voided")
    assert available(server, m["id"]) == 100
    assert server.db.count("member_events", f"member_id = {m['id']} AND kind = 'coupon_voided'") == 1
    assert server.db.count("audit_log", f"action = 'coupon.void' AND entity_id = {coupon['id']}") == 1


def test_a_merge_moves_coupons_to_the_survivor(server):
    r = make_reward(server, cost_points=60)
    dup, keep = member_with(server, 100), member_with(server, 10)
    coupon = redeemed(server, dup["id"], r["id"])
    merged = server.post(f"/v1/members/{dup['id']}/merge", json={"into": keep["id"]},
                         headers={"Idempotency-Key": unique("merge-")})
    assert merged.status_code == 200, merged.text
    assert server.get(f"/v1/coupons/{coupon['code']}").json()["member_id"] == keep["id"]
    assert available(server, keep["id"]) == 50
    assert void(server, coupon["code"]).status_code == 200  # the points go back to whoever holds the coupon
    assert available(server, keep["id"]) == 110


def test_a_coupon_past_its_date_is_refused(server):
    m = member_with(server, 10)
    coupon = redeemed(server, m["id"], make_reward(server, cost_points=10)["id"])
    db_exec(server.db, f"UPDATE coupons SET expires_at = 1000 WHERE id = {coupon['id']}")
    assert server.get(f"/v1/coupons/{coupon['code']}").json()["usable"] is False
    assert_error(use(server, coupon["code"], "o-1"), 409, "coupon_expired")
    assert_error(void(server, coupon["code"]), 409, "coupon_expired")
    assert available(server, m["id"]) == 0


def program_refund(server, refund):
    r = server.patch("/v1/program", json={"coupon_expiry_refund": refund})
    assert r.status_code == 200 and r.json()["coupon_expiry_refund"] is refund, r.text


def test_expiry_job_without_and_with_refund(server):
    r = make_reward(server, cost_points=30, stock=10, validity_days=1)
    m = member_with(server, 100)
    kept = redeemed(server, m["id"], r["id"])
    program_refund(server, False)
    try:
        out = run_patron("jobs", "run", "coupons_expire", "--at", iso_in(0.5), "--db", server.db.url)
        assert server.get(f"/v1/coupons/{kept['code']}").json()["status"] == "issued", out.stdout  # not yet
        run_patron("jobs", "run", "coupons_expire", "--at", iso_in(2), "--db", server.db.url)
        gone = server.get(f"/v1/coupons/{kept['code']}").json()
        assert gone["status"] == "expired" and gone["closed_at"] is not None
        assert available(server, m["id"]) == 70, "no refund under coupon_expiry_refund false"
        assert server.get(f"/v1/rewards/{r['id']}").json()["stock"] == 10
        assert_error(use(server, kept["code"], "o-1"), 409, "coupon_expired")

        program_refund(server, True)
        back = redeemed(server, m["id"], r["id"])
        assert available(server, m["id"]) == 40
        for _ in range(2):  # the second run finds nothing: exactly once
            run_patron("jobs", "run", "coupons_expire", "--at", iso_in(2), "--db", server.db.url)
            assert server.get(f"/v1/coupons/{back['code']}").json()["status"] == "expired"
            assert available(server, m["id"]) == 70
        assert server.db.count("transfers", f"idem_key = 'coupon:{back['id']}:expire:adjust'") == 1
        assert server.db.count("member_events", f"member_id = {m['id']} AND kind = 'coupon_expired'") == 2
    finally:
        program_refund(server, False)


@pytest.mark.parametrize("role", ["manager", "supervisor", "agent", "analyst"])
def test_only_the_shop_redeems_uses_and_voids(server, role):
    r = make_reward(server, cost_points=10)
    m = member_with(server, 10)
    assert_error(redeem(server, m["id"], r["id"], key=role), 403, "forbidden")
    coupon = redeemed(server, m["id"], r["id"])
    assert_error(server.post(f"/v1/coupons/{coupon['code']}/use", json={"order_id": "o"}, key=role), 403,
                 "forbidden")
    assert_error(server.post(f"/v1/coupons/{coupon['code']}/void", key=role,
                             headers={"Idempotency-Key": unique()}), 403, "forbidden")
    assert server.get(f"/v1/coupons/{coupon['code']}", key=role).status_code == 200
    assert server.get(f"/v1/members/{m['id']}/coupons", key=role).status_code == 200


def test_usable_coupons_and_ledger_stay_consistent(server):
    """After everything above, the ledger's own invariants hold for every member."""
    proc = run_patron("ledger", "verify", "--db", server.db.url, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
