// The REST API of the server that serves the page: JSON calls on the chosen model, retried when
// the server asks to wait, and failures turned into messages for people.
import { capital, sleep } from './helpers.js';
import { state } from './state.js';
import { toast } from './toasts.js';

class ApiError extends Error {
  constructor(status, title, message, kind = 'bad') {
    super(message);
    this.status = status;
    this.title = title;
    this.kind = kind;
    /** The server's own message (without the advice added for people). */
    this.detail = message;
  }
}

function apiUrl(path) {
  if (!state.model) return path;
  return `${path}${path.includes('?') ? '&' : '?'}model=${encodeURIComponent(state.model)}`;
}

/**
 * One JSON API call. A 503 with a short Retry-After (queue full, model warming) is retried after
 * that delay, at most twice; every other failure becomes an ApiError with a message for people.
 */
export async function api(path, { method, json, body, type, retries = 2, raw = false } = {}) {
  method ??= json !== undefined || body !== undefined ? 'POST' : 'GET';
  const headers = { Accept: 'application/json' };
  let payload = body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (type) headers['Content-Type'] = type;
  for (let attempt = 0; ; attempt++) {
    let res;
    try {
      res = await fetch(raw ? path : apiUrl(path), { method, headers, body: payload });
    } catch {
      throw new ApiError(0, 'Cannot reach the server', 'The connection failed. Check that glow-serve is running, then try again.');
    }
    if (res.ok) return res.status === 204 ? null : res.json();
    const data = await res.json().catch(() => null);
    const message = data?.message || res.statusText || `HTTP ${res.status}`;
    const retryAfter = Number(res.headers.get('retry-after')) || 0;
    if (res.status === 503 && attempt < retries && retryAfter > 0 && retryAfter <= 5) {
      toast('warn', 'Server busy', `The model is busy; trying again in ${retryAfter} s…`, { key: 'busy', ttl: retryAfter * 1000 + 1500 });
      await sleep(retryAfter * 1000);
      continue;
    }
    const err = explain(res.status, message, retryAfter);
    err.detail = message;
    err.code = data?.code;
    throw err;
  }
}

function explain(status, message, retryAfter) {
  switch (status) {
    case 413:
      return new ApiError(status, 'Too large', `${capital(message)}. Try a smaller image.`);
    case 415:
      return new ApiError(status, 'Not an image', `${capital(message)}.`);
    case 503:
      return new ApiError(
        status,
        'Server busy',
        `${capital(message)}. Try again${retryAfter ? ` in ${retryAfter} s` : ' in a moment'}.`,
        'warn',
      );
    case 409:
      return new ApiError(status, 'Name taken', `${capital(message)}.`);
    case 404:
      return new ApiError(status, 'Not found', `${capital(message)}.`);
    case 400:
      return new ApiError(status, 'Cannot use that', `${capital(message)}.`);
    default:
      return new ApiError(status, status >= 500 ? 'Server error' : 'Request failed', `${capital(message)} (HTTP ${status}).`);
  }
}

export function report(err) {
  if (err instanceof ApiError) toast(err.kind, err.title, err.message);
  else toast('bad', 'Something went wrong', String(err?.message ?? err));
}
