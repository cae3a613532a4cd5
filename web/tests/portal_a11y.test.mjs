// Accessibility of every page of the member portal (axe-core: no serious or
// critical violation) on a phone, and of one page on a desktop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, shot, assertAccessible } from './lib.mjs';
import { PHONE, staffSession, findMembers, requestLink, useLink } from './portal_helpers.mjs';

let browser, member;

before(async () => {
  browser = await launch();
  const staff = await staffSession(browser);
  member = (await findMembers(staff, 3, 1))[2]; // not the members portal.test.mjs uses
  await staff.page.context().close();
});
after(async () => { await browser.close(); });

// Opens a portal page from the navigation and waits for its heading.
async function open(page, link, heading) {
  await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading || link }).waitFor();
}

test('every portal page is accessible at 375 px, and one at desktop size', async () => {
  const page = await newPage(browser, { viewport: PHONE });
  await page.goto(`${BASE}/portal`);
  await page.getByRole('heading', { level: 1, name: 'Sign in to your rewards' }).waitFor();
  await assertAccessible(page, 'signed out');

  const link = await requestLink(page, member.email);
  await assertAccessible(page, 'link requested');
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await assertAccessible(page, 'sign-in link page');
  await useLink(page, link);
  await page.locator('#balance').waitFor();
  await assertAccessible(page, 'home');
  await shot(page, 'portal-a11y-home');

  for (const [name, heading] of [['Statement'], ['Rewards'], ['Coupons'], ['Offers'], ['Stamp cards'],
    ['Refer a friend'], ['My feed'], ['Surveys'], ['Terms'], ['Preferences'], ['Help']]) {
    await open(page, name, heading);
    await assertAccessible(page, name);
    await shot(page, `portal-a11y-${name.toLowerCase().replace(/ /g, '-')}`);
  }

  // Help: a complaint lands on its conversation page.
  const subject = `Late delivery ${Date.now()}`;
  await page.getByLabel('Kind').selectOption('complaint');
  await page.getByLabel('Subject', { exact: true }).fill(subject);
  await page.getByLabel('Message', { exact: true }).fill('My parcel is a week late.');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: subject }).waitFor();
  await page.getByRole('log').getByText('My parcel is a week late.').waitFor();
  await assertAccessible(page, 'a ticket');
  await shot(page, 'portal-a11y-ticket');

  // A chat, polled while open.
  await open(page, 'Help');
  assert.equal(await page.getByRole('link', { name: subject }).count(), 1, 'the complaint is listed');
  const topic = `Chat a11y ${Date.now()}`;
  await page.getByLabel('Chat topic').fill(topic);
  await page.getByLabel('Your first message').fill('Hello!');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByRole('heading', { level: 1, name: topic }).waitFor();
  await assertAccessible(page, 'a chat');
  await shot(page, 'portal-a11y-chat');

  // Rewards with a confirmation open; the refer page's copy button.
  await open(page, 'Rewards');
  const redeem = page.getByRole('button', { name: /^Redeem / }).and(page.locator(':enabled')).first();
  if (await redeem.count()) {
    await redeem.click();
    await page.getByRole('button', { name: 'Cancel' }).waitFor();
    await assertAccessible(page, 'rewards, confirming');
    await page.getByRole('button', { name: 'Cancel' }).click();
  }
  await open(page, 'Refer a friend');
  if (await page.getByLabel('Your referral link').count()) {
    assert.match(await page.getByLabel('Your referral link').inputValue(), /^https?:\/\/\S+referral_code=\w+/);
    await page.getByRole('button', { name: 'Copy link' }).click();
    await page.getByText(/^(Copied\.|Copy the selected text)/).waitFor();
  }

  // Preferences: saved, and read back after a reload.
  await open(page, 'Preferences');
  const sms = page.getByLabel('Text messages (SMS)');
  const was = await sms.isChecked();
  await sms.setChecked(!was);
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await page.getByText('Your preferences are saved.').waitFor();
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Preferences' }).waitFor();
  assert.equal(await page.getByLabel('Text messages (SMS)').isChecked(), !was);
  await page.getByRole('button', { name: 'Unsubscribe from marketing email' }).click();
  await page.getByText(/unsubscribed from marketing email/).waitFor();
  assert.equal(await page.getByLabel('Email', { exact: true }).isChecked(), false);
  await assertAccessible(page, 'preferences after saving');

  await page.setViewportSize({ width: 1280, height: 900 });
  await open(page, 'Home', /./);
  await page.locator('#balance').waitFor();
  await assertAccessible(page, 'home at desktop size');
  await shot(page, 'portal-a11y-desktop');
  assert.deepEqual(page.problems, []);
  await page.context().close();
});
