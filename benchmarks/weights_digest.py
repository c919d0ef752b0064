"""Cost of the local-checkpoint fingerprint: a full SHA-256 of a 15 GB weight file, once, then remembered.

Reference measured in the same run: reading the file once (no hashing). Prints the first (full)
digest, a later call in a new process (the on-disk memo answers: one stat and one small JSON read),
and the old 16 x 64 KiB sampled digest, each as seconds and as a ratio to the read.

    PYTHONPATH=$PWD python benchmarks/weights_digest.py [--size-gb 15] [--dir /dev/shm]

The file is sparse (holes read as zeros without disk I/O), so the read measures the memory and
system-call path and the digest the hashing itself; a real checkpoint read from a cold disk adds
the disk's read time to both once.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from videoqa.model import _weights
from videoqa.model._weights import weight_file_digest


def _read_once(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as handle:
        while handle.read(8 << 20):
            pass
    return time.perf_counter() - start


def _sampled(path: Path, samples: int = 16, chunk: int = 1 << 16) -> float:
    """The fingerprint before: 16 evenly spaced 64 KiB samples."""
    start = time.perf_counter()
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for k in range(samples):
            f.seek(max(0, (size - chunk) * k // max(1, samples - 1)))
            digest.update(f.read(chunk))
    return time.perf_counter() - start


def _timed(path: Path) -> float:
    start = time.perf_counter()
    weight_file_digest(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=15.0)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        os.environ["VIDEOQA_CACHE_DIR"] = str(Path(tmp) / "cache")
        path = Path(tmp) / "model-00001-of-00001.safetensors"
        with path.open("wb") as handle:
            handle.write(b"\x01" * 4096)
            handle.truncate(int(args.size_gb * 1e9))  # sparse: no disk space used
        read = _read_once(path)
        first = _timed(path)
        _weights._seen.clear()  # as a new process: the on-disk memo answers
        memo = _timed(path)
        sampled = _sampled(path)
    print(f"file: {args.size_gb:g} GB (sparse)")
    print(f"read once (reference):          {read:8.3f} s  1.00x")
    print(f"full digest, first time:        {first:8.3f} s  {first / read:.2f}x")
    print(f"later call (memo on disk):      {memo:8.5f} s  {memo / read:.6f}x")
    print(f"old 16 x 64 KiB sampled digest: {sampled:8.5f} s  {sampled / read:.6f}x")


if __name__ == "__main__":
    main()
