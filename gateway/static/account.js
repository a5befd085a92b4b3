"use strict";
// Account: the profile, a password change, where the account is signed in (and signing
// the others out), a download of everything it holds, and its deletion (asked twice).

// Profile inputs and the fields they edit; a blank input leaves its field as it is.
const PROFILE = [
  ["profile-name", "display_name", String],
  ["profile-weight", "weight_kg", Number],
  ["profile-height", "height_cm", Number],
  ["profile-birth", "birth_date", String],
  ["profile-sex", "sex", String],
  ["profile-rest", "resting_heart_rate", Number],
  ["profile-max", "max_heart_rate", Number],
];
const devices = new Listing("devices", deviceItem);

function fillProfile(user) {
  for (const [id, field] of PROFILE) $(id).value = user[field] ?? "";
}

async function loadProfile() {
  try {
    state.user = await call("GET", `/users/${state.userId}`);
    fillProfile(state.user);
  } catch (error) {
    setStatus($("profile-status"), `Could not load the profile: ${error.message}`, "error");
  }
}

function deviceItem(session) {
  const agent = session.user_agent || "an unnamed client";
  const li = el("li", { "data-id": session.session_id, "data-current": String(session.current) },
    el("strong", {}, session.current ? "This browser" : agent.slice(0, 60)),
    ` · signed in ${when(session.created_at)} · last used ${when(session.last_used_at)} `);
  if (!session.current) {
    const out = el("button", { type: "button", class: "secondary", "aria-label": `Sign out ${agent.slice(0, 60)}` }, "Sign out");
    out.addEventListener("click", async () => {
      out.disabled = true;
      try {
        await call("DELETE", `/users/${state.userId}/sessions/${session.session_id}`);
        setStatus($("devices-status"), "Signed out.", "ok");
      } catch (error) { setStatus($("devices-status"), error.message, "error"); }
      loadDevices();
    });
    li.append(out);
  }
  return li;
}

const loadDevices = () => devices.load(async () => {
  const found = await call("GET", `/users/${state.userId}/sessions`);
  return { items: found.sessions, next_cursor: null };
});

area("account", () => {
  loadProfile();
  loadDevices();
});

$("profile-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = {};
  for (const [id, field, kind] of PROFILE) if ($(id).value !== "") body[field] = kind($(id).value);
  submit($("profile-form"), $("profile-submit"), $("profile-status"), async () => {
    state.user = await call("PATCH", `/users/${state.userId}`, body);
    fillProfile(state.user);
    $("whoami").textContent = state.user.display_name || state.user.username;
    return "Profile saved.";
  });
});

$("password-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = { current_password: $("current-password").value, new_password: $("new-password").value };
  submit($("password-form"), $("password-submit"), $("password-status"), async () => {
    let changed;
    try {
      changed = await call("PUT", `/users/${state.userId}/password`, body);
    } catch (error) {
      // A wrong current password is a 403 that names no field: it belongs beside that one.
      if (error.status === 403) error.problem = { ...error.problem, errors: [{ field: "current_password", message: "This is not your current password." }] };
      throw error;
    }
    $("current-password").value = "";
    $("new-password").value = "";
    return `Password changed; ${plural(changed.signed_out, "other session")} signed out.`;
  }, loadDevices);
});

$("sign-out-others").addEventListener("click", async () => {
  const button = $("sign-out-others");
  button.disabled = true;
  try {
    const { sessions } = await call("GET", `/users/${state.userId}/sessions`);
    const others = sessions.filter((s) => !s.current);
    await Promise.all(others.map((s) => call("DELETE", `/users/${state.userId}/sessions/${s.session_id}`)));
    setStatus($("devices-status"), `Signed out ${plural(others.length, "other session")}.`, "ok");
  } catch (error) {
    setStatus($("devices-status"), error.message, "error");
  } finally {
    button.disabled = false;
    loadDevices();
  }
});

// The export is fetched with the access token (a plain link could not send it) and saved
// from a Blob: no token in a URL, and nothing the CSP must allow.
$("export").addEventListener("click", async () => {
  const button = $("export"), status = $("export-status");
  button.disabled = true;
  setStatus(status, "Preparing your data…");
  try {
    const response = await authorized("GET", `/users/${state.userId}/export`);
    if (!response.ok) {
      const problem = await response.json().catch(() => null);
      throw new Error((problem && problem.detail) || response.statusText);
    }
    const blob = await response.blob();
    const lines = (await blob.text()).trim().split("\n").map((line) => JSON.parse(line));
    const last = lines[lines.length - 1];
    const name = (response.headers.get("content-disposition") || "").match(/filename="([^"]+)"/);
    const link = el("a", { href: URL.createObjectURL(blob), download: name ? name[1] : "fitmesh-export.jsonl" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    if (last.kind === "end") setStatus(status, `Downloaded ${link.download}: ${plural(last.data.records, "record")}.`, "ok");
    else setStatus(status, "The download was cut short; please try again.", "error");
  } catch (error) {
    setStatus(status, `Could not export: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
});

$("delete-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("delete-form");
  clearErrors(form);
  if (!$("delete-password").value) {
    showErrors(form, $("delete-status"), { problem: { errors: [{ field: "password", message: "Enter your password to delete the account." }] } });
    return;
  }
  setStatus($("delete-status"), "");
  show("delete-confirm-box", true);
  $("delete-confirm").focus();
});

$("delete-cancel").addEventListener("click", () => {
  show("delete-confirm-box", false);
  $("delete-password").value = "";
  $("delete-start").focus();
});

$("delete-confirm").addEventListener("click", () => {
  const form = $("delete-form");
  submit(form, $("delete-confirm"), $("delete-status"), async () => {
    try {
      await call("DELETE", `/users/${state.userId}`, { password: $("delete-password").value });
    } catch (error) {
      show("delete-confirm-box", false);
      if (error.status === 403) error.problem = { ...error.problem, errors: [{ field: "password", message: "This is not your password." }] };
      throw error;
    }
    leave("deleted");
    return "Deleted.";
  });
});
