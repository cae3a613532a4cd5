// A ticket (#/service/ticket/<id>): its SLA, the conversation, a reply or an
// internal note, a knowledge-base answer, escalation, and compensation
// proposals that wait for someone else's approval.
import { api, get } from '../common/api.js';
import { h, mount, field, notice, table } from '../common/dom.js';
import { fmtTime, fmtNumber } from '../common/format.js';
import { newKey, memberName, facts, slaCell, badge, card } from './panels.js';
import { errorText } from './main.js';
import { subnav } from './service.js';

const STATE_TEXT = { pending: 'pending approval', approved: 'approved', rejected: 'rejected' };

// Renders ticket id into main.
export async function render(main, ctx, id) {
  const status = notice();
  const t = await api('GET', `/v1/tickets/${encodeURIComponent(id)}`);
  document.title = `Ticket #${t.id} · patron`;
  const conversation = h('section.card', { 'aria-label': 'Conversation' });
  const about = h('section.card', { 'aria-label': 'Details' });
  const show = d => {
    mount(about, h('h2', 'Details'), details(d));
    mount(conversation, h('h2', 'Conversation'), comments(d.comments));
  };
  const refresh = async () => show(await api('GET', `/v1/tickets/${t.id}`));
  show(t);
  const comp = card('Compensation', body => compensations(t, body, status));
  mount(main, h('h1', `Ticket #${t.id}: ${t.subject || ''}`), subnav(ctx.me, 'queue'),
    status,
    about,
    conversation,
    h('div.grid.two', replyForm(t, status, refresh), kbForm(t, status, refresh)),
    h('div.grid.two', comp, escalateForm(t, status, refresh)));
}

function details(t) {
  return facts([
    ['Status', badge(t.status, t.status === 'escalated' ? 'bad' : null)],
    ['Customer', t.member_id ? memberLink(t.member_id)
      : [t.contact_name, t.contact_email].filter(Boolean).join(' · ')],
    ['Category', t.category], ['Priority', t.priority], ['Channel', t.channel],
    ['Assignee', t.assignee || 'the queue'],
    ['SLA', slaCell(t)],
    ['First response due', fmtTime(t.first_response_due_at)],
    ['First responded', t.first_responded_at ? fmtTime(t.first_responded_at) : 'not yet'],
    ['Resolution due', fmtTime(t.resolution_due_at)],
    ['Escalated', t.escalated_at ? fmtTime(t.escalated_at) : null],
    ['Opened', fmtTime(t.created_at)],
  ]);
}

// A link to the member, named once their record arrives.
function memberLink(id) {
  const a = h('a', { href: `#/members/${id}` }, `member ${id}`);
  api('GET', `/v1/members/${id}`).then(m => { a.textContent = `${memberName(m)} (member ${id})`; }).catch(() => {});
  return a;
}

function comments(list) {
  if (!list || !list.length) return h('p.empty', 'No messages yet.');
  return h('ol.conversation', list.map(c => h(`li.comment.${c.visibility}`,
    h('p.meta', h('strong', c.author_label), ' · ', fmtTime(c.created_at), ' · ',
      c.visibility === 'internal' ? badge('internal note', 'warn') : badge('public reply'),
      c.article_id ? [' ', badge(`article #${c.article_id}`)] : null),
    h('p.body', c.body))));
}

function replyForm(t, status, refresh) {
  const body = field('Reply', { tag: 'textarea', required: true, attrs: { maxlength: 20000 } });
  const vis = field('Send as', { tag: 'select', value: 'public',
    options: [['public', 'Public reply (emailed to the customer)'], ['internal', 'Internal note (never sent)']] });
  let key = newKey();
  return h('form.card', { onsubmit: async e => {
    e.preventDefault();
    try {
      await api('POST', `/v1/tickets/${t.id}/comments`, { body: body.control.value, visibility: vis.control.value },
        { idempotent: true, key });
      key = newKey();
      body.control.value = '';
      status.show(vis.control.value === 'public' ? 'Reply sent.' : 'Internal note added.', 'ok');
      await refresh();
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, h('h2', 'Reply'), body, vis, h('button', { type: 'submit' }, 'Send reply'));
}

function kbForm(t, status, refresh) {
  const q = field('Search the knowledge base', { type: 'search', value: t.subject || '' });
  const hits = h('div', { 'aria-live': 'polite' });
  const search = async e => {
    e.preventDefault();
    try {
      const r = await get('/v1/kb/search', { q: q.control.value, limit: 5 });
      mount(hits, r.data.length ? h('ul.hits', r.data.map(a => h('li',
        h('p', h('strong', a.title)), h('p.muted', a.excerpt),
        h('button.secondary', { type: 'button', onclick: () => insert(a) }, `Send “${a.title}” as the reply`))))
        : h('p.empty', 'No article matches.'));
    } catch (err) { mount(hits, h('p.notice.error', { role: 'alert' }, errorText(err))); }
  };
  const insert = async a => {
    try {
      await api('POST', `/v1/tickets/${t.id}/kb-reply`, { article_id: a.id, visibility: 'public' },
        { idempotent: true, key: newKey() });
      status.show(`Answered with the article “${a.title}”.`, 'ok');
      await refresh();
    } catch (err) { status.show(errorText(err), 'error'); }
  };
  return h('form.card', { onsubmit: search },
    h('h2', 'Answer from the knowledge base'), q, h('button', { type: 'submit' }, 'Search articles'), hits);
}

function escalateForm(t, status, refresh) {
  const reason = field('Reason for escalating', { required: true, attrs: { maxlength: 500 } });
  return h('form.card', { onsubmit: async e => {
    e.preventDefault();
    try {
      const r = await api('POST', `/v1/tickets/${t.id}/escalate`, { reason: reason.control.value },
        { idempotent: true, key: newKey() });
      status.show(`Escalated${r.assignee ? ' to ' + r.assignee : ''}.`, 'ok');
      reason.control.value = '';
      await refresh();
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, h('h2', 'Escalate'), reason, h('button.secondary', { type: 'submit' }, 'Escalate'));
}

async function compensations(t, body, status) {
  const [list, rewards] = await Promise.all([
    api('GET', `/v1/tickets/${t.id}/compensations`),
    get('/v1/rewards').catch(() => ({ data: [] })),
  ]);
  const rewardName = id => (rewards.data.find(r => r.id === id) || {}).name || `reward #${id}`;
  const rows = table('Compensations proposed for this ticket', [
    ['What', c => c.kind === 'points' ? `${fmtNumber(c.points)} points` : `coupon: ${rewardName(c.reward_id)}`],
    ['Reason', c => c.reason],
    ['State', c => badge(STATE_TEXT[c.state] || c.state, c.state === 'approved' ? 'ok' : c.state === 'rejected' ? 'bad' : 'warn')],
    ['Proposed', c => `${c.proposed_by}, ${fmtTime(c.created_at)}`],
    ['Decision', c => c.decided_by ? `${c.decided_by}${c.decision_reason ? ': ' + c.decision_reason : ''}` : '—'],
  ], list.data, 'No compensation proposed yet.');
  if (!t.member_id) return [rows, h('p.hint', 'Only a member’s ticket can be compensated.')];
  return [rows, proposeForm(t, rewards.data.filter(r => r.active), status, body)];
}

function proposeForm(t, rewards, status, body) {
  const kind = field('Kind of compensation', { tag: 'select', value: 'points',
    options: [['points', 'Points'], ...(rewards.length ? [['coupon', 'A reward’s coupon']] : [])] });
  const points = field('Points', { type: 'number', attrs: { min: 1, max: 1000000, step: 1, inputmode: 'numeric' } });
  const reward = field('Reward', { tag: 'select', options: rewards.map(r => [r.id, `${r.name} (${fmtNumber(r.cost_points)} points)`]) });
  const reason = field('Reason (the member reads it)', { required: true, attrs: { maxlength: 100 } });
  const sync = () => { const p = kind.control.value === 'points'; points.hidden = !p; reward.hidden = p; };
  kind.control.addEventListener('change', sync);
  sync();
  const key = newKey();
  return h('form', { onsubmit: async e => {
    e.preventDefault();
    const b = { kind: kind.control.value, reason: reason.control.value };
    if (b.kind === 'points') b.points = Number(points.control.value);
    else b.reward_id = Number(reward.control.value);
    try {
      const c = await api('POST', `/v1/tickets/${t.id}/compensations`, b, { idempotent: true, key });
      status.show(`Compensation proposed: ${STATE_TEXT[c.state] || c.state}. Someone else must approve it.`, 'ok');
      const card = body.closest('section');
      if (card && card.reload) await card.reload();
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, h('h3', 'Propose a compensation'), kind, points, reward, reason,
  h('button', { type: 'submit' }, 'Propose compensation'));
}
