"""Translate sentences with a finished translation run and draw their attention maps.

    python -m keras_rnn.attention_maps [--run-dir runs/translate/<timestamp>] \
        [--out attention_maps] "saturday 9 march 1985" "9/3/85"

One PNG per sentence (source tokens x target tokens, greedy decoding), the
same maps training writes to `<run-dir>/attention/` for validation sentences.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sentences", nargs="+", help="source sentences")
    parser.add_argument("--run-dir", help="a finished translate run (default: the latest)")
    parser.add_argument("--out", default="attention_maps", help="directory for the PNG files")
    args = parser.parse_args(argv)

    from keras_rnn import report_errors

    return report_errors(lambda: draw(args))


def draw(args) -> None:
    from keras_rnn import output_directory, training
    from keras_rnn.tasks import translate

    out = output_directory(args.out, "--out")
    cfg, vocab, model = translate.TASK.load(training.finished_run(translate.NAME, args.run_dir))
    paths = translate.write_heatmaps(translate.Translator(model, vocab, cfg), args.sentences, out)
    for sentence, path in zip(args.sentences, paths):
        print(f"{sentence!r}: {path}")


if __name__ == "__main__":
    sys.exit(main())
