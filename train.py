#!/usr/bin/env python
"""python train.py --task NAME [options]  (python train.py --task NAME --help)"""

import sys

from keras_rnn.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
