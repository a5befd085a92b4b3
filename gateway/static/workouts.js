"use strict";
// Workouts: start a live one with a running timer and end it, log a finished one, and the
// history, page by page. Imports are imports.js's; editing and deleting are edits.js's.

// The contract's workout types (fitmesh.scoring.v1.WorkoutType), the common ones first.
const WORKOUT_TYPES = [
  "running", "walking", "brisk_walking", "cycling", "swimming", "strength", "hiit", "circuit", "yoga",
  "rowing", "elliptical", "hiking", "pilates", "dancing", "jump_rope", "stair_climbing", "tennis",
  "basketball", "soccer", "stretching", "cross_country_skiing",
];
for (const select of document.querySelectorAll("select.workout-types")) {
  select.append(...WORKOUT_TYPES.map((kind) => el("option", { value: kind }, typeName(kind))));
}

const live = { id: null, start: 0, timer: null };
const history_ = new Listing("history", historyItem);
const kmToMetres = (input) => (input.value === "" ? undefined : Number(input.value) * 1000);

function clock(seconds) {
  const pad = (n) => String(n).padStart(2, "0");
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

function tick() {
  const seconds = Math.max(0, Math.floor((Date.now() - live.start) / 1000));
  $("live-timer").textContent = clock(seconds);
  $("live-timer").dateTime = `PT${seconds}S`;
}

// The running workout (or none): its timer counts from its start, wherever it was started.
function showLive(workout) {
  clearInterval(live.timer);
  live.id = workout ? workout.session_id : null;
  show("live-idle", !workout);
  show("live-running", Boolean(workout));
  if (!workout) return;
  live.start = Date.parse(workout.start_time);
  $("live-kind").textContent = typeName(workout.workout_type);
  tick();
  live.timer = setInterval(tick, 1000);
}

function loadHistory() {
  return history_.load(async (cursor) => {
    const query = new URLSearchParams({ limit: "10" });
    if (cursor) query.set("cursor", cursor);
    const page = await call("GET", `/users/${state.userId}/workouts?${query}`);
    if (!cursor) showLive(page.items.find((w) => w.status === "active") || null);
    return page;
  });
}

function resetLogTimes() {
  const end = new Date();
  setNow($("log-end"), end);
  setNow($("log-start"), new Date(end.getTime() - 30 * 60000));
}

area("workouts", () => {
  if (!$("log-start").dataset.edited && !$("log-end").dataset.edited) resetLogTimes();
  loadHistory();
});

for (const id of ["log-start", "log-end"]) $(id).addEventListener("input", () => { $(id).dataset.edited = "1"; });

$("live-start").addEventListener("click", () => {
  const kind = $("live-type").value;
  submit($("live-form"), $("live-start"), $("live-status"), async () => {
    const started = await call("POST", "/workouts/start", { workout_type: kind });
    showLive({ ...started, workout_type: kind });
    $("live-hr").focus();
    return `Started ${typeName(kind).toLowerCase()}.`;
  }, loadHistory);
});

$("live-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!live.id) return;
  const body = { avg_heart_rate: numberOrNull($("live-hr")) ?? undefined, distance_m: kmToMetres($("live-distance")) };
  submit($("live-form"), $("live-end"), $("live-status"), async () => {
    const done = await call("POST", `/workouts/${live.id}/end`, body);
    showLive(null);
    $("live-hr").value = "";
    $("live-distance").value = "";
    $("live-start").focus();
    return `Done: ${duration(done.duration)}, ${fmt(done.intensity_minutes ?? 0)} intensity minutes, ${fmt(done.calories_burned ?? 0)} kcal.`;
  }, loadHistory);
});

$("log-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = {
    workout_type: $("log-type").value,
    start_time: instant($("log-start")),
    end_time: instant($("log-end")),
    avg_heart_rate: numberOrNull($("log-hr")) ?? undefined,
    distance_m: kmToMetres($("log-distance")),
  };
  submit($("log-form"), $("log-submit"), $("log-status"), async () => {
    const logged = await call("POST", "/workouts", body);
    $("log-hr").value = "";
    $("log-distance").value = "";
    delete $("log-start").dataset.edited;
    delete $("log-end").dataset.edited;
    resetLogTimes();
    return `Logged ${typeName(logged.workout_type).toLowerCase()}, ${duration(logged.duration)}: ${fmt(logged.intensity_minutes ?? 0)} intensity minutes, ${fmt(logged.calories_burned ?? 0)} kcal.`;
  }, loadHistory);
});
