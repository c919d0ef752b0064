"""``videoqa compact OUTPUT``: merge the per-video part files into large files, one row per item key.

A compaction of generation ``G`` (one more than the newest committed one) reads every live file of
each table, keeps one row per item key (the reader's rule: the last file wins, an answer beats a
failure; spans and windows only of answered items), writes ``<table>/compact-<G>-<n>.parquet`` of
about ``target_bytes`` each, then commits by writing ``_compaction/gen-<G>.json`` (one atomic write),
which lists the files it replaced. Only then are those files deleted, and the record's list cleared.

Killed at any point, the output stays readable and complete: before the commit, readers ignore the
new files (their generation is not committed) and see the old ones; after it, readers ignore the
replaced files even before they are deleted. The next ``videoqa compact`` (or ``videoqa run``)
finishes the deletion; ``videoqa compact`` also removes files of an uncommitted generation.
Compaction is idempotent: an output with nothing but files of one generation is left alone. Run it
when no job writes to the output (``videoqa run --compact`` runs it after the job).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec

from videoqa.batch._writer import (
    DETAIL_TABLES,
    DONE_TABLES,
    MARKERS,
    _is_local,
    _scan,
    compact_generation,
    live_files,
    read_markers,
    table_dir,
    winners,
)

__all__ = ["DEFAULT_TARGET_BYTES", "Compaction", "add_arguments", "compact", "finish_compaction", "run"]

DEFAULT_TARGET_BYTES = 128 * 2**20
_TABLES = DONE_TABLES + DETAIL_TABLES


@dataclass
class Compaction:
    """What one ``compact`` call did (``generation`` None: nothing to do)."""

    generation: int | None
    files_before: dict[str, int] = field(default_factory=dict)
    files_after: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.generation is None:
            return "videoqa compact: nothing to do (already compacted)"
        parts = ", ".join(
            f"{t} {self.files_before[t]} -> {self.files_after[t]} files ({self.rows[t]} rows)"
            for t in _TABLES
        )
        return f"videoqa compact: generation {self.generation}: {parts}"


def _marker_path(root: str, generation: int) -> str:
    return posixpath.join(root.rstrip("/"), MARKERS, f"gen-{generation:08d}.json")


def _write_marker(fs: Any, root: str, marker: dict[str, Any]) -> None:
    path = _marker_path(root, marker["generation"])
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    data = json.dumps(marker, sort_keys=True).encode()
    tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.tmp")
    if _is_local(fs):
        with fs.open(tmp, "wb") as f:
            f.write(data)
        fs.mv(tmp, path)
    else:
        with fs.open(path, "wb") as f:
            f.write(data)


def finish_compaction(
    output: str, *, storage_options: dict[str, Any] | None = None, remove_uncommitted: bool = False
) -> None:
    """Delete the files committed compactions replaced (idempotent); optionally orphaned new files."""
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    markers = read_markers(fs, root)
    if remove_uncommitted:
        committed = {m["generation"] for m in markers}
        for table in _TABLES:
            for path in fs.glob(posixpath.join(table_dir(root, table), "compact-*.parquet")):
                if compact_generation(path) not in committed:
                    fs.rm(path)
    for marker in markers:
        if not marker.get("replaced"):
            continue
        for table, names in marker["replaced"].items():
            for name in names:
                path = posixpath.join(table_dir(root, table), name)
                if fs.exists(path):
                    fs.rm(path)
        _write_marker(fs, root, {**marker, "replaced": {}})


def _unchanged(files: dict[str, list[str]]) -> bool:
    names = [posixpath.basename(p) for paths in files.values() for p in paths]
    generations = {compact_generation(n) for n in names if n.startswith("compact-")}
    return all(n.startswith("compact-") for n in names) and len(generations) <= 1


def compact(
    output: str,
    *,
    target_bytes: int = DEFAULT_TARGET_BYTES,
    storage_options: dict[str, Any] | None = None,
    after_file: Callable[[str], None] | None = None,
) -> Compaction:
    """Compact ``output`` (see the module docstring); ``after_file(path)`` runs after each file write."""
    if target_bytes < 1:
        raise ValueError(f"Invalid target_bytes {target_bytes!r}: must be a positive number of bytes.")
    finish_compaction(output, storage_options=storage_options, remove_uncommitted=True)
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    markers = read_markers(fs, root)
    files = {t: live_files(fs, root, t, markers=markers) for t in _TABLES}
    if not markers and not any(files.values()):
        raise FileNotFoundError(
            f"No videoqa output under {output!r} (no answers/failures/spans/windows files)."
        )
    if _unchanged(files):
        return Compaction(None)
    generation = max((m["generation"] for m in markers), default=0) + 1
    result = Compaction(generation, files_before={t: len(p) for t, p in files.items()})
    answered = None
    for table in _TABLES:
        arrow = _resolved(fs, files[table], table, answered)
        if table == "answers":
            answered = arrow.column("item_key").combine_chunks()
        written = _write_chunks(fs, root, table, generation, arrow, target_bytes, after_file)
        result.rows[table], result.files_after[table] = arrow.num_rows, len(written)
    replaced = {t: [posixpath.basename(p) for p in paths] for t, paths in files.items()}
    _write_marker(fs, root, {"generation": generation, "replaced": replaced})  # the commit
    if after_file is not None:
        after_file(_marker_path(root, generation))
    finish_compaction(output, storage_options=storage_options)
    return result


def _resolved(fs: Any, paths: list[str], table: str, answered: Any) -> Any:
    """One row per item key (spans/windows: the rows of one file) of answered items, sorted."""
    import pyarrow.compute as pc

    arrow, _ = _scan(fs, paths, table, None)
    arrow = winners(arrow).drop_columns(["_file"])
    if table != "answers":
        in_answers = pc.is_in(arrow.column("item_key"), value_set=answered)
        arrow = arrow.filter(pc.invert(in_answers) if table == "failures" else in_answers)
    order = [
        c
        for c in ("video", "item_key", "span_index", "step_index", "window_index")
        if c in arrow.column_names
    ]
    return arrow.sort_by([(c, "ascending") for c in order])


def _write_chunks(
    fs: Any,
    root: str,
    table: str,
    generation: int,
    arrow: Any,
    target_bytes: int,
    after_file: Callable[[str], None] | None,
) -> list[str]:
    """Write ``arrow`` as files of about ``target_bytes`` (row groups of about a tenth of that)."""
    import pyarrow.parquet as pq

    folder = table_dir(root, table)
    fs.makedirs(folder, exist_ok=True)
    row_bytes = max(1, arrow.nbytes // max(1, arrow.num_rows))
    group_rows = max(1, min(1 << 16, target_bytes // 10 // row_bytes))
    written, offset = [], 0
    while offset < arrow.num_rows:
        path = posixpath.join(folder, f"compact-{generation:08d}-{len(written):05d}.parquet")
        with fs.open(path, "wb") as f, pq.ParquetWriter(f, arrow.schema, compression="zstd") as writer:
            while True:  # at least one row group per file
                writer.write_table(arrow.slice(offset, group_rows))
                offset += group_rows
                if offset >= arrow.num_rows or f.tell() >= target_bytes:
                    break
        written.append(path)
        if after_file is not None:
            after_file(path)
    return written


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "output", help="Output folder or URL of a videoqa run (holding answers/, failures/ ...)."
    )
    parser.add_argument(
        "--target-mb",
        type=float,
        default=DEFAULT_TARGET_BYTES / 2**20,
        help="Size of a compacted file (default: 128).",
    )
    parser.add_argument("--storage-options", type=json.loads, default=None, help="fsspec options as JSON.")


def run(args: Any) -> int:
    try:
        result = compact(
            args.output, target_bytes=int(args.target_mb * 2**20), storage_options=args.storage_options
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"videoqa compact: {exc}")
        return 2
    print(result)
    return 0
