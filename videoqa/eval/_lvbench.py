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

from videoqa.eval._common import AnnotationError, clock_to_seconds, read_jsonl

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
_OPTION = re.compile(r"^\(([A-Z])\)\s?(.*)$")


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

    @property
    def video_ids(self) -> list[str]:
        return list(dict.fromkeys(item.video_id for item in self.items))


def capability(question_type: str) -> str:
    """``"key information retrieval"`` -> ``"KIR"``; an abbreviation or unknown name passes through."""
    name = question_type.strip()
    return CAPABILITIES.get(name.lower(), name)


def _split_question(text: str, where: str) -> tuple[str, tuple[str, ...]]:
    lines = text.split("\n")
    first_option = next((i for i, line in enumerate(lines) if _OPTION.match(line.strip())), None)
    if first_option is None or first_option == 0:
        raise AnnotationError(where, f"question has no stem followed by (A)-(D) option lines: {text!r}")
    found = [_OPTION.match(line.strip()) for line in lines[first_option:] if line.strip()]
    letters = tuple(m.group(1) if m else "?" for m in found)
    if letters != _LETTERS:
        raise AnnotationError(
            where, f"expected options (A) (B) (C) (D) in order, found {letters} in {text!r}"
        )
    stem = "\n".join(lines[:first_option]).strip()
    return stem, tuple(m.group(2).strip() for m in found if m)


def _time_reference(text: str) -> tuple[float, float] | None:
    start, sep, end = text.partition("-")
    try:
        return (clock_to_seconds(start), clock_to_seconds(end)) if sep else None
    except ValueError:
        return None


def parse_lvbench_record(
    key: str, video_type: str, qa: dict[str, Any], *, source: str = "<record>"
) -> ChoiceItem:
    """One ``qa`` entry of the video ``key`` -> :class:`ChoiceItem` (validates letters and options)."""
    missing = {"uid", "question", "answer", "question_type"} - qa.keys()
    if missing:
        raise AnnotationError(source, f"video {key}: a qa entry lacks {sorted(missing)}")
    where = f"{source} (video {key}, uid {qa['uid']})"
    stem, options = _split_question(str(qa["question"]), where)
    answer = str(qa["answer"]).strip()
    if answer not in _LETTERS:
        raise AnnotationError(where, f"answer must be one of A-D, got {qa['answer']!r}")
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
        time_reference_seconds=_time_reference(time_reference),
    )


def _records(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return read_jsonl(path)


def load_lvbench(path: str | Path) -> ChoiceBenchmark:
    """Read ``video_info.meta.jsonl`` (or the flat one-question-per-row table); questions in file order."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(
            path, "annotation file not found; download video_info.meta.jsonl from zai-org/LVBench"
        )
    items: list[ChoiceItem] = []
    for index, record in enumerate(_records(path)):
        if "key" not in record:
            raise AnnotationError(path, f"record {index} has no 'key'; keys are {sorted(record)}")
        if "qa" in record:
            items += [
                parse_lvbench_record(record["key"], record.get("type", ""), qa, source=str(path))
                for qa in record["qa"]
            ]
        else:
            items.append(
                parse_lvbench_record(record["key"], record.get("type", ""), record, source=str(path))
            )
    if not items:
        raise AnnotationError(path, "no questions found")
    seen: set[str] = set()
    for item in items:
        if item.question_id in seen:
            raise AnnotationError(path, f"uid {item.question_id!r} appears twice; uids must be unique")
        seen.add(item.question_id)
    return ChoiceBenchmark(items=tuple(items), source=str(path))
