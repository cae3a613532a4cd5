"""The audit log: one row per change with actor, ip and request id, never personal data."""

import json

import pytest

from conftest import Database, Server, assert_error, run_patron, unique

PERSONAL = {
    "email": "Audit.Secret@Example.org",
    "first_name": "Auditha",
    "last_name": "Secretson",
    "phone": "+1 555 867 5309",
    "birthday": "1977-07-07",
    "address": {"line1": "77 Hidden Lane", "city": "Privacyville", "postal_code": "PV77"},
    "attributes": {"diagnosis": "confidential-note"},
}
VALUES = ["Audit.Secret", "audit.secret", "Auditha", "Secretson", "5558675309", "1977-07-07",
          "Hidden Lane", "Privacyville", "PV77", "confidential-note"]


def audit(server, **params):
    r = server.get("/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def rows_for(server, entity, entity_id, action=None):
    params = {"entity": entity, "entity_id": entity_id}
    if action:
        params["action"] = action
    return audit(server, **params)["data"]


def key_id(server, role):
    return server.get("/v1/auth/me", key=role).json()["id"]


def test_member_changes_are_audited_with_actor_ip_and_request_id(server):
    ext = unique("aud-")
    rid = unique("req-")
    r = server.post("/v1/members", json=dict(PERSONAL, external_id=ext), key="integration",
                    headers={"X-Request-Id": rid})
    assert r.status_code == 201, r.text
    assert r.headers["X-Request-Id"] == rid
    member = r.json()
    (create,) = rows_for(server, "member", member["id"])
    assert create["action"] == "member.create"
    assert create["entity"] == "member" and create["entity_id"] == member["id"]
    assert create["actor"] == {"kind": "api_key", "id": key_id(server, "integration"),
                               "label": "test-integration"}
    assert create["ip"] == "127.0.0.1"
    assert create["request_id"] == rid
    assert create["at"] == member["created_at"]
    assert sorted(create["detail"]["fields"]) == sorted(
        ["external_id", "email", "first_name", "last_name", "phone", "birthday", "address.line1",
         "address.city", "address.postal_code", "attributes"])

    # Without an X-Request-Id the server makes one, and the answer and the row agree.
    p = server.patch(f"/v1/members/{member['id']}", json={"last_name": "Changed", "phone": None},
                     key="agent")
    assert p.status_code == 200, p.text
    update = rows_for(server, "member", member["id"], "member.update")
    assert len(update) == 1
    assert update[0]["request_id"] == p.headers["X-Request-Id"] and update[0]["request_id"]
    assert update[0]["actor"]["label"] == "test-agent"
    assert sorted(update[0]["detail"]["fields"]) == ["last_name", "phone"]

    e = server.post(f"/v1/members/{member['id']}/erase", key="manager")
    assert e.status_code == 200, e.text
    (erase,) = rows_for(server, "member", member["id"], "member.erase")
    assert erase["actor"]["label"] == "test-manager"
    assert erase["request_id"] == e.headers["X-Request-Id"]
    assert erase["at"] == e.json()["erased_at"]

    # Newest first.
    history = rows_for(server, "member", member["id"])
    assert [h["action"] for h in history] == ["member.erase", "member.update", "member.create"]
    assert [h["id"] for h in history] == sorted((h["id"] for h in history), reverse=True)


@pytest.mark.parametrize("given", ["has space", "x" * 37, "caf\u00e9"])
def test_unusable_request_ids_are_replaced(server, given):
    r = server.post("/v1/members", json={"external_id": unique("rid-")},
                    headers={"X-Request-Id": given.encode("latin-1")})
    assert r.status_code == 201, r.text
    assert r.headers["X-Request-Id"] != given and r.headers["X-Request-Id"]
    (row,) = rows_for(server, "member", r.json()["id"])
    assert row["request_id"] == r.headers["X-Request-Id"]


def test_no_personal_data_in_the_audit_log(server):
    m = server.post("/v1/members", json=dict(PERSONAL, external_id=unique("pd-"))).json()
    server.patch(f"/v1/members/{m['id']}",
                 json={"first_name": "Auditha", "address": {"city": "Privacyville"},
                       "attributes": {"diagnosis": "confidential-note", "more": "Secretson"}})
    server.post("/v1/members", json={"external_id": m["external_id"], "email": PERSONAL["email"]})
    server.post(f"/v1/members/{m['id']}/erase")
    listed = json.dumps(audit(server, limit=500))
    stored = json.dumps(server.db.rows("SELECT * FROM audit_log"))
    for value in VALUES + [m["external_id"]]:
        assert value not in listed, f"{value!r} is in the audit log (API)"
        assert value not in stored, f"{value!r} is in the audit_log table"


def test_api_key_and_staff_changes_are_audited(server):
    admin_id = key_id(server, "admin")
    made = server.post("/v1/api-keys", json={"name": unique("ak-"), "role": "analyst"})
    assert made.status_code == 201, made.text
    key = made.json()
    (create,) = rows_for(server, "api_key", key["id"], "api_key.create")
    assert create["actor"] == {"kind": "api_key", "id": admin_id, "label": "test-admin"}
    assert create["detail"] == {"role": "analyst"}
    assert create["request_id"] == made.headers["X-Request-Id"]
    assert key["key"] not in json.dumps(audit(server, limit=500))

    revoked = server.delete(f"/v1/api-keys/{key['id']}")
    assert revoked.status_code == 200
    (revoke,) = rows_for(server, "api_key", key["id"], "api_key.revoke")
    assert revoke["ip"] == "127.0.0.1" and revoke["actor"]["id"] == admin_id

    password = "staff secret password"
    staff = server.post("/v1/staff", json={"email": unique("as-") + "@example.com",
                                           "role": "manager", "password": password}).json()
    (row,) = rows_for(server, "staff", staff["id"], "staff.create")
    assert row["detail"] == {"role": "manager"}
    assert password not in json.dumps(server.db.rows("SELECT * FROM audit_log"))


def test_cli_changes_are_audited_as_the_cli(server):
    out = run_patron("apikey", "create", "--db", server.db.url, "--role", "agent",
                     "--name", "from-cli")
    key_id_ = int(out.stdout.split("created API key ")[1].split()[0])
    (row,) = rows_for(server, "api_key", key_id_, "api_key.create")
    assert row["actor"] == {"kind": "cli", "id": None, "label": "cli"}
    assert row["ip"] is None


def test_audit_filters_and_paging(server):
    members = [server.create_member() for _ in range(3)]
    for m in members:
        server.patch(f"/v1/members/{m['id']}", json={"first_name": "Paged"})
    newest = audit(server, limit=1)
    assert len(newest["data"]) == 1 and newest["next_before"] == newest["data"][0]["id"]
    assert newest["data"][0]["action"] == "member.update"
    assert newest["data"][0]["entity_id"] == members[-1]["id"]

    # Paging backwards with before= visits every row once, newest first.
    seen, before = [], None
    while True:
        params = {"limit": 7}
        if before:
            params["before"] = before
        page = audit(server, **params)
        seen += [r["id"] for r in page["data"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert len(seen) == server.db.count("audit_log")

    updates = audit(server, action="member.update", limit=500)["data"]
    assert {m["id"] for m in members} <= {r["entity_id"] for r in updates}
    assert all(r["action"] == "member.update" for r in updates)
    api_rows = audit(server, entity="api_key", limit=500)["data"]
    assert api_rows and all(r["entity"] == "api_key" for r in api_rows)
    one = audit(server, entity="member", entity_id=members[0]["id"])["data"]
    assert [r["action"] for r in one] == ["member.update", "member.create"]
    assert audit(server, action="no.such.action")["data"] == []


def test_the_audit_log_is_read_only(server):
    for method in ("POST", "PATCH", "DELETE", "PUT"):
        assert_error(server.request(method, "/v1/audit", json={}), 405, "method_not_allowed")
    assert_error(server.get("/v1/audit/1"), 404, "not_found")


def test_request_log_has_one_line_per_request_and_no_personal_data(engine):
    """`patron serve` without --quiet logs one line per request (time, request id, method, path,
    status, latency). Query strings are left out because they carry personal data (?q=email);
    personal data in the path (the external id of by-external) must not be logged either."""
    db = Database(engine)
    db.migrate()
    server = Server(db, threads=2, quiet=False)
    server.start()
    try:
        email = unique("logged-") + "@example.com"
        ext = unique("logged-ext-")
        rid = unique("log-")
        made = server.post("/v1/members", json={"email": email, "external_id": ext},
                           headers={"X-Request-Id": rid})
        assert made.status_code == 201
        assert server.get("/v1/members", params={"q": email}).status_code == 200
        assert server.get(f"/v1/members/by-external/{ext}").status_code == 200
        assert server.get("/v1/nowhere").status_code == 404
        server.stop_ok()
        log = server.stderr()
        lines = [line for line in log.splitlines() if " /v1/" in line]
        assert len(lines) == 4, log
        assert any(rid in line and " POST /v1/members 201 " in line for line in lines), log
        assert any(" GET /v1/nowhere 404 " in line for line in lines), log
        assert email not in log, "the request log holds a member's email"
        assert ext not in log, "the request log holds a member's external id"
    finally:
        if server.alive():
            server.kill()
        db.drop()
