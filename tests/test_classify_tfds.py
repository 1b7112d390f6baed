"""`--task classify --dataset NAME`: a tensorflow-datasets text set (mocked: tests never touch the
network), trained with the command a user types, exported, served with texts and explained."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from contextlib import redirect_stdout

import pytest

from keras_rnn import UserError
from keras_rnn.data import classification
from keras_rnn.tasks import classify
from tests.export_harness import serve

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture(scope="module")
def imdb_run(tmp_path_factory):
    """`train.py`'s main in-process, inside tfds' mock data (40 examples a split): (run, stdout)."""
    from keras_rnn.commands.train import main as train

    root = tmp_path_factory.mktemp("imdb")
    args = ["--task", "classify", "--dataset", "imdb_reviews", "--tfds-data-dir", root / "tfds", "--level",
            "word", "--units", "8", "--embedding-dim", "8", "--epochs", "2", "--batch-size", "8"]  # fmt: skip
    printed = io.StringIO()
    with tfds.testing.mock_data(num_examples=40, data_dir=str(root / "tfds")), redirect_stdout(printed):
        assert train([*map(str, args), "--run-dir", str(root / "run")]) == 0
    return root / "run", printed.getvalue()


def test_a_tfds_text_set_trains_with_class_names_exports_and_answers_texts(imdb_run, tmp_path):
    run_dir, stdout = imdb_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["kind"] == "text" and metrics["test_sequences"] == 40  # the set's test split
    assert metrics["test_confusion"]["labels"] == ["neg", "pos"]  # the ClassLabel's names
    counts = re.search(r"(\d+) training / (\d+) validation / 40 test text; 2 classes", stdout)
    assert int(counts[1]) + int(counts[2]) == 40 and int(counts[2]) >= 2  # a stratified share of train
    from keras_rnn.export import writer

    spec = classify.TASK.serving(classify.TASK.load(run_dir))
    spec = dataclasses.replace(spec, litert={})  # a text LiteRT model: tests/test_classify_host.py
    exported = writer.export(spec, tmp_path / "out")
    texts = ["a film I liked", "dull", "x"]
    answer = serve(exported["savedmodel"], {"signature_name": "classify", "inputs": {"text": texts}})
    assert len(answer["label"]) == 3 and set(answer["label"]) <= {"neg", "pos"}
    assert answer["labels"] == [["neg", "pos"]] * 3  # one row per text (TF Serving's row format)


def test_text_saliency_scores_every_token(imdb_run, tmp_path, capsys):
    from keras_rnn.explain.__main__ import main as explain

    out = tmp_path / "out"
    assert explain(["saliency", "--run-dir", str(imdb_run[0]), "--out", str(out), "a good film", "bad"]) == 0
    results = json.loads((out / "saliency.json").read_text())
    assert results["kind"] == "text" and [s["tokens"] for s in results["sequences"]] == [
        ["a", "good", "film"],
        ["bad"],
    ]
    assert all(len(s["saliency"]) == len(s["tokens"]) for s in results["sequences"])
    assert (out / "saliency_text_1.png").stat().st_size > 1000
    assert explain(["saliency", "--run-dir", str(imdb_run[0]), "--window", "3", "a"]) == 2
    assert "--window occludes steps of a series" in capsys.readouterr().err


def test_dataset_options_are_checked(tmp_path):
    with tfds.testing.mock_data(num_examples=4, data_dir=str(tmp_path)):
        for cfg, message in [
            (classify.Config(dataset="imdb_reviews", train_file="x.tsv"), "either --train-file or --dataset"),
            (classify.Config(dataset="tiny_shakespeare"), "not a text classification set"),
            (classify.Config(dataset="no_such_set_xyz"), "unknown tensorflow-datasets set"),
        ]:
            with pytest.raises(UserError, match=message):
                classification.load_splits(cfg)
    with pytest.raises(UserError, match="--model esn reads series"):
        classify.check_config(classify.Config(dataset="imdb_reviews", model="esn"))
