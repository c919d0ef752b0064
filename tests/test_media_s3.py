"""s3:// sources through fsspec with storage_options, against a local moto S3 server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

import videoqa
from tests.media import media_path
from tests.test_decode import assert_exact, plan_of, window
from videoqa import errors

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict]:
    import s3fs

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"},
    }
    try:
        fs = s3fs.S3FileSystem(**options)
        fs.call_s3("create_bucket", Bucket="videos")
        fs.put(str(media_path("start_mkv")), "videos/in/start.mkv")
        fs.put(str(media_path("h264_mp4")), "videos/in/h264.mp4")
        yield options
    finally:
        server.stop()


def test_probe_and_decode_from_s3_match_local(s3_options: dict) -> None:
    for key, url in [("start_mkv", "s3://videos/in/start.mkv"), ("h264_mp4", "s3://videos/in/h264.mp4")]:
        local = media_path(key)
        info = videoqa.probe(url, storage_options=s3_options)
        assert info.source == url
        assert {**vars(info), "source": None} == {**vars(videoqa.probe(local)), "source": None}
        plan = plan_of(window([0.0, 2.55, 3.0, 5.95], height=28, width=56))
        (remote,) = videoqa.decode(url, plan, storage_options=s3_options)
        assert_exact(remote, local)
        (decorded,) = videoqa.decode(url, plan, backend="decord", storage_options=s3_options)
        np.testing.assert_array_equal(decorded.pts_seconds, remote.pts_seconds)


def test_missing_object_and_missing_bucket(s3_options: dict) -> None:
    with pytest.raises(errors.VideoNotFoundError, match=r"s3://videos/in/nope\.mp4: no such object"):
        videoqa.probe("s3://videos/in/nope.mp4", storage_options=s3_options)
    with pytest.raises(errors.VideoNotFoundError, match=r"s3://no-such-bucket/x\.mp4"):
        videoqa.probe("s3://no-such-bucket/x.mp4", storage_options=s3_options)
