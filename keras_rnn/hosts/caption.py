"""Reference host loop for the LiteRT captioning models: numpy, ai_edge_litert and Pillow only.

What an app does with `caption_encoder.tflite` and `caption_decoder_step.tflite`:
decode and resize the image to the model's size (RGB, uint8), run the encoder
once, then feed the decoder step its previous word until it says <end>; the
attention of each word is over the encoder's grid (`grid` in `caption.json`).
Greedy decoding gives the same words as the Keras model and the SavedModel
(tests check, on images already at the model's size). Other sizes are resized here
with Pillow's antialiased bilinear filter, the SavedModel with TensorFlow's: pixels
can differ by a level or two, so captions of resized images may differ slightly.

    python -m keras_rnn.hosts.caption saved_models/litert/caption/1 scene.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from keras_rnn import UserError
from keras_rnn.hosts import require_shape
from keras_rnn.hosts.encoder_decoder import EncoderDecoderLiteRT, greedy_loop, join_words, run_host
from keras_rnn.limits import MAX_CAPTION_TOKENS, MAX_IMAGE_PIXELS


class CaptionLiteRT(EncoderDecoderLiteRT):
    REQUIRED = {"image_size": int, "vocab": list, "max_caption_len": int, "start_id": int, "end_id": int}
    STEP_INPUTS = {"token", "state", "memory"}
    ENCODER_INPUT, WORDS, WORD_IDS = "image", "vocab", ("start_id", "end_id")

    def __init__(self, litert_dir, num_threads: int = 1, quantized: bool = False):
        super().__init__("caption", litert_dir, num_threads, quantized)
        size = self.meta["image_size"]
        require_shape("the encoder's image", self.encoder_input, [1, size, size, 3])

    def pixels(self, image_file) -> np.ndarray:
        """An image file -> uint8 [1, S, S, 3] RGB; an animated GIF's first frame (Pillow decodes no
        other; the SavedModel reads the same one), its size the canvas that frame needs."""
        from PIL import Image

        size = self.meta["image_size"]
        try:
            image = Image.open(image_file)
        except Image.DecompressionBombError:
            image = None
        if image is None or image.width * image.height > MAX_IMAGE_PIXELS:  # checked before decoding
            raise UserError(f"{image_file}: the image declares over {MAX_IMAGE_PIXELS:,} pixels (the limit)")
        with image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            return np.asarray(image, np.uint8)[None]

    def greedy_ids(self, pixels: np.ndarray, max_length: int | None = None):
        """Word ids (without <end>) and the attention over the grid of every step [steps, P]
        (one row per word, and one for the <end> step when it came)."""
        max_length = max_length or self.meta["max_caption_len"] + 1
        encoded = self.encoder(image=pixels)
        return greedy_loop(
            self.step,
            encoded["state"],
            self.meta["start_id"],
            self.meta["end_id"],
            max_length,
            memory=encoded["memory"],
        )

    def caption(self, pixels: np.ndarray, max_length: int | None = None) -> str:
        ids, _ = self.greedy_ids(pixels, max_length)
        return join_words([self.meta["vocab"][i] for i in ids])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("litert_dir", help="directory holding caption.json and the .tflite files")
    parser.add_argument("items", nargs="+", metavar="image", help="image files (PNG, JPEG, ...)")
    parser.add_argument(
        "--max-length", type=int, default=None, help="default: the model's --max-caption-len + 1"
    )
    parser.add_argument("--quantized", action="store_true", help="use the dynamic-range quantized models")
    args = parser.parse_args(argv)
    return run_host(
        args,
        CaptionLiteRT,
        lambda model, image: model.caption(model.pixels(image), args.max_length),
        MAX_CAPTION_TOKENS,
    )


if __name__ == "__main__":
    sys.exit(main())
