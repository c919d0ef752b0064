"""A generated mini benchmark in both official formats, evaluated end to end through the Ray batch job.

Real H.264 videos with coloured squares over known intervals (videoqa.synthetic), annotation files
written here, the scripted stand-in model (``builtin:scripted``), the real batch job on one shared
local Ray. The scripted model answers a grounding prompt with the perceived times of the first and
last sampled frame showing the colour the sentence names, and a choice prompt with the first option
naming a colour it sees; so every score below is known in advance and computed by hand.

Why perfect grounding gives mIoU near but not exactly 100: frame quantisation. At 2 fps the last
sampled frame inside an event [s, e) is at e - 0.5 s, so the predicted span is [s, e - 0.5] and its
IoU is (e - s - 0.5) / (e - s).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from videoqa.eval import EvalConfig, run_eval
from videoqa.eval._cli import main
from videoqa.synthetic import Event, write_video

pytestmark = pytest.mark.ray

FPS = 4.0  # video frame rate; sampling runs at 2 fps, so sampled frames sit at k * 0.5 s


def _job() -> dict:
    return {"local_num_cpus": 2, "decode_workers": 1, "progress_interval_seconds": 60.0}


@pytest.fixture(scope="module")
def charades_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("charades") / "Charades_v1_480"
    write_video(folder / "AAAA1.mp4", duration_seconds=30, fps=FPS,
                events=[Event(10.0, 20.0, "red"), Event(3.0, 8.0, "blue")])  # fmt: skip
    write_video(folder / "BBBB2.mp4", duration_seconds=20, fps=FPS, events=[Event(5.0, 15.0, "green")])
    (folder / "BROKE.mp4").write_bytes(b"not a video at all " * 64)
    return folder


@pytest.fixture(scope="module")
def lvbench_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lvbench") / "videos"
    write_video(folder / "vidRed01.mp4", duration_seconds=40, fps=FPS,
                events=[Event(5.0, 15.0, "red"), Event(20.0, 30.0, "green")])  # fmt: skip
    write_video(folder / "vidBlu02.mp4", duration_seconds=20, fps=FPS, events=[Event(0.0, 10.0, "blue")])
    return folder


def _items(path: str) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_eval_config_checks_the_job_fields_up_front(tmp_path):
    from pydantic import ValidationError

    base = {"benchmark": "lvbench", "annotations": "a.jsonl", "videos": "v", "output": str(tmp_path)}
    assert EvalConfig(**base, job=_job()).job == _job()
    with pytest.raises(ValidationError, match=r"unknown JobConfig fields \['replica'\]"):
        EvalConfig(**base, job={"replica": 2})
    with pytest.raises(ValidationError, match=r"job must not set \['model', 'output'\]"):
        EvalConfig(**base, job={"output": "x", "model": "m"})
    with pytest.raises(
        ValidationError,
        match=r"invalid JobConfig values: replicas: Input should be greater than or equal to 1 \(got 0\)",
    ):
        EvalConfig(**base, job={"replicas": 0})


def test_charades_sta_perfect_grounding(ray_cluster, charades_videos, tmp_path):
    annotations = tmp_path / "charades_sta_test.txt"
    annotations.write_text(
        "AAAA1 10.0 20.0##a red square appears.\n"
        "AAAA1 3.0 8.0 0##a blue square appears.\n"  # the 4th field some copies add
        "BBBB2 5.0 15.0##a green square appears.\n"
    )
    durations = tmp_path / "Charades_v1_test.csv"
    durations.write_text("id,scene,length\nAAAA1,Kitchen,30.00\nBBBB2,Garage,20.00\n")
    config = EvalConfig(
        benchmark="charades-sta", annotations=str(annotations), videos=str(charades_videos),
        durations=str(durations), output=str(tmp_path / "out"), model="builtin:scripted", job=_job(),
    )  # fmt: skip
    result = run_eval(config)
    summary = result.summary
    assert summary["all"]["R@0.7"] == 100.0 and summary["all"]["R@0.3"] == 100.0
    # IoU per query: 9.5/10, 4.5/5, 9.5/10 (the last sampled frame is 0.5 s before each event ends)
    assert summary["all"]["mIoU"] == pytest.approx(100 * (0.95 + 0.9 + 0.95) / 3)
    assert summary["all"]["num_queries"] == 3 and summary["num_missing_videos"] == 0
    assert summary["num_unparsed"] == 0 and summary["num_failed"] == 0
    assert summary["clip_ground_truth_to_duration"] is False

    rows = _items(result.paths["items"])
    assert [r["query_id"] for r in rows] == ["0", "1", "2"]
    assert [r["prediction_text"] for r in rows] == [
        "The event happens in 10.0 - 19.5 seconds.",
        "The event happens in 3.0 - 7.5 seconds.",
        "The event happens in 5.0 - 14.5 seconds.",
    ]
    assert [(r["pred_start_seconds"], r["pred_end_seconds"]) for r in rows] == [
        (10.0, 19.5),
        (3.0, 7.5),
        (5.0, 14.5),
    ]
    assert [r["iou"] for r in rows] == pytest.approx([0.95, 0.9, 0.95])
    # sampling used: one window at 2 fps over the whole video (60 and 40 frames)
    assert [r["num_frames"] for r in rows] == [60, 60, 40]
    assert [r["sampled_fps"] for r in rows] == [[2.0], [2.0], [2.0]]
    assert [r["duration_seconds"] for r in rows] == [30.0, 30.0, 20.0]
    assert rows[0]["prompt"].endswith(
        "sentence: a red square appears.. Please return its start time and end time."
    )

    table = Path(result.paths["table"]).read_text()
    assert table == result.table and "| Qwen2.5-VL-7B (published) | – | – | – | 43.6 |" in table
    # lmms-eval's submission file, next to the results
    submission = json.loads(Path(result.paths["charades_sta_submission.json"]).read_text())
    assert submission["AAAA1.mp4>>>a red square appears.>>>[10.0, 20.0]"] == rows[0]["prediction_text"]
    assert len(submission) == 3
    assert "| builtin:scripted (this run, all 3 queries) | 100.0 | 100.0 | 100.0 | 93.3 |" in table

    # --resume passes through: nothing is asked again, the scores are the same
    resumed = run_eval(config.model_copy(update={"job": {**config.job, "resume": True}}))
    assert resumed.summary["all"] == summary["all"]

    # --prompt native: videoqa's own (Qwen cookbook) grounding prompt, same answers from the scripted model
    from videoqa.core import prompts

    native = run_eval(config.model_copy(update={"prompt": "native", "output": str(tmp_path / "native")}))
    assert native.summary["all"] == summary["all"] and native.summary["prompt_style"] == "native"
    native_rows = _items(native.paths["items"])
    assert native_rows[0]["prompt"] == prompts.grounding_prompt("a red square appears.")


SHIFTED_MISSING_BROKEN = [
    {"image_id": "BBBB2.mp4", "caption": "a green square is shown.", "timestamp": [9.0, 19.0], "id": 0},
    {"image_id": "GONE9.mp4", "caption": "a red square is shown.", "timestamp": [1.0, 2.0], "id": 1},
    {"image_id": "AAAA1.mp4", "caption": "a yellow square is shown.", "timestamp": [1.0, 2.0], "id": 2},
    {"image_id": "BROKE.mp4", "caption": "a red square is shown.", "timestamp": [1.0, 2.0], "id": 3},
    {"image_id": "AAAA1.mp4", "caption": "a red square appears.", "timestamp": [10.0, 20.0], "id": 4},
]
"""TimeChat's JSON variant over the charades_videos fixture: the green event really is 5-15 s (the
annotation says 9-19 s), GONE9 is missing, no yellow square exists, BROKE is not a video."""


def test_charades_sta_shifted_ground_truth_missing_and_broken_videos(ray_cluster, charades_videos, tmp_path):
    # TimeChat's JSON variant; the green event really is 5-15 s, the annotation says 9-19 s
    annotations = tmp_path / "test.caption_coco_format.json"
    annotations.write_text(json.dumps({"annotations": SHIFTED_MISSING_BROKEN}))
    config = EvalConfig(
        benchmark="charades-sta", annotations=str(annotations), videos=str(charades_videos), limit=4,
        output=str(tmp_path / "out"), model="builtin:scripted", job=_job(),
    )  # fmt: skip
    summary = run_eval(config).summary
    # prediction 5.0-14.5 vs ground truth 9-19: inter 14.5 - 9 = 5.5, union 19 - 5 = 14
    shifted = 5.5 / 14
    assert summary["all"]["num_queries"] == 4  # --limit 4: id 4 is left out
    assert summary["all"]["mIoU"] == pytest.approx(100 * shifted / 4)
    assert summary["all"]["R@0.3"] == 25.0 and summary["all"]["R@0.5"] == 0.0
    # the missing video stays in "all" and is out of the answerable subset
    assert summary["missing_videos"] == ["GONE9"] and summary["num_items_missing_video"] == 1
    assert summary["answerable"]["num_queries"] == 3
    assert summary["answerable"]["mIoU"] == pytest.approx(100 * shifted / 3)
    # no yellow square in AAAA1: "does not occur" is a no_event answer, no span -> IoU 0, in the denominator
    assert (summary["num_unparsed"], summary["num_no_event"]) == (0, 1)
    # the broken file fails in the job: IoU 0, counted in both rows, the error kept
    assert summary["num_failed"] == 1
    rows = {r["query_id"]: r for r in _items(Path(config.output) / "items.parquet")}
    assert rows["0"]["iou"] == pytest.approx(shifted)
    assert rows["1"]["status"] == "missing_video" and rows["1"]["iou"] == 0.0
    assert rows["2"]["status"] == "ok" and rows["2"]["pred_start_seconds"] is None
    assert rows["2"]["prediction_text"] == "The event does not occur in this video."
    assert rows["3"]["status"] == "failed" and rows["3"]["iou"] == 0.0 and "BROKE.mp4" in rows["3"]["error"]
    assert "GONE9" in (Path(config.output) / "summary.json").read_text()


def _qa(uid: str, stem: str, options: list[str], answer: str, types: list[str]) -> dict:
    lines = "\n".join(f"({letter}) {text}" for letter, text in zip("ABCD", options, strict=True))
    return {"uid": uid, "question": f"{stem}\n{lines}", "answer": answer, "question_type": types,
            "time_reference": "00:05-00:15"}  # fmt: skip


def test_lvbench_accuracy_per_capability(ray_cluster, lvbench_videos, tmp_path, capsys):
    records = [
        {"key": "vidRed01", "type": "cartoon", "qa": [
            _qa("1", "Which colour is the first square?", ["blue", "red", "yellow", "cyan"], "B",
                ["entity recognition"]),  # picks B (red): right
            _qa("2", "Which square appears second?", ["red", "green", "blue", "orange"], "B",
                ["event understanding", "temporal grounding"]),  # picks A (red, seen first): wrong
            _qa("3", "What is shown?", ["a green square", "a dog", "a cat", "nothing"], "A",
                ["key information retrieval", "reasoning"]),  # picks A: right
        ]},
        {"key": "vidBlu02", "type": "sport", "qa": [
            _qa("4", "What passes by?", ["a cat", "a dog", "a car", "a tree"], "C",
                ["summarization"]),  # no colour named: answers (A): wrong
            _qa("5", "Which colour?", ["magenta", "orange", "blue", "red"], "C",
                ["entity recognition", "summarization"]),  # picks C (blue): right
        ]},
        {"key": "gone0001", "type": "tv", "qa": [
            _qa("6", "Which colour?", ["red", "green", "blue", "cyan"], "A", ["temporal grounding"]),
        ]},
    ]  # fmt: skip
    annotations = tmp_path / "video_info.meta.jsonl"
    annotations.write_text("".join(json.dumps(r) + "\n" for r in records))
    # through the entry point of pipelines/eval_lvbench.py (= `videoqa eval lvbench ...`)
    out = tmp_path / "out"
    argv = ["--annotations", str(annotations), "--videos", str(lvbench_videos), "--output", str(out),
            "--model", "builtin:scripted", "--decode-workers", "1", "--local-num-cpus", "2",
            "--scoring", "lmms-eval"]  # fmt: skip
    assert main(argv, benchmark="lvbench") == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    everything = {"Overall": 50.0, "ER": 100.0, "EU": 0.0, "KIR": 100.0, "TG": 0.0, "Rea": 100.0, "Sum": 50.0}
    assert {k: summary["all"][k] for k in everything} == everything
    assert summary["all"]["num_questions"] == 6
    assert summary["answerable"]["Overall"] == 60.0 and summary["answerable"]["num_questions"] == 5
    assert (
        summary["answerable"]["capability_counts"]["TG"] == 1
        and summary["all"]["capability_counts"]["TG"] == 2
    )
    assert summary["missing_videos"] == ["gone0001"] and summary["num_without_letter"] == 0
    assert summary["scoring"] == "lmms_eval"  # the scripted "(B)"-style answers read the same both ways
    rows = _items(tmp_path / "out" / "items.parquet")
    assert [r["pred_letter"] for r in rows] == ["B", "A", "A", "A", "C", None]
    assert [r["correct"] for r in rows] == [True, False, True, False, True, False]
    assert rows[0]["prompt"] == (
        "Which colour is the first square?\n(A) blue\n(B) red\n(C) yellow\n(D) cyan"
        "\nAnswer the question with the option letter"
    )
    table = (tmp_path / "out" / "results.md").read_text()
    assert table in printed  # the Markdown table is printed and written beside summary.json
    assert "| Qwen2.5-VL-72B (published) | – | – | – | – | – | – | 47.3 |" in table
    answerable = "| builtin:scripted (this run, answerable subset, 5 questions) |"
    assert f"{answerable} 100.0 | 0.0 | 100.0 | 0.0 | 100.0 | 50.0 | 60.0 |" in table
    # videoqa eval records the settings it ran with, and every answer carries them and their hash
    from videoqa import Analysis, Settings, config_hash
    from videoqa.batch import read_tables
    from videoqa.eval._run import eval_settings

    expected = eval_settings("lvbench", "lmms-eval")
    assert Settings(**summary["settings"]) == expected
    assert summary["config_hash"] == config_hash("builtin:scripted", expected)
    answers = read_tables(str(out / "batch"), tables=["answers"])["answers"].to_pylist()
    recorded = {
        (Analysis.model_validate_json(r["analysis_json"]).config_hash, r["config_hash"]) for r in answers
    }
    assert recorded == {(summary["config_hash"], summary["config_hash"])}


@pytest.mark.slow
def test_charades_sta_with_the_tiny_qwen_model(ray_cluster, charades_videos, tmp_path):
    """The real runner (random-weight tiny Qwen2.5-VL) gets the lmms-eval prompt; every answer is scored."""
    from videoqa.eval._metrics import temporal_iou

    annotations = tmp_path / "charades_sta_test.txt"
    annotations.write_text(
        "AAAA1 10.0 20.0##a red square appears.\nBBBB2 5.0 15.0##a green square appears.\n"
    )
    config = EvalConfig(
        benchmark="charades-sta", annotations=str(annotations), videos=str(charades_videos),
        output=str(tmp_path / "out"), model="builtin:tiny-qwen2.5-vl", job=_job(),
    )  # fmt: skip
    result = run_eval(config)
    rows = _items(result.paths["items"])
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert [r["num_frames"] for r in rows] == [60, 40] and [r["sampled_fps"] for r in rows] == [[2.0], [2.0]]
    assert rows[0]["prompt"].startswith("Please find the visual event described by a sentence in the video")
    for r in rows:  # random weights: whatever was said, the score follows from the parsed span (or is 0)
        span = None if r["pred_start_seconds"] is None else (r["pred_start_seconds"], r["pred_end_seconds"])
        assert r["iou"] == temporal_iou(span, (r["gt_start_seconds"], r["gt_end_seconds"]))
        assert isinstance(r["prediction_text"], str)
    assert result.summary["all"]["num_queries"] == 2
    assert result.summary["all"]["mIoU"] == pytest.approx(50 * (rows[0]["iou"] + rows[1]["iou"]))
    assert result.summary["num_unparsed"] == sum(r["pred_start_seconds"] is None for r in rows)
