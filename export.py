#!/usr/bin/env python
"""python export.py --task NAME [--run-dir DIR] [--out saved_models]"""

import sys

from keras_rnn.commands.export import main

if __name__ == "__main__":
    sys.exit(main())
