// voirie map page: sections coloured by grade (MapLibre GL JS, served locally, no CDN).
// Works offline on a plain background; a raster tile URL can be configured on the server.
// window.VOIRIE_EMBED (standalone snapshot) holds API answers keyed by path.
// Every value from the server is inserted as text through h() (DOM nodes, never innerHTML):
// ids, names and labels come from devices and must never be read as markup.
"use strict";

const state = { map: null, config: null, colours: [], selected: null, extent: null, tiles: false };

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

function fill(id, ...children) {
  document.getElementById(id).replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

function swatch(colour) {
  return h("span", { class: "swatch", style: { background: colour } });
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

function sectionsPaint() {
  return { "line-color": colourExpression(), "line-width": ["interpolate", ["linear"], ["zoom"], 12, 3, 18, 10] };
}

// Past map_tiles_from_sections the sections come as vector tiles (tiles.js), filtered in the
// page; a re-analysis (model selector) is drawn from its own GeoJSON, as on a small network.
function wantsTiles() {
  return state.tiles && !new FormData(document.getElementById("filters")).get("model");
}

// Switching between GeoJSON and tiles: the layers go with their source (handlers stay: they
// are bound to the layer id once, in main()).
function dropSections(kind) {
  const source = state.map.getSource("sections");
  if (!source || source.type === kind) return Boolean(source);
  for (const id of ["selected", "sections"]) if (state.map.getLayer(id)) state.map.removeLayer(id);
  state.map.removeSource("sections");
  return false;
}

async function loadTiledSections(fit) {
  if (dropSections("vector")) reloadTiles(state.map, state.extent);
  else addTileSections(state.map, state.extent, sectionsPaint(), state.map.getLayer("works") ? "works" : undefined);
  state.map.setFilter("sections", tileFilter(document.getElementById("filters")));
  if (fit && state.extent.bbox) state.map.fitBounds(state.extent.bbox, { padding: 40, duration: 0 });
  window.voirieSectionsRendered = "tiles";
}

async function loadSections(fit) {
  if (wantsTiles()) return loadTiledSections(fit);
  const query = filterQuery();
  const geojson = await api("/api/v1/sections.geojson" + (query ? "?" + query : ""));
  if (dropSections("geojson")) state.map.getSource("sections").setData(geojson);
  else {
    const before = state.map.getLayer("works") ? "works" : undefined;
    state.map.addSource("sections", { type: "geojson", data: geojson, promoteId: "section_id" });
    state.map.addLayer({ id: "sections", type: "line", source: "sections",
      layout: { "line-cap": "round", "line-join": "round" }, paint: sectionsPaint() }, before);
    state.map.addLayer({ id: "selected", type: "line", source: "sections", filter: ["==", ["get", "section_id"], ""],
      paint: { "line-color": "#1565c0", "line-width": 3, "line-gap-width": 8 } });
  }
  if (fit && geojson.features.length) state.map.fitBounds(bounds(geojson), { padding: 40, duration: 0 });
  fillDamageClasses(new Set(geojson.features.flatMap((f) => Object.keys(f.properties.damage || {}))));
  window.voirieSectionsRendered = geojson.features.length;
  return geojson;
}

// One handler for both sources: a section opens; a merged piece of a low-zoom tile (no
// section_id) zooms in, since MapLibre draws tile zoom 13 (sections) at map zoom 14.
function listenToSections() {
  state.map.on("click", "sections", (e) => {
    const id = e.features[0].properties.section_id;
    if (id) showSection(id);
    else state.map.easeTo({ center: e.lngLat, zoom: Math.max(state.map.getZoom() + 2, 14) });
  });
  state.map.on("mouseenter", "sections", () => { state.map.getCanvas().style.cursor = "pointer"; });
  state.map.on("mouseleave", "sections", () => { state.map.getCanvas().style.cursor = ""; });
  state.map.on("idle", () => { if (wantsTiles()) fillDamageClasses(tileDamageClasses(state.map)); });
}

// Typed damage classes (RDD codes) and how the PCI counts them (ASTM D6433 distress).
const DAMAGE_TYPES = {
  crack_longitudinal: "longitudinal crack (D00) · length",
  crack_transverse: "transverse crack (D10) · length",
  crack_alligator: "alligator cracking (D20) · area",
  pothole: "pothole (D40) · count",
  patch: "patch (Repair) · area",
  crack: "crack, type unknown · length",
};

function damageLabel(name) {
  return DAMAGE_TYPES[name] || name;
}

function fillDamageClasses(names) {
  const select = document.querySelector("select[name=damage_class]");
  const known = new Set([...select.options].map((o) => o.value));
  for (const name of names) {
    if (!known.has(name)) { select.add(new Option(damageLabel(name), name)); known.add(name); }
  }
  const types = [...known].filter((name) => name);
  fill("damage-legend-items", types.length
    ? types.map((name) => h("div", { class: "legend-row" }, damageLabel(name)))
    : h("p", { class: "muted" }, "no damage found yet"));
}

function renderLegend() {
  const rows = state.colours.map((c, i) =>
    h("div", { class: "legend-row" }, swatch(c), `${(1 + 0.5 * i).toFixed(1)}–${(1.5 + 0.5 * i).toFixed(1)}`));
  rows.push(h("div", { class: "legend-row" }, swatch("#9e9e9e"), "not surveyed"));
  fill("legend-items", h("div", { class: "muted" }, "1 very good … 5 very poor"), rows);
  for (const name of ["grade_min", "grade_max"]) {
    const select = document.querySelector(`select[name=${name}]`);
    for (let g = 1; g <= 5; g += 0.5) select.add(new Option(g.toFixed(1), g));
  }
}

async function renderSummary() {
  const s = await api("/api/v1/summary");
  const maxKm = Math.max(0.001, ...s.grade_steps.map((g) => g.km));
  const maxN = Math.max(1, ...s.pci_histogram.map((h) => h.sections));
  const bar = (width, colour) => h("span", { class: "bar", style: { width: `${width}px`, background: colour } });
  const steps = s.grade_steps.map((g) => h("div", { class: "bar-row" }, swatch(g.colour),
    bar((150 * g.km) / maxKm, g.colour), `${Number(g.km).toFixed(2)} km`));
  const hist = s.pci_histogram.map((b) => h("div", { class: "bar-row" },
    h("span", { style: { width: "52px" } }, `${b.from}–${b.to}`), bar((150 * b.sections) / maxN), String(b.sections)));
  fill("summary-body", h("div", {}, `${s.surveyed_km} of ${s.network_km} km graded (surveyed or inspected) · ` +
    `${s.surveyed_sections}/${s.sections} sections · mean PCI ${s.mean_pci ?? "–"}`),
    h("h2", {}, "km per grade"), steps, h("h2", {}, "PCI histogram (sections)"), hist);
}

async function renderStreets() {
  const streets = (await api("/api/v1/streets")).sort((a, b) => b.grade - a.grade).slice(0, 10);
  const rows = streets.map((s) => h("div", { class: "legend-row" }, swatch(gradeColour(s.grade)),
    `${s.street} · grade ${s.grade} · PCI ${s.pci} · ${(s.length_m / 1000).toFixed(2)} km`));
  fill("streets-body", rows.length ? rows : h("span", { class: "muted" }, "no graded street yet"));
}

// Evidence photos may need a viewer key (photos_public false): fetched with the key from the
// page and shown from a blob: URL, so the key never goes into a URL or an attribute.
async function loadPhoto(img, url) {
  const key = document.getElementById("apikey").value;
  if (state.config.photos_public) { img.src = url; return; }
  if (!key) { img.replaceWith(h("p", { class: "muted" }, "photo: enter a viewer key to see it")); return; }
  const response = await fetch(url, { headers: { Authorization: "Bearer " + key } });
  if (!response.ok) { img.replaceWith(h("p", { class: "muted" }, `photo: HTTP ${response.status}`)); return; }
  img.src = URL.createObjectURL(await response.blob());
}

function photo(frame) {
  if (!frame.evidence_url || window.VOIRIE_EMBED) return null;
  const W = frame.image_width, H = frame.image_height;
  const boxes = frame.detections.map((d) => {
    const [x1, y1, x2, y2] = d.box_xyxy;
    return h("div", { class: `box ${d.review_status}`, style: { left: `${(100 * x1) / W}%`, top: `${(100 * y1) / H}%`,
                                                               width: `${(100 * (x2 - x1)) / W}%`, height: `${(100 * (y2 - y1)) / H}%` } },
      h("span", {}, `${d.reviewed_class || d.class_name} ${Number(d.confidence).toFixed(2)}`));
  });
  const img = h("img", { alt: `blurred evidence ${frame.record_id}`, loading: "lazy" });
  loadPhoto(img, frame.evidence_url).catch((err) => console.error("evidence photo:", err));
  return h("div", { class: "photo" }, img, boxes);
}

function detectionList(frame) {
  // A static snapshot cannot write: review buttons only on the live server.
  const buttons = (d) => window.VOIRIE_EMBED ? [] : ["confirm", "relabel", "reject"].map((a) =>
    [h("button", { dataset: { det: d.detection_id, action: a } }, a), " "]);
  return h("ul", { class: "dets" }, frame.detections.map((d) => h("li", {},
    `${d.reviewed_class || d.class_name} · conf ${Number(d.confidence).toFixed(2)} · `,
    h("em", {}, d.review_status), " ", buttons(d))));
}

function row(label, ...value) {
  return h("tr", {}, h("td", {}, label), h("td", {}, ...value));
}

async function showSection(sectionId) {
  const s = await api("/api/v1/sections/" + encodeURIComponent(sectionId));
  state.selected = sectionId;
  state.map.setFilter("selected", ["==", ["get", "section_id"], sectionId]);
  const damage = Object.entries(s.damage || {}).map(([k, v]) => `${k} × ${v}`).join(", ") || "none";
  const history = s.history.map((x) => [`${x.surveyed_at.slice(0, 10)}: grade ${x.grade} (PCI ${x.pci})`, h("br")]);
  const frames = s.frame_records.filter((f) => f.detections.length || f.evidence_url)
    .map((f) => [photo(f), detectionList(f)]);
  const surveyed = s.surveyed_at ? s.surveyed_at.slice(0, 16).replace("T", " ") : "never";
  fill("details", h("h2", {}, `Section ${s.section_id}`),
    h("div", {}, h("span", { class: "grade-badge", style: { background: gradeColour(s.grade) } }, s.grade ?? "–"),
      " PCI ", h("b", {}, s.pci ?? "–")),
    h("table", { class: "kv" },
      row("street", `${s.street || "–"} ${s.road_class || ""}`), row("length", `${s.length_m} m × ${s.width_m} m`),
      row("confidence", s.confidence ?? "–"), row("model", s.model_version || "–"),
      row("surveyed", `${surveyed} (${s.frames} frames)`), row("damage", damage),
      row("history", history.length ? history : "–"), row("by model", modelGrades(s.model_grades))),
    frames);
  window.voirieSelectedSection = sectionId;
}

// Re-analyses (voirie reanalyse): the map can show one model version's grades instead of the devices'.
async function loadModelVersions() {
  const versions = await api("/api/v1/model-versions").catch(() => []);  // a snapshot embeds none
  const select = document.querySelector("select[name=model]");
  for (const v of versions.filter((x) => x.source === "reanalysis")) {
    select.add(new Option(`${v.model} (${v.photos} photos)`, v.model));
  }
  document.getElementById("model-choice").hidden = select.options.length < 2;
  select.addEventListener("change", () => document.getElementById("filters").requestSubmit());
}

function modelGrades(grades) {
  if (!grades || !grades.length) return "–";
  return grades.map((g) => [`${g.model}: grade ${g.grade} (PCI ${g.pci})`, h("br")]);
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
    const entry = byYear.get(f.properties.year) || { calendar: f.properties.calendar_year, n: 0, cost: 0 };
    entry.n += 1; entry.cost += f.properties.cost_eur;
    byYear.set(f.properties.year, entry);
  }
  const rows = [...byYear.entries()].sort((a, b) => a[0] - b[0]).map(([year, entry]) =>
    h("div", { class: "legend-row" }, swatch(WORK_YEAR_COLOURS[(year - 1) % 10]),
      `${entry.calendar}: ${entry.n} works, ${Math.round(entry.cost).toLocaleString()} €`));
  fill("works-legend-items", rows.length ? rows : h("p", { class: "muted" }, "no works in this scenario"));
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
  // A snapshot has no tiles to fetch: it always embeds the GeoJSON.
  state.extent = window.VOIRIE_EMBED ? null : await api("/api/v1/map-extent");
  state.tiles = Boolean(state.extent && state.extent.sections > state.extent.tiles_from_sections);
  window.voirieTiles = state.tiles;
  renderLegend();
  state.map = new maplibregl.Map({ container: "map", style: baseStyle(state.config), center: [2.35, 48.85],
                                   zoom: 13, attributionControl: { compact: true } });
  window.voirieMap = state.map;
  state.map.addControl(new maplibregl.NavigationControl(), "top-left");
  state.map.addControl(new maplibregl.ScaleControl({ unit: "metric" }));
  state.map.on("load", async () => {
    listenToSections();
    await loadSections(true);
    await loadModelVersions();
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
