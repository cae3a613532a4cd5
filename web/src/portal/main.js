// The member portal: a member signs in with a link sent by email (the link's
// page only shows a button, since mail scanners open links), then moves
// between pages by hash (#/rewards, #/help/42). The session is an HttpOnly
// cookie; changes carry the CSRF token from the sign-in answer or /me.
import { api, setCsrf, ApiError } from '../common/api.js';
import { h, mount, field, notice } from '../common/dom.js';
import { PAGES } from './pages.js';
import { errorText, stopTimers } from './util.js';

const app = document.getElementById('app');
document.body.classList.add('portal');
let me = null;

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('?')[0].split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(location.hash.split('?')[1] || '') };
}

// Goes to a portal page: navigate('help', 42) → #/help/42.
export function navigate(...parts) {
  location.hash = '#/' + parts.map(p => encodeURIComponent(String(p))).join('/');
}

// Reads the signed-in member again (balance, tier ...) after a change.
async function refreshMe() {
  me = await api('GET', '/v1/portal/me');
  if (me.csrf_token) setCsrf(me.csrf_token);
  return me;
}

function shell(current) {
  const main = h('main#main', { tabindex: '-1' });
  const name = me.member ? [me.member.first_name, me.member.last_name].filter(Boolean).join(' ') : '';
  mount(app,
    h('a.skip', { href: '#main', onclick: e => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    h('header.top.portal-top',
      h('a.brand', { href: '#/' }, 'My rewards'),
      h('div.who', name ? h('span', name) : null,
        h('button.secondary', { type: 'button', onclick: signOut }, 'Sign out')),
      h('nav', { 'aria-label': 'Portal' }, h('ul', PAGES.map(p =>
        h('li', h('a', { href: `#/${p.id}`, 'aria-current': p.id === current ? 'page' : null }, p.title)))))),
    main);
  return main;
}

async function route() {
  if (!me) return;
  stopTimers();
  const { parts, query } = parseHash();
  const page = PAGES.find(p => p.id === parts[0]) || PAGES[0];
  const main = shell(page.id);
  document.title = `${page.title} · My rewards`;
  try {
    await page.render(main, { params: parts.slice(1), query, me, navigate, refreshMe });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return signedOut('Your session has ended. Please sign in again.');
    mount(main, h('h1', page.title), h('p.notice.error', { role: 'alert' }, errorText(e)));
  }
}

// The sign-in page: asks for an email and sends a link (never says whether the address is a member's).
function signInForm(message, info) {
  stopTimers();
  document.title = 'Sign in · My rewards';
  const email = field('Email', { type: 'email', attrs: { autocomplete: 'email' }, required: true });
  const status = notice();
  if (message) status.show(message, 'error');
  else if (info) status.show(info, 'ok');
  const button = h('button', { type: 'submit' }, 'Email me a sign-in link');
  const form = h('form.card.login', { onsubmit: async e => {
    e.preventDefault();
    status.clear();
    button.disabled = true;
    try {
      await api('POST', '/v1/portal/signin-links', { email: email.control.value.trim() });
      status.show('We sent you a link if this address belongs to a member. It is valid for 15 minutes and works once.', 'ok');
    } catch (err) {
      status.show(errorText(err), 'error');
    } finally {
      button.disabled = false;
    }
  } },
  h('h1', 'Sign in to your rewards'),
  h('p', 'Enter the email address of your membership. We will email you a link to sign in — no password needed.'),
  email, status, h('div.actions', button));
  mount(app, h('main#main', form));
  email.control.focus();
}

function signedOut(message) {
  me = null;
  const code = location.pathname === '/portal/join' && new URLSearchParams(location.search).get('referral_code');
  setCsrf('');
  if (location.pathname !== '/portal' || location.hash) history.replaceState(null, '', '/portal');
  signInForm(message, code ? `A friend invited you. Give the code ${code} when you join, in a shop or online; members sign in here.` : '');
}

// The page of an emailed link: nothing happens until the member presses the button.
function linkPage(token) {
  document.title = 'Sign in · My rewards';
  const status = notice();
  const button = h('button', { type: 'button', onclick: async () => {
    button.disabled = true;
    status.show('Signing you in…', 'ok');
    try {
      const r = await api('POST', '/v1/portal/sessions', { token });
      setCsrf(r.csrf_token);
      history.replaceState(null, '', '/portal');
      await refreshMe();
      route();
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 400 || err.status === 404))
        signedOut('This sign-in link has already been used or has expired. Enter your email to get a new one.');
      else {
        status.show(errorText(err), 'error');
        button.disabled = false;
      }
    }
  } }, 'Sign in');
  mount(app, h('main#main', h('div.card.login',
    h('h1', 'Sign in to your rewards'),
    h('p', 'Press the button to sign in on this device.'),
    status, h('div.actions', button))));
  button.focus();
}

async function signOut() {
  try { await api('POST', '/v1/portal/signout'); } catch { /* signed out either way */ }
  signedOut();
}

async function start() {
  const token = new URLSearchParams(location.search).get('token');
  if (location.pathname.replace(/\/$/, '') === '/portal/signin' && token) return linkPage(token);
  try {
    await refreshMe();
  } catch {
    return signedOut();
  }
  // /portal/rewards works as well as /portal#/rewards.
  const named = PAGES.find(p => location.pathname === `/portal/${p.id}`);
  if (location.pathname !== '/portal')
    history.replaceState(null, '', '/portal' + (location.hash || (named ? `#/${named.id}` : '')));
  route();
}

window.addEventListener('hashchange', route);
start();
