"""One label per step (many-to-many in step): a tag for every word, e.g. the punctuation that
follows it and its capitals (`keras_rnn.data.punctuation` makes such files from any text).

Reading order: config -> model -> serving -> evaluation -> task.

- Data (`keras_rnn.data.conll`, `keras_rnn.data.tagging`): CoNLL files (`token<TAB>tag`, a blank
  line between sequences), or `--dataset`, a tensorflow-datasets set (`--token-feature`,
  `--tag-feature`: conll2003's `tokens` and `ner`); without a validation file or split a seeded
  10% of training picks the checkpoint; the test sequences are scored once, with the best checkpoint.
- `--model rnn`: word embedding beside an embedding of the word's last three characters (the
  fallback for words outside the vocabulary) -> stacked GRU / LSTM / Elman / lecture cells,
  bidirectional by default (`--no-bidirectional`: left context only), masked by the lengths ->
  a softmax per step. `--model window`: the same embeddings -> `--layers` 1-D convolutions of
  `--window` words (no recurrence: each tag sees a fixed window), the benchmark's peer.
- Loss: cross-entropy per real word (the padding weighs 0); the checkpoint is picked by the
  validation punctuation F1 (`keras_rnn.data.punctuation.scores`); for tags outside the
  punctuation scheme (NER) the micro F1 over every tag but `O` (`punctuation.token_scores`).
- Served: the `tag` signature, text -> tags [B, words] and the restored text; LiteRT: the same
  model at a fixed length (twice the longest training sequence), builtin ops only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn import config as config_lib
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import punctuation, tagging
from keras_rnn.data.conll import TaggedText
from keras_rnn.data.tagging import TagIds, TagVocabulary, words_in_graph
from keras_rnn.evaluation import EvaluationCallback, best_checkpoint_summary, format_scores, print_answers
from keras_rnn.export import ServingSpec, after_checks
from keras_rnn.export.portable import rebuilt
from keras_rnn.layers.sequence import StepMask, cell_option, recurrent_stack
from keras_rnn.limits import MAX_TAG_BATCH, MAX_TAG_WORDS, MAX_TEXT_CHARS
from keras_rnn.runs import Run, load_or_build_vocabulary
from keras_rnn.tasks.base import Task, TrainingPlan

NAME = "tag"
EVAL_BATCH = 256


@dataclasses.dataclass
class Config(TrainConfig):
    epochs: int = option(30, "passes over the training data (or of --steps-per-epoch batches)")
    batch_size: int = config_lib.with_default("batch_size", 32)
    max_minutes: float = config_lib.with_default("max_minutes", 10.0)  # a few minutes on 2 cores
    # a higher rate decayed to 0 over the budget's second half: +2 validation F1 in 8 minutes
    learning_rate: float = config_lib.with_default("learning_rate", 4e-3)
    anneal: float = config_lib.with_default("anneal", 0.5)
    train_file: str | None = option(
        None, "CoNLL file: token<TAB>tag per line, a blank line between sequences"
    )
    validation_file: str | None = option(
        None, "held-out CoNLL sequences that pick the checkpoint (default: a seeded 10% of --train-file)"
    )
    test_file: str | None = option(None, "held-out CoNLL sequences scored once with the best checkpoint")
    dataset: str | None = option(
        None,
        "a tensorflow-datasets sequence-labelling set, e.g. conll2003: its train, validation (or dev) "
        "and test splits (downloaded once, when online)",
    )
    tfds_data_dir: str | None = option(
        None, "where tensorflow-datasets keeps --dataset (default ~/tensorflow_datasets)"
    )
    token_feature: str = option("tokens", "--dataset: the feature holding the words (a sequence of texts)")
    tag_feature: str = option(
        "ner",
        "--dataset: the feature holding the tags to learn (a sequence of ClassLabels; conll2003: ner, pos, chunks)",
    )
    model: str = option(
        "rnn",
        "rnn (a recurrent stack) or window (1-D convolutions over --window words)",
        choices=["rnn", "window"],
    )
    cell: str = cell_option()
    units: int = option(128, "units per recurrent layer and direction (--model window: filters)")
    layers: int = option(1, "stacked recurrent (or convolution) layers")
    bidirectional: bool = option(True, "read each sequence both ways (--no-bidirectional: left to right)")
    window: int = option(7, "--model window: words each convolution sees")
    embedding_dim: int = option(64, "word embedding size")
    suffix_dim: int = option(32, "embedding size of a word's last three characters (0 = none)")
    vocab_size: int = option(20000, "the most frequent words (and word endings) kept")
    min_count: int = option(2, "words seen fewer times in training share the unknown id")
    dropout: float = option(0.2, "dropout on the embeddings and before the softmax")


def check_config(cfg: Config) -> None:
    config_lib.require_at_least(
        cfg, 1, "units", "layers", "window", "embedding_dim", "vocab_size", "min_count"
    )
    config_lib.require_fraction(cfg, "dropout")
    if cfg.suffix_dim < 0:
        raise UserError("--suffix-dim must be >= 0 (0: no word-ending embedding)")


# ---------------------------------------------------------------- model
def build_model(cfg: Config, vocab: TagVocabulary, length=None) -> keras.Model:
    """(word ids [B, T], suffix ids [B, T], lengths [B]) -> tag logits [B, T, C]. `length` fixes
    T (the LiteRT form; same layer names and weights)."""
    words = keras.Input(shape=(length,), dtype="int32", name="words")
    suffixes = keras.Input(shape=(length,), dtype="int32", name="suffixes")
    lengths = keras.Input(shape=(), dtype="int32", name="lengths")
    mask = StepMask(name="step_mask")([words, lengths])
    x = keras.layers.Embedding(len(vocab.words) + 2, cfg.embedding_dim, name="embedding")(words)
    if cfg.suffix_dim:
        ends = keras.layers.Embedding(len(vocab.suffixes) + 2, cfg.suffix_dim, name="suffix_embedding")(
            suffixes
        )
        x = keras.layers.Concatenate(name="embeddings")([x, ends])
    x = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
    if cfg.model == "rnn":
        x = recurrent_stack(x, mask, cfg.cell, cfg.units, cfg.layers, cfg.bidirectional)
    else:
        real = keras.ops.expand_dims(keras.ops.cast(mask, x.dtype), -1)  # padding reads as zeros
        for i in range(cfg.layers):
            x = keras.layers.Conv1D(
                cfg.units, cfg.window, padding="same", activation="relu", name=f"conv_{i}"
            )(x * real)
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    logits = keras.layers.Dense(len(vocab.tags), dtype="float32", name="logits")(x)
    return keras.Model([words, suffixes, lengths], logits, name=f"tag_{cfg.model}")


# ---------------------------------------------------------------- serving
class TagServing(tf.Module):
    """The `tag` signature: texts -> tags [B, words] (padded with "") and the restored texts.
    Requests over the limits (batch, characters, words) are refused with an InvalidArgument."""

    def __init__(self, model: keras.Model, vocab: TagVocabulary, cfg: Config):
        super().__init__(name="tagger")
        self.model, self.vocab, self.cfg = model, vocab, cfg
        self.ids = TagIds(vocab)
        self.tags = tf.constant(vocab.tags)
        self.restores = punctuation.is_scheme(vocab.tags)  # else (NER tags) `restored` is the text itself
        split = [punctuation.parts(tag) for tag in vocab.tags]
        self.marks = tf.constant([punctuation.WRITTEN.get(p, "") for p, _ in split])
        self.cases = tf.constant([punctuation.CASES.index(c) for _, c in split], tf.int32)

    def tag(self, text):
        size = tf.size(text)
        checks = [
            tf.debugging.assert_positive(size, message="the request must hold at least one text"),
            tf.debugging.assert_less_equal(
                size, MAX_TAG_BATCH, message=f"at most {MAX_TAG_BATCH} texts per request"
            ),
            tf.debugging.assert_less_equal(
                tf.reduce_max(tf.strings.length(text, unit="UTF8_CHAR")),
                MAX_TEXT_CHARS,
                message=f"texts longer than {MAX_TEXT_CHARS} characters are refused",
            ),
        ]
        (text,) = after_checks(checks, text)
        words = words_in_graph(text)
        lengths = tf.cast(words.row_lengths(), tf.int32)
        too_long = tf.debugging.assert_less_equal(
            tf.reduce_max(lengths),
            MAX_TAG_WORDS,
            message=f"texts of more than {MAX_TAG_WORDS} words are refused",
        )
        (lengths,) = after_checks([too_long], lengths)
        word_ids, suffix_ids = self.ids(words)
        pad = tf.zeros([tf.shape(lengths)[0], 1], tf.int32)  # an empty text: one pad step
        inputs = [tf.concat([ids.to_tensor(0), pad], axis=1) for ids in (word_ids, suffix_ids)]
        best = tf.argmax(self.model([*inputs, lengths], training=False), axis=-1, output_type=tf.int32)
        best = tf.RaggedTensor.from_tensor(best, lengths=lengths)
        if self.restores:
            restored = tf.strings.reduce_join(self.restored_words(words, best), axis=1, separator=" ")
        else:
            restored = tf.identity(text)
        return {"tags": tf.gather(self.tags, best).to_tensor(""), "restored": restored}

    def restored_words(self, words: tf.RaggedTensor, best: tf.RaggedTensor) -> tf.RaggedTensor:
        """Each word with its tag's capitals and mark (`punctuation.restore`, in TF ops)."""
        word, case = words.flat_values, tf.gather(self.cases, best.flat_values)
        first = tf.strings.regex_replace(word, "^(.).*$", r"\1")
        capitalised = tf.strings.join(
            [tf.strings.upper(first, encoding="utf-8"), tf.strings.regex_replace(word, "^.", "")]
        )
        cased = tf.where(
            case == 2, tf.strings.upper(word, encoding="utf-8"), tf.where(case == 1, capitalised, word)
        )
        return words.with_flat_values(tf.strings.join([cased, tf.gather(self.marks, best.flat_values)]))

    def litert_fn(self):
        """The model at the fixed length `vocab.length`: (words [1, L], suffixes [1, L], lengths [1])
        -> probabilities [1, L, C]."""
        length = self.vocab.length
        self.fixed = fixed = rebuilt(lambda: build_model(self.cfg, self.vocab, length=length), self.model)

        def tag(words, suffixes, lengths):
            return {
                "probabilities": tf.nn.softmax(fixed([words, suffixes, lengths], training=False), axis=-1)
            }

        specs = [tf.TensorSpec([1, length], tf.int32, name=n) for n in ("words", "suffixes")]
        return tag, [*specs, tf.TensorSpec([1], tf.int32, name="lengths")]


# ---------------------------------------------------------------- evaluation
def predicted_tags(model: keras.Model, vocab: TagVocabulary, data: TaggedText) -> list[list[str]]:
    """The model's tag for every word of `data` (argmax per step), one list per sequence."""
    out = []
    for (words, suffixes, lengths), _, _ in tagging.make_dataset(data, vocab, EVAL_BATCH):
        best = tf.argmax(model([words, suffixes, lengths], training=False), axis=-1).numpy()
        out += [[vocab.tags[i] for i in row[:n]] for row, n in zip(best, lengths.numpy())]
    return out


def evaluate(model: keras.Model, vocab: TagVocabulary, data: TaggedText) -> dict:
    predicted, truth = sum(predicted_tags(model, vocab, data), []), sum(data.tags, [])
    if punctuation.is_scheme(vocab.tags):
        return punctuation.scores(predicted, truth, vocab.tags)
    return punctuation.token_scores(predicted, truth, vocab.tags)


def headline(found: dict) -> dict:
    """The numbers logged per epoch and printed."""
    keys = ("f1", "capitalisation_accuracy", "tag_accuracy")
    return {k: found[k] for k in keys if k in found}


# ---------------------------------------------------------------- the task interface
class TagTask(Task):
    name = NAME
    Config = Config
    Vocabulary = TagVocabulary
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        splits = tagging.load_splits(cfg)
        vocab = load_or_build_vocabulary(
            run_dir, TagVocabulary, lambda: TagVocabulary.build(splits.train, cfg)
        )
        counts = f"{len(splits.train):,} training / {len(splits.validation):,} validation"
        test_count = len(splits.test) if splits.test else 0
        print(f"{counts} / {test_count:,} test sequences; {len(vocab.tags)} tags, {len(vocab.words):,} words")
        model = build_model(cfg, vocab)
        train = tagging.make_dataset(splits.train, vocab, cfg.batch_size, cfg.seed)
        validation = tagging.make_dataset(splits.validation, vocab, EVAL_BATCH)

        def test(best: keras.Model) -> dict:
            if splits.test is None:
                return {"test_sequences": 0, "test_note": "no --test-file or test split: no test scores"}
            found = evaluate(best, vocab, splits.test)
            print(f"test: {format_scores(headline(found), 4)}")
            return {"test_sequences": len(splits.test), **{f"test_{k}": v for k, v in found.items()}}

        score = EvaluationCallback(
            lambda m: headline(evaluate(m, vocab, splits.validation)), "validation", digits=4
        )
        return TrainingPlan(
            model=model,
            train_data=train,
            validation_data=validation,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            callbacks=[score],
            steps_per_epoch=cfg.steps_per_epoch or -(-len(splits.train) // cfg.batch_size),
            summary=best_checkpoint_summary(self, run_dir, test, tags=vocab.tags),
            loss_label="cross-entropy (nats per word)",
            monitor="val_f1",
            monitor_mode="max",
        )

    def serving(self, run: Run, xla: bool = False) -> ServingSpec:
        module = TagServing(run.model, run.vocab, run.config)
        litert_fn, litert_signature = module.litert_fn()
        vocab = run.vocab
        return ServingSpec(
            name=NAME,
            module=module,
            endpoints={"tag": (module.tag, [tf.TensorSpec([None], tf.string, name="text")])},
            litert={"tag": (litert_fn, litert_signature)},
            metadata={
                "task": NAME,
                "model": run.config.model,
                "tags": vocab.tags,
                "words": ["", "[UNK]", *vocab.words],
                "suffixes": ["", "[UNK]", *vocab.suffixes],
                "suffix_chars": tagging.SUFFIX_CHARS,
                "length": vocab.length,
                "tag": {"inputs": ["words", "suffixes", "lengths"], "outputs": ["probabilities"]},
            },
            example={"signature_name": "tag", "inputs": {"text": ["and god said let there be light"]}},
        )

    def add_predict_arguments(self, parser) -> None:
        parser.add_argument(
            "texts", nargs="+", help="texts to tag: punctuate and capitalise (words separated by spaces)"
        )

    def predict(self, run: Run, args) -> None:
        """Print `text<TAB>restored text` per text (tags outside the punctuation scheme: `text<TAB>tags`)."""
        for text in args.texts:
            if len(text) > MAX_TEXT_CHARS or len(punctuation.words_of(text)) > MAX_TAG_WORDS:
                raise UserError(
                    f"texts hold at most {MAX_TEXT_CHARS:,} characters and {MAX_TAG_WORDS:,} words"
                )
        module = TagServing(run.model, run.vocab, run.config)
        answer = tf.function(module.tag)(tf.constant(args.texts))
        if module.restores:
            print_answers(args.texts, answer["restored"].numpy())
        else:
            print_answers(args.texts, [b" ".join(t for t in tags if t) for tags in answer["tags"].numpy()])


TASK = TagTask()
