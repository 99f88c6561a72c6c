// SQL over HTTP: an editor with a results grid (read-only for developers), the approvals
// queue and its settings, and the per-query audit.
import { get, post, call } from './api.js';
import { h, act, badge, when, field, table, confirmButton, errorText } from './ui.js';

const enc = encodeURIComponent;

// A cell as text: strings bare, null as an empty cell marked `null`, the rest as JSON.
function cell(v) {
  if (v === null) return h('td', { class: 'muted' }, 'null');
  return h('td', {}, typeof v === 'string' ? v : JSON.stringify(v));
}

function grid(r) {
  if (!r.columns.length) return h('p', { 'data-test': 'sql-summary' }, `${r.command} ${r.row_count}`);
  const head = r.columns.map((c) => h('span', { title: c.data_type }, c.name));
  const rows = r.rows.map((row) => h('tr', { 'data-test': 'sql-row' }, row.map(cell)));
  return h('div', {},
    table('Query results', head, rows, 'No rows.'),
    h('p', { class: 'muted', 'data-test': 'sql-summary' },
      `${r.command} · ${r.row_count} row${r.row_count === 1 ? '' : 's'}`,
      r.truncated ? ' · truncated: more rows than the response carries' : ''));
}

async function editor(body, { db, can }) {
  const text = h('textarea', { rows: 8, spellcheck: 'false', class: 'code', 'data-test': 'sql-text',
    placeholder: 'select * from …' });
  const readOnly = h('input', { type: 'checkbox', 'data-test': 'sql-read-only' });
  const go = h('button', { type: 'submit', 'data-test': 'sql-run' }, 'Run');
  const out = h('div', { 'data-test': 'sql-result', 'aria-live': 'polite' });
  const recent = h('div', { 'data-test': 'recent-queries' });
  const refresh = async () => recent.replaceChildren(await queries(db));
  const form = h('form', { class: 'card', 'aria-label': 'Run SQL' }, field('SQL', text));
  if (can.manage) form.append(h('p', {}, h('label', {}, readOnly, ' Read-only (as the explorer role)')));
  else form.append(h('p', { class: 'muted' }, 'Your role runs read-only SQL, as the database\'s explorer role.'));
  form.append(go);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(go, async () => {
      try {
        const r = await post(`/databases/${db.id}/sql`, { query: text.value, read_only: readOnly.checked });
        if (r.approval_id) {
          out.replaceChildren(h('p', { 'data-test': 'sql-held' }, 'Held for approval: ', h('code', {}, r.approval_id),
            '. An owner or admin approves it in ', h('a', { href: `#/databases/${db.id}/approvals` }, 'Approvals'), '.'));
        } else {
          out.replaceChildren(grid(r));
        }
      } catch (e) {
        out.replaceChildren(h('p', { class: 'error', 'data-test': 'sql-error' }, errorText(e)));
      }
      await refresh();
    });
  });
  await refresh();
  body.replaceChildren(h('h2', {}, 'SQL'), form, out, h('h2', {}, 'Recent queries'), recent);
}

async function queries(db) {
  const page = await call('GET', `/databases/${db.id}/queries?limit=20`);
  const rows = page.data.map((q) => h('tr', { 'data-test': 'query' },
    h('td', {}, when(q.at)), h('td', {}, q.source), h('td', {}, q.command || ''), h('td', {}, q.row_count ?? ''),
    h('td', {}, `${q.duration_ms} ms`), h('td', {}, q.error || ''),
    h('td', {}, h('code', {}, q.statement || `fingerprint ${q.fingerprint}`))));
  return table('Recent queries', ['When', 'Source', 'Command', 'Rows', 'Took', 'Error', 'Statement'], rows,
    'No queries yet.');
}

async function approvals(body, ctx) {
  const { db, can, me } = ctx;
  const [list, settings] = await Promise.all([get(`/databases/${db.id}/approvals`), get(`/databases/${db.id}/approval-settings`)]);
  const mine = (a) => me && a.requested_by === me.user_id;
  const decide = (a, verb) => async () => {
    const confirm = verb === 'approve' && mine(a);
    await post(`/databases/${db.id}/approvals/${enc(a.id)}/${verb}`, { confirm });
    await approvals(body, ctx);
  };
  const rows = list.map((a) => h('tr', { 'data-test': 'approval' },
    h('td', {}, h('code', {}, a.statement)), h('td', {}, a.kinds.join(', ')), h('td', {}, badge(a.state)),
    h('td', {}, when(a.requested_at)), h('td', {}, a.result ? (a.result.error || `${a.result.command} ${a.result.row_count ?? ''}`) : ''),
    h('td', {}, a.state === 'pending'
      ? h('span', { class: 'actions' }, confirmButton('Approve', decide(a, 'approve'), { class: 'small', 'data-test': 'approve' }),
        confirmButton('Reject', decide(a, 'reject'), { 'data-test': 'reject' }))
      : '')));
  const parts = [h('h2', {}, 'Approvals'),
    h('p', { class: 'muted' }, settings.enabled
      ? `On: ${settings.kinds.join(', ')} (and what cannot be classified) wait for an owner or admin other than the requester.`
      : 'Off: statements run when sent.'),
    table('Held statements', ['Statement', 'Kinds', 'State', 'Requested', 'Result', ''], rows, 'Nothing held.')];
  if (can.owner) parts.push(settingsForm(body, ctx, settings));
  body.replaceChildren(...parts);
}

function settingsForm(body, ctx, s) {
  const { db } = ctx;
  const enabled = h('input', { type: 'checkbox', checked: s.enabled, 'data-test': 'approvals-enabled' });
  const record = h('input', { type: 'checkbox', checked: s.record_statements, 'data-test': 'record-statements' });
  const kinds = ['drop', 'truncate', 'alter', 'delete_without_where', 'update_without_where'].map((k) =>
    [k, h('input', { type: 'checkbox', checked: s.kinds.includes(k), value: k })]);
  const ttl = h('input', { type: 'number', min: 60, max: 2592000, value: s.ttl_seconds, 'data-test': 'approvals-ttl' });
  const save = h('button', { type: 'submit', 'data-test': 'approvals-save' }, 'Save settings');
  const form = h('form', { class: 'card', 'aria-label': 'Approval settings' },
    h('label', {}, enabled, ' Hold statements for approval'),
    h('fieldset', {}, h('legend', {}, 'Kinds held'), kinds.map(([k, box]) => h('label', {}, box, ` ${k} `))),
    field('Expires after (seconds)', ttl),
    h('label', {}, record, ' Keep statements (constants taken out) in the query audit'), save);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(save, async () => {
      await call('PUT', `/databases/${db.id}/approval-settings`, {
        enabled: enabled.checked, record_statements: record.checked, ttl_seconds: Number(ttl.value),
        kinds: kinds.filter(([, b]) => b.checked).map(([k]) => k),
      });
      await approvals(body, ctx);
    }, 'Settings saved');
  });
  return form;
}

export const sqlParts = { sql: editor, approvals };
