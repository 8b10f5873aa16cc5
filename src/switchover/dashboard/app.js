// The dashboard's entry: log in with a token, then route #/, #/plans/P and #/plans/P/tasks/T.

import { get, onUnauthorized, session } from "./api.js";
import { planPage } from "./plan.js";
import { plansPage } from "./plans.js";
import { taskPage } from "./task.js";
import { h, notice, show } from "./ui.js";

const main = document.getElementById("main");
const crumbs = document.getElementById("crumbs");
const who = document.getElementById("who");
const logout = document.getElementById("logout");
let leave = () => {};
let ctx = null;

function loginPage(message) {
  leave();
  leave = () => {};
  ctx = null;
  who.textContent = "";
  logout.hidden = true;
  show(crumbs);
  const input = h("input", { id: "token", type: "password", name: "token", required: true,
    autocomplete: "current-password", "aria-describedby": "token-help" });
  const error = h("p", { class: "error", role: "alert", hidden: !message }, message || "");
  const form = h("form", { class: "login", onsubmit: async (e) => {
    e.preventDefault();
    session.token = input.value.trim();
    try {
      await start();
    } catch (err) {
      session.token = null;
      error.textContent = err.status === 401 ? "That token is not valid on this server." : err.message;
      error.hidden = false;
      input.focus();
    }
  } },
  h("h1", {}, "Log in"),
  h("label", { for: "token" }, "API token"), input,
  h("p", { id: "token-help", class: "muted" },
    "A token from the server's ", h("code", {}, "serve.tokens"), ", or the one ",
    h("code", {}, "switchover serve"), " wrote beside its store (", h("code", {}, "switchover.db.token"),
    "). It is kept in this browser tab only."),
  error,
  h("button", { type: "submit" }, "Log in"));
  show(main, form);
  input.focus();
}

function enter(me) {
  ctx = { name: me.name, role: me.role, canOperate: me.role === "operator" };
  who.textContent = `${me.name} (${me.role})`;
  logout.hidden = false;
}

async function start() {
  const me = await get("/whoami");
  session.identity = me;
  enter(me);
  route();
}

// A reload in a logged-in tab draws at once with the identity it had, and checks it meanwhile:
// a token no longer valid brings the login back, a changed role redraws.
function resume() {
  const known = session.identity;
  if (!known) { start().catch(() => loginPage()); return; }
  enter(known);
  route();
  get("/whoami").then((me) => {
    session.identity = me;
    if (me.role !== known.role || me.name !== known.name) { enter(me); route(); }
  }, () => {});
}

function route() {
  if (!ctx) return;
  leave();
  notice("");
  const [path, queryText] = location.hash.replace(/^#/, "").split("?");
  const query = new URLSearchParams(queryText || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const home = h("a", { href: "#/" }, "plans");
  if (parts[0] === "plans" && parts.length === 2) {
    show(crumbs, home, " / ", parts[1]);
    leave = planPage(main, ctx, parts[1], query);
  } else if (parts[0] === "plans" && parts[2] === "tasks" && parts.length === 4) {
    show(crumbs, home, " / ", h("a", { href: `#/plans/${encodeURIComponent(parts[1])}` }, parts[1]), " / ", parts[3]);
    leave = taskPage(main, ctx, parts[1], parts[3]);
  } else {
    show(crumbs);
    leave = plansPage(main, ctx);
  }
  document.title = ["switchover", ...parts.slice(1).filter((p) => p !== "tasks")].join(" · ");
  main.focus({ preventScroll: true });
}

// A token refused while logged in (revoked, server restarted with other tokens): log in again.
// While logging in, the form says so itself.
onUnauthorized(() => {
  if (!ctx) return;
  session.token = null;
  session.identity = null;
  loginPage("The server refused the token: log in again.");
});
logout.addEventListener("click", () => { session.token = null; session.identity = null; loginPage(); });
window.addEventListener("hashchange", route);

if (session.token) resume(); else loginPage();
