"""The scripted stand-in reading timed text: what a prompt says was said, and when. NOT a real model.

The stand-in writes a request's cues exactly as its family's runner lays them out
(:mod:`videoqa.text._layout`: the timed block of Qwen2.5-VL, the lines after each ``<t seconds>``
patch of Qwen3-VL), within the request's budget (counted in words), then reads the
``[a - b seconds] words`` lines back from that text. A grounding question that quotes a phrase in
double quotes (``when is "the budget is approved" said?``) is answered with the times of the first
line holding the phrase, so a cue at the wrong time in the prompt gives a wrong answer.
"""

from __future__ import annotations

import re

from videoqa.model._protocol import GenerationRequest
from videoqa.text._layout import TextLayout, cue_block, interleave_cues

__all__ = ["answer_from_speech", "prompted_text"]

_LINE_RE = re.compile(r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?) seconds\] (.*)$", re.MULTILINE)
_QUOTED_RE = re.compile(r"\"([^\"]{2,})\"")


def _words(text: str) -> int:
    return len(text.split())


def prompted_text(
    request: GenerationRequest, *, layout: TextLayout | None, temporal_patch_size: int = 2
) -> str:
    """The timed text the family's runner would write into ``request``'s prompt ("" when none)."""
    timed = request.timed_text
    if timed is None or not timed.cues or layout is None:
        return ""
    origin = request.features[0].window.start_seconds
    if layout == "block":
        return cue_block(timed.cues, origin_seconds=origin, max_tokens=timed.max_tokens, count_tokens=_words)
    starts = [float(t) - origin for f in request.features for t in f.pts_seconds[::temporal_patch_size]]
    after = interleave_cues(
        timed.cues,
        patch_starts_seconds=starts,
        origin_seconds=origin,
        max_tokens=timed.max_tokens,
        count_tokens=_words,
    )
    return "".join(after)


def answer_from_speech(prompt: str, said: str) -> str | None:
    """The span of the first cue line of ``said`` holding the phrase ``prompt`` quotes, or None."""
    quoted = _QUOTED_RE.search(prompt)
    if not said or quoted is None:
        return None
    phrase = quoted.group(1).lower()
    for start, end, words in _LINE_RE.findall(said):
        if phrase in words.lower():
            return f"The event happens in {start} - {end} seconds."
    return None
