"""The embedded pages: the shells at / and /portal, their scripts and stylesheet
under /assets (gzip-encoded when the client takes it, checked by ETag), and the
security headers every answer carries."""

import gzip

import pytest
import requests

from conftest import assert_error

PAGES = ["/", "/portal", "/portal/signin"]
ASSETS = ["dashboard.js", "portal.js", "style.css"]


def fetch(server, path, **headers):
    return requests.get(server.base + path, headers=headers, timeout=30)


@pytest.mark.parametrize("path", PAGES)
def test_the_shells_load_only_our_own_script(server, path):
    r = fetch(server, path)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), r.text
    script = "/assets/dashboard.js" if path == "/" else "/assets/portal.js"
    assert f'<script type="module" src="{script}"></script>' in r.text, r.text
    assert "<style" not in r.text and "style=" not in r.text and r.text.count("<script") == 1


@pytest.mark.parametrize("name", ASSETS)
def test_assets_gzip_when_taken_and_revalidate_by_etag(server, name):
    plain = fetch(server, "/assets/" + name, **{"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers, plain.headers
    assert len(plain.content) > 0
    packed = requests.get(server.base + "/assets/" + name, headers={"Accept-Encoding": "gzip"}, timeout=30,
                          stream=True)
    raw = packed.raw.read(decode_content=False)
    assert packed.headers["Content-Encoding"] == "gzip" and packed.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content)
    refused = fetch(server, "/assets/" + name, **{"Accept-Encoding": "gzip;q=0, deflate"})
    assert "Content-Encoding" not in refused.headers and refused.content == plain.content
    etag = plain.headers["ETag"]
    assert etag.startswith('"') and etag == packed.headers["ETag"], (etag, packed.headers)
    again = fetch(server, "/assets/" + name, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"", again.headers
    other = fetch(server, "/assets/" + name, **{"If-None-Match": '"0000000000000000"'})
    assert other.status_code == 200 and other.content == plain.content
    assert plain.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/nothing.js", "/assets/index.html", "/assets/..%2fpatron"])
def test_unknown_assets_are_404(server, path):
    assert_error(fetch(server, path), 404, "not_found")


@pytest.mark.parametrize("path", ["/", "/assets/style.css", "/v1/members", "/v1/nothing", "/healthz"])
def test_every_answer_carries_the_security_headers(server, path):
    r = fetch(server, path)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp, csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
