// Platform admins: every account with its plan and what it holds, paged and filtered; each
// row changes its account's plan.
import { call, patch } from './api.js';
import { h, act, when, field, bytes, errorText } from './ui.js';

const PLANS = ['free', 'pro', 'business'];
const SIZE = 25;

export function accountsTable() {
  const plan = h('select', { 'data-test': 'account-plan-filter' }, h('option', { value: '' }, 'All plans'), PLANS.map((p) => h('option', { value: p }, p)));
  const email = h('input', { type: 'search', placeholder: 'part of an email', 'data-test': 'account-email-filter', autocomplete: 'off' });
  const filter = h('button', { type: 'submit', class: 'secondary' }, 'Filter');
  const form = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter accounts' }, field('Plan', plan), field('Owner email', email), filter);
  const list = h('div', { 'data-test': 'accounts', 'aria-live': 'polite' });
  const pager = h('div', { class: 'pager' });
  // cursors[i] starts page i (null: the first page).
  let cursors = [null];
  let at = 0;

  function row(a) {
    const owner = a.owner_email || 'anonymous';
    const choice = h('select', { 'aria-label': `Plan of ${owner}`, 'data-test': 'row-plan' }, PLANS.map((p) => h('option', { value: p, selected: p === a.plan }, p)));
    const set = h('button', { type: 'button', class: 'small', 'data-test': 'set-plan' }, 'Set plan');
    set.addEventListener('click', () => act(set, async () => {
      await patch(`/admin/accounts/${encodeURIComponent(a.id)}`, { plan: choice.value });
      await load();
    }, `${owner} is on plan ${choice.value}`));
    return h('tr', { 'data-test': 'account', 'data-id': a.id, 'data-plan': a.plan },
      h('th', { scope: 'row', class: 'owner' }, a.owner_email || h('span', { class: 'muted' }, 'anonymous')),
      h('td', { class: 'id' }, h('code', {}, a.id)),
      h('td', {}, h('div', { class: 'row-plan' }, choice, set)),
      h('td', { class: 'num' }, a.databases),
      h('td', { class: 'num' }, bytes(a.storage_mb * 1024 * 1024)),
      h('td', { class: 'num' }, a.api_keys),
      h('td', { class: 'hide-sm' }, when(a.created_at)));
  }

  async function load() {
    const q = new URLSearchParams({ limit: String(SIZE) });
    if (plan.value) q.set('plan', plan.value);
    if (email.value.trim()) q.set('email', email.value.trim());
    if (cursors[at]) q.set('cursor', cursors[at]);
    try {
      const page = await call('GET', `/admin/accounts?${q}`);
      cursors = cursors.slice(0, at + 1);
      if (page.next_cursor) cursors.push(page.next_cursor);
      list.replaceChildren(page.data.length ? h('div', { class: 'scroll' }, h('table', { 'data-test': 'account-table' },
        h('caption', { class: 'sr' }, 'Accounts'),
        h('thead', {}, h('tr', {}, ['Owner', 'Account', 'Plan', 'Databases', 'Storage', 'Keys', 'Created'].map((c) => h('th', { scope: 'col', class: c === 'Created' ? 'hide-sm' : null }, c)))),
        h('tbody', {}, page.data.map(row)))) : h('p', { class: 'muted' }, 'No accounts match.'));
      const prev = h('button', { type: 'button', class: 'secondary small', disabled: at === 0, 'data-test': 'accounts-prev' }, 'Previous');
      const next = h('button', { type: 'button', class: 'secondary small', disabled: at + 1 >= cursors.length, 'data-test': 'accounts-next' }, 'Next');
      prev.addEventListener('click', () => { at--; load(); });
      next.addEventListener('click', () => { at++; load(); });
      pager.replaceChildren(...(cursors.length > 1 ? [prev, h('span', { class: 'muted' }, `page ${at + 1}`), next] : []));
    } catch (e) {
      list.replaceChildren(h('p', { class: 'error' }, errorText(e)));
      pager.replaceChildren();
    }
  }

  const restart = () => { cursors = [null]; at = 0; return load(); };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); restart(); });
  plan.addEventListener('change', restart);
  return { element: h('div', {}, form, list, pager), load };
}
