"""`python -m keras_rnn.explain saliency | occlusion | maximize | fool | tsne` on trained runs."""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_cli
from test_explain import check_pictures

from keras_rnn.explain import captioner as captioner_lib
from keras_rnn.explain import fool, occlusion, saliency, tsne
from keras_rnn.tasks import caption


@pytest.fixture(scope="module")
def loaded(caption_exported):
    run = caption.TASK.load(caption_exported[0])
    explainer = captioner_lib.Captioner(run)
    args = argparse.Namespace(inputs=[], images=2)
    images, _, split = captioner_lib.read_images(explainer, args)
    return explainer, images, split


def test_the_float_path_is_the_model_and_its_gradient_is_the_derivative(loaded):
    """Logits through the encoder's layers on float pixels equal the uint8 model's; the word
    gradients agree with central differences along a random direction."""
    explainer, images, _ = loaded
    found = explainer.greedy(images[:1])[0]
    ids = tf.constant([found["ids"]], tf.int32)
    expected = explainer.run.model([tf.constant(images[:1]), ids[:, :-1]])
    np.testing.assert_allclose(
        explainer.logits(images[:1].astype(np.float32), ids[:, :-1]), expected, atol=1e-4
    )
    gradients = captioner_lib.word_gradients(explainer, images[0], found["ids"])  # [T, S, S, 3]
    direction = np.random.default_rng(0).normal(size=images[0].shape).astype(np.float32)
    direction /= np.linalg.norm(direction)
    for t in (0, len(found["ids"]) - 2):  # the first word and <end> (or the last word)

        def logp(pixels, t=t):
            return float(explainer.log_probs(pixels[None], ids)[0, t])

        h, x = 0.5, images[0].astype(np.float32)
        numeric = (logp(x + h * direction) - logp(x - h * direction)) / (2 * h)
        assert np.sum(gradients[t] * direction) == pytest.approx(numeric, rel=0.05, abs=1e-5)


def test_guided_backpropagation_passes_positive_gradients_only_and_restores_the_encoder(loaded):
    x = tf.constant([-1.0, 0.5, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = captioner_lib.guided_relu(x)
    assert tape.gradient(y, x, output_gradients=tf.constant([3.0, -2.0, 1.0])).numpy().tolist() == [0, 0, 1]
    explainer, images, _ = loaded
    found = explainer.greedy(images[:1])[0]
    maps = saliency.saliency_maps(explainer, images[0], found["ids"])
    assert maps["guided"].shape == maps["vanilla"].shape == (len(found["words"]), *images.shape[1:3])
    assert not np.allclose(maps["guided"], maps["vanilla"])
    convs = [layer for layer in explainer.encoder.layers if layer.name.startswith("conv_")]
    assert all(layer.activation is keras.activations.relu for layer in convs)  # restored


def test_occlusion_by_the_whole_image_is_the_grey_image(loaded):
    explainer, images, _ = loaded
    ids = explainer.greedy(images[:1])[0]["ids"]
    size = images.shape[1]
    drops, centres = occlusion.occlusion_drops(explainer, images[0], ids, patch=size, stride=size)
    caption_ids = tf.constant([ids] * 2, tf.int32)
    pair = np.stack([images[0], np.full_like(images[0], 128)]).astype(np.float32)
    p = np.exp(explainer.log_probs(pair, caption_ids).numpy())
    assert drops.shape == (len(ids) - 1, 1, 1) and centres.tolist() == [size / 2]
    np.testing.assert_allclose(drops[:, 0, 0], p[0] - p[1], atol=1e-5)


def test_the_iterative_attack_stays_within_epsilon_and_makes_the_target_likelier(loaded):
    explainer, images, _ = loaded
    found = explainer.greedy(images[:1])[0]
    target = list(found["ids"])
    target[1] = explainer.word_id("blue" if found["words"][0] != "blue" else "red")
    perturbed = fool.attack(explainer, images[0], target, [2, 16], steps=10)
    assert perturbed.shape == (2, 2, *images.shape[1:]) and perturbed.dtype == np.uint8
    change = np.abs(perturbed.astype(int) - images[0].astype(int)).reshape(2, 2, -1).max(-1)
    assert (change <= [[2, 16], [2, 16]]).all()
    batch = np.concatenate([images[:1], perturbed[1]]).astype(np.float32)
    logp = explainer.log_probs(batch, tf.constant([target] * 3, tf.int32)).numpy().sum(-1)
    assert logp[2] > logp[1] > logp[0], logp  # a larger ball, a likelier swapped caption


def test_neighbour_agreement_is_one_for_separate_clusters_and_chance_for_random_labels():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 1, (100, 5)), rng.normal(50, 1, (100, 5))])
    assert tsne.neighbour_agreement(points, [0] * 100 + [1] * 100) == 1.0
    assert tsne.neighbour_agreement(points, rng.integers(0, 2, 200).tolist()) == pytest.approx(0.5, abs=0.08)


def test_every_image_kind_runs_with_no_inputs(caption_exported, tmp_path):
    run = caption_exported[0]
    commands = {
        "saliency": ["--images", "2"],
        "occlusion": ["--images", "1", "--patch", "16", "--stride", "8"],
        "maximize": ["red", "--steps", "30"],
        "fool": ["--images", "1", "--max-epsilon", "8", "--steps", "5"],
        "tsne": ["--points", "60"],
    }
    said = {}
    for kind, options in commands.items():
        out = tmp_path / kind
        proc = run_cli("-m", "keras_rnn.explain", kind, "--run-dir", run, "--out", out, *options)
        assert f"{kind}.json" in proc.stdout and list(out.glob("*.png")), (kind, proc.stdout)
        said[kind] = proc.stdout
    results = {kind: json.loads((tmp_path / kind / f"{kind}.json").read_text()) for kind in commands}
    for kind in commands:  # the run is barely trained (3 epochs): no picture may come out blank
        check_pictures(tmp_path / kind, results[kind])
    assert len(results["saliency"]["images"]) == 2 and results["occlusion"]["patch"] == 16
    assert (
        results["saliency"]["shape_words"] >= 1
        and 0 <= results["saliency"]["saliency_peak_on_named_shape"] <= 1
    )
    red = results["maximize"]["words"][0]
    objective = red["objective_every_10_steps"]
    assert red["prefix"].split()[-1] == "a" and red["objective"] == "logit" and objective[-1] > objective[0]
    assert red["result"]["logit"] > red["grey"]["logit"]  # what it maximises rose ...
    assert ("note" in red) == (
        red["result"]["probability"] < red["grey"]["probability"]
    )  # ... p said as it is
    assert red["grey"]["caption"] and red["result"]["caption"] == red["caption_of_result"]
    drops = [w["largest_drop"] for w in results["occlusion"]["images"][0]["words"]]
    stated = results["occlusion"]["colour_scales"]["occlusion_validation_0.png"]
    scale = float(stated.split("±")[1].split()[0])
    assert max(drops) <= scale * 1.001 and scale < 0.999, stated  # the drops' own range, not a fixed ±1
    for image in results["fool"]["images"]:  # a missed attack says how many ε it tried, not "None"
        if image.get("iterative_epsilon", 0) is None:
            tried = results["fool"]["epsilons_tried"]
            assert f"not fooled at any of the {len(tried)} ε tried (largest {tried[-1]})" in said["fool"]


def test_tsne_maps_the_translator_and_the_char_lm(translate_run, trained_run, tmp_path):
    for task, run in (("translate", translate_run), ("charlm", trained_run)):
        out = tmp_path / task
        run_cli(
            "-m",
            "keras_rnn.explain",
            "tsne",
            "--task",
            task,
            "--run-dir",
            run,
            "--out",
            out,
            "--points",
            "40",
        )
        colourings = json.loads((out / "tsne.json").read_text())["colourings"]
        for numbers in colourings.values():
            assert (
                0 <= numbers["neighbours_same_label_chance"] <= 1
                and 0 <= numbers["neighbours_same_label_map"] <= 1
            )
    assert "next character" in colourings


def test_image_kinds_refuse_bad_input_in_one_line(caption_exported, trained_run, tmp_path):
    run = caption_exported[0]
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    explain = ["-m", "keras_rnn.explain"]
    cases = [
        ([*explain, "saliency", "--run-dir", run, corrupt], "not a readable PNG, JPEG, GIF or BMP image"),
        ([*explain, "saliency", "--run-dir", run, "--images", "99"], "--images <= 16"),
        ([*explain, "occlusion", "--run-dir", run, "--patch", "500"], "--patch <= 64"),
        ([*explain, "maximize", "--run-dir", run, "zebra"], "'zebra' is not a word"),
        ([*explain, "fool", "--run-dir", run, "--max-epsilon", "300"], "--max-epsilon <= 255"),
        ([*explain, "tsne", "--run-dir", run, "--points", "99999"], "--points <= 5,000"),
        ([*explain, "saliency", "--run-dir", trained_run], "is a charlm run, not caption"),
    ]
    for args, message in cases:
        proc = run_cli(*args, "--out", tmp_path / "out", check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-1500:]
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and message in proc.stderr, proc.stderr[-800:]
    assert not list((tmp_path / "out").glob("*.json"))
