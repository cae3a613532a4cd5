"""Service levels over HTTP and the tickets_sla job, on both engines: the business calendar
(hours, holidays) and SLA policies with their validation and roles; due times worked out in
business time across a night, a weekend and a holiday (the job is driven with
`patron jobs run tickets_sla --at`); a breach marked once, escalated to the least-loaded
supervisor with a task; escalation on demand.

TEST SETUP until the ticket API lands (branch `tickets`): tickets are inserted as rows
(insert_ticket). Their clocks start through the job, which starts the clocks of open tickets
that have none, exactly as sla_start_tx does when tickets.c creates one. The pause/resume hooks
(a waiting period) are exercised on both engines by tests/store/test_sla_store.c.
"""

import sqlite3

import pytest

from conftest import assert_error, run_patron, unique

PASSWORD = "correct horse battery"
DEFAULT_WEEK = [{"weekday": d, "opens": "09:00", "closes": "17:00"} for d in range(1, 6)]


def execute(db, sql):
    """Runs one change and commits it (conftest's db.rows reads only); returns its rows."""
    if db.engine == "sqlite":
        conn = sqlite3.connect(db.path, timeout=30)
        try:
            rows = [tuple(r) for r in conn.execute(sql).fetchall()]
            conn.commit()
            return rows
        finally:
            conn.close()
    return db.rows(sql)


def us(text):
    """Microseconds since the epoch of an RFC 3339 UTC time."""
    import datetime
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1000000


def iso_of(micros):
    import datetime
    return datetime.datetime.fromtimestamp(micros / 1e6, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def insert_ticket(server, created_at, priority="normal", category="question", status="open", member_id=None,
                  assignee=None):
    """TEST SETUP ONLY: a ticket row as tickets.c will write it (until its API lands). Returns its id."""
    member = "NULL" if member_id is None else str(member_id)
    who = "NULL" if assignee is None else f"'{assignee}'"
    (row,) = execute(server.db,
                     "INSERT INTO tickets (member_id, subject, category, priority, channel, status, assignee, token,"
                     f" created_by, created_at, updated_at) VALUES ({member}, 'Late parcel', '{category}',"
                     f" '{priority}', 'email', '{status}', {who}, '{unique('tok')}', 'test', {us(created_at)},"
                     f" {us(created_at)}) RETURNING id")
    return int(row[0])


def ticket(server, ticket_id):
    (row,) = server.db.rows("SELECT status, assignee, first_response_due_at, resolution_due_at,"
                            " breached_first_response, breached_resolution, escalated_at FROM tickets"
                            f" WHERE id = {ticket_id}")
    keys = ["status", "assignee", "first_response_due_at", "resolution_due_at", "breached_first_response",
            "breached_resolution", "escalated_at"]
    out = dict(zip(keys, row))
    for k in ("first_response_due_at", "resolution_due_at", "escalated_at"):
        out[k] = iso_of(int(out[k])) if out[k] is not None else None
    for k in ("breached_first_response", "breached_resolution"):
        out[k] = int(out[k])
    return out


def run_sla(server, at):
    return run_patron("jobs", "run", "tickets_sla", "--at", at, "--db", server.db.url).stdout


def history(server, ticket_id):
    return server.db.rows(f"SELECT change, from_value, to_value FROM ticket_history WHERE ticket_id = {ticket_id}"
                          " ORDER BY id")


def new_staff(server, role):
    email = unique("staff-") + "@example.com"
    r = server.post("/v1/staff", json={"email": email, "name": "Sam", "role": role, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return email


@pytest.fixture(autouse=True)
def default_calendar(server):
    """Every test starts from Monday-Friday 09:00-17:00 UTC without holidays."""
    r = server.request("PUT", "/v1/business-hours", json={"days": DEFAULT_WEEK})
    assert r.status_code == 200, r.text
    for h in server.get("/v1/holidays").json()["data"]:
        assert server.delete(f"/v1/holidays/{h['day']}").status_code == 200
    yield


# ---- the calendar ---------------------------------------------------------------------------

def test_business_hours_default_and_replace(server):
    r = server.get("/v1/business-hours", key="agent")
    assert r.status_code == 200, r.text
    assert r.json() == {"time_zone": "UTC", "days": DEFAULT_WEEK}
    week = [{"weekday": 6, "opens": "10:00", "closes": "14:30"}, {"weekday": 1, "opens": "08:00", "closes": "24:00"}]
    r = server.request("PUT", "/v1/business-hours", json={"days": week}, key="manager")
    assert r.status_code == 200, r.text
    assert r.json()["days"] == [week[1], week[0]]
    assert server.get("/v1/business-hours").json()["days"] == [week[1], week[0]]


@pytest.mark.parametrize("body, code", [
    ({"days": []}, "invalid_field"),
    ({"days": "weekdays"}, "invalid_field"),
    ({"days": [{"weekday": 0, "opens": "09:00", "closes": "17:00"}]}, "invalid_field"),
    ({"days": [{"weekday": 8, "opens": "09:00", "closes": "17:00"}]}, "invalid_field"),
    ({"days": [{"weekday": 1, "opens": "17:00", "closes": "09:00"}]}, "invalid_field"),
    ({"days": [{"weekday": 1, "opens": "09:00", "closes": "09:00"}]}, "invalid_field"),
    ({"days": [{"weekday": 1, "opens": "9:00", "closes": "17:00"}]}, "invalid_field"),
    ({"days": [{"weekday": 1, "opens": "09:00", "closes": "24:30"}]}, "invalid_field"),
    ({"days": [{"weekday": 1, "opens": "24:00", "closes": "24:00"}]}, "invalid_field"),
    ({"days": [{"weekday": 1, "opens": "09:00", "closes": "17:00"},
               {"weekday": 1, "opens": "10:00", "closes": "12:00"}]}, "invalid_field"),
    ({"days": [{"weekday": 1, "opens": "09:00", "closes": "17:00", "lunch": "12:00"}]}, "unknown_field"),
    ({"week": DEFAULT_WEEK}, "unknown_field"),
])
def test_business_hours_bad_input_changes_nothing(server, body, code):
    before = server.get("/v1/business-hours").json()
    audit = server.db.count("audit_log")
    assert_error(server.request("PUT", "/v1/business-hours", json=body), 400, code)
    assert server.get("/v1/business-hours").json() == before
    assert server.db.count("audit_log") == audit


def test_holidays_crud_and_validation(server):
    r = server.post("/v1/holidays", json={"day": "2026-12-25", "name": "Christmas"}, key="manager")
    assert r.status_code == 201, r.text
    assert r.json()["day"] == "2026-12-25" and r.json()["name"] == "Christmas"
    assert server.post("/v1/holidays", json={"day": "2026-01-01", "name": "New Year"}).status_code == 201
    assert [h["day"] for h in server.get("/v1/holidays", key="agent").json()["data"]] == ["2026-01-01", "2026-12-25"]
    assert_error(server.post("/v1/holidays", json={"day": "2026-12-25", "name": "Again"}), 409, "duplicate_holiday")
    for bad in ({"day": "2026-02-30", "name": "x"}, {"day": "25/12/2026", "name": "x"}, {"day": "2026-12-26"},
                {"day": "2026-12-26", "name": ""}, {"day": "2026-12-26", "name": "a\nb"}):
        assert_error(server.post("/v1/holidays", json=bad), 400, "invalid_field")
    assert_error(server.post("/v1/holidays", json={"day": "2026-12-26", "name": "x", "x": 1}), 400, "unknown_field")
    assert len(server.get("/v1/holidays").json()["data"]) == 2
    assert_error(server.delete("/v1/holidays/2026-12-26"), 404, "not_found")
    assert_error(server.delete("/v1/holidays/tomorrow"), 404, "not_found")
    r = server.delete("/v1/holidays/2026-01-01")
    assert r.status_code == 200 and r.json()["name"] == "New Year", r.text
    assert [h["day"] for h in server.get("/v1/holidays").json()["data"]] == ["2026-12-25"]


def test_sla_policies_crud_and_validation(server):
    r = server.get("/v1/sla-policies", key="agent")
    assert r.status_code == 200, r.text
    defaults = {(p["priority"], p["category"]): (p["first_response_minutes"], p["resolution_minutes"])
                for p in r.json()["data"]}
    assert defaults[("urgent", None)] == (60, 480) and defaults[("high", None)] == (240, 1440)
    assert defaults[("normal", None)] == (480, 2880) and defaults[("low", None)] == (1440, 7200)
    body = {"priority": "high", "category": "suggestion", "first_response_minutes": 120, "resolution_minutes": 600}
    r = server.post("/v1/sla-policies", json=body, key="manager")
    assert r.status_code == 201, r.text
    policy = r.json()
    assert policy["category"] == "suggestion" and policy["resolution_minutes"] == 600
    assert_error(server.post("/v1/sla-policies", json=body), 409, "duplicate_policy")
    before = server.get("/v1/sla-policies").json()
    for bad, code in [({**body, "priority": "critical"}, "invalid_field"),
                      ({**body, "category": "billing"}, "invalid_field"),
                      ({**body, "category": "other", "first_response_minutes": 0}, "invalid_field"),
                      ({**body, "category": "other", "resolution_minutes": 60}, "invalid_field"),
                      ({**body, "category": "other", "first_response_minutes": "60"}, "invalid_field"),
                      ({"priority": "low", "category": "other"}, "invalid_field"),
                      ({**body, "category": "other", "colour": "red"}, "unknown_field")]:
        assert_error(server.post("/v1/sla-policies", json=bad), 400, code)
    assert server.get("/v1/sla-policies").json() == before
    r = server.patch(f"/v1/sla-policies/{policy['id']}", json={"resolution_minutes": 900})
    assert r.status_code == 200 and r.json()["resolution_minutes"] == 900, r.text
    assert_error(server.patch(f"/v1/sla-policies/{policy['id']}", json={"resolution_minutes": 60}), 400,
                 "invalid_field")
    assert_error(server.patch(f"/v1/sla-policies/{policy['id']}", json={"priority": "low"}), 400, "unknown_field")
    assert_error(server.patch(f"/v1/sla-policies/{policy['id']}", json={}), 400, "empty_patch")
    assert_error(server.patch("/v1/sla-policies/999999", json={"resolution_minutes": 900}), 404, "not_found")
    default_id = next(p["id"] for p in before["data"] if p["priority"] == "low" and p["category"] is None)
    assert_error(server.delete(f"/v1/sla-policies/{default_id}"), 409, "default_policy")
    assert server.delete(f"/v1/sla-policies/{policy['id']}").status_code == 200
    assert_error(server.get(f"/v1/sla-policies/{policy['id']}"), 404, "not_found")


@pytest.mark.parametrize("method, path", [
    ("PUT", "/v1/business-hours"), ("POST", "/v1/holidays"), ("DELETE", "/v1/holidays/2026-12-25"),
    ("POST", "/v1/sla-policies"), ("PATCH", "/v1/sla-policies/1"), ("DELETE", "/v1/sla-policies/1"),
])
def test_only_managers_and_admins_change_the_calendar(server, method, path):
    for role in ("supervisor", "agent", "analyst", "integration"):
        assert_error(server.request(method, path, json={}, key=role), 403, "forbidden")


def test_reading_needs_ticket_work(server):
    for path in ("/v1/business-hours", "/v1/holidays", "/v1/sla-policies"):
        for role in ("admin", "manager", "supervisor", "agent"):
            assert server.get(path, key=role).status_code == 200
        for role in ("analyst", "integration"):
            assert_error(server.get(path, key=role), 403, "forbidden")


# ---- due times through the job -------------------------------------------------------------

def test_due_times_across_a_night(server):
    # Tuesday 16:30, urgent (60 / 480): 30 minutes on Tuesday, the rest on Wednesday morning.
    t = insert_ticket(server, "2026-11-24T16:30:00Z", priority="urgent")
    run_sla(server, "2026-11-24T16:31:00Z")
    got = ticket(server, t)
    assert got["first_response_due_at"] == "2026-11-25T09:30:00Z"
    assert got["resolution_due_at"] == "2026-11-25T16:30:00Z"
    run_sla(server, "2026-11-25T09:29:00Z")
    assert ticket(server, t)["breached_first_response"] == 0
    run_sla(server, "2026-11-25T09:30:00Z")
    got = ticket(server, t)
    assert got["breached_first_response"] == 1 and got["breached_resolution"] == 0
    assert got["status"] == "escalated" and got["escalated_at"] == "2026-11-25T09:30:00Z"


def test_due_times_across_a_weekend(server):
    # Friday 16:00, high (240 / 1440): one hour on Friday, three on Monday; resolution on Wednesday.
    t = insert_ticket(server, "2026-11-27T16:00:00Z", priority="high")
    run_sla(server, "2026-11-27T16:00:30Z")
    got = ticket(server, t)
    assert got["first_response_due_at"] == "2026-11-30T12:00:00Z"
    assert got["resolution_due_at"] == "2026-12-02T16:00:00Z"
    run_sla(server, "2026-11-29T23:00:00Z")  # Sunday night: nothing due yet
    assert ticket(server, t)["status"] == "open"


def test_due_times_across_a_holiday_and_a_category_policy(server):
    assert server.post("/v1/holidays", json={"day": "2026-12-25", "name": "Christmas"}).status_code == 201
    # Thursday 24 December 16:00, normal (480 / 2880): Friday is a holiday, then the weekend.
    t = insert_ticket(server, "2026-12-24T16:00:00Z", priority="normal", category="question")
    # A complaint of normal priority follows its own policy (120 / 960).
    r = server.post("/v1/sla-policies", json={"priority": "normal", "category": "complaint",
                                               "first_response_minutes": 120, "resolution_minutes": 960})
    assert r.status_code == 201, r.text
    c = insert_ticket(server, "2026-12-24T16:00:00Z", priority="normal", category="complaint")
    run_sla(server, "2026-12-24T16:05:00Z")
    got = ticket(server, t)
    assert got["first_response_due_at"] == "2026-12-28T16:00:00Z"
    assert got["resolution_due_at"] == "2027-01-04T16:00:00Z"  # 60 + 5 x 480 + 420
    got = ticket(server, c)
    assert got["first_response_due_at"] == "2026-12-28T10:00:00Z"
    assert got["resolution_due_at"] == "2026-12-29T16:00:00Z"
    assert server.delete(f"/v1/sla-policies/{r.json()['id']}").status_code == 200


def test_waiting_resolved_and_answered_tickets_do_not_breach(server):
    waiting = insert_ticket(server, "2026-11-24T10:00:00Z", priority="urgent")
    resolved = insert_ticket(server, "2026-11-24T10:00:00Z", priority="urgent")
    answered = insert_ticket(server, "2026-11-24T10:00:00Z", priority="urgent")
    run_sla(server, "2026-11-24T10:01:00Z")
    # TEST SETUP: what tickets.c will do through sla_pause_tx / sla_first_response_tx.
    execute(server.db, f"UPDATE tickets SET status = 'waiting', sla_paused_at = {us('2026-11-24T10:30:00Z')}"
                       f" WHERE id = {waiting}")
    execute(server.db, f"UPDATE tickets SET status = 'resolved', resolved_at = {us('2026-11-24T10:30:00Z')}"
                       f" WHERE id = {resolved}")
    execute(server.db, f"UPDATE tickets SET first_responded_at = {us('2026-11-24T10:30:00Z')} WHERE id = {answered}")
    run_sla(server, "2026-11-24T11:30:00Z")  # the first response was due at 11:00
    assert ticket(server, waiting)["breached_first_response"] == 0
    assert ticket(server, resolved)["breached_first_response"] == 0
    assert ticket(server, answered)["breached_first_response"] == 0
    assert ticket(server, answered)["status"] == "open"
    run_sla(server, "2026-11-25T10:00:00Z")  # resolution due Wednesday 10:00: only the open one breaches it
    assert ticket(server, resolved)["breached_resolution"] == 0
    assert ticket(server, waiting)["breached_resolution"] == 0
    got = ticket(server, answered)
    assert got["breached_resolution"] == 1 and got["breached_first_response"] == 0 and got["status"] == "escalated"


# ---- breach and escalation -------------------------------------------------------------------

def test_breach_is_marked_once_and_escalates_to_the_least_loaded_supervisor(server):
    # TEST SETUP: only this test's supervisors are active.
    execute(server.db, "UPDATE staff SET active = 0 WHERE role = 'supervisor'")
    busy, free = new_staff(server, "supervisor"), new_staff(server, "supervisor")
    insert_ticket(server, "2026-11-23T09:00:00Z", status="waiting", assignee=busy)  # busy holds one open ticket
    agent = new_staff(server, "agent")
    m = server.create_member()
    t = insert_ticket(server, "2026-11-23T10:00:00Z", priority="urgent", member_id=m["id"], assignee=agent)
    run_sla(server, "2026-11-23T10:00:30Z")
    tables = ["ticket_history", "member_events", "tasks", "audit_log"]
    out = run_sla(server, "2026-11-23T11:00:00Z")
    assert '"affected": ' in out
    got = ticket(server, t)
    assert got["breached_first_response"] == 1 and got["status"] == "escalated"
    assert got["assignee"] == free
    assert history(server, t) == [("breach", None, "first_response"), ("status", "open", "escalated"),
                                  ("escalation", None, "SLA breached: no first reply by 2026-11-23T11:00:00Z"
                                                         " (due time passed)"),
                                  ("assignee", agent, free)]
    kinds = [r[0] for r in server.db.rows(f"SELECT kind FROM member_events WHERE member_id = {m['id']} ORDER BY id")]
    assert kinds[-2:] == ["ticket_breached", "ticket_escalated"]
    r = server.get(f"/v1/tasks?assignee={free}")
    assert r.status_code == 200, r.text
    (task,) = r.json()["data"]
    assert task["title"] == f"Escalated ticket #{t}: take it over"
    assert "no first reply" in task["body"] and task["member_id"] == m["id"]
    assert task["created_by"] == "tickets_sla"
    # Idempotent: running again (same time or later, before the resolution is due) changes nothing.
    before = server.db.counts(tables)
    run_sla(server, "2026-11-23T11:00:00Z")
    run_sla(server, "2026-11-23T15:00:00Z")
    assert server.db.counts(tables) == before
    # The resolution clock breaches later, once, without a second escalation.
    run_sla(server, "2026-11-24T10:00:00Z")  # 420 minutes on Monday, 60 on Tuesday
    run_sla(server, "2026-11-24T10:00:00Z")
    got = ticket(server, t)
    assert got["breached_resolution"] == 1 and got["escalated_at"] == "2026-11-23T11:00:00Z"
    assert history(server, t)[4:] == [("breach", None, "resolution")]
    assert server.db.count("tasks") == before["tasks"]
    # Now each supervisor holds one open ticket: a tie goes to the lower id.
    u = insert_ticket(server, "2026-11-24T10:00:00Z", priority="urgent")
    run_sla(server, "2026-11-24T10:00:30Z")
    run_sla(server, "2026-11-24T11:00:00Z")
    assert ticket(server, u)["assignee"] == busy
    execute(server.db, "UPDATE staff SET active = 0 WHERE role = 'supervisor'")


def test_no_supervisor_keeps_the_assignee(server):
    execute(server.db, "UPDATE staff SET active = 0 WHERE role = 'supervisor'")
    agent = new_staff(server, "agent")
    t = insert_ticket(server, "2026-11-25T10:00:00Z", priority="urgent", assignee=agent)
    run_sla(server, "2026-11-25T10:00:30Z")
    run_sla(server, "2026-11-25T11:00:00Z")
    got = ticket(server, t)
    assert got["status"] == "escalated" and got["assignee"] == agent
    tasks = server.get("/v1/tasks?assignee=none").json()["data"]
    assert any(x["title"] == f"Escalated ticket #{t}: take it over" for x in tasks)


def test_escalation_on_demand(server):
    execute(server.db, "UPDATE staff SET active = 0 WHERE role = 'supervisor'")
    boss = new_staff(server, "supervisor")
    m = server.create_member()
    t = insert_ticket(server, "2026-11-26T10:00:00Z", member_id=m["id"])
    for body, code in [({}, "invalid_field"), ({"reason": ""}, "invalid_field"), ({"reason": 5}, "invalid_field"),
                       ({"reason": "x", "urgent": True}, "unknown_field")]:
        assert_error(server.post(f"/v1/tickets/{t}/escalate", json=body, key="agent"), 400, code)
    assert_error(server.post(f"/v1/tickets/{t}/escalate", json={"reason": "x"}, key="analyst"), 403, "forbidden")
    assert_error(server.post(f"/v1/tickets/{t}/escalate", json={"reason": "x"}, key="integration"), 403, "forbidden")
    assert_error(server.post("/v1/tickets/999999/escalate", json={"reason": "x"}), 404, "not_found")
    assert ticket(server, t)["status"] == "open"
    r = server.post(f"/v1/tickets/{t}/escalate", json={"reason": "customer threatens to leave"}, key="agent")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "escalated" and r.json()["assignee"] == boss
    task = server.get(f"/v1/tasks/{r.json()['task_id']}").json()
    assert task["assignee"] == boss and task["body"] == "customer threatens to leave"
    assert ("escalation", None, "customer threatens to leave") in history(server, t)
    kinds = [r[0] for r in server.db.rows(f"SELECT kind FROM member_events WHERE member_id = {m['id']}")]
    assert "ticket_escalated" in kinds
    assert_error(server.post(f"/v1/tickets/{t}/escalate", json={"reason": "again"}), 409, "already_escalated")
    closed = insert_ticket(server, "2026-11-26T10:00:00Z", status="resolved")
    assert_error(server.post(f"/v1/tickets/{closed}/escalate", json={"reason": "x"}), 409, "ticket_closed")
