"""The command-line contract: --jit-compile's forms, --train-file beside each task's older
flag, runs saved by older versions loading and resuming, --data-seed, one rule for the
target lengths, and predict's search options."""

import argparse
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn import UserError, runs, tasks
from keras_rnn import config as config_lib
from keras_rnn.export.encoder_decoder import search_options
from keras_rnn.tasks import caption, esn, translate

OLD_FLAGS = {
    "charlm": "--text-file",
    "translate": "--pairs-file",
    "caption": "--captions-file",
    "esn": "--series-file",
}


def parse(task_name: str, argv: list[str]):
    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser, tasks.get(task_name).Config)
    return config_lib.from_args(tasks.get(task_name).Config, parser.parse_args(argv)), parser


@pytest.mark.parametrize(
    "argv, expected",
    [
        ([], "auto"),
        (["--jit-compile"], "on"),
        (["--jit-compile", "--epochs", "3"], "on"),  # bare, before another option
        (["--jit-compile", "on"], "on"),
        (["--jit-compile", "off"], "off"),
        (["--jit-compile", "auto"], "auto"),
        (["--no-jit-compile"], "off"),
    ],
)
def test_jit_compile_forms(argv, expected):
    cfg, _ = parse("translate", argv)
    assert cfg.jit_compile == expected
    assert config_lib.JIT_COMPILE[expected] == {"auto": "auto", "on": True, "off": False}[expected]


def test_jit_compile_refuses_other_values(capsys):
    with pytest.raises(SystemExit):
        parse("charlm", ["--jit-compile", "yes"])
    assert "invalid choice: 'yes'" in capsys.readouterr().err
    with pytest.raises(UserError, match="--jit-compile must be one of auto, on, off"):
        config_lib.check_shared(translate.Config(jit_compile=True))


def test_uses_xla_follows_keras_auto(monkeypatch):
    """Whether batches are padded for XLA: `on`; `auto` only with an accelerator and no strategy."""
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    assert config_lib.uses_xla(translate.Config(jit_compile="on"))
    assert not config_lib.uses_xla(translate.Config(jit_compile="auto"))  # this machine: CPU only
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    assert config_lib.uses_xla(translate.Config(jit_compile="auto"))
    assert not config_lib.uses_xla(translate.Config(jit_compile="auto", distribute="mirrored"))
    assert not config_lib.uses_xla(translate.Config(jit_compile="off"))


def old_run(tmp_path, cfg, **old_values):
    """A run directory as an older version left it: config.json with `old_values` (a key given as
    None is left out), interrupted after training began."""
    saved = {**dataclasses.asdict(cfg), **old_values}
    saved = {k: v for k, v in saved.items() if v is not None}
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    (run_dir / runs.CONFIG_FILE).write_text(json.dumps(saved))
    (run_dir / runs.HISTORY_FILE).write_text("epoch,loss\n0,1.0\n")
    return run_dir


@pytest.mark.parametrize("old, now", [(False, "auto"), (True, "on")])
def test_runs_saved_with_the_old_boolean_load_and_resume(tmp_path, old, now):
    """jit_compile was a boolean compiled as `cfg.jit_compile or "auto"`: false ran Keras' auto, true
    XLA. Such a run (without --data-seed, which came later too) loads with what it did, and the
    command that made it resumes it."""
    cfg = translate.Config(epochs=2, jit_compile=now)
    run_dir = old_run(tmp_path, cfg, jit_compile=old, data_seed=None)
    assert config_lib.load(translate.Config, run_dir / runs.CONFIG_FILE) == cfg
    assert runs.prepare_run_dir("translate", cfg, str(run_dir)) == run_dir
    assert json.loads((run_dir / runs.CONFIG_FILE).read_text())["jit_compile"] == now
    runs.locks.release(run_dir)


def test_a_changed_jit_compile_is_still_another_run(tmp_path):
    cfg = translate.Config(epochs=2, jit_compile="off")
    run_dir = old_run(tmp_path, cfg, jit_compile=False)  # ran with "auto"
    with pytest.raises(UserError, match=r"other options \(jit_compile\)"):
        runs.prepare_run_dir("translate", cfg, str(run_dir))
    runs.locks.release(run_dir)


@pytest.mark.parametrize("task_name", list(OLD_FLAGS))
def test_train_file_is_every_tasks_training_data_and_the_old_flag_stays(task_name):
    field = OLD_FLAGS[task_name][2:].replace("-", "_")
    new, parser = parse(task_name, ["--train-file", "data.txt"])
    old, _ = parse(task_name, [OLD_FLAGS[task_name], "data.txt"])
    assert getattr(new, field) == getattr(old, field) == "data.txt"
    assert new == old and field in vars(new)  # config.json keeps the field's name: old runs load
    assert f"--train-file FILE, {OLD_FLAGS[task_name]} FILE" in parser.format_help()


def test_data_seed_fixes_the_split_whatever_the_seed(tmp_path):
    """Without --data-seed the split follows --seed (as before); with it, runs of several seeds
    are scored on the same test set: pairs files, the dates, scenes and series generators."""
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"s{i}\tt{i}\n" for i in range(50)), encoding="utf-8")

    def translation(**kw):
        splits = translate.load_pairs(translate.Config(pairs_file=str(pairs), **kw))
        return splits.train, splits.validation, splits.test

    assert translation(seed=1) != translation(seed=2)
    assert translation(seed=1, data_seed=7) == translation(seed=2, data_seed=7) == translation(seed=7)
    dates = dict(dates_train=20, dates_eval=5)
    a = translate.load_pairs(translate.Config(seed=1, data_seed=0, **dates))
    b = translate.load_pairs(translate.Config(seed=0, **dates))
    assert a.test == b.test and a.train == b.train
    scenes = dict(scenes_train=3, scenes_eval=2)
    a = caption.load_splits(caption.Config(seed=4, data_seed=0, **scenes))
    b = caption.load_splits(caption.Config(seed=0, **scenes))
    assert [s.captions for s in a] == [s.captions for s in b]
    series = dict(length=300)
    np.testing.assert_array_equal(
        esn.make_problem(esn.Config(seed=5, data_seed=0, **series)).targets,
        esn.make_problem(esn.Config(seed=0, **series)).targets,
    )
    with pytest.raises(UserError, match=r"--data-seed must be in \[0, 2\*\*32\)"):
        config_lib.check_shared(translate.Config(data_seed=-1))


def test_max_target_len_and_max_caption_len_count_the_same_tokens():
    """Both keep targets of at most N tokens, <start> and <end> not counted."""
    pairs = [("a", "x y z"), ("b", "x y z w")]
    vocab = translate.Vocabulary.build(pairs, "word", 20, 20, lowercase=False)
    vectorizer = translate.Vectorizer(vocab, 10)
    for max_len, kept in ((3, 1), (4, 2)):
        cfg = translate.Config(max_target_len=max_len, batch_size=4, bucket_width=0)
        ds, _ = translate.make_dataset(pairs, vectorizer, cfg, "validation", shuffle=False)
        (_, target_in), _ = next(iter(ds))
        assert target_in.shape[0] == kept
    split = caption.Split(np.zeros((2, 8, 8, 3), np.uint8), ["x y z", "x y z w"])
    lookup = caption.Vocabulary.from_captions(split.captions, 20).lookup()
    for max_len, kept in ((3, 1), (4, 2)):
        cfg = caption.Config(max_caption_len=max_len, batch_size=4)
        ds, _ = caption.make_dataset(split, lookup, cfg, "validation", shuffle=False)
        (_, caption_in), _ = next(iter(ds))
        assert caption_in.shape[0] == kept


class FakeServing:
    max_steps, max_length_limit = 25, 64


@pytest.mark.parametrize(
    "task_name, length_option", [("translate", "--max-target-len"), ("caption", "--max-caption-len")]
)
def test_predict_search_options_are_the_same_for_both_tasks(task_name, length_option):
    """--beam-width 1 (greedy) and --max-length = the run's length + <end> by default, for both."""
    parser = argparse.ArgumentParser()
    tasks.get(task_name).add_predict_arguments(parser)
    assert f"{length_option} + 1" in parser.format_help()
    args = parser.parse_args(["item"])
    assert search_options(args, FakeServing) == (1, 25)
    assert search_options(
        parser.parse_args(["item", "--max-length", "3", "--beam-width", "4"]), FakeServing
    ) == (4, 3)
    with pytest.raises(UserError, match="1 <= --max-length <= 64"):
        search_options(parser.parse_args(["item", "--max-length", "0"]), FakeServing)
