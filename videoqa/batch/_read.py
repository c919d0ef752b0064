"""``read_tables``: the one public reader of a job's output, used by the report and the evaluation.

It reads the files the writer says are live (part files and committed compacted files, see
:func:`~videoqa.batch._writer.live_files`), resolves an item found in several files as the writer
does (the last file wins, :func:`~videoqa.batch._writer.winners`), and applies the stale-failure rule:
a failures row of an item that also has an answers row is left out, so no item counts as both
answered and failed. Files written by an older videoqa (a column missing) read with nulls there;
files that are not ours raise :class:`ForeignFileError`, or are skipped and listed when the caller
passes ``skipped``. A damaged file (truncated, 0 bytes: :class:`DamagedFileError`) never blocks the
rest: it is skipped with a warning naming it (and the video it held, when another table's file of
the same name tells), and listed in ``skipped``; its items count as not done. Resume scans item
keys with the writer's ``scan_keys`` under the same live-file rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from videoqa._remote import path_kind
from videoqa.records import TABLES, arrow_schema

__all__ = ["DamagedFileError", "ForeignFileError", "read_tables"]

logger = logging.getLogger(__name__)


class ForeignFileError(ValueError):
    """A file among a job's tables that the job did not write."""

    def __init__(self, path: str, problem: str):
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class DamagedFileError(ForeignFileError):
    """A data file that is not readable Parquet (truncated, 0 bytes): always skipped, never raised."""


def _read_file(fs: Any, path: str, table: str, names: list[str]) -> Any:
    """Columns ``names`` of one Parquet file of ``table``, typed as published (nullable)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(table)
    try:
        with fs.open(path, "rb") as handle:
            data = pq.read_table(handle)
    except pa.ArrowInvalid as error:
        raise DamagedFileError(path, f"not a readable Parquet file ({error})") from None
    except (pa.ArrowException, OSError) as error:
        raise ForeignFileError(path, f"not a readable Parquet file ({error})") from None
    if "item_key" not in data.column_names:
        raise ForeignFileError(path, f"not a videoqa {table} table (it has no item_key column)")
    for name in names:  # a column added by a later version reads as null
        if name not in data.column_names:
            data = data.append_column(name, pa.nulls(len(data), schema.field(name).type))
    target = pa.schema([schema.field(n).with_nullable(True) for n in names])
    try:
        return data.select(names).cast(target)
    except (pa.ArrowException, ValueError) as error:
        raise ForeignFileError(path, f"columns of the wrong type for the {table} table ({error})") from None


def _read_one(
    fs: Any, root: str, table: str, names: list[str], markers: list, skipped: list[ForeignFileError] | None
) -> Any:
    import pyarrow as pa

    from videoqa.batch._writer import damaged_note, live_files, winners

    scan = names if "item_key" in names else [*names, "item_key"]
    parts = []
    for index, path in enumerate(live_files(fs, root, table, markers=markers)):
        try:
            data = _read_file(fs, path, table, scan)
        except DamagedFileError as error:  # the rest stays readable; its items count as not done
            logger.warning("%s", damaged_note(fs, root, path, error.problem))
            if skipped is not None:
                skipped.append(error)
            continue
        except ForeignFileError as error:
            if skipped is None:
                raise
            skipped.append(error)
            continue
        parts.append(data.append_column("_file", pa.array([index] * data.num_rows, pa.int32())))
    if not parts:
        schema = arrow_schema(table)
        return pa.schema([schema.field(n).with_nullable(True) for n in scan]).empty_table()
    return winners(pa.concat_tables(parts)).select(scan)


def read_tables(
    output: str,
    *,
    tables: Iterable[str] = tuple(TABLES),
    columns: dict[str, list[str]] | None = None,
    storage_options: dict[str, Any] | None = None,
    skipped: list[ForeignFileError] | None = None,
) -> dict[str, Any]:
    """``{table: pyarrow.Table}`` of a job's ``output`` folder or bucket prefix (see the module doc).

    ``tables``: which of answers, spans, windows, failures; ``columns``: per table, the columns to
    read (all by default). A missing table reads as an empty table. ``skipped``: a list that receives
    the files that are not tables of a job (skipped) instead of raising.
    """
    import fsspec

    from videoqa.batch._writer import read_markers, without_stale_failures

    wanted = list(tables)
    unknown = sorted(set(wanted) - set(TABLES))
    if unknown:
        raise ValueError(f"Invalid tables {unknown}. Supported values are {sorted(TABLES)}")
    columns = columns or {}
    fs, root = fsspec.core.url_to_fs(str(output), **(storage_options or {}))
    root = root.rstrip("/")
    markers = read_markers(fs, root) if path_kind(fs, root, name=str(output)) == "directory" else []
    out = {}
    for name in wanted:
        names = columns.get(name) or arrow_schema(name).names
        data = _read_one(fs, root, name, names, markers, skipped)  # names + item_key
        if name == "failures" and data.num_rows:
            answered = _read_one(fs, root, "answers", ["item_key"], markers, [])
            data = without_stale_failures(data, answered.column("item_key"))
        out[name] = data.select(names)
    return out
