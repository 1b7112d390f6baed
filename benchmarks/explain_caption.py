"""What the captioner's words look at: saliency, occlusion, fooling, maximising and t-SNE on a default run.

    python benchmarks/explain_caption.py [--epochs 10] [--images 16] [--run-dir runs/bench_explain_caption]

Trains the captioner with its defaults (generated scenes, CNN encoder, GRU 128 with Bahdanau
attention; `--epochs` 10 is train.py's default), then runs every captioner kind of
`python -m keras_rnn.explain` on the first `--images` validation scenes (t-SNE on 500) and
collects their numbers: how often a shape word's saliency peak and largest occlusion drop lie
on an object of that shape (the attention's localisation from training beside them), the L∞
size that swaps a colour word, the probabilities the maximising images reach, and how well
the image vectors separate colours and shapes. Copies one picture of each kind to
docs/images/. Results: benchmarks/results/explain_caption.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def explain(kind: str, run_dir: str, *options: str) -> tuple[dict, float]:
    out = f"explanations/bench_{kind}"
    command = [sys.executable, "-m", "keras_rnn.explain", kind, "--run-dir", run_dir, "--out", out, *options]
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads((ROOT / out / f"{kind}.json").read_text()), round(time.monotonic() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--run-dir", default="runs/bench_explain_caption")
    parser.add_argument("--skip-training", action="store_true", help="explain the finished run as it is")
    args = parser.parse_args()
    train = [
        sys.executable,
        "train.py",
        "--task",
        "caption",
        "--epochs",
        str(args.epochs),
        "--run-dir",
        args.run_dir,
    ]
    if not args.skip_training:
        subprocess.run(train, cwd=ROOT, check=True)
    metrics = json.loads((ROOT / args.run_dir / "metrics.json").read_text())
    images = ["--images", str(args.images)]
    saliency, saliency_s = explain("saliency", args.run_dir, *images)
    occlusion, occlusion_s = explain("occlusion", args.run_dir, *images)
    fool, fool_s = explain("fool", args.run_dir, *images)
    maximize, maximize_s = explain("maximize", args.run_dir, "red", "blue", "circle", "triangle")
    tsne, tsne_s = explain("tsne", args.run_dir)
    IMAGES.mkdir(exist_ok=True)
    pictures = {
        "explain_saliency.png": "explanations/bench_saliency/saliency_validation_3.png",
        "explain_feature_maps.png": "explanations/bench_saliency/feature_maps_validation_1.png",
        "explain_occlusion.png": "explanations/bench_occlusion/occlusion_validation_3.png",
        "explain_fool.png": "explanations/bench_fool/fool_validation_1.png",
        "explain_maximize.png": "explanations/bench_maximize/maximize.png",
        "explain_tsne_caption.png": "explanations/bench_tsne/tsne.png",
    }
    for name, source in pictures.items():
        shutil.copyfile(ROOT / source, IMAGES / name)
    fooled = [r for r in fool["images"] if "word" in r]
    save(
        "explain_caption",
        {
            "command": "python " + " ".join(Path(c).name if c == sys.executable else c for c in train[1:]),
            "explain": f"python -m keras_rnn.explain KIND --images {args.images} (maximize: red blue circle triangle)",
            "data": f"generated scenes: the run's first {args.images} validation scenes (t-SNE: 500)",
            "test_exact_match": metrics.get("test_exact_match"),
            "test_attention_localisation": metrics.get("test_attention_localisation"),
            "saliency_peak_on_named_shape": saliency.get("saliency_peak_on_named_shape"),
            "occlusion_peak_on_named_shape": occlusion.get("occlusion_peak_on_named_shape"),
            "shape_words": saliency.get("shape_words"),
            "fool": {
                "images_with_a_colour_word": len(fooled),
                "fgsm_fooled": sum(r["fgsm_epsilon"] is not None for r in fooled),
                "iterative_fooled": fool["iterative_fooled"],
                "iterative_epsilons": [r["iterative_epsilon"] for r in fooled],
                "iterative_median_epsilon": fool["iterative_median_epsilon"],
            },
            "maximize": {
                w["word"]: {
                    k: w[k] for k in ("prefix", "probability_grey", "probability_after", "caption_of_result")
                }
                for w in maximize["words"]
            },
            "tsne": tsne["colourings"],
            "seconds": {
                "saliency": saliency_s,
                "occlusion": occlusion_s,
                "fool": fool_s,
                "maximize": maximize_s,
                "tsne": tsne_s,
            },
            "pictures": [f"docs/images/{name}" for name in pictures],
        },
    )


if __name__ == "__main__":
    main()
