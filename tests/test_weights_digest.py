"""Local checkpoints: the fingerprint covers every byte of the weights; each file is hashed once."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from videoqa.model import _weights
from videoqa.model._weights import memo_path, weight_file_digest


@pytest.fixture(autouse=True)
def memo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOQA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_weights, "_seen", {})
    return tmp_path / "cache"


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    full = _weights._full_digest

    def counted(path):
        calls.append(path.name)
        return full(path)

    monkeypatch.setattr(_weights, "_full_digest", counted)
    return calls


def test_a_byte_changed_anywhere_changes_the_digest(tmp_path):
    blob = bytes(range(256)) * 40_000  # 10 MB: a 16 x 64 KiB sample covers a tenth of it
    digests = set()
    for at in (0, 3_333_333, len(blob) // 2 + 12_345, len(blob) - 1):
        path = tmp_path / f"w{at}" / "model.safetensors"
        path.parent.mkdir()
        changed = bytearray(blob)
        changed[at] ^= 1
        path.write_bytes(bytes(changed))
        name, size, digest = weight_file_digest(path)
        assert (name, size, digest) == ("model.safetensors", len(blob), hashlib.sha256(changed).hexdigest())
        digests.add(digest)
    assert len(digests) == 4


def test_each_file_is_hashed_once_and_again_only_when_it_changes(tmp_path, monkeypatch, memo_home):
    calls = _counting(monkeypatch)
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"a" * 1000)
    first = weight_file_digest(path)
    assert weight_file_digest(path) == first and calls == ["model.safetensors"]
    monkeypatch.setattr(_weights, "_seen", {})  # a new process: the memo on disk answers
    assert weight_file_digest(path) == first and len(calls) == 1
    assert memo_path() == memo_home / "weight-digests.json" and memo_path().is_file()
    stat = path.stat()
    with path.open("r+b") as handle:  # rewritten in place, size and mtime restored: ctime tells
        handle.write(b"b")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = weight_file_digest(path)
    assert again[2] == hashlib.sha256(b"b" + b"a" * 999).hexdigest() and len(calls) == 2


def test_an_unwritable_memo_only_costs_a_recomputation(tmp_path, monkeypatch, memo_home):
    memo_home.parent.mkdir(exist_ok=True)
    memo_home.write_text("a file where the folder should be")
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x" * 10)
    assert weight_file_digest(path)[2] == hashlib.sha256(b"x" * 10).hexdigest()


def _outside_old_samples(size: int, samples: int = 16, chunk: int = 1 << 16) -> int:
    """A byte offset none of the old fingerprint's 16 evenly spaced 64 KiB samples read."""
    starts = [(size - chunk) * k // (samples - 1) for k in range(samples)]
    return starts[7] + chunk + (starts[8] - starts[7] - chunk) // 2


def test_checkpoints_differing_outside_any_sample_get_different_fingerprints(tiny_qwen25_path, tmp_path):
    """Two local checkpoints of equal size whose weights differ in one byte never share a fingerprint
    (the old sampled fingerprint missed it, and the cache served one model's features to the other)."""
    import torch
    from safetensors.torch import load_file, save_file

    from videoqa.model import load_model

    paths = []
    for name, flip in (("a", False), ("b", True)):
        copy = tmp_path / name
        shutil.copytree(tiny_qwen25_path, copy)
        (weights,) = sorted(copy.glob("*.safetensors"))
        tensors = load_file(weights)  # a tensor the model ignores makes the file larger than 1 MiB
        save_file({**tensors, "zz_padding": torch.zeros(1 << 20, dtype=torch.uint8)}, weights)
        if flip:
            blob = bytearray(weights.read_bytes())
            at = _outside_old_samples(len(blob))
            assert at > len(blob) - (1 << 20)  # inside the padding tensor's data
            blob[at] ^= 0x01
            weights.write_bytes(bytes(blob))
        paths.append(copy)
    assert (paths[0] / "model.safetensors").stat().st_size == (paths[1] / "model.safetensors").stat().st_size
    a, b = (load_model(str(p), device="cpu").fingerprint() for p in paths)
    assert a != b
