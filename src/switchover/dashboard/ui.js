// Small DOM helpers, formatting, status badges and the confirmation dialog.

/** An element: h("a", {href: "#/"}, "text", child, ...). Strings become text, never HTML. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style") Object.assign(el.style, value); // CSSOM: allowed by the CSP
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace what `el` shows. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export const TASK_STATUSES = [
  "FAILED", "ROLLBACK_FAILED", "RUNNING", "ROLLING_BACK", "PAUSED", "PENDING",
  "COMPLETED", "ROLLED_BACK", "CANCELLED",
];

const ICONS = {
  PENDING: "○", RUNNING: "▶", PAUSED: "⏸", COMPLETED: "✓", FAILED: "✗", CANCELLED: "⊘",
  ROLLING_BACK: "↺", ROLLED_BACK: "↩", ROLLBACK_FAILED: "⚠", HALTED: "■",
};

/** A status as icon + text + colour (the colour is never the only signal). */
export function status(name) {
  return h("span", { class: `status s-${name}`, "data-status": name },
    h("span", { class: "icon", "aria-hidden": "true" }, ICONS[name] || "•"), name);
}

/** Seconds since the epoch or an RFC 3339 string, as a Date. */
export function date(value) {
  if (value === null || value === undefined) return null;
  return typeof value === "number" ? new Date(value * 1000) : new Date(value);
}

/** A timestamp as local date and time, with the full UTC time as its tooltip. */
export function when(value) {
  const d = date(value);
  if (!d || Number.isNaN(d.getTime())) return h("span", { class: "muted" }, "—");
  const text = d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, text);
}

export function clock(value) {
  const d = date(value);
  return d ? d.toLocaleTimeString(undefined, { timeStyle: "medium" }) : "—";
}

/** A duration in seconds as "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function seconds(from, to) {
  const a = date(from), b = date(to);
  return a && b ? (b - a) / 1000 : null;
}

export const num = (n) => Number(n || 0).toLocaleString();

/** A bar of counts by status, with the numbers in its label for screen readers. */
export function bar(counts, total, mini = false) {
  const label = TASK_STATUSES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(", ");
  return h("div", { class: mini ? "bar mini" : "bar", role: "img", "aria-label": label || "no tasks" },
    TASK_STATUSES.filter((s) => counts[s]).map((s) =>
      h("span", { class: `b-${s}`, style: { width: `${(100 * counts[s]) / Math.max(total, 1)}%` },
        title: `${counts[s]} ${s}` })));
}

/** Each non-zero count as "✓ COMPLETED 12", in the attention order. */
export function legend(counts) {
  return h("div", { class: "legend" },
    TASK_STATUSES.filter((s) => counts[s]).map((s) =>
      h("span", {}, status(s), " ", h("span", { "data-count": s }, num(counts[s])))));
}

// --------------------------------------------------------------------- notices and dialog

const LIVE_TEXT = { live: "● live", reconnecting: "reconnecting…" };
/** The header's stream state: "live", "reconnecting", or anything else for nothing. */
export function showLive(state) {
  document.getElementById("live").textContent = LIVE_TEXT[state] || "";
}

let noticeTimer = null;
/** A one-line message under the header; `bad` for refusals and errors. */
export function notice(text, bad = false) {
  const el = document.getElementById("notice");
  el.textContent = text;
  el.className = bad ? "notice bad" : "notice";
  el.hidden = !text;
  clearTimeout(noticeTimer);
  if (text && !bad) noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

/**
 * Ask before acting. `text` says exactly what will happen; `extra` are form controls shown
 * under it. `act(reason)` performs it: while it runs the dialog stays open, and a refusal is
 * shown in the dialog as the server wrote it. Resolves to act's result, or null if cancelled.
 */
export function confirmAction({ title, text, okLabel, extra = [], act }) {
  const dialog = document.getElementById("confirm");
  const form = dialog.querySelector("form");
  const ok = document.getElementById("confirm-ok");
  const error = document.getElementById("confirm-error");
  const reason = document.getElementById("confirm-reason");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  show(document.getElementById("confirm-extra"), ...extra);
  ok.textContent = okLabel || title;
  error.hidden = true;
  reason.value = "";
  return new Promise((resolve) => {
    const onSubmit = async (e) => {
      if (e.submitter && e.submitter.value === "cancel") return; // closes the dialog
      e.preventDefault();
      ok.disabled = true;
      try {
        const result = await act(reason.value.trim() || null);
        finish(result);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      } finally {
        ok.disabled = false;
      }
    };
    const onClose = () => finish(null);
    function finish(result) {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(result);
    }
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    ok.focus();
  });
}
