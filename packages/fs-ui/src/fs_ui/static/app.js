"use strict";
// fs ui: plain JavaScript, no framework, no build step. Every request carries the session token.
const TOKEN = new URLSearchParams(location.search).get("token") || sessionStorage.getItem("fs-ui-token") || "";
if (TOKEN) sessionStorage.setItem("fs-ui-token", TOKEN);
if (location.search.includes("token=")) history.replaceState(null, "", location.pathname + location.hash);

const $ = (id) => document.getElementById(id);
const state = { info: null, fs: 0, offset: 0, limit: 200, total: 0, sort: "index", faces: [], selected: new Set(),
  undo: [], editor: null, merge: null, run: 0 };

function status(msg) { $("status").textContent = msg || ""; }

async function api(path, opts = {}) {
  const headers = Object.assign({ "X-FS-Token": TOKEN }, opts.headers || {});
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
  const res = await fetch(path, Object.assign({}, opts, { headers }));
  if (!res.ok && res.status !== 409) {
    let msg = res.status + "";
    try { msg = (await res.json()).error; } catch (e) { /* not JSON */ }
    status(msg);
    throw new Error(msg);
  }
  return res;
}
const getJSON = async (path) => (await api(path)).json();

// -- tabs -------------------------------------------------------------------------------------------------------
function show(view) {
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + view));
  location.hash = view;
  if (view === "merge") initMerge();
  if (view === "train") pollRun();
}
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));

// -- faceset browser --------------------------------------------------------------------------------------------
function overlays() {
  return [...document.querySelectorAll(".overlay:checked")].map((c) => c.value).join(",");
}
function thumbURL(id, size) {
  return `/api/facesets/${state.fs}/thumb/${encodeURIComponent(id)}?size=${size}&overlay=${overlays()}`;
}
async function loadPage() {
  if (!state.info || !state.info.facesets.length) { $("face-count").textContent = "no faceset given"; return; }
  status("");
  const q = `offset=${state.offset}&limit=${state.limit}&sort=${state.sort}`;
  const page = await getJSON(`/api/facesets/${state.fs}/faces?${q}`);
  state.total = page.count; state.faces = page.faces;
  $("face-count").textContent = `${page.count} faces` + (page.removed ? ` (${page.removed} removed)` : "");
  const pages = Math.max(1, Math.ceil(page.count / state.limit));
  $("page-label").textContent = `page ${Math.floor(state.offset / state.limit) + 1} / ${pages}`;
  const grid = $("grid");
  grid.replaceChildren();
  for (const f of page.faces) {
    const tile = document.createElement("div");
    tile.className = "tile" + (state.selected.has(f.id) ? " selected" : "");
    tile.dataset.id = f.id;
    tile.title = `${f.id}  ${f.source} frame ${f.frame}`;
    const img = document.createElement("img");
    img.loading = "lazy"; img.src = thumbURL(f.id, 128); img.alt = f.id;
    const label = document.createElement("span"); label.textContent = f.frame;
    tile.append(img, label);
    tile.addEventListener("click", () => {
      if (state.selected.has(f.id)) state.selected.delete(f.id); else state.selected.add(f.id);
      tile.classList.toggle("selected");
      $("delete-btn").disabled = state.selected.size === 0;
    });
    tile.addEventListener("dblclick", () => { openEditor(f.id); show("editor"); });
    grid.append(tile);
  }
  $("delete-btn").disabled = state.selected.size === 0;
  $("undo-btn").disabled = state.undo.length === 0;
}
$("delete-btn").addEventListener("click", async () => {
  const ids = [...state.selected];
  await api(`/api/facesets/${state.fs}/remove`, { method: "POST", json: { ids } });
  state.undo.push(ids); state.selected.clear();
  await loadPage();
});
$("undo-btn").addEventListener("click", async () => {
  const ids = state.undo.pop();
  if (ids) await api(`/api/facesets/${state.fs}/restore`, { method: "POST", json: { ids } });
  await loadPage();
});
$("restore-all-btn").addEventListener("click", async () => {
  await api(`/api/facesets/${state.fs}/restore`, { method: "POST", json: { ids: null } });
  state.undo = [];
  await loadPage();
});
$("prev-page").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadPage(); });
$("next-page").addEventListener("click", () => {
  if (state.offset + state.limit < state.total) { state.offset += state.limit; loadPage(); }
});
$("fs-select").addEventListener("change", (e) => {
  state.fs = +e.target.value; state.offset = 0; state.selected.clear(); state.undo = []; loadPage();
});
$("sort-select").addEventListener("change", async (e) => {
  state.sort = e.target.value; state.offset = 0; status("sorting..."); await loadPage(); status("");
});
document.querySelectorAll(".overlay").forEach((c) => c.addEventListener("change", () => {
  document.querySelectorAll("#grid .tile").forEach((t) => { t.querySelector("img").src = thumbURL(t.dataset.id, 128); });
}));

// -- mask editor ------------------------------------------------------------------------------------------------
const canvas = $("editor-canvas"), ctx = canvas.getContext("2d");
function kind() { return document.querySelector("input[name=kind]:checked").value; }
async function openEditor(id) {
  const info = await getJSON(`/api/facesets/${state.fs}/face/${encodeURIComponent(id)}`);
  const img = new Image();
  img.src = thumbURL(id, 512).replace(/overlay=[^&]*/, "overlay=");
  await img.decode();
  state.editor = { id, info, img, scale: canvas.width / info.size, polys: info.polygons.map((p) => ({ kind: p.kind, points: p.points })),
    drawing: null, selected: -1, drag: null, version: info.version, dirty: false };
  $("editor-face").textContent = `face ${id} (${info.source} frame ${info.frame})`;
  $("editor-msg").textContent = "";
  refreshEditorImages();
  drawEditor();
}
function refreshEditorImages() {
  const e = state.editor; if (!e) return;
  const base = `/api/facesets/${state.fs}/face/${encodeURIComponent(e.id)}`;
  $("labels-img").src = `${base}/labels.png?v=${e.version}`;
  if (state.info.xseg) { $("xseg-fig").hidden = false; $("xseg-img").src = `${base}/xseg.png`; }
}
function drawEditor() {
  const e = state.editor; if (!e) return;
  ctx.drawImage(e.img, 0, 0, canvas.width, canvas.height);
  const all = e.drawing ? [...e.polys, e.drawing] : e.polys;
  all.forEach((p, i) => {
    const colour = p.kind === "include" ? "#3cdc3c" : "#eb3c3c";
    ctx.beginPath();
    p.points.forEach(([x, y], k) => (k ? ctx.lineTo(x * e.scale, y * e.scale) : ctx.moveTo(x * e.scale, y * e.scale)));
    if (p !== e.drawing) ctx.closePath();
    ctx.lineWidth = i === e.selected ? 4 : 2; ctx.strokeStyle = colour; ctx.stroke();
    if (p !== e.drawing) { ctx.fillStyle = colour + "33"; ctx.fill(); }
    ctx.fillStyle = colour;
    p.points.forEach(([x, y]) => ctx.fillRect(x * e.scale - 3, y * e.scale - 3, 6, 6));
  });
  $("delete-poly").disabled = e.selected < 0;
}
function facePoint(ev) {
  const r = canvas.getBoundingClientRect(), e = state.editor;
  return [((ev.clientX - r.left) * canvas.width) / r.width / e.scale, ((ev.clientY - r.top) * canvas.height) / r.height / e.scale];
}
function nearVertex(pt) {
  const e = state.editor, tol = 6 / e.scale;
  for (let i = 0; i < e.polys.length; i++)
    for (let k = 0; k < e.polys[i].points.length; k++) {
      const [x, y] = e.polys[i].points[k];
      if (Math.hypot(x - pt[0], y - pt[1]) < tol) return [i, k];
    }
  return null;
}
function closeDrawing() {
  const e = state.editor;
  if (e && e.drawing && e.drawing.points.length >= 3) { e.polys.push(e.drawing); e.selected = -1; e.dirty = true; }
  if (e) e.drawing = null;
  drawEditor();
}
canvas.addEventListener("mousedown", (ev) => {
  const e = state.editor; if (!e) return;
  const pt = facePoint(ev);
  if (e.drawing) {
    const [x0, y0] = e.drawing.points[0];
    if (e.drawing.points.length >= 3 && Math.hypot(x0 - pt[0], y0 - pt[1]) < 6 / e.scale) return closeDrawing();
    e.drawing.points.push(pt); return drawEditor();
  }
  const v = nearVertex(pt);
  if (v) { e.drag = v; e.selected = v[0]; return drawEditor(); }
  e.selected = -1;
  e.drawing = { kind: kind(), points: [pt] };
  drawEditor();
});
canvas.addEventListener("mousemove", (ev) => {
  const e = state.editor; if (!e || !e.drag) return;
  e.polys[e.drag[0]].points[e.drag[1]] = facePoint(ev); e.dirty = true; drawEditor();
});
window.addEventListener("mouseup", () => { if (state.editor) state.editor.drag = null; });
window.addEventListener("keydown", (ev) => {
  const e = state.editor;
  if (!e || !$("view-editor").classList.contains("active") || ev.target.tagName === "INPUT") return;
  if (ev.key === "Enter") closeDrawing();
  if (ev.key === "Backspace" || ev.key === "Delete") {
    if (e.drawing) { e.drawing.points.pop(); if (!e.drawing.points.length) e.drawing = null; }
    else if (e.selected >= 0) { e.polys.splice(e.selected, 1); e.selected = -1; e.dirty = true; }
    drawEditor(); ev.preventDefault();
  }
});
$("close-poly").addEventListener("click", closeDrawing);
$("delete-poly").addEventListener("click", () => {
  const e = state.editor; if (!e || e.selected < 0) return;
  e.polys.splice(e.selected, 1); e.selected = -1; e.dirty = true; drawEditor();
});
document.querySelectorAll("input[name=kind]").forEach((r) => r.addEventListener("change", () => {
  const e = state.editor;
  if (e && e.selected >= 0 && !e.drawing) { e.polys[e.selected].kind = kind(); e.dirty = true; drawEditor(); }
  if (e && e.drawing) { e.drawing.kind = kind(); drawEditor(); }
}));
$("save-poly").addEventListener("click", async () => {
  const e = state.editor; if (!e) return;
  closeDrawing();
  const res = await api(`/api/facesets/${state.fs}/face/${encodeURIComponent(e.id)}/polygons`,
    { method: "PUT", json: { version: e.version, polygons: e.polys } });
  const body = await res.json();
  if (res.status === 409) {
    $("editor-msg").textContent = "another tab saved this face first: its labels are loaded; redo your change";
    e.polys = body.current.polygons; e.version = body.current.version; e.selected = -1;
    drawEditor(); refreshEditorImages(); return;
  }
  e.version = body.version; e.dirty = false;
  $("editor-msg").textContent = `saved ${e.polys.length} polygon(s)`;
  refreshEditorImages();
});
function stepFace(delta) {
  const e = state.editor; if (!e) return;
  const i = state.faces.findIndex((f) => f.id === e.id);
  const next = state.faces[i + delta]; if (next) openEditor(next.id);
}
$("prev-face").addEventListener("click", () => stepFace(-1));
$("next-face").addEventListener("click", () => stepFace(1));

// -- merge tuner ------------------------------------------------------------------------------------------------
let previewTimer = null, previewSeq = 0;
async function initMerge() {
  if (state.merge || !state.info.merge) return;
  status("loading the model...");
  state.merge = await getJSON("/api/merge");
  status("");
  $("merge-missing").hidden = true; $("merge-body").hidden = false;
  const m = state.merge, form = $("merge-form");
  $("frame-slider").max = m.frames - 1; $("frame-number").max = m.frames - 1;
  for (const [k, v] of Object.entries(m.config)) if (form.elements[k]) form.elements[k].value = v;
  const first = m.frames_with_faces.length ? m.frames_with_faces[0] : 0;
  setFrame(first);
}
function mergeConfig() {
  const out = {};
  for (const el of $("merge-form").elements) if (el.name) out[el.name] = el.type === "number" ? +el.value : el.value;
  return out;
}
function setFrame(i) {
  $("frame-slider").value = i; $("frame-number").value = i;
  $("before-img").src = `/api/merge/frame/${i}`;
  schedulePreview();
}
function schedulePreview() { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 60); }
async function preview() {
  const seq = ++previewSeq, frame = +$("frame-number").value;
  const res = await api("/api/merge/preview", { method: "POST", json: { frame, config: mergeConfig() } });
  const blob = await res.blob();
  if (seq !== previewSeq) return;
  const old = $("after-img").src;
  $("after-img").src = URL.createObjectURL(blob);
  if (old.startsWith("blob:")) URL.revokeObjectURL(old);
  $("after-img").dataset.frame = frame;
  $("merge-ms").textContent = `merge ${res.headers.get("x-merge-ms")} ms`;
}
$("frame-slider").addEventListener("input", (e) => setFrame(+e.target.value));
$("frame-number").addEventListener("change", (e) => setFrame(+e.target.value));
$("merge-form").addEventListener("input", schedulePreview);
$("merge-form").addEventListener("change", schedulePreview);
function jumpFace(delta) {
  const list = state.merge.frames_with_faces, cur = +$("frame-number").value;
  const next = delta > 0 ? list.find((f) => f > cur) : [...list].reverse().find((f) => f < cur);
  if (next !== undefined) setFrame(next);
}
$("prev-with-face").addEventListener("click", () => jumpFace(-1));
$("next-with-face").addEventListener("click", () => jumpFace(1));
$("save-config").addEventListener("click", async () => {
  const body = await (await api("/api/merge/save", { method: "POST", json: { config: mergeConfig() } })).json();
  $("render-msg").textContent = `saved ${body.saved}`;
});
$("render-btn").addEventListener("click", async () => {
  await api("/api/merge/render", { method: "POST", json: { config: mergeConfig() } });
  pollRender();
});
async function pollRender() {
  const job = await getJSON("/api/merge/render");
  $("render-progress").max = job.total || 1; $("render-progress").value = job.done || 0;
  $("render-msg").textContent = job.state === "running" ? `rendering ${job.done} / ${job.total}` : `${job.state}: ${job.message || ""} ${job.out || ""}`;
  if (job.state === "running") setTimeout(pollRender, 500);
}

// -- training monitor -------------------------------------------------------------------------------------------
let runTimer = null, lastPreview = null;
function fmtTime(s) {
  if (s === null || s === undefined) return "?";
  s = Math.round(s); const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}
function plotLoss(losses) {
  const c = $("loss-canvas"), g = c.getContext("2d");
  g.fillStyle = "#111"; g.fillRect(0, 0, c.width, c.height);
  if (losses.length < 2) { g.fillStyle = "#888"; g.fillText("no loss yet", 20, 20); return; }
  const xs = losses.map((p) => p[0]), ys = losses.map((p) => Math.log10(Math.max(p[1], 1e-6)));
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys) + 1e-9;
  const px = (x) => 40 + ((x - x0) / (x1 - x0 || 1)) * (c.width - 50), py = (y) => 10 + (1 - (y - y0) / (y1 - y0)) * (c.height - 30);
  g.strokeStyle = "#444"; g.strokeRect(40, 10, c.width - 50, c.height - 30);
  g.strokeStyle = "#5aa0ff"; g.lineWidth = 1.5; g.beginPath();
  losses.forEach((p, i) => (i ? g.lineTo(px(p[0]), py(ys[i])) : g.moveTo(px(p[0]), py(ys[i])))); g.stroke();
  g.fillStyle = "#aaa";
  g.fillText(Math.pow(10, y1).toPrecision(3), 2, 16); g.fillText(Math.pow(10, y0).toPrecision(3), 2, c.height - 22);
  g.fillText(`step ${x0}`, 40, c.height - 6); g.fillText(`${x1}`, c.width - 40, c.height - 6);
}
async function pollRun() {
  clearTimeout(runTimer);
  if (!state.info.runs.length) { $("run-stats").textContent = "no training folder given"; return; }
  const s = await getJSON(`/api/runs/${state.run}`);
  const rate = s.samples_per_s ? `${s.samples_per_s.toFixed(1)} samples/s` : "? samples/s";
  $("run-stats").textContent = `${s.state}${s.stop_reason ? " (" + s.stop_reason + ")" : ""} · step ${s.step}` +
    (s.steps ? ` / ${s.steps}` : "") + ` · ${rate}` + (s.state === "stopped" ? "" : ` · ETA ${fmtTime(s.eta_s)}`) + (s.pending ? " · request pending" : "");
  $("run-stats").dataset.step = s.step;
  $("save-now").disabled = $("stop-run").disabled = s.state === "stopped";
  const done = s.controls.length ? s.controls[s.controls.length - 1] : null;
  $("run-done").textContent = done ? `trainer did: ${done.command} at step ${done.step}` : "";
  plotLoss(s.losses);
  if (s.preview && s.preview !== lastPreview) { lastPreview = s.preview; $("run-preview").src = `/api/runs/${state.run}/preview.png?t=${s.preview}`; }
  if ($("view-train").classList.contains("active")) runTimer = setTimeout(pollRun, 1500);
}
async function control(command) {
  await api(`/api/runs/${state.run}/control`, { method: "POST", json: { command } });
  $("run-msg").textContent = `asked the trainer to ${command}`;
  pollRun();
}
$("save-now").addEventListener("click", () => control("save"));
$("stop-run").addEventListener("click", () => control("stop"));
$("run-select").addEventListener("change", (e) => { state.run = +e.target.value; lastPreview = null; pollRun(); });

// -- start ------------------------------------------------------------------------------------------------------
(async function main() {
  state.info = await getJSON("/api/info");
  for (const f of state.info.facesets) $("fs-select").append(new Option(`${f.name} (${f.count})`, f.id));
  for (const k of state.info.sort_keys) $("sort-select").append(new Option(k, k));
  for (const r of state.info.runs) $("run-select").append(new Option(r.name, r.id));
  await loadPage();
  const view = location.hash.slice(1);
  if (["browser", "editor", "merge", "train"].includes(view)) show(view);
  document.body.dataset.ready = "1";
})();
