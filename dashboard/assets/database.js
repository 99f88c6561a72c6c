// One database: its header, lifecycle actions, and a tab per part (see dbparts.js).
import { get, post, del } from './api.js';
import { h, act, badge, bytes, when, poll, secret, secretsBox, confirmButton, toast, errorText } from './ui.js';
import { parts as dbParts } from './dbparts.js';
import { sqlParts } from './sql.js';
import { dataApiParts } from './data_api.js';

const parts = { ...dbParts, ...sqlParts, ...dataApiParts };

// Each tab with the right it needs (API.md's permission table).
const TABS = [
  ['overview', 'Overview', 'view'], ['network', 'Network', 'manage'], ['users', 'Users', 'manage'],
  ['collaborators', 'Collaborators', 'manage'], ['backups', 'Backups', 'backups'], ['activity', 'Activity', 'view'],
  ['metrics', 'Metrics', 'view'], ['schema', 'Schema', 'view'], ['sql', 'SQL', 'credentials'],
  ['approvals', 'Approvals', 'manage'], ['dataapi', 'Data API', 'manage'],
];

// Tabs offered for PostgreSQL databases only (API.md, "Engines": other engines answer 422).
const POSTGRES_ONLY = new Set(['sql', 'approvals', 'dataapi']);
const offered = (db, tab) => db.engine === 'postgres' || !POSTGRES_ONLY.has(tab);

// What a role may do (API.md's permission table).
export function rights(role) {
  return {
    view: true,
    credentials: role !== 'viewer',
    backups: role !== 'viewer',
    manage: role === 'owner' || role === 'admin',
    owner: role === 'owner',
  };
}

export async function database(main, me, id, tab, token) {
  let db;
  try {
    db = await get(`/databases/${encodeURIComponent(id)}`);
  } catch (e) {
    main.replaceChildren(h('h1', {}, 'Database'), h('p', { class: 'error' }, errorText(e)));
    return;
  }
  const can = rights(db.role);
  const state = h('span', { 'data-test': 'db-state' }, badge(db.state));
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Database sections' },
    TABS.filter(([k, , right]) => can[right] && offered(db, k)).map(([k, label]) =>
      h('a', { href: `#/databases/${db.id}/${k}`, 'aria-current': k === tab ? 'page' : null }, label)));
  const body = h('section', { 'data-test': `tab-${tab}` });
  main.replaceChildren(
    h('p', {}, h('a', { href: '#/databases' }, '← Databases')),
    h('h1', {}, db.name, ' ', state,
      db.available === false ? h('span', { class: 'badge s-failed', 'data-test': 'unavailable', title: 'The platform cannot reach its host; nothing happened to the database itself.' }, 'host unreachable') : ''),
    h('p', { class: 'muted' }, `${db.engine} · your role: `, h('strong', { 'data-test': 'my-role' }, db.role),
      ` · ${bytes(db.size_bytes)} · created `, when(db.created_at)),
    tabs, body);
  const ctx = { db, can, token, me, reload: () => database(main, me, id, tab, token), state };
  // An operation under way when the page opened: the state follows it.
  if (!['running', 'stopped', 'failed'].includes(db.state)) follow(ctx, null);
  const right = (TABS.find(([k]) => k === tab) || [])[2];
  if (right && !can[right]) body.replaceChildren(h('p', { class: 'muted' }, 'Your role on this database does not include this.'));
  else if (!offered(db, tab)) {
    body.replaceChildren(h('p', { class: 'muted', 'data-test': 'not-offered' },
      `${db.engine} databases do not offer this; it is offered for PostgreSQL databases.`));
  }
  else if (tab === 'overview') overview(body, ctx);
  else if (parts[tab]) await parts[tab](body, ctx);
}

function overview(body, ctx) {
  const { db, can } = ctx;
  const out = h('div');
  const info = h('dl', { class: 'facts', 'data-test': 'connection' },
    h('dt', {}, 'Host'), h('dd', {}, db.host), h('dt', {}, 'Port'), h('dd', {}, String(db.port)),
    h('dt', {}, 'Database'), h('dd', {}, db.name), h('dt', {}, 'Username'), h('dd', {}, db.username),
    h('dt', {}, 'Last backup'), h('dd', {}, when(db.last_backup_at)));
  const parts = [h('h2', {}, 'Connection'), info];
  if (db.engine === 'postgres') {
    // The pooler speaks TLS with a certificate of the platform's CA: verify it (libpq looks
    // for the CA in ~/.postgresql/root.crt; `berth ca --install` puts it there).
    parts.push(h('p', { class: 'muted', 'data-test': 'tls-hint' }, 'TLS: connect with ',
      h('code', {}, 'sslmode=verify-full'), ' and the ',
      h('a', { href: '/api/v1/ca.pem', download: 'berth-ca.pem', 'data-test': 'ca-link' }, 'platform CA certificate'),
      ' (or run ', h('code', {}, 'berth ca --install'), ').'));
  }
  if (can.credentials) {
    const reveal = h('button', { type: 'button', class: 'secondary', 'data-test': 'reveal' }, 'Reveal password');
    reveal.addEventListener('click', () => act(reveal, async () => {
      const c = await get(`/databases/${db.id}/credentials`);
      out.replaceChildren(secret('Password', c.password, 'password'),
        secret('Connection string', c.connection_string, 'connection-string'));
      reveal.remove();
    }));
    parts.push(reveal);
  }
  parts.push(out);
  if (can.manage) {
    const life = h('div', { class: 'actions', 'data-test': 'lifecycle' });
    // Which actions the state allows; kept current as the state changes.
    const allowed = { stop: ['running'], start: ['stopped'], restart: ['running'] };
    const buttons = [];
    ctx.enable = (state) => {
      for (const [verb, b] of buttons) b.disabled = !allowed[verb].includes(state);
    };
    for (const [verb, label] of [['stop', 'Stop'], ['start', 'Start'], ['restart', 'Restart']]) {
      const b = h('button', { type: 'button', class: 'secondary', 'data-test': `do-${verb}` }, label);
      b.addEventListener('click', async () => {
        const view = await act(b, () => post(`/databases/${db.id}/${verb}`));
        if (!view) return;
        ctx.enable('busy');
        follow(ctx, view.operation_id);
      });
      buttons.push([verb, b]);
      life.append(b);
    }
    ctx.enable(db.state);
    const reset = h('button', { type: 'button', class: 'secondary', 'data-test': 'reset-password' }, 'Reset password');
    reset.addEventListener('click', () => act(reset, async () => {
      const c = await post(`/databases/${db.id}/reset-password`);
      out.replaceChildren(secretsBox('New password', 'Shown only now. The old password no longer works.',
        secret('Password', c.password, 'password'), secret('Connection string', c.connection_string, 'connection-string')));
    }));
    life.append(reset);
    parts.push(h('h2', {}, 'Lifecycle'), life);
  }
  if (can.owner) {
    parts.push(h('h2', {}, 'Delete'), h('p', { class: 'muted' }, 'Drops the database and its role. Backups are kept per retention.'),
      confirmButton('Delete database', async () => {
        await del(`/databases/${db.id}`);
        toast(`${db.name} is being deleted`);
        location.hash = '#/databases';
      }, { 'data-test': 'delete' }));
  }
  body.replaceChildren(...parts);
}

// Shows the state as it changes until the operation (if the answer named one) ends.
function follow(ctx, operation) {
  poll(async () => {
    const d = await get(`/databases/${ctx.db.id}`);
    // Without an operation to follow: until the state settles.
    const settled = ['running', 'stopped', 'failed', 'deleted'].includes(d.state) ? 'succeeded' : 'running';
    const op = operation ? await get(`/operations/${encodeURIComponent(operation)}`) : { state: settled };
    const done = op.state === 'succeeded' || op.state === 'failed';
    ctx.state.replaceChildren(badge(d.state));
    if (ctx.enable) ctx.enable(done ? d.state : 'busy');
    if (op.state === 'failed') toast(`The operation failed: ${op.error || 'see the activity'}`, true);
    return done;
  }, ctx.token, 300, 3000);
}
