"""Which video stream: FFmpeg's best one by default, any one on request, recorded.

A generated mp4 with two video streams (stream 0 small and red, not default; stream 1 larger and
blue, default) always runs; the real files of ``../shared/real_media/torchcodec`` (when present)
check the same on a file no one here encoded, with every frame's pts against ffprobe's listings.
"""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import videoqa
from tests.test_decode import plan_of, window
from videoqa.core.settings import Settings, config_hash
from videoqa.errors import NoVideoStreamError

_ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the repository (a worktree under /work/wt/NAME looks one level higher too)
_SHARED = next((p for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()), _ROOT)
REAL = _SHARED / "real_media" / "torchcodec"
NASA = REAL / "nasa_13013.mp4"

# (width, height, rate, frames, colour, default disposition) of the generated file's two streams
STREAMS = [
    (64, 36, Fraction(25), 20, (200, 30, 30), False),
    (96, 54, Fraction(30000, 1001), 24, (30, 30, 200), True),
]


def _write_two_streams(path: Path) -> None:
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        streams = []
        for width, height, rate, _, _, default in STREAMS:
            s = out.add_stream("libx264", rate=rate)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            s.options = {"g": "5", "bf": "0"}
            s.disposition = av.stream.Disposition.default if default else av.stream.Disposition(0)
            streams.append(s)
        for s, (width, height, _, frames, colour, _) in zip(streams, STREAMS, strict=True):
            for i in range(frames):
                image = np.empty((height, width, 3), np.uint8)
                image[:] = colour
                image[: height // 4] = rng.integers(
                    0, 255, (height // 4, width, 3)
                )  # bits, so bit rates differ
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = i
                frame.time_base = 1 / s.codec_context.framerate
                for packet in s.encode(frame):
                    out.mux(packet)
            for packet in s.encode():
                out.mux(packet)


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streams") / "two_streams.mp4"
    _write_two_streams(path)
    return path


def _frame_pts(path: Path, index: int) -> list[float]:
    """Every frame's pts of stream ``index``, from its packets (no decoding)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams[index]
        return sorted(float(p.pts * p.time_base) for p in container.demux(stream) if p.size)


def _all_frames(path: Path, info: videoqa.VideoInfo, pts: list[float], *, height: int, width: int):
    plan = plan_of(window(pts, height=height, width=width))
    (clip,) = videoqa.decode(path, dataclasses.replace(plan, stream_index=info.stream_index))
    return clip


def test_default_is_ffmpegs_best_stream_and_any_stream_can_be_asked_for(two_streams: Path) -> None:
    best = videoqa.probe(two_streams)
    assert (best.stream_index, best.width, best.height, best.num_frames) == (1, 96, 54, 24)
    assert best.average_fps == pytest.approx(30000 / 1001)
    first = videoqa.probe(two_streams, stream_index=0)
    assert (first.stream_index, first.width, first.height, first.num_frames) == (0, 64, 36, 20)
    assert first.average_fps == 25.0
    for info, (width, height, _, frames, colour, _) in zip((first, best), STREAMS, strict=True):
        pts = _frame_pts(two_streams, info.stream_index)
        assert len(pts) == frames
        clip = _all_frames(two_streams, info, pts, height=height, width=width)
        assert clip.pts_seconds.tolist() == pts
        bottom = clip.frames[:, height // 2 :].reshape(-1, 3).mean(axis=0)
        assert np.abs(bottom - colour).max() < 12, (info.stream_index, bottom)


def _on_screen(pts: list[float], targets: tuple[float, ...]) -> list[float]:
    return [max([p for p in pts if p <= t + 1e-9], default=pts[0]) for t in targets]


def test_a_plan_decodes_the_stream_it_was_probed_from(two_streams: Path) -> None:
    info = videoqa.probe(two_streams, stream_index=0)
    plan = videoqa.plan_sampling(info, fps=2.0)
    assert plan.stream_index == 0
    assert plan.subset([0]).stream_index == 0
    (clip,) = videoqa.decode(two_streams, plan)
    targets = plan.windows[0].pts_seconds
    assert clip.pts_seconds.tolist() == _on_screen(_frame_pts(two_streams, 0), targets)
    assert clip.frames.shape[1:3] == (plan.windows[0].height, plan.windows[0].width)
    default_plan = videoqa.plan_sampling(videoqa.probe(two_streams), fps=2.0)
    assert default_plan.stream_index == 1
    (other,) = videoqa.decode(two_streams, default_plan)
    targets = default_plan.windows[0].pts_seconds
    assert other.pts_seconds.tolist() == _on_screen(_frame_pts(two_streams, 1), targets)
    assert other.pts_seconds.tolist() != _on_screen(_frame_pts(two_streams, 0), targets)


def test_asking_for_a_stream_that_is_no_video(two_streams: Path) -> None:
    with pytest.raises(NoVideoStreamError, match=r"video_stream=2 is not a video stream .* are \[0, 1\]"):
        videoqa.probe(two_streams, stream_index=2)


def test_decord_refuses_a_stream_it_cannot_read(two_streams: Path) -> None:
    pytest.importorskip("decord")
    info = videoqa.probe(two_streams, stream_index=0)
    plan = videoqa.plan_sampling(info, fps=2.0)
    with pytest.raises(
        videoqa.errors.UnsupportedVideoError, match="decord reads only FFmpeg's best video stream"
    ):
        next(iter(videoqa.decode(two_streams, plan, backend="decord")))
    best = videoqa.plan_sampling(videoqa.probe(two_streams), fps=2.0)
    (clip,) = videoqa.decode(two_streams, best, backend="decord")
    assert clip.pts_seconds.tolist() == _on_screen(_frame_pts(two_streams, 1), best.windows[0].pts_seconds)


def test_the_setting_is_validated_hashed_only_when_set_and_recorded() -> None:
    assert Settings().video_stream is None
    assert config_hash("m", Settings()) == "cc9d5b430e842b70"  # the default hash of main before the field
    assert config_hash("m", Settings(video_stream=0)) != config_hash("m", Settings())
    assert config_hash("m", Settings(video_stream=3)) != config_hash("m", Settings(video_stream=0))
    with pytest.raises(ValueError, match="video_stream must be an integer >= 0"):
        Settings(video_stream=-1)
    assert Settings.from_columns(Settings().columns() | {"video_stream": 2}).video_stream == 2
    old_row = {k: v for k, v in Settings().columns().items() if k != "video_stream"}  # rows written before
    assert Settings.from_columns(old_row) == Settings()


def test_session_reads_the_stream_the_settings_name_and_records_it(two_streams: Path) -> None:
    from videoqa.records import analysis_to_rows

    for stream in (None, 0):
        session = videoqa.Session("builtin:scripted", fps=2.0, video_stream=stream)
        analysis = session.analyze(two_streams, "When?")
        assert analysis.video_stream_index == (1 if stream is None else 0)
        rows = analysis_to_rows(
            analysis, video=str(two_streams), video_id="v", model_id="builtin:scripted",
            settings=session.settings, config="c",
        )  # fmt: skip
        assert {r["stream_index"] for r in rows.windows} == {analysis.video_stream_index}
        # the scripted model sees no pixels: the pts say which stream was read
        read = analysis.steps[0].windows[0].pts_seconds
        assert set(read) <= set(_frame_pts(two_streams, analysis.video_stream_index))
        assert not set(read) <= set(_frame_pts(two_streams, 1 - analysis.video_stream_index))


# ----------------------------------------------------------------------------------- real files

needs_real = pytest.mark.skipif(not NASA.exists(), reason="../shared/real_media/torchcodec not present")


def _listing(index: int) -> list[float]:
    entries = json.loads(Path(f"{NASA}.stream{index}.all_frames_info.json").read_text())
    return [float(e["pts_time"]) for e in entries]


@needs_real
def test_nasa_best_stream_is_3_and_every_frame_pts_matches_ffprobe() -> None:
    best = videoqa.probe(NASA)
    assert (best.stream_index, best.width, best.height, best.num_frames) == (3, 480, 270, 390)
    first = videoqa.probe(NASA, stream_index=0)
    assert (first.stream_index, first.width, first.height, first.num_frames) == (0, 320, 180, 325)
    for info in (first, best):
        listed = _listing(info.stream_index)
        assert len(listed) == info.num_frames
        clip = _all_frames(NASA, info, listed, height=28, width=56)
        # ffprobe prints 6 decimals
        assert np.round(clip.pts_seconds, 6).tolist() == listed, info.stream_index
        assert clip.stale_targets == ()


OTHER_REAL = ["av1_video.mkv", "h265_video.mp4", "h264_10bits.mp4", "h265_10bits.mp4", "bt709_full_range.mp4"]


@needs_real
@pytest.mark.parametrize("name", OTHER_REAL)
def test_other_real_files_every_frame_at_its_own_pts(name: str) -> None:
    path = REAL / name
    info = videoqa.probe(path)
    pts = _frame_pts(path, info.stream_index)
    assert len(pts) == info.num_frames
    clip = _all_frames(path, info, pts, height=28, width=28)
    assert clip.pts_seconds.tolist() == pts
    assert clip.warnings == []


@needs_real
@pytest.mark.parametrize("name", [*OTHER_REAL, "nasa_13013.mp4"])
def test_same_frames_and_colours_as_torchcodec(name: str) -> None:
    torchcodec = pytest.importorskip("torchcodec.decoders", reason="torchcodec is not installed")
    path = REAL / name
    info = videoqa.probe(path)
    decoder = torchcodec.VideoDecoder(str(path))
    assert decoder.stream_index == info.stream_index
    pts = _frame_pts(path, info.stream_index)[:: max(1, info.num_frames // 12)]
    clip = _all_frames(path, info, pts, height=info.display_height, width=info.display_width)
    theirs = decoder.get_frames_played_at(pts)
    assert clip.pts_seconds.tolist() == pytest.approx(theirs.pts_seconds.tolist(), abs=1e-6)
    ours = clip.frames.astype(np.float64).mean(axis=(1, 2))
    reference = theirs.data.permute(0, 2, 3, 1).double().mean(dim=(1, 2)).numpy()
    assert np.abs(ours - reference).max() <= 1.2


def test_cache_keys_name_the_stream_unless_it_is_stream_0(two_streams: Path) -> None:
    from videoqa.core._session import _decoder_tag

    plan = videoqa.plan_sampling(videoqa.probe(two_streams), fps=2.0)
    tags = [_decoder_tag(Settings(), dataclasses.replace(plan, stream_index=i)) for i in (None, 0, 1)]
    assert tags == ["pyav", "pyav", "pyav:stream1"]  # stream 0: the keys of every entry written before
    assert _decoder_tag(Settings(decode_backend="decord"), plan) == "decord:stream1"


class _FakeStream:
    def __init__(self, index: int, disposition: int, bit_rate: int):
        import av

        self.index, self.disposition = index, av.stream.Disposition(disposition)
        self.codec_context = type("Codec", (), {"bit_rate": bit_rate})()


class _FakeStreams:
    def __init__(self, video: list, best: object):
        self.video, self._best = video, best

    def best(self, kind: str) -> object:
        return self._best


def test_when_ffmpegs_pick_is_cover_art_the_same_rule_runs_over_the_videos() -> None:
    from videoqa.video._container import video_stream

    default, pic, impaired = 1, 1024, 128  # AV_DISPOSITION_DEFAULT, _ATTACHED_PIC, _HEARING_IMPAIRED
    cover = _FakeStream(0, default | pic, 10**9)
    plain = _FakeStream(1, 0, 900)
    chosen = _FakeStream(2, default, 500)  # default disposition beats a higher bit rate
    rich = _FakeStream(3, 0, 800)
    flagged = _FakeStream(4, default | impaired, 10**6)
    container = type("C", (), {"streams": _FakeStreams([cover, plain, chosen, rich, flagged], cover)})()
    assert video_stream(container, "f").index == 2
    container.streams = _FakeStreams([cover, plain, rich], cover)
    assert video_stream(container, "f").index == 1  # equal disposition: the higher bit rate
    container.streams = _FakeStreams([cover, _FakeStream(1, 0, 800), rich], cover)
    assert video_stream(container, "f").index == 1  # equals: the first
