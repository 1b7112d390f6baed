"""`python -m keras_rnn.litert_translate_host`, the documented name, kept:
the translation LiteRT host, now `keras_rnn.hosts.translate`."""

import sys

from keras_rnn.hosts.translate import TranslateLiteRT, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
