"""The official output files of Charades-STA, ActivityNet Captions, MLVU and LongVideoBench, checked
against the fields their scorers read (sources in each benchmark's module docstring):

- Charades-STA: lmms-eval's submission, ``{"<video>.mp4>>><caption>>>>[s, e]": text}``, read back the
  way lmms-eval's ``eval_tvg.py`` reads it (split on ``>>>``, the ground truth evaluated as a list,
  the span read from the text, an unreadable one scored IoU 0) gives our lmms-eval-mode scores;
- ActivityNet Captions: densevid_eval's ``{"version", "results": {vid: [{"sentence",
  "timestamp"}]}, "external_data": {"used", "details"}}``;
- MLVU: the online evaluation's ``[{"question_id", "question_type", "option"}]``;
- LongVideoBench: lmms-eval's leaderboard file ``{id: model text}``.
"""

from __future__ import annotations

import ast
import json
from types import SimpleNamespace

import pytest

from videoqa.eval._charades import GroundingItem
from videoqa.eval._choice import ChoiceQuestion
from videoqa.eval._lmms_eval import lmms_eval_span
from videoqa.eval._metrics import temporal_iou
from videoqa.eval._score import Prediction
from videoqa.eval.benchmarks import activitynet_captions, charades_sta, longvideobench, mlvu

LMMS = SimpleNamespace(scoring="lmms_eval", clip_ground_truth=False)


def _grounding() -> tuple[list[GroundingItem], dict[str, Prediction], dict[str, str]]:
    items = [
        GroundingItem("0", "AO8RW", "person opens the door.", 0.0, 6.9, 30.0),
        GroundingItem("1", "AO8RW", "person sits down.", 10.0, 15.5, 30.0),
        GroundingItem("2", "3MSZA", "a person is laughing.", 2.4, 8.0, 20.0),
        GroundingItem("3", "GONE9", "person eats.", 1.0, 2.0, 20.0),
    ]
    preds = {
        "0": Prediction("ok", raw_text="The event happens in 1.0 - 6.0 seconds.", span=(1.0, 6.0)),
        "1": Prediction("ok", raw_text="Start time: 12 s\nEnd time: 16 s", span=(12.0, 16.0)),
        "2": Prediction("ok", raw_text="I cannot tell."),
        "3": Prediction("missing_video"),
    }
    return items, preds, {k: f"prompt {k}" for k in preds}


def test_charades_sta_submission_is_what_lmms_evals_eval_tvg_reads():
    items, preds, prompts = _grounding()
    rows, scores = charades_sta.BENCHMARK.score(items, preds, prompts, LMMS)
    (name, text), = charades_sta.BENCHMARK.official_outputs(rows, {"model": "m"}).items()  # fmt: skip
    assert name == "charades_sta_submission.json"
    submission = json.loads(text)
    assert list(submission) == [
        "AO8RW.mp4>>>person opens the door.>>>[0.0, 6.9]",
        "AO8RW.mp4>>>person sits down.>>>[10.0, 15.5]",
        "3MSZA.mp4>>>a person is laughing.>>>[2.4, 8.0]",
        "GONE9.mp4>>>person eats.>>>[1.0, 2.0]",
    ]
    assert list(submission.values()) == [
        "The event happens in 1.0 - 6.0 seconds.", "Start time: 12 s\nEnd time: 16 s", "I cannot tell.", ""
    ]  # fmt: skip
    ious = []  # eval_tvg.py's loop: an answer without exactly one span is scored against [e + 10, e + 20]
    for key, answer in submission.items():
        _video, _caption, gt = key.split(">>>")
        start, end = ast.literal_eval(gt)
        span = lmms_eval_span(answer)
        ious.append(temporal_iou(span or (end + 10, end + 20), (start, end)))
    assert ious == pytest.approx([r["iou"] for r in rows])
    assert ious == pytest.approx([5 / 6.9, 3.5 / 6, 0.0, 0.0])
    assert 100 * sum(ious) / len(ious) == pytest.approx(scores["all"]["mIoU"])


def test_activitynet_captions_submission_has_densevid_evals_fields():
    items, preds, prompts = _grounding()
    rows, _ = activitynet_captions.BENCHMARK.score(items, preds, prompts, LMMS)
    outputs = activitynet_captions.BENCHMARK.official_outputs(rows, {"model": "builtin:scripted"})
    submission = json.loads(outputs["activitynet_captions_submission.json"])
    assert sorted(submission) == ["external_data", "results", "version"]
    assert submission["version"] == "VERSION 1.0"
    assert sorted(submission["external_data"]) == ["details", "used"]
    assert submission["external_data"]["used"] is True
    # one entry per sentence with a span; the unparsed answer and the missing video have none
    assert submission["results"] == {
        "AO8RW": [
            {"sentence": "person opens the door.", "timestamp": [1.0, 6.0]},
            {"sentence": "person sits down.", "timestamp": [12.0, 16.0]},
        ]
    }


def test_mlvu_submission_has_the_online_evaluations_fields(tmp_path):
    entry = {"video": "count_1.mp4", "duration": 12.0, "question": "How many?", "candidates": ["1", "2"]}
    (tmp_path / "4_count.json").write_text(json.dumps([
        {**entry, "answer": "2", "question_type": "count"},
        {**entry, "answer": "1", "question_type": "count"},
    ]))  # fmt: skip
    (tmp_path / "test_anomaly.json").write_text(json.dumps([  # the test set's shape: its own question_id
        {**entry, "video": "AR_7.mp4", "answer": "1", "question_type": "anomaly_reco", "question_id": "AR_0"},
    ]))  # fmt: skip
    items, _ = mlvu.load_mlvu(tmp_path)
    assert [i.item_id for i in items] == ["count_0", "count_1", "AR_0"]
    preds = {
        "count_0": Prediction("ok", raw_text="(B) 2", letter="B"),
        "count_1": Prediction("ok", raw_text="no idea"),
        "AR_0": Prediction("failed", error="broken"),
    }
    config = SimpleNamespace(scoring="native")
    rows, _ = mlvu.BENCHMARK.score(items, preds, {k: "" for k in preds}, config)
    submission = json.loads(mlvu.BENCHMARK.official_outputs(rows, {})["mlvu_submission.json"])
    assert submission == [
        {"question_id": "count_0", "question_type": "count", "option": "B"},
        {"question_id": "count_1", "question_type": "count", "option": ""},
        {"question_id": "AR_0", "question_type": "anomaly_reco", "option": ""},
    ]


def test_longvideobench_submission_is_lmms_evals_leaderboard_file():
    items = [
        ChoiceQuestion("86CxyhFV9MI_0", "86CxyhFV9MI", "Which?", ("a", "b", "c", "d", "e"), ("E",)),
        ChoiceQuestion("86CxyhFV9MI_1", "86CxyhFV9MI", "What?", ("a", "b", "c", "d"), ("A",)),
    ]
    preds = {
        "86CxyhFV9MI_0": Prediction("ok", raw_text="The best answer is E.", letter="E"),
        "86CxyhFV9MI_1": Prediction("missing_video"),
    }
    rows, _ = longvideobench.BENCHMARK.score(
        items, preds, {k: "" for k in preds}, SimpleNamespace(scoring="native")
    )
    outputs = longvideobench.BENCHMARK.official_outputs(rows, {})
    assert json.loads(outputs["longvideobench_test_for_submission.json"]) == {
        "86CxyhFV9MI_0": "The best answer is E.",
        "86CxyhFV9MI_1": "",
    }
