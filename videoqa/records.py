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

The published schemas in ``schemas/`` are generated from these models::

    python -m videoqa.records --write schemas/     # regenerate
    python -m videoqa.records --check schemas/     # exit 1 when the files drifted
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from videoqa.analysis import Analysis, AnswerOutcome, Question, ResolvedStrategy, Task, WindowUsage
from videoqa.core.settings import Settings, config_hash, digest

__all__ = [
    "TABLES",
    "AnswerRow",
    "Failure",
    "FailureRow",
    "RowIdentity",
    "SettingsColumns",
    "SpanRow",
    "Stage",
    "SubtitleRow",
    "TableRows",
    "WindowRow",
    "analysis_to_rows",
    "arrow_schema",
    "config_hash",
    "failure_row",
    "item_key",
    "question_hash",
]

Stage = Literal["list", "probe", "plan", "decode", "model", "records"]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _settings_columns() -> type[_Row]:
    """The settings columns of every row, generated from :class:`~videoqa.Settings` (one column per field)."""
    # Nullable: a file written before a setting existed reads with nulls there; rows written now
    # always carry every value (they come from Settings.columns()).
    fields: dict[str, Any] = {
        Settings.column(name): (
            info.annotation | None,
            Field(default=info.default, description=info.description),
        )
        for name, info in Settings.model_fields.items()
    }
    return create_model("SettingsColumns", __base__=_Row, __doc__="The settings of the answer.", **fields)


SettingsColumns = _settings_columns()
"""Row model of :meth:`Settings.columns`: ``sampling_fps``, ..., ``strategy``, ``max_new_tokens``, ..."""


class RowIdentity(SettingsColumns):  # type: ignore[misc,valid-type]
    """Columns every table shares: which item, which model, which settings."""

    item_key: str = Field(
        description="Hash of (video, question_id, question_hash, config_hash): the item's id."
    )
    video: str = Field(description="Full path or URL of the video, as listed from the bucket.")
    video_id: str = Field(
        description="Path of the video relative to the bucket root; question selectors match it."
    )
    question_id: str = Field(description="Id of the question, from the questions file.")
    question_hash: str = Field(description="Hash of the question's content (text, task, options, prompt).")
    model_id: str = Field(description="Model string the job ran, e.g. 'Qwen/Qwen2.5-VL-7B-Instruct'.")
    config_hash: str = Field(description="Hash of the model id and every setting that changes answers.")


_ANALYSIS = Analysis.model_fields


class AnswerRow(RowIdentity):
    """One answered (video, question)."""

    status: Literal["ok"] = Field(
        default="ok", description="Always 'ok' here; failures go to the failures table."
    )
    question: str = Field(description="The question text (or the event description for grounding).")
    task: Task = Field(description="Kind of question.")
    options: list[str] | None = Field(default=None, description="Answer options for task='choice'.")
    answer: str = Field(description="Final answer text.")
    choice: str | None = Field(
        default=None, description="Option letter for task='choice', None if none was read."
    )
    # declared once, by the Analysis the row flattens
    parse_error: str | None = _ANALYSIS["parse_error"]
    outcome: AnswerOutcome = _ANALYSIS["outcome"]
    raw_text: str = _ANALYSIS["raw_text"]

    @model_validator(mode="before")
    @classmethod
    def _outcome_of_older_rows(cls, data: Any) -> Any:
        """Rows written before ``outcome`` existed read it as null: derive it from ``parse_error``."""
        if isinstance(data, dict) and data.get("outcome", "") is None:
            data = {**data, "outcome": "unparsed" if data.get("parse_error") else "answered"}
        return data

    strategy_used: ResolvedStrategy = Field(description="Strategy that produced the answer.")
    num_spans: int = Field(description="Number of rows this answer has in the spans table.")
    num_windows: int = Field(description="Number of rows this answer has in the windows table.")
    visual_tokens: int = Field(description="Visual tokens over all windows the model saw for this answer.")
    prompt_tokens: int = Field(
        default=0, description="Prompt tokens over all requests of this answer (video tokens included)."
    )
    reused_prompt_tokens: int = Field(
        default=0,
        description="Of those, tokens served from a prefix prefilled once for another question about the "
        "same windows: the prefill saved by prefix reuse.",
    )
    video_duration_seconds: float = Field(description="Duration of the video.")
    video_start_seconds: float = Field(description="Presentation time of the video's first frame.")
    attempts: int = Field(
        default=1, description="How many times the item was tried (1 = first try succeeded)."
    )
    model_family: str | None = Field(
        default=None,
        description="Model family that answered: qwen3-vl (time as <t seconds> text), qwen2.5-vl "
        "(absolute-time MRoPE), qwen2-vl (patch-index MRoPE); null in rows written before it was recorded.",
    )
    timings_seconds_json: str = Field(
        description="Wall time per stage, a JSON object of seconds (varies by run)."
    )
    analysis_json: str = Field(
        description="The full videoqa.Analysis as JSON: Analysis.model_validate_json(it)."
    )


class SpanRow(RowIdentity):
    """One grounded span of an answer, absolute seconds on the video's timeline."""

    span_index: int = Field(description="Position of the span within its answer (0-based).")
    start_seconds: float = Field(description="Absolute start, seconds.")
    end_seconds: float = Field(description="Absolute end, seconds; >= start_seconds.")
    duration_seconds: float = Field(description="end_seconds - start_seconds.")
    label: str | None = Field(default=None, description="What happens in the span (events task).")
    task: Task = Field(description="Kind of question.")


def _window_row() -> type[RowIdentity]:
    """:class:`~videoqa.analysis.WindowUsage`'s fields (``index`` as ``window_index``), its pass and identity.

    Declared once, in ``WindowUsage``; a row always states ``cached``, and adds the answer's
    ``stream_index`` after it (the column order of the files written since).
    """
    fields: dict[str, Any] = {
        "step": (
            str,
            Field(
                description="Strategy pass the window belongs to: 'single', 'coarse', 'fine', 'search' "
                "(later rounds of the grounding search) or 'fallback_single'."
            ),
        ),
        "step_index": (int, Field(description="Position of the pass within the answer (0-based).")),
    }
    for name, info in WindowUsage.model_fields.items():
        default = ... if name == "cached" else info.default
        column = "window_index" if name == "index" else name
        fields[column] = (info.annotation, Field(default=default, description=info.description))
        if name == "cached":
            fields["stream_index"] = (
                int,
                Field(
                    default=0,
                    description="Index in the file of the video stream the frames came from (FFmpeg's best "
                    "video stream unless the video_stream setting names one).",
                ),
            )
    doc = "One window the model saw while answering: exactly what was sampled and how it was timed."
    return create_model("WindowRow", __base__=RowIdentity, __doc__=doc, **fields)


WindowRow = _window_row()


class SubtitleRow(RowIdentity):
    """One cue of timed text (subtitle, transcript) an answer was given, on the video's timeline."""

    cue_index: int = Field(description="Position of the cue within the answer's cues (0-based, time order).")
    start_seconds: float = Field(description="Absolute start, seconds (the frames' pts clock).")
    end_seconds: float = Field(description="Absolute end, seconds; >= start_seconds.")
    text: str = Field(description="The words, markup removed.")
    language: str | None = Field(default=None, description="Language tag as the source states it.")
    kind: Literal["sidecar", "stream", "asr"] = Field(description="Subtitle file, subtitle stream or speech.")
    source: str = Field(
        description="The file, stream or model read: 's3://b/talk.en.srt', 'stream:2 (mov_text, eng)'."
    )


class Failure(_Row):
    """Why an item (or a whole video) could not be answered: the batch stages pass it on, the
    failures table stores it (:class:`FailureRow` = identity + these columns)."""

    stage: Stage = Field(
        description="Pipeline stage that failed: list, probe, plan, decode, model or records."
    )
    error_type: str = Field(description="Exception class name, e.g. 'TruncatedVideoError'.")
    error: str = Field(description="The error message; names the file and what to do next.")
    transient: bool = Field(description="True when the error was worth retrying (and was retried).")
    attempts: int = Field(description="How many times the item was tried before giving up.")

    @classmethod
    def from_exception(
        cls, error: BaseException, *, stage: Stage, attempts: int, transient: bool | None = None
    ) -> Failure:
        """``transient`` defaults to the exception's ``.transient`` flag (False for other errors)."""
        if transient is None:
            transient = bool(getattr(error, "transient", False))
        return cls(
            stage=stage, error_type=type(error).__name__, error=str(error) or repr(error),
            transient=transient, attempts=attempts,
        )  # fmt: skip


class FailureRow(Failure, RowIdentity):
    """One (video, question) that could not be answered; the job went on."""

    status: Literal["failed"] = Field(default="failed", description="Always 'failed'.")


TABLES: dict[str, type[RowIdentity]] = {
    "answers": AnswerRow,
    "spans": SpanRow,
    "windows": WindowRow,
    "subtitles": SubtitleRow,
    "failures": FailureRow,
}


class TableRows(BaseModel):
    """Rows for each table produced by one item (plain dicts, ready for pyarrow)."""

    model_config = ConfigDict(extra="forbid")

    answers: list[dict[str, Any]] = Field(default_factory=list, description="AnswerRow dicts.")
    spans: list[dict[str, Any]] = Field(default_factory=list, description="SpanRow dicts.")
    windows: list[dict[str, Any]] = Field(default_factory=list, description="WindowRow dicts.")
    subtitles: list[dict[str, Any]] = Field(default_factory=list, description="SubtitleRow dicts.")
    failures: list[dict[str, Any]] = Field(default_factory=list, description="FailureRow dicts.")

    def extend(self, other: TableRows) -> None:
        """Append every table of ``other`` to this one."""
        for name in TABLES:
            getattr(self, name).extend(getattr(other, name))


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


def _answer_row(
    analysis: Analysis, ident: dict[str, Any], windows: list[WindowRow], attempts: int
) -> AnswerRow:
    q = analysis.question
    return AnswerRow(
        **ident,
        question=q.question,
        task=q.task,
        options=q.options,
        answer=analysis.answer,
        choice=analysis.choice,
        parse_error=analysis.parse_error,
        outcome=analysis.outcome,
        raw_text=analysis.raw_text,
        strategy_used=analysis.strategy,
        num_spans=len(analysis.spans),
        num_windows=len(windows),
        visual_tokens=sum(w.visual_tokens for w in windows),
        prompt_tokens=sum(sum(step.prompt_tokens) for step in analysis.steps),
        reused_prompt_tokens=sum(sum(step.reused_prompt_tokens) for step in analysis.steps),
        video_duration_seconds=analysis.video_duration_seconds,
        video_start_seconds=analysis.video_start_seconds,
        attempts=attempts,
        model_family=analysis.model_family,
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
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in _schema_files().items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


def drifted_schema_files(folder: str | Path) -> list[str]:
    """Names of schema files in ``folder`` that are missing or differ from the models."""
    out = Path(folder)
    return [
        name
        for name, text in _schema_files().items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m videoqa.records", description="Generate or check schemas/."
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="DIR", help="Write the schema files into DIR.")
    group.add_argument(
        "--check", metavar="DIR", help="Exit 1 when DIR's schema files differ from the models."
    )
    args = parser.parse_args(argv)
    if args.write:
        for path in write_schema_files(args.write):
            print(path)
        return 0
    drifted = drifted_schema_files(args.check)
    for name in drifted:
        print(f"{name} is out of date; run: python -m videoqa.records --write {args.check}", file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
