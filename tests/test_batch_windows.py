"""The decode stage streams one window per block; the model stage rebuilds each video's answers.

Coarse-to-fine jobs over short videos cut into several coarse windows (scripted model, real
decoding on a local Ray): the decode stage must emit one block per window (Ray Data's own stats,
recorded in the job summary), never a block holding a video's windows together, and the answers the
model stage assembles from the per-window results must equal those of one in-process
``Session.analyze_many`` call over the whole video.
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time
from typing import Any

import pytest

from tests.batch_util import (
    GOOD,
    GOOD_ITEMS,
    QUESTIONS,
    comparable,
    items,
    tables,
    write_good_videos,
    write_questions,
)
from videoqa import Session, Settings
from videoqa.analysis import Analysis, Question
from videoqa.batch import JobConfig, run_job
from videoqa.batch._local_ray import local_ray
from videoqa.batch._windows import WindowBoard
from videoqa.core._strategies import first_pass_plan
from videoqa.model.families import sampling_profile_for
from videoqa.synthetic import Event
from videoqa.video import probe

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

# 8 s coarse windows at 1 fps: a.mp4 (24 s) has 3, b.mp4 (16 s) 2, sub/c.mp4 (20 s) 3.
SETTINGS = {"strategy": "coarse_to_fine", "coarse_window_seconds": 8.0, "coarse_fps": 1.0}


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(num_cpus=2, object_store_bytes=300 * 1024**2):  # on 127.0.0.1 only
        yield


@pytest.fixture(scope="module")
def job(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("windows")
    videos = write_good_videos(root / "videos")
    write_questions(root / "q.jsonl")
    config = JobConfig(
        videos=str(videos), questions=str(root / "q.jsonl"), output=str(root / "out"),
        model="builtin:scripted", decode_workers=2, settings=SETTINGS,
    )  # fmt: skip
    return config, run_job(config), tables(config.output)


def _first_pass_windows(config: JobConfig) -> dict[str, list]:
    """video id -> the windows of its first pass, as the job plans them."""
    profile = sampling_profile_for(config.model)
    return {
        name: list(first_pass_plan(probe(f"{config.videos}/{name}"), config.settings, profile).plan.windows)
        for name in GOOD
    }


def test_the_decode_stage_yields_one_window_per_block(job):
    config, summary, t = job
    planned = _first_pass_windows(config)
    assert {name: len(ws) for name, ws in planned.items()} == {"a.mp4": 3, "b.mp4": 2, "sub/c.mp4": 3}
    window_bytes = [w.num_frames * w.height * w.width * 3 for ws in planned.values() for w in ws]
    # What the model saw in the coarse pass is what was planned (one row per window and question).
    coarse = t["windows"][t["windows"]["step"] == "coarse"]
    assert sorted(set(zip(coarse["video_id"], coarse["window_index"], strict=True))) == sorted(
        (name, i) for name, ws in planned.items() for i in range(len(ws))
    )
    # Ray Data's stats of the decode operator: 8 blocks of one row each, the largest no bigger than
    # the largest window plus its row's small columns (a unit per block holds 2-3 windows: 5-8 MB).
    assert (summary.decode_blocks, summary.decode_block_max_rows) == (8, 1)
    assert max(window_bytes) < summary.decode_block_max_bytes < max(window_bytes) + 64 * 1024


def test_answers_assembled_from_windows_equal_a_whole_video_call(job):
    config, summary, t = job
    assert (summary.answers, summary.failures, summary.model_calls) == (5, 0, 5)
    assert items(t["answers"]) == sorted(GOOD_ITEMS)
    session = Session("builtin:scripted", Settings(**SETTINGS))
    by_item = t["answers"].set_index(["video_id", "question_id"])["analysis_json"]
    for name in GOOD:
        wanted = [Question(**{k: v for k, v in q.items() if k != "videos"}) for q in QUESTIONS]
        wanted = [q for q in wanted if (name, q.question_id) in by_item.index]
        whole = session.analyze_many(f"{config.videos}/{name}", wanted)
        for question, analysis in zip(wanted, whole, strict=True):
            in_job = Analysis.model_validate_json(by_item[(name, question.question_id)])
            assert _comparable(in_job) == _comparable(analysis), (name, question.question_id)
    steps = {item: [s.name for s in Analysis.model_validate_json(a).steps] for item, a in by_item.items()}
    assert steps[("a.mp4", "red")] == ["coarse", "fine"] and steps[("b.mp4", "red")] == ["coarse"]
    spans = {(r.video_id, r.question_id): (r.start_seconds, r.end_seconds) for r in t["spans"].itertuples()}
    assert spans[("a.mp4", "red")] == (10.0, 13.5)  # fine pass at 2 fps over the coarse region


def _comparable(analysis: Analysis) -> str:
    data = json.loads(analysis.model_dump_json())
    data["timings_seconds"] = {}
    data["video"] = data["video"].rsplit("/", 1)[-1]
    return json.dumps(data, sort_keys=True)


def test_window_board_returns_a_video_once_in_window_order_and_drops_failed_ones():
    board = WindowBoard()
    assert board.record("u", 3, 2, b"w2") is None
    assert board.record("u", 3, 0, b"w0") is None
    assert board.record("u", 3, 0, b"w0") is None  # a window sent again (a retried call) counts once
    assert board.record("u", 3, 1, b"w1") == [b"w0", b"w1", b"w2"]
    assert board.in_flight() == 0
    assert board.record("v", 2, 0, b"v0") is None
    board.close("v")  # its decoding failed after the first window: the row says so
    assert board.record("v", 2, 1, b"v1") is None and board.in_flight() == 0
    assert pickle.loads(pickle.dumps(board.record("w", 1, 0, b"x"))) == [b"x"]


def _kill_board_mid_video(killed: list[str]) -> None:
    """Restart the job's window board (``ray.kill`` with restart) once it holds part of a video."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not killed:
        for name in ray.util.list_named_actors():
            if name.startswith("videoqa-windows-"):
                board = ray.get_actor(name)
                if ray.get(board.in_flight.remote()) > 0:
                    ray.kill(board, no_restart=False)
                    killed.append(name)
        time.sleep(0.01)


def _long_video_job(tmp_path, output: str, **kw) -> JobConfig:
    """A job over one 64 s video: 8 coarse windows, so the board is restarted long before the last."""
    videos = write_good_videos(tmp_path / "videos", {"long.mp4": (64.0, (Event(30.0, 34.0, "red"),))})
    write_questions(tmp_path / "q.jsonl", [{**q, "videos": "*"} for q in QUESTIONS[:2]])
    return JobConfig(
        videos=str(videos), questions=str(tmp_path / "q.jsonl"), output=str(tmp_path / output),
        model="builtin:scripted", decode_workers=1, settings=SETTINGS, **kw,
    )  # fmt: skip


def _run_restarting_the_board(config: JobConfig, caplog) -> Any:
    killed: list[str] = []
    killer = threading.Thread(target=_kill_board_mid_video, args=(killed,), daemon=True)
    killer.start()
    with caplog.at_level(logging.WARNING, logger="videoqa.batch"):
        summary = run_job(config)
    killer.join()
    assert killed, "the test did not manage to restart the board mid-video"
    return summary


def test_a_restarted_window_board_runs_its_videos_again_and_loses_nothing(ray_local, tmp_path, caplog):
    reference = _long_video_job(tmp_path, "reference")
    run_job(reference)
    config = _long_video_job(tmp_path, "out")
    summary = _run_restarting_the_board(config, caplog)
    assert "1 videos lost windows they had sent" in caplog.text
    assert (summary.videos, summary.answers, summary.failures) == (1, 2, 0)
    assert summary.decode_blocks == 16  # the video's 8 windows, decoded twice
    t, ref = tables(config.output), tables(reference.output)
    assert items(t["answers"]) == [("long.mp4", "colours"), ("long.mp4", "red")]
    for name in ("answers", "spans", "windows"):
        ours, theirs = (comparable(x[name].drop(columns="attempts", errors="ignore")) for x in (t, ref))
        assert ours.equals(theirs), name


@pytest.mark.slow
def test_windows_lost_in_every_pass_become_failure_rows_and_retry_failed_answers_them(
    ray_local, tmp_path, caplog
):
    config = _long_video_job(tmp_path, "out", max_attempts=1)
    summary = _run_restarting_the_board(config, caplog)
    assert (summary.videos, summary.answers, summary.failures) == (1, 0, 2)
    failures = tables(config.output)["failures"]
    assert set(failures["error_type"]) == {"WindowsLost"} and set(failures["stage"]) == {"model"}
    assert "run again with --resume --retry-failed" in failures["error"].iloc[0]
    again = run_job(config.model_copy(update={"resume": True, "retry_failed": True}))
    t = tables(config.output)
    assert (again.answers, again.failures) == (2, 0) and t["failures"].empty
    assert items(t["answers"]) == [("long.mp4", "colours"), ("long.mp4", "red")]
