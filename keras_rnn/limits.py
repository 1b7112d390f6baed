"""Every per-request limit of the served models, in one place (no TensorFlow here: the LiteRT
hosts apply the same limits). A request over a limit is refused with a clear error, never
truncated or run for minutes. Listed in docs/serving.md#limits-and-failure-behaviour."""

MAX_GENERATE_CHARS = 100_000  # char-LM: characters per `generate` request (and host --num-chars)
MAX_PROMPT_CHARS = 10_000  # char-LM: prompt length
MAX_OUTPUT_TOKENS = 512  # translate: `max_length` (and the host's --max-length)
MAX_CAPTION_TOKENS = 64  # caption: `max_length` (and the host's --max-length)
MAX_GENERATE_STEPS = 100_000  # ESN: free-running `num_steps`
MAX_BEAM_WIDTH = 16  # translate, caption: `beam_width`
MAX_IMAGE_PIXELS = 40_000_000  # caption: pixels an image may declare (width x height), read before decoding
MAX_REQUEST_PIXELS = 80_000_000  # caption: declared pixels of all the images of one request
MAX_TRAINING_BYTES = 8 * 2**30  # char-LM: weights + optimizer state a --units / --layers choice may need
