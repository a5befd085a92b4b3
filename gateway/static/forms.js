"use strict";
// What every area's forms share: numbers and times as people read them, and problem+json
// errors shown next to the field they name (errors[].field matched to data-field).

const DAY_MS = 86400000;
const number = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const fmt = (v) => number.format(v);
const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? "" : "s"}`;

const typeName = (kind) => (kind === "hiit" ? "HIIT" : kind.charAt(0).toUpperCase() + kind.slice(1).replaceAll("_", " "));

// A moment as a person reads it, in their own time zone.
function when(iso) {
  const date = new Date(iso);
  const year = date.getFullYear() === new Date().getFullYear() ? undefined : "numeric";
  return date.toLocaleString("en", { weekday: "short", day: "numeric", month: "short", year, hour: "2-digit", minute: "2-digit" });
}

// Seconds as "1 h 05 min", "25 min" or "40 s".
function duration(seconds) {
  const minutes = Math.round(seconds / 60);
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

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

// `send` does the request and answers the sentence to show; `then` follows a success.
async function submit(form, button, status, send, then = () => {}) {
  button.disabled = true;
  setStatus(status, "Saving…");
  try {
    const text = await send();
    clearErrors(form);
    delete form.dataset.clientId;
    setStatus(status, text, "ok");
    then();
  } catch (error) {
    showErrors(form, status, error);
  } finally {
    button.disabled = false;
  }
}

const numberOrNull = (input) => (input.value === "" ? null : Number(input.value));
