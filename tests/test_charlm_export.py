"""End to end on a tiny generated corpus: train (CLI) -> export (CLI) -> serve.

Serving is proven in fresh processes: the SavedModel answers a TF Serving REST
body in a process where keras_rnn and keras cannot even be imported, and the .tflite
runs in a process without TensorFlow.
"""

import csv
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_rnn import decoding
from keras_rnn.hosts.charlm import CharLMLiteRT
from keras_rnn.tasks import charlm
from tests import hostile
from tests.conftest import CORPUS_WORDS, ROOT, TRAIN_ARGS, run_cli
from tests.export_harness import (
    assert_builtin_ops_only,
    assert_exported_on_a_gpu_answers_alike,
    assert_mixed_precision_run_exports,
    run_without_tensorflow,
    serve,
)


def served_text(savedmodel, prompt: str, num_chars: int, temperature: float, top_k: int, seed: int) -> str:
    """One prompt's text from the exported `generate` signature."""
    generate = tf.saved_model.load(str(savedmodel)).signatures["generate"]
    out = generate(
        prompt=tf.constant([prompt]),
        num_chars=tf.constant(num_chars),
        temperature=tf.constant(temperature),
        top_k=tf.constant(top_k),
        seed=tf.constant(seed),
    )
    return out["text"][0].numpy().decode()


@pytest.fixture(scope="module")
def paths(exported):
    litert = exported / "litert" / "charlm" / "1"
    return {
        "savedmodel": exported / "charlm" / "1",
        "tflite": litert / "charlm_step.tflite",
        "drq": litert / "charlm_step_drq.tflite",
        "meta": litert / "charlm.json",
    }


@pytest.fixture(scope="module")
def keras_sampler(trained_run):
    run = charlm.TASK.load(trained_run)
    return decoding.KerasStepSampler(charlm.TASK.step_model(run), run.vocab)


def test_run_directory_holds_what_export_needs_and_the_loss_dropped(trained_run):
    for name in [
        "config.json",
        "vocab.json",
        "model.keras",
        "metrics.json",
        "history.csv",
        "loss.png",
        "samples.txt",
    ]:
        assert (trained_run / name).exists(), name
    assert (trained_run / "logs").is_dir() and not (trained_run / "backup").exists()
    rows = list(csv.DictReader((trained_run / "history.csv").open()))
    assert len(rows) == 3
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"]) < np.log(20)
    assert (trained_run / "samples.txt").read_text().count("=== epoch") == 3
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["best_val_bits_per_char"] == pytest.approx(metrics["best_val_loss"] / np.log(2))


def test_savedmodel_answers_a_rest_body_without_keras(paths, keras_sampler):
    prompts = ["the cat", "hello"]
    body = {
        "signature_name": "generate",
        "inputs": {"prompt": prompts, "num_chars": 30, "temperature": 1.0, "top_k": 1, "seed": 0},
    }
    text = serve(paths["savedmodel"], body)["text"]
    # batched and greedy in a process without keras: each row is Keras' own greedy continuation
    assert text == [keras_sampler.generate(prompt, 30, top_k=1) for prompt in prompts]
    assert "\ufffd" not in "".join(text)  # the unknown character is never generated


def test_step_signature_answers_row_format_requests(paths):
    meta = json.loads(paths["meta"].read_text())
    body = {
        "signature_name": "step",
        "instances": [
            {"token": 1, "state": [0.0] * meta["state_size"]},
            {"token": 2, "state": [0.0] * meta["state_size"]},
        ],
    }
    out = serve(paths["savedmodel"], body)
    assert np.array(out["logits"]).shape == (2, len(meta["chars"]) + 1)
    assert np.array(out["state"]).shape == (2, meta["state_size"])


def test_greedy_text_is_identical_in_keras_savedmodel_and_litert(paths, keras_sampler):
    prompt, n = "the ", 60
    expected = keras_sampler.generate(prompt, n, top_k=1)
    served = served_text(paths["savedmodel"], prompt, n, 1.0, 1, 0)
    litert = CharLMLiteRT(paths["tflite"], paths["meta"]).generate(prompt, n, top_k=1)
    assert served == expected
    assert litert == expected
    # it learned the corpus: the complete words it writes are words of the corpus
    words = expected.replace(".", " ").split()[:-1]
    assert words and set(words) <= set(CORPUS_WORDS)


def test_litert_step_logits_match_keras(paths, keras_sampler, trained_run):
    tokens = keras_sampler.vocab.encode("hello world. the cat sat on the mat.\n" * 2)
    litert = CharLMLiteRT(paths["tflite"], paths["meta"])
    lite_state, keras_state = litert.zero_state(), tf.zeros([1, keras_sampler.state_size])
    worst = 0.0
    for token in tokens:
        lite_logits, lite_state = litert.step(int(token), lite_state)
        keras_logits, keras_state = keras_sampler.model([tf.constant([[token]]), keras_state])
        worst = max(worst, float(np.abs(lite_logits - keras_logits.numpy()[0]).max()))
    assert worst <= 1e-4


@pytest.mark.parametrize("name", ["tflite", "drq"])
def test_tflite_uses_builtin_ops_only(paths, name):
    assert_builtin_ops_only(paths[name])
    interpreter = Interpreter(model_path=str(paths[name]))
    signature = interpreter.get_signature_list()["step"]
    assert sorted(signature["inputs"]) == ["state", "token"]
    assert sorted(signature["outputs"]) == ["logits", "state"]


def test_quantized_model_is_smaller_and_its_logits_stay_close(paths, keras_sampler):
    assert paths["drq"].stat().st_size < 0.6 * paths["tflite"].stat().st_size
    tokens = keras_sampler.vocab.encode("the cat sat on the mat. hello world.\n")
    exact, quantized = CharLMLiteRT(paths["tflite"], paths["meta"]), CharLMLiteRT(paths["drq"], paths["meta"])
    exact_state, quantized_state, agree = exact.zero_state(), quantized.zero_state(), 0
    for token in tokens:
        exact_logits, exact_state = exact.step(int(token), exact_state)
        quantized_logits, quantized_state = quantized.step(int(token), quantized_state)
        agree += int(np.argmax(exact_logits) == np.argmax(quantized_logits))
        # int8 weights move the logits a little, not the distribution
        assert np.abs(quantized_logits - exact_logits).max() < 0.1 * np.ptp(exact_logits)
    assert agree >= 0.9 * len(tokens)


def test_host_loop_runs_without_tensorflow(paths):
    printed = run_without_tensorflow(
        "from keras_rnn.hosts.charlm import CharLMLiteRT\n"
        f"m = CharLMLiteRT({str(paths['tflite'])!r}, {str(paths['meta'])!r})\n"
        "print(repr(m.generate('the ', 25, temperature=0.8, seed=3)))"
    )
    assert len(eval(printed)) == 25


def test_sampling_is_seeded_and_bad_requests_fail_clearly(paths):
    generate = tf.saved_model.load(str(paths["savedmodel"])).signatures["generate"]

    def call(prompt="the", n=40, temperature=1.0, top_k=0, seed=0):
        return generate(
            prompt=tf.constant([prompt]),
            num_chars=tf.constant(n),
            top_k=tf.constant(top_k),
            temperature=tf.constant(temperature),
            seed=tf.constant(seed),
        )["text"][0].numpy()

    assert call(seed=5) == call(seed=5)
    assert len({call(seed=s) for s in range(4)}) > 1
    assert len(call(prompt="\u4e2d\u6587?!").decode()) == 40  # unknown characters: mapped, not fatal
    assert len(call(prompt="").decode()) == 40  # empty prompt = newline
    for kwargs, message in [
        ({"temperature": 0.0}, "temperature must be finite and > 0"),
        ({"n": 0}, "num_chars must be > 0"),
        ({"n": 10**7}, "num_chars must be <="),
        ({"top_k": -1}, "top_k must be >= 0"),
        ({"temperature": float("nan")}, "temperature must be finite and > 0"),
        ({"temperature": float("inf")}, "temperature must be finite and > 0"),
        ({"temperature": -float("inf")}, "temperature must be finite and > 0"),
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call(**kwargs)
    options = dict(
        num_chars=tf.constant(5), top_k=tf.constant(0), temperature=tf.constant(1.0), seed=tf.constant(-1)
    )
    assert len(generate(prompt=tf.constant(["a"]), **options)["text"][0].numpy()) >= 5  # negative seeds: fine
    for prompt in ("the", [["the", "a"]]):  # a scalar or 2-D prompt: refused by its shape
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="prompt .* is not compatible with expected shape"
        ):
            generate(prompt=tf.constant(prompt), **options)
    step = tf.saved_model.load(str(paths["savedmodel"])).signatures["step"]
    size = step.structured_input_signature[1]["state"].shape[1]
    for token, batch in (([5, 6], 1), ([5], 3)):
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="state and token must have the same batch size"
        ):
            step(token=tf.constant(token), state=tf.zeros([batch, size]))


def test_versions_count_up_and_xla_variant_matches(trained_run, tmp_path, keras_sampler):
    """Two exports into one --out at once: the second waits for the first, both succeed, in turn."""
    command = [sys.executable, "export.py", "--task", "charlm", "--run-dir", str(trained_run)]
    quiet = dict(cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = subprocess.Popen([*command, "--out", str(tmp_path), "--no-sample"], **quiet)
    deadline = time.monotonic() + 120
    while not (tmp_path / ".lock").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.Popen([*command, "--out", str(tmp_path), "--xla"], **quiet)
    for proc in (first, second):
        assert proc.wait(600) == 0, proc.communicate()[1][-3000:]
    assert not (tmp_path / ".lock").exists()
    assert sorted(p.name for p in (tmp_path / "charlm").iterdir()) == ["1", "2"]
    assert sorted(p.name for p in (tmp_path / "litert" / "charlm").iterdir()) == ["1", "2"]
    config = (tmp_path / "models.config").read_text()
    assert 'name: "charlm"' in config and 'base_path: "/models/charlm"' in config
    signatures = tf.saved_model.load(str(tmp_path / "charlm" / "2")).signatures
    assert "generate_xla" not in tf.saved_model.load(str(tmp_path / "charlm" / "1")).signatures
    greedy = dict(
        prompt=tf.constant(["the "]),
        num_chars=tf.constant(30),
        temperature=tf.constant(1.0),
        top_k=tf.constant(1),
        seed=tf.constant(0),
    )
    xla_text = signatures["generate_xla"](**greedy)["text"][0].numpy().decode()
    assert xla_text == keras_sampler.generate("the ", 30, top_k=1)
    for top_k in (0, 5):  # XLA compiles both branches of the top-k filter
        sampled = signatures["generate_xla"](**{**greedy, "top_k": tf.constant(top_k)})["text"][0].numpy()
        assert len(sampled.decode()) == 30


def test_interrupted_export_publishes_nothing(trained_run, tmp_path, monkeypatch):
    from keras_rnn.export import writer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "convert_to_litert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.export(charlm.TASK.serving(charlm.TASK.load(trained_run)), tmp_path)
    assert list((tmp_path / "charlm").iterdir()) == []
    assert list((tmp_path / "litert" / "charlm").iterdir()) == []


def test_export_refuses_a_run_without_a_finished_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    proc = run_cli(
        "export.py", "--task", "charlm", "--run-dir", tmp_path, "--out", tmp_path / "o", check=False
    )
    assert proc.returncode == 2 and "no finished model" in proc.stderr


def test_train_refuses_to_overwrite_a_finished_run(trained_run, corpus_file):
    proc = run_cli(
        "train.py",
        "--task",
        "charlm",
        "--text-file",
        corpus_file,
        "--run-dir",
        trained_run,
        *TRAIN_ARGS,
        check=False,
    )
    assert proc.returncode == 2 and "already holds a finished run" in proc.stderr


@pytest.mark.parametrize(
    "command", [["predict.py", "--task", "charlm"], ["-m", "keras_rnn.sample"]], ids=["predict", "old-name"]
)
def test_sample_command_matches_the_served_model(trained_run, paths, command, capsys):
    proc = run_cli(
        *command,
        "--run-dir",
        trained_run,
        "--prompt",
        "the λ",
        "--num-chars",
        "30",
        "--temperature",
        "0.7",
        "--seed",
        "4",
    )
    assert "never saw ('λ')" in proc.stderr
    served = served_text(paths["savedmodel"], "the λ", 30, 0.7, 0, 4)
    assert proc.stdout == "the λ" + served + "\n"
    from keras_rnn.commands import predict

    for args, message in [  # refused in-process, as the command's entry point calls main
        (["--temperature", "0"], "--temperature > 0"),
        (["--num-chars", "200000"], "100,000"),
        (["--prompt", "x" * 10_001], "at most 10,000 characters"),
    ]:
        argv = [*command[1:], "--run-dir", str(trained_run), *args]
        code = (
            predict.main(argv)
            if command[0] == "predict.py"
            else predict.main(argv[1:], default_task="charlm")
        )
        stderr = capsys.readouterr().err
        assert code == 2 and stderr.startswith("error: ") and message in stderr, stderr[-1500:]


def test_host_sampler_follows_softmax_and_top_k():
    """The host loop's draw: softmax(logits / T) over allowed ids, never the unknown id 0."""
    host = CharLMLiteRT.__new__(CharLMLiteRT)  # only the sampler: no model needed
    host.unknown = 0
    logits = np.log(np.array([0.5, 0.1, 0.2, 0.3, 0.4], np.float32))  # id 0 is banned
    rng = np.random.default_rng(0)
    draws = np.bincount([host.pick(logits, 1.0, 0, rng) for _ in range(20000)], minlength=5) / 20000
    np.testing.assert_allclose(draws, [0, 0.1, 0.2, 0.3, 0.4], atol=0.015)
    assert {host.pick(logits, 1.0, 2, rng) for _ in range(500)} == {3, 4}
    assert host.pick(logits, 0.5, 1, rng) == 4
    cold = np.bincount([host.pick(logits, 0.5, 0, rng) for _ in range(20000)], minlength=5) / 20000
    expected = np.array([0, 0.01, 0.04, 0.09, 0.16]) / 0.30
    np.testing.assert_allclose(cold, expected, atol=0.015)


@pytest.mark.parametrize(
    "cell_args",
    [
        ["--cell", "gru"],
        ["--cell", "gru", "--no-gru-reset-after", "--embedding-dim", "0"],  # the slides' GRU, one-hot input
        ["--cell", "rnn", "--layers", "1"],  # Elman
        # the lectures' cells (served through CellStack): two states, input = units, factors
        ["--cell", "peephole-lstm"],
        ["--cell", "mut2", "--layers", "1", "--embedding-dim", "48"],
        ["--cell", "mrnn", "--layers", "1", "--factors", "24", "--embedding-dim", "0"],
    ],
    ids=["gru", "slides-gru-one-hot", "elman", "peephole-lstm", "mut2", "mrnn-one-hot"],
)
def test_every_cell_exports_and_matches_keras_in_savedmodel_and_litert(tmp_path, corpus_file, cell_args):
    from keras_rnn.commands import export, train

    args = [a for a in TRAIN_ARGS if a not in ("--cell", "lstm")]
    args[args.index("--epochs") + 1], args[args.index("--steps-per-epoch") + 1] = "1", "15"
    where = ["--task", "charlm", "--run-dir", str(tmp_path / "run")]  # in-process: the CLIs have their tests
    assert train.main([*where, "--text-file", str(corpus_file), *args, *cell_args]) == 0
    assert export.main([*where, "--out", str(tmp_path / "out"), "--no-sample"]) == 0
    run = charlm.TASK.load(tmp_path / "run")
    sampler = decoding.KerasStepSampler(charlm.TASK.step_model(run), run.vocab)
    litert_dir = tmp_path / "out" / "litert" / "charlm" / "1"
    litert = CharLMLiteRT(litert_dir / "charlm_step.tflite", litert_dir / "charlm.json")
    expected = sampler.generate("the ", 40, top_k=1)
    served = served_text(tmp_path / "out" / "charlm" / "1", "the ", 40, 1.0, 1, 0)
    assert served == expected and litert.generate("the ", 40, top_k=1) == expected
    lite_state, keras_state = litert.zero_state(), tf.zeros([1, sampler.state_size])
    for token in run.vocab.encode("hello world. the cat"):
        lite_logits, lite_state = litert.step(int(token), lite_state)
        keras_logits, keras_state = sampler.model([tf.constant([[token]]), keras_state])
        np.testing.assert_allclose(lite_logits, keras_logits.numpy()[0], atol=1e-4)


def test_litert_host_commands_report_bad_input_in_one_line(paths, tmp_path):
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a flatbuffer")
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"name": "not our metadata"}')
    meta = json.loads(paths["meta"].read_text(encoding="utf-8"))
    broken = {}  # hand-edited or mixed-up metadata -> what the error says
    for name, text, message in [
        ("list", "[1, 2]", "not a JSON object"),
        ("empty_chars", json.dumps({**meta, "chars": []}), "'chars' is missing or not a non-empty list"),
        ("state", json.dumps({**meta, "state_size": meta["state_size"] + 1}), "says state_size"),
        ("translate", json.dumps({**meta, "task": "translate"}), "describes a translate model, not charlm"),
    ]:
        broken[name] = (tmp_path / f"{name}.json", message)
        broken[name][0].write_text(text)
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "caption.json").write_text(paths["meta"].read_text(encoding="utf-8"))
    host = ["keras_rnn.hosts.charlm", paths["tflite"], paths["meta"]]
    cases = [
        ([*host, "--num-chars", "0"], "need 0 < num_chars <= 100,000"),
        ([*host, "--num-chars", "2147483648"], "need 0 < num_chars <= 100,000"),
        ([*host, "--temperature", "nan"], "a finite temperature > 0"),
        ([*host, "--prompt", "x" * 10_001], "at most 10,000"),
        *[(["keras_rnn.hosts.charlm", paths["tflite"], path], message) for path, message in broken.values()],
        (["keras_rnn.hosts.caption", tmp_path / "mixed", "x.png"], "describes a charlm model, not caption"),
        (["keras_rnn.hosts.translate", tmp_path, "hi", "--max-length", "1000000000"], "must be in [1, 512]"),
        (["keras_rnn.hosts.caption", tmp_path, "x.png", "--max-length", "1000000000"], "must be in [1, 64]"),
        (["keras_rnn.hosts.charlm", bogus, paths["meta"]], "not a valid Flatbuffer"),
        (
            ["keras_rnn.litert_host", paths["tflite"], tmp_path / "missing.json"],
            "No such file",
        ),  # the old name
        (["keras_rnn.hosts.charlm", paths["tflite"], foreign], "'chars' is missing"),
        (["keras_rnn.hosts.translate", tmp_path / "nowhere", "hello"], "nowhere"),
        (["keras_rnn.litert_translate_host", tmp_path / "nowhere", "hello"], "nowhere"),
        (
            ["keras_rnn.hosts.caption", paths["tflite"].parent, "x.png", "--max-length", "0"],
            "--max-length must be in [1, 64]",
        ),
    ]
    worker = hostile.Worker(hostile.HOST_WORKER)  # one process without TensorFlow runs every command line
    for args, message in cases:
        reply = worker.ask({"module": args[0], "argv": [str(a) for a in args[1:]]})
        assert hostile.judge_host(reply) == ("error", "") and message in reply["stderr"], reply
    negative_seed = worker.ask(
        {"module": host[0], "argv": [str(a) for a in [*host[1:], "--num-chars", "5", "--seed", "-1"]]}
    )
    assert negative_seed["exit"] == 0 and len(negative_seed["stdout"]) >= 5, (
        negative_seed
    )  # as by the SavedModel
    worker.close()


# ---------------------------------------------------------------- trained on a GPU, served anywhere
def test_exported_where_keras_sees_a_gpu_it_holds_no_cudnn_op_and_answers_alike(
    trained_run, exported, tmp_path
):
    savedmodel, litert = exported / "charlm" / "1", exported / "litert" / "charlm" / "1"
    assert_exported_on_a_gpu_answers_alike(charlm.TASK, trained_run, savedmodel, litert, tmp_path)


def test_a_mixed_precision_run_exports_float32_that_answers_as_the_float32_model(corpus_file, tmp_path):
    args = [*TRAIN_ARGS, "--epochs", "1", "--steps-per-epoch", "4", "--sample-length", "5"]
    run_cli(
        "train.py",
        "--task",
        "charlm",
        "--text-file",
        corpus_file,
        "--run-dir",
        tmp_path / "run",
        *args,
        "--precision",
        "mixed_bfloat16",
    )
    assert_mixed_precision_run_exports(charlm.TASK, tmp_path / "run", tmp_path, tolerance=0.05)
