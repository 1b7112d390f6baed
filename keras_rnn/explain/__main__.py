"""`python -m keras_rnn.explain KIND [--run-dir RUN] [--out DIR] [options] [inputs ...]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_rnn import UserError, output_directory, report_errors, write_atomically  # noqa: E402
from keras_rnn.explain import KINDS, load  # noqa: E402


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    kinds = ", ".join(KINDS)
    if not argv or argv[0] in ("-h", "--help"):
        lines = "\n".join(f"  {k:10} ({task} runs) {what}" for k, (_, task, what) in KINDS.items())
        print(
            f"usage: python -m keras_rnn.explain {{{kinds}}} [--run-dir RUN] [--out DIR] [options]\n\n{lines}"
        )
        return 0 if argv else 2
    kind = argv[0]

    def run():
        if kind not in KINDS:
            raise UserError(f"unknown explanation {kind!r}: choose one of {kinds}")
        from keras_rnn import runs, tasks

        module, task_name = load(kind), KINDS[kind][1]
        parser = argparse.ArgumentParser(
            prog=f"python -m keras_rnn.explain {kind}", description=KINDS[kind][2]
        )
        tasks_read = getattr(module, "TASKS", (task_name,))  # saliency and tsne read several tasks' runs
        if len(tasks_read) > 1:
            task_name = chosen_task(argv[1:], tasks_read, task_name)
            module = getattr(module, "for_task", lambda _: module)(task_name)
            parser.add_argument(
                "--task",
                choices=tasks_read,
                default=task_name,
                help=f"whose run to read (default: the --run-dir's task, else {KINDS[kind][1]})",
            )
        parser.add_argument("--run-dir", help="a finished run of the task (default: the latest)")
        parser.add_argument(
            "--out", default=f"explanations/{kind}", help=f"where {kind}.json and the pictures go"
        )
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        task_name = getattr(args, "task", task_name)
        out = output_directory(args.out, "--out")
        run_dir = runs.finished_run(task_name, args.run_dir)
        results = {"run": str(run_dir), **module.run(tasks.get(task_name).load(run_dir), args, out)}
        write_atomically(out / f"{kind}.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        pictures = sorted(p.name for p in Path(out).iterdir() if p.suffix in (".png", ".html"))
        print(f"wrote {out / f'{kind}.json'} and {', '.join(pictures)}")

    return report_errors(run)


def chosen_task(argv: list[str], tasks_read, default: str) -> str:
    """`--task`, else the task of the `--run-dir` run when the kind reads it, else `default`."""
    from keras_rnn import runs

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    pre.add_argument("--run-dir")
    given = pre.parse_known_args(argv)[0]
    if given.task is None and given.run_dir:
        given.task = runs.trained_task_of(given.run_dir)
    return given.task if given.task in tasks_read else default


if __name__ == "__main__":
    sys.exit(main())
