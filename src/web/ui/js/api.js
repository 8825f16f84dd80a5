// The dashboard's one way to talk to the box: JSON in and out, the CSRF token on every change,
// and a trip to the login page when the session has ended.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function loginUrl() {
  return `/index.html?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export async function api(url, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const type = response.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await response.json() : await response.text();
  if (response.status === 401 && url !== '/api/login') {
    location.href = loginUrl();
    // The page is going away: leave the caller waiting instead of failing into an error message.
    return new Promise(() => {});
  }
  if (!response.ok) throw new ApiError(response.status, data?.error ?? 'ERROR', data?.message ?? String(data));
  return data;
}

/** Who is logged in (and the CSRF token for this session). */
export async function whoAmI() {
  const me = await api('/api/me');
  csrfToken = me.csrfToken;
  return me;
}

export function setCsrfToken(token) {
  csrfToken = token;
}
