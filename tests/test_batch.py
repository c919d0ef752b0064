"""The batch job end to end on a real local Ray: rows, broken files, worker deaths, interrupt + resume.

One Ray (2 CPUs) for the whole module. Most jobs use the scripted model (exact answers from the
coloured squares); one runs the random-weight tiny Qwen2.5-VL through the real runner.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.batch_util import (
    GOOD,
    GOOD_ITEMS,
    QUESTIONS,
    comparable,
    items,
    run_args,
    tables,
    write_good_videos,
    write_questions,
)
from tests.media import media_path
from videoqa import errors
from videoqa.batch import JobConfig, run_job
from videoqa.batch._guard import AttemptTracker, guarded
from videoqa.batch._local_ray import local_ray
from videoqa.records import Failure
from videoqa.synthetic import Event

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
REPO = Path(__file__).resolve().parent.parent

# Five more short videos so that a job lasts long enough to be interrupted in the middle.
EXTRA = {f"more/m{i}.mp4": (12.0, (Event(2.0 + i, 4.0 + i, "red"),)) for i in range(5)}


@pytest.fixture(scope="module")
def ray_local():
    # On 127.0.0.1 only; the interrupted-job test joins it from a second driver with --address.
    with local_ray(num_cpus=2, object_store_bytes=400 * 1024**2):
        yield ray.get_runtime_context().gcs_address


@pytest.fixture(scope="module")
def bucket(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bucket")
    write_good_videos(root / "videos", {**GOOD, **EXTRA})
    write_questions(root / "questions.jsonl")
    return root


def _config(bucket: Path, output: Path, **kw) -> JobConfig:
    return JobConfig(
        videos=str(bucket / "videos"), questions=str(bucket / "questions.jsonl"), output=str(output),
        model="builtin:scripted", progress_interval_seconds=1.0, **kw,
    )  # fmt: skip


ALL_ITEMS = GOOD_ITEMS | {(v, "red") for v in EXTRA}


@pytest.fixture(scope="module")
def reference(ray_local, bucket, tmp_path_factory):
    """An uninterrupted scripted run over the bucket: (summary, tables)."""
    output = tmp_path_factory.mktemp("reference")
    summary = run_job(_config(bucket, output))
    return summary, tables(str(output)), output


def test_every_item_has_exactly_one_row_and_scripted_answers_are_exact(reference):
    summary, t, _ = reference
    assert items(t["answers"]) == sorted(ALL_ITEMS) and t["failures"].empty
    assert (summary.videos, summary.questions, summary.answers, summary.failures) == (8, 10, 10, 0)
    assert summary.model_calls == 10 and summary.skipped == 0
    assert summary.video_hours == pytest.approx((24 + 16 + 20 + 5 * 12) / 3600, abs=1e-3)
    spans = {(r.video_id, r.question_id): (r.start_seconds, r.end_seconds) for r in t["spans"].itertuples()}
    # 2 fps sampling of a 4 fps video: the last sampled frame showing red starts 0.5 s before the end.
    assert spans[("a.mp4", "red")] == (10.0, 13.5)
    assert spans[("sub/c.mp4", "red")] == (2.0, 4.5)
    assert spans[("more/m3.mp4", "red")] == (5.0, 6.5)
    answers = t["answers"].set_index(["video_id", "question_id"])
    assert answers.loc[("b.mp4", "pick"), "choice"] == "B"
    assert answers.loc[("b.mp4", "red"), "num_spans"] == 0
    # windows: one row per window the model saw, matching answers.num_windows; pts are absolute seconds
    assert len(t["windows"]) == t["answers"]["num_windows"].sum()
    window = t["windows"].set_index(["video_id", "question_id"]).loc[("a.mp4", "red")]
    assert list(window["pts_seconds"]) == [k / 2 for k in range(48)]
    assert window["sampled_fps"] == 2.0
    assert set(t["answers"]["model_id"]) == {"builtin:scripted"}
    assert t["answers"]["config_hash"].nunique() == 1 and (t["answers"]["attempts"] == 1).all()


def test_videoqa_run_records_the_settings_and_hash_of_the_python_api(reference, bucket):
    """One question through ``videoqa run`` (defaults) and ``videoqa.analyze``: same settings and hash."""
    import videoqa
    from videoqa.batch._cli import config_from_args

    _, t, _ = reference
    row = t["answers"].set_index(["video_id", "question_id"]).loc[("a.mp4", "red")]
    in_job = videoqa.Analysis.model_validate_json(row["analysis_json"])
    args = run_args(bucket / "videos", bucket / "questions.jsonl", "o", "--model", "builtin:scripted")
    from_cli = config_from_args(args)
    assert (in_job.settings, in_job.config_hash) == (from_cli.settings, from_cli.config_hash)
    assert row["config_hash"] == in_job.config_hash
    api = videoqa.analyze(
        bucket / "videos" / "a.mp4", "a red square appears", model="builtin:scripted", task="grounding"
    )
    assert (api.settings, api.config_hash) == (videoqa.Settings(), in_job.config_hash)
    assert (api.spans, api.raw_text) == (in_job.spans, in_job.raw_text)


def test_rerun_without_resume_rewrites_the_same_files(reference, bucket):
    _, t, output = reference
    before = sorted(p.relative_to(output) for p in output.rglob("*.parquet"))
    again = run_job(_config(bucket, output))
    assert again.answers == 10
    assert sorted(p.relative_to(output) for p in output.rglob("*.parquet")) == before
    for name in ("answers", "spans", "windows"):
        assert comparable(tables(str(output))[name]).equals(comparable(t[name]))


def test_resume_of_a_finished_job_does_nothing(reference, bucket):
    _, _, output = reference
    summary = run_job(_config(bucket, output, resume=True))
    assert (summary.videos, summary.skipped, summary.model_calls, summary.answers) == (0, 10, 0, 0)


def _kill_when(predicate, *, timeout=120.0) -> list[int]:
    """Background killer: SIGKILL the processes ``predicate`` picks, once; returns the pids it killed."""
    killed: list[int] = []

    def loop():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not killed:
            for proc in predicate():
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)
            time.sleep(0.05)

    threading.Thread(target=loop, daemon=True).start()
    return killed


def _ray_workers(title: str) -> list[psutil.Process]:
    """Ray worker processes whose title (``ray::<operator>``) starts with ``title``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if cmd.startswith(f"ray::{title}"):
            found.append(proc)
    return found


def test_killing_workers_mid_job_loses_and_duplicates_nothing(reference, bucket, tmp_path):
    _, ref, _ = reference
    output = tmp_path / "out"

    def model_actor_after_first_answer():
        if not list((output / "answers").glob("part-*.parquet")):
            return []
        return _ray_workers("MapWorker(MapBatches(ModelStage))")

    killed_model = _kill_when(model_actor_after_first_answer)
    # decode runs in its own task workers, never fused into the model actor
    killed_decoder = _kill_when(lambda: _ray_workers("MapBatches(decode_clips)")[:1])
    summary = run_job(_config(bucket, output, decode_workers=1))
    assert killed_model and killed_decoder, "the test did not manage to kill workers mid-job"
    t = tables(str(output))
    assert items(t["answers"]) == sorted(ALL_ITEMS) and t["failures"].empty
    assert summary.answers == 10
    for name in ("answers", "spans", "windows"):
        assert comparable(t[name].drop(columns="attempts", errors="ignore")).equals(
            comparable(ref[name].drop(columns="attempts", errors="ignore"))
        )


@pytest.mark.slow
def test_interrupted_job_resumes_without_recomputing(reference, bucket, tmp_path, ray_local):
    _, ref, _ = reference
    output = tmp_path / "out"
    command = [
        sys.executable,
        str(REPO / "pipelines" / "analyze_bucket.py"),
        "--videos",
        str(bucket / "videos"),
    ]
    command += ["--questions", str(bucket / "questions.jsonl"), "--output", str(output)]
    command += ["--model", "builtin:scripted", "--address", ray_local, "--decode-workers", "1"]
    driver = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((output / "answers").glob("part-*.parquet")) and time.monotonic() < deadline:
            assert driver.poll() is None, "the job ended before it could be interrupted"
            time.sleep(0.05)
    finally:
        driver.kill()  # SIGKILL: no clean shutdown, like a lost driver
        driver.wait()
    first = tables(str(output))
    done = set(items(first["answers"])) | set(items(first["failures"]))
    assert 0 < len(done) < len(ALL_ITEMS), f"interrupt came too late or too early: {len(done)} items done"
    time.sleep(2.0)  # let Ray reap the dead driver's workers

    summary = run_job(_config(bucket, output, resume=True))
    assert summary.skipped >= len(done)
    assert summary.model_calls == len(ALL_ITEMS) - summary.skipped
    final = tables(str(output))
    for name in ("answers", "spans", "windows", "failures"):
        assert comparable(final[name]).equals(comparable(ref[name])), name


def test_broken_files_become_failure_rows_and_good_ones_are_answered(ray_local, tmp_path):
    videos = write_good_videos(tmp_path / "videos", {"a.mp4": GOOD["a.mp4"]})
    broken = {
        "empty.mp4": "empty",
        "not_a_video.mp4": "text",
        "truncated.mp4": "truncated_no_moov",
        "truncated.mkv": "truncated_mkv",
        "audio_only.mp4": "audio_only",
        "corrupt_middle.mp4": "corrupt_middle",
    }
    for name, key in broken.items():
        shutil.copyfile(media_path(key), videos / name)
    (videos / "README.txt").write_text("not listed: .txt is not a video ending")
    write_questions(
        tmp_path / "q.jsonl", [{"question_id": "red", "question": "a red square", "task": "grounding"}]
    )
    config = JobConfig(
        videos=str(videos), questions=str(tmp_path / "q.jsonl"), output=str(tmp_path / "out"),
        model="builtin:scripted",
    )  # fmt: skip
    summary = run_job(config)
    t = tables(config.output)
    assert items(t["answers"]) == [("a.mp4", "red"), ("corrupt_middle.mp4", "red")]
    failures = t["failures"].set_index("video_id")
    assert sorted(failures.index) == sorted(set(broken) - {"corrupt_middle.mp4"})
    expected = {
        "empty.mp4": ("EmptyVideoError", "the file is empty (0 bytes)"),
        "not_a_video.mp4": ("NotAVideoError", "cannot read this as a media file"),
        "truncated.mp4": ("TruncatedVideoError", "the file is truncated"),
        "truncated.mkv": ("TruncatedVideoError", "the file is truncated"),
        "audio_only.mp4": ("NoVideoStreamError", "no video stream"),
    }
    for name, (error_type, text) in expected.items():
        row = failures.loc[name]
        assert (row["error_type"], row["stage"], row["attempts"], row["transient"]) == (
            error_type,
            "probe",
            1,
            False,
        )
        assert row["error"].startswith(str(videos / name)) and text in row["error"]
    assert (summary.answers, summary.failures, summary.videos_failed) == (2, 5, 5)


def test_end_to_end_with_the_tiny_qwen_model(ray_local, tmp_path):
    videos = write_good_videos(tmp_path / "videos", {k: GOOD[k] for k in ("a.mp4", "b.mp4")})
    (videos / "broken.mp4").write_bytes(b"\x00" * 4096)
    write_questions(
        tmp_path / "q.jsonl",
        [
            {"question_id": "when", "question": "a red square appears", "task": "grounding"},
            {"question_id": "what", "question": "What is shown?", "task": "qa", "videos": "a.mp4"},
        ],
    )
    config = JobConfig(
        videos=str(videos), questions=str(tmp_path / "q.jsonl"), output=str(tmp_path / "out"),
        model="builtin:tiny-qwen2.5-vl", settings={"max_new_tokens": 8, "fps": 1.0},
    )  # fmt: skip
    summary = run_job(config)
    t = tables(config.output)
    assert items(t["answers"]) == [("a.mp4", "what"), ("a.mp4", "when"), ("b.mp4", "when")]
    assert items(t["failures"]) == [("broken.mp4", "when")]
    assert t["failures"]["error_type"].iloc[0] == "NotAVideoError"
    assert (summary.answers, summary.failures, summary.model_calls) == (3, 1, 3)
    assert set(t["answers"]["model_id"]) == {"builtin:tiny-qwen2.5-vl"}
    assert (t["answers"]["sampling_fps"] == 1.0).all() and (t["answers"]["max_new_tokens"] == 8).all()
    windows = t["windows"]
    assert len(windows) == t["answers"]["num_windows"].sum()
    # Qwen2.5-VL: absolute-time temporal IDs; at 1 fps a 2-frame patch spans 2 s = 4 IDs at 2 tokens/s.
    first = windows[(windows.video_id == "a.mp4") & (windows.question_id == "when")].iloc[0]
    assert list(first["pts_seconds"]) == [float(k) for k in range(24)]
    assert list(first["temporal_ids"]) == [4 * k for k in range(12)]


@pytest.fixture
def tracker(ray_local):
    handle = ray.remote(num_cpus=0)(AttemptTracker).remote()
    yield handle
    ray.kill(handle)


def test_guard_retries_transient_errors_only(tracker):
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise errors.SourceIOError("s3://b/v.mp4", "connection reset")
        return "ok"

    outcome = guarded("probe", "v.mp4", flaky, tracker=tracker, max_attempts=3, backoff_seconds=0.01)
    assert (outcome.value, outcome.failure, outcome.attempts, len(calls)) == ("ok", None, 3, 3)

    def broken():
        calls.append(1)
        raise errors.TruncatedVideoError("w.mp4", "the file is truncated")

    calls.clear()
    outcome = guarded("probe", "w.mp4", broken, tracker=tracker, max_attempts=3, backoff_seconds=0.01)
    assert len(calls) == 1
    assert outcome.failure == Failure(
        stage="probe",
        error_type="TruncatedVideoError",
        error="w.mp4: the file is truncated",
        transient=False,
        attempts=1,
    )


def test_guard_kills_a_hung_call_and_gives_up_after_max_attempts(tracker):
    @ray.remote(num_cpus=0.5, max_retries=5)
    def hung_decoder(tracker):
        return guarded(
            "decode",
            "hung.mp4",
            lambda: time.sleep(120),
            tracker=tracker,
            max_attempts=2,
            timeout_seconds=1.0,
        )

    started = time.monotonic()
    outcome = ray.get(hung_decoder.remote(tracker))
    assert time.monotonic() - started < 60
    assert outcome.value is None
    failure = outcome.failure
    assert (failure.stage, failure.error_type, failure.attempts, failure.transient) == (
        "decode",
        "WorkerDied",
        2,
        True,
    )
    assert "gave up on decode after 2 attempts; on the last one its worker died" in failure.error
    assert ray.get(tracker.attempts.remote()) == {"decode|hung.mp4": 3}


def test_demo_with_the_scripted_model_finds_the_true_intervals(ray_local, tmp_path, capsys):

    from videoqa.batch import _demo

    parser = argparse.ArgumentParser()
    _demo.add_arguments(parser)
    assert _demo.run(parser.parse_args(["--output", str(tmp_path), "--model", "builtin:scripted"])) == 0
    printed = capsys.readouterr().out
    assert "model: builtin:scripted: the SCRIPTED stand-in" in printed
    assert f"Parquet tables: {tmp_path}/output/answers" in printed
    # Each answer next to the truth with its score: 37-44 s for 37-44.5 s is IoU 7 / 7.5.
    assert "kitchen.mp4      red      37-44.5 s          IoU 0.93" in printed
    assert "street.mp4       red      does not occur     right (absent)" in printed
    # meeting.mp4 shows no square; when the budget is mentioned comes from its subtitles (meeting.srt)
    assert "meeting.mp4      budget   41.3-44.6 s        IoU 1.00" in printed
    assert (
        "meeting.mp4 budget: from the subtitles (sidecar meeting.srt): 41.3-44.6 s "
        "'The budget for next year is approved.'" in printed
    )
    assert "grounding: mean IoU 0.93 over 9 questions, 9 with IoU >= 0.5" in printed
    t = tables(str(tmp_path / "output"))
    assert len(t["answers"]) == 10 and t["failures"].empty
    spans = {(r.video_id, r.question_id): (r.start_seconds, r.end_seconds) for r in t["spans"].itertuples()}
    # Sampled at 1 fps: a span runs from the first to the last sampled frame inside the true interval.
    assert spans == {
        ("kitchen.mp4", "red"): (37.0, 44.0),
        ("kitchen.mp4", "blue"): (70.0, 74.0),
        ("lab/bench.mp4", "blue"): (5.0, 8.0),
        ("lab/bench.mp4", "red"): (88.0, 100.0),
        ("meeting.mp4", "budget"): (41.3, 44.6),
    }
    assert (
        t["answers"].set_index("video_id").loc["street.mp4"].set_index("question_id").loc["colour", "choice"]
        == "B"
    )


def _failure_files(output: Path) -> dict[str, list[tuple[str, str]]]:
    """{failures file name: sorted (video_id, question_id) of its rows}, read file by file."""
    import pyarrow.parquet as pq

    found = {}
    for path in sorted((output / "failures").glob("part-*.parquet")):
        t = pq.read_table(path, columns=["video_id", "question_id"])
        found[path.name] = sorted(zip(t["video_id"].to_pylist(), t["question_id"].to_pylist(), strict=True))
    return found


def test_retry_failed_reruns_failed_items_and_replaces_their_failure_rows(ray_local, tmp_path):
    videos = write_good_videos(tmp_path / "videos", GOOD)
    shutil.copyfile(media_path("truncated_no_moov"), videos / "sub/c.mp4")  # an upload cut short
    write_questions(tmp_path / "questions.jsonl")
    bucket, output = tmp_path, tmp_path / "out"
    first = run_job(_config(bucket, output))
    c_items = [("sub/c.mp4", "colours"), ("sub/c.mp4", "red")]
    assert (first.answers, first.failures, first.model_calls) == (3, 2, 3)
    (failure_file,) = _failure_files(output)
    assert _failure_files(output) == {failure_file: c_items}  # one file holds both items of the video
    t_first = tables(str(output))
    first_failure_bytes = (output / "failures" / failure_file).read_bytes()

    write_good_videos(videos, {"sub/c.mp4": GOOD["sub/c.mp4"]})  # the upload completes
    resumed = run_job(_config(bucket, output, resume=True))
    assert (resumed.videos, resumed.skipped, resumed.model_calls) == (0, 5, 0)
    assert _failure_files(output) == {failure_file: c_items}

    # Retry with "colours" dropped from the questions: only (c, red) runs again; the failure row of
    # (c, colours) stays in the rewritten file, byte-for-byte the same row.
    write_questions(tmp_path / "questions.jsonl", [q for q in QUESTIONS if q["question_id"] != "colours"])
    retried = run_job(_config(bucket, output, resume=True, retry_failed=True))
    assert (retried.questions, retried.skipped, retried.model_calls, retried.answers) == (4, 3, 1, 1)
    assert retried.failures == 0
    assert _failure_files(output) == {failure_file: [("sub/c.mp4", "colours")]}
    t = tables(str(output))
    assert items(t["answers"]) == sorted(GOOD_ITEMS - {("sub/c.mp4", "colours")})
    assert t["answers"]["item_key"].is_unique and len(t["failures"]) == 1
    assert comparable(t["failures"]).equals(
        comparable(t_first["failures"][t_first["failures"]["question_id"] == "colours"])
    )
    old_answers = t_first["answers"]
    assert comparable(t["answers"][t["answers"]["video_id"] != "sub/c.mp4"]).equals(comparable(old_answers))
    spans = t["spans"].set_index(["video_id", "question_id"])
    assert tuple(spans.loc[("sub/c.mp4", "red"), ["start_seconds", "end_seconds"]]) == (2.0, 4.5)

    # All questions again: (c, colours) is retried; its file is removed; every item has one answers row.
    write_questions(tmp_path / "questions.jsonl")
    last = run_job(_config(bucket, output, resume=True, retry_failed=True))
    assert (last.questions, last.skipped, last.model_calls, last.answers, last.failures) == (5, 4, 1, 1, 0)
    t = tables(str(output))
    assert items(t["answers"]) == sorted(GOOD_ITEMS) and t["answers"]["item_key"].is_unique
    assert t["failures"].empty and _failure_files(output) == {}
    again = run_job(_config(bucket, output, resume=True, retry_failed=True))
    assert (again.videos, again.skipped, again.model_calls) == (0, 5, 0)

    # A crash between writing an answer and removing its old failure row: both rows exist. Answers are
    # authoritative: the reader hides the stale row and the next --resume removes it from the file.
    (output / "failures" / failure_file).write_bytes(first_failure_bytes)
    assert _failure_files(output) == {failure_file: c_items}
    assert tables(str(output))["failures"].empty
    repaired = run_job(_config(bucket, output, resume=True))
    assert (repaired.videos, repaired.skipped, repaired.model_calls) == (0, 5, 0)
    assert _failure_files(output) == {}
    assert items(tables(str(output))["answers"]) == sorted(GOOD_ITEMS)


@pytest.mark.slow
def test_rerun_sequences_of_the_issue_leave_one_row_per_item(ray_local, tmp_path):
    """3 questions, then a 4th and the same command again, then only the 1st: rows counted plainly."""
    import pyarrow.dataset as pads

    write_good_videos(tmp_path / "videos", GOOD)
    output = tmp_path / "out"

    def plain_rows(table: str) -> int:  # every file, no deduplication: what pandas or DuckDB read
        return pads.dataset(str(output / table)).count_rows()

    write_questions(tmp_path / "questions.jsonl")
    assert run_job(_config(tmp_path, output)).answers == 5
    fourth = {"question_id": "what", "question": "What is shown?", "task": "qa", "videos": "*"}
    write_questions(tmp_path / "questions.jsonl", [*QUESTIONS, fourth])
    assert run_job(_config(tmp_path, output)).answers == 8
    assert plain_rows("answers") == 8 and tables(str(output))["answers"]["item_key"].is_unique
    write_questions(tmp_path / "questions.jsonl", QUESTIONS[:1])
    again = run_job(_config(tmp_path, output))
    assert (again.questions, again.answers) == (3, 3)
    assert plain_rows("answers") == 8 and not (output / "failures").exists()
    t = tables(str(output))
    assert items(t["answers"]) == sorted(GOOD_ITEMS | {(v, "what") for v in GOOD})
    spans = t["spans"][t["spans"]["question_id"] == "red"]
    assert sorted(spans["video_id"]) == ["a.mp4", "sub/c.mp4"]  # b.mp4 shows no red square
    assert plain_rows("spans") == len(t["spans"]) and plain_rows("windows") == len(t["windows"])
