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

Entries are pickles of the payload with every torch tensor moved to the CPU, written to a
temporary file in the same directory and renamed into place, so readers never see a partial
entry. An entry that cannot be read (truncated, corrupt, foreign) is ignored with a
:class:`VisualCacheWarning`, deleted, and rewritten by the next ``put``. Unpickling runs code
from the file, like ``torch.load(weights_only=False)``: point ``cache_dir`` only at a
directory you trust.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from videoqa.model._protocol import VisualFeatures
from videoqa.video._types import Window

__all__ = ["VisualCache", "VisualCacheWarning", "video_fingerprint", "window_fingerprint"]

_FORMAT = 1
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


def _to_cpu(value: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_to_cpu(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _to_cpu(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


class VisualCache:
    """Directory of cached :class:`VisualFeatures`; see the module docstring for keys and format."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory).expanduser()
        self.hits = 0
        self.misses = 0

    def key(self, video_fp: str, window: Window, model_fp: str, *, decoder: str = "") -> str:
        """Entry key; ``decoder`` names the decoding backend (its resizing differs slightly)."""
        text = json.dumps([_FORMAT, video_fp, window_fingerprint(window), model_fp, decoder])
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.directory / "visual" / key[:2] / f"{key}.pkl"

    def get(self, key: str, window: Window) -> VisualFeatures | None:
        """The cached features of ``window`` under ``key``, or None (a miss)."""
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        try:
            entry = pickle.loads(blob)
            if not isinstance(entry, dict) or entry.get("format") != _FORMAT or entry.get("key") != key:
                raise ValueError("not an entry of this cache format and key")
            features = VisualFeatures(
                window=window,
                pts_seconds=np.asarray(entry["pts_seconds"], dtype=np.float64),
                data=entry["data"],
                warnings=list(entry["warnings"]),
            )
        except Exception as exc:  # any unreadable entry is a miss, never a crash
            warnings.warn(
                f"ignoring unreadable visual cache entry {path} ({type(exc).__name__}: {exc}); "
                "it will be rewritten",
                VisualCacheWarning,
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            self.misses += 1
            return None
        self.hits += 1
        return features

    def put(self, key: str, features: VisualFeatures) -> None:
        """Store ``features`` atomically (temp file + rename); a failed write only warns."""
        entry = {
            "format": _FORMAT,
            "key": key,
            "pts_seconds": np.asarray(features.pts_seconds, dtype=np.float64),
            "data": _to_cpu(features.data),
            "warnings": list(features.warnings),
        }
        path = self.path(key)
        tmp_name = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(entry, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            warnings.warn(
                f"could not write visual cache entry {path}: {exc}", VisualCacheWarning, stacklevel=2
            )
        finally:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
