// The Overview page (#/overview): KPIs (members, active in 90 days, repeat
// rate, points liability, open tickets, SLA breaches) and charts (retention
// curve from the cohorts, NPS by month, RFM segments). Every source loads in
// parallel and a failing one shows its error in its own card only.
import { api, get } from '../common/api.js';
import { h, mount, table } from '../common/dom.js';
import { fmtNumber, fmtMoney, fmtPercent } from '../common/format.js';
import { card, can, kpi } from './panels.js';
import { chart } from './charts.js';

const TICKET_ROLES = ['admin', 'manager', 'supervisor', 'agent'];
const OPEN = ['new', 'open', 'waiting', 'escalated'];
const COUNT_CAP = 1000; // tickets counted at most per status (then "1,000+")

// Renders the page into main.
export async function render(main, ctx) {
  const overview = get('/v1/analytics/overview');
  overview.catch(() => {}); // each card reports its own failure
  const cards = [
    card('Members', () => count('true').then(n => kpi('members in the program', fmtNumber(n))), { cls: 'tile' }),
    card('Active in 90 days', async () => {
      const [n, all] = await Promise.all([count('days_since_last_purchase <= 90'), count('true')]);
      return kpi('bought in the last 90 days', fmtNumber(n), all ? `${fmtPercent(n / all)} of members` : null);
    }, { cls: 'tile' }),
    card('Repeat-purchase rate', async () => {
      const s = (await overview).summary;
      return kpi('customers who bought again', s.customers ? fmtPercent(s.repeat_customers / s.customers) : '—',
        `${fmtNumber(s.repeat_customers)} of ${fmtNumber(s.customers)} customers`);
    }, { cls: 'tile' }),
    card('Points liability', async () => {
      const l = await get('/v1/reports/liability');
      return kpi('owed to members', fmtMoney(l.outstanding.value_cents, l.currency || 'USD'),
        `${fmtNumber(l.outstanding.points)} points outstanding`);
    }, { cls: 'tile' }),
  ];
  const service = [
    card('Open tickets', () => ticketsOr(ctx, async () => {
      const counts = await Promise.all(OPEN.map(s => countTickets({ status: s })));
      const total = counts.reduce((a, c) => a + c.n, 0);
      return kpi('new, open, waiting or escalated', capped(total, counts.some(c => c.more)),
        OPEN.map((s, i) => `${s} ${capped(counts[i].n, counts[i].more)}`).join(' · '));
    }), { cls: 'tile' }),
    card('SLA breaches', () => ticketsOr(ctx, async () => {
      const c = await countTickets({ breaching: 'true' }, t => OPEN.includes(t.status));
      return [kpi('unresolved tickets past or breaching their SLA', capped(c.n, c.more)),
        h('p', h('a', { href: '#/service?breaching=true' }, 'See them in the queue'))];
    }), { cls: 'tile' }),
  ];
  const charts = [
    card('Retention curve', async () => retention((await overview).cohorts)),
    card('NPS by month', () => nps()),
  ];
  const rfm = card('RFM segments', async () => segments((await overview).rfm));
  mount(main, h('h1', 'Overview'),
    h('div.grid.four', cards), h('div.grid.two', service), h('div.grid.two', charts), rfm);
  await Promise.all([...cards, ...service, ...charts, rfm].map(c => c.ready));
}

// How many members an expression selects now (a preview saves nothing).
async function count(expression) {
  const r = await api('POST', '/v1/segments/preview?limit=1', { expression });
  return r.count;
}

function ticketsOr(ctx, fill) {
  if (!can(ctx.me, TICKET_ROLES)) return h('p.muted', 'Tickets are not shown to your role.');
  return fill();
}

// Counts tickets of a filter, page by page (200 a page), up to COUNT_CAP; keep(t) filters further.
async function countTickets(query, keep = () => true) {
  let n = 0, seen = 0, after = '';
  for (;;) {
    const r = await get('/v1/tickets', { ...query, after, limit: 200 });
    n += r.data.filter(keep).length;
    seen += r.data.length;
    if (!r.next_after) return { n, more: false };
    if (seen >= COUNT_CAP) return { n, more: true };
    after = r.next_after;
  }
}

function capped(n, more) { return more ? `${fmtNumber(n)}+` : fmtNumber(n); }

// The share of a cohort's customers buying N months after acquisition, averaged over the cohorts that reached month N.
export function retentionCurve(cohorts, minCohorts = 3) {
  const out = [];
  for (let k = 0; ; k++) {
    const vals = cohorts.filter(c => c.customers > 0 && c.retention_percent.length > k).map(c => c.retention_percent[k]);
    if (vals.length < minCohorts) break;
    out.push({ month: k, percent: vals.reduce((a, v) => a + v, 0) / vals.length, cohorts: vals.length });
  }
  return out;
}

function retention(c) {
  const curve = retentionCurve(c.cohorts || []).slice(0, 25);
  if (curve.length < 2) return h('p.empty', 'Not enough cohorts yet for a retention curve.');
  const m1 = curve[1], m3 = curve[3], m12 = curve[12];
  const summary = `Retention curve over ${curve.length} months: ${m1.percent.toFixed(1)} % buy again in month 1` +
    (m3 ? `, ${m3.percent.toFixed(1)} % in month 3` : '') + (m12 ? `, ${m12.percent.toFixed(1)} % in month 12` : '') + '.';
  return [
    chart('line', curve.map(p => `M${p.month}`), [{ label: 'Customers buying (%)', data: curve.map(p => +p.percent.toFixed(1)) }],
      summary, { y: { max: 100, title: { display: true, text: '% of the cohort' } }, x: { title: { display: true, text: 'months after the first purchase' } } }),
    h('p.hint', `Averaged over the monthly acquisition cohorts (as of ${c.as_of}); month 0 is the month of the first purchase.`),
    h('details', h('summary', 'The numbers'), table('Retention by months since acquisition', [
      ['Month', p => String(p.month)], ['Buying', p => `${p.percent.toFixed(1)} %`], ['Cohorts', p => String(p.cohorts)],
    ], curve)),
  ];
}

async function nps() {
  const r = await get('/v1/reports/satisfaction', { by: 'month' });
  const rows = r.data || [];
  const t = r.totals || {};
  const head = h('div.grid.two',
    kpi('NPS, last 12 months', t.nps && t.nps.score !== null && t.nps.score !== undefined ? fmtNumber(Math.round(t.nps.score)) : '—',
      t.nps ? `${fmtNumber(t.nps.answered)} answers of ${fmtNumber(t.nps.sent)} sent` : null),
    kpi('CSAT', t.csat && t.csat.score !== null && t.csat.score !== undefined ? `${Math.round(t.csat.score)} %` : '—',
      t.csat ? `${fmtNumber(t.csat.answered)} answers of ${fmtNumber(t.csat.sent)} sent` : null));
  const scored = rows.filter(x => x.nps && x.nps.score !== null);
  const numbers = h('details', h('summary', 'The numbers'), table('NPS and CSAT by month', [
    ['Month', x => x.key],
    ['NPS', x => x.nps && x.nps.score !== null ? String(Math.round(x.nps.score)) : '—'],
    ['NPS answers', x => x.nps ? `${fmtNumber(x.nps.answered)} / ${fmtNumber(x.nps.sent)}` : '—'],
    ['CSAT', x => x.csat && x.csat.score !== null ? `${Math.round(x.csat.score)} %` : '—'],
  ], rows, 'No surveys sent in the last 12 months.'));
  if (!scored.length)
    return [head, h('p.empty', 'No NPS answers yet, so no trend to draw.'), numbers];
  const summary = `NPS by month: ${scored.map(x => `${x.key} ${Math.round(x.nps.score)}`).join(', ')}.`;
  return [head, chart('line', rows.map(x => x.key),
    [{ label: 'NPS', data: rows.map(x => (x.nps && x.nps.score !== null ? Math.round(x.nps.score) : null)) }],
    summary, { y: { beginAtZero: false, min: -100, max: 100 } }), numbers];
}

function segments(rfm) {
  const segs = (rfm && rfm.segments) || [];
  if (!segs.length) return h('p.empty', 'No customers scored yet.');
  const summary = `Customers by RFM segment: ${segs.map(s => `${s.name} ${s.customers}`).join(', ')}.`;
  return [
    chart('bar', segs.map(s => s.name), [{ label: 'Customers', data: segs.map(s => s.customers) }], summary),
    h('details', h('summary', 'The numbers'), table(`RFM segments as of ${rfm.as_of}`, [
      ['Segment', s => s.name], ['Customers', s => fmtNumber(s.customers)], ['Share', s => fmtPercent(s.share)],
      ['Share of revenue', s => fmtPercent(s.revenue_share)],
    ], segs)),
  ];
}
