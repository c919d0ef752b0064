"""The stages of a batch job, as Ray Data UDFs over *units*: one video with its pending questions.

A unit is decoded once and all its questions are answered from the same clips. The decode stage
streams a unit as one row (and one block) per first-pass window, so a decode task holds one
window at a time; the model stage turns the windows back into one row per unit (see
:mod:`videoqa.batch._windows`). The stages, the columns each reads and fills, and their Ray
resources are declared once in :mod:`videoqa.batch._pipeline`; the column diagram is
``docs/stages.md``, generated from that declaration. Every stage keeps every column (empty values
are ``b""`` / ``""``, so blocks always share a schema).

A unit that failed in an earlier stage carries ``failure_json`` (and ``window_position`` -1) and
passes the later stages untouched until ``write_outputs`` turns it into one failures row per question.
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from videoqa.analysis import Question
from videoqa.batch._config import JobConfig
from videoqa.batch._guard import guarded, is_transient
from videoqa.batch._pipeline import UNIT_FIELDS
from videoqa.batch._pipeline import stage as declared_stage
from videoqa.batch._writer import write_unit
from videoqa.records import Failure, TableRows, failure_row

__all__ = [
    "CLIP_COLUMNS",
    "UNIT_COLUMNS",
    "decode_clips",
    "load_clip",
    "make_unit",
    "probe_and_plan",
    "unit_schema",
    "unit_table",
    "write_outputs",
]

UNIT_COLUMNS = tuple(c.name for c in UNIT_FIELDS)
"""The unit's columns, in schema order (declared in :data:`videoqa.batch._pipeline.UNIT_FIELDS`)."""
CLIP_COLUMNS = ("clips_pickle", "clip_frames")
"""The columns of a row's decoded window (empty on unit rows)."""


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
        **{c.name: c.empty for c in UNIT_FIELDS},
        "unit_key": unit_key,
        "video": video,
        "video_id": video_id,
        "questions_json": json.dumps([q.model_dump() for q in questions]),
        "superseded_json": json.dumps(superseded or {}, sort_keys=True),
    }


def _require(row: Mapping[str, Any], name: str) -> None:
    """Raise when ``row`` lacks a column the stage ``name`` declares it needs."""
    missing = [c for c in declared_stage(name).needs if c not in row]
    if missing:
        raise KeyError(
            f"Required input columns {missing} not found at the input of {name}. Input: {sorted(row)}"
        )


def _fail(row: dict[str, Any], failure: Failure) -> dict[str, Any]:
    return {
        **row,
        "failure_json": failure.model_dump_json(),
        "clips_pickle": b"",
        "clip_frames": b"",
        "window_position": -1,
        "plan_pickle": b"",
        "info_pickle": b"",
        "transcript_pickle": b"",
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
    _require(row, "probe_and_plan")
    if row["failure_json"]:
        return row
    config = JobConfig.model_validate_json(config_json)

    def work() -> tuple[Any, Any, Any]:
        from videoqa.video import probe

        info = probe(
            row["video"], storage_options=config.storage_options, stream_index=config.settings.video_stream
        )
        from videoqa.core._strategies import first_pass_plan
        from videoqa.model.families import sampling_profile_for

        plan = first_pass_plan(info, config.settings, sampling_profile_for(config.model)).plan
        return info, plan, _transcript(row["video"], row["video_id"], info, config)

    outcome = _guarded_task("probe", row["video"], work, config=config, tracker=tracker)
    if outcome.failure:
        return _fail(row, outcome.failure)
    info, plan, transcript = outcome.value
    return {
        **row,
        "duration_seconds": float(info.duration_seconds),
        "info_pickle": pickle.dumps(info),
        "plan_pickle": pickle.dumps(plan),
        "transcript_pickle": b"" if transcript is None else pickle.dumps(transcript),
    }


def _transcript(video: str, video_id: str, info: Any, config: JobConfig) -> Any:
    """The video's timed text (read here, on a CPU worker, not on the model actor); None when off."""
    from videoqa.batch._subtitle_map import subtitles_of

    subtitles = subtitles_of(video, video_id, config)
    if subtitles is None or config.settings.subtitles_max_tokens == 0:
        return None
    from videoqa.text import load_cues

    return load_cues(
        video,
        subtitles=subtitles,
        language=config.subtitles_language,
        info=info,
        storage_options=config.storage_options,
    )


def decode_clips(batch: Any, *, config_json: str, tracker: Any) -> Iterator[Any]:
    """Decode each unit's first-pass windows, resized, and yield one block per window (CPU task;
    a hung window is killed and retried).

    Takes a ``pyarrow.Table`` of units and yields one-row tables: each window as soon as it is
    decoded (Ray Data stores a yielded block before asking for the next, and the job's one-row
    blocks keep it from buffering windows), so this code holds one window at a time (Ray keeps a
    reference to the last yielded block until the next: two at the peak). A unit that failed
    before, or whose decoding fails, yields its one failure row instead (after the windows
    already sent).
    """
    for row in batch.to_pylist():
        for window_row in _decode_windows(row, config_json=config_json, tracker=tracker):
            table = unit_table([window_row])
            del window_row
            yield table
            del table  # before the next window is decoded


def unit_table(rows: list[dict[str, Any]]) -> Any:
    """Units as a ``pyarrow.Table`` of :func:`unit_schema`; a single row's clip is not copied."""
    import pyarrow as pa

    arrays = [
        _large_binary(rows, f.name)
        if f.name in CLIP_COLUMNS
        else pa.array([r[f.name] for r in rows], type=f.type)
        for f in unit_schema()
    ]
    return pa.Table.from_arrays(arrays, schema=unit_schema())


def _large_binary(rows: list[dict[str, Any]], name: str) -> Any:
    import pyarrow as pa

    if len(rows) != 1:
        return pa.array([bytes(r[name]) for r in rows], type=pa.large_binary())
    data = pa.py_buffer(rows[0][name])
    offsets = pa.py_buffer(np.array([0, data.size], dtype=np.int64).tobytes())
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, data])


def unit_schema() -> Any:
    """Arrow schema of a unit between stages (built lazily: pyarrow loads only where it is used)."""
    import pyarrow as pa

    return pa.schema([(c.name, getattr(pa, c.arrow_type)()) for c in UNIT_FIELDS])


def _decode_windows(row: dict[str, Any], *, config_json: str, tracker: Any) -> Iterator[dict[str, Any]]:
    _require(row, "decode_clips")
    if row["failure_json"]:
        yield row
        return
    config = JobConfig.model_validate_json(config_json)
    plan = pickle.loads(row["plan_pickle"])
    count = len(plan.windows)
    clips: list[Any] = [None]  # the open decoder over the windows still to come; None after an error
    position = 0

    def work() -> Any:
        from videoqa.errors import DecodeError
        from videoqa.video import decode

        if clips[0] is None:
            rest = plan.subset([w.index for w in plan.windows[position:]])
            clips[0] = iter(
                decode(
                    row["video"],
                    rest,
                    backend=config.settings.decode_backend,
                    storage_options=config.storage_options,
                )
            )
        try:
            clip = next(clips[0], None)
        except BaseException:
            clips[0] = None  # a retry opens the video again at this window
            raise
        if clip is None:
            raise DecodeError(row["video"], f"the decoder returned no clip for window {position} of {count}")
        return clip

    for position in range(count):
        started = time.perf_counter()
        key = f"{row['video']}|window {position}"
        outcome = _guarded_task("decode", key, work, config=config, tracker=tracker)
        if outcome.failure:
            yield _fail(row, outcome.failure)
            return
        yield _window_row(row, outcome, position, count, started)


def _window_row(row: dict[str, Any], outcome: Any, position: int, count: int, started: float) -> dict:
    """The row of one decoded window; takes the clip out of ``outcome``.

    The frames of a window of 1 MiB or more go into the row out of band (pickle protocol 5):
    ``clip_frames`` is the decoded array's own memory, so the task holds the window once, not once
    more as a pickle. A smaller window (small frames) stays in the pickle and ``clip_frames`` is empty.
    """
    clip, outcome.value = outcome.value, None
    frames: list[pickle.PickleBuffer] = []
    clips_pickle = pickle.dumps(clip, protocol=5, buffer_callback=lambda b: _in_band(b, frames))
    if [b.raw().nbytes for b in frames] not in ([], [clip.frames.nbytes]):
        raise RuntimeError(f"expected a Clip's frames as at most one large buffer, got {len(frames)}")
    del clip
    return {
        **row,
        "clips_pickle": clips_pickle,
        "clip_frames": frames[0].raw() if frames else b"",
        "window_position": position,
        "window_count": count,
        "decode_seconds": time.perf_counter() - started,
    }


_IN_BAND_BYTES = 1 << 20


def _in_band(buffer: pickle.PickleBuffer, out_of_band: list[pickle.PickleBuffer]) -> bool:
    """pickle's ``buffer_callback``: small buffers stay in the pickle, large ones go to ``out_of_band``."""
    if buffer.raw().nbytes < _IN_BAND_BYTES:
        return True
    out_of_band.append(buffer)
    return False


def load_clip(clips_pickle: Any, clip_frames: Any) -> Any:
    """The :class:`~videoqa.video.Clip` of a window row (from Arrow buffers or bytes); its frames
    are a writable copy, as the model stage has always received them."""
    buffers = [bytearray(memoryview(clip_frames))] if len(clip_frames) else []
    return pickle.loads(clips_pickle, buffers=buffers)


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


def write_outputs(row: dict[str, Any], *, config_json: str) -> dict[str, Any]:
    """Write the unit's rows to Parquet (retrying transient I/O errors) and return its summary row.

    Output that cannot be written (a permanent error such as a permission denied, or a transient one
    still failing after ``max_attempts``) raises: the job stops rather than lose rows.
    """
    _require(row, "write_outputs")
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
