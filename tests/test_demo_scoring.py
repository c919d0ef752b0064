"""The demo prints each answer next to the truth with its score (IoU for grounding)."""

from __future__ import annotations

from videoqa.batch import _demo


def test_demo_scores_each_answer_against_the_truth():
    red = {"task": "grounding", "video_id": "kitchen.mp4", "question_id": "red", "outcome": "answered"}
    assert _demo._score(red, (37.0, 44.5)) == ("IoU 1.00", 1.0)
    assert _demo._score(red, (40.0, 47.5)) == ("IoU 0.43", 4.5 / 10.5)
    assert _demo._score(red, (37.0, 44.0)) == ("IoU 0.93", 7.0 / 7.5)  # the scripted model at 1 fps
    assert _demo._score(red, (50.0, 60.0)) == ("IoU 0.00", 0.0)
    assert _demo._score({**red, "outcome": "unparsed"}, None) == ("IoU 0.00", 0.0)
    absent = {"task": "grounding", "video_id": "street.mp4", "question_id": "red"}
    assert _demo._score({**absent, "outcome": "no_event"}, None) == ("right (absent)", 1.0)
    assert _demo._score({**absent, "outcome": "answered"}, (1.0, 2.0)) == ("wrong (absent)", 0.0)
    choice = {"task": "choice", "video_id": "street.mp4", "question_id": "colour"}
    assert _demo._score({**choice, "choice": "B"}, None) == ("right", None)
    assert _demo._score({**choice, "choice": "A"}, None) == ("wrong", None)
    assert _demo._score({**choice, "choice": None}, None) == ("wrong", None)
