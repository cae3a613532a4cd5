"""docs/openapi.yaml describes exactly the routes the server has (DESIGN.md §5).

Runs `$PATRON_BIN routes` (default: <repo>/patron) and compares its
(method, path) pairs with the operations of docs/openapi.yaml, then checks the
document's structure: OpenAPI 3.x, every $ref resolves, every path parameter
is declared, every operation has a 2xx answer and (unless public) a 401, every
change takes an Idempotency-Key, every error answer uses the Error schema.
Needs no database and no running server.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "docs" / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CHANGE_METHODS = ("post", "put", "patch", "delete")
# Routes any caller may use without credentials (PERM_PUBLIC in src/http/router.c).
PUBLIC = {("GET", "/healthz"), ("POST", "/v1/auth/login"), ("GET", "/u/{token}"), ("POST", "/u/{token}"),
          ("GET", "/feeds/news"), ("GET", "/feeds/members/{token}"), ("GET", "/s/{token}"), ("POST", "/s/{token}"),
          ("GET", "/"), ("GET", "/portal"), ("GET", "/portal/{page}"), ("GET", "/assets/{name}"),
          ("POST", "/v1/portal/signin-links"), ("POST", "/v1/portal/sessions")}
ROUTE_LINE = re.compile(r"^([A-Z]+) (/\S*)$")


@pytest.fixture(scope="module")
def spec():
    assert SPEC_PATH.is_file(), f"{SPEC_PATH} is missing"
    with open(SPEC_PATH, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict), f"{SPEC_PATH} is not a YAML mapping"
    return doc


@pytest.fixture(scope="module")
def server_routes():
    binary = os.environ.get("PATRON_BIN") or str(REPO / "patron")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no patron binary at {binary}: run `make` or set PATRON_BIN")
    run = subprocess.run([binary, "routes"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, f"`{binary} routes` failed ({run.returncode}): {run.stderr}"
    routes = set()
    for line in run.stdout.splitlines():
        if not line.strip():
            continue
        m = ROUTE_LINE.match(line.strip())
        assert m, f"`patron routes` printed a line that is not 'METHOD /path': {line!r}"
        routes.add((m.group(1), m.group(2)))
    assert routes, "`patron routes` printed no routes"
    return routes


def operations(doc):
    """Yields (METHOD, path, path_item, operation) for every operation."""
    for path, item in (doc.get("paths") or {}).items():
        for method in HTTP_METHODS:
            if method in (item or {}):
                yield method.upper(), path, item, item[method]


def resolve(doc, node):
    """Follows $ref chains (local ones only) to the node they name."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref not in seen, f"$ref cycle through {ref}"
        seen.add(ref)
        node = pointer(doc, ref)
    return node


def pointer(doc, ref):
    assert isinstance(ref, str) and ref.startswith("#/"), f"$ref {ref!r} is not local ('#/...')"
    node = doc
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            raise KeyError(ref)
    return node


def all_refs(node, where="#"):
    """Yields (JSON pointer of the holder, target) for every $ref in node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield where, value
            else:
                escaped = str(key).replace("~", "~0").replace("/", "~1")
                yield from all_refs(value, f"{where}/{escaped}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from all_refs(value, f"{where}/{i}")


def test_openapi_version(spec):
    version = str(spec.get("openapi", ""))
    assert re.fullmatch(r"3\.\d+\.\d+", version), f"openapi is {version!r}, expected 3.x.y"
    info = spec.get("info") or {}
    assert info.get("title") and info.get("version"), "info needs a title and a version"
    for topic in ("error", "paging", "idempotency", "authentication"):
        assert topic in str(info.get("description", "")).lower(), f"info.description should explain {topic}"


def test_documented_routes_match_server(spec, server_routes):
    documented = {(method, path) for method, path, _, _ in operations(spec)}
    missing = sorted(server_routes - documented)
    extra = sorted(documented - server_routes)
    lines = []
    if missing:
        lines.append("routes the server has but docs/openapi.yaml does not describe:")
        lines += [f"  + {m} {p}" for m, p in missing]
    if extra:
        lines.append("operations in docs/openapi.yaml the server does not have:")
        lines += [f"  - {m} {p}" for m, p in extra]
    assert not lines, "\n".join(lines)


def test_every_ref_resolves(spec):
    broken = []
    for where, ref in all_refs(spec):
        try:
            resolve(spec, {"$ref": ref})
        except (KeyError, AssertionError) as e:
            broken.append(f"{where}: {ref} ({e})")
    assert not broken, "unresolved $ref:\n  " + "\n  ".join(broken)


def test_path_parameters_declared(spec):
    problems = []
    for method, path, item, op in operations(spec):
        in_template = set(re.findall(r"\{([^}/]+)\}", path))
        declared = {}
        for p in (item.get("parameters") or []) + (op.get("parameters") or []):
            p = resolve(spec, p)
            if p.get("in") == "path":
                declared[p.get("name")] = p
        for name in sorted(in_template - declared.keys()):
            problems.append(f"{method} {path}: path parameter {{{name}}} is not declared")
        for name in sorted(declared.keys() - in_template):
            problems.append(f"{method} {path}: declares path parameter '{name}' not in the path")
        for name, p in declared.items():
            if p.get("required") is not True:
                problems.append(f"{method} {path}: path parameter '{name}' must be required: true")
            if "schema" not in p:
                problems.append(f"{method} {path}: path parameter '{name}' has no schema")
    assert not problems, "\n".join(problems)


def test_operations_have_success_and_auth_responses(spec):
    problems = []
    operation_ids = {}
    for method, path, _, op in operations(spec):
        name = f"{method} {path}"
        for field in ("summary", "description", "operationId"):
            if not op.get(field):
                problems.append(f"{name}: no {field}")
        if op.get("operationId") in operation_ids:
            problems.append(f"{name}: operationId {op['operationId']!r} also used by "
                            f"{operation_ids[op['operationId']]}")
        operation_ids[op.get("operationId")] = name
        codes = {str(code) for code in (op.get("responses") or {})}
        if not any(re.fullmatch(r"2\d\d", c) for c in codes):
            problems.append(f"{name}: no 2xx response")
        public = (method, path) in PUBLIC
        effective_security = op.get("security", spec.get("security"))
        if public:
            if effective_security not in ([], [{}]):
                problems.append(f"{name}: public route must say security: []")
        else:
            if "401" not in codes:
                problems.append(f"{name}: needs a 401 response (it requires authentication)")
            if not effective_security:
                problems.append(f"{name}: requires authentication but declares no security")
    assert not problems, "\n".join(problems)


def test_security_schemes(spec):
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    kinds = set()
    for scheme in schemes.values():
        s = resolve(spec, scheme)
        kinds.add((s.get("type"), s.get("scheme"), s.get("in"), s.get("name")))
    assert ("http", "bearer", None, None) in kinds, "no bearer API key security scheme"
    assert ("apiKey", None, "cookie", "patron_session") in kinds, "no patron_session cookie security scheme"
    for requirement in spec.get("security") or []:
        for scheme in requirement:
            assert scheme in schemes, f"top-level security names unknown scheme {scheme!r}"
    for method, path, _, op in operations(spec):
        for requirement in op.get("security") or []:
            for scheme in requirement:
                assert scheme in schemes, f"{method} {path}: security names unknown scheme {scheme!r}"


# Changes that deliberately take no Idempotency-Key, and why.
IGNORES_IDEMPOTENCY_KEY = {
    ("POST", "/v1/auth/login"): "each sign-in opens a new session; a replay would hand out another's CSRF token",
    ("POST", "/v1/staff"): "the request holds a password: nothing of it is stored for replay",
    ("POST", "/v1/api-keys"): "the answer holds the new key, stored only as a hash",
    ("POST", "/v1/members/{id}/erase"): "a stored answer would keep a record of the erased member",
    ("POST", "/u/{token}"): "public (no caller to scope a key to); a second post changes nothing anyway",
    ("POST", "/s/{token}"): "public (no caller to scope a key to); the first answer wins, a second is a 409",
    ("POST", "/v1/portal/signin-links"): "public (no caller to scope a key to); each request is a new link",
    ("POST", "/v1/portal/sessions"): "public; the answer opens a session (its CSRF token must not be replayed)",
}


def test_changes_accept_idempotency_key(spec):
    problems = []
    for method, path, item, op in operations(spec):
        if method.lower() not in CHANGE_METHODS or (method.upper(), path) in IGNORES_IDEMPOTENCY_KEY:
            continue
        params = (item.get("parameters") or []) + (op.get("parameters") or [])
        headers = {
            p.get("name", "").lower() for p in (resolve(spec, p) for p in params) if p.get("in") == "header"
        }
        if "idempotency-key" not in headers:
            problems.append(f"{method} {path}: no Idempotency-Key header parameter")
    assert not problems, "\n".join(problems)


def test_error_responses_use_error_schema(spec):
    schemas = (spec.get("components") or {}).get("schemas") or {}
    assert "Error" in schemas, "components.schemas.Error is missing"
    error = schemas["Error"]
    assert set(error.get("required", [])) == {"error"}
    inner = resolve(spec, error["properties"]["error"])
    assert {"code", "message"} <= set(inner.get("required", [])), "Error.error needs code and message"
    problems = []
    for method, path, _, op in operations(spec):
        for code, response in (op.get("responses") or {}).items():
            if not re.fullmatch(r"[45]\d\d", str(code)):
                continue
            try:
                response = resolve(spec, response)
            except (KeyError, AssertionError):
                continue  # reported by test_every_ref_resolves
            schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
            if schema != {"$ref": "#/components/schemas/Error"}:
                problems.append(f"{method} {path} {code}: answer is not application/json Error")
    assert not problems, "\n".join(problems)


def test_request_bodies_have_json_schemas(spec):
    problems = []
    for method, path, _, op in operations(spec):
        body = op.get("requestBody")
        if body is None:
            continue
        body = resolve(spec, body)
        schema = ((body.get("content") or {}).get("application/json") or {}).get("schema")
        if schema is None:
            problems.append(f"{method} {path}: request body has no application/json schema")
            continue
        schema = resolve(spec, schema)
        if schema.get("additionalProperties") is not False:
            problems.append(f"{method} {path}: the server refuses unknown fields, so the body "
                            "schema needs additionalProperties: false")
    assert not problems, "\n".join(problems)
