// Fetch wrapper for herald's HTTP API.
//
// Every app (console, employee app, embed) makes its own client with createApi(): the
// embed talks to another origin, so the base URL is an option, and the token comes from
// a callback because it changes on sign-in/out. Errors always come back as ApiError with
// the server's stable `code` (see docs/openapi.yaml: {"error":{"code","message"}}), so
// screens can branch on codes and show the server's localized sentence.

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || 'HTTP ' + status);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || (status ? 'http_' + status : 'network');
    this.body = body;
  }
}

function joinUrl(base, path) {
  if (/^https?:\/\//.test(path)) return path;
  if (!base) return path;
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : '/' + path);
}

function queryString(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, String(x)));
    else p.append(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

/**
 * createApi({ baseUrl, getToken, getLanguage, onUnauthorized })
 *   baseUrl       '' for same origin, or 'https://chat.example.com'
 *   getToken()    returns the bearer token or null
 *   getLanguage() returns 'en' | 'de' | … for Accept-Language (server error sentences)
 *   onUnauthorized(err) called on 401 (e.g. to sign out)
 */
export function createApi(opts = {}) {
  const state = {
    baseUrl: opts.baseUrl || '',
    getToken: opts.getToken || (() => null),
    getLanguage: opts.getLanguage || (() => null),
    onUnauthorized: opts.onUnauthorized || null,
  };

  async function request(method, path, { query, body, headers, raw, token, signal } = {}) {
    const h = { Accept: 'application/json', ...(headers || {}) };
    const tok = token !== undefined ? token : state.getToken();
    if (tok) h.Authorization = 'Bearer ' + tok;
    const lang = state.getLanguage();
    if (lang) h['Accept-Language'] = lang;
    let payload;
    if (body instanceof Blob || body instanceof ArrayBuffer || body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(joinUrl(state.baseUrl, path) + queryString(query), {
        method,
        headers: h,
        body: payload,
        signal,
        credentials: 'omit',
      });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', (e && e.message) || 'network error');
    }
    if (raw) {
      if (!res.ok) throw await toError(res);
      return res;
    }
    if (!res.ok) {
      const err = await toError(res);
      if (res.status === 401 && state.onUnauthorized) state.onUnauthorized(err);
      throw err;
    }
    if (res.status === 204) return null;
    const ct = res.headers.get('content-type') || '';
    if (ct.includes('json')) return res.json();
    return res.text();
  }

  async function toError(res) {
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* not JSON: keep the status */
    }
    const e = body && body.error;
    return new ApiError(res.status, e && e.code, e && e.message, body);
  }

  return {
    request,
    get: (path, query, o) => request('GET', path, { ...o, query }),
    post: (path, body, o) => request('POST', path, { ...o, body }),
    put: (path, body, o) => request('PUT', path, { ...o, body }),
    patch: (path, body, o) => request('PATCH', path, { ...o, body }),
    del: (path, o) => request('DELETE', path, o),
    url: (path, query) => joinUrl(state.baseUrl, path) + queryString(query),
    configure(more) {
      Object.assign(state, more);
    },
    get baseUrl() {
      return state.baseUrl;
    },
  };
}
