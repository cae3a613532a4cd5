// Accessibility (axe-core: no serious or critical violation) of the Program,
// Campaigns, Analytics and Settings pages as an admin, and Analytics on a
// 375 px wide phone; each page shows what it is about.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, shot, assertAccessible, pageFetch } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const PROGRAM = [['rules', 'Earning rules', 'table'], ['tiers', 'Tiers', 'table'], ['rewards', 'Rewards', 'table'],
  ['stamp-cards', 'Stamp cards', 'table'], ['offers', 'Offers', 'table'], ['referrals', 'Referrals', 'form'],
  ['segments', 'Segments', 'table']];
const SETTINGS = [['program', 'Program settings'], ['email', 'Email delivery'], ['staff', 'Staff and roles'],
  ['api-keys', 'API keys'], ['webhooks', 'Webhooks'], ['audit', 'Audit log']];

test('program, campaigns, analytics and settings pages pass axe as an admin', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin');
  for (const [id, title, what] of PROGRAM) {
    await page.goto(`${BASE}/#/program/${id}`);
    await page.getByRole('heading', { level: 2, name: title }).waitFor();
    if (what === 'table') await page.getByRole('table', { name: new RegExp(`^${title}`) }).waitFor();
    else await page.getByRole('button', { name: 'Save referral settings' }).waitFor();
    const current = page.getByRole('navigation', { name: 'Program' }).locator('[aria-current="page"]');
    assert.equal(await current.textContent(), title);
    await page.waitForFunction(() => !document.querySelector('.expr .hint')?.textContent.startsWith('Checking'));
    await assertAccessible(page, `program/${id}`);
  }

  await page.goto(`${BASE}/#/campaigns`);
  const list = page.getByRole('table', { name: 'Campaigns' });
  await list.waitFor();
  await page.getByRole('heading', { level: 2, name: 'New campaign' }).waitFor();
  await assertAccessible(page, 'campaigns');
  const campaigns = await pageFetch(page, 'GET', '/v1/campaigns');
  const feed = campaigns.json.data.find(c => c.channel === 'feed') || campaigns.json.data[0];
  await list.getByRole('link', { name: feed.name }).click();
  await page.getByRole('heading', { level: 1, name: feed.name }).waitFor();
  const report = page.getByRole('table', { name: /Recipients against the control group/ });
  await report.waitFor();
  const api = await pageFetch(page, 'GET', `/v1/campaigns/${feed.id}/report`);
  const sent = await page.locator('.kpi').filter({ hasText: 'Sent' }).locator('.value').textContent();
  assert.equal(Number(sent.replace(/,/g, '')), api.json.sent, 'the report shows the API\'s sent count');
  await page.getByLabel('Member id').fill('1');
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.getByRole('heading', { name: /^Subject: / }).waitFor();
  await assertAccessible(page, 'campaign report');
  await shot(page, 'campaign-report');

  await page.goto(`${BASE}/#/analytics`);
  await page.getByRole('table', { name: /Cohort retention/ }).waitFor();
  await page.getByRole('table', { name: /RFM grid/ }).waitFor();
  await page.locator('#an-checks canvas').first().waitFor({ timeout: 30000 });
  await assertAccessible(page, 'analytics');

  for (const [id, title] of SETTINGS) {
    await page.goto(`${BASE}/#/settings/${id}`);
    await page.getByRole('heading', { level: 2, name: title }).waitFor();
    if (id === 'audit') {
      const log = page.getByRole('table', { name: 'Audit log, newest first' });
      await log.locator('tbody tr').first().waitFor();
      await page.getByLabel('Action').fill('session.open');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.waitForFunction(() => [...document.querySelectorAll('tbody tr td:nth-child(3)')].every(td => td.textContent === 'session.open')
        && document.querySelectorAll('tbody tr').length > 0);
    }
    await assertAccessible(page, `settings/${id}`);
  }
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('analytics is readable on a 375 px phone', async () => {
  const page = await newPage(browser, { viewport: { width: 375, height: 800 } });
  await signIn(page, 'admin');
  await page.goto(`${BASE}/#/analytics`);
  await page.getByRole('table', { name: /Cohort retention/ }).waitFor();
  await page.locator('#an-checks canvas').first().waitFor({ timeout: 30000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page does not scroll sideways (${overflow} px)`);
  await assertAccessible(page, 'analytics at 375 px');
  await shot(page, 'analytics-375');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
