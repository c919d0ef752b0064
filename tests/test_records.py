"""Rows of the batch job's tables: exact values from a hand-built Analysis, Arrow round trip."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pydantic import ValidationError

from videoqa import errors
from videoqa.analysis import Analysis, Question, Span, Step, WindowUsage
from videoqa.core.settings import Settings
from videoqa.records import (
    TABLES,
    AnswerRow,
    SettingsColumns,
    analysis_to_rows,
    arrow_schema,
    config_hash,
    failure_row,
    item_key,
    question_hash,
)

SETTINGS = Settings(fps=1.0, max_frames=64)
QUESTION = Question(question_id="red", question="a red square appears", task="grounding")


def _window(index: int, start: float) -> WindowUsage:
    return WindowUsage(
        index=index,
        start_seconds=start,
        end_seconds=start + 4.0,
        num_frames=4,
        sampled_fps=1.0,
        second_per_grid=2.0,
        height=56,
        width=84,
        visual_tokens=12,
        pts_seconds=[start, start + 1, start + 2, start + 3],
        temporal_ids=[0, 4],
        cached=index == 1,
    )


def _analysis() -> Analysis:
    return Analysis(
        video="/tmp/local-copy.mp4",
        question=QUESTION,
        answer="37.0 - 44.5 seconds",
        spans=[
            Span(start_seconds=37.0, end_seconds=44.5),
            Span(start_seconds=50.0, end_seconds=51.0, label="x"),
        ],
        raw_text="From 37.0 to 44.5 seconds.",
        model_id="builtin:scripted",
        strategy="coarse_to_fine",
        video_duration_seconds=60.0,
        steps=[
            Step(name="coarse", windows=[_window(0, 0.0), _window(1, 4.0)], raw_texts=["a", "b"]),
            Step(name="fine", windows=[_window(0, 36.0)], raw_texts=["c"]),
        ],
        timings_seconds={"model": 1.5},
        settings=SETTINGS,
        config_hash=config_hash("builtin:scripted", SETTINGS),
    )


def _rows():
    return _rows_with(SETTINGS)


def _rows_with(settings: Settings):
    cfg = config_hash("builtin:scripted", settings)
    return cfg, analysis_to_rows(
        _analysis(),
        video="s3://b/v/a.mp4",
        video_id="v/a.mp4",
        model_id="builtin:scripted",
        settings=settings,
        config=cfg,
        attempts=2,
    )


def test_answer_row_carries_identity_settings_and_exact_values():
    cfg, rows = _rows()
    (answer,) = rows.answers
    assert answer["video"] == "s3://b/v/a.mp4"  # the listed URL, not the Analysis' local copy
    assert answer["video_id"] == "v/a.mp4"
    assert answer["question_id"] == "red"
    assert answer["config_hash"] == cfg
    assert answer["item_key"] == item_key("s3://b/v/a.mp4", "red", question_hash(QUESTION), cfg)
    assert answer["sampling_fps"] == 1.0 and answer["sampling_max_frames"] == 64
    assert answer["strategy"] == "auto" and answer["strategy_used"] == "coarse_to_fine"
    assert (answer["num_spans"], answer["num_windows"], answer["visual_tokens"]) == (2, 3, 36)
    assert answer["attempts"] == 2 and answer["status"] == "ok"
    assert json.loads(answer["timings_seconds_json"]) == {"model": 1.5}
    assert Analysis.model_validate_json(answer["analysis_json"]) == _analysis()


def test_span_and_window_rows():
    _, rows = _rows()
    assert [
        (s["span_index"], s["start_seconds"], s["end_seconds"], s["duration_seconds"]) for s in rows.spans
    ] == [
        (0, 37.0, 44.5, 7.5),
        (1, 50.0, 51.0, 1.0),
    ]
    assert [(w["step"], w["step_index"], w["window_index"], w["start_seconds"]) for w in rows.windows] == [
        ("coarse", 0, 0, 0.0),
        ("coarse", 0, 1, 4.0),
        ("fine", 1, 0, 36.0),
    ]
    assert rows.windows[2]["pts_seconds"] == [36.0, 37.0, 38.0, 39.0]
    assert rows.windows[1]["cached"] is True
    assert len({r["item_key"] for r in rows.answers + rows.spans + rows.windows}) == 1


def _failure(error, video: str = "x.mp4", **kwargs):
    """The failures row of ``error`` for QUESTION about ``video`` (its id the same), model "m"."""
    ident = {"video": video, "video_id": video.rsplit("/", 1)[-1], "question": QUESTION, "model_id": "m"}
    return failure_row(error, **ident, settings=SETTINGS, config=config_hash("m", SETTINGS), **kwargs)


def test_failure_row_from_media_error_and_tuple():
    err = errors.TruncatedVideoError("s3://b/bad.mp4", "no moov atom; re-upload the file")
    row = _failure(err, "s3://b/bad.mp4", stage="probe", attempts=1)
    assert (row["video"], row["video_id"]) == ("s3://b/bad.mp4", "bad.mp4")
    assert row["error_type"] == "TruncatedVideoError"
    assert row["error"] == "s3://b/bad.mp4: no moov atom; re-upload the file"
    assert (row["status"], row["stage"], row["transient"], row["attempts"]) == ("failed", "probe", False, 1)
    timeout = _failure(errors.DecodeTimeoutError("x.mp4", "decoder hung"), stage="decode", attempts=3)
    assert timeout["transient"] is True
    died = _failure(("WorkerDied", "worker died 3 times"), stage="decode", attempts=3, transient=True)
    assert (died["error_type"], died["error"], died["transient"]) == (
        "WorkerDied",
        "worker died 3 times",
        True,
    )


def test_hashes_change_with_what_changes_answers_only():
    base = config_hash("m", SETTINGS)
    assert base == config_hash("m", Settings(fps=1.0, max_frames=64))
    assert base != config_hash("m2", SETTINGS)
    assert base != config_hash("m", Settings(fps=2.0, max_frames=64))
    assert base != config_hash("m", Settings(fps=1.0, max_frames=64, max_new_tokens=64))
    assert base != config_hash("m", Settings(fps=1.0, max_frames=64, repetition_penalty=1.0))
    assert len(base) == 16
    edited = QUESTION.model_copy(update={"question": "a blue square appears"})
    assert question_hash(QUESTION) != question_hash(edited)
    assert question_hash(QUESTION) == question_hash(QUESTION.model_copy(update={"question_id": "other"}))


def test_rows_reject_unknown_fields():
    _, rows = _rows()
    with pytest.raises(ValidationError):
        AnswerRow(**rows.answers[0], surprise=1)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_rows_fit_their_arrow_schema(table):
    _, rows = _rows()
    if table == "failures":
        data = [
            failure_row(("E", "m"), video="v", video_id="v", question=QUESTION, model_id="m",
                        settings=SETTINGS, config="c", stage="model", attempts=1)
        ]  # fmt: skip
    else:
        data = getattr(rows, table)
    schema = arrow_schema(table)
    arrow_table = pa.Table.from_pylist(data, schema=schema)
    assert arrow_table.schema.names == list(TABLES[table].model_fields)
    assert arrow_table.to_pylist() == data


def _changed(name: str) -> object:
    """A valid value of settings field ``name`` other than its default."""
    other = {
        "strategy": "coarse_to_fine", "prompt_style": "lmms_eval", "decode_backend": "decord",
        "do_sample": True, "temperature": 0.5, "top_p": 0.9, "top_k": 7, "min_frames": 6,
        "min_pixels": 200_000, "max_pixels": 700_000, "video_stream": 3,
    }  # fmt: skip
    default = Settings.model_fields[name].default
    return other.get(name, default * 2 if isinstance(default, (int, float)) else default)


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_settings_field_reaches_every_table_and_the_hash(name):
    """Iterates over Settings' fields, so a new field cannot be left out of the rows or the hash."""
    sample = Settings(**({"do_sample": True} if name in ("temperature", "top_p", "top_k") else {}))
    changed = Settings(**{**sample.model_dump(), name: _changed(name)})
    assert getattr(changed, name) != getattr(sample, name)
    assert config_hash("m", changed) != config_hash("m", sample)
    column = Settings.column(name)
    _, rows = _rows_with(changed)
    for table in ("answers", "spans", "windows"):
        assert all(row[column] == getattr(changed, name) for row in getattr(rows, table)), table
    failure = failure_row(("E", "m"), video="v", video_id="v", question=QUESTION, model_id="m",
                          settings=changed, config="c", stage="model", attempts=1)  # fmt: skip
    assert failure[column] == getattr(changed, name)
    assert Settings.from_columns(rows.answers[0]) == changed
    for model in TABLES.values():
        assert column in model.model_fields


def test_settings_columns_keep_the_published_names():
    assert list(SettingsColumns.model_fields)[:4] == [
        "sampling_fps", "sampling_min_frames", "sampling_max_frames", "sampling_min_pixels"
    ]  # fmt: skip
    assert {"strategy", "sampling_coarse_window_seconds", "max_new_tokens", "prompt_style", "decode_backend",
            "do_sample", "repetition_penalty"} <= set(SettingsColumns.model_fields)  # fmt: skip
    assert len(SettingsColumns.model_fields) == len(Settings.model_fields)
