// The Service page: the ticket queue with SLA timers (#/service), a ticket
// (#/service/ticket/<id>), the approvals queue (#/service/approvals) and the
// knowledge base with the caller's training (#/service/kb[/<article id>]).
import { get } from '../common/api.js';
import { h, mount, field, table } from '../common/dom.js';
import { fmtTime } from '../common/format.js';
import { can, hashOf, slaCell, badge, pager } from './panels.js';
import { errorText } from './main.js';
import * as ticket from './ticket.js';
import * as approvals from './approvals.js';
import * as kb from './kb.js';

// The roles that decide approvals (x-roles of POST /v1/approvals/{id}/approve).
export const APPROVERS = ['admin', 'manager', 'supervisor'];

// The sub-navigation between the queue, approvals and the knowledge base.
export function subnav(me, current) {
  const links = [['queue', 'Queue', '#/service'], ['kb', 'Knowledge base', '#/service/kb']];
  if (can(me, APPROVERS)) links.splice(1, 0, ['approvals', 'Approvals', '#/service/approvals']);
  return h('nav.subnav', { 'aria-label': 'Service' }, h('ul', links.map(([id, text, href]) =>
    h('li', h('a', { href, 'aria-current': id === current ? 'page' : null }, text)))));
}

// Renders the sub-page the hash names.
export async function render(main, ctx) {
  const [sub, id] = ctx.params;
  if (sub === 'ticket' && id) return ticket.render(main, ctx, id);
  if (sub === 'approvals') return approvals.render(main, ctx);
  if (sub === 'kb') return kb.render(main, ctx, id);
  return queue(main, ctx);
}

const STATUSES = ['new', 'open', 'waiting', 'escalated', 'resolved', 'closed'];
let cursors = []; // the `after` of the pages before the one shown (for "Previous page")

function filters(ctx) {
  const q = ctx.query;
  return { status: q.get('status') || '', assignee: q.get('assignee') || '', category: q.get('category') || '',
    breaching: q.get('breaching') === 'true' ? 'true' : '', after: q.get('after') || '' };
}

async function queue(main, ctx) {
  const f = filters(ctx);
  if (!f.after) cursors = [];
  const status = field('Status', { tag: 'select', value: f.status,
    options: [['', 'Any status'], ...STATUSES.map(s => [s, s])] });
  const assignee = field('Assignee', { tag: 'select', value: f.assignee,
    options: [['', 'Anyone'], ['me', 'Me'], ['none', 'Unassigned']] });
  const category = field('Category', { tag: 'select', value: f.category,
    options: [['', 'Any category'], ...['complaint', 'question', 'suggestion', 'other'].map(c => [c, c])] });
  const breaching = h('input#q-breaching', { type: 'checkbox', checked: f.breaching ? true : null });
  const apply = e => {
    e.preventDefault();
    cursors = [];
    location.hash = hashOf(['service'], { status: status.control.value, assignee: assignee.control.value,
      category: category.control.value, breaching: breaching.checked ? 'true' : '' });
  };
  const list = h('div', { 'aria-live': 'polite' }, h('p.muted', 'Loading…'));
  mount(main, h('h1', 'Service'), subnav(ctx.me, 'queue'),
    h('form.card.filters', { onsubmit: apply, 'aria-label': 'Filter tickets' },
      h('div.grid.four', status, assignee, category,
        h('div.check.breach-check', breaching, h('label', { for: 'q-breaching' }, 'Only SLA breaches'))),
      h('button', { type: 'submit' }, 'Show tickets')),
    list);
  try {
    const page = await get('/v1/tickets', { status: f.status, assignee: f.assignee, category: f.category,
      breaching: f.breaching, after: f.after, limit: 50 });
    mount(list, ticketTable(page.data), queuePager(f, page.next_after));
  } catch (e) {
    mount(list, h('p.notice.error', { role: 'alert' }, errorText(e)));
  }
}

function ticketTable(rows) {
  return table('Tickets, oldest first', [
    ['#', t => String(t.id)],
    ['Subject', t => h('a', { href: `#/service/ticket/${t.id}` }, t.subject || `Ticket ${t.id}`)],
    ['Customer', t => t.member_id ? h('a', { href: `#/members/${t.member_id}` }, `member ${t.member_id}`)
      : (t.contact_name || t.contact_email || '—')],
    ['Category', t => t.category],
    ['Priority', t => t.priority === 'urgent' || t.priority === 'high' ? badge(t.priority, 'warn') : t.priority],
    ['Status', t => badge(t.status, t.status === 'escalated' ? 'bad' : null)],
    ['Assignee', t => t.assignee || 'queue'],
    ['SLA', t => slaCell(t)],
    ['Opened', t => fmtTime(t.created_at)],
  ], rows, 'No tickets match.');
}

function queuePager(f, nextAfter) {
  const go = after => { location.hash = hashOf(['service'], { ...f, after }); };
  const prev = f.after ? () => go(cursors.pop() || '') : null;
  const next = nextAfter ? () => { cursors.push(f.after); go(nextAfter); } : null;
  return pager('Ticket pages', prev, next);
}
