// One dashboard for one connection: the period, grain and currency pickers, "data as of", and
// every chart drawn from GET /api/v1/connections/{id}/dashboards/{name}. Every number links to
// the rows behind it: the dataset page in drill-down mode, which asks the server for the rows by
// naming the chart, the period and what was clicked (never a condition).

import { api, el, problemAlert } from "./lib.js";
import { drawFigures, renderCard, unavailableSummary } from "./dashboard_cards.js";
import { setZeroDecimal } from "./charts.js";
import { setupEditor } from "./chart_editor.js";

const root = document.querySelector("[data-dashboard-page]");

function dateText(iso) {
  const when = new Date(iso);
  return when.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

// The period's last day (its end is the midnight after it).
function lastDay(iso) {
  return new Date(new Date(iso).getTime() - 1000).toISOString();
}

if (root) {
  const name = root.dataset.name;
  const connectionId = root.dataset.connectionId;
  const editable = root.dataset.editable === "1";
  setZeroDecimal((root.dataset.zeroDecimal || "").split(",").filter(Boolean));
  const form = root.querySelector("[data-controls]");
  const custom = root.querySelector("[data-custom-range]");
  const status = root.querySelector("[data-board-status]");
  const asOf = root.querySelector("[data-as-of]");
  const errorBox = root.querySelector("[data-board-error]");
  const tiles = root.querySelector("[data-tiles]");
  const charts = root.querySelector("[data-charts]");
  const empty = root.querySelector("[data-board-empty]");
  const notices = root.querySelector("[data-board-notices]");
  const editToggle = root.querySelector("[data-edit-toggle]");
  const currencySelect = form?.elements.currency;
  const upIsGood = JSON.parse(root.dataset.upIsGood || "{}");
  let generation = 0;
  let last = null;

  // One colour per currency in every chart of the page (and across reloads of it): the
  // currencies in alphabetical order, then any other in the order it is first met.
  const colours = new Map();
  function colourOf(currency) {
    if (!colours.has(currency)) colours.set(currency, colours.size);
    return colours.get(currency);
  }

  // ---- the pickers, kept in the address so a reload (or a shared link) shows the same view ----
  function readAddress() {
    const params = new URLSearchParams(window.location.search);
    form.elements.range.value = params.get("from") || params.get("to") ? "custom" : params.get("last") || "30d";
    form.elements.from.value = params.get("from") || "";
    form.elements.to.value = params.get("to") || "";
    form.elements.grain.value = params.get("grain") || "";
    const currency = params.get("currency") || "";
    if (currency && ![...currencySelect.options].some((o) => o.value === currency)) {
      currencySelect.append(el("option", { value: currency }, currency.toUpperCase()));
    }
    currencySelect.value = currency;
    custom.hidden = form.elements.range.value !== "custom";
  }

  function choices() {
    const params = new URLSearchParams();
    const range = form.elements.range.value;
    if (range === "custom") {
      if (form.elements.from.value) params.set("from", form.elements.from.value);
      if (form.elements.to.value) params.set("to", form.elements.to.value);
    } else params.set("last", range);
    if (form.elements.grain.value) params.set("grain", form.elements.grain.value);
    if (currencySelect.value) params.set("currency", currencySelect.value);
    return params;
  }

  function writeAddress() {
    const params = choices();
    params.set("connection", connectionId);
    history.replaceState(null, "", `${window.location.pathname}?${params}`);
  }

  // ---- drill-downs ----------------------------------------------------------------------------
  function drillHref(chart, drill, extra = {}) {
    if (!drill?.dataset || !last) return null;
    const params = new URLSearchParams({
      dashboard: name,
      chart: chart.id,
      start: last.period.start,
      end: last.period.end,
    });
    for (const [key, value] of Object.entries(extra)) {
      if (value === null || value === undefined || value === "") continue;
      params.set(key, typeof value === "object" ? JSON.stringify(value) : String(value));
    }
    return `/data/${encodeURIComponent(connectionId)}/datasets/${encodeURIComponent(drill.dataset)}?${params}`;
  }

  // ---- loading and drawing ----------------------------------------------------------------------
  function showLoading() {
    status.textContent = "Loading the dashboard…";
    root.querySelector("[data-board-body]").setAttribute("aria-busy", "true");
    root.querySelector("[data-board-body]").classList.add("is-loading");
    errorBox.replaceChildren();
  }

  async function load() {
    const mine = ++generation;
    showLoading();
    writeAddress();
    let data;
    try {
      data = await api("GET", `/api/v1/connections/${encodeURIComponent(connectionId)}/dashboards/${encodeURIComponent(name)}?${choices()}`);
    } catch (error) {
      if (mine !== generation) return;
      root.querySelector("[data-board-body]").setAttribute("aria-busy", "false");
      root.querySelector("[data-board-body]").classList.remove("is-loading");
      status.textContent = "The dashboard could not be loaded.";
      asOf.textContent = "Not loaded";
      delete asOf.dataset.source;
      notices.replaceChildren();
      errorBox.replaceChildren(problemAlert(error));
      tiles.replaceChildren();
      charts.replaceChildren();
      return;
    }
    if (mine !== generation) return;
    last = data;
    render(data);
  }

  function renderAsOf(data) {
    const source = data.data;
    const when = source.as_of ? new Date(source.as_of).toLocaleString() : "unknown";
    const text =
      source.source === "live"
        ? `Live: read from Stripe at ${when} (${source.requests} request${source.requests === 1 ? "" : "s"})`
        : `Cached: data as of the refresh at ${when}`;
    asOf.textContent = text;
    asOf.dataset.source = source.source;
    for (const note of source.notes) asOf.textContent += ` · ${note}`;
  }

  function renderCurrencies(data) {
    const current = currencySelect.value;
    const known = new Set([...data.currencies, ...(current ? [current] : [])]);
    currencySelect.replaceChildren(
      el("option", { value: "" }, "All currencies, each apart"),
      ...[...known].sort().map((c) => el("option", { value: c }, c.toUpperCase())),
    );
    currencySelect.value = current;
  }

  function render(data) {
    const body = root.querySelector("[data-board-body]");
    body.setAttribute("aria-busy", "false");
    body.classList.remove("is-loading");
    renderAsOf(data);
    renderCurrencies(data);
    const p = data.period;
    // charts that cannot be per currency show every currency's numbers, and say so
    const apart = data.currency ? data.charts.filter((c) => c.per_currency === false && !c.unavailable).length : 0;
    status.textContent =
      `${dateText(p.start)} – ${dateText(lastDay(p.end))}, by ${p.grain}, compared with ` +
      `${dateText(p.previous_start)} – ${dateText(lastDay(p.previous_end))}` +
      (data.currency ? ` · ${data.currency.toUpperCase()} only` : "") +
      (apart ? ` (${apart === 1 ? "one chart is" : `${apart} charts are`} not per currency: see the note on it)` : "");
    for (const currency of [...data.currencies].sort()) colourOf(currency);
    const context = { drillHref, data, editing: root.classList.contains("is-editing"), editable, upIsGood, colourOf };
    const numbers = data.charts.filter((c) => c.type === "number" && (c.values || c.unavailable));
    const others = data.charts.filter((c) => !numbers.includes(c));
    notices.replaceChildren(...unavailableSummary(data.charts, `/data/${encodeURIComponent(connectionId)}#objects`));
    tiles.replaceChildren(...numbers.map((c) => renderCard(c, context)));
    charts.replaceChildren(...others.map((c) => renderCard(c, context)));
    tiles.hidden = !numbers.length;
    drawFigures(root);
    if (empty) empty.hidden = data.charts.length > 0;
  }

  // ---- events -----------------------------------------------------------------------------------
  form.addEventListener("change", (event) => {
    const target = event.target;
    if (target.name === "range") {
      custom.hidden = target.value !== "custom";
      if (target.value === "custom") {
        if (!form.elements.from.value && last) form.elements.from.value = last.period.start.slice(0, 10);
        if (!form.elements.to.value && last) form.elements.to.value = lastDay(last.period.end).slice(0, 10);
        form.elements.from.focus();
      }
    }
    if (target.name === "connection") {
      const params = choices();
      params.set("connection", target.value);
      window.location.assign(`${window.location.pathname}?${params}`);
      return;
    }
    if (target.name === "from" || target.name === "to") return; // applied with the button
    load();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });

  editToggle?.addEventListener("click", () => {
    const on = !root.classList.contains("is-editing");
    root.classList.toggle("is-editing", on);
    editToggle.setAttribute("aria-pressed", String(on));
    editToggle.textContent = on ? "Done editing" : "Edit charts";
    if (last) render(last);
  });

  if (editable) {
    setupEditor(root, {
      name,
      charts: () => last?.charts ?? [],
      reload: load,
    });
  }

  // Charts are drawn at the width they get: again when the window's width changes.
  let width = window.innerWidth;
  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (window.innerWidth !== width) {
        width = window.innerWidth;
        drawFigures(root);
      }
    }, 150);
  });

  readAddress();
  load();
}
