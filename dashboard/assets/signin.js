// Sign in: an API key, an OIDC id token where an issuer is configured, or "try it" with an
// anonymous account where those are enabled.
import { get, post } from './api.js';
import { h, act, field, errorText, secret, secretsBox } from './ui.js';

// The identity provider's answer (`#id_token=…&state=…`): checked against the request this
// browser made, then exchanged for the session cookie.
export async function oidcReturn(hash) {
  const answer = new URLSearchParams(hash.slice(1));
  const flow = JSON.parse(sessionStorage.getItem('berth_oidc') || 'null');
  sessionStorage.removeItem('berth_oidc');
  history.replaceState(null, '', '/#/databases');
  const token = answer.get('id_token');
  if (!flow || answer.get('state') !== flow.state || !token) throw new Error('The sign-in answer does not match a sign-in started here.');
  const claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  if (claims.nonce !== flow.nonce) throw new Error('The sign-in answer does not match a sign-in started here.');
  await post('/auth/cookie', { id_token: token });
}

export async function signIn(main, done) {
  let methods = { api_key: true, oidc_issuer: null, anonymous: false };
  try { methods = await get('/auth/methods'); } catch { /* API keys always work */ }
  const error = h('p', { class: 'error', role: 'alert', 'data-test': 'signin-error' });
  const key = h('input', { type: 'password', name: 'api_key', autocomplete: 'off', required: true,
    placeholder: 'brth_…', spellcheck: 'false' });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card narrow', 'data-test': 'signin-form' },
    h('h1', {}, 'Sign in to Berth'),
    field('API key', key, 'A full-account key (berth admin bootstrap prints the first one). It is exchanged for a session cookie.'),
    submit, error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      await post('/auth/cookie', { api_key: key.value.trim() });
      key.value = '';
      await done();
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      submit.disabled = false;
    }
  });
  const parts = [form];
  if (methods.oidc_authorize_url) {
    const go = h('button', { type: 'button', 'data-test': 'oidc' }, `Sign in with ${new URL(methods.oidc_issuer).host}`);
    go.addEventListener('click', () => {
      const rand = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
      const flow = { state: rand(), nonce: rand() };
      // Not a secret: the values that tie the answer to this request, gone on return.
      sessionStorage.setItem('berth_oidc', JSON.stringify(flow));
      const q = new URLSearchParams({ response_type: 'id_token', response_mode: 'fragment', scope: 'openid email',
        client_id: methods.oidc_client_id, redirect_uri: `${location.origin}/`, state: flow.state, nonce: flow.nonce });
      location.assign(`${methods.oidc_authorize_url}?${q}`);
    });
    parts.push(h('section', { class: 'card narrow' }, h('h2', {}, 'Single sign-on'), go));
  } else if (methods.oidc_issuer) {
    const tok = h('input', { type: 'password', autocomplete: 'off', required: true });
    const go = h('button', { type: 'submit' }, 'Sign in with OIDC');
    const f = h('form', { class: 'card narrow' }, h('h2', {}, 'Single sign-on'),
      field(`ID token from ${methods.oidc_issuer}`, tok), go);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      await act(go, async () => { await post('/auth/cookie', { id_token: tok.value.trim() }); await done(); });
    });
    parts.push(f);
  }
  if (methods.anonymous) {
    const out = h('div');
    const b = h('button', { type: 'button', class: 'secondary', 'data-test': 'try-it' }, 'Try it without an account');
    b.addEventListener('click', () => act(b, async () => {
      const anon = await post('/auth/anonymous');
      await post('/auth/cookie', { token: anon.token });
      const go = h('button', { type: 'button' }, 'Continue to the dashboard');
      go.addEventListener('click', () => done());
      out.replaceChildren(secretsBox('Your anonymous account',
        'Keep these to claim the databases into a real account later. They are shown only now.',
        secret('Account id', anon.account_id, 'anon-account'),
        secret('Anonymous secret', anon.anonymous_secret, 'anon-secret'), go));
      b.remove();
    }));
    parts.push(h('section', { class: 'card narrow' }, h('h2', {}, 'No account?'), b, out));
  }
  main.replaceChildren(...parts);
  key.focus();
}
