"""Translation: bidirectional recurrent encoder, recurrent decoder with attention.

Reading order: config -> data and vocabularies -> model -> serving -> callbacks -> task.

- Encoder: embedding -> bidirectional GRU/LSTM layers (padding masked). Its
  outputs h_j are the memory the decoder attends to; its final forward and
  backward states start the decoder (through a tanh "bridge" layer).
- Decoder (`AttentionDecoder`): one `step` is the whole model at decoding time:
  `α = attention(s_{i-1}, h)`, `c_i = Σ α_j h_j`, `s_i = cell([y_{i-1}; c_i], s_{i-1})`,
  `logits = W [s_i; c_i]`. Training runs the same `step` over the target with
  teacher forcing (`tf.scan`); greedy and beam search (`keras_rnn.decoding`),
  the SavedModel and the LiteRT decoder-step model all call it too.
  `--attention none` replaces c_i by the encoder's final states (the whole
  source in one vector, Cho et al. 2014) at the same size: the baseline.
- Tokens: word level (punctuation split off) or character level, lowercased
  (NFKC-normalised where text is read, see `tokenize`), in TF string ops + `StringLookup` so the exported model
  takes raw strings. The dates task is character level by default (`--level auto`):
  "9/3/85" has to be read digit by digit. Id 0 is padding, 1 unknown.
- Over-long sources are truncated to --max-source-len tokens (documented, same
  in the SavedModel and LiteRT); an empty source translates to "".
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_rnn import UserError, config as config_lib, decoding, plots
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import parallel
from keras_rnn.export import ServingSpec, after_checks
from keras_rnn.layers.attention import BahdanauAttention
from keras_rnn.training import VOCAB_FILE, TrainingPlan, load_run

NAME = "translate"
START, END, PAD, UNKNOWN = "<start>", "<end>", "", "[UNK]"
PAD_ID, UNKNOWN_ID = 0, 1
SOURCE_END_ID = 2                 # source vocab: "", [UNK], <end>, ...
TARGET_START_ID, TARGET_END_ID = 2, 3  # target vocab: "", [UNK], <start>, <end>, ...
MAX_BEAM_WIDTH = 16
MAX_OUTPUT_TOKENS = 512
LENGTH_BUCKETS = (10, 20, 30, 40)  # test scores are also reported per source-length bucket (tokens)


@dataclasses.dataclass
class Config(TrainConfig):
    epochs: int = option(12, "passes over the training data (or of --steps-per-epoch batches)")
    pairs_file: Optional[str] = option(None, "tab-separated sentence pairs (Anki/Tatoeba: source<TAB>target"
                                             "[<TAB>attribution]); default: the generated dates task")
    validation_file: Optional[str] = option(None, "held-out pairs (same format) for validation and the test "
                                                  "scores; --pairs-file is then all training data")
    dataset: Optional[str] = option(None, "a tensorflow-datasets translation set, e.g. ted_hrlr_translate/pt_to_en "
                                          "(downloaded once, when online)")
    tfds_data_dir: Optional[str] = option(None, "where tensorflow-datasets keeps --dataset (default ~/tensorflow_datasets)")
    reverse: bool = option(False, "swap the direction of --pairs-file or --dataset (translate target -> source)")
    max_pairs: Optional[int] = option(None, "use only the first N pairs of --pairs-file")
    dates_train: int = option(10000, "dates task: training pairs (validation and test: --dates-eval each)")
    dates_eval: int = option(1000, "dates task: validation and test pairs (separate seeds)")
    level: str = option("auto", "tokens: word, char, or auto (char for dates, word for --pairs-file)",
                        choices=["auto", "word", "char"])
    source_vocab: int = option(8000, "source vocabulary size (most frequent tokens; the rest -> [UNK])")
    target_vocab: int = option(8000, "target vocabulary size")
    max_source_len: int = option(48, "source tokens kept (longer sources are truncated; LiteRT input length)")
    max_target_len: int = option(48, "training pairs with longer targets are skipped (and counted)")
    cell: str = option("gru", "recurrent cell of encoder and decoder", choices=["gru", "lstm"])
    units: int = option(64, "units per direction of each encoder layer, and of the decoder")
    layers: int = option(1, "bidirectional encoder layers")
    embedding_dim: int = option(32, "token embedding size (source and target)")
    attention: str = option("bahdanau", "bahdanau (additive), luong (multiplicative) or none (classic "
                            "encoder-decoder, same size)", choices=["bahdanau", "luong", "none"])
    attention_units: int = option(64, "size of the additive attention's hidden layer")
    eval_sentences: int = option(200, "validation sentences translated after each epoch for exact match, BLEU, chrF")
    heatmaps: int = option(3, "attention heat-maps written at the end of training")


def resolved_level(cfg: Config) -> str:
    return cfg.level if cfg.level != "auto" else ("word" if cfg.pairs_file or cfg.dataset else "char")


# ---------------------------------------------------------------- data and vocabularies
def load_pairs(cfg: Config):
    """(train, validation, test) lists of (source, target)."""
    if cfg.pairs_file and cfg.dataset:
        raise UserError("give either --pairs-file or --dataset, not both")
    if cfg.validation_file and not cfg.pairs_file:
        raise UserError("--validation-file goes with --pairs-file (the training pairs)")
    if cfg.dataset:
        train, val, test = parallel.tfds_pairs(cfg.dataset, data_dir=cfg.tfds_data_dir, reverse=cfg.reverse)
        return train[:cfg.max_pairs] if cfg.max_pairs else train, val, test
    if cfg.pairs_file:
        pairs = read_pairs_file(cfg.pairs_file, cfg.reverse)
        pairs = pairs[:cfg.max_pairs] if cfg.max_pairs else pairs
        if cfg.validation_file:
            held_out = read_pairs_file(cfg.validation_file, cfg.reverse)
            return pairs, held_out, held_out
        return parallel.split(pairs, cfg.seed)
    if cfg.reverse:
        raise UserError("--reverse applies to --pairs-file or --dataset only")
    return (parallel.dates(cfg.dates_train, cfg.seed), parallel.dates(cfg.dates_eval, cfg.seed + 10_000),
            parallel.dates(cfg.dates_eval, cfg.seed + 20_000))


def read_pairs_file(path, reverse: bool):
    read = parallel.read_pairs(path, reverse=reverse)
    print(f"{path}: {len(read.pairs):,} pairs, {read.blank_lines} blank line(s) skipped")
    return read.pairs


def tokenize(texts, level: str) -> tf.RaggedTensor:
    """Strings [N] -> ragged tokens: lowercase, then words (punctuation apart) or characters.

    Core TF has no Unicode normalisation op (tensorflow-text's is a custom op TF
    Serving lacks), so NFKC happens in Python where text enters (pair files, the
    LiteRT host); SavedModel clients send composed (NFC) text, as keyboards do."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.strip(tf.strings.regex_replace(texts, r"\s+", " "))
    if level == "char":
        return tf.strings.unicode_split(texts, "UTF-8")
    return tf.strings.split(tf.strings.regex_replace(texts, r"([^\pL\pN\s'])", r" \1 "))


# Word-level output is tokens joined by spaces; these two rules glue punctuation back
# ("je suis là !" -> "je suis là!"), the same in the graph, in scoring and in the LiteRT host.
DETOKENIZE = ((r" ([.,!?;:%)\]}»…])", r"\1"), (r"([(\[{«¿¡]) ", r"\1"))


def detokenize(texts, level: str):
    """Joined word tokens [N] -> text [N] (TF ops); character level needs nothing."""
    if level == "char":
        return texts
    for pattern, rewrite in DETOKENIZE:
        texts = tf.strings.regex_replace(texts, pattern, rewrite)
    return texts


class Vocabulary:
    """Both sides' token lists (ids: 0 padding, 1 unknown, then the list)."""

    def __init__(self, level: str, source: list[str], target: list[str]):
        self.level, self.source, self.target = level, source, target

    @classmethod
    def build(cls, pairs, level: str, source_size: int, target_size: int) -> "Vocabulary":
        def most_common(texts, size, specials):
            tokens = tokenize(tf.constant(texts), level).flat_values.numpy()
            words = [t.decode("utf-8") for t, _ in Counter(tokens).most_common(size)]
            return specials + [w for w in words if w not in specials]
        return cls(level, most_common([s for s, _ in pairs], source_size, [END]),
                   most_common([t for _, t in pairs], target_size, [START, END]))

    def save(self, path):
        Path(path).write_text(json.dumps({"level": self.level, "source": self.source, "target": self.target},
                                         ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["level"], data["source"], data["target"])

    def lookup(self, side: str) -> keras.layers.StringLookup:
        return keras.layers.StringLookup(vocabulary=getattr(self, side), mask_token=PAD,
                                         oov_token=UNKNOWN, output_mode="int")

    def target_tokens(self) -> list[str]:
        """Id -> token, for turning ids back into text."""
        return [PAD, UNKNOWN] + self.target


class Vectorizer(tf.Module):
    """Strings -> padded ids, in TF ops (used by tf.data and inside the exported model)."""

    def __init__(self, vocab: Vocabulary, max_source_len: int):
        super().__init__(name="vectorizer")
        self.level, self.max_source_len = vocab.level, max_source_len
        self.source_lookup, self.target_lookup = vocab.lookup("source"), vocab.lookup("target")

    def source_tokens(self, texts) -> tf.RaggedTensor:
        return tokenize(texts, self.level)[:, :self.max_source_len]

    def source(self, texts):
        """[N] strings -> ids [N, S] ending in <end> (S <= max_source_len + 1), and the token counts [N]."""
        tokens = self.source_tokens(texts)
        ids = tf.cast(tf.ragged.map_flat_values(self.source_lookup, tokens), tf.int32)
        end = tf.fill([tf.shape(texts)[0], 1], SOURCE_END_ID)
        return tf.concat([ids, tf.RaggedTensor.from_tensor(end)], axis=1).to_tensor(), tf.cast(
            tokens.row_lengths(), tf.int32)

    def target(self, texts):
        """[N] strings -> ragged ids <start> ... <end>."""
        ids = tf.cast(tf.ragged.map_flat_values(self.target_lookup, tokenize(texts, self.level)), tf.int32)
        n = tf.shape(texts)[0]
        return tf.concat([tf.RaggedTensor.from_tensor(tf.fill([n, 1], TARGET_START_ID)), ids,
                          tf.RaggedTensor.from_tensor(tf.fill([n, 1], TARGET_END_ID))], axis=1)


def make_dataset(pairs, vectorizer: Vectorizer, cfg: Config, split: str, shuffle: bool):
    """((source ids, target input ids), target output ids) batches; over-long targets skipped and counted."""
    if not pairs:
        raise UserError(f"the {split} split is empty")
    texts = tf.constant([s for s, _ in pairs])
    truncated = int(tf.reduce_sum(tf.cast(tokenize(texts, vectorizer.level).row_lengths() > cfg.max_source_len,
                                          tf.int32)))
    if truncated:
        print(f"{split}: truncated {truncated} of {len(pairs)} sources to --max-source-len {cfg.max_source_len} tokens")
    sources, _ = vectorizer.source(texts)
    targets = vectorizer.target(tf.constant([t for _, t in pairs]))
    keep = (targets.row_lengths() <= cfg.max_target_len + 1).numpy()
    if not keep.all():
        print(f"{split}: skipped {int((~keep).sum())} of {len(keep)} pairs with targets over "
              f"--max-target-len {cfg.max_target_len} tokens")
    sources, targets = tf.boolean_mask(sources, keep), tf.ragged.boolean_mask(targets, keep)
    if sources.shape[0] == 0:
        raise UserError(f"the {split} split has no pairs left: raise --max-target-len")
    targets = targets.to_tensor()
    ds = tf.data.Dataset.from_tensor_slices(((sources, targets[:, :-1]), targets[:, 1:]))
    if shuffle:
        ds = ds.shuffle(len(keep), seed=cfg.seed, reshuffle_each_iteration=True)
    batches = -(-int(sources.shape[0]) // cfg.batch_size)
    return ds.batch(cfg.batch_size), batches


# ---------------------------------------------------------------- model
_RNN = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}
_CELL = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}


def states_per_cell(cell: str) -> int:
    return 2 if cell == "lstm" else 1


def build_encoder(cfg: Config, vocab_size: int, length=None) -> keras.Model:
    """source ids [B, S] -> memory [B, S, 2U] and, per state of the cell, [forward; backward] final state [B, 2U].

    A fixed `length` gives the form LiteRT converts with builtin ops only (its loop
    becomes a builtin WHILE; `unroll=True` would, but Keras then misplaces the
    backward outputs of padded inputs). Same layer names: `set_weights` copies over."""
    source = keras.Input(shape=(length,), dtype="int32", name="source")
    x = keras.layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=True, name="source_embedding")(source)
    finals = []
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        rnn = keras.layers.Bidirectional(
            _RNN[cfg.cell](cfg.units, return_sequences=True, return_state=last), name=f"encoder_{i}")
        x, *finals = rnn(x) if last else [rnn(x)]
    n = states_per_cell(cfg.cell)
    summaries = [keras.layers.Concatenate(name=f"final_state_{j}")([finals[j], finals[n + j]]) for j in range(n)]
    return keras.Model(source, [x, *summaries], name="encoder")


@keras.saving.register_keras_serializable(package="keras_rnn")
class AttentionDecoder(keras.layers.Layer):
    """The decoder; `step` is one output token (see the module docstring)."""

    def __init__(self, vocab_size: int, embedding_dim: int, units: int, memory_dim: int, cell: str = "gru",
                 attention: str = "bahdanau", attention_units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units, self.memory_dim = vocab_size, embedding_dim, units, memory_dim
        self.cell_type, self.attention_type, self.attention_units = cell, attention, attention_units
        self.n_states = states_per_cell(cell)
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="target_embedding")
        self.cell = _CELL[cell](units, name="cell")
        self.bridges = [keras.layers.Dense(units, activation="tanh", name=f"bridge_{j}")
                        for j in range(self.n_states)]
        self.attention = (None if attention == "none" else
                          BahdanauAttention(attention_units, score=attention, name="attention"))
        self.readout = keras.layers.Dense(vocab_size, dtype="float32", name="logits")

    def build(self, *args, **kwargs):
        self.embedding.build((None,))
        self.cell.build((None, self.embedding_dim + self.memory_dim))
        for bridge in self.bridges:
            bridge.build((None, self.memory_dim))
        if self.attention is not None:
            self.attention.build((None, self.units), (None, None, self.memory_dim))
        self.readout.build((None, self.units + self.memory_dim))
        self.built = True

    def start(self, memory, memory_mask, summaries):
        """What stays fixed while decoding one source, and the initial state (a list)."""
        constants = {"memory": memory, "mask": ops.cast(memory_mask, "float32"), "summary": summaries[0]}
        if self.attention is not None:
            constants["keys"] = self.attention.project_memory(memory)
        return constants, [bridge(s) for bridge, s in zip(self.bridges, summaries)]

    def step(self, tokens, state, constants):
        """tokens [N] (previous output), state list -> logits [N, V], new state list, attention [N, P]."""
        if self.attention is None:
            context = constants["summary"]
            weights = ops.zeros_like(constants["mask"])
        else:
            context, weights = self.attention(state[0], constants["memory"], constants["mask"],
                                              keys=constants["keys"])
        x = ops.concatenate([self.embedding(tokens), context], axis=-1)
        output, new_state = self.cell(x, state)
        logits = self.readout(ops.concatenate([output, context], axis=-1))
        return logits, list(new_state), weights

    def call(self, target_in, memory, memory_mask, summaries):
        """Teacher forcing: target input ids [B, T] -> logits [B, T, V]."""
        constants, state = self.start(memory, memory_mask, summaries)

        def one_step(carry, tokens):
            logits, state, _ = self.step(tokens, carry[1], constants)
            return logits, state

        batch = ops.shape(target_in)[0]
        logits, _ = tf.scan(one_step, ops.transpose(target_in), initializer=(
            ops.zeros((batch, self.vocab_size), self.compute_dtype), state))
        return ops.transpose(logits, (1, 0, 2))

    def compute_output_spec(self, target_in, memory, memory_mask, summaries):
        return keras.KerasTensor((*target_in.shape, self.vocab_size), "float32")

    # The LiteRT form: the state as ONE tensor, fixed shapes. It packs the cell's states and,
    # without attention, the summary the classic decoder reads at every step.
    def packed_state_size(self) -> int:
        return self.n_states * self.units + (self.memory_dim if self.attention is None else 0)

    def pack(self, state, summaries):
        """`start`'s state list -> the packed state [B, packed_state_size()]."""
        return tf.concat(state + ([summaries[0]] if self.attention is None else []), axis=-1)

    def packed_step(self, token, state, memory, mask):
        """`step` on a packed state: token [B], state, memory [B, P, D], mask [B, P] (float)
        -> {logits, state, attention}."""
        constants = {"memory": memory, "mask": mask}
        cell_size = self.n_states * self.units
        if self.attention is not None:
            constants["keys"] = self.attention.project_memory(memory)
        else:
            constants["summary"] = state[:, cell_size:]
        states = tf.split(state[:, :cell_size], self.n_states, axis=-1)
        logits, states, attention = self.step(token, states, constants)
        if self.attention is None:
            states = states + [constants["summary"]]
        return {"logits": logits, "state": tf.concat(states, axis=-1), "attention": attention}

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "memory_dim": self.memory_dim, "cell": self.cell_type,
                "attention": self.attention_type, "attention_units": self.attention_units}


def build_model(cfg: Config, source_vocab_size: int, target_vocab_size: int) -> keras.Model:
    """(source ids [B, S], target input ids [B, T]) -> logits [B, T, V] (teacher forcing)."""
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in")
    memory, *summaries = build_encoder(cfg, source_vocab_size)(source)
    decoder = AttentionDecoder(target_vocab_size, cfg.embedding_dim, cfg.units, 2 * cfg.units, cell=cfg.cell,
                               attention=cfg.attention, attention_units=cfg.attention_units, name="decoder")
    logits = decoder(target_in, memory, ops.not_equal(source, PAD_ID), summaries)
    return keras.Model([source, target_in], logits, name=f"translate_{cfg.cell}_{cfg.attention}")


@keras.saving.register_keras_serializable(package="keras_rnn")
def masked_accuracy(y_true, y_pred):
    """Token accuracy over real target tokens (padding excluded)."""
    y_true = ops.cast(y_true, "int32")
    mask = ops.cast(ops.not_equal(y_true, PAD_ID), "float32")
    correct = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32")
    return ops.sum(correct * mask) / ops.maximum(ops.sum(mask), 1.0)


# ---------------------------------------------------------------- serving
class Translator(tf.Module):
    """Strings in, strings out: tokenization, encoder, greedy/beam search, detokenization.

    It holds the trained model's own layers (no copies), so it also serves the
    callbacks during training. Exported as the SavedModel `translate` signature,
    and (fixed shapes, ids only) as the LiteRT `encoder` and `decoder_step`.
    """

    def __init__(self, model: keras.Model, vocab: Vocabulary, cfg: Config):
        super().__init__(name="translator")
        self.model, self.cfg = model, cfg
        self.encoder, self.decoder = model.get_layer("encoder"), model.get_layer("decoder")
        self.vectorizer = Vectorizer(vocab, cfg.max_source_len)
        self.target_tokens = tf.constant(vocab.target_tokens())
        self.separator = "" if vocab.level == "char" else " "

    def start(self, source_ids):
        memory, *summaries = self.encoder(source_ids)
        return self.decoder.start(memory, tf.not_equal(source_ids, PAD_ID), summaries)

    def search(self, source_ids, beam_width, max_length, length_penalty):
        constants, state = self.start(source_ids)
        start = tf.fill([tf.shape(source_ids)[0]], TARGET_START_ID)
        if isinstance(beam_width, int) and beam_width == 1:
            return decoding.greedy_search(self.decoder.step, state, constants, start, TARGET_END_ID, max_length)
        return decoding.beam_search(self.decoder.step, state, constants, start, TARGET_END_ID, max_length,
                                    beam_width, length_penalty)

    def translate(self, source, beam_width, max_length, length_penalty):
        beam_width, max_length = after_checks([
            tf.debugging.assert_greater_equal(beam_width, 1, message="beam_width must be >= 1"),
            tf.debugging.assert_less_equal(beam_width, MAX_BEAM_WIDTH, message=f"beam_width must be <= {MAX_BEAM_WIDTH}"),
            tf.debugging.assert_positive(max_length, message="max_length must be > 0"),
            tf.debugging.assert_less_equal(max_length, MAX_OUTPUT_TOKENS,
                                           message=f"max_length must be <= {MAX_OUTPUT_TOKENS}")],
            beam_width, max_length)
        source_ids, source_lengths = self.vectorizer.source(source)
        found = self.search(source_ids, beam_width, max_length, length_penalty)
        out = self.to_text(found, source, source_lengths)
        return {k: out[k] for k in ("translation", "score", "attention", "length")}

    def greedy(self, source, max_length):
        source_ids, source_lengths = self.vectorizer.source(source)
        found = self.search(source_ids, 1, max_length, 0.0)
        return self.to_text(found, source, source_lengths)

    def to_text(self, found, source, source_lengths):
        tokens = tf.RaggedTensor.from_tensor(tf.gather(self.target_tokens, found["tokens"]), lengths=found["lengths"])
        text = detokenize(tf.strings.reduce_join(tokens, axis=1, separator=self.separator),
                          self.vectorizer.level)
        empty = source_lengths == 0
        return {"translation": tf.where(empty, "", text), "score": tf.where(empty, 0.0, found["scores"]),
                "attention": found["attention"], "length": found["lengths"],
                "source_tokens": self.vectorizer.source_tokens(source).to_tensor(""),
                "target_tokens": tokens.to_tensor("")}

    # LiteRT: fixed shapes, ids only; the host tokenizes with the vocabulary in the metadata.
    def litert_encoder_fn(self):
        """source ids [1, S] (0-padded, ending in <end>) -> memory, mask, decoder state."""
        length = self.cfg.max_source_len + 1
        fixed = build_encoder(self.cfg, len(self.vectorizer.source_lookup.get_vocabulary()), length)
        fixed.set_weights(self.encoder.get_weights())
        self.fixed_encoder = fixed  # tracked

        def encoder(source):
            memory, *summaries = fixed(source)
            _, state = self.decoder.start(memory, tf.not_equal(source, PAD_ID), summaries)
            return {"memory": memory, "mask": tf.cast(tf.not_equal(source, PAD_ID), tf.float32),
                    "state": self.decoder.pack(state, summaries)}

        return encoder, [tf.TensorSpec([1, length], tf.int32, name="source")]

    def decoder_step(self, token, state, memory, mask):
        """One output token with fixed shapes (LiteRT): `AttentionDecoder.packed_step`."""
        return self.decoder.packed_step(token, state, memory, mask)

    def state_size(self) -> int:
        return self.decoder.packed_state_size()

    def decoder_step_signature(self):
        length, d = self.cfg.max_source_len + 1, 2 * self.cfg.units
        return [tf.TensorSpec([1], tf.int32, name="token"),
                tf.TensorSpec([1, self.state_size()], tf.float32, name="state"),
                tf.TensorSpec([1, length, d], tf.float32, name="memory"),
                tf.TensorSpec([1, length], tf.float32, name="mask")]


def translate_signature():
    return [tf.TensorSpec([None], tf.string, name="source"),
            tf.TensorSpec([], tf.int32, name="beam_width"),
            tf.TensorSpec([], tf.int32, name="max_length"),
            tf.TensorSpec([], tf.float32, name="length_penalty")]


# ---------------------------------------------------------------- evaluation and callbacks
def score_translations(hypotheses: list[str], references: list[str]) -> dict:
    """Exact match (%), BLEU and chrF (sacrebleu) of detokenized outputs against references."""
    import sacrebleu

    exact = 100.0 * float(np.mean([h == r for h, r in zip(hypotheses, references)]))
    return {"exact_match": exact, "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score}


def translate_pairs(translator: Translator, pairs, batch_size=256, greedy=None):
    """Greedy translations of the sources of `pairs`, and the references normalised like the model's output."""
    greedy = greedy or tf.function(translator.greedy)
    level = translator.vectorizer.level
    sep = "" if level == "char" else " "
    sources = [s for s, _ in pairs]
    joined = tf.strings.reduce_join(tokenize(tf.constant([t for _, t in pairs]), level), axis=1, separator=sep)
    references = [t.decode("utf-8") for t in detokenize(joined, level).numpy()]
    hypotheses = []
    for i in range(0, len(sources), batch_size):
        out = greedy(tf.constant(sources[i:i + batch_size]), tf.constant(translator.cfg.max_target_len))
        hypotheses += [t.decode("utf-8") for t in out["translation"].numpy()]
    return hypotheses, references


def evaluate(translator: Translator, pairs, batch_size=256, greedy=None) -> dict:
    """Greedy-translate `pairs` and score against references (exact match, BLEU, chrF)."""
    return score_translations(*translate_pairs(translator, pairs, batch_size, greedy))


def scores_by_source_length(sources, hypotheses, references, level: str, edges=LENGTH_BUCKETS) -> dict:
    """Exact match / BLEU / chrF per bucket of source length in tokens ("1-10", "11-20", ..., "41+"):
    long sentences are where attention is supposed to matter."""
    lengths = tokenize(tf.constant(sources), level).row_lengths().numpy()
    bounds = [0, *edges, np.inf]
    buckets = {}
    for low, high in zip(bounds[:-1], bounds[1:]):
        chosen = [i for i, n in enumerate(lengths) if low < n <= high]
        if chosen:
            name = f"{low + 1}-{int(high)}" if np.isfinite(high) else f"{low + 1}+"
            buckets[name] = {"pairs": len(chosen), **score_translations([hypotheses[i] for i in chosen],
                                                                        [references[i] for i in chosen])}
    return buckets


def write_heatmaps(translator: Translator, sources: list[str], out_dir: Path, greedy=None) -> list[Path]:
    """One attention heat-map PNG per source sentence (greedy translation)."""
    greedy = greedy or tf.function(translator.greedy)
    out = greedy(tf.constant(sources), tf.constant(translator.cfg.max_target_len))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, _ in enumerate(sources):
        src = [t.decode("utf-8") for t in out["source_tokens"][i].numpy() if t] + [END]
        tgt = [t.decode("utf-8") for t in out["target_tokens"][i].numpy() if t]
        steps = min(len(tgt) + 1, out["attention"].shape[1])  # + the <end> step
        tgt = (tgt + [END])[:steps]
        path = out_dir / f"attention_{i}.png"
        plots.plot_attention(path, out["attention"][i, :steps, :len(src)].numpy(), src, tgt,
                             title=out["translation"][i].numpy().decode("utf-8"))
        paths.append(path)
    return paths


class TranslationReport(keras.callbacks.Callback):
    """After each epoch: greedy-translate a validation sample, log val_exact_match,
    val_bleu, val_chrf (so they reach the CSV log); at the end: attention heat-maps."""

    def __init__(self, cfg: Config, vocab: Vocabulary, pairs, run_dir: Path):
        super().__init__()
        self.cfg, self.vocab, self.pairs, self.run_dir = cfg, vocab, pairs[:cfg.eval_sentences], run_dir
        self.translator = None

    def _ready(self):
        if self.translator is None:
            self.translator = Translator(self.model, self.vocab, self.cfg)
            self.greedy = tf.function(self.translator.greedy)
        return self.translator

    def on_epoch_end(self, epoch, logs=None):
        if not self.pairs:
            return
        scores = evaluate(self._ready(), self.pairs, greedy=self.greedy)
        print(f"\nvalidation sample ({len(self.pairs)}): " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in scores.items()})

    def on_train_end(self, logs=None):
        if self.cfg.heatmaps and self.pairs:
            write_heatmaps(self._ready(), [s for s, _ in self.pairs[:self.cfg.heatmaps]],
                           self.run_dir / "attention", greedy=self.greedy)


# ---------------------------------------------------------------- the task interface
def check_config(cfg: Config) -> None:
    """Refuse sizes that cannot work before reading any data."""
    config_lib.require_at_least(cfg, 1, "units", "layers", "embedding_dim", "attention_units", "source_vocab",
                                "target_vocab", "max_source_len", "max_target_len", "dates_train", "dates_eval",
                                "max_pairs")
    config_lib.require_at_least(cfg, 0, "eval_sentences", "heatmaps")


class TranslateTask:
    name = NAME
    Config = Config
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        train_pairs, val_pairs, test_pairs = load_pairs(cfg)
        vocab_path = run_dir / VOCAB_FILE
        vocab = (Vocabulary.load(vocab_path) if vocab_path.exists() else
                 Vocabulary.build(train_pairs, resolved_level(cfg), cfg.source_vocab, cfg.target_vocab))
        vocab.save(vocab_path)
        print(f"{len(train_pairs):,} training / {len(val_pairs):,} validation / {len(test_pairs):,} test pairs; "
              f"{vocab.level} level, vocabularies {len(vocab.source)} source / {len(vocab.target)} target (+2)")
        vectorizer = Vectorizer(vocab, cfg.max_source_len)
        train, train_batches = make_dataset(train_pairs, vectorizer, cfg, "training", shuffle=True)
        val, val_batches = make_dataset(val_pairs, vectorizer, cfg, "validation", shuffle=False)
        model = build_model(cfg, len(vocab.source) + 2, len(vocab.target) + 2)

        def summary(metrics):
            """Test-set scores of the best checkpoint (greedy)."""
            _, _, best = self.load(run_dir)
            hypotheses, references = translate_pairs(Translator(best, vocab, cfg), test_pairs)
            scores = score_translations(hypotheses, references)
            print("test: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
            by_length = scores_by_source_length([s for s, _ in test_pairs], hypotheses, references, vocab.level)
            return {"level": vocab.level, "test_pairs": len(test_pairs), **{f"test_{k}": v for k, v in scores.items()},
                    "test_by_source_length": by_length}

        return TrainingPlan(
            model=model, train_data=train.repeat().prefetch(tf.data.AUTOTUNE),
            validation_data=val.prefetch(tf.data.AUTOTUNE),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID),
            metrics=[masked_accuracy], callbacks=[TranslationReport(cfg, vocab, val_pairs, run_dir)],
            steps_per_epoch=cfg.steps_per_epoch or train_batches, validation_steps=val_batches, summary=summary,
            loss_label="cross-entropy (nats per target token)")

    def load(self, run_dir: Path):
        """(config, vocabulary, trained Keras model) of a run."""
        return load_run(run_dir, Config, Vocabulary)

    def serving(self, run_dir: Path, xla: bool = False) -> ServingSpec:
        return self.spec(*self.load(run_dir))

    def spec(self, cfg: Config, vocab: Vocabulary, model: keras.Model) -> ServingSpec:
        module = Translator(model, vocab, cfg)
        encoder_fn, encoder_signature = module.litert_encoder_fn()
        length = cfg.max_source_len + 1
        return ServingSpec(
            name=NAME, module=module,
            endpoints={"translate": (module.translate, translate_signature())},
            litert={"encoder": (encoder_fn, encoder_signature),
                    "decoder_step": (module.decoder_step, module.decoder_step_signature())},
            metadata={"task": NAME, "level": vocab.level, "cell": cfg.cell, "attention": cfg.attention,
                      "units": cfg.units, "max_source_len": cfg.max_source_len, "source_length": length,
                      "state_size": module.state_size(), "memory_dim": 2 * cfg.units,
                      "pad_id": PAD_ID, "unknown_id": UNKNOWN_ID, "source_end_id": SOURCE_END_ID,
                      "target_start_id": TARGET_START_ID, "target_end_id": TARGET_END_ID,
                      "source_vocab": [PAD, UNKNOWN] + vocab.source, "target_vocab": vocab.target_tokens(),
                      "encoder": {"inputs": {"source": f"int32 [1, {length}]: ids of at most {cfg.max_source_len} "
                                                        "tokens, then <end>, then 0 padding"},
                                  "outputs": ["memory", "mask", "state"]},
                      "decoder_step": {"inputs": ["token", "state", "memory", "mask"],
                                       "outputs": ["logits", "state", "attention"]}},
            example={"signature_name": "translate",
                     "inputs": {"source": ["saturday 9 march 1985", "9/3/85"] if resolved_level(cfg) == "char" else ["hello"],
                                "beam_width": 3, "max_length": 20, "length_penalty": 0.0}})


TASK = TranslateTask()
