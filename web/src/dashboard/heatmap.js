// The cohort retention heatmap: a real table (caption, th scope) whose cells
// are coloured by value from JS (CSSOM, allowed by the CSP), with the text
// colour that keeps the contrast readable.
import { h } from '../common/dom.js';
import { scroller } from './kit.js';

const LOW = [244, 247, 251];  // 0 %
const HIGH = [11, 61, 115];   // 100 %

function luminance([r, g, b]) {
  const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}

// The background for a share (0..100) and the text colour (black or white) with the better contrast.
export function cellColours(percent) {
  const t = Math.max(0, Math.min(1, percent / 100));
  const rgb = LOW.map((lo, i) => Math.round(lo + (HIGH[i] - lo) * Math.sqrt(t)));
  const L = luminance(rgb);
  const onBlack = (L + 0.05) / 0.05, onWhite = 1.05 / (L + 0.05);
  return { background: `rgb(${rgb.join(', ')})`, color: onBlack >= onWhite ? '#000000' : '#ffffff' };
}

// The table: cohorts = [{month, customers, retention_percent: [..]}], at most `months` columns.
export function cohortHeatmap(cohorts, months) {
  const width = Math.min(months, Math.max(0, ...cohorts.map(c => c.retention_percent.length)));
  const cols = [...Array(width).keys()];
  return scroller(h('table.heatmap',
    h('caption', 'Cohort retention: the share of each month\'s new customers who bought again N months later'),
    h('thead', h('tr', h('th', { scope: 'col' }, 'Cohort'), h('th', { scope: 'col' }, 'Customers'),
      cols.map(m => h('th', { scope: 'col' }, `Month ${m}`)))),
    h('tbody', cohorts.map(c => h('tr', h('th', { scope: 'row' }, c.month), h('td', String(c.customers)),
      cols.map(m => {
        const v = c.retention_percent[m];
        if (v === undefined) return h('td.future', '');
        const td = h('td', `${Math.round(v)} %`);
        const { background, color } = cellColours(v);
        td.style.backgroundColor = background;
        td.style.color = color;
        return td;
      }))))));
}
