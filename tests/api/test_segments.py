"""Segments, declared attributes and the field list: CRUD, the expression language
over HTTP (errors with line and column, three-valued logic, every member field),
counts, member pages, previews, the streamed CSV export, roles, injection
attempts, and `patron segment count`.

Every test works on members it created itself, told apart from the others on the
shared server by a unique city or postal code that its expressions name, and on
attributes and segments with unique names.
"""

import csv
import datetime
import io
import re
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import COUNTED_TABLES, ROLES, assert_error, run_patron, unique

# Tables a segment or attribute request may change, for "changes nothing" checks.
TABLES = COUNTED_TABLES + ["segments", "attribute_definitions"]

SEGMENT_KEYS = {"id", "name", "expression", "description", "created_at", "updated_at",
                "created_by"}
ATTRIBUTE_KEYS = {"name", "type", "description", "created_at"}
EXPORT_HEADER = ["id", "external_id", "email", "phone", "first_name", "last_name",
                 "address_line1", "address_line2", "city", "region", "postal_code", "country",
                 "tier", "status", "consent_email", "consent_sms", "consent_post",
                 "consent_phone"]
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")

READERS = {"admin", "manager", "supervisor", "analyst"}  # PERM_ANALYTICS_READ
WRITERS = {"admin", "manager"}  # PERM_PROGRAM_MANAGE
EXPORT_CHUNK_MEMBERS = 500  # src/core/bounds.h


# ---- helpers ------------------------------------------------------------------------------------

def marker():
    """A unique value that fits every address field (postal codes hold 16 bytes)."""
    return unique("m")[:16]


def instant(text):
    """An API timestamp as a datetime (string order fails when microseconds are zero)."""
    assert TIMESTAMP.fullmatch(text), text
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def quoted(text):
    """text as a double-quoted string literal of the expression language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_segment(server, expression, name=None, key="admin", **fields):
    body = {"name": name or unique("seg-"), "expression": expression}
    body.update(fields)
    r = server.post("/v1/segments", json=body, key=key)
    assert r.status_code == 201, r.text
    return r.json()


def declare(server, type_, name=None, **fields):
    body = {"name": name or unique("a"), "type": type_}
    body.update(fields)
    r = server.post("/v1/attributes", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def preview(server, expression, key="admin", limit=None):
    path = "/v1/segments/preview" + (f"?limit={limit}" if limit is not None else "")
    return server.post(path, json={"expression": expression}, key=key)


def preview_ids(server, expression):
    r = preview(server, expression, limit=500)
    assert r.status_code == 200, f"{expression!r}: {r.text}"
    body = r.json()
    ids = [m["id"] for m in body["data"]]
    assert body["count"] == len(ids), body
    assert ids == sorted(ids), "members come in id order"
    return ids


def count_of(server, segment_id, key="admin"):
    r = server.get(f"/v1/segments/{segment_id}/count", key=key)
    assert r.status_code == 200, r.text
    return r.json()["count"]


def member_pages(server, segment_id, limit):
    """Follows next_after through a segment's members; returns the pages' ids."""
    pages, after = [], None
    for _ in range(1000):
        query = {"limit": limit} if after is None else {"limit": limit, "after": after}
        r = server.get(f"/v1/segments/{segment_id}/members?" + urllib.parse.urlencode(query))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_after"}
        ids = [m["id"] for m in body["data"]]
        pages.append(ids)
        after = body["next_after"]
        if after is None:
            return pages
        assert after == ids[-1], "next_after must be the last id of the page"
    raise AssertionError("paging never ended")


def export(server, segment_id, key="admin"):
    """GET export.csv; returns (response, raw text, rows as lists, header first)."""
    r = server.get(f"/v1/segments/{segment_id}/export.csv", key=key)
    assert r.status_code == 200, r.text
    text = r.content.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return r, text, rows


def create_members(server, bodies, threads=8):
    """Creates many members quickly (a session per thread); returns their ids in order."""
    local = threading.local()
    headers = server.auth_headers("admin")

    def post(body):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        r = session.post(server.base + "/v1/members", json=body, headers=headers, timeout=60)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, bodies))


# ---- the field list -----------------------------------------------------------------------------

MEMBER_FIELDS = {
    "member_id": "integer", "tier": "string", "status": "string", "joined_at": "time",
    "days_since_joined": "integer", "birthday": "date", "email_domain": "string",
    "city": "string", "region": "string", "postal_code": "string", "country": "string",
    "consent_email": "boolean", "consent_sms": "boolean", "consent_post": "boolean",
    "consent_phone": "boolean", "points_available": "integer", "total_spend_cents": "integer",
    "purchases_count": "integer", "first_purchase_at": "time", "last_purchase_at": "time",
    "days_since_last_purchase": "integer",
    # The scores of the analytics_scores job (member_scores).
    "rfm_segment": "string", "rfm_r": "integer", "rfm_f": "integer", "rfm_m": "integer", "p_alive": "decimal",
    "expected_purchases_90d": "decimal", "clv": "decimal", "clv_cents": "integer", "next_purchase_date": "date",
    "next_category": "string",
}


@pytest.mark.parametrize("role", ROLES)
def test_fields_list_names_every_member_field_with_its_type(server, role):
    r = server.get("/v1/fields", key=role)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert set(r.json()) == {"data"}
    for f in data:
        assert set(f) == {"name", "type", "context", "description"}, f
        assert f["context"] in ("member", "purchase", "line"), f
        assert f["description"], f
    members = {f["name"]: f["type"] for f in data if f["context"] == "member"}
    assert members == MEMBER_FIELDS
    assert "lines" not in {f["name"] for f in data}, "lines is only for any(), not a field"
    assert {"amount_cents", "channel", "store", "occurred_at"} <= {
        f["name"] for f in data if f["context"] == "purchase"}
    assert {"sku", "category", "quantity"} <= {f["name"] for f in data if f["context"] == "line"}


def test_fields_list_needs_credentials(server):
    assert_error(server.get("/v1/fields", key=None), 401, "unauthorized")


# ---- attributes: declare, list, delete ----------------------------------------------------------

def test_declare_list_and_delete_an_attribute(server):
    name = unique("pet")
    before = server.db.counts(TABLES)
    a = declare(server, "string", name=name, description="the member's pet")
    assert set(a) == ATTRIBUTE_KEYS
    assert a["name"] == name and a["type"] == "string"
    assert a["description"] == "the member's pet"
    assert TIMESTAMP.fullmatch(a["created_at"]), a
    after = server.db.counts(TABLES)
    assert after["attribute_definitions"] == before["attribute_definitions"] + 1
    assert after["audit_log"] == before["audit_log"] + 1

    listed = server.get("/v1/attributes")
    assert listed.status_code == 200, listed.text
    assert set(listed.json()) == {"data"}
    names = [x["name"] for x in listed.json()["data"]]
    assert names == sorted(names), "attributes are listed by name"
    assert a in listed.json()["data"]

    gone = server.delete(f"/v1/attributes/{name}")
    assert gone.status_code == 200, gone.text
    assert gone.json() == a
    assert name not in [x["name"] for x in server.get("/v1/attributes").json()["data"]]
    assert_error(server.delete(f"/v1/attributes/{name}"), 404, "not_found")
    audit = server.get("/v1/audit?entity=attribute&limit=2").json()["data"]
    assert [e["action"] for e in audit] == ["attribute.delete", "attribute.define"]
    assert all(e["detail"]["name"] == name for e in audit)


@pytest.mark.parametrize("type_", ["string", "integer", "decimal", "boolean"])
def test_every_attribute_type_can_be_declared(server, type_):
    a = declare(server, type_, description=None)
    assert a["type"] == type_ and a["description"] is None
    assert server.delete(f"/v1/attributes/{a['name']}").status_code == 200


@pytest.mark.parametrize("body,code", [
    ({"type": "string"}, "invalid_field"),
    ({"name": "NAMED", "type": "string"}, "invalid_field"),
    ({"name": "1st", "type": "string"}, "invalid_field"),
    ({"name": "has-dash", "type": "string"}, "invalid_field"),
    ({"name": "", "type": "string"}, "invalid_field"),
    ({"name": "a" * 65, "type": "string"}, "invalid_field"),
    ({"name": 7, "type": "string"}, "invalid_field"),
    ({"name": "okname", "type": "date"}, "invalid_field"),
    ({"name": "okname", "type": "String"}, "invalid_field"),
    ({"name": "okname"}, "invalid_field"),
    ({"name": "okname", "type": "string", "description": 5}, "invalid_field"),
    ({"name": "okname", "type": "string", "description": "d" * 501}, "invalid_field"),
    ({"name": "okname", "type": "string", "colour": "red"}, "unknown_field"),
    ({"name": "x'); DROP TABLE members; --", "type": "string"}, "invalid_field"),
    ([], "invalid_body"),
], ids=lambda v: str(v)[:40] if not isinstance(v, str) else v)
def test_attribute_declaration_refusals_change_nothing(server, body, code):
    before = server.db.counts(TABLES)
    assert_error(server.post("/v1/attributes", json=body), 400, code)
    assert server.db.counts(TABLES) == before
    assert "okname" not in [x["name"] for x in server.get("/v1/attributes").json()["data"]]


def test_attribute_limits_are_inclusive(server):
    a = declare(server, "string", name="a" + unique("")[:16] + "b" * 47,
                description="d" * 500)
    assert len(a["name"]) == 64 and len(a["description"]) == 500
    assert server.delete(f"/v1/attributes/{a['name']}").status_code == 200


def test_duplicate_attribute_is_409(server):
    a = declare(server, "integer")
    before = server.db.counts(TABLES)
    r = server.post("/v1/attributes", json={"name": a["name"], "type": "string"})
    assert_error(r, 409, "duplicate_attribute")
    assert a["name"] in r.json()["error"]["message"]
    assert server.db.counts(TABLES) == before
    listed = [x for x in server.get("/v1/attributes").json()["data"] if x["name"] == a["name"]]
    assert listed == [a], "the first declaration stands"
    server.delete(f"/v1/attributes/{a['name']}")


@pytest.mark.parametrize("role", ROLES)
def test_attribute_roles(server, role):
    assert server.get("/v1/attributes", key=role).status_code == 200
    name = unique("r")
    before = server.db.counts(TABLES)
    r = server.post("/v1/attributes", json={"name": name, "type": "boolean"}, key=role)
    if role in WRITERS:
        assert r.status_code == 201, r.text
        assert server.delete(f"/v1/attributes/{name}", key=role).status_code == 200
    else:
        assert_error(r, 403, "forbidden")
        assert server.db.counts(TABLES) == before
        declare(server, "boolean", name=name)
        assert_error(server.delete(f"/v1/attributes/{name}", key=role), 403, "forbidden")
        assert name in [x["name"] for x in server.get("/v1/attributes").json()["data"]]
        server.delete(f"/v1/attributes/{name}")


def test_attribute_routes_need_credentials(server):
    for method, path in (("GET", "/v1/attributes"), ("POST", "/v1/attributes"),
                         ("DELETE", "/v1/attributes/pet")):
        assert_error(server.request(method, path, key=None, json={"name": "x", "type": "string"}),
                     401, "unauthorized")


# ---- attributes: values on member writes --------------------------------------------------------

# (type, accepted values, refused values)
TYPED_VALUES = [
    ("string", ["dog", ""], [3, 2.5, True]),
    ("integer", [3, -7, 0], [2.5, "3", True]),
    ("decimal", [2.5, 3, -0.125], ["2.5", False]),
    ("boolean", [True, False], [1, 0, "true"]),
]


@pytest.mark.parametrize("type_,good,bad", TYPED_VALUES, ids=[t[0] for t in TYPED_VALUES])
def test_declared_attribute_types_are_checked_on_member_writes(server, type_, good, bad):
    name = declare(server, type_)["name"]
    m = server.create_member()
    for value in good + [None]:
        created = server.create_member(attributes={name: value, "free": "anything"})
        assert created["attributes"][name] == value
        patched = server.patch(f"/v1/members/{m['id']}", json={"attributes": {name: value}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["attributes"] == {name: value}
    current = server.get(f"/v1/members/{m['id']}").json()
    for value in bad:
        before = server.db.counts(TABLES)
        r = server.post("/v1/members", json={"external_id": unique("typed-"),
                                             "attributes": {name: value}})
        assert_error(r, 400, "invalid_field")
        assert f"attributes.{name}" in r.json()["error"]["message"]
        assert type_ in r.json()["error"]["message"]
        assert_error(server.patch(f"/v1/members/{m['id']}", json={"attributes": {name: value}}),
                     400, "invalid_field")
        assert server.db.counts(TABLES) == before
    assert server.get(f"/v1/members/{m['id']}").json() == current
    # Undeclared keys stay free-form.
    free = server.create_member(attributes={name + "x": "any", "other": 1.5})
    assert free["attributes"] == {name + "x": "any", "other": 1.5}


def test_values_stored_before_a_declaration_read_as_null(server):
    city = marker()
    name = unique("lvl")
    stale = server.create_member(address={"city": city}, attributes={name: "high"})
    declare(server, "integer", name=name)
    fresh = server.create_member(address={"city": city}, attributes={name: 4})
    none = server.create_member(address={"city": city})
    where = f"city = {quoted(city)}"
    assert preview_ids(server, f"{where} and attributes.{name} is null") == [stale["id"],
                                                                            none["id"]]
    assert preview_ids(server, f"{where} and attributes.{name} > 0") == [fresh["id"]]
    assert preview_ids(server, f"{where} and attributes.{name} != 4") == []
    # The stale value is kept, and a write that leaves attributes alone still works...
    r = server.patch(f"/v1/members/{stale['id']}", json={"first_name": "Stale"})
    assert r.status_code == 200, r.text
    assert r.json()["attributes"] == {name: "high"}
    # ...but writing the attributes again must give the declared type.
    assert_error(server.patch(f"/v1/members/{stale['id']}",
                              json={"attributes": {name: "high", "more": 1}}), 400, "invalid_field")


# (type, stored values by label, expression, labels it selects)
ATTRIBUTE_EXPRESSIONS = [
    ("string", {"a": "dog", "b": "cat", "c": None}, 'attributes.X = "dog"', "a"),
    ("string", {"a": "dog", "b": "cat", "c": None}, 'attributes.X != "dog"', "b"),
    ("string", {"a": "dog", "b": "cat", "c": None}, 'attributes.X in ("dog", "cat")', "a b"),
    ("string", {"a": "dog", "b": "cat", "c": None}, "attributes.X is null", "c d"),
    ("string", {"a": "it's \"x\"", "b": "x", "c": None}, "attributes.X = 'it\\'s \"x\"'", "a"),
    ("integer", {"a": 3, "b": -2, "c": 0}, "attributes.X > 0", "a"),
    ("integer", {"a": 3, "b": -2, "c": 0}, "attributes.X between -2 and 0", "b c"),
    ("integer", {"a": 3, "b": -2, "c": 0}, "attributes.X * 2 = 6", "a"),
    ("decimal", {"a": 2.5, "b": 3, "c": -0.5}, "attributes.X > 2.6", "b"),
    ("decimal", {"a": 2.5, "b": 3, "c": -0.5}, "attributes.X >= 2.5", "a b"),
    ("decimal", {"a": 2.5, "b": 3, "c": -0.5}, "attributes.X < 0", "c"),
    ("boolean", {"a": True, "b": False, "c": None}, "attributes.X", "a"),
    ("boolean", {"a": True, "b": False, "c": None}, "not attributes.X", "b"),
    ("boolean", {"a": True, "b": False, "c": None}, "attributes.X = false", "b"),
    ("boolean", {"a": True, "b": False, "c": None}, "attributes.X is not null", "a b"),
]


@pytest.mark.parametrize("type_,values,expression,expected", ATTRIBUTE_EXPRESSIONS,
                         ids=[f"{t}: {e}" for t, _, e, _ in ATTRIBUTE_EXPRESSIONS])
def test_attribute_expressions_select_by_declared_type(server, type_, values, expression,
                                                       expected):
    name = declare(server, type_)["name"]
    city = marker()
    ids = {}
    for label, value in values.items():
        ids[label] = server.create_member(address={"city": city},
                                          attributes={name: value})["id"]
    ids["d"] = server.create_member(address={"city": city})["id"]  # no such key at all
    got = preview_ids(server, f"city = {quoted(city)} and ({expression.replace('X', name)})")
    assert got == sorted(ids[label] for label in expected.split())


def test_deleting_an_attribute_a_segment_names_is_409(server):
    name = unique("used")
    declare(server, "string", name=name)
    longer = declare(server, "string", name=name + "_more")["name"]
    seg = create_segment(server, f'attributes.{name} = "dog" or city = "x"')
    other = create_segment(server, f'attributes.{longer} = "dog"')
    before = server.db.counts(TABLES)
    r = server.delete(f"/v1/attributes/{name}")
    assert_error(r, 409, "attribute_in_use")
    assert seg["name"] in r.json()["error"]["message"]
    assert server.db.counts(TABLES) == before
    assert name in [x["name"] for x in server.get("/v1/attributes").json()["data"]]

    # attributes.<name>_more is another attribute: it does not hold <name>.
    server.delete(f"/v1/segments/{seg['id']}")
    assert server.delete(f"/v1/attributes/{name}").status_code == 200
    assert_error(server.delete(f"/v1/attributes/{longer}"), 409, "attribute_in_use")
    r = server.patch(f"/v1/segments/{other['id']}", json={"expression": "city = \"x\""})
    assert r.status_code == 200, r.text
    assert server.delete(f"/v1/attributes/{longer}").status_code == 200


@pytest.mark.parametrize("spelling", ["ATTRIBUTES.{}", "Attributes.{}", "attributes . {}"])
def test_deleting_an_attribute_is_409_however_the_segment_spells_it(server, spelling):
    name = declare(server, "string")["name"]
    seg = create_segment(server, spelling.format(name) + ' = "dog"')
    r = server.delete(f"/v1/attributes/{name}")
    try:
        assert_error(r, 409, "attribute_in_use")
    finally:
        server.delete(f"/v1/segments/{seg['id']}")
        server.delete(f"/v1/attributes/{name}")


def test_an_attribute_name_inside_a_string_does_not_hold_it(server):
    name = declare(server, "string")["name"]
    seg = create_segment(server, f'city = "attributes.{name}"')
    r = server.delete(f"/v1/attributes/{name}")
    try:
        assert r.status_code == 200, r.text
    finally:
        server.delete(f"/v1/segments/{seg['id']}")
        server.delete(f"/v1/attributes/{name}")


# ---- segments: create, read, list, change, delete -----------------------------------------------

def test_segment_life_cycle(server):
    city = marker()
    members = [server.create_member(address={"city": city}, consent={"email": e})["id"]
               for e in (True, False, True)]
    name = unique("Lapsed VIPs ")
    before = server.db.counts(TABLES)
    seg = create_segment(server, f"city = {quoted(city)} and consent_email", name=name,
                         description="for the spring mailing")
    assert set(seg) == SEGMENT_KEYS
    assert seg["name"] == name
    assert seg["expression"] == f"city = {quoted(city)} and consent_email"  # kept as written
    assert seg["description"] == "for the spring mailing"
    assert seg["created_by"] == "test-admin"
    assert TIMESTAMP.fullmatch(seg["created_at"]) and seg["updated_at"] == seg["created_at"]
    after = server.db.counts(TABLES)
    assert after["segments"] == before["segments"] + 1
    assert after["audit_log"] == before["audit_log"] + 1

    got = server.get(f"/v1/segments/{seg['id']}")
    assert got.status_code == 200 and got.json() == seg
    assert count_of(server, seg["id"]) == 2

    # PATCH changes only what it is given.
    r = server.patch(f"/v1/segments/{seg['id']}", json={"description": None})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["description"] is None
    assert (p["name"], p["expression"], p["created_at"]) == (name, seg["expression"],
                                                            seg["created_at"])
    assert instant(p["updated_at"]) >= instant(seg["updated_at"])
    r = server.patch(f"/v1/segments/{seg['id']}",
                     json={"expression": f"city = {quoted(city)} and not consent_email"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name and r.json()["description"] is None
    assert count_of(server, seg["id"]) == 1
    assert [m["id"] for m in server.get(f"/v1/segments/{seg['id']}/members").json()["data"]] == \
        [members[1]]
    renamed = server.patch(f"/v1/segments/{seg['id']}", json={"name": name + " (old)",
                                                              "description": "renamed"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == name + " (old)"
    assert renamed.json()["description"] == "renamed"
    assert server.get(f"/v1/segments/{seg['id']}").json() == renamed.json()

    gone = server.delete(f"/v1/segments/{seg['id']}")
    assert gone.status_code == 200, gone.text
    assert gone.json() == renamed.json()
    for path in ("", "/count", "/members", "/export.csv"):
        assert_error(server.get(f"/v1/segments/{seg['id']}{path}"), 404, "not_found")
    assert_error(server.delete(f"/v1/segments/{seg['id']}"), 404, "not_found")
    assert_error(server.patch(f"/v1/segments/{seg['id']}", json={"name": "x"}), 404, "not_found")
    assert server.db.counts(TABLES)["segments"] == before["segments"]
    audit = server.get(f"/v1/audit?entity=segment&entity_id={seg['id']}&limit=5").json()["data"]
    assert [e["action"] for e in audit] == ["segment.delete", "segment.update", "segment.update",
                                            "segment.update", "segment.create"]
    assert {e["actor"]["label"] for e in audit} == {"test-admin"}


def test_a_deleted_segments_id_is_never_given_again(server):
    old = create_segment(server, "true")
    assert server.delete(f"/v1/segments/{old['id']}").status_code == 200
    new = create_segment(server, "true")
    assert new["id"] > old["id"]
    assert_error(server.get(f"/v1/segments/{old['id']}"), 404, "not_found")


def test_segments_are_evaluated_when_asked(server):
    city = marker()
    seg = create_segment(server, f"city = {quoted(city)} and status = \"active\"")
    assert count_of(server, seg["id"]) == 0
    a = server.create_member(address={"city": city})
    assert count_of(server, seg["id"]) == 1
    b = server.create_member(address={"city": city})
    assert count_of(server, seg["id"]) == 2
    server.patch(f"/v1/members/{a['id']}", json={"status": "suspended"})
    r = server.get(f"/v1/segments/{seg['id']}/count")
    assert r.json()["count"] == 1
    assert set(r.json()) == {"segment_id", "count", "evaluated_at"}
    assert r.json()["segment_id"] == seg["id"]
    assert TIMESTAMP.fullmatch(r.json()["evaluated_at"])
    assert [m["id"] for m in server.get(f"/v1/segments/{seg['id']}/members").json()["data"]] == \
        [b["id"]]


def test_list_segments_pages_in_id_order(server):
    mine = [create_segment(server, "true")["id"] for _ in range(5)]
    seen, after = [], None
    for _ in range(1000):
        query = "?limit=2" + (f"&after={after}" if after else "")
        r = server.get("/v1/segments" + query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_after"}
        assert len(body["data"]) <= 2
        for s in body["data"]:
            assert set(s) == SEGMENT_KEYS
        seen += [s["id"] for s in body["data"]]
        after = body["next_after"]
        if after is None:
            break
        assert after == body["data"][-1]["id"]
    assert seen == sorted(set(seen)), "each segment once, in id order"
    assert set(mine) <= set(seen)
    page = server.get(f"/v1/segments?after={mine[1]}&limit=2").json()
    assert [s["id"] for s in page["data"]] == mine[2:4]
    assert page["next_after"] == mine[3]
    for bad in ("limit=0", "limit=501", "limit=x", "after=0", "after=-1"):
        assert_error(server.get("/v1/segments?" + bad), 400, "invalid_query")


def test_duplicate_segment_names_are_409(server):
    name = unique("Dup ")
    first = create_segment(server, "true", name=name)
    second = create_segment(server, "false")
    before = server.db.counts(TABLES)
    r = server.post("/v1/segments", json={"name": name, "expression": "consent_sms"})
    assert_error(r, 409, "duplicate_segment_name")
    assert name in r.json()["error"]["message"]
    assert_error(server.patch(f"/v1/segments/{second['id']}", json={"name": name}), 409,
                 "duplicate_segment_name")
    assert server.db.counts(TABLES) == before
    assert server.get(f"/v1/segments/{second['id']}").json() == second
    assert server.get(f"/v1/segments/{first['id']}").json() == first
    # Names are compared exactly; keeping one's own name is no conflict.
    assert server.patch(f"/v1/segments/{first['id']}",
                        json={"name": name, "description": "same"}).status_code == 200
    create_segment(server, "true", name=name.upper())


def test_segment_create_is_idempotent(server):
    headers = {"Idempotency-Key": unique("seg-idem-")}
    body = {"name": unique("Idem "), "expression": "true"}
    first = server.post("/v1/segments", json=body, headers=headers)
    assert first.status_code == 201, first.text
    before = server.db.counts(TABLES)
    again = server.post("/v1/segments", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert server.db.counts(TABLES) == before
    assert_error(server.post("/v1/segments", json=dict(body, expression="false"),
                             headers=headers), 409, "idempotency_key_reused")


# ---- segments: refused bodies -------------------------------------------------------------------

@pytest.mark.parametrize("body,code", [
    ({"expression": "true"}, "invalid_field"),
    ({"name": "no expression"}, "invalid_field"),
    ({"name": "", "expression": "true"}, "invalid_field"),
    ({"name": "n" * 101, "expression": "true"}, "invalid_field"),
    ({"name": 5, "expression": "true"}, "invalid_field"),
    ({"name": None, "expression": "true"}, "invalid_field"),
    ({"name": "bad\u0001name", "expression": "true"}, "invalid_field"),
    ({"name": "x", "expression": 1}, "invalid_field"),
    ({"name": "x", "expression": ["true"]}, "invalid_field"),
    ({"name": "x", "expression": "true", "description": 3}, "invalid_field"),
    ({"name": "x", "expression": "true", "description": "d" * 501}, "invalid_field"),
    ({"name": "x", "expression": "true", "filter": "y"}, "unknown_field"),
    ({"name": "x", "expression": "true", "id": 9}, "unknown_field"),
    ([], "invalid_body"),
    ("true", "invalid_json"),
], ids=lambda v: str(v)[:40] if not isinstance(v, str) else v)
def test_segment_body_refusals_change_nothing(server, body, code):
    before = server.db.counts(TABLES)
    assert_error(server.post("/v1/segments", json=body), 400, code)
    assert server.db.counts(TABLES) == before


def test_segment_limits_are_inclusive(server):
    name = unique("n")[:17] + "n" * 83
    seg = create_segment(server, "true", name=name, description="d" * 500)
    assert len(seg["name"]) == 100 and len(seg["description"]) == 500
    unicode_name = unique("Fidèles ") + " — été ✓"
    assert create_segment(server, "true", name=unicode_name)["name"] == unicode_name


@pytest.mark.parametrize("body,code", [
    ({}, "empty_patch"),
    ({"name": ""}, "invalid_field"),
    ({"name": None}, "invalid_field"),
    ({"expression": None}, "invalid_field"),
    ({"expression": 3}, "invalid_field"),
    ({"colour": "red"}, "unknown_field"),
    ({"created_by": "me"}, "unknown_field"),
    ([], "invalid_body"),
], ids=lambda v: str(v)[:40] if not isinstance(v, str) else v)
def test_segment_patch_refusals_change_nothing(server, body, code):
    seg = create_segment(server, "true", description="kept")
    before = server.db.counts(TABLES)
    assert_error(server.patch(f"/v1/segments/{seg['id']}", json=body), 400, code)
    assert server.db.counts(TABLES) == before
    assert server.get(f"/v1/segments/{seg['id']}").json() == seg


def test_segment_ids_that_are_not_ids_are_404(server):
    for path in ("/v1/segments/abc", "/v1/segments/0", "/v1/segments/-1",
                 "/v1/segments/999999999", "/v1/segments/abc/count",
                 "/v1/segments/0/members", "/v1/segments/x/export.csv",
                 "/v1/segments/999999999/count", "/v1/segments/999999999/members",
                 "/v1/segments/999999999/export.csv"):
        assert_error(server.get(path), 404, "not_found")
    assert_error(server.delete("/v1/segments/abc"), 404, "not_found")
    assert_error(server.patch("/v1/segments/abc", json={"name": "x"}), 404, "not_found")


# ---- expressions: errors point at the place -----------------------------------------------------

LONG_EXPRESSION = "consent_email and " * 240 + "true"
# (expression, the whole message): tests/unit/expr_cases.txt has the full list.
EXPRESSION_ERRORS = [
    ('tierr = "gold"', "line 1, col 1: unknown field 'tierr', did you mean 'tier'?"),
    ('tier = "gold" and purchase_count > 3',
     "line 1, col 19: unknown field 'purchase_count', did you mean 'purchases_count'?"),
    ('tier = "gold" and\n  citty = "Paris"',
     "line 2, col 3: unknown field 'citty', did you mean 'city'?"),
    ('TIER = "gold"', "line 1, col 1: unknown field 'TIER'"),
    ('tier > "gold"',
     "line 1, col 6: strings can only be compared with = or != (or contains, starts_with, in)"),
    ('joined_at = "2026-01-01"', "line 1, col 11: cannot compare time with string"),
    ('tier = "gold', "line 1, col 8: unterminated string (close it with the same quote)"),
    ("purchases_count",
     "line 1, col 1: the expression must be a condition (true or false), not of type integer"),
    ("joined_at > 2026-02-30", "line 1, col 13: no such date (dates are written 2026-11-24)"),
    ("amount_cents > 5",
     "line 1, col 1: field 'amount_cents' is not available here (it belongs to purchase rules)"),
    ('any(lines, sku = "x")',
     "line 1, col 1: any(lines, ...) is only available in purchase rules"),
    ('attributes.color = "red"',
     "line 1, col 12: unknown attribute 'color' (declare it first with POST /v1/attributes)"),
    ('tier = "gold"; DROP TABLE members', "line 1, col 14: unexpected character ';'"),
    ('tier = "gold" -- comment', "line 1, col 18: unknown field 'comment'"),
    ("", "line 1, col 1: the expression is empty"),
    (LONG_EXPRESSION,
     f"line 1, col 1: expression too long ({len(LONG_EXPRESSION)} bytes, at most 4096)"),
    ("(" * 40 + "true" + ")" * 40,
     "line 1, col 33: expression nested too deeply (at most 32 levels)"),
]


@pytest.mark.parametrize("expression,message", EXPRESSION_ERRORS,
                         ids=[e[:30] for e, _ in EXPRESSION_ERRORS])
def test_bad_expressions_are_400_with_line_and_column(server, expression, message):
    seg = create_segment(server, "true")
    before = server.db.counts(TABLES)
    for r in (server.post("/v1/segments", json={"name": unique("bad-"), "expression": expression}),
              server.patch(f"/v1/segments/{seg['id']}", json={"expression": expression}),
              preview(server, expression)):
        assert_error(r, 400, "invalid_expression")
        assert r.json()["error"]["message"] == message
    assert server.db.counts(TABLES) == before
    assert server.get(f"/v1/segments/{seg['id']}").json() == seg


def test_attribute_names_get_suggestions_too(server):
    name = unique("colour")
    declare(server, "string", name=name)
    misspelt = name[:-1] + ("x" if name[-1] != "x" else "y")
    r = preview(server, f'attributes.{misspelt} = "red"')
    assert_error(r, 400, "invalid_expression")
    assert r.json()["error"]["message"] == (
        f"line 1, col 12: unknown attribute '{misspelt}', did you mean '{name}'?")


# ---- who may do what ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_segment_roles(server, role):
    city = marker()
    server.create_member(address={"city": city})
    seg = create_segment(server, f"city = {quoted(city)}")
    reads = [
        ("GET", "/v1/segments", None),
        ("GET", f"/v1/segments/{seg['id']}", None),
        ("GET", f"/v1/segments/{seg['id']}/count", None),
        ("GET", f"/v1/segments/{seg['id']}/members", None),
        ("GET", f"/v1/segments/{seg['id']}/export.csv", None),
        ("POST", "/v1/segments/preview", {"expression": f"city = {quoted(city)}"}),
    ]
    writes = [
        ("POST", "/v1/segments", {"name": unique("role-"), "expression": "true"}),
        ("PATCH", f"/v1/segments/{seg['id']}", {"description": role}),
        ("DELETE", f"/v1/segments/{seg['id']}", None),
    ]
    for method, path, body in reads:
        before = server.db.counts(TABLES)
        r = server.request(method, path, key=role, json=body)
        if role in READERS:
            assert r.status_code == 200, f"{role} {method} {path}: {r.status_code} {r.text}"
        else:
            assert_error(r, 403, "forbidden")
        assert server.db.counts(TABLES) == before, f"{role} {method} {path} changed something"
    for method, path, body in writes:
        before = server.db.counts(TABLES)
        r = server.request(method, path, key=role, json=body)
        if role in WRITERS:
            assert r.status_code in (200, 201), f"{role} {method} {path}: {r.text}"
        else:
            assert_error(r, 403, "forbidden")
            assert server.db.counts(TABLES) == before
    if role not in WRITERS:
        assert server.get(f"/v1/segments/{seg['id']}").json() == seg


def test_segment_routes_need_credentials(server):
    seg = create_segment(server, "true")
    before = server.db.counts(TABLES)
    for method, path in (("GET", "/v1/segments"), ("POST", "/v1/segments"),
                         ("POST", "/v1/segments/preview"), ("GET", f"/v1/segments/{seg['id']}"),
                         ("PATCH", f"/v1/segments/{seg['id']}"),
                         ("DELETE", f"/v1/segments/{seg['id']}"),
                         ("GET", f"/v1/segments/{seg['id']}/count"),
                         ("GET", f"/v1/segments/{seg['id']}/members"),
                         ("GET", f"/v1/segments/{seg['id']}/export.csv")):
        r = server.request(method, path, key=None, json={"name": "x", "expression": "true"})
        assert_error(r, 401, "unauthorized")
    assert server.db.counts(TABLES) == before


# ---- counts and member pages --------------------------------------------------------------------

def test_count_and_members_are_exactly_the_matching_members(server):
    city = marker()
    created = [server.create_member(address={"city": city}, first_name=f"N{k}",
                                    consent={"email": k % 2 == 0}) for k in range(7)]
    server.create_member(address={"city": city + "x"}, consent={"email": True})
    seg = create_segment(server, f"city = {quoted(city)} and consent_email")
    expected = [m for k, m in enumerate(created) if k % 2 == 0]
    assert count_of(server, seg["id"]) == 4
    r = server.get(f"/v1/segments/{seg['id']}/members")
    assert r.status_code == 200
    body = r.json()
    assert body["next_after"] is None
    # A segment's members are whole members, as GET /v1/members/{id} gives them.
    assert body["data"] == [server.get(f"/v1/members/{m['id']}").json() for m in expected]
    assert all(m["tier"] is None for m in body["data"])


def test_member_pages_follow_next_after(server):
    city = marker()
    ids = create_members(server, [{"external_id": unique("pg-"), "address": {"city": city}}
                                  for _ in range(12)])
    seg = create_segment(server, f"city = {quoted(city)}")
    pages = member_pages(server, seg["id"], 5)
    assert [len(p) for p in pages] == [5, 5, 2]
    assert sum(pages, []) == sorted(ids)
    exact = member_pages(server, seg["id"], 6)
    assert [len(p) for p in exact] == [6, 6], "a full last page still says next_after: null"
    assert member_pages(server, seg["id"], 500) == [sorted(ids)]
    # after= skips to the member after the given id, even one not in the segment.
    r = server.get(f"/v1/segments/{seg['id']}/members?after={sorted(ids)[9]}&limit=50")
    assert [m["id"] for m in r.json()["data"]] == sorted(ids)[10:]
    for bad in ("limit=0", "limit=501", "limit=ten", "after=0", "after=x"):
        assert_error(server.get(f"/v1/segments/{seg['id']}/members?{bad}"), 400, "invalid_query")


def test_three_valued_logic_unknown_never_matches(server):
    code = marker()
    x = server.create_member(address={"postal_code": code, "city": "X"})
    y = server.create_member(address={"postal_code": code, "city": "Y"})
    none = server.create_member(address={"postal_code": code})
    where = f"postal_code = {quoted(code)}"
    cases = {
        'city != "X"': [y],
        'not (city = "X")': [y],
        'city not in ("X")': [y],
        'city in ("X", "Y")': [x, y],
        "city is null": [none],
        "city is not null": [x, y],
        'city = "X" or city is null': [x, none],
        'not (city = "X" and consent_email)': [x, y, none],  # false and unknown is false
        'not (city = "X" or consent_email)': [y],
        'city contains ""': [x, y],
        'not (city contains "X")': [y],
        "tier is null": [x, y, none],
        'tier != "gold"': [],
        'tier = "gold"': [],
    }
    for expression, members in cases.items():
        got = preview_ids(server, f"{where} and ({expression})")
        assert got == [m["id"] for m in members], expression
        seg = create_segment(server, f"{where} and ({expression})")
        assert count_of(server, seg["id"]) == len(members), expression


@pytest.fixture(scope="module")
def crowd(server):
    """Four members in one city with varied fields: {label: member}, and the city."""
    city = marker()
    specs = {
        "ada": dict(email="ada@Shop-A.example", first_name="Ada", birthday="1990-02-28",
                    joined_at="2020-01-02T03:04:05Z",
                    address={"city": city, "country": "fr", "region": "IDF"},
                    consent={"email": True, "sms": True}),
        "bob": dict(email="bob@shop-b.example", joined_at="2024-06-01T00:00:00+02:00",
                    address={"city": city, "country": "GB"}, consent={"post": True},
                    status="suspended"),
        "cat": dict(birthday="2000-02-29", address={"city": city}, status="closed"),
        "dan": dict(email="dan@shop-a.example", joined_at="2025-03-01T12:00:00Z",
                    address={"city": city, "country": "FR"}, consent={"phone": True}),
    }
    return city, {label: server.create_member(**fields) for label, fields in specs.items()}


# expression (ids of the crowd written {ada} ...), labels it selects
FIELD_CASES = [
    ("true", "ada bob cat dan"),
    ("false", ""),
    ('email_domain = "shop-a.example"', "ada dan"),
    ('email_domain starts_with "shop-"', "ada bob dan"),
    ("email_domain is null", "cat"),
    ('country = "FR"', "ada dan"),
    ('country != "FR"', "bob"),
    ('country is null or country != "FR"', "bob cat"),
    ("region is not null", "ada"),
    ('region = "idf"', ""),
    ('status = "suspended"', "bob"),
    ('status in ("active", "closed")', "ada cat dan"),
    ('status not in ("active")', "bob cat"),
    ("consent_email", "ada"),
    ("consent_email and consent_sms", "ada"),
    ("consent_post or consent_phone", "bob dan"),
    ("not consent_email", "bob cat dan"),
    ("consent_email = false and consent_sms = false", "bob cat dan"),
    ("birthday < 1995-01-01", "ada"),
    ("birthday = 2000-02-29", "cat"),
    ("birthday between 1990-01-01 and 2000-12-31", "ada cat"),
    ("birthday is null", "bob dan"),
    ("joined_at < 2021-01-01", "ada"),
    ("joined_at >= 2024-05-31 and joined_at < 2024-06-01", "bob"),
    ("joined_at >= 2025-03-01 and joined_at < 2025-03-02", "dan"),
    ("joined_at > now() - 1d", "cat"),
    ("days_since_joined < 1", "cat"),
    ("days_since_joined >= 1", "ada bob dan"),
    ("member_id in ({ada}, {cat})", "ada cat"),
    ("member_id > {bob}", "cat dan"),
    ("member_id = {dan} or member_id = {ada}", "ada dan"),
    ('city starts_with "m" and city contains ""', "ada bob cat dan"),
    ("points_available = 0 and total_spend_cents = 0", "ada bob cat dan"),
    ("purchases_count > 0", ""),
    ("purchases_count in (0, 1)", "ada bob cat dan"),
    ("days_since_last_purchase is null", "ada bob cat dan"),
    ("days_since_last_purchase > 60", ""),
    ("last_purchase_at is null and first_purchase_at is null", "ada bob cat dan"),
    ("total_spend_cents / purchases_count is null", "ada bob cat dan"),
    ("tier is null", "ada bob cat dan"),
    ("1 + 2 * 3 = 7", "ada bob cat dan"),
    ("1 / 0 is null", "ada bob cat dan"),
]


@pytest.mark.parametrize("expression,expected", FIELD_CASES, ids=[e for e, _ in FIELD_CASES])
def test_member_fields_select_the_right_members(server, crowd, expression, expected):
    city, members = crowd
    text = expression.format(**{label: m["id"] for label, m in members.items()})
    full = f"city = {quoted(city)} and ({text})"
    want = sorted(members[label]["id"] for label in expected.split())
    assert preview_ids(server, full) == want
    seg = create_segment(server, full)
    assert count_of(server, seg["id"]) == len(want)
    assert sum(member_pages(server, seg["id"], 2), []) == want
    server.delete(f"/v1/segments/{seg['id']}")


def test_erased_members_never_belong_to_a_segment(server):
    city = marker()
    kept = server.create_member(address={"city": city}, email="kept@example.org")
    erased = server.create_member(address={"city": city}, email="gone@example.org")
    seg = create_segment(server, f"city = {quoted(city)} or email_domain = \"example.org\""
                                 " or status = \"closed\" or city is null")
    before = count_of(server, seg["id"])
    r = server.post(f"/v1/members/{erased['id']}/erase")
    assert r.status_code == 200, r.text
    assert count_of(server, seg["id"]) == before - 1
    ids = sum(member_pages(server, seg["id"], 500), [])
    assert kept["id"] in ids and erased["id"] not in ids
    _, _, rows = export(server, seg["id"])
    assert erased["id"] not in [int(row[0]) for row in rows[1:]]
    # Erased members have status closed and no city: still not selected.
    for expression in (f"member_id = {erased['id']}",
                       f"member_id >= {erased['id']} and city is null and status = \"closed\""):
        assert erased["id"] not in preview_ids(server, expression)


# ---- preview ------------------------------------------------------------------------------------

def test_preview_counts_and_shows_the_first_page(server):
    city = marker()
    ids = create_members(server, [{"external_id": unique("pv-"), "address": {"city": city},
                                   "consent": {"sms": True}} for _ in range(7)])
    before = server.db.counts(TABLES)
    expression = f"city = {quoted(city)} and consent_sms and purchases_count < 1"
    r = preview(server, expression, limit=3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"count", "data", "next_after", "understood_as", "evaluated_at"}
    assert body["count"] == 7
    assert [m["id"] for m in body["data"]] == sorted(ids)[:3]
    assert body["data"][0] == server.get(f"/v1/members/{sorted(ids)[0]}").json()
    assert body["next_after"] == sorted(ids)[2]
    assert body["understood_as"] == (
        f'(and (and (= city "{city}") consent_sms) (< purchases_count 1))')
    assert TIMESTAMP.fullmatch(body["evaluated_at"])
    assert server.db.counts(TABLES) == before, "a preview saves nothing"

    default = preview(server, expression).json()
    assert default["count"] == 7 and len(default["data"]) == 7 and default["next_after"] is None


@pytest.mark.parametrize("expression,understood", [
    ('tier IN ("gold", "silver") AND NOT consent_email',
     '(and (in tier "gold" "silver") (not consent_email))'),
    ("purchases_count NOT BETWEEN 1 AND 10", "(not (between purchases_count 1 10))"),
    ("birthday is null or tier Is Not Null", "(or (is-null birthday) (not (is-null tier)))"),
    ("joined_at >= 2026-01-01", "(>= joined_at 2026-01-01T00:00:00Z)"),
    ("1 + 2 * 3 > purchases_count", "(> (+ 1 (* 2 3)) purchases_count)"),
])
def test_preview_says_how_it_understood_the_expression(server, expression, understood):
    r = preview(server, expression, limit=1)
    assert r.status_code == 200, r.text
    assert r.json()["understood_as"] == understood


def test_preview_escapes_quotes_in_understood_as(server):
    r = preview(server, "city = 'x\" OR \"1\"=\"1'")
    assert r.status_code == 200, r.text
    assert r.json()["understood_as"] == '(= city "x\\" OR \\"1\\"=\\"1")'


def test_preview_stores_no_answer_for_an_idempotency_key(server):
    key = {"Idempotency-Key": unique("pv-idem-")}
    before = server.db.counts(TABLES)
    first = server.post("/v1/segments/preview", json={"expression": "true"}, headers=key)
    again = server.post("/v1/segments/preview", json={"expression": "false"}, headers=key)
    assert first.status_code == again.status_code == 200, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["count"] == 0 and again.json()["understood_as"] == "false"
    assert server.db.counts(TABLES) == before
    assert_error(server.post("/v1/segments/preview", json={"expression": "true"},
                             headers={"Idempotency-Key": "has space"}),
                 400, "invalid_idempotency_key")


@pytest.mark.parametrize("body,query,code", [
    ({}, "", "invalid_field"),
    ({"expression": 5}, "", "invalid_field"),
    ({"expression": None}, "", "invalid_field"),
    ({"expression": "true", "name": "x"}, "", "unknown_field"),
    ([], "", "invalid_body"),
    ({"expression": "true"}, "?limit=0", "invalid_query"),
    ({"expression": "true"}, "?limit=501", "invalid_query"),
], ids=["no-expression", "number", "null", "extra-key", "array", "limit-0", "limit-501"])
def test_preview_refusals(server, body, query, code):
    before = server.db.counts(TABLES)
    assert_error(server.post("/v1/segments/preview" + query, json=body), 400, code)
    assert server.db.counts(TABLES) == before


# ---- the CSV export -----------------------------------------------------------------------------

def test_export_is_quoted_csv_with_formula_guard(server):
    city = marker()
    ext = unique("ext-")
    risky = server.create_member(
        external_id="-" + ext, email="risky@example.com", phone="+33 6 12 34 56 78",
        first_name="=HYPERLINK(1)", last_name='+O"Neil, Jr',
        address={"line1": "-2 rue de la Paix", "line2": "@home", "city": city,
                 "region": "Île-de-France", "postal_code": "75002", "country": "fr"},
        consent={"email": True, "post": True})
    plain = server.create_member(external_id=ext, first_name="Ann=e", last_name="a@b",
                                 address={"city": city}, consent={"sms": True, "phone": True})
    seg = create_segment(server, f"city = {quoted(city)}")
    r, text, rows = export(server, seg["id"])
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Content-Disposition"] == f'attachment; filename="segment-{seg["id"]}.csv"'
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert rows[0] == EXPORT_HEADER
    assert text.startswith(",".join(EXPORT_HEADER) + "\r\n"), "the header line is not quoted"
    assert text.endswith("\r\n")

    # Every field of every row is quoted, quotes inside doubled.
    lines = text.split("\r\n")[1:-1]
    assert len(lines) == 2
    field = r'"(?:[^"]|"")*"'
    for line in lines:
        assert re.fullmatch(rf"{field}(?:,{field}){{17}}", line), line

    by_id = {int(row[0]): dict(zip(EXPORT_HEADER, row)) for row in rows[1:]}
    assert list(by_id) == [risky["id"], plain["id"]]
    assert by_id[risky["id"]] == {
        "id": str(risky["id"]), "external_id": "'-" + ext, "email": "risky@example.com",
        "phone": "+33612345678",  # numbers start with + and are not guarded
        "first_name": "'=HYPERLINK(1)", "last_name": "'+O\"Neil, Jr",
        "address_line1": "'-2 rue de la Paix", "address_line2": "'@home", "city": city,
        "region": "Île-de-France", "postal_code": "75002", "country": "FR", "tier": "",
        "status": "active", "consent_email": "1", "consent_sms": "0", "consent_post": "1",
        "consent_phone": "0"}
    assert by_id[plain["id"]] == {
        "id": str(plain["id"]), "external_id": ext, "email": "", "phone": "",
        "first_name": "Ann=e", "last_name": "a@b", "address_line1": "", "address_line2": "",
        "city": city, "region": "", "postal_code": "", "country": "", "tier": "",
        "status": "active", "consent_email": "0", "consent_sms": "1", "consent_post": "0",
        "consent_phone": "1"}
    assert '"\'+O""Neil, Jr"' in text


def test_export_of_an_empty_segment_is_the_header(server):
    seg = create_segment(server, f"city = {quoted(marker())}")
    _, text, rows = export(server, seg["id"])
    assert rows == [EXPORT_HEADER]
    assert text == ",".join(EXPORT_HEADER) + "\r\n"


def test_export_streams_every_member_across_chunks(server):
    city = marker()
    n = 2 * EXPORT_CHUNK_MEMBERS + 1
    ids = sorted(create_members(server, [
        {"external_id": unique("big-"), "first_name": f"=N{k}", "address": {"city": city},
         "consent": {"email": k % 3 == 0}} for k in range(n)]))
    where = f"city = {quoted(city)}"
    whole = create_segment(server, where)
    _, _, rows = export(server, whole["id"])
    assert rows[0] == EXPORT_HEADER
    got = [int(row[0]) for row in rows[1:]]
    assert got == ids, "each member once, in id order, across the chunk boundaries"
    assert count_of(server, whole["id"]) == n
    assert all(row[4].startswith("'=N") and row[8] == city for row in rows[1:])

    # Exactly one and two chunks: the stream ends cleanly on a chunk boundary.
    for size in (EXPORT_CHUNK_MEMBERS, 2 * EXPORT_CHUNK_MEMBERS, EXPORT_CHUNK_MEMBERS + 1):
        seg = create_segment(server, f"{where} and member_id <= {ids[size - 1]}")
        _, _, rows = export(server, seg["id"])
        assert [int(row[0]) for row in rows[1:]] == ids[:size]

    # member_stats joined in: the export's query shape with a stats field.
    emailable = create_segment(server, f"{where} and consent_email and purchases_count = 0"
                                       " and days_since_last_purchase is null")
    _, _, rows = export(server, emailable["id"])
    assert len(rows) - 1 == count_of(server, emailable["id"]) == (n + 2) // 3
    assert {row[14] for row in rows[1:]} == {"1"}


# ---- injection attempts -------------------------------------------------------------------------

def test_sql_in_expressions_is_only_ever_text(server):
    tables = server.db.tables()
    members_before = server.db.count("members")
    city = marker()
    odd = f"O'Brien\"; DROP TABLE members; -- {city}"
    target = server.create_member(address={"city": odd})

    for expression in (
        "city = \"x' OR '1'='1\"",
        "city = 'x\" OR \"1\"=\"1'",
        "city = \"x') OR 1=1 --\"",
        "city contains \"%\"",
        "city starts_with \"_\"",
        "city = \"\\\\\" or city = \"x\"",
        "email_domain = \"a' UNION SELECT id FROM members --\"",
    ):
        r = preview(server, expression)
        assert r.status_code == 200, f"{expression!r}: {r.text}"
        assert r.json()["count"] == 0, expression
        seg = create_segment(server, expression)
        assert count_of(server, seg["id"]) == 0, expression

    assert preview_ids(server, f"city = {quoted(odd)}") == [target["id"]]
    assert preview_ids(server, f"city contains {quoted(city)}") == [target["id"]]
    assert preview_ids(server, f"city starts_with {quoted(odd[:12])}") == [target["id"]]

    for expression in ('tier = "gold"; DROP TABLE members', "tier = 'gold' OR 1=1 --",
                       "1=1; DELETE FROM members", "city = x' OR '1'='1",
                       "member_id = 1 UNION SELECT 1", "city = \"\" or \"\"=\""):
        before = server.db.counts(TABLES)
        assert_error(preview(server, expression), 400, "invalid_expression")
        assert_error(server.post("/v1/segments", json={"name": unique("inj-"),
                                                       "expression": expression}),
                     400, "invalid_expression")
        assert server.db.counts(TABLES) == before

    name = "x'); DROP TABLE segments; -- " + unique("")
    seg = create_segment(server, "true", name=name, description="'; DELETE FROM members; --")
    assert server.get(f"/v1/segments/{seg['id']}").json()["name"] == name
    assert_error(server.delete("/v1/attributes/x';%20DROP%20TABLE%20members;--"), 404,
                 "not_found")

    assert server.db.tables() == tables
    assert server.db.count("members") == members_before + 1
    r = server.get("/v1/members?limit=1")
    assert r.status_code == 200 and len(r.json()["data"]) == 1
    assert server.create_member()["id"] > target["id"]


# ---- the CLI ------------------------------------------------------------------------------------

def test_cli_segment_count_matches_the_api(server):
    city = marker()
    create_members(server, [{"external_id": unique("cli-"), "address": {"city": city},
                             "consent": {"email": k < 3}} for k in range(5)])
    for expression, want in ((f"city = {quoted(city)}", 5),
                             (f"city = {quoted(city)} and consent_email", 3),
                             (f"city = {quoted(city)} and not consent_email", 2),
                             (f"city = {quoted(city)} and tier = \"gold\"", 0)):
        seg = create_segment(server, expression)
        assert count_of(server, seg["id"]) == want
        out = run_patron("segment", "count", expression, "--db", server.db.url)
        assert out.stdout == f"{want}\n", out.stdout
    everyone = run_patron("segment", "count", "true", "--db", server.db.url)
    assert int(everyone.stdout) == preview(server, "true").json()["count"]


def test_cli_segment_count_refuses_a_bad_expression(server):
    before = server.db.counts(TABLES)
    proc = run_patron("segment", "count", 'tierr = "gold"', "--db", server.db.url, check=False)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "line 1, col 1: unknown field 'tierr', did you mean 'tier'?" in proc.stderr
    assert "invalid_expression" in proc.stderr
    proc = run_patron("segment", "count", "--db", server.db.url, check=False)
    assert proc.returncode != 0 and "usage" in proc.stderr
    assert server.db.counts(TABLES) == before
