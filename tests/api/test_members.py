"""Members: create, read, patch, list (paging, search, status), by-external, erase, validation."""

import urllib.parse

import pytest

from conftest import assert_error, unique

FULL = {
    "email": "Jane.Doe@Example.COM",
    "phone": "+33 (1) 23-45.67.89",
    "first_name": "Jane",
    "last_name": "Doe",
    "birthday": "1990-02-28",
    "address": {"line1": "1 Rue de la Paix", "line2": "Bât. B", "city": "Paris",
                "region": "IDF", "postal_code": "75002", "country": "fr"},
    "consent": {"email": True, "sms": False, "post": True, "phone": False},
    "status": "suspended",
    "attributes": {"shoe_size": 38, "vip": True, "note": "likes tea", "none": None},
    "joined_at": "2020-01-02T03:04:05Z",
}

MEMBER_KEYS = {"id", "tier", "external_id", "email", "phone", "first_name", "last_name", "birthday",
               "address", "consent", "status", "attributes", "joined_at", "created_at",
               "updated_at", "erased_at", "referral_code"}


def page_all(server, query, limit):
    """Follows next_after from the start; returns every page's data."""
    pages, after = [], None
    for _ in range(1000):
        q = dict(query, limit=limit)
        if after is not None:
            q["after"] = after
        r = server.get("/v1/members?" + urllib.parse.urlencode(q))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"data", "next_after"}
        pages.append(body["data"])
        after = body["next_after"]
        if after is None:
            return pages
        assert after == body["data"][-1]["id"], "next_after must be the last id of the page"
    raise AssertionError("paging never ended")


# ---- create and read -------------------------------------------------------------

def test_create_full_member_normalises_and_reads_back(server):
    ext = unique("full-")
    r = server.post("/v1/members", json=dict(FULL, external_id=ext))
    assert r.status_code == 201, r.text
    m = r.json()
    assert set(m) == MEMBER_KEYS
    assert isinstance(m["id"], int) and m["id"] > 0
    assert m["external_id"] == ext
    assert m["email"] == "Jane.Doe@example.com"  # the domain is lowercased, the local part kept
    assert m["phone"] == "+33123456789"
    assert m["address"] == {"line1": "1 Rue de la Paix", "line2": "Bât. B", "city": "Paris",
                            "region": "IDF", "postal_code": "75002", "country": "FR"}
    assert m["consent"] == {"email": True, "sms": False, "post": True, "phone": False}
    assert m["status"] == "suspended"
    assert m["attributes"] == {"shoe_size": 38, "vip": True, "note": "likes tea", "none": None}
    assert m["birthday"] == "1990-02-28"
    assert m["joined_at"].startswith("2020-01-02T03:04:05")
    assert m["erased_at"] is None
    assert m["created_at"] == m["updated_at"]

    got = server.get(f"/v1/members/{m['id']}")
    assert got.status_code == 200
    assert got.json() == m
    by_ext = server.get(f"/v1/members/by-external/{ext}")
    assert by_ext.status_code == 200
    assert by_ext.json() == m


def test_create_minimal_members_get_defaults(server):
    by_email = server.post("/v1/members", json={"email": unique("only-") + "@example.net"})
    assert by_email.status_code == 201, by_email.text
    m = by_email.json()
    assert m["external_id"] is None
    assert m["status"] == "active"
    assert m["attributes"] == {}
    assert m["consent"] == {"email": False, "sms": False, "post": False, "phone": False}
    assert m["address"] == {k: None for k in ("line1", "line2", "city", "region", "postal_code",
                                              "country")}
    assert m["joined_at"] == m["created_at"]

    by_ext = server.post("/v1/members", json={"external_id": unique("only-")})
    assert by_ext.status_code == 201, by_ext.text
    assert by_ext.json()["email"] is None
    assert by_ext.json()["id"] > m["id"]


def test_leap_day_birthday(server):
    r = server.post("/v1/members", json={"external_id": unique("leap-"), "birthday": "2024-02-29"})
    assert r.status_code == 201, r.text
    assert r.json()["birthday"] == "2024-02-29"


def test_field_limits_are_inclusive(server):
    body = {"external_id": unique("x") + "x" * (128 - 17), "first_name": "n" * 100,
            "address": {"postal_code": "p" * 16, "line1": "l" * 200}}
    assert len(body["external_id"]) == 128
    r = server.post("/v1/members", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["first_name"] == "n" * 100
    assert r.json()["external_id"] == body["external_id"]


def test_create_duplicate_external_id_is_409(server):
    db = server.db
    ext = unique("dup-")
    first = server.create_member(external_id=ext, first_name="First")
    before = db.counts()
    r = server.post("/v1/members", json={"external_id": ext, "first_name": "Second"})
    assert_error(r, 409, "duplicate_external_id")
    assert db.counts() == before
    assert server.get(f"/v1/members/by-external/{ext}").json() == first


def test_get_unknown_member_is_404(server):
    assert_error(server.get("/v1/members/999999999"), 404, "not_found")
    assert_error(server.get("/v1/members/abc"), 404, "not_found")
    assert_error(server.get("/v1/members/0"), 404, "not_found")
    assert_error(server.get("/v1/members/by-external/" + unique("nobody-")), 404, "not_found")


# ---- patch ---------------------------------------------------------------------------

def test_patch_merges_fields_and_nested_objects(server):
    m = server.create_member(email="patch@example.org", first_name="Pat",
                             address={"line1": "1 High St", "city": "Leeds", "country": "GB"},
                             consent={"email": True})
    r = server.patch(f"/v1/members/{m['id']}",
                     json={"last_name": "Smith", "address": {"city": "York"},
                           "consent": {"sms": True}, "phone": None})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["id"] == m["id"]
    assert p["first_name"] == "Pat" and p["last_name"] == "Smith"
    assert p["address"]["line1"] == "1 High St"  # untouched nested field kept
    assert p["address"]["city"] == "York"
    assert p["address"]["country"] == "GB"
    assert p["consent"] == {"email": True, "sms": True, "post": False, "phone": False}
    assert p["created_at"] == m["created_at"]
    assert p["updated_at"] >= m["updated_at"]
    assert server.get(f"/v1/members/{m['id']}").json() == p

    cleared = server.patch(f"/v1/members/{m['id']}", json={"first_name": None,
                                                          "address": {"line1": None}})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["first_name"] is None
    assert cleared.json()["address"]["line1"] is None
    assert cleared.json()["last_name"] == "Smith"


def test_patch_external_id_moves_the_lookup(server):
    old, new = unique("old-"), unique("new-")
    m = server.create_member(external_id=old)
    r = server.patch(f"/v1/members/{m['id']}", json={"external_id": new})
    assert r.status_code == 200, r.text
    assert r.json()["external_id"] == new
    assert server.get(f"/v1/members/by-external/{new}").json()["id"] == m["id"]
    assert_error(server.get(f"/v1/members/by-external/{old}"), 404, "not_found")


def test_patch_to_a_taken_external_id_is_409_and_changes_nothing(server):
    db = server.db
    a = server.create_member(first_name="Alpha")
    b = server.create_member(first_name="Beta")
    before = db.counts()
    r = server.patch(f"/v1/members/{b['id']}", json={"external_id": a["external_id"],
                                                      "first_name": "Changed"})
    assert_error(r, 409, "duplicate_external_id")
    assert db.counts() == before
    assert server.get(f"/v1/members/{b['id']}").json() == b


def test_patch_errors(server):
    db = server.db
    m = server.create_member(email=unique("pe-") + "@example.com")
    before = db.counts()
    assert_error(server.patch("/v1/members/999999999", json={"first_name": "x"}), 404, "not_found")
    assert_error(server.patch("/v1/members/nope", json={"first_name": "x"}), 404, "not_found")
    assert_error(server.patch(f"/v1/members/{m['id']}", json={}), 400, "invalid_body")
    assert_error(server.patch(f"/v1/members/{m['id']}", json={"address": {}}), 400, "invalid_body")
    assert_error(server.patch(f"/v1/members/{m['id']}", json={"address": {}, "consent": {}}), 400,
                 "invalid_body")
    assert_error(server.patch(f"/v1/members/{m['id']}", json={"id": 5}), 400, "read_only_field")
    assert_error(server.patch(f"/v1/members/{m['id']}", json={"emial": "a@b.co"}), 400,
                 "unknown_field")
    # Clearing both identities would leave a member nobody can find.
    assert_error(server.patch(f"/v1/members/{m['id']}", json={"email": None, "external_id": None}),
                 400, "missing_identity")
    assert db.counts() == before
    assert server.get(f"/v1/members/{m['id']}").json() == m


# ---- list, paging, search, filters ---------------------------------------------------

def test_list_pages_with_next_after(server):
    token = unique("pg")
    ids = [server.create_member(last_name=f"{token} {i}")["id"] for i in range(5)]
    pages = page_all(server, {"q": token}, limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [m["id"] for p in pages for m in p] == ids

    exact = page_all(server, {"q": token}, limit=5)
    assert [len(p) for p in exact] == [5], "a full last page must not announce a next page"


def test_list_without_filters_walks_every_member_once(server):
    made = {server.create_member()["id"] for _ in range(3)}
    pages = page_all(server, {}, limit=4)
    seen = [m["id"] for p in pages for m in p]
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert made <= set(seen)
    assert len(seen) == server.db.count("members")
    default = server.get("/v1/members").json()
    assert len(default["data"]) == min(50, len(seen))


@pytest.mark.parametrize("how", ["email", "external_id", "first_name", "full_name", "upper"])
def test_search(server, how):
    token = unique("srch")
    email = f"{token}@shop.example"
    ext = unique("sx-")
    m = server.create_member(external_id=ext, email=email, first_name="Zoé",
                             last_name=f"Van{token}")
    server.create_member(first_name="Zoé", last_name="Other")  # must not match
    q = {"email": email, "external_id": ext, "first_name": f"van{token}",
         "full_name": f"zoé van{token}", "upper": f"VAN{token.upper()}"}[how]
    r = server.get("/v1/members", params={"q": q})
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["data"]] == [m["id"]]


def test_search_by_email_as_given(server):
    """An email is stored with its domain lowercased; searching with the address exactly as it
    was given at creation must still find the member."""
    token = unique("case")
    given = f"{token}@Example.ORG"
    m = server.create_member(email=given)
    assert m["email"] == f"{token}@example.org"
    stored = server.get("/v1/members", params={"q": m["email"]}).json()["data"]
    assert [x["id"] for x in stored] == [m["id"]]
    as_given = server.get("/v1/members", params={"q": given}).json()["data"]
    assert [x["id"] for x in as_given] == [m["id"]], (
        "searching by the email as the member gave it finds nothing")


def test_search_wildcards_match_themselves(server):
    token = unique("wc")
    server.create_member(last_name=f"{token}abc")
    for q in (f"{token}%", f"{token}_bc"):
        r = server.get("/v1/members", params={"q": q})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == [], f"q={q!r} is a literal, not a LIKE pattern"
    for q in ("%", "_"):
        r = server.get("/v1/members", params={"q": q, "limit": 500})
        assert r.status_code == 200, r.text
        for m in r.json()["data"]:
            text = " ".join(str(m[f]) for f in ("email", "external_id", "first_name", "last_name"))
            assert q in text, f"q={q!r} matched {m['id']}, which has no {q!r}"
    hit = server.create_member(last_name=f"{token}%under_score")
    r = server.get("/v1/members", params={"q": f"{token}%under_"})
    assert [x["id"] for x in r.json()["data"]] == [hit["id"]]


def test_status_filter(server):
    token = unique("st")
    active = server.create_member(last_name=token)
    suspended = server.create_member(last_name=token, status="suspended")
    closed = server.create_member(last_name=token, status="closed")
    for status, member in (("active", active), ("suspended", suspended), ("closed", closed)):
        r = server.get("/v1/members", params={"q": token, "status": status})
        assert r.status_code == 200, r.text
        assert [x["id"] for x in r.json()["data"]] == [member["id"]]
        everyone = server.get("/v1/members", params={"status": status, "limit": 500}).json()["data"]
        assert all(x["status"] == status for x in everyone)
    both = server.get("/v1/members", params={"q": token}).json()["data"]
    assert len(both) == 3


@pytest.mark.parametrize("ext", ["with space", "ünïcødé-ÿ", "a+b=c&d", "semi;colon", "dot.ted"])
def test_by_external_with_special_characters(server, ext):
    value = unique("") + ext
    m = server.create_member(external_id=value)
    r = server.get("/v1/members/by-external/" + urllib.parse.quote(value, safe=""))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == m["id"]


def test_external_id_filter(server):
    """?external_id= is an exact match, and the way to find ids a path cannot carry ('/')."""
    slashed = unique("shop/") + "/42"
    m = server.create_member(external_id=slashed, status="suspended")
    server.create_member(external_id=slashed + "0")  # a longer id must not match
    r = server.get("/v1/members", params={"external_id": slashed})
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["data"]] == [m["id"]]
    assert r.json()["next_after"] is None
    both = server.get("/v1/members", params={"external_id": slashed, "status": "suspended"})
    assert [x["id"] for x in both.json()["data"]] == [m["id"]]
    other_status = server.get("/v1/members", params={"external_id": slashed, "status": "active"})
    assert other_status.json()["data"] == []
    prefix = server.get("/v1/members", params={"external_id": slashed[:-1]})
    assert prefix.json()["data"] == []
    assert server.get("/v1/members", params={"external_id": unique("none-")}).json()["data"] == []


# ---- erase -----------------------------------------------------------------------------------

def test_erase(server):
    ext = unique("erase-")
    m = server.create_member(external_id=ext, email="erase.me@example.com", first_name="Eve",
                             last_name="Erased", phone="+44 20 7946 0000",
                             address={"line1": "2 Secret Rd", "city": "Oxford", "country": "GB"},
                             consent={"email": True, "sms": True},
                             attributes={"pet": "cat"}, birthday="1985-05-05")
    r = server.post(f"/v1/members/{m['id']}/erase")
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["id"] == m["id"]
    assert e["status"] == "closed"
    assert e["erased_at"] is not None
    for field in ("external_id", "email", "phone", "first_name", "last_name", "birthday"):
        assert e[field] is None, field
    assert all(v is None for v in e["address"].values())
    assert e["consent"] == {"email": False, "sms": False, "post": False, "phone": False}
    assert e["attributes"] == {}
    assert server.get(f"/v1/members/{m['id']}").json() == e
    assert_error(server.get(f"/v1/members/by-external/{ext}"), 404, "not_found")
    closed = server.get("/v1/members", params={"status": "closed", "limit": 500}).json()["data"]
    assert m["id"] in [x["id"] for x in closed]

    # Erased members cannot be changed; erasing again changes nothing.
    before = server.db.counts()
    assert_error(server.patch(f"/v1/members/{m['id']}", json={"first_name": "Back"}), 409,
                 "member_erased")
    again = server.post(f"/v1/members/{m['id']}/erase")
    assert again.status_code == 200, again.text
    assert again.json() == e
    assert server.db.counts() == before

    # The external id is free again.
    reuse = server.post("/v1/members", json={"external_id": ext})
    assert reuse.status_code == 201, reuse.text
    assert reuse.json()["id"] != m["id"]


def test_erase_errors(server):
    before = server.db.counts()
    assert_error(server.post("/v1/members/999999999/erase"), 404, "not_found")
    assert_error(server.post("/v1/members/x/erase"), 404, "not_found")
    m = server.create_member()
    before = server.db.counts()
    assert_error(server.post(f"/v1/members/{m['id']}/erase", json={"reason": "asked"}), 400,
                 "invalid_body")
    assert_error(server.post(f"/v1/members/{m['id']}/erase", key="agent"), 403, "forbidden")
    assert server.db.counts() == before
    assert server.get(f"/v1/members/{m['id']}").json() == m
    ok = server.post(f"/v1/members/{m['id']}/erase", json={}, key="manager")
    assert ok.status_code == 200, ok.text


# ---- validation, table-driven --------------------------------------------------------------

E = "v@example.com"
INVALID_CREATES = [
    # (body, code, text the message must contain)
    ({"emial": E}, "unknown_field", "did you mean 'email'"),
    ({"email": E, "frist_name": "x"}, "unknown_field", "did you mean 'first_name'"),
    ({"email": E, "address": {"citty": "x"}}, "unknown_field", "address.city"),
    ({"email": E, "consent": {"sms_": True}}, "unknown_field", "consent.sms"),
    ({"email": E, "shoe_size": 3}, "unknown_field", "shoe_size"),
    ({"email": E, "id": 7}, "read_only_field", "id"),
    ({"email": E, "created_at": "2020-01-01T00:00:00Z"}, "read_only_field", "created_at"),
    ({"email": E, "updated_at": "2020-01-01T00:00:00Z"}, "read_only_field", "updated_at"),
    ({"email": E, "erased_at": None}, "read_only_field", "erased_at"),
    ({"email": "not-an-email"}, "invalid_email", ""),
    ({"email": "a@b"}, "invalid_email", ""),
    ({"email": "a..b@example.com"}, "invalid_email", ""),
    ({"email": "a@@example.com"}, "invalid_email", ""),
    ({"email": "a b@example.com"}, "invalid_email", ""),
    ({"email": "x" * 250 + "@example.com"}, "invalid_field", "email"),
    ({"email": 42}, "invalid_field", "email"),
    ({"external_id": ""}, "invalid_field", "external_id"),
    ({"external_id": "x" * 129}, "invalid_field", "external_id"),
    ({"external_id": 12345}, "invalid_field", "external_id"),
    ({"email": E, "first_name": ""}, "invalid_field", "first_name"),
    ({"email": E, "first_name": "n" * 101}, "invalid_field", "first_name"),
    ({"email": E, "first_name": "bell\u0007"}, "invalid_field", "first_name"),
    ({"email": E, "last_name": ["Doe"]}, "invalid_field", "last_name"),
    ({"email": E, "phone": "12345"}, "invalid_field", "phone"),
    ({"email": E, "phone": "call me"}, "invalid_field", "phone"),
    ({"email": E, "phone": "1" * 16}, "invalid_field", "phone"),
    ({"email": E, "birthday": "2020-13-01"}, "invalid_field", "birthday"),
    ({"email": E, "birthday": "1899-12-31"}, "invalid_field", "birthday"),
    ({"email": E, "birthday": "2020-02-30"}, "invalid_field", "birthday"),
    ({"email": E, "birthday": "2021-02-29"}, "invalid_field", "birthday"),
    ({"email": E, "birthday": "01/02/1990"}, "invalid_field", "birthday"),
    ({"email": E, "address": "1 High St"}, "invalid_field", "address"),
    ({"email": E, "address": {"country": "FRA"}}, "invalid_field", "address.country"),
    ({"email": E, "address": {"country": "F1"}}, "invalid_field", "address.country"),
    ({"email": E, "address": {"postal_code": "p" * 17}}, "invalid_field", "address.postal_code"),
    ({"email": E, "consent": {"email": "yes"}}, "invalid_field", "consent.email"),
    ({"email": E, "consent": {"sms": None}}, "invalid_field", "consent.sms"),
    ({"email": E, "consent": True}, "invalid_field", "consent"),
    ({"email": E, "status": "deleted"}, "invalid_field", "status"),
    ({"email": E, "status": None}, "invalid_field", "status"),
    ({"email": E, "attributes": ["a"]}, "invalid_field", "attributes"),
    ({"email": E, "attributes": {"Bad-Key": 1}}, "invalid_field", "Bad-Key"),
    ({"email": E, "attributes": {"nested": {"a": 1}}}, "invalid_field", "nested"),
    ({"email": E, "attributes": {"long": "v" * 1025}}, "invalid_field", "long"),
    ({"email": E, "attributes": {f"k{i}": i for i in range(65)}}, "invalid_field", "attributes"),
    ({"email": E, "joined_at": "yesterday"}, "invalid_field", "joined_at"),
    ({"email": E, "joined_at": None}, "invalid_field", "joined_at"),
    ({}, "missing_identity", ""),
    ({"first_name": "Nobody"}, "missing_identity", ""),
    ({"email": None, "external_id": None}, "missing_identity", ""),
]


@pytest.mark.parametrize("body,code,hint", INVALID_CREATES,
                         ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(INVALID_CREATES)])
def test_create_validation(server, body, code, hint):
    db = server.db
    before = db.counts()
    r = server.post("/v1/members", json=body)
    assert_error(r, 400, code)
    assert hint in r.json()["error"]["message"]
    assert db.counts() == before


@pytest.mark.parametrize("body", [[], ["email"], "text", 3],
                         ids=["empty-array", "array", "string", "number"])
def test_create_body_must_be_an_object(server, body):
    before = server.db.counts()
    r = server.post("/v1/members", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_body", "invalid_json")
    if isinstance(body, list):
        assert r.json()["error"]["code"] == "invalid_body"
    assert server.db.counts() == before


@pytest.mark.parametrize("body,code", [
    ({"email": "bad"}, "invalid_email"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "read_only_field"),
    ({"adress": {"city": "x"}}, "unknown_field"),
    ({"status": "gone"}, "invalid_field"),
    ({"consent": {"post": 1}}, "invalid_field"),
])
def test_patch_validation(server, body, code):
    m = server.create_member(email=unique("pv-") + "@example.com")
    before = server.db.counts()
    r = server.patch(f"/v1/members/{m['id']}", json=body)
    assert_error(r, 400, code)
    assert server.db.counts() == before
    assert server.get(f"/v1/members/{m['id']}").json() == m
