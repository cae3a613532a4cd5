// A member at a glance (#/members/<id>): profile, points and statement, tier
// progress, scores, timeline, tickets, messages and coupons, each card loading
// on its own, and the actions the signed-in role may take (member_actions.js).
import { api, get } from '../common/api.js';
import { h, mount, table } from '../common/dom.js';
import { fmtTime, fmtNumber, fmtMoney, fmtPercent } from '../common/format.js';
import { card, can, kpi, facts, memberName, badge, slaCell } from './panels.js';
import { actions } from './member_actions.js';

const TICKET_ROLES = ['admin', 'manager', 'supervisor', 'agent'];
let currencyOnce = null;

// The program's currency (read once).
function currency() {
  currencyOnce = currencyOnce || get('/v1/program').then(p => p.currency || 'USD').catch(() => { currencyOnce = null; return 'USD'; });
  return currencyOnce;
}

// Renders member id into main.
export async function render(main, ctx, id) {
  const m = await api('GET', `/v1/members/${encodeURIComponent(id)}`);
  const name = m.erased_at ? `Erased member ${m.id}` : memberName(m);
  document.title = `${name} · patron`;
  const cards = {};
  const reload = which => which.forEach(k => cards[k] && cards[k].reload());
  cards.points = card('Points', body => points(m.id, body));
  cards.tier = card('Tier', () => tier(m.id));
  cards.scores = card('Scores', () => scores(m.id));
  cards.timeline = card('Timeline', body => timeline(m.id, body));
  if (can(ctx.me, TICKET_ROLES)) cards.tickets = card('Tickets', () => tickets(m.id));
  cards.messages = card('Messages', () => messages(m.id));
  cards.coupons = card('Coupons', () => coupons(m.id));
  mount(main,
    h('p', h('a', { href: '#/members' }, '← All members')),
    h('h1', name),
    h('div.grid.two', h('section.card', { 'aria-label': 'Profile' }, h('h2', 'Profile'), profile(m)), cards.points),
    actions(m, ctx.me, reload),
    h('div.grid.two', cards.tier, cards.scores),
    cards.timeline,
    h('div.grid.two', cards.tickets || null, cards.messages),
    cards.coupons);
  await Promise.all(Object.values(cards).map(c => c.ready));
}

function profile(m) {
  const consents = Object.entries(m.consent || {}).filter(([, v]) => v).map(([k]) => k);
  const a = m.address || {};
  return facts([
    ['Member id', String(m.id)], ['External id', m.external_id], ['Email', m.email], ['Phone', m.phone],
    ['Status', badge(m.status, m.status === 'active' ? 'ok' : 'warn')], ['Tier', m.tier || 'none yet'],
    ['Joined', fmtTime(m.joined_at).slice(0, 10)], ['Birthday', m.birthday],
    ['City', [a.city, a.country].filter(Boolean).join(', ')],
    ['Consents', consents.length ? consents.join(', ') : 'none'],
    ['Referral code', m.referral_code ? h('span.mono', m.referral_code) : null],
    ['Erased', m.erased_at ? fmtTime(m.erased_at) : null],
  ]);
}

async function points(id, body) {
  const [p, hist] = await Promise.all([api('GET', `/v1/members/${id}/points`), get(`/v1/members/${id}/points/history`, { limit: 10 })]);
  const rows = h('div');
  const more = h('button.secondary.statement-more', { type: 'button' }, 'Older movements');
  let before = hist.next_before;
  const show = list => rows.append(statement(list));
  show(hist.data);
  more.hidden = !before;
  more.addEventListener('click', async () => {
    const next = await get(`/v1/members/${id}/points/history`, { limit: 10, before });
    before = next.next_before;
    more.hidden = !before;
    show(next.data);
  });
  mount(body,
    h('div.grid.two', kpi('Available', fmtNumber(p.available)), kpi('Pending', fmtNumber(p.pending))),
    h('p.muted', `Held ${fmtNumber(p.held)} · debt ${fmtNumber(p.debt)} · earned in all ${fmtNumber(p.earned_total)}`,
      p.expiring && p.expiring.points ? ` · ${fmtNumber(p.expiring.points)} expire by ${fmtTime(p.expiring.next_at).slice(0, 10)}` : ''),
    h('h3', 'Statement'), rows, more);
}

function statement(list) {
  return table('Points statement, newest first', [
    ['When', t => fmtTime(t.occurred_at)],
    ['What', t => t.kind],
    ['Points', t => (t.credit === 'member:available' || t.credit === 'member:pending' ? '+' : t.debit.startsWith('member:') ? '−' : '') + fmtNumber(t.points)],
    ['Available after', t => fmtNumber(t.available_after)],
    ['Why', t => t.reason || '—'],
    ['By', t => t.actor || '—'],
  ], list, 'No points movements yet.');
}

async function tier(id) {
  const t = await api('GET', `/v1/members/${id}/tier`);
  const out = [h('p', 'Current tier: ', h('strong', t.tier ? t.tier.name : 'none yet'),
    t.since ? h('span.muted', ` since ${fmtTime(t.since).slice(0, 10)}`) : null)];
  if (t.next) {
    const share = t.next.threshold ? Math.max(0, Math.min(1, t.next.value / t.next.threshold)) : 0;
    const bar = h('span');
    bar.style.width = `${(share * 100).toFixed(1)}%`;
    out.push(h('p', `Next: ${t.next.tier}`),
      h('div.progress', { role: 'progressbar', 'aria-label': `Progress to ${t.next.tier}`, 'aria-valuemin': 0,
        'aria-valuemax': 100, 'aria-valuenow': Math.round(share * 100) }, bar),
      h('p.hint', t.next.message));
  } else out.push(h('p.hint', 'The highest tier.'));
  if (t.keep) out.push(h('p.hint', t.keep.message));
  if (t.grace_until) out.push(h('p', badge(`in grace until ${fmtTime(t.grace_until).slice(0, 10)}`, 'warn')));
  return out;
}

async function scores(id) {
  let s;
  try { s = await api('GET', `/v1/members/${id}/scores`); } catch (e) {
    if (e.status === 404 && e.code !== 'member_not_found') return h('p.empty', 'Not scored yet: scores come with purchases and the analytics job.');
    throw e;
  }
  const cur = await currency();
  return [
    h('div.grid.two', kpi('Chance still active', fmtPercent(s.p_alive, 0)), kpi('Customer lifetime value', fmtMoney(s.clv_cents, cur))),
    facts([
      ['RFM segment', s.rfm ? `${s.rfm.segment_name} (R${s.rfm.r} F${s.rfm.f} M${s.rfm.m})` : null],
      ['Last purchase', s.rfm ? `${fmtNumber(s.rfm.recency_days)} days ago` : null],
      ['Purchases expected in 90 days', s.expected_purchases_90d === null ? null : s.expected_purchases_90d.toFixed(2)],
      ['Next purchase around', s.next_purchase_date],
      ['Next likely categories', (s.next_categories || []).join(', ') || null],
      ['Scored', fmtTime(s.computed_at)],
    ]),
  ];
}

async function timeline(id, body) {
  const list = h('ol.timeline');
  const more = h('button.secondary.statement-more', { type: 'button' }, 'Older events');
  let before = null;
  const load = async () => {
    const r = await get(`/v1/members/${id}/timeline`, { limit: 15, before });
    before = r.next_before;
    more.hidden = !before;
    list.append(...r.data.map(e => h('li', h('span.muted', fmtTime(e.occurred_at)), ' ', e.summary)));
    if (!list.children.length) list.replaceWith(h('p.empty', 'Nothing happened yet.'));
  };
  more.addEventListener('click', load);
  mount(body, list, more);
  await load();
}

async function tickets(id) {
  const r = await get('/v1/tickets', { member_id: id, limit: 20 });
  return table('The member’s tickets', [
    ['Ticket', t => h('a', { href: `#/service/ticket/${t.id}` }, `#${t.id} ${t.subject || ''}`)],
    ['Status', t => badge(t.status, t.status === 'escalated' ? 'bad' : null)],
    ['SLA', t => slaCell(t)],
  ], r.data, 'No tickets.');
}

async function messages(id) {
  const r = await get(`/v1/members/${id}/messages`, { limit: 10 });
  return table('Messages, newest first', [
    ['When', x => fmtTime(x.sent_at || x.created_at)],
    ['Channel', x => x.channel],
    ['Subject', x => x.subject || '—'],
    ['Status', x => badge(x.status, x.status === 'sent' ? 'ok' : x.status === 'failed' ? 'bad' : null)],
  ], r.data, 'No messages.');
}

async function coupons(id) {
  const r = await get(`/v1/members/${id}/coupons`, { limit: 10 });
  return table('Coupons, newest first', [
    ['Code', c => h('span.mono', c.code)],
    ['Reward', c => (c.reward && c.reward.name) || '—'],
    ['Status', c => badge(c.status, c.usable ? 'ok' : null)],
    ['Expires', c => fmtTime(c.expires_at).slice(0, 10)],
  ], r.data, 'No coupons.');
}
