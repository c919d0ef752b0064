"""Idempotent Parquet output: one file per table per unit of work, named by the items it holds.

A unit of work (one video and its pending questions) writes ``<output>/<table>/part-<hash>.parquet``,
``<hash>`` being a digest of the sorted ``item_key`` values of its items (each item_key is itself a
hash of video, question and config). A retried or re-run unit therefore writes the same names and
replaces its files instead of adding duplicates. The tables that say an item is finished
(``failures``, then ``answers``) are written last, so ``--resume`` never skips an item whose spans
or windows are missing.
"""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from typing import Any

import fsspec

from videoqa.records import TABLES, TableRows, arrow_schema

__all__ = ["WRITE_ORDER", "read_table", "table_dir", "unit_file_name", "write_unit"]

WRITE_ORDER = ("spans", "windows", "failures", "answers")


def table_dir(output: str, table: str) -> str:
    return posixpath.join(output.rstrip("/"), table)


def unit_file_name(item_keys: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(item_keys)).encode()).hexdigest()[:24]
    return f"part-{digest}.parquet"


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def write_unit(
    output: str, rows: TableRows, *, storage_options: dict[str, Any] | None = None
) -> dict[str, str]:
    """Write the rows of one unit of work; returns {table: path} of the files written.

    Local files are written to a hidden temporary name and renamed (readers skip names starting
    with '.'); object stores make a finished upload visible atomically.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = sorted({r["item_key"] for r in rows.answers + rows.failures})
    if not keys:
        return {}
    name = unit_file_name(keys)
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    written = {}
    for table in WRITE_ORDER:
        data = getattr(rows, table)
        if not data:
            continue
        folder = table_dir(root, table)
        fs.makedirs(folder, exist_ok=True)
        path = posixpath.join(folder, name)
        arrow = pa.Table.from_pylist(data, schema=arrow_schema(table))
        target = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp") if _is_local(fs) else path
        with fs.open(target, "wb") as f:
            pq.write_table(arrow, f, compression="zstd")
        if target != path:
            fs.mv(target, path)
        written[table] = path
    return written


def read_table(
    output: str,
    table: str,
    *,
    storage_options: dict[str, Any] | None = None,
    columns: list[str] | None = None,
) -> Any:
    """One output table as a ``pyarrow.Table`` (empty, with the published schema, when absent).

    Equivalent readers: ``pandas.read_parquet(f"{output}/answers")``, DuckDB
    ``SELECT * FROM 'out/answers/*.parquet'``, ``polars.read_parquet("out/answers/*.parquet")``.
    """
    import pyarrow.dataset as pads

    if table not in TABLES:
        raise ValueError(f"Invalid table {table!r}. Supported values are {sorted(TABLES)}")
    schema = arrow_schema(table)
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    folder = table_dir(root, table)
    paths = sorted(p for p in fs.glob(posixpath.join(folder, "part-*.parquet")))
    if not paths:
        empty = schema.empty_table()
        return empty.select(columns) if columns else empty
    dataset = pads.dataset(paths, filesystem=fs, format="parquet", schema=schema)
    return dataset.to_table(columns=columns)
