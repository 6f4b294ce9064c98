// The demo page: drawing with pointer events, and the models' answers through TF Serving's REST
// predict API (`/v1/models/{sketchgloc,sketch_bert}:predict`, columnar layout) of this server,
// or of a real model server behind it (`--tf_serving`).
import { gaussian, reorganise, svgMarkup, toStroke3 } from "./strokes.js";

const GLOC = "sketchgloc";
const BERT = "sketch_bert";
const SAMPLES = 4;
const INTERPOLATION_STEPS = 6;
const INPUT_COLOR = "#999";
const OUTPUT_COLOR = "#1d4fa0";

const pad = document.getElementById("pad");
const context = pad.getContext("2d");
const statusLine = document.getElementById("status");
let limits = null;
let strokes = [];          // the drawing: strokes of [x, y] canvas points
let current = null;        // the stroke being drawn
let drawingA = null;       // stroke-3 rows kept for interpolation
const latest = {};         // request counters: only the newest answer of a kind is shown

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function slider(id) {
  const input = document.getElementById(id);
  const output = document.getElementById(`${id}-value`);
  input.addEventListener("input", () => { output.textContent = Number(input.value).toFixed(2); });
  return input;
}
const temperature = slider("temperature");
const reScale = slider("re-scale");

function freshSeed() {
  return Math.floor(Math.random() * 2 ** 31);
}

async function predict(model, signature, inputs) {
  const response = await fetch(`/v1/models/${model}:predict`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ signature_name: signature, inputs }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${model} ${signature}: ${body.error}`);
  return body.outputs;
}

// Padded [B, P, 3] strokes and lengths of stroke-3 sketches.
function batch(sketches) {
  const width = Math.max(1, ...sketches.map((s) => s.length));
  const padded = sketches.map((s) => s.concat(Array.from({ length: width - s.length }, () => [0, 0, 0])));
  return { strokes: padded, lengths: sketches.map((s) => s.length) };
}

// Generated [B, T, 3] strokes and lengths -> list of stroke-3 sketches.
function unpad(outputs) {
  return outputs.lengths.map((length, i) => outputs.strokes[i].slice(0, length));
}

function sketchFor(model) {
  const all = current ? strokes.concat([current]) : strokes;
  return toStroke3(all, limits.models[model].max_points);
}

// ------------------------------------------------------------------ drawing

function redraw() {
  context.fillStyle = "white";
  context.fillRect(0, 0, pad.width, pad.height);
  context.strokeStyle = "#111";
  context.lineWidth = 3;
  context.lineCap = context.lineJoin = "round";
  for (const stroke of current ? strokes.concat([current]) : strokes) {
    context.beginPath();
    stroke.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    if (stroke.length === 1) context.lineTo(stroke[0][0] + 0.1, stroke[0][1]);
    context.stroke();
  }
  document.getElementById("points").textContent = strokes.length
    ? `${strokes.length} strokes, ${toStroke3(strokes, Infinity).length} points in Quick, Draw! units`
    : "draw with the mouse, a pen or a finger";
}

function canvasPoint(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * (pad.width / box.width),
    (event.clientY - box.top) * (pad.height / box.height)];
}

pad.addEventListener("pointerdown", (event) => {
  if (!limits) return;
  pad.setPointerCapture(event.pointerId);
  current = [canvasPoint(event)];
  redraw();
});
pad.addEventListener("pointermove", (event) => {
  if (!current) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) current.push(canvasPoint(e));
  redraw();
  classifyLive();
});
function endStroke() {
  if (!current) return;
  strokes.push(current);
  current = null;
  changed();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

document.getElementById("undo").addEventListener("click", () => { strokes.pop(); changed(); });
document.getElementById("clear").addEventListener("click", () => { strokes = []; changed(); });
reScale.addEventListener("change", () => strokes.length && reorganised());

// ------------------------------------------------------------------ answers

function show(id, layers) {
  const card = document.getElementById(id);
  const view = card.querySelector(".view");
  view.innerHTML = svgMarkup(layers);
  card.dataset.state = "done";
  card.dataset.points = String(layers.reduce((n, layer) => n + layer.rows.length, 0));
  card.classList.remove("busy");
  addDownloads(view, layers);
}

function clearCard(id) {
  const card = document.getElementById(id);
  card.querySelector(".view").innerHTML = "";
  delete card.dataset.state;
}

// Runs `work` (requests, then a function that renders the answer) for the answer `kind`;
// renders only the newest answer of each kind, and shows any error in the status line.
async function answer(kind, cardIds, work) {
  const ticket = (latest[kind] = (latest[kind] || 0) + 1);
  cardIds.forEach((id) => document.getElementById(id).classList.add("busy"));
  try {
    const render = await work();
    if (ticket === latest[kind]) { render(); setStatus("ready"); }
  } catch (error) {
    if (ticket === latest[kind]) setStatus(error.message, true);
  } finally {
    cardIds.forEach((id) => document.getElementById(id).classList.remove("busy"));
  }
}

let classifying = false;
let classifyAgain = false;

// Live top 5 while drawing: one request at a time, the newest drawing next.
async function classifyLive() {
  if (!limits.models[BERT].classify) return;
  if (classifying) { classifyAgain = true; return; }
  const sketch = sketchFor(BERT);
  if (!sketch.length) return;
  classifying = true;
  classifyAgain = false;
  try {
    const outputs = await predict(BERT, "classify", batch([sketch]));
    showClasses(outputs.top_classes[0], outputs.top_probabilities[0]);
  } catch (error) {
    setStatus(error.message, true);
  } finally {
    classifying = false;
    if (classifyAgain) classifyLive();
  }
}

function showClasses(names, probabilities) {
  const list = document.getElementById("classes");
  list.innerHTML = "";
  names.forEach((name, i) => {
    if (!name) return;
    const item = document.createElement("li");
    item.innerHTML = `<span class="name"></span><span>${(100 * probabilities[i]).toFixed(1)}%</span>`;
    item.querySelector(".name").textContent = name.replaceAll("_", " ");
    list.appendChild(item);
  });
  document.getElementById("classes-card").dataset.state = "done";
}

function reconstruct() {
  const sketch = sketchFor(GLOC);
  return answer("reconstruct", ["reconstruction"], async () => {
    const outputs = await predict(GLOC, "reconstruct", {
      ...batch([sketch]), temperature: Number(temperature.value), seed: freshSeed() });
    return () => show("reconstruction", [{ rows: unpad(outputs)[0], color: OUTPUT_COLOR }]);
  });
}

function reorganised() {
  const sketch = sketchFor(GLOC);
  const moved = reorganise(sketch, Number(reScale.value), gaussian(freshSeed()));
  return answer("reorganised", ["reorganised", "reorganised-reconstruction"], async () => {
    const outputs = await predict(GLOC, "reconstruct", {
      ...batch([moved]), temperature: Number(temperature.value), seed: freshSeed() });
    return () => {
      show("reorganised", [{ rows: moved }]);
      show("reorganised-reconstruction", [{ rows: unpad(outputs)[0], color: OUTPUT_COLOR }]);
    };
  });
}

function complete() {
  const sketch = sketchFor(GLOC).slice(0, limits.models[GLOC].max_points - 1);
  return answer("complete", ["completion"], async () => {
    const outputs = await predict(GLOC, "complete", {
      ...batch([sketch]), temperature: Number(temperature.value), seed: freshSeed() });
    let x = 0;
    let y = 0;
    sketch.forEach(([dx, dy]) => { x += dx; y += dy; });
    return () => show("completion", [{ rows: sketch, color: INPUT_COLOR },
      { rows: unpad(outputs)[0], color: OUTPUT_COLOR, start: [x, y] }]);
  });
}

function showRow(id, sketches) {
  const row = document.getElementById(id);
  row.innerHTML = "";
  sketches.forEach((rows, i) => {
    const card = document.createElement("div");
    card.className = "card sketch";
    card.id = `${id}-${i}`;
    card.innerHTML = '<div class="view"></div>';
    row.appendChild(card);
    show(card.id, [{ rows, color: OUTPUT_COLOR }]);
  });
}

document.getElementById("samples-button").addEventListener("click", () => {
  const sketch = sketchFor(GLOC);
  if (!sketch.length) return setStatus("draw something first", true);
  // One reconstruct call on copies of the drawing: each row samples its own stroke.
  answer("samples", [], async () => {
    const outputs = await predict(GLOC, "reconstruct", {
      ...batch(Array(SAMPLES).fill(sketch)), temperature: Number(temperature.value), seed: freshSeed() });
    return () => showRow("samples", unpad(outputs));
  });
});

document.getElementById("keep-a").addEventListener("click", () => {
  drawingA = sketchFor(GLOC);
  if (!drawingA.length) { drawingA = null; return setStatus("draw something first", true); }
  document.getElementById("interpolate").disabled = false;
  setStatus("kept as A: draw another sketch, then interpolate");
});

document.getElementById("interpolate").addEventListener("click", () => {
  const drawingB = sketchFor(GLOC);
  if (!drawingA || !drawingB.length) return setStatus("keep a drawing as A and draw B", true);
  answer("interpolate", [], async () => {
    const codes = await predict(GLOC, "serving_default", batch([drawingA, drawingB]));
    const [a, b] = codes.mu;
    const z = Array.from({ length: INTERPOLATION_STEPS }, (_, i) => {
      const t = i / (INTERPOLATION_STEPS - 1);
      return a.map((value, j) => (1 - t) * value + t * b[j]);
    });
    const outputs = await predict(GLOC, "sample", { z, temperature: 0, seed: 0 });
    return () => showRow("interpolation", unpad(outputs));
  });
});

function changed() {
  redraw();
  if (!strokes.length) {
    document.getElementById("classes").innerHTML = "";
    ["reconstruction", "reorganised", "reorganised-reconstruction", "completion"].forEach(clearCard);
    return;
  }
  classifyLive();
  reconstruct();
  reorganised();
  complete();
}

// ------------------------------------------------------------------ downloads

function download(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function downloadPng(markup, name) {
  const image = new Image();
  image.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 400;
    canvas.getContext("2d").drawImage(image, 0, 0, 400, 400);
    canvas.toBlob((blob) => download(blob, name), "image/png");
  };
  image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(markup)}`;
}

function addDownloads(view, layers) {
  const links = document.createElement("div");
  links.className = "downloads";
  for (const format of ["svg", "png"]) {
    const button = document.createElement("button");
    button.textContent = format.toUpperCase();
    button.addEventListener("click", () => {
      const markup = svgMarkup(layers, 400);
      if (format === "svg") download(new Blob([markup], { type: "image/svg+xml" }), "sketch.svg");
      else downloadPng(markup, "sketch.png");
    });
    links.appendChild(button);
  }
  view.appendChild(links);
}

function drawingLayers() {
  return [{ rows: toStroke3(strokes, Infinity) }];
}
document.getElementById("download-svg").addEventListener("click", () =>
  download(new Blob([svgMarkup(drawingLayers(), 400)], { type: "image/svg+xml" }), "drawing.svg"));
document.getElementById("download-png").addEventListener("click", () =>
  downloadPng(svgMarkup(drawingLayers(), 400), "drawing.png"));

// ------------------------------------------------------------------ start

fetch("/demo/config.json").then((response) => response.json()).then((config) => {
  limits = config;
  const via = config.tf_serving ? ` (models served by ${config.tf_serving})` : "";
  setStatus(`ready${via}: draw something`);
  if (!limits.models[BERT].classify) {
    document.getElementById("classes-card").insertAdjacentHTML("beforeend",
      '<p class="note">this Sketch-BERT preset has no classification head: no top 5</p>');
  }
  redraw();
}).catch((error) => setStatus(`cannot read the demo's configuration: ${error.message}`, true));
