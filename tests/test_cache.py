"""The on-disk visual cache: keys, round trips, atomic writes, damaged and hostile entries."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle

import numpy as np
import pytest

from videoqa.core import _cache
from videoqa.core._cache import VisualCache, VisualCacheWarning, video_fingerprint, window_fingerprint
from videoqa.model._protocol import VisualFeatures
from videoqa.video._types import Window


def _window(index=0, start=10.0, n=4, fps=2.0, height=56, width=84) -> Window:
    return Window(
        index=index,
        start_seconds=start,
        end_seconds=start + n / fps,
        pts_seconds=tuple(start + k / fps for k in range(n)),
        height=height,
        width=width,
        sampled_fps=fps,
    )


def _features(window: Window, data) -> VisualFeatures:
    return VisualFeatures(
        window=window, pts_seconds=np.array(window.pts_seconds) + 0.01, data=data, warnings=["w"]
    )


def test_key_follows_video_window_and_model(tmp_path):
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("video-a", w, "model-1")
    assert len(key) == 64 and key == cache.key("video-a", w, "model-1")
    assert key == cache.key(
        "video-a", dataclasses.replace(w, index=7), "model-1"
    )  # the index is not sampling
    others = {
        cache.key("video-b", w, "model-1"),
        cache.key("video-a", w, "model-2"),
        cache.key("video-a", dataclasses.replace(w, height=28), "model-1"),
        cache.key("video-a", dataclasses.replace(w, sampled_fps=2.0000001), "model-1"),
        cache.key(
            "video-a", dataclasses.replace(w, pts_seconds=(*w.pts_seconds[:-1], 11.5000001)), "model-1"
        ),
        cache.key("video-a", _window(start=10.5), "model-1"),
        cache.key("video-a", w, "model-1", decoder="decord"),
    }
    assert key not in others and len(others) == 7


def test_window_fingerprint_keeps_every_float_bit():
    a = _window(start=0.1 + 0.2)
    b = _window(start=0.3)
    assert window_fingerprint(a) != window_fingerprint(b)


@pytest.mark.parametrize(
    "field, value",
    [
        ("start_seconds", 10.25),
        ("end_seconds", 12.25),
        ("pts_seconds", (10.0, 10.5, 11.0, 11.25)),
        ("height", 28),
        ("width", 56),
        ("sampled_fps", 4.0),
        ("temporal_patch_size", 1),
        ("patch_factor", 32),
    ],
)
def test_each_sampling_field_alone_changes_the_window_fingerprint_and_the_key(tmp_path, field, value):
    """One test per field: dropping any field from the fingerprint makes its test fail."""
    w = _window()
    other = dataclasses.replace(w, **{field: value})
    assert getattr(w, field) != value
    assert window_fingerprint(other) != window_fingerprint(w)
    cache = VisualCache(tmp_path)
    assert cache.key("v", other, "m") != cache.key("v", w, "m")


def test_a_valid_entry_under_another_keys_path_is_a_miss_with_a_warning(tmp_path):
    """An entry copied (or renamed) to the path of another key never serves another window's features."""
    cache = VisualCache(tmp_path)
    w, other = _window(), _window(start=20.0)
    key, other_key = cache.key("v", w, "m"), cache.key("v", other, "m")
    cache.put(key, _features(w, [1, 2, 3]))
    cache.path(other_key).parent.mkdir(parents=True, exist_ok=True)
    cache.path(other_key).write_bytes(cache.path(key).read_bytes())
    with pytest.warns(VisualCacheWarning, match="key"):
        assert cache.get(other_key, other) is None
    assert cache.get(key, w).data == [1, 2, 3] and (cache.hits, cache.misses) == (1, 1)


def test_round_trip_numpy_and_torch(tmp_path):
    torch = pytest.importorskip("torch")
    cache = VisualCache(tmp_path)
    w = _window()
    data = {"embeds": torch.arange(12, dtype=torch.float32).reshape(3, 4), "grid": np.array([2, 2, 3])}
    key = cache.key("v", w, "m")
    assert cache.get(key, w) is None
    cache.put(key, _features(w, data))
    requested = dataclasses.replace(w, index=3)
    got = cache.get(key, requested)
    assert got.window is requested
    np.testing.assert_array_equal(got.pts_seconds, np.array(w.pts_seconds) + 0.01)
    assert torch.equal(got.data["embeds"], data["embeds"]) and got.data["embeds"].device.type == "cpu"
    np.testing.assert_array_equal(got.data["grid"], [2, 2, 3])
    assert got.warnings == ["w"]
    assert (cache.hits, cache.misses) == (1, 1)
    entries = [p.name for p in (tmp_path / "visual" / key[:2]).iterdir()]
    assert entries == [f"{key}.safetensors"]  # no temp files left


def _flip(blob: bytes, bit: int) -> bytes:
    data = bytearray(blob)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],  # truncated
        lambda blob: blob[:7],  # shorter than the header length
        lambda blob: b"\x00garbage" * 10,  # not an entry
        lambda blob: b"",  # empty
        lambda blob: pickle.dumps({"format": 2, "key": "someone else's"}),  # a pickle is never loaded
        lambda blob: blob + b"\x00",  # trailing byte
    ],
)
def test_corrupt_entry_is_ignored_with_a_warning_and_rewritten(tmp_path, damage):
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    cache.put(key, _features(w, [1, 2, 3]))
    path = cache.path(key)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.warns(VisualCacheWarning, match="ignoring unreadable visual cache entry"):
        assert cache.get(key, w) is None
    assert not path.exists()
    cache.put(key, _features(w, [4, 5]))
    assert cache.get(key, w).data == [4, 5]


def test_every_bit_flip_is_a_miss_never_a_wrong_answer_or_an_error(tmp_path):
    """Single-bit flips at ~400 positions spread over the header, the metadata and the tensor data."""
    torch = pytest.importorskip("torch")
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    data = {"embeddings": torch.arange(64, dtype=torch.bfloat16).reshape(8, 8), "grid": np.array([1, 2, 4])}
    cache.put(key, _features(w, data))
    path = cache.path(key)
    good = path.read_bytes()
    bits = sorted({*range(0, 64 * 8, 3), *range(0, len(good) * 8, max(1, len(good) * 8 // 300))})
    for bit in bits:
        path.write_bytes(_flip(good, bit))
        with pytest.warns(VisualCacheWarning):
            assert cache.get(key, w) is None, f"bit {bit} of {len(good) * 8}"
    assert (cache.hits, cache.misses) == (0, len(bits)) and len(bits) > 350
    path.write_bytes(good)
    got = cache.get(key, w)
    assert torch.equal(got.data["embeddings"], data["embeddings"]) and got.data["grid"].tolist() == [1, 2, 4]


def test_entries_execute_no_code_and_name_no_foreign_class(tmp_path, monkeypatch):
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    with pytest.raises(TypeError, match="not a videoqa dataclass"):
        cache.put(key, _features(w, [dataclasses.make_dataclass("Foreign", ["x"])(1)]))
    with pytest.raises(TypeError, match="function"):
        cache.put(key, _features(w, lambda: None))  # a callable cannot be stored: a programming error
    assert not cache.path(key).exists()
    # a well-formed entry (valid checksum) naming a class outside videoqa is refused, nothing imported
    from videoqa.core import _cache

    monkeypatch.setattr(_cache, "_encode", lambda value, tensors: {"dataclass": "os:system", "fields": []})
    cache.put(key, _features(w, "x"))
    monkeypatch.undo()
    with pytest.warns(VisualCacheWarning, match="outside videoqa"):
        assert cache.get(key, w) is None


def test_scripted_model_payload_round_trips(tmp_path):
    from videoqa.model._scripted import _FrameFacts

    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    facts = [_FrameFacts(relative_seconds=0.5, colors=frozenset({"red", "blue"})), (1, None, 2.5, True)]
    cache.put(key, _features(w, {"facts": facts, "n": np.int64(3)}))
    got = cache.get(key, w).data
    assert got == {"facts": facts, "n": 3} and isinstance(got["facts"][1], tuple)


def test_a_file_as_cache_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        VisualCache(blocker)


def test_unwritable_cache_only_warns(tmp_path):
    (tmp_path / "visual").write_text("x")  # entries cannot be created below it
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    with pytest.warns(VisualCacheWarning, match="could not write visual cache entry"):
        cache.put(key, _features(w, [1]))
    with pytest.warns(VisualCacheWarning, match="cannot read visual cache entry"):
        assert cache.get(key, w) is None  # NotADirectoryError is a miss too


def test_a_directory_or_an_unreadable_entry_is_a_miss(tmp_path, monkeypatch):
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    cache.path(key).mkdir(parents=True)  # a directory where the entry should be
    with pytest.warns(VisualCacheWarning, match="cannot read visual cache entry"):
        assert cache.get(key, w) is None
    with pytest.warns(VisualCacheWarning, match="could not write"):
        cache.put(key, _features(w, [1]))
    assert cache.path(key).is_dir()
    other = cache.key("v2", w, "m")
    cache.put(other, _features(w, [1]))
    os.chmod(cache.path(other), 0)  # another user's entry (0600); root reads anyway, so also simulated
    if os.geteuid() != 0:
        with pytest.warns(VisualCacheWarning, match="PermissionError"):
            assert cache.get(other, w) is None

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_cache, "_open_entry", denied)
    with pytest.warns(VisualCacheWarning, match="PermissionError"):
        assert cache.get(other, w) is None


def test_local_video_fingerprint_changes_when_the_file_changes(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"abc")
    first = video_fingerprint(video)
    assert first == video_fingerprint(str(video)) == video_fingerprint(f"file://{video}")
    os.utime(video, ns=(1_000_000_000, 1_000_000_000))
    touched = video_fingerprint(video)
    video.write_bytes(b"abcd")
    os.utime(video, ns=(1_000_000_000, 1_000_000_000))
    resized = video_fingerprint(video)
    assert len({first, touched, resized}) == 3
    with pytest.raises(FileNotFoundError):
        video_fingerprint(tmp_path / "missing.mp4")


def test_url_video_fingerprint_uses_fsspec_info():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket/v.mp4", b"abc")
    first = video_fingerprint("memory://bucket/v.mp4")
    created = str(fs.info("/bucket/v.mp4")["created"])
    assert json.loads(first) == ["url", "memory://bucket/v.mp4", 3, {"created": created}]
    fs.pipe("/bucket/v.mp4", b"abcdef")
    assert video_fingerprint("memory://bucket/v.mp4") != first
    fs.rm("/bucket/v.mp4")


def _get_in_thread(cache, key, window, *, unblock) -> tuple[bool, list]:
    """(finished within 30 s, its result) of ``cache.get``; ``unblock()`` frees a thread stuck on a FIFO."""
    import threading
    import warnings

    out: list = []

    def get():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out.append(cache.get(key, window))
            out.append([str(w.message) for w in caught])

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    thread.join(30)
    finished = not thread.is_alive()
    if not finished:
        unblock()
        thread.join(30)
    return finished, out


def test_a_fifo_in_place_of_an_entry_is_a_miss_and_never_blocks(tmp_path):
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    path = cache.path(key)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)

    def unblock():
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)

    finished, (result, messages) = _get_in_thread(cache, key, w, unblock=unblock)
    assert finished, "Session.analyze would hang on a FIFO in the cache"
    assert result is None and messages == [
        f"cannot read visual cache entry {path} (NotAnEntryError: {path} is not a regular file "
        "(mode prw-r--r--)); not using it"
    ]
    cache.put(key, _features(w, [7]))  # the next put replaces it with an entry
    assert cache.get(key, w).data == [7]


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "entry elsewhere"])
def test_a_symlinked_entry_is_never_followed(tmp_path, target):
    """A symlink to /dev/zero grew memory without bound; one to a valid entry outside was served."""
    cache = VisualCache(tmp_path / "cache")
    w = _window()
    key = cache.key("v", w, "m")
    if target == "entry elsewhere":
        outside = VisualCache(tmp_path / "outside")
        outside.put(key, _features(w, ["planted"]))
        target = str(outside.path(key))
    path = cache.path(key)
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.warns(VisualCacheWarning, match="is a symbolic link; entries are regular files"):
        assert cache.get(key, w) is None
    cache.put(key, _features(w, [1]))
    assert not path.is_symlink() and cache.get(key, w).data == [1]


def test_a_symlinked_cache_subfolder_is_not_followed_out(tmp_path):
    cache = VisualCache(tmp_path / "cache")
    outside = VisualCache(tmp_path / "outside")
    w = _window()
    key = cache.key("v", w, "m")
    outside.put(key, _features(w, ["planted"]))
    (tmp_path / "cache" / "visual").mkdir(parents=True)
    cache.path(key).parent.symlink_to(outside.path(key).parent)
    with pytest.warns(VisualCacheWarning, match="is not a folder of .* \\(a symbolic link\\?\\)"):
        assert cache.get(key, w) is None


def test_an_entry_is_read_only_up_to_the_size_its_header_declares(tmp_path, monkeypatch):
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    cache.put(key, _features(w, [1, 2]))
    path = cache.path(key)
    blob = path.read_bytes()
    with path.open("ab") as handle:  # a huge file behind a small entry's header: nothing read past it
        handle.truncate(len(blob) + (1 << 30))
    reads: list[int] = []
    real_fdopen = os.fdopen

    def counting_fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        read = handle.read

        def counted(n=-1):
            data = read(n)
            reads.append(len(data))
            return data

        handle.read = counted
        return handle

    monkeypatch.setattr(_cache.os, "fdopen", counting_fdopen)
    with pytest.warns(VisualCacheWarning, match=f"declares {len(blob)} bytes but the file holds"):
        assert cache.get(key, w) is None
    assert sum(reads) <= len(blob) and -1 not in reads  # never "read everything"


def test_a_keyed_cache_refuses_entries_forged_without_its_secret(tmp_path, monkeypatch):
    """The plain checksum detects damage, not tampering: a forged entry with a recomputed SHA-256 is
    served by a plain cache. ``$VIDEOQA_CACHE_KEY`` (read when the cache is built) makes it an HMAC."""
    w = _window()
    monkeypatch.delenv("VIDEOQA_CACHE_KEY", raising=False)
    plain = VisualCache(tmp_path)
    key = plain.key("v", w, "m")
    plain.put(key, _features(w, ["forged by whoever can write the folder"]))
    assert plain.get(key, w).data == ["forged by whoever can write the folder"]  # the limitation
    monkeypatch.setenv("VIDEOQA_CACHE_KEY", "s3cret")  # after import: read at construction
    keyed = VisualCache(tmp_path)
    with pytest.warns(
        VisualCacheWarning, match="checksum mismatch .*written with another or no VIDEOQA_CACHE_KEY"
    ):
        assert keyed.get(key, w) is None
    keyed.put(key, _features(w, ["genuine"]))
    assert keyed.get(key, w).data == ["genuine"]
    assert VisualCache(tmp_path, secret=b"s3cret").get(key, w).data == ["genuine"]
    for other in (VisualCache(tmp_path, secret="another"), VisualCache(tmp_path, secret="")):
        keyed.put(key, _features(w, ["genuine"]))
        with pytest.warns(VisualCacheWarning, match="checksum mismatch"):
            assert other.get(key, w) is None
