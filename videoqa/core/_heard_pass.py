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
from typing import Any

from videoqa.analysis import Analysis, Question, Span, Step
from videoqa.text._heard import heard_cues

__all__ = ["answer_from_transcript"]


def answer_from_transcript(run: Any, questions: Sequence[Question]) -> dict[int, Analysis]:
    """{index of a question answered from ``run.transcript``: its Analysis}."""
    from videoqa.core._passes import Outcome, _analysis, _span_text

    answered: dict[int, Analysis] = {}
    for i, question in enumerate(questions):
        if question.task != "grounding":
            continue
        cues = heard_cues(question.question, run.transcript)
        if not cues:
            continue
        spans = [Span(start_seconds=c.start_seconds, end_seconds=c.end_seconds) for c in cues]
        where = f"{run.transcript.kind} {run.transcript.source}"
        notes = [f"cue {c.start_seconds:.2f}-{c.end_seconds:.2f} s {c.text!r} ({where})" for c in cues]
        step = Step(name="transcript", windows=[], raw_texts=[], spans=spans, notes=notes)
        outcome = Outcome("\n".join(_span_text(s) for s in spans), spans)
        answered[i] = _analysis(run, question, [step], outcome, "\n".join(c.text for c in cues))
    return answered
