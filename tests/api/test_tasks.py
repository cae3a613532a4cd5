"""Staff tasks over HTTP: create, read, change (done/undone), the list's filters (assignee
me/none/email, due today/overdue/date, status, member) and its cursor, roles, audit, and bad
input that changes nothing. On both engines."""

import datetime

import pytest
import requests

from conftest import ROLES, assert_error, unique

TASK_KEYS = {"id", "title", "body", "member_id", "campaign_id", "message_id", "assignee", "due_at", "done",
             "done_at", "done_by", "created_by", "created_at", "updated_at"}
PASSWORD = "correct horse battery"


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def new_staff(server, role="agent"):
    email = unique("staff-") + "@example.com"
    r = server.post("/v1/staff", json={"email": email, "name": "Sam", "role": role, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return email


def session(server, email):
    """A signed-in staff session; requests made with it send the CSRF token."""
    s = requests.Session()
    r = s.post(server.base + "/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return s


def make_task(server, key="admin", **fields):
    body = {"title": "Call Jane about the event"}
    body.update(fields)
    r = server.post("/v1/tasks", json=body, key=key)
    assert r.status_code == 201, r.text
    assert set(r.json()) == TASK_KEYS, r.json()
    return r.json()


def list_ids(server, key="admin", **params):
    r = server.get("/v1/tasks", key=key, params=dict(params, limit=200))
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["data"]]


def test_task_lifecycle(server):
    member = server.create_member()
    agent = new_staff(server)
    due = iso(now_utc() + datetime.timedelta(days=2))
    t = make_task(server, body="She came with two friends.\nAsk about the next one.", member_id=member["id"],
                  assignee=agent, due_at=due)
    assert (t["member_id"], t["assignee"], t["done"], t["done_at"], t["created_by"]) == (
        member["id"], agent, False, None, "test-admin")
    assert t["due_at"] == due
    assert server.get(f"/v1/tasks/{t['id']}", key="agent").json() == t

    r = server.patch(f"/v1/tasks/{t['id']}", json={"done": True}, key="supervisor")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["done"] is True and done["done_by"] == "test-supervisor" and done["done_at"] is not None
    # Done twice: the first time stands.
    again = server.patch(f"/v1/tasks/{t['id']}", json={"done": True}).json()
    assert (again["done_at"], again["done_by"]) == (done["done_at"], done["done_by"])
    reopened = server.patch(f"/v1/tasks/{t['id']}", json={"done": False, "assignee": None}).json()
    assert (reopened["done"], reopened["done_at"], reopened["done_by"], reopened["assignee"]) == (
        False, None, None, None)
    changed = server.patch(f"/v1/tasks/{t['id']}", json={"title": "Call Jane", "due_at": None}).json()
    assert (changed["title"], changed["due_at"], changed["body"]) == ("Call Jane", None, t["body"])
    assert server.db.count("audit_log", f"entity = 'task' AND entity_id = {t['id']}") == 5
    actions = {r[0] for r in server.db.rows(f"SELECT action FROM audit_log WHERE entity = 'task'"
                                            f" AND entity_id = {t['id']}")}
    assert actions == {"task.create", "task.update"}
    assert_error(server.get("/v1/tasks/99999999"), 404, "not_found")
    assert_error(server.patch("/v1/tasks/99999999", json={"done": True}), 404, "not_found")


@pytest.mark.parametrize("fields, code, needle", [
    ({"title": ""}, "invalid_field", "title"),
    ({"title": "x" * 301}, "invalid_field", "title"),
    ({"title": "two\nlines"}, "invalid_field", "title"),
    ({"body": 7}, "invalid_field", "body"),
    ({"member_id": 99999999}, "unknown_member", "99999999"),
    ({"member_id": "1"}, "invalid_field", "member_id"),
    ({"assignee": "nobody@example.com"}, "unknown_assignee", "nobody@example.com"),
    ({"assignee": "not an email"}, "invalid_field", "assignee"),
    ({"due_at": "next friday"}, "invalid_field", "due_at"),
    ({"done": True}, "unknown_field", "done"),
    ({"colour": "red"}, "unknown_field", "colour"),
])
def test_bad_task_creates_nothing(server, fields, code, needle):
    before = (server.db.count("tasks"), server.db.count("audit_log"))
    body = {"title": "Follow up"}
    body.update(fields)
    r = server.post("/v1/tasks", json=body)
    assert_error(r, 400, code)
    assert needle in r.json()["error"]["message"], r.text
    assert (server.db.count("tasks"), server.db.count("audit_log")) == before


def test_missing_title_and_bad_patches_change_nothing(server):
    assert_error(server.post("/v1/tasks", json={"body": "no title"}), 400, "invalid_field")
    t = make_task(server)
    before = server.get(f"/v1/tasks/{t['id']}").json()
    audits = server.db.count("audit_log")
    for patch, code in (({}, "empty_patch"), ({"done": "yes"}, "invalid_field"),
                        ({"title": "ok", "assignee": "ghost@example.com"}, "unknown_assignee"),
                        ({"member_id": 1}, "unknown_field")):
        assert_error(server.patch(f"/v1/tasks/{t['id']}", json=patch), 400, code)
    assert server.get(f"/v1/tasks/{t['id']}").json() == before
    assert server.db.count("audit_log") == audits


@pytest.mark.parametrize("role", ROLES)
def test_task_roles(server, role):
    r = server.post("/v1/tasks", key=role, json={"title": "Role check"})
    if role in ("admin", "manager", "supervisor", "agent"):
        assert r.status_code == 201, r.text
        assert server.get("/v1/tasks", key=role).status_code == 200
    else:
        assert_error(r, 403, "forbidden")
        assert_error(server.get("/v1/tasks", key=role), 403, "forbidden")


def test_assignee_filters_and_me(server):
    alice, bob = new_staff(server, "agent"), new_staff(server, "supervisor")
    a = make_task(server, assignee=alice)
    b = make_task(server, assignee=bob)
    n = make_task(server)
    assert a["id"] in list_ids(server, assignee=alice) and b["id"] not in list_ids(server, assignee=alice)
    none = list_ids(server, assignee="none")
    assert n["id"] in none and a["id"] not in none and b["id"] not in none
    # "me" is the signed-in staff member.
    s = session(server, alice)
    r = s.get(server.base + "/v1/tasks", params={"assignee": "me"}, timeout=30)
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()["data"]] == [a["id"]]
    # A task made in a session is created by that staff member.
    r = s.post(server.base + "/v1/tasks", json={"title": "Mine", "assignee": alice}, timeout=30)
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == alice
    # An API key has no "me".
    r = server.get("/v1/tasks", params={"assignee": "me"})
    assert_error(r, 400, "invalid_query")
    assert "API key" in r.json()["error"]["message"]


def test_due_and_status_filters(server):
    member = server.create_member()
    now = now_utc()
    today = make_task(server, member_id=member["id"], due_at=iso(now))
    overdue = make_task(server, member_id=member["id"], due_at=iso(now - datetime.timedelta(days=3)))
    later = make_task(server, member_id=member["id"], due_at=iso(now + datetime.timedelta(days=10)))
    undated = make_task(server, member_id=member["id"])
    mine = lambda **p: list_ids(server, member_id=member["id"], **p)  # noqa: E731
    assert mine() == [today["id"], overdue["id"], later["id"], undated["id"]]
    assert mine(due="today") == [today["id"]]
    assert set(mine(due="overdue")) <= {today["id"], overdue["id"]} and overdue["id"] in mine(due="overdue")
    day = (now + datetime.timedelta(days=10)).strftime("%Y-%m-%d")
    assert mine(due=day) == [later["id"]]
    server.patch(f"/v1/tasks/{overdue['id']}", json={"done": True})
    assert overdue["id"] not in mine() and overdue["id"] not in mine(due="overdue")
    assert mine(status="done") == [overdue["id"]]
    assert len(mine(status="all")) == 4
    for params in ({"due": "tomorrow"}, {"due": "2026-02-30"}, {"status": "closed"}, {"assignee": "x y"},
                   {"limit": "201"}, {"member_id": "abc"}):
        assert_error(server.get("/v1/tasks", params=params), 400, "invalid_query")


def test_pagination(server):
    member = server.create_member()
    ids = [make_task(server, member_id=member["id"], title=f"Task {i}")["id"] for i in range(5)]
    seen, after = [], None
    while True:
        params = {"member_id": member["id"], "limit": 2}
        if after:
            params["after"] = after
        page = server.get("/v1/tasks", params=params).json()
        assert len(page["data"]) <= 2
        seen += [t["id"] for t in page["data"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == ids
