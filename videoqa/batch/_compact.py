"""``videoqa compact OUTPUT``: merge the per-video part files into large files, one row per item key.

A compaction of generation ``G`` (one more than the newest committed one) holds the lock
``_compaction/lock.json``, reads every live file of each table, keeps one row per item key (the
reader's rule: the last file wins, an answer beats a failure; spans and windows only of answered
items), writes ``compact-<G>-<n>.parquet`` files of about ``target_bytes`` each into the staging
folder ``_compaction/staging-<G>/<table>/`` (outside the table folders, and a folder starting with
``_`` that pyarrow, pandas, DuckDB and polars skip), then commits by writing
``_compaction/gen-<G>.json`` (one atomic write), which lists the files it added and replaced. Only
then are the new files moved into the table folders and the replaced ones deleted, and the
record's lists cleared.

Killed at any point before the commit, plain readers and :func:`~videoqa.batch.read_tables` see the
old files only; after it, ``read_tables`` sees the new files (staged or moved) and ignores the
replaced ones even before they are deleted. Plain readers see the old files until the move, which
takes the few milliseconds of renames and deletes after the commit. The next ``videoqa compact``
or ``videoqa run`` finishes a committed compaction and removes an uncommitted one's files. A
failed write (a full disk, a file size limit) removes the generation's files and raises
:class:`CompactionError`: the output is left as it was. Compaction is idempotent: an output with
nothing but files of one generation is left alone. Run it when no job writes to the output
(``videoqa run --compact`` runs it after the job).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec

from videoqa._remote import path_kind
from videoqa.batch._writer import (
    DETAIL_TABLES,
    DONE_TABLES,
    MARKERS,
    _is_local,
    _scan,
    compact_generation,
    live_files,
    logger,
    read_markers,
    scan_tolerant,
    staging_dir,
    table_dir,
    winners,
    without_stale_failures,
)

__all__ = [
    "DEFAULT_TARGET_BYTES",
    "Compaction",
    "CompactionError",
    "add_arguments",
    "compact",
    "finish_compaction",
    "run",
]

DEFAULT_TARGET_BYTES = 128 * 2**20
_TABLES = DONE_TABLES + DETAIL_TABLES
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class CompactionError(RuntimeError):
    """A compaction that could not run or finish; the message says what happened and what to do."""


@dataclass
class Compaction:
    """What one ``compact`` call did (``generation`` None: nothing to do)."""

    generation: int | None
    files_before: dict[str, int] = field(default_factory=dict)
    files_after: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    damaged: dict[str, str] = field(default_factory=dict)
    """{path: problem} of unreadable files left out (their items count as not done) and left in place."""

    def __str__(self) -> str:
        notes = "".join(
            f"\nvideoqa compact: skipped damaged file {path} ({problem}); its items are not done "
            "(videoqa run --resume runs them again); delete it once they have run"
            for path, problem in sorted(self.damaged.items())
        )
        if self.generation is None:
            return "videoqa compact: nothing to do (already compacted)" + notes
        parts = ", ".join(
            f"{t} {self.files_before[t]} -> {self.files_after[t]} files ({self.rows[t]} rows)"
            for t in _TABLES
        )
        return f"videoqa compact: generation {self.generation}: {parts}" + notes


def _marker_path(root: str, generation: int) -> str:
    return posixpath.join(root.rstrip("/"), MARKERS, f"gen-{generation:08d}.json")


def _write_small(fs: Any, path: str, data: bytes) -> None:
    """Write a small file atomically (local: temporary name and rename)."""
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    if _is_local(fs):
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.tmp")
        with fs.open(tmp, "wb") as f:
            f.write(data)
        fs.mv(tmp, path)
    else:
        with fs.open(path, "wb") as f:
            f.write(data)


def _write_marker(fs: Any, root: str, marker: dict[str, Any]) -> None:
    _write_small(fs, _marker_path(root, marker["generation"]), json.dumps(marker, sort_keys=True).encode())


def _lock_path(root: str) -> str:
    return posixpath.join(root.rstrip("/"), MARKERS, "lock.json")


def _holder(fs: Any, root: str) -> dict[str, Any] | None:
    """The lock record of a compaction that still runs, or None (no lock, or its process is gone)."""
    try:
        with fs.open(_lock_path(root), "rb") as f:
            holder = json.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": "?", "host": "?", "started": "?"}  # being written: treat as held
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return None  # its process died (killed): a stale lock
        except (PermissionError, ValueError, TypeError):
            pass
    return holder


@contextlib.contextmanager
def _locked(fs: Any, root: str, output: str) -> Iterator[None]:
    """Hold the compaction lock of ``output``; another live compaction is a CompactionError."""
    path = _lock_path(root)
    holder = _holder(fs, root)
    if holder is not None:
        raise CompactionError(
            f"another videoqa compact (process {holder.get('pid')} on {holder.get('host')}, started "
            f"{holder.get('started')}) is compacting {output}; nothing was changed. Wait for it to end. "
            f"If no compaction runs any more (it was killed on another machine), delete {path} and "
            "run videoqa compact again."
        )
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    data = json.dumps(record).encode()
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    if _is_local(fs):
        with contextlib.suppress(FileNotFoundError):
            fs.rm(path)  # a stale lock (its process is gone)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise CompactionError(
                f"another videoqa compact started on {output} at the same moment; nothing was changed."
            ) from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    else:  # object stores: no exclusive create here; two compactions started together are not told apart
        _write_small(fs, path, data)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            fs.rm(path)


def finish_compaction(
    output: str, *, storage_options: dict[str, Any] | None = None, remove_uncommitted: bool = True
) -> None:
    """Finish committed compactions (move in their files, delete what they replaced) and remove the
    files of uncommitted ones; idempotent. ``videoqa run`` and ``videoqa compact`` call it first.

    While another compaction holds the lock, its files are left alone.
    """
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    if not _present(fs, posixpath.join(root.rstrip("/"), MARKERS)):
        return
    if _holder(fs, root) is not None:
        logger.warning("a videoqa compact is running on %s: its files are left alone", output)
        return
    _finish(fs, root, remove_uncommitted=remove_uncommitted)
    with contextlib.suppress(FileNotFoundError):
        fs.rm(_lock_path(root))  # the lock of a killed compaction


def _present(fs: Any, path: str) -> bool:
    """Whether ``path`` exists; an unreachable store raises (retried) instead of reading as missing,
    which would mark a half-finished compaction finished and leave replaced files beside their rows."""
    return path_kind(fs, path, name=path) != "missing"


def _finish(fs: Any, root: str, *, remove_uncommitted: bool) -> None:
    markers = read_markers(fs, root)
    committed = {m["generation"] for m in markers}
    if remove_uncommitted:
        for folder in fs.glob(posixpath.join(root.rstrip("/"), MARKERS, "staging-*")):
            if int(posixpath.basename(folder).split("-")[1]) not in committed:
                fs.rm(folder, recursive=True)
        for table in _TABLES:  # files of an older videoqa, which wrote compactions in place
            for path in fs.glob(posixpath.join(table_dir(root, table), "compact-*.parquet")):
                if compact_generation(path) not in committed:
                    fs.rm(path)
    for marker in markers:
        if not marker.get("replaced") and not marker.get("added"):
            continue
        staging = staging_dir(root, marker["generation"])
        for table, names in marker.get("added", {}).items():  # in first: no instant without the rows
            for name in names:
                source = posixpath.join(staging, table, name)
                if _present(fs, source):
                    fs.makedirs(table_dir(root, table), exist_ok=True)
                    fs.mv(source, posixpath.join(table_dir(root, table), name))
        for table, names in marker.get("replaced", {}).items():
            for name in names:
                path = posixpath.join(table_dir(root, table), name)
                if _present(fs, path):
                    fs.rm(path)
        _write_marker(fs, root, {**marker, "replaced": {}, "added": {}})
        if _present(fs, staging):
            fs.rm(staging, recursive=True)


def _unchanged(files: dict[str, list[str]]) -> bool:
    names = [posixpath.basename(p) for paths in files.values() for p in paths]
    generations = {compact_generation(n) for n in names if n.startswith("compact-")}
    return all(n.startswith("compact-") for n in names) and len(generations) <= 1


def _checked(fs: Any, paths: list[str], table: str, damaged: dict[str, str]) -> list[str]:
    """``paths`` without damaged files (added to ``damaged``); a file that is not ours is an error.

    One multi-threaded scan of the ``item_key`` column (files are opened one by one only when one is
    damaged); a file without that column reads as nulls there, which names it.
    """
    import pyarrow.compute as pc

    arrow, good = scan_tolerant(fs, paths, table, ["item_key"], damaged=damaged)
    foreign = arrow.filter(pc.is_null(arrow.column("item_key")))
    if foreign.num_rows:
        path = good[foreign.column("_file")[0].as_py()]
        raise CompactionError(
            f"{path} is not a videoqa {table} table (it has no item_key column); nothing was "
            "changed. Move it out of the output folder and run videoqa compact again."
        )
    return good


def compact(
    output: str,
    *,
    target_bytes: int = DEFAULT_TARGET_BYTES,
    storage_options: dict[str, Any] | None = None,
    after_file: Callable[[str], None] | None = None,
) -> Compaction:
    """Compact ``output`` (see the module docstring); ``after_file(path)`` runs after each file write.

    Raises :class:`CompactionError` (output unchanged) when another compaction runs, a file is not
    ours, a write fails (a full disk) or a file vanishes meanwhile.
    """
    if target_bytes < 1:
        raise ValueError(f"Invalid target_bytes {target_bytes!r}: must be a positive number of bytes.")
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    marks = posixpath.join(root.rstrip("/"), MARKERS)
    if not any(_present(fs, p) for p in [*(table_dir(root, t) for t in _TABLES), marks]):
        raise FileNotFoundError(
            f"No videoqa output under {output!r} (no answers/failures/spans/windows files)."
        )
    with _locked(fs, root, output):
        _finish(fs, root, remove_uncommitted=True)
        markers = read_markers(fs, root)
        damaged: dict[str, str] = {}
        files = {t: _checked(fs, live_files(fs, root, t, markers=markers), t, damaged) for t in _TABLES}
        if _unchanged(files):
            return Compaction(None, damaged=damaged)
        generation = max((m["generation"] for m in markers), default=0) + 1
        result = Compaction(generation, files_before={t: len(p) for t, p in files.items()}, damaged=damaged)
        staging = staging_dir(root, generation)
        try:
            added = _write_generation(fs, files, staging, generation, target_bytes, result, after_file)
            replaced = {t: [posixpath.basename(p) for p in paths] for t, paths in files.items()}
            _write_marker(fs, root, {"generation": generation, "replaced": replaced, "added": added})
        except BaseException as error:
            with contextlib.suppress(OSError):
                fs.rm(staging, recursive=True)
            explained = _explained(error, output)
            if explained is error:
                raise
            raise explained from error
        if after_file is not None:
            after_file(_marker_path(root, generation))
        _finish(fs, root, remove_uncommitted=False)
    return result


def _write_generation(
    fs: Any,
    files: dict[str, list[str]],
    staging: str,
    generation: int,
    target_bytes: int,
    result: Compaction,
    after_file: Callable[[str], None] | None,
) -> dict[str, list[str]]:
    """Write every table's compacted files into ``staging``; returns {table: file names}."""
    answered, added = None, {}
    for table in _TABLES:
        arrow = _resolved(fs, files[table], table, answered)
        if table == "answers":
            answered = arrow.column("item_key").combine_chunks()
        folder = posixpath.join(staging, table)
        written = _write_chunks(fs, folder, generation, arrow, target_bytes, after_file)
        result.rows[table], result.files_after[table] = arrow.num_rows, len(written)
        added[table] = [posixpath.basename(p) for p in written]
    return added


def _explained(error: BaseException, output: str) -> BaseException:
    """A CompactionError saying what happened for a failed write or a vanished file."""
    unchanged = f"the compaction was abandoned and its files removed: {output} is as it was"
    if isinstance(error, FileNotFoundError):
        return CompactionError(
            f"a file vanished while compacting ({error.filename or error}); another process changed "
            f"{output} (a videoqa run writing to it?); {unchanged}. Run videoqa compact again when no "
            "job writes to the output."
        )
    if isinstance(error, OSError) and error.errno in _FULL:
        return CompactionError(
            f"no space left for the compacted copy ({error.strerror}: {error.filename or '?'}); "
            f"{unchanged}. A compaction needs free space about the size of the tables: free some, "
            "then run videoqa compact again."
        )
    if isinstance(error, OSError):
        return CompactionError(f"could not write the compacted files ({error}); {unchanged}.")
    return error


def _resolved(fs: Any, paths: list[str], table: str, answered: Any) -> Any:
    """One row per item key (spans/windows: the rows of one file) of answered items, sorted."""
    import pyarrow.compute as pc

    arrow, _ = _scan(fs, paths, table, None)
    arrow = winners(arrow).drop_columns(["_file"])
    if table == "failures":
        arrow = without_stale_failures(arrow, answered)
    elif table != "answers":
        arrow = arrow.filter(pc.is_in(arrow.column("item_key"), value_set=answered))
    order = [
        c
        for c in ("video", "item_key", "span_index", "step_index", "window_index")
        if c in arrow.column_names
    ]
    return arrow.sort_by([(c, "ascending") for c in order])


def _write_chunks(
    fs: Any,
    folder: str,
    generation: int,
    arrow: Any,
    target_bytes: int,
    after_file: Callable[[str], None] | None,
) -> list[str]:
    """Write ``arrow`` as files of about ``target_bytes`` (row groups of about a tenth of that)."""
    import pyarrow.parquet as pq

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
    except (CompactionError, FileNotFoundError, ValueError) as exc:
        print(f"videoqa compact: {exc}")
        return 2
    print(result)
    return 0
