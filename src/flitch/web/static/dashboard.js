// One dashboard for one connection: the period, grain and currency pickers, "data as of", and
// every chart drawn from GET /api/v1/connections/{id}/dashboards/{name}/stream: JSON lines of a
// progressive load, each chart drawn the moment its own reads are in, the others saying what
// they wait for and how far that read has come. A new range, or leaving the page, aborts the
// request, and the server then stops reading Stripe for it. Every number links to
// the rows behind it: the dataset page in drill-down mode, which asks the server for the rows by
// naming the chart, the period and what was clicked (never a condition).

import { ApiError, api, el, problemAlert } from "./lib.js";
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
  const reportingSelect = form?.elements.reporting;
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
    const reporting = params.get("reporting") || "";
    if (reporting && ![...reportingSelect.options].some((o) => o.value === reporting)) {
      reportingSelect.append(el("option", { value: reporting }, reporting.toUpperCase()));
    }
    reportingSelect.value = reporting;
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
    if (reportingSelect.value) params.set("reporting", reportingSelect.value);
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

  // ---- the progressive load ---------------------------------------------------------------------
  let controller = null;
  let waiting = new Map(); // chart id → its placeholder card
  let arrived = []; // the charts drawn so far, in the order they came

  function seconds(value) {
    if (value === null || value === undefined) return "an unknown time";
    if (value < 90) return `about ${Math.max(1, Math.round(value))} s`;
    return `about ${Math.round(value / 60)} minutes`;
  }

  function readText(read) {
    const expected = read.expected_pages;
    if (read.done) return `${read.dataset}: read (${read.pages} page${read.pages === 1 ? "" : "s"})`;
    return `${read.dataset}: ${read.pages} of ${expected ?? "?"} pages`;
  }

  function placeholder(chart) {
    const card = el(
      "article",
      { class: `card chart chart-${chart.type} chart-waiting`, "data-waiting": chart.id, "aria-busy": "true" },
      el("h3", { class: "chart-title" }, chart.title),
      el("p", { class: "hint", "data-waiting-for": "" }, `Waiting for ${chart.waiting.join(", ") || "data"}…`),
      el("progress", { max: "1", value: "0" }),
    );
    return card;
  }

  function showPlan(plan) {
    root.querySelector("[data-board-body]").classList.remove("is-loading");
    errorBox.replaceChildren();
    waiting = new Map();
    arrived = [];
    last = { ...plan, charts: [], currencies: [] };
    const numbers = plan.charts.filter((c) => c.type === "number");
    const others = plan.charts.filter((c) => c.type !== "number");
    for (const c of plan.charts) waiting.set(c.id, placeholder(c));
    tiles.replaceChildren(...numbers.map((c) => waiting.get(c.id)));
    charts.replaceChildren(...others.map((c) => waiting.get(c.id)));
    tiles.hidden = !numbers.length;
    showProgress(plan);
    showEstimate(plan.estimate);
  }

  function showProgress(event) {
    const reads = new Map(event.reads.map((r) => [r.dataset, r]));
    for (const [id, card] of waiting) {
      // the reads it waits for, by position (two reads of one list: the one made first)
      const positions = last?.plan_reads?.[id];
      const needs = (last?.plan_waiting?.[id]) || [];
      const mine = (positions && positions.length
        ? positions.map((i) => event.reads[i])
        : needs.map((d) => reads.get(d))).filter(Boolean);
      const pending = mine.filter((r) => !r.done);
      const pages = mine.reduce((n, r) => n + r.pages, 0);
      const expected = mine.reduce((n, r) => n + (r.expected_pages ?? r.pages), 0);
      const bar = card.querySelector("progress");
      bar.max = Math.max(1, expected);
      bar.value = Math.min(pages, bar.max);
      card.querySelector("[data-waiting-for]").textContent = pending.length
        ? `Waiting for ${pending.map(readText).join("; ")}`
        : "Data in; drawing…";
    }
    const total = event.reads.length;
    const done = event.reads.filter((r) => r.done).length;
    status.textContent = `Reading Stripe live: ${done} of ${total} lists read, ${arrived.length} chart${arrived.length === 1 ? "" : "s"} drawn…`;
  }

  function showEstimate(estimate) {
    const box = root.querySelector("[data-board-estimate]") || el("div", { "data-board-estimate": "" });
    if (!box.isConnected) notices.before(box);
    const shown = box.querySelector("[data-estimate-text]");
    if (!estimate?.long) {
      if (shown && !box.querySelector("[data-refresh-on]")?.disabled) box.replaceChildren();
      return;
    }
    const text =
      `This dashboard reads ~${estimate.pages.toLocaleString()} pages from Stripe live: ${seconds(estimate.seconds)} at Stripe's limits. ` +
      "With refresh on, Flitch reads them once in the background and every load after is answered from the cache.";
    if (shown) {
      shown.textContent = text;
      return;
    }
    const button = el("button", { type: "button", class: "button", "data-refresh-on": "" }, "Turn refresh on for this connection");
    const said = el("p", { "data-estimate-text": "" }, text);
    const progress = el("p", { class: "hint", "data-refresh-progress": "", role: "status" });
    button.addEventListener("click", () => turnRefreshOn(button, progress));
    box.replaceChildren(el("section", { class: "card notice", role: "note" }, said, button, progress));
  }

  async function turnRefreshOn(button, progress) {
    button.disabled = true;
    try {
      await api("PATCH", `/api/v1/connections/${encodeURIComponent(connectionId)}`, { refresh: "daily" });
      const job = await api("POST", `/api/v1/connections/${encodeURIComponent(connectionId)}/refresh`, {});
      for (;;) {
        const now = await api("GET", `/api/v1/refreshes/${encodeURIComponent(job.id)}`);
        progress.textContent =
          now.state === "running"
            ? `First refresh: ${now.stage}, ${now.records.toLocaleString()} records, ${now.requests.toLocaleString()} requests…`
            : `First refresh ${now.state === "ok" ? "finished" : now.state}: the dashboard now reads the cache.`;
        if (now.state !== "running") break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      load();
    } catch (error) {
      button.disabled = false;
      progress.replaceChildren(problemAlert(error));
    }
  }

  function showChart(chart) {
    arrived.push(chart);
    last.charts = arrived;
    const card = waiting.get(chart.id);
    waiting.delete(chart.id);
    const context = { drillHref, data: last, editing: root.classList.contains("is-editing"), editable, upIsGood, colourOf };
    const drawn = renderCard(chart, context);
    if (card) card.replaceWith(drawn);
    drawFigures(root);
  }

  // The stream's events, one JSON object a line, handed to ``onEvent`` as they come.
  async function readLines(response, onEvent, mine) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (mine !== generation) return;
      buffered += decoder.decode(value || new Uint8Array(), { stream: !done });
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        if (line.trim()) onEvent(JSON.parse(line));
      }
      if (done) return;
    }
  }

  function failed(error) {
    root.querySelector("[data-board-body]").setAttribute("aria-busy", "false");
    root.querySelector("[data-board-body]").classList.remove("is-loading");
    status.textContent = "The dashboard could not be loaded.";
    asOf.textContent = "Not loaded";
    delete asOf.dataset.source;
    notices.replaceChildren();
    errorBox.replaceChildren(problemAlert(error));
    tiles.replaceChildren();
    charts.replaceChildren();
  }

  async function load() {
    const mine = ++generation;
    controller?.abort(); // the server stops reading Stripe for the load nobody waits for now
    controller = new AbortController();
    showLoading();
    writeAddress();
    const path = `/api/v1/connections/${encodeURIComponent(connectionId)}/dashboards/${encodeURIComponent(name)}/stream?${choices()}`;
    try {
      const response = await fetch(path, {
        credentials: "same-origin",
        headers: { Accept: "application/x-ndjson" },
        signal: controller.signal,
      });
      if (!response.ok) {
        let body = null;
        try {
          body = await response.json();
        } catch {
          body = null;
        }
        throw new ApiError(response.status, body);
      }
      await readLines(
        response,
        (event) => {
          if (event.event === "plan") {
            showPlan(event);
            last.plan_waiting = Object.fromEntries(event.charts.map((c) => [c.id, c.waiting]));
            last.plan_reads = Object.fromEntries(event.charts.map((c) => [c.id, c.reads]));
            showProgress(event);
          } else if (event.event === "progress") {
            showProgress(event);
            showEstimate(event.estimate);
          } else if (event.event === "chart") {
            // converted money is known once every read is in: drawn with ``done``
            if (!reportingSelect.value) showChart(event.chart);
          }
          else if (event.event === "done") {
            last = event;
            showEstimate(null);
            render(event);
          } else if (event.event === "error") throw new ApiError(event.status, event.problem);
        },
        mine,
      );
    } catch (error) {
      if (mine !== generation || error?.name === "AbortError") return;
      failed(error instanceof ApiError ? error : new ApiError(0, { message: "The dashboard's load was cut off.", fix: "Reload the page." }));
    }
  }

  // Leaving the page lets go of the load: its Stripe reads stop.
  window.addEventListener("pagehide", () => controller?.abort());

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
      (data.reporting ? ` · in ${data.reporting.currency.toUpperCase()}, ${data.reporting.label}` : "") +
      (apart ? ` (${apart === 1 ? "one chart is" : `${apart} charts are`} not per currency: see the note on it)` : "");
    for (const currency of [...data.currencies].sort()) colourOf(currency);
    const context = { drillHref, data, editing: root.classList.contains("is-editing"), editable, upIsGood, colourOf };
    const numbers = data.charts.filter((c) => c.type === "number" && (c.values || c.unavailable));
    const others = data.charts.filter((c) => !numbers.includes(c));
    notices.replaceChildren(
      ...(data.reporting ? [reportingNotice(data.reporting)] : []),
      ...unavailableSummary(data.charts, `/data/${encodeURIComponent(connectionId)}#objects`),
    );
    tiles.replaceChildren(...numbers.map((c) => renderCard(c, context)));
    charts.replaceChildren(...others.map((c) => renderCard(c, context)));
    tiles.hidden = !numbers.length;
    drawFigures(root);
    if (empty) empty.hidden = data.charts.length > 0;
  }

  // The reporting currency's notice: the label, every rate used with the balance transaction it
  // came from, and the currencies that stayed apart (never settled into it).
  function reportingNotice(reporting) {
    const dataset = `/data/${encodeURIComponent(connectionId)}/datasets/balance_transactions`;
    const rates = reporting.rates.map((r) =>
      el(
        "li",
        { "data-rate": r.transaction },
        `${r.currency.toUpperCase()} → ${reporting.currency.toUpperCase()} at ${r.rate} on ${dateText(r.at)}, balance transaction `,
        el("a", { href: dataset, title: r.drill.where }, r.transaction),
      ),
    );
    return el(
      "section",
      { class: "notice card", "data-reporting": reporting.currency },
      el("p", {}, `Money in ${reporting.currency.toUpperCase()}, ${reporting.label}.`),
      rates.length ? el("ul", { class: "reporting-rates" }, ...rates) : el("p", {}, "No rate was used."),
      ...(reporting.apart.length
        ? [el("p", { "data-reporting-apart": "" }, `Shown apart, never settled into ${reporting.currency.toUpperCase()}: ${reporting.apart.map((c) => c.toUpperCase()).join(", ")}.`)]
        : []),
      ...(reporting.note && !reporting.apart.length ? [el("p", {}, reporting.note)] : []),
    );
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
