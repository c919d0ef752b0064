"""MLVU, Video-MME and LongVideoBench: loaders on the real public files (when present), prompts, and all
three end to end with the scripted model on generated videos named as each benchmark names them.

Samples written here follow the published formats: MLVU's task files (JUNJIE99/MLVU ``MLVU/json``:
``{video, duration, question, candidates, answer (text), question_type}``), Video-MME's results
template (BradyFU/Video-MME ``output_test_template.json``), LongVideoBench's ``lvb_val.json``
(longvideobench/LongVideoBench README: ``{id, video_id, video_path, question, candidates,
correct_choice, duration_group, question_category, ...}``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from videoqa.eval.benchmarks.longvideobench import load_longvideobench
from videoqa.eval.benchmarks.mlvu import load_mlvu
from videoqa.eval.benchmarks.videomme import load_videomme

from .real_data import REAL, needs_real

# ------------------------------------------------------------------------------ real files


@needs_real
def test_mlvu_dev_set_real_files_and_their_quirks():
    items, aside = load_mlvu(REAL / "mlvu")
    tasks = {}
    for item in items:
        tasks[item.task] = tasks.get(item.task, 0) + 1
    assert len(items) == 2172 and len({i.video_id for i in items}) == 1122
    assert tasks == {"PQA": 539, "NQA": 353, "ER": 352, "AC": 206, "AO": 259, "AR": 200, "TR": 263}
    expected = [
        ("2_needle.json", "question 34", "answer 'Catching a flying drone quadcopter' is not among"),
        ("2_needle.json", "question 338", "answer 'Catching a flying drone quadcopter' is not among"),
        ("7_topic_reasoning.json", "question 26", "every candidate is empty"),
        ("8_sub_scene.json", "", "not multiple choice (no candidates): 201 generation"),
        ("9_summary.json", "", "not multiple choice (no candidates): 217 generation"),
    ]  # 2,593 questions = 2,172 kept + 3 set aside + 418 generation questions
    assert [
        (Path(a.source).name, a.record, a.reason[: len(e[2])]) for a, e in zip(aside, expected, strict=True)
    ] == expected
    duplicates = [i for i in items if len(i.right_letters) > 1]  # the answer listed twice: both letters right
    assert len(duplicates) == 5
    assert all(o == o.strip() for i in items for o in i.options)  # 24 ego candidates had spaces


@needs_real
def test_videomme_official_template_with_trailing_commas():
    items = load_videomme(REAL / "videomme" / "output_test_template.json")
    assert (len(items), len({i.video_id for i in items})) == (9, 3)
    assert items[0].item_id == "001-1" and items[0].right_letters == ("C",)
    assert items[0].options == ("Apples.", "Candles.", "Berries.", "The three kinds are of the same number.")
    assert items[0].groups == {"duration": "short", "domain": "Knowledge", "task_type": "Counting Problem"}


@needs_real
def test_longvideobench_excerpt():
    items, aside = load_longvideobench(REAL / "longvideobench" / "lvb_val.SAMPLE_first10_third_party.json")
    assert (len(items), aside) == (10, [])
    assert [len(i.options) for i in items].count(5) == 2 and items[8].right_letters == ("E",)
    assert {i.groups["duration_group"] for i in items} == {"600"} and items[0].video_id == "86CxyhFV9MI"


def test_videomme_lmms_eval_prompt():
    from videoqa.eval import get_benchmark

    items = load_videomme_sample()
    prompt = get_benchmark("videomme").question(items[0], "lmms_eval").prompt
    assert prompt == (
        "Select the best answer to the following multiple-choice question based on the video and the "
        "subtitles. Respond with only the letter (A, B, C, or D) of the correct option.\n"
        "Which colour is the square?\nA. Blue.\nB. Red.\nC. Green.\nD. Cyan.\n\n"
        "Answer the question with A, B, C, or D."
    )


# ------------------------------------------------------------------------------ end to end

VIDEOMME_TEMPLATE = """[
    {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Art",
     "questions": [
        {"question_id": "001-1", "task_type": "Object Recognition", "question": "Which colour is the square?",
         "options": ["A. Blue.", "B. Red.", "C. Green.", "D. Cyan."], "answer": "B", "response": "",},
        {"question_id": "001-2", "task_type": "Counting Problem", "question": "What passes by?",
         "options": ["A. A dog.", "B. A cat.", "C. A car.", "D. A tree."], "answer": "C", "response": "",},
     ]},
    {"video_id": "002", "duration": "medium", "domain": "Sports", "sub_category": "Golf",
     "questions": [
        {"question_id": "002-1", "task_type": "Object Recognition", "question": "Which colour?",
         "options": ["A. Red.", "B. Blue.", "C. Green.", "D. Cyan."], "answer": "A", "response": "",},
     ]},
]
"""


def load_videomme_sample(tmp: Path | None = None):
    import tempfile

    folder = Path(tmp or tempfile.mkdtemp())
    (folder / "videomme.json").write_text(VIDEOMME_TEMPLATE)
    return load_videomme(folder / "videomme.json")


def _run(benchmark: str, annotations: Path, videos: Path, out: Path, *extra: str) -> dict:
    from videoqa.eval._cli import main

    argv = ["--annotations", str(annotations), "--videos", str(videos), "--output", str(out),
            "--model", "builtin:scripted", "--decode-workers", "1", "--local-num-cpus", "2",
            *extra]  # fmt: skip
    assert main(argv, benchmark=benchmark) == 0
    return json.loads((out / "summary.json").read_text())


@pytest.mark.ray
def test_mlvu_videomme_and_longvideobench_end_to_end(ray_cluster, tmp_path):
    """One 12 s red-square video under each benchmark's name; the scripted model picks the first option
    naming a colour it sees, else (A)."""
    from videoqa.synthetic import Event, write_video

    red = tmp_path / "red.mp4"
    write_video(red, duration_seconds=12, fps=4.0, events=[Event(2.0, 10.0, "red")])
    for name in ("mlvu/video/4_count/count_1.mp4", "videomme/data/001.mp4", "lvb/videos/lvbvid01.MP4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(red, tmp_path / name)

    tasks = tmp_path / "MLVU" / "json"
    tasks.mkdir(parents=True)
    entry = {"video": "count_1.mp4", "duration": 12.0, "question": "Which colour?"}
    (tasks / "4_count.json").write_text(
        json.dumps(
            [
                {
                    **entry,
                    "candidates": ["blue", "red", "green", "cyan"],
                    "answer": "red",
                    "question_type": "count",
                }
            ]
        )
    )
    (tasks / "1_plotQA.json").write_text(
        json.dumps(
            [  # "red" listed twice: A and C are both right
                {
                    **entry,
                    "candidates": ["red", "blue", "red", "cyan"],
                    "answer": "red",
                    "question_type": "plotQA",
                }
            ]
        )
    )
    (tasks / "7_topic_reasoning.json").write_text(json.dumps([
        {**entry, "candidates": ["a dog", "a cat", "a car", "a tree"], "answer": "a car",
         "question_type": "topic_reasoning"}]))  # fmt: skip
    summary = _run("mlvu", tasks, tmp_path / "mlvu" / "video", tmp_path / "out-mlvu")
    assert {k: summary["all"][k] for k in ("AC", "PQA", "TR", "NQA", "Overall")} == {
        "AC": 100.0, "PQA": 100.0, "TR": 0.0, "NQA": None, "Overall": 200 / 3
    }  # fmt: skip
    assert summary["all"]["M-Avg"] == pytest.approx(200 / 3)
    assert json.loads((tmp_path / "out-mlvu" / "mlvu_submission.json").read_text()) == [
        {"question_id": "plotQA_0", "question_type": "plotQA", "option": "A"},
        {"question_id": "count_0", "question_type": "count", "option": "B"},
        {"question_id": "topic_reasoning_0", "question_type": "topic_reasoning", "option": "A"},
    ]

    (tmp_path / "videomme.json").write_text(VIDEOMME_TEMPLATE)
    out = tmp_path / "out-videomme"
    summary = _run(
        "videomme", tmp_path / "videomme.json", tmp_path / "videomme" / "data", out, "--prompt", "native"
    )
    assert {k: summary["all"].get(k) for k in ("short", "medium", "long", "Overall")} == {
        "short": 50.0, "medium": 0.0, "long": None, "Overall": 100 / 3
    }  # fmt: skip
    assert summary["all"]["breakdowns"]["task_type"] == {"Object Recognition": 50.0, "Counting Problem": 0.0}
    assert summary["missing_videos"] == ["002"]
    table = (out / "results.md").read_text()
    assert "| builtin:scripted (this run, all 3 questions) | 50.0 | 0.0 | – | 33.3 |" in table
    results = json.loads((out / "videomme_results.json").read_text())
    assert [sorted(v) for v in results] == [["domain", "duration", "questions", "video_id"]] * 2
    assert [(q["question_id"], q["answer"], q["response"]) for v in results for q in v["questions"]] == [
        ("001-1", "B", "B"), ("001-2", "C", "A"), ("002-1", "A", ""),
    ]  # fmt: skip

    base = {"video_id": "lvbvid01", "video_path": "lvbvid01.mp4"}
    lvb = [
        {**base, "id": "lvbvid01_0", "question": "Which colour?", "correct_choice": 2, "duration_group": 15,
         "candidates": ["green", "blue", "red", "cyan", "magenta"], "question_category": "E2O"},
        {**base, "id": "lvbvid01_1", "question": "What passes?", "correct_choice": 1, "duration_group": 60,
         "candidates": ["a dog", "a cat", "a car", "a tree"], "question_category": "O2E"},
    ]  # fmt: skip
    (tmp_path / "lvb_val.json").write_text(json.dumps(lvb))
    summary = _run("longvideobench", tmp_path / "lvb_val.json", tmp_path / "lvb", tmp_path / "out-lvb")
    assert {k: summary["all"].get(k) for k in ("15", "60", "600", "Overall")} == {
        "15": 100.0, "60": 0.0, "600": None, "Overall": 50.0
    }  # fmt: skip
    submission = json.loads((tmp_path / "out-lvb" / "longvideobench_test_for_submission.json").read_text())
    assert sorted(submission) == ["lvbvid01_0", "lvbvid01_1"] and all(submission.values())
