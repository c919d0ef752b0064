"""Opening a video source: a local path, ``file://`` or any fsspec URL (``s3://``, ``gs://``, ...).

Local files go to FFmpeg by path (fastest). URLs are opened with fsspec as a seekable binary file
object, which PyAV reads through its Python I/O layer, so only the byte ranges FFmpeg asks for are
fetched. Errors are mapped to :mod:`videoqa.errors`: a missing object is
:class:`~videoqa.errors.VideoNotFoundError`, any other read failure is the retryable
:class:`~videoqa.errors.SourceIOError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from videoqa.errors import MissingExtraError, SourceIOError, VideoNotFoundError

__all__ = ["OpenSource", "open_source", "source_name"]

# fsspec protocols that need an extra package, and which videoqa extra brings it.
_PROTOCOL_EXTRAS = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
}


@dataclass
class OpenSource:
    """An opened source: what to hand to ``av.open`` and what to call it in messages."""

    name: str
    """The path or URL as given, for error messages."""
    target: str | IO[bytes]
    """A local path (str) or a seekable binary file object."""
    size: int | None
    """Size in bytes when known."""

    def read_head(self, num_bytes: int) -> bytes:
        """The first bytes of the source (leaves a file object's position at 0)."""
        if isinstance(self.target, str):
            with open(self.target, "rb") as f:
                return f.read(num_bytes)
        self.target.seek(0)
        head = self.target.read(num_bytes)
        self.target.seek(0)
        return head

    def read_at(self, offset: int, num_bytes: int) -> bytes:
        """``num_bytes`` from ``offset`` (fewer at the end of the source)."""
        if isinstance(self.target, str):
            with open(self.target, "rb") as f:
                f.seek(offset)
                return f.read(num_bytes)
        position = self.target.tell()
        try:
            self.target.seek(offset)
            return self.target.read(num_bytes)
        finally:
            self.target.seek(position)


def source_name(source: str | os.PathLike[str]) -> str:
    return os.fspath(source)


def _protocol(name: str) -> str | None:
    if "://" not in name:
        return None
    return name.split("://", 1)[0].lower()


@contextmanager
def open_source(
    source: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> Iterator[OpenSource]:
    """Open ``source`` for reading; closes any remote file object on exit."""
    name = source_name(source)
    protocol = _protocol(name)
    if protocol in (None, "file", "local"):
        path = Path(name.split("://", 1)[1] if protocol else name)
        yield _open_local(name, path)
        return
    handle = _open_remote(name, protocol, storage_options or {})
    try:
        yield OpenSource(name=name, target=handle, size=getattr(handle, "size", None))
    finally:
        handle.close()


def _open_local(name: str, path: Path) -> OpenSource:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise VideoNotFoundError(
            name, "no such file; check the path (relative paths start at the current directory)"
        ) from None
    except OSError as exc:
        raise SourceIOError(name, f"cannot read the file: {exc}") from exc
    if path.is_dir():
        raise VideoNotFoundError(name, "this is a directory, not a video file")
    return OpenSource(name=name, target=str(path), size=stat.st_size)


def _open_remote(name: str, protocol: str, storage_options: dict[str, Any]) -> IO[bytes]:
    try:
        import fsspec
    except ImportError as exc:  # fsspec is a core dependency; this only guards broken installs
        raise MissingExtraError(feature=f"reading {protocol}:// URLs", extra="s3", module="fsspec") from exc
    try:
        fs, path = fsspec.core.url_to_fs(name, **storage_options)
    except ImportError as exc:
        extra, module = _PROTOCOL_EXTRAS.get(protocol, (protocol, str(exc.name or protocol)))
        raise MissingExtraError(feature=f"reading {protocol}:// URLs", extra=extra, module=module) from exc
    except ValueError as exc:
        raise SourceIOError(name, f"cannot open this URL with fsspec: {exc}") from exc
    try:
        return fs.open(path, "rb")
    except FileNotFoundError as exc:
        raise VideoNotFoundError(name, "no such object; check the bucket and key") from exc
    except PermissionError as exc:
        raise SourceIOError(name, f"access denied ({exc}); check credentials in storage_options") from exc
    except OSError as exc:
        raise SourceIOError(name, f"reading failed: {exc}") from exc
