"""Every per-request limit of the served models, in one place (no TensorFlow here: the LiteRT
hosts apply the same limits). A request over a limit is refused with a clear error, never
truncated or run for minutes. Listed in docs/limits.md."""

MAX_GENERATE_CHARS = 100_000  # char-LM: characters per `generate` request (and host --num-chars)
MAX_PROMPT_CHARS = 10_000  # char-LM: prompt length
MAX_OUTPUT_TOKENS = 512  # translate: `max_length` (and the host's --max-length)
MAX_CAPTION_TOKENS = 64  # caption: `max_length` (and the host's --max-length)
MAX_GENERATE_STEPS = 100_000  # ESN: free-running `num_steps`
MAX_BEAM_WIDTH = 16  # translate, caption: `beam_width`
MAX_IMAGE_PIXELS = 40_000_000  # caption: pixels an image may declare (width x height), read before decoding
MAX_REQUEST_PIXELS = 80_000_000  # caption: declared pixels of all the images of one request
MAX_TRAINING_BYTES = 8 * 2**30  # char-LM: weights + optimizer state a --units / --layers choice may need
# Labelled sequences (--task classify; keras_rnn/data/labelled.py): every series or text of a training,
# validation or test file, and what the classifier's served model accepts. Japanese Vowels has 7-29 steps
# of 12 features; of the UEA archive's 30 multivariate sets only EigenWorms (17,984 steps) and
# DuckDuckGeese (1,345 features) are over these. 10,000 characters hold a long review or news article.
MAX_SERIES_STEPS = 10_000  # time steps of one labelled series
MAX_SERIES_FEATURES = 1_000  # features (dimensions, channels) per time step
MAX_TEXT_CHARS = 10_000  # characters of one labelled text
MAX_CLASSIFY_BATCH = 1_024  # classify: series or texts in one request
# Tagging (--task tag; keras_rnn/data/conll.py): one CoNLL sequence, and what the served `tag` signature
# accepts. A King James verse has at most 90 words; 1,000 words hold a long paragraph.
MAX_TAG_WORDS = 1_000  # words of one sequence (a CoNLL sequence, a served text)
MAX_TAG_BATCH = 1_024  # tag: texts in one request (each at most MAX_TEXT_CHARS characters)
# The web app (python -m keras_rnn.app): besides the limits above, which it applies before calling a model.
MAX_UPLOAD_BYTES = 8 * 2**20  # app: bytes of one request body (an uploaded image or CSV, a form)
MAX_APP_SECONDS = 120  # app: seconds one request may run (a streamed generation included), then it stops
MAX_CELLS_CHARS = 5_000  # app: characters of the text the char-LM's "cells" view reads per request
