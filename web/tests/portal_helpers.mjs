// What the portal's browser tests share: a staff session to look things up
// with, members fit for a test, and signing a member in through the emailed link.
import assert from 'node:assert/strict';
import { BASE, newPage, signIn, pageFetch, waitForMail } from './lib.mjs';

export const PHONE = { width: 375, height: 800 };
export const LINK = /https?:\/\/\S+\/portal\/signin\?token=[\w-]+/;

// An admin's page and CSRF token, for the staff API.
export async function staffSession(browser) {
  const page = await newPage(browser);
  await signIn(page, 'admin');
  const me = await pageFetch(page, 'GET', '/v1/auth/me');
  assert.equal(me.status, 200);
  return { page, csrf: me.json.csrf_token };
}

// Active members with an email and at least minPoints available, from the end of the list
// (other test files tend to use the first members): [{id, email, available}].
export async function findMembers(staff, count, minPoints) {
  const r = await pageFetch(staff.page, 'GET', '/v1/members?limit=200');
  assert.equal(r.status, 200);
  const found = [];
  for (const m of r.json.data.slice().reverse()) {
    if (m.status !== 'active' || !m.email) continue;
    const p = await pageFetch(staff.page, 'GET', `/v1/members/${m.id}/points`);
    if (p.json.available >= minPoints) found.push({ id: m.id, email: m.email, available: p.json.available });
    if (found.length === count) break;
  }
  assert.equal(found.length, count, `${count} members with ${minPoints} points`);
  return found;
}

// Asks for a sign-in link on the portal's form and returns the link from the email.
export async function requestLink(page, email) {
  await page.goto(`${BASE}/portal`);
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
  await page.getByText('We sent you a link if this address belongs to a member').waitFor();
  return (await waitForMail(email, LINK, 30000))[0];
}

// Opens the link and presses Sign in; resolves when the portal's navigation shows.
export async function useLink(page, link) {
  await page.goto(link);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Portal' }).waitFor();
}

// A phone-sized page of a member signed in through the emailed link.
export async function memberPage(browser, email, viewport = PHONE) {
  const page = await newPage(browser, { viewport });
  const link = await requestLink(page, email);
  await useLink(page, link);
  return page;
}
