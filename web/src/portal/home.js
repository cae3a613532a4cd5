// Home (balance, points expiring soon, tier and progress) and the statement of points.
import { h, mount, table } from '../common/dom.js';
import { get } from '../common/api.js';
import { fmtNumber, fmtTime } from '../common/format.js';
import { signedPoints, entryDelta, list } from './util.js';

// A progress bar with its numbers for screen readers.
export function progressBar(label, value, max) {
  const pct = max > 0 ? Math.max(0, Math.min(100, Math.round((value / max) * 100))) : 0;
  const fill = h('span');
  fill.style.width = `${pct}%`;
  return h('div.progress', { role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0,
    'aria-valuemax': max, 'aria-valuenow': Math.min(value, max), 'aria-valuetext': `${pct} %` }, fill);
}

function day(t) { return fmtTime(t).slice(0, 10); }

function tierCard(tier) {
  if (!tier) return null;
  const current = tier.tier && typeof tier.tier === 'object' ? tier.tier.name : (tier.name || tier.tier || tier.current);
  const next = tier.next;
  return h('section.card', { 'aria-labelledby': 'tier-h' },
    h('h2#tier-h', 'Your tier'),
    h('p.tier-name', current ? String(current) : 'No tier yet'),
    next ? [
      h('p', `Next: ${next.tier || next.name}`),
      next.threshold ? progressBar(`Progress to ${next.tier || next.name}`, next.value || 0, next.threshold) : null,
      next.message ? h('p.hint', next.message) : null,
    ] : h('p.hint', 'You are at the top tier.'),
    tier.keep && tier.keep.message ? h('p.hint', tier.keep.message) : null);
}

// Home: balance, points expiring soon, tier with progress to the next.
export async function renderHome(main, ctx) {
  const me = await ctx.refreshMe();
  const pts = me.points || {};
  const soon = pts.expiring_soon || [];
  const first = me.member && me.member.first_name;
  mount(main,
    h('h1', first ? `Hello, ${first}` : 'Your rewards'),
    h('div.grid.two',
      h('div.kpi', h('div.label#balance-label', 'Points balance'),
        h('div.value#balance', { 'aria-describedby': 'balance-label' }, fmtNumber(pts.balance ?? pts.available ?? 0))),
      pts.pending ? h('div.kpi', h('div.label', 'Pending (not yet spendable)'), h('div.value', fmtNumber(pts.pending))) : null),
    h('section.card', { 'aria-labelledby': 'expiring-h' },
      h('h2#expiring-h', 'Points expiring soon'),
      soon.length ? h('ul', soon.map(x => h('li', `${fmtNumber(x.points)} points expire on ${day(x.expires_at)}`)))
        : h('p.empty', 'None of your points expire soon.')),
    tierCard(me.tier),
    h('div.actions',
      h('a.button', { href: '#/rewards' }, 'See rewards'),
      h('a.button.secondary', { href: '#/statement' }, 'See statement')));
}

// Statement: the member's entries with their reasons, newest first, paged.
export async function renderStatement(main, ctx) {
  const before = ctx.query.get('before') || '';
  const r = await get('/v1/portal/statement', { before, limit: 20 });
  const rows = list(r);
  const next = r && r.next_before;
  mount(main,
    h('h1', 'Statement'),
    table('Your points, newest first', [
      ['Date', e => h('span.nowrap', day(e.occurred_at || e.created_at))],
      ['What', e => e.reason || e.kind],
      ['Points', e => { const d = entryDelta(e); return h(d < 0 ? 'span.minus' : 'span.plus', signedPoints(d)); }],
      ['Balance', e => fmtNumber(e.available_after ?? e.balance_after)],
    ], rows, 'No points yet. Your purchases will show here.'),
    h('div.pager',
      before ? h('a.button.secondary', { href: '#/statement' }, 'Newest') : null,
      next ? h('a.button.secondary', { href: `#/statement?before=${encodeURIComponent(next)}` }, 'Older entries') : null));
}
