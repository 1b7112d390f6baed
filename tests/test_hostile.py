"""Hostile input, generated (tests/hostile.py): every exported signature of the four tasks and
every LiteRT host command answers validly or refuses clearly, within a time and memory bound.
A seeded sweep of 1,100 cases here (about 1 minute with the models made); benchmarks/hostile_sweep.py runs 5,000+."""

import json

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


@pytest.fixture(scope="module")
def savedmodels(exported, translate_exported, caption_exported, esn_exported):
    worker = hostile.Worker(
        hostile.SAVEDMODEL_WORKER,
        json.dumps(
            {
                "charlm": str(exported / "charlm" / "1"),
                "translate": str(translate_exported[0]),
                "caption": str(caption_exported[1]),
                "esn": str(esn_exported),
            }
        ),
    )
    yield worker
    worker.close()


@pytest.fixture(scope="module")
def hosts(exported, translate_exported, caption_exported, tmp_path_factory):
    image_dir = tmp_path_factory.mktemp("hostile_images")
    for name, data in hostile.image_files().items():
        (image_dir / name).write_bytes(data)
    litert = exported / "litert" / "charlm" / "1"
    commands = {
        "charlm": (
            "keras_rnn.hosts.charlm",
            [str(litert / "charlm_step.tflite"), str(litert / "charlm.json")],
        ),
        "translate": ("keras_rnn.hosts.translate", [str(translate_exported[1])]),
        "caption": ("keras_rnn.hosts.caption", [str(caption_exported[2])]),
    }
    worker = hostile.Worker(hostile.HOST_WORKER)
    yield worker, commands, image_dir
    worker.close()


@pytest.mark.parametrize("model", ["charlm", "translate", "caption", "esn"])
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


@pytest.mark.parametrize("host", ["charlm", "translate", "caption"])
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
