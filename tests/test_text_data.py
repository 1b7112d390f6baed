"""Corpus reading, validation, splitting and the character vocabulary."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_rnn import UserError
from keras_rnn import config as config_lib
from keras_rnn.data import text as text_data
from keras_rnn.tasks import charlm
from tests.conftest import run_cli


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
        ("caf\u00e9 au lait".encode("latin-1"), "not valid UTF-8"),
    ],
)
def test_bad_text_files_are_refused_with_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        text_data.read_text_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        text_data.read_text_file(tmp_path / "nope.txt")


def test_cli_reports_bad_input_in_one_line_and_exit_2(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("na\u00efve ".encode("latin-1") * 100)
    proc = run_cli(
        "train.py", "--task", "charlm", "--text-file", path, "--run-dir", tmp_path / "run", check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "not valid UTF-8" in proc.stderr and "Traceback" not in proc.stderr


def test_corpus_shorter_than_one_sequence_is_refused(tmp_path):
    cfg = charlm.Config(seq_len=100, batch_size=4)
    ids = np.arange(50, dtype="int32") % 5
    with pytest.raises(UserError, match="fewer than one batch needs"):
        charlm.make_datasets(cfg, ids, ids)


@pytest.mark.parametrize(
    "bad",
    [
        dict(units=0),
        dict(seq_len=-5),
        dict(sample_length=0),
        dict(dropout=1.0),
        dict(embedding_dim=-1),
        dict(max_chars=0),
        dict(validation_batches=-1),
        dict(text_file="a.txt", dataset="tiny_shakespeare"),
        dict(units=10_000_000),  # would end in a ResourceExhaustedError while building
        dict(units=20_000, layers=3),
        dict(cell="mut1", units=32, embedding_dim=16),  # MUT1/MUT2 add the input to the hidden state
        dict(cell="mut2", units=32, embedding_dim=0),
    ],
)
def test_impossible_options_are_refused_before_reading_data(bad):
    with pytest.raises(
        UserError,
        match=r"must be at least 1|needs? --embedding-dim|--dropout must be in \[0, 1\)|not both|GiB limit",
    ):
        charlm.check_config(charlm.Config(**bad))


@pytest.mark.parametrize(
    "bad",
    [
        dict(learning_rate=0.0),
        dict(learning_rate=-1e-3),
        dict(epochs=0),
        dict(steps_per_epoch=0),
        dict(batch_size=-2),
        dict(patience=-1),
        dict(clipnorm=-1.0),
        dict(clipvalue=-0.5),
        dict(max_minutes=-3.0),
    ],
)
def test_impossible_shared_options_are_refused(bad):
    with pytest.raises(UserError, match="must be"):
        config_lib.check_shared(charlm.Config(**bad))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--learning-rate", "-0.1"], "--learning-rate must be > 0"),
        (["--units", "0"], "--units must be at least 1"),
        (["--dataset", "tiny_shakespeare"], "not both"),
        (["--cell", "mut1", "--units", "32", "--embedding-dim", "8"], "needs --embedding-dim = --units"),
    ],
)
def test_cli_refuses_impossible_options_in_one_line_and_makes_no_run(tmp_path, corpus_file, args, message):
    proc = run_cli(
        "train.py",
        "--task",
        "charlm",
        "--text-file",
        corpus_file,
        "--run-dir",
        tmp_path / "run",
        *args,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and message in proc.stderr
    assert not (tmp_path / "run").exists()


def test_stdlib_corpus_excludes_tests_and_is_ordered():
    files = text_data.stdlib_source_files()
    assert len(files) > 200
    assert files == sorted(files)
    assert not any(part in ("test", "tests") for f in files for part in f.parts[-3:-1])
    assert not any(f.name.startswith("test_") for f in files)
    text = text_data.stdlib_source(max_chars=50_000, progress=False)
    assert len(text) == 50_000 and "def " in text


def test_split_is_first_90_last_10_percent():
    train, val = text_data.split_train_validation("a" * 900 + "b" * 100)
    assert train == "a" * 900 and val == "b" * 100


def test_vocabulary_round_trip_unknown_and_saving(tmp_path):
    vocab = text_data.CharVocabulary.from_text("hello héllo wörld\n")
    ids = vocab.encode("hello")
    assert ids.dtype == np.int32 and vocab.decode(ids) == "hello"
    assert list(vocab.encode("hé?")) == [vocab.encode("h")[0], vocab.encode("é")[0], 0]  # '?' unknown
    assert vocab.unknown_chars("hé?!") == {"?", "!"}
    vocab.save(tmp_path / "v.json")
    assert text_data.CharVocabulary.load(tmp_path / "v.json").chars == vocab.chars


@settings(max_examples=100, deadline=None)
@given(train=st.text(min_size=1), other=st.text())
def test_vocabulary_round_trips_any_text_and_maps_only_unseen_characters_to_unknown(train, other):
    vocab = text_data.CharVocabulary.from_text(train)
    assert vocab.decode(vocab.encode(train)) == train
    ids = vocab.encode(other)
    assert len(ids) == len(other)
    assert [i == text_data.CharVocabulary.UNKNOWN for i in ids] == [c not in set(train) for c in other]


def test_help_lists_every_option_with_its_default():
    proc = run_cli("train.py", "--task", "charlm", "--help")
    for flag in [
        "--cell",
        "--units",
        "--layers",
        "--embedding-dim",
        "--dropout",
        "--seq-len",
        "--batch-size",
        "--optimizer",
        "--learning-rate",
        "--clipnorm",
        "--clipvalue",
        "--epochs",
        "--steps-per-epoch",
        "--seed",
        "--run-dir",
        "--stateful",
        "--text-file",
        "--dataset",
        "--tfds-manual-dir",
    ]:
        assert flag in proc.stdout, flag
    assert "(default: lstm)" in " ".join(proc.stdout.split())


def test_tfds_manual_dir_with_the_wrong_file_is_refused_offline(tmp_path):
    """--dataset tiny_shakespeare --tfds-manual-dir DIR builds offline; a wrong input.txt is named."""
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    with pytest.raises(UserError, match="checksum mismatch"):
        text_data.tfds_text("tiny_shakespeare", manual_dir=str(manual), data_dir=str(tmp_path / "tfds"))


def test_unknown_tfds_name_is_refused(tmp_path):
    with pytest.raises(UserError, match="unknown tensorflow-datasets set"):
        text_data.tfds_text("no_such_dataset_xyz", data_dir=str(tmp_path))


def test_dataset_option_reads_a_tfds_text_set_offline(tmp_path):
    """--dataset NAME goes through tensorflow-datasets (mocked here: tests never touch the network;
    the real tiny_shakespeare is built offline from the shared input.txt with --tfds-manual-dir)."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=4, data_dir=str(tmp_path)):
        train, val = charlm.load_corpus(charlm.Config(dataset="tiny_shakespeare"))
    assert isinstance(train, str) and len(train) > 0 and len(val) > 0
    assert len(train) == int(0.9 * (len(train) + len(val)))
