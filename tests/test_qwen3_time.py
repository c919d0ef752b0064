"""Qwen3-VL timestamps are the frames' true times where transformers' arithmetic is not.

transformers writes ``<t seconds>`` from frame indices and one fps (``t = mean(index / fps)`` over
the two frames of a patch): right on constant-rate video read from its first frame, off on
variable-frame-rate video, on videos whose first frame is not at 0, and for pre-sampled windows
(no metadata: 24 fps assumed). videoqa writes ``mean(true pts) - window start`` and adds the window
start back to every answer; each test checks the stated time against the held pts and shows by how
much transformers' number differs.

Peers written against (tests/peers.py): transformers 5.25.0, qwen-vl-utils 0.0.14.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import videoqa
from tests.test_qwen3_parity import reference_inputs
from tests.test_sampling import monkeypatch_module, qwen_decord  # noqa: F401 (module fixtures used here)
from videoqa.model import GenerationRequest
from videoqa.model._timestamps import read_timestamps
from videoqa.synthetic import write_video

SETTINGS = {"min_pixels": 4 * 28 * 28, "max_pixels": 8 * 28 * 28}


def stated_seconds(model, clip) -> list[float]:
    """The ``<t seconds>`` of the prompt the Qwen3-VL runner builds for ``clip`` (one window)."""
    request = GenerationRequest(features=(model.encode(clip),), prompt="When?")
    ids = model.build_inputs([request])["input_ids"][0]
    return read_timestamps(model.tokenizer.decode(ids))


def true_patch_seconds(clip) -> np.ndarray:
    """Held truth: the mean pts of each pair of decoded frames, on the video's timeline."""
    return clip.pts_seconds.reshape(-1, 2).mean(axis=1)


def transformers_seconds(model, indices, fps) -> np.ndarray:
    """transformers' own arithmetic (``Qwen3VLProcessor._calculate_timestamps``) on frame indices."""
    return np.asarray(model.processor._calculate_timestamps(list(indices), fps, 2))


def decoded(model, path, *, fps=2.0, window_seconds=None):
    """Probe, plan with the model family's sampling (4-8 tokens per frame) and decode every window."""
    info = videoqa.probe(path)
    budgets = model.sampling.plan_kwargs(**SETTINGS, total_pixels=1e9)
    plan = videoqa.plan_sampling(info, fps=fps, window_seconds=window_seconds, **budgets)
    return info, plan, list(videoqa.decode(path, plan))


def test_variable_frame_rate_later_window(tiny_qwen3, tmp_path):
    """60 s at 30 fps then 60 s at 10 fps: the average rate (20 fps) puts index 1800 at 90 s, not 60 s."""
    durations = [1 / 30] * 1800 + [0.1] * 600
    path = write_video(
        tmp_path / "vfr.mkv", duration_seconds=120.0, fps=20, width=64, height=36, frame_durations=durations
    )
    info, _, clips = decoded(tiny_qwen3, path, fps=2.0, window_seconds=30.0)
    # (probe judges the rate from the first frames, so it calls this stream constant-rate)
    assert info.average_fps == 20.0
    clip = clips[2]  # 60-90 s: wholly in the 10 fps stretch
    window = clip.window
    assert (window.start_seconds, window.end_seconds) == (60.0, 90.0)
    truth = true_patch_seconds(clip)
    stated = np.asarray(stated_seconds(tiny_qwen3, clip))
    # ours: the true mean pts, relative to the window start, to one decimal
    np.testing.assert_allclose(stated + window.start_seconds, truth, atol=0.05 + 1e-9)
    # frames 60.0 + 60.5, 61.0 + 61.5, 62.0 + 62.5 s: means 60.25, 61.25, 62.25, written as :.1f
    assert stated[:3].tolist() == [0.2, 1.2, 2.2] and len(stated) == 30
    # transformers: stream index / 20 fps; a frame at pts p >= 60 has index 1800 + 10 (p - 60)
    indices = np.round(1800 + (clip.pts_seconds - 60.0) * 10).astype(int)
    theirs = transformers_seconds(tiny_qwen3, indices, info.average_fps)
    error = theirs - truth
    np.testing.assert_allclose(error, 60.0 - truth / 2, atol=1e-9)  # 30 s at 60 s, 15 s at 90 s
    # first patch 60.0 + 60.5 s (true mean 60.25, transformers 90.125), last 89.4 + 89.9 s (89.65 vs 104.825)
    assert error.max() == pytest.approx(29.875) and error.min() == pytest.approx(15.175)


@pytest.mark.usefixtures("qwen_decord")
def test_first_frame_not_at_zero(tiny_qwen3, tmp_path):
    """First frame at 2.5 s: qwen-vl-utils + transformers count from the first frame, 2.5 s early."""
    path = write_video(tmp_path / "late.mp4", duration_seconds=4.0, fps=10, start_seconds=2.5)
    info, _, (clip,) = decoded(tiny_qwen3, path)
    assert info.start_seconds == 2.5 and clip.window.start_seconds == 2.5
    truth = true_patch_seconds(clip)
    # frames linspace(0, 39, 8).round() = 0, 6, ..., 33, 39: (2.5 + 3.1) / 2 ... (5.8 + 6.4) / 2
    assert truth[0] == pytest.approx(2.8) and truth[-1] == pytest.approx(6.1)
    stated = np.asarray(stated_seconds(tiny_qwen3, clip))
    np.testing.assert_allclose(stated + clip.window.start_seconds, truth, atol=0.05 + 1e-9)

    ref, _ = reference_inputs(tiny_qwen3, path)
    theirs = np.asarray(read_timestamps(tiny_qwen3.tokenizer.decode(ref["input_ids"][0])))
    assert theirs.tolist() == stated.tolist()  # same frames, same text: both count from the first frame
    # ... but read on the video's timeline (nothing adds the start back), every time is 2.5 s early.
    np.testing.assert_allclose(theirs - truth, -2.5, atol=0.05 + 1e-9)


def test_later_window_of_a_long_video(tiny_qwen3, long_video):
    """Window 3600-4200 s of a 2-hour 1 fps video, passed to the processor as decoded frames."""
    _, _, clips = decoded(tiny_qwen3, long_video, fps=0.5, window_seconds=600.0)
    clip = clips[6]
    assert (clip.window.start_seconds, clip.window.num_frames) == (3600.0, 300)
    truth = true_patch_seconds(clip)
    stated = np.asarray(stated_seconds(tiny_qwen3, clip))
    np.testing.assert_allclose(stated + 3600.0, truth, atol=0.05 + 1e-9)
    assert stated[:3].tolist() == [1.0, 5.0, 9.0]  # frames at 3600 + {0, 2}, {4, 6}, {8, 10} s
    # Decoded frames without metadata: the processor warns and assumes 24 fps over indices 0..299.
    text = tiny_qwen3.processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "When?"}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ref = tiny_qwen3.processor(
        text=[text], videos=[clip.frames], do_resize=False, do_sample_frames=False, return_tensors="pt"
    )
    theirs = np.asarray(read_timestamps(tiny_qwen3.tokenizer.decode(ref["input_ids"][0])))
    assert theirs[:3].tolist() == [0.0, 0.1, 0.2]  # (0 + 1) / 2 / 24 s, ...
    # relative to the window start they are 48x too short: 12.4 s stated for a patch 598 s in
    assert (truth - 3600.0)[-1] == pytest.approx(598.0) and theirs[-1] == pytest.approx(12.4)


def test_a_request_of_two_windows_states_times_from_the_first_windows_start(tiny_qwen3, tmp_path):
    """Two windows (0-4 s, 4-8 s) in one request: the second's patches say 4.5 and 6.5 s, not 0.5 and 2.5.

    The session adds the first window's start back to every answer, so each window's times count from
    the request's first window, never from its own start.
    """
    path = write_video(tmp_path / "two.mp4", duration_seconds=8.0, fps=1, width=64, height=36)
    _, _, clips = decoded(tiny_qwen3, path, fps=1.0, window_seconds=4.0)
    assert [(c.window.start_seconds, c.window.end_seconds) for c in clips] == [(0.0, 4.0), (4.0, 8.0)]
    assert [c.pts_seconds.tolist() for c in clips] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    request = GenerationRequest(features=tuple(tiny_qwen3.encode(c) for c in clips), prompt="When?")
    ids = list(tiny_qwen3.build_inputs([request])["input_ids"][0])
    text = tiny_qwen3.tokenizer.decode(ids)
    stamps = ["<0.5 seconds>", "<2.5 seconds>", "<4.5 seconds>", "<6.5 seconds>"]
    assert read_timestamps(text) == [0.5, 2.5, 4.5, 6.5]
    assert [t.group(0) for t in re.finditer(r"<[^<>]* seconds>", text)] == stamps
    # Token for token: each stamp's ids sit right before its patch's <|vision_start|>, in order.
    tokenizer = tiny_qwen3.tokenizer
    start_id = tokenizer.convert_tokens_to_ids(tiny_qwen3.vision_start)
    stamp_ids = [list(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in stamps]
    before_starts = [ids[:i] for i, t in enumerate(ids) if t == start_id]
    found = [want for head in before_starts for want in stamp_ids if head[-len(want) :] == want]
    assert found == stamp_ids
    # one <|vision_start|> per temporal patch (the reference layout: no outer pair around a video)
    assert len(before_starts) == 4
