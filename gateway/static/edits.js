"use strict";
// Workouts: editing and deleting a completed one from the history. Each change sends the
// version the page last read as If-Match, so nobody overwrites a change they have not seen:
// a 412 says someone else changed it, and the page reads it again. The totals, weekly score
// and goals follow on the server (goal alerts arrive on the socket); the dashboard reads
// them afresh when it is opened.

const editing = { id: null, version: null, was: {} };
const SETTLING_WAITS_MS = [500, 1000, 2000];
const kmOrNull = (input) => (input.value === "" ? null : Number(input.value) * 1000);

// A workout of the history, with its Edit and Delete buttons once it is completed.
function historyItem(workout) {
  const item = workoutItem(workout);
  if (workout.status !== "completed") return item;
  const what = `${typeName(workout.workout_type)} of ${when(workout.start_time)}`;
  const edit = el("button", { type: "button", class: "secondary edit", "aria-label": `Edit ${what}` }, "Edit");
  const remove = el("button", { type: "button", class: "secondary delete", "aria-label": `Delete ${what}` }, "Delete");
  edit.addEventListener("click", () => openEdit(workout));
  remove.addEventListener("click", () => confirmIn(item, remove, `Delete the ${what}? Its minutes leave your totals, score and goals.`,
    "Yes, delete", () => deleteWorkout(workout)));
  item.append(el("span", { class: "actions" }, edit, remove));
  return item;
}

// A change the activity service is still settling (409: its score or a last change) goes
// through a moment later; anything else is the caller's to show.
async function settled(request) {
  for (const wait of SETTLING_WAITS_MS) {
    try {
      return await request();
    } catch (error) {
      if (error.status !== 409) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  return request();
}

const ifMatch = (version) => ({ "If-Match": `"${version}"` });

// The history again, then the focus on the workout's own button (the list was redrawn).
async function reloadHistory(id, button) {
  await loadHistory();
  const again = id && $("history").querySelector(`li[data-id="${CSS.escape(id)}"] .${button}`);
  (again || $("history-title")).focus();
}

// --- Editing: a dialog over the page, filled with the workout as last read. -------------

const EDIT_INPUTS = ["edit-type", "edit-start", "edit-end", "edit-hr", "edit-distance"];

function fillEdit(workout) {
  editing.id = workout.session_id;
  editing.version = workout.version;
  $("edit-type").value = workout.workout_type;
  $("edit-start").value = localInput(new Date(workout.start_time));
  $("edit-end").value = localInput(new Date(workout.end_time));
  $("edit-hr").value = workout.avg_heart_rate ?? "";
  $("edit-distance").value = workout.distance_m == null ? "" : workout.distance_m / 1000;
  $("edit-what").textContent = `${typeName(workout.workout_type)}, ${when(workout.start_time)}: ${duration(workout.duration)}.`;
  // What the inputs held, so only what the person changed is sent: the times are shown to
  // the minute, and sending them back unchanged would drop the workout's seconds.
  editing.was = Object.fromEntries(EDIT_INPUTS.map((id) => [id, $(id).value]));
}

function openEdit(workout) {
  clearErrors($("edit-form"));
  setStatus($("edit-status"), "");
  fillEdit(workout);
  $("edit-dialog").showModal();
  $("edit-type").focus();
}

// The fields changed, as PATCH takes them: a cleared heart rate or distance is null.
function editChanges() {
  const changed = (id) => $(id).value !== editing.was[id];
  const body = {};
  if (changed("edit-type")) body.workout_type = $("edit-type").value;
  if (changed("edit-start")) body.start_time = instant($("edit-start"));
  if (changed("edit-end")) body.end_time = instant($("edit-end"));
  if (changed("edit-hr")) body.avg_heart_rate = numberOrNull($("edit-hr"));
  if (changed("edit-distance")) body.distance_m = kmOrNull($("edit-distance"));
  return body;
}

// Changed elsewhere since it was read (412) or gone (404): the dialog shows it as it is now
// (or closes), with why, and the history follows.
async function editRefused(error) {
  if (error.status === 412) {
    try {
      fillEdit(await call("GET", `/workouts/${editing.id}`));
    } catch (again) {
      error = again;
    }
  }
  loadHistory();
  if (error.status === 412) {
    return new Error("Someone changed this workout since you opened it (in another tab or device). It is shown as it is now: make your change again.");
  }
  if (error.status === 404) return new Error("This workout is gone: it was deleted elsewhere.");
  return error;
}

$("edit-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = editChanges(), id = editing.id;
  if (!Object.keys(body).length) {
    setStatus($("edit-status"), "Nothing changed yet.", "error");
    return;
  }
  let saved = null;
  submit($("edit-form"), $("edit-submit"), $("edit-status"), async () => {
    try {
      saved = await settled(() => call("PATCH", `/workouts/${id}`, body, ifMatch(editing.version)));
    } catch (error) {
      throw await editRefused(error);
    }
    return "Saved.";
  }, () => {
    $("edit-dialog").close();
    setStatus($("history-status"), `Saved ${typeName(saved.workout_type).toLowerCase()}, ${duration(saved.duration)}: ${fmt(saved.intensity_minutes ?? 0)} intensity minutes, ${fmt(saved.calories_burned ?? 0)} kcal.`, "ok");
    reloadHistory(id, "edit");
  });
});

$("edit-cancel").addEventListener("click", () => $("edit-dialog").close());
// A modal dialog stays over whatever is shown: leaving the area (the browser's back button)
// closes it.
window.addEventListener("hashchange", () => { if ($("edit-dialog").open) $("edit-dialog").close(); });

// --- Deleting, after the question beside it. ----------------------------------------------

async function deleteWorkout(workout) {
  const id = workout.session_id, status = $("history-status");
  setStatus(status, "Deleting…");
  try {
    await settled(() => call("DELETE", `/workouts/${id}`, undefined, ifMatch(workout.version)));
    setStatus(status, `Deleted the ${typeName(workout.workout_type).toLowerCase()} of ${when(workout.start_time)}.`, "ok");
    await reloadHistory(null);
  } catch (error) {
    const words = {
      412: "This workout changed since the list was read (in another tab or device). The list is read again: check it, then delete again if you still want to.",
      404: "This workout is gone already: it was deleted elsewhere.",
    }[error.status];
    setStatus(status, words || `Could not delete it: ${error.message}`, "error");
    await reloadHistory(id, "delete");
  }
}
