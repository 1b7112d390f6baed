"""Echo state network: reservoir properties, the closed-form readout, data checks,
training through the shared loop, and the exports (SavedModel, LiteRT step)."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_rnn import UserError, runs, training
from keras_rnn import config as config_lib
from keras_rnn.data import series as series_data
from keras_rnn.export import writer
from keras_rnn.layers import ReservoirCell, RidgeReadout, check_size, echo_state_property
from keras_rnn.tasks import esn
from tests.conftest import run_cli
from tests.export_harness import assert_builtin_ops_only, assert_exported_on_a_gpu_answers_alike, serve

SMALL = dict(
    units=100,
    length=1600,
    validation_length=300,
    washout=100,
    window=500,
    plot_steps=100,
    spectral_radius=0.9,
    leak_rate=1.0,
    input_scaling=0.5,
    seed=1,
)


def built_cell(**kw):
    cell = ReservoirCell(**{"units": 80, "spectral_radius": 0.7, "connectivity": 0.1, "seed": 5, **kw})
    cell.build((None, 2))
    return cell


def test_spectral_radius_is_exactly_the_requested_one():
    for radius in (0.5, 1.25):
        w = built_cell(spectral_radius=radius).recurrent_kernel.numpy().astype(np.float64)
        assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(radius, rel=1e-6)


def test_weights_are_fixed_sparse_and_deterministic_by_seed():
    a, b, c = built_cell(), built_cell(), built_cell(seed=6)
    for name in ("kernel", "recurrent_kernel", "bias"):
        np.testing.assert_array_equal(getattr(a, name).numpy(), getattr(b, name).numpy())
    assert not np.array_equal(a.recurrent_kernel.numpy(), c.recurrent_kernel.numpy())
    assert 0.07 < np.mean(a.recurrent_kernel.numpy() != 0) < 0.13  # connectivity 0.1
    assert not a.trainable_weights


def test_output_feedback_weights_have_their_own_scale():
    """W_fb = the last `feedback_features` rows of the input kernel, scaled by feedback_scaling."""
    same, fed = built_cell(), built_cell(feedback_features=1, feedback_scaling=0.25)
    np.testing.assert_array_equal(fed.kernel.numpy()[0], same.kernel.numpy()[0])  # the exogenous input
    np.testing.assert_allclose(fed.kernel.numpy()[1], 0.25 * same.kernel.numpy()[1], rtol=1e-6)
    with pytest.raises(UserError, match="feedback_features=3"):
        built_cell(feedback_features=3)


def test_reservoir_sequence_loop_equals_the_cell_stepped_by_keras():
    """`Reservoir` runs its own loop (`ReservoirCell.run`); it must give Keras' RNN(cell) states,
    from zeros and from a given initial state, with return_state, and with masking (Keras' loop)."""
    import keras

    from keras_rnn.layers import Reservoir

    args = dict(units=30, spectral_radius=1.1, leak_rate=0.4, bias_scaling=0.3, connectivity=0.2, seed=2)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 40, 2)).astype("float32")
    start = np.random.default_rng(1).uniform(-1, 1, (3, 30)).astype("float32")
    ours = Reservoir(**args, return_state=True)
    reference = keras.layers.RNN(ReservoirCell(**args), return_sequences=True, return_state=True)
    for kwargs in ({}, {"initial_state": [start]}):
        states, last = ours(x, **kwargs)
        ref_states, ref_last = reference(x, **kwargs)
        np.testing.assert_allclose(states, ref_states, atol=1e-5)
        np.testing.assert_allclose(last, ref_last, atol=1e-5)
    mask = np.ones((3, 40), bool)
    mask[:, 30:] = False
    np.testing.assert_allclose(ours(x, mask=mask)[0], reference(x, mask=mask)[0], atol=1e-5)


def test_echo_state_property_contractive_reservoir_forgets_its_initial_state():
    inputs = np.random.default_rng(0).uniform(-1, 1, (2, 80, 2))
    distance = echo_state_property(built_cell(spectral_radius=0.8), inputs)
    assert distance.shape == (80,)
    assert distance[-1] < 1e-5 * distance[0]


def test_ridge_readout_equals_numpy_solve_of_the_normal_equations():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 20, 6)), rng.normal(size=(3, 20, 2))
    weights = (rng.random((3, 20)) > 0.3).astype(np.float32)
    readout = RidgeReadout(2, alpha=0.1)
    readout.build((None, None, 6))
    for i in range(3):  # one batch at a time
        readout.accumulate(
            x[i : i + 1].astype(np.float32), y[i : i + 1].astype(np.float32), weights[i : i + 1]
        )
    readout.solve()
    keep = weights.reshape(-1) > 0
    xa = np.concatenate([np.ones((keep.sum(), 1)), x.reshape(-1, 6)[keep].astype(np.float32)], axis=1)
    expected = np.linalg.solve(xa.T @ xa + 0.1 * np.eye(7), xa.T @ y.reshape(-1, 2)[keep].astype(np.float32))
    np.testing.assert_allclose(readout.bias.numpy(), expected[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(readout.kernel.numpy(), expected[1:], rtol=1e-5, atol=1e-7)


def test_mackey_glass_is_deterministic_and_one_step_prediction_is_accurate():
    np.testing.assert_array_equal(series_data.mackey_glass(50, seed=2), series_data.mackey_glass(50, seed=2))
    cfg = esn.Config(**{**SMALL, "washout": 200, "length": 2500})
    problem = esn.make_problem(cfg)
    n_train = esn.split(cfg, problem)
    x, y, w = esn.windows(problem.inputs[:n_train], problem.targets[:n_train], cfg.washout, cfg.window)
    assert w.sum() == n_train - cfg.washout  # every step after the first washout scored exactly once
    model = esn.build_model(cfg, 1, 1)
    model.compile(loss="mse")
    model.fit(x, y, sample_weight=w, batch_size=4, verbose=0)
    results = esn.evaluate(cfg, model, problem, n_train)
    assert results["nrmse_one_step"] < 5e-3, results


def test_the_ridge_fit_is_never_xla_compiled(monkeypatch):
    """Keras' "auto" compiles with XLA on a GPU (simulated here): never the closed-form ridge fit,
    whatever --jit-compile says (`on` is refused); the gradient readout follows the option."""
    gpu = tf.config.PhysicalDevice(name="/physical_device:GPU:0", device_type="GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    cfg = esn.Config(**{**SMALL, "units": 20})
    for jit_compile in ("auto", "on", "off"):
        ridge = esn.build_model(cfg, 1, 1)
        ridge.compile(loss="mse", jit_compile=config_lib.JIT_COMPILE[jit_compile])
        assert ridge.jit_compile is False, jit_compile
        gradient = esn.build_model(dataclasses.replace(cfg, readout="gradient"), 1, 1)
        gradient.compile(optimizer="adam", loss="mse", jit_compile=config_lib.JIT_COMPILE[jit_compile])
        assert gradient.jit_compile is (jit_compile != "off"), jit_compile
    with pytest.raises(UserError, match="--jit-compile on: the ridge readout is solved in closed form"):
        esn.check_config(dataclasses.replace(cfg, jit_compile="on"))
    esn.check_config(dataclasses.replace(cfg, jit_compile="on", readout="gradient"))
    esn.check_config(dataclasses.replace(cfg, jit_compile="auto"))


def test_bad_inputs_fail_clearly(tmp_path):
    with pytest.raises(UserError, match="spectral radius must be > 0"):
        ReservoirCell(10, spectral_radius=0)
    for leak in (0.0, 1.5):
        with pytest.raises(UserError, match=r"leak rate must be in \(0, 1\]"):
            ReservoirCell(10, leak_rate=leak)
    with pytest.raises(UserError, match=r"about \d+\.\d GiB"):
        ReservoirCell(100_000)
    check_size(1000)  # fine
    nan_file = tmp_path / "nan.csv"
    nan_file.write_text("value\n" + "\n".join(["1.0"] * 50 + ["nan"] + ["2.0"] * 400) + "\n")
    with pytest.raises(UserError, match="NaN or inf \\(first at time step 50\\)"):
        esn.make_problem(esn.Config(series_file=str(nan_file), washout=10))
    short = tmp_path / "short.npy"
    np.save(short, np.sin(np.arange(30.0)))
    with pytest.raises(UserError, match="too few for a washout of 20"):
        esn.make_problem(esn.Config(series_file=str(short), washout=20))
    words = tmp_path / "words.npy"
    np.save(words, np.array(["a", "b", "c"]))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for path, message in [
        (tmp_path, "is a directory"),
        (words, "cannot read .* as numbers"),
        (empty, "table of numbers"),
    ]:
        with pytest.raises(UserError, match=message):
            esn.make_problem(esn.Config(series_file=str(path)))


def test_cli_refuses_a_bad_spectral_radius():
    proc = run_cli("train.py", "--task", "esn", "--spectral-radius", "-1", "--fresh", check=False)
    assert proc.returncode == 2 and "error: spectral radius must be > 0" in proc.stderr


def test_frequency_generator_is_slow_and_sine_shaped():
    freq, sine = series_data.frequency_generator(2000, seed=3)
    assert freq.min() >= 0.01 and freq.max() <= 0.05 and np.abs(np.diff(freq)).max() < 1e-3
    assert np.abs(sine).max() <= 1
    problem = esn.make_problem(esn.Config(series="frequency", length=2000))
    assert problem.inputs.shape == (1999, 2) and problem.exogenous == 1


# ---------------------------------------------------------------- train -> export -> serve
@pytest.fixture(scope="module", params=["float32", "float64"])
def run_and_export(tmp_path_factory, request):
    """Every test below runs on a float32 and on a float64 (--precision) model."""
    root = tmp_path_factory.mktemp("esn")
    cfg = esn.Config(**SMALL, precision=request.param)
    run_dir = runs.prepare_run_dir("esn", cfg, str(root / "run"))
    metrics = training.train(esn.TASK, cfg, run_dir)
    written = writer.export(esn.TASK.serving(esn.TASK.load(run_dir)), root / "saved_models")
    return run_dir, metrics, written


def test_training_writes_metrics_and_plot(run_and_export):
    run_dir, metrics, _ = run_and_export
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["epochs_run"] == 1 and saved["nrmse_one_step"] < 0.05 and "nrmse84" in saved
    assert (run_dir / "prediction.png").stat().st_size > 10_000
    assert (run_dir / "history.csv").exists() and (run_dir / "model.keras").exists()
    run = esn.TASK.load(run_dir)
    cfg, model = run.config, run.model
    assert model.reservoir.cell.recurrent_kernel.dtype == model.readout.kernel.dtype == cfg.precision


def test_savedmodel_predict_and_generate_equal_keras(run_and_export):
    run_dir, _, written = run_and_export
    model = esn.TASK.load(run_dir).model
    series = np.tanh(series_data.mackey_glass(200, seed=9) - 1)[None, :, None].astype(np.float32)
    loaded = tf.saved_model.load(str(written["savedmodel"]))
    served = loaded.signatures["predict"](series=tf.constant(series))["prediction"].numpy()
    np.testing.assert_allclose(served, model(series).numpy(), atol=1e-6)
    continuation = loaded.signatures["generate"](series=tf.constant(series), num_steps=tf.constant(30))
    np.testing.assert_allclose(
        continuation["continuation"].numpy(), model.generate(series, 30).numpy(), atol=1e-6
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_steps must be > 0"):
        loaded.signatures["generate"](series=tf.constant(series), num_steps=tf.constant(0))
    broken = series.copy()
    broken[0, 5, 0] = np.nan
    for bad, message in [
        (series[:, :0], "at least one time step"),
        (series[:0], "at least one series"),
        (broken, "finite numbers"),
        (series[0], "not compatible with expected shape"),  # 2-D where [batch, time, features] is served
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            loaded.signatures["predict"](series=tf.constant(bad))
    unstable = esn.TASK.load(run_dir).model  # feedback gain x1000: the output explodes within steps
    unstable.readout.set_weights([w * 1000 for w in unstable.readout.get_weights()])
    with pytest.raises(tf.errors.InvalidArgumentError, match="continuation diverged"):
        esn.ESNServing(unstable).generate(tf.constant(series), tf.constant(200))
    step = loaded.signatures["step"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        step(
            input=tf.zeros([2, 1]), state=tf.zeros([1, step.structured_input_signature[1]["state"].shape[1]])
        )


def test_savedmodel_answers_a_rest_body_without_keras(run_and_export):
    """What TF Serving does: a fresh process that imports neither keras nor keras_rnn."""
    run_dir, _, written = run_and_export
    model = esn.TASK.load(run_dir).model
    series = np.tanh(series_data.mackey_glass(150, seed=2) - 1)[None, :, None].astype(np.float32)
    out = serve(
        written["savedmodel"],
        {"signature_name": "generate", "inputs": {"series": series.tolist(), "num_steps": 12}},
    )
    np.testing.assert_allclose(out["continuation"], model.generate(series, 12).numpy(), atol=1e-5)
    out = serve(written["savedmodel"], {"signature_name": "predict", "inputs": {"series": series.tolist()}})
    np.testing.assert_allclose(out["prediction"], model(series).numpy(), atol=1e-5)


def test_gradient_trained_dense_readout_learns_and_round_trips(tmp_path):
    """--readout gradient: the same model with a Dense readout trained by the optimizer. Its
    metrics.json scores the best checkpoint (model.keras, what export serves), not the weights of
    the last epoch (here a later, worse one)."""
    cfg = esn.Config(**{**SMALL, "readout": "gradient", "epochs": 25, "learning_rate": 0.01, "patience": 25})
    run_dir = runs.prepare_run_dir("esn", cfg, str(tmp_path / "run"))
    metrics = training.train(esn.TASK, cfg, run_dir)
    history = [float(line.split(",")[1]) for line in (run_dir / "history.csv").read_text().splitlines()[1:]]
    # the loss drops by 10x; the best checkpoint predicts better than the series mean (NRMSE 1)
    assert min(history) < 0.1 * history[0] and metrics["nrmse_one_step"] < 0.8, (history, metrics)
    model = esn.TASK.load(run_dir).model
    assert model.readout_type == "gradient" and model.readout.trainable_weights
    assert metrics["best_epoch"] < metrics["epochs_run"]  # the checkpoint is not the last epoch
    problem = esn.make_problem(cfg)
    rescored = esn.evaluate(cfg, model, problem, esn.split(cfg, problem))
    saved = json.loads((run_dir / "metrics.json").read_text())
    for key, value in rescored.items():
        assert saved[key] == pytest.approx(value, rel=1e-6), key
    series = np.tanh(series_data.mackey_glass(80, seed=3) - 1)[None, :, None].astype(np.float32)
    assert model.generate(series, 5).shape == (1, 5, 1)


def test_litert_step_matches_keras_one_step_predictions(run_and_export):
    run_dir, _, written = run_and_export
    model = esn.TASK.load(run_dir).model
    tflite = [p for p in written["litert"] if p.name == "esn_step.tflite"][0]
    interpreter = Interpreter(model_path=str(tflite))
    step = interpreter.get_signature_runner("step")
    series = np.tanh(series_data.mackey_glass(120, seed=4) - 1)[:, None].astype(np.float32)
    expected = model(series[None]).numpy()[0]
    state, worst = np.zeros((1, 100), np.float32), 0.0
    for t, value in enumerate(series):
        out = step(input=value[None], state=state)
        state = out["state"]
        worst = max(worst, float(np.abs(out["prediction"][0] - expected[t]).max()))
    assert worst <= 1e-4
    for path in written["litert"]:
        assert_builtin_ops_only(path)


# ---------------------------------------------------------------- trained on a GPU, served anywhere
def test_exported_where_keras_sees_a_gpu_it_holds_no_cudnn_op_and_answers_alike(esn_exported, tmp_path):
    root = esn_exported.parents[2]  # <root>/saved_models/esn/1, the run in <root>/run
    litert = root / "saved_models" / "litert" / "esn" / "1"
    assert_exported_on_a_gpu_answers_alike(esn.TASK, root / "run", esn_exported, litert, tmp_path)


def test_app_esn_panel_plots_the_free_running_continuation(esn_exported, tmp_path):
    """The app's ESN panel in a real browser: Mackey-Glass and an uploaded one-column CSV are read,
    then continued free-running (the `generate` signature), and plotted; a CSV of two columns is a
    message."""
    from tests import browser

    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text("value\n" + "\n".join(f"{np.sin(t / 5):.4f}" for t in range(300)) + "\n")
    two.write_text("1,2\n3,4\n")
    with browser.page(tmp_path, esn=esn_exported) as driver:
        assert browser.submit(driver, "esn", {"num_steps": 200, "history": 500}) == ""
        assert "NRMSE" in driver.find_element("id", "esn-result").text
        assert browser.heatmap_size(driver.find_element("css selector", "#esn-result canvas")) == (760, 240)
        browser.screenshot(driver, "esn")
        assert browser.submit(driver, "esn", {"series": one, "num_steps": 50}) == ""
        assert driver.find_elements("css selector", "#esn-result canvas")
        message = browser.submit(driver, "esn", {"series": two})
        assert message == "line 1 has 2 columns: the ESN panel reads one column"
