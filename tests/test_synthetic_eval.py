"""The synthetic grounding check (``videoqa.eval._synthetic``) behind ``benchmarks/grounder.py``:
held-out cases with known truths, scores through the unchanged Session, and wrong time for the
MRoPE check."""

from __future__ import annotations

import pytest

import videoqa
from videoqa.eval._synthetic import (
    SyntheticScores,
    synthetic_grounding,
    write_synthetic_cases,
    wrong_time,
)


def test_cases_name_their_events_and_an_absent_colour(tmp_path):
    cases = write_synthetic_cases(tmp_path, seed=3, count=2)
    again = write_synthetic_cases(tmp_path, seed=3, count=2)  # same seed: same cases, files reused
    assert again == cases
    for video in {c.video for c in cases}:
        group = [c for c in cases if c.video == video]
        assert [c.truth_seconds is None for c in group] == [False] * (len(group) - 1) + [True]
        duration = videoqa.probe(str(video)).duration_seconds
        for c in group[:-1]:
            start, end = c.truth_seconds
            assert 0.0 <= start < end <= duration and 3.0 <= end - start <= 30.1


def test_scores_through_the_session_with_the_scripted_model(tmp_path):
    """The scripted model reads the squares off the 1 fps frames it is given: each span is off by
    less than a sampling step, and every absent colour is answered "does not occur"."""
    cases = write_synthetic_cases(tmp_path, seed=3, count=3)
    session = videoqa.Session("builtin:scripted", fps=1.0, strategy="single")
    scores = synthetic_grounding(session, cases)
    assert len(scores.ious) == sum(c.truth_seconds is not None for c in cases)
    assert scores.absent_said_absent == (True, True, True)
    for case, iou in zip([c for c in cases if c.truth_seconds], scores.ious, strict=True):
        start, end = case.truth_seconds
        assert iou >= (end - start - 2.0) / (end - start + 1.0), (case, iou)
    assert scores.r_at_0_5 == 1.0


def test_scores_are_means_over_the_cases():
    scores = SyntheticScores(ious=(1.0, 0.5, 0.0, 0.25), absent_said_absent=(True, False))
    assert scores.miou == 0.4375
    assert scores.r_at_0_5 == 0.5
    assert scores.absent_accuracy == 0.5
    assert SyntheticScores((), ()).miou == 0.0


def test_wrong_time_changes_only_the_temporal_ids_and_is_undone(tmp_path):
    from videoqa.synthetic import write_video

    model = videoqa.load_model("builtin:tiny-qwen2.5-vl", device="cpu")
    path = write_video(tmp_path / "v.mp4", duration_seconds=8.0, fps=4.0)
    plan = videoqa.plan_sampling(videoqa.probe(str(path)), fps=1.0, min_pixels=784, max_pixels=3136)
    window = plan.windows[0]
    assert window.sampled_fps == 1.0
    right = model.temporal_ids(window).tolist()
    assert right == [0, 4, 8, 12]  # floor(g * second_per_grid 2 s * 2 tokens per second)
    with wrong_time(model, "assumed_2fps"):
        assert model.temporal_ids(window).tolist() == [0, 2, 4, 6]
    with wrong_time(model, "no_time"):
        assert model.temporal_ids(window).tolist() == [0, 0, 0, 0]
    assert model.temporal_ids(window).tolist() == right
    with pytest.raises(ValueError, match="assumed_2fps"), wrong_time(model, "index"):  # type: ignore[arg-type]
        pass
