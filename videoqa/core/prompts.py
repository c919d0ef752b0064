"""Prompt templates for every task, in one place.

The default style follows the Qwen2.5-VL cookbook (``cookbooks/video_understanding.ipynb``):
grounding asks "when does the described content occur in the video?" and dense event
captioning asks for a JSON list with ``'mm:ss.ff'`` times. The ``"lmms_eval"`` style
reproduces the Charades-STA prompt of lmms-eval (typo "seonds" included) so evaluations
can be compared with published numbers.

Times in the model's answer are relative to the start of the clip it saw; the session maps
them back to absolute seconds (see :mod:`videoqa.core._session`).
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from videoqa.analysis import Question
from videoqa.core.settings import DEFAULT_PROMPT_STYLE, PROMPT_STYLES, PromptStyle

__all__ = [
    "PROMPT_STYLES",
    "PromptStyle",
    "build_prompt",
    "choice_prompt",
    "events_prompt",
    "grounding_prompt",
    "option_letters",
    "qa_prompt",
    "search_prompt",
]


_GROUNDING_COOKBOOK = (
    "Give the query: '{query}', when does the described content occur in the video? "
    "Answer with its start and end time in seconds, in the format "
    "'The event happens in <start time> - <end time> seconds'. "
    "If it does not occur, say that it does not occur."
)
_GROUNDING_LMMS_EVAL = (
    "Please find the visual event described by a sentence in the video, determining its starting and "
    "ending times. The format should be: 'The event happens in the start time - end time'. For example, "
    "The event 'person turn a light on' happens in the 24.3 - 30.4 seonds. Now I will give you the "
    "textual sentence: {query}. Please return its start time and end time."
)
_EVENTS_COOKBOOK = (
    "Localize a series of activity events in the video, output the start and end timestamp for each "
    "event, and describe each event with sentences. Provide the result in json format with 'mm:ss.ff' "
    "format for time depiction."
)
_SEARCH = (
    "Give the query: '{query}', when does content relevant to it occur in the video? "
    "Answer with its start and end time in seconds, in the format "
    "'The event happens in <start time> - <end time> seconds'. "
    "If nothing relevant occurs, say that it does not occur."
)
_CHOICE_SUFFIX = "Answer with the option's letter from the given choices directly."


def _check_style(style: str) -> None:
    if style not in PROMPT_STYLES:
        raise ValueError(f"style must be one of {PROMPT_STYLES}, got {style!r}")


def _clean(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must be a non-empty string, got {text!r}")
    return text.strip()


def grounding_prompt(query: str, *, style: PromptStyle = DEFAULT_PROMPT_STYLE) -> str:
    """Ask when the event described by ``query`` happens (one span expected)."""
    _check_style(style)
    query = _clean(query, "query")
    template = _GROUNDING_COOKBOOK if style == "qwen_cookbook" else _GROUNDING_LMMS_EVAL
    return template.format(query=query)


def events_prompt(*, style: PromptStyle = DEFAULT_PROMPT_STYLE) -> str:
    """Ask for dense captioning: a JSON list of events with start/end times (cookbook wording)."""
    _check_style(style)
    return _EVENTS_COOKBOOK


def qa_prompt(question: str) -> str:
    """A free-form question is sent as it is."""
    return _clean(question, "question")


def option_letters(count: int) -> tuple[str, ...]:
    """The letters of ``count`` options: A, B, C, ..."""
    if not 1 <= count <= 26:
        raise ValueError(f"a choice question needs 1 to 26 options, got {count}")
    return tuple(string.ascii_uppercase[:count])


def choice_prompt(question: str, options: Sequence[str]) -> str:
    """A multiple-choice question, one ``(A) option`` line per option (LVBench / lmms-eval layout)."""
    question = _clean(question, "question")
    if isinstance(options, str) or not options:
        raise ValueError(f"options must be a non-empty list of strings, got {options!r}")
    letters = option_letters(len(options))
    lines = [question]
    lines += [
        f"({letter}) {_clean(option, 'option')}" for letter, option in zip(letters, options, strict=True)
    ]
    lines.append(_CHOICE_SUFFIX)
    return "\n".join(lines)


def search_prompt(question: str) -> str:
    """Coarse pass of ``coarse_to_fine`` for qa/choice: where is content relevant to the question?"""
    return _SEARCH.format(query=_clean(question, "question"))


def build_prompt(question: Question, *, style: PromptStyle = DEFAULT_PROMPT_STYLE) -> str:
    """The text sent with the video for ``question``: ``question.prompt`` verbatim when set."""
    if question.prompt is not None:
        return question.prompt
    if question.task == "grounding":
        return grounding_prompt(question.question, style=style)
    if question.task == "events":
        return events_prompt(style=style)
    if question.task == "choice":
        if not question.options:
            raise ValueError(f"question {question.question_id!r} has task='choice' but no options")
        return choice_prompt(question.question, question.options)
    return qa_prompt(question.question)
