// An expression field that checks itself as you type, 300 ms after the last
// keystroke. Member expressions (segments, tier conditions, offer and campaign
// audiences) go to POST /v1/segments/preview, which answers how many members
// match now or where the error is; purchase and line expressions (rule and
// stamp card conditions) cannot be run against members, so they go to
// POST /v1/expressions/check, which parses and type-checks them as the save
// does. Either way an error shows its line, column and "did you mean".
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

// Asks the server about text: {ok: true, says} or {ok: false, message}; throws when it cannot answer.
async function ask(text, context, how) {
  if (how === 'count') {
    try {
      const r = await api('POST', '/v1/segments/preview?limit=1', { expression: text });
      return { ok: true, says: `valid — ${fmtNumber(r.count)} member${r.count === 1 ? '' : 's'} match right now` };
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) return { ok: false, message: e.message };
      throw e;
    }
  }
  const r = await api('POST', '/v1/expressions/check', { expression: text, context });
  if (r.valid) return { ok: true, says: `valid — understood as ${r.understood}` };
  return { ok: false, message: r.error.message };
}

// A labelled textarea for an expression; opts: {context, value, required, empty (hint when empty), name,
// check: 'count' (segment preview: member expressions, the default for them) or 'parse' (expressions/check)}.
// The element has .control, .value(), .check() (a promise: true valid, false not, null unknown) and .showError(message).
export function exprField(label, opts = {}) {
  const context = opts.context || 'member';
  const how = opts.check || (context === 'member' ? 'count' : 'parse');
  const emptyHint = opts.empty || (how === 'count' ? 'Checked as you type against the members of now.'
    : `A ${context} expression: checked as you type.`);
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
    say('Checking…');
    try {
      const r = await ask(text, context, how);
      if (mine !== seq) return null;
      if (r.ok) { mark(false); say(r.says, 'ok'); } else wrap.showError(r.message);
      return r.ok;
    } catch (e) {
      if (mine !== seq) return null;
      mark(false);
      say(`Could not check it now (it is checked again when you save): ${e.message}`, 'error');
      return null;
    }
  };
  control.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(wrap.check, 300); });
  wrap.append(fieldsHelp(context));
  if (control.value) wrap.check();
  return wrap;
}
