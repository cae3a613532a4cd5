// The staff dashboard: signs staff in, then shows the pages their role may
// use. Routing is by hash (#/members/42), so the server serves one page.
import { api, setCsrf, ApiError } from '../common/api.js';
import { h, mount, field, notice } from '../common/dom.js';
import { PAGES } from './pages.js';
import { destroyCharts } from './charts.js';

const app = document.getElementById('app');
let me = null;

// The pages a role sees in the navigation (the API refuses the rest anyway).
function visiblePages(role) {
  return PAGES.filter(p => p.roles.includes(role));
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('?')[0].split('/').filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(location.hash.split('?')[1] || '');
  return { parts, query };
}

// Goes to a page: navigate('members', 42) → #/members/42.
export function navigate(...parts) {
  location.hash = '#/' + parts.map(p => encodeURIComponent(String(p))).join('/');
}

function shell(pages, current) {
  const main = h('main#main', { tabindex: '-1' });
  const signOut = h('button.secondary', { type: 'button', onclick: logout }, 'Sign out');
  mount(app,
    h('a.skip', { href: '#main', onclick: e => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    h('header.top',
      h('a.brand', { href: '#/' }, 'patron'),
      h('nav', { 'aria-label': 'Main' }, h('ul', pages.map(p =>
        h('li', h('a', { href: `#/${p.id}`, 'aria-current': p.id === current ? 'page' : null }, p.title))))),
      h('div.who', h('span', `${me.label} · ${me.role}`), signOut)),
    main);
  return main;
}

async function route() {
  if (!me) return;
  const pages = visiblePages(me.role);
  const { parts, query } = parseHash();
  const page = pages.find(p => p.id === parts[0]) || pages[0];
  destroyCharts(); /* the previous page's */
  const main = shell(pages, page.id);
  document.title = `${page.title} · patron`;
  try {
    await page.render(main, { params: parts.slice(1), query, me, navigate });
  } catch (e) {
    mount(main, h('h1', page.title), h('p.notice.error', { role: 'alert' }, errorText(e)));
  }
}

// The text to show for a failed call.
export function errorText(e) {
  if (e instanceof ApiError) return `${e.message} (${e.code})`;
  return String(e && e.message ? e.message : e);
}

function loginForm(message) {
  document.title = 'Sign in · patron';
  const email = field('Email', { type: 'email', attrs: { autocomplete: 'username' }, required: true });
  const password = field('Password', { type: 'password', attrs: { autocomplete: 'current-password' }, required: true });
  const status = notice();
  if (message) status.show(message, 'error');
  const form = h('form.card.login', { onsubmit: async e => {
    e.preventDefault();
    status.clear();
    try {
      const r = await api('POST', '/v1/auth/login', { email: email.control.value, password: password.control.value });
      setCsrf(r.csrf_token);
      me = r.staff;
      if (!location.hash) location.hash = '#/';
      route();
    } catch (err) {
      status.show(errorText(err), 'error');
      password.control.value = '';
      password.control.focus();
    }
  } }, h('h1', 'Sign in to patron'), email, password, status, h('button', { type: 'submit' }, 'Sign in'));
  mount(app, h('main#main', form));
  email.control.focus();
}

async function logout() {
  try { await api('POST', '/v1/auth/logout'); } catch { /* signed out either way */ }
  me = null;
  setCsrf('');
  loginForm();
}

async function start() {
  try {
    const r = await api('GET', '/v1/auth/me');
    if (r.kind !== 'staff') throw new Error('not a staff session');
    setCsrf(r.csrf_token);
    me = r;
    route();
  } catch {
    loginForm();
  }
}

window.addEventListener('hashchange', route);
start();
