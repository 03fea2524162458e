/* netstat's HTML page: formats and lays out the embedded document; computes no number.
   The data: #netstat-data = {kind, document, graphs: [ModuleGraph.to_dict()], timeline?}. */
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("netstat-data").textContent);
  const DOC = DATA.document;
  const SVGNS = "http://www.w3.org/2000/svg";
  const MAX_DEFAULT_NODES = 60; // the default depth shows at most this many nodes (at least depth 1)
  const MAX_DEPTH_NODES = 400; // a depth showing more is not offered (dagre would take many seconds): open modules one by one
  const METRICS = [["madds", "MAdds"], ["params", "Params"], ["flops", "FLOPs"], ["memory_access_bytes", "Memory access"]];
  const BYTES = new Set(["memory_access_bytes", "activation_bytes", "saved_bytes", "peak_activation_bytes"]);

  // ---- formatting: the terminal's human() and human_bytes() (netstat/render/__init__.py) ----
  function human(n, unit) {
    if (n === null || n === undefined) return "-";
    unit = unit || "";
    const steps = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
    for (const [f, s] of steps) if (Math.abs(n) >= f) return (n / f).toFixed(2) + " " + s + unit;
    return (Number.isInteger(n) ? n.toFixed(0) : n.toFixed(2)) + (unit ? " " + unit : "");
  }
  function humanBytes(n) {
    if (n === null || n === undefined) return "-";
    const steps = [[2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
    for (const [f, s] of steps) if (Math.abs(n) >= f) return (n / f).toFixed(2) + " " + s;
    return n.toFixed(0) + " B";
  }
  const fmt = (key, v) => (BYTES.has(key) ? humanBytes(v) : human(v));
  const shapeStr = (s) => (s ? s.join("x") : "-");
  const shapesStr = (list) => (list && list.length ? list.map(shapeStr).join(", ") : "-");
  function joined(values, none) {
    const cells = values.map((v) => (v === null || v === undefined ? none : String(+Number(v).toFixed(2))));
    return new Set(cells).size === 1 ? cells[0] : cells.join("x");
  }
  function rfText(entry) { // RFLayer.describe(), from the document's fields
    if (!entry || entry.depends_on_input === false) return "-";
    const local = entry.local_rf || (entry.global ? null : entry.rf);
    let text = local ? joined(local, "-") + ", stride " + joined(entry.stride, "-") : "";
    if (local && entry.slack && entry.slack.some((s) => s)) text += " ±" + joined(entry.slack, "0");
    if (entry.global) text = local ? "global (local " + text + ")" : "global";
    return text;
  }
  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v; else if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children || []) e.appendChild(c);
    return e;
  }
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  // ---- the models of this page ----
  const MODELS = DATA.kind === "compare" ? DOC.models : [DOC];
  let current = 0;

  function model() { return MODELS[current]; }
  function graph() { return DATA.graphs[current]; }

  // ---- header, totals, notes ----
  function inputsText(doc) {
    const rows = doc.inputs || [];
    if (!rows.length) return shapeStr(doc.input_shape);
    return rows.map((r) => {
      let t = r.shape ? shapeStr(r.shape) : String(r.value);
      if (r.dtype && r.dtype !== "float32") t += ":" + r.dtype;
      const name = String(r.name || "");
      return !name || /^\d/.test(name.split(".")[0]) ? t : name + "=" + t;
    }).join(", ");
  }
  function card(key, label, value, raw) {
    return el("div", { class: "card", "data-key": key, "data-value": raw === undefined ? "" : String(raw) },
      [el("div", { class: "k", text: label }), el("div", { class: "v", text: value })]);
  }
  function renderHeader() {
    const names = MODELS.map((m) => m.model);
    document.getElementById("title").textContent = names.join(" vs ");
    const sub = DATA.kind === "train" ? "one training step" : DATA.kind === "compare" ? "comparison" : "inference forward";
    document.getElementById("subtitle").textContent = MODELS.map((m) => m.model + ": input " + inputsText(m)).join(" · ") + " · device " + (MODELS[0].device || "-") + " · " + sub;
    document.getElementById("footer").textContent = "netstat document schema " + DOC.schema_version + ". Every number on this page is the JSON document's (netstat ... --format json); nothing is computed here.";
  }
  function renderTotals() {
    const doc = model(), t = doc.totals, box = document.getElementById("totals");
    box.replaceChildren();
    box.appendChild(card("params", "Params", human(t.params), t.params));
    box.appendChild(card("madds", "MAdds", human(t.madds), t.madds));
    box.appendChild(card("flops", "FLOPs", human(t.flops), t.flops));
    box.appendChild(card("peak_activation_bytes", "Peak activations", humanBytes(t.peak_activation_bytes), t.peak_activation_bytes));
    box.appendChild(card("memory_access_bytes", "Memory access", humanBytes(t.memory_access_bytes), t.memory_access_bytes));
    const rf = doc.receptive_field && doc.receptive_field.features;
    if (rf) box.appendChild(card("final_rf", "RF of the last feature map", rfText(rf), rf.rf ? rf.rf.join("x") : ""));
    if (doc.training) {
      const tr = doc.training;
      box.appendChild(card("peak_bytes", "Step peak (batch " + tr.batch + ", " + tr.optimizer + ")", humanBytes(tr.peak_bytes), tr.peak_bytes));
    }
    const notes = doc.notes || [], list = document.getElementById("notes");
    list.replaceChildren(...notes.map((n) => el("li", { text: n })));
    document.getElementById("notes-summary").textContent = notes.length + " note" + (notes.length === 1 ? "" : "s");
    document.getElementById("notes-box").hidden = notes.length === 0;
  }

  // ---- the compare table ----
  function renderCompare() {
    if (DATA.kind !== "compare") return;
    document.getElementById("compare").hidden = false;
    const cols = [["Model", null], ["Input", null], ["Params", "params"], ["MAdds", "madds"], ["FLOPs", "flops"],
      ["Peak activations", "peak_activation_bytes"], ["Memory access", "memory_access_bytes"], ["Top-1", null], ["Final RF", null]];
    const table = document.getElementById("compare-table");
    table.appendChild(el("thead", {}, [el("tr", {}, cols.map(([h], i) => el("th", { class: i < 2 ? "l" : "", text: h })))]));
    const body = el("tbody");
    MODELS.forEach((m, i) => {
      const cells = [el("td", { class: "l", text: m.model }), el("td", { class: "l", text: inputsText(m) })];
      for (const [, key] of cols.slice(2, 7)) cells.push(el("td", { "data-key": key, "data-value": String(m.totals[key]), text: fmt(key, m.totals[key]) }));
      cells.push(el("td", { text: m.top1 === null || m.top1 === undefined ? "-" : m.top1.toFixed(1) + "%" }));
      cells.push(el("td", { text: rfText(m.final_rf) }));
      body.appendChild(el("tr", { "data-model": String(i) }, cells));
    });
    table.appendChild(body);
    const select = document.getElementById("model-select");
    MODELS.forEach((m, i) => select.appendChild(el("option", { value: String(i), text: m.model })));
    select.addEventListener("change", () => { current = +select.value; renderModel(); });
  }

  // ---- numbers of a graph node: a module's are its document row's ----
  function nodeNumbers(node) {
    if (node.kind === "module") {
      const row = model().layers[node.layer];
      return { params: row.params, madds: row.madds, flops: row.flops, memory_access_bytes: row.memory_access_bytes,
        activation_bytes: row.activation_bytes, output_shape: row.output_shape, row: row };
    }
    return { params: 0, madds: node.madds, flops: node.flops, memory_access_bytes: node.memory_access_bytes,
      activation_bytes: node.activation_bytes, output_shape: node.output_shape };
  }
  function rfIndex() {
    const map = new Map(), rf = model().receptive_field;
    for (const l of (rf && rf.layers) || []) map.set((l.path === undefined ? l.name : l.path) + "#" + l.call, l);
    return map;
  }

  // ---- the graph ----
  const G = { expanded: new Set(), selected: null, metric: "madds", view: { x: 0, y: 0, k: 1 }, layout: null, rf: new Map() };

  function topLevel(g) { return g.nodes.filter((n) => n.parent === null && (n.kind === "module" || n.kind === "op")); }
  function visibleNodes(g) {
    const out = g.nodes.filter((n) => n.kind === "input").map((n) => n.id);
    const walk = (n) => {
      if (n.children && G.expanded.has(n.id)) n.children.forEach((c) => walk(g.nodes[c]));
      else out.push(n.id);
    };
    topLevel(g).forEach(walk);
    g.nodes.filter((n) => n.kind === "output").forEach((n) => out.push(n.id));
    return out;
  }
  function countAt(g, depth) {
    let count = 0;
    const walk = (n) => { if (n.children && n.depth < depth) n.children.forEach((c) => walk(g.nodes[c])); else count++; };
    topLevel(g).forEach(walk);
    return count + 2;
  }
  function expandTo(g, depth) {
    G.expanded = new Set(g.nodes.filter((n) => n.children && n.depth < depth).map((n) => n.id));
  }
  function defaultDepth(g) {
    const max = Math.max(1, ...g.nodes.map((n) => n.depth));
    let best = 1;
    for (let d = 1; d <= max; d++) if (countAt(g, d) <= MAX_DEFAULT_NODES) best = d;
    return best;
  }
  function collapsedEdges(g, shown) { // ModuleGraph.collapsed_edges: each finest edge between the shown ancestors
    const isShown = new Set(shown), rep = new Map(), seen = new Set(), out = [];
    for (const n of g.nodes) {
      let up = n.id;
      while (up !== null && !isShown.has(up)) up = g.nodes[up].parent;
      if (up !== null) rep.set(n.id, up);
    }
    for (const [a, b] of g.edges) {
      const ra = rep.get(a), rb = rep.get(b);
      if (ra === undefined || rb === undefined || ra === rb) continue;
      const key = ra + ">" + rb;
      if (!seen.has(key)) { seen.add(key); out.push([ra, rb]); }
    }
    return out;
  }
  function shortName(g, n) {
    if (n.kind !== "module" || n.parent === null) return n.name;
    const parent = g.nodes[n.parent];
    const prefix = parent.path ? parent.path + "." : "";
    return n.path && n.path.startsWith(prefix) ? n.path.slice(prefix.length) : n.name;
  }
  function nodeLabel(g, n) {
    const nums = nodeNumbers(n);
    const name = (n.children ? "▸ " : "") + (n.kind === "module" ? (n.path || n.name) + "  " + n.type : n.name);
    const call = n.kind === "module" && nums.row && nums.row.call ? " (call " + (nums.row.call + 1) + ")" : "";
    const metric = n.kind === "input" || n.kind === "output" ? "" : (METRICS.find((m) => m[0] === G.metric)[1] + " " + fmt(G.metric, nums[G.metric]) + " · ");
    return [name + call, metric + shapesStr(nums.output_shape)];
  }
  function renderGraph() {
    const g = graph(), started = performance.now();
    const shown = visibleNodes(g), edges = collapsedEdges(g, shown);
    const lay = new dagre.graphlib.Graph();
    lay.setGraph({ rankdir: "TB", nodesep: 18, ranksep: 26, edgesep: 8, marginx: 16, marginy: 16 });
    lay.setDefaultEdgeLabel(() => ({}));
    const labels = new Map();
    for (const id of shown) {
      const lines = nodeLabel(g, g.nodes[id]);
      labels.set(id, lines);
      const width = Math.min(320, Math.max(96, 12 + 6.4 * Math.max(lines[0].length, lines[1].length)));
      lay.setNode(String(id), { width: width, height: 38 });
    }
    const dense = edges.length > 2 * shown.length + 40;
    for (const [a, b] of dense ? spine(edges) : edges) lay.setEdge(String(a), String(b));
    dagre.layout(lay);
    G.layout = { lay: lay, shown: shown, edges: edges, labels: labels, dense: dense };
    drawGraph(g);
    const ms = performance.now() - started;
    document.getElementById("graph-info").textContent = shown.length + " nodes, " + edges.length + " edges" +
      (dense ? " (dense: laid out along each node's latest input, the other edges drawn as arcs)" : "");
    document.getElementById("graph").dataset.layoutMs = ms.toFixed(0);
    document.getElementById("graph").dataset.nodes = String(shown.length);
  }
  function spine(edges) { // each node's edge from its latest source (the highest id: made last), for the layout of a dense graph
    const latest = new Map();
    for (const [a, b] of edges) if (!latest.has(b) || latest.get(b) < a) latest.set(b, a);
    return Array.from(latest, ([b, a]) => [a, b]);
  }
  function arc(lay, a, b) { // an edge the layout did not route: a curve bulging to the right
    const s = lay.node(String(a)), t = lay.node(String(b));
    const x0 = s.x + s.width / 2, y0 = s.y, x1 = t.x + t.width / 2, y1 = t.y;
    const bulge = 30 + 0.12 * Math.abs(y1 - y0);
    return "M" + x0.toFixed(1) + "," + y0.toFixed(1) + " C" + (x0 + bulge).toFixed(1) + "," + y0.toFixed(1) + " " + (x1 + bulge).toFixed(1) + "," + y1.toFixed(1) + " " + x1.toFixed(1) + "," + y1.toFixed(1);
  }
  function shareColor(share) { // light to dark blue by the square root of the share of the largest shown
    const t = Math.sqrt(Math.max(0, Math.min(1, share)));
    const c0 = [235, 244, 255], c1 = [26, 82, 150];
    return "rgb(" + c0.map((v, i) => Math.round(v + (c1[i] - v) * t)).join(",") + ")";
  }
  function drawGraph(g) {
    const root = document.getElementById("graph-svg");
    root.replaceChildren();
    const defs = svg("defs", {}, root);
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#829ab1" }, marker);
    const world = svg("g", { id: "world" }, root);
    const { lay, shown, edges, labels } = G.layout;
    const values = shown.map((id) => g.nodes[id]).filter((n) => n.kind === "module" || n.kind === "op").map((n) => nodeNumbers(n)[G.metric] || 0);
    const max = Math.max(1, ...values);
    for (const [a, b] of edges) {
      const routed = lay.edge(String(a), String(b));
      const d = routed ? "M" + routed.points.map((p) => p.x.toFixed(1) + "," + p.y.toFixed(1)).join(" L") : arc(lay, a, b);
      svg("path", { d: d, class: "edge", "data-from": String(a), "data-to": String(b), "marker-end": "url(#arrow)" }, world);
    }
    for (const id of shown) {
      const n = g.nodes[id], box = lay.node(String(id)), lines = labels.get(id);
      const io = n.kind === "input" || n.kind === "output";
      const share = io ? 0 : (nodeNumbers(n)[G.metric] || 0) / max;
      const cls = "node" + (n.children ? " has-children" : "") + (io ? " io" : "") + (G.selected === id ? " selected" : "");
      const parentPath = n.parent === null ? "" : g.nodes[n.parent].path;
      const grp = svg("g", { class: cls, "data-id": String(id), "data-name": n.kind === "module" ? n.path : n.name, "data-kind": n.kind, "data-parent": parentPath,
        transform: "translate(" + (box.x - box.width / 2).toFixed(1) + "," + (box.y - box.height / 2).toFixed(1) + ")" }, world);
      svg("rect", { width: box.width.toFixed(1), height: box.height, fill: io ? "#e6fffa" : shareColor(share) }, grp);
      const ink = Math.sqrt(share) > 0.6 ? "#ffffff" : "#1f2933";
      svg("text", { x: 6, y: 15, fill: ink }, grp).textContent = lines[0];
      svg("text", { x: 6, y: 30, fill: ink, class: "t2" }, grp).textContent = lines[1];
      svg("title", {}, grp).textContent = hoverText(g, n);
      grp.addEventListener("click", (ev) => { ev.stopPropagation(); select(id); });
      grp.addEventListener("dblclick", (ev) => { ev.stopPropagation(); if (n.children) expand(id); });
    }
    const size = lay.graph();
    G.size = { w: size.width || 1, h: size.height || 1 };
    applyView();
  }
  function hoverText(g, n) { // the node's numbers on hover (the details panel has them too)
    const nums = nodeNumbers(n), title = n.kind === "module" ? (n.path || n.name) + " (" + n.type + ")" : n.name + " (" + n.type + ")";
    const rf = n.kind === "module" ? rfText(G.rf.get(n.path + "#" + nums.row.call)) : (n.rf || "-");
    if (n.kind === "input" || n.kind === "output") return title + "\n" + shapesStr(nums.output_shape);
    return [title, "output " + shapesStr(nums.output_shape), "params " + human(nums.params), "MAdds " + human(nums.madds), "FLOPs " + human(nums.flops),
      "memory access " + humanBytes(nums.memory_access_bytes), "receptive field " + rf].join("\n");
  }
  function applyView() {
    const world = document.getElementById("world");
    if (world) world.setAttribute("transform", "translate(" + G.view.x.toFixed(1) + "," + G.view.y.toFixed(1) + ") scale(" + G.view.k.toFixed(4) + ")");
  }
  function fitView() {
    const box = document.getElementById("graph").getBoundingClientRect();
    // The whole graph when it fits at a readable scale, else its top at that scale (pan or zoom for the rest).
    const k = Math.min(1.1, box.width / G.size.w, Math.max(box.height / G.size.h, 0.8));
    G.view = { k: k, x: Math.max(0, (box.width - G.size.w * k) / 2), y: Math.max(0, (box.height - G.size.h * k) / 2) };
    applyView();
  }
  function centerOn(id) { // pan (not zoom) so that the node is in view
    const box = G.layout.lay.node(String(id)), pane = document.getElementById("graph").getBoundingClientRect();
    if (!box) return;
    const sx = G.view.x + box.x * G.view.k, sy = G.view.y + box.y * G.view.k;
    if (sx < 40 || sx > pane.width - 40) G.view.x = pane.width / 2 - box.x * G.view.k;
    if (sy < 40 || sy > pane.height - 40) G.view.y = pane.height / 2 - box.y * G.view.k;
    applyView();
  }
  function select(id) {
    G.selected = id;
    centerOn(id);
    document.querySelectorAll("#graph-svg .node").forEach((e) => e.classList.toggle("selected", +e.dataset.id === id));
    document.querySelectorAll("#graph-svg .edge").forEach((e) => e.classList.toggle("hl", +e.dataset.from === id || +e.dataset.to === id));
    renderDetails(id);
  }
  function renderDetails(id) {
    const g = graph(), n = g.nodes[id], nums = nodeNumbers(n), t = model().totals, box = document.getElementById("details");
    const rows = [["Kind", n.kind], ["Type", n.type || "-"], ["Output shape", shapesStr(nums.output_shape)]];
    if (n.kind === "module" || n.kind === "op") {
      const pct = (v, tot) => (tot ? " (" + (100 * v / tot).toFixed(1) + "%)" : "");
      rows.push(["Params", human(nums.params) + pct(nums.params, t.params)], ["MAdds", human(nums.madds) + pct(nums.madds, t.madds)],
        ["FLOPs", human(nums.flops) + pct(nums.flops, t.flops)], ["Memory access", humanBytes(nums.memory_access_bytes)],
        ["Activations", humanBytes(nums.activation_bytes)]);
    }
    const rf = n.kind === "module" ? rfText(G.rf.get(n.path + "#" + nums.row.call)) : (n.rf || "-");
    rows.push(["Receptive field", rf]);
    const ins = G.layout.edges.filter(([, b]) => b === id).length, outs = G.layout.edges.filter(([a]) => a === id).length;
    rows.push(["Edges", ins + " in, " + outs + " out"]);
    if (n.children) rows.push(["Children", String(n.children.length)]);
    const dl = el("dl", {}, rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v, "data-key": k })]));
    const buttons = el("div", { class: "buttons" });
    if (n.children) {
      const b = el("button", { type: "button", id: "expand-node", text: "Expand" });
      b.addEventListener("click", () => expand(id));
      buttons.appendChild(b);
    }
    if (n.parent !== null && g.nodes[n.parent].parent !== null) {
      const b = el("button", { type: "button", id: "collapse-node", text: "Collapse into " + (g.nodes[n.parent].path || g.nodes[n.parent].name) });
      b.addEventListener("click", () => collapse(n.parent));
      buttons.appendChild(b);
    }
    const title = n.kind === "module" ? (n.path || n.name) : n.name;
    box.replaceChildren(el("h4", { text: title, id: "details-title" }), dl, buttons);
    box.dataset.node = String(id);
  }
  function expand(id) {
    G.expanded.add(id);
    renderGraph();
    const pane = document.getElementById("graph").getBoundingClientRect();
    if (G.size.w * G.view.k <= pane.width) { G.view.x = (pane.width - G.size.w * G.view.k) / 2; applyView(); }
    const first = graph().nodes[id].children[0];
    select(first);
  }
  function collapse(id) {
    const g = graph();
    const drop = (n) => { G.expanded.delete(n.id); (n.children || []).forEach((c) => drop(g.nodes[c])); };
    drop(g.nodes[id]);
    renderGraph();
    select(id);
  }
  function setupGraphControls() {
    const metric = document.getElementById("metric");
    for (const [key, name] of METRICS) {
      const b = el("button", { type: "button", role: "radio", "data-metric": key, "aria-checked": String(key === G.metric), text: name });
      b.addEventListener("click", () => {
        G.metric = key;
        metric.querySelectorAll("button").forEach((x) => x.setAttribute("aria-checked", String(x.dataset.metric === key)));
        const keep = G.view; renderGraph(); G.view = keep; applyView();
        if (G.selected !== null && G.layout.shown.includes(G.selected)) select(G.selected);
      });
      metric.appendChild(b);
    }
    document.getElementById("depth").addEventListener("change", (ev) => {
      expandTo(graph(), +ev.target.value); G.selected = null; renderGraph(); fitView();
    });
    document.getElementById("fit").addEventListener("click", fitView);
    const pane = document.getElementById("graph");
    let drag = null;
    pane.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX - G.view.x, y: ev.clientY - G.view.y }; });
    window.addEventListener("mouseup", () => { drag = null; });
    window.addEventListener("mousemove", (ev) => { if (drag) { G.view.x = ev.clientX - drag.x; G.view.y = ev.clientY - drag.y; applyView(); } });
    pane.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = pane.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
      const k = Math.min(4, Math.max(0.05, G.view.k * Math.exp(-ev.deltaY * 0.0015)));
      G.view.x = px - (px - G.view.x) * k / G.view.k; G.view.y = py - (py - G.view.y) * k / G.view.k; G.view.k = k;
      applyView();
    }, { passive: false });
  }
  function resetGraph() {
    const g = graph(), depth = document.getElementById("depth");
    const max = Math.max(1, ...g.nodes.map((n) => n.depth));
    depth.replaceChildren(...Array.from({ length: max }, (_, i) => {
      const count = countAt(g, i + 1), option = el("option", { value: String(i + 1), text: String(i + 1) + " (" + count + " nodes" + (count > MAX_DEPTH_NODES ? ", too many: open modules one by one)" : ")") });
      option.disabled = count > MAX_DEPTH_NODES;
      return option;
    }));
    const d = defaultDepth(g);
    depth.value = String(d);
    expandTo(g, d);
    G.selected = null;
    G.rf = rfIndex();
    renderGraph();
    fitView();
  }

  // ---- the module tree table ----
  const T = { open: new Set(), sort: null, desc: true };
  const TREE_COLS = [["Module", "name", "l"], ["Type", "type", "l"], ["Output shape", "output_shape", "l"], ["Params", "params", "share"],
    ["MAdds", "madds", "share"], ["FLOPs", "flops", ""], ["Memory access", "memory_access_bytes", ""], ["Activations", "activation_bytes", ""], ["RF", "rf", "l"]];
  function treeValue(n, key) {
    if (key === "name") return n.path;
    if (key === "type") return n.type;
    if (key === "rf" || key === "output_shape") return null;
    return model().layers[n.layer][key];
  }
  function renderTreeHead() {
    const table = document.getElementById("tree");
    const head = el("tr", {}, TREE_COLS.map(([h, key, cls]) => {
      const th = el("th", { class: (cls === "l" ? "l" : "") + (T.sort === key ? (T.desc ? " sorted-desc" : " sorted-asc") : ""), "data-key": key, text: h });
      th.addEventListener("click", () => {
        if (key === "rf" || key === "output_shape") return;
        T.desc = T.sort === key ? !T.desc : key !== "name" && key !== "type";
        T.sort = key;
        renderTree();
      });
      return th;
    }));
    table.replaceChildren(el("thead", {}, [head]), el("tbody", { id: "tree-body" }));
  }
  function sortedChildren(ids) {
    const g = graph(), kids = ids.map((c) => g.nodes[c]).filter((n) => n.kind === "module");
    if (!T.sort) return kids;
    const sign = T.desc ? -1 : 1;
    return kids.slice().sort((a, b) => {
      const va = treeValue(a, T.sort), vb = treeValue(b, T.sort);
      const order = va < vb ? -1 : va > vb ? 1 : 0;
      return order ? order * sign : a.id - b.id; // ties keep the order they ran in
    });
  }
  function renderTree() {
    renderTreeHead();
    const g = graph(), body = document.getElementById("tree-body"), totals = model().totals, rows = [];
    const walk = (n, level) => {
      rows.push(treeRow(g, n, level, totals));
      if (n.children && T.open.has(n.id)) sortedChildren(n.children).forEach((c) => walk(c, level + 1));
    };
    sortedChildren(topLevel(g).map((n) => n.id)).forEach((n) => walk(n, 0));
    body.replaceChildren(...rows);
  }
  function treeRow(g, n, level, totals) {
    const row = model().layers[n.layer], kids = (n.children || []).some((c) => g.nodes[c].kind === "module");
    const toggle = el("span", { class: "toggle", text: kids ? (T.open.has(n.id) ? "▾" : "▸") : "" });
    if (kids) toggle.addEventListener("click", () => { if (T.open.has(n.id)) T.open.delete(n.id); else T.open.add(n.id); renderTree(); });
    const name = el("td", { class: "l", style: "padding-left:" + (6 + 16 * level) + "px" }, [toggle, document.createTextNode(shortName(g, n) + (row.call ? " (call " + (row.call + 1) + ")" : ""))]);
    const cells = [name, el("td", { class: "l", text: n.type }), el("td", { class: "l", text: shapesStr(row.output_shape) })];
    for (const [, key, cls] of TREE_COLS.slice(3, 8)) {
      const v = row[key], td = el("td", { class: cls, "data-key": key, "data-value": String(v), text: fmt(key, v) });
      if (cls === "share" && totals[key]) td.appendChild(el("div", { class: "bar", style: "width:" + Math.min(100, 100 * v / totals[key]).toFixed(1) + "%" }));
      cells.push(td);
    }
    cells.push(el("td", { class: "l", text: rfText(G.rf.get(n.path + "#" + row.call)) }));
    return el("tr", { "data-path": n.path, "data-call": String(row.call), "data-node": String(n.id) }, cells);
  }
  function resetTree() {
    const g = graph();
    T.open = new Set(topLevel(g).map((n) => n.id));
    T.sort = null;
    renderTree();
  }
  function setupTreeControls() {
    document.getElementById("tree-expand").addEventListener("click", () => {
      T.open = new Set(graph().nodes.filter((n) => n.kind === "module" && n.children).map((n) => n.id)); renderTree();
    });
    document.getElementById("tree-collapse").addEventListener("click", resetTree);
  }

  // ---- charts: a small axis helper ----
  function niceTicks(max, count, unit) { // multiples of a round step in `unit` (1, or a binary unit for bytes)
    unit = unit || 1;
    const raw = max / unit / count, mag = 10 ** Math.floor(Math.log10(raw || 1));
    const step = ([1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || mag * 10) * unit;
    const out = [];
    for (let v = 0; v <= max + 1e-9; v += step) out.push(v);
    return out;
  }
  function chartFrame(host, width, height, yMax, yFmt, yLabel, unit) {
    const pad = { l: 70, r: 16, t: 12, b: 34 };
    const root = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img" });
    host.replaceChildren(root);
    const y = (v) => pad.t + (height - pad.t - pad.b) * (1 - v / yMax);
    for (const v of niceTicks(yMax, 5, unit)) {
      svg("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: "gridline" }, root);
      svg("text", { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end" }, root).textContent = yFmt(v);
    }
    svg("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b, class: "axis" }, root);
    svg("line", { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, class: "axis" }, root);
    const lab = svg("text", { x: 12, y: pad.t + (height - pad.t - pad.b) / 2, transform: "rotate(-90 12 " + (pad.t + (height - pad.t - pad.b) / 2) + ")", "text-anchor": "middle" }, root);
    lab.textContent = yLabel;
    return { root: root, pad: pad, y: y, x0: pad.l, x1: width - pad.r, width: width, height: height };
  }

  // ---- the receptive-field growth chart ----
  function renderRF() {
    const section = document.getElementById("rf-section"), host = document.getElementById("rf-chart");
    const rf = model().receptive_field;
    const layers = ((rf && rf.layers) || []).filter((l) => l.is_leaf && l.depends_on_input && (l.rf || l.local_rf || l.global));
    section.hidden = layers.length === 0;
    if (!layers.length) return;
    const sizeOf = (l) => { const v = l.local_rf || l.rf; return v ? Math.max(...v.filter((x) => x !== null)) : null; };
    const inputMax = Math.max(...(rf.input_shape || []).slice(2));
    const others = DATA.kind === "compare" ? MODELS.flatMap((m) => ((m.receptive_field && m.receptive_field.layers) || []).filter((l) => l.is_leaf && (l.rf || l.local_rf)).map((l) => sizeOf(l) || 0)) : [];
    const yMax = Math.max(inputMax || 1, ...layers.map((l) => sizeOf(l) || 0), ...others) * 1.05;
    const f = chartFrame(host, 1100, 300, yMax, (v) => human(v), "input pixels");
    const x = (i) => f.x0 + (f.x1 - f.x0) * (layers.length === 1 ? 0.5 : i / (layers.length - 1));
    if (inputMax) {
      svg("line", { x1: f.x0, x2: f.x1, y1: f.y(inputMax), y2: f.y(inputMax), stroke: "#a0aec0", "stroke-dasharray": "5 4" }, f.root);
      svg("text", { x: f.x1 - 4, y: f.y(inputMax) - 5, "text-anchor": "end" }, f.root).textContent = "input " + inputMax;
    }
    const series = [["rf", "#2b6cb0", sizeOf, (DATA.kind === "compare" ? model().model + ": " : "") + "receptive field"], ["stride", "#dd6b20", (l) => Math.max(...l.stride.filter((s) => s !== null)), "effective stride"]];
    if (DATA.kind === "compare") compareCurves(f, sizeOf, yMax);
    series.forEach(([key, color, get, name], si) => {
      const pts = layers.map((l, i) => [i, get(l)]).filter((p) => p[1] !== null && isFinite(p[1]));
      svg("path", { d: "M" + pts.map(([i, v]) => x(i).toFixed(1) + "," + f.y(v).toFixed(1)).join(" L"), fill: "none", stroke: color, "stroke-width": 2, "data-series": key }, f.root);
      svg("rect", { x: f.x0 + 14, y: f.pad.t + 6 + 16 * si, width: 12, height: 4, fill: color }, f.root);
      svg("text", { x: f.x0 + 32, y: f.pad.t + 11 + 16 * si }, f.root).textContent = name;
    });
    layers.forEach((l, i) => { // a layer that sees the whole input (global, red) at the top when it has no local RF
      const v = sizeOf(l);
      const dot = svg("circle", { cx: x(i), cy: f.y(v === null ? yMax / 1.05 : v), r: 2.6, fill: l.global ? "#c53030" : "#2b6cb0", "data-path": l.path }, f.root);
      svg("title", {}, dot).textContent = (l.path || l.name) + " (" + l.type + "): " + rfText(l);
    });
    svg("text", { x: (f.x0 + f.x1) / 2, y: f.height - 6, "text-anchor": "middle" }, f.root).textContent = layers.length + " leaf layers in the order they run (hover a point for its layer; red: it sees the whole input)";
  }

  const PALETTE = ["#805ad5", "#38a169", "#d69e2e", "#e53e3e", "#319795", "#b83280", "#718096"];
  function compareCurves(f, sizeOf, yMax) { // the other models' RF, thin, over the same fraction of their leaf layers
    let slot = 0;
    MODELS.forEach((m, mi) => {
      if (mi === current || !m.receptive_field) return;
      const ls = m.receptive_field.layers.filter((l) => l.is_leaf && l.depends_on_input && (l.rf || l.local_rf));
      const pts = ls.map((l, i) => [ls.length === 1 ? 0.5 : i / (ls.length - 1), Math.min(sizeOf(l), yMax)]);
      const color = PALETTE[slot % PALETTE.length];
      svg("path", { d: "M" + pts.map(([t, v]) => (f.x0 + (f.x1 - f.x0) * t).toFixed(1) + "," + f.y(v).toFixed(1)).join(" L"), fill: "none", stroke: color, "stroke-width": 1.3, opacity: 0.8, "data-model": m.model }, f.root);
      svg("rect", { x: f.x0 + 180, y: f.pad.t + 6 + 16 * slot, width: 12, height: 4, fill: color }, f.root);
      svg("text", { x: f.x0 + 198, y: f.pad.t + 11 + 16 * slot }, f.root).textContent = m.model + " (x: the same fraction of its layers)";
      slot++;
    });
  }

  // ---- a training step: memory over the ops, saved bytes per layer ----
  const PHASE_COLORS = { forward: "#3182ce", backward: "#dd6b20", optimizer: "#38a169" };
  function renderTraining() {
    const tr = model().training;
    if (DATA.kind !== "train" || !tr || !DATA.timeline) return;
    document.getElementById("train-section").hidden = false;
    const bytes = DATA.timeline.bytes, n = bytes.length, peak = tr.peak_bytes;
    document.getElementById("train-summary").textContent = "Batch " + tr.batch + ", optimizer " + tr.optimizer + ", parameters " + tr.dtype +
      (tr.amp ? ", autocast " + tr.amp : "") + ". Peak " + humanBytes(peak) + " at op " + tr.peak_at.index + " (" + tr.peak_at.op + ", " + tr.peak_at.phase + ", in " + (tr.peak_at.layer || "the model") + ").";
    const unit = [2 ** 40, 2 ** 30, 2 ** 20, 2 ** 10, 1].find((u) => peak >= u) || 1;
    const f = chartFrame(document.getElementById("memory-chart"), 1100, 300, Math.max(1, peak) * 1.12, humanBytes, "live memory", unit);
    const x = (i) => f.x0 + (f.x1 - f.x0) * (n <= 1 ? 0 : i / (n - 1));
    for (const [phase, range] of Object.entries(tr.phases)) {
      const [a, b] = range;
      if (b <= a) continue;
      const band = svg("rect", { x: x(a), y: f.pad.t, width: Math.max(1, x(b - 1) - x(a)), height: f.height - f.pad.t - f.pad.b, fill: PHASE_COLORS[phase] || "#ccc", opacity: 0.09, "data-phase": phase }, f.root);
      svg("title", {}, band).textContent = phase + ": ops " + a + " to " + (b - 1);
    }
    const buckets = Math.min(n, 1500), pts = []; // the max of each pixel-wide run of ops: the peak is always drawn
    for (let b = 0; b < buckets; b++) {
      const lo = Math.floor(b * n / buckets), hi = Math.max(lo + 1, Math.floor((b + 1) * n / buckets));
      let m = 0, at = lo;
      for (let i = lo; i < hi; i++) if (bytes[i] > m) { m = bytes[i]; at = i; }
      pts.push([at, m]);
    }
    svg("path", { d: "M" + pts.map(([i, v]) => x(i).toFixed(1) + "," + f.y(v).toFixed(1)).join(" L") + " L" + x(n - 1).toFixed(1) + "," + f.y(0) + " L" + x(0).toFixed(1) + "," + f.y(0) + " Z", fill: "#bee3f8", stroke: "#2b6cb0", "stroke-width": 1.2 }, f.root);
    for (const [phase, range] of Object.entries(tr.phases)) {
      if (range[1] > range[0]) svg("text", { x: x(range[0]) + 5, y: f.height - f.pad.b - 7, fill: "#1f2933", "font-weight": "600" }, f.root).textContent = phase;
    }
    const px = x(Math.max(0, tr.peak_at.index));
    svg("circle", { cx: px, cy: f.y(peak), r: 4, fill: "#c53030" }, f.root);
    const label = svg("text", { x: Math.min(px + 8, f.x1 - 150), y: f.y(peak) - 8, fill: "#c53030", "font-weight": "600" }, f.root);
    label.textContent = "peak " + humanBytes(peak);
    svg("text", { x: (f.x0 + f.x1) / 2, y: f.height - 6, "text-anchor": "middle" }, f.root).textContent = n + " ops of the step";
    renderSaved(tr);
  }
  function renderSaved(tr) {
    const rows = tr.layers.filter((l) => l.is_leaf && l.saved_bytes > 0).sort((a, b) => b.saved_bytes - a.saved_bytes || (a.path < b.path ? -1 : 1));
    const top = rows.slice(0, 25), total = tr.layers.filter((l) => l.is_leaf).reduce((s, l) => s + l.saved_bytes, 0);
    const max = Math.max(1, ...top.map((l) => l.saved_bytes));
    const table = el("table", { class: "grid", id: "saved-table" });
    table.appendChild(el("thead", {}, [el("tr", {}, [el("th", { class: "l", text: "Layer" }), el("th", { class: "l", text: "Type" }), el("th", { text: "Saved" }), el("th", { text: "Share of leaf layers" })])]));
    const body = el("tbody");
    for (const l of top) {
      const bar = el("div", { class: "bar", style: "width:" + (100 * l.saved_bytes / max).toFixed(1) + "%" });
      body.appendChild(el("tr", { "data-path": l.path }, [el("td", { class: "l", text: l.path || l.name }), el("td", { class: "l", text: l.type }),
        el("td", { "data-key": "saved_bytes", "data-value": String(l.saved_bytes), text: humanBytes(l.saved_bytes) }),
        el("td", { class: "share", text: (100 * l.saved_bytes / (total || 1)).toFixed(1) + "%" }, [bar])]));
    }
    table.appendChild(body);
    const note = el("p", { class: "muted", text: "The " + top.length + " leaf layers that save the most for backward, of " + rows.length + " (the JSON's training.layers lists every one)." });
    document.getElementById("saved-chart").replaceChildren(note, el("div", { class: "scroll" }, [table]));
  }

  function renderModel() {
    renderTotals();
    resetGraph();
    resetTree();
    renderRF();
    renderTraining();
  }
  renderHeader();
  renderCompare();
  setupGraphControls();
  setupTreeControls();
  renderModel();
  document.body.dataset.ready = "1";
})();
