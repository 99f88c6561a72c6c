// API keys: create (scope, databases with read-only or read-write access each), the secret shown once, replace, revoke, last used.
import { all, get, post, del } from './api.js';
import { h, act, when, secret, secretsBox, confirmButton, field, table, errorText } from './ui.js';

export async function keys(main, me, token) {
  const out = h('div', { 'aria-live': 'polite' });
  let list, dbs;
  try {
    [list, dbs] = await Promise.all([get('/api-keys'), all('/databases')]);
  } catch (e) {
    main.replaceChildren(h('h1', {}, 'API keys'), h('p', { class: 'error' }, errorText(e)));
    return;
  }
  const names = new Map(dbs.map((d) => [d.id, d.name]));
  const shown = (k) => secretsBox(`Key ${k.label}`, 'The secret is shown only now: copy it. Berth keeps only a hash of it.', secret('API key', k.key, 'api-key'));
  const rows = list.map((k) => {
    const replace = h('button', { type: 'button', class: 'small secondary' }, 'Replace');
    replace.addEventListener('click', () => act(replace, async () => {
      const n = await post(`/api-keys/${encodeURIComponent(k.id)}/replace`);
      out.replaceChildren(shown(n));
    }));
    return h('tr', { 'data-test': 'key', 'data-label': k.label },
      h('td', {}, k.label), h('td', {}, h('code', {}, k.prefix)),
      h('td', {}, k.scope === 'all' ? 'all databases' : (k.databases || k.database_ids.map((id) => ({ id, access: 'rw' })))
        .map((d) => `${names.get(d.id) || d.id}${d.access === 'ro' ? ' (read-only)' : ''}`).join(', ')),
      h('td', {}, when(k.created_at)), h('td', {}, k.last_used_at ? when(k.last_used_at) : 'never'),
      h('td', { class: 'actions' }, replace, confirmButton('Revoke', async () => {
        await del(`/api-keys/${encodeURIComponent(k.id)}`);
        await keys(main, me, token);
      }, { 'data-test': 'revoke' })));
  });

  const label = h('input', { required: true, maxlength: 100, 'data-test': 'key-label' });
  const scope = h('select', { 'data-test': 'key-scope' }, h('option', { value: 'all' }, 'All databases'), h('option', { value: 'selected' }, 'Selected databases'));
  const picks = h('fieldset', { class: 'picks', hidden: true }, h('legend', {}, 'Databases'),
    dbs.length > 200 ? h('p', { class: 'muted' }, 'Showing the first 200.') : null,
    dbs.slice(0, 200).map((d) => h('div', { class: 'check' },
      h('label', {}, h('input', { type: 'checkbox', value: d.id }), d.name), ' ',
      h('select', { 'data-test': 'key-access', 'data-db': d.id, 'aria-label': `Access to ${d.name}` },
        h('option', { value: 'rw' }, 'read-write (your role)'), h('option', { value: 'ro' }, 'read-only')))));
  scope.addEventListener('change', () => { picks.hidden = scope.value !== 'selected'; });
  const go = h('button', { type: 'submit', 'data-test': 'create-key' }, 'Create key');
  const form = h('form', { class: 'card', 'aria-label': 'Create an API key' }, field('Label', label), field('Scope', scope), picks, go);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(go, async () => {
      const b = { label: label.value.trim(), scope: scope.value };
      if (scope.value === 'selected') {
        b.databases = [...picks.querySelectorAll('input:checked')].map((i) => ({
          id: i.value, access: picks.querySelector(`select[data-db="${i.value}"]`).value,
        }));
      }
      const k = await post('/api-keys', b);
      await keys(main, me, token);
      main.querySelector('[data-test=key-out]').replaceChildren(shown(k));
    });
  });
  out.dataset.test = 'key-out';
  main.replaceChildren(h('h1', {}, 'API keys'), form, out,
    table('API keys', ['Label', 'Prefix', 'Scope', 'Created', 'Last used', ''], rows, 'No keys.'));
}
