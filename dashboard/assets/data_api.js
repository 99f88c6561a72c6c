// The data API: publishable and service keys (the secret shown once), and the auth config
// that verifies users' JWTs. Owners and admins.
import { get, post, del, call, ApiError } from './api.js';
import { h, act, when, secret, secretsBox, confirmButton, field, table } from './ui.js';

const enc = encodeURIComponent;
const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);

async function dataApi(body, ctx) {
  const { db } = ctx;
  const base = `/databases/${db.id}`;
  const [pks, sks, config] = await Promise.all([get(`${base}/publishable-keys`), get(`${base}/service-keys`),
    get(`${base}/auth-config`).catch((e) => { if (e instanceof ApiError && e.status === 404) return null; throw e; })]);
  const out = h('div', { 'aria-live': 'polite', 'data-test': 'data-key-out' });
  const reload = async (shown) => { await dataApi(body, ctx); if (shown) body.querySelector('[data-test=data-key-out]').replaceChildren(shown); };
  const revoke = (kind, k) => confirmButton('Revoke', async () => {
    await del(`${base}/${kind}-keys/${enc(k.id)}`);
    await reload();
  }, { 'data-test': 'revoke-data-key' });
  const expires = (k) => (k.expires_at ? when(k.expires_at) : 'never');
  const pkRows = pks.map((k) => h('tr', { 'data-test': 'publishable-key' },
    h('td', {}, k.name), h('td', {}, h('code', {}, `brth_pk_${k.prefix}_…`)),
    h('td', {}, k.allowed_origins.join(', ') || 'any'), h('td', {}, k.exposed_schemas.join(', ')),
    h('td', {}, k.exposed_tables.join(', ') || 'all'), h('td', {}, k.rate_limit ? `${k.rate_limit.rps}/s, burst ${k.rate_limit.burst}` : ''),
    h('td', {}, expires(k)), h('td', { class: 'actions' }, revoke('publishable', k))));
  const skRows = sks.map((k) => h('tr', { 'data-test': 'service-key' },
    h('td', {}, k.name), h('td', {}, h('code', {}, `brth_sk_${k.prefix}_…`)), h('td', {}, when(k.created_at)),
    h('td', {}, expires(k)), h('td', { class: 'actions' }, revoke('service', k))));

  const name = h('input', { maxlength: 100, 'data-test': 'pk-name' });
  const origins = h('input', { placeholder: 'https://app.example.com, …', 'data-test': 'pk-origins' });
  const schemas = h('input', { placeholder: 'public', 'data-test': 'pk-schemas' });
  const tables = h('input', { placeholder: 'all tables', 'data-test': 'pk-tables' });
  const rps = h('input', { type: 'number', min: 0, step: 'any', 'data-test': 'pk-rps' });
  const burst = h('input', { type: 'number', min: 1, step: 'any', 'data-test': 'pk-burst' });
  const days = h('input', { type: 'number', min: 1, max: 3650, 'data-test': 'pk-days' });
  const kind = h('select', { 'data-test': 'key-kind' }, h('option', { value: 'publishable' }, 'Publishable (browsers)'),
    h('option', { value: 'service' }, 'Service (servers; bypasses row-level security)'));
  const browserOnly = h('div', {}, field('Allowed origins', origins, 'Comma-separated; empty: any origin'),
    field('Exposed schemas', schemas), field('Exposed tables', tables, 'table or schema.table, comma-separated'),
    field('Requests per second', rps), field('Burst', burst));
  kind.addEventListener('change', () => { browserOnly.hidden = kind.value !== 'publishable'; });
  const go = h('button', { type: 'submit', 'data-test': 'create-data-key' }, 'Create key');
  const form = h('form', { class: 'card', 'aria-label': 'Create a data-API key' }, field('Kind', kind), field('Name', name),
    browserOnly, field('Expires in (days)', days, 'Empty: never'), go);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(go, async () => {
      const b = {};
      if (name.value.trim()) b.name = name.value.trim();
      if (days.value) b.expires_in_days = Number(days.value);
      if (kind.value === 'publishable') {
        if (origins.value.trim()) b.allowed_origins = list(origins.value);
        if (schemas.value.trim()) b.exposed_schemas = list(schemas.value);
        if (tables.value.trim()) b.exposed_tables = list(tables.value);
        if (rps.value && burst.value) b.rate_limit = { rps: Number(rps.value), burst: Number(burst.value) };
      }
      const k = await post(`${base}/${kind.value}-keys`, b);
      const text = k.publishable_key || k.service_key;
      await reload(secretsBox(`Key ${k.name || k.prefix}`, 'The key is shown only now: copy it. Berth keeps only a hash of it.',
        secret(kind.value === 'publishable' ? 'Publishable key' : 'Service key', text, 'data-key')));
    });
  });

  body.replaceChildren(h('h2', {}, 'Data API'),
    h('p', { class: 'muted' }, 'A PostgREST-compatible API at ', h('code', {}, `${location.origin}/data/${db.id}/rest/v1/`),
      ': publishable keys act as the database\'s anon role (authenticated with a JWT the auth config verifies); service keys bypass row-level security.'),
    h('pre', { class: 'card', 'data-test': 'data-api-snippet' }, `import { createClient } from '@supabase/supabase-js'\nconst db = createClient('${location.origin}/data/${db.id}', '<publishable key>')\nconst { data, error } = await db.from('todos').select('*')`),
    form, out,
    h('h3', {}, 'Publishable keys'),
    table('Publishable keys', ['Name', 'Key', 'Origins', 'Schemas', 'Tables', 'Rate limit', 'Expires', ''], pkRows, 'No publishable keys.'),
    h('h3', {}, 'Service keys'),
    table('Service keys', ['Name', 'Key', 'Created', 'Expires', ''], skRows, 'No service keys.'),
    authForm(body, ctx, config));
}

function authForm(body, ctx, config) {
  const { db } = ctx;
  const c = config ? config.byo_jwt : { claims_allowlist: ['sub', 'role', 'email', 'aud', 'exp'], claims_max_bytes: 4096, subject_claim: 'sub' };
  const url = h('input', { value: c.jwks_url || '', placeholder: 'https://issuer.example.com/.well-known/jwks.json', 'data-test': 'jwks-url' });
  const inline = h('textarea', { rows: 4, placeholder: '{"keys": [...]} (public keys only)', 'data-test': 'jwks-inline' });
  inline.value = c.jwks ? JSON.stringify(c.jwks) : '';
  const issuer = h('input', { required: true, value: c.issuer || '', 'data-test': 'jwt-issuer' });
  const audience = h('input', { required: true, value: c.audience || '', 'data-test': 'jwt-audience' });
  const subject = h('input', { value: c.subject_claim, 'data-test': 'jwt-subject' });
  const allow = h('input', { value: c.claims_allowlist.join(', '), 'data-test': 'jwt-allowlist' });
  const max = h('input', { type: 'number', min: 64, max: 65536, value: c.claims_max_bytes, 'data-test': 'jwt-max' });
  const save = h('button', { type: 'submit', 'data-test': 'auth-config-save' }, 'Save auth config');
  const form = h('form', { class: 'card', 'aria-label': 'Auth config' }, h('h3', {}, 'Auth config (bring your own JWT)'),
    h('p', { class: 'muted', 'data-test': 'auth-config-state' }, config ? `Set: tokens from ${c.issuer}.` : 'Not set: JWTs are refused.'),
    field('JWKS URL', url, 'Or paste a JWK Set below; exactly one of the two'), field('JWK Set', inline),
    field('Issuer', issuer), field('Audience', audience), field('Subject claim', subject),
    field('Claims passed to SQL', allow, 'Comma-separated'), field('Claims size cap (bytes)', max), save);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(save, async () => {
      const byo = { issuer: issuer.value.trim(), audience: audience.value.trim(), subject_claim: subject.value.trim() || undefined,
        claims_allowlist: list(allow.value), claims_max_bytes: Number(max.value) };
      if (url.value.trim()) byo.jwks_url = url.value.trim();
      if (inline.value.trim()) byo.jwks = JSON.parse(inline.value);
      await call('PUT', `/databases/${db.id}/auth-config`, { auth_mode: 'byo_jwt', byo_jwt: byo });
      await dataApi(body, ctx);
    }, 'Auth config saved');
  });
  return form;
}

export const dataApiParts = { dataapi: dataApi };
