"""Idempotent Parquet output: one file per table per unit of work, named by the items it holds.

A unit of work (one video and its pending questions) writes ``<output>/<table>/part-<hash>.parquet``,
``<hash>`` being a digest of the sorted ``item_key`` values of its items (each item_key is itself a
hash of video, question and config). A retried or re-run unit therefore writes the same names and
replaces its files instead of adding duplicates. The tables that say an item is finished
(``failures``, then ``answers``) are written last, so ``--resume`` never skips an item whose spans
or windows are missing.

``--retry-failed`` re-runs items that have a failures row; the unit that re-runs them is told which
earlier failure files hold their rows (``superseded``: {file name: item keys}) and removes those rows:
before writing its own failures (an item failing again never has two failure rows; a crash in
between leaves it with no row, so it is simply re-run) and after writing its answers (a crash in
between leaves an answers row and a stale failures row: answers are authoritative, :func:`read_table`
hides the stale row and the next run's planning removes it). Other rows of a rewritten file stay.
"""

from __future__ import annotations

import hashlib
import posixpath
import uuid
from typing import Any

import fsspec

from videoqa.records import TABLES, TableRows, arrow_schema

__all__ = [
    "WRITE_ORDER",
    "drop_failure_rows",
    "failure_files",
    "read_table",
    "table_dir",
    "unit_file_name",
    "write_unit",
]

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
    output: str,
    rows: TableRows,
    *,
    superseded: dict[str, list[str]] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Write the rows of one unit of work; returns {table: path} of the files written.

    ``superseded`` maps earlier failures files (by name) to the item keys of this unit they hold
    rows for; those rows are removed (see the module docstring for the order). Local files are
    written to a hidden temporary name and renamed (readers skip names starting with '.'); object
    stores make a finished upload visible atomically.
    """
    import pyarrow as pa

    keys = sorted({r["item_key"] for r in rows.answers + rows.failures})
    if not keys:
        return {}
    name = unit_file_name(keys)
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    failed = {r["item_key"] for r in rows.failures}
    answered = {r["item_key"] for r in rows.answers}
    written = {}
    for table in WRITE_ORDER:
        if table == "failures" and superseded:
            _drop_rows(fs, root, _restrict(superseded, failed))
        data = getattr(rows, table)
        if not data:
            continue
        folder = table_dir(root, table)
        fs.makedirs(folder, exist_ok=True)
        path = posixpath.join(folder, name)
        _write_atomic(fs, path, pa.Table.from_pylist(data, schema=arrow_schema(table)))
        written[table] = path
    if superseded:
        _drop_rows(fs, root, _restrict(superseded, answered))
    return written


def _restrict(superseded: dict[str, list[str]], keys: set[str]) -> dict[str, set[str]]:
    return {name: set(ks) & keys for name, ks in superseded.items() if set(ks) & keys}


def _write_atomic(fs: Any, path: str, arrow: Any) -> None:
    import pyarrow.parquet as pq

    folder, name = posixpath.split(path)
    target = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp") if _is_local(fs) else path
    with fs.open(target, "wb") as f:
        pq.write_table(arrow, f, compression="zstd")
    if target != path:
        fs.mv(target, path)


def _drop_rows(fs: Any, root: str, drop: dict[str, set[str]]) -> None:
    """Remove the rows of ``drop`` ({failures file name: item keys}); a file left empty is deleted.

    Idempotent: a file already rewritten or removed (a re-run after a crash) is left as it is.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = table_dir(root, "failures")
    for name, keys in sorted(drop.items()):
        path = posixpath.join(folder, name)
        try:
            with fs.open(path, "rb") as f:
                table = pq.read_table(f, schema=arrow_schema("failures"))
        except FileNotFoundError:
            continue
        kept = table.filter(pc.invert(pc.is_in(table.column("item_key"), value_set=_string_array(keys))))
        if kept.num_rows == table.num_rows:
            continue
        if kept.num_rows:
            _write_atomic(fs, path, kept)
        else:
            fs.rm(path)


def _string_array(values: set[str]) -> Any:
    import pyarrow as pa

    return pa.array(sorted(values), type=pa.string())


def drop_failure_rows(
    output: str, drop: dict[str, set[str]], *, storage_options: dict[str, Any] | None = None
) -> None:
    """Remove stale failures rows: ``drop`` maps failures file names to the item keys to remove."""
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    _drop_rows(fs, root, drop)


def failure_files(output: str, *, storage_options: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """{failures file name: item keys of its rows} of every failures file under ``output``."""
    import pyarrow.parquet as pq

    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    found = {}
    for path in sorted(fs.glob(posixpath.join(table_dir(root, "failures"), "part-*.parquet"))):
        with fs.open(path, "rb") as f:
            column = pq.read_table(f, columns=["item_key"]).column("item_key")
        found[posixpath.basename(path)] = column.to_pylist()
    return found


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
    Answers are authoritative: ``failures`` leaves out rows of items that also have an answers row
    (a stale row a crash left behind while a retried item was being written; the next run of the
    job removes it from the files, which plain readers see until then).
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
    if table != "failures":
        return dataset.to_table(columns=columns)
    answered = read_table(output, "answers", storage_options=storage_options, columns=["item_key"])
    stale = pads.field("item_key").isin(answered.column("item_key").combine_chunks())
    return dataset.to_table(columns=columns, filter=~stale)
