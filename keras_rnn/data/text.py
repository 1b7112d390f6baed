"""Character corpora: read and validate text, split it, map characters to ids, and the
char-LM's datasets (`load_corpus`, `make_datasets`).

Three sources, one rule for splitting (first 90% of characters for training,
last 10% for validation, as nanoGPT and most char-LM write-ups do):

- `stdlib_source()`: the Python standard library's own `.py` files (tests
  excluded, sorted paths): a real, large corpus that is always available offline;
- `read_text_file(path)`: any UTF-8 text;
- `tfds_text(name)`: a `tensorflow-datasets` text set such as `tiny_shakespeare`.
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_rnn import UserError
from keras_rnn.data import passes_or_one, require_file

VALIDATION_FRACTION = 0.1
# Directories of the stdlib left out of the default corpus: tests, and third-party code.
_EXCLUDED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}


def decode_utf8(data: bytes, source: str) -> str:
    """Bytes to text, refusing empty, binary and non-UTF-8 input with a clear message."""
    if not data:
        raise UserError(f"{source} is empty: give a UTF-8 text file with some text in it")
    if b"\x00" in data:
        raise UserError(f"{source} looks binary (it contains NUL bytes): give a UTF-8 text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(
            f"{source} is not valid UTF-8 (byte {err.start}: {data[err.start : err.start + 1]!r}); "
            "convert it first, e.g. `iconv -f latin1 -t utf-8 in.txt > out.txt`"
        ) from None


def read_text_file(path) -> str:
    path = require_file(path, "a UTF-8 text file (--text-file)")
    return decode_utf8(path.read_bytes(), str(path))


def stdlib_source_files() -> list[Path]:
    """The interpreter's own stdlib `.py` files, tests excluded, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(
        p
        for p in root.rglob("*.py")
        if not (_EXCLUDED_DIRS & set(p.relative_to(root).parts)) and not p.name.startswith("test_")
    )


def stdlib_source(max_chars: int | None = None, progress: bool = True) -> str:
    """Concatenate stdlib source files (each followed by a blank line)."""
    import keras  # progress bar only

    files = stdlib_source_files()
    bar = keras.utils.Progbar(len(files), unit_name="file") if progress else None
    parts, total = [], 0
    for i, path in enumerate(files):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue  # a handful of stdlib files are Latin-1 on purpose
        parts.append(text + "\n\n")
        total += len(parts[-1])
        if bar:
            bar.update(i + 1)
        if max_chars and total >= max_chars:
            break
    if bar and max_chars and total >= max_chars:
        bar.update(len(files), finalize=True)
    text = "".join(parts)
    return text[:max_chars] if max_chars else text


def tfds_text(name: str, manual_dir: str | None = None, data_dir: str | None = None) -> str:
    """All splits of a tensorflow-datasets text set, concatenated in order.

    tiny_shakespeare's own splits are the first 90% / next 5% / last 5% of the
    file, so concatenating them and splitting 90/10 gives the usual split back.
    With `manual_dir` (holding e.g. `input.txt`) the set is built offline.
    """
    import tensorflow_datasets as tfds

    from keras_rnn.data.tfds_sets import prepared_builder, split_names

    builder = prepared_builder(name, data_dir=data_dir, manual_dir=manual_dir)
    splits = split_names(builder)
    texts = [
        example["text"].decode("utf-8")
        for split in splits
        for example in tfds.as_numpy(builder.as_dataset(split=split))
    ]
    return "".join(texts)


def split_train_validation(text: str, fraction: float = VALIDATION_FRACTION) -> tuple[str, str]:
    cut = int(len(text) * (1 - fraction))
    return text[:cut], text[cut:]


def load_corpus(cfg) -> tuple[str, str]:
    """The text a charlm `Config` names (--train-file, --dataset, or the standard library's
    source; the first --max-chars), split first 90% / last 10%."""
    if cfg.text_file:
        text = read_text_file(cfg.text_file)
    elif cfg.dataset:
        text = tfds_text(cfg.dataset, manual_dir=cfg.tfds_manual_dir)
    else:
        print("Reading the Python standard library's source (the default, offline corpus) ...")
        text = stdlib_source(cfg.max_chars)
    if cfg.max_chars:
        text = text[: cfg.max_chars]
    return split_train_validation(text)


class CharVocabulary:
    """Characters <-> integer ids. Id 0 is the unknown character; 1.. are `chars`.

    Saved as JSON with the run. Inside TensorFlow graphs the mapping is an
    `IntegerLookup` over Unicode code points (`lookup_layer`), so a served model
    turns strings into ids with the same table that encoded the training data.
    """

    UNKNOWN = 0

    def __init__(self, chars: list[str]):
        self.chars = list(chars)
        self._index = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocabulary:
        return cls(sorted(set(text)))

    @property
    def size(self) -> int:
        return len(self.chars) + 1

    @property
    def codepoints(self) -> list[int]:
        return [ord(c) for c in self.chars]

    def lookup_layer(self):
        """code points (int) -> ids; unknown code points -> 0."""
        import keras

        return keras.layers.IntegerLookup(
            vocabulary=np.array(self.codepoints, dtype="int64"),
            num_oov_indices=1,
            mask_token=None,
            output_mode="int",
            name="char_ids",
        )

    def encode(self, text: str) -> np.ndarray:
        """Text to int32 ids through the same IntegerLookup the exported model uses."""
        import tensorflow as tf

        codepoints = tf.strings.unicode_decode(text, "UTF-8")
        return self.lookup_layer()(codepoints).numpy().astype("int32")

    def unknown_chars(self, text: str) -> set[str]:
        return {c for c in text if c not in self._index}

    def decode(self, ids) -> str:
        return "".join(self.chars[i - 1] if i > 0 else "\ufffd" for i in ids)

    def save(self, path) -> None:
        Path(path).write_text(
            json.dumps({"unknown_id": self.UNKNOWN, "chars": self.chars}, ensure_ascii=False, indent=0) + "\n"
        )

    @classmethod
    def load(cls, path) -> CharVocabulary:
        return cls(json.loads(Path(path).read_text())["chars"])


# ---------------------------------------------------------------- tf.data pipelines
def window_dataset(ids: np.ndarray, seq_len: int, batch_size: int, shuffle: bool, seed: int):
    """(input, target) windows of `seq_len` characters, target shifted by one."""
    starts = np.arange(0, len(ids) - seq_len - 1, seq_len)
    ids = tf.constant(ids)

    def batches(ds):
        windows = ds.map(
            lambda s: (ids[s : s + seq_len], ids[s + 1 : s + seq_len + 1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return windows.batch(batch_size, drop_remainder=True)

    return passes_or_one(starts, len(starts), seed, shuffle, batches), len(starts) // batch_size


def stream_dataset(ids: np.ndarray, seq_len: int, batch_size: int):
    """Batches for truncated BPTT: row i of batch k+1 continues row i of batch k.

    The text is cut into `batch_size` contiguous streams; batch k holds chunk k of
    every stream. Returns the dataset and the number of chunks in one pass.
    """
    stream_len = (len(ids) - 1) // batch_size
    chunks = stream_len // seq_len
    used = chunks * seq_len
    x = ids[: batch_size * stream_len].reshape(batch_size, stream_len)[:, :used]
    y = ids[1 : batch_size * stream_len + 1].reshape(batch_size, stream_len)[:, :used]
    x = x.reshape(batch_size, chunks, seq_len).transpose(1, 0, 2)
    y = y.reshape(batch_size, chunks, seq_len).transpose(1, 0, 2)
    return tf.data.Dataset.from_tensor_slices((x, y)), chunks


def make_datasets(cfg, train_ids: np.ndarray, val_ids: np.ndarray):
    """A charlm `Config`'s training (repeating) and validation datasets, plus batches per pass of
    each: windows of --seq-len characters, or with --stateful the streams of truncated BPTT."""
    need = cfg.seq_len + 2 if not cfg.stateful else cfg.batch_size * cfg.seq_len + 1
    for split, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) < need:
            raise UserError(
                f"the {split} split has {len(ids)} characters, fewer than one batch needs ({need}); "
                "give a longer corpus or lower --seq-len / --batch-size"
            )
    if cfg.stateful:
        train, train_batches = stream_dataset(train_ids, cfg.seq_len, cfg.batch_size)
        val, val_batches = stream_dataset(val_ids, cfg.seq_len, cfg.batch_size)
    else:
        train, train_batches = window_dataset(train_ids, cfg.seq_len, cfg.batch_size, True, cfg.seed)
        val, val_batches = window_dataset(val_ids, cfg.seq_len, cfg.batch_size, False, cfg.seed)
    if train_batches == 0 or val_batches == 0:
        raise UserError("a split is shorter than one batch: lower --batch-size or --seq-len")
    if cfg.validation_batches:
        val_batches = min(val_batches, cfg.validation_batches)
        val = val.take(val_batches)
    return (
        train.repeat().prefetch(tf.data.AUTOTUNE),
        train_batches,
        val.prefetch(tf.data.AUTOTUNE),
        val_batches,
    )
