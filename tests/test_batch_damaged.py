"""One damaged part file (truncated, 0 bytes) never blocks the rest of an output."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_batch_output import make_job, one_row_per_item, rows_per_item, run
from videoqa.batch import read_tables
from videoqa.batch._compact import compact
from videoqa.batch._read import DamagedFileError
from videoqa.batch._resume import read_resume_state
from videoqa.batch._writer import part_file_name

DAMAGES = {
    "truncated": lambda blob: blob[: len(blob) // 2],
    "empty": lambda blob: b"",
    "no footer": lambda blob: blob[:-8],
}


@pytest.fixture
def damaged(tmp_path, request):
    """An output of 2 videos x 2 questions whose answers part file of v1 is damaged."""
    job = make_job(tmp_path)
    run(job(["q1", "q2"]), "a")
    v1 = str(tmp_path / "videos" / "v1.mp4")
    path = Path(job(["q1"]).output) / "answers" / part_file_name(v1)
    path.write_bytes(DAMAGES[request.param](path.read_bytes()))
    return job, path, v1


@pytest.mark.parametrize("damaged", sorted(DAMAGES), indirect=True)
def test_read_tables_skips_the_damaged_file_names_it_and_its_video(damaged, caplog):
    job, path, v1 = damaged
    skipped: list = []
    with caplog.at_level(logging.WARNING):
        tables = read_tables(job(["q1"]).output, tables=["answers", "spans"], skipped=skipped)
        plain = read_tables(job(["q1"]).output, tables=["answers"])  # no skipped list: no error either
    assert sorted(tables["answers"].column("video").to_pylist()) == [v1.replace("v1", "v2")] * 2
    assert plain["answers"].num_rows == 2 and tables["spans"].num_rows == 4
    assert [(type(e), e.path) for e in skipped] == [(DamagedFileError, str(path))]
    notes = [r.getMessage() for r in caplog.records if "damaged output file" in r.getMessage()]
    assert len(notes) == 2 and notes[0].startswith(f"damaged output file {path} (not a readable Parquet")
    assert f"is skipped: it held rows of {v1}; its items count as not done" in notes[0]


@pytest.mark.parametrize("damaged", sorted(DAMAGES), indirect=True)
def test_resume_runs_the_damaged_files_items_again_and_replaces_it(damaged, caplog):
    job, path, v1 = damaged
    out = job(["q1"]).output
    with caplog.at_level(logging.WARNING):
        state = read_resume_state(out)
    assert list(state.damaged) == [str(path)] and len(state.answered) == 2
    assert any(f"it held rows of {v1}" in r.getMessage() for r in caplog.records)
    assert run(job(["q1", "q2"], resume=True), "b") == 2  # v1's two items, nothing else
    assert rows_per_item(out) == {"answers": 4, "spans": 4, "windows": 4, "failures": 0}
    assert one_row_per_item(out) == 4 and read_resume_state(out).damaged == {}
    answers = read_tables(out, tables=["answers"])["answers"].to_pylist()
    assert sorted((r["video"] == v1, r["answer"]) for r in answers) == [
        (False, "a"), (False, "a"), (True, "b"), (True, "b")
    ]  # fmt: skip


@pytest.mark.parametrize("damaged", ["truncated"], indirect=True)
def test_compact_reports_the_damaged_file_and_compacts_the_rest(damaged):
    job, path, _ = damaged
    out = job(["q1"]).output
    proc = subprocess.run(
        [sys.executable, "-m", "videoqa.cli", "compact", out],
        env={**os.environ, "PYTHONPATH": os.getcwd()}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "videoqa compact: generation 1: answers 1 -> 1 files (2 rows)" in proc.stdout
    assert f"skipped damaged file {path} (ArrowInvalid: " in proc.stdout
    assert path.exists() and read_tables(out, tables=["answers"])["answers"].num_rows == 2
    again = compact(out)
    assert again.generation is None and list(again.damaged) == [str(path)]
    assert run(job(["q1", "q2"], resume=True), "b") == 2
    assert read_tables(out, tables=["answers"])["answers"].num_rows == 4
