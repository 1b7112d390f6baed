"""Sampling from logits and searching for outputs, in pure TensorFlow so it runs inside
exported graphs; and the TensorFlow tutorial's Python-loop sampler (`KerasStepSampler`),
the reference the in-graph loops are tested and timed against."""

from __future__ import annotations

import tensorflow as tf

_NEG = -1e9


def banned_bias(vocab_size: int, banned_ids) -> tf.Tensor:
    """[V] logit bias for `filter_logits`: -1e9 at `banned_ids`, 0 elsewhere."""
    return tf.tensor_scatter_nd_update(
        tf.zeros([vocab_size]), [[i] for i in banned_ids], tf.fill([len(banned_ids)], _NEG)
    )


def filter_logits(logits, temperature, top_k, banned_bias=None):
    """Scale by 1/temperature, add `banned_bias`, keep the top_k largest (0 = all).

    `banned_bias` is [V]: -1e9 at ids never worth drawing (e.g. the unknown
    character), 0 elsewhere. Written with few ops: it runs once per generated
    token inside served loops, where each op costs microseconds.
    """
    logits = logits * (1.0 / temperature)
    if banned_bias is not None:
        logits += banned_bias

    def keep_top_k():  # k clipped to [1, V]: XLA compiles this branch even when top_k is 0
        k = tf.clip_by_value(top_k, 1, tf.shape(logits)[-1])
        kth_largest = tf.math.top_k(logits, k=k).values[:, -1:]
        return tf.where(logits < kth_largest, tf.constant(_NEG, logits.dtype), logits)

    return tf.cond(top_k > 0, keep_top_k, lambda: logits)


def sample(logits, temperature, top_k, seed, step, banned_bias=None):
    """Draw one id per row; deterministic for a given (seed, step).

    top_k=1 is greedy: one finite logit is left, which the draw always picks.
    """
    filtered = filter_logits(logits, temperature, top_k, banned_bias)
    return tf.random.stateless_categorical(filtered, 1, seed=tf.stack([seed, step]), dtype=tf.int32)[:, 0]


# ---------------------------------------------------------------- search for encoder-decoders
# Both searches drive any autoregressive model through one closure,
#     step_fn(tokens [N], state, constants) -> (logits [N, V], new state, attention [N, P]),
# where `state` and `constants` are nests of [N, ...] tensors: the decoder state
# (re-ordered when beams are re-ranked) and what stays fixed while decoding one
# input (encoder memory, its mask: tiled once per beam, never re-ordered). Nothing
# here knows about text. Token id 0 is padding: it fills every position after `end_id`.
# Outputs: tokens [B, L] (L = steps run, <= max_length, `end_id` included),
# scores [B] (summed log-probabilities), lengths [B] (tokens before `end_id`),
# attention [B, L, P] (the weights each output token was produced with).


class KerasStepSampler:
    """The TensorFlow tutorial's sampler ("Text generation with an RNN", `OneStep`).

    A Python loop calls one `tf.function` per character; inside it: the input
    character (a string) -> id, one step of the Keras step model
    (`tasks.charlm.build_model(step=True)`), temperature / top-k sampling, id -> character.
    It is the reference the exported models are tested against, and the speed
    baseline. It draws the same random numbers as the exported `generate`.
    """

    def __init__(self, step_model, vocab):
        self.model, self.vocab = step_model, vocab
        self.state_size = step_model.inputs[1].shape[-1]
        self.ids_from_codepoints = vocab.lookup_layer()
        self.codepoints = tf.constant([0xFFFD] + vocab.codepoints, tf.int32)
        self.banned_bias = banned_bias(len(vocab.chars) + 1, [0])  # never the unknown character
        self.generate_one_step = tf.function(self._one_step)

    def _one_step(self, char, state, temperature, top_k, seed, i):
        ids = tf.cast(
            self.ids_from_codepoints(tf.strings.unicode_decode(char, "UTF-8").to_tensor()), tf.int32
        )
        logits, state = self.model([ids[:, -1:], state])
        next_id = sample(logits, temperature, top_k, seed, i, banned_bias=self.banned_bias)
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


def greedy_search(step_fn, state, constants, start_ids, end_id, max_length):
    batch = tf.shape(start_ids)[0]

    def body(t, tokens, state, finished, scores, out_tokens, out_attention):
        logits, state, attention = step_fn(tokens, state, constants)
        logp = _no_padding(tf.nn.log_softmax(tf.cast(logits, tf.float32)))
        best = tf.argmax(logp, axis=-1, output_type=tf.int32)
        next_tokens = tf.where(finished, 0, best)
        scores += tf.where(finished, 0.0, tf.reduce_max(logp, axis=-1))
        return (
            t + 1,
            next_tokens,
            state,
            finished | (best == end_id),
            scores,
            out_tokens.write(t, next_tokens),
            out_attention.write(t, attention),
        )

    _, _, _, finished, scores, out_tokens, out_attention = tf.while_loop(
        lambda t, _, __, finished, *rest: (t < max_length) & ~tf.reduce_all(finished),
        body,
        (
            tf.constant(0),
            start_ids,
            state,
            tf.zeros([batch], tf.bool),
            tf.zeros([batch]),
            tf.TensorArray(tf.int32, size=0, dynamic_size=True),
            tf.TensorArray(tf.float32, size=0, dynamic_size=True),
        ),
    )
    tokens = tf.transpose(out_tokens.stack())
    return {
        "tokens": tokens,
        "scores": scores,
        "lengths": _lengths(tokens, end_id),
        "attention": tf.transpose(out_attention.stack(), [1, 0, 2]),
    }


def beam_search(step_fn, state, constants, start_ids, end_id, max_length, beam_width, length_penalty=0.0):
    """Keeps the `beam_width` most probable prefixes per input; beam_width 1 is greedy.

    Beams are ranked by summed log-probability while searching; a finished beam
    stays a candidate with its score frozen. The search stops at max_length or when
    every input's most probable beam has finished (no live beam can then overtake
    it: scores only fall). The answer is the finished beam with the best
    `score / ((5 + length) / 6) ** length_penalty` (GNMT's length normalisation;
    0 = none, > 0 favours longer outputs).
    """
    batch, k = tf.shape(start_ids)[0], beam_width

    def tile(x):  # [B, ...] -> [B * K, ...], the K copies of row b adjacent
        return tf.repeat(x, k, axis=0)

    state, constants = tf.nest.map_structure(tile, state), tf.nest.map_structure(tile, constants)
    # Only beam 0 is alive at the start, so the first step does not pick K copies of one token.
    scores = tf.tile(tf.concat([[0.0], tf.fill([k - 1], _NEG)], 0)[None], [batch, 1])

    def body(t, tokens, state, finished, scores, out_tokens, out_parents, out_attention):
        logits, state, attention = step_fn(tokens, state, constants)
        logp = _no_padding(tf.nn.log_softmax(tf.cast(logits, tf.float32)))
        vocab = tf.shape(logp)[-1]
        logp = tf.reshape(logp, [batch, k, vocab])
        pad_only = tf.one_hot(
            0, vocab, on_value=0.0, off_value=_NEG
        )  # a finished beam only extends by padding
        logp = tf.where(finished[:, :, None], pad_only, logp)
        top = tf.math.top_k(tf.reshape(scores[:, :, None] + logp, [batch, k * vocab]), k=k)
        parents, next_tokens = top.indices // vocab, top.indices % vocab
        flat_parents = tf.reshape(parents + tf.range(batch)[:, None] * k, [-1])
        state = tf.nest.map_structure(lambda s: tf.gather(s, flat_parents), state)
        finished = tf.gather(finished, parents, batch_dims=1) | (next_tokens == end_id)
        attention = tf.reshape(tf.gather(attention, flat_parents), [batch, k, -1])
        return (
            t + 1,
            tf.reshape(next_tokens, [-1]),
            state,
            finished,
            top.values,
            out_tokens.write(t, next_tokens),
            out_parents.write(t, parents),
            out_attention.write(t, attention),
        )

    _, _, _, finished, scores, out_tokens, out_parents, out_attention = tf.while_loop(
        lambda t, _, __, finished, *rest: (t < max_length) & ~tf.reduce_all(finished[:, 0]),
        body,
        (
            tf.constant(0),
            tile(start_ids),
            state,
            tf.zeros([batch, k], tf.bool),
            scores,
            tf.TensorArray(tf.int32, size=0, dynamic_size=True),
            tf.TensorArray(tf.int32, size=0, dynamic_size=True),
            tf.TensorArray(tf.float32, size=0, dynamic_size=True),
        ),
    )
    tokens, parents, attention = (
        out_tokens.stack(),
        out_parents.stack(),
        out_attention.stack(),
    )  # [L, B, K, ...]
    # The length of every final beam (steps to its end token), for the length penalty.
    sequences = tf.reshape(tf.transpose(_backtrack_all(tokens, parents), [1, 2, 0]), [batch * k, -1])
    beam_lengths = tf.cast(tf.reshape(_lengths(sequences, end_id), [batch, k]), tf.float32)
    normalized = scores / ((5.0 + beam_lengths) / 6.0) ** length_penalty
    # A finished beam beats every unfinished one (those only remain when max_length cut them).
    normalized = tf.where(finished | ~tf.reduce_any(finished, axis=1, keepdims=True), normalized, 2 * _NEG)
    best = tf.argmax(normalized, axis=-1, output_type=tf.int32)
    best_tokens, best_attention = _backtrack(tokens, parents, attention, best)
    return {
        "tokens": best_tokens,
        "scores": tf.gather(scores, best, batch_dims=1),
        "lengths": _lengths(best_tokens, end_id),
        "attention": best_attention,
    }


def _backtrack(tokens, parents, attention, last_beam):
    """Follow parent pointers from the last step back: the chosen beam's tokens and attention."""

    def back(carry, step):
        step_tokens, step_parents, step_attention = step
        beam = carry[0]
        return (
            tf.gather(step_parents, beam, batch_dims=1),
            tf.gather(step_tokens, beam, batch_dims=1),
            tf.gather(step_attention, beam, batch_dims=1),
        )

    _, out_tokens, out_attention = tf.scan(
        back,
        (tokens, parents, attention),
        reverse=True,
        initializer=(last_beam, tf.zeros_like(last_beam), tf.zeros_like(attention[0, :, 0])),
    )
    return tf.transpose(out_tokens), tf.transpose(out_attention, [1, 0, 2])


def _backtrack_all(tokens, parents):
    """The token sequences [L, B, K] of all K final beams."""
    k = tf.shape(tokens)[2]
    beams = tf.tile(tf.range(k)[None], [tf.shape(tokens)[1], 1])

    def back(carry, step):
        step_tokens, step_parents = step
        return tf.gather(step_parents, carry[0], batch_dims=1), tf.gather(step_tokens, carry[0], batch_dims=1)

    return tf.scan(back, (tokens, parents), reverse=True, initializer=(beams, beams))[1]


def _lengths(tokens, end_id):
    """Tokens before the end token (or all, when it never came)."""
    content = tf.cast((tokens != end_id) & (tokens != 0), tf.int32)
    return tf.reduce_sum(tf.math.cumprod(content, axis=1), axis=1)


def _no_padding(logp):
    """Padding (id 0) is never a real output token."""
    return tf.concat([tf.fill(tf.shape(logp[..., :1]), _NEG), logp[..., 1:]], axis=-1)
