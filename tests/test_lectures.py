"""The lectures' experiments (`python -m keras_rnn.lectures`): their numbers, not just that they ran."""

import json

import numpy as np
import pytest

from keras_rnn.lectures import hello
from keras_rnn.lectures.__main__ import main as lectures_main
from tests.conftest import ROOT, run_cli


def test_hello_slide_table_is_the_softmax_of_its_scores_and_its_rounding_is_reported():
    table = hello.slide_table()
    for row in table["rows"]:
        assert sum(row["softmax"]) == pytest.approx(1, abs=1e-3)
        np.testing.assert_allclose(row["softmax"], row["slide"], atol=0.01)  # the slide, to its rounding
    # the slide prints .03 for 0.0377 (h, step 1) and .05 for 0.0550 (l, step 2): rounded, they are .04 / .06
    assert {row["step"]: row["slide_rounding_differs"] for row in table["rows"]} == {
        1: ["h"],
        2: ["l"],
        3: [],
        4: [],
    }


def test_hello_rnn_learns_ello_and_a_memoryless_model_cannot(tmp_path):
    proc = run_cli("-m", "keras_rnn.lectures", "hello", "--out", tmp_path)
    results = json.loads((tmp_path / "hello.json").read_text())
    elman, memoryless = results["elman"], results["memoryless"]
    assert elman["final_loss"] < 0.05 and elman["targets_right"] == 4 and elman["greedy_from_h"] == "ello"
    assert memoryless["targets_right"] <= 3 and memoryless["greedy_from_h"] != "ello"  # "l" -> "l" or "o"?
    assert np.array(elman["hidden_states"]).shape == (4, 3)
    assert elman["predicted"] == "ello" and memoryless["predicted"] == "elll"  # drawn side by side
    assert results["hyper_parameters"]["units"] == 3 and results["threads"]["intra_op"] == 1
    assert (tmp_path / "hello.png").stat().st_size > 10_000 and "'h' -> 'ello'" in proc.stdout


def test_binary_addition_rnn_adds_longer_numbers_than_it_was_trained_on(tmp_path):
    run_cli("-m", "keras_rnn.lectures", "binary-addition", "--out", tmp_path)
    results = json.loads((tmp_path / "binary-addition.json").read_text())
    rnn, feedforward = results["rnn"], results["feedforward"]
    assert rnn["unseen_exact"] >= 0.99 and rnn["exact_32_bit"] >= 0.99  # never saw a 32-bit number
    a, b, total = (int(n) for n in rnn["examples"][0].replace("+", "=").split("="))
    assert a + b == total and a >= 2**16
    assert feedforward["unseen_exact"] < rnn["unseen_exact"] - 0.3  # same pairs, no carry rule
    assert (tmp_path / "binary_addition.png").stat().st_size > 10_000


def test_gradient_flow_is_exact_for_the_linear_rnn_and_clipping_keeps_the_direction(tmp_path):
    toy = ["--range-steps", "30", "--range-epochs", "10"]
    run_cli(
        "-m", "keras_rnn.lectures", "gradient-flow", "--steps", "30", "--units", "16", *toy, "--out", tmp_path
    )
    results = json.loads((tmp_path / "gradient-flow.json").read_text())
    norms = results["norms"]
    for scale in (0.5, 1.0, 1.5):  # the product of T copies of s*Q has every singular value s^T
        np.testing.assert_allclose(norms[f"linear, s={scale}"], [scale**t for t in range(1, 31)], rtol=1e-3)
    assert norms["Elman tanh, s=1.0"][-1] < 1e-3  # tanh's slope < 1: vanishes even at s = 1
    assert norms["LSTM, forget bias 1"][-1] > 100 * norms["Elman tanh, s=1.0"][-1]
    clipping = results["clipping"]
    assert clipping["norm_before"] > 1e4 and clipping["norm_after"] == pytest.approx(1.0, rel=1e-5)
    assert clipping["cosine_before_after"] == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "gradient_flow.png").stat().st_size > 10_000
    # the adding problem at T = 30: the gated cells learn to keep the marked numbers, Elman stays at
    # the error of remembering nothing (1/6; measured 0.17, LSTM 0.016, GRU 0.001)
    long_range = results["long_range"]
    errors = {cell: values[0] for cell, values in long_range["test_mse"].items()}
    assert long_range["steps"] == [30] and errors["Elman"] > 0.6 * long_range["baseline_mse"], errors
    assert errors["LSTM"] < 0.05 and errors["GRU"] < 0.05, errors
    assert (tmp_path / "long_range.png").stat().st_size > 10_000


def test_min_char_rnn_gradients_equal_the_lectures_numpy_bptt_and_finite_differences():
    from keras_rnn.lectures import min_char_rnn as mcr

    vocab, hidden, seq = 7, 10, 5
    model = mcr.build(vocab, hidden, seq, seed=3, stateful=False)
    rng = np.random.default_rng(0)
    for layer in ("rnn", "logits"):  # bigger than the lecture's N(0, 0.01²), so the check means something
        model.get_layer(layer).set_weights(
            [rng.normal(scale=0.5, size=w.shape) for w in model.get_layer(layer).get_weights()]
        )
    inputs, targets = list(rng.integers(0, vocab, seq)), list(rng.integers(0, vocab, seq))
    hprev = rng.normal(scale=0.5, size=(hidden, 1))
    weights = mcr.lecture_weights(model)
    loss, grads, _ = mcr.lecture_loss_fun(inputs, targets, hprev, *weights)
    keras_loss, keras_grads = mcr.keras_gradients(model, inputs, targets, hprev)
    assert keras_loss == pytest.approx(loss, rel=1e-5)
    for mine, theirs in zip(keras_grads, grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    for index in range(5):  # central differences on the lecture's float64 code
        k = index % len(weights)
        position = tuple(rng.integers(0, n) for n in weights[k].shape)
        plus, minus = [[w.copy() for w in weights] for _ in range(2)]
        plus[k][position] += 1e-5
        minus[k][position] -= 1e-5
        numeric = (
            mcr.lecture_loss_fun(inputs, targets, hprev, *plus)[0]
            - mcr.lecture_loss_fun(inputs, targets, hprev, *minus)[0]
        ) / 2e-5
        assert grads[k][position] == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_min_char_rnn_trains_with_the_lectures_bookkeeping(tmp_path, corpus_file):
    run_cli(
        "-m",
        "keras_rnn.lectures",
        "min-char-rnn",
        "--text-file",
        corpus_file,
        "--iterations",
        "300",
        "--out",
        tmp_path,
    )
    results = json.loads((tmp_path / "min-char-rnn.json").read_text())
    assert results["smooth_loss_start"] == pytest.approx(25 * np.log(results["vocabulary"]))
    smooth = results["smooth_loss"]
    assert len(smooth) == 300 and smooth[-1] < smooth[0] < results["smooth_loss_start"]
    assert [s["iteration"] for s in results["samples"]] == [100, 200, 300]
    settings = results["hyper_parameters"]  # the lecture's knobs, recorded with its results
    assert (
        settings["hidden_size"] == 100 and settings["seq_length"] == 25 and settings["learning_rate"] == 0.1
    )
    assert settings["clip_value"] == 5.0 and "N(0, 0.01²)" in settings["init"]
    assert all(len(s["text"]) == 200 for s in results["samples"])
    assert (tmp_path / "min_char_rnn.png").exists()


def test_binary_addition_bits_round_trip():
    from keras_rnn.lectures import binary_addition as adder

    x, y = adder.sequences(np.array([5, 255]), np.array([3, 1]), 8)
    assert x.shape == (2, 9, 2) and list(adder.as_int(y[..., 0])) == [8, 256]


def test_lectures_list_and_bad_input(tmp_path, capsys):
    listed = run_cli("-m", "keras_rnn.lectures", "list").stdout
    assert [line.split()[0] for line in listed.splitlines()] == [
        "hello",
        "min-char-rnn",
        "cells",
        "gradient-flow",
        "esn-init",
        "binary-addition",
    ]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for args, message in [
        (["nope"], "unknown experiment 'nope'"),
        (["hello", "--out", a_file], "is a file"),
        (["hello", "--units", "0", "--out", tmp_path / "o"], "need --units >= 1"),
        (["binary-addition", "--bits", "40", "--out", tmp_path / "o"], "need 2 <= --bits <= 16"),
        (["cells", "--steps", "0", "--out", tmp_path / "o"], "need --units, --factors, --steps"),
        (["cells", "--cells", "rnn,nope", "--out", tmp_path / "o"], "--cells: choose among"),
        (["esn-init", "--momentum", "1", "--out", tmp_path / "o"], "need 0 <= --momentum < 1"),
        (["gradient-flow", "--range-steps", "5,x", "--out", tmp_path / "o"], "comma-separated integers"),
    ]:
        code = lectures_main([str(a) for a in args])  # in-process, as `python -m keras_rnn.lectures` calls it
        stderr = capsys.readouterr().err
        assert code == 2 and stderr.strip().splitlines()[-1].startswith("error: "), stderr
        assert message in stderr


def test_esn_init_starts_from_a_working_esn_and_every_network_trains(tmp_path):
    args = ["--units", "50", "--epochs", "6", "--length", "3000", "--out", tmp_path]
    proc = run_cli("-m", "keras_rnn.lectures", "esn-init", *args)
    results = json.loads((tmp_path / "esn-init.json").read_text())
    # the untrained reservoir with its closed-form readout already predicts the wave (target variance 0.5)
    assert results["esn_untrained"]["val_loss"] < 1e-3
    assert results["esn_init"]["val_loss_before"] == results["esn_untrained"]["val_loss"]
    for name in ("esn_reservoir", "default_init"):  # from a random readout, momentum SGD learns the wave
        assert results[name]["val_loss"] < results[name]["val_loss_before"] / 10, (name, results[name])
    assert all(
        np.isfinite(results[name]["val_loss"]) for name in ("esn_init", "esn_reservoir", "default_init")
    )
    assert (tmp_path / "esn_init.png").stat().st_size > 10_000 and "untrained ESN" in proc.stdout
    assert "previous value" in results["task"] and results["hyper_parameters"]["optimizer"] == "nesterov"


def test_esn_init_offers_the_decks_form_frequency_in_sine_out():
    """--inputs frequency: one input feature, and each window's target is the sine of the
    frequencies summed from the window's start: phase 0 there, whatever came before."""
    import argparse

    from keras_rnn.lectures import esn_init

    args = argparse.Namespace(inputs="frequency", length=2000, window=100, seed=0)
    (x, y, w), (vx, vy, _) = esn_init.series(args)
    assert x.shape[-1] == vx.shape[-1] == 1 and y.shape == (*x.shape[:2], 1)
    frequency = x[..., 0] * 0.02 + 0.03  # the input scaled back to cycles per step
    np.testing.assert_allclose(y[..., 0], np.sin(2 * np.pi * np.cumsum(frequency, axis=1)), atol=1e-4)
    assert (w[:, : esn_init.WARMUP] == 0).all() and set(esn_init.OPTIMIZERS) == {"nesterov", "rmsprop"}


def test_cells_all_learn_the_same_text(tmp_path, corpus_file):
    args = [
        "--text-file",
        corpus_file,
        "--steps",
        "60",
        "--eval-every",
        "30",
        "--units",
        "16",
        "--seq-len",
        "20",
    ]
    run_cli("-m", "keras_rnn.lectures", "cells", *args, "--out", tmp_path)
    results = json.loads((tmp_path / "cells.json").read_text())
    uniform = np.log2(results["vocabulary"])  # bits per character of a uniform guess
    learned = {
        k: v["val_bits_per_char"]
        for k, v in results.items()
        if isinstance(v, dict) and "val_bits_per_char" in v
    }
    assert len(learned) == 12 and all(bits < uniform - 1 for bits in learned.values()), (uniform, learned)
    assert results["Keras LSTM"]["parameters"] == results["slides' LSTM (i, f, o, g)"]["parameters"]
    assert (tmp_path / "cells.png").stat().st_size > 10_000


def test_cells_lecture_gives_the_same_numbers_on_one_core_and_with_four_threads(tmp_path, corpus_file):
    """TensorFlow's default is one intra-op thread per core, and a different split of a sum
    adds in a different order; the lectures fix one thread and deterministic ops. The same short
    `cells` run pinned to one core and with TensorFlow asked for 4 threads (a 4-core student)
    must write the same JSON, digit for digit."""
    import functools
    import os
    import subprocess
    import sys

    args = ["--text-file", corpus_file, "--cells", "slides-gru,slides-lstm", "--steps", "40"]
    args += ["--eval-every", "40", "--units", "32", "--seq-len", "20", "--batch-size", "16"]
    main = "from keras_rnn.lectures.__main__ import main; sys.exit(main(sys.argv[1:]))"
    four = "import sys, tensorflow as tf; tf.config.threading.set_intra_op_parallelism_threads(4); "
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for out, code, cores in (
        (tmp_path / "one", f"import sys; {main}", {0}),
        (tmp_path / "four", four + main, None),
    ):
        command = [sys.executable, "-c", code, "cells", *map(str, args), "--out", str(out)]
        pin = functools.partial(os.sched_setaffinity, 0, cores) if cores else None
        subprocess.run(
            command, cwd=ROOT, env=env, check=True, capture_output=True, preexec_fn=pin, timeout=600
        )
    one, four_threads = ((tmp_path / name / "cells.json").read_text() for name in ("one", "four"))
    assert one == four_threads
    results = json.loads(one)
    assert results["threads"] == {"intra_op": 1, "op_determinism": True}
    assert results["hyper_parameters"]["cells"] == "slides-gru,slides-lstm"
    assert [v["cell"] for v in results.values() if isinstance(v, dict) and "cell" in v] == [
        "slides-lstm",
        "gru-z-new",
    ]


def test_gru_names_say_what_z_does_and_the_old_names_still_load(tmp_path):
    """`gru-z-new`: h' = (1-z)h + z h~; `gru-z-keep`: h' = z h + (1-z) h~. The old names are
    taken on the command line and an old run's config.json naming one loads as the new name."""
    import argparse

    from keras_rnn import config as config_lib
    from keras_rnn.layers.cells import LECTURE_CELLS, lecture_cell
    from keras_rnn.tasks import charlm, classify

    assert lecture_cell("gru-z-new", 4).update == "new" and lecture_cell("gru-z-keep", 4).update == "keep"
    assert "slides-gru" not in LECTURE_CELLS  # one name per cell: the lecture compares each once
    for config_cls in (charlm.Config, classify.Config):
        parser = argparse.ArgumentParser()
        config_lib.add_arguments(parser, config_cls)
        for old, new in (("slides-gru", "gru-z-new"), ("slides-gru-keep", "gru-z-keep")):
            assert config_lib.from_args(config_cls, parser.parse_args(["--cell", old])).cell == new
            saved = tmp_path / f"{config_cls.__module__}-{old}.json"
            saved.write_text(json.dumps({"cell": old, "units": 8}))
            assert config_lib.load(config_cls, saved).cell == new
        assert "slides-gru=gru-z-new" in "".join(parser.format_help().split())  # --help names the alias
