// DOM helpers. Text always goes in as text nodes (never innerHTML): names come from tenants.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i > 0 ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}

export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return h('time', { datetime: t, title: d.toISOString() }, d.toLocaleString());
}

export function toast(msg, bad = false) {
  const t = document.getElementById('toast');
  t.className = bad ? 'bad show' : 'show';
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ''; }, 5000);
}

export function errorText(e) {
  return e && e.code ? `${e.message} (${e.code})` : String(e);
}

// Runs an action from a button: disabled while it runs, errors shown to the user.
export async function act(button, f, done) {
  if (button) button.disabled = true;
  try {
    const r = await f();
    if (done) toast(done);
    return r;
  } catch (e) {
    toast(errorText(e), true);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function copyButton(text, what) {
  const b = h('button', { type: 'button', class: 'small', 'aria-label': `Copy ${what}` }, 'Copy');
  b.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast(`${what} copied`);
    } catch {
      toast('Copying was refused by the browser; select the text instead', true);
    }
  });
  return b;
}

// A secret shown once: only in the DOM, never in storage.
export function secret(label, value, test) {
  return h('div', { class: 'secret' },
    h('span', { class: 'label' }, label),
    h('code', { 'data-test': test }, value),
    copyButton(value, label));
}

export function secretsBox(title, note, ...rows) {
  return h('section', { class: 'once', role: 'alert', 'data-test': 'secrets' },
    h('h3', {}, title), h('p', {}, note), ...rows);
}

// A destructive button that asks again on the first press.
export function confirmButton(label, f, attrs = {}) {
  const b = h('button', { type: 'button', class: 'danger small', ...attrs }, label);
  let armed = false;
  b.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      b.textContent = `Confirm ${label.toLowerCase()}`;
      setTimeout(() => { armed = false; b.textContent = label; }, 4000);
      return;
    }
    armed = false;
    b.textContent = label;
    await act(b, f);
  });
  return b;
}

export function field(label, input, hint) {
  const id = input.id || `f${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', {}, hint) : null);
}

export function table(caption, head, rows, empty = 'Nothing yet.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'scroll' }, h('table', {},
    h('caption', { class: 'sr' }, caption),
    h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows)));
}

export function badge(state) {
  return h('span', { class: `badge s-${state}` }, state);
}

export function bar(label, used, max, fmt = (x) => x) {
  const pct = max > 0 ? Math.min(100, (used / max) * 100) : 0;
  const fill = h('div', { class: 'fill' });
  fill.style.width = `${pct.toFixed(1)}%`; // CSSOM, not a style attribute: the CSP allows it
  return h('div', { class: 'bar' },
    h('div', { class: 'bar-label' }, h('span', {}, label), h('span', {}, `${fmt(used)} of ${fmt(max)}`)),
    h('div', { class: pct > 90 ? 'track hot' : 'track', role: 'meter', 'aria-label': label,
      'aria-valuenow': Math.round(pct), 'aria-valuemin': 0, 'aria-valuemax': 100 },
    fill));
}

// A line chart of [t, value] points as SVG.
export function chart(title, points, fmt = (x) => String(Math.round(x))) {
  const W = 320, H = 120, P = 4;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart' });
  if (points.length > 0) {
    const t0 = points[0][0], t1 = Math.max(points[points.length - 1][0], t0 + 1);
    const vmax = Math.max(...points.map((p) => p[1]), 1);
    const xy = points.map(([t, v]) => [P + ((t - t0) / (t1 - t0)) * (W - 2 * P), H - P - (v / vmax) * (H - 2 * P)]);
    const d = xy.map(([x, y], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
    svg.append(s('path', { d, class: 'line' }));
    for (const [x, y] of xy.slice(-1)) svg.append(s('circle', { cx: x, cy: y, r: 3, class: 'dot' }));
  }
  const last = points.length ? fmt(points[points.length - 1][1]) : '—';
  return h('figure', { class: 'card chart-card' }, h('figcaption', {}, h('strong', {}, title), ' ', h('span', {}, last)), svg);
}

// Calls f with growing pauses (min → max) until it returns true or the page changes.
export function poll(f, token, min = 500, max = 5000) {
  let wait = min;
  const tick = async () => {
    if (token.stopped) return;
    let done = false;
    try { done = await f(); } catch { /* the next try may work */ }
    if (done || token.stopped) return;
    wait = Math.min(max, wait * 1.6);
    setTimeout(tick, wait);
  };
  setTimeout(tick, min);
}

export function countdown(until) {
  const el = h('span', { class: 'countdown', 'data-until': until });
  const draw = () => {
    const left = Math.max(0, Math.round((new Date(until) - Date.now()) / 1000));
    const hh = Math.floor(left / 3600), mm = Math.floor((left % 3600) / 60), ss = left % 60;
    el.textContent = left ? `expires in ${hh ? hh + 'h ' : ''}${mm}m ${String(ss).padStart(2, '0')}s` : 'expired';
  };
  draw();
  return el;
}

// Redraws every countdown on the page once a second.
setInterval(() => {
  for (const el of document.querySelectorAll('.countdown')) {
    const left = Math.max(0, Math.round((new Date(el.dataset.until) - Date.now()) / 1000));
    const hh = Math.floor(left / 3600), mm = Math.floor((left % 3600) / 60), ss = left % 60;
    el.textContent = left ? `expires in ${hh ? hh + 'h ' : ''}${mm}m ${String(ss).padStart(2, '0')}s` : 'expired';
  }
}, 1000);
