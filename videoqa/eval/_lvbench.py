"""LVBench annotations: ``video_info.meta.jsonl`` (one video per line, its questions under ``qa``).

Each line is ``{"key": <YouTube id>, "type": <genre>, "qa": [...], "video_info": {...}}`` and each
``qa`` item ``{"uid", "question", "answer", "question_type": [...], "time_reference": "MM:SS-MM:SS"}``,
where ``question`` holds the stem and the options as lines ``(A) ..`` to ``(D) ..``. The flat
lmms-eval table (one question per row with ``key``/``type`` beside the qa fields) is read too, as
``.jsonl`` or ``.parquet``. Videos are ``<videos>/<key>.mp4``.

``question_type`` is a list: a question counts under every capability it names
(:data:`CAPABILITIES` maps the names to the leaderboard's ER, EU, KIR, TG, Rea, Sum).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoqa.eval._common import AnnotationError, SetAside, clock_to_seconds, read_json_records

__all__ = [
    "CAPABILITIES",
    "CAPABILITY_ORDER",
    "ChoiceBenchmark",
    "ChoiceItem",
    "load_lvbench",
    "parse_lvbench_record",
]

CAPABILITIES: dict[str, str] = {
    "entity recognition": "ER",
    "event understanding": "EU",
    "key information retrieval": "KIR",
    "temporal grounding": "TG",
    "reasoning": "Rea",
    "summarization": "Sum",
}
"""LVBench ``question_type`` strings -> leaderboard abbreviations."""

CAPABILITY_ORDER: tuple[str, ...] = ("ER", "EU", "KIR", "TG", "Rea", "Sum")

_LETTERS = ("A", "B", "C", "D")
_OPTION = re.compile(r"^(?:\(([A-Z])\)|([A-Z])[.):])\s?(.*)$")
"""An option line: ``(A) text`` (the official spelling) or ``A. text`` / ``A) text`` / ``A: text``."""


@dataclass(frozen=True)
class ChoiceItem:
    """One LVBench question."""

    question_id: str
    """The ``uid`` as a string (the official scorer applies ``str()`` too)."""
    video_id: str
    """YouTube id (``key``); the video is ``<videos>/<video_id>.mp4``."""
    video_type: str
    """Genre: cartoon, documentary, live, selfmedia, sport, tv."""
    question: str
    """The annotated question string, stem and ``(A)``-``(D)`` lines, exactly as in the file."""
    stem: str
    """The question without its option lines."""
    options: tuple[str, ...]
    """Option texts in letter order, without the ``(A) `` prefix."""
    answer: str
    """The correct letter, ``"A"``-``"D"``."""
    question_types: tuple[str, ...]
    """``question_type`` as annotated."""
    capabilities: tuple[str, ...]
    """Leaderboard abbreviations of ``question_types`` (unknown names pass through unchanged)."""
    time_reference: str
    """Where the answer is in the video, as annotated (``"MM:SS-MM:SS"``)."""
    time_reference_seconds: tuple[float, float] | None = None
    """``time_reference`` in seconds, or None when it cannot be read."""

    @property
    def item_id(self) -> str:
        return self.question_id


@dataclass(frozen=True)
class ChoiceBenchmark:
    items: tuple[ChoiceItem, ...]
    source: str
    set_aside: tuple[SetAside, ...] = ()
    """Questions not kept (file, line, field and why)."""

    @property
    def video_ids(self) -> list[str]:
        return list(dict.fromkeys(item.video_id for item in self.items))


def capability(question_type: str) -> str:
    """``"key information retrieval"`` -> ``"KIR"``; an abbreviation or unknown name passes through."""
    name = question_type.strip()
    return CAPABILITIES.get(name.lower(), name)


def _split_question(text: str, where: str) -> tuple[str, tuple[str, ...]]:
    lines = text.split("\n")
    first_option = next((i for i, line in enumerate(lines) if i and _OPTION.match(line.strip())), None)
    if first_option is None:
        raise AnnotationError(where, f"question has no stem followed by (A)-(D) option lines: {text!r}")
    found = [_OPTION.match(line.strip()) for line in lines[first_option:] if line.strip()]
    letters = tuple((m.group(1) or m.group(2)) if m else "?" for m in found)
    if letters != _LETTERS:
        raise AnnotationError(
            where, f"expected options (A) (B) (C) (D) in order, found {letters} in {text!r}"
        )
    stem = "\n".join(lines[:first_option]).strip()
    return stem, tuple(m.group(3).strip() for m in found if m)


def answer_letter(value: object) -> str | None:
    """The letter of an annotated answer in the spellings real copies use: ``"D"``, ``"(D)"``,
    ``"d"``, ``"D."``; None for anything else."""
    text = str(value).strip().strip("()").rstrip(".").strip().upper()
    return text if text in _LETTERS else None


_RANGE_DASH = re.compile(r"\s*[-–—]\s*|\s+to\s+")


def time_reference_seconds(text: str) -> tuple[float, float] | None:
    """``"MM:SS-MM:SS"`` (also ``H:MM:SS``, spaces, an en dash or "to") -> seconds, or None.

    >>> time_reference_seconds("00:15-00:19"), time_reference_seconds("1:02:03 – 1:02:10")
    ((15.0, 19.0), (3723.0, 3730.0))
    """
    parts = _RANGE_DASH.split(text.strip())
    if len(parts) != 2:
        return None
    try:
        start, end = clock_to_seconds(parts[0]), clock_to_seconds(parts[1])
    except ValueError:
        return None
    return (start, end) if start <= end else None


def parse_lvbench_record(
    key: str, video_type: str, qa: dict[str, Any], *, source: str = "<record>"
) -> ChoiceItem:
    """One ``qa`` entry of the video ``key`` -> :class:`ChoiceItem` (validates letters and options)."""
    missing = {"uid", "question", "answer", "question_type"} - qa.keys()
    if missing:
        raise AnnotationError(source, f"video {key}: a qa entry lacks {sorted(missing)}")
    where = f"{source} (video {key}, uid {qa['uid']})"
    stem, options = _split_question(str(qa["question"]), where)
    answer = answer_letter(qa["answer"])
    if answer is None:
        raise AnnotationError(where, f"answer must be one of A-D (or '(A)', 'a'), got {qa['answer']!r}")
    types = qa["question_type"]
    types = (types,) if isinstance(types, str) else tuple(str(t) for t in types)
    if not types:
        raise AnnotationError(where, "question_type is empty")
    time_reference = str(qa.get("time_reference") or "")
    return ChoiceItem(
        question_id=str(qa["uid"]),
        video_id=str(key),
        video_type=str(video_type),
        question=str(qa["question"]),
        stem=stem,
        options=options,
        answer=answer,
        question_types=types,
        capabilities=tuple(dict.fromkeys(capability(t) for t in types)),
        time_reference=time_reference,
        time_reference_seconds=time_reference_seconds(time_reference),
    )


def _records(path: Path) -> tuple[list[tuple[int | None, Any]], list[SetAside]]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return [(None, row) for row in pq.read_table(path).to_pylist()], []
    return read_json_records(path)


def _questions(record: Any, index: int, line: int | None, path: Path) -> list[tuple[Any, Any]]:
    """``[(qa, None) | (None, SetAside)]`` of one record: its ``qa`` list, or itself when flat."""
    where = "" if line is not None else f"record {index + 1}"  # the line says where, else the 1-based record
    if not isinstance(record, dict) or "key" not in record:
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        return [(None, SetAside(str(path), line, f"key: missing (the record has {keys})", record=where))]
    if "qa" not in record:
        return [(record, None)]
    if not isinstance(record["qa"], list):
        return [(None, SetAside(str(path), line, "qa: not a list", record=f"video {record['key']}"))]
    return [(qa, None) for qa in record["qa"]]


def load_lvbench(path: str | Path) -> ChoiceBenchmark:
    """Read ``video_info.meta.jsonl`` (JSONL or a JSON array; or the flat one-question-per-row table).

    The whole file is read: every good question is kept in file order, and each rejected one is
    set aside with its line, field and why (:attr:`ChoiceBenchmark.set_aside`, logged as warnings).
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(
            path, "annotation file not found; download video_info.meta.jsonl from zai-org/LVBench"
        )
    records, aside = _records(path)
    items: list[ChoiceItem] = []
    seen: set[str] = set()
    for index, (line, record) in enumerate(records):
        for qa, rejected in _questions(record, index, line, path):
            if rejected is not None:
                aside.append(rejected.warn())
                continue
            uid = qa.get("uid") if isinstance(qa, dict) else None
            where = f"video {record['key']}, uid {uid}"
            try:
                if not isinstance(qa, dict):
                    raise AnnotationError(path, f"qa entry: not an object ({type(qa).__name__})")
                item = parse_lvbench_record(record["key"], record.get("type", ""), qa, source=str(path))
            except AnnotationError as exc:
                aside.append(SetAside(str(path), line, exc.reason, record=where).warn())
                continue
            if item.question_id in seen:
                aside.append(
                    SetAside(str(path), line, "uid: appears twice; the first is kept", record=where).warn()
                )
                continue
            seen.add(item.question_id)
            items.append(item)
    if not items:
        first = f"; first rejected: {aside[0]}" if aside else ""
        raise AnnotationError(path, f"no usable questions found{first}")
    aside.sort(key=lambda entry: entry.line_number or 0)  # file order (stable within a line)
    return ChoiceBenchmark(items=tuple(items), source=str(path), set_aside=tuple(aside))
