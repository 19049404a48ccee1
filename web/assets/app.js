// kitaru ui: the runs page and a run's page, drawn from the JSON API.
// Text from records is only ever set as text (never as markup).
"use strict";

const main = document.getElementById("main");
const statusLine = document.getElementById("status");

// h makes an element: h("a", {href: "/"}, "text", child, ...).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) {
      el.addEventListener(k.slice(2), v);
      // A redraw puts such an element in whole: the one shown has the
      // listeners of an older drawing.
      el.kitaruOwn = true;
    } else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const SVGNS = "http://www.w3.org/2000/svg";

// svg is h for SVG elements.
function svg(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else el.setAttribute(k, v);
  }
  for (const c of kids.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function say(msg) { statusLine.textContent = msg; }

// redraw shows kids as the page by patching the one shown (see patch):
// what has not changed stays the same element, so a click or the focus
// on a row is not lost to a row drawn anew. What had the focus and was
// drawn anew all the same (a form's part replaced whole) gets it back by
// its key.
function redraw(kids) {
  const focused = document.activeElement;
  const key = focusKey(focused);
  patchChildren(main, kids.flat().filter(Boolean));
  if (focused && focused.isConnected) {
    if (document.activeElement !== focused) focused.focus({ preventScroll: true });
  } else if (key) {
    const again = main.querySelector(key);
    if (again) again.focus({ preventScroll: true });
  }
}

// The attributes that name the record an element shows: an element drawn
// anew with the same one (and tag) is the shown one, changed.
const KEY_ATTRS = ["data-run", "data-step", "data-node", "data-item", "data-attempt", "data-turn", "data-call", "data-edge", "data-diff", "data-part"];

function keyOfNode(n) {
  if (n.nodeType !== Node.ELEMENT_NODE) return null;
  if (n.id) return "#" + n.id;
  for (const a of KEY_ATTRS) {
    const v = n.getAttribute(a);
    if (v !== null) return a + "=" + v;
  }
  return null;
}

// patchChildren makes parent's children kids: a kid already shown in
// parent, or kept (see keeper), goes in as it is; otherwise the shown
// child with its key (or, without one, the next shown one of its tag) is
// patched to be it; otherwise it goes in new. Children left over go.
function patchChildren(parent, kids) {
  const keyed = new Map();
  const loose = new Map();
  for (const n of parent.childNodes) {
    const k = keyOfNode(n);
    if (k) keyed.set(n.nodeName + k, n);
    else {
      if (!loose.has(n.nodeName)) loose.set(n.nodeName, []);
      loose.get(n.nodeName).push(n);
    }
  }
  const used = new Set();
  kids.forEach((kid, i) => {
    let put = typeof kid === "string" ? document.createTextNode(kid) : kid;
    if (put.parentNode !== parent && !put.kitaruKept) {
      const k = keyOfNode(put);
      const list = loose.get(put.nodeName);
      const was = k ? keyed.get(put.nodeName + k) : list && list.shift();
      if (was && !used.has(was) && patch(was, put)) put = was;
    }
    used.add(put);
    const at = parent.childNodes[i];
    if (at !== put) parent.insertBefore(put, at || null);
  });
  while (parent.childNodes.length > kids.length) parent.lastChild.remove();
}

// patch makes the shown node was look as n does, keeping it; false when
// it cannot (another tag, or an element with listeners of its own).
function patch(was, n) {
  if (was.nodeType !== n.nodeType || was.nodeName !== n.nodeName) return false;
  if (n.nodeType !== Node.ELEMENT_NODE) {
    if (was.nodeValue !== n.nodeValue) was.nodeValue = n.nodeValue;
    return true;
  }
  if (n.kitaruOwn || was.kitaruOwn || was.kitaruKept) return false;
  // A details a person opened or closed stays so; style goes through
  // the CSSOM (the page's policy refuses style attributes).
  const mine = (a) => a === "style" || (a === "open" && was.tagName === "DETAILS");
  for (const a of [...was.attributes]) if (!mine(a.name) && !n.hasAttribute(a.name)) was.removeAttribute(a.name);
  for (const a of n.attributes) if (!mine(a.name) && was.getAttribute(a.name) !== a.value) was.setAttribute(a.name, a.value);
  if (n.style && was.style.cssText !== n.style.cssText) was.style.cssText = n.style.cssText;
  patchChildren(was, [...n.childNodes]);
  return true;
}

// focusKey is a selector for el that finds its counterpart once the page
// is drawn again: by its id, or by the record it belongs to (a step, a
// node, a run) within the nearest box with an id, and its link.
function focusKey(el) {
  if (!el || el === main || !main.contains(el)) return null;
  if (el.id) return "#" + CSS.escape(el.id);
  const holder = el.closest("[data-node], [data-step], [data-run], [data-call], [data-turn], [data-item], [data-attempt]");
  const attr = holder && holder.getAttributeNames().find((n) => n.startsWith("data-"));
  const scope = holder ? "[" + attr + "=\"" + CSS.escape(holder.getAttribute(attr)) + "\"]" : "";
  const href = el.getAttribute("href");
  const self = el === holder ? "" : " " + el.tagName.toLowerCase() + (href ? "[href=\"" + CSS.escape(href) + "\"]" : "");
  const box = (holder || el).closest("[id]");
  const key = (box && box !== main ? "#" + CSS.escape(box.id) + " " : "") + scope + self;
  return key.trim() || null;
}

function runLink(id, label) {
  return h("a", { href: "/runs/" + encodeURIComponent(id) }, label ? label + " " : "", h("code", {}, id));
}

function stepHref(run, step) {
  return "/runs/" + encodeURIComponent(run) + "/steps/" + encodeURIComponent(step);
}

// stepState is what a step's record says of it at a glance.
function stepState(s) { return s.reused ? "reused" : s.status; }

// api calls the JSON API; the token travels in the cookie the first page
// load set. An error answer throws with the server's words.
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) {
    const err = new Error(data.error + (data.remedy ? "; " + data.remedy : ""));
    err.status = res.status;
    throw err;
  }
  return data;
}

function badge(status) {
  return h("span", { class: "status status-" + status }, status);
}

function duration(ms) {
  if (ms === undefined || ms === null) return "";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " m " + Math.round(s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " m";
}

function runMS(run) {
  if (run.active_ms) return run.active_ms;
  const end = run.ended_at ? new Date(run.ended_at) : (run.status === "running" ? new Date() : null);
  return end ? end - new Date(run.started_at) : null;
}

function tokens(u) {
  if (!u) return "";
  const n = (u.input_tokens || 0) + (u.output_tokens || 0);
  return n ? String(n) : "";
}

// usageText is tokens in and out.
function usageText(u) {
  if (!u || !(u.input_tokens || u.output_tokens)) return "0";
  return (u.input_tokens || 0) + " in, " + (u.output_tokens || 0) + " out";
}

function cost(c) { return c ? money(c) : ""; }

// money is dollars: to the hundredth of a cent, or two figures for less.
function money(c) {
  c = Number(c);
  return "$" + (c > 0 && c < 0.0001 ? c.toPrecision(2) : c.toFixed(4));
}

function when(t) { return t ? new Date(t).toLocaleString() : ""; }

// short is a value on one line, cut to a table cell's width.
function short(v) {
  if (v === undefined || v === null) return "";
  const t = typeof v === "string" ? v : JSON.stringify(v);
  return t.length > 80 ? t.slice(0, 79) + "…" : t;
}

function pretty(v) { return typeof v === "string" ? v : JSON.stringify(v, null, 2); }

// ---- Runs page ----

const RUN_STATUSES = ["running", "waiting", "interrupted", "completed", "failed", "cancelled"];

function runsPage() {
  const params = new URLSearchParams(location.search);
  const flow = h("input", { name: "flow", id: "f-flow", value: params.get("flow") || "", placeholder: "any flow" });
  const idq = h("input", { name: "id", id: "f-id", value: params.get("id") || "", placeholder: "kr-…", size: 12 });
  const status = h("select", { name: "status", id: "f-status" },
    h("option", { value: "" }, "any"),
    RUN_STATUSES.map((s) => h("option", { value: s, selected: params.get("status") === s }, s)));
  const body = h("tbody", { id: "runs" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Older runs");
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter runs" },
    h("label", { for: "f-id" }, "Run id starts with", idq),
    h("label", { for: "f-flow" }, "Flow", flow),
    h("label", { for: "f-status" }, "Status", status),
    h("button", { type: "submit" }, "Filter"));
  main.replaceChildren(
    h("h1", {}, "Runs"),
    form,
    startForm(),
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "visually-hidden" }, "Runs, newest first"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Run"), h("th", { scope: "col" }, "Flow"), h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col", class: "wide" }, "Started"), h("th", { scope: "col" }, "Duration"),
        h("th", { scope: "col", class: "wide" }, "Tokens"), h("th", { scope: "col", class: "wide" }, "Cost"))),
      body)),
    more);

  let cursor = "";
  const query = () => {
    const q = new URLSearchParams();
    if (idq.value) q.set("id", idq.value);
    if (flow.value) q.set("flow", flow.value);
    if (status.value) q.set("status", status.value);
    return q;
  };
  const row = (r) => h("tr", { "data-run": r.id },
    h("td", {}, h("a", { href: "/runs/" + encodeURIComponent(r.id) }, h("code", {}, r.id))),
    h("td", {}, r.flow), h("td", {}, badge(r.status)),
    h("td", { class: "wide" }, when(r.started_at)), h("td", { class: "num" }, duration(runMS(r))),
    h("td", { class: "num wide" }, tokens(r.usage)), h("td", { class: "num wide" }, cost(r.cost_usd)));
  // load draws the first page again (keeping older pages shown) or, with
  // older, appends the next page.
  async function load(older) {
    const q = query();
    q.set("limit", "50");
    if (older) q.set("cursor", cursor);
    try {
      const page = await api("GET", "/api/runs?" + q);
      if (older) {
        body.append(...page.runs.map(row));
        cursor = page.next || "";
      } else {
        // The first page again; rows of older pages shown stay below it.
        const pages = Number(body.dataset.pages || 1);
        const seen = new Set(page.runs.map((r) => r.id));
        const kept = pages > 1 ? [...body.children].filter((tr) => tr.dataset.run && !seen.has(tr.dataset.run)) : [];
        patchChildren(body, [...page.runs.map(row), ...kept]);
        if (pages === 1) cursor = page.next || "";
      }
      more.hidden = !cursor;
      if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "note" }, "No runs yet. Start one with kitaru run FLOW.yaml or the form above.")));
    } catch (e) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "error" }, e.message)));
    }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    history.replaceState(null, "", "/?" + query());
    delete body.dataset.pages;
    load(false);
  });
  more.addEventListener("click", () => { body.dataset.pages = Number(body.dataset.pages || 1) + 1; load(true); });
  load(false);
  // New runs appear without a reload: the first page is asked again
  // every two seconds (it is one small store query), which also shows
  // runs started by other processes.
  const timer = setInterval(() => { if (!document.hidden) load(false); }, 2000);
  return () => clearInterval(timer);
}

function startForm() {
  const path = h("input", { id: "s-flow", name: "flow", required: true, placeholder: "flow.yaml", size: 30 });
  const inputs = h("textarea", { id: "s-inputs", name: "inputs", rows: 2, placeholder: '{"topic": "durable agents"}' });
  const out = h("p", { role: "alert", class: "note" });
  const form = h("form", { "aria-label": "Start a run" },
    h("div", { class: "actions" },
      h("label", { for: "s-flow" }, "Flow file (from the directory kitaru ui runs in)", path),
      h("label", { for: "s-inputs" }, "Inputs (JSON object)", inputs),
      h("button", { type: "submit", class: "primary" }, "Run")),
    out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    out.textContent = "";
    let given = {};
    try { given = inputs.value.trim() ? JSON.parse(inputs.value) : {}; } catch (e) {
      out.className = "error"; out.textContent = "The inputs are not JSON: " + e.message; return;
    }
    try {
      const res = await api("POST", "/api/runs", { flow: path.value, inputs: given });
      navigate("/runs/" + encodeURIComponent(res.id));
    } catch (e) { out.className = "error"; out.textContent = e.message; }
  });
  // Folded: the list is what the page is for.
  return h("details", { class: "panel" }, h("summary", {}, "Start a run"), form);
}

// ---- A run's page ----

function runPage(id) {
  main.replaceChildren(h("h1", {}, "Run ", h("code", {}, id)), h("p", { class: "note" }, "Loading…"));
  let run = null;
  const live = {}; // step id -> {done, now}: its lines while it runs
  let refresh = null;
  let shown = "";
  // The graph is the recorded flow's (read once, and again if a retry
  // edits the flow); the replays of the run are asked for when its
  // status changes.
  const extra = { graph: null, replays: null };
  let lastStatus = "";
  async function loadGraph() {
    try { extra.graph = (await api("GET", "/api/runs/" + encodeURIComponent(id) + "/graph")).steps; } catch (e) { extra.graph = { error: e.message }; }
    draw();
  }
  async function loadReplays() {
    try { extra.replays = (await api("GET", "/api/runs/" + encodeURIComponent(id) + "/replays")).replays; } catch (e) { extra.replays = []; }
    draw();
  }
  const keep = keeper();
  const draw = () => {
    if (!run) return;
    redraw(runView(run, live, reload, keep, extra));
  };
  async function reload() {
    try {
      const got = await api("GET", "/api/runs/" + encodeURIComponent(id));
      const text = JSON.stringify(got);
      if (text === shown) return;
      shown = text;
      run = got;
      draw();
      if (run.status !== lastStatus) { lastStatus = run.status; loadReplays(); }
    } catch (e) {
      main.replaceChildren(h("h1", {}, "Run ", h("code", {}, id)), h("p", { class: "error", role: "alert" }, e.message));
    }
  }
  // A burst of events draws the page once.
  const soon = () => { if (!refresh) refresh = setTimeout(() => { refresh = null; reload(); }, 50); };
  reload();
  loadGraph();
  const es = new EventSource("/api/runs/" + encodeURIComponent(id) + "/events");
  es.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.type === "flow_changed") loadGraph();
    if (!run) { soon(); return; }
    const step = run.steps && run.steps.find((s) => s.id === ev.step);
    switch (ev.type) {
      case "text":
      case "log": {
        // A step's lines as they come: log events bring finished lines,
        // text events the line a model is writing now.
        const line = ev.lines && ev.lines[0];
        const at = ev.step || (line && line.step);
        if (!at) return;
        const l = live[at] || (live[at] = { done: "", now: "" });
        if (ev.type === "log") { l.done += ev.lines.map((x) => x.text + "\n").join(""); l.now = ""; }
        else l.now = line ? line.text : "";
        const pre = document.getElementById("live-" + at);
        if (pre) pre.textContent = l.done + l.now; else soon();
        return;
      }
      case "step_started":
        if (step && !ev.item) { step.status = "running"; draw(); }
        break;
      case "step_finished":
        if (step && ev.result) {
          // The times too, so the timeline's bar ends where the step did.
          const r = ev.result;
          Object.assign(step, { status: r.status, duration_ms: r.duration_ms, started_at: r.started_at || step.started_at, ended_at: r.ended_at });
          draw();
          say("step " + ev.step + " " + r.status);
        }
        break;
      case "run_finished":
        if (ev.run_record) say("run " + ev.run + " " + ev.run_record.status);
        break;
    }
    soon();
  };
  return () => es.close();
}

// keeper keeps what a page's draws make of a key (a form, by what it is
// for), so that what a person typed or chose survives a live page's
// updates: keep(key, make) is the element made the first time.
function keeper() {
  const kept = new Map();
  return (key, make) => {
    if (!kept.has(key)) {
      const el = make();
      el.kitaruKept = true;
      kept.set(key, el);
    }
    return kept.get(key);
  };
}

// actionNotice is where a page says what an action did (kept across its
// updates), and tell, which says it.
function actionNotice(keep) {
  const notice = keep("notice", () => h("p", { id: "action-result", role: "status", class: "note" }));
  const tell = (label, res) => {
    notice.className = res.note ? "error" : "note";
    const now = !res.run ? "under way" : res.run.status === "running" ? "asked to stop at its next safe point" : "the run is " + res.run.status;
    notice.replaceChildren(label + ": ", res.note || now, " (", runLink(res.id, "run"), ")");
  };
  return [notice, tell];
}

function runView(run, live, reload, keep, extra) {
  const out = [h("h1", {}, "Run ", h("code", {}, run.id), " ", badge(run.status))];
  out.push(h("dl", { class: "meta" },
    h("dt", {}, "Flow"), h("dd", {}, run.flow, run.flow_file ? h("span", { class: "note" }, " (" + run.flow_file + ")") : ""),
    h("dt", {}, "Started"), h("dd", {}, when(run.started_at)),
    h("dt", {}, "Duration"), h("dd", {}, duration(runMS(run))),
    h("dt", {}, "Tokens"), h("dd", {}, tokens(run.usage) || "0"),
    h("dt", {}, "Cost"), h("dd", {}, cost(run.cost_usd) || "—"),
    run.replay_of ? [h("dt", {}, "Replay of"), h("dd", {}, runLink(run.replay_of), run.replay_from ? " from " + run.replay_from : "")] : null));
  if (run.error) out.push(h("p", { class: "error", role: "alert" }, run.error));
  const [notice, tell] = actionNotice(keep);
  out.push(notice);
  // What the run waits for comes first: it is what a person came to do.
  for (const s of run.steps || []) {
    if (s.status === "waiting" && s.wait && !s.wait.answered) {
      out.push(keep("wait " + s.id + " " + JSON.stringify(s.wait), () => waitForm(run, s, reload, tell)));
    }
  }
  out.push(h("h2", {}, "Steps"), graphView(run, extra.graph));
  out.push(h("div", { class: "table-wrap" }, h("table", { id: "steps" },
    h("caption", { class: "visually-hidden" }, "Steps"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Step"), h("th", { scope: "col" }, "Kind"),
      h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Duration"),
      h("th", { scope: "col" }, "Output"),
      h("th", { scope: "col", class: "wide" }, "Model"), h("th", { scope: "col", class: "wide" }, "Note"))),
    h("tbody", {}, (run.steps || []).map((s) => h("tr", { "data-step": s.id },
      h("td", {}, h("a", { href: stepHref(run.id, s.id) }, h("code", {}, s.id))), h("td", {}, s.kind),
      h("td", { class: "step-status" }, badge(stepState(s))),
      h("td", { class: "num" }, s.status === "running" || s.status === "pending" || s.status === "waiting" ? "" : duration(s.duration_ms)),
      h("td", { class: "step-output" }, short(s.output)),
      h("td", { class: "wide" }, s.model || ""),
      h("td", { class: "wide" }, s.error ? h("span", { class: "error" }, s.error) : (s.reason || ""))))))));
  for (const [step, l] of Object.entries(live)) {
    const s = (run.steps || []).find((x) => x.id === step);
    if (s && s.status === "running") out.push(h("h2", {}, "Live: ", h("code", {}, step)), h("pre", { id: "live-" + step }, l.done + l.now));
  }
  out.push(timelineView(run));
  out.push(keep("actions " + run.status, () => actions(run, tell, reload)));
  out.push(lineageView(run, extra.replays));
  const other = run.replay_of || (extra.replays && extra.replays.length ? extra.replays[0].id : "");
  out.push(keep("compare " + other, () => compareForm(run, other)));
  out.push(h("h2", {}, "Inputs"), h("pre", {}, pretty(run.inputs || {})));
  if (run.output !== undefined && run.output !== null) out.push(h("h2", {}, "Output"), h("pre", { id: "output" }, pretty(run.output)));
  return out.filter(Boolean);
}

// graphView draws the recorded flow's steps in stages, left to right,
// each linked to its page and coloured by its status now; the arrows are
// what each step waits for.
function graphView(run, graph) {
  if (!graph) return h("p", { class: "note" }, "Loading the step graph…");
  if (graph.error) return h("p", { class: "error" }, "The step graph cannot be drawn: " + graph.error);
  const rec = Object.fromEntries((run.steps || []).map((s) => [s.id, s]));
  const W = 160, H = 42, GX = 44, GY = 12, P = 4;
  const stages = new Map();
  for (const g of graph) {
    if (!stages.has(g.stage)) stages.set(g.stage, []);
    stages.get(g.stage).push(g);
  }
  const at = {};
  let rows = 1, cols = 1;
  for (const [n, list] of stages) {
    list.forEach((g, i) => { at[g.id] = { x: P + (n - 1) * (W + GX), y: P + i * (H + GY) }; });
    rows = Math.max(rows, list.length);
    cols = Math.max(cols, n);
  }
  const width = 2 * P + cols * (W + GX) - GX, height = 2 * P + rows * (H + GY) - GY;
  const edges = [];
  for (const g of graph) {
    for (const d of g.needs || []) {
      const a = at[d], b = at[g.id];
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 2, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
      edges.push(svg("path", { class: "edge", "data-edge": d + "→" + g.id, d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
    }
  }
  const nodes = graph.map((g) => {
    const s = rec[g.id] || { status: "pending" };
    const st = stepState(s);
    const { x, y } = at[g.id];
    const name = g.id.length > 19 ? g.id.slice(0, 18) + "…" : g.id;
    const sub = st + (g.foreach ? " · foreach" : "") + (g.kind ? " · " + g.kind : "");
    return svg("a", { href: stepHref(run.id, g.id), class: "node st-" + st, "data-node": g.id,
      "aria-label": g.id + ": " + st + (g.needs && g.needs.length ? ", after " + g.needs.join(", ") : "") },
    svg("title", {}, g.id + " (" + st + ")"),
    svg("rect", { x, y, width: W, height: H, rx: 6 }),
    svg("text", { x: x + 10, y: y + 17, class: "name" }, name),
    svg("text", { x: x + 10, y: y + 33, class: "sub" }, sub));
  });
  return h("div", { class: "graph-wrap", id: "graph" }, svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "Step graph" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 8 8", refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L8,4 L0,8 z", class: "arrowhead" }))),
    edges, nodes));
}

// timelineView: a bar for each step that ran in this run, from its start
// to its end (to now while it runs), on the span of them all.
function timelineView(run) {
  const ran = (run.steps || []).filter((s) => s.started_at && !s.reused);
  if (!ran.length) return null;
  const now = Date.now();
  const start = (s) => +new Date(s.started_at);
  const end = (s) => (s.ended_at ? +new Date(s.ended_at) : s.status === "running" || s.status === "waiting" ? now : start(s) + (s.duration_ms || 0));
  const t0 = Math.min(...ran.map(start));
  const span = Math.max(1, Math.max(...ran.map(end)) - t0);
  const rows = ran.map((s) => {
    const bar = h("span", { class: "tl-bar st-" + s.status });
    // Sizes through the CSSOM: the page's policy refuses style attributes.
    bar.style.marginLeft = ((start(s) - t0) / span * 100).toFixed(2) + "%";
    bar.style.width = Math.max(0.5, (end(s) - start(s)) / span * 100).toFixed(2) + "%";
    return h("li", { class: "tl-row", "data-step": s.id },
      h("a", { class: "tl-label", href: stepHref(run.id, s.id) }, h("code", {}, s.id)),
      h("span", { class: "tl-track" }, bar),
      h("span", { class: "tl-time num" }, "+" + duration(start(s) - t0) + ", " + duration(end(s) - start(s))));
  });
  return h("section", { "aria-label": "Timeline" }, h("h2", {}, "Timeline"),
    h("ol", { class: "timeline", id: "timeline" }, rows),
    h("p", { class: "note" }, "From the first step's start; ", duration(span), " in all."));
}

// lineageView: what the run replays, the replays made from it, and where
// the record of each step it reused is.
function lineageView(run, replays) {
  const reused = (run.steps || []).filter((s) => s.reused);
  replays = replays || [];
  if (!run.replay_of && !reused.length && !replays.length) return null;
  return h("section", { "aria-label": "Replay lineage", id: "lineage" }, h("h2", {}, "Replay lineage"),
    h("dl", { class: "meta" },
      h("dt", {}, "Replays"), h("dd", { id: "replay-of" }, run.replay_of ? [runLink(run.replay_of), run.replay_from ? " from step " + run.replay_from : ""] : "no run (it is not a replay)"),
      h("dt", {}, "Replayed by"), h("dd", {}, replays.length
        ? h("ul", { class: "plain", id: "replays" }, replays.map((r) => h("li", {}, runLink(r.id), " ", badge(r.status), r.replay_from ? " from step " + r.replay_from : "")))
        : "no replay yet")),
    reused.length ? h("div", { class: "table-wrap" }, h("table", { id: "reused" },
      h("caption", {}, "Reused steps and the run whose record each reuses"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Step"), h("th", { scope: "col" }, "Record in run"))),
      h("tbody", {}, reused.map((s) => h("tr", { "data-step": s.id }, h("td", {}, h("code", {}, s.id)),
        h("td", {}, s.reused_from ? h("a", { href: stepHref(s.reused_from, s.id) }, h("code", {}, s.reused_from)) : "—")))))) : null);
}

function compareForm(run, other) {
  const inp = h("input", { id: "c-other", name: "b", value: other, placeholder: "kr-…", required: true, size: 16 });
  const form = h("form", { class: "actions", "aria-label": "Compare" },
    h("label", { for: "c-other" }, "Compare with run", inp),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    navigate("/compare?" + new URLSearchParams({ a: run.id, b: inp.value.trim() }));
  });
  return h("section", { class: "panel", "aria-label": "Compare runs" }, form);
}

function actions(run, tell, reload) {
  const msg = h("p", { role: "alert", class: "note" });
  const act = (label, path, body, show) => show ? h("button", {
    type: "button", onclick: async (ev) => {
      const b = ev.currentTarget;
      b.disabled = true;
      try {
        const res = await api("POST", "/api/runs/" + encodeURIComponent(run.id) + path, body);
        if (res.id && res.id !== run.id) { navigate("/runs/" + encodeURIComponent(res.id)); return; }
        tell(label, res);
        reload();
      } catch (e) { msg.className = "error"; msg.textContent = e.message; b.disabled = false; }
    },
  }, label) : null;
  const live = run.status === "running";
  const from = h("select", { id: "r-from" }, h("option", { value: "" }, "changed steps only"),
    (run.steps || []).map((s) => h("option", { value: s.id }, s.id)));
  const rin = h("textarea", { id: "r-inputs", rows: 2, placeholder: '{"topic": "another"}' });
  const rover = h("textarea", { id: "r-overrides", rows: 2, placeholder: '{"research": "edited notes"}' });
  const replay = h("form", { class: "actions", "aria-label": "Replay" },
    h("label", { for: "r-from" }, "Replay from", from),
    h("label", { for: "r-inputs" }, "Inputs (JSON, over the run's)", rin),
    h("label", { for: "r-overrides" }, "Overrides: step outputs (JSON)", rover),
    h("button", { type: "submit" }, "Replay"));
  const object = (ta, what) => {
    if (!ta.value.trim()) return undefined;
    try { return JSON.parse(ta.value); } catch (e) { throw new Error(what + " are not JSON: " + e.message); }
  };
  replay.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const body = { from: from.value, inputs: object(rin, "The inputs"), overrides: object(rover, "The overrides") };
      const res = await api("POST", "/api/runs/" + encodeURIComponent(run.id) + "/replay", body);
      navigate("/runs/" + encodeURIComponent(res.id));
    } catch (e) { msg.className = "error"; msg.textContent = e.message; }
  });
  const buttons = [
    act("Resume", "/resume", undefined, run.status === "interrupted" || run.status === "waiting"),
    act("Retry", "/retry", undefined, run.status === "failed" || run.status === "interrupted"),
    act("Cancel", "/cancel", undefined, live || run.status === "waiting" || run.status === "interrupted")].filter(Boolean);
  return h("section", { class: "panel", "aria-label": "Actions" },
    buttons.length ? h("div", { class: "actions" }, buttons) : null,
    live ? null : replay, msg);
}

// ---- The wait form, from the wait's JSON Schema ----

// field makes the control for one schema (string, boolean, number,
// integer, enum; anything else is edited as JSON) and returns it with a
// function that reads its value.
function field(id, label, schema, required) {
  schema = schema || {};
  const desc = schema.description ? h("span", { class: "note" }, schema.description) : null;
  if (Array.isArray(schema.enum)) {
    const sel = h("select", { id, required },
      required ? null : h("option", { value: "" }, "—"),
      schema.enum.map((v, i) => h("option", { value: String(i) }, JSON.stringify(v))));
    return { el: h("label", { for: id }, label, desc, sel), get: () => (sel.value === "" ? undefined : schema.enum[Number(sel.value)]) };
  }
  switch (schema.type) {
    case "boolean": {
      const box = h("input", { id, type: "checkbox", checked: schema.default === true });
      return { el: h("label", { for: id, class: "check" }, box, " ", label, desc), get: () => box.checked };
    }
    case "number":
    case "integer": {
      const inp = h("input", { id, type: "number", step: schema.type === "integer" ? "1" : "any", required, value: schema.default ?? "" });
      return { el: h("label", { for: id }, label, desc, inp), get: () => (inp.value === "" ? undefined : Number(inp.value)) };
    }
    case "string": {
      const inp = h("input", { id, type: "text", required, value: schema.default ?? "" });
      return { el: h("label", { for: id }, label, desc, inp), get: () => (inp.value === "" && !required ? undefined : inp.value) };
    }
  }
  const ta = h("textarea", { id, required, placeholder: "JSON" });
  return {
    el: h("label", { for: id }, label + " (JSON)", desc, ta),
    get: () => {
      if (ta.value.trim() === "") return undefined;
      try { return JSON.parse(ta.value); } catch (e) { throw new Error(label + " is not JSON: " + e.message); }
    },
  };
}

// callAsking says which tool call of an agent loop asks (a wait step's
// own question: nothing), and how many questions wait after it.
function callAsking(wait) {
  const q = wait.calls && wait.calls[0];
  if (!q) return null;
  const more = wait.calls.length - 1;
  const after = more ? "; " + more + (more === 1 ? " more question waits" : " more questions wait") + " after it, answered one at a time." : ".";
  if (!q.tool && q.child_run) {
    // A foreach item of a flow step, whose child run asks.
    return h("p", { class: "note wait-call" }, "Item " + q.item + "'s child run ", runLink(q.child_run), " asks", after);
  }
  return h("p", { class: "note wait-call" }, "Tool ", h("code", {}, q.tool), " asks, called on turn " + q.turn,
    q.item !== undefined && q.item !== null ? [" of item ", String(q.item)] : "",
    after);
}

function waitForm(run, step, reload, tell) {
  const schema = step.wait.schema || { type: "string" };
  const pre = "w-" + step.id + "-";
  let fields = [];
  let get;
  if (schema.type === "object" && schema.properties) {
    const req = new Set(schema.required || []);
    fields = Object.entries(schema.properties).map(([k, s]) => [k, field(pre + k, k, s, req.has(k))]);
    get = () => {
      const v = {};
      for (const [k, f] of fields) { const x = f.get(); if (x !== undefined) v[k] = x; }
      return v;
    };
  } else {
    const f = field(pre + "value", "Answer", schema, true);
    fields = [["", f]];
    get = f.get;
  }
  const msg = h("p", { role: "alert" });
  const abort = h("button", { type: "button", class: "abort" }, "Abort the run");
  const form = h("form", { class: "panel wait", "aria-label": "Answer " + step.id },
    h("h2", {}, "Waiting: ", h("code", {}, step.id)),
    callAsking(step.wait),
    h("pre", {}, step.wait.question || ""),
    fields.map(([, f]) => f.el),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Answer"), abort),
    msg);
  const post = async (body) => {
    try {
      const res = await api("POST", "/api/runs/" + encodeURIComponent(run.id) + "/input", body);
      tell(body.abort ? "Aborted" : "Answered", res);
      reload();
    } catch (e) { msg.className = "error"; msg.textContent = e.message; }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    let value;
    try { value = get(); } catch (e) { msg.className = "error"; msg.textContent = e.message; return; }
    post({ step: step.id, value: value === undefined ? null : value });
  });
  abort.addEventListener("click", () => post({ step: step.id, abort: true }));
  return form;
}

// ---- A step's page (or a foreach item's): the record whole, as
// `executions get --step [--item]` ----

function itemHref(run, step, item) { return stepHref(run, step) + "/items/" + item; }

// stepPage draws step stepID of run id, or with item its item of that
// number. A question the run waits on there is answered from the page.
function stepPage(id, stepID, item) {
  const runHref = "/runs/" + encodeURIComponent(id);
  const stepPath = runHref + "/steps/" + encodeURIComponent(stepID);
  const path = item === undefined ? stepPath : stepPath + "/items/" + item;
  const title = () => item === undefined ? h("h1", {}, "Step ", h("code", {}, stepID)) : h("h1", {}, "Item " + item + " of ", h("code", {}, stepID));
  main.replaceChildren(title(), h("p", { class: "note" }, "Loading…"));
  const log = { lines: [], live: [], now: "" };
  const keep = keeper();
  let refresh = null;
  const logQuery = new URLSearchParams({ step: stepID });
  if (item !== undefined) logQuery.set("item", item);
  // A line (or event) is this page's when it is its step's (and item's).
  const mine = (x, ev) => (x.step || ev.step) === stepID && (item === undefined || (x.item ?? ev.item) === item);
  async function reload() {
    try {
      // An item's page reads its step too: the question the step answers
      // next may be another item's.
      const [v, st, logs] = await Promise.all([api("GET", "/api" + path),
        item === undefined ? null : api("GET", "/api" + stepPath),
        api("GET", "/api" + runHref + "/logs?" + logQuery)]);
      log.lines = logs.lines;
      const last = logs.lines.length ? timeKey(logs.lines[logs.lines.length - 1].time) : "";
      log.live = log.live.filter((l) => timeKey(l.time) > last);
      redraw(stepView(id, v, st ? st.record : v.record, log, keep, reload));
    } catch (e) {
      main.replaceChildren(title(), h("p", { class: "error", role: "alert" }, e.message));
    }
  }
  reload();
  const es = new EventSource("/api" + runHref + "/events");
  es.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    const line = ev.lines && ev.lines[0];
    if (ev.type === "log" || ev.type === "text") {
      const lines = (ev.lines || []).filter((x) => mine(x, ev));
      if (ev.type === "log" ? !lines.length : !mine(line || {}, ev)) return;
      if (ev.type === "log") { log.live.push(...lines); log.now = ""; } else log.now = line ? line.text : "";
      const pre = document.getElementById("step-live");
      if (pre) { pre.textContent = logText(log); return; }
    } else if (ev.step !== stepID) return;
    if (!refresh) refresh = setTimeout(() => { refresh = null; reload(); }, 50);
  };
  return () => es.close();
}

// timeKey is an RFC 3339 UTC time that sorts as text.
function timeKey(t) {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(t || "");
  return m ? m[1] + "." + (m[2] || "").padEnd(9, "0") : t || "";
}

function logText(log) {
  return [...log.lines, ...log.live].map((l) => l.text + "\n").join("") + log.now;
}

// stepView is a step's page, or an item's (v.item set; step is then its
// step's record).
function stepView(id, v, step, log, keep, reload) {
  const r = v.record || {};
  const isItem = v.item !== undefined && v.item !== null;
  const runHref = "/runs/" + encodeURIComponent(id);
  const out = [
    h("p", { class: "crumbs" }, h("a", { href: runHref }, "← run ", h("code", {}, id)),
      isItem ? [" · ", h("a", { href: stepHref(id, v.step) }, "step ", h("code", {}, v.step))] : null),
    h("h1", {}, isItem ? ["Item " + v.item + " of ", h("code", {}, v.step)] : ["Step ", h("code", {}, v.step)], " ", badge(r.reused ? "reused" : r.status)),
    h("dl", { class: "meta" },
      h("dt", {}, "Kind"), h("dd", {}, v.kind),
      h("dt", {}, "Attempts"), h("dd", {}, String(r.attempts || 0)),
      h("dt", {}, "Duration"), h("dd", {}, duration(r.duration_ms)),
      r.model ? [h("dt", {}, "Model"), h("dd", { id: "model" }, r.model, r.alias ? " (" + r.alias + ")" : "", r.mock ? " (mocked)" : "")] : null,
      r.credential_source ? [h("dt", {}, "Credential"), h("dd", { id: "credential" }, r.credential_source)] : null,
      h("dt", {}, "Tokens"), h("dd", { id: "tokens" }, usageText(r.usage)),
      h("dt", {}, "Cost"), h("dd", { id: "cost" }, r.cost_usd === null || r.cost_usd === undefined ? (r.model ? "unknown (no price for the model)" : "—") : money(r.cost_usd)),
      r.reason ? [h("dt", {}, "Note"), h("dd", {}, r.reason)] : null,
      r.reused_from ? [h("dt", {}, "Record of"), h("dd", {}, runLink(r.reused_from))] : null,
      r.child_run ? [h("dt", {}, "Child run"), h("dd", {}, runLink(r.child_run))] : null),
  ];
  const [notice, tell] = actionNotice(keep);
  out.push(notice);
  // The question the run waits on here comes first; the step answers its
  // questions in order, so an item's page answers the step's first one
  // only when it is the item's.
  if (step && step.status === "waiting" && step.wait && !step.wait.answered) {
    const first = step.wait.calls && step.wait.calls[0];
    const firstItem = first && first.item !== undefined && first.item !== null ? first.item : null;
    if (!isItem || firstItem === v.item) {
      out.push(keep("wait " + JSON.stringify(step.wait), () => waitForm({ id }, step, reload, tell)));
    } else if (r.status === "waiting") {
      out.push(h("p", { class: "note", id: "wait-elsewhere" }, "Its question is answered after ",
        firstItem !== null ? h("a", { href: itemHref(id, v.step, firstItem) }, "item " + firstItem + "'s") : h("a", { href: stepHref(id, v.step) }, "the step's first"),
        ": the step's questions are answered in the order they were asked."));
    }
  }
  if (r.error) out.push(h("p", { class: "error", role: "alert" }, r.error));
  const printed = logText(log);
  if (r.status === "running" || printed) out.push(h("h2", {}, r.status === "running" ? "Live" : "Printed while it ran"), h("pre", { id: "step-live" }, printed));
  if (v.prompt && v.prompt.messages) {
    out.push(h("h2", {}, "Request"));
    for (const m of v.prompt.messages) out.push(h("h3", { class: "note" }, m.role), h("pre", {}, m.content || pretty(m.tool_calls || "")));
  }
  if (r.wait && !(r.wait.calls && r.wait.calls.length)) out.push(h("h2", {}, "Question"), h("pre", {}, r.wait.question || ""));
  if (r.output !== undefined && r.output !== null) out.push(h("h2", {}, "Output"), h("pre", { id: "step-output" }, pretty(r.output)));
  if (r.turns && r.turns.length) out.push(h("h2", {}, "Turns"), turnsView(r.turns, "turns"));
  if (r.attempts_detail && r.attempts_detail.length) {
    out.push(h("h2", {}, "Attempts"), h("div", { class: "table-wrap" }, h("table", { id: "attempts" },
      h("caption", { class: "visually-hidden" }, isItem ? "Every attempt of the item" : "Every attempt of the step"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Attempt"), h("th", { scope: "col" }, "Duration"),
        h("th", { scope: "col" }, "Tokens"), h("th", { scope: "col" }, "Cost"), h("th", { scope: "col" }, "Error"))),
      h("tbody", {}, r.attempts_detail.map((a) => h("tr", { "data-attempt": a.attempt },
        h("td", { class: "num" }, String(a.attempt)), h("td", { class: "num" }, duration(a.duration_ms)),
        h("td", { class: "num" }, tokens(a.usage) || "0"), h("td", { class: "num" }, cost(a.cost_usd) || "—"),
        h("td", {}, a.error ? h("span", { class: "error" }, a.error) : "succeeded",
          a.turns && a.turns.length && a.attempt !== r.attempts
            ? h("details", {}, h("summary", {}, "its turns"), turnsView(a.turns, "turns-" + a.attempt)) : null)))))));
  }
  if (r.items && r.items.length) {
    out.push(h("h2", {}, "Items"), h("div", { class: "table-wrap" }, h("table", { id: "items" },
      h("caption", { class: "visually-hidden" }, "The items of the foreach step"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Output"),
        h("th", { scope: "col" }, "Attempts"), h("th", { scope: "col", class: "wide" }, "Model"),
        h("th", { scope: "col", class: "wide" }, "Tokens"), h("th", { scope: "col", class: "wide" }, "Cost"))),
      h("tbody", {}, r.items.map((it) => h("tr", { "data-item": it.index },
        h("td", { class: "num" }, h("a", { href: itemHref(id, v.step, it.index), "aria-label": "item " + it.index }, String(it.index))),
        h("td", {}, badge(it.reused ? "reused" : it.status)),
        h("td", { class: "item-output" }, it.error ? h("span", { class: "error" }, it.error) : short(it.output)),
        h("td", { class: "num" }, String(it.attempts || 0)), h("td", { class: "wide" }, it.model || ""),
        h("td", { class: "num wide" }, tokens(it.usage)), h("td", { class: "num wide" }, cost(it.cost_usd))))))));
  }
  return out;
}

// turnsView is an llm step's conversation: each model call, what it
// wrote, the tool calls it asked for and what each gave.
function turnsView(turns, id) {
  return h("ol", { class: "turns", id }, turns.map((t) => h("li", { class: "turn", "data-turn": t.turn },
    h("h3", {}, "Turn " + t.turn, " ", h("span", { class: "note" },
      [t.model ? t.model + (t.alias ? " (" + t.alias + ")" : "") : "", tokens(t.usage) ? tokens(t.usage) + " tokens" : "", cost(t.cost_usd), duration(t.duration_ms)].filter(Boolean).join(" · "))),
    (t.failed_models || []).map((f) => h("p", { class: "error" }, "No answer from " + f.model + " after " + duration(f.duration_ms) + ": " + f.error)),
    t.text ? [h("p", { class: "note" }, t.tool_calls && t.tool_calls.length ? "It said" : "Its answer"), h("pre", { class: "turn-text" }, t.text)] : null,
    t.error && (t.model || !(t.failed_models || []).length) ? h("p", { class: "error" }, "Its answer was refused: " + t.error) : null,
    t.tool_calls && t.tool_calls.length ? h("ul", { class: "calls" }, t.tool_calls.map(callView)) : null)));
}

function callView(c) {
  const args = c.arguments_text || JSON.stringify(c.arguments);
  let result;
  if (c.pending && c.wait && !c.wait.answered) result = h("p", { class: "note" }, "Asks a person: " + c.wait.question + " (waiting for the answer)");
  else if (c.not_run) result = h("p", { class: "note" }, "Not run: asked for on the last turn max_turns allows.");
  else if (c.pending) result = h("p", { class: "note" }, "No result recorded: the run stopped while it ran.");
  else if (c.wait) result = [h("p", { class: "note" }, "Asked a person: " + c.wait.question), h("pre", {}, pretty(c.output))];
  else if (c.error) result = h("p", { class: "error" }, "Failed after " + duration(c.duration_ms) + ": " + c.error);
  else result = [h("p", { class: "note" }, "Gave, in " + duration(c.duration_ms) + ":"), h("pre", { class: "call-output" }, pretty(c.output))];
  return h("li", { class: "call", "data-call": c.id },
    h("p", {}, "→ ", h("code", { class: "call-name" }, c.name), " ", h("code", { class: "call-args" }, args)),
    result,
    c.child_run ? h("p", {}, runLink(c.child_run, "child run")) : null);
}

// ---- Compare two runs step by step, as `kitaru executions diff` ----

const DIFF_WORDS = { status: "status", inputs: "inputs", model: "model", output: "output", error: "error", usage: "tokens", cost: "cost" };

function comparePage() {
  const params = new URLSearchParams(location.search);
  const a = h("input", { id: "c-a", name: "a", value: params.get("a") || "", placeholder: "kr-…", required: true, size: 16 });
  const b = h("input", { id: "c-b", name: "b", value: params.get("b") || "", placeholder: "kr-…", required: true, size: 16 });
  const result = h("div", { id: "compare" });
  const form = h("form", { class: "actions", "aria-label": "Runs to compare" },
    h("label", { for: "c-a" }, "Run A", a), h("label", { for: "c-b" }, "Run B", b),
    h("button", { type: "submit" }, "Compare"));
  main.replaceChildren(h("h1", {}, "Compare runs"), form, result);
  async function load() {
    if (!a.value || !b.value) { result.replaceChildren(h("p", { class: "note" }, "Name two runs.")); return; }
    result.replaceChildren(h("p", { class: "note" }, "Comparing…"));
    try {
      const d = await api("GET", "/api/compare?" + new URLSearchParams({ a: a.value.trim(), b: b.value.trim() }));
      result.replaceChildren(...diffView(d));
    } catch (e) { result.replaceChildren(h("p", { class: "error", role: "alert" }, e.message)); }
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    history.replaceState(null, "", "/compare?" + new URLSearchParams({ a: a.value.trim(), b: b.value.trim() }));
    load();
  });
  load();
  return null;
}

function diffView(d) {
  const val = (v) => h("pre", {}, v === undefined || v === null ? "—" : pretty(v));
  const side = (x) => (x ? [badge(x.reused ? "reused" : x.status)] : h("span", { class: "note" }, "no such step"));
  const out = [h("div", { class: "table-wrap" }, h("table", { id: "compare-runs" },
    h("caption", { class: "visually-hidden" }, "The two runs"),
    h("tbody", {}, [["A", d.a], ["B", d.b]].map(([k, r]) => h("tr", {},
      h("th", { scope: "row" }, k), h("td", {}, runLink(r.id)), h("td", {}, r.flow), h("td", {}, badge(r.status)),
      h("td", {}, r.replay_of ? ["replay of ", runLink(r.replay_of)] : "")))))),
  ];
  out.push(h("p", { id: "compare-verdict", role: "status" }, d.same ? "The runs do not differ." : "The runs differ."));
  out.push(h("h2", {}, "Inputs"));
  if (!d.inputs.length) out.push(h("p", { class: "note" }, "The same."));
  else out.push(h("div", { class: "table-wrap" }, h("table", { id: "compare-inputs" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Input"), h("th", { scope: "col" }, "A"), h("th", { scope: "col" }, "B"))),
    h("tbody", {}, d.inputs.map((i) => h("tr", {}, h("td", {}, h("code", {}, i.name)),
      h("td", {}, i.in_a ? short(i.a) : h("span", { class: "note" }, "not given")),
      h("td", {}, i.in_b ? short(i.b) : h("span", { class: "note" }, "not given"))))))));
  out.push(h("h2", {}, "Steps"), h("div", { class: "table-wrap" }, h("table", { id: "compare-steps" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Step"), h("th", { scope: "col" }, "A"), h("th", { scope: "col" }, "B"), h("th", { scope: "col" }, "Differs"))),
    h("tbody", {}, d.steps.map((s) => h("tr", { "data-step": s.id, class: s.differs.length ? "differs" : "" },
      h("td", {}, h("code", {}, s.id)), h("td", {}, side(s.a)), h("td", {}, side(s.b)),
      h("td", { class: "step-differs" }, !s.differs.length ? "—" : !s.a ? "only in B" : !s.b ? "only in A" : s.differs.map((p) => DIFF_WORDS[p] || p).join(", "))))))));
  for (const s of d.steps) {
    if (!s.differs.length || !s.a || !s.b) continue;
    const parts = s.differs.filter((p) => p !== "status");
    if (!parts.length) continue;
    out.push(h("section", { class: "panel", "aria-label": "How step " + s.id + " differs", "data-diff": s.id },
      h("h3", {}, h("code", {}, s.id)),
      parts.map((p) => {
        if (p === "inputs") return h("p", {}, "Its definition or what it read changed.");
        const pick = { model: (x) => x.model, output: (x) => x.output, error: (x) => x.error, usage: (x) => usageText(x.usage),
          cost: (x) => (x.cost_usd === null ? "unknown" : money(x.cost_usd)) }[p];
        return h("div", { class: "diff-part", "data-part": p }, h("p", { class: "note" }, DIFF_WORDS[p] || p),
          h("div", { class: "diff-sides" }, h("div", {}, h("span", { class: "note" }, "A"), val(pick(s.a))), h("div", {}, h("span", { class: "note" }, "B"), val(pick(s.b)))));
      })));
  }
  out.push(h("h2", {}, "Totals"), h("dl", { class: "meta" },
    h("dt", {}, "Tokens"), h("dd", {}, "A: " + usageText(d.usage[0].usage) + "; B: " + usageText(d.usage[1].usage)),
    h("dt", {}, "Cost"), h("dd", {}, "A: " + money(d.usage[0].cost_usd) + "; B: " + money(d.usage[1].cost_usd))));
  return out;
}

// ---- Routing: links within the page draw without a reload ----

let leave = null;

function route() {
  if (leave) { leave(); leave = null; }
  const st = location.pathname.match(/^\/runs\/([^/]+)\/steps\/([^/]+)(?:\/items\/(\d+))?$/);
  const m = location.pathname.match(/^\/runs\/([^/]+)$/);
  if (st) {
    const item = st[3] === undefined ? undefined : Number(st[3]);
    leave = stepPage(decodeURIComponent(st[1]), decodeURIComponent(st[2]), item);
    document.title = decodeURIComponent(st[2]) + (item === undefined ? "" : "[" + item + "]") + " · " + decodeURIComponent(st[1]) + " · kitaru";
    return;
  }
  if (location.pathname === "/compare") {
    leave = comparePage();
    document.title = "Compare · kitaru";
    return;
  }
  leave = m ? runPage(decodeURIComponent(m[1])) : runsPage();
  document.title = m ? decodeURIComponent(m[1]) + " · kitaru" : "Runs · kitaru";
}

function navigate(path) {
  history.pushState(null, "", path);
  route();
  main.focus();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[href^='/']");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", route);

// The token came in the address; the server has set it as a cookie, so
// it leaves the address bar (and the history) at once.
if (new URLSearchParams(location.search).has("token")) {
  const q = new URLSearchParams(location.search);
  q.delete("token");
  history.replaceState(null, "", location.pathname + (q.size ? "?" + q : ""));
}
route();
