"""`python -m keras_rnn.litert_caption_host`, the documented name, kept:
the captioning LiteRT host, now `keras_rnn.hosts.caption`."""

import sys

from keras_rnn.hosts.caption import CaptionLiteRT, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
