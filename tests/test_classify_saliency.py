"""`python -m keras_rnn.explain saliency` on a classify run: which steps decided the label, on a
barely trained run (one epoch: its saliency is small and uneven, and must still be drawn)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn.data import series as series_data
from keras_rnn.explain.__main__ import main as explain
from keras_rnn.tasks import classify

TINY = ["--generated", "30", "--units", "8", "--no-bidirectional", "--epochs", "1", "--batch-size", "16"]
MODELS = {"rnn": ["--model", "rnn", *TINY], "esn": ["--generated", "30", "--reservoir-units", "40"]}


@pytest.fixture(scope="module", params=list(MODELS))
def series_run(tmp_path_factory, request):
    """A series run of the recurrent stack and one of the ESN (the series default)."""
    from keras_rnn.commands.train import main as train

    run_dir = tmp_path_factory.mktemp("classify_saliency") / "run"
    args = ["--task", "classify", "--run-dir", str(run_dir), *MODELS[request.param], "--seed", "3"]
    assert train(args) == 0  # in-process
    return run_dir


def test_the_step_gradient_is_the_central_difference_through_the_run_model(series_run):
    """d logit(predicted) / d standardised input, against central differences of the run's own
    model fed raw series mean + z * std (every step and feature of one series, one batch)."""
    from keras_rnn.explain.classifier import Classifier

    run = classify.TASK.load(series_run)
    series, lengths = classify.padded(series_data.waveforms(1, seed=11))
    z, gradient, _, predicted = Classifier(run).gradients(tf.constant(series), tf.constant(lengths))
    steps, features = z.shape[1:]
    h, count = 1e-2, steps * features
    bumps = np.eye(count, dtype=np.float32).reshape(count, steps, features) * h
    moved = np.concatenate([z + bumps, z - bumps])
    raw = np.asarray(run.vocab.mean, np.float32) + moved * np.asarray(run.vocab.std, np.float32)
    logits = run.model([tf.constant(raw), tf.constant(np.repeat(lengths, 2 * count))]).numpy()
    numeric = (logits[:count, predicted[0]] - logits[count:, predicted[0]]) / (2 * h)
    largest = np.abs(gradient[0]).max()  # measured: 0.017, central differences within 5e-7
    assert largest > 1e-3
    np.testing.assert_allclose(gradient[0], numeric.reshape(steps, features), atol=1e-3 * largest)


def test_saliency_draws_and_counts_the_first_test_sequences(series_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert explain(["saliency", "--run-dir", str(series_run), "--out", str(out), "--window", "5"]) == 0
    assert "saliency.json" in capsys.readouterr().out
    results = json.loads((out / "saliency.json").read_text())
    assert results["kind"] == "series" and results["window"] == 5
    test = series_data.waveforms(10, seed=3 + 2)  # the run's test split: --data-seed (= --seed) + 2
    assert [s["true_label"] for s in results["sequences"]] == test.labels[:3]
    import matplotlib.image

    for entry, series in zip(results["sequences"], test.series):
        saliency = np.array(entry["saliency"])
        assert entry["length"] == len(series) == len(saliency) == len(entry["occlusion_drop"])
        assert saliency.min() >= 0 and saliency.max() > 0 and entry["most_salient"][0] == saliency.argmax()
        picture = matplotlib.image.imread(out / f"saliency_{entry['name']}.png")[..., :3]
        bars = np.abs(picture - np.array([0.839, 0.153, 0.157])).max(-1) < 0.03  # tab:red
        assert bars.sum() > 200, "the saliency bars are missing"


def test_bad_input_gets_one_error_line(series_run, tmp_path, capsys):
    three = tmp_path / "three.ts"
    three.write_text("@dimensions 3\n@classLabel true a\n@data\n1,2:1,2:1,2:a\n")
    ragged = tmp_path / "ragged.ts"
    ragged.write_text("@dimensions 2\n@classLabel true a\n@data\n1,2,3:1,2:a\n")
    cases = [
        ([tmp_path / "missing.ts"], "no such file"),
        ([three], "3 features per step; the run reads 2"),
        ([ragged], "ragged.ts, line 4"),
        (["--sequences", "17"], "--sequences <= 16"),
        (["--window", "-2"], "--window >= 0"),
    ]
    for args, message in cases:
        argv = ["saliency", "--run-dir", str(series_run), "--out", str(tmp_path / "out"), *map(str, args)]
        assert explain(argv) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in last, last
    assert not (tmp_path / "out" / "saliency.json").exists()
