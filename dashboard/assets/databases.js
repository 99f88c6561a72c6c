// The databases the caller owns or shares, with live states while operations run, and the
// create form (password and connection string shown once).
import { all, get, post } from './api.js';
import { h, act, bytes, badge, field, poll, secret, secretsBox, errorText } from './ui.js';

const PAGE = 50;
const SETTLED = new Set(['running', 'stopped', 'failed', 'deleted']);

export async function databases(main, me, token) {
  const started = performance.now();
  let list = [];
  let page = 0;
  let filter = '';
  const body = h('tbody');
  const pager = h('div', { class: 'pager' });
  const count = h('p', { class: 'muted', 'aria-live': 'polite', 'data-test': 'db-count' });
  const created = h('div');

  const row = (d) => h('tr', { 'data-test': 'db-row', 'data-name': d.name, 'data-state': d.state },
    h('th', { scope: 'row' }, h('a', { href: `#/databases/${d.id}` }, d.name)),
    h('td', {}, d.role), h('td', { class: 'hide-sm' }, d.engine), h('td', {}, badge(d.state)),
    h('td', { class: 'num' }, bytes(d.size_bytes)));

  function draw() {
    const shown = filter ? list.filter((d) => d.name.includes(filter)) : list;
    const pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = Math.min(page, pages - 1);
    body.replaceChildren(...shown.slice(page * PAGE, (page + 1) * PAGE).map(row));
    count.textContent = `${shown.length} database${shown.length === 1 ? '' : 's'}` +
      (pages > 1 ? ` · page ${page + 1} of ${pages}` : '');
    const prev = h('button', { type: 'button', class: 'secondary small', disabled: page === 0 }, 'Previous');
    const next = h('button', { type: 'button', class: 'secondary small', disabled: page >= pages - 1 }, 'Next');
    prev.addEventListener('click', () => { page--; draw(); });
    next.addEventListener('click', () => { page++; draw(); });
    pager.replaceChildren(...(pages > 1 ? [prev, next] : []));
  }

  async function load() {
    list = await all('/databases');
    draw();
    return list.every((d) => SETTLED.has(d.state));
  }

  try {
    await load();
  } catch (e) {
    main.replaceChildren(h('p', { class: 'error' }, errorText(e)));
    return;
  }
  const search = h('input', { type: 'search', placeholder: 'name contains…' });
  search.addEventListener('input', () => { filter = search.value.trim(); page = 0; draw(); });

  const parts = [h('h1', {}, 'Databases')];
  parts.push(createForm(created, token, load));
  parts.push(created, h('div', { class: 'toolbar' }, field('Filter', search), count),
    h('div', { class: 'scroll' }, h('table', { 'data-test': 'db-table' },
      h('caption', { class: 'sr' }, 'Your databases'),
      h('thead', {}, h('tr', {}, ['Name', 'Role', 'Engine', 'State', 'Size'].map((c) => h('th', { scope: 'col', class: c === 'Engine' ? 'hide-sm' : null }, c)))),
      body)), pager);
  main.replaceChildren(...parts);
  // Fetched, laid out and painted: the next frame after the DOM change.
  requestAnimationFrame(() => setTimeout(() => {
    const ms = performance.now() - started;
    main.dataset.renderMs = ms.toFixed(1);
    performance.mark('berth:databases-rendered', { detail: { ms, count: list.length } });
  }, 0));

  function watch() {
    if (!list.every((d) => SETTLED.has(d.state))) poll(load, token);
  }
  watch();
}

function createForm(out, token, reload) {
  const name = h('input', { name: 'name', required: true, pattern: '[a-z][a-z0-9\\-]{2,62}',
    autocomplete: 'off', spellcheck: 'false', 'data-test': 'new-db-name' });
  // An engine the deployment has not enabled answers ENGINE_DISABLED, shown as any error.
  const engine = h('select', { name: 'engine', 'data-test': 'new-db-engine' },
    h('option', { value: 'postgres' }, 'PostgreSQL'), h('option', { value: 'mariadb' }, 'MariaDB'));
  const go = h('button', { type: 'submit' }, 'Create database');
  const form = h('form', { class: 'card inline', 'aria-label': 'Create a database' },
    field('New database name', name, 'Lowercase letters, digits and dashes; 3 to 63 characters.'),
    field('Engine', engine), go);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(go, async () => {
      const d = await post('/databases', { name: name.value.trim(), engine: engine.value });
      name.value = '';
      const progress = h('p', { 'data-test': 'create-progress', 'aria-live': 'polite' });
      const show = (state) => {
        progress.dataset.state = state;
        progress.replaceChildren(`${d.name}: `, badge(state),
          state === 'running' ? ' — ready.' : state === 'failed' ? ' — see the activity log.' : ' — setting up…');
      };
      show(d.state);
      out.replaceChildren(secretsBox(`Database ${d.name} created`,
        'The password is shown only now: copy it before leaving this page.',
        secret('Password', d.password, 'password'),
        secret('Connection string', d.connection_string, 'connection-string'), progress));
      await reload();
      if (d.state !== 'running') {
        poll(async () => {
          const now = await get(`/databases/${d.id}`);
          show(now.state);
          if (SETTLED.has(now.state)) { await reload(); return true; }
          return false;
        }, token);
      }
    });
  });
  return form;
}
