"""`--distribute`: tf.distribute through the one training path, tested on logical CPU devices
(mirrored here; several worker processes and the refused options: test_multiworker.py)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import run_cli
from test_translate import TRAIN_ARGS as TRANSLATE_ARGS
from test_translate import tiny_pairs_file

MIRRORED = ["--distribute", "mirrored", "--cpu-devices", "2"]


def history(run_dir) -> dict[str, list[float]]:
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0] if k != "epoch"}


def train_both(tmp_path, *args):
    """The same training on one device and mirrored over 2 logical CPU devices (same global batch)."""
    runs = {}
    for name, extra in (("one", []), ("mirrored", MIRRORED)):
        runs[name] = tmp_path / name
        run_cli("train.py", *args, "--run-dir", runs[name], *extra)
    return runs


def test_mirrored_char_lm_follows_the_one_device_loss_curve_and_exports(corpus_file, tmp_path):
    """Both read the same batches (orders depend on the seed and the pass only) and average the
    same gradients: the curves agree to float32 summation order (measured: equal to 1e-7)."""
    runs = train_both(
        tmp_path, "--task", "charlm", "--text-file", corpus_file, "--units", "32", "--layers", "1",
        "--embedding-dim", "8", "--seq-len", "20", "--batch-size", "16", "--epochs", "3",
        "--steps-per-epoch", "20", "--sample-length", "10",
    )  # fmt: skip
    one, mirrored = history(runs["one"]), history(runs["mirrored"])
    assert one["loss"][-1] < one["loss"][0] - 0.1  # it learns
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(mirrored[key], one[key], rtol=1e-5)
    out = tmp_path / "exported"
    run_cli("export.py", "--task", "charlm", "--run-dir", runs["mirrored"], "--out", out, "--no-sample")
    assert (out / "charlm" / "1" / "saved_model.pb").exists()


def test_mirrored_translator_follows_the_one_device_loss_curve(tmp_path):
    """Each replica averages its own real (unpadded) target tokens and the replicas' losses are
    averaged: the same as one device up to how the tokens split between the halves of a batch
    (measured: equal to 1e-6 on these batches); rtol 1e-3 leaves room for that, not for a
    doubled or halved loss."""
    pairs = tiny_pairs_file(tmp_path / "pairs.tsv")
    args = [*TRANSLATE_ARGS, "--epochs", "2", "--steps-per-epoch", "15", "--heatmaps", "0"]
    runs = train_both(
        tmp_path, "--task", "translate", "--pairs-file", pairs, "--validation-file", pairs, *args
    )
    one, mirrored = history(runs["one"]), history(runs["mirrored"])
    for key in ("loss", "val_loss", "val_masked_accuracy"):
        np.testing.assert_allclose(mirrored[key], one[key], rtol=1e-3)


def test_mirrored_echo_state_network_solves_the_same_readout(tmp_path):
    """The closed-form readout all-reduces XᵀX and XᵀY: the same weights as on one device."""
    import keras

    from keras_rnn.tasks import esn

    args = ["--units", "60", "--length", "1200", "--validation-length", "300", "--washout", "100"]
    runs = train_both(
        tmp_path, "--task", "esn", *args, "--window", "300", "--batch-size", "4", "--plot-steps", "50"
    )
    weights = {}
    for name, run_dir in runs.items():
        model = esn.TASK.load(run_dir).model
        weights[name] = keras.ops.convert_to_numpy(model.readout.kernel)
    np.testing.assert_allclose(weights["mirrored"], weights["one"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        history(runs["mirrored"])["val_loss"], history(runs["one"])["val_loss"], rtol=1e-6
    )


@pytest.mark.parametrize(
    "model, options",
    [
        ("rnn", ["--generated", "60", "--units", "8", "--no-bidirectional", "--epochs", "2", "--noise", "0",
                 "--dropout", "0"]),
        ("esn", ["--generated", "61", "--reservoir-units", "30"]),
    ],
)  # fmt: skip
def test_mirrored_classifier_follows_the_one_device_run(tmp_path, model, options):
    """--task classify: the same batches (orders by seed and pass alone), the same averaged
    gradients (every batch splits evenly: 60 sequences in batches of 16; without noise and
    dropout, whose random draws split otherwise across replicas), or for the ESN the same ridge
    readout from the all-reduced XᵀX (61 sequences in one batch: unequal parts, summed)."""
    runs = train_both(tmp_path, "--task", "classify", "--model", model, "--batch-size", "16", *options)
    one, mirrored = history(runs["one"]), history(runs["mirrored"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(mirrored[key], one[key], rtol=1e-5)
    if model == "esn":
        from keras_rnn.tasks import classify

        kernels = [classify.TASK.load(runs[name]).model.get_layer("readout").kernel for name in runs]
        np.testing.assert_allclose(*map(np.asarray, kernels), rtol=1e-5, atol=1e-7)


def test_the_options_that_keep_recurrent_layers_off_cudnn_are_named():
    """On a GPU, training warns about each option that makes a recurrent layer ineligible for
    cuDNN's fused kernels; the char-LM's and the translator's defaults have none."""
    from keras_rnn import distribute
    from keras_rnn.tasks import caption, charlm, translate

    assert distribute.cudnn_warnings(charlm.Config()) == distribute.cudnn_warnings(translate.Config()) == []
    notes = {
        "--cell rnn": charlm.Config(cell="rnn"),
        "--cell peephole-lstm": charlm.Config(cell="peephole-lstm"),
        "--no-gru-reset-after": charlm.Config(cell="gru", gru_reset_after=False),
        "--attention bahdanau": caption.Config(),
    }
    for option, cfg in notes.items():
        (note,) = distribute.cudnn_warnings(cfg)
        assert note.startswith(option), note


def test_mixed_float16_scales_the_loss_and_keeps_losses_and_logits_in_float32(corpus_file, tmp_path):
    """GPU precision, checked on the CPU: the recurrent layers compute in float16, the logits
    and the loss in float32, and the optimizer scales the loss (Keras' LossScaleOptimizer)."""
    import keras

    from keras_rnn import runs, training
    from keras_rnn.tasks import charlm

    cfg = charlm.Config(
        text_file=str(corpus_file), units=16, layers=1, embedding_dim=8, seq_len=20, batch_size=16,
        epochs=1, steps_per_epoch=3, sample_length=5, precision="mixed_float16",
    )  # fmt: skip
    seen = {}

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["optimizer"] = self.model.optimizer
            seen["rnn"] = self.model.get_layer("rnn_0").compute_dtype
            seen["logits"] = self.model.output.dtype

    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    metrics = training.train(charlm.TASK, cfg, run_dir, extra_callbacks=[Look()])
    assert np.isfinite(metrics["best_val_loss"]) and keras.mixed_precision.global_policy().name == "float32"
    assert isinstance(seen["optimizer"], keras.optimizers.LossScaleOptimizer)
    assert seen["rnn"] == "float16" and seen["logits"] == "float32"
