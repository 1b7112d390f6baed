"""Hostile input, generated (tests/hostile.py): every exported signature of the six tasks and
every LiteRT host command answers validly or refuses clearly, within a time and memory bound.
A seeded sweep of 1,400 cases here (about 1 minute with the models made); benchmarks/hostile_sweep.py runs 5,000+."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import hostile

SWEEP = settings(
    deadline=None,
    derandomize=True,  # the same cases on every run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# Each target's model: (the session fixture that makes it, its SavedModel or host arguments from
# that fixture's value). A run makes the models of the targets it runs only (`-k classify`: one).
SAVEDMODELS = {
    "charlm": ("exported", lambda out: out / "charlm" / "1"),
    "translate": ("translate_exported", lambda dirs: dirs[0]),
    "caption": ("caption_exported", lambda dirs: dirs[1]),
    "esn": ("esn_exported", lambda path: path),
    "classify": ("classify_exported", lambda dirs: dirs[1]),
    "tag": ("tag_exported", lambda dirs: dirs[2]),
}
HOSTS = {
    "charlm": (
        "exported",
        "keras_rnn.hosts.charlm",
        lambda out: [
            str(out / "litert" / "charlm" / "1" / "charlm_step.tflite"),
            str(out / "litert" / "charlm" / "1" / "charlm.json"),
        ],
    ),
    "translate": ("translate_exported", "keras_rnn.hosts.translate", lambda dirs: [str(dirs[1])]),
    "caption": ("caption_exported", "keras_rnn.hosts.caption", lambda dirs: [str(dirs[2])]),
    "classify": (
        "classify_exported",
        "keras_rnn.hosts.classify",
        lambda dirs: [str(dirs[2] / "classify_classify.tflite"), str(dirs[2] / "classify.json")],
    ),
    "tag": (
        "tag_exported",
        "keras_rnn.hosts.tag",
        lambda dirs: [str(dirs[3] / "tag_tag.tflite"), str(dirs[3] / "tag.json")],
    ),
}


def selected(request, test, parameter: str) -> list[str]:
    """The values of `parameter` that this session runs `test` with."""
    items = request.session.items
    return sorted({i.callspec.params[parameter] for i in items if getattr(i, "originalname", "") == test})


def runs(request, test) -> bool:
    return any(getattr(i, "originalname", "") == test for i in request.session.items)


@pytest.fixture(scope="module")
def savedmodels(request):
    models = selected(request, "test_every_signature_answers_or_refuses_hostile_requests", "model")
    if runs(request, "test_an_animation_is_read_from_its_first_frame_by_the_savedmodel_and_the_host"):
        models = sorted({*models, "caption"})
    paths = {}
    for model in models:
        fixture, path = SAVEDMODELS[model]
        paths[model] = str(path(request.getfixturevalue(fixture)))
    worker = hostile.Worker(hostile.SAVEDMODEL_WORKER, json.dumps(paths))
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def hosts(request, tmp_path_factory):
    files = tmp_path_factory.mktemp("hostile_files")  # images, series files, broken metadata
    for name, data in hostile.image_files().items():
        (files / name).write_bytes(data)
    commands = {}
    wanted = selected(request, "test_every_host_command_answers_or_refuses_hostile_input", "host")
    if runs(request, "test_an_animation_is_read_from_its_first_frame_by_the_savedmodel_and_the_host"):
        wanted = sorted({*wanted, "caption"})
    if runs(request, "test_every_host_refuses_a_sidecar_that_does_not_fit_its_model"):
        wanted = sorted({*wanted, "charlm", "translate", "caption"})
    for host in wanted:
        fixture, module, args = HOSTS[host]
        commands[host] = (module, args(request.getfixturevalue(fixture)))
    if "classify" in commands:
        meta = json.loads(Path(commands["classify"][1][1]).read_text(encoding="utf-8"))
        for name, data in hostile.series_files(meta["features"], meta["length"]).items():
            (files / name).write_bytes(data)
        for name, text in hostile.broken_metadata(meta).items():
            (files / name).write_text(text, encoding="utf-8")
    if "tag" in commands:
        meta = json.loads(Path(commands["tag"][1][1]).read_text(encoding="utf-8"))
        for name, text in hostile.broken_tag_metadata(meta).items():
            (files / name).write_text(text, encoding="utf-8")
    worker = hostile.Worker(hostile.HOST_WORKER)
    yield worker, commands, files
    worker.close()


@pytest.mark.parametrize("model", sorted(SAVEDMODELS))
def test_every_signature_answers_or_refuses_hostile_requests(savedmodels, model):
    seen = []

    @settings(SWEEP, max_examples=200)
    @given(data=st.data())
    def sweep(data):
        case = data.draw(hostile.savedmodel_case(savedmodels.info, model))
        outcome, why = hostile.judge_savedmodel(case, savedmodels.ask(case))
        seen.append(outcome)
        assert outcome != "other", (why, hostile.summary(case))

    sweep()
    print(model, {k: seen.count(k) for k in set(seen)})
    assert seen.count("answer") >= 10 and seen.count("error") >= 10, seen  # the sweep reaches both


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_every_host_command_answers_or_refuses_hostile_input(hosts, host):
    worker, commands, image_dir = hosts
    seen = []

    @settings(SWEEP, max_examples=100)
    @given(data=st.data())
    def sweep(data):
        case = data.draw(hostile.host_case({host: commands[host]}, image_dir))
        outcome, why = hostile.judge_host(worker.ask(case))
        seen.append(outcome)
        assert outcome != "other", (why, case["argv"][:6])

    sweep()
    print(host, {k: seen.count(k) for k in set(seen)})
    assert seen.count("answer") >= 5 and seen.count("error") >= 5, seen


def test_an_animation_is_read_from_its_first_frame_by_the_savedmodel_and_the_host(savedmodels, hosts):
    """300 frames of 2000 x 2000 (1.2 G pixels, 30 times the per-image limit, in a 1.2 MB GIF): the
    `caption` signature and the LiteRT host caption the first frame, as they caption that frame
    alone, each in under 5 s and 300 MB (decoding every frame took 18 s and 1.2 GB)."""
    worker, commands, files = hosts
    specs = savedmodels.info["caption"]["caption"]
    captions = {}
    for frames in (1, 300):  # the first request also warms the model up
        gif = files / f"animation_{frames}.gif"
        gif.write_bytes(hostile.animation(frames, 2000))
        request = {"images": [gif.read_bytes()], "beam_width": 1, "max_length": 20}
        inputs = {k: hostile.encoded(specs[k]["dtype"], v, k == "images") for k, v in request.items()}
        served = savedmodels.ask({"model": "caption", "signature": "caption", "inputs": inputs})
        module, args = commands["caption"]
        host = worker.ask({"module": module, "argv": [*args, str(gif), "--max-length", "20"]})
        for reply in (served, host) if frames > 1 else ():  # (the first call also loads the graph)
            assert reply["seconds"] <= 5 and reply["memory_mb"] <= 300, reply
        assert served["outcome"] == "answer" and host["exit"] == 0, (served, host)
        captions[frames] = served["outputs"]["caption"]["texts"][0], host["stdout"].split("\t")[-1].strip()
    assert captions[300] == captions[1] and captions[1][0] == captions[1][1], captions


def test_every_host_refuses_a_sidecar_that_does_not_fit_its_model(hosts):
    """NAME.json edited by hand (tokens of another type or count, ids out of range, sizes of
    10^7, a 100,000-deep array) or another task's encoder in the model's place: one error line."""
    worker, commands, files = hosts
    for name, case in hostile.broken_sidecars(commands, files).items():
        reply = worker.ask(case)
        assert hostile.judge_host(reply) == ("error", ""), (name, reply)
