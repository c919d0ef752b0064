"""The prompts of the evaluations: lmms-eval's (the default, for comparable numbers) or videoqa's own.

``lmms-eval`` reproduces the harness third-party Qwen2.5-VL rows are produced with, text for text:

- Charades-STA (task ``temporal_grounding_charades``): ``f"{pre_prompt}{caption}. {post_prompt}"``.
  The typo "seonds" is the original's, and since captions already end in ".", the prompt holds
  "on.." — that is the reference behaviour, kept on purpose.
- LVBench (task ``lvbench``): ``"" + question + "\\nAnswer the question with the option letter"``
  (the YAML post-prompt, which has no final period); the options are already lines of ``question``.

``native`` leaves :attr:`videoqa.Question.prompt` unset, so the session builds the prompt with
:mod:`videoqa.core.prompts` (the Qwen cookbook wording); the text is recorded for the per-item table.
"""

from __future__ import annotations

from typing import Literal

from videoqa.analysis import Question
from videoqa.eval._charades import GroundingItem
from videoqa.eval._lvbench import ChoiceItem

__all__ = [
    "CHARADES_POST_PROMPT",
    "CHARADES_PRE_PROMPT",
    "LVBENCH_POST_PROMPT",
    "MAX_NEW_TOKENS",
    "PROMPT_STYLES",
    "PromptStyle",
    "charades_question",
    "lvbench_question",
    "prompt_text",
]

PromptStyle = Literal["lmms-eval", "native"]
PROMPT_STYLES: tuple[str, ...] = ("lmms-eval", "native")

CHARADES_PRE_PROMPT = (
    "Please find the visual event described by a sentence in the video, determining its starting and "
    "ending times. The format should be: 'The event happens in the start time - end time'. For example, "
    "The event 'person turn a light on' happens in the 24.3 - 30.4 seonds. "
    "Now I will give you the textual sentence: "
)
CHARADES_POST_PROMPT = "Please return its start time and end time."
LVBENCH_PRE_PROMPT = ""
LVBENCH_POST_PROMPT = "\nAnswer the question with the option letter"

MAX_NEW_TOKENS: dict[str, int] = {"charades-sta": 50, "lvbench": 16}
"""lmms-eval's ``max_new_tokens`` per task (greedy decoding)."""


def _check_style(style: str) -> None:
    if style not in PROMPT_STYLES:
        raise ValueError(f"prompt style must be one of {PROMPT_STYLES}, got {style!r}")


def charades_question(item: GroundingItem, *, style: PromptStyle = "lmms-eval") -> Question:
    """The grounding :class:`~videoqa.Question` for one Charades-STA query."""
    _check_style(style)
    prompt = None
    if style == "lmms-eval":
        prompt = f"{CHARADES_PRE_PROMPT}{item.sentence}. {CHARADES_POST_PROMPT}"
    return Question(question_id=item.query_id, question=item.sentence, task="grounding", prompt=prompt)


def lvbench_question(item: ChoiceItem, *, style: PromptStyle = "lmms-eval") -> Question:
    """The multiple-choice :class:`~videoqa.Question` for one LVBench question.

    Both styles carry the stem as ``question`` (what a coarse search pass looks for) and the options,
    so the letter parser knows there are four; lmms-eval sends the annotated question string (stem
    and option lines) verbatim, native sends stem and options through
    :func:`videoqa.core.prompts.choice_prompt`.
    """
    _check_style(style)
    if style == "lmms-eval":
        prompt = f"{LVBENCH_PRE_PROMPT}{item.question}{LVBENCH_POST_PROMPT}"
        return Question(
            question_id=item.question_id, question=item.stem, task="choice", options=list(item.options),
            prompt=prompt,
        )  # fmt: skip
    return Question(
        question_id=item.question_id, question=item.stem, task="choice", options=list(item.options)
    )


def prompt_text(question: Question) -> str:
    """The exact text the model is sent for ``question`` (its ``prompt``, or videoqa's template)."""
    if question.prompt is not None:
        return question.prompt
    from videoqa.core import prompts  # lazy: videoqa's own templates, only for --prompt native

    return prompts.build_prompt(question)
