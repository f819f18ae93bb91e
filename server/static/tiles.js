// voirie map page, large networks: sections as vector tiles (/tiles/{z}/{x}/{y}.mvt) instead
// of one GeoJSON, past the server's map_tiles_from_sections. Below zoom 13 the tiles hold
// sections merged along their road ("pieces", no section_id; app.js zooms in on a click).
// The filter form is applied in the page, on the properties the tiles carry.
"use strict";

function tileFilter(form) {
  const values = Object.fromEntries(new FormData(form));
  const tests = [];
  const number = (name, op, value) => tests.push(["all", ["has", name], [op, ["to-number", ["get", name]], Number(value)]]);
  const text = (name, op, value) => tests.push(["all", ["has", name], [op, ["to-string", ["get", name]], value]]);
  if (values.grade_min) number("grade", ">=", values.grade_min);
  if (values.grade_max) number("grade", "<=", values.grade_max);
  // Tiles list a section's damage classes as "|a|b|": one class is a substring test.
  if (values.damage_class) tests.push(["in", "|" + values.damage_class + "|", ["to-string", ["get", "damage_classes"]]]);
  if (values.surveyed_from) text("surveyed_at", ">=", values.surveyed_from);
  if (values.surveyed_to) text("surveyed_at", "<=", values.surveyed_to);
  return tests.length ? ["all", ...tests] : null;
}

function tileSource(extent) {
  // Absolute URL: tiles are fetched from MapLibre's worker, which has no page base URL.
  return { type: "vector", tiles: [window.location.origin + extent.tiles], minzoom: 0, maxzoom: 16 };
}

// Adds the tiled sections ("sections" and "selected" layers, as the GeoJSON mode has), below
// the layer ``before`` when given (the planned works stay on top).
function addTileSections(map, extent, paint, before) {
  map.addSource("sections", tileSource(extent));
  map.addLayer({ id: "sections", type: "line", source: "sections", "source-layer": "sections",
    layout: { "line-cap": "round", "line-join": "round" }, paint }, before);
  map.addLayer({ id: "selected", type: "line", source: "sections", "source-layer": "sections",
    filter: ["==", ["get", "section_id"], ""], paint: { "line-color": "#1565c0", "line-width": 3, "line-gap-width": 8 } });
}

// Damage classes of the features loaded so far (tiles have no global list).
function tileDamageClasses(map) {
  const names = new Set();
  for (const f of map.querySourceFeatures("sections", { sourceLayer: "sections" })) {
    for (const name of String(f.properties.damage_classes || "").split("|")) if (name) names.add(name);
  }
  return names;
}

// After a review the grades change: fetch the tiles again (the ETag tells the browser which).
function reloadTiles(map, extent) {
  map.getSource("sections").setTiles(tileSource(extent).tiles);
}
