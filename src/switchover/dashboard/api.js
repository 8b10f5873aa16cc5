// The dashboard's only way to the server: the same HTTP API and event stream the CLI uses,
// with the token of this browser session as the bearer token.

const KEY = "switchover.token";
const IDENTITY = "switchover.identity";

/** What this browser tab keeps: the token, and whose it is ({name, role}, from /whoami). */
export const session = {
  get token() { return sessionStorage.getItem(KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY);
  },
  get identity() {
    try { return JSON.parse(sessionStorage.getItem(IDENTITY)); } catch { return null; }
  },
  set identity(value) {
    if (value) sessionStorage.setItem(IDENTITY, JSON.stringify(value));
    else sessionStorage.removeItem(IDENTITY);
  },
};

/** A refusal or failure, as the API reported it: status, error_type, message (shown as is). */
export class ApiError extends Error {
  constructor(status, errorType, message, issues) {
    super(message);
    this.status = status;
    this.errorType = errorType;
    this.issues = issues || [];
  }
}

const listeners = new Set();
/** Called with no argument whenever the server says the token is not (or no longer) valid. */
export function onUnauthorized(fn) { listeners.add(fn); }

function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) u.searchParams.append(key, one);
  }
  return u;
}

function headers(extra) {
  return { Authorization: `Bearer ${session.token || ""}`, ...extra };
}

async function failure(response) {
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (response.status === 401) for (const fn of listeners) fn();
  const message = (data && data.message) || `${response.status} ${response.statusText}`;
  return new ApiError(response.status, data && data.error_type, message, data && data.issues);
}

/** One API call; resolves to the JSON answer, rejects with an ApiError. */
export async function call(method, path, { params, body, signal } = {}) {
  const init = { method, headers: headers({ Accept: "application/json" }), signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url(path, params), init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export const get = (path, params, signal) => call("GET", path, { params, signal });
export const post = (path, body) => call("POST", path, { body });

/**
 * Follow a plan's event stream (SSE over fetch, so that the token goes in a header), from
 * event `since` on. `onEvents` gets each chunk's events as one array: many events, one
 * redraw. Reconnects after a break, resuming after the last event seen (Last-Event-ID).
 * Stops when `signal` aborts or the token is refused.
 */
export async function follow(planId, since, onEvents, signal, onState = () => {}) {
  let last = since;
  while (!signal.aborted) {
    try {
      const response = await fetch(url(`/plans/${encodeURIComponent(planId)}/events`), {
        headers: headers({ Accept: "text/event-stream", "Last-Event-ID": String(last) }),
        signal,
      });
      if (!response.ok) {
        const error = await failure(response);
        if (response.status === 401 || response.status === 404) { onState("stopped"); return; }
        throw error;
      }
      onState("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const frames = buffer.split("\n\n");
        buffer = frames.pop();
        const events = [];
        for (const frame of frames) {
          let data = "";
          for (const line of frame.split("\n")) {
            if (line.startsWith("data:")) data += line.slice(5).trimStart();
          }
          if (!data) continue;
          const event = JSON.parse(data);
          last = Math.max(last, event.seq);
          events.push(event);
        }
        if (events.length) onEvents(events);
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    onState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 1500));
  }
}
