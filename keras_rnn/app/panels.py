"""What each panel of the page asks its model: a request (JSON or an uploaded file) -> the
exported signature -> JSON for the page. Plain functions, run in worker threads by
`keras_rnn.app.server`; a bad request raises `BadRequest` with the message the page shows.

A new task's panel is one function here (and one entry in `HANDLERS`) plus a few lines of
`static/app.js`: see `tag`.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_rnn import decoding
from keras_rnn.app.models import Served
from keras_rnn.limits import (
    MAX_BEAM_WIDTH,
    MAX_CELLS_CHARS,
    MAX_CLASSIFY_BATCH,
    MAX_GENERATE_CHARS,
    MAX_GENERATE_STEPS,
    MAX_PROMPT_CHARS,
    MAX_SERIES_STEPS,
    MAX_TEXT_CHARS,
)

CHUNK_CHARS = 20  # characters per streamed chunk of the char-LM's text


class BadRequest(ValueError):
    """A request the page can correct: shown as a message, never a stack trace."""


def number(body: dict, name: str, kind, low, high, default=None):
    """`body[name]` as an int or float within [low, high], or a BadRequest naming the field."""
    value = body.get(name, default)
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise BadRequest(f"{name} must be between {low:,} and {high:,}")
    return value


def lines_of(body: dict, name: str, most: int, what: str) -> list[str]:
    """The non-empty lines of a text field (at least one, at most `most`)."""
    lines = [line.strip() for line in str(body.get(name) or "").splitlines() if line.strip()]
    if not lines:
        raise BadRequest(f"type at least one {what}")
    if len(lines) > most:
        raise BadRequest(f"at most {most:,} {what}s per request")
    return lines


def rounded(values, digits: int) -> list:
    """Numbers for JSON, rounded in float64 (float32's digits would show through)."""
    return np.round(np.asarray(values, np.float64), digits).tolist()


def strings(tensor) -> list:
    """A string tensor (any rank) as nested lists of str."""
    return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(tensor.numpy()).tolist()


# ---------------------------------------------------------------- char-LM
class CharLM:
    """Text through the `step` signature only, one character at a time, sampled exactly as the
    exported `generate` samples (`decoding.sample_after_prompts`): the prompt primes the state,
    then draw i uses `decoding.sample(..., seed, i)` on the last logits, and is fed back. Same
    prompt, options and seed: the same text as `generate`."""

    def __init__(self, served: Served):
        meta = served.metadata
        self.step = served.signatures["step"]
        self.state_size = int(meta["state_size"])
        self.ids = {ch: i + 1 for i, ch in enumerate(meta["chars"])}  # id 0: the unknown character
        self.chars = ["\ufffd", *meta["chars"]]
        self.banned = decoding.banned_bias(len(self.chars), [0])
        self.draw = tf.function(decoding.sample)

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(ch, 0) for ch in text]

    def prime(self, prompt: str):
        """The state and logits after reading `prompt` (empty: a newline, as `generate`)."""
        state, logits = tf.zeros([1, self.state_size]), None
        for token in self.encode(prompt or "\n"):
            out = self.step(token=tf.constant([token]), state=state)
            logits, state = out["logits"], out["state"]
        return logits, state

    def generate(self, body: dict):
        """The options checked now (a BadRequest), then an iterator over the text's chunks of
        CHUNK_CHARS characters, each generated when asked for."""
        prompt = str(body.get("prompt") or "")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise BadRequest(f"the prompt may have at most {MAX_PROMPT_CHARS:,} characters")
        num_chars = number(body, "num_chars", int, 1, MAX_GENERATE_CHARS, 300)
        temperature = number(body, "temperature", float, 1e-3, 100.0, 0.8)
        top_k = number(body, "top_k", int, 0, len(self.chars), 0)
        seed = number(body, "seed", int, -(2**31), 2**31 - 1, 0)
        options = (tf.constant(temperature, tf.float32), tf.constant(top_k), tf.constant(seed))
        return self.chunks(prompt, num_chars, options)

    def chunks(self, prompt: str, num_chars: int, options: tuple):
        logits, state = self.prime(prompt)
        chunk = []
        for i in range(num_chars):
            token = self.draw(logits, *options, tf.constant(i), self.banned)
            out = self.step(token=token, state=state)
            logits, state = out["logits"], out["state"]
            chunk.append(self.chars[int(token[0])])
            if len(chunk) == CHUNK_CHARS or i == num_chars - 1:
                yield "".join(chunk)
                chunk = []

    def cells(self, body: dict, units: dict) -> dict:
        """One state unit's value after each character of the text (`units`: `state_units`)."""
        text = str(body.get("text") or "")
        if not text:
            raise BadRequest("type or paste a text to read")
        if len(text) > MAX_CELLS_CHARS:
            raise BadRequest(f"the cells view reads at most {MAX_CELLS_CHARS:,} characters")
        if body.get("unit") not in units["units"]:
            raise BadRequest("choose a unit of the model's state")
        k = units["units"].index(body["unit"])
        state, values = tf.zeros([1, self.state_size]), []
        for token in self.encode(text):
            state = self.step(token=tf.constant([token]), state=state)["state"]
            values.append(state[0, units["columns"][k]])
        values = tf.stack(values).numpy()
        if k in units["tanh"]:  # an LSTM's cell state, as the output gate sees it
            values = np.tanh(values)
        return {"chars": list(text), "unit": body["unit"], "values": rounded(values, 3)}


def state_units(meta: dict, cells_file: Path | None) -> dict:
    """The units the cells view offers: names `LAYER:h:INDEX` / `LAYER:c:INDEX` (as `python -m
    keras_rnn.explain cells` names them; an LSTM's c shown as tanh(c), as there), their columns
    in the packed state, and the ones the explanation found most interpretable first."""
    cell, layers, units = meta.get("cell"), int(meta.get("layers", 1)), int(meta.get("units", 0))
    kinds = {"lstm": ["h", "c"], "rnn": ["h"], "gru": ["h"]}.get(cell)
    if kinds is None or layers * units * len(kinds) != int(meta["state_size"]):  # a lecture cell
        names = [f"state:{i}" for i in range(int(meta["state_size"]))]
        return {"units": names, "columns": list(range(len(names))), "tanh": [], "suggested": []}
    names, columns, tanh = [], [], []
    for layer in range(layers):
        for k, kind in enumerate(kinds):
            for index in range(units):
                names.append(f"{layer + 1}:{kind}:{index}")
                columns.append((layer * len(kinds) + k) * units + index)
                if kind == "c":
                    tanh.append(len(names) - 1)
    suggested = []
    if cells_file and cells_file.exists():
        try:
            report = json.loads(cells_file.read_text(encoding="utf-8"))
            for feature, ranked in report.get("top_units", {}).items():
                suggested += [
                    {"unit": u["unit"], "feature": feature, "correlation": u["correlation"]}
                    for u in ranked[:3]
                    if u.get("unit") in names
                ]
        except (ValueError, AttributeError, TypeError, KeyError):
            suggested = []  # an unreadable report: the units in order
    return {"units": names, "columns": columns, "tanh": tanh, "suggested": suggested}


# ---------------------------------------------------------------- translate
def translate(served: Served, body: dict) -> dict:
    """Sentences -> translations, scores, and per sentence the attention map [target x source]
    with both sides' tokens (the `translate` signature's `source_tokens`, `target_tokens`)."""
    sources = lines_of(body, "sentences", 64, "sentence")
    beam_width = number(body, "beam_width", int, 1, MAX_BEAM_WIDTH, 1)
    max_length = int(served.metadata.get("max_target_len", 63)) + 1
    out = served.signatures["translate"](
        source=tf.constant(sources),
        beam_width=tf.constant(beam_width),
        max_length=tf.constant(max_length),
        length_penalty=tf.constant(0.0),
    )
    results = []
    for i, source in enumerate(sources):
        src = [t for t in strings(out["source_tokens"][i]) if t] + ["<end>"]
        tgt = [t for t in strings(out["target_tokens"][i]) if t]
        steps = min(len(tgt) + 1, out["attention"].shape[1])  # the tokens and the <end> step
        tgt = (tgt + ["<end>"])[:steps]
        weights = out["attention"][i, :steps, : len(src)].numpy()
        results.append(
            {
                "source": source,
                "translation": out["translation"][i].numpy().decode("utf-8"),
                "score": round(float(out["score"][i]), 4),
                "source_tokens": src,
                "target_tokens": tgt,
                "attention": rounded(weights, 4),
            }
        )
    return {"results": results}


# ---------------------------------------------------------------- caption
def caption(served: Served, image: bytes, beam_width: int) -> dict:
    """Encoded image bytes -> caption, score, and per word the attention over the grid."""
    if not image:
        raise BadRequest("choose an image file (PNG, JPEG, GIF or BMP) or generate a scene")
    beam_width = number({"beam_width": beam_width}, "beam_width", int, 1, MAX_BEAM_WIDTH)
    max_length = int(served.metadata.get("max_caption_len", 20)) + 1
    out = served.signatures["caption"](
        images=tf.constant([image]), beam_width=tf.constant(beam_width), max_length=tf.constant(max_length)
    )
    text = out["caption"][0].numpy().decode("utf-8")
    length = int(out["length"][0])
    words = text.split()[:length]
    grid = served.metadata.get("grid") or [int(round(math.sqrt(out["attention"].shape[-1])))] * 2
    return {
        "caption": text,
        "score": round(float(out["score"][0]), 4),
        "words": words,
        "grid": grid,
        "attention": rounded(out["attention"][0, : len(words)].numpy(), 4),
    }


def scene(served: Served, seed: int) -> dict:
    """A generated scene (shapes, colours, positions: the task's offline data) as PNG, captioned."""
    from keras_rnn.data import scenes

    seed = number({"seed": seed}, "seed", int, 0, 2**31 - 1)
    size = int(served.metadata.get("image_size", 64))
    png = tf.io.encode_png(scenes.generate(1, seed, size).images[0]).numpy()
    return {
        "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        **caption(served, png, 1),
    }


# ---------------------------------------------------------------- ESN
def read_column(data: bytes) -> np.ndarray:
    """A one-column CSV (a header line allowed) -> float64 values; anything else a BadRequest."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the CSV file is not UTF-8 text") from None
    values = []
    for n, line in enumerate(text.splitlines(), 1):
        cells = [c.strip() for c in line.split(",")]
        if not any(cells):
            continue
        if len(cells) != 1:
            raise BadRequest(f"line {n} has {len(cells)} columns: the ESN panel reads one column")
        try:
            value = float(cells[0])
        except ValueError:
            if values or n > 1:
                raise BadRequest(f"line {n}: {cells[0][:40]!r} is not a number") from None
            continue  # a header
        if not math.isfinite(value):
            raise BadRequest(f"line {n}: NaN or inf is refused")
        values.append(value)
    if len(values) < 2:
        raise BadRequest("the CSV file needs at least two values")
    if len(values) > MAX_SERIES_STEPS:
        raise BadRequest(f"at most {MAX_SERIES_STEPS:,} values")
    return np.asarray(values)


def esn(served: Served, body: dict, data: bytes | None) -> dict:
    """A series (Mackey-Glass, or one column uploaded) -> the model reads it, then runs free
    (`generate`): the series, the continuation and, for Mackey-Glass, the true continuation."""
    steps = number(body, "num_steps", int, 1, min(MAX_GENERATE_STEPS, 5_000), 300)
    truth = None
    if data:
        series = read_column(data)
    else:
        from keras_rnn.data.series import mackey_glass

        history = number(body, "history", int, 100, 3_000, 1_000)
        whole = mackey_glass(history + steps, seed=number(body, "seed", int, 0, 2**31 - 1, 0))
        if "tanh" in str(served.metadata.get("values", "")):  # the model reads tanh(y - 1)
            whole = np.tanh(whole - 1)
        series, truth = whole[:history], whole[history:]
    out = served.signatures["generate"](
        series=tf.constant(series[None, :, None], tf.float32), num_steps=tf.constant(steps)
    )
    continuation = out["continuation"][0, :, 0].numpy()
    answer = {"series": rounded(series, 5), "continuation": rounded(continuation, 5)}
    if truth is not None:
        answer["truth"] = rounded(truth, 5)
        answer["nrmse"] = round(float(np.sqrt(np.mean((continuation - truth) ** 2)) / np.std(truth)), 4)
    return answer


# ---------------------------------------------------------------- classify and tag
def classify(served: Served, body: dict, data: bytes | None) -> dict:
    """Texts (one per line), or one series (an uploaded CSV: a row per step, a column per feature;
    or a generated example) -> per input the label and every label's probability."""
    signature = served.signatures["classify"]
    if served.metadata.get("kind") == "text":
        texts = lines_of(body, "texts", MAX_CLASSIFY_BATCH, "text")
        if max(map(len, texts)) > MAX_TEXT_CHARS:
            raise BadRequest(f"texts may have at most {MAX_TEXT_CHARS:,} characters")
        out, inputs = signature(text=tf.constant(texts)), texts
    else:
        features = int(served.metadata.get("features", 1))
        if not data and features != 2:
            raise BadRequest(f"upload a CSV file: a row per time step, {features} columns")
        series = read_table(data, features) if data else example_series(body)
        out = signature(series=tf.constant(series[None], tf.float32), lengths=tf.constant([len(series)]))
        inputs = [f"a series of {len(series)} steps"]
    labels = strings(out["labels"][0])
    return {
        "inputs": inputs,
        "series": rounded(series, 4) if served.metadata.get("kind") != "text" else None,
        "results": [
            {"label": label, "probabilities": dict(zip(labels, rounded(p, 4)))}
            for label, p in zip(strings(out["label"]), out["probabilities"].numpy())
        ],
    }


def example_series(body: dict) -> np.ndarray:
    """A generated waveform (sine, square or sawtooth by seed): what the default classifier reads."""
    from keras_rnn.data.series import waveforms

    seed = number(body, "seed", int, 0, 2**31 - 1, 0)
    return np.asarray(waveforms(3, seed=seed).series[seed % 3], np.float32)


def read_table(data: bytes, features: int) -> np.ndarray:
    try:
        rows = np.loadtxt(io.StringIO(data.decode("utf-8")), delimiter=",", ndmin=2, dtype=np.float64)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"could not read the CSV file: {str(error)[:120]}") from None
    if rows.shape[1] != features:
        raise BadRequest(f"the CSV has {rows.shape[1]} columns; the model reads {features} features per step")
    if not 1 <= len(rows) <= MAX_SERIES_STEPS or not np.isfinite(rows).all():
        raise BadRequest(f"the series needs 1 to {MAX_SERIES_STEPS:,} steps of finite numbers")
    return rows


def tag(served: Served, body: dict) -> dict:
    """Texts -> the restored text (punctuation and capitals) and each word's tag."""
    texts = lines_of(body, "texts", 64, "text")
    out = served.signatures["tag"](text=tf.constant(texts))
    return {
        "results": [
            {"text": t, "restored": r, "tags": [x for x in tags if x]}
            for t, r, tags in zip(texts, strings(out["restored"]), strings(out["tags"]))
        ]
    }
