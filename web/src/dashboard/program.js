// The Program page: earning rules, tiers, rewards, stamp cards, offers,
// referral settings and segments, each a list with a create/edit form
// (#/program/<section>). Expression fields check themselves as you type.
import { h, mount, field, notice } from '../common/dom.js';
import { api, get } from '../common/api.js';
import { fmtNumber, fmtTime } from '../common/format.js';
import { errorText } from './main.js';
import { subnav } from './kit.js';
import { resourceEditor } from './resource_editor.js';

const SECTIONS = [['rules', 'Earning rules'], ['tiers', 'Tiers'], ['rewards', 'Rewards'], ['stamp-cards', 'Stamp cards'],
  ['offers', 'Offers'], ['referrals', 'Referrals'], ['segments', 'Segments']];

const code = t => t ? h('code', t) : h('span.muted', '—');
const yes = b => h(`span.badge.${b ? 'ok' : 'warn'}`, b ? 'active' : 'paused');

let tiers = [], rewards = [], rules = [];
async function loadTiers() { tiers = (await get('/v1/tiers')).data; }
async function loadRewards() { rewards = (await get('/v1/rewards')).data; }
async function loadRules() { rules = (await get('/v1/rules')).data; }

const CONFIGS = {
  rules: {
    title: 'Earning rules', path: '/v1/rules', noun: 'rule',
    intro: 'Rules run in priority order (lower first); a condition over the purchase and its buyer limits a rule, a line condition makes it count matching lines only.',
    columns: [['Name', r => r.name], ['Formula', r => ruleFormula(r)], ['Condition', r => code(r.condition)],
      ['Line condition', r => code(r.line_condition)], ['Priority', r => String(r.priority)], ['Status', r => yes(r.active)]],
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'formula', label: 'Formula', kind: 'select', required: true, options: () => [['per_amount', 'Points per amount'], ['fixed', 'Fixed points'], ['multiplier', 'Multiplier']] },
      { name: 'points_per_unit', label: 'Points per unit (per amount)', kind: 'int' },
      { name: 'unit_cents', label: 'Unit in cents (per amount)', kind: 'int' },
      { name: 'fixed_points', label: 'Fixed points', kind: 'int' },
      { name: 'multiplier_permille', label: 'Multiplier in ‰ (2000 doubles)', kind: 'int' },
      { name: 'condition', label: 'Condition', kind: 'expr', context: 'purchase', nullable: true },
      { name: 'line_condition', label: 'Line condition', kind: 'expr', context: 'line', nullable: true },
      { name: 'valid_from', label: 'Valid from', kind: 'datetime', nullable: true },
      { name: 'valid_until', label: 'Valid until', kind: 'datetime', nullable: true },
      { name: 'priority', label: 'Priority', kind: 'int' },
      { name: 'cap_per_order', label: 'Cap per order (points)', kind: 'int', nullable: true },
      { name: 'cap_per_day', label: 'Cap per member and day (points)', kind: 'int', nullable: true },
      { name: 'stackable', label: 'Stackable (later rules still run)', kind: 'bool' },
      { name: 'active', label: 'Active', kind: 'bool' }],
  },
  tiers: {
    title: 'Tiers', path: '/v1/tiers', noun: 'tier',
    columns: [['Name', r => r.name], ['Rank', r => String(r.rank)], ['Reached on', r => `${r.metric} ≥ ${fmtNumber(r.threshold)} over ${r.window_months} months`],
      ['Condition', r => code(r.condition)], ['Multiplier', r => `${r.multiplier_permille / 1000}×`], ['Grace', r => `${r.grace_days} days`]],
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'rank', label: 'Rank (higher is better)', kind: 'int', required: true },
      { name: 'metric', label: 'Metric', kind: 'select', required: true, options: () => [['spend', 'Spend (cents)'], ['points', 'Points earned'], ['purchases', 'Purchases']] },
      { name: 'threshold', label: 'Threshold', kind: 'int', required: true },
      { name: 'window_months', label: 'Window (months)', kind: 'int' },
      { name: 'multiplier_permille', label: 'Points multiplier in ‰', kind: 'int' },
      { name: 'grace_days', label: 'Grace days', kind: 'int' },
      { name: 'condition', label: 'Qualification condition', kind: 'expr', context: 'member', nullable: true,
        hint: 'Optional: a member expression that must also hold. Checked as you type.' }],
  },
  rewards: {
    title: 'Rewards', path: '/v1/rewards', noun: 'reward', prepare: loadTiers,
    columns: [['Name', r => r.name], ['Kind', r => rewardKind(r)], ['Cost', r => `${fmtNumber(r.cost_points)} points`],
      ['Minimum tier', r => r.min_tier || '—'], ['Stock', r => r.stock === null ? 'unlimited' : fmtNumber(r.stock)], ['Status', r => yes(r.active)]],
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'kind', label: 'Kind', kind: 'select', required: true, options: () => [['amount_off', 'Amount off'], ['percent_off', 'Percent off'], ['free_product', 'Free product'], ['gift', 'Gift']] },
      { name: 'cost_points', label: 'Cost in points', kind: 'int', required: true },
      { name: 'amount_off_cents', label: 'Amount off (cents)', kind: 'int', nullable: true },
      { name: 'percent_off', label: 'Percent off', kind: 'int', nullable: true },
      { name: 'sku', label: 'Product SKU (free product)', nullable: true },
      { name: 'min_tier', label: 'Minimum tier', kind: 'select', nullable: true, none: 'Any tier', options: () => tiers.map(t => t.name) },
      { name: 'stock', label: 'Stock (empty: unlimited)', kind: 'int', nullable: true },
      { name: 'validity_days', label: 'Coupon valid for (days)', kind: 'int' },
      { name: 'per_member_limit', label: 'Per member limit', kind: 'int', nullable: true },
      { name: 'description', label: 'Description', kind: 'textarea', nullable: true },
      { name: 'active', label: 'Active', kind: 'bool' }],
  },
  'stamp-cards': {
    title: 'Stamp cards', path: '/v1/stamp-cards', noun: 'stamp card', prepare: loadRewards,
    columns: [['Name', r => r.name], ['Stamps', r => String(r.stamps_needed)], ['Condition', r => code(r.condition)],
      ['Reward', r => rewardName(r.reward_id)], ['Valid', r => r.validity_days ? `${r.validity_days} days` : 'no end'], ['Status', r => yes(r.active)]],
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'stamps_needed', label: 'Stamps needed', kind: 'int', required: true },
      { name: 'reward_id', label: 'Reward', kind: 'select', required: true, numeric: true, options: () => rewards.map(r => [r.id, r.name]) },
      { name: 'validity_days', label: 'Card valid for (days, empty: no end)', kind: 'int', nullable: true },
      { name: 'condition', label: 'Which purchases stamp', kind: 'expr', context: 'purchase', nullable: true },
      { name: 'active', label: 'Active', kind: 'bool' }],
  },
  offers: {
    title: 'Offers', path: '/v1/offers', noun: 'offer', prepare: () => Promise.all([loadRewards(), loadRules(), loadTiers()]),
    columns: [['Name', r => r.name], ['Title', r => r.title], ['Audience', r => h('span', code(r.segment), r.tiers ? ` tiers: ${r.tiers.join(', ')}` : '')],
      ['Window', r => `${fmtTime(r.starts_at)} → ${fmtTime(r.ends_at)}`],
      ['Gives', r => r.rule_id ? `rule: ${ruleName(r.rule_id)}` : `reward: ${rewardName(r.reward_id)}`], ['Status', r => yes(r.active)]],
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'title', label: 'Title (members see it)', required: true },
      { name: 'starts_at', label: 'Starts at', kind: 'datetime', required: true },
      { name: 'ends_at', label: 'Ends at', kind: 'datetime', required: true },
      { name: 'rule_id', label: 'Earning rule it carries', kind: 'select', nullable: true, numeric: true, none: 'None', options: () => rules.map(r => [r.id, r.name]) },
      { name: 'reward_id', label: 'Or a reward to claim', kind: 'select', nullable: true, numeric: true, none: 'None', options: () => rewards.map(r => [r.id, r.name]) },
      { name: 'tiers', label: 'Tiers (empty: any)', kind: 'list', nullable: true, hint: `Comma-separated tier names.` },
      { name: 'segment', label: 'Audience expression', kind: 'expr', context: 'member', nullable: true,
        hint: 'Optional: empty targets every member. Checked as you type.' },
      { name: 'description', label: 'Description', kind: 'textarea', nullable: true },
      { name: 'active', label: 'Active', kind: 'bool' }],
  },
  segments: {
    title: 'Segments', path: '/v1/segments', noun: 'segment', listQuery: { limit: 500 },
    intro: 'A segment is a saved member expression, run each time it is counted: the counts are of now.',
    columns: [['Name', r => r.name], ['Expression', r => code(r.expression)], ['Members now', r => h('span.seg-count', { 'data-id': r.id }, '…')],
      ['Description', r => r.description || '—']],
    fields: [
      { name: 'name', label: 'Name', required: true },
      { name: 'expression', label: 'Expression', kind: 'expr', context: 'member', required: true },
      { name: 'description', label: 'Description', nullable: true }],
    afterList: (rows, list) => {
      for (const cell of list.querySelectorAll('.seg-count'))
        get(`/v1/segments/${cell.dataset.id}/count`).then(c => { cell.textContent = fmtNumber(c.count); },
          e => { cell.textContent = `not valid: ${e.message}`; cell.classList.add('error'); });
    },
  },
};

function ruleFormula(r) {
  if (r.formula === 'per_amount') return `${r.points_per_unit} per ${(r.unit_cents / 100).toFixed(2)}`;
  if (r.formula === 'fixed') return `${fmtNumber(r.fixed_points)} points`;
  return `× ${r.multiplier_permille / 1000}`;
}
function rewardKind(r) {
  if (r.kind === 'amount_off') return `${(r.amount_off_cents / 100).toFixed(2)} off`;
  if (r.kind === 'percent_off') return `${r.percent_off} % off`;
  if (r.kind === 'free_product') return `free ${r.sku}`;
  return 'gift';
}
function rewardName(id) { const r = rewards.find(x => x.id === id); return r ? r.name : `#${id}`; }
function ruleName(id) { const r = rules.find(x => x.id === id); return r ? r.name : `#${id}`; }

// Referral settings live in the program's settings (PATCH /v1/program).
const REFERRAL = [['referral_referrer_points', 'Points for the referrer'], ['referral_referred_points', 'Points for the referred member'],
  ['referral_min_purchase_cents', 'Least first purchase that qualifies (cents)'], ['referral_daily_max', 'Referrals one member may make a day']];

async function referrals(box) {
  const p = await get('/v1/program');
  const inputs = REFERRAL.map(([k, label]) => [k, field(label, { type: 'number', value: p[k], required: true, attrs: { min: 0, step: 1 } })]);
  const status = notice();
  mount(box, h('h2', 'Referrals'),
    h('p.muted', 'Every member has a referral code. A referred member\'s first purchase qualifies the referral when it reaches the minimum; the referrals_pay job pays both once the purchase clears the return window.'),
    h('form.card', { onsubmit: async e => {
      e.preventDefault();
      const body = {};
      for (const [k, el] of inputs) if (Number(el.control.value) !== p[k]) body[k] = Number(el.control.value);
      if (!Object.keys(body).length) { status.show('Nothing changed.'); return; }
      try {
        Object.assign(p, await api('PATCH', '/v1/program', body, { idempotent: true }));
        status.show(`Saved (settings version ${p.version}).`);
      } catch (err) { status.show(errorText(err), 'error'); }
    } }, h('div.form-grid', inputs.map(([, el]) => el)), status, h('button', { type: 'submit' }, 'Save referral settings')));
}

// Renders the page into main.
export async function render(main, ctx) {
  const current = SECTIONS.some(([id]) => id === ctx.params[0]) ? ctx.params[0] : 'rules';
  const box = h('div');
  mount(main, h('h1', 'Program'), subnav('Program', 'program', SECTIONS, current), box);
  if (current === 'referrals') await referrals(box);
  else await resourceEditor(box, CONFIGS[current]);
}
