"""Authentication (API keys, staff sessions + CSRF) and authorisation (the role matrix)."""

import datetime
import time

import pytest
import requests

from conftest import ROLES, assert_error, run_patron, unique

# Allowed roles per permission: src/core/roles.c, i.e. DESIGN.md §5.
ALLOWED = {
    "authenticated": {"admin", "manager", "supervisor", "agent", "analyst", "integration"},
    "members_read": {"admin", "manager", "supervisor", "agent", "analyst", "integration"},
    "members_write": {"admin", "manager", "supervisor", "agent", "integration"},
    "members_erase": {"admin", "manager"},
    "audit_read": {"admin", "manager"},
    "staff_manage": {"admin"},
}


def member_for(server):
    return server.create_member()["id"]


# (permission, method, path or path maker, body maker)
ROUTES = [
    ("authenticated", "GET", "/v1/auth/me", None),
    ("members_read", "GET", "/v1/members?limit=1", None),
    ("members_read", "GET", "/v1/members/{member}", None),
    ("members_read", "GET", "/v1/members/by-external/{external}", None),
    ("members_write", "POST", "/v1/members", lambda: {"external_id": unique("rm-")}),
    ("members_write", "PATCH", "/v1/members/{member}", lambda: {"first_name": "Role"}),
    ("members_erase", "POST", "/v1/members/{member}/erase", None),
    ("audit_read", "GET", "/v1/audit?limit=1", None),
    ("staff_manage", "GET", "/v1/staff", None),
    ("staff_manage", "POST", "/v1/staff",
     lambda: {"email": unique("rs-") + "@example.com", "role": "agent",
              "password": "a long password"}),
    ("staff_manage", "GET", "/v1/api-keys", None),
    ("staff_manage", "POST", "/v1/api-keys", lambda: {"name": unique("rk-"), "role": "analyst"}),
    ("staff_manage", "DELETE", "/v1/api-keys/999999", None),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission,method,path,body", ROUTES,
                         ids=[f"{m} {p.split('?')[0]}" for _, m, p, _ in ROUTES])
def test_role_matrix(server, role, permission, method, path, body):
    member = server.create_member()
    path = path.format(member=member["id"], external=member["external_id"])
    before = server.db.counts()
    r = server.request(method, path, key=role, json=body() if body else None)
    if role in ALLOWED[permission]:
        assert r.status_code not in (401, 403), f"{role} {method} {path}: {r.status_code} {r.text}"
        assert r.status_code < 500, r.text
        if path.endswith("999999"):
            assert_error(r, 404, "not_found")
        else:
            assert r.status_code in (200, 201), r.text
    else:
        assert_error(r, 403, "forbidden")
        assert server.db.counts() == before, "a forbidden request changed the database"


def test_no_credentials_is_401(server):
    before = server.db.counts()
    for method, path in (("GET", "/v1/auth/me"), ("GET", "/v1/members"), ("POST", "/v1/members"),
                         ("GET", "/v1/audit"), ("DELETE", "/v1/api-keys/1"),
                         ("POST", "/v1/auth/logout")):
        r = server.request(method, path, key=None, json={"external_id": unique("u-")})
        assert_error(r, 401, "unauthorized")
    assert server.db.counts() == before


def test_unknown_key_is_401(server):
    for key in ("pk_" + "x" * 43, "pk_", "not-a-key", server.keys["admin"][:-1]):
        assert_error(server.get("/v1/members", key=key), 401, "unauthorized")


def test_me_describes_the_key(server):
    for role in ROLES:
        r = server.get("/v1/auth/me", key=role)
        assert r.status_code == 200, r.text
        me = r.json()
        assert me["kind"] == "api_key"
        assert me["role"] == role
        assert me["label"] == f"test-{role}"
        assert isinstance(me["id"], int)


def test_api_key_lifecycle_over_http(server):
    name = unique("svc-")
    r = server.post("/v1/api-keys", json={"name": name, "role": "integration"})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("pk_") and created["prefix"] == key[:10]
    assert created["role"] == "integration" and created["revoked_at"] is None
    assert r.headers["Cache-Control"] == "no-store"

    # The key works, and is never shown again.
    assert server.get("/v1/auth/me", key=key).json()["label"] == name
    listed = server.get("/v1/api-keys", params={"limit": 500}).json()["data"]
    mine = [k for k in listed if k["id"] == created["id"]]
    assert len(mine) == 1 and "key" not in mine[0]
    assert all(key not in str(k) for k in listed)
    assert key not in str(server.db.rows("SELECT * FROM api_keys"))  # stored hashed

    r = server.delete(f"/v1/api-keys/{created['id']}")
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    assert_error(server.get("/v1/auth/me", key=key), 401, "unauthorized")
    assert_error(server.post("/v1/members", key=key, json={"external_id": unique("rv-")}), 401,
                 "unauthorized")
    # Revoking again keeps the first revocation time.
    again = server.delete(f"/v1/api-keys/{created['id']}")
    assert again.status_code == 200 and again.json()["revoked_at"] == r.json()["revoked_at"]


def test_key_revoked_by_the_cli_stops_working(server):
    r = server.post("/v1/api-keys", json={"name": unique("cli-"), "role": "agent"})
    key, key_id = r.json()["key"], r.json()["id"]
    assert server.get("/v1/members?limit=1", key=key).status_code == 200
    run_patron("apikey", "revoke", str(key_id), "--db", server.db.url)
    # Another process revoked it: this server's cache may keep it for AUTH_CACHE_TTL_MS (1 s).
    deadline = time.monotonic() + 10
    while server.get("/v1/members?limit=1", key=key).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key kept working"
        time.sleep(0.1)


# ---- staff sessions ------------------------------------------------------------------------

PASSWORD = "correct horse battery"


def new_staff(server, role="agent"):
    email = unique("staff-") + "@example.com"
    r = server.post("/v1/staff", json={"email": email, "name": "Sam Staff", "role": role,
                                       "password": PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()


def login(server, email, password=PASSWORD):
    s = requests.Session()
    r = s.post(server.base + "/v1/auth/login", json={"email": email, "password": password},
               timeout=30)
    return s, r


def test_login_sets_a_strict_http_only_cookie(server):
    staff = new_staff(server, "supervisor")
    s, r = login(server, staff["email"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"staff", "csrf_token", "expires_at"}
    assert body["staff"]["kind"] == "staff" and body["staff"]["id"] == staff["id"]
    assert body["staff"]["role"] == "supervisor"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("patron_session=ps_")
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs
    expires = datetime.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    hours = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 3600
    assert 11.5 < hours <= 12.01
    assert "patron_session" in s.cookies
    token = s.cookies["patron_session"]
    assert token not in str(server.db.rows("SELECT * FROM staff_sessions"))  # stored hashed

    me = s.get(server.base + "/v1/auth/me", timeout=30)
    assert me.status_code == 200
    assert me.json()["kind"] == "staff" and me.json()["label"] == staff["email"]
    # The session has its role: a supervisor may not read the audit log.
    assert_error(s.get(server.base + "/v1/audit", timeout=30), 403, "forbidden")


def test_wrong_credentials(server):
    staff = new_staff(server)
    before = server.db.counts()
    _, wrong = login(server, staff["email"], "not the password")
    assert_error(wrong, 401, "invalid_credentials")
    _, nobody = login(server, unique("ghost-") + "@example.com")
    assert_error(nobody, 401, "invalid_credentials")
    # The same answer either way: nothing tells whether the account exists.
    assert wrong.json() == nobody.json()
    _, malformed = login(server, "not-an-email")
    assert_error(malformed, 401, "invalid_credentials")
    assert "Set-Cookie" not in wrong.headers
    assert server.db.counts() == before


def test_changes_with_a_session_need_the_csrf_token(server):
    staff = new_staff(server, "agent")
    s, r = login(server, staff["email"])
    csrf = r.json()["csrf_token"]
    body = {"external_id": unique("csrf-")}
    before = server.db.counts()
    assert_error(s.post(server.base + "/v1/members", json=body, timeout=30), 403,
                 "csrf_token_invalid")
    assert_error(s.post(server.base + "/v1/members", json=body, timeout=30,
                        headers={"X-CSRF-Token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}),
                 403, "csrf_token_invalid")
    assert_error(s.post(server.base + "/v1/members", json=body, timeout=30,
                        headers={"X-CSRF-Token": ""}), 403, "csrf_token_invalid")
    assert server.db.counts() == before

    ok = s.post(server.base + "/v1/members", json=body, headers={"X-CSRF-Token": csrf}, timeout=30)
    assert ok.status_code == 201, ok.text
    audit = server.get("/v1/audit", params={"entity": "member", "entity_id": ok.json()["id"]})
    (row,) = audit.json()["data"]
    assert row["actor"] == {"kind": "staff", "id": staff["id"], "label": staff["email"]}

    # Another session's token does not do.
    s2, r2 = login(server, staff["email"])
    assert_error(s.patch(server.base + f"/v1/members/{ok.json()['id']}", json={"first_name": "X"},
                         headers={"X-CSRF-Token": r2.json()["csrf_token"]}, timeout=30),
                 403, "csrf_token_invalid")


def test_a_forged_cookie_is_401(server):
    s = requests.Session()
    s.cookies.set("patron_session", "ps_" + "A" * 43)
    assert_error(s.get(server.base + "/v1/auth/me", timeout=30), 401, "unauthorized")


def test_logout(server):
    staff = new_staff(server)
    s, r = login(server, staff["email"])
    csrf = r.json()["csrf_token"]
    cookie = s.cookies["patron_session"]
    assert_error(s.post(server.base + "/v1/auth/logout", timeout=30), 403, "csrf_token_invalid")
    out = s.post(server.base + "/v1/auth/logout", headers={"X-CSRF-Token": csrf}, timeout=30)
    assert out.status_code == 200, out.text
    assert out.json() == {"signed_out": True}
    assert "Max-Age=0" in out.headers["Set-Cookie"]
    # The old cookie is dead even when a client keeps sending it.
    replay = requests.get(server.base + "/v1/auth/me", cookies={"patron_session": cookie},
                          timeout=30)
    assert_error(replay, 401, "unauthorized")
    actions = [a["action"] for a in server.get("/v1/audit", params={"limit": 10}).json()["data"]]
    assert "session.close" in actions and "session.open" in actions


def test_logout_with_an_api_key_is_refused(server):
    assert_error(server.post("/v1/auth/logout"), 400, "not_a_session")


def test_sessions_purge_job_ends_expired_sessions(server):
    staff = new_staff(server)
    s, _ = login(server, staff["email"])
    assert s.get(server.base + "/v1/auth/me", timeout=30).status_code == 200
    now = datetime.datetime.now(datetime.timezone.utc)
    soon = (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_patron("jobs", "run", "sessions_purge", "--at", soon, "--db", server.db.url)
    assert s.get(server.base + "/v1/auth/me", timeout=30).status_code == 200, \
        "a session one hour old was purged"
    later = (now + datetime.timedelta(hours=13)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = run_patron("jobs", "run", "sessions_purge", "--at", later, "--db", server.db.url)
    assert '"affected": ' in out.stdout and '"affected": 0' not in out.stdout, out.stdout
    assert server.db.count("staff_sessions") == 0
    assert_error(s.get(server.base + "/v1/auth/me", timeout=30), 401, "unauthorized")


def test_staff_list_and_duplicates(server):
    staff = new_staff(server, "analyst")
    listed = server.get("/v1/staff", params={"limit": 500}).json()["data"]
    mine = [x for x in listed if x["id"] == staff["id"]]
    assert mine == [staff]
    assert all("password" not in str(x) for x in listed)
    before = server.db.counts()
    r = server.post("/v1/staff", json={"email": staff["email"], "role": "agent",
                                       "password": PASSWORD})
    assert_error(r, 409, "duplicate_email")
    assert server.db.counts() == before


def test_login_retried_with_its_idempotency_key_still_signs_in(server):
    """Every POST accepts an Idempotency-Key (DESIGN.md §5). A login retried with its key must
    leave the client with a working session, not a 200 whose cookie is empty."""
    staff = new_staff(server)
    k = unique("login-")
    for attempt in range(2):
        s = requests.Session()
        r = s.post(server.base + "/v1/auth/login", timeout=30,
                   json={"email": staff["email"], "password": PASSWORD},
                   headers={"Idempotency-Key": k})
        assert r.status_code == 200, r.text
        cookie = s.cookies.get("patron_session") or ""
        assert cookie != "", f"attempt {attempt + 1}: Set-Cookie is {r.headers.get('Set-Cookie')!r}"
        me = s.get(server.base + "/v1/auth/me", timeout=30)
        assert me.status_code == 200, f"attempt {attempt + 1}: {me.text}"
        csrf = r.json()["csrf_token"]
        made = s.post(server.base + "/v1/members", json={"external_id": unique("li-")},
                      headers={"X-CSRF-Token": csrf}, timeout=30)
        assert made.status_code == 201, f"attempt {attempt + 1}: {made.text}"


def test_a_new_api_key_is_never_stored_in_plain_text(server):
    """Keys are "shown once and stored only as a hash" (identity.h), also when the request that
    creates one carries an Idempotency-Key (whose answer is stored for replay)."""
    for headers in ({}, {"Idempotency-Key": unique("key-")}):
        r = server.post("/v1/api-keys", json={"name": unique("plain-"), "role": "agent"},
                        headers=headers)
        assert r.status_code == 201, r.text
        key = r.json()["key"]
        places = sorted({f"{table}.{column}"
                         for (table, column), values in server.db.all_text().items()
                         if any(key in v for v in values)})
        assert places == [], f"the API key (headers {headers}) is stored in plain text in {places}"


def test_staff_and_key_lists_page(server):
    for _ in range(3):
        new_staff(server)
        server.post("/v1/api-keys", json={"name": unique("pk-"), "role": "analyst"})
    for path, table in (("/v1/staff", "staff"), ("/v1/api-keys", "api_keys")):
        seen, after = [], None
        while True:
            params = {"limit": 2}
            if after is not None:
                params["after"] = after
            r = server.get(path, params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            assert set(page) == {"data", "next_after"}
            assert len(page["data"]) <= 2
            seen += [x["id"] for x in page["data"]]
            after = page["next_after"]
            if after is None:
                break
            assert after == page["data"][-1]["id"]
        assert seen == sorted(seen) and len(seen) == len(set(seen))
        assert len(seen) == server.db.count(table) >= 3
