"use strict";
// The Health area: log a metric or a meal, trends drawn with uPlot (vendor/uplot) from the
// series routes, and the top insights. Uses app.js's call(), $ and state; every request
// goes to this page's own origin.

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
const DAY_MS = 86400000;
const number = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const fmt = (v) => number.format(v);
const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? "" : "s"}`;

// --- Times: the forms take local times; the API takes and gives UTC instants. ----------

function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function instant(input) {
  if (!input.value) return null;
  const date = new Date(input.value);  // a datetime-local value is read as local time
  return Number.isNaN(date.getTime()) ? input.value : date.toISOString();
}

// A time input holds "now" until someone edits it; then it holds what they chose.
function setNow(input, date = new Date()) {
  input.value = localInput(date);
  delete input.dataset.edited;
}

function chosenOrNow(input) { return input.dataset.edited ? instant(input) : new Date().toISOString(); }

function newClientId() {
  // Sent with a record so that a retried submit stores it once.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// --- Forms: problem+json errors go next to the field they name. -----------------------

function fieldOf(form, name) {
  const candidates = [name, String(name).split(/[.[\]]/).filter(Boolean).pop()];
  for (const candidate of candidates) {
    const input = form.querySelector(`[data-field="${CSS.escape(candidate || "")}"]`);
    if (input && !input.closest(".hidden")) return input;
  }
  return null;
}

function clearErrors(form) {
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((slot) => { slot.textContent = ""; });
}

function setStatus(el, text, kind) {
  el.textContent = text;
  el.className = `form-status ${kind || ""}`;
}

function showErrors(form, status, error) {
  clearErrors(form);
  const errors = (error.problem && error.problem.errors) || [];
  const elsewhere = [];
  let first = null;
  for (const { field, message } of errors) {
    const input = fieldOf(form, field);
    if (!input) { elsewhere.push(`${field}: ${message}`); continue; }
    input.setAttribute("aria-invalid", "true");
    const slot = $(input.getAttribute("aria-describedby"));
    slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
    first = first || input;
  }
  if (!errors.length) setStatus(status, error.message, "error");
  else setStatus(status, elsewhere.length ? elsewhere.join("; ") : "Please correct the marked fields.", "error");
  if (first) first.focus();
}

async function submit(form, button, status, send) {
  button.disabled = true;
  setStatus(status, "Saving…");
  try {
    const text = await send();
    clearErrors(form);
    delete form.dataset.clientId;
    setStatus(status, text, "ok");
    refreshHealth();
  } catch (error) {
    showErrors(form, status, error);
  } finally {
    button.disabled = false;
  }
}

const numberOrNull = (input) => (input.value === "" ? null : Number(input.value));

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
  });
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
  });
});

// --- Charts: one uPlot per figure, redrawn from each answer; a text summary beside it. --

class Chart {
  constructor(id) {
    this.id = id;
    this.figure = $(id);
    this.box = $(`${id}-plot`);
    this.plot = null;
    this.asked = 0;  // answers to older questions are dropped
    new ResizeObserver(() => {
      const width = this.box.clientWidth;
      if (this.plot && width && width !== this.plot.width) this.plot.setSize({ width, height: this.plot.height });
    }).observe(this.box);
  }

  ask() {
    this.figure.dataset.state = "loading";
    this.figure.setAttribute("aria-busy", "true");
    return ++this.asked;
  }

  current(ticket) { return ticket === this.asked; }

  settle(state) {
    this.figure.dataset.state = state;
    this.figure.removeAttribute("aria-busy");
    if (state !== "ready" && this.plot) { this.plot.destroy(); this.plot = null; }
  }

  empty(title, text) {
    $(`${this.id}-title`).textContent = title;
    $(`${this.id}-empty`).textContent = text;
    $(`${this.id}-summary`).textContent = "";
    this.settle("empty");
  }

  failed(text) {
    $(`${this.id}-error`).textContent = `Could not load this chart: ${text}`;
    this.settle("error");
  }

  draw({ title, label, unit, period, xs, ys, bars, summary }) {
    $(`${this.id}-title`).textContent = title;
    $(`${this.id}-summary`).textContent = summary;
    $(`${this.id}-unit`).textContent = `${label} (${unit})`;
    this.box.setAttribute("aria-label", `Chart: ${title}`);
    $(`${this.id}-rows`).replaceChildren(...xs.map((x, i) => {
      const row = document.createElement("tr");
      const when = document.createElement("th"), value = document.createElement("td");
      when.scope = "row";
      when.textContent = periodLabel(x, period);
      value.textContent = ys[i] == null ? "–" : fmt(ys[i]);
      row.append(when, value);
      return row;
    }));
    if (this.plot) this.plot.destroy();
    // The figure shows again before measuring: an empty one had the plot hidden.
    this.settle("ready");
    const half = (period === "week" ? 7 : 1) * 43200;  // room for the first and last bar
    const colour = bars ? "#2b7a4b" : "#1f6feb";
    this.plot = new uPlot({
      width: this.box.clientWidth || 300,
      height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),  // the API's days are UTC days
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: (u, min, max) => [min - half, max + half] },
        // Bars stand on zero; a mean's line gets room around its values (one sample too).
        y: { range: (u, min, max) => (bars ? [0, max > 0 ? max * 1.1 : 1] : around(min, max)) },
      },
      axes: [
        { stroke: "#1d2530", grid: { stroke: "#eef" } },
        { stroke: "#1d2530", grid: { stroke: "#eef" }, size: 48, values: (u, splits) => splits.map((v) => compact.format(v)) },
      ],
      series: [
        { label: period === "week" ? "Week" : "Day", value: (u, ts) => (ts == null ? "–" : periodLabel(ts, period)) },
        {
          label,
          stroke: colour,
          width: 2,
          fill: bars ? "#2b7a4b99" : undefined,
          paths: bars ? uPlot.paths.bars({ size: [0.7, 48] }) : undefined,
          points: { show: !bars, size: 6, fill: colour },
          spanGaps: true,
          value: (u, v) => (v == null ? "–" : `${fmt(v)} ${unit}`),
        },
      ],
    }, [xs, ys], this.box);
  }
}

function around(min, max) {
  const pad = Math.max((max - min) * 0.15, Math.abs(max) * 0.05, 1);
  return [Math.max(0, Math.floor(min - pad)), Math.ceil(max + pad)];
}

function periodLabel(seconds, period) {
  const day = new Date(seconds * 1000).toLocaleDateString("en", { timeZone: "UTC", month: "short", day: "numeric" });
  return period === "week" ? `week of ${day}` : day;
}

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

// Called by app.js once logged in.
function showHealth() {
  show("health", true);
  setNow($("metric-at"));
  setNow($("meal-at"));
  metricTypeChanged();
  refreshHealth();
}
