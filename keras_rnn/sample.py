"""Sample text from a trained char-LM run: greedy, temperature, top-k, seeded, primed with a prompt.

    python -m keras_rnn.sample [--run-dir runs/charlm/<timestamp>] --prompt "def " --num-chars 300 \
        [--temperature 0.8] [--top-k 0] [--seed 0]

Uses the same in-graph sampler as the exported `generate` signature, so the
same seed gives the same text as the served model.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--run-dir", help="a finished charlm run (default: the latest)")
    parser.add_argument("--prompt", default="\n")
    parser.add_argument("--num-chars", type=int, default=300)
    parser.add_argument("--temperature", type=float, default=0.8, help="> 0; lower = more conservative")
    parser.add_argument("--top-k", type=int, default=0, help="keep the k most likely characters (0 = all, 1 = greedy)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from keras_rnn import report_errors

    return report_errors(lambda: sample(args))


def sample(args) -> None:
    import tensorflow as tf

    from keras_rnn import UserError, training
    from keras_rnn.recurrent import RecurrentStack
    from keras_rnn.tasks import charlm

    if args.num_chars <= 0 or args.temperature <= 0 or args.top_k < 0:
        raise UserError("need --num-chars > 0, --temperature > 0 and --top-k >= 0 (--top-k 1 is greedy)")
    if args.num_chars > charlm.MAX_GENERATE_CHARS or len(args.prompt) > charlm.MAX_PROMPT_CHARS:
        raise UserError(f"need --num-chars <= {charlm.MAX_GENERATE_CHARS:,} and a --prompt of at most "
                        f"{charlm.MAX_PROMPT_CHARS:,} characters (the served model's limits)")
    cfg, vocab, model = charlm.TASK.load(training.finished_run(charlm.NAME, args.run_dir))
    unknown = vocab.unknown_chars(args.prompt)
    if unknown:
        print(f"warning: the prompt has characters the model never saw ({''.join(sorted(unknown))!r}); "
              "they are read as the unknown character", file=sys.stderr)
    serving = charlm.CharLMServing(RecurrentStack(model, cfg.cell, cfg.layers), vocab)
    text = serving.generate(tf.constant([args.prompt]), tf.constant(args.num_chars),
                            tf.constant(args.temperature), tf.constant(args.top_k),
                            tf.constant(args.seed))["text"][0].numpy().decode("utf-8")
    print(args.prompt + text)


if __name__ == "__main__":
    sys.exit(main())
