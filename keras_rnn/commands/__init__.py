"""The command-line programs: train, export, predict (`train.py`, `export.py`, `predict.py` call them)."""
