// The shell: who is signed in, the navigation, and a hash router.
import { get, post, whenSignedOut } from './api.js';
import { h, act, toast, errorText } from './ui.js';
import { signIn, oidcReturn } from './signin.js';
import { databases } from './databases.js';
import { database } from './database.js';
import { keys } from './keys.js';
import { account } from './account.js';
import { admin } from './admin.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
let me = null;
let token = { stopped: false };

// Each route renders into a view of its own: a slow page that finishes after the route
// changed writes into a view no longer shown.
const routes = [
  [/^#\/databases\/([^/]+)(?:\/([a-z]+))?$/, (v, m) => database(v, me, m[1], m[2] || 'overview', token)],
  [/^#\/keys$/, (v) => keys(v, me, token)],
  [/^#\/account$/, (v) => account(v, me, token)],
  [/^#\/admin$/, (v) => admin(v, me, token)],
  [/^#\/databases$/, (v) => databases(v, me, token)],
];

function nav() {
  const here = location.hash.split('/')[1] || 'databases';
  const link = (href, label, key) =>
    h('a', { href, 'aria-current': here === key ? 'page' : null }, label);
  const out = h('button', { type: 'button', class: 'link', 'data-test': 'sign-out' }, 'Sign out');
  out.addEventListener('click', () => act(out, async () => {
    await post('/auth/logout');
    me = null;
    location.hash = '#/signin';
  }));
  // The first stop of the keyboard: past the navigation to the page's content.
  const skip = h('a', { href: '#main', class: 'skip' }, 'Skip to content');
  skip.addEventListener('click', (ev) => { ev.preventDefault(); main.focus(); });
  top.replaceChildren(skip, h('nav', { 'aria-label': 'Main' },
    h('a', { href: '#/databases', class: 'brand' }, 'Berth'),
    link('#/databases', 'Databases', 'databases'),
    link('#/keys', 'API keys', 'keys'),
    link('#/account', 'Account', 'account'),
    me.platform_role === 'admin' ? link('#/admin', 'Admin', 'admin') : null,
    h('span', { class: 'who' }, me.email || 'anonymous'),
    out));
}

async function route() {
  token.stopped = true;
  token = { stopped: false };
  document.getElementById('toast').className = '';
  if (/^#(.*&)?id_token=/.test(location.hash)) {
    try {
      await oidcReturn(location.hash);
      me = null;
    } catch (e) {
      toast(errorText(e), true);
    }
  }
  if (!me) {
    try { me = await get('/me'); } catch { me = null; }
  }
  if (!me || location.hash === '#/signin') {
    if (me && location.hash === '#/signin') { location.hash = '#/databases'; return; }
    top.replaceChildren();
    const view = h('div');
    main.replaceChildren(view);
    return signIn(view, async () => {
      me = await get('/me');
      if (location.hash === '#/databases') route();
      else location.hash = '#/databases';
    });
  }
  nav();
  const hash = location.hash || '#/databases';
  for (const [re, page] of routes) {
    const m = hash.match(re);
    if (m) {
      const view = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
      main.replaceChildren(view);
      await page(view, m);
      main.focus({ preventScroll: true });
      return;
    }
  }
  location.hash = '#/databases';
}

// A script or style the Content-Security-Policy blocked is a defect: count it where tests look.
document.addEventListener('securitypolicyviolation', (e) => {
  const n = Number(document.documentElement.dataset.cspViolations || 0) + 1;
  document.documentElement.dataset.cspViolations = String(n);
  console.error(`CSP blocked ${e.blockedURI || 'inline'} (${e.violatedDirective})`);
});

whenSignedOut(() => {
  if (me) { me = null; route(); }
});
window.addEventListener('hashchange', route);
route();
