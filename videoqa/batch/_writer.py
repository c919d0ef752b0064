"""Parquet output with exactly one answers-or-failures row per item key, whatever the run sequence.

Layout: ``<output>/<table>/part-<hash>.parquet``, one file per table per **video**, ``<hash>`` a
digest of the video's URL; ``videoqa compact`` later merges part files into
``compact-<generation>-<n>.parquet`` (see :mod:`videoqa.batch._compact`).

Writing a unit (one video and some of its items) rewrites the video's files: every row of the
unit's item keys is dropped and the new rows are added. A re-run of finished items therefore
*replaces* their rows (``--resume`` skips them instead), and a file named after the video never
holds two rows of one item. Crash safety: the item's old ``answers`` / ``failures`` rows are dropped
first (the item is then unfinished and ``--resume`` runs it again), then ``spans``, ``windows``,
``subtitles``, ``failures`` and ``answers`` are written in that order, each file atomically (local:
hidden temporary name and rename; object stores publish a finished upload atomically). An item with an
answers or failures row thus always has all its rows.

Rows of the same items in other files (compacted files, files of an older layout) are removed
before the run by :func:`drop_rows` (``plan_units`` does it), so no item is left with two live rows.
The one reader (:func:`videoqa.batch.read_tables`) still resolves any duplicate deterministically
with :func:`winners`: the last file in name order wins (part files after compacted ones, later
generations after earlier ones), and :func:`without_stale_failures` hides a failures row of an item
that also has an answers row (answers are authoritative; ``--resume`` then deletes such rows).
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import uuid
from typing import Any

import fsspec

from videoqa.records import TableRows, arrow_schema

logger = logging.getLogger(__name__)

__all__ = [
    "DETAIL_TABLES",
    "DONE_TABLES",
    "WRITE_ORDER",
    "drop_rows",
    "live_files",
    "part_file_name",
    "scan_keys",
    "table_dir",
    "without_stale_failures",
    "write_unit",
]

WRITE_ORDER = ("spans", "windows", "subtitles", "failures", "answers")
DETAIL_TABLES = WRITE_ORDER[:3]  # rows that belong to an answer: written before it, removed with it
DONE_TABLES = ("answers", "failures")  # a row in one of them means the item is finished
MARKERS = "_compaction"  # compaction commit records, see videoqa.batch._compact


def table_dir(output: str, table: str) -> str:
    return posixpath.join(output.rstrip("/"), table)


def part_file_name(video: str) -> str:
    """Name of the part file holding the rows of ``video`` (in every table)."""
    return f"part-{hashlib.sha256(video.encode()).hexdigest()[:24]}.parquet"


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

    Every earlier row of the unit's item keys is replaced (see the module docstring for the order).
    ``superseded`` ({file name: item keys}) names further files, in every table, that hold earlier
    rows of these items; those rows are removed first.
    """
    keys_by_video: dict[str, set[str]] = {}
    for r in rows.answers + rows.failures:
        keys_by_video.setdefault(r["video"], set()).add(r["item_key"])
    if not keys_by_video:
        return {}
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    for name, keys in sorted((superseded or {}).items()):
        for table in DONE_TABLES + DETAIL_TABLES:
            _rewrite(fs, posixpath.join(table_dir(root, table), name), table, drop=set(keys))
    written = {}
    for video, keys in sorted(keys_by_video.items()):
        name = part_file_name(video)
        for table in DONE_TABLES:  # the items become unfinished before anything else changes
            _rewrite(fs, posixpath.join(table_dir(root, table), name), table, drop=keys)
        for table in WRITE_ORDER:
            add = [r for r in getattr(rows, table) if r["video"] == video]
            path = posixpath.join(table_dir(root, table), name)
            if _rewrite(fs, path, table, drop=keys, add=add):
                written[table] = path
    return written


def _read_file(fs: Any, path: str, table: str) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with fs.open(path, "rb") as f:
            return pq.read_table(f, schema=arrow_schema(table))
    except FileNotFoundError:
        return None
    except pa.ArrowInvalid as error:  # truncated, 0 bytes, not Parquet: its rows are lost, replace it
        logger.warning("replacing damaged output file %s (%s): its unreadable rows are lost", path, error)
        return None


def _rewrite(fs: Any, path: str, table: str, *, drop: set[str], add: list[dict] | None = None) -> bool:
    """``path`` without the rows of ``drop``, plus ``add``; an emptied file is deleted.

    Returns True when the file was written. Idempotent: a file already in that state is left alone.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    old = _read_file(fs, path, table)
    kept = old
    if old is not None and drop:
        kept = old.filter(pc.invert(pc.is_in(old.column("item_key"), value_set=_strings(drop))))
    if not add and (old is None or kept.num_rows == old.num_rows):
        return False
    new = pa.Table.from_pylist(add or [], schema=arrow_schema(table))
    merged = pa.concat_tables([kept, new]) if kept is not None else new
    if merged.num_rows == 0:
        fs.rm(path)
        return False
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    write_atomic(fs, path, merged)
    return True


def write_atomic(fs: Any, path: str, arrow: Any, **parquet_options: Any) -> None:
    """Write a Parquet file that readers see whole or not at all."""
    import pyarrow.parquet as pq

    folder, name = posixpath.split(path)
    target = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp") if _is_local(fs) else path
    with fs.open(target, "wb") as f:
        pq.write_table(arrow, f, compression="zstd", **parquet_options)
    if target != path:
        fs.mv(target, path)


def _strings(values: set[str]) -> Any:
    import pyarrow as pa

    return pa.array(sorted(values), type=pa.string())


def drop_rows(
    output: str, drop: dict[str, set[str]], *, storage_options: dict[str, Any] | None = None
) -> None:
    """Remove rows: ``drop`` maps ``"<table>/<file name>"`` to item keys.

    Finished-item tables go first, so a crash in between leaves unfinished items, never half ones.
    """
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    order = {t: i for i, t in enumerate(DONE_TABLES + DETAIL_TABLES)}
    for rel, keys in sorted(drop.items(), key=lambda kv: (order[kv[0].split("/")[0]], kv[0])):
        table = rel.split("/")[0]
        _rewrite(fs, posixpath.join(root.rstrip("/"), rel), table, drop=set(keys))


def read_markers(fs: Any, root: str) -> list[dict[str, Any]]:
    """The compaction commit records of an output, oldest generation first."""
    found = []
    for path in sorted(fs.glob(posixpath.join(root.rstrip("/"), MARKERS, "gen-*.json"))):
        with fs.open(path, "rb") as f:
            found.append(json.loads(f.read()))
    return sorted(found, key=lambda m: m["generation"])


def held_videos(fs: Any, root: str, path: str) -> list[str]:
    """Videos whose rows a (damaged) data file held, as far as its name tells: a part file is named
    after one video, whose URL the same-named file of another table may still give. [] if unknown.
    """
    name = posixpath.basename(path)
    if not name.startswith("part-"):
        return []
    import pyarrow.parquet as pq

    for table in DONE_TABLES + DETAIL_TABLES:
        other = posixpath.join(table_dir(root, table), name)
        if other == path:
            continue
        try:
            with fs.open(other, "rb") as f:
                return sorted(set(pq.read_table(f, columns=["video"]).column("video").to_pylist()))
        except Exception:  # missing or damaged too: try the next table
            continue
    return []


def damaged_note(fs: Any, root: str, path: str, problem: str) -> str:
    """What to tell about a damaged data file: which items it held (if known), what happens to them."""
    videos = held_videos(fs, root, path)
    held = f"it held rows of {', '.join(videos)}" if videos else "which items it held is unknown"
    return (
        f"damaged output file {path} ({problem}) is skipped: {held}; its items count as not done "
        "(videoqa run --resume runs them again, which replaces a part file)"
    )


def staging_dir(root: str, generation: int) -> str:
    """Where compaction ``generation`` writes its files before its commit (outside the table folders)."""
    return posixpath.join(root.rstrip("/"), MARKERS, f"staging-{generation:08d}")


def live_files(fs: Any, root: str, table: str, *, markers: list[dict] | None = None) -> list[str]:
    """Visible data files of one table, in winner order (a later file beats an earlier one).

    Compacted files count only once their generation is committed (also while they still wait in
    the generation's staging folder, between the commit and their move into the table folder);
    files a committed compaction replaced count no longer, even before the compaction deleted them.
    """
    markers = read_markers(fs, root) if markers is None else markers
    committed = {m["generation"] for m in markers}
    replaced = {name for m in markers for name in m.get("replaced", {}).get(table, [])}
    folder = table_dir(root, table)
    compacted: dict[str, str] = {}
    for marker in markers:  # staged first: a file moved in meanwhile is then found in the folder too
        if marker.get("added", {}).get(table):
            staged = posixpath.join(staging_dir(root, marker["generation"]), table, "compact-*.parquet")
            compacted.update((posixpath.basename(p), p) for p in fs.glob(staged))
    compacted.update((posixpath.basename(p), p) for p in fs.glob(posixpath.join(folder, "compact-*.parquet")))
    paths = [compacted[n] for n in sorted(compacted) if compact_generation(n) in committed]
    paths += sorted(fs.glob(posixpath.join(folder, "part-*.parquet")))
    return [p for p in paths if posixpath.basename(p) not in replaced]


def compact_generation(path: str) -> int:
    """Generation number of a ``compact-<generation>-<n>.parquet`` file."""
    return int(posixpath.basename(path).split("-")[1])


def scan_keys(
    output: str,
    table: str,
    *,
    storage_options: dict[str, Any] | None = None,
    columns: list[str] | None = None,
    compacted_only: bool = False,
    damaged: dict[str, str] | None = None,
) -> tuple[Any, list[str]]:
    """(rows of ``columns`` plus a ``_file`` index column, the live file paths it indexes).

    One multi-threaded dataset scan: planning never opens the files one by one, unless the scan
    fails on a damaged file (truncated, 0 bytes, not Parquet). Then each file is scanned alone, the
    damaged ones are left out and put in ``damaged`` ({path: problem}; raised when it is None).
    """
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    paths = live_files(fs, root, table)
    if compacted_only:
        paths = [p for p in paths if posixpath.basename(p).startswith("compact-")]
    return scan_tolerant(fs, paths, table, columns or ["item_key"], damaged=damaged)


def scan_tolerant(
    fs: Any, paths: list[str], table: str, names: list[str], *, damaged: dict[str, str] | None
) -> tuple[Any, list[str]]:
    """:func:`_scan`, leaving damaged files out (into ``damaged``, {path: problem}) when it is a dict."""
    import pyarrow as pa

    try:
        return _scan(fs, paths, table, names)
    except pa.ArrowInvalid:
        if damaged is None:
            raise
    good = []
    for path in paths:  # the slow path, only when a file is damaged
        try:
            _scan(fs, [path], table, names)
        except pa.ArrowInvalid as error:
            damaged[path] = f"{type(error).__name__}: {error}"
            continue
        good.append(path)
    return _scan(fs, good, table, names)


def _scan(fs: Any, paths: list[str], table: str, columns: list[str] | None) -> tuple[Any, list[str]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    schema = arrow_schema(table)
    names = columns or schema.names
    if not paths:
        return schema.empty_table().select(names).append_column("_file", pa.array([], pa.int32())), []
    dataset = pads.dataset(paths, filesystem=fs, format="parquet", schema=schema)
    # One materialising scan with the file of each row as a virtual column. (A scan_batches generator
    # left to the garbage collector can abort the interpreter at exit inside Arrow's futures.)
    arrow = dataset.to_table(columns=[*names, "__filename"])
    files = pc.cast(pc.index_in(arrow.column("__filename"), value_set=pa.array(paths)), pa.int32())
    return arrow.drop_columns(["__filename"]).append_column("_file", files), paths


def without_stale_failures(failures: Any, answered: Any) -> Any:
    """The stale-failure rule, the one place it is decided: answers are authoritative.

    Rows of ``failures`` whose ``item_key`` is in ``answered`` (an array or table column of item keys
    of the answers table) are left out, so no item counts as both answered and failed.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if failures.num_rows == 0:
        return failures
    keys = answered.combine_chunks() if isinstance(answered, pa.ChunkedArray) else answered
    return failures.filter(pc.invert(pc.is_in(failures.column("item_key"), value_set=keys)))


def winners(arrow: Any) -> Any:
    """Rows of ``arrow`` (with ``item_key`` and ``_file``) from the last file holding each key."""
    import pyarrow.compute as pc

    if arrow.num_rows == 0:
        return arrow
    spread = arrow.group_by("item_key").aggregate([("_file", "min"), ("_file", "max")])
    if pc.all(pc.equal(spread.column("_file_min"), spread.column("_file_max"))).as_py():
        return arrow
    joined = arrow.join(spread.drop_columns(["_file_min"]), "item_key")
    keep = pc.equal(joined.column("_file"), joined.column("_file_max"))
    return joined.filter(keep).drop_columns(["_file_max"])
