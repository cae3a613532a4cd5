// The member's own things: refer a friend, the private feed, surveys, terms and preferences.
import { h, mount, field, notice, table } from '../common/dom.js';
import { api, get } from '../common/api.js';
import { fmtTime } from '../common/format.js';
import { errorText, list } from './util.js';

function day(t) { return t ? fmtTime(t).slice(0, 10) : '—'; }

// A read-only field holding text with a Copy button (the clipboard API, else select the text to copy by hand).
export function copyBox(label, text) {
  const f = field(label, { value: text, attrs: { readonly: true } });
  f.control.classList.add('mono');
  const status = notice();
  const button = h('button', { type: 'button', onclick: async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      status.show('Copied.', 'ok');
    } catch {
      f.control.focus();
      f.control.select();
      status.show('Copy the selected text from the field above (Ctrl+C, or long-press on a phone).', 'ok');
    }
  } }, 'Copy link');
  return h('div.copy-box', f, h('div.actions', button), status);
}

// Refer a friend: the member's referral link to share.
export async function renderRefer(main, ctx) {
  const me = await ctx.refreshMe();
  const ref = me.referral;
  mount(main, h('h1', 'Refer a friend'),
    ref && ref.url ? [
      h('p', 'Share your link: when a friend joins with it and shops, you both earn a bonus.'),
      h('p', 'Your referral code: ', h('strong.mono', ref.code)),
      copyBox('Your referral link', ref.url),
    ] : h('p.empty', 'You have no referral link yet.'));
}

// My feed: the private feed link of the member's offers and points.
export async function renderFeed(main, ctx) {
  const me = await ctx.refreshMe();
  mount(main, h('h1', 'My feed'),
    me.feed_url ? [
      h('p', 'Follow your offers and points in a feed reader with this private link. Keep it to yourself: anyone with it can read your feed.'),
      copyBox('Your private feed link', me.feed_url),
      h('p', h('a', { href: me.feed_url }, 'Open my feed')),
    ] : h('p.empty', 'Your feed is not available.'));
}

const SURVEY_KIND = { purchase: 'Your opinion on a purchase', ticket: 'Your opinion on our help', nps: 'Would you recommend us?' };

// Surveys: links to the surveys waiting for the member's answer.
export async function renderSurveys(main) {
  const surveys = list(await get('/v1/portal/surveys'));
  mount(main, h('h1', 'Surveys'),
    surveys.length ? h('ul.plain', surveys.map(s => h('li.card',
      h('h2', SURVEY_KIND[s.kind] || 'Survey'),
      s.sent_at ? h('p.hint', `Sent on ${day(s.sent_at)}`) : null,
      h('a.button', { href: s.url }, `Answer survey ${s.id}`))))
      : h('p.empty', 'No surveys are waiting for you. Thank you!'));
}

// The program settings a member cares about, in words (the rest are the shop's business).
const TERM_NAMES = {
  expiry: 'Points expiry', pending_days: 'Days before new points can be spent', point_value_millicents: 'Value of a point (1/1000 cent)',
  currency: 'Currency', excluded_categories: 'Categories that earn no points', excluded_skus: 'Products that earn no points',
  rounding: 'Rounding of points', coupon_expiry_refund: 'Points back for an expired coupon',
  referral_referrer_points: 'Referral bonus for you', referral_referred_points: 'Referral bonus for your friend',
  referral_min_purchase_cents: 'Friend\u2019s first purchase needed (cents)',
};

function termValue(v) {
  if (v === undefined || v === null || v === '') return '\u2014';
  let x = v;
  try { x = JSON.parse(v); } catch { return String(v); }
  if (Array.isArray(x)) return x.length ? x.join(', ') : 'none';
  if (x && typeof x === 'object') return Object.entries(x).map(([k, y]) => `${k}: ${y}`).join(', ');
  if (typeof x === 'boolean') return x ? 'yes' : 'no';
  return String(x);
}

// Terms: the program's current terms and what changed in the last version.
export async function renderTerms(main) {
  const t = await get('/v1/portal/terms');
  const changes = (t.changes || []).filter(c => TERM_NAMES[c.name]);
  const first = changes.length > 0 && changes.every(c => c.before === '' || c.before === null);
  mount(main, h('h1', 'Terms'),
    h('p.hint', `Version ${t.version}${t.updated_at ? `, updated on ${day(t.updated_at)}` : ''}`),
    h('section.card', { 'aria-labelledby': 'terms-h' }, h('h2#terms-h', 'The program\u2019s terms'), h('p.terms-text', t.text)),
    h('section', { 'aria-labelledby': 'changes-h' }, h('h2#changes-h', 'What changed'),
      first ? h('p', 'These are the program\u2019s first terms.') : table('Changes in this version', [
        ['Term', c => TERM_NAMES[c.name]],
        ['Before', c => termValue(c.before)],
        ['Now', c => termValue(c.after)],
      ], changes, 'Nothing that concerns you changed in this version.')));
}

const CONSENTS = [['email', 'Email'], ['sms', 'Text messages (SMS)'], ['post', 'Post'], ['phone', 'Phone calls']];

// Preferences: marketing consents saved together, and a one-click unsubscribe from marketing email.
export async function renderPreferences(main, ctx) {
  const me = await ctx.refreshMe();
  const consent = (me.member && me.member.consent) || {};
  const boxes = {};
  const status = notice();
  const checks = CONSENTS.map(([k, label]) => {
    const id = `consent-${k}`;
    boxes[k] = h('input', { type: 'checkbox', id, name: k });
    boxes[k].checked = !!consent[k];
    return h('div.check', boxes[k], h('label', { for: id }, label));
  });
  const form = h('form', { onsubmit: async e => {
    e.preventDefault();
    const body = { consent: Object.fromEntries(CONSENTS.map(([k]) => [k, boxes[k].checked])) };
    try {
      await api('PATCH', '/v1/portal/preferences', body);
      status.show('Your preferences are saved.', 'ok');
    } catch (err) { status.show(errorText(err), 'error'); }
  } },
  h('fieldset', h('legend', 'You agree that we contact you with offers by:'), checks),
  h('div.actions', h('button', { type: 'submit' }, 'Save preferences')));
  const unsubStatus = notice();
  const unsub = h('button.secondary', { type: 'button', onclick: async () => {
    try {
      const r = await api('POST', '/v1/portal/unsubscribe');
      boxes.email.checked = false;
      unsubStatus.show(r && r.changed === false ? 'You were already unsubscribed from marketing email.'
        : 'You are unsubscribed from marketing email. You will still get messages about your account.', 'ok');
    } catch (err) { unsubStatus.show(errorText(err), 'error'); }
  } }, 'Unsubscribe from marketing email');
  mount(main, h('h1', 'Preferences'),
    h('section.card', { 'aria-labelledby': 'consent-h' }, h('h2#consent-h', 'Marketing messages'), form, status),
    h('section.card', { 'aria-labelledby': 'unsub-h' }, h('h2#unsub-h', 'Stop marketing email'),
      h('p', 'One click and we stop sending you marketing email.'), unsub, unsubStatus),
    h('p.hint', `Signed in as ${(me.member && me.member.email) || ''}`));
}
