// Analytics: an analyst (created for this test by an admin) opens the cohort
// heatmap; the model-check charts, the RFM grid and the CLV histogram show
// numbers; the analyst sees no Program or Settings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, shot, pageFetch, PASSWORD } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

// An admin's page creates a staff account with the role; returns its email.
async function createStaff(role) {
  const page = await newPage(browser);
  await signIn(page, 'admin');
  const me = await pageFetch(page, 'GET', '/v1/auth/me');
  const email = `${role}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@dash2.example`;
  const r = await pageFetch(page, 'POST', '/v1/staff',
    { body: { email, name: `Test ${role}`, role, password: PASSWORD }, csrf: me.json.csrf_token });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  await page.context().close();
  return email;
}

test('an analyst opens the cohort heatmap, the model checks and the RFM grid', async () => {
  const email = await createStaff('analyst');
  const page = await newPage(browser);
  await page.goto(`${BASE}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.waitFor();
  assert.equal(await nav.getByRole('link', { name: 'Program' }).count(), 0, 'no Program for an analyst');
  assert.equal(await nav.getByRole('link', { name: 'Settings' }).count(), 0, 'no Settings for an analyst');
  assert.equal(await nav.getByRole('link', { name: 'Campaigns' }).count(), 0, 'no Campaigns for an analyst');

  await nav.getByRole('link', { name: 'Analytics' }).click();
  await page.getByRole('heading', { level: 1, name: 'Analytics' }).waitFor();
  await page.getByRole('heading', { level: 2, name: 'Cohort retention' }).waitFor();
  const heatmap = page.getByRole('table', { name: /Cohort retention/ });
  await heatmap.waitFor();
  const headers = await heatmap.locator('thead th').allTextContents();
  assert.deepEqual(headers.slice(0, 3), ['Cohort', 'Customers', 'Month 0']);
  const rows = heatmap.locator('tbody tr');
  assert.ok(await rows.count() >= 1, 'at least one cohort');
  for (let i = 0; i < await rows.count(); i++) {
    const row = rows.nth(i);
    assert.match(await row.locator('th').textContent(), /^\d{4}-\d{2}$/);
    const cells = await row.locator('td').allTextContents();
    assert.equal(cells[1], '100 %', `month 0 of row ${i} is everyone`);
    for (const c of cells.slice(1)) assert.match(c, /^(\d{1,3} %|)$/, 'a cell is a percentage (or a month to come)');
  }
  // A coloured cell: the colour comes from the value, set through the CSSOM.
  const bg = await rows.first().locator('td').nth(1).evaluate(td => getComputedStyle(td).backgroundColor);
  assert.notEqual(bg, 'rgba(0, 0, 0, 0)');

  // RFM grid: 5 x 5 counts that add up to the customers.
  const grid = page.getByRole('table', { name: /RFM grid/ });
  await grid.waitFor();
  const caption = await grid.locator('caption').textContent();
  const total = Number(/RFM grid: ([\d,]+) customers/.exec(caption)[1].replace(/,/g, ''));
  const counts = (await grid.locator('td .rfm-count').allTextContents()).map(t => Number(t.replace(/,/g, '')));
  assert.equal(counts.length, 25);
  assert.equal(counts.reduce((a, b) => a + b, 0), total, 'the grid holds every customer');
  assert.ok(total > 0);
  await page.getByRole('heading', { name: /^Movement from/ }).waitFor();

  // Model checks: a chart with its label and the numbers behind it.
  const checks = page.locator('#an-checks');
  const canvas = checks.getByRole('img', { name: /Mean holdout purchases per customer/ });
  await canvas.waitFor({ timeout: 30000 });
  await checks.getByText('Show the numbers').first().click();
  const table = checks.getByRole('table', { name: 'Holdout purchases by calibration frequency' });
  const freq = await table.locator('tbody th').allTextContents();
  assert.deepEqual(freq, ['0', '1', '2', '3', '4', '5', '6', '7+']);
  const actual = await table.locator('tbody tr').first().locator('td').nth(1).textContent();
  assert.match(actual, /^\d+\.\d{2}$/);

  // CLV histogram (GET /v1/analytics/clv) with its numbers.
  const clv = page.locator('#an-clv');
  await clv.getByRole('img', { name: /Histogram of member lifetime value/ }).waitFor();
  await clv.getByText('Show the numbers').click();
  const clvCounts = await clv.getByRole('table', { name: 'Members by lifetime value' }).locator('tbody td').allTextContents();
  assert.ok(clvCounts.length > 0 && clvCounts.every(t => /^[\d,]+$/.test(t)));

  // Liability over time: month-end balances, the last one what is outstanding now.
  const liab = page.locator('#an-liability');
  await liab.getByRole('img', { name: /^Liability over time/ }).waitFor();
  await liab.getByRole('img', { name: /Projected liability/ }).waitFor();
  const books = (await pageFetch(page, 'GET', '/v1/reports/liability')).json;
  await liab.getByText('Show the numbers').first().click();
  const months = liab.getByRole('table', { name: 'Liability at the end of each month' }).locator('tbody tr');
  const last = await months.last().locator('th, td').allTextContents();
  assert.equal(last[0], books.as_of.slice(0, 7));
  assert.equal(Number(last[1].replace(/,/g, '')), books.outstanding.points);
  await shot(page, 'analytics-analyst');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
