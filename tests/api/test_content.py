"""Published content over HTTP (news, tips, complementary products, events, competitions):
create with a window and a segment, read, change, delete, roles, and bad input that creates
nothing. On both engines."""

import pytest

from conftest import ROLES, assert_error, unique

CONTENT_KEYS = {"id", "name", "title", "body", "category", "link", "segment", "starts_at", "ends_at",
                "active", "created_at", "updated_at"}


def make_content(server, **fields):
    body = {"name": unique("c-"), "title": "Caring for basil", "body": "Water little.\nSun a lot.",
            "category": "tip", "starts_at": "2026-11-01T00:00:00Z"}
    body.update(fields)
    r = server.post("/v1/content", json=body)
    assert r.status_code == 201, r.text
    assert set(r.json()) == CONTENT_KEYS, r.json()
    return r.json()


def test_content_crud(server):
    c = make_content(server, segment='city = "Lyon"', ends_at="2026-12-01T00:00:00Z", link="https://example.com/b")
    assert (c["category"], c["segment"], c["body"], c["active"]) == ("tip", 'city = "Lyon"',
                                                                    "Water little.\nSun a lot.", True)
    assert server.get(f"/v1/content/{c['id']}", key="agent").json() == c
    r = server.patch(f"/v1/content/{c['id']}", json={"title": "Basil, the easy way", "active": False})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "Basil, the easy way" and r.json()["active"] is False
    assert c["id"] in [x["id"] for x in server.get("/v1/content").json()["data"]]
    r = server.delete(f"/v1/content/{c['id']}")
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert_error(server.get(f"/v1/content/{c['id']}"), 404, "not_found")
    assert server.db.count("audit_log", f"action LIKE 'content.%' AND entity_id = {c['id']}") == 3


@pytest.mark.parametrize("fields, code, needle", [
    ({"category": "gossip"}, "invalid_field", "category"),
    ({"segment": "citty = \"Lyon\""}, "invalid_expression", "did you mean 'city'"),
    ({"ends_at": "2026-10-01T00:00:00Z"}, "invalid_field", "ends_at must come after starts_at"),
    ({"starts_at": "tomorrow"}, "invalid_field", "starts_at"),
    ({"body": ""}, "invalid_field", "body"),
    ({"colour": "red"}, "unknown_field", "colour"),
])
def test_bad_content_creates_nothing(server, fields, code, needle):
    before = server.db.count("content")
    body = {"name": unique("c-"), "title": "t", "body": "b", "category": "news", "starts_at": "2026-11-01T00:00:00Z"}
    body.update(fields)
    r = server.post("/v1/content", json=body)
    assert_error(r, 400, code)
    assert needle in r.json()["error"]["message"], r.text
    assert server.db.count("content") == before


def test_names_are_unique(server):
    c = make_content(server)
    r = server.post("/v1/content", json={"name": c["name"], "title": "t", "body": "b", "category": "news",
                                         "starts_at": "2026-11-01T00:00:00Z"})
    assert_error(r, 409, "duplicate_content_name")


@pytest.mark.parametrize("role", ROLES)
def test_content_roles(server, role):
    r = server.post("/v1/content", key=role, json={"name": unique("c-"), "title": "t", "body": "b",
                                                    "category": "event", "starts_at": "2026-11-01T00:00:00Z"})
    if role in ("admin", "manager"):
        assert r.status_code == 201, r.text
    else:
        assert_error(r, 403, "forbidden")
    assert server.get("/v1/content", key=role).status_code == 200
