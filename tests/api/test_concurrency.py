"""Many clients at once: unique external ids hold, nothing is lost or doubled."""

import collections
import threading

import requests

from conftest import unique

THREADS = 8
PER_THREAD = 50
COPIES = 4  # each external id is requested this many times, from different threads


def run_threads(n, target):
    errors = []
    barrier = threading.Barrier(n)

    def wrapped(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    assert not errors, errors


def test_concurrent_creates_with_duplicate_external_ids(server):
    db = server.db
    tag = unique("cc")
    distinct = THREADS * PER_THREAD // COPIES
    externals = [f"{tag}-{i}" for i in range(distinct)]
    # Request r of thread t: every external id lands in COPIES different threads.
    plan = [[externals[(t + THREADS * j) % distinct] for j in range(PER_THREAD)]
            for t in range(THREADS)]
    assert collections.Counter(e for p in plan for e in p) == {e: COPIES for e in externals}
    results = [[] for _ in range(THREADS)]
    before = db.counts()

    def client(t):
        s = requests.Session()
        h = dict(server.auth_headers("integration"))
        for j, ext in enumerate(plan[t]):
            r = s.post(server.base + "/v1/members", timeout=120,
                       json={"external_id": ext, "first_name": f"T{t}"},
                       headers=dict(h, **{"Idempotency-Key": f"{tag}-{t}-{j}"}))
            results[t].append((ext, r.status_code, r.json()))

    run_threads(THREADS, client)

    by_ext = collections.defaultdict(list)
    for per_thread in results:
        for ext, status, body in per_thread:
            by_ext[ext].append((status, body))
    for ext in externals:
        statuses = sorted(s for s, _ in by_ext[ext])
        assert statuses == [201] + [409] * (COPIES - 1), (ext, by_ext[ext])
        for status, body in by_ext[ext]:
            if status == 409:
                assert body["error"]["code"] == "duplicate_external_id", body
        winner = next(b for s, b in by_ext[ext] if s == 201)
        assert winner["external_id"] == ext

    created = {b["id"] for ext in externals for s, b in by_ext[ext] if s == 201}
    assert len(created) == distinct
    assert db.count("members", f"external_id LIKE '{tag}-%'") == distinct
    after = db.counts()
    assert after["members"] - before["members"] == distinct
    assert after["idempotency_keys"] - before["idempotency_keys"] == distinct  # errors not stored
    assert after["audit_log"] - before["audit_log"] == distinct
    # Every created member reads back as answered.
    page = server.get("/v1/members", params={"q": f"{tag}-1", "limit": 500}).json()["data"]
    assert all(m["id"] in created for m in page)


def test_concurrent_patches_of_one_member_lose_nothing(server):
    """Patches of different fields of one member at the same time must all be kept: a patch
    is merged over the stored row, so two merges must not both start from the same old row."""
    fields = [("first_name", "F"), ("last_name", "L"), ("address", "line1"), ("address", "city"),
              ("address", "region"), ("address", "line2"), ("attributes", None),
              ("phone", None)]
    rounds = 6
    members = [server.create_member() for _ in range(rounds)]

    def body(i, r):
        name, sub = fields[i]
        if name == "phone":
            return {"phone": f"+1555000{r}{i:03d}"}
        if name == "attributes":
            return {"attributes": {"round": r}}
        if name == "address":
            return {"address": {sub: f"{sub}-{r}-{i}"}}
        return {name: f"{sub}-{r}-{i}"}

    def client(i):
        s = requests.Session()
        for r, m in enumerate(members):
            resp = s.patch(server.base + f"/v1/members/{m['id']}", json=body(i, r), timeout=120,
                           headers=server.auth_headers("agent"))
            assert resp.status_code == 200, resp.text

    run_threads(len(fields), client)

    lost = []
    for r, m in enumerate(members):
        got = server.get(f"/v1/members/{m['id']}").json()
        for i, (name, sub) in enumerate(fields):
            want = body(i, r)
            value = got[name] if name != "address" else got["address"][sub]
            expected = want[name] if name != "address" else want["address"][sub]
            if value != expected:
                lost.append((m["id"], name if name != "address" else f"address.{sub}", value,
                             expected))
    assert not lost, f"{len(lost)} concurrent changes were lost: {lost[:8]}"


def test_reads_during_writes_see_whole_members(server):
    tag = unique("rw")
    stop = threading.Event()
    seen_bad = []

    def writer(i):
        s = requests.Session()
        for j in range(30):
            r = s.post(server.base + "/v1/members", timeout=120,
                       json={"external_id": f"{tag}-{i}-{j}", "first_name": tag, "last_name": tag},
                       headers=server.auth_headers("admin"))
            assert r.status_code == 201, r.text

    def reader():
        s = requests.Session()
        while not stop.is_set():
            r = s.get(server.base + "/v1/members", params={"q": tag, "limit": 500}, timeout=120,
                      headers=server.auth_headers("analyst"))
            if r.status_code != 200:
                seen_bad.append(r.text)
                continue
            for m in r.json()["data"]:
                if m["first_name"] != tag or m["last_name"] != tag:
                    seen_bad.append(m)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        run_threads(4, writer)
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert not seen_bad, seen_bad[:3]
    final = server.get("/v1/members", params={"q": tag, "limit": 500}).json()["data"]
    assert len(final) == 4 * 30
