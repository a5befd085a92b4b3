"use strict";
// fitmesh's page: REST for accounts and sessions, one WebSocket for everything live.
// The Health area is health.js's.
const api = "/api/v1";
const state = { token: null, userId: null, ws: null, session: null, members: new Set() };
const $ = (id) => document.getElementById(id);

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const response = await fetch(api + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = response.status === 204 ? null : await response.json();
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

function show(id, visible) { $(id).classList.toggle("hidden", !visible); }

function say(text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  $("messages").appendChild(li);
  $("messages").scrollTop = $("messages").scrollHeight;
}

function renderMembers() {
  $("members").replaceChildren(...[...state.members].sort().map((m) => {
    const li = document.createElement("li");
    li.textContent = m === state.userId ? `${m.slice(0, 8)} (you)` : m.slice(0, 8);
    li.dataset.userId = m;
    return li;
  }));
}

function alertBox(text) {
  $("alert").textContent = text;
  show("alert", true);
  setTimeout(() => show("alert", false), 6000);
}

async function connect() {
  // A browser cannot set headers on a WebSocket: a single-use ticket goes in the URL instead
  // of the token, which must never end up in a log.
  const { ticket } = await call("POST", "/ws/tickets");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  state.ws = new WebSocket(`${scheme}://${location.host}${api}/ws?ticket=${encodeURIComponent(ticket)}`);
  state.ws.onmessage = (event) => handle(JSON.parse(event.data));
  state.ws.onclose = (event) => { if (event.code !== 1000) say(`connection closed (${event.code})`, "update"); };
}

function send(frame) { state.ws.send(JSON.stringify(frame)); }

function handle(frame) {
  if (frame.event === "joined") {
    state.session = frame.session_id;
    state.members = new Set(frame.members);
    $("messages").replaceChildren();
    frame.recent_messages.forEach((m) => say(`${m.user_id.slice(0, 8)}: ${m.message}`));
    $("session-id").textContent = frame.session_id;
    renderMembers();
    show("room", true);
  } else if (frame.event === "group_update") {
    const d = frame.data, who = d.user_id.slice(0, 8);
    if (frame.update_type === "chat_message") say(`${who}: ${d.message}`);
    else if (frame.update_type === "exercise_update") say(`${who} did ${d.reps ?? ""} ${d.exercise ?? ""}`, "update");
    else if (frame.update_type === "member_joined") { state.members.add(d.user_id); renderMembers(); say(`${who} joined`, "update"); }
    else if (frame.update_type === "member_left") { state.members.delete(d.user_id); renderMembers(); say(`${who} left`, "update"); }
    else if (frame.update_type === "session_ended") { say("the session has ended", "update"); state.session = null; }
  } else if (frame.event === "goal_achieved") {
    alertBox(`Goal achieved: ${frame.data.goal_type.replace("_", " ")} ${frame.data.target_value}!`);
  } else if (frame.event === "error") {
    say(`error: ${frame.message}`, "error");
  }
}

async function loggedIn(login) {
  state.token = login.token;
  state.userId = login.user_id;
  $("whoami").textContent = login.user_id.slice(0, 8);
  show("auth", false);
  show("lobby", true);
  showHealth();  // health.js
  await connect();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try { await loggedIn(await call("POST", "/users/login", { email: $("email").value, password: $("password").value })); }
  catch (error) { $("auth-error").textContent = error.message; }
});

$("register").addEventListener("click", async () => {
  try {
    await call("POST", "/users/register", { username: $("username").value, email: $("email").value, password: $("password").value });
    await loggedIn(await call("POST", "/users/login", { email: $("email").value, password: $("password").value }));
  } catch (error) { $("auth-error").textContent = error.message; }
});

$("create").addEventListener("click", async () => {
  try {
    const session = await call("POST", "/group-sessions", { name: $("session-name").value, workout_type: $("session-type").value });
    $("room-title").textContent = session.name;
    send({ event: "join_group_session", session_id: session.session_id });
  } catch (error) { $("lobby-error").textContent = error.message; }
});

$("join").addEventListener("click", () => send({ event: "join_group_session", session_id: $("join-id").value.trim() }));

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!$("message").value.trim() || !state.session) return;
  send({ event: "send_message", session_id: state.session, message: $("message").value });
  $("message").value = "";
});

$("exercise-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!state.session) return;
  send({ event: "exercise_update", session_id: state.session, data: { exercise: $("exercise").value, reps: Number($("reps").value) } });
});

$("leave").addEventListener("click", () => {
  if (state.session) send({ event: "leave_group_session", session_id: state.session });
  state.session = null;
  show("room", false);
});

$("end").addEventListener("click", async () => {
  if (!state.session) return;
  try { await call("POST", `/group-sessions/${state.session}/end`); }
  catch (error) { say(`error: ${error.message}`, "error"); }
});
