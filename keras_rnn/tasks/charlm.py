"""Character-level language model: Elman RNN / LSTM / GRU, stacked, truncated BPTT.

Reading order: config -> model -> sampling -> serving -> task (the corpus and its
datasets: `keras_rnn.data.text`).

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
import sys
from pathlib import Path

import keras
import tensorflow as tf

from keras_rnn import UserError, command_line_text, decoding
from keras_rnn import config as config_lib
from keras_rnn.callbacks import ResetStates
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import text as text_data
from keras_rnn.data.text import load_corpus, make_datasets
from keras_rnn.export import ServingSpec, after_checks, finite_check, request_signature
from keras_rnn.layers.cells import (
    CELL_ALIASES,
    CELL_ALIASES_HELP,
    LECTURE_CELLS,
    SAME_SIZE_INPUT,
    lecture_cell,
)
from keras_rnn.limits import MAX_GENERATE_CHARS, MAX_PROMPT_CHARS, MAX_TRAINING_BYTES
from keras_rnn.metrics import bits_per_char
from keras_rnn.recurrent import CELLS, CellStack, RecurrentStack, StackLayers, states_per_layer
from keras_rnn.runs import Run, load_or_build_vocabulary
from keras_rnn.tasks.base import Task, TrainingPlan

NAME = "charlm"
SAMPLES_FILE = "samples.txt"


@dataclasses.dataclass
class Config(TrainConfig):
    cell: str = option(
        "lstm",
        "recurrent cell: rnn (Elman), lstm, gru, or one of the lectures' cells (docs/lectures.md); "
        + CELL_ALIASES_HELP,
        choices=[*CELLS, *LECTURE_CELLS, *CELL_ALIASES],
        legacy=CELL_ALIASES,
    )
    factors: int = option(0, "factors of the multiplicative RNN (--cell mrnn; 0 = --units)")
    units: int = option(256, "units per recurrent layer")
    layers: int = option(2, "stacked recurrent layers")
    embedding_dim: int = option(64, "character embedding size; 0 = one-hot input (the lectures' setup)")
    dropout: float = option(0.0, "dropout between layers (recurrent_dropout stays 0 to keep cuDNN)")
    seq_len: int = option(100, "characters per training sequence (the truncated-BPTT length)")
    stateful: bool = option(False, "truncated BPTT: carry the hidden state across consecutive chunks")
    gru_reset_after: bool = option(True, "Keras/cuDNN GRU (True) or the lecture slides' GRU (False)")
    text_file: str | None = config_lib.train_file("train on this UTF-8 text file (its last 10%: validation)")
    dataset: str | None = option(None, "train on a tensorflow-datasets text set, e.g. tiny_shakespeare")
    tfds_manual_dir: str | None = option(None, "build --dataset offline from the files in this directory")
    max_chars: int | None = option(None, "use only the first N characters of the corpus")
    validation_batches: int | None = option(None, "cap on validation batches per epoch (default: all)")
    sample_prompt: str = option("\n", "prompt for the samples written each epoch")
    sample_length: int = option(200, "characters per sample written each epoch")


def check_config(cfg: Config) -> None:
    """Refuse sizes that cannot work before reading any data."""
    config_lib.require_at_least(
        cfg, 1, "units", "layers", "seq_len", "sample_length", "max_chars", "validation_batches"
    )
    if cfg.embedding_dim < 0:
        raise UserError(f"need --embedding-dim >= 0 (0 = one-hot), got {cfg.embedding_dim}")
    config_lib.require_fraction(cfg, "dropout")
    if cfg.text_file and cfg.dataset:
        raise UserError("give either --train-file (--text-file) or --dataset, not both")
    if cfg.cell in SAME_SIZE_INPUT and cfg.embedding_dim != cfg.units:
        raise UserError(
            f"--cell {cfg.cell} adds its input to the hidden state: needs --embedding-dim = --units"
        )
    gates, width = {"rnn": 1, "gru": 3}.get(cfg.cell, 4), cfg.embedding_dim or 256  # one-hot: ~256 chars
    weights = sum(
        gates * (inputs + cfg.units + 1) * cfg.units for inputs in [width] + [cfg.units] * (cfg.layers - 1)
    )
    need = 3 * 4 * weights  # float32 weights and Adam's two moments
    if need > MAX_TRAINING_BYTES:
        raise UserError(
            f"--units {cfg.units} x --layers {cfg.layers} needs about {need / 2**30:,.1f} GiB of weights and "
            f"optimizer state, more than the {MAX_TRAINING_BYTES / 2**30:.0f} GiB limit: use fewer units or layers"
        )


# ---------------------------------------------------------------- model
_LAYER_CLASSES = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_model(cfg: Config, vocab_size: int, *, batch_size=None, stateful=False, step=False) -> keras.Model:
    """The char-LM as a functional model.

    - training form: tokens [B, T] -> logits [B, T, V] (`stateful` for truncated BPTT);
    - `step=True`: token [B, 1] and the packed state [B, S] -> logits [B, V], state [B, S]
      (same layer names and weights, so `set_weights` copies between the forms).
    """
    tokens = keras.Input(
        shape=(1 if step else None,), batch_size=batch_size, dtype="int32", name="token" if step else "tokens"
    )
    if cfg.embedding_dim:
        embed = keras.layers.Embedding(vocab_size, cfg.embedding_dim, name="embedding")
    else:  # one-hot: an identity embedding that never trains
        embed = keras.layers.Embedding(
            vocab_size, vocab_size, embeddings_initializer="identity", trainable=False, name="embedding"
        )
    x = embed(tokens)
    n_states = states_per_layer(cfg.cell)
    inputs, state_parts = [tokens], []
    if step:
        state = keras.Input(shape=(cfg.layers * cfg.units * n_states,), batch_size=batch_size, name="state")
        inputs.append(state)
        state_parts = keras.ops.split(state, cfg.layers * n_states, axis=-1)
    for i in range(cfg.layers):
        options = dict(return_sequences=not step, return_state=step, stateful=stateful, name=f"rnn_{i}")
        if cfg.cell in LECTURE_CELLS:
            layer = keras.layers.RNN(lecture_cell(cfg.cell, cfg.units, cfg.factors), **options)
        else:
            extra = {"reset_after": cfg.gru_reset_after} if cfg.cell == "gru" else {}
            layer = _LAYER_CLASSES[cfg.cell](cfg.units, **options, **extra)
        if step:
            x, *new_state = layer(x, initial_state=state_parts[i * n_states : (i + 1) * n_states])
            state_parts[i * n_states : (i + 1) * n_states] = new_state
            x = keras.ops.expand_dims(x, 1) if i < cfg.layers - 1 else x
        else:
            x = layer(x)
            if cfg.dropout:
                x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)  # float32 even when mixed
    if step:
        return keras.Model(inputs, [logits, keras.ops.concatenate(state_parts, axis=-1)], name="charlm_step")
    return keras.Model(tokens, logits, name=f"charlm_{cfg.cell}")


def stack_layers(model: keras.Model, layers: int) -> StackLayers:
    """The layers of `build_model`'s model that the served `RecurrentStack` reads."""
    recurrent = [model.get_layer(f"rnn_{i}") for i in range(layers)]
    return StackLayers(model.get_layer("embedding"), recurrent, model.get_layer("logits"))


def recurrent_stack(model: keras.Model, cfg: Config) -> RecurrentStack | CellStack:
    """The trained model's cells as plain TF ops, one step at a time (serving, sampling)."""
    layers_of = functools.partial(stack_layers, layers=cfg.layers)
    return (
        CellStack(model, layers_of)
        if cfg.cell in LECTURE_CELLS
        else RecurrentStack(model, cfg.cell, layers_of)
    )


# ---------------------------------------------------------------- sampling
class CharLMServing(tf.Module):
    """What gets exported: `generate` (the whole sampling loop in the graph) and `step`."""

    def __init__(self, stack: RecurrentStack, vocab: text_data.CharVocabulary):
        super().__init__(name="charlm_serving")
        self.stack = stack
        self.xla_sample_ids = tf.function(functools.partial(self.sample_ids, xla=True), jit_compile=True)
        self.lookup = vocab.lookup_layer()
        # id -> code point; id 0 (unknown) renders as U+FFFD but is never sampled.
        self.codepoints = tf.constant([0xFFFD] + vocab.codepoints, tf.int32)
        self.banned_bias = decoding.banned_bias(vocab.size, [0])  # the unknown character: never sampled

    def encode(self, prompt):
        """Prompt strings -> ragged ids; an empty prompt means a newline."""
        prompt = tf.where(tf.strings.length(prompt) == 0, tf.constant("\n"), prompt)
        codepoints = tf.strings.unicode_decode(prompt, "UTF-8", errors="replace")
        ids = self.lookup(codepoints.flat_values)
        return codepoints.with_flat_values(tf.cast(ids, tf.int32))

    def generate(self, prompt, num_chars, temperature, top_k, seed, xla=False):
        ids = self.encode(prompt)
        padded, lengths, num_chars = after_checks(
            [
                tf.debugging.assert_positive(num_chars, message="num_chars must be > 0"),
                tf.debugging.assert_less_equal(
                    num_chars, MAX_GENERATE_CHARS, message=f"num_chars must be <= {MAX_GENERATE_CHARS}"
                ),
                tf.debugging.assert_equal(
                    tf.math.is_finite(temperature) & (temperature > 0),
                    True,
                    message="temperature must be finite and > 0 (use top_k=1 for greedy)",
                ),
                tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0 = no top-k filter)"),
                tf.debugging.assert_less_equal(
                    tf.reduce_max(ids.row_lengths()),
                    tf.constant(MAX_PROMPT_CHARS, tf.int64),
                    message=f"prompts must be at most {MAX_PROMPT_CHARS} characters",
                ),
            ],
            ids.to_tensor(),
            tf.cast(ids.row_lengths(), tf.int32),
            num_chars,
        )
        sample_ids = self.xla_sample_ids if xla else self.sample_ids
        tokens = sample_ids(padded, lengths, num_chars, temperature, top_k, seed)
        return {"text": tf.strings.unicode_encode(tf.gather(self.codepoints, tokens), "UTF-8")}

    def generate_xla(self, prompt, num_chars, temperature, top_k, seed):
        """`generate` with the loop compiled by XLA: faster, but TF Serving runs it only
        with --xla_cpu_compilation_enabled (CPU), so it is exported on request (--xla)."""
        return self.generate(prompt, num_chars, temperature, top_k, seed, xla=True)

    def sample_ids(self, padded, lengths, num_chars, temperature, top_k, seed, xla=False):
        """Numbers only (no strings), so it can be XLA-compiled: prompt ids -> generated ids."""
        kernels = self.stack.joined_kernels() if xla else None
        return decoding.sample_after_prompts(
            lambda tokens, state: self.stack.step(tokens, state, kernels),
            self.stack.zero_state(tf.shape(padded)[0]),
            padded,
            lengths,
            num_chars,
            tf.shape(self.codepoints)[0],
            temperature,
            top_k,
            seed,
            self.banned_bias,
        )

    def step(self, token, state):
        logits, state = self.stack.step(token, state)
        return {"logits": logits, "state": state}

    def checked_step(self, token, state):
        """`step` for served requests: a token outside the vocabulary (a GPU's gather would answer
        it with zeros) or NaN or inf in the state is refused; the LiteRT step's host sends only
        the ids and states it was given."""
        vocab_size = tf.shape(self.codepoints)[0]
        (token,) = after_checks(
            [
                tf.debugging.assert_non_negative(token, message="token must be >= 0"),
                tf.debugging.assert_less(token, vocab_size, message="token must be < the vocabulary size"),
                finite_check("state", state),
            ],
            token,
        )
        return self.step(token, state)


def generate_signature():
    return request_signature(
        "prompt", num_chars=tf.int32, temperature=tf.float32, top_k=tf.int32, seed=tf.int32
    )


def step_signature(state_size: int, batch=None):
    return [
        tf.TensorSpec([batch], tf.int32, name="token"),
        tf.TensorSpec([batch, state_size], tf.float32, name="state"),
    ]


class WriteSamples(keras.callbacks.Callback):
    """ "Sample as you train": after each epoch, append samples at a few temperatures
    to samples.txt (and print them), using the same in-graph sampler as the export."""

    TEMPERATURES = (0.5, 1.0)

    def __init__(self, cfg: Config, vocab, path: Path):
        super().__init__()
        self.cfg, self.vocab, self.path = cfg, vocab, path
        self.serving = None

    def on_epoch_end(self, epoch, logs=None):
        if self.serving is None:
            self.serving = CharLMServing(recurrent_stack(self.model, self.cfg), self.vocab)
            self._generate = tf.function(self.serving.generate, input_signature=generate_signature())
        else:
            self.serving.stack.assign_from(self.model)
        lines = [f"=== epoch {epoch + 1}  val_loss {logs.get('val_loss', float('nan')):.4f} nats/char ==="]
        prompt = tf.constant([self.cfg.sample_prompt])
        for temperature in self.TEMPERATURES:
            out = self._generate(prompt, self.cfg.sample_length, temperature, 0, self.cfg.seed + epoch)
            text = out["text"][0].numpy().decode()
            lines.append(f"--- temperature {temperature} ---\n{self.cfg.sample_prompt}{text}")
        block = "\n".join(lines) + "\n\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(block)
        print("\n" + block)


# ---------------------------------------------------------------- the task interface
class CharLMTask(Task):
    """`--task charlm`: a text corpus in; served as `generate` (and `generate_xla`) and `step`, and
    as the LiteRT `step`; `predict.py` continues a prompt."""

    name = NAME
    Config = Config
    Vocabulary = text_data.CharVocabulary
    export_options = frozenset({"xla"})
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        train_text, val_text = load_corpus(cfg)
        vocab = load_or_build_vocabulary(
            run_dir, text_data.CharVocabulary, lambda: text_data.CharVocabulary.from_text(train_text)
        )
        print(
            f"Corpus: {len(train_text):,} training / {len(val_text):,} validation characters, "
            f"{len(vocab.chars)} distinct (+1 unknown)"
        )
        train_ids, val_ids = vocab.encode(train_text), vocab.encode(val_text)
        train, train_batches, val, val_batches = make_datasets(cfg, train_ids, val_ids)
        model = build_model(
            cfg, vocab.size, batch_size=cfg.batch_size if cfg.stateful else None, stateful=cfg.stateful
        )
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
            model=model,
            train_data=train,
            validation_data=val,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy", bits_per_char],
            callbacks=callbacks,
            steps_per_epoch=cfg.steps_per_epoch or train_batches,
            validation_steps=val_batches,
            summary=summary,
            loss_label="cross-entropy (nats per character)",
        )

    def step_model(self, run: Run) -> keras.Model:
        """The Keras step form of a run's model (the tutorial sampler's model)."""
        step = build_model(run.config, run.vocab.size, step=True)
        step.set_weights(run.model.get_weights())
        return step

    def serving(self, run: Run, xla: bool = False) -> ServingSpec:
        """What export writes for a trained Keras model (see `CharLMServing`)."""
        cfg, vocab = run.config, run.vocab
        module = CharLMServing(recurrent_stack(run.model, cfg), vocab)
        size = module.stack.state_size
        endpoints = {
            "generate": (module.generate, generate_signature()),
            "step": (module.checked_step, step_signature(size)),
        }
        if xla:
            endpoints["generate_xla"] = (module.generate_xla, generate_signature())
        return ServingSpec(
            name=NAME,
            module=module,
            endpoints=endpoints,
            litert={"step": (module.step, step_signature(size, batch=1))},
            metadata={
                "task": NAME,
                "cell": cfg.cell,
                "layers": cfg.layers,
                "units": cfg.units,
                "state_size": size,
                "unknown_id": 0,
                "chars": vocab.chars,
                "inputs": {
                    "token": "int32 [1], character id (chars[i] has id i + 1)",
                    "state": f"float32 [1, {size}], zeros to start",
                },
                "outputs": {
                    "logits": f"float32 [1, {vocab.size}]",
                    "state": f"float32 [1, {size}], feed back next step",
                },
            },
            example={
                "signature_name": "generate",
                "inputs": {
                    "prompt": [cfg.sample_prompt],
                    "num_chars": 200,
                    "temperature": 0.8,
                    "top_k": 0,
                    "seed": 1,
                },
            },
        )

    def add_predict_arguments(self, parser) -> None:
        parser.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
        parser.add_argument(
            "--num-chars", type=int, default=300, help="characters to generate (default: 300)"
        )
        parser.add_argument(
            "--temperature", type=float, default=0.8, help="> 0; lower = more conservative (default: 0.8)"
        )
        parser.add_argument(
            "--top-k",
            type=int,
            default=0,
            help="keep the k most likely characters (0 = all, 1 = greedy; default: 0)",
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")

    def predict(self, run: Run, args) -> None:
        """Print the prompt and its continuation, sampled by the same in-graph sampler as the
        exported `generate` (the same seed gives the same text as the served model)."""
        if args.num_chars <= 0 or not 0 < args.temperature < math.inf or args.top_k < 0:
            raise UserError(
                "need --num-chars > 0, a finite --temperature > 0 and --top-k >= 0 (--top-k 1 is greedy)"
            )
        command_line_text(args.prompt, "--prompt")
        if args.num_chars > MAX_GENERATE_CHARS or len(args.prompt) > MAX_PROMPT_CHARS:
            raise UserError(
                f"need --num-chars <= {MAX_GENERATE_CHARS:,} and a --prompt of at most "
                f"{MAX_PROMPT_CHARS:,} characters (the served model's limits)"
            )
        unknown = run.vocab.unknown_chars(args.prompt)
        if unknown:
            print(
                f"warning: the prompt has characters the model never saw ({''.join(sorted(unknown))!r}); "
                "they are read as the unknown character",
                file=sys.stderr,
            )
        serving = CharLMServing(recurrent_stack(run.model, run.config), run.vocab)
        text = (
            serving.generate(
                tf.constant([args.prompt]),
                tf.constant(args.num_chars),
                tf.constant(args.temperature),
                tf.constant(args.top_k),
                tf.constant(args.seed),
            )["text"][0]
            .numpy()
            .decode("utf-8")
        )
        print(args.prompt + text)


TASK = CharLMTask()
