"""Small pieces shared by the benchmark loaders: the annotation error, reading text line by line
(a byte that is not UTF-8 is an error naming its file and line, after the lines before it were
read), JSONL, checking ground-truth times (a bad line is set aside with its reason) and clock times."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoqa.errors import VideoQAError

__all__ = [
    "MAX_GROUND_TRUTH_SECONDS",
    "AnnotationError",
    "SetAside",
    "clock_to_seconds",
    "ground_truth_problem",
    "iter_lines",
    "read_json",
    "read_json_records",
    "read_jsonl",
]

log = logging.getLogger(__name__)

MAX_GROUND_TRUTH_SECONDS = 7 * 24 * 3600.0
"""Ground-truth times past a week are not times of a video (a 400-digit number reads as inf)."""


class AnnotationError(VideoQAError, ValueError):
    """An annotation file does not have the expected format; the message names the file and line."""

    def __init__(self, source: object, message: str, *, line_number: int | None = None):
        self.source = str(source)
        self.line_number = line_number
        self.reason = message
        where = self.source if line_number is None else f"{self.source}:{line_number}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class SetAside:
    """An annotation the loader did not keep, where it is and why (shown in the summary)."""

    source: str
    line_number: int | None
    """1-based line of the file, or None when the format has no lines (a JSON document)."""
    reason: str
    record: str = ""
    """Which record, when the line does not say (``"query 12"``, ``"video v_abc, sentence 3"``)."""

    def __str__(self) -> str:
        where = self.source if self.line_number is None else f"{self.source}:{self.line_number}"
        return f"{where}: {self.record + ': ' if self.record else ''}{self.reason}"

    def warn(self) -> SetAside:
        log.warning("annotation set aside: %s", self)
        return self


def _decode(raw: bytes, path: object, line_number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            path,
            f"byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not UTF-8; "
            "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            line_number=line_number,
        ) from None


def iter_lines(path: Path, *, keepends: bool = False) -> Iterator[str]:
    """The lines of a text file (a BOM accepted), decoded one by one: a byte that is not UTF-8
    raises :class:`AnnotationError` naming its line only when that line is reached, so the errors
    of the lines before it come first."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for line_number, raw in enumerate(data.splitlines(keepends=keepends), start=1):
        yield _decode(raw, path, line_number)


def read_json(path: Path) -> Any:
    """A JSON document; a byte that is not UTF-8 or a syntax error names the file and line."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for line_number, raw in enumerate(data.splitlines(), start=1):
        _decode(raw, path, line_number)
    try:
        return json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            path, f"invalid JSON: {exc.msg} (column {exc.colno})", line_number=exc.lineno
        ) from None


def ground_truth_problem(start: float, end: float, *, duration_seconds: float | None = None) -> str | None:
    """Why a ground-truth span ``start``-``end`` (seconds) cannot be scored, or None when it can.

    Negative, not finite or past :data:`MAX_GROUND_TRUTH_SECONDS`, reversed, zero-length, or
    starting at or after the video's end (when its duration is known). An end past the duration
    is kept: Charades-STA has 562 such queries, and lmms-eval keeps them (``--clip-ground-truth``).
    """
    for name, value in (("start", start), ("end", end)):
        if not math.isfinite(value) or abs(value) > MAX_GROUND_TRUTH_SECONDS:
            return f"{name} {value!r} s is not a time of a video (over a week, or not finite)"
    if start < 0:
        return f"negative start {start!r} s"
    if end < start:
        return f"reversed span: end {end!r} s before start {start!r} s"
    if end == start:
        return f"zero-length span at {start!r} s"
    if duration_seconds is not None and start >= duration_seconds:
        return f"starts at {start!r} s, at or after the video's end ({duration_seconds!r} s)"
    return None


def read_json_records(path: Path) -> tuple[list[tuple[int | None, Any]], list[SetAside]]:
    """``([(line, value)], [set aside])`` of a JSONL file, or of a JSON array (line None).

    A JSONL line that is not JSON is set aside (with its line and why) and the rest is read; a byte
    that is not UTF-8 still stops at its line (the file's encoding is wrong).
    """
    text_start = path.read_bytes()[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if text_start.startswith(b"["):
        data = read_json(path)
        return [(None, value) for value in data], []
    values, aside = [], []
    for line_number, line in enumerate(iter_lines(path), start=1):
        if line.strip():
            try:
                values.append((line_number, json.loads(line)))
            except json.JSONDecodeError as exc:
                aside.append(SetAside(str(path), line_number, f"invalid JSON: {exc}").warn())
    return values, aside


def read_jsonl(path: Path) -> list[Any]:
    """The JSON value of every non-blank line (a BOM is accepted); a bad line names its number."""
    values = []
    for line_number, line in enumerate(iter_lines(path), start=1):
        if line.strip():
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AnnotationError(path, f"invalid JSON: {exc}", line_number=line_number) from None
    return values


_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")


def clock_to_seconds(text: str) -> float:
    """``"MM:SS"`` or ``"H:MM:SS"`` (seconds may carry a fraction) to seconds.

    >>> clock_to_seconds("01:16"), clock_to_seconds("1:02:03.5")
    (76.0, 3723.5)
    """
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"not a clock time (expected MM:SS or H:MM:SS): {text!r}")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
