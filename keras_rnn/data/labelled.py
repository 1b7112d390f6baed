"""Labelled sequences for classification (one label per sequence), read and checked with NumPy alone.

Three file layouts:

- `.ts`, the UEA/UCR archive's (and sktime's and aeon's) format: `#` comments, a header (`@problemName`,
  `@timeStamps false`, `@missing`, `@univariate`, `@dimensions F`, `@equalLength`, `@seriesLength`,
  `@classLabel true L1 L2 ...`), then after `@data` one series per line: each dimension's values
  comma-separated, dimensions separated by `:`, the class label last, e.g. `0.1,0.2,0.3:1.5,1.4,1.2:speaker3`.
  Univariate and multivariate, equal or unequal lengths;
- `.csv`, one row per time step: `sequence_id,feature_1,...,feature_F,label`. A header row is allowed;
  the rows of one sequence come one after another and carry one label;
- text `.tsv`: `text<TAB>label` per line, UTF-8 (the label is after the last tab); blank lines are skipped
  and counted.

Series come back as float32 [steps, features] arrays, labels as strings. Anything a recurrent network
cannot take (a missing, NaN or infinite value, ragged dimensions, an empty sequence, a size over
`keras_rnn.limits`) is one UserError that names the file and the line.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from keras_rnn import UserError
from keras_rnn.data import require_file
from keras_rnn.limits import MAX_SERIES_FEATURES, MAX_SERIES_STEPS, MAX_TEXT_CHARS

VALIDATION_FRACTION = 0.1
STD_FLOOR = 1e-6  # relative: a feature whose training std is at or below this is centred, not scaled
_SHOWN_LABELS = 20  # known labels listed in an error message


@dataclass
class LabelledSeries:
    series: list[np.ndarray]  # one float32 [steps, features] array per sequence
    labels: list[str]
    features: int
    class_labels: list[str] | None = None  # the labels the file declares (.ts `@classLabel`), in its order
    source: str = ""  # the file, for messages
    lines: list[int] = field(default_factory=list)  # the line each sequence is on (starts on, in a CSV)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.series], dtype=np.int64)


@dataclass
class LabelledText:
    texts: list[str]
    labels: list[str]
    source: str = ""
    lines: list[int] = field(default_factory=list)
    blank_lines: int = 0  # skipped

    def __len__(self) -> int:
        return len(self.labels)


# ---------------------------------------------------------------- shared reading helpers
def _fail(source, line: int, problem: str):
    raise UserError(f"{source}, line {line}: {problem}")


def _decoded(path) -> str:
    """The file's text; an empty, binary or non-UTF-8 file is refused, naming the line."""
    data = path.read_bytes()
    if not data.strip():
        _fail(path, 1, "the file is empty: give labelled sequences, one per line")
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        _fail(path, line, "the file looks binary (it contains NUL bytes): give a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        _fail(
            path,
            line,
            f"not valid UTF-8 (byte {data[err.start : err.start + 1]!r}); convert the file first, "
            "e.g. `iconv -f latin1 -t utf-8 in.ts > out.ts`",
        )
    return text.removeprefix("\ufeff")


def _numbered_lines(text: str):
    """(line number, line without its line break); a final line break adds no empty line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        yield number, line.rstrip("\r")


def _numbers(tokens: list[str], source, line: int, where: str) -> np.ndarray:
    """float32 values of `tokens`, refusing non-numeric, missing (`?`, NaN) and infinite values."""
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        values = np.array([_number(token, p, source, line, where) for p, token in enumerate(tokens, 1)])
    with np.errstate(over="ignore"):
        values = values.astype(np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        p = int(np.argmin(finite))
        if np.isnan(values[p]):
            _gap(tokens[p], p + 1, source, line, where)
        _fail(
            source, line, f"value {p + 1} of {where} is {tokens[p].strip()!r}, infinite in float32: clip it"
        )
    return values


def _number(token: str, position: int, source, line: int, where: str) -> float:
    try:
        return float(token)
    except ValueError:
        if token.strip() in ("?", ""):
            _gap(token, position, source, line, where)
        _fail(source, line, f"value {position} of {where} is {token.strip()!r}, not a number")


def _gap(token: str, position: int, source, line: int, where: str):
    shown = "an empty value" if not token.strip() else f"a missing value ({token.strip()!r})"
    _fail(
        source,
        line,
        f"{shown} at value {position} of {where}: a recurrent network cannot take gaps; fill or drop them first",
    )


def _check_label(label: str, declared, source, line: int) -> str:
    if not label:
        _fail(source, line, "the class label is empty: end each sequence with its label")
    if declared is not None and label not in declared:
        _fail(source, line, f"class label {label!r} is not one of the declared labels ({_listed(declared)})")
    return label


def _listed(labels) -> str:
    labels = list(labels)
    shown = ", ".join(repr(label) for label in labels[:_SHOWN_LABELS])
    return shown + (f", ... ({len(labels)} in all)" if len(labels) > _SHOWN_LABELS else "")


def _check_size(steps: int, features: int, source, line: int) -> None:
    if steps == 0:
        _fail(source, line, "an empty sequence (no time steps): every sequence needs at least one")
    if steps > MAX_SERIES_STEPS:
        _fail(source, line, f"{steps} time steps, over the limit of {MAX_SERIES_STEPS}: cut the series")
    if features > MAX_SERIES_FEATURES:
        _fail(
            source,
            line,
            f"{features} features per time step, over the limit of {MAX_SERIES_FEATURES}: reduce them first",
        )


# ---------------------------------------------------------------- .ts (UEA / sktime / aeon)
_TS_FLAGS = ("timestamps", "missing", "univariate", "equallength", "targetlabel")


def read_ts(path) -> LabelledSeries:
    """A `.ts` file of labelled series (`@classLabel true`, `@timeStamps false`)."""
    path = require_file(path, "a .ts file of labelled series (the UEA archive's format)")
    header: dict[str, tuple[str, int]] = {}
    series, labels, lines = [], [], []
    expected = declared = None
    for number, raw in _numbered_lines(_decoded(path)):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if expected is not None:  # after @data
            series.append(_ts_series(line, expected, path, number))
            labels.append(_check_label(line.rpartition(":")[2].strip(), declared, path, number))
            lines.append(number)
            expected["dimensions"] = series[-1].shape[1]
            expected.setdefault("said", f"the series on line {number} has")
        elif line.startswith("@"):
            key, *value = line[1:].split(None, 1) or [""]
            key, value = key.lower(), value[0] if value else ""
            if key == "data":
                expected, declared = _ts_header(header, path, number)
            else:
                header[key] = (value.strip(), number)
        else:
            _fail(path, number, "data before the `@data` line: a .ts file needs its header first")
    if expected is None:
        _fail(
            path, number, "no `@data` line: a .ts file has a header, then `@data`, then one series per line"
        )
    if not series:
        _fail(path, number, "no series after `@data`")
    features = series[0].shape[1]
    return LabelledSeries(series, labels, features, declared, str(path), lines)


def _ts_header(header: dict, path, line: int) -> tuple[dict, list[str] | None]:
    """What the data lines must match ({"dimensions", "length"} as declared) and the declared labels."""
    flags = {}
    for key in _TS_FLAGS:
        value, at = header.get(key, ("false", line))
        if value.lower() not in ("true", "false"):
            _fail(path, at, f"@{key} must be true or false, not {value!r}")
        flags[key] = value.lower() == "true"
    if flags["timestamps"]:
        _fail(
            path,
            header["timestamps"][1],
            "@timeStamps true is not supported: give the values without time stamps "
            "(`@timeStamps false`, one comma-separated list per dimension)",
        )
    if flags["targetlabel"]:
        _fail(path, header["targetlabel"][1], "a regression file (@targetLabel true): give class labels")
    if "classlabel" not in header:
        _fail(path, line, "no `@classLabel true ...` line before `@data`: the series need class labels")
    value, at = header["classlabel"]
    words = value.split()
    if not words or words[0].lower() != "true":
        _fail(
            path, at, "@classLabel is not true: the series need class labels (`@classLabel true L1 L2 ...`)"
        )
    declared = words[1:] or None
    expected = {}
    for key, name in (("dimensions", "dimensions"), ("dimension", "dimensions"), ("serieslength", "length")):
        if key in header:
            value, at = header[key]
            if not value.isdigit() or int(value) == 0:
                _fail(path, at, f"@{key} must be a positive whole number, not {value!r}")
            expected[name], expected[f"{name}_line"] = int(value), at
    if "length" in expected and not flags["equallength"]:
        del expected["length"]  # a series length declared for unequal lengths means nothing
    if flags["univariate"] and expected.setdefault("dimensions", 1) != 1:
        _fail(path, header["univariate"][1], "@univariate true but @dimensions is not 1")
    if "dimensions" in expected:
        expected["said"] = "the header says"
        _check_size(1, expected["dimensions"], path, expected.get("dimensions_line", line))
    return expected, declared


def _ts_series(line: str, expected: dict, path, number: int) -> np.ndarray:
    """One data line's values as a float32 [steps, dimensions] array."""
    parts = line.split(":")
    if len(parts) < 2:
        _fail(path, number, "no `:` before the class label: a data line is `values:values:...:label`")
    dimensions = parts[:-1]
    if "dimensions" in expected and len(dimensions) != expected["dimensions"]:
        count = f"{len(dimensions)} dimension" + "s" * (len(dimensions) != 1)
        _fail(path, number, f"{count}, but {expected['said']} {expected['dimensions']}")
    _check_size(1, len(dimensions), path, number)
    columns = []
    for d, text in enumerate(dimensions, 1):
        tokens = text.split(",")
        if not text.strip():
            _fail(path, number, f"an empty sequence (dimension {d} has no values)")
        if columns and len(tokens) != len(columns[0]):
            _fail(
                path,
                number,
                f"ragged series: dimension {d} has {len(tokens)} values, dimension 1 has {len(columns[0])} "
                "(every dimension needs one value per time step)",
            )
        _check_size(len(tokens), 1, path, number)
        columns.append(_numbers(tokens, path, number, f"dimension {d}"))
    if "length" in expected and len(columns[0]) != expected["length"]:
        _fail(path, number, f"{len(columns[0])} time steps, but @seriesLength says {expected['length']}")
    return np.stack(columns, axis=1)


# ---------------------------------------------------------------- .csv, one row per time step
def read_series_csv(path) -> LabelledSeries:
    """A CSV file `sequence_id,feature_1,...,feature_F,label`, one row per time step."""
    path = require_file(path, "a CSV file of labelled series (sequence_id,feature_1,...,feature_F,label)")
    columns = None
    series, labels, lines, started = [], [], [], {}
    steps: list[np.ndarray] = []
    for number, line in _numbered_lines(_decoded(path)):
        if not line.strip():
            continue
        row = next(csv.reader([line]))
        if columns is None:
            columns = len(row)
            if columns < 3:
                _fail(path, number, f"{columns} columns: give sequence_id,feature_1,...,feature_F,label")
            _check_size(1, columns - 2, path, number)
            if not _all_numbers(row[1:-1]):
                continue  # a header row
        if len(row) != columns:
            _fail(path, number, f"{len(row)} columns, the first row has {columns}")
        sequence, label = row[0].strip(), row[-1].strip()
        if sequence not in started:
            if steps:
                series.append(np.stack(steps))
            steps = []
            started[sequence] = number
            labels.append(_check_label(label, None, path, number))
            lines.append(number)
        elif sequence != _last_key(started):
            _fail(
                path,
                number,
                f"the rows of sequence {sequence!r} are not consecutive (it started on line "
                f"{started[sequence]}): sort the file by sequence, keeping the time order within each",
            )
        elif label != labels[-1]:
            _fail(path, number, f"label {label!r}, but sequence {sequence!r} has label {labels[-1]!r}")
        steps.append(_numbers(row[1:-1], path, number, "the row's features"))
        _check_size(len(steps), 1, path, started[sequence])
    if steps:
        series.append(np.stack(steps))
    if not series:
        _fail(path, number, "no data rows (only a header)")
    return LabelledSeries(series, labels, columns - 2, None, str(path), lines)


def _all_numbers(tokens: list[str]) -> bool:
    try:
        np.array(tokens, dtype=np.float64)
    except ValueError:
        return False
    return True


def _last_key(mapping: dict):
    return next(reversed(mapping))


def read_labelled_series(path) -> LabelledSeries:
    """A `.ts` or `.csv` file of labelled series, by its suffix."""
    path = require_file(path, "a .ts or .csv file of labelled series")
    readers = {".ts": read_ts, ".csv": read_series_csv}
    if path.suffix.lower() not in readers:
        raise UserError(
            f"{path}: give a .ts (UEA archive) or .csv file of labelled series, not {path.suffix!r}"
        )
    return readers[path.suffix.lower()](path)


# ---------------------------------------------------------------- text<TAB>label
def read_text_tsv(path) -> LabelledText:
    """A UTF-8 file of `text<TAB>label` lines (the label after the last tab; blank lines skipped)."""
    path = require_file(path, "a UTF-8 file of text<TAB>label lines")
    texts, labels, lines, blank = [], [], [], 0
    for number, line in _numbered_lines(_decoded(path)):
        if not line.strip():
            blank += 1
            continue
        if "\t" not in line:
            _fail(path, number, "no tab: each line is text<TAB>label")
        text, _, label = line.rpartition("\t")
        if not text.strip():
            _fail(path, number, "an empty text before the tab")
        if len(text) > MAX_TEXT_CHARS:
            _fail(path, number, f"{len(text)} characters, over the limit of {MAX_TEXT_CHARS}: cut the text")
        texts.append(text)
        labels.append(_check_label(label.strip(), None, path, number))
        lines.append(number)
    if not texts:
        _fail(path, number, "only blank lines: give text<TAB>label lines")
    return LabelledText(texts, labels, str(path), lines, blank)


# ---------------------------------------------------------------- labels, splits, statistics
def classes(data: LabelledSeries | LabelledText) -> list[str]:
    """The labels that occur in `data`: in the file's declared order if it declares one, else sorted
    (numerically when every label is a number, so "10" comes after "9")."""
    present = set(data.labels)
    declared = getattr(data, "class_labels", None)
    if declared:
        return [label for label in declared if label in present]
    if _all_numbers(list(present)):
        return sorted(present, key=lambda label: (float(label), label))
    return sorted(present)


def check_labels(data: LabelledSeries | LabelledText, training: LabelledSeries | LabelledText) -> None:
    """Refuse a test or validation set with a label the training set never has (naming its line)."""
    known = set(training.labels)
    for label, line in zip(data.labels, data.lines):
        if label not in known:
            _fail(
                data.source,
                line,
                f"label {label!r} never occurs in the training data ({training.source}), so no model "
                f"trained on it can predict it; its labels: {_listed(classes(training))}",
            )


def check_features(data: LabelledSeries, training: LabelledSeries) -> None:
    """Refuse a test or validation set whose series have another number of features than training's."""
    if data.features != training.features:
        _fail(
            data.source,
            data.lines[0],
            f"{data.features} features per time step, but the training data ({training.source}) has "
            f"{training.features}",
        )


def split(data, fraction: float = VALIDATION_FRACTION, seed: int = 0):
    """(training, validation): a seeded, stratified share `fraction` of each class held out, at least
    one sequence of each class that has two or more (one always stays in training)."""
    if not 0 < fraction < 1:
        raise UserError(f"the validation fraction must be between 0 and 1, got {fraction}")
    members: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        members.setdefault(label, []).append(i)
    rng = np.random.default_rng(seed)
    held = []
    for label in classes(data):
        count = len(members[label])
        take = min(count - 1, max(1, round(fraction * count)))
        held.extend(rng.permutation(members[label])[:take].tolist())
    if not held:
        raise UserError(
            f"{data.source}: too few sequences to hold out a validation set (every class has one); "
            "give a validation file"
        )
    held_set = set(held)
    kept = [i for i in range(len(data)) if i not in held_set]
    return _take(data, kept), _take(data, sorted(held))


def _take(data, indices: list[int]):
    per_sequence = {"series", "texts", "labels", "lines"}
    return dataclasses.replace(
        data,
        **{
            f.name: [getattr(data, f.name)[i] for i in indices]
            for f in dataclasses.fields(data)
            if f.name in per_sequence
        },
    )


def standardisation(data: LabelledSeries, floor: float = STD_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (mean, std), float32 [features], over every time step of every sequence (float64
    sums). A std at or below `floor` x max(1, |mean|) becomes 1: a feature constant in training is
    centred, not blown up."""
    steps = np.concatenate(data.series).astype(np.float64)
    mean, std = steps.mean(axis=0), steps.std(axis=0)
    std = np.where(std > floor * np.maximum(1.0, np.abs(mean)), std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def standardised(data: LabelledSeries, mean: np.ndarray, std: np.ndarray) -> LabelledSeries:
    """`data` with every series standardised by training statistics (from `standardisation`)."""
    return dataclasses.replace(data, series=[((s - mean) / std).astype(np.float32) for s in data.series])
