"""An unreachable store is not a missing object: it is retried, then reported as unreachable.

Against a local moto S3 server (missing keys and prefixes) and an unused loopback port (nothing
answers), for the listing and questions reads of a job, for ``open_source`` over HTTP, and for the
batch guard's retry decision.
"""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from videoqa._remote import path_kind, unreachable_cause
from videoqa.batch._guard import is_transient
from videoqa.batch._inputs import list_videos, read_questions
from videoqa.errors import SourceUnreachableError, VideoNotFoundError
from videoqa.video._source import open_source


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _s3_options(port: int) -> dict:
    return {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1"},
        "config_kwargs": {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 2},
    }


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict]:
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    import s3fs

    port = _unused_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = _s3_options(port)
    try:
        fs = s3fs.S3FileSystem(**options)
        fs.call_s3("create_bucket", Bucket="bkt")
        fs.pipe("bkt/videos/a.mp4", b"not really a video")
        fs.pipe("bkt/q.jsonl", b'{"question_id": "q1", "question": "What?"}\n')
        yield options
    finally:
        server.stop()


def test_missing_objects_are_missing(s3_options: dict) -> None:
    assert [v.video_id for v in list_videos("s3://bkt/videos/", storage_options=s3_options)] == ["a.mp4"]
    questions = read_questions("s3://bkt/q.jsonl", storage_options=s3_options)
    assert [q.question.question_id for q in questions] == ["q1"]
    with pytest.raises(FileNotFoundError, match="nothing exists there"):
        list_videos("s3://bkt/nope/", storage_options=s3_options)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_questions("s3://bkt/nope.jsonl", storage_options=s3_options)


def test_unreachable_store_is_unreachable_not_missing() -> None:
    pytest.importorskip("s3fs")
    options = _s3_options(_unused_port())  # nothing listens there
    with pytest.raises(SourceUnreachableError, match=r"s3://bkt/videos/: cannot reach the store .* 3 tries"):
        list_videos("s3://bkt/videos/", storage_options=options)
    with pytest.raises(SourceUnreachableError, match=r"s3://bkt/q\.jsonl: cannot reach the store") as caught:
        read_questions("s3://bkt/q.jsonl", storage_options=options)
    assert caught.value.transient
    assert is_transient(caught.value)


class _Flaky:
    """An fsspec-like filesystem whose ``info`` fails with ``errors`` first (one per call)."""

    def __init__(self, *errors: BaseException):
        self.errors = list(errors)
        self.calls = 0

    def info(self, path: str) -> dict:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"name": path, "type": "file"}


def _wrapped(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def test_path_kind_retries_unreachable_only() -> None:
    refused = _wrapped(FileNotFoundError("http://h/x"), ConnectionRefusedError(111, "refused"))
    fs = _Flaky(refused, TimeoutError("timed out"))
    assert path_kind(fs, "x", name="x", attempts=3, backoff_seconds=0) == "file"
    assert fs.calls == 3
    down = _Flaky(*[ConnectionResetError("reset")] * 5)
    with pytest.raises(SourceUnreachableError, match="after 4 tries"):
        path_kind(down, "x", name="x", attempts=4, backoff_seconds=0)
    assert down.calls == 4
    missing = _Flaky(FileNotFoundError("x"))
    assert path_kind(missing, "x", name="x", backoff_seconds=0) == "missing"
    assert missing.calls == 1  # a missing object is an answer: not retried


def test_guard_retries_network_errors_in_any_wrapping() -> None:
    botocore = pytest.importorskip("botocore.exceptions")
    assert is_transient(botocore.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    http_missing = _wrapped(FileNotFoundError("http://h/x"), socket.gaierror(-2, "Name or service not known"))
    assert is_transient(http_missing)
    assert unreachable_cause(http_missing) is http_missing.__cause__
    assert not is_transient(FileNotFoundError("really missing"))
    assert unreachable_cause(FileNotFoundError("really missing")) is None


def test_http_source_unreachable_vs_missing(tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        missing = f"http://127.0.0.1:{server.server_port}/missing.mp4"
        with pytest.raises(VideoNotFoundError, match="no such object"), open_source(missing):
            pass
    finally:
        server.shutdown()
        server.server_close()
    unreachable = f"http://127.0.0.1:{_unused_port()}/x.mp4"
    with pytest.raises(SourceUnreachableError, match="reach the host") as caught, open_source(unreachable):
        pass
    assert is_transient(caught.value)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_videoqa_run_exits_75_when_the_store_does_not_answer(tmp_path: Path, capsys) -> None:
    pytest.importorskip("s3fs")
    import json

    from videoqa.cli import main

    options = json.dumps(_s3_options(_unused_port()))
    code = main(["run", "--videos", "s3://bkt/videos/", "--questions", "s3://bkt/q.jsonl",
                 "--output", str(tmp_path / "out"), "--model", "builtin:scripted",
                 "--storage-options", options])  # fmt: skip
    assert code == 75
    assert "s3://bkt/videos/: cannot reach the store" in capsys.readouterr().out


def test_a_network_failure_while_listing_is_unreachable() -> None:
    from videoqa._remote import reported_unreachable

    botocore = pytest.importorskip("botocore.exceptions")
    expected = pytest.raises(SourceUnreachableError, match=r"s3://bkt/videos/: cannot reach the store")
    with expected as caught, reported_unreachable("s3://bkt/videos/"):
        raise botocore.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert caught.value.transient
    with pytest.raises(KeyError), reported_unreachable("x"):
        raise KeyError("not a network error")


def test_job_output_on_an_unreachable_store_is_not_read_as_empty() -> None:
    """Reading a job's tables and finishing its compactions: unreachable, never "no output"
    (an empty read would resume from nothing; a finished-looking compaction would keep the
    files it replaced beside their rows)."""
    pytest.importorskip("s3fs")
    from videoqa.batch._compact import finish_compaction
    from videoqa.batch._read import read_tables

    options = _s3_options(_unused_port())  # nothing listens there
    with pytest.raises(SourceUnreachableError, match=r"s3://bkt/out: cannot reach the store"):
        read_tables("s3://bkt/out", tables=["answers"], storage_options=options)
    with pytest.raises(SourceUnreachableError, match=r"bkt/out/.*: cannot reach the store"):
        finish_compaction("s3://bkt/out", storage_options=options)
