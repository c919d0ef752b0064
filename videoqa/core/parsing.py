"""Turn a model's text into spans (seconds) or an option letter.

Never raises on model text and never evaluates it: JSON goes through :func:`json.loads`,
everything else through regular expressions. When nothing can be read, the result holds
no span (or no letter) and a ``reason`` saying why, which the session stores in
``Analysis.parse_error``.

Span rules, first that yields a span wins (inside ``<answer>...</answer>`` first when the
tags are present, then in the whole text):

1. ``json``: a JSON list/object of events (optionally in a code fence): ``start``/``end``
   (also ``start_time``, ``end_time``, ``begin``...) or ``timestamp(s)``/``span`` holding
   ``[a, b]`` or ``"a - b"``; times as numbers, ``"12.5"``, ``"12.5s"`` or ``"mm:ss.ff"`` /
   ``"hh:mm:ss.ff"`` (an exponent is part of its number; a number that overflows is no number);
   labels from ``description``/``event``/``caption``/``label``.
2. ``range``: ``X - Y``, ``X–Y``, ``X to Y``, ``from X to Y seconds``, ``X s to Y s``,
   ``X-Y seconds``, ``between X and Y``, with ``mm:ss``/``hh:mm:ss(.ff)`` clock times or
   numbers (a ``min``/``minutes`` unit multiplies by 60). "to" only counts as a whole word
   (lmms-eval replaces "to" inside words, turning "towel" into "-wel").
3. ``pair``: the start and the end as two instants ("starts at X ... and ends at Y", "begins
   pouring at X, finishing at Y", "Starting at X, he runs until Y", "stops at Y after starting at
   X", ``"start_time": "X"`` in broken JSON), paired only when both clauses are about the same
   event (:mod:`videoqa.core._instants`); one instant alone is no span. Pairs beat ranges that
   are not stated as times ("2-3 people").

When a text holds several ranges, those in a sentence that states a time (a unit, a clock
time, a list item ``X - Y: label``, or words such as "happens", "starts", "between") win over
ranges in other sentences ("2-3 people ..." is not a span). A JSON pair of bare numbers
(``[0, 30]``) counts only when it is the whole answer or fenced, never inside prose.

A grounding answer that says the event is not there ("The event does not occur in this
video.") and holds no span is an answer, not a failure: :attr:`SpanParse.absent` is True and
``reason`` is None.

Reversed spans are swapped. Times are returned as the model wrote them: relative to the
clip it saw.

Only the first :data:`MAX_PARSE_CHARS` characters of a text are read (a model's answer is
far shorter; the cap bounds the work on hostile text), and every rule is linear in the text
read.

Choice: only an option letter counts (``parse_choice``); an answer that names an option by
its text alone has no letter, so it scores as wrong (as in lmms-eval and LVBench's scorer).
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from videoqa.core._instants import instant_pairs
from videoqa.core._times import TIME, UNIT, scaled, time_token, unit_scale

__all__ = [
    "MAX_PARSE_CHARS",
    "ChoiceParse",
    "ParsedSpan",
    "SpanParse",
    "parse_choice",
    "parse_spans",
    "parse_time",
]

MAX_PARSE_CHARS = 100_000
"""Characters of a model's text that the parsers read; the rest is ignored."""
_LABEL_CHARS = 300
"""Characters after a range searched for its ``: label``."""

_TIME = TIME
_UNIT = UNIT
_SEP = r"\s*(?:-|–|—|~|\bto\b|\buntil\b|\btill\b)\s*"
_RANGE_RE = re.compile(
    rf"(?<![\w.:])(?P<a>{_TIME}){_UNIT.format(name='ua')}{_SEP}(?P<b>{_TIME}){_UNIT.format(name='ub')}"
    rf"(?!\.?\d)(?!:\d)(?![eE][+-]?\d)",
    re.IGNORECASE,
)
_BETWEEN_RE = re.compile(
    rf"\bbetween\s+(?P<a>{_TIME}){_UNIT.format(name='ua')}\s+and\s+(?P<b>{_TIME}){_UNIT.format(name='ub')}",
    re.IGNORECASE,
)
_TIME_WORDS_RE = re.compile(
    r"\b(?:happen\w*|occur\w*|start\w*|begin\w*|began|end(?:s|ed|ing)?|from|between|during|until|"
    r"timestamps?|time|seconds?|secs?|minutes?|mins?)\b",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"\n|[.!?;](?=\s|$)")
_ABSENT_RE = re.compile(
    r"\b(?:(?:does|do|did)\s*(?:not|n't)|never|cannot\s+be|can't\s+be|could\s*(?:not|n't)\s+be)\s+"
    r"(?:actually\s+)?(?:occur|happen|appear|take\s+place|exist|show|found|seen|located|identified)|"
    r"\b(?:is|are|was|were)\s*(?:not|n't)\s+(?:present|shown|visible|seen|found|depicted|happening|"
    r"occurring|in\s+(?:this|the)\s+(?:video|clip))|"
    r"\bno\s+(?:such\s+)?(?:event|moment|scene|segment|part|action)\b|\bnot\s+in\s+(?:this|the)\s+video\b|"
    r"\bnowhere\b|\bis\s+absent\b",
    re.IGNORECASE,
)
_FENCE_RE = re.compile(r"```(?:json)?\s*(.*?)```", re.IGNORECASE | re.DOTALL)
_TRAILING_COMMA_RE = re.compile(r",\s*([\]}])")
_TIME_VALUE_RE = re.compile(rf"^\s*({_TIME})\s*(s|secs?|seconds?)?\s*$", re.IGNORECASE)

_START_KEYS = ("start", "start_time", "starttime", "start_seconds", "begin", "begin_time", "from")
_END_KEYS = ("end", "end_time", "endtime", "end_seconds", "stop", "finish", "to")
_PAIR_KEYS = ("timestamp", "timestamps", "time", "times", "span", "segment", "time_range", "range")
_LABEL_KEYS = ("description", "event", "caption", "label", "text", "content", "action", "sentence")


@dataclass(frozen=True)
class ParsedSpan:
    """One span as the model wrote it (seconds relative to the clip it saw), start <= end."""

    start_seconds: float
    end_seconds: float
    label: str | None = None


@dataclass(frozen=True)
class SpanParse:
    spans: tuple[ParsedSpan, ...]
    """Spans in the order they appear in the text; empty when nothing could be read."""
    reason: str | None
    """Why no span was found (None when there are spans, or when the answer says there is none)."""
    method: str | None = None
    """Which rule matched: ``"json"``, ``"range"`` or ``"pair"`` (prefixed ``"answer_tag:"`` inside tags),
    or ``"absent"``."""
    absent: bool = False
    """True when the text holds no span and says the event does not occur."""


@dataclass(frozen=True)
class ChoiceParse:
    letter: str | None
    reason: str | None
    method: str | None = None


def parse_time(value: Any) -> float | None:
    """Seconds from a number, ``"12.5"``, ``"12.5s"``, ``"mm:ss(.ff)"`` or ``"hh:mm:ss(.ff)"``; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)  # a JSON integer of 310+ digits overflows here
        except OverflowError:
            return None
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    if not isinstance(value, str):
        return None
    match = _TIME_VALUE_RE.match(value)
    return time_token(match.group(1)) if match else None


def _ordered(start: float, end: float, label: str | None = None) -> ParsedSpan:
    if end < start:
        start, end = end, start
    return ParsedSpan(start, end, label or None)


def _span_from_match(match: re.Match[str], text: str) -> ParsedSpan | None:
    scale_a, scale_b = unit_scale(match.group("ua")), unit_scale(match.group("ub"))
    scale_a = scale_a if scale_a is not None else (scale_b or 1.0)
    scale_b = scale_b if scale_b is not None else scale_a
    a, b = scaled(match.group("a"), scale_a), scaled(match.group("b"), scale_b)
    if a is None or b is None:  # no time, or "1e308 minutes": overflows when scaled
        return None
    rest = text[match.end() : match.end() + _LABEL_CHARS].split("\n", 1)[0].strip()
    label = rest[1:].strip().rstrip(".").strip() if rest[:1] in (":", "-", "–", "—") else None
    return _ordered(a, b, label or None)


def _states_time(match: re.Match[str], text: str, sentence_has_time_words: bool) -> bool:
    """Whether a range reads as a time: a unit or clock time, a ``X - Y: label`` item, or time words."""
    if match.group("ua") or match.group("ub") or ":" in match.group("a") + match.group("b"):
        return True
    if text[match.end() : match.end() + 3].lstrip(" ")[:1] == ":":
        return True
    return sentence_has_time_words


def _parse_ranges(text: str) -> tuple[ParsedSpan, ...]:
    """Ranges in text order; those of sentences that state a time win over the others."""
    return _ranges(text)[0]


def _ranges(text: str) -> tuple[tuple[ParsedSpan, ...], bool]:
    """(ranges, whether they are stated as times): see :func:`_parse_ranges`."""
    bounds = [0] + [m.end() for m in _SENTENCE_END_RE.finditer(text)] + [len(text)]
    words: dict[int, bool] = {}  # sentence index -> holds time words (each sentence searched once)
    for regex in (_RANGE_RE, _BETWEEN_RE):
        found = []
        for match in regex.finditer(text):
            span = _span_from_match(match, text)
            if span is None:
                continue
            i = bisect.bisect_right(bounds, match.start()) - 1
            if i not in words:
                words[i] = _TIME_WORDS_RE.search(text, bounds[i], bounds[i + 1]) is not None
            found.append((regex is _BETWEEN_RE or _states_time(match, text, words[i]), span))
        if found:
            timed = [span for states, span in found if states]
            return tuple(timed or [span for _, span in found]), bool(timed)
    return (), False


def _parse_pairs(text: str) -> tuple[ParsedSpan, ...]:
    return tuple(_ordered(start, end) for start, end in instant_pairs(text))


def _json_candidates(text: str) -> list[tuple[str, bool]]:
    """(candidate, whole) pairs: fenced blocks and the outermost brackets; ``whole`` when nothing
    but the JSON is there (a fence, or brackets spanning the stripped text)."""
    candidates = [(m.group(1), True) for m in _FENCE_RE.finditer(text)]
    stripped = text.strip()
    for opener, closer in (("[", "]"), ("{", "}")):
        first, last = stripped.find(opener), stripped.rfind(closer)
        if 0 <= first < last:
            whole = first == 0 and last == len(stripped) - 1
            candidates.append((stripped[first : last + 1], whole))
    return candidates


def _is_bare_pair(data: Any) -> bool:
    return isinstance(data, list) and len(data) == 2 and not any(isinstance(x, (list, dict)) for x in data)


def _load_json(text: str) -> tuple[bool, Any]:
    for candidate, whole in _json_candidates(text):
        for attempt in (candidate, _TRAILING_COMMA_RE.sub(r"\1", candidate)):
            try:
                data = json.loads(attempt)
            except (ValueError, RecursionError):
                continue
            if whole or not _is_bare_pair(data):  # "(of the [0, 30] second video)" is prose
                return True, data
    return False, None


def _label(item: dict[str, Any]) -> str | None:
    for key in _LABEL_KEYS:
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _span_from_item(item: Any) -> ParsedSpan | None:
    if isinstance(item, (list, tuple)) and len(item) == 2:
        a, b = parse_time(item[0]), parse_time(item[1])
        return _ordered(a, b) if a is not None and b is not None else None
    if not isinstance(item, dict):
        return None
    lowered = {str(k).strip().lower(): v for k, v in item.items()}
    start = next((parse_time(lowered[k]) for k in _START_KEYS if k in lowered), None)
    end = next((parse_time(lowered[k]) for k in _END_KEYS if k in lowered), None)
    if start is not None and end is not None:
        return _ordered(start, end, _label(lowered))
    for key in _PAIR_KEYS:
        value = lowered.get(key)
        span = _span_from_item(value) if isinstance(value, (list, tuple)) else None
        if span is None and isinstance(value, str):
            ranges = _parse_ranges(value)
            span = ranges[0] if ranges else None
        if span is not None:
            return _ordered(span.start_seconds, span.end_seconds, _label(lowered))
    return None


def _spans_from_json(data: Any, depth: int = 0) -> tuple[ParsedSpan, ...]:
    if depth > 3:
        return ()
    single = _span_from_item(data)
    if single is not None:
        return (single,)
    items: list[Any] = []
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = [v for v in data.values() if isinstance(v, (list, dict))]
    spans: list[ParsedSpan] = []
    for item in items:
        spans.extend(_spans_from_json(item, depth + 1))
    return tuple(spans)


def _parse_body(text: str) -> tuple[tuple[ParsedSpan, ...], str | None, bool]:
    """(spans, method, saw_json) for one piece of text."""
    saw_json, data = _load_json(text)
    if saw_json:
        spans = _spans_from_json(data)
        if spans:
            return spans, "json", True
    ranges, timed = _ranges(text)
    if timed:
        return ranges, "range", saw_json
    spans = _parse_pairs(text)  # "starts at 3 s and ends at 9 s" beats "2-3 people"
    if spans:
        return spans, "pair", saw_json
    return ranges, ("range" if ranges else None), saw_json


def _answer_tag(text: str) -> str | None:
    """The body of the first ``<answer>...</answer>`` (found with ``str.find``: linear on any text)."""
    lowered = text.lower()
    start = lowered.find("<answer>")
    end = lowered.find("</answer>", start + 8) if start >= 0 else -1
    return text[start + 8 : end] if end >= 0 else None


def parse_spans(text: str) -> SpanParse:
    """All spans in ``text`` (see the module docstring for the rules); never raises.

    Reads only the first :data:`MAX_PARSE_CHARS` characters.
    """
    if not isinstance(text, str) or not text.strip():
        return SpanParse((), "the model returned no text")
    text = text[:MAX_PARSE_CHARS]
    saw_json = False
    tagged = _answer_tag(text)
    if tagged is not None:
        spans, method, saw_json = _parse_body(tagged)
        if spans:
            return SpanParse(spans, None, f"answer_tag:{method}")
    spans, method, saw = _parse_body(text)
    if spans:
        return SpanParse(spans, None, method)
    if _ABSENT_RE.search(text):
        return SpanParse((), None, "absent", absent=True)
    if saw or saw_json:
        return SpanParse((), "the model's JSON holds no event with a start and an end time")
    if re.search(r"\d", text):
        return SpanParse((), f"no time range found in the model's text {_excerpt(text)}")
    return SpanParse((), f"no time found in the model's text {_excerpt(text)}")


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def _letter_rules(letters: str) -> list[tuple[str, re.Pattern[str]]]:
    upper = f"[{letters}]"
    both = f"[{letters}{letters.lower()}]"
    tail = r"(?![A-Za-z0-9])"
    return [
        (
            "answer_is",
            re.compile(
                rf"(?i:\banswer\b(?:\s+(?:is|would\s+be|should\s+be))?)\s*[:\-]?\s*(?i:option\s+)?"
                rf"(?:\(({both})\)|({upper}){tail}|({both})(?=[.)]?\s*$))"
            ),
        ),
        (
            "option",
            re.compile(rf"(?i:\b(?:option|choice)\b(?:\s+is)?)\s*[:\-]?\s*(?:\(({both})\)|({upper}){tail})"),
        ),
        ("parenthesized", re.compile(rf"\(({upper})\)")),
        ("leading", re.compile(rf"^\s*({upper})(?:[.):]|\s*$)")),
        ("bare_lowercase", re.compile(rf"^\(?({both})\)?[.:]?$")),
        (
            "letter_first",
            re.compile(rf"^\s*({upper})\s+(?i:is|would\s+be|should\s+be|seems|appears|looks)\b"),
        ),
        ("punctuated", re.compile(rf"(?<![A-Za-z0-9.])({upper})[.):](?=\s|$)")),
        ("bare_line", re.compile(rf"^\s*({upper})\s*$", re.MULTILINE)),
        ("trailing", re.compile(rf"(?<![A-Za-z0-9'’-])({upper})[.!]?\s*\Z")),
    ]


def parse_choice(text: str, letters: Sequence[str] = "ABCD") -> ChoiceParse:
    """The option letter in ``text``, restricted to ``letters``; never raises on text.

    Rules by priority: "answer is B" / "Answer: (B)", "option B", "(B)", a leading
    "B." / "B)" / "B:" / bare "B", a bare lowercase "b" / "(b)", a sentence that
    starts "B is ...", "B." / "B)" / "B:" elsewhere, a line holding only the letter, and a letter
    ending the text ("I think it's C"). An answer that names an option by its text alone has no
    letter. Reads only the first :data:`MAX_PARSE_CHARS` characters.
    """
    offered = "".join(letters)
    if not offered or not all(len(x) == 1 and "A" <= x <= "Z" for x in letters):
        raise ValueError(f"letters must be single capital letters, got {letters!r}")
    if not isinstance(text, str) or not text.strip():
        return ChoiceParse(None, "the model returned no text")
    cleaned = text[:MAX_PARSE_CHARS].strip().strip("*\"'` ")
    for method, regex in _letter_rules(offered):
        match = regex.search(cleaned)
        if match:
            letter = next(g for g in match.groups() if g)
            return ChoiceParse(letter.upper(), None, method)
    return ChoiceParse(None, f"no option letter among {', '.join(letters)} found in {_excerpt(text)}")
