"""The batch job's stages are declared once (videoqa/batch/_pipeline.py): wired, documented, obeyed."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from videoqa.batch import _pipeline
from videoqa.batch._pipeline import INPUT_COLUMNS, STAGES, SUMMARY_FIELDS, UNIT_FIELDS, stage, wiring_problems
from videoqa.batch._stages_doc import main, stages_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_column_a_stage_needs_is_filled_before_it():
    assert wiring_problems() == []
    assert [s.name for s in STAGES] == ["probe_and_plan", "decode_clips", "ModelStage", "write_outputs"]


def test_a_miswired_stage_is_named_with_the_column_nobody_filled():
    probe, decode, model, write = STAGES
    assert wiring_problems((decode, probe, model, write)) == [
        "decode_clips needs ['plan_pickle'], which neither the driver nor an earlier stage fills"
    ]
    typo = dataclasses.replace(model, needs=(*model.needs, "clip_frame"))
    assert wiring_problems((probe, decode, typo, write)) == [
        "ModelStage: column 'clip_frame' is in neither UNIT_FIELDS nor SUMMARY_FIELDS",
        "ModelStage needs ['clip_frame'], which neither the driver nor an earlier stage fills",
    ]
    # after write_outputs only its summary columns exist: a stage after it cannot read the unit
    assert wiring_problems((*STAGES, probe)) == [
        "probe_and_plan needs ['video_id', 'failure_json'], which neither the driver nor an earlier stage "
        "fills"
    ]
    assert wiring_problems(STAGES, inputs=("video",)) == [
        "probe_and_plan needs ['video_id', 'failure_json'], which neither the driver nor an earlier stage "
        "fills",
        "ModelStage needs ['unit_key', 'video_id', 'questions_json'], which neither the driver nor an "
        "earlier stage fills",
        "write_outputs needs ['unit_key', 'video_id', 'questions_json', 'superseded_json'], which neither "
        "the driver nor an earlier stage fills",
    ]


def test_declared_callables_and_the_arguments_the_job_hands_them():
    for s in STAGES:
        fn = s.load()
        assert fn.__name__ == s.name  # Ray Data names the operator after it (the decode stats find it)
        assert inspect.isclass(fn) is s.actor
        params = inspect.signature(fn).parameters
        assert {n for n, p in params.items() if p.kind is p.KEYWORD_ONLY} == set(s.takes)
    assert {c.name for c in UNIT_FIELDS} >= set(INPUT_COLUMNS)
    assert [c.name for c in SUMMARY_FIELDS] == list(stage("write_outputs").produces)
    with pytest.raises(KeyError, match=r"no batch stage 'decode'; declared: .*'decode_clips'"):
        stage("decode")


def test_the_driver_row_fills_the_declared_columns_and_empties_the_rest():
    from videoqa.analysis import Question
    from videoqa.batch._stages import make_unit, unit_schema

    unit = make_unit("k", "/v.mp4", "v.mp4", [Question(question="?")], superseded={"f.parquet": ["k"]})
    assert list(unit) == [c.name for c in UNIT_FIELDS] == unit_schema().names
    assert [n for n, c in zip(unit, UNIT_FIELDS, strict=True) if unit[n] != c.empty] == [
        n for n in INPUT_COLUMNS if n != "failure_json"
    ]


@pytest.mark.parametrize("name", [s.name for s in STAGES])
def test_each_stage_names_the_declared_columns_it_lacks(name, monkeypatch):
    """The stage functions check their input against the declaration, not a tuple of their own."""
    from videoqa.batch._stages import _require, make_unit

    row = make_unit("k", "/v.mp4", "v.mp4", [])
    needs = stage(name).needs
    del row[needs[-1]]
    with pytest.raises(KeyError, match=rf"\['{needs[-1]}'\] not found at the input of {name}"):
        _require(row, name)
    declared = dataclasses.replace(stage(name), needs=(*needs, "extra_column"))
    monkeypatch.setattr(_pipeline, "STAGES", tuple(declared if s.name == name else s for s in STAGES))
    with pytest.raises(KeyError, match=rf"\['{needs[-1]}', 'extra_column'\] not found"):
        _require(row, name)


def test_docs_stages_md_is_generated_from_the_declaration():
    assert main(["--check", str(DOCS)]) == 0, "run: python -m videoqa.batch._stages_doc --write docs/"
    text = stages_markdown()
    assert "| `decode_clips` | `videoqa.batch._stages:decode_clips` |" in text
    assert "`decode_memory_bytes` bytes of memory per task; `decode_workers` tasks at once" in text
    assert "| `plan_pickle` | binary | `b''` | probe_and_plan | decode_clips |" in text


def test_check_detects_a_stale_doc(tmp_path, capsys):
    assert main(["--write", str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    path = tmp_path / "stages.md"
    path.write_text(path.read_text().replace("plan_pickle", "plan"))
    assert main(["--check", str(tmp_path)]) == 1
    assert "python -m videoqa.batch._stages_doc --write" in capsys.readouterr().err
