// The knowledge base (#/service/kb, #/service/kb/<article id>): search and
// read published articles, acknowledge them, and the caller's training status.
import { api, get } from '../common/api.js';
import { h, mount, field, notice } from '../common/dom.js';
import { fmtTime } from '../common/format.js';
import { newKey, hashOf, card, badge } from './panels.js';
import { errorText } from './main.js';
import { subnav } from './service.js';

// Renders the search (no id) or one article into main.
export async function render(main, ctx, id) {
  if (id) return article(main, ctx, id);
  const q = ctx.query.get('q') || '';
  const search = field('Search articles', { type: 'search', value: q });
  const results = card(q ? `Articles matching “${q}”` : 'Published articles', () => hits(q));
  mount(main, h('h1', 'Knowledge base'), subnav(ctx.me, 'kb'),
    training(),
    h('form.card', { role: 'search', 'aria-label': 'Knowledge base', onsubmit: e => {
      e.preventDefault();
      location.hash = hashOf(['service', 'kb'], { q: search.control.value.trim() });
    } }, search, h('button', { type: 'submit' }, 'Search')),
    results);
  await results.ready;
}

// The caller's training: articles of their role still to acknowledge, and what that withholds.
function training() {
  return card('Your training', async () => {
    const t = await get('/v1/kb/training');
    if (t.complete) return h('p', badge('complete', 'ok'), ' You have read every training article of your role.');
    return [
      h('p', badge('to do', 'warn'), ` ${t.pending.length} article${t.pending.length === 1 ? '' : 's'} to read and acknowledge.`),
      h('ul', t.pending.map(a => h('li', h('a', { href: `#/service/kb/${a.id}` }, a.title), h('span.muted', ` (version ${a.version})`)))),
      t.blocked_actions && t.blocked_actions.length
        ? h('p.hint', `Until then you may not: ${t.blocked_actions.map(x => x.replace(/_/g, ' ')).join(', ')}.`) : null,
    ];
  });
}

async function hits(q) {
  const r = q ? await get('/v1/kb/search', { q, limit: 20 }) : await get('/v1/kb/articles', { status: 'published', limit: 100 });
  if (!r.data.length) return h('p.empty', 'No article matches.');
  return h('ul.hits', r.data.map(a => h('li',
    h('h3', h('a', { href: `#/service/kb/${a.id}` }, a.title)),
    h('p.muted', a.excerpt || (a.body || '').slice(0, 160)))));
}

async function article(main, ctx, id) {
  const a = await api('GET', `/v1/kb/articles/${encodeURIComponent(id)}`);
  document.title = `${a.title} · patron`;
  const status = notice();
  const ack = h('button', { type: 'button', onclick: async () => {
    try {
      const r = await api('POST', `/v1/kb/articles/${a.id}/acknowledge`, undefined, { idempotent: true, key: newKey() });
      status.show(`Acknowledged version ${r.version} on ${fmtTime(r.acknowledged_at)}.`, 'ok');
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, 'I have read this article');
  mount(main, h('h1', a.title), subnav(ctx.me, 'kb'),
    h('article.card',
      h('p.muted', `Version ${a.version} · ${a.status} · updated ${fmtTime(a.updated_at)}`,
        a.training_roles && a.training_roles.length ? ` · training for ${a.training_roles.join(', ')}` : ''),
      a.body.split(/\n{2,}/).map(p => h('p.kb-body', p)),
      a.tags && a.tags.length ? h('p', a.tags.map(t => [badge(t), ' '])) : null),
    h('div.actions', a.status === 'published' ? ack : null, h('a.button.secondary', { href: '#/service/kb' }, 'Back to the knowledge base')),
    status);
}
