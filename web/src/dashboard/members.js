// The Members page (#/members): a search (name part, exact email or external
// id) over a server-side paged list that follows the API's `after` cursor, so
// it never loads all members; #/members/<id> shows one member at a glance.
import { get } from '../common/api.js';
import { h, mount, field, table } from '../common/dom.js';
import { fmtTime } from '../common/format.js';
import { hashOf, memberName, pager, badge } from './panels.js';
import { errorText } from './main.js';
import * as detail from './member_detail.js';

const PAGE = 25;
const STATUSES = ['active', 'suspended', 'closed'];
let cursors = []; // the `after` of the pages before the one shown

// Renders the list, or a member when the hash names one.
export async function render(main, ctx) {
  if (ctx.params[0]) return detail.render(main, ctx, ctx.params[0]);
  const q = ctx.query.get('q') || '';
  const status = ctx.query.get('status') || '';
  const after = ctx.query.get('after') || '';
  if (!after) cursors = [];
  const search = field('Search members', { type: 'search', value: q,
    hint: 'A part of the name, or an exact email or external id.', attrs: { maxlength: 200, autocomplete: 'off' } });
  const statusField = field('Status', { tag: 'select', value: status,
    options: [['', 'Any status'], ...STATUSES.map(s => [s, s])] });
  const list = h('div', { 'aria-live': 'polite' }, h('p.muted', 'Loading…'));
  mount(main, h('h1', 'Members'),
    h('form.card', { role: 'search', 'aria-label': 'Members', onsubmit: e => {
      e.preventDefault();
      cursors = [];
      location.hash = hashOf(['members'], { q: search.control.value.trim(), status: statusField.control.value });
    } }, h('div.searchbar', search, statusField, h('button', { type: 'submit' }, 'Search'))),
    list);
  try {
    const page = await get('/v1/members', { q, status, after, limit: PAGE });
    const go = a => { location.hash = hashOf(['members'], { q, status, after: a }); };
    const n = cursors.length * PAGE;
    mount(list, memberTable(page.data, q),
      pager('Member pages', after ? () => go(cursors.pop() || '') : null,
        page.next_after ? () => { cursors.push(after); go(page.next_after); } : null,
        page.data.length ? `Members ${n + 1}–${n + page.data.length}` : ''));
  } catch (e) {
    mount(list, h('p.notice.error', { role: 'alert' }, errorText(e)));
  }
}

function memberTable(rows, q) {
  return table(q ? `Members matching “${q}”` : 'Members, by id', [
    ['Name', m => h('a', { href: `#/members/${m.id}` }, m.erased_at ? `erased member ${m.id}` : memberName(m))],
    ['Email', m => m.email || '—'],
    ['External id', m => m.external_id || '—'],
    ['Tier', m => m.tier || '—'],
    ['Status', m => badge(m.status, m.status === 'active' ? 'ok' : 'warn')],
    ['Joined', m => fmtTime(m.joined_at).slice(0, 10)],
  ], rows, q ? 'No member matches this search.' : 'No members yet.');
}
