"use strict";
// The Health area: log a metric or a meal, trends drawn with uPlot (vendor/uplot) from the
// series routes, and the top insights. Uses app.js's call(), $ and state, forms.js and
// charts.js; every request goes to this page's own origin.

const METRICS = {
  steps: { name: "steps", value: "Steps", unit: "steps", plot: "sum", total: "steps" },
  heart_rate_resting: { name: "resting heart rate", value: "Resting heart rate (bpm)", unit: "bpm", plot: "mean" },
  heart_rate: { name: "heart rate", value: "Heart rate (bpm)", unit: "bpm", plot: "mean" },
  sleep_minutes: { name: "sleep", value: "Minutes asleep", unit: "min", plot: "sum", total: "minutes asleep" },
  weight_kg: { name: "weight", value: "Weight (kg)", unit: "kg", plot: "mean" },
  water_ml: { name: "water", value: "Water (ml)", unit: "ml", plot: "sum", total: "ml of water" },
};
const ACTIVITY = {
  active_minutes: { label: "Active minutes", unit: "min", total: "active minutes" },
  intensity_minutes: { label: "Intensity minutes", unit: "min", total: "intensity minutes" },
  // Progress to the WHO's 150 intensity minutes a week, pro-rated to the period: 0-100.
  score: { label: "Score", unit: "%" },
  distance_m: { label: "Distance", unit: "km", scale: 1 / 1000, total: "km" },
  calories_burned: { label: "Calories burned", unit: "kcal", total: "kcal burned" },
};

function metricTypeChanged() {
  const kind = $("metric-type").value, sleep = kind === "sleep_minutes";
  $("metric-value-label").textContent = METRICS[kind].value;
  document.querySelectorAll("#metric-form .sleep-only").forEach((el) => el.classList.toggle("hidden", !sleep));
  $("metric-at-field").classList.toggle("hidden", sleep);
  clearErrors($("metric-form"));
  if (sleep && !$("metric-start").dataset.edited && !$("metric-end").dataset.edited) {
    // Last night: to 07:00 this morning (or now, if earlier), eight hours in bed.
    const end = new Date(); end.setHours(7, 0, 0, 0);
    if (end > new Date()) end.setTime(Date.now());
    setNow($("metric-end"), end);
    setNow($("metric-start"), new Date(end.getTime() - 8 * 3600000));
  }
  if (sleep) sleepTimesChanged();
}

function sleepTimesChanged() {
  // Minutes asleep default to the time in bed until someone types their own.
  const value = $("metric-value");
  if (value.value !== "" && !value.dataset.auto) return;
  const start = new Date($("metric-start").value), end = new Date($("metric-end").value);
  const minutes = Math.round((end - start) / 60000);
  if (minutes > 0) { value.value = String(minutes); value.dataset.auto = "1"; }
}

$("metric-type").addEventListener("change", metricTypeChanged);
$("metric-value").addEventListener("input", () => { delete $("metric-value").dataset.auto; });
for (const id of ["metric-at", "metric-start", "metric-end", "meal-at"]) {
  $(id).addEventListener("input", () => { $(id).dataset.edited = "1"; });
}
$("metric-start").addEventListener("input", sleepTimesChanged);
$("metric-end").addEventListener("input", sleepTimesChanged);

$("metric-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("metric-form"), kind = $("metric-type").value;
  form.dataset.clientId = form.dataset.clientId || newClientId();
  const body = { metric_type: kind, value: numberOrNull($("metric-value")), client_id: form.dataset.clientId };
  if (kind === "sleep_minutes") {
    body.start_time = instant($("metric-start"));
    body.end_time = instant($("metric-end"));
  } else {
    body.recorded_at = chosenOrNow($("metric-at"));
  }
  submit(form, $("metric-submit"), $("metric-status"), async () => {
    const stored = await call("POST", "/health-metrics/", body);
    const meta = METRICS[kind];
    $("metric-value").value = "";
    delete $("metric-value").dataset.auto;
    setNow($("metric-at"));
    if (kind === "sleep_minutes") { delete $("metric-start").dataset.edited; delete $("metric-end").dataset.edited; metricTypeChanged(); }
    $("trend-metric").value = kind;  // show what was just logged
    const what = meta.unit === "steps" ? `${fmt(stored.value)} steps` : `${meta.name}: ${fmt(stored.value)} ${stored.unit}`;
    return stored.duplicate ? `Already logged: ${what}.` : `Logged ${what}.`;
  }, refreshHealth);
});

$("meal-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = $("meal-form");
  form.dataset.clientId = form.dataset.clientId || newClientId();
  const body = { eaten_at: chosenOrNow($("meal-at")), name: $("meal-name").value.trim(), calories: numberOrNull($("meal-calories")), client_id: form.dataset.clientId };
  for (const [id, field] of [["meal-protein", "protein_g"], ["meal-carbohydrate", "carbohydrate_g"], ["meal-fat", "fat_g"]]) {
    if ($(id).value !== "") body[field] = numberOrNull($(id));  // blank is 0 g
  }
  submit(form, $("meal-submit"), $("meal-status"), async () => {
    const meal = await call("POST", "/nutrition-logs/", body);
    for (const id of ["meal-name", "meal-calories", "meal-protein", "meal-carbohydrate", "meal-fat"]) $(id).value = "";
    setNow($("meal-at"));
    const what = `${meal.name || "meal"}, ${fmt(meal.calories)} kcal`;
    return meal.duplicate ? `Already logged: ${what}.` : `Logged ${what}.`;
  }, refreshHealth);
});

function trendRange() {
  // Whole UTC days: today and the days before it.
  const days = Number($("trend-range").value), now = new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { days, period: $("trend-period").value, since: new Date(today - (days - 1) * DAY_MS).toISOString(), until: now.toISOString() };
}

const metricChart = new Chart("metric-chart");
const activityChart = new Chart("activity-chart");

async function drawMetric() {
  const kind = $("trend-metric").value, meta = METRICS[kind], { days, period, since, until } = trendRange();
  const ticket = metricChart.ask();
  let series;
  try {
    const query = new URLSearchParams({ metric_type: kind, period, since, until });
    series = await call("GET", `/health-metrics/user/${state.userId}/series?${query}`);
  } catch (error) {
    if (metricChart.current(ticket)) metricChart.failed(error.message);
    return;
  }
  if (!metricChart.current(ticket)) return;
  const points = series.points, logged = points.filter((p) => p.count > 0);
  const title = `${$("trend-metric").selectedOptions[0].textContent}, ${meta.plot === "sum" ? "total" : "mean"} per ${period}, last ${days} days`;
  if (!logged.length) {
    metricChart.empty(title, `No ${meta.name} logged in the last ${days} days.`);
    return;
  }
  const unit = series.unit || meta.unit;
  let summary;
  if (meta.plot === "sum") {
    const total = logged.reduce((sum, p) => sum + p.sum, 0);
    const spread = logged.length > 1 ? `${fmt(total / logged.length)} a ${period} on the ${plural(logged.length, period)}` : `on one ${period}`;
    summary = `${days}-day total ${fmt(total)} ${meta.total}, ${spread} with data.`;
  } else {
    const samples = logged.reduce((n, p) => n + p.count, 0);
    const mean = logged.reduce((sum, p) => sum + p.sum, 0) / samples;
    const low = Math.min(...logged.map((p) => p.min)), high = Math.max(...logged.map((p) => p.max));
    const spread = low === high ? "" : `, from ${fmt(low)} to ${fmt(high)} ${unit}`;
    summary = `${days}-day mean ${fmt(mean)} ${unit}${spread}, over ${plural(samples, "sample")}.`;
  }
  metricChart.draw({
    title,
    label: meta.plot === "sum" ? "Total" : "Mean",
    unit,
    period,
    xs: points.map((p) => Date.parse(p.start) / 1000),
    ys: points.map((p) => (meta.plot === "sum" ? p.sum : p.count ? p.mean : null)),
    bars: meta.plot === "sum",
    summary,
  });
}

async function drawActivity() {
  const measure = $("trend-activity").value, meta = ACTIVITY[measure], { days, period, since, until } = trendRange();
  const ticket = activityChart.ask();
  let series;
  try {
    const query = new URLSearchParams({ period, since, until });
    series = await call("GET", `/users/${state.userId}/activity-series?${query}`);
  } catch (error) {
    if (activityChart.current(ticket)) activityChart.failed(error.message);
    return;
  }
  if (!activityChart.current(ticket)) return;
  const points = series.points, workouts = points.reduce((n, p) => n + p.workouts, 0);
  const title = `${meta.label} per ${period}, last ${days} days`;
  if (!workouts) {
    activityChart.empty(title, `No workouts in the last ${days} days.`);
    return;
  }
  const ys = points.map((p) => p[measure] * (meta.scale || 1));
  const figure = meta.total
    ? `${days}-day total ${fmt(ys.reduce((a, b) => a + b, 0))} ${meta.total}`
    : `${days}-day mean score ${fmt(ys.reduce((a, b) => a + b, 0) / ys.length)}% of the weekly target`;
  activityChart.draw({
    title,
    label: meta.label,
    unit: meta.unit,
    period,
    xs: points.map((p) => Date.parse(p.start) / 1000),
    ys,
    bars: true,
    summary: `${figure}, from ${plural(workouts, "workout")}.`,
  });
}

// --- Insights: the top five, each with the figures behind it. -------------------------

let insightsAsked = 0;

function insightsState(stateName) {
  const box = $("insights");
  box.dataset.state = stateName;
  box.setAttribute("aria-busy", String(stateName === "loading"));
  $("insights-loading").classList.toggle("hidden", stateName !== "loading");
  $("insights-empty").classList.toggle("hidden", stateName !== "empty");
  $("insights-error").classList.toggle("hidden", stateName !== "error");
}

function insightItem(insight) {
  const li = document.createElement("li");
  li.dataset.kind = insight.kind;
  const head = document.createElement("p");
  const badge = document.createElement("span");
  badge.className = `severity severity-${insight.severity}`;
  badge.textContent = insight.severity;
  head.append(badge, insight.message);
  const evidence = document.createElement("ul");
  evidence.className = "evidence";
  evidence.setAttribute("aria-label", "The figures behind it");
  for (const e of insight.evidence) {
    const item = document.createElement("li"), figure = document.createElement("strong");
    figure.textContent = `${fmt(e.value)} ${e.unit}`.trim();
    item.append(`${e.name.replaceAll("_", " ")}: `, figure);
    evidence.append(item);
  }
  const source = document.createElement("p");
  source.className = "source";
  source.textContent = `Source: ${insight.source}`;
  li.append(head, evidence, source);
  return li;
}

async function loadInsights() {
  const ticket = ++insightsAsked;
  insightsState("loading");
  let found;
  try {
    found = await call("GET", `/recommendations/${state.userId}`);
  } catch (error) {
    if (ticket !== insightsAsked) return;
    $("insights-error").textContent = `Could not load insights: ${error.message}`;
    insightsState("error");
    return;
  }
  if (ticket !== insightsAsked) return;
  $("insights-list").replaceChildren(...found.items.map(insightItem));
  insightsState(found.items.length ? "ready" : "empty");
}

// --- Wiring --------------------------------------------------------------------------

function refreshTrends() { drawMetric(); drawActivity(); }
function refreshHealth() { refreshTrends(); loadInsights(); }

$("trend-metric").addEventListener("change", drawMetric);
$("trend-activity").addEventListener("change", drawActivity);
$("trend-range").addEventListener("change", refreshTrends);
$("trend-period").addEventListener("change", refreshTrends);

area("health", () => {
  setNow($("metric-at"));
  setNow($("meal-at"));
  metricTypeChanged();
  refreshHealth();
});
