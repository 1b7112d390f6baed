"""Reading labelled sequences (.ts, .csv, text TSV): parsing, every refusal with its file and line,
the stratified validation split, the label check against training, standardisation statistics."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from keras_rnn import UserError
from keras_rnn.data import labelled
from keras_rnn.limits import MAX_SERIES_FEATURES, MAX_SERIES_STEPS, MAX_TEXT_CHARS

HEADER = """# A comment line
#
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b c
@data
"""  # 10 lines: the first series is on line 11


def ts_line(series: np.ndarray, label: str) -> str:
    """[steps, dims] -> `v,v,v:v,v,v:label`."""
    return ":".join(",".join(f"{v:.6g}" for v in column) for column in series.T) + f":{label}"


def write(tmp_path, content, name="data.ts"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def refused(path, line: int, message: str, reader=labelled.read_ts):
    """The reader refuses `path` with one UserError naming the file and the line."""
    with pytest.raises(UserError) as err:
        reader(path)
    text = str(err.value)
    assert text.startswith(f"{path}, line {line}: "), text
    assert message in text, text
    assert "\n" not in text
    return text


# ---------------------------------------------------------------- .ts parsing
def test_multivariate_variable_length_series(tmp_path):
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(n, 2)).astype(np.float32) for n in (3, 7, 1, 5)]
    labels = ["a", "c", "b", "a"]
    path = write(tmp_path, HEADER + "\n".join(ts_line(s, y) for s, y in zip(series, labels)) + "\n")
    data = labelled.read_ts(path)
    assert (len(data), data.features, data.labels) == (4, 2, labels)
    assert data.class_labels == ["a", "b", "c"] and data.source == str(path)
    assert data.lines == [11, 12, 13, 14]
    assert data.lengths.tolist() == [3, 7, 1, 5]
    for got, want in zip(data.series, series):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert labelled.classes(data) == ["a", "b", "c"]


def test_header_variants(tmp_path):
    """Case-insensitive keys and values, tabs, CRLF, a byte-order mark, blank lines and comments among
    the data, univariate without @dimensions, @classLabel without a list, equal lengths declared."""
    text = (
        "\ufeff@ProblemName\tuni\r\n@TIMESTAMPS False\r\n@univariate TRUE\r\n@equalLength true\r\n"
        "@seriesLength 3\r\n@classlabel true\r\n\r\n@DATA\r\n1,2,3:x\r\n\r\n# note\r\n4, 5 ,6e-1:10\r\n"
    )
    data = labelled.read_ts(write(tmp_path, text))
    assert data.features == 1 and data.class_labels is None
    assert data.labels == ["x", "10"] and data.lines == [9, 12]
    np.testing.assert_allclose(data.series[1][:, 0], [4, 5, 0.6])


def test_first_series_sets_the_feature_count_without_a_header_count(tmp_path):
    text = "@classLabel true 1 2\n@data\n1,2:3,4:5,6:1\n7:8:9:2\n"
    data = labelled.read_ts(write(tmp_path, text))
    assert data.features == 3 and [s.shape for s in data.series] == [(2, 3), (1, 3)]


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("", 1, "the file is empty"),
        (" \n\n", 1, "the file is empty"),
        (HEADER.encode() + b"1,2:3,4:a\n\x00\x01\x02", 12, "looks binary"),
        (HEADER.encode() + b"1,2:3,4:a\n1,2:3,4:caf\xe9\n", 12, "not valid UTF-8"),
        ("@classLabel true a\n1,2:a\n", 2, "data before the `@data` line"),
        ("# only a comment\n@classLabel true a\n", 2, "no `@data` line"),
        (HEADER, 10, "no series after `@data`"),
        (HEADER + "1,2,3:4,5:a\n", 11, "ragged series: dimension 2 has 2 values, dimension 1 has 3"),
        (HEADER + "1,2:a\n", 11, "1 dimension, but the header says 2"),
        ("@classLabel true a\n@data\n1:2:a\n1:2:3:a\n", 4, "3 dimensions, but the series on line 3 has 2"),
        (HEADER + "1,2:3,nan:a\n", 11, "a missing value ('nan') at value 2 of dimension 2"),
        (HEADER + "1,?:3,4:a\n", 11, "a missing value ('?') at value 2 of dimension 1"),
        (HEADER + "1,,2:3,4,5:a\n", 11, "an empty value at value 2 of dimension 1"),
        (HEADER + "1,2:3,inf:a\n", 11, "value 2 of dimension 2 is 'inf', infinite"),
        (HEADER + "1,2:3,1e39:a\n", 11, "is '1e39', infinite in float32"),
        (HEADER + "1,2:3,abc:a\n", 11, "value 2 of dimension 2 is 'abc', not a number"),
        (HEADER + "1,2:3,4:a\n:3:b\n", 12, "an empty sequence (dimension 1 has no values)"),
        (HEADER + "1,2:3,4:d\n", 11, "class label 'd' is not one of the declared labels ('a', 'b', 'c')"),
        (HEADER + "1,2:3,4:\n", 11, "the class label is empty"),
        ("@classLabel true a\n@data\n1,2,3\n", 3, "no `:` before the class label"),
        ("@timeStamps true\n@classLabel true a\n@data\n(0,1):a\n", 1, "@timeStamps true is not supported"),
        ("@missing maybe\n@classLabel true a\n@data\n1:a\n", 1, "@missing must be true or false"),
        ("@classLabel false\n@data\n1,2\n", 1, "@classLabel is not true"),
        ("@problemName x\n@data\n1:a\n", 2, "no `@classLabel true ...` line before `@data`"),
        ("@targetLabel true\n@data\n1:2.5\n", 1, "a regression file"),
        (
            "@dimensions two\n@classLabel true a\n@data\n1:a\n",
            1,
            "@dimensions must be a positive whole number",
        ),
        ("@univariate true\n@dimensions 2\n@classLabel true a\n@data\n1:a\n", 1, "@dimensions is not 1"),
        (
            "@equalLength true\n@seriesLength 2\n@classLabel true a\n@data\n1,2:a\n1:a\n",
            6,
            "@seriesLength says 2",
        ),
        (f"@dimensions {MAX_SERIES_FEATURES + 1}\n@classLabel true a\n@data\n1:a\n", 1, "over the limit"),
        (
            "@classLabel true a\n@data\n" + ",".join(["1"] * (MAX_SERIES_STEPS + 1)) + ":a\n",
            3,
            "over the limit",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 and "\n" not in v else None,
)
def test_bad_ts_files_are_refused_naming_the_file_and_line(tmp_path, content, line, message):
    refused(write(tmp_path, content), line, message)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        labelled.read_ts(tmp_path / "nope.ts")
    with pytest.raises(UserError, match=r"give a \.ts .* or \.csv file"):
        labelled.read_labelled_series(write(tmp_path, "x", name="data.npy"))


def test_reading_needs_no_tensorflow():
    code = "import sys, keras_rnn.data.labelled; assert 'tensorflow' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- .csv, one row per time step
def test_csv_with_and_without_a_header(tmp_path):
    rows = "s1,1,2,cat\ns1,3,4,cat\n\ns2,5,6,dog\ns3,7,8,cat\ns3,9,10,cat\ns3,11,12,cat\n"
    for text, first in ((rows, 1), ("id,f1,f2,label\n" + rows, 2)):
        data = labelled.read_labelled_series(write(tmp_path, text, name="data.csv"))
        assert (len(data), data.features, data.labels) == (3, 2, ["cat", "dog", "cat"])
        assert data.lengths.tolist() == [2, 1, 3] and data.lines == [first, first + 3, first + 4]
        np.testing.assert_array_equal(data.series[2], [[7, 8], [9, 10], [11, 12]])
        assert data.series[0].dtype == np.float32


@pytest.mark.parametrize(
    "content, line, message",
    [
        (
            "s1,1,2,a\ns2,3,4,b\ns1,5,6,a\n",
            3,
            "the rows of sequence 's1' are not consecutive (it started on line 1)",
        ),
        ("s1,1,2,a\ns1,3,4,b\n", 2, "label 'b', but sequence 's1' has label 'a'"),
        ("s1,1,2,a\ns1,3,a\n", 2, "3 columns, the first row has 4"),
        ("s1,1,2,a\ns1,3,nan,a\n", 2, "a missing value ('nan') at value 2 of the row's features"),
        ("id,f1,label\ns1,3,4,a\n", 2, "4 columns, the first row has 3"),
        ("s1,a\n", 1, "2 columns: give sequence_id,feature_1,...,feature_F,label"),
        ("id,f1,label\n", 1, "no data rows"),
        ("s1,1,2,\n", 1, "the class label is empty"),
        ("", 1, "the file is empty"),
    ],
)
def test_bad_csv_files_are_refused_naming_the_file_and_line(tmp_path, content, line, message):
    refused(write(tmp_path, content, name="data.csv"), line, message, labelled.read_series_csv)


# ---------------------------------------------------------------- text<TAB>label
def test_text_tsv(tmp_path):
    text = "a good film\tpos\r\n\n  \nbad\tneg\nwith\ta tab\t neg \n"
    data = labelled.read_text_tsv(write(tmp_path, text, name="data.tsv"))
    assert data.texts == ["a good film", "bad", "with\ta tab"]
    assert data.labels == ["pos", "neg", "neg"] and data.lines == [1, 4, 5] and data.blank_lines == 2
    assert labelled.classes(data) == ["neg", "pos"]


@pytest.mark.parametrize(
    "content, line, message",
    [
        (b"ok\tpos\nno tab here\n", 2, "no tab"),
        (b"ok\tpos\nsome text\t \n", 2, "the class label is empty"),
        (b"ok\tpos\n \tneg\n", 2, "an empty text"),
        (b"ok\tpos\n" + b"x" * (MAX_TEXT_CHARS + 1) + b"\tneg\n", 2, "over the limit"),
        (b"\n\n", 1, "the file is empty"),
        (b"ok\tpos\nna\xefve\tneg\n", 2, "not valid UTF-8"),
        (b"ok\tpos\n\x89PNG\x00\n", 2, "looks binary"),
    ],
)
def test_bad_text_files_are_refused_naming_the_file_and_line(tmp_path, content, line, message):
    refused(write(tmp_path, content, name="data.tsv"), line, message, labelled.read_text_tsv)


# ---------------------------------------------------------------- labels against training
def test_a_label_never_seen_in_training_is_refused_naming_the_line(tmp_path):
    train = labelled.read_ts(write(tmp_path, HEADER + "1,2:3,4:a\n1:2:b\n", name="train.ts"))
    test_path = write(tmp_path, HEADER + "1:2:b\n1:2:a\n5:6:c\n", name="test.ts")
    test = labelled.read_ts(test_path)  # `c` is declared, but training has none
    message = refused(
        test_path,
        13,
        "label 'c' never occurs in the training data",
        lambda _: labelled.check_labels(test, train),
    )
    assert str(tmp_path / "train.ts") in message and "'a', 'b'" in message
    labelled.check_labels(train, train)


def test_a_test_set_with_another_feature_count_is_refused(tmp_path):
    train = labelled.read_ts(write(tmp_path, HEADER + "1,2:3,4:a\n", name="train.ts"))
    test_path = write(tmp_path, "@classLabel true a\n@data\n1:2:3:a\n", name="test.ts")
    test = labelled.read_ts(test_path)
    refused(
        test_path,
        3,
        "3 features per time step, but the training data",
        lambda _: labelled.check_features(test, train),
    )


def test_text_labels_are_checked_too(tmp_path):
    train = labelled.read_text_tsv(write(tmp_path, "x\tpos\ny\tneg\n", name="train.tsv"))
    path = write(tmp_path, "x\tpos\n\nz\tmeh\n", name="test.tsv")
    test = labelled.read_text_tsv(path)
    refused(path, 3, "label 'meh' never occurs", lambda _: labelled.check_labels(test, train))


# ---------------------------------------------------------------- split and statistics
def many(counts: dict[str, int]) -> labelled.LabelledSeries:
    labels = [label for label, n in counts.items() for _ in range(n)]
    series = [np.full((i % 4 + 1, 2), i, np.float32) for i in range(len(labels))]
    return labelled.LabelledSeries(series, labels, 2, None, "made.ts", list(range(1, len(labels) + 1)))


def test_split_is_stratified_seeded_and_keeps_every_class_in_training():
    data = many({"a": 30, "b": 10, "c": 2, "d": 1, "e": 5})
    train, valid = labelled.split(data, 0.1, seed=3)
    assert Counter(valid.labels) == {"a": 3, "b": 1, "c": 1, "e": 1}  # at least one where possible
    assert Counter(train.labels) == {"a": 27, "b": 9, "c": 1, "d": 1, "e": 4}
    assert sorted(train.lines + valid.lines) == data.lines  # a partition, the lines kept
    assert train.lines == sorted(train.lines) and valid.lines == sorted(valid.lines)
    for part in (train, valid):
        for series, line in zip(part.series, part.lines):
            assert series[0, 0] == line - 1  # each series stays with its label and line
    again = labelled.split(data, 0.1, seed=3)[1]
    other = labelled.split(data, 0.1, seed=4)[1]
    assert again.lines == valid.lines and other.lines != valid.lines
    assert Counter(labelled.split(data, 0.5, seed=0)[1].labels) == {"a": 15, "b": 5, "c": 1, "e": 2}


def test_split_of_texts_and_its_refusals(tmp_path):
    data = labelled.LabelledText([f"t{i}" for i in range(20)], ["x", "y"] * 10, "t.tsv", list(range(1, 21)))
    train, valid = labelled.split(data, 0.2, seed=0)
    assert Counter(valid.labels) == {"x": 2, "y": 2} and len(train) == 16
    assert all(data.texts[line - 1] == text for text, line in zip(valid.texts, valid.lines))
    with pytest.raises(UserError, match="between 0 and 1"):
        labelled.split(data, 1.0)
    with pytest.raises(UserError, match="too few sequences to hold out a validation set"):
        labelled.split(many({"a": 1, "b": 1}))


def test_standardisation_statistics():
    series = [np.array([[1, 5, 10], [3, 5, 20]], np.float32), np.array([[5, 5, 30]], np.float32)]
    data = labelled.LabelledSeries(series, ["a", "b"], 3, None, "s.ts", [1, 2])
    mean, std = labelled.standardisation(data)
    assert mean.dtype == std.dtype == np.float32
    np.testing.assert_allclose(mean, [3, 5, 20])
    np.testing.assert_allclose(std, [np.sqrt(8 / 3), 1.0, np.sqrt(200 / 3)], rtol=1e-6)  # constant -> 1
    scaled = labelled.standardised(data, mean, std)
    steps = np.concatenate(scaled.series)
    np.testing.assert_allclose(steps.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(steps.std(0), [1, 0, 1], atol=1e-6)
    assert scaled.labels == data.labels and data.series[0][0, 0] == 1  # the original is untouched


def test_numeric_labels_sort_as_numbers():
    data = many({"10": 1, "9": 1, "2": 1})
    assert labelled.classes(data) == ["2", "9", "10"]
