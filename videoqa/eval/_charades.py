"""Charades-STA annotations: the official ``VID start end##sentence`` lines and the JSON variants.

Formats read by :func:`load_charades_sta` (chosen from the file's suffix and content):

- ``txt``: the official TALL files (``charades_sta_test.txt``), one query per line,
  ``3MSZA 24.3 30.4##person turn a light on.``; a 4th numeric field some copies add
  (``3MSZA 24.3 30.4 0##...``) is accepted and ignored.
- ``lmms_eval``: rows with ``video`` (``"3MSZA.mp4"``), ``caption`` and ``timestamp`` ``[s, e]``
  (the lmms-eval Hugging Face table), as ``.parquet``, ``.jsonl`` or a ``.json`` list.
- ``coco``: TimeChat/TimeIT ``{"annotations": [{"image_id", "caption", "timestamp", "id"}]}``.
- ``activitynet``: ``{vid: {"duration", "timestamps", "sentences"}}`` (TFVTG), with durations.
- ``moment_detr``: JSONL ``{"qid", "query", "duration", "vid", "relevant_windows": [[s, e]]}``.
- ``timelens``: ``{vid: {"duration", "spans", "queries"}}``. This is a *re-annotated* test set;
  it loads, but its numbers are not comparable with original Charades-STA results
  (:attr:`GroundingBenchmark.comparable` is False and the report says so).

Durations are not in the official files: :func:`read_durations` reads them from the Charades
CSV (``Charades_v1_test.csv``, column ``length``) or a ``{vid: seconds}`` JSON; the evaluation
probes the video for any query still without one.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from videoqa.eval._common import (
    MAX_GROUND_TRUTH_SECONDS,
    AnnotationError,
    SetAside,
    ground_truth_problem,
    iter_lines,
    read_json,
    read_jsonl,
)

__all__ = [
    "GroundingBenchmark",
    "GroundingItem",
    "load_charades_sta",
    "parse_charades_sta_lines",
    "read_durations",
]

GroundingFormat = Literal["txt", "lmms_eval", "coco", "activitynet", "moment_detr", "timelens"]


@dataclass(frozen=True)
class GroundingItem:
    """One Charades-STA query: a sentence and the span of the video where it happens."""

    query_id: str
    """Stable id, unique in the file (the line index for the official text files)."""
    video_id: str
    """Charades video id, e.g. ``"3MSZA"``; the video is ``<videos>/<video_id>.mp4``."""
    sentence: str
    """The query as annotated (lower-case, usually ending in ``"."``)."""
    start_seconds: float
    """Ground-truth start as annotated (seconds from the start of the video)."""
    end_seconds: float
    """Ground-truth end as annotated; may exceed the video's duration (e.g. AKO6M)."""
    duration_seconds: float | None = None
    """Video duration when known (from the annotation file or a durations file), else None."""

    @property
    def item_id(self) -> str:
        return self.query_id


@dataclass(frozen=True)
class GroundingBenchmark:
    """The queries of one annotation file and where they came from."""

    items: tuple[GroundingItem, ...]
    source: str
    annotation_format: GroundingFormat
    comparable: bool = True
    """False for re-annotated variants whose numbers must not be compared with published ones."""
    set_aside: tuple[SetAside, ...] = ()
    """Queries not kept because their ground-truth times cannot be scored (each with file, line, why)."""

    @property
    def video_ids(self) -> list[str]:
        """Distinct video ids, in order of first appearance."""
        return list(dict.fromkeys(item.video_id for item in self.items))


_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def parse_charades_sta_lines(lines: Iterable[str], *, source: str = "<lines>") -> list[GroundingItem]:
    """Parse official ``VID start end##sentence`` lines; blank lines are skipped.

    The query id is the 0-based index of the query among the non-blank lines (as TimeChat numbers them).
    The times are read as written; :func:`load_charades_sta` sets aside those that cannot be scored.
    """
    return _parse_lines(lines, source, {})


def _parse_lines(lines: Iterable[str], source: str, line_of: dict[str, int]) -> list[GroundingItem]:
    items: list[GroundingItem] = []
    for line_number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        head, sep, sentence = line.partition("##")
        fields = head.split()
        if not sep or len(fields) not in (3, 4) or not all(_NUMBER.match(f) for f in fields[1:]):
            raise AnnotationError(
                source,
                f"expected 'VID start end##sentence' (optionally a 4th number before '##'), got {line!r}",
                line_number=line_number,
            )
        sentence = sentence.strip()
        if not sentence:
            raise AnnotationError(source, f"empty sentence in {line!r}", line_number=line_number)
        line_of[str(len(items))] = line_number
        items.append(
            GroundingItem(
                query_id=str(len(items)),
                video_id=fields[0],
                sentence=sentence,
                start_seconds=float(fields[1]),
                end_seconds=float(fields[2]),
            )
        )
    return items


def load_charades_sta(
    path: str | Path, *, durations: Mapping[str, float] | None = None
) -> GroundingBenchmark:
    """Read a Charades-STA annotation file in any of the formats in this module's docstring.

    ``durations`` (``{video_id: seconds}``, e.g. from :func:`read_durations`) takes precedence over
    durations stored in the file. Queries whose ground truth cannot be scored (negative, reversed,
    zero-length, not finite or absurdly large times, or a start at or after the video's end) are set
    aside with a warning naming the file and line (:attr:`GroundingBenchmark.set_aside`).
    """
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, "annotation file not found; pass the path of charades_sta_test.txt")
    suffix = path.suffix.lower()
    line_of: dict[str, int] = {}
    if suffix == ".txt":
        items, fmt = _parse_lines(iter_lines(path), str(path), line_of), "txt"
    elif suffix == ".parquet":
        items, fmt = _from_rows(_read_parquet_rows(path), path), "lmms_eval"
    elif suffix == ".jsonl":
        items, fmt = _from_jsonl(path)
    elif suffix == ".json":
        items, fmt = _from_json(read_json(path), path)
    else:
        raise AnnotationError(
            path, f"unknown annotation suffix {suffix!r}; expected .txt, .json, .jsonl or .parquet"
        )
    if not items:
        raise AnnotationError(path, "no queries found")
    _check_unique_ids(items, path)
    if durations:
        items = [
            replace(i, duration_seconds=float(durations[i.video_id])) if i.video_id in durations else i
            for i in items
        ]
    items, set_aside = set_aside_bad_times(items, path, line_of)
    return GroundingBenchmark(
        items=tuple(items), source=str(path), annotation_format=fmt, comparable=fmt != "timelens",
        set_aside=tuple(set_aside),
    )  # fmt: skip


def set_aside_bad_times(
    items: list[GroundingItem], path: Path, line_of: Mapping[str, int]
) -> tuple[list[GroundingItem], list[SetAside]]:
    kept, aside = [], []
    for item in items:
        problem = ground_truth_problem(
            item.start_seconds, item.end_seconds, duration_seconds=item.duration_seconds
        )
        if problem is None:
            kept.append(item)
            continue
        record = f"query {item.query_id} (video {item.video_id})"
        aside.append(SetAside(str(path), line_of.get(item.query_id), problem, record=record).warn())
    if not kept:
        raise AnnotationError(path, f"no query has usable ground-truth times; first: {aside[0]}")
    return kept, aside


def read_durations(path: str | Path) -> dict[str, float]:
    """Video durations in seconds: the Charades CSV (columns ``id`` and ``length``), a ``{vid: s}``
    JSON or ``{vid: {"duration": s, ...}}`` (ActivityNet / VSLNet style)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(
            path, "durations file not found; pass Charades_v1_test.csv from AI2's Charades.zip"
        )
    if path.suffix.lower() == ".json":
        data = read_json(path)
        if not isinstance(data, dict):
            raise AnnotationError(path, _DURATION_SHAPES)
        out = {}
        for key, value in data.items():
            if isinstance(value, dict):
                if "duration" not in value:
                    raise AnnotationError(
                        path, f"video {key}: no 'duration' in {sorted(value)}; {_DURATION_SHAPES}"
                    )
                value = value["duration"]
            out[str(key)] = _duration(value, path, str(key))
        return out
    reader = csv.DictReader(iter_lines(path, keepends=True))
    if not reader.fieldnames or not {"id", "length"} <= set(reader.fieldnames):
        raise AnnotationError(path, f"CSV needs columns 'id' and 'length', found {reader.fieldnames}")
    out: dict[str, float] = {}
    for row in reader:
        try:
            out[row["id"].strip()] = _duration(row["length"], path, row["id"])
        except AnnotationError as exc:
            raise AnnotationError(path, str(exc), line_number=reader.line_num) from None
    return out


_DURATION_SHAPES = 'a durations JSON must be {video_id: seconds} or {video_id: {"duration": seconds, ...}}'


def _duration(value: Any, path: Path, video_id: str) -> float:
    """A duration in seconds: a finite number > 0."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_GROUND_TRUTH_SECONDS):
        raise AnnotationError(path, f"video {video_id}: bad length {value!r} (seconds > 0 expected)")
    return seconds


# --- JSON variants -------------------------------------------------------------------------------


def _video_id(name: str) -> str:
    """``"3MSZA.mp4"`` -> ``"3MSZA"``; ids without a suffix pass through."""
    return name[: -len(".mp4")] if name.lower().endswith(".mp4") else name


def _span(value: Any, path: Path, what: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise AnnotationError(path, f"{what}: expected a [start, end] pair, got {value!r}")
    return float(value[0]), float(value[1])


def _item(
    query_id: object, video: str, sentence: str, span: tuple[float, float], duration: Any
) -> GroundingItem:
    return GroundingItem(
        query_id=str(query_id),
        video_id=_video_id(str(video)),
        sentence=str(sentence).strip(),
        start_seconds=span[0],
        end_seconds=span[1],
        duration_seconds=None if duration is None else float(duration),
    )


def _from_rows(rows: list[dict[str, Any]], path: Path) -> list[GroundingItem]:
    """lmms-eval rows ``{"video", "caption", "timestamp"}``; the id is the row index."""
    items = []
    for index, row in enumerate(rows):
        missing = {"video", "caption", "timestamp"} - row.keys()
        if missing:
            raise AnnotationError(path, f"row {index} lacks {sorted(missing)}; keys are {sorted(row)}")
        span = _span(list(row["timestamp"]), path, f"row {index} timestamp")
        items.append(_item(row.get("id", index), row["video"], row["caption"], span, row.get("duration")))
    return items


def _from_jsonl(path: Path) -> tuple[list[GroundingItem], GroundingFormat]:
    rows = read_jsonl(path)
    if rows and "relevant_windows" in rows[0]:
        items = []
        for row in rows:
            windows = row["relevant_windows"]
            if len(windows) != 1:
                raise AnnotationError(
                    path, f"query {row.get('qid')} has {len(windows)} windows; Charades-STA has 1"
                )
            span = _span(windows[0], path, f"query {row.get('qid')}")
            items.append(_item(row["qid"], row["vid"], row["query"], span, row.get("duration")))
        return items, "moment_detr"
    return _from_rows(rows, path), "lmms_eval"


def _from_json(data: Any, path: Path) -> tuple[list[GroundingItem], GroundingFormat]:
    if isinstance(data, list):
        return _from_rows(data, path), "lmms_eval"
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        items = [
            _item(
                a.get("id", index),
                a["image_id"],
                a["caption"],
                _span(a["timestamp"], path, f"annotation {index}"),
                a.get("duration"),
            )
            for index, a in enumerate(data["annotations"])
        ]
        return items, "coco"
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        first = next(iter(data.values()))
        if {"timestamps", "sentences"} <= first.keys():
            return _from_per_video(data, path, "timestamps", "sentences"), "activitynet"
        if {"spans", "queries"} <= first.keys():
            return _from_per_video(data, path, "spans", "queries"), "timelens"
    raise AnnotationError(
        path,
        "unrecognised JSON layout; expected lmms-eval rows, TimeChat {'annotations': [...]}, "
        "{vid: {duration, timestamps, sentences}} or {vid: {duration, spans, queries}}",
    )


def _from_per_video(
    data: dict[str, dict], path: Path, spans_key: str, sentences_key: str
) -> list[GroundingItem]:
    items: list[GroundingItem] = []
    for vid, entry in data.items():
        spans, sentences = entry[spans_key], entry[sentences_key]
        if len(spans) != len(sentences):
            raise AnnotationError(
                path, f"{vid}: {len(spans)} {spans_key} but {len(sentences)} {sentences_key}"
            )
        for span, sentence in zip(spans, sentences, strict=True):
            items.append(_item(len(items), vid, sentence, _span(span, path, vid), entry.get("duration")))
    return items


def _read_parquet_rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def _check_unique_ids(items: list[GroundingItem], path: Path) -> None:
    seen: set[str] = set()
    for item in items:
        if item.query_id in seen:
            raise AnnotationError(path, f"query id {item.query_id!r} appears twice; ids must be unique")
        seen.add(item.query_id)
