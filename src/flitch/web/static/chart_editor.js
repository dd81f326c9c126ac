// Building your own dashboard (admins, on dashboards that are not built in): add a chart, edit
// it, move it, delete it — each through the JSON API, which checks the chart against the catalog
// and the metrics registry and answers what to change when it does not fit.

import { api, busy, clearError, el, showError, toast } from "./lib.js";

const NUMERIC = new Set(["integer", "amount", "float"]);
const AGGREGATES = { count: "Count", sum: "Sum", avg: "Average", min: "Smallest", max: "Largest" };
const OPERATORS = {
  eq: "is",
  ne: "is not",
  in: "is one of",
  not_in: "is none of",
  gt: "is more than",
  gte: "is at least",
  lt: "is less than",
  lte: "is at most",
  is_null: "is empty",
  not_null: "is not empty",
};
const TYPES = { number: "Number", line: "Line", bar: "Bar", area: "Area", table: "Table", pie: "Pie", waterfall: "Waterfall" };

let options = null;

async function loadOptions() {
  options ??= await api("GET", "/api/v1/dashboard-options");
  return options;
}

function option(value, text, selected = false) {
  const node = el("option", { value }, text);
  node.selected = selected;
  return node;
}

function fill(select, items, chosen) {
  select.replaceChildren(...items.map(([value, text]) => option(value, text, value === chosen)));
  if (chosen !== undefined && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

// A typed filter value from what was typed, for the column's type.
function typed(text, type) {
  const value = text.trim();
  if (NUMERIC.has(type)) {
    const n = Number(value);
    if (value === "" || Number.isNaN(n)) return value;
    return type === "float" ? n : Math.trunc(n);
  }
  if (type === "boolean") return value.toLowerCase() === "true" ? true : value.toLowerCase() === "false" ? false : value;
  return value;
}

export function setupEditor(root, { name, charts, reload }) {
  const dialog = root.querySelector("#chart-dialog");
  const form = dialog.querySelector("form");
  const errorBox = form.querySelector("[data-form-error]");
  const heading = dialog.querySelector("[data-chart-dialog-title]");
  const measures = form.querySelector("[data-measures]");
  const filters = form.querySelector("[data-filters]");
  const definition = form.querySelector("[data-metric-definition]");
  const confirmDialog = root.querySelector("#chart-delete-dialog");
  let editing = null;

  const columnsOf = (dataset) => options.datasets.find((d) => d.name === dataset)?.columns ?? [];
  const source = () => form.elements.source.value;

  function measureRow(measure = { agg: "count", column: null }) {
    const n = measures.children.length + 1;
    const agg = el("select", { name: "agg", "aria-label": `Measure ${n}` });
    fill(agg, Object.entries(AGGREGATES), measure.agg);
    const column = el("select", { name: "measure_column", "aria-label": `Column of measure ${n}` });
    const remove = el("button", { type: "button", class: "button button-link button-danger-link", "aria-label": `Remove measure ${n}` }, "Remove");
    const row = el("div", { class: "editor-row", "data-measure": "" }, agg, column, remove);
    const refresh = () => {
      const numeric = columnsOf(form.elements.dataset.value).filter((c) => NUMERIC.has(c.type));
      const items = agg.value === "count" ? [["", "rows"]] : numeric.map((c) => [c.name, c.name]);
      fill(column, items, measure.column ?? items[0]?.[0]);
      column.disabled = agg.value === "count";
    };
    agg.addEventListener("change", () => {
      measure.column = null;
      refresh();
    });
    remove.addEventListener("click", () => row.remove());
    row.refresh = refresh;
    refresh();
    measures.append(row);
  }

  function filterRow(f = { column: "status", op: "eq", value: "" }) {
    const n = filters.children.length + 1;
    const column = el("select", { name: "filter_column", "aria-label": `Filter ${n} column` });
    const op = el("select", { name: "filter_op", "aria-label": `Filter ${n} test` });
    fill(op, Object.entries(OPERATORS), f.op);
    const shown = Array.isArray(f.value) ? f.value.join(", ") : f.value ?? "";
    const value = el("input", { name: "filter_value", "aria-label": `Filter ${n} value`, autocomplete: "off", value: String(shown) });
    const remove = el("button", { type: "button", class: "button button-link button-danger-link", "aria-label": `Remove filter ${n}` }, "Remove");
    const row = el("div", { class: "editor-row", "data-filter": "" }, column, op, value, remove);
    const refresh = () => {
      const cols = columnsOf(form.elements.dataset.value).filter((c) => c.type !== "json");
      fill(column, cols.map((c) => [c.name, c.name]), f.column);
      value.disabled = op.value === "is_null" || op.value === "not_null";
    };
    op.addEventListener("change", refresh);
    remove.addEventListener("click", () => row.remove());
    row.refresh = refresh;
    refresh();
    filters.append(row);
  }

  function refreshDataset(spec) {
    const cols = columnsOf(form.elements.dataset.value);
    const groups = [["", "Nothing (one number)"], ["grain:day", "Time, by day"], ["grain:week", "Time, by week"], ["grain:month", "Time, by month"]];
    for (const c of cols) if (c.type !== "json") groups.push([`column:${c.name}`, `Column: ${c.name}`]);
    const group = spec?.group?.grain ? `grain:${spec.group.grain}` : spec?.group?.column ? `column:${spec.group.column}` : undefined;
    fill(form.elements.group, groups, group ?? form.elements.group.value);
    const times = cols.filter((c) => c.type === "timestamp").map((c) => [c.name, c.name]);
    fill(form.elements.time_column, times, spec?.time_column ?? "created");
    for (const row of [...measures.children, ...filters.children]) row.refresh();
  }

  // A metric of the MRR family can be split by segment (then it is a table, bar or pie of them).
  const segmentField = form.querySelector("[data-segment-field]");
  const keyField = form.querySelector("[data-metadata-key-field]");
  function refreshSegment(spec) {
    const splittable = options.segment_metrics.includes(form.elements.metric.value);
    segmentField.hidden = !splittable;
    if (spec !== undefined) {
      const chosen = spec?.group?.segment ?? "";
      const kind = chosen.startsWith("metadata.") ? "metadata" : chosen;
      fill(form.elements.segment, [["", "Nothing"], ...options.segments.map((s) => [s.name, s.label])], kind);
      form.elements.metadata_key.value = kind === "metadata" ? chosen.slice(9) : "";
    }
    if (!splittable) form.elements.segment.value = "";
    keyField.hidden = segmentField.hidden || form.elements.segment.value !== "metadata";
  }

  function refreshTypes(chosen) {
    let types = options.dataset_types;
    if (source() === "metric") {
      const picked = form.elements.metric.value;
      const item = options.metrics.find((m) => m.name === picked) ?? options.reports.find((r) => r.name === picked);
      types = item?.types ?? ["number"];
      if (form.elements.segment.value && !segmentField.hidden) types = options.segment_types;
      definition.textContent = item?.definition ?? "";
    }
    fill(form.elements.type, types.map((t) => [t, TYPES[t] ?? t]), chosen ?? form.elements.type.value);
  }

  function showSource() {
    for (const part of form.querySelectorAll("[data-when]")) part.hidden = part.dataset.when !== source();
    refreshTypes();
  }

  async function open(chart) {
    clearError(errorBox);
    try {
      await loadOptions();
    } catch (error) {
      showError(root.querySelector("[data-board-error]"), error);
      return;
    }
    editing = chart;
    const spec = chart?.spec ?? { type: "number", metric: "gross_volume", group: {} };
    heading.textContent = chart ? `Edit “${chart.title}”` : "Add a chart";
    form.reset();
    form.elements.title.value = spec.title ?? "";
    form.elements.source.value = spec.dataset ? "dataset" : "metric";
    const metricItems = [
      ...options.metrics.map((m) => [m.name, m.label]),
      ...options.reports.map((r) => [r.name, `${r.label} (report)`]),
    ];
    fill(form.elements.metric, metricItems, spec.metric ?? "gross_volume");
    fill(form.elements.metric_grain, [["", "Follow the period"], ["day", "By day"], ["week", "By week"], ["month", "By month"]], spec.metric ? spec.group?.grain ?? "" : "");
    fill(form.elements.dataset, options.datasets.map((d) => [d.name, d.label]), spec.dataset ?? "charges");
    measures.replaceChildren();
    filters.replaceChildren();
    for (const m of spec.measures?.length ? spec.measures : [{ agg: "count", column: null }]) measureRow({ ...m });
    for (const f of spec.filters ?? []) filterRow({ ...f });
    refreshDataset(spec);
    form.elements.whole.checked = Boolean(spec.whole);
    refreshSegment(spec);
    showSource();
    refreshTypes(spec.type);
    dialog.showModal();
    form.elements.title.focus();
  }

  function body() {
    const title = form.elements.title.value.trim();
    if (source() === "metric") {
      const metric = form.elements.metric.value;
      const grain = form.elements.metric_grain.value;
      const label = form.elements.metric.selectedOptions[0]?.textContent.replace(" (report)", "");
      const kind = segmentField.hidden ? "" : form.elements.segment.value;
      if (kind) {
        const segment = kind === "metadata" ? `metadata.${form.elements.metadata_key.value.trim()}` : kind;
        const by = kind === "metadata" ? form.elements.metadata_key.value.trim() : form.elements.segment.selectedOptions[0]?.textContent.toLowerCase();
        return { title: title || `${label} by ${by}`, type: form.elements.type.value, metric, group: { grain: null, segment } };
      }
      return { title: title || label, type: form.elements.type.value, metric, group: { grain: grain || null } };
    }
    const cols = Object.fromEntries(columnsOf(form.elements.dataset.value).map((c) => [c.name, c.type]));
    const group = form.elements.group.value;
    return {
      title: title || form.elements.dataset.selectedOptions[0]?.textContent,
      type: form.elements.type.value,
      dataset: form.elements.dataset.value,
      measures: [...measures.children].map((row) => {
        const agg = row.querySelector('[name="agg"]').value;
        return { agg, column: agg === "count" ? null : row.querySelector('[name="measure_column"]').value || null };
      }),
      group: {
        grain: group.startsWith("grain:") ? group.slice(6) : null,
        column: group.startsWith("column:") ? group.slice(7) : null,
      },
      filters: [...filters.children].map((row) => {
        const column = row.querySelector('[name="filter_column"]').value;
        const op = row.querySelector('[name="filter_op"]').value;
        const text = row.querySelector('[name="filter_value"]').value;
        let value = null;
        if (op === "in" || op === "not_in") value = text.split(",").map((v) => typed(v, cols[column])).filter((v) => v !== "");
        else if (op !== "is_null" && op !== "not_null") value = typed(text, cols[column]);
        return { column, op, value };
      }),
      time_column: form.elements.time_column.value || "created",
      whole: form.elements.whole.checked,
    };
  }

  const base = `/api/v1/dashboards/${encodeURIComponent(name)}`;

  form.addEventListener("change", (event) => {
    const field = event.target.name;
    if (field === "source") showSource();
    if (field === "metric") {
      refreshSegment();
      refreshTypes();
    }
    if (field === "segment") {
      refreshSegment();
      refreshTypes();
    }
    if (field === "dataset") refreshDataset(null);
  });
  form.querySelector("[data-add-measure]").addEventListener("click", () => measureRow());
  form.querySelector("[data-add-filter]").addEventListener("click", () => filterRow());
  dialog.querySelector("[data-close-dialog]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('[type="submit"]');
    clearError(errorBox);
    busy(button, true);
    try {
      if (editing) await api("PUT", `${base}/charts/${encodeURIComponent(editing.id)}`, body());
      else await api("POST", `${base}/charts`, { chart: body() });
      dialog.close();
      toast(editing ? "Chart saved." : "Chart added.");
      await reload();
    } catch (error) {
      showError(errorBox, error);
    } finally {
      busy(button, false);
    }
  });

  // Moving keeps numbers among numbers and charts among charts, as the page shows them.
  async function move(id, step) {
    const all = charts();
    const isTile = (c) => c.type === "number" && (c.values || c.unavailable);
    const me = all.find((c) => c.id === id);
    const same = all.filter((c) => isTile(c) === isTile(me));
    const other = same[same.indexOf(me) + step];
    if (!other) return;
    const order = all.map((c) => c.id);
    const i = order.indexOf(id);
    const j = order.indexOf(other.id);
    [order[i], order[j]] = [order[j], order[i]];
    await api("PUT", `${base}/chart-order`, { order });
    await reload();
  }

  root.addEventListener("click", async (event) => {
    const add = event.target.closest("[data-add-chart]");
    if (add) {
      open(null);
      return;
    }
    const button = event.target.closest("[data-chart-action]");
    if (!button) return;
    const id = button.dataset.chartId;
    const chart = charts().find((c) => c.id === id);
    const action = button.dataset.chartAction;
    try {
      if (action === "edit") await open(chart);
      else if (action === "up" || action === "down") await move(id, action === "up" ? -1 : 1);
      else if (action === "delete") {
        confirmDialog.querySelector("[data-delete-text]").textContent = `“${chart.title}” will be removed from this dashboard.`;
        confirmDialog.dataset.chartId = id;
        confirmDialog.showModal();
      }
    } catch (error) {
      showError(root.querySelector("[data-board-error]"), error);
    }
  });

  confirmDialog.querySelector("[data-close-dialog]").addEventListener("click", () => confirmDialog.close());
  confirmDialog.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const region = confirmDialog.querySelector("[data-form-error]");
    try {
      await api("DELETE", `${base}/charts/${encodeURIComponent(confirmDialog.dataset.chartId)}`);
      confirmDialog.close();
      toast("Chart deleted.");
      await reload();
    } catch (error) {
      showError(region, error);
    }
  });
}
