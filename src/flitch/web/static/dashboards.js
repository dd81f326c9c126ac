// The Dashboards list and the actions shared with a dashboard's page: pick the connection, create
// a dashboard, copy one (built-in ones too), import one from JSON, move and delete your own.
// Each action is one call to the JSON API; the page then goes where the result is.

import { api, busy, clearError, showError } from "./lib.js";

const connection = new URLSearchParams(window.location.search).get("connection") ??
  document.querySelector("[data-dashboard-page]")?.dataset.connectionId ??
  "";

function boardHref(name) {
  const query = connection ? `?connection=${encodeURIComponent(connection)}` : "";
  return `/dashboards/${encodeURIComponent(name)}${query}`;
}

// A name for a dashboard from its title: lowercase letters, digits and dashes.
function slug(text) {
  return text.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
}

// The name follows the title until someone types a name of their own.
function nameFollowsTitle(form) {
  const title = form.elements.title;
  const name = form.elements.name;
  name.addEventListener("input", () => {
    name.dataset.typed = "1";
  });
  title.addEventListener("input", () => {
    if (!name.dataset.typed) name.value = slug(title.value);
  });
}

// A dialog's form calls the API; on success the page goes where `done` says.
function dialogForm(dialog, send) {
  if (!dialog) return;
  const form = dialog.querySelector("form");
  const region = form.querySelector("[data-form-error]");
  for (const close of dialog.querySelectorAll("[data-close-dialog]")) {
    close.addEventListener("click", () => dialog.close());
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('[type="submit"]');
    clearError(region);
    busy(button, true);
    try {
      await send(form);
    } catch (error) {
      showError(region, error);
      busy(button, false);
    }
  });
}

for (const opener of document.querySelectorAll("[data-open-dialog]")) {
  opener.addEventListener("click", () => {
    const dialog = document.getElementById(opener.dataset.openDialog);
    dialog.querySelector("form").reset();
    clearError(dialog.querySelector("[data-form-error]"));
    dialog.showModal();
  });
}

for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.submit());
}

// ---- create -------------------------------------------------------------------------------------
const createDialog = document.getElementById("create-dialog");
if (createDialog) nameFollowsTitle(createDialog.querySelector("form"));
dialogForm(createDialog, async (form) => {
  const made = await api("POST", "/api/v1/dashboards", {
    name: form.elements.name.value.trim(),
    title: form.elements.title.value.trim(),
  });
  window.location.assign(boardHref(made.name));
});

// ---- copy ---------------------------------------------------------------------------------------
const copyDialog = document.getElementById("copy-dialog");
if (copyDialog) nameFollowsTitle(copyDialog.querySelector("form"));
for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", () => {
    const form = copyDialog.querySelector("form");
    form.reset();
    delete form.elements.name.dataset.typed;
    clearError(form.querySelector("[data-form-error]"));
    copyDialog.dataset.source = button.dataset.copy;
    copyDialog.querySelector("[data-copy-source]").textContent =
      `A dashboard of your own, starting with every chart of ${button.dataset.copyTitle}.`;
    form.elements.title.value = `My ${button.dataset.copyTitle.toLowerCase()}`;
    form.elements.name.value = slug(form.elements.title.value);
    copyDialog.showModal();
    form.elements.title.select();
  });
}
dialogForm(copyDialog, async (form) => {
  const made = await api("POST", `/api/v1/dashboards/${encodeURIComponent(copyDialog.dataset.source)}/copy`, {
    name: form.elements.name.value.trim(),
    title: form.elements.title.value.trim(),
  });
  window.location.assign(boardHref(made.name));
});

// ---- import -------------------------------------------------------------------------------------
dialogForm(document.getElementById("import-dialog"), async (form) => {
  const file = form.elements.file.files[0];
  let dashboard;
  try {
    dashboard = JSON.parse(await file.text());
  } catch {
    throw { message: `${file.name} is not a JSON file.`, fix: "Pick a file written by Export." };
  }
  const body = { dashboard, replace: form.elements.replace.checked };
  if (form.elements.name.value.trim()) body.name = form.elements.name.value.trim();
  const made = await api("POST", "/api/v1/dashboards/import", body);
  window.location.assign(boardHref(made.name));
});

// ---- move and delete your own -------------------------------------------------------------------
for (const button of document.querySelectorAll("[data-move]")) {
  button.addEventListener("click", async () => {
    busy(button, true);
    try {
      await api("POST", `/api/v1/dashboards/${encodeURIComponent(button.dataset.move)}/move`, {
        position: Number(button.dataset.position),
      });
      window.location.reload();
    } catch (error) {
      busy(button, false);
      showError(document.querySelector("[data-list-error]"), error);
    }
  });
}

const deleteDialog = document.getElementById("delete-dialog");
for (const button of document.querySelectorAll("[data-delete]")) {
  button.addEventListener("click", () => {
    deleteDialog.dataset.name = button.dataset.delete;
    deleteDialog.querySelector("[data-delete-text]").textContent =
      `“${button.dataset.deleteTitle}” and its charts will be deleted. Export it first to keep a copy.`;
    clearError(deleteDialog.querySelector("[data-form-error]"));
    deleteDialog.showModal();
  });
}
dialogForm(deleteDialog, async () => {
  await api("DELETE", `/api/v1/dashboards/${encodeURIComponent(deleteDialog.dataset.name)}`);
  window.location.reload();
});
