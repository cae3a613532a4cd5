// The service desk's flow: an agent handles a complaint and proposes a
// compensation; the same agent cannot approve it (no link, the page shows the
// API's refusal, the API answers 403); a manager approves it and the member's
// points rise by the amount.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, newPage, signIn, shot, pageFetch } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

const stamp = `${Date.now()}`;
const SUBJECT = `Cracked terracotta pot ${stamp}`;
const REASON = `Sorry for the pot ${stamp}`.slice(0, 100);
const POINTS = 150;

// The session's CSRF token, as a reloaded page gets it.
async function csrfOf(page) {
  const me = await pageFetch(page, 'GET', '/v1/auth/me');
  assert.equal(me.status, 200);
  return me.json.csrf_token;
}

// A member whose points are all available (nothing pending or held), so the rise is exact.
async function quietMember(page) {
  let after = 150;
  for (let i = 0; i < 10; i++) {
    const r = await pageFetch(page, 'GET', `/v1/members?status=active&limit=20&after=${after}`);
    assert.equal(r.status, 200);
    for (const m of r.json.data) {
      const p = await pageFetch(page, 'GET', `/v1/members/${m.id}/points`);
      if (p.json.pending === 0 && p.json.held === 0 && p.json.debt === 0) return { id: m.id, available: p.json.available };
    }
    after = r.json.next_after;
  }
  throw new Error('no member without pending points');
}

test('an agent proposes a compensation, cannot approve it; a manager approves it', async () => {
  // As admin: a fresh complaint for a member.
  const admin = await newPage(browser);
  await signIn(admin, 'admin');
  const adminCsrf = await csrfOf(admin);
  const member = await quietMember(admin);
  const created = await pageFetch(admin, 'POST', '/v1/tickets', { csrf: adminCsrf, body: {
    member_id: member.id, subject: SUBJECT, body: 'The pot arrived with a crack down its side.',
    category: 'complaint', priority: 'high', channel: 'email' } });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const ticketId = created.json.id;
  assert.equal(created.json.status, 'new');
  await admin.context().close();

  // As agent: the queue, the ticket, a reply, a knowledge-base answer, a compensation.
  const agent = await newPage(browser);
  await signIn(agent, 'agent');
  await agent.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Service' }).click();
  await agent.getByRole('heading', { level: 1, name: 'Service' }).waitFor();
  const subnav = agent.getByRole('navigation', { name: 'Service' });
  await subnav.getByRole('link', { name: 'Queue' }).waitFor();
  assert.equal(await subnav.getByRole('link', { name: 'Approvals' }).count(), 0, 'an agent has no Approvals link');
  await agent.getByLabel('Category').selectOption('complaint');
  await agent.getByLabel('Status').selectOption('new');
  await agent.getByRole('button', { name: 'Show tickets' }).click();
  const row = agent.getByRole('row').filter({ hasText: SUBJECT });
  await row.waitFor();
  await assertText(row, /first response in|SLA/);
  await shot(agent, 'service-1-agent-queue');
  await row.getByRole('link', { name: SUBJECT }).click();
  await agent.getByRole('heading', { level: 1, name: `Ticket #${ticketId}: ${SUBJECT}` }).waitFor();

  const reply = `We are sorry about the pot (${stamp}); a replacement is on its way.`;
  await agent.getByLabel('Reply').fill(reply);
  await agent.getByRole('button', { name: 'Send reply' }).click();
  const conversation = agent.getByRole('region', { name: 'Conversation' });
  await conversation.getByText(reply).waitFor();
  await agent.getByText('Reply sent.').waitFor();

  await agent.getByLabel('Search the knowledge base').fill('compensation points');
  await agent.getByRole('button', { name: 'Search articles' }).click();
  const kbButton = agent.getByRole('button', { name: /^Send “.*” as the reply$/ }).first();
  await kbButton.waitFor();
  const articleTitle = /Send “(.*)” as the reply/.exec(await kbButton.textContent())[1];
  await kbButton.click();
  await agent.getByText(`Answered with the article “${articleTitle}”.`).waitFor();
  await conversation.getByText(/article #\d+/).first().waitFor();
  await shot(agent, 'service-2-agent-replied');

  await agent.getByLabel('Kind of compensation').selectOption('points');
  await agent.getByLabel('Points').fill(String(POINTS));
  await agent.getByLabel('Reason (the member reads it)').fill(REASON);
  await agent.getByRole('button', { name: 'Propose compensation' }).click();
  const compRow = agent.getByRole('row').filter({ hasText: REASON });
  await compRow.waitFor();
  await assertText(compRow, /pending approval/);
  await assertText(compRow, new RegExp(`${POINTS} points`));
  await shot(agent, 'service-3-agent-proposed');

  const comps = await pageFetch(agent, 'GET', `/v1/tickets/${ticketId}/compensations`);
  assert.equal(comps.status, 200);
  const comp = comps.json.data.find(c => c.reason === REASON);
  assert.ok(comp, 'the compensation is listed');
  assert.equal(comp.state, 'pending');
  const approvalId = comp.approval_id;

  // The agent cannot approve: the page shows the API's refusal, and the API says 403.
  await agent.goto(`${BASE}/#/service/approvals`);
  await agent.getByRole('heading', { level: 1, name: 'Approvals' }).waitFor();
  const refusal = agent.getByRole('alert');
  await refusal.waitFor();
  await assertText(refusal, /may not decide approvals.*forbidden/);
  assert.equal(await agent.getByRole('button', { name: /^Approve/ }).count(), 0, 'no approve button for an agent');
  await shot(agent, 'service-4-agent-refused');
  const agentCsrf = await csrfOf(agent);
  const tried = await pageFetch(agent, 'POST', `/v1/approvals/${approvalId}/approve`,
    { csrf: agentCsrf, body: {}, headers: { 'Idempotency-Key': `agent-try-${stamp}` } });
  assert.equal(tried.status, 403, JSON.stringify(tried.json));
  assert.equal(tried.json.error.code, 'forbidden');
  assert.deepEqual(agent.problems, []);
  await agent.context().close();

  // As manager, in another context: the approvals queue, approve.
  const manager = await newPage(browser);
  await signIn(manager, 'manager');
  await manager.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Service' }).click();
  await manager.getByRole('navigation', { name: 'Service' }).getByRole('link', { name: 'Approvals' }).click();
  await manager.getByRole('heading', { level: 1, name: 'Approvals' }).waitFor();
  const label = `Compensation #${approvalId}`;
  const item = manager.getByRole('listitem', { name: label, exact: true });
  await item.waitFor();
  await assertText(item, new RegExp(`${POINTS} points`));
  await assertText(item, new RegExp(`ticket #${ticketId}`));
  await shot(manager, 'service-5-manager-approvals');
  await item.getByRole('button', { name: `Approve ${label}`, exact: true }).click();
  await manager.getByText(`${label} approved.`).waitFor();
  // The queue reloads after the announcement: wait for the item to leave it (a timeout fails the test).
  await manager.getByRole('listitem', { name: label, exact: true }).waitFor({ state: 'detached', timeout: 10000 });
  await shot(manager, 'service-6-manager-approved');

  const points = await pageFetch(manager, 'GET', `/v1/members/${member.id}/points`);
  assert.equal(points.json.available, member.available + POINTS, 'the member got the points');
  const approval = await pageFetch(manager, 'GET', `/v1/approvals/${approvalId}`);
  assert.equal(approval.json.state, 'approved');
  assert.equal(approval.json.decided_by, 'manager@maison-verte.example');
  const after = await pageFetch(manager, 'GET', `/v1/tickets/${ticketId}/compensations`);
  assert.equal(after.json.data.find(c => c.id === comp.id).state, 'approved');
  assert.deepEqual(manager.problems, []);
  await manager.context().close();
});

async function assertText(locator, re) {
  const text = await locator.textContent();
  assert.match(text, re);
}
