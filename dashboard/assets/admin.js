// Platform admins: incidents (filter, resolve), tenant hosts, and account plans.
import { call, post, patch } from './api.js';
import { h, act, badge, when, field, table, errorText } from './ui.js';
import { accountsTable } from './accounts.js';
import { hostsTable } from './hosts.js';

export async function admin(main, me, token) {
  if (me.platform_role !== 'admin') {
    main.replaceChildren(h('h1', {}, 'Admin'), h('p', {}, 'Platform administrators only.'));
    return;
  }
  const state = h('select', { 'data-test': 'incident-state' }, [['open', 'Open'], ['resolved', 'Resolved'], ['', 'All']].map(([v, l]) => h('option', { value: v }, l)));
  const kind = h('input', { placeholder: 'any kind' });
  const list = h('div', { 'data-test': 'incidents' });
  async function load() {
    const q = new URLSearchParams({ limit: '100' });
    if (state.value) q.set('state', state.value);
    if (kind.value.trim()) q.set('kind', kind.value.trim());
    try {
      const page = (await call('GET', `/admin/incidents?${q}`)).data;
      list.replaceChildren(table('Incidents', ['Severity', 'Kind', 'Summary', 'Resource', 'Seen', 'State', ''], page.map((i) => {
        const r = i.state === 'open' ? h('button', { type: 'button', class: 'small', 'data-test': 'resolve' }, 'Resolve') : '';
        if (r) r.addEventListener('click', () => act(r, async () => { await post(`/admin/incidents/${encodeURIComponent(i.id)}/resolve`); await load(); }, 'Resolved'));
        return h('tr', { 'data-test': 'incident', 'data-id': i.id, 'data-state': i.state }, h('td', {}, i.severity), h('td', {}, h('code', {}, i.kind)),
          h('td', {}, i.summary), h('td', {}, `${i.resource.type || i.resource.kind || ''} ${i.resource.id}`),
          h('td', {}, when(i.last_seen_at), ` ×${i.occurrences}`), h('td', {}, badge(i.state)), h('td', {}, r));
      }), 'No incidents.'));
    } catch (e) {
      list.replaceChildren(h('p', { class: 'error' }, errorText(e)));
    }
  }
  state.addEventListener('change', load);
  kind.addEventListener('change', load);

  const accounts = accountsTable();
  const hosts = hostsTable();
  const account = h('input', { required: true, placeholder: 'acct_…' });
  const plan = h('select', {}, ['free', 'pro', 'business'].map((p) => h('option', { value: p }, p)));
  const go = h('button', { type: 'submit' }, 'Set plan');
  const form = h('form', { class: 'card inline', 'aria-label': 'Set an account plan' }, field('Account id', account), field('Plan', plan), go);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(go, async () => { await patch(`/admin/accounts/${encodeURIComponent(account.value.trim())}`, { plan: plan.value }); await accounts.load(); }, 'Plan changed');
  });
  main.replaceChildren(h('h1', {}, 'Admin'), h('h2', {}, 'Incidents'),
    h('div', { class: 'toolbar' }, field('State', state), field('Kind', kind)), list,
    h('h2', {}, 'Tenant hosts'), hosts.element,
    h('h2', {}, 'Accounts and plans'), accounts.element,
    h('h3', {}, 'Set a plan by account id'), form);
  await Promise.all([load(), hosts.load(), accounts.load()]);
}
