"""A crash (SIGKILL) in the middle of writes loses nothing that was answered and doubles nothing.

Clients send creates with idempotency keys from several threads; the server is killed while
they run, restarted on the same database, and every request is retried with its own key.
"""

import collections
import threading

import requests

from conftest import Database, Server, unique

THREADS = 6
PER_THREAD = 40
KILL_AFTER_ANSWERS = 90  # answered creates before the SIGKILL, out of THREADS * PER_THREAD


def test_crash_loses_no_answered_write_and_doubles_none(engine):
    db = Database(engine)
    db.migrate()
    server = Server(db, threads=4)
    server.start()
    tag = unique("crash")
    plan = [[(f"{tag}-k-{t}-{j}", {"external_id": f"{tag}-{t}-{j}", "first_name": f"C{t}"})
             for j in range(PER_THREAD)] for t in range(THREADS)]
    answered = {}  # idempotency key -> member id answered 201 before the crash
    unanswered = []  # keys whose request got no answer (in flight or never sent)
    lock = threading.Lock()
    killed = threading.Event()
    enough = threading.Event()
    key = server.keys["integration"]
    base = server.base
    try:
        def client(t):
            s = requests.Session()
            for k, body in plan[t]:
                if killed.is_set():
                    with lock:
                        unanswered.append(k)
                    continue
                try:
                    r = s.post(base + "/v1/members", json=body, timeout=60,
                               headers={"Authorization": f"Bearer {key}", "Idempotency-Key": k})
                except requests.RequestException:
                    with lock:
                        unanswered.append(k)
                    continue
                assert r.status_code == 201, r.text
                with lock:
                    answered[k] = r.json()["id"]
                    if len(answered) >= KILL_AFTER_ANSWERS:
                        enough.set()

        threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        assert enough.wait(timeout=120), f"only {len(answered)} answers before the timeout"
        server.kill()
        killed.set()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert len(answered) + len(unanswered) == THREADS * PER_THREAD
        assert len(answered) < THREADS * PER_THREAD, "the kill came after every request"

        # Restart on the same database; retry every request with its key.
        server.start()
        s = requests.Session()
        replayed_ids = {}
        for per_thread in plan:
            for k, body in per_thread:
                r = s.post(server.base + "/v1/members", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {key}", "Idempotency-Key": k})
                assert r.status_code == 201, f"retry of {k}: {r.status_code} {r.text}"
                replayed_ids[k] = r.json()["id"]
                if k in answered:
                    assert r.headers.get("Idempotent-Replayed") == "true", \
                        f"{k} was answered before the crash but ran again after it"
                    assert r.json()["id"] == answered[k], \
                        f"{k}: answered id {answered[k]} before the crash, {r.json()['id']} after"

        # Every planned member exists exactly once.
        rows = db.rows(f"SELECT external_id, id FROM members WHERE external_id LIKE '{tag}-%'")
        per_ext = collections.Counter(ext for ext, _ in rows)
        planned = {body["external_id"] for p in plan for _, body in p}
        assert set(per_ext) == planned, f"missing: {sorted(planned - set(per_ext))[:5]}"
        assert all(n == 1 for n in per_ext.values())
        ids = {ext: int(i) for ext, i in rows}
        for per_thread in plan:
            for k, body in per_thread:
                assert ids[body["external_id"]] == replayed_ids[k]
        assert db.count("members") == len(planned)
        assert db.count("idempotency_keys") == len(planned)
        assert db.count("audit_log", "action = 'member.create'") == len(planned)

        # The server still stops cleanly after all this.
        server.stop_ok()
    finally:
        if server.alive():
            server.kill()
        db.drop()


def test_restart_keeps_stored_answers(engine):
    """A clean stop and start: stored answers are on disk, not in the process."""
    db = Database(engine)
    db.migrate()
    server = Server(db, threads=2)
    server.start()
    try:
        k = unique("restart-")
        body = {"email": unique("rs-") + "@example.com"}
        first = server.post("/v1/members", json=body, headers={"Idempotency-Key": k})
        assert first.status_code == 201
        server.stop_ok()
        server.start()
        again = server.post("/v1/members", json=body, headers={"Idempotency-Key": k})
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json() == first.json()
        server.stop_ok()
    finally:
        if server.alive():
            server.kill()
        db.drop()
