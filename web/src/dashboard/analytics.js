// The Analytics page: cohort retention heatmap, RFM grid with movement,
// CLV distribution, model checks (BG/NBD against a holdout) and the points
// liability. Each section loads on its own, so a slow model fit does not hold
// the heatmap back.
import { h, mount, field } from '../common/dom.js';
import { get } from '../common/api.js';
import { fmtNumber, fmtMoney, fmtPercent } from '../common/format.js';
import { kpi, numbers, daysAgo, scroller } from './kit.js';
import { card } from './panels.js';
import { chart } from './charts.js';
import { cohortHeatmap } from './heatmap.js';

let CUR = 'EUR';

// Renders the page into main.
export async function render(main) {
  CUR = (await get('/v1/program').catch(() => ({ currency: 'EUR' }))).currency;
  mount(main, h('h1', 'Analytics'),
    h('nav.subnav', { 'aria-label': 'Analytics sections' }, h('ul',
      [['cohorts', 'Cohorts'], ['rfm', 'RFM'], ['clv', 'CLV'], ['checks', 'Model checks'], ['liability', 'Liability']]
        .map(([id, t]) => h('li', h('a', { href: `#an-${id}`, onclick: e => jump(e, id) }, t))))),
    card('Cohort retention', cohorts, { id: 'an-cohorts' }),
    card('RFM segments', rfm, { id: 'an-rfm' }),
    card('Customer lifetime value', clv, { id: 'an-clv' }),
    card('Model checks: predicted against actual', checks, { id: 'an-checks' }),
    card('Points liability over time', liability, { id: 'an-liability' }));
}

// In-page links would change the hash route: scroll instead.
function jump(e, id) {
  e.preventDefault();
  const el = document.getElementById(`an-${id}`);
  el.scrollIntoView();
  el.querySelector('h2').setAttribute('tabindex', '-1');
  el.querySelector('h2').focus();
}

async function cohorts(body) {
  const r = await get('/v1/analytics/cohorts');
  const months = field('Months shown', { tag: 'select', value: '12',
    options: [['12', '12 months'], ['24', '24 months'], ['120', 'All']] });
  const holder = h('div');
  const draw = () => mount(holder, cohortHeatmap(r.cohorts, Number(months.control.value)));
  months.control.addEventListener('change', draw);
  draw();
  const rt = r.rates;
  mount(body,
    h('div.grid.four',
      kpi('Customers', fmtNumber(rt.customers)),
      kpi('Repeat purchase rate', fmtPercent(rt.repeat_purchase_rate)),
      kpi(`Churn (${rt.churn.window_days} days)`, fmtPercent(rt.churn.rate)),
      kpi('Median days between purchases', fmtNumber(rt.days_between_purchases.median))),
    h('p.muted', `As of ${r.as_of}. Rows: the month of the first purchase; columns: months since it; a cell is the share of the cohort who bought that month.`),
    h('div.an-controls', months), holder);
}

const SEGMENT_NAMES = {};

async function rfm(body) {
  const compare = field('Compare with', { type: 'date', value: daysAgo(90), hint: 'Movement between segments since this day.' });
  const holder = h('div');
  const load = async () => {
    const r = await get('/v1/analytics/rfm', { compare_to: compare.control.value });
    for (const s of r.segments) SEGMENT_NAMES[s.key] = s.name;
    mount(holder, rfmGrid(r), rfmSegments(r), rfmMovement(r));
  };
  compare.control.addEventListener('change', () => load().catch(e => mount(holder, h('p.notice.error', String(e.message)))));
  mount(body, h('p.muted', 'Recency (rows) against frequency (columns), scored 1 to 5; each cell: customers and their segment.'),
    h('div.an-controls', compare), holder);
  await load();
}

function rfmGrid(r) {
  const cell = (rr, ff) => r.grid.find(c => c.r === rr && c.f === ff) || { customers: 0, segment: '' };
  const max = Math.max(1, ...r.grid.map(c => c.customers));
  return scroller(h('table.rfm-grid',
    h('caption', `RFM grid: ${fmtNumber(r.customers)} customers as of ${r.as_of}`),
    h('thead', h('tr', h('th', { scope: 'col' }, 'Recency \\ Frequency'), [1, 2, 3, 4, 5].map(f => h('th', { scope: 'col' }, `F ${f}`)))),
    h('tbody', [5, 4, 3, 2, 1].map(rr => h('tr', h('th', { scope: 'row' }, `R ${rr}`), [1, 2, 3, 4, 5].map(ff => {
      const c = cell(rr, ff);
      const td = h('td', h('span.rfm-count', fmtNumber(c.customers)), h('br'), h('span.rfm-seg', SEGMENT_NAMES[c.segment] || c.segment));
      td.style.setProperty('--share', String(c.customers / max));
      if (c.customers / max > 0.5) td.classList.add('strong');
      return td;
    }))))));
}

function rfmSegments(r) {
  return scroller(h('table',
    h('caption', 'Segments'),
    h('thead', h('tr', ['Segment', 'Customers', 'Share', 'Revenue', 'Share of revenue'].map(t => h('th', { scope: 'col' }, t)))),
    h('tbody', r.segments.map(s => h('tr', h('th', { scope: 'row' }, s.name), h('td', fmtNumber(s.customers)),
      h('td', fmtPercent(s.share)), h('td', fmtMoney(s.revenue_cents, CUR)), h('td', fmtPercent(s.revenue_share)))))));
}

function rfmMovement(r) {
  if (!r.movement) return null;
  const moved = r.movement.rows.filter(m => m.from !== m.to).sort((a, b) => b.customers - a.customers);
  const name = k => k === 'none' ? 'Not yet a customer' : (SEGMENT_NAMES[k] || k);
  return h('div',
    h('h3', `Movement from ${r.movement.from} to ${r.movement.to}`),
    moved.length === 0 ? h('p.empty', 'Nobody changed segment.') :
      scroller(h('table',
        h('caption', `Customers who changed segment (${fmtNumber(moved.reduce((s, m) => s + m.customers, 0))} in all)`),
        h('thead', h('tr', ['From', 'To', 'Customers'].map(t => h('th', { scope: 'col' }, t)))),
        h('tbody', moved.map(m => h('tr', h('td', name(m.from)), h('td', name(m.to)), h('td', fmtNumber(m.customers))))))));
}

async function clv(body) {
  const r = await get('/v1/analytics/clv');
  if (!r.buckets.length) { mount(body, h('p.empty', 'No member has a lifetime value yet (the analytics_scores job computes them).')); return; }
  const labels = r.buckets.map(b => `${fmtMoney(b.from_cents, CUR)}–${fmtMoney(b.to_cents, CUR)}`);
  mount(body,
    h('div.grid.three', kpi('Members with a CLV', fmtNumber(r.members)), kpi('Mean CLV', fmtMoney(r.mean_cents, CUR)),
      kpi('Median CLV', fmtMoney(r.median_cents, CUR))),
    chart('bar', labels, [{ label: 'Members', data: r.buckets.map(b => b.members) }],
      `Histogram of member lifetime value: ${r.buckets.length} buckets, most members (${fmtNumber(Math.max(...r.buckets.map(b => b.members)))}) in one bucket`,
      { x: 'Lifetime value', y: 'Members' }),
    numbers('Members by lifetime value', ['Lifetime value', 'Members'], r.buckets.map((b, i) => [labels[i], fmtNumber(b.members)])));
}

async function checks(body) {
  const cal = daysAgo(91);
  const r = await get('/v1/analytics/checks', { calibration_end: cal });
  const f = r.by_frequency, t = r.tracking;
  const fmt = v => v.toFixed(2);
  mount(body,
    h('p.muted', `BG/NBD fitted on purchases up to ${r.calibration_end}, checked on the holdout to ${r.holdout_end} (${fmtNumber(r.customers)} customers). Mean absolute error: BG/NBD ${fmt(r.totals.bgnbd_mae)}, baseline ${fmt(r.totals.baseline_mae)}.`),
    h('h3', 'Holdout purchases by calibration frequency'),
    chart('bar', f.map(x => x.x), [
      { label: 'Actual', data: f.map(x => x.actual) }, { label: 'BG/NBD', data: f.map(x => x.bgnbd) },
      { label: 'Baseline', data: f.map(x => x.baseline) }],
    `Mean holdout purchases per customer by purchases in calibration, actual against BG/NBD and a baseline; actual total ${fmt(r.totals.actual)}, BG/NBD ${fmt(r.totals.bgnbd)}`,
    { x: 'Repeat purchases in calibration', y: 'Mean holdout purchases' }),
    numbers('Holdout purchases by calibration frequency', ['Frequency', 'Customers', 'Actual', 'BG/NBD', 'Baseline'],
      f.map(x => [x.x, fmtNumber(x.customers), fmt(x.actual), fmt(x.bgnbd), fmt(x.baseline)])),
    h('h3', 'Cumulative repeat purchases by week'),
    chart('line', t.map(x => x.date), [
      { label: 'Actual', data: t.map(x => x.actual) }, { label: 'BG/NBD', data: t.map(x => x.bgnbd) }],
    `Cumulative repeat purchases by week, actual against BG/NBD: ${fmt(t.at(-1).actual)} actual and ${fmt(t.at(-1).bgnbd)} predicted by ${t.at(-1).date}`,
    { x: 'Week', y: 'Repeat purchases' }),
    numbers('Cumulative repeat purchases by week', ['Week', 'Actual', 'BG/NBD', 'Baseline'],
      t.map(x => [x.date, fmt(x.actual), fmt(x.bgnbd), fmt(x.baseline)])));
}

async function liability(body) {
  const r = await get('/v1/reports/liability');
  const cur = r.currency, o = r.outstanding;
  const past = r.owed_by_month.slice(-24);
  // Ahead: what is owed now runs off as lots expire, if they go unused (a projection).
  let left = o.points;
  const runoff = r.by_expiry_month.filter(m => m.month !== 'never').map(m => {
    left -= m.points;
    return { month: m.month, points: left, value: Math.floor(left * r.point_value_millicents / 1000) };
  });
  mount(body,
    h('div.grid.four', kpi('Outstanding points', fmtNumber(o.points)), kpi('Worth', fmtMoney(o.value_cents, cur)),
      kpi('Pending', fmtNumber(o.pending)), kpi('Expired so far', fmtNumber(r.totals.expired))),
    h('p.muted', `As of ${r.as_of.slice(0, 10)}: what the program owed its members at the end of each month (the last 24).`),
    past.length ? chart('line', past.map(m => m.month), [{ label: 'Points owed', data: past.map(m => m.points), fill: true }],
      `Liability over time: ${fmtNumber(past[0].points)} points owed at the end of ${past[0].month}, ${fmtNumber(o.points)} now`,
      { x: 'Month', y: 'Points' }) : h('p.empty', 'No points have been issued yet.'),
    numbers('Liability at the end of each month', ['Month', 'Points owed', 'Worth'],
      past.map(m => [m.month, fmtNumber(m.points), fmtMoney(m.value_cents, cur)])),
    h('h3', 'Ahead: as points expire'),
    runoff.length ? chart('line', runoff.map(m => m.month), [{ label: 'Points still owed', data: runoff.map(m => m.points) }],
      `Projected liability: ${fmtNumber(o.points)} points now, ${fmtNumber(runoff.at(-1).points)} after the last expiry in ${runoff.at(-1).month} if nothing is spent`,
      { x: 'Month', y: 'Points' }) : h('p.empty', 'No points expire.'),
    numbers('Projected liability by month', ['Month', 'Points still owed', 'Worth'],
      runoff.map(m => [m.month, fmtNumber(m.points), fmtMoney(m.value, cur)])),
    h('h3', 'Breakage by month'),
    r.breakage.length ? chart('bar', r.breakage.map(m => m.month), [{ label: 'Points expired unused', data: r.breakage.map(m => m.points) }],
      `Points that expired unused by month: ${fmtNumber(r.totals.expired)} in all`, { x: 'Month', y: 'Points' })
      : h('p.empty', 'No points have expired yet.'),
    numbers('Totals since the start', ['Movement', 'Points'],
      [['Issued', fmtNumber(r.totals.issued)], ['Redeemed', fmtNumber(r.totals.redeemed)],
        ['Expired', fmtNumber(r.totals.expired)], ['Reversed by refunds', fmtNumber(r.totals.reversed)]], 'Totals since the start'));
}
