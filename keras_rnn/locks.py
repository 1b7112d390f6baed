"""Advisory file locks (`fcntl.flock`): one training per run directory, one export at a time per
output directory. The operating system releases a lock when its process ends, however it ends
(SIGKILL included), so a crash never leaves a directory locked. POSIX only: where `fcntl` is
missing (Windows) the lock is a no-op.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from keras_rnn import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = ".lock"
_held: dict[Path, object] = {}  # lock path -> its open file, for the life of the process


def hold(directory: Path, what: str, wait: bool = False) -> None:
    """Lock `directory` (its `.lock` file) until this process ends. Held already by this
    process: nothing to do. Held by another: a UserError naming its pid, or with `wait`, wait
    for it (saying so once)."""
    path = Path(directory).resolve() / LOCK_FILE
    if path in _held or fcntl is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open: the lock lives with it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if path.exists() and os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
            handle.close()  # the holder deleted this file as it let go: lock the new one
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            if not wait:
                handle.close()
                raise UserError(
                    f"{directory} is in use by another {what} (pid {holder}): wait for it to end, "
                    "or pass another directory"
                ) from None
            if not said:
                print(f"Waiting for another {what} of {directory} (pid {holder}) to finish ...", flush=True)
                said = True
            handle.close()
            time.sleep(0.5)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _held[path] = handle


def release(directory: Path) -> None:
    """Give up this process's lock on `directory` (and delete the lock file) before exiting."""
    path = Path(directory).resolve() / LOCK_FILE
    handle = _held.pop(path, None)
    if handle is not None:
        path.unlink(missing_ok=True)
        handle.close()
