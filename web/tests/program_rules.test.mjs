// Program, rules and stamp cards: a purchase condition is checked as it is
// typed (POST /v1/expressions/check) — a misspelt purchase field shows its
// line, column and suggestion before anything is saved, the fixed condition
// shows as valid — and the rule saved with it is listed; a stamp card's
// condition is checked the same way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, shot, assertAccessible, pageFetch } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const unique = prefix => `${prefix} ${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;

// Waits until the hint of the expression field labelled label matches re; returns its text.
async function hintMatching(page, label, re) {
  const hint = page.locator('.expr').filter({ has: page.getByRole('textbox', { name: label, exact: true }) }).locator('.hint');
  await page.waitForFunction(([el, source]) => new RegExp(source).test(el.textContent), [await hint.elementHandle(), re.source]);
  assert.equal(await hint.getAttribute('aria-live'), 'polite');
  return hint.textContent();
}

test('an admin writes a rule condition: the misspelt field is pointed at as they type, then valid, then saved', async () => {
  const page = await newPage(browser);
  await signIn(page, 'admin');
  await page.goto(`${BASE}/#/program/rules`);
  await page.getByRole('heading', { name: 'New rule' }).waitFor();

  const name = unique('Shoes over 50');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Formula').selectOption('fixed');
  await page.getByLabel('Fixed points').fill('25');
  const condition = page.getByRole('textbox', { name: 'Condition', exact: true });
  await condition.fill('amount_cents >= 5000 and any(lines, categroy = "shoes")');
  const error = await hintMatching(page, 'Condition', /column/);
  assert.match(error, /line 1, column 37/);
  assert.match(error, /unknown field 'categroy', did you mean 'category'\?/);
  assert.equal(await condition.getAttribute('aria-invalid'), 'true');
  const listed = await pageFetch(page, 'GET', '/v1/rules');
  assert.ok(!listed.json.data.some(r => r.name === name), 'nothing was saved while typing');
  await assertAccessible(page, 'rule editor with an error');

  const good = 'amount_cents >= 5000 and any(lines, category = "shoes")';
  await condition.fill(good);
  const ok = await hintMatching(page, 'Condition', /^valid/);
  assert.equal(ok, 'valid — understood as (and (>= amount_cents 5000) (any lines (= category "shoes")))');
  assert.equal(await condition.getAttribute('aria-invalid'), 'false');
  await shot(page, 'program-rule-condition');

  // Paused: the shop is shared with the other tests, whose purchases it must not change.
  await page.getByLabel('Active', { exact: true }).uncheck();
  await page.getByRole('button', { name: 'Add rule' }).click();
  await page.getByText(`Added “${name}”.`).waitFor();
  const row = page.getByRole('table', { name: /^Earning rules/ }).getByRole('row').filter({ hasText: name });
  await row.waitFor();
  assert.match(await row.textContent(), /any\(lines, category = "shoes"\)/);
  assert.match(await row.textContent(), /paused/);
  const rules = await pageFetch(page, 'GET', '/v1/rules');
  const saved = rules.json.data.find(r => r.name === name);
  assert.ok(saved, 'the API has the rule');
  assert.equal(saved.condition, good);
  assert.equal(saved.fixed_points, 25);
  assert.equal(saved.active, false);
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a stamp card condition and a rule line condition are checked as they are typed', async () => {
  const page = await newPage(browser);
  await signIn(page, 'manager');
  await page.goto(`${BASE}/#/program/stamp-cards`);
  await page.getByRole('heading', { name: 'New stamp card' }).waitFor();
  const stamps = page.getByRole('textbox', { name: 'Which purchases stamp', exact: true });
  // A member field alone is fine in a purchase condition (the buyer's), a line field is not.
  await stamps.fill('tier = "gold" and\n  quantity > 1');
  const error = await hintMatching(page, 'Which purchases stamp', /column/);
  assert.match(error, /line 2, column 3/);
  assert.match(error, /any\(lines/);
  assert.equal(await stamps.getAttribute('aria-invalid'), 'true');
  await stamps.fill('tier = "gold" and\n  amount_cent > 1');
  assert.match(await hintMatching(page, 'Which purchases stamp', /did you mean/), /line 2, column 3: .*did you mean 'amount_cents'\?/);
  await stamps.fill('tier = "gold" and amount_cents > 1');
  await hintMatching(page, 'Which purchases stamp', /^valid/);
  assert.equal(await stamps.getAttribute('aria-invalid'), 'false');
  await assertAccessible(page, 'stamp card editor');

  await page.goto(`${BASE}/#/program/rules`);
  await page.getByRole('heading', { name: 'New rule' }).waitFor();
  const lines = page.getByRole('textbox', { name: 'Line condition', exact: true });
  await lines.fill('skuu = "TOTE"');
  assert.match(await hintMatching(page, 'Line condition', /column/), /line 1, column 1: .*did you mean 'sku'\?/);
  await lines.fill('sku = "TOTE"');
  await hintMatching(page, 'Line condition', /^valid/);
  assert.equal(await lines.getAttribute('aria-invalid'), 'false');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
