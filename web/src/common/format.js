// Formatting numbers, money and times the same way on every page.

const num = new Intl.NumberFormat('en');

// 12345 → "12,345".
export function fmtNumber(n) { return n === null || n === undefined ? '—' : num.format(n); }

// Cents → "$12.34" in the program's currency (default USD).
export function fmtMoney(cents, currency = 'USD') {
  if (cents === null || cents === undefined) return '—';
  return new Intl.NumberFormat('en', { style: 'currency', currency }).format(cents / 100);
}

// 0.1234 → "12.3 %".
export function fmtPercent(x, digits = 1) {
  return x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)} %`;
}

// An ISO time or epoch microseconds → "2026-11-25 09:41" (UTC).
export function fmtTime(t) {
  if (t === null || t === undefined || t === '') return '—';
  const d = typeof t === 'number' ? new Date(t / 1000) : new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().slice(0, 16).replace('T', ' ');
}

// Seconds → "2 h 05 min" (negative: "overdue by …").
export function fmtDuration(s) {
  if (s === null || s === undefined) return '—';
  const neg = s < 0; s = Math.abs(Math.round(s));
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const text = d ? `${d} d ${hr} h` : hr ? `${hr} h ${String(m).padStart(2, '0')} min` : `${m} min`;
  return neg ? `overdue by ${text}` : text;
}
