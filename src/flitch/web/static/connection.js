// A connection's page: Refresh now with live progress, then the datasets table brought up to date;
// the objects it reads, tested with the saved key before they are saved. The rest of the page
// (update key, test, delete) is handled by app.js.

import { api, busy, clearError, el, formatNumber, problemAlert, reloadPage, showError, timeElement, toast } from "./lib.js";
import { markObjects, renderProbe } from "./probe.js";

const root = document.querySelector("[data-connection-page]");
const POLL_MS = 500;

const STATE_LABELS = {
  waiting: "Waiting",
  reading: "Reading",
  applying: "Writing",
  done: "Done",
  blocked: "Missing permission",
  failed: "Failed",
};

function seconds(value) {
  return value < 10 ? `${value.toFixed(1)} s` : `${Math.round(value)} s`;
}

function progressRow(d) {
  const state = el("span", { class: `badge badge-${badgeKind(d.status)}` }, STATE_LABELS[d.status] ?? d.status);
  return el(
    "tr",
    { "data-progress-dataset": d.object },
    el("td", {}, d.label, " ", el("small", { class: "muted" }, d.strategy)),
    el("td", {}, state, d.error ? el("p", { class: "cell-note" }, `${d.error} ${d.fix ?? ""}`) : null),
    el("td", { class: "num" }, formatNumber(d.records_read)),
    el("td", { class: "num" }, formatNumber(d.pages)),
    el("td", { class: "num" }, `${formatNumber(Math.round(d.records_per_second))}/s`),
    el("td", { class: "num" }, seconds(d.seconds)),
  );
}

function badgeKind(status) {
  if (status === "done") return "success";
  if (status === "failed") return "danger";
  if (status === "blocked") return "warning";
  return "muted";
}

function summary(job) {
  const facts = `${formatNumber(job.records)} records · ${formatNumber(job.requests)} requests · ${seconds(job.elapsed_seconds)}`;
  if (job.state === "running") return `Refreshing ${job.connection} (${job.stage})… ${facts}`;
  if (job.state === "ok") return `Refresh finished: ${facts}.`;
  if (job.state === "partial") return `Refresh finished with problems: ${facts}.`;
  if (job.state === "stopped") return "Refresh stopped; the previous data is kept.";
  return "Refresh failed; the previous data is kept.";
}

function showJob(job) {
  const card = document.getElementById("refresh-progress");
  card.hidden = false;
  const finished = job.datasets.filter((d) => ["done", "blocked", "failed"].includes(d.status));
  const bar = card.querySelector("[data-progress-bar]");
  bar.max = Math.max(1, job.datasets.length);
  bar.value = job.state === "running" ? finished.length : bar.max;
  card.querySelector("[data-progress-summary]").textContent = summary(job);
  card.querySelector("[data-progress-rows]").replaceChildren(...job.datasets.map(progressRow));
  const errorRegion = card.querySelector("[data-progress-error]");
  errorRegion.replaceChildren(
    job.error ? problemAlert({ ...job.error, title: "The refresh did not finish cleanly" }) : "",
  );
}

// Bring the datasets table (rows, last refresh, status) and the problems up to date.
async function reloadDatasets(id) {
  const view = await api("GET", `/api/v1/connections/${encodeURIComponent(id)}/datasets`);
  for (const d of view.datasets) {
    const row = root.querySelector(`tr[data-dataset="${CSS.escape(d.name)}"]`);
    if (!row) continue;
    const rows = row.querySelector('[data-cell="rows"]');
    rows.replaceChildren(
      d.served === "live" ? el("span", { class: "badge badge-muted" }, "Live") : formatNumber(d.rows),
    );
    row.querySelector('[data-cell="last-refresh"]').replaceChildren(
      d.last_refresh_at || view.connection.refresh === "off" ? timeElement(d.last_refresh_at) : el("span", { class: "badge badge-muted" }, "Pending"),
    );
    const status = row.querySelector('[data-cell="status"]');
    const refused = d.problem?.kind === "authentication_failed";
    const ok = d.status === "ok" && !refused;
    const label = refused
      ? "Authentication failed"
      : ok
        ? "Readable"
        : d.status === "missing_permission"
          ? "Missing permission"
          : "Failed";
    const kind = ok ? "success" : d.status === "missing_permission" && !refused ? "warning" : "danger";
    const badge = el("span", { class: `badge badge-${kind}` }, label);
    // A refused key, and the fix of a missing permission, are explained once, above the table.
    const note = !d.problem || refused
      ? ""
      : d.problem.kind === "missing_resource"
        ? el("p", { class: "cell-note" }, d.problem.message)
        : el("p", { class: "cell-note" }, el("strong", {}, `${d.problem.title}.`), ` ${d.problem.message} ${d.problem.fix}`);
    status.replaceChildren(badge, note);
  }
  root.querySelector("[data-problems]").replaceChildren(...view.problems.map(problemAlert));
  // Once a refresh has filled the cache, the pages are served from it.
  const cached = view.datasets.some((d) => d.served === "cache");
  root.dataset.cached = cached ? "1" : "0";
  const refresh = view.connection.refresh;
  const hint = root.querySelector("[data-served-hint]");
  if (refresh !== "off" && cached) hint.textContent = `Served from the cache between refreshes (${refresh}).`;
  else if (refresh !== "off") hint.textContent = `Refresh is on (${refresh}), but no refresh has filled the cache yet: until one has, pages read Stripe live.`;
}

async function follow(jobId, button) {
  const id = root.dataset.connectionId;
  for (;;) {
    let job;
    try {
      job = await api("GET", `/api/v1/refreshes/${encodeURIComponent(jobId)}`);
    } catch (error) {
      document.querySelector("[data-progress-error]").replaceChildren(problemAlert(error));
      break;
    }
    showJob(job);
    if (job.state !== "running") {
      await reloadDatasets(id).catch(() => toast("Reload the page to see the refreshed datasets."));
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  if (button) busy(button, false);
}

// Save the refresh setting. Turned on with no cache yet, the first refresh starts at once, so
// the page shows it running (with its progress) instead of a cache that does not exist.
async function saveRefresh(form, id) {
  const button = form.querySelector('[type="submit"]');
  const region = form.querySelector("[data-form-error]");
  const every = form.elements.refresh.value;
  clearError(region);
  busy(button, true);
  try {
    await api("PATCH", `/api/v1/connections/${encodeURIComponent(id)}`, { refresh: every });
    if (every !== "off" && root.dataset.cached !== "1" && !root.dataset.runningJob) {
      try {
        await api("POST", `/api/v1/connections/${encodeURIComponent(id)}/refresh`, {});
      } catch (error) {
        // Already running (another tab, or the scheduler): the page shows it after the reload.
        if (error.status !== 409) throw error;
      }
    }
    reloadPage();
  } catch (error) {
    showError(region, error);
    busy(button, false);
  }
}

if (root) {
  const button = root.querySelector("[data-refresh-now]");
  const id = root.dataset.connectionId;
  const refreshForm = root.querySelector("form[data-refresh-form]");
  refreshForm?.addEventListener("submit", (event) => {
    event.preventDefault();
    saveRefresh(refreshForm, id);
  });
  if (button) {
    button.addEventListener("click", async () => {
      busy(button, true);
      try {
        const job = await api("POST", `/api/v1/connections/${encodeURIComponent(id)}/refresh`, {});
        showJob(job);
        button.textContent = "Refreshing…";
        await follow(job.id, button);
      } catch (error) {
        const card = document.getElementById("refresh-progress");
        card.hidden = false;
        card.querySelector("[data-progress-summary]").textContent = "The refresh could not start.";
        card.querySelector("[data-progress-error]").replaceChildren(problemAlert(error));
        busy(button, false);
      }
    });
  }
  // A refresh already running when the page was opened: follow it.
  if (root.dataset.runningJob) {
    if (button) busy(button, true);
    follow(root.dataset.runningJob, button);
  }
}

// ---- the objects: test what the saved key can read, then save the ones ticked ----------------

const objectsForm = document.querySelector("form[data-objects-form]");
if (objectsForm) {
  const id = objectsForm.dataset.connectionId;
  const result = objectsForm.querySelector("[data-objects-result]");
  const status = objectsForm.querySelector("[data-objects-status]");
  const saveError = objectsForm.querySelector("[data-form-error]");
  const testButton = objectsForm.querySelector("[data-test-objects]");
  const boxes = () => [...objectsForm.querySelectorAll('[name="objects"]')];

  testButton.addEventListener("click", async () => {
    busy(testButton, true);
    clearError(saveError);
    status.textContent = "Asking Stripe what the saved key can read…";
    try {
      const report = await api("POST", `/api/v1/connections/${encodeURIComponent(id)}/objects/test`, {
        objects: boxes().map((box) => box.value),
      });
      renderProbe(result, report);
      markObjects(objectsForm, report);
      status.textContent = "Tested; nothing was saved.";
    } catch (error) {
      status.textContent = "";
      result.replaceChildren(problemAlert(error));
      result.hidden = false;
    } finally {
      busy(testButton, false);
    }
  });

  objectsForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = objectsForm.querySelector('[type="submit"]');
    const picked = boxes().filter((box) => box.checked).map((box) => box.value);
    clearError(saveError);
    if (!picked.length) {
      showError(saveError, { message: "No object is ticked.", fix: "Tick at least one object: each one ticked is a dataset." });
      return;
    }
    busy(button, true);
    status.textContent = "Testing the key, then saving…";
    try {
      const saved = await api("PATCH", `/api/v1/connections/${encodeURIComponent(id)}`, { objects: picked });
      if (saved.probe) markObjects(objectsForm, saved.probe);
      reloadPage();
    } catch (error) {
      status.textContent = "";
      showError(saveError, error);
      busy(button, false);
    }
  });
}
