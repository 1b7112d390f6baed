"""One label per step (`--task tag`): the punctuation/case tags, the CoNLL reader's refusals, the
scores against hand counts, and a tiny tagger trained, exported and served (Keras, SavedModel
and the TF-free LiteRT host giving the same tags; the served restored text scoring as
metrics.json says)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data import conll, punctuation, tagging
from keras_rnn.limits import MAX_TAG_WORDS
from tests.export_harness import (
    assert_builtin_ops_only,
    assert_exported_on_a_gpu_answers_alike,
    assert_mixed_precision_run_exports,
    run_without_tensorflow,
    serve,
)

TRAIN_OPTIONS = dict(
    units=24, embedding_dim=16, suffix_dim=8, epochs=6, batch_size=16, learning_rate=0.02, min_count=1, seed=3
)
NAMES, NOUNS, VERBS = (
    ["John", "Mary", "Peter", "Ruth"],
    ["bread", "water", "house", "field", "sheep"],
    ["took", "saw"],
)


def tiny_text(lines: int = 300, seed: int = 0) -> str:
    """Sentences whose marks the context decides: `, and` between clauses, `said:` before speech,
    `?` after a sentence opened by `did`, `!` after `behold`; names capitalised, `LORD` in capitals."""
    rng = random.Random(seed)

    def clause():
        return f"{rng.choice(NAMES + ['the LORD'])} {rng.choice(VERBS)} the {rng.choice(NOUNS)}"

    def sentence():
        kind = rng.randrange(5)
        if kind == 0:
            return f"Did {rng.choice(NAMES)} see the {rng.choice(NOUNS)}?"
        if kind == 1:
            return f"Behold the {rng.choice(NOUNS)}!"
        if kind == 2:
            return f"{rng.choice(NAMES)} said: {clause()}."
        if kind == 3:
            return f"{clause()}, and {clause()}."
        return f"{clause()}."

    return "".join(" ".join(sentence() for _ in range(rng.randint(1, 2))) + "\n" for _ in range(lines))


# ---------------------------------------------------------------- tags, restoring, scores
def test_tags_say_which_mark_follows_and_how_the_word_was_written():
    text = "And God said, Let there be light: and the LORD'S light; is it? 'Yes!' I say -- ok..."
    found = punctuation.tagged(text)
    assert [w for w, _ in found] == [
        "and", "god", "said", "let", "there", "be", "light", "and", "the", "lord's", "light",
        "is", "it", "yes", "i", "say", "ok",
    ]  # fmt: skip
    assert [t for _, t in found] == [
        "none/cap", "none/cap", "comma/lower", "none/cap", "none/lower", "none/lower", "colon/lower",
        "none/lower", "none/lower", "none/upper", "colon/lower", "none/lower", "question/lower",
        "exclamation/cap", "none/cap", "none/lower", "period/lower",
    ]  # fmt: skip
    words, tags = zip(*punctuation.tagged("And God said, Let there be light."))
    assert punctuation.restore(list(words), list(tags)) == "And God said, Let there be light."
    assert punctuation.words_of("And God said, Let there be light.") == list(words)


def test_scores_against_hand_counts():
    truth = ["none/lower", "comma/lower", "period/cap", "none/upper", "question/lower", "none/cap"]
    predicted = ["comma/lower", "comma/lower", "comma/cap", "none/lower", "question/lower", "none/cap"]
    found = punctuation.scores(predicted, truth)
    # marks: truth comma, period, question (3); predicted comma (right), comma (wrong: a false alarm),
    # comma for period (a miss and a false alarm), question (right): tp 2, fp 2, fn 1
    assert found["precision"] == pytest.approx(2 / 4) and found["recall"] == pytest.approx(2 / 3)
    assert found["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert found["punctuation"]["comma"] == pytest.approx(
        {"precision": 1 / 3, "recall": 1.0, "f1": 0.5, "support": 1}
    )
    assert found["punctuation"]["period"]["recall"] == 0 and found["punctuation"]["period"]["support"] == 1
    assert found["capitalisation_accuracy"] == pytest.approx(5 / 6)  # none/upper read as lower
    assert found["punctuation_confusion"]["matrix"][2] == [0, 1, 0, 0, 0, 0]  # the period, taken for a comma
    assert sum(map(sum, found["case_confusion"]["matrix"])) == 6


# ---------------------------------------------------------------- the CoNLL files
def test_the_maker_splits_by_line_with_its_seed(tmp_path):
    (tmp_path / "text.tsv").write_text(
        "".join(f"{i}\tLine {i}, said he.\n" for i in range(40)), encoding="utf-8"
    )
    punctuation.make_files(tmp_path / "text.tsv", tmp_path / "a", column=2, seed=1)
    punctuation.make_files(tmp_path / "text.tsv", tmp_path / "b", column=2, seed=1)
    splits = {s: conll.read_conll(tmp_path / "a" / f"{s}.conll") for s in punctuation.SPLITS}
    assert [len(splits[s]) for s in punctuation.SPLITS] == [32, 4, 4]
    assert splits["test"].tags[0] == ["none/cap", "comma/lower", "none/lower", "period/lower"]
    numbers = sorted(int(words[1]) for data in splits.values() for words in data.words)
    assert numbers == list(range(40))  # every line once
    assert (tmp_path / "a" / "test.conll").read_text() == (tmp_path / "b" / "test.conll").read_text()


@pytest.mark.parametrize(
    "content, message",
    [
        ("the\tnone/lower\nend period/lower\n", "bad.conll, line 2: no tab"),
        ("", "bad.conll, line 1: the file is empty"),
        ("\n\n", "bad.conll, line 1: the file is empty"),
        ("the\tnone/lower\n\n \tx\n", "bad.conll, line 3: an empty token"),
        ("the\t\n", "bad.conll, line 1: an empty tag"),
        (b"\xff\xfe\tx\n", "bad.conll, line 1: not valid UTF-8"),
        ("w\tt\n" * (MAX_TAG_WORDS + 1), "bad.conll, line 1: a sequence of more than"),
    ],
)
def test_the_conll_reader_refuses_bad_files_naming_the_line(tmp_path, content, message):
    path = tmp_path / "bad.conll"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UserError, match=message):
        conll.read_conll(path)


def test_a_test_tag_unseen_in_training_is_one_error_line(tmp_path, capsys):
    from keras_rnn.commands.train import main

    (tmp_path / "train.conll").write_text("a\tx\nb\ty\n\nc\tx\n", encoding="utf-8")
    (tmp_path / "test.conll").write_text("a\tx\n\nb\ty\nc\tz\n", encoding="utf-8")
    files = ["--train-file", "--validation-file", "--test-file"]
    paths = [tmp_path / "train.conll", tmp_path / "train.conll", tmp_path / "test.conll"]
    argv = [
        "--task",
        "tag",
        *sum(([f, str(p)] for f, p in zip(files, paths)), []),
        "--run-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "test.conll, line 4: tag 'z' never occurs in the training data" in errors[0]
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- a tiny run, trained and served
@pytest.fixture(scope="module")
def trained(tag_exported):
    """(CoNLL directory, run, SavedModel, LiteRT) of the session's tiny tagger (tests/conftest.py)."""
    return tag_exported


def test_the_loss_drops_and_metrics_json_has_the_scores(trained):
    _, run_dir, _, _ = trained
    history = (run_dir / "history.csv").read_text().splitlines()
    columns = history[0].split(",")
    losses = [float(row.split(",")[columns.index("loss")]) for row in history[1:]]
    assert losses[-1] < 0.5 * losses[0], losses
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_f1"] > 0.8 and metrics["test_capitalisation_accuracy"] > 0.95, metrics["test_f1"]
    assert set(metrics["test_punctuation"]) == set(punctuation.PUNCTUATION)
    assert {"precision", "recall", "f1", "support"} <= set(metrics["test_tags"]["comma/lower"])
    assert sum(map(sum, metrics["test_punctuation_confusion"]["matrix"])) == metrics["test_words"]


EXTRA = ["did mary see the bread", "Behold, the WATER", "", "and the lord saw the unheardofword"]


@pytest.fixture(scope="module")
def served(trained):
    """The test sequences (in capitals: any case is read) and EXTRA, as the SavedModel answers
    them in a process without keras: (texts, answer)."""
    data_dir, _, savedmodel, _ = trained
    texts = [t.upper() for t in conll.read_conll(data_dir / "test.conll").texts] + EXTRA
    return texts, serve(savedmodel, {"signature_name": "tag", "inputs": {"text": texts}})


def test_keras_savedmodel_and_the_litert_host_give_the_same_tags(trained, served):
    from keras_rnn.tasks import tag

    data_dir, run_dir, _, litert = trained
    test = conll.read_conll(data_dir / "test.conll")
    run = tag.TASK.load(run_dir)
    texts, answer = served
    tags = [[t for t in row if t] for row in answer["tags"]]
    assert tags[: len(test)] == tag.predicted_tags(run.model, run.vocab, test)
    assert len(answer["tags"][0]) == max(map(len, tags)) and tags[-2] == []  # padded with ""
    code = "from keras_rnn.hosts.tag import main\nassert main({!r}) == 0"
    picked = [0, 1, 2, *range(len(test), len(texts))]
    args = [str(litert / "tag_tag.tflite"), str(litert / "tag.json"), *(texts[i] for i in picked)]
    lines = run_without_tensorflow(code.format(args)).split("\n")
    assert [line.split("\t")[2].split() for line in lines] == [tags[i] for i in picked]
    assert [line.split("\t")[1] for line in lines] == [answer["restored"][i] for i in picked]
    assert_builtin_ops_only(litert / "tag_tag.tflite")


def test_exported_where_keras_sees_a_gpu_it_holds_no_cudnn_op_and_answers_alike(trained, tmp_path):
    from keras_rnn.tasks import tag

    _, run_dir, savedmodel, litert = trained
    assert_exported_on_a_gpu_answers_alike(tag.TASK, run_dir, savedmodel, litert, tmp_path)


def test_a_mixed_precision_run_exports_float32_that_answers_as_the_float32_model(trained, tmp_path):
    from keras_rnn import runs, training
    from keras_rnn.tasks import tag

    data_dir = trained[0]
    files = {f"{s}_file": str(data_dir / f"{n}.conll") for s, n in [("train", "train"), ("test", "test")]}
    options = {**TRAIN_OPTIONS, "epochs": 1, "precision": "mixed_bfloat16"}
    cfg = tag.Config(**files, validation_file=str(data_dir / "valid.conll"), **options)
    training.train(tag.TASK, cfg, runs.prepare_run_dir("tag", cfg, str(tmp_path / "run")))
    assert_mixed_precision_run_exports(tag.TASK, tmp_path / "run", tmp_path, tolerance=0.05)


def test_the_served_restored_text_scores_as_metrics_json_says(trained, served):
    data_dir, run_dir, _, _ = trained
    test = conll.read_conll(data_dir / "test.conll")
    _, answer = served
    predicted = [t for text in answer["restored"][: len(test)] for _, t in punctuation.tagged(text)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert punctuation.scores(predicted, sum(test.tags, []))["f1"] == pytest.approx(metrics["test_f1"])
    restored = answer["restored"][len(test) :]
    assert restored[:3] == ["Did Mary see the bread?", "Behold the water!", ""]
    assert restored[3].endswith("the LORD saw the unheardofword.")  # an unknown word at the end


def test_a_request_outside_the_limits_is_refused(trained):
    loaded = tf.saved_model.load(str(trained[2])).signatures["tag"]
    for texts, message in [
        ([], "at least one text"),
        (["word " * (MAX_TAG_WORDS + 1)], f"more than {MAX_TAG_WORDS} words"),
        (["x" * 10_001], "longer than 10000 characters"),
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            loaded(text=tf.constant(texts, tf.string))


def test_predict_and_saliency_on_the_run(trained, tmp_path, capsys):
    from keras_rnn.commands import predict
    from keras_rnn.explain.__main__ import main

    _, run_dir, _, _ = trained
    assert (
        predict.main(["--task", "tag", "--run-dir", str(run_dir), "john said the lord took the bread"]) == 0
    )
    answer = capsys.readouterr().out.strip().splitlines()[-1]
    assert answer == "john said the lord took the bread\tJohn said: the LORD took the bread."
    out = tmp_path / "saliency"
    assert (
        main(["saliency", "--run-dir", str(run_dir), "--out", str(out), "--word", "2", "did mary see it"])
        == 0
    )
    found = json.loads((out / "saliency.json").read_text())["sequences"][0]
    assert (
        found["words"] == ["did", "mary", "see", "it"] and found["word"] == 2 and len(found["saliency"]) == 4
    )
    assert (out / "saliency_text_1.png").stat().st_size > 0


def test_the_dataset_weighs_only_real_words(trained):
    from keras_rnn.tasks import tag

    data_dir, run_dir, _, _ = trained
    vocab = tag.TASK.load(run_dir).vocab
    data = conll.read_conll(data_dir / "valid.conll").take([0, 1, 2])
    (words, suffixes, lengths), tags, weights = next(iter(tagging.make_dataset(data, vocab, 3)))
    assert lengths.numpy().tolist() == [len(w) for w in data.words]
    np.testing.assert_array_equal(weights.numpy().sum(1), lengths.numpy())
    assert words.shape == suffixes.shape == tags.shape == weights.shape


def test_app_tag_panel_restores_text_as_the_savedmodel_does(trained, tmp_path):
    """The app's tag panel in a real browser: the restored text and tags are the `tag` signature's
    own answer for the same text; an empty form is a message."""
    from tests import browser

    text = "and god said let there be light"
    answer = tf.saved_model.load(str(trained[2])).signatures["tag"](text=tf.constant([text]))
    restored = answer["restored"][0].numpy().decode()
    tags = [t.decode() for t in answer["tags"][0].numpy() if t]
    with browser.page(tmp_path, tag=trained[2]) as driver:
        assert browser.submit(driver, "tag", {"texts": text}) == ""
        assert driver.find_element("css selector", "#tag-result .restored").text == restored
        shown = driver.find_elements("css selector", "#tag-result .tokens span")
        assert [s.text for s in shown] == tags
        browser.screenshot(driver, "tag")
        assert browser.submit(driver, "tag", {"texts": ""}) != ""
