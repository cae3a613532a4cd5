// Security of the pages: the CSP header, the session cookie's flags, CSRF
// refused without the token, and the login's rate limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, pageFetch, STAFF, PASSWORD } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('every page carries a CSP without inline script, and no framing', async () => {
  for (const path of ['/', '/portal', '/portal/signin?token=x', '/assets/dashboard.js', '/v1/auth/me']) {
    const r = await fetch(BASE + path);
    const csp = r.headers.get('content-security-policy') || '';
    assert.match(csp, /script-src 'self'(;|$)/, `${path}: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
    assert.match(csp, /frame-ancestors 'none'/, path);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer', path);
  }
});

test('the staff session cookie is HttpOnly and SameSite=Strict, unreadable by scripts', async () => {
  const page = await newPage(browser);
  await signIn(page, 'agent');
  const cookies = await page.context().cookies();
  const session = cookies.find(c => c.name === 'patron_session');
  assert.ok(session, 'a session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie.includes('patron_session')), false);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a change without the CSRF token is refused and changes nothing', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin');
  const before = await pageFetch(page, 'GET', '/v1/tasks?limit=200');
  assert.equal(before.status, 200);
  const count = before.json.data.length;
  const refused = await pageFetch(page, 'POST', '/v1/tasks', { body: { title: 'csrf probe' } });
  assert.equal(refused.status, 403);
  assert.equal(refused.json.error.code, 'csrf_token_invalid');
  const wrong = await pageFetch(page, 'POST', '/v1/tasks', { body: { title: 'csrf probe' }, csrf: 'x'.repeat(43) });
  assert.equal(wrong.status, 403);
  const after = await pageFetch(page, 'GET', '/v1/tasks?limit=200');
  assert.equal(after.json.data.length, count, 'no task was created');
  await page.context().close();
});

test('the staff login is rate-limited after repeated failures', async () => {
  const email = STAFF('analyst');
  let last;
  for (let i = 0; i < 6; i++)
    last = await fetch(`${BASE}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password: 'wrong-password-' + i }) });
  assert.equal(last.status, 429);
  assert.equal((await last.json()).error.code, 'too_many_attempts');
  // The right password is refused too while the limit lasts: guessing cannot go on.
  const right = await fetch(`${BASE}/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD }) });
  assert.equal(right.status, 429);
});
