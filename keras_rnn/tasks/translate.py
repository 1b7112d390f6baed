"""Translation: bidirectional recurrent encoder, recurrent decoder with attention.

Reading order: config -> model -> serving -> evaluation -> task (the data and vocabularies:
`keras_rnn.data.translation`).

- Encoder: embedding -> bidirectional GRU/LSTM layers (padding masked). Its
  outputs h_j are the memory the decoder attends to; its final forward and
  backward states start the decoder.
- Decoder: `keras_rnn.layers.AttentionDecoder` (Bahdanau or Luong attention with input
  feeding, its query the previous state or, `--attention-query conditional`, Nematus's
  conditional GRU; `cross` attention after the decoder RNN; or none: `--attention none` is
  the classic encoder-decoder of the same size, the baseline).
- Tokens (`keras_rnn.data.translation`): cased subword pieces learned from the training
  split (the default for sentence pairs), words or characters, in TF ops inside the
  model, so the exported model takes raw strings and writes real text. The dates task
  is character level by default (`--level auto`): "9/3/85" is read digit by digit.
- Evaluation as the field does it: the validation split only picks the checkpoint; test
  scores (sacrebleu BLEU and chrF, with their signatures) compare the detokenized output
  with the test targets as the file has them, and exist only where there is a test split.
- Over-long sources are truncated to --max-source-len tokens (documented, same in the
  SavedModel and LiteRT); an empty source translates to "".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import tensorflow as tf
from keras import ops

from keras_rnn import UserError, command_line_text, metrics, plots
from keras_rnn import config as config_lib
from keras_rnn.config import TrainConfig, option
from keras_rnn.data.tokens import END, PAD_ID, tokenize
from keras_rnn.data.translation import (
    LEVELS,
    TARGET_END_ID,
    TARGET_START_ID,
    Splits,
    Vectorizer,
    Vocabulary,
    load_pairs,
    make_dataset,
    resolved_level,
)
from keras_rnn.evaluation import best_checkpoint_summary, test_entries
from keras_rnn.export import ServingSpec, after_checks, request_signature
from keras_rnn.export import encoder_decoder as ed
from keras_rnn.export.encoder_decoder import DecodingReport, EncoderDecoderServing, greedy_texts
from keras_rnn.export.portable import rebuilt
from keras_rnn.layers.decoder import ATTENTION, CELLS, QUERIES, RNN_LAYERS, AttentionDecoder, states_per_cell
from keras_rnn.limits import MAX_OUTPUT_TOKENS
from keras_rnn.runs import Run, load_or_build_vocabulary
from keras_rnn.tasks.base import Task, TrainingPlan

NAME = "translate"
LENGTH_BUCKETS = (10, 20, 30, 40)  # test scores are also reported per source-length bucket (tokens)
# --select-by: the logged number that picks the checkpoint, and its better direction
SELECTION = {
    "bleu": {"monitor": "val_bleu", "monitor_mode": "max"},
    "loss": {"monitor": "val_loss", "monitor_mode": "min"},
}


@dataclasses.dataclass
class Config(TrainConfig):
    epochs: int = option(
        30, "passes over the training data (or of --steps-per-epoch batches); --max-minutes may end it sooner"
    )
    pairs_file: str | None = config_lib.train_file(
        "tab-separated sentence pairs (Anki/Tatoeba: source<TAB>target[<TAB>attribution]), split "
        "80/10/10 by --data-seed unless --validation-file; default: the generated dates task"
    )
    validation_file: str | None = option(
        None,
        "held-out pairs (same format) that pick the checkpoint and are reported as validation; "
        "--train-file is then all training data",
    )
    test_file: str | None = option(
        None,
        "held-out pairs (same format) for the test scores, never trained on nor used to pick a "
        "checkpoint (without it, --validation-file runs have no test scores)",
    )
    dataset: str | None = option(
        None,
        "a tensorflow-datasets translation set, e.g. ted_hrlr_translate/pt_to_en "
        "(downloaded once, when online)",
    )
    tfds_data_dir: str | None = option(
        None, "where tensorflow-datasets keeps --dataset (default ~/tensorflow_datasets)"
    )
    reverse: bool = option(
        False, "swap the direction of --train-file or --dataset (translate target -> source)"
    )
    max_pairs: int | None = option(None, "use only the first N pairs of --train-file")
    dates_train: int = option(10000, "dates task: training pairs (validation and test: --dates-eval each)")
    dates_eval: int = option(1000, "dates task: validation and test pairs (separate seeds)")
    level: str = option(
        "auto",
        "tokens: subword (cased BPE pieces), word, char, or auto (char for dates, subword otherwise)",
        choices=["auto", *LEVELS],
    )
    lowercase: bool = option(False, "lowercase all text (training, the SavedModel and the LiteRT host)")
    source_vocab: int = option(8000, "source vocabulary size (subword pieces, or the most frequent words)")
    target_vocab: int = option(8000, "target vocabulary size")
    max_source_len: int = option(48, "source tokens kept (longer sources are truncated; LiteRT input length)")
    max_target_len: int = option(
        48, "target tokens kept, <start>/<end> not counted (longer training pairs are skipped and counted)"
    )
    bucket_width: int = option(
        4, "batch training pairs of similar length (buckets this many tokens wide): less padding; 0 = off"
    )
    cell: str = option("gru", "recurrent cell of encoder and decoder", choices=list(CELLS))
    units: int = option(256, "units per direction of each encoder layer, and of the decoder")
    layers: int = option(1, "bidirectional encoder layers")
    embedding_dim: int = option(256, "token embedding size (source and target)")
    attention: str = option(
        "cross",
        "bahdanau (additive) or luong (multiplicative), both with input feeding; cross (attention after "
        "the decoder RNN, the TF tutorial's form: fastest to train); none (classic encoder-decoder)",
        choices=list(ATTENTION),
    )
    dropout: float = option(0.3, "dropout on the source embeddings and on the decoder's output features")
    target_dropout: float = option(0.0, "dropout on the decoder's input (previous target token) embeddings")
    readout: str = option(
        "residual",
        "the decoder's readout: residual (W LayerNorm(s + W_c c), the tutorial's: a 3x smaller vocabulary "
        "projection) or concat (W [s; c], the papers': Bahdanau's attention maps align better with it)",
        choices=["residual", "concat"],
    )
    label_smoothing: float = option(0.1, "label smoothing of the training loss (0 = plain cross-entropy)")
    anneal: float = config_lib.with_default("anneal", 0.3)
    attention_units: int = option(64, "size of the additive attention's hidden layer")
    attention_query: str = option(
        "previous",
        "bahdanau/luong: the query is the previous state (Bahdanau et al.) or, conditional, the state "
        "after a first cell read the previous token (Nematus's cGRU; a second cell reads the context)",
        choices=list(QUERIES),
    )
    eval_sentences: int = option(
        2000, "validation sentences translated after each epoch for exact match, BLEU, chrF"
    )
    select_by: str = option(
        "bleu",
        "what picks the checkpoint and stops early: the BLEU of those greedy translations "
        "(val_bleu), or the validation loss",
        choices=list(SELECTION),
    )
    heatmaps: int = option(3, "attention heat-maps written at the end of training")


def check_config(cfg: Config) -> None:
    """Refuse sizes that cannot work before reading any data."""
    sizes = "units layers embedding_dim attention_units source_vocab target_vocab max_source_len"
    config_lib.require_at_least(
        cfg, 1, *sizes.split(), "max_target_len", "dates_train", "dates_eval", "max_pairs"
    )
    config_lib.require_at_least(cfg, 0, "eval_sentences", "heatmaps", "bucket_width")
    if cfg.select_by == "bleu" and not cfg.eval_sentences:
        raise UserError("--eval-sentences must be at least 1 with --select-by bleu (or use --select-by loss)")
    config_lib.require_fraction(cfg, "dropout", "target_dropout", "label_smoothing")
    if cfg.attention_query == "conditional" and cfg.attention not in ("bahdanau", "luong"):
        raise UserError("--attention-query conditional needs --attention bahdanau or luong")


# ---------------------------------------------------------------- model
def build_encoder(cfg: Config, vocab_size: int, length=None) -> keras.Model:
    """source ids [B, S] -> memory [B, S, 2U] and, per state of the cell, [forward; backward] final state [B, 2U].

    A fixed `length` gives the form LiteRT converts with builtin ops only (its loop
    becomes a builtin WHILE; `unroll=True` would, but Keras then misplaces the
    backward outputs of padded inputs). Same layer names: `set_weights` copies over."""
    source = keras.Input(shape=(length,), dtype="int32", name="source")
    x = keras.layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=True, name="source_embedding")(source)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="source_dropout")(x)
    finals = []
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        rnn = keras.layers.Bidirectional(
            RNN_LAYERS[cfg.cell](cfg.units, return_sequences=True, return_state=last), name=f"encoder_{i}"
        )
        x, *finals = rnn(x) if last else [rnn(x)]
    n = states_per_cell(cfg.cell)
    summaries = [
        keras.layers.Concatenate(name=f"final_state_{j}")([finals[j], finals[n + j]]) for j in range(n)
    ]
    return keras.Model(source, [x, *summaries], name="encoder")


def build_model(cfg: Config, source_vocab_size: int, target_vocab_size: int) -> keras.Model:
    """(source ids [B, S], target input ids [B, T]) -> logits [B, T, V] (teacher forcing)."""
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    memory, *summaries = build_encoder(cfg, source_vocab_size)(source)
    decoder = AttentionDecoder(
        target_vocab_size,
        cfg.embedding_dim,
        cfg.units,
        2 * cfg.units,
        cell=cfg.cell,
        attention=cfg.attention,
        attention_units=cfg.attention_units,
        dropout=cfg.dropout,
        readout=cfg.readout,
        input_dropout=cfg.target_dropout,
        query=cfg.attention_query,
        name="decoder",
    )
    logits = decoder(target_in, memory, ops.not_equal(source, PAD_ID), summaries)
    return keras.Model([source, target_in], logits, name=f"translate_{cfg.cell}_{cfg.attention}")


# ---------------------------------------------------------------- serving
class TranslateServing(EncoderDecoderServing):
    """Strings in, strings out: tokenization, encoder, greedy/beam search, detokenization.
    Exported as the SavedModel `translate` signature, and (fixed shapes, ids only) as the
    LiteRT `encoder` and `decoder_step`."""

    start_id, end_id, max_length_limit = TARGET_START_ID, TARGET_END_ID, MAX_OUTPUT_TOKENS
    text_output = "translation"

    def __init__(self, model: keras.Model, vocab: Vocabulary, cfg: Config):
        super().__init__(model, vocab.target.tokens, name="translator")
        self.cfg, self.level = cfg, vocab.level
        self.max_steps = cfg.max_target_len + 1  # decoding steps: the longest target trained on, then <end>
        self.vectorizer = Vectorizer(vocab, cfg.max_source_len)
        self.source_vocab_size = len(vocab.source)

    def encode(self, source_ids, encoder=None):
        memory, *summaries = (encoder or self.encoder)(source_ids)
        return memory, tf.not_equal(source_ids, PAD_ID), summaries

    def translate(self, source, beam_width, max_length, length_penalty):
        checks = self.request_checks(source, beam_width, max_length, "source sentence")
        source, beam_width, max_length = after_checks(checks, source, beam_width, max_length)
        # translation, score, attention, length, and the tokens of attention's rows and columns
        # (source_tokens, target_tokens; "" pads them): the app draws the map from them
        return self.decode(source, beam_width, max_length, length_penalty)

    def decode(self, source, beam_width, max_length, length_penalty=0.0) -> dict:
        source_ids, source_lengths = self.vectorizer.source(source)
        out = self.to_text(self.search(source_ids, beam_width, max_length, length_penalty))
        empty = source_lengths == 0
        return {
            "translation": tf.where(empty, "", out["text"]),
            "score": tf.where(empty, 0.0, out["score"]),
            "attention": out["attention"],
            "length": out["length"],
            "source_tokens": self.vectorizer.source_tokens(source_ids),
            "target_tokens": out["tokens"],
        }

    # LiteRT: the encoder with a fixed source length (its loop becomes a builtin WHILE).
    def litert_encoder_fn(self):
        """source ids [1, S] (0-padded, ending in <end>) -> memory, mask, decoder state."""
        length = self.cfg.max_source_len + 1
        self.fixed_encoder = rebuilt(
            lambda: build_encoder(self.cfg, self.source_vocab_size, length), self.encoder
        )
        return self.litert_encoder, [tf.TensorSpec([1, length], tf.int32, name="source")]

    def litert_encoder(self, source):
        """`encode` with the fixed-length encoder (made by `litert_encoder_fn`), as LiteRT runs it."""
        return self.litert_state(*self.encode(source, self.fixed_encoder))


def translate_signature():
    return request_signature("source", beam_width=tf.int32, max_length=tf.int32, length_penalty=tf.float32)


# ---------------------------------------------------------------- evaluation and callbacks
def test_scores(serving: TranslateServing, splits: Splits) -> dict:
    """Test scores as the field reports them: sacrebleu BLEU and chrF (with their signatures, and
    case-insensitive) of the detokenized greedy output against the untouched test references,
    also per source-length bucket (words). Empty without a test split."""
    if not splits.test:
        print("test: no test split (--validation-file without --test-file): no test scores")
        return {"test_pairs": 0, "test_note": "no test split: give --test-file for test scores"}
    sources = [s for s, _ in splits.test]
    hypotheses, _ = greedy_texts(serving, sources)  # as the exported `translate` gives them
    lengths = tokenize(tf.constant(sources), "word", lowercase=True).row_lengths().numpy()
    return test_entries(
        "test_pairs",
        len(sources),
        metrics.sacrebleu_scores(hypotheses, splits.test_references),
        [
            {"source": s, "reference": r, "translation": h}
            for s, r, h in zip(sources[:5], splits.test_references[:5], hypotheses[:5])
        ],
        test_by_source_length=metrics.scores_by_length(
            lengths, hypotheses, splits.test_references, LENGTH_BUCKETS
        ),
    )


def write_heatmaps(serving: TranslateServing, sources: list[str], out_dir: Path, greedy=None) -> list[Path]:
    """One attention heat-map PNG per source sentence (greedy translation)."""

    def draw(out, i, path):
        src = [t.decode("utf-8") for t in out["source_tokens"][i].numpy() if t] + [END]
        tgt = [t.decode("utf-8") for t in out["target_tokens"][i].numpy() if t]
        steps = min(len(tgt) + 1, out["attention"].shape[1])  # + the <end> step
        tgt = (tgt + [END])[:steps]
        weights, title = out["attention"][i, :steps, : len(src)].numpy(), out["translation"][i].numpy()
        plots.plot_attention(path, weights, src, tgt, title=title.decode("utf-8"))

    return ed.attention_maps(serving, sources, out_dir, draw, greedy)


def validation_report(cfg: Config, vocab: Vocabulary, pairs, run_dir: Path) -> DecodingReport:
    """After each epoch: greedy-translate a validation sample, log val_exact_match, val_bleu,
    val_chrf (so they reach the CSV log); at the end: attention heat-maps."""
    pairs = pairs[: cfg.eval_sentences]
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]

    def heatmaps(module, greedy):
        if cfg.heatmaps and pairs:
            write_heatmaps(module, sources[: cfg.heatmaps], run_dir / "attention", greedy=greedy)

    return DecodingReport(
        lambda model: TranslateServing(model, vocab, cfg),
        sources,
        lambda translations: metrics.text_scores(translations, targets),  # exact match, BLEU, chrF
        f"validation sample ({len(pairs)})",
        draw=heatmaps,
    )


# ---------------------------------------------------------------- the task interface
class TranslateTask(Task):
    """`--task translate`: sentence pairs in; served as `translate` (strings in and out), and as the
    LiteRT `encoder` and `decoder_step`; `predict.py` translates (and draws attention maps)."""

    name = NAME
    Config = Config
    Vocabulary = Vocabulary
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        splits = load_pairs(cfg)
        train_pairs, val_pairs = splits.train, splits.validation
        level = resolved_level(cfg)
        vocab = load_or_build_vocabulary(
            run_dir,
            Vocabulary,
            lambda: Vocabulary.build(train_pairs, level, cfg.source_vocab, cfg.target_vocab, cfg.lowercase),
        )
        print(
            f"{len(train_pairs):,} training / {len(val_pairs):,} validation / {len(splits.test):,} test pairs; "
            f"{vocab.level} level, vocabularies {len(vocab.source)} source / {len(vocab.target)} target"
        )
        vectorizer = Vectorizer(vocab, cfg.max_source_len)
        train, train_batches = make_dataset(train_pairs, vectorizer, cfg, "training", shuffle=True)
        val, val_batches = make_dataset(val_pairs, vectorizer, cfg, "validation", shuffle=False)
        model = build_model(cfg, len(vocab.source), len(vocab.target))

        return TrainingPlan(
            model=model,
            train_data=train.repeat().prefetch(tf.data.AUTOTUNE),
            validation_data=val.prefetch(tf.data.AUTOTUNE),
            loss=metrics.token_crossentropy(cfg.label_smoothing),
            metrics=[metrics.masked_accuracy],
            callbacks=[validation_report(cfg, vocab, val_pairs, run_dir)],
            steps_per_epoch=cfg.steps_per_epoch or train_batches,
            validation_steps=val_batches,
            # test scores of the best checkpoint (greedy), where there is a test split
            summary=best_checkpoint_summary(
                self,
                run_dir,
                lambda best: test_scores(TranslateServing(best, vocab, cfg), splits),
                level=vocab.level,
                lowercase=vocab.lowercase,
            ),
            loss_label=("label-smoothed " if cfg.label_smoothing else "")
            + "cross-entropy (nats per target token)",
            **SELECTION[cfg.select_by],
        )

    def serving(self, run: Run, xla: bool = False) -> ServingSpec:
        cfg, vocab = run.config, run.vocab
        module = TranslateServing(run.model, vocab, cfg)
        encoder_fn, encoder_signature = module.litert_encoder_fn()
        length = cfg.max_source_len + 1
        example = ["saturday 9 march 1985", "9/3/85"] if vocab.level == "char" else ["Hello."]
        return ServingSpec(
            name=NAME,
            module=module,
            endpoints={"translate": (module.translate, translate_signature())},
            litert={
                "encoder": (encoder_fn, encoder_signature),
                "decoder_step": (module.decoder_step, module.decoder_step_signature(length)),
            },
            metadata={
                "task": NAME,
                "level": vocab.level,
                "cell": cfg.cell,
                "attention": cfg.attention,
                "units": cfg.units,
                "max_source_len": cfg.max_source_len,
                "max_target_len": cfg.max_target_len,
                "source_length": length,
                "state_size": module.decoder.packed_state_size(),
                "memory_dim": module.decoder.memory_dim,
                **vocab.host_metadata(),
                "encoder": {
                    "inputs": {
                        "source": f"int32 [1, {length}]: ids of at most {cfg.max_source_len} "
                        "tokens, then <end>, then 0 padding"
                    },
                    "outputs": ["memory", "mask", "state"],
                },
                "decoder_step": {
                    "inputs": ["token", "state", "memory", "mask"],
                    "outputs": ["logits", "state", "attention"],
                },
            },
            example={
                "signature_name": "translate",
                "inputs": {"source": example, "beam_width": 3, "max_length": 20, "length_penalty": 0.0},
            },
        )

    def add_predict_arguments(self, parser) -> None:
        ed.add_predict_arguments(
            parser,
            "sentences",
            "source sentences",
            "--max-target-len",
            "also write each sentence's attention map (PNG) to this directory",
        )

    def predict(self, run: Run, args) -> None:
        """Print `source<TAB>translation` lines; with --maps, draw the (greedy) attention maps."""
        module = TranslateServing(run.model, run.vocab, run.config)

        def answer(sources, beam_width, max_length):  # no length penalty
            return module.translate(sources, beam_width, max_length, tf.constant(0.0))["translation"]

        def draw_maps(sources, directory):
            for sentence, path in zip(args.sentences, write_heatmaps(module, args.sentences, directory)):
                print(f"attention map of {sentence!r}: {path}")

        def read():
            return tf.constant([command_line_text(s, f"the sentence {s!r}") for s in args.sentences])

        ed.predict(module, args, args.sentences, read, answer, draw_maps)


TASK = TranslateTask()
