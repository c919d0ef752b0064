"""Grounding questions about what is said, answered from the transcript (:mod:`videoqa.text._heard`).

A ``grounding`` question about speech ("when does the speaker say "budget"?") whose words are in
the video's cues is answered with those cues' times: the subtitles (or the speech recognised) say
when the words were said, to the cue's own precision, which no frame shows. The model is not asked
for it (a frames-only model could not know; a model reading the cues in its prompt would only
restate them). Its one step is named ``transcript`` and notes each cue used. Other questions, and
speech questions no cue matches, run the strategy as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

from videoqa.analysis import Question, Span, Step
from videoqa.text._heard import heard_cues
from videoqa.text._types import Transcript

__all__ = ["transcript_steps"]


def transcript_steps(
    transcript: Transcript | None, questions: Sequence[Question]
) -> dict[int, tuple[Step, str]]:
    """{index of a question answered from ``transcript``: (its one ``transcript`` step, the cues' text)}."""
    answered: dict[int, tuple[Step, str]] = {}
    if transcript is None:
        return answered
    for i, question in enumerate(questions):
        cues = heard_cues(question.question, transcript) if question.task == "grounding" else []
        if not cues:
            continue
        spans = [Span(start_seconds=c.start_seconds, end_seconds=c.end_seconds) for c in cues]
        where = f"{transcript.kind} {transcript.source}"
        notes = [f"cue {c.start_seconds:.2f}-{c.end_seconds:.2f} s {c.text!r} ({where})" for c in cues]
        step = Step(name="transcript", windows=[], raw_texts=[], spans=spans, notes=notes)
        answered[i] = (step, "\n".join(c.text for c in cues))
    return answered
