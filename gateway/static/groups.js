"use strict";
// Group sessions: start one and share its invite link (#/group/<id>), which opens and joins
// it; chat and exercise updates over the WebSocket; the transcript of one that has ended.
// "Your sessions" are the server's list of those you started or joined, live and ended, so
// every device shows the same ones.

const group = { session: null, joining: null, meta: null, members: new Set() };
const mine = new Listing("mine", sessionItem);
const transcript = new Listing("transcript-messages", messageItem);
const inviteLink = (id) => `${location.origin}/#/group/${encodeURIComponent(id)}`;

// An invite link or a bare id, as pasted.
function sessionIdOf(text) {
  const link = text.match(/#\/group\/([^/?#\s]+)/);
  return link ? decodeURIComponent(link[1]) : text.trim();
}

function who(userId) {
  if (userId !== state.userId) return userId.slice(0, 8);  // no route names other people
  return state.user ? `${state.user.display_name || state.user.username} (you)` : "you";
}

function view(name) {
  for (const part of ["lobby", "room", "transcript"]) show(part, part === name);
}

function say(text, cls) {
  $("messages").append(el("li", { class: cls || "" }, text));
  $("messages").scrollTop = $("messages").scrollHeight;
}

function renderMembers() {
  $("members").replaceChildren(...[...group.members].sort().map((m) => el("li", { "data-user-id": m }, who(m))));
}

function sessionItem(found) {
  const figures = found.status === "active"
    ? `live since ${when(found.started_at)} · ${plural(found.members.length, "member")} here now`
    : `ended ${when(found.ended_at)} · ${plural(found.message_count ?? 0, "message")}`;
  return el("li", { "data-id": found.session_id },
    el("a", { href: `#/group/${encodeURIComponent(found.session_id)}` }, found.name),
    ` · ${typeName(found.workout_type)} · ${figures}`);
}

function messageItem(message) {
  return el("li", {}, el("strong", {}, who(message.user_id)), `: ${message.message}`,
    el("span", { class: "muted" }, ` · ${when(message.sent_at)}`));
}

function loadMine() {
  return mine.load((cursor) => {
    const query = new URLSearchParams({ limit: "20" });
    if (cursor) query.set("cursor", cursor);
    return call("GET", `/users/${encodeURIComponent(state.userId)}/group-sessions?${query}`);
  });
}

async function openGroup(id) {
  $("lobby-error").textContent = "";
  if (id === group.session) { view("room"); return; }
  let found;
  try {
    found = await call("GET", `/group-sessions/${encodeURIComponent(id)}`);
  } catch (error) {
    view("lobby");
    $("lobby-error").textContent = error.status === 404 ? "No such session (an ended one opens only for those who took part)." : error.message;
    loadMine();
    return;
  }
  if (found.status !== "active") { showTranscript(found); return; }
  if (group.session) await sendFrame({ event: "leave_group_session", session_id: group.session });
  group.meta = found;
  // Asked for until "joined" comes: a socket that failed before it could send is joined
  // again once a new one is up ("reconnected" below).
  group.joining = found.session_id;
  await sendFrame({ event: "join_group_session", session_id: found.session_id }).catch(() => null);
}

function showTranscript(found) {
  view("transcript");
  $("transcript-title").textContent = `${found.name}: transcript`;
  $("transcript-meta").textContent = `${typeName(found.workout_type)} · ${when(found.started_at)} to ${when(found.ended_at)} · ${plural(found.participants.length, "participant")} · ${plural(found.message_count ?? 0, "message")}`;
  transcript.load((cursor) => {
    const query = new URLSearchParams({ limit: "50" });
    if (cursor) query.set("cursor", cursor);
    return call("GET", `/group-sessions/${encodeURIComponent(found.session_id)}/messages?${query}`);
  });
}

area("groups", (id) => {
  if (id) { openGroup(id); return; }
  view("lobby");
  loadMine();
});

onFrame("joined", (frame) => {
  group.session = frame.session_id;
  group.joining = null;
  group.members = new Set(frame.members);
  $("messages").replaceChildren();
  frame.recent_messages.forEach((m) => say(`${who(m.user_id)}: ${m.message}`));
  if (!frame.recent_messages.length) say("No messages yet: say hello.", "update");
  $("room-title").textContent = group.meta && group.meta.session_id === frame.session_id ? group.meta.name : "Session";
  $("session-id").textContent = frame.session_id;
  $("invite-link").value = inviteLink(frame.session_id);
  show("end", Boolean(group.meta && group.meta.owner_id === state.userId));
  renderMembers();
  view("room");
});

onFrame("group_update", (frame) => {
  if (frame.session_id !== group.session) return;
  const d = frame.data, name = who(d.user_id);
  if (frame.update_type === "chat_message") say(`${name}: ${d.message}`);
  else if (frame.update_type === "exercise_update") say(`${name} did ${d.reps ?? ""} ${d.exercise ?? ""}`, "update");
  else if (frame.update_type === "member_joined") { group.members.add(d.user_id); renderMembers(); say(`${name} joined`, "update"); }
  else if (frame.update_type === "member_left") { group.members.delete(d.user_id); renderMembers(); say(`${name} left`, "update"); }
  else if (frame.update_type === "session_ended") ended(frame.session_id);
});

function ended(id) {
  say("The session has ended.", "update");
  group.session = null;
  const read = el("button", { type: "button", class: "secondary" }, "Read the transcript");
  read.addEventListener("click", () => openGroup(id));
  $("messages").append(el("li", {}, read));
}

onFrame("error", (frame) => {
  if (group.session) say(`error: ${frame.message}`, "error");
  else $("lobby-error").textContent = frame.message;
});

onFrame("closed", (event) => { if (group.session) say(`Connection closed (${event.code}); reconnecting…`, "update"); });

onFrame("reconnected", () => {
  const id = group.session || group.joining;
  group.session = null;
  if (id) openGroup(id);
});

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("lobby-error").textContent = "";
  try {
    const created = await call("POST", "/group-sessions", { name: $("session-name").value, workout_type: $("session-type").value });
    location.hash = `#/group/${encodeURIComponent(created.session_id)}`;
  } catch (error) { $("lobby-error").textContent = error.message; }
});

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = sessionIdOf($("join-id").value);
  if (id) location.hash = `#/group/${encodeURIComponent(id)}`;
});

$("copy-invite").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("invite-link").value);
    toast("Invite link copied.");
  } catch {
    $("invite-link").select();  // the person copies it themselves
  }
});

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!$("message").value.trim() || !group.session) return;
  sendFrame({ event: "send_message", session_id: group.session, message: $("message").value });
  $("message").value = "";
});

$("exercise-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!group.session) return;
  sendFrame({ event: "exercise_update", session_id: group.session, data: { exercise: $("exercise").value, reps: Number($("reps").value) } });
});

$("leave").addEventListener("click", () => {
  if (group.session) sendFrame({ event: "leave_group_session", session_id: group.session });
  group.session = group.joining = null;
  location.hash = "#/groups";
});

$("end").addEventListener("click", async () => {
  if (!group.session) return;
  try { await call("POST", `/group-sessions/${group.session}/end`); }
  catch (error) { say(`error: ${error.message}`, "error"); }
});
