"""Subword vocabulary: learning, the TF tokenizer (SavedModel, TF-only process) and its
pure-Python twin give the same ids; detokenization gives the normalised text back."""

import json
import os
import random
import subprocess
import sys
import unicodedata

import pytest
import tensorflow as tf

from keras_rnn.data import subword_py
from keras_rnn.data.subword import SubwordTokenizer, detokenize_tf, tokenize_tf
from keras_rnn.data.subword_py import SubwordTokenizerPy, SubwordVocabulary, normalize
from tests.conftest import ROOT

CORPUS = [
    "Don't stop now!",
    "I can't believe it's 3:45 already.",
    "The man's dog ran 100 metres.",
    "Est-ce que l'homme est là ?",
    "Qu'est-ce que c'est ?",
    "Je ne sais pas, dit-il.",
    "L'homme et la femme sont arrivés à 8 h 30.",
    "C'était « vraiment » très bien !",
    "¿Qué hora es?",
    "¡No me digas!",
    "El niño comió 12 manzanas, ¿verdad?",
    "Él está aquí; ella, allí.",
    "Go.",
    "Run!",
    "Wow!",
    "Hello, world... (again)",
    "Où êtes-vous allés hier ?",
    "Nous sommes allés à Montréal — en hiver.",
    'She said: "don\'t go"',
    "Well-known man-eating tigers.",
    "Ça va ? Oui, ça va.",
    "¿Dónde está la estación?",
    "Los niños están jugando en el jardín.",
    "The 1990s were great; the 2000s, not so much.",
    "Don't, won't, shan't, isn't.",
]
UNSEEN = [
    "naïve Ωμέγα ☃ 😀",
    "日本語のテキスト",
    "a\x00b",
    "tab\there\n\nnew   line",
    "\u3000wide\u2028space\x1cx",
    "▁marker ▁▁ in text",
    "",
    " ",
    "   \t ",
    "x" * 300,
    "Supercalifragilisticexpialidocious" * 5,
    "<start> <end> [UNK]",
    "l'homme'",
    "''''",
    "e\u0301 combining",
    "ﬁne ½ ＡＢＣ",
    "\ud800 lone surrogate",
    "ΌΣΟΣ Σ",
    "İstanbul",
    "\ufeffbom",
    "a-b-c-d",
    "1234567890",
    "…",
    "¿¡",
    "Don'T",
]


@pytest.fixture(scope="module")
def vocab():
    return SubwordVocabulary.learn(CORPUS, 120)


@pytest.fixture(scope="module")
def tokenizers(vocab):
    return SubwordTokenizer(vocab), SubwordTokenizerPy(vocab)


def random_texts(n, seed=0):
    """Mixes of seen and unseen characters, spaces of all kinds, punctuation and markers."""
    rng = random.Random(seed)
    alphabet = (
        list("".join(CORPUS)) + list(" \t\u00a0\u2009▁'-¿?!.,0123456789") + ["é", "ß", "Ω", "😀", "\x00", "İ"]
    )
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(n)]


def tf_ids(tokenizer, texts):
    return tokenizer(tf.constant(texts)).to_list()


def test_character_tables_match_python_and_tensorflow():
    assert set(subword_py.WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
    # Lowercasing, code point by code point (and in context: Greek final sigma, dotted I).
    chars = [chr(c) for c in range(1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    in_tf = tf.strings.lower(tf.constant(chars), encoding="utf-8").numpy()
    assert [c for c, t in zip(chars, in_tf) if subword_py.lower(c) != t.decode("utf-8")] == []
    context = ["ΑΣ Β", "ΌΣΟΣ.", "ΣΑ", "İstanbul", "ẞ ǅ", "Σ\u2c2fΣ", "AΣ\U00010570b"]
    assert [subword_py.lower(t) for t in context] == [
        t.decode("utf-8") for t in tf.strings.lower(tf.constant(context), encoding="utf-8").numpy()
    ]


def test_ids_layout_and_pretokens(vocab, tokenizers):
    assert vocab.tokens[:4] == ["", "[UNK]", "<start>", "<end>"] and vocab.first_piece_id == 4
    assert set("".join(CORPUS)) - {" "} | {"▁"} <= set(vocab.pieces)  # every character seen is a piece
    _, py = tokenizers
    assert py.pretokens("Don't stop!") == ["▁Don", "'", "t", "▁stop", "!"]
    assert py.pretokens("Est-ce que l'homme est là ?") == [
        "▁Est",
        "-",
        "ce",
        "▁que",
        "▁l",
        "'",
        "homme",
        "▁est",
        "▁là",
        "▁?",
    ]
    assert py.pretokens("¿Qué? ¡Sí!") == ["▁¿", "Qué", "?", "▁¡", "Sí", "!"]
    assert py.pretokens("1990s, «oui»") == ["▁1", "9", "9", "0", "s", ",", "▁«", "oui", "»"]
    assert py.pieces("Don't") == ["▁", "Don", "'", "t"] and py.pieces("l'homme") == ["▁l", "'", "hom", "me"]
    assert py.pieces("Va ☃") == ["▁", "[UNK]", "a", "▁", "[UNK]"]  # V and ☃ never seen
    assert {0, 2, 3}.isdisjoint(py.tokenize("<start> <end> [UNK]"))  # never padding or a special


def test_round_trip(vocab, tokenizers):
    tokenizer, py = tokenizers
    seen = set("".join(CORPUS))
    new = [
        "L'homme ne sait pas.",
        "¿Qué hora es, niño?",
        "Don't go, she said!",
        "Est-ce  que   vous êtes là ?",
        "  12 manzanas  ",
        "Ça, c'est l'été 1990 !",
        "\tRun, man! Run!\n",
    ]
    assert all(set(s) <= seen | set(" \t\n") for s in new)
    texts = CORPUS + new
    ids = tf_ids(tokenizer, texts)
    for text, row in zip(texts, ids):
        assert py.detokenize(row) == normalize(text), text
    assert [t.decode("utf-8") for t in tokenizer.detokenize(tf.ragged.constant(ids, tf.int32)).numpy()] == [
        normalize(t) for t in texts
    ]
    assert py.detokenize(py.tokenize("Don't  stop\u00a0now !")) == "Don't stop now !"  # NFKC: nbsp -> space


def test_tf_and_python_ids_equal(vocab, tokenizers):
    tokenizer, py = tokenizers
    texts = CORPUS + UNSEEN + random_texts(300)
    valid = [
        t.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for t in texts
    ]  # what TF can receive
    got = tf_ids(tokenizer, valid)
    assert got == [py.tokenize(t, nfkc=False) for t in valid]
    nfkc = [unicodedata.normalize("NFKC", t) for t in valid]
    assert tf_ids(tokenizer, nfkc) == [py.tokenize(t) for t in valid]  # NFKC text: the default host path
    assert tf_ids(tokenizer, [""]) == [[]] and tokenizer(tf.constant([], tf.string)).shape[0] == 0
    assert py.tokenize("\ud800") == [
        vocab.id_of("▁"),
        subword_py.UNKNOWN_ID,
    ]  # lone surrogate: U+FFFD, unseen
    # Invalid UTF-8 does not stop the model: bad bytes become U+FFFD (unseen: [UNK]) exactly
    # as Python's bytes.decode("utf-8", "replace") does it.
    bad = [
        b"ab\xff\xfe c",
        b"\xc3",
        b"\xe2\x82x",
        b"\xc0\xafz",
        b"\xed\xa0\x80",
        b"\xf0\x9f\x98",
        b"a\xe2\x82\xacb\x80",
    ]
    assert tokenizer(tf.constant(bad)).to_list() == [
        py.tokenize(b.decode("utf-8", "replace"), nfkc=False) for b in bad
    ]
    # Inside tf.data, batched.
    batches = tf.data.Dataset.from_tensor_slices(valid[:64]).batch(16).map(tokenizer)
    assert [row for batch in batches for row in batch.to_list()] == got[:64]


def test_detokenize_tf_equals_python(vocab, tokenizers):
    tokenizer, py = tokenizers
    rng = random.Random(1)
    rows = [[rng.randrange(-2, len(vocab) + 3) for _ in range(rng.randint(0, 20))] for _ in range(200)]
    rows += [[0, 0], [2, 3], [1], []]
    out = tokenizer.detokenize(tf.ragged.constant(rows, tf.int32, row_splits_dtype=tf.int64)).numpy()
    assert [t.decode("utf-8") for t in out] == [py.detokenize(r) for r in rows]
    # A model's padded output: <start> ... <end> then padding; specials and padding vanish.
    padded = tf.constant([[2] + py.tokenize("Don't go!") + [3, 0, 0]], tf.int32)
    assert detokenize_tf(tf.RaggedTensor.from_tensor(padded), tokenizer).numpy()[0].decode() == "Don't go!"


def test_lowercase_option():
    vocab = SubwordVocabulary.learn(CORPUS, 100, lowercase=True)
    assert vocab.lowercase and all(p == p.lower() for p in vocab.pieces)
    tokenizer, py = SubwordTokenizer(vocab), SubwordTokenizerPy(vocab)
    texts = [t for t in CORPUS + UNSEEN + random_texts(100, seed=2) if "\ud800" not in t]
    assert tf_ids(tokenizer, texts) == [py.tokenize(t, nfkc=False) for t in texts]
    assert (
        py.detokenize(py.tokenize("Don't STOP, Ça!"))
        == "don't stop, ça!"
        == normalize("Don't STOP, Ça!", True)
    )
    assert tokenize_tf(tf.constant(["DON'T"]), vocab).to_list() == [py.tokenize("don't")]


def test_save_load_and_deterministic_learning(tmp_path, vocab):
    path = tmp_path / "vocab.json"
    vocab.save(path)
    loaded = SubwordVocabulary.load(path)
    assert loaded == vocab and SubwordTokenizerPy.load(path).tokenize("L'homme!") == SubwordTokenizerPy(
        vocab
    ).tokenize("L'homme!")
    assert SubwordVocabulary.learn(list(CORPUS), 120) == vocab
    # Another process with another string-hash seed learns the same pieces (no set-order leaks),
    # and importing the pure-Python module does not import TensorFlow (the LiteRT host's rule).
    code = (
        "import json, sys; from keras_rnn.data.subword_py import SubwordVocabulary as V; "
        "print(json.dumps(V.learn(json.loads(sys.argv[1]), 120).to_json())); "
        "assert 'tensorflow' not in sys.modules"
    )
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-c", code, json.dumps(CORPUS)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        assert SubwordVocabulary.from_json(json.loads(proc.stdout)) == vocab
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a keras-rnn subword vocabulary"):
        SubwordVocabulary.load(path)


class Served(tf.Module):
    def __init__(self, vocab):
        super().__init__()
        self.tokenizer = SubwordTokenizer(vocab)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def ids(self, texts):
        ids = self.tokenizer(texts)
        return {
            "values": ids.flat_values,
            "row_splits": ids.row_splits,
            "text": self.tokenizer.detokenize(ids),
        }


def test_saved_model_in_a_tensorflow_only_process(tmp_path, vocab, tokenizers):
    _, py = tokenizers
    module = Served(vocab)
    tf.saved_model.save(module, str(tmp_path / "model"), signatures={"serving_default": module.ids})
    texts = CORPUS + UNSEEN[:12] + random_texts(50, seed=3)
    texts = [t.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for t in texts]
    code = """
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.stdin.read())
out = model.signatures["serving_default"](texts=tf.constant(texts))
ragged = tf.RaggedTensor.from_row_splits(out["values"], out["row_splits"])
direct = model.tokenizer(tf.constant(texts))
assert direct.to_list() == ragged.to_list()
assert not [m for m in sys.modules if m.startswith("keras_rnn")]
print(json.dumps({"ids": ragged.to_list(), "text": [t.decode("utf-8") for t in out["text"].numpy()]}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout)
    assert served["ids"] == tf_ids(module.tokenizer, texts) == [py.tokenize(t, nfkc=False) for t in texts]
    assert served["text"] == [py.detokenize(ids) for ids in served["ids"]]
