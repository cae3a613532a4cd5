"""Every class of bad input: the right status and error code, and the database unchanged."""

import socket

import pytest

from conftest import assert_error, unique

BODY_MAX = 1024 * 1024
VALID = '{"email": "bad.input@example.com"}'


@pytest.fixture
def unchanged(server):
    """Asserts, after the test, that no table count moved."""
    before = server.db.counts()
    yield
    assert server.db.counts() == before, "a refused request changed the database"


def raw(server, method, path, body=None, content_type="application/json", key="admin",
        headers=None):
    h = {}
    if content_type is not None:
        h["Content-Type"] = content_type
    h.update(headers or {})
    if isinstance(body, str):
        body = body.encode("utf-8")
    return server.request(method, path, data=body, headers=h, key=key)


def raw_http(server, request_bytes, timeout=30):
    """Sends bytes on a fresh connection; returns (status, headers text, body text)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(request_bytes)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            data = b"".join(chunks)
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(rest) >= length[0]:
                    break
    data = b"".join(chunks)
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), rest.decode("utf-8", "replace")


# ---- media type, JSON syntax --------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_unsupported_media_type(server, unchanged, content_type):
    assert_error(raw(server, "POST", "/v1/members", VALID, content_type), 415,
                 "unsupported_media_type")


def test_json_with_charset_parameter_is_accepted(server):
    r = raw(server, "POST", "/v1/members", '{"external_id": "%s"}' % unique("cs-"),
            "application/json; charset=utf-8")
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("body", [
    "{", "{\"email\": }", "{'email': 'a@b.co'}", "{\"email\": \"a@b.co\",}", "not json",
    "{\"email\": \"a@b.co\"} trailing", "{\"email\": \"a@b.co\"}{}", "\"just a string\"", "42",
    "{\"email\": \"\\ud800\"}", b"{\"first_name\": \"\xff\xfe\"}",
    "{\"email\": \"a\\u0000b@example.com\"}", "\ufeff{\"email\": \"a@b.co\"}",
], ids=["open", "no-value", "single-quotes", "trailing-comma", "text", "trailing-garbage",
        "two-objects", "scalar-string", "scalar-number", "lone-surrogate", "invalid-utf8",
        "nul-escape", "byte-order-mark"])
def test_invalid_json(server, unchanged, body):
    assert_error(raw(server, "POST", "/v1/members", body), 400, "invalid_json")


def test_empty_body(server, unchanged):
    assert_error(raw(server, "POST", "/v1/members", ""), 400, "invalid_body")
    assert_error(raw(server, "POST", "/v1/members", None, content_type=None), 400, "invalid_body")


def test_very_long_unknown_field_name(server, unchanged):
    r = raw(server, "POST", "/v1/members", '{"email": "a@b.co", "%s": 1}' % ("z" * 5000))
    assert_error(r, 400, "unknown_field")
    assert len(r.json()["error"]["message"]) < 400


def test_invalid_json_on_patch(server):
    m = server.create_member()
    before = server.db.counts()
    assert_error(raw(server, "PATCH", f"/v1/members/{m['id']}", '{"first_name": '), 400,
                 "invalid_json")
    assert server.db.counts() == before
    assert server.get(f"/v1/members/{m['id']}").json() == m


@pytest.mark.parametrize("body", [
    '{"email": "a@b.co", "email": "c@d.co"}',
    '{"email": "a@b.co", "address": {"city": "X", "city": "Y"}}',
    '{"email": "a@b.co", "attributes": {"k": 1, "k": 2}}',
], ids=["top-level", "nested", "attributes"])
def test_duplicate_json_key(server, unchanged, body):
    assert_error(raw(server, "POST", "/v1/members", body), 400, "duplicate_json_key")


def nested(depth):
    """A member body whose deepest point is `depth` levels of objects/arrays."""
    inner = "1"
    for _ in range(depth - 2):
        inner = "[" + inner + "]"
    return '{"email": "deep@example.com", "attributes": {"a": %s}}' % inner


def test_json_too_deep(server, unchanged):
    assert_error(raw(server, "POST", "/v1/members", nested(17)), 400, "json_too_deep")
    assert_error(raw(server, "POST", "/v1/members", "[" * 100000 + "]" * 100000), 400,
                 "json_too_deep")


def test_brackets_inside_strings_are_not_nesting(server):
    r = raw(server, "POST", "/v1/members",
            '{"email": "deep@example.com", "first_name": "%s", "last_name": "\\"%s"}'
            % ("[" * 40, "{" * 40))
    assert r.status_code == 201, r.text
    assert r.json()["first_name"] == "[" * 40
    assert r.json()["last_name"] == '"' + "{" * 40


def test_json_at_the_depth_limit_is_parsed(server, unchanged):
    r = raw(server, "POST", "/v1/members", nested(16))
    # 16 levels parse; the member is then refused for its nested attribute, not for depth.
    assert_error(r, 400, "invalid_field")


# ---- size ------------------------------------------------------------------------------

def test_body_too_large_by_content_length(server, unchanged):
    """Refused from the Content-Length header, before the body is read."""
    key = server.keys["admin"]
    head = (f"POST /v1/members HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {BODY_MAX + 1}\r\n\r\n")
    status, _, body = raw_http(server, head.encode() + b'{"email": ')
    assert status == 413, body
    assert '"body_too_large"' in body


def test_body_too_large_chunked(server, unchanged):
    """Without a Content-Length (chunked), the body is counted as it arrives."""
    def chunks():
        yield b'{"email": "big@example.com", "first_name": "'
        for _ in range(17):
            yield b"a" * 65536
        yield b'"}'
    r = server.request("POST", "/v1/members", data=chunks(),
                       headers={"Content-Type": "application/json"})
    assert_error(r, 413, "body_too_large")


def test_body_of_exactly_the_limit_is_read(server, unchanged):
    prefix, suffix = '{"email": "limit@example.com", "first_name": "', '"}'
    body = prefix + "a" * (BODY_MAX - len(prefix) - len(suffix)) + suffix
    assert len(body) == BODY_MAX
    r = raw(server, "POST", "/v1/members", body)
    # Read and parsed: refused for the name's length, not the body's.
    assert_error(r, 400, "invalid_field")


def test_uri_too_long_path(server, unchanged):
    assert_error(server.get("/v1/members/" + "1" * 3000), 414, "uri_too_long")
    assert_error(server.post("/v1/members/by-external/" + "x" * 3000, json={}), 414,
                 "uri_too_long")


def test_uri_too_long_query_string(server, unchanged):
    """REQUEST_URL_BYTES_MAX (bounds.h) bounds the path *and* the query string."""
    r = server.get("/v1/members?limit=1&pad=" + "a" * 3000)
    assert_error(r, 414, "uri_too_long")


# ---- routing ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1", "/v1/member", "/v1/members/", "/v1/members/1/2",
                                  "/v2/members", "/v1/members/1/erase/now", "/healthz/x"])
def test_unknown_path(server, unchanged, path):
    assert_error(server.get(path), 404, "not_found")
    assert_error(server.post(path, json={"email": "x@example.com"}), 404, "not_found")


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/v1/members"), ("PUT", "/v1/members"), ("PATCH", "/v1/members"),
    ("PUT", "/v1/members/1"), ("DELETE", "/v1/members/1"), ("GET", "/v1/members/1/erase"),
    ("POST", "/healthz"), ("GET", "/v1/auth/login"), ("PATCH", "/v1/api-keys/1"),
    ("POST", "/v1/audit"), ("DELETE", "/v1/staff"), ("POST", "/"), ("POST", "/portal"),
])
def test_method_not_allowed(server, unchanged, method, path):
    r = server.request(method, path, json={"email": "x@example.com"})
    assert_error(r, 405, "method_not_allowed")


# ---- authentication comes before body errors ----------------------------------------

@pytest.mark.parametrize("body,content_type", [
    ("{", "application/json"), (VALID, "text/plain"),
    ('{"email": "a@b.co", "email": "c@d.co"}', "application/json"),
    (nested(17), "application/json"), (VALID, "application/json"),
], ids=["malformed", "media-type", "duplicate-key", "too-deep", "valid"])
def test_body_errors_wait_for_authentication(server, unchanged, body, content_type):
    assert_error(raw(server, "POST", "/v1/members", body, content_type, key=None), 401,
                 "unauthorized")
    assert_error(raw(server, "POST", "/v1/members", body, content_type, key="pk_wrong"), 401,
                 "unauthorized")
    assert_error(raw(server, "POST", "/v1/members", body, content_type, key="analyst"), 403,
                 "forbidden")


def test_unauthorized_answer_names_the_scheme(server, unchanged):
    r = server.get("/v1/members", key=None)
    assert_error(r, 401, "unauthorized")
    assert r.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("authorization", [
    "Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "Bearer  {admin}",
    "Bearer {admin}x", "Bearer pk_" + "A" * 43, "Bearer " + "x" * 300, "Token {admin}",
])
def test_bad_authorization_header(server, unchanged, authorization):
    value = authorization.replace("{admin}", server.keys["admin"])
    for method, path, body in (("GET", "/v1/members", None),
                               ("POST", "/v1/members", {"email": "x@example.com"})):
        r = server.request(method, path, key=None, json=body, headers={"Authorization": value})
        assert_error(r, 401, "unauthorized")


# ---- idempotency keys --------------------------------------------------------------------

@pytest.mark.parametrize("idem", ["k" * 201, "has space", "tab\there", "caf\u00e9", ""],
                         ids=["too-long", "space", "tab", "non-ascii", "empty"])
def test_invalid_idempotency_key(server, unchanged, idem):
    h = {"Idempotency-Key": idem.encode("latin-1")}
    r = server.post("/v1/members", json={"external_id": unique("ik-")}, headers=h)
    assert_error(r, 400, "invalid_idempotency_key")
    m_patch = server.patch("/v1/members/1", json={"first_name": "x"}, headers=h)
    assert_error(m_patch, 400, "invalid_idempotency_key")


def test_idempotency_key_of_the_maximum_length_is_accepted(server):
    r = server.post("/v1/members", json={"external_id": unique("ik-")},
                    headers={"Idempotency-Key": "k" * 200})
    assert r.status_code == 201, r.text


def test_idempotency_key_is_ignored_on_reads(server, unchanged):
    r = server.get("/v1/members?limit=1", headers={"Idempotency-Key": "has space"})
    assert r.status_code == 200, r.text


# ---- query strings -------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "limit=0", "limit=501", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=99999999999999999999",
    "after=-1", "after=abc", "after=1e3", "status=deleted", "status=ACTIVE", "q=" + "q" * 201,
    "q=%01", "external_id=" + "e" * 129, "external_id=a%01b",
])
def test_invalid_member_list_query(server, unchanged, query):
    assert_error(server.get("/v1/members?" + query), 400, "invalid_query")


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "before=x", "entity_id=-3",
                                   "entity=" + "e" * 101, "after=1"])
def test_invalid_audit_query(server, unchanged, query):
    assert_error(server.get("/v1/audit?" + query), 400, "invalid_query")


@pytest.mark.parametrize("path", ["/v1/staff", "/v1/api-keys"])
@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=x", "after=-1", "after=y"])
def test_invalid_admin_list_query(server, unchanged, path, query):
    assert_error(server.get(f"{path}?{query}"), 400, "invalid_query")


def test_list_limits_at_the_bounds(server):
    for limit in (1, 500):
        r = server.get(f"/v1/members?limit={limit}")
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) <= limit


# ---- other routes' bodies ----------------------------------------------------------------

@pytest.mark.parametrize("path,body,code", [
    ("/v1/api-keys", {"name": "k", "role": "admin", "extra": 1}, "unknown_field"),
    ("/v1/api-keys", {"name": 5, "role": "admin"}, "invalid_field"),
    ("/v1/api-keys", {"name": "k", "role": "overlord"}, "invalid_role"),
    ("/v1/api-keys", {"name": "k", "role": "member"}, "invalid_role"),
    ("/v1/api-keys", {"name": "", "role": "agent"}, "invalid_name"),
    ("/v1/api-keys", {"role": "agent"}, "invalid_name"),
    ("/v1/api-keys", ["name"], "invalid_body"),
    ("/v1/staff", {"email": "s@example.com", "role": "agent", "password": "short"},
     "invalid_password"),
    ("/v1/staff", {"email": "s@example.com", "role": "integration", "password": "long enough pw"},
     "invalid_role"),
    ("/v1/staff", {"email": "nope", "role": "agent", "password": "long enough pw"},
     "invalid_email"),
    ("/v1/staff", {"email": "s@example.com", "role": "agent", "password": "long enough pw",
                   "admin": "yes"}, "unknown_field"),
    ("/v1/auth/login", {"email": "s@example.com", "password": "x", "remember": "1"},
     "unknown_field"),
    ("/v1/auth/login", {"email": "s@example.com", "password": 12345678901}, "invalid_field"),
    ("/v1/auth/login", [], "invalid_body"),
])
def test_bad_bodies_on_other_routes(server, unchanged, path, body, code):
    r = server.post(path, json=body)
    assert_error(r, 400, code)


def test_revoking_a_malformed_or_unknown_key_id(server, unchanged):
    assert_error(server.delete("/v1/api-keys/abc"), 404, "not_found")
    assert_error(server.delete("/v1/api-keys/999999"), 404, "not_found")


def test_health_needs_no_key_and_reports_the_engine(server):
    r = server.get("/healthz", key=None)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"] == server.engine
    assert isinstance(body["schema_version"], int) and body["schema_version"] >= 1
    assert body["schema_version"] == server.db.scalar("SELECT MAX(version) FROM schema_migrations")
    assert isinstance(body["time_zone"], str) and body["time_zone"]
    writer = body["writer"]
    assert set(writer) == {"writes", "commits"} and 0 <= writer["commits"] <= writer["writes"]
    server.create_member()
    after = server.get("/healthz", key=None).json()["writer"]
    assert after["writes"] >= writer["writes"] + 1 and after["commits"] >= writer["commits"] + 1  # (and jobs')
    if server.engine == "postgres":
        assert after["commits"] == after["writes"], "each write is its own transaction"
