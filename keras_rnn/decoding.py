"""Sampling from logits (and a language model's sampling loop, `sample_after_prompts`) and
searching for outputs, in pure TensorFlow so it runs inside exported graphs; and the
TensorFlow tutorial's Python-loop sampler (`KerasStepSampler`), the reference the in-graph
loops are tested and timed against."""

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


def sample_after_prompts(
    step_fn, state, padded, lengths, num_steps, vocab_size, temperature, top_k, seed, banned_bias=None
):
    """A language model's sampling loop: feed the prompts (ids [B, T], 0-padded; `lengths` [B])
    through `step_fn(tokens [B], state [B, S]) -> (logits [B, V], new state)`, each row stopping at
    its own length, then draw `num_steps` ids per row (`sample`, step i seeded by (seed, i)), each
    fed back: ids [B, num_steps]. Numbers only, so XLA can compile it."""
    batch = tf.shape(padded)[0]

    def prime(t, state, last_logits):  # feed the prompt; rows stop at their own length
        logits, new_state = step_fn(padded[:, t], state)
        state = tf.where((t < lengths)[:, None], new_state, state)
        last_logits = tf.where((t == lengths - 1)[:, None], logits, last_logits)
        return t + 1, state, last_logits

    _, state, logits = tf.while_loop(
        lambda t, *_: t < tf.shape(padded)[1], prime, (tf.constant(0), state, tf.zeros([batch, vocab_size]))
    )

    def draw(i, state, logits, out):
        token = sample(logits, temperature, top_k, seed, i, banned_bias=banned_bias)
        logits, state = step_fn(token, state)
        return i + 1, state, logits, out.write(i, token)

    _, _, _, out = tf.while_loop(
        lambda i, *_: i < num_steps,
        draw,
        (tf.constant(0), state, logits, tf.TensorArray(tf.int32, size=num_steps)),
    )
    return tf.transpose(out.stack())


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


def beam_search(
    step_fn, state, constants, start_ids, end_id, max_length, beam_width, length_penalty=0.0, early_stop=True
):
    """Keeps the `beam_width` most probable prefixes per input; beam_width 1 is greedy.

    Beams are ranked by summed log-probability while searching; a finished beam
    stays a candidate with its score frozen. The answer is the finished beam with
    the best `score / ((5 + length) / 6) ** length_penalty` (GNMT's length
    normalisation; 0 = none, > 0 favours longer outputs, < 0 shorter ones). The
    search runs to max_length, or stops as soon as that cannot change the answer
    (`_settled`); `early_stop=False` (for tests) always runs to max_length.
    """
    batch, k = tf.shape(start_ids)[0], beam_width

    def tile(x):  # [B, ...] -> [B * K, ...], the K copies of row b adjacent
        return tf.repeat(x, k, axis=0)

    state, constants = tf.nest.map_structure(tile, state), tf.nest.map_structure(tile, constants)
    # Only beam 0 is alive at the start, so the first step does not pick K copies of one token.
    scores = tf.tile(tf.concat([[0.0], tf.fill([k - 1], _NEG)], 0)[None], [batch, 1])

    def body(t, tokens, state, finished, scores, lengths, out_tokens, out_parents, out_attention):
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
        parent_finished, ends = tf.gather(finished, parents, batch_dims=1), next_tokens == end_id
        # Tokens before the end token: frozen once finished, else the steps run (t + 1, or t when ending now).
        grown = tf.cast(t + 1, tf.float32) - tf.cast(ends, tf.float32)
        lengths = tf.where(parent_finished, tf.gather(lengths, parents, batch_dims=1), grown)
        attention = tf.reshape(tf.gather(attention, flat_parents), [batch, k, -1])
        return (
            t + 1,
            tf.reshape(next_tokens, [-1]),
            state,
            parent_finished | ends,
            top.values,
            lengths,
            out_tokens.write(t, next_tokens),
            out_parents.write(t, parents),
            out_attention.write(t, attention),
        )

    def running(t, _, __, finished, scores, lengths, *rest):
        if not early_stop:
            return t < max_length
        return (t < max_length) & ~_settled(t, finished, scores, lengths, max_length, length_penalty)

    _, _, _, finished, scores, lengths, out_tokens, out_parents, out_attention = tf.while_loop(
        running,
        body,
        (
            tf.constant(0),
            tile(start_ids),
            state,
            tf.zeros([batch, k], tf.bool),
            scores,
            tf.zeros([batch, k]),
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
    best = _best_finished(finished, scores, lengths, length_penalty)
    best_tokens, best_attention = _backtrack(tokens, parents, attention, best)
    return {
        "tokens": best_tokens,
        "scores": tf.gather(scores, best, batch_dims=1),
        "lengths": _lengths(best_tokens, end_id),
        "attention": best_attention,
    }


def _length_penalty(lengths, alpha):
    """GNMT's ((5 + length) / 6) ** alpha: normalised score = summed log-probability / this."""
    return ((5.0 + lengths) / 6.0) ** alpha


def _best_finished(finished, scores, lengths, alpha):
    """[B] the beam with the best normalised score; a finished beam beats every unfinished one
    (those only compete in a row where max_length cut every beam)."""
    normalized = scores / _length_penalty(lengths, alpha)
    normalized = tf.where(finished | ~tf.reduce_any(finished, axis=1, keepdims=True), normalized, 2 * _NEG)
    return tf.argmax(normalized, axis=-1, output_type=tf.int32)


def _settled(t, finished, scores, lengths, max_length, alpha):
    """True when no further step can change any row's answer, so the search may stop.

    Every row has a finished beam, and its best one F (the answer now, score s_F, normalised
    s_F / P(n_F), P(n) = ((5 + n) / 6) ** alpha) stays the answer to max_length:
    1. no live beam can beat F: a live beam's continuations score at most its score s now
       (log-probabilities are <= 0) and, if they finish, have a length n in [t, max_length - 1]
       (t tokens so far; the end token is output max_length at the latest). As s <= 0 their
       best normalised score is s / max P(n) over those n; P is monotone in n, so the maximum
       is at an end: P(max_length - 1) when alpha > 0, P(t) when alpha < 0, 1 when alpha = 0
       (then this is the rule "the top beam has finished"). An unfinished beam never beats F;
    2. F stays in the beam: no live beam scores above s_F, so no continuation can push F out.
       With alpha >= 0, 1 implies 2 (P(n_F) <= P(max_length - 1)); with alpha < 0, F can win
       normalised while longer live beams still score more, and stopping then would answer F
       where running on can push F out of the beam and answer something else.
    """
    best = _best_finished(finished, scores, lengths, alpha)
    best_score = tf.gather(scores, best, batch_dims=1)
    best_normalized = best_score / tf.gather(_length_penalty(lengths, alpha), best, batch_dims=1)
    reachable = tf.cast(tf.stack([t, max_length - 1]), tf.float32)
    bound = scores / tf.reduce_max(_length_penalty(reachable, alpha))
    live_bound = tf.reduce_max(tf.where(finished, -float("inf"), bound), axis=1)
    live_score = tf.reduce_max(tf.where(finished, -float("inf"), scores), axis=1)
    settled = tf.reduce_any(finished, axis=1) & (best_normalized >= live_bound) & (best_score >= live_score)
    return tf.reduce_all(settled)


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


def _lengths(tokens, end_id):
    """Tokens before the end token (or all, when it never came)."""
    content = tf.cast((tokens != end_id) & (tokens != 0), tf.int32)
    return tf.reduce_sum(tf.math.cumprod(content, axis=1), axis=1)


def _no_padding(logp):
    """Padding (id 0) is never a real output token."""
    return tf.concat([tf.fill(tf.shape(logp[..., :1]), _NEG), logp[..., 1:]], axis=-1)
