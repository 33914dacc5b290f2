// A tiny SVG line chart (no library): series of [unix seconds, value] points, alarm markers.
"use strict";
const COLORS = ["#58a6ff", "#3fb950", "#e3b341", "#bc8cff", "#ff7b72", "#39c5cf", "#f778ba", "#a5d6ff"];
const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawChart(container, data) {
  container.replaceChildren();
  const W = 600, H = 220, L = 44, R = 10, T = 10, B = 24;
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  container.appendChild(svg);
  const points = data.series.flatMap((s) => s.points);
  if (points.length === 0) {
    svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, data.message || "no data in this range"));
    return;
  }
  let [t0, t1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
  if (t0 === t1) { t0 -= 60; t1 += 60; }
  const vmax = Math.max(...points.map((p) => p[1]), ...Object.values(data.thresholds || {}), 1e-9) * 1.1;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / vmax) * (H - T - B);
  svg.appendChild(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  svg.appendChild(el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  for (const f of [0, 0.5, 1]) {
    const v = vmax * f;
    svg.appendChild(el("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, v >= 10 ? v.toFixed(0) : v.toFixed(2)));
  }
  for (const t of [t0, (t0 + t1) / 2, t1]) {
    const iso = new Date(t * 1000).toISOString();
    const label = t1 - t0 > 2 * 86400 ? iso.slice(5, 10) : iso.slice(11, 16);  // days: MM-DD
    svg.appendChild(el("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, label));
  }
  const legend = document.createElement("div");
  legend.className = "legend";
  data.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
    svg.appendChild(el("path", { d, fill: "none", stroke: color, "stroke-width": 1.5 }));
    for (const p of s.points) {
      const dot = el("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, fill: color, class: "point" });
      dot.appendChild(el("title", {}, `${s.name}: ${p[1]} at ${new Date(p[0] * 1000).toISOString()}`));
      svg.appendChild(dot);
    }
    const thr = (data.thresholds || {})[s.name];
    if (thr) svg.appendChild(el("line", { x1: L, x2: W - R, y1: y(thr), y2: y(thr), stroke: color, "stroke-dasharray": "4 3", "stroke-width": 1 }));
    const item = document.createElement("span");
    item.style.color = color;
    item.textContent = s.name;
    legend.appendChild(item);
  });
  for (const a of data.alarms || []) {
    const m = el("path", { d: `M${x(a.t)},${y(a.value) - 10} l-5,-8 h10 z`, class: "alarm" });
    m.appendChild(el("title", {}, `alarm: ${a.series}`));
    svg.appendChild(m);
  }
  if (data.hidden) legend.appendChild(Object.assign(document.createElement("span"), { textContent: `(+${data.hidden} quieter series not drawn)` }));
  container.appendChild(legend);
}
window.drawChart = drawChart;
