"""Stamp cards over HTTP, on both engines: definitions and their validation (expression
errors with positions, the reward must exist), purchases stamping automatically when the
condition holds, a full card issuing its coupon and rolling over to a new card, inactive
members and partial refunds stamping nothing, card validity, and whole refunds taking a
stamp back from an open card, from a full card whose coupon is unused (voided, card
reopened), from a full card with a newer open card, and from a full card whose coupon was
used.

Every active card runs on every purchase of the server, so each test's card carries a
condition on a unique `store` that only its own purchases name.
"""

import pytest

from conftest import assert_error, unique
from test_rewards import TABLES, db_exec, make_reward, use

CARD_KEYS = {"id", "name", "stamps_needed", "condition", "reward_id", "validity_days", "active",
             "created_at", "updated_at"}
MEMBER_CARD_KEYS = {"id", "card_id", "name", "stamps", "stamps_needed", "status", "started_at",
                    "expires_at", "completed_at", "coupon_id", "coupon_code"}
CARD_TABLES = TABLES + ["stamp_cards", "member_stamp_cards", "stamps"]


def make_card(server, needed=3, **fields):
    """A card of a fresh reward that stamps purchases at its own store; returns (card, store)."""
    store = unique("st")
    body = {"name": unique("card-"), "stamps_needed": needed, "condition": f'store = "{store}"',
            "reward_id": make_reward(server, cost_points=500)["id"]}
    body.update(fields)
    r = server.post("/v1/stamp-cards", json=body)
    assert r.status_code == 201, r.text
    assert set(r.json()) == CARD_KEYS, r.json()
    return r.json(), store


def buy(server, member_id, store, amount_cents=1000):
    r = server.post("/v1/purchases", json={"member_id": member_id, "order_id": unique("order-"),
                                           "amount_cents": amount_cents, "store": store})
    assert r.status_code == 201, r.text
    return r.json()


def refund(server, purchase, amount_cents=None):
    r = server.post(f"/v1/purchases/{purchase['id']}/refunds",
                    json={"amount_cents": amount_cents or purchase["amount_cents"]},
                    headers={"Idempotency-Key": unique("refund-")})
    assert r.status_code == 201, r.text


def cards(server, member_id, card_id=None):
    """The member's cards (of one definition when given), oldest first."""
    r = server.get(f"/v1/members/{member_id}/stamp-cards", key="agent")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    for c in data:
        assert set(c) == MEMBER_CARD_KEYS, c
    return [c for c in reversed(data) if card_id is None or c["card_id"] == card_id]


def shape(member_cards):
    return [(c["stamps"], c["status"]) for c in member_cards]


def coupon(server, code):
    r = server.get(f"/v1/coupons/{code}")
    assert r.status_code == 200, r.text
    return r.json()


def filled(server, needed=2):
    """A member whose card of `needed` stamps is full: (member, card, store, purchases, coupon)."""
    card, store = make_card(server, needed=needed)
    m = server.create_member()
    bought = [buy(server, m["id"], store) for _ in range(needed)]
    (full,) = cards(server, m["id"], card["id"])
    assert full["status"] == "full", full
    return m, card, store, bought, coupon(server, full["coupon_code"])


# ---- definitions --------------------------------------------------------------------------------

def test_definitions_crud(server):
    card, _ = make_card(server, needed=5, validity_days=30)
    assert (card["stamps_needed"], card["validity_days"], card["active"]) == (5, 30, True)
    assert server.get(f"/v1/stamp-cards/{card['id']}", key="analyst").json() == card
    assert card["id"] in [c["id"] for c in server.get("/v1/stamp-cards", key="agent").json()["data"]]
    changed = server.patch(f"/v1/stamp-cards/{card['id']}", json={"stamps_needed": 6, "condition": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["stamps_needed"], changed.json()["condition"]) == (6, None)
    assert_error(server.post("/v1/stamp-cards", json={"name": card["name"], "stamps_needed": 2,
                                                      "reward_id": card["reward_id"]}), 409,
                 "duplicate_stamp_card_name")
    assert_error(server.patch(f"/v1/stamp-cards/{card['id']}", json={"stamps": 2}, key="agent"), 403, "forbidden")
    gone = server.delete(f"/v1/stamp-cards/{card['id']}")
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert_error(server.get(f"/v1/stamp-cards/{card['id']}"), 404, "not_found")


@pytest.mark.parametrize("body, code, words", [
    ({"stamps_needed": 3}, "invalid_field", "reward_id is required"),
    ({"stamps_needed": 3, "reward_id": 99999999}, "invalid_field", "99999999 does not exist"),
    ({"reward_id": "R"}, "invalid_field", "stamps_needed is required"),
    ({"stamps_needed": 0, "reward_id": "R"}, "invalid_field", "stamps_needed"),
    ({"stamps_needed": 101, "reward_id": "R"}, "invalid_field", "stamps_needed"),
    ({"stamps_needed": 3, "reward_id": "R", "validity_days": 0}, "invalid_field", "validity_days"),
    ({"stamps_needed": 3, "reward_id": "R", "condition": "amount_cent > 5"}, "invalid_expression",
     "line 1, col 1: unknown field 'amount_cent', did you mean 'amount_cents'?"),
    ({"stamps_needed": 3, "reward_id": "R", "condition": "amount_cents >"}, "invalid_expression", "line 1, col"),
    ({"stamps_needed": 3, "reward_id": "R", "condition": 5}, "invalid_field", "condition must be"),
    ({"stamps_needed": 3, "reward_id": "R", "reward": 1}, "unknown_field", "reward"),
])
def test_bad_definitions_are_refused_and_change_nothing(server, body, code, words):
    body = dict(body, name=unique("bad-card-"))
    if body.get("reward_id") == "R":
        body["reward_id"] = make_reward(server)["id"]
    before = server.db.counts(CARD_TABLES)
    r = server.post("/v1/stamp-cards", json=body)
    assert_error(r, 400, code)
    assert words in r.json()["error"]["message"], r.text
    assert server.db.counts(CARD_TABLES) == before


def test_a_definition_members_hold_is_deactivated_not_deleted(server):
    card, store = make_card(server)
    m = server.create_member()
    buy(server, m["id"], store)
    gone = server.delete(f"/v1/stamp-cards/{card['id']}")
    assert gone.status_code == 200 and gone.json()["deleted"] is False and gone.json()["active"] is False
    buy(server, m["id"], store)  # an inactive card stamps nothing
    assert shape(cards(server, m["id"], card["id"])) == [(1, "open")]


# ---- stamping -----------------------------------------------------------------------------------

def test_a_card_fills_issues_its_coupon_and_rolls_over(server):
    card, store = make_card(server, needed=3)
    m = server.create_member()
    buy(server, m["id"], store)
    buy(server, m["id"], unique("elsewhere"))  # the condition is not met: no stamp
    assert shape(cards(server, m["id"], card["id"])) == [(1, "open")]
    buy(server, m["id"], store)
    assert shape(cards(server, m["id"], card["id"])) == [(2, "open")]
    assert server.db.count("coupons", f"member_id = {m['id']}") == 0
    buy(server, m["id"], store)
    (full,) = cards(server, m["id"], card["id"])
    assert (full["stamps"], full["stamps_needed"], full["status"]) == (3, 3, "full")
    assert full["completed_at"] is not None
    c = coupon(server, full["coupon_code"])
    assert (c["id"], c["member_id"], c["source"], c["source_id"], c["points_cost"], c["status"], c["usable"]) \
        == (full["coupon_id"], m["id"], "stamp_card", full["id"], 0, "issued", True)
    assert c["reward"]["id"] == card["reward_id"]
    assert server.get(f"/v1/rewards/{card['reward_id']}").json()["stock"] is None  # no stock drawn
    buy(server, m["id"], store)  # the next stamp starts a new card
    assert shape(cards(server, m["id"], card["id"])) == [(3, "full"), (1, "open")]
    assert server.db.count("member_events", f"member_id = {m['id']} AND kind = 'card_stamped'") == 4
    assert server.db.count("coupons", f"member_id = {m['id']}") == 1


def test_a_purchase_stamps_every_matching_card(server):
    store = unique("st")
    reward = make_reward(server)["id"]
    ids = []
    for condition in (f'store = "{store}"', f'store = "{store}" and amount_cents >= 5000'):
        r = server.post("/v1/stamp-cards", json={"name": unique("card-"), "stamps_needed": 4, "reward_id": reward,
                                                 "condition": condition})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    m = server.create_member()
    buy(server, m["id"], store, 6000)
    buy(server, m["id"], store, 1000)
    assert shape(cards(server, m["id"], ids[0])) == [(2, "open")]
    assert shape(cards(server, m["id"], ids[1])) == [(1, "open")]


def test_inactive_members_get_no_stamps(server):
    card, store = make_card(server)
    m = server.create_member()
    assert server.patch(f"/v1/members/{m['id']}", json={"status": "suspended"}).status_code == 200
    buy(server, m["id"], store)
    assert cards(server, m["id"]) == []
    assert_error(server.get("/v1/members/99999999/stamp-cards"), 404, "member_not_found")


def test_an_expired_card_gives_way_to_a_new_one(server):
    card, store = make_card(server, needed=3, validity_days=10)
    m = server.create_member()
    buy(server, m["id"], store)
    (first,) = cards(server, m["id"], card["id"])
    assert first["expires_at"] is not None
    db_exec(server.db, f"UPDATE member_stamp_cards SET expires_at = 1000 WHERE id = {first['id']}")
    assert cards(server, m["id"], card["id"])[0]["status"] == "expired"  # shown expired before the next stamp
    buy(server, m["id"], store)
    assert shape(cards(server, m["id"], card["id"])) == [(1, "expired"), (1, "open")]
    assert server.db.scalar(f"SELECT status FROM member_stamp_cards WHERE id = {first['id']}") == "expired"


# ---- refunds ------------------------------------------------------------------------------------

def test_a_whole_refund_unstamps_an_open_card_and_a_partial_one_does_not(server):
    card, store = make_card(server, needed=3)
    m = server.create_member()
    first = buy(server, m["id"], store)
    second = buy(server, m["id"], store)
    refund(server, second, 400)  # partial: the stamp stays
    assert shape(cards(server, m["id"], card["id"])) == [(2, "open")]
    refund(server, second, 600)  # the rest: now it is wholly refunded
    assert shape(cards(server, m["id"], card["id"])) == [(1, "open")]
    refund(server, first)
    assert cards(server, m["id"], card["id"]) == [], "an open card without stamps goes"
    assert server.db.count("stamps", f"purchase_id IN ({first['id']}, {second['id']})") == 0
    buy(server, m["id"], store)
    assert shape(cards(server, m["id"], card["id"])) == [(1, "open")]


def test_refund_from_a_full_card_with_an_unused_coupon_voids_it_and_reopens(server):
    m, card, store, bought, c = filled(server, needed=2)
    refund(server, bought[1])
    (card_now,) = cards(server, m["id"], card["id"])
    assert (card_now["stamps"], card_now["status"], card_now["coupon_id"]) == (1, "open", None)
    assert coupon(server, c["code"])["status"] == "voided"
    assert_error(use(server, c["code"], "o-1"), 409, "coupon_voided")
    buy(server, m["id"], store)  # filling it again issues a new coupon
    (again,) = cards(server, m["id"], card["id"])
    assert again["status"] == "full" and again["coupon_id"] != c["id"]
    assert coupon(server, again["coupon_code"])["status"] == "issued"


def test_refund_from_a_full_card_takes_a_stamp_of_the_newer_card(server):
    m, card, store, bought, c = filled(server, needed=2)
    newer = buy(server, m["id"], store)
    assert shape(cards(server, m["id"], card["id"])) == [(2, "full"), (1, "open")]
    refund(server, bought[0])
    assert shape(cards(server, m["id"], card["id"])) == [(2, "full")], "the newer card's stamp moved in"
    assert coupon(server, c["code"])["status"] == "issued"
    full_id = cards(server, m["id"], card["id"])[0]["id"]
    assert server.db.scalar(f"SELECT member_card_id FROM stamps WHERE purchase_id = {newer['id']}") == full_id


def test_refund_from_a_full_card_whose_coupon_was_used(server):
    m, card, store, bought, c = filled(server, needed=2)
    assert use(server, c["code"], unique("order-")).status_code == 200
    refund(server, bought[0])  # no open card: nothing left to take, the coupon stays used
    assert shape(cards(server, m["id"], card["id"])) == [(2, "full")]
    assert coupon(server, c["code"])["status"] == "used"
    buy(server, m["id"], store)
    second = buy(server, m["id"], store)
    assert shape(cards(server, m["id"], card["id"])) == [(2, "full"), (2, "full")]
    later = buy(server, m["id"], store)
    assert shape(cards(server, m["id"], card["id"])) == [(2, "full"), (2, "full"), (1, "open")]
    second_coupon = cards(server, m["id"], card["id"])[1]["coupon_code"]
    assert use(server, second_coupon, unique("order-")).status_code == 200
    refund(server, second)  # used coupon, but a newer open card: its stamp is taken
    assert shape(cards(server, m["id"], card["id"])) == [(2, "full"), (2, "full")]
    assert server.db.count("stamps", f"purchase_id = {later['id']}") == 1
