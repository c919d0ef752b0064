"""lmms-eval's answer reading, re-stated so ``videoqa eval --scoring lmms-eval`` matches its per-item results.

Written from the behaviour of lmms-eval's Charades-STA ``extract_time`` and its
``extract_mcq_answer`` (used by the LVBench task), as of EvolvingLMMs-Lab/lmms-eval commit
75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3 (2026-08-06); lmms-eval is not imported.
``tests/data/lmms_eval_reference.json`` holds per-item results of lmms-eval's own functions on
realistic answers, and the tests check these functions against them.

Grounding (:func:`lmms_eval_span`): lower-case the text, drop TimeChat's example sentence, replace
every ``"to"`` (also inside words) with ``"-"``, split into sentences on ``!``, ``?`` and newlines,
keep those naming a start/end/happening (all when none does), then take the first of: a clock
range, a number range, clock times paired in order, the first number of each sentence paired,
a range with ``s`` units. A reversed pair is swapped. Times are read as seconds from the video's
first frame (lmms-eval's convention; exact for ``--strategy single``).

Choice (:func:`lmms_eval_letter`): upper-case letters only; candidates by format, the best being a
letter opening the answer, then one closing it, then one after an answer phrase ("the answer is"),
"(B)", "B.", "B:", "B)", "B " (the last occurrence wins within a format), and any occurrence of a
letter when nothing else matched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["lmms_eval_letter", "lmms_eval_span"]

_EXAMPLE = "a specific example is : 20.8 - 30.0 seconds"
_KEYWORDS = ("starts", "ends", "happens in", "start time", "end time", "start", "end", "happen")
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?"
_CLOCK_RANGE_RE = re.compile(rf"\b({_CLOCK})\s*[–-]\s*({_CLOCK})\b")
_RANGE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*[–-]\s*(\d+(?:\.\d+)?)")
_CLOCK_RE = re.compile(rf"\b({_CLOCK})\b")
_NUMBER_RE = re.compile(r"\b(\d+(?:\.\d+)?)\b")
_UNIT_RANGE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*s?\s*[–-]\s*(\d+(?:\.\d+)?)\s*s?")


def _clock_seconds(token: str) -> float:
    seconds = 0.0
    for part in token.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _first_range(sentences: list[str], regex: re.Pattern[str], clock: bool) -> tuple[float, float] | None:
    for sentence in sentences:
        match = regex.search(sentence)
        if match:
            read = _clock_seconds if clock else float
            return read(match.group(1)), read(match.group(2))
    return None


def _first_pair(times: list[float]) -> tuple[float, float] | None:
    return (times[0], times[1]) if len(times) >= 2 else None


def lmms_eval_span(text: str) -> tuple[float, float] | None:
    """The span lmms-eval's Charades-STA scorer reads from ``text`` (start <= end), or None."""
    if not isinstance(text, str):
        return None
    lowered = text.lower().replace(_EXAMPLE, "").replace("to", "-")
    sentences = re.split(r"[!?\n]", lowered)
    candidates = [s for s in sentences if any(k in s for k in _KEYWORDS)] or sentences
    pair = _first_range(candidates, _CLOCK_RANGE_RE, clock=True)
    pair = pair or _first_range(candidates, _RANGE_RE, clock=False)
    if pair is None:
        pair = _first_pair([_clock_seconds(t) for s in candidates for t in _CLOCK_RE.findall(s)])
    if pair is None:
        firsts = [_NUMBER_RE.search(s) for s in candidates]
        pair = _first_pair([float(m.group(1)) for m in firsts if m])
    pair = pair or _first_range(candidates, _UNIT_RANGE_RE, clock=False)
    if pair is None:
        return None
    start, end = pair
    return (start, end) if end > start else (end, start)


_PHRASES = (
    "the answer is", "answer is", "the correct answer is", "correct answer is", "the best answer is",
    "best answer is", "the correct option is", "correct option is", "the best option is", "best option is",
    "the choice is", "choice is", "the correct choice is", "correct choice is", "i choose", "i select",
    "i pick", "my answer is", "my choice is",
    "옵션", "정답은", "답은", "답:", "答案是", "答案为", "选", "答えは",
)  # fmt: skip
_MARKS = (("({})", 6), ("{}.", 5), ("{}:", 4), ("{})", 3), ("{} ", 2))
"""Letter formats and their rank (higher wins); an opening letter ranks 10, a closing one 9, a
letter after an answer phrase 7."""


def lmms_eval_letter(text: str, choices: Sequence[str] = "ABCD") -> str | None:
    """The option letter lmms-eval's ``extract_mcq_answer`` reads from ``text``, or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    body = text.strip()
    for char in ",.!?;:'\"":  # one character after the other, as lmms-eval does: '"B."' keeps its "."
        body = body.strip(char)
    padded = f" {body} "
    body = body.strip()
    found: list[tuple[int, int, str]] = []  # (rank, position, letter)
    for mark, rank in _MARKS:
        for letter in choices:
            position = padded.rfind(mark.format(letter))
            if position >= 0:
                found.append((rank, position, letter))
    lowered = padded.lower()
    for phrase in _PHRASES:
        at = lowered.find(phrase)
        if at >= 0:
            for letter in choices:
                position = padded.find(letter, at + len(phrase))
                if position >= 0:
                    found.append((7, position, letter))
    for letter in choices:
        if body.startswith(letter) and (len(body) == 1 or not body[1].isalpha()):
            found.append((10, 0, letter))
        if body.endswith(letter) and (len(body) == 1 or not body[-2].isalpha()):
            found.append((9, len(padded) - 1, letter))
    if not found:
        found = [(0, padded.rfind(letter), letter) for letter in choices if letter in padded]
    if not found:
        return None
    return max(found, key=lambda item: (item[0], item[1]))[2]
