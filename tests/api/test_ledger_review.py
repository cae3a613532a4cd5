"""Regressions from the review of the ledger: each test is one defect a reviewer reproduced,
kept so it cannot come back (both engines)."""

import concurrent.futures
import json
import sqlite3

import requests

from conftest import assert_error, run_patron, start_server, unique
from test_ledger_more import (balances, buy, fixed_store, idem, in_store, make_rule,  # noqa: F401 (fixtures)
                              program_settings, refund)


def forget_stored_answers(server):
    if server.engine == "postgres":
        server.db.rows("DELETE FROM idempotency_keys")  # psql commits
        return
    conn = sqlite3.connect(server.db.path, timeout=30)
    try:
        conn.execute("DELETE FROM idempotency_keys")
        conn.commit()
    finally:
        conn.close()


def test_concurrent_refunds_of_one_purchase_refund_it_once(server, make_rule):
    store = unique("st")
    make_rule(condition=in_store(store), points_per_unit=1, unit_cents=100)
    m = server.create_member()
    purchases = [buy(server, m["id"], 10000, store=store) for _ in range(5)]
    key = server.keys["integration"]

    def one(purchase_id):
        r = requests.post(f"{server.base}/v1/purchases/{purchase_id}/refunds", json={"amount_cents": 10000},
                          headers={"Authorization": f"Bearer {key}", "Idempotency-Key": unique("r-")}, timeout=60)
        return r.status_code

    jobs = [p["id"] for p in purchases for _ in range(3)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(one, jobs))
    assert statuses.count(201) == 5, statuses          # each purchase refunded once
    assert set(statuses) <= {201, 400}
    assert balances(server, m["id"]) == (0, 0, 0, 0)   # 500 earned, 500 taken back, no debt
    for p in purchases:
        assert server.get(f"/v1/purchases/{p['id']}").json()["refunded_cents"] == 10000


def test_refunding_a_line_takes_back_that_lines_points_only(server, make_rule):
    store = unique("st")
    make_rule(condition=in_store(store), points_per_unit=1, unit_cents=100)
    with program_settings(server, excluded_categories=["giftcard"]):
        m = server.create_member()
        p = buy(server, m["id"], 20000, store=store, lines=[
            {"sku": "TV", "category": "electronics", "amount_cents": 10000},
            {"sku": "GC", "category": "giftcard", "amount_cents": 10000}])
        assert p["points_earned"] == 100
        r = refund(server, p["id"], {"lines": [{"line": 1}]})   # the gift card earned nothing
        assert r.status_code == 201, r.text
        assert r.json()["points_taken_back"] == 0
        r = refund(server, p["id"], {"lines": [{"line": 0}]})   # the tv earned everything
        assert r.json()["points_taken_back"] == 100
        assert balances(server, m["id"]) == (0, 0, 0, 0)


def test_a_member_with_many_lots_spends_and_refunds(server, make_rule, tmp_path):
    """More lots than one read takes (512): balances are never misread and nothing crashes."""
    ext = unique("many")
    m = server.create_member(external_id=ext)
    make_rule(condition=f"member_id = {m['id']}", points_per_unit=1, unit_cents=100)
    path = tmp_path / "many.csv"
    path.write_text("member,order,date,amount\n" +
                    "".join(f"{ext},{ext}-{i},2026-01-01,1.00\n" for i in range(600)))
    run_patron("import", "purchases", str(path), "--header", "--db", server.db.url,
               "--map", "member=member,order=order,date=date,amount=amount")
    big = buy(server, m["id"], 60000)
    assert balances(server, m["id"])[0] == 1200
    r = server.post(f"/v1/members/{m['id']}/points/spend", headers=idem(), json={"points": 500, "reason": "x"})
    assert r.status_code == 201, r.text
    r = refund(server, big["id"], {"amount_cents": 60000})   # its own lot: no need to read the others
    assert r.status_code == 201, r.text
    assert server.alive()
    assert balances(server, m["id"]) == (100, 0, 0, 0)
    run_patron("ledger", "verify", "--member", str(m["id"]), "--db", server.db.url)


def test_a_long_idempotency_key_adjusts_a_member_in_debt(server, fixed_store):
    store = fixed_store(100)
    m = server.create_member()
    p = buy(server, m["id"], 100, store=store)
    server.post(f"/v1/members/{m['id']}/points/spend", headers=idem(), json={"points": 100, "reason": "x"})
    refund(server, p["id"], {"amount_cents": 100})
    assert balances(server, m["id"])[3] == 100
    key = "k" * 190
    r = server.post(f"/v1/members/{m['id']}/points/adjustments", headers={"Idempotency-Key": key},
                    json={"points": 500, "reason": "goodwill"})
    assert r.status_code == 201, r.text
    assert balances(server, m["id"]) == (400, 0, 0, 0)
    r = server.post(f"/v1/members/{m['id']}/points/adjustments", headers={"Idempotency-Key": key[:-1] + "x"},
                    json={"points": 5, "reason": "goodwill"})
    assert r.status_code == 201, r.text   # another key sharing 189 characters is another adjustment


def test_an_imported_return_refunds_the_order_it_names(server, make_rule, tmp_path):
    ext = unique("cust")
    with program_settings(server, excluded_categories=["giftcard"]):
        make_rule(condition="any(lines, category != \"giftcard\")", points_per_unit=1, unit_cents=100)
        path = tmp_path / "orders.csv"
        path.write_text("member,order,date,amount,sku,category\n"
                        f"{ext},X-{ext},2026-01-10,100.00,gc,giftcard\n"
                        f"{ext},Y-{ext},2026-01-11,100.00,tv,electronics\n"
                        f"{ext},X-{ext},2026-01-12,-100.00,gc,giftcard\n")
        out = run_patron("import", "purchases", str(path), "--header", "--db", server.db.url,
                         "--map", "member=member,order=order,date=date,amount=amount,sku=sku,category=category")
        assert '"returns": 1' in out.stdout, out.stdout
        member = server.get(f"/v1/members?external_id={ext}").json()["data"][0]
        # The gift card's return takes back nothing: the tv's 100 points stay.
        assert balances(server, member["id"])[0] == 100
    run_patron("ledger", "verify", "--db", server.db.url)


def test_a_refund_key_refunds_once_even_after_its_answer_is_forgotten(server, fixed_store):
    store = fixed_store(100)
    m = server.create_member()
    p = buy(server, m["id"], 1000, store=store)
    headers = {"Idempotency-Key": unique("rk-")}
    assert refund(server, p["id"], {"amount_cents": 100}, headers=headers).status_code == 201
    forget_stored_answers(server)   # the stored answers are purged after a day
    again = refund(server, p["id"], {"amount_cents": 100}, headers=headers)
    assert_error(again, 409, "duplicate_refund")
    assert server.get(f"/v1/purchases/{p['id']}").json()["refunded_cents"] == 100


def test_import_balances_opens_each_row_once(server, tmp_path):
    ext = unique("open")
    path = tmp_path / "balances.csv"
    path.write_text("customer,points,expires\n"
                    f"{ext}-a,500,2099-12-31\n"
                    f"{ext}-b,120,\n"
                    f"{ext}-a,80,2099-06-30\n"
                    f"{ext}-c,abc,\n"
                    f"{ext}-d,10,2020-01-01\n")
    args = ["import", "balances", str(path), "--header", "--db", server.db.url,
            "--map", "member=customer,points=points,expires=expires"]
    first = json.loads(run_patron(*args).stdout)
    assert (first["rows"], first["balances"], first["members_created"], first["rejected"]) == (5, 3, 2, 2)
    rejects = (tmp_path / "balances.csv.rejects.csv").read_text().splitlines()
    assert rejects[1:] == ['5,"points must be a positive whole number"', '6,"the expiry date has passed"']
    again = json.loads(run_patron(*args).stdout)
    assert (again["balances"], again["duplicates_skipped"], again["members_created"]) == (0, 3, 0)
    a = server.get(f"/v1/members?external_id={ext}-a").json()["data"][0]
    assert balances(server, a["id"]) == (580, 0, 0, 0)
    assert server.get(f"/v1/members?external_id={ext}-d").json()["data"] == []   # nothing made for a rejected row
    run_patron("ledger", "verify", "--db", server.db.url)


def test_a_spend_needing_too_many_lots_is_refused_whole(server, make_rule, tmp_path):
    ext = unique("lots")
    m = server.create_member(external_id=ext)
    make_rule(condition=f"member_id = {m['id']}", points_per_unit=1, unit_cents=100)
    path = tmp_path / "small.csv"
    path.write_text("member,order,date,amount\n" +
                    "".join(f"{ext},{ext}-{i},2026-01-01,1.00\n" for i in range(600)))
    run_patron("import", "purchases", str(path), "--header", "--db", server.db.url,
               "--map", "member=member,order=order,date=date,amount=amount")
    transfers = server.db.scalar(f"SELECT COUNT(*) FROM transfers WHERE member_id = {m['id']}")
    r = server.post(f"/v1/members/{m['id']}/points/spend", headers=idem(), json={"points": 550, "reason": "x"})
    assert_error(r, 409, "too_many_lots")
    assert balances(server, m["id"]) == (600, 0, 0, 0)
    assert server.db.scalar(f"SELECT COUNT(*) FROM transfers WHERE member_id = {m['id']}") == transfers
    r = server.post(f"/v1/members/{m['id']}/points/spend", headers=idem(), json={"points": 500, "reason": "x"})
    assert r.status_code == 201, r.text


def test_serve_takes_the_programs_time_zone(engine, monkeypatch):
    monkeypatch.delenv("PATRON_TIME_ZONE", raising=False)
    s = start_server(engine)
    try:
        assert s.get("/healthz").json()["time_zone"] == "UTC"
        assert s.patch("/v1/program", json={"time_zone": "Europe/Paris"}).status_code == 200
        s.stop_ok()
        s.start()
        assert s.get("/healthz").json()["time_zone"] == "Europe/Paris"
        s.stop_ok()
        monkeypatch.setenv("PATRON_TIME_ZONE", "Asia/Tokyo")   # the command line's zone wins
        s.start()
        assert s.get("/healthz").json()["time_zone"] == "Asia/Tokyo"
        s.stop_ok()
    finally:
        if s.alive():
            s.kill()
        s.db.drop()
