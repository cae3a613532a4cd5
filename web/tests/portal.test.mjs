// The member portal's flow on a phone: a member signs in with the emailed
// link, sees their points with the reasons, redeems a reward and gets a
// coupon; and what a member must not be able to do (reuse a link, read
// another member's data, change things without the CSRF token).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, shot, pageFetch } from './lib.mjs';
import { PHONE, staffSession, findMembers, requestLink, useLink } from './portal_helpers.mjs';

let browser, staff, member, other, reward, link, page, otherTicket;

const digits = s => Number(String(s).replace(/[^\d]/g, ''));

before(async () => {
  browser = await launch();
  staff = await staffSession(browser);
  const rewards = (await pageFetch(staff.page, 'GET', '/v1/rewards')).json.data
    .filter(r => r.active && r.cost_points > 0 && !r.min_tier && (r.stock === null || r.stock > 0))
    .sort((a, b) => a.cost_points - b.cost_points);
  reward = rewards[0];
  assert.ok(reward, 'a reward members can redeem');
  [member, other] = await findMembers(staff, 2, reward.cost_points + 1);
  // A ticket of the other member, made by staff: the member must not reach it.
  const t = await pageFetch(staff.page, 'POST', '/v1/tickets', { csrf: staff.csrf,
    body: { member_id: other.id, subject: `portal probe ${Date.now()}`, body: 'not yours', category: 'question' } });
  assert.equal(t.status, 201, JSON.stringify(t.json));
  otherTicket = t.json.id;
});
after(async () => { await browser.close(); });

test('the member signs in to the portal, sees the points with the reason, redeems a reward and gets a coupon', async () => {
  page = await newPage(browser, { viewport: PHONE });
  link = await requestLink(page, member.email);
  await shot(page, 'portal-01-link-requested');

  // A mail scanner opening the link must not use it up: the page only shows a button.
  const scanner = await newPage(browser);
  await scanner.goto(link);
  await scanner.getByRole('button', { name: 'Sign in' }).waitFor();
  await shot(scanner, 'portal-02-link-opened');
  assert.equal((await scanner.context().cookies()).some(c => c.name === 'patron_member'), false);
  assert.deepEqual(scanner.problems, []);
  await scanner.context().close();

  await useLink(page, link);
  assert.equal(new URL(page.url()).search, '', 'the token is gone from the address bar');
  assert.equal(new URL(page.url()).pathname, '/portal');
  const points = (await pageFetch(staff.page, 'GET', `/v1/members/${member.id}/points`)).json.available;
  assert.equal(digits(await page.locator('#balance').textContent()), points);
  await shot(page, 'portal-03-home');

  // The member cookie: HttpOnly and SameSite=Strict, out of the scripts' reach.
  const cookie = (await page.context().cookies()).find(c => c.name === 'patron_member');
  assert.ok(cookie, 'a member session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie.includes('patron_member')), false);

  // A reload keeps the session (GET /v1/portal/me with the cookie).
  await page.reload();
  await page.getByRole('navigation', { name: 'Portal' }).waitFor();
  assert.equal(digits(await page.locator('#balance').textContent()), points);

  const nav = page.getByRole('navigation', { name: 'Portal' });
  await nav.getByRole('link', { name: 'Statement' }).click();
  await page.getByRole('heading', { level: 1, name: 'Statement' }).waitFor();
  const purchase = page.getByRole('cell', { name: /^Purchase \S+/ }).first();
  await purchase.waitFor();
  assert.match(await purchase.textContent(), /^Purchase /);
  assert.match(await page.getByRole('cell', { name: /^\+\d/ }).first().textContent(), /^\+[\d,]+$/);
  await shot(page, 'portal-04-statement');

  await nav.getByRole('link', { name: 'Rewards' }).click();
  await page.getByRole('heading', { level: 1, name: 'Rewards' }).waitFor();
  await shot(page, 'portal-05-rewards');
  await page.getByRole('button', { name: `Redeem ${reward.name}` }).click();
  await page.getByText(`Redeem “${reward.name}” for`).waitFor();
  await shot(page, 'portal-06-confirm');
  await page.getByRole('button', { name: /^Yes, redeem for/ }).click();
  const codeEl = page.locator('.coupon-code');
  await codeEl.waitFor();
  const code = (await codeEl.textContent()).trim();
  assert.match(code, /^[A-Z0-9-]{6,}$/);
  assert.equal(digits(await page.locator('#rewards-balance').textContent()), points - reward.cost_points);
  await shot(page, 'portal-07-redeemed');

  const after = (await pageFetch(staff.page, 'GET', `/v1/members/${member.id}/points`)).json.available;
  assert.equal(after, points - reward.cost_points, 'the cost left the balance');
  const coupons = (await pageFetch(staff.page, 'GET', `/v1/members/${member.id}/coupons`)).json.data;
  assert.ok(coupons.some(c => c.code === code && c.reward.id === reward.id), 'the coupon is the member\'s');

  await nav.getByRole('link', { name: 'Coupons' }).click();
  await page.getByRole('cell', { name: code }).waitFor();
  await shot(page, 'portal-08-coupons');
  await nav.getByRole('link', { name: 'Home' }).click();
  await page.locator('#balance').waitFor();
  assert.equal(digits(await page.locator('#balance').textContent()), after);
  assert.deepEqual(page.problems, []);
});

test('a used sign-in link does not work a second time', async () => {
  const again = await newPage(browser, { viewport: PHONE });
  await again.goto(link);
  await again.getByRole('button', { name: 'Sign in' }).click();
  await again.getByText('This sign-in link has already been used or has expired').waitFor();
  await again.getByLabel('Email').waitFor();
  assert.equal((await again.context().cookies()).some(c => c.name === 'patron_member'), false);
  assert.equal(new URL(again.url()).search, '', 'the dead token is gone from the address bar');
  await shot(again, 'portal-09-link-used');
  assert.deepEqual(again.problems, []);
  await again.context().close();
});

test('a member cannot see another member\'s data by changing an id', async () => {
  assert.equal((await pageFetch(page, 'GET', `/v1/members/${other.id}`)).status, 403);
  assert.equal((await pageFetch(page, 'GET', `/v1/members/${other.id}/points`)).status, 403);
  assert.equal((await pageFetch(page, 'GET', `/v1/members/${member.id}/points`)).status, 403, 'not even their own staff view');
  assert.equal((await pageFetch(page, 'GET', `/v1/portal/tickets/${otherTicket}`)).status, 404);
  await page.goto(`${BASE}/portal#/help/${otherTicket}`);
  await page.getByRole('alert').waitFor();
  assert.equal(await page.getByText('not yours').count(), 0);
  await shot(page, 'portal-10-other-ticket');
});

test('redeeming without the CSRF token is refused and leaves the balance alone', async () => {
  const before = (await pageFetch(page, 'GET', '/v1/portal/me')).json;
  const refused = await pageFetch(page, 'POST', `/v1/portal/rewards/${reward.id}/redeem`,
    { headers: { 'Idempotency-Key': `csrf-probe-${Date.now()}` } });
  assert.equal(refused.status, 403);
  const wrong = await pageFetch(page, 'POST', `/v1/portal/rewards/${reward.id}/redeem`,
    { csrf: 'x'.repeat(43), headers: { 'Idempotency-Key': `csrf-probe2-${Date.now()}` } });
  assert.equal(wrong.status, 403);
  const after = (await pageFetch(page, 'GET', '/v1/portal/me')).json;
  assert.equal(after.points.balance, before.points.balance);
  const api = (await pageFetch(staff.page, 'GET', `/v1/members/${member.id}/points`)).json.available;
  assert.equal(api, before.points.balance);
});

test('live chat: the agent\'s reply appears without reloading, and signing out ends the session', async () => {
  await page.goto(`${BASE}/portal#/help`);
  await page.getByRole('heading', { level: 1, name: 'Help' }).waitFor();
  const topic = `Chat ${Date.now()}`;
  await page.getByLabel('Chat topic').fill(topic);
  await page.getByLabel('Your first message').fill('Hello, where are my points?');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByRole('heading', { level: 1, name: topic }).waitFor();
  const id = Number(/#\/help\/(\d+)/.exec(page.url())[1]);
  const reply = `Agent here ${Date.now()}`;
  const posted = await pageFetch(staff.page, 'POST', `/v1/tickets/${id}/messages`, { csrf: staff.csrf, body: { body: reply } });
  assert.equal(posted.status, 201, JSON.stringify(posted.json));
  await page.getByRole('log').getByText(reply).waitFor({ timeout: 10000 });
  // The agent's answer opened the chat: the status the member sees follows without a reload.
  await page.locator('span.badge', { hasText: /^open$/ }).waitFor({ timeout: 10000 });
  await page.getByLabel('Your message').fill('Thanks!');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('log').getByText('Thanks!').waitFor();
  await shot(page, 'portal-11-chat');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to your rewards' }).waitFor();
  assert.equal((await pageFetch(page, 'GET', '/v1/portal/me')).status, 401);
  assert.deepEqual(page.problems, []);
  await page.context().close();
  await staff.page.context().close();
});
