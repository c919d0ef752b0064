"""Grounding by what is said: subtitles naming events at known times, found within 1 s of the cue.

A question about speech ("when does the speaker say ...") is answered from the transcript
(:mod:`videoqa.core._heard_pass`), by any model, frames-only ones included. A question that only
quotes the words ("when is "..." on screen?") goes to the model, with the cues in its prompt: the
scripted stand-ins read the cues from the text their family's runner would write (a timed block for
Qwen2.5-VL, lines after each ``<t seconds>`` patch for Qwen3-VL), relative to the request's window, so
the span comes back right only if every step places the cue on the right second: the sidecar offset
(the video starts at 2.5 s), the window-relative times in the prompt, and the mapping back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import videoqa
from videoqa.synthetic import write_video
from videoqa.text import format_srt

# (start, end, words) in the sidecar's own time (from the first frame)
CUES = [
    (6.0, 8.0, "good morning everyone"),
    (41.3, 44.6, "the budget is approved"),
    (70.0, 72.5, "we adjourn"),
]
START = 2.5


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("talk")
    video = write_video(folder / "talk.mp4", duration_seconds=80.0, fps=2, start_seconds=START)
    (folder / "talk.srt").write_text(format_srt(CUES), encoding="utf-8")
    return video


@pytest.mark.parametrize("model", ["builtin:scripted", "builtin:scripted-qwen3-vl"])
@pytest.mark.parametrize("strategy", ["single", "coarse_to_fine"])
def test_a_quoted_phrase_is_found_at_the_second_it_is_said(talk: Path, model: str, strategy: str) -> None:
    question = 'when is "the budget is approved" on screen?'
    settings = {"coarse_window_seconds": 30.0, "coarse_fps": 1.0, "fine_fps": 2.0}
    a = videoqa.analyze(talk, question, task="grounding", model=model, strategy=strategy, **settings)
    assert a.outcome == "answered", a.parse_error
    [span] = a.spans
    truth = (START + 41.3, START + 44.6)
    assert abs(span.start_seconds - truth[0]) <= 1.0 and abs(span.end_seconds - truth[1]) <= 1.0
    # one decimal in the prompt: within 0.05 s + the window start's own rounding
    assert span.start_seconds == pytest.approx(truth[0], abs=0.06)
    assert span.end_seconds == pytest.approx(truth[1], abs=0.06)
    # frames only: the stand-in sees no such event
    blind = videoqa.analyze(
        talk, question, task="grounding", model=model, strategy=strategy, subtitles=None, **settings
    )
    assert blind.spans == [] and blind.outcome in ("no_event", "unparsed")


@pytest.mark.parametrize(
    ("question", "truth"),
    [
        ('when does the speaker say "the budget is approved"?', [(41.3, 44.6)]),
        ("when is the budget mentioned?", [(41.3, 44.6)]),
        ("When does someone say good morning?", [(6.0, 8.0)]),
    ],
)
def test_a_question_about_speech_is_answered_from_the_transcript(
    talk: Path, question: str, truth: list[tuple[float, float]]
) -> None:
    # the tiny grounder reads frames only (coloured squares): the span comes from the cue
    a = videoqa.analyze(talk, question, task="grounding", model="builtin:tiny-grounder")
    assert a.outcome == "answered" and a.parse_error is None
    assert [(s.start_seconds, s.end_seconds) for s in a.spans] == [
        pytest.approx((START + x, START + y), abs=1e-9) for x, y in truth
    ]
    [step] = a.steps
    assert step.name == "transcript" and step.windows == [] and step.raw_texts == []
    assert step.notes[0].startswith(f"cue {START + truth[0][0]:.2f}-{START + truth[0][1]:.2f} s ")
    assert [(c.start_seconds, c.text) for c in a.subtitles.cues] == [
        (START + x, w) for x, _, w in CUES if (x, _) in truth
    ]


def test_speech_questions_no_cue_matches_go_to_the_model(talk: Path) -> None:
    from videoqa.text import load_cues
    from videoqa.text._heard import heard_cues

    transcript = load_cues(talk)
    assert heard_cues("when does the speaker mention the weather?", transcript) == []
    assert heard_cues("when is the budget approved?", transcript) == []  # not about speech
    assert heard_cues('when is "budget" said?', None) == []
    a = videoqa.analyze(
        talk, "when does the speaker mention the weather?", task="grounding", model="builtin:scripted"
    )
    assert [s.name for s in a.steps] == ["single"]
