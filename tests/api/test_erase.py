"""GDPR erasure: after erase, no trace of the member's personal data in any table."""

import json
import urllib.parse

from conftest import unique


def person(tag):
    """A member body with values distinctive enough to be searched for in the whole database."""
    t = unique(tag)
    body = {
        "external_id": f"ext-{t}",
        "email": f"mail.{t}@Erase-Example.org",
        "phone": "+44 7700 9" + str(int(t[-8:], 16) % 100000).zfill(5),
        "first_name": f"First{t}",
        "last_name": f"Last{t}",
        "birthday": "1969-07-21",
        "address": {"line1": f"{t} Street 12", "line2": f"Flat {t}", "city": f"City{t}",
                    "region": f"Region{t}", "postal_code": t[-10:].upper(), "country": "GB"},
        "attributes": {"nickname": f"Nick{t}"},
    }
    digits = "+" + "".join(c for c in body["phone"] if c.isdigit())
    needles = [body["external_id"], f"mail.{t}", t, f"First{t}", f"Last{t}", f"{t} Street",
               f"Flat {t}", f"City{t}", f"Region{t}", body["address"]["postal_code"], f"Nick{t}",
               digits, digits[1:], f"first{t}".lower()]
    return body, needles


def find(db, needles):
    """{needle: [(table, column), ...]} for every needle found anywhere in the database."""
    found = {}
    for (table, column), values in db.all_text().items():
        for value in values:
            for needle in needles:
                if needle.lower() in value.lower():
                    found.setdefault(needle, []).append((table, column))
    return found


def test_erase_leaves_no_personal_data_anywhere(server):
    db = server.db
    body, needles = person("gdpr")
    control, control_needles = person("keep")

    # Create with an Idempotency-Key (its answer, full of personal data, is stored) ...
    r = server.post("/v1/members", json=body, headers={"Idempotency-Key": unique("ek-")})
    assert r.status_code == 201, r.text
    m = r.json()
    kept = server.post("/v1/members", json=control, headers={"Idempotency-Key": unique("ek-")})
    assert kept.status_code == 201, kept.text

    # ... change it (another stored answer, new values), look it up in every way ...
    new_last = f"Renamed{unique('')}"
    needles.append(new_last)
    p = server.patch(f"/v1/members/{m['id']}",
                     json={"last_name": new_last, "address": {"line2": None}},
                     headers={"Idempotency-Key": unique("ek-")}, key="agent")
    assert p.status_code == 200, p.text
    assert server.get("/v1/members", params={"q": body["first_name"]}).json()["data"]
    assert server.get("/v1/members/by-external/" + urllib.parse.quote(body["external_id"])) \
        .status_code == 200
    # ... and a refused duplicate whose error names the external id.
    dup = server.post("/v1/members", json={"external_id": body["external_id"]},
                      headers={"Idempotency-Key": unique("ek-")})
    assert dup.status_code == 409

    before = find(db, needles)
    assert "members" in {t for places in before.values() for t, _ in places}
    assert "idempotency_keys" in {t for places in before.values() for t, _ in places}, \
        "the stored answers should hold the member's data before erasure"

    e = server.post(f"/v1/members/{m['id']}/erase", headers={"Idempotency-Key": unique("ek-")})
    assert e.status_code == 200, e.text
    assert e.json()["erased_at"] is not None

    leftovers = find(db, needles)
    assert leftovers == {}, "personal data survived erasure: " + json.dumps(leftovers)

    # The scan does see data that should be there: the other member is untouched.
    assert set(find(db, control_needles)) >= {control["external_id"], f"First{control_needles[2]}"}
    assert server.get(f"/v1/members/{kept.json()['id']}").json() == kept.json()
    # The erased member stays as a bare row, its history kept under its id.
    assert db.count("members", f"id = {m['id']}") == 1
    actions = [r["action"] for r in server.get("/v1/audit", params={
        "entity": "member", "entity_id": m["id"]}).json()["data"]]
    assert actions == ["member.erase", "member.update", "member.create"]


def test_erase_answers_are_not_replayed(server):
    """An erase is not stored for replay (the answer would be a record of the member)."""
    m = server.create_member(first_name=unique("Replay"))
    k = unique("ek-")
    stored = server.db.count("idempotency_keys")
    first = server.post(f"/v1/members/{m['id']}/erase", headers={"Idempotency-Key": k})
    again = server.post(f"/v1/members/{m['id']}/erase", headers={"Idempotency-Key": k})
    assert first.status_code == 200 and again.status_code == 200
    assert again.json() == first.json()
    assert server.db.count("idempotency_keys") == stored
    assert m["first_name"] not in str(server.db.all_text())
