"""The row models of the batch job's Parquet tables (re-exported by :mod:`videoqa.records`).

One model per table (``TABLES``), each the shared identity columns (:class:`RowIdentity`, the
settings columns generated from :class:`~videoqa.Settings`) plus its own; ``schemas/`` is generated
from them (``python -m videoqa.records --write schemas/``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from videoqa.analysis import Analysis, AnswerOutcome, ResolvedStrategy, Task, WindowUsage
from videoqa.core.settings import Settings

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
