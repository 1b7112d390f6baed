"""Character-level language model: Elman RNN / LSTM / GRU, stacked, truncated BPTT.

Reading order: config -> corpus -> datasets -> model -> sampling -> serving.

The Keras model (`build_model`) is what `model.fit` trains. For serving, its
weights are copied into a `RecurrentStack` (plain TF ops, one step at a time),
which the exported `generate` loop, the `step` signature and the LiteRT step
model all share. `KerasStepSampler` is the TensorFlow tutorial's way of
sampling (a Python loop calling one `tf.function` per character): the
reference the exports are tested against, and the speed baseline.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError, config as config_lib, decoding
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import text as text_data
from keras_rnn.export import ServingSpec, after_checks
from keras_rnn.recurrent import CELLS, RecurrentStack, states_per_layer
from keras_rnn.training import VOCAB_FILE, TrainingPlan, load_run

NAME = "charlm"
SAMPLES_FILE = "samples.txt"
MAX_GENERATE_CHARS = 100_000  # per request: bigger asks are refused, not truncated
MAX_PROMPT_CHARS = 10_000


@dataclasses.dataclass
class Config(TrainConfig):
    cell: str = option("lstm", "recurrent cell: rnn (Elman), lstm or gru", choices=list(CELLS))
    units: int = option(256, "units per recurrent layer")
    layers: int = option(2, "stacked recurrent layers")
    embedding_dim: int = option(64, "character embedding size; 0 = one-hot input (the lectures' setup)")
    dropout: float = option(0.0, "dropout between layers (recurrent_dropout stays 0 to keep cuDNN)")
    seq_len: int = option(100, "characters per training sequence (the truncated-BPTT length)")
    stateful: bool = option(False, "truncated BPTT: carry the hidden state across consecutive chunks")
    gru_reset_after: bool = option(True, "Keras/cuDNN GRU (True) or the lecture slides' GRU (False)")
    text_file: Optional[str] = option(None, "train on this UTF-8 text file")
    dataset: Optional[str] = option(None, "train on a tensorflow-datasets text set, e.g. tiny_shakespeare")
    tfds_manual_dir: Optional[str] = option(None, "build --dataset offline from the files in this directory")
    max_chars: Optional[int] = option(None, "use only the first N characters of the corpus")
    validation_batches: Optional[int] = option(None, "cap on validation batches per epoch (default: all)")
    sample_prompt: str = option("\n", "prompt for the samples written each epoch")
    sample_length: int = option(200, "characters per sample written each epoch")


def check_config(cfg: Config) -> None:
    """Refuse sizes that cannot work before reading any data."""
    config_lib.require_at_least(cfg, 1, "units", "layers", "seq_len", "sample_length", "max_chars",
                                "validation_batches")
    if cfg.embedding_dim < 0:
        raise UserError(f"need --embedding-dim >= 0 (0 = one-hot), got {cfg.embedding_dim}")
    if not 0 <= cfg.dropout < 1:
        raise UserError(f"need 0 <= --dropout < 1, got {cfg.dropout}")
    if cfg.text_file and cfg.dataset:
        raise UserError("give either --text-file or --dataset, not both")


# ---------------------------------------------------------------- corpus
def load_corpus(cfg: Config) -> tuple[str, str]:
    """The text named by the config, split first 90% / last 10%."""
    if cfg.text_file:
        text = text_data.read_text_file(cfg.text_file)
    elif cfg.dataset:
        text = text_data.tfds_text(cfg.dataset, manual_dir=cfg.tfds_manual_dir)
    else:
        print("Reading the Python standard library's source (the default, offline corpus) ...")
        text = text_data.stdlib_source(cfg.max_chars)
    if cfg.max_chars:
        text = text[:cfg.max_chars]
    return text_data.split_train_validation(text)


def window_dataset(ids: np.ndarray, seq_len: int, batch_size: int, shuffle: bool, seed: int):
    """(input, target) windows of `seq_len` characters, target shifted by one."""
    starts = np.arange(0, len(ids) - seq_len - 1, seq_len)
    ids = tf.constant(ids)
    ds = tf.data.Dataset.from_tensor_slices(starts)
    if shuffle:
        ds = ds.shuffle(len(starts), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda s: (ids[s:s + seq_len], ids[s + 1:s + seq_len + 1]),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True), len(starts) // batch_size


def stream_dataset(ids: np.ndarray, seq_len: int, batch_size: int):
    """Batches for truncated BPTT: row i of batch k+1 continues row i of batch k.

    The text is cut into `batch_size` contiguous streams; batch k holds chunk k of
    every stream. Returns the dataset and the number of chunks in one pass.
    """
    stream_len = (len(ids) - 1) // batch_size
    chunks = stream_len // seq_len
    used = chunks * seq_len
    x = ids[:batch_size * stream_len].reshape(batch_size, stream_len)[:, :used]
    y = ids[1:batch_size * stream_len + 1].reshape(batch_size, stream_len)[:, :used]
    x = x.reshape(batch_size, chunks, seq_len).transpose(1, 0, 2)
    y = y.reshape(batch_size, chunks, seq_len).transpose(1, 0, 2)
    return tf.data.Dataset.from_tensor_slices((x, y)), chunks


def make_datasets(cfg: Config, train_ids: np.ndarray, val_ids: np.ndarray):
    """Train (repeating) and validation datasets, plus batches per pass of each."""
    need = cfg.seq_len + 2 if not cfg.stateful else cfg.batch_size * cfg.seq_len + 1
    for split, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < need:
            raise UserError(
                f"the {split} split has {len(ids)} characters, fewer than one batch needs ({need}); "
                "give a longer corpus or lower --seq-len / --batch-size")
    if cfg.stateful:
        train, train_batches = stream_dataset(train_ids, cfg.seq_len, cfg.batch_size)
        val, val_batches = stream_dataset(val_ids, cfg.seq_len, cfg.batch_size)
    else:
        train, train_batches = window_dataset(train_ids, cfg.seq_len, cfg.batch_size, True, cfg.seed)
        val, val_batches = window_dataset(val_ids, cfg.seq_len, cfg.batch_size, False, cfg.seed)
    if train_batches == 0 or val_batches == 0:
        raise UserError("a split is shorter than one batch: lower --batch-size or --seq-len")
    if cfg.validation_batches:
        val_batches = min(val_batches, cfg.validation_batches)
        val = val.take(val_batches)
    return train.repeat().prefetch(tf.data.AUTOTUNE), train_batches, val.prefetch(tf.data.AUTOTUNE), val_batches


# ---------------------------------------------------------------- model
_LAYER_CLASSES = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_model(cfg: Config, vocab_size: int, *, batch_size=None, stateful=False, step=False) -> keras.Model:
    """The char-LM as a functional model.

    - training form: tokens [B, T] -> logits [B, T, V] (`stateful` for truncated BPTT);
    - `step=True`: token [B, 1] and the packed state [B, S] -> logits [B, V], state [B, S]
      (same layer names and weights, so `set_weights` copies between the forms).
    """
    tokens = keras.Input(shape=(1 if step else None,), batch_size=batch_size, dtype="int32",
                         name="token" if step else "tokens")
    if cfg.embedding_dim:
        embed = keras.layers.Embedding(vocab_size, cfg.embedding_dim, name="embedding")
    else:  # one-hot: an identity embedding that never trains
        embed = keras.layers.Embedding(vocab_size, vocab_size, embeddings_initializer="identity",
                                       trainable=False, name="embedding")
    x = embed(tokens)
    n_states = states_per_layer(cfg.cell)
    inputs, state_parts = [tokens], []
    if step:
        state = keras.Input(shape=(cfg.layers * cfg.units * n_states,), batch_size=batch_size, name="state")
        inputs.append(state)
        state_parts = keras.ops.split(state, cfg.layers * n_states, axis=-1)
    for i in range(cfg.layers):
        extra = {"reset_after": cfg.gru_reset_after} if cfg.cell == "gru" else {}
        layer = _LAYER_CLASSES[cfg.cell](cfg.units, return_sequences=not step, return_state=step,
                                         stateful=stateful, name=f"rnn_{i}", **extra)
        if step:
            x, *new_state = layer(x, initial_state=state_parts[i * n_states:(i + 1) * n_states])
            state_parts[i * n_states:(i + 1) * n_states] = new_state
            x = keras.ops.expand_dims(x, 1) if i < cfg.layers - 1 else x
        else:
            x = layer(x)
            if cfg.dropout:
                x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)  # float32 even when mixed
    if step:
        return keras.Model(inputs, [logits, keras.ops.concatenate(state_parts, axis=-1)], name="charlm_step")
    return keras.Model(tokens, logits, name=f"charlm_{cfg.cell}")


@keras.saving.register_keras_serializable(package="keras_rnn")
def bits_per_char(y_true, y_pred):
    """Cross-entropy in bits (nats / ln 2), the unit char-LM papers report."""
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True) / math.log(2)


class ResetStates(keras.callbacks.Callback):
    """Truncated BPTT bookkeeping: zero the carried state at the start of each pass over the
    text; validation runs its own streams from a zero state, and training then continues
    from the state it had (an epoch of --steps-per-epoch may end mid-pass)."""

    def __init__(self, chunks_per_pass: int):
        super().__init__()
        self.chunks_per_pass, self.seen, self.saved = chunks_per_pass, 0, None

    def _states(self):
        return [v for layer in self.model.layers if getattr(layer, "stateful", False) for v in layer.states]

    def _reset(self):
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    def on_train_batch_begin(self, batch, logs=None):
        if self.seen % self.chunks_per_pass == 0:
            self._reset()
        self.seen += 1

    def on_test_begin(self, logs=None):
        self.saved = [v.numpy() for v in self._states()]
        self._reset()

    def on_test_end(self, logs=None):
        for variable, value in zip(self._states(), self.saved or []):
            variable.assign(value)


# ---------------------------------------------------------------- sampling
def banned_bias(vocab: text_data.CharVocabulary):
    """Added to logits before sampling: the unknown character (id 0) is never generated."""
    return decoding.banned_bias(len(vocab.chars) + 1, [0])


class CharLMServing(tf.Module):
    """What gets exported: `generate` (the whole sampling loop in the graph) and `step`."""

    def __init__(self, stack: RecurrentStack, vocab: text_data.CharVocabulary):
        super().__init__(name="charlm_serving")
        self.stack = stack
        self.xla_sample_ids = tf.function(functools.partial(self.sample_ids, xla=True), jit_compile=True)
        self.lookup = vocab.lookup_layer()
        # id -> code point; id 0 (unknown) renders as U+FFFD but is never sampled.
        self.codepoints = tf.constant([0xFFFD] + vocab.codepoints, tf.int32)
        self.banned_bias = banned_bias(vocab)

    def encode(self, prompt):
        """Prompt strings -> ragged ids; an empty prompt means a newline."""
        prompt = tf.where(tf.strings.length(prompt) == 0, tf.constant("\n"), prompt)
        codepoints = tf.strings.unicode_decode(prompt, "UTF-8", errors="replace")
        ids = self.lookup(codepoints.flat_values)
        return codepoints.with_flat_values(tf.cast(ids, tf.int32))

    def generate(self, prompt, num_chars, temperature, top_k, seed, xla=False):
        ids = self.encode(prompt)
        padded, lengths, num_chars = after_checks([
            tf.debugging.assert_positive(num_chars, message="num_chars must be > 0"),
            tf.debugging.assert_less_equal(num_chars, MAX_GENERATE_CHARS,
                                           message=f"num_chars must be <= {MAX_GENERATE_CHARS}"),
            tf.debugging.assert_positive(temperature, message="temperature must be > 0 (use top_k=1 for greedy)"),
            tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0 = no top-k filter)"),
            tf.debugging.assert_less_equal(tf.reduce_max(ids.row_lengths()), tf.constant(MAX_PROMPT_CHARS, tf.int64),
                                           message=f"prompts must be at most {MAX_PROMPT_CHARS} characters"),
        ], ids.to_tensor(), tf.cast(ids.row_lengths(), tf.int32), num_chars)
        sample_ids = self.xla_sample_ids if xla else self.sample_ids
        tokens = sample_ids(padded, lengths, num_chars, temperature, top_k, seed)
        return {"text": tf.strings.unicode_encode(tf.gather(self.codepoints, tokens), "UTF-8")}

    def generate_xla(self, prompt, num_chars, temperature, top_k, seed):
        """`generate` with the loop compiled by XLA: faster, but TF Serving runs it only
        with --xla_cpu_compilation_enabled (CPU), so it is exported on request (--xla)."""
        return self.generate(prompt, num_chars, temperature, top_k, seed, xla=True)

    def sample_ids(self, padded, lengths, num_chars, temperature, top_k, seed, xla=False):
        """Numbers only (no strings), so it can be XLA-compiled: prompt ids -> generated ids."""
        batch = tf.shape(padded)[0]
        kernels = self.stack.joined_kernels() if xla else None
        vocab_size = tf.shape(self.codepoints)[0]

        def prime(t, state, last_logits):  # feed the prompt; rows stop at their own length
            logits, new_state = self.stack.step(padded[:, t], state, kernels)
            state = tf.where((t < lengths)[:, None], new_state, state)
            last_logits = tf.where((t == lengths - 1)[:, None], logits, last_logits)
            return t + 1, state, last_logits

        _, state, logits = tf.while_loop(
            lambda t, *_: t < tf.shape(padded)[1], prime,
            (tf.constant(0), self.stack.zero_state(batch), tf.zeros([batch, vocab_size])))

        def sample(i, state, logits, out):
            token = decoding.sample(logits, temperature, top_k, seed, i, banned_bias=self.banned_bias)
            logits, state = self.stack.step(token, state, kernels)
            return i + 1, state, logits, out.write(i, token)

        _, _, _, out = tf.while_loop(
            lambda i, *_: i < num_chars, sample,
            (tf.constant(0), state, logits, tf.TensorArray(tf.int32, size=num_chars)))
        return tf.transpose(out.stack())

    def step(self, token, state):
        logits, state = self.stack.step(token, state)
        return {"logits": logits, "state": state}


def generate_signature():
    return [tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="num_chars"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.int32, name="seed")]


def step_signature(state_size: int, batch=None):
    return [tf.TensorSpec([batch], tf.int32, name="token"),
            tf.TensorSpec([batch, state_size], tf.float32, name="state")]


class KerasStepSampler:
    """The TensorFlow tutorial's sampler ("Text generation with an RNN", `OneStep`).

    A Python loop calls one `tf.function` per character; inside it: the input
    character (a string) -> id, one step of the Keras step model
    (`build_model(step=True)`), temperature / top-k sampling, id -> character.
    It is the reference the exported models are tested against, and the speed
    baseline. It draws the same random numbers as the exported `generate`.
    """

    def __init__(self, step_model: keras.Model, vocab: text_data.CharVocabulary):
        self.model, self.vocab = step_model, vocab
        self.state_size = step_model.inputs[1].shape[-1]
        self.ids_from_codepoints = vocab.lookup_layer()
        self.codepoints = tf.constant([0xFFFD] + vocab.codepoints, tf.int32)
        self.banned_bias = banned_bias(vocab)
        self.generate_one_step = tf.function(self._one_step)

    def _one_step(self, char, state, temperature, top_k, seed, i):
        ids = tf.cast(self.ids_from_codepoints(tf.strings.unicode_decode(char, "UTF-8").to_tensor()), tf.int32)
        logits, state = self.model([ids[:, -1:], state])
        next_id = decoding.sample(logits, temperature, top_k, seed, i, banned_bias=self.banned_bias)
        return tf.strings.unicode_encode(tf.gather(self.codepoints, next_id[:, None]), "UTF-8"), state

    def generate(self, prompt: str, num_chars: int, temperature=1.0, top_k=0, seed=0) -> str:
        """Same contract as the exported `generate` (top_k=1: greedy)."""
        prompt = prompt or "\n"
        args = (tf.constant(temperature, tf.float32), tf.constant(top_k), tf.constant(seed))
        state = tf.zeros([1, self.state_size])
        for char in prompt[:-1]:  # prime the state with all but the last prompt character
            _, state = self.generate_one_step(tf.constant([char]), state, *args, tf.constant(0))
        char, out = tf.constant([prompt[-1]]), []
        for i in range(num_chars):
            char, state = self.generate_one_step(char, state, *args, tf.constant(i))
            out.append(char)
        return tf.strings.join(tf.concat(out, axis=0)).numpy().decode("utf-8")


class WriteSamples(keras.callbacks.Callback):
    """"Sample as you train": after each epoch, append samples at a few temperatures
    to samples.txt (and print them), using the same in-graph sampler as the export."""

    TEMPERATURES = (0.5, 1.0)

    def __init__(self, cfg: Config, vocab, path: Path):
        super().__init__()
        self.cfg, self.vocab, self.path = cfg, vocab, path
        self.serving = None

    def on_epoch_end(self, epoch, logs=None):
        if self.serving is None:
            self.serving = CharLMServing(RecurrentStack(self.model, self.cfg.cell, self.cfg.layers), self.vocab)
            self._generate = tf.function(self.serving.generate, input_signature=generate_signature())
        else:
            self.serving.stack.assign_from(self.model)
        lines = [f"=== epoch {epoch + 1}  val_loss {logs.get('val_loss', float('nan')):.4f} nats/char ==="]
        for temperature in self.TEMPERATURES:
            text = self._generate(tf.constant([self.cfg.sample_prompt]), self.cfg.sample_length,
                                  temperature, 0, self.cfg.seed + epoch)["text"][0].numpy().decode()
            lines.append(f"--- temperature {temperature} ---\n{self.cfg.sample_prompt}{text}")
        block = "\n".join(lines) + "\n\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(block)
        print("\n" + block)


# ---------------------------------------------------------------- the task interface
class CharLMTask:
    name = NAME
    Config = Config
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        train_text, val_text = load_corpus(cfg)
        vocab_path = run_dir / VOCAB_FILE
        # A resumed run keeps its vocabulary; a new one builds it from the training split.
        vocab = (text_data.CharVocabulary.load(vocab_path) if vocab_path.exists()
                 else text_data.CharVocabulary.from_text(train_text))
        vocab.save(vocab_path)
        print(f"Corpus: {len(train_text):,} training / {len(val_text):,} validation characters, "
              f"{len(vocab.chars)} distinct (+1 unknown)")
        train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
        train, train_batches, val, val_batches = make_datasets(cfg, train_ids, val_ids)
        model = build_model(cfg, vocab.size, batch_size=cfg.batch_size if cfg.stateful else None,
                            stateful=cfg.stateful)
        callbacks = [WriteSamples(cfg, vocab, run_dir / SAMPLES_FILE)]
        if cfg.stateful:
            callbacks.insert(0, ResetStates(train_batches))
        chars_per_step = cfg.batch_size * cfg.seq_len

        def summary(metrics):
            out = {"train_characters": len(train_text), "validation_characters": len(val_text)}
            if "best_val_loss" in metrics:
                out["best_val_bits_per_char"] = metrics["best_val_loss"] / math.log(2)
            out["characters_per_step"] = chars_per_step
            return out

        return TrainingPlan(
            model=model, train_data=train, validation_data=val,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy", bits_per_char], callbacks=callbacks,
            steps_per_epoch=cfg.steps_per_epoch or train_batches, validation_steps=val_batches,
            summary=summary, loss_label="cross-entropy (nats per character)")

    def load(self, run_dir: Path):
        """(config, vocabulary, trained Keras model) of a finished run."""
        return load_run(run_dir, Config, text_data.CharVocabulary)

    def step_model(self, cfg: Config, vocab, model) -> keras.Model:
        step = build_model(cfg, vocab.size, step=True)
        step.set_weights(model.get_weights())
        return step

    def serving(self, run_dir: Path, xla: bool = False) -> ServingSpec:
        return self.spec(*self.load(run_dir), xla=xla)

    def spec(self, cfg: Config, vocab, model, xla: bool = False) -> ServingSpec:
        """What export writes for a trained Keras model (see `CharLMServing`)."""
        module = CharLMServing(RecurrentStack(model, cfg.cell, cfg.layers), vocab)
        size = module.stack.state_size
        endpoints = {"generate": (module.generate, generate_signature()),
                     "step": (module.step, step_signature(size))}
        if xla:
            endpoints["generate_xla"] = (module.generate_xla, generate_signature())
        return ServingSpec(
            name=NAME, module=module, endpoints=endpoints,
            litert={"step": (module.step, step_signature(size, batch=1))},
            metadata={"task": NAME, "cell": cfg.cell, "layers": cfg.layers, "units": cfg.units,
                      "state_size": size, "unknown_id": 0, "chars": vocab.chars,
                      "inputs": {"token": "int32 [1], character id (chars[i] has id i + 1)",
                                 "state": f"float32 [1, {size}], zeros to start"},
                      "outputs": {"logits": f"float32 [1, {vocab.size}]",
                                  "state": f"float32 [1, {size}], feed back next step"}},
            example={"signature_name": "generate",
                     "inputs": {"prompt": [cfg.sample_prompt], "num_chars": 200,
                                "temperature": 0.8, "top_k": 0, "seed": 1}})


TASK = CharLMTask()
