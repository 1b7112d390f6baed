"""`python -m keras_rnn.app [--models saved_models] [--host 127.0.0.1] [--port 8080]` (also the
console script `keras-rnn-app`): serve the page over the exported models until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import socket
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_rnn import UserError, report_errors  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m keras_rnn.app", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="saved_models", help="export.py's --out: NAME/<version>/ (default: saved_models)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; see docs/app.md before "
        "exposing it)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0: any free port)")
    parser.add_argument(
        "--cells",
        default="explanations/cells/cells.json",
        help="`python -m keras_rnn.explain cells`'s report: its units are offered first in the cells view",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    holder = {}

    def bind():
        if not os.path.isdir(args.models):
            raise UserError(
                f"--models {args.models}: no such directory (export a model: python export.py ...)"
            )
        if not 0 <= args.port <= 65535:
            raise UserError(f"--port must be 0-65535, got {args.port}")
        try:
            family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((args.host, args.port))
            sock.listen(128)  # connections wait in the backlog until the server accepts them
        except OSError as error:
            raise UserError(f"cannot listen on {args.host}:{args.port}: {error.strerror}") from None
        holder["socket"] = sock

    code = report_errors(bind)
    if code:
        return code
    import uvicorn

    from keras_rnn.app.server import create_app

    sock = holder["socket"]
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(create_app(args.models, args.cells), log_level="warning"))
    print(f"keras-rnn app: serving {args.models}/ on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
