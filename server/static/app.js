// voirie map page: sections coloured by grade (MapLibre GL JS, served locally, no CDN).
// Works offline on a plain background; a raster tile URL can be configured on the server.
// window.VOIRIE_EMBED (standalone snapshot) holds API answers keyed by path.
"use strict";

const state = { map: null, config: null, colours: [], selected: null };

async function api(path, options) {
  const embed = window.VOIRIE_EMBED;
  if (embed) {
    const key = path.split("?")[0];
    if (!(key in embed)) throw new Error("not in snapshot: " + key);
    return embed[key];
  }
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(path + ": HTTP " + response.status + " " + (await response.text()));
  return response.json();
}

function gradeColour(grade) {
  if (grade === null || grade === undefined) return "#9e9e9e";
  return state.colours[Math.min(7, Math.max(0, Math.floor((grade - 1) / 0.5)))];
}

function colourExpression() {
  // One colour per 0.5 grade step; unsurveyed sections grey.
  const step = ["step", ["to-number", ["get", "grade"]], state.colours[0]];
  for (let i = 1; i < 8; i++) step.push(1 + 0.5 * i, state.colours[i]);
  return ["case", ["==", ["typeof", ["get", "grade"]], "number"], step, "#9e9e9e"];
}

function baseStyle(config) {
  const style = { version: 8, sources: {}, layers: [
    { id: "background", type: "background", paint: { "background-color": "#eef0ea" } }] };
  if (config.tile_url) {
    style.sources.basemap = { type: "raster", tiles: [config.tile_url], tileSize: 256,
                              attribution: config.tile_attribution || "" };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  return style;
}

function bounds(geojson) {
  let b = [180, 90, -180, -90];
  for (const f of geojson.features) for (const [x, y] of f.geometry.coordinates) {
    b = [Math.min(b[0], x), Math.min(b[1], y), Math.max(b[2], x), Math.max(b[3], y)];
  }
  return b;
}

function filterQuery() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(document.getElementById("filters"))) if (v) params.set(k, v);
  return params.toString();
}

async function loadSections(fit) {
  const query = filterQuery();
  const geojson = await api("/api/v1/sections.geojson" + (query ? "?" + query : ""));
  const source = state.map.getSource("sections");
  if (source) source.setData(geojson);
  else {
    state.map.addSource("sections", { type: "geojson", data: geojson, promoteId: "section_id" });
    state.map.addLayer({ id: "sections", type: "line", source: "sections",
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": colourExpression(), "line-width": ["interpolate", ["linear"], ["zoom"], 12, 3, 18, 10] } });
    state.map.addLayer({ id: "selected", type: "line", source: "sections", filter: ["==", ["get", "section_id"], ""],
      paint: { "line-color": "#1565c0", "line-width": 3, "line-gap-width": 8 } });
    state.map.on("click", "sections", (e) => showSection(e.features[0].id || e.features[0].properties.section_id));
    state.map.on("mouseenter", "sections", () => { state.map.getCanvas().style.cursor = "pointer"; });
    state.map.on("mouseleave", "sections", () => { state.map.getCanvas().style.cursor = ""; });
  }
  if (fit && geojson.features.length) state.map.fitBounds(bounds(geojson), { padding: 40, duration: 0 });
  fillDamageClasses(geojson);
  window.voirieSectionsRendered = geojson.features.length;
  return geojson;
}

function fillDamageClasses(geojson) {
  const select = document.querySelector("select[name=damage_class]");
  const known = new Set([...select.options].map((o) => o.value));
  for (const f of geojson.features) for (const name of Object.keys(f.properties.damage || {})) {
    if (!known.has(name)) { select.add(new Option(name, name)); known.add(name); }
  }
}

function renderLegend() {
  const items = state.colours.map((c, i) =>
    `<div class="legend-row"><span class="swatch" style="background:${c}"></span>${(1 + 0.5 * i).toFixed(1)}–${(1.5 + 0.5 * i).toFixed(1)}</div>`);
  items.push('<div class="legend-row"><span class="swatch" style="background:#9e9e9e"></span>not surveyed</div>');
  document.getElementById("legend-items").innerHTML =
    '<div class="muted">1 very good … 5 very poor</div>' + items.join("");
  for (const name of ["grade_min", "grade_max"]) {
    const select = document.querySelector(`select[name=${name}]`);
    for (let g = 1; g <= 5; g += 0.5) select.add(new Option(g.toFixed(1), g));
  }
}

async function renderSummary() {
  const s = await api("/api/v1/summary");
  const maxKm = Math.max(0.001, ...s.grade_steps.map((g) => g.km));
  const maxN = Math.max(1, ...s.pci_histogram.map((h) => h.sections));
  const steps = s.grade_steps.map((g) => `<div class="bar-row"><span class="swatch" style="background:${g.colour}"></span>
      <span class="bar" style="width:${(150 * g.km) / maxKm}px;background:${g.colour}"></span>${g.km.toFixed(2)} km</div>`);
  const hist = s.pci_histogram.map((h) => `<div class="bar-row"><span style="width:52px">${h.from}–${h.to}</span>
      <span class="bar" style="width:${(150 * h.sections) / maxN}px"></span>${h.sections}</div>`);
  document.getElementById("summary-body").innerHTML =
    `<div>${s.surveyed_km} of ${s.network_km} km surveyed · ${s.surveyed_sections}/${s.sections} sections ·
     mean PCI ${s.mean_pci ?? "–"}</div><h2>km per grade</h2>${steps.join("")}<h2>PCI histogram (sections)</h2>${hist.join("")}`;
}

async function renderStreets() {
  const streets = (await api("/api/v1/streets")).sort((a, b) => b.grade - a.grade).slice(0, 10);
  document.getElementById("streets-body").innerHTML = streets.map((s) =>
    `<div class="legend-row"><span class="swatch" style="background:${gradeColour(s.grade)}"></span>
     ${escapeHtml(s.street)} · grade ${s.grade} · PCI ${s.pci} · ${(s.length_m / 1000).toFixed(2)} km</div>`).join("")
    || '<span class="muted">no graded street yet</span>';
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function photoHtml(frame) {
  const boxes = frame.detections.map((d) => {
    const [x1, y1, x2, y2] = d.box_xyxy, W = frame.image_width, H = frame.image_height;
    return `<div class="box ${d.review_status}" style="left:${(100 * x1) / W}%;top:${(100 * y1) / H}%;width:${(100 * (x2 - x1)) / W}%;height:${(100 * (y2 - y1)) / H}%">
      <span>${escapeHtml(d.reviewed_class || d.class_name)} ${d.confidence.toFixed(2)}</span></div>`;
  }).join("");
  const img = frame.evidence_url && !window.VOIRIE_EMBED ? `<img src="${frame.evidence_url}" alt="blurred evidence ${frame.record_id}" loading="lazy">` : "";
  return img ? `<div class="photo">${img}${boxes}</div>` : "";
}

function detectionList(frame) {
  // A static snapshot cannot write: review buttons only on the live server.
  const buttons = (d) => window.VOIRIE_EMBED ? "" : ["confirm", "relabel", "reject"].map((a) =>
    `<button data-det="${d.detection_id}" data-action="${a}">${a}</button>`).join(" ");
  return frame.detections.map((d) => `<li>${escapeHtml(d.reviewed_class || d.class_name)} · conf ${d.confidence.toFixed(2)} ·
      <em>${d.review_status}</em> ${buttons(d)}</li>`).join("");
}

async function showSection(sectionId) {
  const s = await api("/api/v1/sections/" + encodeURIComponent(sectionId));
  state.selected = sectionId;
  state.map.setFilter("selected", ["==", ["get", "section_id"], sectionId]);
  const damage = Object.entries(s.damage || {}).map(([k, v]) => `${escapeHtml(k)} × ${v}`).join(", ") || "none";
  const history = s.history.map((h) => `${h.surveyed_at.slice(0, 10)}: grade ${h.grade} (PCI ${h.pci})`).join("<br>");
  const frames = s.frame_records.filter((f) => f.detections.length || f.evidence_url).map((f) =>
    `${photoHtml(f)}<ul class="dets">${detectionList(f)}</ul>`).join("");
  document.getElementById("details").innerHTML = `<h2>Section ${escapeHtml(s.section_id)}</h2>
    <div><span class="grade-badge" style="background:${gradeColour(s.grade)}">${s.grade ?? "–"}</span> PCI <b>${s.pci ?? "–"}</b></div>
    <table class="kv"><tr><td>street</td><td>${escapeHtml(s.street) || "–"} ${escapeHtml(s.road_class)}</td></tr>
    <tr><td>length</td><td>${s.length_m} m × ${s.width_m} m</td></tr>
    <tr><td>confidence</td><td>${s.confidence ?? "–"}</td></tr><tr><td>model</td><td>${escapeHtml(s.model_version) || "–"}</td></tr>
    <tr><td>surveyed</td><td>${s.surveyed_at ? s.surveyed_at.slice(0, 16).replace("T", " ") : "never"} (${s.frames} frames)</td></tr>
    <tr><td>damage</td><td>${damage}</td></tr><tr><td>history</td><td>${history || "–"}</td></tr></table>${frames}`;
  window.voirieSelectedSection = sectionId;
}

async function review(detectionId, action) {
  const key = document.getElementById("apikey").value;
  const body = { action };
  if (action === "relabel") {
    body.new_class = prompt("New class for this detection:");
    if (!body.new_class) return;
  }
  await api(`/api/v1/detections/${encodeURIComponent(detectionId)}/review`, {
    method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + key } });
  await loadSections(false);
  await renderSummary();
  await renderStreets();
  await showSection(state.selected);
}

// "Planned works by year": the latest approved plan, else the latest one (the list is newest first).
const WORK_YEAR_COLOURS = ["#ffd600", "#ff9100", "#f50057", "#aa00ff", "#304ffe", "#00b8d4", "#00c853", "#6d4c41", "#546e7a", "#000000"];

async function latestPlan() {
  let plans;
  try { plans = await api("/api/v1/plans"); } catch (err) { return null; }  // snapshot or no access
  return plans.find((p) => p.status === "approved") || plans[0] || null;
}

function worksColour() {
  const cases = WORK_YEAR_COLOURS.flatMap((colour, i) => [i + 1, colour]);
  return ["match", ["get", "year"], ...cases, "#000000"];
}

function renderWorksLegend(geojson) {
  const byYear = new Map();
  for (const f of geojson.features) {
    const row = byYear.get(f.properties.year) || { calendar: f.properties.calendar_year, n: 0, cost: 0 };
    row.n += 1; row.cost += f.properties.cost_eur;
    byYear.set(f.properties.year, row);
  }
  document.getElementById("works-legend-items").innerHTML = [...byYear.entries()].sort((a, b) => a[0] - b[0])
    .map(([year, row]) => `<div class="legend-row"><span class="swatch" style="background:${WORK_YEAR_COLOURS[(year - 1) % 10]}"></span>` +
      `${row.calendar}: ${row.n} works, ${Math.round(row.cost).toLocaleString()} €</div>`).join("")
    || '<p class="muted">no works in this scenario</p>';
}

async function loadWorks() {
  const plan = await latestPlan();
  if (!plan) return;
  const geojson = await api(`/api/v1/plans/${encodeURIComponent(plan.plan_id)}/works.geojson`);
  state.map.addSource("works", { type: "geojson", data: geojson });
  state.map.addLayer({ id: "works", type: "line", source: "works", layout: { visibility: "none", "line-cap": "round" },
    paint: { "line-color": worksColour(), "line-width": 4, "line-offset": 7, "line-dasharray": [2, 1] } }, "selected");
  document.getElementById("works-plan").textContent = `(${plan.status}, ${geojson.properties.scenario})`;
  renderWorksLegend(geojson);
  document.getElementById("works-toggle").hidden = false;
  document.getElementById("show-works").addEventListener("change", (e) => {
    state.map.setLayoutProperty("works", "visibility", e.target.checked ? "visible" : "none");
    document.getElementById("works-legend").hidden = !e.target.checked;
  });
  window.voirieWorksRendered = geojson.features.length;
}

async function main() {
  state.config = await api("/api/v1/map-config");
  state.colours = state.config.grade_colours;
  renderLegend();
  state.map = new maplibregl.Map({ container: "map", style: baseStyle(state.config), center: [2.35, 48.85],
                                   zoom: 13, attributionControl: { compact: true } });
  window.voirieMap = state.map;
  state.map.addControl(new maplibregl.NavigationControl(), "top-left");
  state.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }));
  state.map.on("load", async () => {
    await loadSections(true);
    await renderSummary();
    await renderStreets();
    await loadWorks().catch((err) => console.error("planned works layer:", err));
    // The map may already be idle after the awaits above, and "idle" only fires after a
    // render: ask for one so readiness is always signalled (snapshots wait on it).
    state.map.once("idle", () => { window.voirieReady = true; });
    state.map.triggerRepaint();
  });
  document.getElementById("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    loadSections(false).catch((err) => { document.getElementById("summary-body").textContent = "error: " + err.message; console.error(err); });
  });
  document.getElementById("details").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-det]");
    if (button) review(button.dataset.det, button.dataset.action).catch((err) => alert(err.message));
  });
}

main().catch((error) => {
  document.getElementById("summary-body").textContent = "error: " + error.message;
  console.error(error);
});
