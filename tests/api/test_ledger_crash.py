"""SIGKILL in the middle of purchases and spends, several times: nothing answered is lost, nothing doubles.

Threads post purchases (each earning points by a rule) and spends, every request with its own
Idempotency-Key. The server is killed at a random moment, restarted on the same database, killed
again, three times. Then every request is retried with its key: one answered before a crash replays
its first answer; one that got no answer is applied at most once (an error answer, which changed nothing, is not
stored and may run again). At the end the ledger reconciles:
`patron ledger verify` passes, every order exists once, every answered spend is one transfer, and each
member's available points equal what their purchases earned minus what their spends took.
"""

import random
import threading

import requests

from conftest import Database, Server, run_patron, unique

THREADS = 6
MEMBERS = 4
PER_THREAD = 45
ROUNDS = 3


def _request(session, base, key, op):
    kind, idem, member, body = op
    path = "/v1/purchases" if kind == "purchase" else f"/v1/members/{member}/points/spend"
    return session.post(base + path, json=body, timeout=60,
                        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem})


def test_kills_lose_no_answered_ledger_write_and_double_none(engine):
    db = Database(engine)
    db.migrate()
    server = Server(db, threads=4)
    server.start()
    tag = unique("lcrash")
    rnd = random.Random(7)
    try:
        rule = server.post("/v1/rules", json={"name": f"{tag} base", "formula": "per_amount",
                                              "points_per_unit": 1, "unit_cents": 100})
        assert rule.status_code == 201, rule.text
        members = [server.create_member(external_id=f"{tag}-m{i}")["id"] for i in range(MEMBERS)]
        plan = []
        for t in range(THREADS):
            ops = []
            for j in range(PER_THREAD):
                member = rnd.choice(members)
                if j % 3 == 2:
                    ops.append(("spend", f"{tag}-s-{t}-{j}", member, {"points": rnd.randint(1, 40), "reason": "till"}))
                else:
                    ops.append(("purchase", f"{tag}-p-{t}-{j}", member,
                                {"member_id": member, "order_id": f"{tag}-o-{t}-{j}",
                                 "amount_cents": rnd.randint(100, 9000)}))
            plan.append(ops)
        answers = {}  # idempotency key -> (status, body) answered before a crash
        key = server.keys["integration"]
        lock = threading.Lock()

        for round_no in range(ROUNDS):
            killed = threading.Event()
            enough = threading.Event()
            target = len(answers) + rnd.randint(20, 50)

            def client(t):
                s = requests.Session()
                for op in plan[t]:
                    if killed.is_set():
                        return
                    if op[1] in answers:
                        continue
                    try:
                        r = _request(s, server.base, key, op)
                    except requests.RequestException:
                        return
                    assert r.status_code in (201, 409), r.text
                    with lock:
                        answers[op[1]] = (r.status_code, r.json())
                        if len(answers) >= target:
                            enough.set()

            threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
            for t in threads:
                t.start()
            enough.wait(timeout=120)
            server.kill()
            killed.set()
            for t in threads:
                t.join(timeout=120)
            assert not any(t.is_alive() for t in threads)
            server.start()

        assert 0 < len(answers) < THREADS * PER_THREAD, "the kills did not land mid-run"
        # Retry everything with its key.
        s = requests.Session()
        final = {}
        for ops in plan:
            for op in ops:
                r = _request(s, server.base, key, op)
                assert r.status_code in (201, 409), r.text
                final[op[1]] = (r.status_code, r.json())
                if op[1] in answers and answers[op[1]][0] == 201:  # errors are not stored: they may run again
                    assert r.headers.get("Idempotent-Replayed") == "true", f"{op[1]} ran twice"
                    assert (r.status_code, r.json()) == answers[op[1]], f"{op[1]} answered differently"

        # Every order exists once; every successful spend is one transfer.
        orders = db.rows(f"SELECT order_id, COUNT(*) FROM purchases WHERE order_id LIKE '{tag}-o-%' GROUP BY order_id")
        assert len(orders) == sum(1 for ops in plan for op in ops if op[0] == "purchase")
        assert all(int(n) == 1 for _, n in orders)
        spent_ok = [op for ops in plan for op in ops if op[0] == "spend" and final[op[1]][0] == 201]
        for op in spent_ok:
            transfer_id = final[op[1]][1]["transfer_id"]
            assert int(db.scalar(f"SELECT COUNT(*) FROM transfers WHERE id = {transfer_id} AND kind = 'spend'")) == 1
        spend_rows = int(db.scalar("SELECT COUNT(*) FROM transfers WHERE kind = 'spend'"))
        assert spend_rows == len(spent_ok), f"{spend_rows} spend transfers for {len(spent_ok)} answered spends"
        # Balances reconcile with what the requests did.
        for m in members:
            earned = int(db.scalar(f"SELECT COALESCE(SUM(points_earned), 0) FROM purchases WHERE member_id = {m}"))
            spent = sum(op[3]["points"] for op in spent_ok if op[2] == m)
            points = server.get(f"/v1/members/{m}/points").json()
            assert points["available"] == earned - spent, (m, points, earned, spent)
        run_patron("ledger", "verify", "--db", db.url)
        server.stop_ok()
    finally:
        if server.alive():
            server.kill()
        db.drop()
