"""The LiteRT classifier host (`python -m keras_rnn.hosts.classify`), its plain-Python tokenizer
and `predict.py --task classify`, each against the SavedModel's answers."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn.data import series as series_data
from keras_rnn.data import tokens, tokens_py
from keras_rnn.hosts import classify as host
from tests.export_harness import run_without_tensorflow, serve
from tests.hostile import ts_text

HOST = "from keras_rnn.hosts.classify import main\nassert main({args!r}) == 0"


def served(savedmodel, data) -> dict:
    """The `classify` signature's answer (in a process without keras) for labelled series."""
    from keras_rnn.data.classification import padded

    series, lengths = padded(data)
    body = {"signature_name": "classify", "inputs": {"series": series.tolist(), "lengths": lengths.tolist()}}
    return serve(savedmodel, body)


def one_error_line(code: int, stderr: str) -> str:
    """The one `error:` line a refusal ends with (after TensorFlow's or LiteRT's log lines)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and stderr.strip().endswith(errors[0]), stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


# ---------------------------------------------------------------- the tokenizer without TensorFlow
TRICKY = [
    "",
    " \t\n",
    "\v",
    "a\vb \va\v ",
    "a\xa0b\u3000c d\u2028e",
    "x\x1cy\x85z",
    "l'homme est-ce qu'il vient ?",
    "don't stop!! 'quoted' ''",
    "¿Qué? ¡Sí! «non» …",
    "ΟΔΟΣ Σ. AΣb ΑΣ. ΣΑΣ",
    "İstanbul IŞIK ǅ ß ﬁ ẞ",
    "e\u0301 cafe\u0301 naïve",
    "١٢٣ abc Ⅻ ½ ²",
    "emoji 👍🏽 ok 👨‍👩‍👧",
    "a_b-c a.b,c;d:e",
    "tab\there\r\nnew\fline",
    "Ⱟ 𐕰X 𑼂a",  # capitals ICU (Unicode 13) does not lowercase; a letter of Unicode 15
    "A\x00B c",  # TensorFlow's lowercasing stops at NUL
    "  leading and trailing  ",
]


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_the_plain_python_tokenizer_gives_tensorflows_tokens(level, lowercase):
    expected = tokens.tokenize(tf.constant(TRICKY), level, lowercase).to_list()
    for text, want in zip(TRICKY, expected):
        assert tokens_py.tokenize(text, level, lowercase) == [t.decode("utf-8") for t in want], repr(text)


def test_the_tokenizer_tables_agree_with_tensorflow_on_every_code_point():
    """What a token is made of, per character: inside a word or its own token (RE2's Unicode), and
    its lowercase (ICU's): the plain-Python rules against TensorFlow's, for every code point of
    the planes with characters other than private-use ones (0-3, 14)."""
    codes = [*range(1, 0xD800), *range(0xE000, 0x40000), *range(0xE0000, 0xF0000)]
    chars = [chr(c) for c in codes]
    split = tf.strings.regex_replace(tf.constant(["a" + c + "b" for c in chars]), r"([^\pL\pN\s'])", r" \1 ")
    in_word = [len(s) == len(("a" + c + "b").encode()) for s, c in zip(split.numpy(), chars)]
    differ = [c for c, kept in zip(chars, in_word) if kept != (tokens_py.in_word(c) or c in "\t\n\f\r")]
    assert not differ, [(hex(ord(c)), unicodedata.category(c)) for c in differ[:20]]
    lowered = tf.strings.lower(tf.constant(chars), encoding="utf-8").numpy()
    differ = [c for c, low in zip(chars, lowered) if low.decode("utf-8") != tokens_py.lower(c)]
    assert not differ, [hex(ord(c)) for c in differ[:20]]


# ---------------------------------------------------------------- the series host
def test_the_host_gives_the_savedmodels_labels_without_tensorflow(classify_exported, tmp_path):
    _, savedmodel, litert = classify_exported
    test = series_data.waveforms(12, seed=9)
    path = tmp_path / "test.ts"
    path.write_text(ts_text(test.series, test.labels, 2), encoding="utf-8")
    args = [str(litert / "classify_classify.tflite"), str(litert / "classify.json"), str(path)]
    printed = run_without_tensorflow(HOST.format(args=args)).splitlines()
    answer = served(savedmodel, test)
    assert [line.split("\t")[0] for line in printed] == [f"{path}:{n}" for n in range(4, 16)]
    assert [line.split("\t")[1] for line in printed] == answer["label"]
    best = np.max(answer["probabilities"], axis=1)
    np.testing.assert_allclose([float(line.split("\t")[2]) for line in printed], best, atol=2e-4)


def test_the_host_refuses_what_its_model_cannot_take(classify_exported, tmp_path, capsys):
    _, _, litert = classify_exported
    tflite, metadata = str(litert / "classify_classify.tflite"), litert / "classify.json"
    meta = json.loads(metadata.read_text())
    length = meta["length"]
    rng = np.random.default_rng(0)
    files = {
        "long.ts": ts_text(
            [rng.standard_normal((3, 2)), rng.standard_normal((length + 1, 2))], ["a", "b"], 2
        ),
        "three.ts": ts_text([rng.standard_normal((5, 3))], ["a"], 3),
        "at_length.ts": ts_text([rng.standard_normal((length, 2))], ["a"], 2),
        "huge.ts": ts_text([rng.standard_normal((3, 2)), np.full((3, 2), 3.4e38)], ["a", "b"], 2),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    broken = {
        "fewer_labels": {**meta, "labels": meta["labels"][:2]},
        "length": {**meta, "length": length - 1},
        "features": {**meta, "features": 3},
        "kind": {**meta, "kind": "text", "tokens": ["", "[UNK]", "a"], "level": "char"},
        "no_labels": {k: v for k, v in meta.items() if k != "labels"},
        "task": {**meta, "task": "charlm"},
    }
    for name, edited in broken.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(edited))
    cases = [
        (
            [tflite, metadata, tmp_path / "at_length.ts", tmp_path / "long.ts"],
            f"long.ts, line 5: {length + 1} time steps, over the LiteRT model's fixed length {length}",
        ),
        ([tflite, metadata, tmp_path / "three.ts"], "3 features per time step; the model reads 2"),
        ([tflite, metadata, tmp_path / "huge.ts"], "huge.ts:5: the answer overflowed float32"),
        ([tflite, tmp_path / "fewer_labels.json", tmp_path / "at_length.ts"], "2 labels"),
        ([tflite, tmp_path / "length.json", tmp_path / "at_length.ts"], f"series [1, {length - 1}, 2]"),
        ([tflite, tmp_path / "features.json", tmp_path / "at_length.ts"], "series [1, "),
        ([tflite, tmp_path / "kind.json", "a text"], "or of a series classifier?"),
        ([tflite, tmp_path / "no_labels.json", tmp_path / "at_length.ts"], "'labels' is missing"),
        ([tflite, tmp_path / "task.json", tmp_path / "at_length.ts"], "a charlm model"),
        ([metadata, metadata, tmp_path / "at_length.ts"], "cannot load the LiteRT model"),
    ]
    for args, message in cases:
        code = host.main(list(map(str, args)))
        stdout, stderr = capsys.readouterr()
        assert message in one_error_line(code, stderr) and not stdout, (args, stderr)
    assert host.main([tflite, str(metadata), str(tmp_path / "at_length.ts")]) == 0
    assert capsys.readouterr().out.count("\t") == 2


# ---------------------------------------------------------------- predict.py
def test_predict_prints_the_savedmodels_labels(classify_exported, tmp_path, capsys):
    """`predict.py`'s main in-process (its argument parsing and `report_errors`): a new interpreter
    would only load TensorFlow again."""
    from keras_rnn.commands.predict import main as predict

    run_dir, savedmodel, _ = classify_exported
    test = series_data.waveforms(9, seed=11)
    path = tmp_path / "test.ts"
    path.write_text(ts_text(test.series, test.labels, 2), encoding="utf-8")
    wide = tmp_path / "wide.ts"
    wide.write_text(ts_text([np.zeros((4, 3))], ["a"], 3), encoding="utf-8")
    code = predict(["--task", "classify", "--run-dir", str(run_dir), str(path), str(wide)])
    out, err = capsys.readouterr()
    assert [line.split("\t") for line in out.strip().splitlines()] == [
        [f"{path}:{n}", label] for n, label in zip(range(4, 13), served(savedmodel, test)["label"])
    ]
    assert "3 features per step; the run reads 2" in one_error_line(code, err)


# ---------------------------------------------------------------- a text classifier, end to end
@pytest.fixture(scope="module")
def text_exported(tmp_path_factory):
    """A tiny word-level, lowercased text classifier (trained here): (SavedModel, LiteRT) directories."""
    from keras_rnn import runs, training
    from keras_rnn.export import writer
    from keras_rnn.tasks import classify

    root = tmp_path_factory.mktemp("classify_text")
    rng = np.random.default_rng(0)
    words = {"pos": ["good", "great", "Loved", "fine!"], "neg": ["bad", "awful", "Hated", "boring..."]}
    lines = []
    for i in range(80):
        label = ["pos", "neg"][i % 2]
        text = " ".join(
            rng.choice(words[label] + ["the", "film", "plot", "l'acteur"], size=rng.integers(2, 6))
        )
        lines.append(f"{text}\t{label}\n")
    (root / "train.tsv").write_text("".join(lines), encoding="utf-8")
    cfg = classify.Config(
        train_file=str(root / "train.tsv"),
        level="word",
        lowercase=True,
        units=8,
        embedding_dim=8,
        epochs=3,
        seed=1,
    )
    run_dir = runs.prepare_run_dir("classify", cfg, str(root / "run"))
    training.train(classify.TASK, cfg, run_dir)
    written = writer.export(classify.TASK.serving(classify.TASK.load(run_dir)), root / "out")
    return written["savedmodel"], written["litert"][0].parent


def test_the_host_tokenizes_texts_as_the_savedmodel(text_exported, tmp_path, capsys):
    savedmodel, litert = text_exported
    meta = json.loads((litert / "classify.json").read_text())
    assert meta["level"] == "word" and meta["lowercase"] is True
    texts = [
        "GOOD film",
        "awful, BORING...",
        "",
        "   ",
        "l'acteur l'homme",
        "Unknown words ΟΔΟΣ",
        "fine!\tbad",
    ]
    args = [str(litert / "classify_classify.tflite"), str(litert / "classify.json"), *texts]
    printed = run_without_tensorflow(HOST.format(args=args)).split("\n")
    answer = serve(savedmodel, {"signature_name": "classify", "inputs": {"text": texts}})
    assert [line.rsplit("\t", 2)[1] for line in printed] == answer["label"]
    np.testing.assert_allclose(
        [float(line.rsplit("\t", 1)[1]) for line in printed],
        np.max(answer["probabilities"], axis=1),
        atol=2e-4,
    )
    too_long = " ".join(["good"] * (meta["length"] + 1))
    message = one_error_line(host.main(args[:2] + ["good", too_long]), capsys.readouterr().err)
    assert (
        f"has {meta['length'] + 1} tokens, over the LiteRT model's fixed length {meta['length']}" in message
    )
    more_tokens = tmp_path / "classify.json"  # ids past the model's embedding
    more_tokens.write_text(json.dumps({**meta, "tokens": meta["tokens"] + ["extra", "more"]}))
    message = one_error_line(host.main([args[0], str(more_tokens), "good"]), capsys.readouterr().err)
    assert f"has {len(meta['tokens']) + 2} tokens, more than" in message


# ---------------------------------------------------------------- the served probabilities
def test_an_overflowed_esn_score_stays_visible_in_its_vote_share():
    """The ESN's vote share (positive scores, normalised; uniform when none is positive) must not
    turn scores that overflowed float32 into a uniform vote: the SavedModel and the host refuse NaN."""
    from keras_rnn.tasks import classify

    scores = tf.constant([[np.nan, 1, 2], [-1, -2, -3], [1, 3, 0], [np.inf, 1, 0]], tf.float32)
    probs = classify.probabilities(classify.Config(model="esn"), scores).numpy()
    assert np.isnan(probs[0]).all() and np.isnan(probs[3]).all()
    np.testing.assert_allclose(probs[1:3], [[1 / 3] * 3, [0.25, 0.75, 0]])
