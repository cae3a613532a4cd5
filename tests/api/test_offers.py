"""Members-only offers over HTTP: CRUD of /v1/offers, an offer's earning rule that earns only
for the offer's members (segment, tiers) inside its window, GET /v1/members/{id}/offers
listing exactly what a member can use now, and bad input that creates nothing.

Every offer here targets a segment on a city no other test uses, so a member sees only
its own test's offers; every rule's condition names a store of its own. Tiers and rewards
come from their APIs; a tier nobody reaches by buying is given to a member by setting
members.tier in SQL (the tier issue's upgrades are tested in test_tiers.py). Claiming an
offer's coupon: once, only for the members it is open to, never for a rule offer.
"""

import datetime

import pytest

from conftest import ROLES, assert_error, unique
from test_ledger_more import buy, execute

OFFER_KEYS = {"id", "name", "title", "description", "segment", "tiers", "starts_at", "ends_at",
              "rule_id", "reward_id", "active", "created_at", "updated_at"}
READERS = set(ROLES)
MANAGERS = {"admin", "manager"}
TABLES = ["offers", "audit_log", "earning_rules"]


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def days(n):
    """Now plus n days (n may be negative), as RFC 3339 text."""
    return iso(utc_now() + datetime.timedelta(days=n))


def city_of(marker):
    return f'city = "{marker}"'


@pytest.fixture
def rules(server):
    """rules(points) -> a new fixed-points rule on a store of its own: (rule, store). At the end,
    the offers carrying the test's rules are deleted, then the rules."""
    made = []

    def make(points=100):
        store = unique("st")
        r = server.post("/v1/rules", json={"name": unique("rule-"), "formula": "fixed", "fixed_points": points,
                                           "condition": f'store = "{store}"'})
        assert r.status_code == 201, r.text
        made.append(r.json()["id"])
        return r.json(), store

    yield make
    for rule_id in made:
        for (offer_id,) in server.db.rows(f"SELECT id FROM offers WHERE rule_id = {rule_id}"):
            assert server.delete(f"/v1/offers/{offer_id}").status_code == 200
        assert server.delete(f"/v1/rules/{rule_id}").status_code == 200


def make_offer(server, **fields):
    body = {"name": unique("offer-"), "title": "Double points", "starts_at": days(-1), "ends_at": days(2)}
    body.update(fields)
    r = server.post("/v1/offers", json=body)
    assert r.status_code == 201, r.text
    assert set(r.json()) == OFFER_KEYS, r.json()
    return r.json()


def make_tier(server):
    """A tier no purchase reaches (tests give it to a member with set_tier)."""
    name = unique("tier-")
    rank = int(server.db.scalar("SELECT COALESCE(MAX(rank), 0) + 1 FROM tiers"))
    r = server.post("/v1/tiers", json={"name": name, "rank": rank, "metric": "spend", "threshold": 10 ** 12})
    assert r.status_code == 201, r.text
    return name


def make_reward(server):
    name = unique("reward-")
    r = server.post("/v1/rewards", json={"name": name, "kind": "amount_off", "cost_points": 0,
                                         "amount_off_cents": 500, "validity_days": 30})
    assert r.status_code == 201, r.text
    return r.json()["id"], name


def set_tier(server, member_id, tier):
    execute(server.db, f"UPDATE members SET tier = '{tier}' WHERE id = {int(member_id)}")


def earned(server, member_id, store, occurred_at=None):
    fields = {"store": store}
    if occurred_at:
        fields["occurred_at"] = occurred_at
    return buy(server, member_id, 5000, **fields)["points_earned"]


def offers_of(server, member_id, key="admin"):
    r = server.get(f"/v1/members/{member_id}/offers", key=key)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"member_id", "at", "data"}, r.json()
    return r.json()["data"]


# ---- CRUD ---------------------------------------------------------------------------------------

def test_offer_crud_and_roles(server, rules):
    rule, _ = rules()
    marker = unique("c")
    offer = make_offer(server, rule_id=rule["id"], segment=city_of(marker), description="this weekend")
    assert (offer["rule_id"], offer["reward_id"], offer["active"], offer["tiers"]) == (rule["id"], None, True, None)
    for role in ROLES:
        r = server.get(f"/v1/offers/{offer['id']}", key=role)
        assert r.status_code == 200 and r.json() == offer, r.text
        assert offer["id"] in [o["id"] for o in server.get("/v1/offers", key=role).json()["data"]]
        r = server.patch(f"/v1/offers/{offer['id']}", json={"title": f"by {role}"}, key=role)
        if role in MANAGERS:
            assert r.status_code == 200 and r.json()["title"] == f"by {role}", r.text
            offer = r.json()
        else:
            assert_error(r, 403, "forbidden")
        if role not in MANAGERS:
            assert_error(server.post("/v1/offers", json={}, key=role), 403, "forbidden")
            assert_error(server.delete(f"/v1/offers/{offer['id']}", key=role), 403, "forbidden")
    assert server.db.count("audit_log", f"entity = 'offer' AND entity_id = {offer['id']}") == 1 + len(MANAGERS)
    assert_error(server.delete(f"/v1/rules/{rule['id']}"), 409, "rule_in_offer")
    r = server.delete(f"/v1/offers/{offer['id']}")
    assert r.status_code == 200, r.text
    assert_error(server.get(f"/v1/offers/{offer['id']}"), 404, "not_found")
    assert_error(server.delete(f"/v1/offers/{offer['id']}"), 404, "not_found")
    assert server.get(f"/v1/rules/{rule['id']}").json()["active"] is False, "the offer's rule was switched off"


# ---- earning through an offer ---------------------------------------------------------------------

def test_an_offer_rule_earns_only_for_its_segment_inside_its_window(server, rules):
    rule, store = rules(100)
    marker = unique("c")
    make_offer(server, rule_id=rule["id"], segment=city_of(marker), starts_at=days(-10), ends_at=days(-2))
    inside = server.create_member(address={"city": marker})
    outside = server.create_member(address={"city": unique("elsewhere")})
    assert earned(server, inside["id"], store, days(-5)) == 100
    assert earned(server, outside["id"], store, days(-5)) == 0, "a member outside the segment"
    assert earned(server, inside["id"], store, days(-12)) == 0, "before the offer starts"
    assert earned(server, inside["id"], store) == 0, "after the offer ends"


def test_an_offer_rule_earns_only_for_its_tiers(server, rules):
    rule, store = rules(70)
    gold, silver = make_tier(server), make_tier(server)
    marker = unique("c")
    offer = make_offer(server, rule_id=rule["id"], segment=city_of(marker), tiers=[gold])
    assert offer["tiers"] == [gold]
    golden = server.create_member(address={"city": marker})
    plain = server.create_member(address={"city": marker})
    untiered = server.create_member(address={"city": marker})
    set_tier(server, golden["id"], gold)
    set_tier(server, plain["id"], silver)
    assert earned(server, golden["id"], store) == 70
    assert earned(server, plain["id"], store) == 0, "a member of another tier"
    assert earned(server, untiered["id"], store) == 0, "a member of no tier"
    both = make_offer(server, rule_id=rules(30)[0]["id"], tiers=[gold, silver], segment=city_of(marker))
    assert both["tiers"] == [gold, silver]


def test_changing_the_offer_changes_earning_at_once(server, rules):
    rule, store = rules(40)
    marker = unique("c")
    offer = make_offer(server, rule_id=rule["id"], segment=city_of(marker))
    m = server.create_member(address={"city": marker})
    assert earned(server, m["id"], store) == 40
    assert server.patch(f"/v1/offers/{offer['id']}", json={"active": False}).status_code == 200
    assert earned(server, m["id"], store) == 0, "an inactive offer's rule earns for nobody"
    assert server.patch(f"/v1/offers/{offer['id']}", json={"active": True, "segment": None}).status_code == 200
    other = server.create_member(address={"city": unique("elsewhere")})
    assert earned(server, other["id"], store) == 40, "no segment: every member"
    assert server.delete(f"/v1/offers/{offer['id']}").status_code == 200
    assert earned(server, m["id"], store) == 0, "deleting the offer switched its rule off"


# ---- a member's offers -------------------------------------------------------------------------------

def test_a_member_sees_exactly_their_offers(server, rules):
    marker = unique("c")
    gold = make_tier(server)
    seg = city_of(marker)
    reward_id, reward_name = make_reward(server)
    rule, _ = rules(10)
    now_rule = make_offer(server, rule_id=rule["id"], segment=seg)
    now_reward = make_offer(server, reward_id=reward_id, segment=seg, title="5 off")
    claimed = make_offer(server, reward_id=reward_id, segment=seg)
    gold_only = make_offer(server, reward_id=reward_id, segment=seg, tiers=[gold])
    make_offer(server, reward_id=reward_id, segment=seg, starts_at=days(-5), ends_at=days(-1))   # ended
    make_offer(server, reward_id=reward_id, segment=seg, starts_at=days(1), ends_at=days(3))     # not yet
    make_offer(server, reward_id=reward_id, segment=seg, active=False)                           # inactive
    make_offer(server, reward_id=reward_id, segment=f"{seg} and purchases_count > 5")             # not them
    m = server.create_member(address={"city": marker})
    execute(server.db, "INSERT INTO offer_claims (offer_id, member_id, coupon_id, claimed_at)"
                       f" VALUES ({claimed['id']}, {m['id']}, 1, 0)")
    got = offers_of(server, m["id"])
    assert [o["id"] for o in got] == [now_rule["id"], now_reward["id"], claimed["id"]]
    by_id = {o["id"]: o for o in got}
    assert by_id[now_rule["id"]]["carries"] == {
        "kind": "rule", "rule": {"id": rule["id"], "name": rule["name"], "formula": "fixed", "points_per_unit": 0,
                                 "unit_cents": 100, "fixed_points": 10, "multiplier_permille": 1000}}
    carried = by_id[now_reward["id"]]["carries"]
    assert carried["kind"] == "reward" and carried["claimed"] is False and carried["claimed_at"] is None
    assert carried["reward"]["id"] == reward_id and carried["reward"]["name"] == reward_name
    assert carried["reward"]["amount_off_cents"] == 500
    assert by_id[claimed["id"]]["carries"]["claimed"] is True
    set_tier(server, m["id"], gold)
    assert gold_only["id"] in [o["id"] for o in offers_of(server, m["id"], key="agent")]
    other = server.create_member(address={"city": unique("elsewhere")})
    assert [o for o in offers_of(server, other["id"]) if o["segment"] == seg] == []
    assert server.patch(f"/v1/members/{m['id']}", json={"status": "suspended"}).status_code == 200
    assert offers_of(server, m["id"]) == [], "a member who is not active can use nothing"
    assert_error(server.get("/v1/members/987654321/offers"), 404, "not_found")


@pytest.mark.parametrize("role", ROLES)
def test_member_offers_read_by_every_role(server, role):
    m = server.create_member()
    assert isinstance(offers_of(server, m["id"], key=role), list)


# ---- bad input -----------------------------------------------------------------------------------------

def test_bad_offers_create_nothing(server, rules):
    rule, _ = rules()
    reward_id, _ = make_reward(server)
    taken = make_offer(server, reward_id=reward_id, segment=city_of(unique("c")))
    carried = rules()[0]
    make_offer(server, rule_id=carried["id"], segment=city_of(unique("c")))
    base = {"name": unique("offer-"), "title": "t", "starts_at": days(0), "ends_at": days(1), "rule_id": rule["id"]}
    cases = [
        ({"segment": "cty = \"x\""}, 400, "invalid_expression", "line 1, col 1"),
        ({"segment": "purchases_count >"}, 400, "invalid_expression", "line 1, col"),
        ({"segment": "amount_cents > 5"}, 400, "invalid_expression", "amount_cents"),
        ({"segment": 5}, 400, "invalid_field", "segment"),
        ({"ends_at": days(-1)}, 400, "invalid_field", "ends_at must come after starts_at"),
        ({"ends_at": base["starts_at"]}, 400, "invalid_field", "ends_at must come after starts_at"),
        ({"starts_at": "soon"}, 400, "invalid_field", "starts_at"),
        ({"reward_id": reward_id}, 400, "invalid_field", "exactly one of rule_id"),
        ({"rule_id": None}, 400, "invalid_field", "exactly one of rule_id"),
        ({"rule_id": 987654321}, 400, "unknown_rule", "987654321"),
        ({"rule_id": None, "reward_id": 987654321}, 400, "unknown_reward", "987654321"),
        ({"rule_id": "1"}, 400, "invalid_field", "rule_id"),
        ({"tiers": []}, 400, "invalid_field", "tiers"),
        ({"tiers": "gold"}, 400, "invalid_field", "tiers"),
        ({"tiers": [unique("no-such-tier")]}, 400, "unknown_tier", "no tier named"),
        ({"title": ""}, 400, "invalid_field", "title"),
        ({"name": None}, 400, "invalid_field", "name"),
        ({"active": "yes"}, 400, "invalid_field", "active"),
        ({"segmnt": "tier = \"x\""}, 400, "unknown_field", "segment"),
        ({"rule_id": carried["id"]}, 409, "rule_in_offer", "another offer"),
        ({"name": taken["name"], "rule_id": None, "reward_id": reward_id}, 409, "duplicate_offer_name",
         taken["name"]),
    ]
    for change, status, code, words in cases:
        body = dict(base, **change)
        before = server.db.counts(TABLES)
        r = server.post("/v1/offers", json=body)
        assert_error(r, status, code)
        assert words in r.json()["error"]["message"], (change, r.text)
        assert server.db.counts(TABLES) == before, change
    before = server.db.counts(TABLES)
    assert_error(server.patch(f"/v1/offers/{taken['id']}", json={"ends_at": days(-3)}), 400, "invalid_field")
    assert_error(server.patch(f"/v1/offers/{taken['id']}", json={}), 400, "empty_patch")
    assert_error(server.patch(f"/v1/offers/{taken['id']}", json={"id": 5}), 400, "unknown_field")
    assert_error(server.post("/v1/offers", json=[1]), 400, "invalid_body")
    assert server.db.counts(TABLES) == before
    assert server.get(f"/v1/offers/{taken['id']}").json() == taken


# ---- claiming an offer's coupon ---------------------------------------------------------------

def claim(server, member_id, offer_id, idem=None, key="admin"):
    return server.post(f"/v1/members/{member_id}/offers/{offer_id}/claim", key=key,
                       headers={"Idempotency-Key": idem or unique("claim-")})


def test_claiming_an_offer_issues_one_free_coupon(server, rules):
    marker = unique("c")
    reward_id, _ = make_reward(server)
    offer = make_offer(server, reward_id=reward_id, segment=city_of(marker))
    m = server.create_member(address={"city": marker})
    r = claim(server, m["id"], offer["id"], idem="claim-once")
    assert r.status_code == 201, r.text
    coupon = r.json()["coupon"]
    assert (coupon["source"], coupon["source_id"], coupon["points_cost"], coupon["status"]) == (
        "offer", offer["id"], 0, "issued")
    assert coupon["reward"]["id"] == reward_id and coupon["member_id"] == m["id"]
    assert server.get(f"/v1/coupons/{coupon['code']}").json()["usable"] is True
    # The same request again answers the same; another is refused and issues nothing.
    again = claim(server, m["id"], offer["id"], idem="claim-once")
    assert again.status_code == 201 and again.json() == r.json()
    assert_error(claim(server, m["id"], offer["id"]), 409, "offer_claimed")
    assert server.db.count("coupons", f"member_id = {m['id']}") == 1
    listed = [o for o in offers_of(server, m["id"]) if o["id"] == offer["id"]][0]
    assert listed["carries"]["claimed"] is True
    assert server.db.count("audit_log", f"action = 'offer.claim' AND entity_id = {offer['id']}") == 1
    # A claimed offer is kept: deactivate it instead.
    assert_error(server.delete(f"/v1/offers/{offer['id']}"), 409, "offer_claimed")


def test_an_offer_is_claimed_only_by_its_members_now(server, rules):
    marker = unique("c")
    reward_id, _ = make_reward(server)
    offer = make_offer(server, reward_id=reward_id, segment=city_of(marker))
    ended = make_offer(server, reward_id=reward_id, segment=city_of(marker), starts_at=days(-5), ends_at=days(-1))
    rule, _ = rules(10)
    rule_offer = make_offer(server, rule_id=rule["id"], segment=city_of(marker))
    outsider = server.create_member(address={"city": unique("elsewhere")})
    member = server.create_member(address={"city": marker})
    before = server.db.count("coupons")
    assert_error(claim(server, outsider["id"], offer["id"]), 409, "offer_not_for_member")
    assert_error(claim(server, member["id"], ended["id"]), 409, "offer_not_for_member")
    assert_error(claim(server, member["id"], rule_offer["id"]), 409, "offer_not_claimable")
    assert_error(claim(server, member["id"], 987654321), 404, "offer_not_found")
    assert_error(claim(server, 987654321, offer["id"]), 404, "not_found")
    assert_error(claim(server, member["id"], offer["id"], key="agent"), 403, "forbidden")
    r = server.post(f"/v1/members/{member['id']}/offers/{offer['id']}/claim")
    assert_error(r, 400, "idempotency_key_required")
    assert server.db.count("coupons") == before
    assert server.db.count("offer_claims", f"member_id = {member['id']}") == 0

