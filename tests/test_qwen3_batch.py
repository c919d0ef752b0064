"""Qwen3-VL through ``videoqa run`` and ``videoqa eval`` on a real local Ray.

The decode stage plans without loading the model: it learns the family from the model string, so
its pre-decoded windows are the ones the model actor's session plans (32-pixel tokens,
qwen-vl-utils' frames), and the rows record the family.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from tests.batch_util import GOOD, items, tables, write_good_videos, write_questions
from videoqa.batch import JobConfig, run_job
from videoqa.batch._local_ray import local_ray
from videoqa.synthetic import Event, write_video

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(num_cpus=2, object_store_bytes=400 * 1024**2, log_to_driver=False):  # on 127.0.0.1 only
        yield


@pytest.mark.usefixtures("ray_local")
def test_videoqa_run_with_qwen3_models(tmp_path):
    videos = write_good_videos(tmp_path / "videos", {k: GOOD[k] for k in ("a.mp4", "b.mp4")})
    write_questions(
        tmp_path / "q.jsonl",
        [
            {"question_id": "when", "question": "a red square appears", "task": "grounding"},
            {"question_id": "what", "question": "What is shown?", "task": "qa", "videos": "a.mp4"},
        ],
    )
    common = {"videos": str(videos), "questions": str(tmp_path / "q.jsonl"), "local_num_cpus": 2}
    scripted = JobConfig(**common, output=str(tmp_path / "scripted"), model="builtin:scripted-qwen3-vl")
    run_job(scripted)
    t = tables(scripted.output)
    answers = t["answers"].set_index(["video_id", "question_id"])
    # a.mp4, red 10.0-14.0 s: 48 of 96 frames; the patches showing it run from frames 10.0 + 10.5 s
    # (<10.2 seconds>: 10.25 to one decimal, half to even) to 13.25 + 13.75 s (<13.5 seconds>)
    assert answers.loc[("a.mp4", "when"), "answer"] == "10.2 - 13.5 seconds"
    assert answers.loc[("b.mp4", "when"), "outcome"] == "no_event"
    assert set(t["answers"]["model_family"]) == {"qwen3-vl"}

    tiny = JobConfig(
        **common, output=str(tmp_path / "tiny"), model="builtin:tiny-qwen3-vl", settings={"max_new_tokens": 6}
    )
    summary = run_job(tiny)
    t = tables(tiny.output)
    assert items(t["answers"]) == [("a.mp4", "what"), ("a.mp4", "when"), ("b.mp4", "when")]
    assert (summary.answers, summary.failures) == (3, 0)
    assert set(t["answers"]["model_family"]) == {"qwen3-vl"}
    assert set(t["answers"]["config_hash"]) == {tiny.config_hash}
    first = t["windows"][(t["windows"].video_id == "a.mp4") & (t["windows"].question_id == "when")].iloc[0]
    # 96 frames at 4 fps, 48 read, the frames qwen-vl-utils reads: linspace(0, 95, 48).round() / 4 fps
    read = torch.linspace(0, 95, 48).round().long().tolist()
    assert list(first["pts_seconds"]) == [i / 4 for i in read] and read[-2:] == [93, 95]
    assert first["height"] % 32 == 0 and first["width"] % 32 == 0


@pytest.mark.usefixtures("ray_local")
def test_videoqa_eval_charades_sta_with_tiny_qwen3(tmp_path):
    from videoqa.eval import EvalConfig, run_eval
    from videoqa.eval._metrics import temporal_iou

    folder = tmp_path / "Charades_v1_480"
    write_video(folder / "AAAA1.mp4", duration_seconds=20, fps=4, events=[Event(5.0, 10.0, "red")])
    annotations = tmp_path / "charades_sta_test.txt"
    annotations.write_text("AAAA1 5.0 10.0##a red square appears.\n")
    job = {"local_num_cpus": 2, "decode_workers": 1, "progress_interval_seconds": 60.0}
    config = EvalConfig(
        benchmark="charades-sta", annotations=str(annotations), videos=str(folder),
        output=str(tmp_path / "out"), model="builtin:tiny-qwen3-vl", job=job,
    )  # fmt: skip
    result = run_eval(config)
    (row,) = pq.read_table(result.paths["items"]).to_pylist()
    assert row["status"] == "ok" and row["num_frames"] == 40
    assert row["prompt"].startswith("Please find the visual event described by a sentence in the video")
    span = None if row["pred_start_seconds"] is None else (row["pred_start_seconds"], row["pred_end_seconds"])
    assert row["iou"] == temporal_iou(span, (5.0, 10.0))
