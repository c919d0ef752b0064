"""Identity of a local checkpoint's weight files: a full SHA-256 of each file, computed once.

A model fingerprint built from sampled bytes lets two checkpoints whose weights differ outside the
samples share it (and the visual cache then serves one model's features to the other). Here every
byte counts. Hashing a 15 GB checkpoint takes seconds (``benchmarks/weights_digest.py``), so each
file's digest is remembered, in this process and in a small JSON memo on disk, under what changes
whenever the file's bytes can have changed: real path, device, inode, size, mtime and ctime (in ns).
``ctime`` cannot be set back by a user, so a rewrite in place that restores size and mtime is still
noticed. The memo is ``weight-digests.json`` in ``$VIDEOQA_CACHE_DIR``, else
``$XDG_CACHE_HOME/videoqa``, else ``~/.cache/videoqa`` (where the built-in models live); one that
cannot be read or written only costs a recomputation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["memo_path", "weight_file_digest"]

_CHUNK = 8 << 20
_MEMO_NAME = "weight-digests.json"
_seen: dict[str, str] = {}


def memo_path() -> Path:
    """Where digests are remembered across processes (read at call time, not import time)."""
    if root := os.environ.get("VIDEOQA_CACHE_DIR"):
        return Path(root).expanduser() / _MEMO_NAME
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg).expanduser() / "videoqa" / _MEMO_NAME
    return Path.home() / ".cache" / "videoqa" / _MEMO_NAME


def _identity(path: Path) -> str:
    stat = path.stat()
    real = os.path.realpath(path)
    return json.dumps([real, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns])


def _read_memo(memo: Path) -> dict[str, str]:
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _still_there(identity: str, *, other_than: str) -> bool:
    """Keep a memo entry: a file other than ``other_than`` that still exists (the memo stays small)."""
    try:
        path = json.loads(identity)[0]
    except (ValueError, IndexError, TypeError):
        return False
    return path != other_than and os.path.exists(path)


def _remember(memo: Path, identity: str, digest: str) -> None:
    """Add one digest to the memo (atomic rewrite; entries of files that changed are dropped)."""
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        path = json.loads(identity)[0]
        known = {k: v for k, v in _read_memo(memo).items() if _still_there(k, other_than=path)}
        known[identity] = digest
        fd, tmp = tempfile.mkstemp(dir=memo.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(known, handle, sort_keys=True)
            os.replace(tmp, memo)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _full_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weight_file_digest(path: str | os.PathLike[str]) -> tuple[str, int, str]:
    """(file name, size in bytes, SHA-256 of every byte) of one weight file, remembered (see above)."""
    path = Path(path)
    identity = _identity(path)
    digest = _seen.get(identity)
    if digest is None:
        memo = memo_path()
        digest = _read_memo(memo).get(identity)
        if not (isinstance(digest, str) and len(digest) == 64):
            digest = _full_digest(path)
            if _identity(path) == identity:  # unchanged while it was read: safe to remember
                _remember(memo, identity, digest)
        _seen[identity] = digest
    return path.name, path.stat().st_size, digest
