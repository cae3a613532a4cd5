// The Settings page (#/settings/<section>): the program's settings and email
// delivery (admin, manager), staff, API keys and webhooks (admin), and the
// audit log (admin, manager).
import { h, mount, field, notice, table } from '../common/dom.js';
import { api, get } from '../common/api.js';
import { fmtTime } from '../common/format.js';
import { errorText } from './main.js';
import { subnav, confirmed } from './kit.js';
import { auditLog } from './audit.js';

const STAFF_ROLES = ['admin', 'manager', 'supervisor', 'agent', 'analyst'];
const SECTIONS = [['program', 'Program settings', ['admin', 'manager']], ['email', 'Email delivery', ['admin', 'manager']],
  ['staff', 'Staff and roles', ['admin']], ['api-keys', 'API keys', ['admin']], ['webhooks', 'Webhooks', ['admin']],
  ['audit', 'Audit log', ['admin', 'manager']]];

// [key, label, kind, options]; kind: int, text, select, bool, list.
const PROGRAM_KEYS = [
  ['currency', 'Currency (ISO 4217)', 'text'], ['point_value_millicents', 'Point value (thousandths of a cent)', 'int'],
  ['rounding', 'Rounding', 'select', ['down', 'nearest', 'up']], ['pending_days', 'Pending days (return window)', 'int'],
  ['expiry.policy', 'Expiry policy', 'select', ['none', 'lot', 'inactivity']], ['expiry.months', 'Expiry months', 'int'],
  ['time_zone', 'Time zone (IANA; applies at restart)', 'text'], ['excluded_skus', 'Excluded SKUs', 'list'],
  ['excluded_categories', 'Excluded categories', 'list'], ['manager_adjustment_limit', 'Manager adjustment limit (points)', 'int'],
  ['supervisor_approval_limit', 'Supervisor approval limit (points)', 'int'],
  ['coupon_expiry_refund', 'Give points back when a bought coupon expires', 'bool']];
const EMAIL_KEYS = [
  ['message_cap_count', 'Frequency cap: messages (0: no cap)', 'int'], ['message_cap_days', 'Frequency cap: days', 'int'],
  ['quiet_hours_start', 'Quiet hours start (hour)', 'int'], ['quiet_hours_end', 'Quiet hours end (hour)', 'int'],
  ['send_rate_per_second', 'Emails per second (0: no limit)', 'int'], ['smtp_connections', 'SMTP connections (1 to 8)', 'int']];

const pick = (p, key) => key.split('.').reduce((o, k) => o && o[k], p);

function settingsControl([key, label, kind, options], value) {
  if (kind === 'bool') {
    const id = `set-${key}`;
    const box = h('input', { type: 'checkbox', id, checked: value ? true : null });
    const wrap = h('div.check', box, h('label', { for: id }, label));
    wrap.read = () => box.checked;
    return wrap;
  }
  const el = kind === 'select' ? field(label, { tag: 'select', value, options: options.map(o => [o, o]) })
    : field(label, { type: kind === 'int' ? 'number' : 'text', value: kind === 'list' ? value.join(', ') : value,
      hint: kind === 'list' ? 'Comma-separated.' : undefined });
  el.read = () => {
    const v = el.control.value.trim();
    if (kind === 'int') return Number(v);
    if (kind === 'list') return v ? v.split(',').map(s => s.trim()).filter(Boolean) : [];
    return v;
  };
  return el;
}

// A form over some program settings; PATCH /v1/program with those that changed.
async function programForm(box, title, keys, intro) {
  let p = await get('/v1/program');
  const controls = keys.map(k => [k[0], settingsControl(k, pick(p, k[0]))]);
  const status = notice();
  mount(box, h('h2', title), intro,
    h('form.card', { onsubmit: async e => {
      e.preventDefault();
      const body = {};
      for (const [key, el] of controls) {
        const v = el.read();
        if (JSON.stringify(v) === JSON.stringify(pick(p, key))) continue;
        if (key.startsWith('expiry.')) body.expiry = { ...p.expiry, ...body.expiry, [key.slice(7)]: v };
        else body[key] = v;
      }
      if (!Object.keys(body).length) { status.show('Nothing changed.'); return; }
      try {
        p = await api('PATCH', '/v1/program', body, { idempotent: true });
        status.show(`Saved: settings version ${p.version}.`);
      } catch (err) { status.show(errorText(err), 'error'); }
    } }, h('div.form-grid', controls.map(([, el]) => el)), status, h('button', { type: 'submit' }, 'Save settings')),
    h('p.muted', `Version ${p.version}${p.updated_by ? `, by ${p.updated_by} at ${fmtTime(p.updated_at)}` : ' (the defaults)'}.`));
}

async function staff(box) {
  const list = h('div');
  const load = async () => {
    const r = await get('/v1/staff', { limit: 500 });
    mount(list, (table('Staff accounts', [['Email', s => s.email], ['Name', s => s.name], ['Role', s => s.role],
      ['Active', s => s.active ? 'yes' : 'no'], ['Since', s => fmtTime(s.created_at)]], r.data)));
  };
  const email = field('Email', { type: 'email', required: true, attrs: { autocomplete: 'off' } });
  const name = field('Name');
  const role = field('Role', { tag: 'select', options: STAFF_ROLES.map(r => [r, r]), value: 'agent' });
  const password = field('Password', { type: 'password', required: true, hint: '10 to 256 characters.', attrs: { autocomplete: 'new-password', minlength: 10 } });
  const status = notice();
  mount(box, h('h2', 'Staff and roles'), list, h('form.card', { onsubmit: async e => {
    e.preventDefault();
    try {
      const s = await api('POST', '/v1/staff', { email: email.control.value.trim(), name: name.control.value.trim(),
        role: role.control.value, password: password.control.value });
      status.show(`Added ${s.email} (${s.role}).`);
      e.target.reset();
      await load();
    } catch (err) { status.show(errorText(err), 'error'); }
    password.control.value = '';
  } }, h('h3', 'New staff account'), h('div.form-grid', email, name, role, password), status, h('button', { type: 'submit' }, 'Add staff account')));
  await load();
}

async function apiKeys(box) {
  const list = h('div');
  const shown = h('div');
  const status = notice();
  const load = async () => {
    const r = await get('/v1/api-keys', { limit: 500 });
    mount(list, (table('API keys', [['Name', k => k.name], ['Role', k => k.role], ['Starts with', k => h('code', k.prefix)],
      ['Created', k => `${fmtTime(k.created_at)} by ${k.created_by}`], ['Revoked', k => k.revoked_at ? fmtTime(k.revoked_at) : '—'],
      ['Actions', k => k.revoked_at ? '' : h('button.danger', { type: 'button', onclick: async () => {
        if (!confirmed(`Revoke the key “${k.name}”? Programs using it stop working.`)) return;
        try { await api('DELETE', `/v1/api-keys/${k.id}`, undefined, { idempotent: true }); status.show(`Revoked “${k.name}”.`); await load(); }
        catch (err) { status.show(errorText(err), 'error'); }
      } }, 'Revoke', h('span.visually-hidden', ` ${k.name}`))]], r.data)));
  };
  const name = field('Name', { required: true });
  const role = field('Role', { tag: 'select', value: 'integration', options: [...STAFF_ROLES, 'integration'].map(r => [r, r]) });
  mount(box, h('h2', 'API keys'), status, shown, list, h('form.card', { onsubmit: async e => {
    e.preventDefault();
    try {
      const k = await api('POST', '/v1/api-keys', { name: name.control.value.trim(), role: role.control.value });
      mount(shown, h('div.card', h('h3', `Key “${k.name}” created`),
        h('p', 'Copy it now: it is shown this once and stored only as a hash.'), h('p.secret.mono', k.key)));
      e.target.reset();
      await load();
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, h('h3', 'New API key'), h('div.form-grid', name, role), h('button', { type: 'submit' }, 'Create API key')));
  await load();
}

async function webhooks(box) {
  const list = h('div');
  const shown = h('div');
  const status = notice();
  const load = async () => {
    const r = await get('/v1/webhooks');
    mount(list, (table('Webhook subscribers', [['Name', w => w.name], ['URL', w => h('code', w.url)],
      ['Events', w => w.kinds ? w.kinds.join(', ') : 'all'], ['Active', w => w.active ? 'yes' : 'no'], ['Delivered up to event', w => String(w.event_cursor)],
      ['Actions', w => h('button.danger', { type: 'button', onclick: async () => {
        if (!confirmed(`Delete the webhook “${w.name}”?`)) return;
        try { await api('DELETE', `/v1/webhooks/${w.id}`, undefined, { idempotent: true }); status.show(`Deleted “${w.name}”.`); await load(); }
        catch (err) { status.show(errorText(err), 'error'); }
      } }, 'Delete', h('span.visually-hidden', ` ${w.name}`))]], r.data, 'No webhooks yet.')));
  };
  const name = field('Name', { required: true });
  const url = field('URL', { type: 'url', required: true });
  const kinds = field('Event kinds (empty: all)', { hint: 'Comma-separated: purchase, points_adjusted …' });
  mount(box, h('h2', 'Webhooks'), status, shown, list, h('form.card', { onsubmit: async e => {
    e.preventDefault();
    const body = { name: name.control.value.trim(), url: url.control.value.trim() };
    const k = kinds.control.value.split(',').map(s => s.trim()).filter(Boolean);
    if (k.length) body.kinds = k;
    try {
      const w = await api('POST', '/v1/webhooks', body);
      mount(shown, h('div.card', h('h3', `Webhook “${w.name}” created`),
        h('p', 'Its signing secret, shown this once (HMAC-SHA256 key of Patron-Signature):'), h('p.secret.mono', w.secret)));
      e.target.reset();
      await load();
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, h('h3', 'New webhook'), h('div.form-grid', name, url, kinds), h('button', { type: 'submit' }, 'Add webhook')));
  await load();
}

// Renders the page into main.
export async function render(main, ctx) {
  const mine = SECTIONS.filter(s => s[2].includes(ctx.me.role));
  const current = mine.some(([id]) => id === ctx.params[0]) ? ctx.params[0] : mine[0][0];
  const box = h('div');
  mount(main, h('h1', 'Settings'), subnav('Settings', 'settings', mine.map(([id, t]) => [id, t]), current), box);
  if (current === 'program') await programForm(box, 'Program settings', PROGRAM_KEYS);
  else if (current === 'email') {
    await programForm(box, 'Email delivery', EMAIL_KEYS, h('p.muted',
      'The SMTP server (PATRON_SMTP_URL) and the sender address (PATRON_MAIL_FROM) come from the server\'s environment: they are read-only here and not shown. These settings pace and limit campaign email across all servers.'));
  } else if (current === 'staff') await staff(box);
  else if (current === 'api-keys') await apiKeys(box);
  else if (current === 'webhooks') await webhooks(box);
  else await auditLog(box, ctx);
}
