"""Timed text in a Ray batch job: sidecars next to bucket videos, the subtitles table, bad sidecars."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.batch_util import GOOD, items, write_good_videos, write_questions
from videoqa.batch import JobConfig, read_tables, run_job
from videoqa.batch._local_ray import local_ray

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

SRT = (
    "1\n00:00:02,000 --> 00:00:03,500\nthe budget is approved\n\n"
    "2\n00:00:30,000 --> 00:00:31,000\nafter the end\n"
)


@pytest.fixture(scope="module")
def ray_local():
    with local_ray(num_cpus=2, object_store_bytes=400 * 1024**2):  # on 127.0.0.1 only
        yield ray.get_runtime_context().gcs_address


def test_sidecars_reach_the_prompts_and_the_subtitles_table(ray_local, tmp_path: Path) -> None:
    videos = write_good_videos(tmp_path / "videos", {"a.mp4": GOOD["a.mp4"]})
    shutil.copyfile(videos / "a.mp4", videos / "plain.mp4")  # the same frames, no subtitles
    shutil.copyfile(videos / "a.mp4", videos / "bad.mp4")
    (videos / "a.srt").write_text(SRT, encoding="utf-8")
    (videos / "bad.srt").write_text("1\n00:00:02 --> 00:00:03,500\nno milliseconds\n", encoding="utf-8")
    write_questions(
        tmp_path / "q.jsonl", [{"question_id": "what", "question": "What is said?", "task": "qa"}]
    )
    config = JobConfig(
        videos=str(videos), questions=str(tmp_path / "q.jsonl"), output=str(tmp_path / "out"),
        model="builtin:tiny-qwen2.5-vl", settings={"max_new_tokens": 4, "fps": 0.5},
    )  # fmt: skip
    summary = run_job(config)
    t = read_tables(config.output, tables=("answers", "subtitles", "failures"))
    answers, cues, failures = (t[n].to_pandas() for n in ("answers", "subtitles", "failures"))
    assert (summary.answers, summary.failures) == (2, 1)
    assert items(answers) == [("a.mp4", "what"), ("plain.mp4", "what")]
    # a broken sidecar fails its video with the file and line named, and the job goes on
    assert items(failures) == [("bad.mp4", "what")]
    assert failures["error_type"].iloc[0] == "SubtitleError" and failures["stage"].iloc[0] == "probe"
    assert failures["error"].iloc[0].startswith(f"{videos / 'bad.srt'} line 2: expected a SubRip timing")
    rows = cues.sort_values("cue_index")
    assert list(zip(rows.video_id, rows.start_seconds, rows.end_seconds, rows.text, strict=True)) == [
        ("a.mp4", 2.0, 3.5, "the budget is approved")
    ]
    assert (rows.kind.iloc[0], rows.source.iloc[0], rows.item_key.iloc[0]) == (
        "sidecar",
        str(videos / "a.srt"),
        answers[answers.video_id == "a.mp4"].item_key.iloc[0],
    )
    tokens = dict(zip(answers.video_id, answers.prompt_tokens, strict=True))
    assert tokens["a.mp4"] > tokens["plain.mp4"]  # the cue block is in a.mp4's prompt only
