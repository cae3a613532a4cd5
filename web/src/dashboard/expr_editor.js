// An expression field that checks itself as you type: member expressions
// (segments, tier conditions, offer and campaign audiences) go to
// POST /v1/segments/preview 300 ms after the last keystroke, which answers how
// many members match now or where the error is (line, column, "did you
// mean"). Purchase expressions (rule and stamp card conditions) cannot be run
// against members, so the server checks them when the form is saved.
import { h, field } from '../common/dom.js';
import { api, get, ApiError } from '../common/api.js';
import { fmtNumber } from '../common/format.js';

let fieldsPromise = null;

// GET /v1/fields and the declared attributes, once per page load.
function loadFields() {
  fieldsPromise ??= Promise.all([get('/v1/fields'), get('/v1/attributes').catch(() => ({ data: [] }))])
    .then(([f, a]) => [...f.data, ...a.data.map(x => ({ name: `attributes.${x.name}`, type: x.type, context: 'member',
      description: x.description || 'a declared attribute' }))]);
  return fieldsPromise;
}

const CONTEXTS = { member: ['member'], purchase: ['purchase', 'member', 'line'], line: ['line'] };

// The list of fields an expression of this context may name, in a <details>.
export function fieldsHelp(context = 'member') {
  const list = h('ul', h('li', 'Loading…'));
  loadFields().then(all => {
    list.replaceChildren(...all.filter(f => CONTEXTS[context].includes(f.context)).map(f =>
      h('li', h('code', f.name), ` (${f.type}${context === 'purchase' && f.context === 'line' ? ', inside any(lines, …)' : ''}) — ${f.description}`)));
  }).catch(() => list.replaceChildren(h('li', 'The field list could not be loaded.')));
  return h('details.fields-help', h('summary', 'Fields you can use'), list);
}

// "line 1, col 8: unknown field 'tierr', did you mean 'tier'?" → a sentence naming line and column.
export function describeError(message) {
  const m = /^line (\d+), col (\d+): (.*)$/s.exec(message || '');
  return m ? `Error at line ${m[1]}, column ${m[2]}: ${m[3]}` : message;
}

// A labelled textarea for an expression; opts: {context, value, required, empty (hint when empty), name}.
// The element has .control, .value(), .check() (a promise) and .showError(message).
export function exprField(label, opts = {}) {
  const context = opts.context || 'member';
  const live = context === 'member';
  const emptyHint = opts.empty || (live ? 'Checked as you type against the members of now.'
    : 'A purchase expression: checked when you save.');
  const wrap = field(label, { tag: 'textarea', value: opts.value || '', required: opts.required, hint: emptyHint,
    attrs: { spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', rows: 3 } });
  wrap.classList.add('expr', 'wide');
  const { control, hint } = wrap;
  let timer = null, seq = 0;
  const say = (text, kind) => { hint.textContent = text; hint.className = `hint${kind ? ' ' + kind : ''}`; };
  const mark = bad => control.setAttribute('aria-invalid', bad ? 'true' : 'false');

  wrap.value = () => control.value.trim();
  wrap.showError = message => { mark(true); say(describeError(message), 'error'); };
  wrap.check = async () => {
    clearTimeout(timer);
    const text = wrap.value();
    const mine = ++seq;
    if (!text) { mark(false); say(emptyHint); return null; }
    if (!live) { mark(false); say(emptyHint); return null; }
    say('Checking…');
    try {
      const r = await api('POST', '/v1/segments/preview?limit=1', { expression: text });
      if (mine !== seq) return null;
      mark(false);
      say(`valid — ${fmtNumber(r.count)} member${r.count === 1 ? '' : 's'} match right now`, 'ok');
      return r.count;
    } catch (e) {
      if (mine !== seq) return null;
      if (e instanceof ApiError && e.status === 400) wrap.showError(e.message);
      else { mark(false); say(`Could not check it now: ${e.message}`, 'error'); }
      return null;
    }
  };
  control.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(wrap.check, 300); });
  wrap.append(fieldsHelp(context));
  if (control.value && live) wrap.check();
  return wrap;
}
