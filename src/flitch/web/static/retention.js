// The cohort table drawn as a heatmap: one row per cohort (the month its customers first became
// subscribers) with its size and MRR at month 0, one cell per month since, shaded by customer
// retention or net MRR retention. A cell opens the cohort's customers with their MRR at month 0
// and month k (GET /api/v1/connections/{id}/cohorts/{currency}/{cohort}/{k}).

import { api, el } from "./lib.js";
import { formatValue } from "./charts.js";
import { customerLink } from "./customer_links.js";

const VIEWS = [
  ["customer_retention", "Customer retention"],
  ["net_mrr_retention", "Net MRR retention"],
];

function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value * 100)} %`;
}

// A cell's look, set through the style object (the page's CSP refuses style attributes): shaded
// by the share kept, from pale (0) to full (100 % and over).
function shade(node, value) {
  Object.assign(node.style, { border: "0", width: "100%", padding: "2px 6px", cursor: "pointer", font: "inherit", background: "transparent" });
  if (value === null || value === undefined) return node;
  const alpha = Math.max(0.06, Math.min(1, value));
  node.style.backgroundColor = `rgba(99, 91, 255, ${alpha.toFixed(2)})`;
  node.style.color = alpha > 0.55 ? "#fff" : "inherit";
  return node;
}

function groupRows(rows) {
  const out = new Map();
  for (const row of rows) {
    const currency = row.currency;
    if (!out.has(currency)) out.set(currency, new Map());
    const cohorts = out.get(currency);
    const cohort = String(row.cohort).slice(0, 10);
    if (!cohorts.has(cohort)) cohorts.set(cohort, []);
    cohorts.get(cohort)[row.months_since] = row;
  }
  return out;
}

function cohortLabel(cohort) {
  const [y, m] = cohort.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleDateString(undefined, { year: "numeric", month: "short", timeZone: "UTC" });
}

async function showMembers(panel, context, currency, cohort, k) {
  const data = context.data;
  const params = new URLSearchParams({ from: data.period.start.slice(0, 10), to: data.period.last_day });
  const path = `/api/v1/connections/${encodeURIComponent(data.connection.id)}/cohorts/${currency}/${cohort}/${k}?${params}`;
  panel.hidden = false;
  panel.replaceChildren(el("p", { class: "muted" }, "Loading the cohort's customers…"));
  let answer;
  try {
    answer = await api("GET", path);
  } catch (error) {
    panel.replaceChildren(el("p", { class: "alert alert-danger", role: "alert" }, `${error.message} ${error.fix ?? ""}`));
    return;
  }
  const table = el(
    "table",
    { class: "table table-compact", "data-cohort-members": "" },
    el("caption", {}, `${cohortLabel(cohort)} cohort, ${currency.toUpperCase()}: MRR at month 0 and month ${k}`),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Customer"), el("th", { scope: "col", class: "num" }, "MRR at month 0"), el("th", { scope: "col", class: "num" }, `MRR at month ${k}`))),
    el(
      "tbody",
      {},
      ...answer.customers.map((c) =>
        el("tr", { "data-customer": c.customer }, el("td", {}, customerLink(data.connection.id, c.customer)), el("td", { class: "num" }, formatValue(c.mrr_start, "money", currency)), el("td", { class: "num" }, formatValue(c.mrr, "money", currency))),
      ),
    ),
  );
  const close = el("button", { type: "button", class: "button button-link" }, "Close");
  close.addEventListener("click", () => {
    panel.hidden = true;
    panel.replaceChildren();
  });
  panel.replaceChildren(el("div", { class: "row" }, close), el("div", { class: "table-scroll" }, table));
}

function heatmap(currency, cohorts, view, context, panel) {
  const width = Math.max(...[...cohorts.values()].map((cells) => cells.length));
  const head = el(
    "tr",
    {},
    el("th", { scope: "col" }, "Cohort"),
    el("th", { scope: "col", class: "num" }, "Customers"),
    el("th", { scope: "col", class: "num" }, "MRR at month 0"),
    ...Array.from({ length: width }, (_, k) => el("th", { scope: "col", class: "num" }, `${k}`)),
  );
  const body = el("tbody");
  for (const [cohort, cells] of cohorts) {
    const first = cells.find(Boolean);
    const tr = el("tr", {}, el("th", { scope: "row" }, cohortLabel(cohort)), el("td", { class: "num" }, String(first.customers)), el("td", { class: "num" }, formatValue(first.mrr_start, "money", currency)));
    for (let k = 0; k < width; k++) {
      const row = cells[k];
      if (!row) {
        tr.append(el("td", { class: "heat-empty" }));
        continue;
      }
      const value = row[view];
      const words = `${cohortLabel(cohort)}, month ${k}: ${percent(row.customer_retention)} of customers, ${percent(row.net_mrr_retention)} of MRR (${formatValue(row.mrr, "money", currency)}). Show the customers.`;
      const button = shade(el("button", { type: "button", class: "heat-cell", title: words, "aria-label": words, "data-cohort": cohort, "data-k": String(k) }, percent(value)), value);
      button.addEventListener("click", () => showMembers(panel, context, currency, cohort, k));
      tr.append(el("td", { class: "num heat" }, button));
    }
    body.append(tr);
  }
  return el(
    "div",
    { class: "table-scroll" },
    el("table", { class: "table table-compact heatmap", "data-heatmap": currency }, el("caption", { class: "visually-hidden" }, `Cohorts, ${currency.toUpperCase()}`), el("thead", {}, head), body),
  );
}

// The cohort chart's card: a view picker, one heatmap per currency, the customers of the cell
// clicked. ``card`` is the dashboard's card frame (title, definition, notes).
export function cohortCard(chart, context, card) {
  const rows = chart.rows ?? [];
  if (!rows.length) return card(chart, context, "table", el("p", { class: "chart-empty muted" }, "No cohort starts in this period."));
  const grouped = groupRows(rows);
  const panel = el("div", { class: "cohort-members", "data-cohort-panel": "" });
  panel.hidden = true;
  const maps = el("div", { class: "heatmaps" });
  const picker = el("select", { "aria-label": "Shade cells by", "data-cohort-view": "" }, ...VIEWS.map(([value, label]) => el("option", { value }, label)));
  const draw = () =>
    maps.replaceChildren(
      ...[...grouped].map(([currency, cohorts]) =>
        el("figure", { class: "chart-figure-static" }, el("figcaption", { class: "figure-caption" }, currency.toUpperCase()), heatmap(currency, cohorts, picker.value, context, panel)),
      ),
    );
  picker.addEventListener("change", draw);
  draw();
  const note = el("p", { class: "hint" }, "Reconstructed from subscription invoices. Columns: months since the cohort's month; click a cell for its customers.");
  return card(chart, context, "table", el("label", { class: "row" }, "Shade by ", picker), note, maps, panel);
}

// ---- MRR movements: the customers behind each bar ----------------------------------------------

const MOVERS = [
  ["new", "New"],
  ["reactivation", "Reactivation"],
  ["expansion", "Expansion"],
  ["contraction", "Contraction"],
  ["churned", "Churned"],
];

// Where a bar of the movements waterfall leads: its list of customers below the chart.
export function moversHref(currency, movement) {
  return `#movers-${currency}-${movement}`;
}

async function fillMovers(box, context, chart, currency, movement) {
  const data = context.data;
  const params = new URLSearchParams({ from: data.period.start.slice(0, 10), to: data.period.last_day, grain: chart.grain ?? "week" });
  const path = `/api/v1/connections/${encodeURIComponent(data.connection.id)}/movements/${currency}/${movement}?${params}`;
  const body = box.querySelector("[data-movers-body]");
  body.replaceChildren(el("p", { class: "muted" }, "Loading the customers…"));
  let answer;
  try {
    answer = await api("GET", path);
  } catch (error) {
    body.replaceChildren(el("p", { class: "alert alert-danger", role: "alert" }, `${error.message} ${error.fix ?? ""}`));
    return;
  }
  const money = (v) => formatValue(v, "money", currency);
  body.replaceChildren(
    el(
      "div",
      { class: "table-scroll" },
      el(
        "table",
        { class: "table table-compact", "data-movers-table": movement },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Customer"), el("th", { scope: "col" }, `From (${answer.grain})`), el("th", { scope: "col", class: "num" }, "MRR before"), el("th", { scope: "col", class: "num" }, "MRR after"))),
        el(
          "tbody",
          {},
          ...answer.customers.map((c) =>
            el("tr", { "data-customer": c.customer }, el("td", {}, customerLink(data.connection.id, c.customer)), el("td", {}, String(c.bucket).slice(0, 10)), el("td", { class: "num" }, money(c.mrr_before)), el("td", { class: "num" }, money(c.mrr_after))),
          ),
        ),
      ),
    ),
  );
}

// Under the movements waterfall: per currency, one folded list per movement; a bar of the
// waterfall opens its list (its link is the list's anchor), as does unfolding it.
export function moversSection(chart, context) {
  const totals = (chart.rows ?? []).filter((r) => r.bucket === null && r.amount);
  const boxes = [];
  for (const row of totals) {
    const label = MOVERS.find(([key]) => key === row.movement)?.[1];
    if (!label) continue;
    const box = el(
      "details",
      { class: "movers", id: moversHref(row.currency, row.movement).slice(1), "data-movers": row.movement },
      el("summary", {}, `${label}, ${row.currency.toUpperCase()}: ${formatValue(row.amount, "money", row.currency)} — the customers`),
      el("div", { "data-movers-body": "" }),
    );
    let filled = false;
    box.addEventListener("toggle", () => {
      if (box.open && !filled) {
        filled = true;
        fillMovers(box, context, chart, row.currency, row.movement);
      }
    });
    boxes.push(box);
  }
  if (!boxes.length) return null;
  const section = el("div", { class: "movers-list" }, el("p", { class: "hint" }, "Who moved: each bar lists its customers, with their MRR before and after."), ...boxes);
  const open = () => {
    const target = boxes.find((b) => `#${b.id}` === window.location.hash);
    if (target) target.open = true;
  };
  window.addEventListener("hashchange", open);
  return section;
}
