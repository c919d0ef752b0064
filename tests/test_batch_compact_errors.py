"""Compaction that cannot finish: a full disk, a second compaction, a foreign file; nothing left behind."""

from __future__ import annotations

import errno
import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.test_batch_output import _snapshot, make_job, rows_per_item, run
from videoqa.batch._compact import CompactionError, compact

BEFORE = {"answers": 4, "spans": 4, "windows": 4, "failures": 2}


@pytest.fixture
def out(tmp_path):
    job = make_job(tmp_path)
    run(job(["q1", "q2", "q3"]), "a", fail={"q3"})
    return job(["q1"]).output


def _left_behind(out: str) -> list[str]:
    """Files of a compaction: staged, in the table folders, or its lock."""
    root = Path(out)
    found = [
        *root.glob("_compaction/staging-*/**/*"),
        *root.glob("*/compact-*"),
        *root.glob("_compaction/lock*"),
    ]
    return sorted(str(p.relative_to(root)) for p in found)


def _cli(out: str, *, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "videoqa.cli", "compact", out],
        env={**os.environ, "PYTHONPATH": os.getcwd()}, capture_output=True, text=True, timeout=120,
        preexec_fn=limit if file_size_limit else None,
    )  # fmt: skip


def test_a_write_failing_for_lack_of_space_is_a_clear_error_and_changes_nothing(out):
    """A real failed write: the process may not write files over 2 KiB (RLIMIT_FSIZE: EFBIG)."""
    before = _snapshot(out)
    sizes = [p.stat().st_size for p in Path(out).glob("*/*.parquet")]
    assert min(sizes) > 2048  # every Parquet file of ours is larger: the first compacted write fails
    proc = _cli(out, file_size_limit=2048)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith("videoqa compact: no space left for the compacted copy (File too large: ")
    assert f"{out} is as it was" in proc.stdout and "run videoqa compact again" in proc.stdout
    assert _left_behind(out) == [] and _snapshot(out) == before and rows_per_item(out) == BEFORE


def test_a_full_disk_at_the_second_file_removes_the_first(out):
    """ENOSPC injected at the writer boundary, after the first compacted file was written."""
    calls = []

    def full(path: str) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    before = _snapshot(out)
    with pytest.raises(CompactionError, match=r"^no space left for the compacted copy \(No space left on"):
        compact(out, target_bytes=1, after_file=full)
    assert "staging-00000001" in calls[0] and _left_behind(out) == [] and _snapshot(out) == before
    assert compact(out).generation == 1 and rows_per_item(out) == BEFORE  # and it works once there is room


def test_a_second_compaction_while_one_runs_says_so(out):
    lock = Path(out) / "_compaction" / "lock.json"
    lock.parent.mkdir()
    started = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-12-07T10:00:00"}
    lock.write_text(json.dumps(started))  # this (live) process holds the lock
    proc = _cli(out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith(
        f"videoqa compact: another videoqa compact (process {os.getpid()} on {socket.gethostname()}, "
        f"started 2026-12-07T10:00:00) is compacting {out}; nothing was changed."
    )
    assert rows_per_item(out) == BEFORE and lock.exists()
    lock.write_text(json.dumps({**started, "pid": 2**22 + 1}))  # a killed compaction's lock: taken over
    assert compact(out).generation == 1 and _left_behind(out) == sorted(
        f"{t}/compact-00000001-00000.parquet" for t in ("answers", "failures", "spans", "windows")
    )


def test_a_foreign_part_file_is_named_and_nothing_is_left_behind(out):
    foreign = Path(out) / "spans" / "part-foreign.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(foreign)
    proc = _cli(out)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == (
        f"videoqa compact: {foreign} is not a videoqa spans table (it has no item_key column); nothing "
        "was changed. Move it out of the output folder and run videoqa compact again.\n"
    )
    assert _left_behind(out) == []
    foreign.unlink()
    assert rows_per_item(out) == BEFORE
