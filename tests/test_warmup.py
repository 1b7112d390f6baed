"""Every SavedModel version carries TF Serving warmup requests that the model answers."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_rnn.export import warmup


def replay(savedmodel_dir) -> dict[str, dict]:
    """Parse the warmup file back and run each request against the SavedModel, as TF Serving does."""
    loaded = tf.saved_model.load(str(savedmodel_dir))
    answers = {}
    for signature, inputs in warmup.read(savedmodel_dir / "assets.extra" / warmup.WARMUP_FILE):
        function = loaded.signatures[signature]
        answers[signature] = function(**{k: tf.constant(v) for k, v in inputs.items()})
    # one request per signature (serving_default is the first signature under another name)
    assert set(answers) == set(loaded.signatures) - {"serving_default"}
    return answers


def finite(outputs) -> bool:
    return all(np.isfinite(v.numpy()).all() for v in outputs.values() if v.dtype.is_floating)


def test_char_lm_warmup_generates_from_the_example_prompt(exported):
    answers = replay(exported / "charlm" / "1")
    assert set(answers) >= {"generate", "step"} and finite(answers["step"])
    assert len(answers["generate"]["text"].numpy()[0].decode()) > 0


def test_translator_and_captioner_warmups_decode(translate_exported, caption_exported):
    translated = replay(translate_exported[0])["translate"]
    assert translated["translation"].shape[0] == 1 and finite(translated)
    captioned = replay(caption_exported[1])["caption"]
    assert captioned["caption"].shape[0] == 1 and finite(captioned)


def test_echo_state_network_warmup_predicts(esn_exported):
    answers = replay(esn_exported)
    assert {"predict", "step"} <= set(answers) and all(finite(a) for a in answers.values())
