"""A worker node without an extra: the job ends, and every item is a failure row naming the extra.

The cluster: a head with no CPUs (it only runs the job's driver) and one worker node on which the
``decord`` package cannot be imported (a ``sitecustomize`` on that node's ``PYTHONPATH`` hides it, as
if ``videoqa[decord]`` had not been installed there). A job asking for ``--decode-backend decord``
must neither hang nor crash: the decode stage fails fast with ``MissingExtraError`` and the exact
``pip install`` command, which become the items' failure rows.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.batch_util import GOOD, GOOD_ITEMS, items, tables
from tests.cluster_util import LocalCluster, write_bucket

pytest.importorskip("ray.dashboard")
pytestmark = [pytest.mark.slow, pytest.mark.ray]

HIDE_DECORD = 'import sys\nsys.modules["decord"] = None  # this node has no videoqa[decord]\n'


@pytest.fixture(scope="module")
def cluster_without_decord():
    with tempfile.TemporaryDirectory(prefix="vqx", dir="/tmp") as root:
        local = LocalCluster(Path(root))
        shim = Path(root) / "shim"
        shim.mkdir()
        (shim / "sitecustomize.py").write_text(HIDE_DECORD)
        try:
            local.start_head(num_cpus=0)
            local.wait_for_nodes(1)
            local.start_worker(
                num_cpus=2, resources={"videoqa_worker": 1}, env=local.env(pythonpath=str(shim))
            )
            local.wait_for_nodes(2)
            yield local
        finally:
            local.stop()


def test_a_node_without_the_decord_extra_gives_failure_rows_naming_it(cluster_without_decord, tmp_path):
    output = tmp_path / "out"
    entry = ["python", "pipelines/analyze_bucket.py", *write_bucket(tmp_path, GOOD), "--output", str(output)]
    entry += ["--model", "builtin:scripted", "--decode-backend", "decord", "--stage-timeout-seconds", "120"]
    submit = cluster_without_decord.submit(entry, submission_id="no-decord")
    out, _ = submit.communicate(timeout=400)
    # The job ran to its end and wrote a failure row per item; `videoqa run` then exits 1 ("items
    # failed"), so Ray marks the job FAILED and `ray job submit` exits 1: nothing hung or crashed.
    assert submit.returncode == 1, out[-3000:]
    assert f"videoqa run: {len(GOOD_ITEMS)} items failed (see the failures table); exit code 1" in out
    assert cluster_without_decord.job_info("no-decord")["status"] == "FAILED"

    got = tables(str(output))
    assert got["answers"].empty and items(got["failures"]) == sorted(GOOD_ITEMS)
    failures = got["failures"]
    assert set(failures["stage"]) == {"decode"} and set(failures["error_type"]) == {"MissingExtraError"}
    assert set(failures["error"]) == {
        "decode(backend='decord') needs the optional package 'decord', which is not installed. "
        "Install it with: pip install 'videoqa[decord]'"
    }
    assert set(failures["attempts"]) == {1}  # not transient: not retried
