"""Readers for time-series classification files: sktime/aeon ``.ts``, UCR ``.tsv``/``.csv``.

Every reader returns X as float32 of shape (N, C, L) and the labels as written in the
file. Anything that cannot become such an array raises ``InputError`` with a message
that names the file, the line and what was expected; cnndoctor never pads or resamples.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["csv_header", "find_split_pair", "read_csv", "read_ts", "read_ucr_tsv", "typed_labels"]

_MISSING = {"?": "nan"}
# A ':' inside "(timestamp,value)" belongs to a time of day, not to the channel separator.
_TS_SPLIT = re.compile(r":(?![^(]*\))")
_TS_PAIR = re.compile(r"\(([^()]*)\)")


def _lines(path) -> list[str]:
    try:
        # errors="replace": header comments of some archive files are Latin-1, data is ASCII.
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise InputError(f"Cannot read {path}: {e.strerror or e}.") from None


def _floats(path, lineno: int, fields: list[str], what: str) -> np.ndarray:
    values = [_MISSING.get(f.strip(), f) for f in fields]
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        bad = next((v for v in values if not _is_number(v)), values[0] if values else "")
        raise InputError(
            f"{path}, line {lineno}: {what} holds {bad!r}, which is not a number. Expected "
            "decimal numbers (or '?' / NaN for a missing value)."
        ) from None


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _stack_equal(path, rows: list[list[np.ndarray]], linenos: list[int], note: str = "") -> np.ndarray:
    """Stack cases of channels into (N, C, L), refusing unequal lengths."""
    lengths = [[len(ch) for ch in row] for row in rows]
    flat = [n for row in lengths for n in row]
    if min(flat) != max(flat):
        ref = lengths[0][0]
        i, c = next((i, c) for i, row in enumerate(lengths) for c, n in enumerate(row) if n != ref)
        where = f"case {i + 1} (line {linenos[i]})" + (f", channel {c + 1}," if len(lengths[i]) > 1 else "")
        raise InputError(
            f"{path} holds series of unequal length: lengths range from {min(flat)} to {max(flat)}"
            f"{note}; case 1 (line {linenos[0]}) has length {ref} but {where} has length "
            f"{lengths[i][c]}. cnndoctor needs equal-length series: resample or pad them "
            "yourself to one common length and save them again."
        )
    return np.array(rows, dtype=np.float32)


def typed_labels(raw: list[str]) -> np.ndarray:
    """int64 if every label is integer-valued, else float64 if numeric, else str; never remapped."""
    try:
        values = np.array(raw, dtype=np.float64)
    except ValueError:
        return np.array(raw, dtype=str)
    if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64)
    return values


def _header_bool(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v == "true" else False if v == "false" else None


def read_ts(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Read a sktime/aeon ``.ts`` file into X (N, C, L) float32, label strings and header meta.

    Files without class labels (``@classLabel false``) give y of length 0.
    """
    lines = _lines(path)
    if not any(line.strip() for line in lines):
        raise InputError(f"{path}, line 1: the file is empty. Expected '@' header lines, then "
                         "@data, then one case per line.")
    head: dict[str, str] = {}
    data_at = None
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s[0] in "#%":  # '%' comments come from the ARFF heritage of the format
            continue
        if not s.startswith("@"):
            raise InputError(f"{path}, line {n}: found {s[:40]!r} but no @data line came before "
                             "it. Expected '@' header lines or '#' comments, then @data, then cases.")
        key, *value = s[1:].split(None, 1)
        if key.lower() == "data":
            data_at = n
            break
        head[key.lower()] = value[0].strip() if value else ""
    if data_at is None:
        raise InputError(f"{path}: reached the end (line {len(lines)}) without an @data line. "
                         "Expected '@' header lines, then @data, then one case per line.")

    labels_decl = head.get("classlabel", "false").split()
    has_label = bool(labels_decl) and _header_bool(labels_decl[0]) is True
    allowed = labels_decl[1:] if has_label else []
    if not has_label and _header_bool(head.get("targetlabel", "false")):
        has_label = True  # regression files: the last field is a numeric target
    timestamps = bool(_header_bool(head.get("timestamps", "false")))
    univariate = _header_bool(head.get("univariate", ""))
    dims = head.get("dimensions")
    if dims is not None and not (dims.isdigit() and int(dims) > 0):
        raise InputError(f"{path}: @dimensions is {dims!r}; expected a positive whole number.")
    n_channels = int(dims) if dims else (1 if univariate else None)

    rows, labels, linenos = [], [], []
    for n, line in enumerate(lines[data_at:], data_at + 1):
        s = line.strip()
        if not s or s[0] in "#%":
            continue
        fields = _TS_SPLIT.split(s) if timestamps else s.split(":")
        if has_label:
            label = fields.pop().strip()
            if allowed and label not in allowed:
                raise InputError(f"{path}, line {n}: class label {label!r} is not among those "
                                 f"declared by @classLabel ({' '.join(allowed)}).")
            labels.append(label)
        if not fields or not "".join(fields).strip():
            raise InputError(f"{path}, line {n}: case holds no values. Expected channels of "
                             "','-separated numbers separated by ':'.")
        if n_channels is None:
            n_channels = len(fields)
        if len(fields) != n_channels:
            raise InputError(
                f"{path}, line {n}: case has {len(fields)} channel(s) but {n_channels} were expected"
                f"{'' if dims or univariate else ' (from the first case)'}. Channels are separated "
                f"by ':'{' and the class label is the last field' if has_label else ''}.")
        channels = []
        for c, field in enumerate(fields, 1):
            values = ([p.rpartition(",")[2] for p in _TS_PAIR.findall(field)] if timestamps
                      else field.split(","))
            channels.append(_floats(path, n, values, f"channel {c}"))
        rows.append(channels)
        linenos.append(n)
    if not rows:
        raise InputError(f"{path}: no cases after @data (line {data_at}). Expected one case per line.")

    X = _stack_equal(path, rows, linenos)
    meta = {
        "problem_name": head.get("problemname", Path(path).stem),
        "class_labels": allowed or None,
        "univariate": X.shape[1] == 1,
        "equal_length": True,
        "series_length": X.shape[2],
        "n_channels": X.shape[1],
        "timestamps": timestamps,
        "missing": bool(np.isnan(X).any()),
    }
    return X, np.array(labels, dtype=str), meta


def _split(line: str, delimiter: str | None) -> list[str]:
    return line.split(delimiter) if delimiter else line.split()


def _sniff(path, lines: list[str], delimiter: str | None) -> str | None:
    if delimiter is not None:
        return delimiter
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise InputError(f"{path}, line 1: the file is empty. Expected one series per line.")
    # Tabs (UCR 2018), then commas, then whitespace (the older UCR .txt layout).
    return "\t" if "\t" in first else "," if "," in first else None


def _table(path, lines, delimiter, label_of, header_line: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of values with one label column each -> (X (N, 1, L), typed labels)."""
    rows, labels, linenos = [], [], []
    for n, line in enumerate(lines[header_line:], header_line + 1):
        if not line.strip():
            continue
        fields = _split(line.rstrip("\r\n"), delimiter)
        try:
            label = label_of(fields)
        except IndexError:
            raise InputError(f"{path}, line {n}: row has {len(fields)} field(s), too few to hold "
                             "the label column.") from None
        # An empty cell is a missing value in a table (not in .ts, where it means a stray comma).
        values = _floats(path, n, [f if f.strip() else "nan" for f in fields], "the row")
        # UCR pads variable-length series with trailing NaN: strip it so the length is real.
        keep = len(values)
        while keep and np.isnan(values[keep - 1]):
            keep -= 1
        rows.append([values[:keep]])
        labels.append(label.strip())
        linenos.append(n)
    if not rows:
        raise InputError(f"{path}: no data rows found. Expected one series per line.")
    X = _stack_equal(path, rows, linenos, note=" (trailing NaN/empty values count as padding)")
    if X.shape[2] == 0:
        raise InputError(f"{path}: rows hold a label but no values. Expected a label and the series.")
    return X, typed_labels(labels)


def csv_header(path, delimiter: str | None = None) -> list[str] | None:
    """The column names of a CSV's first row when it is a header (not all numbers), else None."""
    lines = _lines(path)
    delimiter = _sniff(path, lines, delimiter)
    first = next(line for line in lines if line.strip())
    names = [f.strip().strip('"') for f in _split(first, delimiter)]
    if all(_is_number(_MISSING.get(f, f)) for f in names):
        return None
    return names


def read_ucr_tsv(path, delimiter: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a UCR-archive file (label first, then the values) into X (N, 1, L) and raw labels."""
    lines = _lines(path)
    delimiter = _sniff(path, lines, delimiter)

    def label_of(fields):
        return fields.pop(0)

    return _table(path, lines, delimiter, label_of, 0)


def read_csv(path, label_column: int | str = -1, header: bool | str = "auto",
             delimiter: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV with one series per row and a label column (index or header name)."""
    lines = _lines(path)
    delimiter = _sniff(path, lines, delimiter)
    first_n = next(i for i, line in enumerate(lines) if line.strip())
    names = [f.strip().strip('"') for f in _split(lines[first_n], delimiter)]
    if header == "auto":
        # A header row is one whose value cells are not numbers (the label cell may be text anyway).
        rest = [f for i, f in enumerate(names) if isinstance(label_column, str)
                or i != label_column % len(names)]
        header = isinstance(label_column, str) or not all(_is_number(_MISSING.get(f, f)) for f in rest)
    if isinstance(label_column, str):
        if not header:
            raise InputError(f"{path}: label column {label_column!r} was given by name, but the "
                             "file is read without a header row. Pass the column index instead.")
        if label_column not in names:
            shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            raise InputError(f"{path}, line {first_n + 1}: no column named {label_column!r} in the "
                             f"header (columns: {shown}).")
        label_column = names.index(label_column)

    def label_of(fields):
        return fields.pop(label_column).strip().strip('"')

    return _table(path, lines, delimiter, label_of, first_n + 1 if header else first_n)


def find_split_pair(path) -> tuple[Path, Path] | None:
    """Find ``<Name>_TRAIN.<ext>`` and ``<Name>_TEST.<ext>`` from a folder, a prefix or one split's file."""
    p = Path(path)
    exts = ["ts", "tsv", "csv", "txt"]
    if p.is_dir():
        folder, name = p, p.name
    else:
        folder, name = p.parent, p.name
        m = re.fullmatch(r"(.+)_(train|test)\.(\w+)", p.name, flags=re.IGNORECASE)
        if m:
            name, exts = m.group(1), [m.group(3).lower()]
    if not folder.is_dir():
        return None
    # Sorted so that the choice is the same on every machine when case variants coexist.
    by_lower: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        by_lower.setdefault(f.name.lower(), f)
    for ext in exts:
        train = by_lower.get(f"{name}_train.{ext}".lower())
        test = by_lower.get(f"{name}_test.{ext}".lower())
        if train and test and train.is_file() and test.is_file():
            return train, test
    return None
