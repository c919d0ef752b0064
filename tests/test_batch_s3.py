"""The batch job reading videos and writing Parquet over ``s3://``, against moto's S3 server on loopback."""

from __future__ import annotations

import json

import pytest

from tests.batch_util import GOOD, items, tables, write_good_videos
from videoqa.batch import JobConfig, run_job
from videoqa.batch._local_ray import local_ray

ray = pytest.importorskip("ray")
s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def s3_options():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"},
    }
    import boto3

    boto3.client(
        "s3", aws_access_key_id="testing", aws_secret_access_key="testing", **options["client_kwargs"]
    ).create_bucket(Bucket="videos-bucket")
    yield options
    server.stop()


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(num_cpus=2, object_store_bytes=300 * 1024**2):  # on 127.0.0.1 only
        yield


def test_s3_input_and_output(ray_local, s3_options, tmp_path):
    fs = s3fs.S3FileSystem(**s3_options)
    local = write_good_videos(tmp_path / "videos", {k: GOOD[k] for k in ("a.mp4", "sub/c.mp4")})
    fs.put(str(local) + "/", "videos-bucket/in/", recursive=True)
    fs.pipe("videos-bucket/in/broken.mp4", b"not a video" * 50)
    questions = [
        {"question_id": "red", "question": "a red square appears", "task": "grounding"},
        {"question_id": "what", "question": "Which colours are shown?", "task": "qa", "videos": "sub/*"},
    ]
    fs.pipe("videos-bucket/questions.jsonl", "".join(json.dumps(q) + "\n" for q in questions).encode())
    config = JobConfig(
        videos="s3://videos-bucket/in/", questions="s3://videos-bucket/questions.jsonl",
        output="s3://videos-bucket/out", model="builtin:scripted", storage_options=s3_options,
    )  # fmt: skip
    summary = run_job(config)
    assert (summary.answers, summary.failures) == (3, 1)
    t = tables(config.output, storage_options=s3_options)
    assert items(t["answers"]) == [("a.mp4", "red"), ("sub/c.mp4", "red"), ("sub/c.mp4", "what")]
    assert set(t["answers"]["video"]) == {"s3://videos-bucket/in/a.mp4", "s3://videos-bucket/in/sub/c.mp4"}
    spans = t["spans"].set_index("video_id")
    assert (spans.loc["a.mp4", "start_seconds"], spans.loc["a.mp4", "end_seconds"]) == (10.0, 13.5)
    assert t["failures"]["error_type"].tolist() == ["NotAVideoError"]
    assert t["failures"]["error"].iloc[0].startswith("s3://videos-bucket/in/broken.mp4: ")
    written = sorted(p.split("/out/")[1].split("/")[0] for p in fs.find("videos-bucket/out"))
    assert set(written) == {"answers", "spans", "windows", "failures"}
    # a resumed run over the bucket finds everything written and recomputes nothing
    resumed = run_job(config.model_copy(update={"resume": True}))
    assert (resumed.videos, resumed.skipped, resumed.model_calls) == (0, 4, 0)
