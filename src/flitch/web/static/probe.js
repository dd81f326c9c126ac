// A key test's report (POST /api/v1/connections/test, …/{id}/test, …/{id}/objects/test) shown
// as people read it: what happened, said once, then what it affects. A refused key is one
// sentence and one fix, not the same fix under each of the twelve objects it kept from being
// tested; objects that fail the same way are listed together under that one way.

import { el } from "./lib.js";

// Labels joined as a sentence: "Charges, Invoices and Coupons".
export function listed(labels) {
  if (labels.length < 2) return labels.join("");
  return `${labels.slice(0, -1).join(", ")} and ${labels[labels.length - 1]}`;
}

// The objects that failed the same way, once per way: [{message, fix, labels}].
export function groupedFailures(objects) {
  const groups = new Map();
  for (const o of objects) {
    const key = `${o.message}\u0000${o.fix ?? ""}`;
    if (!groups.has(key)) groups.set(key, { message: o.message, fix: o.fix, labels: [] });
    groups.get(key).labels.push(o.label);
  }
  return [...groups.values()];
}

function missingItem(missing) {
  const names = missing.map((o) => `${o.label} (${o.permission_label})`);
  return el(
    "li",
    { "data-missing": missing.map((o) => o.name).join(" ") },
    el("strong", {}, "Missing Read permission: "),
    `${listed(names)}: in Stripe, edit the key and add the permission${missing.length === 1 ? "" : "s"}, then test again.`,
  );
}

export function probeBox(report) {
  const auth = report.authentication;
  if (!auth.ok) {
    const untested = report.objects.map((o) => o.label);
    return el(
      "div",
      { class: "alert alert-error test-result", role: "alert" },
      el("p", { class: "alert-title" }, report.key ? `${report.key}: ${auth.message}` : auth.message),
      auth.fix ? el("p", {}, auth.fix) : null,
      untested.length
        ? el("p", { class: "muted", "data-untested": "" }, `Not tested, since the key was not accepted: ${listed(untested)}.`)
        : null,
    );
  }
  const kind = report.ok ? "success" : "warning";
  const missing = report.objects.filter((o) => !o.readable && o.state === "missing_permission");
  const failed = report.objects.filter((o) => !o.readable && o.state !== "missing_permission");
  const items = [];
  if (missing.length) items.push(missingItem(missing));
  for (const g of groupedFailures(failed)) {
    items.push(el("li", {}, `${g.message}${g.fix ? ` ${g.fix}` : ""} `, el("span", { class: "muted" }, `(${listed(g.labels)})`)));
  }
  // The seed's "No data in one mode": readable objects without a single record in this mode.
  const empty = report.objects.filter((o) => o.readable && o.has_data === false);
  const noData = empty.length
    ? el(
        "p",
        { "data-no-data": "" },
        el("strong", {}, "No data in one mode? "),
        `${listed(empty.map((o) => o.label))}: no records in ${report.mode} mode. ` +
          "A rk_test_… key only sees test-mode data and a rk_live_… key only sees live data. " +
          "Use the key for the mode you want to chart.",
      )
    : null;
  return el(
    "div",
    { class: `alert alert-${kind} test-result`, role: "status" },
    el("p", { class: "alert-title" }, report.summary),
    el("p", {}, report.mode_message),
    items.length ? el("ul", {}, ...items) : null,
    noData,
  );
}

export function renderProbe(target, report) {
  target.replaceChildren(probeBox(report));
  target.hidden = false;
}

// Mark each object of a picker (labels with data-object) readable or missing, as tested.
export function markObjects(container, report) {
  const byName = new Map(report.objects.map((o) => [o.name, o]));
  for (const label of container.querySelectorAll("[data-object]")) {
    const check = byName.get(label.dataset.object);
    if (!check) continue;
    const state = label.querySelector("[data-object-state]");
    label.classList.remove("is-ok", "is-missing");
    state.textContent = "";
    if (!report.authentication.ok) continue;
    if (check.readable) {
      label.classList.add("is-ok");
      state.textContent = check.has_data === false ? "Readable (empty)" : "Readable";
    } else {
      label.classList.add("is-missing");
      state.textContent = check.state === "missing_permission" ? "No Read permission" : "Error";
    }
  }
}
