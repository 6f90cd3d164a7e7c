// The review page: scrub the footage with its regions drawn, keep or cover tracks, draw
// regions to cover, render. Every change is sent to the server, which validates and saves it
// before answering; the page only ever shows what the regions file says.
"use strict";

const TOKEN = document.querySelector('meta[name="review-token"]').content;
const $ = (id) => document.getElementById(id);

const state = {
  info: null, // name, times, labels, output
  regions: null, // the regions file as saved
  byFrame: new Map(), // frame index -> tracked regions
  index: 0,
  loading: false,
  pending: null, // frame index asked for while another was loading
  drawing: null, // {x0, y0, x1, y1} in frame pixels while dragging
  drawn: null, // the finished box waiting to be added
  selected: null, // id of the selected drawn region (for keyframes)
  reveal: new Set(), // tracks whose thumbnails the editor chose to see
  version: 0, // edits seen: part of a preview's address, so each edit shows at once
};

function url(path, params = {}) {
  const query = new URLSearchParams({ token: TOKEN, ...params });
  return `${path}?${query}`;
}

async function api(path, body) {
  const options = { headers: { "X-Review-Token": TOKEN } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

function say(text, isError = false) {
  const message = $("message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

function setRegions(regions) {
  state.regions = regions;
  state.version += 1; // the preview of a frame changes with every edit: fetch it anew
  state.byFrame = new Map(regions.frames.map((f) => [f.index, f.regions]));
  renderTracks();
  renderManual();
  fitFrame();
  if (state.version > 1) pollStatus().catch(() => {}); // an edit may outdate the last render
  if ($("preview").checked) showFrame(state.index, true);
}

// -- frames -------------------------------------------------------------------------------

function time(index) {
  return state.info.times[index];
}

function showFrame(index, force = false) {
  index = Math.max(0, Math.min(state.info.times.length - 1, index));
  if (index === state.index && !force && $("frame").src) return;
  state.index = index;
  $("scrubber").value = index;
  $("position").textContent =
    `frame ${index + 1} / ${state.info.times.length} · ${time(index).toFixed(2)} s`;
  drawOverlay();
  if (state.loading) {
    state.pending = index;
    return;
  }
  state.loading = true;
  const params = $("preview").checked ? { obscured: "1", v: state.version } : {};
  $("frame").src = url(`/api/frame/${index}.jpg`, params);
}

function frameLoaded() {
  state.loading = false;
  fitFrame();
  if (state.pending !== null) {
    const next = state.pending;
    state.pending = null;
    showFrame(next, true);
  }
}

// -- overlay ------------------------------------------------------------------------------

// Frame pixels to page pixels, across and down: they differ where the footage's pixels are
// shown wider than stored (HDV, DV), as a player shows them.
function scale() {
  const { width, height } = state.regions.input;
  return [$("overlay").width / width, $("overlay").height / height];
}

// The frame is scaled to the largest size the stage holds, whatever its aspect ratio (a
// portrait phone clip or 4K), so the controls below it are always on screen.
function fitFrame() {
  if (!state.regions) return;
  const stage = $("stage");
  const { width, height } = state.regions.input;
  const shown = width * state.info.pixel_aspect;
  const s = Math.min(stage.clientWidth / shown, stage.clientHeight / height);
  const w = Math.max(1, Math.floor(shown * s));
  const h = Math.max(1, Math.floor(height * s));
  const box = $("frame-box");
  box.style.width = `${w}px`;
  box.style.height = `${h}px`;
  const overlay = $("overlay");
  if (overlay.width !== w || overlay.height !== h) {
    overlay.width = w;
    overlay.height = h;
  }
  drawOverlay();
}

function boxAt(manual, t) {
  // Mirrors ManualRegion.box_at: linear between keyframes, held outside them.
  if (t < manual.start - 1e-6 || t > manual.end + 1e-6) return null;
  const keys = manual.keyframes;
  if (t <= keys[0].time) return keys[0].box;
  for (let k = 1; k < keys.length; k++) {
    if (t <= keys[k].time) {
      const a = keys[k - 1];
      const b = keys[k];
      const f = (t - a.time) / (b.time - a.time);
      return a.box.map((v, i) => v + (b.box[i] - v) * f);
    }
  }
  return keys[keys.length - 1].box;
}

function drawOverlay() {
  const overlay = $("overlay");
  if (!state.regions || !overlay.width) return;
  const ctx = overlay.getContext("2d");
  const [sx, sy] = scale();
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  ctx.lineWidth = 2;
  ctx.font = "12px system-ui, sans-serif";
  const kept = new Set(state.regions.tracks.filter((t) => t.keep).map((t) => t.id));
  const stroke = (box, colour, dashed, label) => {
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.setLineDash(dashed ? [6, 4] : []);
    const [x1, y1, x2, y2] = box.map((v, i) => v * (i % 2 ? sy : sx));
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if (label) ctx.fillText(label, x1 + 2, Math.max(12, y1 - 3));
  };
  for (const region of state.byFrame.get(state.index) || []) {
    const keep = region.track !== undefined && kept.has(region.track);
    const name = region.track !== undefined ? `#${region.track}` : region.label;
    stroke(region.box, keep ? "#ffb300" : "#4fc3f7", keep, keep ? `${name} visible` : name);
  }
  for (const manual of state.regions.manual || []) {
    const box = boxAt(manual, time(state.index));
    if (box) stroke(box, manual.id === state.selected ? "#f8bbd0" : "#e040fb", false, manual.label);
  }
  const box = state.drawing || state.drawn;
  if (box) stroke(ordered(box), "#ffffff", true, "new");
}

function ordered(b) {
  return [Math.min(b.x0, b.x1), Math.min(b.y0, b.y1), Math.max(b.x0, b.x1), Math.max(b.y0, b.y1)];
}

function framePoint(event) {
  const rect = $("overlay").getBoundingClientRect();
  const [sx, sy] = scale();
  const clamp = (v, max) => Math.max(0, Math.min(max, v));
  return {
    x: clamp((event.clientX - rect.left) / sx, state.regions.input.width),
    y: clamp((event.clientY - rect.top) / sy, state.regions.input.height),
  };
}

function startDrawing(event) {
  if (event.button !== 0) return;
  const p = framePoint(event);
  state.drawing = { x0: p.x, y0: p.y, x1: p.x, y1: p.y };
  $("overlay").setPointerCapture(event.pointerId);
}

function moveDrawing(event) {
  if (!state.drawing) return;
  const p = framePoint(event);
  state.drawing.x1 = p.x;
  state.drawing.y1 = p.y;
  drawOverlay();
}

function endDrawing(event) {
  if (!state.drawing) return;
  moveDrawing(event);
  const [x1, y1, x2, y2] = ordered(state.drawing);
  state.drawing = null;
  if (x2 - x1 < 2 || y2 - y1 < 2) {
    drawOverlay();
    return;
  }
  state.drawn = { x0: x1, y0: y1, x1: x2, y1: y2 };
  const times = state.info.times;
  $("draw-start").value = time(state.index).toFixed(3);
  $("draw-end").value = times[times.length - 1].toFixed(3);
  $("draw-box").textContent = `box ${[x1, y1, x2, y2].map(Math.round).join(", ")}`;
  $("draw-keyframe").disabled = state.selected === null;
  $("draw-panel").hidden = false;
  drawOverlay();
}

function cancelDrawing() {
  state.drawn = null;
  $("draw-panel").hidden = true;
  drawOverlay();
}

function drawnBox() {
  return ordered(state.drawn).map((v) => Math.round(v * 10) / 10);
}

async function addRegion(event) {
  event.preventDefault();
  // A field left empty means what it was filled with: from this frame, to the last.
  const times = state.info.times;
  const seconds = (id, empty) => ($(id).value.trim() === "" ? empty : Number($(id).value));
  const start = seconds("draw-start", time(state.index));
  const end = seconds("draw-end", times[times.length - 1]);
  const t = Math.min(Math.max(time(state.index), start), end);
  try {
    const answer = await api("/api/manual", {
      label: $("draw-label").value,
      start,
      end,
      keyframes: [{ time: t, box: drawnBox() }],
    });
    state.selected = answer.id;
    cancelDrawing();
    setRegions(answer.regions);
    say(`Added region ${answer.id}; it is saved.`);
  } catch (error) {
    say(error.message, true);
  }
}

async function addKeyframe() {
  if (state.selected === null) return;
  try {
    const regions = await api(`/api/manual/${state.selected}/keyframe`, {
      time: time(state.index),
      box: drawnBox(),
    });
    cancelDrawing();
    setRegions(regions);
    say(`Added a keyframe to ${state.selected}; it is saved.`);
  } catch (error) {
    say(error.message, true);
  }
}

// -- lists --------------------------------------------------------------------------------

function element(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

function renderTracks() {
  const list = $("tracks");
  list.replaceChildren();
  if (!state.regions.tracks.length) list.append(element("li", { textContent: "No tracks." }));
  for (const track of state.regions.tracks) {
    const revealed = state.reveal.has(track.id);
    const thumb = element("img", {
      className: "thumb",
      loading: "lazy",
      alt: `${track.label} ${track.id}${revealed ? "" : " (blurred)"}`,
      src: url(`/api/thumb/${track.id}.jpg`, revealed ? { reveal: "1" } : {}),
    });
    const what = element("span", {
      className: "what",
      title: "Show the track's first frame",
      textContent:
        `${track.label} #${track.id} · frames ${track.first_frame + 1}–${track.last_frame + 1}` +
        ` (${track.detected_frames} detected)`,
    });
    what.addEventListener("click", () => showFrame(track.first_frame));
    const look = element("button", { type: "button", textContent: revealed ? "hide" : "look" });
    look.addEventListener("click", () => {
      if (revealed) state.reveal.delete(track.id);
      else state.reveal.add(track.id);
      renderTracks();
    });
    const keep = element("button", {
      type: "button",
      className: "keep",
      textContent: track.keep ? "visible" : "covered",
      title: track.keep
        ? "Left visible in the output; click to cover it"
        : "Covered in the output; click to leave it visible",
    });
    keep.setAttribute("aria-pressed", String(track.keep));
    keep.addEventListener("click", () => toggleTrack(track.id));
    const item = element("li", {}, [thumb, what, look, keep]);
    item.dataset.track = track.id;
    list.append(item);
  }
}

// Each click turns the track over from what the click before it left: a double click is two
// turns (covered again), never two requests for the same state.
let toggles = Promise.resolve();

function toggleTrack(id) {
  toggles = toggles.then(async () => {
    const track = state.regions.tracks.find((t) => t.id === id);
    try {
      setRegions(await api(`/api/track/${id}`, { keep: !track.keep }));
      say(`${track.label} #${id} is now ${track.keep ? "covered" : "left visible"}; saved.`);
    } catch (error) {
      say(error.message, true);
    }
  });
}

function renderManual() {
  const list = $("manual");
  list.replaceChildren();
  const manual = state.regions.manual || [];
  if (!manual.length) list.append(element("li", { textContent: "None yet: drag on the frame." }));
  for (const region of manual) {
    const what = element("span", {
      className: "what",
      title: "Select (new boxes can then be added as its keyframes)",
      textContent:
        `${region.label} ${region.id} · ${region.start.toFixed(2)}–${region.end.toFixed(2)} s` +
        ` · ${region.keyframes.length} keyframe${region.keyframes.length > 1 ? "s" : ""}`,
    });
    what.addEventListener("click", () => {
      state.selected = state.selected === region.id ? null : region.id;
      $("draw-keyframe").disabled = state.selected === null;
      renderManual();
      drawOverlay();
    });
    const remove = element("button", { type: "button", className: "delete", textContent: "delete" });
    remove.addEventListener("click", () => deleteManual(region.id));
    const item = element("li", { className: region.id === state.selected ? "selected" : "" }, [
      what,
      remove,
    ]);
    item.dataset.manual = region.id;
    list.append(item);
  }
}

async function deleteManual(id) {
  try {
    const regions = await api(`/api/manual/${id}/delete`, {});
    if (state.selected === id) state.selected = null;
    setRegions(regions);
    say(`Deleted ${id}; saved.`);
  } catch (error) {
    say(error.message, true);
  }
}

// -- render -------------------------------------------------------------------------------

function showStatus(status) {
  const line = $("render-status");
  line.dataset.state = status.state;
  line.classList.toggle("error", status.state === "failed");
  if (status.state === "running") {
    line.textContent = `Rendering… ${status.done} / ${status.total} frames`;
  } else {
    line.textContent = status.message;
  }
  $("render").disabled = status.state === "running";
}

async function render() {
  try {
    let status;
    try {
      status = await api("/api/render", { overwrite: false });
    } catch (error) {
      if (error.status !== 409) throw error;
      if (!window.confirm(`${state.info.output} exists. Replace it?`)) return;
      status = await api("/api/render", { overwrite: true });
    }
    showStatus(status);
    pollStatus();
  } catch (error) {
    say(error.message, true);
  }
}

async function pollStatus() {
  const status = await api("/api/status");
  showStatus(status);
  if (status.state === "running") setTimeout(pollStatus, 500);
}

// -- start --------------------------------------------------------------------------------

async function start() {
  try {
    state.info = await api("/api/info");
    document.body.classList.toggle("photo", state.info.times.length === 1);
    $("name").textContent = state.info.name;
    $("output-name").textContent = state.info.output;
    $("record-name").textContent = state.info.record;
    $("scrubber").max = state.info.times.length - 1;
    for (const label of state.info.labels) {
      $("draw-label").append(element("option", { value: label, textContent: label }));
    }
    setRegions(await api("/api/regions"));
    showFrame(0, true);
    await pollStatus();
    document.body.dataset.ready = "true";
  } catch (error) {
    say(`Cannot load the review: ${error.message}`, true);
  }
}

$("frame").addEventListener("load", frameLoaded);
$("frame").addEventListener("error", () => {
  frameLoaded();
  say(`Frame ${state.index + 1} could not be shown.`, true);
});
$("scrubber").addEventListener("input", (e) => showFrame(Number(e.target.value)));
$("prev").addEventListener("click", () => showFrame(state.index - 1));
$("next").addEventListener("click", () => showFrame(state.index + 1));
$("preview").addEventListener("change", () => showFrame(state.index, true));
$("overlay").addEventListener("pointerdown", startDrawing);
$("overlay").addEventListener("pointermove", moveDrawing);
$("overlay").addEventListener("pointerup", endDrawing);
$("draw-panel").addEventListener("submit", addRegion);
$("draw-keyframe").addEventListener("click", addKeyframe);
$("draw-cancel").addEventListener("click", cancelDrawing);
$("render").addEventListener("click", render);
new ResizeObserver(fitFrame).observe($("stage"));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && (state.drawing || state.drawn)) {
    state.drawing = null;
    cancelDrawing();
    return;
  }
  // Typing in a field is the field's; a checkbox (the preview switch) types nothing.
  const field = e.target.tagName === "INPUT" && e.target.type !== "checkbox";
  if (field || e.target.tagName === "SELECT") return;
  if (e.key === "ArrowLeft") showFrame(state.index - 1);
  if (e.key === "ArrowRight") showFrame(state.index + 1);
  if (e.key === "p" || e.key === "P") {
    $("preview").checked = !$("preview").checked;
    showFrame(state.index, true);
  }
});
start();
