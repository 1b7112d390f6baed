"""The web app: one static page (`static/`) and a small JSON API over the exported models.

Starlette on uvicorn (docs/app.md says why, with measurements). Each model call runs in a
worker thread, so a slow generation never blocks the other panels or other browsers; the
char-LM's text is streamed (newline-delimited JSON, a chunk at a time), and the stream stops
when the page is left (the connection closes) or after `MAX_APP_SECONDS`. Every error the
page can meet (an oversize upload, a broken image, an empty form, a model not exported) is
answered as `{"error": message}` with a 4xx status; anything unexpected is logged here and
answered with one line, never a stack trace.
"""

from __future__ import annotations

import json
import re
import sys
import time
import traceback
from pathlib import Path

import anyio
import tensorflow as tf
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from keras_rnn.app import panels
from keras_rnn.app.models import ModelMissing, ModelStore, first_line
from keras_rnn.limits import MAX_APP_SECONDS, MAX_UPLOAD_BYTES

STATIC = Path(__file__).parent / "static"


class TooLarge(ValueError):
    pass


async def read_body(request: Request) -> bytes:
    """The request body, refused (TooLarge) past MAX_UPLOAD_BYTES. What follows the limit is read
    and dropped (up to 4 times the limit), so the client gets the answer rather than a reset
    connection; nothing over the limit is kept."""
    body, total = bytearray(), 0
    async for chunk in request.stream():
        total += len(chunk)
        if total <= MAX_UPLOAD_BYTES:
            body += chunk
        elif total > 4 * MAX_UPLOAD_BYTES:
            break
    if total > MAX_UPLOAD_BYTES:
        raise TooLarge()
    return bytes(body)


async def read_json(request: Request) -> dict:
    try:
        body = json.loads(await read_body(request) or b"{}")
    except ValueError:
        raise panels.BadRequest("the request is not JSON") from None
    if not isinstance(body, dict):
        raise panels.BadRequest("the request is not a JSON object")
    return body


def tf_message(error: tf.errors.OpError) -> str:
    """The served model's own words: an assert's message, else the op's message (its last line,
    without the node names, the trace and `Detected at node` above it)."""
    found = re.search(r"assertion failed: \[(.+?)\]", error.message)
    if found:
        return found.group(1).strip().rstrip(".")
    noise = ("Graph execution error", "Detected at node", "<stack traces", 'File "', "[[")
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]", "", error.message)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(noise)]
    return lines[-1][:300] if lines else type(error).__name__


def error_answer(error: BaseException) -> JSONResponse:
    if isinstance(error, TooLarge):
        status, message = 413, f"the upload is over the limit of {MAX_UPLOAD_BYTES:,} bytes"
    elif isinstance(error, panels.BadRequest):
        status, message = 400, str(error)
    elif isinstance(error, ModelMissing):
        status, message = 404, str(error)
    elif isinstance(error, TimeoutError):
        status, message = 504, f"stopped after {MAX_APP_SECONDS} s (the app's time limit per request)"
    elif isinstance(error, tf.errors.InvalidArgumentError):
        status, message = 400, f"the model refused the request: {tf_message(error)}"
    else:  # a bug or a broken model: the details go to the server's log, one line to the page
        traceback.print_exception(error, file=sys.stderr)
        status, message = 500, f"the model failed: {type(error).__name__}: {first_line(error)}"
    return JSONResponse({"error": message}, status_code=status)


async def in_thread(fn, *args):
    """Run a model call in a worker thread, within the time limit."""
    with anyio.fail_after(MAX_APP_SECONDS):
        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


def create_app(models_root, cells_file=None) -> Starlette:
    """The app serving the models under `models_root`; the cells view offers first the units
    `python -m keras_rnn.explain cells` reported in `cells_file` (its cells.json), if it exists."""
    store = ModelStore(models_root)
    cells_file = Path(cells_file) if cells_file else None
    charlms: dict = {}  # one CharLM per served char-LM version

    def charlm() -> panels.CharLM:
        served = store.get("charlm")
        if charlms.get("path") != served.path:
            charlms.update(path=served.path, lm=panels.CharLM(served))
            charlms["units"] = panels.state_units(served.metadata, cells_file)
        return charlms["lm"]

    def answering(work):
        """An endpoint: `await work(request)` -> JSON, every error as a message."""

        async def endpoint(request: Request):
            try:
                return JSONResponse(await work(request))
            except Exception as error:
                return error_answer(error)

        return endpoint

    async def index(request):
        return FileResponse(STATIC / "index.html")

    async def models(request):
        listing = await in_thread(store.listing)
        return {"models": listing, "limits": {"upload_bytes": MAX_UPLOAD_BYTES, "seconds": MAX_APP_SECONDS}}

    async def charlm_units(request):
        await in_thread(charlm)
        return charlms["units"]

    async def generate(request):
        """The text in chunks, one JSON object a line: {"text": ...}, then {"done": chars}, or
        {"error": ...} when the time limit is reached mid-way."""
        try:
            body = await read_json(request)
            lm = await in_thread(charlm)
            chunks = await in_thread(lm.generate, body)  # the options are checked here
        except Exception as error:
            return error_answer(error)

        async def lines():
            deadline, sent = time.monotonic() + MAX_APP_SECONDS, 0
            try:
                while (chunk := await in_thread(next, chunks, None)) is not None:
                    sent += len(chunk)
                    yield json.dumps({"text": chunk}, ensure_ascii=False) + "\n"
                    if time.monotonic() > deadline:
                        raise TimeoutError()
                yield json.dumps({"done": sent}) + "\n"
            except Exception as error:
                yield json.dumps({"error": json.loads(error_answer(error).body)["error"]}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def cells(request):
        body = await read_json(request)
        lm = await in_thread(charlm)
        return await in_thread(lm.cells, body, charlms["units"])

    async def translate(request):
        body = await read_json(request)
        return await in_thread(panels.translate, store.get("translate"), body)

    async def caption(request):
        image = await read_body(request)
        beam_width = request.query_params.get("beam_width", "1")
        return await in_thread(panels.caption, store.get("caption"), image, beam_width)

    async def scene(request):
        body = await read_json(request)
        return await in_thread(panels.scene, store.get("caption"), body.get("seed", 0))

    def with_upload(handler, task):
        async def work(request):
            body = await read_json(request)
            data = str(body.get("csv") or "").encode("utf-8") or None
            return await in_thread(handler, store.get(task), body, data)

        return work

    async def tag(request):
        body = await read_json(request)
        return await in_thread(panels.tag, store.get("tag"), body)

    routes = [
        Route("/", index),
        Route("/api/models", answering(models)),
        Route("/api/charlm/units", answering(charlm_units)),
        Route("/api/charlm/generate", generate, methods=["POST"]),
        Route("/api/charlm/cells", answering(cells), methods=["POST"]),
        Route("/api/translate", answering(translate), methods=["POST"]),
        Route("/api/caption", answering(caption), methods=["POST"]),
        Route("/api/caption/scene", answering(scene), methods=["POST"]),
        Route("/api/esn", answering(with_upload(panels.esn, "esn")), methods=["POST"]),
        Route("/api/classify", answering(with_upload(panels.classify, "classify")), methods=["POST"]),
        Route("/api/tag", answering(tag), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)
