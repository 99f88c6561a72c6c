// The JSON API, called with the session cookie. State-changing requests carry the CSRF
// token (from the non-HttpOnly `berth_csrf` cookie) in `x-csrf-token`.

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)berth_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : '';
}

let onUnauthenticated = () => {};
export function whenSignedOut(f) { onUnauthenticated = f; }

export async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrf();
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch('/api/v1' + path, init);
  } catch (e) {
    throw new ApiError(0, 'NETWORK', 'The server could not be reached.', null);
  }
  if (res.status === 204) return null;
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (json && json.error) || {};
    if (res.status === 401 && !path.startsWith('/auth/')) onUnauthenticated();
    throw new ApiError(res.status, e.code || 'HTTP_' + res.status, e.message || res.statusText, e.request_id);
  }
  return json;
}

export const get = (p) => call('GET', p).then((j) => j.data);
export const post = (p, b) => call('POST', p, b === undefined ? {} : b).then((j) => j && j.data);
export const patch = (p, b) => call('PATCH', p, b).then((j) => j && j.data);
export const del = (p) => call('DELETE', p).then((j) => j && j.data);

// Every page of a cursor-paged list.
export async function all(path, limit = 200) {
  const out = [];
  let cursor = null;
  const sep = path.includes('?') ? '&' : '?';
  for (let i = 0; i < 100; i++) {
    const q = `${sep}limit=${limit}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : '');
    const page = await call('GET', path + q);
    out.push(...page.data);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

export const hasSession = () => csrf() !== '';
