"""Finding an evaluation's videos: ``<videos>/<id>.<suffix>`` anywhere under the folder, or a map file.

- The folder (local or any fsspec URL) is listed once, recursively: a video is found in any
  subfolder, with any suffix of :data:`VIDEO_SUFFIXES` in any case (``3MSZA.MP4``,
  ``v_abc.mkv``). An id found twice takes the first path in sorted order, with a warning.
- ``--video-map FILE`` (CSV with columns ``id,path``, or JSON ``{id: path}``) names each video's
  path, for layouts such as video2dataset's numbered shards; relative paths are resolved against
  the map's folder, as the batch job's manifests are.
- No annotated video found at all is :class:`NoVideosFoundError` (``videoqa eval`` exits 2), naming
  the folder, the layout expected and what was found there.
"""

from __future__ import annotations

import csv
import logging
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from videoqa.errors import VideoQAError

__all__ = ["VIDEO_SUFFIXES", "NoVideosFoundError", "find_videos", "read_video_map"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".mov", ".avi")
"""Container suffixes the media layer reads, matched case-insensitively."""


class NoVideosFoundError(VideoQAError, FileNotFoundError):
    """Not one annotated video was found: the folder or the layout is wrong."""


def _protocol(fs: Any) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def _listing(videos: str, suffixes: Sequence[str], storage_options: dict[str, Any] | None):
    import fsspec

    fs, root = fsspec.core.url_to_fs(videos, **(storage_options or {}))
    if not fs.isdir(root):
        raise FileNotFoundError(
            f"--videos {videos!r} is not a folder; give the folder holding <id>.mp4 (or --video-map FILE)"
        )
    root = root.rstrip("/")
    local = _protocol(fs) in ("file", "local")
    by_id: dict[str, list[str]] = {}
    files = sorted(fs.find(root))
    for path in files:
        stem, suffix = posixpath.splitext(posixpath.basename(path))
        if suffix.lower() in suffixes:
            by_id.setdefault(stem, []).append(path if local else fs.unstrip_protocol(path))
    return by_id, files


def find_videos(
    videos: str,
    video_ids: Sequence[str],
    *,
    suffix: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """``({id: url} of the videos present, [ids missing])``, searching ``videos`` recursively.

    ``suffix`` (e.g. ``".mp4"``) restricts the search to that ending; None takes any of
    :data:`VIDEO_SUFFIXES`. Raises :class:`NoVideosFoundError` when no id is found.
    """
    suffixes = (suffix.lower(),) if suffix else VIDEO_SUFFIXES
    by_id, files = _listing(videos, suffixes, storage_options)
    found, missing = {}, []
    for vid in video_ids:
        paths = by_id.get(vid)
        if not paths:
            missing.append(vid)
            continue
        if len(paths) > 1:
            log.warning("video %s found %d times under %s; using %s", vid, len(paths), videos, paths[0])
        found[vid] = paths[0]
    if video_ids and not found:
        shown = ", ".join(posixpath.basename(f) for f in files[:3]) + (" ..." if len(files) > 3 else "")
        raise NoVideosFoundError(
            f"none of the {len(video_ids)} annotated videos was found under --videos {videos!r} "
            f"(layout expected: <videos>/<id>.mp4, also in subfolders, suffixes {' '.join(suffixes)} in any "
            f"case; e.g. <videos>/{video_ids[0]}.mp4); found 0 of {len(video_ids)} there, among "
            f"{len(files)} file(s){': ' + shown if files else ''}. For another layout pass --video-map FILE."
        )
    return found, missing


def read_video_map(path: str | Path) -> dict[str, str]:
    """``{id: path}`` from a CSV (columns ``id`` and ``path``) or a JSON object; relative paths are
    resolved against the map's folder."""
    from videoqa.eval._common import AnnotationError, iter_lines, read_json

    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "video map not found; pass a CSV (id,path) or JSON {id: path} file")
    if path.suffix.lower() == ".json":
        data = read_json(path)
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise AnnotationError(path, "a video map JSON must be an object {video_id: path}")
        pairs = list(data.items())
    else:
        reader = csv.DictReader(iter_lines(path, keepends=True))
        if not reader.fieldnames or not {"id", "path"} <= set(reader.fieldnames):
            raise AnnotationError(
                path, f"a video map CSV needs columns 'id' and 'path', found {reader.fieldnames}"
            )
        pairs = [(row["id"].strip(), row["path"].strip()) for row in reader]
    return {str(k): v if "://" in v or Path(v).is_absolute() else str(path.parent / v) for k, v in pairs}


def map_videos(video_map: dict[str, str], video_ids: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``find_videos`` for a map: ids the map lacks, or whose local file does not exist, are missing."""
    found, missing = {}, []
    for vid in video_ids:
        target = video_map.get(vid)
        if target is None or ("://" not in target and not Path(target).is_file()):
            missing.append(vid)
        else:
            found[vid] = target
    if video_ids and not found:
        raise NoVideosFoundError(
            f"none of the {len(video_ids)} annotated videos is in the video map, or their files exist "
            f"(map has {len(video_map)} entries; e.g. id {video_ids[0]!r})"
        )
    return found, missing
