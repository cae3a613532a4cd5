"""Tiers over HTTP: the catalogue of levels (validation, conflicts, roles), moving up
at once when a purchase qualifies, the earn multiplier on top of the rules, progress
told on the metric, and the review job moving members down only after their grace
(driven by `patron jobs run tiers_review --at`). On both engines.

Tiers are global to a server, so this module's server gets one ladder (Silver, Gold,
Platinum with a condition) before its first test; every test works on its own members.
"""

import datetime

import pytest

from conftest import assert_error, run_patron, unique
from test_ledger import add_months_midnight, buy, iso, make_rule, noon, utc_now  # noqa: F401 (fixture)

TIER_KEYS = {"id", "name", "rank", "metric", "threshold", "window_months", "condition",
             "multiplier_permille", "grace_days", "created_at", "updated_at"}
SILVER_CENTS = 10000   # 100.00 over 12 months
GOLD_CENTS = 50000     # 500.00 over 12 months
PLATINUM_PURCHASES = 3


@pytest.fixture(scope="module")
def ladder(server):
    """Silver (spend 100.00, 30 days of grace), Gold (spend 500.00, x1.5 points, no grace),
    Platinum (3 purchases in 6 months, only for members who consent to email)."""
    tiers = {}
    for body in ({"name": "Silver", "rank": 1, "metric": "spend", "threshold": SILVER_CENTS,
                  "grace_days": 30},
                 {"name": "Gold", "rank": 2, "metric": "spend", "threshold": GOLD_CENTS,
                  "multiplier_permille": 1500},
                 {"name": "Platinum", "rank": 3, "metric": "purchases",
                  "threshold": PLATINUM_PURCHASES, "window_months": 6,
                  "condition": "consent_email = true"}):
        r = server.post("/v1/tiers", json=body)
        assert r.status_code == 201, r.text
        tiers[body["name"]] = r.json()
    return tiers


def tier_of(server, member_id):
    r = server.get(f"/v1/members/{member_id}/tier")
    assert r.status_code == 200, r.text
    return r.json()


def review(server, at):
    out = run_patron("jobs", "run", "tiers_review", "--at", iso(at), "--db", server.db.url).stdout
    return out


def day(moment):
    return moment.strftime("%Y-%m-%d")


# ---- the catalogue ------------------------------------------------------------------------------

def test_ladder_is_listed_in_rank_order(server, ladder):
    r = server.get("/v1/tiers", key="agent")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [t["name"] for t in data] == ["Silver", "Gold", "Platinum"]
    assert all(set(t) == TIER_KEYS for t in data)
    gold = ladder["Gold"]
    assert (gold["window_months"], gold["multiplier_permille"], gold["grace_days"]) == (12, 1500, 0)
    assert server.get(f"/v1/tiers/{gold['id']}").json() == gold


@pytest.mark.parametrize("body, code, needle", [
    ({"name": "X", "rank": 9, "metric": "visits", "threshold": 1}, "invalid_field", "metric"),
    ({"name": "X", "rank": 9, "metric": "spend", "threshold": -1}, "invalid_field", "threshold"),
    ({"name": "X", "rank": 0, "metric": "spend", "threshold": 1}, "invalid_field", "rank"),
    ({"name": "X", "rank": 9, "metric": "spend", "threshold": 1, "multiplier_permille": 900},
     "invalid_field", "multiplier_permille"),
    ({"name": "X", "rank": 9, "metric": "spend", "threshold": 1, "window_months": 0},
     "invalid_field", "window_months"),
    ({"name": "", "rank": 9, "metric": "spend", "threshold": 1}, "invalid_field", "name"),
    ({"name": "X", "rank": 9, "metric": "spend", "threshold": 1, "colour": "red"},
     "unknown_field", "colour"),
    ({"name": "X", "rank": 9, "metric": "spend", "threshold": 1, "condition": "consent_emial = true"},
     "invalid_expression", "col 1"),
    ({"name": "X", "rank": 9, "metric": "spend", "threshold": 1, "condition": "total_spend_cents"},
     "invalid_expression", "condition"),
])
def test_bad_tiers_are_refused_and_change_nothing(server, ladder, body, code, needle):
    before = server.db.count("tiers")
    r = server.post("/v1/tiers", json=body)
    assert_error(r, 400, code)
    assert needle in r.json()["error"]["message"], r.text
    assert server.db.count("tiers") == before


def test_taken_name_or_rank_is_a_conflict(server, ladder):
    assert_error(server.post("/v1/tiers", json={"name": "Gold", "rank": 7, "metric": "spend", "threshold": 1}),
                 409, "duplicate_tier_name")
    assert_error(server.post("/v1/tiers", json={"name": "Bronze", "rank": 2, "metric": "spend", "threshold": 1}),
                 409, "duplicate_tier_rank")
    assert_error(server.patch(f"/v1/tiers/{ladder['Silver']['id']}", json={"rank": 2}), 409,
                 "duplicate_tier_rank")
    assert server.get(f"/v1/tiers/{ladder['Silver']['id']}").json()["rank"] == 1
    assert_error(server.patch("/v1/tiers/999999", json={"grace_days": 1}), 404, "not_found")


@pytest.mark.parametrize("role, allowed", [("admin", True), ("manager", True), ("agent", False),
                                           ("integration", False), ("analyst", False)])
def test_only_program_managers_change_tiers(server, ladder, role, allowed):
    name = unique("Tin-")
    r = server.post("/v1/tiers", key=role, json={"name": name, "rank": 20, "metric": "spend",
                                                  "threshold": 10 ** 11})
    if not allowed:
        assert_error(r, 403, "forbidden")
        return
    assert r.status_code == 201, r.text
    r = server.delete(f"/v1/tiers/{r.json()['id']}", key=role)
    assert r.status_code == 200, r.text


# ---- moving up -----------------------------------------------------------------------------------

def test_a_qualifying_purchase_moves_the_member_up_at_once(server, ladder):
    m = server.create_member()
    assert tier_of(server, m["id"])["tier"] is None
    buy(server, m["id"], SILVER_CENTS - 1)
    assert tier_of(server, m["id"])["tier"] is None
    buy(server, m["id"], 1)
    t = tier_of(server, m["id"])
    assert t["tier"]["name"] == "Silver"
    assert server.get(f"/v1/members/{m['id']}").json()["tier"] == "Silver"
    buy(server, m["id"], GOLD_CENTS)  # past Gold in one purchase: straight there
    t = tier_of(server, m["id"])
    assert t["tier"]["name"] == "Gold"
    assert [(h["from"], h["to"], h["reason"]) for h in t["history"]] == [
        ("Silver", "Gold", "qualified"), (None, "Silver", "qualified")]
    events = server.db.rows(f"SELECT payload FROM member_events WHERE member_id = {m['id']}"
                            " AND kind = 'tier_changed' ORDER BY id")
    assert len(events) == 2
    # Segments see it: the member's tier is an indexed column.
    r = server.post("/v1/segments/preview?limit=500",
                    json={"expression": f"tier = \"Gold\" and member_id = {m['id']}"})
    assert [x["id"] for x in r.json()["data"]] == [m["id"]]


def test_refunded_spend_does_not_count(server, ladder):
    m = server.create_member()
    p = buy(server, m["id"], SILVER_CENTS)
    assert tier_of(server, m["id"])["tier"]["name"] == "Silver"
    r = server.post(f"/v1/purchases/{p['id']}/refunds", json={"amount_cents": SILVER_CENTS},
                    headers={"Idempotency-Key": unique("refund-")})
    assert r.status_code == 201, r.text
    t = tier_of(server, m["id"])
    assert t["tier"]["name"] == "Silver"  # down only at the review
    assert t["keep"]["missing"] == SILVER_CENTS


def test_a_condition_gates_the_tier(server, ladder):
    shy = server.create_member(consent={"email": False})
    keen = server.create_member(consent={"email": True})
    for member in (shy, keen):
        for _ in range(PLATINUM_PURCHASES):
            buy(server, member["id"], 100)
    assert tier_of(server, shy["id"])["tier"] is None
    assert tier_of(server, shy["id"])["next"]["condition_met"] is True  # Silver is next, no condition
    assert tier_of(server, keen["id"])["tier"]["name"] == "Platinum"


def test_the_gold_multiplier_applies_on_top_of_the_rules(server, ladder, make_rule):
    store = unique("st")
    make_rule(condition=f'store = "{store}"', points_per_unit=1)  # 1 point a euro
    m = server.create_member()
    first = buy(server, m["id"], GOLD_CENTS, store=store)
    assert first["points_earned"] == GOLD_CENTS // 100  # the rules saw a member without a tier
    assert first["earning"]["tier"] is None
    second = buy(server, m["id"], 10001, store=store,
                 lines=[{"sku": "a", "quantity": 1, "amount_cents": 5001},
                        {"sku": "b", "quantity": 1, "amount_cents": 5000}])
    # 100 points from the rule, split 50/50 over the lines; Gold adds half of each, rounded down.
    assert second["earning"]["tier"] == {"name": "Gold", "points": 50}
    assert second["points_earned"] == 150
    r = server.get(f"/v1/purchases/{second['id']}")
    assert r.json()["points_earned"] == 150
    # A returned line takes back its own share, multiplier included.
    r = server.post(f"/v1/purchases/{second['id']}/refunds", json={"lines": [{"line": 0}]},
                    headers={"Idempotency-Key": unique("refund-")})
    assert r.status_code == 201, r.text
    assert r.json()["points_taken_back"] == 75


# ---- progress and the review ---------------------------------------------------------------------

def test_progress_is_told_on_the_metric(server, ladder):
    m = server.create_member()
    bought = noon(100)
    buy(server, m["id"], SILVER_CENTS + 2000, occurred_at=iso(bought))  # 120.00, 100 days ago
    t = tier_of(server, m["id"])
    assert t["tier"]["name"] == "Silver"
    last_day = add_months_midnight(bought, 12)  # the purchase counts through this day
    missing = GOLD_CENTS - SILVER_CENTS - 2000
    assert t["next"]["tier"] == "Gold" and t["next"]["missing"] == missing
    assert t["next"]["by"] == day(last_day)
    assert t["next"]["message"] == f"spend {missing // 100}.{missing % 100:02d} more by {day(last_day)} to reach Gold"
    # Silver is lost the day after the purchase leaves the window, plus 30 days of grace.
    lose = last_day + datetime.timedelta(days=1 + 30)
    assert t["keep"]["before"] == day(lose)
    assert t["keep"]["missing"] == SILVER_CENTS
    assert t["keep"]["message"] == f"keep Silver by spending 100.00 before {day(lose)}"


def test_review_moves_down_only_after_the_grace(server, ladder):
    m = server.create_member()
    bought = noon(360)
    buy(server, m["id"], SILVER_CENTS, occurred_at=iso(bought))
    assert tier_of(server, m["id"])["tier"]["name"] == "Silver"
    review(server, utc_now())  # still inside the window: nothing changes
    assert tier_of(server, m["id"])["grace_until"] is None

    outside = add_months_midnight(bought, 12) + datetime.timedelta(days=2, hours=12)
    review(server, outside)
    t = tier_of(server, m["id"])
    assert t["tier"]["name"] == "Silver" and t["grace_until"] is not None
    grace_end = datetime.datetime.fromisoformat(t["grace_until"].replace("Z", "+00:00"))
    assert grace_end == datetime.datetime.combine(outside.date() + datetime.timedelta(days=30),
                                                  datetime.time(), datetime.timezone.utc)
    review(server, grace_end - datetime.timedelta(hours=1))
    assert tier_of(server, m["id"])["tier"]["name"] == "Silver"
    review(server, grace_end + datetime.timedelta(hours=1))
    t = tier_of(server, m["id"])
    assert t["tier"] is None and t["grace_until"] is None
    assert (t["history"][0]["from"], t["history"][0]["to"], t["history"][0]["reason"]) == (
        "Silver", None, "grace")
    assert server.get(f"/v1/members/{m['id']}").json()["tier"] is None


def test_buying_again_during_the_grace_keeps_the_tier(server, ladder):
    m = server.create_member()
    buy(server, m["id"], SILVER_CENTS, occurred_at=iso(noon(364)))
    review(server, utc_now() + datetime.timedelta(days=3))
    assert tier_of(server, m["id"])["grace_until"] is not None
    buy(server, m["id"], SILVER_CENTS)  # qualifies again today
    assert tier_of(server, m["id"])["grace_until"] is None
    review(server, utc_now() + datetime.timedelta(days=40))
    assert tier_of(server, m["id"])["tier"]["name"] == "Silver"


def test_review_without_grace_moves_down_at_once_and_is_idempotent(server, ladder):
    m = server.create_member()
    buy(server, m["id"], GOLD_CENTS, occurred_at=iso(noon(200)))
    assert tier_of(server, m["id"])["tier"]["name"] == "Gold"
    buy(server, m["id"], SILVER_CENTS, occurred_at=iso(noon(10)))
    at = add_months_midnight(noon(200), 12) + datetime.timedelta(days=2)
    review(server, at)
    # Gold has no grace: straight down to the tier the window still holds.
    t = tier_of(server, m["id"])
    assert t["tier"]["name"] == "Silver"
    assert (t["history"][0]["from"], t["history"][0]["to"], t["history"][0]["reason"]) == (
        "Gold", "Silver", "review")
    changes = server.db.scalar(f"SELECT count(*) FROM tier_changes WHERE member_id = {m['id']}")
    review(server, at)
    assert server.db.scalar(f"SELECT count(*) FROM tier_changes WHERE member_id = {m['id']}") == changes


def test_renaming_a_tier_renames_it_on_its_members(server, ladder):
    m = server.create_member()
    buy(server, m["id"], SILVER_CENTS)
    silver = ladder["Silver"]["id"]
    try:
        r = server.patch(f"/v1/tiers/{silver}", json={"name": "Argent"})
        assert r.status_code == 200, r.text
        assert server.get(f"/v1/members/{m['id']}").json()["tier"] == "Argent"
        assert tier_of(server, m["id"])["tier"]["name"] == "Argent"
    finally:
        assert server.patch(f"/v1/tiers/{silver}", json={"name": "Silver"}).status_code == 200
    assert server.get(f"/v1/members/{m['id']}").json()["tier"] == "Silver"


def test_a_tier_shows_what_it_unlocks(server, ladder):
    """Rewards whose minimum tier it meets, and offers open now that name it; the next tier's too."""
    r = server.post("/v1/rewards", json={"name": unique("gold-lounge-"), "kind": "gift", "cost_points": 10,
                                         "min_tier": "Gold"})
    assert r.status_code == 201, r.text
    gold_reward = r.json()
    r = server.post("/v1/rewards", json={"name": unique("silver-mug-"), "kind": "gift", "cost_points": 10,
                                         "min_tier": "Silver"})
    assert r.status_code == 201, r.text
    silver_reward = r.json()
    r = server.post("/v1/rules", json={"name": unique("rule-"), "formula": "fixed", "fixed_points": 1,
                                       "condition": f'store = "{unique("st")}"'})
    assert r.status_code == 201, r.text
    r = server.post("/v1/offers", json={"name": unique("gold-week-"), "title": "Gold week", "tiers": ["Gold"],
                                        "rule_id": r.json()["id"], "starts_at": "2020-01-01T00:00:00Z",
                                        "ends_at": "2099-01-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    offer = r.json()
    m = server.create_member()
    buy(server, m["id"], SILVER_CENTS)
    t = tier_of(server, m["id"])
    silver_rewards = [x["id"] for x in t["tier"]["unlocks"]["rewards"]]
    assert silver_reward["id"] in silver_rewards and gold_reward["id"] not in silver_rewards
    assert offer["id"] not in [x["id"] for x in t["tier"]["unlocks"]["offers"]]
    assert t["next"]["unlocks"]["multiplier_permille"] == 1500
    assert gold_reward["id"] in [x["id"] for x in t["next"]["unlocks"]["rewards"]]
    assert [x["id"] for x in t["next"]["unlocks"]["offers"]] == [offer["id"]]


def test_deleting_a_held_tier_is_refused(server, ladder):
    m = server.create_member()
    buy(server, m["id"], SILVER_CENTS)
    assert_error(server.delete(f"/v1/tiers/{ladder['Silver']['id']}"), 409, "tier_in_use")
    assert server.get(f"/v1/tiers/{ladder['Silver']['id']}").status_code == 200


def test_unknown_member_has_no_tier(server, ladder):
    assert_error(server.get("/v1/members/999999/tier"), 404, "member_not_found")
