"""Read delimited tables and turn their columns into typed arrays, naming the file and line of
the first bad value."""

from __future__ import annotations

import csv
import gzip
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from data_prep.errors import DataError

_SAFE_SEP = "\x1f"  # ASCII unit separator: stands in for multi-character separators such as "::"


def _read_text(path: Path, encoding: str, encoding_key: str | None) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as e:
        raise DataError(path, f"cannot read ({e})") from e
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        fix = f"set {encoding_key} to the file's encoding, e.g. latin-1" if encoding_key else \
            f"the official file is {encoding}: is this copy damaged?"
        raise DataError(path, f"bytes {raw[e.start:e.end]!r} are not valid {encoding}; {fix}", line) from e


def read_table(
    path: Path,
    sep: str | None = None,
    header: bool = True,
    names: list[str] | None = None,
    encoding: str = "utf-8",
    str_columns: tuple[str, ...] = (),
    encoding_key: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Read CSV/TSV (optionally .gz) or Parquet; return the frame, indexed by the file line each
    row starts on, and the file line of row 0. `encoding_key` names the config key that sets the
    encoding (None: fixed by the format).

    Blank lines are kept while parsing so row numbers map to file lines, then dropped; where a
    quoted field holds a line break, rows are mapped to lines by a CSV reader.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path), 1
        except Exception as e:  # pyarrow raises many types for a bad file
            raise DataError(path, f"not a readable Parquet file ({e})") from e
    text = _read_text(path, encoding, encoding_key)
    if not text.strip():
        raise DataError(path, "file is empty")
    if sep is None:
        stem = path.name.removesuffix(".gz")
        sep = "\t" if stem.endswith((".tsv", ".data", ".base", ".test")) else ","
    orig_sep = sep
    if len(sep) > 1:
        text = text.replace(sep, _SAFE_SEP)
        sep = _SAFE_SEP
    kwargs = {c: str for c in str_columns}
    quoting = csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE
    try:
        with warnings.catch_warnings():
            # Short rows are reported below with their line number; pandas' own warning would only
            # add noise to the one-line error.
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            df = pd.read_csv(
                io.StringIO(text),
                sep=sep,
                header=0 if header else None,
                names=names,
                skip_blank_lines=False,
                dtype=kwargs or None,
                index_col=False,
                engine="c",
                quoting=quoting,
            )
    except (pd.errors.ParserError, ValueError) as e:
        msg = " ".join(str(e).split())
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:  # the C parser counts records from 1, the header included: the record's first line
            line = int(_record_lines(text, sep, quoting)[int(m[2]) - 1])
            raise DataError(path, f"expected {m[1]} fields, saw {m[3]}: check the separator and quoting", line) from e
        raise DataError(path, f"malformed table ({msg}); check the separator and the column count") from e
    if names is None and not header:
        df.columns = [str(c) for c in df.columns]
    first_line = 2 if header else 1
    if quoting == csv.QUOTE_MINIMAL and '"' in text:  # a quoted field may span lines
        df.index = _record_lines(text, sep, quoting)[int(header):][: len(df)]
    else:
        df.index = np.arange(len(df)) + first_line
    df = df.dropna(how="all")
    if df.empty:
        raise DataError(path, "has no data rows")
    if names is not None:
        short = df[names[-1]].isna().to_numpy()
        if short.any():
            raise DataError(
                path,
                f"expected {len(names)} fields separated by {orig_sep!r}: wrong separator or truncated line?",
                _first_bad(short, df),
            )
    return df, first_line


def _record_lines(text: str, sep: str, quoting: int) -> np.ndarray:
    """The file line each CSV record starts on (records as the CSV parser sees them)."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, quoting=quoting)
    starts, end = [], 0
    for _ in reader:
        starts.append(end + 1)
        end = reader.line_num
    return np.asarray(starts, dtype=np.int64)


def _number(x: str) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True


def require_columns(df: pd.DataFrame, path: Path, cols: list[str], key: str, header_key: str | None = None) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        found = list(df.columns)
        hint = " (one column only: wrong separator?)" if len(found) == 1 else ""
        if header_key and all(_number(str(c)) for c in found):
            hint = (f" (the first row looks like data: set {header_key}=false, and name the columns by position, "
                    f"e.g. {key}.user=0)")
        raise DataError(
            path, f"missing column(s) {missing}; found {found}{hint}. Set {key} to the right names", 1
        )


def _first_bad(mask: np.ndarray, df: pd.DataFrame) -> int:
    return int(df.index[np.flatnonzero(mask)[0]])


def int_ids(df: pd.DataFrame, col: str, path: Path, allow_missing: bool = False, hint: str = "") -> np.ndarray:
    """Non-negative integer ids; a missing, non-numeric, fractional or negative id is an error
    (`hint`, such as the key that reads string ids, ends the message)."""
    s = df[col]
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna().to_numpy()
    if allow_missing:
        bad &= s.notna().to_numpy()
    if bad.any():
        line = _first_bad(bad, df)
        raise DataError(path, f"column {col!r}: {s.loc[line]!r} is not a numeric id{hint}", line)
    vals = num.to_numpy(dtype=np.float64)
    present = ~np.isnan(vals)
    frac = present & (np.floor(vals) != vals)
    if frac.any():
        line = _first_bad(frac, df)
        raise DataError(path, f"column {col!r}: id {s.loc[line]!r} is fractional", line)
    neg = present & (vals < 0)
    if neg.any():
        line = _first_bad(neg, df)
        raise DataError(path, f"column {col!r}: id {s.loc[line]!r} is negative", line)
    big = present & ~(vals < 2**53)  # infinite, or past the integers a float64 holds exactly
    if big.any():
        line = _first_bad(big, df)
        raise DataError(path, f"column {col!r}: id {s.loc[line]!r} is too large{hint}", line)
    if allow_missing:
        return np.where(present, vals, -1).astype(np.int64)
    return vals.astype(np.int64)


def str_ids(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    s = df[col]
    bad = (s.isna() | (s.astype(str).str.strip() == "")).to_numpy()
    if bad.any():
        raise DataError(path, f"column {col!r}: missing id", _first_bad(bad, df))
    return s.astype(str).str.strip().to_numpy(dtype=object)


def float_values(
    df: pd.DataFrame, col: str, path: Path, value_range: list[float] | None = None
) -> np.ndarray:
    s = df[col]
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(num)
    if bad.any():
        line = _first_bad(bad, df)
        raise DataError(path, f"column {col!r}: {s.loc[line]!r} is not a finite number", line)
    if value_range is not None:
        lo, hi = value_range
        out = (num < lo) | (num > hi)
        if out.any():
            line = _first_bad(out, df)
            raise DataError(
                path, f"column {col!r}: rating {s.loc[line]!r} is outside the range [{lo}, {hi}]", line
            )
    return num
