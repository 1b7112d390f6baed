"""`python -m keras_rnn.explain`: what the explanations find on models whose answer is known."""

from __future__ import annotations

import json
import random

import keras
import numpy as np
import pytest
from conftest import run_cli

from keras_rnn.explain import cells
from keras_rnn.tasks import charlm


def test_text_features_follow_strings_comments_brackets_and_lines():
    text = 'f(x)  # (\n  s = \'a(b\' + """q\n""" \n'
    got = cells.text_features(text)
    as_text = {k: "".join(str(int(min(v, 9))) for v in values) for k, values in got.items()}
    # Each feature is the state AFTER reading the character: an opening quote is inside the string,
    # a closing one (the third of a triple quote) outside; a newline starts the next line.
    #            f(x)  # (\n  s = 'a(b' + """q\n""" \n
    assert as_text["in_string"] == "0000000000000000111100001111111000"
    assert as_text["in_comment"] == "0000001110000000000000000000000000"
    assert as_text["bracket_depth"] == "0110000000000000000000000000000000"  # not in comments, strings
    assert as_text["indent_depth"] == "0000000000122222222222222222000000"
    assert as_text["line_position"] == "1234567890123456789999999999012340"
    assert got["to_end_of_line"][0] == 9 and got["to_end_of_line"][8] == 1 and got["to_end_of_line"][9] == 0


@pytest.mark.parametrize(
    "cell, extra",
    [("rnn", {}), ("lstm", {}), ("gru", {}), ("gru", {"gru_reset_after": False})],
    ids=["rnn", "lstm", "gru", "slides-gru"],
)
def test_replay_equals_the_keras_model(cell, extra):
    """The NumPy replay that records the units gives the Keras model's own logits."""
    keras.utils.set_random_seed(0)
    cfg = charlm.Config(cell=cell, units=12, layers=2, embedding_dim=5, **extra)
    model = charlm.build_model(cfg, 9)
    ids = np.random.default_rng(0).integers(0, 9, size=80)
    units, logits = cells.replay(model, cfg, ids)
    assert cells.check_replay(model, ids, logits) < 1e-4
    assert units["2:h"].shape == (80, 12) and ("1:c" in units) == (cell == "lstm")


def planted_text(n_chars: int, seed: int) -> str:
    """Words of a..h; about 40% of the runs of words are in double quotes and UPPERCASE, so
    predicting a letter's case needs the quote state: a unit has to track it."""
    rng = random.Random(seed)
    pieces, size = [], 0
    while size < n_chars:
        words = " ".join(
            "".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 5)))
            for _ in range(rng.randint(1, 4))
        )
        piece = (f'"{words.upper()}"' if rng.random() < 0.4 else words) + rng.choice("  \n")
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)


def test_cells_finds_the_unit_that_tracks_the_planted_quotes(tmp_path):
    (tmp_path / "train.txt").write_text(planted_text(60_000, 0))
    (tmp_path / "read.txt").write_text(planted_text(3_000, 1))
    run_cli(
        "train.py", "--task", "charlm", "--text-file", tmp_path / "train.txt", "--run-dir", tmp_path / "run",
        "--units", "16", "--layers", "1", "--embedding-dim", "8", "--seq-len", "50", "--batch-size", "32",
        "--epochs", "1", "--steps-per-epoch", "150", "--learning-rate", "0.01", "--sample-length", "20",
    )  # fmt: skip
    out = tmp_path / "explained"
    proc = run_cli(
        "-m", "keras_rnn.explain", "cells", "--run-dir", tmp_path / "run", "--out", out, tmp_path / "read.txt"
    )
    results = json.loads((out / "cells.json").read_text())
    best = results["top_units"]["in_string"][0]
    # A unit unrelated to quotes correlates with them by chance only; the same network untrained
    # tops out at about 0.5 here (checked below): tracking means well above it.
    assert abs(best["correlation"]) > 0.8, results["top_units"]["in_string"]
    assert results["unit"] == best["unit"] and "in_string" in proc.stdout
    run = charlm.TASK.load(tmp_path / "run")
    keras.utils.set_random_seed(1)
    untrained = charlm.build_model(run.config, run.vocab.size)
    text = (tmp_path / "read.txt").read_text()
    units, _ = cells.replay(untrained, run.config, run.vocab.encode(text))
    chance = cells.correlations(units, cells.text_features(text))["in_string"][0]["correlation"]
    assert abs(chance) < abs(best["correlation"]) - 0.2, (chance, best)
    page = (out / "cells.html").read_text()
    assert (
        page.count("<h2>") == 1 + len(cells.FEATURES) and "<script" not in page and "background:rgb(" in page
    )
    assert (out / "cells.png").read_bytes()[:4] == b"\x89PNG" and (out / "saturation.png").exists()
    assert set(results["gate_saturation"]) == {"1:gate_i", "1:gate_f", "1:gate_o"}


# A picture is blank when its pixels barely vary (all white, all one grey): the grey-level
# standard deviation, 0..1, must exceed this. A text coloured on a fixed ±1 scale by a unit that
# moves ±0.02 is white with black letters: that is what COLOURED_SHARE catches.
MIN_PIXEL_STD = 0.05
COLOURED_SHARE = 0.05  # of cells.png's pixels must be coloured (RGB spread > 0.1), not white or grey


def pixel_std(png) -> float:
    from matplotlib.image import imread

    return float(imread(png)[..., :3].mean(-1).std())


def coloured_share(png) -> float:
    from matplotlib.image import imread

    pixels = imread(png)[..., :3]
    return float(((pixels.max(-1) - pixels.min(-1)) > 0.1).mean())


def check_pictures(out, results: dict) -> None:
    """Every PNG written is not blank and its colour scale is stated in the JSON."""
    written = sorted(p.name for p in out.glob("*.png"))
    assert written and set(written) <= set(results["colour_scales"]), (written, results.get("colour_scales"))
    for name in written:
        assert pixel_std(out / name) > MIN_PIXEL_STD, (name, pixel_std(out / name))


def test_cells_runs_with_no_inputs_on_a_finished_run(trained_run, tmp_path):
    """No text given: the run's own validation text; a chosen unit is coloured. The run is
    barely trained (75 batches): its pictures are scaled to its small activations, and a unit
    below the |r| threshold is said to be no finding."""
    out = tmp_path / "o"
    run_cli("-m", "keras_rnn.explain", "cells", "--run-dir", trained_run, "--out", out, "--unit", "2:c:3")
    results = json.loads((out / "cells.json").read_text())
    assert results["text"] == "the run's validation text" and results["unit"] == "2:c:3"
    assert results["replay_max_logit_difference"] < 1e-3
    assert all(len(v) == 5 for v in results["top_units"].values())
    check_pictures(out, results)
    assert coloured_share(out / "cells.png") > COLOURED_SHARE, coloured_share(out / "cells.png")
    best = max(abs(r) for r in results["unit_correlations"].values())
    assert results["finding"].startswith("no finding") == (best < results["r_threshold"]), results["finding"]
    scale = float(results["colour_scales"]["cells.png"].split()[0].strip("±,"))
    assert 0 < scale <= 1  # tanh(c): the unit's own largest |value|


def test_explain_refuses_bad_input_in_one_line(trained_run, tmp_path):
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 10)
    explain = ["-m", "keras_rnn.explain"]
    cases = [
        ([*explain, "nonsense"], "unknown explanation 'nonsense'"),
        ([*explain, "cells", "--run-dir", trained_run, "--unit", "3:h:0"], "is not a unit of this model"),
        ([*explain, "cells", "--run-dir", trained_run, "--unit", "one"], "LAYER:STATE:INDEX"),
        ([*explain, "cells", "--run-dir", trained_run, "--max-chars", "1000000"], "--max-chars <= 100,000"),
        ([*explain, "cells", "--run-dir", trained_run, binary], "UTF-8"),
        ([*explain, "cells", "--run-dir", tmp_path], "no finished model"),
    ]
    for args, message in cases:
        proc = run_cli(*args, "--out", tmp_path / "out", check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
        assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and message in proc.stderr, (
            proc.stderr
        )
    assert not (tmp_path / "out" / "cells.json").exists()
