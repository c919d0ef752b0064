"""Row models of the batch job's Parquet tables, and the functions that fill them.

Four tables, each one Parquet dataset under the job's output folder:

- ``answers``: one row per (video, question) that was answered.
- ``spans``: one row per grounded span of an answer, absolute seconds.
- ``windows``: one row per window the model saw for an answer (pts, fps, tokens, temporal IDs).
- ``subtitles``: one row per subtitle / transcript cue an answer was given, absolute seconds, with its source.
- ``failures``: one row per (video, question) that could not be answered, with the error.

Every (video, question, config) of a job ends up with exactly one ``answers`` row or
one ``failures`` row. Every row carries the same identity columns (:class:`RowIdentity`):
the video, the question id, the model id, the settings (one column per ``videoqa.Settings``
field) and a config hash, plus ``item_key``, a hash of (video, question, config) that names the item in the
output files and lets ``--resume`` skip finished work.

The row models live in :mod:`videoqa._rows` and are re-exported here. The published schemas in
``schemas/`` are generated from them::

    python -m videoqa.records --write schemas/     # regenerate
    python -m videoqa.records --check schemas/     # exit 1 when the files drifted
"""

from __future__ import annotations

import json
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from videoqa import _rows
from videoqa._generated import drifted_files, generated_main, write_files
from videoqa._rows import (
    TABLES,
    AnswerRow,
    Failure,
    FailureRow,
    RowIdentity,  # noqa: F401 (re-exported)
    SettingsColumns,  # noqa: F401 (re-exported)
    SpanRow,
    Stage,
    SubtitleRow,
    TableRows,
    WindowRow,
)
from videoqa.analysis import Analysis, Question
from videoqa.core.settings import Settings, config_hash, digest

__all__ = [  # the row models first, as videoqa._rows lists them
    *_rows.__all__,
    "analysis_to_rows",
    "arrow_schema",
    "config_hash",
    "failure_row",
    "item_key",
    "question_hash",
]


# --------------------------------------------------------------------------- keys


def question_hash(question: Question) -> str:
    """16 hex chars naming a question's content, so editing a question's text re-runs it."""
    # occurrences (added later) joins the hash only when not its default: existing questions keep theirs
    exclude = {"question_id"} | ({"occurrences"} if question.occurrences == "first" else set())
    return digest(question.model_dump(exclude=exclude))


def item_key(video: str, question_id: str, question_digest: str, config_digest: str) -> str:
    """16 hex chars naming one (video, question, config) item; stable across runs and machines."""
    return digest([video, question_id, question_digest, config_digest])


def _identity(
    *, video: str, video_id: str, question: Question, model_id: str, settings: Settings, config: str
) -> dict[str, Any]:
    q_hash = question_hash(question)
    return {
        **settings.columns(),
        "item_key": item_key(video, question.question_id, q_hash, config),
        "video": video,
        "video_id": video_id,
        "question_id": question.question_id,
        "question_hash": q_hash,
        "model_id": model_id,
        "config_hash": config,
    }


# --------------------------------------------------------------------------- rows


def analysis_to_rows(
    analysis: Analysis,
    *,
    video: str,
    video_id: str,
    model_id: str,
    settings: Settings,
    config: str,
    attempts: int = 1,
) -> TableRows:
    """The answers, spans and windows rows of one :class:`~videoqa.Analysis`.

    ``video`` is the listed URL (the Analysis may name a local copy); ``model_id`` is the job's
    model string; ``config`` is :func:`config_hash` of the job. Rows are validated by their models.
    """
    ident = _identity(
        video=video, video_id=video_id, question=analysis.question, model_id=model_id,
        settings=settings, config=config,
    )  # fmt: skip
    spans = [
        SpanRow(
            **ident,
            span_index=k,
            start_seconds=s.start_seconds,
            end_seconds=s.end_seconds,
            duration_seconds=s.end_seconds - s.start_seconds,
            label=s.label,
            task=analysis.question.task,
        )
        for k, s in enumerate(analysis.spans)
    ]
    windows = _window_rows(analysis, ident)
    text = analysis.subtitles
    cues = [
        SubtitleRow(
            **ident, cue_index=k, kind=text.kind, source=text.source, **c.model_dump(exclude={"source"})
        )
        for k, c in enumerate(text.cues if text is not None and text.kind is not None else [])
    ]
    return TableRows(
        answers=[_answer_row(analysis, ident, windows, attempts).model_dump()],
        spans=[r.model_dump() for r in spans],
        windows=[r.model_dump() for r in windows],
        subtitles=[r.model_dump() for r in cues],
    )


_AS_ANALYSED = {
    "answer", "choice", "parse_error", "outcome", "raw_text", "video_duration_seconds", "video_start_seconds",
    "model_family",
}  # fmt: skip
"""The answers columns that are the Analysis' fields of the same name."""


def _answer_row(
    analysis: Analysis, ident: dict[str, Any], windows: list[WindowRow], attempts: int
) -> AnswerRow:
    return AnswerRow(
        **ident,
        **analysis.question.model_dump(include={"question", "task", "options"}),
        **analysis.model_dump(include=_AS_ANALYSED),
        strategy_used=analysis.strategy,
        num_spans=len(analysis.spans),
        num_windows=len(windows),
        visual_tokens=sum(w.visual_tokens for w in windows),
        prompt_tokens=sum(sum(step.prompt_tokens) for step in analysis.steps),
        reused_prompt_tokens=sum(sum(step.reused_prompt_tokens) for step in analysis.steps),
        attempts=attempts,
        timings_seconds_json=json.dumps(analysis.timings_seconds, sort_keys=True),
        analysis_json=analysis.model_dump_json(),
    )


def _window_rows(analysis: Analysis, ident: dict[str, Any]) -> list[WindowRow]:
    # A WindowRow is a WindowUsage plus its identity and pass: every other field has the same name.
    return [
        WindowRow(
            **ident,
            step=step.name,
            step_index=i,
            window_index=w.index,
            stream_index=analysis.video_stream_index,
            **w.model_dump(exclude={"index"}),
        )
        for i, step in enumerate(analysis.steps)
        for w in step.windows
    ]


def failure_row(
    error: Failure | BaseException | tuple[str, str],
    *,
    video: str,
    video_id: str,
    question: Question,
    model_id: str,
    settings: Settings,
    config: str,
    stage: Stage | None = None,
    attempts: int | None = None,
    transient: bool | None = None,
) -> dict[str, Any]:
    """The failures row of one (video, question): a :class:`Failure`, or an exception or
    ``(error_type, message)`` with ``stage`` and ``attempts`` (then ``transient`` defaults to the
    exception's ``.transient`` flag, False for other errors)."""
    if not isinstance(error, Failure):
        if stage is None or attempts is None:
            raise ValueError("failure_row needs stage and attempts unless given a Failure")
        if isinstance(error, BaseException):
            error = Failure.from_exception(error, stage=stage, attempts=attempts, transient=transient)
        else:
            error = Failure(
                stage=stage, error_type=error[0], error=error[1], transient=bool(transient), attempts=attempts
            )
    ident = _identity(
        video=video, video_id=video_id, question=question, model_id=model_id, settings=settings, config=config
    )
    return FailureRow(**ident, **error.model_dump()).model_dump()


# --------------------------------------------------------------------------- schemas


def _arrow_type(annotation: Any) -> tuple[Any, bool]:
    """(pyarrow type, nullable) of a row field's annotation."""
    import pyarrow as pa

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"Unsupported union in a row model: {annotation}")
        return _arrow_type(args[0])[0], True
    if origin is Literal:
        return pa.string(), False
    if origin is list:
        (item,) = typing.get_args(annotation)
        return pa.list_(_arrow_type(item)[0]), False
    scalars = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
    if annotation in scalars:
        return scalars[annotation], False
    raise TypeError(f"Unsupported type in a row model: {annotation}")


def arrow_schema(table: str) -> Any:
    """The ``pyarrow.Schema`` of one table, with each field's description as metadata."""
    import pyarrow as pa

    model = TABLES[table]
    fields = []
    for name, info in model.model_fields.items():
        arrow_type, nullable = _arrow_type(info.annotation)
        meta = {"description": info.description or ""}
        fields.append(pa.field(name, arrow_type, nullable=nullable, metadata=meta))
    return pa.schema(fields, metadata={"videoqa_table": table})


def _schema_files() -> dict[str, str]:
    """File name -> exact text of every generated schema file."""
    files: dict[str, str] = {}
    for table, model in TABLES.items():
        files[f"{table}.schema.json"] = json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        schema = arrow_schema(table)
        fields = [
            {
                "name": f.name,
                "type": str(f.type),
                "nullable": f.nullable,
                "description": f.metadata[b"description"].decode(),
            }
            for f in schema
        ]
        files[f"{table}.arrow.json"] = json.dumps({"table": table, "fields": fields}, indent=2) + "\n"
    return files


def write_schema_files(folder: str | Path) -> list[Path]:
    """Write ``<table>.schema.json`` (JSON Schema) and ``<table>.arrow.json`` (Arrow fields) per table."""
    return write_files(folder, _schema_files())


def drifted_schema_files(folder: str | Path) -> list[str]:
    """Names of schema files in ``folder`` that are missing or differ from the models."""
    return drifted_files(folder, _schema_files())


def main(argv: Sequence[str] | None = None) -> int:
    return generated_main("videoqa.records", "Generate or check schemas/.", _schema_files, argv)


if __name__ == "__main__":
    sys.exit(main())
