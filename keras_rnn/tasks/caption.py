"""Image captioning: a CNN encoder into a recurrent decoder, with or without visual attention.

Reading order: config -> data (scenes or a captions file) -> model -> serving ->
evaluation -> task.

- Encoder: a small CNN (rescaling, three conv + max-pool stages) whose last
  feature map is the memory: a grid of P = (size/8)² positions, D features each;
  or `--encoder mobilenet_v3_small` (Keras Applications; `--pretrained`: ImageNet
  weights, frozen), grid (size/32)². The grid's average is the image vector ("summary").
- Decoder: the translation task's `AttentionDecoder`, unchanged. With
  `--attention bahdanau` it attends over the grid at every word ("show, attend
  and tell", Xu et al. 2015); with `--attention none` the image vector starts the
  recurrence and is fed at every step ("show and tell", Vinyals et al. 2015).
- Words: the translation task's word tokenizer and `StringLookup`; id 0 padding,
  1 unknown, 2 <start>, 3 <end>.
- Default data: generated scenes (`keras_rnn.data.scenes`), whose object masks
  score the attention. `--captions-file` trains on your own images.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_rnn import UserError, config as config_lib, decoding, plots
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import scenes
from keras_rnn.export import ServingSpec, after_checks
from keras_rnn.tasks.translate import (END, PAD, START, UNKNOWN, AttentionDecoder, detokenize, masked_accuracy,
                                       tokenize)
from keras_rnn.training import VOCAB_FILE, TrainingPlan, load_run

NAME = "caption"
PAD_ID, START_ID, END_ID = 0, 2, 3
MAX_BEAM_WIDTH = 16
MAX_CAPTION_TOKENS = 64
ENCODERS = {"cnn": 8, "mobilenet_v3_small": 32}  # encoder -> pixels per grid cell (side)


@dataclasses.dataclass
class Config(TrainConfig):
    epochs: int = option(10, "passes over the training images")
    captions_file: Optional[str] = option(None, "tab-separated image path (relative to the file) and caption per "
                                                "line; default: generated scenes")
    scenes_train: int = option(6000, "generated scenes for training (validation and test: --scenes-eval each)")
    scenes_eval: int = option(500, "generated scenes for validation and for test (separate seeds)")
    image_size: int = option(64, "images are resized to this square size (a multiple of 8; of 32 for mobilenet)")
    encoder: str = option("cnn", "cnn: a small CNN trained from scratch (grid: size/8 per side); "
                          "mobilenet_v3_small: Keras Applications' (grid: size/32 per side, e.g. 7 x 7 at 224)",
                          choices=list(ENCODERS))
    pretrained: bool = option(False, "mobilenet_v3_small with ImageNet weights, frozen (downloaded once: needs "
                                     "the network)")
    filters: int = option(64, "cnn: channels of the last conv stage (the memory's features)")
    cell: str = option("gru", "decoder cell", choices=["gru", "lstm"])
    units: int = option(128, "decoder units")
    embedding_dim: int = option(32, "word embedding size")
    attention: str = option("bahdanau", "bahdanau (show, attend and tell), luong, or none (show and tell)",
                            choices=["bahdanau", "luong", "none"])
    attention_units: int = option(64, "size of the additive attention's hidden layer")
    max_caption_len: int = option(24, "longest caption in tokens, words and punctuation (longer ones are skipped "
                                      "in training)")
    vocab_size: int = option(5000, "most frequent caption words kept (the rest -> [UNK])")


# ---------------------------------------------------------------- data
@dataclasses.dataclass
class Split:
    images: np.ndarray   # uint8 [N, size, size, 3]
    captions: list[str]
    masks: Optional[np.ndarray] = None  # generated scenes only: object masks [N, K, size, size]
    shapes: Optional[list] = None


def read_image_file(path):
    """(the file's bytes, the decoded RGB image) of a PNG, JPEG, GIF or BMP file, or a UserError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"{path}: {e.strerror}") from None
    try:
        return data, tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError:
        raise UserError(f"{path}: not a readable PNG, JPEG, GIF or BMP image") from None


def resize(image, size: int):
    """Decoded image [H, W, 3] -> uint8 [size, size, 3]: stretched (not cropped), antialiased bilinear;
    the same in training and in the exported `caption` signature."""
    return tf.cast(tf.round(tf.image.resize(image, [size, size], antialias=True)), tf.uint8)


def read_captions_file(path, size: int) -> tuple[list[str], np.ndarray, list[str]]:
    """A TSV file of `image path<TAB>caption` lines (paths relative to the file; an image may have
    several lines) -> (image path per line, the distinct images decoded and resized, caption per
    line); a bad line or image is an error naming the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read the captions file ({e}): give a UTF-8 text file") from None
    names, captions, images = [], [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise UserError(f"{path}:{number}: expected 'image path<TAB>caption'")
        name = parts[0].strip()
        if name not in images:
            try:
                _, image = read_image_file(path.parent / name)
            except UserError as e:
                raise UserError(f"{path}:{number}: cannot read image {name} ({e}): fix or remove that line") from None
            images[name] = resize(image, size).numpy()
        names.append(name)
        captions.append(unicodedata.normalize("NFKC", parts[1].strip()))
    if len(images) < 3:
        raise UserError(f"{path}: {len(images)} captioned image(s); need at least 3 (train, validation, test)")
    order = list(images)
    return names, np.stack([images[n] for n in order]), captions


def split_captions_file(cfg: Config) -> tuple[Split, Split, Split]:
    """A seeded 80/10/10 split by image (all captions of an image on the same side); training
    keeps every caption, validation and test the first caption of each image (one reference)."""
    names, pixels, captions = read_captions_file(cfg.captions_file, cfg.image_size)
    index = {name: i for i, name in enumerate(dict.fromkeys(names))}
    order = np.random.default_rng(cfg.seed).permutation(len(index))
    n_eval = max(1, len(order) // 10)
    held_out = {"validation": set(order[:n_eval]), "test": set(order[n_eval:2 * n_eval])}
    train = [i for i, name in enumerate(names) if index[name] not in held_out["validation"] | held_out["test"]]

    first_line = {}
    for i, name in enumerate(names):
        first_line.setdefault(index[name], i)

    def first_captions(chosen):
        lines = [first_line[image] for image in sorted(chosen)]
        return Split(pixels[[index[names[i]] for i in lines]], [captions[i] for i in lines])

    return (Split(pixels[[index[names[i]] for i in train]], [captions[i] for i in train]),
            first_captions(held_out["validation"]), first_captions(held_out["test"]))


def grid_side(cfg: Config) -> int:
    """Positions per side of the encoder's feature grid (the attention's memory)."""
    return cfg.image_size // ENCODERS[cfg.encoder]


def load_splits(cfg: Config) -> tuple[Split, Split, Split]:
    cell = ENCODERS[cfg.encoder]
    if cfg.image_size % cell or cfg.image_size < 2 * cell:
        raise UserError(f"--image-size must be a multiple of {cell}, at least {2 * cell}, for the {cfg.encoder} "
                        f"encoder; got {cfg.image_size}")
    if cfg.pretrained and cfg.encoder == "cnn":
        raise UserError("--pretrained needs --encoder mobilenet_v3_small (the cnn encoder starts from scratch)")
    if cfg.captions_file:
        return split_captions_file(cfg)
    if cfg.scenes_train < 1 or cfg.scenes_eval < 1:
        raise UserError(f"need --scenes-train and --scenes-eval >= 1; got {cfg.scenes_train}, {cfg.scenes_eval}")
    made = [scenes.generate(n, cfg.seed + offset, cfg.image_size)
            for n, offset in ((cfg.scenes_train, 0), (cfg.scenes_eval, 10_000), (cfg.scenes_eval, 20_000))]
    return tuple(Split(s.images, s.captions, s.masks, s.shapes) for s in made)


class Vocabulary:
    """Caption words (ids: 0 padding, 1 unknown, 2 <start>, 3 <end>, then the words)."""

    def __init__(self, words: list[str]):
        self.words = words

    @classmethod
    def build(cls, captions, size: int) -> "Vocabulary":
        tokens = tokenize(tf.constant(captions), "word").flat_values.numpy()
        return cls([START, END] + [t.decode("utf-8") for t, _ in Counter(tokens).most_common(size)])

    def save(self, path):
        Path(path).write_text(json.dumps({"words": self.words}, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path):
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["words"])

    def lookup(self) -> keras.layers.StringLookup:
        return keras.layers.StringLookup(vocabulary=self.words, mask_token=PAD, oov_token=UNKNOWN)

    def tokens(self) -> list[str]:
        return [PAD, UNKNOWN] + self.words


def caption_ids(captions, lookup) -> tf.RaggedTensor:
    """Strings [N] -> ragged ids <start> ... <end>."""
    ids = tf.cast(tf.ragged.map_flat_values(lookup, tokenize(tf.constant(captions), "word")), tf.int32)
    n = len(captions)
    return tf.concat([tf.RaggedTensor.from_tensor(tf.fill([n, 1], START_ID)), ids,
                      tf.RaggedTensor.from_tensor(tf.fill([n, 1], END_ID))], axis=1)


def make_dataset(split: Split, lookup, cfg: Config, name: str, shuffle: bool):
    """((image, caption input ids), caption output ids) batches, and the number of batches."""
    ids = caption_ids(split.captions, lookup)
    keep = (ids.row_lengths() <= cfg.max_caption_len + 2).numpy()
    if not keep.any():
        raise UserError(f"the {name} split has no caption of at most --max-caption-len {cfg.max_caption_len} words")
    if not keep.all():
        print(f"{name}: skipped {int((~keep).sum())} of {len(keep)} captions over --max-caption-len words")
    ids = tf.ragged.boolean_mask(ids, keep).to_tensor()
    ds = tf.data.Dataset.from_tensor_slices(((split.images[keep], ids[:, :-1]), ids[:, 1:]))
    if shuffle:
        ds = ds.shuffle(int(keep.sum()), seed=cfg.seed, reshuffle_each_iteration=True)
    return ds.batch(cfg.batch_size), -(-int(keep.sum()) // cfg.batch_size)


# ---------------------------------------------------------------- model
def build_encoder(cfg: Config) -> keras.Model:
    """image uint8 [B, S, S, 3] -> memory [B, grid², D], summary [B, D]."""
    image = keras.Input(shape=(cfg.image_size, cfg.image_size, 3), dtype="uint8", name="image")
    if cfg.encoder == "cnn":
        x = keras.layers.Rescaling(1 / 255, name="rescale")(image)
        for i, filters in enumerate((cfg.filters // 4, cfg.filters // 2, cfg.filters)):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
            x = keras.layers.MaxPooling2D(name=f"pool_{i}")(x)
    else:
        x = keras.layers.Rescaling(1.0, name="to_float")(image)  # the network rescales 0..255 itself
        x = pretrained_network(cfg)(x)
    grid = grid_side(cfg)
    memory = keras.layers.Reshape((grid * grid, x.shape[-1]), name="grid")(x)
    summary = keras.layers.GlobalAveragePooling1D(name="summary")(memory)
    return keras.Model(image, [memory, summary], name="encoder")


def pretrained_network(cfg: Config) -> keras.Model:
    """MobileNetV3-Small without its classifier; ImageNet weights (frozen) with --pretrained."""
    def network(weights):
        return keras.applications.MobileNetV3Small(input_shape=(cfg.image_size, cfg.image_size, 3), weights=weights,
                                                   include_top=False, include_preprocessing=True)

    if not cfg.pretrained:
        return network(None)
    try:
        pretrained = network("imagenet")
    except Exception as e:  # Keras raises a bare Exception when the weights download fails
        raise UserError(f"could not load the ImageNet weights of MobileNetV3-Small ({str(e)[:100]}): they are "
                        "downloaded once and need the network; or drop --pretrained") from None
    pretrained.trainable = False
    return pretrained


def build_model(cfg: Config, vocab_size: int) -> keras.Model:
    """(image [B, S, S, 3] uint8, caption input ids [B, T]) -> logits [B, T, V] (teacher forcing)."""
    image = keras.Input(shape=(cfg.image_size, cfg.image_size, 3), dtype="uint8", name="image")
    caption_in = keras.Input(shape=(None,), dtype="int32", name="caption_in")
    memory, summary = build_encoder(cfg)(image)
    decoder = AttentionDecoder(vocab_size, cfg.embedding_dim, cfg.units, memory.shape[-1], cell=cfg.cell,
                               attention=cfg.attention, attention_units=cfg.attention_units, name="decoder")
    summaries = [summary] * decoder.n_states
    logits = decoder(caption_in, memory, ops.ones_like(memory[:, :, 0], dtype="bool"), summaries)
    return keras.Model([image, caption_in], logits, name=f"caption_{cfg.cell}_{cfg.attention}")


# ---------------------------------------------------------------- serving
class Captioner(tf.Module):
    """Encoded images in, captions (and attention over the grid) out: decoding, resizing,
    encoder, greedy or beam search. Holds the model's own layers; exported as the SavedModel
    `caption` signature and as the LiteRT `encoder` and `decoder_step`."""

    def __init__(self, model: keras.Model, vocab: Vocabulary, cfg: Config):
        super().__init__(name="captioner")
        self.model, self.cfg = model, cfg
        self.encoder, self.decoder = model.get_layer("encoder"), model.get_layer("decoder")
        self.words = tf.constant(vocab.tokens())

    def decode_images(self, images):
        """Encoded images (JPEG, PNG, GIF, BMP bytes) [B] -> uint8 [B, S, S, 3]."""
        size = self.cfg.image_size

        def one(data):
            return resize(tf.io.decode_image(data, channels=3, expand_animations=False), size)

        return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))

    def search(self, pixels, beam_width, max_length):
        memory, summary = self.encoder(pixels)
        constants, state = self.decoder.start(memory, tf.ones_like(memory[:, :, 0], tf.bool),
                                              [summary] * self.decoder.n_states)
        start = tf.fill([tf.shape(pixels)[0]], START_ID)
        if isinstance(beam_width, int) and beam_width == 1:
            return decoding.greedy_search(self.decoder.step, state, constants, start, END_ID, max_length)
        return decoding.beam_search(self.decoder.step, state, constants, start, END_ID, max_length, beam_width)

    def to_text(self, found):
        tokens = tf.RaggedTensor.from_tensor(tf.gather(self.words, found["tokens"]), lengths=found["lengths"])
        text = detokenize(tf.strings.reduce_join(tokens, axis=1, separator=" "), "word")
        return {"caption": text, "score": found["scores"], "attention": found["attention"],
                "length": found["lengths"], "tokens": tokens.to_tensor("")}

    def caption(self, images, beam_width, max_length):
        images, beam_width, max_length = after_checks([
            tf.debugging.assert_greater_equal(beam_width, 1, message="beam_width must be >= 1"),
            tf.debugging.assert_less_equal(beam_width, MAX_BEAM_WIDTH, message=f"beam_width must be <= {MAX_BEAM_WIDTH}"),
            tf.debugging.assert_positive(max_length, message="max_length must be > 0"),
            tf.debugging.assert_less_equal(max_length, MAX_CAPTION_TOKENS,
                                           message=f"max_length must be <= {MAX_CAPTION_TOKENS}"),
            tf.debugging.assert_positive(tf.size(images), message="images must hold at least one image")],
            images, beam_width, max_length)
        out = self.to_text(self.search(self.decode_images(images), beam_width, max_length))
        return {k: out[k] for k in ("caption", "score", "attention", "length")}

    def greedy_pixels(self, pixels, max_length):
        """Decoded images uint8 [B, S, S, 3] -> greedy captions (training callbacks, evaluation)."""
        return self.to_text(self.search(pixels, 1, max_length))

    # LiteRT: fixed shapes; the host decodes the image and maps ids to words (metadata).
    def litert_encoder(self, image):
        memory, summary = self.encoder(image)
        _, state = self.decoder.start(memory, tf.ones_like(memory[:, :, 0], tf.bool), [summary] * self.decoder.n_states)
        return {"memory": memory, "state": self.decoder.pack(state, [summary])}

    def decoder_step(self, token, state, memory):
        return self.decoder.packed_step(token, state, memory, tf.ones_like(memory[:, :, 0]))

    def litert_signatures(self):
        s, grid = self.cfg.image_size, grid_side(self.cfg) ** 2
        return ([tf.TensorSpec([1, s, s, 3], tf.uint8, name="image")],
                [tf.TensorSpec([1], tf.int32, name="token"),
                 tf.TensorSpec([1, self.decoder.packed_state_size()], tf.float32, name="state"),
                 tf.TensorSpec([1, grid, self.decoder.memory_dim], tf.float32, name="memory")])


def example_png(size: int, seed: int = 7) -> str:
    """A generated scene as base64 PNG: the body of an example REST request."""
    import base64

    return base64.b64encode(tf.io.encode_png(scenes.generate(1, seed, size).images[0]).numpy()).decode("ascii")


def caption_signature():
    return [tf.TensorSpec([None], tf.string, name="images"),
            tf.TensorSpec([], tf.int32, name="beam_width"),
            tf.TensorSpec([], tf.int32, name="max_length")]


# ---------------------------------------------------------------- evaluation
def references(captions) -> list[str]:
    """Captions normalised like the model's output (lowercase words, punctuation glued back)."""
    joined = tf.strings.reduce_join(tokenize(tf.constant(captions), "word"), axis=1, separator=" ")
    return [t.decode("utf-8") for t in detokenize(joined, "word").numpy()]


def caption_split(captioner: Captioner, split: Split, batch_size=256, greedy=None):
    greedy = greedy or tf.function(captioner.greedy_pixels)
    outs = [greedy(tf.constant(split.images[i:i + batch_size]), tf.constant(captioner.cfg.max_caption_len + 1))
            for i in range(0, len(split.captions), batch_size)]
    hypotheses = [t.decode("utf-8") for out in outs for t in out["caption"].numpy()]
    return hypotheses, outs


def score_captions(hypotheses: list[str], refs: list[str]) -> dict:
    """Exact match (%) and BLEU-1 .. BLEU-4 (sacrebleu, one reference per image)."""
    from sacrebleu.metrics import BLEU

    scores = {"exact_match": 100.0 * float(np.mean([h == r for h, r in zip(hypotheses, refs)]))}
    for n in range(1, 5):
        scores[f"bleu{n}"] = BLEU(max_ngram_order=n).corpus_score(hypotheses, [refs]).score
    return scores


def attention_localisation(split: Split, outs, grid: int) -> Optional[float]:
    """Share of generated shape words (circle, square, triangle) whose attention peak lies on
    an object of that shape in the image (GUIDE §5). None without masks or attention."""
    if split.masks is None:
        return None
    size = split.images.shape[1]
    cell = size // grid
    hits = total = 0
    i = 0
    for out in outs:
        tokens, attention = out["tokens"].numpy(), out["attention"].numpy()
        for row in range(tokens.shape[0]):
            for t, word in enumerate(tokens[row]):
                word = word.decode("utf-8")
                if word not in scenes.SHAPES or not attention[row, t].any():
                    continue
                peak = int(np.argmax(attention[row, t]))
                y, x = divmod(peak, grid)
                patch = split.masks[i][:, y * cell:(y + 1) * cell, x * cell:(x + 1) * cell].any(axis=(1, 2))
                total += 1
                hits += any(p and s == word for p, s in zip(patch, split.shapes[i]))
            i += 1
    return hits / total if total else None


def write_attention_maps(captioner: Captioner, images: np.ndarray, out_dir: Path, greedy=None,
                         names=None) -> list[Path]:
    """Per image (uint8 [N, S, S, 3]): a PNG of the image, then each generated word (greedy) with
    its attention over the grid; files `attention_<name>.png` (names default to 0, 1, ...)."""
    greedy = greedy or tf.function(captioner.greedy_pixels)
    out = greedy(tf.constant(images), tf.constant(captioner.cfg.max_caption_len + 1))
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = grid_side(captioner.cfg)
    paths = []
    for i, name in enumerate(names or range(len(images))):
        words = [w.decode("utf-8") for w in out["tokens"][i].numpy() if w]
        maps = out["attention"][i, :len(words)].numpy().reshape(len(words), grid, grid)
        path = out_dir / f"attention_{name}.png"
        plots.plot_image_attention(path, images[i], words, maps,
                                   title="greedy: " + out["caption"][i].numpy().decode())
        paths.append(path)
    return paths


class CaptionReport(keras.callbacks.Callback):
    """After each epoch: caption the validation images, log val_exact_match and val_bleu1..4;
    at the end: attention maps (with attention)."""

    def __init__(self, cfg: Config, vocab: Vocabulary, split: Split, run_dir: Path, maps: int = 3):
        super().__init__()
        self.cfg, self.vocab, self.split, self.run_dir, self.maps = cfg, vocab, split, run_dir, maps
        self.refs = references(split.captions)
        self.captioner = None

    def _ready(self):
        if self.captioner is None:
            self.captioner = Captioner(self.model, self.vocab, self.cfg)
            self.greedy = tf.function(self.captioner.greedy_pixels)
        return self.captioner

    def on_epoch_end(self, epoch, logs=None):
        hypotheses, _ = caption_split(self._ready(), self.split, greedy=self.greedy)
        scores = score_captions(hypotheses, self.refs)
        print(f"\nvalidation ({len(hypotheses)} images): " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items()))
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in scores.items()})

    def on_train_end(self, logs=None):
        if self.cfg.attention != "none" and self.maps:
            write_attention_maps(self._ready(), self.split.images[:self.maps], self.run_dir / "attention", self.greedy)


# ---------------------------------------------------------------- the task interface
def check_config(cfg: Config) -> None:
    """Refuse sizes that cannot work before reading any data."""
    config_lib.require_at_least(cfg, 1, "units", "embedding_dim", "attention_units", "max_caption_len",
                                "vocab_size", "scenes_train", "scenes_eval")
    config_lib.require_at_least(cfg, 4, "filters")  # the first conv stage has filters // 4 channels


class CaptionTask:
    name = NAME
    Config = Config
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        train, val, test = load_splits(cfg)
        vocab_path = run_dir / VOCAB_FILE
        vocab = Vocabulary.load(vocab_path) if vocab_path.exists() else Vocabulary.build(train.captions, cfg.vocab_size)
        vocab.save(vocab_path)
        source = cfg.captions_file or "generated scenes"
        print(f"{source}: {len(train.captions):,} training captions / {len(val.captions):,} validation / "
              f"{len(test.captions):,} test images; {len(vocab.words)} words (+2)")
        lookup = vocab.lookup()
        train_ds, train_batches = make_dataset(train, lookup, cfg, "training", shuffle=True)
        val_ds, val_batches = make_dataset(val, lookup, cfg, "validation", shuffle=False)
        model = build_model(cfg, len(vocab.words) + 2)

        def summary(metrics):
            """Test scores of the best checkpoint (greedy), and where its attention looks."""
            _, _, best = self.load(run_dir)
            hypotheses, outs = caption_split(Captioner(best, vocab, cfg), test)
            scores = score_captions(hypotheses, references(test.captions))
            located = attention_localisation(test, outs, grid_side(cfg)) if cfg.attention != "none" else None
            print("test: " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items())
                  + (f", attention on the named shape {100 * located:.1f}%" if located is not None else ""))
            return {"test_images": len(test.captions), **{f"test_{k}": v for k, v in scores.items()},
                    **({"test_attention_localisation": located} if located is not None else {}),
                    "test_examples": [{"reference": r, "caption": h} for r, h in
                                      zip(test.captions[:5], hypotheses[:5])]}

        return TrainingPlan(
            model=model, train_data=train_ds.repeat().prefetch(tf.data.AUTOTUNE),
            validation_data=val_ds.prefetch(tf.data.AUTOTUNE),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID),
            metrics=[masked_accuracy], callbacks=[CaptionReport(cfg, vocab, val, run_dir)],
            steps_per_epoch=cfg.steps_per_epoch or train_batches, validation_steps=val_batches, summary=summary,
            loss_label="cross-entropy (nats per caption token)")

    def load(self, run_dir: Path):
        """(config, vocabulary, trained Keras model) of a run."""
        return load_run(run_dir, Config, Vocabulary)

    def serving(self, run_dir: Path, xla: bool = False) -> ServingSpec:
        if xla:
            raise UserError("the caption export has no XLA variant; drop --xla")
        cfg, vocab, model = self.load(run_dir)
        module = Captioner(model, vocab, cfg)
        encoder_signature, step_signature = module.litert_signatures()
        grid = grid_side(cfg)
        return ServingSpec(
            name=NAME, module=module,
            endpoints={"caption": (module.caption, caption_signature())},
            litert={"encoder": (module.litert_encoder, encoder_signature),
                    "decoder_step": (module.decoder_step, step_signature)},
            metadata={"task": NAME, "cell": cfg.cell, "attention": cfg.attention, "image_size": cfg.image_size,
                      "grid": [grid, grid], "memory_dim": module.decoder.memory_dim, "state_size": module.decoder.packed_state_size(),
                      "pad_id": PAD_ID, "start_id": START_ID, "end_id": END_ID, "vocab": vocab.tokens(),
                      "max_caption_len": cfg.max_caption_len,
                      "encoder": {"inputs": {"image": f"uint8 [1, {cfg.image_size}, {cfg.image_size}, 3], RGB, "
                                                      "stretched to that size (antialiased bilinear)"},
                                  "outputs": ["memory", "state"]},
                      "decoder_step": {"inputs": ["token", "state", "memory"],
                                       "outputs": ["logits", "state", "attention"]}},
            example={"signature_name": "caption",
                     "inputs": {"images": [{"b64": example_png(cfg.image_size)}], "beam_width": 3,
                                "max_length": 20}})


TASK = CaptionTask()
