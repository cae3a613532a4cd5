// Small pieces the overview, members and service pages share: cards that load
// on their own (one failing source shows its error in its card only), role
// checks, idempotency keys, hash links with a query, and SLA timers.
import { h, mount, table } from '../common/dom.js';
import { fmtDuration, fmtTime } from '../common/format.js';
import { errorText } from './main.js';

// True when the role is one of roles (the operation's x-roles in docs/openapi.yaml).
export function can(me, roles) { return roles.includes(me.role); }

export { newKey } from '../common/api.js';

// '#/service?status=open' from ['service'] and {status: 'open'} (empty values left out).
export function hashOf(parts, query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return '#/' + parts.map(p => encodeURIComponent(String(p))).join('/') + (s ? `?${s}` : '');
}

// A card with an h2 whose body is filled by fill(body) (async); an error shows in this card only.
// opts: cls (a class), heading (another tag than h2), id.
export function card(title, fill, opts = {}) {
  const body = h('div', { 'aria-busy': 'true' }, h('p.muted', 'Loading…'));
  const el = h(`section.card${opts.cls ? '.' + opts.cls : ''}`, { 'aria-label': title, id: opts.id },
    h(opts.heading || 'h2', title), body);
  el.reload = async () => {
    body.setAttribute('aria-busy', 'true');
    try {
      const out = await fill(body);
      if (out !== undefined && out !== body) mount(body, out); // a filler may mount itself
    } catch (e) {
      mount(body, h('p.notice.error', { role: 'alert' }, errorText(e)));
    } finally {
      body.removeAttribute('aria-busy');
    }
  };
  el.ready = el.reload();
  return el;
}

// A KPI tile: label and value (value may be an element).
export function kpi(label, value, hint) {
  return h('div.kpi', h('div.label', label), h('div.value', value), hint ? h('p.hint', hint) : null);
}

// A definition list from [[term, value]] (values null/undefined are left out).
export function facts(pairs) {
  return h('dl.facts', pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([t, v]) => [h('dt', t), h('dd', v)]));
}

const CLOSED = ['resolved', 'closed'];

// The SLA of a ticket now: {text, kind ('ok'|'warn'|'bad'|''), breached, due}.
export function sla(t, now = Date.now()) {
  const breached = !!(t.breached_first_response || t.breached_resolution);
  if (CLOSED.includes(t.status))
    return { text: breached ? 'done, SLA breached' : 'done', kind: breached ? 'bad' : '', breached, due: null };
  const firstDue = !t.first_responded_at && t.first_response_due_at;
  const due = firstDue || t.resolution_due_at;
  const what = firstDue ? 'first response' : 'resolution';
  if (t.status === 'waiting')
    return { text: 'waiting on the customer', kind: breached ? 'bad' : '', breached, due };
  if (!due) return { text: 'no SLA', kind: breached ? 'bad' : '', breached, due };
  const left = (new Date(due).getTime() - now) / 1000;
  if (left < 0) return { text: `${what} ${fmtDuration(left)}`, kind: 'bad', breached: true, due };
  return { text: `${what} in ${fmtDuration(left)}`, kind: breached ? 'bad' : left < 3600 ? 'warn' : 'ok', breached, due };
}

// The SLA cell: a timer (with the due time as a tooltip-free text) and a "breached" badge.
export function slaCell(t) {
  const s = sla(t);
  return h('span.sla', h('span', { class: s.kind === 'bad' ? 'error' : null }, s.text),
    s.due ? h('span.muted', ` (due ${fmtTime(s.due)})`) : null,
    s.breached ? [' ', h('span.badge.bad', 'SLA breached')] : null);
}

// A badge for a status word (kinds: ok, bad, warn or plain).
export function badge(text, kind) { return h(`span.badge${kind ? '.' + kind : ''}`, text); }

// A member's name for people: "Jules Dupont", else the email or external id, else "member N".
export function memberName(m) {
  const name = [m.first_name, m.last_name].filter(Boolean).join(' ');
  return name || m.email || m.external_id || `member ${m.id}`;
}

// A pager with Previous/Next buttons; prev/next are functions or null (disabled).
export function pager(label, prev, next, status) {
  return h('nav.pager', { 'aria-label': label },
    h('button.secondary', { type: 'button', disabled: !prev, onclick: prev || null }, 'Previous page'),
    h('button.secondary', { type: 'button', disabled: !next, onclick: next || null }, 'Next page'),
    status ? h('span.muted', status) : null);
}
