"""Idempotency-Key: replay, reuse conflicts, per-caller scope, errors not stored, purge."""

import datetime
import threading

import requests

from conftest import assert_error, run_patron, unique

REPLAYED = "Idempotent-Replayed"


def idem(key):
    return {"Idempotency-Key": key}


def test_replay_returns_the_first_answer(server):
    db = server.db
    k = unique("idem-")
    body = {"external_id": unique("ir-"), "first_name": "Ida"}
    before = db.counts()
    first = server.post("/v1/members", json=body, headers=idem(k))
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    after_first = db.counts()
    assert after_first["members"] == before["members"] + 1
    assert after_first["idempotency_keys"] == before["idempotency_keys"] + 1

    for _ in range(3):
        again = server.post("/v1/members", json=body, headers=idem(k))
        assert again.status_code == 201, again.text
        assert again.headers.get(REPLAYED) == "true"
        assert again.json() == first.json()
    assert db.counts() == after_first, "a replay changed the database"

    # The stored answer is the first one, even after the member changed.
    server.patch(f"/v1/members/{first.json()['id']}", json={"first_name": "Changed"})
    late = server.post("/v1/members", json=body, headers=idem(k))
    assert late.headers.get(REPLAYED) == "true"
    assert late.json()["first_name"] == "Ida"


def test_patch_replay(server):
    db = server.db
    m = server.create_member(first_name="Before")
    k = unique("idem-")
    first = server.patch(f"/v1/members/{m['id']}", json={"first_name": "After"}, headers=idem(k))
    assert first.status_code == 200, first.text
    assert REPLAYED not in first.headers
    counts = db.counts()
    again = server.patch(f"/v1/members/{m['id']}", json={"first_name": "After"}, headers=idem(k))
    assert again.status_code == 200
    assert again.headers.get(REPLAYED) == "true"
    assert again.json() == first.json()
    assert db.counts() == counts
    updates = server.get("/v1/audit", params={"entity": "member", "entity_id": m["id"],
                                              "action": "member.update"}).json()["data"]
    assert len(updates) == 1


def test_revoke_replay(server):
    created = server.post("/v1/api-keys", json={"name": unique("ik-"), "role": "agent"}).json()
    k = unique("idem-")
    first = server.delete(f"/v1/api-keys/{created['id']}", headers=idem(k))
    assert first.status_code == 200, first.text
    again = server.delete(f"/v1/api-keys/{created['id']}", headers=idem(k))
    assert again.status_code == 200 and again.headers.get(REPLAYED) == "true"
    assert again.json() == first.json()


def test_same_key_for_another_request_is_409(server):
    db = server.db
    k = unique("idem-")
    body = {"external_id": unique("iu-")}
    first = server.post("/v1/members", json=body, headers=idem(k))
    assert first.status_code == 201, first.text
    counts = db.counts()
    other_body = server.post("/v1/members", json={"external_id": unique("iu-")}, headers=idem(k))
    assert_error(other_body, 409, "idempotency_key_reused")
    other_path = server.patch(f"/v1/members/{first.json()['id']}", json=body, headers=idem(k))
    assert_error(other_path, 409, "idempotency_key_reused")
    other_route = server.request("DELETE", "/v1/api-keys/999999", headers=idem(k))
    assert_error(other_route, 409, "idempotency_key_reused")
    assert db.counts() == counts
    # The original still replays.
    assert server.post("/v1/members", json=body, headers=idem(k)).headers.get(REPLAYED) == "true"


def test_keys_are_scoped_per_api_key(server):
    k = unique("idem-")
    body = {"email": unique("scope-") + "@example.com"}
    a = server.post("/v1/members", json=body, headers=idem(k), key="admin")
    b = server.post("/v1/members", json=body, headers=idem(k), key="manager")
    assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)
    assert REPLAYED not in b.headers, "another key's answer was replayed"
    assert a.json()["id"] != b.json()["id"]
    # Each caller replays its own answer.
    ra = server.post("/v1/members", json=body, headers=idem(k), key="admin")
    rb = server.post("/v1/members", json=body, headers=idem(k), key="manager")
    assert ra.headers.get(REPLAYED) == "true" and ra.json()["id"] == a.json()["id"]
    assert rb.headers.get(REPLAYED) == "true" and rb.json()["id"] == b.json()["id"]
    # A different body under the other caller's key string is no conflict either.
    c = server.post("/v1/members", json={"email": unique("scope-") + "@example.com"},
                    headers=idem(k), key="integration")
    assert c.status_code == 201 and REPLAYED not in c.headers


def test_keys_are_scoped_per_staff_session(server):
    email = unique("is-") + "@example.com"
    r = server.post("/v1/staff", json={"email": email, "role": "agent",
                                       "password": "a long password"})
    assert r.status_code == 201, r.text
    k = unique("idem-")
    body = {"email": unique("sess-") + "@example.com"}
    ids = []
    for _ in range(2):
        s = requests.Session()
        login = s.post(server.base + "/v1/auth/login", timeout=30,
                       json={"email": email, "password": "a long password"})
        h = dict(idem(k), **{"X-CSRF-Token": login.json()["csrf_token"]})
        first = s.post(server.base + "/v1/members", json=body, headers=h, timeout=30)
        again = s.post(server.base + "/v1/members", json=body, headers=h, timeout=30)
        assert first.status_code == 201 and REPLAYED not in first.headers, first.text
        assert again.headers.get(REPLAYED) == "true" and again.json() == first.json()
        ids.append(first.json()["id"])
    assert ids[0] != ids[1]


def test_error_answers_are_not_stored(server):
    db = server.db
    taken = server.create_member()
    k = unique("idem-")
    body = {"external_id": taken["external_id"], "first_name": "Late"}
    counts = db.counts()
    conflict = server.post("/v1/members", json=body, headers=idem(k))
    assert_error(conflict, 409, "duplicate_external_id")
    invalid = server.post("/v1/members", json={"email": "nope"}, headers=idem(k))
    assert_error(invalid, 400, "invalid_email")
    assert db.counts() == counts, "an error answer was stored"

    # The cause goes away: the same request with the same key now runs.
    moved = server.patch(f"/v1/members/{taken['id']}", json={"external_id": unique("moved-")})
    assert moved.status_code == 200
    retry = server.post("/v1/members", json=body, headers=idem(k))
    assert retry.status_code == 201, retry.text
    assert REPLAYED not in retry.headers
    assert retry.json()["external_id"] == taken["external_id"]


def test_error_then_another_body_with_the_same_key(server):
    k = unique("idem-")
    bad = server.post("/v1/members", json={"first_name": "No identity"}, headers=idem(k))
    assert_error(bad, 400, "missing_identity")
    good = server.post("/v1/members", json={"external_id": unique("ie-")}, headers=idem(k))
    assert good.status_code == 201, good.text
    assert REPLAYED not in good.headers


def test_concurrent_requests_with_one_key_create_one_member(server):
    k = unique("idem-")
    body = {"external_id": unique("ic-")}
    results = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def send():
        s = requests.Session()
        start.wait()
        r = s.post(server.base + "/v1/members", json=body, timeout=60,
                   headers=dict(idem(k), **server.auth_headers("admin")))
        with lock:
            results.append((r.status_code, r.json(), r.headers.get(REPLAYED)))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [body_ for status, body_, _ in results if status == 201]
    others = [(status, body_) for status, body_, _ in results if status != 201]
    assert created, results
    assert all(status == 409 and b["error"]["code"] == "idempotency_key_in_flight"
               for status, b in others), others
    assert len({m["id"] for m in created}) == 1
    assert len([1 for status, _, replayed in results if status == 201 and replayed is None]) == 1
    ext = body["external_id"]
    assert server.db.count("members", f"external_id = '{ext}'") == 1
    final = server.post("/v1/members", json=body, headers=idem(k))
    assert final.headers.get(REPLAYED) == "true" and final.json()["id"] == created[0]["id"]


def at(hours):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_purge_forgets_answers_after_a_day(server):
    db = server.db
    k = unique("idem-")
    body = {"email": unique("purge-") + "@example.com"}  # no unique field: a rerun creates anew
    first = server.post("/v1/members", json=body, headers=idem(k))
    assert first.status_code == 201, first.text

    out = run_patron("jobs", "run", "idempotency_purge", "--at", at(1), "--db", db.url)
    assert '"job": "idempotency_purge"' in out.stdout
    kept = server.post("/v1/members", json=body, headers=idem(k))
    assert kept.headers.get(REPLAYED) == "true", "an answer under a day old was purged"
    assert kept.json()["id"] == first.json()["id"]

    stored = db.count("idempotency_keys")
    assert stored >= 1
    out = run_patron("jobs", "run", "idempotency_purge", "--at", at(25), "--db", db.url)
    assert f'"affected": {stored}' in out.stdout, out.stdout
    assert db.count("idempotency_keys") == 0

    anew = server.post("/v1/members", json=body, headers=idem(k))
    assert anew.status_code == 201, anew.text
    assert REPLAYED not in anew.headers
    assert anew.json()["id"] != first.json()["id"]
    assert db.count("idempotency_keys") == 1
