"""`python predict.py --task NAME ...` (console script `keras-rnn-predict`): use a finished run.

- charlm: `--prompt "def " --num-chars 300 --temperature 0.8 --top-k 0 --seed 0` samples text;
- translate: `"saturday 9 march 1985" "9/3/85" [--beam-width 1] [--max-length N] [--maps DIR]`
  translates (and draws attention maps);
- caption: `photo.jpg scene.png [--beam-width 1] [--max-length N] [--maps DIR]` captions images.

The run is `--run-dir`, or the latest finished run of the task. `--task NAME --help` lists
the task's options.
"""

from __future__ import annotations

import sys

from keras_rnn import report_errors, tasks
from keras_rnn.commands.common import task_parser


def main(argv=None, default_task: str | None = None) -> int:
    if default_task and "--task" not in (argv if argv is not None else sys.argv[1:]):
        argv = ["--task", default_task, *(argv if argv is not None else sys.argv[1:])]
    parser, task_name = task_parser(__doc__.split("\n\n")[0].strip("`"), argv)
    parser.add_argument("--run-dir", help="a finished run of the task (default: the latest)")
    if task_name:
        tasks.get(task_name).add_predict_arguments(parser.add_argument_group(f"{task_name} options"))
    args = parser.parse_args(argv)

    def run():
        from keras_rnn import runs

        task = tasks.get(args.task)
        task.predict(task.load(runs.finished_run(task.name, args.run_dir)), args)

    return report_errors(run)


if __name__ == "__main__":
    sys.exit(main())
