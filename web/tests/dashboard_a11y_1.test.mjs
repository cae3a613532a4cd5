// Accessibility (axe-core) of the overview, members and service pages for an
// admin, on a desktop and at 375 px wide; and that their content is there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, shot, assertAccessible, pageFetch } from './lib.mjs';

let browser;
const REASON = `a11y goodwill ${Date.now()}`;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

// Opens a hash route and waits for its h1 and for every card to finish loading.
async function open(page, hash, h1) {
  await page.goto(`${BASE}/${hash}`);
  await page.getByRole('heading', { level: 1, name: h1 }).waitFor();
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'));
}

async function firstMember(page) {
  const r = await pageFetch(page, 'GET', '/v1/members?status=active&limit=1');
  assert.equal(r.status, 200);
  return r.json.data[0];
}

test('the overview, members and service pages are accessible for an admin', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin');

  await open(page, '#/overview', 'Overview');
  for (const name of ['Members', 'Active in 90 days', 'Repeat-purchase rate', 'Points liability', 'Open tickets', 'SLA breaches'])
    await page.getByRole('region', { name }).getByText(/\d/).first().waitFor();
  assert.equal(await page.getByRole('alert').count(), 0, 'no card failed');
  await page.getByRole('img', { name: /^Retention curve over \d+ months/ }).waitFor();
  await page.getByRole('img', { name: /^Customers by RFM segment/ }).waitFor();
  await assertAccessible(page, 'overview');
  await shot(page, 'a11y1-overview');

  await open(page, '#/members', 'Members');
  const m = await firstMember(page);
  await page.getByLabel('Search members').fill(m.last_name);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('table', { name: `Members matching “${m.last_name}”` }).waitFor();
  assert.match(page.url(), new RegExp(`q=${encodeURIComponent(m.last_name)}`));
  await assertAccessible(page, 'members list');
  await shot(page, 'a11y1-members');

  await open(page, `#/members/${m.id}`, `${m.first_name} ${m.last_name}`);
  await page.getByRole('region', { name: 'Points' }).getByText('Available', { exact: true }).waitFor();
  await page.getByRole('progressbar').first().waitFor();
  await assertAccessible(page, 'member detail');
  // An admin sees every action; adjusting points shows the new balance.
  for (const a of ['Adjust points', 'Issue a reward', 'Open a ticket', 'Create a follow-up task'])
    await page.getByText(a, { exact: true }).first().waitFor();
  const before = (await pageFetch(page, 'GET', `/v1/members/${m.id}/points`)).json.available;
  await page.locator('summary', { hasText: 'Adjust points' }).click();
  await page.getByLabel('Points to add (negative to take away)').fill('7');
  await page.getByLabel('Reason for the adjustment').fill(REASON);
  await page.getByRole('button', { name: 'Adjust points' }).click();
  await page.getByText(/Adjusted by 7 points/).waitFor();
  const afterPts = (await pageFetch(page, 'GET', `/v1/members/${m.id}/points`)).json.available;
  assert.equal(afterPts, before + 7);
  await page.getByRole('table', { name: 'Points statement, newest first' }).getByText(REASON).waitFor();
  await assertAccessible(page, 'member detail with an action open');
  await shot(page, 'a11y1-member');

  await open(page, '#/service', 'Service');
  const firstTicket = page.getByRole('table', { name: 'Tickets, oldest first' }).getByRole('link').first();
  await firstTicket.waitFor();
  await assertAccessible(page, 'service queue');
  await shot(page, 'a11y1-service');
  const tickets = await pageFetch(page, 'GET', '/v1/tickets?limit=1');
  const t = tickets.json.data[0];
  await open(page, `#/service/ticket/${t.id}`, `Ticket #${t.id}: ${t.subject}`);
  await page.getByRole('region', { name: 'Conversation' }).waitFor();
  await assertAccessible(page, 'ticket view');
  await shot(page, 'a11y1-ticket');

  await open(page, '#/service/approvals', 'Approvals');
  await assertAccessible(page, 'approvals');
  await shot(page, 'a11y1-approvals');

  await open(page, '#/service/kb', 'Knowledge base');
  await page.getByRole('region', { name: 'Your training' }).waitFor();
  await page.getByLabel('Search articles').fill('points');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const hit = page.getByRole('region', { name: 'Articles matching “points”' }).getByRole('link').first();
  await hit.waitFor();
  await assertAccessible(page, 'knowledge base');
  const title = await hit.textContent();
  await hit.click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
  await page.getByRole('button', { name: 'I have read this article' }).click();
  await page.getByText(/Acknowledged version \d+/).waitFor();
  await assertAccessible(page, 'knowledge base article');
  await shot(page, 'a11y1-kb-article');

  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('the overview and a member read at 375 px wide', async () => {
  const page = await newPage(browser, { viewport: { width: 375, height: 800 } });
  await signIn(page, 'admin');
  await open(page, '#/overview', 'Overview');
  await page.getByRole('img', { name: /^Retention curve/ }).waitFor();
  await assertAccessible(page, 'overview at 375 px');
  await noSidewaysScroll(page);
  await shot(page, 'a11y1-overview-375');
  const m = await firstMember(page);
  await open(page, `#/members/${m.id}`, `${m.first_name} ${m.last_name}`);
  await page.getByRole('region', { name: 'Timeline' }).waitFor();
  await assertAccessible(page, 'member detail at 375 px');
  await noSidewaysScroll(page);
  await shot(page, 'a11y1-member-375');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

// Fails unless the page fits 375 px within a few seconds (charts resize once attached).
async function noSidewaysScroll(page) {
  try {
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 376, null, { timeout: 5000 });
  } catch {
    assert.fail(`the page scrolls sideways: ${await page.evaluate(() => document.documentElement.scrollWidth)} px wide`);
  }
}
