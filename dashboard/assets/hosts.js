// Platform admins: tenant hosts — region, state, load, free disk, version — and their
// placement (cordon, uncordon, drain, remove), and moving a database to another host.
import { call, post, del } from './api.js';
import { h, act, badge, bytes, when, table, errorText, field } from './ui.js';

export function hostsTable() {
  const list = h('div', {});
  const move = moveForm(() => load());
  const element = h('div', { 'data-test': 'hosts' }, list, move.element);
  async function load() {
    try {
      const hosts = (await call('GET', '/admin/hosts')).data;
      move.offer(hosts);
      list.replaceChildren(table('Tenant hosts', ['Name', 'Engine', 'Region', 'State', 'Databases', 'Free', 'Version', 'Last seen', ''],
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
      list.replaceChildren(h('p', { class: 'error' }, errorText(e)));
    }
  }
  return { element, load };
}

// Moves a PostgreSQL database (by id) to a ready PostgreSQL host; the connection strings
// its users hold keep working (the old host's pooler forwards them).
function moveForm(reload) {
  const database = h('input', { type: 'text', placeholder: 'db_…', 'data-test': 'move-database', autocomplete: 'off' });
  const target = h('select', { 'data-test': 'move-host' });
  const status = h('p', { 'data-test': 'move-status', class: 'hint' });
  const go = h('button', { type: 'button', 'data-test': 'move-go' }, 'Move');
  go.addEventListener('click', () => act(go, async () => {
    const id = database.value.trim();
    const moving = await post(`/admin/databases/${encodeURIComponent(id)}/move`, { host_id: target.value });
    status.textContent = `Moving ${moving.name}: operation ${moving.operation_id}`;
    status.dataset.operation = moving.operation_id;
    await reload();
  }, 'Move under way'));
  const element = h('div', { class: 'card', 'data-test': 'move-form' },
    h('h3', {}, 'Move a database'),
    h('p', { class: 'hint' }, 'PostgreSQL only. Writes pause while the copy is made and checked; connection strings keep working.'),
    field('Database id', database), field('To host', target), go, status);
  function offer(hosts) {
    const chosen = target.value;
    target.replaceChildren(...hosts.filter((x) => x.engine === 'postgres' && x.state === 'ready')
      .map((x) => h('option', { value: x.id, 'data-name': x.name }, `${x.name} (${x.region}, ${x.databases}/${x.capacity})`)));
    if (chosen) target.value = chosen;
  }
  return { element, offer };
}
