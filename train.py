#!/usr/bin/env python
"""python train.py --task NAME [options]  (python train.py --task NAME --help)"""
import sys

from keras_rnn.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
