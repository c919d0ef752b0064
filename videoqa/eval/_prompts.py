"""The text an evaluation question is sent with (the prompts themselves live in each benchmark's declaration).

``lmms_eval`` prompts reproduce the harness third-party Qwen rows are produced with, text for text
(see :mod:`videoqa.eval.benchmarks`); ``native`` leaves :attr:`videoqa.Question.prompt` unset where
the benchmark has no prompt of its own, so the session builds it with :mod:`videoqa.core.prompts`
(the Qwen cookbook wording); the text is recorded for the per-item table.
"""

from __future__ import annotations

from videoqa.analysis import Question

__all__ = ["prompt_text"]


def prompt_text(question: Question) -> str:
    """The exact text the model is sent for ``question`` (its ``prompt``, or videoqa's template)."""
    if question.prompt is not None:
        return question.prompt
    from videoqa.core import prompts  # lazy: videoqa's own templates, only for --prompt native

    return prompts.build_prompt(question)
