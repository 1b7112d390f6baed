"""`python -m keras_rnn.sample` (the documented name, kept): `python predict.py --task charlm`."""

import sys

from keras_rnn.commands.predict import main

if __name__ == "__main__":
    sys.exit(main(default_task="charlm"))
