// The page: one panel per exported task, built from /api/models. No library, nothing from the
// network but this app. Every request can be stopped (its AbortController; leaving the page stops
// them all) and has the app's time limit; errors are shown in the panel's message line.
"use strict";

const CELL = 22; // pixels per cell of an attention map
let LIMITS = { upload_bytes: 8 * 1024 * 1024, seconds: 120 };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function field(label, input, wide) {
  return el("label", wide ? { class: "wide" } : {}, label, input);
}

function numberInput(name, value, min, max, step = 1) {
  return el("input", { type: "number", name, value, min, max, step });
}

// A panel's message line: what is going on, or what went wrong.
function say(panel, text, isError = false) {
  const line = panel.querySelector(".message");
  line.textContent = text;
  line.classList.toggle("error", isError);
  panel.dataset.state = isError ? "error" : text ? "busy" : "done";
}

// POST to the app; JSON (or raw bytes) in, JSON out; a 4xx/5xx answer throws its message.
async function post(path, body, signal) {
  const raw = body instanceof Blob;
  const response = await fetch(path, {
    method: "POST",
    body: raw ? body : JSON.stringify(body),
    headers: { "Content-Type": raw ? "application/octet-stream" : "application/json" },
    signal,
  });
  const answer = await response.json().catch(() => ({ error: `the app answered ${response.status}` }));
  if (!response.ok || answer.error) throw new Error(answer.error || `the app answered ${response.status}`);
  return answer;
}

// Run `work(signal)` for a panel: its button disabled meanwhile, a time limit, errors shown.
async function run(panel, button, work) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), (LIMITS.seconds + 5) * 1000);
  button.disabled = true;
  say(panel, "Working…");
  try {
    await work(controller.signal);
    say(panel, "");
  } catch (error) {
    say(panel, error.name === "AbortError" ? "stopped (time limit)" : error.message, true);
  } finally {
    clearTimeout(timer);
    button.disabled = false;
  }
}

function values(form) {
  const out = {};
  for (const input of form.querySelectorAll("input[name], textarea[name], select[name]")) {
    out[input.name] = input.type === "number" ? Number(input.value) : input.value;
  }
  return out;
}

function tooLarge(file) {
  return file && file.size > LIMITS.upload_bytes
    ? `the upload is over the limit of ${LIMITS.upload_bytes.toLocaleString("en")} bytes` : null;
}

// Blue (-1) .. white (0) .. red (+1), the colouring of Karpathy et al.'s cells.
function diverging(v) {
  const t = Math.max(-1, Math.min(1, v));
  const fade = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
}

// A [rows][cols] map in [0, 1] as a heat map, CELL pixels per cell.
function heatmap(weights, cols) {
  const canvas = el("canvas", { width: cols * CELL, height: weights.length * CELL, class: "attention" });
  const g = canvas.getContext("2d");
  weights.forEach((row, r) => row.forEach((w, c) => {
    const shade = Math.round(255 * (1 - w));
    g.fillStyle = `rgb(${shade},${shade},${shade})`;
    g.fillRect(c * CELL, r * CELL, CELL, CELL);
  }));
  return canvas;
}

// Lines on one canvas: [{values, colour, from}] (from: the x of the first value).
function plot(series, width = 760, height = 240) {
  const canvas = el("canvas", { width, height, class: "plot" });
  const g = canvas.getContext("2d");
  const all = series.flatMap(s => s.values);
  const lo = Math.min(...all), hi = Math.max(...all), span = hi - lo || 1;
  const n = Math.max(...series.map(s => s.from + s.values.length));
  series.forEach(s => {
    g.strokeStyle = s.colour;
    g.setLineDash(s.dash || []);
    g.beginPath();
    s.values.forEach((v, i) => {
      const x = ((s.from + i) / (n - 1)) * (width - 8) + 4, y = height - 4 - ((v - lo) / span) * (height - 8);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  });
  return canvas;
}

// ------------------------------------------------------------------ panels
const PANELS = {};

PANELS.charlm = (panel, info) => {
  const output = el("pre", { class: "output", id: "charlm-text" });
  const form = el("form", { novalidate: "" },
    field("prompt", el("textarea", { name: "prompt", rows: 2 }, "def "), true),
    field("characters", numberInput("num_chars", 300, 1, 100000)),
    field("temperature", numberInput("temperature", 0.8, 0.01, 100, "any")),
    field("top-k (0: all)", numberInput("top_k", 0, 0, 100000)),
    field("seed", numberInput("seed", 0, -2147483648, 2147483647)),
    el("button", { type: "submit", text: "Generate" }));
  form.addEventListener("submit", event => {
    event.preventDefault();
    output.textContent = "";
    run(panel, form.querySelector("button"), async signal => {
      const response = await fetch("/api/charlm/generate", {
        method: "POST", body: JSON.stringify(values(form)), signal,
        headers: { "Content-Type": "application/json" } });
      if (!response.ok) throw new Error((await response.json()).error);
      const reader = response.body.getReader(), decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop();
        for (const line of lines.filter(Boolean)) {
          const message = JSON.parse(line);
          if (message.error) throw new Error(message.error);
          if (message.text) output.textContent += message.text;
        }
      }
    });
  });
  panel.append(el("p", { text: `${info.cell} × ${info.layers} layers of ${info.units} units; the text is ` +
    "sampled through the `step` signature, a chunk at a time (the same text as `generate` for the same seed)." }),
    form, output, cellsView(panel));
};

// The char-LM's "cells": the text coloured by one state unit's value after each character.
function cellsView(panel) {
  const select = el("select", { name: "unit" });
  const shown = el("div", { class: "cells mono", id: "charlm-cells" });
  const form = el("form", { novalidate: "" },
    field("text to read", el("textarea", { name: "text", rows: 3 }, "def f(x):\n    return [x, (x + 1)]  # a list\n"), true),
    field("unit (LAYER:STATE:INDEX)", select),
    el("button", { type: "submit", text: "Colour" }));
  fetch("/api/charlm/units").then(r => r.json()).then(info => {
    if (info.error) return;
    if (info.suggested.length) {
      const group = el("optgroup", { label: "most interpretable (python -m keras_rnn.explain cells)" });
      info.suggested.forEach(s => group.append(el("option", { value: s.unit,
        text: `${s.unit}  ${s.feature} r=${s.correlation.toFixed(2)}` })));
      select.append(group);
    }
    const all = el("optgroup", { label: "every unit" });
    info.units.forEach(u => all.append(el("option", { value: u, text: u })));
    select.append(all);
  });
  form.addEventListener("submit", event => {
    event.preventDefault();
    run(panel, form.querySelector("button"), async signal => {
      const answer = await post("/api/charlm/cells", values(form), signal);
      shown.replaceChildren(...answer.chars.map((ch, i) => el("span", {
        style: `background:${diverging(answer.values[i])}`, title: `${answer.unit} = ${answer.values[i]}`,
        text: ch })));
    });
  });
  return el("div", {}, el("h3", { text: "cells: the text coloured by one hidden unit (blue −1 … red +1)" }),
    form, shown);
}

PANELS.translate = (panel, info) => {
  const results = el("div", { id: "translate-results" });
  const form = el("form", { novalidate: "" },
    field("sentences, one per line", el("textarea", { name: "sentences", rows: 3 }), true),
    field("beam width", numberInput("beam_width", 1, 1, 16)),
    el("button", { type: "submit", text: "Translate" }));
  form.addEventListener("submit", event => {
    event.preventDefault();
    run(panel, form.querySelector("button"), async signal => {
      const answer = await post("/api/translate", values(form), signal);
      results.replaceChildren(...answer.results.map(attentionResult));
    });
  });
  panel.append(el("p", { text: `${info.level}-level, ${info.cell}, ${info.attention} attention; ` +
    "hover a target word to see the source words it attended to." }), form, results);
};

function attentionResult(r) {
  const source = el("div", { class: "tokens source" },
    ...r.source_tokens.map(t => el("span", { text: t })));
  const target = el("div", { class: "tokens target" }, ...r.target_tokens.map((t, i) => el("span", {
    text: t,
    onmouseenter: event => {
      event.target.classList.add("active");
      source.querySelectorAll("span").forEach((s, j) => {
        s.style.background = `rgba(58,111,208,${r.attention[i][j]})`;
      });
    },
    onmouseleave: event => {
      event.target.classList.remove("active");
      source.querySelectorAll("span").forEach(s => { s.style.background = ""; });
    },
  })));
  return el("div", { class: "result" },
    el("div", {}, el("strong", { class: "translation", text: r.translation }), ` (score ${r.score})`),
    el("div", { text: "source:" }), source, el("div", { text: "translation:" }), target,
    heatmap(r.attention, r.source_tokens.length));
}

PANELS.caption = (panel, info) => {
  const result = el("div", { id: "caption-result" });
  const file = el("input", { type: "file", name: "image", accept: "image/png,image/jpeg,image/gif,image/bmp" });
  const form = el("form", { novalidate: "" },
    field("image (PNG, JPEG, GIF, BMP)", file),
    field("beam width", numberInput("beam_width", 1, 1, 16)),
    el("button", { type: "submit", text: "Caption" }),
    el("button", { type: "button", class: "secondary", text: "Generate a scene", id: "caption-scene" }));
  const show = (answer, source) => showCaption(result, answer, source);
  form.addEventListener("submit", event => {
    event.preventDefault();
    run(panel, form.querySelector("button"), async signal => {
      const chosen = file.files[0];
      if (!chosen) throw new Error("choose an image file (PNG, JPEG, GIF or BMP) or generate a scene");
      const refusal = tooLarge(chosen);
      if (refusal) throw new Error(refusal);
      const beam = form.querySelector("[name=beam_width]").value;
      show(await post(`/api/caption?beam_width=${beam}`, chosen, signal), URL.createObjectURL(chosen));
    });
  });
  form.querySelector("#caption-scene").addEventListener("click", event => {
    run(panel, event.target, async signal => {
      const answer = await post("/api/caption/scene", { seed: Math.floor(Math.random() * 1e6) }, signal);
      show(answer, answer.image);
    });
  });
  panel.append(el("p", { text: `${info.cell} decoder, ${info.attention} attention over a ` +
    `${(info.grid || []).join("×")} grid; point at a word to see where it looked.` }), form, result);
};

function showCaption(result, answer, source) {
  const size = 256, canvas = el("canvas", { width: size, height: size, id: "caption-canvas" });
  const image = new Image();
  const draw = weights => {
    const g = canvas.getContext("2d");
    g.drawImage(image, 0, 0, size, size);
    if (!weights) return;
    const [rows, cols] = answer.grid, top = Math.max(...weights) || 1;
    weights.forEach((w, k) => {
      g.fillStyle = `rgba(255,200,0,${0.75 * w / top})`;
      g.fillRect((k % cols) * size / cols, Math.floor(k / cols) * size / rows, size / cols, size / rows);
    });
  };
  image.onload = () => draw(answer.attention[0]);
  image.src = source;
  const words = el("div", { class: "tokens" }, ...answer.words.map((w, i) => el("span", {
    text: w, onmouseenter: () => draw(answer.attention[i]), onmouseleave: () => draw(null) })));
  result.replaceChildren(el("p", {}, el("strong", { class: "caption", text: answer.caption }),
    ` (score ${answer.score})`), words, canvas);
}

// Reads an uploaded text file (a CSV) into the request, within the upload limit.
async function withCsv(form, body) {
  const file = form.querySelector("input[type=file]").files[0];
  if (!file) return body;
  const refusal = tooLarge(file);
  if (refusal) throw new Error(refusal);
  return { ...body, csv: await file.text() };
}

PANELS.esn = (panel, info) => {
  const result = el("div", { id: "esn-result" });
  const form = el("form", { novalidate: "" },
    field("one-column CSV (empty: Mackey–Glass)", el("input", { type: "file", name: "series", accept: ".csv,text/csv,text/plain" })),
    field("Mackey–Glass steps read", numberInput("history", 1000, 100, 3000)),
    field("seed", numberInput("seed", 0, 0, 2147483647)),
    field("free-running steps", numberInput("num_steps", 300, 1, 5000)),
    el("button", { type: "submit", text: "Run" }));
  form.addEventListener("submit", event => {
    event.preventDefault();
    run(panel, form.querySelector("button"), async signal => {
      const answer = await post("/api/esn", await withCsv(form, values(form)), signal);
      const from = answer.series.length;
      const lines = [{ values: answer.series, colour: "#334", from: 0 },
        { values: answer.continuation, colour: "#d02030", from }];
      if (answer.truth) lines.push({ values: answer.truth, colour: "#20a050", from, dash: [4, 3] });
      result.replaceChildren(el("div", { class: "legend" }, el("span", { text: "— series read" }),
        el("span", { style: "color:#d02030", text: "— free-running continuation" }),
        answer.truth ? el("span", { style: "color:#20a050", text: `- - true continuation (NRMSE ${answer.nrmse})` }) : ""),
      plot(lines));
    });
  });
  panel.append(el("p", { text: `${info.units} reservoir units; trained on ${info.series} (${info.values}).` }),
    form, result);
};

function probabilityBars(r) {
  return el("div", { class: "result" }, el("div", {}, "label: ", el("strong", { class: "label", text: r.label })),
    ...Object.entries(r.probabilities).map(([label, p]) => el("div", { class: "bar" },
      el("span", { class: "mono", text: `${label} ${p.toFixed(3)}` }),
      el("div", { class: "fill", style: `width:${Math.round(240 * p)}px` }))));
}

PANELS.classify = (panel, info) => {
  const result = el("div", { id: "classify-result" });
  const text = info.kind === "text";
  const inputs = text
    ? [field("texts, one per line", el("textarea", { name: "texts", rows: 3 }), true)]
    : [field(`CSV: a row per step, ${info.features} columns (empty: a generated waveform)`,
      el("input", { type: "file", name: "series", accept: ".csv,text/csv,text/plain" })),
    field("waveform seed", numberInput("seed", 0, 0, 2147483647))];
  const form = el("form", { novalidate: "" }, ...inputs, el("button", { type: "submit", text: "Classify" }));
  form.addEventListener("submit", event => {
    event.preventDefault();
    run(panel, form.querySelector("button"), async signal => {
      const answer = await post("/api/classify", await withCsv(form, values(form)), signal);
      const shown = answer.series
        ? [plot(answer.series[0].map((_, f) => ({ values: answer.series.map(row => row[f]),
          colour: ["#334", "#d02030", "#20a050"][f % 3], from: 0 })), 480, 140)] : [];
      result.replaceChildren(...shown, ...answer.results.map(probabilityBars));
    });
  });
  panel.append(el("p", { text: `${info.model} classifier of ${info.kind}; labels: ${(info.labels || []).join(", ")}.` }),
    form, result);
};

PANELS.tag = panel => {
  const result = el("div", { id: "tag-result" });
  const form = el("form", { novalidate: "" }, field("texts, one per line", el("textarea", { name: "texts", rows: 3 }), true),
    el("button", { type: "submit", text: "Restore" }));
  form.addEventListener("submit", event => {
    event.preventDefault();
    run(panel, form.querySelector("button"), async signal => {
      const answer = await post("/api/tag", values(form), signal);
      result.replaceChildren(...answer.results.map(r => el("div", { class: "result" },
        el("strong", { class: "restored", text: r.restored }), el("div", { class: "tokens mono" },
          ...r.tags.map(t => el("span", { text: t }))))));
    });
  });
  panel.append(form, result);
};

// ------------------------------------------------------------------ the page
async function main() {
  const status = document.getElementById("status");
  try {
    const answer = await (await fetch("/api/models")).json();
    if (answer.error) throw new Error(answer.error);
    LIMITS = answer.limits;
    const main = document.getElementById("panels");
    for (const entry of answer.models) {
      const panel = el("section", { class: "panel", id: `panel-${entry.task}` },
        el("h2", {}, entry.task, " ", el("small", { text: entry.version ? `version ${entry.version}` : "" })));
      main.append(panel);
      if (entry.missing) {
        panel.dataset.state = "missing";
        panel.append(el("p", { class: "missing", text: entry.missing }));
        if (entry.command) panel.append(el("pre", { class: "output", text: entry.command }));
        continue;
      }
      PANELS[entry.task](panel, entry.info);
      panel.append(el("p", { class: "message", role: "alert" }));
      panel.dataset.state = "ready";
    }
    status.textContent = `${answer.models.filter(m => !m.missing).length} of ${answer.models.length} tasks exported`;
  } catch (error) {
    status.textContent = `could not list the models: ${error.message}`;
    status.classList.add("error");
  }
}

main();
