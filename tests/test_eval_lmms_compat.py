"""``--scoring lmms-eval`` gives lmms-eval's per-item results; native scoring reads better where documented.

The expected results in ``tests/data/lmms_eval_reference.json`` come from running lmms-eval's
Charades-STA and LVBench scoring functions once, outside this repository (source and commit in the
file); lmms-eval is not imported here.

Peers written against (tests/peers.py): lmms-eval at the commit recorded in
tests/data/lmms_eval_reference.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videoqa.core.parsing import parse_choice, parse_spans
from videoqa.eval._charades import GroundingItem
from videoqa.eval._lvbench import ChoiceItem
from videoqa.eval._score import Prediction, score_choice, score_grounding

REFERENCE = json.loads((Path(__file__).parent / "data" / "lmms_eval_reference.json").read_text())


def _grounding():
    cases = REFERENCE["grounding"]
    items = [GroundingItem(c["id"], "V", "q.", c["gt"][0], c["gt"][1]) for c in cases]
    preds = {}
    for c in cases:
        parsed = parse_spans(c["text"])
        span = parsed.spans[0] if parsed.spans else None
        preds[c["id"]] = Prediction(
            status="ok",
            raw_text=c["text"],
            span=None if span is None else (span.start_seconds, span.end_seconds),
            outcome="no_event" if parsed.absent else ("answered" if span else "unparsed"),
        )
    return cases, items, preds


def test_reference_set_is_large_enough():
    assert len(REFERENCE["grounding"]) >= 50 and len(REFERENCE["lvbench"]) >= 50
    assert REFERENCE["commit"] == "75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3"


def test_lmms_eval_scoring_matches_lmms_eval_on_charades_sta():
    cases, items, preds = _grounding()
    rows, scores = score_grounding(items, preds, dict.fromkeys(preds, "p"), scoring="lmms-eval")
    for case, row in zip(cases, rows, strict=True):
        expected = case["lmms_eval_span"]
        got = (
            None
            if row["pred_start_seconds"] is None
            else [row["pred_start_seconds"], row["pred_end_seconds"]]
        )
        assert (case["text"], got) == (case["text"], expected)
        assert row["iou"] == pytest.approx(case["lmms_eval_iou"], abs=1e-12), case["text"]
    n = len(cases)
    assert scores["all"]["mIoU"] == pytest.approx(100 * sum(c["lmms_eval_iou"] for c in cases) / n)
    assert scores["all"]["R@0.5"] == pytest.approx(100 * sum(c["lmms_eval_iou"] >= 0.5 for c in cases) / n)
    assert scores["scoring"] == "lmms_eval"


def test_lmms_eval_scoring_matches_lmms_eval_on_lvbench():
    cases = REFERENCE["lvbench"]
    items = [
        ChoiceItem(
            c["id"], "V", "cartoon", "Q?", "Q?", ("a", "b", "c", "d"), c["answer"], ("ER",), ("ER",), ""
        )
        for c in cases
    ]
    preds = {c["id"]: Prediction(status="ok", raw_text=c["text"], letter=None) for c in cases}
    rows, scores = score_choice(items, preds, dict.fromkeys(preds, "p"), scoring="lmms-eval")
    assert [(c["text"], r["pred_letter"]) for c, r in zip(cases, rows, strict=True)] == [
        (c["text"], c["lmms_eval_letter"]) for c in cases
    ]
    assert [r["correct"] for r in rows] == [c["lmms_eval_correct"] for c in cases]
    assert scores["all"]["Overall"] == pytest.approx(
        100 * sum(c["lmms_eval_correct"] for c in cases) / len(cases)
    )


def test_native_scoring_differs_only_where_documented():
    """Native scoring reads the issue's two examples as lmms-eval does, JSON and minutes that lmms-eval
    misses, and keeps an absence answer apart (no_event, IoU 0)."""
    cases, items, preds = _grounding()
    rows, scores = score_grounding(items, preds, dict.fromkeys(preds, "p"))
    by_text = {c["text"]: r for c, r in zip(cases, rows, strict=True)}
    issue = "The video shows 2-3 people in a kitchen.\nThe event happens in the 26.9 - 29.6 seconds."
    assert (by_text[issue]["pred_start_seconds"], by_text[issue]["pred_end_seconds"]) == (26.9, 29.6)
    bracket = "The event happens in 0.0 - 6.7 seconds (of the [0, 30] second video)."
    assert (by_text[bracket]["pred_start_seconds"], by_text[bracket]["pred_end_seconds"]) == (0.0, 6.7)
    json_answer = by_text['{"start": 11.0, "end": 16.0}']
    assert (json_answer["pred_start_seconds"], json_answer["pred_end_seconds"]) == (11.0, 16.0)
    minutes = by_text["The event happens in 1 - 2 minutes."]
    assert (minutes["pred_start_seconds"], minutes["iou"]) == (60.0, 1.0)
    absent = by_text["The event does not occur in this video."]
    assert (absent["iou"], absent["outcome"], absent["parse_error"]) == (0.0, "no_event", None)
    assert (scores["num_no_event"], scores["scoring"]) == (1, "native")


@pytest.mark.parametrize(
    ("text", "letter"),
    [("I think it's C", "C"), ("B is the correct answer.", "B"), ("(B) Snowy", "B"), ("Answer: A", "A")],
)
def test_native_choice_reads_what_lmms_eval_reads(text, letter):
    reference = {c["text"]: c["lmms_eval_letter"] for c in REFERENCE["lvbench"]}
    assert reference[text] == letter
    assert parse_choice(text, "ABCD").letter == letter


def test_unknown_scoring_is_rejected():
    with pytest.raises(ValueError, match="scoring must be one of"):
        score_choice([], {}, {}, scoring="timechat")
