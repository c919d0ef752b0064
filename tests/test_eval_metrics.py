"""Charades-STA and LVBench scores against hand-computed values, edge cases included."""

from __future__ import annotations

import json

import pytest

from videoqa.eval._charades import GroundingItem
from videoqa.eval._lvbench import ChoiceItem
from videoqa.eval._metrics import choice_scores, clip_span, grounding_scores, ordered_span, temporal_iou
from videoqa.eval._report import markdown_table, write_report
from videoqa.eval._score import Prediction, score_choice, score_grounding

# --------------------------------------------------------------------------------------------- IoU


def test_iou_partial_overlap_is_intersection_over_union():
    # inter = 30.4 - 24.3 = 6.1, union = 31.0 - 24.0 = 7.0
    assert temporal_iou((24.0, 31.0), (24.3, 30.4)) == pytest.approx(6.1 / 7.0)
    # disjoint inside the hull: inter = 2 (8..10), union = 12 - 0 = 12
    assert temporal_iou((0.0, 10.0), (8.0, 12.0)) == pytest.approx(2.0 / 12.0)


def test_iou_identical_and_contained_spans():
    assert temporal_iou((24.3, 30.4), (24.3, 30.4)) == 1.0
    # prediction inside the ground truth: 2 / 10
    assert temporal_iou((4.0, 6.0), (0.0, 10.0)) == pytest.approx(0.2)


def test_iou_touching_and_disjoint_spans_are_zero():
    assert temporal_iou((5.0, 10.0), (10.0, 12.0)) == 0.0
    assert temporal_iou((10.0, 12.0), (5.0, 10.0)) == 0.0
    assert temporal_iou((0.0, 1.0), (20.0, 30.0)) == 0.0


def test_iou_zero_length_spans_are_zero():
    assert temporal_iou((5.0, 5.0), (5.0, 5.0)) == 0.0  # union 0 -> 0, no division error
    assert temporal_iou((5.0, 5.0), (0.0, 10.0)) == 0.0  # a point inside the ground truth
    assert temporal_iou((4.0, 6.0), (5.0, 5.0)) == 0.0  # zero-length ground truth


def test_reversed_spans_are_swapped():
    assert ordered_span((30.4, 24.3)) == (24.3, 30.4)
    assert temporal_iou((30.4, 24.3), (24.3, 30.4)) == 1.0
    assert temporal_iou((31.0, 24.0), (30.4, 24.3)) == pytest.approx(6.1 / 7.0)


def test_unparseable_prediction_scores_zero():
    assert temporal_iou(None, (24.3, 30.4)) == 0.0


def test_ground_truth_beyond_duration_is_kept_unless_clipped():
    # AKO6M: span 12.7-19.9 but the video lasts 18.58 s; a prediction up to the end of the video
    gt, duration, pred = (12.7, 19.9), 18.58, (12.7, 18.58)
    assert temporal_iou(pred, gt) == pytest.approx((18.58 - 12.7) / (19.9 - 12.7))  # 0.8167
    assert clip_span(gt, duration) == (12.7, 18.58)
    assert temporal_iou(pred, clip_span(gt, duration)) == 1.0
    assert clip_span((-1.0, 5.0), 10.0) == (0.0, 5.0)


# --------------------------------------------------------------------------------------------- R@m, mIoU


def test_recall_and_miou_in_percent():
    scores = grounding_scores([0.9, 0.7, 0.55, 0.3, 0.1, 0.0])
    assert scores.num_queries == 6
    assert scores.recall_at[0.3] == pytest.approx(100 * 4 / 6)
    assert scores.recall_at[0.5] == pytest.approx(100 * 3 / 6)
    assert scores.recall_at[0.7] == pytest.approx(100 * 2 / 6)
    assert scores.miou == pytest.approx(100 * 2.55 / 6)  # 42.5
    assert scores.as_dict()["R@0.7"] == pytest.approx(100 * 2 / 6)


def test_threshold_is_inclusive_and_robust_to_float_rounding():
    iou = temporal_iou((0.0, 0.7), (0.0, 1.0))  # 0.7 / 1.0, exactly at the threshold
    assert grounding_scores([iou]).recall_at[0.7] == 100.0
    assert grounding_scores([0.7 - 1e-12]).recall_at[0.7] == 100.0  # float noise still counts
    assert grounding_scores([0.6999]).recall_at[0.7] == 0.0


def test_empty_set_scores_zero():
    scores = grounding_scores([])
    assert (scores.num_queries, scores.miou, scores.recall_at[0.5]) == (0, 0.0, 0.0)


def _query(qid: str, vid: str, start: float, end: float, duration: float | None = None) -> GroundingItem:
    return GroundingItem(qid, vid, f"query {qid}.", start, end, duration)


def test_every_query_stays_in_the_denominator():
    items = [_query("0", "A", 10, 20), _query("1", "A", 0, 5), _query("2", "B", 3, 9), _query("3", "C", 1, 2)]
    preds = {
        "0": Prediction(status="ok", raw_text="The event happens in 20 - 10 seconds.", span=(20.0, 10.0)),
        "1": Prediction(status="ok", raw_text="I cannot tell.", parse_error="no time found"),
        "2": Prediction(status="failed", error_type="TruncatedVideoError", error="B.mp4: no moov atom"),
        "3": Prediction(status="missing_video"),
    }
    rows, scores = score_grounding(items, preds, dict.fromkeys("0123", "p"))
    # one perfect (reversed, swapped) answer out of 4 queries
    assert scores["all"]["R@0.7"] == 25.0 and scores["all"]["mIoU"] == 25.0
    assert scores["all"]["num_queries"] == 4
    # the answerable subset drops only the missing video: 1 of 3
    assert scores["answerable"]["num_queries"] == 3
    assert scores["answerable"]["mIoU"] == pytest.approx(100 / 3)
    assert (scores["num_unparsed"], scores["num_failed"]) == (1, 1)
    assert [r["iou"] for r in rows] == [1.0, 0.0, 0.0, 0.0]
    assert (rows[0]["pred_start_seconds"], rows[0]["pred_end_seconds"]) == (10.0, 20.0)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "missing_video"]


def test_clip_flag_uses_annotated_then_probed_duration():
    items = [_query("0", "AKO6M", 12.7, 19.9, duration=18.58), _query("1", "X", 8.0, 12.0)]
    preds = {
        "0": Prediction(status="ok", span=(12.7, 18.58)),
        "1": Prediction(status="ok", span=(8.0, 10.0), video_duration_seconds=10.0),  # probed by the job
    }
    rows, _ = score_grounding(items, preds, {"0": "p", "1": "p"})
    assert rows[0]["iou"] == pytest.approx(5.88 / 7.2) and rows[1]["iou"] == pytest.approx(0.5)
    rows, _ = score_grounding(items, preds, {"0": "p", "1": "p"}, clip_ground_truth=True)
    assert rows[0]["iou"] == 1.0 and rows[1]["iou"] == 1.0
    assert rows[0]["gt_scored_end_seconds"] == 18.58 and rows[0]["gt_end_seconds"] == 19.9


# --------------------------------------------------------------------------------------------- accuracy


def test_accuracy_counts_a_question_under_each_of_its_capabilities():
    results = [(True, ["ER"]), (False, ["ER", "TG"]), (True, ["TG", "Rea"]), (False, ["Sum"])]
    scores = choice_scores(results, capability_order=("ER", "EU", "KIR", "TG", "Rea", "Sum"))
    assert scores.accuracy == 50.0 and scores.num_questions == 4
    # a capability no question lists has no accuracy (shown "–", issue 27), not 0.0
    expected = {"ER": 50.0, "EU": None, "KIR": None, "TG": 50.0, "Rea": 100.0, "Sum": 0.0}
    assert scores.per_capability == expected
    assert scores.capability_counts == {"ER": 2, "EU": 0, "KIR": 0, "TG": 2, "Rea": 1, "Sum": 1}


def _choice(qid: str, vid: str, answer: str, caps: tuple[str, ...]) -> ChoiceItem:
    text = "Q?\n(A) a\n(B) b\n(C) c\n(D) d"
    return ChoiceItem(
        qid, vid, "cartoon", text, "Q?", ("a", "b", "c", "d"), answer, caps, caps, "00:00-00:10"
    )


def test_no_letter_is_wrong_and_missing_videos_are_reported_both_ways():
    items = [
        _choice("1", "v1", "B", ("ER",)),
        _choice("2", "v1", "C", ("ER", "TG")),
        _choice("3", "v1", "A", ("TG",)),
        _choice("4", "gone", "D", ("Sum",)),
    ]
    preds = {
        "1": Prediction(status="ok", raw_text="(B) b", letter="B"),
        "2": Prediction(status="ok", raw_text="C", letter="C"),
        "3": Prediction(status="ok", raw_text="I am not sure.", parse_error="no option letter"),
        "4": Prediction(status="missing_video"),
    }
    rows, scores = score_choice(items, preds, dict.fromkeys("1234", "p"))
    assert scores["all"]["Overall"] == 50.0 and scores["all"]["num_questions"] == 4
    assert scores["answerable"]["Overall"] == pytest.approx(200 / 3)
    assert scores["all"]["ER"] == 100.0 and scores["all"]["TG"] == 50.0 and scores["all"]["Sum"] == 0.0
    assert scores["answerable"]["capability_counts"]["Sum"] == 0
    assert scores["num_without_letter"] == 1
    assert [r["correct"] for r in rows] == [True, True, False, False]


# --------------------------------------------------------------------------------------------- report


def _charades_summary(**overrides):
    summary = {
        "benchmark": "charades-sta", "title": "Charades-STA", "model": "m", "prompt_style": "lmms-eval",
        "strategy": "single", "sampling_note": "sampling 2 fps", "limit": None, "comparable": True,
        "clip_ground_truth_to_duration": False, "num_missing_videos": 0, "num_items_missing_video": 0,
        "num_unparsed": 0, "num_failed": 0,
        "all": grounding_scores([1.0, 0.5]).as_dict(), "answerable": grounding_scores([1.0, 0.5]).as_dict(),
    }  # fmt: skip
    return {**summary, **overrides}


def test_markdown_table_shows_published_numbers_and_the_clipping_choice():
    table = markdown_table(_charades_summary())
    assert "| m (this run, all 2 queries) | 100.0 | 100.0 | 50.0 | 75.0 |" in table
    for name, miou in (("3B", "38.8"), ("7B", "43.6"), ("72B", "50.9")):
        assert f"| Qwen2.5-VL-{name} (published) | – | – | – | {miou} |" in table
    assert "Ground truth clipped to the video duration: no" in table
    assert "answerable subset" not in table  # no missing video: one row suffices
    table = markdown_table(_charades_summary(num_missing_videos=1, num_items_missing_video=3))
    assert "answerable subset, 2 queries" in table and "1 video(s) missing (3 queries)" in table


def test_write_report_files(tmp_path):
    gt = {
        "video_id": "V",
        "sentence": "s.",
        "gt_start_seconds": 0.0,
        "gt_end_seconds": 2.0,
        "prediction_text": "",
    }
    rows = [{**gt, "query_id": "0", "iou": 1.0}, {**gt, "query_id": "1", "iou": 0.5}]
    paths = write_report(tmp_path / "out", rows, _charades_summary())
    import pyarrow.parquet as pq

    assert pq.read_table(paths["items"]).column("iou").to_pylist() == [1.0, 0.5]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["published"]["Qwen2.5-VL-7B"] == {"mIoU": 43.6}
    assert (tmp_path / "out" / "results.md").read_text() == markdown_table(summary)
