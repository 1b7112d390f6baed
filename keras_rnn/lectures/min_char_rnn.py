"""min-char-rnn: the lectures' 112-line NumPy character model, ported to Keras faithfully.

As the original: one-hot input, a tanh RNN of 100 units, sequences of 25 characters, the loss
summed over them, weights N(0, 0.01²) and zero biases, Adagrad with learning rate 0.1 (the
accumulator starting at 0, `sqrt(mem + 1e-8)`: `keras.optimizers.Adagrad` computes exactly
this), gradients clipped element-wise to ±5 (`clipvalue`), the hidden state carried from one
chunk to the next (a `stateful` layer, zeroed at each pass over the text), the loss smoothed as
`0.999 s + 0.001 loss` from `seq_length · ln V`, and a 200-character sample every 100
iterations. Trained with `model.fit` (an epoch = 100 iterations). `lecture_loss_fun` is the
lecture's own forward and backward pass in NumPy: the tests check Keras' gradients against it,
and it against finite differences.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from keras_rnn import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--text-file", help="default: the Python standard library's source (offline)")
    parser.add_argument("--max-chars", type=int, default=100_000, help="characters of the text used")
    parser.add_argument("--iterations", type=int, default=10_000, help="chunks of 25 characters trained on")
    parser.add_argument("--hidden-size", type=int, default=100)
    parser.add_argument("--seq-length", type=int, default=25)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)


# what the lecture fixes in its code (not options): recorded in min-char-rnn.json beside the options
FIXED = {
    "init": "weights N(0, 0.01²), biases 0",
    "optimizer": "Adagrad, accumulator from 0, epsilon 1e-8",
    "clip_value": 5.0,
    "loss": "cross-entropy summed over the chunk",
    "smoothing": "0.999 s + 0.001 loss, from seq_length · ln V",
    "iterations_per_epoch": 100,
    "sample_every": 100,
    "sample_length": 200,
}


def lecture_loss_fun(inputs, targets, hprev, Wxh, Whh, Why, bh, by):  # noqa: N803 - the lecture's names
    """The lecture's lossFun, as written (float64): loss, gradients of Wxh, Whh, Why, bh, by, last h."""
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    vocab_size = Why.shape[0]
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)  # noqa: N806
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    return loss, (dWxh, dWhh, dWhy, dbh, dby), hs[len(inputs) - 1]


def build(vocab_size: int, hidden_size: int, seq_length: int, seed: int, stateful: bool = True):
    def small(offset):
        return keras.initializers.RandomNormal(stddev=0.01, seed=seed + offset)

    inputs = keras.Input(batch_shape=(1, seq_length, vocab_size), name="one_hot")
    hidden = keras.layers.SimpleRNN(
        hidden_size,
        return_sequences=True,
        stateful=stateful,
        kernel_initializer=small(0),
        recurrent_initializer=small(1),
        name="rnn",
    )(inputs)
    logits = keras.layers.Dense(vocab_size, kernel_initializer=small(2), name="logits")(hidden)
    return keras.Model(inputs, logits, name="min_char_rnn")


def lecture_weights(model) -> tuple:
    """The Keras weights in the lecture's layout: Wxh, Whh, Why, bh, by (float64)."""
    kernel, recurrent, bias = model.get_layer("rnn").get_weights()
    out_kernel, out_bias = model.get_layer("logits").get_weights()
    return tuple(
        np.asarray(w, np.float64)
        for w in (kernel.T, recurrent.T, out_kernel.T, bias[:, None], out_bias[:, None])
    )


def keras_gradients(model, inputs, targets, hprev) -> tuple:
    """Loss (summed over the chunk) and its gradients in the lecture's layout, from Keras' layers."""
    vocab_size = model.get_layer("logits").units
    rnn, dense = model.get_layer("rnn"), model.get_layer("logits")
    x = tf.one_hot([inputs], vocab_size)
    with tf.GradientTape() as tape:
        hidden = rnn.cell  # one step at a time from hprev, as the lecture
        h, outputs = tf.constant(hprev.T, tf.float32), []
        for t in range(len(inputs)):
            h, _ = hidden(x[:, t], [h])
            outputs.append(dense(h))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(
            tf.constant([targets]), tf.stack(outputs, 1)
        )
    kernel, recurrent, bias = rnn.cell.kernel, rnn.cell.recurrent_kernel, rnn.cell.bias
    grads = tape.gradient(loss, [kernel, recurrent, dense.kernel, bias, dense.bias])
    layout = (grads[0].numpy().T, grads[1].numpy().T, grads[2].numpy().T, grads[3].numpy()[:, None])
    return float(loss), (*layout, grads[4].numpy()[:, None])


def run(args, out) -> dict:
    if (
        min(args.max_chars, args.iterations, args.hidden_size, args.seq_length) < 1
        or not args.learning_rate > 0
    ):
        raise UserError(
            "need --max-chars, --iterations, --hidden-size, --seq-length >= 1 and --learning-rate > 0"
        )
    from keras_rnn.callbacks import ResetStates
    from keras_rnn.data import text as text_data

    data = (
        text_data.read_text_file(args.text_file)
        if args.text_file
        else text_data.stdlib_source(args.max_chars)
    )
    data = data[: args.max_chars]
    chars = sorted(set(data))
    vocab_size, seq = len(chars), args.seq_length
    starts = list(range(0, len(data) - seq - 1, seq))  # the lecture's p, pass after pass
    if not starts:
        raise UserError(f"the text has {len(data)} characters: fewer than one chunk of --seq-length + 2")
    print(f"data has {len(data)} characters, {vocab_size} unique; {len(starts)} chunks per pass")
    ids = np.array([chars.index(c) for c in data])
    x = np.stack([ids[p : p + seq] for p in starts])
    y = np.stack([ids[p + 1 : p + seq + 1] for p in starts])
    dataset = tf.data.Dataset.from_tensor_slices((tf.one_hot(x, vocab_size), y)).batch(1, drop_remainder=True)
    dataset = dataset.repeat()

    keras.utils.set_random_seed(args.seed)
    model = build(vocab_size, args.hidden_size, seq, args.seed)
    model.compile(
        optimizer=keras.optimizers.Adagrad(
            args.learning_rate, initial_accumulator_value=0.0, epsilon=1e-8, clipvalue=5.0
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"),
    )
    rng = np.random.default_rng(args.seed)
    record = Record(chars, x, rng, -math.log(1.0 / vocab_size) * seq)
    epochs = -(-args.iterations // 100)
    model.fit(
        dataset, epochs=epochs, steps_per_epoch=100, verbose=0, callbacks=[ResetStates(len(starts)), record]
    )
    draw(record.smooth, out / "min_char_rnn.png")
    print(f"iter {100 * epochs}, smoothed loss {record.smooth[-1]:.2f} (from {record.smooth[0]:.2f})")
    print(f"----\n{record.samples[-1]['text']}\n----")
    return {
        "characters": len(data),
        "vocabulary": vocab_size,
        "iterations": 100 * epochs,
        "smooth_loss_start": -math.log(1.0 / vocab_size) * seq,
        "smooth_loss": [round(v, 3) for v in record.smooth],
        "samples": record.samples,
    }


class Record(keras.callbacks.Callback):
    """The lecture's bookkeeping: the smoothed loss per iteration and a 200-character sample from
    the carried state every 100 iterations (numpy sampling, as the lecture)."""

    def __init__(self, chars, chunks, rng, start: float):
        super().__init__()
        self.chars, self.chunks, self.rng = chars, chunks, rng
        self.smooth, self.samples, self.mean, self.iteration, self.start = [], [], 0.0, 0, start

    def on_epoch_begin(self, epoch, logs=None):
        self.mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        loss = logs["loss"] * (batch + 1) - self.mean * batch  # Keras logs the epoch's running mean
        self.mean = logs["loss"]
        previous = self.smooth[-1] if self.smooth else self.start
        self.smooth.append(previous * 0.999 + loss * 0.001)
        self.iteration += 1

    def on_epoch_end(self, epoch, logs=None):
        hprev = self.model.get_layer("rnn").states[0].numpy()[0][:, None].astype(np.float64)
        seed = int(self.chunks[self.iteration % len(self.chunks), 0])
        text = sample(self.model, hprev, seed, 200, self.rng)
        self.samples.append({"iteration": self.iteration, "text": "".join(self.chars[i] for i in text)})


def sample(model, h, seed_ix: int, n: int, rng) -> list[int]:
    """The lecture's sample(): n character ids drawn from the softmax, each fed back."""
    Wxh, Whh, Why, bh, by = lecture_weights(model)  # noqa: N806
    x = np.zeros((Wxh.shape[1], 1))
    x[seed_ix] = 1
    ixes = []
    for _ in range(n):
        h = np.tanh(np.dot(Wxh, x) + np.dot(Whh, h) + bh)
        y = np.dot(Why, h) + by
        p = np.exp(y - y.max()) / np.sum(np.exp(y - y.max()))
        ix = int(rng.choice(len(p), p=p.ravel()))
        x = np.zeros_like(x)
        x[ix] = 1
        ixes.append(ix)
    return ixes


def draw(smooth: list, path) -> None:
    from keras_rnn.plots import plt, save_figure

    fig, axis = plt.subplots(figsize=(7, 4))
    axis.plot(range(1, len(smooth) + 1), smooth)
    axis.set_xlabel("iteration (chunks of 25 characters)")
    axis.set_ylabel("smoothed loss (nats per chunk)")
    axis.set_title("min-char-rnn in Keras")
    axis.grid(alpha=0.3)
    save_figure(fig, path)
