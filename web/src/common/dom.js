// Building the page: h() makes elements from text, never from HTML strings,
// so nothing a user typed can become markup (no innerHTML anywhere).

// h('a.button#id', {href: '#/x', onclick: fn}, 'text', child, [children]) → Element.
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement((m && m[1]) || 'div');
  if (m && m[2])
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === '.') el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replaces el's children.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldSeq = 0;

// A labelled form field: label + input (or select/textarea via opts.tag), ids linked for screen readers.
export function field(label, opts = {}) {
  const id = opts.id || `f${++fieldSeq}`;
  const tag = opts.tag || 'input';
  const attrs = { id, name: opts.name || id, ...opts.attrs };
  if (tag === 'input') attrs.type = opts.type || 'text';
  if (opts.value !== undefined) attrs.value = opts.value;
  if (opts.required) attrs.required = true;
  const hintId = opts.hint ? `${id}-hint` : null;
  if (hintId) attrs['aria-describedby'] = hintId;
  const control = h(tag, attrs, (opts.options || []).map(([v, t]) =>
    h('option', { value: v, selected: String(v) === String(opts.value) ? true : null }, t)));
  if (tag === 'textarea' && opts.value !== undefined) control.value = opts.value;
  const wrap = h('div.field', h('label', { for: id }, label), control,
    hintId ? h('p.hint', { id: hintId, 'aria-live': 'polite' }, opts.hint) : null);
  wrap.control = control;
  wrap.hint = hintId ? wrap.querySelector('.hint') : null;
  return wrap;
}

// A table in a box that scrolls sideways on a narrow screen; the box is a named,
// focusable region, so keyboard users can scroll it too (axe: scrollable-region-focusable).
export function scroller(tableEl) {
  const cap = tableEl.querySelector('caption');
  return h('div.table-wrap', { tabindex: '0', role: 'region', 'aria-label': cap ? cap.textContent : 'Table' }, tableEl);
}

// A table from rows: columns = [[heading, row => cell]], caption for screen readers.
export function table(caption, columns, rows, empty = 'Nothing yet.') {
  if (!rows || rows.length === 0) return h('p.empty', empty);
  return scroller(
    h('table',
      h('caption', caption),
      h('thead', h('tr', columns.map(([t]) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows.map(r => h('tr', columns.map(([, f]) => h('td', f(r))))))));
}

// A message area announced to screen readers; show(text, kind) with kind 'error' | 'ok'.
export function notice() {
  const el = h('p.notice', { role: 'status', 'aria-live': 'polite' });
  el.show = (text, kind = 'ok') => { el.textContent = text; el.className = `notice ${kind}`; };
  el.clear = () => { el.textContent = ''; el.className = 'notice'; };
  return el;
}
