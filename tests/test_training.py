"""The shared training loop: resuming after an interruption, run directories."""

import csv
import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from keras_rnn import UserError, output_directory, runs, tasks, training
from keras_rnn.tasks import charlm


class InterruptAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _cfg(corpus_file, **kw):
    return charlm.Config(
        text_file=str(corpus_file),
        units=16,
        layers=1,
        seq_len=16,
        batch_size=8,
        epochs=4,
        steps_per_epoch=5,
        sample_length=10,
        **kw,
    )


def test_rerunning_after_an_interruption_resumes(tmp_path, corpus_file):
    cfg = _cfg(corpus_file)
    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    with pytest.raises(KeyboardInterrupt):
        training.train(charlm.TASK, cfg, run_dir, extra_callbacks=[InterruptAtEpoch(2)])
    assert not runs.is_finished(run_dir) and (run_dir / "backup").exists()

    resumed = runs.prepare_run_dir("charlm", cfg, str(run_dir))  # the same command again
    assert resumed == run_dir
    metrics = training.train(charlm.TASK, cfg, run_dir)
    epochs = [int(r["epoch"]) for r in csv.DictReader((run_dir / "history.csv").open())]
    assert epochs == [0, 1, 2, 3]  # epochs 0-1 before, 2-3 after: nothing repeated, nothing lost
    assert metrics["epochs_run"] == 4 and runs.is_finished(run_dir)


def _weights(run_dir):
    return keras.saving.load_model(run_dir / runs.MODEL_FILE, compile=False).get_weights()


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_a_resumed_run_ends_equal_to_an_uninterrupted_one(tmp_path, corpus_file, monkeypatch, dropout):
    """Killed at the start of epoch 2, then killed again after logging epoch 3 but before backing it
    up: the run finishes with the uninterrupted run's weights, history and checkpoint choice (the
    backup holds the optimizer, the dropout RNGs and the callbacks' state; the data reads on)."""
    cfg = _cfg(corpus_file, dropout=dropout, reduce_lr_patience=1)
    straight = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "straight"))
    expected = training.train(charlm.TASK, cfg, straight)

    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    with pytest.raises(KeyboardInterrupt):
        training.train(charlm.TASK, cfg, run_dir, extra_callbacks=[InterruptAtEpoch(2)])
    save = training.Backup._save_model

    def killed_before_backing_up_epoch_3(self):
        if self._current_epoch == 3:
            raise KeyboardInterrupt
        save(self)

    monkeypatch.setattr(training.Backup, "_save_model", killed_before_backing_up_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        training.train(charlm.TASK, cfg, run_dir)
    assert len((run_dir / "history.csv").read_text().splitlines()) == 4  # header + epochs 0-2
    monkeypatch.setattr(training.Backup, "_save_model", save)
    metrics = training.train(charlm.TASK, cfg, run_dir)
    assert (run_dir / "history.csv").read_text() == (straight / "history.csv").read_text()
    for key in ("epochs_run", "best_epoch", "best_val_loss"):
        assert metrics[key] == expected[key], key
    for got, want in zip(_weights(run_dir), _weights(straight)):
        np.testing.assert_array_equal(got, want)


def test_a_run_killed_while_finishing_only_finishes(tmp_path, corpus_file, monkeypatch):
    """Killed after its last epoch, before metrics.json: the re-run trains nothing again."""
    cfg = _cfg(corpus_file)
    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    summary = charlm.TASK.prepare

    def killed_in_summary(cfg, run_dir):
        plan = summary(cfg, run_dir)
        plan.summary = lambda metrics: (_ for _ in ()).throw(KeyboardInterrupt)
        return plan

    monkeypatch.setattr(charlm.TASK, "prepare", killed_in_summary)
    with pytest.raises(KeyboardInterrupt):
        training.train(charlm.TASK, cfg, run_dir)
    history = (run_dir / "history.csv").read_text()
    monkeypatch.undo()
    metrics = training.train(charlm.TASK, cfg, run_dir)
    assert (run_dir / "history.csv").read_text() == history
    assert metrics["epochs_run"] == 4 and metrics["best_epoch"] <= 4 and not (run_dir / "backup").exists()


def test_a_second_training_into_a_busy_run_directory_is_refused(tmp_path, corpus_file):
    """The run directory is locked by the process writing it: another training gets one error
    line and exit 2, and changes nothing there (the lock dies with its process)."""
    from keras_rnn import locks
    from tests.conftest import run_cli

    run_dir = runs.prepare_run_dir("charlm", _cfg(corpus_file), str(tmp_path / "run"))  # held by this process
    (run_dir / "history.csv").write_text("epoch,loss\n0,3.0\n")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    proc = run_cli(
        "train.py", "--task", "charlm", "--text-file", corpus_file, "--run-dir", run_dir, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[
        -1
    ] == f"error: {run_dir} is in use by another training (pid {os.getpid()}): " + (
        "wait for it to end, or pass another directory"
    )
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    locks.release(run_dir)
    assert not (run_dir / locks.LOCK_FILE).exists()


def test_changed_options_do_not_resume_silently(tmp_path, corpus_file):
    run_dir = runs.prepare_run_dir("charlm", _cfg(corpus_file), str(tmp_path / "run"))
    (run_dir / "history.csv").write_text("epoch,loss\n0,3.0\n")  # training had begun
    changed = dataclasses.replace(_cfg(corpus_file), units=32)
    with pytest.raises(UserError, match="other options \\(units\\)"):
        runs.prepare_run_dir("charlm", changed, str(run_dir))


def test_a_run_that_never_trained_starts_over_and_foreign_directories_are_refused(tmp_path, corpus_file):
    run_dir = runs.prepare_run_dir("charlm", _cfg(corpus_file), str(tmp_path / "run"))
    (run_dir / "vocab.json").write_text("{}")  # set up, then refused (say): no epoch ran
    changed = dataclasses.replace(_cfg(corpus_file), units=32)
    assert runs.prepare_run_dir("charlm", changed, str(run_dir)) == run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".lock",
        "config.json",
    ]  # the stale vocabulary is gone
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"...")
    with pytest.raises(UserError, match="not empty and holds no run"):
        runs.prepare_run_dir("charlm", changed, str(foreign))
    for text in ['{"album": "holiday"}', "not json {"]:  # somebody else's config.json
        (foreign / "config.json").write_text(text)
        with pytest.raises(UserError, match="not the config of a keras-rnn run"):
            runs.prepare_run_dir("charlm", changed, str(foreign))
        assert (foreign / "config.json").read_text() == text and (foreign / "holiday.jpg").exists()


def test_a_run_refused_by_its_data_leaves_no_directory(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("too short\n", encoding="utf-8")
    cfg = dataclasses.replace(_cfg(short), seq_len=100)
    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    with pytest.raises(UserError, match="fewer than one batch needs"):
        training.train(charlm.TASK, cfg, run_dir)
    assert not run_dir.exists()


def test_optimizer_gets_clipping_options():
    cfg = charlm.Config(optimizer="rmsprop", learning_rate=0.01, clipnorm=1.0, clipvalue=0.5)
    opt = training.make_optimizer(cfg)
    assert isinstance(opt, keras.optimizers.RMSprop)
    assert opt.clipvalue == 0.5 and opt.clipnorm is None  # by value replaces by norm
    assert training.make_optimizer(charlm.Config(clipnorm=2.0)).clipnorm == 2.0
    assert training.make_optimizer(charlm.Config(weight_decay=0.1)).weight_decay == 0.1
    assert training.make_optimizer(charlm.Config()).weight_decay is None


def test_learning_rate_halves_when_validation_stalls(tmp_path, corpus_file):
    """--reduce-lr-patience N: Keras' ReduceLROnPlateau, logged per epoch in history.csv."""
    cfg = _cfg(corpus_file, learning_rate=1e-9, reduce_lr_patience=1, patience=10)
    run_dir = runs.prepare_run_dir("charlm", cfg, str(tmp_path / "run"))
    training.train(charlm.TASK, cfg, run_dir)
    with open(run_dir / "history.csv") as f:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(f)]
    assert rates[0] == pytest.approx(1e-9) and rates[-1] < rates[0], rates
    assert not any(
        isinstance(c, keras.callbacks.ReduceLROnPlateau)
        for c in training.standard_callbacks(tmp_path, _cfg(corpus_file), "charlm")
    )


@pytest.mark.parametrize(
    "task_name, bad",
    [
        ("translate", dict(units=0)),
        ("translate", dict(attention_units=-1)),
        ("translate", dict(max_source_len=0)),
        ("translate", dict(heatmaps=-1)),
        ("translate", dict(label_smoothing=1.0)),
        ("translate", dict(eval_sentences=0)),  # --select-by bleu needs validation translations
        ("charlm", dict(ema=1.0)),
        ("charlm", dict(anneal=1.5)),
        ("charlm", dict(weight_decay=-0.1)),
        ("caption", dict(filters=2)),
        ("caption", dict(embedding_dim=0)),
        ("caption", dict(vocab_size=0)),
        ("esn", dict(units=0)),
        ("esn", dict(window=0)),
        ("esn", dict(washout=-1)),
        ("charlm", dict(layers=0)),
        ("esn", dict(learning_rate=0.0)),
        ("caption", dict(batch_size=0)),
        ("charlm", dict(seed=-1)),
        ("esn", dict(activation="nosuch")),
    ],
)
def test_every_task_refuses_impossible_sizes_before_touching_data(task_name, bad):
    task = tasks.get(task_name)
    with pytest.raises(UserError, match="must be|not a Keras activation"):
        training.check_options(task, task.Config(**bad))
    training.check_options(task, task.Config())  # the defaults pass


def _fake_run(root, task, name, finished=True, mtime=0.0):
    run = root / task / name
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"epochs": 1, "batch_size": 1, "seed": 0}')
    if finished:
        (run / "model.keras").write_bytes(b"")
        (run / "metrics.json").write_text(json.dumps({"task": task}))
    os.utime(run / "config.json", (mtime, mtime))
    return run


def test_latest_run_is_the_newest_finished_one_and_tasks_are_not_mixed(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "RUNS_ROOT", tmp_path)
    _fake_run(tmp_path, "translate", "zzz-named-last", mtime=1_000)
    newest = _fake_run(tmp_path, "translate", "20261201-120000", mtime=2_000)
    _fake_run(tmp_path, "translate", "20261201-130000", finished=False, mtime=3_000)  # still training
    assert runs.latest_run("translate") == tmp_path / "translate" / "20261201-130000"
    assert runs.finished_run("translate") == newest
    charlm_run = _fake_run(tmp_path, "charlm", "a", mtime=1_000)
    with pytest.raises(UserError, match="is a charlm run, not translate"):
        runs.finished_run("translate", charlm_run)
    with pytest.raises(UserError, match="no finished esn run"):
        runs.finished_run("esn")


def test_outputs_that_are_files_are_refused(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    with pytest.raises(UserError, match="--out .* is a file"):
        output_directory(a_file, "--out")
    for run_dir in (a_file, a_file / "run"):  # the directory itself, or a path under a file
        with pytest.raises(UserError, match=f"--run-dir .*: {a_file} is a file"):
            runs.prepare_run_dir("charlm", charlm.Config(), str(run_dir))
    assert a_file.read_text() == "keep me"
    assert output_directory(tmp_path / "new" / "dir", "--out").is_dir()


def _tiny_regression(seed=0):
    keras.utils.set_random_seed(seed)
    x = np.random.default_rng(seed).normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    return model, x, y


@pytest.mark.parametrize("ema", [0.0, 0.999999])
def test_ema_checkpoints_hold_the_averaged_weights(ema, tmp_path, corpus_file):
    """--ema M: validation and the best checkpoint see the moving average of the weights; with M
    next to 1 the average stays where the first step put it (Keras starts it there: one Adam step,
    0.1 per weight) while the raw weights travel on."""
    cfg = _cfg(corpus_file, ema=ema, learning_rate=0.1, patience=10)
    model, x, y = _tiny_regression()
    initial = model.get_weights()[0].copy()
    model.compile(optimizer=training.make_optimizer(cfg), loss="mse")
    callbacks = training.standard_callbacks(tmp_path, cfg, "test")
    model.fit(x, y, validation_data=(x, y), epochs=3, batch_size=16, verbose=0, callbacks=callbacks)
    saved = keras.saving.load_model(tmp_path / runs.MODEL_FILE).get_weights()[0]
    assert (np.abs(saved - initial).max() < 0.11) == bool(ema)


def test_anneal_ends_the_budget_on_a_learning_rate_near_zero():
    """--anneal F: constant learning rate, then linear decay to 0 over the last F of the epochs."""
    from keras_rnn.callbacks import Anneal

    model, x, y = _tiny_regression()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rates = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: rates.append(float(model.optimizer.learning_rate.numpy()))
    )
    model.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[Anneal(0.5, 0.01), record])  # 32 steps
    assert rates[:16] == pytest.approx([0.01] * 16)
    assert all(a >= b for a, b in zip(rates, rates[1:])) and rates[-1] < 0.001


def test_anneal_trains_to_the_end_of_the_budget(tmp_path, corpus_file):
    """With --anneal there is no early stopping: the decay at the budget's end is the point."""

    def kinds(cfg):
        return {type(c) for c in training.standard_callbacks(tmp_path, cfg, "charlm")}

    assert keras.callbacks.EarlyStopping in kinds(_cfg(corpus_file))
    assert keras.callbacks.EarlyStopping not in kinds(_cfg(corpus_file, anneal=0.3))


def test_anneal_keeps_a_plateau_cut():
    """--reduce-lr-patience with --anneal: the halving made between epochs scales what Anneal
    decays from (it is not undone by the next batch)."""
    from keras_rnn.callbacks import Anneal

    model, x, y = _tiny_regression()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    rates = []
    halve_after_first = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epoch == 0 and model.optimizer.learning_rate.assign(0.005)
    )
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: rates.append(float(model.optimizer.learning_rate.numpy()))
    )
    model.fit(
        x, y, epochs=4, batch_size=8, verbose=0, callbacks=[Anneal(0.5, 0.01), halve_after_first, record]
    )
    assert rates[:8] == pytest.approx([0.01] * 8)
    assert rates[8:16] == pytest.approx([0.005] * 8)
    assert rates[17] < rates[16] and rates[-1] < 0.0005


def test_label_smoothing_loss_is_masked_cross_entropy_at_zero_and_spreads_mass_otherwise():
    from keras_rnn.metrics import SmoothedCrossentropy

    logits = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    labels = np.array([[1, 4, 0], [2, 0, 0]])  # 0 = padding
    plain = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
    assert float(SmoothedCrossentropy(0.0)(labels, logits)) == pytest.approx(
        float(plain(labels, logits)), 1e-5
    )
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = labels != 0
    nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    expected = (0.9 * nll - 0.1 * log_probs.mean(-1))[real].mean()
    assert float(SmoothedCrossentropy(0.1)(labels, logits)) == pytest.approx(expected, 1e-5)
    every = (0.9 * nll - 0.1 * log_probs.mean(-1)).mean()  # class labels: 0 is a class, none ignored
    assert float(SmoothedCrossentropy(0.1, ignore_class=None)(labels, logits)) == pytest.approx(every, 1e-5)
