"""One check every custom layer of `keras_rnn.layers` goes through.

`check_layer(make_layer, input_shape)` puts the layer in a functional model and
verifies: the output shape, the `.keras` save/load round trip, the
`get_config`/`from_config` round trip, and export with
`keras.export.ExportArchive` + `tf.saved_model.load`, each giving the same outputs.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def check_layer(make_layer, input_shape, expected_shape, tmp_path, wrap=None, seed=0):
    """`make_layer()` builds the layer; `wrap(layer)` (e.g. `keras.layers.RNN` for a cell)
    is what the model calls. Returns the model."""
    layer = make_layer()
    inputs = keras.Input(shape=input_shape[1:])
    outer = wrap(layer) if wrap else layer
    model = keras.Model(inputs, outer(inputs))
    x = np.random.default_rng(seed).uniform(-1, 1, input_shape).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == expected_shape, (y.shape, expected_shape)

    path = tmp_path / "model.keras"
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path).predict(x, verbose=0), y)

    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone_model = keras.Model(inputs, (wrap(clone) if wrap else clone)(inputs))
    clone_model.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone_model.predict(x, verbose=0), y)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", model.call, input_signature=[tf.TensorSpec([None, *input_shape[1:]], tf.float32, name="x")]
    )
    archive.write_out(str(tmp_path / "exported"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "exported"))  # kept alive: it owns the variables
    served = reloaded.serve(tf.constant(x))
    np.testing.assert_allclose(served.numpy(), y, atol=1e-6)
    return model
