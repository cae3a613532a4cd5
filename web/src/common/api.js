// Talking to patron's JSON API from a signed-in page: the session rides in an
// HttpOnly cookie the page cannot read; every change carries the CSRF token
// (from the sign-in answer or /me) and, where the API asks, an Idempotency-Key.

let csrfToken = '';

// Remembers the CSRF token the server gave this session.
export function setCsrf(token) { csrfToken = token || ''; }

// An error the API answered: .status, .code, .message.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A random Idempotency-Key. crypto.randomUUID exists only in secure contexts
// (https, localhost); getRandomValues everywhere, so a shop on plain http works.
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
}

// Calls the API; resolves to the parsed JSON (null for 204), rejects with ApiError.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (opts.idempotent) headers['Idempotency-Key'] = opts.key || newKey();
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const e = data && data.error ? data.error : { code: 'http_' + res.status, message: res.statusText };
    throw new ApiError(res.status, e.code, e.message);
  }
  return res.status === 204 ? null : data;
}

// GET with query parameters (undefined/'' left out).
export function get(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {}))
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return api('GET', s ? `${path}?${s}` : path);
}
