// movierec online metrics page: CTR@10 per model version over time (inline SVG, no libraries), totals, trending.
"use strict";
const $ = (id) => document.getElementById(id);
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function chart(series) {
  const svg = $("ctr-chart");
  svg.replaceChildren();
  const W = 900, H = 320, L = 50, R = 180, T = 10, B = 30;
  const points = Object.values(series).flat().filter((p) => p.ctr_at_10 !== null);
  if (!points.length) { svg.append(el("text", { x: L, y: H / 2 }, "no attributed impressions yet")); return; }
  const x0 = Math.min(...points.map((p) => p.window_start)), x1 = Math.max(...points.map((p) => p.window_start));
  const y1 = Math.max(0.01, ...points.map((p) => p.ctr_at_10));
  const x = (t) => L + (x1 === x0 ? 0.5 : (t - x0) / (x1 - x0)) * (W - L - R);
  const y = (v) => H - B - (v / y1) * (H - T - B);
  svg.append(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }));
  svg.append(el("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }));
  svg.append(el("text", { x: 4, y: T + 10, "font-size": 11 }, y1.toFixed(3)));
  svg.append(el("text", { x: 4, y: H - B, "font-size": 11 }, "0"));
  svg.append(el("text", { x: L, y: H - 8, "font-size": 11 }, new Date(x0).toLocaleTimeString()));
  svg.append(el("text", { x: W - R - 60, y: H - 8, "font-size": 11 }, new Date(x1).toLocaleTimeString()));
  Object.entries(series).forEach(([name, pts], i) => {
    const color = COLORS[i % COLORS.length];
    const ok = pts.filter((p) => p.ctr_at_10 !== null);
    svg.append(el("polyline", { fill: "none", stroke: color, "stroke-width": 2, "data-series": name,
      points: ok.map((p) => `${x(p.window_start)},${y(p.ctr_at_10)}`).join(" ") }));
    for (const p of ok) svg.append(el("circle", { cx: x(p.window_start), cy: y(p.ctr_at_10), r: 2.5, fill: color }));
    svg.append(el("text", { x: W - R + 10, y: T + 14 + 16 * i, fill: color, "font-size": 12 }, name));
  });
}

async function load() {
  const [metrics, trending] = await Promise.all([
    fetch("/online/metrics?hours=24").then((r) => r.json()),
    fetch("/trending?k=10").then((r) => r.json()),
  ]);
  chart(metrics.series);
  const body = $("totals").querySelector("tbody");
  body.replaceChildren(...Object.entries(metrics.totals).map(([arm, t]) => {
    const tr = document.createElement("tr");
    for (const v of [arm, t.model_versions.join(", "), t.impressions, t.clicks_at_10,
      t.ctr_at_10 === null ? "-" : t.ctr_at_10.toFixed(4)]) {
      const td = document.createElement("td"); td.textContent = v; tr.append(td);
    }
    return tr;
  }));
  $("test").textContent = metrics.test
    ? `challenger - champion CTR@10: ${metrics.test.diff.toFixed(4)} (z ${metrics.test.z.toFixed(2)}, p ${metrics.test.p_value.toPrecision(3)}); promotion policy: ${metrics.policy}`
    : `promotion policy: ${metrics.policy}; no A/B comparison yet`;
  $("trending").replaceChildren(...trending.items.map((m) => {
    const li = document.createElement("li");
    li.dataset.movieId = m.movie_id;
    li.textContent = `${m.title || "movie " + m.movie_id} · ${m.clicks} clicks, ${m.likes} likes`;
    return li;
  }));
  $("status").textContent = `last ${24} h · window ${metrics.window_s} s · refreshed ${new Date().toLocaleTimeString()}`;
}

document.addEventListener("DOMContentLoaded", () => { load(); setInterval(load, 10000); });
