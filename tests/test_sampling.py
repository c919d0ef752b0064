"""Dynamic-FPS plan: exact frame counts, instants, sizes and token costs; parity with qwen-vl-utils.

Peers written against (tests/peers.py): qwen-vl-utils 0.0.14.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from videoqa.synthetic import planned_info
from videoqa.video import VideoInfo, plan_sampling, smart_resize

QWEN_TOTAL_PIXELS = 128000 * 28 * 28 * 0.9


def _info(
    *,
    seconds: float,
    fps: float,
    width: int = 1280,
    height: int = 720,
    start: float = 0.0,
    rotation: int = 0,
    num_frames: int | None = None,
) -> VideoInfo:
    return planned_info(
        duration_seconds=seconds, fps=fps, width=width, height=height, start_seconds=start,
        rotation=rotation, num_frames=num_frames, source="memory://test.mp4",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------- smart_resize


def test_smart_resize_hand_computed():
    # 160x90: rounds to 168x84 = 14112 px < 100352 -> grow by sqrt(100352/14400), round up: 9x16 tokens.
    assert smart_resize(90, 160, min_pixels=128 * 784, max_pixels=768 * 784) == (252, 448)
    # 1280x720: rounds to 1288x728 > 602112 -> shrink by sqrt(921600/602112) = 1.2372 and round down:
    # 720/1.2372/28 = 20.78 -> 20 rows, 1280/1.2372/28 = 36.95 -> 36 columns.
    assert smart_resize(720, 1280, min_pixels=128 * 784, max_pixels=768 * 784) == (560, 1008)
    # Inside the bounds: nearest multiple, halves to even (42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2).
    assert smart_resize(42, 70, min_pixels=1, max_pixels=10**9) == (56, 56)
    # Never below one factor per side.
    assert smart_resize(5, 5, min_pixels=1, max_pixels=10**9) == (28, 28)


def test_smart_resize_equals_qwen_vl_utils_on_a_grid():
    from qwen_vl_utils.vision_process import smart_resize as qwen_smart_resize

    sizes = [(90, 160), (720, 1280), (1080, 1920), (36, 720), (480, 854), (2160, 3840), (101, 103), (28, 28)]
    bounds = [(128 * 784, 768 * 784), (16 * 784, 105369), (4 * 784, 16384 * 784), (100352, 235200)]
    for h, w in sizes:
        for lo, hi in bounds:
            for height, width in ((h, w), (w, h)):
                expected = qwen_smart_resize(height, width, factor=28, min_pixels=lo, max_pixels=hi)
                assert smart_resize(height, width, min_pixels=lo, max_pixels=hi) == expected, (height, width)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(height=0, width=10), "height must be an integer >= 1, got 0"),
        (dict(height=10.5, width=10), "height must be an integer >= 1, got 10.5"),
        (
            dict(height=10, width=10, min_pixels=200, max_pixels=100),
            r"max_pixels \(100\) must be >= min_pixels",
        ),
        (dict(height=10, width=2100), "aspect ratio 210.0, above the model's limit of 200"),
    ],
)
def test_smart_resize_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        smart_resize(**kwargs)


# ---------------------------------------------------------------------------------------- plan: exact rules


def test_default_plan_of_a_ten_second_video():
    plan = plan_sampling(_info(seconds=10.0, fps=30.0, width=160, height=90))
    (window,) = plan.windows
    assert window.num_frames == 20  # 300 frames / 30 fps * 2 fps
    assert window.sampled_fps == 2.0
    assert window.second_per_grid == 1.0
    assert window.pts_seconds == tuple(k * 0.5 for k in range(20))
    assert (window.height, window.width) == (252, 448)
    assert window.grid_thw == (10, 18, 32)
    assert window.visual_tokens == 10 * 9 * 16 == plan.visual_tokens
    assert (plan.target_fps, plan.min_pixels, plan.max_pixels) == (2.0, 100352, 602112)
    assert plan.total_pixels == QWEN_TOTAL_PIXELS


def test_sampled_fps_is_the_true_rate_not_the_nominal_one():
    # 7.5 s at 2 fps asks for 15 frames; an even count gives 14, so the model is told 14 / 7.5 fps.
    (window,) = plan_sampling(_info(seconds=7.5, fps=30.0)).windows
    assert window.num_frames == 14
    assert window.sampled_fps == 14 / 7.5
    assert window.pts_seconds == tuple(k / (14 / 7.5) for k in range(14))


def test_frame_cap_768_binds_on_an_hour():
    # 3600 s * 2 fps = 7200 wanted -> 768. The per-frame cap is total / 768 * 2 = 235200 px:
    # 1280x720 rounds to 1288x728 (937664 px) -> shrink by sqrt(921600/235200) = 1.9795 and round
    # down: 720/1.9795/28 = 12.99 -> 12 rows (336 px), 1280/1.9795/28 = 23.09 -> 23 columns (644 px).
    (window,) = plan_sampling(_info(seconds=3600.0, fps=30.0)).windows
    assert window.num_frames == 768
    assert (window.height, window.width) == (336, 644)
    assert window.visual_tokens == 384 * 12 * 23 == 105984
    assert window.sampled_fps == 768 / 3600
    assert window.pts_seconds[-1] == 767 / (768 / 3600)


def test_min_pixels_floor_binds_with_a_small_budget():
    # Cookbook budget total_pixels = 20480*28*28 over 768 frames is 41813 px per frame, below the floor
    # int(1.05 * 100352) = 105369: the floor wins. 1280x720 shrinks by sqrt(921600/105369) = 2.957:
    # 720/2.957/28 = 8.69 -> 8 rows (224 px), 1280/2.957/28 = 15.46 -> 15 columns (420 px).
    # (224*420 = 94080 px ends below min_pixels, as in qwen-vl-utils: rounding down comes last.)
    plan = plan_sampling(_info(seconds=3600.0, fps=30.0), total_pixels=20480 * 28 * 28)
    (window,) = plan.windows
    assert (window.num_frames, window.height, window.width) == (768, 224, 420)
    assert window.visual_tokens == 384 * 8 * 15 == 46080


def test_hand_computed_budgets_equal_qwen_vl_utils_rules():
    """The two budget cases above, against qwen-vl-utils' own functions (no decoding needed)."""
    from qwen_vl_utils.vision_process import smart_nframes
    from qwen_vl_utils.vision_process import smart_resize as qwen_smart_resize

    for total_pixels in (QWEN_TOTAL_PIXELS, 20480 * 28 * 28):
        n = smart_nframes({}, total_frames=108000, video_fps=30.0)
        cap = max(min(768 * 784, total_pixels / n * 2), int(128 * 784 * 1.05))
        h, w = qwen_smart_resize(720, 1280, factor=28, min_pixels=128 * 784, max_pixels=cap)
        (window,) = plan_sampling(_info(seconds=3600.0, fps=30.0), total_pixels=total_pixels).windows
        assert (window.num_frames, window.height, window.width) == (n, h, w)


def test_frame_count_never_exceeds_the_frames_that_exist():
    # 12 s at 1 fps holds 12 frames; 2 fps would want 24.
    (window,) = plan_sampling(_info(seconds=12.0, fps=1.0)).windows
    assert window.num_frames == 12
    # 3 frames: min_frames=4 cannot be met, the even count below 3 is 2.
    (window,) = plan_sampling(_info(seconds=0.3, fps=10.0)).windows
    assert window.num_frames == 2
    assert window.pts_seconds == (0.0, 0.15)


def test_a_one_frame_video_gets_two_targets_on_that_frame():
    (window,) = plan_sampling(_info(seconds=0.1, fps=10.0)).windows
    assert window.num_frames == 2
    # Both instants fall inside the single frame's display time [0, 0.1).
    assert window.pts_seconds == (0.0, 0.05)
    assert window.grid_thw == (1, 40, 72)  # 1280x720 -> 560x1008 (see test_smart_resize_hand_computed)


def test_non_zero_start_gives_absolute_instants():
    (window,) = plan_sampling(_info(seconds=4.0, fps=10.0, start=2.5)).windows
    assert (window.start_seconds, window.end_seconds) == (2.5, 6.5)
    assert window.num_frames == 8
    assert window.pts_seconds == tuple(2.5 + k * 0.5 for k in range(8))


def test_size_follows_the_display_size_of_a_rotated_video():
    upright = plan_sampling(_info(seconds=2.0, fps=10.0, width=1280, height=720)).windows[0]
    rotated = plan_sampling(_info(seconds=2.0, fps=10.0, width=1280, height=720, rotation=90)).windows[0]
    assert (upright.height, upright.width) == (560, 1008)
    assert (rotated.height, rotated.width) == (1008, 560)


def test_start_and_end_select_a_range():
    (window,) = plan_sampling(_info(seconds=60.0, fps=30.0), start_seconds=5.25, end_seconds=12.75).windows
    assert (window.start_seconds, window.end_seconds) == (5.25, 12.75)
    # Frames on screen during [5.25, 12.75): 157 .. 382 -> 226 frames -> 226/30*2 = 15.07 -> 14.
    assert window.num_frames == 14
    assert window.pts_seconds[0] == 5.25
    assert window.sampled_fps == 14 / 7.5


def test_a_range_reaching_outside_the_video_is_clamped():
    info = _info(seconds=10.0, fps=30.0, start=1.0)
    (window,) = plan_sampling(info, start_seconds=-3.0, end_seconds=99.0).windows
    assert (window.start_seconds, window.end_seconds) == (1.0, 11.0)
    assert window.num_frames == 20


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (11.0, 12.0, r"the range \[11.0, 12.0\) s lies outside the video, which spans \[1.0, 11.0\) s"),
        (-5.0, 1.0, r"the range \[-5.0, 1.0\) s lies outside the video"),
        (5.0, 5.0, r"end_seconds \(5.0\) must be greater than start_seconds \(5.0\)"),
        (6.0, 2.0, r"end_seconds \(2.0\) must be greater than start_seconds \(6.0\)"),
        (float("nan"), None, "start_seconds must be a finite number of seconds or None, got nan"),
    ],
)
def test_a_range_outside_the_video_is_an_error(start, end, message):
    with pytest.raises(ValueError, match=message):
        plan_sampling(_info(seconds=10.0, fps=30.0, start=1.0), start_seconds=start, end_seconds=end)


# ---------------------------------------------------------------------------------------- windows


def test_windows_cut_the_range_with_a_shorter_last_one():
    plan = plan_sampling(_info(seconds=100.0, fps=30.0), window_seconds=30.0)
    bounds = [(w.start_seconds, w.end_seconds) for w in plan.windows]
    assert bounds == [(0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 100.0)]
    assert [w.index for w in plan.windows] == [0, 1, 2, 3]
    assert [w.num_frames for w in plan.windows] == [60, 60, 60, 20]
    assert plan.windows[1].pts_seconds[:3] == (30.0, 30.5, 31.0)
    assert plan.num_frames == 200


def test_a_tiny_tail_joins_the_previous_window():
    # The 0.5 s tail is shorter than one temporal patch at 2 fps (1 s): it joins window 2.
    plan = plan_sampling(_info(seconds=90.5, fps=30.0), window_seconds=30.0)
    bounds = [(w.start_seconds, w.end_seconds) for w in plan.windows]
    assert bounds == [(0.0, 30.0), (30.0, 60.0), (60.0, 90.5)]
    last = plan.windows[-1]
    assert last.num_frames == 60  # 915 frames / 30 * 2 = 61 -> 60
    assert last.sampled_fps == 60 / 30.5
    # A 1 s tail is kept.
    plan = plan_sampling(_info(seconds=91.0, fps=30.0), window_seconds=30.0)
    assert [(w.start_seconds, w.end_seconds) for w in plan.windows][-1] == (90.0, 91.0)
    assert plan.windows[-1].num_frames == 4  # min_frames applies to every window


def test_windows_never_hold_fewer_than_two_frames_of_the_video():
    # 0.05 s holds 1.5 frames at 30 fps: windows widen to 2 / 30 s; 10 s hold 150 of them,
    # 2 frames each: the 300 frames of the video, not one more.
    plan = plan_sampling(_info(seconds=10.0, fps=30.0), fps=30.0, window_seconds=0.05)
    assert len(plan.windows) == 150
    assert plan.windows[1].start_seconds == pytest.approx(2 / 30)
    assert [w.num_frames for w in plan.windows] == [2] * 150
    # A frame every 1000 s: 600 s windows would hold 0.6 frames each; they widen to 2000 s.
    sparse = plan_sampling(_info(seconds=4000.0, fps=0.001), window_seconds=600.0)
    assert [(w.start_seconds, w.end_seconds, w.num_frames) for w in sparse.windows] == [
        (0.0, 2000.0, 2),
        (2000.0, 4000.0, 2),
    ]


def test_budgets_apply_per_window():
    # Two 1-hour windows of a 2-hour video each get the full 768-frame budget.
    plan = plan_sampling(_info(seconds=7200.0, fps=30.0), window_seconds=3600.0)
    assert [w.num_frames for w in plan.windows] == [768, 768]
    assert plan.visual_tokens == 2 * 105984


def test_windows_of_a_sub_range_start_at_its_start():
    plan = plan_sampling(
        _info(seconds=600.0, fps=25.0), start_seconds=100.0, end_seconds=220.0, window_seconds=50
    )
    assert [(w.start_seconds, w.end_seconds) for w in plan.windows] == [
        (100.0, 150.0),
        (150.0, 200.0),
        (200.0, 220.0),
    ]
    assert [w.num_frames for w in plan.windows] == [100, 100, 40]


def test_window_invariants_over_many_videos():
    for seconds in (0.1, 0.3, 1.0, 7.3, 59.9, 600.0, 5400.0):
        for fps in (1.0, 23.976, 29.97, 60.0):
            for target in (0.25, 1.0, 2.0, 4.0):
                info = _info(seconds=seconds, fps=fps, width=854, height=480, start=1.5)
                plan = plan_sampling(info, fps=target, window_seconds=120.0)
                assert plan.windows[0].start_seconds == info.start_seconds
                assert plan.windows[-1].end_seconds == info.end_seconds
                for before, after in itertools.pairwise(plan.windows):
                    assert before.end_seconds == after.start_seconds
                for w in plan.windows:
                    frames_here = math.ceil(round(w.duration_seconds * fps, 6)) + 1
                    assert w.num_frames % 2 == 0 and 2 <= w.num_frames <= max(2, min(768, frames_here))
                    assert w.height % 28 == 0 and w.width % 28 == 0
                    assert w.visual_tokens == w.num_frames // 2 * (w.height // 28) * (w.width // 28)
                    assert w.sampled_fps == w.num_frames / w.duration_seconds
                    assert all(w.start_seconds <= t < w.end_seconds for t in w.pts_seconds)
                    assert list(w.pts_seconds) == sorted(set(w.pts_seconds))


# ---------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(fps=0), "fps must be a finite number > 0, got 0"),
        (dict(fps=-1.0), "fps must be a finite number > 0, got -1.0"),
        (dict(fps=float("inf")), "fps must be a finite number > 0, got inf"),
        (dict(fps="2"), "fps must be a finite number > 0, got '2'"),
        (dict(fps=True), "fps must be a finite number > 0, got True"),
        (dict(min_frames=0), "min_frames must be an integer >= 1, got 0"),
        (dict(max_frames=1), "max_frames must be an integer >= 2, got 1"),
        (dict(max_frames=4.0), "max_frames must be an integer >= 2, got 4.0"),
        (
            dict(min_frames=5, max_frames=5),
            r"max_frames \(5\) must be >= min_frames \(5\) once both are made even",
        ),
        (dict(min_pixels=0), "min_pixels must be an integer >= 1, got 0"),
        (dict(min_pixels=1000, max_pixels=999), r"max_pixels \(999\) must be >= min_pixels \(1000\)"),
        (dict(total_pixels=0), "total_pixels must be a finite number > 0, got 0"),
        (dict(window_seconds=0), "window_seconds must be a finite number > 0, got 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_sampling(_info(seconds=10.0, fps=30.0), **kwargs)


def test_bad_video_facts_are_named():
    with pytest.raises(TypeError, match=r"info must be a videoqa\.VideoInfo"):
        plan_sampling("video.mp4")
    with pytest.raises(ValueError, match=r"memory://test.mp4: VideoInfo.average_fps must be > 0"):
        plan_sampling(replace(_info(seconds=1.0, fps=30.0), average_fps=0.0))
    with pytest.raises(ValueError, match=r"aspect ratio 250\.0, above the model's limit of 200"):
        plan_sampling(_info(seconds=1.0, fps=30.0, width=5000, height=20))
    with pytest.raises(TypeError):
        plan_sampling(_info(seconds=1.0, fps=30.0), 2.0)  # keyword-only


# ---------------------------------------------------------------------------------------- parity


PARITY_CASES = {
    # name: (write_video kwargs, plan/fetch_video kwargs)
    "160x90_10fps_10s": (dict(duration_seconds=10.0, fps=10, width=160, height=90), {}),
    "320x180_29.97fps_3.5s": (dict(duration_seconds=3.5, fps=30000 / 1001, width=320, height=180), {}),
    "1280x720_2fps_3s": (dict(duration_seconds=3.0, fps=2, width=1280, height=720), {}),
    "320x240_1fps_12s": (dict(duration_seconds=12.0, fps=1, width=320, height=240), {}),
    "720x36_25fps_2s": (dict(duration_seconds=2.0, fps=25, width=720, height=36), {}),
    "96x64_10fps_3frames": (dict(duration_seconds=0.3, fps=10, width=96, height=64), {}),
    "854x480_24fps_3.25s": (dict(duration_seconds=3.25, fps=24, width=854, height=480), {}),
    "160x90_10fps_start2.5s": (dict(duration_seconds=4.0, fps=10, start_seconds=2.5), {}),
    "hevc_mkv_25fps_2s": (dict(duration_seconds=2.0, fps=25, width=320, height=180, codec="hevc"), {}),
    "1280x720_total_budget": (
        dict(duration_seconds=4.0, fps=2, width=1280, height=720),
        dict(total_pixels=1500 * 28 * 28),
    ),
    "640x360_fps0.5_minpx": (
        dict(duration_seconds=20.0, fps=2, width=640, height=360),
        dict(fps=0.5, min_pixels=16 * 28 * 28, max_pixels=256 * 28 * 28),
    ),
}


@pytest.fixture(scope="module")
def qwen_decord(monkeypatch_module):
    """qwen-vl-utils' ``fetch_video`` forced onto its decord backend, only for these tests."""
    from qwen_vl_utils import vision_process

    monkeypatch_module.setenv("FORCE_QWENVL_VIDEO_READER", "decord")
    # qwen-vl-utils reads the variable at import time and caches the choice: patch both.
    monkeypatch_module.setattr(vision_process, "FORCE_QWENVL_VIDEO_READER", "decord")
    vision_process.get_video_reader_backend.cache_clear()
    yield vision_process.fetch_video
    vision_process.get_video_reader_backend.cache_clear()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_parity_with_qwen_vl_utils_fetch_video(case, tmp_path_factory, qwen_decord):
    from videoqa import probe
    from videoqa.synthetic import write_video

    write_kwargs, options = PARITY_CASES[case]
    suffix = ".mkv" if write_kwargs.get("codec") == "hevc" else ".mp4"
    path = write_video(tmp_path_factory.mktemp("parity") / f"{case}{suffix}", **write_kwargs)

    video, metadata = qwen_decord(
        {"type": "video", "video": str(path), **options}, return_video_metadata=True
    )
    assert metadata["video_backend"] == "decord"  # no silent fallback to torchvision
    frames, _, height, width = video.shape

    plan = plan_sampling(probe(path), **options)
    (window,) = plan.windows
    assert (window.num_frames, window.height, window.width) == (frames, height, width)
    assert window.visual_tokens == frames // 2 * (height // 28) * (width // 28)


# ------------------------------------------------------------------- parity on Matroska and WebM

# Matroska stores timestamps in milliseconds: 480 frames at 24 fps measure 19.999 s from the
# packets, which once cost a temporal patch (38 frames where qwen-vl-utils plans 40).
MATROSKA_CASES = {
    # name: (codec, suffix, fps, duration_seconds, start_seconds)
    "vp9_webm_24fps_20s": ("vp9", ".webm", 24, 20.0, 0.0),
    "vp9_webm_30fps_13s": ("vp9", ".webm", 30, 13.0, 0.0),
    "h264_mkv_24fps_7s": ("h264", ".mkv", 24, 7.0, 0.0),
    "h264_mkv_29.97fps_7s": ("h264", ".mkv", 30000 / 1001, 7.0, 0.0),
    "h264_mkv_25fps_10s_start1.3s": ("h264", ".mkv", 25, 10.0, 1.3),
    "hevc_mkv_60fps_5s": ("hevc", ".mkv", 60, 5.0, 0.0),
    "hevc_mkv_24fps_9s_start0.5s": ("hevc", ".mkv", 24, 9.0, 0.5),
    "vp9_webm_24fps_11s_start0.25s": ("vp9", ".webm", 24, 11.0, 0.25),
    "av1_mkv_24fps_3s_start0.4s": ("av1", ".mkv", 24, 3.0, 0.4),
    "av1_webm_24fps_5s": ("av1", ".webm", 24, 5.0, 0.0),
}


def _qwen_from_counts(total_frames: int, video_fps: float, height: int, width: int) -> tuple[int, int, int]:
    """qwen-vl-utils' rules (``smart_nframes``, ``fetch_video``'s cap, ``smart_resize``) on decord's facts."""
    from qwen_vl_utils.vision_process import smart_nframes
    from qwen_vl_utils.vision_process import smart_resize as qwen_smart_resize

    nframes = smart_nframes({"fps": 2.0}, total_frames=total_frames, video_fps=video_fps)
    cap = max(min(768 * 28 * 28, QWEN_TOTAL_PIXELS / nframes * 2), int(128 * 28 * 28 * 1.05))
    return (nframes, *qwen_smart_resize(height, width, factor=28, min_pixels=128 * 28 * 28, max_pixels=cap))


@pytest.mark.parametrize("case", sorted(MATROSKA_CASES))
def test_matroska_and_webm_parity_with_qwen_vl_utils(case, tmp_path_factory, qwen_decord):
    import av

    from videoqa import probe
    from videoqa.synthetic import write_video

    codec, suffix, fps, seconds, start = MATROSKA_CASES[case]
    path = write_video(
        tmp_path_factory.mktemp("mkv") / f"{case}{suffix}",
        duration_seconds=seconds,
        fps=fps,
        codec=codec,
        start_seconds=start,
    )
    if codec == "av1":
        # decord 0.6 has no AV1 decoder ("cannot find video stream"): apply qwen-vl-utils' rules
        # to the facts decord reads (packets in the stream, the stream's average rate).
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate)
            total = sum(1 for p in container.demux(stream) if p.size)
        expected = _qwen_from_counts(total, rate, 90, 160)
        expected_fps = expected[0] / total * rate
    else:
        video, metadata = qwen_decord({"type": "video", "video": str(path)}, return_video_metadata=True)
        assert metadata["video_backend"] == "decord"
        expected = (video.shape[0], video.shape[2], video.shape[3])
        expected_fps = video.shape[0] / metadata["total_num_frames"] * metadata["fps"]

    info = probe(path)
    (window,) = plan_sampling(info).windows
    assert (window.num_frames, window.height, window.width) == expected
    assert expected[0] == math.floor(round(seconds * fps) / fps * 2 / 2) * 2  # the truth, not a rounding
    assert window.visual_tokens == expected[0] // 2 * (expected[1] // 28) * (expected[2] // 28)
    # The rate the model is told (and so Qwen2.5-VL's temporal positions) is qwen-vl-utils' too.
    assert window.sampled_fps == pytest.approx(expected_fps, rel=1e-12)
    assert info.start_seconds == pytest.approx(start, abs=5e-4)
    assert info.duration_seconds == pytest.approx(round(seconds * fps) / fps, abs=1e-9)
