"""`--task tag --dataset NAME`: a tensorflow-datasets sequence-labelling set (conll2003, mocked
with sentences whose entities the words decide: tests never touch the network), trained with the
command a user types, scored by the micro F1 over every tag but `O`, exported and served with
the ClassLabel's names as tags and the text itself as `restored`."""

from __future__ import annotations

import io
import json
import random
from contextlib import redirect_stdout

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data import punctuation, tagging
from keras_rnn.tasks import tag
from tests.export_harness import run_without_tensorflow, serve

tfds = pytest.importorskip("tensorflow_datasets")

PEOPLE, PLACES, OTHERS = ["John", "Mary", "Ruth"], ["Paris", "London", "Rome"], ["saw", "left", "the", "city"]
NER = [
    "O",
    "B-PER",
    "I-PER",
    "B-ORG",
    "I-ORG",
    "B-LOC",
    "I-LOC",
    "B-MISC",
    "I-MISC",
]  # conll2003's ClassLabel


def mock_conll2003(self, split, **kwargs):
    """Sentences of people, places and other words (tags by the word), 60 a split."""
    rng = random.Random(split)
    tagged = {
        **dict.fromkeys(PEOPLE, "B-PER"),
        **dict.fromkeys(PLACES, "B-LOC"),
        **dict.fromkeys(OTHERS, "O"),
    }

    def example():
        words = [rng.choice(PEOPLE), rng.choice(OTHERS[:2]), *rng.sample(OTHERS[2:], 1), rng.choice(PLACES)]
        rng.shuffle(words)
        ids = np.array([NER.index(tagged[w]) for w in words], np.int64)
        return {"tokens": np.array(words, object), "ner": ids, "pos": ids, "chunks": ids}

    examples = [example() for _ in range(60)]
    return tf.data.Dataset.from_generator(
        lambda: iter(examples),
        output_signature={
            "tokens": tf.TensorSpec([None], tf.string),
            **{k: tf.TensorSpec([None], tf.int64) for k in ("ner", "pos", "chunks")},
        },
    )


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    """`train.py`'s main in-process on the mocked conll2003: (run dir, stdout)."""
    from keras_rnn.commands.train import main as train

    root = tmp_path_factory.mktemp("conll2003")
    args = ["--task", "tag", "--dataset", "conll2003", "--tag-feature", "ner", "--tfds-data-dir", root / "tfds",
            "--units", "8", "--embedding-dim", "8", "--suffix-dim", "4", "--epochs", "6", "--batch-size", "8",
            "--learning-rate", "0.03", "--min-count", "1", "--run-dir", root / "run"]  # fmt: skip
    printed = io.StringIO()
    with (
        tfds.testing.mock_data(as_dataset_fn=mock_conll2003, data_dir=str(root / "tfds")),
        redirect_stdout(printed),
    ):
        assert train(list(map(str, args))) == 0
    return root / "run", printed.getvalue()


def test_a_tfds_ner_set_trains_scores_without_o_exports_and_serves_class_names(ner_run, tmp_path):
    run_dir, stdout = ner_run
    assert "60 training / 60 validation / 60 test sequences; 9 tags" in stdout  # the set's three splits
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_sequences"] == 60 and metrics["test_f1_excludes"] == ["O"]
    assert metrics["test_tag_confusion"]["labels"] == NER  # the ClassLabel's names, in its order
    assert metrics["test_f1"] > 0.9 and "test_capitalisation_accuracy" not in metrics
    from keras_rnn.export import writer

    exported = writer.export(tag.TASK.serving(tag.TASK.load(run_dir)), tmp_path / "out")
    texts = ["John saw Rome", "the city Mary left"]
    answer = serve(exported["savedmodel"], {"signature_name": "tag", "inputs": {"text": texts}})
    assert answer["tags"] == [["B-PER", "O", "B-LOC", ""], ["O", "O", "B-PER", "O"]]
    assert answer["restored"] == texts  # NER tags restore nothing: the text itself
    code = "from keras_rnn.hosts.tag import main\nassert main({!r}) == 0"
    tflite, metadata = exported["metadata"].parent / "tag_tag.tflite", exported["metadata"]
    lines = run_without_tensorflow(code.format([str(tflite), str(metadata), *texts]))
    assert lines.split("\n") == [
        "John saw Rome\tJohn saw Rome\tB-PER O B-LOC",
        "the city Mary left\tthe city Mary left\tO O B-PER O",
    ]


def test_token_scores_count_every_tag_but_o():
    found = punctuation.token_scores(["B-PER", "O", "B-LOC", "O"], ["B-PER", "B-LOC", "B-LOC", "B-PER"], NER)
    assert (found["precision"], found["recall"]) == (1.0, 0.5) and found["tag_accuracy"] == 0.5
    assert punctuation.token_scores(["A", "B"], ["A", "A"], ["A", "B"])["f1"] == 0.5  # no O: every tag counts
    assert not punctuation.is_scheme(NER) and punctuation.is_scheme(["none/lower", "comma/cap"])


def test_dataset_options_are_checked(tmp_path):
    with tfds.testing.mock_data(num_examples=4, data_dir=str(tmp_path)):
        for cfg, message in [
            (tag.Config(dataset="conll2003", train_file="x.conll"), "either --train-file or --dataset"),
            (
                tag.Config(dataset="conll2003", tag_feature="label"),
                "sequence of ClassLabels --tag-feature 'label'",
            ),
            (tag.Config(dataset="conll2003", token_feature="ner"), "sequence of texts --token-feature 'ner'"),
            (tag.Config(dataset="imdb_reviews"), "its features: text, label"),
            (tag.Config(dataset="no_such_set_xyz"), "unknown tensorflow-datasets set"),
            (tag.Config(), "--train-file .* or --dataset"),
        ]:
            with pytest.raises(UserError, match=message):
                tagging.load_splits(cfg)
