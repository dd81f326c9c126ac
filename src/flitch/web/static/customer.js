// A customer's page: their MRR over time (a step line per currency, time to scale) and one
// timeline of their subscriptions, invoices, charges, refunds, disputes and MRR changes, from
// GET /api/v1/connections/{c}/customers/{id} (live from Stripe, or the cache).

import { api, el, problemAlert } from "./lib.js";
import { formatValue, setZeroDecimal, svg } from "./charts.js";

const root = document.querySelector("[data-customer-page]");

const KINDS = {
  subscription: "Subscription",
  invoice: "Invoice",
  charge: "Charge",
  refund: "Refund",
  dispute: "Dispute",
  mrr: "MRR",
};

function day(iso) {
  return iso ? iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC") : "—";
}

function money(value, currency) {
  return value === null || value === undefined || !currency ? "—" : formatValue(value, "money", currency);
}

// One currency's MRR as steps from its first change to now (a span still running reaches now).
function mrrChart(currency, steps, now, index) {
  const W = 720;
  const H = 180;
  const M = { left: 70, right: 16, top: 12, bottom: 28 };
  const times = steps.map((s) => Date.parse(s.at));
  const t0 = times[0];
  const t1 = Math.max(now, times[times.length - 1] + 86400000);
  const hi = Math.max(1, ...steps.map((s) => s.mrr));
  const x = (t) => M.left + ((t - t0) / (t1 - t0 || 1)) * (W - M.left - M.right);
  const y = (v) => M.top + (1 - v / hi) * (H - M.top - M.bottom);
  let d = "";
  steps.forEach((s, i) => {
    const at = x(times[i]);
    d += i === 0 ? `M${at},${y(s.mrr)}` : `H${at}V${y(s.mrr)}`;
  });
  d += `H${x(t1)}`;
  const label = `MRR in ${currency.toUpperCase()}: ${steps.map((s) => `${day(s.at).slice(0, 10)} ${money(s.mrr, currency)}`).join(", ")}`;
  return svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: `chart-svg customer-mrr-svg c${index % 8}`, role: "img", "aria-label": label, "data-mrr-currency": currency },
    svg("title", {}, label),
    svg("line", { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: "axis" }),
    svg("text", { x: M.left - 6, y: y(hi) + 4, class: "tick", "text-anchor": "end" }, money(hi, currency)),
    svg("text", { x: M.left - 6, y: y(0) + 4, class: "tick", "text-anchor": "end" }, money(0, currency)),
    svg("text", { x: M.left, y: H - 8, class: "tick" }, day(steps[0].at).slice(0, 10)),
    svg("text", { x: W - M.right, y: H - 8, class: "tick", "text-anchor": "end" }, "now"),
    svg("path", { d, class: "line step" }),
  );
}

function drawMrr(section, mrr, now) {
  if (!mrr || !mrr.steps.length) return;
  const byCurrency = {};
  for (const s of mrr.steps) (byCurrency[s.currency] ??= []).push(s);
  const body = section.querySelector("[data-mrr-body]");
  body.replaceChildren(
    ...Object.entries(byCurrency).map(([currency, steps], i) =>
      el("figure", {}, mrrChart(currency, steps, now, i), el("figcaption", { class: "hint" }, `${currency.toUpperCase()}: ${money(steps[steps.length - 1].mrr, currency)} now. Reconstructed from the invoices that billed each subscription.`)),
    ),
  );
  section.hidden = false;
}

function eventRow(e) {
  const amount = e.kind === "mrr" ? `${money(e.before, e.currency)} → ${money(e.amount, e.currency)}` : money(e.amount, e.currency);
  return el(
    "tr",
    { class: e.kind === "mrr" ? "timeline-mrr" : null, "data-kind": e.kind },
    el("td", { class: "cell-time" }, el("time", { datetime: e.at }, day(e.at))),
    el("td", { class: "timeline-kind" }, KINDS[e.kind] ?? e.kind),
    el("td", { class: "cell-break" }, e.id ?? "—"),
    el("td", {}, e.text),
    el("td", { class: "num" }, amount),
  );
}

function subscriptionsTable(subs) {
  if (subs === null) return el("p", { class: "hint card-body" }, "This connection does not read subscriptions.");
  if (!subs.length) return el("p", { class: "hint card-body" }, "No subscription.");
  return el(
    "table",
    { class: "table table-compact" },
    el("thead", {}, el("tr", {}, ...["Subscription", "Status", "Price", "Started", "Ended", "MRR now"].map((h) => el("th", { scope: "col", class: h === "MRR now" ? "num" : null }, h)))),
    el(
      "tbody",
      {},
      ...subs.map((s) =>
        el("tr", {}, el("td", {}, s.id), el("td", {}, s.status), el("td", {}, s.price ?? "—"), el("td", {}, day(s.start_date).slice(0, 10)), el("td", {}, s.ended_at ? day(s.ended_at).slice(0, 10) : "—"), el("td", { class: "num" }, s.mrr === undefined ? "—" : money(s.mrr, s.currency))),
      ),
    ),
  );
}

async function load() {
  setZeroDecimal((root.dataset.zeroDecimal || "").split(",").filter(Boolean));
  const status = root.querySelector("[data-customer-status]");
  const path = `/api/v1/connections/${encodeURIComponent(root.dataset.connectionId)}/customers/${encodeURIComponent(root.dataset.customer)}`;
  let page;
  try {
    page = await api("GET", path);
  } catch (error) {
    status.textContent = "The customer could not be loaded.";
    root.querySelector("[data-customer-problem]").replaceChildren(problemAlert({ error: error.error, message: error.message, fix: error.fix }));
    root.querySelector("[data-customer-timeline] tbody").replaceChildren();
    return;
  }
  if (page.name) root.querySelector("[data-customer-name]").textContent = page.name;
  if (page.email) root.querySelector("[data-customer-email]").textContent = `· ${page.email}`;
  const source = page.data.source === "cache" ? `from the cache as of ${new Date(page.data.as_of).toLocaleString()}` : `read live from Stripe (${page.data.requests} requests)`;
  status.textContent = `${page.timeline.length} events · ${source}`;
  drawMrr(root.querySelector("[data-customer-mrr]"), page.mrr, Date.parse(page.data.as_of ?? "") || Date.now());
  root.querySelector("[data-customer-timeline] tbody").replaceChildren(...page.timeline.map(eventRow));
  root.querySelector("[data-customer-subscriptions]").replaceChildren(subscriptionsTable(page.subscriptions));
  if (page.missing.length) {
    root.querySelector("[data-customer-missing]").textContent = `Not shown: ${page.missing.map((m) => `${m.part} (needs ${m.needs.join(", ")})`).join("; ")}.`;
  }
}

if (root) load();
