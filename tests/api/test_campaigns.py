"""Campaigns over HTTP: validation and roles, segment runs with a hold-out group,
every trigger firing once per occasion (driven by `patron jobs run campaigns_run
--at` and `jobs run outbox_deliver --at`), consent, frequency caps and quiet hours
checked at delivery, follow-up tasks, the member's timeline and the report. On both
engines. Email itself (SMTP) is tested in test_campaign_email.py; here campaigns use
the feed and task channels, which need no mail server.

Campaigns are global to a server, so every test scopes its campaigns with a segment
on an email domain of its own.
"""

import datetime
import time

import pytest

from conftest import assert_error, run_patron, unique
from test_ledger import buy, iso, make_rule, noon, program_settings, utc_now  # noqa: F401 (fixture)


def domain():
    return unique("d") + ".example"


def member(server, dom, consent=True, **fields):
    body = {"email": unique("m") + "@" + dom, "first_name": unique("F"), "consent": {"email": consent}}
    body.update(fields)
    r = server.post("/v1/members", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def template(server, subject="Hello {{member.first_name}}", text="You have {{points.available}} points."):
    r = server.post("/v1/templates", json={"name": unique("tpl-"), "subject": subject, "text": text})
    assert r.status_code == 201, r.text
    return r.json()["name"]


def campaign(server, dom, **fields):
    body = {"name": unique("camp-"), "channel": "feed", "segment": f'email_domain = "{dom}"'}
    body.update(fields)
    if "template" not in body:
        body["template"] = template(server)
    r = server.post("/v1/campaigns", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def job(server, name, at=None):
    args = ["jobs", "run", name, "--db", server.db.url]
    if at is not None:
        args += ["--at", iso(at)]
    return run_patron(*args).stdout


def settle(server, timeout_s=30):
    """Waits until no message is being delivered: the server's own workers deliver
    alongside the job, and the job does not wait for the rows they hold."""
    deadline = time.monotonic() + timeout_s
    while server.db.scalar("SELECT count(*) FROM messages WHERE status = 'sending'") not in (0, "0"):
        assert time.monotonic() < deadline, "messages stayed 'sending'"
        time.sleep(0.1)


def run_and_deliver(server, at=None):
    job(server, "campaigns_run", at)
    job(server, "outbox_deliver", at)
    settle(server)


def messages(server, member_id, campaign_id=None):
    r = server.get(f"/v1/members/{member_id}/messages", params={"limit": 200})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return [m for m in data if campaign_id is None or m["campaign_id"] == campaign_id]


def cleanup(server, *campaigns):
    for c in campaigns:
        server.patch(f"/v1/campaigns/{c['id']}", json={"active": False})


# ---- the catalogue ------------------------------------------------------------------------------

@pytest.mark.parametrize("change, code, needle", [
    ({"channel": "sms"}, "invalid_field", "channel"),
    ({"template": "no-such-template"}, "invalid_field", "template"),
    ({"schedule": "at"}, "invalid_field", "send_at"),
    ({"schedule": "recurring"}, "invalid_field", "every_days"),
    ({"trigger_kind": "lapse"}, "invalid_field", "trigger_days"),
    ({"trigger_kind": "nth_purchase"}, "invalid_field", "trigger_count"),
    ({"trigger_kind": "birthday", "schedule": "at", "send_at": "2030-01-01T00:00:00Z"}, "invalid_field",
     "no schedule"),
    ({"trigger_kind": "rainy_day"}, "invalid_field", "trigger_kind"),
    ({"holdout_percent": 95}, "invalid_field", "holdout_percent"),
    ({"segment": "tierr = \"Gold\""}, "invalid_expression", "tier"),
    ({"task_assignee": "nobody@example.com", "channel": "task"}, "invalid_field", "staff"),
    ({"task_assignee": "nobody@example.com"}, "invalid_field", "task"),
    ({"colour": "red"}, "unknown_field", "colour"),
])
def test_bad_campaigns_are_refused_and_change_nothing(server, change, code, needle):
    before = server.get("/v1/campaigns").json()["data"]
    body = {"name": unique("bad-"), "channel": "feed", "template": template(server)}
    body.update(change)
    r = server.post("/v1/campaigns", json=body)
    assert_error(r, 400, code)
    assert needle in r.json()["error"]["message"]
    assert server.get("/v1/campaigns").json()["data"] == before


def test_roles(server):
    body = {"name": unique("camp-"), "channel": "feed", "template": template(server), "active": False}
    for role in ("agent", "analyst", "integration", "supervisor"):
        assert_error(server.post("/v1/campaigns", json=body, key=role), 403, "forbidden")
    r = server.post("/v1/campaigns", json=body, key="manager")
    assert r.status_code == 201, r.text
    assert server.get(f"/v1/campaigns/{r.json()['id']}/report", key="analyst").status_code == 200
    assert_error(server.get(f"/v1/campaigns/{r.json()['id']}", key="agent"), 403, "forbidden")
    assert_error(server.get("/v1/campaigns/999999/report"), 404, "not_found")


# ---- segment campaigns ----------------------------------------------------------------------------

def test_a_campaign_now_reaches_its_segment_once_with_what_was_rendered(server):
    dom = domain()
    members = [member(server, dom) for _ in range(3)]
    outsider = member(server, domain())
    tpl = template(server, subject="Hi {{member.first_name}}", text="Points: {{points.available}}. "
                   "Leave: {{links.unsubscribe}} Campaign: {{campaign.name}}")
    c = campaign(server, dom, template=tpl)
    run_and_deliver(server)
    run_and_deliver(server)  # a second run queues nothing more
    for m in members:
        got = messages(server, m["id"], c["id"])
        assert len(got) == 1, got
        msg = got[0]
        assert msg["status"] == "sent" and msg["channel"] == "feed"
        assert msg["subject"] == f"Hi {m['first_name']}"
        assert f"Campaign: {c['name']}" in msg["text"] and "Points: 0." in msg["text"]
        assert "/u/u%d.%d." % (m["id"], msg["id"]) in msg["text"]
        assert msg["sent_at"] is not None and msg["template_version"] == 1
    assert messages(server, outsider["id"], c["id"]) == []
    report = server.get(f"/v1/campaigns/{c['id']}/report").json()
    assert (report["targeted"], report["sent"], report["control"]) == (3, 3, 0)
    cleanup(server, c)


def test_holdout_members_are_never_sent_and_are_measured(server):
    dom = domain()
    members = [member(server, dom) for _ in range(60)]
    c = campaign(server, dom, holdout_percent=50)
    run_and_deliver(server)
    report = server.get(f"/v1/campaigns/{c['id']}/report").json()
    assert report["targeted"] == 60
    assert report["sent"] + report["control"] == 60
    assert 10 <= report["control"] <= 50, report
    control = [m for m in members if messages(server, m["id"], c["id"])[0]["status"] == "control"]
    assert len(control) == report["control"]
    assert all(messages(server, m["id"], c["id"])[0]["sent_at"] is None for m in control)
    # A purchase by a recipient within the attribution window counts for the recipients.
    sent = [m for m in members if m not in control]
    buy(server, sent[0]["id"], 2500)
    buy(server, control[0]["id"], 1000)
    report = server.get(f"/v1/campaigns/{c['id']}/report").json()
    assert report["recipients"]["purchasers"] == 1 and report["recipients"]["revenue_cents"] == 2500
    assert report["control_group"]["purchasers"] == 1 and report["control_group"]["revenue_cents"] == 1000
    assert report["control_group"]["members"] == report["control"]
    cleanup(server, c)


def test_a_campaign_at_a_time_waits_for_it_and_a_recurring_one_repeats(server):
    dom = domain()
    m = member(server, dom)
    start = utc_now() + datetime.timedelta(days=2)
    at = campaign(server, dom, schedule="at", send_at=iso(start))
    every = campaign(server, dom, schedule="recurring", every_days=7)
    run_and_deliver(server, utc_now() + datetime.timedelta(days=1))
    assert messages(server, m["id"], at["id"]) == []
    assert len(messages(server, m["id"], every["id"])) == 1
    run_and_deliver(server, start + datetime.timedelta(hours=1))
    assert len(messages(server, m["id"], at["id"])) == 1
    assert len(messages(server, m["id"], every["id"])) == 1  # only 3 days on
    run_and_deliver(server, start + datetime.timedelta(days=7))
    run_and_deliver(server, start + datetime.timedelta(days=7))
    assert len(messages(server, m["id"], at["id"])) == 1
    assert len(messages(server, m["id"], every["id"])) == 2
    cleanup(server, at, every)


# ---- triggers -----------------------------------------------------------------------------------

def test_three_days_after_a_purchase_ask_how_it_went(server):
    dom = domain()
    m = member(server, dom)
    tpl = template(server, subject="How was order {{purchase.order_id}}?",
                   text="You spent {{purchase.amount}} on {{purchase.date}}.")
    c = campaign(server, dom, template=tpl, trigger_kind="purchase", trigger_days=3)
    bought = buy(server, m["id"], 4250, order_id=unique("o-"))
    now = utc_now()
    run_and_deliver(server, now + datetime.timedelta(days=1))
    got = messages(server, m["id"], c["id"])
    assert len(got) == 1 and got[0]["status"] == "queued"  # queued now, due in 3 days
    run_and_deliver(server, now + datetime.timedelta(days=3, hours=1))
    run_and_deliver(server, now + datetime.timedelta(days=4))
    got = messages(server, m["id"], c["id"])
    assert len(got) == 1 and got[0]["status"] == "sent", got
    assert got[0]["subject"] == f"How was order {bought['order_id']}?"
    assert got[0]["text"].startswith("You spent 42.50 on ")
    cleanup(server, c)


def test_lapse_fires_once_per_lapse_and_again_after_a_new_purchase(server):
    dom = domain()
    m = member(server, dom)
    c = campaign(server, dom, trigger_kind="lapse", trigger_days=30)
    buy(server, m["id"], 1000, occurred_at=iso(noon(40)))
    run_and_deliver(server)
    run_and_deliver(server, utc_now() + datetime.timedelta(days=1))
    assert len(messages(server, m["id"], c["id"])) == 1
    buy(server, m["id"], 1000)  # back again
    run_and_deliver(server, utc_now() + datetime.timedelta(days=10))
    assert len(messages(server, m["id"], c["id"])) == 1
    run_and_deliver(server, utc_now() + datetime.timedelta(days=31))
    run_and_deliver(server, utc_now() + datetime.timedelta(days=32))
    assert len(messages(server, m["id"], c["id"])) == 2
    cleanup(server, c)


def test_birthdays_every_year_with_29_february_on_28_february(server):
    dom = domain()
    leapling = member(server, dom, birthday="2000-02-29")
    march = member(server, dom, birthday="1990-03-01")
    feb28 = member(server, dom, birthday="1985-02-28")
    c = campaign(server, dom, trigger_kind="birthday")
    at = lambda y, mo, d: datetime.datetime(y, mo, d, 10, tzinfo=datetime.timezone.utc)  # noqa: E731
    run_and_deliver(server, at(2027, 2, 27))
    assert all(messages(server, x["id"], c["id"]) == [] for x in (leapling, march, feb28))
    run_and_deliver(server, at(2027, 2, 28))
    run_and_deliver(server, at(2027, 2, 28))
    assert len(messages(server, leapling["id"], c["id"])) == 1
    assert len(messages(server, feb28["id"], c["id"])) == 1
    assert messages(server, march["id"], c["id"]) == []
    run_and_deliver(server, at(2027, 3, 1))
    assert len(messages(server, march["id"], c["id"])) == 1
    assert len(messages(server, leapling["id"], c["id"])) == 1
    # 2028 is a leap year: the leapling's day is 29 February, once.
    run_and_deliver(server, at(2028, 2, 28))
    assert len(messages(server, leapling["id"], c["id"])) == 1
    assert len(messages(server, feb28["id"], c["id"])) == 2
    run_and_deliver(server, at(2028, 2, 29))
    run_and_deliver(server, at(2028, 3, 2))
    assert len(messages(server, leapling["id"], c["id"])) == 2
    assert len(messages(server, feb28["id"], c["id"])) == 2
    assert len(messages(server, march["id"], c["id"])) == 2
    cleanup(server, c)


def test_points_expiring_warns_once_per_expiry(server, make_rule):
    dom = domain()
    m = member(server, dom)
    tpl = template(server, subject="{{points.expiring}} points expire", text="On {{points.expiring_at}}.")
    with program_settings(server, expiry={"policy": "lot", "months": 12}):
        make_rule(condition=f'email_domain = "{dom}"')
        buy(server, m["id"], 5000)
        c = campaign(server, dom, template=tpl, trigger_kind="points_expiring", trigger_days=30)
        run_and_deliver(server, utc_now() + datetime.timedelta(days=300))
        assert messages(server, m["id"], c["id"]) == []
        soon = utc_now() + datetime.timedelta(days=350)
        run_and_deliver(server, soon)
        run_and_deliver(server, soon + datetime.timedelta(days=1))
        got = messages(server, m["id"], c["id"])
        assert len(got) == 1 and got[0]["status"] == "sent", got
        assert got[0]["subject"] == "50 points expire"
    cleanup(server, c)


def test_terms_changed_tells_every_member_what_changed_once(server):
    dom = domain()
    members = [member(server, dom) for _ in range(2)]
    tpl = template(server, subject="Our terms changed (version {{terms.version}})",
                   text="{{#each changes as c}}{{c.name}}: {{c.before}} -> {{c.after}}\n{{/each}}")
    c = campaign(server, dom, template=tpl, trigger_kind="terms_changed")
    run_and_deliver(server)
    assert messages(server, members[0]["id"], c["id"]) == []  # nothing changed since it was made
    before = server.get("/v1/program").json()
    with program_settings(server, pending_days=before["pending_days"] + 3):
        run_and_deliver(server)
        run_and_deliver(server)
        for m in members:
            got = messages(server, m["id"], c["id"])
            assert len(got) == 1, got
            assert f"pending_days: {before['pending_days']} -> {before['pending_days'] + 3}" in got[0]["text"]
    run_and_deliver(server)  # putting it back is another change
    assert len(messages(server, members[0]["id"], c["id"])) == 2
    # How the shop runs the program is not its terms: nobody hears of it.
    with program_settings(server, smtp_connections=before["smtp_connections"] % 4 + 1):
        run_and_deliver(server)
        assert len(messages(server, members[0]["id"], c["id"])) == 2
    run_and_deliver(server)
    assert len(messages(server, members[0]["id"], c["id"])) == 2
    cleanup(server, c)


def test_milestones_nth_purchase_and_anniversary(server):
    dom = domain()
    joined = utc_now() - datetime.timedelta(days=30)
    m = member(server, dom, joined_at=iso(joined))
    tpl = template(server, subject="Thank you", text="{{milestone.purchases}} purchases; {{anniversary.years}} years")
    third = campaign(server, dom, template=tpl, trigger_kind="nth_purchase", trigger_count=3)
    yearly = campaign(server, dom, template=tpl, trigger_kind="anniversary")
    for _ in range(4):
        buy(server, m["id"], 1000)
    run_and_deliver(server, utc_now() + datetime.timedelta(minutes=5))
    got = messages(server, m["id"], third["id"])
    assert len(got) == 1 and got[0]["text"].startswith("3 purchases"), got
    one_year = datetime.datetime(joined.year + 1, joined.month, joined.day, 12, tzinfo=datetime.timezone.utc)
    run_and_deliver(server, one_year - datetime.timedelta(days=1))
    assert messages(server, m["id"], yearly["id"]) == []
    run_and_deliver(server, one_year)
    run_and_deliver(server, one_year + datetime.timedelta(hours=3))
    got = messages(server, m["id"], yearly["id"])
    assert len(got) == 1 and got[0]["text"].endswith("1 years"), got
    cleanup(server, third, yearly)


# ---- checks at delivery ---------------------------------------------------------------------------

def test_email_without_consent_is_skipped_at_delivery(server):
    dom = domain()
    yes, no = member(server, dom), member(server, dom, consent=False)
    c = campaign(server, dom, channel="email")
    job(server, "campaigns_run")
    # Consent withdrawn after queueing counts: it is checked when the message would go.
    r = server.patch(f"/v1/members/{yes['id']}", json={"consent": {"email": False}})
    assert r.status_code == 200, r.text
    # (The server's own workers may have looked already: without an SMTP server the email
    # waits 5 minutes, so deliver past that.)
    job(server, "outbox_deliver", utc_now() + datetime.timedelta(minutes=10))
    settle(server)
    for m in (yes, no):
        got = messages(server, m["id"], c["id"])
        assert len(got) == 1 and got[0]["status"] == "skipped", got
        assert "consent" in got[0]["last_error"]
    cleanup(server, c)


def test_frequency_cap_and_quiet_hours(server):
    dom = domain()
    m = member(server, dom)
    with program_settings(server, message_cap_count=1, message_cap_days=7):
        first = campaign(server, dom)
        run_and_deliver(server)
        second = campaign(server, dom)
        run_and_deliver(server)
        assert messages(server, m["id"], first["id"])[0]["status"] == "sent"
        capped = messages(server, m["id"], second["id"])[0]
        assert capped["status"] == "skipped" and "frequency cap" in capped["last_error"]
    cleanup(server, first, second)
    dom = domain()
    m = member(server, dom)
    night = datetime.datetime.combine(utc_now().date() + datetime.timedelta(days=1), datetime.time(23, 30),
                                      tzinfo=datetime.timezone.utc)
    with program_settings(server, quiet_hours_start=22, quiet_hours_end=7):
        c = campaign(server, dom, channel="email")
        run_and_deliver(server, night)
        got = messages(server, m["id"], c["id"])[0]
        assert got["status"] == "queued" and got["attempts"] == 0, got
        assert got["next_attempt_at"].startswith((night.date() + datetime.timedelta(days=1)).isoformat() + "T07:00")
    cleanup(server, c)


def test_a_task_channel_creates_one_follow_up_for_staff(server):
    dom = domain()
    m = member(server, dom)
    staff = server.get("/v1/staff").json()["data"]
    email = unique("agent-") + "@example.com"
    r = server.post("/v1/staff", json={"email": email, "name": "Agent", "role": "agent",
                                       "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    tpl = template(server, subject="Call {{member.first_name}} about the event", text="Ask how it went.")
    c = campaign(server, dom, channel="task", template=tpl, task_assignee=email, task_due_days=2)
    run_and_deliver(server)
    run_and_deliver(server)
    rows = server.db.rows(f"SELECT title, assignee, member_id FROM tasks WHERE campaign_id = {c['id']}")
    assert rows == [(f"Call {m['first_name']} about the event", email, str(m["id"]))]
    assert staff is not None
    cleanup(server, c)


def test_an_erased_member_gets_nothing_more(server):
    dom = domain()
    m = member(server, dom)
    c = campaign(server, dom, schedule="at", send_at=iso(utc_now() + datetime.timedelta(days=1)))
    job(server, "campaigns_run", utc_now() + datetime.timedelta(days=1, hours=1))
    assert messages(server, m["id"], c["id"])[0]["status"] == "queued"
    r = server.post(f"/v1/members/{m['id']}/erase", json={})
    assert r.status_code == 200, r.text
    job(server, "outbox_deliver", utc_now() + datetime.timedelta(days=1, hours=2))
    settle(server)
    got = messages(server, m["id"], c["id"])[0]
    assert got["status"] == "skipped" and got["subject"] is None
    cleanup(server, c)


def test_messages_carry_the_content_each_member_may_see(server):
    dom = domain()
    lyon, paris = member(server, dom, address={"city": "Lyon"}), member(server, dom, address={"city": "Paris"})
    start = iso(utc_now() - datetime.timedelta(days=1))
    made = []
    for name, segment in ((unique("tip-"), None), (unique("lyon-"), f'city = "Lyon" and email_domain = "{dom}"')):
        r = server.post("/v1/content", json={"name": name, "title": name.upper(), "body": "b", "category": "tip",
                                             "segment": segment, "starts_at": start})
        assert r.status_code == 201, r.text
        made.append(r.json())
    tpl = template(server, subject="News", text="{{#each content as c}}[{{c.title}}]{{/each}}")
    c = campaign(server, dom, template=tpl)
    run_and_deliver(server)
    everyone, targeted = (f"[{m['name'].upper()}]" for m in made)
    assert everyone in messages(server, lyon["id"], c["id"])[0]["text"]
    assert targeted in messages(server, lyon["id"], c["id"])[0]["text"]
    assert everyone in messages(server, paris["id"], c["id"])[0]["text"]
    assert targeted not in messages(server, paris["id"], c["id"])[0]["text"]
    for item in made:
        server.delete(f"/v1/content/{item['id']}")
    cleanup(server, c)


def test_a_tier_change_is_an_occasion(server):
    dom = domain()
    m = member(server, dom)
    r = server.post("/v1/tiers", json={"name": unique("Tier"), "rank": 20, "metric": "spend", "threshold": 5000})
    assert r.status_code == 201, r.text
    tier = r.json()
    tpl = template(server, subject="Welcome to {{tier.to}}", text="You moved up.")
    c = campaign(server, dom, template=tpl, trigger_kind="tier_changed")
    try:
        buy(server, m["id"], 2000)
        run_and_deliver(server)
        assert messages(server, m["id"], c["id"]) == []
        buy(server, m["id"], 4000)  # 60.00 in all: the tier
        run_and_deliver(server)
        run_and_deliver(server, utc_now() + datetime.timedelta(minutes=5))
        got = messages(server, m["id"], c["id"])
        assert len(got) == 1 and got[0]["subject"] == f"Welcome to {tier['name']}", got
    finally:
        server.delete(f"/v1/tiers/{tier['id']}")
        cleanup(server, c)


def test_a_resolved_ticket_is_an_occasion(server):
    dom = domain()
    m = member(server, dom)
    tpl = template(server, subject="Was ticket {{ticket.id}} solved for good?", text="Tell us.")
    c = campaign(server, dom, template=tpl, trigger_kind="ticket_resolved", trigger_days=2)
    r = server.post("/v1/tickets", json={"member_id": m["id"], "subject": "Broken lid", "body": "b",
                                         "category": "complaint"})
    assert r.status_code == 201, r.text
    ticket = r.json()
    run_and_deliver(server)
    assert messages(server, m["id"], c["id"]) == []  # not resolved yet
    assert server.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}).status_code == 200
    run_and_deliver(server, utc_now() + datetime.timedelta(days=1))
    got = messages(server, m["id"], c["id"])
    assert len(got) == 1 and got[0]["status"] == "queued"  # due two days after
    run_and_deliver(server, utc_now() + datetime.timedelta(days=3))
    run_and_deliver(server, utc_now() + datetime.timedelta(days=3))
    got = messages(server, m["id"], c["id"])
    assert len(got) == 1 and got[0]["status"] == "sent"
    assert got[0]["subject"] == f"Was ticket {ticket['id']} solved for good?"
    cleanup(server, c)
