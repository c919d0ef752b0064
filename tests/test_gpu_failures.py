"""What a batch job does with GPU failures, decided on the CPU."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from videoqa.batch._job import gpu_actor_env

ROOT = Path(__file__).resolve().parents[1]

_GUARDED = textwrap.dedent(
    """
    import sys
    import ray
    from videoqa.batch import _guard
    from videoqa.errors import DeviceFailedError, ModelError

    class _Call:
        def __init__(self, fn):
            self.fn = fn

        def remote(self, *args):
            return self.fn(*args)

    class _Tracker:  # the AttemptTracker actor, called in-process
        def __init__(self):
            tracker = _guard.AttemptTracker()
            self.begin, self.end = _Call(tracker.begin), _Call(tracker.end)

    ray.get = lambda value: value
    error = {"fatal": DeviceFailedError, "plain": ModelError}[sys.argv[1]]

    def fail():
        raise error("CUDA error: an illegal memory access was encountered")

    outcome = _guard.guarded("model", "v.mp4", fail, tracker=_Tracker(), max_attempts=3)
    print("returned", outcome.failure.error_type, outcome.failure.transient)
    """
)


@pytest.mark.parametrize(
    ("kind", "code", "stdout"), [("fatal", 70, ""), ("plain", 0, "returned ModelError False")]
)
def test_a_device_failure_exits_the_worker_so_ray_replaces_it(kind, code, stdout):
    proc = subprocess.run(
        [sys.executable, "-c", _GUARDED, kind], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.strip() == stdout
    if kind == "fatal":
        assert "exiting this worker so Ray replaces it: v.mp4: model: " in proc.stderr


def test_gpu_actors_get_expandable_allocator_segments_unless_the_driver_sets_its_own():
    assert gpu_actor_env({}) == {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    assert gpu_actor_env({"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:512"}) == {
        "PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:512"
    }
