// Sign in: an API key, an OIDC id token where an issuer is configured, or "try it" with an
// anonymous account where those are enabled.
import { get, post } from './api.js';
import { h, act, field, errorText, secret, secretsBox } from './ui.js';

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
  if (methods.oidc_issuer) {
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
