"""The checkout quote: what a basket would earn, what the member may pay with points, their
usable coupons, the offers open to them and the stamps the basket would add, computed by
the code that books purchases. Every quote is followed by booking the same
basket, and the two must agree (points, explanation, each line's points) across rules
with line scopes, caps per order and per day, exclusions, points paid, a tier multiplier
and an inactive member. A quote changes nothing. On both engines.
"""

import pytest

from conftest import COUNTED_TABLES, assert_error, unique
from test_ledger import LEDGER_TABLES, buy, make_rule, program_settings  # noqa: F401 (fixture)

QUOTE_KEYS = {"member_id", "amount_cents", "points_paid_cents", "eligible_cents", "points_earned",
              "earning", "line_points", "pay_with_points", "coupons", "offers", "stamps"}


def quote(server, body, key="admin"):
    r = server.post("/v1/checkout/quote", json=body, key=key)
    assert r.status_code == 200, r.text
    out = r.json()
    assert set(out) == QUOTE_KEYS, out
    return out


def book_and_compare(server, body):
    """Quotes the basket, books it, and checks the booking did what the quote said."""
    q = quote(server, body)
    p = buy(server, body["member_id"], body.get("amount_cents", q["amount_cents"]),
            **{k: v for k, v in body.items() if k not in ("member_id", "amount_cents")})
    assert p["points_earned"] == q["points_earned"]
    assert p["earning"] == q["earning"]
    assert p["eligible_cents"] == q["eligible_cents"]
    stored = server.db.rows(f"SELECT points_earned FROM purchase_lines WHERE purchase_id = {p['id']}"
                            " ORDER BY line_no")
    assert [int(r[0]) for r in stored] == q["line_points"]
    return q, p


@pytest.fixture
def store_rules(server, make_rule):
    """Rules of a store of their own: 1 point a euro; double on shoes; 10 bonus points
    on orders of 100.00 or more, at most 15 a day."""
    store = unique("st")
    cond = f'store = "{store}"'
    make_rule(condition=cond, points_per_unit=1, priority=10)
    make_rule(condition=cond, formula="multiplier", multiplier_permille=2000,
              line_condition='category = "shoes"', priority=20)
    make_rule(condition=f"{cond} and amount_cents >= 10000", formula="fixed", fixed_points=10,
              cap_per_day=15, priority=30)
    return store


def test_quote_equals_booking(server, store_rules):
    m = server.create_member()
    basket = {"member_id": m["id"], "store": store_rules, "lines": [
        {"sku": "boot", "category": "shoes", "quantity": 1, "amount_cents": 8000},
        {"sku": "sock", "category": "socks", "quantity": 3, "amount_cents": 2999}]}
    q, _ = book_and_compare(server, basket)
    assert q["amount_cents"] == 10999  # the lines' sum when the amount is not given
    assert q["points_earned"] == 109 + 79 + 10  # the shoes' share of 109 is 79, doubled
    # The daily cap: the bonus has 5 points of room left today, and the quote knows it.
    q, _ = book_and_compare(server, dict(basket, order_id=unique("o-")))
    assert q["points_earned"] == 109 + 79 + 5
    assert any(a["capped"] for a in q["earning"]["rules"])


def test_quote_with_points_paid_and_an_exclusion(server, store_rules):
    m = server.create_member()
    with program_settings(server, excluded_skus=["giftcard"]):
        book_and_compare(server, {"member_id": m["id"], "store": store_rules, "amount_cents": 12000,
                                  "points_paid_cents": 3000, "lines": [
                                      {"sku": "giftcard", "amount_cents": 5000},
                                      {"sku": "shoe", "category": "shoes", "amount_cents": 7000}]})


def test_quote_applies_the_tier_multiplier(server, store_rules):
    m = server.create_member()
    # A tier only this member can reach (tiers are global to the server).
    r = server.post("/v1/tiers", json={"name": unique("Q"), "rank": 1, "metric": "spend",
                                       "threshold": 1, "multiplier_permille": 1250,
                                       "condition": f"member_id = {m['id']}"})
    assert r.status_code == 201, r.text
    tier = r.json()
    buy(server, m["id"], 100)  # reaches the tier
    q, _ = book_and_compare(server, {"member_id": m["id"], "store": store_rules,
                                     "lines": [{"sku": "hat", "amount_cents": 4000}]})
    assert q["earning"]["tier"] == {"name": tier["name"], "points": 10}
    assert q["points_earned"] == 50


def test_inactive_member_is_quoted_nothing(server, store_rules):
    m = server.create_member()
    r = server.patch(f"/v1/members/{m['id']}", json={"status": "suspended"})
    assert r.status_code == 200, r.text
    q, _ = book_and_compare(server, {"member_id": m["id"], "store": store_rules,
                                     "lines": [{"sku": "x", "amount_cents": 5000}]})
    assert q["points_earned"] == 0 and q["earning"]["note"]
    assert q["pay_with_points"]["max_points"] == 0


def test_pay_with_points(server, make_rule):
    store = unique("st")
    make_rule(condition=f'store = "{store}"', formula="fixed", fixed_points=700)
    m = server.create_member()
    buy(server, m["id"], 100, store=store)  # 700 points, worth 7.00 at a cent a point
    q = quote(server, {"member_id": m["id"], "amount_cents": 500})
    assert q["pay_with_points"] == {"available": 700, "point_value_millicents": 1000,
                                    "max_points": 500, "max_cents": 500}
    q = quote(server, {"member_external_id": m["external_id"], "amount_cents": 5000})
    assert q["pay_with_points"]["max_points"] == 700 and q["pay_with_points"]["max_cents"] == 700
    with program_settings(server, point_value_millicents=2500):  # 2.5 cents a point
        q = quote(server, {"member_id": m["id"], "amount_cents": 1001})
        assert q["pay_with_points"]["max_points"] == 401  # 401 points cover 10.01 (10.025)
        assert q["pay_with_points"]["max_cents"] == 1001


def test_a_quote_changes_nothing(server, store_rules):
    m = server.create_member()
    tables = COUNTED_TABLES + [t for t in LEDGER_TABLES if t not in COUNTED_TABLES] + ["member_stats"]
    before = {t: server.db.count(t) for t in tables}
    stats = server.db.rows(f"SELECT * FROM member_stats WHERE member_id = {m['id']}")
    for _ in range(3):
        quote(server, {"member_id": m["id"], "store": store_rules, "order_id": unique("o-"),
                       "lines": [{"sku": "b", "amount_cents": 20000}]}, key="agent")
    assert {t: server.db.count(t) for t in tables} == before
    assert server.db.rows(f"SELECT * FROM member_stats WHERE member_id = {m['id']}") == stats


@pytest.mark.parametrize("body, status, code", [
    ({"lines": [{"sku": "a", "amount_cents": 1}]}, 400, "invalid_field"),
    ({"member_id": 999999, "lines": []}, 404, "member_not_found"),
    ({"member_external_id": "nobody-here", "amount_cents": 5}, 404, "member_not_found"),
    ({"member_id": 1, "lines": [{"sku": "a"}]}, 400, "invalid_field"),
    ({"member_id": 1, "amount_cents": -1}, 400, "invalid_field"),
    ({"member_id": 1, "amount_cents": 5, "currency": "USD"}, 400, "currency_mismatch"),
    ({"member_id": 1, "amount_cents": 5, "basket": []}, 400, "unknown_field"),
    ([1, 2], 400, "invalid_body"),
])
def test_bad_quotes_are_refused(server, body, status, code):
    if isinstance(body, dict) and body.get("member_id") == 1:
        body["member_id"] = server.create_member()["id"]
    assert_error(server.post("/v1/checkout/quote", json=body), status, code)


def test_quote_roles(server):
    m = server.create_member()
    for role in ("agent", "analyst", "integration", "supervisor"):
        assert server.post("/v1/checkout/quote", key=role,
                           json={"member_id": m["id"], "amount_cents": 100}).status_code == 200
    assert server.post("/v1/checkout/quote", key=None,
                       json={"member_id": m["id"], "amount_cents": 100}).status_code == 401


def test_quote_shows_coupons_offers_and_the_stamps_booking_adds(server, make_rule):
    """A stamp card of 2 on a sku of this test: the quote says the first basket starts a card
    and the second fills it; booking does exactly that (the card's coupon is then usable, and
    applies to a basket holding its sku). An offer open to the member is listed."""
    sku = unique("SKU-")
    r = server.post("/v1/rewards", json={"name": unique("free-"), "kind": "free_product", "sku": sku,
                                         "cost_points": 0})
    assert r.status_code == 201, r.text
    reward = r.json()
    r = server.post("/v1/stamp-cards", json={"name": unique("card-"), "stamps_needed": 2,
                                             "condition": f'any(lines, sku = "{sku}")',
                                             "reward_id": reward["id"]})
    assert r.status_code == 201, r.text
    card = r.json()
    marker = unique("city-")
    r = server.post("/v1/offers", json={"name": unique("offer-"), "title": "a gift", "reward_id": reward["id"],
                                        "segment": f'city = "{marker}"', "starts_at": "2020-01-01T00:00:00Z",
                                        "ends_at": "2099-01-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    offer = r.json()
    m = server.create_member(address={"city": marker})
    basket = {"member_id": m["id"], "lines": [{"sku": sku, "amount_cents": 300}]}
    for stamps_after, fills in ((1, False), (2, True)):
        q = quote(server, basket)
        ours = [s for s in q["stamps"] if s["card_id"] == card["id"]]
        assert ours == [{"card_id": card["id"], "new_card": stamps_after == 1, "stamps_after": stamps_after,
                         "stamps_needed": 2, "fills": fills}]
        assert [o["id"] for o in q["offers"]] == [offer["id"]]
        buy(server, m["id"], 300, lines=basket["lines"])
        r = server.get(f"/v1/members/{m['id']}/stamp-cards")
        assert r.status_code == 200, r.text
    q = quote(server, basket)
    issued = [c for c in q["coupons"] if c["reward"]["id"] == reward["id"]]
    assert len(issued) == 1 and issued[0]["source"] == "stamp_card" and issued[0]["applies"] is True
    other = quote(server, {"member_id": m["id"], "lines": [{"sku": "something-else", "amount_cents": 300}]})
    assert [c["applies"] for c in other["coupons"] if c["reward"]["id"] == reward["id"]] == [False]
    assert [s for s in q["stamps"] if s["card_id"] == card["id"]][0]["new_card"] is True  # the full card rolled over

