"""`python -m keras_rnn.attention_maps` (the documented name, kept): `python predict.py --task translate
--maps DIR`, drawing the maps in `--out` (default ./attention_maps) as it always did."""

import sys

from keras_rnn.commands.predict import main

if __name__ == "__main__":
    argv = ["--maps" if a == "--out" else a for a in sys.argv[1:]]
    sys.exit(
        main(argv if "--maps" in argv else [*argv, "--maps", "attention_maps"], default_task="translate")
    )
