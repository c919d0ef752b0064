"""``--resume``: find the items an earlier run of the same output already finished."""

from __future__ import annotations

from typing import Any

from videoqa.batch._writer import read_table

__all__ = ["finished_item_keys"]


def finished_item_keys(output: str, *, storage_options: dict[str, Any] | None = None) -> set[str]:
    """``item_key`` of every item with an answers row or a failures row under ``output``.

    The item key hashes (video, question, config), so items of another config or an edited question
    are not in the set and run again. Spans and windows are written before answers and failures,
    so an item in this set has all its rows.
    """
    keys: set[str] = set()
    for table in ("answers", "failures"):
        column = read_table(output, table, storage_options=storage_options, columns=["item_key"])
        keys.update(column.column("item_key").to_pylist())
    return keys
