"""The on-disk visual cache: keys, round trips, atomic writes, corrupt entries."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle

import numpy as np
import pytest

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
    assert [p.name for p in (tmp_path / "visual" / key[:2]).iterdir()] == [f"{key}.pkl"]  # no temp files left


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],  # truncated
        lambda blob: b"\x00garbage" * 10,  # not a pickle
        lambda blob: b"",  # empty
        lambda blob: pickle.dumps({"format": 1, "key": "someone else's"}),  # foreign entry
        lambda blob: pickle.dumps([1, 2, 3]),  # wrong shape
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


def test_failed_write_leaves_no_partial_file(tmp_path):
    cache = VisualCache(tmp_path)
    w = _window()
    key = cache.key("v", w, "m")
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        cache.put(key, _features(w, lambda: None))  # unpicklable payload: a programming error, raised
    assert list(cache.path(key).parent.iterdir()) == []


def test_unwritable_directory_only_warns(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = VisualCache(blocker)  # a file where the directory should be
    w = _window()
    with pytest.warns(VisualCacheWarning, match="could not write visual cache entry"):
        cache.put(cache.key("v", w, "m"), _features(w, [1]))


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
