// What the browser tests share: Debian's Chromium through playwright-core
// (never a downloaded browser), signing in, screenshots, the accessibility
// check with axe-core, and reading the mail the SMTP sink received.
import { chromium } from 'playwright-core';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export const BASE = process.env.PATRON_URL || 'http://127.0.0.1:8080';
export const ENGINE = process.env.PATRON_ENGINE || 'sqlite';
const SHOTS = process.env.PATRON_SCREENSHOTS || 'test-results';
const MAIL = process.env.PATRON_MAIL_DIR || '';
export const PASSWORD = 'demo-admin-password';
export const STAFF = (role) => `${role}@maison-verte.example`;

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Chromium as root needs --no-sandbox; the network flags keep it from calling out.
export async function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

// A fresh context (its own cookies) and page; errors the page's scripts throw
// and CSP violations fail the test that reads page.problems.
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({ viewport: opts.viewport || { width: 1280, height: 900 }, ...opts.context });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', e => page.problems.push(`page error: ${e.message}`));
  page.on('console', m => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  return page;
}

// Signs a staff member in through the login form and waits for the navigation.
export async function signIn(page, role) {
  await page.goto(`${BASE}/`);
  await page.getByLabel('Email').fill(STAFF(role));
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

// Saves a full-page screenshot as <engine>/<name>.png.
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

// Runs axe-core on the page (evaluated through the DevTools protocol, so the
// page's CSP does not block it) and fails on any serious or critical violation.
export async function assertAccessible(page, label) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map(v => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`),
    [], `accessibility of ${label}`);
}

// The mail received so far: [{to, text}] (raw message text).
export function mails() {
  if (!MAIL) return [];
  let files = [];
  try { files = readdirSync(MAIL).filter(f => f.endsWith('.eml')).sort(); } catch { return []; }
  return files.map(f => {
    const text = readFileSync(join(MAIL, f), 'latin1');
    const to = /^X-Rcpt-To: (.*)$/m.exec(text)[1];
    return { to, text };
  });
}

// Waits until a mail to `to` whose text matches re arrives; returns the match.
export async function waitForMail(to, re, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    for (const m of mails().reverse()) {
      // Quoted-printable soft line breaks would split a long link.
      const text = m.text.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      const found = m.to.toLowerCase() === to.toLowerCase() && re.exec(text);
      if (found) return found;
    }
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error(`no mail to ${to} matching ${re} within ${timeoutMs} ms`);
}

// Calls the API with a bearer-less fetch in the page (its cookie session and CSRF token as given).
export async function pageFetch(page, method, path, { body, csrf, headers } = {}) {
  return page.evaluate(async ({ method, path, body, csrf, headers }) => {
    const h = { 'Content-Type': 'application/json', ...(headers || {}) };
    if (csrf) h['X-CSRF-Token'] = csrf;
    const r = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    let json = null;
    try { json = await r.json(); } catch { /* not JSON */ }
    return { status: r.status, json };
  }, { method, path, body, csrf, headers });
}
