"""Session-level timing on a video whose first frame is not at 0, and at a sampled fps that is not a
whole fraction of 2 (issue 9 item 16): exact seconds, second_per_grid and temporal IDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoqa import Session
from videoqa.analysis import Span
from videoqa.model._protocol import Generation
from videoqa.model._scripted import ScriptedModel
from videoqa.synthetic import Event, write_video

SMALL = {"min_pixels": 8 * 28 * 28, "max_pixels": 8 * 28 * 28}
RED = "When is the red square shown?"
START, SECONDS = 2.5, 10.0  # frames at 2.5, 2.6, ... 12.4 s; the video ends at 12.5 s


class FixedTextModel(ScriptedModel):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def generate(self, requests, *, max_new_tokens, options=None):
        return [Generation(self.text, 1, 1) for _ in requests]


@pytest.fixture(scope="module")
def shifted_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shifted") / "shifted.mp4"
    # red from 9.5 s to the video's end (12.5 s), on the video's own timeline
    return write_video(path, duration_seconds=SECONDS, fps=10, start_seconds=START, events=[Event(9.5, 12.5)])


def test_span_reaching_the_end_of_a_video_that_starts_late(shifted_video):
    a = Session(ScriptedModel(), **SMALL).analyze(shifted_video, RED, task="grounding", strategy="single")
    (w,) = a.windows
    assert (a.video_start_seconds, a.video_duration_seconds) == (START, SECONDS)
    # 2 fps from 2.5 s: 20 frames at 2.5 + k / 2; red on frames 14..19 (9.5 ... 12.0 s)
    assert (w.start_seconds, w.end_seconds, w.num_frames, w.sampled_fps) == (2.5, 12.5, 20, 2.0)
    assert w.pts_seconds == [START + k / 2 for k in range(20)]
    # the model answers relative to its clip (7.0 - 9.5 s); the Analysis holds absolute seconds
    assert a.raw_text == "The event happens in 7.0 - 9.5 seconds."
    assert (a.spans, a.parse_error, a.outcome) == (
        [Span(start_seconds=9.5, end_seconds=12.0)],
        None,
        "answered",
    )


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("The event happens in 7.0 - 10.0 seconds.", (9.5, 12.5)),  # exactly to the end
        (
            "The event happens in 7.0 - 11.0 seconds.",
            (9.5, 12.5),
        ),  # past the end: clamped to start + duration
        ("The event happens in 0 - 2 seconds.", (2.5, 4.5)),  # relative 0 is the first frame, 2.5 s
    ],
)
def test_relative_answers_map_onto_the_shifted_timeline(shifted_video, text, span):
    session = Session(FixedTextModel(text), **SMALL)
    a = session.analyze(shifted_video, RED, task="grounding", strategy="single")
    assert [(s.start_seconds, s.end_seconds) for s in a.spans] == [span]


def test_second_per_grid_and_temporal_ids_at_an_odd_sampled_fps(shifted_video):
    # 1.5 fps over 10 s: 15 frames, rounded down to an even 14 -> sampled_fps 1.4, second_per_grid 2 / 1.4;
    # a second_per_grid truncated to an integer (1) would give IDs 0, 2, 4, ... instead
    a = Session(ScriptedModel(), fps=1.5, **SMALL).analyze(
        shifted_video, RED, task="grounding", strategy="single"
    )
    (w,) = a.windows
    assert (w.num_frames, w.sampled_fps) == (14, 1.4)
    assert w.second_per_grid == pytest.approx(2 / 1.4, abs=1e-12)
    assert w.second_per_grid != int(w.second_per_grid)
    # temporal ID of patch g = floor(g * second_per_grid * 2 tokens per second) = floor(g * 20 / 7)
    assert w.temporal_ids == [0, 2, 5, 8, 11, 14, 17]
    # frames on screen at 2.5 + k / 1.4 s (the last frame with pts <= t, 0.1 s grid)
    assert w.pts_seconds == pytest.approx(
        [2.5, 3.2, 3.9, 4.6, 5.3, 6.0, 6.7, 7.5, 8.2, 8.9, 9.6, 10.3, 11.0, 11.7], abs=1e-9
    )
