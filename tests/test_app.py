"""The web app (`python -m keras_rnn.app`) on the session's tiny exported char-LM: the charlm
panel in a real headless Chromium (streamed text equal to the SavedModel's own `generate`, the
cells view, errors as messages), the other panels' "not exported" messages, and over HTTP the
upload limit, a new version picked up without restart, a slow generation not blocking others.
(The other panels' browser tests sit beside their tasks' tests, on their session exports.)"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tensorflow as tf

from keras_rnn.limits import MAX_UPLOAD_BYTES
from tests import browser


@pytest.fixture(scope="module")
def served(exported, tmp_path_factory):
    root = browser.models_root(tmp_path_factory.mktemp("app"), charlm=exported / "charlm" / "1")
    with browser.app(root) as (url, pid):
        yield root, url, pid


@pytest.fixture(scope="module")
def page(served):
    with browser.browser() as driver:
        browser.open_page(driver, served[1])
        yield driver


def post(url: str, body: bytes, timeout=60):
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def generate_signature(exported, prompt, num_chars, temperature, top_k, seed) -> str:
    model = tf.saved_model.load(str(exported / "charlm" / "1"))
    out = model.signatures["generate"](
        prompt=tf.constant([prompt]),
        num_chars=tf.constant(num_chars),
        temperature=tf.constant(temperature),
        top_k=tf.constant(top_k),
        seed=tf.constant(seed),
    )
    return out["text"][0].numpy().decode("utf-8")


def test_charlm_panel_streams_the_text_the_savedmodel_generates(page, exported):
    options = dict(prompt="the cat", num_chars=600, temperature=0.9, top_k=5, seed=11)
    section = browser.panel(page, "charlm")
    assert section.find_element("tag name", "h2").text.startswith("charlm")
    assert section.find_element("css selector", "[type=submit]").text == "Generate"
    form = section.find_element("css selector", "form")
    browser.fill(form, options)
    form.find_element("css selector", "[type=submit]").click()
    output, seen = page.find_element("id", "charlm-text"), set()
    while section.get_attribute("data-state") == "busy":  # the text grows while it is generated
        seen.add(len(output.text))
    browser.wait(page, lambda d: section.get_attribute("data-state") == "done", "the generated text")
    text = page.execute_script("return document.getElementById('charlm-text').textContent")
    assert len(seen - {0, len(text)}) >= 1, f"no partial text was shown: lengths {sorted(seen)}"
    assert text and text == generate_signature(exported, **options)
    # greedy (top-k 1) too, and an empty prompt (a newline, as `generate` reads it)
    options.update(prompt="", num_chars=80, top_k=1)
    assert browser.submit(page, "charlm", options) == ""
    text = page.execute_script("return document.getElementById('charlm-text').textContent")
    assert text == generate_signature(exported, **options)
    browser.screenshot(page, "charlm")


def test_charlm_panel_shows_bad_options_as_a_message(page):
    message = browser.submit(page, "charlm", {"num_chars": 0, "prompt": "x"})
    assert message == "num_chars must be between 1 and 100,000"
    assert "Traceback" not in page.find_element("tag name", "body").text
    browser.fill(browser.panel(page, "charlm").find_element("css selector", "form"), {"num_chars": 50})


def test_cells_view_colours_every_character_by_the_unit_chosen(page, served):
    text = "the cat sat.\nhello"
    section = browser.panel(page, "charlm")
    select = section.find_element("css selector", "select[name=unit]")
    browser.wait(page, lambda d: len(select.find_elements("tag name", "option")) > 0, "the unit list")
    options = [o.get_attribute("value") for o in select.find_elements("tag name", "option")]
    assert options[:2] == ["1:h:0", "1:h:1"] and "2:c:47" in options  # LSTM 48 units x 2 layers
    from selenium.webdriver.support.ui import Select

    Select(select).select_by_value("2:c:5")
    assert browser.submit(page, "charlm", {"text": text}, form_index=1) == ""
    spans = page.find_elements("css selector", "#charlm-cells span")
    assert "".join(s.get_attribute("textContent") for s in spans) == text
    colours = {s.value_of_css_property("background-color") for s in spans}
    assert len(colours) > 3, colours  # the unit's value changes along the text
    values = [float(s.get_attribute("title").split(" = ")[1]) for s in spans]
    assert all(-1 <= v <= 1 for v in values)  # tanh(c)
    # the same values over HTTP, and the state they come from is the `step` signature's
    status, body = post(served[1] + "api/charlm/cells", json.dumps({"text": text, "unit": "2:c:5"}).encode())
    assert status == 200 and json.loads(body)["values"] == values


def test_tasks_not_exported_say_how_to_export_them(page):
    for task in ("translate", "caption", "esn", "classify", "tag"):
        section = browser.panel(page, task)
        assert section.get_attribute("data-state") == "missing"
        assert f"python export.py --task {task}" in section.text


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_upload_limit_new_versions_and_a_slow_generation_that_blocks_nobody(served):
    root, url, pid = served
    status, body = post(url + "api/caption", b"x" * (MAX_UPLOAD_BYTES + 1))
    assert status == 413 and f"{MAX_UPLOAD_BYTES:,} bytes" in json.loads(body)["error"]
    status, body = post(url + "api/translate", b'{"sentences": "hello"}')
    assert status == 404 and "python export.py --task translate" in json.loads(body)["error"]
    status, body = post(url + "api/charlm/generate", b"not json")
    assert status == 400 and json.loads(body) == {"error": "the request is not JSON"}

    # a long generation streams while other requests are answered
    long = json.dumps({"prompt": "the", "num_chars": 3000, "seed": 1}).encode()
    finished = {}

    def slow():
        status, body = post(url + "api/charlm/generate", long, timeout=120)
        lines = [json.loads(line) for line in body.decode().splitlines()]
        finished["at"], finished["lines"] = time.monotonic(), lines

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)
    quick = json.dumps({"prompt": "a", "num_chars": 20}).encode()
    status, body = post(url + "api/charlm/generate", quick)
    answered = time.monotonic()
    thread.join()
    assert status == 200 and "at" in finished and answered < finished["at"], "the quick request waited"
    assert finished["lines"][-1] == {"done": 3000} and len(finished["lines"]) == 3000 // 20 + 1

    # leaving the page (closing the connection) stops the generation
    request = urllib.request.Request(
        url + "api/charlm/generate", data=b'{"num_chars": 100000}', method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.readline())["text"]
    time.sleep(1)
    before = cpu_seconds(pid)
    time.sleep(2)
    assert cpu_seconds(pid) - before < 0.3, "the generation went on after the client left"

    # a new version exported under --models is served without restart
    shutil.copytree(root / "charlm" / "1", root / "charlm" / "2")
    with urllib.request.urlopen(url + "api/models", timeout=60) as response:
        listing = {m["task"]: m for m in json.loads(response.read())["models"]}
    assert listing["charlm"]["version"] == 2


def test_cells_units_follow_the_packed_state_and_offer_the_explanation_first(tmp_path):
    """The cells view's units: per layer h then c (the `step` state's packing), named as
    `python -m keras_rnn.explain cells` names them; its report's top units come first."""
    from keras_rnn.app.panels import state_units

    meta = {"cell": "lstm", "layers": 2, "units": 3, "state_size": 12}
    report = tmp_path / "cells.json"
    report.write_text(
        json.dumps({"top_units": {"in_string": [{"unit": "2:c:1", "correlation": 0.8}, {"unit": "9:h:0"}]}})
    )
    units = state_units(meta, report)
    assert units["units"][:4] == ["1:h:0", "1:h:1", "1:h:2", "1:c:0"]
    assert units["columns"][units["units"].index("2:c:1")] == 10  # layer 2 starts at 6: h 6-8, c 9-11
    assert [units["units"][k] for k in units["tanh"]] == [
        "1:c:0",
        "1:c:1",
        "1:c:2",
        "2:c:0",
        "2:c:1",
        "2:c:2",
    ]
    assert units["suggested"] == [{"unit": "2:c:1", "feature": "in_string", "correlation": 0.8}]
    assert state_units(meta, tmp_path / "missing.json")["suggested"] == []
    report.write_text("not json")
    assert state_units(meta, report)["suggested"] == []
    gru = state_units({"cell": "gru", "layers": 1, "units": 2, "state_size": 2}, None)
    assert gru["units"] == ["1:h:0", "1:h:1"] and gru["tanh"] == []


def test_app_command_refuses_bad_options_in_one_line(tmp_path):
    import socket
    import subprocess
    import sys

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    for args, message in [
        (["--models", str(tmp_path / "missing")], "no such directory"),
        (["--models", str(tmp_path), "--port", "70000"], "--port must be 0-65535"),
        (["--models", str(tmp_path), "--port", str(taken.getsockname()[1])], "cannot listen on 127.0.0.1:"),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "keras_rnn.app", *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr, proc
        assert len(proc.stderr.strip().splitlines()) == 1
    taken.close()
