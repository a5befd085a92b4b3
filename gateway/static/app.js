"use strict";
// fitmesh's page: a small single-page app on the gateway's REST routes and one WebSocket.
// This file is its core: requests with the access token (kept in this script's memory
// only), the sign-in session (its refresh token is an httpOnly cookie no script can read),
// the areas and the router, the socket, toasts and lists. Each area is a file of its own:
// dashboard.js, workouts.js, health.js, groups.js, account.js.
const api = "/api/v1";
const state = { token: null, userId: null, user: null, ws: null, wsReady: null };
const $ = (id) => document.getElementById(id);
// The cookie's routes want this header, which a form on another site cannot send.
const CSRF = { "X-Fitmesh-CSRF": "1" };
// Why the page was reloaded without a session: said above the login form.
const FAREWELLS = {
  "signed-out": "You are signed out.",
  "session-ended": "Your session has ended; please log in again.",
  deleted: "Your account and everything in it have been deleted.",
};

function show(id, visible) { $(id).classList.toggle("hidden", !visible); }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  node.append(...children.filter((child) => child != null && child !== false));
  return node;
}

// --- Requests -------------------------------------------------------------------------

function send(method, path, body, extra = {}) {
  const headers = { ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  return fetch(api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

// A request with the access token; one that expired is renewed through the cookie once.
// `extra` holds headers of the request's own, such as a change's If-Match.
async function authorized(method, path, body, extra) {
  const response = await send(method, path, body, extra);
  if (response.status === 401 && state.token && (await renew())) return send(method, path, body, extra);
  return response;
}

async function call(method, path, body, extra) {
  const response = await authorized(method, path, body, extra);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && (data.errors ? data.errors.map((e) => `${e.field}: ${e.message}`).join("; ") : data.detail);
    // Report the failure with the request id the server gave, so both sides can be matched up.
    fetch(api + "/client-logs", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ level: "warning", message: `${method} ${path}: ${detail}`, request_id: data && data.request_id }) });
    // The problem itself goes with the error: a form shows each of its errors[] by its field.
    throw Object.assign(new Error(detail || response.statusText), { status: response.status, problem: data });
  }
  return data;
}

// --- The sign-in session ----------------------------------------------------------------

async function openSession(email, password) {
  const response = await fetch(`${api}/web/session`, {
    method: "POST", headers: { ...CSRF, "Content-Type": "application/json" }, body: JSON.stringify({ email, password }),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw Object.assign(new Error((data && data.detail) || response.statusText), { status: response.status, problem: data });
  return data;
}

// A new access token through the cookie: the session ({token, ...}), or {ended} when there
// is none any more (401), or {} when the gateway could not say (try again later).
async function refreshSession() {
  const rotate = async () => {
    const response = await fetch(`${api}/web/session/refresh`, { method: "POST", headers: CSRF });
    if (response.ok) return response.json();
    return { ended: response.status === 401 };
  };
  // Tabs of one browser share the cookie: one refresh at a time, or the second would present
  // a token the first just spent, and a spent token signs the session out.
  return navigator.locks ? navigator.locks.request("fitmesh-refresh", rotate) : rotate();
}

let renewing = null;
function renew() {
  renewing = renewing || refreshSession().catch(() => ({})).then((session) => {
    if (session.ended) leave("session-ended");
    if (!session.token) return false;
    state.token = session.token;
    return true;
  }).finally(() => { renewing = null; });
  return renewing;
}

// Signed out, or the account is gone: start again from a clean page, so nothing of this
// account stays in memory or on screen.
function leave(reason) {
  state.token = null;
  if (state.ws) state.ws.close(1000);
  location.hash = `#/${reason}`;
  location.reload();
}

async function signOut() {
  await fetch(`${api}/web/session`, { method: "DELETE", headers: CSRF }).catch(() => null);
  leave("signed-out");
}

async function signedIn(session) {
  state.token = session.token;
  state.userId = session.user_id;
  show("auth", false);
  show("nav", true);
  show("sign-out", true);
  if (FAREWELLS[location.hash.slice(2)]) history.replaceState(null, "", "#/dashboard");
  loadName();
  connect().catch(() => {
    toast("Live updates are unavailable; retrying.", "error");
    reconnect(2000);
  });
  route();
}

// The header names the person: their display name, else their username.
async function loadName() {
  try {
    state.user = await call("GET", `/users/${state.userId}`);
    $("whoami").textContent = state.user.display_name || state.user.username;
  } catch (error) {
    $("whoami").textContent = "";
  }
}

// --- Areas and the router: #/dashboard, #/workouts, #/health, #/groups, #/group/<id>, #/account

// Each area's files say what to load on entering it (the account's webhooks are a file of
// their own, beside its profile).
const areas = {};
function area(name, enter) { (areas[name] = areas[name] || []).push(enter); }

function route() {
  if (!state.token) return;
  const [name, param] = location.hash.replace(/^#\/?/, "").split("/");
  const key = name === "group" ? "groups" : areas[name] ? name : "dashboard";
  for (const id of Object.keys(areas)) show(id, id === key);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.area === key) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const enter of areas[key]) enter(param ? decodeURIComponent(param) : null);
}

window.addEventListener("hashchange", () => {
  route();
  const heading = document.querySelector("section.area:not(.hidden) h2");
  if (heading && state.token) heading.focus();  // a keyboard or screen reader user lands in the new area
});

// --- The WebSocket: group sessions and goal alerts ------------------------------------------

const frameHandlers = {};
function onFrame(event, handler) { frameHandlers[event] = handler; }

async function connect() {
  // A browser cannot set headers on a WebSocket: a single-use ticket goes in the URL instead
  // of the token, which must never end up in a log.
  const { ticket } = await call("POST", "/ws/tickets");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${api}/ws?ticket=${encodeURIComponent(ticket)}`);
  state.ws = ws;
  let opened = false;
  state.wsReady = new Promise((resolve, reject) => { ws.onopen = () => { opened = true; resolve(); }; ws.onerror = reject; });
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frameHandlers[frame.event]) frameHandlers[frame.event](frame);
  };
  ws.onclose = (event) => {
    // One that never opened is connect()'s failure, retried by its caller.
    if (state.ws !== ws || !state.token || !opened) return;
    // Closed by the server (its token expired: 4401) or the network: a new socket, and the
    // areas pick up where they were.
    if (frameHandlers.closed) frameHandlers.closed(event);
    reconnect(1000);
  };
  await state.wsReady;
}

function reconnect(delay) {
  setTimeout(() => {
    if (!state.token) return;
    connect()
      .then(() => frameHandlers.reconnected && frameHandlers.reconnected())
      .catch(() => reconnect(Math.min(delay * 2, 30000)));
  }, delay);
}

async function sendFrame(frame) {
  await state.wsReady;
  state.ws.send(JSON.stringify(frame));
}

// --- Toasts and lists ---------------------------------------------------------------------

function toast(text, kind = "info") {
  const dismiss = el("button", { type: "button", class: "quiet", "aria-label": "Dismiss" }, "×");
  const item = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, el("p", {}, text), dismiss);
  dismiss.addEventListener("click", () => item.remove());
  $("toasts").append(item);
  setTimeout(() => item.remove(), 10000);
}

// A list with its loading, empty, error and ready states (CSS shows the one in data-state)
// and, for paged routes, a "Load more" button that follows next_cursor.
class Listing {
  constructor(id, render) {
    this.box = $(id);
    this.render = render;
    this.items = this.box.querySelector(".items");
    this.more = this.box.querySelector(".more");
    this.asked = 0;  // answers to older questions are dropped
    this.cursor = null;
    if (this.more) this.more.addEventListener("click", () => this.page(this.cursor));
  }

  setState(name, text) {
    this.box.dataset.state = name;
    this.box.setAttribute("aria-busy", String(name === "loading"));
    if (text) this.box.querySelector(".failed").textContent = text;
  }

  // `fetchPage(cursor)` answers {items, next_cursor}.
  load(fetchPage) {
    this.fetchPage = fetchPage;
    return this.page(null);
  }

  // The first page again without showing "Loading…": a list followed while it changes.
  refresh() { return this.page(null, true); }

  async page(cursor, quiet = false) {
    const ticket = ++this.asked;
    if (cursor === null && !quiet) this.setState("loading");
    if (this.more) this.more.disabled = true;
    try {
      const found = await this.fetchPage(cursor);
      if (ticket !== this.asked) return;
      const rows = found.items.map(this.render);
      if (cursor === null) this.items.replaceChildren(...rows);
      else this.items.append(...rows);
      this.cursor = found.next_cursor || null;
      if (this.more) this.more.classList.toggle("hidden", !this.cursor);
      this.setState(this.items.children.length ? "ready" : "empty");
    } catch (error) {
      if (ticket === this.asked) this.setState("error", `Could not load this: ${error.message}`);
    } finally {
      if (this.more) this.more.disabled = false;
    }
  }
}

// A question asked beside the thing it is about (a workout, a webhook) before an action
// that cannot be undone: `act` runs on yes; no puts the focus back on `opener`.
function confirmIn(item, opener, question, yes, act) {
  if (item.querySelector(".confirm")) return;
  const accept = el("button", { type: "button", class: "danger" }, yes);
  const refuse = el("button", { type: "button", class: "secondary" }, "Keep it");
  const text = el("p", {}, question);
  const box = el("div", { class: "confirm", role: "alertdialog", "aria-label": question }, text, accept, " ", refuse);
  refuse.addEventListener("click", () => { box.remove(); opener.focus(); });
  accept.addEventListener("click", () => { accept.disabled = true; act(); });
  item.append(box);
  accept.focus();
}

// --- Logging in -----------------------------------------------------------------------------

async function logIn() {
  const form = $("login-form");
  await submit(form, $("login"), $("auth-error"), async () => {
    await signedIn(await openSession($("email").value, $("password").value));
    return "";
  });
}

$("login-form").addEventListener("submit", (event) => { event.preventDefault(); logIn(); });

$("register").addEventListener("click", async () => {
  const form = $("login-form");
  await submit(form, $("register"), $("auth-error"), async () => {
    await call("POST", "/users/register", { username: $("username").value, email: $("email").value, password: $("password").value });
    await signedIn(await openSession($("email").value, $("password").value));
    return "";
  });
});

$("sign-out").addEventListener("click", signOut);

// On load: the cookie (if any) signs back in, so a reload keeps the session without the
// access token ever being stored.
document.addEventListener("DOMContentLoaded", async () => {
  const session = await refreshSession().catch(() => ({}));
  if (session.token) { await signedIn(session); return; }
  show("auth", true);
  const farewell = FAREWELLS[location.hash.slice(2)];
  if (farewell) setStatus($("auth-error"), farewell, "ok");
});
