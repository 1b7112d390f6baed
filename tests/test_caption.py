"""Captioning end to end on generated scenes: train (CLI) -> export (CLI) -> serve
(SavedModel in a process without keras, LiteRT host without TensorFlow), plus the
scene generator and bad input."""

import base64
import io
import json
import struct
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data import scenes
from keras_rnn.hosts.caption import CaptionLiteRT
from keras_rnn.tasks import caption
from tests.conftest import run_cli
from tests.export_harness import (
    assert_builtin_ops_only,
    assert_exported_on_a_gpu_answers_alike,
    assert_mixed_precision_run_exports,
    run_without_tensorflow,
    serve,
)

TRAIN_ARGS = [
    "--scenes-train",
    "600",
    "--scenes-eval",
    "40",
    "--units",
    "48",
    "--filters",
    "16",
    "--embedding-dim",
    "16",
    "--attention-units",
    "16",
    "--epochs",
    "3",
    "--batch-size",
    "32",
    "--learning-rate",
    "0.005",
    "--seed",
    "3",
]


def png(image: np.ndarray) -> bytes:
    return tf.io.encode_png(image).numpy()


# ---------------------------------------------------------------- scenes
def test_scenes_are_deterministic_and_captions_name_what_is_drawn():
    a, b, c = scenes.generate(30, 1), scenes.generate(30, 1), scenes.generate(30, 2)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.captions == b.captions != c.captions
    for i, text in enumerate(a.captions):
        parts = text.split(" and ")
        assert len(parts) == len(a.shapes[i]) and 1 <= len(parts) <= 2
        for j, part in enumerate(parts):
            colour, shape = part.split()[1:3]
            assert shape == a.shapes[i][j]
            mask = a.masks[i, j]
            np.testing.assert_array_equal(np.median(a.images[i][mask], axis=0), scenes.COLOURS[colour])
            y, x = np.argwhere(mask).mean(axis=0) // (64 / 3)  # the mask's centre is in the named cell
            assert part.endswith(scenes.place(int(y), int(x)).split(" ", 1)[1]), (part, y, x)


# ---------------------------------------------------------------- train -> export -> serve
@pytest.fixture(scope="module")
def exported(caption_exported):  # trained and exported once per session (tests/conftest.py) with TRAIN_ARGS
    return caption_exported


@pytest.fixture(scope="module")
def loaded(exported):
    run = caption.TASK.load(exported[0])
    captioner = caption.CaptionServing(run.model, run.vocab, run.config)
    test = caption.load_splits(run.config)[2]
    return run.config, captioner, test


def test_training_learns_and_reports_bleu_and_attention(exported):
    run_dir = exported[0]
    history = [line.split(",") for line in (run_dir / "history.csv").read_text().splitlines()]
    val_loss = [float(row[history[0].index("val_loss")]) for row in history[1:]]
    assert val_loss[-1] < val_loss[0], val_loss
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_images"] == 40 and 0 <= metrics["test_attention_localisation"] <= 1
    assert metrics["test_bleu1"] >= metrics["test_bleu4"] and metrics["test_bleu1"] > 20
    assert len(list((run_dir / "attention").glob("*.png"))) == 3


def test_savedmodel_answers_a_rest_body_with_b64_images_without_keras(exported, loaded):
    _, captioner, test = loaded
    expected = captioner.greedy(tf.constant(test.images[:3]), 20)["caption"].numpy()
    body = {
        "signature_name": "caption",
        "inputs": {
            "images": [{"b64": base64.b64encode(png(image)).decode()} for image in test.images[:3]],
            "beam_width": 1,
            "max_length": 20,
        },
    }
    out = serve(exported[1], body)
    assert out["caption"] == [c.decode() for c in expected]
    grid = (captioner.cfg.image_size // 8) ** 2
    assert np.array(out["attention"]).shape[0::2] == (3, grid)
    np.testing.assert_allclose(np.array(out["attention"]).sum(-1)[:, 0], 1, atol=1e-5)


def test_savedmodel_beam_search_and_bad_requests(exported, loaded):
    _, captioner, test = loaded
    fn = tf.saved_model.load(str(exported[1])).signatures["caption"]

    def call(images, beam_width=3, max_length=20):
        return fn(
            images=tf.constant(images), beam_width=tf.constant(beam_width), max_length=tf.constant(max_length)
        )

    images = [png(image) for image in test.images[:4]]
    beam = call(images)
    assert beam["caption"].shape == (4,)
    greedy = call(images, beam_width=1)  # the beam search with one beam is greedy
    expected = captioner.greedy(tf.constant(test.images[:4]), 20)["caption"]
    assert greedy["caption"].numpy().tolist() == expected.numpy().tolist()
    resized = call([png(np.repeat(np.repeat(test.images[0], 2, 0), 2, 1))])  # 128 x 128: resized to 64
    assert resized["caption"].shape == (1,)
    with pytest.raises(tf.errors.InvalidArgumentError):
        call([b"not an image"])
    for kwargs, message in [
        ({"beam_width": 0}, "beam_width must be >= 1"),
        ({"max_length": 0}, "max_length must be > 0"),
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call([png(test.images[0])], **kwargs)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least one image"):
        fn(images=tf.constant([], tf.string), beam_width=tf.constant(1), max_length=tf.constant(5))
    big = bomb_png(png(test.images[0]), 6000, 6000)  # 36 M pixels: allowed alone, not three at once
    for images, message in [
        ([bomb_png(png(test.images[0]), 20000, 20000)], "at most 40,000,000 pixels"),
        ([big] * 3, "one request may declare at most 80,000,000"),
    ]:
        started = time.monotonic()
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            fn(images=tf.constant(images), beam_width=tf.constant(1), max_length=tf.constant(5))
        assert time.monotonic() - started < 5  # refused from the headers, before decoding


def bomb_png(png: bytes, width: int, height: int) -> bytes:
    """`png` with its header rewritten to declare width x height (a valid CRC): a decompression bomb."""
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def test_declared_pixels_are_read_from_the_headers_of_every_format():
    from PIL import Image

    from keras_rnn.data.captions import declared_pixels

    image = Image.fromarray(np.zeros((5, 7, 3), np.uint8))
    for form in ("PNG", "JPEG", "GIF", "BMP"):
        encoded = io.BytesIO()
        image.save(encoded, form)
        assert int(declared_pixels(tf.constant(encoded.getvalue()))) == 35, form
    assert int(declared_pixels(tf.constant(b"hi"))) == 0  # not an image: decoding refuses it


def test_attention_localisation_scores_peaks_on_the_named_object():
    """Hand-made decoder outputs: a peak on the circle's cell counts, one elsewhere does not."""
    made = scenes.generate(1, 0)
    made.masks[0, 0] = False
    made.masks[0, 0, 0:8, 0:8] = True  # a "circle" filling grid cell (0, 0) of an 8 x 8 grid
    made.shapes = [["circle"]]
    tokens = tf.constant([[b"a", b"red", b"circle", b""]])

    def score(peak):
        attention = np.zeros((1, 4, 64), np.float32)
        attention[0, :3, peak] = 1
        outs = [{"tokens": tokens, "attention": tf.constant(attention)}]
        return scenes.attention_localisation(made.masks, made.shapes, outs, 8)

    assert score(0) == 1.0 and score(63) == 0.0


def test_litert_host_greedy_matches_keras_word_for_word(exported, loaded):
    _, captioner, test = loaded
    host = CaptionLiteRT(exported[2])
    expected = captioner.greedy(tf.constant(test.images[:6]), 25)
    for i in range(6):
        ids, attention = host.greedy_ids(test.images[i : i + 1], 25)
        words = [w.decode() for w in expected["tokens"].numpy()[i] if w]
        assert [host.meta["vocab"][j] for j in ids] == words
        np.testing.assert_allclose(
            attention[: len(words)], expected["attention"].numpy()[i, : len(words)], atol=1e-4
        )
    for path in exported[2].glob("*.tflite"):
        assert_builtin_ops_only(path)


def test_litert_host_reads_an_image_file_without_tensorflow(exported, loaded, tmp_path):
    _, captioner, test = loaded
    image_file = tmp_path / "scene.png"
    image_file.write_bytes(png(test.images[0]))
    expected = captioner.greedy(tf.constant(test.images[:1]), 25)["caption"].numpy()[0].decode()
    printed = run_without_tensorflow(
        "from keras_rnn.hosts.caption import CaptionLiteRT\n"
        f"m = CaptionLiteRT({str(exported[2])!r})\nprint(m.caption(m.pixels({str(image_file)!r})))"
    )
    assert printed == expected


def test_litert_host_refuses_a_decompression_bomb_before_decoding(exported, tmp_path):
    """A 1 KB PNG declaring 20000 x 20000 pixels: one error line, at once, without decoding it."""
    bomb = bomb_png(base64.b64decode(scenes.example_png(32)), 20000, 20000)
    (tmp_path / "bomb.png").write_bytes(bomb)
    started = time.monotonic()
    proc = run_cli("-m", "keras_rnn.hosts.caption", exported[2], tmp_path / "bomb.png", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("error: ") and "over 40,000,000 pixels" in proc.stderr
    )
    assert time.monotonic() - started < 30


def test_caption_images_cli_captions_files_and_draws_maps(exported, loaded, tmp_path):
    _, captioner, test = loaded
    (tmp_path / "a.png").write_bytes(png(test.images[0]))
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    expected = captioner.greedy(tf.constant(test.images[:1]), 30)["caption"].numpy()[0].decode()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "a.png").write_bytes(png(test.images[1]))  # the same file name in another folder
    proc = run_cli(
        "predict.py",
        "--task",
        "caption",
        "--run-dir",
        exported[0],
        "--beam-width",
        "1",
        "--maps",
        tmp_path / "maps",
        tmp_path / "a.png",
        tmp_path / "b" / "a.png",
    )
    assert proc.stdout.splitlines()[0] == f"{tmp_path / 'a.png'}\t{expected}"
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["attention_a_0.png", "attention_a_1.png"]
    assert (tmp_path / "maps" / "attention_a_0.png").stat().st_size > 5_000
    proc = run_cli(
        "-m", "keras_rnn.caption_images", "--run-dir", exported[0], tmp_path / "notes.txt", check=False
    )
    assert proc.returncode == 2 and "notes.txt: not a readable PNG, JPEG, GIF or BMP image" in proc.stderr


# ---------------------------------------------------------------- your own images, bad input
def test_captions_file_trains_and_bad_images_are_named(tmp_path):
    made = scenes.generate(12, 5)
    lines = []
    for i, (image, text) in enumerate(zip(made.images, made.captions)):
        (tmp_path / f"{i}.png").write_bytes(png(np.repeat(np.repeat(image, 2, 0), 2, 1)))  # 128 px: resized
        lines += [f"{i}.png\t{text}", f"{i}.png\t{text.upper()}"]  # two captions per image
    good = tmp_path / "captions.tsv"
    good.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")  # with a byte-order mark
    cfg = caption.Config(captions_file=str(good))
    train, val, test = caption.load_splits(cfg)
    # split by image: 10 images (both captions) / 1 / 1 (first caption), no image on two sides
    assert (len(train.captions), len(val.captions), len(test.captions)) == (20, 1, 1)
    assert train.images.shape[1:] == (64, 64, 3) and train.masks is None
    train_images = {im.tobytes() for im in train.images}
    assert val.images[0].tobytes() not in train_images and test.images[0].tobytes() not in train_images
    run_cli(
        "train.py",
        "--task",
        "caption",
        "--captions-file",
        good,
        "--epochs",
        "1",
        "--units",
        "8",
        "--filters",
        "8",
        "--run-dir",
        tmp_path / "run",
    )
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test_images"] == 1
    for text, message in [
        ("", "0 captioned image"),
        ("0.png\n1.png\ta\n", "captions.tsv:1: expected"),
        ("0.png\ta\n1.png\tb\n", "2 captioned image"),
    ]:
        good.write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match=message):
            caption.load_splits(cfg)
    with pytest.raises(UserError, match="--scenes-eval >= 1"):
        caption.load_splits(caption.Config(scenes_eval=0))

    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n not really")
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join(lines[:3] + ["broken.png\ta red circle"]) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.tsv:4: cannot read image broken.png"):
        caption.load_splits(caption.Config(captions_file=str(bad)))
    missing = tmp_path / "missing.tsv"
    missing.write_text("nowhere.png\ta blue square\n", encoding="utf-8")
    with pytest.raises(UserError, match="missing.tsv:1: cannot read image nowhere.png"):
        caption.load_splits(caption.Config(captions_file=str(missing)))
    with pytest.raises(UserError, match="multiple of 8"):
        caption.load_splits(caption.Config(image_size=60))
    proc = run_cli(
        "train.py", "--task", "caption", "--captions-file", bad, "--run-dir", tmp_path / "r", check=False
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1].startswith("error: ")
        and "cannot read image broken.png" in proc.stderr
    )
    assert not (tmp_path / "r").exists()  # refused before training: no half-made run


def test_mobilenet_encoder_trains_exports_and_matches_in_litert(tmp_path):
    """--encoder mobilenet_v3_small (Keras Applications, random weights offline): a 2 x 2 grid at 64 px."""
    args = [
        "--encoder",
        "mobilenet_v3_small",
        "--scenes-train",
        "64",
        "--scenes-eval",
        "8",
        "--epochs",
        "1",
        "--units",
        "16",
        "--embedding-dim",
        "8",
        "--attention-units",
        "8",
    ]
    run_cli("train.py", "--task", "caption", "--run-dir", tmp_path / "run", *args)
    run_cli(
        "export.py",
        "--task",
        "caption",
        "--run-dir",
        tmp_path / "run",
        "--out",
        tmp_path / "out",
        "--no-sample",
    )
    run = caption.TASK.load(tmp_path / "run")
    cfg, captioner = run.config, caption.CaptionServing(run.model, run.vocab, run.config)
    assert captioner.decoder.memory_dim == 576 and caption.grid_side(cfg) == 2
    images = caption.load_splits(cfg)[2].images[:2]
    expected = captioner.greedy(tf.constant(images), 10)
    host = CaptionLiteRT(tmp_path / "out" / "litert" / "caption" / "1")
    for i in range(2):
        ids, _ = host.greedy_ids(images[i : i + 1], 10)
        assert [host.meta["vocab"][j] for j in ids] == [
            w.decode() for w in expected["tokens"].numpy()[i] if w
        ]
    with pytest.raises(UserError, match="multiple of 32"):
        caption.load_splits(caption.Config(encoder="mobilenet_v3_small", image_size=48))
    with pytest.raises(UserError, match="--pretrained needs --encoder mobilenet_v3_small"):
        caption.load_splits(caption.Config(pretrained=True))


# ---------------------------------------------------------------- trained on a GPU, served anywhere
def test_exported_where_keras_sees_a_gpu_it_holds_no_cudnn_op_and_answers_alike(exported, tmp_path):
    assert_exported_on_a_gpu_answers_alike(caption.TASK, *exported, tmp_path)


def test_a_mixed_precision_run_exports_float32_that_answers_as_the_float32_model(tmp_path):
    """Its LiteRT encoder (bfloat16 convolutions) did not convert before."""
    args = [*TRAIN_ARGS, "--scenes-train", "64", "--scenes-eval", "8", "--epochs", "1"]
    run_cli(
        "train.py", "--task", "caption", "--run-dir", tmp_path / "run", *args, "--precision", "mixed_bfloat16"
    )
    assert_mixed_precision_run_exports(caption.TASK, tmp_path / "run", tmp_path, tolerance=0.05)


def test_app_caption_panel_captions_an_upload_as_the_savedmodel_does(exported, loaded, tmp_path):
    """The app's caption panel in a real browser: an uploaded PNG gets the SavedModel's own caption
    for the same bytes, drawn with its attention; a generated scene is captioned; a broken image and
    an upload over the limit are messages on the page."""
    from keras_rnn.limits import MAX_UPLOAD_BYTES
    from tests import browser

    cfg, _, test = loaded
    image = tmp_path / "scene.png"
    image.write_bytes(png(test.images[1]))
    expected = (
        tf.saved_model.load(str(exported[1]))
        .signatures["caption"](
            images=tf.constant([image.read_bytes()]),
            beam_width=tf.constant(2),
            max_length=tf.constant(cfg.max_caption_len + 1),
        )["caption"][0]
        .numpy()
        .decode()
    )
    broken, huge = tmp_path / "broken.png", tmp_path / "huge.png"
    broken.write_bytes(b"\x89PNG not an image")
    huge.write_bytes(png(test.images[0]) + b"\0" * MAX_UPLOAD_BYTES)
    with browser.page(tmp_path, caption=exported[1]) as driver:
        assert browser.submit(driver, "caption", {"image": image, "beam_width": 2}) == ""
        assert driver.find_element("css selector", "#caption-result .caption").text == expected
        assert browser.heatmap_size(driver.find_element("id", "caption-canvas")) == (256, 256)
        assert len(driver.find_elements("css selector", "#caption-result .tokens span")) >= 1
        browser.screenshot(driver, "caption")
        message = browser.submit(driver, "caption", {"image": broken})
        assert message.startswith("the model refused the request: ") and "image" in message, message
        message = browser.submit(driver, "caption", {"image": huge})
        assert message == f"the upload is over the limit of {MAX_UPLOAD_BYTES:,} bytes"
        assert browser.submit(driver, "caption", {}, button="caption-scene") == ""
        assert driver.find_element("css selector", "#caption-result .caption").text
