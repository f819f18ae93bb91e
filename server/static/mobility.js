// voirie mobility page: counting cameras on a map and, per camera and line, the series,
// profiles, daily totals, bike share, before/after and uptime, drawn as SVG from the counts
// API (no chart library, no CDN). Every value from the server goes into the page as text or
// as an SVG attribute through h()/s() (DOM nodes, never innerHTML): camera and line ids come
// from devices and must never be read as markup.
"use strict";

// Telraam report key, class name in bins, colour.
const CLASSES = [["car", "car", "#1f77b4"], ["heavy", "truck_bus", "#8c564b"], ["bike", "bicycle", "#2ca02c"],
                 ["motorcycle", "motorcycle", "#ff7f0e"], ["pedestrian", "pedestrian", "#9467bd"]];
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const HOUR_MS = 3600e3, DAY_MS = 24 * HOUR_MS;
const state = { cameras: [], map: null };

function authHeaders() {
  const key = document.getElementById("apikey").value;
  return key ? { Authorization: "Bearer " + key } : {};
}

async function api(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status + " " + (await response.text()));
  return response.json();
}

function s(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) node.append(child instanceof Node ? child : String(child));
  return node;
}

function fill(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

function query(params) {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") out.set(k, v);
  return out.toString();
}

// ---- charts ---------------------------------------------------------------------------------

const W = 600, H = 170, LEFT = 36, BOTTOM = 18, TOP = 6, RIGHT = 6;

function axes(xs, top, label) {
  const out = [];
  for (const v of [0, top / 2, top]) {
    const y = yOf(v, top);
    out.push(s("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, stroke: "#eee" }),
             s("text", { x: LEFT - 3, y: y + 3, "text-anchor": "end" }, formatNumber(v)));
  }
  const step = Math.max(1, Math.ceil(xs.length / 6));
  for (let i = 0; i < xs.length; i += step) {
    out.push(s("text", { x: xOf(i, xs.length), y: H - 4, "text-anchor": "middle" }, label(xs[i])));
  }
  return out;
}

function xOf(i, n) { return LEFT + (i + 0.5) * (W - LEFT - RIGHT) / n; }
function yOf(v, top) { return H - BOTTOM - (v / top) * (H - BOTTOM - TOP); }
function formatNumber(v) { return v >= 10 ? String(Math.round(v)) : String(Math.round(v * 10) / 10); }

// series: [{label, colour, values}] with one value per x (null: not watched, drawn as a gap).
function lineChart(id, xs, series, label) {
  if (!xs.length) return fill(id, h("p", { class: "muted" }, "no data"));
  const top = Math.max(1, ...series.flatMap((se) => se.values.filter((v) => v !== null)));
  const paths = series.map((se) => {
    let d = "", pen = "M";
    se.values.forEach((v, i) => {
      if (v === null) { pen = "M"; return; }
      d += `${pen}${xOf(i, xs.length).toFixed(1)},${yOf(v, top).toFixed(1)} `;
      pen = "L";
    });
    return s("path", { d: d || "M0,0", fill: "none", stroke: se.colour, "stroke-width": 1.5, "data-series": se.label });
  });
  fill(id, s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, axes(xs, top, label), paths));
}

function barChart(id, xs, series, label, fixedTop) {
  if (!xs.length) return fill(id, h("p", { class: "muted" }, "no data"));
  const sums = xs.map((_, i) => series.reduce((t, se) => t + (se.values[i] || 0), 0));
  const top = fixedTop || Math.max(1, ...sums);
  const width = 0.8 * (W - LEFT - RIGHT) / xs.length;
  const bars = [];
  xs.forEach((_, i) => {
    let base = 0;
    for (const se of series) {
      const v = se.values[i] || 0;
      if (v > 0) bars.push(s("rect", { x: (xOf(i, xs.length) - width / 2).toFixed(1), y: yOf(base + v, top).toFixed(1),
        width: width.toFixed(1), height: (yOf(base, top) - yOf(base + v, top)).toFixed(1), fill: se.colour },
        s("title", {}, `${se.label} ${label(xs[i])}: ${formatNumber(v)}`)));
      base += v;
    }
  });
  fill(id, s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, axes(xs, top, label), bars));
}

const hourLabel = (t) => new Date(t).toLocaleString([], { month: "2-digit", day: "2-digit", hour: "2-digit" });
const dayLabel = (day) => day.slice(5);

// ---- panels ---------------------------------------------------------------------------------

function perClass(rows, value) {
  return CLASSES.map(([key, name, colour]) => ({ label: name, colour, values: rows.map((r) => value(r, key)) }));
}

function renderSeries(report) {
  const last = report.length ? Date.parse(report[report.length - 1].date) : 0;
  const week = report.filter((r) => Date.parse(r.date) > last - 7 * DAY_MS);
  lineChart("chart-15min", week.map((r) => Date.parse(r.date)), perClass(week, (r, k) => r[k]), hourLabel);
  const hours = new Map();  // hour start (ms) -> bins of that hour
  for (const r of report) {
    const hour = Math.floor(Date.parse(r.date) / HOUR_MS) * HOUR_MS;
    if (!hours.has(hour)) hours.set(hour, []);
    hours.get(hour).push(r);
  }
  const xs = [...hours.keys()].sort((a, b) => a - b);
  const sum = (bins, k) => (bins.some((b) => b[k] !== null) ? bins.reduce((t, b) => t + (b[k] || 0), 0) : null);
  lineChart("chart-hourly", xs, perClass(xs, (x, k) => sum(hours.get(x), k)), hourLabel);
  const uptime = xs.map((x) => hours.get(x).reduce((t, b) => t + b.uptime, 0) / hours.get(x).length);
  barChart("chart-uptime", xs, [{ label: "watched", colour: "#607d8b", values: uptime }], hourLabel, 1);
}

function renderProfile(profile) {
  const hours = [...Array(24).keys()];
  const of = (kind) => hours.map((hr) => profile.profiles[kind][hr] ?? profile.profiles[kind][String(hr)] ?? null);
  lineChart("chart-profile", hours, [{ label: "weekday", colour: "#1565c0", values: of("weekday") },
                                     { label: "weekend", colour: "#ef6c00", values: of("weekend") }], (hr) => `${hr}h`);
  const peak = (kind) => (profile.peak_hour[kind] ? `${profile.peak_hour[kind][0]}h (${profile.peak_hour[kind][1]}/h)` : "–");
  fill("peaks", `peak hour (${profile.tz}): weekday ${peak("weekday")}, weekend ${peak("weekend")}`);
  fill("bike-share", profile.bike_share === null ? "–" : `${(100 * profile.bike_share).toFixed(1)} %`);
}

function renderDaily(daily) {
  const days = [...new Set(daily.map((d) => d.day))].sort();
  const series = CLASSES.map(([, name, colour]) => ({ label: name, colour, values: days.map((day) =>
    daily.filter((d) => d.day === day && d.class_name === name).reduce((t, d) => t + d.count, 0)) }));
  barChart("chart-daily", days, series, dayLabel);
}

function changeCell(change) {
  if (change === null) return h("td", {}, "–");
  const text = `${change > 0 ? "+" : ""}${(100 * change).toFixed(1)} %`;
  return h("td", { class: change > 0 ? "up" : change < 0 ? "down" : "" }, text);
}

async function renderCompare() {
  const day = document.getElementById("change-day").value;
  const camera = selected();
  if (!day || !camera) return;
  const weeks = Math.max(1, Number(document.getElementById("change-weeks").value) || 4);
  const at = Date.parse(day + "T00:00:00Z");
  const iso = (t) => new Date(t).toISOString();
  const rows = await api("/api/v1/counts/compare?" + query({ ...camera,
    before_start: iso(at - weeks * 7 * DAY_MS), before_end: iso(at), after_start: iso(at), after_end: iso(at + weeks * 7 * DAY_MS) }));
  const table = h("table", { class: "compare" },
    h("tr", {}, h("th", {}, "class"), h("th", {}, "before / day"), h("th", {}, "after / day"), h("th", {}, "change")),
    rows.map((r) => h("tr", { dataset: { class: r.class_name } }, h("td", {}, r.class_name),
      h("td", { class: "before" }, String(r.before_per_day)), h("td", { class: "after" }, String(r.after_per_day)),
      changeCell(r.change))));
  const hours = rows.length ? `watched ${rows[0].before_hours} h before, ${rows[0].after_hours} h after (UTC days)` : "no data";
  fill("compare", table, h("p", { class: "muted" }, hours));
  window.voirieCompare = rows;
}

// ---- cameras and the map --------------------------------------------------------------------

function selected() {
  const camera_id = document.getElementById("camera").value;
  return camera_id ? { camera_id, line_id: document.getElementById("line").value } : null;
}

function fillLines(camera) {
  const lines = ["", ...camera.lines];
  fill("line", lines.map((id) => h("option", { value: id }, id || "all lines")));
}

async function renderCamera() {
  const camera = selected();
  if (!camera) return fill("status", "no counting camera has sent bins yet");
  document.getElementById("csv").setAttribute("href", "/api/v1/counts/export.csv?" + query(camera));
  const info = state.cameras.find((c) => c.camera_id === camera.camera_id);
  const start = info && info.last_bin_utc ? new Date(Date.parse(info.last_bin_utc) - 27 * DAY_MS).toISOString() : "";
  const [traffic, profile, daily] = await Promise.all([
    api("/api/v1/counts/traffic?" + query({ ...camera, start })),
    api("/api/v1/counts/profile?" + query({ ...camera, tz: TZ })),
    api("/api/v1/counts/daily?" + query({ ...camera, tz: TZ }))]);
  renderSeries(traffic.report);
  renderProfile(profile);
  renderDaily(daily);
  await renderCompare();
  fill("status", `${camera.camera_id}${camera.line_id ? " / " + camera.line_id : ""}: ${traffic.report.length} bins in the last 4 weeks`);
  window.voirieMobilityCamera = camera.camera_id + "/" + camera.line_id;
}

function cameraGeojson() {
  return { type: "FeatureCollection", features: state.cameras.filter((c) => c.lat !== null).map((c) => ({
    type: "Feature", geometry: { type: "Point", coordinates: [c.lon, c.lat] },
    properties: { camera_id: c.camera_id, name: c.name || c.camera_id } })) };
}

function chooseCamera(cameraId) {
  document.getElementById("camera").value = cameraId;
  fillLines(state.cameras.find((c) => c.camera_id === cameraId));
  return renderCamera();
}

// The surveyed streets, grey, for orientation (none when the server has no sections yet).
async function addStreets(map) {
  const streets = await api("/api/v1/sections.geojson").catch(() => null);
  if (!streets || !streets.features.length) return;
  map.addSource("streets", { type: "geojson", data: streets });
  map.addLayer({ id: "streets", type: "line", source: "streets", paint: { "line-color": "#90a4ae", "line-width": 3 } });
}

async function startMap() {
  const config = await api("/api/v1/map-config");
  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0ea" } }] };
  if (config.tile_url) {
    style.sources.basemap = { type: "raster", tiles: [config.tile_url], tileSize: 256, attribution: config.tile_attribution || "" };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  const data = cameraGeojson();
  const map = new maplibregl.Map({ container: "map", style, center: [2.35, 48.85], zoom: 12 });
  state.map = window.voirieMobilityMap = map;
  await new Promise((resolve) => map.on("load", resolve));
  await addStreets(map);
  map.addSource("cameras", { type: "geojson", data });
  map.addLayer({ id: "cameras", type: "circle", source: "cameras",
                 paint: { "circle-radius": 7, "circle-color": "#2ca02c", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
  if (data.features.length) {
    const xs = data.features.map((f) => f.geometry.coordinates[0]), ys = data.features.map((f) => f.geometry.coordinates[1]);
    map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 60, maxZoom: 15, duration: 0 });
  }
  map.on("click", "cameras", (e) => chooseCamera(e.features[0].properties.camera_id).catch(showError));
  window.voirieCamerasOnMap = data.features.length;
  const unplaced = state.cameras.filter((c) => c.lat === null).map((c) => c.camera_id);
  if (unplaced.length) fill("unplaced", `not on the map yet (an admin places them: PUT /api/v1/counts/cameras/{id}): ${unplaced.join(", ")}`);
}

function showError(error) {
  fill("status", "error: " + error.message);
  console.error(error);
}

async function main() {
  state.cameras = await api("/api/v1/counts/cameras");
  fill("camera", state.cameras.map((c) => h("option", { value: c.camera_id }, c.name ? `${c.name} (${c.camera_id})` : c.camera_id)));
  fill("legend", CLASSES.map(([, name, colour]) => h("span", {}, h("span", { class: "swatch", style: { background: colour } }), " ", name)));
  if (state.cameras.length) fillLines(state.cameras[0]);
  document.getElementById("camera").addEventListener("change", (e) => chooseCamera(e.target.value).catch(showError));
  document.getElementById("line").addEventListener("change", () => renderCamera().catch(showError));
  document.getElementById("compare-form").addEventListener("submit", (e) => { e.preventDefault(); renderCompare().catch(showError); });
  await startMap().catch((error) => console.error("map:", error));  // the charts work without WebGL
  await renderCamera();
  window.voirieMobilityReady = true;
}

main().catch(showError);
