// One card per chart of a dashboard's JSON: a number tile, a chart over time, a pie, a waterfall
// or a table — each with the definition of what it counts (from the metrics registry, through
// the JSON) and links from every number to the rows behind it.

import { el } from "./lib.js";
import { customerLink } from "./customer_links.js";
import { cohortCard, moversHref, moversSection } from "./retention.js";
import { bucketLabel, formatChange, formatValue, pieChart, timeChart, waterfallChart } from "./charts.js";

const ALL = "all";
// The key of values over records with no currency (customers not billed yet).
const NONE = "none";
const MOVEMENT_STEPS = [
  ["mrr_start", "MRR at start", "total"],
  ["new", "New", "delta"],
  ["reactivation", "Reactivation", "delta"],
  ["expansion", "Expansion", "delta"],
  ["contraction", "Contraction", "delta"],
  ["churned", "Churned", "delta"],
  ["mrr_end", "MRR at end", "total"],
];

function currencyName(code) {
  if (code === NONE) return "No currency";
  return code && code !== ALL ? code.toUpperCase() : "";
}

function groupBy(items, key) {
  const out = new Map();
  for (const item of items) {
    const k = key(item);
    if (!out.has(k)) out.set(k, []);
    out.get(k).push(item);
  }
  return out;
}

// The definition, shown under the title; long ones are clamped until opened.
function definition(text, id) {
  if (!text) return null;
  const box = el("div", { class: "definition" });
  const para = el("p", { id, class: "definition-text" }, text);
  box.append(para);
  if (text.length > 140) {
    box.classList.add("is-clamped");
    const more = el("button", { type: "button", class: "button button-link definition-toggle", "aria-expanded": "false", "aria-controls": id }, "Show the full definition");
    more.addEventListener("click", () => {
      const open = box.classList.toggle("is-open");
      more.setAttribute("aria-expanded", String(open));
      more.textContent = open ? "Show less" : "Show the full definition";
    });
    box.append(more);
  }
  return box;
}

function editControls(chart, context) {
  if (!context.editable || !context.editing) return null;
  const button = (action, name, text = name) =>
    el("button", { type: "button", class: "button button-link", "data-chart-action": action, "data-chart-id": chart.id, "aria-label": `${name} ${chart.title}`, title: name }, text);
  return el(
    "div",
    { class: "chart-edit row" },
    button("up", "Move up", "↑"),
    button("down", "Move down", "↓"),
    button("edit", "Edit"),
    el("button", { type: "button", class: "button button-link button-danger-link", "data-chart-action": "delete", "data-chart-id": chart.id, "aria-label": `Delete ${chart.title}` }, "Delete"),
  );
}

// With a currency picked, a chart that is not per currency says so, and why, rather than show
// every currency's numbers under the "USD only" of the page.
function currencyNote(chart, context) {
  if (!context.data?.currency || chart.per_currency !== false) return null;
  return el("p", { class: "currency-note hint", "data-currency-note": "" }, `All currencies, not ${context.data.currency.toUpperCase()} only: ${chart.currency_note}`);
}

// A table of more columns than fit half the page takes the whole width, so that no column
// needed to read a row is behind a scroll bar.
const WIDE_TABLE_COLUMNS = 4;

function card(chart, context, kind, ...body) {
  const titleId = `chart-${chart.id}-title`;
  const wide = kind === "waterfall" || (kind === "table" && (chart.columns?.length ?? 0) >= WIDE_TABLE_COLUMNS);
  return el(
    "article",
    { class: `card chart chart-${kind}${wide ? " chart-wide" : ""}`, id: `chart-${chart.id}`, "aria-labelledby": titleId, "data-chart": chart.id, "data-metric": chart.metric ?? "" },
    el(
      "header",
      { class: "chart-head" },
      el("h3", { id: titleId, class: "chart-title" }, chart.title),
      chart.grain && kind === "time" ? el("span", { class: "badge badge-muted" }, `by ${chart.grain}`) : null,
      editControls(chart, context),
    ),
    definition(chart.definition, `chart-${chart.id}-definition`),
    currencyNote(chart, context),
    ...body,
  );
}

// A figure whose SVG is drawn at the width it gets on the page (and again when that changes).
function figure(draw, { caption = null, after = null } = {}) {
  const canvas = el("div", { class: "chart-canvas" });
  const node = el("figure", { class: "chart-figure" }, caption ? el("figcaption", { class: "figure-caption" }, caption) : null, canvas, after);
  node.draw = () => canvas.replaceChildren(draw(canvas.clientWidth || 560));
  return node;
}

// Draw (or redraw) every figure under root at its current width.
export function drawFigures(root) {
  for (const node of root.querySelectorAll(".chart-figure")) node.draw?.();
}

function emptyNote(text = "No data in this period.") {
  return el("p", { class: "chart-empty muted" }, text);
}

// ---- numbers -----------------------------------------------------------------------------------

// Whether a change is good news, by the metric's direction in the registry (a rise of revenue
// is, of failures is not; payouts are neither): "better", "worse", or null.
export function verdict(change, upIsGood) {
  if (!change || upIsGood === null || upIsGood === undefined) return null;
  return change > 0 === upIsGood ? "better" : "worse";
}

// The change, coloured by whether it is good news, and said in words for screen readers (the
// arrows and colour are for the eyes).
function changeBadge(text, change, upIsGood, sinceStart) {
  const judged = verdict(change, upIsGood);
  const against = sinceStart ? "since the period's start" : "against the previous period";
  const way = change > 0 ? "up" : change < 0 ? "down" : "unchanged";
  const words = `${way === "unchanged" ? "Unchanged" : `${way === "up" ? "Up" : "Down"} ${text.replace(/^[▲▼±] ?[+−]?/, "")}`} ${against}${judged ? `: ${judged}` : ""}.`;
  const title = `${sinceStart ? "Change since the period's start (rebuilt from subscription history)" : "Change against the previous period"}${judged ? `: ${judged}` : ""}`;
  return el(
    "span",
    { class: `delta delta-${judged === "better" ? "good" : judged === "worse" ? "bad" : "neutral"}`, title, "data-verdict": judged ?? "neutral" },
    el("span", { "aria-hidden": "true" }, text),
    el("span", { class: "visually-hidden" }, words),
  );
}

function numberTile(chart, context) {
  const unit = chart.unit;
  const entries = Object.entries(chart.values ?? {});
  const list = el("ul", { class: "tile-values" });
  // a present-day value (MRR…) is compared with its value at the period's start
  const sinceStart = chart.compare === "start";
  for (const [currency, value] of entries) {
    const href = context.drillHref(chart, chart.drill?.[currency], { currency: currency === ALL ? null : currency });
    const text = formatValue(value, unit, currency);
    const code = currencyName(currency);
    const label = `${chart.title}${code ? ` in ${code}` : ""}: ${text}. Show the rows`;
    const change = chart.change?.[currency];
    const before = chart.previous ? chart.previous[currency] : undefined;
    const delta = formatChange(change, unit);
    list.append(
      el(
        "li",
        {},
        code && entries.length > 1 ? el("span", { class: "tile-currency" }, code) : null,
        href ? el("a", { class: "tile-value", href, "aria-label": label }, text) : el("span", { class: "tile-value" }, text),
        delta ? changeBadge(delta, change, context.upIsGood?.[chart.metric], sinceStart) : null,
        chart.previous && (before !== undefined || unit !== "ratio")
          ? el("span", { class: "tile-previous muted" }, `${sinceStart ? "at the start" : "was"} ${formatValue(before ?? 0, unit, currency)}`)
          : chart.current
            ? el("span", { class: "tile-previous muted" }, "now")
            : null,
      ),
    );
  }
  if (!entries.length) list.append(el("li", { class: "muted" }, "None in this period"));
  return card(chart, context, "number", list);
}

// ---- over time ---------------------------------------------------------------------------------

function seriesUnit(chart, series) {
  if (chart.unit) return chart.unit;
  return chart.measures?.find((m) => m.key === series.measure)?.unit ?? "count";
}

function seriesLabel(chart, series) {
  const measure = chart.measures?.length > 1 ? chart.measures.find((m) => m.key === series.measure)?.label : null;
  return [currencyName(series.currency) || chart.label || chart.title, measure].filter(Boolean).join(" · ");
}

function timeCard(chart, context) {
  const all = chart.series ?? [];
  if (!all.length || all.every((s) => s.points.every(([, v]) => !v))) {
    return card(chart, context, "time", emptyNote());
  }
  // Money in different currencies never shares an axis: one panel per currency.
  const money = all.some((s) => seriesUnit(chart, s) === "money");
  const panels = money ? [...groupBy(all, (s) => s.currency).values()] : [all];
  const kind = ["line", "bar", "area"].includes(chart.type) ? chart.type : "line";
  const body = [];
  let colour = 0;
  for (const group of panels) {
    // A currency keeps its colour in every chart of the page; series of one currency (several
    // measures) are told apart by their order instead.
    const byCurrency = new Set(group.map((s) => s.currency)).size === group.length;
    const series = group.map((s) => {
      const unit = seriesUnit(chart, s);
      const currency = s.currency;
      return {
        label: seriesLabel(chart, s),
        colour: byCurrency && context.colourOf ? context.colourOf(currency) : colour++,
        currency,
        points: s.points,
        format: (v, compact) => formatValue(v, unit, currency, compact),
        href: (i) => context.drillHref(chart, s.drill, { currency: currency === ALL ? null : currency, bucket: s.points[i][0], grain: chart.grain }),
      };
    });
    const title = `${chart.title}${panels.length > 1 ? `, ${currencyName(group[0].currency)}` : ""}`;
    const legend = el("ul", { class: "legend" }, ...series.map((s) => el("li", { class: `c${s.colour % 8}`, "data-currency": s.currency ?? "" }, el("span", { class: "swatch", "aria-hidden": "true" }), s.label)));
    const whole = group.every((s) => seriesUnit(chart, s) === "count");
    const height = panels.length > 1 ? 170 : 240;
    const draw = (width) => timeChart({ series, kind, grain: chart.grain, title, width, height, whole });
    body.push(figure(draw, { after: series.length > 1 || panels.length > 1 ? legend : null }));
  }
  body.push(seriesTable(chart, all, context));
  return card(chart, context, "time", ...body);
}

// The numbers behind a chart over time, as a table (each value links to its rows).
function seriesTable(chart, all, context) {
  const table = el("table", { class: "table table-compact" });
  table.append(
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, chart.grain ?? "Bucket"), ...all.map((s) => el("th", { scope: "col", class: "num" }, seriesLabel(chart, s))))),
  );
  const body = el("tbody");
  const rows = all[0]?.points.length ?? 0;
  for (let i = 0; i < rows; i++) {
    const cells = all.map((s) => {
      const value = s.points[i][1];
      const text = formatValue(value, seriesUnit(chart, s), s.currency);
      const href = context.drillHref(chart, s.drill, { currency: s.currency === ALL ? null : s.currency, bucket: s.points[i][0], grain: chart.grain });
      return el("td", { class: "num" }, href && value ? el("a", { href }, text) : text);
    });
    body.append(el("tr", {}, el("th", { scope: "row" }, bucketLabel(all[0].points[i][0], chart.grain, true)), ...cells));
  }
  table.append(body);
  return el("details", { class: "chart-data" }, el("summary", {}, "Show the numbers"), el("div", { class: "table-scroll" }, table));
}

// ---- rows: tables, pies, waterfalls ------------------------------------------------------------

function rowDrillKey(chart, row) {
  if (chart.dataset) {
    const key = { group: row.group ?? null };
    if (row.currency) key.currency = row.currency;
    return key;
  }
  const key = {};
  for (const col of chart.columns ?? []) if (col.unit === null && row[col.name] !== undefined) key[col.name] = row[col.name];
  return key;
}

function rowHref(chart, row, context) {
  return context.drillHref(chart, row.drill, { row: rowDrillKey(chart, row), currency: row.currency && row.currency !== ALL ? row.currency : null });
}

function cellText(col, row) {
  const value = row[col.name];
  if (col.name === "group") return value === null || value === undefined ? "(none)" : String(value);
  if (col.name === "bucket" && value) return bucketLabel(value, "day", true);
  if (col.name === "currency") return currencyName(value) || "—";
  if (col.unit) return formatValue(value, col.unit, row.currency);
  return value === null || value === undefined ? "—" : String(value);
}

function rowsTable(chart, rows, context, caption) {
  const columns = chart.columns ?? [];
  const table = el("table", { class: "table table-compact" });
  if (caption) table.append(el("caption", { class: "visually-hidden" }, caption));
  table.append(
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col", class: c.unit ? "num" : null }, c.label ? c.label.replaceAll("_", " ") : "")))),
  );
  const body = el("tbody");
  for (const row of rows) {
    const href = rowHref(chart, row, context);
    body.append(
      el(
        "tr",
        {},
        ...columns.map((c) => {
          const text = cellText(c, row);
          // A long word (an id, an email) may break anywhere, so the table fits its card.
          // a customer id (a top customer, a group of a chart by customer) opens their page
          const shown = customerLink(context.data?.connection?.id, row[c.name], text);
          if (!c.unit) return el("td", /^\S{17,}$/.test(text) ? { class: "cell-break" } : {}, shown);
          return el("td", { class: "num" }, href ? el("a", { href, "aria-label": `${text}: show the rows` }, text) : text);
        }),
      ),
    );
  }
  table.append(body);
  return el("div", { class: "table-scroll" }, table);
}

function valuesTable(chart, context) {
  const rows = Object.entries(chart.values ?? {});
  if (!rows.length) return card(chart, context, "table", emptyNote());
  const table = el("table", { class: "table table-compact" });
  table.append(el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Currency"), el("th", { scope: "col", class: "num" }, chart.label ?? "Value"))));
  table.append(
    el(
      "tbody",
      {},
      ...rows.map(([currency, value]) => {
        const href = context.drillHref(chart, chart.drill?.[currency], { currency: currency === ALL ? null : currency });
        const text = formatValue(value, chart.unit, currency);
        return el("tr", {}, el("td", {}, currencyName(currency) || "All"), el("td", { class: "num" }, href ? el("a", { href }, text) : text));
      }),
    ),
  );
  return card(chart, context, "table", el("div", { class: "table-scroll" }, table));
}

function pieCard(chart, context) {
  const rows = chart.rows ?? [];
  if (!rows.length) return card(chart, context, "pie", emptyNote());
  const measure = chart.measures?.[0];
  const body = [];
  for (const [currency, group] of groupBy(rows, (r) => r.currency ?? ALL)) {
    const slices = group.map((r) => ({
      label: r.name ?? cellText({ name: "group" }, r), // a segment's name (a product's) where it has one
      value: Number(r[measure.key] ?? 0),
      text: formatValue(r[measure.key], measure.unit, currency),
      href: rowHref(chart, r, context),
    }));
    const title = `${chart.title}${currency !== ALL ? `, ${currencyName(currency)}` : ""}`;
    const total = slices.reduce((s, x) => s + Math.max(0, x.value), 0) || 1;
    const legend = el(
      "ul",
      { class: "legend legend-pie" },
      ...slices.filter((s) => s.value > 0).map((s, i) =>
        el("li", { class: `c${i % 8}` }, el("span", { class: "swatch", "aria-hidden": "true" }), s.href ? el("a", { href: s.href }, s.label) : s.label, el("span", { class: "muted" }, ` ${s.text} · ${((s.value / total) * 100).toFixed(1)} %`)),
      ),
    );
    const centre = formatValue(group.reduce((sum, r) => sum + Number(r[measure.key] ?? 0), 0), measure.unit, currency, true);
    body.push(el("figure", { class: "pie-figure" }, pieChart({ slices, title, centre }), legend));
  }
  body.push(el("details", { class: "chart-data" }, el("summary", {}, "Show the numbers"), rowsTable(chart, rows, context)));
  return card(chart, context, "pie", el("div", { class: "pies" }, ...body.slice(0, -1)), body[body.length - 1]);
}

function waterfallSteps(chart, rows, currency, context) {
  if (chart.metric === "mrr_movements") {
    const totals = new Map(rows.filter((r) => r.bucket === null).map((r) => [r.movement, r]));
    return MOVEMENT_STEPS.filter(([key]) => totals.has(key)).map(([key, label, kind]) => {
      const row = totals.get(key);
      // a movement lists its customers (below the chart); MRR at the start and end, its rows
      const href = kind === "delta" ? moversHref(currency, key) : rowHref(chart, row, context);
      return { label, kind, amount: row.amount, text: formatValue(row.amount, "money", currency), href };
    });
  }
  return rows.map((r) => ({
    label: r.label ?? r.step,
    kind: r.kind === "total" ? "total" : "delta",
    amount: r.amount ?? 0,
    text: formatValue(r.amount, "money", currency),
    href: rowHref(chart, r, context),
  }));
}

function waterfallCard(chart, context) {
  const rows = chart.rows ?? [];
  if (!rows.length) return card(chart, context, "waterfall", emptyNote());
  const body = [];
  for (const [currency, group] of groupBy(rows, (r) => r.currency ?? ALL)) {
    const steps = waterfallSteps(chart, group, currency, context);
    if (!steps.length) continue;
    const title = `${chart.title}, ${currencyName(currency)}`;
    const format = (v, compact) => formatValue(v, "money", currency, compact);
    body.push(figure((width) => waterfallChart({ steps, title, format, width }), { caption: currencyName(currency) }));
  }
  const note = chart.metric === "mrr_movements" ? el("p", { class: "hint" }, "Reconstructed from subscription invoices; the table lists each movement by week.") : null;
  body.push(el("details", { class: "chart-data" }, el("summary", {}, "Show the numbers"), rowsTable(chart, rows.filter((r) => r.bucket !== null || chart.metric !== "mrr_movements"), context)));
  if (chart.metric === "mrr_movements") body.push(moversSection(chart, context));
  return card(chart, context, "waterfall", note, ...body);
}

// A chart the connection cannot draw: what it needs, in a few words (the page's summary above
// the charts gives the whole reason).
function unavailableCard(chart, context) {
  const u = chart.unavailable;
  return card(
    chart,
    context,
    chart.type === "number" ? "number" : "unavailable",
    el(
      "div",
      { class: "unavailable", title: u.reason },
      el("span", { class: "badge badge-warning" }, "Unavailable"),
      el("p", { class: "unavailable-fix" }, "Why, and the fix: in the note above the charts."),
    ),
  );
}

// One alert per reason charts are unavailable (a dataset not picked, a permission missing).
export function unavailableSummary(charts, objectsHref = null) {
  const found = new Map();
  for (const c of charts) {
    if (!c.unavailable) continue;
    const key = c.unavailable.dataset;
    if (!found.has(key)) found.set(key, { ...c.unavailable, titles: [] });
    found.get(key).titles.push(c.title);
  }
  return [...found.values()].map((u) =>
    el(
      "div",
      { class: "alert alert-warning", role: "alert", "data-unavailable": u.dataset },
      el("p", { class: "alert-title" }, `${u.titles.length} chart${u.titles.length === 1 ? " is" : "s are"} unavailable: ${u.reason}`),
      el("p", {}, u.fix, objectsHref ? " " : null, objectsHref ? el("a", { href: objectsHref }, "The connection's objects") : null),
      el("p", { class: "muted" }, `Unavailable: ${u.titles.join(", ")}.`),
    ),
  );
}

export function renderCard(chart, context) {
  const drawn = drawCard(chart, context);
  // a chart whose money was converted into the reporting currency says so on itself
  if (chart.converted && drawn) {
    drawn.append(el("p", { class: "chart-converted", "data-converted": chart.converted.currency }, `${chart.converted.currency.toUpperCase()}, ${chart.converted.label}`));
  }
  return drawn;
}

function drawCard(chart, context) {
  if (chart.unavailable) return unavailableCard(chart, context);
  if (chart.series) return timeCard(chart, context);
  if (chart.values) return chart.type === "number" ? numberTile(chart, context) : valuesTable(chart, context);
  if (chart.metric === "mrr_cohorts" && chart.rows) return cohortCard(chart, context, card);
  if (chart.type === "waterfall") return waterfallCard(chart, context);
  if (chart.type === "pie") return pieCard(chart, context);
  const rows = chart.rows ?? [];
  return card(chart, context, "table", rows.length ? rowsTable(chart, rows, context, chart.title) : emptyNote());
}
