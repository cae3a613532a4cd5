// Small building blocks the Program, Campaigns, Analytics and Settings pages
// share: a sub-navigation, a numbers table for charts and form values
// converted to API JSON (KPI tiles and cards that load on their own are panels.js's).
import { h, scroller } from '../common/dom.js';

// A sub-navigation: items = [[id, title]], links to #/<page>/<id>; current marked.
export function subnav(label, page, items, current) {
  return h('nav.subnav', { 'aria-label': label }, h('ul', items.map(([id, title]) =>
    h('li', h('a', { href: `#/${page}/${id}`, 'aria-current': id === current ? 'page' : null }, title)))));
}

export { kpi } from './panels.js';
export { scroller };


// The numbers behind a chart, as a table in a <details>: headers = [..], rows = [[..]].
export function numbers(caption, headers, rows, summary = 'Show the numbers') {
  return h('details.numbers', h('summary', summary),
    scroller(h('table',
      h('caption', caption),
      h('thead', h('tr', headers.map(t => h('th', { scope: 'col' }, t)))),
      h('tbody', rows.map(r => h('tr', r.map((c, i) => i === 0 ? h('th', { scope: 'row' }, c) : h('td', c))))))));
}

// A date n days before today (UTC) as YYYY-MM-DD.
export function daysAgo(n) {
  return new Date(Date.now() - n * 86400000).toISOString().slice(0, 10);
}

// An ISO time → the value of a datetime-local input (UTC), '' for none.
export function toLocalInput(iso) { return iso ? String(iso).slice(0, 16) : ''; }

// A datetime-local value (read as UTC) → ISO time, null for ''.
export function fromLocalInput(v) { return v ? `${v.length === 16 ? v + ':00' : v}Z` : null; }

// Confirms a destructive action in a dialog-less way (window.confirm is keyboard-usable).
export function confirmed(text) { return window.confirm(text); }
