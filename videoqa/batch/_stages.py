"""The stages of a batch job, as Ray Data UDFs over *units*: one video with its pending questions.

A unit is decoded once and all its questions are answered from the same clips. Column flow
(every stage keeps every column, empty values are ``b""`` / ``""``, so blocks always share a schema)::

    unit_key video video_id questions_json                      <- the driver (list + resume)
      + duration_seconds info_pickle plan_pickle  | failure_json  <- probe_and_plan  (CPU task)
      + clips_pickle decode_seconds                | failure_json  <- decode_clips    (CPU task, bounded)
      + tables_json model_calls model_seconds      | failure_json  <- ModelStage      (actor, GPU or CPU)
    -> one small summary row per unit, after writing its Parquet files   <- write_outputs (CPU task)

A unit that failed in an earlier stage carries ``failure_json`` and passes the later stages
untouched until ``write_outputs`` turns it into one failures row per question.
"""

from __future__ import annotations

import json
import pickle
import time
from typing import Any

import numpy as np

from videoqa.analysis import Question
from videoqa.batch._config import JobConfig
from videoqa.batch._guard import guarded, is_transient
from videoqa.batch._writer import write_unit
from videoqa.records import Failure, TableRows, analysis_to_rows, failure_row

__all__ = [
    "UNIT_COLUMNS",
    "ModelStage",
    "decode_clips",
    "make_unit",
    "probe_and_plan",
    "unit_schema",
    "unit_table",
    "write_outputs",
]

_UNIT = (
    # (column, Arrow type, value before the stage that fills it)
    ("unit_key", "string", ""),
    ("video", "string", ""),
    ("video_id", "string", ""),
    ("questions_json", "string", "[]"),
    ("duration_seconds", "float64", 0.0),
    ("info_pickle", "binary", b""),
    ("plan_pickle", "binary", b""),
    ("clips_pickle", "large_binary", b""),  # one hour of video can exceed binary's 2 GB
    ("failure_json", "string", ""),
    ("tables_json", "large_string", ""),
    ("model_calls", "int64", 0),
    ("decode_seconds", "float64", 0.0),
    ("model_seconds", "float64", 0.0),
    ("superseded_json", "string", "{}"),
)
"""The unit's columns, defined once: :data:`UNIT_COLUMNS`, :func:`make_unit` and :func:`unit_schema`."""

UNIT_COLUMNS = tuple(name for name, _, _ in _UNIT)


def make_unit(
    unit_key: str,
    video: str,
    video_id: str,
    questions: list[Question],
    *,
    superseded: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The row the driver feeds into the pipeline for one video.

    ``superseded``: earlier failures files ({name: item keys}) holding rows of these questions
    (``--retry-failed``); the writer removes those rows.
    """
    return {
        **{name: empty for name, _, empty in _UNIT},
        "unit_key": unit_key,
        "video": video,
        "video_id": video_id,
        "questions_json": json.dumps([q.model_dump() for q in questions]),
        "superseded_json": json.dumps(superseded or {}, sort_keys=True),
    }


def _require(row: dict[str, Any], stage: str, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise KeyError(
            f"Required input columns {missing} not found at the input of {stage}. Input: {sorted(row)}"
        )


def _fail(row: dict[str, Any], failure: Failure) -> dict[str, Any]:
    return {
        **row,
        "failure_json": failure.model_dump_json(),
        "clips_pickle": b"",
        "plan_pickle": b"",
        "info_pickle": b"",
    }


def _guarded_task(stage: str, video: str, work: Any, *, config: JobConfig, tracker: Any) -> Any:
    """:func:`guarded` for a CPU task of one video: retried per the job, killed past the stage timeout."""
    return guarded(
        stage,
        video,
        work,
        tracker=tracker,
        max_attempts=config.max_attempts,
        timeout_seconds=config.stage_timeout_seconds,
    )


def probe_and_plan(row: dict[str, Any], *, config_json: str, tracker: Any) -> dict[str, Any]:
    """Probe the video and plan its first pass (CPU task; killed and retried if it hangs)."""
    _require(row, "probe_and_plan", ("video", "failure_json"))
    if row["failure_json"]:
        return row
    config = JobConfig.model_validate_json(config_json)

    def work() -> tuple[Any, Any]:
        from videoqa.video import probe

        info = probe(row["video"], storage_options=config.storage_options)
        from videoqa.core._strategies import first_pass_plan
        from videoqa.model._families import sampling_profile_for

        return info, first_pass_plan(info, config.settings, sampling_profile_for(config.model)).plan

    outcome = _guarded_task("probe", row["video"], work, config=config, tracker=tracker)
    if outcome.failure:
        return _fail(row, outcome.failure)
    info, plan = outcome.value
    return {
        **row,
        "duration_seconds": float(info.duration_seconds),
        "info_pickle": pickle.dumps(info),
        "plan_pickle": pickle.dumps(plan),
    }


def decode_clips(batch: Any, *, config_json: str, tracker: Any) -> Any:
    """Decode each unit's first-pass windows, resized (CPU task; killed and retried if it hangs).

    Takes and returns a ``pyarrow.Table`` of units (one per block). The clips column is
    ``large_binary``: one hour of video at the default pixel budgets serialises to ~1.6 GB, and a
    plain Arrow ``binary`` value cannot exceed 2 GB.
    """
    rows = [_decode_one(row, config_json=config_json, tracker=tracker) for row in batch.to_pylist()]
    return unit_table(rows)


def unit_table(rows: list[dict[str, Any]]) -> Any:
    """Units as a ``pyarrow.Table`` of :func:`unit_schema`; a single unit's clips are not copied."""
    import pyarrow as pa

    columns = {name: [r[name] for r in rows] for name in UNIT_COLUMNS if name != "clips_pickle"}
    arrays = [
        pa.array(columns[f.name], type=f.type) if f.name != "clips_pickle" else _large_binary(rows)
        for f in unit_schema()
    ]
    return pa.Table.from_arrays(arrays, schema=unit_schema())


def _large_binary(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    if len(rows) != 1:
        return pa.array([r["clips_pickle"] for r in rows], type=pa.large_binary())
    data = rows[0]["clips_pickle"]
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])


def unit_schema() -> Any:
    """Arrow schema of a unit between stages (built lazily: pyarrow loads only where it is used)."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, arrow_type)()) for name, arrow_type, _ in _UNIT])


def _decode_one(row: dict[str, Any], *, config_json: str, tracker: Any) -> dict[str, Any]:
    _require(row, "decode_clips", ("video", "plan_pickle", "failure_json"))
    if row["failure_json"]:
        return row
    config = JobConfig.model_validate_json(config_json)
    plan = pickle.loads(row["plan_pickle"])

    def work() -> list[Any]:
        from videoqa.video import decode

        return list(
            decode(
                row["video"],
                plan,
                backend=config.settings.decode_backend,
                storage_options=config.storage_options,
            )
        )

    started = time.perf_counter()
    outcome = _guarded_task("decode", row["video"], work, config=config, tracker=tracker)
    if outcome.failure:
        return _fail(row, outcome.failure)
    clips_pickle = pickle.dumps(outcome.value, protocol=5)
    outcome.value = None  # free the decoded frames before Ray copies the serialised ones out
    return {**row, "clips_pickle": clips_pickle, "decode_seconds": time.perf_counter() - started}


# Failures that asking one question at a time cannot fix: the runner already split its calls down to
# single requests before giving up on memory, so a retry per question would only encode again.
_NOT_PER_QUESTION = frozenset({"ModelOutOfMemoryError"})


class ModelStage:
    """Ray Data actor holding one :class:`videoqa.Session` (one model replica)."""

    def __init__(self, *, config_json: str, tracker: Any):
        from videoqa.batch._session import build_session

        self._config = JobConfig.model_validate_json(config_json)
        self._tracker = tracker
        self._session = build_session(self._config)

    def __call__(self, batch: Any) -> Any:
        """``batch`` is a ``pyarrow.Table`` of units; returns the same columns, clips dropped.

        The clips are unpickled straight from the Arrow buffer, never copied into a Python bytes.
        """
        _require(dict.fromkeys(batch.column_names), "ModelStage", ("clips_pickle",))
        clips = batch.column("clips_pickle")
        rows = batch.drop_columns(["clips_pickle"]).to_pylist()
        out = [self._one({**row, "clips_pickle": b""}, clips[i]) for i, row in enumerate(rows)]
        return unit_table(out)

    def _one(self, row: dict[str, Any], clips_scalar: Any) -> dict[str, Any]:
        _require(row, "ModelStage", ("video", "video_id", "questions_json", "info_pickle", "failure_json"))
        if row["failure_json"]:
            return row
        questions = [Question.model_validate(q) for q in json.loads(row["questions_json"])]
        info = pickle.loads(row["info_pickle"])
        clips = pickle.loads(clips_scalar.as_buffer())
        started = time.perf_counter()
        outcome = self._analyze(row["video"], questions, info, clips)
        if (
            outcome.failure
            and len(questions) > 1
            and not outcome.failure.transient
            and outcome.failure.error_type not in _NOT_PER_QUESTION
        ):
            # One bad question (or one the model cannot handle) must not sink the others: ask one by one.
            return self._one_by_one(row, questions, info, clips, started)
        if outcome.failure:
            return _fail(row, outcome.failure)
        tables = self._tables(row, outcome.value, outcome.attempts)
        return {
            **row,
            "clips_pickle": b"",
            "tables_json": tables.model_dump_json(),
            "model_calls": len(questions),
            "model_seconds": time.perf_counter() - started,
        }

    def _analyze(self, video: str, questions: list[Question], info: Any, clips: Any) -> Any:
        def work() -> list[Any]:
            return self._session.analyze_many(video, questions, info=info, clips=clips)

        key = f"{video}|{','.join(q.question_id for q in questions)}"
        return guarded("model", key, work, tracker=self._tracker, max_attempts=self._config.max_attempts)

    def _tables(self, row: dict[str, Any], analyses: list[Any], attempts: int) -> TableRows:
        config = self._config
        tables = TableRows()
        for analysis in analyses:
            tables.extend(
                analysis_to_rows(
                    analysis,
                    video=row["video"],
                    video_id=row["video_id"],
                    model_id=config.model,
                    settings=config.settings,
                    config=config.config_hash,
                    attempts=attempts,
                )
            )
        return tables

    def _one_by_one(
        self, row: dict[str, Any], questions: list[Question], info: Any, clips: Any, started: float
    ) -> dict[str, Any]:
        config = self._config
        tables = TableRows()
        for question in questions:
            outcome = self._analyze(row["video"], [question], info, clips)
            if outcome.failure:
                tables.extend(_failure_tables(row, [question], outcome.failure, config))
            else:
                tables.extend(self._tables(row, outcome.value, outcome.attempts))
        return {
            **row,
            "clips_pickle": b"",
            "tables_json": tables.model_dump_json(),
            "model_calls": len(questions) * 2,
            "model_seconds": time.perf_counter() - started,
        }


def _failure_tables(
    row: dict[str, Any], questions: list[Question], failure: Failure, config: JobConfig
) -> TableRows:
    """One failures row per question for ``failure``."""
    rows = [
        failure_row(
            failure,
            video=row["video"],
            video_id=row["video_id"],
            question=q,
            model_id=config.model,
            settings=config.settings,
            config=config.config_hash,
        )
        for q in questions
    ]
    return TableRows(failures=rows)


def _unit_tables(row: dict[str, Any], config: JobConfig) -> TableRows:
    if not row["failure_json"]:
        return TableRows.model_validate_json(row["tables_json"])
    questions = [Question.model_validate(q) for q in json.loads(row["questions_json"])]
    return _failure_tables(row, questions, Failure.model_validate_json(row["failure_json"]), config)


_WRITE_COLUMNS = tuple(c for c in UNIT_COLUMNS if c not in ("info_pickle", "plan_pickle", "clips_pickle"))


def write_outputs(row: dict[str, Any], *, config_json: str) -> dict[str, Any]:
    """Write the unit's rows to Parquet (retrying transient I/O errors) and return its summary row.

    Output that cannot be written (a permanent error such as a permission denied, or a transient one
    still failing after ``max_attempts``) raises: the job stops rather than lose rows.
    """
    _require(row, "write_outputs", _WRITE_COLUMNS)
    config = JobConfig.model_validate_json(config_json)
    tables = _unit_tables(row, config)
    for attempt in range(1, config.max_attempts + 1):
        try:
            write_unit(
                config.output,
                tables,
                superseded=json.loads(row["superseded_json"]),
                storage_options=config.storage_options,
            )
            break
        except OSError as error:
            if attempt == config.max_attempts or not is_transient(error):
                raise
            time.sleep(0.5 * 2 ** (attempt - 1))
    failure = Failure.model_validate_json(row["failure_json"]) if row["failure_json"] else None
    failure_types: dict[str, int] = {}
    for r in tables.failures:
        failure_types[r["error_type"]] = failure_types.get(r["error_type"], 0) + 1
    return {
        "unit_key": row["unit_key"],
        "video": row["video"],
        "duration_seconds": float(row["duration_seconds"]),
        "answers": len(tables.answers),
        "no_event": sum(1 for r in tables.answers if r["outcome"] == "no_event"),
        "prompt_tokens": sum(int(r["prompt_tokens"]) for r in tables.answers),
        "reused_prompt_tokens": sum(int(r["reused_prompt_tokens"]) for r in tables.answers),
        "failures": len(tables.failures),
        "spans": len(tables.spans),
        "model_calls": int(row["model_calls"]),
        "decode_seconds": float(row["decode_seconds"]),
        "model_seconds": float(row["model_seconds"]),
        "failed_stage": failure.stage if failure else "",
        "error_type": failure.error_type if failure else "",
        "failure_types_json": json.dumps(failure_types),
    }
