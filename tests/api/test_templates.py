"""Message templates over HTTP: versions, checks when saved (unknown names with line, column
and a suggestion; unclosed blocks), roles, and a preview rendered for a member with their
points and the offers open to them. On both engines."""

import pytest

from conftest import assert_error, unique
from test_ledger import buy, make_rule  # noqa: F401 (fixture)

BODY_TEXT = ("Hello {{member.first_name}},\nyou have {{points.available}} points."
             "{{#each offers as offer}}\n- {{offer.title}}{{/each}}")


def make_template(server, **fields):
    body = {"name": unique("tpl-"), "subject": "Hi {{member.first_name}}", "text": BODY_TEXT,
            "html": "<p>Hello {{member.first_name}}</p>"}
    body.update(fields)
    r = server.post("/v1/templates", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_templates_are_versioned(server):
    t = make_template(server)
    assert t["version"] == 1 and [v["version"] for v in t["versions"]] == [1]
    r = server.patch(f"/v1/templates/{t['id']}", json={"subject": "Points for {{member.first_name}}"})
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert t2["version"] == 2 and t2["subject"] == "Points for {{member.first_name}}"
    assert t2["text"] == BODY_TEXT  # unchanged parts carry over
    assert [v["version"] for v in t2["versions"]] == [2, 1]
    assert server.get(f"/v1/templates/{t['id']}").json()["version"] == 2
    assert t["id"] in [x["id"] for x in server.get("/v1/templates").json()["data"]]
    assert server.db.count("audit_log", f"action = 'template.update' AND entity_id = {t['id']}") == 1


@pytest.mark.parametrize("field, text, needle", [
    ("text", "Hi {{member.frist_name}}", "text: line 1, col 4: unknown name 'member.frist_name', "
                                          "did you mean 'member.first_name'?"),
    ("html", "<p>\n{{#if points.available}}", "html: line 2, col 1: {{#if}} is never closed"),
    ("subject", "{{offers}}", "subject: line 1, col 1: 'offers' is a list"),
])
def test_bad_templates_are_refused_with_where_and_what(server, field, text, needle):
    before = server.db.count("template_versions")
    r = server.post("/v1/templates", json={"name": unique("tpl-"), "subject": "s", "text": "t", field: text})
    assert_error(r, 400, "invalid_template")
    assert needle in r.json()["error"]["message"], r.text
    assert server.db.count("template_versions") == before


def test_bad_input_and_roles(server):
    t = make_template(server)
    assert_error(server.post("/v1/templates", json={"name": t["name"], "subject": "s", "text": "t"}), 409,
                 "duplicate_template_name")
    assert_error(server.post("/v1/templates", json={"name": unique("x"), "subject": "", "text": "t"}), 400,
                 "invalid_field")
    assert_error(server.post("/v1/templates", json={"name": unique("x"), "subject": "s", "text": "t",
                                                    "colour": 1}), 400, "unknown_field")
    assert_error(server.patch(f"/v1/templates/{t['id']}", json={}), 400, "empty_patch")
    assert_error(server.patch(f"/v1/templates/{t['id']}", json={"text": "{{nope}}"}), 400, "invalid_template")
    assert server.get(f"/v1/templates/{t['id']}").json()["version"] == 1
    assert_error(server.get("/v1/templates/987654"), 404, "not_found")
    for role in ("agent", "integration", "analyst"):
        assert_error(server.get("/v1/templates", key=role), 403, "forbidden")


def test_preview_renders_for_a_member(server, make_rule):
    store = unique("st")
    make_rule(condition=f'store = "{store}"', formula="fixed", fixed_points=120)
    m = server.create_member(first_name="Zoé <3")
    buy(server, m["id"], 100, store=store)
    marker = unique("city-")
    r = server.post("/v1/rules", json={"name": unique("rule-"), "formula": "fixed", "fixed_points": 1,
                                       "condition": f'store = "{unique("st")}"'})
    server.patch(f"/v1/members/{m['id']}", json={"address": {"city": marker}})
    r = server.post("/v1/offers", json={"name": unique("o-"), "title": "Double points", "rule_id": r.json()["id"],
                                        "segment": f'city = "{marker}"', "starts_at": "2020-01-01T00:00:00Z",
                                        "ends_at": "2099-01-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    t = make_template(server)
    r = server.post(f"/v1/templates/{t['id']}/preview", json={"member_id": m["id"]})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["subject"] == "Hi Zoé <3"
    assert p["text"] == "Hello Zoé <3,\nyou have 120 points.\n- Double points"
    assert p["html"] == "<p>Hello Zoé &lt;3</p>"
    server.patch(f"/v1/templates/{t['id']}", json={"html": None})
    old = server.post(f"/v1/templates/{t['id']}/preview", json={"member_id": m["id"], "version": 1}).json()
    assert old["version"] == 1 and old["html"] == p["html"]
    assert server.post(f"/v1/templates/{t['id']}/preview", json={"member_id": m["id"]}).json()["html"] is None
    assert_error(server.post(f"/v1/templates/{t['id']}/preview", json={"member_id": 987654}), 404,
                 "member_not_found")
    assert_error(server.post(f"/v1/templates/{t['id']}/preview", json={"member_id": m["id"], "version": 9}), 404,
                 "not_found")
