"""Read records from JSONL, CSV/TSV or Parquet, the format chosen by the file ending.

Readers never raise on a bad line: they yield a :class:`RecordError` in its place, so the
importer can either fail the whole file (the default) or reject just that line
(``--skip-invalid``). Line numbers are 1-based lines of the file (for Parquet: row numbers).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.errors import ConfigError, DataFormatError
from flywheel.store.records import RecordError, TextCells

_NOT_UTF8 = RecordError("not UTF-8 text", "re-encode the file as UTF-8 (iconv -f latin1 -t utf-8)")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One line of an input file: parsed fields, or the error that stopped parsing it."""

    line: int
    fields: dict[str, Any] | None
    error: RecordError | None
    raw: Any  # what the rejects file shows: the line's text or the row's cells


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            try:
                line = data.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield RawRecord(number, None, _NOT_UTF8, data.decode("utf-8", "replace").rstrip())
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                error = RecordError(
                    f"not valid JSON ({exc.msg} at column {exc.colno})",
                    "write one JSON object per line",
                )
                yield RawRecord(number, None, error, line)
                continue
            except RecursionError:
                error = RecordError("JSON nested too deep to read", "flatten the record")
                yield RawRecord(number, None, error, line[:1000])
                continue
            except ValueError as exc:  # e.g. an integer over Python's 4300-digit limit
                error = RecordError(f"unreadable JSON value ({exc})", "write numbers that fit")
                yield RawRecord(number, None, error, line[:1000])
                continue
            if not isinstance(obj, dict):
                error = RecordError(
                    f"a JSON {type(obj).__name__}, not an object", "write one {...} object per line"
                )
                yield RawRecord(number, None, error, line)
                continue
            yield RawRecord(number, obj, None, line)


def _read_delimited(path: Path, delimiter: str) -> Iterator[RawRecord]:
    # surrogateescape keeps undecodable bytes visible as lone surrogates, so a bad byte
    # fails its own row (with its line number) instead of the whole file.
    text = path.read_bytes().decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if reader.fieldnames is None:
        return
    seen: set[str] = set()
    for name in reader.fieldnames:
        if name in seen:  # DictReader would keep the last cell and drop the first silently
            raise DataFormatError(
                path, 1, f"column '{name}' appears twice in the header", "rename or drop one"
            )
        seen.add(name)
    start = 2
    for row in reader:
        number, start = start, reader.line_num + 1
        if None in row:
            error = RecordError(
                f"{len(row[None]) + len(reader.fieldnames)} cells for "
                f"{len(reader.fieldnames)} columns",
                "quote cells that contain the delimiter",
            )
            yield RawRecord(number, None, error, row)
            continue
        cells = TextCells((key, value) for key, value in row.items() if key is not None)
        if any(any("\udc80" <= ch <= "\udcff" for ch in str(v)) for v in cells.values()):
            raw = {
                k: str(v).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                for k, v in cells.items()
            }
            yield RawRecord(number, None, _NOT_UTF8, raw)
            continue
        yield RawRecord(number, cells, None, cells)


def _pandas_index_columns(table: Any) -> list[str]:
    """The columns pandas stored its index in (``__index_level_0__``): not the user's data.

    ``DataFrame.to_parquet`` writes a non-range index as a column and names it in the file's
    pandas metadata; those columns are dropped, as every other unknown field is ignored.
    """
    metadata = table.schema.pandas_metadata or {}
    return [
        name
        for name in metadata.get("index_columns", [])
        if isinstance(name, str) and name in table.column_names
    ]


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq  # pyarrow is a dependency; loaded only for Parquet files

    try:
        table = pq.read_table(path)
        rows = table.drop_columns(_pandas_index_columns(table)).to_pylist()
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataFormatError(
            path,
            None,
            f"not a readable Parquet file ({exc})",
            "write it with pandas.DataFrame.to_parquet or pyarrow",
        ) from None
    for number, row in enumerate(rows, start=1):
        yield RawRecord(number, row, None, row)


READERS: dict[str, Callable[[Path], Iterator[RawRecord]]] = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".csv": lambda path: _read_delimited(path, ","),
    ".tsv": lambda path: _read_delimited(path, "\t"),
    ".parquet": _read_parquet,
}


def read_records(path: str | Path) -> Iterator[RawRecord]:
    """Records of ``path``; the reader is picked by the file ending."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ConfigError(
            f"cannot read '{path}': unknown file ending '{path.suffix}'; "
            f"use one of: {', '.join(sorted(READERS))}"
        )
    if not path.is_file():
        raise DataFormatError(path, None, "file not found", "check the path")
    return reader(path)
