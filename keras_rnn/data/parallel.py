"""Sentence pairs for translation: a generated dates task and Anki/Tatoeba pair files.

- `dates(n, seed)`: dates written in many human formats ("saturday 9 march 1985",
  "9/3/85", "march 9, 1985", ...) -> ISO "1985-03-09". Deterministic per seed;
  train, validation and test use different seeds. Two-digit years are read as
  1950-2049 (the only years generated), numeric dates are always day first.
- `read_pairs(path)`: `source<TAB>target[<TAB>attribution]` per line (the
  manythings.org / Tatoeba export format); `reverse=True` swaps the direction.
  Every malformed line is a `UserError` naming the line; blank lines are skipped
  and counted, never silently.

Text is NFKC-normalised here (and again inside the model, so served requests get
the same treatment): "é" typed as e + combining accent equals the composed "é".
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import unicodedata

from keras_rnn import UserError
from keras_rnn.data import require_file

FIRST_DAY, LAST_DAY = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# d: date -> (day, month name, short month name, weekday, short weekday, yy)
FORMATS = [
    "{weekday} {day} {month} {year}",
    "{weekday}, {month} {day}, {year}",
    "{wd} {day} {mon} {year}",
    "{day} {month} {year}",
    "{month} {day}, {year}",
    "{month} {day} {year}",
    "{mon} {day} {year}",
    "{day} {mon} {yy}",
    "{day}/{m}/{yy}",
    "{dd}/{mm}/{year}",
    "{dd}.{mm}.{year}",
    "{day}.{m}.{yy}",
    "{dd}-{mm}-{year}",
    "{year}/{mm}/{dd}",
    "the {day}th of {month} {year}",
]


def format_date(date: datetime.date, fmt: str, upper_first: bool = False) -> str:
    text = fmt.format(
        weekday=WEEKDAYS[date.weekday()],
        wd=WEEKDAYS[date.weekday()][:3],
        day=date.day,
        dd=f"{date.day:02d}",
        m=date.month,
        mm=f"{date.month:02d}",
        month=MONTHS[date.month - 1],
        mon=MONTHS[date.month - 1][:3],
        year=date.year,
        yy=f"{date.year % 100:02d}",
    )
    return text.title() if upper_first else text


def dates(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` (human date, ISO date) pairs, the same for the same seed."""
    rng = random.Random(seed)
    span = (LAST_DAY - FIRST_DAY).days
    pairs = []
    for _ in range(n):
        date = FIRST_DAY + datetime.timedelta(days=rng.randint(0, span))
        pairs.append(
            (format_date(date, rng.choice(FORMATS), upper_first=rng.random() < 0.2), date.isoformat())
        )
    return pairs


@dataclasses.dataclass
class Pairs:
    pairs: list[tuple[str, str]]  # (source, target), NFKC-normalised
    blank_lines: int = 0
    references: list[str] = dataclasses.field(default_factory=list)  # the targets untouched, as in the file


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def read_pairs(path, reverse: bool = False) -> Pairs:
    """Read a tab-separated pairs file; errors name the offending line."""
    path = require_file(path, "a tab-separated pairs file (source<TAB>target per line)")
    pairs, references, blank = [], [], 0
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{path}:{number}: not valid UTF-8 (byte {err.start} of the line); "
                    "convert the file first, e.g. `iconv -f latin1 -t utf-8`"
                ) from None
            if not line.strip():
                blank += 1
                continue
            columns = line.split("\t")
            if len(columns) not in (2, 3):
                raise UserError(
                    f"{path}:{number}: expected source<TAB>target[<TAB>attribution], "
                    f"found {len(columns)} tab-separated column(s)"
                )
            source, target = normalize(columns[0]), normalize(columns[1])
            if not source or not target:
                raise UserError(f"{path}:{number}: empty {'source' if not source else 'target'} sentence")
            pairs.append((target, source) if reverse else (source, target))
            references.append(columns[0 if reverse else 1].strip())
    if not pairs:
        raise UserError(f"{path} holds no sentence pairs")
    return Pairs(pairs, blank, references)


def split(pairs: list, seed: int, validation_fraction: float = 0.1, test_fraction: float = 0.1):
    """Shuffle (seeded) and cut into train / validation / test (the same cut for any list of the
    same length and seed; test_fraction 0: no test part)."""
    pairs = list(pairs)
    random.Random(seed).shuffle(pairs)
    n_val = max(1, int(len(pairs) * validation_fraction))
    n_test = max(1, int(len(pairs) * test_fraction)) if test_fraction else 0
    if len(pairs) < n_val + n_test + 1:
        parts = "train, validation, test" if n_test else "train, validation"
        raise UserError(f"only {len(pairs)} sentence pairs: need at least {2 + bool(n_test)} ({parts})")
    return pairs[n_val + n_test :], pairs[:n_val], pairs[n_val : n_val + n_test]


def tfds_pairs(name: str, data_dir: str | None = None, reverse: bool = False):
    """(train, validation, test) pairs of a `tensorflow-datasets` translation set such as
    `ted_hrlr_translate/pt_to_en`, in the direction of its supervised keys (`reverse` swaps).
    A set without a validation or test split gets one cut from its training pairs (seed 0)."""
    import tensorflow_datasets as tfds

    from keras_rnn.data.tfds_sets import prepared_builder, split_names

    builder = prepared_builder(name, data_dir=data_dir)
    if not builder.info.supervised_keys:
        raise UserError(f"tensorflow-datasets '{name}' has no (source, target) keys: not a translation set")
    splits = split_names(builder)
    if "train" not in splits:
        raise UserError(f"tensorflow-datasets '{name}' has no train split (it has {', '.join(splits)})")

    def read(split):
        pairs, empty = [], 0
        for source, target in tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True)):
            source, target = normalize(source.decode("utf-8")), normalize(target.decode("utf-8"))
            if source and target:
                pairs.append((target, source) if reverse else (source, target))
            else:
                empty += 1
        if empty:
            print(f"{name} {split}: skipped {empty} pair(s) with an empty side")
        return pairs

    train = read("train")
    held_out = {s: read(s) for s in ("validation", "test") if s in splits}
    if len(held_out) < 2:
        cut_train, cut_val, cut_test = split(train, seed=0)
        train = cut_train
        held_out = {"validation": held_out.get("validation", cut_val), "test": held_out.get("test", cut_test)}
    print(
        f"tensorflow-datasets '{name}': {len(train):,} / {len(held_out['validation']):,} / "
        f"{len(held_out['test']):,} train / validation / test pairs"
    )
    return train, held_out["validation"], held_out["test"]
