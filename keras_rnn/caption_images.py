"""Caption image files with a finished captioning run (and draw where it looked).

    python -m keras_rnn.caption_images [--run-dir runs/caption/<timestamp>] [--beam-width 3] \
        [--maps attention_maps] photo.jpg scene.png

Prints one caption per image, decoded the way the exported `caption` signature
does (same image decoding and resizing, beam or greedy search). With `--maps DIR`
it also writes each image's attention map (greedy words, attention over the
encoder's grid), as training does for validation images; with --beam-width > 1 the
printed caption can differ from the greedy one the map shows (its title names it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, GIF, BMP)")
    parser.add_argument("--run-dir", help="a finished caption run (default: the latest)")
    parser.add_argument("--beam-width", type=int, default=3, help="1 = greedy")
    parser.add_argument("--max-length", type=int, default=30, help="tokens (words and punctuation) at most")
    parser.add_argument("--maps", help="also write attention maps (PNG) to this directory")
    args = parser.parse_args(argv)

    from keras_rnn import report_errors

    return report_errors(lambda: caption_images(args))


def caption_images(args) -> None:
    import tensorflow as tf

    from keras_rnn import UserError, output_directory, training
    from keras_rnn.tasks import caption

    if not 1 <= args.beam_width <= caption.MAX_BEAM_WIDTH or not 1 <= args.max_length <= caption.MAX_CAPTION_TOKENS:
        raise UserError(f"need 1 <= --beam-width <= {caption.MAX_BEAM_WIDTH} and "
                        f"1 <= --max-length <= {caption.MAX_CAPTION_TOKENS}")
    maps = output_directory(args.maps, "--maps") if args.maps else None
    cfg, vocab, model = caption.TASK.load(training.finished_run(caption.NAME, args.run_dir))
    captioner = caption.Captioner(model, vocab, cfg)
    files = [Path(p) for p in args.images]
    encoded = []
    for path in files:
        encoded.append(caption.read_image_file(path)[0])
    out = captioner.caption(tf.constant(encoded), tf.constant(args.beam_width), tf.constant(args.max_length))
    for path, text in zip(files, out["caption"].numpy()):
        print(f"{path}\t{text.decode('utf-8')}")
    if args.maps and cfg.attention == "none":
        print("--maps: this run has no attention (--attention none), so there are no maps to draw", file=sys.stderr)
    elif args.maps:
        pixels = captioner.decode_images(tf.constant(encoded)).numpy()
        stems = [p.stem for p in files]
        names = [s if stems.count(s) == 1 else f"{s}_{i}" for i, s in enumerate(stems)]  # a/x.png, b/x.png
        for path in caption.write_attention_maps(captioner, pixels, maps, names=names):
            print(f"attention map: {path}")


if __name__ == "__main__":
    sys.exit(main())
