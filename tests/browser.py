"""The web app (`python -m keras_rnn.app`) in a real headless Chromium, driven by Selenium.

- `models_root(tmp, **versions)`: a --models directory holding the given exported versions
  (symlinks to the session's tiny exports: nothing is trained again);
- `app(root)`: the app started as a user starts it, in its own process, on a free port;
  yields its URL and process id;
- `browser()`: Debian's chromium through chromium-driver (installed by .ci/run), headless, no
  sandbox (CI runs as root). Without a browser the test is skipped with the reason, except
  under CI=true, where it fails;
- `submit(driver, panel, fields)`: fill in a panel's form, press its button, wait for the answer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def models_root(tmp: Path, **versions: Path) -> Path:
    """tmp/models/TASK/1 -> each given SavedModel version directory."""
    root = tmp / "models"
    for task, version in versions.items():
        (root / task).mkdir(parents=True, exist_ok=True)
        (root / task / "1").symlink_to(Path(version).resolve(), target_is_directory=True)
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def app(root: Path, *options: str):
    proc = subprocess.Popen(
        [sys.executable, "-m", "keras_rnn.app", "--models", str(root), "--port", "0", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    try:
        line = proc.stdout.readline()  # "keras-rnn app: serving ... on http://127.0.0.1:PORT/ ..."
        if "http://" not in line:
            proc.kill()
            raise AssertionError(f"the app did not start: {line}{proc.stderr.read()[-3000:]}")
        yield line.split(" on ")[1].split()[0], proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def browser():
    if not (CHROMIUM and DRIVER):
        reason = "no chromium / chromedriver here (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, url: str):
    """Load the page and wait until it has listed the models."""
    driver.get(url)
    wait(driver, lambda d: "exported" in d.find_element("id", "status").text, "the model list")


def wait(driver, condition, what: str, seconds: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)
    except Exception as error:
        page = driver.find_element("tag name", "body").text
        raise AssertionError(f"waited {seconds} s for {what}; page:\n{page}") from error


def panel(driver, task: str):
    return driver.find_element("id", f"panel-{task}")


def fill(form, fields: dict) -> None:
    for name, value in fields.items():
        box = form.find_element("css selector", f"[name={name}]")
        if box.get_attribute("type") == "file":
            box.send_keys(str(value))
        else:
            box.clear()
            box.send_keys(str(value))


def submit(driver, task: str, fields: dict, button: str | None = None, form_index: int = 0) -> str:
    """Fill in the panel's form number `form_index`, press its submit button (or the button with
    id `button`), wait until the panel is done or shows an error; returns its message line."""
    section = panel(driver, task)
    form = section.find_elements("css selector", "form")[form_index]
    fill(form, fields)
    started = time.monotonic()
    target = (
        driver.find_element("id", button) if button else form.find_element("css selector", "[type=submit]")
    )
    target.click()
    wait(driver, lambda d: section.get_attribute("data-state") in ("done", "error"), f"the {task} answer")
    message = section.find_element("css selector", ".message").text
    print(f"{task}: answered in {time.monotonic() - started:.1f} s {message!r}")
    return message


def screenshot(driver, task: str) -> None:
    """docs/images/app_TASK.png, when KERAS_RNN_SCREENSHOTS names the directory (docs, not tests)."""
    directory = os.environ.get("KERAS_RNN_SCREENSHOTS")
    if directory:
        element = panel(driver, task)
        driver.execute_script("arguments[0].scrollIntoView()", element)
        element.screenshot(str(Path(directory) / f"app_{task}.png"))


@contextlib.contextmanager
def page(tmp: Path, **versions: Path):
    """The app over `versions` (task=SavedModel version directory), its page open in Chromium."""
    with app(models_root(tmp, **versions)) as (url, _), browser() as driver:
        open_page(driver, url)
        yield driver


def heatmap_size(canvas) -> tuple[int, int]:
    return int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))
