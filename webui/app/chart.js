// A line chart in SVG, small enough to write here rather than bundle a library:
// a few series over the same time axis, a y axis from 0 to a rounded maximum,
// and a legend that also states each series' latest value in words (so the chart
// is readable without seeing it). Colours come from the stylesheet (.series-N):
// the page's CSP allows no inline style.
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 160;
const LEFT = 60; // room for the y labels
const TOP = 10;
const BOTTOM = 14;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// 1, 2 or 5 times a power of ten, at least `v`.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function formatValue(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "no data";
  if (unit === "s") return v < 1 ? `${(v * 1000).toFixed(v < 0.01 ? 2 : 1)} ms` : `${v.toFixed(2)} s`;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(0)}${unit ? ` ${unit}` : ""}`;
}

// `series`: [{name, points: [value or null per sample]}]; `points` all have
// `slots` entries, oldest first (null: no data in that interval).
export function lineChart({ title, unit, slots, series }) {
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.filter((v) => v !== null))));
  const x = (i) => LEFT + ((WIDTH - LEFT - 4) * i) / Math.max(1, slots - 1);
  const y = (v) => TOP + (HEIGHT - BOTTOM - TOP) * (1 - v / max);
  const grid = [0, 0.5, 1].map((f) => svg("g", {},
    svg("line", { x1: LEFT, x2: WIDTH, y1: y(max * f), y2: y(max * f), class: "grid" }),
    svg("text", { x: LEFT - 6, y: y(max * f) + 4, "text-anchor": "end", class: "axis" }, formatValue(max * f, unit))));
  const lines = series.map((s, n) => {
    // A gap (null) breaks the line into runs.
    const runs = [];
    let run = [];
    s.points.forEach((v, i) => {
      if (v === null) { if (run.length) runs.push(run); run = []; } else run.push(`${x(i)},${y(v)}`);
    });
    if (run.length) runs.push(run);
    return svg("g", { class: `series-${n % 6}` }, runs.map((r) => r.length === 1
      ? svg("circle", { cx: r[0].split(",")[0], cy: r[0].split(",")[1], r: 3 })
      : svg("polyline", { points: r.join(" "), fill: "none" })));
  });
  const latest = (s) => {
    for (let i = s.points.length - 1; i >= 0; i--) if (s.points[i] !== null) return s.points[i];
    return null;
  };
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": title, class: "chart" },
    ...grid, ...lines);
  return h("figure", { class: "chart-box" },
    h("figcaption", {}, title), chart,
    h("ul", { class: "legend" }, series.length ? series.map((s, n) =>
      h("li", { "data-series": s.name }, h("span", { class: `swatch series-${n % 6}`, "aria-hidden": "true" }),
        `${s.name}: `, h("strong", {}, formatValue(latest(s), unit)))) : h("li", { class: "muted" }, "no data yet")));
}
