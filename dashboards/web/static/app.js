// The dashboard's small amount of JavaScript: live alerts (server-sent events), camera refresh,
// charts, the POI form. Every request carries the session cookie; changes add X-Vigil-Request.
"use strict";
const HEADERS = { "X-Vigil-Request": "1" };

function fmtTime(ms) { return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19); }
function text(tag, value) { const node = document.createElement(tag); node.textContent = value; return node; }

function stampTimes(root) {
  for (const cell of root.querySelectorAll("td.ts[data-ms]")) cell.textContent = fmtTime(cell.dataset.ms);
}

function alertRow(a, count) {
  const row = document.createElement("tr");
  row.dataset.incident = a.incident_id;
  row.className = `sev-${a.severity} fresh`;
  const ts = text("td", fmtTime(a.alert_ts_ms));
  ts.className = "ts";
  ts.dataset.ms = a.alert_ts_ms;
  const cnt = text("td", String(count));
  cnt.className = "count";
  const snap = document.createElement("td");
  if (a.frame_url) {  // a signed, short-lived URL from the server: ids alone open nothing
    const img = document.createElement("img");
    img.className = "snap";
    img.alt = "snapshot";
    img.src = a.frame_url;
    img.onerror = () => img.remove();
    snap.appendChild(img);
  }
  row.append(ts, text("td", a.severity), text("td", a.rule_id), text("td", a.camera_id),
    text("td", `${a.label} ${Number(a.score).toFixed(2)}`), text("td", a.poi_id || ""), cnt, snap);
  return row;
}

function liveAlerts() {
  const body = document.getElementById("incidents");
  if (!body) return;
  stampTimes(body);
  // snapshots whose frame is no longer (or never was) in memory: no broken-image icons
  for (const img of body.querySelectorAll("img.snap")) {
    if (img.complete && img.naturalWidth === 0) img.remove();
    else img.onerror = () => img.remove();
  }
  const status = document.getElementById("live-status");
  const source = new EventSource("/dashboard/api/alerts/stream");
  source.onopen = () => { status.textContent = "live"; };
  source.onerror = () => { status.textContent = "reconnecting…"; };
  source.addEventListener("alert", (event) => {
    const a = JSON.parse(event.data);
    const old = body.querySelector(`tr[data-incident="${CSS.escape(a.incident_id)}"]`);
    const count = old ? Number(old.querySelector(".count").textContent) + 1 : 1;
    if (old) old.remove();
    body.prepend(alertRow(a, count));
  });
}

async function refreshCameras() {
  const grid = document.getElementById("camera-grid");
  if (!grid) return;
  const resp = await fetch("/dashboard/api/cameras");
  if (!resp.ok) return;
  const { cameras } = await resp.json();
  for (const cam of cameras) {
    const fig = grid.querySelector(`figure[data-camera="${CSS.escape(cam.camera_id)}"]`);
    if (!fig) { location.reload(); return; }
    const state = fig.querySelector(".state");
    state.textContent = cam.state;
    state.className = `state state-${cam.state}`;
    fig.querySelector(".fps").textContent = cam.fps ? `${cam.fps.toFixed(1)} fps` : "– fps";
    fig.querySelector(".labels").textContent = Object.entries(cam.labels).map(([k, n]) => `${k}×${n}`).join(" ");
    const img = fig.querySelector("img");
    if (!img && cam.frame_url) { location.reload(); return; }
    if (img && cam.frame_url && img.dataset.frame !== cam.frame_id) {
      img.dataset.frame = cam.frame_id;
      img.src = cam.frame_url;  // signed for this session's role, short-lived
    }
  }
}

async function loadCharts() {
  const camera = document.getElementById("chart-camera");
  const minutes = document.getElementById("chart-minutes");
  if (!camera) return;
  for (const fig of document.querySelectorAll("figure.chart")) {
    const plot = fig.querySelector(".plot");
    const query = new URLSearchParams({ camera: camera.value, minutes: minutes.value });
    const resp = await fetch(`/dashboard/api/charts/${fig.dataset.chart}?${query}`);
    const data = await resp.json();
    if (!resp.ok) {
      window.drawChart(plot, { series: [], message: data.detail || data.error });
      fig.dataset.points = "0";
      continue;
    }
    window.drawChart(plot, data);
    fig.dataset.points = String(data.series.reduce((n, s) => n + s.points.length, 0));
  }
}

function poiPage() {
  const form = document.getElementById("enrol");
  if (!form) return;
  const message = document.getElementById("poi-message");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = document.getElementById("person-id").value;
    const name = document.getElementById("person-name").value;
    const data = new FormData();
    for (const file of document.getElementById("person-files").files) data.append("file", file);
    const query = new URLSearchParams({ person_id: id });
    if (name) query.set("name", name);
    message.textContent = "enrolling…";
    const resp = await fetch(`/dashboard/api/poi?${query}`, { method: "POST", body: data, headers: HEADERS });
    const body = await resp.json();
    if (resp.ok) { location.reload(); return; }
    message.textContent = `refused (${resp.status}): ${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)}`;
  });
  for (const button of document.querySelectorAll("button.remove")) {
    button.addEventListener("click", async () => {
      const resp = await fetch(`/dashboard/api/poi/${encodeURIComponent(button.dataset.person)}`, { method: "DELETE", headers: HEADERS });
      if (resp.ok) location.reload();
      else message.textContent = `remove refused (${resp.status})`;
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/dashboard/logout", { method: "POST", headers: HEADERS });
    location.href = "/dashboard/login";
  });
  liveAlerts();
  poiPage();
  loadCharts();
  for (const id of ["chart-camera", "chart-minutes"]) {
    const node = document.getElementById(id);
    if (node) node.addEventListener("change", loadCharts);
  }
  if (document.getElementById("camera-grid")) {
    setInterval(refreshCameras, 5000);
    setInterval(loadCharts, 30000);
  }
});
