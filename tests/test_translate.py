"""Translation: the attention layer, the searches, a tiny corpus learned through the
shared training loop (CLI), and export parity (SavedModel without keras, LiteRT host)."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn import UserError, decoding, metrics
from keras_rnn.data import parallel, tokens
from keras_rnn.data.tokens import TokenVocabulary
from keras_rnn.data.translation import SOURCE_END_ID
from keras_rnn.hosts.translate import TranslateLiteRT
from keras_rnn.layers import BahdanauAttention
from keras_rnn.tasks import translate
from tests.conftest import run_cli
from tests.export_harness import (
    assert_builtin_ops_only,
    assert_exported_on_a_gpu_answers_alike,
    assert_mixed_precision_run_exports,
    run_without_tensorflow,
    serve,
)

NOUNS = {
    "cat": "chat",
    "dog": "chien",
    "coffee": "café",
    "tree": "arbre",
    "house": "maison",
    "car": "voiture",
}
ADJECTIVES = {
    "big": "grand",
    "small": "petit",
    "red": "rouge",
    "green": "vert",
    "cold": "froid",
    "old": "âgé",
}
TRAIN_ARGS = [
    "--attention",
    "bahdanau",
    "--readout",
    "concat",  # Bahdanau's own readout: its attention maps align (test_attention_aligns_the_swapped_words)
    "--dropout",
    "0",
    "--units",
    "32",
    "--embedding-dim",
    "16",
    "--attention-units",
    "32",
    "--batch-size",
    "16",
    "--learning-rate",
    "0.01",
    "--epochs",
    "4",
    "--steps-per-epoch",
    "60",
    "--eval-sentences",
    "8",
    "--heatmaps",
    "2",
    "--seed",
    "1",
]


def target(adjective: str, noun: str) -> str:
    return f"{NOUNS[noun].capitalize()} {ADJECTIVES[adjective]}."


def tiny_pairs_file(path):
    """Adjective-noun phrases whose translation swaps the word order (attention must align);
    the targets are real text: cased, with punctuation ("Chat grand.")."""
    lines = [f"{a} {n}\t{target(a, n)}" for n, nf in NOUNS.items() for a, af in ADJECTIVES.items()]
    lines[3] += "\tCC-BY 2.0 (France) Attribution: tatoeba.org"  # the optional third column
    lines.insert(5, "")  # a blank line: skipped and counted
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(translate_run):  # trained once per session (tests/conftest.py) on tiny_pairs_file with TRAIN_ARGS
    return translate_run


@pytest.fixture(scope="module")
def loaded(run):
    loaded_run = translate.TASK.load(run)
    cfg = loaded_run.config
    translator = translate.TranslateServing(loaded_run.model, loaded_run.vocab, cfg)
    return cfg, translator, translate.load_pairs(cfg).train


@pytest.fixture(scope="module")
def exported(translate_exported):
    return translate_exported


def greedy(translator, sources, max_length=20):
    return tf.function(translator.greedy)(tf.constant(sources), tf.constant(max_length))


# ---------------------------------------------------------------- layer and searches
@pytest.mark.parametrize("score", ["bahdanau", "luong"])
def test_attention_rows_sum_to_one_and_are_zero_on_padding(score):
    layer = BahdanauAttention(8, score=score)
    rng = np.random.default_rng(0)
    query, memory = rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], bool)
    context, weights = layer(query, memory, mask)
    weights = weights.numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert (weights[~mask] == 0).all() and (weights[mask] > 0).all()
    np.testing.assert_allclose(context.numpy(), np.einsum("bp,bpf->bf", weights, memory), atol=1e-5)
    # padding content cannot leak into the context
    noisy = memory.copy()
    noisy[~mask] = 100.0
    np.testing.assert_allclose(layer(query, noisy, mask)[0].numpy(), context.numpy(), atol=1e-5)


def test_encoder_is_bidirectional():
    cfg = translate.Config(units=8, embedding_dim=4)
    encoder = translate.build_encoder(cfg, vocab_size=20)
    a = encoder(np.array([[5, 6, 7, 8, 2]]))[0].numpy()
    b = encoder(np.array([[5, 6, 7, 9, 2]]))[0].numpy()
    # position 0 depends on a later token: through the backward half only
    assert not np.allclose(a[0, 0], b[0, 0])
    np.testing.assert_allclose(a[0, 0, :8], b[0, 0, :8])
    padded = encoder(np.array([[5, 6, 7, 8, 2, 0, 0]]))[0].numpy()  # padding changes nothing
    np.testing.assert_allclose(padded[0, :5], a[0], atol=1e-6)


def test_beam_width_1_equals_greedy_and_wider_beams_find_likelier_outputs(loaded):
    cfg, translator, train_pairs = loaded
    ids, _ = translator.vectorizer.source(tf.constant([s for s, _ in train_pairs] + ["dog coffee old"]))
    greedy_out = translator.search(ids, 1, 12, 0.0)
    beam1 = translator.search(ids, tf.constant(1), 12, 0.0)
    for key in ("tokens", "lengths", "scores", "attention"):
        np.testing.assert_allclose(beam1[key].numpy(), greedy_out[key].numpy(), atol=1e-5, err_msg=key)
    beam4 = translator.search(ids, tf.constant(4), 12, 0.0)
    assert (beam4["scores"].numpy() >= greedy_out["scores"].numpy() - 1e-4).all()


def test_searches_stop_at_end_and_respect_max_length():
    """A toy step function: emits token 5, then the end token 3 after the 2nd step."""

    def step_fn(tokens, state, constants):
        t = state[0]
        logits = tf.where(t[:, None] >= 2, tf.one_hot(3, 6) * 10, tf.one_hot(5, 6) * 10)
        return logits, [t + 1], tf.tile(constants["memory"], [1, 1])

    state, constants = [tf.zeros([2])], {"memory": tf.ones([2, 4]) / 4}
    start = tf.fill([2], 1)
    for out in (
        decoding.greedy_search(step_fn, state, constants, start, 3, 10),
        decoding.beam_search(step_fn, state, constants, start, 3, 10, 3, 0.6),
    ):
        assert out["tokens"].numpy().tolist() == [[5, 5, 3]] * 2 and out["lengths"].numpy().tolist() == [2, 2]
        assert out["attention"].shape == (2, 3, 4)
    assert decoding.greedy_search(step_fn, state, constants, start, 3, 1)["tokens"].shape == (2, 1)


# ---------------------------------------------------------------- training
def test_tiny_corpus_is_learned_to_exact_translation(run, loaded):
    cfg, translator, train_pairs = loaded
    out = greedy(translator, [s for s, _ in train_pairs])
    got = [t.decode("utf-8") for t in out["translation"].numpy()]
    assert got == [t for _, t in train_pairs]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["level"] == "subword" and "best_val_chrf" in metrics
    assert metrics["test_chrf"] > 50 and metrics["test_bleu_signature"].startswith("nrefs:1|case:mixed")
    buckets = metrics["test_by_source_length"]  # two-word sources: all in the first bucket
    assert list(buckets) == ["1-10"] and buckets["1-10"]["pairs"] == metrics["test_pairs"]
    assert buckets["1-10"]["bleu"] == pytest.approx(metrics["test_bleu"])
    assert (run / "attention" / "attention_0.png").stat().st_size > 1000
    history = list(csv.DictReader((run / "history.csv").open()))
    assert "val_exact_match" in history[0]
    bleus = [float(row["val_bleu"]) for row in history]  # --select-by bleu: the best BLEU is the checkpoint
    assert metrics["best_epoch"] == 1 + bleus.index(max(bleus))


def aligned_words(translator, train_pairs) -> list[bool]:
    """Per output noun and adjective: does its attention peak on its source word (the noun second,
    the adjective first)?"""
    out = greedy(translator, [s for s, _ in train_pairs])
    aligned = []
    for i, (source, _) in enumerate(train_pairs):
        adjective, noun = source.split()
        pieces = [t.decode("utf-8").lstrip("\u2581") for t in out["target_tokens"].numpy()[i]]
        for word, position in ((NOUNS[noun].capitalize(), 1), (ADJECTIVES[adjective], 0)):
            if word in pieces:  # a whole-word piece (the tiny corpus has them all)
                aligned.append(out["attention"].numpy()[i, pieces.index(word)].argmax() == position)
    return aligned


def test_attention_aligns_the_swapped_words(loaded):
    """Bahdanau attention (with --readout concat): the output noun attends mostly to the
    second source word (the noun), the adjective to the first."""
    _, translator, train_pairs = loaded
    aligned = aligned_words(translator, train_pairs)
    assert len(aligned) >= len(train_pairs) and np.mean(aligned) >= 0.8


def test_cross_attention_with_its_default_readout_aligns_too(tmp_path):
    """`cross` attention (the default; residual readout): the maps align as Bahdanau's do."""
    pairs = tiny_pairs_file(tmp_path / "pairs.tsv")
    args = [*TRAIN_ARGS[4:], "--attention", "cross", "--heatmaps", "0"]
    run_cli("train.py", "--task", "translate", "--pairs-file", pairs, "--run-dir", tmp_path / "run", *args)
    run = translate.TASK.load(tmp_path / "run")
    translator = translate.TranslateServing(run.model, run.vocab, run.config)
    train_pairs = translate.load_pairs(run.config).train
    assert greedy(translator, [s for s, _ in train_pairs])["translation"].numpy().tolist() == [
        t.encode() for _, t in train_pairs
    ]
    assert np.mean(aligned_words(translator, train_pairs)) >= 0.8


def test_predict_max_length_cuts_and_defaults_to_the_runs_max_target_len(run, loaded, capsys):
    """predict.py --task translate: greedy by default, up to the run's --max-target-len tokens and
    <end> (what the test scores use); --max-length N stops after N steps; 0 is refused."""
    from keras_rnn.commands import predict

    cfg, translator, train_pairs = loaded
    source, target = train_pairs[0]

    def translation(*options):
        assert predict.main(["--task", "translate", "--run-dir", str(run), *options, source]) == 0
        return capsys.readouterr().out.strip().splitlines()[-1].split("\t")

    assert translator.max_steps == cfg.max_target_len + 1
    assert translation() == [source, target]
    expected = greedy(translator, [source], 1)["translation"].numpy()[0].decode()
    assert translation("--max-length", "1") == [source, expected] and len(expected) < len(target)
    assert predict.main(["--task", "translate", "--run-dir", str(run), "--max-length", "0", source]) == 2
    assert "1 <= --max-length <= 512" in capsys.readouterr().err


# ---------------------------------------------------------------- export
def test_savedmodel_answers_a_rest_body_without_keras(exported, loaded):
    _, translator, train_pairs = loaded
    sources = [s for s, _ in train_pairs[:3]]
    body = {
        "signature_name": "translate",
        "inputs": {"source": sources, "beam_width": 3, "max_length": 12, "length_penalty": 0.0},
    }
    out = serve(exported[0], body)
    assert out["translation"] == [t for _, t in train_pairs[:3]]
    assert np.array(out["attention"]).shape[0] == 3
    assert all(s <= 0 for s in out["score"])


def test_savedmodel_greedy_equals_keras_greedy_and_rejects_bad_requests(exported, loaded):
    _, translator, train_pairs = loaded
    fn = tf.saved_model.load(str(exported[0])).signatures["translate"]
    sources = [s for s, _ in train_pairs[:5]] + ["", "cat " * 200, "zebra big"]

    def call(beam_width=1, max_length=12, source=sources):
        return fn(
            source=tf.constant(source),
            beam_width=tf.constant(beam_width),
            max_length=tf.constant(max_length),
            length_penalty=tf.constant(0.0),
        )

    served = call()
    expected = greedy(translator, sources, 12)
    assert served["translation"].numpy().tolist() == expected["translation"].numpy().tolist()
    assert served["translation"][5].numpy() == b""  # empty source -> empty translation
    assert served["attention"].shape[2] == translator.cfg.max_source_len + 1  # over-long: truncated
    for kwargs, message in [
        ({"beam_width": 0}, "beam_width must be >= 1"),
        ({"beam_width": 99}, "beam_width must be <="),
        ({"max_length": 0}, "max_length must be > 0"),
        ({"max_length": 10**9}, "max_length must be <= 512"),
        ({"source": tf.constant([], tf.string)}, "at least one source sentence"),
        ({"source": "a cat"}, "source .* is not compatible with expected shape"),
        ({"source": [["a cat"]]}, "source .* is not compatible with expected shape"),
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call(**kwargs)


def test_subwords_spell_unseen_words_and_only_unseen_characters_are_unknown(loaded):
    _, translator, _ = loaded
    ids, lengths = translator.vectorizer.source(tf.constant(["zebra big", "", "bigcat"]))
    ids, lengths = ids.numpy(), lengths.numpy()
    assert tokens.UNKNOWN_ID in ids[0] and ids[0, lengths[0]] == SOURCE_END_ID  # "z": never seen
    assert lengths[1] == 0 and tokens.UNKNOWN_ID not in ids[2]  # an unseen word of seen characters


def test_test_scores_use_untouched_references_and_equal_the_savedmodels(tmp_path):
    """--validation-file picks the checkpoint, --test-file is scored: metrics.json's test BLEU is
    sacrebleu's on the detokenized output against the file's own references, and the exported
    SavedModel's translations of the test sources score exactly the same."""
    pairs = tiny_pairs_file(tmp_path / "pairs.tsv")
    lines = [line for line in pairs.read_text(encoding="utf-8").splitlines() if line]
    (tmp_path / "valid.tsv").write_text("\n".join(lines[:6]) + "\n", encoding="utf-8")
    nnbsp = "\u202f"  # in the reference file as French typography has it; the model reads NFKC (" ")
    test = [f"{a} {n}\t{target(a, n).replace(' ', nnbsp, 1)}" for a, n in (("red", "car"), ("old", "dog"))]
    (tmp_path / "test.tsv").write_text("\n".join(test) + "\n", encoding="utf-8")
    args = [a if a != "4" else "2" for a in TRAIN_ARGS]  # 2 epochs: scores below 100 are fine here
    run_cli(
        "train.py",
        "--task",
        "translate",
        "--pairs-file",
        pairs,
        "--validation-file",
        tmp_path / "valid.tsv",
        "--test-file",
        tmp_path / "test.tsv",
        "--run-dir",
        tmp_path / "run",
        *args,
    )
    metrics_json = json.loads((tmp_path / "run" / "metrics.json").read_text())
    run_cli(
        "export.py",
        "--task",
        "translate",
        "--run-dir",
        tmp_path / "run",
        "--out",
        tmp_path / "out",
        "--no-sample",
    )
    fn = tf.saved_model.load(str(tmp_path / "out" / "translate" / "1")).signatures["translate"]
    sources = [line.split("\t")[0] for line in test]
    served = fn(
        source=tf.constant(sources),
        beam_width=tf.constant(1),
        max_length=tf.constant(49),  # the default --max-target-len 48, then <end>: what the test scores use
        length_penalty=tf.constant(0.0),
    )["translation"].numpy()
    references = [line.split("\t")[1] for line in test]
    scores = metrics.sacrebleu_scores([t.decode("utf-8") for t in served], references)
    assert metrics_json["test_pairs"] == 2 and metrics_json["test_examples"][0]["reference"] == references[0]
    for key in ("bleu", "chrf", "bleu_lowercase", "bleu_signature"):
        assert metrics_json[f"test_{key}"] == scores[key], key


def test_lowercase_is_stored_with_the_run_and_applied_in_graph_and_host():
    from keras_rnn.data.subword import SubwordTokenizerPy

    pairs = [("Big Cat.", "Grand chat."), ("big dog!", "Chien grand !")]
    vocab = translate.Vocabulary.build(pairs, "subword", 50, 50, lowercase=True)
    vectorizer = translate.Vectorizer(vocab, 10)
    upper, lower = vectorizer.source(tf.constant(["BIG CAT.", "big cat."]))[0].numpy()
    assert upper.tolist() == lower.tolist()
    assert SubwordTokenizerPy(vocab.source).tokenize("BIG CAT.") == upper[: upper.tolist().index(2)].tolist()
    word = translate.Vocabulary.build(pairs, "word", 50, 50, lowercase=False)
    assert "Big" in word.source.words and "big" in word.source.words


@pytest.mark.parametrize("jit_compile", ["off", "on"])
def test_length_buckets_batch_similar_lengths_and_keep_every_pair(jit_compile):
    """--bucket-width: each training batch holds pairs whose longer side differs by less than the
    width (with --jit-compile padded to the bucket's bound: a handful of shapes); an epoch is every
    pair once, in the number of batches make_dataset announces; teacher forcing is unchanged."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    pairs = [
        (" ".join(rng.choice(words, n)), " ".join(rng.choice(words, m)))
        for n, m in rng.integers(1, 13, (300, 2))
    ]
    vocab = translate.Vocabulary.build(pairs, "word", 50, 50, lowercase=False)
    cfg = translate.Config(batch_size=16, bucket_width=3, jit_compile=jit_compile, max_source_len=20)
    ds, batches = translate.make_dataset(
        pairs, translate.Vectorizer(vocab, 20), cfg, "training", shuffle=True
    )
    seen, shapes = [], set()
    for (source, target_in), target_out in ds.take(batches):
        source, target_in, target_out = source.numpy(), target_in.numpy(), target_out.numpy()
        longer = np.maximum((source != 0).sum(1), (target_in != 0).sum(1))
        assert longer.max() - longer.min() < 3
        assert (target_in[:, 0] == translate.TARGET_START_ID).all()
        assert ((target_in != 0).sum(1) == (target_out != 0).sum(1)).all()
        shifted = target_in[:, 1:] != 0
        assert (target_in[:, 1:][shifted] == target_out[:, :-1][shifted]).all()  # shifted by one
        seen += [tuple(row[row != 0]) for row in source]
        shapes.add(source.shape[1:] + target_in.shape[1:])
    expected = translate.Vectorizer(vocab, 20).source(tf.constant([s for s, _ in pairs]))[0].numpy()
    assert sorted(seen) == sorted(tuple(row[row != 0]) for row in expected)
    if jit_compile == "on":
        assert all(a == b and a % 3 == 0 for a, b in shapes) and len(shapes) <= 5


@pytest.mark.parametrize("name", ["encoder", "decoder_step"])
def test_tflite_uses_builtin_ops_only(exported, name):
    for suffix in ("", "_drq"):
        assert_builtin_ops_only(exported[1] / f"translate_{name}{suffix}.tflite")


def test_litert_host_greedy_matches_keras_token_for_token(exported, loaded):
    _, translator, train_pairs = loaded
    host = TranslateLiteRT(exported[1])
    assert host.default_max_length() == translator.max_steps  # the run's --max-target-len + 1
    sources = [s for s, _ in train_pairs] + ["dog coffee old", "zebra", "Big  CAT"]
    expected = greedy(translator, sources, 12)
    for i, source in enumerate(sources):
        ids, attention = host.greedy_ids(source, 12)
        n = int(expected["length"][i])
        assert ids == expected_ids(translator, expected, i)[:n], source
        keras_attention = expected["attention"].numpy()[i, :n]  # padded to the batch's longest source
        np.testing.assert_allclose(attention[:n, : keras_attention.shape[1]], keras_attention, atol=1e-4)
        assert not attention[:n, keras_attention.shape[1] :].any()
    assert host.translate("") == ""


def expected_ids(translator, out, i):
    vocab = translator.id_to_token.numpy().tolist()
    return [vocab.index(t) for t in out["target_tokens"].numpy()[i] if t]


def test_litert_host_runs_without_tensorflow(exported, loaded):
    _, _, train_pairs = loaded
    source, target = train_pairs[0]
    printed = run_without_tensorflow(
        "from keras_rnn.hosts.translate import TranslateLiteRT\n"
        f"print(TranslateLiteRT({str(exported[1])!r}).translate({source!r}))"
    )
    assert printed == target


# ---------------------------------------------------------------- data and bad input
def test_dates_are_deterministic_per_seed_and_iso():
    assert parallel.dates(50, 3) == parallel.dates(50, 3) != parallel.dates(50, 4)
    for human, iso in parallel.dates(200, 0):
        year, month, day = map(int, iso.split("-"))
        assert 1950 <= year <= 2049 and str(day) in human


def test_pairs_file_errors_name_the_line(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("a\tb\n\nc\td\n", encoding="utf-8")
    read = parallel.read_pairs(path, reverse=True)
    assert read.pairs == [("b", "a"), ("d", "c")] and read.blank_lines == 1
    path.write_text("a\tb\nonly one column\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"p.tsv:2: expected source<TAB>target"):
        parallel.read_pairs(path)
    path.write_bytes(b"a\tb\nc\td\n" + "caf\xe9\tx\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"p.tsv:3: not valid UTF-8"):
        parallel.read_pairs(path)
    path.write_text("e\u0301t\u00e9\tsummer\n", encoding="utf-8")  # decomposed é -> composed
    assert parallel.read_pairs(path).pairs[0][0] == "\u00e9t\u00e9"


def test_cli_reports_a_malformed_pairs_file(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("a\tb\nc\td\te\tf\n", encoding="utf-8")
    proc = run_cli(
        "train.py", "--task", "translate", "--pairs-file", path, "--run-dir", tmp_path / "r", check=False
    )
    assert proc.returncode == 2 and "bad.tsv:2: expected source<TAB>target" in proc.stderr


def test_validation_and_test_files_are_kept_apart(tmp_path):
    """--validation-file only picks checkpoints; test pairs come from --test-file alone, with their
    references untouched (the model reads them NFKC-normalised)."""
    train, held_out, test = tmp_path / "train.tsv", tmp_path / "valid.tsv", tmp_path / "test.tsv"
    train.write_text("a\tb\nc\td\ne\tf\n", encoding="utf-8")
    held_out.write_text("g\th\n", encoding="utf-8")
    test.write_text("Va\u202f!\tx\n", encoding="utf-8")
    splits = translate.load_pairs(
        translate.Config(pairs_file=str(train), validation_file=str(held_out), reverse=True)
    )
    assert splits.train == [("b", "a"), ("d", "c"), ("f", "e")] and splits.validation == [("h", "g")]
    assert splits.test == [] and splits.test_references == []  # no test split: no test scores
    cfg = translate.Config(
        pairs_file=str(train), validation_file=str(held_out), test_file=str(test), reverse=True
    )
    splits = translate.load_pairs(cfg)
    assert splits.test == [("x", "Va !")] and splits.test_references == ["Va\u202f!"]
    splits = translate.load_pairs(translate.Config(pairs_file=str(train), test_file=str(test)))
    assert len(splits.train) == 2 and len(splits.validation) == 1 and splits.test == [("Va !", "x")]
    with pytest.raises(
        UserError, match=r"--validation-file and --test-file go with --train-file \(--pairs-file"
    ):
        translate.load_pairs(translate.Config(validation_file=str(held_out)))
    with pytest.raises(UserError, match=r"either --train-file \(--pairs-file\) or --dataset"):
        translate.load_pairs(translate.Config(pairs_file=str(train), dataset="ted_hrlr_translate/pt_to_en"))


def test_named_tfds_translation_set_is_read_in_supervised_order(tmp_path):
    """--dataset NAME goes through tensorflow-datasets (mocked here: tests never touch the network)."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6, data_dir=str(tmp_path)):
        cfg = translate.Config(dataset="ted_hrlr_translate/pt_to_en", tfds_data_dir=str(tmp_path))
        splits = translate.load_pairs(cfg)
        assert len(splits.train) == len(splits.validation) == len(splits.test) == 6
        assert translate.resolved_level(cfg) == "subword" and splits.test_references == [
            t for _, t in splits.test
        ]
        forward = [s for s, _ in splits.train]
        reversed_train = translate.load_pairs(
            translate.Config(dataset=cfg.dataset, reverse=True, tfds_data_dir=str(tmp_path))
        ).train
        assert [t for _, t in reversed_train] == forward and all(isinstance(s, str) and s for s in forward)
    with pytest.raises(UserError, match="unknown tensorflow-datasets set"):
        translate.load_pairs(translate.Config(dataset="no_such_translation_set", tfds_data_dir=str(tmp_path)))


def test_scores_are_bucketed_by_source_length():
    buckets = metrics.scores_by_length([3, 15, 45], ["x y", "z", "q"], ["x y", "z z", "q"])
    assert list(buckets) == ["1-10", "11-20", "41+"]
    assert [b["pairs"] for b in buckets.values()] == [1, 1, 1]
    assert buckets["1-10"]["exact_match"] == 100 and buckets["11-20"]["exact_match"] == 0


@pytest.mark.parametrize(
    "attention, readout, cell, query",
    [
        ("none", "concat", "gru", "previous"),
        ("none", "residual", "lstm", "previous"),
        ("cross", "concat", "gru", "previous"),
        ("cross", "residual", "gru", "previous"),
        ("bahdanau", "residual", "gru", "previous"),
        ("luong", "concat", "lstm", "previous"),
        ("bahdanau", "residual", "gru", "conditional"),
        ("bahdanau", "concat", "lstm", "conditional"),
    ],
)
def test_other_decoders_keep_the_step_contract(attention, readout, cell, query):
    """The classic encoder-decoder (no attention), `cross` attention after the decoder RNN, the
    conditional decoder (two cells), and the residual readout, GRU and LSTM: training's
    teacher-forced logits (the cells' equations after an input projection made up front) equal the
    step function's (the Keras cells), and LiteRT's step functions reproduce greedy."""
    cfg = translate.Config(
        units=8,
        embedding_dim=4,
        attention=attention,
        readout=readout,
        cell=cell,
        max_source_len=6,
        attention_query=query,
    )
    vocab = translate.Vocabulary(
        "word", TokenVocabulary([tokens.END, "a", "b"]), TokenVocabulary([tokens.START, tokens.END, "x", "y"])
    )
    model = translate.build_model(cfg, 5, 6)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # biases too (they start at zero): each must land where the cell puts it
        weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))
    translator = translate.TranslateServing(model, vocab, cfg)
    out = greedy(translator, ["a b", "b"], 5)
    assert np.all(out["attention"].numpy() == 0) == (attention == "none")
    source, target_in = tf.constant([[3, 4, 2], [4, 2, 0]]), tf.constant([[2, 4, 5], [2, 5, 4]])
    teacher_forced = model([source, target_in])
    constants, state = translator.decoder.start(*translator.encode(source))
    for t in range(3):
        logits, state, _ = translator.decoder.step(target_in[:, t], state, constants)
        np.testing.assert_allclose(logits.numpy(), teacher_forced[:, t].numpy(), atol=1e-5)
    encoder_fn, _ = translator.litert_encoder_fn()
    encoded = encoder_fn(tf.constant([[3, 4, 2, 0, 0, 0, 0]]))
    assert encoded["state"].shape == (1, translator.decoder.packed_state_size())
    assert encoded["memory"].shape == (1, 7, 16)  # [forward; backward]
    token, state, ids = tf.constant([translate.TARGET_START_ID]), encoded["state"], []
    for _ in range(5):  # the LiteRT step functions reproduce greedy
        step = translator.decoder_step(token, state, encoded["memory"], encoded["mask"])
        token = tf.argmax(step["logits"][:, 1:], -1, output_type=tf.int32) + 1  # never padding (id 0)
        state = step["state"]
        ids.append(int(token[0]))
    keras_ids = [
        translator.id_to_token.numpy().tolist().index(t) for t in out["target_tokens"].numpy()[0] if t
    ]
    assert ids[: len(keras_ids)] == keras_ids


def test_the_conditional_query_needs_input_feeding_attention():
    with pytest.raises(UserError, match="needs --attention bahdanau or luong"):
        translate.check_config(translate.Config(attention="cross", attention_query="conditional"))
    translate.check_config(translate.Config(attention="luong", attention_query="conditional"))


def test_predict_command_translates_and_draws_attention_maps(run, loaded, tmp_path):
    proc = run_cli(
        "predict.py",
        "--task",
        "translate",
        "--run-dir",
        run,
        "--maps",
        tmp_path / "maps",
        "big cat",
        "old car",
    )
    pngs = sorted((tmp_path / "maps").glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    pairs = dict(loaded[2])
    assert proc.stdout.splitlines()[:2] == [f"big cat\t{pairs['big cat']}", f"old car\t{pairs['old car']}"]
    old_name = run_cli(
        "-m", "keras_rnn.attention_maps", "--run-dir", run, "--out", tmp_path / "old", "big cat"
    )
    assert len(list((tmp_path / "old").glob("*.png"))) == 1 and "'big cat'" in old_name.stdout
    bad = run_cli("predict.py", "--task", "translate", "--run-dir", tmp_path, "x", check=False)
    assert bad.returncode == 2 and "no finished model" in bad.stderr
    xla = run_cli(
        "export.py", "--task", "translate", "--run-dir", run, "--out", tmp_path / "o", "--xla", check=False
    )
    assert xla.returncode == 2 and "no --xla variant" in xla.stderr and not (tmp_path / "o").exists()


def test_word_output_is_detokenized_the_same_in_graph_and_host():
    import re

    from keras_rnn.hosts import encoder_decoder

    assert encoder_decoder.DETOKENIZE == tokens.DETOKENIZE
    joined = "qui est là ? « bonjour » , dit - il ( oui ) ."
    in_graph = tokens.detokenize(tf.constant([joined]), "word")[0].numpy().decode()
    in_host = joined
    for pattern, rewrite in encoder_decoder.DETOKENIZE:
        in_host = re.sub(pattern, rewrite, in_host)
    assert in_graph == in_host == "qui est là? «bonjour», dit-il (oui)."
    assert tokens.detokenize(tf.constant(["a b ."]), "char")[0].numpy().decode() == "a b ."


# ---------------------------------------------------------------- trained on a GPU, served anywhere
def test_exported_where_keras_sees_a_gpu_it_holds_no_cudnn_op_and_answers_alike(
    translate_run, translate_exported, tmp_path
):
    assert_exported_on_a_gpu_answers_alike(translate.TASK, translate_run, *translate_exported, tmp_path)


def test_a_mixed_precision_run_exports_float32_that_answers_as_the_float32_model(tmp_path):
    """Every --attention in benchmarks/gpu_check.py; here the classic decoder (`none`), whose
    export failed with an untracked lookup table before."""
    pairs = tiny_pairs_file(tmp_path / "pairs.tsv")
    args = ["--attention", "none", "--epochs", "1", "--steps-per-epoch", "4", "--precision", "mixed_bfloat16"]
    run_cli(
        "train.py",
        "--task",
        "translate",
        "--pairs-file",
        pairs,
        "--run-dir",
        tmp_path / "run",
        *TRAIN_ARGS,
        *args,
    )
    assert_mixed_precision_run_exports(translate.TASK, tmp_path / "run", tmp_path, tolerance=0.05)


def test_app_translate_panel_shows_translations_and_attention_maps(exported, tmp_path):
    """The app's translate panel in a real browser: the signature's own translations, one attention
    map per sentence of (target tokens + <end>) x (source tokens + <end>) cells; hovering a target
    word shades the source words by its attention."""
    from selenium.webdriver import ActionChains

    from tests import browser

    sources = ["big cat", "old red coffee car"]
    answer = tf.saved_model.load(str(exported[0])).signatures["translate"](
        source=tf.constant(sources),
        beam_width=tf.constant(2),
        max_length=tf.constant(21),
        length_penalty=tf.constant(0.0),
    )
    assert answer["source_tokens"].shape[0] == 2 and answer["target_tokens"].dtype == tf.string
    with browser.page(tmp_path, translate=exported[0]) as driver:
        assert browser.submit(driver, "translate", {"sentences": "\n".join(sources), "beam_width": 2}) == ""
        results = driver.find_elements("css selector", "#translate-results .result")
        assert len(results) == 2
        for i, result in enumerate(results):
            translation = result.find_element("css selector", ".translation").text
            assert translation and translation == answer["translation"][i].numpy().decode()
            source = result.find_elements("css selector", ".source span")
            target = result.find_elements("css selector", ".target span")
            assert [s.text.lstrip("▁") for s in source] == [*sources[i].split(), "<end>"]  # subwords
            canvas = result.find_element("css selector", "canvas.attention")
            assert browser.heatmap_size(canvas) == (22 * len(source), 22 * len(target))
        ActionChains(driver).move_to_element(target[0]).perform()
        shades = [s.value_of_css_property("background-color") for s in source]
        assert all(shade.startswith("rgba(58, 111, 208") for shade in shades), shades
        browser.screenshot(driver, "translate")
