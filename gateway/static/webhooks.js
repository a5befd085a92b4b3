"use strict";
// Account: webhooks. Create one (a URL and its events; the signing secret is shown this once,
// with a copy button), list them, pause and resume, delete (asked first), and the
// deliveries of one: each with its status, attempts, HTTP status, latency and error, followed
// while any is pending, and a finished one (a dead letter, say) sent again.

const FOLLOW_DELIVERIES_MS = 1000, FOLLOW_DELIVERIES_FOR_MS = 120000;
const webhooks = new Listing("webhooks", webhookItem);
const deliveries = new Listing("deliveries", deliveryItem);
const watching = { webhook: null, timer: null, until: 0 };

const loadWebhooks = () => webhooks.load(() => call("GET", "/webhooks").then((found) => ({ items: found.items, next_cursor: null })));

area("account", loadWebhooks);

function webhookItem(hook) {
  const item = el("li", { "data-id": hook.id, "data-status": hook.status },
    el("strong", {}, hook.url), el("span", { class: `badge badge-${hook.status}` }, hook.status),
    el("br"), el("span", { class: "muted" }, `${hook.events.join(", ")} · since ${when(hook.created_at)}`));
  const shown = el("button", { type: "button", class: "secondary show", "aria-label": `Deliveries to ${hook.url}` }, "Deliveries");
  const paused = hook.status === "paused";
  const toggle = el("button", { type: "button", class: "secondary toggle", "aria-label": `${paused ? "Resume" : "Pause"} ${hook.url}` },
    paused ? "Resume" : "Pause");
  const remove = el("button", { type: "button", class: "secondary delete", "aria-label": `Delete ${hook.url}` }, "Delete");
  shown.addEventListener("click", () => showDeliveries(hook));
  toggle.addEventListener("click", () => pauseOrResume(hook, toggle));
  remove.addEventListener("click", () => confirmIn(item, remove, `Delete the webhook to ${hook.url}? Nothing more is sent to it, and its delivery log goes too.`,
    "Yes, delete", () => deleteWebhook(hook)));
  item.append(el("span", { class: "actions" }, shown, toggle, remove));
  return item;
}

// The list again, then the focus on the webhook's own button (the list was redrawn).
async function reloadWebhooks(id, button) {
  await loadWebhooks();
  const again = id && $("webhooks").querySelector(`li[data-id="${CSS.escape(id)}"] .${button}`);
  (again || $("webhooks-list-title")).focus();
}

async function pauseOrResume(hook, button) {
  const action = hook.status === "paused" ? "resume" : "pause";
  button.disabled = true;
  try {
    await call("POST", `/webhooks/${hook.id}/${action}`);
    setStatus($("webhooks-status"), action === "pause"
      ? `Paused ${hook.url}: nothing is sent to it until it is resumed.`
      : `Resumed ${hook.url}: what was waiting goes out now.`, "ok");
  } catch (error) {
    setStatus($("webhooks-status"), `Could not ${action} it: ${error.message}`, "error");
  }
  await reloadWebhooks(hook.id, "toggle");
}

async function deleteWebhook(hook) {
  try {
    await call("DELETE", `/webhooks/${hook.id}`);
    setStatus($("webhooks-status"), `Deleted the webhook to ${hook.url}.`, "ok");
    if (watching.webhook && watching.webhook.id === hook.id) closeDeliveries();
  } catch (error) {
    setStatus($("webhooks-status"), `Could not delete it: ${error.message}`, "error");
  }
  await reloadWebhooks(null);
}

// --- Creating one, and its secret shown once. ---------------------------------------------

$("webhook-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const events = [...$("webhook-events").querySelectorAll("input:checked")].map((box) => box.value);
  const body = { url: $("webhook-url").value.trim(), events };
  submit($("webhook-form"), $("webhook-submit"), $("webhook-status"), async () => {
    // The URL is asked to answer a challenge first, which takes up to a few seconds.
    setStatus($("webhook-status"), "Checking the URL…");
    const created = await call("POST", "/webhooks", body);
    $("webhook-url").value = "";
    $("webhook-secret").value = created.secret;
    show("webhook-secret-box", true);
    $("webhook-copy").focus();
    return `Created: ${created.url} is sent ${created.events.join(", ")}.`;
  }, loadWebhooks);
});

$("webhook-copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("webhook-secret").value);
    toast("Secret copied.");
  } catch {
    $("webhook-secret").select();  // the person copies it themselves
  }
});

// Gone from the page once saved: it is never shown again.
$("webhook-secret-done").addEventListener("click", () => {
  $("webhook-secret").value = "";
  show("webhook-secret-box", false);
  $("webhook-url").focus();
});

// --- Deliveries of one webhook, followed while any is pending. ----------------------------

function deliveryFigures(delivery) {
  const figures = [when(delivery.created_at), plural(delivery.attempts, "attempt")];
  if (delivery.last_status_code != null) figures.push(`HTTP ${delivery.last_status_code}`);
  if (delivery.last_latency_ms != null) figures.push(`${fmt(delivery.last_latency_ms)} ms`);
  if (delivery.status === "pending" && delivery.next_attempt_at) figures.push(`next try ${when(delivery.next_attempt_at)}`);
  return figures.join(" · ");
}

// Attempts come seconds apart: their times to the second, on the delivery's day.
const clockTime = (iso) => new Date(iso).toLocaleTimeString("en", { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function attemptRow(attempt) {
  return el("tr", {}, el("th", { scope: "row" }, String(attempt.number)), el("td", {}, clockTime(attempt.at)),
    el("td", {}, attempt.status_code == null ? "none" : String(attempt.status_code)),
    el("td", {}, `${fmt(attempt.latency_ms)} ms`), el("td", {}, attempt.error || ""));
}

function deliveryItem(delivery) {
  const item = el("li", { "data-id": delivery.id, "data-status": delivery.status },
    el("strong", {}, delivery.event_type), el("span", { class: `badge badge-${delivery.status}` }, delivery.status),
    ` ${deliveryFigures(delivery)}`);
  // The error, unless it only repeats the status shown beside it.
  const error = delivery.last_error;
  if (error && error !== `HTTP ${delivery.last_status_code}`) item.append(el("p", { class: "error delivery-error" }, error));
  if (delivery.attempt_log.length) {
    const head = el("tr", {}, ...["#", "Time", "HTTP status", "Latency", "Error"].map((name) => el("th", { scope: "col" }, name)));
    item.append(el("details", {}, el("summary", {}, "Attempts"),
      el("table", {}, el("thead", {}, head), el("tbody", {}, ...delivery.attempt_log.map(attemptRow)))));
  }
  if (delivery.status !== "pending") {
    const label = delivery.status === "dead" ? "Replay" : "Send again";
    const again = el("button", { type: "button", class: "secondary replay", "aria-label": `${label} ${delivery.event_type} of ${when(delivery.created_at)}` }, label);
    again.addEventListener("click", () => replay(delivery, again));
    item.append(el("span", { class: "actions" }, again));
  }
  return item;
}

function deliveriesPage(cursor) {
  const query = new URLSearchParams({ limit: "10" });
  if (cursor) query.set("cursor", cursor);
  if ($("deliveries-filter").value) query.set("status", $("deliveries-filter").value);
  return call("GET", `/webhooks/${watching.webhook.id}/deliveries?${query}`);
}

// Asked again every second while one shown is pending (for two minutes at most), quietly:
// a person sees each attempt land without pressing Refresh.
function followDeliveries() {
  clearTimeout(watching.timer);
  const hook = watching.webhook;
  if (!hook || Date.now() > watching.until || $("account").classList.contains("hidden")) return;
  if (!$("deliveries").querySelector('li[data-status="pending"]')) return;
  watching.timer = setTimeout(async () => {
    if (watching.webhook !== hook) return;
    await deliveries.refresh();
    followDeliveries();
  }, FOLLOW_DELIVERIES_MS);
}

async function loadDeliveries() {
  watching.until = Date.now() + FOLLOW_DELIVERIES_FOR_MS;
  await deliveries.load(deliveriesPage);
  followDeliveries();
}

function showDeliveries(hook) {
  watching.webhook = hook;
  $("deliveries-title").textContent = `Deliveries to ${hook.url}`;
  setStatus($("deliveries-status"), "");
  show("deliveries-box", true);
  $("deliveries-title").focus();
  loadDeliveries();
}

function closeDeliveries() {
  clearTimeout(watching.timer);
  watching.webhook = null;
  show("deliveries-box", false);
}

async function replay(delivery, button) {
  button.disabled = true;
  try {
    await call("POST", `/webhooks/${watching.webhook.id}/deliveries/${delivery.id}/replay`);
    setStatus($("deliveries-status"), `Sent again: the ${delivery.event_type} event is on its way, with new retries.`, "ok");
  } catch (error) {
    setStatus($("deliveries-status"), `Could not send it again: ${error.message}`, "error");
    button.disabled = false;
    return;
  }
  await loadDeliveries();
  $("deliveries-title").focus();
}

$("deliveries-filter").addEventListener("change", loadDeliveries);
$("deliveries-refresh").addEventListener("click", loadDeliveries);
$("deliveries-close").addEventListener("click", () => {
  const hook = watching.webhook;
  closeDeliveries();
  const opener = hook && $("webhooks").querySelector(`li[data-id="${CSS.escape(hook.id)}"] .show`);
  (opener || $("webhooks-list-title")).focus();
});
