"""cells: which units of a trained char-LM track what in the text (Karpathy, Johnson & Fei-Fei 2016).

The run's model reads a text; every unit's activation is recorded at every character (the
hidden state h of each layer; an LSTM's cell state c too, as tanh(c), and the gates), and
each unit is ranked by its correlation with simple features of the text, computed by a
small scanner of Python-like source (the default corpus): inside a string, inside a comment,
position in the line, bracket depth, indentation depth, characters until the end of the line.

Pictures: the text coloured by one unit (blue -1 ... white 0 ... red +1, the paper's
colouring) as a self-contained HTML page (`cells.html`, also the top unit of every feature)
and a PNG (`cells.png`); for LSTM and GRU runs, the gates' saturation (`saturation.png`: per
unit, the fraction of characters where a gate is below 0.1 against above 0.9, as in the paper).

The activations come from a NumPy replay of the Keras cells (rnn, lstm, gru) on the model's
own weights, checked against the Keras model's logits on the same text before anything is
reported.
"""

from __future__ import annotations

import html

import numpy as np

from keras_rnn import UserError
from keras_rnn.explain import symmetric_scale

MAX_CHARS = 100_000  # a 100,000-character text takes seconds per layer; more is refused
FEATURES = ("in_string", "in_comment", "line_position", "bracket_depth", "indent_depth", "to_end_of_line")
SATURATED = 0.1  # a gate below 0.1 is left-saturated, above 0.9 right-saturated (the paper's)
# a unit whose |r| with a feature is below this is not reported as tracking it: a barely trained
# model's best units sit near 0.1, chance from the characters themselves can reach 0.5 on a
# repetitive text (tests/test_explain.py), the trained LSTM's in docs/explain.md 0.4-0.7
R_THRESHOLD = 0.3


def add_arguments(parser) -> None:
    parser.add_argument(
        "inputs", nargs="*", help="UTF-8 text files to read (default: the run's validation text)"
    )
    parser.add_argument(
        "--max-chars", type=int, default=5000, help=f"characters read (at most {MAX_CHARS:,})"
    )
    parser.add_argument(
        "--unit",
        help="the unit to colour, LAYER:STATE:INDEX with STATE h or c, e.g. 1:c:17 "
        "(default: the unit most correlated with the first feature)",
    )
    parser.add_argument("--top", type=int, default=5, help="units reported per feature")


# ---------------------------------------------------------------- the text's features
def text_features(text: str) -> dict[str, np.ndarray]:
    """Per character, the state of the text after reading it: inside a string ('...', "...",
    triple-quoted; backslash escapes; a one-line string left open ends with its line), inside
    a # comment, column, depth of (, [ and {, indentation of the line (its leading spaces),
    characters left before the newline."""
    values = {name: np.zeros(len(text), np.float32) for name in FEATURES}
    quote, comment, escaped, depth, column, indent, leading = None, False, False, 0, 0, 0, True
    opening = closing = 0  # characters still to read of a triple quote being opened / closed
    for i, ch in enumerate(text):
        if ch == "\n":
            comment, column, indent, leading = False, 0, 0, True
            if quote in ("'", '"'):
                quote = None
        else:
            column += 1
            leading = leading and ch == " "
            indent += leading
        if opening:
            opening -= 1
        elif closing:
            closing -= 1
            quote = quote if closing else None
        elif quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif text.startswith(quote, i):
                closing = len(quote) - 1
                quote = quote if closing else None
        elif comment:
            pass
        elif ch == "#":
            comment = True
        elif ch in "'\"":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            opening = len(quote) - 1
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        values["in_string"][i], values["in_comment"][i] = quote is not None, comment
        values["bracket_depth"][i], values["indent_depth"][i], values["line_position"][i] = (
            depth,
            indent,
            column,
        )
    left = 0
    for i in range(len(text) - 1, -1, -1):
        left = 0 if text[i] == "\n" else left + 1
        values["to_end_of_line"][i] = left
    return values


# ---------------------------------------------------------------- the activations
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def replay(model, cfg, ids: np.ndarray) -> tuple[dict, np.ndarray]:
    """The char-LM's units over `ids` [T], one layer after another, in NumPy from the Keras
    weights: ({"1:h": [T, U], "1:c": ..., "1:gate_f": ...}, logits [T, V])."""
    if cfg.cell not in ("rnn", "lstm", "gru"):
        raise UserError(f"explain cells reads rnn, lstm and gru runs, not --cell {cfg.cell}")
    x = model.get_layer("embedding").get_weights()[0][ids].astype(np.float64)
    record = {}
    for layer_index in range(cfg.layers):
        cell = model.get_layer(f"rnn_{layer_index}").cell
        weights = [w.astype(np.float64) for w in cell.get_weights()]
        kernel, recurrent, bias = weights
        units, steps = recurrent.shape[0], len(ids)
        reset_after = cfg.cell == "gru" and bias.ndim == 2
        x_proj = x @ kernel + (bias[0] if reset_after else bias)
        h, c = np.zeros(units), np.zeros(units)
        names = {
            "rnn": ["h"],
            "lstm": ["h", "c", "gate_i", "gate_f", "gate_o"],
            "gru": ["h", "gate_z", "gate_r"],
        }
        out = {name: np.zeros((steps, units)) for name in names[cfg.cell]}
        for t in range(steps):
            if cfg.cell == "rnn":
                h = np.tanh(x_proj[t] + h @ recurrent)
            elif cfg.cell == "lstm":  # Keras' gate order i, f, c (candidate), o
                i, f, g, o = np.split(x_proj[t] + h @ recurrent, 4)
                i, f, o = sigmoid(i), sigmoid(f), sigmoid(o)
                c = f * c + i * np.tanh(g)
                h = o * np.tanh(c)
                out["c"][t], out["gate_i"][t], out["gate_f"][t], out["gate_o"][t] = np.tanh(c), i, f, o
            else:  # Keras' gate order z, r, h
                x_z, x_r, x_h = np.split(x_proj[t], 3)
                if reset_after:
                    h_z, h_r, h_h = np.split(h @ recurrent + bias[1], 3)
                    z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
                    candidate = np.tanh(x_h + r * h_h)
                else:
                    z = sigmoid(x_z + h @ recurrent[:, :units])
                    r = sigmoid(x_r + h @ recurrent[:, units : 2 * units])
                    candidate = np.tanh(x_h + (r * h) @ recurrent[:, 2 * units :])
                h = z * h + (1 - z) * candidate
                out["gate_z"][t], out["gate_r"][t] = z, r
            out["h"][t] = h
        record.update({f"{layer_index + 1}:{name}": values for name, values in out.items()})
        x = out["h"]
    dense = model.get_layer("logits").get_weights()
    return record, x @ dense[0] + dense[1]


def check_replay(model, ids: np.ndarray, logits: np.ndarray) -> float:
    """The largest |logit difference| between the replay and the Keras model on the first
    characters; a UserError if they disagree (a model this tool does not understand)."""
    head = ids[:500]
    expected = np.asarray(model(head[None].astype(np.int32)))[0]
    gap = float(np.max(np.abs(expected - logits[: len(head)])))
    if not gap < 1e-3:
        raise UserError(f"the replayed activations differ from the model's own (logits by {gap:.2g})")
    return gap


def correlations(units: dict, features: dict) -> dict[str, list[dict]]:
    """Per feature, every unit's Pearson correlation with it, best |r| first."""
    names, columns = [], []
    for key, values in units.items():
        if key.split(":")[1] in ("h", "c"):
            names += [f"{key}:{j}" for j in range(values.shape[1])]
            columns.append(values)
    activations = np.concatenate(columns, axis=1)
    centred = activations - activations.mean(0)
    scale = np.sqrt((centred**2).sum(0))
    ranked = {}
    for feature, values in features.items():
        v = values - values.mean()
        denominator = scale * np.sqrt((v**2).sum())
        r = np.divide(v @ centred, denominator, out=np.zeros_like(scale), where=denominator > 0)
        order = np.argsort(-np.abs(r))
        ranked[feature] = [{"unit": names[k], "correlation": round(float(r[k]), 4)} for k in order]
    return ranked


def parse_unit(spec: str, units: dict) -> tuple[str, int]:
    """'1:c:17' -> ('1:c', 17), refusing units the model does not have."""
    try:
        layer, state, index = spec.split(":")
        key, index = f"{int(layer)}:{state}", int(index)
    except ValueError:
        raise UserError(f"--unit must be LAYER:STATE:INDEX, e.g. 1:h:17, got {spec!r}") from None
    if key not in units or not 0 <= index < units[key].shape[1]:
        have = ", ".join(
            f"{k}:0..{v.shape[1] - 1}" for k, v in units.items() if k.split(":")[1] in ("h", "c")
        )
        raise UserError(f"--unit {spec} is not a unit of this model (it has {have})")
    return key, index


# ---------------------------------------------------------------- pictures
def colour(value: float, scale: float = 1.0) -> str:
    """-scale blue ... 0 white ... +scale red, as a CSS colour."""
    v = float(np.clip(value / scale, -1, 1))
    fade = int(255 * (1 - abs(v)))
    return f"rgb(255,{fade},{fade})" if v >= 0 else f"rgb({fade},{fade},255)"


def write_html(path, text: str, sections: list[tuple[str, np.ndarray]]) -> None:
    """One block of the text per (title, activation per character), each character's
    background coloured by the activation; no scripts, no external files."""
    blocks = []
    for title, values in sections:
        shown = [html.escape(ch) if ch != "\n" else "↵\n" for ch in text]
        scale = symmetric_scale(values)
        spans = "".join(
            f'<span style="background:{colour(v, scale)}" title="{v:+.3f}">{ch}</span>'
            for ch, v in zip(shown, values)
        )
        heading = f"{title} (blue −{scale:.3g}, white 0, red +{scale:.3g})"
        blocks.append(f"<h2>{html.escape(heading)}</h2>\n<pre>{spans}</pre>")
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>keras-rnn: interpretable cells</title>'
        "<style>body{font-family:sans-serif} pre{font:13px monospace;white-space:pre-wrap;line-height:1.5}"
        "</style></head><body>\n<p>each block's colours run from blue (its most negative value) through white (0) "
        "to red (its most positive), the scale in its title; hover a character for the value</p>\n"
        + "\n".join(blocks)
        + "\n</body></html>\n"
    )
    path.write_text(page, encoding="utf-8")


def draw_text(path, text: str, values: np.ndarray, title: str, columns=100, max_lines=40) -> float:
    """The text as a grid of characters on their activation's colour (the PNG of the HTML),
    scaled to the largest |activation| shown, with a colour bar; returns that scale."""
    from matplotlib.colors import LinearSegmentedColormap

    from keras_rnn.plots import plt, save_figure

    rows, row, col = [], [], 0
    for ch, v in zip(text, values):
        if ch == "\n" or col == columns:
            rows.append(row)
            row, col = [], 0
            if len(rows) == max_lines:
                break
            if ch == "\n":
                continue
        row.append((ch, v))
        col += 1
    rows = (rows + [row])[:max_lines]
    grid = np.full((len(rows), columns), np.nan)
    for r, line in enumerate(rows):
        grid[r, : len(line)] = [v for _, v in line]
    cmap = LinearSegmentedColormap.from_list("bwr_paper", ["blue", "white", "red"])
    cmap.set_bad("white")
    scale = symmetric_scale(grid[np.isfinite(grid)])
    fig, axis = plt.subplots(figsize=(columns * 0.11 + 1.2, len(rows) * 0.2 + 1.0))
    image = axis.imshow(grid, cmap=cmap, vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=axis, fraction=0.03, pad=0.01, label="activation")
    for r, line in enumerate(rows):
        for c, (ch, _) in enumerate(line):
            axis.text(c, r, ch, ha="center", va="center", fontsize=7, family="monospace")
    axis.set_axis_off()
    axis.set_title(f"{title}; colours ±{scale:.3g} (the largest |activation| shown)", fontsize=9)
    save_figure(fig, path)
    return scale


def draw_saturation(path, units: dict) -> dict:
    """Per gate, each unit's fraction of left- (< 0.1) and right-saturated (> 0.9) steps."""
    from keras_rnn.plots import plt, save_figure

    gates = {k: v for k, v in units.items() if ":gate_" in k}
    fractions = {k: ((v < SATURATED).mean(0), (v > 1 - SATURATED).mean(0)) for k, v in gates.items()}
    kinds = sorted({k.split(":")[1] for k in gates})
    fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 4), squeeze=False)
    for axis, kind in zip(axes[0], kinds):
        for key, (left, right) in fractions.items():
            if key.endswith(kind):
                axis.scatter(left, right, s=10, alpha=0.6, label=f"layer {key.split(':')[0]}")
        axis.plot([0, 1], [1, 0], color="grey", linewidth=0.5)
        axis.set(
            xlim=(0, 1), ylim=(0, 1), xlabel="fraction left-saturated (< 0.1)", title=kind.replace("_", " ")
        )
        axis.set_ylabel("fraction right-saturated (> 0.9)")
        axis.legend(fontsize=7)
    save_figure(fig, path)
    return {
        k: {
            "left_saturated_mean": round(float(left.mean()), 4),
            "right_saturated_mean": round(float(right.mean()), 4),
        }
        for k, (left, right) in fractions.items()
    }


# ---------------------------------------------------------------- the command
def read_inputs(run, args) -> tuple[str, str]:
    """The text to read and where it came from: the files given, else the run's validation split."""
    from keras_rnn.data import text as text_data

    if not 1 <= args.max_chars <= MAX_CHARS or args.top < 1:
        raise UserError(f"need 1 <= --max-chars <= {MAX_CHARS:,} and --top >= 1")
    if args.inputs:
        text, source = "\n".join(text_data.read_text_file(p) for p in args.inputs), ", ".join(args.inputs)
    else:
        from keras_rnn.tasks import charlm

        _, text = charlm.load_corpus(run.config)
        source = "the run's validation text"
    if not text:
        raise UserError(f"{source}: no text to read")
    return text[: args.max_chars], source


def run(run, args, out) -> dict:
    text, source = read_inputs(run, args)
    ids = run.vocab.encode(text)
    units, logits = replay(run.model, run.config, np.asarray(ids))
    gap = check_replay(run.model, np.asarray(ids), logits)
    ranked = correlations(units, text_features(text))
    tracked = {f: ranked[f][0] for f in FEATURES if abs(ranked[f][0]["correlation"]) >= R_THRESHOLD}
    best_feature = max(FEATURES, key=lambda f: abs(ranked[f][0]["correlation"]))
    feature = FEATURES[0] if FEATURES[0] in tracked else next(iter(tracked), best_feature)
    chosen = args.unit or ranked[feature][0]["unit"]
    key, index = parse_unit(chosen, units)
    r_chosen = {f: next(u["correlation"] for u in ranked[f] if u["unit"] == chosen) for f in FEATURES}
    if args.unit:  # the feature it tracks best
        feature = max(FEATURES, key=lambda f: abs(r_chosen[f]))
    finding = (
        f"unit {chosen} tracks {feature}: r = {r_chosen[feature]:+.2f}"
        if abs(r_chosen[feature]) >= R_THRESHOLD
        else f"no finding: unit {chosen}'s best |r| is {abs(r_chosen[feature]):.2f} ({feature}), "
        f"below {R_THRESHOLD}"
        + ("" if tracked else f"; no unit reaches |r| >= {R_THRESHOLD} with any feature")
    )
    sections = [(f"unit {chosen} (layer:state:index): {finding}", units[key][:, index])]
    for name in FEATURES:
        top = ranked[name][0]
        key_, j = parse_unit(top["unit"], units)
        verdict = "" if name in tracked else f", below |r| {R_THRESHOLD}: not a finding"
        sections.append(
            (f"{name}: unit {top['unit']}, r = {top['correlation']:+.2f}{verdict}", units[key_][:, j])
        )
    write_html(out / "cells.html", text, sections)
    scale = draw_text(out / "cells.png", text, units[key][:, index], f"{finding}\nover {source}")
    results = {
        "cell": run.config.cell,
        "text": source,
        "characters": len(text),
        "replay_max_logit_difference": gap,
        "unit": chosen,
        "unit_correlations": r_chosen,
        "r_threshold": R_THRESHOLD,
        "finding": finding,
        "tracked_features": {name: top["unit"] for name, top in tracked.items()},
        "colour_scales": {"cells.png": f"±{scale:.4g}, the largest |activation| of unit {chosen} drawn"},
        "top_units": {name: ranked[name][: args.top] for name in FEATURES},
    }
    if run.config.cell in ("lstm", "gru"):
        results["gate_saturation"] = draw_saturation(out / "saturation.png", units)
        results["colour_scales"]["saturation.png"] = "axes: fractions of steps 0..1; colour = layer"
    for name in FEATURES:
        best = ", ".join(f"{u['unit']} ({u['correlation']:+.2f})" for u in ranked[name][:3])
        print(f"{name:15} {best}")
    print(finding)
    return results
