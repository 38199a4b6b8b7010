// Metrics: live charts drawn from GET /metrics (Prometheus text), sampled every
// few seconds while the page is open: authorize decisions per second by
// decision, PEP request latency percentiles (from the histogram's buckets, as
// Prometheus' histogram_quantile computes them) and errors per second by code.
import { api } from "../api.js";
import { h, clear, errorBox, table } from "../dom.js";
import { lineChart } from "../chart.js";

const EVERY_MS = 2000;
const SLOTS = 60; // two minutes

// {name, labels: {..}, value} for every sample line of the text format.
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(.)/g, "$1");
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

// The samples of `name` summed by the value of label `by`.
function sumBy(samples, name, by, filter = () => true) {
  const out = new Map();
  for (const s of samples) {
    if (s.name !== name || !filter(s.labels)) continue;
    const key = s.labels[by];
    out.set(key, (out.get(key) || 0) + s.value);
  }
  return out;
}

// The q-quantile of the observations between two cumulative bucket maps (le → count).
function quantile(q, before, after) {
  const bounds = [...after.keys()].map((le) => (le === "+Inf" ? Infinity : Number(le))).sort((a, b) => a - b);
  const delta = (b) => {
    const key = b === Infinity ? "+Inf" : [...after.keys()].find((k) => Number(k) === b);
    return (after.get(key) || 0) - (before.get(key) || 0);
  };
  const total = delta(Infinity);
  if (!(total > 0)) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of bounds) {
    const count = delta(b);
    if (count >= rank) {
      if (b === Infinity) return lower; // past the last bucket: its lower edge, as Prometheus does
      return lower + ((b - lower) * (rank - below)) / Math.max(1, count - below);
    }
    lower = b;
    below = count;
  }
  return null;
}

export default {
  id: "metrics",
  title: "Metrics",
  roles: ["admin", "auditor"],
  async render(el) {
    const notice = h("div", { "aria-live": "polite" });
    const charts = h("div", { class: "charts" });
    const totals = h("div");
    el.append(h("p", { class: "muted" }, `Sampled from /metrics every ${EVERY_MS / 1000} s while this page is open; `,
      `the charts show the last ${(SLOTS * EVERY_MS) / 60000} minutes.`), notice, charts, totals);

    const history = []; // [{t, decisions, errors, buckets}] per sample, oldest first
    const sample = async () => {
      const samples = parseMetrics(await api("GET", "/metrics"));
      history.push({
        t: performance.now(),
        decisions: sumBy(samples, "sealgate_authorize_decisions_total", "decision"),
        errors: sumBy(samples, "sealgate_http_errors_total", "code"),
        buckets: sumBy(samples, "sealgate_http_request_duration_seconds_bucket", "le", (l) => l.listener === "pep"),
        requests: sumBy(samples, "sealgate_http_requests_total", "listener"),
      });
      if (history.length > SLOTS + 1) history.shift();
      draw();
    };

    // Per interval between consecutive samples: rates (per second) of each key of `field`.
    const rates = (field) => {
      const names = new Set(history.flatMap((s) => [...s[field].keys()]));
      return [...names].sort().map((name) => ({ name, points: pad(history.slice(1).map((s, i) => {
        const prev = history[i];
        return ((s[field].get(name) || 0) - (prev[field].get(name) || 0)) / ((s.t - prev.t) / 1000);
      })) }));
    };
    // The time axis grows with the samples taken, from 10 intervals up to SLOTS.
    const slots = () => Math.max(10, history.length - 1);
    const pad = (points) => [...Array(Math.max(0, slots() - points.length)).fill(null), ...points];

    const draw = () => {
      const latency = [0.5, 0.95, 0.99].map((q) => ({ name: `p${Math.round(q * 100)}`,
        points: pad(history.slice(1).map((s, i) => quantile(q, history[i].buckets, s.buckets))) }));
      clear(charts).append(
        lineChart({ title: "Authorize decisions per second", unit: "/s", slots: slots(), series: rates("decisions") }),
        lineChart({ title: "PEP request latency", unit: "s", slots: slots(), series: latency }),
        lineChart({ title: "Errors per second, by code", unit: "/s", slots: slots(), series: rates("errors") }));
      const last = history[history.length - 1];
      const rows = [
        ...[...last.decisions].map(([k, v]) => ["authorize decisions", k, v]),
        ...[...last.requests].map(([k, v]) => ["requests", `${k} listener`, v]),
        ...[...last.errors].sort((a, b) => b[1] - a[1]).map(([k, v]) => ["errors", k, v]),
      ];
      clear(totals).append(table("Totals since the appliance started", ["Family", "Kind", "Count"],
        rows.map(([family, kind, v]) => h("tr", { "data-total": `${family}:${kind}` },
          h("td", {}, family), h("th", { scope: "row" }, kind), h("td", {}, v)))));
    };

    const loop = async () => {
      if (!el.isConnected) return; // the page was left: stop sampling
      try {
        await sample();
        clear(notice);
      } catch (err) {
        clear(notice).append(errorBox(err));
      }
      setTimeout(loop, EVERY_MS);
    };
    await sample();
    setTimeout(loop, EVERY_MS);
  },
};
