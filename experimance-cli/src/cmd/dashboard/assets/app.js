// The experimance dashboard page. Snapshots arrive as server-sent events (`/api/events`);
// the page asks for nothing else on its own (a click fetches one topic's last message).
// Every name, topic and message comes from peers on the bus: it is only ever put into the
// page as text (textContent, attribute values), never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 170;
const NODE_H = 46;
const COL_GAP = 130;
const ROW_GAP = 34;
const MARGIN = 24;
// Room above the first row for the edges that jump over a column.
const TOP = 64;

let snapshot = null;
let selected = null; // {kind: "service"|"topic", name}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// The colour class of a service: liveness first, then health.
function colour(s) {
  if (s.liveness === "lost") return "lost";
  if (s.liveness === "stopping") return "stopping";
  if (s.liveness === "unknown") return "unknown";
  if (s.status === "warning") return "warning";
  if (s.status === "error" || s.status === "fatal") return "failing";
  return "alive";
}

function fmt(x, digits) {
  if (x === null || x === undefined) return "-";
  return typeof x === "number" ? x.toFixed(digits) : String(x);
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  if (seconds < 60) return seconds.toFixed(1) + "s ago";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m ago";
  return Math.floor(seconds / 3600) + "h ago";
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 60) return seconds.toFixed(0) + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m " + Math.floor(seconds % 60) + "s";
  return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
}

function bytes(n) {
  if (n === null || n === undefined) return "-";
  if (n < 1024) return n.toFixed(0) + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

function shorten(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

// Columns by longest path from the sources, after leaving out the edges that close a cycle
// (found by a depth-first walk from the sources, in name order): a stable, readable layout
// for pipelines, the usual shape of an installation.
function layout(nodes, edges) {
  const names = nodes.map((n) => n.name);
  const out = new Map(names.map((n) => [n, []]));
  const incoming = new Map(names.map((n) => [n, 0]));
  for (const e of edges) {
    if (!out.has(e.from) || !out.has(e.to) || e.from === e.to) continue;
    out.get(e.from).push(e.to);
    incoming.set(e.to, incoming.get(e.to) + 1);
  }
  const state = new Map();
  const forward = [];
  const walk = (u) => {
    state.set(u, 1);
    for (const v of out.get(u)) {
      if (state.get(v) === 1) continue; // closes a cycle
      forward.push([u, v]);
      if (!state.has(v)) walk(v);
    }
    state.set(u, 2);
  };
  const sources = names.filter((n) => incoming.get(n) === 0);
  for (const n of sources.concat(names)) if (!state.has(n)) walk(n);
  const rank = new Map(names.map((n) => [n, 0]));
  for (let i = 0; i < names.length; i++) {
    let changed = false;
    for (const [u, v] of forward) {
      if (rank.get(u) + 1 > rank.get(v)) {
        rank.set(v, rank.get(u) + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = [];
  for (const n of names) {
    const r = rank.get(n);
    (columns[r] = columns[r] || []).push(n);
  }
  const place = new Map();
  columns.forEach((column, c) => {
    column.forEach((n, i) => {
      place.set(n, { x: MARGIN + c * (NODE_W + COL_GAP), y: TOP + i * (NODE_H + ROW_GAP) });
    });
  });
  const rows = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  return {
    place,
    width: MARGIN * 2 + Math.max(1, columns.length) * (NODE_W + COL_GAP) - COL_GAP,
    height: TOP + MARGIN + rows * (NODE_H + ROW_GAP),
  };
}

function drawGraph() {
  const root = document.getElementById("graph");
  root.replaceChildren();
  const nodes = snapshot.services;
  document.getElementById("graph-empty").hidden = nodes.length > 0;
  const { place, width, height } = layout(nodes, snapshot.edges);
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  root.style.height = Math.min(height, 900) + "px";

  const defs = svg("defs");
  const marker = svg("marker", {
    id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z" }));
  defs.append(marker);
  root.append(defs);

  // Two edges between the same pair (topics and tasks, or both ways) bend apart.
  const seen = new Map();
  for (const e of snapshot.edges) {
    const a = place.get(e.from);
    const b = place.get(e.to);
    if (!a || !b) continue;
    const key = [e.from, e.to].sort().join("\u0000");
    const nth = seen.get(key) || 0;
    seen.set(key, nth + 1);
    const bend = (nth % 2 === 0 ? 1 : -1) * (18 + 22 * Math.floor(nth / 2));
    let x1, y1, x2, y2;
    if (b.x > a.x) {
      [x1, y1, x2, y2] = [a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2];
    } else if (b.x < a.x) {
      [x1, y1, x2, y2] = [a.x, a.y + NODE_H / 2, b.x + NODE_W, b.y + NODE_H / 2];
    } else {
      const down = b.y > a.y;
      [x1, y1, x2, y2] = [a.x + NODE_W / 2, down ? a.y + NODE_H : a.y, b.x + NODE_W / 2, down ? b.y : b.y + NODE_H];
    }
    const g = svg("g", { class: "edge " + e.kind, "data-from": e.from, "data-to": e.to, "data-kind": e.kind });
    const span = Math.round(Math.abs(b.x - a.x) / (NODE_W + COL_GAP));
    let d, lx, ly;
    if (span > 1) {
      // Over the columns between, not through their nodes.
      const top = Math.max(8, Math.min(a.y, b.y) - 20 - 14 * (span - 1) - 6 * nth);
      const dx = Math.sign(x2 - x1) * 60;
      d = `M ${x1} ${y1} C ${x1 + dx} ${top}, ${x2 - dx} ${top}, ${x2} ${y2}`;
      lx = (x1 + x2) / 2;
      ly = (y1 + y2) / 8 + 0.75 * top - 4;
    } else {
      const mx = (x1 + x2) / 2;
      const my = (y1 + y2) / 2;
      const len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const cx = mx - ((y2 - y1) / len) * bend;
      const cy = my + ((x2 - x1) / len) * bend;
      d = `M ${x1} ${y1} Q ${cx} ${cy} ${x2} ${y2}`;
      lx = (mx + cx) / 2;
      ly = (my + cy) / 2 - 4;
    }
    g.append(svg("path", { d, "marker-end": "url(#arrow)" }));
    const label = e.kind === "tasks" ? "tasks" : shorten(e.topics.join(", "), 36);
    g.append(svg("text", { x: lx, y: ly, "text-anchor": "middle" }, label));
    const title = svg("title", {}, e.kind === "tasks" ? `${e.from} → ${e.to}: tasks` : `${e.from} → ${e.to}: ${e.topics.join(", ")}`);
    g.append(title);
    root.append(g);
  }

  for (const s of nodes) {
    const p = place.get(s.name);
    const isSelected = selected && selected.kind === "service" && selected.name === s.name;
    const g = svg("g", {
      class: "node" + (isSelected ? " selected" : ""),
      "data-name": s.name, "data-liveness": s.liveness, transform: `translate(${p.x} ${p.y})`,
    });
    g.append(svg("rect", { width: NODE_W, height: NODE_H, class: colour(s) }));
    g.append(svg("text", { x: 10, y: 19 }, shorten(s.name, 22)));
    const line = [s.liveness, s.state, s.status].filter((x) => x).join(" · ");
    g.append(svg("text", { x: 10, y: 36, class: "sub" }, shorten(line, 28)));
    g.append(svg("title", {}, `${s.name} (${s.service_type || "no description"})`));
    g.addEventListener("click", () => select("service", s.name));
    root.append(g);
  }
}

function row(cells, onClick, isSelected) {
  const tr = el("tr", isSelected ? { class: "selected" } : {});
  for (const cell of cells) tr.append(cell);
  tr.addEventListener("click", onClick);
  return tr;
}

function td(text, cls) {
  return el("td", cls ? { class: cls } : {}, text);
}

function drawTables() {
  const services = document.querySelector("#services tbody");
  services.replaceChildren(
    ...snapshot.services.map((s) => {
      const badge = el("span", { class: "badge " + colour(s) }, s.liveness);
      const liveness = el("td");
      liveness.append(badge);
      return row(
        [
          td(s.name), td(s.service_type || "-"), liveness, td(s.state || "-"), td(s.status || "-"),
          td(duration(s.uptime), "num"), td(fmt(s.messages_sent, 0), "num"),
          td(fmt(s.messages_received, 0), "num"), td(fmt(s.errors, 0), "num"),
          td(fmt(s.send_rate, 1), "num"), td(fmt(s.receive_rate, 1), "num"),
          td(ago(s.last_seen), "num"),
        ],
        () => select("service", s.name),
        selected && selected.kind === "service" && selected.name === s.name,
      );
    }),
  );
  const topics = document.querySelector("#topics tbody");
  topics.replaceChildren(
    ...snapshot.topics.map((t) =>
      row(
        [
          td(t.topic), td(t.publishers.join(", ") || "-"), td(t.subscribers.join(", ") || "-"),
          td(fmt(t.rate, 2), "num"), td(bytes(t.avg_bytes), "num"), td(fmt(t.count, 0), "num"),
          td(fmt(t.errors, 0), "num"), td(ago(t.last_seen), "num"),
        ],
        () => select("topic", t.topic),
        selected && selected.kind === "topic" && selected.name === t.topic,
      ),
    ),
  );
  const d = snapshot.dropped;
  const left = [];
  if (snapshot.malformed) left.push(`${snapshot.malformed} malformed message(s)`);
  if (d.topics) left.push(`${d.topics} message(s) on topics beyond the limit`);
  if (d.services) left.push(`${d.services} message(s) from services beyond the limit`);
  if (d.descriptions) left.push(`${d.descriptions} description(s) too large or malformed`);
  document.getElementById("dropped").textContent = left.length ? "Left out: " + left.join("; ") : "";
}

function drawServiceDetail() {
  if (!selected || selected.kind !== "service") return;
  const s = snapshot.services.find((x) => x.name === selected.name);
  document.getElementById("detail").textContent = s ? JSON.stringify(s, null, 2) : "(gone)";
}

// A click on a topic fetches its last message once; a service's details follow the stream.
async function select(kind, name) {
  selected = { kind, name };
  document.getElementById("detail-hint").hidden = true;
  const title = document.getElementById("detail-title");
  const detail = document.getElementById("detail");
  if (kind === "service") {
    title.textContent = "Service " + name;
    drawServiceDetail();
  } else {
    title.textContent = "Last message on " + name;
    detail.textContent = "…";
    try {
      const response = await fetch("/api/topics/" + encodeURIComponent(name) + "/last");
      const body = await response.json();
      if (!selected || selected.name !== name) return;
      if (!response.ok) {
        detail.textContent = body.error || response.statusText;
      } else if (body.truncated) {
        detail.textContent = `(${bytes(body.bytes)}: larger than the dashboard keeps)`;
      } else {
        const when = new Date(body.received_at * 1000).toLocaleTimeString();
        detail.textContent = `received ${when}, ${bytes(body.bytes)}\n\n` + JSON.stringify(body.message, null, 2);
      }
    } catch (e) {
      detail.textContent = "cannot fetch it: " + e;
    }
  }
  if (snapshot) render();
}

function render() {
  document.getElementById("addresses").textContent = snapshot.addresses.join("  ");
  drawGraph();
  drawTables();
  drawServiceDetail();
}

function connect() {
  const status = document.getElementById("connection");
  const events = new EventSource("/api/events");
  events.addEventListener("snapshot", (event) => {
    snapshot = JSON.parse(event.data);
    status.textContent = "live";
    status.className = "connection live";
    render();
  });
  // EventSource reconnects by itself.
  events.addEventListener("error", () => {
    status.textContent = "disconnected, retrying…";
    status.className = "connection down";
  });
}

connect();
