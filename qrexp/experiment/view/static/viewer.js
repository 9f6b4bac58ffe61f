// qrexp viewer: sortable tables and the per-query drill-down (token shading). No dependencies.
"use strict";
window.qrexpErrors = [];
window.addEventListener("error", (e) => {
  window.qrexpErrors.push(String(e.message));
  document.body.dataset.errors = window.qrexpErrors.join(" | ");
});

function sortKey(cell) {
  if (!cell) return "";
  const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
  const num = parseFloat(raw);
  return raw !== "" && !isNaN(num) && isFinite(raw) ? num : raw.toLowerCase();
}

function makeSortable(table) {
  const heads = table.querySelectorAll("thead th");
  heads.forEach((th, col) => {
    th.classList.add("sortable");
    th.addEventListener("click", () => {
      const dir = th.dataset.dir === "desc" ? "asc" : "desc";
      heads.forEach((h) => delete h.dataset.dir);
      th.dataset.dir = dir;
      const body = table.tBodies[0];
      const groups = new Map();
      for (const tr of Array.from(body.rows)) {
        const g = tr.dataset.group || String(groups.size);
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(tr);
      }
      const list = Array.from(groups.values());
      const key = (rows) => sortKey((rows.find((r) => r.dataset.key === "1") || rows[0]).cells[col]);
      list.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === y) return 0;
        if (x === "") return 1;
        if (y === "") return -1;
        const c = typeof x === typeof y ? (x < y ? -1 : 1) : (typeof x === "number" ? -1 : 1);
        return dir === "asc" ? c : -c;
      });
      for (const rows of list) rows.forEach((r) => body.appendChild(r));
    });
  });
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.appendChild(c);
  return node;
}

function shade(value, scale) {
  if (!scale || !value) return "transparent";
  const a = Math.min(1, Math.abs(value) / scale).toFixed(3);
  return value > 0 ? `rgba(230, 120, 0, ${a})` : `rgba(40, 110, 200, ${a})`;
}

function renderRun(data, run, box) {
  box.textContent = "";
  const links = el("div", {class: "runlinks"},
    el("a", {href: `../../runs/${run.run_id}/config.json`, text: "config.json"}),
    document.createTextNode(" · "),
    el("a", {href: `../../runs/${run.run_id}/metrics.json`, text: "metrics.json"}));
  box.appendChild(el("h3", {text: run.label}));
  box.appendChild(el("div", {class: "small", text: run.run_id}));
  box.appendChild(links);
  const metrics = Object.entries(run.metrics).map(([k, v]) => `${k} ${(+v).toFixed(3)}`).join(", ");
  if (metrics) box.appendChild(el("div", {class: "small", text: `this query: ${metrics}`}));
  if (run.reason) box.appendChild(el("p", {class: "note", text: `No token shading: ${run.reason}.`}));
  const pieces = run.pieces ? data.pieces[run.pieces] : null;
  let scale = 0;
  for (const vals of Object.values(run.values || {})) for (const v of vals) scale = Math.max(scale, Math.abs(v));
  if (!run.ranking.length) box.appendChild(el("p", {class: "note", text: "This run has no ranking for this query."}));
  run.ranking.forEach(([docId, score], i) => {
    const grade = data.gold[docId];
    const doc = data.docs[docId] || {title: null, text: "(document not in the examples)"};
    const head = el("summary", {},
      el("span", {class: "rank", text: `#${i + 1}`}),
      el("span", {class: "docid", text: ` ${docId} `}),
      grade ? el("span", {class: "gold", text: grade > 1 ? `gold (${grade})` : "gold"}) : null,
      el("span", {class: "score", text: ` score ${(+score).toPrecision(4)}`}));
    const body = el("div", {class: "doctext"});
    const vals = run.values ? run.values[docId] : null;
    if (pieces && vals && pieces[docId]) {
      pieces[docId].forEach((p, t) => {
        const span = el("span", {class: "tok", title: `${vals[t]}`, text: p});
        span.style.background = shade(vals[t], scale);
        body.appendChild(span);
      });
    } else {
      body.textContent = (doc.title ? doc.title + "\n" : "") + doc.text;
    }
    const details = el("details", {class: grade ? "doc isgold" : "doc"}, head, body);
    if (i < 5 || grade) details.open = true;
    box.appendChild(details);
  });
}

function drill() {
  const node = document.getElementById("qrexp-data");
  if (!node) return;
  const data = JSON.parse(node.textContent);
  const sides = ["left", "right"].map((s) => [document.getElementById(`pick-${s}`), document.getElementById(`run-${s}`)]);
  const hash = new URLSearchParams(location.hash.slice(1));
  sides.forEach(([select, box], i) => {
    data.runs.forEach((r, j) => select.appendChild(el("option", {value: String(j), text: r.label})));
    const want = hash.get(i === 0 ? "left" : "right");
    const found = data.runs.findIndex((r) => r.run_id === want);
    select.value = String(found >= 0 ? found : data.defaults[i]);
    select.addEventListener("change", () => renderRun(data, data.runs[+select.value], box));
    renderRun(data, data.runs[+select.value], box);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
  drill();
  document.body.dataset.ready = "1";
});
