// The account: plan, quotas and usage.
import { get } from './api.js';
import { h, bar, bytes, errorText } from './ui.js';

export async function account(main, me) {
  let m;
  try { m = await get('/me'); } catch (e) {
    main.replaceChildren(h('h1', {}, 'Account'), h('p', { class: 'error' }, errorText(e)));
    return;
  }
  const mb = (x) => bytes(x * 1024 * 1024);
  main.replaceChildren(h('h1', {}, 'Account'),
    h('dl', { class: 'facts' }, h('dt', {}, 'Email'), h('dd', {}, m.email || 'anonymous'),
      h('dt', {}, 'Account'), h('dd', {}, h('code', {}, m.account_id)),
      h('dt', {}, 'Plan'), h('dd', { 'data-test': 'plan' }, m.plan),
      h('dt', {}, 'Platform role'), h('dd', {}, m.platform_role)),
    h('section', { class: 'card', 'aria-label': 'Usage' }, h('h2', {}, 'Usage'),
      bar('Databases', m.usage.databases, m.quotas.databases),
      bar('Storage', m.usage.storage_mb, m.quotas.storage_mb, mb)),
    h('h2', {}, 'Per database'),
    h('dl', { class: 'facts' }, h('dt', {}, 'Connections'), h('dd', {}, String(m.quotas.connection_limit)),
      h('dt', {}, 'Database users'), h('dd', {}, String(m.quotas.database_users))));
}
