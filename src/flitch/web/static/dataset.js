// A dataset's page: its rows, sorted by a column, a page at a time, within a created-time range.
// Every page of rows is one call to the JSON API (live from Stripe, or from the cache).

import { api, el, formatNumber, problemAlert } from "./lib.js";

const root = document.querySelector("[data-dataset-page]");

const NUMERIC = new Set(["integer", "amount", "float"]);

function cell(value, type) {
  if (value === null || value === undefined) return el("td", { class: "muted" }, "—");
  if (type === "json") {
    const text = JSON.stringify(value);
    return el("td", { class: "cell-json", title: text }, text.length > 80 ? `${text.slice(0, 80)}…` : text);
  }
  if (type === "timestamp") {
    return el("td", { class: "cell-time" }, el("time", { datetime: value }, value.replace("T", " ").replace("Z", " UTC")));
  }
  if (NUMERIC.has(type)) return el("td", { class: "num" }, formatNumber(value));
  return el("td", {}, String(value));
}

// A date input's day as the start of that day in UTC; "to" days are included (up to midnight).
function dayStart(value, plusDays = 0) {
  if (!value) return null;
  const when = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(when.getTime())) return null;
  when.setUTCDate(when.getUTCDate() + plusDays);
  return when.toISOString().replace(".000Z", "Z");
}

// Drill-down mode: the page was opened from a number on a dashboard. The address names the
// dashboard, the chart, the period and what was clicked; the server looks up which rows those are.
const DRILL_KEYS = ["dashboard", "chart", "start", "end", "currency", "bucket", "grain", "row"];

function drillParams() {
  const given = new URLSearchParams(window.location.search);
  if (!given.get("dashboard") || !given.get("chart")) return null;
  const params = new URLSearchParams();
  for (const key of DRILL_KEYS) if (given.get(key)) params.set(key, given.get(key));
  return params;
}

function showDrill(banner, drill, connectionId, dashboard) {
  const day = (iso) => new Date(iso).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  const lastDay = (iso) => day(new Date(new Date(iso).getTime() - 1000).toISOString());
  banner.querySelector("[data-drill-title]").textContent = `Rows behind ${drill.chart}`;
  const parts = [drill.label !== drill.chart ? drill.label : null, drill.currency ? (drill.currency === "none" ? "no currency" : drill.currency.toUpperCase()) : null];
  parts.push(drill.bucket_start ? `${day(drill.bucket_start)} – ${lastDay(drill.bucket_end)}` : `${day(drill.period_start)} – ${lastDay(drill.period_end)}`);
  banner.querySelector("[data-drill-what]").textContent = parts.filter(Boolean).join(" · ");
  banner.querySelector("[data-drill-definition]").textContent = drill.definition;
  banner.querySelector("[data-drill-where]").textContent = drill.where;
  // Back to the dashboard as it was (range, currency…) when the page was opened from it.
  const from = document.referrer ? new URL(document.referrer) : null;
  const same = from && from.origin === window.location.origin && from.pathname === `/dashboards/${dashboard}`;
  banner.querySelector("[data-drill-back]").href = same
    ? `${from.pathname}${from.search}`
    : `/dashboards/${encodeURIComponent(dashboard)}?connection=${encodeURIComponent(connectionId)}`;
  banner.hidden = false;
}

if (root) {
  const drill = drillParams();
  const banner = root.querySelector("[data-drill-banner]");
  const base = `/api/v1/connections/${encodeURIComponent(root.dataset.connectionId)}/datasets/${encodeURIComponent(root.dataset.dataset)}`;
  const headers = [...root.querySelectorAll("th[data-column]")];
  const types = Object.fromEntries(headers.map((th) => [th.dataset.column, th.dataset.type]));
  const body = root.querySelector("[data-rows]");
  const region = root.querySelector("[data-rows-region]");
  const status = root.querySelector("[data-rows-status]");
  const errorBox = root.querySelector("[data-rows-error]");
  const empty = root.querySelector("[data-rows-empty]");
  const emptyText = root.querySelector("[data-rows-empty-text]");
  const prev = root.querySelector('[data-page="prev"]');
  const next = root.querySelector('[data-page="next"]');
  const pageLabel = root.querySelector("[data-page-label]");
  const pageSize = root.querySelector("[data-page-size]");
  const rangeForm = root.querySelector("[data-range-form]");
  const state = { sort: "created", order: "desc", offset: 0, from: null, to: null, total: 0 };
  let generation = 0;

  function markSort() {
    for (const th of headers) {
      if (th.dataset.column === state.sort) {
        th.setAttribute("aria-sort", state.order === "asc" ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    }
  }

  function limit() {
    return Number(pageSize.value) || 50;
  }

  async function load() {
    const mine = ++generation;
    const params = new URLSearchParams({
      sort: state.sort,
      order: state.order,
      limit: String(limit()),
      offset: String(state.offset),
    });
    if (state.from) params.set("created_from", state.from);
    if (state.to) params.set("created_to", state.to);
    for (const [key, value] of drill ?? []) params.set(key, value);
    region.setAttribute("aria-busy", "true");
    region.classList.add("is-loading");
    status.textContent = "Loading rows…";
    errorBox.replaceChildren();
    prev.disabled = next.disabled = true;
    let page;
    try {
      page = await api("GET", `${base}/${drill ? "drill" : "rows"}?${params}`);
    } catch (error) {
      if (mine !== generation) return;
      region.setAttribute("aria-busy", "false");
      region.classList.remove("is-loading");
      body.replaceChildren();
      empty.hidden = true;
      status.textContent = "The rows could not be loaded.";
      errorBox.replaceChildren(problemAlert(error));
      pageLabel.textContent = "";
      return;
    }
    if (mine !== generation) return;
    render(page);
  }

  function render(page) {
    region.setAttribute("aria-busy", "false");
    region.classList.remove("is-loading");
    state.total = page.total;
    const order = headers.map((th) => th.dataset.column);
    const index = Object.fromEntries(page.columns.map((c, i) => [c.name, i]));
    body.replaceChildren(
      ...page.rows.map((row) => el("tr", {}, ...order.map((name) => cell(row[index[name]], types[name])))),
    );
    const source =
      page.source === "cache"
        ? `from the cache as of ${new Date(page.as_of).toLocaleString()}`
        : `read live from Stripe (${page.requests} request${page.requests === 1 ? "" : "s"})`;
    if (page.drill) showDrill(banner, page.drill, root.dataset.connectionId, drill.get("dashboard"));
    if (page.total === 0) {
      empty.hidden = false;
      emptyText.textContent = page.problem
        ? `${page.problem.message} ${page.problem.fix}`
        : page.drill
          ? "No row is behind this number: it counts nothing in this period."
          : "No record was created in this time range. Widen or clear the range.";
      status.textContent = `No rows · ${source}`;
    } else {
      empty.hidden = true;
      const first = page.offset + 1;
      const last = page.offset + page.rows.length;
      status.textContent = `Rows ${formatNumber(first)}–${formatNumber(last)} of ${formatNumber(page.total)} · ${source}`;
    }
    for (const note of page.notes) status.textContent += ` · ${note}`;
    const pages = Math.max(1, Math.ceil(page.total / page.limit));
    const current = Math.floor(page.offset / page.limit) + 1;
    pageLabel.textContent = `Page ${current} of ${pages}`;
    prev.disabled = page.offset === 0;
    next.disabled = page.offset + page.limit >= page.total;
  }

  for (const button of root.querySelectorAll("[data-sort]")) {
    button.addEventListener("click", () => {
      const column = button.dataset.sort;
      if (state.sort === column) state.order = state.order === "asc" ? "desc" : "asc";
      else {
        state.sort = column;
        state.order = column === "created" ? "desc" : "asc";
      }
      state.offset = 0;
      markSort();
      load();
    });
  }
  prev.addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - limit());
    load();
  });
  next.addEventListener("click", () => {
    state.offset += limit();
    load();
  });
  pageSize.addEventListener("change", () => {
    state.offset = 0;
    load();
  });
  rangeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    state.from = dayStart(rangeForm.elements.from.value);
    state.to = dayStart(rangeForm.elements.to.value, 1);
    state.offset = 0;
    load();
  });
  root.querySelector("[data-clear-range]").addEventListener("click", () => {
    rangeForm.reset();
    state.from = state.to = null;
    state.offset = 0;
    load();
  });
  markSort();
  load();
}
