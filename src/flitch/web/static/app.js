// Flitch pages: a small hand-written module for the pages every user sees (forms, connect flow,
// users, tokens, menus). Shared helpers live in lib.js; a page with more to do loads its own
// module (connection.js, dataset.js).

import { api, busy, clearError, el, formBody, localTime, showError, toast } from "./lib.js";
import { markObjects, renderProbe } from "./probe.js";

// ---- plain forms (sign in, first run): show that they are working --------------------------

for (const form of document.querySelectorAll("form[data-busy-form]")) {
  form.addEventListener("submit", (event) => {
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    const button = form.querySelector('[type="submit"]');
    if (button) {
      button.textContent = button.dataset.busyLabel || "Working…";
      button.classList.add("is-busy");
      button.setAttribute("aria-disabled", "true");
    }
  });
}

// ---- forms that call the API ----------------------------------------------------------------

const successActions = {
  reload: () => window.location.reload(),
  "show-invite": (result, form) => {
    const box = form.parentElement.querySelector("[data-new-invite]");
    box.querySelector("[data-new-invite-code]").textContent = result.code;
    const link = new URL(result.link, window.location.origin).href;
    box.querySelector("[data-new-invite-link]").textContent = link;
    box.hidden = false;
  },
  "show-token": (result, form) => {
    const box = form.parentElement.querySelector("[data-new-token]");
    box.querySelector("[data-new-token-value]").textContent = result.secret;
    box.hidden = false;
    form.reset();
  },
};

for (const form of document.querySelectorAll("form[data-api-form]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const region = form.querySelector("[data-form-error]");
    const button = form.querySelector('[type="submit"]');
    clearError(region);
    busy(button, true);
    try {
      const result = await api(form.dataset.method || "POST", form.dataset.action, formBody(form));
      const action = form.dataset.success || "reload";
      if (action.startsWith("redirect:")) window.location.assign(action.slice(9));
      else if (action.startsWith("toast:")) {
        form.reset();
        toast(action.slice(6));
      } else successActions[action]?.(result, form);
    } catch (error) {
      showError(region, error);
    } finally {
      busy(button, false);
    }
  });
}

// ---- Connect Stripe: test the key, mark the objects, save -----------------------------------

const connectForm = document.querySelector("form[data-connect-form]");
if (connectForm) {
  const keyInput = connectForm.querySelector('[name="key"]');
  const nameInput = connectForm.querySelector('[name="name"]');
  const result = connectForm.querySelector("[data-test-result]");
  const status = connectForm.querySelector("[data-test-status]");
  const testButton = connectForm.querySelector("[data-test-key]");
  const saveError = connectForm.querySelector("[data-form-error]");
  const picked = () =>
    [...connectForm.querySelectorAll('[name="objects"]:checked')].map((box) => box.value);

  testButton.addEventListener("click", async () => {
    busy(testButton, true);
    status.textContent = "Asking Stripe what this key can read…";
    result.hidden = true;
    try {
      const all = [...connectForm.querySelectorAll('[name="objects"]')].map((box) => box.value);
      const report = await api("POST", "/api/v1/connections/test", {
        key: keyInput.value,
        objects: all,
      });
      renderProbe(result, report);
      markObjects(connectForm, report);
      status.textContent = "";
      if (report.authentication.ok && !nameInput.value && report.mode) {
        nameInput.value = report.mode === "live" ? "Stripe live" : "Stripe test";
      }
    } catch (error) {
      status.textContent = "";
      const box = el("div", { class: "alert alert-error test-result", role: "alert" });
      showError(box, error);
      result.replaceChildren(box);
      result.hidden = false;
    } finally {
      busy(testButton, false);
    }
  });

  connectForm.querySelector("[data-select-all]").addEventListener("click", () => {
    for (const box of connectForm.querySelectorAll('[name="objects"]')) box.checked = true;
  });
  connectForm.querySelector("[data-select-none]").addEventListener("click", () => {
    for (const box of connectForm.querySelectorAll('[name="objects"]')) box.checked = false;
  });

  connectForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = connectForm.querySelector('[type="submit"]');
    clearError(saveError);
    busy(button, true);
    try {
      const saved = await api("POST", "/api/v1/connections", {
        name: nameInput.value,
        key: keyInput.value,
        objects: picked(),
        refresh: connectForm.querySelector('[name="refresh"]').value,
      });
      keyInput.value = "";
      window.location.assign(`/data/${encodeURIComponent(saved.connection.id)}`);
    } catch (error) {
      showError(saveError, error);
      busy(button, false);
    }
  });
}

// ---- a saved connection: test again, delete -------------------------------------------------

for (const button of document.querySelectorAll("[data-retest]")) {
  button.addEventListener("click", async () => {
    const target = document.querySelector("[data-test-result]");
    busy(button, true);
    try {
      const saved = await api(
        "POST",
        `/api/v1/connections/${encodeURIComponent(button.dataset.retest)}/test`,
      );
      // The new test is now what the page says about the key: an older word on it goes.
      const stale = '[data-problems] [data-problem="authentication_failed"], [data-problems] [data-problem="missing_resource"]';
      for (const old of document.querySelectorAll(stale)) old.remove();
      renderProbe(target, saved.probe);
      markObjects(document, saved.probe);
      toast("Connection tested. Reload to see the datasets' new state.");
    } catch (error) {
      const box = el("div", { class: "alert alert-error", role: "alert" });
      showError(box, error);
      target.replaceChildren(box);
      target.hidden = false;
    } finally {
      busy(button, false);
    }
  });
}

for (const opener of document.querySelectorAll("[data-open-dialog]")) {
  opener.addEventListener("click", () => {
    document.getElementById(opener.dataset.openDialog)?.showModal();
  });
}

for (const button of document.querySelectorAll("[data-delete-connection]")) {
  button.addEventListener("click", async () => {
    const region = button.closest("form").querySelector("[data-form-error]");
    busy(button, true);
    try {
      const id = encodeURIComponent(button.dataset.deleteConnection);
      const result = await api("DELETE", `/api/v1/connections/${id}`);
      window.location.assign(`/data?deleted=${encodeURIComponent(result.name)}`);
    } catch (error) {
      showError(region, error);
      busy(button, false);
    }
  });
}

// ---- tokens and users -----------------------------------------------------------------------

for (const button of document.querySelectorAll("[data-revoke-token]")) {
  button.addEventListener("click", async () => {
    if (!window.confirm("Revoke this token? Scripts using it stop working at once.")) return;
    busy(button, true);
    try {
      await api("DELETE", `/api/v1/tokens/${encodeURIComponent(button.dataset.revokeToken)}`);
      window.location.reload();
    } catch (error) {
      toast(`${error.message} ${error.fix}`);
      busy(button, false);
    }
  });
}

const usersError = document.querySelector(".card-flush [data-form-error]");

function revokedNote(result) {
  const n = result.tokens_revoked;
  return n ? ` ${n} API token${n === 1 ? " was" : "s were"} revoked.` : "";
}

// A new role: for a user with API tokens, a dialog first offers to revoke them (ticked).
async function changeRole(select, revokeTokens) {
  const name = select.dataset.userRole;
  const result = await api("PATCH", `/api/v1/users/${encodeURIComponent(name)}`, {
    role: select.value,
    revoke_tokens: revokeTokens,
  });
  select.dataset.role = select.value;
  const tokens = select.closest("tr").querySelector("td:nth-child(3)");
  if (result.tokens_revoked && tokens) tokens.textContent = "0";
  if (result.tokens_revoked) select.dataset.tokens = "0";
  toast(`${name} is now ${select.value === "admin" ? "an admin" : "a viewer"}.${revokedNote(result)}`);
}

const roleDialog = document.getElementById("role-dialog");
let pendingRole = null;

for (const select of document.querySelectorAll("[data-user-role]")) {
  select.addEventListener("change", async () => {
    clearError(usersError);
    const tokens = Number(select.dataset.tokens || 0);
    if (tokens && roleDialog) {
      pendingRole = select;
      const who = select.dataset.userRole;
      roleDialog.querySelector("[data-role-title]").textContent =
        `Make ${who} ${select.value === "admin" ? "an admin" : "a viewer"}?`;
      roleDialog.querySelector("[data-role-tokens]").textContent =
        `Also revoke ${who}'s ${tokens} API token${tokens === 1 ? "" : "s"}`;
      roleDialog.querySelector('[name="revoke_tokens"]').checked = true;
      clearError(roleDialog.querySelector("[data-form-error]"));
      roleDialog.showModal();
      return;
    }
    try {
      await changeRole(select, true);
    } catch (error) {
      showError(usersError, error);
      select.value = select.dataset.role;
    }
  });
}

if (roleDialog) {
  const form = roleDialog.querySelector("form");
  roleDialog.querySelector("[data-close-dialog]").addEventListener("click", () => roleDialog.close());
  // Closed without changing (Cancel, Escape): the select shows the role the user still has.
  roleDialog.addEventListener("close", () => {
    if (pendingRole) pendingRole.value = pendingRole.dataset.role;
    pendingRole = null;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const select = pendingRole;
    const button = form.querySelector('[type="submit"]');
    busy(button, true);
    try {
      await changeRole(select, form.querySelector('[name="revoke_tokens"]').checked);
      pendingRole = null;
      roleDialog.close();
    } catch (error) {
      showError(form.querySelector("[data-form-error]"), error);
    } finally {
      busy(button, false);
    }
  });
}

// A new password, set by an admin: the dialog offers to revoke the user's tokens (ticked).
for (const form of document.querySelectorAll("form[data-reset-password]")) {
  const dialog = form.closest("dialog");
  form.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const region = form.querySelector("[data-form-error]");
    const button = form.querySelector('[type="submit"]');
    const name = form.dataset.resetPassword;
    clearError(region);
    busy(button, true);
    try {
      const result = await api("PATCH", `/api/v1/users/${encodeURIComponent(name)}`, {
        password: form.querySelector('[name="password"]').value,
        revoke_tokens: form.querySelector('[name="revoke_tokens"]').checked,
      });
      form.reset();
      dialog.close();
      toast(`Password of ${name} changed; their sessions were ended.${revokedNote(result)}`);
      if (result.tokens_revoked) window.setTimeout(() => window.location.reload(), 1500);
    } catch (error) {
      showError(region, error);
    } finally {
      busy(button, false);
    }
  });
}

for (const button of document.querySelectorAll("[data-delete-user]")) {
  button.addEventListener("click", async () => {
    const name = button.dataset.deleteUser;
    if (!window.confirm(`Delete ${name}? Their sessions and API tokens end at once.`)) return;
    clearError(usersError);
    busy(button, true);
    try {
      await api("DELETE", `/api/v1/users/${encodeURIComponent(name)}`);
      window.location.reload();
    } catch (error) {
      showError(usersError, error);
      busy(button, false);
    }
  });
}

// ---- times in the reader's own time zone ------------------------------------------------------

for (const time of document.querySelectorAll("time[datetime]")) localTime(time);

// ---- menus: a button with aria-expanded shows or hides the menu it controls ------------------

function closeMenus(except) {
  for (const button of document.querySelectorAll("[data-menu-button]")) {
    if (button === except) continue;
    button.setAttribute("aria-expanded", "false");
    const menu = document.getElementById(button.getAttribute("aria-controls"));
    if (menu) menu.hidden = true;
  }
}

for (const button of document.querySelectorAll("[data-menu-button]")) {
  const menu = document.getElementById(button.getAttribute("aria-controls"));
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    const open = button.getAttribute("aria-expanded") !== "true";
    closeMenus(button);
    button.setAttribute("aria-expanded", String(open));
    menu.hidden = !open;
    if (open) menu.querySelector("a, button")?.focus();
  });
}

document.addEventListener("click", (event) => {
  if (!event.target.closest(".menu")) closeMenus(null);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeMenus(null);
});
