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

from videoqa._remote import unreachable_cause
from videoqa.errors import (
    MissingExtraError,
    SourceAccessError,
    SourceIOError,
    SourceUnreachableError,
    VideoNotFoundError,
)

__all__ = ["OpenSource", "open_source", "source_name"]

# fsspec protocols that need an extra package, and which videoqa extra brings it.
_PROTOCOL_EXTRAS = {
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
}

_CREDENTIALS_HINTS = {
    "s3": "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
    "s3a": "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS or run gcloud auth application-default login",
    "gcs": "set GOOGLE_APPLICATION_CREDENTIALS or run gcloud auth application-default login",
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
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise SourceAccessError(
            name,
            f"unsupported URL protocol {protocol!r}; use a local path, s3://, gs://, http(s):// or file://",
        ) from None
    except ImportError:
        pass  # url_to_fs below names the missing extra
    try:
        fs, path = fsspec.core.url_to_fs(name, **storage_options)
    except ImportError as exc:
        extra, module = _PROTOCOL_EXTRAS.get(protocol, (protocol, str(exc.name or protocol)))
        raise MissingExtraError(feature=f"reading {protocol}:// URLs", extra=extra, module=module) from exc
    except (ValueError, TypeError) as exc:
        raise SourceAccessError(name, f"cannot open this URL with these storage_options: {exc}") from exc
    except Exception as exc:  # ftp/sftp connect here: DNS and connection errors of every library
        raise _remote_error(name, protocol, exc) from exc
    try:
        return fs.open(path, "rb")
    except Exception as exc:  # each fsspec backend raises its client library's own errors
        raise _remote_error(name, protocol, exc) from exc


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def _remote_error(name: str, protocol: str, exc: Exception) -> Exception:
    """The videoqa error for a failure to open a URL: what went wrong, and what to do."""
    causes = list(_causes(exc))
    kinds = {type(c).__name__ for c in causes}
    if any("Credentials" in kind or kind == "RefreshError" for kind in kinds):
        how = _CREDENTIALS_HINTS.get(protocol, "configure them")
        return SourceAccessError(
            name,
            f"no credentials for {protocol}:// ({exc}); {how}, or pass storage_options "
            "(e.g. {'anon': True} for a public bucket)",
        )
    if any(isinstance(c, PermissionError) for c in causes):
        return SourceAccessError(name, f"access denied ({exc}); check the credentials in storage_options")
    unreachable = unreachable_cause(exc)
    if unreachable is not None:
        return SourceUnreachableError(
            name,
            f"cannot reach the host ({unreachable}); check the URL and that the server is up, then retry",
        )
    if isinstance(exc, FileNotFoundError):
        where = "check the bucket and key" if protocol in _PROTOCOL_EXTRAS else "check the URL"
        return VideoNotFoundError(name, f"no such object; {where}")
    if isinstance(exc, OSError):
        return SourceIOError(name, f"reading failed: {exc}; retry later")
    return SourceAccessError(name, f"opening the URL failed ({type(exc).__name__}: {exc}); check the URL")
