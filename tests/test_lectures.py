"""The lectures' experiments (`python -m keras_rnn.lectures`): their numbers, not just that they ran."""

import json

import numpy as np
import pytest

from keras_rnn.lectures import hello
from tests.conftest import run_cli


def test_hello_slide_table_is_the_softmax_of_its_scores_and_its_rounding_is_reported():
    table = hello.slide_table()
    for row in table["rows"]:
        assert sum(row["softmax"]) == pytest.approx(1, abs=1e-3)
        np.testing.assert_allclose(row["softmax"], row["slide"], atol=0.01)  # the slide, to its rounding
    # the slide prints .03 for 0.0377 (h, step 1) and .05 for 0.0557 (l, step 2): rounded, they are .04 / .06
    assert {row["step"]: row["slide_rounding_differs"] for row in table["rows"]} == {
        1: ["h"],
        2: ["l"],
        3: [],
        4: [],
    }


def test_hello_rnn_learns_ello_and_a_memoryless_model_cannot(tmp_path):
    proc = run_cli("-m", "keras_rnn.lectures", "hello", "--out", tmp_path)
    results = json.loads((tmp_path / "hello.json").read_text())
    elman, memoryless = results["elman"], results["memoryless"]
    assert elman["final_loss"] < 0.05 and elman["targets_right"] == 4 and elman["greedy_from_h"] == "ello"
    assert memoryless["targets_right"] <= 3 and memoryless["greedy_from_h"] != "ello"  # "l" -> "l" or "o"?
    assert np.array(elman["hidden_states"]).shape == (4, 3)
    assert (tmp_path / "hello.png").stat().st_size > 10_000 and "'h' -> 'ello'" in proc.stdout


def test_lectures_list_and_bad_input(tmp_path):
    listed = run_cli("-m", "keras_rnn.lectures", "list").stdout
    assert listed.split()[0] == "hello"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for args, message in [
        (["nope"], "unknown experiment 'nope'"),
        (["hello", "--out", a_file], "is a file"),
        (["hello", "--units", "0", "--out", tmp_path / "o"], "need --units >= 1"),
    ]:
        proc = run_cli("-m", "keras_rnn.lectures", *args, check=False)
        assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: "), (
            proc.stderr
        )
        assert message in proc.stderr
