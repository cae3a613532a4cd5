// The Campaigns page: the list and a new campaign (#/campaigns), and one
// campaign (#/campaigns/<id>): activate or pause it, change its schedule,
// preview its template for a member, and its report against the control group.
import { h, mount, field, notice, table } from '../common/dom.js';
import { api, get } from '../common/api.js';
import { fmtNumber, fmtMoney, fmtPercent, fmtTime } from '../common/format.js';
import { errorText } from './main.js';
import { kpi, toLocalInput, fromLocalInput, scroller } from './kit.js';
import { exprField } from './expr_editor.js';
import { chart } from './charts.js';

const TRIGGERS = ['purchase', 'lapse', 'birthday', 'tier_changed', 'points_expiring', 'nth_purchase', 'anniversary',
  'terms_changed', 'ticket_resolved'];

function when(c) {
  if (c.trigger_kind) {
    const days = c.trigger_days ? ` (${c.trigger_days} days)` : '';
    return `on ${c.trigger_kind.replace(/_/g, ' ')}${c.trigger_kind === 'nth_purchase' ? ` #${c.trigger_count}` : days}`;
  }
  if (c.schedule === 'at') return `at ${fmtTime(c.send_at)}`;
  if (c.schedule === 'recurring') return `every ${c.every_days} days${c.send_at ? ` from ${fmtTime(c.send_at)}` : ''}`;
  return 'now (next run)';
}

const state = c => h(`span.badge.${c.active ? 'ok' : 'warn'}`, c.active ? 'active' : 'paused');

// Renders the page into main.
export async function render(main, ctx) {
  if (ctx.params[0]) return detail(main, Number(ctx.params[0]), ctx);
  const [list, templates] = await Promise.all([get('/v1/campaigns'), get('/v1/templates')]);
  mount(main, h('h1', 'Campaigns'),
    (table('Campaigns', [
      ['Name', c => h('a', { href: `#/campaigns/${c.id}` }, c.name)], ['Channel', c => c.channel], ['Template', c => c.template],
      ['Audience', c => c.segment ? h('code', c.segment) : 'every member'], ['When', when],
      ['Control group', c => `${c.holdout_percent} %`], ['Status', state]], list.data, 'No campaigns yet.')),
    createForm(templates.data, ctx));
}

function createForm(templates, ctx) {
  const f = {
    name: field('Name', { required: true }),
    channel: field('Channel', { tag: 'select', options: [['email', 'Email'], ['feed', 'Member feed'], ['task', 'Staff task']] }),
    template: field('Template', { tag: 'select', required: true, options: templates.map(t => [t.name, t.name]) }),
    trigger_kind: field('Trigger', { tag: 'select', options: [['', 'None: a segment on a schedule'], ...TRIGGERS.map(t => [t, t.replace(/_/g, ' ')])] }),
    trigger_days: field('Trigger days', { type: 'number', value: 0, attrs: { min: 0 } }),
    trigger_count: field('Nth purchase', { type: 'number', value: 0, attrs: { min: 0 } }),
    schedule: field('Schedule', { tag: 'select', options: [['now', 'Now (next run)'], ['at', 'At a time'], ['recurring', 'Recurring']] }),
    send_at: field('Send at (UTC)', { type: 'datetime-local' }),
    every_days: field('Every (days)', { type: 'number', value: 0, attrs: { min: 0 } }),
    holdout_percent: field('Control group (%)', { type: 'number', value: 10, attrs: { min: 0, max: 90 } }),
    attribution_days: field('Attribution window (days)', { type: 'number', value: 30, attrs: { min: 1, max: 365 } }),
    task_assignee: field('Task assignee (staff email, task channel)', { type: 'email' }),
  };
  const segment = exprField('Audience (member expression; empty: every member)', { context: 'member' });
  const active = h('input#camp-active', { type: 'checkbox', checked: true });
  const status = notice();
  const form = h('form.card', { onsubmit: async e => {
    e.preventDefault();
    const body = { name: f.name.control.value.trim(), channel: f.channel.control.value, template: f.template.control.value,
      active: active.checked, holdout_percent: Number(f.holdout_percent.control.value),
      attribution_days: Number(f.attribution_days.control.value) };
    if (segment.value()) body.segment = segment.value();
    const trig = f.trigger_kind.control.value;
    if (trig) {
      body.trigger_kind = trig;
      body.trigger_days = Number(f.trigger_days.control.value);
      body.trigger_count = Number(f.trigger_count.control.value);
    } else {
      body.schedule = f.schedule.control.value;
      if (f.send_at.control.value) body.send_at = fromLocalInput(f.send_at.control.value);
      body.every_days = Number(f.every_days.control.value);
    }
    if (body.channel === 'task' && f.task_assignee.control.value) body.task_assignee = f.task_assignee.control.value.trim();
    try {
      const c = await api('POST', '/v1/campaigns', body, { idempotent: true });
      ctx.navigate('campaigns', c.id);
    } catch (err) {
      status.show(errorText(err), 'error');
      if (err.code === 'invalid_expression') segment.showError(err.message.replace(/^segment: /, ''));
    }
  } },
  h('h2', 'New campaign'),
  h('div.form-grid', f.name, f.channel, f.template, f.trigger_kind, f.trigger_days, f.trigger_count, f.schedule, f.send_at,
    f.every_days, f.holdout_percent, f.attribution_days, f.task_assignee, segment),
  h('div.check', active, h('label', { for: 'camp-active' }, 'Active (queues messages at the next campaigns run)')),
  status, h('button', { type: 'submit' }, 'Create campaign'));
  return form;
}

async function detail(main, id, ctx) {
  const [c, templates, program] = await Promise.all([get(`/v1/campaigns/${id}`), get('/v1/templates'), get('/v1/program')]);
  const status = notice();
  const toggle = h('button', { type: 'button', class: c.active ? 'danger' : '', onclick: async () => {
    try {
      await api('PATCH', `/v1/campaigns/${id}`, { active: !c.active }, { idempotent: true });
      ctx.navigate('campaigns', id);
    } catch (e) { status.show(errorText(e), 'error'); }
  } }, c.active ? 'Pause campaign' : 'Activate campaign');
  const report = h('div', h('p.muted', 'Loading the report…'));
  mount(main, h('p', h('a', { href: '#/campaigns' }, '← All campaigns')),
    h('h1', c.name),
    h('div.card',
      h('dl.facts',
        h('dt', 'Status'), h('dd', state(c)), h('dt', 'Channel'), h('dd', c.channel), h('dt', 'Template'), h('dd', c.template),
        h('dt', 'Audience'), h('dd', c.segment ? h('code', c.segment) : 'every member'), h('dt', 'When'), h('dd', when(c)),
        h('dt', 'Control group'), h('dd', `${c.holdout_percent} % of the audience`),
        h('dt', 'Attribution'), h('dd', `purchases within ${c.attribution_days} days`)),
      status, h('div.actions', toggle)),
    c.trigger_kind ? null : scheduleForm(c, ctx),
    previewCard(templates.data.find(t => t.name === c.template)),
    h('section.card', h('h2', 'Report'), report));
  get(`/v1/campaigns/${id}/report`).then(r => mount(report, reportView(r, program.currency)), e => mount(report, h('p.notice.error', errorText(e))));
}

function scheduleForm(c, ctx) {
  const schedule = field('Schedule', { tag: 'select', value: c.schedule, options: [['now', 'Now (next run)'], ['at', 'At a time'], ['recurring', 'Recurring']] });
  const sendAt = field('Send at (UTC)', { type: 'datetime-local', value: toLocalInput(c.send_at) });
  const every = field('Every (days)', { type: 'number', value: c.every_days, attrs: { min: 0 } });
  const status = notice();
  return h('form.card', { onsubmit: async e => {
    e.preventDefault();
    try {
      await api('PATCH', `/v1/campaigns/${c.id}`, { schedule: schedule.control.value, send_at: fromLocalInput(sendAt.control.value),
        every_days: Number(every.control.value) }, { idempotent: true });
      ctx.navigate('campaigns', c.id);
    } catch (err) { status.show(errorText(err), 'error'); }
  } }, h('h2', 'Schedule'), h('div.form-grid', schedule, sendAt, every), status, h('button', { type: 'submit' }, 'Save schedule'));
}

function previewCard(template) {
  if (!template) return h('div.card', h('h2', 'Preview'), h('p.empty', 'The template is missing.'));
  const member = field('Member id', { type: 'number', required: true, attrs: { min: 1 } });
  const out = h('div');
  const status = notice();
  return h('form.card', { onsubmit: async e => {
    e.preventDefault();
    status.clear();
    try {
      const p = await api('POST', `/v1/templates/${template.id}/preview`, { member_id: Number(member.control.value) });
      mount(out, h('h3', `Subject: ${p.subject}`), h('p.muted', `Template “${template.name}” version ${p.version} for member ${p.member_id}`),
        h('div.preview-text', p.text));
    } catch (err) { mount(out); status.show(errorText(err), 'error'); }
  } }, h('h2', 'Preview for a member'), member, status, h('button', { type: 'submit' }, 'Preview'), out);
}

function reportView(r, cur) {
  const rec = r.recipients, ctl = r.control_group;
  const perHead = g => g.members ? Math.round(g.revenue_cents / g.members) : 0;
  return h('div',
    h('div.grid.four', kpi('Targeted', fmtNumber(r.targeted)), kpi('Sent', fmtNumber(r.sent)), kpi('Control group', fmtNumber(r.control)),
      kpi('Lift', r.lift_percent === null ? '—' : `${r.lift_percent.toFixed(1)} %`)),
    scroller(h('table',
      h('caption', `Recipients against the control group (purchases within ${r.attribution_days} days)`),
      h('thead', h('tr', ['Group', 'Members', 'Purchasers', 'Conversion', 'Revenue', 'Revenue per member'].map(t => h('th', { scope: 'col' }, t)))),
      h('tbody', [['Recipients', rec], ['Control group', ctl]].map(([n, g]) => h('tr', h('th', { scope: 'row' }, n),
        h('td', fmtNumber(g.members)), h('td', fmtNumber(g.purchasers)), h('td', fmtPercent(g.conversion_rate)),
        h('td', fmtMoney(g.revenue_cents, cur)), h('td', fmtMoney(perHead(g), cur))))))),
    chart('bar', ['Recipients', 'Control group'], [{ label: 'Conversion (%)', data: [rec.conversion_rate * 100, ctl.conversion_rate * 100] }],
      `Conversion: recipients ${fmtPercent(rec.conversion_rate)}, control group ${fmtPercent(ctl.conversion_rate)}`, { y: 'Conversion (%)' }),
    scroller(h('table', h('caption', 'Messages by status'),
      h('thead', h('tr', ['Queued', 'Sending', 'Sent', 'Failed', 'Skipped', 'Bounced', 'Unsubscribed'].map(t => h('th', { scope: 'col' }, t)))),
      h('tbody', h('tr', [r.queued, r.sending, r.sent, r.failed, r.skipped, r.bounced, r.unsubscribed].map(n => h('td', fmtNumber(n))))))),
    h('p.muted', 'Opens and clicks are not tracked; conversion is a purchase within the attribution window.'));
}
