// Rewards (redeem points for a coupon, with a confirmation), coupons, offers and stamp cards.
import { h, mount, notice, table } from '../common/dom.js';
import { api, get } from '../common/api.js';
import { fmtNumber, fmtTime } from '../common/format.js';
import { errorText, list } from './util.js';
import { progressBar } from './home.js';

function day(t) { return t ? fmtTime(t).slice(0, 10) : '—'; }

// What a reward gives, in words.
function gives(r) {
  if (!r) return '';
  // The API gives no currency to members: the reward's name says the amount.
  if (r.kind === 'amount_off') return 'Money off your basket';
  if (r.kind === 'percent_off' && r.percent_off) return `${r.percent_off} % off`;
  if (r.kind === 'free_product') return 'A free product';
  if (r.kind === 'gift') return 'A gift';
  return '';
}

function couponBox(c) {
  return h('div.card.coupon', { role: 'group', 'aria-label': 'Your coupon' },
    h('p', 'Your coupon code:'),
    h('p.coupon-code.mono', c.code),
    h('p.hint', `${(c.reward && c.reward.name) || ''}${c.expires_at ? ` — valid until ${day(c.expires_at)}` : ''}`));
}

function rewardCard(r, balance, ctx, status) {
  const cost = r.cost_points ?? r.cost ?? 0;
  const short = Math.max(0, cost - balance);
  const blocked = r.redeemable === false || short > 0;
  const why = r.redeemable === false && r.reason ? r.reason
    : short > 0 ? `You need ${fmtNumber(short)} more points.` : null;
  const hintId = `why-${r.id}`;
  const confirm = h('div.confirm');
  const redeem = h('button', { type: 'button', disabled: blocked, 'aria-describedby': why ? hintId : null,
    onclick: () => {
      redeem.hidden = true;
      const yes = h('button', { type: 'button', onclick: async () => {
        yes.disabled = true;
        try {
          const c = await api('POST', `/v1/portal/rewards/${r.id}/redeem`, undefined, { idempotent: true });
          await renderRewards(ctx.main, ctx, c.coupon || c);
        } catch (e) {
          status.show(errorText(e), 'error');
          mount(confirm);
          redeem.hidden = false;
        }
      } }, `Yes, redeem for ${fmtNumber(cost)} points`);
      const no = h('button.secondary', { type: 'button', onclick: () => { mount(confirm); redeem.hidden = false; redeem.focus(); } }, 'Cancel');
      mount(confirm, h('p', `Redeem “${r.name}” for ${fmtNumber(cost)} points?`), h('div.actions', yes, no));
      yes.focus();
    } }, `Redeem ${r.name}`);
  return h('li.card.reward',
    h('h2', r.name),
    r.description ? h('p', r.description) : null,
    h('p', h('strong', `${fmtNumber(cost)} points`), gives(r) ? ` · ${gives(r)}` : ''),
    r.min_tier ? h('p.hint', `For ${r.min_tier} members and above.`) : null,
    why ? h('p.hint', { id: hintId }, why) : null,
    h('div.actions', redeem), confirm);
}

// Rewards: the catalog; a redeemed reward's coupon shows at the top.
export async function renderRewards(main, ctx, coupon) {
  const [me, r] = await Promise.all([ctx.refreshMe(), get('/v1/portal/rewards')]);
  const balance = (me.points && (me.points.balance ?? me.points.available)) || 0;
  const status = notice();
  const rewards = list(r);
  const inner = { ...ctx, main };
  if (coupon) status.show(`Redeemed. Your coupon code is ${coupon.code}.`, 'ok');
  mount(main,
    h('h1', 'Rewards'),
    h('p', 'You have ', h('strong#rewards-balance', fmtNumber(balance)), ' points.'),
    status,
    coupon ? couponBox(coupon) : null,
    rewards.length ? h('ul.plain.rewards', rewards.map(x => rewardCard(x, balance, inner, status)))
      : h('p.empty', 'No rewards are available right now.'));
}

// Coupons: the member's coupons with their codes and validity.
export async function renderCoupons(main) {
  const r = await get('/v1/portal/coupons');
  mount(main, h('h1', 'Coupons'),
    table('Your coupons', [
      ['Code', c => h('span.mono', c.code)],
      ['Reward', c => (c.reward && c.reward.name) || ''],
      ['Status', c => h(c.usable ? 'span.badge.ok' : 'span.badge', c.usable ? 'ready to use' : c.status)],
      ['Valid until', c => day(c.expires_at)],
    ], list(r), 'You have no coupons yet. Redeem a reward to get one.'));
}

function offerCard(o, status, reload) {
  const carries = o.carries || {};
  let action = null;
  if (carries.kind === 'reward') {
    action = carries.claimed
      ? h('p', h('span.badge.ok', 'Claimed'), carries.claimed_at ? ` on ${day(carries.claimed_at)}` : '')
      : h('button', { type: 'button', onclick: async e => {
        e.target.disabled = true;
        try {
          const c = await api('POST', `/v1/portal/offers/${o.id}/claim`, undefined, { idempotent: true });
          const code = (c.coupon || c).code;
          await reload(code ? `Claimed. Your coupon code is ${code}.` : 'Claimed.');
        } catch (err) {
          status.show(errorText(err), 'error');
          e.target.disabled = false;
        }
      } }, `Claim ${o.title || o.name}`);
  } else if (carries.kind === 'rule') action = h('p.hint', 'Applies automatically to your purchases.');
  return h('li.card', h('h2', o.title || o.name), o.description ? h('p', o.description) : null,
    o.ends_at ? h('p.hint', `Until ${day(o.ends_at)}`) : null, action);
}

// Offers: what is open to the member now; reward offers are claimed as coupons.
export async function renderOffers(main, ctx, message) {
  const r = await get('/v1/portal/offers');
  const status = notice();
  if (message) status.show(message, 'ok');
  const reload = m => renderOffers(main, ctx, m);
  const offers = list(r);
  mount(main, h('h1', 'Offers'), status,
    offers.length ? h('ul.plain', offers.map(o => offerCard(o, status, reload))) : h('p.empty', 'No offers for you right now.'));
}

// Stamp cards: stamps collected as progress, and the coupon of a full card.
export async function renderStampCards(main) {
  const cards = list(await get('/v1/portal/stamp-cards'));
  mount(main, h('h1', 'Stamp cards'),
    cards.length ? h('ul.plain', cards.map(c => h('li.card',
      h('h2', c.name),
      h('p', `${fmtNumber(c.stamps)} of ${fmtNumber(c.stamps_needed)} stamps`),
      progressBar(`${c.name}: stamps`, c.stamps, c.stamps_needed),
      h('p.stamps', { 'aria-hidden': 'true' }, Array.from({ length: Math.min(c.stamps_needed, 30) },
        (_, i) => h(i < c.stamps ? 'span.stamp.on' : 'span.stamp', i < c.stamps ? '●' : '○'))),
      c.coupon_code ? h('p', 'Card full — your coupon code: ', h('strong.mono', c.coupon_code)) : null,
      c.expires_at ? h('p.hint', `Valid until ${day(c.expires_at)}`) : null)))
      : h('p.empty', 'You have no stamp cards yet.'));
}
