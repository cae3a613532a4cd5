"""Atom feeds (RFC 4287): the public news feed and a member's private feed behind a signed
link. Checks the required elements, RFC 3339 dates and URI ids, escaping, that targeted
content reaches only the members its segment matches, that expired content is gone, that the
member's feed carries their offers and the messages sent to them, and that a tampered token or
a closed member is a 404. On both engines."""

import datetime
import re
import xml.etree.ElementTree as ET

import requests

from conftest import assert_error, run_patron, unique

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$")


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def publish(server, **fields):
    body = {"name": unique("c-"), "title": "Autumn planting", "body": "Bulbs go in now.", "category": "news",
            "starts_at": iso(now_utc() - datetime.timedelta(days=1))}
    body.update(fields)
    r = server.post("/v1/content", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def parse_feed(response):
    """Parses an Atom answer and checks what RFC 4287 requires; returns {entry id: entry element}."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == ATOM + "feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(ATOM + name)) == 1, name
    assert URI.match(root.find(ATOM + "id").text)
    assert RFC3339.match(root.find(ATOM + "updated").text)
    entries = root.findall(ATOM + "entry")
    author = root.find(ATOM + "author")
    assert (author is not None and author.find(ATOM + "name").text) or all(
        e.find(ATOM + "author") is not None for e in entries)
    self_links = [l for l in root.findall(ATOM + "link") if l.get("rel") == "self"]
    assert len(self_links) == 1 and self_links[0].get("href").startswith("http")
    out = {}
    for e in entries:
        for name in ("id", "title", "updated"):
            assert len(e.findall(ATOM + name)) == 1, (name, ET.tostring(e))
        assert URI.match(e.find(ATOM + "id").text)
        assert RFC3339.match(e.find(ATOM + "updated").text)
        published = e.find(ATOM + "published")
        assert published is None or RFC3339.match(published.text)
        out[e.find(ATOM + "id").text] = e
    updated = [datetime.datetime.fromisoformat(e.find(ATOM + "updated").text.replace("Z", "+00:00"))
               for e in entries]
    assert updated == sorted(updated, reverse=True), "entries are newest first"
    return out


def news(server):
    return parse_feed(requests.get(server.base + "/feeds/news", timeout=30))


def feed_link(server, member_id, key="agent"):
    r = server.get(f"/v1/members/{member_id}/feed", key=key)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"url", "token"} and body["url"].endswith("/feeds/members/" + body["token"])
    return body


def member_feed(server, member_id):
    token = feed_link(server, member_id)["token"]
    return parse_feed(requests.get(f"{server.base}/feeds/members/{token}", timeout=30))


def test_news_is_public_content_newest_first_and_escaped(server):
    older = publish(server, starts_at=iso(now_utc() - datetime.timedelta(days=3)), link="https://example.com/a?b=1&c=2")
    tricky = publish(server, title='<b>&"bold"</b>', body="1 < 2 && 3 > 2", category="tip")
    entries = news(server)
    assert f"urn:patron:content:{older['id']}" in entries
    e = entries[f"urn:patron:content:{tricky['id']}"]
    assert e.find(ATOM + "title").text == '<b>&"bold"</b>'
    assert e.find(ATOM + "content").text == "1 < 2 && 3 > 2" and e.find(ATOM + "content").get("type") == "text"
    assert e.find(ATOM + "category").get("term") == "tip"
    link = entries[f"urn:patron:content:{older['id']}"].find(ATOM + "link")
    assert link.get("href") == "https://example.com/a?b=1&c=2"
    ids = list(entries)
    assert ids.index(f"urn:patron:content:{tricky['id']}") < ids.index(f"urn:patron:content:{older['id']}")
    # The feed's id is stable, and not the signing key.
    r = requests.get(server.base + "/feeds/news", timeout=30)
    feed_id = ET.fromstring(r.content).find(ATOM + "id").text
    assert feed_id.startswith("urn:patron:news:")
    key = server.db.scalar("SELECT value FROM settings WHERE key = 'link_signing_key'")
    assert key not in r.text
    assert ET.fromstring(requests.get(server.base + "/feeds/news", timeout=30).content).find(
        ATOM + "id").text == feed_id


def test_expired_future_inactive_and_targeted_content_stay_out_of_news(server):
    expired = publish(server, starts_at=iso(now_utc() - datetime.timedelta(days=10)),
                      ends_at=iso(now_utc() - datetime.timedelta(days=1)))
    future = publish(server, starts_at=iso(now_utc() + datetime.timedelta(days=5)))
    inactive = publish(server, active=False)
    targeted = publish(server, segment=f'email_domain = "{unique("d")}.example"')
    entries = news(server)
    for c in (expired, future, inactive, targeted):
        assert f"urn:patron:content:{c['id']}" not in entries


def test_member_feed_shows_targeted_content_only_to_its_segment(server):
    dom = unique("d") + ".example"
    zed = server.create_member(email=f"zed@{dom}")
    other = server.create_member(email=unique("y") + "@example.com")
    targeted = publish(server, title="For you", segment=f'email_domain = "{dom}"')
    public = publish(server, title="For all")
    expired = publish(server, segment=f'email_domain = "{dom}"', starts_at=iso(now_utc() - datetime.timedelta(days=9)),
                      ends_at=iso(now_utc() - datetime.timedelta(hours=1)))
    mine = member_feed(server, zed["id"])
    theirs = member_feed(server, other["id"])
    assert f"urn:patron:content:{targeted['id']}" in mine
    assert f"urn:patron:content:{targeted['id']}" not in theirs
    assert f"urn:patron:content:{public['id']}" in mine and f"urn:patron:content:{public['id']}" in theirs
    assert f"urn:patron:content:{expired['id']}" not in mine


def test_member_feed_has_their_offers_and_sent_messages(server):
    dom = unique("d") + ".example"
    m = server.create_member(email=f"fern@{dom}", consent={"email": True})
    reward = server.post("/v1/rewards", json={"name": unique("r-"), "kind": "gift", "cost_points": 10})
    assert reward.status_code == 201, reward.text
    offer = server.post("/v1/offers", json={
        "name": unique("o-"), "title": "Double bulbs", "segment": f'email_domain = "{dom}"',
        "starts_at": iso(now_utc() - datetime.timedelta(days=1)), "ends_at": iso(now_utc() + datetime.timedelta(days=9)),
        "reward_id": reward.json()["id"]})
    assert offer.status_code == 201, offer.text
    tpl = server.post("/v1/templates", json={"name": unique("tpl-"), "subject": "Hello <there>", "text": "A note."})
    assert tpl.status_code == 201, tpl.text
    camp = server.post("/v1/campaigns", json={"name": unique("camp-"), "channel": "feed",
                                              "segment": f'email_domain = "{dom}"', "template": tpl.json()["name"]})
    assert camp.status_code == 201, camp.text
    run_patron("jobs", "run", "campaigns_run", "--db", server.db.url)
    run_patron("jobs", "run", "outbox_deliver", "--db", server.db.url)
    server.patch(f"/v1/campaigns/{camp.json()['id']}", json={"active": False})
    sent = server.db.rows(f"SELECT id FROM messages WHERE member_id = {m['id']} AND status = 'sent'")
    assert len(sent) == 1, sent
    entries = member_feed(server, m["id"])
    o = entries[f"urn:patron:offer:{offer.json()['id']}"]
    assert o.find(ATOM + "title").text == "Double bulbs"
    msg = entries[f"urn:patron:message:{sent[0][0]}"]
    assert msg.find(ATOM + "title").text == "Hello <there>" and msg.find(ATOM + "content").text == "A note."
    # Not in anyone else's feed.
    assert f"urn:patron:message:{sent[0][0]}" not in member_feed(server, server.create_member()["id"])


def test_bad_tokens_and_closed_members_are_404(server):
    m = server.create_member()
    token = feed_link(server, m["id"])["token"]
    other = server.create_member()
    forged = token.replace(f"f{m['id']}.", f"f{other['id']}.", 1)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (forged, tampered, "u" + token[1:], "nonsense", token + "x"):
        assert_error(requests.get(f"{server.base}/feeds/members/{bad}", timeout=30), 404, "not_found")
    assert requests.get(f"{server.base}/feeds/members/{token}", timeout=30).status_code == 200
    assert server.post(f"/v1/members/{m['id']}/erase").status_code == 200
    assert_error(requests.get(f"{server.base}/feeds/members/{token}", timeout=30), 404, "not_found")
    assert_error(server.get("/v1/members/99999999/feed"), 404, "member_not_found")
    assert_error(server.get(f"/v1/members/{m['id']}/feed", key=None), 401, "unauthorized")
