// A dataset's page: its rows, sorted by a column, a page at a time, within a created-time range.
// Every page of rows is one call to the JSON API (live from Stripe, or from the cache). Amounts
// are shown as money in their row's currency (the minor units Stripe gives in a tooltip); the
// exports keep Stripe's minor units. Exports are fetched here, so that one that fails says why
// in the page instead of leaving the browser with nothing to download.

import { ApiError, api, el, formatNumber, problemAlert } from "./lib.js";
import { formatValue, setZeroDecimal } from "./charts.js";
import { listed } from "./probe.js";
import { customerLink, isCustomerId } from "./customer_links.js";

const root = document.querySelector("[data-dataset-page]");

const NUMERIC = new Set(["integer", "amount", "float"]);

function minorUnits(value, currency, zeroDecimal) {
  const code = currency.toUpperCase();
  return zeroDecimal.has(currency)
    ? `${value.toLocaleString()} ${code} (${code} has no minor unit), as Stripe gives it`
    : `${value.toLocaleString()} in minor units of ${code} (cents), as Stripe gives it`;
}

function cell(value, type, currency, zeroDecimal) {
  if (value === null || value === undefined) return el("td", { class: "muted" }, "—");
  if (type === "json") {
    const text = JSON.stringify(value);
    return el("td", { class: "cell-json", title: text }, text.length > 80 ? `${text.slice(0, 80)}…` : text);
  }
  if (type === "timestamp") {
    return el("td", { class: "cell-time" }, el("time", { datetime: value }, value.replace("T", " ").replace("Z", " UTC")));
  }
  if (type === "amount" && typeof value === "number" && currency) {
    return el("td", { class: "num cell-money", title: minorUnits(value, currency, zeroDecimal), "data-minor": String(value) }, formatValue(value, "money", currency));
  }
  if (NUMERIC.has(type)) return el("td", { class: "num" }, formatNumber(value));
  return el("td", {}, String(value));
}

// A problem of this page, from what a request answered: the kind the server's own alert
// names it by, so the same problem is shown once.
function problemKey(error) {
  if (error.error === "AuthenticationFailed") return "authentication_failed";
  if (error.error === "PermissionMissing") return "missing_resource";
  return `other:${error.message}`;
}

// Show a problem once: an alert already saying it gains what else it affects.
function report(region, what, error) {
  const key = problemKey(error);
  let box = [...region.querySelectorAll("[data-problem]")].find((b) => b.dataset.problem === key);
  if (!box) {
    box = problemAlert(error);
    box.dataset.problem = key;
    region.append(box);
  }
  const affects = (box.dataset.affects ?? "").split("|").filter(Boolean);
  if (!affects.includes(what)) affects.push(what);
  box.dataset.affects = affects.join("|");
  let line = box.querySelector("[data-affects]");
  if (!line) {
    line = el("p", { class: "affects", "data-affects": "" });
    box.append(line);
  }
  line.textContent = `Affects ${listed(affects)}.`;
  box.scrollIntoView({ block: "nearest" });
}

// What succeeded no longer carries a problem: an alert of this page's own goes once it affects
// nothing; one the server rendered stays (it knows the problem from the last test or refresh).
function clearReport(region, what) {
  for (const alert of region.querySelectorAll("[data-problem]")) {
    const affects = (alert.dataset.affects ?? "").split("|").filter((w) => w && w !== what);
    alert.dataset.affects = affects.join("|");
    const line = alert.querySelector("[data-affects]");
    if (affects.length) line.textContent = `Affects ${listed(affects)}.`;
    else if ("server" in alert.dataset) line?.remove();
    else alert.remove();
  }
}

// The file name a download answer gives (Content-Disposition), if any.
function fileName(disposition) {
  const star = /filename\*=(?:UTF-8'')?([^;]+)/i.exec(disposition ?? "");
  if (star) return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
  const plain = /filename="?([^";]+)"?/i.exec(disposition ?? "");
  return plain ? plain[1] : null;
}

// An export: fetched, then handed to the browser as a download; a failure is said in the page.
async function exportFile(link, region, status) {
  const what = link.textContent.trim();
  if (link.getAttribute("aria-disabled") === "true") return;
  link.setAttribute("aria-disabled", "true");
  link.classList.add("is-busy");
  status.textContent = `${what}: reading every row…`;
  try {
    let response;
    try {
      response = await fetch(link.href, { credentials: "same-origin" });
    } catch {
      throw new ApiError(0, {
        message: "Flitch could not be reached.",
        fix: "Check that the Flitch server is running and your network is up, then try again.",
      });
    }
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new ApiError(response.status, body);
    }
    const blob = await response.blob();
    const name = fileName(response.headers.get("Content-Disposition")) ?? link.href.split("/").pop();
    const url = URL.createObjectURL(blob);
    const save = el("a", { href: url, download: name, hidden: "" });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    const rows = Number(response.headers.get("X-Flitch-Rows"));
    clearReport(region, what);
    status.textContent = `${what}: downloaded ${name}${Number.isFinite(rows) ? ` (${formatNumber(rows)} rows)` : ""}.`;
  } catch (error) {
    report(region, what, error);
    status.textContent = `${what} failed: see the problem above.`;
  } finally {
    link.removeAttribute("aria-disabled");
    link.classList.remove("is-busy");
  }
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
  const empty = root.querySelector("[data-rows-empty]");
  const emptyText = root.querySelector("[data-rows-empty-text]");
  const prev = root.querySelector('[data-page="prev"]');
  const next = root.querySelector('[data-page="next"]');
  const pageLabel = root.querySelector("[data-page-label]");
  const pageSize = root.querySelector("[data-page-size]");
  const rangeForm = root.querySelector("[data-range-form]");
  const problems = root.querySelector("[data-page-problems]");
  const exportStatus = root.querySelector("[data-export-status]");
  const zeroDecimal = new Set((root.dataset.zeroDecimal || "").split(",").filter(Boolean));
  setZeroDecimal([...zeroDecimal]);
  for (const box of problems.querySelectorAll("[data-problem]")) box.dataset.server = "";
  for (const link of root.querySelectorAll("[data-export]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      exportFile(link, problems, exportStatus);
    });
  }
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
      status.textContent = "The rows could not be loaded: see the problem above.";
      report(problems, "the rows", error);
      pageLabel.textContent = "";
      return;
    }
    if (mine !== generation) return;
    clearReport(problems, "the rows");
    render(page);
  }

  function render(page) {
    region.setAttribute("aria-busy", "false");
    region.classList.remove("is-loading");
    state.total = page.total;
    const order = headers.map((th) => th.dataset.column);
    const index = Object.fromEntries(page.columns.map((c, i) => [c.name, i]));
    // An amount is in its row's currency (every dataset with amounts has a currency column).
    const money = root.dataset.currencyColumn ? index[root.dataset.currencyColumn] : undefined;
    body.replaceChildren(
      ...page.rows.map((row) =>
        el("tr", {}, ...order.map((name) => (isCustomerId(row[index[name]]) ? el("td", {}, customerLink(root.dataset.connectionId, row[index[name]])) : cell(row[index[name]], types[name], money === undefined ? null : row[money], zeroDecimal)))),
      ),
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
