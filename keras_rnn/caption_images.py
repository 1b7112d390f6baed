"""`python -m keras_rnn.caption_images` (the documented name, kept): `python predict.py --task caption`."""

import sys

from keras_rnn.commands.predict import main

if __name__ == "__main__":
    sys.exit(main(default_task="caption"))
