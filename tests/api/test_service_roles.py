"""The service desk's authorisation matrix: every ticket, chat, compensation, approval,
knowledge-base, SLA, incident and satisfaction endpoint, for each role (DESIGN.md §5),
default deny. A role outside an action gets 403 `forbidden` and changes nothing; a role
inside it is never refused for its role. The matrix is written out here as the
specification, not read from the code. On both engines.
"""

import pytest

from conftest import ROLES, assert_error, unique

WORK = {"admin", "manager", "supervisor", "agent"}               # work tickets and chats
CREATE = WORK | {"integration"}                                  # open tickets, a chat's customer side
PROPOSE = {"admin", "manager", "supervisor", "agent"}             # propose compensation
DECIDE = {"admin", "manager", "supervisor"}                       # decide approvals (within limits)
MANAGE = {"admin", "manager"}                                     # program: SLAs, calendars, incidents
KB_WRITE = {"admin", "manager", "supervisor"}                     # write the knowledge base
ANALYTICS = {"admin", "manager", "supervisor", "analyst"}         # reports

# (allowed roles, method, path, body maker); {ticket}, {approval}, {article} are made per call.
MATRIX = [
    (WORK, "GET", "/v1/tickets", None),
    (CREATE, "POST", "/v1/tickets", lambda c: {"member_id": c["member"], "subject": "s", "body": "b",
                                               "category": "question"}),
    (WORK, "GET", "/v1/tickets/{ticket}", None),
    (WORK, "PATCH", "/v1/tickets/{ticket}", lambda c: {"priority": "high"}),
    (WORK, "POST", "/v1/tickets/{ticket}/comments", lambda c: {"body": "note", "visibility": "internal"}),
    (CREATE, "GET", "/v1/tickets/{ticket}/messages?wait=0", None),
    (CREATE, "POST", "/v1/tickets/{chat}/messages", lambda c: {"body": "hello"}),
    (CREATE, "POST", "/v1/tickets/{suggestion}/votes", lambda c: {"member_id": c["member"]}),
    (WORK, "POST", "/v1/tickets/{ticket}/escalate", lambda c: {"reason": "angry customer"}),
    (WORK, "GET", "/v1/tickets/{ticket}/compensations", None),
    (PROPOSE, "POST", "/v1/tickets/{ticket}/compensations",
     lambda c: {"kind": "points", "points": 10, "reason": "sorry"}),
    (WORK, "POST", "/v1/tickets/{ticket}/kb-reply", lambda c: {"article_id": c["article"],
                                                               "visibility": "internal"}),
    (DECIDE, "GET", "/v1/approvals", None),
    (DECIDE, "POST", "/v1/approvals/{approval}/reject", lambda c: {"reason": "no"}),
    (WORK, "GET", "/v1/kb/search?q=parcel", None),
    (WORK, "GET", "/v1/kb/articles", None),
    (KB_WRITE, "POST", "/v1/kb/articles", lambda c: {"title": unique("t"), "body": "b"}),
    (WORK, "GET", "/v1/business-hours", None),
    (MANAGE, "POST", "/v1/holidays", lambda c: {"day": f"20{30 + c['n'] % 60}-12-25", "name": "Christmas"}),
    (WORK, "GET", "/v1/sla-policies", None),
    (MANAGE, "POST", "/v1/incidents", lambda c: {"title": unique("i"), "subject": "Sorry", "text": "Late",
                                                 "audience": f"member_id = {c['member']}"}),
    (ANALYTICS, "GET", "/v1/reports/satisfaction", None),
    (ANALYTICS, "GET", "/v1/reports/kb", None),
]

COUNTED = ["tickets", "ticket_comments", "ticket_history", "approvals", "compensations", "kb_articles",
           "holidays", "incidents", "suggestion_votes", "audit_log"]


@pytest.fixture(scope="module")
def article(server):
    r = server.post("/v1/kb/articles", json={"title": "Where is my parcel?", "body": "Tracking is in the email.",
                                              "status": "published"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def context(server, article, n):
    member = server.create_member()["id"]

    def ticket(**fields):
        body = {"member_id": member, "subject": unique("s"), "body": "b", "category": "complaint"}
        body.update(fields)
        r = server.post("/v1/tickets", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    t = ticket()
    r = server.post(f"/v1/tickets/{t}/compensations", json={"kind": "points", "points": 5, "reason": "sorry"},
                    key="agent")
    assert r.status_code == 201, r.text
    return {"member": member, "ticket": t, "chat": ticket(channel="chat"), "suggestion": ticket(category="suggestion"),
            "approval": r.json()["approval_id"], "article": article, "n": n}


@pytest.mark.parametrize("allowed,method,path,body", MATRIX, ids=[f"{m} {p.split('?')[0]}" for _, m, p, _ in MATRIX])
def test_service_role_matrix(server, article, allowed, method, path, body):
    for n, role in enumerate(ROLES):
        c = context(server, article, n)
        url = path.format(**c)
        before = server.db.counts(COUNTED)
        r = server.request(method, url, key=role, json=body(c) if body else None)
        if role in allowed:
            assert r.status_code not in (401, 403), f"{role} {method} {url}: {r.status_code} {r.text}"
            assert r.status_code < 500, r.text
        else:
            assert_error(r, 403, "forbidden")
            assert server.db.counts(COUNTED) == before, f"{role} {method} {url} changed rows"


def test_no_credentials_is_401(server, article):
    c = context(server, article, 0)
    for _, method, path, body in MATRIX:
        r = server.request(method, path.format(**c), key=None, json=body(c) if body else None)
        assert_error(r, 401, "unauthorized")
