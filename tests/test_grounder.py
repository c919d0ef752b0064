"""builtin:tiny-grounder: the trained demo model ships in the package, loads like any checkpoint,
and reads time through the MRoPE position IDs (wrong time given to it loses its accuracy)."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

import videoqa
from videoqa.batch import _demo
from videoqa.model import GROUNDER_MODEL, TemporalConfig
from videoqa.model._grounder import GROUNDER_DIR, GROUNDER_SETTINGS
from videoqa.model._grounder_eval import AssumedFpsTime, grounding_scores, write_heldout_cases


@pytest.fixture(scope="module")
def grounder():
    return videoqa.load_model(GROUNDER_MODEL)


def test_tiny_grounder_ships_in_the_package_and_loads_through_from_pretrained(grounder):
    assert grounder.source == str(GROUNDER_DIR)  # the package's own directory, no build step
    assert grounder.model.config.model_type == "qwen2_5_vl"
    assert type(grounder.model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert grounder.temporal == TemporalConfig(
        kind="absolute_time", tokens_per_second=2.0, temporal_patch_size=2
    )
    files = {f.name: f.stat().st_size for f in GROUNDER_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "chat_template.jinja"} <= set(files)
    assert sum(files.values()) < 6_000_000


def test_tiny_grounder_answers_a_demo_video_in_the_cookbook_format(grounder, tmp_path):
    from videoqa.synthetic import Event, write_video

    video = write_video(tmp_path / "v.mp4", duration_seconds=60, fps=4, events=[Event(12.0, 20.0, "green")])
    session = videoqa.Session(grounder, fps=1.0, strategy="single", **GROUNDER_SETTINGS)
    green, red = session.analyze_many(
        str(video),
        [
            videoqa.Question(question_id="g", question="a green square appears", task="grounding"),
            videoqa.Question(question_id="r", question="a red square appears", task="grounding"),
        ],
    )
    assert green.raw_text.startswith("The event happens in ") and green.outcome == "answered"
    (span,) = green.spans
    assert abs(span.start_seconds - 12.0) <= 2.0 and abs(span.end_seconds - 20.0) <= 2.0
    assert red.outcome == "no_event" and red.raw_text == "The event does not occur in this video."


@pytest.mark.slow
def test_wrong_time_in_the_position_ids_loses_most_of_the_accuracy(grounder, tmp_path):
    """Same frames, features and prompts; only second_per_grid is computed from an assumed 2 fps
    (the windows are sampled at 1 fps), so every temporal ID is halved."""
    cases = write_heldout_cases(tmp_path, seed=7, count=10)
    session = videoqa.Session(grounder, fps=1.0, strategy="single", **GROUNDER_SETTINGS)
    right_time = grounder.temporal
    right = grounding_scores(session, cases)
    try:
        grounder.temporal = AssumedFpsTime(**dataclasses.asdict(right_time), assumed_fps=2.0)
        wrong = grounding_scores(session, cases)
    finally:
        grounder.temporal = right_time
    assert right["miou"] >= 0.6, right
    assert wrong["miou"] <= 0.5 * right["miou"], (right, wrong)


def test_demo_defaults_to_the_grounder_with_its_trained_frame_budgets():
    parser = argparse.ArgumentParser()
    _demo.add_arguments(parser)
    assert parser.parse_args([]).model == GROUNDER_MODEL
    settings = _demo.demo_settings(GROUNDER_MODEL)
    assert settings == {"fps": 1.0, **GROUNDER_SETTINGS}
    assert _demo.demo_settings("builtin:scripted") == {"fps": 1.0, "max_new_tokens": 24}


def test_demo_scores_each_answer_against_the_truth():
    red = {"task": "grounding", "video_id": "kitchen.mp4", "question_id": "red", "outcome": "answered"}
    assert _demo._score(red, (37.0, 44.5)) == ("IoU 1.00", 1.0)
    assert _demo._score(red, (40.0, 47.5)) == ("IoU 0.43", 4.5 / 10.5)
    assert _demo._score({**red, "outcome": "unparsed"}, None) == ("IoU 0.00", 0.0)
    absent = {"task": "grounding", "video_id": "street.mp4", "question_id": "red"}
    assert _demo._score({**absent, "outcome": "no_event"}, None) == ("right (absent)", 1.0)
    assert _demo._score({**absent, "outcome": "answered"}, (1.0, 2.0)) == ("wrong (absent)", 0.0)
    choice = {"task": "choice", "video_id": "street.mp4", "question_id": "colour"}
    assert _demo._score({**choice, "choice": "B"}, None) == ("right", None)
    assert _demo._score({**choice, "choice": "A"}, None) == ("wrong", None)
