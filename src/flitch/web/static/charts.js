// Charts drawn as SVG in the browser from a dashboard's JSON: over time (line, area, bar), pie,
// waterfall, and the value formats they share. Hand-written, no library: every mark that stands
// for a number is a link to the rows behind it, and carries its value in a <title> (a tooltip, and
// what a screen reader reads; each chart is a labelled group of those links, and its card also
// lists the numbers as a table). Colours come from classes (.c0…c7 in dashboards.css): the page's
// Content-Security-Policy allows no inline styles.

const NS = "http://www.w3.org/2000/svg";
export const COLOURS = 8;

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// A mark that opens the rows behind it (or just the mark, when there is nowhere to go).
function linked(href, label, ...marks) {
  const title = svg("title", {}, label);
  if (!href) return svg("g", { class: "mark" }, title, ...marks);
  return svg("a", { href, class: "mark", "aria-label": label }, title, ...marks);
}

// ---- values ------------------------------------------------------------------------------------

let zeroDecimal = new Set(["jpy", "krw"]);

// Currencies whose amounts have no minor unit (the server's list, given to the page).
export function setZeroDecimal(codes) {
  zeroDecimal = new Set(codes.map((c) => c.toLowerCase()));
}

const formatters = new Map();

function moneyFormat(currency, compact) {
  const key = `${currency}:${compact}`;
  if (!formatters.has(key)) {
    const digits = zeroDecimal.has(currency) ? 0 : 2;
    let format;
    try {
      format = new Intl.NumberFormat(undefined, {
        style: "currency",
        currency: currency.toUpperCase(),
        notation: compact ? "compact" : "standard",
        minimumFractionDigits: compact ? 0 : digits,
        maximumFractionDigits: compact ? 1 : digits,
      });
    } catch {
      format = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits });
    }
    formatters.set(key, format);
  }
  return formatters.get(key);
}

// Amounts come in minor units, as Stripe gives them (cents; whole yen).
export function formatValue(value, unit, currency, compact = false) {
  if (value === null || value === undefined) return "—";
  if (unit === "money" && currency && currency !== "all" && currency !== "none") {
    const major = zeroDecimal.has(currency) ? value : value / 100;
    return moneyFormat(currency, compact).format(major);
  }
  if (unit === "ratio") return `${(value * 100).toFixed(compact ? 1 : 2)} %`;
  const options = compact ? { notation: "compact", maximumFractionDigits: 1 } : { maximumFractionDigits: 2 };
  return Number(value).toLocaleString(undefined, options);
}

// The change against the previous period: relative (+12.5 %), or points for rates.
export function formatChange(change, unit) {
  if (change === null || change === undefined) return null;
  const sign = change > 0 ? "▲ +" : change < 0 ? "▼ −" : "±";
  const size = Math.abs(change * 100);
  return unit === "ratio" ? `${sign}${size.toFixed(2)} pts` : `${sign}${size.toFixed(1)} %`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// A bucket's start as a short label (buckets are UTC days, Monday weeks or months).
export function bucketLabel(iso, grain, long = false) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return String(iso);
  const day = when.getUTCDate();
  const month = MONTHS[when.getUTCMonth()];
  const year = when.getUTCFullYear();
  if (grain === "month") return long ? `${month} ${year}` : `${month} ${String(year).slice(2)}`;
  const text = `${day} ${month}`;
  if (grain === "week") return long ? `Week of ${text} ${year}` : text;
  return long ? `${text} ${year}` : text;
}

// Round numbers for an axis from lo to hi (lo ≤ 0 ≤ hi), about four steps (whole ones for
// counts).
function ticks(lo, hi, whole = false) {
  const span = hi - lo || 1;
  const rough = whole ? Math.max(1, span / 4) : span / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? rough;
  const out = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v * 1e9) / 1e9);
  if (out[out.length - 1] < hi) out.push(out[out.length - 1] + step);
  return out;
}

// ---- over time ---------------------------------------------------------------------------------

const H = 240;
const M = { top: 12, right: 12, bottom: 28, left: 64 };

// series: [{label, colour, points: [[iso, value]], href(i), format(value, compact)}]
// kind: line | area | bar. One y axis: callers give series of one unit (and one currency).
export function timeChart({ series, kind, grain, title, width = 560, height = H, whole = false }) {
  const W = Math.max(240, Math.round(width));
  const H = height;
  const count = Math.max(0, ...series.map((s) => s.points.length));
  const values = series.flatMap((s) => s.points.map((p) => p[1]).filter((v) => v !== null));
  const lo = Math.min(0, ...values);
  const hi = Math.max(0, ...values);
  const axis = ticks(lo, hi === lo ? lo + 1 : hi, whole);
  const y0 = axis[0];
  const y1 = axis[axis.length - 1];
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const band = plotW / Math.max(1, count);
  const x = (i) => M.left + band * i + band / 2;
  const y = (v) => M.top + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH;
  const format = series[0]?.format ?? ((v) => String(v));
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: `chart-svg chart-${kind}`,
    role: "group",
    "aria-label": title,
  });
  const grid = svg("g", { class: "grid" });
  for (const t of axis) {
    grid.append(
      svg("line", { x1: M.left, x2: W - M.right, y1: y(t), y2: y(t), class: t === 0 ? "zero" : null }),
      svg("text", { x: M.left - 8, y: y(t) + 4, class: "tick tick-y" }, format(t, true)),
    );
  }
  root.append(grid);
  const labels = svg("g", { class: "ticks-x" });
  const every = Math.max(1, Math.ceil(count / Math.max(2, Math.floor(W / 80))));
  const first = series.find((s) => s.points.length)?.points ?? [];
  first.forEach(([iso], i) => {
    if (i % every === 0) labels.append(svg("text", { x: x(i), y: H - 8, class: "tick tick-x" }, bucketLabel(iso, grain)));
  });
  root.append(labels);
  series.forEach((s, n) => {
    const group = svg("g", { class: `series c${s.colour % COLOURS}` });
    const label = (i) => `${s.label}, ${bucketLabel(s.points[i][0], grain, true)}: ${s.format(s.points[i][1])}`;
    if (kind === "bar") {
      const slot = (band * 0.8) / series.length;
      s.points.forEach(([, v], i) => {
        const top = y(Math.max(0, v ?? 0));
        const height = Math.max(v ? 1 : 0, Math.abs(y(v ?? 0) - y(0)));
        const left = x(i) - band * 0.4 + slot * n;
        group.append(
          linked(
            s.href?.(i),
            label(i),
            svg("rect", { x: left, y: top, width: Math.max(1, slot - 1), height, class: "bar" }),
            svg("rect", { x: left, y: M.top, width: Math.max(1, slot), height: plotH, class: "hit" }),
          ),
        );
      });
    } else {
      const known = s.points.map(([, v], i) => [i, v]).filter(([, v]) => v !== null);
      const line = known.map(([i, v], k) => `${k ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
      if (kind === "area" && known.length) {
        const [firstI] = known[0];
        const [lastI] = known[known.length - 1];
        group.append(svg("path", { d: `${line}L${x(lastI)},${y(0)}L${x(firstI)},${y(0)}Z`, class: "area" }));
      }
      group.append(svg("path", { d: line, class: "line" }));
      for (const [i, v] of known) {
        group.append(
          linked(
            s.href?.(i),
            label(i),
            svg("circle", { cx: x(i), cy: y(v), r: count > 40 ? 2 : 3.5, class: "dot" }),
            svg("circle", { cx: x(i), cy: y(v), r: 9, class: "hit" }),
          ),
        );
      }
    }
    root.append(group);
  });
  return root;
}

// ---- pie ---------------------------------------------------------------------------------------

// slices: [{label, value, text, href}] (values ≥ 0; negative ones are left out of the pie).
export function pieChart({ slices, title, centre = "" }) {
  const shown = slices.filter((s) => s.value > 0);
  const total = shown.reduce((sum, s) => sum + s.value, 0);
  const root = svg("svg", { viewBox: "0 0 220 220", class: "chart-svg chart-pie", role: "group", "aria-label": title });
  const cx = 110;
  const cy = 110;
  const r = 100;
  const inner = 58;
  let angle = -Math.PI / 2;
  const point = (a, radius) => [cx + radius * Math.cos(a), cy + radius * Math.sin(a)];
  shown.forEach((s, i) => {
    const share = s.value / total;
    const label = `${s.label}: ${s.text} (${(share * 100).toFixed(1)} %)`;
    let shape;
    if (share >= 0.9999) {
      shape = svg("path", {
        d: `M${cx - r},${cy}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0Z` +
          `M${cx - inner},${cy}a${inner},${inner} 0 1,1 ${2 * inner},0a${inner},${inner} 0 1,1 ${-2 * inner},0Z`,
        class: "slice",
        "fill-rule": "evenodd",
      });
    } else {
      const end = angle + share * 2 * Math.PI;
      const large = share > 0.5 ? 1 : 0;
      const [x1, y1] = point(angle, r);
      const [x2, y2] = point(end, r);
      const [x3, y3] = point(end, inner);
      const [x4, y4] = point(angle, inner);
      shape = svg("path", {
        d: `M${x1},${y1}A${r},${r} 0 ${large} 1 ${x2},${y2}L${x3},${y3}A${inner},${inner} 0 ${large} 0 ${x4},${y4}Z`,
        class: "slice",
      });
      angle = end;
    }
    root.append(svg("g", { class: `c${i % COLOURS}` }, linked(s.href, label, shape)));
  });
  root.append(svg("text", { x: cx, y: cy + 5, class: "pie-total" }, shown.length ? centre : "Nothing"));
  return root;
}

// ---- waterfall ---------------------------------------------------------------------------------

function wrap(text, width) {
  const words = String(text).split(/\s+/);
  const lines = [""];
  for (const word of words) {
    const current = lines[lines.length - 1];
    if (current && (current + " " + word).length > width) lines.push(word);
    else lines[lines.length - 1] = current ? `${current} ${word}` : word;
  }
  if (lines.length > 2) {
    lines.length = 2;
    lines[1] = `${lines[1].slice(0, Math.max(1, width - 1))}…`;
  }
  return lines;
}

// steps: [{label, amount, kind: "total" | "delta", text, href}]: totals stand on zero, deltas
// start where the previous bar ended.
export function waterfallChart({ steps, title, format, width = 560 }) {
  const W = Math.max(280, Math.round(width));
  let running = 0;
  const bars = steps.map((s) => {
    const from = s.kind === "total" ? 0 : running;
    const to = s.kind === "total" ? s.amount : running + s.amount;
    running = to;
    return { ...s, from, to };
  });
  const values = bars.flatMap((b) => [b.from, b.to]);
  const axis = ticks(Math.min(0, ...values), Math.max(1, ...values));
  const y0 = axis[0];
  const y1 = axis[axis.length - 1];
  const plotW = W - M.left - M.right;
  const band = plotW / Math.max(1, bars.length);
  // Labels under their bars, on two lines; tilted when a word is wider than its bar.
  const chars = Math.max(4, Math.floor(band / 6.5));
  const tilted = bars.some((b) => String(b.label).split(/\s+/).some((w) => w.length > chars));
  const bottom = tilted ? 70 : 40;
  const plotH = H - M.top - bottom;
  const y = (v) => M.top + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg chart-waterfall", role: "group", "aria-label": title });
  const grid = svg("g", { class: "grid" });
  for (const t of axis) {
    grid.append(
      svg("line", { x1: M.left, x2: W - M.right, y1: y(t), y2: y(t), class: t === 0 ? "zero" : null }),
      svg("text", { x: M.left - 8, y: y(t) + 4, class: "tick tick-y" }, format(t, true)),
    );
  }
  root.append(grid);
  bars.forEach((b, i) => {
    const left = M.left + band * i + band * 0.15;
    const top = y(Math.max(b.from, b.to));
    const height = Math.max(1, Math.abs(y(b.from) - y(b.to)));
    const kind = b.kind === "total" ? "total" : b.amount < 0 ? "down" : "up";
    root.append(
      svg(
        "g",
        { class: `step step-${kind}` },
        linked(
          b.href,
          `${b.label}: ${b.text}`,
          svg("rect", { x: left, y: top, width: band * 0.7, height, class: "bar" }),
          svg("rect", { x: left, y: M.top, width: band * 0.7, height: plotH, class: "hit" }),
        ),
      ),
    );
    if (i < bars.length - 1) {
      root.append(svg("line", { x1: left + band * 0.7, x2: left + band, y1: y(b.to), y2: y(b.to), class: "connector" }));
    }
    const centre = left + band * 0.35;
    if (tilted) {
      const label = b.label.length > 22 ? `${b.label.slice(0, 21)}…` : b.label;
      root.append(svg("text", { x: centre, y: H - bottom + 14, class: "tick tick-tilted", transform: `rotate(-30 ${centre} ${H - bottom + 14})` }, label));
      return;
    }
    const text = svg("text", { x: centre, y: H - bottom + 16, class: "tick tick-x" });
    wrap(b.label, chars).forEach((line, n) => {
      text.append(svg("tspan", { x: centre, dy: n ? 12 : 0 }, line));
    });
    root.append(text);
  });
  return root;
}
