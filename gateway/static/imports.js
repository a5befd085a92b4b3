"use strict";
// Workout imports: a GPX, TCX or FIT file dropped on the form (or chosen) is uploaded with
// its progress shown, then followed until the workout is made or the file is refused, with
// what was wrong. The workout joins the history when done.

const FOLLOW_MS = 700, FOLLOW_FOR_MS = 120000;

// An upload with progress events, which fetch does not give; an expired access token is
// renewed once, as call() does.
function upload(form, onProgress, renewed = false) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${api}/workouts/imports`);
    xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
    xhr.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded, event.total); };
    xhr.onerror = () => reject(new Error("the upload failed; check the connection"));
    xhr.onload = async () => {
      if (xhr.status === 401 && !renewed && (await renew())) { upload(form, onProgress, true).then(resolve, reject); return; }
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON: the status says it */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(Object.assign(new Error((data && data.detail) || xhr.statusText), { status: xhr.status, problem: data }));
    };
    xhr.send(form);
  });
}

function importSummary(found) {
  const s = found.summary;
  if (!s) return "";
  const figures = [typeName(s.workout_type), duration(s.duration)];
  if (s.distance_m) figures.push(`${fmt(s.distance_m / 1000)} km`);
  if (s.elevation_gain_m) figures.push(`${fmt(s.elevation_gain_m)} m climbed`);
  if (s.avg_heart_rate) figures.push(`${s.avg_heart_rate} bpm on average`);
  return figures.join(", ");
}

function importState(item, found) {
  item.dataset.status = found.status;
  const words = {
    queued: "Queued…",
    parsing: "Reading the file…",
    done: `${found.duplicate ? "Imported before" : "Imported"}: ${importSummary(found)}.`,
    failed: `Could not import: ${found.error}`,
  }[found.status];
  item.querySelector(".import-state").textContent = words;
  item.querySelector(".import-state").className = `import-state ${found.status === "failed" ? "error" : ""}`;
}

async function follow(item, found) {
  const until = Date.now() + FOLLOW_FOR_MS;
  while (found.status === "queued" || found.status === "parsing") {
    if (Date.now() > until) { item.querySelector(".import-state").textContent = "Still being read; it will appear in the history when done."; return; }
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
    found = await call("GET", `/workouts/imports/${found.import_id}`);
    importState(item, found);
  }
  if (found.status === "done") loadHistory();
}

async function importFile(file) {
  const formEl = $("import-form");
  clearErrors(formEl);
  setStatus($("import-status"), "");
  const bar = el("progress", { max: file.size || 1, value: 0, "aria-label": `Uploading ${file.name}` });
  const item = el("li", { "data-status": "uploading" }, el("strong", {}, file.name), " ", el("span", { class: "import-state" }, "Uploading…"), bar);
  $("imports").prepend(item);
  show("imports-empty", false);
  const body = new FormData();
  body.append("file", file);
  if ($("import-type").value) body.append("workout_type", $("import-type").value);
  try {
    const found = await upload(body, (loaded, total) => { bar.max = total; bar.value = loaded; });
    bar.remove();
    importState(item, found);
    await follow(item, found);
  } catch (error) {
    bar.remove();
    item.dataset.status = "refused";
    item.querySelector(".import-state").textContent = `Refused: ${error.message}`;
    item.querySelector(".import-state").className = "import-state error";
    showErrors(formEl, $("import-status"), error);
  }
}

$("import-file").addEventListener("change", () => {
  const [file] = $("import-file").files;
  if (file) importFile(file);
  $("import-file").value = "";
});

const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  for (const file of event.dataTransfer.files) importFile(file);
});
