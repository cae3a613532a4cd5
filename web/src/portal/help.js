// Help: a live chat with an agent (polled while open), complaints and
// suggestions, and the member's requests with their conversations.
import { h, mount, field, notice, table } from '../common/dom.js';
import { api, get } from '../common/api.js';
import { fmtTime } from '../common/format.js';
import { errorText, list, every } from './util.js';

const KIND = { chat: 'Chat', complaint: 'Complaint', suggestion: 'Suggestion', question: 'Question', other: 'Other' };
const POLL_MS = 3000;

function ticketForm(kindChoice, submitText, onCreated) {
  const status = notice();
  const kind = kindChoice ? field('Kind', { tag: 'select', options: [['complaint', 'Complaint'], ['suggestion', 'Suggestion']] }) : null;
  const subject = field(kindChoice ? 'Subject' : 'Chat topic', { required: true, attrs: { maxlength: 200 } });
  const body = field(kindChoice ? 'Message' : 'Your first message', { tag: 'textarea', required: true });
  const form = h('form', { onsubmit: async e => {
    e.preventDefault();
    status.clear();
    try {
      const t = await api('POST', '/v1/portal/tickets', {
        kind: kind ? kind.control.value : 'chat', subject: subject.control.value, body: body.control.value });
      onCreated(t, status);
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, kind, subject, body, status, h('div.actions', h('button', { type: 'submit' }, submitText)));
  return form;
}

// Help: start a chat, write a complaint or suggestion, list my requests; #/help/<id> shows one.
export async function renderHelp(main, ctx) {
  if (ctx.params[0]) return renderTicket(main, ctx, ctx.params[0]);
  const tickets = list(await get('/v1/portal/tickets', { limit: 50 }));
  mount(main, h('h1', 'Help'),
    h('div.grid.two',
      h('section.card', { 'aria-labelledby': 'chat-h' }, h('h2#chat-h', 'Chat with us'),
        h('p', 'An agent answers here while you keep this page open.'),
        ticketForm(false, 'Start chat', t => ctx.navigate('help', t.id))),
      h('section.card', { 'aria-labelledby': 'write-h' }, h('h2#write-h', 'Complaint or suggestion'),
        ticketForm(true, 'Send', (t, status) => { status.show('Thank you, we received it.', 'ok'); ctx.navigate('help', t.id); }))),
    h('section', { 'aria-labelledby': 'mine-h' }, h('h2#mine-h', 'My requests'),
      table('Your requests, newest first', [
        ['Subject', t => h('a', { href: `#/help/${t.id}` }, t.subject)],
        ['Kind', t => KIND[t.kind] || t.kind],
        ['Status', t => h('span.badge', t.status)],
        ['Updated', t => fmtTime(t.updated_at || t.created_at)],
      ], tickets.slice().sort((a, b) => b.id - a.id), 'You have not contacted us yet.')));
}

function messageItem(m) {
  const staff = m.from === 'staff';
  return h(staff ? 'li.msg.staff' : 'li.msg.you',
    h('p.msg-meta', h('strong', staff ? 'Agent' : 'You'), ' · ', fmtTime(m.created_at)),
    h('p.msg-body', m.body));
}

// One request: its conversation, a reply box, and for a chat new messages every few seconds.
async function renderTicket(main, ctx, id) {
  const t = await get(`/v1/portal/tickets/${encodeURIComponent(id)}`);
  const chat = t.kind === 'chat';
  const items = h('ol.plain');
  const state = h('span.badge', t.status);
  const log = h('div.messages', { role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation', tabindex: '0' }, items);
  let shown = -1;
  const show = (msgs, ticketStatus) => {
    if (ticketStatus) state.textContent = ticketStatus;
    if (msgs.length === shown) return;
    shown = msgs.length;
    mount(items, msgs.map(messageItem));
    log.scrollTop = log.scrollHeight;
  };
  show(t.messages || []);
  const status = notice();
  const reply = field(chat ? 'Your message' : 'Your reply', { tag: 'textarea', required: true });
  const closed = t.status === 'closed';
  const form = closed ? h('p.hint', 'This request is closed. Start a new one on the Help page if you need more help.')
    : h('form', { onsubmit: async e => {
      e.preventDefault();
      status.clear();
      try {
        await api('POST', `/v1/portal/tickets/${t.id}/messages`, { body: reply.control.value });
        reply.control.value = '';
        const again = await get(`/v1/portal/tickets/${t.id}`);
        show(again.messages || [], again.status);
        reply.control.focus();
      } catch (err) { status.show(errorText(err), 'error'); }
    } }, reply, status, h('div.actions', h('button', { type: 'submit' }, 'Send')));
  mount(main,
    h('p', h('a', { href: '#/help' }, '← All my requests')),
    h('h1', t.subject),
    h('p', h('span.badge', KIND[t.kind] || t.kind), ' ', state, ' · opened ', fmtTime(t.created_at)),
    chat ? h('p.hint', 'Live chat: new messages appear here every few seconds.') : null,
    log, form);
  if (chat && !closed)
    every(POLL_MS, async () => {
      try {
        const now = await get(`/v1/portal/tickets/${t.id}`);
        show(now.messages || [], now.status); /* an agent's answer opens the chat */
      } catch { /* try again next time */ }
    });
}
