// Program: the segment editor checks an expression as it is typed (the error
// with its column and a suggestion, then the count of members that match, the
// same as the API's), a saved segment is listed with its count; a reward made
// in the rewards editor is listed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, shot, pageFetch } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const unique = prefix => `${prefix} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

test('a manager writes a segment: errors as they type, then the count, then the saved segment', async () => {
  const page = await newPage(browser);
  await signIn(page, 'manager');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Program' }).click();
  const sub = page.getByRole('navigation', { name: 'Program' });
  await sub.getByRole('link', { name: 'Segments' }).click();
  await page.getByRole('heading', { level: 2, name: 'Segments' }).waitFor();
  await page.getByRole('heading', { name: 'New segment' }).waitFor();

  const name = unique('Gold by email');
  await page.getByLabel('Name', { exact: true }).fill(name);
  const expr = page.getByRole('textbox', { name: 'Expression' });
  await expr.fill("tierr = 'Gold'");
  const hint = page.locator('.expr .hint').first();
  await page.waitForFunction(() => /column/.test(document.querySelector('.expr .hint').textContent));
  const error = await hint.textContent();
  assert.match(error, /line 1, column 1/);
  assert.match(error, /did you mean 'tier'\?/);
  assert.equal(await expr.getAttribute('aria-invalid'), 'true');
  assert.equal(await hint.getAttribute('aria-live'), 'polite');
  assert.equal(await page.getByRole('table', { name: /^Segments/ }).locator(`text=${name}`).count(), 0, 'nothing was saved');

  const good = "tier = 'Gold' and consent_email";
  await expr.fill(good);
  await page.waitForFunction(() => /members? match right now/.test(document.querySelector('.expr .hint').textContent));
  assert.equal(await expr.getAttribute('aria-invalid'), 'false');
  const shown = Number(/valid — ([\d,]+) members? match/.exec(await hint.textContent())[1].replace(/,/g, ''));
  const me = await pageFetch(page, 'GET', '/v1/auth/me');
  const api = await pageFetch(page, 'POST', '/v1/segments/preview?limit=1', { body: { expression: good }, csrf: me.json.csrf_token });
  assert.equal(api.status, 200);
  assert.equal(shown, api.json.count, 'the editor shows the API\'s count');
  await shot(page, 'program-segment-editor');

  await page.getByRole('button', { name: 'Add segment' }).click();
  await page.getByText(`Added “${name}”.`).waitFor();
  const row = page.getByRole('table', { name: /^Segments/ }).getByRole('row').filter({ hasText: name });
  await row.waitFor();
  await page.waitForFunction(n => [...document.querySelectorAll('tr')].some(tr =>
    tr.textContent.includes(n) && /^[\d,]+$/.test(tr.querySelector('.seg-count').textContent)), name);
  const count = Number((await row.locator('.seg-count').textContent()).replace(/,/g, ''));
  assert.equal(count, api.json.count, 'the saved segment is listed with its count');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('an admin adds a reward in the rewards editor and sees it listed', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin');
  await page.goto(`${BASE}/#/program/rewards`);
  await page.getByRole('heading', { name: 'New reward' }).waitFor();
  const name = unique('Free tote bag');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Kind').selectOption('gift');
  await page.getByLabel('Cost in points').fill('750');
  await page.getByLabel('Coupon valid for (days)').fill('30');
  await page.getByRole('button', { name: 'Add reward' }).click();
  await page.getByText(`Added “${name}”.`).waitFor();
  const row = page.getByRole('table', { name: /^Rewards/ }).getByRole('row').filter({ hasText: name });
  await row.waitFor();
  assert.match(await row.textContent(), /750 points/);
  assert.match(await row.textContent(), /gift/);
  const list = await pageFetch(page, 'GET', '/v1/rewards');
  assert.ok(list.json.data.some(r => r.name === name && r.cost_points === 750 && r.kind === 'gift'), 'the API has it');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
