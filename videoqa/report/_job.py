"""Read a batch job's Parquet tables and turn them into the views of a report page.

The tables and their columns are the published contract of :mod:`videoqa.records`
(``answers``, ``spans``, ``windows``, ``failures``); every row is validated by its
row model, so a report reads exactly what the job promised to write. The output may
be a local folder or any fsspec URL (``s3://bucket/job``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

from videoqa.analysis import Analysis
from videoqa.batch._read import ForeignFileError
from videoqa.records import TABLES, AnswerRow, FailureRow, SettingsColumns, SpanRow, SubtitleRow, WindowRow
from videoqa.report._view import AnswerView, FailureView, VideoView, answer_view, lane_color

__all__ = ["ForeignFileError", "JobTables", "JobView", "build_job_view", "read_job_tables"]

logger = logging.getLogger(__name__)


@dataclass
class JobTables:
    """The rows of one job's output, validated by the :mod:`videoqa.records` models."""

    answers: list[AnswerRow] = field(default_factory=list)
    spans: list[SpanRow] = field(default_factory=list)
    windows: list[WindowRow] = field(default_factory=list)
    subtitles: list[SubtitleRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """One note per file under the tables' folders that is not a table of this job (skipped)."""


@dataclass
class JobView:
    output: str
    videos: list[VideoView]
    failures: list[FailureView]
    summary: list[tuple[str, str]]
    settings: list[tuple[str, list[tuple[str, str]]]]
    """(config hash, [(setting, value), ...]) for each distinct configuration in the output."""
    models: list[str]
    notes: list[str] = field(default_factory=list)


def _rows(data: Any, table: str, output: str) -> list[Any]:
    model = TABLES[table]
    rows = []
    for raw in data.to_pylist():
        try:
            rows.append(model.model_validate(raw))
        except ValueError as error:
            raise ValueError(
                f"A row of {output}/{table} does not match videoqa.records.{model.__name__}; "
                f"was it written by another videoqa version? {error}"
            ) from error
    return rows


def read_job_tables(output: str, *, storage_options: dict[str, Any] | None = None) -> JobTables:
    """Read every table of the job output folder or bucket prefix ``output``.

    Through :func:`videoqa.batch.read_tables` (live files, one row per item, answers over stale
    failures); files that are not tables of a job are skipped with a warning and a note.
    """
    import fsspec

    from videoqa._remote import path_kind
    from videoqa.batch import read_tables

    fs, root = fsspec.core.url_to_fs(str(output), **(storage_options or {}))
    if path_kind(fs, root.rstrip("/"), name=str(output)) != "directory":
        raise FileNotFoundError(
            f"Job output {output!r} does not exist; pass the --output folder of a videoqa job."
        )
    foreign: list[ForeignFileError] = []
    data = read_tables(str(output), storage_options=storage_options, skipped=foreign)
    for error in foreign:
        logger.warning("Skipping %s", error)
    if not data["answers"].num_rows and not data["failures"].num_rows:
        raise FileNotFoundError(
            f"{output!r} holds neither an 'answers' nor a 'failures' table; "
            "is it the --output of a videoqa job?"
        )
    tables = {name: _rows(table, name, str(output)) for name, table in data.items()}
    return JobTables(**tables, skipped=[f"Skipped {error}." for error in foreign])


# ------------------------------------------------------------------------------------------------ views


def _answer_view(row: AnswerRow, color: str) -> AnswerView:
    """The answer drawn from the full Analysis its row carries (the one view builder of both pages)."""
    try:
        analysis = Analysis.model_validate_json(row.analysis_json)
    except ValueError as error:
        raise ValueError(
            f"answers row {row.item_key} ({row.video}, question {row.question_id}) holds an invalid "
            f"analysis_json; was it written by another videoqa version? {error}"
        ) from error
    return answer_view(analysis, color=color, attempts=row.attempts)


def _failure_view(row: FailureRow) -> FailureView:
    return FailureView(**row.model_dump(include={f.name for f in fields(FailureView)}))


def _video_views(tables: JobTables) -> list[VideoView]:
    videos: dict[str, VideoView] = {}
    lanes: dict[str, int] = {}  # one colour per question id, the same in every video
    for row in sorted(tables.answers, key=lambda r: (r.video, r.question_id)):
        view = videos.setdefault(
            row.video,
            VideoView(
                video=row.video,
                video_id=row.video_id,
                duration_seconds=row.video_duration_seconds,
                start_seconds=row.video_start_seconds,
            ),
        )
        color = lane_color(lanes.setdefault(row.question_id, len(lanes)))
        view.answers.append(_answer_view(row, color))
    for row in sorted(tables.failures, key=lambda r: (r.video, r.question_id)):
        view = videos.setdefault(
            row.video, VideoView(video=row.video, video_id=row.video_id, duration_seconds=None)
        )
        view.failures.append(_failure_view(row))
    return [videos[k] for k in sorted(videos)]


def _duration_text(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{seconds / 3600:.3f} h ({hours}:{minutes:02d}:{secs:02d})"


def _setting_text(value: Any) -> str:
    return "not set (the planner decides)" if value is None else str(value)


def _settings(tables: JobTables) -> list[tuple[str, list[tuple[str, str]]]]:
    names = list(SettingsColumns.model_fields)
    seen: dict[str, list[tuple[str, str]]] = {}
    for row in [*tables.answers, *tables.failures]:
        if row.config_hash not in seen:
            values = [(name, _setting_text(getattr(row, name))) for name in names]
            seen[row.config_hash] = [("model_id", row.model_id), *values]
    return sorted(seen.items())


def build_job_view(output: str, tables: JobTables) -> JobView:
    """Everything the job page shows, computed from the tables (no decoding here)."""
    videos = _video_views(tables)
    durations = [v.duration_seconds for v in videos if v.duration_seconds is not None]
    unknown = len(videos) - len(durations)
    notes = list(tables.skipped)
    if unknown:
        notes.append(
            f"{unknown} video(s) have no answer, so their duration is unknown and not counted in the hours."
        )
    questions = {r.question_id for r in [*tables.answers, *tables.failures]}
    models = sorted({r.model_id for r in [*tables.answers, *tables.failures]})
    summary = [
        ("Videos", str(len(videos))),
        ("Hours of video", _duration_text(sum(durations))),
        ("Questions", str(len(questions))),
        ("Answers", str(len(tables.answers))),
        ("No-event answers", str(sum(r.outcome == "no_event" for r in tables.answers))),
        ("Unparsed answers", str(sum(r.outcome == "unparsed" for r in tables.answers))),
        ("Grounded spans", str(len(tables.spans))),
        ("Failures", str(len(tables.failures))),
        ("Model", ", ".join(models) or "–"),
    ]
    return JobView(
        output=str(output),
        videos=videos,
        failures=[f for v in videos for f in v.failures],
        summary=summary,
        settings=_settings(tables),
        models=models,
        notes=notes,
    )
