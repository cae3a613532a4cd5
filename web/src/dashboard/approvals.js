// The approvals queue (#/service/approvals): changes waiting for a second
// person (compensations, large adjustments, goodwill); approve or reject with
// a reason. Roles without approvals.decide see the API's refusal.
import { api, get } from '../common/api.js';
import { h, mount, field, notice } from '../common/dom.js';
import { fmtTime, fmtNumber } from '../common/format.js';
import { newKey, hashOf, badge, pager } from './panels.js';
import { errorText } from './main.js';
import { subnav } from './service.js';

const KIND_TEXT = { compensation: 'Compensation', points_adjustment: 'Points adjustment',
  bulk_adjustment: 'Segment adjustment', incident_goodwill: 'Incident goodwill' };
let befores = [];

// Renders the approvals queue into main.
export async function render(main, ctx) {
  const state = ['pending', 'approved', 'rejected', 'all'].includes(ctx.query.get('state')) ? ctx.query.get('state') : 'pending';
  const before = ctx.query.get('before') || '';
  if (!before) befores = [];
  const status = notice();
  const list = h('div', h('p.muted', 'Loading…'));
  const filter = field('Show', { tag: 'select', value: state,
    options: [['pending', 'Pending'], ['approved', 'Approved'], ['rejected', 'Rejected'], ['all', 'All']] });
  filter.control.addEventListener('change', () => { location.hash = hashOf(['service', 'approvals'], { state: filter.control.value }); });
  mount(main, h('h1', 'Approvals'), subnav(ctx.me, 'approvals'), status, h('div.card', filter), list);
  const load = async () => {
    try {
      const page = await get('/v1/approvals', { state: state === 'all' ? '' : state, before, limit: 50 });
      const go = b => { location.hash = hashOf(['service', 'approvals'], { state, before: b }); };
      mount(list, page.data.length ? h('ul.approvals', page.data.map(a => item(a, ctx.me, status, load)))
        : h('p.empty', state === 'pending' ? 'Nothing waits for approval.' : 'No approvals.'),
      pager('Approval pages', before ? () => go(befores.pop() || '') : null,
        page.next_before ? () => { befores.push(before); go(page.next_before); } : null));
    } catch (e) {
      const text = e.status === 403 ? `You may not decide approvals: ${errorText(e)}` : errorText(e);
      mount(list, h('p.notice.error', { role: 'alert' }, text));
    }
  };
  await load();
}

function what(a) {
  const p = a.payload || {};
  const parts = [];
  if (p.points !== undefined && p.points !== null) parts.push(`${fmtNumber(p.points)} points${a.kind === 'bulk_adjustment' || a.kind === 'incident_goodwill' ? ' each' : ''}`);
  if (p.kind === 'coupon') parts.push(`a coupon of reward #${p.reward_id}`);
  const links = [];
  if (p.member_id) links.push(h('a', { href: `#/members/${p.member_id}` }, `member ${p.member_id}`));
  if (p.ticket_id) links.push(h('a', { href: `#/service/ticket/${p.ticket_id}` }, `ticket #${p.ticket_id}`));
  if (p.expression) links.push(h('span.mono', p.expression));
  return [parts.join(', '), links.length ? [' for ', links.flatMap((l, i) => i ? [', ', l] : [l])] : null,
    p.reason ? h('p.muted', `Reason: ${p.reason}`) : null];
}

function item(a, me, status, reload) {
  const label = `${KIND_TEXT[a.kind] || a.kind} #${a.id}`;
  const el = h('li.card.approval', { 'aria-label': label },
    h('h2', label, ' ', badge(a.state, a.state === 'approved' ? 'ok' : a.state === 'rejected' ? 'bad' : 'warn')),
    h('p', what(a)),
    h('p.muted', `Proposed by ${a.proposed_by} on ${fmtTime(a.created_at)}`),
    a.decided_by ? h('p.muted', `Decided by ${a.decided_by} on ${fmtTime(a.decided_at)}${a.decision_reason ? ': ' + a.decision_reason : ''}`) : null);
  if (a.state === 'pending') el.append(decide(a, label, me, status, reload));
  return el;
}

function decide(a, label, me, status, reload) {
  const reason = field(`Reason for ${label}`, { attrs: { maxlength: 100 },
    hint: 'Needed to reject; kept with the decision.' });
  const key = newKey();
  const send = async verb => {
    const r = reason.control.value.trim();
    if (verb === 'reject' && !r) { status.show('Give a reason to reject.', 'error'); reason.control.focus(); return; }
    try {
      await api('POST', `/v1/approvals/${a.id}/${verb}`, r ? { reason: r } : {},
        { idempotent: true, key: `${key}-${verb}` });
      status.show(`${label} ${verb === 'approve' ? 'approved' : 'rejected'}.`, 'ok');
      await reload();
    } catch (err) { status.show(errorText(err), 'error'); }
  };
  const own = a.proposed_by === me.label;
  return h('div.decide', reason, own ? h('p.hint', 'You proposed this: someone else must decide it.') : null,
    h('div.actions',
      h('button', { type: 'button', disabled: own, onclick: () => send('approve'), 'aria-label': `Approve ${label}` }, 'Approve'),
      h('button.danger', { type: 'button', disabled: own, onclick: () => send('reject'), 'aria-label': `Reject ${label}` }, 'Reject')));
}
