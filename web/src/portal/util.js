// What the portal's pages share: error text, signed points, the member's
// session state (me) and a timer registry stopped when the page changes.
import { ApiError } from '../common/api.js';
import { fmtNumber } from '../common/format.js';
import { table } from '../common/dom.js';

// The text to show for a failed call (the API's message, never markup).
export function errorText(e) {
  if (e instanceof ApiError) {
    if (e.status === 429) return 'Too many attempts. Please wait a few minutes and try again.';
    return e.message || e.code;
  }
  return String(e && e.message ? e.message : e);
}

// 120 → "+120", -40 → "−40".
export function signedPoints(n) {
  if (n === null || n === undefined) return '—';
  return n > 0 ? `+${fmtNumber(n)}` : n < 0 ? `−${fmtNumber(-n)}` : '0';
}

// The signed change a statement entry made to the member's spendable points.
export function entryDelta(e) {
  for (const k of ['delta', 'change', 'points_change'])
    if (typeof e[k] === 'number') return e[k];
  if (typeof e.points === 'number' && e.points < 0) return e.points;
  const toMember = /^member:available/.test(e.credit || '');
  const fromMember = /^member:available/.test(e.debit || '');
  if (toMember && !fromMember) return e.points;
  if (fromMember && !toMember) return -e.points;
  if (e.direction === 'out' || /^(spend|expire|hold|reversal)$/.test(e.kind || '')) return -Math.abs(e.points);
  return e.points;
}

// The list inside an answer ({data: [...]} or a bare array).
export function list(r) {
  if (Array.isArray(r)) return r;
  return (r && (r.data || r.items)) || [];
}

const timers = new Set();

// setInterval that the next page change clears.
export function every(ms, fn) {
  const t = setInterval(fn, ms);
  timers.add(t);
  return t;
}

// Stops every timer of the page being left.
export function stopTimers() {
  for (const t of timers) clearInterval(t);
  timers.clear();
}
