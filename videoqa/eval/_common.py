"""Small pieces shared by the benchmark loaders: the annotation error, JSONL reading, clock times."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from videoqa.errors import VideoQAError

__all__ = ["AnnotationError", "clock_to_seconds", "read_jsonl"]


class AnnotationError(VideoQAError, ValueError):
    """An annotation file does not have the expected format; the message names the file and line."""

    def __init__(self, source: object, message: str, *, line_number: int | None = None):
        self.source = str(source)
        self.line_number = line_number
        where = self.source if line_number is None else f"{self.source}:{line_number}"
        super().__init__(f"{where}: {message}")


def read_jsonl(path: Path) -> list[Any]:
    """The JSON value of every non-blank line (a BOM is accepted); a bad line names its number."""
    values = []
    for line_number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
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
