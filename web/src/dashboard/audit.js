// The audit log (Settings → Audit log): newest first, paged backwards by
// cursor. action, entity and entity id are filtered by the API; actor and
// dates are filtered here, over the pages loaded (the API has no such filter),
// and paging stops at the first entry older than the "from" day.
import { h, mount, field, notice } from '../common/dom.js';
import { get } from '../common/api.js';
import { fmtTime } from '../common/format.js';
import { errorText } from './main.js';
import { scroller } from './kit.js';

// Renders the log with its filters into box.
export async function auditLog(box) {
  const f = {
    action: field('Action', { hint: 'e.g. member.update, segment.create' }),
    entity: field('Entity', { hint: 'e.g. member, staff, segment' }),
    entity_id: field('Entity id', { type: 'number', attrs: { min: 1 } }),
    actor: field('Actor contains', { hint: 'a staff email, an API key name …' }),
    from: field('From day', { type: 'date' }),
    to: field('To day', { type: 'date' }),
  };
  const status = notice();
  const body = h('tbody');
  const more = h('button.secondary', { type: 'button', hidden: true, onclick: () => page() }, 'Load older entries');
  const tableEl = scroller(h('table',
    h('caption', 'Audit log, newest first'),
    h('thead', h('tr', ['When', 'Actor', 'Action', 'Entity', 'Details', 'From'].map(t => h('th', { scope: 'col' }, t)))), body));
  let before = null, shown = 0, done = false;

  const keep = e => {
    const actor = f.actor.control.value.trim().toLowerCase();
    const day = e.at.slice(0, 10);
    return (!actor || e.actor.label.toLowerCase().includes(actor)) &&
      (!f.from.control.value || day >= f.from.control.value) && (!f.to.control.value || day <= f.to.control.value);
  };

  async function page() {
    try {
      const r = await get('/v1/audit', { limit: 100, before, action: f.action.control.value.trim(), entity: f.entity.control.value.trim(),
        entity_id: f.entity_id.control.value });
      for (const e of r.data.filter(keep)) {
        body.append(h('tr', h('td', fmtTime(e.at)), h('td', `${e.actor.label} (${e.actor.kind})`), h('td', h('code', e.action)),
          h('td', `${e.entity}${e.entity_id ? ' #' + e.entity_id : ''}`), h('td', e.detail ? h('code', JSON.stringify(e.detail)) : '—'),
          h('td', e.ip || '—')));
        shown++;
      }
      before = r.next_before;
      const older = f.from.control.value && r.data.length && r.data.at(-1).at.slice(0, 10) < f.from.control.value;
      done = before === null || older;
      more.hidden = done;
      status.show(`${shown} entr${shown === 1 ? 'y' : 'ies'} shown${done ? '' : '; older ones may match'}.`);
    } catch (e) { status.show(errorText(e), 'error'); }
  }

  const form = h('form.card', { onsubmit: e => { e.preventDefault(); body.replaceChildren(); before = null; shown = 0; page(); } },
    h('h3', 'Filter'), h('div.form-grid', Object.values(f)), h('button', { type: 'submit' }, 'Apply filters'));
  mount(box, h('h2', 'Audit log'), form, status, tableEl, more);
  await page();
}
