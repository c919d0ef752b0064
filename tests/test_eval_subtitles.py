"""The "with subtitles" setting of Video-MME and LongVideoBench (``--subtitles-dir``).

Sample subtitle files written here in each benchmark's released layout: Video-MME's
``subtitle/<videoID>.srt`` (SubRip), LongVideoBench's ``subtitles/<video_id>_en.json`` (a JSON list
of ``{"timestamp": [s, e], "text"}`` or ``{"start": "HH:MM:SS.fff", "end", "line"}``, timed on the
source video, the clip starting at ``starting_timestamp_for_subtitles``; the shapes lmms-eval's
``insert_subtitles_into_frames`` reads). End to end: the batch job reads each video's file and the
answers record exactly the cues their prompts carried.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from videoqa.eval._choice import ChoiceQuestion
from videoqa.eval.benchmarks import longvideobench, videomme

VIDEOMME_SRT = """1
00:00:01,000 --> 00:00:03,500
Welcome to the <i>colour</i> show.

2
00:00:06,000 --> 00:00:08,000
Here comes the red square.
"""


def _lvb_item(offset: float = 0.0, duration: float = 12.0) -> ChoiceQuestion:
    return ChoiceQuestion("lvbvid01_0", "lvbvid01", "Which colour?", ("green", "blue", "red", "cyan"), ("C",),
                          extra={"subtitle_path": "lvbvid01_en.json", "duration": duration,
                                 "subtitle_offset": offset})  # fmt: skip


def test_longvideobench_subtitles_both_shapes_on_the_clip_clock(tmp_path):
    (tmp_path / "lvbvid01_en.json").write_text(json.dumps([
        {"timestamp": [99.0, 100.5], "text": "before the clip"},
        {"timestamp": [101.0, 103.5], "text": "hello  there"},
        {"timestamp": [108.0, None], "text": "until the end"},
    ]))  # fmt: skip
    transcript = longvideobench.subtitles_for(_lvb_item(offset=100.0), str(tmp_path))
    assert [(c.start_seconds, c.end_seconds, c.text) for c in transcript.cues] == [
        (0.0, 0.5, "before the clip"),  # ends inside the clip: kept, its start cut to the clip's
        (1.0, 3.5, "hello there"),
        (8.0, 12.0, "until the end"),  # no end time: runs to the clip's end (duration 12 s)
    ]
    (tmp_path / "lvbvid01_en.json").write_text(json.dumps([
        {"start": "00:00:02.250", "end": "00:00:04.000", "line": "clock times"},
        {"start": "00:01:00.000", "end": "00:01:01.000", "line": "a minute in"},
    ]))  # fmt: skip
    transcript = longvideobench.subtitles_for(_lvb_item(), str(tmp_path))
    assert [(c.start_seconds, c.end_seconds, c.text) for c in transcript.cues] == [
        (2.25, 4.0, "clock times"), (60.0, 61.0, "a minute in")
    ]  # fmt: skip
    assert longvideobench.subtitles_for(_lvb_item(), str(tmp_path / "elsewhere")) is None


def test_videomme_subtitle_file_by_video_id(tmp_path):
    (tmp_path / "001.srt").write_text(VIDEOMME_SRT)
    item = ChoiceQuestion("001-1", "001", "Which colour?", ("a", "b", "c", "d"), ("B",))
    assert videomme.subtitles_for(item, str(tmp_path)) == f"{tmp_path}/001.srt"
    other = ChoiceQuestion("002-1", "002", "Which colour?", ("a", "b", "c", "d"), ("B",))
    assert videomme.subtitles_for(other, str(tmp_path)) is None


def test_cues_written_as_subrip():
    from videoqa.text import format_srt

    assert format_srt([(-0.4, 1.5, "one"), (61.25, 3725.0, "two")]) == (
        "1\n00:00:00,000 --> 00:00:01,500\none\n\n2\n00:01:01,250 --> 01:02:05,000\ntwo\n"
    )


def test_subtitles_dir_only_for_benchmarks_that_have_subtitles(tmp_path):
    from pydantic import ValidationError

    from videoqa.eval import EvalConfig

    base = {"annotations": "a", "videos": "v", "output": str(tmp_path), "subtitles_dir": str(tmp_path)}
    assert EvalConfig(benchmark="videomme", **base).subtitles_dir == str(tmp_path)
    with pytest.raises(ValidationError, match=r"\['subtitles_dir'\] do not apply to mlvu"):
        EvalConfig(benchmark="mlvu", **base)


def _answers(out: Path) -> dict[str, dict]:
    from videoqa.analysis import Analysis
    from videoqa.batch import read_tables

    rows = read_tables(str(out / "batch"), tables=("answers",))["answers"].to_pylist()
    return {r["question_id"]: Analysis.model_validate_json(r["analysis_json"]) for r in rows}


@pytest.mark.ray
@pytest.mark.slow  # two real runs, ~40 s with Ray's start
def test_videomme_and_longvideobench_with_subtitles_end_to_end(ray_cluster, tmp_path):
    from tests.test_eval_choice_benchmarks import VIDEOMME_TEMPLATE, _run
    from videoqa.synthetic import Event, write_video

    red = tmp_path / "red.mp4"
    write_video(red, duration_seconds=12, fps=4.0, events=[Event(2.0, 10.0, "red")])
    for name in ("videomme/data/001.mp4", "videomme/data/002.mp4", "lvb/videos/lvbvid01.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(red, tmp_path / name)
    (tmp_path / "videomme" / "subtitle").mkdir()
    (tmp_path / "videomme" / "subtitle" / "001.srt").write_text(VIDEOMME_SRT)  # 002 has none
    (tmp_path / "videomme.json").write_text(VIDEOMME_TEMPLATE)
    out = tmp_path / "out-videomme"
    summary = _run("videomme", tmp_path / "videomme.json", tmp_path / "videomme" / "data", out,
                   "--subtitles-dir", str(tmp_path / "videomme" / "subtitle"))  # fmt: skip
    assert summary["num_videos_with_subtitles"] == 1
    assert "1 of 2 videos found have a subtitle file" in (out / "results.md").read_text()
    answers = _answers(out)
    for qid in ("001-1", "001-2"):  # both questions of 001 had its two cues in their prompt, markup removed
        usage = answers[qid].subtitles
        assert usage.kind == "sidecar" and usage.source == str(tmp_path / "videomme" / "subtitle" / "001.srt")
        assert [(c.start_seconds, c.end_seconds, c.text) for c in usage.cues] == [
            (1.0, 3.5, "Welcome to the colour show."), (6.0, 8.0, "Here comes the red square.")
        ]  # fmt: skip
    assert answers["002-1"].subtitles is None or answers["002-1"].subtitles.cues == []

    (tmp_path / "lvb" / "subtitles").mkdir()
    (tmp_path / "lvb" / "subtitles" / "lvbvid01_en.json").write_text(json.dumps([
        {"timestamp": [31.0, 33.0], "text": "a red square"},
        {"start": "00:00:36.0", "end": "00:00:38.5", "line": "gone"},
    ]))  # fmt: skip
    lvb = [{"video_id": "lvbvid01", "video_path": "lvbvid01.mp4", "id": "lvbvid01_0",
            "question": "Which colour?", "correct_choice": 2, "duration_group": 15,
            "candidates": ["green", "blue", "red", "cyan"], "subtitle_path": "lvbvid01_en.json",
            "starting_timestamp_for_subtitles": 30, "duration": 12.0}]  # fmt: skip
    (tmp_path / "lvb_val.json").write_text(json.dumps(lvb))
    out = tmp_path / "out-lvb"
    summary = _run("longvideobench", tmp_path / "lvb_val.json", tmp_path / "lvb" / "videos", out,
                   "--subtitles-dir", str(tmp_path / "lvb" / "subtitles"))  # fmt: skip
    assert summary["all"]["Overall"] == 100.0 and summary["num_videos_with_subtitles"] == 1
    srt = out / "job_inputs" / "subtitles" / "lvbvid01.srt"  # the JSON's cues, on the clip's clock
    assert (
        srt.read_text()
        == "1\n00:00:01,000 --> 00:00:03,000\na red square\n\n2\n00:00:06,000 --> 00:00:08,500\ngone\n"
    )
    usage = _answers(out)["lvbvid01_0"].subtitles
    assert [(c.start_seconds, c.end_seconds, c.text) for c in usage.cues] == [
        (1.0, 3.0, "a red square"), (6.0, 8.5, "gone")
    ]  # fmt: skip


def test_the_jobs_subtitle_map_json_or_csv(tmp_path):
    """The batch job's per-video subtitle files (JobConfig.subtitle_map), looked up by URL or video id."""
    from types import SimpleNamespace

    from videoqa.batch._subtitle_map import subtitles_of

    (tmp_path / "map.json").write_text(json.dumps({"/v/001.mp4": "subtitle/001.srt", "002": "/abs/002.srt"}))
    config = SimpleNamespace(subtitle_map=str(tmp_path / "map.json"), subtitles=None, storage_options=None)
    assert (
        subtitles_of("/v/001.mp4", "001.mp4", config) == f"{tmp_path}/subtitle/001.srt"
    )  # from the map's folder
    assert subtitles_of("/v/002.mp4", "002", config) == "/abs/002.srt"
    assert subtitles_of("/v/003.mp4", "003.mp4", config) is None  # not in the map: JobConfig.subtitles
    (tmp_path / "map.csv").write_text("video,subtitles\n/v/003.mp4,s/003.vtt\n")
    config = SimpleNamespace(subtitle_map=str(tmp_path / "map.csv"), subtitles="auto", storage_options=None)
    assert subtitles_of("/v/003.mp4", "x", config) == f"{tmp_path}/s/003.vtt"
    assert subtitles_of("/v/004.mp4", "x", config) == "auto"
    assert subtitles_of("/v/004.mp4", "x", SimpleNamespace(subtitle_map=None, subtitles="auto")) == "auto"
