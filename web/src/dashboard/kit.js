// Small building blocks the Program, Campaigns, Analytics and Settings pages
// share: a sub-navigation, KPI tiles, a section that loads on its own, a
// numbers table for charts and form values converted to API JSON.
import { h, mount, notice } from '../common/dom.js';
import { errorText } from './main.js';

// A sub-navigation: items = [[id, title]], links to #/<page>/<id>; current marked.
export function subnav(label, page, items, current) {
  return h('nav.subnav', { 'aria-label': label }, h('ul', items.map(([id, title]) =>
    h('li', h('a', { href: `#/${page}/${id}`, 'aria-current': id === current ? 'page' : null }, title)))));
}

// A KPI tile: label above a big value.
export function kpi(label, value) {
  return h('div.kpi', h('div.label', label), h('div.value', value));
}

// A section (h2 + body) whose content comes from an async loader; a failure shows in the section only.
export function section(title, loader, opts = {}) {
  const body = h('div', h('p.muted', 'Loading…'));
  const el = h('section.card', { 'aria-labelledby': null }, h('h2', title), body);
  Promise.resolve().then(() => loader(body)).catch(e => {
    const n = notice();
    n.show(errorText(e), 'error');
    mount(body, n);
  });
  if (opts.id) el.id = opts.id;
  return el;
}

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

// A table in a horizontally scrolling box that keyboard users can focus and
// scroll (axe: scrollable-region-focusable), named after the table's caption.
export function scroller(tableEl) {
  return scrollable(h('div.table-wrap', tableEl));
}

// Makes a div.table-wrap (such as dom.js table() returns) focusable and named; other elements pass through.
export function scrollable(el) {
  if (!el.classList || !el.classList.contains('table-wrap')) return el;
  const cap = el.querySelector('caption');
  el.setAttribute('tabindex', '0');
  el.setAttribute('role', 'region');
  el.setAttribute('aria-label', cap ? cap.textContent : 'Table');
  return el;
}
