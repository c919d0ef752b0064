"""One row per item key for any sequence of runs on one output, and compaction (no Ray: planning and the
writer run as the job runs them, the model's rows are built from Analysis objects)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import fsspec
import pandas as pd
import pyarrow.dataset as pads
import pytest

from videoqa.analysis import Analysis, Question, Span, Step, WindowUsage
from videoqa.batch import JobConfig
from videoqa.batch._compact import compact
from videoqa.batch._job import plan_units
from videoqa.batch._read import read_tables
from videoqa.batch._resume import ResumeState, read_resume_state
from videoqa.batch._writer import live_files, write_unit
from videoqa.core.settings import Settings
from videoqa.records import TableRows, analysis_to_rows, failure_row

TABLES = ("answers", "spans", "windows", "failures")


def read_table(output: str, table: str):
    """One table through the one reader, read_tables."""
    return read_tables(output, tables=[table])[table]


def _analysis(video: str, question: Question, text: str) -> Analysis:
    window = WindowUsage(
        index=0, start_seconds=0.0, end_seconds=2.0, num_frames=4, sampled_fps=2.0, second_per_grid=1.0,
        height=56, width=84, visual_tokens=12, pts_seconds=[0.0, 0.5, 1.0, 1.5], temporal_ids=[0, 1],
    )  # fmt: skip
    span = Span(start_seconds=0.5, end_seconds=1.5)
    return Analysis(
        video=video, question=question, answer=text, spans=[span], raw_text=text, model_id="m",
        strategy="single", video_duration_seconds=2.0,
        steps=[Step(name="single", windows=[window], raw_texts=[text], spans=[span])],
    )  # fmt: skip


def run(config: JobConfig, text: str, *, fail: set[str] = frozenset()) -> int:
    """Plan like ``run_job`` and write every unit as ``write_outputs`` does; ``fail``: question ids
    that become failures rows. Returns the number of items run."""
    units, _, _, _ = plan_units(config)
    ran = 0
    for unit in units:
        rows = TableRows()
        for q in json.loads(unit["questions_json"]):
            question = Question.model_validate(q)
            ident = dict(video=unit["video"], video_id=unit["video_id"], model_id="m",
                         settings=config.settings, config=config.config_hash)  # fmt: skip
            if question.question_id in fail:
                rows.failures.append(
                    failure_row(("E", text), question=question, stage="model", attempts=1, **ident)
                )
            else:
                rows.extend(analysis_to_rows(_analysis(unit["video"], question, text), **ident))
            ran += 1
        write_unit(config.output, rows)
    return ran


def rows_per_item(output: str) -> dict[str, int]:
    """Rows per table read PLAINLY (every visible file, no deduplication), as pandas/DuckDB would."""
    fs, root = fsspec.core.url_to_fs(output)
    counts = {}
    for table in TABLES:
        paths = sorted(fs.glob(f"{root}/{table}/*.parquet"))
        counts[table] = pads.dataset(paths, filesystem=fs).count_rows() if paths else 0
    return counts


def one_row_per_item(output: str) -> int:
    answers = read_table(output, "answers").column("item_key").to_pylist()
    failures = read_table(output, "failures").column("item_key").to_pylist()
    keys = answers + failures
    assert len(keys) == len(set(keys))
    return len(keys)


@pytest.fixture
def job(tmp_path):
    return make_job(tmp_path)


def make_job(tmp_path):
    """``config(question ids, **JobConfig fields)`` over two (undecoded) videos and ``tmp_path/out``."""
    for name in ("v1.mp4", "v2.mp4"):
        (tmp_path / "videos" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "videos" / name).write_bytes(b"not decoded here")

    def config(qids: list[str], **kw) -> JobConfig:
        path = tmp_path / "q.jsonl"
        path.write_text("".join(json.dumps({"question_id": q, "question": f"{q}?"}) + "\n" for q in qids))
        return JobConfig(
            videos=str(tmp_path / "videos"), questions=str(path), output=str(tmp_path / "out"), **kw
        )

    return config


def test_rerun_sequences_of_the_issue_keep_one_row_per_item(job):
    out = job(["q1"]).output
    assert run(job(["q1", "q2", "q3"]), "first") == 6
    assert rows_per_item(out) == {"answers": 6, "spans": 6, "windows": 6, "failures": 0}
    # a fourth question, the same command again (no --resume): every item runs again and replaces its row
    assert run(job(["q1", "q2", "q3", "q4"]), "second") == 8
    assert rows_per_item(out) == {"answers": 8, "spans": 8, "windows": 8, "failures": 0}
    assert one_row_per_item(out) == 8
    # only the first question: its two items are replaced, the others keep their rows
    assert run(job(["q1"]), "third") == 2
    assert rows_per_item(out) == {"answers": 8, "spans": 8, "windows": 8, "failures": 0}
    answers = read_table(out, "answers").to_pylist()
    assert sorted((r["question_id"], r["answer"]) for r in answers) == sorted(
        [("q1", "third")] * 2 + [(q, "second") for q in ("q2", "q3", "q4")] * 2
    )
    # --resume runs nothing; other settings are other items (their own rows, the old ones stay)
    assert run(job(["q1", "q2", "q3", "q4"], resume=True), "fourth") == 0
    other = job(["q1"], settings=Settings(fps=1.0))
    assert run(other, "fps1") == 2 and run(other, "fps1 again") == 2
    assert rows_per_item(out) == {"answers": 10, "spans": 10, "windows": 10, "failures": 0}
    assert one_row_per_item(out) == 10


def test_an_item_has_an_answer_or_a_failure_never_both(job):
    out = job(["q1"]).output
    run(job(["q1", "q2"]), "a", fail={"q2"})
    assert rows_per_item(out) == {"answers": 2, "spans": 2, "windows": 2, "failures": 2}
    run(job(["q1", "q2"], resume=True, retry_failed=True), "b")  # q2 answered now: its failure goes
    assert rows_per_item(out) == {"answers": 4, "spans": 4, "windows": 4, "failures": 0}
    run(job(["q1", "q2"]), "c", fail={"q1"})  # a re-run where q1 fails: its answer and spans go
    assert rows_per_item(out) == {"answers": 2, "spans": 2, "windows": 2, "failures": 2}
    assert one_row_per_item(out) == 4
    assert {r["question_id"] for r in read_table(out, "spans").to_pylist()} == {"q2"}


def test_resume_state_done_with_and_without_retry_failed():
    state = ResumeState(answered={"a", "b"}, failed={"c", "b"})
    assert state.done(retry_failed=False) == {"a", "b", "c"}
    assert state.done(retry_failed=True) == {"a", "b"}
    state.files = {
        "b": {"answers/part-1.parquet", "failures/part-2.parquet"},
        "c": {"failures/part-2.parquet"},
    }
    assert state.stale() == {"failures/part-2.parquet": {"b"}}


def test_resume_state_and_reader_on_memory_filesystem(job, tmp_path):
    config = job(["q1", "q2"]).model_copy(update={"output": f"memory://{tmp_path.name}/out"})
    try:
        run(config, "a", fail={"q2"})
        state = read_resume_state(config.output)
        assert len(state.answered) == len(state.failed) == 2 and not state.answered & state.failed
        tables = {k: sorted(rel.split("/")[0] for rel in files) for k, files in state.files.items()}
        assert sorted(tables.values()) == [["answers"]] * 2 + [["failures"]] * 2
        compact(config.output)
        run(config, "b")
        assert rows_per_item(config.output)["answers"] == 4 and one_row_per_item(config.output) == 4
    finally:
        fsspec.filesystem("memory").rm(f"/{tmp_path.name}", recursive=True)


def _snapshot(output: str) -> dict[str, list[dict]]:
    return {
        t: sorted(read_table(output, t).to_pylist(), key=lambda r: json.dumps(r, sort_keys=True, default=str))
        for t in TABLES
    }


def test_compaction_merges_keeps_one_row_and_resume_works_on_it(job, tmp_path):
    out = job(["q1"]).output
    run(job(["q1", "q2", "q3"]), "a", fail={"q3"})
    before = _snapshot(out)
    result = compact(out, target_bytes=1)
    # no video of this job has subtitles: the subtitles table has no files and no rows
    assert result.files_before == {"answers": 2, "failures": 2, "spans": 2, "windows": 2, "subtitles": 0}
    # target_bytes=1: one row group per file; each file is at least one row group
    assert result.rows == {"answers": 4, "failures": 2, "spans": 4, "windows": 4, "subtitles": 0}
    assert _snapshot(out) == before and rows_per_item(out) == {
        "answers": 4,
        "spans": 4,
        "windows": 4,
        "failures": 2,
    }
    assert all(
        os.path.basename(p).startswith("compact-") for p in live_files(*fsspec.core.url_to_fs(out), "answers")
    )
    assert compact(out).generation is None  # idempotent
    assert run(job(["q1", "q2", "q3"], resume=True), "b") == 0
    assert run(job(["q1", "q2", "q3"], resume=True, retry_failed=True), "c") == 2
    assert run(job(["q1"]), "d") == 2  # re-run of compacted items: their compacted rows are removed
    assert rows_per_item(out) == {"answers": 6, "spans": 6, "windows": 6, "failures": 0}
    second = compact(out)
    assert second.generation == 2 and second.files_after == {
        "answers": 1,
        "failures": 0,
        "spans": 1,
        "windows": 1,
        "subtitles": 0,
    }
    answers = read_table(out, "answers").to_pylist()
    assert sorted((r["question_id"], r["answer"]) for r in answers) == sorted(
        [("q1", "d")] * 2 + [("q2", "a")] * 2 + [("q3", "c")] * 2
    )


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from videoqa.batch._compact import compact
    count = [0]
    def after_file(path):
        count[0] += 1
        if count[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    compact(sys.argv[1], target_bytes=1, after_file=after_file)
    """
)


@pytest.mark.parametrize("kill_after", [1, 5, 9, 13, 14])
def test_compaction_killed_at_any_point_leaves_complete_tables(job, kill_after):
    """14 writes in all: 4 + 2 + 4 + 4 data files, then the commit record (kill_after=14: before cleanup)."""
    out = job(["q1"]).output
    run(job(["q1", "q2", "q3"]), "a", fail={"q3"})
    before = _snapshot(out)
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, out, str(kill_after)],
        env={**os.environ, "PYTHONPATH": os.getcwd()}, capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    # plain readers see exactly one row per item, whatever the instant of the kill
    assert rows_per_item(out) == {"answers": 4, "spans": 4, "windows": 4, "failures": 2}
    plain = pd.read_parquet(Path(out) / "answers")
    assert len(plain) == 4 and plain["item_key"].is_unique
    assert _snapshot(out) == before
    assert run(job(["q1", "q2", "q3"], resume=True), "b") == 0
    # the run finished or removed the compaction's files: nothing staged, no lock left
    assert (
        not list(Path(out).glob("_compaction/staging-*"))
        and not (Path(out) / "_compaction/lock.json").exists()
    )
    compact(out)
    assert _snapshot(out) == before
    assert rows_per_item(out) == {"answers": 4, "spans": 4, "windows": 4, "failures": 2}


def test_the_job_report_reads_compacted_output(job):
    from videoqa.report import render_job_report

    out = job(["q1"]).output
    run(job(["q1", "q2"]), "an answer", fail={"q2"})
    before = Path(render_job_report(out)).read_text(encoding="utf-8")
    compact(out)
    after = Path(render_job_report(out)).read_text(encoding="utf-8")
    assert before.count("an answer") == after.count("an answer") > 0
    assert after.count('class="error text"') == before.count('class="error text"') > 0


def test_a_stale_failure_row_is_hidden_by_the_reader_and_left_out_by_compaction(job):
    """A crash between writing an item's answer and removing its old failures row leaves both rows."""
    out = job(["q1"]).output
    run(job(["q1", "q2"]), "a", fail={"q2"})
    failures = sorted((Path(out) / "failures").glob("part-*.parquet"))
    stale = {p: p.read_bytes() for p in failures}
    run(job(["q1", "q2"], resume=True, retry_failed=True), "b")  # q2 answered: its failure rows go
    for path, blob in stale.items():  # ... and come back, as after a crash before their removal
        path.write_bytes(blob)
    assert rows_per_item(out)["failures"] == 2
    assert read_table(out, "failures").num_rows == 0
    assert sorted(read_table(out, "answers").column("question_id").to_pylist()) == ["q1", "q1", "q2", "q2"]
    compact(out)
    assert rows_per_item(out) == {"answers": 4, "spans": 4, "windows": 4, "failures": 0}


def test_read_tables_is_exact_while_a_committed_compaction_is_moved_in(job):
    """Killed after the commit, halfway through moving files in and deleting the replaced ones."""
    out = job(["q1"]).output
    run(job(["q1", "q2", "q3"]), "a", fail={"q3"})
    before = _snapshot(out)

    def stop_at_commit(path: str) -> None:
        if path.endswith(".json"):
            raise KeyboardInterrupt  # as a kill right after the commit record was written

    with pytest.raises(KeyboardInterrupt):
        compact(out, target_bytes=1, after_file=stop_at_commit)
    staged = sorted(Path(out).glob("_compaction/staging-00000001/answers/*.parquet"))
    assert len(staged) == 4 and rows_per_item(out) == {"answers": 4, "spans": 4, "windows": 4, "failures": 2}
    staged[0].rename(Path(out) / "answers" / staged[0].name)  # one file moved in ...
    next(Path(out).glob("spans/part-*.parquet")).unlink()  # ... one replaced file deleted
    assert _snapshot(out) == before
    from videoqa.batch._compact import finish_compaction

    finish_compaction(out)  # what the next run or compact does first
    assert _snapshot(out) == before and not list(Path(out).glob("_compaction/staging-*"))
    assert rows_per_item(out) == {"answers": 4, "spans": 4, "windows": 4, "failures": 2}
    assert sorted(p.name for p in Path(out).glob("answers/*")) == [s.name for s in staged]
