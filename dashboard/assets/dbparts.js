// The tabs of a database's page. Each draws only what the caller's role allows.
import { all, get, post, patch, del } from './api.js';
import { h, act, badge, bytes, when, poll, secret, secretsBox, confirmButton, field, table, chart, countdown, errorText } from './ui.js';

const enc = encodeURIComponent;

async function guarded(body, f) {
  try {
    await f();
  } catch (e) {
    const text = e.status === 403 ? 'Your role on this database does not include this.' : errorText(e);
    body.replaceChildren(h('p', { class: e.status === 403 ? 'muted' : 'error' }, text));
  }
}

async function network(body, { db, can }) {
  await guarded(body, async () => {
    const rules = await get(`/databases/${db.id}/allowlist`);
    const rows = rules.map((r) => h('tr', { 'data-test': 'rule' },
      h('td', {}, h('code', {}, r.cidr)), h('td', {}, r.label || ''),
      h('td', {}, r.expires_at ? countdown(r.expires_at) : 'never'), h('td', {}, when(r.created_at)),
      h('td', {}, can.manage ? confirmButton('Remove', async () => {
        await del(`/databases/${db.id}/allowlist/${enc(r.id)}`);
        await network(body, { db, can });
      }) : '')));
    const parts = [h('h2', {}, 'IP allowlist'),
      h('p', { class: 'muted' }, rules.length ? 'Only these addresses may connect.' : 'No rules: open to all addresses.'),
      table('Allowlist rules', ['CIDR', 'Label', 'Expires', 'Added', ''], rows, 'No rules.')];
    if (can.manage) {
      const cidr = h('input', { required: true, placeholder: '203.0.113.0/24', 'data-test': 'rule-cidr' });
      const label = h('input', { 'data-test': 'rule-label' });
      const ttl = h('select', { 'data-test': 'rule-ttl' }, [['', 'never'], ['300', '5 minutes'], ['3600', '1 hour'],
        ['86400', '1 day'], ['604800', '7 days']].map(([v, l]) => h('option', { value: v }, l)));
      const go = h('button', { type: 'submit' }, 'Add rule');
      const form = h('form', { class: 'card inline', 'aria-label': 'Add an allowlist rule' },
        field('Address or CIDR', cidr), field('Label', label), field('Expires after', ttl), go);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        act(go, async () => {
          const b = { cidr: cidr.value.trim() };
          if (label.value.trim()) b.label = label.value.trim();
          if (ttl.value) b.ttl_seconds = Number(ttl.value);
          await post(`/databases/${db.id}/allowlist`, b);
          await network(body, { db, can });
        }, 'Rule added');
      });
      parts.push(form);
    }
    body.replaceChildren(...parts);
  });
}

async function users(body, ctx) {
  const { db, can } = ctx;
  await guarded(body, async () => {
    const list = await get(`/databases/${db.id}/users`);
    const out = h('div');
    const rows = list.map((u) => h('tr', {}, h('td', {}, u.username), h('td', {}, badge(u.state)), h('td', {}, when(u.created_at)),
      h('td', {}, can.manage ? confirmButton('Remove', async () => {
        await del(`/databases/${db.id}/users/${enc(u.name)}`);
        await users(body, ctx);
      }) : '')));
    const parts = [h('h2', {}, 'Database users'), table('Database users', ['Login', 'State', 'Created', ''], rows, 'No extra users.'), out];
    if (can.manage) {
      const name = h('input', { required: true, pattern: '[a-z][a-z0-9\\-]{2,62}' });
      const go = h('button', { type: 'submit' }, 'Add user');
      const form = h('form', { class: 'card inline', 'aria-label': 'Add a database user' }, field('User name', name), go);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        act(go, async () => {
          const u = await post(`/databases/${db.id}/users`, { username: name.value.trim() });
          await users(body, ctx);
          body.append(secretsBox(`User ${u.username}`, 'The password is shown only now.',
            secret('Password', u.password, 'password'), secret('Connection string', u.connection_string, 'connection-string')));
        });
      });
      parts.push(form);
    }
    body.replaceChildren(...parts);
  });
}

async function collaborators(body, ctx) {
  const { db, can } = ctx;
  await guarded(body, async () => {
    const list = await get(`/databases/${db.id}/collaborators`);
    const roles = ['admin', 'developer', 'viewer'];
    const rows = list.map((c) => {
      let role = c.role;
      if (can.manage) {
        role = h('select', { 'aria-label': `Role of ${c.email}` }, roles.map((r) => h('option', { value: r, selected: r === c.role }, r)));
        role.addEventListener('change', () => act(role, () => patch(`/databases/${db.id}/collaborators/${enc(c.user_id)}`, { role: role.value }), 'Role changed'));
      }
      return h('tr', {}, h('td', {}, c.email), h('td', {}, role), h('td', {}, when(c.added_at)),
        h('td', {}, can.manage ? confirmButton('Remove', async () => {
          await del(`/databases/${db.id}/collaborators/${enc(c.user_id)}`);
          await collaborators(body, ctx);
        }) : ''));
    });
    const parts = [h('h2', {}, 'Collaborators'), table('Collaborators', ['Email', 'Role', 'Added', ''], rows, 'Not shared with anyone.')];
    if (can.manage) {
      const email = h('input', { type: 'email', required: true });
      const role = h('select', {}, roles.map((r) => h('option', { value: r }, r)));
      const go = h('button', { type: 'submit' }, 'Share');
      const form = h('form', { class: 'card inline', 'aria-label': 'Share the database' }, field('Email', email), field('Role', role), go);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        act(go, async () => {
          await post(`/databases/${db.id}/collaborators`, { email: email.value.trim(), role: role.value });
          await collaborators(body, ctx);
        }, 'Shared');
      });
      parts.push(form);
    }
    body.replaceChildren(...parts);
  });
}

async function backups(body, ctx) {
  const { db, can, token } = ctx;
  if (!can.backups) {
    body.replaceChildren(h('h2', {}, 'Backups'), h('p', { class: 'muted' }, 'Your role does not include backups.'));
    return;
  }
  await guarded(body, async () => {
    const list = await all(`/databases/${db.id}/backups`);
    const out = h('div', { 'aria-live': 'polite' });
    const rows = list.map((b) => {
      const cells = [];
      if (b.state === 'succeeded') {
        cells.push(h('a', { href: `/api/v1/databases/${db.id}/backups/${enc(b.id)}/download`, download: '', class: 'button small secondary' }, 'Download'));
        if (can.manage) {
          const v = h('button', { type: 'button', class: 'small secondary' }, 'Verify');
          v.addEventListener('click', () => act(v, async () => { await post(`/databases/${db.id}/backups/${enc(b.id)}/verify`); watch(); }, 'Verification started'));
          cells.push(v);
        }
        if (can.owner) {
          const r = h('button', { type: 'button', class: 'small secondary', 'data-test': 'restore' }, 'Restore…');
          r.addEventListener('click', () => out.replaceChildren(restoreForm(db, b, out)));
          cells.push(r);
        }
      }
      if (can.manage && b.state !== 'pending' && b.state !== 'running') {
        cells.push(confirmButton('Delete', async () => {
          await del(`/databases/${db.id}/backups/${enc(b.id)}`);
          await backups(body, ctx);
        }));
      }
      const verified = b.verified_at ? (b.verified_ok ? 'verified' : 'verify failed') : '';
      return h('tr', { 'data-test': 'backup', 'data-state': b.state }, h('td', {}, b.label || b.id),
        h('td', {}, badge(b.state), ' ', verified), h('td', {}, b.trigger), h('td', { class: 'num' }, bytes(b.size_bytes)),
        h('td', {}, when(b.finished_at || b.created_at)), h('td', { class: 'actions' }, cells));
    });
    const label = h('input', { 'data-test': 'backup-label' });
    const go = h('button', { type: 'submit', 'data-test': 'create-backup' }, 'Create backup');
    const form = h('form', { class: 'card inline', 'aria-label': 'Create a backup' }, field('Label (optional)', label), go);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      act(go, async () => {
        await post(`/databases/${db.id}/backups`, label.value.trim() ? { label: label.value.trim() } : {});
        await backups(body, ctx);
      }, 'Backup started');
    });
    const parts = [h('h2', {}, 'Backups'), form, table('Backups', ['Backup', 'State', 'Trigger', 'Size', 'When', ''], rows, 'No backups yet.'), out];
    if (can.owner) {
      const name = h('input', { required: true, pattern: '[a-z][a-z0-9\\-]{2,62}', 'data-test': 'branch-name' });
      const b = h('button', { type: 'submit' }, 'Branch');
      const f = h('form', { class: 'card inline', 'aria-label': 'Branch the database' }, field('Branch into a new database named', name), b);
      f.addEventListener('submit', (ev) => {
        ev.preventDefault();
        act(b, async () => { created(out, await post(`/databases/${db.id}/branch`, { name: name.value.trim() })); });
      });
      parts.push(f);
    }
    body.replaceChildren(...parts);
    function watch() {
      poll(async () => {
        const now = await all(`/databases/${db.id}/backups`);
        const busy = now.some((x) => x.state === 'pending' || x.state === 'running');
        if (!busy) await backups(body, ctx);
        return !busy;
      }, token);
    }
    if (list.some((x) => x.state === 'pending' || x.state === 'running')) watch();
  });
}

function created(out, d) {
  const secrets = d.password ? [secret('Password', d.password, 'password'), secret('Connection string', d.connection_string, 'connection-string')] : [];
  out.replaceChildren(secretsBox(`Database ${d.name} is being created`, 'Follow it in the databases list.',
    h('p', {}, h('a', { href: `#/databases/${d.id}`, 'data-test': 'new-db-link' }, `Open ${d.name}`), ' — ', badge(d.state)), ...secrets));
}

function restoreForm(db, b, out) {
  const name = h('input', { required: true, pattern: '[a-z][a-z0-9\\-]{2,62}', 'data-test': 'restore-name' });
  const go = h('button', { type: 'submit', 'data-test': 'restore-go' }, 'Restore into a new database');
  const f = h('form', { class: 'card inline', 'aria-label': 'Restore a backup' }, field(`Restore ${b.label || b.id} into a new database named`, name), go);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(go, async () => { created(out, await post(`/databases/${db.id}/restore`, { backup_id: b.id, target_name: name.value.trim() })); });
  });
  setTimeout(() => name.focus(), 0);
  return f;
}

async function activity(body, { db, me }) {
  const who = (a) => {
    const user = a.actor.user_id === me.user_id ? 'you' : a.actor.user_id || 'platform';
    return a.actor.api_key_id ? `${user} (key ${a.actor.api_key_id})` : user;
  };
  await guarded(body, async () => {
    const page = await get(`/databases/${db.id}/activity?limit=50`);
    const rows = page.map((a) => h('tr', {}, h('td', {}, when(a.at)), h('td', {}, h('code', {}, a.action)),
      h('td', {}, who(a)),
      h('td', {}, a.resource.name || a.resource.id)));
    body.replaceChildren(h('h2', {}, 'Activity'), table('Activity', ['When', 'Action', 'Actor', 'Resource'], rows, 'No activity.'));
  });
}

// The past day from the worker's samples (a minute apart), and the summary and statements
// of GET /observability; both read again every 15 s while the page is open.
async function metrics(body, { db, token }) {
  const summary = h('div', { class: 'fields', 'data-test': 'observe-summary' });
  const charts = h('div', { class: 'charts', 'data-test': 'charts' });
  const top = h('div', { 'data-test': 'observe-statements' });
  body.replaceChildren(h('h2', {}, 'Metrics'), h('p', { class: 'muted' }, 'The past 24 hours, one sample a minute. Statements are the database\'s own; Berth\'s backups and checks are never counted.'), summary, charts, top);
  const num = (x, digits = 2) => (x === null || x === undefined ? '—' : Number(x).toFixed(digits));
  const tick = async () => {
    if (token.stopped) return;
    try {
      const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
      const [m, o] = await Promise.all([get(`/databases/${db.id}/metrics?since=${encodeURIComponent(since)}`), get(`/databases/${db.id}/observability`)]);
      const at = (p) => Date.parse(p.at) / 1000;
      const rated = (key) => m.history.filter((p) => p[key] !== null).map((p) => [at(p), p[key]]);
      const sm = o.summary;
      summary.replaceChildren(...[['Transactions / s', num(sm.tps, 1)], ['Latency avg ms', num(sm.latency_avg_ms)], ['Latency p99 ms (estimate)', num(sm.latency_p99_ms)],
        ['Active connections', sm.active_connections], ['Storage', bytes(sm.database_storage_bytes)]].map(([k, v]) => h('div', { class: 'field' }, h('span', { class: 'muted' }, k), ' ', h('strong', {}, String(v)))));
      charts.replaceChildren(
        chart('Transactions / s', rated('tps'), (x) => x.toFixed(1)),
        chart('Latency avg ms', rated('latency_avg_ms'), (x) => x.toFixed(2)),
        chart('Connections', m.history.map((p) => [at(p), p.active_connections])),
        chart('Size', m.history.map((p) => [at(p), p.size_bytes]), bytes));
      if (o.samples && o.samples.length) {
        top.replaceChildren(h('h3', {}, 'Statements by total time'), table('Statements', ['Statement', 'Calls', 'Errors', 'Avg ms', 'p99 ms', 'Max ms'],
          o.samples.map((s) => h('tr', {}, h('td', {}, h('code', { class: 'stmt', title: s.query }, s.query.length > 200 ? s.query.slice(0, 200) + '…' : s.query)),
            h('td', { class: 'num' }, s.sample_count), h('td', { class: 'num' }, s.error_count), h('td', { class: 'num' }, num(s.latency_avg_ms)),
            h('td', { class: 'num' }, num(s.latency_p99_ms)), h('td', { class: 'num' }, num(s.latency_max_ms))))));
      }
    } catch (e) {
      charts.replaceChildren(h('p', { class: 'error' }, errorText(e)));
    }
    setTimeout(tick, historyWait(charts));
  };
  await tick();
}

// Quickly while the history is too short to draw, then every 15 s.
function historyWait(charts) {
  const line = charts.querySelector('svg path.line');
  return line && line.getAttribute('d').includes('L') ? 15000 : 1500;
}

async function schema(body, { db }) {
  await guarded(body, async () => {
    const s = await get(`/databases/${db.id}/schema`);
    const tables = s.tables.map((t) => h('details', { class: 'card' }, h('summary', {}, `${t.schema}.${t.name}`, h('span', { class: 'muted' }, ` · ${t.columns.length} columns`)),
      table(`Columns of ${t.name}`, ['Column', 'Type', 'Null'], t.columns.map((c) => h('tr', {}, h('td', {}, c.name), h('td', {}, h('code', {}, c.type)), h('td', {}, c.nullable ? 'yes' : 'no'))))));
    body.replaceChildren(h('h2', {}, 'Tables'), ...(tables.length ? tables : [h('p', { class: 'muted' }, 'No tables.')]),
      h('h2', {}, 'Views'), s.views.length ? h('ul', {}, s.views.map((v) => h('li', {}, `${v.schema}.${v.name}`))) : h('p', { class: 'muted' }, 'No views.'));
  });
}

export const parts = { network, users, collaborators, backups, activity, metrics, schema };
