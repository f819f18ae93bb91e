"use strict";
// Shared by the map page (app.js) and the mobility page (mobility.js); loaded before them.

// h("div", {class: "row", style: {background: c}, dataset: {det: id}}, "text", node, …): a DOM
// element whose text children become text nodes (so "<img onerror=…>" stays text).
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "style") Object.assign(node.style, value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
