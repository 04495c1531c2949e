// Pod timeline page: fetches /api/v1/debugpod and renders the verdict, the
// diagnosis summary, a Gantt chart of phases and spans with the SLO deadline,
// and the event list. Plain DOM APIs only (no build step, no libraries);
// every API string is inserted as text, never as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const PHASE_OWNER = {
  schedule: "k8s", sandbox: "k8s", image_pull: "k8s", init: "custom",
  container_start: "k8s", readiness: "custom", unfinished: "unfinished",
};
const MAX_SPAN_ROWS = 40;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function ms(t) { return Date.parse(t); }

function human(msv) {
  const a = Math.abs(msv);
  const sign = msv < 0 ? "-" : "";
  if (a < 1000) return sign + Math.round(a) + " ms";
  if (a < 60000) return sign + (a / 1000).toFixed(a < 10000 ? 1 : 0) + " s";
  const m = Math.floor(a / 60000), s = Math.round((a % 60000) / 1000);
  if (m < 60) return sign + m + " min" + (s ? " " + s + " s" : "");
  const h = Math.floor(m / 60);
  return sign + h + " h" + (m % 60 ? " " + (m % 60) + " min" : "");
}

function clock(t) {
  // HH:MM:SS.mmm UTC
  return new Date(ms(t)).toISOString().slice(11, 23);
}

// Which pod: /pod/<namespace>/<name>, or /pod?uid=... / ?namespace=&name=.
function apiQuery() {
  const params = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  const m = location.pathname.match(/^\/pod\/([^/]+)\/([^/]+)\/?$/);
  if (m) {
    out.set("namespace", decodeURIComponent(m[1]));
    out.set("name", decodeURIComponent(m[2]));
  }
  for (const k of ["uid", "namespace", "name", "node", "podip", "cluster"]) {
    if (params.get(k)) out.set(k, params.get(k));
  }
  return out;
}

function showError(msg) {
  const s = $("status");
  s.textContent = msg;
  s.className = "status error";
}

async function load() {
  const q = apiQuery();
  $("errors-only").checked = ["1", "true"].includes(new URLSearchParams(location.search).get("errors_only"));
  if (![...q.keys()].length) {
    showError("Give a pod: /pod?uid=<uid> or /pod/<namespace>/<name>");
    return;
  }
  let resp, body;
  try {
    resp = await fetch("/api/v1/debugpod?" + q.toString());
    body = await resp.json();
  } catch (e) {
    showError("Cannot reach the API: " + e);
    return;
  }
  if (!resp.ok) {
    const err = body && body.error ? body.error : {};
    showError((err.parameter ? "parameter " + err.parameter + ": " : "") + (err.message || resp.status));
    return;
  }
  if (body.kind === "pod_list") {
    renderList(body, q);
    return;
  }
  render(body);
}

// A node or IP query: one line per pod, each linking to its page.
function renderList(l, q) {
  $("status").textContent = l.pods.length + " pods for " + q.toString() + (l.truncated ? " (first " + l.limit + ")" : "");
  $("status").className = "status";
  const card = $("events-card");
  card.classList.remove("hidden");
  card.querySelector("h2").textContent = "Pods";
  card.querySelector("label").classList.add("hidden");
  const table = $("events");
  table.querySelector("thead").replaceChildren();
  const head = el("tr");
  for (const h of ["result", "pod", "code", "node", "created", "summary"]) head.append(el("th", {}, h));
  table.querySelector("thead").append(head);
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const p of l.pods) {
    const tr = el("tr", { class: "pod-row" + (p.result && p.result !== "success" ? " error" : "") });
    const result = p.result || "in_progress";
    const badge = el("span", { class: "badge " + result }, result.replace("_", " "));
    const link = el("a", { href: "/pod?uid=" + encodeURIComponent(p.uid) + "&cluster=" + encodeURIComponent(p.cluster) },
      p.namespace + "/" + p.name);
    const c1 = el("td"); c1.append(badge);
    const c2 = el("td"); c2.append(link);
    tr.append(c1, c2, el("td", { class: "what" }, p.code), el("td", {}, p.node), el("td", { class: "t" }, p.created_at), el("td", {}, p.summary));
    body.append(tr);
  }
  document.body.setAttribute("data-rendered", "true");
}

// What an in-progress pod is doing: its last event and the latest error.
function progressText(r) {
  const ev = r.timeline.events;
  if (!ev.length) return "No verdict yet and no events.";
  const last = ev[ev.length - 1];
  const lastWhat = last.reason ? last.reason + (last.message ? ": " + last.message : "") : last.operations.join(" ");
  let text = "No verdict yet. Last event " + human(ms(r.now) - ms(last.time)) + " ago: " + lastWhat + ".";
  const errs = ev.filter((e) => e.error);
  if (errs.length) {
    const e = errs[errs.length - 1];
    text += " Latest problem (" + clock(e.time) + "): " + (e.reason ? e.reason + (e.message ? ": " + e.message : "") : e.operations.join(" ")) + ".";
  }
  return text;
}

// The last answer, so the errors-only switch re-renders without a fetch.
let lastReport = null;

function render(r) {
  lastReport = r;
  const result = r.verdict ? r.verdict.result : "in_progress";
  $("status").textContent = r.status === "decided"
    ? "Verdict decided " + (r.verdict ? r.verdict.decided_at : "")
    : "Delivery in progress (no verdict yet) · as of " + r.now;
  $("status").className = "status";
  renderHead(r, result);
  renderDiagnosis(r, result);
  renderGantt(r);
  renderEvents(r);
  document.title = r.pod.namespace + "/" + r.pod.name + " · " + result + " · Lunettes";
  document.body.setAttribute("data-rendered", "true");
}

function renderHead(r, result) {
  $("pod").classList.remove("hidden");
  const badge = $("result-badge");
  badge.textContent = result.replace("_", " ");
  badge.className = "badge " + result;
  $("pod-title").textContent = r.pod.namespace + "/" + r.pod.name;
  const facts = $("facts");
  facts.replaceChildren();
  const p = r.pod;
  const rows = [
    ["cluster", p.cluster], ["uid", p.uid], ["node", p.node || "(not bound)"], ["pod IP", p.ip || "-"],
    ["owner", p.owner_kind ? p.owner_kind + "/" + p.owner_name : "-"], ["phase", p.phase || "-"],
    ["images", p.images.length ? p.images.join(", ") : "-"],
  ];
  if (r.verdict) {
    rows.push(["SLI", r.verdict.sli_ms != null ? human(r.verdict.sli_ms) : "-"]);
    rows.push(["SLO class", r.verdict.slo_class || "-"]);
  }
  if (r.other_uids.length) rows.push(["earlier incarnations", r.other_uids.join(", ")]);
  for (const [k, v] of rows) {
    const d = el("div", k === "images" || k === "earlier incarnations" ? { class: "wide" } : {});
    d.append(el("dt", {}, k), el("dd", {}, v));
    facts.append(d);
  }
}

function renderDiagnosis(r, result) {
  const card = $("diagnosis");
  card.classList.remove("hidden");
  card.className = "card diagnosis " + result;
  const v = r.verdict;
  $("verdict-code").textContent = v ? (v.code || (v.result === "success" ? "OK" : v.result)) : "in progress";
  $("sub-reason").textContent = v && v.sub_reason ? v.sub_reason : "";
  $("summary").textContent = v ? v.summary : progressText(r);
  const line = $("deadline-line");
  line.replaceChildren();
  const d = r.deadline;
  if (d) {
    line.append("SLO deadline ", el("b", {}, d.at), " (SLO " + human(d.slo_ms) + ", class " + d.slo_class +
      (d.source === "estimate" ? ", estimated" : "") + ") · ");
    line.append(el("b", {}, d.passed ? "passed " + human(-d.remaining_ms) + " ago" : human(d.remaining_ms) + " left"));
  } else {
    line.textContent = "No SLO deadline (best-effort pod).";
  }
}

function niceStep(spanMs, target) {
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000,
    600000, 900000, 1800000, 3600000, 7200000, 21600000, 43200000, 86400000];
  for (const s of steps) if (spanMs / s <= target) return s;
  return steps[steps.length - 1];
}

function renderGantt(r) {
  const card = $("gantt-card");
  card.classList.remove("hidden");
  const host = $("gantt");
  host.replaceChildren();
  const events = r.timeline.events;
  const children = r.spans.filter((s) => s.parent_span_id);
  const roots = r.spans.filter((s) => !s.parent_span_id);
  const start = r.verdict ? ms(r.verdict.created_at)
    : r.deadline ? ms(r.deadline.created_at)
      : events.length ? ms(events[0].time) : ms(r.now);
  let end = start + 1000;
  const grow = (t) => { if (t && t > end) end = t; };
  if (r.verdict) { grow(ms(r.verdict.decided_at)); if (r.verdict.finished_at) grow(ms(r.verdict.finished_at)); }
  else grow(ms(r.now));
  if (r.deadline) grow(ms(r.deadline.at));
  for (const p of r.phases) grow(ms(p.end));
  for (const s of r.spans) grow(ms(s.end));
  if (events.length) grow(ms(events[events.length - 1].time));
  const span = (end - start) * 1.04;

  const rows = [];
  if (r.phases.length) rows.push({ kind: "header", text: "PHASES" });
  for (const p of r.phases) rows.push({ kind: "phase", item: p });
  const spanRows = roots.concat(children).slice(0, MAX_SPAN_ROWS);
  if (spanRows.length) rows.push({ kind: "header", text: "SPANS" + (r.spans.length > MAX_SPAN_ROWS ? " (first " + MAX_SPAN_ROWS + ")" : "") });
  for (const s of spanRows) rows.push({ kind: "span", item: s });
  const labelW = 210, rightPad = 70, rowH = 22, top = 26, eventsRowH = 26;
  const width = Math.max(host.clientWidth || 1200, 700);
  const plotW = width - labelW - rightPad;
  const height = top + rows.length * rowH + eventsRowH + 10;
  const x = (t) => labelW + ((t - start) / span) * plotW;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Gantt chart of the pod's phases and spans" });
  const defs = svg("defs");
  const pat = svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" });
  pat.append(svg("rect", { width: 6, height: 6, fill: "#fff" }), svg("rect", { width: 2.5, height: 6, fill: "#d64545", "fill-opacity": 0.55 }));
  defs.append(pat);
  root.append(defs);

  // Axis and grid.
  const axis = svg("g", { class: "axis" });
  const step = niceStep(span, Math.max(4, Math.floor(plotW / 90)));
  for (let t = 0; t <= span; t += step) {
    const xx = x(start + t);
    axis.append(svg("line", { class: "grid", x1: xx, x2: xx, y1: top - 6, y2: height - 4 }));
    axis.append(svg("text", { x: xx + 3, y: top - 10 }, "+" + human(t)));
  }
  root.append(axis);

  rows.forEach((row, i) => {
    const y = top + i * rowH;
    if (row.kind === "header") {
      root.append(svg("text", { class: "section", x: 8, y: y + 16 }, row.text));
      return;
    }
    const it = row.item;
    const g = svg("g", { class: "row " + row.kind });
    let label, cls;
    if (row.kind === "phase") {
      label = it.name.replace("_", " ");
      const owner = PHASE_OWNER[it.name] || "k8s";
      cls = "phase-bar " + owner + (it.exact ? "" : " approx");
    } else {
      label = it.name + (it.instance ? " · " + it.instance : "");
      cls = "span-bar " + it.owner + (it.status === "Unset" ? " unset" : "") +
        (it.parent_span_id ? "" : " root" + (it.status === "Error" ? " error" : ""));
    }
    g.append(svg("text", { class: "row-label " + row.kind, x: row.kind === "span" ? 16 : 8, y: y + 15 },
      label.length > 30 ? label.slice(0, 29) + "…" : label));
    const x0 = x(ms(it.start)), x1 = x(ms(it.end));
    const inset = row.kind === "phase" ? 3 : 6;
    const rect = svg("rect", { class: cls, x: x0, y: y + inset, width: Math.max(2, x1 - x0), height: rowH - 2 * inset, rx: 2,
      "data-name": it.name });
    rect.append(svg("title", {}, label.trim() + ": " + human(it.duration_ms) + " (" + clock(it.start) + " → " + clock(it.end) + ")"));
    g.append(rect);
    g.append(svg("text", { class: "dur", x: Math.max(x1, x0 + 2) + 4, y: y + 15 }, human(it.duration_ms)));
    root.append(g);
  });

  // Event ticks.
  const ey = top + rows.length * rowH + 4;
  const ticks = svg("g", { class: "events-row" });
  ticks.append(svg("text", { class: "row-label", x: 8, y: ey + 15 }, "events (" + r.timeline.total + ")"));
  for (const e of events) {
    const xx = x(ms(e.time));
    const t = svg("line", { class: "evt-tick" + (e.error ? " error" : ""), x1: xx, x2: xx, y1: ey + 3, y2: ey + eventsRowH - 5 });
    t.append(svg("title", {}, clock(e.time) + " " + (e.reason || e.operations.join(" "))));
    ticks.append(t);
  }
  root.append(ticks);

  if (r.deadline) {
    const dx = x(ms(r.deadline.at));
    const g = svg("g", { id: "deadline-marker" });
    g.append(svg("line", { x1: dx, x2: dx, y1: top - 4, y2: height - 4 }));
    const anchorEnd = dx > width - 160;
    g.append(svg("text", { x: anchorEnd ? dx - 4 : dx + 4, y: height - 8, "text-anchor": anchorEnd ? "end" : "start" },
      "deadline " + human(r.deadline.slo_ms) + (r.deadline.source === "estimate" ? " (est.)" : "")));
    root.append(g);
  }
  if (r.status !== "decided") {
    const nx = x(ms(r.now));
    const g = svg("g", { id: "now-marker" });
    g.append(svg("line", { x1: nx, x2: nx, y1: top - 4, y2: height - 4 }), svg("text", { x: nx + 4, y: top + 10 }, "now"));
    root.append(g);
  }
  host.append(root);
}

function renderEvents(r) {
  $("events-card").classList.remove("hidden");
  const t = r.timeline;
  $("event-counts").textContent = "· " + t.total + " total, " + t.errors + " errors, " + t.gaps +
    " gaps > " + human(t.gap_threshold_ms) + (t.truncated ? " · truncated" : "");
  const body = document.querySelector("#events tbody");
  body.replaceChildren();
  const errorsOnly = $("errors-only").checked;
  const start = t.events.length ? ms(t.events[0].time) : 0;
  for (const e of t.events) {
    if (errorsOnly && !e.error) continue;
    if (e.gap) {
      const gr = el("tr", { class: "gap-row" });
      gr.append(el("td", { colspan: 5 }, "— " + human(e.gap_before_ms) + " without events —"));
      body.append(gr);
    }
    const tr = el("tr", { class: "event-row" + (e.error ? " error" : "") });
    const what = e.kind === "event" ? (e.event_type ? e.event_type + " " : "") + e.reason
      : (e.verb ? e.verb + " " : "") + e.resource + (e.response_code ? " → " + e.response_code : "");
    const msgCell = el("td");
    if (e.operations.length) msgCell.append(el("div", { class: "ops" }, e.operations.join("  ")));
    const msg = e.message || e.response_message;
    if (msg) msgCell.append(el("div", {}, msg + (e.count > 1 ? " (count " + e.count + ")" : "")));
    if (e.repeats > 1) msgCell.append(el("span", { class: "repeats" }, "×" + e.repeats + " records"));
    tr.append(el("td", { class: "t" }, clock(e.time)), el("td", { class: "t" }, "+" + human(ms(e.time) - start)),
      el("td", {}, e.source + (e.host ? " · " + e.host : e.component ? " · " + e.component : "")),
      el("td", { class: "what" }, what), msgCell);
    body.append(tr);
  }
}


document.addEventListener("DOMContentLoaded", () => {
  $("errors-only").addEventListener("change", () => { if (lastReport) renderEvents(lastReport); });
  $("lookup").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("lookup-uid").value.trim();
    if (!v) return;
    const parts = v.split("/");
    location.href = parts.length === 2 ? "/pod/" + encodeURIComponent(parts[0]) + "/" + encodeURIComponent(parts[1])
      : "/pod?uid=" + encodeURIComponent(v);
  });
  load();
});
