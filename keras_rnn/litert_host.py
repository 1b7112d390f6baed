"""`python -m keras_rnn.litert_host`, the documented name, kept:
the char-LM LiteRT host, now `keras_rnn.hosts.charlm`."""

import sys

from keras_rnn.hosts.charlm import CharLMLiteRT, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
