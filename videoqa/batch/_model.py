"""The model stage of a batch job: one Ray Data actor per model replica, fed one window per row.

Each window row gets its first pass here (encoded, every question's first-pass request answered);
the small result goes to the job's :class:`~videoqa.batch._windows.WindowBoard`, and the call that
brings a unit's last window finishes the unit (fine pass, answers) and returns its one row.
"""

from __future__ import annotations

import json
import pickle
import time
from typing import Any

from videoqa.analysis import Question
from videoqa.batch._config import JobConfig
from videoqa.batch._guard import guarded
from videoqa.batch._stages import CLIP_COLUMNS, _fail, _failure_tables, _require, load_clip, unit_table
from videoqa.records import Failure, TableRows, analysis_to_rows

__all__ = ["ModelStage"]

# Failures that asking one question at a time cannot fix: the runner already split its calls down to
# single requests before giving up on memory, so a retry per question would only encode again.
_NOT_PER_QUESTION = frozenset({"ModelOutOfMemoryError"})


class ModelStage:
    """Ray Data actor holding one :class:`videoqa.Session` (one model replica).

    Takes window rows; returns one row per unit, from the call that brings its last window
    (``board`` is the job's :class:`~videoqa.batch._windows.WindowBoard` actor).
    """

    def __init__(self, *, config_json: str, tracker: Any, board: Any):
        from videoqa.batch._session import build_session

        self._config = JobConfig.model_validate_json(config_json)
        self._tracker = tracker
        self._board = board
        self._session = build_session(self._config)

    def __call__(self, batch: Any) -> Any:
        """``batch`` is a ``pyarrow.Table`` of window rows; returns the units it completed, clips dropped.

        The clips are unpickled straight from the Arrow buffers, never copied into a Python bytes.
        """
        _require(dict.fromkeys(batch.column_names), "ModelStage")
        clips = [batch.column(name) for name in CLIP_COLUMNS]
        rows = batch.drop_columns(list(CLIP_COLUMNS)).to_pylist()
        empty = dict.fromkeys(CLIP_COLUMNS, b"")
        out = [
            self._window({**row, **empty}, *(c[i].as_buffer() for c in clips)) for i, row in enumerate(rows)
        ]
        return unit_table([row for row in out if row is not None])

    def _window(self, row: dict[str, Any], clips_pickle: Any, clip_frames: Any) -> dict[str, Any] | None:
        import ray

        from videoqa.batch._windows import WindowResult

        _require(row, "ModelStage")
        if row["failure_json"]:
            ray.get(self._board.close.remote(row["unit_key"]))
            return row
        questions = [Question.model_validate(q) for q in json.loads(row["questions_json"])]
        info = pickle.loads(row["info_pickle"])
        result = self._first_pass(row, questions, info, load_clip(clips_pickle, clip_frames))
        result.seconds["decode_task"] = float(row["decode_seconds"])
        done = self._board.record.remote(
            row["unit_key"], row["window_count"], row["window_position"], pickle.dumps(result)
        )
        recorded = ray.get(done)
        if recorded is None:
            return None
        results: list[WindowResult] = [pickle.loads(r) for r in recorded]
        return self._finish(row, questions, info, results)

    def _guarded(self, key: str, work: Any) -> Any:
        return guarded("model", key, work, tracker=self._tracker, max_attempts=self._config.max_attempts)

    def _first_pass(self, row: dict[str, Any], questions: list[Question], info: Any, clip: Any) -> Any:
        """The window's :class:`~videoqa.batch._windows.WindowResult`: its first pass for every question."""
        from videoqa.batch._windows import WindowResult, first_pass_window

        video, position = row["video"], int(row["window_position"])
        key = f"{video}|window {position}|{','.join(q.question_id for q in questions)}"
        outcome = self._guarded(
            key, lambda: first_pass_window(self._session, video, info, questions, clip, _transcript(row))
        )
        if not outcome.failure:
            encoded, generations, seconds = outcome.value
            return WindowResult(
                position, encoded, dict(enumerate(generations)), seconds=seconds, attempts=outcome.attempts
            )
        if not _per_question(outcome.failure, questions):
            return WindowResult(position, failure=outcome.failure, attempts=outcome.attempts)
        # One bad question (or one the model cannot handle) must not sink the others: ask one by one.
        result = WindowResult(position, one_by_one=True)
        for i, q in enumerate(questions):
            one = self._guarded(
                f"{video}|window {position}|{q.question_id}",
                lambda q=q: first_pass_window(self._session, video, info, [q], clip, _transcript(row)),
            )
            if one.failure:
                result.question_failures[i] = one.failure
                continue
            result.encoded, [result.generations[i]], seconds = one.value
            for stage, value in seconds.items():
                result.seconds[stage] = result.seconds.get(stage, 0.0) + value
            result.attempts = max(result.attempts, one.attempts)
        return result

    def _finish(self, row: dict[str, Any], questions: list[Question], info: Any, results: list[Any]) -> dict:
        """The unit's row from its windows' results: the fine pass and the answers run here."""
        from videoqa.batch._windows import finish_video

        started = time.perf_counter()
        row = {**row, "decode_seconds": sum(r.seconds.pop("decode_task", 0.0) for r in results)}
        failure = next((r.failure for r in results if r.failure), None)
        if failure:
            return _fail(row, failure)
        failed: dict[int, Failure] = {}
        for r in results:
            for i, f in r.question_failures.items():
                failed.setdefault(i, f)
        pending = {i: q for i, q in enumerate(questions) if i not in failed}
        attempts = max(r.attempts for r in results)
        one_by_one = any(r.one_by_one for r in results)
        video, tables = row["video"], TableRows()
        if pending:
            outcome = self._guarded(
                f"{video}|{','.join(q.question_id for q in pending.values())}",
                lambda: finish_video(self._session, video, info, pending, results, _transcript(row)),
            )
            if outcome.failure and _per_question(outcome.failure, list(pending.values())):
                one_by_one = True
                self._one_by_one(row, info, pending, results, tables, failed)
            elif outcome.failure and not failed:
                return _fail(row, outcome.failure)
            elif outcome.failure:
                failed.update(dict.fromkeys(pending, outcome.failure))
            else:
                tables.extend(self._tables(row, outcome.value, max(attempts, outcome.attempts)))
        for i in sorted(failed):
            tables.extend(_failure_tables(row, [questions[i]], failed[i], self._config))
        seconds = sum(sum(r.seconds.values()) for r in results) + time.perf_counter() - started
        return {
            **row,
            "tables_json": tables.model_dump_json(),
            "model_calls": len(questions) * (2 if one_by_one else 1),
            "model_seconds": seconds,
        }

    def _one_by_one(
        self, row: dict, info: Any, pending: dict, results: list, tables: TableRows, failed: dict
    ) -> None:
        """Finish each of ``pending`` on its own: answers into ``tables``, failures into ``failed``."""
        from videoqa.batch._windows import finish_video

        video, attempts = row["video"], max(r.attempts for r in results)
        for i, q in pending.items():
            one = self._guarded(
                f"{video}|{q.question_id}",
                lambda i=i, q=q: finish_video(self._session, video, info, {i: q}, results, _transcript(row)),
            )
            if one.failure:
                failed[i] = one.failure
            else:
                tables.extend(self._tables(row, one.value, max(attempts, one.attempts)))

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


def _transcript(row: dict[str, Any]) -> Any:
    """The unit's timed text, read by the probe stage (None: none asked for)."""
    return pickle.loads(row["transcript_pickle"]) if row["transcript_pickle"] else None


def _per_question(failure: Failure, questions: list[Question]) -> bool:
    """Whether asking the questions one by one could save some of them."""
    return len(questions) > 1 and not failure.transient and failure.error_type not in _NOT_PER_QUESTION
