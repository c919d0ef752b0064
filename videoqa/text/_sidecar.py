"""Subtitle files next to a video: ``name.srt``, ``name.vtt``, ``name.<lang>.srt``, ``name.ass``/``.ssa``.

Local folders are listed with ``os.listdir``; buckets (``s3://``, ``gs://``, any fsspec URL) with
the filesystem's ``ls`` of the video's folder. Reading goes through the media layer's
:func:`~videoqa.video._source.open_source`, so URLs, credentials and errors behave as for videos.
"""

from __future__ import annotations

import functools
import os
import posixpath
from dataclasses import dataclass
from typing import Any

from videoqa.errors import SubtitleError
from videoqa.text._languages import language_matches
from videoqa.text._parse import FORMATS
from videoqa.video._source import open_source

__all__ = ["MAX_SIDECAR_BYTES", "Sidecar", "choose_sidecar", "find_sidecars", "read_bytes", "sidecar_of"]

MAX_SIDECAR_BYTES = 64 * 1024 * 1024
"""A subtitle file larger than this is refused (a week of dense subtitles is under 20 MB)."""
_FORMAT_ORDER = (".srt", ".vtt", ".ass", ".ssa")


@dataclass(frozen=True)
class Sidecar:
    """A subtitle file found next to a video."""

    path: str
    """Path or URL of the file."""
    fmt: str
    """Parser name: ``srt``, ``vtt`` or ``ass``."""
    language: str | None
    """The tag between the video's name and the suffix (``talk.en.srt`` -> ``en``), None when absent."""


def sidecar_of(path: str, video_stem: str) -> Sidecar | None:
    """The Sidecar ``path`` is for a video named ``video_stem`` (``talk``), or None when it is not one."""
    base = posixpath.basename(path.replace(os.sep, "/"))
    stem, suffix = os.path.splitext(base)
    suffix = suffix.lower()
    if suffix not in FORMATS or not (stem == video_stem or stem.startswith(video_stem + ".")):
        return None
    tag = stem[len(video_stem) + 1 :] or None
    if tag is not None and ("." in tag or len(tag) > 16):
        return None  # talk.part2.srt belongs to another video named talk.part2
    return Sidecar(path=path, fmt=FORMATS[suffix], language=tag)


def _split(video: str) -> tuple[str, str, str]:
    """(folder, stem, protocol prefix) of a video path or URL."""
    if "://" in video:
        protocol, rest = video.split("://", 1)
        folder, base = posixpath.split(rest)
        return folder, os.path.splitext(base)[0], protocol + "://"
    folder, base = os.path.split(video)
    return folder or ".", os.path.splitext(base)[0], ""


def find_sidecars(
    video: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> list[Sidecar]:
    """Every subtitle file next to ``video`` named after it, in a stable order (untagged first)."""
    video = os.fspath(video)
    folder, stem, prefix = _split(video)
    try:
        if prefix in ("", "file://"):
            by_stem = _local_index(folder, os.stat(folder).st_mtime_ns)
            names = [prefix + n for n in by_stem.get(stem, ())]
        else:
            names = [n for n in _list_remote(folder, prefix, storage_options or {}) if _is_subtitle(n)]
    except OSError:
        return []  # an unlistable folder has no sidecars we can read; the video itself reports access errors
    found = [s for s in (sidecar_of(n, stem) for n in names) if s is not None]
    return sorted(found, key=lambda s: (s.language is not None, _FORMAT_ORDER.index(_suffix(s.path)), s.path))


def _suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _is_subtitle(name: str) -> bool:
    return _suffix(name) in FORMATS


@functools.lru_cache(maxsize=16)
def _local_index(folder: str, mtime_ns: int) -> dict[str, tuple[str, ...]]:
    """The subtitle files of a local folder by every name they may belong to (``a.en.srt``: ``a``,
    ``a.en``); listed once per folder version (a new file changes ``mtime_ns``), so a folder of
    10,000 videos is listed once, not once per video."""
    index: dict[str, list[str]] = {}
    for name in sorted(os.listdir(folder)):
        if _is_subtitle(name):
            parts = os.path.splitext(name)[0].split(".")
            for k in range(1, len(parts) + 1):
                index.setdefault(".".join(parts[:k]), []).append(os.path.join(folder, name))
    return {stem: tuple(paths) for stem, paths in index.items()}


def _list_remote(folder: str, prefix: str, storage_options: dict[str, Any]) -> list[str]:
    """The entries of a bucket folder (fsspec filesystems cache listings: one request per folder)."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(prefix + folder, **storage_options)
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        return []
    except Exception as exc:  # each backend's own errors: treat as "nothing listed"
        raise OSError(str(exc)) from exc
    return [e if "://" in e else prefix + e.lstrip("/") for e in entries]


def choose_sidecar(sidecars: list[Sidecar], *, language: str | None) -> tuple[Sidecar | None, list[str]]:
    """The sidecar to read: in ``language`` when given (untagged files count as unknown), else the first."""
    if language is None:
        return (sidecars[0] if sidecars else None), []
    matching = [s for s in sidecars if language_matches(s.language, language)]
    if sidecars and not matching:
        names = ", ".join(posixpath.basename(s.path) for s in sidecars)
        return None, [f"no subtitle file in language {language!r} next to the video (found {names})"]
    return (matching[0] if matching else None), []


def read_bytes(path: str, *, storage_options: dict[str, Any] | None = None) -> bytes:
    """The bytes of a subtitle file, local or in a bucket (at most MAX_SIDECAR_BYTES)."""
    with open_source(path, storage_options=storage_options) as opened:
        if opened.size is not None and opened.size > MAX_SIDECAR_BYTES:
            raise SubtitleError(
                path, f"{opened.size:,} bytes is too large for a subtitle file (limit {MAX_SIDECAR_BYTES:,})"
            )
        if isinstance(opened.target, str):
            with open(opened.target, "rb") as f:
                return f.read(MAX_SIDECAR_BYTES + 1)
        return opened.target.read(MAX_SIDECAR_BYTES + 1)
