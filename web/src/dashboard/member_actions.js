// What staff may do for a member, by role (x-roles in docs/openapi.yaml):
// adjust points with a reason (admin, manager; a manager's large adjustment
// waits for approval), issue a reward for points (admin: a redemption), open a
// ticket and create a follow-up task (admin, manager, supervisor, agent).
import { api, get } from '../common/api.js';
import { h, field, notice } from '../common/dom.js';
import { fmtNumber } from '../common/format.js';
import { can, newKey } from './panels.js';
import { errorText } from './main.js';

const ADJUSTERS = ['admin', 'manager'];
const REDEEMERS = ['admin'];
const SERVICE = ['admin', 'manager', 'supervisor', 'agent'];

// The actions card for member m (null when the role may do none); reload(['points', ...]) refreshes cards.
export function actions(m, me, reload) {
  if (m.erased_at) return null;
  const status = notice();
  const forms = [];
  if (can(me, ADJUSTERS)) forms.push(adjust(m, status, reload));
  if (can(me, REDEEMERS)) forms.push(redeem(m, status, reload));
  if (can(me, SERVICE)) forms.push(openTicket(m, status, reload), followUp(m, me, status));
  if (!forms.length) return null;
  return h('section.card', { 'aria-label': 'Actions' }, h('h2', 'Actions'), status,
    h('div.grid.two', forms));
}

// A disclosure holding a form; submit(form) returns the success text.
function action(title, controls, button, submit, status) {
  let key = newKey();
  const form = h('form', { onsubmit: async e => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      status.show(await submit(key), 'ok');
      key = newKey();
      form.reset();
    } catch (err) {
      status.show(errorText(err), 'error');
    } finally { btn.disabled = false; }
  } }, controls, h('button', { type: 'submit' }, button));
  return h('details.card.action', h('summary', title), form);
}

function adjust(m, status, reload) {
  const points = field('Points to add (negative to take away)', { type: 'number', required: true,
    attrs: { step: 1, min: -1000000000, max: 1000000000 } });
  const reason = field('Reason for the adjustment', { required: true, attrs: { maxlength: 100 },
    hint: 'The member reads it in their statement: "Adjustment: <reason>".' });
  return action('Adjust points', [points, reason], 'Adjust points', async key => {
    const n = Number(points.control.value);
    const r = await api('POST', `/v1/members/${m.id}/points/adjustments`, { points: n, reason: reason.control.value },
      { idempotent: true, key });
    reload(['points', 'timeline']);
    return r.state === 'pending_approval'
      ? `Above your limit: the adjustment of ${fmtNumber(n)} points waits for approval #${r.approval.id}.`
      : `Adjusted by ${fmtNumber(n)} points; ${fmtNumber(r.available)} available now.`;
  }, status);
}

function redeem(m, status, reload) {
  const reward = field('Reward', { tag: 'select', options: [['', 'Loading rewards…']] });
  get('/v1/rewards').then(r => {
    reward.control.replaceChildren(...r.data.filter(x => x.active).map(x =>
      h('option', { value: x.id }, `${x.name} (${fmtNumber(x.cost_points)} points)`)));
  }).catch(e => { reward.control.replaceChildren(h('option', { value: '' }, `Rewards unavailable: ${errorText(e)}`)); });
  return action('Issue a reward', [reward, h('p.hint', 'The member pays the reward’s points; they get a coupon.')],
    'Issue the reward', async key => {
      const c = await api('POST', `/v1/members/${m.id}/redemptions`, { reward_id: Number(reward.control.value) },
        { idempotent: true, key });
      reload(['points', 'coupons', 'timeline']);
      return `Coupon ${c.code} issued.`;
    }, status);
}

function openTicket(m, status, reload) {
  const subject = field('Ticket subject', { required: true, attrs: { maxlength: 200 } });
  const body = field('What the customer said', { tag: 'textarea', required: true, attrs: { maxlength: 20000 } });
  const category = field('Ticket category', { tag: 'select', value: 'question',
    options: ['complaint', 'question', 'suggestion', 'other'].map(c => [c, c]) });
  const priority = field('Ticket priority', { tag: 'select', value: 'normal',
    options: ['low', 'normal', 'high', 'urgent'].map(c => [c, c]) });
  const channel = field('Channel', { tag: 'select', value: 'phone',
    options: [['phone', 'phone'], ['email', 'email'], ['chat', 'chat'], ['portal', 'portal']] });
  return action('Open a ticket', [subject, body, category, priority, channel], 'Open the ticket', async key => {
    const t = await api('POST', '/v1/tickets', { member_id: m.id, subject: subject.control.value, body: body.control.value,
      category: category.control.value, priority: priority.control.value, channel: channel.control.value },
    { idempotent: true, key });
    reload(['tickets', 'timeline']);
    return `Ticket #${t.id} opened.`;
  }, status);
}

function followUp(m, me, status) {
  const title = field('Task', { required: true, attrs: { maxlength: 300 } });
  const due = field('Due on', { type: 'date' });
  const mine = h('input', { type: 'checkbox', id: `task-mine-${m.id}`, checked: true });
  return action('Create a follow-up task', [title, due,
    h('div.check', mine, h('label', { for: mine.id }, 'Assign it to me'))], 'Create the task', async key => {
    const b = { title: title.control.value, member_id: m.id };
    if (due.control.value) b.due_at = `${due.control.value}T09:00:00Z`;
    if (mine.checked) b.assignee = me.label;
    const t = await api('POST', '/v1/tasks', b, { idempotent: true, key });
    return `Task #${t.id} created${t.assignee ? ' for ' + t.assignee : ''}.`;
  }, status);
}
