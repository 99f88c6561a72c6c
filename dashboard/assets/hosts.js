// Platform admins: tenant hosts — region, state, load, free disk, version — and their
// placement (cordon, uncordon, drain, remove).
import { call, post, del } from './api.js';
import { h, act, badge, bytes, when, table, errorText } from './ui.js';

export function hostsTable() {
  const element = h('div', { 'data-test': 'hosts' });
  async function load() {
    try {
      const hosts = (await call('GET', '/admin/hosts')).data;
      element.replaceChildren(table('Tenant hosts', ['Name', 'Engine', 'Region', 'State', 'Databases', 'Free', 'Version', 'Last seen', ''],
        hosts.map((host) => {
          const path = `/admin/hosts/${encodeURIComponent(host.id)}`;
          const button = (label, verb, run) => {
            const b = h('button', { type: 'button', class: 'small secondary', 'data-test': `host-${verb}` }, label);
            b.addEventListener('click', () => act(b, async () => { await run(); await load(); }, `${label}: done`));
            return b;
          };
          const actions = host.state === 'ready'
            ? [button('Cordon', 'cordon', () => post(`${path}/cordon`)), button('Drain', 'drain', () => post(`${path}/drain`))]
            : [button('Uncordon', 'uncordon', () => post(`${path}/uncordon`))];
          if (host.databases === 0) actions.push(button('Remove', 'remove', () => del(path)));
          return h('tr', { 'data-test': 'host', 'data-name': host.name, 'data-state': host.state },
            h('td', {}, host.name), h('td', {}, host.engine), h('td', {}, host.region), h('td', {}, badge(host.state)),
            h('td', {}, `${host.databases} / ${host.capacity}`),
            h('td', {}, host.free_bytes == null ? '—' : bytes(host.free_bytes)), h('td', {}, host.version || '—'),
            h('td', {}, host.last_seen_at ? when(host.last_seen_at) : '—'), h('td', {}, ...actions));
        }), 'No hosts.'));
    } catch (e) {
      element.replaceChildren(h('p', { class: 'error' }, errorText(e)));
    }
  }
  return { element, load };
}
