"""One label per sequence (many-to-one): a time series or a text in, a class label out.

Reading order: config -> data -> model -> serving -> evaluation -> task.

- Data (`keras_rnn.data.labelled`, `keras_rnn.data.classification`): a UEA/sktime `.ts` or
  `.csv` series file, a `text<TAB>label` `.tsv`, or `--dataset`, a tensorflow-datasets text set
  (its train and test splits, labels by their ClassLabel names); without `--validation-file` a
  seeded, stratified share of the training data picks the checkpoint; the test sequences are
  scored once, with the best checkpoint. Without either: generated waveforms (offline,
  deterministic by `--data-seed`).
- `--model rnn`: per-feature standardisation (training statistics, inside the model, so raw
  series sent to a server get the same answers) or a token embedding for text -> stacked GRU /
  LSTM / Elman / lecture cells, bidirectional by default, masked by the lengths -> pooling (last
  state, mean, attention, states at evenly spaced steps) -> softmax.
- `--model auto` (default): the ESN for series, the recurrent stack for text (`model_of`).
- `--model esn`: the echo state network as a classifier (`keras_rnn.layers.ESNClassifier`): a
  fixed random leaky reservoir, its states pooled, a ridge readout fitted in closed form inside
  `model.fit` — only the output weights are learned. Series only.
- Served: the `classify` signature (series + lengths, or text) -> label, probabilities, labels;
  LiteRT: the same model at a fixed length (the longest training sequence), builtin ops only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn import config as config_lib
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import labelled
from keras_rnn.data.classification import TextIds, Vocabulary, is_text, load_splits, make_dataset, padded
from keras_rnn.evaluation import best_checkpoint_summary
from keras_rnn.export import ServingSpec, after_checks, finite_check
from keras_rnn.export.portable import rebuilt
from keras_rnn.layers.sequence import (
    POOLINGS,
    ESNClassifier,
    SequencePooling,
    StepMask,
    TimeWarp,
    cell_option,
    recurrent_stack,
)
from keras_rnn.limits import MAX_CLASSIFY_BATCH, MAX_SERIES_STEPS, MAX_TEXT_CHARS
from keras_rnn.metrics import SmoothedCrossentropy
from keras_rnn.runs import Run, load_or_build_vocabulary
from keras_rnn.tasks.base import Task, TrainingPlan

NAME = "classify"
ESN_BATCH = 1024  # sequences per batch of the closed-form fit (all in one epoch)


@dataclasses.dataclass
class Config(TrainConfig):
    epochs: int = option(100, "passes over the training data (the ESN: one closed-form fit)")
    batch_size: int = config_lib.with_default("batch_size", 32)
    anneal: float = config_lib.with_default("anneal", 1.0)  # the rate decays to 0 over the whole run
    learning_rate: float = config_lib.with_default("learning_rate", 5e-3)  # chosen by CV (classify.md)
    train_file: str | None = option(
        None,
        "labelled sequences: a .ts (UEA/sktime) or .csv series file, or a text<TAB>label .tsv "
        "(default: generated waveforms)",
    )
    validation_file: str | None = option(
        None, "held-out sequences that pick the checkpoint (default: --validation-share of --train-file)"
    )
    validation_share: float = option(
        0.1,
        "without --validation-file: the stratified share of --train-file held out to pick the "
        "checkpoint (0: train on all of it and keep the last weights)",
    )
    test_file: str | None = option(None, "held-out sequences scored once with the best checkpoint")
    dataset: str | None = option(
        None,
        "a tensorflow-datasets text set with a ClassLabel `label`, e.g. imdb_reviews: its train and "
        "test splits (downloaded once, when online)",
    )
    tfds_data_dir: str | None = option(
        None, "where tensorflow-datasets keeps --dataset (default ~/tensorflow_datasets)"
    )
    model: str = option(
        "auto",
        "rnn (a trained recurrent stack), esn (a fixed reservoir with a closed-form ridge readout) "
        "or auto: esn for series, rnn for text (chosen by CV: docs/classify.md)",
        choices=["auto", "rnn", "esn"],
    )
    cell: str = cell_option()
    units: int = option(64, "--model rnn: units per recurrent layer (and direction)")
    layers: int = option(1, "--model rnn: stacked recurrent layers")
    committee: int = option(
        1, "independent recurrent stacks in one model, their logits averaged (--model rnn)"
    )
    bidirectional: bool = option(True, "--model rnn: read each sequence both ways")
    pooling: str = option("mean", "--model rnn: how the states become one vector", choices=list(POOLINGS))
    points: int = option(
        3,
        "--pooling points and mean+points (and the ESN's read-out): states at this many evenly spaced steps",
    )
    dropout: float = option(0.3, "--model rnn: dropout before the classifier layer")
    label_smoothing: float = option(
        0.3, "--model rnn: label smoothing of the training loss (0 = plain cross-entropy; chosen by CV)"
    )
    noise: float = option(
        0.7, "--model rnn: Gaussian noise added to the standardised series in training (0 = off)"
    )
    warp: float = option(
        0.0,
        "series, --model rnn: warp each training series' time axis within its length by up to this much (0 = off, < 1)",
    )
    crop: float = option(
        0.0,
        "series, --model rnn: read a random part of each training series over its whole length, "
        "each end cut by up to this share of the length (0 = off, < 0.5)",
    )
    embedding_dim: int = option(64, "text: token embedding size")
    level: str = option("char", "text: tokens are characters or words", choices=["char", "word"])
    vocab_size: int = option(2000, "text: the most frequent tokens kept (others are <unk>)")
    lowercase: bool = option(False, "text: lowercase before tokenizing")
    reservoir_units: int = option(500, "--model esn: reservoir units")
    spectral_radius: float = option(0.9, "--model esn: spectral radius of the reservoir")
    leak_rate: float = option(0.3, "--model esn: leak rate of the reservoir units")
    input_scaling: float = option(0.25, "--model esn: scale of the input weights")
    bias_scaling: float = option(0.5, "--model esn: scale of the reservoir units' random biases")
    alpha: float = option(3.0, "--model esn: ridge regularisation of the readout")
    reservoirs: int = option(
        1, "--model esn: a committee of reservoirs (seeds seed * N + k), one readout over all their states"
    )
    both_ways: bool = option(False, "--model esn: each reservoir also reads every series reversed")
    generated: int = option(600, "the generated waveforms' training sequences (validation and test: a third)")


# Options one model reads and the other would silently ignore: given with the other, refused.
RNN_ONLY = ("units", "layers", "cell", "bidirectional", "committee", "pooling", "dropout")
RNN_ONLY += ("label_smoothing", "noise")
ESN_ONLY = ("reservoir_units", "spectral_radius", "leak_rate", "input_scaling", "bias_scaling")
ESN_ONLY += ("alpha", "reservoirs", "both_ways")


def check_config(cfg: Config) -> None:
    config_lib.require_at_least(
        cfg, 1, "units", "layers", "committee", "points", "embedding_dim", "vocab_size"
    )
    config_lib.require_at_least(cfg, 1, "reservoir_units", "reservoirs", "generated")
    config_lib.require_fraction(cfg, "dropout", "validation_share", "label_smoothing")
    if cfg.noise < 0 or cfg.alpha < 0:
        raise UserError("--noise and --alpha must be >= 0")
    if not 0 <= cfg.warp < 1:
        raise UserError(f"--warp must be in [0, 1), got {cfg.warp}")
    if not 0 <= cfg.crop < 0.5:
        raise UserError(f"--crop must be in [0, 0.5), got {cfg.crop}")
    text, model = reads_text(cfg), model_of(cfg)
    if model == "esn" and text:
        raise UserError("--model esn reads series (its inputs are not learned); for text use --model rnn")
    if (cfg.warp or cfg.crop) and (text or model == "esn"):
        raise UserError(
            "--warp and --crop change the series a recurrent stack trains on: series with --model rnn only"
        )
    other = ESN_ONLY if model == "rnn" else RNN_ONLY
    given = [name for name in other if getattr(cfg, name) != Config.__dataclass_fields__[name].default]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        needs = "esn" if model == "rnn" else "rnn"
        why = " (--model auto: series get the ESN, text the recurrent stack)" if cfg.model == "auto" else ""
        raise UserError(f"{flags}: options of --model {needs}, this run is --model {model}{why}")


def reads_text(cfg: Config) -> bool:
    return bool(cfg.dataset or cfg.train_file and is_text(cfg.train_file))


def model_of(cfg: Config) -> str:
    """--model, with auto resolved: the ESN for series (fewer test errors than the trained stack
    in cross-validation and on Japanese Vowels, in seconds), the recurrent stack for text."""
    if cfg.model != "auto":
        return cfg.model
    return "rnn" if reads_text(cfg) else "esn"


# ---------------------------------------------------------------- model
def reservoir_args(cfg: Config) -> dict:
    return dict(
        units=cfg.reservoir_units,
        spectral_radius=cfg.spectral_radius,
        leak_rate=cfg.leak_rate,
        input_scaling=cfg.input_scaling,
        bias_scaling=cfg.bias_scaling,
        connectivity=0.1,
        seed=cfg.seed,
    )


def build_model(cfg: Config, vocab: Vocabulary, length=None) -> keras.Model:
    """(sequences [B, T, F] float or token ids [B, T], lengths [B]) -> class logits [B, C] (the
    ESN: readout scores). `length` fixes T (the LiteRT form; same layer names and weights)."""
    classes = len(vocab.labels)
    if model_of(cfg) == "esn":
        variance = (np.asarray(vocab.std, np.float64) ** 2).tolist()
        return ESNClassifier(
            vocab.features,
            classes,
            reservoir_args(cfg),
            cfg.alpha,
            cfg.points,
            vocab.mean,
            variance,
            committee=cfg.reservoirs,
            both_ways=cfg.both_ways,
            name="esn",
        )
    lengths = keras.Input(shape=(), dtype="int32", name="lengths")
    if vocab.kind == "series":
        sequences = keras.Input(shape=(length, vocab.features), name="series")
    else:
        sequences = keras.Input(shape=(length,), dtype="int32", name="tokens")
    mask = StepMask(name="step_mask")([sequences, lengths])
    if vocab.kind == "series":
        variance = (np.asarray(vocab.std, np.float64) ** 2).tolist()
        x = keras.layers.Normalization(axis=-1, mean=vocab.mean, variance=variance, name="standardize")(
            sequences
        )
        if cfg.warp or cfg.crop:
            x = TimeWarp(cfg.warp, seed=cfg.seed, crop=cfg.crop, name="time_warp")(x, mask=mask)
        if cfg.noise:
            x = keras.layers.GaussianNoise(cfg.noise, name="noise")(x)
    else:
        x = keras.layers.Embedding(len(vocab.tokens), cfg.embedding_dim, name="embedding")(sequences)
    members = [
        member_logits(cfg, x, mask, classes, suffix=f"_{k}" if k else "") for k in range(cfg.committee)
    ]
    logits = keras.layers.Average(name="committee")(members) if len(members) > 1 else members[0]
    return keras.Model([sequences, lengths], logits, name=f"classify_{cfg.cell}")


def member_logits(cfg: Config, x, mask, classes: int, suffix: str = ""):
    """One recurrent stack -> pooling -> dropout -> logits; a committee's members are independent
    stacks (own initial weights) over the same standardised inputs, their logits averaged."""
    x = recurrent_stack(x, mask, cfg.cell, cfg.units, cfg.layers, cfg.bidirectional, suffix)
    x = SequencePooling(cfg.pooling, cfg.points, name=f"pooling{suffix}")(x, mask=mask)
    x = keras.layers.Dropout(cfg.dropout, name=f"dropout{suffix}")(x)
    return keras.layers.Dense(classes, dtype="float32", name=f"logits{suffix}")(x)


def probabilities(cfg: Config, scores):
    """Logits -> softmax; the ESN's ridge scores (fitted to one-hot targets) -> their positive
    parts, normalised (a vote share; uniform when none is positive). Scores that overflowed
    float32 (NaN, inf) give NaN, never a uniform vote: the serving code refuses them."""
    if model_of(cfg) != "esn":
        return tf.nn.softmax(scores, axis=-1)
    positive = tf.nn.relu(scores)
    total = tf.reduce_sum(positive, axis=-1, keepdims=True)
    uniform = tf.ones_like(scores) / tf.cast(tf.shape(scores)[-1], scores.dtype)
    overflowed = 0.0 * tf.reduce_sum(scores, axis=-1, keepdims=True)  # 0, or NaN
    return tf.where(total > 0, positive / tf.maximum(total, 1e-12), uniform) + overflowed


# ---------------------------------------------------------------- serving
class ClassifyServing(tf.Module):
    """The `classify` signature: series (zero-padded) and lengths, or texts -> label, probabilities,
    labels. Requests are checked (lengths within the padding, finite values, batch and length
    limits) and refused with an InvalidArgument naming what is wrong."""

    def __init__(self, model: keras.Model, vocab: Vocabulary, cfg: Config):
        super().__init__(name="classifier")
        self.model, self.vocab, self.cfg = model, vocab, cfg
        self.labels = tf.constant(vocab.labels)
        self.text_ids = TextIds(vocab) if vocab.kind == "text" else None

    def answer(self, scores) -> dict:
        """Every output one row per sequence (TF Serving's row format needs it): `labels` [B, C]
        names the columns of `probabilities`. Values near the float32 limit can overflow the
        standardised series: such an answer is refused, never NaN."""
        message = "the answer overflowed float32: the input values are too large"
        probs = tf.debugging.assert_all_finite(probabilities(self.cfg, scores), message)
        return {
            "label": tf.gather(self.labels, tf.argmax(probs, axis=-1, output_type=tf.int32)),
            "probabilities": probs,
            "labels": tf.tile(self.labels[None], [tf.shape(probs)[0], 1]),
        }

    def classify(self, series, lengths):
        steps, batch = tf.shape(series)[1], tf.shape(series)[0]
        checks = [
            tf.debugging.assert_positive(batch, message="the request must hold at least one series"),
            tf.debugging.assert_less_equal(
                batch, MAX_CLASSIFY_BATCH, message=f"at most {MAX_CLASSIFY_BATCH} series per request"
            ),
            tf.debugging.assert_less_equal(
                steps, MAX_SERIES_STEPS, message=f"series longer than {MAX_SERIES_STEPS} steps are refused"
            ),
            tf.debugging.assert_positive(lengths, message="every length must be at least 1"),
            tf.debugging.assert_less_equal(
                lengths, steps, message="a length is longer than the series sent (its padding)"
            ),
            finite_check("series", series),
        ]
        series, lengths = after_checks(checks, series, lengths)
        return self.answer(self.model([series, lengths], training=False))

    def classify_text(self, text):
        checks = [
            tf.debugging.assert_positive(tf.size(text), message="the request must hold at least one text"),
            tf.debugging.assert_less_equal(
                tf.size(text), MAX_CLASSIFY_BATCH, message=f"at most {MAX_CLASSIFY_BATCH} texts per request"
            ),
            tf.debugging.assert_less_equal(
                tf.reduce_max(tf.strings.length(text, unit="UTF8_CHAR")),
                MAX_TEXT_CHARS,
                message=f"texts longer than {MAX_TEXT_CHARS} characters are refused",
            ),
        ]
        (text,) = after_checks(checks, text)
        ids, lengths = self.text_ids(text)
        ids = tf.concat(
            [ids, tf.zeros([tf.shape(ids)[0], 1], tf.int32)], axis=1
        )  # an empty text: one pad step
        return self.answer(self.model([ids, lengths], training=False))

    def litert_fn(self):
        """The model at the fixed length `vocab.length` (its loop becomes a builtin WHILE):
        (series [1, L, F] or tokens [1, L], lengths [1]) -> probabilities [1, C]."""
        length = self.vocab.length
        self.fixed = fixed = rebuilt(lambda: build_model(self.cfg, self.vocab, length=length), self.model)

        def classify(sequences, lengths):
            return {"probabilities": probabilities(self.cfg, fixed([sequences, lengths], training=False))}

        if self.vocab.kind == "series":
            first = tf.TensorSpec([1, length, self.vocab.features], tf.float32, name="series")
        else:
            first = tf.TensorSpec([1, length], tf.int32, name="tokens")
        return classify, [first, tf.TensorSpec([1], tf.int32, name="lengths")]


def signature(vocab: Vocabulary) -> list:
    if vocab.kind == "text":
        return [tf.TensorSpec([None], tf.string, name="text")]
    return [
        tf.TensorSpec([None, None, vocab.features], tf.float32, name="series"),
        tf.TensorSpec([None], tf.int32, name="lengths"),
    ]


# ---------------------------------------------------------------- evaluation
def predicted_labels(serving: ClassifyServing, data, batch_size: int = 256) -> list[str]:
    """What the `classify` signature answers for `data` (in batches)."""
    fn = tf.function(serving.classify_text if serving.vocab.kind == "text" else serving.classify)
    out = []
    for i in range(0, len(data), batch_size):
        part = labelled._take(data, list(range(i, min(i + batch_size, len(data)))))
        args = (
            [tf.constant(part.texts)]
            if serving.vocab.kind == "text"
            else list(map(tf.constant, padded(part)))
        )
        out += [label.decode("utf-8") for label in fn(*args)["label"].numpy()]
    return out


def scores(predicted: list[str], truth: list[str], labels: list[str]) -> dict:
    """Accuracy, errors, per-class recall and the confusion table (rows: true label, columns: predicted)."""
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), int)
    for p, t in zip(predicted, truth):
        confusion[index[t], index[p]] += 1
    errors = int(sum(p != t for p, t in zip(predicted, truth)))
    recall = {
        label: float(confusion[i, i] / row) for i, label in enumerate(labels) if (row := confusion[i].sum())
    }
    return {
        "accuracy": 1 - errors / max(1, len(truth)),
        "errors": errors,
        "recall": recall,
        "confusion": {"labels": labels, "matrix": confusion.tolist()},
    }


# ---------------------------------------------------------------- the task interface
class ClassifyTask(Task):
    name = NAME
    Config = Config
    Vocabulary = Vocabulary
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        splits = load_splits(cfg)
        vocab = load_or_build_vocabulary(run_dir, Vocabulary, lambda: Vocabulary.build(splits.train, cfg))
        held = len(splits.validation) if splits.validation else 0
        counts = f"{len(splits.train):,} training / {held:,} validation"
        test_count = len(splits.test) if splits.test else 0
        print(f"{counts} / {test_count:,} test {vocab.kind}; {len(vocab.labels)} classes")
        model = build_model(cfg, vocab)
        esn = model_of(cfg) == "esn"
        batch = min(len(splits.train), ESN_BATCH) if esn else cfg.batch_size  # ESN: one pass
        train = make_dataset(splits.train, vocab, batch, cfg.seed)
        validation = make_dataset(splits.validation, vocab, 256) if splits.validation else None

        def test(best: keras.Model) -> dict:
            if splits.test is None:
                return {"test_sequences": 0, "test_note": "no --test-file: no test scores"}
            found = scores(
                predicted_labels(ClassifyServing(best, vocab, cfg), splits.test),
                splits.test.labels,
                vocab.labels,
            )
            print(f"test: accuracy {found['accuracy']:.4f}, {found['errors']} errors of {len(splits.test)}")
            return {"test_sequences": len(splits.test), **{f"test_{k}": v for k, v in found.items()}}

        smoothing = 0.0 if esn else cfg.label_smoothing  # the ESN's scores are no logits
        return TrainingPlan(
            model=model,
            train_data=train,
            validation_data=validation,
            loss=SmoothedCrossentropy(smoothing, ignore_class=None)
            if smoothing
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            steps_per_epoch=cfg.steps_per_epoch or -(-len(splits.train) // batch),
            epochs=1 if esn else None,
            summary=best_checkpoint_summary(self, run_dir, test, kind=vocab.kind, classes=len(vocab.labels)),
            loss_label=("label-smoothed " if smoothing else "") + "cross-entropy (nats per sequence)",
        )

    def serving(self, run: Run, xla: bool = False) -> ServingSpec:
        cfg, vocab = run.config, run.vocab
        module = ClassifyServing(run.model, vocab, cfg)
        litert_fn, litert_signature = module.litert_fn()
        endpoint = module.classify_text if vocab.kind == "text" else module.classify
        if vocab.kind == "text":
            example = {"text": ["an example"]}
        else:
            example = {"series": [[[0.0] * vocab.features] * 2], "lengths": [2]}
        return ServingSpec(
            name=NAME,
            module=module,
            endpoints={"classify": (endpoint, signature(vocab))},
            litert={"classify": (litert_fn, litert_signature)},
            metadata={
                "task": NAME,
                "kind": vocab.kind,
                "model": model_of(cfg),
                "labels": vocab.labels,
                "length": vocab.length,
                "features": vocab.features,
                **(
                    {"tokens": vocab.tokens.tokens, "level": vocab.level, "lowercase": vocab.lowercase}
                    if vocab.kind == "text"
                    else {}
                ),
                "classify": {
                    "inputs": ["series" if vocab.kind == "series" else "tokens", "lengths"],
                    "outputs": ["probabilities"],
                },
            },
            example={"signature_name": "classify", "inputs": example},
        )

    def add_predict_arguments(self, parser) -> None:
        parser.add_argument("inputs", nargs="+", help="a .ts / .csv series file, or texts to label")

    def predict(self, run: Run, args) -> None:
        """Print `input<TAB>label` lines: one per series of a file, or per text given."""
        module = ClassifyServing(run.model, run.vocab, run.config)
        if run.vocab.kind == "series":
            for path in args.inputs:
                data = labelled.read_labelled_series(path)
                if data.features != run.vocab.features:
                    raise UserError(
                        f"{path}: {data.features} features per step; the run reads {run.vocab.features}"
                    )
                for line, label in zip(data.lines, predicted_labels(module, data)):
                    print(f"{path}:{line}\t{label}")
        else:
            count = len(args.inputs)
            data = labelled.LabelledText(list(args.inputs), [""] * count, lines=list(range(1, count + 1)))
            for text, label in zip(args.inputs, predicted_labels(module, data)):
                print(f"{text}\t{label}")


TASK = ClassifyTask()
