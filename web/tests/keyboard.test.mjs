// The dashboard by keyboard alone: sign in, skip to the content, follow the
// navigation, sign out — no mouse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, STAFF, PASSWORD, shot, assertAccessible } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('a manager signs in, moves around and signs out with the keyboard only', async () => {
  const page = await newPage(browser);
  await page.goto(`${BASE}/`);
  await page.getByLabel('Email').waitFor();
  await assertAccessible(page, 'the sign-in form');
  // The email field has the focus on arrival; Tab goes to the password, Enter submits.
  assert.equal(await page.evaluate(() => document.activeElement.type), 'email');
  await page.keyboard.type(STAFF('manager'));
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.waitFor();
  // The first Tab reaches the skip link, which moves the focus into the content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  // Tab through the navigation to "Members" and open it with Enter.
  await page.getByRole('link', { name: 'Members' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/#\/members$/);
  assert.equal(await page.getByRole('link', { name: 'Members' }).getAttribute('aria-current'), 'page');
  await shot(page, 'keyboard-members');
  await page.getByRole('button', { name: 'Sign out' }).focus();
  await page.keyboard.press('Enter');
  await page.getByLabel('Email').waitFor();
  const me = await page.evaluate(async () => (await fetch('/v1/auth/me')).status);
  assert.equal(me, 401, 'signed out: the session is gone');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});

test('a wrong password is announced and keeps the email', async () => {
  const page = await newPage(browser);
  await page.goto(`${BASE}/`);
  await page.getByLabel('Email').fill(STAFF('admin'));
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const status = page.getByRole('status');
  await status.filter({ hasText: 'invalid_credentials' }).waitFor();
  assert.equal(await page.getByLabel('Email').inputValue(), STAFF('admin'));
  assert.equal(await page.getByLabel('Password').inputValue(), '');
  await shot(page, 'login-wrong-password');
  await page.context().close();
});
