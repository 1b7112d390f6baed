"""`python train.py --task NAME [options]` (console script `keras-rnn-train`): train with model.fit."""

from __future__ import annotations

import shutil
import sys

from keras_rnn import UserError, report_errors, tasks
from keras_rnn import config as config_lib
from keras_rnn.commands.common import task_parser


def main(argv=None) -> int:
    parser, task_name = task_parser(
        "Train a model with model.fit. `--task NAME --help` lists that task's options.", argv
    )
    parser.add_argument(
        "--run-dir",
        default=None,
        help="where the run is written (default: runs/TASK/<timestamp>/; "
        "an interrupted run with the same options is resumed)",
    )
    parser.add_argument("--fresh", action="store_true", help="never resume: always start a new run")
    if task_name:
        config_lib.add_arguments(
            parser.add_argument_group(f"{task_name} options"), tasks.get(task_name).Config
        )
    args = parser.parse_args(argv)

    def run():
        from keras_rnn import distribute, locks, runs, training

        task = tasks.get(args.task)
        cfg = config_lib.from_args(task.Config, args)
        chief = distribute.is_chief(cfg)  # only the chief of several workers writes the run
        if chief:
            run_dir = runs.prepare_run_dir(task.name, cfg, args.run_dir, fresh=args.fresh)
        else:
            chief_dir = args.run_dir or (None if args.fresh else runs.resumable_run(task.name, cfg))
            run_dir = distribute.worker_run_dir(cfg, chief_dir)
        try:
            metrics = training.train(task, cfg, run_dir)
        except distribute.LOST_WORKER_ERRORS as error:
            if cfg.distribute != "multiworker":
                raise
            raise UserError(
                f"the cluster lost a worker ({type(error).__name__}); run the same "
                "command on every worker again to resume from the last finished epoch"
            ) from None
        except KeyboardInterrupt:
            resumed = run_dir if chief else "the chief's run"
            print(
                f"\nInterrupted. Re-run the same command to resume {resumed} from its last finished epoch.",
                file=sys.stderr,
            )
            raise SystemExit(130) from None
        finally:
            locks.release(run_dir)
            if not chief:
                shutil.rmtree(run_dir, ignore_errors=True)
        if not chief:
            print("\nFinished: this worker's part; the chief wrote the run directory.")
            return
        summary = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
        )
        print("\nFinished:", summary)
        print(
            f"Run directory: {run_dir}  (export it with: python export.py --task {task.name} --run-dir {run_dir})"
        )

    return report_errors(run)


if __name__ == "__main__":
    sys.exit(main())
