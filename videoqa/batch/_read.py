"""``read_tables``: the one public reader of a job's output, used by the report, the evaluation and resume."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from videoqa.batch._writer import read_table
from videoqa.records import TABLES

__all__ = ["read_tables"]


def read_tables(
    output: str,
    *,
    tables: Iterable[str] = tuple(TABLES),
    columns: dict[str, list[str]] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``{table: pyarrow.Table}`` of a job's ``output`` folder or bucket prefix, published schemas.

    ``tables``: which of answers, spans, windows, failures; ``columns``: per table, the columns to read
    (all by default). A missing table reads as an empty table. Answers are authoritative: a failures
    row of an item that also has an answers row (left behind by a crash while a retried item was being
    written, removed by the next run) is left out, so no item counts as both answered and failed.
    """
    wanted = list(tables)
    unknown = sorted(set(wanted) - set(TABLES))
    if unknown:
        raise ValueError(f"Invalid tables {unknown}. Supported values are {sorted(TABLES)}")
    columns = columns or {}
    return {
        name: read_table(output, name, storage_options=storage_options, columns=columns.get(name))
        for name in wanted
    }
