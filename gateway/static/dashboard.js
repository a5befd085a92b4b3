"use strict";
// The Dashboard: this week's WHO activity score, intensity minutes per day, recent workouts,
// goals with their progress, goal alerts (a toast the moment one arrives on the WebSocket,
// and the list of past ones: achieved, and no longer achieved after a workout's change),
// and statistics by workout type.

const GOALS = {
  workouts_count: { name: "Workouts", unit: "" },
  active_minutes: { name: "Active minutes", unit: "min" },
  intensity_minutes: { name: "Intensity minutes", unit: "min" },
  calories: { name: "Calories burned", unit: "kcal" },
  distance_km: { name: "Distance", unit: "km" },
  daily_steps: { name: "Steps a day", unit: "steps" },
  daily_sleep_minutes: { name: "Sleep a night", unit: "min" },
  daily_water_ml: { name: "Water a day", unit: "ml" },
};

const goalName = (goal) => (GOALS[goal.goal_type] || { name: goal.goal_type }).name;
const goalFigure = (goal, value) => `${fmt(value)} ${(GOALS[goal.goal_type] || { unit: "" }).unit}`.trim();

function workoutItem(workout) {
  const figures = [when(workout.start_time)];
  if (workout.status === "active") figures.push("running now");
  else figures.push(duration(workout.duration));
  if (workout.distance_m) figures.push(`${fmt(workout.distance_m / 1000)} km`);
  if (workout.intensity_minutes != null) figures.push(`${fmt(workout.intensity_minutes)} intensity min`);
  if (workout.calories_burned != null) figures.push(`${fmt(workout.calories_burned)} kcal`);
  return el("li", { "data-id": workout.session_id }, el("strong", {}, typeName(workout.workout_type)), ` · ${figures.join(" · ")}`);
}

function goalItem(goal) {
  const label = `${goalName(goal)}: ${goalFigure(goal, goal.current_progress)} of ${goalFigure(goal, goal.target_value)}`;
  const id = `goal-${goal.goal_id}`;
  const status = goal.status === "achieved" ? "achieved" : goal.status === "expired" ? "expired" : `by ${goal.target_date}`;
  return el("li", { "data-goal-type": goal.goal_type, "data-status": goal.status },
    el("label", { htmlFor: id }, label, el("span", { class: `badge badge-${goal.status}` }, status)),
    el("progress", { id, max: goal.target_value, value: Math.min(goal.current_progress, goal.target_value) }));
}

// The kinds of goal alert (the notifications' `kind`, the socket's frame `event`): how the
// list and the toast word each. A change or deletion of a workout can take a goal back
// below its target; reached again, it is achieved again.
const ALERTS = {
  goal_achieved: { done: "achieved", toast: (name) => `Goal achieved: ${name}!`, tone: "success" },
  goal_unachieved: {
    done: "no longer achieved (a workout was changed or deleted)",
    toast: (name) => `No longer achieved: ${name}. A workout was changed or deleted.`,
    tone: "info",
  },
};
const alertOf = (kind) => ALERTS[kind] || { done: kind.replaceAll("_", " "), toast: (name) => `${name}: ${kind.replaceAll("_", " ")}`, tone: "info" };

function alertItem(notification) {
  const goal = notification.goal;
  return el("li", { "data-id": notification.notification_id, "data-kind": notification.kind },
    el("strong", {}, `${goalName(goal)} ${goalFigure(goal, goal.target_value)}`),
    ` ${alertOf(notification.kind).done} · ${when(notification.created_at)}`);
}

function typeRow([kind, totals]) {
  return el("tr", {}, el("th", { scope: "row" }, typeName(kind)), el("td", {}, fmt(totals.total_workouts)),
    el("td", {}, duration(totals.total_duration)), el("td", {}, fmt(totals.total_calories_burned)));
}

const recent = new Listing("recent", workoutItem);
const goals = new Listing("goals", goalItem);
const alerts = new Listing("alerts", alertItem);
const stats = new Listing("stats", typeRow);
const weekChart = new Chart("week-chart");

function setScore(name, text) {
  const card = $("score");
  card.dataset.state = name;
  card.setAttribute("aria-busy", String(name === "loading"));
  if (text) card.querySelector(".failed").textContent = text;
}

async function loadScore() {
  setScore("loading");
  let score;
  try {
    score = await call("GET", `/users/${state.userId}/activity-score`);
  } catch (error) {
    setScore("error", `Could not load the score: ${error.message}`);
    return;
  }
  const minutes = score.intensity_minutes;
  $("score-value").textContent = `${fmt(score.score)}%`;
  $("score-words").textContent = score.meets_guideline ? "— the WHO's 150 minutes are met" : "of the WHO's 150 minutes a week";
  $("score-150").value = Math.min(minutes, 150);
  $("score-150-label").textContent = `${fmt(minutes)} of 150 intensity minutes`;
  $("score-300").value = Math.min(minutes, 300);
  $("score-300-label").textContent = `${fmt(score.upper_target_percent)}% of the upper target, 300`;
  $("score-detail").textContent = `Week ${score.week}: ${plural(score.workouts, "workout")}, ${fmt(score.moderate_minutes)} moderate and ${fmt(score.vigorous_minutes)} vigorous minutes (each vigorous one counts twice); ${plural(score.strength_days, "strength day")} of 2.`;
  setScore("ready");
}

async function drawWeek() {
  // The last seven UTC days, today included.
  const now = new Date(), today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const query = new URLSearchParams({ period: "day", since: new Date(today - 6 * DAY_MS).toISOString(), until: now.toISOString() });
  const ticket = weekChart.ask();
  let series;
  try {
    series = await call("GET", `/users/${state.userId}/activity-series?${query}`);
  } catch (error) {
    if (weekChart.current(ticket)) weekChart.failed(error.message);
    return;
  }
  if (!weekChart.current(ticket)) return;
  const points = series.points, ys = points.map((p) => p.intensity_minutes), total = ys.reduce((a, b) => a + b, 0);
  const title = "Intensity minutes per day, last 7 days";
  if (!points.some((p) => p.workouts)) {
    weekChart.empty(title, "No workouts in the last 7 days.");
    return;
  }
  weekChart.draw({
    title, label: "Intensity minutes", unit: "min", period: "day", bars: true,
    xs: points.map((p) => Date.parse(p.start) / 1000), ys,
    summary: `${fmt(total)} intensity minutes in 7 days, ${fmt(Math.max(...ys))} on the best day.`,
  });
}

async function loadStats() {
  stats.load(async () => {
    const found = await call("GET", `/users/${state.userId}/statistics`);
    $("stats-total").textContent = found.total_workouts
      ? `${plural(found.total_workouts, "workout")}, ${duration(found.total_duration)} in all, ${fmt(found.total_calories_burned)} kcal; ${duration(found.average_session_duration)} on average.`
      : "";
    const kinds = Object.entries(found.by_type).sort((a, b) => b[1].total_workouts - a[1].total_workouts);
    return { items: kinds, next_cursor: null };
  });
}

const loadGoals = () => goals.load(() => call("GET", `/users/${state.userId}/goals?limit=50`));
const loadAlerts = () => alerts.load(() => call("GET", `/users/${state.userId}/notifications?limit=10`));

function refreshDashboard() {
  loadScore();
  drawWeek();
  recent.load(() => call("GET", `/users/${state.userId}/workouts?limit=5`));
  loadGoals();
  loadAlerts();
  loadStats();
}

area("dashboard", () => {
  if (!$("goal-date").value) {
    const inAMonth = new Date(Date.now() + 30 * DAY_MS);
    $("goal-date").value = localInput(inAMonth).slice(0, 10);
  }
  refreshDashboard();
});

$("goal-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = { goal_type: $("goal-type").value, target_value: numberOrNull($("goal-target")), target_date: $("goal-date").value || null };
  submit($("goal-form"), $("goal-submit"), $("goal-status"), async () => {
    const goal = await call("POST", `/users/${state.userId}/goals`, body);
    $("goal-target").value = "";
    return `Goal set: ${goalName(goal)}, ${goalFigure(goal, goal.target_value)} by ${goal.target_date}.`;
  }, loadGoals);
});

// The alert the moment a workout completes a goal (or a change undoes that), whichever
// area is open.
for (const kind of Object.keys(ALERTS)) {
  onFrame(kind, (frame) => {
    const goal = frame.data, alert = alertOf(kind);
    toast(alert.toast(`${goalName(goal)} ${goalFigure(goal, goal.target_value)}`), alert.tone);
    if (!$("dashboard").classList.contains("hidden")) { loadGoals(); loadAlerts(); }
  });
}
