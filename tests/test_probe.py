"""probe(): exact facts of generated videos, and a typed error naming the file for each broken one."""

from __future__ import annotations

import struct
from pathlib import Path

import fsspec
import pytest

import videoqa
from tests.media import MEDIA, media_path
from videoqa import errors
from videoqa.video._source import open_source

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
MKV = "matroska,webm"


@pytest.mark.parametrize(
    ("key", "container", "codec", "num_frames_source"),
    [
        ("h264_mp4", MP4, "h264", "header"),
        ("hevc_mkv", MKV, "hevc", "counted"),
        ("vp9_webm", MKV, "vp9", "counted"),
        ("av1_mkv", MKV, "av1", "counted"),
        ("av1_mp4", MP4, "av1", "header"),
        ("start_mp4", MP4, "h264", "header"),
        ("start_mkv", MKV, "h264", "counted"),
        ("bframes_long_gop_mp4", MP4, "h264", "header"),
        ("wide_mp4", MP4, "h264", "header"),
        ("one_frame_mp4", MP4, "h264", "header"),
        ("long_lowres_mp4", MP4, "h264", "header"),
    ],
)
def test_constant_frame_rate_facts(key: str, container: str, codec: str, num_frames_source: str) -> None:
    spec = MEDIA[key]
    info = videoqa.probe(media_path(key))
    width, height = spec.display_size
    duration = spec.num_frames / spec.fps
    assert (info.container, info.codec) == (container, codec)
    assert (info.width, info.height, info.rotation) == (width, height, 0)
    assert info.start_seconds == spec.frame_times[0]
    assert info.duration_seconds == pytest.approx(duration, abs=1e-9)
    assert info.end_seconds == pytest.approx(spec.frame_times[-1] + 1 / spec.fps, abs=1e-9)
    assert info.num_frames == spec.num_frames
    assert info.num_frames_source == num_frames_source
    assert info.average_fps == pytest.approx(spec.fps, abs=1e-9)
    assert info.is_variable_frame_rate is False
    gop = spec.write_kwargs.get("gop_seconds", 2.0)
    expected_gop = gop if duration > gop else None  # one keyframe only: spacing unknown
    assert info.keyframe_interval_seconds == (None if expected_gop is None else pytest.approx(expected_gop))


@pytest.mark.parametrize("key", ["vfr_mkv", "vfr_mp4"])
def test_variable_frame_rate(key: str) -> None:
    spec = MEDIA[key]
    info = videoqa.probe(media_path(key))
    assert info.is_variable_frame_rate is True
    assert info.start_seconds == 0.0
    # The last frame lasts what the encoder declared for it: one nominal frame (1/8 s).
    assert info.end_seconds == pytest.approx(spec.frame_times[-1] + 1 / spec.fps, abs=1e-9)
    if key.endswith("mp4"):
        assert (info.num_frames, info.num_frames_source) == (80, "header")
    else:  # Matroska states no count; a short file's packets are all seen, so they are counted
        assert (info.num_frames, info.num_frames_source) == (80, "counted")


@pytest.mark.parametrize(("key", "rotation"), [("rot90_mp4", 90), ("rot180_mp4", 180), ("rot270_mp4", 270)])
def test_rotation_from_display_matrix(key: str, rotation: int) -> None:
    info = videoqa.probe(media_path(key))
    assert info.rotation == rotation
    shown_w, shown_h = MEDIA[key].display_size
    assert (info.display_width, info.display_height) == (shown_w, shown_h)
    coded = (shown_h, shown_w) if rotation in (90, 270) else (shown_w, shown_h)
    assert (info.width, info.height) == coded


def test_long_video_probe_is_cheap() -> None:
    info = videoqa.probe(media_path("long_lowres_mp4"))
    assert (info.num_frames, info.duration_seconds, info.keyframe_interval_seconds) == (7200, 7200.0, 10.0)


@pytest.mark.parametrize(
    ("key", "error", "says"),
    [
        ("empty", errors.EmptyVideoError, r"empty \(0 bytes\)"),
        ("text", errors.NotAVideoError, "cannot read this as a media file"),
        ("truncated_no_moov", errors.TruncatedVideoError, "truncated"),
        ("truncated_header", errors.TruncatedVideoError, "truncated"),
        ("truncated_mkv", errors.TruncatedVideoError, "Matroska segment"),
        ("audio_only", errors.NoVideoStreamError, "only audio"),
        ("audio_cover_art", errors.NoVideoStreamError, "cover-art"),
    ],
)
def test_broken_files_raise_typed_errors(key: str, error: type[Exception], says: str) -> None:
    path = media_path(key)
    with pytest.raises(error, match=says) as caught:
        videoqa.probe(path)
    assert path.name in str(caught.value)
    assert isinstance(caught.value, errors.MediaError) and caught.value.source == str(path)
    assert caught.value.transient is False


def test_mp4_cut_before_moov_is_truncated_not_garbage(tmp_path: Path) -> None:
    # A faststart-less mp4 cut anywhere in its mdat: FFmpeg says "moov atom not found".
    data = media_path("h264_mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) - 5000])
    with pytest.raises(errors.TruncatedVideoError, match=r"cut\.mp4"):
        videoqa.probe(cut)


def test_unusual_but_whole_mp4_layout_is_not_called_truncated(tmp_path: Path) -> None:
    # An extra top-level 'meta' box before moov and a trailing 'free' box: valid, so no error.
    data = media_path("h264_mp4").read_bytes()
    moov = data.find(b"moov") - 4
    meta = struct.pack(">I4s", 16, b"meta") + bytes(8)
    path = tmp_path / "extra_boxes.mp4"
    path.write_bytes(data[:moov] + meta + data[moov:] + struct.pack(">I4s", 8, b"free"))
    assert videoqa.probe(path).num_frames == 100


def test_missing_file() -> None:
    with pytest.raises(errors.VideoNotFoundError, match=r"nope\.mp4: no such file"):
        videoqa.probe("/definitely/not/here/nope.mp4")
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError, for callers that catch that
        videoqa.probe("/definitely/not/here/nope.mp4")


def test_file_url_and_fsspec_url_give_the_same_facts() -> None:
    path = media_path("start_mkv")
    local = videoqa.probe(path)
    fs = fsspec.filesystem("memory")
    fs.pipe("/probe-test/start.mkv", path.read_bytes())
    try:
        remote = videoqa.probe("memory://probe-test/start.mkv")
    finally:
        fs.rm("/probe-test/start.mkv")
    from_file_url = videoqa.probe(f"file://{path}")
    for other in (remote, from_file_url):
        assert {**vars(other), "source": None} == {**vars(local), "source": None}
    with pytest.raises(errors.VideoNotFoundError, match=r"memory://probe-test/missing\.mkv"):
        videoqa.probe("memory://probe-test/missing.mkv")


class _FlakyFile(fsspec.spec.AbstractBufferedFile):
    def _fetch_range(self, start: int, end: int) -> bytes:
        raise ConnectionResetError("connection reset by peer")


class _FlakyFileSystem(fsspec.AbstractFileSystem):
    protocol = "flaky"

    def info(self, path: str, **kwargs: object) -> dict:
        return {"name": path, "size": 100_000, "type": "file"}

    def _open(self, path: str, mode: str = "rb", **kwargs: object) -> _FlakyFile:
        return _FlakyFile(self, path, mode, size=100_000, cache_type="none")


def test_read_failures_are_transient_source_errors() -> None:
    fsspec.register_implementation("flaky", _FlakyFileSystem, clobber=True)
    with pytest.raises(errors.SourceIOError, match=r"flaky://bucket/video\.mp4") as caught:
        videoqa.probe("flaky://bucket/video.mp4")
    assert caught.value.transient is True


def test_open_source_reports_size_for_urls() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe("/probe-test/blob.bin", b"x" * 1234)
    try:
        with open_source("memory://probe-test/blob.bin") as src:
            assert src.size == 1234 and src.read_head(3) == b"xxx"
    finally:
        fs.rm("/probe-test/blob.bin")


def test_gs_url_without_gcsfs_names_the_extra() -> None:
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed")
    with pytest.raises(errors.MissingExtraError, match=r"pip install 'videoqa\[gcs\]'"):
        videoqa.probe("gs://bucket/video.mp4")


def test_media_errors_translates_pyav_and_os_errors() -> None:
    import av

    from videoqa.video._container import media_errors

    url = "s3://b/clip.mp4"
    bad_data = av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
    with pytest.raises(errors.DecodeError) as decode_failure, media_errors(url, doing="decoding"):
        raise bad_data
    assert str(decode_failure.value) == (
        "s3://b/clip.mp4: decoding failed: [Errno 1094995529] Invalid data found when processing input; "
        "the stream is damaged, re-encode the file"
    )
    assert decode_failure.value.__cause__ is bad_data and not decode_failure.value.transient
    with pytest.raises(errors.SourceIOError) as io_failure, media_errors(url, doing="decoding"):
        raise ConnectionResetError("peer reset")
    assert str(io_failure.value) == "s3://b/clip.mp4: reading failed while decoding: peer reset; retry later"
    assert io_failure.value.transient
    own = errors.TruncatedVideoError(url, "cut short")
    with pytest.raises(errors.TruncatedVideoError) as passed_through, media_errors(url, doing="x"):
        raise own
    assert passed_through.value is own


# ------------------------------------------------------------------- URL failures name the URL and the fix


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_hosts_are_transient_source_errors_naming_the_url() -> None:
    port = _closed_port()
    for url in (f"http://127.0.0.1:{port}/clip.mp4", "ftp://no-such-host.invalid/clip.mp4"):
        with pytest.raises(errors.SourceIOError) as caught:
            videoqa.probe(url)
        message = str(caught.value)
        assert message.startswith(f"{url}: cannot reach the host (")  # was "no such object" / gaierror
        assert message.endswith("check the URL and that the server is up, then retry")
        assert caught.value.transient is True


def test_an_unknown_protocol_is_refused_with_the_supported_ones() -> None:
    with pytest.raises(
        errors.SourceAccessError, match=r"^nope://b/clip\.mp4: unsupported URL protocol 'nope'"
    ):
        videoqa.probe("nope://b/clip.mp4")


def test_s3_without_credentials_says_how_to_give_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("s3fs")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    options = {
        "client_kwargs": {"region_name": "us-east-1"},
        "endpoint_url": f"http://127.0.0.1:{_closed_port()}",
    }
    with pytest.raises(errors.SourceAccessError) as caught:  # was an 88-line botocore traceback
        videoqa.probe("s3://bucket/clip.mp4", storage_options=options)
    assert str(caught.value) == (
        "s3://bucket/clip.mp4: no credentials for s3:// (Unable to locate credentials); set "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or pass storage_options "
        "(e.g. {'anon': True} for a public bucket)"
    )
    assert caught.value.transient is False


@pytest.mark.parametrize(("width", "height"), [(4000, 16), (16, 4000)])
def test_frames_too_elongated_for_the_model_name_the_file(tmp_path: Path, width: int, height: int) -> None:
    from videoqa.synthetic import write_video

    path = write_video(
        tmp_path / f"thin_{width}x{height}.mp4", duration_seconds=0.3, fps=10, width=width, height=height
    )
    info = videoqa.probe(path)
    with pytest.raises(errors.UnsupportedVideoError) as caught:
        videoqa.plan_sampling(info)
    assert str(caught.value) == (
        f"{path}: its {width}x{height} frames have aspect ratio 250.0, above the model's limit of 200 "
        "(the Qwen processors refuse them); crop or pad the video to at most 200:1"
    )
    assert isinstance(caught.value, ValueError)  # still a bad input, as before
