"""The results page of an evaluation: ``videoqa report EVAL_OUTPUT`` writes ``EVAL_OUTPUT/report.html``.

Built from what ``videoqa eval`` wrote (``summary.json``, ``items.parquet`` and the batch job's
tables under ``batch/``) and from the benchmark's declaration only (its results table and its
:class:`~videoqa.eval.PageSpec`), so every benchmark gets the same page:

- the results table (this run, the answerable subset, the published rows) and its notes;
- the mean per-item score (``PageSpec.score_column``, in percent) per category of each
  ``PageSpec.breakdowns`` column and per bucket of video duration;
- the worst items (lowest score; items whose video is missing are counted, not listed), each with
  its video's timeline: the ground truth (``PageSpec.truth_spans``), the model's spans and the
  windows the model saw, with thumbnails of each span's first and last frames.

Same templates and style as the job report (:mod:`videoqa.report`): self-contained, no scripts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from videoqa.eval._declare import Benchmark, canonical_style, get_benchmark
from videoqa.eval._report import result_notes, results_rows
from videoqa.report import _view
from videoqa.report._timeline import BarInput, LaneInput
from videoqa.report._view import VideoView

__all__ = [
    "DURATION_BUCKETS",
    "EvalPage",
    "build_eval_page",
    "is_eval_output",
    "render_eval_html",
    "render_eval_report",
]

DURATION_BUCKETS: tuple[tuple[float, str], ...] = (
    (30.0, "< 30 s"),
    (60.0, "30 s - 1 min"),
    (180.0, "1 - 3 min"),
    (600.0, "3 - 10 min"),
    (1800.0, "10 - 30 min"),
    (3600.0, "30 - 60 min"),
    (math.inf, ">= 60 min"),
)
"""(upper bound in seconds, exclusive; name) of the duration buckets, shortest first."""
UNKNOWN_DURATION = "unknown duration"
TRUTH_COLOR = "#117733"
"""The ground-truth lane's colour (not in the answers' palette)."""
_ANSWER_COLUMNS = ["question_id", "config_hash", "analysis_json", "attempts", "video_duration_seconds"]


@dataclass
class Bucket:
    name: str
    count: int
    score: float | None
    """Mean per-item score in percent; None when the bucket has no item."""


@dataclass
class Breakdown:
    title: str
    buckets: list[Bucket]


@dataclass
class WorstItem:
    rank: int
    item_id: str
    text: str
    score_text: str
    status: str
    expected: str
    prediction: str
    error: str | None
    video: VideoView


@dataclass
class EvalPage:
    output: str
    title: str
    stats: list[tuple[str, str]]
    columns: tuple[str, ...]
    rows: list[tuple[str, list[Any]]]
    notes: list[str]
    score_label: str
    breakdowns: list[Breakdown]
    durations: Breakdown
    worst: list[WorstItem] = field(default_factory=list)
    worst_notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading


def _root(output: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(str(output), **dict(storage_options or {}))
    return fs, root.rstrip("/")


def is_eval_output(output: str, *, storage_options: Mapping[str, Any] | None = None) -> bool:
    """True when ``output`` holds the ``summary.json`` and ``items.parquet`` of ``videoqa eval``."""
    fs, root = _root(output, storage_options)
    if not (fs.isfile(f"{root}/summary.json") and fs.isfile(f"{root}/items.parquet")):
        return False
    with fs.open(f"{root}/summary.json", "r", encoding="utf-8") as f:
        try:
            summary = json.loads(f.read())
        except json.JSONDecodeError:
            return False
    return isinstance(summary, dict) and "benchmark" in summary


def _read_output(output: str, storage_options: Mapping[str, Any] | None) -> tuple[dict, list[dict]]:
    import pyarrow.parquet as pq

    fs, root = _root(output, storage_options)
    with fs.open(f"{root}/summary.json", "r", encoding="utf-8") as f:
        summary = json.loads(f.read())
    with fs.open(f"{root}/items.parquet", "rb") as f:
        rows = pq.read_table(f).to_pylist()
    return summary, rows


def _answers(output: str, summary: Mapping[str, Any], storage_options: Any) -> dict[str, dict[str, Any]]:
    """question_id -> the batch job's answers row of this evaluation's config (empty without ``batch/``)."""
    from videoqa.batch import read_tables

    fs, root = _root(output, storage_options)
    if not fs.isdir(f"{root}/batch"):
        return {}
    table = read_tables(
        f"{str(output).rstrip('/')}/batch",
        tables=("answers",),
        columns={"answers": _ANSWER_COLUMNS},
        storage_options=dict(storage_options or {}),
    )["answers"]
    return {r["question_id"]: r for r in table.to_pylist() if r["config_hash"] == summary.get("config_hash")}


# ------------------------------------------------------------------------------------------ views


def _score(row: Mapping[str, Any], column: str) -> float:
    value = row.get(column)
    return 0.0 if value is None else float(value)


def _mean_percent(rows: Sequence[Mapping[str, Any]], column: str) -> float | None:
    return 100.0 * sum(_score(r, column) for r in rows) / len(rows) if rows else None


def _breakdown(bench: Benchmark, column: str, rows: Sequence[Mapping[str, Any]]) -> Breakdown:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        value = row.get(column)
        for name in value if isinstance(value, (list, tuple)) else [value]:
            groups.setdefault("–" if name in (None, "") else str(name), []).append(row)
    buckets = [
        Bucket(name, len(rs), _mean_percent(rs, bench.page.score_column)) for name, rs in groups.items()
    ]
    return Breakdown(column, buckets)


def _duration_name(seconds: float | None) -> str:
    if seconds is None:
        return UNKNOWN_DURATION
    return next(name for bound, name in DURATION_BUCKETS if seconds < bound)


def _durations(bench: Benchmark, rows: Sequence[Mapping[str, Any]], answers: Mapping[str, Any]) -> Breakdown:
    """Every bucket of :data:`DURATION_BUCKETS` (empty ones show "–"); the duration is the row's (the
    annotated one), else the one the batch job probed."""
    groups: dict[str, list[Mapping[str, Any]]] = {name: [] for _, name in DURATION_BUCKETS}
    for row in rows:
        seconds = row.get("duration_seconds")
        if seconds is None:
            seconds = (answers.get(str(row[bench.page.id_column])) or {}).get("video_duration_seconds")
        groups.setdefault(_duration_name(seconds), []).append(row)
    column = bench.page.score_column
    return Breakdown(
        "video duration", [Bucket(n, len(rs), _mean_percent(rs, column)) for n, rs in groups.items()]
    )


def _truth_lane(bench: Benchmark, row: Mapping[str, Any], item_id: str, offset: float) -> list[LaneInput]:
    spans = bench.page.truth_spans(row)
    if not spans:
        return []
    bars = [
        BarInput(start_seconds=offset + s, end_seconds=offset + e, kind="span", index=k,
                 question_id=item_id, title=f"ground truth: {s:.2f} s → {e:.2f} s")
        for k, (s, e) in enumerate(spans)
    ]  # fmt: skip
    return [LaneInput(label="ground truth", title=f"ground truth of {item_id}", color=TRUTH_COLOR, bars=bars)]


def _item_video(bench: Benchmark, row: Mapping[str, Any], item_id: str, answer: Any) -> VideoView:
    from videoqa.analysis import Analysis

    if answer is None:
        return VideoView(video=str(row["video_id"]), video_id=str(row["video_id"]),
                         duration_seconds=row.get("duration_seconds"))  # fmt: skip
    analysis = Analysis.model_validate_json(answer["analysis_json"])
    return VideoView(
        video=analysis.video, video_id=str(row["video_id"]),
        duration_seconds=answer["video_duration_seconds"], start_seconds=analysis.video_start_seconds,
        answers=[_view.answer_view(analysis, color=_view.lane_color(0), attempts=answer["attempts"])],
    )  # fmt: skip


def _worst(
    bench: Benchmark, rows: Sequence[Mapping[str, Any]], answers: Mapping[str, Any], count: int
) -> list[WorstItem]:
    page = bench.page
    ranked = sorted(
        (r for r in rows if r["status"] != "missing_video"), key=lambda r: _score(r, page.score_column)
    )
    out = []
    for rank, row in enumerate(ranked[:count], start=1):
        item_id = str(row[page.id_column])
        value = row.get(page.score_column)
        score_text = (
            ("right" if value else "wrong")
            if isinstance(value, bool)
            else f"{_score(row, page.score_column):.3f}"
        )
        video = _item_video(bench, row, item_id, answers.get(item_id))
        lanes = _truth_lane(bench, row, item_id, video.start_seconds)
        video.timeline = _view.video_timeline(video, with_steps=True, extra_lanes=lanes)
        out.append(WorstItem(
            rank=rank, item_id=item_id, text=str(row.get(page.text_column, "")), score_text=score_text,
            status=row["status"], expected=page.expected(row), prediction=row.get("prediction_text") or "",
            error=row.get("error"), video=video,
        ))  # fmt: skip
    return out


def _stats(bench: Benchmark, summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    n_all = summary["all"][bench.count_key]
    return [
        ("Benchmark", bench.name),
        ("Model", str(summary["model"])),
        ("Evaluated", bench.count_text(n_all)),
        ("Answerable", bench.count_text(summary["answerable"][bench.count_key])),
        ("Videos", str(summary["num_videos"])),
        ("Missing videos", str(summary["num_missing_videos"])),
        ("Failed", str(summary["num_failed"])),
        ("Set aside", str(summary.get("num_set_aside", 0))),
        ("Prompt", str(summary["prompt_style"])),
        ("Scoring", str(canonical_style(summary.get("scoring", "native")))),
    ]


def build_eval_page(
    output: str, *, worst: int = 10, storage_options: Mapping[str, Any] | None = None
) -> EvalPage:
    """Everything the page shows (no decoding here; :func:`render_eval_html` adds the thumbnails)."""
    summary, rows = _read_output(output, storage_options)
    bench = get_benchmark(summary["benchmark"])
    answers = _answers(output, summary, storage_options)
    columns, table = results_rows(summary)
    worst_items = _worst(bench, rows, answers, worst)
    worst_notes = []
    missing = sum(r["status"] == "missing_video" for r in rows)
    if missing:
        worst_notes.append(f"Not listed: {bench.count_text(missing)} whose video is missing (scored 0).")
    if worst_items and not answers:
        worst_notes.append("No batch job tables under batch/: the model's spans and windows cannot be drawn.")
    return EvalPage(
        output=str(output), title=summary["title"], stats=_stats(bench, summary), columns=columns, rows=table,
        notes=result_notes(summary), score_label=bench.page.score_label,
        breakdowns=[_breakdown(bench, c, rows) for c in bench.page.breakdowns],
        durations=_durations(bench, rows, answers), worst=worst_items, worst_notes=worst_notes,
    )  # fmt: skip


def render_eval_html(
    output: str,
    *,
    thumbnails: bool = True,
    max_thumbnail_spans: int = 24,
    worst: int = 10,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """The results page of the evaluation output ``output``, as one self-contained HTML string."""
    from videoqa.report._render import _now

    page = build_eval_page(output, worst=worst, storage_options=storage_options)
    for item in page.worst:
        if thumbnails and item.video.answers:
            _view.attach_thumbnails(
                item.video, max_spans=max_thumbnail_spans, storage_options=dict(storage_options or {})
            )
    return _view.render_page("eval.html", page=page, generated=_now(), thumbnails=thumbnails)


def render_eval_report(
    output: str,
    *,
    report_path: str | None = None,
    thumbnails: bool = True,
    max_thumbnail_spans: int = 24,
    worst: int = 10,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Write the results page of ``output`` (default ``<output>/report.html``); returns its path."""
    import fsspec

    html = render_eval_html(output, thumbnails=thumbnails, max_thumbnail_spans=max_thumbnail_spans,
                            worst=worst, storage_options=storage_options)  # fmt: skip
    path = report_path or f"{str(output).rstrip('/')}/report.html"
    with fsspec.open(path, "w", encoding="utf-8", **dict(storage_options or {})) as handle:
        handle.write(html)
    return path
