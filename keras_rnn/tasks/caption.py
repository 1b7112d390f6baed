"""Image captioning: a CNN encoder into a recurrent decoder, with or without visual attention.

Reading order: config -> model -> serving -> evaluation -> task.

- Encoder: a small CNN (rescaling, three conv + max-pool stages) whose last
  feature map is the memory: a grid of P = (size/8)² positions, D features each;
  or `--encoder mobilenet_v3_small` (Keras Applications; `--pretrained`: ImageNet
  weights, frozen), grid (size/32)². The grid's average is the image vector ("summary").
- Decoder: `keras_rnn.layers.AttentionDecoder`, as in translation. With
  `--attention bahdanau` it attends over the grid at every word ("show, attend
  and tell", Xu et al. 2015); with `--attention none` the image vector starts the
  recurrence and is fed at every step ("show and tell", Vinyals et al. 2015).
- Data (`keras_rnn.data.captions`): the splits, the caption words' vocabulary (word level; id 0
  padding, 1 unknown, 2 <start>, 3 <end>) and the tf.data pipeline. Default data: generated
  scenes (`keras_rnn.data.scenes`), whose object masks score the attention. `--captions-file`
  trains on your own images.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_rnn import UserError, metrics, plots
from keras_rnn import config as config_lib
from keras_rnn.config import TrainConfig, option
from keras_rnn.data import captions as caption_data
from keras_rnn.data import scenes
from keras_rnn.data.captions import END_ID, START_ID, Split, Vocabulary, declared_pixels, make_dataset, resize
from keras_rnn.data.tokens import PAD_ID
from keras_rnn.evaluation import best_checkpoint_summary, test_entries
from keras_rnn.export import ServingSpec, after_checks, request_signature
from keras_rnn.export import encoder_decoder as ed
from keras_rnn.export.encoder_decoder import DecodingReport, EncoderDecoderServing, greedy_texts
from keras_rnn.layers.decoder import ATTENTION, CELLS, AttentionDecoder
from keras_rnn.limits import MAX_CAPTION_TOKENS, MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
from keras_rnn.runs import Run, load_or_build_vocabulary
from keras_rnn.tasks.base import Task, TrainingPlan

NAME = "caption"
ENCODERS = {"cnn": 8, "mobilenet_v3_small": 32}  # encoder -> pixels per grid cell (side)


@dataclasses.dataclass
class Config(TrainConfig):
    epochs: int = option(10, "passes over the training images")
    captions_file: str | None = config_lib.train_file(
        "tab-separated image path (relative to the file) and caption per line, split 80/10/10 by "
        "image (--data-seed); default: generated scenes"
    )
    scenes_train: int = option(
        6000, "generated scenes for training (validation and test: --scenes-eval each)"
    )
    scenes_eval: int = option(500, "generated scenes for validation and for test (separate seeds)")
    image_size: int = option(
        64, "images are resized to this square size (a multiple of 8; of 32 for mobilenet)"
    )
    encoder: str = option(
        "cnn",
        "cnn: a small CNN trained from scratch (grid: size/8 per side); "
        "mobilenet_v3_small: Keras Applications' (grid: size/32 per side, e.g. 7 x 7 at 224)",
        choices=list(ENCODERS),
    )
    pretrained: bool = option(
        False, "mobilenet_v3_small with ImageNet weights, frozen (downloaded once: needs the network)"
    )
    filters: int = option(64, "cnn: channels of the last conv stage (the memory's features)")
    cell: str = option("gru", "decoder cell", choices=list(CELLS))
    units: int = option(128, "decoder units")
    embedding_dim: int = option(32, "word embedding size")
    attention: str = option(
        "bahdanau",
        "bahdanau (show, attend and tell), luong, cross (attention after the decoder RNN), or none (show and tell)",
        choices=list(ATTENTION),
    )
    attention_units: int = option(64, "size of the additive attention's hidden layer")
    max_caption_len: int = option(
        24, "caption tokens (words, punctuation) kept, <start>/<end> not counted (longer ones are skipped)"
    )
    vocab_size: int = option(5000, "most frequent caption words kept (the rest -> [UNK])")


def check_config(cfg: Config) -> None:
    """Refuse sizes that cannot work before reading any data."""
    sizes = "units embedding_dim attention_units max_caption_len vocab_size scenes_train scenes_eval"
    config_lib.require_at_least(cfg, 1, *sizes.split())
    config_lib.require_at_least(cfg, 4, "filters")  # the first conv stage has filters // 4 channels


# ---------------------------------------------------------------- model
def grid_side(cfg: Config) -> int:
    """Positions per side of the encoder's feature grid (the attention's memory)."""
    return cfg.image_size // ENCODERS[cfg.encoder]


def load_splits(cfg: Config) -> tuple[Split, Split, Split]:
    """The training, validation and test images (`keras_rnn.data.captions`), at a size the
    encoder takes."""
    cell = ENCODERS[cfg.encoder]
    if cfg.image_size % cell or cfg.image_size < 2 * cell:
        raise UserError(
            f"--image-size must be a multiple of {cell}, at least {2 * cell}, for the {cfg.encoder} "
            f"encoder; got {cfg.image_size}"
        )
    if cfg.pretrained and cfg.encoder == "cnn":
        raise UserError(
            "--pretrained needs --encoder mobilenet_v3_small (the cnn encoder starts from scratch)"
        )
    return caption_data.load_splits(cfg)


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
        return keras.applications.MobileNetV3Small(
            input_shape=(cfg.image_size, cfg.image_size, 3),
            weights=weights,
            include_top=False,
            include_preprocessing=True,
        )

    if not cfg.pretrained:
        return network(None)
    try:
        pretrained = network("imagenet")
    except Exception as e:  # Keras raises a bare Exception when the weights download fails
        raise UserError(
            f"could not load the ImageNet weights of MobileNetV3-Small ({str(e)[:100]}): they are "
            "downloaded once and need the network; or drop --pretrained"
        ) from None
    pretrained.trainable = False
    return pretrained


def build_model(cfg: Config, vocab_size: int) -> keras.Model:
    """(image [B, S, S, 3] uint8, caption input ids [B, T]) -> logits [B, T, V] (teacher forcing)."""
    image = keras.Input(shape=(cfg.image_size, cfg.image_size, 3), dtype="uint8", name="image")
    caption_in = keras.Input(shape=(None,), dtype="int32", name="caption_in")
    memory, summary = build_encoder(cfg)(image)
    decoder = AttentionDecoder(
        vocab_size,
        cfg.embedding_dim,
        cfg.units,
        memory.shape[-1],
        cell=cfg.cell,
        attention=cfg.attention,
        attention_units=cfg.attention_units,
        name="decoder",
    )
    summaries = [summary] * decoder.n_states
    logits = decoder(caption_in, memory, ops.ones_like(memory[:, :, 0], dtype="bool"), summaries)
    return keras.Model([image, caption_in], logits, name=f"caption_{cfg.cell}_{cfg.attention}")


# ---------------------------------------------------------------- serving
class CaptionServing(EncoderDecoderServing):
    """Encoded images in, captions (and attention over the grid) out: decoding, resizing,
    encoder, greedy or beam search. Exported as the SavedModel `caption` signature and as
    the LiteRT `encoder` and `decoder_step`."""

    start_id, end_id, max_length_limit = START_ID, END_ID, MAX_CAPTION_TOKENS
    text_output = "caption"

    def __init__(self, model: keras.Model, vocab: Vocabulary, cfg: Config):
        super().__init__(model, vocab.tokens, name="captioner")
        self.cfg = cfg
        self.max_steps = cfg.max_caption_len + 1  # decoding steps: the longest caption trained on, then <end>

    def encode(self, pixels):
        memory, summary = self.encoder(pixels)
        return memory, tf.ones_like(memory[:, :, 0], tf.bool), [summary] * self.decoder.n_states

    def decode_images(self, images):
        """Encoded images (JPEG, PNG, GIF, BMP bytes) [B] -> uint8 [B, S, S, 3]."""
        size = self.cfg.image_size

        def one(data):
            return resize(caption_data.decode_image(data), size)

        return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))

    def decode(self, pixels, beam_width, max_length) -> dict:
        """Decoded images uint8 [B, S, S, 3] -> captions (`greedy`: the training callbacks, evaluation)."""
        out = self.to_text(self.search(pixels, beam_width, max_length))
        return {"caption": out.pop("text"), **out}

    def caption(self, images, beam_width, max_length):
        checks = self.request_checks(images, beam_width, max_length, "image")
        declared = tf.map_fn(declared_pixels, images, fn_output_signature=tf.int64)  # headers only
        checks += [
            tf.debugging.assert_less_equal(
                declared,
                tf.constant(MAX_IMAGE_PIXELS, tf.int64),
                message=f"images may declare at most {MAX_IMAGE_PIXELS:,} pixels",
            ),
            tf.debugging.assert_less_equal(
                tf.reduce_sum(declared),
                tf.constant(MAX_REQUEST_PIXELS, tf.int64),
                message=f"the images of one request may declare at most {MAX_REQUEST_PIXELS:,} pixels",
            ),
        ]
        images, beam_width, max_length = after_checks(checks, images, beam_width, max_length)
        out = self.decode(self.decode_images(images), beam_width, max_length)
        return {k: out[k] for k in ("caption", "score", "attention", "length")}

    # LiteRT: every grid position is real, so the caption models need no mask.
    def litert_encoder(self, image):
        out = super().litert_encoder(image)
        return {"memory": out["memory"], "state": out["state"]}

    def decoder_step(self, token, state, memory):
        return super().decoder_step(token, state, memory, tf.ones_like(memory[:, :, 0]))

    def litert_signatures(self):
        s, grid = self.cfg.image_size, grid_side(self.cfg) ** 2
        return ([tf.TensorSpec([1, s, s, 3], tf.uint8, name="image")], self.decoder_step_signature(grid)[:3])


def caption_signature():
    return request_signature("images", beam_width=tf.int32, max_length=tf.int32)


# ---------------------------------------------------------------- evaluation
def write_attention_maps(
    serving: CaptionServing, images: np.ndarray, out_dir: Path, greedy=None, names=None
) -> list[Path]:
    """Per image (uint8 [N, S, S, 3]): a PNG of the image, then each generated word (greedy) with
    its attention over the grid; files `attention_<name>.png` (names default to 0, 1, ...)."""
    grid = grid_side(serving.cfg)

    def draw(out, i, path):
        words = [w.decode("utf-8") for w in out["tokens"][i].numpy() if w]
        maps = out["attention"][i, : len(words)].numpy().reshape(len(words), grid, grid)
        plots.plot_image_attention(
            path, images[i], words, maps, title="greedy: " + out["caption"][i].numpy().decode()
        )

    return ed.attention_maps(serving, images, out_dir, draw, greedy, names)


def validation_report(cfg: Config, vocab: Vocabulary, split: Split, run_dir: Path, maps: int = 3):
    """After each epoch: caption the validation images, log val_exact_match and val_bleu1..4;
    at the end: attention maps (with attention)."""
    references = caption_data.references(split)

    def attention_maps(module, greedy):
        if cfg.attention != "none" and maps:
            write_attention_maps(module, split.images[:maps], run_dir / "attention", greedy)

    return DecodingReport(
        lambda model: CaptionServing(model, vocab, cfg),
        split.images,
        lambda hypotheses: metrics.bleu_1_to_4(hypotheses, references),
        f"validation ({len(split.captions)} images)",
        digits=1,
        draw=attention_maps,
    )


def test_scores(serving: CaptionServing, test: Split) -> dict:
    """Test scores (greedy): exact match, BLEU-1..4, and where the attention looks."""
    hypotheses, outs = greedy_texts(serving, test.images)
    scores = metrics.bleu_1_to_4(hypotheses, caption_data.references(test))
    located = (
        scenes.attention_localisation(test.masks, test.shapes, outs, grid_side(serving.cfg))
        if serving.cfg.attention != "none"
        else None
    )
    return test_entries(
        "test_images",
        len(test.captions),
        scores,
        [{"reference": r, "caption": h} for r, h in zip(test.captions[:5], hypotheses[:5])],
        digits=1,
        note=f", attention on the named shape {100 * located:.1f}%" if located is not None else "",
        **({"test_attention_localisation": located} if located is not None else {}),
    )


# ---------------------------------------------------------------- the task interface
class CaptionTask(Task):
    """`--task caption`: captioned images in; served as `caption` (encoded images in, captions out),
    and as the LiteRT `encoder` and `decoder_step`; `predict.py` captions image files."""

    name = NAME
    Config = Config
    Vocabulary = Vocabulary
    check = staticmethod(check_config)

    def prepare(self, cfg: Config, run_dir: Path) -> TrainingPlan:
        train, val, test = load_splits(cfg)
        vocab = load_or_build_vocabulary(
            run_dir, Vocabulary, lambda: Vocabulary.from_captions(train.captions, cfg.vocab_size)
        )
        source = cfg.captions_file or "generated scenes"
        print(
            f"{source}: {len(train.captions):,} training captions / {len(val.captions):,} validation / "
            f"{len(test.captions):,} test images; {len(vocab)} token ids"
        )
        lookup = vocab.lookup()
        train_ds, train_batches = make_dataset(train, lookup, cfg, "training", shuffle=True)
        val_ds, val_batches = make_dataset(val, lookup, cfg, "validation", shuffle=False)
        model = build_model(cfg, len(vocab))

        return TrainingPlan(
            model=model,
            train_data=train_ds.repeat().prefetch(tf.data.AUTOTUNE),
            validation_data=val_ds.prefetch(tf.data.AUTOTUNE),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID),
            metrics=[metrics.masked_accuracy],
            callbacks=[validation_report(cfg, vocab, val, run_dir)],
            steps_per_epoch=cfg.steps_per_epoch or train_batches,
            validation_steps=val_batches,
            # test scores of the best checkpoint (greedy), and where its attention looks
            summary=best_checkpoint_summary(
                self, run_dir, lambda best: test_scores(CaptionServing(best, vocab, cfg), test)
            ),
            loss_label="cross-entropy (nats per caption token)",
        )

    def serving(self, run: Run, xla: bool = False) -> ServingSpec:
        cfg, vocab = run.config, run.vocab
        module = CaptionServing(run.model, vocab, cfg)
        encoder_signature, step_signature = module.litert_signatures()
        grid = grid_side(cfg)
        size = cfg.image_size
        return ServingSpec(
            name=NAME,
            module=module,
            endpoints={"caption": (module.caption, caption_signature())},
            litert={
                "encoder": (module.litert_encoder, encoder_signature),
                "decoder_step": (module.decoder_step, step_signature),
            },
            metadata={
                "task": NAME,
                "cell": cfg.cell,
                "attention": cfg.attention,
                "image_size": size,
                "grid": [grid, grid],
                "memory_dim": module.decoder.memory_dim,
                "state_size": module.decoder.packed_state_size(),
                "pad_id": PAD_ID,
                "start_id": START_ID,
                "end_id": END_ID,
                "vocab": vocab.tokens,
                "max_caption_len": cfg.max_caption_len,
                "encoder": {
                    "inputs": {
                        "image": f"uint8 [1, {size}, {size}, 3], RGB, stretched to that size (antialiased bilinear)"
                    },
                    "outputs": ["memory", "state"],
                },
                "decoder_step": {
                    "inputs": ["token", "state", "memory"],
                    "outputs": ["logits", "state", "attention"],
                },
            },
            example={
                "signature_name": "caption",
                "inputs": {"images": [{"b64": scenes.example_png(size)}], "beam_width": 3, "max_length": 20},
            },
        )

    def add_predict_arguments(self, parser) -> None:
        ed.add_predict_arguments(
            parser,
            "images",
            "image files (PNG, JPEG, GIF, BMP)",
            "--max-caption-len",
            "also write attention maps (PNG) to this directory",
        )

    def predict(self, run: Run, args) -> None:
        """One `image<TAB>caption` line per image, decoded as the exported `caption` signature does
        (same image decoding and resizing); with --maps, each image's (greedy) attention map."""
        module = CaptionServing(run.model, run.vocab, run.config)
        files = [Path(p) for p in args.images]

        def read():
            return tf.constant([caption_data.read_image_file(path)[0] for path in files])

        def answer(images, beam_width, max_length):
            return module.caption(images, beam_width, max_length)["caption"]

        def draw_maps(images, directory):
            if run.config.attention == "none":
                print(
                    "--maps: this run has no attention (--attention none), so there are no maps to draw",
                    file=sys.stderr,
                )
                return
            pixels = module.decode_images(images).numpy()
            stems = [p.stem for p in files]
            names = [s if stems.count(s) == 1 else f"{s}_{i}" for i, s in enumerate(stems)]  # a/x, b/x
            for path in write_attention_maps(module, pixels, directory, names=names):
                print(f"attention map: {path}")

        ed.predict(module, args, files, read, answer, draw_maps)


TASK = CaptionTask()
