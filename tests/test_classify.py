"""One label per sequence (`--task classify`): pooling, the ESN classifier's closed-form readout,
the scores, and a tiny run trained, exported and served as a user would."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_rnn.data import series as series_data
from keras_rnn.layers.sequence import ESNClassifier, ReverseSteps, SequencePooling, StepMask, TimeWarp
from keras_rnn.tasks import classify
from tests.export_harness import (
    assert_builtin_ops_only,
    assert_exported_on_a_gpu_answers_alike,
    assert_mixed_precision_run_exports,
    serve,
)
from tests.layer_harness import check_layer

TRAIN_ARGS = [
    "--model",  # the recurrent stack (series default to the ESN)
    "rnn",
    "--generated",
    "150",
    "--units",
    "16",
    "--epochs",
    "8",
    "--batch-size",
    "16",
    "--learning-rate",
    "0.01",
    "--noise",  # the defaults (noise 0.7, the rate annealed to 0) are for 100 epochs, not 8
    "0.2",
    "--anneal",
    "0",
    "--seed",
    "2",
]


# ---------------------------------------------------------------- layers
@pytest.mark.parametrize(
    "mode, expected",
    [
        ("mean", (2, 3)),
        ("last", (2, 3)),
        ("attention", (2, 3)),
        ("points", (2, 12)),
        ("mean+points", (2, 15)),
    ],
)
def test_sequence_pooling_through_the_harness(mode, expected, tmp_path):
    check_layer(lambda: SequencePooling(mode, points=4), (2, 7, 3), expected, tmp_path)


def test_reverse_steps_through_the_harness_and_within_the_lengths(tmp_path):
    check_layer(ReverseSteps, (2, 5, 3), (2, 5, 3), tmp_path)
    x = np.arange(2 * 4, dtype=np.float32).reshape(2, 4, 1)
    mask = StepMask()([x, np.array([3, 1])])
    assert ReverseSteps()(x, mask=mask).numpy()[..., 0].tolist() == [[2, 1, 0, 3], [4, 5, 6, 7]]


def test_time_warp_through_the_harness_and_only_in_training(tmp_path):
    check_layer(
        lambda: TimeWarp(0.5, seed=3, crop=0.2), (2, 5, 3), (2, 5, 3), tmp_path
    )  # inference: identity
    x = np.arange(3 * 6, dtype=np.float32).reshape(3, 6, 1)
    x[1, 3:] = 0
    mask = StepMask()([x, np.array([6, 3, 1])])
    warped = TimeWarp(0.9, seed=1)(x, mask=mask, training=True).numpy()[..., 0]
    assert warped[:, 0].tolist() == x[:, 0, 0].tolist()  # the ends stay
    assert warped[0, 5] == x[0, 5, 0] and warped[1, 2] == x[1, 2, 0]
    assert warped[1, 3:].tolist() == [0, 0, 0] and warped[2].tolist() == x[2, :, 0].tolist()
    assert (np.diff(warped[0]) > 0).all() and not np.allclose(warped[0], x[0, :, 0])  # monotonic, moved
    np.testing.assert_array_equal(TimeWarp(0.9)(x, mask=mask).numpy(), x)
    cropped = TimeWarp(0.0, seed=1, crop=0.4)(x, mask=mask, training=True).numpy()[..., 0]
    assert x[0, 0, 0] < cropped[0, 0] < x[0, 2, 0] and x[0, 3, 0] < cropped[0, 5] <= x[0, 5, 0]
    assert np.allclose(np.diff(cropped[0]), np.diff(cropped[0])[0])  # one part, stretched evenly
    assert cropped[1, 3:].tolist() == [0, 0, 0] and cropped[2].tolist() == x[2, :, 0].tolist()


def test_pooling_reads_only_the_real_steps():
    x = np.arange(2 * 5 * 2, dtype=np.float32).reshape(2, 5, 2)
    mask = StepMask()([x, np.array([3, 1])]).numpy()
    assert mask.tolist() == [[True, True, True, False, False], [True, False, False, False, False]]
    modes = ("mean", "last", "points", "mean+points")
    pooled = {m: SequencePooling(m, points=3)(x, mask=mask).numpy() for m in modes}
    np.testing.assert_allclose(pooled["mean"], [x[0, :3].mean(0), x[1, 0]])
    np.testing.assert_allclose(pooled["last"], [x[0, 2], x[1, 0]])
    np.testing.assert_allclose(pooled["points"], [x[0, [0, 1, 2]].ravel(), x[1, [0, 0, 0]].ravel()])
    np.testing.assert_allclose(pooled["mean+points"], np.concatenate([pooled["mean"], pooled["points"]], 1))
    attention = SequencePooling("attention")
    padded_away = attention(x, mask=mask).numpy()
    x_changed = x.copy()
    x_changed[0, 3:] = 1e3  # what lies past a length never counts
    np.testing.assert_allclose(attention(x_changed, mask=mask).numpy(), padded_away, rtol=1e-6)


@pytest.mark.parametrize("committee, both_ways", [(1, False), (2, True)])
def test_esn_classifier_readout_is_the_ridge_solution_and_round_trips(committee, both_ways, tmp_path):
    data = series_data.waveforms(60, seed=4)
    series, lengths = classify.padded(data)
    labels = np.array([["sine", "square", "sawtooth"].index(y) for y in data.labels])
    mean, std = series.reshape(-1, 2).mean(0), series.reshape(-1, 2).std(0)
    reservoir = dict(units=20, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.5, seed=1)
    model = ESNClassifier(
        2, 3, reservoir, 0.5, 3, mean.tolist(), (std**2).tolist(), committee=committee, both_ways=both_ways
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit((series, lengths), labels, batch_size=25, epochs=1, verbose=0)  # 3 batches, one solve
    features = model.features((series, lengths)).numpy().astype(np.float64)
    assert features.shape == (60, committee * (1 + both_ways) * 20 * 4)
    x = np.hstack([np.ones((60, 1)), features])
    w = np.linalg.solve(x.T @ x + 0.5 * np.eye(x.shape[1]), x.T @ np.eye(3)[labels])
    np.testing.assert_allclose(model.readout.bias.numpy(), w[0], atol=1e-5)
    np.testing.assert_allclose(model.readout.kernel.numpy(), w[1:], atol=1e-5)
    model.save(tmp_path / "esn.keras")
    again = keras.saving.load_model(tmp_path / "esn.keras", compile=False)
    np.testing.assert_allclose(again((series, lengths)).numpy(), model((series, lengths)).numpy(), atol=1e-6)


def test_auto_model_is_the_esn_for_series_and_the_recurrent_stack_for_text():
    assert classify.model_of(classify.Config()) == "esn"  # generated waveforms
    assert classify.model_of(classify.Config(train_file="a.ts")) == "esn"
    assert classify.model_of(classify.Config(train_file="a.csv")) == "esn"
    assert classify.model_of(classify.Config(train_file="a.tsv")) == "rnn"
    assert classify.model_of(classify.Config(dataset="imdb_reviews")) == "rnn"
    assert classify.model_of(classify.Config(train_file="a.ts", model="rnn")) == "rnn"
    vocab = classify.Vocabulary(["a", "b"], "series", 10, 2, [0.0, 0.0], [1.0, 1.0])
    assert isinstance(classify.build_model(classify.Config(reservoir_units=40), vocab), ESNClassifier)


@pytest.mark.parametrize("model", ["rnn", "esn"])
def test_a_mixed_precision_run_exports_float32_that_answers_as_the_float32_model(model, tmp_path):
    """Series runs of both models trained in mixed precision (as on a GPU), exported as on a GPU."""
    from keras_rnn.commands.train import main as train

    options = {"rnn": ["--units", "8", "--epochs", "1"], "esn": ["--reservoir-units", "40"]}[model]
    argv = ["--task", "classify", "--model", model, "--generated", "40", "--batch-size", "16", *options]
    assert train([*argv, "--precision", "mixed_bfloat16", "--run-dir", str(tmp_path / "run")]) == 0
    assert_mixed_precision_run_exports(classify.TASK, tmp_path / "run", tmp_path, tolerance=0.05)


def test_scores_count_errors_recall_and_confusion():
    found = classify.scores(["a", "b", "b", "c"], ["a", "b", "c", "c"], ["a", "b", "c"])
    assert found["errors"] == 1 and found["accuracy"] == 0.75
    assert found["recall"] == {"a": 1.0, "b": 1.0, "c": 0.5}
    assert found["confusion"]["matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


# ---------------------------------------------------------------- a run, trained and served
@pytest.fixture(scope="module")
def trained(classify_exported):
    """(run, SavedModel, LiteRT) directories, trained with TRAIN_ARGS once per session (tests/conftest.py)."""
    return classify_exported


def test_the_served_labels_are_the_ones_metrics_json_counts(trained):
    run_dir, savedmodel, litert = trained
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_sequences"] == 50 and 0.8 <= metrics["test_accuracy"] <= 1
    assert sum(map(sum, metrics["test_confusion"]["matrix"])) == 50
    test = series_data.waveforms(50, seed=2 + 2)  # the run's test split: --data-seed (= --seed) + 2
    series, lengths = classify.padded(test)
    answer = serve(
        savedmodel,
        {"signature_name": "classify", "inputs": {"series": series.tolist(), "lengths": lengths.tolist()}},
    )
    errors = sum(p != t for p, t in zip(answer["label"], test.labels))
    assert errors == metrics["test_errors"]
    assert answer["labels"] == [["sine", "square", "sawtooth"]] * 50
    np.testing.assert_allclose(np.sum(answer["probabilities"], axis=1), 1.0, atol=1e-5)
    assert_builtin_ops_only(litert / "classify_classify.tflite")


def test_exported_where_keras_sees_a_gpu_it_holds_no_cudnn_op_and_answers_alike(trained, tmp_path):
    assert_exported_on_a_gpu_answers_alike(classify.TASK, *trained, tmp_path)


def test_the_litert_model_gives_the_savedmodels_probabilities(trained):
    _, savedmodel, litert = trained
    from ai_edge_litert.interpreter import Interpreter

    test = series_data.waveforms(6, seed=9)
    series, lengths = classify.padded(test)
    served = tf.saved_model.load(str(savedmodel)).signatures["classify"]
    expected = served(series=tf.constant(series), lengths=tf.constant(lengths))["probabilities"].numpy()
    runner = Interpreter(model_path=str(litert / "classify_classify.tflite")).get_signature_runner()
    length = runner.get_input_details()["series"]["shape"][1]
    for i in range(len(test)):
        fixed = np.zeros((1, length, 2), np.float32)
        fixed[0, : lengths[i]] = series[i, : lengths[i]]
        got = runner(series=fixed, lengths=lengths[i : i + 1])["probabilities"]
        np.testing.assert_allclose(got[0], expected[i], atol=1e-4)


def test_a_request_outside_the_limits_is_refused(trained):
    served = tf.saved_model.load(str(trained[1])).signatures["classify"]
    series = np.zeros((1, 4, 2), np.float32)
    for bad_series, bad_lengths, message in [
        (series, [5], "longer than the series"),
        (series, [0], "at least 1"),
        (np.full((1, 4, 2), np.nan, np.float32), [4], "finite"),
        (np.full((1, 4, 2), 3.4e38, np.float32), [4], "the answer overflowed float32"),
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            served(series=tf.constant(bad_series), lengths=tf.constant(bad_lengths, tf.int32))


def test_bad_files_get_one_error_line(tmp_path, capsys):
    """In-process: `train.py`'s own main (argument parsing, `report_errors`), without a new
    interpreter per refusal; the refusals happen before any model is built."""
    from keras_rnn.commands.train import main as train

    good = tmp_path / "train.ts"
    good.write_text("@dimensions 1\n@classLabel true a b\n@data\n1,2,3:a\n2,3,4:b\n1,1,2:a\n3,3,3:b\n")
    unseen = tmp_path / "test.ts"
    unseen.write_text("@dimensions 1\n@classLabel true a b c\n@data\n1,2,3:a\n1,2:c\n")
    ragged = tmp_path / "ragged.ts"
    ragged.write_text("@dimensions 2\n@classLabel true a\n@data\n1,2,3:1,2:a\n")
    text = tmp_path / "train.tsv"
    text.write_text("good film\tpos\n")
    for args, message in [
        (["--train-file", good, "--test-file", unseen], "test.ts, line 5"),
        (["--train-file", ragged], "ragged.ts, line 4"),
        (["--train-file", text, "--model", "esn"], "--model esn reads series"),
        (["--train-file", text, "--warp", "0.2"], "--warp and --crop change the series"),
        (["--train-file", good, "--model", "esn", "--warp", "0.2"], "--warp and --crop change the series"),
        (["--train-file", good, "--model", "esn", "--crop", "0.2"], "--warp and --crop change the series"),
        (["--train-file", good, "--warp", "1"], "--warp must be in [0, 1)"),
        (["--train-file", good, "--crop", "0.5"], "--crop must be in [0, 0.5)"),
        (["--train-file", good, "--units", "8", "--noise", "0"], "--units, --noise: options of --model rnn"),
        (["--train-file", text, "--alpha", "2"], "--alpha: options of --model esn, this run is --model rnn"),
    ]:
        code = train(["--task", "classify", "--run-dir", str(tmp_path / "r"), *map(str, args)])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and lines[-1].startswith("error:") and message in lines[-1], lines
        assert not (tmp_path / "r").exists()


def test_validation_share_zero_trains_on_the_whole_file_and_keeps_the_last_weights(tmp_path, capsys):
    """`--validation-share 0`: every training sequence trains, no checkpoint is picked (the CSV log
    has no validation columns to read), and the last weights are scored on the test file."""
    from keras_rnn.commands.train import main as train
    from tests.hostile import ts_text

    data = series_data.waveforms(24, seed=5)
    (tmp_path / "train.ts").write_text(ts_text(data.series, data.labels, 2))
    (tmp_path / "test.ts").write_text(ts_text(data.series[:6], data.labels[:6], 2))
    argv = ["--task", "classify", "--model", "rnn", "--train-file", tmp_path / "train.ts", "--test-file",
            tmp_path / "test.ts", "--validation-share", "0", "--units", "4", "--epochs", "1",
            "--run-dir", tmp_path / "run"]  # fmt: skip
    assert train(list(map(str, argv))) == 0
    assert "24 training / 0 validation / 6 test series" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["test_sequences"] == 6 and "best_val_loss" not in metrics


def test_a_committee_averages_its_members_logits_and_fixes_its_length_for_litert():
    """`--committee 2`: two recurrent stacks over the same inputs, their logits averaged; the
    fixed-length (LiteRT) model takes the same weights and gives the same answers."""
    cfg = classify.Config(model="rnn", committee=2, units=4, noise=0, dropout=0, seed=1)
    data = series_data.waveforms(8, seed=3)
    vocab = classify.Vocabulary.build(data, cfg)
    model = classify.build_model(cfg, vocab)
    series, lengths = classify.padded(data)
    members = keras.Model(model.inputs, [model.get_layer(n).output for n in ("logits", "logits_1")])
    first, second = (m.numpy() for m in members([series, lengths]))
    averaged = model([series, lengths]).numpy()
    assert np.abs(first - second).max() > 1e-3  # two members, own weights
    np.testing.assert_allclose(averaged, (first + second) / 2, atol=1e-6)
    fixed = classify.build_model(cfg, vocab, length=vocab.length)
    fixed.set_weights(model.get_weights())
    wide = np.zeros((len(data), vocab.length, 2), np.float32)
    wide[:, : series.shape[1]] = series
    np.testing.assert_allclose(fixed([wide, lengths]).numpy(), averaged, atol=1e-5)


def test_app_classify_panel_labels_a_series_as_the_savedmodel_does(trained, tmp_path):
    """The app's classify panel in a real browser: a generated waveform and an uploaded CSV get the
    `classify` signature's label and probabilities; an empty form (a text model) or a CSV of the
    wrong width is a message."""
    from keras_rnn.data.series import waveforms
    from tests import browser

    series = waveforms(3, seed=4).series[1]  # what the panel's example seed 4 reads
    expected = (
        tf.saved_model.load(str(trained[1]))
        .signatures["classify"](series=tf.constant(series[None]), lengths=tf.constant([len(series)]))[
            "label"
        ][0]
        .numpy()
        .decode()
    )
    upload, wrong = tmp_path / "series.csv", tmp_path / "wrong.csv"
    upload.write_text("\n".join(f"{a},{b}" for a, b in series) + "\n")
    wrong.write_text("1,2,3\n")
    with browser.page(tmp_path, classify=trained[1]) as driver:
        assert browser.submit(driver, "classify", {"seed": 4}) == ""
        assert driver.find_element("css selector", "#classify-result .label").text == expected
        assert len(driver.find_elements("css selector", "#classify-result .bar")) == 3
        browser.screenshot(driver, "classify")
        assert browser.submit(driver, "classify", {"series": upload}) == ""
        assert driver.find_element("css selector", "#classify-result .label").text == expected
        message = browser.submit(driver, "classify", {"series": wrong})
        assert message == "the CSV has 3 columns; the model reads 2 features per step"
