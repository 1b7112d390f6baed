#!/usr/bin/env python
"""python predict.py --task NAME [--run-dir DIR] [task options]  (python predict.py --task NAME --help)"""

import sys

from keras_rnn.commands.predict import main

if __name__ == "__main__":
    sys.exit(main())
