"""On-disk cache of the vision side's output, one entry per (video, window, model).

A repeated question on the same video must not decode and encode it again. The key is a
SHA-256 over these fingerprints:

- the **video** (:func:`video_fingerprint`): for a local path its real path, size in bytes
  and modification time (ns); for an fsspec URL (``s3://``, ``gs://``, ...) the URL, the
  size and whatever identity the store reports in ``fs.info()`` (ETag, md5Hash, generation,
  mtime / LastModified / updated / created). Rewriting a file changes its size or mtime and so
  its entries are no longer found; merely touching it costs a miss. A rewrite keeping both the
  size and the mtime (to the nanosecond) would not be noticed.
- the **window**'s exact sampling (:func:`window_fingerprint`): start/end, every target pts,
  resized height/width, sampled fps, temporal patch size, patch factor (not its index).
- the **model**: ``model.fingerprint()`` (weights and preprocessing), and the decoding
  backend (pyav and decord resize frames slightly differently).

Entries are `safetensors <https://huggingface.co/docs/safetensors>`_ files: the payload's arrays and
tensors as tensors, everything else (pts, warnings, the payload's structure: dicts, lists, numbers,
strings, and dataclasses defined in ``videoqa`` modules) as JSON metadata. Nothing in an entry is
executed on load. The metadata holds a SHA-256 of the whole file (computed with that field zeroed;
an HMAC-SHA256 keyed with ``$VIDEOQA_CACHE_KEY`` when that is set, read when the cache is built):
an entry whose checksum, format or key does not match, or that cannot be read at all (truncated,
flipped bits, a directory in its place, another user's file), is a miss with a
:class:`VisualCacheWarning`, never a wrong answer or an error; a damaged file is deleted when
possible and rewritten by the next ``put``. Entries are written to a temporary file in the same
directory and renamed into place, so readers never see a partial entry; a cache directory that
cannot be written (read-only) only warns. A ``cache_dir`` that exists but is not a directory is an
error at construction.

Only regular files inside the cache folder are read (no symbolic link is followed, a FIFO or a
device is a miss), and only up to the size the entry's own header declares, which must be the
file's size. The plain checksum detects damage, not tampering: whoever can write the cache folder
can write an entry with a matching checksum, and so change answers. With ``$VIDEOQA_CACHE_KEY``
set, only holders of that secret can write entries that are served.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import hmac
import json
import os
import stat
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from videoqa.model._protocol import VisualFeatures
from videoqa.video._types import Window

__all__ = ["SECRET_ENV", "VisualCache", "VisualCacheWarning", "video_fingerprint", "window_fingerprint"]

_FORMAT = 2
SECRET_ENV = "VIDEOQA_CACHE_KEY"
_MAX_HEADER_BYTES = 64 << 20  # a header (metadata JSON) larger than this is not one of ours
_CHECKSUM_FIELD = b'"sha256":"'
_ZEROS = "0" * 64
_IDENTITY_KEYS = (
    "ETag",
    "etag",
    "md5Hash",
    "crc32c",
    "generation",
    "mtime",
    "LastModified",
    "last_modified",
    "updated",
    "created",
)


class VisualCacheWarning(UserWarning):
    """A cache entry could not be read or written; the cache carries on without it."""


def _is_url(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def video_fingerprint(source: str | os.PathLike[str], *, storage_options: dict | None = None) -> str:
    """Identity of the video's bytes, cheap to compute (no read of the content)."""
    source = os.fspath(source)
    if not _is_url(source):
        path = source.removeprefix("file://")
        stat = os.stat(path)
        return json.dumps(["file", os.path.realpath(path), stat.st_size, stat.st_mtime_ns])
    import fsspec

    fs, path = fsspec.core.url_to_fs(source, **(storage_options or {}))
    info = fs.info(path)
    identity = {key: str(info[key]) for key in _IDENTITY_KEYS if info.get(key) is not None}
    return json.dumps(["url", source, info.get("size"), identity], sort_keys=True)


def window_fingerprint(window: Window) -> str:
    """The window's exact sampling; ``repr`` keeps every float bit."""
    return json.dumps(
        [
            repr(window.start_seconds),
            repr(window.end_seconds),
            [repr(t) for t in window.pts_seconds],
            window.height,
            window.width,
            repr(window.sampled_fps),
            window.temporal_patch_size,
            window.patch_factor,
        ]
    )


def _encode(value: Any, tensors: dict[str, Any]) -> Any:
    """JSON node of ``value``; arrays and tensors go to ``tensors`` (CPU, contiguous)."""
    import torch

    if isinstance(value, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().contiguous()
        return {"tensor": name}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"cannot cache a numpy array of dtype {array.dtype}")
        name = f"t{len(tensors)}"
        tensors[name] = torch.from_numpy(array.copy())
        return {"ndarray": name, "scalar": isinstance(value, np.generic)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("cannot cache a dict with non-string keys")
        return {"dict": [[k, _encode(v, tensors)] for k, v in value.items()]}
    for kind in (list, tuple, frozenset, set):
        if type(value) is kind:
            return {kind.__name__: [_encode(v, tensors) for v in value]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        if not cls.__module__.startswith("videoqa."):
            raise TypeError(f"cannot cache {cls.__module__}.{cls.__qualname__}: not a videoqa dataclass")
        fields = [
            [f.name, _encode(getattr(value, f.name), tensors)] for f in dataclasses.fields(value) if f.init
        ]
        return {"dataclass": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _decode(node: dict[str, Any], tensors: dict[str, Any]) -> Any:
    """The value of a node :func:`_encode` made; imports nothing outside ``videoqa``."""
    import importlib

    if "tensor" in node:
        return tensors[node["tensor"]]
    if "ndarray" in node:
        array = tensors[node["ndarray"]].numpy()
        return array[()] if node["scalar"] else array
    if "value" in node:
        return node["value"]
    if "dict" in node:
        return {k: _decode(v, tensors) for k, v in node["dict"]}
    for kind in (list, tuple, frozenset, set):
        if kind.__name__ in node:
            return kind(_decode(v, tensors) for v in node[kind.__name__])
    module_name, _, qualname = node["dataclass"].partition(":")
    if not module_name.startswith("videoqa."):
        raise ValueError(f"entry names a class outside videoqa: {node['dataclass']!r}")
    cls: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError(f"entry names {node['dataclass']!r}, which is not a dataclass")
    return cls(**{name: _decode(v, tensors) for name, v in node["fields"]})


def _header(blob: bytes) -> tuple[dict[str, Any], int]:
    """(safetensors JSON header, its end offset) of an entry's bytes."""
    size = int.from_bytes(blob[:8], "little")
    if len(blob) < 8 or size > len(blob) - 8:
        raise ValueError("truncated entry (header runs past the end of the file)")
    return json.loads(blob[8 : 8 + size]), 8 + size


def _zeroed(blob: bytes, end: int, checksum: str) -> bytes:
    """``blob`` with its checksum value replaced by zeros (the bytes the checksum covers)."""
    token = _CHECKSUM_FIELD + checksum.encode()
    at = blob.find(token, 0, end)
    if at < 0 or blob.find(token, at + 1, end) >= 0:
        raise ValueError("checksum field not found exactly once in the header")
    return blob[:at] + _CHECKSUM_FIELD + _ZEROS.encode() + blob[at + len(token) :]


def _checksum(blob: bytes, secret: bytes | None) -> str:
    """SHA-256 of ``blob`` or, with a secret, its HMAC-SHA256 (which only holders of the secret can forge)."""
    if secret:
        return hmac.new(secret, blob, hashlib.sha256).hexdigest()
    return hashlib.sha256(blob).hexdigest()


def _serialize(key: str, features: VisualFeatures, secret: bytes | None = None) -> bytes:
    from safetensors.torch import save

    tensors: dict[str, Any] = {}
    meta = {
        "format": _FORMAT,
        "key": key,
        "pts_seconds": [float(t) for t in np.asarray(features.pts_seconds, dtype=np.float64)],
        "warnings": list(features.warnings),
        "stale_targets": [int(t) for t in features.stale_targets],
        "data": _encode(features.data, tensors),
    }
    blob = save(tensors, metadata={"videoqa": json.dumps(meta), "sha256": _ZEROS})
    _, end = _header(blob)
    return _zeroed(blob, end, _ZEROS).replace(
        _CHECKSUM_FIELD + _ZEROS.encode(), _CHECKSUM_FIELD + _checksum(blob, secret).encode(), 1
    )


def _deserialize(blob: bytes, key: str, window: Window, secret: bytes | None = None) -> VisualFeatures:
    """The features in ``blob``; raises ValueError (or any parse error) for anything not verified."""
    from safetensors.torch import load

    header, end = _header(blob)
    checksum = header["__metadata__"]["sha256"]
    if not hmac.compare_digest(_checksum(_zeroed(blob, end, checksum), secret), checksum):
        raise ValueError(
            "checksum mismatch (the entry was altered or damaged, or written with another or no "
            f"{SECRET_ENV})"
        )
    meta = json.loads(header["__metadata__"]["videoqa"])
    if meta.get("format") != _FORMAT or meta.get("key") != key:
        raise ValueError("not an entry of this cache format and key")
    return VisualFeatures(
        window=window,
        pts_seconds=np.asarray(meta["pts_seconds"], dtype=np.float64),
        data=_decode(meta["data"], load(blob)),
        warnings=list(meta["warnings"]),
        stale_targets=tuple(int(t) for t in meta.get("stale_targets", ())),
    )


class NotAnEntryError(OSError):
    """Something other than a regular file of the cache folder where an entry should be."""


def _open_entry(path: Path) -> int:
    """A read-only descriptor of ``path``: never follows a symlink, never blocks (on a FIFO)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotAnEntryError(f"{path} is a symbolic link; entries are regular files") from None
        raise


def _read_entry(directory: Path, path: Path) -> bytes:
    """The bytes of the entry at ``path``: a regular file inside ``directory`` (no symlinked folder
    below it, no symlink, FIFO or device), read only up to the size its own header declares, which
    must be the file's size. Raises OSError (FileNotFoundError: no entry) or ValueError.
    """
    for folder in (path.parent.parent, path.parent):  # <cache>/visual and <cache>/visual/<xx>
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            raise NotAnEntryError(f"{folder} is not a folder of {directory} (a symbolic link?)")
    with os.fdopen(_open_entry(path), "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotAnEntryError(f"{path} is not a regular file (mode {stat.filemode(info.st_mode)})")
        head = handle.read(8)
        size = int.from_bytes(head, "little")
        if len(head) < 8 or size > min(info.st_size - 8, _MAX_HEADER_BYTES):
            return head  # _deserialize says what is wrong
        header_bytes = handle.read(size)
        try:
            header = json.loads(header_bytes)
            ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return head + header_bytes
        total = 8 + size + max(ends, default=0)
        if total != info.st_size:
            raise ValueError(f"the entry declares {total} bytes but the file holds {info.st_size}")
        return head + header_bytes + handle.read(total - 8 - size)


def _warn(message: str) -> None:
    warnings.warn(message, VisualCacheWarning, stacklevel=3)


class VisualCache:
    """Directory of cached :class:`VisualFeatures`; see the module docstring for keys and format."""

    def __init__(self, directory: str | os.PathLike[str], *, secret: str | bytes | None = None):
        """``secret``: key of the entries' HMAC checksum; None reads ``$VIDEOQA_CACHE_KEY`` now (unset
        or empty: a plain SHA-256, which detects damage but not tampering)."""
        self.directory = Path(directory).expanduser()
        secret = os.environ.get(SECRET_ENV) if secret is None else secret
        self._secret = secret.encode() if isinstance(secret, str) else secret
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(
                f"Invalid cache_dir {str(directory)!r}: it exists and is not a directory. Pass a "
                "directory (created if missing), or no cache_dir to run without the visual cache."
            )
        self.hits = 0
        self.misses = 0

    def key(self, video_fp: str, window: Window, model_fp: str, *, decoder: str = "") -> str:
        """Entry key; ``decoder`` names the decoding backend (its resizing differs slightly)."""
        text = json.dumps([_FORMAT, video_fp, window_fingerprint(window), model_fp, decoder])
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / "visual" / key[:2] / f"{key}.safetensors"

    def get(self, key: str, window: Window) -> VisualFeatures | None:
        """The cached features of ``window`` under ``key``, or None (a miss, never an error)."""
        path = self.path(key)
        try:
            features = _deserialize(_read_entry(self.directory, path), key, window, self._secret)
        except FileNotFoundError:
            self.misses += 1
            return None
        except OSError as exc:  # a directory or FIFO in its place, a symlink, another user's entry
            _warn(f"cannot read visual cache entry {path} ({type(exc).__name__}: {exc}); not using it")
            self.misses += 1
            return None
        except Exception as exc:  # any unverified entry is a miss, never a crash or a wrong answer
            _warn(f"ignoring unreadable visual cache entry {path} ({type(exc).__name__}: {exc}); "
                  "it will be rewritten")  # fmt: skip
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            self.misses += 1
            return None
        self.hits += 1
        return features

    def put(self, key: str, features: VisualFeatures) -> None:
        """Store ``features`` atomically (temp file + rename); a failed write only warns.

        A payload the format cannot hold (a callable, an object array, a foreign class) raises TypeError.
        """
        blob = _serialize(key, features, self._secret)
        path = self.path(key)
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".safetensors")
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            _warn(f"could not write visual cache entry {path}: {exc}")
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    Path(tmp_name).unlink(missing_ok=True)
