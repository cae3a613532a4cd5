// A list and a create/edit form over one CRUD resource of the API (rules,
// tiers, rewards, stamp cards, offers, segments): the list from GET path, a
// new record by POST, a change by PATCH of the fields that changed, and
// DELETE. Fields are described, not hand-built: {name, label, kind, required,
// nullable, options, hint, context, value} with kind one of text, textarea,
// int, select, bool, datetime, list, expr.
import { h, mount, field, notice } from '../common/dom.js';
import { api, get } from '../common/api.js';
import { errorText } from './main.js';
import { exprField } from './expr_editor.js';
import { toLocalInput, fromLocalInput, confirmed, scroller } from './kit.js';

function control(f, record) {
  const v = record ? record[f.name] : f.value;
  switch (f.kind) {
  case 'expr': return exprField(f.label, { context: f.context, value: v ?? '', required: f.required, empty: f.hint });
  case 'bool': {
    const id = `b-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
    const box = h('input', { type: 'checkbox', id, checked: (v ?? f.default ?? true) ? true : null });
    const wrap = h('div.check', box, h('label', { for: id }, f.label));
    wrap.control = box;
    return wrap;
  }
  case 'select': return field(f.label, { tag: 'select', value: v ?? '', required: f.required, hint: f.hint,
    options: [...(f.nullable || !f.required ? [['', f.none || '—']] : []), ...f.options().map(o => Array.isArray(o) ? o : [o, o])] });
  case 'textarea': return field(f.label, { tag: 'textarea', value: v ?? '', required: f.required, hint: f.hint });
  case 'int': return field(f.label, { type: 'number', value: v ?? '', required: f.required, hint: f.hint, attrs: { step: 1, inputmode: 'numeric' } });
  case 'datetime': return field(f.label, { type: 'datetime-local', value: toLocalInput(v), required: f.required, hint: f.hint || 'UTC' });
  case 'list': return field(f.label, { value: (v || []).join(', '), hint: f.hint || 'Comma-separated.' });
  default: return field(f.label, { value: v ?? '', required: f.required, hint: f.hint });
  }
}

// The JSON value of a field's control (undefined: leave it out).
function read(f, el) {
  if (f.kind === 'bool') return el.control.checked;
  const raw = el.control.value.trim();
  if (raw === '') return f.nullable ? null : undefined;
  if (f.kind === 'int') return Number(raw);
  if (f.kind === 'datetime') return fromLocalInput(raw);
  if (f.kind === 'list') return raw.split(',').map(s => s.trim()).filter(Boolean);
  if (f.kind === 'select' && f.numeric) return Number(raw);
  return raw;
}

// Renders the editor into container; cfg = {title, path, noun, columns, fields, prepare?, afterList?}.
export async function resourceEditor(container, cfg) {
  if (cfg.prepare) await cfg.prepare();
  const status = notice();
  const list = h('div');
  const formBox = h('div');
  mount(container, h('h2', cfg.title), cfg.intro ? h('p.muted', cfg.intro) : null, status, list, formBox);

  async function loadList() {
    const r = await get(cfg.path, cfg.listQuery);
    const rows = r.data;
    const actions = rec => h('div.actions',
      h('button.secondary', { type: 'button', onclick: () => showForm(rec) }, `Edit`, h('span.visually-hidden', ` ${rec.name}`)),
      cfg.noDelete ? null : h('button.danger', { type: 'button', onclick: () => remove(rec) }, 'Delete', h('span.visually-hidden', ` ${rec.name}`)));
    mount(list, rows.length === 0 ? h('p.empty', `No ${cfg.noun}s yet.`) : scroller(h('table',
      h('caption', `${cfg.title} (${rows.length})`),
      h('thead', h('tr', cfg.columns.map(([t]) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col' }, 'Actions'))),
      h('tbody', rows.map(rec => h('tr', { 'data-id': rec.id }, cfg.columns.map(([, fn], i) =>
        i === 0 ? h('th', { scope: 'row' }, fn(rec)) : h('td', fn(rec))), h('td', actions(rec))))))));
    if (cfg.afterList) cfg.afterList(rows, list);
  }

  async function remove(rec) {
    if (!confirmed(`Delete the ${cfg.noun} “${rec.name}”?`)) return;
    try {
      const r = await api('DELETE', `${cfg.path}/${rec.id}`, undefined, { idempotent: true });
      status.show(r && r.deleted === false ? `“${rec.name}” is in use, so it was deactivated instead.` : `Deleted “${rec.name}”.`);
      await loadList();
    } catch (e) { status.show(errorText(e), 'error'); }
  }

  function showForm(rec) {
    const controls = cfg.fields.filter(f => !(rec && f.createOnly)).map(f => [f, control(f, rec)]);
    const formStatus = notice();
    const form = h('form.card', { onsubmit: async e => {
      e.preventDefault();
      const body = {};
      for (const [f, el] of controls) {
        const v = read(f, el);
        if (v === undefined) continue;
        if (rec) {
          const before = rec[f.name] === undefined ? null : rec[f.name];
          if (JSON.stringify(before) === JSON.stringify(v)) continue;
        } else if (v === null) continue;
        body[f.name] = v;
      }
      if (cfg.toBody) cfg.toBody(body, rec);
      if (rec && Object.keys(body).length === 0) { formStatus.show('Nothing changed.'); return; }
      try {
        const saved = rec ? await api('PATCH', `${cfg.path}/${rec.id}`, body, { idempotent: true })
          : await api('POST', cfg.path, body, { idempotent: true });
        status.show(rec ? `Saved “${saved.name}”.` : `Added “${saved.name}”.`);
        showForm(null);
        await loadList();
      } catch (err) {
        formStatus.show(errorText(err), 'error');
        for (const [f, el] of controls)
          if (f.kind === 'expr' && err.message && err.message.includes(f.name)) el.showError(err.message.replace(/^[a-z_]+: /, ''));
      }
    } },
    h('h3', rec ? `Edit ${cfg.noun} “${rec.name}”` : `New ${cfg.noun}`),
    h('div.form-grid', controls.map(([, el]) => el)),
    formStatus,
    h('div.actions', h('button', { type: 'submit' }, rec ? `Save ${cfg.noun}` : `Add ${cfg.noun}`),
      rec ? h('button.secondary', { type: 'button', onclick: () => showForm(null) }, 'Cancel') : null));
    mount(formBox, form);
    if (rec) form.querySelector('input, textarea, select').focus();
  }

  await loadList();
  showForm(null);
}
